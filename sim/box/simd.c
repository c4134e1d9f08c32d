/* tb-simd: the simulated box's daemon.  It is the box's hardware and kernel
 * driver: it builds the box's sysfs and device files in the state
 * directory and answers the processes that open those devices.
 *
 *   tb-simd --state DIR [--gpus N] [--ready-fd FD]
 *
 * Normally started by `tb sim start`. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kfd_ioctl.h>

#include "sim/box/box.h"
#include "sim/box/conn.h"
#include "sim/box/drives.h"
#include "sim/box/md.h"
#include "sim/kmd/kmd.h"
#include "sim/box/proto.h"
#include "sim/box/sensors.h"
#include "sim/box/state.h"

struct sim_box *g_box;
static struct sim_box box;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;
static uint64_t next_conn_id = 1;
static int listen_fd = -1;

/* ---- process memory ----------------------------------------------------------- */

int copy_from_user(const struct conn *c, void *dst, uint64_t src, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec local = { dst, len }, remote = { (void *)(uintptr_t)src, len };
	ssize_t n = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

int copy_to_user(const struct conn *c, uint64_t dst, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	struct iovec local = { (void *)src, len }, remote = { (void *)(uintptr_t)dst, len };
	ssize_t n = process_vm_writev(c->pid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

struct conn *conn_find_drm(pid_t pid, uint64_t id)
{
	struct conn *found = NULL;
	pthread_mutex_lock(&conns_lock);
	for (struct conn *c = conns; c; c = c->next_all)
		if (c->id == id && c->pid == pid && (c->dev == DEV_DRM_RENDER || c->dev == DEV_DRM_CARD))
			found = c;
	pthread_mutex_unlock(&conns_lock);
	return found;
}

/* ---- status ------------------------------------------------------------------------ */

static size_t status_json(char *out, size_t len)
{
	size_t n = 0;
	n += (size_t)snprintf(out + n, len - n, "{\"pid\":%d,\"state\":\"%s\",\"uptime_s\":%.1f,\"gpus\":[", getpid(),
			      box.state, (double)(box_now_ns() - box.start_ns) / 1e9);
	for (int i = 0; i < box.ngpus && n < len; i++) {
		struct sim_gpu *g = &box.gpu[i];
		n += (size_t)snprintf(out + n, len - n,
				      "%s{\"index\":%d,\"pci\":\"%s\",\"gpu_id\":%u,\"render\":\"renderD%d\","
				      "\"vram_used_bytes\":%llu,\"busy_percent\":%d,\"resets\":%llu,"
				      "\"link\":{\"width\":%d,\"speed_gts\":%d},\"fallen_off_bus\":%s,"
				      "\"ras\":{\"ce\":%llu,\"ue\":%llu},\"junction_c\":%.1f,\"power_w\":%.1f}",
				      i ? "," : "", i, g->bdf, g->gpu_id, g->render_minor,
				      (unsigned long long)atomic_load(&g->vram_used), atomic_load(&g->busy_permille) / 10,
				      (unsigned long long)atomic_load(&g->resets), g->link_width, g->link_speed_gts,
				      atomic_load(&g->fallen_off_bus) ? "true" : "false",
				      (unsigned long long)atomic_load(&g->ras_ce), (unsigned long long)atomic_load(&g->ras_ue),
				      atomic_load(&g->temp_junction_mc) / 1000.0, atomic_load(&g->power_mw) / 1000.0);
	}
	char plant[128];
	sensors_status_json(&box, plant, sizeof plant);
	if (n < len)
		n += (size_t)snprintf(out + n, len - n, "],\"plant\":%s,\"drives\":", plant);
	if (n < len)
		n += drives_status_json(&box, out + n, len - n);
	if (n < len)
		n += (size_t)snprintf(out + n, len - n, ",\"md\":");
	if (n < len)
		n += md_status_json(&box, out + n, len - n);
	int clients = 0;
	pthread_mutex_lock(&conns_lock);
	for (struct conn *c = conns; c; c = c->next_all)
		clients += c->dev != 0;
	pthread_mutex_unlock(&conns_lock);
	if (n < len)
		n += (size_t)snprintf(out + n, len - n, ",\"open_device_files\":%d,\"kernel_log\":", clients);
	if (n < len)
		n += klog_json(out + n, len - n);
	if (n + 2 < len) {
		out[n++] = '}';
		out[n] = '\0';
	}
	return n;
}

static size_t status_text(char *out, size_t len)
{
	size_t n = 0;
	n += (size_t)snprintf(out + n, len - n, "simulated box in %s: daemon pid %d, up %.1f s\n", box.state, getpid(),
			      (double)(box_now_ns() - box.start_ns) / 1e9);
	n += (size_t)snprintf(out + n, len - n, "%-4s %-13s %-7s %-10s %6s %6s %-10s %8s %8s %s\n", "GPU", "PCI", "gpu_id",
			      "render", "busy", "resets", "link", "junction", "power", "VRAM used");
	for (int i = 0; i < box.ngpus && n < len; i++) {
		struct sim_gpu *g = &box.gpu[i];
		char link[32], node[16];
		snprintf(link, sizeof link, "x%d %dGT/s", g->link_width, g->link_speed_gts);
		snprintf(node, sizeof node, "renderD%d", g->render_minor);
		n += (size_t)snprintf(out + n, len - n, "%-4d %-13s %-7u %-10s %5d%% %6llu %-10s %6.1f C %6.1f W %.1f MiB%s\n", i,
				      g->bdf, g->gpu_id, node, atomic_load(&g->busy_permille) / 10,
				      (unsigned long long)atomic_load(&g->resets), link, atomic_load(&g->temp_junction_mc) / 1000.0,
				      atomic_load(&g->power_mw) / 1000.0,
				      (double)atomic_load(&g->vram_used) / (1 << 20),
				      atomic_load(&g->fallen_off_bus) ? "  FELL OFF THE BUS" : "");
	}
	if (n < len)
		n += drives_status_text(&box, out + n, len - n);
	if (n < len)
		n += md_status_text(&box, out + n, len - n);
	if (n < len)
		n += (size_t)snprintf(out + n, len - n, "kernel log:\n");
	char log[16384];
	klog_text(log, sizeof log);
	if (n < len)
		n += (size_t)snprintf(out + n, len - n, "%s", log);
	return n < len ? n : len - 1;
}

/* ---- connections ---------------------------------------------------------------------- */

static int reply_passing(int sock, uint32_t tag, int32_t err, uint64_t value, const void *data, uint32_t len, int fd)
{
	struct {
		struct sim_reply r;
		uint8_t data[SIM_MSG_MAX];
	} m;
	memset(&m.r, 0, sizeof m.r);
	if (len > sizeof m.data)
		len = 0;
	m.r.h.type = SIM_REPLY;
	m.r.h.len = (uint32_t)(sizeof m.r - sizeof m.r.h + len);
	m.r.tag = tag;
	m.r.err = err;
	m.r.value = value;
	m.r.copy_out = len;
	if (len)
		memcpy(m.data, data, len);
	return sim_send(sock, &m, sizeof m.r + len, fd);
}

static int reply(int sock, uint32_t tag, int32_t err, uint64_t value, const void *data, uint32_t len)
{
	return reply_passing(sock, tag, err, value, data, len, -1);
}

static int fault_command(const char *arg, char *msg, size_t len);


/* The connection is shared by its loop and by ioctls that sleep on their
 * own threads (WAIT_EVENTS); the last one out releases the device file. */
static void conn_put(struct conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->dev == DEV_KFD)
		kfd_release(c);
	else if (c->dev == DEV_DRM_RENDER || c->dev == DEV_DRM_CARD)
		drm_release(c);
	pthread_mutex_lock(&conns_lock);
	for (struct conn **pp = &conns; *pp; pp = &(*pp)->next_all)
		if (*pp == c) {
			*pp = c->next_all;
			break;
		}
	pthread_mutex_unlock(&conns_lock);
	close(c->sock);
	pthread_mutex_destroy(&c->send_lock);
	free(c);
}

static void send_reply(struct conn *c, uint32_t tag, long rv, const void *data, uint32_t copy_out)
{
	/* a descriptor the ioctl made for the process goes with the reply */
	int fd = kfd_reply_fd;
	kfd_reply_fd = -1;
	pthread_mutex_lock(&c->send_lock);
	reply_passing(c->sock, tag, rv < 0 ? (int32_t)rv : 0, rv < 0 ? 0 : (uint64_t)rv, data, copy_out, rv < 0 ? -1 : fd);
	pthread_mutex_unlock(&c->send_lock);
	if (fd >= 0)
		close(fd);
}

struct slow_ioctl {
	struct conn *c;
	uint32_t tag, size;
	uint64_t request, arg;
	uint8_t data[];
};

static void *slow_ioctl_main(void *arg)
{
	struct slow_ioctl *s = arg;
	uint32_t copy_out = 0;
	long rv = kfd_ioctl_passing(s->c, s->request, s->arg, s->data, s->size, &copy_out, -1, 0);
	send_reply(s->c, s->tag, rv, s->data, copy_out < s->size ? copy_out : s->size);
	conn_put(s->c);
	free(s);
	return NULL;
}

/* Ioctls that may sleep long run on a thread of their own, so that the
 * process's other ioctls on the same file go on (as in the kernel). */
static bool run_slow(struct conn *c, const struct sim_ioctl *m, const uint8_t *data)
{
	if (c->dev != DEV_KFD || _IOC_TYPE(m->request) != AMDKFD_IOCTL_BASE ||
	    _IOC_NR(m->request) != _IOC_NR(AMDKFD_IOC_WAIT_EVENTS))
		return false;
	struct slow_ioctl *s = malloc(sizeof *s + m->size);
	if (!s)
		return false;
	*s = (struct slow_ioctl){ c, m->tag, m->size, m->request, m->arg };
	memcpy(s->data, data, m->size);
	atomic_fetch_add(&c->refs, 1);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&t, &attr, slow_ioctl_main, s) == 0;
	pthread_attr_destroy(&attr);
	if (!ok) {
		atomic_fetch_sub(&c->refs, 1);
		free(s);
	}
	return ok;
}

static void control_loop(struct conn *c)
{
	static _Thread_local char buf[SIM_MSG_MAX];
	for (;;) {
		size_t n;
		int fd;
		if (sim_recv(c->sock, buf, sizeof buf, &n, &fd) < 0)
			return;
		if (fd >= 0)
			close(fd);
		struct sim_control *m = (struct sim_control *)buf;
		if (m->h.type != SIM_CONTROL || n != sizeof *m) {
			reply(c->sock, 0, -EPROTO, 0, NULL, 0);
			continue;
		}
		m->arg[sizeof m->arg - 1] = '\0';
		switch (m->op) {
		case SIM_CTL_PING:
			reply(c->sock, 0, 0, (uint64_t)getpid(), NULL, 0);
			break;
		case SIM_CTL_STATUS: {
			static _Thread_local char text[SIM_MSG_MAX - 64];
			size_t l = strcmp(m->arg, "json") == 0 ? status_json(text, sizeof text) : status_text(text, sizeof text);
			reply(c->sock, 0, 0, 0, text, (uint32_t)l);
			break;
		}
		case SIM_CTL_FAULT: {
			char msg[512];
			int rc = fault_command(m->arg, msg, sizeof msg);
			reply(c->sock, 0, rc, 0, msg, (uint32_t)strlen(msg));
			break;
		}
		case SIM_CTL_STOP:
			klog("tb-simd: stopping on request");
			reply(c->sock, 0, 0, 0, NULL, 0);
			atomic_store(&box.stopping, 1);
			shutdown(listen_fd, SHUT_RDWR);
			return;
		default:
			reply(c->sock, 0, -EINVAL, 0, NULL, 0);
		}
	}
}

static void device_loop(struct conn *c)
{
	static _Thread_local uint8_t buf[SIM_MSG_MAX];
	for (;;) {
		size_t n;
		int fd;
		if (sim_recv(c->sock, buf, sizeof buf, &n, &fd) < 0)
			return;
		const struct sim_hdr *h = (const struct sim_hdr *)buf;
		if (h->type == SIM_IOCTL && n >= sizeof(struct sim_ioctl)) {
			struct sim_ioctl *m = (struct sim_ioctl *)buf;
			if (m->size != n - sizeof *m) {
				reply(c->sock, m->tag, -EPROTO, 0, NULL, 0);
			} else if (!run_slow(c, m, buf + sizeof *m)) {
				uint32_t copy_out = 0;
				long rv = c->dev == DEV_KFD ? kfd_ioctl_passing(c, m->request, m->arg, buf + sizeof *m, m->size,
										&copy_out, fd, m->fd_offset)
					  : c->dev == DEV_NVME || c->dev == DEV_NVME_NS
						  ? nvme_ioctl(c, m->request, m->arg, buf + sizeof *m, m->size, &copy_out)
					  : c->dev == DEV_MD ? md_ioctl(c, m->request, m->arg, buf + sizeof *m, m->size, &copy_out)
						  : drm_ioctl(c, m->request, m->arg, buf + sizeof *m, m->size, &copy_out);
				if (copy_out > m->size)
					copy_out = m->size;
				send_reply(c, m->tag, rv, buf + sizeof *m, copy_out);
			}
		} else if (h->type == SIM_MMAP && n == sizeof(struct sim_mmap)) {
			struct sim_mmap *m = (struct sim_mmap *)buf;
			int mfd = -1;
			uint64_t off = 0;
			int rc = c->dev == DEV_KFD ? kfd_mmap(c, m->offset, m->length, &mfd, &off)
				 : c->dev == DEV_NVME || c->dev == DEV_NVME_NS || c->dev == DEV_MD ? -ENODEV
									       : drm_mmap(c, m->offset, m->length, &mfd, &off);
			struct sim_mmap_reply r = { .h = { SIM_REPLY, sizeof r - sizeof r.h }, .tag = m->tag, .err = rc,
						    .file_offset = off };
			pthread_mutex_lock(&c->send_lock);
			sim_send(c->sock, &r, sizeof r, rc == 0 ? mfd : -1);
			pthread_mutex_unlock(&c->send_lock);
		} else if (h->type == SIM_MUNMAP && n == sizeof(struct sim_mmap) && c->dev == DEV_KFD) {
			const struct sim_mmap *m = (const struct sim_mmap *)buf;
			kfd_userptr_invalidate(c, m->offset, m->length);
			send_reply(c, m->tag, 0, NULL, 0);
		} else {
			send_reply(c, 0, -EPROTO, NULL, 0);
		}
		if (fd >= 0)
			close(fd);
	}
}

/* A sysfs attribute opened for writing: every packet is one write(). */
static void attr_loop(struct conn *c, struct sim_attr *a)
{
	static _Thread_local uint8_t buf[SIM_MSG_MAX];
	for (;;) {
		/* not sim_recv: bare writes are no protocol messages */
		ssize_t got = recv(c->sock, buf, sizeof buf, 0);
		if (got <= 0)
			return;
		size_t n = (size_t)got;
		const struct sim_write *w = (const struct sim_write *)buf;
		bool framed = n >= sizeof *w && w->h.type == SIM_WRITE && w->len == n - sizeof *w &&
			      w->h.len == n - sizeof w->h;
		const char *data = framed ? (const char *)buf + sizeof *w : (const char *)buf;
		size_t len = framed ? w->len : n;
		long rv = attr_write(&box, a, data, len);
		send_reply(c, framed ? w->tag : 0, rv, NULL, 0);
	}
}

static int open_device(struct conn *c, const char *path)
{
	int minor;
	if (!strcmp(path, "/dev/kfd")) {
		c->dev = DEV_KFD;
		return kfd_open(c);
	}
	if (!strncmp(path, "/dev/nvme", 9))
		return nvme_open(c, path);
	if (!strncmp(path, "/dev/block/", 11))
		return md_open(c, path);
	bool render = sscanf(path, "/dev/dri/renderD%d", &minor) == 1;
	if (render || sscanf(path, "/dev/dri/card%d", &minor) == 1) {
		for (int i = 0; i < box.ngpus; i++) {
			struct sim_gpu *g = &box.gpu[i];
			if ((render && g->render_minor == minor) || (!render && g->card_minor == minor)) {
				if (atomic_load(&g->fallen_off_bus))
					return -ENODEV;
				c->gpu = g;
				c->dev = render ? DEV_DRM_RENDER : DEV_DRM_CARD;
				return drm_open(c);
			}
		}
	}
	return -ENOENT;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct sim_hello hello;
	size_t n;
	int fd;
	int rc = sim_recv(c->sock, &hello, sizeof hello, &n, &fd);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && (hello.h.type != SIM_HELLO || n != sizeof hello || hello.version != SIM_PROTO_VERSION))
		rc = -EPROTO;
	if (rc == 0) {
		hello.path[sizeof hello.path - 1] = '\0';
		c->open_flags = hello.flags;
		if (hello.kind == SIM_CONN_CONTROL) {
			reply(c->sock, 0, 0, c->id, NULL, 0);
			control_loop(c);
		} else if (hello.kind == SIM_CONN_ATTR) {
			struct sim_attr *a = NULL;
			rc = attr_lookup(&box, hello.path, &a);
			reply(c->sock, 0, rc, c->id, NULL, 0);
			if (rc == 0)
				attr_loop(c, a);
		} else if (hello.kind == SIM_CONN_DEVICE) {
			rc = open_device(c, hello.path);
			reply(c->sock, 0, rc, c->id, NULL, 0);
			if (rc == 0) {
				device_loop(c);
				/* the file is closed: wake its sleeping ioctls */
				atomic_store(&c->closed, 1);
				if (c->dev == DEV_KFD)
					kfd_file_closing(c);
			} else {
				c->dev = 0;
			}
		} else {
			reply(c->sock, 0, -EPROTO, 0, NULL, 0);
		}
	}
	conn_put(c);
	return NULL;
}

static void accept_loop(void)
{
	while (!atomic_load(&box.stopping)) {
		int s = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		struct ucred cred;
		socklen_t cl = sizeof cred;
		struct conn *c = calloc(1, sizeof *c);
		if (!c || getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
			free(c);
			close(s);
			continue;
		}
		c->sock = s;
		c->pid = cred.pid;
		c->uid = cred.uid;
		atomic_init(&c->refs, 1);
		pthread_mutex_init(&c->send_lock, NULL);
		pthread_mutex_lock(&conns_lock);
		c->id = next_conn_id++;
		c->next_all = conns;
		conns = c;
		pthread_mutex_unlock(&conns_lock);
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_main, c) != 0) {
			pthread_mutex_lock(&conns_lock);
			conns = c->next_all;
			pthread_mutex_unlock(&conns_lock);
			close(s);
			free(c);
		}
		pthread_attr_destroy(&attr);
	}
}

/* ---- faults (tb sim fault) ------------------------------------------------------------ */

int box_fault(struct sim_box *b, const char *arg, char *msg, size_t len);

static int fault_command(const char *arg, char *msg, size_t len)
{
	return box_fault(&box, arg, msg, len);
}

/* ---- start-up ---------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Remove what an earlier box left in the state directory. */
static void clear_state(const char *dir)
{
	static const char *const parts[] = { "sys", "dev", "proc", "hostdev", SIM_SOCKET_NAME, "kernel.log" };
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/%s", dir, parts[i]);
		nftw(p, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
}

static int listen_socket(const char *dir)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, SIM_SOCKET_NAME) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	unlink(a.sun_path);
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || chmod(a.sun_path, 0666) < 0 || listen(s, 64) < 0) {
		int e = -errno;
		close(s);
		return e;
	}
	return s;
}

void box_start_engines(struct sim_box *b);

static void usage(FILE *f)
{
	fprintf(f, "usage: tb-simd --state DIR [--gpus N] [--plant CONFIG] [--speed X] [--drive-size BYTES] [--drive-order LIST]\n"
		   "               [--ready-fd FD]\n"
		   "The simulated box's daemon; start it with `tb sim start`.\n");
}

/* A number option of the command line, or -1 with an error naming it. */
static int parse_int(const char *opt, const char *s, long lo, long hi, int *out)
{
	if (sim_parse_int(s, lo, hi, out) == 0)
		return 0;
	fprintf(stderr, "tb-simd: %s '%s': expected a whole number from %ld to %ld\n", opt, s, lo, hi);
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' }, { "gpus", required_argument, NULL, 'g' },
		{ "ready-fd", required_argument, NULL, 'r' }, { "plant", required_argument, NULL, 'p' },
		{ "speed", required_argument, NULL, 'x' }, { "drive-size", required_argument, NULL, 'd' },
		{ "drive-order", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *plant_config = NULL;
	int gpus = SIM_DEFAULT_GPUS, ready_fd = -1, c, rc = 0;
	uint64_t drive_bytes = SIM_DRIVE_DEFAULT_BYTES;
	int drive_order[SIM_BOX_DRIVES];
	for (int i = 0; i < SIM_BOX_DRIVES; i++)
		drive_order[i] = i;
	box.plant_speed = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'g': rc = parse_int("--gpus", optarg, 1, SIM_MAX_GPUS, &gpus); break;
		case 'r': rc = parse_int("--ready-fd", optarg, 0, INT_MAX, &ready_fd); break;
		case 'p': plant_config = optarg; break;
		case 'x': rc = parse_int("--speed", optarg, 1, 100, &box.plant_speed); break;
		case 'd':
			if (sim_parse_drive_size(optarg, &drive_bytes) < 0) {
				fprintf(stderr, "tb-simd: --drive-size '%s': expected bytes, a multiple of 1 MiB from %llu to %llu\n",
					optarg, SIM_DRIVE_MIN_BYTES, SIM_DRIVE_MAX_BYTES);
				rc = -1;
			}
			break;
		case 'o':
			if (sim_parse_drive_order(optarg, drive_order) < 0) {
				fprintf(stderr, "tb-simd: --drive-order '%s': expected the slots 0 to %d, each once, in probe "
						"order, separated by commas\n", optarg, SIM_BOX_DRIVES - 1);
				rc = -1;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (rc < 0)
		return 2;
	if (!state || optind < argc) {
		if (optind < argc)
			fprintf(stderr, "tb-simd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	g_box = &box;
	snprintf(box.state, sizeof box.state, "%s", state);
	box.ngpus = gpus;
	box.start_ns = box_now_ns();
	pthread_mutex_init(&box.lock, NULL);
	if (mkdir(state, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "tb-simd: cannot create %s: %s\n", state, strerror(errno));
		return 1;
	}
	/* one daemon per state directory: a second would clear the first's box;
	 * a dead one's lock went with it, and its files are cleared below */
	int holder = 0, lock = sim_state_lock(state, &holder);
	if (lock == -EBUSY) {
		char who[32] = "";
		if (holder > 0)
			snprintf(who, sizeof who, " (pid %d)", holder);
		fprintf(stderr, "tb-simd: another tb-simd%s is running on %s; stop it first ('tb sim stop')\n", who,
			state);
		return 1;
	}
	if (lock < 0) {
		fprintf(stderr, "tb-simd: cannot lock %s/%s: %s\n", state, SIM_LOCK_NAME, strerror(-lock));
		return 1;
	}
	clear_state(state);
	for (int i = 0; i < gpus && rc == 0; i++)
		rc = gpu_init(&box, &box.gpu[i], i);
	if (rc == 0)
		rc = sysfs_build(&box);
	char err[512] = "";
	if (rc == 0 && (rc = sensors_build(&box, plant_config, err, sizeof err)) < 0) {
		fprintf(stderr, "tb-simd: thermal plant: %s\n", err);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "tb-simd: cannot build the box in %s: %s\n", state, strerror(-rc));
		return 1;
	}
	if ((rc = drives_build(&box, drive_bytes, drive_order, err, sizeof err)) < 0) {
		fprintf(stderr, "tb-simd: drives: %s\n", err);
		drives_release(&box);
		return 1;
	}
	if ((rc = md_build(&box, err, sizeof err)) < 0) {
		fprintf(stderr, "tb-simd: md: %s\n", err);
		md_release(&box);
		drives_release(&box);
		return 1;
	}
	listen_fd = listen_socket(state);
	if (listen_fd < 0) {
		fprintf(stderr, "tb-simd: cannot listen in %s: %s\n", state, strerror(-listen_fd));
		return 1;
	}
	char pidfile[PATH_MAX];
	snprintf(pidfile, sizeof pidfile, "%s/simd.pid", state);
	FILE *pf = fopen(pidfile, "we");
	if (pf) {
		fprintf(pf, "%d\n", getpid());
		fclose(pf);
	}
	klog("amdgpu: %d x Radeon RX 7900 XTX (1002:744c, gfx1100, 96 CUs, 24 GiB) on a simulated EPYC host", gpus);
	box_start_engines(&box);
	if (ready_fd >= 0) {
		if (write(ready_fd, "ok\n", 3) < 0)
			perror("tb-simd: ready");
		close(ready_fd);
	}
	accept_loop();
	close(listen_fd);
	char sock[PATH_MAX];
	snprintf(sock, sizeof sock, "%s/%s", state, SIM_SOCKET_NAME);
	unlink(sock);
	md_release(&box);
	drives_release(&box);
	unlink(pidfile);
	return 0;
}
