// Kernels the simulated-box test runs through the driver's queues.  Built
// without an OpenCL library (-nogpulib): work-item functions come from the
// hardware's registers and the dispatch packet, as the ROCm device library's do.

static uint wg_id(uint d)
{
	return d == 0 ? __builtin_amdgcn_workgroup_id_x() : d == 1 ? __builtin_amdgcn_workgroup_id_y() : __builtin_amdgcn_workgroup_id_z();
}

static uint wi_id(uint d)
{
	return d == 0 ? __builtin_amdgcn_workitem_id_x() : d == 1 ? __builtin_amdgcn_workitem_id_y() : __builtin_amdgcn_workitem_id_z();
}

// hsa_kernel_dispatch_packet_t: workgroup_size_x/y/z (u16) at byte 4, grid_size_x/y/z (u32) at byte 12
static size_t get_local_size(uint d)
{
	__constant ushort *p = (__constant ushort *)__builtin_amdgcn_dispatch_ptr();
	return p[2 + d];
}

static size_t get_global_size(uint d)
{
	__constant uint *p = (__constant uint *)__builtin_amdgcn_dispatch_ptr();
	return p[3 + d];
}

static size_t get_group_id(uint d) { return wg_id(d); }
static size_t get_num_groups(uint d) { return (get_global_size(d) + get_local_size(d) - 1) / get_local_size(d); }
static size_t get_global_id(uint d) { return (size_t)wg_id(d) * get_local_size(d) + wi_id(d); }

__kernel void add(__global const float *a, __global const float *b, __global float *c, uint n)
{
	size_t i = get_global_id(0);
	if (i < n)
		c[i] = a[i] + b[i];
}

// Reads the workgroup and grid sizes the runtime passes (hidden arguments
// and the dispatch packet) and the workgroup id.
__kernel void sizes(__global uint *out)
{
	size_t i = get_global_id(0) + get_global_id(1) * get_global_size(0);
	out[4 * i + 0] = (uint)get_local_size(0);
	out[4 * i + 1] = (uint)get_global_size(0);
	out[4 * i + 2] = (uint)get_group_id(1);
	out[4 * i + 3] = (uint)get_num_groups(1);
}

// Private memory indexed at run time lives in scratch.
__kernel void scratch(__global const uint *idx, __global uint *out)
{
	volatile uint priv[64];
	size_t i = get_global_id(0);
	for (uint k = 0; k < 64; k++)
		priv[k] = (uint)i * 64 + k;
	out[i] = priv[idx[i] & 63];
}

// Writes far outside any buffer: a GPU page fault.
__kernel void wild_write(__global uint *p, ulong offset)
{
	p[offset + get_global_id(0)] = 1;
}
