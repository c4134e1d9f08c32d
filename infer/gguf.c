/* GGUF v2/v3 (ggml's docs/gguf.md): one file, or a split set written by
 * llama.cpp's gguf-split (NAME-0000K-of-0000N.gguf, keys split.no,
 * split.count, split.tensors.count).  Every count, length and offset is
 * checked against the bytes read and the file's size before it is used;
 * nothing is allocated from a count that the bytes cannot hold. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infer/model_impl.h"

#define GGUF_MAGIC	       "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_DIMS	       4u
#define GGUF_MAX_ALIGNMENT     (1u << 20)
/* Headers are read in growing prefixes of the file, up to this much. */
#define GGUF_FIRST_READ	       (1u << 20)
#define GGUF_MAX_HEADER	       (512u << 20)

/* gguf_type: the metadata value types */
enum {
	GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY,
	GGUF_U64, GGUF_I64, GGUF_F64, GGUF_NTYPES
};
static const uint8_t value_size[GGUF_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
static const char *const value_name[GGUF_NTYPES] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

/* ggml_type ids of the weight types read here */
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q8_0 = 8, GGML_BF16 = 30 };

/* The metadata keys this reader uses; others are walked over. */
enum key {
	K_ARCH, K_NAME, K_ALIGN, K_CTX, K_DIM, K_LAYERS, K_FFN, K_HEADS, K_KV_HEADS, K_EPS, K_THETA, K_ROPE_DIM,
	K_KEY_LEN, K_VOCAB_SIZE, K_SCALING_TYPE, K_SCALING_FACTOR, K_SCALING_ORIG, K_TOK_MODEL, K_TOK_PRE,
	K_TOKENS, K_SCORES, K_TYPES, K_MERGES, K_BOS, K_EOS, K_EOT, K_UNK, K_PAD, K_ADD_BOS, K_ADD_EOS, K_TEMPLATE,
	K_SPLIT_NO, K_SPLIT_COUNT, K_SPLIT_TENSORS, K_SLIDING_WINDOW, K_N
};
static const char *const key_name[K_N] = {
	"general.architecture", "general.name", "general.alignment", "llama.context_length",
	"llama.embedding_length", "llama.block_count", "llama.feed_forward_length", "llama.attention.head_count",
	"llama.attention.head_count_kv", "llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base",
	"llama.rope.dimension_count", "llama.attention.key_length", "llama.vocab_size", "llama.rope.scaling.type",
	"llama.rope.scaling.factor", "llama.rope.scaling.original_context_length", "tokenizer.ggml.model",
	"tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
	"tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
	"tokenizer.ggml.eot_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
	"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", "tokenizer.chat_template", "split.no",
	"split.count", "split.tensors.count", "llama.attention.sliding_window",
};

struct value {
	bool set;
	uint32_t type;		/* for arrays: the elements' type */
	bool array;
	uint64_t n;		/* elements of an array */
	size_t at;		/* where the value (an array's first element) starts */
};

struct tinfo {
	const uint8_t *name;
	uint32_t name_len, ndim, type;
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t offset;	/* from the data section */
};

/* One file's header, scanned: the keys used, the tensor infos. */
struct hdr {
	const char *file;
	const uint8_t *p;
	size_t len;		/* bytes of the file in p */
	uint64_t file_size;
	size_t at;
	bool short_read;	/* the header goes on past len (but not past the file) */
	struct tbi_err *err;
	uint32_t version;
	uint64_t n_tensors, n_kv;
	struct value kv[K_N];
	struct tinfo *t;
	uint64_t data_start;
	uint32_t alignment;
};

/* Fails unless n more bytes are there. */
static int need(struct hdr *h, uint64_t n, const char *what)
{
	if (n <= h->len - h->at)
		return 0;
	if (h->len < h->file_size && n <= h->file_size - h->at) {
		h->short_read = true;
		return tbi_fail(h->err, -EINVAL, "%s: the header goes on past the %zu bytes read (reading %s)",
				h->file, h->len, what);
	}
	return tbi_fail(h->err, -EINVAL, "%s: truncated: %s at byte %zu needs %llu bytes, the file has %llu",
			h->file, what, h->at, (unsigned long long)n, (unsigned long long)(h->file_size - h->at));
}

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int rd(struct hdr *h, unsigned n, uint64_t *v, const char *what)
{
	int rc = need(h, n, what);
	if (rc)
		return rc;
	*v = le(h->p + h->at, n);
	h->at += n;
	return 0;
}

/* A gguf_string: u64 length, then that many bytes (not NUL-terminated). */
static int rd_str(struct hdr *h, const uint8_t **s, uint64_t *len, const char *what)
{
	int rc = rd(h, 8, len, what);
	if (rc)
		return rc;
	if (*len > TBI_MAX_STRING)
		return tbi_fail(h->err, -EINVAL, "%s: %s at byte %zu claims %llu bytes (at most %u)", h->file, what,
				h->at - 8, (unsigned long long)*len, TBI_MAX_STRING);
	if ((rc = need(h, *len, what)))
		return rc;
	*s = h->p + h->at;
	h->at += *len;
	return 0;
}

/* Walks over one value of type type (not an array), for key `key`. */
static int skip_value(struct hdr *h, uint32_t type, const char *key)
{
	if (type == GGUF_STRING) {
		const uint8_t *s;
		uint64_t n;
		return rd_str(h, &s, &n, key);
	}
	int rc = need(h, value_size[type], key);
	if (!rc)
		h->at += value_size[type];
	return rc;
}

static bool key_is(const uint8_t *k, uint64_t len, const char *name)
{
	return strlen(name) == len && !memcmp(k, name, len);
}

static int scan_kv(struct hdr *h, uint64_t i)
{
	const uint8_t *k;
	uint64_t klen, type;
	char what[64], kp[80];
	snprintf(what, sizeof what, "metadata key %llu", (unsigned long long)i);
	int rc = rd_str(h, &k, &klen, what);
	if (rc)
		return rc;
	tbi_printable(kp, sizeof kp, k, klen);
	if ((rc = rd(h, 4, &type, kp)))
		return rc;
	if (type >= GGUF_NTYPES)
		return tbi_fail(h->err, -EINVAL, "%s: key %s has value type %llu (known types are 0 to %d)", h->file,
				kp, (unsigned long long)type, GGUF_NTYPES - 1);
	struct value v = {.set = true, .type = (uint32_t)type};
	if (type == GGUF_ARRAY) {
		uint64_t et;
		if ((rc = rd(h, 4, &et, kp)) || (rc = rd(h, 8, &v.n, kp)))
			return rc;
		if (et >= GGUF_NTYPES || et == GGUF_ARRAY)
			return tbi_fail(h->err, -EINVAL, "%s: key %s is an array of %s (nested or unknown)", h->file,
					kp, et < GGUF_NTYPES ? "arrays" : "an unknown type");
		v.type = (uint32_t)et;
		v.array = true;
		/* the count against the bytes left in the file, before the walk */
		if (v.n > (h->file_size - h->at) / value_size[et])
			return tbi_fail(h->err, -EINVAL,
					"%s: key %s claims %llu elements, more than the %llu bytes left can hold", h->file,
					kp, (unsigned long long)v.n, (unsigned long long)(h->file_size - h->at));
	}
	v.at = h->at;
	if (v.array && v.type != GGUF_STRING) {
		if ((rc = need(h, v.n * value_size[v.type], kp)))
			return rc;
		h->at += v.n * value_size[v.type];
	} else {
		for (uint64_t e = 0; e < (v.array ? v.n : 1); e++)
			if ((rc = skip_value(h, v.type, kp)))
				return rc;
	}
	for (int j = 0; j < K_N; j++)
		if (key_is(k, klen, key_name[j])) {
			if (h->kv[j].set)
				return tbi_fail(h->err, -EINVAL, "%s: key %s appears twice", h->file, kp);
			h->kv[j] = v;
		}
	return 0;
}

static int tensor_type(struct hdr *h, const struct tinfo *t, enum tbi_type *out)
{
	switch (t->type) {
	case GGML_F32: *out = TBI_F32; return 0;
	case GGML_F16: *out = TBI_F16; return 0;
	case GGML_BF16: *out = TBI_BF16; return 0;
	case GGML_Q8_0: *out = TBI_Q8_0; return 0;
	}
	char n[80];
	tbi_printable(n, sizeof n, t->name, t->name_len);
	return tbi_fail(h->err, -ENOTSUP, "%s: tensor %s has ggml type %u (supported: f32 0, f16 1, q8_0 8, bf16 30)",
			h->file, n, t->type);
}

static int scan_tensor(struct hdr *h, uint64_t i)
{
	struct tinfo *t = &h->t[i];
	uint64_t len, v;
	char what[64];
	snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
	int rc = rd_str(h, &t->name, &len, what);
	if (rc)
		return rc;
	if (len == 0 || len > TBI_MAX_NAME)
		return tbi_fail(h->err, -EINVAL, "%s: %s has a name of %llu bytes (1 to %u)", h->file, what,
				(unsigned long long)len, TBI_MAX_NAME);
	t->name_len = (uint32_t)len;
	char n[80];
	tbi_printable(n, sizeof n, t->name, len);
	if ((rc = rd(h, 4, &v, n)))
		return rc;
	if (v == 0 || v > GGUF_MAX_DIMS)
		return tbi_fail(h->err, -EINVAL, "%s: tensor %s has %llu dimensions (1 to %u)", h->file, n,
				(unsigned long long)v, GGUF_MAX_DIMS);
	t->ndim = (uint32_t)v;
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if (d < t->ndim && (rc = rd(h, 8, &t->ne[d], n)))
			return rc;
		if (t->ne[d] == 0 || t->ne[d] > (1ull << 40))
			return tbi_fail(h->err, -EINVAL, "%s: tensor %s dimension %u is %llu", h->file, n, d,
					(unsigned long long)t->ne[d]);
	}
	if ((rc = rd(h, 4, &v, n)))
		return rc;
	t->type = (uint32_t)v;
	return rd(h, 8, &t->offset, n);
}

static int scan(struct hdr *h)
{
	uint64_t v;
	int rc = need(h, 4, "the magic");
	if (rc)
		return rc;
	if (memcmp(h->p, GGUF_MAGIC, 4))
		return tbi_fail(h->err, -EINVAL, "%s: not a GGUF file (no GGUF magic)", h->file);
	h->at = 4;
	if ((rc = rd(h, 4, &v, "the version")))
		return rc;
	if (v != 2 && v != 3)
		return tbi_fail(h->err, -ENOTSUP, "%s: GGUF version %llu (versions 2 and 3 are read)", h->file,
				(unsigned long long)v);
	h->version = (uint32_t)v;
	if ((rc = rd(h, 8, &h->n_tensors, "the tensor count")) || (rc = rd(h, 8, &h->n_kv, "the metadata count")))
		return rc;
	/* a key takes at least 13 bytes (length, type, a byte); a tensor info 33 */
	uint64_t left = h->file_size - h->at;
	if (h->n_kv > left / 13)
		return tbi_fail(h->err, -EINVAL, "%s: %llu metadata keys cannot fit in the file's %llu bytes", h->file,
				(unsigned long long)h->n_kv, (unsigned long long)left);
	if (h->n_tensors > left / 33)
		return tbi_fail(h->err, -EINVAL, "%s: %llu tensors cannot fit in the file's %llu bytes", h->file,
				(unsigned long long)h->n_tensors, (unsigned long long)left);
	for (uint64_t i = 0; i < h->n_kv; i++)
		if ((rc = scan_kv(h, i)))
			return rc;
	if (h->n_tensors > (h->len - h->at) / 33)
		return need(h, h->n_tensors * 33, "the tensor infos");
	h->t = calloc(h->n_tensors ? h->n_tensors : 1, sizeof *h->t);
	if (!h->t)
		return tbi_fail(h->err, -ENOMEM, "%s: out of memory for %llu tensor infos", h->file,
				(unsigned long long)h->n_tensors);
	for (uint64_t i = 0; i < h->n_tensors; i++)
		if ((rc = scan_tensor(h, i)))
			return rc;
	h->alignment = GGUF_DEFAULT_ALIGNMENT;
	const struct value *a = &h->kv[K_ALIGN];
	if (a->set) {
		if (a->array || a->type != GGUF_U32)
			return tbi_fail(h->err, -EINVAL, "%s: general.alignment is not a u32", h->file);
		h->alignment = (uint32_t)le(h->p + a->at, 4);
		if (!h->alignment || (h->alignment & (h->alignment - 1)) || h->alignment > GGUF_MAX_ALIGNMENT)
			return tbi_fail(h->err, -EINVAL, "%s: general.alignment %u is not a power of two up to %u",
					h->file, h->alignment, GGUF_MAX_ALIGNMENT);
	}
	h->data_start = (h->at + h->alignment - 1) / h->alignment * h->alignment;
	return 0;
}

/* ---- typed access to the keys ----------------------------------------------- */

static bool is_int(uint32_t t)
{
	return t <= GGUF_I32 || t == GGUF_U64 || t == GGUF_I64 || t == GGUF_BOOL;
}

static int64_t int_at(const uint8_t *p, uint32_t t)
{
	uint64_t u = le(p, value_size[t]);
	switch (t) {
	case GGUF_I8: return (int8_t)u;
	case GGUF_I16: return (int16_t)u;
	case GGUF_I32: return (int32_t)u;
	case GGUF_I64: return (int64_t)u;
	case GGUF_U64: return u > INT64_MAX ? -1 : (int64_t)u;
	default: return (int64_t)u;
	}
}

/* An integer key in [lo, hi]; *v untouched when the key is absent. */
static int get_int(struct hdr *h, enum key k, int64_t lo, int64_t hi, int64_t *v)
{
	const struct value *x = &h->kv[k];
	if (!x->set)
		return 0;
	if (x->array || !is_int(x->type) || x->type == GGUF_BOOL)
		return tbi_fail(h->err, -EINVAL, "%s: key %s is a %s%s, not an integer", h->file, key_name[k],
				x->array ? "array of " : "", value_name[x->type]);
	int64_t n = int_at(h->p + x->at, x->type);
	if (n < lo || n > hi)
		return tbi_fail(h->err, -EINVAL, "%s: key %s is %lld (must be %lld to %lld)", h->file, key_name[k],
				(long long)n, (long long)lo, (long long)hi);
	*v = n;
	return 0;
}

static int get_u32(struct hdr *h, enum key k, bool required, uint32_t max, uint32_t *v)
{
	if (!h->kv[k].set && required)
		return tbi_fail(h->err, -EINVAL, "%s: key %s is missing", h->file, key_name[k]);
	int64_t n = *v;
	int rc = get_int(h, k, 0, max, &n);
	*v = (uint32_t)n;
	return rc;
}

static int get_id(struct hdr *h, enum key k, int32_t *v)
{
	int64_t n = *v;
	int rc = get_int(h, k, -1, INT32_MAX, &n);
	*v = (int32_t)n;
	return rc;
}

static int get_bool(struct hdr *h, enum key k, bool *v)
{
	const struct value *x = &h->kv[k];
	if (!x->set)
		return 0;
	if (x->array || x->type != GGUF_BOOL)
		return tbi_fail(h->err, -EINVAL, "%s: key %s is not a bool", h->file, key_name[k]);
	*v = h->p[x->at] != 0;
	return 0;
}

static int get_float(struct hdr *h, enum key k, float *v)
{
	const struct value *x = &h->kv[k];
	if (!x->set)
		return 0;
	if (!x->array && x->type == GGUF_F32) {
		uint32_t u = (uint32_t)le(h->p + x->at, 4);
		memcpy(v, &u, 4);
	} else if (!x->array && x->type == GGUF_F64) {
		uint64_t u = le(h->p + x->at, 8);
		double d;
		memcpy(&d, &u, 8);
		*v = (float)d;
	} else {
		return tbi_fail(h->err, -EINVAL, "%s: key %s is not a float", h->file, key_name[k]);
	}
	return 0;
}

/* A string key: *s (into the header) and *len; *s NULL when absent. */
static int get_str(struct hdr *h, enum key k, const uint8_t **s, uint64_t *len)
{
	const struct value *x = &h->kv[k];
	*s = NULL;
	*len = 0;
	if (!x->set)
		return 0;
	if (x->array || x->type != GGUF_STRING)
		return tbi_fail(h->err, -EINVAL, "%s: key %s is not a string", h->file, key_name[k]);
	*len = le(h->p + x->at, 8);
	*s = h->p + x->at + 8;
	return 0;
}

static bool str_is(const uint8_t *s, uint64_t len, const char *v)
{
	return s && key_is(s, len, v);
}

/* An array key of n elements of type type (required unless optional). */
static int get_array(struct hdr *h, enum key k, uint32_t type, uint64_t n, bool optional, const struct value **out)
{
	const struct value *x = &h->kv[k];
	*out = NULL;
	if (!x->set)
		return optional ? 0 : tbi_fail(h->err, -EINVAL, "%s: key %s is missing", h->file, key_name[k]);
	if (!x->array || x->type != type)
		return tbi_fail(h->err, -EINVAL, "%s: key %s is not an array of %s", h->file, key_name[k],
				value_name[type]);
	if (n != UINT64_MAX && x->n != n)
		return tbi_fail(h->err, -EINVAL, "%s: key %s has %llu elements where the vocabulary has %llu",
				h->file, key_name[k], (unsigned long long)x->n, (unsigned long long)n);
	*out = x;
	return 0;
}

/* ---- the model from the scanned headers ----------------------------------- */

static int copy_strings(struct tbi_model *m, struct hdr *h, const struct value *x, const char ***strs,
			uint32_t **lens)
{
	*strs = tbi_model_alloc(m, x->n * sizeof **strs);
	if (lens)
		*lens = tbi_model_alloc(m, x->n * sizeof **lens);
	if (!*strs || (lens && !*lens))
		return tbi_fail(h->err, -ENOMEM, "%s: out of memory for %llu strings", h->file,
				(unsigned long long)x->n);
	size_t at = x->at;
	for (uint64_t i = 0; i < x->n; i++) {
		uint64_t len = le(h->p + at, 8);	/* walked over and bounded by scan_kv */
		if (!((*strs)[i] = tbi_model_strdup(m, h->p + at + 8, len)))
			return tbi_fail(h->err, -ENOMEM, "%s: out of memory", h->file);
		if (lens)
			(*lens)[i] = (uint32_t)len;
		at += 8 + len;
	}
	return 0;
}

static int read_vocab(struct tbi_model *m, struct hdr *h)
{
	struct tbi_vocab *v = &m->vocab;
	const uint8_t *s;
	uint64_t len;
	const struct value *x;
	int rc = get_str(h, K_TOK_MODEL, &s, &len);
	if (rc)
		return rc;
	if (!s)
		return tbi_fail(h->err, -EINVAL, "%s: key tokenizer.ggml.model is missing", h->file);
	char kp[80];
	tbi_printable(kp, sizeof kp, s, len);
	if (str_is(s, len, "llama"))
		v->kind = TBI_VOCAB_SPM;
	else if (str_is(s, len, "gpt2"))
		v->kind = TBI_VOCAB_BPE;
	else
		return tbi_fail(h->err, -ENOTSUP, "%s: tokenizer model \"%s\" is not supported (llama or gpt2)",
				h->file, kp);
	if ((rc = get_str(h, K_TOK_PRE, &s, &len)))
		return rc;
	tbi_printable(kp, sizeof kp, s, len);
	if (!s || str_is(s, len, "default") || str_is(s, len, "gpt2"))
		v->pretok = TBI_PRETOK_GPT2;
	else if (str_is(s, len, "llama-bpe") || str_is(s, len, "llama3"))
		v->pretok = TBI_PRETOK_LLAMA3;
	else
		return tbi_fail(h->err, -ENOTSUP, "%s: pre-tokenizer \"%s\" is not supported (default, gpt2, llama-bpe)",
				h->file, kp);
	if ((rc = get_array(h, K_TOKENS, GGUF_STRING, UINT64_MAX, false, &x)))
		return rc;
	if (x->n == 0 || x->n > TBI_MAX_VOCAB)
		return tbi_fail(h->err, -EINVAL, "%s: tokenizer.ggml.tokens has %llu tokens (1 to %u)", h->file,
				(unsigned long long)x->n, TBI_MAX_VOCAB);
	v->n_tokens = (uint32_t)x->n;
	uint32_t *lens;
	if ((rc = copy_strings(m, h, x, &v->tokens, &lens)))
		return rc;
	v->token_len = lens;
	if ((rc = get_array(h, K_SCORES, GGUF_F32, v->n_tokens, v->kind == TBI_VOCAB_BPE, &x)))
		return rc;
	if (x) {
		float *sc = tbi_model_alloc(m, (size_t)v->n_tokens * sizeof *sc);
		if (!sc)
			return tbi_fail(h->err, -ENOMEM, "%s: out of memory", h->file);
		for (uint32_t i = 0; i < v->n_tokens; i++) {
			uint32_t u = (uint32_t)le(h->p + x->at + 4 * (size_t)i, 4);
			memcpy(&sc[i], &u, 4);
		}
		v->scores = sc;
	}
	int32_t *types = tbi_model_alloc(m, (size_t)v->n_tokens * sizeof *types);
	if (!types)
		return tbi_fail(h->err, -ENOMEM, "%s: out of memory", h->file);
	if ((rc = get_array(h, K_TYPES, GGUF_I32, v->n_tokens, true, &x)))
		return rc;
	for (uint32_t i = 0; i < v->n_tokens; i++)
		types[i] = x ? (int32_t)le(h->p + x->at + 4 * (size_t)i, 4) : TBI_TOKEN_NORMAL;
	v->types = types;
	if ((rc = get_array(h, K_MERGES, GGUF_STRING, UINT64_MAX, v->kind == TBI_VOCAB_SPM, &x)))
		return rc;
	if (x) {
		if (x->n > UINT32_MAX)
			return tbi_fail(h->err, -EINVAL, "%s: too many merges", h->file);
		v->n_merges = (uint32_t)x->n;
		if ((rc = copy_strings(m, h, x, &v->merges, NULL)))
			return rc;
	}
	bool spm = v->kind == TBI_VOCAB_SPM;
	v->bos = spm ? 1 : -1;
	v->eos = spm ? 2 : -1;
	v->unk = spm ? 0 : -1;
	v->eot = v->pad = -1;
	v->add_bos = spm;
	if ((rc = get_id(h, K_BOS, &v->bos)) || (rc = get_id(h, K_EOS, &v->eos)) || (rc = get_id(h, K_EOT, &v->eot)) ||
	    (rc = get_id(h, K_UNK, &v->unk)) || (rc = get_id(h, K_PAD, &v->pad)) ||
	    (rc = get_bool(h, K_ADD_BOS, &v->add_bos)) || (rc = get_bool(h, K_ADD_EOS, &v->add_eos)))
		return rc;
	if ((rc = get_str(h, K_TEMPLATE, &s, &len)))
		return rc;
	if (s && !(v->chat_template = tbi_model_strdup(m, s, len)))
		return tbi_fail(h->err, -ENOMEM, "%s: out of memory", h->file);
	return 0;
}

static int read_hparams(struct tbi_model *m, struct hdr *h)
{
	struct tbi_hparams *p = &m->hp;
	const uint8_t *s;
	uint64_t len;
	int rc = get_str(h, K_ARCH, &s, &len);
	if (rc)
		return rc;
	if (!s)
		return tbi_fail(h->err, -EINVAL, "%s: key general.architecture is missing", h->file);
	tbi_printable(m->arch, sizeof m->arch, s, len);
	if (strcmp(m->arch, "llama"))
		return tbi_fail(h->err, -ENOTSUP, "%s: architecture \"%s\" is not supported (llama family only)",
				h->file, m->arch);
	if ((rc = get_str(h, K_NAME, &s, &len)))
		return rc;
	if (s)
		tbi_printable(m->name, sizeof m->name, s, len < 100 ? len : 100);
	if ((rc = get_u32(h, K_CTX, true, TBI_MAX_CTX, &p->ctx_len)) ||
	    (rc = get_u32(h, K_DIM, true, TBI_MAX_DIM, &p->dim)) ||
	    (rc = get_u32(h, K_LAYERS, true, TBI_MAX_LAYERS, &p->n_layers)) ||
	    (rc = get_u32(h, K_FFN, true, TBI_MAX_FFN, &p->ffn_dim)) ||
	    (rc = get_u32(h, K_HEADS, true, TBI_MAX_HEADS, &p->n_heads)))
		return rc;
	p->n_kv_heads = p->n_heads;
	if ((rc = get_u32(h, K_SLIDING_WINDOW, false, TBI_MAX_CTX, &p->sliding_window)))
		return rc;
	if ((rc = get_u32(h, K_KV_HEADS, false, TBI_MAX_HEADS, &p->n_kv_heads)))
		return rc;
	if (!h->kv[K_EPS].set)
		return tbi_fail(h->err, -EINVAL, "%s: key %s is missing", h->file, key_name[K_EPS]);
	p->rope_theta = 10000.0f;
	if ((rc = get_float(h, K_EPS, &p->rms_eps)) || (rc = get_float(h, K_THETA, &p->rope_theta)))
		return rc;
	p->head_dim = p->n_heads && p->dim % p->n_heads == 0 ? p->dim / p->n_heads : 0;
	if ((rc = get_u32(h, K_KEY_LEN, false, TBI_MAX_DIM, &p->head_dim)))
		return rc;
	if (!p->head_dim)
		return tbi_fail(h->err, -EINVAL, "%s: embedding length %u is not a multiple of %u heads", h->file,
				p->dim, p->n_heads);
	uint32_t rope_dim = p->head_dim;
	if ((rc = get_u32(h, K_ROPE_DIM, false, TBI_MAX_DIM, &rope_dim)))
		return rc;
	if (rope_dim != p->head_dim)
		return tbi_fail(h->err, -ENOTSUP, "%s: RoPE dimension %u differs from the head dimension %u", h->file,
				rope_dim, p->head_dim);
	if ((rc = get_str(h, K_SCALING_TYPE, &s, &len)))
		return rc;
	if (s && !str_is(s, len, "none")) {
		char kp[80];
		tbi_printable(kp, sizeof kp, s, len);
		return tbi_fail(h->err, -ENOTSUP, "%s: RoPE scaling \"%s\" is not supported", h->file, kp);
	}
	p->rope_layout = TBI_ROPE_ADJACENT;
	if ((rc = read_vocab(m, h)))
		return rc;
	p->n_vocab = m->vocab.n_tokens;
	uint32_t nv = p->n_vocab;
	if ((rc = get_u32(h, K_VOCAB_SIZE, false, TBI_MAX_VOCAB, &nv)))
		return rc;
	if (nv != p->n_vocab)
		return tbi_fail(h->err, -EINVAL, "%s: llama.vocab_size is %u but the tokenizer has %u tokens", h->file,
				nv, p->n_vocab);
	return 0;
}

/* This file's tensors into the table at *n: types, extents within the file,
 * alignment, no overlaps. */
static int add_tensors(struct tbi_model *m, struct hdr *h, uint32_t file, struct tbi_tensor *tab, uint32_t *n)
{
	uint64_t data = h->file_size >= h->data_start ? h->file_size - h->data_start : 0;
	for (uint64_t i = 0; i < h->n_tensors; i++) {
		const struct tinfo *ti = &h->t[i];
		struct tbi_tensor *t = &tab[*n];
		char nm[80];
		tbi_printable(nm, sizeof nm, ti->name, ti->name_len);
		int rc = tensor_type(h, ti, &t->type);
		if (rc)
			return rc;
		uint64_t count = 1;
		for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
			if (ti->ne[d] > UINT64_MAX / count)
				return tbi_fail(h->err, -EINVAL, "%s: tensor %s has too many elements", h->file, nm);
			count *= ti->ne[d];
		}
		t->bytes = tbi_type_bytes(t->type, count);
		if (!t->bytes || (t->type == TBI_Q8_0 && ti->ne[0] % TBI_Q8_0_BLOCK))
			return tbi_fail(h->err, -EINVAL, "%s: tensor %s: %llu %s weights per row are not whole blocks",
					h->file, nm, (unsigned long long)ti->ne[0], tbi_type_name(t->type));
		if (ti->offset % h->alignment)
			return tbi_fail(h->err, -EINVAL, "%s: tensor %s offset %llu is not a multiple of the alignment %u",
					h->file, nm, (unsigned long long)ti->offset, h->alignment);
		if (ti->offset > data || t->bytes > data - ti->offset)
			return tbi_fail(h->err, -EINVAL,
					"%s: tensor %s (%llu bytes at data offset %llu) extends past the end of the file "
					"(%llu data bytes)",
					h->file, nm, (unsigned long long)t->bytes, (unsigned long long)ti->offset,
					(unsigned long long)data);
		if (!(t->name = tbi_model_strdup(m, ti->name, ti->name_len)))
			return tbi_fail(h->err, -ENOMEM, "%s: out of memory", h->file);
		if (strlen(t->name) != ti->name_len)
			return tbi_fail(h->err, -EINVAL, "%s: tensor %s has a NUL in its name", h->file, nm);
		t->ndim = ti->ndim;
		memcpy(t->ne, ti->ne, sizeof t->ne);
		t->file = file;
		t->offset = h->data_start + ti->offset;
		(*n)++;
	}
	return 0;
}

static int cmp_offset(const void *a, const void *b)
{
	const struct tbi_tensor *x = *(struct tbi_tensor *const *)a, *y = *(struct tbi_tensor *const *)b;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* No two tensors of a file share a byte. */
static int check_overlaps(struct tbi_model *m, struct tbi_err *err)
{
	if (m->n_tensors < 2)
		return 0;
	const struct tbi_tensor **s = malloc(m->n_tensors * sizeof *s);
	if (!s)
		return tbi_fail(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < m->n_tensors; i++)
		s[i] = &m->tensors[i];
	int rc = 0;
	qsort(s, m->n_tensors, sizeof *s, cmp_offset);
	for (uint32_t i = 1; !rc && i < m->n_tensors; i++)
		if (s[i]->file == s[i - 1]->file && s[i - 1]->offset + s[i - 1]->bytes > s[i]->offset)
			rc = tbi_fail(err, -EINVAL, "%s: tensors %s and %s overlap", m->files[s[i]->file],
				      s[i - 1]->name, s[i]->name);
	free(s);
	return rc;
}

/* The model from n scanned headers (a split set in order, or one file). */
static int build(struct hdr *hs, uint32_t n, const char *const *paths, struct tbi_model **out, struct tbi_err *err)
{
	struct tbi_model *m = tbi_model_new(TBI_FORMAT_GGUF);
	if (!m)
		return tbi_fail(err, -ENOMEM, "out of memory");
	const char **files = tbi_model_alloc(m, n * sizeof *files);
	uint64_t *sizes = tbi_model_alloc(m, n * sizeof *sizes), total = 0;
	int rc = files && sizes ? 0 : tbi_fail(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; !rc && i < n; i++) {
		sizes[i] = hs[i].file_size;
		total += hs[i].n_tensors;	/* each bounded by its file's size */
		if (!(files[i] = tbi_model_strdup(m, paths[i], strlen(paths[i]))))
			rc = tbi_fail(err, -ENOMEM, "out of memory");
	}
	m->files = files;
	m->file_sizes = sizes;
	m->n_files = n;
	if (!rc && total > UINT32_MAX)
		rc = tbi_fail(err, -EINVAL, "%s: %llu tensors", paths[0], (unsigned long long)total);
	if (!rc) {
		const char *base = strrchr(paths[0], '/');
		snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : paths[0]);
		rc = read_hparams(m, &hs[0]);
	}
	struct tbi_tensor *tab = rc ? NULL : tbi_model_alloc(m, (total ? total : 1) * sizeof *tab);
	if (!rc && !tab)
		rc = tbi_fail(err, -ENOMEM, "out of memory for %llu tensors", (unsigned long long)total);
	for (uint32_t i = 0; !rc && i < n; i++)
		rc = add_tensors(m, &hs[i], i, tab, &m->n_tensors);
	m->tensors = tab;
	if (!rc)
		rc = check_overlaps(m, err);
	if (!rc) {
		m->hp.tied_output = !tbi_model_tensor(m, "output.weight");
		rc = tbi_model_check(m, err);
	}
	if (rc) {
		tbi_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* split.no / split.count of a scanned header: 0 and 1 for a lone file. */
static int split_info(struct hdr *h, uint32_t *no, uint32_t *count, int64_t *tensors)
{
	int64_t a = 0, b = 1;
	*tensors = -1;
	int rc = get_int(h, K_SPLIT_NO, 0, TBI_MAX_FILES - 1, &a);
	if (!rc)
		rc = get_int(h, K_SPLIT_COUNT, 1, TBI_MAX_FILES, &b);
	if (!rc)
		rc = get_int(h, K_SPLIT_TENSORS, 0, INT32_MAX, tensors);
	*no = (uint32_t)a;
	*count = (uint32_t)b;
	return rc;
}

int tbi_gguf_parse(const void *data, size_t len, uint64_t file_size, const char *name, struct tbi_model **out,
		   struct tbi_err *err)
{
	*out = NULL;
	if (len > file_size)
		return tbi_fail(err, -EINVAL, "%s: %zu bytes given of a file of %llu", name, len,
				(unsigned long long)file_size);
	struct hdr h = {.file = name, .p = data, .len = len, .file_size = file_size, .err = err};
	int rc = scan(&h);
	uint32_t no, count;
	int64_t nt;
	if (!rc)
		rc = split_info(&h, &no, &count, &nt);
	if (!rc && count > 1)
		rc = tbi_fail(err, -EINVAL, "%s: part %u of a split set of %u: open the set as a whole", name, no + 1,
			      count);
	if (!rc)
		rc = build(&h, 1, &name, out, err);
	free(h.t);
	return rc;
}

/* ---- files ------------------------------------------------------------------ */

/* Opens a regular file without blocking on a FIFO, and its size. */
static int open_regular(const char *path, int *fd, uint64_t *size, struct tbi_err *err)
{
	*fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (*fd < 0)
		return tbi_fail(err, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(*fd, &st) || !S_ISREG(st.st_mode)) {
		close(*fd);
		*fd = -1;
		return tbi_fail(err, -EINVAL, "%s: not a regular file (a model is a GGUF file or a directory)", path);
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static int read_at(int fd, const char *path, uint8_t *buf, size_t len, size_t from, struct tbi_err *err)
{
	for (size_t done = from; done < len;) {
		ssize_t r = pread(fd, buf + done, len - done, (off_t)done);
		if (r < 0)
			return tbi_fail(err, -errno, "%s: %s", path, strerror(errno));
		if (r == 0)
			return tbi_fail(err, -EIO, "%s: the file shrank while being read", path);
		done += (size_t)r;
	}
	return 0;
}

/* Scans one file's header, reading larger prefixes until it fits; h->p is
 * malloc'd (the caller frees it and h->t). */
static int scan_file(const char *path, struct hdr *h, struct tbi_err *err)
{
	int fd;
	uint64_t size = 0;
	int rc = open_regular(path, &fd, &size, err);
	if (rc)
		return rc;
	size_t len = 0, want = size < GGUF_FIRST_READ ? (size_t)size : GGUF_FIRST_READ;
	uint8_t *buf = NULL;
	for (;;) {
		uint8_t *nb = realloc(buf, want ? want : 1);
		if (!nb) {
			rc = tbi_fail(err, -ENOMEM, "%s: out of memory for a %zu-byte header", path, want);
			break;
		}
		buf = nb;
		if ((rc = read_at(fd, path, buf, want, len, err)))
			break;
		len = want;
		free(h->t);
		*h = (struct hdr){.file = path, .p = buf, .len = len, .file_size = size, .err = err};
		rc = scan(h);
		if (!rc || !h->short_read)
			break;
		if (len >= GGUF_MAX_HEADER) {
			rc = tbi_fail(err, -EFBIG, "%s: the header is larger than %u MiB", path, GGUF_MAX_HEADER >> 20);
			break;
		}
		want = len > GGUF_MAX_HEADER / 4 ? GGUF_MAX_HEADER : len * 4;
		if (want > size)
			want = (size_t)size;
	}
	close(fd);
	h->p = buf;
	return rc;
}

/* PREFIX-0000K-of-0000N.gguf: *prefix_len, k and n, or false. */
static bool split_name(const char *path, size_t *prefix_len, unsigned *k, unsigned *n)
{
	size_t l = strlen(path);
	const char *tail = "-00000-of-00000.gguf";
	size_t tl = strlen(tail);
	if (l < tl)
		return false;
	const char *s = path + l - tl;
	for (size_t i = 0; i < tl; i++)
		if (tail[i] == '0' ? (s[i] < '0' || s[i] > '9') : s[i] != tail[i])
			return false;
	*k = (unsigned)strtoul(s + 1, NULL, 10);
	*n = (unsigned)strtoul(s + 10, NULL, 10);
	*prefix_len = l - tl;
	return *k >= 1 && *k <= *n;
}

static void free_hdrs(struct hdr *hs, char **paths, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free((void *)hs[i].p);
		free(hs[i].t);
		free(paths[i]);
	}
	free(hs);
	free(paths);
}

int tbi_gguf_open(const char *path, struct tbi_model **out, struct tbi_err *err)
{
	*out = NULL;
	size_t plen;
	unsigned k, n = 1;
	bool split = split_name(path, &plen, &k, &n);
	if (!split)
		n = 1;
	if (n > TBI_MAX_FILES)
		return tbi_fail(err, -EINVAL, "%s: a split set of %u files (at most %u)", path, n, TBI_MAX_FILES);
	struct hdr *hs = calloc(n, sizeof *hs);
	char **paths = calloc(n, sizeof *paths);
	int rc = hs && paths ? 0 : tbi_fail(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; !rc && i < n; i++) {
		if (split && asprintf(&paths[i], "%.*s-%05u-of-%05u.gguf", (int)plen, path, i + 1, n) < 0) {
			paths[i] = NULL;
			rc = tbi_fail(err, -ENOMEM, "out of memory");
			break;
		}
		if (!split && !(paths[i] = strdup(path))) {
			rc = tbi_fail(err, -ENOMEM, "out of memory");
			break;
		}
		if (split && access(paths[i], F_OK))
			rc = tbi_fail(err, -ENOENT, "%s: shard %u of %u of the split set is missing", paths[i], i + 1, n);
		if (!rc)
			rc = scan_file(paths[i], &hs[i], err);
		uint32_t no, count;
		int64_t nt;
		if (!rc)
			rc = split_info(&hs[i], &no, &count, &nt);
		if (!rc && (no != i || count != n))
			rc = tbi_fail(err, -EINVAL, "%s: split.no %u and split.count %u where the name says part %u of %u",
				      paths[i], no, count, i + 1, n);
	}
	if (!rc && n > 1) {
		/* split.tensors.count, in the first file, against the parts */
		uint32_t no, count;
		int64_t nt;
		uint64_t sum = 0;
		split_info(&hs[0], &no, &count, &nt);
		for (uint32_t i = 0; i < n; i++)
			sum += hs[i].n_tensors;
		if (nt >= 0 && (uint64_t)nt != sum)
			rc = tbi_fail(err, -EINVAL, "%s: split.tensors.count is %lld but the %u parts hold %llu tensors",
				      paths[0], (long long)nt, n, (unsigned long long)sum);
	}
	if (!rc)
		rc = build(hs, n, (const char *const *)paths, out, err);
	if (hs && paths)
		free_hdrs(hs, paths, n);
	else {
		free(hs);
		free(paths);
	}
	return rc;
}
