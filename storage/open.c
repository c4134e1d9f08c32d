/* How libtbstore opens what it reads.  Every reader goes through here, so
 * none of them can block in open() on a FIFO, read a device it was not
 * meant to, or follow a path out of the directory it was confined to:
 *
 *   - the open is non-blocking (a FIFO without a writer would block in
 *     open(2) forever), then the descriptor's type is checked with fstat and
 *     anything but a regular file (or a block device where the caller allows
 *     one) is refused; only then is O_NONBLOCK cleared (io_uring would
 *     otherwise answer EAGAIN instead of waiting for the drive);
 *   - under a root, the path is resolved and opened in one step by
 *     openat2(2) with RESOLVE_BENEATH, and everything after works on that
 *     descriptor, so a path swapped for a symlink meanwhile changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "storage/internal.h"

static const char *kind_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	default: return "of an unknown kind";
	}
}

static int open_at(const struct tbs_root *root, const char *path, int flags)
{
	if (!root || root->fd < 0)
		return open(path, flags);
	/* glibc 2.36 (Debian 12) has no openat2 wrapper */
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, root->fd, path, &how, sizeof how);
}

int tbs_open_input(const struct tbs_root *root, const char *path, unsigned kinds, int *fd, uint64_t *size,
		   struct tbs_error *err)
{
	*fd = open_at(root, path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;
		if (e == EXDEV || (e == ELOOP && root && root->fd >= 0))
			return tbs_fail(err, -EACCES, "%s: resolves outside the directory it must stay in", path);
		return tbs_fail(err, -e, "%s: cannot open: %s", path, strerror(e));
	}
	struct stat st;
	int rc = 0;
	if (fstat(*fd, &st) < 0)
		rc = tbs_fail(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
	else if (S_ISREG(st.st_mode) || (S_ISBLK(st.st_mode) && (kinds & TBS_OPEN_BLOCK)))
		*size = (uint64_t)st.st_size;
	else
		rc = tbs_fail(err, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL, "%s: %s, not a regular file", path,
			      kind_name(st.st_mode));
	if (rc == 0 && S_ISBLK(st.st_mode) && ioctl(*fd, BLKGETSIZE64, size) < 0)
		rc = tbs_fail(err, -errno, "%s: cannot find its size: %s", path, strerror(errno));
	if (rc == 0 && fcntl(*fd, F_SETFL, 0) < 0)
		rc = tbs_fail(err, -errno, "%s: cannot clear O_NONBLOCK: %s", path, strerror(errno));
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

int tbs_root_open(struct tbs_root *root, const char *dir, struct tbs_error *err)
{
	root->fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root->fd < 0)
		return tbs_fail(err, -errno, "%s: %s", dir,
				errno == ENOTDIR ? "not a directory" : strerror(errno));
	return 0;
}

void tbs_root_close(struct tbs_root *root)
{
	if (root->fd >= 0)
		close(root->fd);
	root->fd = -1;
}
