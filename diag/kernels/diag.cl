/* tb diag's GPU kernels: OpenCL C for gfx1100, built with the tool and
 * installed with it.  With -nogpulib there is no OpenCL library, so the
 * work-item index comes from the amdgcn builtins and the dispatch packet
 * (the HSA kernel dispatch packet: workgroup_size_x is the u16 at byte 4).
 * Every kernel is one-dimensional. */

#pragma OPENCL EXTENSION cl_khr_fp16 : enable

static inline uint diag_global_id(void)
{
	const __constant ushort *packet = (const __constant ushort *)__builtin_amdgcn_dispatch_ptr();
	return __builtin_amdgcn_workgroup_id_x() * packet[2] + __builtin_amdgcn_workitem_id_x();
}

/* The keyed pattern word of a byte offset (diag.h's diag_key32, the same
 * arithmetic on the host): misplaced data reads as wrong, not only flipped
 * bits. */
static inline uint diag_key32(ulong addr, ulong seed)
{
	ulong x = addr * 0x9e3779b97f4a7c15ul ^ seed;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ul;
	x ^= x >> 29;
	return (uint)x;
}

/* The error block (worker.c's ERR_*, the same layout): the count of wrong words, the OR
 * of their bad bits, the lowest and the highest bad index (starting at
 * 0xffffffff and 0), a count per bit position, the count of wrong words
 * that hold what another address's word should (an address fault) and the
 * OR of the address bits that tell the two apart. */
#define ERR_COUNT 0
#define ERR_BITS 1
#define ERR_FIRST 2
#define ERR_HIST 3
#define ERR_LAST 35
#define ERR_ADDR_FAULTS 36
#define ERR_ADDR_BITS 37
/* the word-address bits an address fault is looked for on (64 GiB) */
#define ADDRESS_BITS 34
/* address faults are looked for in the first this many wrong words of a
 * dispatch only (worker.c's the same): a buffer wrong throughout is
 * reported as fast as a sound one is checked */
#define ADDRESS_FAULT_SAMPLES 1024u

/* the count of wrong words before this one */
static inline uint count_error(__global uint *errors, uint i, uint bad)
{
	uint before = __atomic_fetch_add(&errors[ERR_COUNT], 1u, __ATOMIC_RELAXED);
	__atomic_fetch_or(&errors[ERR_BITS], bad, __ATOMIC_RELAXED);
	__atomic_fetch_min(&errors[ERR_FIRST], i, __ATOMIC_RELAXED);
	__atomic_fetch_max(&errors[ERR_LAST], i, __ATOMIC_RELAXED);
	for (uint b = 0; b < 32; b++)
		if (bad & (1u << b))
			__atomic_fetch_add(&errors[ERR_HIST + b], 1u, __ATOMIC_RELAXED);
	return before;
}

/* A wrong keyed word (got, with the pattern's mask taken off) that is the
 * key of an address one address bit away from its own: the word was
 * written or read at the wrong place.  Only for wrong words, so its cost
 * does not matter. */
static inline void count_address_fault(__global uint *errors, ulong byte_addr, ulong seed, uint got)
{
	ulong word = byte_addr / 4;
	for (uint b = 0; b < ADDRESS_BITS; b++)
		if (got == diag_key32(4ul * (word ^ (1ul << b)), seed)) {
			__atomic_fetch_add(&errors[ERR_ADDR_FAULTS], 1u, __ATOMIC_RELAXED);
			__atomic_fetch_or(&errors[ERR_ADDR_BITS], 1u << (b < 32 ? b : 31), __ATOMIC_RELAXED);
			return;
		}
}

/* C (n x n) = A x B, row-major, one output a work-item, the products added
 * in k order.  The inputs are small integers, so every sum is exact in
 * fp32 and the host's reference has the same bits. */
__kernel void gemm_f32(__global const float *a, __global const float *b, __global float *c, uint n)
{
	uint i = diag_global_id();
	if (i >= n * n)
		return;
	uint row = i / n, col = i % n;
	float acc = 0.0f;
	for (uint p = 0; p < n; p++)
		acc += a[row * n + p] * b[p * n + col];
	c[i] = acc;
}

/* words[i] = the key of byte offset base + 4 i, XOR mask (all ones: the
 * pattern's inversion, every bit written the other way) */
__kernel void pattern_fill(__global uint *words, uint count, ulong base, ulong seed, uint mask)
{
	uint i = diag_global_id();
	if (i < count)
		words[i] = diag_key32(base + 4ul * i, seed) ^ mask;
}

/* The words that differ from their key XOR mask, into the error block
 * (count_error).  Work-item i reads word
 * (i + rotate) % count: the order of the reads is not the order of the
 * writes. */
__kernel void pattern_check(__global const uint *words, uint count, ulong base, ulong seed, uint mask, uint rotate,
			    __global uint *errors)
{
	uint g = diag_global_id();
	if (g >= count)
		return;
	uint i = (uint)(((ulong)g + rotate) % count);
	uint got = words[i] ^ mask, bad = got ^ diag_key32(base + 4ul * i, seed);
	if (bad) {
		if (count_error(errors, i, bad) < ADDRESS_FAULT_SAMPLES)
			count_address_fault(errors, base + 4ul * i, seed, got);
	}
}

/* march_element's flags */
#define MARCH_READ 1u		/* check the word first */
#define MARCH_WRITE 2u		/* then write it */
#define MARCH_DOWN 4u		/* from the top address down */
#define MARCH_KEYED 8u		/* the background is the word's key, else all zeros */

/* One element of a march test (March C-, moving inversions): each
 * work-item takes one word, checks it against its background XOR expect
 * and then writes its background XOR write.  Going down, work-item g takes
 * word count - 1 - g, so the waves sweep the buffer from its top.  Errors
 * as pattern_check counts them. */
__kernel void march_element(__global uint *words, uint count, ulong base, ulong seed, uint flags, uint expect,
			    uint write, __global uint *errors)
{
	uint g = diag_global_id();
	if (g >= count)
		return;
	uint i = (flags & MARCH_DOWN) ? count - 1u - g : g;
	uint background = (flags & MARCH_KEYED) ? diag_key32(base + 4ul * i, seed) : 0u;
	if (flags & MARCH_READ) {
		uint got = words[i] ^ expect, bad = got ^ background;
		if (bad) {
			if (count_error(errors, i, bad) < ADDRESS_FAULT_SAMPLES && (flags & MARCH_KEYED))
				count_address_fault(errors, base + 4ul * i, seed, got);
		}
	}
	if (flags & MARCH_WRITE)
		words[i] = background ^ write;
}

/* C (n x n, fp32) = A x B (fp16), row-major, n a multiple of 16, on the
 * matrix cores: one wave32 work-group per 16x16 tile of C (tile t of the
 * n/16 x n/16, row-major), v_wmma_f32_16x16x16_f16 once per 16 of k.  The
 * RDNA3 wave32 layout: lane l holds row l%16 of the A tile and column l%16
 * of the B tile (16 halves each; lanes 16-31 repeat 0-15); element v of
 * its 8 results is C[2v + l/16][l%16].  The inputs are small integers, so
 * every product and sum is exact in the fp32 accumulator. */
__kernel __attribute__((reqd_work_group_size(32, 1, 1))) void gemm_wmma_f16(__global const half *a, __global const half *b,
									   __global float *c, uint n)
{
	uint lane = __builtin_amdgcn_workitem_id_x(), r = lane % 16, tiles = n / 16;
	uint t = __builtin_amdgcn_workgroup_id_x();
	uint row0 = t / tiles * 16, col0 = t % tiles * 16;
	float8 acc = 0.0f;
	for (uint p0 = 0; p0 < n; p0 += 16) {
		half16 av, bv;
		for (uint e = 0; e < 16; e++) {
			av[e] = a[(row0 + r) * n + p0 + e];
			bv[e] = b[(p0 + e) * n + col0 + r];
		}
		acc = __builtin_amdgcn_wmma_f32_16x16x16_f16_w32(av, bv, acc);
	}
	for (uint v = 0; v < 8; v++)
		c[(row0 + 2 * v + lane / 16) * n + col0 + r] = acc[v];
}
