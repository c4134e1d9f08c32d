/* The generation thread: it alone holds the engine.  It loads the model
 * (progress for /health), warms it up with a one-token generation, then
 * takes jobs from the FIFO one at a time.  A GPU failure ends the job with
 * 503, turns /health to 503 and closes the engine; the thread then tries to
 * open it again with a growing pause until the GPUs answer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "infer/server/server.h"

/* Text a streaming client has not taken yet: past this the generation
 * waits for it, and a client that takes nothing for connection_timeout
 * seconds is dropped (the engine is not held by a stuck reader). */
#define STREAM_BACKLOG (64 * 1024)
#define REOPEN_FIRST_S 1
#define REOPEN_MAX_S 30

long long inferd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void inferd_set_status(struct server *s, enum engine_state st, const char *fmt, ...)
{
	pthread_mutex_lock(&s->status_lock);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof s->reason, fmt, ap);
	va_end(ap);
	atomic_store(&s->state, st);
	if (st == ENGINE_FAILED)
		memcpy(s->last_failure, s->reason, sizeof s->last_failure);
	sd_notifyf(0, "STATUS=%s", s->reason);
	pthread_mutex_unlock(&s->status_lock);
}

static void alive(struct server *s)
{
	atomic_store(&s->gen_alive_ns, inferd_now_ns());
}

void inferd_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void inferd_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

struct job *inferd_job_new(void)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	inferd_cond_init(&j->cond);
	j->refs = 1;
	return j;
}

void inferd_job_put(struct server *s, struct job *j)
{
	pthread_mutex_lock(&s->lock);
	bool last = --j->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	inferd_request_free(&j->req);
	free(j->toks);
	pthread_cond_destroy(&j->cond);
	free(j->text);
	free(j->out);
	free(j);
}

int inferd_submit(struct server *s, struct job *j)
{
	pthread_mutex_lock(&s->lock);
	if ((s->queued >= s->cfg.queue && s->active) || atomic_load(&s->stopping)) {
		pthread_mutex_unlock(&s->lock);
		return -EBUSY;
	}
	j->refs++;
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->queued++;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* under s->lock */
static void job_fail(struct job *j, int status, const char *type, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void job_fail(struct job *j, int status, const char *type, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->err_msg, sizeof j->err_msg, fmt, ap);
	va_end(ap);
	j->status = status;
	snprintf(j->err_type, sizeof j->err_type, "%s", type);
	snprintf(j->err_code, sizeof j->err_code, "%s", code ? code : "");
}

struct gen_ctx {
	struct server *s;
	struct job *j;
	bool stopped;			/* by a stop string */
	long long start_ns;
	bool first;
};

static int on_token(void *ctx, int32_t token, const char *text, size_t len)
{
	struct gen_ctx *g = ctx;
	struct server *s = g->s;
	struct job *j = g->j;
	alive(s);
	if (token >= 0 && !g->first) {
		g->first = true;
		atomic_fetch_add(&s->m.ttft_us, (unsigned long long)((inferd_now_ns() - g->start_ns) / 1000));
		atomic_fetch_add(&s->m.ttft_count, 1);
	}
	if (token >= 0)
		atomic_fetch_add(&s->m.generated_tokens, 1);
	pthread_mutex_lock(&s->lock);
	if (token >= 0)
		j->completion_tokens++;
	int stop = 0;
	if (j->len + len + 1 > j->cap) {
		size_t cap = (j->len + len + 1) * 2;
		char *n = realloc(j->text, cap);
		if (!n) {
			job_fail(j, 500, "server_error", NULL, "out of memory for the generated text");
			pthread_mutex_unlock(&s->lock);
			return 1;
		}
		j->text = n;
		j->cap = cap;
	}
	memcpy(j->text + j->len, text, len);
	j->len += len;
	j->text[j->len] = '\0';
	size_t at;
	if (inferd_stop_scan(j->text, j->len, j->req.stop, j->req.nstop, &at, &j->visible)) {
		j->len = at;
		j->text[at] = '\0';
		g->stopped = true;
		stop = 1;
	}
	pthread_cond_broadcast(&j->cond);
	/* a stream's reader that falls behind holds the generation, for a while */
	long long give_up = inferd_now_ns() + (long long)s->cfg.connection_timeout_s * 1000000000LL;
	while (j->req.stream && j->visible - j->sent > STREAM_BACKLOG && !atomic_load(&j->cancel)) {
		struct timespec ts;
		inferd_deadline(&ts, 500);
		pthread_cond_timedwait(&j->cond, &s->lock, &ts);
		alive(s);
		if (inferd_now_ns() > give_up)
			atomic_store(&j->cancel, true);
	}
	if (atomic_load(&j->cancel))
		stop = 1;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static int tokenize(tbi_engine *e, struct job *j, int32_t **toks, size_t *n, struct tbi_err *err)
{
	if (j->req.kind == INFERD_CHAT)
		return tbi_encode_chat(e, NULL, j->req.msgs, j->req.nmsgs, toks, n, err);
	/* as tb generate does: the model's BOS, special tokens' texts as text */
	return tbi_encode(e, j->req.prompt, strlen(j->req.prompt), true, false, toks, n, err);
}

int inferd_prompt(struct server *s, tbi_engine *e, struct job *j)
{
	struct tbi_err err = { 0 };
	int32_t *toks = NULL;
	size_t n = 0;
	uint32_t ctx = atomic_load(&s->context);
	int rc = tokenize(e, j, &toks, &n, &err);
	pthread_mutex_lock(&s->lock);
	free(j->toks);
	j->toks = NULL;
	j->ntoks = 0;
	if (rc) {
		job_fail(j, 400, "invalid_request_error", NULL, "the prompt: %s", err.msg);
	} else if (n >= ctx || (j->req.max_tokens && n + j->req.max_tokens > ctx)) {
		job_fail(j, 400, "invalid_request_error", "context_length_exceeded",
			 "This model's maximum context length is %u tokens; the request has %zu prompt tokens and "
			 "asks for %u more", ctx, n, j->req.max_tokens ? j->req.max_tokens : 1);
		atomic_fetch_add(&s->m.rejected[REJ_CONTEXT], 1);
	} else {
		j->toks = toks;
		j->ntoks = n;
		toks = NULL;
	}
	j->prompt_tokens = (uint32_t)n;
	int status = j->status;
	pthread_mutex_unlock(&s->lock);
	free(toks);
	return status;
}

/* One job on the engine: -EIO when a GPU failed (the engine is then dead). */
static int run_job(struct server *s, tbi_engine *e, struct job *j)
{
	/* tokenized by an engine since closed: this one may not share its vocabulary */
	if (j->engine_gen != s->engine_gen)
		inferd_prompt(s, e, j);
	pthread_mutex_lock(&s->lock);
	j->running = true;
	bool refused = j->status != 0;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&s->lock);
	if (refused)
		return 0;
	uint32_t ctx = atomic_load(&s->context), n = (uint32_t)j->ntoks;
	struct tbi_err err = { 0 };
	uint32_t max = j->req.max_tokens ? j->req.max_tokens : ctx - n;
	struct gen_ctx g = { .s = s, .j = j, .start_ns = inferd_now_ns() };
	struct tbi_stats st = { 0 };
	int rc = tbi_generate(e, j->toks, n, max, &j->req.sampling, on_token, &g, &st, &err);
	atomic_fetch_add(&s->m.prompt_tokens, st.prompt_tokens);
	atomic_fetch_add(&s->m.prefill_us, (unsigned long long)(st.first_token_s * 1e6));
	if (st.decode_tps > 0 && st.generated_tokens > 1)
		atomic_fetch_add(&s->m.decode_us, (unsigned long long)((st.generated_tokens - 1) / st.decode_tps * 1e6));
	if (rc == -EIO) {
		/* /health says so before the client hears of it */
		atomic_fetch_add(&s->m.gpu_failures, 1);
		inferd_set_status(s, ENGINE_FAILED, "GPU %d failed; the engine is reopened when it answers",
				  tbi_engine_failed_gpu(e));
	}
	pthread_mutex_lock(&s->lock);
	if (rc == -EIO) {
		int gpu = tbi_engine_failed_gpu(e);
		job_fail(j, 503, "server_error", "gpu_failed", "GPU %d failed during the generation: %s", gpu, err.msg);
	} else if (rc && !j->status) {
		job_fail(j, 500, "server_error", NULL, "the generation failed: %s", err.msg);
	}
	if (!g.stopped)
		j->visible = j->len;
	j->finish = g.stopped || st.stop == TBI_STOP_EOS ? "stop" : "length";
	if (atomic_load(&j->cancel))
		atomic_fetch_add(&s->m.cancelled, 1);
	pthread_mutex_unlock(&s->lock);
	return rc == -EIO ? -EIO : 0;
}

static void job_done(struct server *s, struct job *j)
{
	pthread_mutex_lock(&s->lock);
	j->done = true;
	s->active = NULL;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_sub(&s->m.processing, 1);
	atomic_fetch_add(&s->m.completed, 1);
	inferd_job_put(s, j);
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct server *s = ctx;
	atomic_store(&s->load_done, done);
	atomic_store(&s->load_total, total);
	alive(s);
}

/* The engine for the HTTP side's tokenizing (NULL: none).  The write
 * lock is held for the swap alone; it waits only for tokenizings under
 * way, each bounded by max_chars. */
static void publish_engine(struct server *s, tbi_engine *e)
{
	pthread_rwlock_wrlock(&s->engine_lock);
	s->engine = e;
	if (e)
		s->engine_gen++;
	pthread_rwlock_unlock(&s->engine_lock);
}

/* Open, describe and warm up the engine: NULL after setting the reason. */
static tbi_engine *open_engine(struct server *s)
{
	const struct inferd_config *c = &s->cfg;
	struct tbi_engine_opts o = { .ngpus = c->gpus, .context = c->context, .verify = c->verify,
				     .kernels = c->kernels[0] ? c->kernels : NULL,
				     .hang_timeout_ms = c->hang_timeout_ms, .progress = progress, .progress_ctx = s };
	atomic_store(&s->load_done, 0);
	atomic_store(&s->load_total, 0);
	tbi_engine *e;
	struct tbi_err err = { 0 };
	if (tbi_engine_open(c->model, &o, &e, &err)) {
		inferd_set_status(s, ENGINE_FAILED, "the model did not open: %s", err.msg);
		return NULL;
	}
	struct tbi_engine_info info;
	tbi_engine_get_info(e, &info);
	pthread_mutex_lock(&s->status_lock);
	snprintf(s->model_id, sizeof s->model_id, "%s", info.name);
	snprintf(s->manifest, sizeof s->manifest, "%s", info.manifest_hash);	/* "" without verify */
	pthread_mutex_unlock(&s->status_lock);
	atomic_store(&s->context, info.context);
	/* the warm-up: one token through every kernel before READY */
	int32_t *toks = NULL;
	size_t n = 0;
	struct tbi_sampling greedy = { 0 };
	int rc = tbi_encode(e, "Hello", 5, true, false, &toks, &n, &err);
	if (!rc)
		rc = tbi_generate(e, toks, n, 1, &greedy, NULL, NULL, NULL, &err);
	free(toks);
	if (rc) {
		int gpu = tbi_engine_failed_gpu(e);
		if (rc == -EIO)
			inferd_set_status(s, ENGINE_FAILED, "GPU %d failed in the warm-up: %s", gpu, err.msg);
		else
			inferd_set_status(s, ENGINE_FAILED, "the warm-up failed: %s", err.msg);
		tbi_engine_close(e);
		return NULL;
	}
	publish_engine(s, e);
	inferd_set_status(s, ENGINE_READY, "ready: %s on %d GPUs, context %u", info.name, info.ngpus, info.context);
	return e;
}

/* The next job, or NULL when stopping; checks in while it waits. */
static struct job *next_job(struct server *s)
{
	pthread_mutex_lock(&s->lock);
	while (!s->head && !atomic_load(&s->stopping)) {
		struct timespec ts;
		inferd_deadline(&ts, 500);
		pthread_cond_timedwait(&s->work, &s->lock, &ts);
		alive(s);
	}
	struct job *j = s->head;
	if (j) {
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		s->queued--;
		s->active = j;
		atomic_fetch_add(&s->m.processing, 1);
	}
	pthread_mutex_unlock(&s->lock);
	return j;
}

/* Sleeps up to secs (checking in), false when stopping; jobs that arrive
 * meanwhile are answered 503. */
static bool wait_failed(struct server *s, int secs)
{
	for (long long end = inferd_now_ns() + secs * 1000000000LL; inferd_now_ns() < end;) {
		if (atomic_load(&s->stopping))
			return false;
		pthread_mutex_lock(&s->lock);
		struct job *j = s->head;
		s->head = s->tail = NULL;
		s->queued = 0;
		while (j) {
			struct job *next = j->next;
			pthread_mutex_lock(&s->status_lock);	/* after s->lock, as everywhere */
			job_fail(j, 503, "server_error", "unavailable", "%s", s->reason);
			pthread_mutex_unlock(&s->status_lock);
			j->running = true;
			s->active = j;
			atomic_fetch_add(&s->m.processing, 1);
			pthread_mutex_unlock(&s->lock);
			job_done(s, j);
			pthread_mutex_lock(&s->lock);
			j = next;
		}
		struct timespec ts;
		inferd_deadline(&ts, 250);
		pthread_cond_timedwait(&s->work, &s->lock, &ts);
		pthread_mutex_unlock(&s->lock);
		alive(s);
	}
	return true;
}

void *inferd_gen_main(void *arg)
{
	struct server *s = arg;
	bool announced = false;
	int backoff = REOPEN_FIRST_S;
	inferd_set_status(s, ENGINE_LOADING, "loading %s", s->cfg.model);
	while (!atomic_load(&s->stopping)) {
		tbi_engine *e = open_engine(s);
		if (!e) {
			if (!wait_failed(s, backoff))
				break;
			backoff = backoff * 2 > REOPEN_MAX_S ? REOPEN_MAX_S : backoff * 2;
			atomic_fetch_add(&s->m.reopens, 1);
			continue;
		}
		backoff = REOPEN_FIRST_S;
		if (!announced) {
			sd_notify(0, "READY=1");
			announced = true;
		}
		struct job *j;
		int rc = 0;
		while (rc != -EIO && (j = next_job(s))) {
			if (!atomic_load(&j->cancel))
				rc = run_job(s, e, j);
			job_done(s, j);
		}
		publish_engine(s, NULL);
		tbi_engine_close(e);
		if (rc == -EIO && !wait_failed(s, backoff))
			break;
	}
	return NULL;
}
