/* The system as the steps see it: paths under the target root, the real
 * tools run with their output logged, and files written atomically. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "installer/setup.h"
#include "installer/internal.h"

extern char **environ;

int setup_path(const struct setup *s, const char *path, char *out, size_t len)
{
	if (path[0] != '/')
		return -EINVAL;
	if ((size_t)snprintf(out, len, "%s%s", s->root, path) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void log_line(struct setup *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_line(struct setup *s, const char *fmt, ...)
{
	if (s->log_fd < 0)
		return;
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0 && write(s->log_fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1) < 0)
		s->log_fd = -1; /* a log we cannot write is dropped, the run goes on */
}

static void format_argv(const char *const argv[], char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; argv[i] && n + 1 < len; i++) {
		int w = snprintf(out + n, len - n, "%s%s", i ? " " : "", argv[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* Keep the last bytes a tool printed: its error is usually there. */
struct tail {
	char buf[400];
	size_t len;
};

static void tail_add(struct tail *t, const char *p, size_t n)
{
	if (n >= sizeof t->buf - 1) {
		p += n - (sizeof t->buf - 1);
		n = sizeof t->buf - 1;
	}
	if (t->len + n > sizeof t->buf - 1) {
		size_t drop = t->len + n - (sizeof t->buf - 1);
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

/* Spawn argv with stdin from /dev/null and stdout (and stderr when
 * merge_stderr) into a pipe.  The child's pid and the pipe's read end. */
static int spawn_piped(const char *const argv[], int stderr_fd, pid_t *pid, int *out)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	if (stderr_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, stderr_fd == 1 ? p[1] : stderr_fd, 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawnp(pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc) {
		close(p[0]);
		return -rc;
	}
	*out = p[0];
	return 0;
}

/* Read the pipe until the child closes it or the deadline passes; each
 * chunk goes to sink.  -ETIMEDOUT when the deadline passed (the child is
 * killed). */
static int drain(struct setup *s, pid_t pid, int fd, void (*sink)(void *, const char *, size_t), void *arg)
{
	long long deadline = now_ms() + (long long)s->command_timeout_s * 1000;
	char buf[4096];
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0) {
			kill(pid, SIGKILL);
			return -ETIMEDOUT;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		ssize_t got = read(fd, buf, sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return 0;
		sink(arg, buf, (size_t)got);
	}
}

static int reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

struct exec_sink {
	struct setup *s;
	struct tail tail;
};

static void exec_sink(void *arg, const char *p, size_t n)
{
	struct exec_sink *e = arg;
	if (e->s->log_fd >= 0 && write(e->s->log_fd, p, n) < 0)
		e->s->log_fd = -1;
	tail_add(&e->tail, p, n);
}

int setup_exec(struct setup *s, struct step_run *r, const char *const argv[])
{
	char cmd[1024];
	format_argv(argv, cmd, sizeof cmd);
	if (s->plan) {
		snprintf(r->msg, sizeof r->msg, "internal error: '%s' in a plan", cmd);
		return -EPERM;
	}
	log_line(s, "+ %s\n", cmd);
	pid_t pid;
	int fd, rc = spawn_piped(argv, 1, &pid, &fd);
	if (rc < 0) {
		snprintf(r->msg, sizeof r->msg, "cannot run %s: %s", argv[0], strerror(-rc));
		return rc;
	}
	struct exec_sink e = { .s = s };
	int drained = drain(s, pid, fd, exec_sink, &e);
	close(fd);
	int status = reap(pid);
	if (drained == -ETIMEDOUT) {
		log_line(s, "! %s: killed after %u s\n", cmd, s->command_timeout_s);
		snprintf(r->msg, sizeof r->msg, "%s: no answer in %u s (killed)", cmd, s->command_timeout_s);
		return -ETIMEDOUT;
	}
	if (status != 0) {
		log_line(s, "! %s: exit status %d\n", cmd, status);
		snprintf(r->msg, sizeof r->msg, "%s: exit status %d: %s", cmd, status, e.tail.buf);
		/* one line: the tool's last words, without the trailing newline */
		size_t n = strlen(r->msg);
		while (n && (r->msg[n - 1] == '\n' || r->msg[n - 1] == ' '))
			r->msg[--n] = '\0';
		for (char *c = r->msg; *c; c++)
			if (*c == '\n')
				*c = ' ';
	}
	return status;
}

struct capture_sink {
	char *out;
	size_t cap, len;
	bool truncated;
};

static void capture_sink(void *arg, const char *p, size_t n)
{
	struct capture_sink *c = arg;
	size_t room = c->cap - 1 - c->len;
	if (n > room) {
		n = room;
		c->truncated = true;
	}
	memcpy(c->out + c->len, p, n);
	c->len += n;
	c->out[c->len] = '\0';
}

static int capture(struct setup *s, const char *const argv[], char *out, size_t cap, int stderr_fd)
{
	if (cap == 0)
		return -EINVAL;
	out[0] = '\0';
	pid_t pid;
	int fd, rc = spawn_piped(argv, stderr_fd, &pid, &fd);
	if (rc < 0)
		return rc;
	struct capture_sink c = { .out = out, .cap = cap };
	int drained = drain(s, pid, fd, capture_sink, &c);
	close(fd);
	int status = reap(pid);
	if (drained < 0)
		return drained;
	if (c.truncated)
		return -EFBIG;
	return status;
}

int setup_capture(struct setup *s, const char *const argv[], char *out, size_t cap)
{
	/* a reading tool's complaints go to the log (or nowhere in a plan),
	 * not to the person's terminal: the step reports what matters */
	return capture(s, argv, out, cap, s->log_fd);
}

int setup_capture_all(struct setup *s, const char *const argv[], char *out, size_t cap)
{
	return capture(s, argv, out, cap, 1);
}

int setup_file_read(const struct setup *s, const char *path, size_t max, char **content, size_t *len)
{
	char full[PATH_MAX];
	int rc = setup_path(s, path, full, sizeof full);
	if (rc < 0)
		return rc;
	int fd = open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	int e = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL : (size_t)st.st_size > max ? -EFBIG : 0;
	if (e < 0) {
		close(fd);
		return e;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	buf[got] = '\0';
	if (strlen(buf) != got) {
		free(buf);
		return -EINVAL; /* a NUL byte: not a text file */
	}
	*content = buf;
	*len = got;
	return 0;
}

static size_t count_lines(const char *p, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += p[i] == '\n';
	return n + (len && p[len - 1] != '\n');
}

/* Lines of a that are not in b (a multiset difference is more than a plan
 * line needs: this counts lines of a absent from b). */
static size_t lines_missing(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t missing = 0;
	for (size_t i = 0; i < alen;) {
		size_t e = i;
		while (e < alen && a[e] != '\n')
			e++;
		bool found = false;
		for (size_t j = 0; j < blen && !found;) {
			size_t f = j;
			while (f < blen && b[f] != '\n')
				f++;
			found = f - j == e - i && !memcmp(a + i, b + j, e - i);
			j = f + 1;
		}
		missing += !found;
		i = e + 1;
	}
	return missing;
}

int setup_file_want(struct setup *s, struct step_run *r, const char *path, const char *content, size_t len,
		    mode_t mode)
{
	char full[PATH_MAX];
	int rc = setup_path(s, path, full, sizeof full);
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "%s: the path is too long under the root", path);
	char *have;
	size_t hlen;
	rc = setup_file_read(s, path, SETUP_MAX_FILE, &have, &hlen);
	if (rc == -ENOENT) {
		step_action(r, "create %s (%zu lines, mode %04o)", path, count_lines(content, len), (unsigned)mode);
		return 0;
	}
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "%s: %s", path,
				 rc == -EINVAL ? "not a regular text file" : strerror(-rc));
	if (hlen != len || memcmp(have, content, len))
		step_action(r, "update %s (+%zu -%zu lines)", path, lines_missing(content, len, have, hlen),
			    lines_missing(have, hlen, content, len));
	free(have);
	struct stat st;
	if (stat(full, &st) == 0 && (st.st_mode & 07777) != mode)
		step_action(r, "chmod %04o %s (was %04o)", (unsigned)mode, path, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* mkdir -p of path's directories below the root (each 0755). */
int setup_make_parents(const struct setup *s, const char *path)
{
	char dir[PATH_MAX];
	if (setup_path(s, path, dir, sizeof dir) < 0)
		return -ENAMETOOLONG;
	size_t skip = strlen(s->root);
	for (char *p = dir + skip + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int setup_write_atomic(const char *full, const char *content, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(full, '/');
	if (!slash || (size_t)snprintf(tmp, sizeof tmp, "%.*s/.%s.tb-setup.XXXXXX", (int)(slash - full), full,
				       slash + 1) >= sizeof tmp)
		return -ENAMETOOLONG;
	snprintf(dir, sizeof dir, "%.*s", slash == full ? 1 : (int)(slash - full), full);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = write_all(fd, content, len);
	if (!rc && fchmod(fd, mode) < 0)
		rc = -errno;
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, full) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd); /* the rename itself survives a power cut */
		close(dfd);
	}
	return 0;
}

int setup_file_write(struct setup *s, struct step_run *r, const char *path, const char *content, size_t len,
		     mode_t mode)
{
	char full[PATH_MAX];
	if (s->plan)
		return step_fail(r, SETUP_FAILED, "internal error: writing %s in a plan", path);
	int rc = setup_path(s, path, full, sizeof full);
	if (!rc)
		rc = setup_make_parents(s, path);
	if (!rc)
		rc = setup_write_atomic(full, content, len, mode);
	if (rc < 0)
		return step_fail(r, SETUP_FAILED, "cannot write %s: %s", full, strerror(-rc));
	log_line(s, "+ wrote %s (%zu bytes, mode %04o)\n", path, len, (unsigned)mode);
	return 0;
}

int setup_tb_command(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	/* this program is PREFIX/libexec/tb/tb-setup; the front end PREFIX/bin/tb */
	if ((size_t)snprintf(out, len, "%s/../../bin/tb", self) >= len)
		return -ENAMETOOLONG;
	return access(out, X_OK) == 0 ? 0 : -errno;
}
