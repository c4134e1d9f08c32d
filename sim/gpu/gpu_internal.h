/* sim/gpu internals: how the engines reach GPU virtual memory and report
 * what goes wrong.  Private to sim/gpu. */
#ifndef TB_SIM_GPU_INTERNAL_H
#define TB_SIM_GPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sim/gpu/engine.h"

/* Copy between host memory and GPU virtual memory, across mappings.  On a
 * bad address they return -EFAULT and set *fault_va to the first byte that
 * has no (writable) mapping. */
int gmem_read(const struct engine_env *env, uint64_t va, void *dst, size_t n, uint64_t *fault_va);
int gmem_write(const struct engine_env *env, uint64_t va, const void *src, size_t n, uint64_t *fault_va);
/* GPU-to-GPU copy (SDMA), overlapping ranges allowed as memmove allows. */
int gmem_copy(const struct engine_env *env, uint64_t dst, uint64_t src, uint64_t n, uint64_t *fault_va, int *fault_write);
int gmem_fill(const struct engine_env *env, uint64_t dst, uint32_t value, unsigned unit, uint64_t n, uint64_t *fault_va);

/* The comparison of WAIT_REG_MEM and POLL_REGMEM (function codes 0..6). */
int gmem_compare(unsigned function, uint64_t value, uint64_t reference);

/* Report a fatal queue error through env->fault, formatted. */
void engine_fail(const struct engine_env *env, enum isa_status kind, uint64_t addr, bool write, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static inline int engine_cancelled(const struct engine_env *env)
{
	return env->cancel && __atomic_load_n(env->cancel, __ATOMIC_RELAXED);
}

static inline int engine_preempted(const struct engine_env *env)
{
	return env->preempt && __atomic_load_n(env->preempt, __ATOMIC_SEQ_CST);
}

static inline void engine_between_packets(const struct engine_env *env)
{
	if (env->between_packets)
		env->between_packets(env->ctx);
}

#endif
