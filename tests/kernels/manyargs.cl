/* A kernel with 20 arguments: more than the 16 user SGPRs could hold, all
 * read from the kernarg segment at their own offsets and alignments. */
#include "tk.h"

__kernel void many_args(__global const uint *in, __global ulong *out, uint a0, ulong a1, float a2, int a3, uint a4,
			half a5, ulong a6, uint a7, int a8, float a9, uint a10, ulong a11, uint a12, int a13, uint a14,
			uint a15, half a16, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	uint x = in[i];
	out[4 * i + 0] = (ulong)(x + a0) + a1 + (ulong)(int)((uint)a3 - a4) + a6;
	out[4 * i + 1] = (ulong)((x ^ a7) + (uint)a8 + a10) * a11;
	out[4 * i + 2] = (ulong)(a12 + (uint)a13 + a14 + a15) ^ ((ulong)x << 32);
	float f = a2 * (float)x + a9;
	float g = (float)a5 * (float)a16;
	uint fb, gb;
	__builtin_memcpy(&fb, &f, 4);
	__builtin_memcpy(&gb, &g, 4);
	out[4 * i + 3] = ((ulong)fb << 32) | gb;
}
