/* tb diag monitor: beside a running workload, with no GPU work of its
 * own, it reports each GPU's troubles as they happen: KFD's SMI events
 * (resets, VM faults, thermal throttling, queue evictions), the counters
 * (VRAM lost, RAS, AER on every hop) as they rise, and the kernel log's
 * GPU and PCIe lines. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/kfd_ioctl.h>

#include "diag/diag.h"
#include "driver/tbdrv.h"

#define MASK(e) KFD_SMI_EVENT_MASK_FROM_INDEX(e)
/* how often the counters are read */
#define COUNTER_PERIOD_MS 1000

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct monitor {
	bool json;
	int worst;			/* the exit class of the worst event */
	struct tb_gpu_info gpus[DIAG_MAX_GPUS];
	int ngpus;
	uint32_t mask;
	int smi[DIAG_MAX_GPUS];
	char partial[DIAG_MAX_GPUS][256];
	json_t *counters[DIAG_MAX_GPUS];
	long long kmsg_seq;
};

static void note(struct monitor *m, int gpu, const char *event, int exit_class, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void note(struct monitor *m, int gpu, const char *event, int exit_class, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (m->json) {
		json_t *ev = json_pack("{s:f, s:i, s:s, s:s}", "time", (double)now.tv_sec + now.tv_nsec / 1e9, "gpu", gpu,
				       "event", event, "detail", text);
		char *s = json_dumps(ev, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(ev);
	} else {
		struct tm tm;
		char stamp[32];
		localtime_r(&now.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
		printf("%s GPU %d %-16s %s\n", stamp, gpu, event, text);
	}
	fflush(stdout);
	static const int rank[] = { [DIAG_EXIT_OK] = 0, [DIAG_EXIT_HW] = 2, [DIAG_EXIT_HANG] = 3, [DIAG_EXIT_INCONCLUSIVE] = 1 };
	if (exit_class >= 0 && exit_class <= DIAG_EXIT_INCONCLUSIVE && rank[exit_class] > rank[m->worst])
		m->worst = exit_class;
}

/* one SMI line: "EVENT PAYLOAD" in the uapi's formats */
static void smi_line(struct monitor *m, int gpu, const char *line)
{
	unsigned event;
	int at = 0;
	if (sscanf(line, "%x %n", &event, &at) != 1)
		return;
	const char *p = line + at;
	switch (event) {
	case KFD_SMI_EVENT_GPU_PRE_RESET:
		note(m, gpu, "gpu_reset", DIAG_EXIT_HANG, "reset begins: %s", p);
		break;
	case KFD_SMI_EVENT_GPU_POST_RESET:
		note(m, gpu, "gpu_reset_done", DIAG_EXIT_HANG, "reset done: %s", p);
		break;
	case KFD_SMI_EVENT_VMFAULT:
		note(m, gpu, "vm_fault", DIAG_EXIT_HANG, "a GPU page fault of process %s", p);
		break;
	case KFD_SMI_EVENT_THERMAL_THROTTLE:
		note(m, gpu, "thermal_throttle", DIAG_EXIT_HW, "throttled (throttler bits:count %s)", p);
		break;
	case KFD_SMI_EVENT_QUEUE_EVICTION:
		note(m, gpu, "queue_eviction", DIAG_EXIT_OK, "queues evicted (ns -pid gpu trigger: %s)", p);
		break;
	case KFD_SMI_EVENT_QUEUE_RESTORE:
		note(m, gpu, "queue_restore", DIAG_EXIT_OK, "queues restored (%s)", p);
		break;
	default:
		note(m, gpu, "kfd_event", DIAG_EXIT_OK, "event %u: %s", event, p);
	}
}

static void read_smi(struct monitor *m, int gpu)
{
	char buf[4096];
	size_t have = strlen(m->partial[gpu]);
	memcpy(buf, m->partial[gpu], have);
	ssize_t n = read(m->smi[gpu], buf + have, sizeof buf - have - 1);
	if (n <= 0)
		return;
	buf[have + (size_t)n] = '\0';
	char *line = buf;
	for (char *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		smi_line(m, gpu, line);
	}
	snprintf(m->partial[gpu], sizeof m->partial[gpu], "%s", line);
}

static void counters(struct monitor *m, int gpu)
{
	json_t *now = diag_counters(&m->gpus[gpu]);
	json_t *d = diag_counter_deltas(m->counters[gpu], now);
	const char *key;
	json_t *v;
	json_object_foreach(d, key, v) {
		long long n = (long long)json_integer_value(v);
		if (!strcmp(key, "vram_lost"))
			note(m, gpu, "vram_lost", DIAG_EXIT_HANG, "VRAM lost %lld more times (a reset)", n);
		else if (!strncmp(key, "ras_", 4))
			note(m, gpu, "ras_errors", DIAG_EXIT_HW, "%lld more %s memory errors", n,
			     key[4] == 'u' ? "uncorrectable" : "correctable");
		else {
			/* aer_KIND_BDF */
			char kind[16] = "";
			const char *bdf = strrchr(key, '_');
			sscanf(key, "aer_%15[a-z]_", kind);
			note(m, gpu, "pcie_errors", DIAG_EXIT_HW, "%lld more %s PCIe errors at %s", n, kind,
			     bdf ? bdf + 1 : key);
		}
	}
	json_decref(d);
	json_decref(m->counters[gpu]);
	m->counters[gpu] = now;
}

/* the kernel log's GPU and PCIe lines, named by the GPU they mention */
static void kmsg_line(void *ctx, long long seq, const char *text)
{
	(void)seq;
	struct monitor *m = ctx;
	for (int i = 0; i < m->ngpus; i++)
		if ((m->mask & (1u << i)) && strstr(text, m->gpus[i].pci))
			note(m, i, "kernel_log", -1, "%s", text);
}

static int parse_args(int argc, char **argv, struct monitor *m, uint64_t *duration_ms)
{
	for (int i = 0; i < argc; i++) {
		uint64_t v;
		if (!strcmp(argv[i], "--json")) {
			m->json = true;
		} else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
			if (diag_parse_u64(argv[++i], 1, 86400 * 365, &v) < 0) {
				fprintf(stderr, "tb diag monitor: --duration: '%s' is not a number of seconds\n", argv[i]);
				return -EINVAL;
			}
			*duration_ms = v * 1000;
		} else if ((!strcmp(argv[i], "-g") || !strcmp(argv[i], "--gpus")) && i + 1 < argc) {
			char list[256];
			snprintf(list, sizeof list, "%s", argv[++i]);
			m->mask = 0;
			for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (diag_parse_u64(t, 0, DIAG_MAX_GPUS - 1, &v) < 0) {
					fprintf(stderr, "tb diag monitor: --gpus: '%s' is not a GPU number\n", t);
					return -EINVAL;
				}
				m->mask |= 1u << v;
			}
		} else {
			fprintf(stderr, "tb diag monitor: unexpected argument '%s'\n"
					"usage: tb diag monitor [-g 0,3,5] [--duration SECONDS] [--json]\n", argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int diag_monitor(int argc, char **argv)
{
	struct monitor m = { .worst = DIAG_EXIT_OK };
	uint64_t duration_ms = 0;
	if (parse_args(argc, argv, &m, &duration_ms) < 0)
		return DIAG_EXIT_USAGE;
	char err[512];
	int n = tb_gpu_list(m.gpus, DIAG_MAX_GPUS, err, sizeof err);
	if (n <= 0) {
		fprintf(stderr, "tb diag monitor: no GPUs%s%s\n", n < 0 ? ": " : "", n < 0 ? err : "");
		return DIAG_EXIT_INCONCLUSIVE;
	}
	m.ngpus = n > DIAG_MAX_GPUS ? DIAG_MAX_GPUS : n;
	uint32_t all = (1u << m.ngpus) - 1;
	if (m.mask & ~all) {
		fprintf(stderr, "tb diag monitor: --gpus: there are %d GPUs\n", m.ngpus);
		return DIAG_EXIT_USAGE;
	}
	if (!m.mask)
		m.mask = all;
	int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
	const uint64_t events = MASK(KFD_SMI_EVENT_VMFAULT) | MASK(KFD_SMI_EVENT_THERMAL_THROTTLE) |
				MASK(KFD_SMI_EVENT_GPU_PRE_RESET) | MASK(KFD_SMI_EVENT_GPU_POST_RESET) |
				MASK(KFD_SMI_EVENT_QUEUE_EVICTION) | MASK(KFD_SMI_EVENT_QUEUE_RESTORE) |
				MASK(KFD_SMI_EVENT_ALL_PROCESS);
	for (int i = 0; i < m.ngpus; i++) {
		m.smi[i] = -1;
		if (!(m.mask & (1u << i)))
			continue;
		struct kfd_ioctl_smi_events_args a = { .gpuid = m.gpus[i].gpu_id };
		if (kfd >= 0 && ioctl(kfd, AMDKFD_IOC_SMI_EVENTS, &a) == 0) {
			m.smi[i] = (int)a.anon_fd;
			if (write(m.smi[i], &events, sizeof events) != (ssize_t)sizeof events) {
				close(m.smi[i]);
				m.smi[i] = -1;
			}
		}
		if (m.smi[i] < 0)
			fprintf(stderr, "tb diag monitor: GPU %d: no KFD events (%s); counters and the kernel log only\n", i,
				strerror(errno));
		m.counters[i] = diag_counters(&m.gpus[i]);
	}
	m.kmsg_seq = -1;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* the kernel log from now on */
	m.kmsg_seq = diag_kmsg_scan(-1, NULL, NULL);
	if (m.json)
		note(&m, -1, "monitor_started", -1, "watching %d GPUs", __builtin_popcount(m.mask));
	else
		fprintf(stderr, "tb diag monitor: watching %d GPUs (Ctrl-C ends)\n", __builtin_popcount(m.mask));
	uint64_t start = diag_now_ms(), next_counters = start + COUNTER_PERIOD_MS;
	while (!stop_requested && (!duration_ms || diag_now_ms() - start < duration_ms)) {
		struct pollfd p[DIAG_MAX_GPUS];
		int who[DIAG_MAX_GPUS], np = 0;
		for (int i = 0; i < m.ngpus; i++)
			if (m.smi[i] >= 0) {
				p[np] = (struct pollfd){ .fd = m.smi[i], .events = POLLIN };
				who[np++] = i;
			}
		uint64_t now = diag_now_ms();
		int wait = next_counters > now ? (int)(next_counters - now) : 0;
		if (poll(p, (nfds_t)np, wait) > 0)
			for (int k = 0; k < np; k++)
				if (p[k].revents & POLLIN)
					read_smi(&m, who[k]);
		if (diag_now_ms() >= next_counters) {
			for (int i = 0; i < m.ngpus; i++)
				if (m.mask & (1u << i))
					counters(&m, i);
			m.kmsg_seq = diag_kmsg_scan(m.kmsg_seq, kmsg_line, &m);
			next_counters = diag_now_ms() + COUNTER_PERIOD_MS;
		}
	}
	for (int i = 0; i < m.ngpus; i++) {
		if (m.smi[i] >= 0)
			close(m.smi[i]);
		json_decref(m.counters[i]);
	}
	if (kfd >= 0)
		close(kfd);
	return m.worst;
}
