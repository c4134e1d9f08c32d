/* tb diag history: each GPU's measurements over the kept reports
 * (STATE/runs), the newest against the median of the ones before it, with
 * a warning where it is more than 10% worse. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diag/diag.h"

/* the newest reports looked at */
#define HISTORY_RUNS 200
/* worse than the GPU's own median by more than this warns */
#define DROP 0.10

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* +1 when more is better, -1 when less is, 0 when neither */
static int better(const char *unit)
{
	if (!strcmp(unit, "GB/s"))
		return 1;
	if (!strcmp(unit, "us") || !strcmp(unit, "ms"))
		return -1;
	return 0;
}

/* The reports' file names (run ids sort by time), oldest first. */
static int run_files(const char *state, char ***out)
{
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/runs", state);
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	char **names = NULL;
	int n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0 || e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (size_t)(cap = cap ? cap * 2 : 64) * sizeof *nn);
			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof *names, cmp_str);
	*out = names;
	return n;
}

/* series: "GPU/test/name" -> {unit, values: [..]} in run order */
static void collect(json_t *series, const json_t *report)
{
	size_t i, k;
	json_t *res, *m;
	json_array_foreach(json_object_get(report, "results"), i, res) {
		if (diag_result_status(res) != DIAG_PASS)
			continue;	/* a failed test's figures say nothing of the trend */
		json_array_foreach(json_object_get(res, "measurements"), k, m) {
			const char *unit = json_string_value(json_object_get(m, "unit")) ?: "";
			if (!better(unit) || !json_is_number(json_object_get(m, "value")))
				continue;
			char key[160];
			snprintf(key, sizeof key, "%lld/%s/%s", (long long)json_integer_value(json_object_get(res, "gpu")),
				 json_string_value(json_object_get(res, "test")) ?: "?",
				 json_string_value(json_object_get(m, "name")) ?: "?");
			json_t *s = json_object_get(series, key);
			if (!s) {
				s = json_pack("{s:I, s:s, s:s, s:s, s:[]}", "gpu",
					      json_integer_value(json_object_get(res, "gpu")), "test",
					      json_string_value(json_object_get(res, "test")) ?: "?", "measurement",
					      json_string_value(json_object_get(m, "name")) ?: "?", "unit", unit, "values");
				json_object_set_new(series, key, s);
			}
			json_array_append_new(json_object_get(s, "values"),
					      json_real(json_number_value(json_object_get(m, "value"))));
		}
	}
}

/* the newest value against the median of the ones before it */
static void judge(json_t *s)
{
	json_t *values = json_object_get(s, "values");
	size_t n = json_array_size(values);
	double latest = json_number_value(json_array_get(values, n - 1));
	json_object_set_new(s, "runs", json_integer((json_int_t)n));
	json_object_set_new(s, "latest", json_real(latest));
	if (n < 2) {
		json_object_set_new(s, "warn", json_false());
		return;
	}
	double *v = malloc((n - 1) * sizeof *v);
	if (!v)
		return;
	for (size_t i = 0; i + 1 < n; i++)
		v[i] = json_number_value(json_array_get(values, i));
	qsort(v, n - 1, sizeof *v, cmp_double);
	double med = (n - 1) % 2 ? v[(n - 1) / 2] : (v[(n - 1) / 2 - 1] + v[(n - 1) / 2]) / 2;
	free(v);
	double change = med != 0 ? (latest - med) / med : 0;
	int dir = better(json_string_value(json_object_get(s, "unit")));
	json_object_set_new(s, "median_before", json_real(med));
	json_object_set_new(s, "change", json_real(change));
	/* a worst case (a maximum) or a single first sample is noise, not a trend */
	const char *name = json_string_value(json_object_get(s, "measurement")) ?: "";
	size_t l = strlen(name);
	bool trend = !(l >= 4 && !strcmp(name + l - 4, "_max")) && !strstr(name, "first");
	json_object_set_new(s, "warn", json_boolean(trend && dir * change < -DROP));
}

int diag_history(int argc, char **argv, const char *state)
{
	bool json = false;
	uint32_t mask = 0;
	for (int i = 0; i < argc; i++) {
		uint64_t g;
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--state") && i + 1 < argc) {
			state = argv[++i];
		} else if ((!strcmp(argv[i], "-g") || !strcmp(argv[i], "--gpus")) && i + 1 < argc) {
			char list[256], *save = NULL;
			snprintf(list, sizeof list, "%s", argv[++i]);
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (diag_parse_u64(t, 0, DIAG_MAX_GPUS - 1, &g) < 0) {
					fprintf(stderr, "tb diag history: --gpus: '%s' is not a GPU number\n", t);
					return DIAG_EXIT_USAGE;
				}
				mask |= 1u << g;
			}
		} else {
			fprintf(stderr, "tb diag history: unexpected argument '%s'\n"
					"usage: tb diag history [-g GPUS] [--json] [--state DIR]\n", argv[i]);
			return DIAG_EXIT_USAGE;
		}
	}
	char **names = NULL;
	int n = run_files(state, &names);
	if (n < 0) {
		fprintf(stderr, "tb diag history: no reports in %s/runs: %s\n", state, strerror(-n));
		return DIAG_EXIT_USAGE;
	}
	json_t *series = json_object();
	int used = 0;
	for (int i = n > HISTORY_RUNS ? n - HISTORY_RUNS : 0; i < n; i++) {
		char path[4400], err[512];
		snprintf(path, sizeof path, "%s/runs/%s", state, names[i]);
		json_t *rep = diag_report_read(path, err, sizeof err);
		if (rep) {
			collect(series, rep);
			used++;
		} else {
			fprintf(stderr, "tb diag history: skipped %s\n", err);
		}
		json_decref(rep);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	int warnings = 0;
	json_t *out = json_array();
	const char *key;
	json_t *s;
	json_object_foreach(series, key, s) {
		if (mask && !(mask & (1u << json_integer_value(json_object_get(s, "gpu")))))
			continue;
		judge(s);
		warnings += json_is_true(json_object_get(s, "warn"));
		json_object_del(s, "values");
		json_array_append(out, s);
	}
	if (json) {
		json_t *doc = json_pack("{s:i, s:i, s:O}", "reports", used, "warnings", warnings, "series", out);
		char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(doc);
	} else {
		printf("%d reports\n%-4s %-14s %-20s %5s %12s %12s %8s\n", used, "GPU", "TEST", "MEASUREMENT", "RUNS",
		       "LATEST", "MEDIAN", "CHANGE");
		size_t i;
		json_array_foreach(out, i, s) {
			json_t *med = json_object_get(s, "median_before");
			char m[32] = "-", c[32] = "-";
			if (med) {
				snprintf(m, sizeof m, "%.3g", json_number_value(med));
				snprintf(c, sizeof c, "%+.1f%%", 100 * json_number_value(json_object_get(s, "change")));
			}
			printf("%-4lld %-14s %-20s %5lld %9.3g %-2s %12s %8s%s\n",
			       (long long)json_integer_value(json_object_get(s, "gpu")),
			       json_string_value(json_object_get(s, "test")), json_string_value(json_object_get(s, "measurement")),
			       (long long)json_integer_value(json_object_get(s, "runs")),
			       json_number_value(json_object_get(s, "latest")), json_string_value(json_object_get(s, "unit")), m,
			       c, json_is_true(json_object_get(s, "warn")) ? "  WARN: more than 10% worse" : "");
		}
	}
	json_decref(out);
	json_decref(series);
	return warnings ? DIAG_EXIT_HW : DIAG_EXIT_OK;
}
