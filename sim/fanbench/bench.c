/* The benchmark: a controller over a heat trace on a fresh plant, in plant
 * time, scored on what a person in the room and the hardware care about:
 * mean and peak dBA, audible changes, and temperatures against limits. */
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fanbench/fanbench.h"

/* An audible change: a fan's speed moving more than this fraction of its
 * range within the window. */
#define AUDIBLE_FRACTION 0.10
#define AUDIBLE_WINDOW_S 2.0
#define MAX_WINDOW 256
/* Before the scored time the controller runs this long on the trace's
 * first row: the plant starts with every fan at full speed (as firmware
 * leaves them at boot), and the takeover is not the controller's noise. */
#define WARMUP_S 120.0
/* Trace inputs are sampled this often inside a control period. */
#define SUBSTEP_S 0.1

const char *const fc_bench_zone_names[FC_BENCH_ZONES] = {"gpu_edge", "gpu_junction", "gpu_mem", "cpu", "nvme"};

const char *fc_policy_name(enum fc_policy p)
{
	return p == FC_POLICY_LINEAR ? "linear" : p == FC_POLICY_PID ? "pid" : "tb-fand";
}

static int zone_class(const char *comp, const char *kind)
{
	if (!strncmp(comp, "gpu", 3))
		return !strcmp(kind, "edge") ? FC_BENCH_GPU_EDGE : !strcmp(kind, "junction") ? FC_BENCH_GPU_JUNCTION
											   : FC_BENCH_GPU_MEM;
	return !strcmp(comp, "cpu") ? FC_BENCH_CPU : FC_BENCH_NVME;
}

/* The truth, from the plant: hottest reading per class, and whether any
 * sensor is above its critical limit. */
static bool record_temps(const struct plant *p, struct fc_bench_result *r)
{
	bool over = false;
	for (int i = 0; i < plant_sensor_count(p); i++) {
		const char *comp, *kind;
		double t, limit;
		if (plant_sensor(p, i, &comp, &kind) || plant_temp(p, comp, kind, &t) ||
		    plant_temp_limit(p, comp, kind, &limit))
			continue;
		int k = zone_class(comp, kind);
		r->max_temp_c[k] = fmax(r->max_temp_c[k], t);
		over |= t > limit;
	}
	return over;
}

/* rpm history per fan over the last AUDIBLE_WINDOW_S, and whether each fan
 * is inside an audible excursion (counted once). */
struct audible {
	int len, head, nfans;
	double rpm[MAX_WINDOW][32];
	bool inside[32];
};

static int count_audible(struct audible *a, const struct plant *p)
{
	int changes = 0;
	int oldest = (a->head + 1) % a->len;
	for (int f = 0; f < a->nfans; f++) {
		double now = plant_fan_rpm(p, f), then = a->rpm[oldest][f];
		bool big = fabs(now - then) > AUDIBLE_FRACTION * plant_fan_max_rpm(p, f);
		changes += big && !a->inside[f];
		a->inside[f] = big;
	}
	a->head = oldest;
	for (int f = 0; f < a->nfans; f++)
		a->rpm[a->head][f] = plant_fan_rpm(p, f);
	return changes;
}

static void audible_init(struct audible *a, const struct plant *p, double dt)
{
	memset(a, 0, sizeof *a);
	a->len = (int)lround(AUDIBLE_WINDOW_S / dt) + 1;
	if (a->len > MAX_WINDOW)
		a->len = MAX_WINDOW;
	if (a->len < 2)
		a->len = 2;
	a->nfans = plant_fan_count(p) < 32 ? plant_fan_count(p) : 32;
	for (int k = 0; k < a->len; k++)
		for (int f = 0; f < a->nfans; f++)
			a->rpm[k][f] = plant_fan_rpm(p, f);
}

/* Advance the plant by dt along the trace at trace time t. */
static void step(struct plant *p, const struct plant_trace *t, double t_s, double dt)
{
	int n = (int)ceil(dt / SUBSTEP_S - 1e-9);
	for (int k = 0; k < n; k++) {
		struct plant_inputs in;
		plant_trace_at(t, t_s + (k + 0.5) * dt / n, &in);
		plant_step(p, dt / n, &in);
	}
}

static void warm_up(struct fc_ctl *ctl, struct fc_plant_io *pio, const struct plant_trace *t)
{
	struct fc_io io = fc_plant_io(pio);
	double dt = ctl->cfg.interval_s;
	for (double s = 0; s < WARMUP_S; s += dt) {
		fc_tick(ctl, &io, plant_time(pio->plant));
		step(pio->plant, t, 0, dt);
	}
}

static void run(struct fc_ctl *ctl, struct fc_plant_io *pio, const struct plant_trace *t, struct fc_bench_result *r)
{
	struct fc_io io = fc_plant_io(pio);
	struct plant *p = pio->plant;
	double dt = ctl->cfg.interval_s, end = plant_trace_duration(t), sum = 0;
	long samples = 0;
	static struct audible a; /* large; the benchmark runs one at a time */
	warm_up(ctl, pio, t);
	pio->time_offset = plant_time(p);
	audible_init(&a, p, dt);
	for (int k = 0; k < FC_BENCH_ZONES; k++)
		r->max_temp_c[k] = -HUGE_VAL;
	for (double ts = 0; ts < end - 1e-9; ts += dt) {
		fc_tick(ctl, &io, plant_time(p));
		step(p, t, ts, dt);
		double dba = plant_dba(p);
		sum += dba;
		samples++;
		r->peak_dba = fmax(r->peak_dba, dba);
		r->audible_changes += count_audible(&a, p);
		if (record_temps(p, r))
			r->seconds_over_limit += dt;
	}
	r->seconds = plant_time(p) - pio->time_offset;
	r->mean_dba = samples ? sum / (double)samples : 0;
}

int fc_bench_run(const struct fc_config *cfg, const char *plant_config, const char *trace_path, enum fc_policy policy,
		 struct fc_bench_result *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	char name[256];
	snprintf(name, sizeof name, "%s", trace_path);
	char *base = basename(name), *dot = strrchr(base, '.');
	if (dot && !strcmp(dot, ".csv"))
		*dot = '\0';
	snprintf(r->trace, sizeof r->trace, "%s", base);
	r->controller = fc_policy_name(policy);
	struct plant_trace *t = plant_trace_load(trace_path, err, errlen);
	if (!t)
		return -EINVAL;
	struct plant *p = plant_load(plant_config, err, errlen);
	if (!p) {
		plant_trace_free(t);
		return -EINVAL;
	}
	struct fc_plant_io *pio = malloc(sizeof *pio);
	struct fc_ctl *ctl = malloc(sizeof *ctl);
	int rc = pio && ctl ? fc_plant_io_init(pio, p, t, cfg, err, errlen) : -ENOMEM;
	if (rc == 0) {
		fc_init(ctl, cfg, policy, NULL, NULL);
		run(ctl, pio, t, r);
	}
	free(ctl);
	free(pio);
	plant_free(p);
	plant_trace_free(t);
	return rc;
}
