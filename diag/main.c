/* tb diag: the command line. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag/diag.h"

#define DEFAULT_STATE "/var/lib/tb-diag"

static const char *const level_names[] = { "inventory", "quick", "medium", "long", "soak" };

/* --reference's file, held for the whole run (a global: still reachable at any exit) */
static json_t *reference;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb diag [-l LEVEL] [-g GPUS] [-t TESTS] [--seed N] [--iterations N]\n"
		"               [--duration T] [--until-fail] [--allow-reset]\n"
		"               [--json FILE] [--json-stream] [--state DIR] [--quiet]\n"
		"               [--reference FILE | --calibrate FILE]\n"
		"       tb diag list\n"
		"       tb diag report [RUN] [--json] [--ack] [--state DIR]\n"
		"       tb diag monitor [-g GPUS] [--duration SECONDS] [--json]\n"
		"       tb diag history [-g GPUS] [--json] [--state DIR]\n"
		"\n"
		"Stress-tests the GPUs: every GPU's tests run in a worker process of its own,\n"
		"watched by a supervisor that does no GPU work, so a GPU that hangs is reported\n"
		"(HANG, within 2 s of its deadline) and quarantined while the others go on.\n"
		"\n"
		"  -l, --level LEVEL  0 inventory (no GPU work), 1 quick (default), 2 medium,\n"
		"                     3 long, 4 soak; by number or name; each level runs the\n"
		"                     ones below too\n"
		"  -g, --gpus LIST    only these GPUs, e.g. 0,3,5\n"
		"  -t, --tests LIST   only these tests (tb diag list names them)\n"
		"  --seed N           the seed of the patterns and inputs (default: from the clock)\n"
		"  --iterations N     iterations of the looping tests (fence, queue_cycles, queue_storm)\n"
		"  --duration T       the sustained (level-3) tests' time, all of them together;\n"
		"                     a soak's length (T: 90, 90s, 30m, 12h)\n"
		"  --until-fail       soak: until a test fails or hangs\n"
		"  --allow-reset      after a GPU hangs, try it again from a new worker (once its\n"
		"                     stuck one is gone) and record whether it came back\n"
		"  --json FILE        the report as JSON (schema tb.diag/1) to FILE too\n"
		"  --json-stream      events as JSON lines on standard output as they happen\n"
		"  --state DIR        the journal and the reports (default " DEFAULT_STATE ")\n"
		"  --reference FILE   judge the throughputs against FILE too (below 85%% of it fails)\n"
		"  --calibrate FILE   on a known-good box: write the run's throughputs (each the\n"
		"                     median over the GPUs) to FILE as a reference, if all passed\n"
		"  --quiet            no table, no progress\n"
		"\n"
		"report: the last run's report (or RUN's), and a step a crashed run never\n"
		"finished; --ack acknowledges that crash, so that the next run exits 0 again.\n"
		"history: each GPU's measurements over the kept reports, the newest against\n"
		"the median of those before it; exits 1 when one is more than 10%% worse.\n"
		"monitor: no GPU work; beside a workload, the GPUs' resets, VM faults, thermal\n"
		"throttling, queue evictions, RAS and AER counts and kernel log lines as they\n"
		"happen, until --duration or Ctrl-C; exits 2 after a reset or fault, 1 after\n"
		"hardware errors, else 0.\n"
		"\n"
		"Statuses: PASS, FAIL, HANG, SYSTEM_CRASH_SUSPECTED, ENV_NOT_READY, SKIPPED, NOT_RUN.\n"
		"Exit codes (the worst wins, in this order: 5, 2, 1, 3):\n"
		"  0 all passed   1 hardware failure   2 hang, reset or driver/firmware fault\n"
		"  3 inconclusive (no GPUs, the environment not ready)   4 usage or configuration error\n"
		"  5 the previous run ended in a suspected crash (until tb diag report --ack)\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "tb diag: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(tb diag --help for the options)\n");
	return DIAG_EXIT_USAGE;
}

static int parse_level(const char *s, int *out)
{
	for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
		if (!strcmp(s, level_names[i])) {
			*out = i;
			return 0;
		}
	uint64_t v;
	if (diag_parse_u64(s, 0, 4, &v) < 0)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* N, Ns, Nm or Nh: seconds, at most a year */
static int parse_duration(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof num)
		return -EINVAL;
	uint64_t unit = 1;
	memcpy(num, s, n + 1);
	if (strchr("smh", num[n - 1])) {
		unit = num[n - 1] == 'h' ? 3600 : num[n - 1] == 'm' ? 60 : 1;
		num[n - 1] = '\0';
	}
	uint64_t v;
	if (diag_parse_u64(num, 1, 366ull * 24 * 3600 / unit, &v) < 0)
		return -EINVAL;
	*out = v * unit;
	return 0;
}

static int parse_gpus(char *s, uint32_t *mask)
{
	*mask = 0;
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (diag_parse_u64(t, 0, DIAG_MAX_GPUS - 1, &v) < 0)
			return -EINVAL;
		*mask |= 1u << v;
	}
	return *mask ? 0 : -EINVAL;
}

/* the installed GPU kernels: ../../share/tb next to libexec/tb/tb-diag */
static void share_dir(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(out, len, "%s/../../share/tb", dirname(self));
}

static int cmd_list(void)
{
	printf("%-14s %-6s %s\n", "TEST", "LEVEL", "WHAT");
	for (int i = 0; i < diag_ntests; i++)
		if (diag_tests[i].level == DIAG_LEVEL_ON_HANG)
			printf("%-14s %-6s %s\n", diag_tests[i].name, "-", diag_tests[i].what);
		else
			printf("%-14s %d %-4s %s\n", diag_tests[i].name, diag_tests[i].level,
			       level_names[diag_tests[i].level], diag_tests[i].what);
	return 0;
}

static int cmd_report(int argc, char **argv, const char *state)
{
	const char *run = NULL;
	bool json = false, ack = false;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--ack"))
			ack = true;
		else if (!strcmp(argv[i], "--state") && i + 1 < argc)
			state = argv[++i];
		else if (argv[i][0] == '-' || run)
			return bad_usage("report: unexpected argument '%s'", argv[i]);
		else if (strchr(argv[i], '/') || argv[i][0] == '.')
			return bad_usage("report: '%s' is not a run id", argv[i]);
		else
			run = argv[i];
	}
	char path[4400], err[512];
	if (run)
		snprintf(path, sizeof path, "%s/runs/%s.json", state, run);
	else
		snprintf(path, sizeof path, "%s/last", state);
	/* a crash the journal shows, whether or not a report followed it */
	json_t *crash = diag_journal_unfinished(state, err, sizeof err);
	char cpath[4200];
	snprintf(cpath, sizeof cpath, "%s/crash.json", state);
	if (!crash)
		crash = diag_read_json(cpath, DIAG_FILE_MAX, "a crash record", err, sizeof err);
	if (ack) {
		if (unlink(cpath) < 0 && errno != ENOENT) {
			fprintf(stderr, "tb diag: cannot acknowledge: %s: %s\n", cpath, strerror(errno));
			json_decref(crash);
			return DIAG_EXIT_USAGE;
		}
		/* the journal's unfinished run is acknowledged by closing it */
		if (crash) {
			FILE *j;
			snprintf(cpath, sizeof cpath, "%s/journal", state);
			if ((j = fopen(cpath, "ae"))) {
				fprintf(j, "{\"ev\":\"close\",\"acknowledged\":true}\n");
				fclose(j);
			}
		}
		printf("acknowledged%s\n", crash ? ": the crash is no longer reported" : " (no crash on record)");
		json_decref(crash);
		return 0;
	}
	json_t *rep = diag_report_read(path, err, sizeof err);
	if (!rep && !crash) {
		fprintf(stderr, "tb diag: %s\n", err);
		return DIAG_EXIT_USAGE;
	}
	if (!rep)
		rep = json_pack("{s:s, s:{s:s}, s:[]}", "schema", DIAG_SCHEMA, "run", "id", "(none)", "results");
	if (crash && !json_object_get(rep, "previous_crash"))
		json_object_set(rep, "previous_crash", crash);
	int code = diag_report_exit_code(rep);
	if (crash && code != DIAG_EXIT_CRASHED)
		code = DIAG_EXIT_CRASHED;
	if (json) {
		char *s = json_dumps(rep, JSON_INDENT(2));
		if (s)
			printf("%s\n", s);
		free(s);
	} else {
		diag_report_table(rep, stdout);
	}
	json_decref(rep);
	json_decref(crash);
	return code;
}

int main(int argc, char **argv)
{
	struct diag_options o = { .level = 1, .state_dir = DEFAULT_STATE };
	char share[PATH_MAX + 32];
	share_dir(share, sizeof share);
	o.share_dir = share;
	const char *state_env = getenv("TB_DIAG_STATE");
	if (state_env && *state_env)
		o.state_dir = state_env;
	/* --state DIR may come before a subcommand too */
	while (argc > 2 && !strcmp(argv[1], "--state")) {
		o.state_dir = argv[2];
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	if (argc > 1 && !strcmp(argv[1], "list"))
		return argc == 2 ? cmd_list() : bad_usage("list takes no arguments, not '%s'", argv[2]);
	if (argc > 1 && !strcmp(argv[1], "report"))
		return cmd_report(argc - 2, argv + 2, o.state_dir);
	if (argc > 1 && !strcmp(argv[1], "monitor"))
		return diag_monitor(argc - 2, argv + 2);
	if (argc > 1 && !strcmp(argv[1], "history"))
		return diag_history(argc - 2, argv + 2, o.state_dir);
	char gpus_arg[256];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = !strcmp(a, "-l") || !strcmp(a, "--level") || !strcmp(a, "-g") || !strcmp(a, "--gpus") ||
			     !strcmp(a, "-t") || !strcmp(a, "--tests") || !strcmp(a, "--seed") || !strcmp(a, "--json") ||
			     !strcmp(a, "--state") || !strcmp(a, "--iterations") || !strcmp(a, "--reference") ||
			     !strcmp(a, "--calibrate") || !strcmp(a, "--duration");
		if (takes && !v)
			return bad_usage("%s needs a value", a);
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-l") || !strcmp(a, "--level")) {
			if (parse_level(v, &o.level) < 0)
				return bad_usage("--level: '%s' is not a level (0-4, inventory, quick, medium, long, soak)", v);
		} else if (!strcmp(a, "-g") || !strcmp(a, "--gpus")) {
			snprintf(gpus_arg, sizeof gpus_arg, "%s", v);
			if (strlen(v) >= sizeof gpus_arg || parse_gpus(gpus_arg, &o.gpu_mask) < 0)
				return bad_usage("--gpus: '%s' is not a list of GPU numbers like 0,3,5", v);
		} else if (!strcmp(a, "-t") || !strcmp(a, "--tests")) {
			char *list = strdup(v), *save = NULL;
			if (!list)
				return DIAG_EXIT_USAGE;
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				const struct diag_test *dt = diag_test_find(t);
				if (!dt) {
					int rc = bad_usage("--tests: no test '%s' (tb diag list names them)", t);
					free(list);
					return rc;
				}
				if (o.nonly < DIAG_MAX_TESTS)
					o.only[o.nonly++] = dt->name;
			}
			free(list);
			if (o.nonly == 0)
				return bad_usage("--tests: '%s' names no test", v);
		} else if (!strcmp(a, "--seed")) {
			if (diag_parse_u64(v, 0, INT64_MAX, &o.seed) < 0)
				return bad_usage("--seed: '%s' is not a whole number", v);
			o.seed_given = true;
		} else if (!strcmp(a, "--iterations")) {
			uint64_t n;
			if (diag_parse_u64(v, 1, 1000000, &n) < 0)
				return bad_usage("--iterations: '%s' is not a count from 1 to 1000000", v);
			o.iterations = (int)n;
		} else if (!strcmp(a, "--json")) {
			o.json_file = v;
		} else if (!strcmp(a, "--reference")) {
			char err[512];
			json_decref(reference);
			if (!(reference = diag_reference_read(v, err, sizeof err)))
				return bad_usage("--reference: %s", err);
			o.reference = reference;
		} else if (!strcmp(a, "--calibrate")) {
			o.calibrate = v;
		} else if (!strcmp(a, "--state")) {
			o.state_dir = v;
		} else if (!strcmp(a, "--duration")) {
			if (parse_duration(v, &o.duration_s) < 0)
				return bad_usage("--duration: '%s' is not a time like 90, 90s, 30m or 12h", v);
		} else if (!strcmp(a, "--allow-reset")) {
			o.allow_reset = true;
		} else if (!strcmp(a, "--until-fail")) {
			o.until_fail = true;
		} else if (!strcmp(a, "--json-stream")) {
			o.json_stream = true;
		} else if (!strcmp(a, "--quiet")) {
			o.quiet = true;
		} else {
			return bad_usage("unknown argument '%s'", a);
		}
		if (takes)
			i++;
	}
	if (o.level == 4 && !o.duration_s && !o.until_fail)
		return bad_usage("%s", "--level soak runs until --duration T or --until-fail: give one");
	int code = diag_run(&o);
	json_decref(reference);
	return code;
}
