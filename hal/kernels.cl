// The kernels libtbhal installs (build/share/tb/tbhal_kernels.co) for its
// shipped commands and examples: `tb bench dispatch` and
// hal/python/example.py.  Built without an OpenCL library (-nogpulib).

// c = a + b over n floats.  The block size comes from the dispatch packet
// (hsa_kernel_dispatch_packet_t: workgroup_size_x, a u16 at byte 4).
__kernel void add(__global const float *a, __global const float *b, __global float *c, uint n)
{
	size_t block = ((__constant ushort *)__builtin_amdgcn_dispatch_ptr())[2];
	size_t i = (size_t)__builtin_amdgcn_workgroup_id_x() * block + __builtin_amdgcn_workitem_id_x();
	if (i < n)
		c[i] = a[i] + b[i];
}
