/* The simulated kernel (sim/kmd: KFD, the render nodes, the user-mode
 * queues) as the daemon (sim/box) sees it: the only header of sim/kmd that
 * sim/box includes.  The kernel's own state stays in kfd_priv.h. */
#ifndef TB_SIM_KMD_H
#define TB_SIM_KMD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sim/box/box.h"
#include "sim/box/conn.h"

/* Device operations (sim/kmd): open returns 0 or -errno; ioctl returns the
 * ioctl's value or -errno and sets *copy_out to how much of the argument to
 * copy back; mmap returns a file to map (the caller closes nothing; *fd is
 * borrowed) and the offset in it. */
int kfd_open(struct conn *c);
void kfd_release(struct conn *c);
void kfd_file_closing(struct conn *c);	/* wake the file's sleeping ioctls */
void kfd_reap(void);			/* drop the state of processes that exited */
long kfd_ioctl(struct conn *c, uint64_t request, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out);
int kfd_mmap(struct conn *c, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset);
/* kfd_ioctl with a file the process passed along (userptr memory), or -1 */
long kfd_ioctl_passing(struct conn *c, uint64_t request, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out,
		       int fd, uint64_t fd_offset);
/* The process unmapped [addr, addr+len): userptr buffers over it stop following it. */
void kfd_userptr_invalidate(struct conn *c, uint64_t addr, uint64_t len);

/* The descriptor a KFD ioctl made for the process (SMI_EVENTS), or -1: the
 * thread that sends the ioctl's reply passes it on and closes it. */
extern _Thread_local int kfd_reply_fd;

/* An SMI event (sim/kmd/smi.c) for GPU g's event files that asked for it:
 * event is a KFD_SMI_EVENT_* number; pid 0 is an event of no process
 * (resets, throttling), which every file hears; fmt gives the payload in
 * the format KFD's uapi names for the event. */
void kfd_smi_event(const struct sim_gpu *g, pid_t pid, unsigned event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

int drm_open(struct conn *c);
void drm_release(struct conn *c);
long drm_ioctl(struct conn *c, uint64_t request, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out);
int drm_mmap(struct conn *c, uint64_t offset, uint64_t length, int *fd, uint64_t *file_offset);

/* The KFD topology under STATE/sys (kfd_topology.c). */
int kfd_topology_build(struct sim_box *b);

/* queue.c: what the hardware and its faults do to the queues. */
/* GPU reset after a hang: every queue of every process on the GPU is evicted. */
void gpu_reset(struct sim_gpu *g, const char *why);
/* Hang the GPU's live queues of a kind; with none live, the next one
 * created hangs.  Returns how many hung now (0: armed). */
int queue_inject_hang(struct sim_gpu *g, bool sdma, bool silent);
/* How long the GPU's queues have been busy, in total (ns). */
uint64_t gpu_busy_ns(const struct sim_gpu *g);

#endif
