/* tb bench: what launching work costs the host, and how fast memory moves.
 *
 *   tb bench dispatch [--json] [--code-object FILE] [--gpu N]
 *       submit_ns: host CPU time to enqueue and submit one kernel dispatch;
 *       replay_ns_per_dispatch: host CPU time per dispatch to replay a
 *       recorded graph of 1000 dispatches.
 *   tb bench copy [--json] [--gpu N] [--mib N]
 *       host -> VRAM through SDMA and through CPU writes to the BAR.
 *
 * Host CPU time is the thread's (CLOCK_THREAD_CPUTIME_ID): the cost the
 * runtime pays, without the GPU's execution.  Waiting for the GPU happens
 * outside the measured spans. */
#include <errno.h>
#include <getopt.h>
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

static int bench_dispatch(tbh_device *dev, const char *co, int json)
{
	tbh_program *prog;
	const tbh_kernel *k;
	tbh_queue *q;
	tbh_signal *s;
	tbh_buffer *buf;
	if (tbh_program_load_file(dev, co, &prog) || tbh_program_kernel(prog, "add", &k) ||
	    tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &q) || tbh_signal_create(dev, 0, &s) ||
	    tbh_buffer_alloc(dev, 64 * 4, TBH_MEMORY_DEVICE, &buf))
		return die("setup");
	struct add_args args = { tbh_buffer_address(buf), tbh_buffer_address(buf), tbh_buffer_address(buf), 64 };
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	uint64_t v = 0, spent = 0, n = 0;
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = cpu_ns();
		for (int i = 0; i < BATCH; i++)
			if (tbh_queue_exec(q, k, &args, sizeof args, grid, block) || tbh_queue_submit(q))
				return die("dispatch");
		spent += cpu_ns() - t0;
		n += BATCH;
		if (tbh_queue_signal(q, s, ++v) || tbh_queue_submit(q) || tbh_signal_wait(s, v, TIMEOUT_MS))
			return die("waiting for the dispatches");
	}
	double submit_ns = (double)spent / (double)n;

	tbh_graph *g;
	if (tbh_graph_begin(q))
		return die("recording");
	for (int i = 0; i < GRAPH_DISPATCHES; i++)
		if (tbh_graph_exec(q, k, &args, sizeof args, grid, block, NULL))
			return die("recording a dispatch");
	uint32_t h;
	if (tbh_graph_signal(q, s, 0, &h) || tbh_graph_end(q, &g))
		return die("ending the recording");
	spent = 0;
	for (int r = 0; r < GRAPH_REPLAYS; r++) {
		if (tbh_graph_set_value(g, h, ++v))
			return die("updating the graph");
		uint64_t t0 = cpu_ns();
		if (tbh_queue_replay(q, g) || tbh_queue_submit(q))
			return die("replaying");
		spent += cpu_ns() - t0;
		if (tbh_signal_wait(s, v, TIMEOUT_MS))
			return die("waiting for the replay");
	}
	double replay_ns = (double)spent / (double)(GRAPH_REPLAYS * GRAPH_DISPATCHES);
	if (json)
		printf("{\"submit_ns\": %.0f, \"replay_ns_per_dispatch\": %.2f}\n", submit_ns, replay_ns);
	else
		printf("submit one dispatch:            %8.0f ns host CPU (target <= 1000)\n"
		       "replay, per dispatch (1000):    %8.2f ns host CPU (target <= 100)\n",
		       submit_ns, replay_ns);
	tbh_graph_free(g);
	tbh_buffer_free(buf);
	tbh_signal_destroy(s);
	tbh_queue_destroy(q);
	tbh_program_free(prog);
	return 0;
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
		   "       tb bench copy [--json] [--gpu N] [--mib N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },	    { "gpu", required_argument, NULL, 'g' },
		{ "code-object", required_argument, NULL, 'c' }, { "mib", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },	    { NULL, 0, NULL, 0 },
	};
	int json = 0, gpu = 0, c;
	long mib = 256;
	const char *co = "build/gpu/tests/sim/box_kernels.co";
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'g': gpu = atoi(optarg); break;
		case 'c': co = optarg; break;
		case 'm': mib = atol(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || (strcmp(argv[optind], "dispatch") && strcmp(argv[optind], "copy")) || mib < 1 ||
	    mib > 16384) {
		usage(stderr);
		return 2;
	}
	tbh_device *dev;
	if (tbh_device_open(gpu, &dev))
		return die("opening the GPU");
	int rc = !strcmp(argv[optind], "dispatch") ? bench_dispatch(dev, co, json) : bench_copy(dev, (uint64_t)mib, json);
	tbh_device_close(dev);
	return rc;
}
