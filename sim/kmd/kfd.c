/* The simulated KFD (/dev/kfd): processes, GPU memory, queues and events,
 * with the argument checks and errno values of the Linux driver
 * (drivers/gpu/drm/amd/amdkfd/kfd_chardev.c and friends). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "sim/kmd/kfd_priv.h"

static struct kfd_process *procs;	/* guarded by g_box->lock */

/* ---- processes ------------------------------------------------------------ */

struct kfd_process *kfd_process_get(pid_t pid)
{
	for (struct kfd_process *p = procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static struct kfd_process *process_create(pid_t pid)
{
	struct kfd_process *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	static uint64_t serials;
	p->pid = pid;
	p->serial = ++serials;		/* under g_box->lock */
	p->next_handle = 1;
	p->next_mmap = 1ull << 32;	/* DRM's file offsets start at 4 GiB */
	pthread_mutex_init(&p->lock, NULL);
	/* WAIT_EVENTS' deadlines are on the monotonic clock */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->events_cond, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < SIM_MAX_GPUS; i++) {
		pthread_rwlock_init(&p->pdd[i].vm.lock, NULL);
		p->pdd[i].doorbell_fd = -1;
	}
	p->next = procs;
	procs = p;
	kfd_procfs_add(pid);
	return p;
}

static void bo_release(struct bo *bo)
{
	if (bo->own_map && bo->host)
		munmap(bo->host, bo->size);
	if (bo->kind == BO_VRAM)
		gpu_vram_free(&g_box->gpu[bo->gpu], bo->fd_offset, bo->size);
	if (bo->own_fd && bo->fd >= 0)
		close(bo->fd);
	free(bo);
}

/* The process's last /dev/kfd file closed: queues go, memory goes. */
static void process_destroy(struct kfd_process *p)
{
	for (int i = 0; i < MAX_PROCESS_QUEUES; i++)
		if (p->queues[i]) {
			queue_destroy(p->queues[i]);
			p->queues[i] = NULL;
		}
	while (p->bos) {
		struct bo *bo = p->bos;
		p->bos = bo->next;
		bo_release(bo);
	}
	while (p->zombies) {
		struct bo *bo = p->zombies;
		p->zombies = bo->next;
		bo_release(bo);
	}
	for (int i = 0; i < SIM_MAX_GPUS; i++) {
		struct pdd *d = &p->pdd[i];
		free(d->vm.m);
		pthread_rwlock_destroy(&d->vm.lock);
		if (d->doorbells)
			munmap(d->doorbells, DOORBELL_SLICE);
		if (d->doorbell_fd >= 0)
			close(d->doorbell_fd);
	}
	for (int i = 0; i < MAX_EVENTS; i++)
		free(p->events[i]);
	for (struct kfd_process **pp = &procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	kfd_procfs_remove(p->pid);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->events_cond);
	free(p);
}

int kfd_open(struct conn *c)
{
	pthread_mutex_lock(&g_box->lock);
	struct kfd_process *p = kfd_process_get(c->pid);
	if (!p)
		p = process_create(c->pid);
	if (p)
		p->refs++;
	pthread_mutex_unlock(&g_box->lock);
	if (!p)
		return -ENOMEM;
	c->priv = p;
	return 0;
}

void kfd_file_closing(struct conn *c)
{
	struct kfd_process *p = c->priv;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->events_cond);
	pthread_mutex_unlock(&p->lock);
}

static bool pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* As amdgpu's KFD, a process's state (its VMs, queues, memory, events)
 * lives as long as the process, not as its /dev/kfd files: closing the last
 * one and opening /dev/kfd again finds the same process.  The state goes
 * when the process exits (kfd_reap notices). */
void kfd_release(struct conn *c)
{
	struct kfd_process *p = c->priv;
	if (!p)
		return;
	pthread_mutex_lock(&g_box->lock);
	if (--p->refs == 0 && !pid_alive(p->pid))
		process_destroy(p);
	pthread_mutex_unlock(&g_box->lock);
}

void kfd_reap(void)
{
	pthread_mutex_lock(&g_box->lock);
	for (struct kfd_process *p = procs, *next; p; p = next) {
		next = p->next;
		if (p->refs == 0 && !pid_alive(p->pid))
			process_destroy(p);
	}
	pthread_mutex_unlock(&g_box->lock);
}

/* ---- helpers ------------------------------------------------------------------ */

static struct pdd *pdd_of(struct kfd_process *p, uint32_t gpu_id, struct sim_gpu **gout)
{
	struct sim_gpu *g = box_gpu_by_id(g_box, gpu_id);
	if (!g)
		return NULL;
	if (gout)
		*gout = g;
	return &p->pdd[g->index];
}

static struct bo *bo_by_handle(struct kfd_process *p, uint64_t handle)
{
	for (struct bo *bo = p->bos; bo; bo = bo->next)
		if (bo->handle == handle)
			return bo;
	return NULL;
}

static uint64_t gpu_clock(void)
{
	return box_now_ns() / 10;	/* 100 MHz */
}

/* Memory for a process's doorbells on a GPU, created on first need. */
static int pdd_doorbells(struct pdd *d, int gpu_index)
{
	if (d->doorbells)
		return 0;
	char name[32];
	snprintf(name, sizeof name, "tb-sim-doorbells%d", gpu_index);
	d->doorbell_fd = memfd_create(name, MFD_CLOEXEC);
	if (d->doorbell_fd < 0 || ftruncate(d->doorbell_fd, DOORBELL_SLICE) < 0)
		return -ENOMEM;
	void *m = mmap(NULL, DOORBELL_SLICE, PROT_READ | PROT_WRITE, MAP_SHARED, d->doorbell_fd, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	d->doorbells = m;
	return 0;
}

/* ---- version, apertures, VM --------------------------------------------------- */

static long get_version(struct conn *c, void *data)
{
	(void)c;
	struct kfd_ioctl_get_version_args *a = data;
	a->major_version = SIM_KFD_MAJOR;
	a->minor_version = SIM_KFD_MINOR;
	return 0;
}

static void apertures_of(const struct sim_gpu *g, struct kfd_process_device_apertures *ap)
{
	memset(ap, 0, sizeof *ap);
	ap->lds_base = APE_LDS_BASE;
	ap->lds_limit = APE_LDS_BASE + APE_SIZE - 1;
	ap->scratch_base = APE_SCRATCH_BASE;
	ap->scratch_limit = APE_SCRATCH_BASE + APE_SIZE - 1;
	ap->gpuvm_base = GPUVM_BASE;
	ap->gpuvm_limit = GPUVM_LIMIT;
	ap->gpu_id = g->gpu_id;
}

static long get_process_apertures(struct conn *c, void *data)
{
	(void)c;
	struct kfd_ioctl_get_process_apertures_args *a = data;
	uint32_t n = 0;
	for (int i = 0; i < g_box->ngpus && n < NUM_OF_SUPPORTED_GPUS; i++)
		if (!atomic_load(&g_box->gpu[i].fallen_off_bus))
			apertures_of(&g_box->gpu[i], &a->process_apertures[n++]);
	a->num_of_nodes = n;
	return 0;
}

static long get_process_apertures_new(struct conn *c, void *data)
{
	struct kfd_ioctl_get_process_apertures_new_args *a = data;
	uint32_t avail = 0;
	for (int i = 0; i < g_box->ngpus; i++)
		avail += !atomic_load(&g_box->gpu[i].fallen_off_bus);
	if (a->num_of_nodes == 0) {	/* the caller asks how many */
		a->num_of_nodes = avail;
		return 0;
	}
	uint32_t n = 0;
	for (int i = 0; i < g_box->ngpus && n < a->num_of_nodes; i++) {
		if (atomic_load(&g_box->gpu[i].fallen_off_bus))
			continue;
		struct kfd_process_device_apertures ap;
		apertures_of(&g_box->gpu[i], &ap);
		if (copy_to_user(c, a->kfd_process_device_apertures_ptr + n * sizeof ap, &ap, sizeof ap) < 0)
			return -EFAULT;
		n++;
	}
	a->num_of_nodes = n;
	return 0;
}

static long acquire_vm(struct conn *c, void *data)
{
	struct kfd_ioctl_acquire_vm_args *a = data;
	struct kfd_process *p = c->priv;
	struct sim_gpu *g;
	struct pdd *d = pdd_of(p, a->gpu_id, &g);
	if (!d)
		return -EINVAL;
	struct conn *drm = conn_find_drm(c->pid, a->drm_fd);
	if (!drm || drm->gpu != g)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	long rc = 0;
	if (d->present)
		rc = d->drm_conn == drm->id ? 0 : -EBUSY;
	else {
		d->present = true;
		d->drm_conn = drm->id;
		kfd_procfs_add_gpu(p->pid, g);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static long runtime_enable(struct conn *c, void *data)
{
	struct kfd_ioctl_runtime_enable_args *a = data;
	struct kfd_process *p = c->priv;
	pthread_mutex_lock(&p->lock);
	p->runtime_enabled = a->mode_mask & 1;
	a->capabilities_mask = 0;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* ---- memory ------------------------------------------------------------------------ */

static int map_shared(int fd, uint64_t off, uint64_t size, uint8_t **host)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)off);
	if (m == MAP_FAILED)
		return -ENOMEM;
	*host = m;
	return 0;
}

/* VRAM and GTT exist from allocation on, as the hardware's do.  The box's
 * memory for them is sparse host memory, and a page the engines touch for
 * the first time costs a host page fault each (a first copy into a new
 * buffer ran at 0.13 GB/s, a warm one at 13): the pages are populated now,
 * in one call, about thirty times cheaper than faulting them in one by one.
 * Only while the host has plenty free: beyond that they fault in lazily
 * rather than crowd the host's memory. */
static void populate(uint8_t *host, uint64_t size)
{
	struct sysinfo si;
	if (sysinfo(&si) == 0 && size <= (uint64_t)si.freeram * si.mem_unit / 4)
		(void)madvise(host, size, MADV_POPULATE_WRITE);
}

static long alloc_memory(struct conn *c, void *data, int passed_fd, uint64_t passed_off)
{
	struct kfd_ioctl_alloc_memory_of_gpu_args *a = data;
	struct kfd_process *p = c->priv;
	struct sim_gpu *g;
	struct pdd *d = pdd_of(p, a->gpu_id, &g);
	uint32_t kinds = a->flags & (KFD_IOC_ALLOC_MEM_FLAGS_VRAM | KFD_IOC_ALLOC_MEM_FLAGS_GTT |
				     KFD_IOC_ALLOC_MEM_FLAGS_USERPTR | KFD_IOC_ALLOC_MEM_FLAGS_DOORBELL |
				     KFD_IOC_ALLOC_MEM_FLAGS_MMIO_REMAP);
	if (!d || !d->present)
		return -EINVAL;
	if (atomic_load(&g->fallen_off_bus))
		return -ENODEV;
	if (__builtin_popcount(kinds) != 1 || a->size == 0 || (a->va_addr & (PAGE_BYTES - 1)))
		return -EINVAL;
	/* amdgpu_amdkfd_gpuvm_alloc_memory_of_gpu: the buffer is the size
	 * rounded up to whole pages (PAGE_ALIGN); the caller's args keep theirs */
	if (a->size > GPUVM_LIMIT)
		return -EINVAL;
	uint64_t size = (a->size + PAGE_BYTES - 1) & ~(PAGE_BYTES - 1);
	if (a->va_addr < GPUVM_BASE || a->va_addr > GPUVM_LIMIT || size > GPUVM_LIMIT - a->va_addr + 1)
		return -EINVAL;
	struct bo *bo = calloc(1, sizeof *bo);
	if (!bo)
		return -ENOMEM;
	bo->gpu = g->index;
	bo->flags = a->flags;
	bo->va = a->va_addr;
	bo->size = size;
	bo->fd = -1;
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (kinds & KFD_IOC_ALLOC_MEM_FLAGS_VRAM) {
		bo->kind = BO_VRAM;
		uint64_t align = size >= (2u << 20) ? (2u << 20) : 4096;
		rc = gpu_vram_alloc(g, size, align, &bo->fd_offset);
		bo->fd = g->vram_fd;
		bo->host = g->vram + bo->fd_offset;
	} else if (kinds & KFD_IOC_ALLOC_MEM_FLAGS_GTT) {
		bo->kind = BO_GTT;
		bo->fd = memfd_create("tb-sim-gtt", MFD_CLOEXEC);
		bo->own_fd = bo->own_map = true;
		rc = bo->fd < 0 || ftruncate(bo->fd, (off_t)size) < 0 ? -ENOMEM : map_shared(bo->fd, 0, size, &bo->host);
	} else if (kinds & KFD_IOC_ALLOC_MEM_FLAGS_USERPTR) {
		/* the preload moved the process's pages into a file we share */
		bo->kind = BO_USERPTR;
		if (passed_fd < 0)
			rc = -EFAULT;
		else {
			bo->fd = dup(passed_fd);
			bo->fd_offset = passed_off;
			bo->user_addr = a->mmap_offset;
			bo->own_fd = bo->own_map = true;
			rc = bo->fd < 0 ? -ENOMEM : map_shared(bo->fd, passed_off, size, &bo->host);
		}
	} else if (kinds & KFD_IOC_ALLOC_MEM_FLAGS_DOORBELL) {
		bo->kind = BO_DOORBELL;
		rc = size > DOORBELL_SLICE ? -EINVAL : pdd_doorbells(d, g->index);
		bo->fd = d->doorbell_fd;
		bo->host = d->doorbells;
	} else {
		bo->kind = BO_MMIO;
		rc = size > PAGE_BYTES ? -EINVAL : 0;
		bo->fd = g->mmio_fd;
		bo->host = g->mmio;
	}
	if (rc == 0) {
		bo->handle = (uint64_t)g->gpu_id << 32 | p->next_handle++;
		bo->next = p->bos;
		p->bos = bo;
		a->handle = bo->handle;
		if (bo->kind == BO_VRAM || bo->kind == BO_GTT) {
			/* the render node's mmap offset for it */
			bo->mmap_offset = p->next_mmap;
			p->next_mmap += (size + (2u << 20) - 1) & ~((2ull << 20) - 1);
			a->mmap_offset = bo->mmap_offset;
		}
		else if (bo->kind == BO_DOORBELL)
			a->mmap_offset = KFD_MMAP_TYPE_DOORBELL | KFD_MMAP_GPU_ID(g->gpu_id);
		else if (bo->kind == BO_MMIO)
			a->mmap_offset = KFD_MMAP_TYPE_MMIO | KFD_MMAP_GPU_ID(g->gpu_id);
	}
	pthread_mutex_unlock(&p->lock);
	if (rc == 0 && (bo->kind == BO_VRAM || bo->kind == BO_GTT))
		populate(bo->host, bo->size);
	if (rc < 0) {
		if (bo->own_map && bo->host)
			munmap(bo->host, bo->size);
		if (bo->own_fd && bo->fd >= 0)
			close(bo->fd);
		free(bo);
	}
	return rc;
}

static long free_memory(struct conn *c, void *data)
{
	struct kfd_ioctl_free_memory_of_gpu_args *a = data;
	struct kfd_process *p = c->priv;
	long rc = -EINVAL;
	pthread_mutex_lock(&p->lock);
	for (struct bo **pp = &p->bos; *pp; pp = &(*pp)->next) {
		struct bo *bo = *pp;
		if (bo->handle != a->handle)
			continue;
		*pp = bo->next;
		/* still mapped: the kernel unmaps it from every GPU first */
		for (int i = 0; i < g_box->ngpus; i++)
			if (bo->mapped & (1u << i))
				vm_remove(&p->pdd[i].vm, bo);
		/* VRAM goes back to the GPU now, as amdgpu's does (a kernel still
		 * writing to it writes into whatever is allocated there next);
		 * host memory may still be read by a queue this instant: its
		 * mapping goes later */
		if (bo->kind == BO_VRAM) {
			gpu_vram_free(&g_box->gpu[bo->gpu], bo->fd_offset, bo->size);
			bo->kind = BO_VRAM_RELEASED;
		}
		bo->next = p->zombies;
		p->zombies = bo;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static long map_or_unmap(struct conn *c, void *data, bool map)
{
	struct kfd_ioctl_map_memory_to_gpu_args *a = data;
	struct kfd_process *p = c->priv;
	if (a->n_devices == 0 || a->n_success > a->n_devices || a->n_devices > 64)
		return -EINVAL;
	uint32_t ids[64];
	if (copy_from_user(c, ids, a->device_ids_array_ptr, a->n_devices * sizeof ids[0]) < 0)
		return -EFAULT;
	long rc = 0;
	pthread_mutex_lock(&p->lock);
	struct bo *bo = bo_by_handle(p, a->handle);
	if (!bo)
		rc = -EINVAL;
	for (uint32_t i = a->n_success; rc == 0 && i < a->n_devices; i++) {
		struct sim_gpu *g;
		struct pdd *d = pdd_of(p, ids[i], &g);
		if (!d || !d->present) {
			rc = -EINVAL;
			break;
		}
		if (map) {
			if (atomic_load(&g->fallen_off_bus)) {
				rc = -ENODEV;
				break;
			}
			/* VRAM of another GPU is reached across PCIe (peer access, large BAR).
			 * An invalidated userptr maps to nothing: amdgpu lets the
			 * GPU fault on it rather than stall the queues */
			rc = bo->invalid ? 0 : vm_insert(&d->vm, bo);
			if (rc == 0 && !bo->invalid)
				bo->mapped |= 1u << g->index;
		} else {
			if (bo->mapped & (1u << g->index)) {
				vm_remove(&d->vm, bo);
				bo->mapped &= ~(1u << g->index);
			}
		}
		if (rc == 0)
			a->n_success = i + 1;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* amdgpu restores a process's userptr buffers this long after the
 * invalidation that evicted its queues (AMDGPU_USERPTR_RESTORE_DELAY_MS) */
#define USERPTR_RESTORE_DELAY_NS (1ull * 1000000)

struct restore_work {
	pid_t pid;
	uint64_t serial;
};

/* amdgpu_amdkfd_restore_userptr_worker: the invalidated buffers' pages are
 * looked up again; the box invalidates only on munmap, so there are none
 * (-EFAULT, which the kernel takes as done: the GPU faults if it touches
 * them) and the queues are restored (kgd2kfd_resume_mm). */
static void *userptr_restore_worker(void *arg)
{
	struct restore_work w = *(struct restore_work *)arg;
	free(arg);
	struct timespec ts = { 0, (long)USERPTR_RESTORE_DELAY_NS };
	nanosleep(&ts, NULL);
	/* the box lock keeps the process from going meanwhile */
	pthread_mutex_lock(&g_box->lock);
	struct kfd_process *p = kfd_process_get(w.pid);
	if (p && p->serial == w.serial) {
		pthread_mutex_lock(&p->lock);
		bool evicted = p->evicted_bos > 0;
		p->evicted_bos = 0;
		pthread_mutex_unlock(&p->lock);
		if (evicted)
			queues_restore(p);
	}
	pthread_mutex_unlock(&g_box->lock);
	return NULL;
}

static void schedule_userptr_restore(struct kfd_process *p)
{
	struct restore_work *w = malloc(sizeof *w);
	pthread_t t;
	if (w) {
		*w = (struct restore_work){ p->pid, p->serial };
		if (pthread_create(&t, NULL, userptr_restore_worker, w) == 0) {
			pthread_detach(t);
			return;
		}
		free(w);
	}
	/* no thread to defer it to: restore now rather than never */
	klog("kfd kfd: amdgpu: could not defer the userptr restore of process %d", p->pid);
	pthread_mutex_lock(&p->lock);
	p->evicted_bos = 0;
	pthread_mutex_unlock(&p->lock);
	queues_restore(p);
}

/* amdgpu's MMU notifier on a userptr range (amdgpu_hmm.c,
 * amdgpu_amdkfd_evict_userptr): every userptr buffer over the unmapped
 * pages is invalidated; the first invalidation since the last restore
 * evicts the process's queues first (kgd2kfd_quiesce_mm, trigger USERPTR),
 * so that no queue touches the pages as they go, and schedules the
 * restore.  The buffers stay mapped to nothing: the restore finds no pages
 * and leaves the GPU to fault on them (update_invalid_user_pages). */
void kfd_userptr_invalidate(struct conn *c, uint64_t addr, uint64_t len)
{
	struct kfd_process *p = c->priv;
	if (!p || !len)
		return;
	uint64_t end = len > UINT64_MAX - addr ? UINT64_MAX : addr + len;
	uint32_t invalidated = 0;
	pthread_mutex_lock(&p->lock);
	for (struct bo *bo = p->bos; bo; bo = bo->next) {
		bool overlaps = bo->user_addr < end && (addr < bo->user_addr || addr - bo->user_addr < bo->size);
		if (bo->kind != BO_USERPTR || bo->invalid || !overlaps)
			continue;
		bo->invalid = true;
		invalidated++;
	}
	bool first = invalidated && p->evicted_bos == 0;
	p->evicted_bos += invalidated;
	pthread_mutex_unlock(&p->lock);
	if (first)
		queues_evict(p, KFD_QUEUE_EVICTION_TRIGGER_USERPTR);
	pthread_mutex_lock(&p->lock);
	for (struct bo *bo = p->bos; bo; bo = bo->next) {
		if (bo->kind != BO_USERPTR || !bo->invalid || !bo->mapped)
			continue;
		for (int i = 0; i < g_box->ngpus; i++)
			if (bo->mapped & (1u << i))
				vm_remove(&p->pdd[i].vm, bo);
		bo->mapped = 0;
	}
	pthread_mutex_unlock(&p->lock);
	if (first)
		schedule_userptr_restore(p);
}

static long available_memory(struct conn *c, void *data)
{
	struct kfd_ioctl_get_available_memory_args *a = data;
	struct sim_gpu *g;
	if (!pdd_of(c->priv, a->gpu_id, &g))
		return -EINVAL;
	a->available = GPU_VRAM_BYTES - atomic_load(&g->vram_used);
	return 0;
}

/* ---- queues --------------------------------------------------------------------------- */

static bool mapped_range(struct pdd *d, uint64_t va, uint64_t size)
{
	struct isa_mapping m;
	return size && vm_lookup(&d->vm, va, &m) == 0 && va - m.va <= m.size && size <= m.size - (va - m.va);
}

/* What kfd_queue_acquire_buffers checks on a 6.x kernel: the EOP buffer,
 * when given, is the node's size and mapped; a compute queue's context
 * save area (CWSR) is mapped and holds the save area and the debugger's
 * part for every XCC (a size other than the node's is only warned about,
 * as amdgpu does since it let HSA_OVERRIDE_GFX_VERSION users through). */
static long queue_buffers_ok(struct pdd *d, struct sim_gpu *g, const struct kfd_ioctl_create_queue_args *a)
{
	enum { EOP_BYTES = 4096 };
	if (a->eop_buffer_address &&
	    (a->eop_buffer_size != EOP_BYTES || !mapped_range(d, a->eop_buffer_address, a->eop_buffer_size)))
		return -EINVAL;
	if (a->queue_type != KFD_IOC_QUEUE_TYPE_COMPUTE)
		return 0;
	/* the node's figures: 96 CUs of 32 waves, gfx11's per-CU context */
	uint64_t cus = GPU_CUS, waves = cus * 32;
	uint64_t ctl = (12 * waves + 8 + 40 + 4095) & ~4095ull;
	uint64_t cwsr = ((0x60000 + 0x4000 + 0x10000 + 0x1000) * cus + 4095) / 4096 * 4096 + ctl;
	uint64_t debug = (waves * 32 + 63) & ~63ull;
	if (a->ctx_save_restore_size != cwsr)
		klog("amdgpu %s: queue cwsr size 0x%x not equal to node cwsr size 0x%llx", g->bdf,
		     a->ctx_save_restore_size, (unsigned long long)cwsr);
	uint64_t total = ((uint64_t)a->ctx_save_restore_size + debug + 4095) & ~4095ull;
	if (!a->ctx_save_restore_address || !mapped_range(d, a->ctx_save_restore_address, total))
		return -EINVAL;
	return 0;
}

/* The checks amdgpu's set_queue_properties_from_user and update_queue make;
 * a ring smaller than the minimum is raised to it. */
static int queue_params(uint32_t percentage, uint32_t priority, uint32_t *ring_size)
{
	if ((percentage & 0xff) > KFD_MAX_QUEUE_PERCENTAGE || priority > KFD_MAX_QUEUE_PRIORITY)
		return -EINVAL;
	if (*ring_size && (*ring_size & (*ring_size - 1)))
		return -EINVAL;
	if (*ring_size < KFD_MIN_QUEUE_RING_SIZE)
		*ring_size = KFD_MIN_QUEUE_RING_SIZE;
	return 0;
}

static long create_queue(struct conn *c, void *data)
{
	struct kfd_ioctl_create_queue_args *a = data;
	struct kfd_process *p = c->priv;
	if (queue_params(a->queue_percentage, a->queue_priority, &a->ring_size) < 0)
		return -EINVAL;
	if (a->queue_type != KFD_IOC_QUEUE_TYPE_COMPUTE && a->queue_type != KFD_IOC_QUEUE_TYPE_SDMA &&
	    a->queue_type != KFD_IOC_QUEUE_TYPE_COMPUTE_AQL && a->queue_type != KFD_IOC_QUEUE_TYPE_SDMA_XGMI)
		return -ENOTSUP;
	struct sim_gpu *g;
	struct pdd *d = pdd_of(p, a->gpu_id, &g);
	if (!d)
		return -EINVAL;
	if (!d->present)
		return -ESRCH;
	if (atomic_load(&g->fallen_off_bus))
		return -ENODEV;
	/* the ring and the pointers must be memory the process mapped on this GPU */
	if (!mapped_range(d, a->ring_base_address, a->ring_size) || !mapped_range(d, a->read_pointer_address, 8) ||
	    !mapped_range(d, a->write_pointer_address, 8))
		return -EINVAL;
	if (a->queue_type == KFD_IOC_QUEUE_TYPE_COMPUTE_AQL)
		return -EINVAL;		/* AQL needs the packet processor firmware; PM4 queues only */
	long qrc = queue_buffers_ok(d, g, a);
	if (qrc < 0)
		return qrc;
	long rc;
	pthread_mutex_lock(&p->lock);
	int slot = -1;
	for (int i = 0; i < MAX_PROCESS_QUEUES; i++)
		if (!p->queues[i]) {
			slot = i;
			break;
		}
	rc = slot < 0 ? -ENOMEM : pdd_doorbells(d, g->index);
	if (rc == 0) {
		uint32_t db = d->next_doorbell;
		if (db * 8 + 8 > DOORBELL_SLICE) {
			rc = -ENOMEM;
		} else {
			int err = 0;
			struct sim_queue *q = queue_create(p, g, a, db * 8, &err);
			if (!q) {
				rc = err ? err : -ENOMEM;
			} else {
				d->next_doorbell++;
				p->queues[slot] = q;
				a->queue_id = (uint32_t)slot;
				a->doorbell_offset = KFD_MMAP_TYPE_DOORBELL | KFD_MMAP_GPU_ID(a->gpu_id) | (db * 8);
			}
		}
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static long destroy_queue(struct conn *c, void *data)
{
	struct kfd_ioctl_destroy_queue_args *a = data;
	struct kfd_process *p = c->priv;
	if (a->queue_id >= MAX_PROCESS_QUEUES)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	struct sim_queue *q = p->queues[a->queue_id];
	p->queues[a->queue_id] = NULL;
	pthread_mutex_unlock(&p->lock);
	if (!q)
		return -EINVAL;
	return queue_destroy(q);
}

static long update_queue(struct conn *c, void *data)
{
	struct kfd_ioctl_update_queue_args *a = data;
	struct kfd_process *p = c->priv;
	if (queue_params(a->queue_percentage, a->queue_priority, &a->ring_size) < 0)
		return -EINVAL;
	if (a->queue_id >= MAX_PROCESS_QUEUES)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	struct sim_queue *q = p->queues[a->queue_id];
	long rc = q ? queue_update(q, a->ring_base_address, a->ring_size) : -EINVAL;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* ---- events ------------------------------------------------------------------------------ */

#define UNSIGNALED_SLOT UINT64_MAX
#define FIRST_NONSIGNAL_ID MAX_EVENTS

static uint64_t *slot_ptr(struct kfd_process *p, uint32_t slot)
{
	if (!p->event_page || (uint64_t)slot * 8 + 8 > p->event_page->size)
		return NULL;
	return (uint64_t *)(void *)(p->event_page->host + (uint64_t)slot * 8);
}

static struct kfd_event *event_by_id(struct kfd_process *p, uint32_t id)
{
	for (int i = 0; i < MAX_EVENTS; i++)
		if (p->events[i] && p->events[i]->id == id)
			return p->events[i];
	return NULL;
}

/* No page from the process: the kernel allocates one of its own, which the
 * process can mmap (KFD_MMAP_TYPE_EVENTS) but no GPU writes, as amdgpu's
 * allocate_signal_page does.  Released with the process. */
static int kernel_signal_page(struct kfd_process *p)
{
	struct bo *bo = calloc(1, sizeof *bo);
	if (!bo)
		return -ENOMEM;
	bo->kind = BO_GTT;
	bo->size = MAX_EVENTS * 8;
	bo->fd = memfd_create("tb-sim-signal-page", MFD_CLOEXEC);
	bo->own_fd = bo->own_map = true;
	if (bo->fd < 0 || ftruncate(bo->fd, (off_t)bo->size) < 0 || map_shared(bo->fd, 0, bo->size, &bo->host) < 0) {
		if (bo->fd >= 0)
			close(bo->fd);
		free(bo);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < MAX_EVENTS; i++)
		((uint64_t *)(void *)bo->host)[i] = UNSIGNALED_SLOT;
	bo->next = p->zombies;
	p->zombies = bo;
	p->event_page = bo;
	return 0;
}

static long create_event(struct conn *c, void *data)
{
	struct kfd_ioctl_create_event_args *a = data;
	struct kfd_process *p = c->priv;
	long rc = 0;
	pthread_mutex_lock(&p->lock);
	if (a->event_page_offset && !p->event_page) {
		/* the process gives its own signal page: a buffer it allocated */
		struct bo *bo = bo_by_handle(p, a->event_page_offset);
		if (!bo || !bo->host) {
			rc = -EINVAL;
			goto out;
		}
		p->event_page = bo;
		for (uint64_t i = 0; i < bo->size / 8 && i < MAX_EVENTS; i++)
			((uint64_t *)(void *)bo->host)[i] = UNSIGNALED_SLOT;
	}
	int free_idx = -1;
	for (int i = 0; i < MAX_EVENTS; i++)
		if (!p->events[i]) {
			free_idx = i;
			break;
		}
	if (free_idx < 0) {
		rc = -ENOSPC;
		goto out;
	}
	struct kfd_event *e = calloc(1, sizeof *e);
	if (!e) {
		rc = -ENOMEM;
		goto out;
	}
	e->type = a->event_type;
	e->auto_reset = a->auto_reset != 0;
	if (e->type == KFD_IOC_EVENT_SIGNAL || e->type == KFD_IOC_EVENT_DEBUG_EVENT) {
		if (!p->event_page && (rc = kernel_signal_page(p)) < 0) {
			free(e);
			goto out;
		}
		e->slot = p->next_event_slot;
		if (e->slot >= MAX_EVENTS || !slot_ptr(p, e->slot)) {
			free(e);
			rc = -ENOSPC;
			goto out;
		}
		p->next_event_slot++;
		e->id = e->slot;
		*slot_ptr(p, e->slot) = UNSIGNALED_SLOT;
		a->event_trigger_data = e->id;
		a->event_slot_index = e->slot;
		a->event_page_offset = KFD_MMAP_TYPE_EVENTS;
	} else {
		e->id = FIRST_NONSIGNAL_ID + (uint32_t)free_idx;
		a->event_trigger_data = 0;
		a->event_slot_index = 0;
	}
	a->event_id = e->id;
	p->events[free_idx] = e;
out:
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static long destroy_event(struct conn *c, void *data)
{
	struct kfd_ioctl_destroy_event_args *a = data;
	struct kfd_process *p = c->priv;
	long rc = -EINVAL;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < MAX_EVENTS; i++)
		if (p->events[i] && p->events[i]->id == a->event_id) {
			free(p->events[i]);
			p->events[i] = NULL;
			rc = 0;
			break;
		}
	pthread_cond_broadcast(&p->events_cond);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static long set_or_reset_event(struct conn *c, void *data, bool set)
{
	struct kfd_ioctl_set_event_args *a = data;
	struct kfd_process *p = c->priv;
	pthread_mutex_lock(&p->lock);
	struct kfd_event *e = event_by_id(p, a->event_id);
	long rc = e && (e->type == KFD_IOC_EVENT_SIGNAL || e->type == KFD_IOC_EVENT_DEBUG_EVENT) ? 0 : -EINVAL;
	if (rc == 0) {
		e->signaled = set;
		if (!set && slot_ptr(p, e->slot))
			*slot_ptr(p, e->slot) = UNSIGNALED_SLOT;
		pthread_cond_broadcast(&p->events_cond);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void kfd_signal_interrupt(struct kfd_process *p, uint32_t ctxid)
{
	pthread_mutex_lock(&p->lock);
	struct kfd_event *named = ctxid ? event_by_id(p, ctxid) : NULL;
	if (named) {
		/* the context id names an event whose slot is not signaled: the
		 * kernel then looks at every slot of the page */
		uint64_t *s = named->type == KFD_IOC_EVENT_SIGNAL ? slot_ptr(p, named->slot) : NULL;
		if (!s || __atomic_load_n(s, __ATOMIC_ACQUIRE) == UNSIGNALED_SLOT)
			named = NULL;
	}
	for (int i = 0; i < MAX_EVENTS; i++) {
		struct kfd_event *e = p->events[i];
		if (!e || e->type != KFD_IOC_EVENT_SIGNAL || (named && e != named))
			continue;
		uint64_t *s = slot_ptr(p, e->slot);
		/* the GPU wrote something other than "unsignaled" to the slot */
		/* as amdgpu's KFD: only a slot the GPU wrote counts, named or not */
		if (s && __atomic_load_n(s, __ATOMIC_ACQUIRE) != UNSIGNALED_SLOT) {
			e->signaled = true;
			__atomic_store_n(s, UNSIGNALED_SLOT, __ATOMIC_RELEASE);
		}
	}
	pthread_cond_broadcast(&p->events_cond);
	pthread_mutex_unlock(&p->lock);
}

/* The process's name as the kernel keeps it (task->comm). */
static void task_name(pid_t pid, char *name, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	name[0] = '\0';
	if (f) {
		if (fgets(name, (int)len, f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
	}
}

void kfd_signal_memory_fault(struct kfd_process *p, struct sim_gpu *g, uint64_t va, bool write, bool no_map)
{
	char comm[16 + 1];
	task_name(p->pid, comm, sizeof comm);
	kfd_smi_event(g, p->pid, KFD_SMI_EVENT_VMFAULT, "%x:%s\n", (unsigned)p->pid, comm);
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < MAX_EVENTS; i++) {
		struct kfd_event *e = p->events[i];
		if (!e || e->type != KFD_IOC_EVENT_MEMORY)
			continue;
		memset(&e->mem, 0, sizeof e->mem);
		e->mem.va = va & ~4095ull;
		e->mem.gpu_id = g->gpu_id;
		e->mem.failure.NotPresent = no_map;
		e->mem.failure.ReadOnly = write && !no_map;
		e->mem.ErrorType = KFD_MEM_ERR_NO_RAS;
		e->signaled = true;
	}
	pthread_cond_broadcast(&p->events_cond);
	pthread_mutex_unlock(&p->lock);
}

void kfd_signal_hw_exception(struct kfd_process *p, struct sim_gpu *g, uint32_t cause)
{
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < MAX_EVENTS; i++) {
		struct kfd_event *e = p->events[i];
		if (!e || e->type != KFD_IOC_EVENT_HW_EXCEPTION)
			continue;
		memset(&e->hw, 0, sizeof e->hw);
		e->hw.reset_type = KFD_HW_EXCEPTION_WHOLE_GPU_RESET;
		e->hw.reset_cause = cause;
		e->hw.memory_lost = 1;
		e->hw.gpu_id = g->gpu_id;
		e->signaled = true;
	}
	pthread_cond_broadcast(&p->events_cond);
	pthread_mutex_unlock(&p->lock);
}

/* WAIT_EVENTS: until any (or all) of the events is signalled, or timeout
 * milliseconds (0: just look; 0xffffffff: forever).  Runs on a thread of
 * its own so that the process's other ioctls go on meanwhile. */
static long wait_events(struct conn *c, void *data)
{
	struct kfd_ioctl_wait_events_args *a = data;
	struct kfd_process *p = c->priv;
	if (a->num_events == 0 || a->num_events > MAX_EVENTS)
		return -EINVAL;
	struct kfd_event_data *ev = calloc(a->num_events, sizeof *ev);
	if (!ev)
		return -ENOMEM;
	long rc = 0;
	if (copy_from_user(c, ev, a->events_ptr, a->num_events * sizeof *ev) < 0) {
		free(ev);
		return -EFAULT;
	}
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	uint64_t ns = (uint64_t)deadline.tv_nsec + (uint64_t)a->timeout * 1000000ull;
	deadline.tv_sec += (time_t)(ns / 1000000000ull);
	deadline.tv_nsec = (long)(ns % 1000000000ull);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		uint32_t done = 0;
		for (uint32_t i = 0; i < a->num_events; i++) {
			struct kfd_event *e = event_by_id(p, ev[i].event_id);
			if (!e) {
				rc = -EINVAL;
				break;
			}
			done += e->signaled;
		}
		if (rc < 0)
			break;
		if (done == a->num_events || (done && !a->wait_for_all)) {
			a->wait_result = KFD_IOC_WAIT_RESULT_COMPLETE;
			for (uint32_t i = 0; i < a->num_events; i++) {
				struct kfd_event *e = event_by_id(p, ev[i].event_id);
				if (!e->signaled)
					continue;
				if (e->type == KFD_IOC_EVENT_MEMORY)
					ev[i].memory_exception_data = e->mem;
				else if (e->type == KFD_IOC_EVENT_HW_EXCEPTION)
					ev[i].hw_exception_data = e->hw;
				if (e->auto_reset)
					e->signaled = false;
			}
			break;
		}
		if (a->timeout == 0 || atomic_load(&g_box->stopping) || atomic_load(&c->closed)) {
			a->wait_result = KFD_IOC_WAIT_RESULT_TIMEOUT;
			break;
		}
		int w = a->timeout == 0xffffffffu ? pthread_cond_wait(&p->events_cond, &p->lock)
						  : pthread_cond_timedwait(&p->events_cond, &p->lock, &deadline);
		if (w == ETIMEDOUT) {
			a->wait_result = KFD_IOC_WAIT_RESULT_TIMEOUT;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (rc == 0 && copy_to_user(c, a->events_ptr, ev, a->num_events * sizeof *ev) < 0)
		rc = -EFAULT;
	free(ev);
	return rc;
}

/* ---- the rest ------------------------------------------------------------------------------- */

static long get_clock_counters(struct conn *c, void *data)
{
	struct kfd_ioctl_get_clock_counters_args *a = data;
	if (!pdd_of(c->priv, a->gpu_id, NULL))
		return -EINVAL;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	a->gpu_clock_counter = gpu_clock();
	a->cpu_clock_counter = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	a->system_clock_counter = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	a->system_clock_freq = 1000000000ull;
	return 0;
}

static long set_memory_policy(struct conn *c, void *data)
{
	struct kfd_ioctl_set_memory_policy_args *a = data;
	if (!pdd_of(c->priv, a->gpu_id, NULL))
		return -EINVAL;
	if ((a->default_policy != KFD_IOC_CACHE_POLICY_COHERENT && a->default_policy != KFD_IOC_CACHE_POLICY_NONCOHERENT) ||
	    (a->alternate_policy != KFD_IOC_CACHE_POLICY_COHERENT &&
	     a->alternate_policy != KFD_IOC_CACHE_POLICY_NONCOHERENT))
		return -EINVAL;
	return 0;
}

static long gpu_only(struct conn *c, uint32_t gpu_id)
{
	struct sim_gpu *g;
	struct pdd *d = pdd_of(c->priv, gpu_id, &g);
	return d ? 0 : -EINVAL;
}

static long get_tile_config(struct conn *c, void *data)
{
	struct kfd_ioctl_get_tile_config_args *a = data;
	if (gpu_only(c, a->gpu_id) < 0)
		return -EINVAL;
	a->gb_addr_config = 0x00000545;	/* GB_ADDR_CONFIG of Navi 31 */
	a->num_banks = 0;
	a->num_ranks = 0;
	a->num_tile_configs = 0;
	a->num_macro_tile_configs = 0;
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------------ */

struct kfd_ioctl_def {
	unsigned nr;
	size_t size;
	long (*fn)(struct conn *, void *);
	const char *name;
};

static long set_event(struct conn *c, void *d) { return set_or_reset_event(c, d, true); }
static long reset_event(struct conn *c, void *d) { return set_or_reset_event(c, d, false); }
static long map_memory(struct conn *c, void *d) { return map_or_unmap(c, d, true); }
static long unmap_memory(struct conn *c, void *d) { return map_or_unmap(c, d, false); }
static long set_scratch_backing(struct conn *c, void *d)
{
	return gpu_only(c, ((struct kfd_ioctl_set_scratch_backing_va_args *)d)->gpu_id);
}
static long set_trap_handler(struct conn *c, void *d)
{
	return gpu_only(c, ((struct kfd_ioctl_set_trap_handler_args *)d)->gpu_id);
}

/* SMI_EVENTS: a file of the GPU's events (smi.c), handed to the process
 * with the reply */
_Thread_local int kfd_reply_fd = -1;

static long smi_events(struct conn *c, void *data)
{
	struct kfd_ioctl_smi_events_args *a = data;
	struct sim_gpu *g;
	if (!pdd_of(c->priv, a->gpuid, &g))
		return -EINVAL;
	int fd;
	long rc = kfd_smi_open(c, g, &fd);
	if (rc < 0)
		return rc;
	kfd_reply_fd = fd;
	a->anon_fd = 0;		/* the preload puts the descriptor's number here */
	return 0;
}

#define DEF(ioc, fn) { _IOC_NR(ioc), _IOC_SIZE(ioc), fn, #ioc }
static const struct kfd_ioctl_def defs[] = {
	DEF(AMDKFD_IOC_GET_VERSION, get_version),
	DEF(AMDKFD_IOC_CREATE_QUEUE, create_queue),
	DEF(AMDKFD_IOC_DESTROY_QUEUE, destroy_queue),
	DEF(AMDKFD_IOC_SET_MEMORY_POLICY, set_memory_policy),
	DEF(AMDKFD_IOC_GET_CLOCK_COUNTERS, get_clock_counters),
	DEF(AMDKFD_IOC_GET_PROCESS_APERTURES, get_process_apertures),
	DEF(AMDKFD_IOC_UPDATE_QUEUE, update_queue),
	DEF(AMDKFD_IOC_CREATE_EVENT, create_event),
	DEF(AMDKFD_IOC_DESTROY_EVENT, destroy_event),
	DEF(AMDKFD_IOC_SET_EVENT, set_event),
	DEF(AMDKFD_IOC_RESET_EVENT, reset_event),
	DEF(AMDKFD_IOC_WAIT_EVENTS, wait_events),
	DEF(AMDKFD_IOC_SET_SCRATCH_BACKING_VA, set_scratch_backing),
	DEF(AMDKFD_IOC_GET_TILE_CONFIG, get_tile_config),
	DEF(AMDKFD_IOC_SET_TRAP_HANDLER, set_trap_handler),
	DEF(AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, get_process_apertures_new),
	DEF(AMDKFD_IOC_ACQUIRE_VM, acquire_vm),
	DEF(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, NULL),	/* alloc_memory: takes the passed file */
	DEF(AMDKFD_IOC_FREE_MEMORY_OF_GPU, free_memory),
	DEF(AMDKFD_IOC_MAP_MEMORY_TO_GPU, map_memory),
	DEF(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, unmap_memory),
	DEF(AMDKFD_IOC_AVAILABLE_MEMORY, available_memory),
	DEF(AMDKFD_IOC_RUNTIME_ENABLE, runtime_enable),
	DEF(AMDKFD_IOC_SMI_EVENTS, smi_events),
};

long kfd_ioctl_passing(struct conn *c, uint64_t request, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out,
		       int fd, uint64_t fd_offset)
{
	(void)arg;
	*copy_out = 0;
	if (_IOC_TYPE(request) != AMDKFD_IOCTL_BASE)
		return -ENOTTY;
	const struct kfd_ioctl_def *d = NULL;
	for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
		if (defs[i].nr == _IOC_NR(request))
			d = &defs[i];
	if (!d)
		return -ENOTTY;
	/* like the kernel: the struct is the kernel's size, zero-extended or
	 * truncated from what the caller passed */
	uint8_t args[256];
	if (d->size > sizeof args)
		return -EINVAL;
	memset(args, 0, sizeof args);
	memcpy(args, data, size < d->size ? size : d->size);
	long rc;
	if (_IOC_NR(request) == _IOC_NR(AMDKFD_IOC_ALLOC_MEMORY_OF_GPU))
		rc = alloc_memory(c, args, fd, fd_offset);
	else
		rc = d->fn(c, args);
	/* copy back on success, and for calls whose partial progress matters */
	if (rc >= 0 || _IOC_NR(request) == _IOC_NR(AMDKFD_IOC_MAP_MEMORY_TO_GPU) ||
	    _IOC_NR(request) == _IOC_NR(AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU)) {
		uint32_t n = size < d->size ? size : (uint32_t)d->size;
		memcpy(data, args, n);
		*copy_out = n;
	}
	return rc;
}

long kfd_ioctl(struct conn *c, uint64_t request, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out)
{
	return kfd_ioctl_passing(c, request, arg, data, size, copy_out, -1, 0);
}

int kfd_mmap(struct conn *c, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset)
{
	struct kfd_process *p = c->priv;
	uint64_t type = offset & KFD_MMAP_TYPE_MASK;
	struct sim_gpu *g;
	struct pdd *d = pdd_of(p, (uint32_t)KFD_MMAP_GPU_ID_GET(offset), &g);
	if (type == KFD_MMAP_TYPE_DOORBELL) {
		if (!d || length > DOORBELL_SLICE)
			return -EINVAL;
		pthread_mutex_lock(&p->lock);
		int rc = pdd_doorbells(d, g->index);
		pthread_mutex_unlock(&p->lock);
		if (rc < 0)
			return rc;
		*fd = d->doorbell_fd;
		*file_offset = 0;
		return 0;
	}
	if (type == KFD_MMAP_TYPE_MMIO) {
		if (!d || length > 4096)
			return -EINVAL;
		*fd = g->mmio_fd;
		*file_offset = 0;
		return 0;
	}
	if (type == KFD_MMAP_TYPE_EVENTS) {
		if (!p->event_page || length > p->event_page->size)
			return -EINVAL;
		*fd = p->event_page->fd;
		*file_offset = p->event_page->fd_offset;
		return 0;
	}
	return -EINVAL;
}

/* Buffer objects for the render node's mmap (drm.c): the handle in the offset. */
int kfd_bo_for_mmap(pid_t pid, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset);
int kfd_bo_for_mmap(pid_t pid, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset)
{
	pthread_mutex_lock(&g_box->lock);
	struct kfd_process *p = kfd_process_get(pid);
	int rc = -EINVAL;
	if (p) {
		pthread_mutex_lock(&p->lock);
		for (struct bo *bo = p->bos; bo; bo = bo->next) {
			if ((bo->kind != BO_VRAM && bo->kind != BO_GTT) || offset < bo->mmap_offset ||
			    offset - bo->mmap_offset >= bo->size)
				continue;
			if (length <= bo->size - (offset - bo->mmap_offset)) {
				*fd = bo->fd;
				*file_offset = bo->fd_offset + (offset - bo->mmap_offset);
				rc = 0;
			}
			break;
		}
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_unlock(&g_box->lock);
	return rc;
}
