/* Reductions in LDS: a tree over the work-group, a barrier between levels.
 * The tree fixes the order of the float additions, so the host reference
 * (the same source) gives the same bits. */
#include "tk.h"

#define GROUP 256

__kernel void reduce_u32(__global const uint *in, __global uint *sums, __global uint *maxes, uint n)
{
	__local uint sum[GROUP];
	__local uint max[GROUP];
	uint l = get_local_id(0), i = get_global_id(0), size = get_local_size(0);
	sum[l] = i < n ? in[i] : 0;
	max[l] = sum[l];
	barrier(CLK_LOCAL_MEM_FENCE);
	for (uint s = GROUP / 2; s > 0; s >>= 1) {
		if (l < s && l + s < size) {
			sum[l] += sum[l + s];
			max[l] = max[l] > max[l + s] ? max[l] : max[l + s];
		}
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (l == 0) {
		sums[get_group_id(0)] = sum[0];
		maxes[get_group_id(0)] = max[0];
	}
}

__kernel void reduce_f32(__global const float *in, __global float *sums, uint n)
{
	__local float part[GROUP];
	uint l = get_local_id(0), i = get_global_id(0), size = get_local_size(0);
	part[l] = i < n ? in[i] : 0.0f;
	barrier(CLK_LOCAL_MEM_FENCE);
	for (uint s = GROUP / 2; s > 0; s >>= 1) {
		if (l < s && l + s < size)
			part[l] += part[l + s];
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (l == 0)
		sums[get_group_id(0)] = part[0];
}
