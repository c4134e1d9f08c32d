/* Private memory: a per-work-item array indexed by data.  volatile keeps it
 * in scratch (the compiler would otherwise promote it to registers). */
#include "tk.h"

#define SLOTS 40

__kernel void scratch_counts(__global const uint *in, __global uint *out, uint n, uint per_item)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	volatile uint slot[SLOTS];
	for (uint s = 0; s < SLOTS; s++)
		slot[s] = s;
	for (uint j = 0; j < per_item; j++) {
		uint v = in[i * per_item + j];
		slot[v % SLOTS] += v >> 8;
		slot[(v >> 3) % SLOTS] ^= slot[v % SLOTS];
	}
	uint h = 0;
	for (uint s = 0; s < SLOTS; s++)
		h = h * 31u + slot[s];
	out[2 * i] = h;
	out[2 * i + 1] = slot[in[i * per_item] % SLOTS];
}
