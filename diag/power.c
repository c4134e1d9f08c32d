/* tb diag's power and thermal verdict at the cap: what a GPU's hwmon read
 * while its worker kept it busy (the "power" test) says about its power
 * limit, its cooling and its fan.  A pure function of the samples, so its
 * rules are tested on their own (tests/diag/test_power.c). */
#include <stdlib.h>
#include <string.h>

#include "diag/diag.h"

/* the sustained power may read this much over the cap (PPT is an average
 * the firmware steers to the cap, not a hard clip) */
#define POWER_CAP_MARGIN 1.05
/* the share of the load time the junction may spend at its limit */
#define THROTTLED_SHARE_MAX 0.05
/* fewer samples than this are no verdict */
#define POWER_MIN_SAMPLES 4

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* the median power of the second half of the samples: the sustained load,
 * past the first seconds' rise */
static double sustained_watts(const struct diag_power_sample *smp, int n)
{
	int from = n / 2, m = n - from;
	double *w = malloc((size_t)m * sizeof *w);
	if (!w)
		return -1;
	for (int i = 0; i < m; i++)
		w[i] = smp[from + i].watts;
	qsort(w, (size_t)m, sizeof *w, by_value);
	double med = m % 2 ? w[m / 2] : (w[m / 2 - 1] + w[m / 2]) / 2;
	free(w);
	return med;
}

json_t *diag_power_judge(const char *test, int gpu, const struct diag_power_sample *smp, int n, double cap_w,
			 double limit_c)
{
	if (n < POWER_MIN_SAMPLES || cap_w <= 0 || limit_c <= 0)
		return diag_result(test, gpu, DIAG_SKIPPED, "TOO_FEW_SAMPLES", DIAG_ACT_NONE,
				   "%d samples of power, junction and fan under load (at least %d, with a power cap and a junction "
				   "limit, are needed)",
				   n, POWER_MIN_SAMPLES);
	double median = sustained_watts(smp, n), hottest = smp[0].junction_c;
	int throttled = 0, pwm_max = smp[0].pwm, rpm_peak = smp[0].rpm;
	for (int i = 0; i < n; i++) {
		hottest = smp[i].junction_c > hottest ? smp[i].junction_c : hottest;
		throttled += smp[i].junction_c >= limit_c;
		pwm_max = smp[i].pwm > pwm_max ? smp[i].pwm : pwm_max;
		rpm_peak = smp[i].rpm > rpm_peak ? smp[i].rpm : rpm_peak;
	}
	double share = (double)throttled / n, seconds = smp[n - 1].s - smp[0].s;
	/* the firmware's curve asked for the fan (more than at the start, and
	 * enough to turn it): it must turn, faster than at the start */
	bool demanded = pwm_max >= DIAG_FAN_DEMAND_PWM;
	bool answered = !demanded || (rpm_peak > 0 && (pwm_max <= smp[0].pwm || rpm_peak > smp[0].rpm));
	json_t *res;
	if (share > THROTTLED_SHARE_MAX)
		res = diag_result(test, gpu, DIAG_FAIL, "THERMAL_THROTTLED", DIAG_ACT_REPLACE_HW,
				  "the junction was at its %.0f C limit (throttling) %.0f%% of %.1f s under load, up to %.1f C",
				  limit_c, share * 100, seconds, hottest);
	else if (!answered)
		res = diag_result(test, gpu, DIAG_FAIL, "FAN_NOT_ANSWERING", DIAG_ACT_REPLACE_HW,
				  "the fan curve asked for %d%% duty under load, but the fan went from %d rpm to at most %d rpm",
				  pwm_max * 100 / 255, smp[0].rpm, rpm_peak);
	else if (median > cap_w * POWER_CAP_MARGIN)
		res = diag_result(test, gpu, DIAG_FAIL, "POWER_OVER_CAP", DIAG_ACT_UPDATE_FW_DRIVER,
				  "a sustained %.0f W against a power cap of %.0f W", median, cap_w);
	else
		res = diag_result(test, gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
				  "%.1f s under load: %.0f W of a %.0f W cap, the junction up to %.1f C of %.0f C, %s", seconds,
				  median, cap_w, hottest, limit_c,
				  demanded ? "the fan answering its curve" : "the fan curve never asking for the fan (zero-rpm)");
	diag_measure(res, "power_median", median, "W", "max", cap_w * POWER_CAP_MARGIN);
	diag_measure(res, "power_cap", cap_w, "W", NULL, 0);
	diag_measure(res, "power_of_cap", median / cap_w, "ratio", NULL, 0);
	diag_measure(res, "junction_max", hottest, "C", NULL, 0);
	diag_measure(res, "junction_limit", limit_c, "C", NULL, 0);
	diag_measure(res, "throttled", share, "ratio", "max", THROTTLED_SHARE_MAX);
	diag_measure(res, "throttled_time", share * seconds, "s", NULL, 0);
	diag_measure(res, "fan_rpm_start", smp[0].rpm, "rpm", NULL, 0);
	diag_measure(res, "fan_rpm_peak", rpm_peak, "rpm", demanded && pwm_max > smp[0].pwm ? "min" : NULL,
		     smp[0].rpm + 1);
	diag_measure(res, "fan_duty_max", pwm_max * 100.0 / 255, "%", NULL, 0);
	diag_measure(res, "load_time", seconds, "s", NULL, 0);
	return res;
}
