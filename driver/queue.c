/* User-mode queues: PM4 compute queues and SDMA copy queues created through
 * KFD, with rings in host memory, 64-bit write pointers and doorbells.
 *
 * Commands are built into a staging buffer and copied into the ring at
 * submit, wrapping at its end (the CP and SDMA engines fetch across the
 * wrap).  The packet encodings are gfx11's (PM4 type 3) and SDMA v6's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "driver/internal.h"
#include "driver/pm4.h"

enum {
	RING_BYTES = 64 * 1024,
	KERNARG_BYTES = 1024 * 1024,
	STAGING_DWORDS = 16 * 1024 - 64,	/* a batch: what fits in the ring with its completion packet */
	RECORDING_DWORDS = 4 * 1024 * 1024,	/* a recording: 16 MiB of packets */
	KERNARG_USES = 64,			/* submitted batches whose kernel arguments are tracked apart */
	FENCE_OFFSET = 64,			/* the completion value, in the pointers page */
	FENCE_DWORDS = 8,
};

/* SDMA's COPY and CONST_FILL count bytes in 30 bits */
enum { SDMA_MAX_COPY = 1u << 30 };

struct tb_queue {
	struct tb_gpu *gpu;
	enum tb_queue_kind kind;
	uint32_t queue_id;
	struct tb_bo *ring, *pointers, *eop, *cwsr, *kernargs, *scratch;
	volatile uint64_t *rptr, *wptr;	/* PM4: dwords; SDMA: bytes */
	volatile uint64_t *doorbell;
	uint64_t put;			/* next dword to write, monotonic */
	uint32_t *staging;
	uint32_t nstaged, staging_cap;
	/* Completion: each batch ends by writing its number (1, 2...) to
	 * *fence once the work before it is done.  The read pointer only says
	 * what the engine has fetched, which frees ring space, nothing else. */
	uint64_t seq;			/* batches submitted (atomic: waiters read it) */
	volatile uint64_t *fence;
	uint64_t seen_rptr, seen_fence, seen_ns;	/* progress, under gpu->lock */
	struct tb_queue *next;		/* the GPU's queues, under gpu->lock */
	/* The kernel-argument ring in monotonic byte positions: [ka_tail,
	 * ka_head) is in use, retired batch by batch as their numbers land. */
	uint64_t ka_head, ka_tail;
	struct { uint64_t seq, head; } ka_used[KERNARG_USES];
	uint32_t ka_first, ka_count;
	bool ka_batch;			/* the batch being built holds arguments */
	uint32_t scratch_wave_bytes;	/* per wave, as COMPUTE_TMPRING_SIZE says */
	uint32_t tmpring;
	bool overflow;
	struct tb_bo *old_scratch[16];	/* outgrown areas: recordings may still name them */
	int nold_scratch;
	/* recording a command buffer */
	bool recording;
	struct tb_bo *rec_kernargs;
	uint64_t rec_kernarg_next;
};

struct tb_cmdbuf {
	struct tb_gpu *gpu;		/* replays run on any compute queue of this GPU */
	struct tb_bo *ib, *kernargs;
	uint32_t ndw;
};

enum { REC_KERNARG_BYTES = 4 * 1024 * 1024 };

static int create_kfd_queue(struct tb_queue *q)
{
	struct tb_gpu *g = q->gpu;
	struct kfd_ioctl_create_queue_args a = {
		.ring_base_address = q->ring->va,
		.write_pointer_address = q->pointers->va + 8,
		.read_pointer_address = q->pointers->va,
		.ring_size = RING_BYTES,
		.gpu_id = g->info.gpu_id,
		.queue_type = q->kind == TB_QUEUE_COMPUTE ? KFD_IOC_QUEUE_TYPE_COMPUTE : KFD_IOC_QUEUE_TYPE_SDMA,
		.queue_percentage = 100,
		.queue_priority = 7,
	};
	if (q->eop) {
		a.eop_buffer_address = q->eop->va;
		a.eop_buffer_size = (uint32_t)q->eop->size;
	}
	if (q->cwsr) {
		a.ctx_save_restore_address = q->cwsr->va;
		a.ctx_save_restore_size = g->info.cwsr_ctx_bytes;
		a.ctl_stack_size = g->info.cwsr_ctl_stack_bytes;
	}
	int rc = tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_CREATE_QUEUE, &a);
	if (rc < 0)
		return rc;
	q->queue_id = a.queue_id;
	/* the doorbell page is the process's, one per GPU: map it once */
	uint64_t page = a.doorbell_offset & ~(uint64_t)(8192 - 1);
	if (!g->doorbells) {
		void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, g->proc->kfd, (off_t)page);
		if (m == MAP_FAILED) {
			rc = -errno;
			struct kfd_ioctl_destroy_queue_args d = { .queue_id = a.queue_id };
			tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_DESTROY_QUEUE, &d);
			return rc;
		}
		g->doorbells = m;
		g->doorbell_base = page;
	}
	q->doorbell = (volatile uint64_t *)(void *)((uint8_t *)g->doorbells + (a.doorbell_offset - page));
	return 0;
}

int tb_queue_create(struct tb_gpu *g, enum tb_queue_kind kind, struct tb_queue **out)
{
	struct tb_queue *q = calloc(1, sizeof *q);
	if (!q)
		return -ENOMEM;
	q->gpu = g;
	q->kind = kind;
	q->staging = malloc(STAGING_DWORDS * 4);
	q->staging_cap = STAGING_DWORDS;
	int rc = q->staging ? 0 : -ENOMEM;
	if (rc == 0)
		rc = tb_bo_alloc(g, RING_BYTES, TB_MEM_HOST, &q->ring);
	if (rc == 0)
		rc = tb_bo_alloc(g, 4096, TB_MEM_HOST, &q->pointers);
	if (rc == 0 && kind == TB_QUEUE_COMPUTE)
		rc = tb_bo_alloc(g, 4096, TB_MEM_VRAM, &q->eop);
	/* the context save area, for every XCC, with the debugger's part */
	if (rc == 0 && kind == TB_QUEUE_COMPUTE && g->info.cwsr_ctx_bytes)
		rc = tb_bo_alloc(g, ((uint64_t)g->info.cwsr_ctx_bytes + g->info.cwsr_debug_bytes) * g->info.num_xcc,
				 TB_MEM_VRAM, &q->cwsr);
	if (rc == 0 && kind == TB_QUEUE_COMPUTE)
		rc = tb_bo_alloc(g, KERNARG_BYTES, TB_MEM_HOST, &q->kernargs);
	if (rc == 0) {
		q->rptr = q->pointers->cpu;
		q->wptr = q->rptr + 1;
		q->fence = (volatile uint64_t *)(void *)((uint8_t *)q->pointers->cpu + FENCE_OFFSET);
		rc = create_kfd_queue(q);
	}
	if (rc < 0) {
		q->queue_id = UINT32_MAX;
		tb_queue_destroy(q);
		return rc;
	}
	pthread_mutex_lock(&g->lock);
	q->next = g->queues;
	g->queues = q;
	pthread_mutex_unlock(&g->lock);
	*out = q;
	return 0;
}

static void unlink_queue(struct tb_queue *q)
{
	struct tb_gpu *g = q->gpu;
	pthread_mutex_lock(&g->lock);
	for (struct tb_queue **pp = &g->queues; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	pthread_mutex_unlock(&g->lock);
}

void tb_queue_destroy(struct tb_queue *q)
{
	if (!q)
		return;
	unlink_queue(q);
	if (q->queue_id != UINT32_MAX && q->doorbell) {
		struct kfd_ioctl_destroy_queue_args d = { .queue_id = q->queue_id };
		tb_kfd_ioctl(q->gpu->proc->kfd, AMDKFD_IOC_DESTROY_QUEUE, &d);
	}
	tb_bo_free(q->rec_kernargs);
	for (int i = 0; i < q->nold_scratch; i++)
		tb_bo_free(q->old_scratch[i]);
	tb_bo_free(q->scratch);
	tb_bo_free(q->kernargs);
	tb_bo_free(q->cwsr);
	tb_bo_free(q->eop);
	tb_bo_free(q->pointers);
	tb_bo_free(q->ring);
	free(q->staging);
	free(q);
}

/* ---- staging -------------------------------------------------------------------------------------- */

static void emit(struct tb_queue *q, const uint32_t *dw, uint32_t n)
{
	uint32_t limit = q->recording ? RECORDING_DWORDS : STAGING_DWORDS;
	if (q->nstaged + n > limit) {
		q->overflow = true;
		return;
	}
	if (q->nstaged + n > q->staging_cap) {	/* recordings grow */
		uint32_t cap = q->staging_cap * 2 < limit ? q->staging_cap * 2 : limit;
		uint32_t *more = realloc(q->staging, (size_t)cap * 4);
		if (!more) {
			q->overflow = true;
			return;
		}
		q->staging = more;
		q->staging_cap = cap;
	}
	memcpy(q->staging + q->nstaged, dw, (size_t)n * 4);
	q->nstaged += n;
}

#define EMIT(q, ...)                                                            \
	do {                                                                    \
		const uint32_t dw_[] = { __VA_ARGS__ };                         \
		emit((q), dw_, (uint32_t)(sizeof dw_ / sizeof dw_[0]));        \
	} while (0)

static uint32_t lo(uint64_t v) { return (uint32_t)v; }
static uint32_t hi(uint64_t v) { return (uint32_t)(v >> 32); }

static void set_sh(struct tb_queue *q, uint32_t reg, const uint32_t *values, uint32_t n)
{
	EMIT(q, PKT3(PKT3_SET_SH_REG, n + 1), SH_REG(reg));
	emit(q, values, n);
}

/* RELEASE_MEM at end of pipe: writes data (EOP_DATA_SEL_*) at va once the
 * work before it is done, then maybe raises the interrupt (EOP_INT_SEL_*). */
#define RELEASE_MEM_EVENT (EVENT_TYPE(V_028A90_CACHE_FLUSH_AND_INV_TS_EVENT) | EVENT_INDEX(EVENT_INDEX_END_OF_PIPE))
static void release_mem(struct tb_queue *q, uint64_t va, uint64_t data, unsigned data_sel, unsigned int_sel,
			uint32_t ctxid)
{
	EMIT(q, PKT3(PKT3_RELEASE_MEM, 7), RELEASE_MEM_EVENT, EOP_DATA_SEL(data_sel) | EOP_INT_SEL(int_sel), lo(va),
	     hi(va), lo(data), hi(data), ctxid);
}

/* Write back and invalidate every cache (ACQUIRE_MEM over all memory). */
static void acquire_mem_all(struct tb_queue *q)
{
	EMIT(q, PKT3(PKT3_ACQUIRE_MEM, 7), 0, COHER_SIZE_ALL, COHER_SIZE_ALL, 0, 0, 0, GCR_ALL_CACHES);
}

/* Wait until the work before is done (dispatches drained). */
static void cs_partial_flush(struct tb_queue *q)
{
	EMIT(q, PKT3(PKT3_EVENT_WRITE, 1), EVENT_TYPE(V_028A90_CS_PARTIAL_FLUSH) | EVENT_INDEX(EVENT_INDEX_PARTIAL_FLUSH));
}

/* ---- compute ------------------------------------------------------------------------------------------ */

struct dispatch_packet {		/* hsa_kernel_dispatch_packet_t, which kernels read through the dispatch pointer */
	uint16_t header, setup;
	uint16_t workgroup_size[3], reserved0;
	uint32_t grid_size[3];
	uint32_t private_segment_size, group_segment_size;
	uint64_t kernel_object, kernarg_address, reserved2, completion_signal;
};

static uint64_t hidden_value(enum tb_hidden_arg h, const uint32_t grid[3], const uint32_t block[3])
{
	switch (h) {
	case TB_HIDDEN_BLOCK_COUNT_X:
	case TB_HIDDEN_BLOCK_COUNT_Y:
	case TB_HIDDEN_BLOCK_COUNT_Z: {
		int i = h - TB_HIDDEN_BLOCK_COUNT_X;
		return ((uint64_t)grid[i] + block[i] - 1) / block[i];
	}
	case TB_HIDDEN_GROUP_SIZE_X:
	case TB_HIDDEN_GROUP_SIZE_Y:
	case TB_HIDDEN_GROUP_SIZE_Z: return block[h - TB_HIDDEN_GROUP_SIZE_X];
	case TB_HIDDEN_REMAINDER_X:
	case TB_HIDDEN_REMAINDER_Y:
	case TB_HIDDEN_REMAINDER_Z: {
		int i = h - TB_HIDDEN_REMAINDER_X;
		return grid[i] % block[i];
	}
	case TB_HIDDEN_GRID_DIMS: return grid[2] > 1 ? 3 : grid[1] > 1 ? 2 : 1;
	default: return 0;
	}
}

static uint64_t consumed(const struct tb_queue *q);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t completed(const struct tb_queue *q)
{
	return __atomic_load_n(q->fence, __ATOMIC_ACQUIRE);
}

static uint64_t submitted(const struct tb_queue *q)
{
	return __atomic_load_n(&q->seq, __ATOMIC_ACQUIRE);
}

/* With gpu->lock held: has q had work outstanding and neither fetched
 * nor completed any of it for the hang timeout?  Idle queues and queues
 * that move start the clock again. */
static bool stalled(struct tb_queue *q, uint64_t now)
{
	uint64_t r = consumed(q), f = completed(q);
	if (f >= submitted(q) || r != q->seen_rptr || f != q->seen_fence) {
		q->seen_rptr = r;
		q->seen_fence = f;
		q->seen_ns = now;
		return false;
	}
	uint32_t ms = __atomic_load_n(&q->gpu->hang_timeout_ms, __ATOMIC_RELAXED);
	if (now - q->seen_ns < (uint64_t)ms * 1000000u)
		return false;
	tb_gpu_fail_locked(q->gpu, "hang: %s queue %u made no progress for %u ms with work outstanding",
			   q->kind == TB_QUEUE_COPY ? "SDMA" : "compute", q->queue_id, ms);
	return true;
}

bool tb_gpu_check_hangs(struct tb_gpu *g)
{
	uint64_t now = now_ns();
	pthread_mutex_lock(&g->lock);
	for (struct tb_queue *q = g->queues; q; q = q->next)
		stalled(q, now);
	pthread_mutex_unlock(&g->lock);
	return tb_gpu_failed(g);
}

static bool fetched_to(const struct tb_queue *q, uint64_t dword)
{
	return consumed(q) >= dword;
}

static bool completed_to(const struct tb_queue *q, uint64_t seq)
{
	return completed(q) >= seq;
}

/* Wait for the engine to get somewhere by itself: no limit while it makes
 * progress; -EIO once the GPU failed or this queue is declared hung. */
static int wait_engine(struct tb_queue *q, bool (*there)(const struct tb_queue *, uint64_t), uint64_t arg)
{
	long nap_ns = 20000;
	while (!there(q, arg)) {
		pthread_mutex_lock(&q->gpu->lock);
		stalled(q, now_ns());
		pthread_mutex_unlock(&q->gpu->lock);
		if (tb_gpu_failed(q->gpu))
			return -EIO;
		struct timespec ts = { 0, nap_ns };
		nanosleep(&ts, NULL);
		nap_ns = nap_ns < 1000000 ? nap_ns * 2 : 1000000;
	}
	return 0;
}

/* Arguments of batches whose completion value has landed are free. */
static void retire_kernargs(struct tb_queue *q)
{
	uint64_t done = completed(q);
	while (q->ka_count && q->ka_used[q->ka_first].seq <= done) {
		q->ka_tail = q->ka_used[q->ka_first].head;
		q->ka_first = (q->ka_first + 1) % KERNARG_USES;
		q->ka_count--;
	}
}

/* Room in the kernarg ring for one dispatch: space is reused once the
 * batches that used it have completed (not merely been fetched: the CP
 * reads a dispatch's arguments while it runs). */
static int kernarg_space(struct tb_queue *q, uint64_t bytes, uint64_t *off)
{
	if (q->recording) {
		/* a recording's arguments live as long as the recording */
		if (q->rec_kernarg_next + bytes > REC_KERNARG_BYTES)
			return -ENOSPC;
		*off = q->rec_kernarg_next;
		q->rec_kernarg_next = (q->rec_kernarg_next + bytes + 255) & ~255ull;
		return 0;
	}
	if (bytes > KERNARG_BYTES)
		return -E2BIG;
	retire_kernargs(q);
	uint64_t pos = q->ka_head, in = pos % KERNARG_BYTES;
	/* nothing in use: start again at the ring's beginning, whose lines the
	 * last batches warmed, instead of writing cold memory further on (a
	 * launch-and-wait loop then reuses a few cache lines, not 1 MiB) */
	if (!q->ka_count && !q->ka_batch && in) {
		pos += KERNARG_BYTES - in;
		in = 0;
	}
	if (in + bytes > KERNARG_BYTES)
		pos += KERNARG_BYTES - in;	/* a block does not straddle the ring's end */
	for (;;) {
		if (!q->ka_count && !q->ka_batch)
			q->ka_tail = pos;	/* nothing in use */
		if (pos + bytes <= q->ka_tail + KERNARG_BYTES)
			break;
		if (!q->ka_count)
			return -ENOSPC;	/* the batch being built holds the rest: submit it first */
		int rc = wait_engine(q, completed_to, q->ka_used[q->ka_first].seq);
		if (rc < 0)
			return rc;
		retire_kernargs(q);
	}
	*off = pos % KERNARG_BYTES;
	q->ka_head = (pos + bytes + 255) & ~255ull;
	q->ka_batch = true;
	return 0;
}

int tb_dispatch_check(const struct tb_kernel *k, const uint32_t grid[3], const uint32_t block[3])
{
	uint64_t items = 1, threads = 1;
	for (int i = 0; i < 3; i++) {
		if (!block[i] || !grid[i])
			return -EINVAL;
		items *= grid[i];	/* at most 2^96: checked per step */
		if (items > TB_MAX_GRID_WORK_ITEMS)
			return -EINVAL;
		threads *= block[i];
	}
	uint32_t max_block = k->max_flat_workgroup_size ? k->max_flat_workgroup_size : TB_MAX_WORKGROUP_SIZE;
	if (threads > max_block || threads > TB_MAX_WORKGROUP_SIZE)
		return -EINVAL;
	for (uint32_t i = 0; i < k->nargs; i++)
		if (k->args[i].kind == TB_ARG_DYNAMIC_SHARED_POINTER)
			return -EOPNOTSUPP;	/* no way to give it a size: refused */
	return 0;
}

static int ensure_scratch(struct tb_queue *q, const struct tb_kernel *k)
{
	if (!k->private_segment_size)
		return 0;
	/* wave32: each wave needs 32 lanes' private memory, in 256-byte units,
	 * as much as COMPUTE_TMPRING_SIZE.WAVESIZE can say */
	uint64_t wave_bytes = ((uint64_t)k->private_segment_size * 32 + TMPRING_WAVESIZE_UNIT - 1) &
			      ~(uint64_t)(TMPRING_WAVESIZE_UNIT - 1);
	if (wave_bytes / TMPRING_WAVESIZE_UNIT > TMPRING_WAVESIZE_MAX)
		return -E2BIG;
	if (q->scratch && wave_bytes <= q->scratch_wave_bytes)
		return 0;
	/* waves with scratch at once, per shader engine: every wave slot of
	 * the engine's CUs (16 per CU) */
	uint32_t ses = 6, waves = q->gpu->info.cu_count / ses * 16;
	if (waves > TMPRING_WAVES_MAX)
		waves = TMPRING_WAVES_MAX;
	struct tb_bo *bo;
	int rc = tb_bo_alloc(q->gpu, (uint64_t)waves * ses * wave_bytes, TB_MEM_VRAM, &bo);
	if (rc < 0)
		return rc;
	/* submitted work and recordings may still use the outgrown area: it
	 * stays until the queue goes (areas only grow, so there are few) */
	if (q->scratch) {
		if (q->nold_scratch == 16) {
			tb_bo_free(bo);
			return -ENOSPC;
		}
		q->old_scratch[q->nold_scratch++] = q->scratch;
	}
	q->scratch = bo;
	q->scratch_wave_bytes = (uint32_t)wave_bytes;
	q->tmpring = S_00B860_WAVES(waves) | S_00B860_WAVESIZE_GFX11(wave_bytes / TMPRING_WAVESIZE_UNIT);
	return 0;
}

int tb_queue_dispatch(struct tb_queue *q, const struct tb_program *p, const struct tb_kernel *k, const void *args,
		      size_t args_size, const uint32_t grid[3], const uint32_t block[3])
{
	return tb_queue_dispatch_ex(q, p, k, args, args_size, grid, block, NULL);
}

int tb_queue_dispatch_ex(struct tb_queue *q, const struct tb_program *p, const struct tb_kernel *k, const void *args,
			 size_t args_size, const uint32_t grid[3], const uint32_t block[3], void **kernarg)
{
	if (q->kind != TB_QUEUE_COMPUTE || p->gpu != q->gpu)
		return -EINVAL;
	int rc = tb_dispatch_check(k, grid, block);
	if (rc < 0)
		return rc;
	/* a grid that is no multiple of the block ends in partial workgroups:
	 * the dimensions then count work-items */
	bool partial = grid[0] % block[0] || grid[1] % block[1] || grid[2] % block[2];
	uint32_t explicit_end = 0;
	for (uint32_t i = 0; i < k->nexplicit; i++)
		if (k->args[i].offset + k->args[i].size > explicit_end)
			explicit_end = k->args[i].offset + k->args[i].size;
	/* a C struct of the arguments may carry tail padding past the segment */
	if (args_size < explicit_end || args_size > ((k->kernarg_size + 15) & ~15u))
		return -EINVAL;
	if (args_size > k->kernarg_size)
		args_size = k->kernarg_size;
	rc = ensure_scratch(q, k);
	uint64_t off;
	uint64_t bytes = ((k->kernarg_size + 63) & ~63u) + sizeof(struct dispatch_packet);
	if (rc == 0)
		rc = kernarg_space(q, bytes, &off);
	if (rc < 0)
		return rc;
	struct tb_bo *kbo = q->recording ? q->rec_kernargs : q->kernargs;
	uint8_t *ka = (uint8_t *)kbo->cpu + off;
	uint64_t ka_va = kbo->va + off;
	if (kernarg)
		*kernarg = ka;
	memset(ka, 0, bytes);
	memcpy(ka, args, args_size);
	for (uint32_t i = k->nexplicit; i < k->nargs; i++) {
		uint64_t v = hidden_value(k->args[i].hidden, grid, block);
		memcpy(ka + k->args[i].offset, &v, k->args[i].size < 8 ? k->args[i].size : 8);
	}
	struct dispatch_packet *dp = (void *)(ka + ((k->kernarg_size + 63) & ~63u));
	uint64_t dp_va = ka_va + ((k->kernarg_size + 63) & ~63u);
	dp->setup = (uint16_t)hidden_value(TB_HIDDEN_GRID_DIMS, grid, block);
	for (int i = 0; i < 3; i++) {
		dp->workgroup_size[i] = (uint16_t)block[i];
		dp->grid_size[i] = grid[i];
	}
	dp->private_segment_size = k->private_segment_size;
	dp->group_segment_size = k->group_segment_size;
	dp->kernel_object = p->code->va + k->kd_offset;
	dp->kernarg_address = ka_va;

	uint64_t scratch_va = q->scratch ? q->scratch->va : 0;
	/* the private segment buffer: a V# over scratch, every record in
	 * range, swizzled per lane (ADD_TID) with a wave32 stride */
	uint32_t psb_w1 = hi(scratch_va) | S_008F04_SWIZZLE_ENABLE_GFX11(SWIZZLE_ENABLE_8_BYTES);
	uint32_t psb_w3 = S_008F0C_FORMAT_GFX11(V_008F0C_GFX11_FORMAT_32_FLOAT) |
			  S_008F0C_INDEX_STRIDE(V_008F0C_INDEX_STRIDE_32) | S_008F0C_ADD_TID_ENABLE(1) |
			  S_008F0C_OOB_SELECT(V_008F0C_OOB_SELECT_DISABLED);
	uint64_t psb[2] = { (uint64_t)psb_w1 << 32 | lo(scratch_va), (uint64_t)psb_w3 << 32 | 0xffffffffu };
	uint32_t ud[16];
	unsigned nud = tb_kernel_user_sgprs(k, psb, dp_va, 0, ka_va, 0, ud);
	uint64_t pgm = p->code->va + k->entry_offset;
	uint32_t lds = (k->group_segment_size + LDS_GRANULARITY - 1) / LDS_GRANULARITY;

	/* write back and invalidate the caches before new code runs */
	acquire_mem_all(q);
	set_sh(q, R_00B830_COMPUTE_PGM_LO, (uint32_t[]){ lo(pgm >> 8), hi(pgm >> 8) }, 2);
	set_sh(q, R_00B848_COMPUTE_PGM_RSRC1, (uint32_t[]){ k->rsrc1, k->rsrc2 | S_00B84C_LDS_SIZE(lds) }, 2);
	set_sh(q, R_00B8A0_COMPUTE_PGM_RSRC3, (uint32_t[]){ k->rsrc3 }, 1);
	set_sh(q, R_00B860_COMPUTE_TMPRING_SIZE, (uint32_t[]){ q->tmpring }, 1);
	set_sh(q, R_00B840_COMPUTE_DISPATCH_SCRATCH_BASE_LO, (uint32_t[]){ lo(scratch_va >> 8), hi(scratch_va >> 8) }, 2);
	set_sh(q, R_00B86C_COMPUTE_RESTART_X, (uint32_t[]){ 0, 0, 0 }, 3);
	set_sh(q, R_00B858_COMPUTE_STATIC_THREAD_MGMT_SE0, (uint32_t[]){ CU_MASK_ALL, CU_MASK_ALL }, 2);
	if (nud)
		set_sh(q, R_00B900_COMPUTE_USER_DATA_0, ud, nud);
	set_sh(q, R_00B854_COMPUTE_RESOURCE_LIMITS, (uint32_t[]){ 0 }, 1);
	/* COMPUTE_START_X/Y/Z, then COMPUTE_NUM_THREAD_X/Y/Z */
	set_sh(q, R_00B810_COMPUTE_START_X, (uint32_t[]){ 0, 0, 0, block[0], block[1], block[2] }, 6);
	uint32_t initiator = S_00B800_COMPUTE_SHADER_EN(1) | S_00B800_FORCE_START_AT_000(1) | S_00B800_CS_W32_EN(1);
	/* partial workgroups: the dimensions count work-items */
	if (partial)
		EMIT(q, PKT3(PKT3_DISPATCH_DIRECT, 4), grid[0], grid[1], grid[2],
		     initiator | S_00B800_PARTIAL_TG_EN(1) | S_00B800_USE_THREAD_DIMENSIONS(1));
	else
		EMIT(q, PKT3(PKT3_DISPATCH_DIRECT, 4), grid[0] / block[0], grid[1] / block[1], grid[2] / block[2],
		     initiator);
	cs_partial_flush(q);
	return q->overflow ? -ENOSPC : 0;
}

/* ---- signals, waits, timestamps ------------------------------------------------------------------------ */

static uint64_t signal_va(const struct tb_signal *s)
{
	return s->bo->va;
}

int tb_queue_signal(struct tb_queue *q, struct tb_signal *s, uint64_t value)
{
	return tb_queue_signal_ex(q, s, value, NULL);
}

int tb_queue_signal_ex(struct tb_queue *q, struct tb_signal *s, uint64_t value, uint32_t *patch)
{
	if (s->gpu != q->gpu)
		return -EINVAL;	/* its memory is mapped on its own GPU only */
	if (q->kind == TB_QUEUE_COMPUTE) {
		if (patch)
			*patch = q->nstaged + 5;	/* RELEASE_MEM's DATA_LO */
		release_mem(q, signal_va(s), value, EOP_DATA_SEL_VALUE_64BIT, EOP_INT_SEL_NONE, 0);
		/* the event's mailbox, then the interrupt that names it */
		release_mem(q, s->mailbox_va, s->event_id, EOP_DATA_SEL_VALUE_32BIT, EOP_INT_SEL_SEND_INT_AFTER_WR_CONFIRM,
			    s->event_id);
	} else {
		/* low half first: a waiter may see a smaller value, never a larger one */
		if (patch)
			*patch = UINT32_MAX;	/* SDMA queues are not recorded */
		EMIT(q, SDMA_OP_FENCE, lo(signal_va(s)), hi(signal_va(s)), lo(value));
		EMIT(q, SDMA_OP_FENCE, lo(signal_va(s) + 4), hi(signal_va(s) + 4), hi(value));
		EMIT(q, SDMA_OP_FENCE, lo(s->mailbox_va), hi(s->mailbox_va), s->event_id);
		EMIT(q, SDMA_OP_TRAP, SDMA_TRAP_INT_CONTEXT(s->event_id));
	}
	return q->overflow ? -ENOSPC : 0;
}

/* Compute queues compare all 64 bits (WAIT_REG_MEM64); SDMA's poll packet
 * compares 32, so a copy queue refuses values above 2^32 - 1. */
int tb_queue_wait(struct tb_queue *q, struct tb_signal *s, uint64_t value)
{
	return tb_queue_wait_ex(q, s, value, NULL);
}

/* A queue waits on its own GPU's signals and on those mapped on its GPU. */
static bool signal_reachable(const struct tb_queue *q, const struct tb_signal *s)
{
	return s->gpu == q->gpu || (s->bo->peers & (1ull << tb_gpu_info(q->gpu)->index));
}

int tb_queue_wait_ex(struct tb_queue *q, struct tb_signal *s, uint64_t value, uint32_t *patch)
{
	if (!signal_reachable(q, s))
		return -EINVAL;
	if (q->kind == TB_QUEUE_COPY && value > UINT32_MAX)
		return -ERANGE;
	uint64_t va = signal_va(s);
	if (patch)
		*patch = q->kind == TB_QUEUE_COMPUTE ? q->nstaged + 4 : q->nstaged + 3;	/* the reference */
	if (q->kind == TB_QUEUE_COMPUTE)
		EMIT(q, PKT3(PKT3_WAIT_REG_MEM64, 8),
		     WAIT_REG_MEM_FUNCTION(WAIT_REG_MEM_GREATER_OR_EQUAL) | WAIT_REG_MEM_MEM_SPACE(1), lo(va), hi(va),
		     lo(value), hi(value), 0xffffffff, 0xffffffff, WAIT_REG_MEM_POLL_INTERVAL);	/* mask: all bits */
	else
		EMIT(q, SDMA_OP_POLL_REGMEM | SDMA_POLL_REGMEM_MEM_POLL | SDMA_POLL_REGMEM_FUNC(WAIT_REG_MEM_GREATER_OR_EQUAL),
		     lo(va), hi(va), lo(value), 0xffffffff, SDMA_POLL_REGMEM_RETRY_COUNT(0xfff) | SDMA_POLL_REGMEM_INTERVAL(10));
	return q->overflow ? -ENOSPC : 0;
}

int tb_queue_timestamp(struct tb_queue *q, struct tb_signal *s)
{
	if (s->gpu != q->gpu)
		return -EINVAL;
	uint64_t va = signal_va(s) + 8;
	if (q->kind == TB_QUEUE_COMPUTE)
		release_mem(q, va, 0, EOP_DATA_SEL_TIMESTAMP, EOP_INT_SEL_NONE, 0);
	else
		EMIT(q, SDMA_OP_TIMESTAMP | SDMA_SUB_OP(SDMA_SUBOP_TIMESTAMP_GET_GLOBAL), lo(va), hi(va));
	return q->overflow ? -ENOSPC : 0;
}

int tb_queue_barrier(struct tb_queue *q)
{
	if (q->kind == TB_QUEUE_COMPUTE) {
		cs_partial_flush(q);
		acquire_mem_all(q);
	} else {
		EMIT(q, SDMA_OP_GCR_REQ, 0, 0, 0, 0);
	}
	return q->overflow ? -ENOSPC : 0;
}

/* ---- copies -------------------------------------------------------------------------------------------- */

int tb_queue_copy(struct tb_queue *q, uint64_t dst_va, uint64_t src_va, uint64_t bytes)
{
	if (q->kind != TB_QUEUE_COPY)
		return -EINVAL;
	for (uint64_t off = 0; off < bytes; off += SDMA_MAX_COPY) {
		uint64_t n = bytes - off < SDMA_MAX_COPY ? bytes - off : SDMA_MAX_COPY;
		EMIT(q, SDMA_OP_COPY, (uint32_t)(n - 1), 0, lo(src_va + off), hi(src_va + off), lo(dst_va + off),
		     hi(dst_va + off));
	}
	return q->overflow ? -ENOSPC : 0;
}

int tb_queue_fill(struct tb_queue *q, uint64_t dst_va, uint32_t value, uint64_t bytes)
{
	if (q->kind != TB_QUEUE_COPY || (bytes & 3) || (dst_va & 3))
		return -EINVAL;
	for (uint64_t off = 0; off < bytes; off += SDMA_MAX_COPY) {
		uint64_t n = bytes - off < SDMA_MAX_COPY ? bytes - off : SDMA_MAX_COPY;
		EMIT(q, SDMA_OP_CONST_FILL | SDMA_CONST_FILL_FILLSIZE(2), lo(dst_va + off), hi(dst_va + off), value, (uint32_t)(n - 1));
	}
	return q->overflow ? -ENOSPC : 0;
}

/* ---- recording ---------------------------------------------------------------------------------------------- */

int tb_queue_record_begin(struct tb_queue *q)
{
	if (q->kind != TB_QUEUE_COMPUTE || q->recording || q->nstaged)
		return -EINVAL;	/* record on an idle compute queue's empty batch */
	int rc = tb_bo_alloc(q->gpu, REC_KERNARG_BYTES, TB_MEM_HOST, &q->rec_kernargs);
	if (rc < 0)
		return rc;
	q->recording = true;
	q->rec_kernarg_next = 0;
	return 0;
}

int tb_queue_record_end(struct tb_queue *q, struct tb_cmdbuf **out)
{
	if (!q->recording)
		return -EINVAL;
	q->recording = false;
	struct tb_cmdbuf *cb = calloc(1, sizeof *cb);
	int rc = cb ? 0 : -ENOMEM;
	if (rc == 0 && (q->overflow || !q->nstaged))
		rc = q->overflow ? -ENOSPC : -ENODATA;
	if (rc == 0)
		rc = tb_bo_alloc(q->gpu, (uint64_t)q->nstaged * 4, TB_MEM_HOST, &cb->ib);
	if (rc == 0) {
		memcpy(cb->ib->cpu, q->staging, (size_t)q->nstaged * 4);
		cb->ndw = q->nstaged;
		cb->kernargs = q->rec_kernargs;
		cb->gpu = q->gpu;
		q->rec_kernargs = NULL;
		*out = cb;
	}
	q->nstaged = 0;
	q->overflow = false;
	if (rc < 0) {
		tb_bo_free(q->rec_kernargs);
		q->rec_kernargs = NULL;
		free(cb);
	}
	return rc;
}

int tb_queue_replay(struct tb_queue *q, const struct tb_cmdbuf *cb)
{
	if (q->recording || cb->gpu != q->gpu || q->kind != TB_QUEUE_COMPUTE)
		return -EINVAL;
	uint64_t va = cb->ib->va;
	EMIT(q, PKT3(PKT3_INDIRECT_BUFFER, 3), lo(va) & ~3u, hi(va) & 0xffff, cb->ndw | INDIRECT_BUFFER_VALID);
	return q->overflow ? -ENOSPC : 0;
}

int tb_cmdbuf_patch32(struct tb_cmdbuf *cb, uint32_t index, uint32_t value)
{
	if (index >= cb->ndw)
		return -EINVAL;
	__atomic_store_n(&((uint32_t *)cb->ib->cpu)[index], value, __ATOMIC_RELEASE);
	return 0;
}

int tb_cmdbuf_patch64(struct tb_cmdbuf *cb, uint32_t index, uint64_t value)
{
	if (index + 1 >= cb->ndw || index + 1 < index)
		return -EINVAL;
	tb_cmdbuf_patch32(cb, index, lo(value));
	return tb_cmdbuf_patch32(cb, index + 1, hi(value));
}

void tb_cmdbuf_free(struct tb_cmdbuf *cb)
{
	if (!cb)
		return;
	tb_bo_free(cb->ib);
	tb_bo_free(cb->kernargs);
	free(cb);
}

int tb_queue_raw(struct tb_queue *q, const uint32_t *dwords, uint32_t n)
{
	emit(q, dwords, n);
	return q->overflow ? -ENOSPC : 0;
}

/* ---- submission ---------------------------------------------------------------------------------------------- */

/* The engine's read pointer, in dwords. */
static uint64_t consumed(const struct tb_queue *q)
{
	uint64_t r = __atomic_load_n(q->rptr, __ATOMIC_ACQUIRE);
	return q->kind == TB_QUEUE_COPY ? r / 4 : r;
}

/* The packet that ends a batch: its number, written once the work before
 * it is done (64 bits; SDMA writes the low half first, so a reader may see
 * a smaller value, never a larger one). */
static uint32_t fence_packet(const struct tb_queue *q, uint64_t seq, uint32_t dw[FENCE_DWORDS])
{
	uint64_t va = q->pointers->va + FENCE_OFFSET;
	if (q->kind == TB_QUEUE_COMPUTE) {
		const uint32_t p[] = { PKT3(PKT3_RELEASE_MEM, 7), RELEASE_MEM_EVENT,
				       EOP_DATA_SEL(EOP_DATA_SEL_VALUE_64BIT) | EOP_INT_SEL(EOP_INT_SEL_NONE),
				       lo(va), hi(va), lo(seq), hi(seq), 0 };
		memcpy(dw, p, sizeof p);
		return 8;
	}
	const uint32_t p[] = { SDMA_OP_FENCE, lo(va), hi(va), lo(seq), SDMA_OP_FENCE, lo(va + 4), hi(va + 4), hi(seq) };
	memcpy(dw, p, sizeof p);
	return 8;
}

static void note_submitted(struct tb_queue *q)
{
	pthread_mutex_lock(&q->gpu->lock);
	if (completed(q) >= q->seq)
		q->seen_ns = now_ns();	/* it was idle: its clock starts now */
	__atomic_store_n(&q->seq, q->seq + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&q->gpu->lock);
	if (!q->ka_batch)
		return;
	q->ka_batch = false;
	if (q->ka_count == KERNARG_USES) {
		/* merged into the newest: retired a little later */
		uint32_t last = (q->ka_first + q->ka_count - 1) % KERNARG_USES;
		q->ka_used[last].seq = q->seq;
		q->ka_used[last].head = q->ka_head;
		return;
	}
	uint32_t i = (q->ka_first + q->ka_count++) % KERNARG_USES;
	q->ka_used[i].seq = q->seq;
	q->ka_used[i].head = q->ka_head;
}

int tb_queue_submit(struct tb_queue *q)
{
	if (q->overflow) {
		q->overflow = false;
		q->nstaged = 0;
		return -ENOSPC;
	}
	if (q->recording)
		return -EBUSY;	/* the batch is a recording until record_end */
	if (!q->nstaged)
		return 0;
	if (tb_gpu_failed(q->gpu))
		return -EIO;
	const uint32_t ring_dwords = RING_BYTES / 4;
	uint32_t fence[FENCE_DWORDS];
	uint32_t nfence = fence_packet(q, q->seq + 1, fence), n = q->nstaged + nfence;
	/* a full ring waits for the engine to fetch; a hung engine never does */
	if (q->put + n > ring_dwords) {
		int rc = wait_engine(q, fetched_to, q->put + n - ring_dwords);
		if (rc < 0)
			return rc;
	}
	uint32_t *ring = q->ring->cpu;
	for (uint32_t i = 0; i < q->nstaged; i++)
		ring[(q->put + i) % ring_dwords] = q->staging[i];
	for (uint32_t i = 0; i < nfence; i++)
		ring[(q->put + q->nstaged + i) % ring_dwords] = fence[i];
	q->put += n;
	q->nstaged = 0;
	note_submitted(q);
	uint64_t w = q->kind == TB_QUEUE_COPY ? q->put * 4 : q->put;
	__atomic_store_n(q->wptr, w, __ATOMIC_RELEASE);
	__atomic_store_n(q->doorbell, w, __ATOMIC_RELEASE);
	return 0;
}
