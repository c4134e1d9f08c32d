/* The real box's backend (and the simulated box's: the same files):
 * sensors through libsensors by chip name + bus address + label, fans
 * through hwmon pwmN/pwmN_enable, amdgpu's gpu_od/fan_ctrl/fan_curve, or
 * a command (a BMC's ipmitool raw ...).
 *
 * Each sysfs write is one open/write/close, as the kernel takes one store
 * per write; its errno is the kernel's answer. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sensors/sensors.h>

#include "fancontrol/io_sysfs.h"

/* A flat curve: the same speed at every point (temperatures must rise). */
static const int flat_temps[5] = {30, 45, 60, 75, 90};

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = strlen(text);
	ssize_t w = write(fd, text, n);
	int rc = w < 0 ? -errno : (size_t)w != n ? -EIO : 0;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int read_long(const char *path, long *v)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int rc = fscanf(f, "%ld", v) == 1 ? 0 : -EIO;
	fclose(f);
	return rc;
}

static const sensors_chip_name *find_chip(const char *name)
{
	sensors_chip_name match;
	if (sensors_parse_chip_name(name, &match) != 0)
		return NULL;
	int nr = 0;
	const sensors_chip_name *chip = sensors_get_detected_chips(&match, &nr);
	sensors_free_chip_name(&match);
	return chip;
}

static sensors_subfeature_type input_of(enum fc_sensor_kind kind, const sensors_feature *f)
{
	if (kind == FC_SENSOR_TEMP && f->type == SENSORS_FEATURE_TEMP)
		return SENSORS_SUBFEATURE_TEMP_INPUT;
	if (kind == FC_SENSOR_FAN && f->type == SENSORS_FEATURE_FAN)
		return SENSORS_SUBFEATURE_FAN_INPUT;
	if (kind == FC_SENSOR_POWER && f->type == SENSORS_FEATURE_POWER)
		return SENSORS_SUBFEATURE_POWER_AVERAGE;
	return SENSORS_SUBFEATURE_UNKNOWN;
}

/* The sensor's chip and input subfeature, by label. */
static int resolve(struct fc_sysfs_io *s, int i)
{
	const struct fc_sensor_cfg *sc = &s->cfg->sensor[i];
	const sensors_chip_name *chip = find_chip(sc->chip);
	if (!chip)
		return -ENODEV;
	int nr = 0;
	const sensors_feature *f;
	while ((f = sensors_get_features(chip, &nr))) {
		sensors_subfeature_type t = input_of(sc->kind, f);
		if (t == SENSORS_SUBFEATURE_UNKNOWN)
			continue;
		char *label = sensors_get_label(chip, f);
		bool same = label && !strcmp(label, sc->label);
		free(label);
		if (!same)
			continue;
		const sensors_subfeature *sf = sensors_get_subfeature(chip, f, t);
		if (!sf && sc->kind == FC_SENSOR_POWER)
			sf = sensors_get_subfeature(chip, f, SENSORS_SUBFEATURE_POWER_INPUT);
		if (!sf)
			return -ENOENT;
		s->chip[i] = chip;
		s->subfeat[i] = sf->number;
		return 0;
	}
	return -ENOENT;
}

static int sysfs_read(void *ctx, int i, double *v)
{
	struct fc_sysfs_io *s = ctx;
	if (!s->chip[i])
		return -ENODEV;
	int rc = sensors_get_value(s->chip[i], s->subfeat[i], v);
	return rc < 0 ? -EIO : 0;
}

/* ---- fans -------------------------------------------------------------------------------------- */

static void fan_path(const struct fc_sysfs_io *s, int f, char *out, size_t len, const char *fmt, int ch)
{
	char name[64];
	snprintf(name, sizeof name, fmt, ch);
	snprintf(out, len, "%s/%s", s->fan_dir[f], name);
}

static int amdgpu_curve(const struct fc_sysfs_io *s, int f, int pct)
{
	char path[FC_PATH + 64], line[32];
	snprintf(path, sizeof path, "%s/device/gpu_od/fan_ctrl/fan_curve", s->fan_dir[f]);
	for (int p = 0; p < 5; p++) {
		snprintf(line, sizeof line, "%d %d %d\n", p, flat_temps[p], pct);
		int rc = write_text(path, line);
		if (rc < 0)
			return rc;
	}
	return write_text(path, "c\n");
}

/* The command with %d replaced by the duty in percent, through sh. */
static int run_command(const char *tmpl, int pct)
{
	char cmd[FC_CMD + 16];
	snprintf(cmd, sizeof cmd, tmpl, pct);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int pct_of(int pwm)
{
	return (int)lround(pwm * 100.0 / 255);
}

static int hwmon_set(struct fc_sysfs_io *s, int f, int pwm)
{
	const struct fc_fan_cfg *fc = &s->cfg->fan[f];
	char path[FC_PATH + 64], text[16];
	for (int m = 0; m < fc->nmembers; m++) {
		if (!s->manual[f][m]) {
			fan_path(s, f, path, sizeof path, "pwm%d_enable", fc->channels[m]);
			int rc = write_text(path, "1\n");
			if (rc < 0)
				return rc;
			s->manual[f][m] = true;
		}
		fan_path(s, f, path, sizeof path, "pwm%d", fc->channels[m]);
		snprintf(text, sizeof text, "%d\n", pwm);
		int rc = write_text(path, text);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int sysfs_set_pwm(void *ctx, int f, int pwm)
{
	struct fc_sysfs_io *s = ctx;
	const struct fc_fan_cfg *fc = &s->cfg->fan[f];
	if (fc->act == FC_ACT_COMMAND)
		return run_command(fc->set_cmd, pct_of(pwm));
	if (!s->fan_dir[f][0])
		return -ENODEV;
	if (fc->act == FC_ACT_AMDGPU) {
		int pct = pct_of(pwm);
		return amdgpu_curve(s, f, pct < 15 ? 15 : pct > 100 ? 100 : pct);
	}
	return hwmon_set(s, f, pwm);
}

static int sysfs_release(void *ctx, int f)
{
	struct fc_sysfs_io *s = ctx;
	const struct fc_fan_cfg *fc = &s->cfg->fan[f];
	int rc = 0;
	if (fc->act == FC_ACT_COMMAND)
		return fc->release_cmd[0] ? run_command(fc->release_cmd, 0) : run_command(fc->set_cmd, 100);
	for (int k = 0; k < s->nrelease[f]; k++) {
		int r = write_text(s->release[f][k].path, s->release[f][k].text);
		rc = rc ? rc : r;
	}
	for (int m = 0; m < FC_MAX_MEMBERS; m++)
		s->manual[f][m] = false;
	return rc;
}

static const struct fc_io_ops sysfs_ops = {sysfs_read, sysfs_set_pwm, sysfs_release};

struct fc_io fc_sysfs_io(struct fc_sysfs_io *s)
{
	return (struct fc_io){&sysfs_ops, s};
}

/* What giving a fan back means, worked out in advance so that a crash
 * handler can do it with open/write/close alone: amdgpu's firmware curve
 * ("r"); for hwmon the mode the chip had before us, or automatic (2; 5 =
 * SmartFan on nct67xx) if we found it in manual mode. */
static void plan_release(struct fc_sysfs_io *s, int f)
{
	const struct fc_fan_cfg *fc = &s->cfg->fan[f];
	s->nrelease[f] = 0;
	if (fc->act == FC_ACT_AMDGPU) {
		struct fc_release_write *w = &s->release[f][s->nrelease[f]++];
		snprintf(w->path, sizeof w->path, "%s/device/gpu_od/fan_ctrl/fan_curve", s->fan_dir[f]);
		snprintf(w->text, sizeof w->text, "r\n");
		return;
	}
	bool nct = !strncmp(fc->chip, "nct67", 5);
	for (int m = 0; m < fc->nmembers && fc->act == FC_ACT_HWMON; m++) {
		struct fc_release_write *w = &s->release[f][s->nrelease[f]++];
		fan_path(s, f, w->path, sizeof w->path, "pwm%d_enable", fc->channels[m]);
		long mode = -1;
		if (read_long(w->path, &mode) < 0 || mode == 1 || mode < 0)
			mode = nct ? 5 : 2;
		snprintf(w->text, sizeof w->text, "%ld\n", mode);
	}
}

int fc_sysfs_io_open(struct fc_sysfs_io *s, const struct fc_config *cfg, fc_log_fn log, void *log_ctx)
{
	memset(s, 0, sizeof *s);
	s->cfg = cfg;
	int rc = sensors_init(NULL);
	if (rc != 0)
		return -EIO;
	s->sensors_up = true;
	char msg[400];
	for (int i = 0; i < cfg->nsensors; i++)
		if ((rc = resolve(s, i)) < 0 && log) {
			snprintf(msg, sizeof msg, "sensor %s: %s", cfg->sensor[i].name,
				 rc == -ENODEV ? "no such chip" : "no such label on the chip");
			log(log_ctx, msg);
		}
	for (int f = 0; f < cfg->nfans; f++) {
		if (cfg->fan[f].act == FC_ACT_COMMAND)
			continue;
		const sensors_chip_name *chip = find_chip(cfg->fan[f].chip);
		if (!chip) {
			if (log) {
				snprintf(msg, sizeof msg, "fan %s: no chip %s", cfg->fan[f].name, cfg->fan[f].chip);
				log(log_ctx, msg);
			}
			continue;
		}
		snprintf(s->fan_dir[f], sizeof s->fan_dir[f], "%s", chip->path);
		plan_release(s, f);
	}
	return 0;
}

void fc_sysfs_io_close(struct fc_sysfs_io *s)
{
	if (s->sensors_up)
		sensors_cleanup();
	s->sensors_up = false;
}

/* Async-signal-safe: only open, write and close. */
void fc_sysfs_io_emergency_release(const struct fc_sysfs_io *s)
{
	for (int f = 0; f < s->cfg->nfans; f++)
		for (int k = 0; k < s->nrelease[f]; k++) {
			int fd = open(s->release[f][k].path, O_WRONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			ssize_t w = write(fd, s->release[f][k].text, strlen(s->release[f][k].text));
			(void)w;
			close(fd);
		}
}
