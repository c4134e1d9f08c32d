/* setup.conf: "key = value" lines under [section] headers, one section per
 * step (its name) and [setup] for the framework; '#' starts a comment line.
 * Only declared keys are accepted, each at most once, so a misspelled key is
 * an error at its FILE:LINE rather than a setting silently ignored. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "installer/internal.h"
#include "util/tbutil.h"

#define CONF_MAX_SIZE (64 * 1024)
#define CONF_MAX_LINE 1024
#define CONF_MAX_ENTRIES 256

const struct setup_key setup_framework_keys[] = {
	{ "command_timeout", "1800", "seconds a tool (mdadm, mkfs.ext4, tb diag) may run before it is killed" },
	{ "skip", NULL, "steps to leave out, separated by commas (an image without SSH: access)" },
	{ NULL },
};

struct conf_entry {
	char section[32], key[64];
	char *value;
	int line;
};

struct setup_conf {
	char path[PATH_MAX];
	struct conf_entry e[CONF_MAX_ENTRIES];
	size_t n;
};

static const struct setup_key *section_keys(const char *section)
{
	if (!strcmp(section, "setup"))
		return setup_framework_keys;
	for (size_t i = 0; setup_steps[i]; i++)
		if (!strcmp(setup_steps[i]->name, section))
			return setup_steps[i]->keys;
	return NULL;
}

static const struct setup_key *find_key(const struct setup_key *keys, const char *key)
{
	for (size_t i = 0; keys && keys[i].name; i++)
		if (!strcmp(keys[i].name, key))
			return &keys[i];
	return NULL;
}

static const struct conf_entry *find_entry(const struct setup_conf *c, const char *section, const char *key)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (!strcmp(c->e[i].section, section) && !strcmp(c->e[i].key, key))
			return &c->e[i];
	return NULL;
}

static int fail(char *err, size_t len, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t len, const char *path, int line, const char *fmt, ...)
{
	char why[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(err, len, "%s:%d: %s", path, line, why);
	return -EINVAL;
}

static char *trim(char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	char *e = p + strlen(p);
	while (e > p && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return p;
}

static void known_keys(const struct setup_key *keys, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; keys && keys[i].name && n + 1 < len; i++) {
		int w = snprintf(out + n, len - n, "%s%s", i ? ", " : "", keys[i].name);
		if (w < 0)
			break;
		n += (size_t)w;
	}
	if (!keys || !keys[0].name)
		snprintf(out, len, "(none)");
}

static int parse_header(char *p, char *section, size_t cap, const char *path, int line, char *err, size_t len)
{
	char *end = strchr(p, ']');
	if (!end || trim(end + 1)[0])
		return fail(err, len, path, line, "a section header is [name]");
	*end = '\0';
	char *name = trim(p + 1);
	if (!section_keys(name)) {
		char steps[300] = "setup";
		for (size_t i = 0; setup_steps[i]; i++)
			snprintf(steps + strlen(steps), sizeof steps - strlen(steps), ", %s", setup_steps[i]->name);
		return fail(err, len, path, line, "unknown section [%s]; the sections are %s", name, steps);
	}
	snprintf(section, cap, "%s", name);
	return 0;
}

static int parse_entry(struct setup_conf *c, char *p, const char *section, int line, char *err, size_t len)
{
	char *eq = strchr(p, '=');
	if (!section[0])
		return fail(err, len, c->path, line, "a key before any [section]");
	if (!eq)
		return fail(err, len, c->path, line, "expected 'key = value'");
	*eq = '\0';
	char *key = trim(p), *value = trim(eq + 1);
	const struct setup_key *keys = section_keys(section);
	if (!find_key(keys, key)) {
		char list[600];
		known_keys(keys, list, sizeof list);
		return fail(err, len, c->path, line, "[%s] has no key '%.60s'; its keys are %s", section, key, list);
	}
	if (!value[0])
		return fail(err, len, c->path, line, "%s: no value (remove the line for the default)", key);
	const struct conf_entry *dup = find_entry(c, section, key);
	if (dup)
		return fail(err, len, c->path, line, "%s is set twice in [%s] (first on line %d)", key, section, dup->line);
	if (c->n == CONF_MAX_ENTRIES)
		return fail(err, len, c->path, line, "more than %d settings", CONF_MAX_ENTRIES);
	struct conf_entry *e = &c->e[c->n];
	snprintf(e->section, sizeof e->section, "%s", section);
	snprintf(e->key, sizeof e->key, "%s", key);
	e->line = line;
	if (!(e->value = strdup(value)))
		return -ENOMEM;
	c->n++;
	return 0;
}

int setup_conf_load(const char *path, bool missing_ok, struct setup_conf **out, char *err, size_t len)
{
	struct setup_conf *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	snprintf(c->path, sizeof c->path, "%s", path);
	struct tb_lines r;
	int rc = tb_lines_open(&r, path, CONF_MAX_SIZE, CONF_MAX_LINE);
	if (rc == -ENOENT && missing_ok) {
		*out = c;
		return 0;
	}
	if (rc < 0) {
		snprintf(err, len, "%s: %s", path, r.why[0] ? r.why : strerror(-rc));
		free(c);
		return rc;
	}
	char section[32] = "", *line;
	bool parsed = true;
	while ((rc = tb_lines_next(&r, &line)) > 0) {
		char *p = trim(line);
		if (!p[0] || p[0] == '#' || p[0] == ';')
			continue;
		rc = p[0] == '[' ? parse_header(p, section, sizeof section, path, r.line, err, len)
				 : parse_entry(c, p, section, r.line, err, len);
		if (rc < 0) {
			parsed = false;
			break;
		}
	}
	if (rc < 0 && parsed)
		snprintf(err, len, "%s:%d: %s", path, r.line, r.why[0] ? r.why : strerror(-rc));
	tb_lines_close(&r);
	if (rc < 0) {
		setup_conf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void setup_conf_free(struct setup_conf *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].value);
	free(c);
}

const char *setup_conf_get(const struct setup_conf *c, const char *section, const char *key)
{
	const struct conf_entry *e = find_entry(c, section, key);
	if (e)
		return e->value;
	const struct setup_key *k = find_key(section_keys(section), key);
	return k ? k->def : NULL;
}

const char *setup_conf_where(const struct setup_conf *c, const char *section, const char *key, char *buf, size_t len)
{
	const struct conf_entry *e = find_entry(c, section, key);
	if (e)
		snprintf(buf, len, "%s:%d", c->path, e->line);
	else
		snprintf(buf, len, "%s ([%s] %s, default)", c ? c->path : "setup.conf", section, key);
	return buf;
}

int setup_conf_uint(const struct setup *s, struct step_run *r, const char *section, const char *key,
		    unsigned long long min, unsigned long long max, unsigned long long *out)
{
	const char *v = setup_conf_get(s->conf, section, key);
	char where[PATH_MAX + 64];
	if (!v)
		return step_fail(r, SETUP_FAILED, "%s: %s is not set",
				 setup_conf_where(s->conf, section, key, where, sizeof where), key);
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end || errno)
		return step_fail(r, SETUP_FAILED, "%s: %s '%s' is not a number",
				 setup_conf_where(s->conf, section, key, where, sizeof where), key, v);
	if (x < min || x > max)
		return step_fail(r, SETUP_FAILED, "%s: %s %llu is out of range (%llu to %llu)",
				 setup_conf_where(s->conf, section, key, where, sizeof where), key, x, min, max);
	*out = x;
	return SETUP_OK;
}

int setup_conf_bool(const struct setup *s, struct step_run *r, const char *section, const char *key, bool *out)
{
	const char *v = setup_conf_get(s->conf, section, key);
	char where[PATH_MAX + 64];
	if (v && (!strcmp(v, "yes") || !strcmp(v, "true"))) {
		*out = true;
		return SETUP_OK;
	}
	if (v && (!strcmp(v, "no") || !strcmp(v, "false"))) {
		*out = false;
		return SETUP_OK;
	}
	return step_fail(r, SETUP_FAILED, "%s: %s must be yes or no, not '%s'",
			 setup_conf_where(s->conf, section, key, where, sizeof where), key, v ? v : "");
}

void setup_conf_hash(const struct setup_conf *c, const char *section, const struct setup_key *keys, uint64_t *h)
{
	for (size_t i = 0; keys && keys[i].name; i++) {
		const char *v = setup_conf_get(c, section, keys[i].name);
		char buf[CONF_MAX_LINE + 128];
		int n = snprintf(buf, sizeof buf, "%s.%s=%s\n", section, keys[i].name, v ? v : "");
		*h = XXH3_64bits_withSeed(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, *h);
	}
}

static void print_section(FILE *f, const char *name, const char *summary, const struct setup_key *keys)
{
	fprintf(f, "\n# %s\n[%s]\n", summary, name);
	for (size_t i = 0; keys && keys[i].name; i++) {
		fprintf(f, "# %s\n", keys[i].doc);
		if (keys[i].def)
			fprintf(f, "#%s = %s\n", keys[i].name, keys[i].def);
		else
			fprintf(f, "#%s =\n", keys[i].name);
	}
}

void setup_conf_print_defaults(FILE *f)
{
	fprintf(f, "# /etc/tb/setup.conf: the desired state of the appliance for tb setup.\n"
		   "# Every key is shown commented out with its default; uncomment to change one.\n"
		   "# tb setup plan shows what a change would do; tb setup apply does it.\n");
	print_section(f, "setup", "tb setup itself", setup_framework_keys);
	for (size_t i = 0; setup_steps[i]; i++)
		print_section(f, setup_steps[i]->name, setup_steps[i]->summary, setup_steps[i]->keys);
}
