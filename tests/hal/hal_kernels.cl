// Kernels test_hal uses for the limits libtbhal checks (built without an
// OpenCL library: -nogpulib).

// Compiled for blocks of at most 64 work-items (max_flat_workgroup_size 64).
__kernel __attribute__((reqd_work_group_size(64, 1, 1))) void small_block(__global uint *out)
{
	out[__builtin_amdgcn_workitem_id_x()] = 1;
}

// A __local pointer argument: dynamic shared memory, sized at launch.
__kernel void dynamic_lds(__global uint *out, __local uint *tmp)
{
	uint i = __builtin_amdgcn_workitem_id_x();
	tmp[i] = i;
	out[i] = tmp[i];
}
