/* tb generate MODEL --prompt TEXT: text from a model, streamed as it is
 * generated, then the figures (time to first token, prefill and decode
 * tokens/s); --json prints the tokens, the text and the figures instead. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/cmd.h"

static const char usage[] =
	"usage: tb generate MODEL --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]\n"
	"                   [--seed S] [--gpus N] [--context N] [--verify] [--json]\n"
	"MODEL is a GGUF file (or the first of a split set) or a Hugging Face model directory.\n"
	"Greedy unless --temperature is above 0 (then top-k, default 40, and top-p, default 0.95).\n";

struct out {
	bool json;
	json_t *tokens;
	char *text;
	size_t len, cap;
};

static int on_token(void *ctx, int32_t token, const char *text, size_t len)
{
	struct out *o = ctx;
	if (!o->json) {
		fwrite(text, 1, len, stdout);
		fflush(stdout);
		return 0;
	}
	if (token >= 0)
		json_array_append_new(o->tokens, json_integer(token));
	if (o->len + len + 1 > o->cap) {
		size_t cap = (o->len + len + 1) * 2;
		char *n = realloc(o->text, cap);
		if (!n)
			return 1;
		o->text = n;
		o->cap = cap;
	}
	memcpy(o->text + o->len, text, len);
	o->len += len;
	o->text[o->len] = '\0';
	return 0;
}

static json_t *stats_json(const struct tbi_stats *s, const struct tbi_engine_info *info)
{
	return json_pack("{s:i, s:i, s:i, s:s, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:I, s:i, s:f, s:I}", "prompt_tokens",
			 (int)s->prompt_tokens, "cached_tokens", (int)s->cached_tokens, "generated_tokens",
			 (int)s->generated_tokens, "stop", infer_stop_name(s->stop), "first_token_s", s->first_token_s,
			 "prefill_tokens_per_s", s->prefill_tps, "decode_tokens_per_s", s->decode_tps,
			 "host_us_per_token", s->host_us_per_token, "wait_us_per_token", s->wait_us_per_token,
			 "launches_per_token", (int)s->launches_per_token,
			 "replays_per_token", (int)s->replays_per_token, "weight_bytes_per_token",
			 (json_int_t)s->weight_bytes_per_token, "gpus", info->ngpus, "load_seconds", info->load_seconds,
			 "load_bytes", (json_int_t)info->load_bytes);
}

int main(int argc, char **argv)
{
	const char *cmd = "tb generate";
	struct infer_opts o;
	tbi_engine *e;
	int status;
	if (!infer_start(cmd, argc, argv, false, usage, &o, &e, &status))
		return status;
	struct tbi_err err = { 0 };
	int32_t *prompt = NULL;
	size_t n = 0;
	int rc = tbi_encode(e, o.prompt, strlen(o.prompt), true, false, &prompt, &n, &err);
	struct out out = { .json = o.json, .tokens = json_array() };
	struct tbi_stats st = { 0 };
	if (rc == 0)
		rc = tbi_generate(e, prompt, n, o.max_tokens, &o.sampling, on_token, &out, &st, &err);
	struct tbi_engine_info info;
	tbi_engine_get_info(e, &info);
	status = 0;
	if (rc) {
		if (!o.json)
			fputc('\n', stdout);
		fprintf(stderr, "%s: %s\n", cmd, err.msg);
		status = 1;
	} else if (o.json) {
		json_t *j = json_pack("{s:s, s:s, s:s*, s:o, s:s%, s:o}", "model", info.name, "format", info.format,
				      "manifest_hash", info.manifest_hash[0] ? info.manifest_hash : NULL, "tokens",
				      out.tokens, "text", out.text ? out.text : "", out.len, "stats", stats_json(&st, &info));
		out.tokens = NULL;
		if (!j || json_dumpf(j, stdout, JSON_COMPACT) < 0) {
			fprintf(stderr, "%s: the text is not valid UTF-8 JSON can carry\n", cmd);
			status = 1;
		}
		fputc('\n', stdout);
		json_decref(j);
	} else {
		fputc('\n', stdout);
		infer_print_stats(stderr, &st);
	}
	json_decref(out.tokens);
	free(out.text);
	free(prompt);
	tbi_engine_close(e);
	return status;
}
