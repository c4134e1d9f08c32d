/* The final check: tb diag on the machine's GPUs (the quick level by
 * default), its report kept under ROOT/var/lib/tb-setup and summarised:
 * how many tests passed and failed, each failure named with its GPU.  A
 * diag that does not pass fails the step.  Once per machine and config
 * (the ledger's once): a later apply does not run it again after it
 * passed; tb diag itself re-runs it any time.
 *
 * The GPUs are the running machine's even with --root (as the system
 * check's): an image built on another machine sets run_diag = no.  A
 * running tb-inferd holds the GPUs, so it is stopped for the diag and
 * started again after. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "installer/setup.h"

#define SECTION "final"
#define REPORT_PATH "/var/lib/tb-setup/diag.json"
#define DIAG_STATE "/var/lib/tb-diag"
#define REPORT_MAX (16u << 20)
#define LIST_MAX 256
#define TOOL_OUT_MAX 256
#define INFERD_UNIT "tb-inferd.service"
/* tb diag's exit status after a run that ended in a suspected crash */
#define DIAG_EXIT_CRASHED 5

static const struct setup_key final_keys[] = {
	{ "run_diag", "yes", "run tb diag on this machine's GPUs (no for an image built on another machine)" },
	{ "level", "quick", "tb diag's level: inventory, quick or medium" },
	{ "gpus", NULL, "only these GPUs (tb diag -g), e.g. 0,3; default: all" },
	{ "tests", NULL, "only these tests (tb diag -t, see tb diag list); default: the level's" },
	{ NULL },
};

static const char *const levels[] = { "inventory", "quick", "medium" };

struct final {
	char tb[PATH_MAX];
	const char *level, *gpus, *tests;
	int diag_status;	/* tb diag's exit status, or negative errno */
};

static bool list_valid(const char *v, const char *chars)
{
	size_t n = strlen(v);
	return n > 0 && n < LIST_MAX && strspn(v, chars) == n && v[0] != ',' && v[n - 1] != ',' && !strstr(v, ",,");
}

static int read_conf(struct setup *s, struct step_run *r, struct final *f)
{
	char where[PATH_MAX + 64];
	f->level = setup_conf_get(s->conf, SECTION, "level");
	bool known = false;
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
		known |= !strcmp(f->level, levels[i]);
	if (!known)
		return step_fail(r, SETUP_FAILED, "%s: level '%s': inventory, quick or medium",
				 setup_conf_where(s->conf, SECTION, "level", where, sizeof where), f->level);
	f->gpus = setup_conf_get(s->conf, SECTION, "gpus");
	if (f->gpus && !list_valid(f->gpus, "0123456789,"))
		return step_fail(r, SETUP_FAILED, "%s: gpus '%s': GPU indices separated by commas, e.g. 0,3",
				 setup_conf_where(s->conf, SECTION, "gpus", where, sizeof where), f->gpus);
	f->tests = setup_conf_get(s->conf, SECTION, "tests");
	if (f->tests && !list_valid(f->tests, "abcdefghijklmnopqrstuvwxyz_,"))
		return step_fail(r, SETUP_FAILED, "%s: tests '%s': test names separated by commas (tb diag list)",
				 setup_conf_where(s->conf, SECTION, "tests", where, sizeof where), f->tests);
	return SETUP_OK;
}

static int final_check(struct setup *s, struct step_run *r)
{
	struct final *f = calloc(1, sizeof *f);
	if (!f)
		return step_fail(r, SETUP_FAILED, "out of memory");
	r->priv = f;
	bool run;
	int rc = setup_conf_bool(s, r, SECTION, "run_diag", &run);
	if (rc)
		return rc;
	if (!run) {
		step_note(r, "the GPUs' diagnostic: not run ([final] run_diag = no)");
		return SETUP_OK;
	}
	if ((rc = read_conf(s, r, f)))
		return rc;
	if (setup_tb_command(f->tb, sizeof f->tb) < 0)
		return step_fail(r, SETUP_FAILED, "the tb command is not installed beside tb setup (tb diag runs through it)");
	step_action(r, "run tb diag --level %s on %s%s%s%s (report %s)", f->level, f->gpus ? "GPUs " : "every GPU",
		    f->gpus ? f->gpus : "", f->tests ? ", tests " : "", f->tests ? f->tests : "", REPORT_PATH);
	return SETUP_OK;
}

/* ---- running it ---- */

static bool inferd_active(struct setup *s)
{
	if (!s->live || access("/run/systemd/system", F_OK) < 0)
		return false;
	const char *const a[] = { "systemctl", "is-active", "--quiet", INFERD_UNIT, NULL };
	char out[TOOL_OUT_MAX];
	return setup_capture(s, a, out, sizeof out) == 0;
}

static int final_apply(struct setup *s, struct step_run *r)
{
	struct final *f = r->priv;
	char report[PATH_MAX], state[PATH_MAX];
	if (setup_path(s, REPORT_PATH, report, sizeof report) < 0 || setup_path(s, DIAG_STATE, state, sizeof state) < 0)
		return step_fail(r, SETUP_FAILED, "the root's path is too long");
	/* a report left by an earlier run must not pass for this one's */
	if (unlink(report) < 0 && errno != ENOENT)
		return step_fail(r, SETUP_FAILED, "cannot remove the old %s: %s", report, strerror(errno));
	const char *argv[16];
	size_t n = 0;
	argv[n++] = f->tb;
	argv[n++] = "diag";
	argv[n++] = "--level";
	argv[n++] = f->level;
	argv[n++] = "--json";
	argv[n++] = report;
	argv[n++] = "--state";
	argv[n++] = state;
	argv[n++] = "--quiet";
	if (f->gpus) {
		argv[n++] = "--gpus";
		argv[n++] = f->gpus;
	}
	if (f->tests) {
		argv[n++] = "--tests";
		argv[n++] = f->tests;
	}
	argv[n] = NULL;
	bool stopped = inferd_active(s);
	const char *const stop[] = { "systemctl", "stop", INFERD_UNIT, NULL };
	if (stopped && setup_exec(s, r, stop) != 0)
		return SETUP_FAILED;
	if (stopped)
		step_note(r, "tb-inferd was stopped for the diagnostic (it holds the GPUs) and started again");
	f->diag_status = setup_exec(s, r, argv);
	r->msg[0] = '\0'; /* the verdict comes from the report (verify) */
	const char *const start[] = { "systemctl", "start", "--no-block", INFERD_UNIT, NULL };
	if (stopped && setup_exec(s, r, start) != 0)
		return SETUP_FAILED;
	if (f->diag_status < 0)
		return step_fail(r, SETUP_FAILED, "tb diag did not run: %s", strerror(-f->diag_status));
	return SETUP_OK;
}

/* ---- the report ---- */

static bool failed_status(const char *st)
{
	return !strcmp(st, "FAIL") || !strcmp(st, "HANG") || !strcmp(st, "SYSTEM_CRASH_SUSPECTED") ||
	       !strcmp(st, "ENV_NOT_READY");
}

static const char *gpu_pci(json_t *run, json_int_t gpu)
{
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(run, "gpus"), i, g)
		if (json_integer_value(json_object_get(g, "index")) == gpu && json_is_string(json_object_get(g, "pci")))
			return json_string_value(json_object_get(g, "pci"));
	return "?";
}

struct tally {
	unsigned passed, failed, skipped, not_run;
	char gpus[256];		/* the failing GPUs, named once each */
	bool named[64];
};

/* One result: counted, and named in a note when it failed. */
static void tally_result(struct step_run *r, json_t *run, json_t *res, struct tally *t)
{
	const char *st = json_string_value(json_object_get(res, "status"));
	const char *test = json_string_value(json_object_get(res, "test"));
	const char *reason = json_string_value(json_object_get(res, "reason"));
	const char *detail = json_string_value(json_object_get(res, "detail"));
	const char *action = json_string_value(json_object_get(res, "action"));
	json_t *gpu = json_object_get(res, "gpu");
	if (!strcmp(st, "PASS")) {
		t->passed++;
		return;
	}
	if (!failed_status(st)) {
		t->skipped += !strcmp(st, "SKIPPED");
		t->not_run += strcmp(st, "SKIPPED") != 0;
		return;
	}
	t->failed++;
	char who[64];
	if (json_is_integer(gpu)) {
		json_int_t g = json_integer_value(gpu);
		snprintf(who, sizeof who, "GPU %lld (%s)", (long long)g, gpu_pci(run, g));
		if (g >= 0 && g < 64 && !t->named[g]) {
			t->named[g] = true;
			snprintf(t->gpus + strlen(t->gpus), sizeof t->gpus - strlen(t->gpus), "%sGPU %lld %s %s",
				 t->gpus[0] ? ", " : "", (long long)g, test, st);
		}
	} else {
		snprintf(who, sizeof who, "the box");
	}
	step_note(r, "%s %s: %s %s: %s (action %s)", who, test, st, reason ? reason : "", detail ? detail : "",
		  action ? action : "none");
}

/* Every result well-formed: the test, the status and the reason strings. */
static bool results_valid(json_t *results)
{
	size_t i;
	json_t *res;
	if (!json_is_array(results) || json_array_size(results) == 0)
		return false;
	json_array_foreach(results, i, res)
		if (!json_is_string(json_object_get(res, "test")) || !json_is_string(json_object_get(res, "status")))
			return false;
	return true;
}

static int final_verify(struct setup *s, struct step_run *r)
{
	const struct final *f = r->priv;
	if (!f->tb[0])
		return SETUP_OK; /* run_diag = no */
	char *text;
	size_t len;
	int rc = setup_file_read(s, REPORT_PATH, REPORT_MAX, &text, &len);
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "tb diag (exit status %d) left no report in %s%s: %s; its output is in "
				 "/var/log/tb-setup.log", f->diag_status, s->root, REPORT_PATH, strerror(-rc));
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	json_t *run = json_object_get(j, "run"), *results = json_object_get(j, "results");
	const char *schema = json_string_value(json_object_get(j, "schema"));
	if (!j || !schema || strcmp(schema, "tb.diag/1") || !json_is_object(run) || !results_valid(results)) {
		json_decref(j);
		return step_fail(r, SETUP_FAILED, "%s%s: not a tb.diag/1 report with results", s->root, REPORT_PATH);
	}
	struct tally t = { 0 };
	size_t i;
	json_t *res;
	json_array_foreach(results, i, res)
		tally_result(r, run, res, &t);
	step_note(r, "tb diag --level %s on %zu GPU%s: %u passed, %u failed, %u skipped, %u not run (%.1f s; report %s)",
		  f->level, json_array_size(json_object_get(run, "gpus")),
		  json_array_size(json_object_get(run, "gpus")) == 1 ? "" : "s", t.passed, t.failed, t.skipped, t.not_run,
		  json_number_value(json_object_get(run, "seconds")), REPORT_PATH);
	json_decref(j);
	if (t.failed)
		return step_fail(r, SETUP_FAILED, "tb diag failed: %s (exit status %d)", t.gpus[0] ? t.gpus : "the box",
				 f->diag_status);
	if (f->diag_status == DIAG_EXIT_CRASHED)
		return step_fail(r, SETUP_FAILED, "the previous tb diag run ended in a suspected crash: see tb diag "
				 "report --state %s%s, then acknowledge it with --ack", s->root, DIAG_STATE);
	if (f->diag_status != 0)
		return step_fail(r, SETUP_FAILED, "tb diag exit status %d: inconclusive (its output is in "
				 "/var/log/tb-setup.log)", f->diag_status);
	return SETUP_OK;
}

static void final_release(struct step_run *r)
{
	free(r->priv);
	r->priv = NULL;
}

const struct setup_step step_final = {
	.name = "final",
	.summary = "tb diag on the GPUs: the box is healthy, its report kept",
	.keys = final_keys,
	.once = true,
	.check = final_check,
	.apply = final_apply,
	.verify = final_verify,
	.release = final_release,
};
