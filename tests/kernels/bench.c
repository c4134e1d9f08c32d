/* The emulator's speed on real kernels: wave-instructions per second on the
 * fp32 matmul and an elementwise kernel, on one host thread and on all
 * cores, side by side.  Prints a table; fails only on errors, never on
 * timing.
 *
 *   bench_emu [--build DIR] [--repeat N] */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/emu/emu.h"

struct workload {
	const char *file, *kernel, *shape;
	uint32_t grid[3], block[3];
	/* buffers (bytes; 0 ends) then u32 scalars (count) */
	size_t buf[4];
	uint32_t scalar[4];
	unsigned nscalars;
};

#define MM 256
#define EW (1u << 20)

static const struct workload loads[] = {
	{ "matmul", "matmul_f32", "256x256x256", { MM, MM, 1 }, { 16, 16, 1 },
	  { 4u * MM * MM, 4u * MM * MM, 4u * MM * MM, 0 }, { MM, MM, MM }, 3 },
	{ "elementwise", "ew_f32", "1M elements", { EW, 1, 1 }, { 64, 1, 1 },
	  { 4u * EW, 4u * EW, 32u * EW, 0 }, { EW }, 1 },
};

/* One timed dispatch; inputs small random-ish floats so no path is special. */
static int run_once(const struct workload *w, struct tb_codeobj *co, unsigned threads, struct isa_result *res,
		    char *err, size_t len)
{
	const struct tb_kernel *k = tb_codeobj_kernel(co, w->kernel);
	if (!k) {
		snprintf(err, len, "no kernel %s", w->kernel);
		return -ENOENT;
	}
	struct emu_arg args[8];
	unsigned n = 0;
	int rc = 0;
	memset(args, 0, sizeof args);
	for (; n < 4 && w->buf[n]; n++) {
		args[n].kind = EMU_ARG_BUFFER;
		args[n].size = w->buf[n];
		float *f = malloc(w->buf[n]);
		args[n].data = f;
		if (!f) {
			rc = -ENOMEM;
			snprintf(err, len, "out of memory");
			break;
		}
		for (size_t i = 0; i < w->buf[n] / 4; i++)
			f[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
	}
	unsigned nbuf = n;
	for (unsigned s = 0; s < w->nscalars; s++, n++) {
		args[n].kind = EMU_ARG_SCALAR;
		args[n].size = 4;
		args[n].value = w->scalar[s];
	}
	if (rc == 0) {
		struct emu_launch l = { .co = co, .kernel = k, .args = args, .nargs = n, .threads = threads };
		memcpy(l.grid, w->grid, sizeof l.grid);
		memcpy(l.block, w->block, sizeof l.block);
		rc = emu_run(&l, res, err, len);
	}
	for (unsigned i = 0; i < nbuf; i++)
		free(args[i].data);
	return rc;
}

/* The best of `repeat` runs: the least disturbed by the rest of the machine. */
static int measure(const struct workload *w, struct tb_codeobj *co, unsigned threads, unsigned repeat,
		   struct isa_result *best, char *err, size_t len)
{
	for (unsigned r = 0; r < repeat; r++) {
		struct isa_result res;
		int rc = run_once(w, co, threads, &res, err, len);
		if (rc < 0)
			return rc;
		if (r == 0 || res.elapsed_ns < best->elapsed_ns)
			*best = res;
	}
	return 0;
}

static double rate(const struct isa_result *r)
{
	return r->elapsed_ns ? (double)r->wave_instructions / ((double)r->elapsed_ns / 1e9) : 0.0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "build", required_argument, NULL, 'b' }, { "repeat", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *env = getenv("TB_BUILD");
	const char *build = env ? env : "build";
	unsigned repeat = 3;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': build = optarg; break;
		case 'r': repeat = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'h': printf("usage: bench_emu [--build DIR] [--repeat N]\n"); return 0;
		default: return 2;
		}
	}
	if (!repeat)
		repeat = 1;
	unsigned all = isa_default_threads();
	printf("emulator throughput, best of %u runs; %u host cores\n", repeat, all);
	printf("%-12s %-12s %7s %14s %10s %14s %8s\n", "kernel", "size", "threads", "wave-instr", "ms",
	       "wave-instr/s", "speedup");
	int status = 0;
	for (size_t i = 0; i < sizeof loads / sizeof *loads; i++) {
		const struct workload *w = &loads[i];
		char path[4096], err[512];
		snprintf(path, sizeof path, "%s/gpu/tests/kernels/%s.co", build, w->file);
		struct tb_codeobj *co = NULL;
		if (tb_codeobj_load_file(path, &co, err, sizeof err) < 0) {
			fprintf(stderr, "bench_emu: %s\n", err);
			status = 1;
			continue;
		}
		struct isa_result one, many;
		if (measure(w, co, 1, repeat, &one, err, sizeof err) < 0 ||
		    measure(w, co, all, repeat, &many, err, sizeof err) < 0) {
			fprintf(stderr, "bench_emu: %s: %s\n", w->kernel, err);
			status = 1;
		} else {
			printf("%-12s %-12s %7u %14" PRIu64 " %10.1f %14.3e %8s\n", w->kernel, w->shape, 1u,
			       one.wave_instructions, (double)one.elapsed_ns / 1e6, rate(&one), "1.00");
			char sp[16];
			snprintf(sp, sizeof sp, "%.2f", rate(&one) > 0 ? rate(&many) / rate(&one) : 0.0);
			printf("%-12s %-12s %7u %14" PRIu64 " %10.1f %14.3e %8s\n", w->kernel, w->shape, all,
			       many.wave_instructions, (double)many.elapsed_ns / 1e6, rate(&many), sp);
		}
		tb_codeobj_free(co);
	}
	return status;
}
