/* Files the daemon serves by FUSE for loop devices to stand on: each is a
 * block device's blocks (a drive's namespace, md0) whose reads and writes
 * the daemon answers itself, so that it can map them (raid0), fail them
 * (media errors, a drive gone) or slow them.  One mount per caller, each
 * with its own threads: md0's requests wait on the drives' and never the
 * other way round.  Private to sim/box. */
#ifndef TB_SIM_BOX_BLKFS_H
#define TB_SIM_BOX_BLKFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct blkfile {
	char name[16];
	void *obj;
	/* len bytes at off (buf 4 KiB aligned): bytes done or -errno */
	ssize_t (*io)(void *obj, char *buf, size_t len, uint64_t off, bool write);
	int (*sync)(void *obj);			/* a flush of the device: 0 or -errno */
	uint64_t (*size)(void *obj);		/* bytes now */
};

struct blkfs;

/* Mount the files at dir (a mount a killed daemon left there goes first). */
int blkfs_mount(struct blkfs **out, const char *dir, const struct blkfile *files, unsigned n, char *err,
		size_t errlen);
/* The path of file i (dir/name). */
const char *blkfs_path(const struct blkfs *fs, unsigned i);
/* File i changed size: the kernel rereads it (then LOOP_SET_CAPACITY). */
void blkfs_resized(struct blkfs *fs, unsigned i);
/* Lazy unmount: the loop devices let their files go at their last close. */
void blkfs_unmount(struct blkfs *fs);

#endif
