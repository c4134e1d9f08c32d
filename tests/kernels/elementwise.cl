/* Elementwise float, int and half operations, one operation per result so
 * that both sides round the same way. */
#include "tk.h"

__kernel void ew_f32(__global const float *a, __global const float *b, __global float *out, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	float x = a[i], y = b[i];
	out[8 * i + 0] = x + y;
	out[8 * i + 1] = x - y;
	out[8 * i + 2] = x * y;
	out[8 * i + 3] = x * 3.5f;
	out[8 * i + 4] = x < y ? x : y;
	out[8 * i + 5] = (float)(int)(x * 100.0f);
	out[8 * i + 6] = (float)(uint)(y * y * 1000.0f);
	out[8 * i + 7] = __builtin_fabsf(x) + __builtin_floorf(y * 10.0f);
}

/* Signed overflow is undefined in C: wrap through unsigned, as the GPU does. */
__kernel void ew_i32(__global const int *a, __global const int *b, __global int *out, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	int x = a[i], y = b[i];
	out[10 * i + 0] = (int)((uint)x + (uint)y);
	out[10 * i + 1] = (int)((uint)x - (uint)y);
	out[10 * i + 2] = (int)((uint)x * (uint)y);
	out[10 * i + 3] = (int)(((long)x * (long)y) >> 32);
	out[10 * i + 4] = x >> (y & 31);
	out[10 * i + 5] = (int)((uint)x >> (y & 31));
	out[10 * i + 6] = (int)((uint)x << (y & 31));
	out[10 * i + 7] = x < y ? y : x;
	out[10 * i + 8] = (x ^ y) | (x & 0xff);
	out[10 * i + 9] = __builtin_popcount((uint)x) + __builtin_clz((uint)y | 1u);
}

__kernel void ew_f16(__global const half *a, __global const half *b, __global half *out, __global float *wide,
		     uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	half x = a[i], y = b[i];
	out[4 * i + 0] = x + y;
	out[4 * i + 1] = x - y;
	out[4 * i + 2] = x * y;
	out[4 * i + 3] = (half)((float)x * 0.3f);
	wide[i] = (float)x * (float)y;
}

/* Division and fused multiply-add.  OpenCL allows 2.5 ULP for float
 * division, and clang expands it around v_rcp_f32 (half division around
 * v_rcp_f32, v_fma_mix and v_div_fixup_f16): compared within a tolerance.
 * fma is exact. */
__kernel void ew_div(__global const float *a, __global const float *b, __global const half *ha,
		     __global const half *hb, __global float *q, __global half *hq, __global float *fma, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	q[i] = a[i] / b[i];
	hq[i] = ha[i] / hb[i];
	fma[i] = __builtin_fmaf(a[i], b[i], a[i] * 0.25f);
}

/* Doubles, 64-bit integers and conversions between widths and kinds. */
__kernel void ew_wide(__global const double *a, __global const double *b, __global const ulong *u,
		      __global const float *f, __global double *dout, __global ulong *uout, __global float *fout,
		      uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	double x = a[i], y = b[i];
	ulong v = u[i];
	dout[4 * i + 0] = x + y;
	dout[4 * i + 1] = x * y;
	dout[4 * i + 2] = (double)f[i] - x;
	dout[4 * i + 3] = (double)(long)v + __builtin_floor(y);
	uout[4 * i + 0] = v * (v >> 7);
	uout[4 * i + 1] = (v << (v & 63)) ^ (v >> ((v >> 8) & 63));
	uout[4 * i + 2] = (ulong)((long)v >> (v & 63));
	uout[4 * i + 3] = (ulong)(long)(x * 1000.0) + (ulong)(long)(f[i] * 100.0f);
	fout[3 * i + 0] = (float)x;
	fout[3 * i + 1] = (float)v;
	fout[3 * i + 2] = (float)(half)f[i];
}
