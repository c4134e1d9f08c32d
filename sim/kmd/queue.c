/* User-mode queues on the simulated GPUs: each queue has a thread that
 * watches its doorbell, as the hardware's scheduler does, and runs its
 * engine (sim/gpu) when the write pointer moves.  Launching work therefore
 * needs no system call, as on the real box.  Hangs, faults, evictions and
 * GPU resets happen here.
 *
 * The threads outlive their queues: a removed queue's thread waits in a
 * pool for the next queue.  A fresh thread's first dispatch paid for its
 * malloc arena, its emulator state and its stack being faulted in (80-210
 * us of CPU on a virtual machine, against 25-65 us warm): the cost of the
 * first launch on every new queue, which tinygrad measures. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <semaphore.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "sim/gpu/engine.h"
#include "sim/kmd/kfd_priv.h"

struct sim_queue {
	uint32_t type;
	bool sdma;
	struct kfd_process *p;
	struct sim_gpu *g;
	uint64_t ring_va, rptr_va, wptr_va;
	uint32_t ring_size;
	uint32_t doorbell_off;
	uint64_t *doorbell;
	struct pm4_queue *pm4;
	struct sdma_queue *sdmaq;
	struct engine_env env;
	sem_t released;		/* its thread let go of it */
	atomic_int stop;
	atomic_int cancel;	/* env.cancel: removal, reset */
	atomic_int suspended;	/* env.preempt: its process's queues are evicted */
	atomic_int hung;	/* injected: the queue makes no progress (enum hang) */
	atomic_int dead;	/* faulted or evicted: never runs again */
	atomic_int busy;	/* running packets right now */
	uint64_t done_wptr;
	uint64_t busy_ns;
	struct sim_queue *next;	/* all queues (for resets and faults) */
};

/* How an injected hang shows: a stuck queue does not preempt either (its
 * removal resets the GPU); a silent one stops fetching but preempts, so
 * nothing but its own lack of progress ever tells. */
enum hang { HANG_NONE, HANG_STUCK, HANG_SILENT };

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sim_queue *all_queues;

/* ---- the engine's view of the box ----------------------------------------------------- */

static void on_interrupt(void *ctx, int src_id, uint32_t ctxid)
{
	struct sim_queue *q = ctx;
	(void)src_id;
	kfd_signal_interrupt(q->p, ctxid);
}

static void on_fault(void *ctx, enum isa_status kind, uint64_t addr, bool write, const char *message)
{
	struct sim_queue *q = ctx;
	atomic_store(&q->dead, 1);
	if (kind == ISA_MEMORY_FAULT) {
		klog("amdgpu %s: [gfxhub] page fault (src_id:0 ring:%s pasid:%d) at address 0x%012llx%s: %s", q->g->bdf,
		     q->sdma ? "sdma0" : "comp_1.0.0", q->p->pid, (unsigned long long)addr, write ? " (write)" : "",
		     message);
		kfd_signal_memory_fault(q->p, q->g, addr, write, true);
	} else {
		klog("amdgpu %s: queue of process %d stopped: %s", q->g->bdf, q->p->pid, message);
		kfd_signal_hw_exception(q->p, q->g, KFD_HW_EXCEPTION_GPU_HANG);
	}
}

/* A peer's engine can write into this GPU's VRAM too: every GPU's stuck
 * cells are re-asserted (there are none but for an injected fault). */
static void on_between_packets(void *ctx)
{
	(void)ctx;
	box_vram_stuck_reassert(g_box);
}

static uint64_t gpu_clock(void)
{
	return box_now_ns() / 10;
}

/* ---- the queue's thread --------------------------------------------------------------- */

static void nap(uint64_t ns)
{
	struct timespec ts = { 0, (long)ns };
	nanosleep(&ts, NULL);
}

static void serve_queue(struct sim_queue *q)
{
	uint64_t last_work = box_now_ns();
	bool waiting = false;
	uint64_t wait_nap = 0;
	while (!atomic_load(&q->stop)) {
		uint64_t w = __atomic_load_n(q->doorbell, __ATOMIC_ACQUIRE);
		bool work = (w != q->done_wptr || waiting) && !atomic_load(&q->dead);
		/* busy is raised before suspended is read, and an eviction sets
		 * suspended before it reads busy: one of the two sees the other */
		if (work && !atomic_load(&q->hung))
			atomic_store(&q->busy, 1);
		if (work && !atomic_load(&q->hung) && atomic_load(&q->suspended)) {
			atomic_store(&q->busy, 0);
			work = false;
		}
		if (work && !atomic_load(&q->hung)) {
			uint64_t t0 = box_now_ns();
			enum engine_state st = q->sdma ? sdma_run(q->sdmaq, &q->env, w) : pm4_run(q->pm4, &q->env, w);
			on_between_packets(q);	/* after the last packet too: the host may read next */
			atomic_store(&q->busy, 0);
			uint64_t t1 = box_now_ns();
			q->busy_ns += t1 - t0;
			last_work = t1;
			waiting = st == ENGINE_WAITING;
			if (st == ENGINE_IDLE)
				q->done_wptr = w;
			else if (st == ENGINE_FAULTED || st == ENGINE_CANCELLED)
				atomic_store(&q->dead, 1);
			/* a wait packet: look again soon, backing off to 1 ms so that a
			 * long wait costs no host core */
			wait_nap = waiting ? (wait_nap ? (wait_nap * 2 < 1000000 ? wait_nap * 2 : 1000000) : 20000) : 0;
			if (waiting)
				nap(wait_nap);
			continue;
		}
		/* idle: poll the doorbell quickly after recent work, lazily after long idleness */
		uint64_t idle = box_now_ns() - last_work;
		nap(idle < 2000000 ? 20 * 1000 : idle < 100000000 ? 200 * 1000 : 1000 * 1000);
	}
}

/* ---- the engine threads, and their pool ------------------------------------------------- */

struct engine_thread {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sim_queue *q;		/* the queue it serves; NULL while pooled */
	struct engine_thread *next;	/* in the pool */
};

/* Threads kept for queues to come: enough for a process's queues on every
 * GPU to come and go without a fresh one, few enough that idle ones cost
 * little (each keeps its stack and emulator state). */
enum { POOL_MAX = 16 };

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct engine_thread *pool;
static int pooled;

/* Back into the pool; false when it is full and the thread should end. */
static bool pool_put(struct engine_thread *t)
{
	pthread_mutex_lock(&pool_lock);
	bool kept = pooled < POOL_MAX;
	if (kept) {
		t->next = pool;
		pool = t;
		pooled++;
	}
	pthread_mutex_unlock(&pool_lock);
	return kept;
}

static struct engine_thread *pool_take(void)
{
	pthread_mutex_lock(&pool_lock);
	struct engine_thread *t = pool;
	if (t) {
		pool = t->next;
		pooled--;
	}
	pthread_mutex_unlock(&pool_lock);
	return t;
}

static void *engine_main(void *arg)
{
	struct engine_thread *t = arg;
	/* the doorbell is polled with short naps: without this each would
	 * last the default 50 us of timer slack longer than asked */
	prctl(PR_SET_TIMERSLACK, 1000UL);
	for (;;) {
		pthread_mutex_lock(&t->lock);
		while (!t->q)
			pthread_cond_wait(&t->cond, &t->lock);
		struct sim_queue *q = t->q;
		pthread_mutex_unlock(&t->lock);
		serve_queue(q);
		pthread_mutex_lock(&t->lock);
		t->q = NULL;
		pthread_mutex_unlock(&t->lock);
		sem_post(&q->released);		/* q may be freed from here on */
		if (!pool_put(t))
			break;
	}
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return NULL;
}

/* A thread for q: a pooled one, else a new one.  Returns 0 or -errno. */
static int engine_thread_start(struct sim_queue *q)
{
	struct engine_thread *t = pool_take();
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t)
			return -ENOMEM;
		pthread_mutex_init(&t->lock, NULL);
		pthread_cond_init(&t->cond, NULL);
		pthread_t id;
		int e = pthread_create(&id, NULL, engine_main, t);
		if (e != 0) {
			pthread_cond_destroy(&t->cond);
			pthread_mutex_destroy(&t->lock);
			free(t);
			return -e;
		}
		pthread_detach(id);
	}
	pthread_mutex_lock(&t->lock);
	t->q = q;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct sim_queue *queue_create(struct kfd_process *p, struct sim_gpu *g, const struct kfd_ioctl_create_queue_args *a,
			       uint32_t doorbell_offset, int *err)
{
	struct sim_queue *q = calloc(1, sizeof *q);
	if (!q) {
		*err = -ENOMEM;
		return NULL;
	}
	q->type = a->queue_type;
	q->sdma = a->queue_type == KFD_IOC_QUEUE_TYPE_SDMA || a->queue_type == KFD_IOC_QUEUE_TYPE_SDMA_XGMI;
	q->p = p;
	q->g = g;
	q->ring_va = a->ring_base_address;
	q->ring_size = a->ring_size;
	q->rptr_va = a->read_pointer_address;
	q->wptr_va = a->write_pointer_address;
	q->doorbell_off = doorbell_offset;
	struct pdd *d = &p->pdd[g->index];
	q->doorbell = (uint64_t *)(void *)(d->doorbells + doorbell_offset);
	/* a new queue starts with its doorbell at zero */
	__atomic_store_n(q->doorbell, 0, __ATOMIC_RELEASE);
	q->env = (struct engine_env){
		.mem = { vm_lookup, &d->vm },
		.interrupt = on_interrupt,
		.fault = on_fault,
		.ctx = q,
		.clock = gpu_clock,
		.cancel = (const int *)&q->cancel,
		.preempt = (const int *)&q->suspended,
		.between_packets = on_between_packets,
		.isa_threads = 0,
		.shared_aperture = APE_LDS_BASE,
		.private_aperture = APE_SCRATCH_BASE,
		.max_wave_instructions = 0,
	};
	if (q->sdma)
		q->sdmaq = sdma_queue_create(q->ring_va, q->ring_size, q->rptr_va, q->wptr_va);
	else
		q->pm4 = pm4_queue_create(q->ring_va, q->ring_size, q->rptr_va, q->wptr_va);
	bool made = (q->sdma && q->sdmaq) || (!q->sdma && q->pm4);
	if (made && sem_init(&q->released, 0, 0) != 0)
		made = false;
	if (!made || engine_thread_start(q) != 0) {
		if (made)
			sem_destroy(&q->released);
		if (q->sdmaq)
			sdma_queue_destroy(q->sdmaq);
		if (q->pm4)
			pm4_queue_destroy(q->pm4);
		free(q);
		*err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&all_lock);
	atomic_store(&q->hung, atomic_exchange(&g->hang_next[q->sdma], HANG_NONE));
	/* a queue created while its process is evicted waits for the restore */
	atomic_store(&q->suspended, atomic_load(&p->queues_evicted) > 0);
	q->next = all_queues;
	all_queues = q;
	pthread_mutex_unlock(&all_lock);
	return q;
}

static void unlink_queue(struct sim_queue *q)
{
	pthread_mutex_lock(&all_lock);
	for (struct sim_queue **pp = &all_queues; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	pthread_mutex_unlock(&all_lock);
}

/* MES answers REMOVE_QUEUE unless a mes-hang fault says this removal is
 * the one it stops answering at. */
static bool mes_answers_removal(struct sim_gpu *g)
{
	int left = atomic_load(&g->mes_hang);
	while (left > 0 && !atomic_compare_exchange_weak(&g->mes_hang, &left, left - 1))
		;
	return left != 1;
}

static void stop_queue(struct sim_queue *q)
{
	unlink_queue(q);
	atomic_store(&q->stop, 1);
	atomic_store(&q->cancel, 1);
	while (sem_wait(&q->released) != 0)
		;	/* EINTR */
	sem_destroy(&q->released);
}

int queue_destroy(struct sim_queue *q)
{
	int rc = 0;
	bool dead = atomic_load(&q->dead);
	if (!dead && !mes_answers_removal(q->g)) {
		/* the firmware stops answering: the driver gives up on MES after its
		 * timeout and resets the GPU (mes_v11_0_submit_pkt_and_poll_completion) */
		klog("amdgpu %s: MES failed to respond to msg=REMOVE_QUEUE", q->g->bdf);
		klog("amdgpu %s: failed to remove hardware queue from MES, doorbell=0x%x", q->g->bdf, q->doorbell_off / 8);
		klog("amdgpu %s: MES might be in unrecoverable state, issue a GPU reset", q->g->bdf);
		stop_queue(q);
		gpu_reset(q->g, "MES hang");
		rc = -ETIMEDOUT;
	} else if (!dead && atomic_load(&q->hung) == HANG_STUCK) {
		/* Taking a queue off the hardware means preempting it; a hung queue
		 * does not preempt, and the driver resets the GPU to get it back. */
		klog("amdgpu %s: failed to remove hardware queue from MES, doorbell=0x%x", q->g->bdf, q->doorbell_off / 8);
		klog("amdgpu %s: MES might be in unrecoverable state, issue a GPU reset", q->g->bdf);
		stop_queue(q);
		gpu_reset(q->g, "a queue did not preempt");
	} else {
		stop_queue(q);
	}
	if (q->sdmaq)
		sdma_queue_destroy(q->sdmaq);
	if (q->pm4)
		pm4_queue_destroy(q->pm4);
	free(q);
	return rc;
}

int queue_update(struct sim_queue *q, uint64_t ring, uint32_t size)
{
	(void)ring;
	(void)size;
	/* moving a live ring is not something our users do: refuse as busy */
	return atomic_load(&q->dead) ? -EIO : -EBUSY;
}

bool queue_idle(const struct sim_queue *q)
{
	return !atomic_load(&((struct sim_queue *)q)->busy);
}

/* ---- resets and injected hangs --------------------------------------------------------------- */

static long long boottime_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

void gpu_reset(struct sim_gpu *g, const char *why)
{
	klog("amdgpu %s: GPU reset begin! (%s)", g->bdf, why);
	unsigned long long seq = (unsigned long long)atomic_fetch_add(&g->resets, 1) + 1;
	/* KFD tells SMI listeners before and after (kfd_smi_event_update_gpu_reset),
	 * and of each process's queues it suspends */
	kfd_smi_event(g, 0, KFD_SMI_EVENT_GPU_PRE_RESET, "%llx %s\n", seq, why);
	/* every queue on the GPU is evicted; their processes hear of it */
	pid_t evicted[MAX_PROCESS_QUEUES];
	int nevicted = 0;
	pthread_mutex_lock(&all_lock);
	for (struct sim_queue *q = all_queues; q; q = q->next) {
		if (q->g != g || atomic_load(&q->dead))
			continue;
		atomic_store(&q->cancel, 1);
		atomic_store(&q->dead, 1);
		atomic_store(&q->hung, HANG_NONE);
		kfd_signal_hw_exception(q->p, g, KFD_HW_EXCEPTION_GPU_HANG);
		bool seen = false;
		for (int i = 0; i < nevicted; i++)
			seen |= evicted[i] == q->p->pid;
		if (!seen && nevicted < MAX_PROCESS_QUEUES)
			evicted[nevicted++] = q->p->pid;
	}
	pthread_mutex_unlock(&all_lock);
	for (int i = 0; i < nevicted; i++)
		kfd_smi_event(g, evicted[i], KFD_SMI_EVENT_QUEUE_EVICTION, "%lld -%d %x %d\n", boottime_ns(), evicted[i],
			      g->gpu_id, KFD_QUEUE_EVICTION_TRIGGER_SUSPEND);
	atomic_store(&g->mes_hang, 0);		/* the reset brings MES back */
	klog("amdgpu %s: GPU reset(%llu) succeeded!", g->bdf, (unsigned long long)atomic_load(&g->resets));
	kfd_smi_event(g, 0, KFD_SMI_EVENT_GPU_POST_RESET, "%llx %s\n", seq, why);
}

int queue_inject_hang(struct sim_gpu *g, bool sdma, bool silent)
{
	int n = 0;
	enum hang how = silent ? HANG_SILENT : HANG_STUCK;
	pthread_mutex_lock(&all_lock);
	for (struct sim_queue *q = all_queues; q; q = q->next)
		if (q->g == g && q->sdma == sdma && !atomic_load(&q->dead)) {
			atomic_store(&q->hung, how);
			n++;
		}
	if (n == 0)
		atomic_store(&g->hang_next[sdma], how);
	pthread_mutex_unlock(&all_lock);
	return n;
}

uint64_t gpu_busy_ns(const struct sim_gpu *g)
{
	uint64_t ns = 0;
	pthread_mutex_lock(&all_lock);
	for (struct sim_queue *q = all_queues; q; q = q->next)
		if (q->g == g)
			ns += q->busy_ns;
	pthread_mutex_unlock(&all_lock);
	return ns;
}

/* ---- evictions and restores (kfd_process_evict_queues / kfd_process_restore_queues) ---------- */

/* KFD's default preemption timeout (the queue_preemption_timeout_ms parameter) */
#define PREEMPTION_TIMEOUT_NS (9000ull * 1000000)

/* Every queue of p on g follows the process's eviction count (set under
 * all_lock, from the count as it is now, so that the last of an eviction
 * and a restore racing wins with the right value).  Returns whether one of
 * them is stuck (a stuck queue does not preempt), with its doorbell. */
static bool follow_eviction(struct kfd_process *p, const struct sim_gpu *g, uint32_t *stuck_doorbell)
{
	bool stuck = false;
	int evicted = atomic_load(&p->queues_evicted) > 0;
	pthread_mutex_lock(&all_lock);
	for (struct sim_queue *q = all_queues; q; q = q->next) {
		if (q->p != p || q->g != g)
			continue;
		atomic_store(&q->suspended, evicted);
		if (evicted && !atomic_load(&q->dead) && atomic_load(&q->hung) == HANG_STUCK) {
			stuck = true;
			*stuck_doorbell = q->doorbell_off / 8;
		}
	}
	pthread_mutex_unlock(&all_lock);
	return stuck;
}

/* Whether a queue of p on g is still between packets' ends. */
static bool still_running(const struct kfd_process *p, const struct sim_gpu *g)
{
	bool running = false;
	pthread_mutex_lock(&all_lock);
	for (struct sim_queue *q = all_queues; q && !running; q = q->next)
		running = q->p == p && q->g == g && atomic_load(&q->busy);
	pthread_mutex_unlock(&all_lock);
	return running;
}

/* The hardware saves a preempted dispatch's waves (CWSR) and goes on with
 * them at the restore; the box's engines stop between packets instead, so
 * a dispatch under way ends first.  The result is the same: nothing is
 * lost and nothing runs while evicted.  A queue that does not preempt in
 * KFD's time (MES fails to remove it) costs the GPU a reset, as it does. */
static void preempt_queues(struct kfd_process *p, struct sim_gpu *g)
{
	uint32_t doorbell = 0;
	bool stuck = follow_eviction(p, g, &doorbell);
	uint64_t t0 = box_now_ns();
	while (!stuck && still_running(p, g))
		if (box_now_ns() - t0 > PREEMPTION_TIMEOUT_NS)
			stuck = true;
		else
			nap(20 * 1000);
	if (stuck) {
		klog("amdgpu %s: failed to remove hardware queue from MES, doorbell=0x%x", g->bdf, doorbell);
		klog("amdgpu %s: MES might be in unrecoverable state, issue a GPU reset", g->bdf);
		gpu_reset(g, "a queue did not preempt");
	}
}

/* Eviction and restore are counted (KFD's qpd->evicted): the queues run
 * again at the restore that balances the first eviction.  Each call tells
 * the process's event files of every GPU it uses, as KFD does. */
void queues_evict(struct kfd_process *p, uint32_t trigger)
{
	atomic_fetch_add(&p->queues_evicted, 1);
	for (int i = 0; i < g_box->ngpus; i++) {
		if (!p->pdd[i].present)
			continue;
		struct sim_gpu *g = &g_box->gpu[i];
		kfd_smi_event(g, p->pid, KFD_SMI_EVENT_QUEUE_EVICTION, "%lld -%d %x %d\n", boottime_ns(), p->pid,
			      g->gpu_id, (int)trigger);
		preempt_queues(p, g);
	}
}

void queues_restore(struct kfd_process *p)
{
	int was = atomic_load(&p->queues_evicted);
	while (was > 0 && !atomic_compare_exchange_weak(&p->queues_evicted, &was, was - 1))
		;
	for (int i = 0; i < g_box->ngpus; i++) {
		if (!p->pdd[i].present)
			continue;
		struct sim_gpu *g = &g_box->gpu[i];
		/* kfd_smi_event_queue_restore, as Ubuntu 24.04's kernel writes it */
		kfd_smi_event(g, p->pid, KFD_SMI_EVENT_QUEUE_RESTORE, "%lld -%d %x\n", boottime_ns(), p->pid, g->gpu_id);
		uint32_t doorbell;
		follow_eviction(p, g, &doorbell);
	}
}
