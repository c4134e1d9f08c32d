/* The box's sysfs: PCI devices of the EPYC host's tree with the six GPUs
 * and their boards' switches, the DRM card and render nodes, the KFD
 * topology, laid out as the kernel lays them out, under STATE/sys.  The
 * namespace runner (sim/kmd/ns.c) makes them appear at /sys. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/box/box.h"
#include "sim/box/pci.h"
#include "sim/kmd/kmd.h"

/* ---- files ------------------------------------------------------------- */

int sysfs_mkdirs(const char *path)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Whether the file already holds exactly these bytes. */
static bool holds(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	char buf[8193];
	ssize_t n = len < sizeof buf ? read(fd, buf, len + 1) : -1;
	close(fd);
	return n == (ssize_t)len && memcmp(buf, data, len) == 0;
}

/* Write a file atomically (a reader sees the old or the new contents).
 * The box rewrites its live files ten times a second, most of them
 * unchanged: those are left alone, which spares the host's filesystem a
 * new inode and a freed one each time. */
static int put_file(const char *path, const void *data, size_t len, mode_t mode)
{
	if (holds(path, data, len))
		return 0;
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, (const char *)data + done, len - done);
		if (w < 0) {
			int e = -errno;
			close(fd);
			unlink(tmp);
			return e;
		}
		done += (size_t)w;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	return 0;
}

static int vput(const struct sim_box *b, const char *rel, const char *name, mode_t mode, const char *fmt, va_list ap)
{
	char path[PATH_MAX], text[8192];
	int n = vsnprintf(text, sizeof text, fmt, ap);
	if (n < 0 || (size_t)n >= sizeof text)
		return -EOVERFLOW;
	if (snprintf(path, sizeof path, "%s/sys/%s/%s", b->state, rel, name) >= (int)sizeof path)
		return -ENAMETOOLONG;
	int rc = put_file(path, text, (size_t)n, mode);
	if (rc != -ENOENT)
		return rc;
	/* the first write of a file: its directories (name may hold one, ras/...) */
	char *slash = strrchr(path, '/');
	*slash = '\0';
	rc = sysfs_mkdirs(path);
	*slash = '/';
	return rc < 0 ? rc : put_file(path, text, (size_t)n, mode);
}

int sysfs_write(const struct sim_box *b, const char *rel, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vput(b, rel, name, 0444, fmt, ap);
	va_end(ap);
	return rc;
}

/* A writable attribute (mode 0644): the box reads back what processes write. */
static int sysfs_write_rw(const struct sim_box *b, const char *rel, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int sysfs_write_rw(const struct sim_box *b, const char *rel, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vput(b, rel, name, 0644, fmt, ap);
	va_end(ap);
	return rc;
}

static int put_binary(const struct sim_box *b, const char *rel, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/sys/%s", b->state, rel) >= (int)sizeof path)
		return -ENAMETOOLONG;
	int rc = sysfs_mkdirs(path);
	if (rc < 0)
		return rc;
	strncat(path, "/", sizeof path - strlen(path) - 1);
	strncat(path, name, sizeof path - strlen(path) - 1);
	return put_file(path, data, len, 0444);
}

/* A relative symlink STATE/sys/FROM_DIR/NAME -> STATE/sys/TO, as sysfs has them. */
static int link_rel(const struct sim_box *b, const char *from_dir, const char *name, const char *to)
{
	char path[PATH_MAX], target[PATH_MAX] = "";
	if (snprintf(path, sizeof path, "%s/sys/%s", b->state, from_dir) >= (int)sizeof path)
		return -ENAMETOOLONG;
	int rc = sysfs_mkdirs(path);
	if (rc < 0)
		return rc;
	for (const char *s = from_dir; *s; s++)
		if (*s == '/')
			strcat(target, "../");
	strcat(target, "../");
	if (strlen(target) + strlen(to) >= sizeof target)
		return -ENAMETOOLONG;
	strcat(target, to);
	strncat(path, "/", sizeof path - strlen(path) - 1);
	strncat(path, name, sizeof path - strlen(path) - 1);
	unlink(path);
	return symlink(target, path) < 0 ? -errno : 0;
}

int sysfs_link(const struct sim_box *b, const char *from_dir, const char *name, const char *to)
{
	return link_rel(b, from_dir, name, to);
}

/* ---- PCI devices ------------------------------------------------------------ */

static const char *speed_name(int gts)
{
	switch (gts) {
	case 2: return "2.5 GT/s PCIe";
	case 5: return "5.0 GT/s PCIe";
	case 8: return "8.0 GT/s PCIe";
	case 16: return "16.0 GT/s PCIe";
	default: return "32.0 GT/s PCIe";
	}
}

/* The generic files of a PCI function at dir (relative to sys/). */
int sysfs_pci_function(const struct sim_box *b, const char *dir, const struct pci_fn *f)
{
	uint8_t cfg[PCI_CFG_SIZE];
	pci_config(f, cfg);
	int rc = 0;
	rc |= put_binary(b, dir, "config", cfg, f->is_pcie ? PCI_CFG_SIZE : 256);
	rc |= sysfs_write(b, dir, "vendor", "0x%04x\n", f->vendor);
	rc |= sysfs_write(b, dir, "device", "0x%04x\n", f->device);
	rc |= sysfs_write(b, dir, "subsystem_vendor", "0x%04x\n", f->subsys_vendor);
	rc |= sysfs_write(b, dir, "subsystem_device", "0x%04x\n", f->subsys_device);
	rc |= sysfs_write(b, dir, "class", "0x%06x\n", f->class_code);
	rc |= sysfs_write(b, dir, "revision", "0x%02x\n", f->revision);
	rc |= sysfs_write(b, dir, "irq", "%d\n", f->irq);
	rc |= sysfs_write(b, dir, "numa_node", "%d\n", f->numa_node);
	rc |= sysfs_write(b, dir, "local_cpulist", "0-%ld\n", sysconf(_SC_NPROCESSORS_ONLN) - 1);
	rc |= sysfs_write(b, dir, "enable", "1\n");
	rc |= sysfs_write(b, dir, "msi_bus", "1\n");
	rc |= sysfs_write(b, dir, "d3cold_allowed", "1\n");
	rc |= sysfs_write(b, dir, "modalias", "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n", f->vendor, f->device,
			  f->subsys_vendor, f->subsys_device, f->class_code >> 16, (f->class_code >> 8) & 0xff,
			  f->class_code & 0xff);
	char res[2048] = "";
	for (int i = 0; i < 17; i++) {
		char line[80];
		const struct pci_bar *bar = i < 6 ? &f->bar[i] : NULL;
		if (bar && bar->size)
			snprintf(line, sizeof line, "0x%016llx 0x%016llx 0x%016llx\n", (unsigned long long)bar->addr,
				 (unsigned long long)(bar->addr + bar->size - 1), (unsigned long long)bar->sysfs_flags);
		else
			snprintf(line, sizeof line, "0x%016llx 0x%016llx 0x%016llx\n", 0ull, 0ull, 0ull);
		strcat(res, line);
	}
	rc |= sysfs_write(b, dir, "resource", "%s", res);
	if (f->is_pcie) {
		rc |= sysfs_write(b, dir, "current_link_speed", "%s\n", speed_name(f->link_speed));
		rc |= sysfs_write(b, dir, "current_link_width", "%d\n", f->link_width);
		rc |= sysfs_write(b, dir, "max_link_speed", "%s\n", speed_name(f->max_link_speed));
		rc |= sysfs_write(b, dir, "max_link_width", "%d\n", f->max_link_width);
	}
	if (f->driver[0])
		rc |= sysfs_write(b, dir, "uevent",
				  "DRIVER=%s\nPCI_CLASS=%X\nPCI_ID=%04X:%04X\nPCI_SUBSYS_ID=%04X:%04X\nPCI_SLOT_NAME=%s\n"
				  "MODALIAS=pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n",
				  f->driver, f->class_code, f->vendor, f->device, f->subsys_vendor, f->subsys_device, f->bdf,
				  f->vendor, f->device, f->subsys_vendor, f->subsys_device, f->class_code >> 16,
				  (f->class_code >> 8) & 0xff, f->class_code & 0xff);
	rc |= link_rel(b, dir, "subsystem", "bus/pci");
	if (f->driver[0]) {
		char drv[128];
		snprintf(drv, sizeof drv, "bus/pci/drivers/%s", f->driver);
		rc |= link_rel(b, dir, "driver", drv);
		rc |= link_rel(b, drv, f->bdf, dir);
	}
	rc |= link_rel(b, "bus/pci/devices", f->bdf, dir);
	return rc ? -EIO : 0;
}

/* The AER counters files a PCIe function has (all zero but for injected). */
/* drivers/pci/pcie/aer.c: each PCIe function's counts by error, then the
 * total */
static int aer_files(const struct sim_box *b, const char *dir, struct sim_aer *a)
{
	unsigned long long rx = a ? atomic_load(&a->rx_err) : 0, tlp = a ? atomic_load(&a->bad_tlp) : 0;
	unsigned long long sdes = a ? atomic_load(&a->surprise_down) : 0, cto = a ? atomic_load(&a->cmplt_to) : 0;
	int rc = 0;
	rc |= sysfs_write(b, dir, "aer_dev_correctable",
			  "RxErr %llu\nBadTLP %llu\nBadDLLP 0\nRollover 0\nTimeout 0\nNonFatalErr 0\nCorrIntErr 0\n"
			  "HeaderOF 0\nTOTAL_ERR_COR %llu\n", rx, tlp, rx + tlp);
	rc |= sysfs_write(b, dir, "aer_dev_nonfatal",
			  "Undefined 0\nDLP 0\nSDES %llu\nTLP 0\nFCP 0\nCmpltTO %llu\nCmpltAbrt 0\nUnxCmplt 0\nRxOF 0\n"
			  "MalfTLP 0\nECRC 0\nUnsupReq 0\nACSViol 0\nUncorrIntErr 0\nBlockedTLP 0\nAtomicOpBlocked 0\n"
			  "TLPBlockedErr 0\nPoisonTLPBlocked 0\nTOTAL_ERR_NONFATAL %llu\n", sdes, cto, sdes + cto);
	rc |= sysfs_write(b, dir, "aer_dev_fatal",
			  "Undefined 0\nDLP 0\nSDES 0\nTLP 0\nFCP 0\nCmpltTO 0\nCmpltAbrt 0\nUnxCmplt 0\nRxOF 0\n"
			  "MalfTLP 0\nECRC 0\nUnsupReq 0\nACSViol 0\nUncorrIntErr 0\nBlockedTLP 0\nAtomicOpBlocked 0\n"
			  "TLPBlockedErr 0\nPoisonTLPBlocked 0\nTOTAL_ERR_FATAL 0\n");
	return rc ? -EIO : 0;
}

/* The AER files of every hop from the GPU's root port down to the GPU,
 * rewritten when a count changed.  The hops are the GPU directory's
 * ancestors: its switch's downstream and upstream ports, the root port. */
static void aer_update(const struct sim_box *b, struct sim_gpu *g)
{
	static uint64_t last[SIM_MAX_GPUS][AER_HOPS];
	char dir[sizeof g->sysdir];
	snprintf(dir, sizeof dir, "%s", g->sysdir);
	for (int h = AER_GPU; h >= AER_ROOT_PORT; h--) {
		struct sim_aer *a = &g->aer[h];
		uint64_t sum = atomic_load(&a->rx_err) + atomic_load(&a->bad_tlp) + atomic_load(&a->surprise_down) +
			       atomic_load(&a->cmplt_to);
		if (sum != last[g->index][h] && aer_files(b, dir, a) == 0)
			last[g->index][h] = sum;
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
	}
}

/* ---- DRM nodes --------------------------------------------------------------- */

static int drm_node(const struct sim_box *b, const struct sim_gpu *g, const char *name, int minor)
{
	char dir[512], cls[128], dev[64];
	snprintf(dir, sizeof dir, "%s/drm/%s", g->sysdir, name);
	snprintf(cls, sizeof cls, "class/drm");
	snprintf(dev, sizeof dev, "dev/char");
	int rc = 0;
	rc |= sysfs_write(b, dir, "dev", "%d:%d\n", DRM_MAJOR, minor);
	rc |= sysfs_write(b, dir, "uevent", "MAJOR=%d\nMINOR=%d\nDEVNAME=dri/%s\nDEVTYPE=drm_minor\n", DRM_MAJOR, minor,
			  name);
	rc |= link_rel(b, dir, "subsystem", "class/drm");
	rc |= link_rel(b, dir, "device", g->sysdir);
	rc |= link_rel(b, cls, name, dir);
	char mm[32];
	snprintf(mm, sizeof mm, "%d:%d", DRM_MAJOR, minor);
	rc |= link_rel(b, dev, mm, dir);
	return rc ? -EIO : 0;
}

/* The box's device files under STATE/dev: placeholders the namespace binds
 * at /dev; the preloaded library turns opens of them into connections. */
static int device_file(const struct sim_box *b, const char *rel)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/dev/%s", b->state, rel) >= (int)sizeof path)
		return -ENAMETOOLONG;
	char *slash = strrchr(path, '/');
	*slash = '\0';
	int rc = sysfs_mkdirs(path);
	*slash = '/';
	if (rc < 0)
		return rc;
	return put_file(path, "", 0, 0666);
}

/* ---- the GPU's amdgpu attributes ------------------------------------------------ */

/* gpu_metrics as amdgpu's SMU 13.0.0 code fills it: struct gpu_metrics_v1_3
 * (kgd_pp_interface.h), format 1 content 3, temperatures in degrees C,
 * power in W, activity in percent, link speed in 0.1 GT/s. */
struct gpu_metrics_v1_3 {
	uint16_t structure_size;
	uint8_t format_revision, content_revision;
	uint16_t temperature_edge, temperature_hotspot, temperature_mem, temperature_vrgfx, temperature_vrsoc,
		temperature_vrmem;
	uint16_t average_gfx_activity, average_umc_activity, average_mm_activity;
	uint16_t average_socket_power;
	uint64_t energy_accumulator;
	uint64_t system_clock_counter;
	uint16_t average_clk[7];	/* gfx, soc, uclk, vclk0, dclk0, vclk1, dclk1 */
	uint16_t current_clk[7];
	uint32_t throttle_status;
	uint16_t current_fan_speed;
	uint16_t pcie_link_width, pcie_link_speed;
	uint16_t padding;
	uint32_t gfx_activity_acc, mem_activity_acc;
	uint16_t temperature_hbm[4];
	uint64_t firmware_timestamp;
	uint16_t voltage_soc, voltage_gfx, voltage_mem;
	uint16_t padding1;
	uint64_t indep_throttle_status;
};
_Static_assert(sizeof(struct gpu_metrics_v1_3) == 120, "gpu_metrics_v1_3 is 120 bytes");

/* the firmware's throttler bits as smu_types.h's ASIC-independent ones
 * (smu_v13_0_0_throttler_map) */
static uint64_t indep_throttler_status(uint32_t asic)
{
	uint64_t indep = 0;
	if (asic & (1u << THROTTLER_TEMP_HOTSPOT_BIT))
		indep |= 1ull << SMU_THROTTLER_TEMP_HOTSPOT_BIT;
	if (asic & (1u << THROTTLER_PPT0_BIT))
		indep |= 1ull << SMU_THROTTLER_PPT0_BIT;
	return indep;
}

static void gpu_metrics(const struct sim_box *b, const struct sim_gpu *g, const struct pci_fn *f)
{
	struct gpu_metrics_v1_3 m = { .structure_size = sizeof m, .format_revision = 1, .content_revision = 3 };
	m.temperature_edge = (uint16_t)(atomic_load(&((struct sim_gpu *)g)->temp_edge_mc) / 1000);
	m.temperature_hotspot = (uint16_t)(atomic_load(&((struct sim_gpu *)g)->temp_junction_mc) / 1000);
	m.temperature_mem = (uint16_t)(atomic_load(&((struct sim_gpu *)g)->temp_mem_mc) / 1000);
	m.temperature_vrgfx = m.temperature_vrsoc = m.temperature_vrmem = m.temperature_edge;
	m.average_gfx_activity = (uint16_t)(atomic_load(&((struct sim_gpu *)g)->busy_permille) / 10);
	m.average_umc_activity = m.average_gfx_activity / 4;
	m.average_socket_power = (uint16_t)(atomic_load(&((struct sim_gpu *)g)->power_mw) / 1000);
	m.system_clock_counter = box_now_ns();
	m.average_clk[0] = m.current_clk[0] = m.average_gfx_activity ? 2500 : 500;
	m.average_clk[1] = m.current_clk[1] = 1200;
	m.average_clk[2] = m.current_clk[2] = 1249;
	m.current_fan_speed = (uint16_t)atomic_load(&((struct sim_gpu *)g)->fan_rpm);
	m.throttle_status = atomic_load(&((struct sim_gpu *)g)->throttler_status);
	m.indep_throttle_status = indep_throttler_status(m.throttle_status);
	m.pcie_link_width = (uint16_t)f->link_width;
	m.pcie_link_speed = (uint16_t)(f->link_speed == 2 ? 25 : f->link_speed * 10);
	m.firmware_timestamp = box_now_ns() / 10;
	m.voltage_gfx = 1050;
	m.voltage_soc = 850;
	m.voltage_mem = 1350;
	put_binary(b, g->sysdir, "gpu_metrics", &m, sizeof m);
}

void sysfs_update_gpu(struct sim_box *b, struct sim_gpu *g)
{
	const char *d = g->sysdir;
	uint64_t used = atomic_load(&g->vram_used);
	sysfs_write(b, d, "gpu_busy_percent", "%d\n", atomic_load(&g->busy_permille) / 10);
	sysfs_write(b, d, "mem_busy_percent", "%d\n", atomic_load(&g->busy_permille) / 40);
	sysfs_write(b, d, "mem_info_vram_total", "%llu\n", (unsigned long long)GPU_VRAM_BYTES);
	sysfs_write(b, d, "mem_info_vram_used", "%llu\n", (unsigned long long)used);
	sysfs_write(b, d, "mem_info_vis_vram_total", "%llu\n", (unsigned long long)GPU_VRAM_BYTES);
	sysfs_write(b, d, "mem_info_vis_vram_used", "%llu\n", (unsigned long long)used);
	sysfs_write(b, d, "mem_info_gtt_total", "%llu\n", 64ull << 30);
	sysfs_write(b, d, "mem_info_gtt_used", "%llu\n", 0ull);
	struct pci_fn f;
	pci_gpu_function(g, &f);
	sysfs_write(b, d, "current_link_speed", "%s\n", speed_name(f.link_speed));
	sysfs_write(b, d, "current_link_width", "%d\n", f.link_width);
	aer_update(b, g);
	sysfs_write(b, d, "ras/umc_err_count", "ue: %llu\nce: %llu\n", (unsigned long long)atomic_load(&g->ras_ue),
		    (unsigned long long)atomic_load(&g->ras_ce));
	sysfs_write(b, d, "ras/gfx_err_count", "ue: 0\nce: 0\n");
	sysfs_write(b, d, "ras/features", "feature mask: 0x00000000\n");
	uint8_t cfg[PCI_CFG_SIZE];
	pci_config(&f, cfg);
	put_binary(b, d, "config", cfg, PCI_CFG_SIZE);
	gpu_metrics(b, g, &f);
}

static int gpu_attributes(struct sim_box *b, struct sim_gpu *g)
{
	const char *d = g->sysdir;
	int rc = 0;
	rc |= sysfs_write(b, d, "pp_dpm_sclk", "0: 500Mhz\n1: 1500Mhz *\n2: 2500Mhz\n");
	rc |= sysfs_write(b, d, "pp_dpm_mclk", "0: 96Mhz\n1: 456Mhz\n2: 772Mhz\n3: 1249Mhz *\n");
	rc |= sysfs_write(b, d, "pp_dpm_fclk", "0: 800Mhz\n1: 1900Mhz *\n");
	rc |= sysfs_write(b, d, "pp_dpm_socclk", "0: 500Mhz\n1: 1000Mhz\n2: 1200Mhz *\n");
	rc |= sysfs_write(b, d, "pp_dpm_pcie", "0: 2.5GT/s, x1 \n1: 16.0GT/s, x16 *\n");
	rc |= sysfs_write_rw(b, d, "power_dpm_force_performance_level", "auto\n");
	rc |= sysfs_write(b, d, "power_dpm_state", "performance\n");
	rc |= sysfs_write(b, d, "product_name", "Radeon RX 7900 XTX\n");
	rc |= sysfs_write(b, d, "product_number", "102-D70201-00\n");
	rc |= sysfs_write(b, d, "serial_number", "SIM%06X\n", 0x744c00 + g->index);
	rc |= sysfs_write(b, d, "unique_id", "%016llx\n", 0x5e11b0c5000000ull + (unsigned long long)g->index);
	rc |= sysfs_write(b, d, "vbios_version", "113-D7020100-102\n");
	rc |= sysfs_write(b, d, "boot_vga", "0\n");
	sysfs_update_gpu(b, g);
	return rc ? -EIO : 0;
}

/* ---- the amdgpu module ---------------------------------------------------------- */

/* The amdgpu module and those it uses, as /sys/module and /proc/modules show
 * them (lsmod reads both; the ROCm tools look for amdgpu there). */
static const struct {
	const char *name, *users;
	int size, refs;
} box_modules[] = {
	{ "amdgpu", "", 12812288, -1 },
	{ "amdxcp", "amdgpu", 12288, 1 },
	{ "gpu_sched", "amdgpu", 57344, 1 },
	{ "drm_buddy", "amdgpu", 20480, 1 },
	{ "drm_ttm_helper", "amdgpu", 12288, 1 },
	{ "ttm", "amdgpu,drm_ttm_helper", 110592, 2 },
};

static int module_sysfs(const struct sim_box *b, int i)
{
	char dir[96], path[PATH_MAX];
	snprintf(dir, sizeof dir, "module/%s", box_modules[i].name);
	int refs = box_modules[i].refs < 0 ? b->ngpus : box_modules[i].refs;
	int rc = 0;
	rc |= sysfs_write(b, dir, "initstate", "live\n");
	rc |= sysfs_write(b, dir, "refcnt", "%d\n", refs);
	snprintf(path, sizeof path, "%s/sys/%s/holders", b->state, dir);
	rc |= sysfs_mkdirs(path);
	char users[64];
	snprintf(users, sizeof users, "%s", box_modules[i].users);
	char *save = NULL;
	for (char *u = strtok_r(users, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		char to[96], holders[96];
		snprintf(to, sizeof to, "module/%s", u);
		snprintf(holders, sizeof holders, "%s/holders", dir);
		rc |= link_rel(b, holders, u, to);
	}
	return rc ? -EIO : 0;
}

/* /proc/modules: the host's modules and the box's drivers. */
static int proc_modules(const struct sim_box *b)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/proc", b->state);
	sysfs_mkdirs(path);
	strncat(path, "/modules", sizeof path - strlen(path) - 1);
	FILE *out = fopen(path, "we");
	if (!out)
		return -errno;
	FILE *in = fopen("/proc/modules", "re");
	char line[512];
	while (in && fgets(line, sizeof line, in)) {
		bool ours = false;
		for (size_t i = 0; i < sizeof box_modules / sizeof box_modules[0]; i++) {
			size_t n = strlen(box_modules[i].name);
			ours |= !strncmp(line, box_modules[i].name, n) && line[n] == ' ';
		}
		if (!ours)
			fputs(line, out);
	}
	if (in)
		fclose(in);
	for (size_t i = 0; i < sizeof box_modules / sizeof box_modules[0]; i++) {
		int refs = box_modules[i].refs < 0 ? b->ngpus : box_modules[i].refs;
		fprintf(out, "%s %d %d %s%s Live 0x0000000000000000\n", box_modules[i].name,
			box_modules[i].size, refs, box_modules[i].users[0] ? box_modules[i].users : "-",
			box_modules[i].users[0] ? "," : "");
	}
	return fclose(out) ? -EIO : 0;
}

static int module_files(const struct sim_box *b)
{
	int rc = 0;
	for (size_t i = 0; i < sizeof box_modules / sizeof box_modules[0]; i++)
		rc |= module_sysfs(b, (int)i);
	rc |= sysfs_write(b, "module/amdgpu/parameters", "ppfeaturemask", "0xfff7bfff\n");
	rc |= sysfs_write(b, "module/amdgpu/parameters", "lockup_timeout", "\n");
	rc |= sysfs_write(b, "module/amdgpu/parameters", "noretry", "-1\n");
	rc |= sysfs_write(b, "module/amdgpu/parameters", "vm_fragment_size", "-1\n");
	rc |= proc_modules(b);
	return rc ? -EIO : 0;
}

/* ---- the host CPUs' caches -------------------------------------------------------- */

/* The ROCm thunk builds the CPU node's cache list from
 * /sys/devices/system/node/node0/cpuN/cache (or /sys/devices/system/cpu) and
 * reads every attribute drivers/base/cacheinfo.c publishes, shared_cpu_map
 * included.  The box is the appliance, so each CPU gets the appliance
 * EPYC's caches (Zen 4: 32 KiB L1d and L1i and 1 MiB L2 per core, 32 MiB L3
 * shared by the eight cores of a CCX) whatever the host publishes; the
 * namespace shows these directories in place of the host's (ns.c), so
 * nothing a program reads there depends on the machine the box runs on. */
#define CCX_CPUS 8

struct cpu_cache {
	int level, size_kib, ways;
	bool per_ccx;			/* shared by the CPUs of a CCX, else private to one */
	const char *type;
};

static const struct cpu_cache epyc_caches[] = {
	{ 1, 32, 8, false, "Data" },
	{ 1, 32, 8, false, "Instruction" },
	{ 2, 1024, 8, false, "Unified" },
	{ 3, 32768, 16, true, "Unified" },
};

/* The CPUs sharing a cache, as a bitmap of nr_cpus bits. */
static void cache_sharers(const struct cpu_cache *c, int cpu, int nr_cpus, int *first, int *last)
{
	*first = c->per_ccx ? cpu / CCX_CPUS * CCX_CPUS : cpu;
	*last = c->per_ccx ? *first + CCX_CPUS - 1 : cpu;
	if (*last > nr_cpus - 1)
		*last = nr_cpus - 1;
}

/* A cpumask as the kernel prints it with "%*pb": 32-bit groups in hex,
 * most significant first, separated by commas; the first group only as
 * wide as the bits it holds. */
static void cpumask_hex(char *out, size_t len, int nr_cpus, int first, int last)
{
	size_t at = 0;
	int groups = (nr_cpus + 31) / 32;
	for (int g = groups - 1; g >= 0 && at < len; g--) {
		uint32_t bits = 0;
		for (int i = 0; i < 32; i++) {
			int cpu = g * 32 + i;
			if (cpu >= first && cpu <= last)
				bits |= 1u << i;
		}
		int width = 8;
		if (g == groups - 1 && nr_cpus % 32)
			width = (nr_cpus % 32 + 3) / 4;
		at += (size_t)snprintf(out + at, len - at, "%s%0*x", g == groups - 1 ? "" : ",", width, bits);
	}
}

static int cpu_cache_files(const struct sim_box *b, int cpu, int nr_cpus)
{
	int rc = 0;
	for (int i = 0; i < (int)(sizeof epyc_caches / sizeof epyc_caches[0]); i++) {
		const struct cpu_cache *c = &epyc_caches[i];
		char dir[96], map[1200], list[32];
		int first, last;
		snprintf(dir, sizeof dir, "devices/system/cpu/cpu%d/cache/index%d", cpu, i);
		cache_sharers(c, cpu, nr_cpus, &first, &last);
		cpumask_hex(map, sizeof map, nr_cpus, first, last);
		if (first == last)
			snprintf(list, sizeof list, "%d", first);
		else
			snprintf(list, sizeof list, "%d-%d", first, last);
		int sets = c->size_kib * 1024 / 64 / c->ways;
		rc |= sysfs_write(b, dir, "id", "%d\n", c->per_ccx ? cpu / CCX_CPUS : cpu);
		rc |= sysfs_write(b, dir, "level", "%d\n", c->level);
		rc |= sysfs_write(b, dir, "type", "%s\n", c->type);
		rc |= sysfs_write(b, dir, "size", "%dK\n", c->size_kib);
		rc |= sysfs_write(b, dir, "coherency_line_size", "64\n");
		rc |= sysfs_write(b, dir, "ways_of_associativity", "%d\n", c->ways);
		rc |= sysfs_write(b, dir, "number_of_sets", "%d\n", sets);
		rc |= sysfs_write(b, dir, "physical_line_partition", "1\n");
		rc |= sysfs_write(b, dir, "shared_cpu_map", "%s\n", map);
		rc |= sysfs_write(b, dir, "shared_cpu_list", "%s\n", list);
	}
	return rc ? -EIO : 0;
}

/* The kernel's CPU numbers: "possible" ("0-127", "0,2-5") bounds the
 * masks' width; each cpuN directory the host has gets the caches. */
static int possible_cpus(void)
{
	char buf[256] = "";
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	if (f) {
		if (!fgets(buf, sizeof buf, f))
			buf[0] = '\0';
		fclose(f);
	}
	int highest = -1;
	for (char *s = buf; *s;) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v < 0 || v > 8191)
			break;
		if (v > highest)
			highest = (int)v;
		s = end;
		while (*s == ',' || *s == '-' || *s == '\n')
			s++;
	}
	if (highest < 0)
		highest = (int)sysconf(_SC_NPROCESSORS_CONF) - 1;
	return highest < 0 ? 1 : highest + 1;
}

static int cpu_caches(const struct sim_box *b)
{
	DIR *d = opendir("/sys/devices/system/cpu");
	if (!d)
		return 0;
	int nr_cpus = possible_cpus(), rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, "cpu", 3) != 0 || e->d_name[3] < '0' || e->d_name[3] > '9')
			continue;
		long cpu = strtol(e->d_name + 3, &end, 10);
		if (*end == '\0' && cpu < nr_cpus)
			rc = cpu_cache_files(b, (int)cpu, nr_cpus);
	}
	closedir(d);
	return rc;
}

/* ---- all of it ------------------------------------------------------------------- */

int sysfs_build(struct sim_box *b)
{
	int rc = 0;
	/* where each function of the chain sits: under its bridge, or at the top */
	static const int parent[6] = { -1, -1, 1, 2, 3, 3 };
	for (int i = 0; i < b->ngpus && rc == 0; i++) {
		struct sim_gpu *g = &b->gpu[i];
		struct pci_fn chain[6];
		char dirs[6][512];
		int n = pci_gpu_chain(g, chain);
		for (int k = 0; k < n && rc == 0; k++) {
			if (parent[k] < 0)
				snprintf(dirs[k], sizeof dirs[k], "devices/pci0000:%02x/%s", chain[0].bus, chain[k].bdf);
			else
				snprintf(dirs[k], sizeof dirs[k], "%.400s/%s", dirs[parent[k]], chain[k].bdf);
			rc = sysfs_pci_function(b, dirs[k], &chain[k]);
			if (rc == 0 && chain[k].is_pcie)
				rc = aer_files(b, dirs[k], k >= 1 && k <= 4 ? &g->aer[k - 1] : NULL);
		}
		if (rc == 0 && strcmp(dirs[4], g->sysdir) != 0) {
			klog("sim: GPU %d directory mismatch: %s vs %s", i, dirs[4], g->sysdir);
			rc = -EINVAL;
		}
		if (rc == 0) {
			rc = gpu_attributes(b, g);
			rc |= ip_discovery_build(b, g);
			char name[32];
			snprintf(name, sizeof name, "card%d", g->card_minor);
			rc |= drm_node(b, g, name, g->card_minor);
			snprintf(name, sizeof name, "renderD%d", g->render_minor);
			rc |= drm_node(b, g, name, g->render_minor);
			snprintf(name, sizeof name, "dri/card%d", g->card_minor);
			rc |= device_file(b, name);
			snprintf(name, sizeof name, "dri/renderD%d", g->render_minor);
			rc |= device_file(b, name);
		}
	}
	if (rc == 0)
		rc = kfd_topology_build(b);
	if (rc == 0)
		rc = module_files(b);
	if (rc == 0)
		rc = cpu_caches(b);
	if (rc == 0)
		rc = device_file(b, "kfd");
	/* the kernel log starts with the boot (klog.c appends to it) */
	if (rc == 0)
		rc = device_file(b, "kmsg");
	for (int i = 0; i < b->ngpus && rc == 0; i++)
		klog("[drm] Initialized amdgpu 3.57.0 20150101 for %s on minor %d", b->gpu[i].bdf, b->gpu[i].card_minor);
	return rc;
}
