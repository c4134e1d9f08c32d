/* libtbsim-preload.so: the simulated kernel's side inside a process.
 *
 * `tb sim run` preloads it into the programs it runs.  It makes the box's
 * device files behave as the kernel's would: open() of /dev/kfd or a DRM
 * node returns a descriptor connected to tb-simd, ioctl() and mmap() on it
 * are served by the daemon, stat() reports character devices.  Every other
 * file and call passes straight through.  Nothing in the program knows.
 *
 * It is built without sanitizers (it is loaded into programs that have
 * none) and must not crash its host: user pointers are read with
 * process_vm_readv so that a bad one gives EFAULT, as in the kernel. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sim/box/box.h"
#include "sim/box/proto.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_FDS 65536

/* ---- the real functions ------------------------------------------------------ */

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_fcntl)(int, int, ...);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fstat)(int, struct stat *);
static int (*real_stat)(const char *, struct stat *);
static int (*real_lstat)(const char *, struct stat *);
static int (*real_fstatat)(int, const char *, struct stat *, int);
static int (*real_statx)(int, const char *, int, unsigned, struct statx *);
static ssize_t (*real_write)(int, const void *, size_t);

static void resolve(void)
{
	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_close = dlsym(RTLD_NEXT, "close");
	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	real_mmap = dlsym(RTLD_NEXT, "mmap");
	real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	real_dup = dlsym(RTLD_NEXT, "dup");
	real_dup2 = dlsym(RTLD_NEXT, "dup2");
	real_dup3 = dlsym(RTLD_NEXT, "dup3");
	real_fstat = dlsym(RTLD_NEXT, "fstat");
	real_stat = dlsym(RTLD_NEXT, "stat");
	real_lstat = dlsym(RTLD_NEXT, "lstat");
	real_fstatat = dlsym(RTLD_NEXT, "fstatat");
	real_statx = dlsym(RTLD_NEXT, "statx");
	real_write = dlsym(RTLD_NEXT, "write");
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char socket_dir[4096];

/* Where the daemon listens.  A sanitizer runtime may call into us before
 * libc has set up the environment: then it is looked up again later. */
static void find_socket_dir(void)
{
	if (socket_dir[0])
		return;
	const char *d = getenv("TB_SIM_SOCKET_DIR");
	if (d && strlen(d) < sizeof socket_dir)
		memcpy(socket_dir, d, strlen(d) + 1);
}

static void init(void)
{
	resolve();
	find_socket_dir();
	/* let the daemon read and write our memory (the kernel's copy_*_user) */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
}

#define INIT() pthread_once(&once, init)

/* ---- device files --------------------------------------------------------------- */

enum { KIND_NONE, KIND_KFD, KIND_RENDER, KIND_CARD, KIND_ATTR };

/* One connection to the daemon, shared by every duplicate of its descriptor.
 * Requests carry tags: a thread blocked in WAIT_EVENTS must not block
 * another thread's ALLOC on the same file. */
struct chan {
	int sock;
	int kind, minor;
	char *path;			/* KIND_ATTR: the attribute's canonical path */
	uint64_t id;			/* the daemon's name for this open file */
	int refs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool reading;
	bool broken;
	uint32_t next_tag;
	struct pending *pending;
};

struct pending {
	uint32_t tag;
	bool done;
	int err;
	uint8_t *buf;
	size_t len;
	int fd;
	struct pending *next;
};

static pthread_mutex_t fds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chan *fds[MAX_FDS];

static struct chan *chan_of(int fd)
{
	if (fd < 0 || fd >= MAX_FDS)
		return NULL;
	return __atomic_load_n(&fds[fd], __ATOMIC_ACQUIRE);
}

static void chan_put(struct chan *c)
{
	pthread_mutex_lock(&c->lock);
	int left = --c->refs;
	pthread_mutex_unlock(&c->lock);
	if (left == 0) {
		real_close(c->sock);
		free(c->path);
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
		free(c);
	}
}

static void set_fd(int fd, struct chan *c)
{
	if (fd < 0 || fd >= MAX_FDS)
		return;
	pthread_mutex_lock(&fds_lock);
	struct chan *old = fds[fd];
	if (c) {
		pthread_mutex_lock(&c->lock);
		c->refs++;
		pthread_mutex_unlock(&c->lock);
	}
	__atomic_store_n(&fds[fd], c, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&fds_lock);
	if (old)
		chan_put(old);
}

static int device_kind(const char *path, int *minor)
{
	if (!path)
		return KIND_NONE;
	if (!strcmp(path, "/dev/kfd")) {
		*minor = 0;
		return KIND_KFD;
	}
	char extra;
	if (sscanf(path, "/dev/dri/renderD%d%c", minor, &extra) == 1)
		return KIND_RENDER;
	if (sscanf(path, "/dev/dri/card%d%c", minor, &extra) == 1)
		return KIND_CARD;
	return KIND_NONE;
}

/* Send a request and wait for its reply (any thread may read the socket;
 * replies for others are handed over). */
static int chan_call(struct chan *c, void *msg, size_t len, int send_fd, uint8_t **reply, size_t *rlen, int *rfd)
{
	struct pending p = { .fd = -1 };
	pthread_mutex_lock(&c->lock);
	if (c->broken) {
		pthread_mutex_unlock(&c->lock);
		return -ENODEV;
	}
	p.tag = ++c->next_tag;
	*(uint32_t *)((uint8_t *)msg + sizeof(struct sim_hdr)) = p.tag;
	p.next = c->pending;
	c->pending = &p;
	int rc = sim_send(c->sock, msg, len, send_fd);
	if (rc < 0) {
		c->broken = true;
		p.done = true;
		p.err = -ENODEV;
	}
	while (!p.done) {
		if (c->reading) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		c->reading = true;
		pthread_mutex_unlock(&c->lock);
		uint8_t *buf = malloc(SIM_MSG_MAX);
		size_t n = 0;
		int fd = -1;
		rc = buf ? sim_recv(c->sock, buf, SIM_MSG_MAX, &n, &fd) : -ENOMEM;
		pthread_mutex_lock(&c->lock);
		c->reading = false;
		if (rc < 0) {
			free(buf);
			c->broken = true;
			for (struct pending *q = c->pending; q; q = q->next)
				if (!q->done) {
					q->done = true;
					q->err = -ENODEV;	/* the device is gone */
				}
		} else {
			uint32_t tag = *(uint32_t *)(buf + sizeof(struct sim_hdr));
			bool taken = false;
			for (struct pending *q = c->pending; q; q = q->next)
				if (q->tag == tag && !q->done) {
					q->done = true;
					q->buf = buf;
					q->len = n;
					q->fd = fd;
					taken = true;
					break;
				}
			if (!taken) {
				free(buf);
				if (fd >= 0)
					real_close(fd);
			}
		}
		pthread_cond_broadcast(&c->cond);
	}
	for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next)
		if (*pp == &p) {
			*pp = p.next;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	if (p.err) {
		free(p.buf);
		return p.err;
	}
	*reply = p.buf;
	*rlen = p.len;
	if (rfd)
		*rfd = p.fd;
	else if (p.fd >= 0)
		real_close(p.fd);
	return 0;
}

/* Connect to the daemon and say what this file is.  Returns the socket, or
 * -errno (the daemon's answer, or -ENODEV when there is no box). */
static int hello(uint32_t conn_kind, const char *path, int flags, uint64_t *id)
{
	find_socket_dir();
	int s = socket_dir[0] ? sim_connect(socket_dir) : -ENODEV;
	if (s < 0)
		return -ENODEV;
	struct sim_hello h = { .h = { SIM_HELLO, sizeof h - sizeof h.h }, .version = SIM_PROTO_VERSION,
			       .kind = conn_kind, .flags = flags };
	if (strlen(path) >= sizeof h.path) {
		real_close(s);
		return -ENAMETOOLONG;
	}
	memcpy(h.path, path, strlen(path) + 1);
	struct sim_reply r;
	size_t n;
	int fd;
	int rc = sim_send(s, &h, sizeof h, -1);
	if (rc == 0)
		rc = sim_recv(s, &r, sizeof r, &n, &fd);
	if (rc == 0 && fd >= 0)
		real_close(fd);
	if (rc == 0 && (n < sizeof r || r.h.type != SIM_REPLY))
		rc = -EPROTO;
	if (rc == 0)
		rc = r.err;
	if (rc < 0) {
		real_close(s);
		return rc == -EPROTO || rc == -EPIPE ? -ENODEV : rc;
	}
	*id = r.value;
	return s;
}

/* The process's descriptor for a connection: as the kernel's, it may be
 * inherited (no O_CLOEXEC) and lives in the fd table. */
static int install(int s, int flags, int kind, int minor, uint64_t id, const char *path)
{
	if (!(flags & O_CLOEXEC))
		real_fcntl(s, F_SETFD, 0);
	if (s >= MAX_FDS) {
		real_close(s);
		errno = EMFILE;
		return -1;
	}
	struct chan *c = calloc(1, sizeof *c);
	if (!c || (path && !(c->path = strdup(path)))) {
		free(c);
		real_close(s);
		errno = ENOMEM;
		return -1;
	}
	/* the connection talks through a descriptor of its own: the process may
	 * dup2 and close the one it was given (a shell's redirection does),
	 * and the file stays open while any of its descriptors does */
	c->sock = real_fcntl(s, F_DUPFD_CLOEXEC, 900);
	if (c->sock < 0)
		c->sock = real_fcntl(s, F_DUPFD_CLOEXEC, 3);
	if (c->sock < 0) {
		free(c->path);
		free(c);
		real_close(s);
		errno = EMFILE;
		return -1;
	}
	c->kind = kind;
	c->minor = minor;
	c->id = id;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	set_fd(s, c);
	return s;
}

static int open_device(const char *path, int flags, int kind, int minor)
{
	uint64_t id;
	int s = hello(SIM_CONN_DEVICE, path, flags, &id);
	if (s < 0) {
		errno = -s;
		return -1;
	}
	return install(s, flags, kind, minor, id, NULL);
}

/* A write-open of one of the box's sysfs attributes goes to the daemon,
 * which checks and applies each write as the kernel's store function
 * would.  Returns the descriptor, -1 with errno, or -2 when the file is not
 * the box's (the caller opens it itself). */
static int open_attr(const char *path, int flags)
{
	if ((flags & O_ACCMODE) == O_RDONLY || !path)
		return -2;
	char *real = realpath(path, NULL);
	if (!real)
		return -2;
	int rc = -2;
	if (!strncmp(real, "/sys/", 5)) {
		uint64_t id;
		int s = hello(SIM_CONN_ATTR, real, flags, &id);
		if (s >= 0)
			rc = install(s, flags, KIND_ATTR, 0, id, real);
		else if (s != -ENOENT && s != -ENODEV) {
			errno = -s;
			rc = -1;
		}
	}
	free(real);
	return rc;
}

static int open_common(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
	INIT();
	int minor, kind = (dirfd == AT_FDCWD || !at || (path && path[0] == '/')) ? device_kind(path, &minor) : KIND_NONE;
	if (kind != KIND_NONE)
		return open_device(path, flags, kind, minor);
	if ((flags & O_ACCMODE) != O_RDONLY) {
		int fd = open_attr(path, flags);
		if (fd != -2)
			return fd;
	}
	/* the kernel's module list includes the box's drivers (lsmod) */
	if (path && !strcmp(path, "/proc/modules") && (find_socket_dir(), socket_dir[0])) {
		char alt[4200];
		snprintf(alt, sizeof alt, "%s/proc/modules", socket_dir);
		return real_open(alt, flags, mode);
	}
	return at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
}

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_common(AT_FDCWD, path, flags, mode, false);
}

EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_common(AT_FDCWD, path, flags, mode, false);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_common(dirfd, path, flags, mode, true);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_common(dirfd, path, flags, mode, true);
}

/* the fortified entry points and wrappers glibc's headers may route to */
EXPORT int __open_2(const char *path, int flags);
EXPORT int __open64_2(const char *path, int flags);
EXPORT int __openat_2(int dirfd, const char *path, int flags);
EXPORT int __openat64_2(int dirfd, const char *path, int flags);
EXPORT int __fxstat(int ver, int fd, struct stat *st);
EXPORT int __fxstat64(int ver, int fd, struct stat64 *st);
EXPORT int __xstat(int ver, const char *path, struct stat *st);
EXPORT int __xstat64(int ver, const char *path, struct stat64 *st);
EXPORT int __lxstat(int ver, const char *path, struct stat *st);
EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st);
EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
EXPORT int fcntl64(int fd, int cmd, ...);

EXPORT int __open_2(const char *path, int flags) { return open_common(AT_FDCWD, path, flags, 0, false); }
EXPORT int __open64_2(const char *path, int flags) { return open_common(AT_FDCWD, path, flags, 0, false); }
EXPORT int __openat_2(int dirfd, const char *path, int flags) { return open_common(dirfd, path, flags, 0, true); }
EXPORT int __openat64_2(int dirfd, const char *path, int flags) { return open_common(dirfd, path, flags, 0, true); }

static FILE *(*real_fopen)(const char *, const char *);

static ssize_t attr_write(struct chan *c, const void *buf, size_t n);

static ssize_t cookie_write(void *cookie, const char *buf, size_t n)
{
	int fd = (int)(intptr_t)cookie;
	struct chan *c = chan_of(fd);
	return c ? attr_write(c, buf, n) : real_write(fd, buf, n);
}

static int cookie_close(void *cookie)
{
	return close((int)(intptr_t)cookie);
}

/* stdio writes happen inside libc, past our write(): a stream on one of
 * the box's attributes writes through a cookie instead, so that each
 * flush is one store with its error. */
static FILE *fopen_attr(const char *path, const char *mode)
{
	int flags = strchr(mode, '+') ? O_RDWR : O_WRONLY;
	flags |= strchr(mode, 'w') ? O_CREAT | O_TRUNC : strchr(mode, 'a') ? O_CREAT | O_APPEND : 0;
	if (strchr(mode, 'e'))
		flags |= O_CLOEXEC;
	int fd = open_attr(path, flags);
	if (fd == -2)
		return real_fopen(path, mode);
	if (fd < 0)
		return NULL;
	cookie_io_functions_t io = { .write = cookie_write, .close = cookie_close };
	FILE *f = fopencookie((void *)(intptr_t)fd, "w", io);
	if (!f)
		close(fd);
	return f;
}

/* glibc's fopen opens files internally, past our open(): the files the box
 * stands in for by path are redirected here too. */
EXPORT FILE *fopen(const char *path, const char *mode)
{
	INIT();
	if (!real_fopen)
		real_fopen = dlsym(RTLD_NEXT, "fopen");
	if (path && !strcmp(path, "/proc/modules") && (find_socket_dir(), socket_dir[0])) {
		char alt[4200];
		snprintf(alt, sizeof alt, "%s/proc/modules", socket_dir);
		return real_fopen(alt, mode);
	}
	if (mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+')))
		return fopen_attr(path, mode);
	return real_fopen(path, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return fopen(path, mode);
}

/* One write() to an attribute: the daemon's answer is the store's. */
static ssize_t attr_write(struct chan *c, const void *buf, size_t n)
{
	if (n > SIM_MSG_MAX - sizeof(struct sim_write)) {
		errno = EINVAL;
		return -1;
	}
	uint8_t *msg = malloc(sizeof(struct sim_write) + n);
	if (!msg) {
		errno = ENOMEM;
		return -1;
	}
	struct sim_write *w = (struct sim_write *)msg;
	*w = (struct sim_write){ .h = { SIM_WRITE, (uint32_t)(sizeof *w - sizeof w->h + n) }, .len = (uint32_t)n };
	memcpy(msg + sizeof *w, buf, n);
	uint8_t *reply;
	size_t rlen;
	int rc = chan_call(c, msg, sizeof *w + n, -1, &reply, &rlen, NULL);
	free(msg);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	const struct sim_reply *r = (const struct sim_reply *)reply;
	long rv = rlen >= sizeof *r ? (r->err < 0 ? r->err : (long)r->value) : -EPROTO;
	free(reply);
	if (rv < 0) {
		errno = (int)-rv;
		return -1;
	}
	return (ssize_t)rv;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	INIT();
	struct chan *c = chan_of(fd);
	if (c && c->kind == KIND_ATTR)
		return attr_write(c, buf, n);
	return real_write(fd, buf, n);
}

EXPORT int close(int fd)
{
	INIT();
	if (chan_of(fd))
		set_fd(fd, NULL);
	return real_close(fd);
}

/* ---- duplicates ------------------------------------------------------------------------ */

static int dup_result(int old, int fd)
{
	struct chan *c = chan_of(old);
	if (fd >= 0 && c)
		set_fd(fd, c);
	else if (fd >= 0 && chan_of(fd))
		set_fd(fd, NULL);
	return fd;
}

EXPORT int dup(int old)
{
	INIT();
	return dup_result(old, real_dup(old));
}

EXPORT int dup2(int old, int new)
{
	INIT();
	return dup_result(old, real_dup2(old, new));
}

EXPORT int dup3(int old, int new, int flags)
{
	INIT();
	return dup_result(old, real_dup3(old, new, flags));
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	INIT();
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	int rc = real_fcntl(fd, cmd, arg);
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && rc >= 0)
		dup_result(fd, rc);
	return rc;
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

/* ---- stat: the device files are character devices ------------------------------------------- */

static dev_t device_rdev(int kind, int minor)
{
	return kind == KIND_KFD ? makedev(KFD_MAJOR, 0) : makedev(DRM_MAJOR, (unsigned)minor);
}

static void fake_stat(struct stat *st, int kind, int minor)
{
	st->st_mode = S_IFCHR | 0666;
	st->st_rdev = device_rdev(kind, minor);
	st->st_size = 0;
	st->st_blocks = 0;
	st->st_blksize = 4096;
}

EXPORT int fstat(int fd, struct stat *st)
{
	INIT();
	int rc = real_fstat(fd, st);
	struct chan *c = chan_of(fd);
	if (c && c->kind == KIND_ATTR)
		return real_stat(c->path, st);	/* the attribute file itself */
	if (rc == 0 && c)
		fake_stat(st, c->kind, c->minor);
	return rc;
}

EXPORT int fstat64(int fd, struct stat64 *st) { return fstat(fd, (struct stat *)st); }

static int path_stat(bool link, const char *path, struct stat *st)
{
	INIT();
	int rc = (link ? real_lstat : real_stat)(path, st), minor, kind = device_kind(path, &minor);
	if (rc == 0 && kind != KIND_NONE)
		fake_stat(st, kind, minor);
	return rc;
}

EXPORT int stat(const char *path, struct stat *st) { return path_stat(false, path, st); }
EXPORT int stat64(const char *path, struct stat64 *st) { return stat(path, (struct stat *)st); }
EXPORT int lstat(const char *path, struct stat *st) { return path_stat(true, path, st); }
EXPORT int lstat64(const char *path, struct stat64 *st) { return lstat(path, (struct stat *)st); }

/* glibc declares paths nonnull, but a program may pass NULL with
 * AT_EMPTY_PATH: look at it through a function the compiler cannot see into. */
static __attribute__((noinline)) const char *as_given(const char *p)
{
	return p;
}

EXPORT int fstatat(int dirfd, const char *path_arg, struct stat *st, int flags)
{
	INIT();
	const char *path = as_given(path_arg);
	int rc = real_fstatat(dirfd, path, st, flags), minor;
	int kind = path && path[0] == '/' ? device_kind(path, &minor) : KIND_NONE;
	struct chan *c = (flags & AT_EMPTY_PATH) && path && !path[0] ? chan_of(dirfd) : NULL;
	if (rc == 0 && kind != KIND_NONE)
		fake_stat(st, kind, minor);
	else if (rc == 0 && c)
		fake_stat(st, c->kind, c->minor);
	return rc;
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

EXPORT int statx(int dirfd, const char *path_arg, int flags, unsigned mask, struct statx *sx)
{
	INIT();
	const char *path = as_given(path_arg);
	int rc = real_statx(dirfd, path, flags, mask, sx), minor;
	int kind = path && path[0] == '/' ? device_kind(path, &minor) : KIND_NONE;
	struct chan *c = (flags & AT_EMPTY_PATH) && path && !path[0] ? chan_of(dirfd) : NULL;
	if (rc == 0 && c) {
		kind = c->kind;
		minor = c->minor;
	}
	if (rc == 0 && kind != KIND_NONE) {
		sx->stx_mode = S_IFCHR | 0666;
		dev_t d = device_rdev(kind, minor);
		sx->stx_rdev_major = major(d);
		sx->stx_rdev_minor = minor(d);
		sx->stx_size = 0;
		sx->stx_blocks = 0;
	}
	return rc;
}

/* glibc's older stat entry points, still used by binaries built against them */
EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	(void)ver;
	return fstat(fd, st);
}
EXPORT int __fxstat64(int ver, int fd, struct stat64 *st) { return __fxstat(ver, fd, (struct stat *)st); }
EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return stat(path, st);
}
EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	return __xstat(ver, path, (struct stat *)st);
}
EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return lstat(path, st);
}
EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	return __lxstat(ver, path, (struct stat *)st);
}
EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return fstatat(dirfd, path, st, flags);
}
EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	return __fxstatat(ver, dirfd, path, (struct stat *)st, flags);
}

/* ---- ioctl ------------------------------------------------------------------------------------ */

/* Read user memory without faulting the process: EFAULT like the kernel. */
static int read_self(void *dst, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec l = { dst, len }, r = { (void *)src, len };
	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

static int write_self(void *dst, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec l = { (void *)src, len }, r = { dst, len };
	return process_vm_writev(getpid(), &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

/* Userptr memory becomes shared with the daemon: the pages are moved into
 * a memfd mapped at the same address, contents kept.  Ranges already moved
 * are reused, so every registration of a page sees the same memory. */
struct userptr {
	uint64_t addr, size;
	int fd;
	struct userptr *next;
};
static pthread_mutex_t userptr_lock = PTHREAD_MUTEX_INITIALIZER;
static struct userptr *userptrs;

static int share_userptr(uint64_t addr, uint64_t size, int *fd, uint64_t *offset)
{
	long page = sysconf(_SC_PAGESIZE);
	if (!size || (addr | size) & (uint64_t)(page - 1))
		return -EINVAL;
	pthread_mutex_lock(&userptr_lock);
	for (struct userptr *u = userptrs; u; u = u->next)
		if (addr >= u->addr && addr + size <= u->addr + u->size) {
			*fd = u->fd;
			*offset = addr - u->addr;
			pthread_mutex_unlock(&userptr_lock);
			return 0;
		}
	int rc = 0;
	int m = memfd_create("tb-sim-userptr", MFD_CLOEXEC);
	if (m < 0 || ftruncate(m, (off_t)size) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	void *tmp = real_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	if (tmp == MAP_FAILED) {
		rc = -ENOMEM;
		goto out;
	}
	rc = read_self(tmp, (void *)(uintptr_t)addr, size);
	munmap(tmp, size);
	if (rc == 0 && real_mmap((void *)(uintptr_t)addr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, m, 0) ==
			       MAP_FAILED)
		rc = -EFAULT;
	if (rc == 0) {
		struct userptr *u = malloc(sizeof *u);
		if (!u) {
			rc = -ENOMEM;
			goto out;
		}
		*u = (struct userptr){ addr, size, m, userptrs };
		userptrs = u;
		*fd = m;
		*offset = 0;
		m = -1;
	}
out:
	if (m >= 0)
		real_close(m);
	pthread_mutex_unlock(&userptr_lock);
	return rc;
}

static long device_ioctl(struct chan *c, unsigned long req, void *arg)
{
	uint32_t size = _IOC_SIZE(req), dir = _IOC_DIR(req);
	struct {
		struct sim_ioctl m;
		uint8_t data[SIM_MSG_MAX - sizeof(struct sim_ioctl)];
	} msg;
	if (size > sizeof msg.data)
		return -EINVAL;
	memset(&msg.m, 0, sizeof msg.m);
	msg.m.h.type = SIM_IOCTL;
	msg.m.h.len = (uint32_t)(sizeof msg.m - sizeof msg.m.h + size);
	msg.m.request = req;
	msg.m.arg = (uint64_t)(uintptr_t)arg;
	msg.m.size = size;
	if (size && read_self(msg.data, arg, size) < 0)
		return -EFAULT;
	int send_fd = -1;
	if (c->kind == KIND_KFD && req == AMDKFD_IOC_ACQUIRE_VM) {
		/* the DRM file named by descriptor is one of ours: name it by id */
		struct kfd_ioctl_acquire_vm_args *a = (void *)msg.data;
		struct chan *d = chan_of((int)a->drm_fd);
		if (!d || (d->kind != KIND_RENDER && d->kind != KIND_CARD))
			return -EINVAL;
		a->drm_fd = (uint32_t)d->id;
	}
	if (c->kind == KIND_KFD && req == AMDKFD_IOC_ALLOC_MEMORY_OF_GPU) {
		struct kfd_ioctl_alloc_memory_of_gpu_args *a = (void *)msg.data;
		if (a->flags & KFD_IOC_ALLOC_MEM_FLAGS_USERPTR) {
			int rc = share_userptr(a->mmap_offset, a->size, &send_fd, &msg.m.fd_offset);
			if (rc < 0)
				return rc;
		}
	}
	uint8_t *reply;
	size_t rlen;
	int rfd = -1;
	/* SMI_EVENTS hands the process a file: its descriptor comes with the reply */
	bool gets_fd = c->kind == KIND_KFD && req == AMDKFD_IOC_SMI_EVENTS;
	int rc = chan_call(c, &msg, sizeof msg.m + size, send_fd, &reply, &rlen, gets_fd ? &rfd : NULL);
	if (rc < 0)
		return rc;
	struct sim_reply *r = (struct sim_reply *)reply;
	long ret;
	if (rlen < sizeof *r || r->copy_out > rlen - sizeof *r || r->copy_out > size ||
	    (gets_fd && !r->err && (rfd < 0 || r->copy_out < sizeof(struct kfd_ioctl_smi_events_args)))) {
		ret = -EPROTO;
	} else {
		if (gets_fd && !r->err) {
			((struct kfd_ioctl_smi_events_args *)(reply + sizeof *r))->anon_fd = (uint32_t)rfd;
			rfd = -1;
		}
		ret = r->err ? r->err : (long)r->value;
		if (r->copy_out && (dir & _IOC_READ) && write_self(arg, reply + sizeof *r, r->copy_out) < 0)
			ret = -EFAULT;
	}
	if (rfd >= 0)
		real_close(rfd);
	free(reply);
	return ret;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	INIT();
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	struct chan *c = chan_of(fd);
	if (!c)
		return real_ioctl(fd, req, arg);
	long rc = device_ioctl(c, req, arg);
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return (int)rc;
}

/* ---- mmap ------------------------------------------------------------------------------------ */

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	INIT();
	struct chan *c = chan_of(fd);
	if (!c)
		return real_mmap(addr, len, prot, flags, fd, off);
	struct sim_mmap m = { .h = { SIM_MMAP, sizeof m - sizeof m.h }, .offset = (uint64_t)off, .length = len,
			      .prot = prot, .flags = flags };
	uint8_t *reply;
	size_t rlen;
	int mfd = -1;
	int rc = chan_call(c, &m, sizeof m, -1, &reply, &rlen, &mfd);
	if (rc < 0) {
		errno = -rc;
		return MAP_FAILED;
	}
	const struct sim_mmap_reply *r = (const struct sim_mmap_reply *)reply;
	void *p = MAP_FAILED;
	if (rlen != sizeof *r) {
		errno = EPROTO;
	} else if (r->err) {
		errno = -r->err;
	} else if (mfd < 0) {
		errno = EPROTO;
	} else {
		p = real_mmap(addr, len, prot, flags, mfd, (off_t)r->file_offset);
	}
	if (mfd >= 0)
		real_close(mfd);
	free(reply);
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}
