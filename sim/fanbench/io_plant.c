/* The plant backend: the controller's sensors and fans are the thermal
 * plant's, found by the names the simulated box gives them, so that the
 * benchmark and the tests run the shipped config unchanged. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fanbench/fanbench.h"

/* Where the box puts its GPUs: bus 0x03 + 0x20 * index (sim/box/pci.c). */
static int gpu_of_chip(const char *chip)
{
	unsigned bus;
	char tail;
	if (sscanf(chip, "amdgpu-pci-%2x00%c", &bus, &tail) != 1 || bus < 3 || (bus - 3) % 0x20 || (bus - 3) / 0x20 >= PLANT_GPUS)
		return -1;
	return (int)(bus - 3) / 0x20;
}

static int nvme_of_chip(const struct plant *p, const char *chip)
{
	unsigned bus;
	char tail;
	if (sscanf(chip, "nvme-pci-%2x00%c", &bus, &tail) != 1 || bus < 0xc1 || (int)(bus - 0xc1) >= plant_nvme_count(p))
		return -1;
	return (int)(bus - 0xc1);
}

static bool is_sio(const char *chip)
{
	return !strcmp(chip, "nct6798-isa-0290");
}

static int find_plant_sensor(const struct plant *p, const char *comp, const char *kind)
{
	for (int i = 0; i < plant_sensor_count(p); i++) {
		const char *c, *k;
		if (plant_sensor(p, i, &c, &k) == 0 && !strcmp(c, comp) && !strcmp(k, kind))
			return i;
	}
	return -1;
}

/* Temperatures: plant sensor index; power: 1000 + GPU; fans: 2000 + fan. */
enum { POWER_BASE = 1000, FAN_BASE = 2000 };

static int bind_sensor(const struct plant *p, const struct fc_sensor_cfg *s)
{
	char comp[16];
	int g = gpu_of_chip(s->chip), n = nvme_of_chip(p, s->chip);
	if (g >= 0) {
		snprintf(comp, sizeof comp, "gpu%d", g);
		if (s->kind == FC_SENSOR_POWER)
			return strcmp(s->label, "PPT") ? -1 : POWER_BASE + g;
		if (s->kind == FC_SENSOR_FAN)
			return strcmp(s->label, "fan1") ? -1 : FAN_BASE + g;
		return find_plant_sensor(p, comp, s->label);
	}
	if (n >= 0 && s->kind == FC_SENSOR_TEMP && !strcmp(s->label, "Composite")) {
		snprintf(comp, sizeof comp, "nvme%d", n);
		return find_plant_sensor(p, comp, "composite");
	}
	if (!strcmp(s->chip, "k10temp-pci-00c3") && s->kind == FC_SENSOR_TEMP && !strcmp(s->label, "Tctl"))
		return find_plant_sensor(p, "cpu", "tctl");
	int ch;
	char tail;
	if (is_sio(s->chip) && s->kind == FC_SENSOR_FAN && sscanf(s->label, "fan%d%c", &ch, &tail) == 1 && ch >= 1 &&
	    ch <= plant_fan_count(p) - PLANT_GPUS)
		return FAN_BASE + PLANT_GPUS + ch - 1;
	return -1;
}

static int bind_fan(const struct plant *p, const struct fc_fan_cfg *f, int out[FC_MAX_MEMBERS])
{
	if (f->act == FC_ACT_AMDGPU) {
		out[0] = gpu_of_chip(f->chip);
		return out[0] < 0 ? -1 : 0;
	}
	if (f->act != FC_ACT_HWMON || !is_sio(f->chip))
		return -1;
	for (int m = 0; m < f->nmembers; m++) {
		if (f->channels[m] > plant_fan_count(p) - PLANT_GPUS)
			return -1;
		out[m] = PLANT_GPUS + f->channels[m] - 1;
	}
	return 0;
}

int fc_plant_io_init(struct fc_plant_io *pio, struct plant *p, const struct plant_trace *t,
		     const struct fc_config *cfg, char *err, size_t errlen)
{
	memset(pio, 0, sizeof *pio);
	pio->plant = p;
	pio->trace = t;
	pio->cfg = cfg;
	for (int i = 0; i < cfg->nsensors; i++)
		if ((pio->map[i] = bind_sensor(p, &cfg->sensor[i])) < 0) {
			snprintf(err, errlen, "the plant has no sensor %s", cfg->sensor[i].name);
			return -ENOENT;
		}
	for (int f = 0; f < cfg->nfans; f++)
		if (bind_fan(p, &cfg->fan[f], pio->fan_map[f]) < 0) {
			snprintf(err, errlen, "the plant has no fan for [fan %s]", cfg->fan[f].name);
			return -ENOENT;
		}
	return 0;
}

static int raw_read(struct fc_plant_io *pio, int i, double *v)
{
	int m = pio->map[i];
	if (m >= FAN_BASE) {
		*v = plant_fan_rpm(pio->plant, m - FAN_BASE);
		return 0;
	}
	if (m >= POWER_BASE) {
		struct plant_inputs in = {0};
		if (pio->trace)
			plant_trace_at(pio->trace, plant_time(pio->plant) - pio->time_offset, &in);
		/* the SMU holds the board under its cap, and so does the reading */
		*v = fmin(in.gpu_w[m - POWER_BASE], 355);
		return 0;
	}
	const char *comp, *kind;
	int rc = plant_sensor(pio->plant, m, &comp, &kind);
	return rc < 0 ? rc : plant_temp(pio->plant, comp, kind, v);
}

static int plant_read(void *ctx, int i, double *v)
{
	struct fc_plant_io *pio = ctx;
	if (pio->removed[i])
		return -ENODEV;
	if (pio->frozen[i]) {
		*v = pio->frozen_value[i];
		return 0;
	}
	int rc = raw_read(pio, i, v);
	/* hwmon reports whole millidegrees */
	if (rc == 0 && pio->cfg->sensor[i].kind == FC_SENSOR_TEMP)
		*v = round(*v * 1000) / 1000;
	return rc;
}

/* amdgpu takes whole percent in 15..100 on its flat curve; the box turns
 * it back into a duty (sim/box/sensors.c), and so does this. */
static int through_curve(int pwm)
{
	long pct = lround(pwm * 100.0 / 255);
	pct = pct < 15 ? 15 : pct > 100 ? 100 : pct;
	return (int)lround(pct * 255.0 / 100);
}

static int plant_set_pwm(void *ctx, int f, int pwm)
{
	struct fc_plant_io *pio = ctx;
	const struct fc_fan_cfg *fc = &pio->cfg->fan[f];
	if (pwm < 0 || pwm > 255)
		return -EINVAL;
	pio->released[f] = false;
	for (int m = 0; m < fc->nmembers; m++) {
		int rc = plant_fan_set_pwm(pio->plant, pio->fan_map[f][m], fc->act == FC_ACT_AMDGPU ? through_curve(pwm) : pwm);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int plant_release(void *ctx, int f)
{
	struct fc_plant_io *pio = ctx;
	pio->released[f] = true;
	return 0;
}

static const struct fc_io_ops plant_ops = {plant_read, plant_set_pwm, plant_release};

struct fc_io fc_plant_io(struct fc_plant_io *pio)
{
	return (struct fc_io){&plant_ops, pio};
}

static int sensor_index(const struct fc_plant_io *pio, const char *name)
{
	for (int i = 0; i < pio->cfg->nsensors; i++)
		if (!strcmp(pio->cfg->sensor[i].name, name))
			return i;
	return -ENOENT;
}

int fc_plant_io_freeze(struct fc_plant_io *pio, const char *sensor)
{
	int i = sensor_index(pio, sensor);
	if (i < 0)
		return i;
	double v = 0;
	int rc = plant_read(pio, i, &v);
	if (rc < 0)
		return rc;
	pio->frozen_value[i] = v;
	pio->frozen[i] = true;
	return 0;
}

int fc_plant_io_remove(struct fc_plant_io *pio, const char *sensor)
{
	int i = sensor_index(pio, sensor);
	if (i < 0)
		return i;
	pio->removed[i] = true;
	return 0;
}
