/* libtbplant's behaviour: physics (temperatures rise with power, fall with
 * airflow, lag power; limits hold at full power with full fans; idle sits
 * near ambient; a stalled fan heats its part), fans (start/stop hysteresis,
 * spin-up lag, rpm monotonic in pwm) and acoustics (the fan laws). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/plant/util.h"

#define HOUR 3600.0
static const char *const gpu_kinds[] = {"edge", "junction", "mem"};

static struct plant *load_default(void)
{
	struct plant *p = plant_load(NULL, NULL, 0);
	assert_non_null(p);
	return p;
}

/* ---- physics ------------------------------------------------------------- */

static void test_temps_rise_with_power(void **state)
{
	(void)state;
	struct plant *lo = load_default(), *hi = load_default();
	set_fans(lo, 150, 150);
	set_fans(hi, 150, 150);
	struct plant_inputs in_lo = inputs(100, 50, 4, 25), in_hi = inputs(300, 200, 30, 25);
	run_for(lo, &in_lo, 1800);
	run_for(hi, &in_hi, 1800);
	for (int k = 0; k < 3; k++)
		assert_true(temp(hi, "gpu4", gpu_kinds[k]) > temp(lo, "gpu4", gpu_kinds[k]) + 5);
	assert_true(temp(hi, "cpu", "tctl") > temp(lo, "cpu", "tctl") + 5);
	assert_true(temp(hi, "nvme1", "composite") > temp(lo, "nvme1", "composite") + 5);
	/* the hotspot is above the edge, and both above the room */
	assert_true(temp(hi, "gpu4", "junction") > temp(hi, "gpu4", "edge"));
	assert_true(temp(hi, "gpu4", "edge") > 25);
	plant_free(lo);
	plant_free(hi);
}

static void test_temps_fall_with_airflow(void **state)
{
	(void)state;
	struct plant_inputs in = inputs(300, 200, 30, 25);
	/* the GPU's own fans */
	struct plant *slow = load_default(), *fast = load_default();
	set_fans(slow, 100, 150);
	set_fans(fast, 255, 150);
	run_for(slow, &in, 1800);
	run_for(fast, &in, 1800);
	for (int k = 0; k < 3; k++)
		assert_true(temp(fast, "gpu0", gpu_kinds[k]) < temp(slow, "gpu0", gpu_kinds[k]) - 5);
	plant_free(slow);
	plant_free(fast);
	/* the chassis fans cool everything through the case air */
	slow = load_default();
	fast = load_default();
	set_fans(slow, 150, 70);
	set_fans(fast, 150, 255);
	run_for(slow, &in, 1800);
	run_for(fast, &in, 1800);
	assert_true(temp(fast, "gpu0", "junction") < temp(slow, "gpu0", "junction") - 2);
	assert_true(temp(fast, "cpu", "tctl") < temp(slow, "cpu", "tctl") - 5);
	assert_true(temp(fast, "nvme0", "composite") < temp(slow, "nvme0", "composite") - 5);
	plant_free(slow);
	plant_free(fast);
}

static void test_temps_lag_power(void **state)
{
	(void)state;
	struct plant_inputs idle = inputs(15, 50, 4, 25), full = inputs(355, 225, 36, 25);
	struct plant *p = load_default(), *ref = load_default();
	run_for(p, &idle, HOUR);
	double before = temp(p, "gpu0", "junction");
	run_for(ref, &full, 4 * HOUR);
	double steady = temp(ref, "gpu0", "junction");
	plant_step(p, 1, &full);
	double after1 = temp(p, "gpu0", "junction");
	assert_true(after1 > before);
	/* one second after the step the junction is far from its steady state */
	assert_true(after1 - before < 0.5 * (steady - before));
	/* and it keeps rising towards it */
	double last = after1;
	for (int t = 0; t < 600; t++) {
		plant_step(p, 1, &full);
		double now = temp(p, "gpu0", "junction");
		assert_true(now >= last - 1e-9);
		last = now;
	}
	assert_true(last < steady);
	plant_free(p);
	plant_free(ref);
}

/* Long steps are substepped: 1 s steps and 0.05 s steps agree. */
static void test_step_size_does_not_matter(void **state)
{
	(void)state;
	struct plant_inputs full = inputs(355, 225, 36, 25);
	struct plant *coarse = load_default(), *fine = load_default();
	set_fans(coarse, 120, 100);
	set_fans(fine, 120, 100);
	for (int t = 0; t < 300; t++) {
		plant_step(coarse, 1, &full);
		for (int k = 0; k < 20; k++)
			plant_step(fine, 0.05, &full);
	}
	assert_true(fabs(plant_time(coarse) - 300) < 1e-9);
	assert_true(fabs(plant_time(fine) - 300) < 1e-6);
	assert_true(fabs(temp(coarse, "gpu0", "junction") - temp(fine, "gpu0", "junction")) < 0.5);
	assert_true(fabs(temp(coarse, "cpu", "tctl") - temp(fine, "cpu", "tctl")) < 0.5);
	/* one long step is stable too */
	struct plant *once = load_default();
	plant_step(once, 4 * HOUR, &full);
	struct plant *ref = load_default();
	run_for(ref, &full, 4 * HOUR);
	assert_true(fabs(temp(once, "gpu0", "junction") - temp(ref, "gpu0", "junction")) < 0.01);
	plant_free(coarse);
	plant_free(fine);
	plant_free(once);
	plant_free(ref);
}

static void assert_under_limits(const struct plant *p, double ambient)
{
	const char *comp, *kind;
	for (int i = 0; i < plant_sensor_count(p); i++) {
		double c, limit;
		assert_int_equal(plant_sensor(p, i, &comp, &kind), 0);
		c = temp(p, comp, kind);
		assert_int_equal(plant_temp_limit(p, comp, kind, &limit), 0);
		if (!(c < limit && c > ambient))
			fail_msg("%s %s = %.1f °C, limit %.0f, ambient %.0f", comp, kind, c, limit, ambient);
	}
}

static void test_full_power_full_fans_under_limits(void **state)
{
	(void)state;
	struct plant *p = load_default();
	set_fans(p, 255, 255);
	struct plant_inputs full = inputs(355, 225, 36, 25);
	run_for(p, &full, 4 * HOUR);
	double j = temp(p, "gpu5", "junction");
	run_for(p, &full, 60);
	assert_true(fabs(temp(p, "gpu5", "junction") - j) < 0.01); /* steady */
	assert_under_limits(p, 25);
	/* at 25 °C the junction has a real margin, not a marginal pass */
	assert_true(temp(p, "gpu5", "junction") < 100);
	plant_free(p);

	/* a hot room: the GPUs and CPU still hold (drives at 9 W each would not) */
	p = load_default();
	set_fans(p, 255, 255);
	full = inputs(355, 225, 0, 35);
	run_for(p, &full, 4 * HOUR);
	assert_under_limits(p, 35);
	plant_free(p);
}

static void test_idle_near_ambient(void **state)
{
	(void)state;
	struct plant *p = load_default();
	set_fans(p, 60, 80);
	struct plant_inputs idle = inputs(15, 50, 4, 25);
	run_for(p, &idle, 4 * HOUR);
	for (int g = 0; g < PLANT_GPUS; g++)
		for (int k = 0; k < 3; k++) {
			char comp[8];
			snprintf(comp, sizeof comp, "gpu%d", g);
			double c = temp(p, comp, gpu_kinds[k]);
			if (!(c > 25 && c < 35))
				fail_msg("%s %s = %.1f at idle", comp, gpu_kinds[k], c);
		}
	assert_true(temp(p, "nvme0", "composite") < 25 + 12);
	assert_true(temp(p, "cpu", "tctl") < 25 + 20);
	assert_true(plant_dba(p) < 38); /* the idle target of the fan controller is reachable */
	plant_free(p);
}

static void test_cools_to_ambient(void **state)
{
	(void)state;
	struct plant *p = load_default();
	struct plant_inputs full = inputs(355, 225, 36, 25), off = inputs(0, 0, 0, 30);
	run_for(p, &full, HOUR);
	run_for(p, &off, 6 * HOUR);
	for (int i = 0; i < plant_sensor_count(p); i++) {
		const char *comp, *kind;
		assert_int_equal(plant_sensor(p, i, &comp, &kind), 0);
		assert_true(fabs(temp(p, comp, kind) - 30) < 0.1);
	}
	plant_free(p);
}

static void test_stalled_fan_heats(void **state)
{
	(void)state;
	struct plant *p = load_default();
	set_fans(p, 150, 150);
	struct plant_inputs in = inputs(250, 150, 20, 25);
	run_for(p, &in, HOUR);
	assert_true(fabs(temp(p, "gpu2", "junction") - temp(p, "gpu1", "junction")) < 0.01);
	assert_int_equal(plant_fan_stall(p, 2, 1), 0);
	assert_int_equal(plant_fan_rpm(p, 2), 0);
	run_for(p, &in, HOUR);
	assert_int_equal(plant_fan_rpm(p, 2), 0);
	assert_true(temp(p, "gpu2", "junction") > temp(p, "gpu1", "junction") + 10);
	assert_true(temp(p, "gpu2", "mem") > temp(p, "gpu1", "mem") + 10);
	plant_free(p);

	/* stalled chassis fans heat the whole box */
	struct plant *ok = load_default(), *bad = load_default();
	set_fans(ok, 150, 150);
	set_fans(bad, 150, 150);
	for (int f = PLANT_GPUS; f < plant_fan_count(bad); f += 2)
		assert_int_equal(plant_fan_stall(bad, f, 1), 0);
	run_for(ok, &in, HOUR);
	run_for(bad, &in, HOUR);
	assert_true(temp(bad, "cpu", "tctl") > temp(ok, "cpu", "tctl") + 3);
	assert_true(temp(bad, "gpu0", "junction") > temp(ok, "gpu0", "junction") + 1);
	plant_free(ok);
	plant_free(bad);
}

static void test_bad_inputs_are_harmless(void **state)
{
	(void)state;
	struct plant *p = load_default(), *capped = load_default();
	struct plant_inputs in = inputs(1e9, -5, NAN, NAN), cap = inputs(355, 0, 0, 25);
	in.gpu_w[1] = INFINITY;
	cap.gpu_w[1] = 355;
	run_for(p, &in, 600);
	run_for(capped, &cap, 600);
	for (int i = 0; i < plant_sensor_count(p); i++) {
		const char *comp, *kind;
		assert_int_equal(plant_sensor(p, i, &comp, &kind), 0);
		/* power is clamped to the cap, nonsense counts as nothing */
		assert_true(temp(p, comp, kind) == temp(capped, comp, kind));
	}
	double t = plant_time(p);
	plant_step(p, -1, &in);
	plant_step(p, 0, &in);
	plant_step(p, NAN, &in);
	plant_step(p, 1, NULL);
	plant_step(NULL, 1, &in);
	assert_true(plant_time(p) == t);
	plant_free(p);
	plant_free(capped);
	plant_free(NULL);
}

/* ---- fans ---------------------------------------------------------------- */

static void idle_for(struct plant *p, double seconds)
{
	struct plant_inputs in = inputs(0, 0, 0, 25);
	run_for(p, &in, seconds);
}

/* GPU fans: start 51, stop 38; chassis fans: start 64, stop 40. */
static void check_hysteresis(struct plant *p, int fan, int stop, int start)
{
	int between = (stop + start) / 2;
	assert_true(plant_fan_rpm(p, fan) > 0);
	plant_fan_set_pwm(p, fan, between); /* turning: keeps turning */
	idle_for(p, 30);
	int min = plant_fan_min_rpm(p, fan), max = plant_fan_max_rpm(p, fan);
	assert_int_equal(plant_fan_rpm(p, fan), min + lround((max - min) * (double)(between - stop) / (255 - stop)));
	plant_fan_set_pwm(p, fan, stop); /* at the stop duty: still turning, at its minimum */
	idle_for(p, 30);
	assert_int_equal(plant_fan_rpm(p, fan), plant_fan_min_rpm(p, fan));
	plant_fan_set_pwm(p, fan, stop - 1); /* below: stops */
	idle_for(p, 30);
	assert_int_equal(plant_fan_rpm(p, fan), 0);
	plant_fan_set_pwm(p, fan, between); /* standing: cannot break away */
	idle_for(p, 30);
	assert_int_equal(plant_fan_rpm(p, fan), 0);
	plant_fan_set_pwm(p, fan, start - 1);
	idle_for(p, 30);
	assert_int_equal(plant_fan_rpm(p, fan), 0);
	plant_fan_set_pwm(p, fan, start); /* the start duty starts it */
	idle_for(p, 30);
	assert_true(plant_fan_rpm(p, fan) > plant_fan_min_rpm(p, fan));
}

static void test_fan_start_stop_hysteresis(void **state)
{
	(void)state;
	struct plant *p = load_default();
	check_hysteresis(p, 0, 38, 51);
	check_hysteresis(p, PLANT_GPUS + 3, 40, 64);
	plant_free(p);
}

static void test_fan_spin_up_lag(void **state)
{
	(void)state;
	struct plant *p = load_default();
	int fan = 1, max = plant_fan_max_rpm(p, fan);
	plant_fan_set_pwm(p, fan, 0);
	idle_for(p, 1);
	assert_true(plant_fan_rpm(p, fan) > 0); /* coasting, not stopped at once */
	idle_for(p, 60);
	assert_int_equal(plant_fan_rpm(p, fan), 0);
	plant_fan_set_pwm(p, fan, 255);
	assert_int_equal(plant_fan_rpm(p, fan), 0); /* no instant speed */
	struct plant_inputs in = inputs(0, 0, 0, 25);
	plant_step(p, 0.1, &in);
	int rpm = plant_fan_rpm(p, fan);
	assert_true(rpm > 0 && rpm < max / 5);
	plant_step(p, 0.9, &in);
	rpm = plant_fan_rpm(p, fan);
	/* first order with the 1.5 s time constant: 1 - e^(-1/1.5) = 48.7% */
	assert_true(fabs(rpm - max * (1 - exp(-1 / 1.5))) < 0.01 * max);
	idle_for(p, 15);
	assert_true(plant_fan_rpm(p, fan) > 0.99 * max);
	plant_free(p);
}

static void test_fan_rpm_monotonic_in_pwm(void **state)
{
	(void)state;
	struct plant *p = load_default();
	for (int fan = 0; fan < plant_fan_count(p); fan += PLANT_GPUS) {
		int last = -1;
		for (int pwm = 0; pwm <= 255; pwm++) {
			plant_fan_set_pwm(p, fan, 255); /* from a turning fan */
			idle_for(p, 20);
			plant_fan_set_pwm(p, fan, pwm);
			idle_for(p, 20);
			int rpm = plant_fan_rpm(p, fan);
			assert_true(rpm >= last);
			last = rpm;
		}
		assert_int_equal(last, plant_fan_max_rpm(p, fan));
	}
	plant_free(p);
}

static void test_fan_api_errors(void **state)
{
	(void)state;
	struct plant *p = load_default();
	int n = plant_fan_count(p);
	assert_int_equal(plant_fan_set_pwm(p, 0, -1), -EINVAL);
	assert_int_equal(plant_fan_set_pwm(p, 0, 256), -EINVAL);
	assert_int_equal(plant_fan_set_pwm(p, -1, 100), -EINVAL);
	assert_int_equal(plant_fan_set_pwm(p, n, 100), -EINVAL);
	assert_int_equal(plant_fan_set_pwm(NULL, 0, 100), -EINVAL);
	assert_int_equal(plant_fan_rpm(p, n), -EINVAL);
	assert_int_equal(plant_fan_pwm(p, n), -EINVAL);
	assert_int_equal(plant_fan_stall(p, n, 1), -EINVAL);
	assert_int_equal(plant_fan_pwm(p, 3), 255); /* firmware's full speed */
	assert_int_equal(plant_fan_rpm(p, 3), plant_fan_max_rpm(p, 3));
	assert_int_equal(plant_fan_set_pwm(p, 3, 77), 0);
	assert_int_equal(plant_fan_pwm(p, 3), 77);
	plant_free(p);
}

static void test_fan_stall_and_restart(void **state)
{
	(void)state;
	struct plant *p = load_default();
	int fan = PLANT_GPUS;
	assert_int_equal(plant_fan_stall(p, fan, 1), 0);
	assert_int_equal(plant_fan_rpm(p, fan), 0); /* a locked rotor: at once */
	idle_for(p, 10);
	assert_int_equal(plant_fan_rpm(p, fan), 0);
	assert_true(plant_fan_dba(p, fan) == 0);
	plant_fan_set_pwm(p, fan, 50); /* between stop (40) and start (64) */
	assert_int_equal(plant_fan_stall(p, fan, 0), 0);
	idle_for(p, 10);
	assert_int_equal(plant_fan_rpm(p, fan), 0); /* cannot break away */
	plant_fan_set_pwm(p, fan, 255);
	idle_for(p, 10);
	assert_true(plant_fan_rpm(p, fan) > 0.99 * plant_fan_max_rpm(p, fan));
	plant_free(p);
}

/* ---- acoustics ----------------------------------------------------------- */

static void silence(struct plant *p)
{
	set_fans(p, 0, 0);
	idle_for(p, 120);
	for (int i = 0; i < plant_fan_count(p); i++)
		assert_int_equal(plant_fan_rpm(p, i), 0);
	assert_true(plant_dba(p) == 0);
}

static void test_one_fan_at_rated_rpm(void **state)
{
	(void)state;
	struct plant *p = load_default();
	silence(p);
	plant_fan_set_pwm(p, PLANT_GPUS, 255); /* chassis fans: 1500 rpm rated 25 dBA */
	idle_for(p, 60);
	assert_int_equal(plant_fan_rpm(p, PLANT_GPUS), 1500);
	assert_true(fabs(plant_dba(p) - 25) < 1e-6);
	assert_true(fabs(plant_fan_dba(p, PLANT_GPUS) - 25) < 1e-6);
	/* a second identical fan: +10 log10(2) = +3.01 dB */
	plant_fan_set_pwm(p, PLANT_GPUS + 1, 255);
	idle_for(p, 60);
	assert_true(fabs(plant_dba(p) - (25 + 3.0103)) < 1e-4);
	plant_free(p);

	assert_true(plant_fan_level(25, 1500, 1500) == 25);
	double two[] = {40, 40};
	assert_true(fabs(plant_dba_sum(two, 2) - 43.0103) < 1e-4);
}

static void test_half_rpm_is_15_dB_quieter(void **state)
{
	(void)state;
	/* A chassis fan whose rpm is 6 x pwm, so that pwm 250 and 125 give
	 * exactly its rated 1500 rpm and half of it. */
	char err[256] = "";
	const char *path = scratch_file("linear.conf",
					"[chassis_fan]\ncount = 1\nmax_rpm = 1530\nmin_rpm = 0\nstart_pwm = 0\n"
					"stop_pwm = 0\nrated_rpm = 1500\nrated_dba = 25\n",
					(size_t)-1);
	struct plant *p = plant_load(path, err, sizeof err);
	if (!p)
		fail_msg("%s", err);
	silence(p);
	plant_fan_set_pwm(p, PLANT_GPUS, 250);
	idle_for(p, 60);
	assert_int_equal(plant_fan_rpm(p, PLANT_GPUS), 1500);
	double full = plant_dba(p);
	plant_fan_set_pwm(p, PLANT_GPUS, 125);
	idle_for(p, 60);
	assert_int_equal(plant_fan_rpm(p, PLANT_GPUS), 750);
	assert_true(fabs(plant_dba(p) - full - (-15.0515)) < 1e-4);
	plant_free(p);

	assert_true(fabs(plant_fan_level(30, 2000, 1000) - (30 - 15.0515)) < 1e-4);
}

static void test_silence_is_zero(void **state)
{
	(void)state;
	struct plant *p = load_default();
	assert_true(plant_dba(p) > 40); /* everything at full speed */
	for (int i = 0; i < plant_fan_count(p); i++)
		plant_fan_stall(p, i, 1);
	assert_true(plant_dba(p) == 0);
	assert_true(plant_dba_sum(NULL, 0) == 0);
	assert_true(plant_fan_level(25, 1500, 0) == -HUGE_VAL);
	double none[] = {-HUGE_VAL, -HUGE_VAL};
	assert_true(plant_dba_sum(none, 2) == 0);
	plant_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_temps_rise_with_power),
		cmocka_unit_test(test_temps_fall_with_airflow),
		cmocka_unit_test(test_temps_lag_power),
		cmocka_unit_test(test_step_size_does_not_matter),
		cmocka_unit_test(test_full_power_full_fans_under_limits),
		cmocka_unit_test(test_idle_near_ambient),
		cmocka_unit_test(test_cools_to_ambient),
		cmocka_unit_test(test_stalled_fan_heats),
		cmocka_unit_test(test_bad_inputs_are_harmless),
		cmocka_unit_test(test_fan_start_stop_hysteresis),
		cmocka_unit_test(test_fan_spin_up_lag),
		cmocka_unit_test(test_fan_rpm_monotonic_in_pwm),
		cmocka_unit_test(test_fan_api_errors),
		cmocka_unit_test(test_fan_stall_and_restart),
		cmocka_unit_test(test_one_fan_at_rated_rpm),
		cmocka_unit_test(test_half_rpm_is_15_dB_quieter),
		cmocka_unit_test(test_silence_is_zero),
	};
	return cmocka_run_group_tests_name("plant model", tests, scratch_setup, scratch_teardown);
}
