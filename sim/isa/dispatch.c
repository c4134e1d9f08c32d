/* Programs (decoded once, as first reached), waves and their scheduling:
 * a dispatch's workgroups are spread over host threads; each workgroup runs
 * on one thread, its waves taking turns in time slices and meeting at
 * s_barrier, so that LDS needs no locking and results do not depend on the
 * number of threads. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "sim/isa/internal.h"

#define SLICE 2048		/* instructions a wave runs before the next takes a turn */
#define MAX_PROGRAM_BYTES (64u << 20)

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned online_cpus = 1;

static void count_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	online_cpus = n > 0 ? (unsigned)n : 1;
}

/* Counted once: glibc reads /sys/devices/system/cpu/online for every
 * sysconf, which on a virtual machine cost a small dispatch 10-30 us. */
unsigned isa_default_threads(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, count_online_cpus);
	return online_cpus;
}

/* ---- faults ----------------------------------------------------------------- */

void exec_illegal(struct wave *w, const struct inst *in)
{
	char name[64] = "";
	if (isa_disasm_name(in->word, 3, name, sizeof name, NULL) > 0)
		wave_fault(w, in, ISA_ILLEGAL_INSTRUCTION, 0,
			   "illegal instruction: %s (0x%08x) is not supported by the emulator", name, in->word[0]);
	else
		wave_fault(w, in, ISA_ILLEGAL_INSTRUCTION, 0, "illegal instruction: 0x%08x is not a gfx1100 instruction",
			   in->word[0]);
}

void wave_fault(struct wave *w, const struct inst *in, enum isa_status kind, uint64_t addr, const char *fmt, ...)
{
	w->state = W_FAULT;
	w->budget = 0;
	struct dispatch_ctx *c = w->wg->ctx;
	pthread_mutex_lock(&c->fault_lock);
	if (c->res->status == ISA_OK) {
		struct isa_result *r = c->res;
		r->status = kind;
		r->fault_address = addr;
		r->fault_pc = w->prog->base + (uint64_t)in->pc * 4;
		memcpy(r->fault_word, in->word, sizeof r->fault_word);
		char what[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof what, fmt, ap);
		va_end(ap);
		snprintf(r->message, sizeof r->message, "%s (pc 0x%llx, workgroup %u,%u,%u, wave %u)", what,
			 (unsigned long long)r->fault_pc, w->wg->id[0], w->wg->id[1], w->wg->id[2], w->id_in_group);
	}
	pthread_mutex_unlock(&c->fault_lock);
	atomic_store(&c->stop, 1);
}

/* ---- special operands ------------------------------------------------------- */

uint64_t read_special64(const struct wave *w, const struct src *s)
{
	const struct isa_dispatch *d = w->wg->d;
	switch (s->kind) {
	case SRC_SCC: return w->scc;
	case SRC_VCCZ: return w->s[R_VCC_LO] == 0;
	case SRC_EXECZ: return exec_of(w) == 0;
	case SRC_SHARED_BASE: return d->shared_aperture;
	case SRC_SHARED_LIMIT: return d->shared_aperture + 0xffffffffull;
	case SRC_PRIVATE_BASE: return d->private_aperture;
	case SRC_PRIVATE_LIMIT: return d->private_aperture + 0xffffffffull;
	default: return 0;
	}
}

uint32_t read_special(const struct wave *w, const struct src *s)
{
	uint64_t v = read_special64(w, s);
	if (s->kind >= SRC_SHARED_BASE)
		return (uint32_t)(v >> 32);	/* 32-bit reads of an aperture give its high half */
	return (uint32_t)v;
}

/* ---- programs ------------------------------------------------------------------ */

struct isa_program *isa_program_create(const struct isa_memory *mem, uint64_t code_va, uint64_t size)
{
	if (!mem || !mem->lookup || size < 4 || (code_va & 3)) {
		errno = EINVAL;
		return NULL;
	}
	if (size > MAX_PROGRAM_BYTES)
		size = MAX_PROGRAM_BYTES;
	struct isa_program *ip = calloc(1, sizeof *ip);
	if (!ip)
		return NULL;
	struct program *p = &ip->p;
	p->base = code_va;
	p->ndwords = (uint32_t)(size / 4);
	p->mem = *mem;
	p->nchunks = (p->ndwords + CHUNK_SLOTS - 1) / CHUNK_SLOTS;
	p->chunks = calloc(p->nchunks, sizeof *p->chunks);
	if (!p->chunks) {
		free(ip);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	return ip;
}

struct halves {
	struct halves *next;
	struct inst h[2];
};

void isa_program_destroy(struct isa_program *ip)
{
	if (!ip)
		return;
	struct program *p = &ip->p;
	for (uint32_t i = 0; i < p->nchunks; i++)
		free(atomic_load(&p->chunks[i]));
	struct halves *h = (struct halves *)p->vopd_pool;
	while (h) {
		struct halves *n = h->next;
		free(h);
		h = n;
	}
	free(p->chunks);
	pthread_mutex_destroy(&p->lock);
	free(ip);
}

/* Read up to three instruction dwords at dword index pc through the memory
 * interface; returns how many could be read. */
static int fetch_words(const struct program *p, uint32_t pc, uint32_t words[3])
{
	int n = 0;
	for (; n < 3 && pc + (uint32_t)n < p->ndwords; n++) {
		uint64_t va = p->base + (uint64_t)(pc + (uint32_t)n) * 4;
		struct isa_mapping m;
		if (p->mem.lookup(p->mem.ctx, va, &m) != 0 || va < m.va || va - m.va + 4 > m.size)
			break;
		memcpy(&words[n], m.host + (va - m.va), 4);
	}
	return n;
}

static void exec_fetch_fault(struct wave *w, const struct inst *in)
{
	wave_fault(w, in, ISA_MEMORY_FAULT, w->prog->base + (uint64_t)in->pc * 4,
		   "memory fault: instruction fetch at 0x%llx", (unsigned long long)(w->prog->base + (uint64_t)in->pc * 4));
}

static void exec_out_of_program(struct wave *w, const struct inst *in)
{
	(void)in;
	struct inst at = { .pc = w->pc };
	wave_fault(w, &at, ISA_MEMORY_FAULT, w->prog->base + (uint64_t)w->pc * 4,
		   "memory fault: the program counter left the kernel's code");
}

static const struct inst out_of_program = { .fn = exec_out_of_program };

/* Decode the instruction at dword pc under the program's lock. */
static const struct inst *decode_slot(struct program *p, uint32_t pc)
{
	pthread_mutex_lock(&p->lock);
	struct inst *chunk = atomic_load(&p->chunks[pc >> CHUNK_SHIFT]);
	if (!chunk) {
		chunk = calloc(CHUNK_SLOTS, sizeof *chunk);
		if (!chunk) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		atomic_store(&p->chunks[pc >> CHUNK_SHIFT], chunk);
	}
	struct inst *in = &chunk[pc & (CHUNK_SLOTS - 1)];
	if (!__atomic_load_n(&in->fn, __ATOMIC_ACQUIRE)) {
		struct inst tmp;
		uint32_t words[3] = { 0, 0, 0 };
		int n = fetch_words(p, pc, words);
		struct halves *h = NULL;
		if (n > 0 && (words[0] >> 26) == 0x32) {	/* VOPD needs room for its halves */
			h = calloc(1, sizeof *h);
			if (!h) {
				pthread_mutex_unlock(&p->lock);
				return NULL;
			}
			h->next = (struct halves *)p->vopd_pool;
			p->vopd_pool = (struct inst *)h;
		}
		if (n == 0) {
			memset(&tmp, 0, sizeof tmp);
			tmp.pc = pc;
			tmp.next = pc + 1;
			tmp.fn = exec_fetch_fault;
		} else {
			struct inst scratch[2];
			decode_inst(words, n, pc, &tmp, h ? h->h : scratch);
		}
		exec_fn fn = tmp.fn;
		tmp.fn = NULL;
		*in = tmp;
		__atomic_store_n(&in->fn, fn, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&p->lock);
	return in;
}

static inline const struct inst *slot(const struct program *p, uint32_t pc)
{
	if (__builtin_expect(pc >= p->ndwords, 0))
		return &out_of_program;
	struct inst *chunk = atomic_load_explicit(&p->chunks[pc >> CHUNK_SHIFT], memory_order_acquire);
	if (__builtin_expect(chunk != NULL, 1)) {
		const struct inst *in = &chunk[pc & (CHUNK_SLOTS - 1)];
		if (__builtin_expect(__atomic_load_n(&in->fn, __ATOMIC_ACQUIRE) != NULL, 1))
			return in;
	}
	const struct inst *in = decode_slot((struct program *)p, pc);
	return in ? in : &out_of_program;
}

/* ---- waves ----------------------------------------------------------------------- */

/* Run one wave for up to SLICE instructions (fewer when it stops). */
static void run_wave(struct wave *w)
{
	const struct program *p = w->prog;
	uint64_t n = 0;
	w->budget = SLICE;
	while (w->budget > 0) {
		const struct inst *in = slot(p, w->pc);
		w->pc = in->next;
		in->fn(w, in);
		w->budget--;
		n++;
	}
	w->executed += n;
}

/* RSRC fields (AMDGPUUsage, "compute_pgm_rsrc1/2" for GFX11). */
#define RSRC1_FLOAT_MODE(r) (((r) >> 12) & 0xff)
#define RSRC1_DX10_CLAMP(r) (((r) >> 21) & 1)
#define RSRC1_IEEE(r) (((r) >> 23) & 1)
#define RSRC2_PRIVATE(r) ((r) & 1)
#define RSRC2_USER_SGPRS(r) (((r) >> 1) & 0x1f)
#define RSRC2_WG_ID_X(r) (((r) >> 7) & 1)
#define RSRC2_WG_ID_Y(r) (((r) >> 8) & 1)
#define RSRC2_WG_ID_Z(r) (((r) >> 9) & 1)
#define RSRC2_WG_INFO(r) (((r) >> 10) & 1)
#define RSRC2_VGPR_IDS(r) (((r) >> 11) & 3)

struct thread_ctx {
	struct dispatch_ctx *c;
	unsigned index;
	struct workgroup wg;
};

static void init_wave(struct thread_ctx *t, struct wave *w, unsigned wave_index, const uint32_t gsize[3],
		      uint32_t nthreads)
{
	const struct isa_dispatch *d = t->c->d;
	struct workgroup *g = &t->wg;
	memset(w->s, 0, sizeof w->s);
	w->wg = g;
	w->prog = t->c->prog;
	w->pc = (uint32_t)((d->pgm_va - w->prog->base) / 4);
	w->state = W_RUNNING;
	w->scc = 0;
	w->executed = 0;
	w->trapsts = 0;
	w->id_in_group = wave_index;
	w->tlb_next = 0;
	memset(w->tlb, 0, sizeof w->tlb);
	/* MODE: round and denormal modes, DX10 clamp and IEEE from RSRC1 */
	wave_set_mode(w, RSRC1_FLOAT_MODE(d->rsrc1) | RSRC1_DX10_CLAMP(d->rsrc1) << 8 | RSRC1_IEEE(d->rsrc1) << 9);

	unsigned n = t->c->user_sgprs, s = 0;
	(void)g;
	for (; s < n; s++)
		w->s[s] = d->user_data[s];
	if (RSRC2_WG_ID_X(d->rsrc2))
		w->s[s++] = g->id[0];
	if (RSRC2_WG_ID_Y(d->rsrc2))
		w->s[s++] = g->id[1];
	if (RSRC2_WG_ID_Z(d->rsrc2))
		w->s[s++] = g->id[2];
	if (RSRC2_WG_INFO(d->rsrc2))
		w->s[s++] = g->nwaves << 16 | wave_index;
	uint64_t wave_bytes = (uint64_t)d->scratch_lane_bytes * LANES;
	uint64_t slot_index = (uint64_t)t->index * t->c->waves_per_group + wave_index;
	w->scratch_base = d->scratch_va + slot_index * wave_bytes;
	if (RSRC2_PRIVATE(d->rsrc2))
		w->s[s++] = (uint32_t)(slot_index * wave_bytes);	/* private segment wave offset */

	/* work-item IDs packed in v0: X [9:0], Y [19:10], Z [29:20] */
	uint32_t exec = 0, ids = RSRC2_VGPR_IDS(d->rsrc2);
	for (unsigned l = 0; l < LANES; l++) {
		uint32_t tid = wave_index * LANES + l;
		uint32_t x = 0, y = 0, z = 0;
		if (tid < nthreads) {
			exec |= 1u << l;
			x = tid % gsize[0];
			y = (tid / gsize[0]) % gsize[1];
			z = tid / (gsize[0] * gsize[1]);
		}
		w->v[0][l] = x | (ids >= 1 ? y << 10 : 0) | (ids >= 2 ? z << 20 : 0);
	}
	w->s[R_EXEC_LO] = exec;
	w->lane_count = (uint32_t)__builtin_popcount(exec);
}

static bool cancelled(const struct dispatch_ctx *c)
{
	return atomic_load(&c->stop) || (c->d->cancel && __atomic_load_n(c->d->cancel, __ATOMIC_RELAXED));
}

/* Run one workgroup to completion on this thread. */
static void run_workgroup(struct thread_ctx *t, uint64_t gid)
{
	struct dispatch_ctx *c = t->c;
	const struct isa_dispatch *d = c->d;
	struct workgroup *g = &t->wg;
	g->id[0] = (uint32_t)(gid % d->wg_count[0]);
	g->id[1] = (uint32_t)((gid / d->wg_count[0]) % d->wg_count[1]);
	g->id[2] = (uint32_t)(gid / ((uint64_t)d->wg_count[0] * d->wg_count[1]));
	uint32_t gsize[3];
	for (int i = 0; i < 3; i++) {
		bool last = g->id[i] == d->wg_count[i] - 1;
		gsize[i] = last && d->partial[i] ? d->partial[i] : d->wg_size[i];
	}
	/* a partial group is a smaller group: its work-items pack densely into waves */
	uint32_t nthreads = gsize[0] * gsize[1] * gsize[2];
	g->nwaves = (nthreads + LANES - 1) / LANES;
	memset(g->lds, 0, g->lds_bytes);
	for (unsigned i = 0; i < g->nwaves; i++)
		init_wave(t, &g->waves[i], i, gsize, nthreads);
	atomic_fetch_add(&c->waves, g->nwaves);

	for (;;) {
		bool any_running = false, any_barrier = false;
		for (unsigned i = 0; i < g->nwaves; i++) {
			struct wave *w = &g->waves[i];
			if (w->state == W_RUNNING) {
				run_wave(w);
				if (d->max_wave_instructions && w->executed > d->max_wave_instructions &&
				    w->state == W_RUNNING) {
					struct inst at = { .pc = w->pc };
					wave_fault(w, &at, ISA_HANG, 0,
						   "hang: a wave ran %llu instructions without ending",
						   (unsigned long long)w->executed);
				}
			}
			if (w->state == W_RUNNING)
				any_running = true;
			else if (w->state == W_BARRIER)
				any_barrier = true;
		}
		if (cancelled(c))
			break;
		if (!any_running && !any_barrier)
			break;
		if (!any_running) {
			/* every live wave waits at the barrier: release them */
			for (unsigned i = 0; i < g->nwaves; i++)
				if (g->waves[i].state == W_BARRIER)
					g->waves[i].state = W_RUNNING;
		}
	}
	uint64_t n = 0;
	for (unsigned i = 0; i < g->nwaves; i++)
		n += g->waves[i].executed;
	atomic_fetch_add(&c->executed, n);
	atomic_fetch_add(&c->done_groups, 1);
}

/* The workgroups' LDS and wave state, kept by each thread that runs
 * dispatches (a queue's engine thread) from one dispatch to the next:
 * allocating and freeing them per dispatch cost page faults every time
 * (the wave state of a 64-wide group is 70 KiB), which on a virtual
 * machine made up most of a small kernel's time.  Each dispatch still
 * starts from zeroed state. */
struct run_slot {
	void *lds;
	size_t lds_cap;
	struct wave *waves;
	uint32_t waves_cap;
};
struct run_state {
	unsigned nslots;
	struct run_slot slot[];
};
static pthread_key_t run_state_key;
static pthread_once_t run_state_once = PTHREAD_ONCE_INIT;

static void run_state_free(void *arg)
{
	struct run_state *rs = arg;
	for (unsigned i = 0; rs && i < rs->nslots; i++) {
		free(rs->slot[i].lds);
		free(rs->slot[i].waves);
	}
	free(rs);
}

static void run_state_init(void)
{
	if (pthread_key_create(&run_state_key, run_state_free) != 0)
		run_state_key = (pthread_key_t)-1;
}

/* The calling thread's state, grown to `threads` slots of at least
 * lds_bytes of LDS and waves wave states; NULL when out of memory (what
 * was kept stays for the next dispatch). */
static struct run_state *run_state_for(unsigned threads, uint32_t lds_bytes, uint32_t waves)
{
	pthread_once(&run_state_once, run_state_init);
	if (run_state_key == (pthread_key_t)-1)
		return NULL;
	struct run_state *rs = pthread_getspecific(run_state_key);
	if (!rs || rs->nslots < threads) {
		struct run_state *more = realloc(rs, sizeof *rs + threads * sizeof rs->slot[0]);
		if (!more)
			return NULL;
		for (unsigned i = rs ? more->nslots : 0; i < threads; i++)
			more->slot[i] = (struct run_slot){ 0 };
		more->nslots = threads;
		rs = more;
		pthread_setspecific(run_state_key, rs);
	}
	size_t lds = lds_bytes ? lds_bytes : 1;
	for (unsigned i = 0; i < threads; i++) {
		struct run_slot *s = &rs->slot[i];
		if (s->lds_cap < lds) {
			void *p = realloc(s->lds, lds);
			if (!p)
				return NULL;
			s->lds = p;
			s->lds_cap = lds;
		}
		if (s->waves_cap < waves) {
			struct wave *w = realloc(s->waves, (size_t)waves * sizeof *w);
			if (!w)
				return NULL;
			s->waves = w;
			s->waves_cap = waves;
		}
	}
	return rs;
}

static void *thread_main(void *arg)
{
	struct thread_ctx *t = arg;
	struct dispatch_ctx *c = t->c;
	for (;;) {
		if (cancelled(c))
			break;
		uint64_t gid = atomic_fetch_add(&c->next_group, 1);
		if (gid >= c->groups)
			break;
		run_workgroup(t, gid);
	}
	return NULL;
}

static int bad(struct isa_result *res, const char *msg)
{
	res->status = ISA_BAD_DISPATCH;
	snprintf(res->message, sizeof res->message, "bad dispatch: %s", msg);
	return -EINVAL;
}

static int check_dispatch(const struct isa_dispatch *d, struct isa_result *res)
{
	if (!d->program)
		return bad(res, "no program");
	const struct program *p = &d->program->p;
	if (d->pgm_va < p->base || (d->pgm_va & 3) || (d->pgm_va - p->base) / 4 >= p->ndwords)
		return bad(res, "the program address is outside the decoded program");
	uint64_t threads = 1;
	for (int i = 0; i < 3; i++) {
		if (!d->wg_size[i] || !d->wg_count[i])
			return bad(res, "a workgroup size or count is zero");
		if (d->partial[i] > d->wg_size[i])
			return bad(res, "a partial workgroup is larger than a workgroup");
		threads *= d->wg_size[i];
	}
	if (d->wg_size[0] > 1024 || d->wg_size[1] > 1024 || d->wg_size[2] > 1024 || threads > 1024)
		return bad(res, "more than 1024 work-items in a workgroup");
	if (d->lds_bytes > 64 * 1024)
		return bad(res, "more than 64 KiB of LDS per workgroup");
	if (RSRC2_USER_SGPRS(d->rsrc2) > 16)
		return bad(res, "more than 16 user SGPRs");
	if (d->scratch_lane_bytes && d->scratch_bytes < (uint64_t)d->scratch_lane_bytes * LANES *
							    ((threads + LANES - 1) / LANES))
		return bad(res, "the scratch area is too small for one workgroup");
	return 0;
}

int isa_dispatch_run(const struct isa_dispatch *d, const struct isa_memory *mem, unsigned threads,
		     struct isa_result *res)
{
	memset(res, 0, sizeof *res);
	int rc = check_dispatch(d, res);
	if (rc < 0)
		return rc;
	struct dispatch_ctx c;
	memset(&c, 0, sizeof c);
	c.d = d;
	c.mem = mem;
	c.prog = &d->program->p;
	c.res = res;
	c.groups = (uint64_t)d->wg_count[0] * d->wg_count[1] * d->wg_count[2];
	c.user_sgprs = RSRC2_USER_SGPRS(d->rsrc2);
	c.t0_ns = now_ns();
	uint32_t per_group = d->wg_size[0] * d->wg_size[1] * d->wg_size[2];
	c.waves_per_group = (per_group + LANES - 1) / LANES;
	pthread_mutex_init(&c.fault_lock, NULL);

	if (threads == 0)
		threads = isa_default_threads();
	if (threads > c.groups)
		threads = (unsigned)c.groups;
	/* each thread's waves need their own private memory */
	if (d->scratch_lane_bytes) {
		uint64_t per_thread = (uint64_t)d->scratch_lane_bytes * LANES * c.waves_per_group;
		uint64_t fit = d->scratch_bytes / per_thread;
		if (threads > fit)
			threads = (unsigned)fit;
	}
	if (threads == 0)
		threads = 1;

	struct thread_ctx *t = calloc(threads, sizeof *t);
	pthread_t *tid = calloc(threads, sizeof *tid);
	struct run_state *rs = t && tid ? run_state_for(threads, d->lds_bytes, c.waves_per_group) : NULL;
	rc = rs ? 0 : -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < threads; i++) {
		t[i].c = &c;
		t[i].index = i;
		t[i].wg.d = d;
		t[i].wg.ctx = &c;
		t[i].wg.lds_bytes = d->lds_bytes;
		t[i].wg.lds = rs->slot[i].lds;
		t[i].wg.waves = rs->slot[i].waves;
		memset(t[i].wg.lds, 0, d->lds_bytes ? d->lds_bytes : 1);
		memset(t[i].wg.waves, 0, (size_t)c.waves_per_group * sizeof(struct wave));
	}
	unsigned started = 0;
	if (rc == 0) {
		for (; started < threads; started++)
			if (threads > 1 && pthread_create(&tid[started], NULL, thread_main, &t[started]) != 0)
				break;
		if (threads == 1)
			thread_main(&t[0]);
		else if (started == 0)
			thread_main(&t[0]);	/* could not start threads: run here */
		for (unsigned i = 0; threads > 1 && i < started; i++)
			pthread_join(tid[i], NULL);
	}
	free(t);
	free(tid);
	pthread_mutex_destroy(&c.fault_lock);
	res->wave_instructions = atomic_load(&c.executed);
	res->waves = atomic_load(&c.waves);
	res->workgroups = atomic_load(&c.done_groups);
	res->elapsed_ns = now_ns() - c.t0_ns;
	if (rc < 0) {
		snprintf(res->message, sizeof res->message, "out of memory");
		return rc;
	}
	if (res->status == ISA_OK && d->cancel && __atomic_load_n(d->cancel, __ATOMIC_RELAXED)) {
		res->status = ISA_ABORTED;
		snprintf(res->message, sizeof res->message, "the dispatch was cancelled");
	}
	return res->status == ISA_OK ? 0 : -EIO;
}
