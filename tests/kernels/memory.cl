/* Addressing: 64-bit pointer arithmetic, and loads and stores of 1, 2, 4, 8
 * and 16 bytes (sign- and zero-extending, several lanes in one dword). */
#include "tk.h"

/* The pointer moves by far / back (passed separately so that the compiler
 * cannot cancel them) through offsets above 4 GiB before it is used: the
 * high halves of the 64-bit additions must carry right. */
__kernel void ptr64(__global const ulong *base, __global ulong *out, ulong far, ulong back, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	__global const uchar *p = (__global const uchar *)base + far * (i + 1);
	p = p - back * (i + 1) + (ulong)(n - 1 - i) * 8;
	__global const ulong *q = (__global const ulong *)p;
	out[3 * i + 0] = *q;
	out[3 * i + 1] = (ulong)(q - base);
	out[3 * i + 2] = (ulong)((__global const uchar *)q - (__global const uchar *)base) + (q > base);
}

__kernel void widths(__global const uchar *in8, __global const ushort *in16, __global const uint *in32,
		     __global const ulong *in64, __global const uint4 *in128, __global uchar *o8, __global ushort *o16,
		     __global uint *o32, __global ulong *o64, __global uint4 *o128, __global int *sext, uint n)
{
	uint i = get_global_id(0);
	if (i >= n)
		return;
	o8[i] = (uchar)(in8[i] ^ 0x5a);
	o16[i] = (ushort)(in16[i] + 0x1234);
	o32[i] = in32[i] * 7u;
	o64[i] = in64[i] + ((ulong)i << 40);
	uint4 v = in128[i];
	v[0] += 1;
	v[1] ^= i;
	v[3] = v[2] - 3;
	o128[i] = v;
	sext[2 * i] = (int)(char)in8[i];
	sext[2 * i + 1] = (int)(short)in16[i];
}

/* LDS reads and writes of 1, 2 and 8 bytes, across the work-group (lanes
 * read what other lanes wrote, so a barrier is between). */
__kernel void lds_widths(__global const ulong *in, __global ulong *out, __global uchar *bytes, uint n)
{
	__local ulong wide[64];
	__local ushort mid[64];
	__local uchar narrow[64];
	uint l = get_local_id(0), i = get_global_id(0), size = get_local_size(0);
	ulong v = i < n ? in[i] : 0;
	wide[l] = v;
	mid[l] = (ushort)(v >> 16);
	narrow[l] = (uchar)v;
	barrier(CLK_LOCAL_MEM_FENCE);
	uint j = size - 1 - l;
	if (i < n) {
		out[i] = wide[j] ^ ((ulong)mid[(l + 1) % size] << 48);
		bytes[i] = (uchar)(narrow[j] + narrow[(l + 3) % size]);
	}
}
