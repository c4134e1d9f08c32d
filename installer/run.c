/* A step's record (its actions, notes, inputs) and the runner: plan, apply
 * and verify over every step in order, with the ledger kept as they go. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "installer/internal.h"
#include "installer/runner.h"

/* A step that asks for a reboot this often in a row with the same inputs
 * is failed instead: the reboot does not bring what it waits for. */
#define MAX_REBOOTS 2

static char *vformat(const char *fmt, va_list ap)
{
	char *s;
	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

void step_action(struct step_run *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vformat(fmt, ap);
	va_end(ap);
	if (s && r->nactions < STEP_MAX_ACTIONS)
		r->actions[r->nactions++] = s;
	else if (s && r->nactions == STEP_MAX_ACTIONS) {
		/* the last slot says how many more there were */
		free(r->actions[STEP_MAX_ACTIONS - 1]);
		r->actions[STEP_MAX_ACTIONS - 1] = strdup("... and more changes (tb setup plan --json lists the first ones)");
		free(s);
	} else
		free(s);
}

void step_note(struct step_run *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = vformat(fmt, ap);
	va_end(ap);
	if (s && r->nnotes < STEP_MAX_NOTES)
		r->notes[r->nnotes++] = s;
	else
		free(s);
}

void step_input(struct step_run *r, const char *name, const char *value)
{
	r->inputs = XXH3_64bits_withSeed(name, strlen(name) + 1, r->inputs);
	r->inputs = XXH3_64bits_withSeed(value, strlen(value) + 1, r->inputs);
}

int step_fail(struct step_run *r, int result, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof r->msg, fmt, ap);
	va_end(ap);
	return result;
}

static void step_run_free(struct step_run *r)
{
	if (r->step && r->step->release)
		r->step->release(r);
	for (size_t i = 0; i < r->nactions; i++)
		free(r->actions[i]);
	for (size_t i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	memset(r, 0, sizeof *r);
}

/* The hash of what makes a step's result stale: its config section, and
 * for a once-step the machine's identity (a cloned image is a new machine:
 * cloud-init's per-instance). */
static uint64_t conf_hash(const struct setup *s, const struct setup_step *st)
{
	uint64_t h = XXH3_64bits(st->name, strlen(st->name));
	setup_conf_hash(s->conf, st->name, st->keys, &h);
	if (st->once) {
		char *id;
		size_t n;
		if (setup_file_read(s, "/etc/machine-id", 4096, &id, &n) == 0) {
			h = XXH3_64bits_withSeed(id, n, h);
			free(id);
		}
	}
	return h;
}

/* ---- the report ---- */

static const char *outcome_name(enum step_outcome o)
{
	static const char *const names[] = {
		[OUTCOME_OK] = "ok",	     [OUTCOME_CHANGED] = "changed", [OUTCOME_WOULD_CHANGE] = "would change",
		[OUTCOME_SKIPPED] = "done before", [OUTCOME_FAILED] = "failed", [OUTCOME_REFUSED] = "refused",
		[OUTCOME_REBOOT] = "reboot",  [OUTCOME_NOT_RUN] = "not run", [OUTCOME_LEFT_OUT] = "left out",
	};
	return names[o];
}

static const char *outcome_json(enum step_outcome o)
{
	static const char *const names[] = {
		[OUTCOME_OK] = "ok",	     [OUTCOME_CHANGED] = "changed", [OUTCOME_WOULD_CHANGE] = "would_change",
		[OUTCOME_SKIPPED] = "done_before", [OUTCOME_FAILED] = "failed", [OUTCOME_REFUSED] = "refused",
		[OUTCOME_REBOOT] = "reboot",  [OUTCOME_NOT_RUN] = "not_run", [OUTCOME_LEFT_OUT] = "left_out",
	};
	return names[o];
}

static void report_step(struct runner *run, const struct step_run *r, enum step_outcome o)
{
	struct setup *s = run->s;
	run->count[o]++;
	if (s->json) {
		json_t *a = json_array(), *n = json_array();
		for (size_t i = 0; i < r->nactions; i++)
			json_array_append_new(a, json_string(r->actions[i]));
		for (size_t i = 0; i < r->nnotes; i++)
			json_array_append_new(n, json_string(r->notes[i]));
		json_t *j = json_pack("{s:s, s:s, s:o, s:o}", "name", r->step->name, "result", outcome_json(o),
				      "actions", a, "notes", n);
		if (r->msg[0])
			json_object_set_new(j, "message", json_string(r->msg));
		json_array_append_new(run->json_steps, j);
		return;
	}
	FILE *f = run->out;
	fprintf(f, "%-9s %-12s %s", r->step->name, outcome_name(o), r->step->summary);
	if (r->nactions && (o == OUTCOME_CHANGED || o == OUTCOME_WOULD_CHANGE || o == OUTCOME_REBOOT))
		fprintf(f, " (%zu change%s)", r->nactions, r->nactions == 1 ? "" : "s");
	fputc('\n', f);
	if (o != OUTCOME_OK && o != OUTCOME_SKIPPED && o != OUTCOME_NOT_RUN && o != OUTCOME_LEFT_OUT)
		for (size_t i = 0; i < r->nactions; i++)
			fprintf(f, "    %s %s\n", o == OUTCOME_CHANGED || o == OUTCOME_REBOOT ? "did:" : o == OUTCOME_WOULD_CHANGE ? "would:" : "planned:", r->actions[i]);
	for (size_t i = 0; i < r->nnotes; i++)
		fprintf(f, "    note: %s\n", r->notes[i]);
	if (r->msg[0])
		fprintf(f, "    %s: %s\n", o == OUTCOME_REFUSED ? "refused" : o == OUTCOME_REBOOT ? "reboot" : "error",
			r->msg);
	fflush(f);
}

static void progress(struct runner *run, const struct setup_step *st, const char *what)
{
	if (run->s->json || !run->tty)
		return;
	fprintf(run->out, "%-9s %s...\r", st->name, what);
	fflush(run->out);
}

static void progress_clear(struct runner *run)
{
	if (!run->s->json && run->tty) {
		fprintf(run->out, "\r\033[K");
		fflush(run->out);
	}
}

static enum step_outcome outcome_of(int rc)
{
	return rc == SETUP_REFUSED ? OUTCOME_REFUSED : rc == SETUP_REBOOT ? OUTCOME_REBOOT : OUTCOME_FAILED;
}

static enum ledger_state ledger_of(int rc)
{
	return rc == SETUP_OK ? LEDGER_DONE : rc == SETUP_REFUSED ? LEDGER_REFUSED
				 : rc == SETUP_REBOOT ? LEDGER_REBOOT : LEDGER_FAILED;
}

/* A check's result must be a setup_result; anything else is a step's bug,
 * reported as a failure rather than passed on as an exit status. */
static int sane(struct step_run *r, int rc)
{
	if (rc == SETUP_OK || rc == SETUP_FAILED || rc == SETUP_REFUSED || rc == SETUP_REBOOT)
		return rc;
	if (!r->msg[0])
		snprintf(r->msg, sizeof r->msg, "internal error: result %d", rc);
	return SETUP_FAILED;
}

static int record(struct runner *run, struct ledger_entry *e, struct step_run *r, int rc, unsigned changes)
{
	e->state = ledger_of(rc);
	e->inputs = r->inputs;
	e->time = time(NULL);
	e->changes = changes;
	snprintf(e->message, sizeof e->message, "%s", r->msg);
	char err[512];
	if (ledger_save(run->s, &run->ledger, err, sizeof err) < 0) {
		snprintf(r->msg, sizeof r->msg, "%s", err);
		return SETUP_FAILED;
	}
	return rc;
}

/* Apply one step: check; when it finds changes, record it started, apply,
 * verify, record the result. */
static int apply_step(struct runner *run, const struct setup_step *st, struct step_run *r)
{
	struct setup *s = run->s;
	uint64_t ch = conf_hash(s, st);
	struct ledger_entry *e = ledger_find(&run->ledger, st->name, true);
	if (!e)
		return step_fail(r, SETUP_FAILED, "the ledger is full");
	if (e->state == LEDGER_STARTED)
		step_note(r, "the last run was cut short in this step: it was checked again, not repeated blind");
	if (st->once && e->state == LEDGER_DONE && e->conf == ch) {
		report_step(run, r, OUTCOME_SKIPPED);
		return SETUP_OK;
	}
	r->inputs = ch;
	progress(run, st, "checking");
	int rc = sane(r, st->check(s, r));
	if (rc == SETUP_OK && r->nactions == 0) {
		progress_clear(run);
		e->conf = ch;
		e->reboots = 0;
		rc = record(run, e, r, SETUP_OK, 0);
		report_step(run, r, rc == SETUP_OK ? OUTCOME_OK : OUTCOME_FAILED);
		return rc;
	}
	if (rc != SETUP_OK) {
		progress_clear(run);
		rc = record(run, e, r, rc, 0);
		report_step(run, r, outcome_of(rc));
		return rc;
	}
	/* recorded before anything changes: a run cut short from here on is
	 * seen by the next one */
	uint64_t prior_inputs = e->inputs;
	e->conf = ch;
	e->state = LEDGER_STARTED;
	e->inputs = r->inputs;
	e->time = time(NULL);
	e->message[0] = '\0';
	char err[512];
	if (ledger_save(s, &run->ledger, err, sizeof err) < 0) {
		rc = step_fail(r, SETUP_FAILED, "%s", err);
		report_step(run, r, OUTCOME_FAILED);
		return rc;
	}
	progress(run, st, "applying");
	rc = sane(r, st->apply(s, r));
	if (rc == SETUP_OK && st->verify) {
		progress(run, st, "verifying");
		rc = sane(r, st->verify(s, r));
	}
	progress_clear(run);
	if (rc == SETUP_REBOOT) {
		e->reboots = prior_inputs == r->inputs ? e->reboots + 1 : 1;
		if (e->reboots > MAX_REBOOTS) {
			char why[sizeof r->msg];
			snprintf(why, sizeof why, "%s", r->msg);
			rc = step_fail(r, SETUP_FAILED, "asked for a reboot %u times in a row and still not done: %.400s",
				       e->reboots, why);
		}
	} else
		e->reboots = 0;
	rc = record(run, e, r, rc, rc == SETUP_OK ? (unsigned)r->nactions : 0);
	report_step(run, r, rc == SETUP_OK ? OUTCOME_CHANGED : outcome_of(rc));
	return rc;
}

static int plan_step(struct runner *run, const struct setup_step *st, struct step_run *r)
{
	struct setup *s = run->s;
	uint64_t ch = conf_hash(s, st);
	struct ledger_entry *e = ledger_find(&run->ledger, st->name, false);
	if (st->once && e && e->state == LEDGER_DONE && e->conf == ch) {
		report_step(run, r, OUTCOME_SKIPPED);
		return SETUP_OK;
	}
	r->inputs = ch;
	progress(run, st, "checking");
	int rc = sane(r, st->check(s, r));
	progress_clear(run);
	report_step(run, r, rc != SETUP_OK ? outcome_of(rc) : r->nactions ? OUTCOME_WOULD_CHANGE : OUTCOME_OK);
	return rc;
}

/* verify: the desired state holds, i.e. the check finds nothing to change
 * and the step's own verification passes. */
static int verify_step(struct runner *run, const struct setup_step *st, struct step_run *r)
{
	struct setup *s = run->s;
	struct ledger_entry *e = ledger_find(&run->ledger, st->name, false);
	if (st->once && e && e->state == LEDGER_DONE && e->conf == conf_hash(s, st)) {
		report_step(run, r, OUTCOME_SKIPPED);
		return SETUP_OK;
	}
	progress(run, st, "checking");
	int rc = sane(r, st->check(s, r));
	if (rc == SETUP_OK && r->nactions)
		rc = step_fail(r, SETUP_FAILED, "not in the desired state: %zu change%s pending (tb setup apply makes them)",
			       r->nactions, r->nactions == 1 ? "" : "s");
	if (rc == SETUP_OK && st->verify) {
		progress(run, st, "verifying");
		rc = sane(r, st->verify(s, r));
	}
	progress_clear(run);
	report_step(run, r, rc == SETUP_OK ? OUTCOME_OK : outcome_of(rc));
	return rc;
}

bool runner_skipped(const struct setup *s, const char *step)
{
	const char *list = setup_conf_get(s->conf, "setup", "skip");
	size_t n = strlen(step);
	for (const char *p = list; p && *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t len = strcspn(p, ", ");
		if (len == n && !strncmp(p, step, n))
			return true;
		p += len;
	}
	return false;
}

/* The worse of two results: refused over failed over reboot. */
static int worse(int a, int b)
{
	static const int rank[] = { [SETUP_OK] = 0, [SETUP_REBOOT] = 1, [SETUP_FAILED] = 2, [SETUP_REFUSED] = 3 };
	return rank[b] > rank[a] ? b : a;
}

int runner_run(struct runner *run, enum runner_command cmd)
{
	int result = SETUP_OK;
	char err[512];
	if (ledger_load(run->s, &run->ledger, err, sizeof err) < 0) {
		fprintf(stderr, "tb setup: %s\n", err);
		return SETUP_FAILED;
	}
	bool stopped = false;
	for (size_t i = 0; setup_steps[i]; i++) {
		struct step_run r = { .step = setup_steps[i] };
		if (stopped || runner_skipped(run->s, setup_steps[i]->name)) {
			report_step(run, &r, stopped ? OUTCOME_NOT_RUN : OUTCOME_LEFT_OUT);
			continue;
		}
		int rc = cmd == RUN_APPLY ? apply_step(run, setup_steps[i], &r)
		       : cmd == RUN_PLAN  ? plan_step(run, setup_steps[i], &r)
					  : verify_step(run, setup_steps[i], &r);
		step_run_free(&r);
		result = worse(result, rc);
		/* an apply stops at the first step that did not get done: the
		 * later ones build on it */
		if (cmd == RUN_APPLY && rc != SETUP_OK)
			stopped = true;
	}
	return result;
}
