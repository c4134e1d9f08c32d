/* Integer division and modulo, signed and unsigned, 32 and 64 bits: the GPU
 * has no divide instruction, so these exercise the compiler's expansions
 * (reciprocal estimates, 64-bit carries).  Division by zero and INT_MIN / -1
 * are undefined in C; the kernels give 0 for them. */
#include "tk.h"

__kernel void div_i32(__global const int *a, __global const int *b, __global int *out, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	int x = a[i], y = b[i];
	bool undefined = y == 0 || (x == (-2147483647 - 1) && y == -1);
	out[4 * i + 0] = undefined ? 0 : x / y;
	out[4 * i + 1] = undefined ? 0 : x % y;
	out[4 * i + 2] = y == 0 ? 0 : (int)((uint)x / (uint)y);
	out[4 * i + 3] = y == 0 ? 0 : (int)((uint)x % (uint)y);
}

__kernel void div_i64(__global const long *a, __global const long *b, __global long *out, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	long x = a[i], y = b[i];
	bool undefined = y == 0 || (x == (-9223372036854775807L - 1) && y == -1);
	out[4 * i + 0] = undefined ? 0 : x / y;
	out[4 * i + 1] = undefined ? 0 : x % y;
	out[4 * i + 2] = y == 0 ? 0 : (long)((ulong)x / (ulong)y);
	out[4 * i + 3] = y == 0 ? 0 : (long)((ulong)x % (ulong)y);
}
