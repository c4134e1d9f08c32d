/* Hugging Face model directories: config.json (LlamaForCausalLM,
 * MistralForCausalLM), model.safetensors or the shards named by
 * model.safetensors.index.json (headers through libtbstore), tokenizer.json
 * (a BPE model) and tokenizer_config.json.  Tensor names are mapped to
 * GGUF's; the RoPE layout is halves (the checkpoints' own, unpermuted). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer/model_impl.h"
#include "storage/tbstore.h"

/* A string of a file, printable, for a message (a block-scoped buffer). */
#define PR(str) tbi_printable((char[100]){0}, 100, (str), strlen(str))

/* JSON files read whole: Llama 3's tokenizer.json is about 9 MB. */
#define HF_MAX_JSON (64u << 20)

/* Llama 3's pre-tokenizer split (tokenizer.json), and GPT-2's. */
static const char llama3_regex[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
	"\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct hf {
	const char *dir;
	struct tbi_model *m;
	struct tbi_err *err;
	json_t *config, *tok, *tokcfg;
	json_t *index;		/* model.safetensors.index.json, or NULL */
	struct tbs_st *st;	/* one per file */
	uint32_t n_st;
};

static char *path_in(const char *dir, const char *file)
{
	char *p;
	return asprintf(&p, "%s/%s", dir, file) < 0 ? NULL : p;
}

/* A JSON file of the directory; *out NULL when absent and optional. */
static int load_json(struct hf *h, const char *file, bool optional, json_t **out)
{
	*out = NULL;
	char *p = path_in(h->dir, file);
	if (!p)
		return tbi_fail(h->err, -ENOMEM, "out of memory");
	struct stat st;
	int rc = 0;
	if (stat(p, &st))
		rc = optional && errno == ENOENT ? 0 : tbi_fail(h->err, -errno, "%s: %s", p, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = tbi_fail(h->err, -EINVAL, "%s: not a regular file", p);
	else if ((uint64_t)st.st_size > HF_MAX_JSON)
		rc = tbi_fail(h->err, -EFBIG, "%s: %lld bytes (at most %u MiB)", p, (long long)st.st_size,
			      HF_MAX_JSON >> 20);
	else {
		json_error_t je;
		*out = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
		if (!*out)
			rc = tbi_fail(h->err, -EINVAL, "%s: bad JSON at line %d: %s", p, je.line, je.text);
		else if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			rc = tbi_fail(h->err, -EINVAL, "%s: not a JSON object", p);
		}
	}
	free(p);
	return rc;
}

/* config.json's integer `key` in [1, max] into *v (kept when absent and
 * not required). */
static int cfg_u32(struct hf *h, const char *key, bool required, uint32_t max, uint32_t *v)
{
	json_t *x = json_object_get(h->config, key);
	if (!x || json_is_null(x))
		return required ? tbi_fail(h->err, -EINVAL, "%s/config.json: %s is missing", h->dir, key) : 0;
	if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > max)
		return tbi_fail(h->err, -EINVAL, "%s/config.json: %s is not an integer from 1 to %u", h->dir, key, max);
	*v = (uint32_t)json_integer_value(x);
	return 0;
}

static int num(struct hf *h, json_t *obj, const char *where, const char *key, bool required, float *v)
{
	json_t *x = json_object_get(obj, key);
	if (!x || json_is_null(x))
		return required ? tbi_fail(h->err, -EINVAL, "%s/%s: %s is missing", h->dir, where, key) : 0;
	if (!json_is_number(x))
		return tbi_fail(h->err, -EINVAL, "%s/%s: %s is not a number", h->dir, where, key);
	*v = (float)json_number_value(x);
	return 0;
}

static int rope_scaling(struct hf *h)
{
	struct tbi_hparams *p = &h->m->hp;
	json_t *rs = json_object_get(h->config, "rope_scaling");
	if (!rs || json_is_null(rs))
		return 0;
	if (!json_is_object(rs))
		return tbi_fail(h->err, -EINVAL, "%s/config.json: rope_scaling is not an object", h->dir);
	const char *type = json_string_value(json_object_get(rs, "rope_type"));
	if (!type)
		type = json_string_value(json_object_get(rs, "type"));
	if (!type)
		return tbi_fail(h->err, -EINVAL, "%s/config.json: rope_scaling has no rope_type", h->dir);
	if (!strcmp(type, "default"))
		return 0;
	if (strcmp(type, "llama3"))
		return tbi_fail(h->err, -ENOTSUP, "%s/config.json: RoPE scaling \"%s\" is not supported (llama3)",
				h->dir, PR(type));
	p->rope_llama3 = true;
	float orig = 0;
	int rc = num(h, rs, "config.json", "factor", true, &p->rope_factor);
	if (!rc)
		rc = num(h, rs, "config.json", "low_freq_factor", true, &p->rope_low_freq_factor);
	if (!rc)
		rc = num(h, rs, "config.json", "high_freq_factor", true, &p->rope_high_freq_factor);
	if (!rc)
		rc = num(h, rs, "config.json", "original_max_position_embeddings", true, &orig);
	if (!rc && !(orig >= 1 && orig <= TBI_MAX_CTX))
		rc = tbi_fail(h->err, -EINVAL, "%s/config.json: original_max_position_embeddings %g is out of range",
			      h->dir, (double)orig);
	p->rope_orig_ctx = (uint32_t)orig;
	return rc;
}

static int read_config(struct hf *h)
{
	struct tbi_hparams *p = &h->m->hp;
	int rc = load_json(h, "config.json", false, &h->config);
	if (rc)
		return rc;
	const char *mt = json_string_value(json_object_get(h->config, "model_type"));
	json_t *archs = json_object_get(h->config, "architectures");
	const char *arch = json_string_value(json_array_get(archs, 0));
	if (!mt || (strcmp(mt, "llama") && strcmp(mt, "mistral")))
		return tbi_fail(h->err, -ENOTSUP, "%s/config.json: model_type \"%s\" is not supported (llama, mistral)",
				h->dir, PR(mt ? mt : "(missing)"));
	if (arch && strcmp(arch, "LlamaForCausalLM") && strcmp(arch, "MistralForCausalLM"))
		return tbi_fail(h->err, -ENOTSUP,
				"%s/config.json: architecture \"%s\" is not supported (LlamaForCausalLM, "
				"MistralForCausalLM)",
				h->dir, PR(arch));
	const char *act = json_string_value(json_object_get(h->config, "hidden_act"));
	if (act && strcmp(act, "silu"))
		return tbi_fail(h->err, -ENOTSUP, "%s/config.json: hidden_act \"%s\" is not supported (silu)",
				h->dir, PR(act));
	snprintf(h->m->arch, sizeof h->m->arch, "llama");
	if ((rc = cfg_u32(h, "hidden_size", true, TBI_MAX_DIM, &p->dim)) ||
	    (rc = cfg_u32(h, "intermediate_size", true, TBI_MAX_FFN, &p->ffn_dim)) ||
	    (rc = cfg_u32(h, "num_hidden_layers", true, TBI_MAX_LAYERS, &p->n_layers)) ||
	    (rc = cfg_u32(h, "num_attention_heads", true, TBI_MAX_HEADS, &p->n_heads)) ||
	    (rc = cfg_u32(h, "max_position_embeddings", true, TBI_MAX_CTX, &p->ctx_len)) ||
	    (rc = cfg_u32(h, "vocab_size", true, TBI_MAX_VOCAB, &p->n_vocab)))
		return rc;
	p->n_kv_heads = p->n_heads;
	p->head_dim = p->dim % p->n_heads ? 0 : p->dim / p->n_heads;
	if ((rc = cfg_u32(h, "num_key_value_heads", false, TBI_MAX_HEADS, &p->n_kv_heads)) ||
	    (rc = cfg_u32(h, "sliding_window", false, TBI_MAX_CTX, &p->sliding_window)) ||
	    (rc = cfg_u32(h, "head_dim", false, TBI_MAX_DIM, &p->head_dim)))
		return rc;
	if (!p->head_dim)
		return tbi_fail(h->err, -EINVAL, "%s/config.json: hidden_size %u is not a multiple of %u heads", h->dir,
				p->dim, p->n_heads);
	p->rope_theta = 10000.0f;
	if ((rc = num(h, h->config, "config.json", "rms_norm_eps", true, &p->rms_eps)) ||
	    (rc = num(h, h->config, "config.json", "rope_theta", false, &p->rope_theta)))
		return rc;
	json_t *tie = json_object_get(h->config, "tie_word_embeddings");
	if (tie && !json_is_boolean(tie))
		return tbi_fail(h->err, -EINVAL, "%s/config.json: tie_word_embeddings is not a boolean", h->dir);
	p->tied_output = tie && json_is_true(tie);
	p->rope_layout = TBI_ROPE_HALVES;
	return rope_scaling(h);
}

/* ---- tensors ---------------------------------------------------------------- */

/* The GGUF name of a Hugging Face tensor, or false (kept as it is). */
static bool gguf_name(const char *hf, char *out, size_t cap)
{
	static const struct { const char *hf, *gguf; } top[] = {
		{"model.embed_tokens.weight", "token_embd.weight"},
		{"model.norm.weight", "output_norm.weight"},
		{"lm_head.weight", "output.weight"},
	}, layer[] = {
		{"input_layernorm.weight", "attn_norm.weight"},	    {"self_attn.q_proj.weight", "attn_q.weight"},
		{"self_attn.k_proj.weight", "attn_k.weight"},	    {"self_attn.v_proj.weight", "attn_v.weight"},
		{"self_attn.o_proj.weight", "attn_output.weight"},  {"post_attention_layernorm.weight", "ffn_norm.weight"},
		{"mlp.gate_proj.weight", "ffn_gate.weight"},	    {"mlp.up_proj.weight", "ffn_up.weight"},
		{"mlp.down_proj.weight", "ffn_down.weight"},
	};
	for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
		if (!strcmp(hf, top[i].hf))
			return snprintf(out, cap, "%s", top[i].gguf) > 0;
	unsigned n;
	int used = 0;
	if (sscanf(hf, "model.layers.%u.%n", &n, &used) != 1 || !used || hf[strlen("model.layers.")] < '0' ||
	    hf[strlen("model.layers.")] > '9')
		return false;
	for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
		if (!strcmp(hf + used, layer[i].hf))
			return snprintf(out, cap, "blk.%u.%s", n, layer[i].gguf) > 0;
	return false;
}

/* The safetensors files: model.safetensors, or the index's weight_map
 * values in order of first appearance. */
static int list_files(struct hf *h, const char ***files, uint32_t *n, json_t **index_out)
{
	json_t *index;
	int rc = load_json(h, "model.safetensors.index.json", true, &index);
	*index_out = NULL;
	if (rc)
		return rc;
	*n = 0;
	if (!index) {
		*files = tbi_model_alloc(h->m, sizeof **files);
		if (!*files || !(**files = path_in(h->dir, "model.safetensors")))
			return tbi_fail(h->err, -ENOMEM, "out of memory");
		*n = 1;
		return 0;
	}
	json_t *wm = json_object_get(index, "weight_map");
	if (!json_is_object(wm) || !json_object_size(wm)) {
		json_decref(index);
		return tbi_fail(h->err, -EINVAL, "%s/model.safetensors.index.json: no weight_map", h->dir);
	}
	size_t cap = json_object_size(wm);
	*files = tbi_model_alloc(h->m, cap * sizeof **files);
	if (!*files)
		rc = tbi_fail(h->err, -ENOMEM, "out of memory");
	const char *key;
	json_t *v;
	json_object_foreach(wm, key, v) {
		const char *f = json_string_value(v);
		if (rc)
			break;
		if (!f || !*f || strchr(f, '/') || !strcmp(f, "..") || strlen(f) > 255) {
			rc = tbi_fail(h->err, -EINVAL,
				      "%s/model.safetensors.index.json: tensor %s names no plain file of the directory",
				      h->dir, PR(key));
			break;
		}
		char *p = path_in(h->dir, f);
		if (!p) {
			rc = tbi_fail(h->err, -ENOMEM, "out of memory");
			break;
		}
		uint32_t i = 0;
		while (i < *n && strcmp((*files)[i], p))
			i++;
		if (i < *n || *n >= TBI_MAX_FILES) {
			if (i == *n)
				rc = tbi_fail(h->err, -EINVAL, "%s: more than %u shards", h->dir, TBI_MAX_FILES);
			free(p);
			continue;
		}
		(*files)[(*n)++] = p;
	}
	if (rc) {
		json_decref(index);
		for (uint32_t i = 0; i < *n; i++)
			free((char *)(*files)[i]);
		*n = 0;
	} else {
		*index_out = index;
	}
	return rc;
}

/* Every tensor of the index's weight map is in the file it names. */
static int check_weight_map(struct hf *h, json_t *index)
{
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(index, "weight_map"), key, v) {
		char name[TBI_MAX_NAME + 16];
		if (!gguf_name(key, name, sizeof name))
			continue;	/* extra tensors may have been left out */
		if (!strcmp(name, "output.weight") && h->m->hp.tied_output)
			continue;
		const struct tbi_tensor *t = tbi_model_tensor(h->m, name);
		const char *f = h->m->files[t ? t->file : 0], *base = strrchr(f, '/');
		if (!t || strcmp(base ? base + 1 : f, json_string_value(v)))
			return tbi_fail(h->err, -EINVAL, "%s/model.safetensors.index.json: tensor %s is not in %s",
					h->dir, PR(key), PR(json_string_value(v)));
	}
	return 0;
}

static int st_type(enum tbs_dtype d, enum tbi_type *t)
{
	switch (d) {
	case TBS_F32: *t = TBI_F32; return 0;
	case TBS_F16: *t = TBI_F16; return 0;
	case TBS_BF16: *t = TBI_BF16; return 0;
	default: return -1;
	}
}

/* One safetensors file's tensors into the table. */
static int add_file(struct hf *h, uint32_t file, struct tbi_tensor *tab, uint32_t *n)
{
	const struct tbs_st *st = &h->st[file];
	const char *path = h->m->files[file];
	for (size_t i = 0; i < st->count; i++) {
		const struct tbs_tensor *s = &st->tensors[i];
		char name[TBI_MAX_NAME + 16];
		bool mapped = gguf_name(s->name, name, sizeof name);
		if (!mapped)
			snprintf(name, sizeof name, "%.*s", (int)TBI_MAX_NAME, s->name);
		if (mapped && !strcmp(name, "output.weight") && h->m->hp.tied_output)
			continue;	/* tied: the embeddings are the head */
		struct tbi_tensor *t = &tab[*n];
		if (st_type(s->dtype, &t->type)) {
			if (!mapped)
				continue;	/* an extra tensor of a type not read here */
			return tbi_fail(h->err, -ENOTSUP, "%s: tensor %s is %s (f32, f16 and bf16 are read)", path,
					PR(s->name), tbs_dtype_name(s->dtype));
		}
		if (s->ndim > 4 || s->ndim == 0)
			return tbi_fail(h->err, -EINVAL, "%s: tensor %s has %u dimensions (1 to 4)", path, PR(s->name),
					s->ndim);
		t->ndim = s->ndim;
		for (unsigned d = 0; d < 4; d++)
			t->ne[d] = d < s->ndim ? s->shape[s->ndim - 1 - d] : 1;
		t->file = file;
		t->offset = s->begin;
		t->bytes = s->end - s->begin;
		if (!(t->name = tbi_model_strdup(h->m, name, strlen(name))))
			return tbi_fail(h->err, -ENOMEM, "out of memory");
		(*n)++;
		h->m->n_tensors = *n;
	}
	return 0;
}

static int read_tensors(struct hf *h)
{
	const char **files = NULL;
	uint32_t n;
	int rc = list_files(h, &files, &n, &h->index);
	if (rc)
		return rc;
	h->m->files = files;
	h->m->n_files = n;
	/* the paths were malloc'd: move them into the model's memory */
	for (uint32_t i = 0; i < n; i++) {
		char *p = (char *)files[i];
		files[i] = tbi_model_strdup(h->m, p, strlen(p));
		free(p);
		if (!files[i])
			rc = tbi_fail(h->err, -ENOMEM, "out of memory");
	}
	uint64_t *sizes = tbi_model_alloc(h->m, n * sizeof *sizes);
	h->st = calloc(n, sizeof *h->st);
	if (!rc && (!sizes || !h->st))
		rc = tbi_fail(h->err, -ENOMEM, "out of memory");
	h->m->file_sizes = sizes;
	uint64_t total = 0;
	for (uint32_t i = 0; !rc && i < n; i++) {
		struct stat sb;
		if (stat(files[i], &sb)) {
			rc = tbi_fail(h->err, -errno, "%s: shard %u of %u: %s", files[i], i + 1, n, strerror(errno));
			break;
		}
		struct tbs_error se = {0};
		if (tbs_st_open(files[i], &h->st[i], &se)) {
			rc = tbi_fail(h->err, se.code ? se.code : -EINVAL, "%s: %s", files[i], se.msg);
			break;
		}
		h->n_st = i + 1;
		sizes[i] = h->st[i].file_size;
		total += h->st[i].count;
	}
	if (!rc && total > UINT32_MAX)
		rc = tbi_fail(h->err, -EINVAL, "%s: %llu tensors", h->dir, (unsigned long long)total);
	struct tbi_tensor *tab = rc ? NULL : tbi_model_alloc(h->m, (total ? total : 1) * sizeof *tab);
	if (!rc && !tab)
		rc = tbi_fail(h->err, -ENOMEM, "out of memory");
	h->m->tensors = tab;
	uint32_t count = 0;
	for (uint32_t i = 0; !rc && i < n; i++)
		rc = add_file(h, i, tab, &count);
	return rc;
}

/* ---- tokenizer -------------------------------------------------------------- */

/* The id of the token whose text is s, or -1. */
static int32_t token_id(const struct tbi_vocab *v, const char *s)
{
	size_t len = strlen(s);
	for (uint32_t i = 0; i < v->n_tokens; i++)
		if (v->tokens[i] && v->token_len[i] == len && !memcmp(v->tokens[i], s, len))
			return (int32_t)i;
	return -1;
}

/* A token of tokenizer_config.json: a string or {"content": ...}. */
static const char *config_token(json_t *cfg, const char *key)
{
	json_t *x = json_object_get(cfg, key);
	return json_is_object(x) ? json_string_value(json_object_get(x, "content")) : json_string_value(x);
}

static int pretokenizer(struct hf *h, const char *f)
{
	struct tbi_vocab *v = &h->m->vocab;
	json_t *pt = json_object_get(h->tok, "pre_tokenizer");
	const char *type = json_string_value(json_object_get(pt, "type"));
	v->pretok = TBI_PRETOK_GPT2;
	if (type && !strcmp(type, "ByteLevel"))
		return 0;
	if (type && !strcmp(type, "Sequence")) {
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(pt, "pretokenizers"), i, p) {
			const char *t = json_string_value(json_object_get(p, "type"));
			if (!t || strcmp(t, "Split"))
				continue;
			const char *re = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
			if (re && !strcmp(re, llama3_regex)) {
				v->pretok = TBI_PRETOK_LLAMA3;
				return 0;
			}
			if (re && !strcmp(re, gpt2_regex))
				return 0;
			return tbi_fail(h->err, -ENOTSUP, "%s: the pre-tokenizer's Split regex is neither Llama 3's nor GPT-2's",
					f);
		}
		return 0;
	}
	return tbi_fail(h->err, -ENOTSUP, "%s: pre-tokenizer \"%s\" is not supported (ByteLevel, Sequence)", f,
			PR(type ? type : "(none)"));
}

/* One token into the table at id. */
static int put_token(struct hf *h, const char *f, json_int_t id, const char *text, int32_t type)
{
	struct tbi_vocab *v = &h->m->vocab;
	if (id < 0 || id >= v->n_tokens)
		return tbi_fail(h->err, -EINVAL, "%s: token id %lld is outside 0 to %u", f, (long long)id,
				v->n_tokens - 1);
	char **toks = (char **)v->tokens;
	uint32_t *lens = (uint32_t *)v->token_len;
	if (toks[id] && (lens[id] != strlen(text) || strcmp(toks[id], text)))
		return tbi_fail(h->err, -EINVAL, "%s: token id %lld is given two texts", f, (long long)id);
	size_t len = strlen(text);
	if (len > TBI_MAX_STRING || !(toks[id] = tbi_model_strdup(h->m, text, len)))
		return tbi_fail(h->err, -ENOMEM, "%s: token %lld: out of memory or too long", f, (long long)id);
	lens[id] = (uint32_t)len;
	((int32_t *)v->types)[id] = type;
	return 0;
}

static int merges(struct hf *h, const char *f, json_t *ms)
{
	struct tbi_vocab *v = &h->m->vocab;
	size_t n = json_array_size(ms);
	if (n > UINT32_MAX)
		return tbi_fail(h->err, -EINVAL, "%s: too many merges", f);
	const char **out = tbi_model_alloc(h->m, (n ? n : 1) * sizeof *out);
	if (!out)
		return tbi_fail(h->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *x = json_array_get(ms, i);
		const char *a = json_string_value(json_array_get(x, 0)), *b = json_string_value(json_array_get(x, 1));
		char *s = NULL;
		if (json_is_string(x))
			s = tbi_model_strdup(h->m, json_string_value(x), json_string_length(x));
		else if (a && b && json_array_size(x) == 2 && (s = tbi_model_alloc(h->m, strlen(a) + strlen(b) + 2)))
			sprintf(s, "%s %s", a, b);
		else
			return tbi_fail(h->err, -EINVAL, "%s: merge %zu is neither \"a b\" nor [a, b]", f, i);
		if (!s)
			return tbi_fail(h->err, -ENOMEM, "out of memory");
		out[i] = s;
	}
	v->merges = out;
	v->n_merges = (uint32_t)n;
	return 0;
}

static bool is_byte_token(const char *s)
{
	return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>';
}

static int read_tokenizer(struct hf *h)
{
	struct tbi_vocab *v = &h->m->vocab;
	char *f = path_in(h->dir, "tokenizer.json");
	if (!f)
		return tbi_fail(h->err, -ENOMEM, "out of memory");
	struct stat sb;
	int rc = 0;
	if (stat(f, &sb))
		rc = tbi_fail(h->err, -ENOENT,
			      "%s: missing: a Hugging Face directory needs tokenizer.json (SentencePiece tokenizer.model "
			      "alone is not read)",
			      f);
	if (!rc)
		rc = load_json(h, "tokenizer.json", false, &h->tok);
	if (!rc)
		rc = load_json(h, "tokenizer_config.json", true, &h->tokcfg);
	json_t *model = json_object_get(h->tok, "model"), *vocab = json_object_get(model, "vocab"),
	       *added = json_object_get(h->tok, "added_tokens");
	const char *type = json_string_value(json_object_get(model, "type"));
	if (!rc && (!type || strcmp(type, "BPE")))
		rc = tbi_fail(h->err, -ENOTSUP, "%s: tokenizer model \"%s\" is not supported (BPE)", f,
			      PR(type ? type : "(missing)"));
	if (!rc && !json_is_object(vocab))
		rc = tbi_fail(h->err, -EINVAL, "%s: model.vocab is not an object", f);
	bool spm = json_is_true(json_object_get(model, "byte_fallback"));
	v->kind = spm ? TBI_VOCAB_SPM : TBI_VOCAB_BPE;
	if (!rc && !spm)
		rc = pretokenizer(h, f);
	/* the token count: one past the largest id */
	json_int_t max = -1;
	const char *key;
	json_t *x;
	size_t i;
	if (!rc) {
		json_object_foreach(vocab, key, x) {
			if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= TBI_MAX_VOCAB) {
				rc = tbi_fail(h->err, -EINVAL, "%s: vocabulary entry %s has no id from 0 to %u", f, PR(key),
					      TBI_MAX_VOCAB - 1);
				break;
			}
			if (json_integer_value(x) > max)
				max = json_integer_value(x);
		}
		json_array_foreach(added, i, x) {
			json_t *id = json_object_get(x, "id");
			if (rc)
				break;
			if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= TBI_MAX_VOCAB ||
			    !json_is_string(json_object_get(x, "content")))
				rc = tbi_fail(h->err, -EINVAL, "%s: added token %zu has no id from 0 to %u or no content", f,
					      i, TBI_MAX_VOCAB - 1);
			else if (json_integer_value(id) > max)
				max = json_integer_value(id);
		}
	}
	if (!rc && max < 0)
		rc = tbi_fail(h->err, -EINVAL, "%s: the vocabulary is empty", f);
	/* ids are dense: no more of them than entries (which the file holds) */
	if (!rc && (size_t)max >= json_object_size(vocab) + json_array_size(added))
		rc = tbi_fail(h->err, -EINVAL, "%s: token id %lld is beyond the %zu tokens given", f, (long long)max,
			      json_object_size(vocab) + json_array_size(added));
	if (!rc) {
		v->n_tokens = (uint32_t)max + 1;
		v->tokens = tbi_model_alloc(h->m, v->n_tokens * sizeof *v->tokens);
		v->token_len = tbi_model_alloc(h->m, v->n_tokens * sizeof *v->token_len);
		v->types = tbi_model_alloc(h->m, v->n_tokens * sizeof *v->types);
		if (!v->tokens || !v->token_len || !v->types)
			rc = tbi_fail(h->err, -ENOMEM, "out of memory");
	}
	if (!rc)
		json_object_foreach(vocab, key, x) {
			int32_t t = spm && is_byte_token(key) ? TBI_TOKEN_BYTE : TBI_TOKEN_NORMAL;
			if ((rc = put_token(h, f, json_integer_value(x), key, t)))
				break;
		}
	if (!rc)
		json_array_foreach(added, i, x) {
			int32_t t = json_is_true(json_object_get(x, "special")) ? TBI_TOKEN_CONTROL : TBI_TOKEN_USER_DEFINED;
			if ((rc = put_token(h, f, json_integer_value(json_object_get(x, "id")),
					    json_string_value(json_object_get(x, "content")), t)))
				break;
		}
	for (uint32_t t = 0; !rc && t < v->n_tokens; t++)
		if (!v->tokens[t])
			rc = tbi_fail(h->err, -EINVAL, "%s: token id %u has no text (ids must be dense)", f, t);
	if (!rc) {
		json_t *ms = json_object_get(model, "merges");
		rc = json_is_array(ms) ? merges(h, f, ms) : tbi_fail(h->err, -EINVAL, "%s: model.merges is missing", f);
	}
	if (!rc && spm) {
		/* SentencePiece orders its pieces by score, which is all the
		 * tokenizer needs of the scores tokenizer.json lacks. */
		float *sc = tbi_model_alloc(h->m, v->n_tokens * sizeof *sc);
		if (!sc)
			rc = tbi_fail(h->err, -ENOMEM, "out of memory");
		for (uint32_t t = 0; sc && t < v->n_tokens; t++)
			sc[t] = -(float)t;
		v->scores = sc;
	}
	if (!rc) {
		const char *unk = json_string_value(json_object_get(model, "unk_token"));
		v->unk = unk ? token_id(v, unk) : -1;
		if (v->unk >= 0)
			((int32_t *)v->types)[v->unk] = TBI_TOKEN_UNKNOWN;
		const char *bos = config_token(h->tokcfg, "bos_token"), *eos = config_token(h->tokcfg, "eos_token"),
			   *pad = config_token(h->tokcfg, "pad_token");
		v->bos = bos ? token_id(v, bos) : -1;
		v->eos = eos ? token_id(v, eos) : -1;
		v->pad = pad ? token_id(v, pad) : -1;
		v->eot = token_id(v, "<|eot_id|>");
		if (bos && v->bos < 0)
			rc = tbi_fail(h->err, -EINVAL, "%s/tokenizer_config.json: bos_token %s is not in the vocabulary",
				      h->dir, PR(bos));
		else if (eos && v->eos < 0)
			rc = tbi_fail(h->err, -EINVAL, "%s/tokenizer_config.json: eos_token %s is not in the vocabulary",
				      h->dir, PR(eos));
		json_t *ab = json_object_get(h->tokcfg, "add_bos_token"), *ae = json_object_get(h->tokcfg, "add_eos_token");
		v->add_bos = ab ? json_is_true(ab) : v->bos >= 0;
		v->add_eos = ae && json_is_true(ae);
		const char *tpl = json_string_value(json_object_get(h->tokcfg, "chat_template"));
		if (!rc && tpl && !(v->chat_template = tbi_model_strdup(h->m, tpl, strlen(tpl))))
			rc = tbi_fail(h->err, -ENOMEM, "out of memory");
	}
	free(f);
	return rc;
}

int tbi_hf_open(const char *dir, struct tbi_model **out, struct tbi_err *err)
{
	*out = NULL;
	struct hf h = {.dir = dir, .err = err, .m = tbi_model_new(TBI_FORMAT_HF)};
	if (!h.m)
		return tbi_fail(err, -ENOMEM, "out of memory");
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	const char *base = dir + dl;
	while (base > dir && base[-1] != '/')
		base--;
	snprintf(h.m->name, sizeof h.m->name, "%.*s", (int)(dir + dl - base), base);
	int rc = read_config(&h);
	if (!rc)
		rc = read_tensors(&h);
	if (!rc)
		rc = read_tokenizer(&h);
	if (!rc)
		rc = tbi_model_check(h.m, err);
	if (!rc && h.index)	/* after the check, which indexes the names */
		rc = check_weight_map(&h, h.index);
	json_decref(h.index);
	for (uint32_t i = 0; i < h.n_st; i++)
		tbs_st_free(&h.st[i]);
	free(h.st);
	json_decref(h.config);
	json_decref(h.tok);
	json_decref(h.tokcfg);
	if (rc) {
		tbi_model_free(h.m);
		return rc;
	}
	*out = h.m;
	return 0;
}
