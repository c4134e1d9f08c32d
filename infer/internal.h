/* libtbinfer internals shared between its files (and its tests); not a
 * public interface.  Three parts meet here:
 *
 *   models      model.c, gguf.c, hf.c: a GGUF file (or its split set) or a
 *               Hugging Face directory, validated, described as hyper-
 *               parameters, a tensor table (GGUF names) and a vocabulary
 *   tokenizers  tokenizer.c, chat.c: text <-> tokens for the vocabulary,
 *               streamed decoding, chat templates
 *   engine      engine.c: weights into the GPUs' VRAM, tensor parallel,
 *               recorded decode steps (kernels in infer/kernels.cl)
 */
#ifndef TBINFER_INTERNAL_H
#define TBINFER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "infer/tbinfer.h"	/* struct tbi_err: a negative errno and a sentence */

/* Fills err (may be NULL) and returns code. */
int tbi_fail(struct tbi_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- models ----------------------------------------------------------------- */

/* Weight types, by ggml's names.  Q8_0: blocks of 32 weights, each an fp16
 * scale d followed by 32 int8 q (34 bytes); weight = d * q. */
enum tbi_type { TBI_F32, TBI_F16, TBI_BF16, TBI_Q8_0 };
#define TBI_Q8_0_BLOCK 32u
#define TBI_Q8_0_BYTES 34u
const char *tbi_type_name(enum tbi_type t);
/* Bytes of n consecutive weights of type t (n a multiple of the block for
 * Q8_0): 0 when n is not, or on overflow. */
uint64_t tbi_type_bytes(enum tbi_type t, uint64_t n);

/* A tensor by its GGUF name (Hugging Face names are mapped on open):
 *   token_embd.weight, output_norm.weight, output.weight (absent when tied),
 *   blk.N.attn_norm.weight, blk.N.attn_q.weight, blk.N.attn_k.weight,
 *   blk.N.attn_v.weight, blk.N.attn_output.weight, blk.N.ffn_norm.weight,
 *   blk.N.ffn_gate.weight, blk.N.ffn_up.weight, blk.N.ffn_down.weight
 * ne[] in ggml's order: ne[0] is the contiguous dimension, so a matrix
 * y = W x with W of out rows and in columns has ne[0] = in, ne[1] = out
 * (safetensors' shape [out, in]).  Rows are contiguous: row r of a matrix
 * starts at offset + r * tbi_type_bytes(type, ne[0]). */
struct tbi_tensor {
	const char *name;
	enum tbi_type type;
	uint32_t ndim;
	uint64_t ne[4];			/* unused dimensions are 1 */
	uint32_t file;			/* index into tbi_model.files */
	uint64_t offset;		/* absolute byte offset in that file */
	uint64_t bytes;
};

/* How RoPE pairs a head's dimensions.  GGUF llama files (converted the way
 * llama.cpp converts) rotate adjacent pairs (2i, 2i+1); Hugging Face llama
 * checkpoints rotate halves (i, i + head_dim/2). */
enum tbi_rope_layout { TBI_ROPE_ADJACENT, TBI_ROPE_HALVES };

struct tbi_hparams {
	uint32_t n_vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim;
	uint32_t ctx_len;		/* the model's trained context */
	uint32_t sliding_window;	/* Mistral: tokens each attends to; 0 for all */
	float rms_eps, rope_theta;
	enum tbi_rope_layout rope_layout;
	/* Llama 3.1's RoPE scaling (rope_type "llama3") when rope_llama3 */
	bool rope_llama3;
	float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
	uint32_t rope_orig_ctx;
	bool tied_output;		/* no output.weight: token_embd.weight is the head */
};

enum tbi_vocab_kind {
	TBI_VOCAB_SPM,			/* GGUF "llama": SentencePiece pieces with scores, byte fallback */
	TBI_VOCAB_BPE,			/* GGUF "gpt2" / tokenizer.json BPE: byte-level, merges */
};
enum tbi_pretok {
	TBI_PRETOK_GPT2,		/* GPT-2's split regex (GGUF pre "default"/"gpt2") */
	TBI_PRETOK_LLAMA3,		/* Llama 3's split regex (GGUF pre "llama-bpe") */
};
/* GGUF tokenizer.ggml.token_type values */
enum tbi_token_type {
	TBI_TOKEN_NORMAL = 1, TBI_TOKEN_UNKNOWN = 2, TBI_TOKEN_CONTROL = 3,
	TBI_TOKEN_USER_DEFINED = 4, TBI_TOKEN_UNUSED = 5, TBI_TOKEN_BYTE = 6,
};

struct tbi_vocab {
	enum tbi_vocab_kind kind;
	enum tbi_pretok pretok;
	uint32_t n_tokens;
	const char **tokens;		/* each token's text as stored (SPM: U+2581 for space;
					 * BPE: GPT-2's byte-to-unicode characters) */
	const uint32_t *token_len;	/* bytes of each */
	const float *scores;		/* SPM: each token's score; NULL for BPE */
	const int32_t *types;		/* enum tbi_token_type per token */
	uint32_t n_merges;
	const char **merges;		/* BPE: "left right", highest priority first */
	int32_t bos, eos, eot, unk, pad; /* token ids, -1 when the model has none */
	bool add_bos, add_eos;
	const char *chat_template;	/* the model's Jinja template text, or NULL */
};

enum tbi_format { TBI_FORMAT_GGUF, TBI_FORMAT_HF };

struct tbi_model {
	enum tbi_format format;
	char arch[32];			/* "llama" */
	char name[128];			/* general.name, or the directory's name */
	uint32_t n_files;
	const char **files;		/* absolute or as given; GGUF splits in order */
	const uint64_t *file_sizes;
	struct tbi_hparams hp;
	uint32_t n_tensors;
	const struct tbi_tensor *tensors;
	struct tbi_vocab vocab;
	void *priv;			/* the parser's memory */
};

/* Opens a GGUF file (a split set given by any of its -0000K-of-N files, or
 * the first) or a Hugging Face model directory, reads and validates every
 * header, the hyperparameters, each tensor's type, shape, extent against
 * the file size and the config, and the vocabulary, before anything else
 * is allocated.  Refuses other architectures naming what is missing. */
int tbi_model_open(const char *path, struct tbi_model **out, struct tbi_err *err);
void tbi_model_free(struct tbi_model *m);
/* A tensor by name, or NULL. */
const struct tbi_tensor *tbi_model_tensor(const struct tbi_model *m, const char *name);
/* Parses one GGUF file's bytes (the header, metadata and tensor infos; the
 * data need not be there) of a file of file_size bytes: the fuzz target's
 * entry point.  *out as tbi_model_open fills it, files[0] = name. */
int tbi_gguf_parse(const void *data, size_t len, uint64_t file_size, const char *name, struct tbi_model **out,
		   struct tbi_err *err);

/* ---- tokenizers -------------------------------------------------------------- */

struct tbi_tokenizer;
/* Builds a tokenizer for the vocabulary (which must outlive it). */
int tbi_tokenizer_new(const struct tbi_vocab *v, struct tbi_tokenizer **out, struct tbi_err *err);
void tbi_tokenizer_free(struct tbi_tokenizer *t);
/* Encodes len bytes of text (invalid UTF-8 included: SPM byte fallback,
 * BPE bytes) into a malloc'd array *tokens of *n; with add_bos the model's
 * BOS first (when it has one); with parse_special control tokens' texts
 * ("<|eot_id|>") become those tokens. */
int tbi_tokenize(const struct tbi_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
		 int32_t **tokens, size_t *n, struct tbi_err *err);
/* A span of a text: bytes [off, off + len). */
struct tbi_span {
	size_t off, len;
};
/* Encodes a text in which only the marked spans may become control tokens
 * (each one that is a control or user-defined token's text does; a mark
 * that is no token's text stays text); the rest is encoded as with
 * parse_special false.  Marks in order, not overlapping, inside the text. */
int tbi_tokenize_marked(const struct tbi_tokenizer *t, const char *text, size_t len, const struct tbi_span *marks,
			size_t n_marks, int32_t **tokens, size_t *n, struct tbi_err *err);
/* True for tokens that end a generation (EOS, EOT, <|eot_id|>, ...). */
bool tbi_token_is_eog(const struct tbi_tokenizer *t, int32_t token);

/* Streamed decoding: each token's bytes, with any incomplete UTF-8
 * sequence at the end held back until the next token completes it, so the
 * text never carries a broken sequence; bytes that can never become valid
 * come out as U+FFFD.  Control tokens decode to nothing. */
struct tbi_detok;
int tbi_detok_new(const struct tbi_tokenizer *t, struct tbi_detok **out);
void tbi_detok_free(struct tbi_detok *d);
/* The text token adds (valid until the next call), *len bytes. */
const char *tbi_detok_push(struct tbi_detok *d, int32_t token, size_t *len);
/* What is still held back, at the end of a generation. */
const char *tbi_detok_flush(struct tbi_detok *d, size_t *len);

/* Chat templates, built in, picked from the model's template text (or the
 * vocabulary's special tokens) or named: "llama2", "llama3", "chatml". */
enum tbi_chat_template { TBI_CHAT_LLAMA2, TBI_CHAT_LLAMA3, TBI_CHAT_CHATML };
int tbi_chat_template_pick(const struct tbi_vocab *v, const char *name, enum tbi_chat_template *out,
			   struct tbi_err *err);
const char *tbi_chat_template_name(enum tbi_chat_template t);
struct tbi_chat_msg {
	const char *role;		/* "system", "user", "assistant" */
	const char *content;
};
/* The conversation as text, with the opening of the assistant's reply when
 * add_generation_prompt, and the spans of the text that are the template's
 * own markers ("<|eot_id|>"): only those become control tokens
 * (tbi_tokenize_marked), never the same text inside a message.  Includes
 * the BOS text where the template has it (then tokenize without add_bos). */
struct tbi_chat_text {
	char *s;			/* NUL-terminated */
	size_t len;
	struct tbi_span *marks;
	size_t n_marks;
};
int tbi_chat_render(enum tbi_chat_template t, const struct tbi_chat_msg *msgs, size_t n, bool add_generation_prompt,
		    struct tbi_chat_text *out, struct tbi_err *err);
void tbi_chat_text_free(struct tbi_chat_text *c);

#endif
