/* The host reference's work-group runner: one ucontext per work-item, so
 * that a kernel's barrier() is honoured without threads (deterministic, and
 * one work-group's __local statics are shared as on the GPU). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "tests/kernels/host.h"
#include "tests/kernels/tk.h"

/* Generous: sanitizer builds have large frames. */
#define STACK_BYTES (256u << 10)

struct tk_item tk_cur;

struct work_item {
	ucontext_t ctx;
	struct tk_item item;
	bool done;
};

static ucontext_t scheduler;
static struct work_item *running;
static tk_host_fn *run_fn;
static const struct tk_arg *run_args;

static void trampoline(void)
{
	run_fn(run_args);
	running->done = true;	/* uc_link returns to the scheduler */
}

void tk_host_barrier(void)
{
	swapcontext(&running->ctx, &scheduler);
}

/* Prepare one work-item to start at the kernel.  Kept apart from the loops
 * because getcontext() returns twice, which would clobber their counters. */
static void start_item(struct work_item *wi, uint8_t *stack, const struct tk_item *item)
{
	wi->item = *item;
	wi->done = false;
	getcontext(&wi->ctx);
	wi->ctx.uc_stack.ss_sp = stack;
	wi->ctx.uc_stack.ss_size = STACK_BYTES;
	wi->ctx.uc_link = &scheduler;
	makecontext(&wi->ctx, trampoline, 0);
}

/* Start every work-item of the group, then resume them in turn until all
 * have returned: each turn runs one to its next barrier or its end. */
static void run_group(struct work_item *wi, uint8_t *stacks, const struct tk_item *group, unsigned n)
{
	unsigned k = 0;
	struct tk_item item = *group;
	for (uint32_t z = 0; z < group->local_size[2]; z++)
		for (uint32_t y = 0; y < group->local_size[1]; y++)
			for (uint32_t x = 0; x < group->local_size[0]; x++, k++) {
				item.local[0] = x;
				item.local[1] = y;
				item.local[2] = z;
				start_item(&wi[k], stacks + (size_t)k * STACK_BYTES, &item);
			}
	for (bool pending = true; pending;) {
		pending = false;
		for (unsigned i = 0; i < n; i++) {
			if (wi[i].done)
				continue;
			running = &wi[i];
			tk_cur = wi[i].item;
			swapcontext(&scheduler, &wi[i].ctx);
			pending |= !wi[i].done;
		}
	}
}

int tk_host_run(tk_host_fn *fn, const struct tk_arg *args, const uint32_t grid[3], const uint32_t block[3])
{
	size_t n = (size_t)block[0] * block[1] * block[2];
	struct work_item *wi = calloc(n, sizeof *wi);
	uint8_t *stacks = malloc(n * STACK_BYTES);
	if (!wi || !stacks) {
		free(wi);
		free(stacks);
		return -ENOMEM;
	}
	run_fn = fn;
	run_args = args;
	uint32_t groups[3];
	for (int d = 0; d < 3; d++)
		groups[d] = (grid[d] + block[d] - 1) / block[d];
	struct tk_item g;
	memset(&g, 0, sizeof g);
	for (int d = 0; d < 3; d++) {
		g.enqueued[d] = block[d];
		g.grid[d] = grid[d];
	}
	for (g.group[2] = 0; g.group[2] < groups[2]; g.group[2]++)
		for (g.group[1] = 0; g.group[1] < groups[1]; g.group[1]++)
			for (g.group[0] = 0; g.group[0] < groups[0]; g.group[0]++) {
				unsigned items = 1;
				for (int d = 0; d < 3; d++) {
					uint32_t start = g.group[d] * block[d];
					g.local_size[d] = grid[d] - start < block[d] ? grid[d] - start : block[d];
					items *= g.local_size[d];
				}
				run_group(wi, stacks, &g, items);
			}
	free(wi);
	free(stacks);
	return 0;
}
