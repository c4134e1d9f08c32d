/* tb-inferd (and tb serve, the same program in the foreground): an
 * OpenAI-compatible HTTP server for one model on the box's GPUs.
 *
 *   tb-inferd [--config FILE] [MODEL] [--KEY VALUE ...] [--check]
 *   tb-inferd keygen --api_keys FILE [--name NAME]
 *
 * Every config key is also an option (--api_keys or --api-keys).  The
 * listeners are bound first (a port of 0 takes a free one; port_file says
 * which), then the generation thread loads the model while /health
 * answers 503 with the progress; READY=1 goes to systemd after a warm-up. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "infer/server/server.h"

#define DEFAULT_CONFIG "/etc/tb/inferd.conf"
#define MAX_PEM (1 << 20)
#define LISTEN_BACKLOG 128

static const char usage[] =
	"usage: %s [--config FILE] [MODEL] [--KEY VALUE ...] [--check]\n"
	"       %s keygen --api_keys FILE [--name NAME]\n"
	"An OpenAI-compatible server (/v1/chat/completions, /v1/completions, /v1/models, /health, /metrics)\n"
	"for one model.  Keys (config file " DEFAULT_CONFIG ", [inferd] section, or --KEY VALUE):\n"
	"  model gpus context kernels verify hang_timeout_ms\n"
	"  listen (ADDR:PORT,...; default 127.0.0.1:8000) unix_socket (default /run/tb-inferd/inferd.sock)\n"
	"  tls_cert tls_key api_keys (needed by any listener off loopback) open_health cors_origins\n"
	"  queue max_body max_depth max_messages max_chars max_connections per_ip_connections\n"
	"  connection_timeout request_timeout port_file\n"
	"--check: validate the config and exit.  keygen: print a new API key once and store its hash.\n";

static int read_pem(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	char *b = malloc(MAX_PEM + 1);
	size_t n = b ? fread(b, 1, MAX_PEM + 1, f) : 0;
	fclose(f);
	if (!b || n == 0 || n > MAX_PEM) {
		snprintf(err, errlen, "%s: %s", path, !b ? "out of memory" : n ? "over 1 MiB" : "empty");
		free(b);
		return -EINVAL;
	}
	b[n] = '\0';
	*out = b;
	return 0;
}

/* "ADDR:PORT" to a bound, listening socket; its real address into name */
static int bind_tcp(const char *spec, char *name, size_t namelen, char *err, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	size_t hl = (size_t)(colon - spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	int port = atoi(colon + 1);
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	bool v6 = host[0] == '[';
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		host[hl - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host + 1, &a->sin6_addr);
		sl = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &a->sin_addr);
		sl = sizeof *a;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) ||
	    bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, LISTEN_BACKLOG) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		snprintf(err, errlen, "listen %s: %s%s", spec, strerror(errno),
			 errno == EADDRINUSE ? " (another tb-inferd, or another program, listens there)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
	snprintf(name, namelen, "%.*s:%d", (int)hl, spec, port);
	return fd;
}

/* PATH.lock, held for the daemon's life (the descriptor is never closed):
 * a second daemon on the same socket is refused and the first keeps it;
 * the kernel drops a dead daemon's lock, and its stale socket is replaced. */
static int lock_unix(const char *path, char *err, size_t errlen)
{
	char lock[sizeof ((struct sockaddr_un *)0)->sun_path + 8];
	snprintf(lock, sizeof lock, "%s.lock", path);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (fd >= 0 && errno == EWOULDBLOCK)
		snprintf(err, errlen, "unix_socket %s: another tb-inferd serves it (it holds %s)", path, lock);
	else
		snprintf(err, errlen, "unix_socket %s: %s: %s", path, lock, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int bind_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	char dir[sizeof a.sun_path];
	snprintf(dir, sizeof dir, "%s", path);
	mkdir(dirname(dir), 0755);	/* /run/tb-inferd when systemd did not make it */
	if (lock_unix(path, err, errlen))
		return -1;
	/* a socket left by a dead daemon (the lock says none lives); anything else at the path stays */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(0117);	/* rw for the owner and the group */
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc || listen(fd, LISTEN_BACKLOG)) {
		snprintf(err, errlen, "unix_socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct runtime {
	struct server s;
	struct listener l[INFERD_MAX_LISTEN + 1];
	int nl;
	char probe_unix[108];		/* where the watchdog asks /health over plain HTTP */
	char probe_tcp[140];
};

/* One GET /health over a plain listener answered (any status): the HTTP
 * side is alive. */
static bool probe_http(const struct runtime *rt)
{
	int fd = -1;
	if (rt->probe_unix[0]) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		snprintf(a.sun_path, sizeof a.sun_path, "%s", rt->probe_unix);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a)) {
			close(fd);
			fd = -1;
		}
	} else if (rt->probe_tcp[0]) {
		const char *colon = strrchr(rt->probe_tcp, ':');
		char host[64];
		snprintf(host, sizeof host, "%.*s", (int)(colon - rt->probe_tcp), rt->probe_tcp);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
		inet_pton(AF_INET, host, &a.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a)) {
			close(fd);
			fd = -1;
		}
	} else {
		return true;	/* TLS listeners only: the generation thread alone is watched */
	}
	if (fd < 0)
		return false;
	static const char req[] = "GET /health HTTP/1.0\r\n\r\n";
	char buf[16] = { 0 };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	bool ok = write(fd, req, sizeof req - 1) == sizeof req - 1 && poll(&p, 1, 2000) == 1 &&
		  read(fd, buf, sizeof buf - 1) >= 7 && !strncmp(buf, "HTTP/1.", 7);
	close(fd);
	return ok;
}

/* WATCHDOG=1 only while both the generation thread and the HTTP side
 * have shown life within half the watchdog period. */
static void *watchdog_main(void *arg)
{
	struct runtime *rt = arg;
	uint64_t usec;
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return NULL;
	long long half = (long long)usec * 500;
	while (!atomic_load(&rt->s.stopping)) {
		if (probe_http(rt))
			atomic_store(&rt->s.http_alive_ns, inferd_now_ns());
		long long now = inferd_now_ns();
		if (now - (long long)atomic_load(&rt->s.gen_alive_ns) < half &&
		    now - (long long)atomic_load(&rt->s.http_alive_ns) < half)
			sd_notify(0, "WATCHDOG=1");
		usleep((useconds_t)(usec / 4));
	}
	return NULL;
}

static int write_port_file(const struct runtime *rt, const char *path)
{
	char tmp[1100];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (int i = 0; i < rt->nl; i++)
		fprintf(f, "%s %s\n", rt->l[i].network ? "https" : "http", rt->l[i].name);
	return fclose(f) || rename(tmp, path) ? -errno : 0;
}

/* --api-keys or --api_keys to the config's key name */
static void key_name(const char *opt, char *out, size_t len)
{
	snprintf(out, len, "%s", opt + 2);
	for (char *p = out; *p; p++)
		if (*p == '-')
			*p = '_';
}

static int keygen(const char *cmd, int argc, char **argv)
{
	const char *path = NULL, *name = "key";
	for (int i = 1; i < argc; i++) {
		char k[64];
		key_name(argv[i], k, sizeof k);
		if (i + 1 < argc && !strncmp(argv[i], "--", 2) && !strcmp(k, "api_keys"))
			path = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--name"))
			name = argv[++i];
		else {
			fprintf(stderr, "%s keygen: unknown argument '%s'\n", cmd, argv[i]);
			return 2;
		}
	}
	if (!path || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") != strlen(name)) {
		fprintf(stderr, "%s keygen: --api_keys FILE is needed; --name takes letters, digits and ._-@\n", cmd);
		return 2;
	}
	char key[128], err[600];
	if (inferd_keygen(path, name, key, sizeof key, err, sizeof err)) {
		fprintf(stderr, "%s keygen: %s\n", cmd, err);
		return 1;
	}
	printf("%s\n", key);
	fprintf(stderr, "%s keygen: the key above is shown once; its hash is in %s\n", cmd, path);
	return 0;
}

/* defaults, then the file, then the command line */
static int configure(const char *cmd, int argc, char **argv, struct inferd_config *c, bool *check)
{
	char err[1200];
	const char *conf = NULL;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--config"))
			conf = argv[i + 1];
	inferd_config_defaults(c);
	if (inferd_config_load(c, conf ? conf : DEFAULT_CONFIG, conf != NULL, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return 2;
	}
	*check = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--config")) {
			i++;
			continue;
		}
		if (!strcmp(a, "--check")) {
			*check = true;
			continue;
		}
		if (strncmp(a, "--", 2)) {
			if (inferd_config_set(c, "model", a, "MODEL", err, sizeof err)) {
				fprintf(stderr, "%s: %s\n", cmd, err);
				return 2;
			}
			continue;
		}
		char key[64];
		key_name(a, key, sizeof key);
		char *eq = strchr(key, '=');
		const char *val = eq ? strchr(a, '=') + 1 : i + 1 < argc ? argv[++i] : NULL;
		if (eq)
			*eq = '\0';
		if (!val) {
			fprintf(stderr, "%s: option '%s' needs a value\n", cmd, a);
			return 2;
		}
		char where[80];
		snprintf(where, sizeof where, "--%s", key);
		if (inferd_config_set(c, key, val, where, err, sizeof err)) {
			fprintf(stderr, "%s: %s (%s --help)\n", cmd, err, cmd);
			return 2;
		}
	}
	if (inferd_config_check(c, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return 2;
	}
	return 0;
}

/* the kernels next to the program: BIN/../share/tb/infer.co */
static void default_kernels(struct inferd_config *c)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (c->kernels[0] || n <= 0)
		return;
	self[n] = '\0';
	char *dir = dirname(self);
	const char *const rel[] = { "/../share/tb/infer.co", "/../../share/tb/infer.co" };
	for (size_t i = 0; i < 2; i++) {
		char p[PATH_MAX + 32];
		snprintf(p, sizeof p, "%s%s", dir, rel[i]);
		if (access(p, R_OK) == 0 && strlen(p) < sizeof c->kernels) {
			snprintf(c->kernels, sizeof c->kernels, "%s", p);
			return;
		}
	}
}

static int open_listeners(struct runtime *rt, char *err, size_t errlen)
{
	const struct inferd_config *c = &rt->s.cfg;
	for (int i = 0; i < c->nlisten; i++) {
		struct listener *l = &rt->l[rt->nl];
		l->network = !inferd_addr_is_loopback(c->listen[i]);
		l->fd = bind_tcp(c->listen[i], l->name, sizeof l->name, err, errlen);
		if (l->fd < 0)
			return -1;
		if (!l->network && !rt->probe_tcp[0] && c->listen[i][0] != '[')
			snprintf(rt->probe_tcp, sizeof rt->probe_tcp, "%s", l->name);
		rt->nl++;
	}
	if (c->unix_socket[0]) {
		struct listener *l = &rt->l[rt->nl];
		if ((l->fd = bind_unix(c->unix_socket, err, errlen)) < 0)
			return -1;
		snprintf(l->name, sizeof l->name, "unix:%s", c->unix_socket);
		snprintf(rt->probe_unix, sizeof rt->probe_unix, "%s", c->unix_socket);
		rt->nl++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argv[0][0] == 't' && strchr(argv[0], ' ') ? argv[0] : "tb-inferd";
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help")) {
			printf(usage, cmd, cmd);
			return 0;
		}
	if (argc > 1 && !strcmp(argv[1], "keygen"))
		return keygen(cmd, argc - 1, argv + 1);
	static struct runtime rt;
	struct server *s = &rt.s;
	bool check;
	int rc = configure(cmd, argc, argv, &s->cfg, &check);
	if (rc)
		return rc;
	default_kernels(&s->cfg);
	char err[1200];
	char *cert = NULL, *key = NULL;
	if (s->cfg.tls_cert[0] &&
	    (read_pem(s->cfg.tls_cert, &cert, err, sizeof err) || read_pem(s->cfg.tls_key, &key, err, sizeof err))) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return 2;
	}
	if (s->cfg.api_keys[0] && inferd_keys_load(s->cfg.api_keys, &s->keys, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return 2;
	}
	if (check) {
		printf("%s: the config is valid\n", cmd);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);	/* every thread; main waits for them */

	/* a waiting writer (a new or dead engine) goes before new readers */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->engine_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->status_lock, NULL);
	inferd_cond_init(&s->work);
	atomic_store(&s->gen_alive_ns, inferd_now_ns());
	atomic_store(&s->http_alive_ns, inferd_now_ns());
	snprintf(s->reason, sizeof s->reason, "loading %s", s->cfg.model);

	if (open_listeners(&rt, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return 1;
	}
	for (int i = 0; i < rt.nl; i++)
		if (inferd_http_start(s, &rt.l[i], cert, key, err, sizeof err)) {
			fprintf(stderr, "%s: %s\n", cmd, err);
			return 1;
		}
	for (int i = 0; i < rt.nl; i++)
		fprintf(stderr, "%s: listening on %s (%s)\n", cmd, rt.l[i].name,
			rt.l[i].network ? "HTTPS, API keys" : "HTTP");
	if (s->cfg.port_file[0] && write_port_file(&rt, s->cfg.port_file)) {
		fprintf(stderr, "%s: port_file %s: %s\n", cmd, s->cfg.port_file, strerror(errno));
		return 1;
	}
	pthread_t gen, wd;
	pthread_create(&gen, NULL, inferd_gen_main, s);
	pthread_create(&wd, NULL, watchdog_main, &rt);
	int sig;
	sigwait(&sigs, &sig);
	sd_notify(0, "STOPPING=1");
	fprintf(stderr, "%s: stopping (%s)\n", cmd, strsignal(sig));
	atomic_store(&s->stopping, true);
	pthread_mutex_lock(&s->lock);
	for (struct job *j = s->head; j; j = j->next)
		atomic_store(&j->cancel, true);
	if (s->active)
		atomic_store(&s->active->cancel, true);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	pthread_join(gen, NULL);
	/* what the generation thread left: answered, so no handler waits on */
	pthread_mutex_lock(&s->lock);
	for (struct job *j = s->head; j; j = j->next) {
		j->status = 503;
		j->done = true;
		pthread_cond_broadcast(&j->cond);
	}
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < rt.nl; i++)
		inferd_http_stop(&rt.l[i]);
	pthread_join(wd, NULL);
	if (s->cfg.unix_socket[0])
		unlink(s->cfg.unix_socket);
	free(cert);
	free(key);
	return 0;
}
