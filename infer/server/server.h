/* The daemon's shared state: the generation thread (gen.c) and the HTTP
 * side (http.c) meet here.  One lock (lock) guards the queue and every
 * job's output.  The generation thread alone opens, generates with and
 * closes the engine; the HTTP side only tokenizes with it (tbinfer.h lets
 * tbi_encode run beside a generation), under engine_lock taken for reading,
 * which the generation thread takes for writing only to publish a new
 * engine or withdraw a dead one (never while it loads one).  /health,
 * /v1/models and /metrics read only the atomics below.  Lock order:
 * engine_lock, lock, status_lock. */
#ifndef TB_INFERD_SERVER_H
#define TB_INFERD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include "infer/server/inferd.h"

enum engine_state { ENGINE_LOADING, ENGINE_READY, ENGINE_FAILED };
enum reject { REJ_INVALID, REJ_CONTEXT, REJ_TOO_LARGE, REJ_QUEUE_FULL, REJ_UNAUTHORIZED, REJ_UNAVAILABLE, REJ_TIMEOUT,
	      REJ_N };

struct job {
	int refs;			/* the HTTP side's and the generation thread's */
	struct inferd_request req;
	int32_t *toks;			/* the prompt, tokenized by the HTTP side */
	size_t ntoks;
	unsigned engine_gen;		/* by this engine (a reopened one may have another vocabulary) */
	char id[40];
	long long created;
	pthread_cond_t cond;		/* progress, or room in the text */
	char *text;			/* generated so far; [0, visible) may be shown */
	size_t len, cap, visible, sent;
	bool running, done;
	atomic_bool cancel;		/* the client went away */
	const char *finish;		/* "stop", "length" */
	uint32_t prompt_tokens, completion_tokens;
	int status;			/* an error's HTTP status, 0 when none */
	char err_type[32], err_code[40], err_msg[600];
	struct job *next;
	/* the stream's framing (http.c) */
	int phase;
	char *out;
	size_t out_len, out_off;
};

struct metrics {
	atomic_ullong prompt_tokens, generated_tokens, prefill_us, decode_us, ttft_us, ttft_count;
	atomic_ullong requests, completed, cancelled, gpu_failures, reopens;
	atomic_ullong rejected[REJ_N];
	atomic_uint processing;
};

struct server {
	struct inferd_config cfg;
	struct inferd_keys keys;
	pthread_rwlock_t engine_lock;
	tbi_engine *engine;		/* NULL while none is open */
	unsigned engine_gen;		/* counts the engines opened */
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a job queued, or stopping */
	struct job *head, *tail, *active;
	unsigned queued;
	atomic_bool stopping;

	atomic_int state;
	atomic_ullong load_done, load_total;
	pthread_mutex_t status_lock;	/* reason and the model's description */
	char reason[600];
	char last_failure[600];		/* the last ENGINE_FAILED reason, kept once recovered */
	char model_id[128], manifest[32];
	atomic_uint context;
	atomic_ullong gen_alive_ns, http_alive_ns;
	struct metrics m;
};

long long inferd_now_ns(void);
/* ms from now on CLOCK_MONOTONIC, which every condition variable here uses */
void inferd_deadline(struct timespec *ts, long ms);
void inferd_cond_init(pthread_cond_t *c);	/* on CLOCK_MONOTONIC */
void inferd_set_status(struct server *s, enum engine_state st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* gen.c: the generation thread (opens the engine, warms it up, says READY) */
void *inferd_gen_main(void *server);
/* A job for the queue: 0, or -EBUSY when the queue is full. */
int inferd_submit(struct server *s, struct job *j);
/* Tokenizes the job's prompt with e and checks it and max_tokens against
 * the context: 0, or the HTTP status of the refusal, the job's error set
 * (under s->lock: the job may be shared). */
int inferd_prompt(struct server *s, tbi_engine *e, struct job *j);
struct job *inferd_job_new(void);
void inferd_job_put(struct server *s, struct job *j);	/* under no lock */

/* http.c */
struct listener {
	int fd;
	bool network;			/* not loopback: TLS and keys */
	struct MHD_Daemon *mhd;
	void *ctx;			/* http.c's, for the handlers */
	char name[140];
};
int inferd_http_start(struct server *s, struct listener *l, const char *cert, const char *key, char *err,
		      size_t errlen);
void inferd_http_stop(struct listener *l);

#endif
