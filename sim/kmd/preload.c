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
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kfd_ioctl.h>
#include <linux/major.h>
#include <linux/raid/md_u.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
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
static int (*real_munmap)(void *, size_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);
static int (*real_close_range)(unsigned, unsigned, int);

/* The process whose descriptor table the preload keeps.  A child made with
 * vfork (posix_spawn, Python's subprocess) runs in its parent's memory until
 * it execs, with a descriptor table of its own: what it closes or
 * duplicates must not change the parent's view.  fork() gives the child a
 * copy, which is its own from then on. */
static pid_t owner_pid;

static void forked_child(void)
{
	owner_pid = getpid();
}

static bool table_is_mine(void)
{
	return getpid() == owner_pid;
}

/* ---- libc's own dlsym ------------------------------------------------------------ */

/* The preload stands in for dlsym too (a lookup in libc's handle must find
 * the preload's functions), so libc's dlsym and dlvsym are found without
 * calling either: in libc's dynamic symbol table, through its GNU hash
 * table, as the dynamic linker itself looks symbols up.
 *
 * A sanitizer's runtime looks its own functions up through dlsym while it
 * initialises, before its interceptors can forward anything: ThreadSanitizer
 * intercepts pthread_once and dl_iterate_phdr, and AddressSanitizer the
 * str* functions.  This path therefore calls no function at all: libc is
 * found on the dynamic linker's list of loaded objects (_r_debug), and the
 * lookup's result published with atomics (looking up twice is harmless). */
static bool same_name(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static bool is_libc(const char *path)
{
	const char *base = path;
	for (const char *c = path; *c; c++)
		if (*c == '/')
			base = c + 1;
	const char *want = "libc.so";
	while (*want && *base == *want)
		base++, want++;
	return *want == '\0';
}

/* A dynamic-section pointer: relocated in place on x86-64, else relative. */
static const void *dyn_ptr(ElfW(Addr) base, ElfW(Addr) p)
{
	return (const void *)(p >= base ? p : base + p);
}

static void *gnu_hash_lookup(ElfW(Addr) base, const ElfW(Sym) *syms, const char *strs, const uint32_t *ht,
			     const char *name)
{
	uint32_t nbuckets = ht[0], symoffset = ht[1], bloom_size = ht[2];
	const ElfW(Addr) *bloom = (const ElfW(Addr) *)(const void *)&ht[4];
	const uint32_t *buckets = (const uint32_t *)(const void *)&bloom[bloom_size];
	const uint32_t *chain = &buckets[nbuckets];
	uint32_t h = 5381;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = h * 33 + *c;
	if (nbuckets == 0)
		return NULL;
	for (uint32_t i = buckets[h % nbuckets]; i >= symoffset; i++) {
		uint32_t ch = chain[i - symoffset];
		const ElfW(Sym) *sym = &syms[i];
		if ((ch | 1) == (h | 1) && sym->st_value && sym->st_shndx != SHN_UNDEF && same_name(strs + sym->st_name, name))
			return (void *)(base + sym->st_value);
		if (ch & 1)
			break;
	}
	return NULL;
}

/* name in one loaded object's dynamic symbol table, or NULL */
static void *object_symbol(const struct link_map *m, const char *name)
{
	const ElfW(Sym) *syms = NULL;
	const char *strs = NULL;
	const uint32_t *ht = NULL;
	for (const ElfW(Dyn) *d = m->l_ld; d && d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_SYMTAB)
			syms = dyn_ptr(m->l_addr, d->d_un.d_ptr);
		else if (d->d_tag == DT_STRTAB)
			strs = dyn_ptr(m->l_addr, d->d_un.d_ptr);
		else if (d->d_tag == DT_GNU_HASH)
			ht = dyn_ptr(m->l_addr, d->d_un.d_ptr);
	}
	return syms && strs && ht ? gnu_hash_lookup(m->l_addr, syms, strs, ht, name) : NULL;
}

static void *libc_symbol(const char *name)
{
	for (const struct link_map *m = _r_debug.r_map; m; m = m->l_next)
		if (m->l_name && is_libc(m->l_name))
			return object_symbol(m, name);
	return NULL;
}

typedef void *dlsym_fn(void *, const char *);
typedef void *dlvsym_fn(void *, const char *, const char *);
static void *libc_dlsym_fn, *libc_dlvsym_fn;

/* libc's definition of name, looked up once into *slot */
static void *libc_lazy(void **slot, const char *name)
{
	void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (!f) {
		f = libc_symbol(name);
		__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	}
	return f;
}

static dlsym_fn *libc_dlsym(void)
{
	return (dlsym_fn *)libc_lazy(&libc_dlsym_fn, "dlsym");
}

static dlvsym_fn *libc_dlvsym(void)
{
	return (dlvsym_fn *)libc_lazy(&libc_dlvsym_fn, "dlvsym");
}

/* The definition that comes after the preload's: libc's, for our callers. */
static void *next_symbol(const char *name)
{
	dlsym_fn *f = libc_dlsym();
	return f ? f(RTLD_NEXT, name) : NULL;
}

static void resolve(void)
{
	real_open = next_symbol("open");
	real_openat = next_symbol("openat");
	real_close = next_symbol("close");
	real_ioctl = next_symbol("ioctl");
	real_mmap = next_symbol("mmap");
	real_fcntl = next_symbol("fcntl");
	real_dup = next_symbol("dup");
	real_dup2 = next_symbol("dup2");
	real_dup3 = next_symbol("dup3");
	real_fstat = next_symbol("fstat");
	real_stat = next_symbol("stat");
	real_lstat = next_symbol("lstat");
	real_fstatat = next_symbol("fstatat");
	real_statx = next_symbol("statx");
	real_write = next_symbol("write");
	real_munmap = next_symbol("munmap");
	real_mremap = next_symbol("mremap");
	real_close_range = next_symbol("close_range");
	owner_pid = getpid();
	pthread_atfork(NULL, NULL, forked_child);
}

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

/* The preload's set-up runs once, on the first call a program makes into
 * it.  That may be a sanitizer runtime's own call while it initialises
 * (ThreadSanitizer's symbolizer maps memory and opens files before its
 * pthread_once interceptor can run), so the once is made of atomics, not
 * pthread_once.  A second thread arriving meanwhile waits for the first. */
enum { ONCE_NEW, ONCE_RUNNING, ONCE_DONE };
static int init_state = ONCE_NEW;

static void init_once(void)
{
	int state = ONCE_NEW;
	if (__atomic_compare_exchange_n(&init_state, &state, ONCE_RUNNING, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		init();
		__atomic_store_n(&init_state, ONCE_DONE, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != ONCE_DONE)
		sched_yield();
}

#define INIT() \
	do { \
		if (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != ONCE_DONE) \
			init_once(); \
	} while (0)

/* ---- device files --------------------------------------------------------------- */

enum { KIND_NONE, KIND_KFD, KIND_RENDER, KIND_CARD, KIND_ATTR, KIND_NVME, KIND_NVME_NS, KIND_MD };

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
	if (fd < 0 || fd >= MAX_FDS || !table_is_mine())
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
	/* an NVMe controller's character device (its namespaces' block
	 * devices are real nodes: see nvme_ns_ioctl) */
	if (sscanf(path, "/dev/nvme%d%c", minor, &extra) == 1)
		return KIND_NVME;
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

/* The /proc files the box writes itself: the kernel's module list with
 * the box's drivers (lsmod), and md's /proc/mdstat (the host may have no
 * md).  True with the box's copy in alt. */
static bool proc_file(const char *path, char *alt, size_t len)
{
	if (!path || (strcmp(path, "/proc/modules") && strcmp(path, "/proc/mdstat")))
		return false;
	find_socket_dir();
	if (!socket_dir[0])
		return false;
	snprintf(alt, len, "%s%s", socket_dir, path);
	return true;
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
	char alt[4200];
	if (proc_file(path, alt, sizeof alt))
		return real_open(alt, flags, mode);
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
		real_fopen = next_symbol("fopen");
	char alt[4200];
	if (proc_file(path, alt, sizeof alt))
		return real_fopen(alt, mode);
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
	if (kind == KIND_NVME)
		return makedev(NVME_CHAR_MAJOR, (unsigned)minor);
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
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	/* the kernel pins whole pages: the size is rounded up (PAGE_ALIGN) */
	if (!size || (addr & (page - 1)) || size > UINT64_MAX - page || addr > UINT64_MAX - size - page)
		return -EINVAL;
	size = (size + page - 1) & ~(page - 1);
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
	real_munmap(tmp, size);
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

static struct chan *any_kfd_chan(void);

/* The process's pages at [addr, addr+len) are going away (munmap, mremap,
 * a MAP_FIXED mapping over them).  amdgpu's MMU notifier invalidates every
 * userptr buffer over them: it no longer follows the range, and the GPU
 * faults on it.  Ranges registered here are forgotten, so that memory
 * mapped there later is registered afresh, and the daemon is told. */
static void userptr_unmapping(uint64_t addr, uint64_t len)
{
	if (!len || !__atomic_load_n(&userptrs, __ATOMIC_ACQUIRE))
		return;
	if (len > UINT64_MAX - addr)
		len = UINT64_MAX - addr;
	bool hit = false;
	pthread_mutex_lock(&userptr_lock);
	for (struct userptr **pp = &userptrs; *pp;) {
		struct userptr *u = *pp;
		if (u->addr < addr + len && addr < u->addr + u->size) {
			*pp = u->next;
			real_close(u->fd);
			free(u);
			hit = true;
		} else {
			pp = &u->next;
		}
	}
	pthread_mutex_unlock(&userptr_lock);
	struct chan *c = hit ? any_kfd_chan() : NULL;
	if (!c)
		return;
	struct sim_mmap m = { .h = { SIM_MUNMAP, sizeof m - sizeof m.h }, .offset = addr, .length = len };
	uint8_t *reply;
	size_t rlen;
	if (chan_call(c, &m, sizeof m, -1, &reply, &rlen, NULL) == 0)
		free(reply);
	chan_put(c);
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

/* One ioctl the daemon answers for the device at path, over a connection
 * of its own; -ENOTTY when the daemon has no such device. */
static long oneshot_ioctl(const char *path, int kind, unsigned long req, void *arg)
{
	uint64_t id;
	int s = hello(SIM_CONN_DEVICE, path, O_RDWR, &id);
	if (s < 0)
		return -ENOTTY;
	struct chan c = { .sock = s, .kind = kind, .id = id, .refs = 1 };
	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	long rc = device_ioctl(&c, req, arg);
	real_close(s);
	pthread_cond_destroy(&c.cond);
	pthread_mutex_destroy(&c.lock);
	return rc;
}

/* The NVMe ioctls on a box drive's namespace (its block device is a real
 * loop device, which knows none of them): the daemon answers them for that
 * namespace, over a connection of their own.  Returns -ENOTTY for any
 * other descriptor, which then goes to the kernel. */
static long nvme_ns_ioctl(int fd, unsigned long req, void *arg)
{
	if (_IOC_TYPE(req) != 'N')
		return -ENOTTY;
	char link[64], path[256];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n < 0)
		return -ENOTTY;
	path[n] = '\0';
	int ctrl, nsid;
	char extra;
	struct stat st;
	if (sscanf(path, "/dev/nvme%dn%d%c", &ctrl, &nsid, &extra) != 2 || real_fstat(fd, &st) < 0 ||
	    !S_ISBLK(st.st_mode))
		return -ENOTTY;
	return oneshot_ioctl(path, KIND_NVME_NS, req, arg);
}

/* md's ioctls on a block device (the box's md0 is a loop device, which
 * knows none of them): the daemon answers those for md0 by its device
 * number.  Returns -ENOTTY for any other descriptor or request. */
static long md_block_ioctl(int fd, unsigned long req, void *arg)
{
	struct stat st;
	if (_IOC_TYPE(req) != MD_MAJOR || real_fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode))
		return -ENOTTY;
	char path[64];
	snprintf(path, sizeof path, "/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
	/* md ignores RUN_ARRAY's parameter block (mdadm passes NULL) */
	mdu_param_t unused = { 0 };
	if (req == RUN_ARRAY)
		arg = &unused;
	return oneshot_ioctl(path, KIND_MD, req, arg);
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	INIT();
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	struct chan *c = chan_of(fd);
	long rc;
	if (!c) {
		rc = nvme_ns_ioctl(fd, req, arg);
		if (rc == -ENOTTY)
			rc = md_block_ioctl(fd, req, arg);
		if (rc == -ENOTTY)
			return real_ioctl(fd, req, arg);
		if (rc < 0) {
			errno = (int)-rc;
			return -1;
		}
		return (int)rc;
	}
	rc = device_ioctl(c, req, arg);
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
	if (flags & MAP_FIXED)
		userptr_unmapping((uint64_t)(uintptr_t)addr, len);
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

EXPORT int munmap(void *addr, size_t len)
{
	INIT();
	int rc = real_munmap(addr, len);
	if (rc == 0)
		userptr_unmapping((uint64_t)(uintptr_t)addr, len);
	return rc;
}

/* A move or a shrink takes the old pages from the old range. */
EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	INIT();
	va_list ap;
	va_start(ap, flags);
	void *new_addr = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
	va_end(ap);
	void *p = real_mremap(old, old_len, new_len, flags, new_addr);
	if (p != MAP_FAILED) {
		if (p != old)
			userptr_unmapping((uint64_t)(uintptr_t)old, old_len);
		else if (new_len < old_len)
			userptr_unmapping((uint64_t)(uintptr_t)old + new_len, old_len - new_len);
		if (flags & MREMAP_FIXED)
			userptr_unmapping((uint64_t)(uintptr_t)p, new_len);
	}
	return p;
}

/* One of the process's /dev/kfd files, with a reference (NULL: none). */
static struct chan *any_kfd_chan(void)
{
	struct chan *found = NULL;
	pthread_mutex_lock(&fds_lock);
	for (int fd = 0; fd < MAX_FDS && !found; fd++)
		if (fds[fd] && fds[fd]->kind == KIND_KFD)
			found = fds[fd];
	if (found) {
		pthread_mutex_lock(&found->lock);
		found->refs++;
		pthread_mutex_unlock(&found->lock);
	}
	pthread_mutex_unlock(&fds_lock);
	return found;
}

/* ---- close_range: the descriptors it closes are no longer the box's -------------------- */

EXPORT int close_range(unsigned first, unsigned last, int flags);
EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	INIT();
	if (!real_close_range) {
		errno = ENOSYS;
		return -1;
	}
	int rc = real_close_range(first, last, flags);
	if (rc == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		for (unsigned fd = first; fd <= last && fd < MAX_FDS; fd++)
			if (chan_of((int)fd))
				set_fd((int)fd, NULL);
	return rc;
}

/* ---- dlsym: a lookup of the functions the preload stands in for finds the preload's ---------- */

/* A program may look a function up in a library's handle
 * (ctypes.CDLL("libc.so.6").mmap does): the dynamic linker then answers
 * with that library's definition, which would bypass the box.  The kernel
 * the box stands for answers every caller, so such lookups get the
 * preload's function.  Lookups of other names, and RTLD_NEXT lookups
 * (answered relative to the caller), are libc's. */
static const struct {
	const char *name;
	void *fn;
} interposed[] = {
#define I(f) { #f, (void *)f }
	I(open), I(open64), I(openat), I(openat64), I(__open_2), I(__open64_2), I(__openat_2), I(__openat64_2),
	I(fopen), I(fopen64), I(write), I(close), I(close_range), I(dup), I(dup2), I(dup3), I(fcntl), I(fcntl64),
	I(fstat), I(fstat64), I(stat), I(stat64), I(lstat), I(lstat64), I(fstatat), I(fstatat64), I(statx),
	I(__fxstat), I(__fxstat64), I(__xstat), I(__xstat64), I(__lxstat), I(__lxstat64), I(__fxstatat),
	I(__fxstatat64), I(ioctl), I(mmap), I(mmap64), I(munmap), I(mremap), I(dlsym), I(dlvsym),
#undef I
};

static void *preload_function(const char *name, void *found)
{
	if (!found || !name)
		return found;
	for (size_t i = 0; i < sizeof interposed / sizeof interposed[0]; i++)
		if (same_name(interposed[i].name, name))
			return interposed[i].fn;
	return found;
}

EXPORT void *dlsym(void *handle, const char *name)
{
	dlsym_fn *f = libc_dlsym();
	if (!f)
		return NULL;
	/* libc finds the caller from its return address: a sibling call keeps it */
	if (handle == RTLD_NEXT)
		return f(handle, name);
	return preload_function(name, f(handle, name));
}

EXPORT void *dlvsym(void *handle, const char *name, const char *version)
{
	dlvsym_fn *f = libc_dlvsym();
	if (!f)
		return NULL;
	if (handle == RTLD_NEXT)
		return f(handle, name, version);
	return preload_function(name, f(handle, name, version));
}
