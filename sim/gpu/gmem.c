/* GPU virtual memory as the command engines see it: the same translation
 * the shader engines use (the queue's isa_memory), one mapping at a time. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/gpu/gpu_internal.h"

/* The mapping holding va, and how many of its bytes from va on are usable. */
static int span(const struct engine_env *env, uint64_t va, bool write, uint8_t **host, uint64_t *avail)
{
	struct isa_mapping m;
	if (env->mem.lookup(env->mem.ctx, va, &m) < 0 || va < m.va || va - m.va >= m.size)
		return -EFAULT;
	if (write && !m.writable)
		return -EFAULT;
	*host = m.host + (va - m.va);
	*avail = m.size - (va - m.va);
	return 0;
}

int gmem_read(const struct engine_env *env, uint64_t va, void *dst, size_t n, uint64_t *fault_va)
{
	uint8_t *out = dst;
	while (n) {
		uint8_t *h;
		uint64_t avail;
		if (span(env, va, false, &h, &avail) < 0) {
			*fault_va = va;
			return -EFAULT;
		}
		size_t k = avail < n ? (size_t)avail : n;
		memcpy(out, h, k);
		out += k;
		va += k;
		n -= k;
	}
	return 0;
}

int gmem_write(const struct engine_env *env, uint64_t va, const void *src, size_t n, uint64_t *fault_va)
{
	const uint8_t *in = src;
	while (n) {
		uint8_t *h;
		uint64_t avail;
		if (span(env, va, true, &h, &avail) < 0) {
			*fault_va = va;
			return -EFAULT;
		}
		size_t k = avail < n ? (size_t)avail : n;
		memcpy(h, in, k);
		in += k;
		va += k;
		n -= k;
	}
	return 0;
}

/* Through a bounce buffer, so that mapping boundaries on either side do not
 * matter; going backward when dst overlaps src from above keeps memmove's
 * meaning. */
int gmem_copy(const struct engine_env *env, uint64_t dst, uint64_t src, uint64_t n, uint64_t *fault_va, int *fault_write)
{
	enum { CHUNK = 1 << 20 };
	/* the common case: each side within one mapping, one memmove */
	uint8_t *s, *d;
	uint64_t savail, davail;
	if (span(env, src, false, &s, &savail) == 0 && savail >= n && span(env, dst, true, &d, &davail) == 0 &&
	    davail >= n) {
		memmove(d, s, n);
		return 0;
	}
	uint8_t *buf = malloc(n < CHUNK ? (size_t)n + 1 : CHUNK);
	if (!buf)
		return -ENOMEM;
	bool backward = dst > src && dst < src + n;
	int rc = 0;
	for (uint64_t done = 0; done < n && rc == 0;) {
		uint64_t chunk = n - done < CHUNK ? n - done : CHUNK;
		uint64_t off = backward ? n - done - chunk : done;
		*fault_write = 0;
		rc = gmem_read(env, src + off, buf, (size_t)chunk, fault_va);
		if (rc == 0) {
			*fault_write = 1;
			rc = gmem_write(env, dst + off, buf, (size_t)chunk, fault_va);
		}
		done += chunk;
	}
	free(buf);
	return rc;
}

int gmem_fill(const struct engine_env *env, uint64_t dst, uint32_t value, unsigned unit, uint64_t n, uint64_t *fault_va)
{
	uint8_t pattern[4];
	memcpy(pattern, &value, 4);
	uint64_t off = 0;
	while (off < n) {
		uint8_t *d;
		uint64_t avail;
		if (span(env, dst + off, true, &d, &avail) < 0) {
			*fault_va = dst + off;
			return -EFAULT;
		}
		uint64_t k = avail < n - off ? avail : n - off;
		if (unit == 1)
			memset(d, pattern[0], k);
		else
			for (uint64_t i = 0; i < k; i++)
				d[i] = pattern[(off + i) % unit];
		off += k;
	}
	return 0;
}

int gmem_compare(unsigned function, uint64_t value, uint64_t reference)
{
	switch (function) {
	case 0: return 1;			/* always */
	case 1: return value < reference;
	case 2: return value <= reference;
	case 3: return value == reference;
	case 4: return value != reference;
	case 5: return value >= reference;
	case 6: return value > reference;
	default: return -EINVAL;		/* 7 is reserved */
	}
}

void engine_fail(const struct engine_env *env, enum isa_status kind, uint64_t addr, bool write, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (env->fault)
		env->fault(env->ctx, kind, addr, write, msg);
}
