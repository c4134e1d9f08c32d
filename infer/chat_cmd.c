/* tb chat MODEL: an interactive chat.  Each line typed is the user's turn;
 * the conversation so far goes through the model's chat template and the
 * reply streams back.  Ctrl-C stops a reply (not the program); Ctrl-D or
 * /quit ends, /reset forgets the conversation.  The engine keeps the
 * conversation's KV cache between turns, so only the new turn is computed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infer/cmd.h"

static const char usage[] =
	"usage: tb chat MODEL [--system TEXT] [--template llama2|llama3|chatml] [--max-tokens N]\n"
	"               [--temperature T] [--top-k K] [--top-p P] [--seed S] [--gpus N] [--context N] [--verify]\n"
	"Type a message and Enter; Ctrl-C stops a reply, /reset starts over, /quit or Ctrl-D ends.\n";

enum { MAX_LINE = 64 * 1024, MAX_TURNS = 4096 };

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct reply {
	char *text;
	size_t len, cap;
	bool oom;
};

static int on_token(void *ctx, int32_t token, const char *text, size_t len)
{
	(void)token;
	struct reply *r = ctx;
	fwrite(text, 1, len, stdout);
	fflush(stdout);
	if (r->len + len + 1 > r->cap) {
		size_t cap = (r->len + len + 1) * 2;
		char *n = realloc(r->text, cap);
		if (!n) {
			r->oom = true;
			return 1;
		}
		r->text = n;
		r->cap = cap;
	}
	memcpy(r->text + r->len, text, len);
	r->len += len;
	r->text[r->len] = '\0';
	return interrupted != 0;
}

struct history {
	struct tbi_message m[MAX_TURNS];
	size_t n, first;		/* turns before first were dropped for room */
	bool has_system;
};

static void history_clear(struct history *h)
{
	for (size_t i = h->has_system ? 1 : 0; i < h->n; i++)
		free((char *)h->m[i].content);
	h->n = h->has_system ? 1 : 0;
}

static bool history_add(struct history *h, const char *role, const char *text)
{
	if (h->n == MAX_TURNS)
		return false;
	char *c = strdup(text);
	if (!c)
		return false;
	h->m[h->n++] = (struct tbi_message){ role, c };
	return true;
}

/* Drops the oldest user/assistant pair (the system message stays). */
static bool history_drop_oldest(struct history *h)
{
	size_t s = h->has_system ? 1 : 0;
	if (h->n < s + 3)
		return false;
	free((char *)h->m[s].content);
	free((char *)h->m[s + 1].content);
	memmove(&h->m[s], &h->m[s + 2], (h->n - s - 2) * sizeof h->m[0]);
	h->n -= 2;
	return true;
}

static bool read_line(char *buf, size_t len, bool tty)
{
	for (;;) {
		if (tty) {
			fputs("> ", stdout);
			fflush(stdout);
		}
		interrupted = 0;
		if (fgets(buf, (int)len, stdin))
			return true;
		if (ferror(stdin) && errno == EINTR) {
			clearerr(stdin);
			fputs("\n(Ctrl-D or /quit ends the chat)\n", stdout);
			continue;
		}
		return false;
	}
}

static int turn(const char *cmd, tbi_engine *e, const struct infer_opts *o, struct history *h)
{
	struct tbi_engine_info info;
	tbi_engine_get_info(e, &info);
	struct tbi_err err = { 0 };
	int32_t *tokens = NULL;
	size_t n = 0;
	for (;;) {
		int rc = tbi_encode_chat(e, o->chat_template, h->m, h->n, &tokens, &n, &err);
		if (rc) {
			fprintf(stderr, "%s: %s\n", cmd, err.msg);
			return rc;
		}
		if (n + 16 < info.context || !history_drop_oldest(h))
			break;
		free(tokens);
		tokens = NULL;
	}
	struct reply r = { 0 };
	struct tbi_stats st = { 0 };
	interrupted = 0;
	int rc = tbi_generate(e, tokens, n, o->max_tokens, &o->sampling, on_token, &r, &st, &err);
	free(tokens);
	fputc('\n', stdout);
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, err.msg);
		free(r.text);
		return rc;
	}
	if (st.stop == TBI_STOP_CALLER && !r.oom)
		fputs("(stopped)\n", stdout);
	if (!history_add(h, "assistant", r.text ? r.text : ""))
		fprintf(stderr, "%s: out of memory for the conversation\n", cmd);
	free(r.text);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = "tb chat";
	struct infer_opts o;
	tbi_engine *e;
	int status;
	if (!infer_start(cmd, argc, argv, true, usage, &o, &e, &status))
		return status;
	struct sigaction sa = { .sa_handler = on_sigint };	/* no SA_RESTART: a read returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	bool tty = isatty(0);
	static struct history h;
	if (o.system) {
		h.m[0] = (struct tbi_message){ "system", o.system };
		h.n = 1;
		h.has_system = true;
	}
	if (tty) {
		struct tbi_engine_info info;
		tbi_engine_get_info(e, &info);
		printf("%s on %d GPU%s, %s template; Ctrl-C stops a reply, /reset, /quit\n", info.name, info.ngpus,
		       info.ngpus == 1 ? "" : "s", o.chat_template ? o.chat_template : info.chat_template);
	}
	static char line[MAX_LINE];
	status = 0;
	while (read_line(line, sizeof line, tty)) {
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			fprintf(stderr, "%s: a message of more than %d bytes\n", cmd, MAX_LINE - 2);
			int c;
			while ((c = getchar()) != EOF && c != '\n')
				;
			continue;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		if (!strcmp(line, "/quit"))
			break;
		if (!strcmp(line, "/reset")) {
			history_clear(&h);
			continue;
		}
		if (!history_add(&h, "user", line)) {
			fprintf(stderr, "%s: the conversation is too long; /reset\n", cmd);
			continue;
		}
		int rc = turn(cmd, e, &o, &h);
		if (rc == -EIO) {
			status = 1;
			break;
		}
		if (rc) {
			/* the turn is forgotten: the next one must not carry it */
			free((char *)h.m[--h.n].content);
		}
	}
	history_clear(&h);
	tbi_engine_close(e);
	return status;
}
