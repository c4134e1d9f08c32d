/* GPUs: discovery through the KFD topology, opening through /dev/kfd and
 * the render node, memory, programs. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <pci/pci.h>
#include <xf86drm.h>

#include "driver/internal.h"

#define TOPOLOGY "/sys/class/kfd/kfd/topology/nodes"
/* KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE: the uapi header spells it (1 << 31),
 * which overflows int */
#define KFD_ALLOC_WRITABLE (1u << 31)

int tb_kfd_ioctl(int fd, unsigned long request, void *arg)
{
	int rc;
	do
		rc = ioctl(fd, request, arg);
	while (rc < 0 && (errno == EINTR || errno == EAGAIN));
	return rc < 0 ? -errno : 0;
}

/* ---- discovery ----------------------------------------------------------------------------------- */

static void board_name(struct tb_gpu_info *gi);

static int read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (int)n;
}

/* A "name value" line of a KFD properties file. */
static bool property(const char *props, const char *name, unsigned long long *value)
{
	size_t n = strlen(name);
	for (const char *p = props; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == ' ')
			return sscanf(p + n + 1, "%llu", value) == 1;
	return false;
}

/* The context save area of a compute queue (where the firmware saves its
 * waves when it preempts them), sized as KFD expects it for RDNA: every
 * CU's VGPRs, SGPRs, LDS and hardware registers, a control stack of 12
 * bytes per wave, and 32 bytes per wave for the debugger. */
/* The sizes by kfd_queue.c's names (RDNA: gfx10 and later). */
enum {
	VGPR_SIZE_PER_CU_GFX11 = 0x60000,	/* gfx1100, gfx1101, gfx1151: 1.5x the VGPRs */
	VGPR_SIZE_PER_CU = 0x40000,
	SGPR_SIZE_PER_CU = 0x4000,
	LDS_SIZE_PER_CU = 0x10000,
	HWREG_SIZE_PER_CU = 0x1000,
	CNTL_STACK_BYTES_PER_WAVE = 12,
	CNTL_STACK_END_BYTES = 8,		/* the control stack's end marker */
	SIZEOF_HSA_USER_CONTEXT_SAVE_AREA_HEADER = 40,
	DEBUGGER_BYTES_PER_WAVE = 32,
	DEBUGGER_BYTES_ALIGN = 64,
	CWSR_PAGE = 4096,
};

static uint64_t align_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

static void cwsr_sizes(struct tb_gpu_info *gi, uint32_t gfx_version, uint32_t xcc, uint32_t waves_per_cu)
{
	uint32_t cus = gi->cu_count / xcc, waves = cus * waves_per_cu;
	uint32_t major_minor = gfx_version / 100;
	uint32_t vgpr = major_minor == 1100 || major_minor == 1101 || major_minor == 1151 ? VGPR_SIZE_PER_CU_GFX11
											   : VGPR_SIZE_PER_CU;
	uint64_t wg_data = align_up((uint64_t)(vgpr + SGPR_SIZE_PER_CU + LDS_SIZE_PER_CU + HWREG_SIZE_PER_CU) * cus,
				    CWSR_PAGE);
	uint32_t ctl = (uint32_t)align_up((uint64_t)CNTL_STACK_BYTES_PER_WAVE * waves + CNTL_STACK_END_BYTES +
						  SIZEOF_HSA_USER_CONTEXT_SAVE_AREA_HEADER,
					  CWSR_PAGE);
	gi->num_xcc = xcc;
	gi->cwsr_ctl_stack_bytes = ctl;
	gi->cwsr_ctx_bytes = (uint32_t)wg_data + ctl;
	gi->cwsr_debug_bytes = (uint32_t)align_up((uint64_t)DEBUGGER_BYTES_PER_WAVE * waves, DEBUGGER_BYTES_ALIGN);
}

static int node_info(uint32_t node, struct tb_gpu_info *gi, char *err, size_t len)
{
	char path[128], buf[4096];
	unsigned long long v;
	snprintf(path, sizeof path, TOPOLOGY "/%u/gpu_id", node);
	if (read_file(path, buf, sizeof buf) <= 0 || sscanf(buf, "%llu", &v) != 1)
		return tb_fail(err, len, -EIO, "%s: unreadable", path);
	memset(gi, 0, sizeof *gi);
	gi->node = node;
	gi->gpu_id = (uint32_t)v;
	snprintf(path, sizeof path, TOPOLOGY "/%u/properties", node);
	if (read_file(path, buf, sizeof buf) <= 0)
		return tb_fail(err, len, -EIO, "%s: unreadable", path);
	unsigned long long simd = 0, per_cu = 0, minor = 0, location = 0, domain = 0, version = 0;
	if (!property(buf, "simd_count", &simd) || !property(buf, "simd_per_cu", &per_cu) || per_cu == 0 ||
	    !property(buf, "drm_render_minor", &minor) || !property(buf, "location_id", &location) ||
	    !property(buf, "gfx_target_version", &version))
		return tb_fail(err, len, -EIO, "%s: a required property is missing", path);
	property(buf, "domain", &domain);
	gi->cu_count = (uint32_t)(simd / per_cu);
	unsigned long long waves_per_simd = 16, xcc = 1;
	property(buf, "max_waves_per_simd", &waves_per_simd);
	property(buf, "num_xcc", &xcc);
	cwsr_sizes(gi, (uint32_t)version, (uint32_t)(xcc ? xcc : 1), (uint32_t)(waves_per_simd * per_cu));
	gi->render_minor = (int)minor;
	snprintf(gi->pci, sizeof gi->pci, "%04llx:%02llx:%02llx.%llx", domain & 0xffff, (location >> 8) & 0xff,
		 (location >> 3) & 0x1f, location & 7);
	snprintf(gi->target, sizeof gi->target, "gfx%llu%llx%llx", version / 10000, (version / 100) % 100,
		 version % 100);
	/* the VRAM bank's whole size (the render node reports what is left after
	 * the kernel's reservations) */
	snprintf(path, sizeof path, TOPOLOGY "/%u/mem_banks/0/properties", node);
	unsigned long long bank = 0;
	if (read_file(path, buf, sizeof buf) > 0 && property(buf, "size_in_bytes", &bank))
		gi->vram_bytes = bank;
	snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", gi->pci);
	gi->numa_node = read_file(path, buf, sizeof buf) > 0 ? atoi(buf) : -1;
	return 0;
}

/* The KFD topology's GPU nodes, in node order. */
static int kfd_gpus(struct tb_gpu_info *out, int max, char *err, size_t errlen)
{
	int count = 0;
	for (uint32_t node = 0; node < 256; node++) {
		char path[128], buf[64];
		snprintf(path, sizeof path, TOPOLOGY "/%u/gpu_id", node);
		if (read_file(path, buf, sizeof buf) < 0) {
			if (node == 0)
				return tb_fail(err, errlen, -ENODEV, "no KFD topology at " TOPOLOGY
					       " (is the amdgpu driver loaded?)");
			break;
		}
		if (strtoull(buf, NULL, 10) == 0)
			continue;	/* a CPU node */
		if (count < max) {
			int rc = node_info(node, &out[count], err, errlen);
			if (rc < 0)
				return rc;
		}
		count++;
	}
	return count;
}

/* PCIe link speed code (LNKCAP/LNKSTA) in MT/s. */
static uint32_t link_mts(unsigned code)
{
	static const uint32_t mts[] = { 0, 2500, 5000, 8000, 16000, 32000, 64000 };
	return code < sizeof mts / sizeof mts[0] ? mts[code] : 0;
}

/* What the PCI bus says of a GPU: its IDs, BAR0 and its link, through
 * libpci (the configuration space's PCI Express capability). */
static void pci_facts(struct pci_dev *d, struct tb_gpu_info *gi)
{
	gi->device_id = d->device_id;
	gi->revision = (uint8_t)pci_read_byte(d, PCI_REVISION_ID);
	gi->bar0_bytes = (uint64_t)d->size[0];
	gi->large_bar = gi->vram_bytes && gi->bar0_bytes >= gi->vram_bytes;
	struct pci_cap *cap = pci_find_cap(d, PCI_CAP_ID_EXP, PCI_CAP_NORMAL);
	if (!cap)
		return;
	uint32_t lnkcap = pci_read_long(d, cap->addr + PCI_EXP_LNKCAP);
	uint16_t lnksta = pci_read_word(d, cap->addr + PCI_EXP_LNKSTA);
	gi->max_link_speed_mts = link_mts(lnkcap & PCI_EXP_LNKCAP_SPEED);
	gi->max_link_width = (lnkcap & PCI_EXP_LNKCAP_WIDTH) >> 4;
	gi->link_speed_mts = link_mts(lnksta & PCI_EXP_LNKSTA_SPEED);
	gi->link_width = (lnksta & PCI_EXP_LNKSTA_WIDTH) >> 4;
}

static bool is_amd_gpu(struct pci_dev *d)
{
	unsigned cls = d->device_class;
	return d->vendor_id == 0x1002 && (cls == 0x0300 || cls == 0x0380 || cls == 0x1200);
}

int tb_gpu_list(struct tb_gpu_info *out, int max, char *err, size_t errlen)
{
	struct tb_gpu_info kfd[64];
	int nkfd = kfd_gpus(kfd, 64, err, errlen);
	if (nkfd < 0)
		return nkfd;
	if (nkfd > 64)
		nkfd = 64;
	struct pci_access *pa = pci_alloc();
	if (!pa)
		return tb_fail(err, errlen, -ENOMEM, "libpci: out of memory");
	pci_init(pa);
	pci_scan_bus(pa);
	/* the bus's GPUs in address order, each with its KFD node */
	struct pci_dev *gpus[64];
	int ngpus = 0;
	for (struct pci_dev *d = pa->devices; d; d = d->next) {
		pci_fill_info(d, PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_SIZES | PCI_FILL_CAPS);
		if (is_amd_gpu(d) && ngpus < 64)
			gpus[ngpus++] = d;
	}
	for (int i = 1; i < ngpus; i++)
		for (int j = i; j > 0 && (gpus[j]->domain << 16 | gpus[j]->bus << 8 | gpus[j]->dev << 3 | gpus[j]->func) <
					   (gpus[j - 1]->domain << 16 | gpus[j - 1]->bus << 8 | gpus[j - 1]->dev << 3 |
					    gpus[j - 1]->func); j--) {
			struct pci_dev *t = gpus[j];
			gpus[j] = gpus[j - 1];
			gpus[j - 1] = t;
		}
	int count = 0;
	for (int i = 0; i < ngpus; i++) {
		char bdf[16];
		snprintf(bdf, sizeof bdf, "%04x:%02x:%02x.%x", gpus[i]->domain, gpus[i]->bus, gpus[i]->dev, gpus[i]->func);
		for (int k = 0; k < nkfd; k++) {
			if (strcmp(kfd[k].pci, bdf) != 0)
				continue;
			if (count < max) {
				out[count] = kfd[k];
				out[count].index = count;
				pci_facts(gpus[i], &out[count]);
				board_name(&out[count]);
			}
			count++;
		}
	}
	pci_cleanup(pa);
	return count;
}

/* ---- the process ------------------------------------------------------------------------------------ */

static struct tb_process process = { .lock = PTHREAD_MUTEX_INITIALIZER, .kfd = -1 };
static bool process_initialized;

static void process_init_once(void)
{
	if (process_initialized)
		return;
	for (int i = 0; i < 64; i++)
		process.drm_fd[i] = -1;
	process_initialized = true;
}

struct tb_process *tb_process_get(void)
{
	return &process;
}

static int exception_event(int kfd, uint32_t type, uint32_t *id)
{
	struct kfd_ioctl_create_event_args a = { .event_type = type, .auto_reset = 1 };
	int rc = tb_kfd_ioctl(kfd, AMDKFD_IOC_CREATE_EVENT, &a);
	if (rc == 0)
		*id = a.event_id;
	return rc;
}

/* The first GPU opened opens KFD for the process; later ones share it. */
static int process_open(char *err, size_t len)
{
	process_init_once();
	if (process.refs++ > 0)
		return 0;
	process.kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
	if (process.kfd < 0) {
		process.refs = 0;
		return tb_fail(err, len, -errno, "/dev/kfd: %s", strerror(errno));
	}
	struct kfd_ioctl_get_version_args v = { 0 };
	int rc = tb_kfd_ioctl(process.kfd, AMDKFD_IOC_GET_VERSION, &v);
	if (rc == 0 && (v.major_version != 1 || v.minor_version < 6))
		rc = tb_fail(err, len, -EPROTO, "KFD interface %u.%u: 1.6 or later is needed", v.major_version,
			  v.minor_version);
	else if (rc < 0)
		tb_fail(err, len, rc, "KFD GET_VERSION: %s", strerror(-rc));
	if (rc == 0 && (rc = exception_event(process.kfd, KFD_IOC_EVENT_MEMORY, &process.memory_event)) == 0)
		rc = exception_event(process.kfd, KFD_IOC_EVENT_HW_EXCEPTION, &process.hw_event);
	if (rc < 0) {
		if (!err || !*err)
			tb_fail(err, len, rc, "KFD exception events: %s", strerror(-rc));
		close(process.kfd);
		process.kfd = -1;
		process.refs = 0;
	}
	return rc;
}

static void close_gpu(struct tb_gpu *g);

static void process_close(void)
{
	if (--process.refs > 0)
		return;
	if (process.event_page) {
		struct tb_bo *page = process.event_page;
		process.event_page = NULL;
		tb_bo_free(page);
	}
	while (process.retired) {
		struct tb_gpu *g = process.retired;
		process.retired = g->next_retired;
		close_gpu(g);
		free(g);
	}
	struct kfd_ioctl_destroy_event_args d = { .event_id = process.memory_event };
	tb_kfd_ioctl(process.kfd, AMDKFD_IOC_DESTROY_EVENT, &d);
	d.event_id = process.hw_event;
	tb_kfd_ioctl(process.kfd, AMDKFD_IOC_DESTROY_EVENT, &d);
	close(process.kfd);
	process.kfd = -1;
}

/* ---- opening a GPU ------------------------------------------------------------------------------------ */

/* The GPU's name without libdrm: the board's own product name (sysfs, from
 * its FRU), else the chips this appliance has. */
static void board_name(struct tb_gpu_info *gi)
{
	char path[96], buf[96];
	snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/product_name", gi->pci);
	int n = read_file(path, buf, sizeof buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n > 0)
		snprintf(gi->name, sizeof gi->name, "AMD %s", strncmp(buf, "AMD ", 4) ? buf : buf + 4);
	else if (gi->device_id == 0x744c)
		snprintf(gi->name, sizeof gi->name, "AMD Radeon RX 7900 XTX");
	else
		snprintf(gi->name, sizeof gi->name, "AMD GPU 1002:%04x", gi->device_id);
}

/* libdrm's table (amdgpu.ids) names the GPU when it knows it; the one
 * Debian 12 ships predates Navi 31 and says "AMD Radeon Graphics". */
static void marketing_name(struct tb_gpu *g)
{
	const char *name = amdgpu_get_marketing_name(g->dev);
	if (name && strcmp(name, "AMD Radeon Graphics") != 0)
		snprintf(g->info.name, sizeof g->info.name, "%s", name);
	else
		board_name(&g->info);
}

static int open_render_node(struct tb_gpu *g, char *err, size_t len)
{
	int index = g->info.index;
	char path[64];
	snprintf(path, sizeof path, "/dev/dri/renderD%d", g->info.render_minor);
	if (process.drm_fd[index] < 0) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return tb_fail(err, len, -errno, "%s: %s", path, strerror(errno));
		uint32_t major, minor;
		int rc = amdgpu_device_initialize(fd, &major, &minor, &process.dev[index]);
		if (rc < 0) {
			close(fd);
			return tb_fail(err, len, rc, "%s: amdgpu_device_initialize: %s", path, strerror(-rc));
		}
		process.drm_fd[index] = fd;
	}
	g->drm_fd = process.drm_fd[index];
	g->dev = process.dev[index];
	int rc;
	marketing_name(g);
	struct amdgpu_gpu_info gi;
	if (amdgpu_query_gpu_info(g->dev, &gi) == 0 && gi.gpu_counter_freq)
		g->gpu_clock_hz = (double)gi.gpu_counter_freq * 1000.0;	/* reported in kHz */
	else
		g->gpu_clock_hz = 100e6;
	/* a real question to the device: one that left the bus answers ENODEV */
	struct drm_amdgpu_info_vram_gtt vg;
	rc = amdgpu_query_info(g->dev, AMDGPU_INFO_VRAM_GTT, sizeof vg, &vg);
	if (rc < 0)
		return tb_fail(err, len, rc, "%s: %s", path, strerror(-rc));
	if (!g->info.vram_bytes)
		g->info.vram_bytes = vg.vram_size;
	struct kfd_ioctl_acquire_vm_args a = { .drm_fd = (uint32_t)g->drm_fd, .gpu_id = g->info.gpu_id };
	rc = tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_ACQUIRE_VM, &a);
	if (rc < 0)
		return tb_fail(err, len, rc, "KFD ACQUIRE_VM for %s: %s", g->info.pci, strerror(-rc));
	return 0;
}

/* The render node stays open (see struct tb_process). */
static void close_gpu(struct tb_gpu *g)
{
	if (g->doorbells)
		munmap(g->doorbells, 8192);
}

int tb_gpu_open(int index, struct tb_gpu **out, char *err, size_t errlen)
{
	struct tb_gpu_info list[64];
	if (err && errlen)
		err[0] = '\0';
	int n = tb_gpu_list(list, 64, err, errlen);
	if (n < 0)
		return n;
	if (index < 0 || index >= n || index >= 64)
		return tb_fail(err, errlen, -ENODEV, "no GPU %d (there are %d)", index, n);
	struct tb_gpu *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->info = list[index];
	g->drm_fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	g->hang_timeout_ms = TB_HANG_TIMEOUT_MS;
	pthread_mutex_lock(&process.lock);
	int rc = process_open(err, errlen);
	g->proc = &process;
	if (rc == 0 && process.gpus[index])
		rc = tb_fail(err, errlen, -EBUSY, "GPU %d is already open in this process", index);
	if (rc == 0)
		rc = open_render_node(g, err, errlen);
	if (rc == 0 && process.event_page)
		rc = tb_bo_map_to(process.event_page, g);
	if (rc == 0)
		process.gpus[index] = g;
	pthread_mutex_unlock(&process.lock);
	if (rc < 0) {
		close_gpu(g);
		if (g->proc && process.refs)
			process_close();
		free(g);
		return rc;
	}
	*out = g;
	return 0;
}

void tb_gpu_close(struct tb_gpu *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&process.lock);
	process.gpus[g->info.index] = NULL;
	struct tb_bo *page = process.event_page;
	bool holds_page = page && page->gpu == g && process.refs > 1;
	if (page && page->gpu != g) {
		/* KFD frees no buffer that is still mapped somewhere */
		uint32_t id = g->info.gpu_id;
		struct kfd_ioctl_unmap_memory_from_gpu_args u = {
			.handle = page->handle, .device_ids_array_ptr = (uint64_t)(uintptr_t)&id, .n_devices = 1
		};
		tb_kfd_ioctl(process.kfd, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &u);
	}
	if (holds_page) {
		/* the other GPUs' events live in this GPU's buffer: keep the GPU
		 * open until the last one closes */
		g->next_retired = process.retired;
		process.retired = g;
		process_close();
	} else {
		close_gpu(g);
		process_close();
		free(g);
	}
	pthread_mutex_unlock(&process.lock);
}

const struct tb_gpu_info *tb_gpu_info(const struct tb_gpu *g)
{
	return &g->info;
}

int tb_gpu_available_vram(struct tb_gpu *g, uint64_t *bytes)
{
	struct kfd_ioctl_get_available_memory_args a = { .gpu_id = g->info.gpu_id };
	int rc = tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_AVAILABLE_MEMORY, &a);
	if (rc == 0)
		*bytes = a.available;
	return rc;
}

#define KFD_PROC_DIR "/sys/class/kfd/kfd/proc"

int tb_gpu_holders(const struct tb_gpu_info *gpu, int *pids, int max)
{
	DIR *d = opendir(KFD_PROC_DIR);
	if (!d)
		return 0;	/* no process has KFD open */
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		errno = 0;
		long pid = strtol(e->d_name, &end, 10);
		if (errno || end == e->d_name || *end || pid < 1 || pid > INT32_MAX || pid == getpid())
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof path, KFD_PROC_DIR "/%s/vram_%u", e->d_name, gpu->gpu_id);
		if (access(path, F_OK) < 0)
			continue;
		/* KFD lets a process go after it exited (its release runs from a
		 * work queue): one that no longer exists holds nothing */
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			continue;
		if (n < max)
			pids[n] = (int)pid;
		n++;
	}
	closedir(d);
	return n;
}

/* A copy taken under the lock: other threads may add causes meanwhile. */
const char *tb_gpu_failure(const struct tb_gpu *g)
{
	static _Thread_local char copy[sizeof g->failure];
	if (!tb_gpu_failed(g))
		return NULL;
	struct tb_gpu *m = (struct tb_gpu *)g;
	pthread_mutex_lock(&m->lock);
	memcpy(copy, g->failure, sizeof copy);
	pthread_mutex_unlock(&m->lock);
	return copy;
}

bool tb_gpu_failed(const struct tb_gpu *g)
{
	return __atomic_load_n(&g->failed, __ATOMIC_ACQUIRE);
}

void tb_gpu_set_hang_timeout(struct tb_gpu *g, uint32_t ms)
{
	__atomic_store_n(&g->hang_timeout_ms, ms ? ms : TB_HANG_TIMEOUT_MS, __ATOMIC_RELAXED);
}

static void add_cause(struct tb_gpu *g, const char *fmt, va_list ap)
{
	char cause[256];
	vsnprintf(cause, sizeof cause, fmt, ap);
	if (strstr(g->failure, cause))
		return;
	size_t n = strlen(g->failure);
	snprintf(g->failure + n, sizeof g->failure - n, "%s%s", n ? "; then " : "", cause);
	__atomic_store_n(&g->failed, true, __ATOMIC_RELEASE);
}

/* Causes accumulate, first first: a hang and then the reset it led to. */
void tb_gpu_fail(struct tb_gpu *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&g->lock);
	add_cause(g, fmt, ap);
	pthread_mutex_unlock(&g->lock);
	va_end(ap);
}

void tb_gpu_fail_locked(struct tb_gpu *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_cause(g, fmt, ap);
	va_end(ap);
}

static struct tb_gpu *gpu_by_id(struct tb_process *p, uint32_t gpu_id)
{
	for (int i = 0; i < 64; i++)
		if (p->gpus[i] && p->gpus[i]->info.gpu_id == gpu_id)
			return p->gpus[i];
	return NULL;
}

/* Exception events are auto-reset and shared by the process's GPUs: the
 * waiter that receives one marks whichever GPU it names. */
bool tb_gpu_check_exceptions(struct tb_gpu *g, const struct kfd_event_data *ev, uint32_t n)
{
	struct tb_process *p = g->proc;
	for (uint32_t i = 0; i < n; i++) {
		if (ev[i].event_id == p->memory_event) {
			const struct kfd_hsa_memory_exception_data *m = &ev[i].memory_exception_data;
			struct tb_gpu *f = gpu_by_id(p, m->gpu_id);
			if (f && m->gpu_id)
				tb_gpu_fail(f, "GPU memory fault at 0x%llx (%s%s)", (unsigned long long)m->va,
					    m->failure.NotPresent ? "page not present" : "protection",
					    m->failure.ReadOnly ? ", write to read-only" : "");
		} else if (ev[i].event_id == p->hw_event) {
			const struct kfd_hsa_hw_exception_data *h = &ev[i].hw_exception_data;
			struct tb_gpu *f = gpu_by_id(p, h->gpu_id);
			if (f && h->gpu_id)
				tb_gpu_fail(f, "GPU hardware exception: %s (reset cause %u)",
					    h->memory_lost ? "GPU reset, VRAM lost" : "GPU hang or reset", h->reset_cause);
		}
	}
	return tb_gpu_failed(g);
}

/* ---- memory ---------------------------------------------------------------------------------------------- */

int tb_bo_map_to(struct tb_bo *bo, struct tb_gpu *g)
{
	uint32_t id = g->info.gpu_id;
	struct kfd_ioctl_map_memory_to_gpu_args m = {
		.handle = bo->handle, .device_ids_array_ptr = (uint64_t)(uintptr_t)&id, .n_devices = 1
	};
	return tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &m);
}

/* GPU and CPU share addresses: reserve the range in the CPU's address space
 * first, so the GPU mapping and the CPU view agree, aligned for 2 MiB pages. */
static void *reserve_va(uint64_t size, uint64_t align)
{
	uint8_t *p = mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uint8_t *start = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	if (start + size < p + size + align)
		munmap(start + size, (size_t)(p + size + align - (start + size)));
	return start;
}

int tb_bo_alloc(struct tb_gpu *g, uint64_t size, enum tb_mem kind, struct tb_bo **out)
{
	if (size == 0 || kind == TB_MEM_USERPTR)
		return -EINVAL;	/* userptr memory is the caller's: tb_bo_userptr */
	size = (size + 4095) & ~4095ull;
	struct tb_bo *bo = calloc(1, sizeof *bo);
	if (!bo)
		return -ENOMEM;
	uint64_t align = size >= (2u << 20) ? (2u << 20) : 4096;
	void *va = reserve_va(size, align);
	if (!va) {
		free(bo);
		return -ENOMEM;
	}
	bo->gpu = g;
	bo->kind = kind;
	bo->va = (uint64_t)(uintptr_t)va;
	bo->size = size;
	struct kfd_ioctl_alloc_memory_of_gpu_args a = {
		.va_addr = bo->va,
		.size = size,
		.gpu_id = g->info.gpu_id,
		.flags = (kind == TB_MEM_VRAM ? KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_PUBLIC
					      : KFD_IOC_ALLOC_MEM_FLAGS_GTT | KFD_IOC_ALLOC_MEM_FLAGS_COHERENT) |
			 KFD_ALLOC_WRITABLE | KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE |
			 KFD_IOC_ALLOC_MEM_FLAGS_NO_SUBSTITUTE,
	};
	int rc = tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a);
	if (rc < 0) {
		munmap(va, size);
		free(bo);
		return rc;
	}
	bo->handle = a.handle;
	void *cpu = mmap(va, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, g->drm_fd, (off_t)a.mmap_offset);
	if (cpu == MAP_FAILED)
		rc = -errno;
	else
		bo->cpu = cpu;
	if (rc == 0)
		rc = tb_bo_map_to(bo, g);
	if (rc < 0) {
		struct kfd_ioctl_free_memory_of_gpu_args f = { .handle = bo->handle };
		tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f);
		munmap(va, size);
		free(bo);
		return rc;
	}
	*out = bo;
	return 0;
}

int tb_bo_map(struct tb_bo *bo, struct tb_gpu *peer)
{
	if (peer == bo->gpu || peer->proc != bo->gpu->proc)
		return -EINVAL;
	uint64_t bit = 1ull << peer->info.index;
	if (bo->peers & bit)
		return 0;
	int rc = tb_bo_map_to(bo, peer);
	if (rc == 0)
		bo->peers |= bit;
	return rc;
}

static void unmap_peers(struct tb_bo *bo)
{
	struct tb_process *p = bo->gpu->proc;
	for (int i = 0; i < 64; i++)
		if ((bo->peers >> i) & 1 && p->gpus[i]) {
			uint32_t id = p->gpus[i]->info.gpu_id;
			struct kfd_ioctl_unmap_memory_from_gpu_args u = {
				.handle = bo->handle, .device_ids_array_ptr = (uint64_t)(uintptr_t)&id, .n_devices = 1
			};
			tb_kfd_ioctl(p->kfd, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &u);
		}
}

int tb_bo_userptr(struct tb_gpu *g, void *ptr, uint64_t size, struct tb_bo **out)
{
	uint64_t addr = (uint64_t)(uintptr_t)ptr;
	if (!size || ((addr | size) & 4095))
		return -EINVAL;
	struct tb_bo *bo = calloc(1, sizeof *bo);
	if (!bo)
		return -ENOMEM;
	struct kfd_ioctl_alloc_memory_of_gpu_args a = {
		.va_addr = addr,
		.size = size,
		.mmap_offset = addr,	/* for userptr: the CPU address of the pages */
		.gpu_id = g->info.gpu_id,
		.flags = KFD_IOC_ALLOC_MEM_FLAGS_USERPTR | KFD_ALLOC_WRITABLE | KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE |
			 KFD_IOC_ALLOC_MEM_FLAGS_COHERENT,
	};
	int rc = tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a);
	if (rc == 0) {
		*bo = (struct tb_bo){ .gpu = g, .kind = TB_MEM_USERPTR, .va = addr, .size = size, .cpu = ptr,
				      .handle = a.handle };
		rc = tb_bo_map_to(bo, g);
		if (rc < 0) {
			struct kfd_ioctl_free_memory_of_gpu_args f = { .handle = bo->handle };
			tb_kfd_ioctl(g->proc->kfd, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f);
		}
	}
	if (rc < 0) {
		free(bo);
		return rc;
	}
	*out = bo;
	return 0;
}

void tb_bo_free(struct tb_bo *bo)
{
	if (!bo)
		return;
	unmap_peers(bo);
	int kfd = bo->gpu->proc->kfd;
	uint32_t id = bo->gpu->info.gpu_id;
	struct kfd_ioctl_unmap_memory_from_gpu_args u = {
		.handle = bo->handle, .device_ids_array_ptr = (uint64_t)(uintptr_t)&id, .n_devices = 1
	};
	tb_kfd_ioctl(kfd, AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, &u);
	struct kfd_ioctl_free_memory_of_gpu_args f = { .handle = bo->handle };
	tb_kfd_ioctl(kfd, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &f);
	if (bo->kind != TB_MEM_USERPTR)
		munmap((void *)(uintptr_t)bo->va, bo->size);
	free(bo);
}

/* ---- programs ------------------------------------------------------------------------------------------- */

int tb_program_load(struct tb_gpu *g, struct tb_codeobj *co, struct tb_program **out)
{
	struct tb_program *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	int rc = tb_bo_alloc(g, co->image_size, TB_MEM_VRAM, &p->code);
	if (rc < 0) {
		free(p);
		return rc;
	}
	tb_codeobj_place(co, p->code->cpu, p->code->va);
	p->gpu = g;
	p->co = co;
	*out = p;
	return 0;
}

void tb_program_free(struct tb_program *p)
{
	if (!p)
		return;
	tb_bo_free(p->code);
	tb_codeobj_free(p->co);
	free(p);
}
