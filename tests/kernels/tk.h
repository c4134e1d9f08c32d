/* tests/kernels: what the test kernels need besides the language, on both
 * sides.  Every .cl file here is compiled twice from the same source: by
 * clang-19 for gfx1100 (the code object the emulator runs) and by the host
 * C compiler as the reference implementation (tests/kernels/host.c runs its
 * work-groups).  Floating-point contraction is off on both sides, so both
 * round after every operation.
 *
 * GPU side: with -nogpulib there is no OpenCL library, so the work-item
 * functions are macros over the amdgcn builtins and the dispatch packet.
 * Host side: plain C with the same names. */
#ifndef TK_H
#define TK_H

#ifdef __OPENCL_C_VERSION__

#pragma OPENCL EXTENSION cl_khr_fp16 : enable

/* The HSA kernel dispatch packet the dispatch pointer points at: workgroup
 * sizes are u16 at bytes 4, 6, 8; grid sizes u32 at bytes 12, 16, 20.  The
 * size functions read it, as the OpenCL library does for code object v4. */
static inline uint tk_packet_u32(uint off)
{
	const __constant uchar *p = (const __constant uchar *)__builtin_amdgcn_dispatch_ptr();
	return *(const __constant uint *)(p + off);
}
static inline uint tk_enqueued_size(uint d)
{
	uint w = tk_packet_u32(4 + (d & ~1u) * 2);	/* two u16 per dword */
	return d == 1 ? w >> 16 : w & 0xffff;
}
static inline uint tk_grid_size(uint d) { return tk_packet_u32(12 + 4 * d); }
static inline uint tk_group_id(uint d)
{
	return d == 0 ? __builtin_amdgcn_workgroup_id_x() : d == 1 ? __builtin_amdgcn_workgroup_id_y()
								     : __builtin_amdgcn_workgroup_id_z();
}
static inline uint tk_local_id(uint d)
{
	return d == 0 ? __builtin_amdgcn_workitem_id_x() : d == 1 ? __builtin_amdgcn_workitem_id_y()
								     : __builtin_amdgcn_workitem_id_z();
}
/* The last group of a dimension may be partial (OpenCL 2.0 non-uniform groups). */
static inline uint tk_local_size(uint d)
{
	uint w = tk_enqueued_size(d), g = tk_grid_size(d), start = tk_group_id(d) * w;
	return g - start < w ? g - start : w;
}
static inline void tk_barrier(void)
{
	__builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
	__builtin_amdgcn_s_barrier();
	__builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}

/* Macros, because the default OpenCL header already declares these names as
 * (library) functions that -nogpulib leaves undefined. */
#define get_group_id(d) tk_group_id(d)
#define get_local_id(d) tk_local_id(d)
#define get_local_size(d) tk_local_size(d)
#define get_enqueued_local_size(d) tk_enqueued_size(d)
#define get_global_size(d) tk_grid_size(d)
#define get_num_groups(d) ((tk_grid_size(d) + tk_enqueued_size(d) - 1) / tk_enqueued_size(d))
#define get_global_id(d) (tk_group_id(d) * tk_enqueued_size(d) + tk_local_id(d))
#define barrier(flags) tk_barrier()
#define rsqrt(x) __builtin_amdgcn_rsqf(x)
#define tk_atomic_max(p, v) __atomic_fetch_max(p, v, __ATOMIC_RELAXED)
#define tk_atomic_min(p, v) __atomic_fetch_min(p, v, __ATOMIC_RELAXED)

#else /* the host reference */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;	/* 64 bits on the LP64 hosts we build on */
typedef _Float16 half;
typedef uint uint2 __attribute__((vector_size(8)));
typedef uint uint4 __attribute__((vector_size(16)));

#define __kernel
#define __global
#define __constant const
#define __private
/* One work-group runs at a time on the host, so a __local variable is one
 * static variable that its work-items share. */
#define __local static
#define CLK_LOCAL_MEM_FENCE 1
#define CLK_GLOBAL_MEM_FENCE 2

/* The running work-item (tests/kernels/host.c). */
struct tk_item {
	uint group[3], local[3], local_size[3], enqueued[3], grid[3];
};
extern struct tk_item tk_cur;
void tk_host_barrier(void);

#define get_group_id(d) tk_cur.group[d]
#define get_local_id(d) tk_cur.local[d]
#define get_local_size(d) tk_cur.local_size[d]
#define get_enqueued_local_size(d) tk_cur.enqueued[d]
#define get_global_size(d) tk_cur.grid[d]
#define get_num_groups(d) ((tk_cur.grid[d] + tk_cur.enqueued[d] - 1) / tk_cur.enqueued[d])
#define get_global_id(d) (tk_cur.group[d] * tk_cur.enqueued[d] + tk_cur.local[d])
#define barrier(flags) tk_host_barrier()
/* The reference for v_rsq_f32: the correctly rounded reciprocal square root. */
#define rsqrt(x) ((float)(1.0 / __builtin_sqrt((double)(x))))
/* gcc has no __atomic_fetch_max/min: compare-and-swap loops. */
#define tk_atomic_cas_op(p, v, better)                                                                        \
	__extension__({                                                                                       \
		__typeof__(p) p_ = (p);                                                                       \
		__typeof__(*p_) v_ = (v), o_ = __atomic_load_n(p_, __ATOMIC_RELAXED);                        \
		while ((better) && !__atomic_compare_exchange_n(p_, &o_, v_, false, __ATOMIC_RELAXED,       \
								 __ATOMIC_RELAXED))                          \
			;                                                                                     \
		o_;                                                                                           \
	})
#define tk_atomic_max(p, v) tk_atomic_cas_op(p, v, v_ > o_)
#define tk_atomic_min(p, v) tk_atomic_cas_op(p, v, v_ < o_)

#endif

#endif
