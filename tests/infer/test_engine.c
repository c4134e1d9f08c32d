/* The engine on the simulated box against the host reference forward pass
 * (tests/infer/ref.c): greedy generation gives the reference's tokens for
 * at least 64 tokens, the first logits agree within a tolerance, 1 GPU and
 * N GPUs give the same tokens; prompts longer than a prefill batch; the KV
 * cache reused for a prompt that extends the previous one; bad arguments
 * refused; with --hang GPU, a hang injected on that GPU mid-generation ends
 * it with -EIO naming the GPU, and a new engine on the other GPUs works.
 *
 * usage: test_engine MODEL KERNELS N[,M] [--bad | --hang GPU TB]
 *   N,M: compare N GPUs with M GPUs (each against the reference) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/internal.h"
#include "tests/infer/ref.h"
#include "tests/tap.h"

enum { GEN = 64, PROMPT = 40 };

static const char *model_path, *kernels;

/* The reference's greedy continuation of prompt, and its first logits. */
static int ref_generate(const int32_t *prompt, size_t n, uint32_t ctx, int32_t *out, size_t gen, float *logits0,
			uint32_t n_vocab)
{
	struct tbi_model *m = NULL;
	struct tbi_err err = { 0 };
	struct ref_model *r = NULL;
	char why[256] = "";
	if (tbi_model_open(model_path, &m, &err) || ref_open(m, ctx, &r, why, sizeof why)) {
		fprintf(stderr, "reference: %s%s\n", err.msg, why);
		tbi_model_free(m);
		return -1;
	}
	float *logits = malloc((size_t)n_vocab * 4);
	int rc = logits ? 0 : -1;
	uint32_t pos = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = ref_forward(r, prompt[i], pos++, logits);
	for (size_t g = 0; g < gen && rc == 0; g++) {
		if (g == 0)
			memcpy(logits0, logits, (size_t)n_vocab * 4);
		int32_t best = 0;
		for (uint32_t v = 1; v < n_vocab; v++)
			if (logits[v] > logits[best])
				best = (int32_t)v;
		out[g] = best;
		if (g + 1 < gen)
			rc = ref_forward(r, best, pos++, logits);
	}
	free(logits);
	ref_free(r);
	tbi_model_free(m);
	return rc;
}

struct collect {
	int32_t tok[GEN + 8];
	size_t n;
	const char *fault_cmd;		/* run after the third token */
};

static int on_token(void *ctx, int32_t token, const char *text, size_t len)
{
	(void)text, (void)len;
	struct collect *c = ctx;
	if (token >= 0 && c->n < GEN + 8)
		c->tok[c->n++] = token;
	if (c->fault_cmd && c->n == 3 && system(c->fault_cmd) != 0)
		fprintf(stderr, "could not run %s\n", c->fault_cmd);
	return 0;
}

static tbi_engine *open_engine(const int *gpus, int ngpus, uint32_t hang_ms)
{
	struct tbi_engine_opts o = { .gpus = gpus, .ngpus = ngpus, .context = 256, .kernels = kernels,
				     .hang_timeout_ms = hang_ms };
	struct tbi_err err = { 0 };
	tbi_engine *e = NULL;
	int rc = tbi_engine_open(model_path, &o, &e, &err);
	check(rc == 0, "%s opens on %d GPU%s (%s)", model_path, ngpus, ngpus == 1 ? "" : "s", err.msg);
	return rc ? NULL : e;
}

static void prompt_of(int32_t *p, size_t n, uint32_t n_vocab)
{
	/* fixed ids (not the tokenizer's: this test is about the forward pass) */
	for (size_t i = 0; i < n; i++)
		p[i] = (int32_t)((i * 7919 + 13) % n_vocab);
}

static size_t same_prefix(const int32_t *a, const int32_t *b, size_t n)
{
	size_t k = 0;
	while (k < n && a[k] == b[k])
		k++;
	return k;
}

static void compare(int first, int ngpus)
{
	struct tbi_model *m = NULL;
	struct tbi_err err = { 0 };
	if (tbi_model_open(model_path, &m, &err)) {
		check(0, "the model opens (%s)", err.msg);
		return;
	}
	uint32_t nv = m->hp.n_vocab;
	tbi_model_free(m);
	int32_t prompt[PROMPT], want[GEN];
	prompt_of(prompt, PROMPT, nv);
	float *ref_logits = malloc(nv * 4ull), *got = malloc(nv * 4ull);
	int rc = ref_generate(prompt, PROMPT, 256, want, GEN, ref_logits, nv);
	check(rc == 0, "the reference runs");
	int counts[2] = { first, ngpus };
	struct collect runs[2];
	for (int r = 0; r < 2 && rc == 0; r++) {
		if (r == 1 && counts[1] == counts[0])
			break;
		tbi_engine *e = open_engine(NULL, counts[r], 0);
		if (!e)
			continue;
		struct tbi_sampling greedy = { .temperature = 0 };
		struct tbi_stats st = { 0 };
		/* the first token's logits: a one-token generation */
		struct collect one = { 0 };
		rc = tbi_generate(e, prompt, PROMPT, 1, &greedy, on_token, &one, &st, &err);
		rc = rc ? rc : tbi_engine_logits(e, got, nv, &err);
		double maxdiff = 0, scale = 1e-6;
		for (uint32_t v = 0; rc == 0 && v < nv; v++) {
			double d = fabs((double)got[v] - ref_logits[v]);
			maxdiff = d > maxdiff ? d : maxdiff;
			scale = fabs(ref_logits[v]) > scale ? fabs(ref_logits[v]) : scale;
		}
		check(rc == 0 && maxdiff <= 1e-3 * scale + 1e-4,
		      "%d GPU(s): the first logits agree with the reference (max diff %.3g, largest logit %.3g; %s)",
		      counts[r], maxdiff, scale, err.msg);
		/* the same prompt again: all of it cached but the last token */
		runs[r] = (struct collect){ 0 };
		rc = tbi_generate(e, prompt, PROMPT, GEN, &greedy, on_token, &runs[r], &st, &err);
		size_t k = same_prefix(runs[r].tok, want, GEN);
		check(rc == 0 && (runs[r].n >= GEN ? k == GEN : k == runs[r].n),
		      "%d GPU(s): greedy generation gives the reference's tokens (%zu of %zu agree; %s)", counts[r], k,
		      runs[r].n, err.msg);
		check(st.cached_tokens == PROMPT - 1, "the second call reuses the cache (%u of %d tokens cached)",
		      st.cached_tokens, PROMPT);
		check(st.launches_per_token > 0 && st.replays_per_token == (uint32_t)counts[r],
		      "a decode step is %u launches in %u replays", st.launches_per_token, st.replays_per_token);
		tbi_engine_close(e);
	}
	if (counts[1] != counts[0])
		check(same_prefix(runs[0].tok, runs[1].tok, GEN) == GEN, "%d GPU(s) and %d GPUs give the same tokens", first,
		      ngpus);
	free(ref_logits);
	free(got);
}

static void bad_arguments(void)
{
	tbi_engine *e = open_engine(NULL, 1, 0);
	if (!e)
		return;
	struct tbi_err err = { 0 };
	int32_t p[2] = { 1, 1 << 30 };
	int rc = tbi_generate(e, p, 2, 4, NULL, NULL, NULL, NULL, &err);
	check(rc == -EINVAL && strstr(err.msg, "vocabulary"), "a token outside the vocabulary is refused (%s)", err.msg);
	rc = tbi_generate(e, p, 0, 4, NULL, NULL, NULL, NULL, &err);
	check(rc == -EINVAL, "an empty prompt is refused (%s)", err.msg);
	int32_t *big = calloc(300, 4);
	rc = tbi_generate(e, big, 300, 4, NULL, NULL, NULL, NULL, &err);
	check(rc == -E2BIG && strstr(err.msg, "context"), "a prompt longer than the context is refused (%s)", err.msg);
	free(big);
	struct tbi_sampling s = { .temperature = 1, .top_k = 1000 };
	rc = tbi_generate(e, p, 1, 4, &s, NULL, NULL, NULL, &err);
	check(rc == -EINVAL && strstr(err.msg, "top-k"), "top-k above 256 is refused (%s)", err.msg);
	/* sampling with a seed is repeatable */
	struct tbi_sampling t = { .temperature = 0.9f, .top_k = 20, .top_p = 0.9f, .seed = 7 };
	struct collect a = { 0 }, b = { 0 };
	rc = tbi_generate(e, p, 1, 16, &t, on_token, &a, NULL, &err);
	rc = rc ? rc : tbi_generate(e, p, 1, 16, &t, on_token, &b, NULL, &err);
	check(rc == 0 && a.n == b.n && same_prefix(a.tok, b.tok, a.n) == a.n,
	      "sampling with the same seed gives the same tokens (%s)", err.msg);
	tbi_engine_close(e);
	struct tbi_engine_opts o = { .ngpus = 9, .kernels = kernels };
	rc = tbi_engine_open(model_path, &o, &e, &err);
	check(rc == -EINVAL && strstr(err.msg, "GPUs"), "more GPUs than the box has are refused (%s)", err.msg);
	o = (struct tbi_engine_opts){ .ngpus = 1, .context = 1u << 20, .kernels = kernels };
	rc = tbi_engine_open(model_path, &o, &e, &err);
	check(rc == -EINVAL && strstr(err.msg, "context"), "a context beyond the model's is refused (%s)", err.msg);
}

static void hang(int hung, int ngpus, const char *tb)
{
	tbi_engine *e = open_engine(NULL, ngpus, 2000);
	if (!e)
		return;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "%s sim fault %d hang >/dev/null", tb, hung);
	struct collect c = { .fault_cmd = cmd };
	struct tbi_err err = { 0 };
	int32_t p[4] = { 1, 2, 3, 4 };
	int rc = tbi_generate(e, p, 4, GEN, NULL, on_token, &c, NULL, &err);
	char want[32];
	snprintf(want, sizeof want, "GPU %d", hung);
	check(rc == -EIO && strstr(err.msg, want) && tbi_engine_failed_gpu(e) == hung,
	      "a hang on GPU %d ends the generation with -EIO naming it (%d, GPU %d: %s)", hung, rc,
	      tbi_engine_failed_gpu(e), err.msg);
	rc = tbi_generate(e, p, 4, 4, NULL, NULL, NULL, NULL, &err);
	check(rc == -EIO, "the engine refuses more work after a GPU failed (%s)", err.msg);
	tbi_engine_close(e);
	int others[8], n = 0;
	for (int i = 0; i < ngpus; i++)
		if (i != hung)
			others[n++] = i;
	e = open_engine(others, n, 0);
	if (!e)
		return;
	c = (struct collect){ 0 };
	rc = tbi_generate(e, p, 4, 8, NULL, on_token, &c, NULL, &err);
	check(rc == 0 && c.n == 8, "a new engine on the other %d GPUs generates (%s)", n, err.msg);
	tbi_engine_close(e);
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 7) {
		fprintf(stderr, "usage: test_engine MODEL KERNELS N[,M] [--bad | --hang GPU TB]\n");
		return 2;
	}
	model_path = argv[1];
	kernels = argv[2];
	int first = atoi(argv[3]), ngpus = first;
	const char *comma = strchr(argv[3], ',');
	if (comma)
		ngpus = atoi(comma + 1);
	if (argc == 7 && !strcmp(argv[4], "--hang")) {
		hang(atoi(argv[5]), ngpus, argv[6]);
		return tap_done();
	}
	compare(first, ngpus);
	if (argc == 5 && !strcmp(argv[4], "--bad"))
		bad_arguments();
	return tap_done();
}
