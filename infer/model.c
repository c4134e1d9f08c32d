/* Models: the memory of a tbi_model, its tensor lookup, the checks common
 * to GGUF files and Hugging Face directories, and the opener that tells the
 * two apart. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer/model_impl.h"

int tbi_fail(struct tbi_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

const char *tbi_type_name(enum tbi_type t)
{
	switch (t) {
	case TBI_F32: return "f32";
	case TBI_F16: return "f16";
	case TBI_BF16: return "bf16";
	case TBI_Q8_0: return "q8_0";
	}
	return "?";
}

uint64_t tbi_type_bytes(enum tbi_type t, uint64_t n)
{
	switch (t) {
	case TBI_F32: return n <= UINT64_MAX / 4 ? n * 4 : 0;
	case TBI_F16:
	case TBI_BF16: return n <= UINT64_MAX / 2 ? n * 2 : 0;
	case TBI_Q8_0: return n % TBI_Q8_0_BLOCK ? 0 : n / TBI_Q8_0_BLOCK * TBI_Q8_0_BYTES;
	}
	return 0;
}

/* The model's memory: a list of blocks, freed together; and the tensors
 * sorted by name once the table is complete. */
struct block {
	struct block *next;
	max_align_t data[];
};
struct model_priv {
	struct block *blocks;
	const struct tbi_tensor **by_name;	/* NULL until tbi_model_check */
};

struct tbi_model *tbi_model_new(enum tbi_format format)
{
	struct tbi_model *m = calloc(1, sizeof *m);
	if (m && !(m->priv = calloc(1, sizeof(struct model_priv)))) {
		free(m);
		return NULL;
	}
	if (m)
		m->format = format;
	return m;
}

void *tbi_model_alloc(struct tbi_model *m, size_t n)
{
	struct model_priv *p = m->priv;
	if (n > SIZE_MAX - sizeof(struct block))
		return NULL;
	struct block *b = calloc(1, sizeof *b + n);
	if (!b)
		return NULL;
	b->next = p->blocks;
	p->blocks = b;
	return b->data;
}

char *tbi_model_strdup(struct tbi_model *m, const void *s, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	char *p = tbi_model_alloc(m, len + 1);
	if (p && len)
		memcpy(p, s, len);
	return p;
}

void tbi_model_free(struct tbi_model *m)
{
	if (!m)
		return;
	struct model_priv *p = m->priv;
	for (struct block *b = p->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(p->by_name);
	free(p);
	free(m);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct tbi_tensor *const *)a)->name, (*(struct tbi_tensor *const *)b)->name);
}

const struct tbi_tensor *tbi_model_tensor(const struct tbi_model *m, const char *name)
{
	const struct model_priv *p = m->priv;
	if (!p->by_name) {
		for (uint32_t i = 0; i < m->n_tensors; i++)
			if (!strcmp(m->tensors[i].name, name))
				return &m->tensors[i];
		return NULL;
	}
	struct tbi_tensor key = {.name = name};
	const struct tbi_tensor *k = &key, **hit = bsearch(&k, p->by_name, m->n_tensors, sizeof *hit, cmp_name);
	return hit ? *hit : NULL;
}

/* The name index; two tensors of one name are refused. */
static int index_names(const struct tbi_model *m, struct tbi_err *err)
{
	struct model_priv *p = m->priv;
	const struct tbi_tensor **s = malloc((m->n_tensors ? m->n_tensors : 1) * sizeof *s);
	if (!s)
		return tbi_fail(err, -ENOMEM, "out of memory for %u tensors", m->n_tensors);
	for (uint32_t i = 0; i < m->n_tensors; i++)
		s[i] = &m->tensors[i];
	qsort(s, m->n_tensors, sizeof *s, cmp_name);
	for (uint32_t i = 1; i < m->n_tensors; i++)
		if (!strcmp(s[i]->name, s[i - 1]->name)) {
			char n[100];
			int rc = tbi_fail(err, -EINVAL, "%s: tensor %s appears twice", m->files[s[i]->file],
					  tbi_printable(n, sizeof n, s[i]->name, strlen(s[i]->name)));
			free(s);
			return rc;
		}
	free(p->by_name);
	p->by_name = s;
	return 0;
}

const char *tbi_printable(char *out, size_t cap, const void *s, size_t len)
{
	const unsigned char *k = s;
	size_t o = 0;
	for (size_t i = 0; i < len && o + 5 < cap; i++)
		o += (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\')
			     ? (size_t)snprintf(out + o, cap - o, "%c", k[i])
			     : (size_t)snprintf(out + o, cap - o, "\\x%02x", k[i]);
	if (cap)
		out[o < cap ? o : cap - 1] = 0;
	return out;
}

static const char *model_file(const struct tbi_model *m)
{
	return m->n_files ? m->files[0] : m->name;
}

static int shape_str(char *buf, size_t len, uint32_t ndim, const uint64_t *ne)
{
	int at = 0;
	at += snprintf(buf + at, len - at, "[");
	for (uint32_t i = 0; i < ndim && (size_t)at < len; i++)
		at += snprintf(buf + at, len - at, "%s%llu", i ? ", " : "", (unsigned long long)ne[i]);
	if ((size_t)at < len)
		snprintf(buf + at, len - at, "]");
	return 0;
}

/* One needed tensor: present (unless optional), of a weight type the
 * engine reads, with the shape ne[0..ndim) (ggml order). */
static int check_tensor(const struct tbi_model *m, const char *name, uint32_t ndim, uint64_t ne0, uint64_t ne1,
			bool optional, struct tbi_err *err)
{
	const struct tbi_tensor *t = tbi_model_tensor(m, name);
	if (!t)
		return optional ? 0 : tbi_fail(err, -EINVAL, "%s: tensor %s is missing", model_file(m), name);
	uint64_t want[4] = {ne0, ndim > 1 ? ne1 : 1, 1, 1};
	if (memcmp(t->ne, want, sizeof want)) {
		char a[96], b[96];
		shape_str(a, sizeof a, ndim, want);
		shape_str(b, sizeof b, t->ndim, t->ne);
		return tbi_fail(err, -EINVAL, "%s: tensor %s has shape %s where the hyperparameters imply %s",
				model_file(m), name, b, a);
	}
	if (ndim == 1 && t->type == TBI_Q8_0)
		return tbi_fail(err, -EINVAL, "%s: tensor %s is q8_0; norms must be f32, f16 or bf16", model_file(m),
				name);
	return 0;
}

static int check_hparams(const struct tbi_model *m, struct tbi_err *err)
{
	const struct tbi_hparams *h = &m->hp;
	const char *f = model_file(m);
	if (strcmp(m->arch, "llama"))
		return tbi_fail(err, -ENOTSUP, "%s: architecture \"%s\" is not supported (llama family only)", f,
				m->arch);
	struct { const char *what; uint32_t v, max; } lim[] = {
		{"n_vocab", h->n_vocab, TBI_MAX_VOCAB}, {"dim", h->dim, TBI_MAX_DIM},
		{"n_layers", h->n_layers, TBI_MAX_LAYERS}, {"n_heads", h->n_heads, TBI_MAX_HEADS},
		{"n_kv_heads", h->n_kv_heads, TBI_MAX_HEADS}, {"head_dim", h->head_dim, TBI_MAX_DIM},
		{"ffn_dim", h->ffn_dim, TBI_MAX_FFN}, {"ctx_len", h->ctx_len, TBI_MAX_CTX},
	};
	for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
		if (lim[i].v == 0 || lim[i].v > lim[i].max)
			return tbi_fail(err, -EINVAL, "%s: %s is %u (must be 1 to %u)", f, lim[i].what, lim[i].v,
					lim[i].max);
	if (h->n_heads % h->n_kv_heads)
		return tbi_fail(err, -EINVAL, "%s: %u attention heads are not a multiple of %u KV heads", f,
				h->n_heads, h->n_kv_heads);
	if (h->head_dim % 2)
		return tbi_fail(err, -EINVAL, "%s: head dimension %u is odd (RoPE rotates pairs)", f, h->head_dim);
	if (!(h->rms_eps > 0 && h->rms_eps < 1))
		return tbi_fail(err, -EINVAL, "%s: RMS norm epsilon %g is not in (0, 1)", f, (double)h->rms_eps);
	if (!(h->rope_theta > 1 && h->rope_theta < 1e12f))
		return tbi_fail(err, -EINVAL, "%s: RoPE theta %g is not in (1, 1e12)", f, (double)h->rope_theta);
	if (h->rope_llama3 &&
	    !(h->rope_factor >= 1 && h->rope_low_freq_factor > 0 &&
	      h->rope_high_freq_factor > h->rope_low_freq_factor && h->rope_orig_ctx > 0))
		return tbi_fail(err, -EINVAL,
				"%s: llama3 RoPE scaling needs factor >= 1, 0 < low_freq_factor < high_freq_factor "
				"and an original context (got %g, %g, %g, %u)",
				f, (double)h->rope_factor, (double)h->rope_low_freq_factor,
				(double)h->rope_high_freq_factor, h->rope_orig_ctx);
	return 0;
}

static int check_vocab(const struct tbi_model *m, struct tbi_err *err)
{
	const struct tbi_vocab *v = &m->vocab;
	const char *f = model_file(m);
	if (v->n_tokens != m->hp.n_vocab)
		return tbi_fail(err, -EINVAL, "%s: the tokenizer has %u tokens but the model's vocabulary is %u", f,
				v->n_tokens, m->hp.n_vocab);
	if (v->kind == TBI_VOCAB_SPM && !v->scores)
		return tbi_fail(err, -EINVAL, "%s: a SentencePiece vocabulary needs scores", f);
	if (v->kind == TBI_VOCAB_BPE && !v->n_merges)
		return tbi_fail(err, -EINVAL, "%s: a BPE vocabulary needs merges", f);
	struct { const char *what; int32_t id; } ids[] = {
		{"BOS", v->bos}, {"EOS", v->eos}, {"EOT", v->eot}, {"unknown", v->unk}, {"padding", v->pad},
	};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		if (ids[i].id < -1 || (ids[i].id >= 0 && (uint32_t)ids[i].id >= v->n_tokens))
			return tbi_fail(err, -EINVAL, "%s: %s token id %d is outside the vocabulary of %u tokens", f,
					ids[i].what, ids[i].id, v->n_tokens);
	for (uint32_t i = 0; i < v->n_tokens; i++)
		if (v->types[i] < TBI_TOKEN_NORMAL || v->types[i] > TBI_TOKEN_BYTE)
			return tbi_fail(err, -EINVAL, "%s: token %u has type %d (known types are 1 to 6)", f, i,
					v->types[i]);
	return 0;
}

int tbi_model_check(const struct tbi_model *m, struct tbi_err *err)
{
	const struct tbi_hparams *h = &m->hp;
	int rc = index_names(m, err);
	if (!rc)
		rc = check_hparams(m, err);
	if (rc)
		return rc;
	uint64_t q = (uint64_t)h->n_heads * h->head_dim, kv = (uint64_t)h->n_kv_heads * h->head_dim;
	rc = check_tensor(m, "token_embd.weight", 2, h->dim, h->n_vocab, false, err);
	if (!rc)
		rc = check_tensor(m, "output_norm.weight", 1, h->dim, 0, false, err);
	if (!rc)
		rc = check_tensor(m, "output.weight", 2, h->dim, h->n_vocab, h->tied_output, err);
	if (!rc && h->tied_output && tbi_model_tensor(m, "output.weight"))
		rc = tbi_fail(err, -EINVAL, "%s: the output is tied to the embeddings but output.weight exists",
			      model_file(m));
	if (!rc && !h->tied_output && !tbi_model_tensor(m, "output.weight"))
		rc = tbi_fail(err, -EINVAL, "%s: tensor output.weight is missing", model_file(m));
	const struct tbi_tensor *rf = tbi_model_tensor(m, "rope_freqs.weight");
	if (!rc && rf && rf->type != TBI_F32)
		rc = tbi_fail(err, -EINVAL, "%s: tensor rope_freqs.weight is %s (must be f32)", model_file(m),
			      tbi_type_name(rf->type));
	if (!rc && rf)
		rc = check_tensor(m, "rope_freqs.weight", 1, h->head_dim / 2, 0, false, err);
	struct { const char *name; uint32_t ndim; uint64_t ne0, ne1; } blk[] = {
		{"attn_norm", 1, h->dim, 0},	{"attn_q", 2, h->dim, q},     {"attn_k", 2, h->dim, kv},
		{"attn_v", 2, h->dim, kv},	{"attn_output", 2, q, h->dim}, {"ffn_norm", 1, h->dim, 0},
		{"ffn_gate", 2, h->dim, h->ffn_dim}, {"ffn_up", 2, h->dim, h->ffn_dim},
		{"ffn_down", 2, h->ffn_dim, h->dim},
	};
	for (uint32_t l = 0; !rc && l < h->n_layers; l++)
		for (size_t i = 0; !rc && i < sizeof blk / sizeof blk[0]; i++) {
			char name[64];
			snprintf(name, sizeof name, "blk.%u.%s.weight", l, blk[i].name);
			rc = check_tensor(m, name, blk[i].ndim, blk[i].ne0, blk[i].ne1, false, err);
		}
	return rc ? rc : check_vocab(m, err);
}

int tbi_model_open(const char *path, struct tbi_model **out, struct tbi_err *err)
{
	*out = NULL;
	struct stat st;
	if (stat(path, &st))
		return tbi_fail(err, -errno, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return tbi_hf_open(path, out, err);
	return tbi_gguf_open(path, out, err);
}
