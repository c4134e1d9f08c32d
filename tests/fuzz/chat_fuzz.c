/* libFuzzer target for libtbinfer's chat templates and the tokenizing of a
 * rendered conversation: what a server builds from a request's messages.
 *
 * Input: byte 0 picks the template (llama2, llama3, chatml) and whether the
 * reply's opening is added, byte 1 the tokenizer (the GGUF models named by
 * $TBI_FUZZ_MODELS, colon-separated); the rest is messages separated by NUL,
 * each a role byte (system, user, assistant, or an unknown role) and its
 * content.  Refusal is fine; a crash, a leak or undefined behaviour is a bug,
 * and so is a rendering whose marks lie outside the text or out of order, or
 * a tokenization with more control tokens than the template has markers
 * (a message's text must never become a control token). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "infer/internal.h"

#define MAX_MODELS 4
#define MAX_MESSAGES 64

static struct tbi_model *models[MAX_MODELS];
static struct tbi_tokenizer *toks[MAX_MODELS];
static int n_models;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *env = getenv("TBI_FUZZ_MODELS");
	char *list = env ? strdup(env) : NULL;
	struct tbi_err err;
	for (char *save = NULL, *p = list ? strtok_r(list, ":", &save) : NULL; p && n_models < MAX_MODELS;
	     p = strtok_r(NULL, ":", &save)) {
		if (tbi_model_open(p, &models[n_models], &err) || tbi_tokenizer_new(&models[n_models]->vocab,
										   &toks[n_models], &err))
			abort();	/* the seeds are the test's own models */
		n_models++;
	}
	free(list);
	return 0;
}

static void check_marks(const struct tbi_chat_text *c)
{
	if (strlen(c->s) != c->len)
		abort();
	size_t pos = 0;
	for (size_t i = 0; i < c->n_marks; i++) {
		const struct tbi_span *m = &c->marks[i];
		if (m->off < pos || m->len == 0 || m->off > c->len || m->len > c->len - m->off || c->s[m->off] != '<')
			abort();
		pos = m->off + m->len;
	}
}

static void check_tokens(const struct tbi_tokenizer *t, const struct tbi_vocab *v, const struct tbi_chat_text *c)
{
	int32_t *ids = NULL;
	size_t n = 0, controls = 0;
	struct tbi_err err;
	if (tbi_tokenize_marked(t, c->s, c->len, c->marks, c->n_marks, &ids, &n, &err))
		return;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0 || (uint32_t)ids[i] >= v->n_tokens)
			abort();
		controls += v->types[ids[i]] == TBI_TOKEN_CONTROL;
	}
	free(ids);
	if (controls > c->n_marks)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const roles[] = { "system", "user", "assistant", "tool" };
	if (size < 2)
		return 0;
	enum tbi_chat_template tmpl = (enum tbi_chat_template)(data[0] % 3);
	bool gen = data[0] & 0x80;
	int which = n_models ? data[1] % n_models : -1;
	/* the messages' texts, NUL-terminated in a copy */
	char *buf = malloc(size - 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = 0;
	struct tbi_chat_msg msgs[MAX_MESSAGES];
	size_t n = 0;
	for (char *p = buf, *end = buf + (size - 2); p < end && n < MAX_MESSAGES; p += strlen(p) + 1) {
		msgs[n].role = roles[(uint8_t)*p % 4];
		msgs[n].content = *p ? p + 1 : p;
		n++;
	}
	struct tbi_chat_text c;
	struct tbi_err err;
	if (tbi_chat_render(tmpl, msgs, n, gen, &c, &err) == 0) {
		check_marks(&c);
		if (which >= 0)
			check_tokens(toks[which], &models[which]->vocab, &c);
		tbi_chat_text_free(&c);
	}
	free(buf);
	return 0;
}
