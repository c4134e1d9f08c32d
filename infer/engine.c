/* The engine: a model's weights split over N GPUs, one step of the model
 * (embedding, every layer, the head, sampling) emitted into each GPU's
 * compute queue, the partial sums of the split projections added by the
 * GPUs themselves.
 *
 * The split (Megatron-style tensor parallelism, as tinygrad's llama
 * example shards):
 *   attention   query heads [qh0, qh1) per GPU, with the key/value heads they
 *               use [kvh0, kvh1) (several GPUs may hold the same KV head
 *               under grouped-query attention); the output projection's
 *               columns of those heads; each GPU's product is a partial sum
 *   FFN         gate/up rows [f0, f1), down's columns [f0, f1): a partial sum
 *   vocabulary  embedding and output rows [v0, v1): the embedding's partial
 *               sums (one GPU holds the token's row, the others add zeros),
 *               the logits written straight into GPU 0's logits buffer
 * Every partial sum is followed by a sync point: each GPU signals its own
 * timeline signal with the point's number, waits (in the GPU) for the
 * other contributors' signals to reach it, and adds their partial buffers
 * (mapped on every GPU) to its residual.  Column slices of a Q8_0 matrix
 * start and end on block boundaries: the slice is widened to whole blocks
 * and the activations outside the GPU's own range are zero (never written),
 * so the extra columns add nothing.
 *
 * Signals restart at 0 before every step (the host waits for each step's
 * end before the next: it needs the sampled token anyway), so a step's
 * point numbers are constants and a recorded step replays unchanged but
 * for the position and the sampler's arguments. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hal/tbhal.h"
#include "infer/internal.h"
#include "storage/tbstore.h"

enum {
	TMAX = 32,			/* prompt tokens per prefill batch */
	MAX_ARGS = 24,
	WAIT_SLICE_MS = 100,		/* host waits are sliced to notice a failure on any GPU */
	WMMA_MIN_TOKENS = 16,		/* a batch that fills a 16-token WMMA tile */
	DEFAULT_CONTEXT = 4096,
	CHUNK_BYTES = 16u << 20,	/* file bytes per read while loading */
	SAMPLE_TOP_K_MAX = 256,
	DEFAULT_TOP_K = 40,
};

/* ---- kernels -------------------------------------------------------------------- */

enum kern_id {
	K_EMBED, K_RMSNORM, K_MATMUL, K_MATMUL_WMMA, K_ROPE, K_KV_STORE, K_ATTENTION, K_SILU_MUL, K_ALLREDUCE, K_SAMPLE,
	K_COUNT
};
static const char *const kern_names[K_COUNT] = {
	"embed", "rmsnorm", "matmul", "matmul_wmma", "rope", "kv_store", "attention", "silu_mul", "allreduce_add",
	"sample",
};

struct kern {
	const tbh_kernel *k;
	uint32_t nargs, size;
	tbh_kernel_arg arg[MAX_ARGS];
};

/* ---- the split ------------------------------------------------------------------ */

/* One tensor's part on one GPU: rows [r0, r1) of it, each either whole or
 * columns [c0, c1) of it (whole blocks). */
struct slice {
	const struct tbi_tensor *t;
	uint64_t r0, r1, c0, c1;
	uint64_t row_bytes;		/* of a stored row */
	uint64_t dst;			/* offset in the GPU's weight buffer */
};

struct layer {
	struct slice attn_norm, q, k, v, o, ffn_norm, gate, up, down;
	uint32_t h_rope_q, h_rope_k, h_kv, h_att;	/* graph handles whose pos0 changes */
};

/* Activation offsets (bytes) in a GPU's activation buffer. */
struct act {
	uint64_t x, xn, q, k, v, att, gate, up, hid, scratch, inv_freq, cache_k, cache_v, size;
};
/* ... and in its partial-sum buffer (mapped on every GPU). */
enum part_id { P_EMBED, P_ATTN, P_FFN, P_COUNT };

struct gpu {
	int index;			/* the HAL's */
	tbh_device *dev;
	tbh_queue *q;
	tbh_program *prog;
	struct kern kern[K_COUNT];
	tbh_signal *sig;
	tbh_buffer *weights, *act, *parts;
	uint64_t weight_bytes;
	uint32_t qh0, qh1, kvh0, kvh1, f0, f1, v0, v1;
	struct slice embd, out_norm, output;
	struct layer *layers;
	struct act a;
	tbh_graph *step;
	uint32_t h_sample, last_point, launches;
	float *inv_freq_host;
	uint64_t seen;			/* the signal's value when it last moved, */
	double moved_s;			/* and when (now_s) */
};

struct tbi_engine {
	struct tbi_model *model;
	struct tbi_tokenizer *tok;
	struct tbi_hparams hp;
	uint32_t ctx;
	int n;
	struct gpu g[TBI_MAX_GPUS];
	tbh_buffer *logits;		/* on GPU 0, mapped on all: n_vocab floats */
	tbh_buffer *tokens;		/* host memory of GPU 0, mapped on all: TMAX ints */
	int32_t *cached;		/* the tokens whose keys and values the cache holds */
	uint32_t ncached;
	int failed_gpu;
	bool broken;			/* a GPU failed: every later call is refused */
	double load_seconds;
	uint64_t load_bytes, weight_bytes_per_token;
	char manifest_hash[24];
	uint32_t launches_per_token;
	double wait_cpu_s;		/* the calling thread's CPU time in waits for the GPUs */
	enum tbi_chat_template chat;
};

static uint64_t u64_of_float(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int hal_fail(struct tbi_err *err, int rc, const struct gpu *g, const char *what)
{
	return tbi_fail(err, rc, "GPU %d: %s: %s", g->index, what, tbh_last_error());
}

/* [lo, hi) of n items for part i of parts, balanced. */
static void split_range(uint32_t n, int parts, int i, uint32_t *lo, uint32_t *hi)
{
	*lo = (uint32_t)((uint64_t)n * (uint64_t)i / (uint64_t)parts);
	*hi = (uint32_t)((uint64_t)n * (uint64_t)(i + 1) / (uint64_t)parts);
}

/* ---- planning ------------------------------------------------------------------ */

static int need_tensor(const struct tbi_engine *e, const char *name, const struct tbi_tensor **out,
		       struct tbi_err *err)
{
	*out = tbi_model_tensor(e->model, name);
	if (!*out)
		return tbi_fail(err, -EINVAL, "%s: no tensor %s", e->model->files[0], name);
	return 0;
}

static uint64_t block_of(enum tbi_type t)
{
	return t == TBI_Q8_0 ? TBI_Q8_0_BLOCK : 1;
}

/* Rows [r0, r1), whole. */
static void plan_rows(struct slice *s, const struct tbi_tensor *t, uint64_t r0, uint64_t r1, uint64_t *at)
{
	*s = (struct slice){ .t = t, .r0 = r0, .r1 = r1, .c0 = 0, .c1 = t->ne[0] };
	s->row_bytes = tbi_type_bytes(t->type, t->ne[0]);
	s->dst = *at;
	*at += (r1 - r0) * s->row_bytes;
	*at = (*at + 255) & ~255ull;	/* keep every slice's rows aligned for wide loads */
}

/* Every row, columns [c0, c1) widened to whole blocks. */
static void plan_cols(struct slice *s, const struct tbi_tensor *t, uint64_t c0, uint64_t c1, uint64_t *at)
{
	uint64_t b = block_of(t->type);
	*s = (struct slice){ .t = t, .r0 = 0, .r1 = c1 > c0 ? t->ne[1] : 0 };
	s->c0 = c0 / b * b;
	s->c1 = (c1 + b - 1) / b * b;
	s->row_bytes = tbi_type_bytes(t->type, s->c1 - s->c0);
	s->dst = *at;
	*at += (s->r1 - s->r0) * s->row_bytes;
	*at = (*at + 255) & ~255ull;
}

static int plan_gpu(struct tbi_engine *e, struct gpu *g, int i, struct tbi_err *err)
{
	const struct tbi_hparams *hp = &e->hp;
	uint32_t group = hp->n_heads / hp->n_kv_heads;
	split_range(hp->n_heads, e->n, i, &g->qh0, &g->qh1);
	g->kvh0 = g->qh1 > g->qh0 ? g->qh0 / group : 0;
	g->kvh1 = g->qh1 > g->qh0 ? (g->qh1 - 1) / group + 1 : 0;
	split_range(hp->ffn_dim, e->n, i, &g->f0, &g->f1);
	split_range(hp->n_vocab, e->n, i, &g->v0, &g->v1);
	g->layers = calloc(hp->n_layers, sizeof *g->layers);
	if (!g->layers)
		return tbi_fail(err, -ENOMEM, "out of memory");
	const struct tbi_tensor *t;
	uint64_t at = 0;
	int rc = need_tensor(e, "token_embd.weight", &t, err);
	if (rc)
		return rc;
	plan_rows(&g->embd, t, g->v0, g->v1, &at);
	if ((rc = need_tensor(e, "output_norm.weight", &t, err)))
		return rc;
	plan_rows(&g->out_norm, t, 0, 1, &at);
	if (hp->tied_output)
		g->output = g->embd;
	else if ((rc = need_tensor(e, "output.weight", &t, err)) == 0)
		plan_rows(&g->output, t, g->v0, g->v1, &at);
	if (rc)
		return rc;
	uint64_t hd = hp->head_dim;
	for (uint32_t l = 0; l < hp->n_layers; l++) {
		struct layer *L = &g->layers[l];
		char name[64];
#define TENSOR(suffix)                                                               \
	(snprintf(name, sizeof name, "blk.%u." suffix ".weight", l), need_tensor(e, name, &t, err))
		if ((rc = TENSOR("attn_norm")))
			return rc;
		plan_rows(&L->attn_norm, t, 0, 1, &at);
		if ((rc = TENSOR("attn_q")))
			return rc;
		plan_rows(&L->q, t, g->qh0 * hd, g->qh1 * hd, &at);
		if ((rc = TENSOR("attn_k")))
			return rc;
		plan_rows(&L->k, t, g->kvh0 * hd, g->kvh1 * hd, &at);
		if ((rc = TENSOR("attn_v")))
			return rc;
		plan_rows(&L->v, t, g->kvh0 * hd, g->kvh1 * hd, &at);
		if ((rc = TENSOR("attn_output")))
			return rc;
		plan_cols(&L->o, t, g->qh0 * hd, g->qh1 * hd, &at);
		if ((rc = TENSOR("ffn_norm")))
			return rc;
		plan_rows(&L->ffn_norm, t, 0, 1, &at);
		if ((rc = TENSOR("ffn_gate")))
			return rc;
		plan_rows(&L->gate, t, g->f0, g->f1, &at);
		if ((rc = TENSOR("ffn_up")))
			return rc;
		plan_rows(&L->up, t, g->f0, g->f1, &at);
		if ((rc = TENSOR("ffn_down")))
			return rc;
		plan_cols(&L->down, t, g->f0, g->f1, &at);
#undef TENSOR
	}
	g->weight_bytes = at ? at : 256;

	/* activations, in floats first */
	uint64_t nhl = g->qh1 - g->qh0, nkvl = g->kvh1 - g->kvh0, f = 0;
	struct act *a = &g->a;
#define ALLOC(field, floats) (a->field = f * 4, f += ((uint64_t)(floats) + 63) / 64 * 64)
	ALLOC(x, (uint64_t)TMAX * hp->dim);
	ALLOC(xn, (uint64_t)TMAX * hp->dim);
	ALLOC(q, TMAX * (nhl ? nhl : 1) * hd);
	ALLOC(k, TMAX * (nkvl ? nkvl : 1) * hd);
	ALLOC(v, TMAX * (nkvl ? nkvl : 1) * hd);
	ALLOC(att, (uint64_t)TMAX * hp->n_heads * hd);
	ALLOC(gate, (uint64_t)TMAX * hp->ffn_dim);
	ALLOC(up, (uint64_t)TMAX * hp->ffn_dim);
	ALLOC(hid, (uint64_t)TMAX * hp->ffn_dim);
	ALLOC(scratch, (nhl ? nhl : 1) * TMAX * (uint64_t)e->ctx);
	ALLOC(inv_freq, hd / 2);
	ALLOC(cache_k, (uint64_t)hp->n_layers * e->ctx * (nkvl ? nkvl : 1) * hd);
	ALLOC(cache_v, (uint64_t)hp->n_layers * e->ctx * (nkvl ? nkvl : 1) * hd);
#undef ALLOC
	a->size = f * 4;
	return 0;
}

static uint64_t part_bytes(const struct tbi_engine *e)
{
	return (uint64_t)TMAX * e->hp.dim * 4;
}

/* ---- kernels and memory ---------------------------------------------------------- */

static int default_kernels(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -errno;
	self[n] = '\0';
	if ((size_t)snprintf(out, len, "%s/../../share/tb/infer.co", dirname(self)) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int load_kernels(struct gpu *g, const char *path, struct tbi_err *err)
{
	int rc = tbh_program_load_file(g->dev, path, &g->prog);
	if (rc)
		return hal_fail(err, rc, g, "loading the kernels");
	for (int i = 0; i < K_COUNT; i++) {
		struct kern *k = &g->kern[i];
		rc = tbh_program_kernel(g->prog, kern_names[i], &k->k);
		if (rc)
			return hal_fail(err, rc, g, kern_names[i]);
		k->nargs = tbh_kernel_arg_count(k->k);
		k->size = tbh_kernel_args_size(k->k);
		if (k->nargs > MAX_ARGS || k->size > 512)
			return tbi_fail(err, -EINVAL, "%s: kernel %s takes %u arguments", path, kern_names[i], k->nargs);
		for (uint32_t a = 0; a < k->nargs; a++)
			if ((rc = tbh_kernel_arg_info(k->k, a, &k->arg[a])))
				return hal_fail(err, rc, g, kern_names[i]);
	}
	return 0;
}

static int alloc_gpu(struct tbi_engine *e, struct gpu *g, struct tbi_err *err)
{
	int rc = tbh_queue_create(g->dev, TBH_QUEUE_COMPUTE, &g->q);
	rc = rc ? rc : tbh_signal_create(g->dev, 0, &g->sig);
	rc = rc ? rc : tbh_buffer_alloc(g->dev, g->weight_bytes, TBH_MEMORY_DEVICE, &g->weights);
	rc = rc ? rc : tbh_buffer_alloc(g->dev, g->a.size, TBH_MEMORY_DEVICE, &g->act);
	rc = rc ? rc : tbh_buffer_alloc(g->dev, P_COUNT * part_bytes(e), TBH_MEMORY_DEVICE, &g->parts);
	if (rc)
		return hal_fail(err, rc, g, "allocating the engine's memory");
	/* the activations outside a GPU's own ranges must read as zero */
	memset(tbh_buffer_cpu(g->act), 0, g->a.cache_k);
	memset(tbh_buffer_cpu(g->parts), 0, P_COUNT * part_bytes(e));
	return 0;
}

static int share(struct tbi_engine *e, struct tbi_err *err)
{
	struct gpu *g0 = &e->g[0];
	int rc = tbh_buffer_alloc(g0->dev, (uint64_t)e->hp.n_vocab * 4, TBH_MEMORY_DEVICE, &e->logits);
	rc = rc ? rc : tbh_buffer_alloc(g0->dev, TMAX * 4, TBH_MEMORY_HOST, &e->tokens);
	if (rc)
		return hal_fail(err, rc, g0, "allocating the logits");
	for (int i = 0; i < e->n; i++)
		for (int j = 0; j < e->n; j++) {
			if (i == j)
				continue;
			struct gpu *g = &e->g[i], *peer = &e->g[j];
			rc = tbh_buffer_map_to(g->parts, peer->dev);
			rc = rc ? rc : tbh_signal_map_to(g->sig, peer->dev);
			if (rc == 0 && i == 0)
				rc = tbh_buffer_map_to(e->logits, peer->dev);
			if (rc == 0 && i == 0)
				rc = tbh_buffer_map_to(e->tokens, peer->dev);
			if (rc)
				return hal_fail(err, rc, peer, "mapping a peer GPU's buffers");
		}
	return 0;
}

/* ---- loading: every file once, each chunk scattered into the slices -------------- */

/* Loading: the reader fills two staging slots in host memory (of GPU 0,
 * mapped on every GPU) in turn; each GPU's copy engine (SDMA) takes the
 * bytes of its slices from a slot into its VRAM while the next slot is read.
 * A slot is read into again once every GPU's copies out of it are done. */
#define LOAD_SLOTS 2
#define COPIES_PER_BATCH 1024		/* SDMA packets per submission: well inside a batch */

struct copy_run {			/* adjacent copies become one */
	uint64_t dst, src, len;
	int slot;
};

struct loader {
	struct tbi_engine *e;
	uint32_t file;
	uint64_t done, total;
	uint64_t manifest_hash;		/* folded over each file's manifest */
	tbh_buffer *staging[LOAD_SLOTS];
	tbh_queue *copyq[TBI_MAX_GPUS];
	tbh_signal *copied[TBI_MAX_GPUS];	/* counts each GPU's finished slot uses */
	uint64_t issued[TBI_MAX_GPUS];
	uint64_t slot_use[LOAD_SLOTS][TBI_MAX_GPUS];	/* the value that frees the slot */
	uint32_t batch[TBI_MAX_GPUS];	/* copies queued since the last submit */
	struct copy_run run[TBI_MAX_GPUS];
	int rc;				/* the first failure of a copy */
	char why[256];
};

static void copy_fail(struct loader *ld, int gi, int rc, const char *what)
{
	if (ld->rc)
		return;
	ld->rc = rc;
	snprintf(ld->why, sizeof ld->why, "GPU %d: %s: %s", ld->e->g[gi].index, what, tbh_last_error());
}

static void flush_run(struct loader *ld, int gi)
{
	struct copy_run *r = &ld->run[gi];
	if (!r->len || ld->rc)
		return;
	struct gpu *g = &ld->e->g[gi];
	int rc = tbh_queue_copy(ld->copyq[gi], g->weights, r->dst, ld->staging[r->slot], r->src, r->len);
	if (rc == 0 && ++ld->batch[gi] >= COPIES_PER_BATCH) {
		rc = tbh_queue_submit(ld->copyq[gi]);
		ld->batch[gi] = 0;
	}
	if (rc)
		copy_fail(ld, gi, rc, "copying weights into VRAM");
	r->len = 0;
}

/* Bytes [src, src + len) of the slot go to dst of the GPU's weights. */
static void copy_out(struct loader *ld, int gi, int slot, uint64_t dst, uint64_t src, uint64_t len)
{
	struct copy_run *r = &ld->run[gi];
	if (r->len && r->slot == slot && r->dst + r->len == dst && r->src + r->len == src) {
		r->len += len;
		return;
	}
	flush_run(ld, gi);
	*r = (struct copy_run){ dst, src, len, slot };
}

/* The file bytes [off, off + len) that overlap slice s's rows go to its GPU. */
static void scatter_slice(struct loader *ld, int gi, const struct slice *s, int slot, uint64_t off, uint64_t len)
{
	const struct tbi_tensor *t = s->t;
	if (!t || t->file != ld->file || s->r1 <= s->r0)
		return;
	uint64_t full_row = tbi_type_bytes(t->type, t->ne[0]);
	uint64_t col_off = tbi_type_bytes(t->type, s->c0);
	uint64_t first = t->offset + s->r0 * full_row + col_off;
	uint64_t last_end = t->offset + (s->r1 - 1) * full_row + col_off + s->row_bytes;
	if (last_end <= off || first >= off + len)
		return;
	/* rows whose stored part overlaps the chunk */
	uint64_t r = s->r0;
	if (off > first)
		r = s->r0 + (off - first) / full_row;
	for (; r < s->r1; r++) {
		uint64_t src = t->offset + r * full_row + col_off;
		if (src >= off + len)
			break;
		uint64_t lo = src > off ? src : off;
		uint64_t hi = src + s->row_bytes < off + len ? src + s->row_bytes : off + len;
		if (hi > lo)
			copy_out(ld, gi, slot, s->dst + (r - s->r0) * s->row_bytes + (lo - src), lo - off, hi - lo);
	}
}

/* Queues the copies of a slot's bytes to every GPU and a signal after them. */
static int scatter(struct loader *ld, int slot, uint64_t off, uint64_t len, struct tbi_err *err)
{
	struct tbi_engine *e = ld->e;
	for (int i = 0; i < e->n && !ld->rc; i++) {
		const struct gpu *g = &e->g[i];
		scatter_slice(ld, i, &g->embd, slot, off, len);
		scatter_slice(ld, i, &g->out_norm, slot, off, len);
		if (!e->hp.tied_output)
			scatter_slice(ld, i, &g->output, slot, off, len);
		for (uint32_t l = 0; l < e->hp.n_layers; l++) {
			const struct layer *L = &g->layers[l];
			const struct slice *all[] = { &L->attn_norm, &L->q, &L->k, &L->v, &L->o,
						      &L->ffn_norm, &L->gate, &L->up, &L->down };
			for (size_t k = 0; k < sizeof all / sizeof *all; k++)
				scatter_slice(ld, i, all[k], slot, off, len);
		}
		flush_run(ld, i);
		int rc = ld->rc;
		if (!rc && (rc = tbh_queue_signal(ld->copyq[i], ld->copied[i], ld->issued[i] + 1)) == 0)
			rc = tbh_queue_submit(ld->copyq[i]);
		if (rc) {
			copy_fail(ld, i, rc, "submitting the weights' copies");
			break;
		}
		ld->batch[i] = 0;
		ld->slot_use[slot][i] = ++ld->issued[i];
	}
	return ld->rc ? tbi_fail(err, ld->rc, "%s", ld->why) : 0;
}

/* Waits until every GPU's copies reach the values in want[] (a slot's
 * uses, or everything issued). */
static int wait_copies(struct loader *ld, const uint64_t *want, struct tbi_err *err)
{
	struct tbi_engine *e = ld->e;
	for (int i = 0; i < e->n; i++) {
		if (!ld->copied[i])
			continue;
		int rc;
		while ((rc = tbh_signal_wait(ld->copied[i], want[i], WAIT_SLICE_MS)) == -ETIMEDOUT)
			;
		if (rc) {
			e->failed_gpu = e->g[i].index;
			return tbi_fail(err, -EIO, "GPU %d failed while loading the weights (%s)", e->g[i].index,
					tbh_last_error());
		}
	}
	return 0;
}

static int loader_open(struct loader *ld, struct tbi_err *err)
{
	struct tbi_engine *e = ld->e;
	for (int s = 0; s < LOAD_SLOTS; s++) {
		int rc = tbh_buffer_alloc(e->g[0].dev, CHUNK_BYTES, TBH_MEMORY_HOST, &ld->staging[s]);
		for (int i = 1; rc == 0 && i < e->n; i++)
			rc = tbh_buffer_map_to(ld->staging[s], e->g[i].dev);
		if (rc)
			return hal_fail(err, rc, &e->g[0], "staging memory for the load");
	}
	for (int i = 0; i < e->n; i++) {
		int rc = tbh_queue_create(e->g[i].dev, TBH_QUEUE_COPY, &ld->copyq[i]);
		if (rc == 0)
			rc = tbh_signal_create(e->g[i].dev, 0, &ld->copied[i]);
		if (rc)
			return hal_fail(err, rc, &e->g[i], "a copy queue for the load");
	}
	return 0;
}

/* After a failure too: nothing may still copy out of the staging memory
 * when it is freed (a GPU that failed copies nothing more). */
static void loader_close(struct loader *ld)
{
	struct tbi_err ignored;
	wait_copies(ld, ld->issued, &ignored);
	for (int i = 0; i < ld->e->n; i++) {
		tbh_queue_destroy(ld->copyq[i]);
		tbh_signal_destroy(ld->copied[i]);
	}
	for (int s = 0; s < LOAD_SLOTS; s++)
		tbh_buffer_free(ld->staging[s]);
}

static int verify_chunk(const struct tbs_manifest *m, const char *path, uint64_t off, const uint8_t *data,
			uint64_t len, struct tbi_err *err)
{
	for (uint64_t at = 0; at < len; at += m->chunk) {
		uint64_t n = len - at < m->chunk ? len - at : m->chunk;
		uint64_t idx = (off + at) / m->chunk;
		if (idx >= m->count || tbs_chunk_sum(data + at, n) != m->sums[idx])
			return tbi_fail(err, -EBADMSG, "%s: bytes %llu to %llu do not match the manifest", path,
					(unsigned long long)(off + at), (unsigned long long)(off + at + n));
	}
	return 0;
}

static int queue_chunk(struct tbs_reader *rd, struct tbs_req *q, uint8_t *buf, uint64_t off, uint64_t size,
		       struct tbi_err *err)
{
	struct tbs_error se = { 0 };
	uint64_t len = size - off < CHUNK_BYTES ? size - off : CHUNK_BYTES;
	*q = (struct tbs_req){ .buf = buf, .off = off, .len = len };
	int rc = tbs_reader_queue(rd, q, &se);
	return rc ? tbi_fail(err, rc, "%s", se.msg) : 0;
}

/* The model's hash chains each file's: the previous hash, the file's size and
 * the hash of its chunk checksums. */
static void fold_manifest(struct loader *ld, const struct tbs_manifest *m)
{
	uint64_t link[3] = { ld->manifest_hash, m->file_size, tbs_chunk_sum(m->sums, m->count * sizeof *m->sums) };
	ld->manifest_hash = tbs_chunk_sum(link, sizeof link);
}

/* Reads one file in chunks, two in flight: the next is read while the
 * current one is checked and copied to the GPUs. */
static int load_file(struct loader *ld, const struct tbi_engine_opts *o, struct tbi_err *err)
{
	const char *path = ld->e->model->files[ld->file];
	struct tbs_error se = { 0 };
	struct tbs_source *src = NULL;
	struct tbs_reader *rd = NULL;
	struct tbs_manifest man = { 0 };
	int rc = tbs_source_open_file(&src, path, &se);
	if (rc == 0 && o->verify)
		rc = tbs_manifest_read(path, &man, &se);
	if (rc == 0)
		rc = tbs_reader_open(&rd, src, NULL, &se);
	if (rc)
		rc = tbi_fail(err, rc, "%s", se.msg);
	uint64_t size = src ? tbs_source_size(src) : 0;
	if (rc == 0 && o->verify && (man.file_size != size || man.chunk == 0 || CHUNK_BYTES % man.chunk))
		rc = tbi_fail(err, -EBADMSG, "%s: its manifest describes another file (%llu bytes in chunks of %llu)",
			      path, (unsigned long long)man.file_size, (unsigned long long)man.chunk);
	if (rc == 0 && o->verify)
		fold_manifest(ld, &man);
	uint8_t *slot[LOAD_SLOTS] = { tbh_buffer_cpu(ld->staging[0]), tbh_buffer_cpu(ld->staging[1]) };
	uint64_t nchunks = (size + CHUNK_BYTES - 1) / CHUNK_BYTES;
	struct tbs_req req[LOAD_SLOTS];
	bool queued[LOAD_SLOTS] = { false, false };
	if (rc == 0 && nchunks && (rc = wait_copies(ld, ld->slot_use[0], err)) == 0)
		queued[0] = (rc = queue_chunk(rd, &req[0], slot[0], 0, size, err)) == 0;
	for (uint64_t c = 0; rc == 0 && c < nchunks; c++) {
		int s = (int)(c & 1);
		if (c + 1 < nchunks) {
			/* the other slot is free once the GPUs copied its last chunk out */
			if ((rc = wait_copies(ld, ld->slot_use[s ^ 1], err)))
				break;
			rc = queue_chunk(rd, &req[s ^ 1], slot[s ^ 1], (c + 1) * CHUNK_BYTES, size, err);
			if (rc)
				break;
			queued[s ^ 1] = true;
		}
		rc = tbs_reader_wait(rd, &req[s]);
		queued[s] = false;
		if (rc) {
			rc = tbi_fail(err, rc, "%s", req[s].err.msg);
			break;
		}
		if (o->verify && (rc = verify_chunk(&man, path, req[s].off, req[s].buf, req[s].len, err)))
			break;
		if ((rc = scatter(ld, s, req[s].off, req[s].len, err)))
			break;
		ld->done += req[s].len;
		if (o->progress)
			o->progress(o->progress_ctx, ld->done, ld->total);
	}
	/* nothing may still be reading into the slots when they are reused */
	for (int k = 0; k < LOAD_SLOTS; k++)
		if (queued[k])
			tbs_reader_wait(rd, &req[k]);
	tbs_manifest_free(&man);
	tbs_reader_close(rd);
	tbs_source_close(src);
	return rc;
}

/* ---- emitting a step ------------------------------------------------------------- */

/* Commands go to the queue now (prefill) or into its recording (decode);
 * the first failure is kept and the rest of the step is skipped. */
struct emit {
	struct tbi_engine *e;
	struct gpu *g;
	bool record;
	int rc;
	struct tbi_err *err;
};

static uint32_t launch(struct emit *em, enum kern_id id, const uint64_t *vals, uint32_t nvals, uint32_t gx, uint32_t gy,
		       uint32_t bx)
{
	if (em->rc)
		return 0;
	struct gpu *g = em->g;
	const struct kern *k = &g->kern[id];
	if (nvals != k->nargs) {
		em->rc = tbi_fail(em->err, -EINVAL, "kernel %s takes %u arguments, the engine passes %u", kern_names[id],
				  k->nargs, nvals);
		return 0;
	}
	uint8_t blk[512] = { 0 };
	for (uint32_t i = 0; i < nvals; i++)
		memcpy(blk + k->arg[i].offset, &vals[i], k->arg[i].size <= 8 ? k->arg[i].size : 8);
	/* the kernels' grids are one-dimensional but for matmul's token tiles (y) */
	uint32_t grid[3] = { gx, gy, 1 }, block[3] = { bx, 1, 1 }, handle = 0;
	int rc = em->record ? tbh_graph_exec(g->q, k->k, blk, k->size, grid, block, &handle)
			    : tbh_queue_exec(g->q, k->k, blk, k->size, grid, block);
	rc = rc ? rc : tbh_queue_barrier(g->q);
	if (rc)
		em->rc = hal_fail(em->err, rc, g, kern_names[id]);
	g->launches++;
	return handle;
}

/* The byte offset of kernel argument i (what a graph patch changes). */
static uint32_t arg_offset(const struct gpu *g, enum kern_id id, uint32_t i)
{
	return g->kern[id].arg[i].offset;
}

static uint64_t act(const struct gpu *g, uint64_t off)
{
	return tbh_buffer_address(g->act) + off;
}

static uint64_t weight(const struct gpu *g, const struct slice *s)
{
	return tbh_buffer_address(g->weights) + s->dst;
}

static uint64_t part(const struct tbi_engine *e, const struct gpu *g, enum part_id p)
{
	return tbh_buffer_address(g->parts) + (uint64_t)p * part_bytes(e);
}

/* y[t][0..rows) (+)= slice . x[t]: x already offset to the slice's first column. */
static void matmul(struct emit *em, const struct slice *s, uint64_t x, uint32_t x_stride, uint32_t T, uint64_t y,
		   uint32_t y_stride, bool accumulate)
{
	uint32_t rows = (uint32_t)(s->r1 - s->r0), cols = (uint32_t)(s->c1 - s->c0);
	if (!rows)
		return;
	uint64_t v[] = { weight(em->g, s), s->t->type, s->row_bytes, cols, rows, x, x_stride, T, y, y_stride, accumulate };
	/* f16 weights over a prompt's batch: tiles of 16 rows by 16 tokens on
	 * the matrix cores, one wave each (each weight is read once per 16
	 * tokens, not per 8) */
	if (s->t->type == TBI_F16 && T >= WMMA_MIN_TOKENS) {
		launch(em, K_MATMUL_WMMA, v, 11, (rows + 15) / 16 * 32, (T + 15) / 16, 32);
		return;
	}
	/* a work-group of eight waves for eight rows, a tile of eight tokens */
	launch(em, K_MATMUL, v, 11, (rows + 7) / 8 * 256, (T + 7) / 8, 256);
}

static void rmsnorm(struct emit *em, uint64_t x, const struct slice *w, uint32_t T, uint64_t out)
{
	const struct tbi_hparams *hp = &em->e->hp;
	uint64_t v[] = { x, hp->dim, weight(em->g, w), w->t->type, hp->dim, u64_of_float(hp->rms_eps), T, out, hp->dim };
	launch(em, K_RMSNORM, v, 9, T * 256, 1, 256);
}

/* Each GPU tells the others its partial sum p is written, waits for theirs
 * and adds them to its residual x (or sets x to them). */
static void sync_add(struct emit *em, uint32_t point, enum part_id p, uint64_t contributors, uint32_t T,
		     bool accumulate)
{
	struct tbi_engine *e = em->e;
	struct gpu *g = em->g;
	if (em->rc)
		return;
	int rc = em->record ? tbh_graph_signal(g->q, g->sig, point, NULL) : tbh_queue_signal(g->q, g->sig, point);
	uint64_t parts[8] = { 0 };
	uint32_t np = 0;
	for (int i = 0; i < e->n && rc == 0; i++) {
		if (!(contributors & (1ull << i)))
			continue;
		parts[np++] = part(e, &e->g[i], p);
		if (&e->g[i] != g)
			rc = em->record ? tbh_graph_wait(g->q, e->g[i].sig, point, NULL)
					: tbh_queue_wait(g->q, e->g[i].sig, point);
	}
	if (rc) {
		em->rc = hal_fail(em->err, rc, g, "a sync point");
		return;
	}
	g->last_point = point;
	uint64_t v[] = { act(g, g->a.x), e->hp.dim, e->hp.dim, T, np, parts[0], parts[1], parts[2], parts[3],
			 parts[4], parts[5], parts[6], parts[7], e->hp.dim, accumulate };
	launch(em, K_ALLREDUCE, v, 15, T * e->hp.dim, 1, 64);
}

static uint64_t contributors(const struct tbi_engine *e, int what)
{
	uint64_t m = 0;
	for (int i = 0; i < e->n; i++) {
		const struct gpu *g = &e->g[i];
		bool has = what == P_EMBED ? g->v1 > g->v0 : what == P_ATTN ? g->qh1 > g->qh0 : g->f1 > g->f0;
		if (has)
			m |= 1ull << i;
	}
	return m;
}

static void attention_block(struct emit *em, struct layer *L, uint32_t l, uint32_t T, uint32_t pos0)
{
	struct tbi_engine *e = em->e;
	struct gpu *g = em->g;
	const struct tbi_hparams *hp = &e->hp;
	struct act *a = &g->a;
	uint32_t hd = hp->head_dim, nhl = g->qh1 - g->qh0, nkvl = g->kvh1 - g->kvh0;
	rmsnorm(em, act(g, a->x), &L->attn_norm, T, act(g, a->xn));
	if (nhl) {
		uint32_t qs = nhl * hd, ks = nkvl * hd;
		matmul(em, &L->q, act(g, a->xn), hp->dim, T, act(g, a->q), qs, false);
		matmul(em, &L->k, act(g, a->xn), hp->dim, T, act(g, a->k), ks, false);
		matmul(em, &L->v, act(g, a->xn), hp->dim, T, act(g, a->v), ks, false);
		uint64_t layout = hp->rope_layout == TBI_ROPE_HALVES ? 1 : 0;
		uint64_t rq[] = { act(g, a->q), qs, nhl, hd, T, pos0, act(g, a->inv_freq), layout };
		uint32_t h_rope_q = launch(em, K_ROPE, rq, 8, T * nhl * hd / 2, 1, 64);
		uint64_t rk[] = { act(g, a->k), ks, nkvl, hd, T, pos0, act(g, a->inv_freq), layout };
		uint32_t h_rope_k = launch(em, K_ROPE, rk, 8, T * nkvl * hd / 2, 1, 64);
		uint64_t layer_cache = (uint64_t)l * e->ctx * ks * 4;
		uint64_t kv[] = { act(g, a->k), ks, act(g, a->v), ks, T, nkvl, hd, act(g, a->cache_k) + layer_cache,
				  act(g, a->cache_v) + layer_cache, pos0 };
		uint32_t h_kv = launch(em, K_KV_STORE, kv, 10, T * ks, 1, 64);
		uint32_t ao = hp->n_heads * hd;
		uint64_t at[] = { act(g, a->q), qs, act(g, a->cache_k) + layer_cache, act(g, a->cache_v) + layer_cache,
				  nhl, hd, g->qh0, g->kvh0, hp->n_heads / hp->n_kv_heads, ks, T, pos0,
				  u64_of_float(1.0f / sqrtf((float)hd)), act(g, a->scratch), e->ctx,
				  act(g, a->att) + (uint64_t)g->qh0 * hd * 4, ao };
		uint32_t h_att = launch(em, K_ATTENTION, at, 17, nhl * T * 256, 1, 256);
		if (em->record) {	/* what each replay changes: the position */
			L->h_rope_q = h_rope_q;
			L->h_rope_k = h_rope_k;
			L->h_kv = h_kv;
			L->h_att = h_att;
		}
		matmul(em, &L->o, act(g, a->att) + L->o.c0 * 4, ao, T, part(e, g, P_ATTN), hp->dim, false);
	}
}

static void ffn_block(struct emit *em, struct layer *L, uint32_t T)
{
	struct tbi_engine *e = em->e;
	struct gpu *g = em->g;
	const struct tbi_hparams *hp = &e->hp;
	struct act *a = &g->a;
	rmsnorm(em, act(g, a->x), &L->ffn_norm, T, act(g, a->xn));
	uint32_t n = g->f1 - g->f0, fs = hp->ffn_dim;
	if (!n)
		return;
	uint64_t off = (uint64_t)g->f0 * 4;
	matmul(em, &L->gate, act(g, a->xn), hp->dim, T, act(g, a->gate) + off, fs, false);
	matmul(em, &L->up, act(g, a->xn), hp->dim, T, act(g, a->up) + off, fs, false);
	uint64_t sm[] = { act(g, a->gate) + off, act(g, a->up) + off, n, T, fs, act(g, a->hid) + off };
	launch(em, K_SILU_MUL, sm, 6, T * n, 1, 64);
	matmul(em, &L->down, act(g, a->hid) + L->down.c0 * 4, fs, T, part(e, g, P_FFN), hp->dim, false);
}

static void signal_point(struct emit *em, uint32_t point)
{
	if (em->rc)
		return;
	struct gpu *g = em->g;
	int rc = em->record ? tbh_graph_signal(g->q, g->sig, point, NULL) : tbh_queue_signal(g->q, g->sig, point);
	if (rc)
		em->rc = hal_fail(em->err, rc, g, "a signal");
	g->last_point = point;
}

/* The logits of the last token, each GPU's vocabulary rows written into
 * GPU 0's buffer; GPU 0 waits for them all and samples the next token. */
static void emit_head(struct emit *em, uint32_t *point, uint32_t T, const struct tbi_sampling *smp, float u)
{
	struct tbi_engine *e = em->e;
	struct gpu *g = em->g;
	const struct tbi_hparams *hp = &e->hp;
	struct act *a = &g->a;
	uint64_t last = act(g, a->x) + (uint64_t)(T - 1) * hp->dim * 4;
	rmsnorm(em, last, &g->out_norm, 1, act(g, a->xn));
	matmul(em, &g->output, act(g, a->xn), hp->dim, 1, tbh_buffer_address(e->logits) + (uint64_t)g->v0 * 4,
	       hp->n_vocab, false);
	signal_point(em, ++*point);
	if (g != &e->g[0] || em->rc)
		return;
	int rc = 0;
	for (int i = 1; i < e->n && rc == 0; i++)
		if (e->g[i].v1 > e->g[i].v0)
			rc = em->record ? tbh_graph_wait(g->q, e->g[i].sig, *point, NULL)
					: tbh_queue_wait(g->q, e->g[i].sig, *point);
	if (rc) {
		em->rc = hal_fail(em->err, rc, g, "the logits' sync point");
		return;
	}
	uint64_t v[] = { tbh_buffer_address(e->logits), hp->n_vocab, u64_of_float(smp->temperature), smp->top_k,
			 u64_of_float(smp->top_p), u64_of_float(u), tbh_buffer_address(e->tokens), 0 };
	uint32_t h = launch(em, K_SAMPLE, v, 8, 256, 1, 256);
	if (em->record)
		g->h_sample = h;
}

/* One step on one GPU: T tokens (in e->tokens) at positions pos0..; with
 * head, the logits of the last and the sampled next token. */
static void emit_step(struct emit *em, uint32_t T, uint32_t pos0, bool head, const struct tbi_sampling *smp, float u)
{
	struct tbi_engine *e = em->e;
	struct gpu *g = em->g;
	const struct tbi_hparams *hp = &e->hp;
	uint32_t point = 0;
	if (g->v1 > g->v0) {
		uint64_t v[] = { weight(g, &g->embd), g->embd.t->type, g->embd.row_bytes, hp->dim, g->v0, g->v1,
				 tbh_buffer_address(e->tokens), T, part(e, g, P_EMBED), hp->dim };
		launch(em, K_EMBED, v, 10, T * hp->dim, 1, 64);
	}
	sync_add(em, ++point, P_EMBED, contributors(e, P_EMBED), T, false);
	for (uint32_t l = 0; l < hp->n_layers; l++) {
		attention_block(em, &g->layers[l], l, T, pos0);
		sync_add(em, ++point, P_ATTN, contributors(e, P_ATTN), T, true);
		ffn_block(em, &g->layers[l], T);
		sync_add(em, ++point, P_FFN, contributors(e, P_FFN), T, true);
		if (!em->record && em->rc == 0) {
			/* a prefill batch goes out layer by layer: a queue's batch is bounded */
			int rc = tbh_queue_submit(g->q);
			if (rc)
				em->rc = hal_fail(em->err, rc, g, "submitting");
		}
	}
	if (head)
		emit_head(em, &point, T, smp, u);
	/* The step's end, after every wait of this GPU: when the host has seen
	 * every GPU's, no GPU still polls a signal, and the signals can go back
	 * to 0 for the next step (a reset while a GPU had yet to see its
	 * peers' last values would leave it waiting forever). */
	signal_point(em, ++point);
}

/* ---- running steps --------------------------------------------------------------- */

static void reset_signals(struct tbi_engine *e)
{
	double now = now_s();
	for (int i = 0; i < e->n; i++) {
		tbh_signal_set(e->g[i].sig, 0);
		e->g[i].seen = 0;
		e->g[i].moved_s = now;
	}
}

/* After a failure: the GPU that made the least progress failed first (the
 * others stopped at a sync point, waiting for it).  Two at the same point
 * are both running their part (neither waits for the other): the one whose
 * signal has stood still longer is the one that hung, the other is slow. */
static int culprit(const struct tbi_engine *e)
{
	int worst = 0;
	for (int i = 1; i < e->n; i++) {
		uint64_t v = tbh_signal_value(e->g[i].sig), w = tbh_signal_value(e->g[worst].sig);
		if (v < w || (v == w && e->g[i].moved_s < e->g[worst].moved_s))
			worst = i;
	}
	return worst;
}

/* Notes when each GPU's signal last moved (while the host waits). */
static void watch_progress(struct tbi_engine *e)
{
	double now = now_s();
	for (int i = 0; i < e->n; i++) {
		struct gpu *g = &e->g[i];
		uint64_t v = tbh_signal_value(g->sig);
		if (v != g->seen || g->moved_s == 0) {
			g->seen = v;
			g->moved_s = now;
		}
	}
}

/* Waits for every GPU to reach the end of the step (the thread's CPU time
 * in it counted apart: it is spinning, not work). */
static int wait_step_inner(struct tbi_engine *e, struct tbi_err *err);

static int wait_step(struct tbi_engine *e, struct tbi_err *err)
{
	double c0 = thread_cpu_s();
	int rc = wait_step_inner(e, err);
	e->wait_cpu_s += thread_cpu_s() - c0;
	return rc;
}

static int wait_step_inner(struct tbi_engine *e, struct tbi_err *err)
{
	for (;;) {
		bool all = true;
		for (int i = 0; i < e->n; i++) {
			struct gpu *g = &e->g[i];
			int rc = tbh_signal_wait(g->sig, g->last_point, WAIT_SLICE_MS);
			watch_progress(e);
			if (rc == -ETIMEDOUT) {
				all = false;
				continue;
			}
			if (rc) {
				char why[400];
				snprintf(why, sizeof why, "%s", tbh_last_error());
				e->broken = true;
				e->failed_gpu = e->g[culprit(e)].index;
				return tbi_fail(err, -EIO, "GPU %d failed during generation (%s)", e->failed_gpu, why);
			}
		}
		if (all)
			return 0;
	}
}

static int submit_all(struct tbi_engine *e, struct tbi_err *err)
{
	for (int i = 0; i < e->n; i++) {
		int rc = tbh_queue_submit(e->g[i].q);
		if (rc)
			return hal_fail(err, rc, &e->g[i], "submitting");
	}
	return 0;
}

/* A prefill batch, straight into the queues. */
static int run_batch(struct tbi_engine *e, const int32_t *tokens, uint32_t T, uint32_t pos0, bool head,
		     const struct tbi_sampling *smp, float u, struct tbi_err *err)
{
	memcpy(tbh_buffer_cpu(e->tokens), tokens, (size_t)T * 4);
	reset_signals(e);
	for (int i = 0; i < e->n; i++) {
		struct emit em = { .e = e, .g = &e->g[i], .err = err };
		emit_step(&em, T, pos0, head, smp, u);
		if (em.rc)
			return em.rc;
	}
	int rc = submit_all(e, err);
	return rc ? rc : wait_step(e, err);
}

/* The decode step, recorded once per GPU. */
static int record_steps(struct tbi_engine *e, struct tbi_err *err)
{
	struct tbi_sampling greedy = { .temperature = 0, .top_k = 1, .top_p = 1 };
	uint32_t launches = 0;
	for (int i = 0; i < e->n; i++) {
		struct gpu *g = &e->g[i];
		int rc = tbh_graph_begin(g->q);
		if (rc)
			return hal_fail(err, rc, g, "recording the decode step");
		g->launches = 0;
		struct emit em = { .e = e, .g = g, .record = true, .err = err };
		emit_step(&em, 1, 0, true, &greedy, 0);
		rc = tbh_graph_end(g->q, &g->step);
		if (em.rc)
			return em.rc;
		if (rc)
			return hal_fail(err, rc, g, "recording the decode step");
		launches += g->launches;
	}
	e->launches_per_token = launches;
	return 0;
}

static int patch_u32(struct gpu *g, uint32_t handle, enum kern_id id, uint32_t arg, uint32_t value,
		     struct tbi_err *err)
{
	int rc = tbh_graph_set_args(g->step, handle, arg_offset(g, id, arg), &value, 4);
	return rc ? hal_fail(err, rc, g, "patching the decode step") : 0;
}

static int run_decode(struct tbi_engine *e, uint32_t pos, float u, struct tbi_err *err)
{
	reset_signals(e);
	for (int i = 0; i < e->n; i++) {
		struct gpu *g = &e->g[i];
		int rc = 0;
		for (uint32_t l = 0; l < e->hp.n_layers && rc == 0 && g->qh1 > g->qh0; l++) {
			struct layer *L = &g->layers[l];
			rc = patch_u32(g, L->h_rope_q, K_ROPE, 5, pos, err);
			rc = rc ? rc : patch_u32(g, L->h_rope_k, K_ROPE, 5, pos, err);
			rc = rc ? rc : patch_u32(g, L->h_kv, K_KV_STORE, 9, pos, err);
			rc = rc ? rc : patch_u32(g, L->h_att, K_ATTENTION, 11, pos, err);
		}
		if (rc == 0 && i == 0) {
			uint32_t bits = (uint32_t)u64_of_float(u);
			rc = patch_u32(g, g->h_sample, K_SAMPLE, 5, bits, err);
		}
		if (rc)
			return rc;
		rc = tbh_queue_replay(g->q, g->step);
		if (rc)
			return hal_fail(err, rc, g, "replaying the decode step");
	}
	int rc = submit_all(e, err);
	return rc ? rc : wait_step(e, err);
}

static int set_sampling(struct tbi_engine *e, const struct tbi_sampling *s, struct tbi_err *err)
{
	struct gpu *g = &e->g[0];
	int rc = patch_u32(g, g->h_sample, K_SAMPLE, 2, (uint32_t)u64_of_float(s->temperature), err);
	rc = rc ? rc : patch_u32(g, g->h_sample, K_SAMPLE, 3, s->top_k, err);
	rc = rc ? rc : patch_u32(g, g->h_sample, K_SAMPLE, 4, (uint32_t)u64_of_float(s->top_p), err);
	return rc;
}

/* ---- generation ------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float uniform(uint64_t *rng)
{
	return (float)(splitmix(rng) >> 40) / 16777216.0f;
}

static int check_sampling(const struct tbi_sampling *in, struct tbi_sampling *s, struct tbi_err *err)
{
	*s = in ? *in : (struct tbi_sampling){ 0 };
	if (!s->top_k)
		s->top_k = DEFAULT_TOP_K;
	if (s->top_p == 0)
		s->top_p = 1;
	if (!(s->temperature >= 0 && s->temperature <= 100))
		return tbi_fail(err, -EINVAL, "temperature %g: it must be between 0 and 100", (double)s->temperature);
	if (s->top_k > SAMPLE_TOP_K_MAX)
		return tbi_fail(err, -EINVAL, "top-k %u: at most %d", s->top_k, SAMPLE_TOP_K_MAX);
	if (!(s->top_p > 0 && s->top_p <= 1))
		return tbi_fail(err, -EINVAL, "top-p %g: it must be in (0, 1]", (double)s->top_p);
	return 0;
}

static uint32_t common_prefix(const struct tbi_engine *e, const int32_t *p, size_t n)
{
	uint32_t k = 0;
	while (k < e->ncached && k < n && e->cached[k] == p[k])
		k++;
	return k;
}

int tbi_generate(tbi_engine *e, const int32_t *prompt, size_t n, uint32_t max_tokens, const struct tbi_sampling *in,
		 tbi_token_fn on_token, void *ctx, struct tbi_stats *st, struct tbi_err *err)
{
	struct tbi_stats stats = { 0 };
	struct tbi_sampling smp;
	if (!e || (!prompt && n))
		return tbi_fail(err, -EINVAL, "NULL argument");
	if (e->broken)
		return tbi_fail(err, -EIO, "GPU %d failed earlier: open the engine again", e->failed_gpu);
	if (!n)
		return tbi_fail(err, -EINVAL, "an empty prompt");
	if (n >= e->ctx)
		return tbi_fail(err, -E2BIG, "a prompt of %zu tokens does not fit in the context of %u", n, e->ctx);
	for (size_t i = 0; i < n; i++)
		if (prompt[i] < 0 || (uint32_t)prompt[i] >= e->hp.n_vocab)
			return tbi_fail(err, -EINVAL, "token %d at %zu: the vocabulary has %u", prompt[i], i,
					e->hp.n_vocab);
	int rc = check_sampling(in, &smp, err);
	rc = rc ? rc : set_sampling(e, &smp, err);
	if (rc)
		return rc;
	uint64_t rng = smp.seed;
	double t0 = now_s();
	/* the cache keeps what the previous call computed; at least one token is run again for its logits */
	uint32_t keep = common_prefix(e, prompt, n);
	if (keep >= n)
		keep = (uint32_t)n - 1;
	stats.prompt_tokens = (uint32_t)n;
	stats.cached_tokens = keep;
	e->ncached = keep;
	for (uint32_t at = keep; at < n; at += TMAX) {
		uint32_t T = (uint32_t)(n - at < TMAX ? n - at : TMAX);
		rc = run_batch(e, prompt + at, T, at, at + T == n, &smp, uniform(&rng), err);
		if (rc)
			return rc;
	}
	memcpy(e->cached + keep, prompt + keep, (n - keep) * sizeof *prompt);
	e->ncached = (uint32_t)n;
	double t_prefill = now_s();
	stats.prefill_tps = (double)(n - keep) / (t_prefill - t0);
	struct tbi_detok *dt = NULL;
	rc = tbi_detok_new(e->tok, &dt);
	if (rc)
		return tbi_fail(err, rc, "out of memory");
	double cpu0 = thread_cpu_s(), wait0 = e->wait_cpu_s, caller_cpu_s = 0, t_first = 0;
	uint32_t decoded = 0;
	stats.stop = TBI_STOP_LENGTH;
	for (uint32_t i = 0; i < max_tokens; i++) {
		int32_t tok = ((const int32_t *)tbh_buffer_cpu(e->tokens))[0];
		if (tok < 0 || (uint32_t)tok >= e->hp.n_vocab) {
			rc = tbi_fail(err, -EIO, "GPU %d sampled token %d, outside the vocabulary", e->g[0].index, tok);
			break;
		}
		stats.generated_tokens++;
		if (i == 0)
			t_first = now_s();
		bool eog = tbi_token_is_eog(e->tok, tok);
		size_t len = 0;
		const char *text = eog ? "" : tbi_detok_push(dt, tok, &len);
		if (eog) {
			size_t fl = 0;
			const char *rest = tbi_detok_flush(dt, &fl);
			text = rest, len = fl;
		}
		double cb0 = thread_cpu_s();
		bool stop = on_token && on_token(ctx, tok, text, len);
		caller_cpu_s += thread_cpu_s() - cb0;
		if (stop) {
			stats.stop = TBI_STOP_CALLER;
			break;
		}
		if (eog) {
			stats.stop = TBI_STOP_EOS;
			break;
		}
		if (i + 1 == max_tokens)
			break;
		if (e->ncached + 1 >= e->ctx) {
			stats.stop = TBI_STOP_CONTEXT;
			break;
		}
		/* the token goes into the cache at the next position; the step samples the one after */
		e->cached[e->ncached] = tok;
		rc = run_decode(e, e->ncached, uniform(&rng), err);
		if (rc)
			break;
		e->ncached++;
		decoded++;
	}
	if (rc == 0 && stats.stop != TBI_STOP_EOS && stats.stop != TBI_STOP_CALLER) {
		size_t fl = 0;
		const char *rest = tbi_detok_flush(dt, &fl);
		if (fl && on_token)
			on_token(ctx, -1, rest, fl);
	}
	tbi_detok_free(dt);
	double t_end = now_s();
	stats.first_token_s = t_first > 0 ? t_first - t0 : 0;
	stats.decode_tps = decoded ? (double)decoded / (t_end - (t_first > 0 ? t_first : t_prefill)) : 0;
	double cpu = thread_cpu_s() - cpu0, waits = e->wait_cpu_s - wait0;
	stats.host_us_per_token = decoded ? (cpu - waits - caller_cpu_s) * 1e6 / decoded : 0;
	stats.wait_us_per_token = decoded ? waits * 1e6 / decoded : 0;
	stats.launches_per_token = e->launches_per_token;
	stats.replays_per_token = (uint32_t)e->n;
	stats.weight_bytes_per_token = e->weight_bytes_per_token;
	if (st)
		*st = stats;
	return rc;
}

/* ---- opening --------------------------------------------------------------------- */

static const char *fmt_gib(uint64_t b, char *buf, size_t len)
{
	snprintf(buf, len, "%.2f GiB", (double)b / (double)(1ull << 30));
	return buf;
}

/* Refused before anything is loaded: a GPU whose share does not fit. */
static int check_fit(struct tbi_engine *e, struct tbi_err *err)
{
	for (int i = 0; i < e->n; i++) {
		struct gpu *g = &e->g[i];
		uint64_t avail = 0;
		int rc = tbh_device_free_vram(g->dev, &avail);
		if (rc)
			return hal_fail(err, rc, g, "reading its free VRAM");
		uint64_t need = g->weight_bytes + g->a.size + P_COUNT * part_bytes(e) + (i == 0 ? e->hp.n_vocab * 4ull : 0);
		if (need > avail) {
			char a[32], b[32];
			return tbi_fail(err, -ENOSPC,
					"GPU %d: the model's share and a context of %u tokens need %s of VRAM; %s is free "
					"(use more GPUs or a smaller --context)",
					g->index, e->ctx, fmt_gib(need, a, sizeof a), fmt_gib(avail, b, sizeof b));
		}
	}
	return 0;
}

/* RoPE's inverse frequencies, with Llama 3.1's scaling when the model has it. */
static void rope_inv_freq(const struct tbi_hparams *hp, float *out)
{
	uint32_t half = hp->head_dim / 2;
	for (uint32_t i = 0; i < half; i++) {
		double f = pow((double)hp->rope_theta, -2.0 * i / (double)hp->head_dim);
		if (hp->rope_llama3) {
			double low_wavelen = hp->rope_orig_ctx / hp->rope_low_freq_factor;
			double high_wavelen = hp->rope_orig_ctx / hp->rope_high_freq_factor;
			double wavelen = 2 * M_PI / f;
			if (wavelen > low_wavelen) {
				f /= hp->rope_factor;
			} else if (wavelen >= high_wavelen) {
				double smooth = (hp->rope_orig_ctx / wavelen - hp->rope_low_freq_factor) /
						(hp->rope_high_freq_factor - hp->rope_low_freq_factor);
				f = (1 - smooth) * f / hp->rope_factor + smooth * f;
			}
		}
		out[i] = (float)f;
	}
}

/* GGUF Llama 3.1 files carry the RoPE scaling as frequency factors
 * (llama.cpp's rope_freqs.weight, f32, head_dim / 2): each frequency is
 * divided by its factor. */
static int rope_freq_factors(const struct tbi_engine *e, float *inv_freq, struct tbi_err *err)
{
	const struct tbi_tensor *t = tbi_model_tensor(e->model, "rope_freqs.weight");
	if (!t)
		return 0;
	uint32_t half = e->hp.head_dim / 2;
	float *f = calloc(half, sizeof *f);
	if (!f)
		return tbi_fail(err, -ENOMEM, "out of memory");
	const char *path = e->model->files[t->file];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n = fd < 0 ? -1 : pread(fd, f, (size_t)half * 4, (off_t)t->offset);
	int rc = n == (ssize_t)half * 4 ? 0 : tbi_fail(err, -EIO, "%s: reading rope_freqs.weight at %llu", path,
							  (unsigned long long)t->offset);
	if (fd >= 0)
		close(fd);
	for (uint32_t i = 0; i < half && rc == 0; i++) {
		if (!(f[i] > 0) || !isfinite(f[i]))
			rc = tbi_fail(err, -EINVAL, "%s: rope_freqs.weight[%u] is not a positive number", path, i);
		else
			inv_freq[i] /= f[i];
	}
	free(f);
	return rc;
}

/* The GPUs no other process holds (the default): another program's work
 * would slow every step of ours, and its memory is not ours to count on. */
static int pick_free(int count, int *out, int *n, struct tbi_err *err)
{
	int pid = 0, busy = 0;
	*n = 0;
	for (int i = 0; i < count && i < TBI_MAX_GPUS; i++) {
		int p[1];
		int h = tbh_device_holders(i, p, 1);
		if (h < 0)
			return tbi_fail(err, h, "GPU %d: %s", i, tbh_last_error());
		if (h > 0) {
			busy++, pid = p[0];
			continue;
		}
		out[(*n)++] = i;
	}
	if (*n == 0)
		return tbi_fail(err, -EBUSY, "all %d GPUs are in use by other processes (pid %d among them); "
			       "name the GPUs to share them", busy, pid);
	return 0;
}

static int open_gpus(struct tbi_engine *e, const struct tbi_engine_opts *o, struct tbi_err *err)
{
	int count = tbh_device_count();
	if (count < 0)
		return tbi_fail(err, count, "listing the GPUs: %s", tbh_last_error());
	int want = o->ngpus > 0 ? o->ngpus : count;
	if (want == 0)
		return tbi_fail(err, -ENODEV, "there are no GPUs");
	int free_gpus[TBI_MAX_GPUS], nfree = 0;
	if (!o->gpus) {
		int rc = pick_free(count, free_gpus, &nfree, err);
		if (rc)
			return rc;
		if (o->ngpus == 0)
			want = nfree;
		else if (want <= count && nfree < want)
			return tbi_fail(err, -EBUSY, "%d GPUs asked for; %d of the %d are free of other processes", want,
					nfree, count);
	}
	if (want > TBI_MAX_GPUS || want > count)
		return tbi_fail(err, -EINVAL, "%d GPUs asked for; there are %d (at most %d)", want, count, TBI_MAX_GPUS);
	for (int i = 0; i < want; i++) {
		int idx = o->gpus ? o->gpus[i] : free_gpus[i];
		if (idx < 0 || idx >= count)
			return tbi_fail(err, -EINVAL, "GPU %d: there are GPUs 0 to %d", idx, count - 1);
		for (int j = 0; j < i; j++)
			if (e->g[j].index == idx)
				return tbi_fail(err, -EINVAL, "GPU %d given twice", idx);
		struct gpu *g = &e->g[i];
		g->index = idx;
		int rc = tbh_device_open(idx, &g->dev);
		if (rc)
			return tbi_fail(err, rc, "opening GPU %d: %s", idx, tbh_last_error());
		e->n = i + 1;
		if (o->hang_timeout_ms && (rc = tbh_device_set_hang_timeout(g->dev, o->hang_timeout_ms)))
			return hal_fail(err, rc, g, "setting the hang timeout");
	}
	return 0;
}

static uint64_t slice_bytes(const struct slice *s)
{
	return s->t ? (s->r1 - s->r0) * s->row_bytes : 0;
}

/* What one decode step reads of the weights: every matrix slice and norm,
 * one row of the embedding. */
static uint64_t bytes_per_token(const struct tbi_engine *e)
{
	uint64_t b = 0;
	for (int i = 0; i < e->n; i++) {
		const struct gpu *g = &e->g[i];
		b += slice_bytes(&g->out_norm) + slice_bytes(&g->output);
		for (uint32_t l = 0; l < e->hp.n_layers; l++) {
			const struct layer *L = &g->layers[l];
			b += slice_bytes(&L->attn_norm) + slice_bytes(&L->q) + slice_bytes(&L->k) + slice_bytes(&L->v) +
			     slice_bytes(&L->o) + slice_bytes(&L->ffn_norm) + slice_bytes(&L->gate) +
			     slice_bytes(&L->up) + slice_bytes(&L->down);
		}
	}
	return b + e->g[0].embd.row_bytes;
}

static int load_weights(struct tbi_engine *e, const struct tbi_engine_opts *o, struct tbi_err *err)
{
	struct loader ld = { .e = e };
	for (uint32_t f = 0; f < e->model->n_files; f++)
		ld.total += e->model->file_sizes[f];
	double t0 = now_s();
	int rc = loader_open(&ld, err);
	for (uint32_t f = 0; rc == 0 && f < e->model->n_files; f++) {
		ld.file = f;
		rc = load_file(&ld, o, err);
	}
	/* the weights are in place once every copy is done */
	if (rc == 0)
		rc = wait_copies(&ld, ld.issued, err);
	loader_close(&ld);
	if (rc)
		return rc;
	e->load_bytes = ld.done;
	if (o->verify)
		snprintf(e->manifest_hash, sizeof e->manifest_hash, "%016llx", (unsigned long long)ld.manifest_hash);
	e->load_seconds = now_s() - t0;
	return 0;
}

int tbi_engine_open(const char *model, const struct tbi_engine_opts *opts, tbi_engine **out, struct tbi_err *err)
{
	struct tbi_engine_opts o = opts ? *opts : (struct tbi_engine_opts){ 0 };
	char kpath[PATH_MAX];
	if (!model || !out)
		return tbi_fail(err, -EINVAL, "NULL argument");
	*out = NULL;
	if (!o.kernels) {
		if (default_kernels(kpath, sizeof kpath))
			return tbi_fail(err, -ENOENT, "cannot tell where the GPU kernels are installed");
		o.kernels = kpath;
	}
	tbi_engine *e = calloc(1, sizeof *e);
	if (!e)
		return tbi_fail(err, -ENOMEM, "out of memory");
	e->failed_gpu = -1;
	int rc = tbi_model_open(model, &e->model, err);
	if (rc == 0) {
		e->hp = e->model->hp;
		rc = tbi_tokenizer_new(&e->model->vocab, &e->tok, err);
	}
	if (rc == 0 && e->hp.head_dim > 256)	/* the attention kernel's work-group holds a head */
		rc = tbi_fail(err, -EOPNOTSUPP, "%s: heads of %u dimensions; the engine takes at most 256", model,
			      e->hp.head_dim);
	if (rc == 0)
		rc = tbi_chat_template_pick(&e->model->vocab, NULL, &e->chat, err);
	if (rc == 0) {
		/* attention covers the whole context, which is exactly a sliding
		 * window's as long as the context is no longer than the window */
		uint32_t most = e->hp.ctx_len;
		if (e->hp.sliding_window && e->hp.sliding_window < most)
			most = e->hp.sliding_window;
		uint32_t ctx = o.context ? o.context : (most < DEFAULT_CONTEXT ? most : DEFAULT_CONTEXT);
		if (ctx < 2 || ctx > most)
			rc = tbi_fail(err, -EINVAL, "a context of %u tokens: the model takes 2 to %u%s", ctx, most,
				      most < e->hp.ctx_len ? " (its sliding attention window; the engine attends to the "
							     "whole context)" : "");
		e->ctx = ctx;
		e->cached = calloc(ctx, sizeof *e->cached);
		if (rc == 0 && !e->cached)
			rc = tbi_fail(err, -ENOMEM, "out of memory");
	}
	rc = rc ? rc : open_gpus(e, &o, err);
	for (int i = 0; i < e->n && rc == 0; i++)
		rc = plan_gpu(e, &e->g[i], i, err);
	rc = rc ? rc : check_fit(e, err);
	for (int i = 0; i < e->n && rc == 0; i++) {
		rc = load_kernels(&e->g[i], o.kernels, err);
		rc = rc ? rc : alloc_gpu(e, &e->g[i], err);
		if (rc == 0) {
			float *f = (float *)((uint8_t *)tbh_buffer_cpu(e->g[i].act) + e->g[i].a.inv_freq);
			rope_inv_freq(&e->hp, f);
			rc = rope_freq_factors(e, f, err);
		}
	}
	rc = rc ? rc : share(e, err);
	rc = rc ? rc : load_weights(e, &o, err);
	rc = rc ? rc : record_steps(e, err);
	if (rc) {
		tbi_engine_close(e);
		return rc;
	}
	e->weight_bytes_per_token = bytes_per_token(e);
	*out = e;
	return 0;
}

void tbi_engine_close(tbi_engine *e)
{
	if (!e)
		return;
	for (int i = e->n - 1; i >= 0; i--) {
		struct gpu *g = &e->g[i];
		tbh_graph_free(g->step);
		tbh_queue_destroy(g->q);
		tbh_signal_destroy(g->sig);
		tbh_buffer_free(g->weights);
		tbh_buffer_free(g->act);
		tbh_buffer_free(g->parts);
		tbh_program_free(g->prog);
		free(g->layers);
	}
	tbh_buffer_free(e->logits);
	tbh_buffer_free(e->tokens);
	for (int i = e->n - 1; i >= 0; i--)
		tbh_device_close(e->g[i].dev);
	tbi_tokenizer_free(e->tok);
	tbi_model_free(e->model);
	free(e->cached);
	free(e);
}

void tbi_engine_get_info(const tbi_engine *e, struct tbi_engine_info *info)
{
	memset(info, 0, sizeof *info);
	const struct tbi_model *m = e->model;
	snprintf(info->name, sizeof info->name, "%s", m->name);
	snprintf(info->format, sizeof info->format, "%s", m->format == TBI_FORMAT_GGUF ? "gguf" : "safetensors");
	const struct tbi_tensor *q = tbi_model_tensor(m, "blk.0.attn_q.weight");
	snprintf(info->weight_type, sizeof info->weight_type, "%s", q ? tbi_type_name(q->type) : "?");
	info->n_vocab = e->hp.n_vocab;
	info->dim = e->hp.dim;
	info->n_layers = e->hp.n_layers;
	info->n_heads = e->hp.n_heads;
	info->n_kv_heads = e->hp.n_kv_heads;
	info->ffn_dim = e->hp.ffn_dim;
	info->context = e->ctx;
	info->ngpus = e->n;
	for (uint32_t i = 0; i < m->n_tensors; i++)
		info->weight_bytes += m->tensors[i].bytes;
	for (int i = 0; i < e->n; i++)
		info->vram_bytes[i] = e->g[i].weight_bytes + e->g[i].a.size + P_COUNT * part_bytes(e);
	info->load_seconds = e->load_seconds;
	info->load_bytes = e->load_bytes;
	snprintf(info->chat_template, sizeof info->chat_template, "%s", tbi_chat_template_name(e->chat));
	snprintf(info->manifest_hash, sizeof info->manifest_hash, "%s", e->manifest_hash);
}

int tbi_engine_failed_gpu(const tbi_engine *e)
{
	return e ? e->failed_gpu : -1;
}

int tbi_engine_logits(tbi_engine *e, float *out, size_t n, struct tbi_err *err)
{
	if (!e || !out)
		return tbi_fail(err, -EINVAL, "NULL argument");
	if (n < e->hp.n_vocab)
		return tbi_fail(err, -ERANGE, "room for %zu logits; the vocabulary has %u", n, e->hp.n_vocab);
	memcpy(out, tbh_buffer_cpu(e->logits), (size_t)e->hp.n_vocab * 4);
	return 0;
}

int tbi_encode(tbi_engine *e, const char *text, size_t len, bool add_bos, bool special, int32_t **tokens, size_t *n,
	       struct tbi_err *err)
{
	if (!e || (!text && len) || !tokens || !n)
		return tbi_fail(err, -EINVAL, "NULL argument");
	return tbi_tokenize(e->tok, text ? text : "", len, add_bos, special, tokens, n, err);
}

int tbi_encode_chat(tbi_engine *e, const char *template_name, const struct tbi_message *msgs, size_t n,
		    int32_t **tokens, size_t *ntokens, struct tbi_err *err)
{
	if (!e || (!msgs && n) || !tokens || !ntokens)
		return tbi_fail(err, -EINVAL, "NULL argument");
	enum tbi_chat_template t = e->chat;
	if (template_name) {
		int rc = tbi_chat_template_pick(&e->model->vocab, template_name, &t, err);
		if (rc)
			return rc;
	}
	struct tbi_chat_msg *m = calloc(n ? n : 1, sizeof *m);
	if (!m)
		return tbi_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		m[i] = (struct tbi_chat_msg){ msgs[i].role, msgs[i].content };
	struct tbi_chat_text text;
	int rc = tbi_chat_render(t, m, n, true, &text, err);
	free(m);
	if (rc)
		return rc;
	rc = tbi_tokenize_marked(e->tok, text.s, text.len, text.marks, text.n_marks, tokens, ntokens, err);
	tbi_chat_text_free(&text);
	return rc;
}
