/* libtbdrv internals.  Private to driver/. */
#ifndef TBDRV_INTERNAL_H
#define TBDRV_INTERNAL_H

#include <amdgpu.h>
#include <amdgpu_drm.h>
#include <linux/kfd_ioctl.h>
#include <pthread.h>

#include "driver/tbdrv.h"

#define TB_EVENT_SLOTS 4096	/* KFD_SIGNAL_EVENT_LIMIT: one 8-byte mailbox each */

/* The process's one KFD file and what hangs off it. */
struct tb_process {
	pthread_mutex_t lock;
	int refs;
	int kfd;
	struct tb_bo *event_page;	/* the signal events' mailboxes */
	uint32_t memory_event, hw_event;	/* exception events */
	struct tb_gpu *gpus[64];	/* open GPUs, by index */
	struct tb_gpu *retired;		/* closed, but holding the event page */
	/* Render nodes stay open for the life of the process: KFD keeps the
	 * process's VM bound to the DRM file ACQUIRE_VM named, and takes no
	 * other file for that GPU afterwards (EBUSY), even after every KFD
	 * file was closed. */
	int drm_fd[64];
	amdgpu_device_handle dev[64];
};

struct tb_gpu {
	struct tb_gpu_info info;
	struct tb_process *proc;
	int drm_fd;
	amdgpu_device_handle dev;
	void *doorbells;		/* the process's doorbell page on this GPU */
	uint64_t doorbell_base;		/* its mmap offset */
	/* failure and the queues' progress: any thread may wait on the GPU
	 * while others submit to it */
	pthread_mutex_t lock;
	char failure[512];		/* causes, first first; under lock */
	bool failed;			/* atomic: failure is final */
	struct tb_queue *queues;	/* live queues, for hang detection; under lock */
	uint32_t hang_timeout_ms;	/* atomic */
	double gpu_clock_hz;		/* the GPU's timestamp counter */
	struct tb_gpu *next_retired;
};

enum { TB_HANG_TIMEOUT_MS = 10000 };

/* Write a message to err (when given) and return rc. */
int tb_fail(char *err, size_t len, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int tb_kfd_ioctl(int fd, unsigned long request, void *arg);
struct tb_process *tb_process_get(void);
/* Fault and reset events KFD reported: mark the GPUs they name failed.
 * Returns true when g is (now) failed. */
bool tb_gpu_check_exceptions(struct tb_gpu *g, const struct kfd_event_data *ev, uint32_t n);
void tb_gpu_fail(struct tb_gpu *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, with g->lock held. */
void tb_gpu_fail_locked(struct tb_gpu *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool tb_gpu_failed(const struct tb_gpu *g);
/* Declare a hang of any of g's queues that has work outstanding and made
 * no progress (read pointer and completion value unchanged) for the hang
 * timeout.  Returns true when g is (now) failed. */
bool tb_gpu_check_hangs(struct tb_gpu *g);
int tb_bo_map_to(struct tb_bo *bo, struct tb_gpu *g);

/* The kernel's signal-event slot for a signal (queue.c writes it). */
struct tb_signal {
	struct tb_gpu *gpu;
	struct tb_bo *bo;		/* value at 0, timestamps at 8 and 16 */
	volatile uint64_t *value;
	uint32_t event_id;
	uint64_t mailbox_va;		/* the event's slot in the event page */
};

#endif
