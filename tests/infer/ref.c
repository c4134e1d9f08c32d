/* The host reference forward pass (ref.h). */
#include "tests/infer/ref.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

float ref_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	float mag;
	if (exp == 0)
		mag = ldexpf((float)man, -24);	/* zero and subnormals */
	else if (exp == 31)
		mag = man ? NAN : INFINITY;
	else
		mag = ldexpf((float)(man | 0x400), (int)exp - 25);
	return sign ? -mag : mag;
}

float ref_bf16_to_float(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

uint16_t ref_float_to_half(float f)
{
	_Float16 h = (_Float16)f;
	uint16_t u;
	memcpy(&u, &h, sizeof u);
	return u;
}

uint16_t ref_float_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);	/* NaN stays NaN */
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

uint64_t ref_row_bytes(enum tbi_type t, uint64_t n)
{
	switch (t) {
	case TBI_F32:
		return n > UINT64_MAX / 4 ? 0 : n * 4;
	case TBI_F16:
	case TBI_BF16:
		return n > UINT64_MAX / 2 ? 0 : n * 2;
	case TBI_Q8_0:
		return n % TBI_Q8_0_BLOCK ? 0 : n / TBI_Q8_0_BLOCK * TBI_Q8_0_BYTES;
	}
	return 0;
}

static uint16_t load16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

float ref_weight(enum tbi_type t, const uint8_t *row, uint64_t i)
{
	switch (t) {
	case TBI_F32: {
		float f;
		memcpy(&f, row + 4 * i, sizeof f);
		return f;
	}
	case TBI_F16:
		return ref_half_to_float(load16(row + 2 * i));
	case TBI_BF16:
		return ref_bf16_to_float(load16(row + 2 * i));
	case TBI_Q8_0: {
		const uint8_t *b = row + i / TBI_Q8_0_BLOCK * TBI_Q8_0_BYTES;
		return ref_half_to_float(load16(b)) * (float)(int8_t)b[2 + i % TBI_Q8_0_BLOCK];
	}
	}
	return 0.0f;
}

void ref_dequant(enum tbi_type t, const uint8_t *src, uint64_t n, float *dst)
{
	for (uint64_t i = 0; i < n; i++)
		dst[i] = ref_weight(t, src, i);
}

void ref_encode_row(enum tbi_type t, const float *src, uint64_t n, uint8_t *dst)
{
	for (uint64_t i = 0; i < n; i++) {
		uint16_t h;
		switch (t) {
		case TBI_F32:
			memcpy(dst + 4 * i, &src[i], 4);
			break;
		case TBI_F16:
		case TBI_BF16:
			h = t == TBI_F16 ? ref_float_to_half(src[i]) : ref_float_to_bf16(src[i]);
			memcpy(dst + 2 * i, &h, 2);
			break;
		case TBI_Q8_0:
			if (i % TBI_Q8_0_BLOCK == 0 && n - i >= TBI_Q8_0_BLOCK) {
				/* ggml's Q8_0: d = max |x| / 127, q = round(x / d) */
				uint8_t *b = dst + i / TBI_Q8_0_BLOCK * TBI_Q8_0_BYTES;
				float amax = 0;
				for (uint32_t e = 0; e < TBI_Q8_0_BLOCK; e++)
					amax = fmaxf(amax, fabsf(src[i + e]));
				float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
				h = ref_float_to_half(d);
				memcpy(b, &h, 2);
				for (uint32_t e = 0; e < TBI_Q8_0_BLOCK; e++)
					b[2 + e] = (uint8_t)(int8_t)lrintf(src[i + e] * id);
			}
			break;
		}
	}
}

void ref_rope_inv_freq(const struct tbi_hparams *hp, float *inv_freq)
{
	uint32_t half = hp->head_dim / 2;
	double low_wavelen = 0, high_wavelen = 0;
	if (hp->rope_llama3) {
		low_wavelen = hp->rope_orig_ctx / (double)hp->rope_low_freq_factor;
		high_wavelen = hp->rope_orig_ctx / (double)hp->rope_high_freq_factor;
	}
	for (uint32_t i = 0; i < half; i++) {
		double f = pow((double)hp->rope_theta, -2.0 * i / hp->head_dim);
		if (hp->rope_llama3) {
			double wavelen = 2 * M_PI / f;
			if (wavelen > low_wavelen) {
				f /= hp->rope_factor;
			} else if (wavelen >= high_wavelen) {
				double smooth = (hp->rope_orig_ctx / wavelen - hp->rope_low_freq_factor) /
						(hp->rope_high_freq_factor - hp->rope_low_freq_factor);
				f = (1 - smooth) * f / hp->rope_factor + smooth * f;
			}
		}
		inv_freq[i] = (float)f;
	}
}

void ref_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
	float s = 0.0f;
	for (uint32_t i = 0; i < n; i++)
		s += x[i] * x[i];
	float r = 1.0f / sqrtf(s / (float)n + eps);
	for (uint32_t i = 0; i < n; i++)
		out[i] = x[i] * r * w[i];
}

void ref_matvec(float *y, const float *w, const float *x, uint32_t rows, uint32_t cols)
{
	for (uint32_t j = 0; j < rows; j++) {
		const float *r = w + (size_t)j * cols;
		float s = 0.0f;
		for (uint32_t i = 0; i < cols; i++)
			s += r[i] * x[i];
		y[j] = s;
	}
}

void ref_rope(float *x, uint32_t n_heads, uint32_t head_dim, uint32_t pos, const float *inv_freq,
	      enum tbi_rope_layout layout)
{
	uint32_t half = head_dim / 2;
	for (uint32_t h = 0; h < n_heads; h++) {
		float *p = x + (size_t)h * head_dim;
		for (uint32_t i = 0; i < half; i++) {
			uint32_t a = layout == TBI_ROPE_HALVES ? i : 2 * i;
			uint32_t b = layout == TBI_ROPE_HALVES ? i + half : 2 * i + 1;
			double ang = (double)pos * inv_freq[i];
			float c = (float)cos(ang), s = (float)sin(ang);
			float x0 = p[a], x1 = p[b];
			p[a] = x0 * c - x1 * s;
			p[b] = x0 * s + x1 * c;
		}
	}
}

void ref_attend(float *out, const float *q, const float *k, const float *v, uint32_t kv_stride, uint32_t head_dim,
		uint32_t npos, float scale, float *scores)
{
	float m = -INFINITY;
	for (uint32_t p = 0; p < npos; p++) {
		const float *kr = k + (size_t)p * kv_stride;
		float d = 0.0f;
		for (uint32_t i = 0; i < head_dim; i++)
			d += q[i] * kr[i];
		scores[p] = d * scale;
		if (scores[p] > m)
			m = scores[p];
	}
	float z = 0.0f;
	for (uint32_t p = 0; p < npos; p++) {
		scores[p] = expf(scores[p] - m);
		z += scores[p];
	}
	for (uint32_t i = 0; i < head_dim; i++) {
		float acc = 0.0f;
		for (uint32_t p = 0; p < npos; p++)
			acc += scores[p] * v[(size_t)p * kv_stride + i];
		out[i] = acc / z;
	}
}

void ref_silu_mul(float *out, const float *gate, const float *up, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* ---- the model ------------------------------------------------------------------ */

struct ref_layer {
	float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *wgate, *wup, *wdown;
	float *cache_k, *cache_v;	/* [ctx][n_kv_heads * head_dim] */
};

struct ref_model {
	struct tbi_hparams hp;
	uint32_t ctx, filled;		/* positions in the cache */
	float *embd, *out_norm, *output; /* output: embd when tied */
	struct ref_layer *layers;
	float *inv_freq;
	/* activations */
	float *x, *xn, *q, *k, *v, *att, *gate, *up, *scores;
	float **owned;			/* every array, for ref_free */
	size_t n_owned;
};

static int fail(char *why, size_t len, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t len, int code, const char *fmt, ...)
{
	if (why && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* n floats, zeroed, owned by r; n == 0 or overflow gives NULL. */
static float *ref_alloc(struct ref_model *r, uint64_t n)
{
	if (n == 0 || n > SIZE_MAX / sizeof(float))
		return NULL;
	float **owned = realloc(r->owned, (r->n_owned + 1) * sizeof *owned);
	if (!owned)
		return NULL;
	r->owned = owned;
	float *p = calloc((size_t)n, sizeof(float));
	if (p)
		r->owned[r->n_owned++] = p;
	return p;
}

static int read_all(int fd, uint8_t *buf, uint64_t n, uint64_t off)
{
	while (n) {
		ssize_t got = pread(fd, buf, n > (1u << 30) ? (1u << 30) : (size_t)n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;	/* the file is shorter than the tensor table says */
		buf += got;
		n -= (uint64_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

/* Tensor name, of cols x rows (rows 1: a vector), read and dequantized
 * into a new array of r. */
static int load(struct ref_model *r, const struct tbi_model *m, const char *name, uint64_t cols, uint64_t rows,
		float **out, char *why, size_t why_len)
{
	const struct tbi_tensor *t = NULL;
	for (uint32_t i = 0; i < m->n_tensors && !t; i++)
		if (m->tensors[i].name && !strcmp(m->tensors[i].name, name))
			t = &m->tensors[i];
	if (!t)
		return fail(why, why_len, -ENOENT, "tensor %s is missing", name);
	if (t->type > TBI_Q8_0)
		return fail(why, why_len, -EINVAL, "tensor %s has an unknown type %d", name, (int)t->type);
	if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
		return fail(why, why_len, -EINVAL,
			    "tensor %s is %llu x %llu x %llu x %llu, expected %llu x %llu", name,
			    (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
			    (unsigned long long)t->ne[3], (unsigned long long)cols, (unsigned long long)rows);
	uint64_t row_bytes = ref_row_bytes(t->type, cols);
	if (row_bytes == 0 || rows > UINT64_MAX / row_bytes || cols > UINT64_MAX / rows)
		return fail(why, why_len, -EINVAL, "tensor %s: %s rows of %llu weights are not possible", name,
			    t->type == TBI_Q8_0 ? "Q8_0" : "its", (unsigned long long)cols);
	uint64_t bytes = row_bytes * rows;
	if (t->file >= m->n_files || !m->files || !m->files[t->file])
		return fail(why, why_len, -EINVAL, "tensor %s names file %u of %u", name, t->file, m->n_files);
	if (t->bytes < bytes || t->offset > UINT64_MAX - bytes || bytes > SIZE_MAX)
		return fail(why, why_len, -EINVAL, "tensor %s has %llu bytes at %llu, needs %llu", name,
			    (unsigned long long)t->bytes, (unsigned long long)t->offset, (unsigned long long)bytes);
	float *dst = ref_alloc(r, cols * rows);
	uint8_t *raw = malloc((size_t)bytes);
	if (!dst || !raw) {
		free(raw);
		return fail(why, why_len, -ENOMEM, "no memory for tensor %s (%llu bytes)", name,
			    (unsigned long long)bytes);
	}
	int fd = open(m->files[t->file], O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 ? -errno : read_all(fd, raw, bytes, t->offset);
	if (fd >= 0)
		close(fd);
	if (rc) {
		free(raw);
		return fail(why, why_len, rc, "tensor %s: reading %llu bytes at %llu of %s: %s", name,
			    (unsigned long long)bytes, (unsigned long long)t->offset, m->files[t->file],
			    rc == -EIO ? "the file ends first" : strerror(-rc));
	}
	for (uint64_t j = 0; j < rows; j++)
		ref_dequant(t->type, raw + j * row_bytes, cols, dst + j * cols);
	free(raw);
	*out = dst;
	return 0;
}

static int check_hparams(const struct tbi_hparams *hp, uint32_t ctx, char *why, size_t len)
{
	if (!hp->n_vocab || !hp->dim || !hp->n_layers || !hp->n_heads || !hp->n_kv_heads || !hp->head_dim ||
	    !hp->ffn_dim || !ctx)
		return fail(why, len, -EINVAL, "a hyperparameter or the context is 0");
	if (hp->head_dim % 2 || hp->n_heads % hp->n_kv_heads)
		return fail(why, len, -EINVAL, "head_dim %u must be even and n_heads %u a multiple of n_kv_heads %u",
			    hp->head_dim, hp->n_heads, hp->n_kv_heads);
	if ((uint64_t)hp->n_heads * hp->head_dim > UINT32_MAX || (uint64_t)ctx * hp->n_kv_heads * hp->head_dim > UINT32_MAX)
		return fail(why, len, -EINVAL, "the heads or the cache are too large");
	return 0;
}

int ref_open(const struct tbi_model *m, uint32_t ctx, struct ref_model **out, char *why, size_t why_len)
{
	*out = NULL;
	const struct tbi_hparams *hp = &m->hp;
	int rc = check_hparams(hp, ctx, why, why_len);
	if (rc)
		return rc;
	struct ref_model *r = calloc(1, sizeof *r);
	if (!r)
		return fail(why, why_len, -ENOMEM, "no memory");
	r->hp = *hp;
	r->ctx = ctx;
	uint64_t qd = (uint64_t)hp->n_heads * hp->head_dim, kvd = (uint64_t)hp->n_kv_heads * hp->head_dim;
	r->layers = calloc(hp->n_layers, sizeof *r->layers);
	rc = r->layers ? 0 : fail(why, why_len, -ENOMEM, "no memory");
	rc = rc ? rc : load(r, m, "token_embd.weight", hp->dim, hp->n_vocab, &r->embd, why, why_len);
	rc = rc ? rc : load(r, m, "output_norm.weight", hp->dim, 1, &r->out_norm, why, why_len);
	if (!rc && hp->tied_output)
		r->output = r->embd;
	else
		rc = rc ? rc : load(r, m, "output.weight", hp->dim, hp->n_vocab, &r->output, why, why_len);
	for (uint32_t l = 0; !rc && l < hp->n_layers; l++) {
		struct ref_layer *L = &r->layers[l];
		struct {
			const char *name;
			uint64_t cols, rows;
			float **dst;
		} ts[] = {
			{ "attn_norm", hp->dim, 1, &L->attn_norm },   { "attn_q", hp->dim, qd, &L->wq },
			{ "attn_k", hp->dim, kvd, &L->wk },	      { "attn_v", hp->dim, kvd, &L->wv },
			{ "attn_output", qd, hp->dim, &L->wo },	      { "ffn_norm", hp->dim, 1, &L->ffn_norm },
			{ "ffn_gate", hp->dim, hp->ffn_dim, &L->wgate }, { "ffn_up", hp->dim, hp->ffn_dim, &L->wup },
			{ "ffn_down", hp->ffn_dim, hp->dim, &L->wdown },
		};
		for (size_t i = 0; !rc && i < sizeof ts / sizeof ts[0]; i++) {
			char name[64];
			snprintf(name, sizeof name, "blk.%u.%s.weight", l, ts[i].name);
			rc = load(r, m, name, ts[i].cols, ts[i].rows, ts[i].dst, why, why_len);
		}
		if (!rc) {
			L->cache_k = ref_alloc(r, (uint64_t)ctx * kvd);
			L->cache_v = ref_alloc(r, (uint64_t)ctx * kvd);
			if (!L->cache_k || !L->cache_v)
				rc = fail(why, why_len, -ENOMEM, "no memory for a KV cache of %u positions", ctx);
		}
	}
	if (!rc) {
		r->inv_freq = ref_alloc(r, hp->head_dim / 2);
		r->x = ref_alloc(r, hp->dim);
		r->xn = ref_alloc(r, hp->dim > qd ? hp->dim : qd);
		r->q = ref_alloc(r, qd);
		r->k = ref_alloc(r, kvd);
		r->v = ref_alloc(r, kvd);
		r->att = ref_alloc(r, qd);
		r->gate = ref_alloc(r, hp->ffn_dim);
		r->up = ref_alloc(r, hp->ffn_dim);
		r->scores = ref_alloc(r, ctx);
		if (!r->inv_freq || !r->x || !r->xn || !r->q || !r->k || !r->v || !r->att || !r->gate || !r->up ||
		    !r->scores)
			rc = fail(why, why_len, -ENOMEM, "no memory for the activations");
	}
	if (rc) {
		ref_free(r);
		return rc;
	}
	ref_rope_inv_freq(hp, r->inv_freq);
	/* GGUF Llama 3.1: the scaling comes as frequency factors (llama.cpp's
	 * rope_freqs.weight), each frequency divided by its factor */
	for (uint32_t i = 0; i < m->n_tensors; i++) {
		if (!m->tensors[i].name || strcmp(m->tensors[i].name, "rope_freqs.weight"))
			continue;
		float *factors = NULL;
		rc = load(r, m, "rope_freqs.weight", hp->head_dim / 2, 1, &factors, why, why_len);
		if (rc) {
			ref_free(r);
			return rc;
		}
		for (uint32_t k = 0; k < hp->head_dim / 2; k++)
			r->inv_freq[k] /= factors[k];
		break;
	}
	*out = r;
	return 0;
}

int ref_forward(struct ref_model *r, int32_t token, uint32_t pos, float *logits)
{
	const struct tbi_hparams *hp = &r->hp;
	if (token < 0 || (uint32_t)token >= hp->n_vocab || pos >= r->ctx || pos > r->filled)
		return -EINVAL;
	uint32_t dim = hp->dim, hd = hp->head_dim, kvd = hp->n_kv_heads * hd, group = hp->n_heads / hp->n_kv_heads;
	float scale = 1.0f / sqrtf((float)hd);
	memcpy(r->x, r->embd + (size_t)token * dim, dim * sizeof(float));
	for (uint32_t l = 0; l < hp->n_layers; l++) {
		struct ref_layer *L = &r->layers[l];
		ref_rmsnorm(r->xn, r->x, L->attn_norm, dim, hp->rms_eps);
		ref_matvec(r->q, L->wq, r->xn, hp->n_heads * hd, dim);
		ref_matvec(r->k, L->wk, r->xn, kvd, dim);
		ref_matvec(r->v, L->wv, r->xn, kvd, dim);
		ref_rope(r->q, hp->n_heads, hd, pos, r->inv_freq, hp->rope_layout);
		ref_rope(r->k, hp->n_kv_heads, hd, pos, r->inv_freq, hp->rope_layout);
		memcpy(L->cache_k + (size_t)pos * kvd, r->k, kvd * sizeof(float));
		memcpy(L->cache_v + (size_t)pos * kvd, r->v, kvd * sizeof(float));
		for (uint32_t h = 0; h < hp->n_heads; h++) {
			uint32_t kvh = h / group;
			ref_attend(r->att + (size_t)h * hd, r->q + (size_t)h * hd, L->cache_k + (size_t)kvh * hd,
				   L->cache_v + (size_t)kvh * hd, kvd, hd, pos + 1, scale, r->scores);
		}
		ref_matvec(r->xn, L->wo, r->att, dim, hp->n_heads * hd);
		for (uint32_t i = 0; i < dim; i++)
			r->x[i] += r->xn[i];
		ref_rmsnorm(r->xn, r->x, L->ffn_norm, dim, hp->rms_eps);
		ref_matvec(r->gate, L->wgate, r->xn, hp->ffn_dim, dim);
		ref_matvec(r->up, L->wup, r->xn, hp->ffn_dim, dim);
		ref_silu_mul(r->gate, r->gate, r->up, hp->ffn_dim);
		ref_matvec(r->xn, L->wdown, r->gate, dim, hp->ffn_dim);
		for (uint32_t i = 0; i < dim; i++)
			r->x[i] += r->xn[i];
	}
	ref_rmsnorm(r->xn, r->x, r->out_norm, dim, hp->rms_eps);
	ref_matvec(logits, r->output, r->xn, hp->n_vocab, dim);
	r->filled = pos + 1;
	return 0;
}

void ref_free(struct ref_model *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_owned; i++)
		free(r->owned[i]);
	free(r->owned);
	free(r->layers);
	free(r);
}
