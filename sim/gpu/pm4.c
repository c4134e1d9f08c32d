/* The compute command processor (MEC) of a simulated gfx1100: PM4 type-3
 * packets from a user-mode queue's ring and from indirect buffers.
 *
 * Packets and fields follow the gfx11 PM4 definitions the kernel's nvd.h
 * and the ROCm/Mesa packet builders use.  Dispatches run on the gfx1100
 * emulator with the state the packets programmed into the COMPUTE_*
 * registers; RELEASE_MEM writes its value after the preceding work is done
 * (dispatches here are synchronous) and raises the end-of-pipe interrupt
 * that KFD turns into events.  A packet the MEC does not know stops the
 * queue, as a bad opcode does on the hardware.
 *
 * As on the hardware, the read pointer says what has been fetched, not
 * what has finished: the CP copies the ring ahead of the packet it
 * executes into its fetch buffer (up to FETCH_DWORDS, a wait packet
 * included) and reports that as consumed, so a driver that took the read
 * pointer for completion reuses memory work still needs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "sim/gpu/gpu_internal.h"

/* PM4 type-3 opcodes (IT_OPCODE) */
enum {
	OP_NOP = 0x10,
	OP_SET_BASE = 0x11,
	OP_CLEAR_STATE = 0x12,
	OP_DISPATCH_DIRECT = 0x15,
	OP_PRED_EXEC = 0x23,
	OP_CONTEXT_CONTROL = 0x28,
	OP_WRITE_DATA = 0x37,
	OP_WAIT_REG_MEM = 0x3c,
	OP_INDIRECT_BUFFER = 0x3f,
	OP_COPY_DATA = 0x40,
	OP_PFP_SYNC_ME = 0x42,
	OP_EVENT_WRITE = 0x46,
	OP_RELEASE_MEM = 0x49,
	OP_ACQUIRE_MEM = 0x58,
	OP_SET_CONFIG_REG = 0x68,
	OP_SET_SH_REG = 0x76,
	OP_SET_UCONFIG_REG = 0x79,
	OP_WAIT_REG_MEM64 = 0x93,
	OP_SET_SH_REG_INDEX = 0x9b,
};

/* SH registers, as dword offsets from the SH window (0x2c00) */
enum {
	SH_COUNT = 0x400,
	R_DISPATCH_INITIATOR = 0x200,
	R_START_X = 0x204,
	R_NUM_THREAD_X = 0x207,
	R_PGM_LO = 0x20c,
	R_SCRATCH_BASE_LO = 0x210,
	R_PGM_RSRC1 = 0x212,
	R_PGM_RSRC2 = 0x213,
	R_TMPRING_SIZE = 0x218,
	R_PGM_RSRC3 = 0x228,
	R_USER_DATA_0 = 0x240,
};

/* COMPUTE_DISPATCH_INITIATOR bits */
enum { DI_COMPUTE_SHADER_EN = 1u << 0, DI_FORCE_START_AT_000 = 1u << 2, DI_USE_THREAD_DIMENSIONS = 1u << 5,
       DI_CS_W32_EN = 1u << 15 };

/* the fetch buffer: the largest packet (a 14-bit count) fits */
enum { FETCH_DWORDS = 0x8000 };
enum { MAX_IB_DEPTH = 2, PROGRAM_CACHE = 16, MAX_PROGRAM_BYTES = 1 << 20, NAVI31_SHADER_ENGINES = 6 };
/* UCONFIG registers (0xc000..0xffff), kept so that register waits and
 * COPY_DATA see what was written */
enum { UCONFIG_BASE = 0xc000, UCONFIG_COUNT = 0x4000 };

/* Where packets come from: the ring (wrapping, up to the write pointer) or
 * an indirect buffer (linear, up to its size). */
struct stream {
	uint64_t base;		/* GPU address */
	uint64_t pos, end;	/* dwords */
	uint32_t wrap_dwords;	/* ring size in dwords; 0 for an IB */
	const uint32_t *fetched;	/* the ring: read from the fetch buffer */
};

struct cached_program {
	uint64_t va, bytes, hash;
	struct isa_program *p;
	uint64_t last_use;
};

struct pm4_queue {
	uint64_t ring_va, rptr_va, wptr_va;
	uint32_t ring_dwords;
	uint64_t rptr;			/* dwords fetched, monotonic: what the read pointer says */
	uint64_t exec;			/* dwords executed, monotonic */
	uint32_t *fetch;		/* FETCH_DWORDS of the ring, at position % FETCH_DWORDS */
	struct stream ib[MAX_IB_DEPTH];
	int depth;
	uint32_t sh[SH_COUNT];
	uint32_t *uconfig;
	uint32_t skip;			/* dwords PRED_EXEC told us to skip */
	uint32_t *body;			/* the packet being executed */
	struct cached_program programs[PROGRAM_CACHE];
	uint64_t uses;
	uint64_t dispatches, wave_instructions, busy_ns;
};

enum step { STEP_DONE, STEP_WAIT, STEP_FAULT, STEP_PUSHED };

struct pm4_queue *pm4_queue_create(uint64_t ring_va, uint32_t ring_bytes, uint64_t rptr_va, uint64_t wptr_va)
{
	if (ring_bytes < 256 || (ring_bytes & (ring_bytes - 1))) {
		errno = EINVAL;
		return NULL;
	}
	struct pm4_queue *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->body = malloc(0x4000 * sizeof *q->body);
	q->uconfig = calloc(UCONFIG_COUNT, sizeof *q->uconfig);
	q->fetch = malloc(FETCH_DWORDS * sizeof *q->fetch);
	if (!q->body || !q->uconfig || !q->fetch) {
		free(q->fetch);
		free(q->body);
		free(q->uconfig);
		free(q);
		return NULL;
	}
	q->ring_va = ring_va;
	q->ring_dwords = ring_bytes / 4;
	q->rptr_va = rptr_va;
	q->wptr_va = wptr_va;
	return q;
}

void pm4_queue_destroy(struct pm4_queue *q)
{
	if (!q)
		return;
	for (int i = 0; i < PROGRAM_CACHE; i++)
		isa_program_destroy(q->programs[i].p);
	free(q->fetch);
	free(q->body);
	free(q->uconfig);
	free(q);
}

void pm4_stats(const struct pm4_queue *q, uint64_t *dispatches, uint64_t *wave_instructions, uint64_t *busy_ns)
{
	*dispatches = q->dispatches;
	*wave_instructions = q->wave_instructions;
	*busy_ns = q->busy_ns;
}

static uint64_t stream_addr(const struct stream *s, uint64_t pos)
{
	return s->base + 4 * (s->wrap_dwords ? pos % s->wrap_dwords : pos);
}

/* Read n dwords at pos, wrapping in the ring. */
static int stream_read(const struct engine_env *env, const struct stream *s, uint64_t pos, uint32_t *out, uint32_t n,
		       uint64_t *fault)
{
	for (; s->fetched && n; n--)
		*out++ = s->fetched[pos++ % FETCH_DWORDS];
	while (n) {
		uint32_t k = n;
		if (s->wrap_dwords) {
			uint32_t room = s->wrap_dwords - (uint32_t)(pos % s->wrap_dwords);
			if (k > room)
				k = room;
		}
		if (gmem_read(env, stream_addr(s, pos), out, (size_t)k * 4, fault) < 0)
			return -EFAULT;
		out += k;
		pos += k;
		n -= k;
	}
	return 0;
}

static void store_rptr(struct pm4_queue *q, const struct engine_env *env)
{
	uint64_t fault;
	/* a bad report address is the driver's problem, not a queue fault:
	 * the hardware writes it through the same VM and drops a miss */
	(void)gmem_write(env, q->rptr_va, &q->rptr, sizeof q->rptr, &fault);
}

/* Copy the ring ahead of the packet being executed into the fetch buffer,
 * up to the write pointer, and report it fetched. */
static int fetch_ahead(struct pm4_queue *q, const struct engine_env *env, const struct stream *ring, uint64_t *fault)
{
	uint64_t upto = ring->end < ring->pos + FETCH_DWORDS ? ring->end : ring->pos + FETCH_DWORDS;
	if (upto <= q->rptr)
		return 0;
	const struct stream raw = { ring->base, 0, 0, ring->wrap_dwords, NULL };
	for (uint64_t pos = q->rptr; pos < upto;) {
		uint32_t k = (uint32_t)(upto - pos), room = FETCH_DWORDS - (uint32_t)(pos % FETCH_DWORDS);
		if (k > room)
			k = room;
		if (stream_read(env, &raw, pos, q->fetch + pos % FETCH_DWORDS, k, fault) < 0)
			return -EFAULT;
		pos += k;
	}
	q->rptr = upto;
	store_rptr(q, env);
	return 0;
}

/* ---- dispatches ---------------------------------------------------------------------------------- */

/* Decoded programs are kept per queue, keyed by address and contents, so
 * that a kernel launched many times is decoded once and new code loaded
 * at a reused address is decoded again. */
static const struct isa_program *program_at(struct pm4_queue *q, const struct engine_env *env, uint64_t va,
					    struct isa_result *res)
{
	struct isa_mapping m;
	if (env->mem.lookup(env->mem.ctx, va, &m) < 0 || va < m.va || va - m.va >= m.size) {
		res->status = ISA_MEMORY_FAULT;
		res->fault_address = va;
		res->fault_pc = va;
		return NULL;
	}
	uint64_t bytes = m.size - (va - m.va);
	if (bytes > MAX_PROGRAM_BYTES)
		bytes = MAX_PROGRAM_BYTES;
	uint64_t hash = XXH3_64bits(m.host + (va - m.va), (size_t)bytes);
	struct cached_program *victim = &q->programs[0];
	for (int i = 0; i < PROGRAM_CACHE; i++) {
		struct cached_program *c = &q->programs[i];
		if (c->p && c->va == va && c->bytes == bytes && c->hash == hash) {
			c->last_use = ++q->uses;
			return c->p;
		}
		if (!c->p || c->last_use < victim->last_use)
			victim = c;
	}
	struct isa_program *p = isa_program_create(&env->mem, va, bytes);
	if (!p) {
		res->status = errno == ENOMEM ? ISA_BAD_DISPATCH : ISA_MEMORY_FAULT;
		res->fault_address = va;
		return NULL;
	}
	isa_program_destroy(victim->p);
	*victim = (struct cached_program){ va, bytes, hash, p, ++q->uses };
	return p;
}

/* The grid in workgroups from DISPATCH_DIRECT's dimensions: workgroups, or
 * work-items when USE_THREAD_DIMENSIONS asks for a partial last group. */
static void grid_from(const struct pm4_queue *q, const uint32_t dim[3], uint32_t initiator, struct isa_dispatch *d)
{
	for (int i = 0; i < 3; i++) {
		uint32_t full = q->sh[R_NUM_THREAD_X + i] & 0xffff;
		d->wg_size[i] = full ? full : 1;
		if (initiator & DI_USE_THREAD_DIMENSIONS) {
			d->wg_count[i] = (dim[i] + d->wg_size[i] - 1) / d->wg_size[i];
			d->partial[i] = dim[i] % d->wg_size[i];
		} else {
			d->wg_count[i] = dim[i];
		}
	}
}

static enum step dispatch_direct(struct pm4_queue *q, const struct engine_env *env, const uint32_t *b)
{
	uint32_t initiator = b[3];
	if (!(initiator & DI_COMPUTE_SHADER_EN))
		return STEP_DONE;
	if (b[0] == 0 || b[1] == 0 || b[2] == 0)
		return STEP_DONE;	/* an empty grid launches nothing */
	if (!(initiator & DI_CS_W32_EN)) {
		engine_fail(env, ISA_BAD_DISPATCH, 0, false, "wave64 dispatch: the simulated gfx1100 runs wave32 only");
		return STEP_FAULT;
	}
	if (!(initiator & DI_FORCE_START_AT_000) &&
	    (q->sh[R_START_X] | q->sh[R_START_X + 1] | q->sh[R_START_X + 2]) != 0) {
		engine_fail(env, ISA_BAD_DISPATCH, 0, false, "dispatch with a non-zero COMPUTE_START is not supported");
		return STEP_FAULT;
	}
	struct isa_dispatch d = { 0 };
	struct isa_result res = { 0 };
	d.pgm_va = ((uint64_t)q->sh[R_PGM_LO + 1] << 32 | q->sh[R_PGM_LO]) << 8;
	d.rsrc1 = q->sh[R_PGM_RSRC1];
	d.rsrc2 = q->sh[R_PGM_RSRC2];
	d.rsrc3 = q->sh[R_PGM_RSRC3];
	memcpy(d.user_data, &q->sh[R_USER_DATA_0], sizeof d.user_data);
	grid_from(q, b, initiator, &d);
	d.lds_bytes = ((d.rsrc2 >> 15) & 0x1ff) * 512;
	/* COMPUTE_TMPRING_SIZE: WAVES [11:0] per shader engine, WAVESIZE
	 * [26:12] in 256-byte units per wave */
	uint32_t tmpring = q->sh[R_TMPRING_SIZE];
	uint64_t wave_bytes = (uint64_t)((tmpring >> 12) & 0x7fff) * 256;
	d.scratch_va = ((uint64_t)q->sh[R_SCRATCH_BASE_LO + 1] << 32 | q->sh[R_SCRATCH_BASE_LO]) << 8;
	d.scratch_lane_bytes = (uint32_t)(wave_bytes / 32);
	d.scratch_bytes = (uint64_t)(tmpring & 0xfff) * NAVI31_SHADER_ENGINES * wave_bytes;
	d.shared_aperture = env->shared_aperture;
	d.private_aperture = env->private_aperture;
	d.realtime_hz = 100000000;
	d.max_wave_instructions = env->max_wave_instructions;
	d.cancel = env->cancel;
	d.program = program_at(q, env, d.pgm_va, &res);
	if (!d.program) {
		engine_fail(env, res.status, res.fault_address, false,
			    "the dispatch's program at 0x%llx cannot be read", (unsigned long long)d.pgm_va);
		return STEP_FAULT;
	}
	int rc = isa_dispatch_run(&d, &env->mem, env->isa_threads, &res);
	q->dispatches++;
	q->wave_instructions += res.wave_instructions;
	q->busy_ns += res.elapsed_ns;
	if (rc == 0)
		return STEP_DONE;
	if (res.status == ISA_ABORTED)
		return STEP_FAULT;	/* cancelled: the caller reports it */
	engine_fail(env, res.status, res.fault_address, false, "%s", res.message[0] ? res.message : "dispatch failed");
	return STEP_FAULT;
}

/* ---- memory and synchronisation packets -------------------------------------------------------- */

static enum step memory_fault(const struct engine_env *env, uint64_t va, bool write, const char *packet)
{
	engine_fail(env, ISA_MEMORY_FAULT, va, write, "CP %s %s unmapped address 0x%llx", packet,
		    write ? "writes to" : "reads from", (unsigned long long)va);
	return STEP_FAULT;
}

/* A register by its dword address: the SH and UCONFIG windows are kept;
 * others read as 0 and ignore writes. */
static uint32_t *reg(struct pm4_queue *q, uint32_t addr)
{
	if (addr >= 0x2c00 && addr < 0x2c00 + SH_COUNT)
		return &q->sh[addr - 0x2c00];
	if (addr >= UCONFIG_BASE && addr < UCONFIG_BASE + UCONFIG_COUNT)
		return &q->uconfig[addr - UCONFIG_BASE];
	return NULL;
}

static uint64_t addr64(uint32_t lo, uint32_t hi)
{
	return (uint64_t)(hi & 0xffff) << 32 | lo;
}

static enum step write_data(const struct engine_env *env, const uint32_t *b, uint32_t n)
{
	if (n < 3)
		return STEP_DONE;
	unsigned dst_sel = (b[0] >> 8) & 0xf;
	if (dst_sel != 5 && dst_sel != 2)
		return STEP_DONE;	/* registers, GDS: nothing the simulated CP keeps */
	bool no_increment = b[0] & (1u << 16);
	uint64_t va = addr64(b[1] & ~3u, b[2]), fault;
	for (uint32_t i = 3; i < n; i++) {
		if (gmem_write(env, va, &b[i], 4, &fault) < 0)
			return memory_fault(env, fault, true, "WRITE_DATA");
		if (!no_increment)
			va += 4;
	}
	return STEP_DONE;
}

static enum step copy_data(struct pm4_queue *q, const struct engine_env *env, const uint32_t *b, uint32_t n)
{
	if (n < 5)
		return STEP_DONE;
	unsigned src_sel = b[0] & 0xf, dst_sel = (b[0] >> 8) & 0xf;
	bool wide = b[0] & (1u << 16);
	uint64_t value = 0, fault;
	switch (src_sel) {
	case 0:	/* register */
		value = reg(q, b[1]) ? *reg(q, b[1]) : 0;
		break;
	case 1:
	case 2:	/* memory */
		if (gmem_read(env, addr64(b[1], b[2]), &value, wide ? 8 : 4, &fault) < 0)
			return memory_fault(env, fault, false, "COPY_DATA");
		break;
	case 5:	/* immediate */
		value = (uint64_t)b[2] << 32 | b[1];
		break;
	case 9:
	case 10: /* GPU and system clock counters */
		value = env->clock();
		break;
	default:
		break;
	}
	if (!wide)
		value &= 0xffffffffu;
	if (dst_sel == 0) {
		if (reg(q, b[3]))
			*reg(q, b[3]) = (uint32_t)value;
	} else if (dst_sel == 1 || dst_sel == 2 || dst_sel == 5) {
		if (gmem_write(env, addr64(b[3], b[4]), &value, wide ? 8 : 4, &fault) < 0)
			return memory_fault(env, fault, true, "COPY_DATA");
	}
	return STEP_DONE;
}

/* WAIT_REG_MEM (32-bit) and WAIT_REG_MEM64 on memory or a register.  The
 * write-then-wait form (operation 1, the HDP flush handshake) writes the
 * reference's register and is then done: the simulated memory is coherent. */
static enum step wait_mem(struct pm4_queue *q, const struct engine_env *env, const uint32_t *b, uint32_t n, bool wide)
{
	if (n < (wide ? 8u : 6u))
		return STEP_DONE;
	unsigned function = b[0] & 7, mem_space = (b[0] >> 4) & 1, operation = (b[0] >> 6) & 3;
	uint64_t reference = wide ? (uint64_t)b[4] << 32 | b[3] : b[3];
	uint64_t mask = wide ? (uint64_t)b[6] << 32 | b[5] : b[4];
	uint64_t value = 0, fault;
	if (mem_space) {
		uint64_t va = addr64(b[1] & (wide ? ~7u : ~3u), b[2]);
		if (gmem_read(env, va, &value, wide ? 8 : 4, &fault) < 0)
			return memory_fault(env, fault, false, "WAIT_REG_MEM");
	} else if (operation == 1) {
		return STEP_DONE;
	} else {
		value = reg(q, b[1]) ? *reg(q, b[1]) : 0;
	}
	int ok = gmem_compare(function, value & mask, reference);
	if (ok < 0) {
		engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "WAIT_REG_MEM with reserved function 7");
		return STEP_FAULT;
	}
	return ok ? STEP_DONE : STEP_WAIT;
}

static enum step release_mem(const struct engine_env *env, const uint32_t *b, uint32_t n)
{
	if (n < 7)
		return STEP_DONE;
	unsigned data_sel = (b[1] >> 29) & 7, int_sel = (b[1] >> 24) & 7;
	uint64_t va = addr64(b[2], b[3]), data = (uint64_t)b[5] << 32 | b[4], fault;
	size_t bytes = 0;
	switch (data_sel) {
	case 1: bytes = 4; break;
	case 2: bytes = 8; break;
	case 3:
	case 4: data = env->clock(); bytes = 8; break;
	default: break;	/* 0: no write; 5: GDS, which compute queues here do not have */
	}
	if (bytes && gmem_write(env, va & ~(uint64_t)(bytes - 1), &data, bytes, &fault) < 0)
		return memory_fault(env, fault, true, "RELEASE_MEM");
	if ((int_sel == 1 || int_sel == 2 || int_sel >= 4) && env->interrupt)
		env->interrupt(env->ctx, ENGINE_IRQ_CP_END_OF_PIPE, b[6]);
	return STEP_DONE;
}

static enum step set_sh_reg(struct pm4_queue *q, const uint32_t *b, uint32_t n)
{
	uint32_t off = b[0] & 0xffff;
	for (uint32_t i = 1; i < n && off < SH_COUNT; i++, off++)
		q->sh[off] = b[i];
	return STEP_DONE;
}

static enum step indirect_buffer(struct pm4_queue *q, const struct engine_env *env, const uint32_t *b, uint32_t n)
{
	if (n < 3)
		return STEP_DONE;
	uint32_t size = b[2] & 0xfffff;
	if (size == 0)
		return STEP_DONE;
	if (q->depth >= MAX_IB_DEPTH) {
		engine_fail(env, ISA_BAD_DISPATCH, 0, false, "INDIRECT_BUFFER nested more than %d deep", MAX_IB_DEPTH);
		return STEP_FAULT;
	}
	q->ib[q->depth++] = (struct stream){ addr64(b[0] & ~3u, b[1]), 0, size, 0 };
	return STEP_PUSHED;
}

static enum step execute(struct pm4_queue *q, const struct engine_env *env, unsigned op, const uint32_t *b, uint32_t n)
{
	switch (op) {
	case OP_NOP:
	case OP_CLEAR_STATE:
	case OP_CONTEXT_CONTROL:
	case OP_PFP_SYNC_ME:
	case OP_ACQUIRE_MEM:	/* cache maintenance: the simulated memory is coherent */
	case OP_EVENT_WRITE:	/* CS_PARTIAL_FLUSH and friends: dispatches are synchronous */
	case OP_SET_CONFIG_REG:
	case OP_SET_BASE:
		return STEP_DONE;
	case OP_SET_UCONFIG_REG:
		for (uint32_t i = 1; i < n; i++)
			if (reg(q, UCONFIG_BASE + (b[0] & 0xffff) + i - 1))
				*reg(q, UCONFIG_BASE + (b[0] & 0xffff) + i - 1) = b[i];
		return STEP_DONE;
	case OP_PRED_EXEC:
		/* one XCC here: run the next dwords only if XCC 0 is selected */
		if (!((b[0] >> 24) & 1))
			q->skip = b[0] & 0x3fff;
		return STEP_DONE;
	case OP_SET_SH_REG:
	case OP_SET_SH_REG_INDEX: return set_sh_reg(q, b, n);
	case OP_DISPATCH_DIRECT: return n < 4 ? STEP_DONE : dispatch_direct(q, env, b);
	case OP_WRITE_DATA: return write_data(env, b, n);
	case OP_COPY_DATA: return copy_data(q, env, b, n);
	case OP_WAIT_REG_MEM: return wait_mem(q, env, b, n, false);
	case OP_WAIT_REG_MEM64: return wait_mem(q, env, b, n, true);
	case OP_RELEASE_MEM: return release_mem(env, b, n);
	case OP_INDIRECT_BUFFER: return indirect_buffer(q, env, b, n);
	default:
		engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "CP bad opcode: PM4 type-3 opcode 0x%02x", op);
		return STEP_FAULT;
	}
}

/* ---- the packet loop ------------------------------------------------------------------------------- */

static struct stream *current(struct pm4_queue *q, struct stream *ring)
{
	return q->depth ? &q->ib[q->depth - 1] : ring;
}

enum engine_state pm4_run(struct pm4_queue *q, const struct engine_env *env, uint64_t wptr)
{
	struct stream ring = { q->ring_va, q->exec, wptr, q->ring_dwords, q->fetch };
	enum engine_state state = ENGINE_IDLE;
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
		uint64_t fault;
		if (fetch_ahead(q, env, &ring, &fault) < 0) {
			memory_fault(env, fault, false, "packet fetch");
			state = ENGINE_FAULTED;
			break;
		}
		struct stream *s = current(q, &ring);
		if (s->pos >= s->end) {
			if (q->depth) {
				q->depth--;
				continue;
			}
			break;
		}
		if (q->skip) {
			uint64_t k = s->end - s->pos < q->skip ? s->end - s->pos : q->skip;
			s->pos += k;
			q->skip -= (uint32_t)k;
			continue;
		}
		uint32_t header;
		if (stream_read(env, s, s->pos, &header, 1, &fault) < 0) {
			memory_fault(env, fault, false, "packet fetch");
			state = ENGINE_FAULTED;
			break;
		}
		unsigned type = header >> 30;
		if (type == 2) {	/* a one-dword filler */
			s->pos++;
			continue;
		}
		if (type != 3) {
			engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "CP bad packet: type-%u header 0x%08x", type,
				    header);
			state = ENGINE_FAULTED;
			break;
		}
		uint32_t n = ((header >> 16) & 0x3fff) + 1;
		unsigned op = (header >> 8) & 0xff;
		if (s->pos + 1 + n > s->end) {
			if (s == &ring)
				break;	/* the rest of the packet is not written yet */
			engine_fail(env, ISA_ILLEGAL_INSTRUCTION, 0, false, "a PM4 packet runs past the end of its IB");
			state = ENGINE_FAULTED;
			break;
		}
		if (stream_read(env, s, s->pos + 1, q->body, n, &fault) < 0) {
			memory_fault(env, fault, false, "packet fetch");
			state = ENGINE_FAULTED;
			break;
		}
		uint64_t at = s->pos;
		s->pos += 1 + n;	/* before an IB is pushed, so it returns after the packet */
		enum step st = execute(q, env, op, q->body, n);
		if (st == STEP_WAIT) {
			s->pos = at;
			state = ENGINE_WAITING;
			break;
		}
		if (st == STEP_FAULT) {
			state = engine_cancelled(env) ? ENGINE_CANCELLED : ENGINE_FAULTED;
			break;
		}
	}
	q->exec = ring.pos;
	return state;
}
