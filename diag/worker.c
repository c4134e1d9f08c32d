/* tb diag's worker: one process for one GPU, running its GPU tests through
 * libtbhal.  Before each step it tells the supervisor the step and the
 * time within which it will speak again (its deadline) and waits until the
 * supervisor has journalled the step; every wait on the GPU is bounded by
 * that deadline, so a worker that is not stuck in the kernel always
 * reports.  A hang or a reset ends the worker: the GPU is quarantined. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag/diag.h"
#include "driver/tbdrv.h"
#include "hal/tbhal.h"

/* a submission's deadline: at least this, else ten times its calibrated time */
#define DEADLINE_MIN_MS 2000u
/* the first submission of its kind, which calibrates the others (a fence
 * needs no calibration: DEADLINE_MIN_MS) */
#define CALIBRATION_DEADLINE_MS 10000u
/* no submission is allowed longer than this (the longest test's budget) */
#define DEADLINE_MAX_MS 600000u

struct gpu_run {
	struct diag_worker_ctx *ctx;
	tbh_device *dev;
	tbh_program *prog;
	const tbh_kernel *gemm, *fill, *check, *march, *wmma;
	tbh_queue *compute, *copy;
	tbh_signal *sig;
	uint64_t next;			/* the signal's next value */
	const char *test;
	bool gone;			/* hung or reset: no more work */
	uint64_t rng;
};

void diag_send(struct diag_link *l, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	if (s) {
		fprintf(l->out, "%s\n", s);
		fflush(l->out);
		free(s);
	}
	json_decref(msg);
}

/* Announce a step and wait until the supervisor has journalled it (one
 * byte back on fd 0).  An exclusive step waits, besides, until no other
 * GPU's worker is in one: what a GPU does alone. */
static void step_as(struct gpu_run *r, const char *name, uint32_t deadline_ms, bool exclusive)
{
	diag_send(&r->ctx->link, json_pack("{s:s, s:s, s:s, s:I, s:b}", "ev", "step", "test", r->test, "step", name,
					   "deadline_ms", (json_int_t)deadline_ms, "exclusive", exclusive));
	char ack;
	while (read(STDIN_FILENO, &ack, 1) < 0 && errno == EINTR)
		;
}

static void step(struct gpu_run *r, const char *name, uint32_t deadline_ms)
{
	step_as(r, name, deadline_ms, false);
}

/* still working: the next message comes within deadline_ms */
static void progress(struct gpu_run *r, uint64_t done, uint64_t total, uint32_t deadline_ms)
{
	diag_send(&r->ctx->link, json_pack("{s:s, s:s, s:I, s:I, s:I}", "ev", "progress", "test", r->test, "done",
					   (json_int_t)done, "total", (json_int_t)total, "deadline_ms",
					   (json_int_t)deadline_ms));
}

/* ten times the calibrated time, at least DEADLINE_MIN_MS; a submission
 * that long is bounded by its test's budget, which the supervisor holds */
static uint32_t deadline_for(double calibrated_ms)
{
	double d = calibrated_ms * 10;
	return d < DEADLINE_MIN_MS ? DEADLINE_MIN_MS : d > DEADLINE_MAX_MS ? DEADLINE_MAX_MS : (uint32_t)d;
}

static double ms_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* After the commands queued on q (rc: how queuing them went): a signal,
 * the submission, the wait within deadline; the time since t0 into *ms
 * (NULL: not wanted). */
static int submit_and_wait(struct gpu_run *r, tbh_queue *q, int rc, uint32_t deadline_ms, const struct timespec *t0,
			   double *ms)
{
	uint64_t v = ++r->next;
	if (rc == 0)
		rc = tbh_queue_signal(q, r->sig, v);
	if (rc == 0)
		rc = tbh_queue_submit(q);
	if (rc == 0)
		rc = tbh_signal_wait(r->sig, v, deadline_ms);
	if (ms)
		*ms = ms_since(t0);
	return rc;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A failure of the GPU itself (a timeout, a reset, a fault) as the test's
 * result: HANG, and the GPU takes no more work. */
static json_t *gpu_failed(struct gpu_run *r, int rc, const char *what)
{
	r->gone = true;
	bool timeout = rc == -ETIMEDOUT;
	json_t *res = diag_result(r->test, r->ctx->gpu, DIAG_HANG, timeout ? "SUBMISSION_TIMEOUT" : "GPU_FAULT_OR_RESET",
				  timeout ? DIAG_ACT_RETRY : DIAG_ACT_INVESTIGATE, "%s: %s", what,
				  timeout ? "no progress by its deadline" : strerror(-rc));
	json_object_set_new(json_object_get(res, "evidence"), "driver_message", json_string(tbh_last_error()));
	return res;
}

/* one fence on q: signal, submit, wait; its wall time in ms, or -errno */
static double fence(struct gpu_run *r, tbh_queue *q, uint32_t deadline_ms, int *rc)
{
	struct timespec a;
	double ms;
	clock_gettime(CLOCK_MONOTONIC, &a);
	*rc = submit_and_wait(r, q, 0, deadline_ms, &a, &ms);
	return ms;
}


/* ---- the tests -------------------------------------------------------------------------- */

/* the compute and SDMA queues and the signal the tests share */
static int make_queues(struct gpu_run *r)
{
	if (r->compute)
		return 0;
	step(r, "create queues", CALIBRATION_DEADLINE_MS);
	int rc = tbh_queue_create(r->dev, TBH_QUEUE_COMPUTE, &r->compute);
	if (rc == 0)
		rc = tbh_queue_create(r->dev, TBH_QUEUE_COPY, &r->copy);
	if (rc == 0)
		rc = tbh_signal_create(r->dev, 0, &r->sig);
	return rc;
}

static json_t *test_queues(struct gpu_run *r)
{
	int rc = make_queues(r);
	if (rc < 0)
		return diag_result("queues", r->ctx->gpu, DIAG_FAIL, "QUEUE_CREATE_FAILED", DIAG_ACT_UPDATE_FW_DRIVER,
				   "cannot create the queues: %s", tbh_last_error());
	step(r, "first compute fence", DEADLINE_MIN_MS);
	double tc = fence(r, r->compute, DEADLINE_MIN_MS, &rc);
	if (rc < 0)
		return gpu_failed(r, rc, "the compute queue's first fence");
	step(r, "first SDMA fence", DEADLINE_MIN_MS);
	double ts = fence(r, r->copy, DEADLINE_MIN_MS, &rc);
	if (rc < 0)
		return gpu_failed(r, rc, "the SDMA queue's first fence");
	json_t *res = diag_result("queues", r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE, "both queues answer");
	diag_measure(res, "compute_first_fence", tc, "ms", NULL, 0);
	diag_measure(res, "sdma_first_fence", ts, "ms", NULL, 0);
	return res;
}

/* after a hang, from a new worker: the GPU came back if its queues answer */
static json_t *test_recovery(struct gpu_run *r)
{
	json_t *res = test_queues(r);
	if (diag_result_status(res) == DIAG_PASS)
		json_object_set_new(res, "detail", json_string("the GPU came back: a new worker's compute and SDMA queues answer"));
	return res;
}

static json_t *test_fence(struct gpu_run *r)
{
	int n = r->ctx->iterations ? r->ctx->iterations : 100, rc = 0;
	double *t = calloc((size_t)n, sizeof *t);
	if (!t)
		return diag_result("fence", r->ctx->gpu, DIAG_NOT_RUN, "OUT_OF_MEMORY", DIAG_ACT_RETRY, "no memory");
	step(r, "round trips", DEADLINE_MIN_MS);
	uint32_t deadline = DEADLINE_MIN_MS;
	for (int i = 0; i < n; i++) {
		t[i] = fence(r, r->compute, deadline, &rc);
		if (rc < 0) {
			free(t);
			char what[64];
			snprintf(what, sizeof what, "round trip %d of %d", i + 1, n);
			return gpu_failed(r, rc, what);
		}
		if (i == 0)
			deadline = deadline_for(t[0]);
		progress(r, (uint64_t)i + 1, (uint64_t)n, deadline);
	}
	double worst = 0;
	for (int i = 0; i < n; i++)
		worst = t[i] > worst ? t[i] : worst;
	double med = diag_median(t, n);
	free(t);
	json_t *res = diag_result("fence", r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE, "%d round trips", n);
	diag_measure(res, "round_trip_median", med * 1000, "us", NULL, 0);
	diag_measure(res, "round_trip_max", worst * 1000, "us", NULL, 0);
	return res;
}

/* pattern_check's and march_element's error block (diag.cl's ERR_*): the
 * count of wrong words, the OR of their bad bits, the first bad index, a
 * count per bit position, the last bad index, the wrong words that hold
 * another address's word and the OR of the address bits between them */
enum { ERR_COUNT, ERR_BITS, ERR_FIRST, ERR_HIST, ERR_LAST = ERR_HIST + 32, ERR_ADDR_FAULTS, ERR_ADDR_BITS, ERROR_WORDS };
/* the wrong words of a dispatch looked at for address faults (diag.cl's) */
#define ADDRESS_FAULT_SAMPLES 1024u

static void reset_errors(uint32_t *e)
{
	memset(e, 0, ERROR_WORDS * 4);
	e[ERR_FIRST] = UINT32_MAX;
}

/* A kernel's argument block from its values in order (each as wide as
 * the kernel's argument: 8-byte values are read as uint64_t, 4-byte as
 * uint32_t), laid out as the code object says. */
static size_t pack_args(const tbh_kernel *k, uint8_t *out, size_t len, const uint64_t *values, uint32_t n)
{
	size_t size = tbh_kernel_args_size(k);
	if (size > len || tbh_kernel_arg_count(k) != n)
		return 0;
	memset(out, 0, size);
	for (uint32_t i = 0; i < n; i++) {
		tbh_kernel_arg a;
		if (tbh_kernel_arg_info(k, i, &a) < 0 || a.offset + a.size > size || (a.size != 4 && a.size != 8))
			return 0;
		uint32_t v32 = (uint32_t)values[i];
		memcpy(out + a.offset, a.size == 8 ? (const void *)&values[i] : (const void *)&v32, a.size);
	}
	return size;
}

/* run kernel k once over n work-items and wait */
static int run_kernel(struct gpu_run *r, const tbh_kernel *k, const void *args, size_t size, uint32_t n,
		      uint32_t deadline_ms, double *ms)
{
	uint32_t grid[3] = { n, 1, 1 }, block[3] = { 64, 1, 1 };
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = tbh_queue_exec(r->compute, k, args, size, grid, block);
	return submit_and_wait(r, r->compute, rc, deadline_ms, &a, ms);
}

static json_t *test_gemm(struct gpu_run *r)
{
	enum { N = 64 };
	tbh_buffer *a = NULL, *b = NULL, *c = NULL;
	json_t *res = NULL;
	int rc = tbh_buffer_alloc(r->dev, N * N * 4, TBH_MEMORY_DEVICE, &a);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, N * N * 4, TBH_MEMORY_DEVICE, &b);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, N * N * 4, TBH_MEMORY_DEVICE, &c);
	float *ref = malloc(N * N * sizeof *ref);
	if (rc < 0 || !ref) {
		res = diag_result("gemm", r->ctx->gpu, DIAG_FAIL, "VRAM_ALLOC_FAILED", DIAG_ACT_INVESTIGATE,
				  "cannot allocate the matrices: %s", tbh_last_error());
		goto out;
	}
	/* small integers: every product and sum is exact in fp32 */
	float *ha = tbh_buffer_cpu(a), *hb = tbh_buffer_cpu(b);
	volatile float *hc = tbh_buffer_cpu(c);
	for (int i = 0; i < N * N; i++) {
		ha[i] = (float)((int)(xorshift(&r->rng) % 17) - 8);
		hb[i] = (float)((int)(xorshift(&r->rng) % 17) - 8);
		hc[i] = NAN;
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			float acc = 0;
			for (int p = 0; p < N; p++)
				acc += ha[i * N + p] * hb[p * N + j];
			ref[i * N + j] = acc;
		}
	struct {
		uint64_t a, b, c;
		uint32_t n;
	} __attribute__((packed)) args = { tbh_buffer_address(a), tbh_buffer_address(b), tbh_buffer_address(c), N };
	step(r, "64x64 fp32", CALIBRATION_DEADLINE_MS);
	double ms;
	rc = run_kernel(r, r->gemm, &args, tbh_kernel_args_size(r->gemm), N * N, CALIBRATION_DEADLINE_MS, &ms);
	if (rc < 0) {
		res = gpu_failed(r, rc, "the GEMM");
		goto out;
	}
	int bad = 0, first = -1;
	for (int i = 0; i < N * N; i++) {
		float got = hc[i];
		if (memcmp(&got, &ref[i], sizeof got) != 0) {
			if (first < 0)
				first = i;
			bad++;
		}
	}
	if (bad) {
		float got = hc[first];
		res = diag_result("gemm", r->ctx->gpu, DIAG_FAIL, "GEMM_MISMATCH", DIAG_ACT_REPLACE_HW,
				  "%d of %d outputs differ from the host's; first C[%d][%d] = %g, not %g", bad, N * N,
				  first / N, first % N, (double)got, (double)ref[first]);
	} else {
		res = diag_result("gemm", r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE, "%dx%d, every output exact", N, N);
	}
	diag_measure(res, "gemm_time", ms, "ms", NULL, 0);
out:
	free(ref);
	tbh_buffer_free(a);
	tbh_buffer_free(b);
	tbh_buffer_free(c);
	return res;
}

static void fill_keyed(uint32_t *w, uint64_t words, uint64_t seed)
{
	for (uint64_t i = 0; i < words; i++)
		w[i] = diag_key32(4 * i, seed);
}

/* the words that differ from their key: how many, the first, the bits */
static uint64_t verify_keyed(const uint32_t *w, uint64_t words, uint64_t seed, uint64_t *first, uint32_t *bits)
{
	uint64_t bad = 0;
	*bits = 0;
	for (uint64_t i = 0; i < words; i++) {
		uint32_t x = w[i] ^ diag_key32(4 * i, seed);
		if (x) {
			if (!bad)
				*first = i;
			bad++;
			*bits |= x;
		}
	}
	return bad;
}

/* copy and wait; its wall time in ms */
static int timed_copy(struct gpu_run *r, tbh_buffer *dst, tbh_buffer *src, uint64_t size, uint32_t deadline_ms,
		      double *ms)
{
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = tbh_queue_copy(r->copy, dst, 0, src, 0, size);
	return submit_and_wait(r, r->copy, rc, deadline_ms, &a, ms);
}

/* a round trip's buffers of size bytes: the host's source, VRAM, the
 * host's destination (the calibration's freed first) */
static int round_trip_buffers(struct gpu_run *r, uint64_t size, tbh_buffer **src, tbh_buffer **vram, tbh_buffer **back)
{
	tbh_buffer_free(*src);
	tbh_buffer_free(*vram);
	*src = *vram = NULL;
	int rc = tbh_buffer_alloc(r->dev, size, TBH_MEMORY_HOST, src);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, size, TBH_MEMORY_DEVICE, vram);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, size, TBH_MEMORY_HOST, back);
	return rc;
}

/* Run the copy test's check kernel (pattern_check) over the first count
 * words of vram; its GPU time in *ms. */
static int check_vram(struct gpu_run *r, tbh_buffer *vram, uint32_t count, uint64_t seed, tbh_buffer *errs,
		      uint32_t deadline_ms, double *ms)
{
	uint8_t args[128];
	const uint64_t vals[] = { tbh_buffer_address(vram), count, 0, seed, 0, 0, tbh_buffer_address(errs) };
	size_t asize = pack_args(r->check, args, sizeof args, vals, 7);
	reset_errors(tbh_buffer_cpu(errs));
	return run_kernel(r, r->check, args, asize, count, deadline_ms, ms);
}

static json_t *test_copy(struct gpu_run *r)
{
	/* 256 MiB on the appliance; smaller where the copy engine (or the
	 * kernel that checks the copy in VRAM) is slower, so that one copy and
	 * the check each take about a quarter of a second: never a single
	 * dispatch long enough to look like a hang */
	const uint64_t max_size = 256ull << 20, probe = 1ull << 20;
	tbh_buffer *src = NULL, *vram = NULL, *back = NULL, *errs = NULL;
	json_t *res = NULL;
	uint64_t seed = r->ctx->seed;
	int rc = tbh_buffer_alloc(r->dev, probe, TBH_MEMORY_HOST, &src);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, probe, TBH_MEMORY_DEVICE, &vram);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, ERROR_WORDS * 4, TBH_MEMORY_HOST, &errs);
	double ms, check_ms = 0;
	step(r, "calibrate", CALIBRATION_DEADLINE_MS);
	/* the probe carries the pattern: the check's time is a sound buffer's */
	if (rc == 0)
		fill_keyed(tbh_buffer_cpu(src), probe / 4, seed);
	if (rc == 0)
		rc = timed_copy(r, vram, src, probe, CALIBRATION_DEADLINE_MS, &ms);
	if (rc == 0)
		rc = check_vram(r, vram, (uint32_t)(probe / 4), seed, errs, CALIBRATION_DEADLINE_MS, &check_ms);
	if (rc < 0) {
		res = src && vram && errs ? gpu_failed(r, rc, "the calibration copy and check")
					  : diag_result("copy", r->ctx->gpu, DIAG_FAIL, "ALLOC_FAILED", DIAG_ACT_INVESTIGATE,
							"cannot allocate the buffers: %s", tbh_last_error());
		goto out;
	}
	double gbps = (double)probe / (ms > 0.001 ? ms : 0.001) / 1e6;
	double check_gbps = (double)probe / (check_ms > 0.001 ? check_ms : 0.001) / 1e6;
	uint64_t size = (uint64_t)((gbps < check_gbps ? gbps : check_gbps) * 1e9 * 0.25) & ~((1ull << 20) - 1);
	size = size < probe ? probe : size > max_size ? max_size : size;
	rc = round_trip_buffers(r, size, &src, &vram, &back);
	if (rc < 0) {
		res = diag_result("copy", r->ctx->gpu, DIAG_FAIL, "ALLOC_FAILED", DIAG_ACT_INVESTIGATE,
				  "cannot allocate %llu MiB buffers: %s", (unsigned long long)(size >> 20), tbh_last_error());
		goto out;
	}
	uint64_t words = size / 4;
	fill_keyed(tbh_buffer_cpu(src), words, seed);
	memset(tbh_buffer_cpu(back), 0, size);
	uint32_t deadline = deadline_for(ms * (double)(size / probe));
	double up[3], down[3];
	int n = 3;
	for (int i = 0; i < n; i++) {
		step(r, "host to VRAM", deadline);
		if ((rc = timed_copy(r, vram, src, size, deadline, &up[i])) < 0) {
			res = gpu_failed(r, rc, "a host to VRAM copy");
			goto out;
		}
		step(r, "VRAM to host", deadline);
		if ((rc = timed_copy(r, back, vram, size, deadline, &down[i])) < 0) {
			res = gpu_failed(r, rc, "a VRAM to host copy");
			goto out;
		}
	}
	/* the data in VRAM, checked where it lies by the GPU, and what came back */
	uint32_t *e = tbh_buffer_cpu(errs);
	uint32_t check_deadline = deadline_for(check_ms * (double)(size / probe));
	step(r, "check VRAM", check_deadline);
	if ((rc = check_vram(r, vram, (uint32_t)words, seed, errs, check_deadline, NULL)) < 0) {
		res = gpu_failed(r, rc, "the VRAM check");
		goto out;
	}
	uint64_t first = 0;
	uint32_t bits = 0;
	uint64_t bad = verify_keyed(tbh_buffer_cpu(back), words, seed, &first, &bits);
	for (int i = 0; i < n; i++) {
		up[i] = (double)size / up[i] / 1e6;
		down[i] = (double)size / down[i] / 1e6;
	}
	if (e[ERR_COUNT] || bad) {
		res = diag_result("copy", r->ctx->gpu, DIAG_FAIL, "COPY_DATA_MISMATCH", DIAG_ACT_REPLACE_HW,
				  "%u words wrong in VRAM (first at word %u, bits 0x%08x), %llu wrong after the copy back "
				  "(first at byte 0x%llx, bits 0x%08x)",
				  e[ERR_COUNT], e[ERR_FIRST], e[ERR_BITS], (unsigned long long)bad, (unsigned long long)(first * 4), bits);
	} else {
		res = diag_result("copy", r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
				  "%llu MiB each way x%d, every word as keyed", (unsigned long long)(size >> 20), n);
	}
	diag_measure_samples(res, "host_to_vram", up, n, "GB/s");
	diag_measure_samples(res, "vram_to_host", down, n, "GB/s");
	diag_measure(res, "size", (double)(size >> 20), "MiB", NULL, 0);
out:
	tbh_buffer_free(src);
	tbh_buffer_free(vram);
	tbh_buffer_free(back);
	tbh_buffer_free(errs);
	return res;
}

/* ---- VRAM patterns ------------------------------------------------------------------------- */

/* the test's buffers: at least 64 MiB each (a submission short enough to
 * calibrate well), at most this many */
#define VRAM_MIN_CHUNK (64ull << 20)
#define VRAM_MAX_CHUNKS 96
/* between the keyed fill and its check */
#define VRAM_RETENTION_MS 2000

/* The wrong words of one pass over the tested VRAM, added up buffer by
 * buffer: the pass goes on over every buffer, so the report has every
 * range that is wrong, not only the first. */
#define ERROR_RANGES_KEPT 16
struct vram_errs {
	uint64_t count, addr_faults, addr_looked, hist[32], first, last;
	uint32_t bits, addr_bits;
	json_t *ranges;			/* [{from, to, words}]: byte offsets in the tested VRAM */
};

/* one buffer's error block e, the buffer at byte offset at of the tested VRAM */
static void errs_add(struct vram_errs *v, const uint32_t *e, uint64_t at)
{
	if (!e[ERR_COUNT])
		return;
	uint64_t from = at + (uint64_t)e[ERR_FIRST] * 4, to = at + (uint64_t)e[ERR_LAST] * 4 + 3;
	if (!v->count)
		v->first = from;
	v->last = to;
	v->count += e[ERR_COUNT];
	v->bits |= e[ERR_BITS];
	v->addr_faults += e[ERR_ADDR_FAULTS];
	v->addr_looked += e[ERR_COUNT] < ADDRESS_FAULT_SAMPLES ? e[ERR_COUNT] : ADDRESS_FAULT_SAMPLES;
	v->addr_bits |= e[ERR_ADDR_BITS];
	for (int b = 0; b < 32; b++)
		v->hist[b] += e[ERR_HIST + b];
	if (!v->ranges)
		v->ranges = json_array();
	if (json_array_size(v->ranges) < ERROR_RANGES_KEPT)
		json_array_append_new(v->ranges, json_pack("{s:I, s:I, s:I}", "from", (json_int_t)from, "to", (json_int_t)to,
							   "words", (json_int_t)e[ERR_COUNT]));
}

/* address fault (most of the wrong words looked at hold another address's
 * word: an address line, or data that landed at the wrong place), inversion (every bit of
 * every wrong word), single-bit (one bit position), else multi-bit */
static const char *error_class(const struct vram_errs *v)
{
	if (v->addr_faults && v->addr_faults * 2 >= v->addr_looked)
		return "address fault";
	bool inverted = v->count > 0;
	for (int b = 0; b < 32; b++)
		inverted &= v->hist[b] == v->count;
	if (inverted)
		return "inversion";
	return __builtin_popcount(v->bits) == 1 ? "single-bit" : "multi-bit";
}

/* the evidence of a pass's wrong words: the ranges, the bit histogram, the class */
static void errs_evidence(const struct vram_errs *v, json_t *ev)
{
	json_t *hist = json_array(), *abits = json_array();
	for (int b = 0; b < 32; b++) {
		json_array_append_new(hist, json_integer((json_int_t)v->hist[b]));
		if (v->addr_bits & (1u << b))
			json_array_append_new(abits, json_integer(b + 2));	/* a word address bit as a byte address's */
	}
	json_object_set_new(ev, "bit_histogram", hist);
	json_object_set_new(ev, "first_bad_byte", json_integer((json_int_t)v->first));
	json_object_set_new(ev, "last_bad_byte", json_integer((json_int_t)v->last));
	json_object_set_new(ev, "ranges", v->ranges ? json_incref(v->ranges) : json_array());
	json_object_set_new(ev, "class", json_string(error_class(v)));
	json_object_set_new(ev, "address_faults", json_integer((json_int_t)v->addr_faults));
	json_object_set_new(ev, "address_fault_bits", abits);
}

/* a FAIL result of the pass's wrong words (and frees them) */
static json_t *vram_errors(struct gpu_run *r, struct vram_errs *v, const char *pass)
{
	json_t *res = diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "VRAM_PATTERN_ERRORS", DIAG_ACT_REPLACE_HW,
				  "%llu words wrong in the %s pass, in %zu ranges from byte 0x%llx to 0x%llx of the tested VRAM, "
				  "bits 0x%08x: %s",
				  (unsigned long long)v->count, pass, json_array_size(v->ranges), (unsigned long long)v->first,
				  (unsigned long long)v->last, v->bits, error_class(v));
	json_t *ev = json_object_get(res, "evidence");
	errs_evidence(v, ev);
	json_object_set_new(ev, "pass", json_string(pass));
	json_decref(v->ranges);
	memset(v, 0, sizeof *v);
	return res;
}

/* march_element's flags (diag.cl) */
enum { MARCH_READ = 1, MARCH_WRITE = 2, MARCH_DOWN = 4, MARCH_KEYED = 8 };

/* One march element: what every word must hold (background XOR expect)
 * and what it gets (background XOR write), up or down. */
struct march_element {
	const char *name;
	uint32_t flags, expect, write;
};

/* March C- over keyed words ("0" the word's key, "1" its inversion):
 * up w0; up r0 w1; up r1 w0; down r0 w1; down r1 w0; up r0.  It finds
 * stuck-at, transition and coupling faults between any two cells. */
#define K MARCH_KEYED
static const struct march_element march_c_minus[] = {
	{ "March C- up w0", K | MARCH_WRITE, 0, 0 },
	{ "March C- up r0 w1", K | MARCH_READ | MARCH_WRITE, 0, UINT32_MAX },
	{ "March C- up r1 w0", K | MARCH_READ | MARCH_WRITE, UINT32_MAX, 0 },
	{ "March C- down r0 w1", K | MARCH_DOWN | MARCH_READ | MARCH_WRITE, 0, UINT32_MAX },
	{ "March C- down r1 w0", K | MARCH_DOWN | MARCH_READ | MARCH_WRITE, UINT32_MAX, 0 },
	{ "March C- up r0", K | MARCH_READ, 0, 0 },
};
#undef K
/* moving inversions (memtest86's): a data pattern written up, then read and
 * inverted up, read and restored down, read once more; with two patterns,
 * alternate bits and one bit a byte (its position from the seed) */
#define MOVING_INVERSION(name, p)                                                                         \
	{ name " w", MARCH_WRITE, 0, p }, { name " up r w~", MARCH_READ | MARCH_WRITE, p, ~(uint32_t)(p) }, \
		{ name " down r~ w", MARCH_DOWN | MARCH_READ | MARCH_WRITE, ~(uint32_t)(p), p },          \
		{ name " r", MARCH_READ, p, 0 }
/* word-passes over the tested VRAM: keyed fill and check and their
 * inversions (4), March C- (10), two moving inversions (2 x 6) */
#define VRAM_PASSES 26

/* One march element over every buffer; a FAIL or HANG result, or NULL. */
static json_t *march(struct gpu_run *r, const struct march_element *m, tbh_buffer *const *bufs, int nbufs,
		     uint64_t chunk, uint64_t seed, uint32_t deadline, tbh_buffer *errs, double *total_ms)
{
	uint32_t *e = tbh_buffer_cpu(errs), words = (uint32_t)(chunk / 4);
	uint8_t args[128];
	struct vram_errs bad = { 0 };
	for (int c = 0; c < nbufs; c++) {
		reset_errors(e);
		const uint64_t v[] = { tbh_buffer_address(bufs[c]), words, (uint64_t)c * chunk, seed, m->flags, m->expect,
				       m->write, tbh_buffer_address(errs) };
		step(r, m->name, deadline);
		double ms;
		int rc = run_kernel(r, r->march, args, pack_args(r->march, args, sizeof args, v, 8), words, deadline, &ms);
		if (rc < 0) {
			json_decref(bad.ranges);
			return gpu_failed(r, rc, m->name);
		}
		*total_ms += ms;
		errs_add(&bad, e, (uint64_t)c * chunk);
	}
	return bad.count ? vram_errors(r, &bad, m->name) : NULL;
}

/* The tested VRAM: buffers (chunks) of the same size, sized from a
 * calibration fill to what fits the test's time, at most 90% of VRAM. */
struct vram_set {
	tbh_buffer *bufs[VRAM_MAX_CHUNKS], *errs;
	int nbufs;
	uint64_t chunk, covered, vram_bytes;
	uint32_t deadline;		/* a fill's or a check's of one chunk */
};

static void vram_set_close(struct vram_set *vs)
{
	for (int c = 0; c < vs->nbufs; c++)
		tbh_buffer_free(vs->bufs[c]);
	tbh_buffer_free(vs->errs);
}

static json_t *vram_alloc_failed(struct gpu_run *r, const char *what)
{
	return diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "VRAM_ALLOC_FAILED", DIAG_ACT_INVESTIGATE, "cannot allocate %s: %s",
			   what, tbh_last_error());
}

/* Calibrate a fill and allocate what passes fills or checks take in about
 * budget_ms, in at least min_chunks buffers: NULL, or a FAIL or HANG. */
static json_t *vram_set_open(struct gpu_run *r, struct vram_set *vs, uint64_t seed, int passes, double budget_ms,
			     int min_chunks)
{
	const uint64_t probe = 4ull << 20, mib = 1ull << 20;
	memset(vs, 0, sizeof *vs);
	tbh_device_props props;
	int rc = tbh_device_get_props(r->dev, &props);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, ERROR_WORDS * 4, TBH_MEMORY_HOST, &vs->errs);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, probe, TBH_MEMORY_DEVICE, &vs->bufs[vs->nbufs++]);
	if (rc < 0)
		return vram_alloc_failed(r, "the test's buffers");
	vs->vram_bytes = props.vram_bytes;
	uint8_t args[128];
	step(r, "calibrate", CALIBRATION_DEADLINE_MS);
	const uint64_t pv[] = { tbh_buffer_address(vs->bufs[0]), probe / 4, 0, seed, 0 };
	double ms;
	if ((rc = run_kernel(r, r->fill, args, pack_args(r->fill, args, sizeof args, pv, 5), (uint32_t)(probe / 4),
			     CALIBRATION_DEADLINE_MS, &ms)) < 0)
		return gpu_failed(r, rc, "the calibration fill");
	tbh_buffer_free(vs->bufs[0]);
	vs->nbufs = 0;
	double bytes_per_ms = (double)probe / (ms > 0.01 ? ms : 0.01);
	uint64_t want = (uint64_t)((double)props.vram_bytes * 0.9), fits = (uint64_t)(bytes_per_ms * budget_ms / passes);
	uint64_t size = (want < fits ? want : fits) & ~(mib - 1);
	size = size < probe ? probe : size;
	size = size < (uint64_t)min_chunks * mib ? (uint64_t)min_chunks * mib : size;
	uint64_t chunk = ((size + VRAM_MAX_CHUNKS - 1) / VRAM_MAX_CHUNKS + mib - 1) & ~(mib - 1);
	chunk = chunk < VRAM_MIN_CHUNK ? VRAM_MIN_CHUNK : chunk;
	uint64_t most = (size / (uint64_t)min_chunks) & ~(mib - 1);
	chunk = chunk > most ? most : chunk;
	chunk = chunk < mib ? mib : chunk;
	vs->chunk = chunk;
	while (vs->covered < size && vs->nbufs < VRAM_MAX_CHUNKS &&
	       tbh_buffer_alloc(r->dev, chunk, TBH_MEMORY_DEVICE, &vs->bufs[vs->nbufs]) == 0) {
		vs->covered += chunk;
		vs->nbufs++;
	}
	if (vs->nbufs < min_chunks) {
		char what[64];
		snprintf(what, sizeof what, "%d buffers of %llu MiB in VRAM", min_chunks, (unsigned long long)(chunk >> 20));
		return vram_alloc_failed(r, what);
	}
	vs->deadline = deadline_for(ms * (double)(chunk / probe) * 2);
	return NULL;
}

/* the keyed pattern (XOR mask) into buffers [from, to); its GPU time added to *ms */
static json_t *vram_fill(struct gpu_run *r, struct vram_set *vs, int from, int to, uint64_t seed, uint32_t mask,
			 const char *name, double *ms)
{
	uint8_t args[128];
	uint32_t words = (uint32_t)(vs->chunk / 4);
	for (int c = from; c < to; c++) {
		const uint64_t fv[] = { tbh_buffer_address(vs->bufs[c]), words, (uint64_t)c * vs->chunk, seed, mask };
		step(r, name, vs->deadline);
		double t;
		int rc = run_kernel(r, r->fill, args, pack_args(r->fill, args, sizeof args, fv, 5), words, vs->deadline, &t);
		if (rc < 0)
			return gpu_failed(r, rc, "a pattern fill");
		*ms += t;
		progress(r, (uint64_t)(c - from + 1), (uint64_t)(to - from), vs->deadline);
	}
	return NULL;
}

/* Buffers [from, to) checked against the pattern, each in a rotated order
 * (rotate words from the start): NULL, a HANG, or a FAIL naming the pass. */
static json_t *vram_check(struct gpu_run *r, struct vram_set *vs, int from, int to, uint64_t seed, uint32_t mask,
			  uint64_t rotate, const char *name, const char *pass, double *ms)
{
	uint8_t args[128];
	uint32_t words = (uint32_t)(vs->chunk / 4), *e = tbh_buffer_cpu(vs->errs);
	struct vram_errs bad = { 0 };
	for (int c = from; c < to; c++) {
		reset_errors(e);
		const uint64_t cv[] = { tbh_buffer_address(vs->bufs[c]), words, (uint64_t)c * vs->chunk, seed, mask,
					rotate % words, tbh_buffer_address(vs->errs) };
		step(r, name, vs->deadline);
		double t;
		int rc = run_kernel(r, r->check, args, pack_args(r->check, args, sizeof args, cv, 7), words, vs->deadline, &t);
		if (rc < 0) {
			json_decref(bad.ranges);
			return gpu_failed(r, rc, "a pattern check");
		}
		*ms += t;
		errs_add(&bad, e, (uint64_t)c * vs->chunk);
		progress(r, (uint64_t)(c - from + 1), (uint64_t)(to - from), vs->deadline);
	}
	return bad.count ? vram_errors(r, &bad, pass) : NULL;
}

static void vram_measure(json_t *res, const struct vram_set *vs, uint64_t bytes_filled, double fill_ms, uint64_t bytes_checked,
			 double check_ms)
{
	diag_measure(res, "tested", (double)(vs->covered >> 20), "MiB", NULL, 0);
	diag_measure(res, "fill", (double)bytes_filled / (fill_ms > 0 ? fill_ms : 1) / 1e6, "GB/s", NULL, 0);
	diag_measure(res, "check", (double)bytes_checked / (check_ms > 0 ? check_ms : 1) / 1e6, "GB/s", NULL, 0);
}

/* VRAM holds what was written to it: a keyed pattern (each word the hash of
 * its address and the seed, so a word that landed or was read at the wrong
 * place reads wrong, and one that holds a neighbouring address's word is an
 * address fault), held for a retention pause, then its inversion, each
 * checked in a rotated order; then March C- and moving inversions.
 * 90% of VRAM on the appliance; where kernels run slower (the simulated
 * box), what fits in about 20 s of fills and checks. */
static json_t *test_vram(struct gpu_run *r)
{
	uint64_t seed = r->ctx->seed ^ 0x76726d5f70617474ull;
	struct vram_set vs;
	json_t *res = vram_set_open(r, &vs, seed, VRAM_PASSES, 20000, 1);
	double fill_ms = 0, check_ms = 0, march_ms = 0;
	for (int pass = 0; pass < 2 && !res; pass++) {
		uint32_t mask = pass ? UINT32_MAX : 0;
		if ((res = vram_fill(r, &vs, 0, vs.nbufs, seed, mask, pass ? "fill inverted" : "fill", &fill_ms)))
			break;
		if (pass == 0) {
			/* the cells hold their charge, or not: a pause before the check */
			step(r, "retention", VRAM_RETENTION_MS + DEADLINE_MIN_MS);
			struct timespec pause = { VRAM_RETENTION_MS / 1000, (VRAM_RETENTION_MS % 1000) * 1000000L };
			while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
				;
		}
		res = vram_check(r, &vs, 0, vs.nbufs, seed, mask, seed >> 7, pass ? "check inverted" : "check",
				 pass ? "inverted" : "keyed", &check_ms);
	}
	uint32_t walking = 0x01010101u << (seed % 8);
	const struct march_element moving[] = { MOVING_INVERSION("moving inversions 0x55555555", 0x55555555u),
						MOVING_INVERSION("moving inversions 1 bit a byte", walking) };
	for (size_t k = 0; k < sizeof march_c_minus / sizeof *march_c_minus && !res; k++)
		res = march(r, &march_c_minus[k], vs.bufs, vs.nbufs, vs.chunk, seed, vs.deadline, vs.errs, &march_ms);
	for (size_t k = 0; k < sizeof moving / sizeof *moving && !res; k++)
		res = march(r, &moving[k], vs.bufs, vs.nbufs, vs.chunk, seed, vs.deadline, vs.errs, &march_ms);
	if (!res)
		res = diag_result("vram", r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
				  "%llu MiB (%.1f%% of VRAM): keyed and inverted patterns, March C-, moving inversions; "
				  "every word as written",
				  (unsigned long long)(vs.covered >> 20), 100.0 * (double)vs.covered / (double)vs.vram_bytes);
	if (diag_result_status(res) != DIAG_HANG && vs.covered) {
		vram_measure(res, &vs, vs.covered * 2, fill_ms, vs.covered * 2, check_ms);
		diag_measure(res, "march", (double)vs.covered * (VRAM_PASSES - 4) / (march_ms > 0 ? march_ms : 1) / 1e6,
			     "GB/s", NULL, 0);
	}
	vram_set_close(&vs);
	return res;
}

/* Level 3's random patterns: a retention region (an eighth of the tested
 * VRAM) written once with a seed of its own and left alone for the test's
 * whole share of the level's time, and the rest written and checked over
 * and over, each round with a new seed (in the step's name, so the journal
 * has it, and in the evidence); the retention region checked at the end,
 * even after a round failed.  A round takes about a tenth of the share, at
 * most 20 s. */
#define RANDOM_MIN_CHUNKS 8
#define RANDOM_SEEDS_KEPT 16

static json_t *test_vram_random(struct gpu_run *r)
{
	uint64_t share = r->ctx->sustain_ms ? r->ctx->sustain_ms : 1000;
	double round_ms = (double)share / 10 < 20000 ? (double)share / 10 : 20000;
	uint64_t hold_seed = xorshift(&r->rng);
	struct vram_set vs;
	json_t *res = vram_set_open(r, &vs, hold_seed, 2, round_ms, RANDOM_MIN_CHUNKS);
	if (res) {
		vram_set_close(&vs);
		return res;
	}
	int hold = vs.nbufs / RANDOM_MIN_CHUNKS;	/* buffers [0, hold): the retention region */
	char name[96];
	double fill_ms = 0, check_ms = 0;
	uint64_t filled = 0, checked = 0, start = diag_now_ms();
	json_t *seeds = json_array();
	snprintf(name, sizeof name, "retention region fill, seed 0x%016llx", (unsigned long long)hold_seed);
	res = vram_fill(r, &vs, 0, hold, hold_seed, 0, name, &fill_ms);
	filled += (uint64_t)hold * vs.chunk;
	uint64_t end = diag_now_ms() + share, seed = 0;
	int rounds = 0;
	while (!res && (rounds == 0 || diag_now_ms() < end)) {
		seed = xorshift(&r->rng);
		rounds++;
		if (json_array_size(seeds) < RANDOM_SEEDS_KEPT)
			json_array_append_new(seeds, json_sprintf("0x%016llx", (unsigned long long)seed));
		char pass[64];
		snprintf(pass, sizeof pass, "round %d (seed 0x%016llx)", rounds, (unsigned long long)seed);
		snprintf(name, sizeof name, "round %d fill, seed 0x%016llx", rounds, (unsigned long long)seed);
		if ((res = vram_fill(r, &vs, hold, vs.nbufs, seed, 0, name, &fill_ms)))
			break;
		snprintf(name, sizeof name, "round %d check, seed 0x%016llx", rounds, (unsigned long long)seed);
		res = vram_check(r, &vs, hold, vs.nbufs, seed, 0, seed >> 17, name, pass, &check_ms);
		filled += (uint64_t)(vs.nbufs - hold) * vs.chunk;
		checked += (uint64_t)(vs.nbufs - hold) * vs.chunk;
	}
	double held_s = (double)(diag_now_ms() - start) / 1000.0;
	if (!res || diag_result_status(res) == DIAG_FAIL) {
		snprintf(name, sizeof name, "retention region check, seed 0x%016llx", (unsigned long long)hold_seed);
		json_t *held = vram_check(r, &vs, 0, hold, hold_seed, 0, hold_seed >> 17, name, "retention", &check_ms);
		checked += (uint64_t)hold * vs.chunk;
		if (held && res && diag_result_status(held) == DIAG_FAIL) {
			/* the round's failure stands; the region's errors go with it */
			json_object_set(json_object_get(res, "evidence"), "retention", json_object_get(held, "evidence"));
			json_decref(held);
		} else if (held) {
			json_decref(res);
			res = held;
		}
	}
	if (!res)
		res = diag_result(r->test, r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
				  "%d rounds of random patterns over %llu MiB, each with its own seed; a %llu MiB retention region "
				  "held %.1f s; every word as written",
				  rounds, (unsigned long long)((uint64_t)(vs.nbufs - hold) * vs.chunk >> 20),
				  (unsigned long long)((uint64_t)hold * vs.chunk >> 20), held_s);
	if (diag_result_status(res) != DIAG_HANG) {
		json_t *ev = json_object_get(res, "evidence");
		json_object_set_new(ev, "retention_seed", json_sprintf("0x%016llx", (unsigned long long)hold_seed));
		json_object_set_new(ev, "round_seeds", seeds);
		seeds = NULL;
		vram_measure(res, &vs, filled, fill_ms, checked, check_ms);
		diag_measure(res, "rounds", rounds, "count", NULL, 0);
		diag_measure(res, "retention_region", (double)((uint64_t)hold * vs.chunk >> 20), "MiB", NULL, 0);
		diag_measure(res, "retention_held", held_s, "s", NULL, 0);
	}
	json_decref(seeds);
	vram_set_close(&vs);
	return res;
}

/* ---- peer copies ------------------------------------------------------------------------------ */

/* a peer copy's largest size, and the probe that calibrates it */
#define PEER_MAX_BYTES (256ull << 20)
#define PEER_PROBE_BYTES (1ull << 20)

struct peer_set {
	int n, gpu[DIAG_MAX_GPUS];
	tbh_device *dev[DIAG_MAX_GPUS];
	tbh_buffer *dst[DIAG_MAX_GPUS];	/* in the peer's VRAM, mapped to this GPU */
	tbh_buffer *src, *errs;		/* this GPU's VRAM; the check's error block */
	uint64_t size;
};

static void peer_free_buffers(struct peer_set *p)
{
	for (int k = 0; k < p->n; k++) {
		tbh_buffer_free(p->dst[k]);
		p->dst[k] = NULL;
	}
	tbh_buffer_free(p->src);
	p->src = NULL;
}

static int peer_alloc(struct gpu_run *r, struct peer_set *p, uint64_t size)
{
	peer_free_buffers(p);
	p->size = size;
	int rc = tbh_buffer_alloc(r->dev, size, TBH_MEMORY_DEVICE, &p->src);
	for (int k = 0; k < p->n && rc == 0; k++) {
		rc = tbh_buffer_alloc(p->dev[k], size, TBH_MEMORY_DEVICE, &p->dst[k]);
		if (rc == 0)
			rc = tbh_buffer_map_to(p->dst[k], r->dev);
	}
	return rc;
}

/* the pair's key: each pair and phase its own, so data from another pair or
 * an earlier copy left in place reads wrong */
static uint64_t pair_key(const struct gpu_run *r, int to, int phase)
{
	return r->ctx->seed ^ 0x706565725f636f70ull ^ (uint64_t)(r->ctx->gpu * 64 + to) << 40 ^ (uint64_t)phase << 56;
}

/* fill this GPU's source with a key: 0 or a HANG result */
static json_t *peer_fill(struct gpu_run *r, struct peer_set *p, uint64_t key, uint32_t deadline, double *ms)
{
	uint8_t args[128];
	const uint64_t v[] = { tbh_buffer_address(p->src), p->size / 4, 0, key, 0 };
	int rc = run_kernel(r, r->fill, args, pack_args(r->fill, args, sizeof args, v, 5), (uint32_t)(p->size / 4), deadline, ms);
	return rc < 0 ? gpu_failed(r, rc, "the peer copy's source fill") : NULL;
}

/* pattern_check over a buffer of the peer set with key: 0 or -errno, the
 * wrong words in p->errs */
static int peer_check_buffer(struct gpu_run *r, struct peer_set *p, tbh_buffer *b, uint64_t key, uint32_t deadline)
{
	uint32_t words = (uint32_t)(p->size / 4);
	reset_errors(tbh_buffer_cpu(p->errs));
	uint8_t args[128];
	const uint64_t v[] = { tbh_buffer_address(b), words, 0, key, 0, (key >> 9) % words, tbh_buffer_address(p->errs) };
	return run_kernel(r, r->check, args, pack_args(r->check, args, sizeof args, v, 7), words, deadline, NULL);
}

/* Check what landed on peer k, where it lies, with this GPU's kernel: a
 * HANG or FAIL result, or NULL.  When it is wrong, this GPU's source is
 * checked again: intact, the data went wrong on the way or in the peer's
 * VRAM (the peer is the suspect); wrong too, in this GPU's VRAM. */
static json_t *peer_check(struct gpu_run *r, struct peer_set *p, int k, uint64_t key, uint32_t deadline,
			  const char *phase)
{
	int rc = peer_check_buffer(r, p, p->dst[k], key, deadline);
	if (rc < 0)
		return gpu_failed(r, rc, "the peer copy's check");
	uint32_t *e = tbh_buffer_cpu(p->errs);
	if (!e[ERR_COUNT])
		return NULL;
	struct vram_errs v = { 0 };
	errs_add(&v, e, 0);
	if ((rc = peer_check_buffer(r, p, p->src, key, deadline)) < 0) {
		json_decref(v.ranges);
		return gpu_failed(r, rc, "the peer copy's source check");
	}
	uint32_t source_wrong = e[ERR_COUNT];
	int suspect = source_wrong ? r->ctx->gpu : p->gpu[k];
	json_t *res = diag_result("peer", r->ctx->gpu, DIAG_FAIL, "PEER_DATA_MISMATCH", DIAG_ACT_RESEAT_OR_BIOS,
				  "GPU %d to GPU %d (%s): %llu words wrong, from byte 0x%llx, bits 0x%08x: %s; %s, so the suspect is GPU %d",
				  r->ctx->gpu, p->gpu[k], phase, (unsigned long long)v.count, (unsigned long long)v.first, v.bits,
				  error_class(&v),
				  source_wrong ? "the source in this GPU's VRAM is wrong too" : "the source still holds its key",
				  suspect);
	json_t *ev = json_object_get(res, "evidence");
	errs_evidence(&v, ev);
	json_decref(v.ranges);
	json_object_set_new(ev, "peer", json_integer(p->gpu[k]));
	json_object_set_new(ev, "source_words_wrong", json_integer(source_wrong));
	json_object_set_new(ev, "suspect_gpu", json_integer(suspect));
	return res;
}

/* copies on this GPU's SDMA queue to peers [from, to), one submission */
static int peer_copies(struct gpu_run *r, struct peer_set *p, int from, int to, uint32_t deadline, double *ms)
{
	struct timespec a;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = 0;
	for (int k = from; k < to && rc == 0; k++)
		rc = tbh_queue_copy(r->copy, p->dst[k], 0, p->src, 0, p->size);
	return submit_and_wait(r, r->copy, rc, deadline, &a, ms);
}

/* This GPU's SDMA engine copies a keyed pattern from its VRAM into every
 * other GPU's: each pair alone (no other GPU's worker in an exclusive
 * step), each checked where it landed, then to every peer at once (and the
 * other GPUs' workers doing the same: every pair at once). */
static json_t *peer_run(struct gpu_run *r, struct peer_set *p)
{
	char name[64];
	double ms, fill_ms;
	step(r, "calibrate", CALIBRATION_DEADLINE_MS);
	if (peer_alloc(r, p, PEER_PROBE_BYTES) < 0)
		return diag_result("peer", r->ctx->gpu, DIAG_FAIL, "PEER_ACCESS_FAILED", DIAG_ACT_RESEAT_OR_BIOS,
				   "cannot map VRAM between this GPU and its peers: %s", tbh_last_error());
	json_t *res = peer_fill(r, p, pair_key(r, p->gpu[0], 0), CALIBRATION_DEADLINE_MS, &fill_ms);
	if (res)
		return res;
	int rc = peer_copies(r, p, 0, 1, CALIBRATION_DEADLINE_MS, &ms);
	if (rc < 0)
		return gpu_failed(r, rc, "the calibration peer copy");
	/* a copy of about a tenth of a second, and a fill and check of about as long */
	double copy_rate = (double)PEER_PROBE_BYTES / (ms > 0.01 ? ms : 0.01), kernel_rate = (double)PEER_PROBE_BYTES / (fill_ms > 0.01 ? fill_ms : 0.01);
	double fit = copy_rate < kernel_rate ? copy_rate * 100 : kernel_rate * 100;
	uint64_t size = (uint64_t)fit & ~((1ull << 20) - 1);
	size = size < PEER_PROBE_BYTES ? PEER_PROBE_BYTES : size > PEER_MAX_BYTES ? PEER_MAX_BYTES : size;
	double scale = (double)size / PEER_PROBE_BYTES;
	uint32_t copy_deadline = deadline_for(ms * scale), kernel_deadline = deadline_for(fill_ms * scale * 2);
	if (peer_alloc(r, p, size) < 0)
		return diag_result("peer", r->ctx->gpu, DIAG_FAIL, "PEER_ACCESS_FAILED", DIAG_ACT_RESEAT_OR_BIOS,
				   "cannot allocate and map %llu MiB on every peer: %s", (unsigned long long)(size >> 20),
				   tbh_last_error());
	double alone[DIAG_MAX_GPUS];
	for (int k = 0; k < p->n; k++) {
		uint64_t key = pair_key(r, p->gpu[k], 1);
		snprintf(name, sizeof name, "fill for GPU %d", p->gpu[k]);
		step(r, name, kernel_deadline);
		if ((res = peer_fill(r, p, key, kernel_deadline, &fill_ms)))
			return res;
		snprintf(name, sizeof name, "to GPU %d alone", p->gpu[k]);
		step_as(r, name, copy_deadline, true);
		if ((rc = peer_copies(r, p, k, k + 1, copy_deadline, &ms)) < 0)
			return gpu_failed(r, rc, name);
		alone[k] = (double)size / (ms > 0.001 ? ms : 0.001) / 1e6;
		snprintf(name, sizeof name, "check GPU %d", p->gpu[k]);
		step(r, name, kernel_deadline);
		if ((res = peer_check(r, p, k, key, kernel_deadline, "alone")))
			return res;
	}
	uint64_t key = pair_key(r, DIAG_MAX_GPUS, 2);
	step(r, "fill for all at once", kernel_deadline);
	if ((res = peer_fill(r, p, key, kernel_deadline, &fill_ms)))
		return res;
	uint32_t all_deadline = deadline_for(ms * scale * p->n * 6);
	step(r, "to every peer at once", all_deadline);
	if ((rc = peer_copies(r, p, 0, p->n, all_deadline, &ms)) < 0)
		return gpu_failed(r, rc, "the copies to every peer at once");
	double all = (double)size * p->n / (ms > 0.001 ? ms : 0.001) / 1e6;
	for (int k = 0; k < p->n; k++) {
		snprintf(name, sizeof name, "check GPU %d (all at once)", p->gpu[k]);
		step(r, name, kernel_deadline);
		if ((res = peer_check(r, p, k, key, kernel_deadline, "all at once")))
			return res;
	}
	res = diag_result("peer", r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
			  "%llu MiB to each of %d peers alone, then to all at once, every word as keyed",
			  (unsigned long long)(size >> 20), p->n);
	for (int k = 0; k < p->n; k++) {
		snprintf(name, sizeof name, "to_gpu%d", p->gpu[k]);
		diag_measure(res, name, alone[k], "GB/s", NULL, 0);
	}
	diag_measure(res, "alone_median", diag_median(alone, p->n), "GB/s", NULL, 0);
	diag_measure(res, "all_at_once", all, "GB/s", NULL, 0);
	diag_measure(res, "size", (double)(size >> 20), "MiB", NULL, 0);
	return res;
}

static json_t *test_peer(struct gpu_run *r)
{
	struct peer_set p = { 0 };
	for (int j = 0; j < DIAG_MAX_GPUS; j++)
		if ((r->ctx->peers & (1u << j)) && j != r->ctx->gpu)
			p.gpu[p.n++] = j;
	if (p.n == 0)
		return diag_result("peer", r->ctx->gpu, DIAG_SKIPPED, "NO_PEERS", DIAG_ACT_NONE, "no other GPU in the run");
	json_t *res = NULL;
	int rc = tbh_buffer_alloc(r->dev, ERROR_WORDS * 4, TBH_MEMORY_HOST, &p.errs);
	for (int k = 0; k < p.n && rc == 0; k++)
		rc = tbh_device_open(p.gpu[k], &p.dev[k]);
	if (rc < 0)
		res = diag_result("peer", r->ctx->gpu, DIAG_FAIL, "PEER_OPEN_FAILED", DIAG_ACT_INVESTIGATE,
				  "cannot open the peers: %s", tbh_last_error());
	else
		res = peer_run(r, &p);
	if (!r->gone) {
		peer_free_buffers(&p);
		for (int k = 0; k < p.n; k++)
			tbh_device_close(p.dev[k]);
	}
	tbh_buffer_free(p.errs);
	return res;
}

/* ---- level 3: sustained work -------------------------------------------------------------------- */

/* the small integers of the GEMM inputs (-8..8) as IEEE half-precision bits */
static uint16_t small_int_half(int v)
{
	if (v == 0)
		return 0;
	unsigned a = (unsigned)(v < 0 ? -v : v), e = 31 - (unsigned)__builtin_clz(a);
	return (uint16_t)((v < 0 ? 0x8000u : 0) | (e + 15) << 10 | ((a << (10 - e)) & 0x3ffu));
}

/* the largest GEMM the host checks quickly enough, n a multiple of 16 */
#define LONG_GEMM_MAX_N 512

struct gemm_set {
	uint32_t n;
	tbh_buffer *a, *b, *ah, *bh, *c;	/* fp32 inputs, fp16 inputs, the output */
	float *ref;
};

static void gemm_set_free(struct gemm_set *g)
{
	tbh_buffer_free(g->a);
	tbh_buffer_free(g->b);
	tbh_buffer_free(g->ah);
	tbh_buffer_free(g->bh);
	tbh_buffer_free(g->c);
	free(g->ref);
}

/* new inputs and the host's reference (the same in fp32 and fp16: small integers) */
static void gemm_inputs(struct gpu_run *r, struct gemm_set *g)
{
	uint32_t n = g->n;
	float *a = tbh_buffer_cpu(g->a), *b = tbh_buffer_cpu(g->b);
	uint16_t *ah = tbh_buffer_cpu(g->ah), *bh = tbh_buffer_cpu(g->bh);
	for (uint32_t i = 0; i < n * n; i++) {
		int x = (int)(xorshift(&r->rng) % 17) - 8, y = (int)(xorshift(&r->rng) % 17) - 8;
		a[i] = (float)x;
		b[i] = (float)y;
		ah[i] = small_int_half(x);
		bh[i] = small_int_half(y);
	}
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < n; j++) {
			float acc = 0;
			for (uint32_t p = 0; p < n; p++)
				acc += a[i * n + p] * b[p * n + j];
			g->ref[i * n + j] = acc;
		}
}

/* the matrices of g->n (the old ones freed) and their first inputs: NULL or a FAIL */
static json_t *gemm_set_alloc(struct gpu_run *r, struct gemm_set *g)
{
	gemm_set_free(g);
	memset(&g->a, 0, sizeof *g - offsetof(struct gemm_set, a));
	uint64_t bytes = (uint64_t)g->n * g->n * 4;
	int rc = tbh_buffer_alloc(r->dev, bytes, TBH_MEMORY_HOST, &g->a);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, bytes, TBH_MEMORY_HOST, &g->b);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, bytes / 2, TBH_MEMORY_HOST, &g->ah);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, bytes / 2, TBH_MEMORY_HOST, &g->bh);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, bytes, TBH_MEMORY_HOST, &g->c);
	if (rc < 0 || !(g->ref = malloc(bytes)))
		return diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "ALLOC_FAILED", DIAG_ACT_INVESTIGATE,
				   "cannot allocate the %ux%u matrices: %s", g->n, g->n, tbh_last_error());
	gemm_inputs(r, g);
	return NULL;
}

/* one GEMM (wmma: fp16 on the matrix cores) into c queued on the compute
 * queue, c first set to NaN so what the GEMM did not write reads wrong */
static int queue_gemm(struct gpu_run *r, const struct gemm_set *g, tbh_buffer *c, bool wmma)
{
	volatile float *out = tbh_buffer_cpu(c);
	uint32_t n = g->n;
	for (uint32_t i = 0; i < n * n; i++)
		out[i] = NAN;
	const uint64_t v[] = { tbh_buffer_address(wmma ? g->ah : g->a), tbh_buffer_address(wmma ? g->bh : g->b),
			       tbh_buffer_address(c), n };
	uint8_t args[64];
	const tbh_kernel *k = wmma ? r->wmma : r->gemm;
	size_t size = pack_args(k, args, sizeof args, v, 4);
	/* WMMA: a wave32 work-group per 16x16 tile; fp32: a work-item an output */
	uint32_t grid[3] = { wmma ? 32 * (n / 16) * (n / 16) : n * n, 1, 1 }, block[3] = { wmma ? 32 : 64, 1, 1 };
	return tbh_queue_exec(r->compute, k, args, size, grid, block);
}

/* c compared bit-exactly with the host's reference: NULL, or a FAIL */
static json_t *gemm_verdict(struct gpu_run *r, const struct gemm_set *g, tbh_buffer *c, bool wmma, int round)
{
	volatile float *out = tbh_buffer_cpu(c);
	uint32_t n = g->n, bad = 0, first = 0;
	for (uint32_t i = 0; i < n * n; i++) {
		float got = out[i];
		if (memcmp(&got, &g->ref[i], sizeof got) != 0 && !bad++)
			first = i;
	}
	if (!bad)
		return NULL;
	float got = out[first];
	return diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "GEMM_MISMATCH", DIAG_ACT_REPLACE_HW,
			   "round %d, %s %ux%u: %u of %u outputs differ from the host's; first C[%u][%u] = %g, not %g", round,
			   wmma ? "fp16 WMMA" : "fp32", n, n, bad, n * n, first / n, first % n, (double)got,
			   (double)g->ref[first]);
}

/* one GEMM into C, waited for, compared bit-exactly */
static json_t *gemm_once(struct gpu_run *r, struct gemm_set *g, bool wmma, uint32_t deadline, double *ms, int round)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = submit_and_wait(r, r->compute, queue_gemm(r, g, g->c, wmma), deadline, &t0, ms);
	if (rc < 0)
		return gpu_failed(r, rc, wmma ? "an fp16 WMMA GEMM" : "an fp32 GEMM");
	return gemm_verdict(r, g, g->c, wmma, round);
}

/* fp32 and fp16 (WMMA) GEMMs back to back for the test's share of the
 * level's time, every output compared bit-exactly with the host's; new
 * inputs every few rounds.  n: the largest (to LONG_GEMM_MAX_N) whose
 * GEMM the probe says takes at most a quarter of a second. */
static json_t *test_gemm_long(struct gpu_run *r)
{
	struct gemm_set g = { .n = 64 };
	json_t *res = NULL;
	double ms[2] = { 0, 0 };
	for (int pass = 0; pass < 2 && !res; pass++) {
		if ((res = gemm_set_alloc(r, &g)))
			break;
		if (pass == 1)
			break;
		step(r, "calibrate", CALIBRATION_DEADLINE_MS);
		if ((res = gemm_once(r, &g, false, CALIBRATION_DEADLINE_MS, &ms[0], 0)) ||
		    (res = gemm_once(r, &g, true, CALIBRATION_DEADLINE_MS, &ms[1], 0)))
			break;
		double slow = ms[0] > ms[1] ? ms[0] : ms[1];
		while (g.n < LONG_GEMM_MAX_N && slow * 8 <= 250) {
			g.n *= 2;
			slow *= 8;
		}
		ms[0] *= (double)g.n * g.n * g.n / (64.0 * 64 * 64);
		ms[1] *= (double)g.n * g.n * g.n / (64.0 * 64 * 64);
	}
	uint64_t end = diag_now_ms() + r->ctx->sustain_ms;
	int rounds = 0;
	uint32_t deadline = deadline_for(ms[0] > ms[1] ? ms[0] : ms[1]);
	step(r, "GEMMs", deadline);
	while (!res && (rounds == 0 || diag_now_ms() < end)) {
		if (rounds && rounds % 8 == 0)
			gemm_inputs(r, &g);
		rounds++;
		if (!(res = gemm_once(r, &g, false, deadline, &ms[0], rounds)))
			res = gemm_once(r, &g, true, deadline, &ms[1], rounds);
		progress(r, (uint64_t)rounds, 0, deadline);
	}
	if (!res) {
		res = diag_result(r->test, r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
				  "%d rounds of %ux%u fp32 and fp16 (WMMA) GEMMs, every output exact", rounds, g.n, g.n);
		diag_measure(res, "fp32", 2.0 * g.n * g.n * g.n / (ms[0] > 0.001 ? ms[0] : 0.001) / 1e6, "GFLOP/s", NULL, 0);
		diag_measure(res, "fp16_wmma", 2.0 * g.n * g.n * g.n / (ms[1] > 0.001 ? ms[1] : 0.001) / 1e6, "GFLOP/s", NULL, 0);
		diag_measure(res, "rounds", rounds, "count", NULL, 0);
	}
	gemm_set_free(&g);
	return res;
}

/* Power and thermal at the cap: fp16 WMMA GEMMs (what draws the most
 * power) back to back for the test's share of the level's time, in
 * batches of POWER_BATCH into outputs of their own, every output compared
 * bit-exactly; the GPU's hwmon read once a batch, while the batch runs.
 * n: the largest (to LONG_GEMM_MAX_N) whose GEMM takes at most
 * POWER_GEMM_MS; a batch is about a quarter of a second. */
#define POWER_BATCH 8
#define POWER_GEMM_MS 40.0
#define POWER_SAMPLES_MAX 4096

/* one reading of hwmon into *out; false when the files cannot be read */
static bool power_sample(const char *hwmon, double s, struct diag_power_sample *out)
{
	long long uw = diag_sysfs_number(hwmon, "power1_average"), mc = diag_sysfs_number(hwmon, "temp2_input");
	long long pwm = diag_sysfs_number(hwmon, "pwm1"), rpm = diag_sysfs_number(hwmon, "fan1_input");
	if (uw < 0 || mc < 0 || pwm < 0 || rpm < 0)
		return false;
	*out = (struct diag_power_sample){ .s = s, .watts = (double)uw / 1e6, .junction_c = (double)mc / 1000.0,
					   .pwm = (int)pwm, .rpm = (int)rpm };
	return true;
}

/* the load's outputs: POWER_BATCH of n x n */
static json_t *power_outputs(struct gpu_run *r, uint32_t n, tbh_buffer **c)
{
	for (int k = 0; k < POWER_BATCH; k++)
		if (tbh_buffer_alloc(r->dev, (uint64_t)n * n * 4, TBH_MEMORY_HOST, &c[k]) < 0)
			return diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "ALLOC_FAILED", DIAG_ACT_INVESTIGATE,
					   "cannot allocate the %ux%u outputs: %s", n, n, tbh_last_error());
	return NULL;
}

static json_t *test_power(struct gpu_run *r)
{
	char hwmon[4096];
	if (diag_hwmon_dir(r->ctx->info, hwmon, sizeof hwmon) < 0)
		return diag_result(r->test, r->ctx->gpu, DIAG_SKIPPED, "NO_HWMON", DIAG_ACT_NONE, "the GPU has no hwmon directory");
	double cap_w = (double)diag_sysfs_number(hwmon, "power1_cap") / 1e6;
	double limit_c = (double)diag_sysfs_number(hwmon, "temp2_crit") / 1000.0;
	struct gemm_set g = { .n = 64 };
	tbh_buffer *c[POWER_BATCH] = { 0 };
	struct diag_power_sample *smp = calloc(POWER_SAMPLES_MAX, sizeof *smp);
	json_t *res = smp ? gemm_set_alloc(r, &g)
			  : diag_result(r->test, r->ctx->gpu, DIAG_NOT_RUN, "OUT_OF_MEMORY", DIAG_ACT_RETRY, "no memory");
	double ms = 0;
	step(r, "calibrate", CALIBRATION_DEADLINE_MS);
	if (!res && !(res = gemm_once(r, &g, true, CALIBRATION_DEADLINE_MS, &ms, 0))) {
		uint32_t n = 64;
		while (n < LONG_GEMM_MAX_N && ms * 8 <= POWER_GEMM_MS) {
			n *= 2;
			ms *= 8;
		}
		g.n = n;
		if (n != 64)
			res = gemm_set_alloc(r, &g);
	}
	if (!res)
		res = power_outputs(r, g.n, c);
	int batch = ms > 0 && 250 / ms < POWER_BATCH ? (int)(250 / ms) : POWER_BATCH;
	batch = batch < 1 ? 1 : batch;
	uint32_t deadline = deadline_for(ms * batch);
	int n = 0, rounds = 0;
	uint64_t start = diag_now_ms(), end = start + r->ctx->sustain_ms;
	if (!res)
		step(r, "GEMMs at the cap", deadline);
	while (!res && (rounds == 0 || diag_now_ms() < end)) {
		rounds++;
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = 0;
		for (int k = 0; k < batch && rc == 0; k++)
			rc = queue_gemm(r, &g, c[k], true);
		uint64_t v = ++r->next;
		if (rc == 0)
			rc = tbh_queue_signal(r->compute, r->sig, v);
		if (rc == 0)
			rc = tbh_queue_submit(r->compute);
		/* the sensors while the batch runs (their averages span the last ones too) */
		if (rc == 0 && n < POWER_SAMPLES_MAX && power_sample(hwmon, (double)(diag_now_ms() - start) / 1000.0, &smp[n]))
			n++;
		if (rc == 0)
			rc = tbh_signal_wait(r->sig, v, deadline);
		if (rc < 0) {
			res = gpu_failed(r, rc, "a batch of fp16 WMMA GEMMs");
			break;
		}
		for (int k = 0; k < batch && !res; k++)
			res = gemm_verdict(r, &g, c[k], true, rounds);
		progress(r, (uint64_t)rounds, 0, deadline);
	}
	if (!res)
		res = diag_power_judge(r->test, r->ctx->gpu, smp, n, cap_w, limit_c);
	if (diag_result_status(res) != DIAG_HANG && n > 0) {
		json_t *trace = json_array();
		for (int i = 0; i < n; i += n > 24 ? n / 24 : 1)
			json_array_append_new(trace, json_pack("{s:f, s:f, s:f, s:i, s:i}", "s", smp[i].s, "watts", smp[i].watts,
							       "junction_c", smp[i].junction_c, "pwm", smp[i].pwm, "rpm",
							       smp[i].rpm));
		json_object_set_new(json_object_get(res, "evidence"), "samples", trace);
		json_object_set_new(json_object_get(res, "evidence"), "gemm",
				    json_sprintf("%d rounds of %d fp16 WMMA GEMMs of %ux%u, every output exact", rounds, batch,
						 g.n, g.n));
	}
	if (!r->gone)
		for (int k = 0; k < POWER_BATCH; k++)
			tbh_buffer_free(c[k]);
	gemm_set_free(&g);
	free(smp);
	return res;
}

/* host to VRAM to host copies back to back for the test's share of the
 * level's time, each round keyed with a seed of its own (the first kept
 * in the evidence) and every word checked */
static json_t *test_sdma_long(struct gpu_run *r)
{
	const uint64_t probe = 1ull << 20;
	tbh_buffer *src = NULL, *vram = NULL, *back = NULL;
	json_t *res = NULL;
	int rc = tbh_buffer_alloc(r->dev, probe, TBH_MEMORY_HOST, &src);
	if (rc == 0)
		rc = tbh_buffer_alloc(r->dev, probe, TBH_MEMORY_DEVICE, &vram);
	double ms = 0;
	step(r, "calibrate", CALIBRATION_DEADLINE_MS);
	if (rc == 0 && (rc = timed_copy(r, vram, src, probe, CALIBRATION_DEADLINE_MS, &ms)) < 0) {
		res = gpu_failed(r, rc, "the calibration copy");
		goto out;
	}
	/* a copy of about a tenth of a second */
	uint64_t size = (uint64_t)((double)probe / (ms > 0.01 ? ms : 0.01) * 100) & ~(probe - 1);
	size = size < probe ? probe : size > (256ull << 20) ? 256ull << 20 : size;
	rc = round_trip_buffers(r, size, &src, &vram, &back);
	if (rc < 0) {
		res = diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "ALLOC_FAILED", DIAG_ACT_INVESTIGATE,
				  "cannot allocate %llu MiB buffers: %s", (unsigned long long)(size >> 20), tbh_last_error());
		goto out;
	}
	uint32_t deadline = deadline_for(ms * (double)(size / probe));
	uint64_t end = diag_now_ms() + r->ctx->sustain_ms, seed = 0, moved = 0;
	double busy_ms = 0;
	int rounds = 0;
	step(r, "copies", deadline);
	while (rounds == 0 || diag_now_ms() < end) {
		seed = xorshift(&r->rng);
		fill_keyed(tbh_buffer_cpu(src), size / 4, seed);
		double up, down;
		if ((rc = timed_copy(r, vram, src, size, deadline, &up)) < 0 ||
		    (rc = timed_copy(r, back, vram, size, deadline, &down)) < 0) {
			res = gpu_failed(r, rc, "a sustained copy");
			goto out;
		}
		rounds++;
		busy_ms += up + down;
		moved += 2 * size;
		uint64_t first = 0;
		uint32_t bits = 0;
		uint64_t bad = verify_keyed(tbh_buffer_cpu(back), size / 4, seed, &first, &bits);
		if (bad) {
			res = diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "COPY_DATA_MISMATCH", DIAG_ACT_REPLACE_HW,
					  "round %d (seed %llu): %llu words wrong after the round trip, first at byte 0x%llx, bits 0x%08x",
					  rounds, (unsigned long long)seed, (unsigned long long)bad, (unsigned long long)first * 4, bits);
			goto out;
		}
		progress(r, (uint64_t)rounds, 0, deadline);
	}
	res = diag_result(r->test, r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
			  "%d rounds of %llu MiB each way, each keyed with its own seed, every word as keyed", rounds,
			  (unsigned long long)(size >> 20));
	diag_measure(res, "sustained", (double)moved / (busy_ms > 0.001 ? busy_ms : 0.001) / 1e6, "GB/s", NULL, 0);
	char hex[24];
	snprintf(hex, sizeof hex, "0x%016llx", (unsigned long long)seed);
	json_object_set_new(json_object_get(res, "evidence"), "last_round_seed", json_string(hex));
out:
	tbh_buffer_free(src);
	tbh_buffer_free(vram);
	tbh_buffer_free(back);
	return res;
}

/* the "demo app in a loop": many small dispatches back to back (each a
 * fill of 4 KiB with a key of its own), a batch to a submission, every
 * batch's results checked on the host, for the test's share of the time */
#define DEMO_BATCH 64
#define DEMO_WORDS 1024u

static json_t *test_demo_loop(struct gpu_run *r)
{
	tbh_buffer *out = NULL;
	if (tbh_buffer_alloc(r->dev, (uint64_t)DEMO_BATCH * DEMO_WORDS * 4, TBH_MEMORY_HOST, &out) < 0)
		return diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "ALLOC_FAILED", DIAG_ACT_INVESTIGATE,
				   "cannot allocate the dispatches' buffer: %s", tbh_last_error());
	uint32_t *w = tbh_buffer_cpu(out);
	uint64_t end = diag_now_ms() + r->ctx->sustain_ms, batches = 0;
	uint32_t deadline = CALIBRATION_DEADLINE_MS;
	json_t *res = NULL;
	step(r, "dispatches", deadline);
	while (!res && (batches == 0 || diag_now_ms() < end)) {
		uint64_t key = xorshift(&r->rng);
		memset(w, 0, (size_t)DEMO_BATCH * DEMO_WORDS * 4);
		uint8_t args[128];
		struct timespec t0;
		double ms;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int rc = 0;
		for (uint32_t i = 0; i < DEMO_BATCH && rc == 0; i++) {
			const uint64_t fv[] = { tbh_buffer_address(out) + (uint64_t)i * DEMO_WORDS * 4, DEMO_WORDS,
						(uint64_t)i * DEMO_WORDS * 4, key, 0 };
			uint32_t grid[3] = { DEMO_WORDS, 1, 1 }, block[3] = { 64, 1, 1 };
			rc = tbh_queue_exec(r->compute, r->fill, args, pack_args(r->fill, args, sizeof args, fv, 5), grid, block);
		}
		rc = submit_and_wait(r, r->compute, rc, deadline, &t0, &ms);
		if (rc < 0) {
			tbh_buffer_free(out);
			return gpu_failed(r, rc, "a batch of small dispatches");
		}
		batches++;
		if (batches == 1)
			deadline = deadline_for(ms);
		uint64_t first = 0;
		uint32_t bits = 0;
		uint64_t bad = verify_keyed(w, (uint64_t)DEMO_BATCH * DEMO_WORDS, key, &first, &bits);
		if (bad)
			res = diag_result(r->test, r->ctx->gpu, DIAG_FAIL, "DISPATCH_RESULT_WRONG", DIAG_ACT_INVESTIGATE,
					  "batch %llu: %llu words wrong, first in dispatch %llu, bits 0x%08x", (unsigned long long)batches,
					  (unsigned long long)bad, (unsigned long long)(first / DEMO_WORDS), bits);
		progress(r, batches, 0, deadline);
	}
	if (!res) {
		res = diag_result(r->test, r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
				  "%llu dispatches in %llu batches, every batch's results checked", (unsigned long long)(batches * DEMO_BATCH),
				  (unsigned long long)batches);
		diag_measure(res, "dispatches", (double)(batches * DEMO_BATCH), "count", NULL, 0);
	}
	tbh_buffer_free(out);
	return res;
}

/* Queues created, used and destroyed in a loop: what makes the MES
 * firmware stop answering REMOVE_QUEUE.  The driver resets the GPU when it
 * does; amdgpu's VRAM-lost counter, read after every removal, names the
 * removal it followed. */
static json_t *cycle_failed(struct gpu_run *r, int rc, int cycle, int n, int kind, int removals, const char *what)
{
	char text[160];
	snprintf(text, sizeof text, "cycle %d of %d (%s queue), removal %d: %s", cycle, n, kind ? "SDMA" : "compute",
		 removals, what);
	json_t *res = gpu_failed(r, rc, text);
	json_object_set_new(json_object_get(res, "evidence"), "cycle", json_integer(cycle));
	json_object_set_new(json_object_get(res, "evidence"), "queue_removals", json_integer(removals));
	return res;
}

/* n cycles: each a compute and an SDMA queue, or (mixed) one of either
 * kind, as the run's random numbers pick */
static json_t *queue_cycles(struct gpu_run *r, int n, bool mixed)
{
	int removals = 0, made[2] = { 0, 0 };
	uint32_t lost0 = 0, lost = 0;
	bool counted = diag_vram_lost(r->ctx->info, &lost0) == 0;
	step(r, "cycles", DEADLINE_MIN_MS);
	uint32_t deadline = DEADLINE_MIN_MS;
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < (mixed ? 1 : 2); k++) {
			int kind = mixed ? (int)(xorshift(&r->rng) >> 11 & 1) : k;
			made[kind]++;
			tbh_queue *q;
			int rc = tbh_queue_create(r->dev, kind ? TBH_QUEUE_COPY : TBH_QUEUE_COMPUTE, &q);
			double ms = 0;
			if (rc == 0) {
				ms = fence(r, q, deadline, &rc);
				tbh_queue_destroy(q);
				removals++;
			}
			if (rc < 0)
				return cycle_failed(r, rc, i + 1, n, kind, removals, "the queue failed");
			if (counted && diag_vram_lost(r->ctx->info, &lost) == 0 && lost != lost0)
				return cycle_failed(r, -EIO, i + 1, n, kind, removals, "the GPU reset after its removal");
			if (i == 0 && k == 0)
				deadline = deadline_for(ms);
		}
		progress(r, (uint64_t)i + 1, (uint64_t)n, deadline);
	}
	return diag_result(r->test, r->ctx->gpu, DIAG_PASS, "OK", DIAG_ACT_NONE,
			   "%d compute and %d SDMA queues created, used and destroyed", made[0], made[1]);
}

static json_t *test_queue_cycles(struct gpu_run *r)
{
	return queue_cycles(r, r->ctx->iterations ? r->ctx->iterations : 200, false);
}

/* level 3: 2,000 cycles of either kind, every GPU's worker at once */
static json_t *test_queue_storm(struct gpu_run *r)
{
	return queue_cycles(r, r->ctx->iterations ? r->ctx->iterations : 2000, true);
}

static const struct {
	const char *name;
	json_t *(*run)(struct gpu_run *r);
} gpu_tests[] = {
	{ "queues", test_queues },
	{ "recovery", test_recovery },
	{ "fence", test_fence },
	{ "gemm", test_gemm },
	{ "copy", test_copy },
	{ "vram", test_vram },
	{ "vram_random", test_vram_random },
	{ "power", test_power },
	{ "peer", test_peer },
	{ "queue_cycles", test_queue_cycles },
	{ "gemm_long", test_gemm_long },
	{ "sdma_long", test_sdma_long },
	{ "demo_loop", test_demo_loop },
	{ "queue_storm", test_queue_storm },
};

/* ---- the worker ---------------------------------------------------------------------------- */

static int setup(struct gpu_run *r)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/diag.co", r->ctx->share_dir);
	int rc = tbh_device_open(r->ctx->gpu, &r->dev);
	if (rc == 0)
		rc = tbh_program_load_file(r->dev, path, &r->prog);
	if (rc == 0)
		rc = tbh_program_kernel(r->prog, "gemm_f32", &r->gemm);
	if (rc == 0)
		rc = tbh_program_kernel(r->prog, "pattern_fill", &r->fill);
	if (rc == 0)
		rc = tbh_program_kernel(r->prog, "pattern_check", &r->check);
	if (rc == 0)
		rc = tbh_program_kernel(r->prog, "march_element", &r->march);
	if (rc == 0)
		rc = tbh_program_kernel(r->prog, "gemm_wmma_f16", &r->wmma);
	return rc;
}

int diag_worker_main(struct diag_worker_ctx *ctx, const char *const *names, int n)
{
	struct gpu_run r = { .ctx = ctx, .rng = ctx->seed * 2654435761u + 88172645463325252ull + (uint64_t)ctx->gpu };
	r.test = "setup";
	int rc = setup(&r);
	for (int i = 0; i < n; i++) {
		json_t *res = NULL;
		r.test = names[i];
		diag_send(&ctx->link, json_pack("{s:s, s:s}", "ev", "begin", "test", names[i]));
		uint64_t t0 = diag_now_ms();
		if (rc < 0) {
			res = diag_result(names[i], ctx->gpu, DIAG_FAIL, "GPU_OPEN_FAILED", DIAG_ACT_UPDATE_FW_DRIVER,
					  "cannot open the GPU: %s", tbh_last_error());
		} else if (strcmp(names[i], "queues") != 0 && make_queues(&r) < 0) {
			res = diag_result(names[i], ctx->gpu, DIAG_FAIL, "QUEUE_CREATE_FAILED", DIAG_ACT_UPDATE_FW_DRIVER,
					  "cannot create the queues: %s", tbh_last_error());
		} else {
			for (size_t k = 0; k < sizeof gpu_tests / sizeof gpu_tests[0]; k++)
				if (!strcmp(gpu_tests[k].name, names[i]))
					res = gpu_tests[k].run(&r);
		}
		if (!res)
			res = diag_result(names[i], ctx->gpu, DIAG_SKIPPED, "UNKNOWN_TEST", DIAG_ACT_NONE, "not a GPU test");
		json_object_set_new(res, "seconds", json_real((double)(diag_now_ms() - t0) / 1000.0));
		diag_send(&ctx->link, json_pack("{s:s, s:o}", "ev", "end", "result", res));
		if (r.gone)
			break;	/* quarantined: the supervisor marks the rest */
	}
	/* a GPU that hung keeps its queues: destroying them would only wait */
	if (!r.gone) {
		tbh_signal_destroy(r.sig);
		tbh_queue_destroy(r.copy);
		tbh_queue_destroy(r.compute);
		tbh_program_free(r.prog);
		tbh_device_close(r.dev);
	}
	diag_send(&ctx->link, json_pack("{s:s}", "ev", "done"));
	return 0;
}
