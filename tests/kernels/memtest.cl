/* Memory-test patterns, as a GPU memory diagnostic writes and checks them:
 * each kernel writes its pattern, reads it back and counts the words that
 * differ (zero on good memory). */
#include "tk.h"

/* A per-word pseudo-random value (xorshift32 of a mix of seed and index). */
static uint mt_random(uint seed, uint i)
{
	uint x = seed ^ (i * 0x9e3779b9u) ^ 0x6d2b79f5u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x ? x : 1;
}

/* Walking ones: word i holds 1 << (i % 32), then its complement. */
__kernel void mt_walking_ones(__global uint *buf, __global uint *errors, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	uint want = 1u << (i % 32);
	buf[i] = want;
	uint bad = buf[i] != want;
	buf[i] = ~want;
	bad += buf[i] != ~want;
	if (bad)
		__atomic_fetch_add(errors, bad, __ATOMIC_RELAXED);
}

/* Address in address: each 64-bit word holds its own address.  The
 * addresses differ between GPU and host; their offsets from the buffer do
 * not, so those are what the kernel reports. */
__kernel void mt_address(__global ulong *buf, __global ulong *offsets, __global uint *errors, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	buf[i] = (ulong)&buf[i];
	ulong got = buf[i];
	offsets[i] = got - (ulong)buf;
	if (got != (ulong)&buf[i])
		__atomic_fetch_add(errors, 1u, __ATOMIC_RELAXED);
}

/* Seeded random words: written, then read back and checked. */
__kernel void mt_random_fill(__global uint *buf, __global uint *errors, uint n, uint seed)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	uint want = mt_random(seed, i);
	buf[i] = want;
	if (buf[i] != want)
		__atomic_fetch_add(errors, 1u, __ATOMIC_RELAXED);
}
