/* tb bench: what launching work costs the host, and how fast memory moves.
 *
 *   tb bench dispatch [--json] [--code-object FILE] [--gpu N]
 *       submit_ns: host CPU time to enqueue and submit one kernel dispatch;
 *       replay_ns_per_dispatch: host CPU time per dispatch to replay a
 *       recorded graph of 1000 dispatches.  Each is the median of ROUNDS
 *       rounds, with the fastest and slowest round (the spread).
 *   tb bench copy [--json] [--gpu N] [--mib N]
 *       host -> VRAM through SDMA and through CPU writes to the BAR.
 *   tb bench launch [--json] [--gpu N] [--rounds N] [--code-object FILE]
 *       GPU time of a small kernel's first launch on a new queue of a new
 *       program, and of its third launch on that queue (tinygrad's
 *       measurement: GPU timestamps before and after the dispatch), each the
 *       median of the rounds, with the fastest and slowest.
 *
 * Host CPU time is the thread's (CLOCK_THREAD_CPUTIME_ID): the cost the
 * runtime pays, without the GPU's execution.  During each measured span
 * the engine is held: the queue first waits on a gate signal the benchmark
 * opens only after the span, so no dispatch runs meanwhile (on the
 * simulated box the engine would otherwise emulate them on the same cores).
 * The default code object is the one the build installs,
 * ../../share/tb/tbhal_kernels.co from this program. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hal/tbhal.h"

enum { BATCH = 100, ROUNDS = 20, GRAPH_DISPATCHES = 1000, GRAPH_REPLAYS = 20, TIMEOUT_MS = 600000 };

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int die(const char *what)
{
	fprintf(stderr, "tb bench: %s: %s\n", what, tbh_last_error());
	return 1;
}

struct add_args {
	uint64_t a, b, c;
	uint32_t n;
};

struct spread {
	double median, min, max;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static struct spread spread_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return (struct spread){ n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1] };
}

/* Hold the engine: the queue waits for the gate to reach value. */
static int hold(tbh_queue *q, tbh_signal *gate, uint64_t value)
{
	return tbh_queue_wait(q, gate, value) || tbh_queue_submit(q) ? -1 : 0;
}

/* Open the gate, then wait for the held work to finish. */
static int release(tbh_queue *q, tbh_signal *gate, tbh_signal *done, uint64_t value)
{
	tbh_signal_set(gate, value);
	return tbh_queue_signal(q, done, value) || tbh_queue_submit(q) || tbh_signal_wait(done, value, TIMEOUT_MS) ? -1 : 0;
}

static int bench_dispatch(tbh_device *dev, const char *co, int json)
{
	tbh_program *prog;
	const tbh_kernel *k;
	tbh_queue *q;
	tbh_signal *done, *gate;
	tbh_buffer *buf;
	if (tbh_program_load_file(dev, co, &prog) || tbh_program_kernel(prog, "add", &k) ||
	    tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &q) || tbh_signal_create(dev, 0, &done) ||
	    tbh_signal_create(dev, 0, &gate) || tbh_buffer_alloc(dev, 64 * 4, TBH_MEMORY_DEVICE, &buf))
		return die("setup");
	struct add_args args = { tbh_buffer_address(buf), tbh_buffer_address(buf), tbh_buffer_address(buf), 64 };
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	uint64_t v = 0;
	double submit[ROUNDS], replay[GRAPH_REPLAYS];
	for (int r = 0; r < ROUNDS; r++) {
		if (hold(q, gate, ++v))
			return die("holding the engine");
		uint64_t t0 = cpu_ns();
		for (int i = 0; i < BATCH; i++)
			if (tbh_queue_exec(q, k, &args, sizeof args, grid, block) || tbh_queue_submit(q))
				return die("dispatch");
		submit[r] = (double)(cpu_ns() - t0) / BATCH;
		if (release(q, gate, done, v))
			return die("waiting for the dispatches");
	}

	tbh_graph *g;
	if (tbh_graph_begin(q))
		return die("recording");
	for (int i = 0; i < GRAPH_DISPATCHES; i++)
		if (tbh_graph_exec(q, k, &args, sizeof args, grid, block, NULL))
			return die("recording a dispatch");
	if (tbh_graph_end(q, &g))
		return die("ending the recording");
	for (int r = 0; r < GRAPH_REPLAYS; r++) {
		if (hold(q, gate, ++v))
			return die("holding the engine");
		uint64_t t0 = cpu_ns();
		if (tbh_queue_replay(q, g) || tbh_queue_submit(q))
			return die("replaying");
		replay[r] = (double)(cpu_ns() - t0) / GRAPH_DISPATCHES;
		if (release(q, gate, done, v))
			return die("waiting for the replay");
	}
	struct spread sub = spread_of(submit, ROUNDS), rep = spread_of(replay, GRAPH_REPLAYS);
	if (json)
		printf("{\"submit_ns\": %.0f, \"submit_ns_min\": %.0f, \"submit_ns_max\": %.0f, "
		       "\"replay_ns_per_dispatch\": %.2f, \"replay_ns_min\": %.2f, \"replay_ns_max\": %.2f, \"rounds\": %d}\n",
		       sub.median, sub.min, sub.max, rep.median, rep.min, rep.max, ROUNDS);
	else
		printf("submit one dispatch:          %8.0f ns host CPU, median of %d rounds (%.0f..%.0f; target <= 1000)\n"
		       "replay, per dispatch (1000):  %8.2f ns host CPU, median of %d rounds (%.2f..%.2f; target <= 100)\n",
		       sub.median, ROUNDS, sub.min, sub.max, rep.median, GRAPH_REPLAYS, rep.min, rep.max);
	tbh_graph_free(g);
	tbh_buffer_free(buf);
	tbh_signal_destroy(done);
	tbh_signal_destroy(gate);
	tbh_queue_destroy(q);
	tbh_program_free(prog);
	return 0;
}

/* One launch of k between two GPU timestamps; its GPU time in us. */
static int timed_launch(tbh_queue *q, const tbh_kernel *k, const struct add_args *args, tbh_signal *t0, tbh_signal *t1,
			tbh_signal *done, uint64_t v, double *us)
{
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	if (tbh_queue_timestamp(q, t0) || tbh_queue_exec(q, k, args, sizeof *args, grid, block) ||
	    tbh_queue_timestamp(q, t1) || tbh_queue_signal(q, done, v) || tbh_queue_submit(q) ||
	    tbh_signal_wait(done, v, TIMEOUT_MS))
		return -1;
	*us = (double)(tbh_signal_timestamp_ns(t1) - tbh_signal_timestamp_ns(t0)) / 1000.0;
	return 0;
}

enum { LAUNCHES_PER_QUEUE = 3, MAX_ROUNDS = 1000 };

/* Each round: a new program and a new compute queue, then three launches. */
static int bench_launch(tbh_device *dev, const char *co, int rounds, int json)
{
	tbh_signal *t0, *t1, *done;
	tbh_buffer *buf;
	if (tbh_signal_create(dev, 0, &t0) || tbh_signal_create(dev, 0, &t1) || tbh_signal_create(dev, 0, &done) ||
	    tbh_buffer_alloc(dev, 64 * 4, TBH_MEMORY_DEVICE, &buf))
		return die("setup");
	struct add_args args = { tbh_buffer_address(buf), tbh_buffer_address(buf), tbh_buffer_address(buf), 64 };
	double first[MAX_ROUNDS], third[MAX_ROUNDS];
	uint64_t v = 0;
	for (int r = 0; r < rounds; r++) {
		tbh_program *prog;
		const tbh_kernel *k;
		tbh_queue *q;
		if (tbh_program_load_file(dev, co, &prog) || tbh_program_kernel(prog, "add", &k) ||
		    tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &q))
			return die("a new program and queue");
		double us[LAUNCHES_PER_QUEUE];
		for (int i = 0; i < LAUNCHES_PER_QUEUE; i++)
			if (timed_launch(q, k, &args, t0, t1, done, ++v, &us[i]))
				return die("launching");
		first[r] = us[0];
		third[r] = us[LAUNCHES_PER_QUEUE - 1];
		tbh_queue_destroy(q);
		tbh_program_free(prog);
	}
	struct spread f = spread_of(first, rounds), t = spread_of(third, rounds);
	if (json)
		printf("{\"first_launch_us\": %.1f, \"first_launch_us_min\": %.1f, \"first_launch_us_max\": %.1f, "
		       "\"third_launch_us\": %.1f, \"third_launch_us_min\": %.1f, \"third_launch_us_max\": %.1f, "
		       "\"rounds\": %d}\n",
		       f.median, f.min, f.max, t.median, t.min, t.max, rounds);
	else
		printf("first launch on a new queue:  %8.1f us GPU time, median of %d rounds (%.1f..%.1f; target <= 100)\n"
		       "third launch on that queue:   %8.1f us GPU time, median of %d rounds (%.1f..%.1f)\n",
		       f.median, rounds, f.min, f.max, t.median, rounds, t.min, t.max);
	tbh_buffer_free(buf);
	tbh_signal_destroy(done);
	tbh_signal_destroy(t1);
	tbh_signal_destroy(t0);
	return 0;
}

/* The installed kernels, relative to this program (build/libexec/tb). */
static const char *default_code_object(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	snprintf(buf, len, "%s/../../share/tb/tbhal_kernels.co", dirname(exe));
	return buf;
}

static int bench_copy(tbh_device *dev, uint64_t mib, int json)
{
	uint64_t bytes = mib << 20;
	tbh_buffer *host, *vram;
	tbh_queue *q;
	tbh_signal *s;
	if (tbh_buffer_alloc(dev, bytes, TBH_MEMORY_HOST, &host) || tbh_buffer_alloc(dev, bytes, TBH_MEMORY_DEVICE, &vram) ||
	    tbh_queue_create(dev, TBH_QUEUE_COPY, &q) || tbh_signal_create(dev, 0, &s))
		return die("setup");
	memset(tbh_buffer_cpu(host), 0x5a, bytes);
	memset(tbh_buffer_cpu(vram), 0, bytes);	/* touch it once: first-touch costs are no copy costs */
	double sdma = 0, bar = 0;
	for (int r = 1; r <= 3; r++) {
		uint64_t t0 = wall_ns();
		if (tbh_queue_copy(q, vram, 0, host, 0, bytes) || tbh_queue_signal(q, s, (uint64_t)r) || tbh_queue_submit(q) ||
		    tbh_signal_wait(s, (uint64_t)r, TIMEOUT_MS))
			return die("SDMA copy");
		double gbs = (double)bytes / (double)(wall_ns() - t0);
		sdma = gbs > sdma ? gbs : sdma;
		t0 = wall_ns();
		memcpy(tbh_buffer_cpu(vram), tbh_buffer_cpu(host), bytes);
		gbs = (double)bytes / (double)(wall_ns() - t0);
		bar = gbs > bar ? gbs : bar;
	}
	if (json)
		printf("{\"bytes\": %llu, \"sdma_gb_per_s\": %.2f, \"bar_write_gb_per_s\": %.2f}\n", (unsigned long long)bytes,
		       sdma, bar);
	else
		printf("host -> VRAM, %llu MiB, best of 3:\n  SDMA copy:      %6.2f GB/s\n  BAR CPU writes: %6.2f GB/s\n",
		       (unsigned long long)mib, sdma, bar);
	tbh_signal_destroy(s);
	tbh_queue_destroy(q);
	tbh_buffer_free(vram);
	tbh_buffer_free(host);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tb bench dispatch [--json] [--gpu N] [--code-object FILE]\n"
		   "       tb bench copy [--json] [--gpu N] [--mib N]\n"
		   "       tb bench launch [--json] [--gpu N] [--rounds N] [--code-object FILE]\n"
		   "dispatch: host CPU per submitted dispatch and per replayed one (engine held)\n"
		   "copy:     host -> VRAM bandwidth through SDMA and the BAR (--mib 1..16384, default 256)\n"
		   "launch:   GPU time of a small kernel's first launch on a new queue, and its third\n"
		   "          (--rounds 1..1000, default 8)\n");
}

/* An option's value: all of it a decimal number within [min, max]. */
static int parse_option(const char *name, const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : 0;
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max) {
		fprintf(stderr, "tb bench: --%s takes a whole number from %ld to %ld, not '%s'\n", name, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },	    { "gpu", required_argument, NULL, 'g' },
		{ "code-object", required_argument, NULL, 'c' }, { "mib", required_argument, NULL, 'm' },
		{ "rounds", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, c;
	long mib = 256, gpu = 0, rounds = 8;
	char co_buf[PATH_MAX];
	const char *co = NULL;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'g': if (parse_option("gpu", optarg, 0, 63, &gpu)) return 2; break;
		case 'c': co = optarg; break;
		case 'm': if (parse_option("mib", optarg, 1, 16384, &mib)) return 2; break;
		case 'r': if (parse_option("rounds", optarg, 1, MAX_ROUNDS, &rounds)) return 2; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	const char *what = optind < argc ? argv[optind] : NULL;
	if (!what || (strcmp(what, "dispatch") && strcmp(what, "copy") && strcmp(what, "launch"))) {
		fprintf(stderr, "tb bench: %s\n", what ? "unknown benchmark" : "which benchmark?");
		usage(stderr);
		return 2;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "tb bench: unexpected argument '%s'\n", argv[optind + 1]);
		return 2;
	}
	if (!co && !(co = default_code_object(co_buf, sizeof co_buf))) {
		fprintf(stderr, "tb bench: cannot find this program's path; give --code-object FILE\n");
		return 1;
	}
	tbh_device *dev;
	if (tbh_device_open((int)gpu, &dev))
		return die("opening the GPU");
	int rc = !strcmp(what, "dispatch") ? bench_dispatch(dev, co, json)
		 : !strcmp(what, "copy")   ? bench_copy(dev, (uint64_t)mib, json)
					   : bench_launch(dev, co, (int)rounds, json);
	tbh_device_close(dev);
	return rc;
}
