/* tb diag's power and thermal verdict at the cap (diag/power.c) on samples
 * made here: a GPU at its cap, cool enough and its fan answering passes;
 * sustained power over the cap, a junction at its limit for more than 5%
 * of the load, a fan that does not answer its curve each fail with their
 * reason; a curve that never asks for the fan is no fan failure; too few
 * samples are no verdict. */
#include <string.h>

#include "diag/diag.h"
#include "tests/tap.h"

enum { N = 40 };
static struct diag_power_sample smp[N];

/* a GPU warming from 40 C to top_c under load at watts, its fan following
 * the firmware's curve (duty from 45 C) at rpm_per_pwm rpm a duty step */
static void load(double watts, double top_c, double rpm_per_pwm)
{
	for (int i = 0; i < N; i++) {
		double t = 40 + (top_c - 40) * i / (N - 1);
		int pwm = t < 45 ? 0 : (int)(38 + (t - 45) * 2.5);
		smp[i] = (struct diag_power_sample){ .s = i * 0.25, .watts = i < 4 ? 100 : watts, .junction_c = t,
						     .pwm = pwm, .rpm = (int)(pwm * rpm_per_pwm) };
	}
}

/* "STATUS REASON" of the verdict, and the measurement name's value */
static const char *verdict(int n, double cap_w, double limit_c, const char *name, double *value)
{
	static char buf[128];
	json_t *r = diag_power_judge("power", 2, smp, n, cap_w, limit_c);
	snprintf(buf, sizeof buf, "%s %s", json_string_value(json_object_get(r, "status")),
		 json_string_value(json_object_get(r, "reason")));
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(r, "measurements"), i, m)
		if (name && !strcmp(json_string_value(json_object_get(m, "name")), name))
			*value = json_real_value(json_object_get(m, "value"));
	json_decref(r);
	return buf;
}

int main(void)
{
	double v = -1;
	load(352, 85, 10);
	check(!strcmp(verdict(N, 355, 110, "power_median", &v), "PASS OK") && v == 352,
	      "at its cap, 85 C, the fan following its curve: PASS, the sustained median 352 W (%g)", v);
	load(400, 85, 10);
	check(!strcmp(verdict(N, 355, 110, NULL, NULL), "FAIL POWER_OVER_CAP"), "400 W sustained against a 355 W cap: FAIL POWER_OVER_CAP");
	load(370, 85, 10);
	check(!strcmp(verdict(N, 355, 110, NULL, NULL), "PASS OK"), "370 W against 355 W (within 5%%): PASS");
	load(355, 120, 10);
	check(!strcmp(verdict(N, 355, 110, "throttled", &v), "FAIL THERMAL_THROTTLED") && v > 0.05,
	      "a junction at its 110 C limit for the last part of the load: FAIL THERMAL_THROTTLED (share %g)", v);
	load(355, 110.5, 10);
	check(!strcmp(verdict(N, 355, 110, NULL, NULL), "PASS OK"), "at its limit for one sample of 40 (2.5%%): PASS");
	load(355, 85, 0);
	check(!strcmp(verdict(N, 355, 110, NULL, NULL), "FAIL FAN_NOT_ANSWERING"),
	      "the curve asking for 40%% duty and more, the fan at 0 rpm: FAIL FAN_NOT_ANSWERING");
	load(355, 85, 10);
	for (int i = 0; i < N; i++)
		smp[i].rpm = 900;
	check(!strcmp(verdict(N, 355, 110, NULL, NULL), "FAIL FAN_NOT_ANSWERING"),
	      "the duty rising from zero-rpm, the fan stuck at 900 rpm: FAIL FAN_NOT_ANSWERING");
	load(355, 44, 0);
	check(!strcmp(verdict(N, 355, 110, NULL, NULL), "PASS OK"),
	      "a junction that stays below the curve's first point: the fan not asked, no fan failure");
	load(355, 85, 10);
	check(!strcmp(verdict(3, 355, 110, NULL, NULL), "SKIPPED TOO_FEW_SAMPLES") &&
		      !strcmp(verdict(N, -1e-6, 110, NULL, NULL), "SKIPPED TOO_FEW_SAMPLES"),
	      "three samples, or no power cap: SKIPPED, no verdict");
	return tap_done();
}
