/* The thermal network: lumped masses joined by thermal resistances.
 *
 *   GPU:  die (junction) --R_ds--> heatsink <--R_ms-- memory
 *         heatsink --G(airflow)--> case air
 *   CPU:  die (tctl) --R_ds--> heatsink --G(airflow)--> case air
 *   NVMe: drive --G(airflow)--> case air
 *   case air --G(chassis airflow)--> ambient
 *
 * A heatsink's conductance to the air is natural convection plus a forced
 * part proportional to the airflow through it: its own fans (GPUs) plus its
 * share of the chassis airflow.  The chassis fans exchange the case air with
 * the room.  Explicit Euler with substeps short enough to stay monotonic. */
#include <math.h>

#include "sim/plant/internal.h"

/* Longest substep: short against the fan lag and the fastest mass. */
#define MAX_SUBSTEP_S 0.25
/* Longest single step taken: keeps the substep loop bounded. */
#define MAX_STEP_S 86400.0

static double clampd(double v, double lo, double hi)
{
	if (!(v >= lo)) /* also NaN */
		return lo;
	return v > hi ? hi : v;
}

static double chassis_cfm(const struct plant *p)
{
	double cfm = 0;
	for (int i = PLANT_GPUS; i < p->fan_count; i++)
		cfm += fan_cfm(&p->fans[i]);
	return cfm;
}

static double sink_conductance(const struct sink_params *s, double own_cfm, double chassis)
{
	return s->natural_w_per_k + s->forced_w_per_k_per_cfm * (own_cfm + s->chassis_share * chassis);
}

static double case_conductance(const struct plant_params *prm, double chassis)
{
	return prm->chassis.natural_w_per_k + prm->chassis.exchange * PLANT_W_PER_K_PER_CFM * chassis;
}

/* The substep bound uses every conductance at its largest (all fans at
 * full speed): dt <= C / sum(G) keeps each explicit update a weighted mean
 * of its neighbours, so no temperature overshoots; half of it for accuracy. */
static double max_substep(const struct plant *p)
{
	const struct plant_params *prm = &p->prm;
	double chassis = prm->chassis_fans * prm->chassis_fan.max_cfm;
	double g_gpu = sink_conductance(&prm->gpu.sink, prm->gpu_fan.max_cfm, chassis);
	double g_cpu = sink_conductance(&prm->cpu.sink, 0, chassis);
	double g_nvme = sink_conductance(&prm->nvme.sink, 0, chassis);
	double g_ds = 1 / prm->gpu.die_to_sink, g_ms = 1 / prm->gpu.mem_to_sink;
	double g_case = case_conductance(prm, chassis) + PLANT_GPUS * g_gpu + g_cpu + prm->nvme.count * g_nvme;
	double tau[] = {
		prm->gpu.die_capacity / g_ds,
		prm->gpu.mem_capacity / g_ms,
		prm->gpu.sink_capacity / (g_ds + g_ms + g_gpu),
		prm->cpu.die_capacity * prm->cpu.die_to_sink,
		prm->cpu.sink_capacity / (1 / prm->cpu.die_to_sink + g_cpu),
		prm->nvme.capacity / g_nvme,
		prm->chassis.heat_capacity / g_case,
	};
	double h = MAX_SUBSTEP_S;
	for (size_t i = 0; i < sizeof tau / sizeof tau[0]; i++)
		if (tau[i] / 2 < h)
			h = tau[i] / 2;
	return h;
}

void thermal_init(struct plant *p)
{
	double t = p->prm.ambient_c;
	p->case_c = t;
	for (int i = 0; i < PLANT_GPUS; i++)
		p->gpu[i] = (struct gpu_state){t, t, t};
	p->cpu_die = p->cpu_sink = t;
	for (int i = 0; i < PLANT_MAX_NVME; i++)
		p->nvme[i] = t;
	p->max_substep = max_substep(p);
}

/* One GPU over h seconds; returns the heat it gave to the case air (W). */
static double gpu_substep(struct plant *p, int i, double power, double chassis, double h)
{
	const struct plant_params *prm = &p->prm;
	struct gpu_state *g = &p->gpu[i];
	double p_mem = power * prm->gpu.mem_fraction;
	double p_vrm = power * prm->gpu.vrm_fraction; /* VRM losses heat the sink through its pads */
	double p_die = power - p_mem - p_vrm;
	double q_ds = (g->die - g->sink) / prm->gpu.die_to_sink;
	double q_ms = (g->mem - g->sink) / prm->gpu.mem_to_sink;
	double q_sa = (g->sink - p->case_c) * sink_conductance(&prm->gpu.sink, fan_cfm(&p->fans[i]), chassis);
	g->die += h * (p_die - q_ds) / prm->gpu.die_capacity;
	g->mem += h * (p_mem - q_ms) / prm->gpu.mem_capacity;
	g->sink += h * (p_vrm + q_ds + q_ms - q_sa) / prm->gpu.sink_capacity;
	return q_sa;
}

static double cpu_substep(struct plant *p, double power, double chassis, double h)
{
	const struct plant_params *prm = &p->prm;
	double q_ds = (p->cpu_die - p->cpu_sink) / prm->cpu.die_to_sink;
	double q_sa = (p->cpu_sink - p->case_c) * sink_conductance(&prm->cpu.sink, 0, chassis);
	p->cpu_die += h * (power - q_ds) / prm->cpu.die_capacity;
	p->cpu_sink += h * (q_ds - q_sa) / prm->cpu.sink_capacity;
	return q_sa;
}

static double nvme_substep(struct plant *p, int i, double power, double chassis, double h)
{
	const struct plant_params *prm = &p->prm;
	double q = (p->nvme[i] - p->case_c) * sink_conductance(&prm->nvme.sink, 0, chassis);
	p->nvme[i] += h * (power - q) / prm->nvme.capacity;
	return q;
}

/* Powers and ambient as the hardware sees them: the firmware holds each part
 * at or under its cap; nonsense (negative, NaN) counts as nothing. */
static struct plant_inputs sanitize(const struct plant *p, const struct plant_inputs *in)
{
	const struct plant_params *prm = &p->prm;
	struct plant_inputs s;
	for (int i = 0; i < PLANT_GPUS; i++)
		s.gpu_w[i] = clampd(in->gpu_w[i], 0, prm->gpu.max_power_w);
	s.cpu_w = clampd(in->cpu_w, 0, prm->cpu.max_power_w);
	s.nvme_w = clampd(in->nvme_w, 0, prm->nvme.max_power_w * p->nvme_count);
	s.ambient_c = isfinite(in->ambient_c) ? clampd(in->ambient_c, -40, 80) : prm->ambient_c;
	return s;
}

static void substep(struct plant *p, const struct plant_inputs *in, double h)
{
	for (int i = 0; i < p->fan_count; i++)
		fan_advance(&p->fans[i], h);
	double chassis = chassis_cfm(p);
	double q_case = 0; /* heat into the case air, from the old temperatures */
	double case_old = p->case_c;
	for (int i = 0; i < PLANT_GPUS; i++)
		q_case += gpu_substep(p, i, in->gpu_w[i], chassis, h);
	q_case += cpu_substep(p, in->cpu_w, chassis, h);
	for (int i = 0; i < p->nvme_count; i++)
		q_case += nvme_substep(p, i, in->nvme_w / p->nvme_count, chassis, h);
	double q_out = (case_old - in->ambient_c) * case_conductance(&p->prm, chassis);
	p->case_c = case_old + h * (q_case - q_out) / p->prm.chassis.heat_capacity;
}

void thermal_step(struct plant *p, double dt, const struct plant_inputs *in)
{
	if (!(dt > 0) || !in)
		return;
	if (dt > MAX_STEP_S)
		dt = MAX_STEP_S;
	struct plant_inputs s = sanitize(p, in);
	double n = ceil(dt / p->max_substep);
	double h = dt / n;
	for (double k = 0; k < n; k++)
		substep(p, &s, h);
	p->time_s += dt;
}

/* The edge sensor sits on the die between the hotspot and the heatsink: its
 * temperature divides the junction-to-sink difference in proportion to the
 * thermal resistances. */
double thermal_gpu_edge(const struct plant *p, int gpu)
{
	const struct gpu_state *g = &p->gpu[gpu];
	return g->sink + (g->die - g->sink) * p->prm.gpu.edge_to_sink / p->prm.gpu.die_to_sink;
}
