/* fp32 matrix multiply, C (m x n) = A (m x k) x B (k x n), row-major: a
 * plain one and one that stages 16x16 tiles in LDS.  Both add the products
 * in k order, so both give the same bits as the host. */
#include "tk.h"

#define TILE 16

__kernel void matmul_f32(__global const float *a, __global const float *b, __global float *c, uint m, uint n, uint k)
{
	uint row = get_global_id(1), col = get_global_id(0);
	if (row >= m || col >= n)
		return;
	float acc = 0.0f;
	for (uint p = 0; p < k; p++)
		acc += a[row * k + p] * b[p * n + col];
	c[row * n + col] = acc;
}

__kernel void matmul_tiled_f32(__global const float *a, __global const float *b, __global float *c, uint m, uint n,
			       uint k)
{
	__local float ta[TILE][TILE];
	__local float tb[TILE][TILE];
	uint lx = get_local_id(0), ly = get_local_id(1);
	uint row = get_group_id(1) * TILE + ly, col = get_group_id(0) * TILE + lx;
	float acc = 0.0f;
	for (uint p0 = 0; p0 < k; p0 += TILE) {
		ta[ly][lx] = row < m && p0 + lx < k ? a[row * k + p0 + lx] : 0.0f;
		tb[ly][lx] = col < n && p0 + ly < k ? b[(p0 + ly) * n + col] : 0.0f;
		barrier(CLK_LOCAL_MEM_FENCE);
		for (uint p = 0; p < TILE && p0 + p < k; p++)
			acc += ta[ly][p] * tb[p][lx];
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (row < m && col < n)
		c[row * n + col] = acc;
}
