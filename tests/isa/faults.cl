/* Kernels that fault on purpose, for tests/isa/faults.sh: the emulator must
 * stop them with the error the hardware would raise, never crash or hang. */

/* Reads far past the end of its buffer: a GPU page fault. */
__kernel void oob_read(__global uint *out, uint stride)
{
	uint i = __builtin_amdgcn_workitem_id_x();
	out[i] = out[i * stride + 4096];
}

/* Writes far past the end of its buffer. */
__kernel void oob_write(__global uint *out, uint stride)
{
	uint i = __builtin_amdgcn_workitem_id_x();
	out[i * stride + 4096] = i;
}

/* A word that is no gfx1100 instruction. */
__kernel void illegal(__global uint *out)
{
	__asm__ volatile(".long 0xffffffff");
	out[0] = 1;
}

/* A real instruction the emulator does not execute (buffer loads need
 * buffer descriptors; OpenCL kernels use global loads). */
__kernel void unsupported(__global uint *out)
{
	__asm__ volatile("buffer_load_b32 v1, off, s[0:3], 0" ::: "v1");
	out[0] = 1;
}

/* Never ends. */
__kernel void spin(__global volatile uint *flag)
{
	while (flag[0] == 0)
		;
}

/* Traps, as __builtin_trap does. */
__kernel void trap(__global uint *out)
{
	if (out[0] == 0)
		__builtin_trap();
	out[0] = 2;
}
