/* The setup step "fans": tb-fand configured and enabled, amdgpu loaded with
 * the options its fan curve needs, and the fans calibrated on the box.
 *
 *  - tb-fand's config, /etc/tb-fand.conf (where tb-fand and its unit read
 *    it): the shipped one when there is none, else the owner's, checked
 *    with tb-fand --check;
 *  - /etc/modprobe.d/tb-amdgpu.conf: ppfeaturemask with PP_OVERDRIVE_MASK,
 *    without which amdgpu publishes no gpu_od/fan_ctrl/fan_curve (RDNA3's
 *    only fan control), and the initramfs made again where it is older, as
 *    amdgpu loads from it with the options copied in;
 *  - on the running system, a reboot (SETUP_REBOOT) when the loaded amdgpu
 *    runs with other options; then `tb fan calibrate`, once per set of fans
 *    (the set is kept next to the calibration: a fan added, moved or
 *    replaced is calibrated again; a target root is calibrated on its
 *    first boot, where its fans are);
 *  - tb-fand.service enabled where its unit is installed (the services
 *    step installs it). */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "installer/setup.h"
#include "installer/units.h"

#define FAND_CONF "/etc/tb-fand.conf"
#define MODPROBE_CONF "/etc/modprobe.d/tb-amdgpu.conf"
#define CALIBRATION "/var/lib/tb-fand/calibration.conf"
#define CALIBRATED_FANS "/var/lib/tb-fand/calibration.fans"
#define RUNNING_MASK "/sys/module/amdgpu/parameters/ppfeaturemask"
#define HWMON_DIR "/sys/class/hwmon"
/* amdgpu_drv.c: the default amdgpu_pp_feature_mask, and amd_shared.h's
 * PP_OVERDRIVE_MASK, which publishes the OverDrive files (gpu_od). */
#define AMDGPU_DEFAULT_MASK 0xfff7bfffULL
#define PP_OVERDRIVE_MASK 0x4000ULL
enum { FANS_MAX = 16384, CAPTURE_MAX = 8192, MS_PER_S = 1000 };

static const struct setup_key fans_keys[] = {
	{ "ppfeaturemask", "0xfff7ffff",
	  "amdgpu's ppfeaturemask (hex): its default 0xfff7bfff with PP_OVERDRIVE_MASK 0x4000 for the fan curve" },
	{ "calibrate_settle_ms", "3000", "tb fan calibrate: how long each duty settles before its rpm is read (ms)" },
	{ "calibrate_step", "16", "tb fan calibrate: the duty step of the sweep (1-128 of 255)" },
	{ NULL },
};

struct fans_plan {
	unsigned long long mask;
	char *fand_conf;		/* the shipped config, when ROOT has none */
	char modprobe[128];
	bool write_fand, write_modprobe, initramfs, reboot, calibrate, enable;
	char fans[FANS_MAX];		/* the set of fans, one "name device fanN" a line */
	char tool[PATH_MAX];		/* the update-initramfs to run, "" none */
};

/* ---- facts ---- */

/* A whole number written in hex (0x...) or decimal, strictly. */
static bool parse_mask(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || (*end && !(end[0] == '\n' && !end[1])))
		return false;
	*out = v;
	return true;
}

/* qsort's comparator gets pointers to the strings */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every fan hwmon publishes, by chip name and device (never hwmonN), sorted. */
static int fan_set(char *out, size_t cap)
{
	glob_t g;
	size_t n = 0;
	out[0] = '\0';
	if (glob(HWMON_DIR "/hwmon*/fan*_input", 0, NULL, &g) != 0)
		return 0;
	char **lines = calloc(g.gl_pathc, sizeof *lines);
	size_t k = 0;
	for (size_t i = 0; lines && i < g.gl_pathc; i++) {
		char dir[PATH_MAX], name[64] = "", dev[PATH_MAX] = "", link[PATH_MAX + 16];
		snprintf(dir, sizeof dir, "%s", g.gl_pathv[i]);
		char *fan = strrchr(dir, '/');
		*fan++ = '\0';
		*strstr(fan, "_input") = '\0';
		snprintf(link, sizeof link, "%s/name", dir);
		FILE *f = fopen(link, "r");
		if (f) {
			if (!fgets(name, sizeof name, f))
				name[0] = '\0';
			fclose(f);
		}
		name[strcspn(name, "\n")] = '\0';
		snprintf(link, sizeof link, "%s/device", dir);
		char real[PATH_MAX];
		if (realpath(link, real))
			snprintf(dev, sizeof dev, "%s", strrchr(real, '/') + 1);
		if (asprintf(&lines[k], "%s %s %s\n", name, dev, fan) > 0)
			k++;
	}
	globfree(&g);
	if (!lines)
		return -ENOMEM;
	qsort(lines, k, sizeof *lines, cmp_str);
	for (size_t i = 0; i < k; i++) {
		size_t l = strlen(lines[i]);
		if (n + l < cap) {
			memcpy(out + n, lines[i], l + 1);
			n += l;
		}
		free(lines[i]);
	}
	free(lines);
	return (int)k;
}

static bool find_on_path(const char *tool, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char *copy = strdup(path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	bool found = false;
	for (char *save, *d = strtok_r(copy, ":", &save); copy && d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d, tool);
		found = access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* tb-fand next to the tb front end; the shipped config in PREFIX/share/tb
 * (the build puts it in build/share/tb too). */
static int program_dir(char *out, size_t len)
{
	char tb[PATH_MAX];
	int rc = setup_tb_command(tb, sizeof tb);
	if (rc < 0)
		return rc;
	*strrchr(tb, '/') = '\0';
	return (size_t)snprintf(out, len, "%s", tb) < len ? 0 : -ENAMETOOLONG;
}

static char *shipped_config(char *where, size_t len)
{
	char bin[PATH_MAX];
	if (program_dir(bin, sizeof bin) < 0)
		return NULL;
	snprintf(where, len, "%s/../share/tb/tb-fand.conf", bin);
	FILE *f = fopen(where, "r");
	if (!f)
		return NULL;
	char *text = calloc(1, SETUP_MAX_FILE + 1);
	size_t n = text ? fread(text, 1, SETUP_MAX_FILE, f) : 0;
	fclose(f);
	if (text && n == SETUP_MAX_FILE) {
		free(text);
		return NULL;
	}
	return text;
}

/* tb-fand --check on a config: SETUP_OK, or SETUP_FAILED with its words. */
static int fand_check(struct setup *s, struct step_run *r, const char *path)
{
	char bin[PATH_MAX], fand[PATH_MAX + 16], out[CAPTURE_MAX];
	if (program_dir(bin, sizeof bin) < 0)
		return step_fail(r, SETUP_FAILED, "cannot find tb-fand next to tb");
	snprintf(fand, sizeof fand, "%s/tb-fand", bin);
	const char *argv[] = { fand, "--check", "--config", path, NULL };
	int rc = setup_capture_all(s, argv, out, sizeof out);
	if (rc != 0)
		return step_fail(r, SETUP_FAILED, "tb-fand refuses %s: %s", path, out[0] ? out : "(no output)");
	return SETUP_OK;
}

/* ---- check ---- */

static int want_fand_config(struct setup *s, struct step_run *r, struct fans_plan *p)
{
	char full[PATH_MAX], where[PATH_MAX + 64] = "";
	struct stat st;
	if (setup_path(s, FAND_CONF, full, sizeof full) < 0)
		return step_fail(r, SETUP_FAILED, "%s: the path is too long under the root", FAND_CONF);
	if (stat(full, &st) == 0)
		return fand_check(s, r, full);	/* the owner's (or an earlier run's): kept, but it must be valid */
	p->fand_conf = shipped_config(where, sizeof where);
	if (!p->fand_conf)
		return step_fail(r, SETUP_FAILED, "no shipped tb-fand.conf (looked for %s)", where);
	int rc = fand_check(s, r, where);
	if (rc != SETUP_OK)
		return rc;
	size_t before = r->nactions;
	if (setup_file_want(s, r, FAND_CONF, p->fand_conf, strlen(p->fand_conf), 0644) != 0)
		return SETUP_FAILED;
	p->write_fand = r->nactions > before;
	return SETUP_OK;
}

/* An initramfs under ROOT/boot older than the options: made again. */
static bool initramfs_stale(struct setup *s, const char *conf_full, bool conf_changes)
{
	char pattern[PATH_MAX];
	struct stat cst;
	if (setup_path(s, "/boot/initrd.img-*", pattern, sizeof pattern) < 0)
		return false;
	glob_t g;
	if (glob(pattern, 0, NULL, &g) != 0)
		return false;
	bool stale = false;
	bool have_conf = stat(conf_full, &cst) == 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat ist;
		if (stat(g.gl_pathv[i], &ist) == 0 &&
		    (conf_changes || !have_conf || ist.st_mtim.tv_sec < cst.st_mtim.tv_sec ||
		     (ist.st_mtim.tv_sec == cst.st_mtim.tv_sec && ist.st_mtim.tv_nsec < cst.st_mtim.tv_nsec)))
			stale = true;
	}
	globfree(&g);
	return stale;
}

static int want_modprobe(struct setup *s, struct step_run *r, struct fans_plan *p)
{
	const char *v = setup_conf_get(s->conf, "fans", "ppfeaturemask");
	char where[PATH_MAX + 32];
	setup_conf_where(s->conf, "fans", "ppfeaturemask", where, sizeof where);
	if (!v || !parse_mask(v, &p->mask) || p->mask > 0xffffffffULL)
		return step_fail(r, SETUP_FAILED, "%s: ppfeaturemask must be a 32-bit number (0xfff7ffff), not '%s'", where,
				 v ? v : "");
	if (!(p->mask & PP_OVERDRIVE_MASK))
		step_note(r, "ppfeaturemask 0x%llx (%s) leaves out PP_OVERDRIVE_MASK 0x%llx (amdgpu's default is 0x%llx): "
			     "amdgpu publishes no fan curve and tb-fand cannot drive the GPUs' fans",
			  p->mask, where, PP_OVERDRIVE_MASK, AMDGPU_DEFAULT_MASK);
	snprintf(p->modprobe, sizeof p->modprobe,
		 "# tb setup (step fans): amdgpu's OverDrive files, for the GPUs' fan curve\noptions amdgpu "
		 "ppfeaturemask=0x%llx\n",
		 p->mask);
	size_t before = r->nactions;
	if (setup_file_want(s, r, MODPROBE_CONF, p->modprobe, strlen(p->modprobe), 0644) != 0)
		return SETUP_FAILED;
	p->write_modprobe = r->nactions > before;
	char full[PATH_MAX];
	setup_path(s, MODPROBE_CONF, full, sizeof full);
	if (initramfs_stale(s, full, p->write_modprobe)) {
		char tool[PATH_MAX];
		if (s->live ? find_on_path("update-initramfs", tool, sizeof tool)
			    : setup_path(s, "/usr/sbin/update-initramfs", tool, sizeof tool) == 0 && access(tool, X_OK) == 0) {
			snprintf(p->tool, sizeof p->tool, "%s", s->live ? tool : "/usr/sbin/update-initramfs");
			p->initramfs = true;
			step_action(r, "update-initramfs -u (amdgpu loads from it with these options)");
		} else {
			step_note(r, "the initramfs is older than %s and there is no update-initramfs to make it again",
				  MODPROBE_CONF);
		}
	}
	return SETUP_OK;
}

/* The loaded amdgpu's mask: true when it differs (a reboot loads the new one). */
static bool running_mask_differs(struct step_run *r, unsigned long long want)
{
	FILE *f = fopen(RUNNING_MASK, "r");
	char buf[64] = "";
	if (!f) {
		step_note(r, "amdgpu is not loaded (%s): the options apply when it loads", RUNNING_MASK);
		return false;
	}
	bool got = fgets(buf, sizeof buf, f) != NULL;
	fclose(f);
	unsigned long long have;
	if (!got || !parse_mask(buf, &have)) {
		step_note(r, "%s reads '%s'", RUNNING_MASK, buf);
		return true;
	}
	if (have == want)
		return false;
	step_action(r, "reboot: amdgpu runs with ppfeaturemask=0x%llx, the fan curve needs 0x%llx", have, want);
	return true;
}

static bool file_equals(struct setup *s, const char *path, const char *text)
{
	char *have = NULL;
	size_t len = 0;
	bool same = setup_file_read(s, path, FANS_MAX, &have, &len) == 0 && len == strlen(text) && !memcmp(have, text, len);
	free(have);
	return same;
}

static int want_calibration(struct setup *s, struct step_run *r, struct fans_plan *p)
{
	int n = fan_set(p->fans, sizeof p->fans);
	if (n < 0)
		return step_fail(r, SETUP_FAILED, "out of memory");
	step_input(r, "fans", p->fans);
	if (!s->live) {
		step_note(r, "the fans are calibrated on the box at its first boot (tb fan calibrate)");
		return SETUP_OK;
	}
	if (n == 0) {
		step_note(r, "no fan tachometer in %s: nothing to calibrate", HWMON_DIR);
		return SETUP_OK;
	}
	char full[PATH_MAX];
	setup_path(s, CALIBRATION, full, sizeof full);
	if (access(full, F_OK) == 0 && file_equals(s, CALIBRATED_FANS, p->fans))
		return SETUP_OK;
	p->calibrate = true;
	step_action(r, "calibrate the fans (tb fan calibrate, %d tachometers%s)", n,
		    access(full, F_OK) == 0 ? ": the set of fans changed" : "");
	return SETUP_OK;
}

static bool unit_installed(struct setup *s, const char *unit)
{
	static const char *const dirs[] = { "/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system" };
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char rel[PATH_MAX], full[PATH_MAX];
		snprintf(rel, sizeof rel, "%s/%s", dirs[i], unit);
		if (setup_path(s, rel, full, sizeof full) == 0 && access(full, F_OK) == 0)
			return true;
	}
	return false;
}

static int fans_check(struct setup *s, struct step_run *r)
{
	struct fans_plan *p = calloc(1, sizeof *p);
	if (!p)
		return step_fail(r, SETUP_FAILED, "out of memory");
	r->priv = p;
	int rc;
	if ((rc = want_fand_config(s, r, p)) != SETUP_OK || (rc = want_modprobe(s, r, p)) != SETUP_OK)
		return rc;
	p->reboot = s->live && running_mask_differs(r, p->mask);
	if (!p->reboot && (rc = want_calibration(s, r, p)) != SETUP_OK)
		return rc;
	if (!unit_installed(s, "tb-fand.service"))
		step_note(r, "tb-fand.service is not installed in the root yet: the services step installs and enables it");
	else if (!units_say(s, "is-enabled", "tb-fand.service", "enabled")) {
		p->enable = true;
		step_action(r, "enable tb-fand.service");
	}
	return SETUP_OK;
}

/* ---- apply ---- */

/* mkdir -p of the directories of full (a path under the root), 0755. */
static int make_parents(const struct setup *s, const char *full)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", full);
	for (char *p = dir + strlen(s->root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int calibrate(struct setup *s, struct step_run *r, struct fans_plan *p)
{
	unsigned long long settle_ms, step;
	if (setup_conf_uint(s, r, "fans", "calibrate_settle_ms", 10, 60 * MS_PER_S, &settle_ms) != SETUP_OK ||
	    setup_conf_uint(s, r, "fans", "calibrate_step", 1, 128, &step) != SETUP_OK)
		return SETUP_FAILED;
	char tb[PATH_MAX], conf[PATH_MAX], out[PATH_MAX], settle[32], steps[16];
	if (setup_tb_command(tb, sizeof tb) < 0)
		return step_fail(r, SETUP_FAILED, "cannot find the tb program");
	setup_path(s, FAND_CONF, conf, sizeof conf);
	setup_path(s, CALIBRATION, out, sizeof out);
	snprintf(settle, sizeof settle, "%llu.%03llu", settle_ms / MS_PER_S, settle_ms % MS_PER_S);
	snprintf(steps, sizeof steps, "%llu", step);
	/* tb-fand lets go of the fans while they are measured */
	bool running = units_systemd_running(s) && units_say(s, "is-active", "tb-fand.service", "active");
	if (running && units_systemctl(s, r, "stop", "tb-fand.service") != 0)
		return SETUP_FAILED;
	if (make_parents(s, out) < 0)
		return step_fail(r, SETUP_FAILED, "cannot make the directory of %s: %s", out, strerror(errno));
	const char *argv[] = { tb, "fan", "calibrate", "--config", conf, "--output", out, "--settle", settle, "--step",
			       steps, NULL };
	int rc = setup_exec(s, r, argv);
	if (running && units_systemctl(s, r, "start", "tb-fand.service") != 0 && rc == 0)
		return SETUP_FAILED;
	if (rc != 0)
		return SETUP_FAILED;
	return setup_file_write(s, r, CALIBRATED_FANS, p->fans, strlen(p->fans), 0644) == 0 ? SETUP_OK : SETUP_FAILED;
}

static int fans_apply(struct setup *s, struct step_run *r)
{
	struct fans_plan *p = r->priv;
	if (p->write_fand && setup_file_write(s, r, FAND_CONF, p->fand_conf, strlen(p->fand_conf), 0644) != 0)
		return SETUP_FAILED;
	if (p->write_modprobe && setup_file_write(s, r, MODPROBE_CONF, p->modprobe, strlen(p->modprobe), 0644) != 0)
		return SETUP_FAILED;
	if (p->initramfs) {
		const char *live[] = { p->tool, "-u", NULL };
		const char *chroot[] = { "chroot", s->root, p->tool, "-u", NULL };
		if (setup_exec(s, r, s->live ? live : chroot) != 0)
			return SETUP_FAILED;
	}
	if (p->enable && units_systemctl(s, r, "enable", "tb-fand.service") != 0)
		return SETUP_FAILED;
	if (p->reboot)
		return step_fail(r, SETUP_REBOOT,
				 "amdgpu must be loaded with ppfeaturemask=0x%llx for the fan curve: reboot (tb setup "
				 "resumes after it and calibrates the fans)",
				 p->mask);
	return p->calibrate ? calibrate(s, r, p) : SETUP_OK;
}

static int fans_verify(struct setup *s, struct step_run *r)
{
	struct fans_plan *p = r->priv;
	size_t notes = r->nnotes;
	if (!file_equals(s, MODPROBE_CONF, p->modprobe))
		step_note(r, "%s does not hold the amdgpu options", MODPROBE_CONF);
	char full[PATH_MAX];
	setup_path(s, FAND_CONF, full, sizeof full);
	if (access(full, R_OK) != 0)
		step_note(r, "%s is missing", FAND_CONF);
	if (s->live && p->fans[0]) {
		setup_path(s, CALIBRATION, full, sizeof full);
		if (access(full, R_OK) != 0 || !file_equals(s, CALIBRATED_FANS, p->fans))
			step_note(r, "the fans are not calibrated (%s)", CALIBRATION);
	}
	if (unit_installed(s, "tb-fand.service") && !units_say(s, "is-enabled", "tb-fand.service", "enabled"))
		step_note(r, "tb-fand.service is not enabled");
	if (r->nnotes > notes)
		return step_fail(r, SETUP_FAILED, "the fans are not set up (%zu findings)", r->nnotes - notes);
	return SETUP_OK;
}

static void fans_release(struct step_run *r)
{
	struct fans_plan *p = r->priv;
	if (p)
		free(p->fand_conf);
	free(p);
	r->priv = NULL;
}

const struct setup_step step_fans = {
	.name = "fans",
	.summary = "tb-fand configured and enabled, amdgpu's fan-curve options, the fans calibrated",
	.keys = fans_keys,
	.check = fans_check,
	.apply = fans_apply,
	.verify = fans_verify,
	.release = fans_release,
};
