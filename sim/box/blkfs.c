/* FUSE files for loop devices (see blkfs.h): libfuse's low-level API, one
 * directory of regular files, no page cache of their own (direct_io), so
 * the loop device's is the only one, as over a real block device. */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "sim/box/blkfs.h"

#define MAX_FILES 8
#define FIRST_INO 2		/* file i is inode FIRST_INO + i */
#define BUF_ALIGN 4096

struct blkfs {
	char dir[PATH_MAX];
	char path[MAX_FILES][PATH_MAX + 20];
	struct blkfile f[MAX_FILES];
	unsigned n;
	struct fuse_session *se;
	pthread_t thread;
	bool mounted;
};

static const struct blkfile *file_of(struct blkfs *fs, fuse_ino_t ino)
{
	return ino >= FIRST_INO && ino - FIRST_INO < fs->n ? &fs->f[ino - FIRST_INO] : NULL;
}

static void attr_of(struct blkfs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	const struct blkfile *f = file_of(fs, ino);
	st->st_mode = f ? S_IFREG | 0600 : S_IFDIR | 0700;
	st->st_nlink = f ? 1 : 2;
	st->st_size = f ? (off_t)f->size(f->obj) : 0;
	st->st_blksize = 4096;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct blkfs *fs = fuse_req_userdata(req);
	for (unsigned i = 0; parent == FUSE_ROOT_ID && i < fs->n; i++)
		if (!strcmp(name, fs->f[i].name)) {
			/* sizes change (md0 runs and stops): never cached */
			struct fuse_entry_param e = { .ino = FIRST_INO + i, .attr_timeout = 0, .entry_timeout = 3600 };
			attr_of(fs, e.ino, &e.attr);
			fuse_reply_entry(req, &e);
			return;
		}
	fuse_reply_err(req, ENOENT);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct blkfs *fs = fuse_req_userdata(req);
	if (ino != FUSE_ROOT_ID && !file_of(fs, ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct stat st;
	attr_of(fs, ino, &st);
	fuse_reply_attr(req, &st, 0);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!file_of(fuse_req_userdata(req), ino)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->direct_io = 1;
	fuse_reply_open(req, fi);
}

/* Buffers the callbacks may hand to O_DIRECT reads and writes (md0's
 * members are opened so, as md's bios bypass their page cache). */
static char *aligned_buf(size_t size)
{
	size_t len = (size + BUF_ALIGN - 1) / BUF_ALIGN * BUF_ALIGN;
	return aligned_alloc(BUF_ALIGN, len ? len : BUF_ALIGN);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	const struct blkfile *f = file_of(fuse_req_userdata(req), ino);
	char *buf = aligned_buf(size);
	if (!f || !buf) {
		free(buf);
		fuse_reply_err(req, f ? ENOMEM : EBADF);
		return;
	}
	ssize_t n = off < 0 ? -EINVAL : f->io(f->obj, buf, size, (uint64_t)off, false);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	const struct blkfile *f = file_of(fuse_req_userdata(req), ino);
	if (!f) {
		fuse_reply_err(req, EBADF);
		return;
	}
	char *copy = aligned_buf(size);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, buf, size);
	ssize_t n = off < 0 ? -EINVAL : f->io(f->obj, copy, size, (uint64_t)off, true);
	free(copy);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync, (void)fi;
	const struct blkfile *f = file_of(fuse_req_userdata(req), ino);
	fuse_reply_err(req, !f ? EBADF : -f->sync(f->obj));
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = fs_lookup, .getattr = fs_getattr, .open = fs_open, .read = fs_read,
	.write = fs_write, .fsync = fs_fsync, .flush = fs_flush,
};

static void *loop_main(void *arg)
{
	struct blkfs *fs = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (cfg) {
		fuse_loop_cfg_set_clone_fd(cfg, 0);
		fuse_loop_cfg_set_idle_threads(cfg, 4);
		fuse_session_loop_mt(fs->se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	return NULL;
}

int blkfs_mount(struct blkfs **out, const char *dir, const struct blkfile *files, unsigned n, char *err,
		size_t errlen)
{
	struct blkfs *fs = calloc(1, sizeof *fs);
	if (!fs || n > MAX_FILES) {
		free(fs);
		snprintf(err, errlen, "%s", n > MAX_FILES ? "too many files" : "out of memory");
		return n > MAX_FILES ? -EINVAL : -ENOMEM;
	}
	*out = fs;
	snprintf(fs->dir, sizeof fs->dir, "%s", dir);
	fs->n = n;
	for (unsigned i = 0; i < n; i++) {
		fs->f[i] = files[i];
		snprintf(fs->path[i], sizeof fs->path[i], "%s/%s", dir, files[i].name);
	}
	umount2(dir, MNT_DETACH);	/* a mount a killed daemon left */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	char *argv[] = { "tb-simd", "-o", "fsname=tb-sim,subtype=tb-sim", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	fs->se = fuse_session_new(&args, &ops, sizeof ops, fs);
	if (!fs->se) {
		snprintf(err, errlen, "cannot create a FUSE session for %s", dir);
		return -EIO;
	}
	if (fuse_session_mount(fs->se, dir) != 0) {
		snprintf(err, errlen, "cannot mount FUSE on %s (the box's block devices need /dev/fuse)", dir);
		return -EIO;
	}
	fs->mounted = true;
	if (pthread_create(&fs->thread, NULL, loop_main, fs) != 0) {
		snprintf(err, errlen, "cannot start a FUSE thread");
		return -EAGAIN;
	}
	return 0;
}

const char *blkfs_path(const struct blkfs *fs, unsigned i)
{
	return i < fs->n ? fs->path[i] : "";
}

void blkfs_resized(struct blkfs *fs, unsigned i)
{
	fuse_lowlevel_notify_inval_inode(fs->se, FIRST_INO + i, 0, 0);
	struct stat st;
	stat(fs->path[i], &st);	/* the kernel takes the new size */
}

/* The daemon exits right after: its FUSE threads are not waited for (they
 * end when the last loop device lets its file go). */
void blkfs_unmount(struct blkfs *fs)
{
	if (!fs || !fs->se)
		return;
	fuse_session_exit(fs->se);
	if (fs->mounted)
		fuse_session_unmount(fs->se);
	fs->mounted = false;
}
