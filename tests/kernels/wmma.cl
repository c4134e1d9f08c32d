/* fp16 matrix multiply on the matrix cores: C (m x n, f32) = A (m x k, f16)
 * x B (k x n, f16), row-major, m, n and k multiples of 16.  One wave32
 * work-group per 16x16 tile of C; v_wmma_f32_16x16x16_f16 once per 16 of k.
 *
 * The wave32 layout (RDNA3 ISA, WMMA): lane l holds row l%16 of the A tile
 * and column l%16 of the B tile (16 halves each; lanes 16-31 repeat 0-15);
 * element v of its 8 results is C[2v + l/16][l%16].
 *
 * The host reference computes the same outputs per work-item in plain C:
 * products of halves are exact in float, and the matrix core adds them in k
 * order into a float accumulator. */
#include "tk.h"

#define WAVE 32

#ifdef __OPENCL_C_VERSION__

__kernel __attribute__((reqd_work_group_size(WAVE, 1, 1))) void
matmul_wmma_f16(__global const half *a, __global const half *b, __global float *c, uint m, uint n, uint k)
{
	uint lane = get_local_id(0), r = lane % 16;
	uint row0 = get_group_id(1) * 16, col0 = get_group_id(0) * 16;
	float8 acc = 0.0f;
	for (uint p0 = 0; p0 < k; p0 += 16) {
		half16 av, bv;
		for (uint e = 0; e < 16; e++) {
			av[e] = a[(row0 + r) * k + p0 + e];
			bv[e] = b[(p0 + e) * n + col0 + r];
		}
		acc = __builtin_amdgcn_wmma_f32_16x16x16_f16_w32(av, bv, acc);
	}
	for (uint v = 0; v < 8; v++)
		c[(row0 + 2 * v + lane / 16) * n + col0 + r] = acc[v];
	(void)m;
}

#else

__kernel void matmul_wmma_f16(__global const half *a, __global const half *b, __global float *c, uint m, uint n,
			      uint k)
{
	uint lane = get_local_id(0), r = lane % 16;
	uint row0 = get_group_id(1) * 16, col0 = get_group_id(0) * 16;
	for (uint v = 0; v < 8; v++) {
		uint row = row0 + 2 * v + lane / 16;
		float acc = 0.0f;
		for (uint p = 0; p < k; p++)
			acc += (float)a[row * k + p] * (float)b[p * n + col0 + r];
		c[row * n + col0 + r] = acc;
	}
	(void)m;
}

#endif
