/* Global and LDS atomics.  Only order-independent results are compared:
 * sums, counts, minima, maxima and bit operations. */
#include "tk.h"

__kernel void histogram(__global const uint *in, __global uint *bins, uint n, uint nbins)
{
	uint i = get_global_id(0);
	if (i < n)
		__atomic_fetch_add(&bins[in[i] % nbins], 1u, __ATOMIC_RELAXED);
}

__kernel void atomic_ops(__global const uint *in, __global uint *acc, __global ulong *acc64, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	uint v = in[i];
	__atomic_fetch_add(&acc[0], v, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&acc[1], v & 0xffff, __ATOMIC_RELAXED);
	tk_atomic_max(&acc[2], v);
	tk_atomic_min(&acc[3], v);
	__atomic_fetch_or(&acc[4], 1u << (v % 32), __ATOMIC_RELAXED);
	__atomic_fetch_xor(&acc[5], v, __ATOMIC_RELAXED);
	__atomic_fetch_and(&acc[6], v | 0x80000000u, __ATOMIC_RELAXED);
	tk_atomic_max((__global int *)&acc[7], (int)v);
	__atomic_fetch_add(&acc64[0], (ulong)v << 8, __ATOMIC_RELAXED);
	/* an increment made of compare-and-swap retries */
	uint old = __atomic_load_n(&acc[8], __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&acc[8], &old, old + 1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Counts in LDS first, then one global atomic per bin and group. */
__kernel void histogram_lds(__global const uint *in, __global uint *bins, uint n)
{
	__local uint local_bins[64];
	uint l = get_local_id(0), i = get_global_id(0);
	if (l < 64)
		local_bins[l] = 0;
	barrier(CLK_LOCAL_MEM_FENCE);
	if (i < n)
		__atomic_fetch_add(&local_bins[in[i] % 64], 1u, __ATOMIC_RELAXED);
	barrier(CLK_LOCAL_MEM_FENCE);
	if (l < 64 && local_bins[l])
		__atomic_fetch_add(&bins[l], local_bins[l], __ATOMIC_RELAXED);
}
