/* Divergent control flow: lanes of one wave take different sides of an
 * if/else, leave loops after different numbers of trips, and return early. */
#include "tk.h"

__kernel void divergent(__global const int *in, __global int *out, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	int x = in[i];
	out[3 * i + 0] = 0;
	out[3 * i + 1] = 0;
	if (x % 5 == 0) {	/* early return for some lanes */
		out[3 * i + 2] = -5;
		return;
	}
	int r;
	if (x & 1)
		r = (int)((uint)x * 3u + 1u);
	else if (x & 2)
		r = x >> 1;
	else
		r = -(x & 0xffff);
	out[3 * i] = r;

	/* Collatz steps: a data-dependent trip count, leaving by break */
	uint v = (uint)x & 0xfff, steps = 0;
	for (;;) {
		if (v <= 1)
			break;
		v = (v & 1) ? 3 * v + 1 : v / 2;
		if (++steps > 300)
			break;
	}
	out[3 * i + 1] = (int)steps;

	/* nested: an inner loop skipped by some lanes, cut short by others */
	int acc = 0;
	for (int j = 0; j < (x & 15); j++) {
		if ((x >> j) & 1)
			continue;
		for (int q = 0; q < j; q++) {
			acc += q ^ j;
			if (acc > (x & 0xff))
				break;
		}
	}
	out[3 * i + 2] = acc;
}
