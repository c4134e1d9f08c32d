/* tb-inferd's HTTP side: libmicrohttpd, one thread per connection (a slow
 * or stuck client holds its own thread, never another's; connection
 * limits and timeouts bound them), so /health, /v1/models and /metrics are
 * answered at once whatever the generation does.  Generation requests go
 * to the queue; a stream is written by a callback as the text grows. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "infer/server/server.h"

#define KEEPALIVE_MS 2000		/* an SSE comment this often while nothing else is sent */
#define RETRY_AFTER_S "2"
#define MEMORY_PER_CONNECTION (256 * 1024)

struct conn {
	char *body;
	size_t len;
	bool too_large;
	struct watch *w;
};

/* A connection whose request is still arriving.  libmicrohttpd's timeout
 * counts idle time only, so a client that sends a byte now and then
 * (slowloris headers, a trickled body) would hold its thread and a
 * connection slot for ever: each request must arrive whole within
 * request_timeout of the connection's start or of the previous answer on
 * it, or the reaper shuts the socket down. */
struct watch {
	struct MHD_Connection *conn;
	int fd;
	bool arriving, answered;	/* answered: one request at least (idle keep-alive is no refusal) */
	long long deadline_ns;
	struct watch *prev, *next;
};

struct ctx {
	struct server *s;
	struct listener *l;
	pthread_mutex_t lock;		/* the watch list */
	pthread_cond_t stop;
	bool stopping;
	struct watch *watched;
	pthread_t reaper;
};

static const char *const reject_names[REJ_N] = { "invalid_request", "context_length", "too_large",
						  "queue_full", "unauthorized", "unavailable", "timeout" };

static void add_cors(struct server *s, struct MHD_Connection *c, struct MHD_Response *r)
{
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	if (!origin)
		return;
	for (int i = 0; i < s->cfg.norigins; i++)
		if (!strcmp(origin, s->cfg.origins[i]) || !strcmp(s->cfg.origins[i], "*")) {
			MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
			MHD_add_response_header(r, "Vary", "Origin");
			return;
		}
}

/* text (malloc'd, taken) with one extra header when hname is not NULL */
static enum MHD_Result send_text(struct server *s, struct MHD_Connection *c, unsigned status, const char *type,
				 char *text, size_t len, const char *hname, const char *hval)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	if (hname)
		MHD_add_response_header(r, hname, hval);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	add_cors(s, c, r);
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result send_json_h(struct server *s, struct MHD_Connection *c, unsigned status, json_t *j,
				   const char *hname, const char *hval)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return MHD_NO;
	size_t n = strlen(text);
	return send_text(s, c, status, "application/json", text, n, hname, hval);
}

static enum MHD_Result send_json(struct server *s, struct MHD_Connection *c, unsigned status, json_t *j,
				 const char *retry_after)
{
	return send_json_h(s, c, status, j, retry_after ? "Retry-After" : NULL, retry_after);
}

/* OpenAI's error shape: {"error": {"message", "type", "param", "code"}} */
static json_t *error_json(const char *msg, const char *type, const char *param, const char *code)
{
	return json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", msg, "type", type, "param",
			 param && *param ? param : NULL, "code", code && *code ? code : NULL);
}

static enum MHD_Result send_error(struct server *s, struct MHD_Connection *c, unsigned status, const char *type,
				  const char *param, const char *code, const char *retry_after, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

static enum MHD_Result send_error(struct server *s, struct MHD_Connection *c, unsigned status, const char *type,
				  const char *param, const char *code, const char *retry_after, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return send_json(s, c, status, error_json(msg, type, param, code), retry_after);
}

static void reject(struct server *s, enum reject why)
{
	atomic_fetch_add(&s->m.rejected[why], 1);
}

/* ---- sensors ---- */

static bool read_long(const char *dir, const char *name, long *out)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "r");
	if (!f)
		return false;
	bool ok = fscanf(f, "%ld", out) == 1;
	fclose(f);
	return ok;
}

/* calls fn for each GPU's amdgpu hwmon directory (cardN/device/hwmon/hwmonM) */
static void each_gpu_hwmon(void (*fn)(void *, int card, const char *dir), void *arg)
{
	for (int card = 0; card < 64; card++) {
		char dev[128];
		snprintf(dev, sizeof dev, "/sys/class/drm/card%d/device/hwmon", card);
		DIR *d = opendir(dev);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d)))
			if (!strncmp(e->d_name, "hwmon", 5)) {
				char dir[400];
				snprintf(dir, sizeof dir, "%s/%s", dev, e->d_name);
				fn(arg, card, dir);
				break;
			}
		closedir(d);
	}
}

struct hot {
	char reason[300];
};

/* the junction temperature (temp2) at or over its critical limit */
static void check_hot(void *arg, int card, const char *dir)
{
	struct hot *h = arg;
	long t, crit;
	if (!h->reason[0] && read_long(dir, "temp2_input", &t) && read_long(dir, "temp2_crit", &crit) && t >= crit)
		snprintf(h->reason, sizeof h->reason, "GPU card%d is over its thermal limit: junction %.1f C, limit %.1f C",
			 card, t / 1000.0, crit / 1000.0);
}

/* ---- /health, /v1/models, /metrics: atomics and sysfs only ---- */

static enum MHD_Result health(struct server *s, struct MHD_Connection *c)
{
	int st = atomic_load(&s->state);
	char reason[600], last[600];
	pthread_mutex_lock(&s->status_lock);
	snprintf(reason, sizeof reason, "%s", s->reason);
	snprintf(last, sizeof last, "%s", s->last_failure);
	pthread_mutex_unlock(&s->status_lock);
	if (st == ENGINE_LOADING) {
		unsigned long long done = atomic_load(&s->load_done), total = atomic_load(&s->load_total);
		return send_json(s, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				 json_pack("{s:s, s:s, s:f}", "status", "loading", "message", reason, "progress",
					   total ? (double)done / (double)total : 0.0),
				 "5");
	}
	if (st == ENGINE_FAILED)
		return send_json(s, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				 json_pack("{s:s, s:s}", "status", "error", "message", reason), "5");
	struct hot h = { "" };
	each_gpu_hwmon(check_hot, &h);
	if (h.reason[0])
		return send_json(s, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				 json_pack("{s:s, s:s}", "status", "error", "message", h.reason), "30");
	json_t *j = json_pack("{s:s, s:s}", "status", "ok", "message", reason);
	if (last[0])
		json_object_set_new(j, "last_failure", json_string(last));
	return send_json(s, c, MHD_HTTP_OK, j, NULL);
}

static enum MHD_Result models(struct server *s, struct MHD_Connection *c)
{
	char id[128], pin[32];
	pthread_mutex_lock(&s->status_lock);
	snprintf(id, sizeof id, "%s", s->model_id);
	snprintf(pin, sizeof pin, "%s", s->manifest);
	pthread_mutex_unlock(&s->status_lock);
	json_t *list = json_array();
	if (id[0])
		json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:s, s:s, s:i}", "id", id, "object", "model",
						      "created", 0, "owned_by", "tb-inferd", "manifest_hash", pin,
						      "context_length", (int)atomic_load(&s->context)));
	return send_json(s, c, MHD_HTTP_OK, json_pack("{s:s, s:o}", "object", "list", "data", list), NULL);
}

struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if (t->p && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *p = realloc(t->p, cap);
		if (!p) {
			t->oom = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
}

static void metric(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gpu_sensors(void *arg, int card, const char *dir)
{
	struct text *t = arg;
	static const char *const temps[] = { "edge", "junction", "mem" };
	long v;
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof name, "temp%d_input", i + 1);
		if (read_long(dir, name, &v))
			put(t, "tb_inferd_gpu_temperature_celsius{card=\"card%d\",sensor=\"%s\"} %.3f\n", card, temps[i],
			    v / 1000.0);
	}
	if (read_long(dir, "power1_average", &v))
		put(t, "tb_inferd_gpu_power_watts{card=\"card%d\"} %.3f\n", card, v / 1e6);
	if (read_long(dir, "power1_cap", &v))
		put(t, "tb_inferd_gpu_power_cap_watts{card=\"card%d\"} %.3f\n", card, v / 1e6);
}

static enum MHD_Result metrics(struct server *s, struct MHD_Connection *c)
{
	struct metrics *m = &s->m;
	struct text t = { 0 };
	static const struct {
		const char *name, *help;
		size_t off;
		bool seconds;
	} counters[] = {
		{ "tb_inferd_prompt_tokens_total", "Prompt tokens processed.", offsetof(struct metrics, prompt_tokens) },
		{ "tb_inferd_generated_tokens_total", "Tokens generated.", offsetof(struct metrics, generated_tokens) },
		{ "tb_inferd_prefill_seconds_total", "Seconds spent on prompts.", offsetof(struct metrics, prefill_us), true },
		{ "tb_inferd_decode_seconds_total", "Seconds spent generating.", offsetof(struct metrics, decode_us), true },
		{ "tb_inferd_requests_total", "Generation requests accepted.", offsetof(struct metrics, requests) },
		{ "tb_inferd_requests_completed_total", "Generation requests finished.", offsetof(struct metrics, completed) },
		{ "tb_inferd_requests_cancelled_total", "Generations stopped because the client left.",
		  offsetof(struct metrics, cancelled) },
		{ "tb_inferd_gpu_failures_total", "Generations ended by a GPU failure.", offsetof(struct metrics, gpu_failures) },
		{ "tb_inferd_engine_reopen_attempts_total", "Attempts to reopen the engine after a failure.",
		  offsetof(struct metrics, reopens) },
	};
	for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
		unsigned long long v = atomic_load((atomic_ullong *)((char *)m + counters[i].off));
		metric(&t, counters[i].name, "counter", counters[i].help);
		if (counters[i].seconds)
			put(&t, "%s %.6f\n", counters[i].name, v / 1e6);
		else
			put(&t, "%s %llu\n", counters[i].name, v);
	}
	metric(&t, "tb_inferd_rejected_total", "counter", "Requests refused, by reason.");
	for (int i = 0; i < REJ_N; i++)
		put(&t, "tb_inferd_rejected_total{reason=\"%s\"} %llu\n", reject_names[i], atomic_load(&m->rejected[i]));
	metric(&t, "tb_inferd_time_to_first_token_seconds", "summary", "From the start of a generation to its first token.");
	put(&t, "tb_inferd_time_to_first_token_seconds_sum %.6f\ntb_inferd_time_to_first_token_seconds_count %llu\n",
	    atomic_load(&m->ttft_us) / 1e6, atomic_load(&m->ttft_count));
	metric(&t, "tb_inferd_requests_processing", "gauge", "Generations running.");
	put(&t, "tb_inferd_requests_processing %u\n", atomic_load(&m->processing));
	pthread_mutex_lock(&s->lock);
	unsigned queued = s->queued;
	pthread_mutex_unlock(&s->lock);
	metric(&t, "tb_inferd_requests_queued", "gauge", "Generation requests waiting.");
	put(&t, "tb_inferd_requests_queued %u\n", queued);
	metric(&t, "tb_inferd_ready", "gauge", "1 when the model is loaded and the GPUs answer.");
	put(&t, "tb_inferd_ready %d\n", atomic_load(&s->state) == ENGINE_READY);
	metric(&t, "tb_inferd_gpu_temperature_celsius", "gauge", "GPU temperatures from the amdgpu hwmon.");
	metric(&t, "tb_inferd_gpu_power_watts", "gauge", "GPU average power.");
	metric(&t, "tb_inferd_gpu_power_cap_watts", "gauge", "GPU power cap.");
	each_gpu_hwmon(gpu_sensors, &t);
	if (t.oom) {
		free(t.p);
		return MHD_NO;
	}
	return send_text(s, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", t.p, t.len, NULL, NULL);
}

/* ---- generation ---- */

static json_t *usage_json(const struct job *j)
{
	return json_pack("{s:i, s:i, s:i}", "prompt_tokens", (int)j->prompt_tokens, "completion_tokens",
			 (int)j->completion_tokens, "total_tokens", (int)(j->prompt_tokens + j->completion_tokens));
}

static const char *object_name(const struct job *j, bool chunk)
{
	if (j->req.kind == INFERD_CHAT)
		return chunk ? "chat.completion.chunk" : "chat.completion";
	return "text_completion";
}

/* one choice with text (NULL: none), as the kind and streaming want it */
static json_t *choice_json(const struct job *j, const char *text, size_t len, const char *finish, bool chunk,
			   bool role)
{
	json_t *c = json_pack("{s:i, s:O}", "index", 0, "finish_reason", finish ? json_string(finish) : json_null());
	json_decref(json_object_get(c, "finish_reason"));
	json_t *s = text ? json_stringn(text, len) : NULL;
	if (j->req.kind == INFERD_COMPLETION) {
		json_object_set_new(c, "text", s ? s : json_string(""));
		json_object_set_new(c, "logprobs", json_null());
	} else {
		json_t *msg = json_object();
		if (role)
			json_object_set_new(msg, "role", json_string("assistant"));
		if (s)
			json_object_set_new(msg, "content", s);
		json_object_set_new(c, chunk ? "delta" : "message", msg);
	}
	return c;
}

static json_t *envelope(struct server *s, const struct job *j, bool chunk, json_t *choices)
{
	char model[sizeof s->model_id];
	pthread_mutex_lock(&s->status_lock);	/* a reopened engine writes it */
	snprintf(model, sizeof model, "%s", s->model_id);
	pthread_mutex_unlock(&s->status_lock);
	return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", j->id, "object", object_name(j, chunk), "created",
			 (json_int_t)j->created, "model", model, "choices", choices);
}

/* Waits until the job is done; a client that hangs up meanwhile cancels it. */
static void wait_done(struct server *s, struct MHD_Connection *c, struct job *j)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	pthread_mutex_lock(&s->lock);
	while (!j->done) {
		struct timespec ts;
		inferd_deadline(&ts, 250);
		pthread_cond_timedwait(&j->cond, &s->lock, &ts);
		struct pollfd p = { .fd = ci ? ci->connect_fd : -1, .events = POLLRDHUP };
		if (ci && poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			atomic_store(&j->cancel, true);
	}
	pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result reply_whole(struct server *s, struct MHD_Connection *c, struct job *j)
{
	wait_done(s, c, j);
	if (j->status)
		return send_json(s, c, (unsigned)j->status,
				 error_json(j->err_msg, j->err_type, NULL, j->err_code[0] ? j->err_code : NULL), NULL);
	json_t *choices = json_array();
	json_array_append_new(choices, choice_json(j, j->text ? j->text : "", j->len, j->finish, false, true));
	json_t *body = envelope(s, j, false, choices);
	json_object_set_new(body, "usage", usage_json(j));
	return send_json(s, c, MHD_HTTP_OK, body, NULL);
}

/* The next SSE event of a stream into j->out (under s->lock): false when
 * nothing is ready yet. */
enum { PH_ROLE, PH_TEXT, PH_USAGE, PH_DONE, PH_END };

static bool set_event(struct job *j, json_t *ev)
{
	char *s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	free(j->out);
	j->out = NULL;
	j->out_len = j->out_off = 0;
	if (!s)
		return false;
	size_t n = strlen(s);
	j->out = malloc(n + 9);
	if (j->out)
		j->out_len = (size_t)sprintf(j->out, "data: %s\n\n", s);
	free(s);
	return j->out != NULL;
}

static bool next_event(struct server *s, struct job *j)
{
	if (j->phase == PH_ROLE && j->req.kind == INFERD_CHAT && j->running && !j->status) {
		j->phase = PH_TEXT;
		json_t *ch = json_array();
		json_array_append_new(ch, choice_json(j, "", 0, NULL, true, true));
		return set_event(j, envelope(s, j, true, ch));
	}
	if (j->phase == PH_ROLE && (j->req.kind != INFERD_CHAT || j->status))
		j->phase = PH_TEXT;
	if (j->phase == PH_TEXT && j->visible > j->sent) {
		json_t *ch = json_array();
		json_array_append_new(ch, choice_json(j, j->text + j->sent, j->visible - j->sent, NULL, true, false));
		j->sent = j->visible;
		pthread_cond_broadcast(&j->cond);	/* room for the generation */
		return set_event(j, envelope(s, j, true, ch));
	}
	if (!j->done)
		return false;
	if (j->phase == PH_TEXT) {
		j->phase = PH_USAGE;
		if (j->status)
			return set_event(j, error_json(j->err_msg, j->err_type, NULL, j->err_code));
		json_t *ch = json_array();
		json_array_append_new(ch, choice_json(j, NULL, 0, j->finish, true, false));
		return set_event(j, envelope(s, j, true, ch));
	}
	if (j->phase == PH_USAGE) {
		j->phase = PH_DONE;
		if (j->req.include_usage && !j->status) {
			json_t *ev = envelope(s, j, true, json_array());
			json_object_set_new(ev, "usage", usage_json(j));
			return set_event(j, ev);
		}
	}
	if (j->phase == PH_DONE) {
		j->phase = PH_END;
		free(j->out);
		j->out = strdup("data: [DONE]\n\n");
		j->out_len = j->out ? strlen(j->out) : 0;
		j->out_off = 0;
		return j->out != NULL;
	}
	return false;
}

struct stream {
	struct server *s;
	struct job *j;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct stream *st = cls;
	struct server *s = st->s;
	struct job *j = st->j;
	atomic_store(&s->http_alive_ns, inferd_now_ns());
	pthread_mutex_lock(&s->lock);
	long long until = inferd_now_ns() + KEEPALIVE_MS * 1000000LL;
	while (j->out_off == j->out_len) {
		if (next_event(s, j))
			break;
		if (j->phase == PH_END) {
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (inferd_now_ns() >= until) {
			/* queued or in a long prefill: a comment keeps proxies and clients patient */
			pthread_mutex_unlock(&s->lock);
			static const char ka[] = ": keep-alive\n\n";
			size_t n = sizeof ka - 1 < max ? sizeof ka - 1 : max;
			memcpy(buf, ka, n);
			return (ssize_t)n;
		}
		struct timespec ts;
		inferd_deadline(&ts, 200);
		pthread_cond_timedwait(&j->cond, &s->lock, &ts);
	}
	size_t n = j->out_len - j->out_off;
	if (n > max)
		n = max;
	if (!j->out) {
		pthread_mutex_unlock(&s->lock);
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	memcpy(buf, j->out + j->out_off, n);
	j->out_off += n;
	pthread_mutex_unlock(&s->lock);
	return (ssize_t)n;
}

/* the response is gone (finished, or the client hung up): stop the generation */
static void stream_free(void *cls)
{
	struct stream *st = cls;
	pthread_mutex_lock(&st->s->lock);
	atomic_store(&st->j->cancel, true);
	pthread_cond_broadcast(&st->j->cond);
	pthread_mutex_unlock(&st->s->lock);
	inferd_job_put(st->s, st->j);
	free(st);
}

static enum MHD_Result reply_stream(struct server *s, struct MHD_Connection *c, struct job *j)
{
	struct stream *st = malloc(sizeof *st);
	if (!st)
		return MHD_NO;
	*st = (struct stream){ s, j };
	pthread_mutex_lock(&s->lock);
	j->refs++;
	pthread_mutex_unlock(&s->lock);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st,
								   stream_free);
	if (!r) {
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	add_cors(s, c, r);
	enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result generate(struct server *s, struct MHD_Connection *c, enum inferd_kind kind, struct conn *cn)
{
	int st = atomic_load(&s->state);
	if (st != ENGINE_READY) {
		char reason[600];
		pthread_mutex_lock(&s->status_lock);
		snprintf(reason, sizeof reason, "%s", s->reason);
		pthread_mutex_unlock(&s->status_lock);
		reject(s, REJ_UNAVAILABLE);
		return send_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error", NULL,
				  st == ENGINE_LOADING ? "loading" : "unavailable", "5", "%s", reason);
	}
	struct job *j = inferd_job_new();
	if (!j)
		return MHD_NO;
	struct inferd_limits lim = { s->cfg.max_depth, s->cfg.max_messages, s->cfg.max_chars };
	uint64_t seed;
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = (uint64_t)inferd_now_ns();
	char msg[600];
	const char *param;
	if (inferd_request_parse(cn->body ? cn->body : "", cn->len, kind, &lim, seed, &j->req, msg, sizeof msg,
				 &param)) {
		inferd_job_put(s, j);
		reject(s, REJ_INVALID);
		return send_error(s, c, MHD_HTTP_BAD_REQUEST, "invalid_request_error", param, NULL, NULL, "%s", msg);
	}
	/* tokenized here, so that a prompt too long for the context gets a plain
	 * 400 before any stream starts; no engine (it is being reopened): 503 */
	pthread_rwlock_rdlock(&s->engine_lock);
	int refused = s->engine ? inferd_prompt(s, s->engine, j) : MHD_HTTP_SERVICE_UNAVAILABLE;
	j->engine_gen = s->engine_gen;
	pthread_rwlock_unlock(&s->engine_lock);
	if (refused == MHD_HTTP_SERVICE_UNAVAILABLE) {
		inferd_job_put(s, j);
		reject(s, REJ_UNAVAILABLE);
		return send_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error", NULL, "unavailable", "5",
				  "the engine is being reopened");
	}
	if (refused) {
		if (!j->err_code[0])
			reject(s, REJ_INVALID);	/* the context's refusals are counted apart */
		enum MHD_Result rc = send_json(s, c, (unsigned)refused, error_json(j->err_msg, j->err_type, NULL,
										   j->err_code), NULL);
		inferd_job_put(s, j);
		return rc;
	}
	uint64_t rnd = seed ^ (uint64_t)inferd_now_ns();
	snprintf(j->id, sizeof j->id, "%s-%016llx", kind == INFERD_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)rnd);
	j->created = (long long)time(NULL);
	if (inferd_submit(s, j)) {
		inferd_job_put(s, j);
		reject(s, REJ_QUEUE_FULL);
		return send_error(s, c, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limit_error", NULL, "queue_full",
				  RETRY_AFTER_S, "the server is busy: %u requests are waiting already", s->cfg.queue);
	}
	atomic_fetch_add(&s->m.requests, 1);
	enum MHD_Result rc = j->req.stream ? reply_stream(s, c, j) : reply_whole(s, c, j);
	inferd_job_put(s, j);
	return rc;
}

/* ---- routing ---- */

static bool authorized(struct server *s, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncmp(h, "Bearer ", 7))
		return false;
	return inferd_keys_check(&s->keys, h + 7, strlen(h + 7));
}

static enum MHD_Result route(struct ctx *x, struct MHD_Connection *c, const char *url, const char *method,
			     struct conn *cn)
{
	struct server *s = x->s;
	static const struct {
		const char *path, *method;
		int id;
	} routes[] = { { "/health", "GET", 0 }, { "/v1/models", "GET", 1 }, { "/metrics", "GET", 2 },
		       { "/v1/chat/completions", "POST", 3 }, { "/v1/completions", "POST", 4 } };
	int id = -1;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (!strcmp(url, routes[i].path))
			id = (int)i;
	if (id < 0)
		return send_error(s, c, MHD_HTTP_NOT_FOUND, "invalid_request_error", NULL, "not_found", NULL,
				  "no endpoint %.200s", url);
	if (!strcmp(method, "OPTIONS") && s->cfg.norigins) {
		struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Access-Control-Allow-Methods", routes[id].method);
		MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
		add_cors(s, c, r);
		enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
		MHD_destroy_response(r);
		return rc;
	}
	if (strcmp(method, routes[id].method)) {
		char msg[300];
		snprintf(msg, sizeof msg, "%s takes %s, not %.16s", url, routes[id].method, method);
		return send_json_h(s, c, MHD_HTTP_METHOD_NOT_ALLOWED,
				   error_json(msg, "invalid_request_error", NULL, "method_not_allowed"), "Allow",
				   routes[id].method);
	}
	bool open = id == 0 || id == 2 ? s->cfg.open_health : false;
	if (x->l->network && !open && !authorized(s, c)) {
		reject(s, REJ_UNAUTHORIZED);
		return send_error(s, c, MHD_HTTP_UNAUTHORIZED, "invalid_request_error", NULL, "invalid_api_key", NULL,
				  "an API key is needed: Authorization: Bearer KEY");
	}
	if (cn->too_large) {
		reject(s, REJ_TOO_LARGE);
		return send_error(s, c, MHD_HTTP_CONTENT_TOO_LARGE, "invalid_request_error", NULL, "request_too_large",
				  NULL, "the body is over the server's limit of %zu bytes", s->cfg.max_body);
	}
	switch (id) {
	case 0:
		return health(s, c);
	case 1:
		return models(s, c);
	case 2:
		return metrics(s, c);
	case 3:
		return generate(s, c, INFERD_CHAT, cn);
	default:
		return generate(s, c, INFERD_COMPLETION, cn);
	}
}

/* ---- the arrival deadline ---- */

static long long arrival_deadline(const struct ctx *x)
{
	return inferd_now_ns() + (long long)x->s->cfg.request_timeout_s * 1000000000LL;
}

static struct watch *find_watch(struct ctx *x, struct MHD_Connection *c)
{
	pthread_mutex_lock(&x->lock);
	struct watch *w = x->watched;
	while (w && w->conn != c)
		w = w->next;
	pthread_mutex_unlock(&x->lock);
	return w;
}

/* A request arrived whole (the clock stops) or was answered (the next one's starts). */
static void arrived(struct ctx *x, struct watch *w, bool next)
{
	if (!w)
		return;
	pthread_mutex_lock(&x->lock);
	w->arriving = next;
	w->answered |= next;
	w->deadline_ns = arrival_deadline(x);
	pthread_mutex_unlock(&x->lock);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct ctx *x = cls;
	struct watch *w = *socket_context;
	pthread_mutex_lock(&x->lock);
	if (code == MHD_CONNECTION_NOTIFY_STARTED && (w = calloc(1, sizeof *w))) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		*w = (struct watch){ .conn = c, .fd = ci ? ci->connect_fd : -1, .arriving = true,
				     .deadline_ns = arrival_deadline(x), .next = x->watched };
		if (x->watched)
			x->watched->prev = w;
		x->watched = w;
		*socket_context = w;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && w) {
		/* before libmicrohttpd closes the descriptor: the reaper never shuts down a reused one */
		if (w->prev)
			w->prev->next = w->next;
		else
			x->watched = w->next;
		if (w->next)
			w->next->prev = w->prev;
		free(w);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&x->lock);
}

static void *reaper_main(void *arg)
{
	struct ctx *x = arg;
	pthread_mutex_lock(&x->lock);
	while (!x->stopping) {
		long long now = inferd_now_ns();
		for (struct watch *w = x->watched; w; w = w->next)
			if (w->arriving && now > w->deadline_ns && w->fd >= 0) {
				w->arriving = false;
				shutdown(w->fd, SHUT_RDWR);	/* its thread sees the end and closes it */
				if (!w->answered)
					reject(x->s, REJ_TIMEOUT);
			}
		struct timespec ts;
		inferd_deadline(&ts, 250);
		pthread_cond_timedwait(&x->stop, &x->lock, &ts);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *size, void **con_cls)
{
	(void)version;
	struct ctx *x = cls;
	struct server *s = x->s;
	atomic_store(&s->http_alive_ns, inferd_now_ns());
	struct conn *cn = *con_cls;
	if (!cn) {
		if (!(cn = calloc(1, sizeof *cn)))
			return MHD_NO;
		*con_cls = cn;
		cn->w = find_watch(x, c);
		/* a declared length over the limit is refused before the body is read */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
			cn->too_large = true;
			arrived(x, cn->w, false);
			return route(x, c, url, method, cn);
		}
		return MHD_YES;
	}
	if (*size) {
		if (!cn->too_large && cn->len + *size <= s->cfg.max_body) {
			char *b = realloc(cn->body, cn->len + *size + 1);
			if (!b)
				return MHD_NO;
			memcpy(b + cn->len, data, *size);
			cn->len += *size;
			b[cn->len] = '\0';
			cn->body = b;
		} else {
			cn->too_large = true;
			free(cn->body);
			cn->body = NULL;
			cn->len = 0;
		}
		*size = 0;
		return MHD_YES;
	}
	arrived(x, cn->w, false);
	return route(x, c, url, method, cn);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	(void)c, (void)t;
	struct conn *cn = *con_cls;
	if (cn) {
		arrived(cls, cn->w, true);	/* the next request on this connection starts its clock */
		free(cn->body);
		free(cn);
		*con_cls = NULL;
	}
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	struct ctx *x = cls;
	fprintf(stderr, "tb-inferd: %s: ", x->l->name);
	vfprintf(stderr, fmt, ap);
}

int inferd_http_start(struct server *s, struct listener *l, const char *cert, const char *key, char *err,
		      size_t errlen)
{
	struct ctx *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	x->s = s;
	x->l = l;
	pthread_mutex_init(&x->lock, NULL);
	inferd_cond_init(&x->stop);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
			 MHD_USE_POLL;
	if (l->network)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)log_mhd, x },	/* first, to catch the others' messages */
		{ MHD_OPTION_LISTEN_SOCKET, l->fd, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->cfg.per_ip_connections, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.connection_timeout_s, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, MEMORY_PER_CONNECTION, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, x },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, x },
		{ l->network ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key },
		{ MHD_OPTION_END, 0, NULL },
	};
	l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, x, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	l->ctx = x;
	if (!l->mhd) {
		snprintf(err, errlen, "%s: the HTTP server did not start%s", l->name,
			 l->network ? " (is the TLS certificate and key a matching PEM pair?)" : "");
		free(x);
		l->ctx = NULL;
		return -EIO;
	}
	if (pthread_create(&x->reaper, NULL, reaper_main, x)) {
		snprintf(err, errlen, "%s: no thread for the request deadline", l->name);
		MHD_stop_daemon(l->mhd);
		l->mhd = NULL;
		free(x);
		l->ctx = NULL;
		return -EAGAIN;
	}
	return 0;
}

void inferd_http_stop(struct listener *l)
{
	struct ctx *x = l->ctx;
	if (l->mhd)
		MHD_stop_daemon(l->mhd);
	l->mhd = NULL;
	if (x) {
		pthread_mutex_lock(&x->lock);
		x->stopping = true;
		pthread_cond_signal(&x->stop);
		pthread_mutex_unlock(&x->lock);
		pthread_join(x->reaper, NULL);
	}
	free(l->ctx);
	l->ctx = NULL;
}
