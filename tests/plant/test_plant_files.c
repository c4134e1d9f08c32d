/* libtbplant's files: the config (the documented appliance.conf equals the
 * built-in default; bad files are refused with FILE:LINE: reason) and heat
 * traces (exact header, every bad row refused with its line).  Random
 * damage to either never crashes the parser. */
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

#include "sim/plant/internal.h"
#include "tests/plant/util.h"

/* ---- config -------------------------------------------------------------- */

static void test_default_appliance(void **state)
{
	(void)state;
	char err[256] = "";
	struct plant *p = plant_load(NULL, err, sizeof err);
	assert_non_null(p);
	assert_int_equal(plant_fan_count(p), PLANT_GPUS + 8);
	assert_string_equal(plant_fan_name(p, 0), "gpu0");
	assert_string_equal(plant_fan_name(p, 5), "gpu5");
	assert_string_equal(plant_fan_name(p, 6), "chassis0");
	assert_string_equal(plant_fan_name(p, 13), "chassis7");
	assert_null(plant_fan_name(p, 14));
	assert_null(plant_fan_name(p, -1));
	assert_int_equal(plant_nvme_count(p), 4);
	assert_int_equal(plant_sensor_count(p), 3 * PLANT_GPUS + 1 + 4);
	double c;
	assert_int_equal(plant_temp_limit(p, "gpu3", "junction", &c), 0);
	assert_true(c == 110);
	assert_int_equal(plant_temp_limit(p, "nvme3", "composite", &c), 0);
	assert_true(c == 70);
	/* every listed sensor is readable, starting at the ambient */
	for (int i = 0; i < plant_sensor_count(p); i++) {
		const char *comp, *kind;
		assert_int_equal(plant_sensor(p, i, &comp, &kind), 0);
		assert_true(temp(p, comp, kind) == 25);
	}
	assert_int_equal(plant_sensor(p, plant_sensor_count(p), NULL, NULL), -ENOENT);
	plant_free(p);
}

static void test_unknown_sensors(void **state)
{
	(void)state;
	struct plant *p = plant_load(NULL, NULL, 0);
	double c;
	const char *bad[][2] = {{"gpu6", "edge"},    {"gpu0", "tctl"},   {"gpu", "edge"},      {"gpu00", "edge"},
				{"cpu", "edge"},     {"nvme4", "composite"}, {"nvme0", "junction"}, {"", ""},
				{"gpu-1", "edge"},   {"GPU0", "edge"}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(plant_temp(p, bad[i][0], bad[i][1], &c), -ENOENT);
		assert_int_equal(plant_temp_limit(p, bad[i][0], bad[i][1], &c), -ENOENT);
	}
	assert_int_equal(plant_temp(p, NULL, "edge", &c), -ENOENT);
	assert_int_equal(plant_temp(p, "gpu0", NULL, &c), -ENOENT);
	assert_int_equal(plant_temp(NULL, "gpu0", "edge", &c), -ENOENT);
	plant_free(p);
}

/* Everything observable of two plants, after the same history. */
static void assert_same_plant(struct plant *a, struct plant *b)
{
	assert_int_equal(plant_fan_count(a), plant_fan_count(b));
	assert_int_equal(plant_sensor_count(a), plant_sensor_count(b));
	for (int i = 0; i < plant_fan_count(a); i++) {
		assert_int_equal(plant_fan_rpm(a, i), plant_fan_rpm(b, i));
		assert_int_equal(plant_fan_min_rpm(a, i), plant_fan_min_rpm(b, i));
		assert_int_equal(plant_fan_max_rpm(a, i), plant_fan_max_rpm(b, i));
		assert_true(plant_fan_dba(a, i) == plant_fan_dba(b, i));
	}
	for (int i = 0; i < plant_sensor_count(a); i++) {
		const char *comp, *kind;
		double la, lb;
		assert_int_equal(plant_sensor(a, i, &comp, &kind), 0);
		assert_true(temp(a, comp, kind) == temp(b, comp, kind));
		assert_int_equal(plant_temp_limit(a, comp, kind, &la), 0);
		assert_int_equal(plant_temp_limit(b, comp, kind, &lb), 0);
		assert_true(la == lb);
	}
	assert_true(plant_dba(a) == plant_dba(b));
}

/* Drive both plants through the same varied history: every parameter shows
 * in some reading (fan curves, lags, masses, conductances, limits). */
static void run_same(struct plant *a, struct plant *b)
{
	static const int pwm[] = {255, 45, 30, 60, 120, 200, 0, 255};
	for (size_t k = 0; k < sizeof pwm / sizeof pwm[0]; k++) {
		struct plant_inputs in = inputs(40.0 * (double)k + 10, 25.0 * (double)k, 4.0 * (double)k, 20 + (double)k);
		in.gpu_w[2] = 355;
		for (int i = 0; i < plant_fan_count(a); i++) {
			int duty = pwm[(k + (size_t)i) % (sizeof pwm / sizeof pwm[0])];
			assert_int_equal(plant_fan_set_pwm(a, i, duty), 0);
			assert_int_equal(plant_fan_set_pwm(b, i, duty), 0);
		}
		for (int s = 0; s < 120; s++) {
			plant_step(a, 0.5, &in);
			plant_step(b, 0.5, &in);
		}
		assert_same_plant(a, b);
	}
}

static void test_appliance_conf_equals_default(void **state)
{
	(void)state;
	char err[256] = "";
	struct plant *def = plant_load(NULL, err, sizeof err);
	struct plant *conf = plant_load(source_path("sim/plant/appliance.conf"), err, sizeof err);
	if (!conf)
		fail_msg("appliance.conf: %s", err);
	assert_non_null(def);
	run_same(def, conf);
	plant_free(def);
	plant_free(conf);
}

/* The documented file sets every key (none silently left to the built-in). */
static void test_appliance_conf_documents_every_key(void **state)
{
	(void)state;
	FILE *f = fopen(source_path("sim/plant/appliance.conf"), "r");
	assert_non_null(f);
	char line[1024];
	size_t keys = 0;
	while (fgets(line, sizeof line, f)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (strchr(line, '='))
			keys++;
	}
	fclose(f);
	assert_int_equal(keys, plant_params_key_count());
}

static void test_partial_file_keeps_defaults(void **state)
{
	(void)state;
	char err[256] = "";
	const char *path = scratch_file("partial.conf", "# hotter room\r\n[ambient]\r\n  temperature_c=35  # C\r\n\n"
						       "[chassis_fan]\ncount = 3\n", (size_t)-1);
	struct plant *p = plant_load(path, err, sizeof err);
	if (!p)
		fail_msg("%s", err);
	assert_true(temp(p, "gpu0", "edge") == 35);
	assert_int_equal(plant_fan_count(p), PLANT_GPUS + 3);
	double c;
	assert_int_equal(plant_temp_limit(p, "gpu0", "mem", &c), 0);
	assert_true(c == 100);
	plant_free(p);
}

/* A bad config: NULL, and err is "PATH:LINE: ..." containing why. */
static void expect_bad_conf(const char *text, size_t len, int line, const char *why)
{
	char err[512] = "", prefix[600];
	const char *path = scratch_file("bad.conf", text, len);
	struct plant *p = plant_load(path, err, sizeof err);
	if (p) {
		plant_free(p);
		fail_msg("accepted a bad config: %s", text);
	}
	snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, why))
		fail_msg("error '%s', expected '%s...%s'", err, prefix, why);
}

static void test_bad_configs(void **state)
{
	(void)state;
	const size_t S = (size_t)-1;
	expect_bad_conf("[gpu]\nmax_power_w = 300\n[fans]\n", S, 3, "unknown section [fans]");
	expect_bad_conf("[gpu]\nmax_power = 300\n", S, 2, "unknown key 'max_power'");
	expect_bad_conf("[cpu]\n\n# c\nmax_power_w = abc\n", S, 4, "not a number");
	expect_bad_conf("[cpu]\nmax_power_w = 12abc\n", S, 2, "not a number");
	expect_bad_conf("[cpu]\nmax_power_w = nan\n", S, 2, "not a number");
	expect_bad_conf("[cpu]\nmax_power_w = inf\n", S, 2, "not a number");
	expect_bad_conf("[cpu]\nmax_power_w =\n", S, 2, "not a number");
	expect_bad_conf("[cpu]\nmax_power_w = 1e400\n", S, 2, "not a number");
	expect_bad_conf("[gpu]\nmax_power_w = -5\n", S, 2, "out of range");
	expect_bad_conf("[gpu_fan]\nstart_pwm = 256\n", S, 2, "out of range");
	expect_bad_conf("[gpu]\nmax_power_w 300\n", S, 2, "expected 'key = value'");
	expect_bad_conf("[gpu]\n= 300\n", S, 2, "missing key");
	expect_bad_conf("max_power_w = 300\n", S, 1, "outside a [section]");
	expect_bad_conf("[gpu]\nmax_power_w = 300\n[cpu]\n[gpu]\nmax_power_w = 200\n", S, 5, "duplicate key");
	expect_bad_conf("[gpu\n", S, 1, "without ']'");
	expect_bad_conf("[nvme]\ncount = 4.5\n", S, 2, "whole number");
	expect_bad_conf("[nvme]\ncount = 9\n", S, 2, "out of range");
	expect_bad_conf("[chassis_fan]\nstop_pwm = 30\n\nstart_pwm = 20\n", S, 4, "stop_pwm");
	expect_bad_conf("[gpu_fan]\nmax_rpm = 1000\nmin_rpm = 2000\n", S, 3, "min_rpm");
	expect_bad_conf("[gpu]\nmem_fraction = 0.6\nvrm_fraction = 0.5\n", S, 3, "exceeds 1");
	expect_bad_conf("[gpu]\nedge_to_sink_k_per_w = 1\n", S, 2, "edge_to_sink");
	expect_bad_conf("[gpu]\nchassis_share = 0.2\n", S, 2, "chassis_share");
	expect_bad_conf("[gpu]\nmax_power_w = 3\0" "00\n", 23, 2, "NUL byte");

	char longline[3000];
	memset(longline, ' ', sizeof longline);
	memcpy(longline, "[gpu]\n", 6);
	longline[sizeof longline - 1] = '\n';
	expect_bad_conf(longline, sizeof longline, 2, "longer than");

	/* an unreadable file is line 0 */
	char err[256] = "";
	assert_null(plant_load("/nonexistent/plant.conf", err, sizeof err));
	assert_string_equal(strstr(err, "/nonexistent/plant.conf:0: ") ? "ok" : err, "ok");
	/* a short or absent error buffer is respected */
	char tiny[8];
	memset(tiny, 'x', sizeof tiny);
	assert_null(plant_load("/nonexistent/plant.conf", tiny, sizeof tiny));
	assert_int_equal(strlen(tiny), sizeof tiny - 1);
	assert_null(plant_load("/nonexistent/plant.conf", NULL, 0));
}

/* What is not a small regular file is refused before it is read, with the
 * limit it broke; nothing blocks, nothing grows. */
static void test_hostile_files(void **state)
{
	(void)state;
	struct hostile h[HOSTILE_FILES];
	hostile_files(h);
	for (int i = 0; i < HOSTILE_FILES; i++) {
		char err[512] = "";
		assert_null(plant_load(h[i].path, err, sizeof err));
		expect_refused(&h[i], err);
		assert_null(plant_trace_load(h[i].path, err, sizeof err));
		expect_refused(&h[i], err);
	}
}

/* Deterministic pseudo-random damage to a good file. */
static unsigned next_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static void damage(char *buf, size_t len, unsigned *seed)
{
	static const char junk[] = "=[]#\n\r\0-+.e9 x,";
	int edits = 1 + (int)(next_rand(seed) % 4);
	for (int e = 0; e < edits; e++)
		buf[next_rand(seed) % len] = junk[next_rand(seed) % (sizeof junk - 1)];
}

static void test_damaged_configs_never_crash(void **state)
{
	(void)state;
	size_t len;
	char *good = read_whole(source_path("sim/plant/appliance.conf"), &len);
	char *buf = malloc(len);
	assert_non_null(buf);
	unsigned seed = 12345;
	for (int i = 0; i < 400; i++) {
		memcpy(buf, good, len);
		damage(buf, len, &seed);
		size_t n = i % 5 == 0 ? next_rand(&seed) % len : len; /* sometimes truncated */
		const char *path = scratch_file("fuzz.conf", buf, n);
		char err[256] = "";
		struct plant *p = plant_load(path, err, sizeof err);
		if (p) {
			struct plant_inputs in = inputs(355, 225, 36, 25);
			plant_step(p, 1, &in);
			assert_true(isfinite(temp(p, "gpu0", "junction")));
			plant_free(p);
		} else {
			assert_int_equal(strncmp(err, path, strlen(path)), 0);
			assert_true(err[strlen(path)] == ':');
		}
	}
	free(buf);
	free(good);
}

/* ---- traces -------------------------------------------------------------- */

#define HEADER "t_s,gpu0_w,gpu1_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w,ambient_c\n"

static void test_trace_good(void **state)
{
	(void)state;
	char err[256] = "";
	const char *path = scratch_file("good.csv",
					HEADER "0,10,11,12,13,14,15,50,4,25\n"
					       "2.5,355,355,355,355,355,355,225,36,25\r\n"
					       "10,0,0,0,0,0,0,0,0,35\n",
					(size_t)-1);
	struct plant_trace *t = plant_trace_load(path, err, sizeof err);
	if (!t)
		fail_msg("%s", err);
	assert_true(plant_trace_duration(t) == 10);
	struct plant_inputs in;
	plant_trace_at(t, -1, &in);
	assert_true(in.gpu_w[0] == 10 && in.gpu_w[5] == 15 && in.cpu_w == 50 && in.nvme_w == 4);
	plant_trace_at(t, 0, &in);
	assert_true(in.gpu_w[3] == 13);
	plant_trace_at(t, 2.4999, &in);
	assert_true(in.gpu_w[3] == 13);
	plant_trace_at(t, 2.5, &in);
	assert_true(in.gpu_w[3] == 355 && in.cpu_w == 225 && in.nvme_w == 36 && in.ambient_c == 25);
	plant_trace_at(t, 9.99, &in);
	assert_true(in.gpu_w[0] == 355);
	plant_trace_at(t, 10, &in);
	assert_true(in.gpu_w[0] == 0 && in.ambient_c == 35);
	plant_trace_at(t, 1e9, &in);
	assert_true(in.ambient_c == 35);
	plant_trace_at(t, NAN, &in);
	assert_true(in.gpu_w[0] == 10);
	plant_trace_free(t);
	plant_trace_free(NULL);
}

/* Replaying with any step size applies each row over exactly its interval. */
static void test_trace_replay(void **state)
{
	(void)state;
	char err[256] = "";
	const char *path = scratch_file("replay.csv",
					HEADER "0,10,10,10,10,10,10,50,4,25\n"
					       "2.5,355,300,355,355,355,355,225,36,25\n"
					       "7.25,0,0,0,0,0,0,0,0,30\n",
					(size_t)-1);
	struct plant_trace *t = plant_trace_load(path, err, sizeof err);
	if (!t)
		fail_msg("%s", err);
	struct plant *by_trace = plant_load(NULL, NULL, 0), *by_hand = plant_load(NULL, NULL, 0);
	for (int i = 0; i < 12; i++)
		plant_step_trace(by_trace, t, 1);
	struct plant_inputs in;
	const double times[] = {0, 2.5, 7.25, 12};
	for (int r = 0; r < 3; r++) {
		plant_trace_at(t, times[r], &in);
		plant_step(by_hand, times[r + 1] - times[r], &in);
	}
	assert_true(fabs(plant_time(by_trace) - 12) < 1e-9);
	for (int i = 0; i < plant_sensor_count(by_hand); i++) {
		const char *comp, *kind;
		assert_int_equal(plant_sensor(by_hand, i, &comp, &kind), 0);
		assert_true(fabs(temp(by_trace, comp, kind) - temp(by_hand, comp, kind)) < 0.05);
	}
	assert_true(temp(by_trace, "gpu0", "junction") > temp(by_trace, "gpu1", "junction"));
	plant_step_trace(by_trace, t, -1);
	plant_step_trace(by_trace, NULL, 1);
	assert_true(fabs(plant_time(by_trace) - 12) < 1e-9);
	plant_free(by_trace);
	plant_free(by_hand);
	plant_trace_free(t);
}

static void expect_bad_trace(const char *text, size_t len, int line, const char *why)
{
	char err[512] = "", prefix[600];
	const char *path = scratch_file("bad.csv", text, len);
	struct plant_trace *t = plant_trace_load(path, err, sizeof err);
	if (t) {
		plant_trace_free(t);
		fail_msg("accepted a bad trace: %s", text);
	}
	snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, why))
		fail_msg("error '%s', expected '%s...%s'", err, prefix, why);
}

static void test_trace_bad(void **state)
{
	(void)state;
	const size_t S = (size_t)-1;
	const char *row = "0,1,1,1,1,1,1,1,1,25\n";
	char buf[512];
	expect_bad_trace("", S, 1, "no header");
	expect_bad_trace(HEADER, S, 2, "no rows");
	/* the header is exact: order, spaces, case, missing or extra columns */
	const char *headers[] = {
		"t_s,gpu1_w,gpu0_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w,ambient_c\n",
		"t_s, gpu0_w,gpu1_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w,ambient_c\n",
		"T_S,gpu0_w,gpu1_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w,ambient_c\n",
		"t_s,gpu0_w,gpu1_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w\n",
		"t_s,gpu0_w,gpu1_w,gpu2_w,gpu3_w,gpu4_w,gpu5_w,cpu_w,nvme_w,ambient_c,x\n",
		"0,1,1,1,1,1,1,1,1,25\n",
	};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		snprintf(buf, sizeof buf, "%s%s", headers[i], row);
		expect_bad_trace(buf, S, 1, "header must be exactly");
	}
	expect_bad_trace(HEADER "1,1,1,1,1,1,1,1,1,25\n", S, 2, "first row must be at t_s = 0");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,1,1,25\n5,1,1,1,1,1,1,1,1,25\n5,1,1,1,1,1,1,1,1,25\n", S, 4,
			 "does not increase");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,1,1,25\n5,1,1,1,1,1,1,1,1,25\n4,1,1,1,1,1,1,1,1,25\n", S, 4,
			 "does not increase");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,1,1\n", S, 2, "9 columns, expected 10");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,1,1,25,3\n", S, 2, "more than 10 columns");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,1,1,25\n\n", S, 3, "1 column, expected 10");
	expect_bad_trace(HEADER "0,1,1,x,1,1,1,1,1,25\n", S, 2, "gpu2_w: not a number");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,1,,25\n", S, 2, "nvme_w: not a number");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,nan,1,25\n", S, 2, "cpu_w: not a number");
	expect_bad_trace(HEADER "0,1,1,1,1,1,-1,1,1,25\n", S, 2, "gpu5_w = -1 is out of range");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,1,1,95\n", S, 2, "ambient_c = 95");
	expect_bad_trace(HEADER "0,1,1,1,1,1,1,1,1,2\0" "5\n", sizeof HEADER - 1 + 21, 2, "NUL byte");

	char err[256] = "";
	assert_null(plant_trace_load("/nonexistent/trace.csv", err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/trace.csv:0: "));
	assert_null(plant_trace_load(NULL, NULL, 0));
}

static void test_damaged_traces_never_crash(void **state)
{
	(void)state;
	char good[4096];
	size_t len = (size_t)snprintf(good, sizeof good, HEADER);
	for (int r = 0; r < 40; r++)
		len += (size_t)snprintf(good + len, sizeof good - len, "%d.%d,%d,300,200,100,50,0,%d,12.5,%d\n", r,
					r ? 5 : 0, r * 8, 100 + r, 20 + r % 10);
	char buf[4096];
	unsigned seed = 777;
	for (int i = 0; i < 400; i++) {
		memcpy(buf, good, len);
		damage(buf, len, &seed);
		size_t n = i % 5 == 0 ? next_rand(&seed) % len : len;
		const char *path = scratch_file("fuzz.csv", buf, n);
		char err[256] = "";
		struct plant_trace *t = plant_trace_load(path, err, sizeof err);
		if (t) {
			struct plant_inputs in;
			plant_trace_at(t, plant_trace_duration(t) / 2, &in);
			assert_true(isfinite(in.ambient_c));
			plant_trace_free(t);
		} else {
			assert_int_equal(strncmp(err, path, strlen(path)), 0);
			assert_true(err[strlen(path)] == ':');
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_appliance),
		cmocka_unit_test(test_unknown_sensors),
		cmocka_unit_test(test_appliance_conf_equals_default),
		cmocka_unit_test(test_appliance_conf_documents_every_key),
		cmocka_unit_test(test_partial_file_keeps_defaults),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_damaged_configs_never_crash),
		cmocka_unit_test(test_hostile_files),
		cmocka_unit_test(test_trace_good),
		cmocka_unit_test(test_trace_replay),
		cmocka_unit_test(test_trace_bad),
		cmocka_unit_test(test_damaged_traces_never_crash),
	};
	return cmocka_run_group_tests_name("plant files", tests, scratch_setup, scratch_teardown);
}
