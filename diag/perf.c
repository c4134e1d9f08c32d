/* tb diag's performance verdicts: each GPU's throughputs (the measurements
 * in GB/s, each the median of its iterations) against the other GPUs'
 * (an outlier below PERF_MARGIN of their median fails) and against a
 * reference file that `tb diag --calibrate FILE` wrote on a known-good box.
 *
 * The reference file (schema tb.diag.reference/1), JSON:
 *   {"schema": "tb.diag.reference/1", "run": ID, "level": N, "gpus": N,
 *    "measurements": {"TEST/NAME": {"median": GB/s, "unit": "GB/s"}, ...}}
 * one entry a throughput the run measured: the median over its GPUs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diag/diag.h"

/* below this fraction of the others' median (or of the reference): FAIL */
#define PERF_MARGIN 0.85
/* a median whose iterations spread more than this (max - min over the
 * median) cannot be judged to PERF_MARGIN: it is reported as noisy */
#define PERF_MAX_SPREAD (1 - PERF_MARGIN)
/* the others needed for an outlier */
#define PERF_MIN_OTHERS 2

static bool judged(const json_t *m)
{
	return !strcmp(json_string_value(json_object_get(m, "unit")) ?: "", "GB/s") &&
	       json_is_number(json_object_get(m, "value"));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double diag_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

void diag_measure_samples(json_t *result, const char *name, double *samples, int n, const char *unit)
{
	json_t *list = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(list, json_real(samples[i]));
	diag_measure(result, name, diag_median(samples, n), unit, NULL, 0);
	json_t *ms = json_object_get(result, "measurements");
	json_object_set_new(json_array_get(ms, json_array_size(ms) - 1), "samples", list);
}

/* (max - min) / median of the measurement's samples (0 with fewer than two) */
static double spread(const json_t *m)
{
	const json_t *s = json_object_get(m, "samples");
	size_t n = json_array_size(s);
	if (n < 2)
		return 0;
	double lo = INFINITY, hi = -INFINITY, med = json_number_value(json_object_get(m, "value"));
	for (size_t i = 0; i < n; i++) {
		double v = json_number_value(json_array_get(s, i));
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	return med > 0 ? (hi - lo) / med : INFINITY;
}

/* ---- the reference file ------------------------------------------------------------------ */

json_t *diag_reference_read(const char *path, char *err, size_t errlen)
{
	json_t *ref = diag_read_json(path, DIAG_FILE_MAX, "a reference file", err, errlen);
	if (!ref) {
		if (!err[0])
			snprintf(err, errlen, "no reference file %s", path);
		return NULL;
	}
	const json_t *ms = json_object_get(ref, "measurements");
	if (!json_is_object(ref) ||
	    strcmp(json_string_value(json_object_get(ref, "schema")) ?: "", DIAG_REFERENCE_SCHEMA) != 0 ||
	    !json_is_object(ms)) {
		snprintf(err, errlen, "%s: not a %s reference file (tb diag --calibrate writes one)", path,
			 DIAG_REFERENCE_SCHEMA);
		json_decref(ref);
		return NULL;
	}
	const char *key;
	json_t *m;
	json_object_foreach((json_t *)ms, key, m) {
		double med = json_number_value(json_object_get(m, "median"));
		if (!strchr(key, '/') || !json_is_number(json_object_get(m, "median")) || !(med > 0) || !isfinite(med) ||
		    strcmp(json_string_value(json_object_get(m, "unit")) ?: "", "GB/s") != 0) {
			snprintf(err, errlen, "%s: measurement '%s' is not {\"median\": a positive number, \"unit\": \"GB/s\"}",
				 path, key);
			json_decref(ref);
			return NULL;
		}
	}
	return ref;
}

/* every GPU's value of one throughput, by "TEST/NAME" */
struct series {
	char key[96];
	int n;
	int gpu[DIAG_MAX_GPUS];
	json_t *m[DIAG_MAX_GPUS];	/* borrowed: the measurement in its result */
};

static int collect(const json_t *results, struct series *out, int max)
{
	int n = 0;
	size_t i, k;
	json_t *res, *m;
	json_array_foreach(results, i, res) {
		int g = (int)json_integer_value(json_object_get(res, "gpu"));
		if (diag_result_status(res) != DIAG_PASS || g < 0 || g >= DIAG_MAX_GPUS)
			continue;
		json_array_foreach(json_object_get(res, "measurements"), k, m) {
			if (!judged(m))
				continue;
			char key[96];
			snprintf(key, sizeof key, "%s/%s", json_string_value(json_object_get(res, "test")),
				 json_string_value(json_object_get(m, "name")));
			int s = 0;
			while (s < n && strcmp(out[s].key, key))
				s++;
			if (s == n) {
				if (n == max)
					continue;
				memset(&out[n], 0, sizeof out[n]);
				snprintf(out[n++].key, sizeof out[s].key, "%s", key);
			}
			if (out[s].n < DIAG_MAX_GPUS) {
				out[s].gpu[out[s].n] = g;
				out[s].m[out[s].n++] = m;
			}
		}
	}
	return n;
}

#define MAX_SERIES 64

json_t *diag_reference_make(const json_t *report)
{
	struct series s[MAX_SERIES];
	int n = collect(json_object_get(report, "results"), s, MAX_SERIES);
	json_t *ms = json_object();
	for (int i = 0; i < n; i++) {
		double v[DIAG_MAX_GPUS];
		for (int k = 0; k < s[i].n; k++)
			v[k] = json_number_value(json_object_get(s[i].m[k], "value"));
		json_object_set_new(ms, s[i].key, json_pack("{s:f, s:s, s:i}", "median", diag_median(v, s[i].n), "unit",
							    "GB/s", "gpus", s[i].n));
	}
	const json_t *run = json_object_get(report, "run");
	return json_pack("{s:s, s:O, s:O, s:i, s:o}", "schema", DIAG_REFERENCE_SCHEMA, "run", json_object_get(run, "id"),
			 "level", json_object_get(run, "level"), "gpus", (int)json_array_size(json_object_get(run, "gpus")),
			 "measurements", ms);
}

/* ---- the verdicts ----------------------------------------------------------------------- */

/* a list of names without repeats */
static void note(json_t *list, const char *key)
{
	size_t i;
	json_t *k;
	json_array_foreach(list, i, k)
		if (!strcmp(json_string_value(k), key))
			return;
	json_array_append_new(list, json_string(key));
}

struct verdict {
	json_t *fail;			/* the first failure, or NULL */
	json_t *noisy, *checked;	/* "TEST/NAME" lists */
};

static void fail(struct verdict *v, int gpu, const char *reason, const char *fmt, const char *key, double value,
		 double against)
{
	if (!v->fail)
		v->fail = diag_result("perf", gpu, DIAG_FAIL, reason, DIAG_ACT_INVESTIGATE, fmt, key, value, against,
				      value / against * 100);
}

/* one GPU's value of series s (index k) against the other GPUs' */
static void against_others(struct verdict *v, const struct series *s, int k)
{
	double others[DIAG_MAX_GPUS];
	int n = 0;
	for (int i = 0; i < s->n; i++)
		if (i != k)
			others[n++] = json_number_value(json_object_get(s->m[i], "value"));
	if (n < PERF_MIN_OTHERS)
		return;
	double med = diag_median(others, n), value = json_number_value(json_object_get(s->m[k], "value"));
	/* the others must agree among themselves (their middle half: one slow
	 * GPU among them is not disagreement), and this GPU's own iterations
	 * with each other, to the margin judged: else it is noise, not a verdict */
	double lo = others[n / 4], hi = others[n - 1 - n / 4];
	if (spread(s->m[k]) > PERF_MAX_SPREAD || !(med > 0) || (hi - lo) / med > PERF_MAX_SPREAD) {
		note(v->noisy, s->key);
		return;
	}
	json_object_set_new(s->m[k], "others_median", json_real(med));
	note(v->checked, s->key);
	if (value < PERF_MARGIN * med)
		fail(v, s->gpu[k], "PERF_OUTLIER", "%s: %.3g GB/s, below 85%% of the other GPUs' median %.3g GB/s (%.0f%%)",
		     s->key, value, med);
}

static void against_reference(struct verdict *v, const struct series *s, int k, const json_t *ref)
{
	const json_t *r = json_object_get(json_object_get(ref, "measurements"), s->key);
	if (!r)
		return;
	double want = json_number_value(json_object_get(r, "median")), value = json_number_value(json_object_get(s->m[k], "value"));
	json_object_set_new(s->m[k], "reference", json_real(want));
	json_object_set_new(s->m[k], "threshold", json_real(PERF_MARGIN * want));
	json_object_set_new(s->m[k], "threshold_kind", json_string("min"));
	note(v->checked, s->key);
	if (value < PERF_MARGIN * want)
		fail(v, s->gpu[k], "PERF_BELOW_REFERENCE", "%s: %.3g GB/s, below 85%% of the reference %.3g GB/s (%.0f%%)",
		     s->key, value, want);
}

json_t *diag_perf_judge(json_t *results, uint32_t gpus, const json_t *ref)
{
	json_t *out = json_array();
	struct series s[MAX_SERIES];
	int n = collect(results, s, MAX_SERIES);
	for (int g = 0; g < DIAG_MAX_GPUS; g++) {
		if (!(gpus & (1u << g)))
			continue;
		struct verdict v = { NULL, json_array(), json_array() };
		for (int i = 0; i < n; i++)
			for (int k = 0; k < s[i].n; k++)
				if (s[i].gpu[k] == g) {
					against_others(&v, &s[i], k);
					if (ref)
						against_reference(&v, &s[i], k, ref);
				}
		json_t *res = v.fail;
		if (!res && json_array_size(v.checked))
			res = diag_result("perf", g, DIAG_PASS, "OK", DIAG_ACT_NONE,
					  "%zu throughputs within 85%% of the other GPUs'%s", json_array_size(v.checked),
					  ref ? " and of the reference" : "");
		else if (!res)
			res = diag_result("perf", g, DIAG_SKIPPED, json_array_size(v.noisy) ? "PERF_TOO_NOISY" : "NOTHING_TO_JUDGE",
					  DIAG_ACT_NONE, "%s",
					  json_array_size(v.noisy) ? "the throughputs varied more than the margin judged: no verdict"
								   : "no throughput measured to judge");
		json_object_set_new(json_object_get(res, "evidence"), "judged", v.checked);
		json_object_set_new(json_object_get(res, "evidence"), "too_noisy", v.noisy);
		json_array_append_new(out, res);
	}
	return out;
}
