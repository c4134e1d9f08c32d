/* The simulated KFD's process state: buffer objects, GPU virtual memory,
 * doorbells, events and queues.  Private to sim/. */
#ifndef TB_SIM_KFD_PRIV_H
#define TB_SIM_KFD_PRIV_H

#include <linux/kfd_ioctl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim/kmd/kmd.h"
#include "sim/isa/isa.h"

/* ioctls newer than Debian 12's <linux/kfd_ioctl.h> (KFD 1.11): the
 * simulated kernel is a stock Ubuntu 24.04 one */
#ifndef AMDKFD_IOC_RUNTIME_ENABLE
struct kfd_ioctl_runtime_enable_args {
	__u64 r_debug;
	__u32 mode_mask;
	__u32 capabilities_mask;
};
#define AMDKFD_IOC_RUNTIME_ENABLE AMDKFD_IOWR(0x25, struct kfd_ioctl_runtime_enable_args)
#endif

#define SIM_KFD_MAJOR 1
#define SIM_KFD_MINOR 14

/* mmap offsets of /dev/kfd (kfd_priv.h) */
#define KFD_MMAP_TYPE_SHIFT 62
#define KFD_MMAP_TYPE_MASK (0x3ull << KFD_MMAP_TYPE_SHIFT)
#define KFD_MMAP_TYPE_DOORBELL (0x3ull << KFD_MMAP_TYPE_SHIFT)
#define KFD_MMAP_TYPE_EVENTS (0x2ull << KFD_MMAP_TYPE_SHIFT)
#define KFD_MMAP_TYPE_RESERVED_MEM (0x1ull << KFD_MMAP_TYPE_SHIFT)
#define KFD_MMAP_TYPE_MMIO (0x0ull << KFD_MMAP_TYPE_SHIFT)
#define KFD_MMAP_GPU_ID_SHIFT 46
#define KFD_MMAP_GPU_ID_MASK (0xffffull << KFD_MMAP_GPU_ID_SHIFT)
#define KFD_MMAP_GPU_ID(id) (((uint64_t)(id) << KFD_MMAP_GPU_ID_SHIFT) & KFD_MMAP_GPU_ID_MASK)
#define KFD_MMAP_GPU_ID_GET(off) (((off) & KFD_MMAP_GPU_ID_MASK) >> KFD_MMAP_GPU_ID_SHIFT)

/* the CPU's page size (x86-64), the unit KFD rounds buffers to */
#define PAGE_BYTES 4096ull
/* a process's doorbells: two pages per GPU (SOC15) */
#define DOORBELL_SLICE 8192
/* the uapi header spells it (1 << 31), which is not a valid int */
#define KFD_ALLOC_WRITABLE 0x80000000u
/* the apertures KFD gives gfx9+ processes (kfd_flat_memory.c) */
#define APE_LDS_BASE (1ull << 48)
#define APE_SCRATCH_BASE (2ull << 48)
#define APE_SIZE (1ull << 32)
#define GPUVM_BASE (1ull << 24)
#define GPUVM_LIMIT ((1ull << 47) - 1)

#define MAX_PROCESS_QUEUES 128
#define MAX_EVENTS 4096

enum bo_kind { BO_VRAM, BO_GTT, BO_USERPTR, BO_DOORBELL, BO_MMIO, BO_VRAM_RELEASED };

/* A buffer object: GPU memory a process allocated. */
struct bo {
	uint64_t handle;
	int gpu;			/* the GPU it was allocated on */
	uint32_t flags;
	enum bo_kind kind;
	uint64_t va, size;
	uint64_t mmap_offset;		/* where the render node maps it */
	int fd;				/* what backs it (VRAM: the GPU's memfd) */
	uint64_t fd_offset;
	uint8_t *host;			/* the daemon's view of it */
	bool own_fd, own_map;
	uint32_t mapped;		/* bit per GPU whose VM maps it */
	uint64_t user_addr;		/* BO_USERPTR: the process's address of it */
	bool invalid;			/* BO_USERPTR: its pages were unmapped */
	struct bo *next;
};

/* A process's GPU virtual memory on one GPU: mappings sorted by address. */
struct vm_map {
	uint64_t va, size;
	uint8_t *host;
	bool writable;
	struct bo *bo;
};

struct vm {
	pthread_rwlock_t lock;
	struct vm_map *m;
	size_t n, cap;
};

struct sim_queue;

/* A process's view of one GPU. */
struct pdd {
	bool present;			/* the process acquired this GPU's VM */
	uint64_t drm_conn;		/* the render node file it used */
	struct vm vm;
	int doorbell_fd;
	uint8_t *doorbells;
	uint32_t next_doorbell;		/* next free doorbell slot (8 bytes each) */
	bool scratch_set;
};

struct kfd_event {
	uint32_t id;
	uint32_t type;
	bool auto_reset;
	bool signaled;
	uint32_t slot;
	struct kfd_hsa_memory_exception_data mem;
	struct kfd_hsa_hw_exception_data hw;
};

struct kfd_process {
	pid_t pid;
	int refs;			/* open /dev/kfd files */
	pthread_mutex_t lock;
	pthread_cond_t events_cond;	/* WAIT_EVENTS sleeps here */
	struct pdd pdd[SIM_MAX_GPUS];
	struct bo *bos;
	uint32_t next_handle;
	uint64_t next_mmap;		/* the render node's mmap offsets for its buffers */
	struct kfd_event *events[MAX_EVENTS];
	uint32_t next_event_slot;
	struct bo *event_page;		/* signal slots, one u64 each */
	struct sim_queue *queues[MAX_PROCESS_QUEUES];
	bool runtime_enabled;
	struct bo *zombies;		/* freed while queues may still use them */
	atomic_int queues_evicted;	/* evictions not yet restored (qpd->evicted) */
	uint32_t evicted_bos;		/* userptr buffers invalidated since the last restore */
	uint64_t serial;		/* tells a process from a later one with its pid */
	struct kfd_process *next;
};

/* vm.c */
int vm_insert(struct vm *vm, struct bo *bo);
int vm_remove(struct vm *vm, const struct bo *bo);
bool vm_overlaps(struct vm *vm, uint64_t va, uint64_t size);
int vm_lookup(void *vm, uint64_t va, struct isa_mapping *out);	/* an isa_memory lookup */

/* kfd.c: process lookup for the rest of the daemon */
struct kfd_process *kfd_process_get(pid_t pid);	/* with the box lock held */
/* Signal events (interrupt path): ctxid names an event or 0 scans the page. */
void kfd_signal_interrupt(struct kfd_process *p, uint32_t ctxid);
void kfd_signal_memory_fault(struct kfd_process *p, struct sim_gpu *g, uint64_t va, bool write, bool no_map);
void kfd_signal_hw_exception(struct kfd_process *p, struct sim_gpu *g, uint32_t cause);

/* smi.c: an SMI event file of GPU g for the process (kfd_smi_event, in
 * kmd.h, fills it) */
long kfd_smi_open(const struct conn *c, const struct sim_gpu *g, int *client_fd);

/* queue.c: user-mode queues on the engines */
struct sim_queue *queue_create(struct kfd_process *p, struct sim_gpu *g, const struct kfd_ioctl_create_queue_args *a,
			       uint32_t doorbell_offset, int *err);
int queue_destroy(struct sim_queue *q);	/* 0, or -ETIMEDOUT when MES did not answer */
int queue_update(struct sim_queue *q, uint64_t ring, uint32_t size);
bool queue_idle(const struct sim_queue *q);
/* Evict every queue of the process (they stop between packets, nothing is
 * lost) with a QUEUE_EVICTION event of the trigger (KFD_QUEUE_EVICTION_
 * TRIGGER_*) on each GPU it uses; restore them with a QUEUE_RESTORE event.
 * Called without the process's lock. */
void queues_evict(struct kfd_process *p, uint32_t trigger);
void queues_restore(struct kfd_process *p);

/* /sys/class/kfd/kfd/proc/<pid>/ (kfd_procfs.c) */
void kfd_procfs_add(pid_t pid);
void kfd_procfs_add_gpu(pid_t pid, const struct sim_gpu *g);
void kfd_procfs_remove(pid_t pid);

#endif
