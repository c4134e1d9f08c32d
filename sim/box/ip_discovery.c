/* The IP discovery table of a Navi 31, published as amdgpu publishes it
 * (amdgpu_discovery.c, amdgpu_discovery_sysfs_init):
 *
 *   device/ip_discovery/die/0/num_ips
 *   device/ip_discovery/die/0/<hw_id>/<instance>/{hw_id,num_instance,major,
 *       minor,revision,harvest,num_base_addresses,base_addr}
 *   device/ip_discovery/die/0/<NAME> -> <hw_id>   (hw_id_names[], e.g. GC)
 *
 * Userspace drivers (tinygrad's KFD interface) choose their register and
 * packet layouts from the GC, SDMA and NBIF versions read here.  Hardware
 * ids are soc15_hw_ip.h's; versions are those amdgpu finds on Navi 31
 * (GC 11.0.0 = gfx1100, SDMA 6.0.0, NBIO 4.3.0, SMU/PSP 13.0.0, DCN 3.2.0,
 * VCN 4.0.0...); register segment bases are the SOC15 layout the Navi 2x/3x
 * register headers share. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "sim/box/box.h"

enum {
	MP1_HWID = 1, THM_HWID = 3, SMUIO_HWID = 4, FUSE_HWID = 5, CLKA_HWID = 6, GC_HWID = 11, VCN_HWID = 12,
	MMHUB_HWID = 34, ATHUB_HWID = 35, OSSSYS_HWID = 40, HDP_HWID = 41, SDMA0_HWID = 42, SDMA1_HWID = 43,
	DF_HWID = 46, PCIE_HWID = 70, LSDMA_HWID = 91, NBIF_HWID = 108, UMC_HWID = 150, MP0_HWID = 255,
	DMU_HWID = 271, DIO_HWID = 272,
};

enum { MAX_SEGMENTS = 6 };

struct ip_entry {
	int hw_id;
	const char *name;		/* amdgpu's hw_id_names[] */
	int instance;
	int major, minor, revision;
	int nbase;
	unsigned base[MAX_SEGMENTS];
};

static const struct ip_entry navi31[] = {
	{ MP1_HWID, "MP1", 0, 13, 0, 0, 5, { 0x16000, 0xdc0000, 0xe00000, 0xe40000, 0x243fc00 } },
	{ THM_HWID, "THM", 0, 13, 0, 0, 2, { 0x16600, 0x2400c00 } },
	{ SMUIO_HWID, "SMUIO", 0, 13, 0, 6, 4, { 0x16800, 0x16a00, 0x440000, 0x2401000 } },
	{ FUSE_HWID, "FUSE", 0, 13, 0, 0, 2, { 0x17400, 0x2401400 } },
	{ CLKA_HWID, "CLKA", 0, 13, 0, 0, 2, { 0x16c00, 0x2401800 } },
	{ GC_HWID, "GC", 0, 11, 0, 0, 4, { 0x1260, 0xa000, 0x1c000, 0x2402c00 } },
	{ VCN_HWID, "UVD", 0, 4, 0, 0, 3, { 0x7800, 0x7e00, 0x2403000 } },
	{ VCN_HWID, "UVD", 1, 4, 0, 0, 3, { 0x7b00, 0x12000, 0x2445000 } },
	{ MMHUB_HWID, "MMHUB", 0, 3, 0, 0, 2, { 0x1a000, 0x2408800 } },
	{ ATHUB_HWID, "ATHUB", 0, 3, 0, 0, 2, { 0xc00, 0x2408c00 } },
	{ OSSSYS_HWID, "OSSSYS", 0, 6, 0, 0, 2, { 0x10a0, 0x240a000 } },
	{ HDP_HWID, "HDP", 0, 6, 0, 0, 2, { 0xf20, 0x240a400 } },
	{ SDMA0_HWID, "SDMA0", 0, 6, 0, 0, 4, { 0x1260, 0xa000, 0x1c000, 0x2402c00 } },
	{ SDMA1_HWID, "SDMA1", 0, 6, 0, 0, 4, { 0x1260, 0xa000, 0x1c000, 0x2402c00 } },
	{ DF_HWID, "DF", 0, 4, 3, 0, 2, { 0x7000, 0x240b800 } },
	{ PCIE_HWID, "PCIE", 0, 6, 5, 0, 5, { 0x0, 0x14, 0xd20, 0x10400, 0x241b000 } },
	{ LSDMA_HWID, "LSDMA", 0, 6, 0, 0, 4, { 0x1260, 0xa000, 0x1c000, 0x2402c00 } },
	{ NBIF_HWID, "NBIF", 0, 4, 3, 0, 5, { 0x0, 0x14, 0xd20, 0x10400, 0x241b000 } },
	{ UMC_HWID, "UMC", 0, 8, 10, 0, 2, { 0x14000, 0x2425800 } },
	{ UMC_HWID, "UMC", 1, 8, 10, 0, 2, { 0x54000, 0x2425c00 } },
	{ UMC_HWID, "UMC", 2, 8, 10, 0, 2, { 0x94000, 0x2426000 } },
	{ UMC_HWID, "UMC", 3, 8, 10, 0, 2, { 0xd4000, 0x2426400 } },
	{ UMC_HWID, "UMC", 4, 8, 10, 0, 2, { 0x114000, 0x2426800 } },
	{ UMC_HWID, "UMC", 5, 8, 10, 0, 2, { 0x154000, 0x2426c00 } },
	{ MP0_HWID, "MP0", 0, 13, 0, 0, 5, { 0x16000, 0xdc0000, 0xe00000, 0xe40000, 0x243fc00 } },
	{ DMU_HWID, "DMU", 0, 3, 2, 0, 5, { 0x12, 0xc0, 0x34c0, 0x9000, 0x2403c00 } },
	{ DIO_HWID, "DIO", 0, 3, 2, 0, 1, { 0x2404000 } },
};

enum { NUM_IPS = sizeof navi31 / sizeof navi31[0] };

/* One instance's directory with its attributes, in the kernel's formats. */
static int instance_files(const struct sim_box *b, const char *die, const struct ip_entry *ip)
{
	char dir[512], addrs[MAX_SEGMENTS * 12 + 1] = "";
	snprintf(dir, sizeof dir, "%s/%d/%d", die, ip->hw_id, ip->instance);
	for (int i = 0, at = 0; i < ip->nbase; i++)
		at += snprintf(addrs + at, sizeof addrs - (size_t)at, "0x%08X\n", ip->base[i]);
	int rc = 0;
	rc |= sysfs_write(b, dir, "hw_id", "%d\n", ip->hw_id);
	rc |= sysfs_write(b, dir, "num_instance", "%d\n", ip->instance);
	rc |= sysfs_write(b, dir, "major", "%d\n", ip->major);
	rc |= sysfs_write(b, dir, "minor", "%d\n", ip->minor);
	rc |= sysfs_write(b, dir, "revision", "%d\n", ip->revision);
	rc |= sysfs_write(b, dir, "harvest", "0x%01X\n", 0u);
	rc |= sysfs_write(b, dir, "num_base_addresses", "%d\n", ip->nbase);
	rc |= sysfs_write(b, dir, "base_addr", "%s", addrs);
	return rc;
}

int ip_discovery_build(struct sim_box *b, const struct sim_gpu *g)
{
	char die[400];
	snprintf(die, sizeof die, "%s/ip_discovery/die/0", g->sysdir);
	int rc = sysfs_write(b, die, "num_ips", "%d\n", NUM_IPS);
	for (int i = 0; i < NUM_IPS; i++) {
		const struct ip_entry *ip = &navi31[i];
		rc |= instance_files(b, die, ip);
		/* the named link, once per hardware id: sysfs makes it relative
		 * to their common parent, the die */
		if (i == 0 || navi31[i - 1].hw_id != ip->hw_id) {
			char link[PATH_MAX], target[16];
			snprintf(target, sizeof target, "%d", ip->hw_id);
			if (snprintf(link, sizeof link, "%s/sys/%s/%s", b->state, die, ip->name) >= (int)sizeof link)
				return -ENAMETOOLONG;
			unlink(link);
			rc |= symlink(target, link);
		}
	}
	return rc ? -EIO : 0;
}
