/* tb diag's supervisor: it does no GPU work, so nothing a GPU does can stop
 * it.  It runs the level-0 checks itself, starts a worker process per GPU
 * for the GPU tests, journals each step the workers announce before they
 * take it, holds each worker to the deadline it announced, and when a
 * worker falls silent past it reports HANG with the evidence at once
 * (the kernel log since the test began, the GPU's counters before and
 * after), kills the worker and quarantines its GPU.  The other GPUs go on. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "diag/diag.h"
#include "driver/tbdrv.h"

#define TOOL_VERSION "0.1"
/* time past a worker's deadline for its own report before the supervisor calls the hang */
#define GRACE_MS 1000
/* a worker's line longer than this is not a message */
#define LINE_MAX_BYTES (256u << 10)
/* the kernel log lines kept as a test's evidence */
#define KMSG_EVIDENCE_LINES 40

struct worker {
	int gpu;
	pid_t pid;
	int msg_fd, ack_fd;
	char *buf;
	size_t len;
	bool done, killed;
	bool waiting;			/* for an exclusive step, its ack not yet sent */
	uint32_t waiting_deadline_ms;
	char test[32], step[96];
	uint64_t deadline_ms;		/* when it must have spoken again */
	uint64_t test_deadline_ms;	/* the test's wall-clock budget */
	uint64_t test_start_ms;
	long long kmsg_seq;		/* the kernel log's last record when the test began */
	json_t *counters_at_test;
	const char *reported[DIAG_MAX_TESTS];
	int nreported;
	const char *quarantine_test;	/* the test after which it stopped */
};

struct run {
	const struct diag_options *o;
	char id[64];
	char state[4096];
	uint64_t seed;
	struct diag_journal *journal;
	json_t *results;
	const char *gpu_tests[DIAG_MAX_TESTS];
	int ngpu_tests;
	struct tb_gpu_info gpus[DIAG_MAX_GPUS];
	int ngpus;
	json_t *counters_start[DIAG_MAX_GPUS];
	uint32_t gpus_in_run;
	uint64_t sustain_ms;		/* each sustained test's time */
	bool tty;
	/* the one worker in an exclusive step (-1: none), and those waiting for it */
	int exclusive;
	struct worker *workers;
	int nworkers;
	struct diag_watch *watch;	/* the sensors over the run (NULL: not watched) */
	struct diag_live *live;		/* the table on a terminal (NULL: lines on standard error) */
	uint64_t next_sample_ms;
};

static const struct diag_options *g_opts;

static bool selected(const char *test)
{
	const struct diag_test *t = diag_test_find(test);
	if (!t)
		return false;
	if (g_opts->nonly == 0)
		return t->level <= g_opts->level;
	for (int i = 0; i < g_opts->nonly; i++)
		if (!strcmp(g_opts->only[i], test))
			return true;
	return false;
}

/* ---- events on the terminal and the JSON stream ------------------------------------------ */

static void stream(struct run *r, json_t *ev)
{
	if (r->o->json_stream) {
		json_object_set_new(ev, "run", json_string(r->id));
		char *s = json_dumps(ev, JSON_COMPACT);
		if (s) {
			printf("%s\n", s);
			fflush(stdout);
			free(s);
		}
	}
	json_decref(ev);
}

static void show_result(struct run *r, const json_t *res)
{
	stream(r, json_pack("{s:s, s:O}", "ev", "result", "result", res));
	if (r->live) {
		diag_live_set(r->live, (int)json_integer_value(json_object_get(res, "gpu")),
			      json_string_value(json_object_get(res, "test")) ?: "",
			      json_string_value(json_object_get(res, "status")) ?: "", true);
		return;
	}
	if (r->o->json_stream || r->o->quiet)
		return;
	if (r->tty)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "GPU %lld %-14s %-8s %s\n", (long long)json_integer_value(json_object_get(res, "gpu")),
		json_string_value(json_object_get(res, "test")), json_string_value(json_object_get(res, "status")),
		json_string_value(json_object_get(res, "detail")));
}

static void show_progress(struct run *r, const struct worker *w, long long done, long long total)
{
	if (r->live) {
		char text[32];
		if (total > 0)
			snprintf(text, sizeof text, "%lld/%lld", done, total);
		else
			snprintf(text, sizeof text, "%lld done", done);
		diag_live_set(r->live, w->gpu, w->test, text, false);
		return;
	}
	if (!r->tty || r->o->json_stream || r->o->quiet)
		return;
	fprintf(stderr, "\r\033[KGPU %d %s: %s %lld/%lld", w->gpu, w->test, w->step, done, total);
}

static void add_result(struct run *r, json_t *res)
{
	show_result(r, res);
	json_array_append_new(r->results, res);
}

/* ---- the kernel log (/dev/kmsg records: "LEVEL,SEQ,USEC,FLAGS;TEXT") ---------------------------- */

/* Visit every record after seq: fn(seq, text).  Returns the last seq. */
long long diag_kmsg_scan(long long after, void (*fn)(void *, long long, const char *), void *ctx)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return after;
	long long last = after;
	char rec[8192];
	for (;;) {
		ssize_t n = read(fd, rec, sizeof rec - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* records overwritten while reading */
		if (n <= 0)
			break;
		rec[n] = '\0';
		/* one record a read from the kernel's; the box's file may give several */
		for (char *line = rec, *next; *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			else
				next = line + strlen(line);
			int level;
			long long seq;
			char *semi = strchr(line, ';');
			if (!semi || sscanf(line, "%d,%lld,", &level, &seq) != 2)
				continue;
			if (seq > last)
				last = seq;
			if (seq > after && fn)
				fn(ctx, seq, semi + 1);
		}
	}
	close(fd);
	return last;
}

static void keep_line(void *ctx, long long seq, const char *text)
{
	(void)seq;
	json_t *lines = ctx;
	if (json_array_size(lines) >= KMSG_EVIDENCE_LINES)
		json_array_remove(lines, 0);
	json_array_append_new(lines, json_string(text));
}

/* ---- evidence and verdicts ----------------------------------------------------------------- */

static bool lines_have(const json_t *lines, const char *text)
{
	size_t i;
	json_t *l;
	json_array_foreach(lines, i, l)
		if (strstr(json_string_value(l) ?: "", text))
			return true;
	return false;
}

/* What the supervisor adds to a failed test's result: the kernel log since
 * the test began, the counters then and now; and the verdict's refinement
 * from them (a reset the log says MES caused). */
static void add_evidence(struct run *r, struct worker *w, json_t *res)
{
	json_t *ev = json_object_get(res, "evidence");
	json_t *lines = json_array();
	diag_kmsg_scan(w->kmsg_seq, keep_line, lines);
	json_t *now = diag_counters(&r->gpus[w->gpu]);
	json_object_set_new(ev, "kernel_log", lines);
	json_object_set(ev, "counters_before", w->counters_at_test);
	json_object_set(ev, "counters_after", now);
	json_object_set_new(ev, "step", json_string(w->step));
	json_int_t lost = json_integer_value(json_object_get(now, "vram_lost")) -
			  json_integer_value(json_object_get(w->counters_at_test, "vram_lost"));
	json_object_set_new(ev, "gpu_resets", json_integer(lost));
	json_decref(now);
	if (lines_have(lines, "MES failed to respond")) {
		json_object_set_new(res, "reason", json_string("MES_REMOVE_QUEUE_TIMEOUT"));
		json_object_set_new(res, "action", json_string(diag_action_name(DIAG_ACT_UPDATE_FW_DRIVER)));
	} else if (lost > 0 && diag_result_status(res) == DIAG_HANG) {
		json_object_set_new(res, "reason", json_string("GPU_RESET"));
	}
}

static void mark_reported(struct worker *w, const char *test)
{
	if (w->nreported < DIAG_MAX_TESTS)
		w->reported[w->nreported++] = diag_test_find(test) ? diag_test_find(test)->name : "?";
}

/* let the worker start its step: the ack, and its deadline from now */
static void grant(struct worker *w, uint32_t deadline_ms)
{
	w->deadline_ms = diag_now_ms() + deadline_ms + GRACE_MS;
	if (write(w->ack_fd, "k", 1) != 1)
		w->done = true;
}

/* The worker's exclusive step is over: the next one waiting (by GPU) gets it. */
static void release_exclusive(struct run *r, struct worker *w)
{
	if (r->exclusive != w->gpu)
		return;
	r->exclusive = -1;
	for (int i = 0; i < r->nworkers; i++) {
		struct worker *n = &r->workers[i];
		if (n->waiting && !n->done) {
			n->waiting = false;
			r->exclusive = n->gpu;
			grant(n, n->waiting_deadline_ms);
			return;
		}
	}
}

static void end_step(struct run *r, struct worker *w, const char *status)
{
	release_exclusive(r, w);
	if (w->step[0])
		diag_journal_end(r->journal, w->gpu, w->test, status);
	w->step[0] = '\0';
}

/* The worker fell silent past its deadline, or its test past its budget. */
static void call_hang(struct run *r, struct worker *w, bool budget)
{
	uint64_t now = diag_now_ms();
	if (!w->test[0])	/* between tests: closing the GPU after the last one */
		snprintf(w->test, sizeof w->test, "teardown");
	json_t *res = diag_result(w->test, w->gpu, DIAG_HANG, budget ? "TEST_BUDGET_EXCEEDED" : "WORKER_STUCK",
				  DIAG_ACT_INVESTIGATE,
				  budget ? "the test ran past its %llu s budget in step '%s'"
					 : "no word from the GPU's worker for %llu ms past its deadline in step '%s'",
				  budget ? (unsigned long long)((w->test_deadline_ms - w->test_start_ms) / 1000)
					 : (unsigned long long)(now - w->deadline_ms + GRACE_MS),
				  w->step);
	json_object_set_new(res, "seconds", json_real((double)(now - w->test_start_ms) / 1000.0));
	add_evidence(r, w, res);
	end_step(r, w, "HANG");
	w->waiting = false;
	kill(w->pid, SIGKILL);
	w->killed = w->done = true;
	mark_reported(w, w->test);
	w->quarantine_test = diag_test_find(w->test) ? diag_test_find(w->test)->name : NULL;
	add_result(r, res);
}

static void on_message(struct run *r, struct worker *w, const char *line)
{
	json_t *m = json_loads(line, 0, NULL);
	const char *ev = json_string_value(json_object_get(m, "ev"));
	uint64_t now = diag_now_ms();
	if (!ev) {
		json_decref(m);
		return;
	}
	if (!strcmp(ev, "begin")) {
		const struct diag_test *t = diag_test_find(json_string_value(json_object_get(m, "test")) ?: "");
		snprintf(w->test, sizeof w->test, "%s", t ? t->name : "?");
		w->test_start_ms = now;
		/* a sustained test's budget: its share of the time, and its own bound beyond */
		w->test_deadline_ms = now + (uint64_t)(t ? t->budget_s : 60) * 1000u + (t && t->level == 3 ? r->sustain_ms : 0);
		w->kmsg_seq = diag_kmsg_scan(-1, NULL, NULL);
		json_decref(w->counters_at_test);
		w->counters_at_test = diag_counters(&r->gpus[w->gpu]);
		w->deadline_ms = now + 30000;
		stream(r, json_pack("{s:s, s:i, s:s}", "ev", "begin", "gpu", w->gpu, "test", w->test));
	} else if (!strcmp(ev, "step")) {
		end_step(r, w, "PASS");
		snprintf(w->step, sizeof w->step, "%s", json_string_value(json_object_get(m, "step")) ?: "?");
		/* journalled before the worker may start it */
		diag_journal_begin(r->journal, w->gpu, w->test, w->step, r->seed);
		uint32_t deadline = (uint32_t)json_integer_value(json_object_get(m, "deadline_ms"));
		if (!json_is_true(json_object_get(m, "exclusive")) || r->exclusive < 0) {
			if (json_is_true(json_object_get(m, "exclusive")))
				r->exclusive = w->gpu;
			grant(w, deadline);
		} else {
			/* its turn comes when the others' exclusive steps end; the test's budget bounds the wait */
			w->waiting = true;
			w->waiting_deadline_ms = deadline;
			w->deadline_ms = w->test_deadline_ms + 1;
		}
		stream(r, json_pack("{s:s, s:i, s:s, s:s}", "ev", "step", "gpu", w->gpu, "test", w->test, "step", w->step));
		diag_live_set(r->live, w->gpu, w->test, w->step, false);
	} else if (!strcmp(ev, "progress")) {
		w->deadline_ms = now + (uint64_t)json_integer_value(json_object_get(m, "deadline_ms")) + GRACE_MS;
		show_progress(r, w, (long long)json_integer_value(json_object_get(m, "done")),
			      (long long)json_integer_value(json_object_get(m, "total")));
	} else if (!strcmp(ev, "end")) {
		json_t *res = json_object_get(m, "result");
		/* the worker speaks only of its own GPU and the tests it was given */
		json_object_set_new(res, "gpu", json_integer(w->gpu));
		json_object_set_new(res, "test", json_string(w->test));
		enum diag_status st = diag_result_status(res);
		if (st == DIAG_HANG || st == DIAG_FAIL)
			add_evidence(r, w, res);
		end_step(r, w, diag_status_name(st));
		mark_reported(w, w->test);
		if (st == DIAG_HANG)
			w->quarantine_test = diag_test_find(w->test) ? diag_test_find(w->test)->name : NULL;
		add_result(r, json_incref(res));
		w->test[0] = '\0';
		w->deadline_ms = now + 30000;
	} else if (!strcmp(ev, "done")) {
		w->done = true;
	}
	json_decref(m);
}

/* Take the worker's complete lines; false at its end. */
static bool read_worker(struct run *r, struct worker *w)
{
	char chunk[65536];
	ssize_t n = read(w->msg_fd, chunk, sizeof chunk);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (w->len + (size_t)n > LINE_MAX_BYTES) {
		w->len = 0;	/* a line that long is no message: drop it */
		return true;
	}
	char *nb = realloc(w->buf, w->len + (size_t)n + 1);
	if (!nb)
		return false;
	w->buf = nb;
	memcpy(w->buf + w->len, chunk, (size_t)n);
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	char *start = w->buf;
	for (char *nl; (nl = strchr(start, '\n')); start = nl + 1) {
		*nl = '\0';
		on_message(r, w, start);
	}
	w->len -= (size_t)(start - w->buf);
	memmove(w->buf, start, w->len + 1);
	return true;
}

/* ---- workers -------------------------------------------------------------------------------- */

static int start_worker(struct run *r, struct worker *w, int gpu)
{
	int msg[2], ack[2];
	if (pipe2(msg, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ack, O_CLOEXEC) < 0) {
		close(msg[0]);
		close(msg[1]);
		return -errno;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(msg[0]);
		close(msg[1]);
		close(ack[0]);
		close(ack[1]);
		return e;
	}
	if (pid == 0) {
		/* the worker: acks on stdin, messages on the pipe */
		dup2(ack[0], STDIN_FILENO);
		FILE *out = fdopen(msg[1], "w");
		struct diag_worker_ctx ctx = { .gpu = gpu, .info = &r->gpus[gpu], .seed = r->seed, .level = r->o->level,
					       .iterations = r->o->iterations, .peers = r->gpus_in_run,
					       .sustain_ms = r->sustain_ms,
					       .share_dir = r->o->share_dir,
					       .link = { out } };
		diag_worker_main(&ctx, r->gpu_tests, r->ngpu_tests);
		fflush(out);
		_exit(0);
	}
	close(msg[1]);
	close(ack[0]);
	memset(w, 0, sizeof *w);
	w->gpu = gpu;
	w->pid = pid;
	w->msg_fd = msg[0];
	w->ack_fd = ack[1];
	w->deadline_ms = diag_now_ms() + 60000;	/* opening the GPU */
	snprintf(w->test, sizeof w->test, "setup");
	w->counters_at_test = json_incref(r->counters_start[gpu]);
	return 0;
}

/* The worker ended without a word: a crash */
static void worker_died(struct run *r, struct worker *w)
{
	int status = 0;
	pid_t got = waitpid(w->pid, &status, WNOHANG);
	w->done = true;
	if (!w->test[0])
		return;
	json_t *res = diag_result(w->test, w->gpu, DIAG_FAIL, "WORKER_DIED", DIAG_ACT_INVESTIGATE,
				  "the GPU's worker ended during step '%s' (%s %d)", w->step,
				  got > 0 && WIFSIGNALED(status) ? "signal" : "status",
				  got > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : got > 0 ? WEXITSTATUS(status) : -1);
	add_evidence(r, w, res);
	end_step(r, w, "FAIL");
	w->waiting = false;
	mark_reported(w, w->test);
	w->quarantine_test = diag_test_find(w->test) ? diag_test_find(w->test)->name : NULL;
	add_result(r, res);
}

/* the sensor watch's sample when it is due; the next due time */
static uint64_t watch_tick(struct run *r, uint64_t now)
{
	if (!r->watch)
		return now + 1000;
	if (now >= r->next_sample_ms) {
		const char *during[DIAG_MAX_GPUS] = { 0 };
		for (int i = 0; i < r->nworkers; i++)
			if (!r->workers[i].done && r->workers[i].test[0])
				during[r->workers[i].gpu] = r->workers[i].test;
		diag_watch_sample(r->watch, during);
		r->next_sample_ms = now + DIAG_WATCH_PERIOD_MS;
	}
	return r->next_sample_ms;
}

static void supervise(struct run *r, struct worker *ws, int n)
{
	for (;;) {
		struct pollfd p[DIAG_MAX_GPUS];
		int idx[DIAG_MAX_GPUS], np = 0;
		uint64_t now = diag_now_ms(), wake = watch_tick(r, now);
		for (int i = 0; i < n; i++) {
			struct worker *w = &ws[i];
			if (w->done)
				continue;
			if (now >= w->deadline_ms || (w->test_deadline_ms && now >= w->test_deadline_ms && w->test[0])) {
				call_hang(r, w, now < w->deadline_ms);
				continue;
			}
			uint64_t d = w->deadline_ms;
			if (w->test_deadline_ms && w->test[0] && w->test_deadline_ms < d)
				d = w->test_deadline_ms;
			if (d < wake)
				wake = d;
			p[np] = (struct pollfd){ .fd = w->msg_fd, .events = POLLIN };
			idx[np++] = i;
		}
		if (np == 0)
			return;
		int rc = poll(p, (nfds_t)np, (int)(wake > now ? wake - now : 0));
		if (rc < 0 && errno != EINTR)
			return;
		for (int k = 0; k < np && rc > 0; k++)
			if (p[k].revents && !read_worker(r, &ws[idx[k]]))
				worker_died(r, &ws[idx[k]]);
	}
}

/* Tests the workers did not report: NOT_RUN, and why. */
static void not_run(struct run *r, struct worker *w)
{
	for (int t = 0; t < r->ngpu_tests; t++) {
		bool seen = false;
		for (int k = 0; k < w->nreported; k++)
			seen |= !strcmp(w->reported[k], r->gpu_tests[t]);
		if (seen)
			continue;
		add_result(r, w->quarantine_test
				      ? diag_result(r->gpu_tests[t], w->gpu, DIAG_NOT_RUN, "GPU_QUARANTINED", DIAG_ACT_NONE,
						    "not run: the GPU was quarantined after %s", w->quarantine_test)
				      : diag_result(r->gpu_tests[t], w->gpu, DIAG_NOT_RUN, "WORKER_ENDED", DIAG_ACT_INVESTIGATE,
						    "not run: the GPU's worker ended first"));
	}
}

/* Reap the workers; one stuck in the kernel is left behind, not waited for. */
static void reap(struct worker *ws, int n)
{
	uint64_t until = diag_now_ms() + 3000;
	for (int i = 0; i < n; i++) {
		close(ws[i].msg_fd);
		close(ws[i].ack_fd);
		while (waitpid(ws[i].pid, NULL, WNOHANG) == 0 && diag_now_ms() < until) {
			if (!ws[i].killed) {
				kill(ws[i].pid, SIGKILL);
				ws[i].killed = true;
			}
			usleep(10000);
		}
		free(ws[i].buf);
		json_decref(ws[i].counters_at_test);
	}
}

/* ---- the counters over the whole run ------------------------------------------------------- */

static void counters_after(struct run *r, uint32_t gpus)
{
	size_t i;
	json_t *res;
	json_array_foreach(r->results, i, res) {
		if (strcmp(json_string_value(json_object_get(res, "test")) ?: "", "counters") != 0)
			continue;
		int g = (int)json_integer_value(json_object_get(res, "gpu"));
		if (g < 0 || g >= r->ngpus || !(gpus & (1u << g)))
			continue;
		json_t *now = diag_counters(&r->gpus[g]);
		json_t *d = diag_counter_deltas(r->counters_start[g], now);
		json_object_set_new(json_object_get(res, "evidence"), "during_run", d);
		json_decref(now);
		if (json_object_size(d) == 0 || diag_result_status(res) != DIAG_PASS)
			continue;
		const char *reason = json_object_get(d, "ras_ue") || json_object_get(d, "ras_ce") ? "VRAM_ECC_ERRORS"
				     : json_object_get(d, "vram_lost")				? "GPU_RESET_DURING_RUN"
												: "PCIE_ERRORS_DURING_RUN";
		char *what = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		json_object_set_new(res, "status", json_string(diag_status_name(DIAG_FAIL)));
		json_object_set_new(res, "reason", json_string(reason));
		json_object_set_new(res, "action",
				    json_string(diag_action_name(!strcmp(reason, "VRAM_ECC_ERRORS") ? DIAG_ACT_REPLACE_HW
								 : !strcmp(reason, "GPU_RESET_DURING_RUN")
									 ? DIAG_ACT_INVESTIGATE
									 : DIAG_ACT_RESEAT_OR_BIOS)));
		char detail[512];
		snprintf(detail, sizeof detail, "counters rose during the run: %s", what ? what : "?");
		json_object_set_new(res, "detail", json_string(detail));
		free(what);
		show_result(r, res);
	}
}

/* ---- the state directory --------------------------------------------------------------------- */

static int make_dirs(const char *path)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return -errno;
			*s = '/';
		}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(p, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static void run_id(char *out, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char stamp[32];
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, len, "%s-%d", stamp, (int)getpid());
}

/* A crash found in the journal stays on record (STATE/crash.json) until
 * `tb diag report --ack`. */
static json_t *previous_crash(struct run *r)
{
	char err[512], path[4200];
	snprintf(path, sizeof path, "%s/crash.json", r->state);
	json_t *crash = diag_journal_unfinished(r->state, err, sizeof err);
	if (crash) {
		json_t *known = diag_read_json(path, DIAG_FILE_MAX, "a crash record", err, sizeof err);
		if (!known)
			diag_report_write(crash, path, err, sizeof err);
		json_decref(known);
	}
	json_decref(crash);
	crash = diag_read_json(path, DIAG_FILE_MAX, "a crash record", err, sizeof err);
	return json_is_object(crash) ? crash : (json_decref(crash), NULL);
}

static void prometheus(struct run *r, const json_t *report, int code)
{
	char path[4200], tmp[4300];
	snprintf(path, sizeof path, "%s/tb_diag.prom", r->state);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "# HELP tb_diag_exit_code The last tb diag run's exit code.\n# TYPE tb_diag_exit_code gauge\n");
	fprintf(f, "tb_diag_exit_code %d\n", code);
	fprintf(f, "# HELP tb_diag_last_run_timestamp_seconds When the last tb diag run ended.\n"
		   "# TYPE tb_diag_last_run_timestamp_seconds gauge\ntb_diag_last_run_timestamp_seconds %lld\n",
		(long long)time(NULL));
	fprintf(f, "# HELP tb_diag_test_passed 1 when the test passed on the GPU in the last run.\n"
		   "# TYPE tb_diag_test_passed gauge\n");
	size_t i;
	json_t *res;
	json_array_foreach(json_object_get(report, "results"), i, res)
		fprintf(f, "tb_diag_test_passed{gpu=\"%lld\",test=\"%s\",status=\"%s\"} %d\n",
			(long long)json_integer_value(json_object_get(res, "gpu")),
			json_string_value(json_object_get(res, "test")), json_string_value(json_object_get(res, "status")),
			diag_result_status(res) == DIAG_PASS);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

/* The GPUs the exclusive test found held by another process: their GPU
 * tests NOT_RUN (the other process would disturb them, and they it). */
static uint32_t gpus_in_use(struct run *r, uint32_t gpus)
{
	uint32_t held = 0;
	size_t i;
	json_t *res;
	json_array_foreach(r->results, i, res) {
		int g = (int)json_integer_value(json_object_get(res, "gpu"));
		if (!strcmp(json_string_value(json_object_get(res, "test")) ?: "", "exclusive") && g >= 0 &&
		    g < DIAG_MAX_GPUS && (gpus & (1u << g)) && diag_result_status(res) == DIAG_ENV_NOT_READY)
			held |= 1u << g;
	}
	for (int t = 0; t < diag_ntests; t++)
		for (int g = 0; held && g < r->ngpus; g++)
			if ((held & (1u << g)) && diag_tests[t].gpu_work && selected(diag_tests[t].name))
				add_result(r, diag_result(diag_tests[t].name, g, DIAG_NOT_RUN, "GPU_IN_USE", DIAG_ACT_RETRY,
							  "not run: another process holds the GPU"));
	return held;
}

/* ---- rounds of GPU tests ------------------------------------------------------------------------ */

/* the sustained tests' share of the time: --duration (a soak's spread
 * over several rounds), else the long level's budget */
#define LONG_LEVEL_MS (25ull * 60 * 1000)
#define SOAK_ROUNDS_MIN 4
#define SOAK_SHARE_MAX_MS 60000ull
static uint64_t sustain_share(const struct diag_options *o, int n3)
{
	if (n3 == 0)
		return 0;
	uint64_t total = o->duration_s ? o->duration_s * 1000 : LONG_LEVEL_MS;
	uint64_t share = total / (uint64_t)n3;
	if (o->level >= 4) {
		share /= SOAK_ROUNDS_MIN;
		share = share > SOAK_SHARE_MAX_MS ? SOAK_SHARE_MAX_MS : share;
	}
	return share ? share : 1;
}

/* The round's tests: the selected ones in order in round 0; after it (a
 * soak) the sustained ones in an order drawn from the seed and the round. */
static void round_tests(struct run *r, int round)
{
	r->ngpu_tests = 0;
	for (int t = 0; t < diag_ntests; t++)
		if (diag_tests[t].gpu_work && selected(diag_tests[t].name) && (round == 0 || diag_tests[t].level == 3))
			r->gpu_tests[r->ngpu_tests++] = diag_tests[t].name;
	uint64_t x = r->seed ^ (uint64_t)(round + 1) * 0x9e3779b97f4a7c15ull;
	for (int i = r->ngpu_tests - 1; round > 0 && i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int j = (int)(x % (uint64_t)(i + 1));
		const char *t = r->gpu_tests[i];
		r->gpu_tests[i] = r->gpu_tests[j];
		r->gpu_tests[j] = t;
	}
}

/* --allow-reset: each GPU whose worker hung (and was killed, taking its
 * queues with it) tried again from a new worker: the "recovery" result
 * says whether it came back.  Its remaining tests stay NOT_RUN. */
static void recover(struct run *r, const struct worker *hung, int n, uint64_t *gpu_ms)
{
	static const char *const tests[] = { "recovery" };
	const char *saved[DIAG_MAX_TESTS];
	int nsaved = r->ngpu_tests;
	memcpy(saved, r->gpu_tests, sizeof saved);
	r->gpu_tests[0] = tests[0];
	r->ngpu_tests = 1;
	struct worker ws[DIAG_MAX_GPUS];
	int nw = 0;
	r->workers = ws;
	for (int i = 0; i < n; i++)
		if (hung[i].quarantine_test && start_worker(r, &ws[nw], hung[i].gpu) == 0)
			r->nworkers = ++nw;
	uint64_t start = diag_now_ms();
	supervise(r, ws, nw);
	r->nworkers = 0;
	for (int i = 0; i < nw; i++) {
		not_run(r, &ws[i]);
		gpu_ms[ws[i].gpu] += diag_now_ms() - start;
	}
	reap(ws, nw);
	memcpy(r->gpu_tests, saved, sizeof saved);
	r->ngpu_tests = nsaved;
}

/* One round: a worker per GPU in gpus, supervised to its end; the GPUs
 * that failed or hung (quarantined in a soak) returned; each GPU's time
 * added to gpu_ms. */
static uint32_t run_round(struct run *r, uint32_t gpus, int round, uint64_t *gpu_ms)
{
	round_tests(r, round);
	size_t first = json_array_size(r->results);
	struct worker ws[DIAG_MAX_GPUS];
	int nw = 0, rc;
	r->workers = ws;
	uint64_t start = diag_now_ms();
	for (int i = 0; i < r->ngpus && r->ngpu_tests; i++) {
		if (!(gpus & (1u << i)))
			continue;
		if ((rc = start_worker(r, &ws[nw], i)) < 0) {
			add_result(r, diag_result(r->gpu_tests[0], i, DIAG_ENV_NOT_READY, "WORKER_START_FAILED",
						  DIAG_ACT_RETRY, "cannot start the GPU's worker: %s", strerror(-rc)));
			continue;
		}
		r->nworkers = ++nw;
	}
	supervise(r, ws, nw);
	r->nworkers = 0;	/* the watch's samples from here on are between tests */
	for (int i = 0; i < nw; i++) {
		not_run(r, &ws[i]);
		gpu_ms[ws[i].gpu] += diag_now_ms() - start;
	}
	reap(ws, nw);
	if (r->o->allow_reset)
		recover(r, ws, nw, gpu_ms);
	uint32_t failed = 0;
	for (size_t i = first; i < json_array_size(r->results); i++) {
		json_t *res = json_array_get(r->results, i);
		enum diag_status st = diag_result_status(res);
		if (r->o->level >= 4)
			json_object_set_new(res, "round", json_integer(round));
		if (st == DIAG_FAIL || st == DIAG_HANG)
			failed |= 1u << (json_integer_value(json_object_get(res, "gpu")) & (DIAG_MAX_GPUS - 1));
	}
	return failed;
}

/* A soak's verdict per GPU: failures per GPU-hour, and with none the 95%
 * upper bound on the rate (the rule of three: 3/N for N failure-free GPU-hours). */
static void soak_summary(struct run *r, uint32_t gpus, const uint64_t *gpu_ms)
{
	for (int g = 0; g < r->ngpus; g++) {
		if (!(gpus & (1u << g)))
			continue;
		int failures = 0, rounds = 0;
		size_t i;
		json_t *res;
		json_array_foreach(r->results, i, res) {
			if (json_integer_value(json_object_get(res, "gpu")) != g || !json_object_get(res, "round"))
				continue;
			enum diag_status st = diag_result_status(res);
			failures += st == DIAG_FAIL || st == DIAG_HANG;
			int round = (int)json_integer_value(json_object_get(res, "round"));
			rounds = round + 1 > rounds ? round + 1 : rounds;
		}
		double hours = gpu_ms[g] ? (double)gpu_ms[g] / 3.6e6 : 1 / 3.6e6;
		json_t *s = failures ? diag_result("soak", g, DIAG_FAIL, "SOAK_FAILURES", DIAG_ACT_INVESTIGATE,
						   "%d failures in %d rounds, %.4f GPU-hours: %.3g per GPU-hour", failures,
						   rounds, hours, failures / hours)
				     : diag_result("soak", g, DIAG_PASS, "OK", DIAG_ACT_NONE,
						   "no failure in %d rounds, %.4f GPU-hours: at most %.3g per GPU-hour (95%%)",
						   rounds, hours, 3 / hours);
		diag_measure(s, "gpu_hours", hours, "h", NULL, 0);
		diag_measure(s, "rounds", rounds, "count", NULL, 0);
		diag_measure(s, "failures_per_gpu_hour", failures / hours, "1/h", NULL, 0);
		if (!failures)
			diag_measure(s, "failures_per_gpu_hour_95_upper", 3 / hours, "1/h", NULL, 0);
		add_result(r, s);
	}
}

/* ---- the run ------------------------------------------------------------------------------ */

static json_t *run_header(struct run *r, uint32_t gpus)
{
	struct utsname u;
	uname(&u);
	json_t *list = json_array();
	for (int i = 0; i < r->ngpus; i++)
		if (gpus & (1u << i))
			json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:s, s:I, s:i, s:o}", "index", i, "pci",
							      r->gpus[i].pci, "name", r->gpus[i].name, "target",
							      r->gpus[i].target, "vram_bytes", (json_int_t)r->gpus[i].vram_bytes,
							      "compute_units", (int)r->gpus[i].cu_count, "firmware",
							      diag_firmware(&r->gpus[i])));
	return json_pack("{s:s, s:I, s:i, s:s, s:s, s:o, s:o}", "id", r->id, "seed", (json_int_t)r->seed, "level",
			 r->o->level, "tool_version", TOOL_VERSION, "kernel", u.release, "gpus", list, "amdgpu_parameters",
			 diag_module_params());
}

int diag_run(const struct diag_options *o)
{
	struct run r = { .o = o, .tty = isatty(STDERR_FILENO), .exclusive = -1 };
	g_opts = o;
	/* a worker that died before reading its ack, or a reader of the stream
	 * that left, must not take the supervisor with it: EPIPE, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	char err[512] = "";
	snprintf(r.state, sizeof r.state, "%s", o->state_dir);
	char runs[4200];
	snprintf(runs, sizeof runs, "%s/runs", r.state);
	int rc = make_dirs(runs);
	if (rc < 0) {
		fprintf(stderr, "tb diag: cannot use the state directory %s: %s\n", r.state, strerror(-rc));
		return DIAG_EXIT_USAGE;
	}
	run_id(r.id, sizeof r.id);
	r.seed = o->seed_given ? o->seed : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	json_t *crash = previous_crash(&r);
	if (diag_journal_open(r.state, r.id, &r.journal, err, sizeof err) < 0) {
		fprintf(stderr, "tb diag: %s\n", err);
		json_decref(crash);
		return DIAG_EXIT_USAGE;
	}
	r.results = json_array();
	uint64_t t0 = diag_now_ms();

	int n = tb_gpu_list(r.gpus, DIAG_MAX_GPUS, err, sizeof err);
	r.ngpus = n < 0 ? 0 : n > DIAG_MAX_GPUS ? DIAG_MAX_GPUS : n;
	uint32_t gpus = o->gpu_mask ? o->gpu_mask : (r.ngpus ? (1u << r.ngpus) - 1 : 0);
	for (int i = 0; i < DIAG_MAX_GPUS; i++)
		if ((gpus & (1u << i)) && i >= r.ngpus) {
			fprintf(stderr, "tb diag: -g: there is no GPU %d (%d found%s%s)\n", i, r.ngpus, n < 0 ? ": " : "",
				n < 0 ? err : "");
			diag_journal_close(r.journal, DIAG_EXIT_USAGE);
			json_decref(r.results);
			json_decref(crash);
			return DIAG_EXIT_USAGE;
		}
	if (r.ngpus == 0)
		add_result(&r, diag_result("inventory", -1, DIAG_ENV_NOT_READY, "NO_GPUS", DIAG_ACT_INVESTIGATE,
					   "no GPUs found%s%s", n < 0 ? ": " : "", n < 0 ? err : ""));
	if (crash) {
		json_t *s = json_array_get(json_object_get(crash, "steps"), 0);
		add_result(&r, diag_result(s ? json_string_value(json_object_get(s, "test")) : "run",
					   s ? (int)json_integer_value(json_object_get(s, "gpu")) : -1,
					   DIAG_SYSTEM_CRASH_SUSPECTED, "PREVIOUS_RUN_UNFINISHED", DIAG_ACT_INVESTIGATE,
					   "run %s never finished step '%s': the system probably crashed there (tb diag report --ack clears this)",
					   json_string_value(json_object_get(crash, "run")) ?: "?",
					   s ? json_string_value(json_object_get(s, "step")) : "?"));
	}

	/* level 0, here: no GPU work */
	for (int i = 0; i < r.ngpus; i++)
		if (gpus & (1u << i)) {
			r.counters_start[i] = diag_counters(&r.gpus[i]);
			diag_inventory_gpu(&r.gpus[i], r.counters_start[i], r.results, selected);
		}
	/* on a terminal, the live table (on standard output, the final table's place) */
	if (isatty(STDOUT_FILENO) && !o->json_stream && !o->quiet) {
		const char *names[DIAG_MAX_TESTS];
		int nnames = 0;
		for (int t = 0; t < diag_ntests && nnames < DIAG_MAX_TESTS; t++)
			if (selected(diag_tests[t].name))
				names[nnames++] = diag_tests[t].name;
		r.live = diag_live_start(stdout, gpus, names, nnames);
	}
	if (!o->json_stream && !o->quiet) {
		size_t k;
		json_t *res;
		json_array_foreach(r.results, k, res)
			show_result(&r, res);
	}

	/* the sensors, watched from here over the whole run */
	uint64_t watch_until = diag_now_ms() + DIAG_WATCH_MIN_MS;
	if (selected("thermal"))
		r.watch = diag_watch_start(r.gpus, r.ngpus, gpus);

	/* the GPU tests, a worker per GPU; a soak repeats the sustained ones in rounds */
	int n3 = 0;
	for (int t = 0; t < diag_ntests; t++)
		n3 += diag_tests[t].gpu_work && diag_tests[t].level == 3 && selected(diag_tests[t].name);
	r.sustain_ms = sustain_share(o, n3);
	r.gpus_in_run = gpus;
	uint32_t live = gpus & ~gpus_in_use(&r, gpus);
	uint64_t soak_end = t0 + o->duration_s * 1000, gpu_ms[DIAG_MAX_GPUS] = { 0 };
	for (int round = 0;; round++) {
		uint32_t failed = run_round(&r, live, round, gpu_ms);
		live &= ~failed;
		if (o->level < 4 || !live || (o->until_fail && failed) || (o->duration_s && diag_now_ms() >= soak_end) ||
		    !r.ngpu_tests)
			break;
	}
	if (o->level >= 4 && selected("soak"))
		soak_summary(&r, gpus, gpu_ms);
	for (uint64_t now; r.watch && (now = diag_now_ms()) < watch_until;) {
		uint64_t next = watch_tick(&r, now);
		struct timespec pause = { 0, (long)((next > now ? next - now : 1) * 1000000) };
		nanosleep(&pause, NULL);
	}
	if (r.tty && !o->json_stream && !o->quiet && !r.live)
		fprintf(stderr, "\r\033[K");
	counters_after(&r, gpus);
	if (r.watch) {
		json_t *watched = diag_watch_end(r.watch);
		size_t k;
		json_t *res;
		json_array_foreach(watched, k, res)
			add_result(&r, json_incref(res));
		json_decref(watched);
	}
	if (selected("perf")) {
		json_t *perf = diag_perf_judge(r.results, gpus, o->reference);
		size_t k;
		json_t *res;
		json_array_foreach(perf, k, res)
			add_result(&r, json_incref(res));
		json_decref(perf);
	}

	diag_live_end(r.live);
	r.live = NULL;
	json_t *report = json_pack("{s:s, s:o, s:o}", "schema", DIAG_SCHEMA, "run", run_header(&r, gpus), "results",
				   json_incref(r.results));
	if (crash)
		json_object_set(report, "previous_crash", crash);
	int code = diag_report_exit_code(report);
	json_t *run = json_object_get(report, "run");
	json_object_set_new(run, "seconds", json_real((double)(diag_now_ms() - t0) / 1000.0));
	/* what watching costs: the supervisor's own CPU time, workers not counted */
	struct rusage self;
	getrusage(RUSAGE_SELF, &self);
	json_object_set_new(run, "supervisor_cpu_seconds",
			    json_real((double)self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 + (double)self.ru_stime.tv_sec +
				      self.ru_stime.tv_usec / 1e6));
	json_object_set_new(run, "exit_code", json_integer(code));
	char path[4400];
	snprintf(path, sizeof path, "%s/%s.json", runs, r.id);
	int wrc = diag_report_write(report, path, err, sizeof err);
	if (wrc == 0) {
		snprintf(path, sizeof path, "%s/last", r.state);
		unlink(path);
		char target[128];
		snprintf(target, sizeof target, "runs/%s.json", r.id);
		if (symlink(target, path) < 0)
			wrc = -errno;
	}
	if (wrc == 0 && o->json_file)
		wrc = diag_report_write(report, o->json_file, err, sizeof err);
	if (wrc == 0 && o->calibrate && code == DIAG_EXIT_OK) {
		json_t *ref = diag_reference_make(report);
		wrc = diag_report_write(ref, o->calibrate, err, sizeof err);
		json_decref(ref);
		if (wrc == 0 && !o->quiet && !o->json_stream)
			printf("reference written to %s\n", o->calibrate);
	} else if (o->calibrate && wrc == 0) {
		fprintf(stderr, "tb diag: --calibrate: no reference written to %s: the run did not pass\n", o->calibrate);
	}
	prometheus(&r, report, code);
	if (!o->json_stream && !o->quiet)
		diag_report_table(report, stdout);
	stream(&r, json_pack("{s:s, s:i}", "ev", "done", "exit_code", code));
	diag_journal_close(r.journal, code);
	if (wrc < 0) {
		fprintf(stderr, "tb diag: %s\n", err);
		code = DIAG_EXIT_USAGE;
	}
	for (int i = 0; i < r.ngpus; i++)
		json_decref(r.counters_start[i]);
	json_decref(report);
	json_decref(r.results);
	json_decref(crash);
	return code;
}
