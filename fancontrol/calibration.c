/* Calibration: what `tb fan calibrate` measured of each fan group (start
 * and stop duty, rpm at the stop duty and at full duty), kept in a file
 * of the config's own syntax that tb-fand lays over its config:
 *
 *   [fan chassis]
 *   start_pwm = 72
 *   stop_pwm = 48
 *   min_rpm = 402
 *   max_rpm = 1500
 *
 * and the measurement itself, against any IO backend. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fancontrol/fan.h"
#include "fancontrol/internal.h"

/* What tb fan calibrate writes is a few hundred bytes. */
#define MAX_FILE (64 << 10)
#define MAX_LINE 512

static int cal_fail(char *err, size_t len, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int cal_fail(char *err, size_t len, const char *path, int line, const char *fmt, ...)
{
	int n = snprintf(err, len, "%s:%d: ", path, line);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < len)
		vsnprintf(err + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Overlay; the fans' other parameters stay as the config set them.  A
 * fan the config does not have, an unknown key or a value out of range is
 * refused with FILE:LINE, and cfg is left as it was. */
int fc_calibration_apply(struct fc_config *cfg, const char *path, char *err, size_t errlen)
{
	struct tb_lines r;
	if (tb_lines_open(&r, path, MAX_FILE, MAX_LINE) < 0)
		return cal_fail(err, errlen, path, 0, "%s", r.why);
	struct fc_config next = *cfg;
	struct fc_fan_cfg *fan = NULL;
	char *buf;
	int line = 0, rc = 0, got;
	while (rc == 0 && (got = tb_lines_next(&r, &buf)) > 0) {
		line = r.line;
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		char *s = fc_trim(buf), name[FC_NAME + 1];
		if (!*s)
			continue;
		if (*s == '[') {
			char extra;
			if (sscanf(s, "[fan %64[^]]]%c", name, &extra) != 1) {
				rc = cal_fail(err, errlen, path, line, "expected [fan NAME]");
				break;
			}
			fan = NULL;
			for (int i = 0; i < next.nfans; i++)
				if (!strcmp(next.fan[i].name, name))
					fan = &next.fan[i];
			if (!fan)
				rc = cal_fail(err, errlen, path, line, "the config has no fan '%s'", name);
			continue;
		}
		char *eq = strchr(s, '=');
		if (!fan || !eq) {
			rc = cal_fail(err, errlen, path, line, fan ? "expected KEY = VALUE" : "a value outside a [fan] section");
			break;
		}
		*eq = '\0';
		char *key = fc_trim(s), *val = fc_trim(eq + 1), *end;
		double v = strtod(val, &end);
		double *slot = !strcmp(key, "start_pwm") ? &fan->start_pwm
			     : !strcmp(key, "stop_pwm")  ? &fan->stop_pwm
			     : !strcmp(key, "min_rpm")   ? &fan->min_rpm
			     : !strcmp(key, "max_rpm")   ? &fan->max_rpm
							 : NULL;
		double hi = slot == &fan->min_rpm || slot == &fan->max_rpm ? 30000 : 255;
		if (!slot)
			rc = cal_fail(err, errlen, path, line, "unknown key '%s' (start_pwm, stop_pwm, min_rpm, max_rpm)", key);
		else if (end == val || *end || !isfinite(v) || v < 0 || v > hi)
			rc = cal_fail(err, errlen, path, line, "%s must be a number from 0 to %.0f", key, hi);
		else
			*slot = v;
	}
	if (rc == 0 && got < 0)
		rc = cal_fail(err, errlen, path, r.line, "%s", r.why);
	tb_lines_close(&r);
	for (int i = 0; rc == 0 && i < next.nfans; i++) {
		struct fc_fan_cfg *x = &next.fan[i];
		if (x->stop_pwm > x->start_pwm || x->min_rpm >= x->max_rpm)
			rc = cal_fail(err, errlen, path, 0, "[fan %s]: stop_pwm above start_pwm or min_rpm not below max_rpm",
				      x->name);
		else if (x->min_pwm < x->stop_pwm)
			x->min_pwm = x->stop_pwm;	/* never command a duty the fan stops at */
	}
	if (rc == 0)
		*cfg = next;
	return rc;
}

/* ---- measuring ------------------------------------------------------------------------------ */

/* Mean rpm of a group's tachometers; -1 when it has none that read. */
static double group_rpm(const struct fc_config *cfg, const struct fc_io *io, int fan)
{
	double sum = 0;
	int n = 0;
	for (int m = 0; m < FC_MAX_MEMBERS && cfg->fan[fan].tach[m] >= 0; m++) {
		double v;
		if (io->ops->read(io->ctx, cfg->fan[fan].tach[m], &v) == 0) {
			sum += v;
			n++;
		}
	}
	return n ? sum / n : -1;
}

/* Every zone under its limit less half its margin: calibration stops
 * cooling one fan at a time, and must never heat anything past that. */
static bool all_safe(const struct fc_config *cfg, const struct fc_io *io, char *why, size_t len)
{
	for (int z = 0; z < cfg->nzones; z++) {
		double t;
		const struct fc_zone_cfg *zc = &cfg->zone[z];
		if (io->ops->read(io->ctx, zc->sensor, &t) < 0)
			continue;
		if (t > zc->limit_c - zc->margin_c / 2) {
			snprintf(why, len, "zone %s at %.1f C, its limit %.1f C", zc->name, t, zc->limit_c);
			return false;
		}
	}
	return true;
}

static int settle_and_read(const struct fc_config *cfg, const struct fc_io *io, int fan, int pwm,
			   const struct fc_calibrate_opts *o, double *rpm, char *why, size_t len)
{
	int rc = io->ops->set_pwm(io->ctx, fan, pwm);
	if (rc < 0) {
		snprintf(why, len, "setting pwm %d: %s", pwm, strerror(-rc));
		return rc;
	}
	o->sleep(o->ctx, o->settle_s);
	*rpm = group_rpm(cfg, io, fan);
	if (o->progress)
		o->progress(o->ctx, cfg->fan[fan].name, pwm, *rpm);
	return all_safe(cfg, io, why, len) ? 0 : -EAGAIN;
}

/* One fan group: full speed, then down in steps until it stops (its stop
 * duty is the lowest that still turned it), then up from standstill until
 * it starts.  Every other fan runs at full speed meanwhile. */
static int calibrate_fan(const struct fc_config *cfg, const struct fc_io *io, int fan,
			 const struct fc_calibrate_opts *o, struct fc_fan_calibration *r)
{
	memset(r, 0, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", cfg->fan[fan].name);
	double rpm;
	int rc = settle_and_read(cfg, io, fan, 255, o, &rpm, r->why, sizeof r->why);
	if (rc == 0 && rpm < 0)
		rc = -ENODEV, snprintf(r->why, sizeof r->why, "no tachometer reads");
	r->max_rpm = rpm;
	int last_pwm = 255;
	double last_rpm = rpm;
	r->stop_pwm = 0;
	r->min_rpm = rpm;
	for (int pwm = 255 - o->step; rc == 0 && pwm >= 0; pwm -= o->step) {
		rc = settle_and_read(cfg, io, fan, pwm, o, &rpm, r->why, sizeof r->why);
		if (rc == 0 && rpm <= 0) {
			r->stop_pwm = last_pwm;
			r->min_rpm = last_rpm;
			break;
		}
		last_pwm = pwm, last_rpm = rpm;
		if (rc == 0 && pwm < o->step) {	/* never stopped: turns at the lowest duty */
			r->stop_pwm = pwm;
			r->min_rpm = rpm;
		}
	}
	r->start_pwm = r->stop_pwm;
	if (rc == 0 && r->min_rpm > 0 && last_rpm > 0 && rpm <= 0) {
		/* it stopped: find where it starts again from standstill */
		r->start_pwm = 255;
		for (int pwm = o->step; rc == 0 && pwm <= 255; pwm += o->step) {
			rc = settle_and_read(cfg, io, fan, pwm, o, &rpm, r->why, sizeof r->why);
			if (rc == 0 && rpm > 0) {
				r->start_pwm = pwm;
				break;
			}
		}
	}
	io->ops->set_pwm(io->ctx, fan, 255);
	r->ok = rc == 0 && r->min_rpm < r->max_rpm && r->stop_pwm <= r->start_pwm;
	if (rc == 0 && !r->ok)
		snprintf(r->why, sizeof r->why, "inconsistent readings (the fan never slowed?)");
	return rc;
}

int fc_calibrate(const struct fc_config *cfg, const struct fc_io *io, const struct fc_calibrate_opts *o,
		 struct fc_fan_calibration *out, int *nout)
{
	*nout = 0;
	for (int f = 0; f < cfg->nfans; f++)
		io->ops->set_pwm(io->ctx, f, 255);
	int aborted = 0;
	for (int f = 0; f < cfg->nfans && *nout < FC_MAX_FANS; f++) {
		if (cfg->fan[f].tach[0] < 0)
			continue;	/* nothing to measure it by */
		int rc = calibrate_fan(cfg, io, f, o, &out[(*nout)++]);
		if (rc == -EAGAIN) {
			aborted++;
			/* let the box cool at full speed before the next fan */
			o->sleep(o->ctx, o->settle_s * 4);
		}
	}
	for (int f = 0; f < cfg->nfans; f++)
		io->ops->release(io->ctx, f);
	return aborted ? -EAGAIN : 0;
}

int fc_calibration_write(const char *path, const struct fc_fan_calibration *r, int n, char *err, size_t errlen)
{
	char tmp[1024];
	snprintf(tmp, sizeof tmp, "%s.new", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return cal_fail(err, errlen, tmp, 0, "%s", strerror(errno));
	fprintf(f, "# tb fan calibrate: each fan group's measured duties and speeds (tb-fand reads it)\n");
	for (int i = 0; i < n; i++) {
		if (!r[i].ok) {
			fprintf(f, "\n# [fan %s] not measured: %s\n", r[i].name, r[i].why);
			continue;
		}
		fprintf(f, "\n[fan %s]\nstart_pwm = %d\nstop_pwm = %d\nmin_rpm = %.0f\nmax_rpm = %.0f\n", r[i].name,
			r[i].start_pwm, r[i].stop_pwm, r[i].min_rpm, r[i].max_rpm);
	}
	bool bad = ferror(f) != 0;
	if (fclose(f) || bad || rename(tmp, path) < 0) {
		remove(tmp);
		return cal_fail(err, errlen, path, 0, "cannot write it: %s", strerror(errno));
	}
	return 0;
}
