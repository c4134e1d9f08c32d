/* The controller's state for people (tb fan status) and programs (--json). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "fancontrol/fan.h"

struct buf {
	char *p;
	size_t len, n;
	bool overflow;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	if (b->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->p + b->n, b->len - b->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= b->len - b->n)
		b->overflow = true;
	else
		b->n += (size_t)k;
}

/* JSON has no NaN: a value never read is null. */
static void num(struct buf *b, const char *key, double v, const char *sep)
{
	if (isfinite(v))
		put(b, "\"%s\":%.1f%s", key, v, sep);
	else
		put(b, "\"%s\":null%s", key, sep);
}

/* Only a reading that the last read gave and that is believable: a sensor
 * that went missing or reads nonsense has no temperature (not its last
 * good value, not 0). */
static double zone_temp(const struct fc_ctl *c, int z)
{
	const struct fc_sensor_state *s = &c->sensor[c->cfg.zone[z].sensor];
	return s->seen && s->fault == FC_OK ? s->value : NAN;
}

/* A number for the table, or "-" when there is none. */
static const char *cell(char *buf, size_t len, int width, int decimals, double v)
{
	if (isfinite(v))
		snprintf(buf, len, "%*.*f", width, decimals, v);
	else
		snprintf(buf, len, "%*s", width, "-");
	return buf;
}

int fc_status_json(const struct fc_ctl *c, char *out, size_t len)
{
	struct buf b = {out, len, 0, false};
	put(&b, "{\"time_s\":%.1f,\"interval_s\":%g,\"dba\":%.1f,\"zones\":[", c->now, c->cfg.interval_s, c->dba);
	for (int z = 0; z < c->cfg.nzones; z++) {
		const struct fc_zone_cfg *zc = &c->cfg.zone[z];
		const struct fc_zone_state *zs = &c->zone[z];
		put(&b, "%s{\"name\":\"%s\",\"sensor\":\"%s\",", z ? "," : "", zc->name, c->cfg.sensor[zc->sensor].name);
		num(&b, "temp_c", zone_temp(c, z), ",");
		num(&b, "limit_c", zc->limit_c, ",");
		num(&b, "setpoint_c", zc->limit_c - zc->margin_c, ",");
		put(&b, "\"demand\":%.3f,\"state\":\"%s\"}", zs->demand, fc_fault_name(zs->fault));
	}
	put(&b, "],\"fans\":[");
	for (int f = 0; f < c->cfg.nfans; f++) {
		const struct fc_fan_cfg *fc = &c->cfg.fan[f];
		const struct fc_fan_state *fs = &c->fan[f];
		put(&b, "%s{\"name\":\"%s\",\"pwm\":%d,\"duty_pct\":%.0f,\"rpm\":[", f ? "," : "", fc->name, fs->pwm,
		    fs->pwm < 0 ? 0.0 : fs->pwm * 100.0 / 255);
		for (int m = 0, first = 1; m < fc->nmembers; m++)
			if (fc->tach[m] >= 0) {
				put(&b, "%s%.0f", first ? "" : ",", fs->rpm[m]);
				first = 0;
			}
		put(&b, "],\"dba\":%.1f,\"failsafe\":%s,\"state\":\"%s\"}", fs->dba, fs->failsafe ? "true" : "false",
		    fc_fault_name(fs->fault));
	}
	put(&b, "]}\n");
	return b.overflow ? -ENOSPC : (int)b.n;
}

int fc_status_text(const struct fc_ctl *c, char *out, size_t len)
{
	struct buf b = {out, len, 0, false};
	put(&b, "estimated sound level: %.1f dBA at 1 m\n\n", c->dba);
	put(&b, "%-18s %-28s %7s %7s %7s %7s  %s\n", "zone", "sensor", "temp C", "set C", "limit C", "demand", "state");
	for (int z = 0; z < c->cfg.nzones; z++) {
		const struct fc_zone_cfg *zc = &c->cfg.zone[z];
		char temp[32];
		put(&b, "%-18s %-28s %s %7.1f %7.1f %6.0f%%  %s\n", zc->name, c->cfg.sensor[zc->sensor].name,
		    cell(temp, sizeof temp, 7, 1, zone_temp(c, z)), zc->limit_c - zc->margin_c, zc->limit_c,
		    c->zone[z].demand * 100, fc_fault_name(c->zone[z].fault));
	}
	put(&b, "\n%-18s %5s %6s %8s %6s  %s\n", "fan", "pwm", "duty", "rpm", "dBA", "state");
	for (int f = 0; f < c->cfg.nfans; f++) {
		const struct fc_fan_cfg *fc = &c->cfg.fan[f];
		const struct fc_fan_state *fs = &c->fan[f];
		double rpm = 0;
		int n = 0;
		for (int m = 0; m < fc->nmembers; m++)
			if (fc->tach[m] >= 0)
				rpm += fs->rpm[m], n++;
		char mean[32];
		put(&b, "%-18s %5d %5.0f%% %s %6.1f  %s%s\n", fc->name, fs->pwm, fs->pwm < 0 ? 0.0 : fs->pwm * 100.0 / 255,
		    cell(mean, sizeof mean, 8, 0, n ? rpm / n : NAN), fs->dba, fc_fault_name(fs->fault),
		    fs->failsafe ? ", failsafe duty" : "");
	}
	return b.overflow ? -ENOSPC : (int)b.n;
}
