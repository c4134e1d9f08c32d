/* tb diag's performance verdicts (diag/perf.c) on results made here: an
 * outlier below 85% of the other GPUs' median fails, 90% passes, noise is
 * no verdict; a reference's median is judged the same way and written as
 * --calibrate writes it; a reference file that is not one is refused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag/diag.h"
#include "tests/tap.h"

/* GPU g's copy result with its host_to_vram samples */
static json_t *copy_result(int g, double a, double b, double c)
{
	json_t *r = diag_result("copy", g, DIAG_PASS, "OK", DIAG_ACT_NONE, "made by the test");
	double s[3] = { a, b, c };
	diag_measure_samples(r, "host_to_vram", s, 3, "GB/s");
	return r;
}

/* six GPUs at about 10 GB/s, GPU 3 at its three samples */
static json_t *six(double a, double b, double c)
{
	json_t *results = json_array();
	const double base[6] = { 10, 10.1, 9.9, 0, 10.05, 9.95 };
	for (int g = 0; g < 6; g++)
		json_array_append_new(results, g == 3 ? copy_result(g, a, b, c)
						       : copy_result(g, base[g], base[g] * 1.01, base[g] * 0.99));
	return results;
}

/* "STATUS REASON" of GPU g's perf verdict */
static const char *verdict(json_t *perf, int g)
{
	static char buf[128];
	size_t i;
	json_t *r;
	json_array_foreach(perf, i, r)
		if (json_integer_value(json_object_get(r, "gpu")) == g) {
			snprintf(buf, sizeof buf, "%s %s", json_string_value(json_object_get(r, "status")),
				 json_string_value(json_object_get(r, "reason")));
			return buf;
		}
	return "none";
}

static int passes(json_t *perf)
{
	int n = 0;
	size_t i;
	json_t *r;
	json_array_foreach(perf, i, r)
		n += diag_result_status(r) == DIAG_PASS;
	return n;
}

static const char *write_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/tb-test-perf.XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return "/nonexistent";
	close(fd);
	return path;
}

static void outliers(void)
{
	json_t *results = six(7, 7.05, 6.95);
	json_t *perf = diag_perf_judge(results, 0x3f, NULL);
	check(!strcmp(verdict(perf, 3), "FAIL PERF_OUTLIER") && passes(perf) == 5,
	      "GPU 3 at 70%% of the others' median: FAIL PERF_OUTLIER, the five others PASS (%s)", verdict(perf, 3));
	json_t *m = json_array_get(json_object_get(json_array_get(results, 3), "measurements"), 0);
	check(json_real_value(json_object_get(m, "value")) == 7 && json_real_value(json_object_get(m, "others_median")) == 10,
	      "the verdict is on the median of its iterations, against the others' median");
	json_decref(perf);
	json_decref(results);

	results = six(9, 9.05, 8.95);
	perf = diag_perf_judge(results, 0x3f, NULL);
	check(passes(perf) == 6, "GPU 3 at 90%%: every GPU PASS (%s)", verdict(perf, 3));
	json_decref(perf);
	json_decref(results);

	results = six(7, 4, 10);
	perf = diag_perf_judge(results, 0x3f, NULL);
	check(!strcmp(verdict(perf, 3), "SKIPPED PERF_TOO_NOISY"),
	      "GPU 3's iterations spread more than the margin: no verdict (%s)", verdict(perf, 3));
	json_decref(perf);
	json_decref(results);

	/* the others disagree among themselves: no one is an outlier of them */
	results = json_array();
	for (int g = 0; g < 6; g++)
		json_array_append_new(results, copy_result(g, 2.0 + g * 3, 2.0 + g * 3, 2.0 + g * 3));
	perf = diag_perf_judge(results, 0x3f, NULL);
	check(!strcmp(verdict(perf, 0), "SKIPPED PERF_TOO_NOISY"), "others that disagree: no verdict (%s)",
	      verdict(perf, 0));
	json_decref(perf);
	json_decref(results);

	/* a failed test's figures are not judged */
	results = six(7, 7, 7);
	json_object_set_new(json_array_get(results, 3), "status", json_string("FAIL"));
	perf = diag_perf_judge(results, 0x08, NULL);
	check(!strcmp(verdict(perf, 3), "SKIPPED NOTHING_TO_JUDGE"), "a FAIL result's throughput is not judged (%s)",
	      verdict(perf, 3));
	json_decref(perf);
	json_decref(results);
}

static void references(void)
{
	json_t *results = six(10, 10, 10);
	json_t *report = json_pack("{s:s, s:{s:s, s:i, s:[{},{},{},{},{},{}]}, s:O}", "schema", DIAG_SCHEMA, "run", "id",
				   "r1", "level", 1, "gpus", "results", results);
	json_t *ref = diag_reference_make(report);
	json_t *m = json_object_get(json_object_get(ref, "measurements"), "copy/host_to_vram");
	check(!strcmp(json_string_value(json_object_get(ref, "schema")), DIAG_REFERENCE_SCHEMA) &&
		      json_real_value(json_object_get(m, "median")) == 10 && json_integer_value(json_object_get(m, "gpus")) == 6,
	      "the reference holds each throughput's median over the GPUs");
	char *text = json_dumps(ref, 0);
	char err[512];
	json_t *back = diag_reference_read(write_file(text), err, sizeof err);
	check(back && json_equal(back, ref), "what --calibrate writes, --reference reads back (%s)", back ? "" : err);
	json_decref(back);
	free(text);

	/* a box twice as fast as this one */
	json_real_set(json_object_get(m, "median"), 20);
	json_t *perf = diag_perf_judge(results, 0x3f, ref);
	json_t *judged = json_array_get(json_object_get(json_array_get(results, 0), "measurements"), 0);
	check(!strcmp(verdict(perf, 0), "FAIL PERF_BELOW_REFERENCE") &&
		      json_real_value(json_object_get(judged, "reference")) == 20 &&
		      json_real_value(json_object_get(judged, "threshold")) == 17,
	      "half the reference: FAIL PERF_BELOW_REFERENCE, the reference and threshold in the measurement (%s)",
	      verdict(perf, 0));
	json_decref(perf);
	json_real_set(json_object_get(m, "median"), 11);
	perf = diag_perf_judge(results, 0x3f, ref);
	check(passes(perf) == 6, "91%% of the reference: PASS (%s)", verdict(perf, 0));
	json_decref(perf);
	json_decref(ref);
	json_decref(report);
	json_decref(results);

	static const char *const bad[] = {
		"not json",
		"{\"schema\": \"tb.diag/1\", \"measurements\": {}}",
		"{\"schema\": \"tb.diag.reference/1\"}",
		"{\"schema\": \"tb.diag.reference/1\", \"measurements\": {\"copy/x\": {\"median\": \"9\", \"unit\": \"GB/s\"}}}",
		"{\"schema\": \"tb.diag.reference/1\", \"measurements\": {\"copy/x\": {\"median\": -1, \"unit\": \"GB/s\"}}}",
		"{\"schema\": \"tb.diag.reference/1\", \"measurements\": {\"copy/x\": {\"median\": 9, \"unit\": \"ms\"}}}",
		"{\"schema\": \"tb.diag.reference/1\", \"measurements\": {\"nosep\": {\"median\": 9, \"unit\": \"GB/s\"}}}",
	};
	int refused = 0;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		const char *path = write_file(bad[i]);
		json_t *r = diag_reference_read(path, err, sizeof err);
		refused += !r && err[0];
		json_decref(r);
		unlink(path);
	}
	check(refused == (int)(sizeof bad / sizeof *bad), "reference files that are not one are refused with a message (%d of %zu)",
	      refused, sizeof bad / sizeof *bad);
}

int main(void)
{
	outliers();
	references();
	return tap_done();
}
