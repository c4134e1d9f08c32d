/* tests/kernels host side: running a kernel's host build as the reference,
 * work-group by work-group, honouring barriers. */
#ifndef TK_HOST_H
#define TK_HOST_H

#include <stdint.h>

/* A kernel argument as a host wrapper receives it: a buffer's host copy or a
 * scalar's bits. */
struct tk_arg {
	void *p;
	uint64_t v;
};
typedef void tk_host_fn(const struct tk_arg *a);

/* Run fn over the grid (work-items per dimension) in work-groups of block,
 * the last group of a dimension partial when block does not divide grid.
 * Each work-item runs on its own stack, so barrier() switches to the next
 * work-item of the group until all have reached it.  Returns 0 or -ENOMEM. */
int tk_host_run(tk_host_fn *fn, const struct tk_arg *args, const uint32_t grid[3], const uint32_t block[3]);

#endif
