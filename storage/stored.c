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
 * One thread serves everything, so a load holds the others until it ends;
 * loads into GPU memory will come with the driver's copy queues. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "storage/tbstore.h"

#define MAX_CLIENTS 32
#define MAX_LINE 4096

struct client {
	int fd;
	size_t len;
	char buf[MAX_LINE];
	atomic_bool busy;       /* a load of its runs on a worker thread */
};

struct metrics {
	uint64_t requests, refused, loads, load_errors, verify_failures, bytes;
	double last_gbps, seconds;
};

struct daemon {
	const char *socket_path, *metrics_path;
	char root[PATH_MAX];
	int listen_fd;
	struct client clients[MAX_CLIENTS];
	struct metrics m;
	pthread_mutex_t lock;   /* the metrics, shared with the workers */
	int wake[2];            /* a worker finished: the loop polls its client again */
	atomic_int workers;
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
		"usage: tb-stored [--socket PATH] [--root DIR] [--metrics FILE]\n"
		"\n"
		"The storage daemon: loads and verifies weight files for local clients over a\n"
		"Unix socket (JSON lines: {\"op\":\"status\"}, {\"op\":\"load\",\"file\":F},\n"
		"{\"op\":\"verify\",\"file\":F}).\n"
		"\n"
		"  --socket PATH   default /run/tb-stored.sock\n"
		"  --root DIR      only files under DIR are served (default /raid)\n"
		"  --metrics FILE  Prometheus textfile, rewritten atomically (default: none)\n");
}

/* ---- metrics -------------------------------------------------------------------- */

/* Written to a temporary file and renamed, so node_exporter never reads half. */
static void write_metrics(const struct daemon *d)
{
	if (!d->metrics_path)
		return;
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof tmp, "%s.%d.tmp", d->metrics_path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
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
		"# HELP tb_stored_verify_failures_total Loads whose checksums did not match.\n"
		"# TYPE tb_stored_verify_failures_total counter\ntb_stored_verify_failures_total %llu\n"
		"# HELP tb_stored_read_bytes_total Bytes read from storage.\n# TYPE tb_stored_read_bytes_total counter\n"
		"tb_stored_read_bytes_total %llu\n"
		"# HELP tb_stored_last_load_gb_per_s Throughput of the last load.\n"
		"# TYPE tb_stored_last_load_gb_per_s gauge\ntb_stored_last_load_gb_per_s %.3f\n",
		(unsigned long long)m->requests, (unsigned long long)m->refused, (unsigned long long)m->loads,
		(unsigned long long)m->load_errors, (unsigned long long)m->verify_failures,
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
	}
	bool bad = ferror(f) != 0;
	if (fclose(f) || bad || rename(tmp, d->metrics_path))
		unlink(tmp);
}

/* ---- requests ------------------------------------------------------------------- */

static json_t *refuse(struct daemon *d, const char *why)
{
	pthread_mutex_lock(&d->lock);
	d->m.refused++;
	pthread_mutex_unlock(&d->lock);
	return json_pack("{s:b,s:s}", "ok", 0, "error", why);
}

/* The file must exist and resolve (symlinks followed) to a path under root. */
static bool under_root(const struct daemon *d, const char *file, char *real)
{
	if (!realpath(file, real))
		return false;
	size_t n = strlen(d->root);
	return !strcmp(d->root, "/") || (!strncmp(real, d->root, n) && real[n] == '/');
}

static json_t *do_load(struct daemon *d, json_t *req, bool verify)
{
	json_t *file = json_object_get(req, "file"), *v = json_object_get(req, "verify");
	if (!json_is_string(file))
		return refuse(d, "'file' must be a string");
	if (v && !json_is_boolean(v))
		return refuse(d, "'verify' must be true or false");
	verify = verify || json_is_true(v);
	char real[PATH_MAX];
	if (!under_root(d, json_string_value(file), real))
		return refuse(d, "no such file under the daemon's root");
	struct tbs_load_opts o = { .target = TBS_TO_NULL, .verify = verify };
	struct tbs_load_result res;
	struct tbs_error err = { 0 };
	pthread_mutex_lock(&d->lock);
	d->m.loads++;
	pthread_mutex_unlock(&d->lock);
	int rc = tbs_load(real, &o, &res, &err);
	pthread_mutex_lock(&d->lock);
	if (rc < 0) {
		d->m.load_errors++;
		if (err.code == -EBADMSG)
			d->m.verify_failures++;
		pthread_mutex_unlock(&d->lock);
		return json_pack("{s:b,s:s}", "ok", 0, "error", err.msg);
	}
	double gbps = res.seconds > 0 ? (double)res.bytes / res.seconds / 1e9 : 0;
	d->m.bytes += res.bytes;
	d->m.last_gbps = gbps;
	pthread_mutex_unlock(&d->lock);
	json_t *ans = json_pack("{s:b,s:I,s:f,s:f,s:b,s:I}", "ok", 1, "bytes", (json_int_t)res.bytes, "seconds",
				res.seconds, "gb_per_s", gbps, "verified", res.verified, "tensors",
				(json_int_t)res.st.count);
	tbs_load_result_free(&res);
	return ans;
}

static json_t *do_status(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	json_t *ans = json_pack("{s:b,s:I,s:I,s:I,s:I,s:f,s:s,s:I}", "ok", 1, "uptime_s", (json_int_t)(time(NULL) - d->started),
			 "requests", (json_int_t)d->m.requests, "loads", (json_int_t)d->m.loads, "load_errors",
			 (json_int_t)d->m.load_errors, "last_gb_per_s", d->m.last_gbps, "root", d->root, "loads_running",
			 (json_int_t)atomic_load(&d->workers));
	pthread_mutex_unlock(&d->lock);
	return ans;
}

/* A load runs on a worker thread: a long one does not stop the daemon from
 * answering its other clients.  The client waits for its answer (its next
 * requests are read afterwards). */
struct load_job {
	struct daemon *d;
	struct client *c;
	json_t *req;
	bool verify;
};

static void reply(int fd, json_t *ans);

static void *load_worker(void *arg)
{
	struct load_job *j = arg;
	reply(j->c->fd, do_load(j->d, j->req, j->verify));
	json_decref(j->req);
	pthread_mutex_lock(&j->d->lock);
	write_metrics(j->d);
	pthread_mutex_unlock(&j->d->lock);
	atomic_store(&j->c->busy, false);
	atomic_fetch_sub(&j->d->workers, 1);
	if (write(j->d->wake[1], "x", 1) < 0) {
		/* the loop polls again within its timeout anyway */
	}
	free(j);
	return NULL;
}

/* NULL: the answer comes from the worker. */
static json_t *start_load(struct daemon *d, struct client *c, json_t *req, bool verify)
{
	struct load_job *j = malloc(sizeof *j);
	pthread_t t;
	if (!j)
		return refuse(d, "out of memory");
	*j = (struct load_job){ d, c, json_incref(req), verify };
	atomic_store(&c->busy, true);
	atomic_fetch_add(&d->workers, 1);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &attr, load_worker, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		atomic_store(&c->busy, false);
		atomic_fetch_sub(&d->workers, 1);
		json_decref(j->req);
		free(j);
		return refuse(d, "cannot start a worker");
	}
	return NULL;
}

static json_t *handle(struct daemon *d, struct client *c, const char *line, size_t len)
{
	json_error_t je;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je), *ans;
	const char *op = json_string_value(json_object_get(req, "op"));
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

static void reply(int fd, json_t *ans)
{
	char *s = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
	const char *out = s ? s : "{\"ok\":false,\"error\":\"out of memory\"}";
	size_t n = strlen(out);
	/* Best effort: a client that went away only loses its answer. */
	if (send(fd, out, n, MSG_NOSIGNAL) == (ssize_t)n)
		send(fd, "\n", 1, MSG_NOSIGNAL);
	free(s);
	json_decref(ans);
}

/* ---- the loop -------------------------------------------------------------------- */

static void drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Answers every complete line; a line longer than MAX_LINE is refused and
 * the connection closed, since its end cannot be found safely. */
static void serve(struct daemon *d, struct client *c, bool readable)
{
	if (readable) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (n <= 0) {
			drop(c);
			return;
		}
		c->len += (size_t)n;
	}
	char *nl;
	while (c->fd >= 0 && !atomic_load(&c->busy) && (nl = memchr(c->buf, '\n', c->len))) {
		size_t line = (size_t)(nl - c->buf);
		pthread_mutex_lock(&d->lock);
		d->m.requests++;
		pthread_mutex_unlock(&d->lock);
		json_t *ans = handle(d, c, c->buf, line);
		if (ans)
			reply(c->fd, ans);
		memmove(c->buf, nl + 1, c->len - line - 1);
		c->len -= line + 1;
		pthread_mutex_lock(&d->lock);
		write_metrics(d);
		pthread_mutex_unlock(&d->lock);
	}
	if (c->len == sizeof c->buf && !atomic_load(&c->busy)) {
		pthread_mutex_lock(&d->lock);
		d->m.requests++;
		pthread_mutex_unlock(&d->lock);
		reply(c->fd, refuse(d, "request longer than 4096 bytes"));
		drop(c);
	}
}

static void accept_client(struct daemon *d)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (d->clients[i].fd < 0) {
			d->clients[i].fd = fd;
			d->clients[i].len = 0;
			atomic_store(&d->clients[i].busy, false);
			return;
		}
	reply(fd, json_pack("{s:b,s:s}", "ok", 0, "error", "too many clients"));
	close(fd);
}

static int listen_on(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(d->socket_path) >= sizeof sa.sun_path) {
		fprintf(stderr, "tb-stored: socket path too long\n");
		return -1;
	}
	strcpy(sa.sun_path, d->socket_path);
	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(d->socket_path); /* a stale socket from an earlier run */
	if (d->listen_fd < 0 || bind(d->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    chmod(d->socket_path, 0660) < 0 || listen(d->listen_fd, 16) < 0) {
		fprintf(stderr, "tb-stored: cannot listen on %s: %s\n", d->socket_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Busy clients are not polled (their worker owns the answer); when a
 * worker finishes, the wake pipe brings the loop back to their requests. */
static int run(struct daemon *d)
{
	struct pollfd p[MAX_CLIENTS + 2];
	while (!stopping) {
		p[0] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = d->wake[0], .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &d->clients[i];
			p[i + 2] = (struct pollfd){ .fd = atomic_load(&c->busy) ? -1 : c->fd, .events = POLLIN };
		}
		if (poll(p, MAX_CLIENTS + 2, 1000) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[1].revents & POLLIN) {
			char buf[64];
			if (read(d->wake[0], buf, sizeof buf) < 0) {
				/* nothing to drain */
			}
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &d->clients[i];
			if (c->fd >= 0 && !atomic_load(&c->busy) && (p[i + 2].revents || c->len))
				serve(d, c, p[i + 2].revents != 0);
		}
		if (p[0].revents & POLLIN)
			accept_client(d);
	}
	/* let running loads answer before the daemon goes */
	for (int i = 0; i < 600 && atomic_load(&d->workers); i++)
		usleep(100 * 1000);
	return 0;
}

int main(int argc, char **argv)
{
	static struct daemon d = { .socket_path = "/run/tb-stored.sock" };
	const char *root = "/raid";
	static const struct option opts[] = {
		{ "socket", required_argument, 0, 's' }, { "root", required_argument, 0, 'r' },
		{ "metrics", required_argument, 0, 'm' }, { "help", no_argument, 0, 'h' }, { 0 },
	};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 's': d.socket_path = optarg; break;
		case 'r': root = optarg; break;
		case 'm': d.metrics_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !realpath(root, d.root)) {
		fprintf(stderr, "tb-stored: %s\n", optind != argc ? "unexpected argument" : "the root directory does not exist");
		return 2;
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		d.clients[i].fd = -1;
	pthread_mutex_init(&d.lock, NULL);
	if (pipe2(d.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		fprintf(stderr, "tb-stored: %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	d.started = time(NULL);
	if (listen_on(&d) < 0)
		return 1;
	write_metrics(&d);
	sd_notifyf(0, "READY=1\nSTATUS=serving %s on %s", d.root, d.socket_path);
	int rc = run(&d);
	sd_notify(0, "STOPPING=1");
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (d.clients[i].fd >= 0)
			drop(&d.clients[i]);
	close(d.listen_fd);
	unlink(d.socket_path);
	return rc;
}
