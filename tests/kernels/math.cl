/* exp, log, sqrt, rsqrt and sin on floats.  With -nogpulib these are the
 * compiler's own expansions around v_exp_f32, v_log_f32, v_sqrt_f32,
 * v_rsq_f32 and v_sin_f32; the host reference is the C library.  The
 * tolerances in ULP are in tests/kernels/README.md. */
#include "tk.h"

__kernel void math_exp(__global const float *x, __global float *out, uint n)
{
	uint i = get_global_id(0);
	if (i < n)
		out[i] = __builtin_expf(x[i]);
}

__kernel void math_log(__global const float *x, __global float *out, uint n)
{
	uint i = get_global_id(0);
	if (i < n)
		out[i] = __builtin_logf(x[i]);
}

__kernel void math_sqrt(__global const float *x, __global float *out, uint n)
{
	uint i = get_global_id(0);
	if (i < n)
		out[i] = __builtin_sqrtf(x[i]);
}

__kernel void math_rsqrt(__global const float *x, __global float *out, uint n)
{
	uint i = get_global_id(0);
	if (i < n)
		out[i] = rsqrt(x[i]);
}

__kernel void math_sin(__global const float *x, __global float *out, uint n)
{
	uint i = get_global_id(0);
	if (i < n)
		out[i] = __builtin_sinf(x[i]);
}
