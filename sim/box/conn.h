/* One open device file of a process, as the simulated kernel sees it: a
 * connection from the preloaded library.  Private to sim/. */
#ifndef TB_SIM_CONN_H
#define TB_SIM_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "sim/box/box.h"
#include "sim/box/proto.h"

enum conn_dev { DEV_KFD = 1, DEV_DRM_RENDER, DEV_DRM_CARD };

struct conn {
	int sock;
	pid_t pid;
	uid_t uid;
	enum conn_dev dev;
	struct sim_gpu *gpu;		/* DRM nodes */
	uint64_t id;			/* unique, names the file in ACQUIRE_VM */
	int open_flags;
	void *priv;			/* the device's per-file state */
	atomic_int refs;		/* the connection's loop and sleeping ioctls */
	atomic_int closed;		/* the process closed the file */
	pthread_mutex_t send_lock;	/* replies come from several threads */
	struct conn *next_all;
};

/* Find an open DRM file of process pid by its connection id (the preload
 * passes ids where a process passes a DRM file descriptor). */
struct conn *conn_find_drm(pid_t pid, uint64_t id);

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

/* Copying from and to the process's memory, like the kernel's
 * copy_from_user/copy_to_user: 0 or -EFAULT. */
int copy_from_user(const struct conn *c, void *dst, uint64_t src, size_t len);
int copy_to_user(const struct conn *c, uint64_t dst, const void *src, size_t len);

#endif
