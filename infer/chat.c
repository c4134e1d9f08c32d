/* Chat templates, built in (no Jinja): the three formats llama-family models
 * are trained on, recognized from the model's own template text.
 *
 *   llama2  <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {reply} </s><s>[INST] ...
 *           (Meta's Llama 2 chat format: contents trimmed, turns alternate)
 *   llama3  <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>...
 *           (contents trimmed, as Meta's template does)
 *   chatml  <|im_start|>{role}\n{content}<|im_end|>\n...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/internal.h"

static const char *const names[] = {
	[TBI_CHAT_LLAMA2] = "llama2",
	[TBI_CHAT_LLAMA3] = "llama3",
	[TBI_CHAT_CHATML] = "chatml",
};
#define N_TEMPLATES (sizeof names / sizeof names[0])

const char *tbi_chat_template_name(enum tbi_chat_template t)
{
	return (size_t)t < N_TEMPLATES ? names[t] : "unknown";
}

static bool has_token(const struct tbi_vocab *v, const char *s)
{
	size_t n = strlen(s);
	for (uint32_t i = 0; v->tokens && v->token_len && i < v->n_tokens; i++)
		if (v->token_len[i] == n && v->tokens[i] && memcmp(v->tokens[i], s, n) == 0)
			return true;
	return false;
}

/* Each template's marker: in the model's template text, or as a token. */
static const struct {
	const char *marker;
	enum tbi_chat_template t;
} markers[] = {
	{"<|start_header_id|>", TBI_CHAT_LLAMA3},
	{"<|im_start|>", TBI_CHAT_CHATML},
	{"[INST]", TBI_CHAT_LLAMA2},
};
#define N_MARKERS (sizeof markers / sizeof markers[0])

int tbi_chat_template_pick(const struct tbi_vocab *v, const char *name, enum tbi_chat_template *out,
			   struct tbi_err *err)
{
	if (name) {
		for (size_t i = 0; i < N_TEMPLATES; i++)
			if (strcmp(name, names[i]) == 0) {
				*out = (enum tbi_chat_template)i;
				return 0;
			}
		return tbi_fail(err, -EINVAL, "unknown chat template \"%s\" (known: llama2, llama3, chatml)", name);
	}
	if (v->chat_template)
		for (size_t i = 0; i < N_MARKERS; i++)
			if (strstr(v->chat_template, markers[i].marker)) {
				*out = markers[i].t;
				return 0;
			}
	for (size_t i = 0; i < N_MARKERS; i++)
		if (has_token(v, markers[i].marker)) {
			*out = markers[i].t;
			return 0;
		}
	*out = v->kind == TBI_VOCAB_SPM ? TBI_CHAT_LLAMA2 : TBI_CHAT_CHATML;
	return 0;
}

/* ---- rendering ------------------------------------------------------------------- */

struct text {
	char *s;
	size_t n, cap;
	struct tbi_span *marks;		/* the template's own special-token texts */
	size_t n_marks, cap_marks;
	bool nomem;
};

static void put(struct text *b, const char *s, size_t n)
{
	if (b->nomem)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->nomem = true;
			return;
		}
		b->s = ns, b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}

static void puts_(struct text *b, const char *s)
{
	put(b, s, strlen(s));
}

/* A marker of the template: the only text that may become a control token
 * (the same text inside a message's content stays text). */
static void put_special(struct text *b, const char *s)
{
	if (b->nomem)
		return;
	if (b->n_marks == b->cap_marks) {
		size_t cap = b->cap_marks ? 2 * b->cap_marks : 16;
		struct tbi_span *nm = realloc(b->marks, cap * sizeof *nm);
		if (!nm) {
			b->nomem = true;
			return;
		}
		b->marks = nm, b->cap_marks = cap;
	}
	b->marks[b->n_marks++] = (struct tbi_span){ b->n, strlen(s) };
	puts_(b, s);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* s without its leading and trailing whitespace (Python's str.strip() of
 * ASCII whitespace, Jinja's trim) */
static void put_trimmed(struct text *b, const char *s)
{
	size_t n = strlen(s);
	while (n && is_space(*s))
		s++, n--;
	while (n && is_space(s[n - 1]))
		n--;
	put(b, s, n);
}

static bool role_is(const struct tbi_chat_msg *m, const char *r)
{
	return strcmp(m->role, r) == 0;
}

/* The prompt always ends in " [/INST]" after a user turn: llama2 has no
 * separate opening of the reply. */
static int render_llama2(struct text *b, const struct tbi_chat_msg *m, size_t n, struct tbi_err *err)
{
	size_t i = 0;
	const char *sys = NULL;
	if (n && role_is(&m[0], "system"))
		sys = m[i++].content;
	for (size_t turn = 0; i < n; i++, turn++) {
		const char *want = turn % 2 ? "assistant" : "user";
		if (!role_is(&m[i], want))
			return tbi_fail(err, -EINVAL,
					"chat: llama2 wants a system message first at most, then user and assistant "
					"turns in turn (message %zu is \"%s\")",
					i, m[i].role);
		if (turn % 2) {
			puts_(b, " ");
			put_trimmed(b, m[i].content);
			puts_(b, " ");
			put_special(b, "</s>");
			continue;
		}
		put_special(b, "<s>");
		puts_(b, "[INST] ");
		if (sys) {
			puts_(b, "<<SYS>>\n");
			put_trimmed(b, sys);
			puts_(b, "\n<</SYS>>\n\n");
			sys = NULL;
		}
		put_trimmed(b, m[i].content);
		puts_(b, " [/INST]");
	}
	return 0;
}

static void render_llama3(struct text *b, const struct tbi_chat_msg *m, size_t n, bool gen)
{
	put_special(b, "<|begin_of_text|>");
	for (size_t i = 0; i < n; i++) {
		put_special(b, "<|start_header_id|>");
		puts_(b, m[i].role);
		put_special(b, "<|end_header_id|>");
		puts_(b, "\n\n");
		put_trimmed(b, m[i].content);
		put_special(b, "<|eot_id|>");
	}
	if (gen) {
		put_special(b, "<|start_header_id|>");
		puts_(b, "assistant");
		put_special(b, "<|end_header_id|>");
		puts_(b, "\n\n");
	}
}

static void render_chatml(struct text *b, const struct tbi_chat_msg *m, size_t n, bool gen)
{
	for (size_t i = 0; i < n; i++) {
		put_special(b, "<|im_start|>");
		puts_(b, m[i].role);
		puts_(b, "\n");
		puts_(b, m[i].content);
		put_special(b, "<|im_end|>");
		puts_(b, "\n");
	}
	if (gen) {
		put_special(b, "<|im_start|>");
		puts_(b, "assistant\n");
	}
}

int tbi_chat_render(enum tbi_chat_template t, const struct tbi_chat_msg *msgs, size_t n, bool add_generation_prompt,
		    struct tbi_chat_text *out, struct tbi_err *err)
{
	*out = (struct tbi_chat_text){ 0 };
	if ((size_t)t >= N_TEMPLATES)
		return tbi_fail(err, -EINVAL, "chat: unknown template %d", (int)t);
	/* roles are put into the text as they are: only the three known ones */
	for (size_t i = 0; i < n; i++)
		if (!msgs[i].role || !msgs[i].content ||
		    (!role_is(&msgs[i], "system") && !role_is(&msgs[i], "user") && !role_is(&msgs[i], "assistant")))
			return tbi_fail(err, -EINVAL, "chat: message %zu has role \"%s\" (system, user or assistant expected)",
					i, msgs[i].role ? msgs[i].role : "(none)");
	struct text b = {0};
	put(&b, "", 0);			/* an empty conversation is an empty text */
	int rc = 0;
	switch (t) {
	case TBI_CHAT_LLAMA2:
		rc = render_llama2(&b, msgs, n, err);
		break;
	case TBI_CHAT_LLAMA3:
		render_llama3(&b, msgs, n, add_generation_prompt);
		break;
	case TBI_CHAT_CHATML:
		render_chatml(&b, msgs, n, add_generation_prompt);
		break;
	}
	if (!rc && b.nomem)
		rc = tbi_fail(err, -ENOMEM, "chat: no memory");
	if (rc) {
		free(b.s);
		free(b.marks);
		return rc;
	}
	*out = (struct tbi_chat_text){ b.s, b.n, b.marks, b.n_marks };
	return 0;
}

void tbi_chat_text_free(struct tbi_chat_text *c)
{
	free(c->s);
	free(c->marks);
	*c = (struct tbi_chat_text){ 0 };
}
