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

enum conn_dev { DEV_KFD = 1, DEV_DRM_RENDER, DEV_DRM_CARD, DEV_NVME, DEV_NVME_NS, DEV_MD };

struct conn {
	int sock;
	pid_t pid;
	uid_t uid;
	enum conn_dev dev;
	struct sim_gpu *gpu;		/* DRM nodes */
	struct sim_drive *drive;	/* NVMe controllers and namespaces */
	uint32_t nsid;			/* a namespace's id (0: the controller) */
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

/* Copying from and to the process's memory, like the kernel's
 * copy_from_user/copy_to_user: 0 or -EFAULT. */
int copy_from_user(const struct conn *c, void *dst, uint64_t src, size_t len);
int copy_to_user(const struct conn *c, uint64_t dst, const void *src, size_t len);

#endif
