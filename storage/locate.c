/* Where a byte of a file lives on the drives: which drive and which logical
 * block, so that a read error names the drive to replace and the LBA its
 * error log shows.  A regular file is mapped to its filesystem's device with
 * FIEMAP; a partition to its disk by its start; an md RAID0 array to its
 * member by md's own layout (drivers/md/raid0.c with one strip zone: chunk c
 * on the member in slot c mod N, at that member's data offset plus c/N
 * chunks), read from the array's sysfs (md/chunk_size, md/raid_disks,
 * md/dev-X/slot, md/dev-X/offset); then a disk's LBA is the byte offset over
 * its logical block size. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "storage/internal.h"

#define MAX_DEPTH 4 /* partition on md on partition on disk */
#define SECTOR 512ull

static int read_value(const char *dir, const char *name, char *out, size_t len)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static int read_u64(const char *dir, const char *name, uint64_t *v)
{
	char buf[64], *end;
	int rc = read_value(dir, name, buf, sizeof buf);
	if (rc < 0)
		return rc;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return end == buf || *end || errno ? -EINVAL : 0;
}

/* The physical byte offset of file offset off on the file's device. */
static int file_physical(int fd, uint64_t off, uint64_t *phys)
{
	/* the header and room for the one extent its flexible array holds */
	union {
		struct fiemap m;
		char bytes[sizeof(struct fiemap) + sizeof(struct fiemap_extent)];
	} fm;
	memset(&fm, 0, sizeof fm);
	fm.m.fm_start = off;
	fm.m.fm_length = 1;
	fm.m.fm_extent_count = 1;
	if (ioctl(fd, FS_IOC_FIEMAP, &fm.m) < 0)
		return -errno;
	const struct fiemap_extent *e = &fm.m.fm_extents[0];
	if (fm.m.fm_mapped_extents != 1 || off < e->fe_logical || off - e->fe_logical >= e->fe_length ||
	    e->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_INLINE))
		return -ENXIO;
	*phys = e->fe_physical + (off - e->fe_logical);
	return 0;
}

/* The md member in slot `slot` of the array at sysdir: its sysfs directory
 * and data offset in bytes. */
static int md_member(const char *sysdir, uint64_t slot, char *member, size_t len, uint64_t *data_off)
{
	char md[PATH_MAX];
	snprintf(md, sizeof md, "%s/md", sysdir);
	DIR *d = opendir(md);
	if (!d)
		return -errno;
	int rc = -ENOENT;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "dev-", 4))
			continue;
		char dev[PATH_MAX], link[PATH_MAX];
		uint64_t s, sectors;
		if ((size_t)snprintf(dev, sizeof dev, "%s/%s", md, e->d_name) >= sizeof dev ||
		    read_u64(dev, "slot", &s) < 0 || s != slot || read_u64(dev, "offset", &sectors) < 0)
			continue;
		snprintf(link, sizeof link, "%s/block", dev);
		if (!realpath(link, member) || strlen(member) >= len) {
			rc = -ENOENT;
			break;
		}
		*data_off = sectors * SECTOR;
		rc = 0;
		break;
	}
	closedir(d);
	return rc;
}

/* One level down: an md RAID0 array to its member, a partition to its disk.
 * 1 when it went down, 0 when sysdir is a whole disk. */
static int descend(char *sysdir, size_t len, uint64_t *phys)
{
	char level[32], md[PATH_MAX];
	snprintf(md, sizeof md, "%s/md", sysdir);
	if (read_value(md, "level", level, sizeof level) == 0) {
		uint64_t chunk, disks, data_off = 0;
		if (strcmp(level, "raid0") || read_u64(md, "chunk_size", &chunk) < 0 || read_u64(md, "raid_disks", &disks) < 0 ||
		    chunk == 0 || disks == 0)
			return -ENOTSUP;
		uint64_t c = *phys / chunk;
		char member[PATH_MAX];
		int rc = md_member(sysdir, c % disks, member, sizeof member, &data_off);
		if (rc < 0)
			return rc;
		*phys = data_off + c / disks * chunk + *phys % chunk;
		snprintf(sysdir, len, "%s", member);
		return 1;
	}
	uint64_t start;
	if (read_u64(sysdir, "partition", &start) == 0 && read_u64(sysdir, "start", &start) == 0) {
		*phys += start * SECTOR;
		char *slash = strrchr(sysdir, '/');
		if (!slash)
			return -ENOENT;
		*slash = '\0';
		return 1;
	}
	return 0;
}

/* "nvme2n1 (Samsung SSD 990 PRO 2TB, serial S6B0NL0T000103) LBA 4096" */
static void describe_disk(const char *sysdir, uint64_t phys, char *out, size_t len)
{
	uint64_t lbs = SECTOR;
	char queue[PATH_MAX], device[PATH_MAX], model[128] = "", serial[128] = "";
	snprintf(queue, sizeof queue, "%s/queue", sysdir);
	if (read_u64(queue, "logical_block_size", &lbs) < 0 || lbs == 0)
		lbs = SECTOR;
	/* an NVMe namespace's controller carries the model and serial */
	snprintf(device, sizeof device, "%s/device", sysdir);
	if (read_value(device, "serial", serial, sizeof serial) < 0) {
		snprintf(device, sizeof device, "%s/..", sysdir);
		read_value(device, "serial", serial, sizeof serial);
	}
	read_value(device, "model", model, sizeof model);
	const char *name = strrchr(sysdir, '/');
	name = name ? name + 1 : sysdir;
	if (serial[0])
		snprintf(out, len, "%s (%s%sserial %s) LBA %llu", name, model, model[0] ? ", " : "", serial,
			 (unsigned long long)(phys / lbs));
	else
		snprintf(out, len, "%s LBA %llu", name, (unsigned long long)(phys / lbs));
}

int tbs_locate(int fd, uint64_t off, char *out, size_t len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	uint64_t phys = off;
	dev_t dev = st.st_rdev;
	if (S_ISREG(st.st_mode)) {
		int rc = file_physical(fd, off, &phys);
		if (rc < 0)
			return rc;
		dev = st.st_dev;
	} else if (!S_ISBLK(st.st_mode))
		return -ENOTSUP;
	char link[64], sysdir[PATH_MAX];
	snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(dev), minor(dev));
	if (!realpath(link, sysdir))
		return -errno;
	for (int depth = 0;; depth++) {
		int rc = descend(sysdir, sizeof sysdir, &phys);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		if (depth == MAX_DEPTH)
			return -ELOOP;
	}
	describe_disk(sysdir, phys, out, len);
	return 0;
}
