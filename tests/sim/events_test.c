/* What a diagnostic hears from the kernel about a GPU's troubles, on the
 * simulated box: KFD's SMI event files (AMDKFD_IOC_SMI_EVENTS) with GPU
 * resets, queue evictions, VM faults and thermal throttling; amdgpu's
 * VRAM-lost counter; MES that stops answering a queue removal; a queue that
 * hangs without a word; the eviction and restore of a process's queues
 * around a userptr invalidation.  The KFD and DRM files are used directly,
 * as an outside client would; queues come from the driver.
 *
 * Usage (inside `tb sim run`, on a box started with --speed 100):
 *   events_test TB      TB is the tb command, for faults and the kernel log
 * Prints TAP.  (events_test --bystander IN OUT is the other process of the
 * userptr test, which it starts itself.) */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <amdgpu.h>
#include <amdgpu_drm.h>
#include <linux/kfd_ioctl.h>

#include "driver/tbdrv.h"
#include "tests/tap.h"

static const char *tb_path;
static int kfd = -1;

enum { EVENT_WAIT_MS = 30000, THROTTLE_WAIT_MS = 120000 };

#define MASK(e) KFD_SMI_EVENT_MASK_FROM_INDEX(e)
static const uint64_t all_events = MASK(KFD_SMI_EVENT_VMFAULT) | MASK(KFD_SMI_EVENT_THERMAL_THROTTLE) |
				   MASK(KFD_SMI_EVENT_GPU_PRE_RESET) | MASK(KFD_SMI_EVENT_GPU_POST_RESET) |
				   MASK(KFD_SMI_EVENT_QUEUE_EVICTION) | MASK(KFD_SMI_EVENT_QUEUE_RESTORE);

/* ---- the kernel's files -------------------------------------------------------- */

static uint32_t gpu_id_of(int index)
{
	char path[128];
	unsigned id = 0;
	snprintf(path, sizeof path, "/sys/devices/virtual/kfd/kfd/topology/nodes/%d/gpu_id", index + 1);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%u", &id) != 1)
			id = 0;
		fclose(f);
	}
	return id;
}

/* an SMI event file of the GPU, asking for mask; -errno on failure */
static int smi_open(uint32_t gpu_id, uint64_t mask)
{
	struct kfd_ioctl_smi_events_args a = { .gpuid = gpu_id };
	if (ioctl(kfd, AMDKFD_IOC_SMI_EVENTS, &a) < 0)
		return -errno;
	int fd = (int)a.anon_fd;
	if (write(fd, &mask, sizeof mask) != (ssize_t)sizeof mask) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* Append the file's lines to buf until one starts with `until` or
 * timeout_ms pass; returns whether it came. */
static int smi_collect(int fd, char *buf, size_t len, const char *until, int timeout_ms)
{
	size_t at = strlen(buf);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char *line = buf;
		for (char *nl; (nl = strchr(line, '\n')); line = nl + 1)
			if (!strncmp(line, until, strlen(until)))
				return 1;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= timeout_ms || at + 1 >= len)
			return 0;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(timeout_ms - spent)) <= 0)
			continue;
		ssize_t n = read(fd, buf + at, len - at - 1);
		if (n <= 0)
			return 0;
		at += (size_t)n;
		buf[at] = '\0';
	}
}

/* nothing queued: the kernel's read fails with EAGAIN */
static int smi_empty(int fd)
{
	char c;
	return read(fd, &c, 1) < 0 && errno == EAGAIN;
}

static int vram_lost_counter(int index, uint32_t *out)
{
	char path[64];
	snprintf(path, sizeof path, "/dev/dri/renderD%d", 128 + index);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint32_t major, minor;
	amdgpu_device_handle dev;
	int rc = amdgpu_device_initialize(fd, &major, &minor, &dev);
	if (rc == 0) {
		rc = amdgpu_query_info(dev, AMDGPU_INFO_VRAM_LOST_COUNTER, sizeof *out, out);
		amdgpu_device_deinitialize(dev);
	}
	close(fd);
	return rc;
}

static int tb(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int tb(const char *fmt, ...)
{
	char args[256], cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", tb_path, args);
	return system(cmd);
}

/* how often the kernel log (tb sim status) holds text */
static int klog_count(const char *text)
{
	char cmd[1024], line[1024];
	snprintf(cmd, sizeof cmd, "'%s' sim status 2>&1", tb_path);
	FILE *p = popen(cmd, "r");
	int n = 0;
	if (!p)
		return -1;
	while (fgets(line, sizeof line, p))
		n += strstr(line, text) != NULL;
	pclose(p);
	return n;
}

static int has_line(const char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int has_line(const char *buf, const char *fmt, ...)
{
	char want[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof want, fmt, ap);
	va_end(ap);
	for (const char *l = buf; *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		if (n == strlen(want) && !strncmp(l, want, n))
			return 1;
		l += n + (nl != NULL);
	}
	printf("# no line '%s' in:\n# %s\n", want, buf);
	return 0;
}

/* ---- the checks ------------------------------------------------------------------ */

static void smi_file(uint32_t gpu0)
{
	struct kfd_ioctl_smi_events_args bad = { .gpuid = 12345 };
	check(ioctl(kfd, AMDKFD_IOC_SMI_EVENTS, &bad) < 0 && errno == EINVAL, "SMI_EVENTS of a GPU that is not there: EINVAL");
	int fd = smi_open(gpu0, all_events);
	check(fd >= 0, "SMI_EVENTS gives an event file (%s)", fd < 0 ? strerror(-fd) : "ok");
	if (fd < 0)
		return;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	check(poll(&p, 1, 0) == 0, "an event file with nothing queued does not poll readable");
	check(smi_empty(fd), "reading it then fails with EAGAIN");
	close(fd);
}

/* an uncorrectable memory error resets GPU 0: its files hear before and after */
static void reset_events(uint32_t gpu0, uint32_t gpu1)
{
	int fd = smi_open(gpu0, all_events), other = smi_open(gpu1, all_events), deaf = smi_open(gpu0, 0);
	uint32_t lost0 = 0, lost1 = 0;
	int q0 = vram_lost_counter(0, &lost0);
	tb("sim fault 0 ras-ue 1");
	char buf[4096] = "";
	int came = fd >= 0 && smi_collect(fd, buf, sizeof buf, "4 ", EVENT_WAIT_MS);
	check(came, "the reset's post-reset event arrives");
	check(has_line(buf, "3 %x uncorrectable memory error", lost0 + 1) &&
		      has_line(buf, "4 %x uncorrectable memory error", lost0 + 1) && strstr(buf, "3 ") < strstr(buf, "4 "),
	      "pre- and post-reset events in order, with the reset's number and cause");
	int q1 = vram_lost_counter(0, &lost1);
	check(q0 == 0 && q1 == 0 && lost1 == lost0 + 1, "AMDGPU_INFO_VRAM_LOST_COUNTER counts the reset (%u -> %u)", lost0,
	      lost1);
	check(other >= 0 && smi_empty(other), "another GPU's event file hears nothing of it");
	check(deaf >= 0 && smi_empty(deaf), "a file that asked for no events hears nothing");
	close(fd);
	close(other);
	close(deaf);
}

static int open_gpu(int index, struct tb_gpu **g)
{
	char err[256] = "";
	int rc = tb_gpu_open(index, g, err, sizeof err);
	if (rc < 0)
		printf("# open GPU %d: %s\n", index, err);
	return rc;
}

static int queue_cycles(struct tb_gpu *g, int n)
{
	for (int i = 0; i < n; i++) {
		struct tb_queue *q;
		int rc = tb_queue_create(g, TB_QUEUE_COMPUTE, &q);
		if (rc < 0)
			return rc;
		tb_queue_destroy(q);
	}
	return 0;
}

/* MES stops answering at the third removal: the driver's kernel times out,
 * says so, and resets the GPU; the process's other queue is evicted */
static void mes_hang(uint32_t gpu0)
{
	int fd = smi_open(gpu0, all_events);
	uint32_t lost0 = 0, lost1 = 0, lost2 = 0;
	vram_lost_counter(0, &lost0);
	int logged = klog_count("MES failed to respond to msg=REMOVE_QUEUE");
	struct tb_gpu *g;
	if (open_gpu(0, &g) < 0) {
		check(0, "GPU 0 opens for the MES test");
		return;
	}
	struct tb_queue *keep;
	int rc = tb_queue_create(g, TB_QUEUE_COMPUTE, &keep);
	check(rc == 0 && tb("sim fault 0 mes-hang 2") == 0, "mes-hang 2 is armed with a queue live");
	check(queue_cycles(g, 2) == 0 && fd >= 0 && smi_empty(fd), "two queue removals MES still answers: no event");
	check(queue_cycles(g, 1) == 0, "the third queue comes and goes");
	char buf[4096] = "";
	check(fd >= 0 && smi_collect(fd, buf, sizeof buf, "4 ", EVENT_WAIT_MS), "the reset's post-reset event arrives");
	check(has_line(buf, "3 %x MES hang", lost0 + 1) && has_line(buf, "4 %x MES hang", lost0 + 1),
	      "the reset is the MES hang's");
	char *ev = strstr(buf, "\n9 ");
	long long ns;
	int pid;
	unsigned id, trigger;
	check(ev && sscanf(ev + 1, "9 %lld -%d %x %u", &ns, &pid, &id, &trigger) == 4 && pid == getpid() && id == gpu0 &&
		      trigger == KFD_QUEUE_EVICTION_TRIGGER_SUSPEND,
	      "the live queue's eviction is reported: this process, GPU 0, suspended for the reset");
	check(klog_count("MES failed to respond to msg=REMOVE_QUEUE") == logged + 1,
	      "the kernel log says MES failed to respond to REMOVE_QUEUE");
	vram_lost_counter(0, &lost1);
	check(lost1 == lost0 + 1, "VRAM is lost once (%u -> %u)", lost0, lost1);
	/* the process itself hears of the reset: KFD signals its hw-exception
	 * event (kfd_signal_reset_event), which the driver's next wait takes */
	struct tb_signal *s = NULL;
	int w = tb_signal_create(g, 0, &s);
	w = w ? w : tb_signal_wait(s, 1, EVENT_WAIT_MS);
	const char *why = tb_gpu_failure(g);
	check(w == -EIO && why && strstr(why, "hardware exception: GPU reset, VRAM lost"),
	      "the process gets the hw-exception event: a reset with VRAM lost (%d: %s)", w, why ? why : "no failure");
	tb_signal_destroy(s);
	tb_queue_destroy(keep);
	tb_gpu_close(g);
	/* the reset brought MES back: queues come and go again */
	rc = open_gpu(0, &g);
	if (rc == 0) {
		rc = queue_cycles(g, 3);
		tb_gpu_close(g);
	}
	vram_lost_counter(0, &lost2);
	check(rc == 0 && lost2 == lost1 && smi_empty(fd), "after the reset, three queues come and go with no reset (%s)",
	      rc < 0 ? strerror(-rc) : "ok");
	close(fd);
}

/* a queue stops making progress, yet preempts: nothing reports it */
static void silent_hang(uint32_t gpu0)
{
	int fd = smi_open(gpu0, all_events);
	uint32_t lost0 = 0, lost1 = 0;
	vram_lost_counter(0, &lost0);
	int logged = klog_count("failed to remove hardware queue");
	struct tb_gpu *g;
	struct tb_queue *q;
	struct tb_signal *s;
	if (open_gpu(0, &g) < 0) {
		check(0, "GPU 0 opens for the silent-hang test");
		return;
	}
	int rc = tb_queue_create(g, TB_QUEUE_COMPUTE, &q);
	if (rc == 0 && (rc = tb_signal_create(g, 0, &s)) < 0)
		tb_queue_destroy(q);
	if (rc < 0) {
		check(0, "a queue and a signal for the silent-hang test (%s)", strerror(-rc));
		tb_gpu_close(g);
		return;
	}
	check(tb("sim fault 0 silent-hang") == 0, "silent-hang is injected");
	rc = tb_queue_signal(q, s, 1);
	if (rc == 0)
		rc = tb_queue_submit(q);
	check(rc == 0 && tb_signal_wait(s, 1, 500) != 0, "work on the hung queue never completes");
	check(fd >= 0 && smi_empty(fd), "no event says so");
	tb_queue_destroy(q);
	vram_lost_counter(0, &lost1);
	check(lost1 == lost0 && klog_count("failed to remove hardware queue") == logged && smi_empty(fd),
	      "the queue is removed without a reset");
	tb_signal_destroy(s);
	tb_gpu_close(g);
	close(fd);
}

/* a copy from an address the GPU has no mapping for faults: the process's
 * files hear of the VM fault, with its pid and name */
static void vm_fault(uint32_t gpu0)
{
	int fd = smi_open(gpu0, MASK(KFD_SMI_EVENT_VMFAULT));
	struct tb_gpu *g;
	struct tb_queue *q;
	struct tb_bo *dst;
	if (open_gpu(0, &g) < 0) {
		check(0, "GPU 0 opens for the VM fault test");
		return;
	}
	int rc = tb_queue_create(g, TB_QUEUE_COPY, &q);
	if (rc == 0 && (rc = tb_bo_alloc(g, 4096, TB_MEM_VRAM, &dst)) < 0)
		tb_queue_destroy(q);
	if (rc < 0) {
		check(0, "a copy queue and a buffer for the VM fault test (%s)", strerror(-rc));
		tb_gpu_close(g);
		return;
	}
	rc = tb_queue_copy(q, dst->va, 0x7f0000000000ull, 4096);
	if (rc == 0)
		rc = tb_queue_submit(q);
	char buf[1024] = "", comm[32] = "";
	FILE *f = fopen("/proc/self/comm", "re");
	if (f) {
		if (fgets(comm, sizeof comm, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	check(rc == 0 && fd >= 0 && smi_collect(fd, buf, sizeof buf, "1 ", EVENT_WAIT_MS) &&
		      has_line(buf, "1 %x:%s", (unsigned)getpid(), comm),
	      "a VM fault is reported with the process's pid and name");
	tb_bo_free(dst);
	tb_queue_destroy(q);
	tb_gpu_close(g);
	close(fd);
}

/* ---- a userptr invalidation: eviction and restore ---------------------------------- */

/* The other process of the userptr test: a queue of its own on GPU 0 and
 * an event file.  It says 'r' once ready; at 'g' it runs work on its queue
 * and answers with a line: "ok", or what went wrong. */
static int bystander(int in, int out)
{
	struct tb_gpu *g;
	struct tb_queue *q = NULL;
	struct tb_signal *s = NULL;
	int fd = -1;
	const char *verdict = "ok\n";
	kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
	if (kfd < 0 || open_gpu(0, &g) < 0) {
		verdict = "no GPU 0\n";
		g = NULL;
	} else if (tb_queue_create(g, TB_QUEUE_COMPUTE, &q) < 0 || tb_signal_create(g, 0, &s) < 0 ||
		   (fd = smi_open(gpu_id_of(0), all_events)) < 0) {
		verdict = "no queue, signal or event file\n";
	}
	char go = 0;
	if (write(out, "r", 1) != 1 || read(in, &go, 1) != 1 || go != 'g')
		verdict = "the test went away\n";
	else if (q && s && fd >= 0) {
		int rc = tb_queue_signal(q, s, 1);
		rc = rc ? rc : tb_queue_submit(q);
		if (rc || tb_signal_wait(s, 1, EVENT_WAIT_MS) != 0)
			verdict = "its queue did not run\n";
		else if (!smi_empty(fd))
			verdict = "its event file heard something\n";
	}
	ssize_t n = write(out, verdict, strlen(verdict));
	(void)n;
	if (fd >= 0)
		close(fd);
	tb_signal_destroy(s);
	if (q)
		tb_queue_destroy(q);
	if (g)
		tb_gpu_close(g);
	return 0;
}

/* Start the bystander: *in reads its words, *out writes to it. */
static pid_t start_bystander(int *in, int *out)
{
	int down[2], up[2];
	if (pipe(down) < 0)
		return -1;
	if (pipe(up) < 0) {
		close(down[0]);
		close(down[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		char a[16], b[16];
		snprintf(a, sizeof a, "%d", down[0]);
		snprintf(b, sizeof b, "%d", up[1]);
		execl("/proc/self/exe", "events_test", "--bystander", a, b, (char *)NULL);
		_exit(127);
	}
	close(down[0]);
	close(up[1]);
	*in = up[0];
	*out = down[1];
	if (pid < 0) {
		close(up[0]);
		close(down[1]);
	}
	return pid;
}

/* The fields of the first line of event `ev` (hex, as the file writes it)
 * in buf: "EV NS -PID GPU[ TRIGGER]\n" (trigger < 0: the line has none).
 * Returns whether there is such a line with exactly those fields. */
static int event_fields(const char *buf, unsigned ev, long long *ns, int *pid, unsigned *gpu, int *trigger)
{
	char head[8];
	snprintf(head, sizeof head, "%x ", ev);
	for (const char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, head, strlen(head)))
			continue;
		int end = -1;
		if (*trigger >= 0)
			return sscanf(l + strlen(head), "%lld -%d %x %d%n", ns, pid, gpu, trigger, &end) == 4 &&
			       l[strlen(head) + (size_t)end] == '\n';
		return sscanf(l + strlen(head), "%lld -%d %x%n", ns, pid, gpu, &end) == 3 &&
		       l[strlen(head) + (size_t)end] == '\n';
	}
	return 0;
}

/* The pages of a userptr buffer are unmapped: amdgpu's MMU notifier evicts
 * the process's queues (trigger USERPTR), the restore worker brings them
 * back; work queued before the eviction goes on after it.  Another
 * process's queue on the same GPU is not touched. */
static void userptr_eviction(uint32_t gpu0, uint32_t gpu1)
{
	enum { BYTES = 64 << 10 };
	const uint64_t mask = MASK(KFD_SMI_EVENT_QUEUE_EVICTION) | MASK(KFD_SMI_EVENT_QUEUE_RESTORE);
	int fd = smi_open(gpu0, mask), fd1 = smi_open(gpu1, mask);
	struct tb_gpu *g;
	if (open_gpu(0, &g) < 0) {
		check(0, "GPU 0 opens for the userptr test");
		return;
	}
	struct tb_queue *q = NULL;
	struct tb_signal *gate = NULL, *done = NULL;
	struct tb_bo *user = NULL;
	void *mem = mmap(NULL, BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc = mem == MAP_FAILED ? -ENOMEM : tb_queue_create(g, TB_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tb_signal_create(g, 0, &gate);
	rc = rc ? rc : tb_signal_create(g, 0, &done);
	rc = rc ? rc : tb_bo_userptr(g, mem, BYTES, &user);
	/* work that waits on the CPU: it is queued across the eviction */
	rc = rc ? rc : tb_queue_wait(q, gate, 1);
	rc = rc ? rc : tb_queue_signal(q, done, 1);
	rc = rc ? rc : tb_queue_submit(q);
	int in = -1, out = -1;
	pid_t other = rc ? -1 : start_bystander(&in, &out);
	char ready = 0;
	check(rc == 0 && other > 0 && read(in, &ready, 1) == 1 && ready == 'r',
	      "a userptr buffer, a queue with work waiting, and another process with a queue of its own (%s)",
	      rc < 0 ? strerror(-rc) : "ok");
	check(fd >= 0 && smi_empty(fd), "nothing is evicted before the pages go");
	rc = rc ? rc : munmap(mem, BYTES);
	char buf[4096] = "";
	int came = rc == 0 && fd >= 0 && smi_collect(fd, buf, sizeof buf, "a ", EVENT_WAIT_MS);
	check(came, "the pages are unmapped: the queue-restore event arrives");
	long long ns_evict = 0, ns_restore = 0;
	int pid_evict = 0, pid_restore = 0, trigger = 0, none = -1;
	unsigned id_evict = 0, id_restore = 0;
	check(event_fields(buf, KFD_SMI_EVENT_QUEUE_EVICTION, &ns_evict, &pid_evict, &id_evict, &trigger) &&
		      pid_evict == getpid() && id_evict == gpu0 && trigger == KFD_QUEUE_EVICTION_TRIGGER_USERPTR,
	      "an eviction line: its time, this process, GPU 0, trigger USERPTR");
	check(event_fields(buf, KFD_SMI_EVENT_QUEUE_RESTORE, &ns_restore, &pid_restore, &id_restore, &none) &&
		      pid_restore == getpid() && id_restore == gpu0,
	      "a restore line: its time, this process, GPU 0");
	char *ev = strstr(buf, "9 "), *re = strstr(buf, "a ");
	check(ev == buf && re && ev < re && ns_evict > 0 && ns_evict <= ns_restore,
	      "the eviction comes first, the restore after it (%lld <= %lld ns)", ns_evict, ns_restore);
	check(fd1 >= 0 && smi_empty(fd1), "GPU 1, which the process does not use, hears nothing");
	tb_signal_set(gate, 1);
	check(q && tb_signal_wait(done, 1, EVENT_WAIT_MS) == 0 && smi_empty(fd),
	      "the work queued before the eviction completes after the restore");
	char verdict[128] = "";
	ssize_t n = other > 0 && write(out, "g", 1) == 1 ? read(in, verdict, sizeof verdict - 1) : -1;
	int fine = n > 0 && !strcmp(verdict, "ok\n");
	verdict[strcspn(verdict, "\n")] = '\0';
	check(fine, "the other process's queue runs and its file hears nothing (%s)", n > 0 ? verdict : "no answer");
	if (other > 0) {
		close(in);
		close(out);
		waitpid(other, NULL, 0);
	}
	tb_bo_free(user);
	tb_signal_destroy(done);
	tb_signal_destroy(gate);
	if (q)
		tb_queue_destroy(q);
	tb_gpu_close(g);
	close(fd);
	close(fd1);
}

/* GPU 1 loses its cooling: at its junction limit the SMU throttles it */
static void thermal(uint32_t gpu1)
{
	int fd = smi_open(gpu1, MASK(KFD_SMI_EVENT_THERMAL_THROTTLE));
	check(fd >= 0 && tb("sim fault 1 thermal-runaway") == 0, "GPU 1 loses its cooling");
	char buf[1024] = "";
	check(fd >= 0 && smi_collect(fd, buf, sizeof buf, "2 ", THROTTLE_WAIT_MS) && has_line(buf, "2 1000000000:1"),
	      "thermal throttling is reported: the hotspot throttler bit, the first time");
	tb("sim fault clear 1");
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--bystander"))
		return bystander(atoi(argv[2]), atoi(argv[3]));
	if (argc != 2) {
		fprintf(stderr, "usage: events_test TB\n");
		return 2;
	}
	tb_path = argv[1];
	kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
	uint32_t gpu0 = gpu_id_of(0), gpu1 = gpu_id_of(1);
	check(kfd >= 0 && gpu0 && gpu1, "/dev/kfd opens and the topology names GPUs 0 and 1");
	if (kfd < 0)
		return tap_done();
	smi_file(gpu0);
	reset_events(gpu0, gpu1);
	mes_hang(gpu0);
	silent_hang(gpu0);
	vm_fault(gpu0);
	userptr_eviction(gpu0, gpu1);
	thermal(gpu1);
	close(kfd);
	return tap_done();
}
