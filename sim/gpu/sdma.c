/* A simulated gfx1100's SDMA engine (SDMA v6.0): packets from a user-mode
 * SDMA queue's ring, whose pointers count bytes.
 *
 * Packet layouts follow sdma_v6_0_0_pkt_open.h: linear copy, linear write,
 * constant fill, fence, trap, poll of memory, timestamps, cache requests
 * and indirect buffers.  Unknown opcodes stop the queue, as they halt the
 * engine on the hardware. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/gpu/gpu_internal.h"

enum {
	SDMA_NOP = 0,
	SDMA_COPY = 1,
	SDMA_WRITE = 2,
	SDMA_INDIRECT = 4,
	SDMA_FENCE = 5,
	SDMA_TRAP = 6,
	SDMA_SEM = 7,
	SDMA_POLL_REGMEM = 8,
	SDMA_COND_EXE = 9,
	SDMA_ATOMIC = 10,
	SDMA_CONST_FILL = 11,
	SDMA_TIMESTAMP = 13,
	SDMA_SRBM_WRITE = 14,
	SDMA_GCR_REQ = 17,
	SDMA_DUMMY_TRAP = 32,
};
enum { SUB_COPY_LINEAR = 0, SUB_TS_SET = 0, SUB_TS_GET = 1, SUB_TS_GET_GLOBAL = 2 };

enum { MAX_PACKET_DWORDS = 4 + 0x100000, COPY_CHUNK = 64 << 20 };

struct sdma_queue {
	uint64_t ring_va, rptr_va, wptr_va;
	uint32_t ring_bytes;
	uint64_t rptr;			/* bytes, monotonic */
	/* an indirect buffer in progress (SDMA allows one level) */
	uint64_t ib_va, ib_pos, ib_end;	/* bytes */
	bool in_ib;
	uint64_t local_timestamp_base;
	uint32_t *body;
	uint64_t packets, bytes_copied, busy_ns;
};

struct sdma_queue *sdma_queue_create(uint64_t ring_va, uint32_t ring_bytes, uint64_t rptr_va, uint64_t wptr_va)
{
	if (ring_bytes < 256 || (ring_bytes & (ring_bytes - 1))) {
		errno = EINVAL;
		return NULL;
	}
	struct sdma_queue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->body = malloc((size_t)MAX_PACKET_DWORDS * 4);
	if (!q->body) {
		free(q);
		return NULL;
	}
	q->ring_va = ring_va;
	q->ring_bytes = ring_bytes;
	q->rptr_va = rptr_va;
	q->wptr_va = wptr_va;
	return q;
}

void sdma_queue_destroy(struct sdma_queue *q)
{
	if (!q)
		return;
	free(q->body);
	free(q);
}

void sdma_stats(const struct sdma_queue *q, uint64_t *packets, uint64_t *bytes_copied, uint64_t *busy_ns)
{
	*packets = q->packets;
	*bytes_copied = q->bytes_copied;
	*busy_ns = q->busy_ns;
}

/* Read n dwords of the current stream at byte offset pos. */
static int fetch(struct sdma_queue *q, const struct engine_env *env, uint64_t pos, uint32_t *out, uint32_t n,
		 uint64_t *fault)
{
	if (q->in_ib)
		return gmem_read(env, q->ib_va + pos, out, (size_t)n * 4, fault);
	while (n) {
		uint32_t off = (uint32_t)(pos % q->ring_bytes);
		uint32_t k = (q->ring_bytes - off) / 4;
		if (k > n)
			k = n;
		if (gmem_read(env, q->ring_va + off, out, (size_t)k * 4, fault) < 0)
			return -EFAULT;
		out += k;
		pos += (uint64_t)k * 4;
		n -= k;
	}
	return 0;
}

/* How many dwords the packet with this header occupies, from its first
 * dword(s); 0 when the opcode is unknown. */
static uint32_t packet_dwords(uint32_t header, uint32_t dw3)
{
	unsigned op = header & 0xff;
	switch (op) {
	case SDMA_NOP: return 1 + ((header >> 16) & 0x3fff);
	case SDMA_COPY: return 7;
	case SDMA_WRITE: return 4 + (dw3 & 0xfffff) + 1;
	case SDMA_INDIRECT: return 6;
	case SDMA_FENCE: return 4;
	case SDMA_TRAP: return 2;
	case SDMA_SEM: return 3;
	case SDMA_POLL_REGMEM: return 6;
	case SDMA_COND_EXE: return 5;
	case SDMA_ATOMIC: return 8;
	case SDMA_CONST_FILL: return 5;
	case SDMA_TIMESTAMP: return 3;
	case SDMA_SRBM_WRITE: return 3;
	case SDMA_GCR_REQ: return 5;
	case SDMA_DUMMY_TRAP: return 2;
	default: return 0;
	}
}

enum step { STEP_DONE, STEP_WAIT, STEP_FAULT };

static enum step mem_fault(const struct engine_env *env, uint64_t va, bool write, const char *what)
{
	engine_fail(env, ISA_MEMORY_FAULT, va, write, "SDMA %s %s unmapped address 0x%llx", what,
		    write ? "writes to" : "reads from", (unsigned long long)va);
	return STEP_FAULT;
}

static uint64_t va64(uint32_t lo, uint32_t hi)
{
	return (uint64_t)hi << 32 | lo;
}

static enum step copy_linear(struct sdma_queue *q, const struct engine_env *env, const uint32_t *p)
{
	if (((p[0] >> 8) & 0xff) != SUB_COPY_LINEAR) {
		engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "SDMA copy sub-op %u is not supported",
			    (p[0] >> 8) & 0xff);
		return STEP_FAULT;
	}
	uint64_t bytes = (uint64_t)(p[1] & 0x3fffffff) + 1;
	uint64_t src = va64(p[3], p[4]), dst = va64(p[5], p[6]);
	/* in chunks, so that an eviction or reset stops a long copy */
	for (uint64_t off = 0; off < bytes; off += COPY_CHUNK) {
		if (engine_cancelled(env))
			return STEP_FAULT;
		uint64_t n = bytes - off < COPY_CHUNK ? bytes - off : COPY_CHUNK, fault;
		int write = 0;
		int rc = gmem_copy(env, dst + off, src + off, n, &fault, &write);
		if (rc == -EFAULT)
			return mem_fault(env, fault, write, "copy");
		if (rc < 0) {
			engine_fail(env, ISA_BAD_DISPATCH, 0, false, "SDMA copy: out of host memory");
			return STEP_FAULT;
		}
		q->bytes_copied += n;
	}
	return STEP_DONE;
}

static enum step const_fill(struct sdma_queue *q, const struct engine_env *env, const uint32_t *p)
{
	static const unsigned units[4] = { 1, 2, 4, 4 };
	unsigned unit = units[(p[0] >> 30) & 3];
	uint64_t bytes = (uint64_t)(p[4] & 0x3fffffff) + 1, fault;
	if (gmem_fill(env, va64(p[1], p[2]), p[3], unit, bytes, &fault) < 0)
		return mem_fault(env, fault, true, "fill");
	q->bytes_copied += bytes;
	return STEP_DONE;
}

static enum step poll_regmem(const struct engine_env *env, const uint32_t *p)
{
	if (!(p[0] >> 31))
		return STEP_DONE;	/* register polls (HDP flush): always done */
	uint32_t value = 0;
	uint64_t fault;
	if (gmem_read(env, va64(p[1] & ~3u, p[2]), &value, 4, &fault) < 0)
		return mem_fault(env, fault, false, "poll");
	int ok = gmem_compare((p[0] >> 28) & 7, value & p[4], p[3]);
	if (ok < 0) {
		engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "SDMA poll with reserved function 7");
		return STEP_FAULT;
	}
	return ok ? STEP_DONE : STEP_WAIT;
}

static enum step timestamp(struct sdma_queue *q, const struct engine_env *env, const uint32_t *p)
{
	unsigned sub = (p[0] >> 8) & 0xff;
	uint64_t now = env->clock(), fault;
	if (sub == SUB_TS_SET) {
		q->local_timestamp_base = now - va64(p[1], p[2]);
		return STEP_DONE;
	}
	uint64_t value = sub == SUB_TS_GET ? now - q->local_timestamp_base : now;
	if (gmem_write(env, va64(p[1] & ~7u, p[2]), &value, 8, &fault) < 0)
		return mem_fault(env, fault, true, "timestamp");
	return STEP_DONE;
}

static enum step execute(struct sdma_queue *q, const struct engine_env *env, const uint32_t *p, uint32_t n)
{
	uint64_t fault;
	switch (p[0] & 0xff) {
	case SDMA_NOP:
	case SDMA_GCR_REQ:	/* cache maintenance: the simulated memory is coherent */
	case SDMA_SRBM_WRITE:
	case SDMA_DUMMY_TRAP:
	case SDMA_SEM:
		return STEP_DONE;
	case SDMA_COPY: return copy_linear(q, env, p);
	case SDMA_CONST_FILL: return const_fill(q, env, p);
	case SDMA_WRITE:
		if (gmem_write(env, va64(p[1] & ~3u, p[2]), &p[4], (size_t)(n - 4) * 4, &fault) < 0)
			return mem_fault(env, fault, true, "write");
		return STEP_DONE;
	case SDMA_FENCE:
		if (gmem_write(env, va64(p[1] & ~3u, p[2]), &p[3], 4, &fault) < 0)
			return mem_fault(env, fault, true, "fence");
		return STEP_DONE;
	case SDMA_TRAP:
		if (env->interrupt)
			env->interrupt(env->ctx, ENGINE_IRQ_SDMA_TRAP, p[1] & 0x0fffffff);
		return STEP_DONE;
	case SDMA_POLL_REGMEM: return poll_regmem(env, p);
	case SDMA_TIMESTAMP: return timestamp(q, env, p);
	case SDMA_INDIRECT:
		if (q->in_ib) {
			engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "SDMA indirect buffer inside an indirect buffer");
			return STEP_FAULT;
		}
		q->ib_va = va64(p[1] & ~31u, p[2]);
		q->ib_pos = 0;
		q->ib_end = (uint64_t)(p[3] & 0xfffff) * 4;
		q->in_ib = q->ib_end != 0;
		return STEP_DONE;
	default:
		engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "SDMA packet opcode %u is not supported", p[0] & 0xff);
		return STEP_FAULT;
	}
}

static void store_rptr(struct sdma_queue *q, const struct engine_env *env)
{
	uint64_t fault;
	(void)gmem_write(env, q->rptr_va, &q->rptr, sizeof q->rptr, &fault);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum engine_state sdma_run(struct sdma_queue *q, const struct engine_env *env, uint64_t wptr)
{
	enum engine_state state = ENGINE_IDLE;
	uint64_t t0 = monotonic_ns();
	for (;;) {
		if (engine_cancelled(env)) {
			state = ENGINE_CANCELLED;
			break;
		}
		/* preempted between packets: the position stays where it is */
		if (engine_preempted(env)) {
			state = ENGINE_PREEMPTED;
			break;
		}
		engine_between_packets(env);
		uint64_t *pos = q->in_ib ? &q->ib_pos : &q->rptr;
		uint64_t end = q->in_ib ? q->ib_end : wptr;
		if (*pos >= end) {
			if (q->in_ib) {
				q->in_ib = false;
				continue;
			}
			break;
		}
		uint32_t head[4] = { 0 };
		uint64_t fault;
		uint64_t avail = (end - *pos) / 4;
		if (fetch(q, env, *pos, head, avail < 4 ? (uint32_t)avail : 4, &fault) < 0) {
			mem_fault(env, fault, false, "packet fetch from");
			state = ENGINE_FAULTED;
			break;
		}
		uint32_t n = packet_dwords(head[0], head[3]);
		if (n == 0) {
			engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "SDMA packet opcode %u is not supported",
				    head[0] & 0xff);
			state = ENGINE_FAULTED;
			break;
		}
		if ((uint64_t)n > avail) {
			if (!q->in_ib)
				break;	/* the rest of the packet is not written yet */
			engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "an SDMA packet runs past its indirect buffer");
			state = ENGINE_FAULTED;
			break;
		}
		if (fetch(q, env, *pos, q->body, n, &fault) < 0) {
			mem_fault(env, fault, false, "packet fetch from");
			state = ENGINE_FAULTED;
			break;
		}
		enum step st = execute(q, env, q->body, n);
		if (st == STEP_WAIT) {
			state = ENGINE_WAITING;
			break;
		}
		if (st == STEP_FAULT) {
			state = engine_cancelled(env) ? ENGINE_CANCELLED : ENGINE_FAULTED;
			break;
		}
		*pos += (uint64_t)n * 4;
		q->packets++;
		if (!q->in_ib)
			store_rptr(q, env);
	}
	store_rptr(q, env);
	q->busy_ns += monotonic_ns() - t0;
	return state;
}
