/* The ledger: each step's last result, the hashes of its inputs, when, and
 * how many changes it made, in ROOT/var/lib/tb-setup/ledger.json, replaced
 * atomically (a power cut leaves the old ledger or the new one, never half
 * of one).  It is what lets a run resume: a step recorded "started" was cut
 * short and is checked again; a once-step recorded "done" with the same
 * inputs is not run again. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "installer/internal.h"

#define LEDGER_PATH "/var/lib/tb-setup/ledger.json"
#define LEDGER_SCHEMA "tb.setup.ledger/1"
#define LEDGER_MAX_SIZE (256 * 1024)

static const char *const state_names[] = {
	[LEDGER_NONE] = "none",	      [LEDGER_STARTED] = "started", [LEDGER_DONE] = "done",
	[LEDGER_FAILED] = "failed",   [LEDGER_REFUSED] = "refused", [LEDGER_REBOOT] = "reboot",
};

const char *ledger_state_name(enum ledger_state st)
{
	return st <= LEDGER_REBOOT ? state_names[st] : "?";
}

static int state_of(const char *name)
{
	for (int i = 0; i <= LEDGER_REBOOT; i++)
		if (!strcmp(state_names[i], name))
			return i;
	return -1;
}

struct ledger_entry *ledger_find(struct ledger *l, const char *step, bool create)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->e[i].step, step))
			return &l->e[i];
	if (!create || l->n == LEDGER_MAX)
		return NULL;
	struct ledger_entry *e = &l->e[l->n++];
	memset(e, 0, sizeof *e);
	snprintf(e->step, sizeof e->step, "%s", step);
	return e;
}

static int parse_hash(const char *hex, uint64_t *out)
{
	char *end;
	if (!hex || strlen(hex) != 16)
		return -EINVAL;
	errno = 0;
	*out = strtoull(hex, &end, 16);
	return *end || errno ? -EINVAL : 0;
}

static int parse_entry(struct ledger *l, const char *step, json_t *v)
{
	const char *state = json_string_value(json_object_get(v, "state"));
	json_t *t = json_object_get(v, "time"), *ch = json_object_get(v, "changes"), *rb = json_object_get(v, "reboots");
	int st = state ? state_of(state) : -1;
	uint64_t inputs, conf;
	if (strlen(step) >= sizeof l->e[0].step || st < 0 || !json_is_integer(t) || !json_is_integer(ch) ||
	    !json_is_integer(rb) || json_integer_value(ch) < 0 || json_integer_value(rb) < 0 ||
	    parse_hash(json_string_value(json_object_get(v, "inputs")), &inputs) ||
	    parse_hash(json_string_value(json_object_get(v, "conf")), &conf))
		return -EINVAL;
	struct ledger_entry *e = ledger_find(l, step, true);
	if (!e)
		return -E2BIG;
	e->state = (enum ledger_state)st;
	e->inputs = inputs;
	e->conf = conf;
	e->time = (time_t)json_integer_value(t);
	e->changes = (unsigned)json_integer_value(ch);
	e->reboots = (unsigned)json_integer_value(rb);
	const char *m = json_string_value(json_object_get(v, "message"));
	snprintf(e->message, sizeof e->message, "%s", m ? m : "");
	return 0;
}

int ledger_load(const struct setup *s, struct ledger *l, char *err, size_t len)
{
	memset(l, 0, sizeof *l);
	char *text;
	size_t n;
	int rc = setup_file_read(s, LEDGER_PATH, LEDGER_MAX_SIZE, &text, &n);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		snprintf(err, len, "%s%s: %s", s->root, LEDGER_PATH, strerror(-rc));
		return rc;
	}
	json_error_t je;
	json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	free(text);
	json_t *steps = json_object_get(root, "steps");
	const char *schema = json_string_value(json_object_get(root, "schema"));
	if (!root || !schema || strcmp(schema, LEDGER_SCHEMA) || !json_is_object(steps)) {
		snprintf(err, len, "%s%s: not a tb setup ledger (%s); move it aside to start over", s->root, LEDGER_PATH,
			 root ? "wrong schema" : je.text);
		json_decref(root);
		return -EINVAL;
	}
	const char *step;
	json_t *v;
	json_object_foreach(steps, step, v) {
		if ((rc = parse_entry(l, step, v)) < 0) {
			snprintf(err, len, "%s%s: step '%.40s': a malformed record; move the ledger aside to start over",
				 s->root, LEDGER_PATH, step);
			break;
		}
	}
	json_decref(root);
	return rc;
}

static json_t *entry_json(const struct ledger_entry *e)
{
	char inputs[17], conf[17];
	snprintf(inputs, sizeof inputs, "%016" PRIx64, e->inputs);
	snprintf(conf, sizeof conf, "%016" PRIx64, e->conf);
	return json_pack("{s:s, s:s, s:s, s:I, s:i, s:i, s:s}", "state", ledger_state_name(e->state), "inputs", inputs,
			 "conf", conf, "time", (json_int_t)e->time, "changes", (int)e->changes, "reboots",
			 (int)e->reboots, "message", e->message);
}

int ledger_save(const struct setup *s, const struct ledger *l, char *err, size_t len)
{
	json_t *steps = json_object();
	for (size_t i = 0; i < l->n; i++)
		json_object_set_new(steps, l->e[i].step, entry_json(&l->e[i]));
	json_t *root = json_pack("{s:s, s:o}", "schema", LEDGER_SCHEMA, "steps", steps);
	char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	if (!text)
		return -ENOMEM;
	char full[PATH_MAX];
	int rc = setup_path(s, LEDGER_PATH, full, sizeof full);
	if (!rc)
		rc = setup_make_parents(s, LEDGER_PATH);
	size_t tlen = strlen(text);
	text[tlen] = '\n'; /* json_dumps' NUL becomes the final newline */
	if (!rc)
		rc = setup_write_atomic(full, text, tlen + 1, 0644);
	free(text);
	if (rc < 0)
		snprintf(err, len, "cannot write the ledger %s: %s", full, strerror(-rc));
	return rc;
}
