/* tb diag's level 0: what the kernel publishes about each GPU, read without
 * any GPU work (sysfs, the render node's info queries): the PCIe link of
 * every hop from the root port down, large BAR, the counters that tell
 * trouble (VRAM lost, RAS, AER at every hop), the temperatures. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <amdgpu.h>
#include <amdgpu_drm.h>

#include "diag/diag.h"
#include "driver/tbdrv.h"

/* the appliance's GPU and link */
#define NAVI31_DEVICE_ID 0x744c
#define WANT_LINK_MTS 16000
#define WANT_LINK_WIDTH 16
/* correctable PCIe errors a healthy link may have gathered since boot */
#define AER_CORRECTABLE_AT_START_MAX 100

/* ---- sysfs ------------------------------------------------------------------------ */

/* Read a small sysfs file into buf (NUL-terminated); -errno. */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return 0;
}

/* "KEY VALUE" lines: the value of key, or -1 */
static long long keyed_value(const char *text, const char *key)
{
	size_t k = strlen(key);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, k) && (l[k] == ' ' || l[k] == ':'))
			return strtoll(l + k + 1 + (l[k + 1] == ' '), NULL, 10);
	return -1;
}

static long long file_keyed(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX], buf[2048];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	return read_small(path, buf, sizeof buf) == 0 ? keyed_value(buf, key) : -1;
}

long long diag_sysfs_number(const char *dir, const char *file)
{
	char path[PATH_MAX], buf[64];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (read_small(path, buf, sizeof buf) < 0)
		return -1;
	char *end;
	long long v = strtoll(buf, &end, 0);
	return end == buf ? -1 : v;
}

/* "16.0 GT/s PCIe" -> 16000 */
static int link_mts(const char *dir, const char *file)
{
	char path[PATH_MAX], buf[64];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	if (read_small(path, buf, sizeof buf) < 0)
		return -1;
	return (int)(strtod(buf, NULL) * 1000 + 0.5);
}

/* The GPU's device directory and its PCIe ancestors, GPU first. */
static int pci_path(const struct tb_gpu_info *gpu, char dirs[][PATH_MAX], int max)
{
	char link[PATH_MAX], real[PATH_MAX];
	snprintf(link, sizeof link, "/sys/bus/pci/devices/%s", gpu->pci);
	if (!realpath(link, real))
		return -errno;
	int n = 0;
	while (n < max) {
		char *base = strrchr(real, '/');
		if (!base || strncmp(base + 1, "0000:", 5) != 0 || strlen(base + 1) != 12)
			break;	/* up to the host bridge's pci0000:XX */
		snprintf(dirs[n++], PATH_MAX, "%s", real);
		*base = '\0';
	}
	return n;
}

/* ---- counters ---------------------------------------------------------------------- */

int diag_vram_lost(const struct tb_gpu_info *gpu, uint32_t *out)
{
	char path[64];
	snprintf(path, sizeof path, "/dev/dri/renderD%d", gpu->render_minor);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint32_t major, minor;
	amdgpu_device_handle dev;
	int rc = amdgpu_device_initialize(fd, &major, &minor, &dev);
	if (rc == 0) {
		rc = amdgpu_query_info(dev, AMDGPU_INFO_VRAM_LOST_COUNTER, sizeof *out, out);
		amdgpu_device_deinitialize(dev);
	}
	close(fd);
	return rc;
}

/* The firmware the kernel loaded, as amdgpu reports it (AMDGPU_INFO_FW_VERSION
 * through libdrm): what a report needs to tell a firmware update from a
 * hardware change.  Names as amdgpu_firmware_info lists them. */
json_t *diag_firmware(const struct tb_gpu_info *gpu)
{
	static const struct {
		const char *name;
		unsigned type;
	} fws[] = {
		{ "me", AMDGPU_INFO_FW_GFX_ME },   { "pfp", AMDGPU_INFO_FW_GFX_PFP }, { "mec", AMDGPU_INFO_FW_GFX_MEC },
		{ "rlc", AMDGPU_INFO_FW_GFX_RLC }, { "smc", AMDGPU_INFO_FW_SMC },     { "sdma", AMDGPU_INFO_FW_SDMA },
		{ "sos", AMDGPU_INFO_FW_SOS },     { "asd", AMDGPU_INFO_FW_ASD },
	};
	json_t *out = json_object();
	char path[64];
	snprintf(path, sizeof path, "/dev/dri/renderD%d", gpu->render_minor);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return out;
	uint32_t major, minor;
	amdgpu_device_handle dev;
	if (amdgpu_device_initialize(fd, &major, &minor, &dev) == 0) {
		for (size_t i = 0; i < sizeof fws / sizeof *fws; i++) {
			uint32_t ver = 0, feature = 0;
			if (amdgpu_query_firmware_version(dev, fws[i].type, 0, 0, &ver, &feature) == 0) {
				char v[32];
				snprintf(v, sizeof v, "0x%08x", ver);
				json_object_set_new(out, fws[i].name, json_pack("{s:s, s:i}", "version", v, "feature",
										  (int)feature));
			}
		}
		amdgpu_device_deinitialize(dev);
	}
	close(fd);
	return out;
}

json_t *diag_counters(const struct tb_gpu_info *gpu)
{
	json_t *c = json_object();
	uint32_t lost;
	if (diag_vram_lost(gpu, &lost) == 0)
		json_object_set_new(c, "vram_lost", json_integer(lost));
	char dirs[8][PATH_MAX];
	int n = pci_path(gpu, dirs, 8);
	if (n > 0) {
		json_object_set_new(c, "ras_ue", json_integer(file_keyed(dirs[0], "ras/umc_err_count", "ue")));
		json_object_set_new(c, "ras_ce", json_integer(file_keyed(dirs[0], "ras/umc_err_count", "ce")));
	}
	json_t *hops = json_array();
	for (int i = n - 1; i >= 0; i--) {
		long long cor = file_keyed(dirs[i], "aer_dev_correctable", "TOTAL_ERR_COR");
		if (cor < 0)
			continue;	/* no AER capability here */
		const char *bdf = strrchr(dirs[i], '/') + 1;
		json_array_append_new(hops, json_pack("{s:s, s:I, s:I, s:I}", "pci", bdf, "correctable", (json_int_t)cor,
						      "nonfatal",
						      (json_int_t)file_keyed(dirs[i], "aer_dev_nonfatal", "TOTAL_ERR_NONFATAL"),
						      "fatal",
						      (json_int_t)file_keyed(dirs[i], "aer_dev_fatal", "TOTAL_ERR_FATAL")));
	}
	json_object_set_new(c, "aer", hops);
	return c;
}

static json_int_t delta(const json_t *before, const json_t *after, const char *key)
{
	json_t *a = json_object_get(after, key), *b = json_object_get(before, key);
	return a && b ? json_integer_value(a) - json_integer_value(b) : 0;
}

json_t *diag_counter_deltas(const json_t *before, const json_t *after)
{
	json_t *d = json_object();
	static const char *const keys[] = { "vram_lost", "ras_ue", "ras_ce" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (delta(before, after, keys[i]))
			json_object_set_new(d, keys[i], json_integer(delta(before, after, keys[i])));
	json_t *hb = json_object_get(before, "aer"), *ha = json_object_get(after, "aer");
	size_t i;
	json_t *h;
	json_array_foreach(ha, i, h) {
		json_t *b0 = json_array_get(hb, i);
		static const char *const kinds[] = { "correctable", "nonfatal", "fatal" };
		for (size_t k = 0; b0 && k < 3; k++) {
			json_int_t dv = delta(b0, h, kinds[k]);
			if (dv) {
				char key[64];
				snprintf(key, sizeof key, "aer_%s_%s", kinds[k], json_string_value(json_object_get(h, "pci")));
				json_object_set_new(d, key, json_integer(dv));
			}
		}
	}
	return d;
}

/* ---- the tests ------------------------------------------------------------------------ */

static json_t *test_pcie(const struct tb_gpu_info *gpu)
{
	char dirs[8][PATH_MAX], cfg[4];
	int n = pci_path(gpu, dirs, 8);
	if (n <= 0)
		return diag_result("pcie", gpu->index, DIAG_FAIL, "GPU_NOT_FOUND", DIAG_ACT_RESEAT_OR_BIOS,
				   "the GPU %s is not on the PCI bus", gpu->pci);
	/* a device that fell off the bus reads all ones */
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/config", dirs[0]);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, cfg, sizeof cfg) : -1;
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)sizeof cfg || (cfg[0] & 0xff) == 0xff)
		return diag_result("pcie", gpu->index, DIAG_FAIL, "GPU_OFF_BUS", DIAG_ACT_REPLACE_HW,
				   "the GPU %s reads all ones: it fell off the bus", gpu->pci);
	if (gpu->device_id != NAVI31_DEVICE_ID || strcmp(gpu->target, "gfx1100") != 0)
		return diag_result("pcie", gpu->index, DIAG_FAIL, "WRONG_GPU", DIAG_ACT_INVESTIGATE,
				   "%s is %04x %s, not a 7900 XTX (744c gfx1100)", gpu->pci, gpu->device_id, gpu->target);
	json_t *r = NULL;
	json_t *hops = json_array();
	for (int i = n - 1; i >= 0; i--) {
		int mts = link_mts(dirs[i], "current_link_speed");
		long long width = diag_sysfs_number(dirs[i], "current_link_width");
		if (mts < 0 || width < 0)
			continue;	/* no link (the host bridge) */
		const char *bdf = strrchr(dirs[i], '/') + 1;
		json_array_append_new(hops, json_pack("{s:s, s:f, s:I}", "pci", bdf, "gts", mts / 1000.0, "width",
						      (json_int_t)width));
		if (!r && (mts < WANT_LINK_MTS || width < WANT_LINK_WIDTH))
			r = diag_result("pcie", gpu->index, DIAG_FAIL, "PCIE_LINK_DEGRADED", DIAG_ACT_RESEAT_OR_BIOS,
					"the link at %s runs at x%lld %.1f GT/s, not x%d %.1f GT/s", bdf, width,
					mts / 1000.0, WANT_LINK_WIDTH, WANT_LINK_MTS / 1000.0);
	}
	if (!r)
		r = diag_result("pcie", gpu->index, DIAG_PASS, "OK", DIAG_ACT_NONE, "%zu hops at x%d %.1f GT/s",
				json_array_size(hops), WANT_LINK_WIDTH, WANT_LINK_MTS / 1000.0);
	json_object_set_new(json_object_get(r, "evidence"), "hops", hops);
	return r;
}

static json_t *test_bar(const struct tb_gpu_info *gpu)
{
	json_t *r = gpu->large_bar ? diag_result("bar", gpu->index, DIAG_PASS, "OK", DIAG_ACT_NONE,
						 "BAR0 %llu MiB covers VRAM", (unsigned long long)(gpu->bar0_bytes >> 20))
				   : diag_result("bar", gpu->index, DIAG_FAIL, "LARGE_BAR_DISABLED", DIAG_ACT_RESEAT_OR_BIOS,
						 "BAR0 is %llu MiB, VRAM %llu MiB: enable Resizable BAR / Above 4G in the BIOS",
						 (unsigned long long)(gpu->bar0_bytes >> 20),
						 (unsigned long long)(gpu->vram_bytes >> 20));
	diag_measure(r, "bar0", (double)(gpu->bar0_bytes >> 20), "MiB", "min", (double)(gpu->vram_bytes >> 20));
	return r;
}

/* the counters at the start: errors already there */
static json_t *test_counters_at_start(const struct tb_gpu_info *gpu, const json_t *c)
{
	json_int_t ue = json_integer_value(json_object_get(c, "ras_ue")), ce = json_integer_value(json_object_get(c, "ras_ce"));
	json_int_t lost = json_integer_value(json_object_get(c, "vram_lost"));
	json_t *r = NULL;
	if (ue > 0 || ce > 0)
		r = diag_result("counters", gpu->index, DIAG_FAIL, "VRAM_ECC_ERRORS", DIAG_ACT_REPLACE_HW,
				"the memory controller counted %lld uncorrectable and %lld correctable errors", (long long)ue,
				(long long)ce);
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(c, "aer"), i, h) {
		json_int_t cor = json_integer_value(json_object_get(h, "correctable"));
		json_int_t unc = json_integer_value(json_object_get(h, "nonfatal")) +
				 json_integer_value(json_object_get(h, "fatal"));
		if (!r && unc > 0)
			r = diag_result("counters", gpu->index, DIAG_FAIL, "PCIE_UNCORRECTABLE_ERRORS",
					DIAG_ACT_RESEAT_OR_BIOS, "%lld uncorrectable PCIe errors at %s", (long long)unc,
					json_string_value(json_object_get(h, "pci")));
		if (!r && cor > AER_CORRECTABLE_AT_START_MAX)
			r = diag_result("counters", gpu->index, DIAG_FAIL, "PCIE_CORRECTABLE_ERRORS",
					DIAG_ACT_RESEAT_OR_BIOS, "%lld correctable PCIe errors at %s since boot",
					(long long)cor, json_string_value(json_object_get(h, "pci")));
	}
	if (!r && lost > 0)
		r = diag_result("counters", gpu->index, DIAG_FAIL, "GPU_RESET_SINCE_BOOT", DIAG_ACT_INVESTIGATE,
				"the GPU reset %lld times since boot (VRAM lost)", (long long)lost);
	if (!r)
		r = diag_result("counters", gpu->index, DIAG_PASS, "OK", DIAG_ACT_NONE, "no errors counted");
	json_object_set(json_object_get(r, "evidence"), "counters", (json_t *)c);
	return r;
}

int diag_hwmon_dir(const struct tb_gpu_info *gpu, char *out, size_t len)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "/sys/bus/pci/devices/%s/hwmon", gpu->pci);
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	int rc = -ENOENT;
	while (rc < 0 && (e = readdir(d)))
		if (!strncmp(e->d_name, "hwmon", 5)) {
			snprintf(out, len, "%s/%s", dir, e->d_name);
			rc = 0;
		}
	closedir(d);
	return rc;
}

static json_t *test_sensors(const struct tb_gpu_info *gpu)
{
	static const struct {
		const char *label, *input, *crit;
	} temps[] = { { "edge", "temp1_input", "temp1_crit" },
		      { "junction", "temp2_input", "temp2_crit" },
		      { "mem", "temp3_input", "temp3_crit" } };
	char h[PATH_MAX];
	if (diag_hwmon_dir(gpu, h, sizeof h) < 0)
		return diag_result("sensors", gpu->index, DIAG_FAIL, "SENSORS_MISSING", DIAG_ACT_UPDATE_FW_DRIVER,
				   "the GPU has no hwmon sensors");
	json_t *r = diag_result("sensors", gpu->index, DIAG_PASS, "OK", DIAG_ACT_NONE, "edge, junction and memory readable");
	for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++) {
		long long t = diag_sysfs_number(h, temps[i].input), crit = diag_sysfs_number(h, temps[i].crit);
		if (t < 0) {
			json_decref(r);
			return diag_result("sensors", gpu->index, DIAG_FAIL, "SENSOR_MISSING", DIAG_ACT_UPDATE_FW_DRIVER,
					   "the %s temperature (%s) cannot be read", temps[i].label, temps[i].input);
		}
		diag_measure(r, temps[i].label, t / 1000.0, "C", crit > 0 ? "max" : NULL, crit / 1000.0);
		if (crit > 0 && t >= crit) {
			json_decref(r);
			return diag_result("sensors", gpu->index, DIAG_FAIL, "OVER_TEMPERATURE", DIAG_ACT_INVESTIGATE,
					   "the %s temperature %.1f C is at its limit %.1f C at idle", temps[i].label,
					   t / 1000.0, crit / 1000.0);
		}
	}
	return r;
}

/* The processes other than this one that hold the GPU, as [{pid, comm}]. */
json_t *diag_gpu_holders(const struct tb_gpu_info *gpu)
{
	json_t *out = json_array();
	int pids[64];
	int n = tb_gpu_holders(gpu, pids, 64);
	for (int i = 0; i < n && i < 64; i++) {
		char path[64], comm[64] = "?";
		snprintf(path, sizeof path, "/proc/%d/comm", pids[i]);
		if (read_small(path, comm, sizeof comm) == 0)
			comm[strcspn(comm, "\n")] = '\0';
		json_array_append_new(out, json_pack("{s:I, s:s}", "pid", (json_int_t)pids[i], "comm", comm));
	}
	return out;
}

static json_t *test_exclusive(const struct tb_gpu_info *gpu)
{
	json_t *holders = diag_gpu_holders(gpu);
	json_t *r;
	if (json_array_size(holders)) {
		json_t *h = json_array_get(holders, 0);
		r = diag_result("exclusive", gpu->index, DIAG_ENV_NOT_READY, "GPU_IN_USE", DIAG_ACT_RETRY,
				"%zu other process%s hold%s the GPU (pid %lld, %s): its tests would disturb them and be disturbed",
				json_array_size(holders), json_array_size(holders) == 1 ? "" : "es",
				json_array_size(holders) == 1 ? "s" : "", (long long)json_integer_value(json_object_get(h, "pid")),
				json_string_value(json_object_get(h, "comm")));
	} else {
		r = diag_result("exclusive", gpu->index, DIAG_PASS, "OK", DIAG_ACT_NONE, "no other process holds the GPU");
	}
	json_object_set_new(json_object_get(r, "evidence"), "processes", holders);
	return r;
}

/* amdgpu's module parameters that change what a test sees: the job
 * timeout, whether faults retry, the power features, GPU recovery */
static const char *const amdgpu_params[] = { "lockup_timeout", "noretry", "ppfeaturemask", "gpu_recovery",
					     "vm_fragment_size", "mes", "runpm" };

json_t *diag_module_params(void)
{
	json_t *out = json_object();
	for (size_t i = 0; i < sizeof amdgpu_params / sizeof *amdgpu_params; i++) {
		char path[PATH_MAX], v[256];
		snprintf(path, sizeof path, "/sys/module/amdgpu/parameters/%s", amdgpu_params[i]);
		if (read_small(path, v, sizeof v) == 0) {
			v[strcspn(v, "\n")] = '\0';
			json_object_set_new(out, amdgpu_params[i], json_string(v));
		}
	}
	return out;
}

void diag_inventory_gpu(const struct tb_gpu_info *gpu, const json_t *counters_at_start, json_t *out,
			bool (*selected)(const char *test))
{
	if (selected("exclusive"))
		json_array_append_new(out, test_exclusive(gpu));
	if (selected("pcie"))
		json_array_append_new(out, test_pcie(gpu));
	if (selected("bar"))
		json_array_append_new(out, test_bar(gpu));
	if (selected("counters"))
		json_array_append_new(out, test_counters_at_start(gpu, counters_at_start));
	if (selected("sensors"))
		json_array_append_new(out, test_sensors(gpu));
}
