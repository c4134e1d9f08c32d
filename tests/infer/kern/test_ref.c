/* The host reference forward pass (tests/infer/ref.c) on hand-built models:
 * a struct tbi_model in memory over tensors written to a temporary file at
 * scattered offsets, in each weight type.  A one-layer model's logits are
 * checked against a second, straightforward computation in double that
 * keeps no cache (every position's keys and values recomputed from the
 * tokens), with GQA, both RoPE layouts, Llama 3 scaling and a tied output;
 * the Llama 3.1 frequencies against their definition; bad models refused
 * with their messages.  Runs on the host.  Prints TAP. */
#include <complex.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/infer/ref.h"
#include "tests/tap.h"

enum { MAX_TENSORS = 16, N_TOKENS = 6 };

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)(uint32_t)(rng >> 32) / 2147483648.0f - 1.0f;
}

/* A model being built: its file, tensors and their dequantized weights. */
struct mk {
	char path[64];
	FILE *f;
	const char *files[1];
	uint64_t sizes[1];
	struct tbi_tensor t[MAX_TENSORS];
	char names[MAX_TENSORS][48];
	float *deq[MAX_TENSORS];
	uint32_t n;
	struct tbi_model m;
};

/* Appends a cols x rows tensor of random weights (norms near 1) after a
 * few junk bytes. */
static int add(struct mk *k, const char *name, enum tbi_type type, uint32_t cols, uint32_t rows, int norm)
{
	uint64_t rb = ref_row_bytes(type, cols);
	uint8_t *bytes = malloc(rb * rows);
	float *src = malloc(sizeof(float) * cols * rows), *deq = malloc(sizeof(float) * cols * rows);
	if (k->n == MAX_TENSORS || !bytes || !src || !deq) {
		free(bytes), free(src), free(deq);
		return -ENOMEM;
	}
	for (size_t i = 0; i < (size_t)cols * rows; i++)
		src[i] = norm ? 1.0f + 0.3f * rnd() : 0.5f * rnd();
	for (uint32_t j = 0; j < rows; j++) {
		ref_encode_row(type, src + (size_t)j * cols, cols, bytes + j * rb);
		ref_dequant(type, bytes + j * rb, cols, deq + (size_t)j * cols);
	}
	static const uint8_t junk[13] = { 0xff, 0x7f, 0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	int rc = fwrite(junk, 1, k->n % 13 + 1, k->f) == k->n % 13 + 1 ? 0 : -EIO;
	long off = ftell(k->f);
	rc = rc || off < 0 || fwrite(bytes, 1, rb * rows, k->f) != rb * rows ? -EIO : 0;
	snprintf(k->names[k->n], sizeof k->names[0], "%s", name);
	k->t[k->n] = (struct tbi_tensor){ .name = k->names[k->n], .type = type, .ndim = rows > 1 ? 2 : 1,
					  .ne = { cols, rows, 1, 1 }, .file = 0, .offset = (uint64_t)off,
					  .bytes = rb * rows };
	k->deq[k->n++] = deq;
	free(bytes);
	free(src);
	return rc;
}

static const float *deq_of(const struct mk *k, const char *name)
{
	for (uint32_t i = 0; i < k->n; i++)
		if (!strcmp(k->names[i], name))
			return k->deq[i];
	return NULL;
}

static void mk_free(struct mk *k)
{
	for (uint32_t i = 0; i < k->n; i++)
		free(k->deq[i]);
	if (k->f)
		fclose(k->f);
	if (k->path[0])
		unlink(k->path);
	memset(k, 0, sizeof *k);
}

/* A one-layer (or n_layers) model of type `type` with the hyperparameters hp. */
static int build(struct mk *k, const struct tbi_hparams *hp, enum tbi_type type)
{
	memset(k, 0, sizeof *k);
	snprintf(k->path, sizeof k->path, "/tmp/tb-ref-test.XXXXXX");
	int fd = mkstemp(k->path);
	k->f = fd < 0 ? NULL : fdopen(fd, "w+b");
	if (!k->f)
		return -errno;
	uint32_t qd = hp->n_heads * hp->head_dim, kvd = hp->n_kv_heads * hp->head_dim;
	int rc = add(k, "token_embd.weight", type, hp->dim, hp->n_vocab, 0);
	rc = rc ? rc : add(k, "output_norm.weight", TBI_F32, hp->dim, 1, 1);
	if (!hp->tied_output)
		rc = rc ? rc : add(k, "output.weight", type, hp->dim, hp->n_vocab, 0);
	for (uint32_t l = 0; !rc && l < hp->n_layers; l++) {
		char n[48];
#define ADD(suffix, t, cols, rows, norm)                                                                       \
	(snprintf(n, sizeof n, "blk.%u.%s.weight", l, suffix), add(k, n, t, cols, rows, norm))
		rc = ADD("attn_norm", TBI_F32, hp->dim, 1, 1);
		rc = rc ? rc : ADD("attn_q", type, hp->dim, qd, 0);
		rc = rc ? rc : ADD("attn_k", type, hp->dim, kvd, 0);
		rc = rc ? rc : ADD("attn_v", type, hp->dim, kvd, 0);
		rc = rc ? rc : ADD("attn_output", type, qd, hp->dim, 0);
		rc = rc ? rc : ADD("ffn_norm", TBI_F32, hp->dim, 1, 1);
		rc = rc ? rc : ADD("ffn_gate", type, hp->dim, hp->ffn_dim, 0);
		rc = rc ? rc : ADD("ffn_up", type, hp->dim, hp->ffn_dim, 0);
		rc = rc ? rc : ADD("ffn_down", type, hp->ffn_dim, hp->dim, 0);
#undef ADD
	}
	rc = rc ? rc : fflush(k->f) ? -EIO : 0;
	k->files[0] = k->path;
	k->sizes[0] = (uint64_t)ftell(k->f);
	k->m = (struct tbi_model){ .format = TBI_FORMAT_GGUF, .arch = "llama", .n_files = 1, .files = k->files,
				   .file_sizes = k->sizes, .hp = *hp, .n_tensors = k->n, .tensors = k->t };
	return rc;
}

/* ---- the second computation ------------------------------------------------------ */

static void d_rmsnorm(double *out, const double *x, const float *w, uint32_t n, double eps)
{
	double s = 0;
	for (uint32_t i = 0; i < n; i++)
		s += x[i] * x[i];
	for (uint32_t i = 0; i < n; i++)
		out[i] = x[i] / sqrt(s / n + eps) * w[i];
}

static void d_matvec(double *y, const float *w, const double *x, uint32_t rows, uint32_t cols)
{
	for (uint32_t j = 0; j < rows; j++) {
		y[j] = 0;
		for (uint32_t i = 0; i < cols; i++)
			y[j] += (double)w[(size_t)j * cols + i] * x[i];
	}
}

/* Rotation as a complex product: the pair (re, im) times e^(i pos f). */
static void d_rope(double *x, uint32_t heads, uint32_t hd, uint32_t pos, const float *inv, enum tbi_rope_layout lay)
{
	for (uint32_t h = 0; h < heads; h++)
		for (uint32_t i = 0; i < hd / 2; i++) {
			double *re = &x[h * hd + (lay == TBI_ROPE_HALVES ? i : 2 * i)];
			double *im = &x[h * hd + (lay == TBI_ROPE_HALVES ? i + hd / 2 : 2 * i + 1)];
			double _Complex z = (*re + *im * 1.0i) * cexp(1.0i * pos * (double)inv[i]);
			*re = creal(z);
			*im = cimag(z);
		}
}

enum { D = 64 };		/* the largest dim, q and kv width, ffn the tests use */

/* The logits after tokens[0..pos] of a one-layer model, nothing cached. */
static void direct(const struct mk *k, const struct tbi_hparams *hp, const int32_t *tokens, uint32_t pos,
		   double *logits)
{
	uint32_t dim = hp->dim, hd = hp->head_dim, qd = hp->n_heads * hd, kvd = hp->n_kv_heads * hd;
	const float *embd = deq_of(k, "token_embd.weight");
	float inv[D / 2];
	ref_rope_inv_freq(hp, inv);
	static double kk[N_TOKENS][D], vv[N_TOKENS][D];
	double xn[D], q[D], x[D], att[D], o[D], g[2 * D], u[2 * D];
	for (uint32_t p = 0; p <= pos; p++) {
		for (uint32_t i = 0; i < dim; i++)
			x[i] = embd[(size_t)tokens[p] * dim + i];
		d_rmsnorm(xn, x, deq_of(k, "blk.0.attn_norm.weight"), dim, hp->rms_eps);
		d_matvec(kk[p], deq_of(k, "blk.0.attn_k.weight"), xn, kvd, dim);
		d_matvec(vv[p], deq_of(k, "blk.0.attn_v.weight"), xn, kvd, dim);
		d_rope(kk[p], hp->n_kv_heads, hd, p, inv, hp->rope_layout);
		if (p == pos) {
			d_matvec(q, deq_of(k, "blk.0.attn_q.weight"), xn, qd, dim);
			d_rope(q, hp->n_heads, hd, p, inv, hp->rope_layout);
		}
	}
	for (uint32_t h = 0; h < hp->n_heads; h++) {
		uint32_t kvh = h * hp->n_kv_heads / hp->n_heads;
		double s[N_TOKENS], m = -INFINITY, z = 0;
		for (uint32_t p = 0; p <= pos; p++) {
			s[p] = 0;
			for (uint32_t i = 0; i < hd; i++)
				s[p] += q[h * hd + i] * kk[p][kvh * hd + i] / sqrt(hd);
			m = fmax(m, s[p]);
		}
		for (uint32_t p = 0; p <= pos; p++)
			z += exp(s[p] - m);
		for (uint32_t i = 0; i < hd; i++) {
			att[h * hd + i] = 0;
			for (uint32_t p = 0; p <= pos; p++)
				att[h * hd + i] += exp(s[p] - m) / z * vv[p][kvh * hd + i];
		}
	}
	d_matvec(o, deq_of(k, "blk.0.attn_output.weight"), att, dim, qd);
	for (uint32_t i = 0; i < dim; i++)
		x[i] += o[i];
	d_rmsnorm(xn, x, deq_of(k, "blk.0.ffn_norm.weight"), dim, hp->rms_eps);
	d_matvec(g, deq_of(k, "blk.0.ffn_gate.weight"), xn, hp->ffn_dim, dim);
	d_matvec(u, deq_of(k, "blk.0.ffn_up.weight"), xn, hp->ffn_dim, dim);
	for (uint32_t i = 0; i < hp->ffn_dim; i++)
		g[i] = g[i] / (1 + exp(-g[i])) * u[i];
	d_matvec(o, deq_of(k, "blk.0.ffn_down.weight"), g, dim, hp->ffn_dim);
	for (uint32_t i = 0; i < dim; i++)
		x[i] += o[i];
	d_rmsnorm(xn, x, deq_of(k, "output_norm.weight"), dim, hp->rms_eps);
	d_matvec(logits, deq_of(k, hp->tied_output ? "token_embd.weight" : "output.weight"), xn, hp->n_vocab, dim);
}

static struct tbi_hparams small(void)
{
	return (struct tbi_hparams){ .n_vocab = 50, .dim = 40, .n_layers = 1, .n_heads = 4, .n_kv_heads = 2,
				     .head_dim = 10, .ffn_dim = 56, .ctx_len = 64, .rms_eps = 1e-5f,
				     .rope_theta = 10000.0f };
}

/* ref_forward over N_TOKENS tokens against direct(); the worst difference
 * relative to the logits' largest magnitude. */
static int compare(const struct tbi_hparams *hp, enum tbi_type type, double *worst)
{
	struct mk k;
	struct ref_model *r = NULL;
	char why[256] = "";
	int rc = build(&k, hp, type);
	rc = rc ? rc : ref_open(&k.m, 16, &r, why, sizeof why);
	if (rc)
		printf("# %s\n", why);
	static const int32_t tokens[N_TOKENS] = { 1, 17, 42, 17, 0, 49 };
	float logits[64];
	double want[64];
	*worst = 0;
	for (uint32_t p = 0; !rc && p < N_TOKENS; p++) {
		rc = ref_forward(r, tokens[p], p, logits);
		direct(&k, hp, tokens, p, want);
		double d = 0, s = 0;
		for (uint32_t i = 0; i < hp->n_vocab; i++) {
			d = fmax(d, fabs(logits[i] - want[i]));
			s = fmax(s, fabs(want[i]));
		}
		*worst = fmax(*worst, d / s);
		rc = rc ? rc : !(d <= 1e-5 * s) ? -EDOM : 0;
	}
	ref_free(r);
	mk_free(&k);
	return rc;
}

static void test_forward(void)
{
	static const char *const names[] = { "f32", "f16", "bf16", "q8_0" };
	double worst;
	for (int t = TBI_F32; t <= TBI_Q8_0; t++) {
		struct tbi_hparams hp = small();
		if (t == TBI_Q8_0)	/* rows of whole blocks */
			hp.dim = 64, hp.head_dim = 8, hp.n_heads = 8, hp.n_kv_heads = 2, hp.ffn_dim = 96;
		int rc = compare(&hp, (enum tbi_type)t, &worst);
		check(rc == 0, "ref (%s, 1 layer, GQA %u/%u, adjacent pairs): 6 positions' logits agree with the "
			       "uncached computation in double (worst %.2g)",
		      names[t], hp.n_heads, hp.n_kv_heads, worst);
	}
	struct tbi_hparams hp = small();
	hp.rope_layout = TBI_ROPE_HALVES;
	hp.tied_output = true;
	hp.rope_llama3 = true, hp.rope_theta = 500000.0f, hp.rope_factor = 8, hp.rope_low_freq_factor = 1;
	hp.rope_high_freq_factor = 4, hp.rope_orig_ctx = 8;
	int rc = compare(&hp, TBI_F16, &worst);
	check(rc == 0, "ref (f16, halves, llama3 scaling, tied output): agrees with the uncached computation (worst %.2g)",
	      worst);
	hp = small();
	hp.n_kv_heads = 4;	/* multi-head attention, no grouping */
	rc = compare(&hp, TBI_BF16, &worst);
	check(rc == 0, "ref (bf16, 4 KV heads for 4 heads): agrees with the uncached computation (worst %.2g)", worst);
}

/* Llama 3.1 8B's values: theta 500000, factor 8, low 1, high 4, original
 * context 8192, head_dim 128. */
static void test_inv_freq(void)
{
	struct tbi_hparams hp = { .head_dim = 128, .rope_theta = 500000.0f, .rope_llama3 = true, .rope_factor = 8,
				  .rope_low_freq_factor = 1, .rope_high_freq_factor = 4, .rope_orig_ctx = 8192 };
	float inv[64];
	ref_rope_inv_freq(&hp, inv);
	int good = 0;
	for (int i = 0; i < 64; i++) {
		double base = 1 / pow(500000.0, 2.0 * i / 128), period = 2 * M_PI / base, want;
		if (period < 8192 / 4.0)	/* high frequencies: as they are */
			want = base;
		else if (period > 8192 / 1.0)	/* low frequencies: slowed by the factor */
			want = base / 8;
		else {			/* between: interpolated in 1/period */
			double a = (8192 / period - 1) / (4 - 1);
			want = a * base + (1 - a) * base / 8;
		}
		good += fabs(inv[i] - want) <= 1e-6 * want;
	}
	check(good == 64 && inv[0] == 1.0f && fabsf(inv[63] * 8 - 1.0f / powf(500000.0f, 126.0f / 128)) < 1e-12f,
	      "ref_rope_inv_freq: Llama 3.1's scaled frequencies (%d of 64; first 1, last divided by 8)", good);
	hp.rope_llama3 = false;
	hp.rope_theta = 10000.0f;
	ref_rope_inv_freq(&hp, inv);
	check(inv[0] == 1.0f && fabsf(inv[32] - 0.01f) < 1e-8f, "ref_rope_inv_freq: theta^(-2i/d) without scaling");
}

static void test_refusals(void)
{
	struct tbi_hparams hp = small();
	struct mk k;
	struct ref_model *r = NULL;
	char why[256];
	int rc = build(&k, &hp, TBI_F32);
	struct tbi_tensor *q = &k.t[4];	/* blk.0.attn_q.weight */
	check(rc == 0 && !strcmp(q->name, "blk.0.attn_q.weight"), "a model builds");
	snprintf(k.names[4], sizeof k.names[4], "blk.0.attn_qq.weight");
	rc = ref_open(&k.m, 8, &r, why, sizeof why);
	check(rc == -ENOENT && strstr(why, "blk.0.attn_q.weight is missing"), "a missing tensor is named (%s)", why);
	snprintf(k.names[4], sizeof k.names[4], "blk.0.attn_q.weight");
	q->ne[1] = 41;
	rc = ref_open(&k.m, 8, &r, why, sizeof why);
	check(rc == -EINVAL && strstr(why, "blk.0.attn_q.weight is 40 x 41"), "a shape against the config (%s)", why);
	q->ne[1] = 40;
	k.t[0].offset = k.sizes[0] - 8;
	k.t[0].bytes = 50 * 40 * 4;
	rc = ref_open(&k.m, 8, &r, why, sizeof why);
	check(rc == -EIO && strstr(why, "the file ends first"), "a tensor past the end of its file (%s)", why);
	k.t[0].offset = UINT64_MAX - 100;
	rc = ref_open(&k.m, 8, &r, why, sizeof why);
	check(rc == -EINVAL && strstr(why, "token_embd.weight has"), "an offset that overflows (%s)", why);
	k.t[0].offset = 1;
	k.t[0].file = 3;
	rc = ref_open(&k.m, 8, &r, why, sizeof why);
	check(rc == -EINVAL && strstr(why, "names file 3 of 1"), "a file index out of range (%s)", why);
	k.t[0].file = 0;
	k.t[0].type = TBI_Q8_0;	/* 40 columns: no whole blocks */
	rc = ref_open(&k.m, 8, &r, why, sizeof why);
	check(rc == -EINVAL && strstr(why, "Q8_0 rows of 40"), "Q8_0 rows that are no whole blocks (%s)", why);
	k.t[0].type = TBI_F32;
	k.m.hp.n_kv_heads = 3;
	rc = ref_open(&k.m, 8, &r, why, sizeof why);
	check(rc == -EINVAL && strstr(why, "multiple of n_kv_heads 3"), "heads not a multiple of KV heads (%s)", why);
	k.m.hp.n_kv_heads = 2;
	rc = ref_open(&k.m, 8, &r, why, sizeof why);
	float logits[50];
	int frc = rc ? rc : ref_forward(r, 50, 0, logits);
	int prc = rc ? rc : ref_forward(r, 1, 1, logits);
	check(frc == -EINVAL && prc == -EINVAL, "ref_forward refuses a token past the vocabulary and a skipped position");
	ref_free(r);
	mk_free(&k);
}

int main(void)
{
	test_forward();
	test_inv_freq();
	test_refusals();
	return tap_done();
}
