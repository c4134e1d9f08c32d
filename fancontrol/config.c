/* tb-fand's config file: "key = value" lines under [daemon], [fan NAME] and
 * [zone NAME] headers; '#' starts a comment.  Everything is validated here
 * so that the controller never meets a bad value: a bad file is refused
 * with FILE:LINE: reason. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fancontrol/fan.h"
#include "fancontrol/internal.h"

/* The shipped config is 5 KiB; the limits of FC_MAX_* fit in far less. */
#define MAX_FILE (1 << 20)
#define MAX_LINE 1024
#define MAX_SHARED 2

enum section { SEC_NONE, SEC_DAEMON, SEC_FAN, SEC_ZONE };

struct parse {
	const char *path;
	char *err;
	size_t errlen;
	struct fc_config *cfg;
	enum section sec;
	int sec_line;
	int line;
};

static int fail(struct parse *ps, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct parse *ps, int line, const char *fmt, ...)
{
	char why[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (ps->err && ps->errlen)
		snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, line, why);
	return -EINVAL;
}

char *fc_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static bool parse_number(const char *s, double *out)
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

static void defaults(struct fc_config *c)
{
	memset(c, 0, sizeof *c);
	c->interval_s = 0.5;
	c->failsafe_pwm = 255;
	c->stale_s = 20;
	c->slew_pct_s = 2;
	c->urgent_slew_pct_s = 20;
	c->hysteresis_pct = 3;
	snprintf(c->status_dir, sizeof c->status_dir, "/run/tb-fand");
}

static void fan_defaults(struct fc_fan_cfg *f)
{
	/* a generic 4-pin PWM fan until the config (or calibrate) says better */
	f->min_rpm = 300, f->max_rpm = 1500, f->start_pwm = 64, f->stop_pwm = 40;
	f->rated_rpm = 1500, f->rated_dba = 25;
	f->min_pwm = -1; /* default: the start duty, so a stopped fan always restarts */
	for (int i = 0; i < FC_MAX_MEMBERS; i++)
		f->tach[i] = -1;
}

static void zone_defaults(struct fc_zone_cfg *z)
{
	z->sensor = z->power = -1;
	z->limit_c = NAN;
	z->margin_c = 10;
	z->power_max_w = 0;
	/* demand is a fraction of full cooling: 10 °C over the set point asks
	 * for 30% more at once and 2%/s more while it lasts */
	z->kp = 0.03, z->ki = 0.002, z->kd = 0, z->ff = 0.5;
}

/* A sensor by its stable name, added on first use. */
static int sensor_ref(struct parse *ps, const char *name, enum fc_sensor_kind kind, int *out)
{
	struct fc_config *c = ps->cfg;
	const char *slash = strchr(name, '/');
	if (!slash || slash == name || !slash[1] || strchr(slash + 1, '/'))
		return fail(ps, ps->line, "sensor '%s' is not CHIP/LABEL (e.g. amdgpu-pci-0300/junction)", name);
	if ((size_t)(slash - name) >= FC_NAME || strlen(slash + 1) >= FC_NAME)
		return fail(ps, ps->line, "sensor name '%s' too long", name);
	for (int i = 0; i < c->nsensors; i++)
		if (!strcmp(c->sensor[i].name, name)) {
			if (c->sensor[i].kind != kind)
				return fail(ps, ps->line, "sensor '%s' used as two kinds", name);
			*out = i;
			return 0;
		}
	if (c->nsensors >= FC_MAX_SENSORS)
		return fail(ps, ps->line, "more than %d sensors", FC_MAX_SENSORS);
	struct fc_sensor_cfg *s = &c->sensor[c->nsensors];
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->chip, sizeof s->chip, "%.*s", (int)(slash - name), name);
	snprintf(s->label, sizeof s->label, "%s", slash + 1);
	s->kind = kind;
	*out = c->nsensors++;
	return 0;
}

static int fan_find(const struct fc_config *c, const char *name)
{
	for (int i = 0; i < c->nfans; i++)
		if (!strcmp(c->fan[i].name, name))
			return i;
	return -1;
}

struct numkey {
	const char *name;
	size_t off;
	double min, max;
};

#define FANK(n, lo, hi) { #n, offsetof(struct fc_fan_cfg, n), lo, hi }
static const struct numkey fan_keys[] = {
	FANK(min_rpm, 0, 30000), FANK(max_rpm, 1, 30000), FANK(start_pwm, 0, 255), FANK(stop_pwm, 0, 255),
	FANK(rated_rpm, 1, 30000), FANK(rated_dba, 0, 120), FANK(min_pwm, 0, 255),
};
#define ZONEK(n, lo, hi) { #n, offsetof(struct fc_zone_cfg, n), lo, hi }
static const struct numkey zone_keys[] = {
	ZONEK(limit_c, -20, 200), ZONEK(margin_c, 0, 100), ZONEK(power_max_w, 1, 5000), ZONEK(kp, 0, 10),
	ZONEK(ki, 0, 10), ZONEK(kd, 0, 100), ZONEK(ff, 0, 1),
};
#define DK(n, lo, hi) { #n, offsetof(struct fc_config, n), lo, hi }
static const struct numkey daemon_keys[] = {
	DK(interval_s, 0.05, 1), DK(stale_s, 1, 3600), DK(slew_pct_s, 0.1, 100),
	DK(urgent_slew_pct_s, 0.1, 1000), DK(hysteresis_pct, 0, 50),
};

/* A numeric key of a table; 1 when the key is not in it. */
static int set_number(struct parse *ps, const struct numkey *t, size_t n, void *obj, const char *key, const char *val)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].name, key))
			continue;
		double v;
		if (!parse_number(val, &v))
			return fail(ps, ps->line, "%s: not a number: '%s'", key, val);
		if (v < t[i].min || v > t[i].max)
			return fail(ps, ps->line, "%s = %g is out of range [%g, %g]", key, v, t[i].min, t[i].max);
		*(double *)((char *)obj + t[i].off) = v;
		return 0;
	}
	return 1;
}

static int daemon_key(struct parse *ps, const char *key, const char *val)
{
	struct fc_config *c = ps->cfg;
	if (!strcmp(key, "failsafe_pct")) {
		double v;
		if (!parse_number(val, &v) || v < 20 || v > 100)
			return fail(ps, ps->line, "failsafe_pct must be a number in [20, 100]: '%s'", val);
		c->failsafe_pwm = round(v * 255 / 100);
		return 0;
	}
	if (!strcmp(key, "status_dir")) {
		if (!*val || strlen(val) >= sizeof c->status_dir || val[0] != '/')
			return fail(ps, ps->line, "status_dir must be an absolute path");
		snprintf(c->status_dir, sizeof c->status_dir, "%s", val);
		return 0;
	}
	int rc = set_number(ps, daemon_keys, sizeof daemon_keys / sizeof daemon_keys[0], c, key, val);
	return rc == 1 ? fail(ps, ps->line, "unknown key '%s' in [daemon]", key) : rc;
}

/* "hwmon CHIP N...", "amdgpu CHIP" or "command" */
static int fan_actuator(struct parse *ps, struct fc_fan_cfg *f, char *val)
{
	char *save = NULL, *kind = strtok_r(val, " \t", &save);
	char *chip = strtok_r(NULL, " \t", &save);
	if (kind && !strcmp(kind, "command")) {
		f->act = FC_ACT_COMMAND;
		f->nmembers = 1;
		return chip ? fail(ps, ps->line, "actuator command takes no arguments (use set_command)") : 0;
	}
	if (!kind || (strcmp(kind, "hwmon") && strcmp(kind, "amdgpu")))
		return fail(ps, ps->line, "actuator must be 'hwmon CHIP PWM...', 'amdgpu CHIP' or 'command'");
	if (!chip || strlen(chip) >= FC_NAME)
		return fail(ps, ps->line, "actuator %s needs a chip name (e.g. nct6798-isa-0290)", kind);
	snprintf(f->chip, sizeof f->chip, "%s", chip);
	if (!strcmp(kind, "amdgpu")) {
		f->act = FC_ACT_AMDGPU;
		f->nmembers = 1;
		return strtok_r(NULL, " \t", &save) ? fail(ps, ps->line, "actuator amdgpu takes only a chip") : 0;
	}
	f->act = FC_ACT_HWMON;
	f->nmembers = 0;
	for (char *t; (t = strtok_r(NULL, " \t", &save));) {
		double v;
		if (!parse_number(t, &v) || v != floor(v) || v < 1 || v > 32)
			return fail(ps, ps->line, "pwm channel '%s' is not a number in [1, 32]", t);
		if (f->nmembers >= FC_MAX_MEMBERS)
			return fail(ps, ps->line, "more than %d pwm channels", FC_MAX_MEMBERS);
		f->channels[f->nmembers++] = (int)v;
	}
	return f->nmembers ? 0 : fail(ps, ps->line, "actuator hwmon needs pwm channel numbers");
}

static int fan_tach(struct parse *ps, struct fc_fan_cfg *f, char *val)
{
	char *save = NULL;
	int n = 0;
	for (char *t = strtok_r(val, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n >= FC_MAX_MEMBERS)
			return fail(ps, ps->line, "more than %d tachometers", FC_MAX_MEMBERS);
		int rc = sensor_ref(ps, t, FC_SENSOR_FAN, &f->tach[n++]);
		if (rc)
			return rc;
	}
	return n ? 0 : fail(ps, ps->line, "tach needs CHIP/LABEL names");
}

static int fan_key(struct parse *ps, const char *key, char *val)
{
	struct fc_fan_cfg *f = &ps->cfg->fan[ps->cfg->nfans - 1];
	if (!strcmp(key, "actuator"))
		return fan_actuator(ps, f, val);
	if (!strcmp(key, "tach"))
		return fan_tach(ps, f, val);
	if (!strcmp(key, "set_command") || !strcmp(key, "release_command")) {
		char *dst = key[0] == 's' ? f->set_cmd : f->release_cmd;
		if (strlen(val) >= FC_CMD)
			return fail(ps, ps->line, "%s longer than %d bytes", key, FC_CMD - 1);
		const char *pct = strchr(val, '%');
		if (key[0] == 's' && (!pct || pct[1] != 'd' || strchr(pct + 1, '%')))
			return fail(ps, ps->line, "set_command needs exactly one %%d (the duty in percent)");
		if (key[0] == 'r' && pct)
			return fail(ps, ps->line, "release_command takes no %% conversions");
		snprintf(dst, FC_CMD, "%s", val);
		return 0;
	}
	if (!strcmp(key, "shared")) {
		if (strcmp(val, "yes") && strcmp(val, "no"))
			return fail(ps, ps->line, "shared must be yes or no");
		f->shared = !strcmp(val, "yes");
		return 0;
	}
	int rc = set_number(ps, fan_keys, sizeof fan_keys / sizeof fan_keys[0], f, key, val);
	return rc == 1 ? fail(ps, ps->line, "unknown key '%s' in [fan %s]", key, f->name) : rc;
}

/* "NAME[:WEIGHT] ..." */
static int zone_fans(struct parse *ps, struct fc_zone_cfg *z, char *val)
{
	char *save = NULL;
	z->nfans = 0;
	for (char *t = strtok_r(val, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		char *colon = strchr(t, ':');
		double w = 1;
		if (colon) {
			*colon = '\0';
			if (!parse_number(colon + 1, &w) || w <= 0 || w > 10)
				return fail(ps, ps->line, "fan weight '%s' is not a number in (0, 10]", colon + 1);
		}
		int f = fan_find(ps->cfg, t);
		if (f < 0)
			return fail(ps, ps->line, "unknown fan '%s' (define a fan before the zones that use it)", t);
		if (z->nfans >= FC_MAX_ZONE_FANS)
			return fail(ps, ps->line, "more than %d fans in a zone", FC_MAX_ZONE_FANS);
		for (int i = 0; i < z->nfans; i++)
			if (z->fans[i] == f)
				return fail(ps, ps->line, "fan '%s' listed twice", t);
		z->fans[z->nfans] = f;
		z->weight[z->nfans++] = w;
	}
	return z->nfans ? 0 : fail(ps, ps->line, "fans needs at least one fan name");
}

static int zone_key(struct parse *ps, const char *key, char *val)
{
	struct fc_zone_cfg *z = &ps->cfg->zone[ps->cfg->nzones - 1];
	if (!strcmp(key, "sensor"))
		return sensor_ref(ps, val, FC_SENSOR_TEMP, &z->sensor);
	if (!strcmp(key, "power"))
		return sensor_ref(ps, val, FC_SENSOR_POWER, &z->power);
	if (!strcmp(key, "fans"))
		return zone_fans(ps, z, val);
	int rc = set_number(ps, zone_keys, sizeof zone_keys / sizeof zone_keys[0], z, key, val);
	return rc == 1 ? fail(ps, ps->line, "unknown key '%s' in [zone %s]", key, z->name) : rc;
}

/* Checks of a finished section, reported at its header line. */
static int check_section(struct parse *ps)
{
	struct fc_config *c = ps->cfg;
	if (ps->sec == SEC_FAN) {
		struct fc_fan_cfg *f = &c->fan[c->nfans - 1];
		if (!f->nmembers)
			return fail(ps, ps->sec_line, "[fan %s] has no actuator", f->name);
		if (f->act == FC_ACT_COMMAND && !f->set_cmd[0])
			return fail(ps, ps->sec_line, "[fan %s] actuator command needs set_command", f->name);
		if (f->stop_pwm > f->start_pwm)
			return fail(ps, ps->sec_line, "[fan %s] stop_pwm is above start_pwm", f->name);
		if (f->min_rpm >= f->max_rpm)
			return fail(ps, ps->sec_line, "[fan %s] min_rpm is not below max_rpm", f->name);
		if (f->min_pwm < 0)
			f->min_pwm = f->start_pwm;
		int ntach = 0;
		while (ntach < FC_MAX_MEMBERS && f->tach[ntach] >= 0)
			ntach++;
		if (ntach > f->nmembers)
			return fail(ps, ps->sec_line, "[fan %s] has more tachometers than fans", f->name);
	}
	if (ps->sec == SEC_ZONE) {
		struct fc_zone_cfg *z = &c->zone[c->nzones - 1];
		if (z->sensor < 0)
			return fail(ps, ps->sec_line, "[zone %s] has no sensor", z->name);
		if (isnan(z->limit_c))
			return fail(ps, ps->sec_line, "[zone %s] has no limit_c", z->name);
		if (!z->nfans)
			return fail(ps, ps->sec_line, "[zone %s] has no fans", z->name);
		if (z->power >= 0 && z->power_max_w <= 0)
			return fail(ps, ps->sec_line, "[zone %s] has power but no power_max_w", z->name);
	}
	return 0;
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) >= FC_NAME)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static int open_section(struct parse *ps, char *s)
{
	int rc = ps->sec ? check_section(ps) : 0;
	if (rc)
		return rc;
	size_t n = strlen(s);
	if (s[n - 1] != ']')
		return fail(ps, ps->line, "section header without ']'");
	s[n - 1] = '\0';
	char *body = fc_trim(s + 1), *name = body + strcspn(body, " \t");
	if (*name)
		*name++ = '\0';
	name = fc_trim(name);
	struct fc_config *c = ps->cfg;
	ps->sec_line = ps->line;
	if (!strcmp(body, "daemon") && !*name) {
		ps->sec = SEC_DAEMON;
		return 0;
	}
	bool fan = !strcmp(body, "fan"), zone = !strcmp(body, "zone");
	if (!fan && !zone)
		return fail(ps, ps->line, "unknown section [%s] (expected [daemon], [fan NAME] or [zone NAME])", body);
	if (!valid_name(name))
		return fail(ps, ps->line, "[%s] needs a name of letters, digits, '-', '_' or '.'", body);
	if (fan) {
		if (fan_find(c, name) >= 0)
			return fail(ps, ps->line, "duplicate [fan %s]", name);
		if (c->nfans >= FC_MAX_FANS)
			return fail(ps, ps->line, "more than %d fans", FC_MAX_FANS);
		struct fc_fan_cfg *f = &c->fan[c->nfans++];
		fan_defaults(f);
		snprintf(f->name, sizeof f->name, "%s", name);
		ps->sec = SEC_FAN;
		return 0;
	}
	for (int i = 0; i < c->nzones; i++)
		if (!strcmp(c->zone[i].name, name))
			return fail(ps, ps->line, "duplicate [zone %s]", name);
	if (c->nzones >= FC_MAX_ZONES)
		return fail(ps, ps->line, "more than %d zones", FC_MAX_ZONES);
	struct fc_zone_cfg *z = &c->zone[c->nzones++];
	zone_defaults(z);
	snprintf(z->name, sizeof z->name, "%s", name);
	ps->sec = SEC_ZONE;
	return 0;
}

static int parse_line(struct parse *ps, char *s)
{
	char *hash = strchr(s, '#');
	if (hash)
		*hash = '\0';
	s = fc_trim(s);
	if (!*s)
		return 0;
	if (*s == '[')
		return open_section(ps, s);
	char *eq = strchr(s, '=');
	if (!eq)
		return fail(ps, ps->line, "expected 'key = value'");
	*eq = '\0';
	char *key = fc_trim(s), *val = fc_trim(eq + 1);
	if (!*key)
		return fail(ps, ps->line, "missing key before '='");
	switch (ps->sec) {
	case SEC_DAEMON: return daemon_key(ps, key, val);
	case SEC_FAN: return fan_key(ps, key, val);
	case SEC_ZONE: return zone_key(ps, key, val);
	default: return fail(ps, ps->line, "key '%s' outside a section", key);
	}
}

/* Rules across sections, checked once the whole file is read. */
static int check_all(struct parse *ps)
{
	struct fc_config *c = ps->cfg;
	if (ps->sec && check_section(ps))
		return -EINVAL;
	if (!c->nzones)
		return fail(ps, ps->line, "no [zone NAME] sections: nothing to control");
	int shared = 0;
	for (int i = 0; i < c->nfans; i++)
		shared += c->fan[i].shared;
	if (shared > MAX_SHARED)
		return fail(ps, ps->line, "more than %d shared fans (the planner searches their speeds jointly)",
			    MAX_SHARED);
	for (int f = 0; f < c->nfans; f++) {
		bool used = false;
		for (int z = 0; z < c->nzones; z++)
			for (int k = 0; k < c->zone[z].nfans; k++)
				used |= c->zone[z].fans[k] == f;
		if (!used)
			return fail(ps, ps->line, "[fan %s] cools no zone", c->fan[f].name);
	}
	return 0;
}

int fc_config_load(const char *path, struct fc_config *cfg, char *err, size_t errlen)
{
	struct parse ps = {.path = path, .err = err, .errlen = errlen, .cfg = cfg};
	defaults(cfg);
	struct tb_lines r;
	if (tb_lines_open(&r, path, MAX_FILE, MAX_LINE) < 0)
		return fail(&ps, 0, "%s", r.why);
	char *line;
	int rc = 0, got;
	while (!rc && (got = tb_lines_next(&r, &line)) > 0) {
		ps.line = r.line;
		rc = parse_line(&ps, line);
	}
	if (!rc && got < 0)
		rc = fail(&ps, r.line, "%s", r.why);
	tb_lines_close(&r);
	return rc ? rc : check_all(&ps);
}
