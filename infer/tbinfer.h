/* libtbinfer: llama-family language models on the appliance's GPUs.
 *
 * A model is a GGUF file (or a split set) or a Hugging Face directory
 * (config.json, tokenizer.json, safetensors).  The engine loads its weights
 * into the VRAM of N GPUs, split tensor-parallel (attention heads, FFN
 * columns and vocabulary rows per GPU, partial sums added across GPUs by
 * the GPUs themselves over peer memory), and generates tokens: the prompt in
 * batches, then one recorded decode step replayed per token.
 *
 * Errors: functions return 0 or a negative errno and fill a struct tbi_err
 * with a sentence naming the file, tensor, GPU or value at fault.  -EIO
 * from tbi_generate means a GPU failed (tbi_engine_failed_gpu says which):
 * the engine is then unusable; close it and open another (without that GPU).
 * Nothing here prints (but the progress callback) or exits.
 *
 * Threads: one engine serves one generation at a time (tbi_generate,
 * tbi_engine_logits from one thread); tbi_encode, tbi_encode_chat and
 * tbi_engine_get_info only read it and may run on other threads meanwhile,
 * until tbi_engine_close. */
#ifndef TBINFER_H
#define TBINFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tbi_err {
	int code;			/* negative errno, 0 when no error */
	char msg[512];
};

typedef struct tbi_engine tbi_engine;

typedef void (*tbi_progress_fn)(void *ctx, uint64_t done, uint64_t total);

#define TBI_MAX_GPUS 8

struct tbi_engine_opts {
	/* Which GPUs (indices as tbh_device_open takes them), as given; with
	 * gpus NULL, the GPUs no other process holds (KFD's per-process
	 * files): all of them when ngpus is 0, else the first ngpus (-EBUSY
	 * when fewer are free). */
	const int *gpus;
	int ngpus;
	uint32_t context;		/* tokens of KV cache; 0: the model's, at most 4096 */
	const char *kernels;		/* the code object; NULL: ../../share/tb/infer.co from the program */
	bool verify;			/* check safetensors files against their .tbsum manifests */
	uint32_t hang_timeout_ms;	/* per GPU; 0: the HAL's default */
	tbi_progress_fn progress;	/* loading: bytes done of total */
	void *progress_ctx;
};

int tbi_engine_open(const char *model, const struct tbi_engine_opts *o, tbi_engine **out, struct tbi_err *err);
void tbi_engine_close(tbi_engine *e);

struct tbi_engine_info {
	char name[128];
	char format[16];		/* "gguf", "safetensors" */
	char weight_type[16];		/* of the attention and FFN matrices: "f16", "q8_0", ... */
	uint32_t n_vocab, dim, n_layers, n_heads, n_kv_heads, ffn_dim, context;
	int ngpus;
	uint64_t weight_bytes;		/* the model's weights as stored */
	uint64_t vram_bytes[TBI_MAX_GPUS];	/* what the engine holds on each GPU */
	double load_seconds;
	uint64_t load_bytes;		/* read from storage */
	char chat_template[16];		/* the template tb chat would use */
	/* With verify: xxh3-64 (16 hex digits) over the files' manifests, in
	 * file order, so a client can pin the exact weights; else "". */
	char manifest_hash[24];
};
void tbi_engine_get_info(const tbi_engine *e, struct tbi_engine_info *info);

/* Text to tokens (with the model's BOS when add_bos; special tokens' texts
 * become those tokens when special); *tokens malloc'd. */
int tbi_encode(tbi_engine *e, const char *text, size_t len, bool add_bos, bool special, int32_t **tokens, size_t *n,
	       struct tbi_err *err);

/* A conversation rendered with the model's (or the named) chat template and
 * tokenized, ready for tbi_generate; *tokens malloc'd.  Only the
 * template's own markers become control tokens: a message that contains
 * "<|eot_id|>" or "<|im_start|>" gets that text as text, so no message can
 * end its turn or forge another role's. */
struct tbi_message {
	const char *role;		/* "system", "user", "assistant" */
	const char *content;
};
int tbi_encode_chat(tbi_engine *e, const char *template_name, const struct tbi_message *msgs, size_t n,
		    int32_t **tokens, size_t *ntokens, struct tbi_err *err);

struct tbi_sampling {
	float temperature;		/* 0: greedy */
	uint32_t top_k;			/* 1..256; 0: 40 */
	float top_p;			/* (0, 1]; 0: 1 */
	uint64_t seed;
};

enum tbi_stop { TBI_STOP_EOS, TBI_STOP_LENGTH, TBI_STOP_CONTEXT, TBI_STOP_CALLER };

struct tbi_stats {
	uint32_t prompt_tokens, cached_tokens, generated_tokens;
	double first_token_s;		/* from the call to the first generated token */
	double prefill_tps, decode_tps;
	/* The calling thread's CPU time per decoded token: the engine's own
	 * work (patching and submitting the step, decoding the text), then
	 * what its waits for the GPUs spun; the callback's time is in neither. */
	double host_us_per_token;
	double wait_us_per_token;
	uint32_t launches_per_token;	/* kernel launches in one decode step, all GPUs */
	uint32_t replays_per_token;	/* graph replays per decode step, all GPUs */
	uint64_t weight_bytes_per_token; /* bytes of weights one decode step reads */
	enum tbi_stop stop;
};

/* Called with each generated token and the text it completes (UTF-8, never
 * a broken sequence; may be empty); a nonzero return stops the generation.
 * At the end, text still held back (an incomplete sequence, as U+FFFD)
 * comes with token -1. */
typedef int (*tbi_token_fn)(void *ctx, int32_t token, const char *text, size_t len);

/* Generates after the prompt until an end-of-generation token, max_tokens,
 * the context's end or the callback says stop.  A prompt that begins with
 * the tokens of the previous call's prompt and output reuses their KV
 * cache (a chat's history is not computed again). */
int tbi_generate(tbi_engine *e, const int32_t *prompt, size_t n, uint32_t max_tokens, const struct tbi_sampling *s,
		 tbi_token_fn on_token, void *ctx, struct tbi_stats *stats, struct tbi_err *err);

/* After -EIO: the index of the GPU that failed first, or -1. */
int tbi_engine_failed_gpu(const tbi_engine *e);

/* The logits the last generated token was sampled from (n_vocab floats
 * into out): what tests compare with a reference. */
int tbi_engine_logits(tbi_engine *e, float *out, size_t n, struct tbi_err *err);

#ifdef __cplusplus
}
#endif

#endif
