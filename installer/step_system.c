/* The system check: the hardware and the kernel the rest of setup needs,
 * each shortfall named with what a person can do about it.  It changes
 * nothing.  The GPUs are read through `tb info --json` (the driver's own
 * view: PCI address, target, BAR, link); a link below what is expected is
 * read again while `tb bench copy` loads that GPU, because an idle GPU
 * lowers its link speed to save power. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "installer/setup.h"

#define SECTION "system"
#define TOOL_OUTPUT_MAX (256 * 1024)
#define SYSFS_VALUE_MAX 256

static const struct setup_key system_keys[] = {
	{ "gpus", "6", "how many gfx1100 GPUs the box has" },
	{ "gpu_link_speed", "16", "each GPU's PCIe link speed in GT/s (PCIe 4.0: 16)" },
	{ "gpu_link_width", "16", "each GPU's PCIe link width (lanes)" },
	{ "nvme_drives", "4", "how many NVMe data drives there are at least (the boot drive not counted)" },
	{ "nvme_link_speed", "16", "each NVMe drive's PCIe link speed in GT/s" },
	{ "nvme_link_width", "4", "each NVMe drive's PCIe link width (lanes)" },
	{ "memory_gib", "64", "host memory below this is reported (not an error)" },
	{ NULL },
};

struct expect {
	unsigned long long gpus, gpu_speed, gpu_width, drives, drive_speed, drive_width, memory_gib;
};

static int read_expect(struct setup *s, struct step_run *r, struct expect *x)
{
	int rc = setup_conf_uint(s, r, SECTION, "gpus", 0, 64, &x->gpus);
	if (!rc)
		rc = setup_conf_uint(s, r, SECTION, "gpu_link_speed", 1, 64, &x->gpu_speed);
	if (!rc)
		rc = setup_conf_uint(s, r, SECTION, "gpu_link_width", 1, 32, &x->gpu_width);
	if (!rc)
		rc = setup_conf_uint(s, r, SECTION, "nvme_drives", 0, 64, &x->drives);
	if (!rc)
		rc = setup_conf_uint(s, r, SECTION, "nvme_link_speed", 1, 64, &x->drive_speed);
	if (!rc)
		rc = setup_conf_uint(s, r, SECTION, "nvme_link_width", 1, 32, &x->drive_width);
	if (!rc)
		rc = setup_conf_uint(s, r, SECTION, "memory_gib", 0, 1 << 20, &x->memory_gib);
	return rc;
}

/* A small sysfs file's first line (the root does not apply: sysfs is the
 * running kernel's). */
static int read_sysfs(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	bool got = fgets(out, (int)len, f) != NULL;
	fclose(f);
	if (!got)
		return -EIO;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* ---- GPUs ---- */

struct gpu_link {
	int index;
	unsigned long long speed_mts, width;
};

/* `tb info --json`, parsed: its gpus array (a new reference) or NULL. */
static json_t *gpu_inventory(struct setup *s, struct step_run *r)
{
	char tb[4096];
	if (setup_tb_command(tb, sizeof tb) < 0) {
		step_fail(r, SETUP_FAILED, "the tb command is not installed next to tb setup");
		return NULL;
	}
	char *out = malloc(TOOL_OUTPUT_MAX);
	if (!out) {
		step_fail(r, SETUP_FAILED, "out of memory");
		return NULL;
	}
	const char *argv[] = { tb, "info", "--json", NULL };
	int rc = setup_capture(s, argv, out, TOOL_OUTPUT_MAX);
	json_error_t je;
	json_t *j = rc == 0 ? json_loads(out, 0, &je) : NULL;
	free(out);
	json_t *gpus = json_incref(json_object_get(j, "gpus"));
	json_decref(j);
	if (!json_is_array(gpus)) {
		json_decref(gpus);
		step_note(r, "tb info found no GPUs (exit status %d): is the amdgpu module loaded? (lsmod | grep amdgpu; "
			     "dmesg | grep amdgpu)", rc);
		return json_array();
	}
	return gpus;
}

static unsigned long long jnum(json_t *o, const char *path1, const char *key)
{
	json_t *v = path1 ? json_object_get(json_object_get(o, path1), key) : json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) >= 0 ? (unsigned long long)json_integer_value(v) : 0;
}

/* Load GPU index with a copy benchmark and sample its link meanwhile: the
 * best link seen. */
struct load_sampler {
	struct setup *s;
	int index;
	volatile bool done;
	unsigned long long best_speed, best_width;
};

static void *run_load(void *arg)
{
	struct load_sampler *l = arg;
	char tb[4096], gpu[16], out[4096];
	snprintf(gpu, sizeof gpu, "%d", l->index);
	if (setup_tb_command(tb, sizeof tb) == 0) {
		const char *argv[] = { tb, "bench", "copy", "--gpu", gpu, "--mib", "256", NULL };
		setup_capture(l->s, argv, out, sizeof out);
	}
	l->done = true;
	return NULL;
}

static void sample_link_under_load(struct setup *s, struct step_run *r, int index, unsigned long long *speed,
				   unsigned long long *width)
{
	struct load_sampler l = { .s = s, .index = index, .best_speed = *speed, .best_width = *width };
	pthread_t t;
	if (pthread_create(&t, NULL, run_load, &l) != 0)
		return;
	while (!l.done) {
		json_t *gpus = gpu_inventory(s, r);
		json_t *g = json_array_get(gpus, (size_t)index);
		unsigned long long sp = jnum(g, "link", "speed_mts"), w = jnum(g, "link", "width");
		if (sp * w > l.best_speed * l.best_width) {
			l.best_speed = sp;
			l.best_width = w;
		}
		json_decref(gpus);
		usleep(100 * 1000);
	}
	pthread_join(t, NULL);
	*speed = l.best_speed;
	*width = l.best_width;
}

static int check_gpu(struct setup *s, struct step_run *r, json_t *g, const struct expect *x)
{
	const char *pci = json_string_value(json_object_get(g, "pci"));
	const char *target = json_string_value(json_object_get(g, "target"));
	int index = (int)jnum(g, NULL, "index"), bad = 0;
	pci = pci ? pci : "?";
	step_input(r, "gpu", pci);
	if (!target || strcmp(target, "gfx1100")) {
		step_note(r, "GPU %s is %s, not gfx1100 (Radeon RX 7900 XTX): this stack runs gfx1100 only", pci,
			  target ? target : "unknown");
		bad++;
	}
	unsigned long long vram = jnum(g, NULL, "vram_bytes"), bar = jnum(g, NULL, "bar0_bytes");
	if (!json_is_true(json_object_get(g, "large_bar"))) {
		step_note(r, "GPU %s: BAR0 is %llu MiB for %llu MiB of VRAM: enable Above 4G Decoding and Resizable BAR "
			     "in the firmware setup", pci, bar >> 20, vram >> 20);
		bad++;
	}
	unsigned long long speed = jnum(g, "link", "speed_mts"), width = jnum(g, "link", "width");
	if (speed < x->gpu_speed * 1000 || width < x->gpu_width)
		sample_link_under_load(s, r, index, &speed, &width);
	if (speed < x->gpu_speed * 1000 || width < x->gpu_width) {
		step_note(r, "GPU %s: PCIe link x%llu %.1f GT/s under load, not x%llu %llu GT/s: reseat the card, check its "
			     "slot and riser, and that the slot is set to Gen4 x16 in the firmware setup", pci, width,
			  (double)speed / 1000, x->gpu_width, x->gpu_speed);
		bad++;
	}
	return bad;
}

static int check_gpus(struct setup *s, struct step_run *r, const struct expect *x)
{
	json_t *gpus = gpu_inventory(s, r);
	if (!gpus)
		return -1;
	int bad = 0;
	size_t i;
	json_t *g;
	json_array_foreach(gpus, i, g)
		bad += check_gpu(s, r, g, x);
	size_t n = json_array_size(gpus);
	json_decref(gpus);
	if (n != x->gpus) {
		step_note(r, "%zu GPUs found, %llu expected: check each card's power cables and seating (lspci -d 1002:)", n,
			  x->gpus);
		bad++;
	}
	return bad;
}

/* ---- NVMe drives ---- */

static unsigned long long link_speed_mts(const char *text)
{
	/* "16.0 GT/s PCIe" */
	char *end;
	double gts = strtod(text, &end);
	return end != text && gts > 0 && gts < 1000 ? (unsigned long long)(gts * 1000 + 0.5) : 0;
}

static int check_drive(struct step_run *r, const char *name, const struct expect *x, bool *live)
{
	char path[512], state[SYSFS_VALUE_MAX], model[SYSFS_VALUE_MAX] = "", serial[SYSFS_VALUE_MAX] = "";
	char speed[SYSFS_VALUE_MAX] = "", width[SYSFS_VALUE_MAX] = "";
	snprintf(path, sizeof path, "/sys/class/nvme/%s/state", name);
	*live = read_sysfs(path, state, sizeof state) == 0 && !strcmp(state, "live");
	snprintf(path, sizeof path, "/sys/class/nvme/%s/model", name);
	read_sysfs(path, model, sizeof model);
	snprintf(path, sizeof path, "/sys/class/nvme/%s/serial", name);
	read_sysfs(path, serial, sizeof serial);
	step_input(r, "nvme", serial);
	if (!*live) {
		step_note(r, "NVMe %s (%s, serial %s) is not live (%s): reseat the drive; tb raid status shows its health",
			  name, model, serial, state[0] ? state : "no state");
		return 1;
	}
	snprintf(path, sizeof path, "/sys/class/nvme/%s/device/current_link_speed", name);
	read_sysfs(path, speed, sizeof speed);
	snprintf(path, sizeof path, "/sys/class/nvme/%s/device/current_link_width", name);
	read_sysfs(path, width, sizeof width);
	unsigned long long mts = link_speed_mts(speed), lanes = strtoull(width, NULL, 10);
	if (mts < x->drive_speed * 1000 || lanes < x->drive_width) {
		step_note(r, "NVMe %s (serial %s): PCIe link x%llu %.1f GT/s, not x%llu %llu GT/s: reseat it in an M.2/U.2 "
			     "slot wired for Gen4 x4", name, serial, lanes, (double)mts / 1000, x->drive_width,
			  x->drive_speed);
		return 1;
	}
	return 0;
}

static int check_drives(struct step_run *r, const struct expect *x)
{
	DIR *d = opendir("/sys/class/nvme");
	int bad = 0;
	unsigned long long live_count = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "nvme", 4) || strlen(e->d_name) > 32)
			continue;
		bool live;
		bad += check_drive(r, e->d_name, x, &live);
		live_count += live;
	}
	if (d)
		closedir(d);
	/* the boot drive may be one of them: the storage step tells them apart */
	if (live_count < x->drives) {
		step_note(r, "%llu NVMe drives found, at least %llu data drives expected: check that each is seated (nvme "
			     "list)", live_count, x->drives);
		bad++;
	}
	return bad;
}

/* ---- the kernel and the host ---- */

static int check_kernel(struct step_run *r)
{
	int bad = 0;
	if (access("/sys/module/amdgpu", F_OK) != 0) {
		step_note(r, "the amdgpu module is not loaded: modprobe amdgpu, and see dmesg | grep amdgpu for why");
		bad++;
	}
	if (access("/dev/kfd", F_OK) != 0 || access("/sys/class/kfd/kfd/topology/nodes", F_OK) != 0) {
		step_note(r, "KFD (/dev/kfd) is missing: the kernel needs CONFIG_HSA_AMD (Debian's and Ubuntu's kernels "
			     "have it)");
		bad++;
	}
	DIR *d = opendir("/sys/class/kfd/kfd/topology/nodes");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[512], line[SYSFS_VALUE_MAX];
		if (e->d_name[0] == '.' || strlen(e->d_name) > 16)
			continue;
		snprintf(path, sizeof path, "/sys/class/kfd/kfd/topology/nodes/%s/properties", e->d_name);
		FILE *f = fopen(path, "re");
		long simd = -1, fw = -1;
		while (f && fgets(line, sizeof line, f)) {
			sscanf(line, "simd_count %ld", &simd);
			sscanf(line, "fw_version %ld", &fw);
		}
		if (f)
			fclose(f);
		if (simd > 0 && fw <= 0) {
			step_note(r, "KFD node %s: no MEC firmware version: install the GPU firmware (firmware-amd-graphics "
				     "or linux-firmware) and reboot", e->d_name);
			bad++;
		}
	}
	if (d)
		closedir(d);
	return bad;
}

static void note_host(struct step_run *r, const struct expect *x)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[SYSFS_VALUE_MAX];
	unsigned long long kib = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	if (kib && kib / (1024 * 1024) + 1 < x->memory_gib)
		step_note(r, "host memory %llu GiB, less than %llu GiB: a large model's weights are staged through it",
			  kib / (1024 * 1024), x->memory_gib);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus > 0 && cpus < 8)
		step_note(r, "%ld CPUs online: loading a model checksums with several cores", cpus);
}

static int system_check(struct setup *s, struct step_run *r)
{
	struct expect x;
	int rc = read_expect(s, r, &x);
	if (rc != SETUP_OK)
		return rc;
	if (!s->live) {
		/* the hardware is the running system's whatever the root */
		step_note(r, "the hardware checked is the running system's (the target root has none of its own)");
	}
	int gpus = check_gpus(s, r, &x);
	if (gpus < 0)
		return SETUP_FAILED;
	int bad = gpus + check_drives(r, &x) + check_kernel(r);
	note_host(r, &x);
	if (bad)
		return step_fail(r, SETUP_FAILED, "%d finding%s above: the box is not ready for setup", bad,
				 bad == 1 ? "" : "s");
	return SETUP_OK;
}

static int system_apply(struct setup *s, struct step_run *r)
{
	(void)s;
	return step_fail(r, SETUP_FAILED, "internal error: the system check changes nothing");
}

const struct setup_step step_system = {
	.name = "system",
	.summary = "the GPUs, NVMe drives, links, BARs and kernel modules setup needs",
	.keys = system_keys,
	.check = system_check,
	.apply = system_apply,
};
