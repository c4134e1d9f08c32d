/* Grid and work-group sizes as the kernel sees them: the size functions
 * read the dispatch packet through the dispatch pointer (tk.h), the ids come
 * from the initial registers.  Every work-item writes what it sees. */
#include "tk.h"

#define FIELDS 7

__kernel void dispatch_info(__global uint *out)
{
	uint gx = get_global_id(0), gy = get_global_id(1), gz = get_global_id(2);
	uint idx = (gz * get_global_size(1) + gy) * get_global_size(0) + gx;
	__global uint *o = out + (size_t)idx * FIELDS * 3;
	for (uint d = 0; d < 3; d++) {
		o[d * FIELDS + 0] = get_global_id(d);
		o[d * FIELDS + 1] = get_local_id(d);
		o[d * FIELDS + 2] = get_group_id(d);
		o[d * FIELDS + 3] = get_local_size(d);
		o[d * FIELDS + 4] = get_enqueued_local_size(d);
		o[d * FIELDS + 5] = get_global_size(d);
		o[d * FIELDS + 6] = get_num_groups(d);
	}
}
