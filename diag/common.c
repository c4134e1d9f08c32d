/* tb diag: the test catalogue, results and small helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diag/diag.h"

/* In the order they run.  Level 0 reads what the kernel publishes; the
 * others are a GPU's worker's. */
const struct diag_test diag_tests[] = {
	{ "exclusive", 0, false, 10, "no other process holds the GPU (else ENV_NOT_READY, its tests not run)" },
	{ "pcie", 0, false, 10, "the GPU and every hop above it at PCIe 4.0 x16" },
	{ "bar", 0, false, 10, "large BAR: BAR0 covers all of VRAM" },
	{ "counters", 0, false, 10, "no RAS, AER or reset counts, and none added during the run" },
	{ "sensors", 0, false, 10, "temperatures readable and within their limits at idle" },
	{ "queues", 1, true, 120, "a compute and an SDMA queue, each answering its first fence" },
	{ "fence", 1, true, 120, "fence round trips on the compute queue: latency" },
	{ "gemm", 1, true, 120, "an fp32 GEMM compared bit-exactly with the host's" },
	{ "copy", 1, true, 300, "host to VRAM to host copies of a keyed pattern, verified; bandwidth" },
	{ "vram", 2, true, 300, "VRAM patterns: keyed by address and seed, then inverted, checked in a rotated order" },
	{ "peer", 2, true, 300, "SDMA copies of keyed patterns into every other GPU's VRAM, each pair alone, then all at once; verified" },
	{ "queue_cycles", 2, true, 600, "compute and SDMA queues created, used and destroyed in a loop (the MES trigger)" },
	{ "gemm_long", 3, true, 120, "fp32 and fp16 (WMMA) GEMMs sustained, every output compared bit-exactly" },
	{ "sdma_long", 3, true, 120, "host to VRAM to host copies sustained, each round keyed with its own seed" },
	{ "vram_random", 3, true, 300, "random patterns, a new logged seed each round, and a retention region held the whole test" },
	{ "power", 3, true, 120, "power and thermal at the cap under sustained GEMMs: median power, junction, throttling, the fan answering" },
	{ "demo_loop", 3, true, 120, "the demo app in a loop: small dispatches back to back, every batch checked" },
	{ "queue_storm", 3, true, 1200, "2,000 queue cycles of either kind, on every GPU at once" },
	{ "recovery", DIAG_LEVEL_ON_HANG, true, 60, "with --allow-reset, after a hang: a new worker's queues answer (the GPU came back)" },
	{ "soak", 4, false, 10, "the sustained tests in rounds in a seeded random order: failures per GPU-hour" },
	{ "thermal", 1, false, 10, "hwmon over the run: no runaway to the limit, no stalled fan, no lost or frozen sensor" },
	{ "perf", 1, false, 10, "each throughput against the other GPUs' (below 85% of their median fails) and --reference's" },
};
const int diag_ntests = (int)(sizeof diag_tests / sizeof diag_tests[0]);

const struct diag_test *diag_test_find(const char *name)
{
	for (int i = 0; i < diag_ntests; i++)
		if (!strcmp(diag_tests[i].name, name))
			return &diag_tests[i];
	return NULL;
}

static const char *const status_names[] = {
	[DIAG_PASS] = "PASS",
	[DIAG_SKIPPED] = "SKIPPED",
	[DIAG_NOT_RUN] = "NOT_RUN",
	[DIAG_ENV_NOT_READY] = "ENV_NOT_READY",
	[DIAG_FAIL] = "FAIL",
	[DIAG_HANG] = "HANG",
	[DIAG_SYSTEM_CRASH_SUSPECTED] = "SYSTEM_CRASH_SUSPECTED",
};

const char *diag_status_name(enum diag_status s)
{
	return (unsigned)s < sizeof status_names / sizeof status_names[0] ? status_names[s] : "INVALID";
}

int diag_status_parse(const char *name, enum diag_status *out)
{
	for (size_t i = 0; name && i < sizeof status_names / sizeof status_names[0]; i++)
		if (!strcmp(name, status_names[i])) {
			*out = (enum diag_status)i;
			return 0;
		}
	return -EINVAL;
}

const char *diag_action_name(enum diag_action a)
{
	static const char *const names[] = { "NONE", "RETRY", "RESEAT_OR_BIOS", "UPDATE_FW_DRIVER", "REPLACE_HW",
					     "INVESTIGATE" };
	return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "INVESTIGATE";
}

json_t *diag_result(const char *test, int gpu, enum diag_status st, const char *reason, enum diag_action act,
		    const char *detail_fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, detail_fmt);
	vsnprintf(detail, sizeof detail, detail_fmt, ap);
	va_end(ap);
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:f, s:[], s:{}}", "test", test, "gpu", gpu, "status",
			 diag_status_name(st), "reason", reason, "action", diag_action_name(act), "detail", detail,
			 "seconds", 0.0, "measurements", "evidence");
}

void diag_measure(json_t *result, const char *name, double value, const char *unit, const char *threshold_kind,
		  double threshold)
{
	json_t *m = json_pack("{s:s, s:f, s:s}", "name", name, "value", value, "unit", unit);
	if (m && threshold_kind) {
		json_object_set_new(m, "threshold", json_real(threshold));
		json_object_set_new(m, "threshold_kind", json_string(threshold_kind));
	}
	json_t *list = json_object_get(result, "measurements");
	if (m && list)
		json_array_append_new(list, m);
	else
		json_decref(m);
}

enum diag_status diag_result_status(const json_t *result)
{
	enum diag_status st = DIAG_FAIL;
	diag_status_parse(json_string_value(json_object_get(result, "status")), &st);
	return st;
}

uint64_t diag_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

int diag_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

char *diag_read_file(const char *path, size_t max, const char *what, char *err, size_t errlen)
{
	err[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s is not %s (not a regular file of at most %zu MiB)", path, what, max >> 20);
		close(fd);
		return NULL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf)
		snprintf(err, errlen, "no memory for %s", path);
	else
		buf[got] = '\0';
	return buf;
}

json_t *diag_read_json(const char *path, size_t max, const char *what, char *err, size_t errlen)
{
	char *text = diag_read_file(path, max, what, err, errlen);
	if (!text)
		return NULL;
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	free(text);
	if (!j)
		snprintf(err, errlen, "%s: not JSON (line %d: %s)", path, je.line, je.text);
	return j;
}
