/* A kernel whose code object claims 2^27 + 64 bytes of scratch per
 * work-item (tests/hal/module.mk rewrites the compiled assembly's value;
 * clang itself refuses frames over the hardware's limit).  Times 32 lanes
 * that is 2^32 + 2048 bytes a wave, 2048 in 32-bit arithmetic: the loader
 * must refuse it. */
__kernel void huge_scratch(__global const uint *in, __global uint *out)
{
	volatile uint buf[64];
	buf[in[0] & 63] = in[1];
	out[__builtin_amdgcn_workitem_id_x()] = buf[in[2] & 63];
}
