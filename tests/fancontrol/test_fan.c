/* tb-fand's core against the thermal plant, in plant time: the shipped
 * config loads and bad ones are refused with FILE:LINE; a removed, frozen
 * or implausible sensor and a stalled fan put the affected fans at the
 * failsafe duty within 1 s; and the standard traces meet the issue's
 * targets (idle <= 38 dBA, six GPUs at the cap <= 45 dBA, never above a
 * limit, quieter and no more audible changes than both baselines). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim/fanbench/fanbench.h"
#include "tests/plant/util.h"

static char conf_path[512];

static const char *src(const char *rel)
{
	static char buf[512];
	const char *s = getenv("TB_SRC");
	snprintf(buf, sizeof buf, "%s/%s", s && *s ? s : TB_SRC_DIR, rel);
	return buf;
}

static struct fc_config *shipped(void)
{
	static struct fc_config cfg;
	char err[512];
	snprintf(conf_path, sizeof conf_path, "%s", src("fancontrol/tb-fand.conf"));
	int rc = fc_config_load(conf_path, &cfg, err, sizeof err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	return &cfg;
}

/* ---- config ----------------------------------------------------------------------------------- */

static void test_shipped_config(void **state)
{
	(void)state;
	struct fc_config *c = shipped();
	assert_int_equal(c->nfans, 7);
	assert_int_equal(c->nzones, 17);
	assert_true(c->fan[0].shared);
	assert_int_equal(c->fan[0].nmembers, 8);
	assert_string_equal(c->sensor[c->zone[0].sensor].chip, "amdgpu-pci-0300");
	assert_string_equal(c->sensor[c->zone[0].sensor].label, "junction");
}

/* The file, and the error it must give (prefix after "FILE:"). */
static void expect_error(const char *text, const char *want)
{
	char path[] = "/tmp/tbfan-conf.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	static struct fc_config cfg;
	char err[512] = "", full[600];
	int rc = fc_config_load(path, &cfg, err, sizeof err);
	unlink(path);
	snprintf(full, sizeof full, "%s:%s", path, want);
	if (rc != -EINVAL || strncmp(err, full, strlen(full)))
		print_error("config:\n%s\nexpected '%s', got '%s'\n", text, full, err);
	assert_int_equal(rc, -EINVAL);
	assert_true(strncmp(err, full, strlen(full)) == 0);
}

#define FAN "[fan f]\nactuator = hwmon nct6798-isa-0290 1\n"
#define ZONE "[zone z]\nsensor = k10temp-pci-00c3/Tctl\nlimit_c = 90\nfans = f\n"

static void test_config_errors(void **state)
{
	(void)state;
	expect_error("[daemon]\ninterval_s = 5\n" FAN ZONE, "2: interval_s = 5 is out of range");
	expect_error("[daemon]\nbogus = 1\n", "2: unknown key 'bogus' in [daemon]");
	expect_error("[fans f]\n", "1: unknown section [fans]");
	expect_error(FAN "min_rpm = fast\n" ZONE, "3: min_rpm: not a number: 'fast'");
	expect_error(FAN ZONE "[zone y]\nsensor = junction\n", "8: sensor 'junction' is not CHIP/LABEL");
	expect_error(FAN "[zone z]\nlimit_c = 90\nfans = g\n", "5: unknown fan 'g'");
	expect_error(FAN "[zone z]\nlimit_c = 90\nfans = f\n", "3: [zone z] has no sensor");
	expect_error("[fan f]\nactuator = pwm 1\n", "2: actuator must be");
	expect_error("[fan f]\nactuator = command\n" ZONE, "1: [fan f] actuator command needs set_command");
	expect_error("[fan f]\nactuator = command\nset_command = ipmitool raw 0x30\n",
		     "3: set_command needs exactly one %d");
	expect_error(FAN "stop_pwm = 100\n" ZONE, "1: [fan f] stop_pwm is above start_pwm");
	expect_error(FAN "[fan f]\n", "3: duplicate [fan f]");
	expect_error(FAN, "2: no [zone NAME] sections");
	expect_error(FAN ZONE "[fan g]\nactuator = amdgpu amdgpu-pci-0300\n", "8: [fan g] cools no zone");
	expect_error("just words\n", "1: expected 'key = value'");
	assert_int_equal(fc_config_load("/nonexistent/tb-fand.conf", &(struct fc_config){0}, NULL, 0), -EINVAL);
}

/* The config and the calibration file: what is not a small regular file
 * is refused before it is read, naming the limit (tb-fand --check --config
 * /dev/zero used to read forever). */
static void test_hostile_files(void **state)
{
	(void)state;
	struct hostile h[HOSTILE_FILES];
	hostile_files(h);
	static struct fc_config cfg;
	for (int i = 0; i < HOSTILE_FILES; i++) {
		char err[512] = "";
		assert_int_equal(fc_config_load(h[i].path, &cfg, err, sizeof err), -EINVAL);
		expect_refused(&h[i], err);
		struct fc_config *c = shipped();
		assert_int_equal(fc_calibration_apply(c, h[i].path, err, sizeof err), -EINVAL);
		expect_refused(&h[i], err);
	}
}

/* ---- failsafe on the plant ---------------------------------------------------------------------- */

struct rig {
	struct plant *p;
	struct plant_trace *t;
	struct fc_plant_io pio;
	struct fc_ctl ctl;
	struct fc_io io;
	int logs;
};

static void count_log(void *ctx, const char *msg)
{
	(void)msg;
	((struct rig *)ctx)->logs++;
}

static struct rig *rig_new(const char *trace)
{
	struct rig *r = calloc(1, sizeof *r);
	char err[512];
	r->p = plant_load(NULL, err, sizeof err);
	r->t = plant_trace_load(src(trace), err, sizeof err);
	assert_non_null(r->p);
	assert_non_null(r->t);
	struct fc_config *cfg = shipped();
	assert_int_equal(fc_plant_io_init(&r->pio, r->p, r->t, cfg, err, sizeof err), 0);
	fc_init(&r->ctl, cfg, FC_POLICY_ACOUSTIC, count_log, r);
	r->io = fc_plant_io(&r->pio);
	return r;
}

static void rig_run(struct rig *r, double seconds)
{
	double dt = r->ctl.cfg.interval_s;
	for (double s = 0; s < seconds - 1e-9; s += dt) {
		fc_tick(&r->ctl, &r->io, plant_time(r->p));
		plant_step_trace(r->p, r->t, dt);
	}
}

static void rig_free(struct rig *r)
{
	plant_free(r->p);
	plant_trace_free(r->t);
	free(r);
}

/* fan indices in the shipped config: chassis 0, gpuN N+1; plant fans: gpuN N, chassisK 6+K */
static void assert_failsafe_gpu(struct rig *r, int gpu)
{
	assert_int_equal(plant_fan_pwm(r->p, gpu), 255);
	for (int k = 0; k < 8; k++)
		assert_int_equal(plant_fan_pwm(r->p, PLANT_GPUS + k), 255);
	assert_true(r->ctl.fan[gpu + 1].failsafe);
	assert_true(r->logs > 0);
}

static void test_failsafe_sensor_removed(void **state)
{
	(void)state;
	struct rig *r = rig_new("fancontrol/traces/idle.csv");
	rig_run(r, 120);
	assert_true(plant_fan_pwm(r->p, 3) < 100);
	assert_int_equal(fc_plant_io_remove(&r->pio, "amdgpu-pci-6300/junction"), 0);
	rig_run(r, 1.0);
	assert_failsafe_gpu(r, 3);
	assert_int_equal(r->ctl.zone[6].fault, FC_MISSING);
	/* the other GPUs keep their quiet duty */
	assert_true(plant_fan_pwm(r->p, 0) < 100);
	rig_free(r);
}

/* tb fan status shows no temperature for a sensor that is gone: not its
 * last reading, not 0 (JSON null, "-" in the table). */
static void test_status_of_a_missing_sensor(void **state)
{
	(void)state;
	struct rig *r = rig_new("fancontrol/traces/idle.csv");
	rig_run(r, 5);
	static char json[32768], text[32768];
	assert_true(fc_status_json(&r->ctl, json, sizeof json) > 0);
	assert_non_null(strstr(json, "\"sensor\":\"amdgpu-pci-6300/junction\",\"temp_c\":"));
	assert_null(strstr(json, "\"sensor\":\"amdgpu-pci-6300/junction\",\"temp_c\":null"));
	assert_int_equal(fc_plant_io_remove(&r->pio, "amdgpu-pci-6300/junction"), 0);
	rig_run(r, 1);
	assert_true(fc_status_json(&r->ctl, json, sizeof json) > 0);
	if (!strstr(json, "\"sensor\":\"amdgpu-pci-6300/junction\",\"temp_c\":null"))
		fail_msg("no null temperature for the missing sensor: %s", json);
	assert_true(fc_status_text(&r->ctl, text, sizeof text) > 0);
	const char *row = strstr(text, "amdgpu-pci-6300/junction");
	assert_non_null(row);
	char temp[16] = "";
	assert_int_equal(sscanf(row, "%*s %15s", temp), 1);
	assert_string_equal(temp, "-");
	rig_free(r);
}

static void test_failsafe_sensor_frozen(void **state)
{
	(void)state;
	/* frozen at idle while its GPU goes to full power: stale once stale_s passed */
	struct rig *r = rig_new("fancontrol/traces/one_gpu_burst.csv");
	struct plant_inputs in;
	double t = 0;
	do /* into the first idle gap */
		plant_trace_at(r->t, t += 1, &in);
	while (in.gpu_w[0] > 100);
	rig_run(r, t + 1);
	assert_int_equal(fc_plant_io_freeze(&r->pio, "amdgpu-pci-0300/junction"), 0);
	assert_int_equal(fc_plant_io_freeze(&r->pio, "amdgpu-pci-0300/mem"), 0);
	do /* to the next burst */
		plant_trace_at(r->t, t += 0.5, &in);
	while (in.gpu_w[0] < 100);
	rig_run(r, t - plant_time(r->p) + r->ctl.cfg.stale_s + 1.0);
	assert_failsafe_gpu(r, 0);
	assert_int_equal(r->ctl.zone[0].fault, FC_STALE);
	rig_free(r);
}

static void test_failsafe_fan_stalled(void **state)
{
	(void)state;
	struct rig *r = rig_new("fancontrol/traces/idle.csv");
	rig_run(r, 120);
	assert_int_equal(plant_fan_stall(r->p, 1, 1), 0);
	rig_run(r, 1.0);
	assert_failsafe_gpu(r, 1);
	assert_int_equal(r->ctl.fan[2].fault, FC_STALLED);
	/* recovery: the stall ends, the controller takes the fans back down */
	assert_int_equal(plant_fan_stall(r->p, 1, 0), 0);
	rig_run(r, 120);
	assert_false(r->ctl.fan[2].failsafe);
	assert_true(plant_fan_pwm(r->p, 1) < 100);
	assert_true(plant_fan_rpm(r->p, 1) > 0);
	rig_free(r);
}

/* A slow path to the fans, as a busy box or a slow bus gives: each
 * tachometer reading is the one of tach_lag_s ago, and a write only sets a
 * register that the fan's controller samples every sample_s (as the box's
 * firmware applies the committed fan curve at its refresh, which a loaded
 * box runs late): a value overwritten before the next sample never reaches
 * the fan.  Other sensors pass straight through. */
#define LAG_SLOTS 64
struct lagged {
	struct rig *r;
	double tach_lag_s, sample_s;
	double t[FC_MAX_SENSORS][LAG_SLOTS], v[FC_MAX_SENSORS][LAG_SLOTS];
	int n[FC_MAX_SENSORS];
	int reg[FC_MAX_FANS];			/* -1: not written */
	double next_sample;
};

static void lagged_land_writes(struct lagged *l)
{
	for (; l->sample_s > 0 && plant_time(l->r->p) >= l->next_sample; l->next_sample += l->sample_s)
		for (int f = 0; f < l->r->ctl.cfg.nfans; f++)
			if (l->reg[f] >= 0)
				assert_int_equal(l->r->io.ops->set_pwm(l->r->io.ctx, f, l->reg[f]), 0);
}

static int lagged_read(void *ctx, int i, double *v)
{
	struct lagged *l = ctx;
	lagged_land_writes(l);
	int rc = l->r->io.ops->read(l->r->io.ctx, i, v);
	if (rc < 0 || l->r->ctl.cfg.sensor[i].kind != FC_SENSOR_FAN || l->tach_lag_s <= 0)
		return rc;
	double now = plant_time(l->r->p);
	int k = l->n[i]++ % LAG_SLOTS;
	l->t[i][k] = now, l->v[i][k] = *v;
	double seen = -1; /* before the first old enough sample: standing still */
	for (int j = 0; j < LAG_SLOTS && j < l->n[i]; j++)
		if (l->t[i][j] <= now - l->tach_lag_s && l->t[i][j] >= seen)
			seen = l->t[i][j], *v = l->v[i][j];
	if (seen < 0)
		*v = 0;
	return 0;
}

static int lagged_set(void *ctx, int f, int pwm)
{
	struct lagged *l = ctx;
	if (l->sample_s <= 0)
		return l->r->io.ops->set_pwm(l->r->io.ctx, f, pwm);
	l->reg[f] = pwm;
	return 0;
}

static int lagged_release(void *ctx, int f)
{
	struct lagged *l = ctx;
	return l->r->io.ops->release(l->r->io.ctx, f);
}

enum takeover { STANDSTILL_SLOW_TACH, COASTING_LATE_WRITES, REAL_STALL };

/* Take over the GPU fans from firmware's zero-rpm mode through a slow path
 * and run 10 s; whether any fan went to the failsafe duty. */
static bool takeover(enum takeover how, struct rig **out)
{
	static const struct fc_io_ops lagged_ops = {lagged_read, lagged_set, lagged_release};
	struct rig *r = rig_new("fancontrol/traces/idle.csv");
	struct lagged *l = calloc(1, sizeof *l);
	assert_non_null(l);
	l->r = r;
	for (int f = 0; f < FC_MAX_FANS; f++)
		l->reg[f] = -1;
	l->tach_lag_s = how == COASTING_LATE_WRITES ? 0 : 1.5;
	l->sample_s = how == COASTING_LATE_WRITES ? 2.0 : 0;
	struct fc_io io = {&lagged_ops, l};
	for (int g = 0; g < PLANT_GPUS; g++)
		assert_int_equal(plant_fan_set_pwm(r->p, g, 0), 0);
	if (how == REAL_STALL)
		assert_int_equal(plant_fan_stall(r->p, 2, 1), 0);
	struct plant_inputs in;
	plant_trace_at(r->t, 0, &in);
	/* standing still, or cut a moment ago and coasting down */
	plant_step(r->p, how == COASTING_LATE_WRITES ? 0.5 : 60, &in);
	if (how == COASTING_LATE_WRITES)
		assert_true(plant_fan_rpm(r->p, 0) > 0);
	else
		assert_int_equal(plant_fan_rpm(r->p, 0), 0);
	double dt = r->ctl.cfg.interval_s, t0 = plant_time(r->p);
	l->next_sample = t0 + l->sample_s;
	bool failsafe = false;
	while (plant_time(r->p) - t0 < 10) {
		fc_tick(&r->ctl, &io, plant_time(r->p));
		for (int f = 0; f < r->ctl.cfg.nfans; f++)
			failsafe |= r->ctl.fan[f].failsafe;
		plant_step_trace(r->p, r->t, dt);
	}
	lagged_land_writes(l);
	free(l);
	*out = r;
	return failsafe;
}

/* Taking over GPU fans that firmware holds in zero-rpm mode through a slow
 * path is no stall: not a fan kick-started from standstill whose
 * tachometer is late, not one still coasting down from firmware's speed
 * whose kick is taken late; there is no failsafe duty and the chassis fans
 * go straight to their stop duty.  (Judging a fan after a grace that a slow
 * step or a late reading used up, or taking the coasting rotor's reading
 * for a started fan and lowering the duty below the start duty before the
 * kick was taken, put every fan at the failsafe duty on a loaded box:
 * fand.sh's idle chassis duty.)  A fan that really does not start is still
 * caught. */
static void test_takeover_is_no_stall(void **state)
{
	(void)state;
	for (enum takeover how = STANDSTILL_SLOW_TACH; how <= COASTING_LATE_WRITES; how++) {
		struct rig *r;
		if (takeover(how, &r))
			fail_msg("takeover %d: a fan went to the failsafe duty", (int)how);
		for (int f = 0; f < r->ctl.cfg.nfans; f++)
			assert_int_equal(r->ctl.fan[f].fault, FC_OK);
		assert_int_equal(plant_fan_pwm(r->p, PLANT_GPUS), (int)r->ctl.cfg.fan[0].stop_pwm);
		rig_free(r);
	}
	struct rig *r;
	assert_true(takeover(REAL_STALL, &r));
	assert_int_equal(r->ctl.fan[3].fault, FC_STALLED);
	assert_true(r->ctl.fan[3].failsafe);
	rig_free(r);
}

static void test_release(void **state)
{
	(void)state;
	struct rig *r = rig_new("fancontrol/traces/idle.csv");
	rig_run(r, 5);
	fc_release(&r->ctl, &r->io);
	for (int f = 0; f < r->ctl.cfg.nfans; f++)
		assert_true(r->pio.released[f]);
	rig_free(r);
}

static void test_planner_prefers_quiet_fans(void **state)
{
	(void)state;
	struct fc_config *c = shipped();
	double demand[FC_MAX_ZONES] = {0}, speed[FC_MAX_FANS];
	for (int z = 0; z < 12; z++)
		demand[z] = 0.6;
	double dba = fc_plan(c, demand, speed);
	/* chassis fans are the cheap airflow: they go up before the GPU fans */
	assert_true(speed[0] > speed[1]);
	/* and the plan is quieter than meeting the demand with GPU fans alone */
	double alone[FC_MAX_FANS];
	for (int f = 0; f < c->nfans; f++)
		alone[f] = f == 0 ? fc_pwm_to_speed(&c->fan[0], c->fan[0].stop_pwm) : 0.6;
	double levels[FC_MAX_FANS];
	for (int f = 0; f < c->nfans; f++)
		levels[f] = fc_fan_level(c->fan[f].rated_dba, c->fan[f].rated_rpm, alone[f] * c->fan[f].max_rpm) +
			    10 * log10(c->fan[f].nmembers);
	assert_true(dba < fc_dba_sum(levels, c->nfans));
}

/* ---- the standard traces' targets ------------------------------------------------------------- */

static void bench(const char *trace, struct fc_bench_result r[3])
{
	static const enum fc_policy pol[3] = {FC_POLICY_ACOUSTIC, FC_POLICY_LINEAR, FC_POLICY_PID};
	char path[512], err[512];
	snprintf(path, sizeof path, "%s/%s.csv", src("fancontrol/traces"), trace);
	for (int k = 0; k < 3; k++) {
		int rc = fc_bench_run(shipped(), NULL, path, pol[k], &r[k], err, sizeof err);
		if (rc)
			print_error("%s\n", err);
		assert_int_equal(rc, 0);
	}
	print_message("# %s: tb-fand %.1f dBA (peak %.1f, %d audible), linear %.1f (%d), pid %.1f (%d)\n", trace,
		      r[0].mean_dba, r[0].peak_dba, r[0].audible_changes, r[1].mean_dba, r[1].audible_changes,
		      r[2].mean_dba, r[2].audible_changes);
	assert_true(r[0].seconds > 0);
	assert_true(r[0].seconds_over_limit == 0);
	for (int k = 1; k < 3; k++) {
		assert_true(r[0].mean_dba < r[k].mean_dba);
		assert_true(r[0].audible_changes <= r[k].audible_changes);
	}
}

static void test_trace_idle(void **state)
{
	(void)state;
	struct fc_bench_result r[3];
	bench("idle", r);
	assert_true(r[0].peak_dba <= 38);
}

static void test_trace_six_gpu_cap(void **state)
{
	(void)state;
	struct fc_bench_result r[3];
	bench("six_gpu_cap", r);
	assert_true(r[0].peak_dba <= 45);
}

static void test_trace_six_gpu_cap_35c(void **state)
{
	(void)state;
	struct fc_bench_result r[3];
	bench("six_gpu_cap_35c", r);
	assert_true(r[0].peak_dba <= 45);
}

static void test_trace_one_gpu_burst(void **state)
{
	(void)state;
	struct fc_bench_result r[3];
	bench("one_gpu_burst", r);
}

static void test_trace_inference(void **state)
{
	(void)state;
	struct fc_bench_result r[3];
	bench("inference_bursty", r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_config),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_hostile_files),
		cmocka_unit_test(test_failsafe_sensor_removed),
		cmocka_unit_test(test_status_of_a_missing_sensor),
		cmocka_unit_test(test_failsafe_sensor_frozen),
		cmocka_unit_test(test_failsafe_fan_stalled),
		cmocka_unit_test(test_takeover_is_no_stall),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_planner_prefers_quiet_fans),
		cmocka_unit_test(test_trace_idle),
		cmocka_unit_test(test_trace_six_gpu_cap),
		cmocka_unit_test(test_trace_six_gpu_cap_35c),
		cmocka_unit_test(test_trace_one_gpu_burst),
		cmocka_unit_test(test_trace_inference),
	};
	return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
