/* libtbinfer's GPU kernels (infer/kernels.cl) on the simulated box, each
 * against a host computation in C (tests/infer/ref.c's operations) on
 * seeded random data: every weight type, sizes that are no multiples of 32
 * (Q8_0's rows are), T = 1, 3 and 17, strides wider than the rows.
 *
 * Tolerances (the GPU and the host add in different orders, and the GPU's
 * exp, sin and cos are the hardware's approximations):
 *   embed, kv_store, gather, allreduce_add: exact (the same operations)
 *   matmul: |gpu - ref| <= 1e-5 * sum_i |w_i x_i| + 1e-6 (ref in double)
 *   rmsnorm, silu_mul: 2e-5 relative to the row's largest magnitude
 *   rope: 2e-4 of the row's largest magnitude (angles up to ~1000 rad:
 *         the float angle itself is off by up to ~1e-4 rad)
 *   attention: 1e-4 relative to the largest value
 *   sample: the exact token (and probabilities within 1e-5)
 * Usage (inside `tb sim run`): test_infer_kernels INFER_CO.  Prints TAP. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/tbhal.h"
#include "tests/infer/ref.h"
#include "tests/tap.h"

enum { TIMEOUT_MS = 60000, MAX_ARGS = 24, MAX_BUFS = 64 };

static tbh_device *dev, *peer;
static tbh_program *prog;
static tbh_queue *queue;
static tbh_signal *sig;
static uint64_t sig_value;
static tbh_buffer *bufs[MAX_BUFS];
static int n_bufs;

static void print_last_error(void)
{
	printf("# last error: %s\n", tbh_last_error());
}

/* ---- data ---------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd_u32(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 32);
}

/* uniform in [-1, 1) */
static float rnd(void)
{
	return (float)rnd_u32() / 2147483648.0f - 1.0f;
}

static void rnd_fill(float *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = rnd();
}

static const char *const type_names[] = { "f32", "f16", "bf16", "q8_0" };

/* rows x cols random weights of type t, encoded into bytes (row_bytes a
 * row) and decoded again into deq: the host computes with exactly the
 * GPU's weights. */
static uint8_t *make_weights(enum tbi_type t, uint32_t rows, uint32_t cols, uint32_t *row_bytes, float *deq)
{
	uint32_t rb = (uint32_t)ref_row_bytes(t, cols);
	uint8_t *w = calloc(rows, rb);
	if (!w)
		return NULL;
	float *v = malloc(sizeof(float) * cols);
	for (uint32_t j = 0; v && j < rows; j++) {
		rnd_fill(v, cols);
		ref_encode_row(t, v, cols, w + (size_t)j * rb);
		ref_dequant(t, w + (size_t)j * rb, cols, deq + (size_t)j * cols);
	}
	if (!v) {
		free(w);
		return NULL;
	}
	free(v);
	*row_bytes = rb;
	return w;
}

/* ---- the GPU ------------------------------------------------------------------- */

/* A VRAM buffer of bytes (at least 4), filled from init (may be NULL:
 * zeroed); freed at the end of the program.  Its GPU address, 0 on failure. */
static uint64_t gpu_buf(tbh_device *d, size_t bytes, const void *init, void **cpu)
{
	tbh_buffer *b;
	if (n_bufs == MAX_BUFS || tbh_buffer_alloc(d, bytes < 4 ? 4 : bytes, TBH_MEMORY_DEVICE, &b))
		return 0;
	bufs[n_bufs++] = b;
	if (init)
		memcpy(tbh_buffer_cpu(b), init, bytes);
	else
		memset(tbh_buffer_cpu(b), 0, bytes);
	if (cpu)
		*cpu = tbh_buffer_cpu(b);
	return tbh_buffer_address(b);
}

static void free_bufs(void)
{
	while (n_bufs)
		tbh_buffer_free(bufs[--n_bufs]);
}

static uint64_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

/* Runs kernel name over grid (x, y) in blocks of bx with the arguments
 * (pointers: GPU addresses; floats: fbits) packed by the kernel's own
 * argument layout, and waits.  A kernel whose argument count differs from
 * the contract's fails. */
static int run(const char *name, uint32_t gx, uint32_t gy, uint32_t bx, const uint64_t *vals, uint32_t n)
{
	const tbh_kernel *k;
	int rc = tbh_program_kernel(prog, name, &k);
	if (rc)
		return rc;
	if (tbh_kernel_arg_count(k) != n) {
		printf("# %s has %u arguments, the contract %u\n", name, tbh_kernel_arg_count(k), n);
		return -EINVAL;
	}
	uint8_t args[MAX_ARGS * 8] = { 0 };
	if (tbh_kernel_args_size(k) > sizeof args)
		return -E2BIG;
	for (uint32_t i = 0; i < n; i++) {
		tbh_kernel_arg a;
		rc = tbh_kernel_arg_info(k, i, &a);
		if (rc || a.size > 8 || a.offset + a.size > sizeof args)
			return rc ? rc : -EINVAL;
		memcpy(args + a.offset, &vals[i], a.size);	/* little-endian: the low bytes */
	}
	uint32_t grid[3] = { gx, gy, 1 }, block[3] = { bx, 1, 1 };
	rc = tbh_queue_exec(queue, k, args, tbh_kernel_args_size(k), grid, block);
	rc = rc ? rc : tbh_queue_signal(queue, sig, ++sig_value);
	rc = rc ? rc : tbh_queue_submit(queue);
	return rc ? rc : tbh_signal_wait(sig, sig_value, TIMEOUT_MS);
}
#define RUN(name, gx, gy, bx, ...)                                                                             \
	run(name, gx, gy, bx, (const uint64_t[]){ __VA_ARGS__ },                                             \
	    (uint32_t)(sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t)))

static uint32_t ceil_div(uint32_t a, uint32_t b)
{
	return (a + b - 1) / b;
}

/* the largest |a[i] - b[i]|, and the largest |b[i]| into *scale */
static float max_diff(const float *a, const float *b, size_t n, float *scale)
{
	float d = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		float e = fabsf(a[i] - b[i]);
		d = e > d || e != e ? e : d;
		s = fmaxf(s, fabsf(b[i]));
	}
	*scale = s;
	return d;
}

static const uint32_t Ts[] = { 1, 3, 17 };
#define N_TS (sizeof Ts / sizeof Ts[0])

/* ---- the kernels ----------------------------------------------------------------- */

static void test_embed(enum tbi_type t)
{
	uint32_t vocab = 37, dim = t == TBI_Q8_0 ? 64 : 45, v0 = 5, v1 = 30, rb, stride = dim + 3;
	float *deq = malloc(sizeof(float) * vocab * dim);
	uint8_t *w = deq ? make_weights(t, vocab, dim, &rb, deq) : NULL;
	int bad = !w;
	for (size_t ti = 0; !bad && ti < N_TS; ti++) {
		uint32_t T = Ts[ti];
		int tokens[17];
		for (uint32_t i = 0; i < T; i++)
			tokens[i] = (int)(rnd_u32() % (vocab + 4)) - 2;	/* some outside [v0, v1), some negative */
		tokens[0] = (int)v0 + 1;
		float *out;
		uint64_t wt = gpu_buf(dev, (size_t)vocab * rb, w, NULL), tk = gpu_buf(dev, 4 * T, tokens, NULL);
		uint64_t o = gpu_buf(dev, 4 * (size_t)T * stride, NULL, (void **)&out);
		int rc = !wt || !tk || !o ? -ENOMEM : RUN("embed", T * dim, 1, 64, wt, t, rb, dim, v0, v1, tk, T, o, stride);
		for (uint32_t i = 0; !rc && i < T; i++)
			for (uint32_t e = 0; e < dim; e++) {
				int in = tokens[i] >= (int)v0 && tokens[i] < (int)v1;
				float want = in ? deq[(size_t)(tokens[i] - (int)v0) * dim + e] : 0.0f;
				rc |= out[(size_t)i * stride + e] != want;
			}
		bad |= rc != 0;
		free_bufs();
	}
	check(!bad, "embed (%s): rows [v0, v1) of the table, 0 for other tokens, T = 1, 3, 17", type_names[t]);
	free(w);
	free(deq);
}

static void test_rmsnorm(enum tbi_type t)
{
	uint32_t dims[] = { 45, 300 }, rb;
	int bad = 0;
	float worst = 0;
	for (size_t di = 0; di < 2; di++) {
		uint32_t dim = t == TBI_Q8_0 ? 32 * (di ? 10 : 2) : dims[di], xs = dim + 5, os = dim + 1;
		float *wd = malloc(4 * dim), *x = malloc(4 * (size_t)17 * xs), *want = malloc(4 * dim);
		uint8_t *w = wd ? make_weights(t, 1, dim, &rb, wd) : NULL;
		if (!w || !x || !want) {
			bad = 1;
			goto next;
		}
		rnd_fill(x, (size_t)17 * xs);
		for (size_t ti = 0; ti < N_TS; ti++) {
			uint32_t T = Ts[ti];
			float *out, scale;
			uint64_t xb = gpu_buf(dev, 4 * (size_t)T * xs, x, NULL), wb = gpu_buf(dev, rb, w, NULL);
			uint64_t ob = gpu_buf(dev, 4 * (size_t)T * os, NULL, (void **)&out);
			int rc = !xb || !wb || !ob ? -ENOMEM
						   : RUN("rmsnorm", T * 256, 1, 256, xb, xs, wb, t, dim, fbits(1e-5f), T, ob, os);
			for (uint32_t i = 0; !rc && i < T; i++) {
				ref_rmsnorm(want, x + (size_t)i * xs, wd, dim, 1e-5f);
				float d = max_diff(out + (size_t)i * os, want, dim, &scale);
				worst = fmaxf(worst, d / scale);
				rc |= !(d <= 2e-5f * scale);
			}
			bad |= rc != 0;
			free_bufs();
		}
	next:
		free(w);
		free(wd);
		free(x);
		free(want);
	}
	check(!bad, "rmsnorm (%s): dims 45/300 (q8_0 64/320), T = 1, 3, 17 (worst %.2g of the scale)", type_names[t],
	      (double)worst);
}

/* Rows of rb bytes copied into rows of prb >= rb bytes, the rest NaN bytes
 * (0xff) that must not be read. */
static uint8_t *pad_rows(const uint8_t *w, uint32_t rows, uint32_t rb, uint32_t prb)
{
	uint8_t *p = malloc((size_t)rows * prb);
	for (uint32_t j = 0; p && j < rows; j++) {
		memcpy(p + (size_t)j * prb, w + (size_t)j * rb, rb);
		memset(p + (size_t)j * prb + rb, 0xff, prb - rb);
	}
	return p;
}

/* y (+)= W x for one (k, n, T, accumulate), the rows padded to 16 bytes
 * when pad; the worst error in tolerances */
static int matmul_case(enum tbi_type t, uint32_t k, uint32_t n, uint32_t T, int acc, int pad, int wmma,
		       double *worst)
{
	double tol = 1e-5;	/* matmul_wmma too: the activations' f16 high and low parts */
	uint32_t xs = k + 7, ys = n + 2, rb, prb;
	float *wd = malloc(sizeof(float) * n * k), *x = malloc(4 * (size_t)T * xs), *y0 = malloc(4 * (size_t)T * ys);
	uint8_t *w0 = wd ? make_weights(t, n, k, &rb, wd) : NULL;
	prb = pad ? (rb + 15) / 16 * 16 : rb;
	uint8_t *w = w0 ? pad_rows(w0, n, rb, prb) : NULL;
	free(w0);
	int rc = -ENOMEM;
	if (!w || !x || !y0)
		goto out;
	rnd_fill(x, (size_t)T * xs);
	rnd_fill(y0, (size_t)T * ys);
	float *y;
	uint64_t wb = gpu_buf(dev, (size_t)n * prb, w, NULL), xb = gpu_buf(dev, 4 * (size_t)T * xs, x, NULL);
	uint64_t yb = gpu_buf(dev, 4 * (size_t)T * ys, y0, (void **)&y);
	if (!wb || !xb || !yb)
		goto out;
	if (wmma)
		rc = RUN("matmul_wmma", ceil_div(n, 16) * 32, ceil_div(T, 16), 32, wb, t, prb, k, n, xb, xs, T, yb, ys,
			 (uint64_t)acc);
	else
		rc = RUN("matmul", ceil_div(n, 8) * 256, ceil_div(T, 8), 256, wb, t, prb, k, n, xb, xs, T, yb, ys,
			 (uint64_t)acc);
	for (uint32_t i = 0; !rc && i < T; i++)
		for (uint32_t j = 0; j < ys; j++) {
			double s = acc ? y0[(size_t)i * ys + j] : 0, mag = fabs(s);
			if (j >= n) {	/* past the rows: untouched */
				rc |= y[(size_t)i * ys + j] != y0[(size_t)i * ys + j];
				continue;
			}
			for (uint32_t e = 0; e < k; e++) {
				double p = (double)wd[(size_t)j * k + e] * x[(size_t)i * xs + e];
				s += p;
				mag += fabs(p);
			}
			double err = fabs(y[(size_t)i * ys + j] - s) / (tol * mag + 1e-6);
			*worst = fmax(*worst, err);
			rc |= !(err <= 1.0);
		}
out:
	free_bufs();
	free(w);
	free(wd);
	free(x);
	free(y0);
	return rc;
}

static void test_matmul(enum tbi_type t)
{
	uint32_t ks[] = { 45, 300 }, ns[] = { 19, 70 };
	int bad = 0;
	double worst = 0;
	for (size_t c = 0; c < 4; c++)
		for (size_t ti = 0; ti < N_TS; ti++)
			for (int acc = 0; acc < 2; acc++) {
				uint32_t k = t == TBI_Q8_0 ? 32 * (c % 2 ? 9 : 2) : ks[c % 2];
				bad |= matmul_case(t, k, ns[c % 2], Ts[ti], acc, c >= 2, 0, &worst) != 0;
			}
	check(!bad, "matmul (%s): k x n 45x19 and 300x70 (q8_0: k 64, 288), rows packed and padded to 16 bytes, "
		    "T = 1, 3, 17, set and accumulate (worst %.2f of the tolerance)",
	      type_names[t], worst);
}

static void test_matmul_wmma(void)
{
	static const uint32_t ts[] = { 16, 17, 40 }, ks[] = { 45, 300 }, ns[] = { 19, 70 };
	int bad = 0;
	double worst = 0;
	for (size_t c = 0; c < 4; c++)
		for (size_t ti = 0; ti < 3; ti++)
			bad |= matmul_case(TBI_F16, ks[c % 2], ns[c % 2], ts[ti], (int)ti % 2, c >= 2, 1, &worst) != 0;
	check(!bad, "matmul_wmma (f16 on the matrix cores): k x n 45x19 and 300x70, rows packed and padded, "
		    "T = 16, 17, 40, set and accumulate, within 1e-5 of sum |w x| as matmul (worst %.2f of the tolerance)",
	      worst);
}

static void test_rope(enum tbi_rope_layout layout)
{
	struct tbi_hparams hp = { .head_dim = 10, .rope_theta = 500000.0f, .rope_llama3 = true, .rope_factor = 8,
				  .rope_low_freq_factor = 1, .rope_high_freq_factor = 4, .rope_orig_ctx = 64 };
	uint32_t nh = 3, hd = hp.head_dim, xs = nh * hd + 4, pos0 = 1000;
	float inv[5], x[17 * 34], want[34], scale;
	ref_rope_inv_freq(&hp, inv);
	rnd_fill(x, sizeof x / sizeof x[0]);
	int bad = 0;
	float worst = 0;
	for (size_t ti = 0; ti < N_TS; ti++) {
		uint32_t T = Ts[ti];
		float *out;
		uint64_t xb = gpu_buf(dev, 4 * (size_t)T * xs, x, (void **)&out), fb = gpu_buf(dev, sizeof inv, inv, NULL);
		int rc = !xb || !fb ? -ENOMEM : RUN("rope", T * nh * hd / 2, 1, 64, xb, xs, nh, hd, T, pos0, fb, layout);
		for (uint32_t i = 0; !rc && i < T; i++) {
			memcpy(want, x + (size_t)i * xs, sizeof want);
			ref_rope(want, nh, hd, pos0 + i, inv, layout);
			float d = max_diff(out + (size_t)i * xs, want, xs, &scale);
			worst = fmaxf(worst, d / scale);
			rc |= !(d <= 2e-4f * scale);
		}
		bad |= rc != 0;
		free_bufs();
	}
	check(!bad, "rope (%s pairs, llama3-scaled frequencies, positions 1000..1016): T = 1, 3, 17 (worst %.2g)",
	      layout == TBI_ROPE_HALVES ? "halves" : "adjacent", (double)worst);
}

static void test_kv_store(void)
{
	uint32_t nkv = 2, hd = 12, row = nkv * hd, ks = row + 3, vs = row + 5, pos0 = 4, ctx = 24;
	float k[17 * 27], v[17 * 29];
	rnd_fill(k, sizeof k / sizeof k[0]);
	rnd_fill(v, sizeof v / sizeof v[0]);
	int bad = 0;
	for (size_t ti = 0; ti < N_TS; ti++) {
		uint32_t T = Ts[ti];
		float *ck, *cv;
		uint64_t kb = gpu_buf(dev, sizeof k, k, NULL), vb = gpu_buf(dev, sizeof v, v, NULL);
		uint64_t ckb = gpu_buf(dev, 4 * (size_t)ctx * row, NULL, (void **)&ck);
		uint64_t cvb = gpu_buf(dev, 4 * (size_t)ctx * row, NULL, (void **)&cv);
		int rc = !kb || !vb || !ckb || !cvb ? -ENOMEM
						    : RUN("kv_store", T * row, 1, 64, kb, ks, vb, vs, T, nkv, hd, ckb, cvb, pos0);
		for (uint32_t p = 0; !rc && p < ctx; p++)
			for (uint32_t i = 0; i < row; i++) {
				int in = p >= pos0 && p < pos0 + T;
				rc |= ck[p * row + i] != (in ? k[(p - pos0) * ks + i] : 0.0f);
				rc |= cv[p * row + i] != (in ? v[(p - pos0) * vs + i] : 0.0f);
			}
		bad |= rc != 0;
		free_bufs();
	}
	check(!bad, "kv_store: rows pos0 .. pos0 + T - 1 of both caches and nothing else, T = 1, 3, 17");
}

/* Local heads 4..7 of a model with group 2: local KV heads 2, 3 of the
 * global ones (kv_head0 = 2). */
static int attention_case(uint32_t hd, uint32_t T, uint32_t pos0, float *worst)
{
	uint32_t nh = 4, q_head0 = 4, kv_head0 = 2, group = 2, nkv = 2, kvs = nkv * hd, ctx = pos0 + T + 3;
	uint32_t qs = nh * hd + 1, os = nh * hd + 2;
	float *q = malloc(4 * (size_t)T * qs), *ck = malloc(4 * (size_t)ctx * kvs), *cv = malloc(4 * (size_t)ctx * kvs);
	float *want = malloc(4 * hd), *sc = malloc(4 * ctx), *out, scale = 1.0f / sqrtf((float)hd);
	int rc = -ENOMEM;
	if (!q || !ck || !cv || !want || !sc)
		goto out;
	for (size_t i = 0; i < (size_t)T * qs; i++)
		q[i] = 3 * rnd();	/* scores of a few units: a peaked softmax */
	rnd_fill(ck, (size_t)ctx * kvs);
	rnd_fill(cv, (size_t)ctx * kvs);
	uint64_t qb = gpu_buf(dev, 4 * (size_t)T * qs, q, NULL), kb = gpu_buf(dev, 4 * (size_t)ctx * kvs, ck, NULL);
	uint64_t vb = gpu_buf(dev, 4 * (size_t)ctx * kvs, cv, NULL), sb = gpu_buf(dev, 4 * (size_t)nh * T * ctx, NULL, NULL);
	uint64_t ob = gpu_buf(dev, 4 * (size_t)T * os, NULL, (void **)&out);
	if (!qb || !kb || !vb || !sb || !ob)
		goto out;
	rc = RUN("attention", nh * T * 256, 1, 256, qb, qs, kb, vb, nh, hd, q_head0, kv_head0, group, kvs, T, pos0,
		 fbits(scale), sb, ctx, ob, os);
	for (uint32_t t = 0; !rc && t < T; t++)
		for (uint32_t h = 0; h < nh; h++) {
			uint32_t kvh = (q_head0 + h) / group - kv_head0;
			ref_attend(want, q + (size_t)t * qs + h * hd, ck + kvh * hd, cv + kvh * hd, kvs, hd, pos0 + t + 1,
				   scale, sc);
			float s, d = max_diff(out + (size_t)t * os + h * hd, want, hd, &s);
			*worst = fmaxf(*worst, d / s);
			rc |= !(d <= 1e-4f * s);
		}
out:
	free_bufs();
	free(q);
	free(ck);
	free(cv);
	free(want);
	free(sc);
	return rc;
}

static void test_attention(void)
{
	int bad = 0;
	float worst = 0;
	for (size_t ti = 0; ti < N_TS; ti++)
		bad |= attention_case(40, Ts[ti], 5, &worst) != 0;
	bad |= attention_case(128, 1, 300, &worst) != 0;
	bad |= attention_case(64, 3, 0, &worst) != 0;
	check(!bad, "attention (GQA group 2, local heads 4..7 on KV heads 2, 3; causal): head_dim 40 T = 1, 3, 17 at "
		    "5; 128 T 1 at 300; 64 T 3 at 0 (worst %.2g)",
	      (double)worst);
}

static void test_silu_mul(void)
{
	uint32_t n = 77, stride = 80;
	float g[17 * 80], u[17 * 80], want[77];
	for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
		g[i] = 8 * rnd();
		u[i] = rnd();
	}
	int bad = 0;
	float worst = 0;
	for (size_t ti = 0; ti < N_TS; ti++) {
		uint32_t T = Ts[ti];
		float *out, s;
		uint64_t gb = gpu_buf(dev, sizeof g, g, NULL), ub = gpu_buf(dev, sizeof u, u, NULL);
		uint64_t ob = gpu_buf(dev, sizeof g, NULL, (void **)&out);
		int rc = !gb || !ub || !ob ? -ENOMEM : RUN("silu_mul", T * n, 1, 64, gb, ub, n, T, stride, ob);
		for (uint32_t t = 0; !rc && t < T; t++) {
			ref_silu_mul(want, g + t * stride, u + t * stride, n);
			float d = max_diff(out + t * stride, want, n, &s);
			worst = fmaxf(worst, d / s);
			rc |= !(d <= 2e-5f * s);
		}
		bad |= rc != 0;
		free_bufs();
	}
	check(!bad, "silu_mul: n 77 at stride 80, T = 1, 3, 17 (worst %.2g)", (double)worst);
}

/* Three parts: two in a peer GPU's VRAM (mapped to this one), one local. */
static void test_allreduce(void)
{
	uint32_t n = 45, xs = 50, ps = 47, T = 17;
	float x0[17 * 50], p[3][17 * 47];
	rnd_fill(x0, sizeof x0 / sizeof x0[0]);
	for (int j = 0; j < 3; j++)
		rnd_fill(p[j], sizeof p[j] / sizeof p[j][0]);
	int bad = 0;
	for (int acc = 0; acc < 2; acc++) {
		float *x;
		uint64_t xb = gpu_buf(dev, sizeof x0, x0, (void **)&x), pb[3];
		for (int j = 0; j < 3; j++) {
			pb[j] = gpu_buf(j < 2 ? peer : dev, sizeof p[j], p[j], NULL);
			if (pb[j] && j < 2 && tbh_buffer_map_to(bufs[n_bufs - 1], dev))
				pb[j] = 0;
		}
		int rc = !xb || !pb[0] || !pb[1] || !pb[2]
				 ? -ENOMEM
				 : RUN("allreduce_add", T * n, 1, 128, xb, xs, n, T, 3, pb[0], pb[1], pb[2], 0, 0, 0, 0, 0, ps,
				       (uint64_t)acc);
		for (uint32_t t = 0; !rc && t < T; t++)
			for (uint32_t i = 0; i < xs; i++) {
				float want = x0[t * xs + i];
				if (i < n) {
					float s = acc ? want : 0.0f;
					for (int j = 0; j < 3; j++)
						s += p[j][t * ps + i];
					want = s;
				}
				rc |= x[t * xs + i] != want;
			}
		bad |= rc != 0;
		free_bufs();
	}
	check(!bad, "allreduce_add: x (+)= three parts, two in a peer GPU's VRAM, exactly, T = 17, set and accumulate");
}

static void test_gather(void)
{
	float src[99], *dst;
	rnd_fill(src, 99);
	uint64_t sb = gpu_buf(dev, sizeof src, src, NULL), db = gpu_buf(dev, 4 * 100, NULL, (void **)&dst);
	int rc = !sb || !db ? -ENOMEM : RUN("gather", 99, 1, 64, db, sb, 99);
	check(!rc && !memcmp(dst, src, sizeof src) && dst[99] == 0.0f, "gather: 99 floats copied, nothing past them");
	free_bufs();
}

/* ---- sampling ---------------------------------------------------------------------- */

/* The sampled token (and *prob), or -1. */
static int sample(const float *logits, uint32_t n, float temp, uint32_t top_k, float top_p, float u, float *prob)
{
	int *tok;
	float *pr;
	uint64_t lb = gpu_buf(dev, 4 * (size_t)n, logits, NULL), tb = gpu_buf(dev, 4, NULL, (void **)&tok);
	uint64_t pb = gpu_buf(dev, 4, NULL, (void **)&pr);
	int rc = !lb || !tb || !pb ? -ENOMEM
				   : RUN("sample", 256, 1, 256, lb, n, fbits(temp), top_k, fbits(top_p), fbits(u), tb, pb);
	int r = rc ? -1 : *tok;
	if (prob)
		*prob = rc ? NAN : *pr;
	free_bufs();
	return r;
}

/* The host's sampler, the same definition in double. */
static int host_sample(const float *l, uint32_t n, float temp, uint32_t top_k, float top_p, float u)
{
	uint32_t top[256], k = top_k > n ? n : top_k;
	for (uint32_t r = 0; r < k; r++) {
		int best = -1;
		for (uint32_t i = 0; i < n; i++) {
			int taken = 0;
			for (uint32_t s = 0; s < r; s++)
				taken |= top[s] == i;
			if (!taken && (best < 0 || l[i] > l[best]))
				best = (int)i;
		}
		top[r] = (uint32_t)best;
	}
	double p[256], z = 0, c = 0;
	for (uint32_t r = 0; r < k; r++)
		z += p[r] = exp(((double)l[top[r]] - l[top[0]]) / temp);
	uint32_t keep = k;
	for (uint32_t r = 0; r < k; r++)
		if ((c += p[r]) >= top_p * z) {
			keep = r + 1;
			break;
		}
	double zk = 0;
	for (uint32_t r = 0; r < keep; r++)
		zk += p[r];
	c = 0;
	for (uint32_t r = 0; r < keep; r++)
		if ((c += p[r]) > u * zk)
			return (int)top[r];
	return (int)top[keep - 1];
}

static void test_sample(void)
{
	enum { N = 1000 };
	static float l[N];
	for (int i = 0; i < N; i++)
		l[i] = 4 * rnd();
	l[300] = l[7] = 9.0f;
	float prob;
	int tok = sample(l, N, 0.0f, 40, 0.9f, 0.5f, &prob);
	check(tok == 7 && prob == 1.0f, "greedy: the lowest index of two equal maxima (7 of 7 and 300: %d)", tok);
	l[7] = 8.5f;
	tok = sample(l, N, 0.0f, 40, 0.9f, 0.5f, NULL);
	check(tok == 300, "greedy: the maximum (300: %d)", tok);
	int same = 1;
	for (float u = 0.0f; u < 1.0f; u += 0.3f)
		same &= sample(l, N, 0.8f, 1, 1.0f, u, &prob) == 300 && prob == 1.0f;
	check(same, "top_k = 1 at temperature 0.8 is greedy for every u");

	/* probabilities 1/2, 1/4, 1/8, 1/8 at 200, 3, 10, 150 (the tie ranked by index) */
	for (int i = 0; i < 300; i++)
		l[i] = -30.0f;
	l[200] = logf(0.5f), l[3] = logf(0.25f), l[10] = logf(0.125f), l[150] = logf(0.125f);
	struct {
		float temp, top_p, u;
		uint32_t top_k;
		int want;
		float prob;
	} cases[] = {
		{ 1, 1, 0.1f, 4, 200, 0.5f },	  { 1, 1, 0.6f, 4, 3, 0.25f },	  { 1, 1, 0.8f, 4, 10, 0.125f },
		{ 1, 1, 0.9f, 4, 150, 0.125f },	  { 1, 1, 0.99f, 256, 150, 0.125f }, { 1, 0.7f, 0.6f, 4, 200, 2 / 3.0f },
		{ 1, 0.7f, 0.7f, 40, 3, 1 / 3.0f }, { 1, 0.4f, 0.9f, 4, 200, 1 },	   { 1, 1, 0.7f, 2, 3, 1 / 3.0f },
		{ 2, 1, 0.4f, 4, 3, 0.2612f },	  /* sqrt: .7071 .5 .3536 .3536 over 1.9142 */
	};
	int good = 0, n = (int)(sizeof cases / sizeof cases[0]);
	for (int c = 0; c < n; c++) {
		tok = sample(l, 300, cases[c].temp, cases[c].top_k, cases[c].top_p, cases[c].u, &prob);
		int ok = tok == cases[c].want && fabsf(prob - cases[c].prob) <= 1e-4f;
		if (!ok)
			printf("# case %d: token %d p %g, want %d p %g\n", c, tok, (double)prob, cases[c].want,
			       (double)cases[c].prob);
		good += ok;
	}
	check(good == n, "sample: crafted distribution, top_k, top_p, temperature and u pick the expected tokens "
		    "and probabilities (%d of %d)",
	      good, n);

	for (int i = 0; i < N; i++)
		l[i] = 3 * rnd();
	good = 0;
	for (int c = 0; c < 8; c++) {
		float u = (float)(rnd_u32() >> 8) / 16777216.0f;
		uint32_t k = c % 2 ? 40 : 256;
		good += sample(l, N, 0.7f, k, 0.9f, u, NULL) == host_sample(l, N, 0.7f, k, 0.9f, u);
	}
	check(good == 8, "sample: random logits, temperature 0.7, top_k 40 and 256, top_p 0.9: the host's token for "
		    "8 values of u (%d)",
	      good);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_infer_kernels INFER_CO\n");
		return 2;
	}
	tap_on_failure = print_last_error;
	int rc = tbh_device_open(0, &dev);
	rc = rc ? rc : tbh_device_open(1, &peer);
	rc = rc ? rc : tbh_program_load_file(dev, argv[1], &prog);
	rc = rc ? rc : tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &queue);
	rc = rc ? rc : tbh_signal_create(dev, 0, &sig);
	check(rc == 0, "two GPUs open and %s loads", argv[1]);
	if (rc)
		return tap_done();
	const char *names[] = { "embed",    "rmsnorm",	 "matmul",	  "matmul_wmma", "rope", "kv_store",
				"attention", "silu_mul", "allreduce_add", "gather",	  "sample" };
	int found = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const tbh_kernel *k;
		found += tbh_program_kernel(prog, names[i], &k) == 0;
	}
	check(found == 11, "the code object has the eleven kernels (%d)", found);
	for (int t = TBI_F32; t <= TBI_Q8_0; t++) {
		test_embed((enum tbi_type)t);
		test_rmsnorm((enum tbi_type)t);
		test_matmul((enum tbi_type)t);
	}
	test_matmul_wmma();
	test_rope(TBI_ROPE_ADJACENT);
	test_rope(TBI_ROPE_HALVES);
	test_kv_store();
	test_attention();
	test_silu_mul();
	test_allreduce();
	test_gather();
	test_sample();
	tbh_signal_destroy(sig);
	tbh_queue_destroy(queue);
	tbh_program_free(prog);
	tbh_device_close(peer);
	tbh_device_close(dev);
	return tap_done();
}
