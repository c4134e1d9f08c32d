/* libtbplant's public face: loading, sensors, fans and the sound level. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/plant/internal.h"

static void plant_init_fans(struct plant *p)
{
	char name[16];
	p->fan_count = PLANT_GPUS + (int)p->prm.chassis_fans;
	for (int i = 0; i < PLANT_GPUS; i++) {
		snprintf(name, sizeof name, "gpu%d", i);
		fan_init(&p->fans[i], &p->prm.gpu_fan, name);
	}
	for (int i = PLANT_GPUS; i < p->fan_count; i++) {
		snprintf(name, sizeof name, "chassis%d", i - PLANT_GPUS);
		fan_init(&p->fans[i], &p->prm.chassis_fan, name);
	}
}

struct plant *plant_load(const char *path, char *err, size_t errlen)
{
	struct plant *p = calloc(1, sizeof *p);
	if (!p) {
		if (err && errlen)
			snprintf(err, errlen, "%s:0: out of memory", path ? path : "(built-in)");
		return NULL;
	}
	if (!path)
		plant_params_default(&p->prm);
	else if (plant_params_parse(path, &p->prm, err, errlen)) {
		free(p);
		return NULL;
	}
	p->nvme_count = (int)p->prm.nvme.count;
	plant_init_fans(p);
	thermal_init(p);
	return p;
}

void plant_free(struct plant *p)
{
	free(p);
}

void plant_step(struct plant *p, double dt, const struct plant_inputs *in)
{
	if (p)
		thermal_step(p, dt, in);
}

double plant_time(const struct plant *p)
{
	return p ? p->time_s : 0;
}

/* ---- sensors ------------------------------------------------------------- */

enum sensor_kind { S_EDGE, S_JUNCTION, S_MEM, S_TCTL, S_COMPOSITE };

static const char *const kind_names[] = {"edge", "junction", "mem", "tctl", "composite"};

/* Sensor i: GPUs' three each, then the CPU, then the drives. */
struct sensor {
	int unit; /* GPU or drive number */
	enum sensor_kind kind;
};

static int sensor_at(const struct plant *p, int index, struct sensor *s)
{
	if (index < 0)
		return -ENOENT;
	if (index < 3 * PLANT_GPUS) {
		*s = (struct sensor){index / 3, (enum sensor_kind)(index % 3)};
		return 0;
	}
	index -= 3 * PLANT_GPUS;
	if (index == 0) {
		*s = (struct sensor){0, S_TCTL};
		return 0;
	}
	index--;
	if (index < p->nvme_count) {
		*s = (struct sensor){index, S_COMPOSITE};
		return 0;
	}
	return -ENOENT;
}

int plant_sensor_count(const struct plant *p)
{
	return p ? 3 * PLANT_GPUS + 1 + p->nvme_count : 0;
}

int plant_nvme_count(const struct plant *p)
{
	return p ? p->nvme_count : 0;
}

/* "gpu3" -> 3 for prefix "gpu"; -1 unless it is the prefix and one digit. */
static int unit_number(const char *component, const char *prefix, int count)
{
	size_t n = strlen(prefix);
	if (strncmp(component, prefix, n) || component[n] < '0' || component[n] > '9' || component[n + 1])
		return -1;
	int unit = component[n] - '0';
	return unit < count ? unit : -1;
}

static int sensor_find(const struct plant *p, const char *component, const char *kind, struct sensor *s)
{
	if (!p || !component || !kind)
		return -ENOENT;
	int unit = unit_number(component, "gpu", PLANT_GPUS);
	for (int k = S_EDGE; unit >= 0 && k <= S_MEM; k++)
		if (!strcmp(kind, kind_names[k])) {
			*s = (struct sensor){unit, (enum sensor_kind)k};
			return 0;
		}
	if (!strcmp(component, "cpu") && !strcmp(kind, "tctl")) {
		*s = (struct sensor){0, S_TCTL};
		return 0;
	}
	unit = unit_number(component, "nvme", p->nvme_count);
	if (unit >= 0 && !strcmp(kind, "composite")) {
		*s = (struct sensor){unit, S_COMPOSITE};
		return 0;
	}
	return -ENOENT;
}

static double sensor_value(const struct plant *p, const struct sensor *s)
{
	switch (s->kind) {
	case S_EDGE:
		return thermal_gpu_edge(p, s->unit);
	case S_JUNCTION:
		return p->gpu[s->unit].die;
	case S_MEM:
		return p->gpu[s->unit].mem;
	case S_TCTL:
		return p->cpu_die;
	case S_COMPOSITE:
		return p->nvme[s->unit];
	}
	return 0;
}

static double sensor_limit(const struct plant *p, const struct sensor *s)
{
	const struct plant_params *prm = &p->prm;
	switch (s->kind) {
	case S_EDGE:
		return prm->gpu.edge_limit_c;
	case S_JUNCTION:
		return prm->gpu.junction_limit_c;
	case S_MEM:
		return prm->gpu.mem_limit_c;
	case S_TCTL:
		return prm->cpu.tctl_limit_c;
	case S_COMPOSITE:
		return prm->nvme.composite_limit_c;
	}
	return 0;
}

int plant_temp(const struct plant *p, const char *component, const char *kind, double *celsius)
{
	struct sensor s;
	int rc = sensor_find(p, component, kind, &s);
	if (!rc && celsius)
		*celsius = sensor_value(p, &s);
	return rc;
}

int plant_temp_limit(const struct plant *p, const char *component, const char *kind, double *celsius)
{
	struct sensor s;
	int rc = sensor_find(p, component, kind, &s);
	if (!rc && celsius)
		*celsius = sensor_limit(p, &s);
	return rc;
}

/* Component names of the sensors: "gpu0".."gpu5", "cpu", "nvme0".. */
static const char *const gpu_names[PLANT_GPUS] = {"gpu0", "gpu1", "gpu2", "gpu3", "gpu4", "gpu5"};
static const char *const nvme_names[PLANT_MAX_NVME] = {"nvme0", "nvme1", "nvme2", "nvme3",
						       "nvme4", "nvme5", "nvme6", "nvme7"};

int plant_sensor(const struct plant *p, int index, const char **component, const char **kind)
{
	struct sensor s;
	int rc = p ? sensor_at(p, index, &s) : -ENOENT;
	if (rc)
		return rc;
	if (component)
		*component = s.kind == S_TCTL ? "cpu" : s.kind == S_COMPOSITE ? nvme_names[s.unit] : gpu_names[s.unit];
	if (kind)
		*kind = kind_names[s.kind];
	return 0;
}

/* ---- fans ---------------------------------------------------------------- */

static struct fan *fan_at(const struct plant *p, int fan)
{
	if (!p || fan < 0 || fan >= p->fan_count)
		return NULL;
	return (struct fan *)&p->fans[fan];
}

int plant_fan_count(const struct plant *p)
{
	return p ? p->fan_count : 0;
}

const char *plant_fan_name(const struct plant *p, int fan)
{
	struct fan *f = fan_at(p, fan);
	return f ? f->name : NULL;
}

int plant_fan_set_pwm(struct plant *p, int fan, int pwm)
{
	struct fan *f = fan_at(p, fan);
	if (!f || pwm < 0 || pwm > 255)
		return -EINVAL;
	fan_set_pwm(f, pwm);
	return 0;
}

int plant_fan_pwm(const struct plant *p, int fan)
{
	struct fan *f = fan_at(p, fan);
	return f ? f->pwm : -EINVAL;
}

int plant_fan_rpm(const struct plant *p, int fan)
{
	struct fan *f = fan_at(p, fan);
	return f ? fan_measured_rpm(f) : -EINVAL;
}

int plant_fan_min_rpm(const struct plant *p, int fan)
{
	struct fan *f = fan_at(p, fan);
	return f ? (int)(f->prm->min_rpm + 0.5) : -EINVAL;
}

int plant_fan_max_rpm(const struct plant *p, int fan)
{
	struct fan *f = fan_at(p, fan);
	return f ? (int)(f->prm->max_rpm + 0.5) : -EINVAL;
}

int plant_fan_stall(struct plant *p, int fan, int stalled)
{
	struct fan *f = fan_at(p, fan);
	if (!f)
		return -EINVAL;
	fan_set_stall(f, stalled != 0);
	return 0;
}

double plant_fan_dba(const struct plant *p, int fan)
{
	struct fan *f = fan_at(p, fan);
	if (!f)
		return 0;
	double level = fan_level(f);
	return isfinite(level) ? level : 0;
}

double plant_dba(const struct plant *p)
{
	double levels[PLANT_MAX_FANS];
	int n = plant_fan_count(p);
	for (int i = 0; i < n; i++)
		levels[i] = fan_level(&p->fans[i]);
	return plant_dba_sum(levels, n);
}
