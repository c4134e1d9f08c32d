/* tb diag's sensor watch: the supervisor reads each GPU's hwmon files over
 * the whole run (no GPU work) and tells what only time shows:
 *   THERMAL_RUNAWAY  a temperature that rose to or over its limit (tempN_crit)
 *   FAN_STALLED      a fan that reads 0 rpm while its duty demands it turn
 *   SENSOR_LOST      a temperature that could be read and then could not
 *   SENSOR_FROZEN    temperatures that never change while the power moves
 * each named with the test the GPU was running when it showed. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag/diag.h"
#include "driver/tbdrv.h"

/* a fan that reads 0 rpm at DIAG_FAN_DEMAND_PWM or more is stalled after
 * this long, beyond any spin-up (90 mm rotors: 95% in ~5 s from
 * rest, their first tach pulses within a second) */
#define FAN_STALL_MS 3000
/* the power moved at least this much (W): a live sensor's temperature moves too */
#define FROZEN_POWER_SWING_W 50
/* ...over at least this much of the run */
#define FROZEN_MIN_MS 5000
/* the samples kept as evidence */
#define TRACE 24

static const char *const temp_names[] = { "edge", "junction", "mem" };
static const char *const temp_files[] = { "temp1_input", "temp2_input", "temp3_input" };
static const char *const crit_files[] = { "temp1_crit", "temp2_crit", "temp3_crit" };
enum { TEMPS = 3 };

struct gpu_watch {
	bool on;
	char hwmon[PATH_MAX];
	long long first[TEMPS], crit[TEMPS];
	bool changed[TEMPS];
	double pmin, pmax;
	uint64_t loaded_ms;			/* when the power first moved */
	char loaded_during[32];			/* and in which test */
	uint64_t stall_since;			/* 0: the fan answers */
	json_t *fault[4];			/* the first of each kind seen, by precedence: {reason, detail, during} */
	json_t *trace;
	int samples;
};

struct diag_watch {
	uint64_t start_ms;
	struct gpu_watch g[DIAG_MAX_GPUS];
};

struct diag_watch *diag_watch_start(const struct tb_gpu_info *gpus, int ngpus, uint32_t mask)
{
	struct diag_watch *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->start_ms = diag_now_ms();
	for (int i = 0; i < ngpus && i < DIAG_MAX_GPUS; i++) {
		struct gpu_watch *g = &w->g[i];
		if (!(mask & (1u << i)) || diag_hwmon_dir(&gpus[i], g->hwmon, sizeof g->hwmon) < 0)
			continue;
		g->on = true;
		g->pmin = INFINITY;
		g->pmax = -INFINITY;
		g->trace = json_array();
		for (int t = 0; t < TEMPS; t++) {
			g->first[t] = diag_sysfs_number(g->hwmon, temp_files[t]);
			g->crit[t] = diag_sysfs_number(g->hwmon, crit_files[t]);
		}
	}
	return w;
}

/* the faults by precedence: a temperature over its limit is the worst,
 * whatever else shows with it (a runaway's fan may be stalled too) */
static const char *const kinds[4] = { "THERMAL_RUNAWAY", "FAN_STALLED", "SENSOR_LOST", "SENSOR_FROZEN" };

static void found(struct gpu_watch *g, const char *reason, const char *during, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void found(struct gpu_watch *g, const char *reason, const char *during, const char *fmt, ...)
{
	int k = 0;
	while (k < 3 && strcmp(kinds[k], reason))
		k++;
	if (g->fault[k])
		return;
	char detail[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	g->fault[k] = json_pack("{s:s, s:s, s:s}", "reason", reason, "detail", detail, "during", during ? during : "(between tests)");
}

static void sample_gpu(struct diag_watch *w, struct gpu_watch *g, uint64_t now, const char *during)
{
	long long temp[TEMPS];
	for (int t = 0; t < TEMPS; t++) {
		temp[t] = diag_sysfs_number(g->hwmon, temp_files[t]);
		if (temp[t] < 0 && g->first[t] >= 0)
			found(g, "SENSOR_LOST", during, "the %s temperature (%s) could be read and now cannot", temp_names[t],
			      temp_files[t]);
		if (temp[t] >= 0 && temp[t] != g->first[t])
			g->changed[t] = true;
		/* a limit reached after the run began (not one the level-0 test saw at idle) */
		if (g->crit[t] > 0 && temp[t] >= g->crit[t] && g->first[t] >= 0 && g->first[t] < g->crit[t])
			found(g, "THERMAL_RUNAWAY", during, "the %s temperature rose from %.1f C to %.1f C, at or over its %.1f C limit",
			      temp_names[t], g->first[t] / 1000.0, temp[t] / 1000.0, g->crit[t] / 1000.0);
	}
	long long pwm = diag_sysfs_number(g->hwmon, "pwm1"), rpm = diag_sysfs_number(g->hwmon, "fan1_input");
	long long uw = diag_sysfs_number(g->hwmon, "power1_average");
	if (pwm >= DIAG_FAN_DEMAND_PWM && rpm == 0) {
		if (!g->stall_since)
			g->stall_since = now;
		else if (now - g->stall_since >= FAN_STALL_MS)
			found(g, "FAN_STALLED", during, "the fan reads 0 rpm at %lld%% duty for %.1f s", pwm * 100 / 255,
			      (double)(now - g->stall_since) / 1000.0);
	} else {
		g->stall_since = 0;
	}
	if (uw >= 0) {
		double watts = (double)uw / 1e6;
		g->pmin = watts < g->pmin ? watts : g->pmin;
		g->pmax = watts > g->pmax ? watts : g->pmax;
		if (!g->loaded_ms && g->pmax - g->pmin >= FROZEN_POWER_SWING_W) {
			g->loaded_ms = now;
			snprintf(g->loaded_during, sizeof g->loaded_during, "%s", during ? during : "");
		}
	}
	bool any_changed = false;
	for (int t = 0; t < TEMPS; t++)
		any_changed |= g->changed[t];
	if (!any_changed && g->loaded_ms && now - w->start_ms >= FROZEN_MIN_MS)
		found(g, "SENSOR_FROZEN", g->loaded_during[0] ? g->loaded_during : NULL,
		      "no temperature changed in %.1f s while the power moved from %.0f W to %.0f W",
		      (double)(now - w->start_ms) / 1000.0, g->pmin, g->pmax);
	if (json_array_size(g->trace) >= TRACE)
		json_array_remove(g->trace, 0);
	json_array_append_new(g->trace, json_pack("{s:f, s:I, s:I, s:I, s:f}", "s", (double)(now - w->start_ms) / 1000.0,
						   "junction_mc", (json_int_t)temp[1], "pwm", (json_int_t)pwm, "rpm",
						   (json_int_t)rpm, "watts", uw >= 0 ? (double)uw / 1e6 : -1.0));
	g->samples++;
}

void diag_watch_sample(struct diag_watch *w, const char *const *during)
{
	if (!w)
		return;
	uint64_t now = diag_now_ms();
	for (int i = 0; i < DIAG_MAX_GPUS; i++)
		if (w->g[i].on)
			sample_gpu(w, &w->g[i], now, during ? during[i] : NULL);
}

/* what an owner does: cooling is hardware; a sensor that lies is firmware's */
static enum diag_action action_of(const char *reason)
{
	return !strcmp(reason, "THERMAL_RUNAWAY") || !strcmp(reason, "FAN_STALLED") ? DIAG_ACT_REPLACE_HW
										 : DIAG_ACT_UPDATE_FW_DRIVER;
}

json_t *diag_watch_end(struct diag_watch *w)
{
	json_t *out = json_array();
	if (!w)
		return out;
	double secs = (double)(diag_now_ms() - w->start_ms) / 1000.0;
	for (int i = 0; i < DIAG_MAX_GPUS; i++) {
		struct gpu_watch *g = &w->g[i];
		if (!g->on)
			continue;
		json_t *res, *fault = NULL;
		for (int k = 3; k >= 0; k--)
			fault = g->fault[k] ? g->fault[k] : fault;
		if (fault) {
			const char *reason = json_string_value(json_object_get(fault, "reason"));
			res = diag_result("thermal", i, DIAG_FAIL, reason, action_of(reason), "%s (during %s)",
					  json_string_value(json_object_get(fault, "detail")),
					  json_string_value(json_object_get(fault, "during")));
			json_object_set(json_object_get(res, "evidence"), "during_test", json_object_get(fault, "during"));
			json_t *also = json_array();
			for (int k = 0; k < 4; k++)
				if (g->fault[k] && g->fault[k] != fault)
					json_array_append(also, g->fault[k]);
			json_object_set_new(json_object_get(res, "evidence"), "also", also);
		} else {
			res = diag_result("thermal", i, DIAG_PASS, "OK", DIAG_ACT_NONE,
					  "%d samples over %.1f s: under the limits, the fan turning when asked%s", g->samples,
					  secs, g->loaded_ms ? ", the temperatures moving with the power" : "");
		}
		if (isfinite(g->pmax))
			diag_measure(res, "power_max", g->pmax, "W", NULL, 0);
		json_object_set_new(json_object_get(res, "evidence"), "samples", g->trace);
		json_object_set_new(res, "seconds", json_real(secs));
		for (int k = 0; k < 4; k++)
			json_decref(g->fault[k]);
		json_array_append_new(out, res);
	}
	free(w);
	return out;
}
