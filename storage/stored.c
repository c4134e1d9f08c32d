/* tb-stored: the storage daemon.  Local clients talk to it over a Unix
 * socket, one JSON request per line, one JSON answer per line:
 *
 *   {"op":"status"}
 *   {"op":"load","file":PATH[,"verify":true]}   read the file (to null) and time it
 *   {"op":"verify","file":PATH}                  the same, checked against FILE.tbsum
 *
 * Answers: {"ok":true,...} or {"ok":false,"error":"why"}; a malformed request
 * is refused and the connection stays usable.  Files must lie under --root.
 * It tells systemd when it is ready (Type=notify) and, after each request,
 * rewrites a Prometheus textfile atomically for node_exporter.
 *
 * No client can hurt another:
 *   - one event loop thread owns the sockets, which are non-blocking; each
 *     client's answers wait in its own output buffer, and a client whose
 *     unread answers pass MAX_OUT is dropped, never waited for;
 *   - loads run on a pool of WORKERS threads fed by a queue; a load's memory
 *     (tbs_load_memory) is reserved from the daemon's --memory budget before
 *     it starts (it waits while others hold the budget; one bigger than the
 *     whole budget is refused), and a client that leaves has its queued work
 *     dropped and its running load cancelled;
 *   - files are opened beneath the root in one step (openat2) without
 *     blocking, and only regular files are read (libtbstore's readers);
 *   - a lock on SOCKET.lock keeps a second daemon off a live one's socket. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "storage/cmd.h"
#include "storage/tbstore.h"

#define MAX_CLIENTS 32
#define MAX_LINE 4096           /* the longest request line */
#define MAX_OUT (64u << 10)     /* unread answer bytes a client may leave */
#define WORKERS 4               /* loads running at once */
#define DEFAULT_MEMORY (2ull << 30)

struct job {
	struct job *next;
	int slot;
	unsigned gen;           /* the client's generation when it asked */
	char *file;             /* relative to the root */
	bool verify;
	atomic_bool cancel;     /* the client left */
	char *answer;           /* set by the worker */
};

struct client {
	int fd;
	unsigned gen;           /* counts the slot's clients, so a late answer finds no stranger */
	size_t len;
	char buf[MAX_LINE];
	char *out;              /* answers not yet sent */
	size_t out_len, out_cap;
	struct job *job;        /* its load, queued or running */
	bool eof;               /* it sent its last request: answer them, then close */
};

struct metrics {
	uint64_t requests, refused, loads, load_errors, verify_failures, bytes;
	uint64_t completed;     /* loads that read their whole file */
	uint64_t cancelled;     /* loads of clients that left: dropped from the queue or stopped */
	double last_gbps;
};

struct daemon {
	const char *socket_path, *metrics_path;
	char root[PATH_MAX];
	struct tbs_root rootdir;
	int listen_fd, lock_fd;
	struct client clients[MAX_CLIENTS];
	pthread_t workers[WORKERS];
	int nworkers;
	/* shared with the workers, under lock */
	pthread_mutex_t lock;
	pthread_cond_t work, budget;
	struct job *queue, **queue_tail, *done;
	unsigned queued, running;
	uint64_t memory, reserved;
	bool stopping;
	struct metrics m;
	bool metrics_failed;
	int wake[2];            /* a worker finished: the loop picks its answer up */
	time_t started;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb-stored [--socket PATH] [--root DIR] [--metrics FILE] [--memory BYTES]\n"
		"\n"
		"The storage daemon: loads and verifies weight files for local clients over a\n"
		"Unix socket (JSON lines: {\"op\":\"status\"}, {\"op\":\"load\",\"file\":F},\n"
		"{\"op\":\"verify\",\"file\":F}).\n"
		"\n"
		"  --socket PATH   default /run/tb-stored.sock (PATH.lock keeps a second daemon off it)\n"
		"  --root DIR      only regular files under DIR are served (default /raid)\n"
		"  --metrics FILE  Prometheus textfile, rewritten atomically (default: none)\n"
		"  --memory BYTES  memory all running loads may take together (default 2G);\n"
		"                  a load waits for its share, one needing more is refused\n");
}

/* ---- metrics -------------------------------------------------------------------- */

static unsigned long long crit_warning(const struct tbs_drive *d) { return d->critical_warning; }
static unsigned long long avail_spare(const struct tbs_drive *d) { return d->avail_spare; }
static unsigned long long percent_used(const struct tbs_drive *d) { return d->percent_used; }
static unsigned long long media_errors(const struct tbs_drive *d) { return d->media_errors; }

/* Each drive's SMART health: whether its log reads, and what it says. */
static void write_drive_health(FILE *f, const struct tbs_drive *d, unsigned n)
{
	static const struct {
		const char *name, *type, *help;
		unsigned long long (*value)(const struct tbs_drive *);
	} smart[] = {
		{ "tb_stored_nvme_critical_warning", "gauge", "The SMART log's critical warning bits.", crit_warning },
		{ "tb_stored_nvme_available_spare_percent", "gauge", "Remaining spare capacity.", avail_spare },
		{ "tb_stored_nvme_percentage_used", "gauge", "Estimate of the drive's life used.", percent_used },
		{ "tb_stored_nvme_media_errors_total", "counter", "Unrecovered data integrity errors.", media_errors },
	};
	fprintf(f, "# HELP tb_stored_nvme_smart_readable Whether the drive's SMART / health log reads (1) or not (0).\n"
		   "# TYPE tb_stored_nvme_smart_readable gauge\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "tb_stored_nvme_smart_readable{drive=\"%s\"} %d\n", d[i].name, d[i].smart_status == 0);
	for (size_t k = 0; k < sizeof smart / sizeof smart[0]; k++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", smart[k].name, smart[k].help, smart[k].name, smart[k].type);
		for (unsigned i = 0; i < n; i++)
			if (!d[i].smart_status)
				fprintf(f, "%s{drive=\"%s\"} %llu\n", smart[k].name, d[i].name, smart[k].value(&d[i]));
	}
}

/* Each md array's state as md says it, and its members'. */
static void write_arrays(FILE *f)
{
	static struct tbs_md_array a[8];
	unsigned n = 0;
	struct tbs_error err;
	if (tbs_md_arrays(a, 8, &n, &err) < 0)
		return;
	n = n < 8 ? n : 8;
	fprintf(f, "# HELP tb_stored_md_arrays md arrays found.\n# TYPE tb_stored_md_arrays gauge\ntb_stored_md_arrays %u\n", n);
	fprintf(f, "# HELP tb_stored_md_array_state The array's state (md's array_state) is this one.\n"
		   "# TYPE tb_stored_md_array_state gauge\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "tb_stored_md_array_state{array=\"%s\",level=\"%s\",state=\"%s\"} 1\n", a[i].name, a[i].level,
			a[i].state);
	fprintf(f, "# HELP tb_stored_md_raid_disks Members the array's geometry has.\n"
		   "# TYPE tb_stored_md_raid_disks gauge\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "tb_stored_md_raid_disks{array=\"%s\"} %u\n", a[i].name, a[i].raid_disks);
	fprintf(f, "# HELP tb_stored_md_member_faulty Whether md marks the member faulty.\n"
		   "# TYPE tb_stored_md_member_faulty gauge\n");
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < a[i].members && k < TBS_MD_MAX_MEMBERS; k++)
			fprintf(f, "tb_stored_md_member_faulty{array=\"%s\",member=\"%s\"} %d\n", a[i].name, a[i].member[k],
				strstr(a[i].member_state[k], "faulty") != NULL);
}

/* Written to a temporary file and renamed, so node_exporter never reads half.
 * Called with the lock held. */
static int write_metrics(struct daemon *d)
{
	if (!d->metrics_path)
		return 0;
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof tmp, "%s.%d.tmp", d->metrics_path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	const struct metrics *m = &d->m;
	fprintf(f,
		"# HELP tb_stored_requests_total Requests answered.\n# TYPE tb_stored_requests_total counter\n"
		"tb_stored_requests_total %llu\n"
		"# HELP tb_stored_refused_total Malformed or refused requests.\n# TYPE tb_stored_refused_total counter\n"
		"tb_stored_refused_total %llu\n"
		"# HELP tb_stored_loads_total Loads run.\n# TYPE tb_stored_loads_total counter\n"
		"tb_stored_loads_total %llu\n"
		"# HELP tb_stored_load_errors_total Loads that failed.\n# TYPE tb_stored_load_errors_total counter\n"
		"tb_stored_load_errors_total %llu\n"
		"# HELP tb_stored_loads_completed_total Loads that read their whole file.\n"
		"# TYPE tb_stored_loads_completed_total counter\ntb_stored_loads_completed_total %llu\n"
		"# HELP tb_stored_loads_cancelled_total Loads dropped or stopped because their client left.\n"
		"# TYPE tb_stored_loads_cancelled_total counter\ntb_stored_loads_cancelled_total %llu\n"
		"# HELP tb_stored_verify_failures_total Loads whose checksums did not match.\n"
		"# TYPE tb_stored_verify_failures_total counter\ntb_stored_verify_failures_total %llu\n"
		"# HELP tb_stored_read_bytes_total Bytes read from storage.\n# TYPE tb_stored_read_bytes_total counter\n"
		"tb_stored_read_bytes_total %llu\n"
		"# HELP tb_stored_last_load_gb_per_s Throughput of the last load.\n"
		"# TYPE tb_stored_last_load_gb_per_s gauge\ntb_stored_last_load_gb_per_s %.3f\n",
		(unsigned long long)m->requests, (unsigned long long)m->refused, (unsigned long long)m->loads,
		(unsigned long long)m->load_errors, (unsigned long long)m->completed, (unsigned long long)m->cancelled,
		(unsigned long long)m->verify_failures,
		(unsigned long long)m->bytes, m->last_gbps);
	struct tbs_drive drives[32];
	unsigned n = 0;
	struct tbs_error err;
	if (tbs_drives(drives, 32, &n, &err) == 0) {
		fprintf(f, "# HELP tb_stored_nvme_drives NVMe drives found.\n# TYPE tb_stored_nvme_drives gauge\n"
			   "tb_stored_nvme_drives %u\n", n);
		fprintf(f, "# HELP tb_stored_nvme_temperature_celsius Composite temperature.\n"
			   "# TYPE tb_stored_nvme_temperature_celsius gauge\n");
		for (unsigned i = 0; i < n && i < 32; i++)
			if (!drives[i].smart_status)
				fprintf(f, "tb_stored_nvme_temperature_celsius{drive=\"%s\"} %d\n", drives[i].name,
					drives[i].temp_c);
		write_drive_health(f, drives, n < 32 ? n : 32);
	}
	write_arrays(f);
	int bad = ferror(f) ? EIO : 0;
	if (fclose(f) && !bad)
		bad = errno;
	if (!bad && rename(tmp, d->metrics_path))
		bad = errno;
	if (bad)
		unlink(tmp);
	return -bad;
}

/* After a request: failures are said once, when they start. */
static void update_metrics(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	int rc = write_metrics(d);
	if (rc < 0 && !d->metrics_failed)
		fprintf(stderr, "tb-stored: cannot write %s: %s\n", d->metrics_path, strerror(-rc));
	d->metrics_failed = rc < 0;
	pthread_mutex_unlock(&d->lock);
}

static void count(struct daemon *d, uint64_t *counter)
{
	pthread_mutex_lock(&d->lock);
	(*counter)++;
	pthread_mutex_unlock(&d->lock);
}

/* ---- answers -------------------------------------------------------------------- */

static char *dump(json_t *ans)
{
	char *s = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
	json_decref(ans);
	return s ? s : strdup("{\"ok\":false,\"error\":\"out of memory\"}");
}

static char *refuse(struct daemon *d, const char *why)
{
	count(d, &d->m.refused);
	return dump(json_pack("{s:b,s:s}", "ok", 0, "error", why));
}

static void drop(struct daemon *d, struct client *c);

/* Sends what the socket takes now; the rest waits for POLLOUT. */
static void flush(struct daemon *d, struct client *c)
{
	while (c->fd >= 0 && c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			drop(d, c);
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
}

/* Queues one answer line (taking `s`); a client that let MAX_OUT bytes of
 * answers pile up unread is dropped. */
static void reply(struct daemon *d, struct client *c, char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (!s || c->fd < 0) {
		free(s);
		return;
	}
	if (c->out_len + n + 1 > MAX_OUT) {
		free(s);
		drop(d, c);
		return;
	}
	if (c->out_len + n + 1 > c->out_cap) {
		size_t cap = MAX_OUT;
		char *p = realloc(c->out, cap);
		if (!p) {
			free(s);
			drop(d, c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, s, n);
	c->out[c->out_len + n] = '\n';
	c->out_len += n + 1;
	free(s);
	flush(d, c);
}

/* ---- loads (on the workers) ---------------------------------------------------- */

static int cancel_check(void *ctx, uint64_t off, const void *data, size_t len)
{
	const struct job *j = ctx;
	(void)off, (void)data, (void)len;
	return atomic_load(&j->cancel) ? -ECANCELED : 0;
}

/* Waits until `bytes` fit the budget beside the running loads. */
static bool reserve(struct daemon *d, struct job *j, uint64_t bytes)
{
	pthread_mutex_lock(&d->lock);
	while (d->reserved + bytes > d->memory && !d->stopping && !atomic_load(&j->cancel))
		pthread_cond_wait(&d->budget, &d->lock);
	bool ok = !d->stopping && !atomic_load(&j->cancel);
	if (ok)
		d->reserved += bytes;
	pthread_mutex_unlock(&d->lock);
	return ok;
}

static void release(struct daemon *d, uint64_t bytes)
{
	pthread_mutex_lock(&d->lock);
	d->reserved -= bytes;
	pthread_cond_broadcast(&d->budget);
	pthread_mutex_unlock(&d->lock);
}

static char *run_load(struct daemon *d, struct job *j)
{
	struct tbs_load_opts o = {
		.target = TBS_TO_NULL, .verify = j->verify, .root = &d->rootdir,
		.consume = cancel_check, .consume_ctx = j,
	};
	struct tbs_load_result res;
	struct tbs_error err = { 0 };
	uint64_t need;
	/* what cannot be opened, or is not a file to load, is refused */
	if (tbs_load_memory(j->file, &o, &need, &err) < 0)
		return refuse(d, err.msg);
	if (need > d->memory) {
		char why[256];
		snprintf(why, sizeof why, "%s: the load needs %llu MiB of memory, more than the daemon's %llu MiB",
			 j->file, (unsigned long long)(need >> 20), (unsigned long long)(d->memory >> 20));
		return refuse(d, why);
	}
	if (!reserve(d, j, need)) {
		if (!atomic_load(&j->cancel))
			return refuse(d, "the daemon is stopping");
		count(d, &d->m.cancelled);
		return NULL;	/* nobody is left to answer */
	}
	o.mem_limit = need;
	count(d, &d->m.loads);
	int rc = tbs_load(j->file, &o, &res, &err);
	release(d, need);
	pthread_mutex_lock(&d->lock);
	if (rc < 0 && err.code == -ECANCELED && atomic_load(&j->cancel)) {
		d->m.cancelled++;
		pthread_mutex_unlock(&d->lock);
		return NULL;
	}
	if (rc < 0) {
		d->m.load_errors++;
		if (err.code == -EBADMSG)
			d->m.verify_failures++;
		pthread_mutex_unlock(&d->lock);
		return dump(json_pack("{s:b,s:s}", "ok", 0, "error", err.msg));
	}
	double gbps = res.seconds > 0 ? (double)res.bytes / res.seconds / 1e9 : 0;
	d->m.completed++;
	d->m.bytes += res.bytes;
	d->m.last_gbps = gbps;
	pthread_mutex_unlock(&d->lock);
	json_t *ans = json_pack("{s:b,s:I,s:f,s:f,s:b,s:I}", "ok", 1, "bytes", (json_int_t)res.bytes, "seconds",
				res.seconds, "gb_per_s", gbps, "verified", res.verified, "tensors",
				(json_int_t)res.st.count);
	tbs_load_result_free(&res);
	return dump(ans);
}

static void *worker(void *arg)
{
	struct daemon *d = arg;
	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (!d->queue && !d->stopping)
			pthread_cond_wait(&d->work, &d->lock);
		if (d->stopping)
			break;
		struct job *j = d->queue;
		if (!(d->queue = j->next))
			d->queue_tail = &d->queue;
		d->queued--;
		d->running++;
		pthread_mutex_unlock(&d->lock);
		/* the work of a client that left is dropped */
		if (!atomic_load(&j->cancel))
			j->answer = run_load(d, j);
		else
			count(d, &d->m.cancelled);
		update_metrics(d);
		pthread_mutex_lock(&d->lock);
		d->running--;
		j->next = d->done;
		d->done = j;
		if (write(d->wake[1], "x", 1) < 0) {
			/* the pipe is full: the loop is already awake */
		}
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static void job_free(struct job *j)
{
	free(j->file);
	free(j->answer);
	free(j);
}

/* ---- requests (on the loop) ----------------------------------------------------- */

/* The file, relative to the root: an absolute path must start with it. */
static const char *relative(const struct daemon *d, const char *file)
{
	size_t n = strlen(d->root);
	if (file[0] != '/')
		return file;
	if (strcmp(d->root, "/")) {
		if (strncmp(file, d->root, n) || file[n] != '/')
			return NULL;
		file += n;
	}
	while (*file == '/')
		file++;
	return file;
}

/* NULL: the answer comes from a worker. */
static char *start_load(struct daemon *d, struct client *c, json_t *req, bool verify)
{
	json_t *file = json_object_get(req, "file"), *v = json_object_get(req, "verify");
	if (!json_is_string(file))
		return refuse(d, "'file' must be a string");
	if (v && !json_is_boolean(v))
		return refuse(d, "'verify' must be true or false");
	const char *rel = relative(d, json_string_value(file));
	if (!rel || !*rel || strlen(rel) != json_string_length(file) - (size_t)(rel - json_string_value(file)))
		return refuse(d, "no such file under the daemon's root");
	struct job *j = calloc(1, sizeof *j);
	if (!j || !(j->file = strdup(rel))) {
		free(j);
		return refuse(d, "out of memory");
	}
	j->slot = (int)(c - d->clients);
	j->gen = c->gen;
	j->verify = verify || json_is_true(v);
	c->job = j;
	pthread_mutex_lock(&d->lock);
	*d->queue_tail = j;
	d->queue_tail = &j->next;
	d->queued++;
	pthread_cond_signal(&d->work);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

static char *do_status(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	json_t *ans = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:s,s:I,s:I,s:I,s:I}", "ok", 1, "uptime_s",
				(json_int_t)(time(NULL) - d->started), "requests", (json_int_t)d->m.requests, "loads",
				(json_int_t)d->m.loads, "load_errors", (json_int_t)d->m.load_errors, "loads_completed",
				(json_int_t)d->m.completed, "loads_cancelled", (json_int_t)d->m.cancelled, "last_gb_per_s",
				d->m.last_gbps, "root", d->root, "loads_running", (json_int_t)d->running,
				"loads_queued", (json_int_t)d->queued, "memory_reserved", (json_int_t)d->reserved,
				"memory_budget", (json_int_t)d->memory);
	pthread_mutex_unlock(&d->lock);
	return dump(ans);
}

static char *handle(struct daemon *d, struct client *c, const char *line, size_t len)
{
	json_error_t je;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	const char *op = json_string_value(json_object_get(req, "op"));
	char *ans;
	if (!req)
		ans = refuse(d, "not JSON");
	else if (!json_is_object(req))
		ans = refuse(d, "a request is a JSON object");
	else if (!op)
		ans = refuse(d, "'op' must be a string: status, load or verify");
	else if (!strcmp(op, "status"))
		ans = do_status(d);
	else if (!strcmp(op, "load") || !strcmp(op, "verify"))
		ans = start_load(d, c, req, !strcmp(op, "verify"));
	else
		ans = refuse(d, "unknown op: use status, load or verify");
	json_decref(req);
	return ans;
}

/* ---- the loop -------------------------------------------------------------------- */

/* Its queued load is dropped and a running one cancelled; the job itself
 * is freed when the worker hands it back. */
static void drop(struct daemon *d, struct client *c)
{
	if (c->job) {
		atomic_store(&c->job->cancel, true);
		pthread_mutex_lock(&d->lock);
		pthread_cond_broadcast(&d->budget);
		pthread_mutex_unlock(&d->lock);
		c->job = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->eof = false;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = 0;
}

/* A client that sent its last request is closed once it has every answer. */
static void done_if_eof(struct daemon *d, struct client *c)
{
	if (c->fd >= 0 && c->eof && !c->job && !c->out_len)
		drop(d, c);
}

/* Answers every complete line while no load of the client's is pending
 * (answers keep the requests' order); a line longer than MAX_LINE is refused
 * and the connection closed, since its end cannot be found safely. */
static void serve(struct daemon *d, struct client *c, bool readable)
{
	if (readable) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			drop(d, c);
			return;
		}
		if (n > 0)
			c->len += (size_t)n;
		c->eof = n == 0;
	}
	char *nl;
	while (c->fd >= 0 && !c->job && (nl = memchr(c->buf, '\n', c->len))) {
		size_t line = (size_t)(nl - c->buf);
		count(d, &d->m.requests);
		char *ans = handle(d, c, c->buf, line);
		memmove(c->buf, nl + 1, c->len - line - 1);
		c->len -= line + 1;
		if (ans) {
			reply(d, c, ans);
			update_metrics(d);
		}
	}
	if (c->fd >= 0 && c->len == sizeof c->buf && !c->job) {
		count(d, &d->m.requests);
		reply(d, c, refuse(d, "request longer than 4096 bytes (with its newline)"));
		drop(d, c);
	}
	done_if_eof(d, c);
}

static void finish_jobs(struct daemon *d)
{
	char buf[64];
	while (read(d->wake[0], buf, sizeof buf) > 0) {
	}
	pthread_mutex_lock(&d->lock);
	struct job *j = d->done;
	d->done = NULL;
	pthread_mutex_unlock(&d->lock);
	while (j) {
		struct job *next = j->next;
		struct client *c = &d->clients[j->slot];
		if (!atomic_load(&j->cancel) && c->gen == j->gen && c->job == j) {
			c->job = NULL;
			reply(d, c, j->answer);
			j->answer = NULL;
			if (c->fd >= 0)
				serve(d, c, false);    /* the requests that waited behind the load */
		}
		job_free(j);
		j = next;
	}
}

/* Every pending connection, each wakeup: a burst of connects must not find
 * the backlog full. */
static void accept_clients(struct daemon *d)
{
	for (;;) {
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;   /* EAGAIN: none left; EMFILE and the like: retried next wakeup */
		}
		int i = 0;
		while (i < MAX_CLIENTS && d->clients[i].fd >= 0)
			i++;
		if (i == MAX_CLIENTS) {
			static const char full[] = "{\"ok\":false,\"error\":\"too many clients\"}\n";
			if (send(fd, full, sizeof full - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
				/* it only loses the reason */
			}
			close(fd);
			continue;
		}
		struct client *c = &d->clients[i];
		c->fd = fd;
		c->gen++;
		c->len = 0;
	}
}

static int run(struct daemon *d)
{
	struct pollfd p[MAX_CLIENTS + 2];
	while (!stopping) {
		p[0] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = d->wake[0], .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++) {
			const struct client *c = &d->clients[i];
			/* a client with a load pending is not read (its requests wait),
			 * but is still watched for hanging up */
			short ev = (short)((c->job || c->eof ? 0 : POLLIN) | (c->out_len ? POLLOUT : 0));
			p[i + 2] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (poll(p, MAX_CLIENTS + 2, 1000) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[1].revents & POLLIN)
			finish_jobs(d);
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &d->clients[i];
			short r = p[i + 2].revents;
			if (c->fd < 0 || p[i + 2].fd != c->fd || !r)
				continue;
			if (r & (POLLERR | POLLNVAL) || (r & POLLHUP && !(r & POLLIN))) {
				drop(d, c);
				continue;
			}
			if (r & POLLOUT) {
				flush(d, c);
				done_if_eof(d, c);
			}
			if (c->fd >= 0 && r & POLLIN)
				serve(d, c, true);
		}
		if (p[0].revents & POLLIN)
			accept_clients(d);
	}
	return 0;
}

/* ---- start and stop ----------------------------------------------------------------- */

/* SOCKET.lock, held while the daemon lives: a second daemon on the same
 * socket is refused instead of taking the first one's socket over; the
 * kernel drops the lock of a dead one, whose stale socket is then replaced. */
static int take_lock(struct daemon *d)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s.lock", d->socket_path) >= sizeof path) {
		fprintf(stderr, "tb-stored: socket path too long\n");
		return -1;
	}
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->lock_fd < 0) {
		fprintf(stderr, "tb-stored: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			fprintf(stderr, "tb-stored: another tb-stored serves %s (it holds %s)\n", d->socket_path, path);
		else
			fprintf(stderr, "tb-stored: cannot lock %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int listen_on(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(d->socket_path) >= sizeof sa.sun_path) {
		fprintf(stderr, "tb-stored: socket path too long (at most %zu bytes)\n", sizeof sa.sun_path - 1);
		return -1;
	}
	strcpy(sa.sun_path, d->socket_path);
	if (take_lock(d) < 0)
		return -1;
	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	unlink(d->socket_path); /* a dead daemon's: the lock says none is alive */
	if (d->listen_fd < 0 || bind(d->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    chmod(d->socket_path, 0660) < 0 || listen(d->listen_fd, MAX_CLIENTS) < 0) {
		fprintf(stderr, "tb-stored: cannot listen on %s: %s\n", d->socket_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int start_workers(struct daemon *d)
{
	for (; d->nworkers < WORKERS; d->nworkers++) {
		int rc = pthread_create(&d->workers[d->nworkers], NULL, worker, d);
		if (rc) {
			fprintf(stderr, "tb-stored: cannot start a worker: %s\n", strerror(rc));
			return -1;
		}
	}
	return 0;
}

/* Running loads finish and are answered; queued ones are dropped. */
static void stop_workers(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->work);
	pthread_cond_broadcast(&d->budget);
	pthread_mutex_unlock(&d->lock);
	for (int i = 0; i < d->nworkers; i++)
		pthread_join(d->workers[i], NULL);
	finish_jobs(d);
	for (struct job *j = d->queue, *next; j; j = next) {
		next = j->next;
		job_free(j);
	}
	d->queue = NULL;
}

static int parse_args(int argc, char **argv, struct daemon *d, const char **root)
{
	static const struct option opts[] = {
		{ "socket", required_argument, 0, 's' }, { "root", required_argument, 0, 'r' },
		{ "metrics", required_argument, 0, 'm' }, { "memory", required_argument, 0, 'M' },
		{ "help", no_argument, 0, 'h' }, { 0 },
	};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 's': d->socket_path = optarg; break;
		case 'r': *root = optarg; break;
		case 'm': d->metrics_path = optarg; break;
		case 'M':
			if (!cmd_parse_size(optarg, &d->memory) || d->memory < (1u << 20)) {
				fprintf(stderr, "tb-stored: --memory takes BYTES (K, M or G), at least 1M, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tb-stored: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return -1;
}

/* What would otherwise fail silently later is refused now. */
static int check_setup(struct daemon *d, const char *root)
{
	struct tbs_error err = { 0 };
	if (!realpath(root, d->root) || tbs_root_open(&d->rootdir, d->root, &err) < 0) {
		fprintf(stderr, "tb-stored: --root %s: %s\n", root, err.code ? err.msg : strerror(errno));
		return 2;
	}
	int rc = write_metrics(d);
	if (rc < 0) {
		fprintf(stderr, "tb-stored: --metrics %s: cannot write it: %s\n", d->metrics_path, strerror(-rc));
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct daemon d = { .socket_path = "/run/tb-stored.sock", .memory = DEFAULT_MEMORY,
				   .rootdir = { -1 }, .listen_fd = -1, .lock_fd = -1 };
	const char *root = "/raid";
	int rc = parse_args(argc, argv, &d, &root);
	if (rc >= 0)
		return rc;
	for (int i = 0; i < MAX_CLIENTS; i++)
		d.clients[i].fd = -1;
	d.queue_tail = &d.queue;
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.work, NULL);
	pthread_cond_init(&d.budget, NULL);
	d.started = time(NULL);
	if ((rc = check_setup(&d, root)))
		return rc;
	if (pipe2(d.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		fprintf(stderr, "tb-stored: %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (listen_on(&d) < 0 || start_workers(&d) < 0) {
		stop_workers(&d);
		return 1;
	}
	sd_notifyf(0, "READY=1\nSTATUS=serving %s on %s", d.root, d.socket_path);
	rc = run(&d);
	sd_notify(0, "STOPPING=1");
	close(d.listen_fd);
	unlink(d.socket_path);
	stop_workers(&d);
	for (int i = 0; i < MAX_CLIENTS; i++) {
		flush(&d, &d.clients[i]);
		drop(&d, &d.clients[i]);
	}
	tbs_root_close(&d.rootdir);
	return rc;
}
