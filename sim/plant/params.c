/* The plant's parameters: one table gives every key its section, field,
 * built-in value and allowed range, so the built-in default and the config
 * parser cannot drift apart.  The values are explained, with sources, in
 * sim/plant/appliance.conf (a test checks that file equals this table). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/plant/internal.h"

struct key {
	const char *section, *name;
	size_t offset;
	double def, min, max;
	bool integer;
};

#define K(sec, key, field, def, lo, hi) {sec, key, offsetof(struct plant_params, field), def, lo, hi, false}
#define I(sec, key, field, def, lo, hi) {sec, key, offsetof(struct plant_params, field), def, lo, hi, true}

/* Ranges keep every time constant (capacity / conductance) at 1 ms or more,
 * so the internal substep count stays bounded, and keep values physical. */
#define FAN_KEYS(sec, f, v_max, v_min, v_start, v_stop, v_tau, v_cfm, v_rrpm, v_rdba)       \
	K(sec, "max_rpm", f.max_rpm, v_max, 1, 30000),                                    \
	K(sec, "min_rpm", f.min_rpm, v_min, 0, 30000),                                    \
	K(sec, "start_pwm", f.start_pwm, v_start, 0, 255),                                \
	K(sec, "stop_pwm", f.stop_pwm, v_stop, 0, 255),                                   \
	K(sec, "spin_up_s", f.spin_up_s, v_tau, 0.01, 60),                                \
	K(sec, "max_cfm", f.max_cfm, v_cfm, 0, 1000),                                     \
	K(sec, "rated_rpm", f.rated_rpm, v_rrpm, 1, 30000),                               \
	K(sec, "rated_dba", f.rated_dba, v_rdba, 0, 140)

#define SINK_KEYS(sec, s, v_natural, v_forced, v_share)                                 \
	K(sec, "natural_w_per_k", s.natural_w_per_k, v_natural, 0.001, 1000),             \
	K(sec, "forced_w_per_k_per_cfm", s.forced_w_per_k_per_cfm, v_forced, 0, 10),      \
	K(sec, "chassis_share", s.chassis_share, v_share, 0, 1)

static const struct key keys[] = {
	K("ambient", "temperature_c", ambient_c, 25, -40, 80),

	K("case", "heat_capacity_j_per_k", chassis.heat_capacity, 3000, 10, 1e6),
	K("case", "natural_w_per_k", chassis.natural_w_per_k, 5, 0.001, 1000),
	K("case", "exchange", chassis.exchange, 0.8, 0, 1),

	K("gpu", "max_power_w", gpu.max_power_w, 355, 1, 1000),
	K("gpu", "junction_limit_c", gpu.junction_limit_c, 110, 20, 200),
	K("gpu", "edge_limit_c", gpu.edge_limit_c, 100, 20, 200),
	K("gpu", "mem_limit_c", gpu.mem_limit_c, 100, 20, 200),
	K("gpu", "mem_fraction", gpu.mem_fraction, 0.10, 0, 1),
	K("gpu", "vrm_fraction", gpu.vrm_fraction, 0.10, 0, 1),
	K("gpu", "die_heat_capacity_j_per_k", gpu.die_capacity, 40, 1, 1e6),
	K("gpu", "sink_heat_capacity_j_per_k", gpu.sink_capacity, 900, 1, 1e6),
	K("gpu", "mem_heat_capacity_j_per_k", gpu.mem_capacity, 25, 1, 1e6),
	K("gpu", "die_to_sink_k_per_w", gpu.die_to_sink, 0.09, 0.001, 100),
	K("gpu", "edge_to_sink_k_per_w", gpu.edge_to_sink, 0.02, 0, 100),
	K("gpu", "mem_to_sink_k_per_w", gpu.mem_to_sink, 0.3, 0.001, 100),
	SINK_KEYS("gpu", gpu.sink, 1.5, 0.11, 0.05),

	FAN_KEYS("gpu_fan", gpu_fan, 3300, 500, 51, 38, 1.5, 100, 1700, 32),

	K("cpu", "max_power_w", cpu.max_power_w, 225, 1, 1000),
	K("cpu", "tctl_limit_c", cpu.tctl_limit_c, 90, 20, 200),
	K("cpu", "die_heat_capacity_j_per_k", cpu.die_capacity, 50, 1, 1e6),
	K("cpu", "sink_heat_capacity_j_per_k", cpu.sink_capacity, 700, 1, 1e6),
	K("cpu", "die_to_sink_k_per_w", cpu.die_to_sink, 0.08, 0.001, 100),
	SINK_KEYS("cpu", cpu.sink, 1.5, 0.12, 0.3),

	I("nvme", "count", nvme.count, 4, 1, PLANT_MAX_NVME),
	K("nvme", "max_power_w", nvme.max_power_w, 9, 0.1, 100),
	K("nvme", "composite_limit_c", nvme.composite_limit_c, 70, 20, 200),
	K("nvme", "heat_capacity_j_per_k", nvme.capacity, 25, 1, 1e6),
	SINK_KEYS("nvme", nvme.sink, 0.12, 0.02, 0.04),

	I("chassis_fan", "count", chassis_fans, 8, 0, PLANT_MAX_CHASSIS_FANS),
	FAN_KEYS("chassis_fan", chassis_fan, 1500, 300, 64, 40, 1.0, 45, 1500, 25),
};

#define NKEYS (sizeof keys / sizeof keys[0])

static double *field(struct plant_params *prm, const struct key *k)
{
	return (double *)((char *)prm + k->offset);
}

size_t plant_params_key_count(void)
{
	return NKEYS;
}

void plant_params_default(struct plant_params *prm)
{
	memset(prm, 0, sizeof *prm);
	for (size_t i = 0; i < NKEYS; i++)
		*field(prm, &keys[i]) = keys[i].def;
}

/* ---- the parser ---------------------------------------------------------- */

struct parse {
	const char *path;
	char *err;
	size_t errlen;
	int lines[NKEYS]; /* where each key was set (0: built-in) */
};

static int fail(struct parse *ps, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct parse *ps, int line, const char *fmt, ...)
{
	char why[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (ps->err && ps->errlen)
		snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, line, why);
	return -EINVAL;
}

static bool section_known(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, name))
			return true;
	return false;
}

static const struct key *key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* A whole, finite number and nothing else ("1e3" yes, "12abc", "nan" no). */
bool plant_parse_number(const char *s, double *out)
{
	char *end;
	if (!*s)
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno == ERANGE || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static int set_value(struct parse *ps, struct plant_params *prm, const char *section, char *key,
		     char *value, int line)
{
	const struct key *k = key_find(section, key);
	if (!k)
		return fail(ps, line, "unknown key '%s' in [%s]", key, section);
	size_t idx = (size_t)(k - keys);
	if (ps->lines[idx])
		return fail(ps, line, "duplicate key '%s' (first set on line %d)", key, ps->lines[idx]);
	double v;
	if (!plant_parse_number(value, &v))
		return fail(ps, line, "%s: not a number: '%s'", key, value);
	if (v < k->min || v > k->max)
		return fail(ps, line, "%s = %g is out of range [%g, %g]", key, v, k->min, k->max);
	if (k->integer && v != floor(v))
		return fail(ps, line, "%s must be a whole number", key);
	*field(prm, k) = v;
	ps->lines[idx] = line;
	return 0;
}

/* "[name]": copy name into section (sized by the caller). */
static int parse_section(struct parse *ps, char *s, char *section, size_t len, int line)
{
	size_t n = strlen(s);
	if (s[n - 1] != ']')
		return fail(ps, line, "section header without ']'");
	s[n - 1] = '\0';
	char *name = trim(s + 1);
	if (!section_known(name))
		return fail(ps, line, "unknown section [%s]", name);
	snprintf(section, len, "%s", name);
	return 0;
}

static int parse_line(struct parse *ps, struct plant_params *prm, char *s, char *section, size_t len,
		      int line)
{
	char *hash = strchr(s, '#');
	if (hash)
		*hash = '\0';
	s = trim(s);
	if (!*s)
		return 0;
	if (*s == '[')
		return parse_section(ps, s, section, len, line);
	char *eq = strchr(s, '=');
	if (!eq)
		return fail(ps, line, "expected 'key = value'");
	*eq = '\0';
	char *key = trim(s), *value = trim(eq + 1);
	if (!*key)
		return fail(ps, line, "missing key before '='");
	if (!*section)
		return fail(ps, line, "key '%s' outside a [section]", key);
	return set_value(ps, prm, section, key, value, line);
}

static int line_of(const struct parse *ps, const char *section, const char *name)
{
	const struct key *k = key_find(section, name);
	return k ? ps->lines[k - keys] : 0;
}

/* The later of two keys' lines: where a cross-key rule became false. */
static int later(const struct parse *ps, const char *sec, const char *a, const char *b)
{
	int la = line_of(ps, sec, a), lb = line_of(ps, sec, b);
	return la > lb ? la : lb;
}

static int check_fan(struct parse *ps, const char *sec, const struct fan_params *f)
{
	if (f->stop_pwm > f->start_pwm)
		return fail(ps, later(ps, sec, "stop_pwm", "start_pwm"), "[%s] stop_pwm %g is above start_pwm %g",
			    sec, f->stop_pwm, f->start_pwm);
	if (f->min_rpm > f->max_rpm)
		return fail(ps, later(ps, sec, "min_rpm", "max_rpm"), "[%s] min_rpm %g is above max_rpm %g", sec,
			    f->min_rpm, f->max_rpm);
	return 0;
}

/* Rules between keys, checked once the whole file is read. */
static int check_params(struct parse *ps, const struct plant_params *prm, int last_line)
{
	if (check_fan(ps, "gpu_fan", &prm->gpu_fan) || check_fan(ps, "chassis_fan", &prm->chassis_fan))
		return -EINVAL;
	if (prm->gpu.mem_fraction + prm->gpu.vrm_fraction > 1)
		return fail(ps, later(ps, "gpu", "mem_fraction", "vrm_fraction"),
			    "mem_fraction + vrm_fraction exceeds 1");
	if (prm->gpu.edge_to_sink > prm->gpu.die_to_sink)
		return fail(ps, later(ps, "gpu", "edge_to_sink_k_per_w", "die_to_sink_k_per_w"),
			    "edge_to_sink_k_per_w exceeds die_to_sink_k_per_w (the edge sits between junction and sink)");
	double shares = PLANT_GPUS * prm->gpu.sink.chassis_share + prm->cpu.sink.chassis_share +
			prm->nvme.count * prm->nvme.sink.chassis_share;
	if (shares > 1 + 1e-9)
		return fail(ps, last_line, "chassis_share of all parts adds up to %.3f, more than 1", shares);
	return 0;
}

/* Read lines; a line longer than this is refused rather than split.  The
 * documented appliance.conf is 8 KiB. */
#define MAX_LINE 1024
#define MAX_FILE (1 << 20)

int plant_params_parse(const char *path, struct plant_params *prm, char *err, size_t errlen)
{
	struct parse ps = {.path = path, .err = err, .errlen = errlen};
	plant_params_default(prm);
	struct tb_lines r;
	if (tb_lines_open(&r, path, MAX_FILE, MAX_LINE) < 0)
		return fail(&ps, 0, "%s", r.why);
	char *buf, section[32] = "";
	int rc = 0, got;
	while (!rc && (got = tb_lines_next(&r, &buf)) > 0)
		rc = parse_line(&ps, prm, buf, section, sizeof section, r.line);
	if (!rc && got < 0)
		rc = fail(&ps, r.line, "%s", r.why);
	int lines = r.line;
	tb_lines_close(&r);
	return rc ? rc : check_params(&ps, prm, lines);
}
