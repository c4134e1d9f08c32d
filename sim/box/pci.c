/* The PCI functions of the box: an EPYC root complex per GPU slot, the
 * Navi 31 board's own switch, the GPU and its HDMI audio; their
 * configuration spaces with the capabilities lspci and drivers read (PCIe
 * link, AER, resizable BAR). */
#include <stdio.h>
#include <string.h>

#include "sim/box/pci.h"

/* resource file flags (include/linux/ioport.h) */
#define RES_IO 0x00000100ull
#define RES_MEM 0x00000200ull
#define RES_PREFETCH 0x00002000ull
#define RES_SIZEALIGN 0x00040000ull
#define RES_MEM_64 0x00100000ull

enum { PCIE_ENDPOINT = 0, PCIE_LEGACY_ENDPOINT = 1, PCIE_ROOT_PORT = 4, PCIE_UPSTREAM = 5, PCIE_DOWNSTREAM = 6 };

static void put8(uint8_t *c, unsigned off, uint8_t v) { c[off] = v; }
static void put16(uint8_t *c, unsigned off, uint16_t v) { memcpy(c + off, &v, 2); }
static void put32(uint8_t *c, unsigned off, uint32_t v) { memcpy(c + off, &v, 4); }

static int speed_code(int gts)
{
	switch (gts) {
	case 2: return 1;
	case 5: return 2;
	case 8: return 3;
	case 16: return 4;
	default: return 5;
	}
}

static void init_fn(struct pci_fn *f, uint8_t bus, uint8_t dev, uint8_t fn)
{
	memset(f, 0, sizeof *f);
	f->bus = bus;
	f->dev = dev;
	f->fn = fn;
	snprintf(f->bdf, sizeof f->bdf, "0000:%02x:%02x.%x", bus, dev, fn);
	f->link_speed = f->max_link_speed = 16;
	f->link_width = f->max_link_width = 16;
	f->irq = 0;
}

static void bar(struct pci_fn *f, int i, uint64_t addr, uint64_t size, bool is64, bool prefetch, bool io)
{
	struct pci_bar *b = &f->bar[i];
	b->addr = addr;
	b->size = size;
	b->is64 = is64;
	b->prefetch = prefetch;
	b->io = io;
	b->sysfs_flags = io ? (RES_IO | RES_SIZEALIGN | 1)
			    : (RES_MEM | RES_SIZEALIGN | (prefetch ? RES_PREFETCH : 0) | (is64 ? RES_MEM_64 | 0xc : 0));
	if (is64 && prefetch)
		b->sysfs_flags = 0x14220c;
}

/* Address windows of one root complex: 256 GiB of 64-bit space, 128 MiB of 32-bit space. */
static uint64_t mmio64_base(uint8_t root) { return 0x100000000000ull + (uint64_t)(root >> 5) * 0x4000000000ull; }
static uint64_t mmio32_base(uint8_t root) { return 0x80000000ull + (uint64_t)(root >> 5) * 0x8000000ull; }

void pci_gpu_function(const struct sim_gpu *g, struct pci_fn *f)
{
	const struct sim_gpu_slot *s = sim_gpu_slot(g->index);
	uint8_t r = s->root_bus;
	init_fn(f, (uint8_t)(r + 3), 0, 0);
	f->vendor = 0x1002;
	f->device = PCI_DEVICE_ID;
	f->subsys_vendor = PCI_SUBSYS_VENDOR;
	f->subsys_device = PCI_SUBSYS_DEVICE;
	f->class_code = 0x030000;
	f->revision = PCI_REVISION;
	f->multifunction = true;
	f->is_pcie = true;
	f->pcie_type = PCIE_LEGACY_ENDPOINT;
	f->link_width = g->link_width;
	f->link_speed = g->link_speed_gts;
	f->irq = 100 + g->index;
	f->numa_node = s->numa_node;
	bar(f, 0, mmio64_base(r), 32ull << 30, true, true, false);		/* VRAM, resizable: all of it */
	bar(f, 2, mmio64_base(r) + (32ull << 30), GPU_DOORBELL_BAR, true, true, false);
	bar(f, 4, 0x1000u * ((r >> 5) + 1u), 256, false, false, true);
	bar(f, 5, mmio32_base(r), GPU_MMIO_BAR, false, false, false);
	snprintf(f->driver, sizeof f->driver, "amdgpu");
	f->fallen_off = atomic_load(&((struct sim_gpu *)g)->fallen_off_bus) != 0;
}

int pci_gpu_chain(const struct sim_gpu *g, struct pci_fn out[6])
{
	const struct sim_gpu_slot *s = sim_gpu_slot(g->index);
	uint8_t r = s->root_bus;

	/* the root complex (AMD Starship/Matisse) */
	struct pci_fn *hb = &out[0];
	init_fn(hb, r, 0, 0);
	hb->vendor = 0x1022;
	hb->device = 0x1480;
	hb->subsys_vendor = 0x1022;
	hb->subsys_device = 0x1480;
	hb->class_code = 0x060000;
	hb->numa_node = s->numa_node;

	/* its root port (GPP bridge) */
	struct pci_fn *rp = &out[1];
	init_fn(rp, r, s->port_dev, 1);
	rp->vendor = 0x1022;
	rp->device = 0x1483;
	rp->subsys_vendor = 0x1022;
	rp->subsys_device = 0x1453;
	rp->class_code = 0x060400;
	rp->bridge = rp->is_pcie = true;
	rp->pcie_type = PCIE_ROOT_PORT;
	rp->secondary = (uint8_t)(r + 1);
	rp->subordinate = (uint8_t)(r + 3);
	rp->irq = 28;
	rp->numa_node = s->numa_node;
	snprintf(rp->driver, sizeof rp->driver, "pcieport");

	/* the board's switch: upstream port, where the real link to the host is */
	struct pci_fn *up = &out[2];
	init_fn(up, (uint8_t)(r + 1), 0, 0);
	up->vendor = 0x1002;
	up->device = 0x1478;
	up->class_code = 0x060400;
	up->revision = 0x10;
	up->bridge = up->is_pcie = true;
	up->pcie_type = PCIE_UPSTREAM;
	up->secondary = (uint8_t)(r + 2);
	up->subordinate = (uint8_t)(r + 3);
	up->link_width = g->link_width;
	up->link_speed = g->link_speed_gts;
	up->numa_node = s->numa_node;
	bar(up, 0, mmio32_base(r) + 0x200000, 16384, false, false, false);
	snprintf(up->driver, sizeof up->driver, "pcieport");

	struct pci_fn *dn = &out[3];
	init_fn(dn, (uint8_t)(r + 2), 0, 0);
	dn->vendor = 0x1002;
	dn->device = 0x1479;
	dn->subsys_vendor = 0x1002;
	dn->subsys_device = 0x1479;
	dn->class_code = 0x060400;
	dn->revision = 0x10;
	dn->bridge = dn->is_pcie = true;
	dn->pcie_type = PCIE_DOWNSTREAM;
	dn->secondary = (uint8_t)(r + 3);
	dn->subordinate = (uint8_t)(r + 3);
	dn->numa_node = s->numa_node;
	snprintf(dn->driver, sizeof dn->driver, "pcieport");

	pci_gpu_function(g, &out[4]);

	struct pci_fn *au = &out[5];
	init_fn(au, (uint8_t)(r + 3), 0, 1);
	au->vendor = 0x1002;
	au->device = 0xab30;
	au->subsys_vendor = 0x1002;
	au->subsys_device = 0xab30;
	au->class_code = 0x040300;
	au->is_pcie = true;
	au->pcie_type = PCIE_LEGACY_ENDPOINT;
	au->numa_node = s->numa_node;
	au->irq = 120 + g->index;
	bar(au, 0, mmio32_base(r) + 0x100000, 16384, false, false, false);
	snprintf(au->driver, sizeof au->driver, "snd_hda_intel");
	return 6;
}

/* PCIe capability at off, pointing to next. */
static void pcie_cap(const struct pci_fn *f, uint8_t *c, unsigned off, uint8_t next)
{
	put8(c, off, 0x10);
	put8(c, off + 1, next);
	put16(c, off + 2, (uint16_t)(2 | f->pcie_type << 4 | (f->pcie_type == PCIE_ROOT_PORT ? 0x100 : 0)));
	put32(c, off + 4, 0x00008fa2);		/* devcap: 512-byte payload, role-based error reporting */
	put16(c, off + 8, 0x2930);		/* devctl: relaxed ordering, 256-byte payload, 4 KiB reads */
	put16(c, off + 10, 0x0000);
	put32(c, off + 12, (uint32_t)(speed_code(f->max_link_speed) | f->max_link_width << 4 | 3 << 10 |
				      (f->bridge ? 1u << 20 : 0) | (uint32_t)f->dev << 24));
	put16(c, off + 16, 0x0040);		/* linkctl: common clock */
	put16(c, off + 18, (uint16_t)(speed_code(f->link_speed) | f->link_width << 4 | 1u << 12 |
				      (f->bridge ? 1u << 13 : 0)));
	put32(c, off + 36, 0x00000b1f);		/* devcap2: completion timeouts, atomics routing */
	put32(c, off + 44, 0x0000001e);		/* linkcap2: 2.5, 5, 8 and 16 GT/s */
	put16(c, off + 48, (uint16_t)speed_code(f->max_link_speed));
}

void pci_config(const struct pci_fn *f, uint8_t c[PCI_CFG_SIZE])
{
	memset(c, 0, PCI_CFG_SIZE);
	if (f->fallen_off) {
		memset(c, 0xff, PCI_CFG_SIZE);	/* a device that fell off the bus reads all ones */
		return;
	}
	put16(c, 0x00, f->vendor);
	put16(c, 0x02, f->device);
	put16(c, 0x04, f->bridge ? 0x0407 : 0x0407);
	put16(c, 0x06, 0x0010);			/* capabilities list */
	put8(c, 0x08, f->revision);
	put8(c, 0x09, (uint8_t)f->class_code);
	put8(c, 0x0a, (uint8_t)(f->class_code >> 8));
	put8(c, 0x0b, (uint8_t)(f->class_code >> 16));
	put8(c, 0x0c, 0x10);
	put8(c, 0x0e, (uint8_t)((f->bridge ? 1 : 0) | (f->multifunction ? 0x80 : 0)));
	if (f->bridge) {
		put8(c, 0x18, f->bus);
		put8(c, 0x19, f->secondary);
		put8(c, 0x1a, f->subordinate);
		for (int i = 0; i < 2; i++)
			if (f->bar[i].size)
				put32(c, 0x10 + 4 * (unsigned)i, (uint32_t)f->bar[i].addr);
	} else {
		for (int i = 0; i < 6; i++) {
			const struct pci_bar *b = &f->bar[i];
			if (!b->size)
				continue;
			if (b->io) {
				put32(c, 0x10 + 4 * (unsigned)i, (uint32_t)b->addr | 1);
			} else {
				put32(c, 0x10 + 4 * (unsigned)i,
				      (uint32_t)b->addr | (b->is64 ? 4u : 0u) | (b->prefetch ? 8u : 0u));
				if (b->is64)
					put32(c, 0x14 + 4 * (unsigned)i, (uint32_t)(b->addr >> 32));
			}
		}
		put16(c, 0x2c, f->subsys_vendor);
		put16(c, 0x2e, f->subsys_device);
	}
	put8(c, 0x3c, (uint8_t)f->irq);
	put8(c, 0x3d, f->vendor == 0x1022 && !f->bridge ? 0 : 1);
	if (f->vendor == 0x1022 && !f->bridge) {
		put16(c, 0x06, 0x0000);		/* the host bridge has no capabilities */
		return;
	}
	/* capabilities: power management at 0x50, PCIe at 0x64, MSI at 0xa0 */
	put8(c, 0x34, 0x50);
	put8(c, 0x50, 0x01);
	put8(c, 0x51, 0x64);
	put16(c, 0x52, 0x0603);
	put16(c, 0x54, 0x0008);
	if (f->is_pcie)
		pcie_cap(f, c, 0x64, 0xa0);
	put8(c, 0xa0, 0x05);
	put8(c, 0xa1, 0x00);
	put16(c, 0xa2, 0x0084);			/* 64-bit MSI, enabled */
	if (!f->is_pcie)
		return;
	/* extended capabilities: AER at 0x100, then resizable BAR at 0x200 (GPU) */
	bool rebar = f->vendor == 0x1002 && f->device == PCI_DEVICE_ID;
	put32(c, 0x100, 0x0001u | 2u << 16 | (rebar ? 0x200u : 0u) << 20);
	put32(c, 0x114, 0x0000e000);		/* correctable error mask */
	if (rebar) {
		put32(c, 0x200, 0x0015u | 1u << 16);
		put32(c, 0x204, 0x000ff000u);	/* 256 MiB .. 32 GiB */
		put32(c, 0x208, 0u | 1u << 5 | 15u << 8);	/* BAR 0, one resizable BAR, 32 GiB now */
	}
}
