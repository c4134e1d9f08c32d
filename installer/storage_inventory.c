/* The drive inventory: every whole disk the kernel has, named as udev names
 * it (/dev/disk/by-id), with what libblkid finds on it, the md superblock
 * of an array member, what holds or mounts it, and which disk carries the
 * target root's filesystem (stat(ROOT)'s device, through partitions and
 * md/dm slaves to the whole disks).  Reads only. */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/raid/md_p.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <blkid/blkid.h>

#include "installer/setup.h"
#include "installer/storage.h"
#include "util/tbutil.h"

#define SECTOR 512
#define MD_SB_BYTES 4096		/* superblock 1.x with its role table */
#define MD_SB_1_2_OFFSET 4096		/* 1.2: 4 KiB from the start */
#define MD_ROLE_SPARE 0xffff
#define MD_ROLE_FAULTY 0xfffe
#define MAX_DEPTH 8			/* partitions on md on dm...: more is a loop */
#define MAX_MD 128
#define SYSFS_ATTR_MAX 4096		/* a sysfs attribute is one page */

/* A small sysfs file's first line, without trailing blanks: 0, or
 * negative errno (libtbutil's bounded reader: a regular file only). */
static int read_attr(const char *path, char *buf, size_t len)
{
	struct tb_lines lines;
	char *line;
	int rc = tb_lines_open(&lines, path, SYSFS_ATTR_MAX, len - 1);
	if (rc < 0)
		return rc;
	rc = tb_lines_next(&lines, &line);
	buf[0] = '\0';
	if (rc > 0)
		snprintf(buf, len, "%s", line);
	tb_lines_close(&lines);
	size_t n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return rc < 0 ? rc : 0;
}

static int read_attrf(char *buf, size_t len, const char *fmt, const char *a, const char *b)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, fmt, a, b) >= (int)sizeof path)
		return -ENAMETOOLONG;
	return read_attr(path, buf, len);
}

static bool parse_devno(const char *s, unsigned *maj, unsigned *min)
{
	char extra;
	return sscanf(s, "%u:%u%c", maj, min, &extra) == 2;
}

/* ---- whole disks under a device -------------------------------------------------------- */

static int whole_disks_at(const char *sysdir, unsigned (*out)[2], unsigned max, unsigned n, int depth)
{
	char path[PATH_MAX], buf[64];
	if (depth > MAX_DEPTH)
		return -ELOOP;
	/* a partition: its disk is the directory above */
	if (snprintf(path, sizeof path, "%s/partition", sysdir) < (int)sizeof path && access(path, F_OK) == 0) {
		snprintf(path, sizeof path, "%s/..", sysdir);
		return whole_disks_at(path, out, max, n, depth + 1);
	}
	/* md and dm: the disks of their slaves */
	snprintf(path, sizeof path, "%s/slaves", sysdir);
	DIR *d = opendir(path);
	unsigned before = n;
	if (d) {
		struct dirent *e;
		int rc = 0;
		while (rc >= 0 && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char sub[PATH_MAX];
			if (snprintf(sub, sizeof sub, "%s/slaves/%s", sysdir, e->d_name) >= (int)sizeof sub)
				continue;
			rc = whole_disks_at(sub, out, max, n, depth + 1);
			if (rc >= 0)
				n = (unsigned)rc;
		}
		closedir(d);
		if (rc < 0)
			return rc;
	}
	if (n > before)
		return (int)n;
	snprintf(path, sizeof path, "%s/dev", sysdir);
	unsigned maj, min;
	if (read_attr(path, buf, sizeof buf) < 0 || !parse_devno(buf, &maj, &min))
		return -ENODEV;
	for (unsigned i = 0; i < n; i++)
		if (out[i][0] == maj && out[i][1] == min)
			return (int)n;
	if (n >= max)
		return -E2BIG;
	out[n][0] = maj;
	out[n][1] = min;
	return (int)n + 1;
}

int stg_whole_disks(unsigned maj, unsigned min, unsigned (*out)[2], unsigned max)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/sys/dev/block/%u:%u", maj, min);
	if (access(dir, F_OK) != 0)
		return -ENODEV;
	return whole_disks_at(dir, out, max, 0, 0);
}

/* The disk a device is or is a partition of (no slaves followed). */
static int disk_of(unsigned maj, unsigned min, unsigned *dmaj, unsigned *dmin)
{
	char path[128], buf[64];
	snprintf(path, sizeof path, "/sys/dev/block/%u:%u/partition", maj, min);
	if (access(path, F_OK) != 0) {
		*dmaj = maj, *dmin = min;
		return 0;
	}
	snprintf(path, sizeof path, "/sys/dev/block/%u:%u/../dev", maj, min);
	if (read_attr(path, buf, sizeof buf) < 0 || !parse_devno(buf, dmaj, dmin))
		return -ENODEV;
	return 0;
}

static struct stg_disk *disk_by_devno(struct stg_inventory *inv, unsigned maj, unsigned min)
{
	for (unsigned i = 0; i < inv->ndisks; i++)
		if (inv->disk[i].major == maj && inv->disk[i].minor == min)
			return &inv->disk[i];
	return NULL;
}

/* ---- libblkid and md superblocks --------------------------------------------------------- */

static void lookup(blkid_probe pr, const char *name, char *out, size_t len)
{
	const char *v = NULL;
	out[0] = '\0';
	if (blkid_probe_lookup_value(pr, name, &v, NULL) == 0 && v)
		snprintf(out, len, "%s", v);
}

int stg_probe_fs(const char *dev, char *type, size_t tlen, char *uuid, size_t ulen, char *label, size_t llen)
{
	type[0] = uuid[0] = '\0';
	if (label)
		label[0] = '\0';
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	if (!pr)
		return errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL);
	int rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		lookup(pr, "TYPE", type, tlen);
		lookup(pr, "UUID", uuid, ulen);
		if (label)
			lookup(pr, "LABEL", label, llen);
	} else if (rc == -2) {
		snprintf(type, tlen, "several signatures");	/* ambivalent: more than one */
	}
	blkid_free_probe(pr);
	return rc == -1 ? -EIO : 0;
}

static void probe_disk(const char *dev, struct stg_disk *d)
{
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	if (!pr) {
		snprintf(d->fstype, sizeof d->fstype, "unreadable");	/* never taken for blank */
		d->healthy = false;
		return;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
	int rc = blkid_do_safeprobe(pr);
	if (rc == 0) {
		lookup(pr, "TYPE", d->fstype, sizeof d->fstype);
		lookup(pr, "UUID", d->fsuuid, sizeof d->fsuuid);
		lookup(pr, "PTTYPE", d->pttype, sizeof d->pttype);
	} else if (rc == -2) {
		snprintf(d->fstype, sizeof d->fstype, "several signatures");
	} else if (rc < 0) {
		snprintf(d->fstype, sizeof d->fstype, "unreadable");
		d->healthy = false;
	}
	blkid_free_probe(pr);
}

static void md_uuid_text(const uint8_t *u, char *out, size_t len)
{
	snprintf(out, len, "%02x%02x%02x%02x:%02x%02x%02x%02x:%02x%02x%02x%02x:%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
		 u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* The member's superblock 1.x (md_p.h's mdp_superblock_1), read as mdadm
 * reads it: O_DIRECT, so a member md writes is not seen through a stale
 * page cache. */
static void read_md_superblock(const char *dev, struct stg_disk *d)
{
	static const off_t offsets[] = { MD_SB_1_2_OFFSET, 0 };	/* 1.2, 1.1 */
	static const unsigned minors[] = { 2, 1 };
	int fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
	void *buf = NULL;
	if (fd < 0 || posix_memalign(&buf, MD_SB_BYTES, MD_SB_BYTES) != 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (size_t k = 0; k < sizeof offsets / sizeof offsets[0] && !d->md_member; k++) {
		if (pread(fd, buf, MD_SB_BYTES, offsets[k]) != MD_SB_BYTES)
			continue;
		const struct mdp_superblock_1 *sb = buf;
		uint32_t max_dev = le32toh(sb->max_dev), dev_number = le32toh(sb->dev_number);
		if (le32toh(sb->magic) != MD_SB_MAGIC || le32toh(sb->major_version) != 1 ||
		    le64toh(sb->super_offset) != (uint64_t)offsets[k] / SECTOR || max_dev > (MD_SB_BYTES - 256) / 2 ||
		    dev_number >= max_dev)
			continue;
		uint16_t role = le16toh(sb->dev_roles[dev_number]);
		d->md_member = true;
		d->md_minor_version = minors[k];
		d->md_level = (int32_t)le32toh((uint32_t)sb->level);
		d->md_raid_disks = (int)le32toh(sb->raid_disks);
		d->md_chunk_kib = le32toh(sb->chunksize) / 2;
		d->md_role = role == MD_ROLE_SPARE || role == MD_ROLE_FAULTY ? -1 : role;
		md_uuid_text(sb->set_uuid, d->md_uuid, sizeof d->md_uuid);
		snprintf(d->md_name, sizeof d->md_name, "%.32s", (const char *)sb->set_name);
	}
	free(buf);
	close(fd);
}

/* ---- the disks ------------------------------------------------------------------------------ */

static void dev_node(const char *name, char *out, size_t len)
{
	snprintf(out, len, "/dev/%s", name);
	for (char *c = out; *c; c++)
		if (*c == '!')
			*c = '/';	/* cciss!c0d0 is /dev/cciss/c0d0 */
}

static void first_holder(const char *name, char *out, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "/sys/block/%s/holders", name);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(out, len, "%s", e->d_name);
			break;
		}
	closedir(d);
}

static bool read_disk(const char *name, struct stg_disk *d)
{
	char buf[256], path[PATH_MAX], real[PATH_MAX];
	memset(d, 0, sizeof *d);
	d->md_role = -1;
	d->md_level = -1;
	snprintf(d->name, sizeof d->name, "%s", name);
	/* a disk with hardware behind it: loop, ram, zram, md and dm have none */
	snprintf(path, sizeof path, "/sys/block/%s/device", name);
	if (access(path, F_OK) != 0)
		return false;
	if (read_attrf(buf, sizeof buf, "/sys/block/%s/dev", name, "") < 0 || !parse_devno(buf, &d->major, &d->minor))
		return false;
	if (read_attrf(buf, sizeof buf, "/sys/block/%s/size", name, "") == 0)
		d->bytes = strtoull(buf, NULL, 10) * SECTOR;
	d->removable = read_attrf(buf, sizeof buf, "/sys/block/%s/removable", name, "") == 0 && !strcmp(buf, "1");
	d->readonly = read_attrf(buf, sizeof buf, "/sys/block/%s/ro", name, "") == 0 && !strcmp(buf, "1");
	read_attrf(d->serial, sizeof d->serial, "/sys/block/%s/device/serial", name, "");
	read_attrf(d->model, sizeof d->model, "/sys/block/%s/device/model", name, "");
	if (read_attrf(d->wwid, sizeof d->wwid, "/sys/block/%s/wwid", name, "") < 0)
		read_attrf(d->wwid, sizeof d->wwid, "/sys/block/%s/device/wwid", name, "");
	snprintf(path, sizeof path, "/sys/block/%s", name);
	if (realpath(path, real) && strstr(real, "/usb"))
		d->bus = STG_BUS_USB;
	else
		d->bus = !strncmp(name, "nvme", 4) ? STG_BUS_NVME : STG_BUS_OTHER;
	/* nvme: the controller's state ("live"); scsi: the device's ("running") */
	bool live = read_attrf(buf, sizeof buf, "/sys/block/%s/device/state", name, "") < 0 || !strcmp(buf, "live") ||
		    !strcmp(buf, "running");
	d->healthy = live && d->bytes > 0;
	first_holder(name, d->holder, sizeof d->holder);
	char dev[PATH_MAX];
	dev_node(name, dev, sizeof dev);
	if (d->healthy) {
		probe_disk(dev, d);
		if (!strcmp(d->fstype, "linux_raid_member"))
			read_md_superblock(dev, d);
	}
	return true;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* udev's /dev/disk/by-id names of each disk (the disk's own, not its partitions'). */
static void read_by_id(struct stg_inventory *inv)
{
	struct dirent **names;
	int n = scandir("/dev/disk/by-id", &names, NULL, by_name);
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat st;
		if (names[i]->d_name[0] != '.' &&
		    snprintf(path, sizeof path, "/dev/disk/by-id/%s", names[i]->d_name) < (int)sizeof path &&
		    stat(path, &st) == 0 && S_ISBLK(st.st_mode)) {
			struct stg_disk *d = disk_by_devno(inv, major(st.st_rdev), minor(st.st_rdev));
			if (d && d->nby_id < STG_MAX_LINKS && strlen(names[i]->d_name) < sizeof d->by_id[0])
				snprintf(d->by_id[d->nby_id++], sizeof d->by_id[0], "%s", names[i]->d_name);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

/* Disks a filesystem is mounted from or swapped on, directly or by a partition. */
static void read_mounts(struct stg_inventory *inv)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	while (f && fgets(line, sizeof line, f)) {
		unsigned id, parent, maj, min, dmaj, dmin;
		if (sscanf(line, "%u %u %u:%u", &id, &parent, &maj, &min) == 4 && maj != 0 &&
		    disk_of(maj, min, &dmaj, &dmin) == 0) {
			struct stg_disk *d = disk_by_devno(inv, dmaj, dmin);
			if (d)
				d->mounted = true;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/swaps", "re");
	while (f && fgets(line, sizeof line, f)) {
		char dev[PATH_MAX];
		struct stat st;
		unsigned dmaj, dmin;
		if (sscanf(line, "%4095s", dev) == 1 && stat(dev, &st) == 0 && S_ISBLK(st.st_mode) &&
		    disk_of(major(st.st_rdev), minor(st.st_rdev), &dmaj, &dmin) == 0) {
			struct stg_disk *d = disk_by_devno(inv, dmaj, dmin);
			if (d)
				d->mounted = true;
		}
	}
	if (f)
		fclose(f);
}

/* The block device a filesystem without one of its own (btrfs, an
 * overlay) is mounted from: mountinfo's source for that st_dev. */
static bool mount_source_devno(dev_t st_dev, unsigned *maj, unsigned *min)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;
	while (!found && f && fgets(line, sizeof line, f)) {
		unsigned id, parent, ma, mi;
		char *sep = strstr(line, " - ");
		char type[64], source[PATH_MAX];
		struct stat st;
		if (sscanf(line, "%u %u %u:%u", &id, &parent, &ma, &mi) != 4 || makedev(ma, mi) != st_dev || !sep ||
		    sscanf(sep + 3, "%63s %4095s", type, source) != 2 || stat(source, &st) != 0 || !S_ISBLK(st.st_mode))
			continue;
		*maj = major(st.st_rdev);
		*min = minor(st.st_rdev);
		found = true;
	}
	if (f)
		fclose(f);
	return found;
}

static void mark_boot(const struct setup *s, struct stg_inventory *inv)
{
	const char *root = s->root[0] ? s->root : "/";
	struct stat st;
	if (stat(root, &st) < 0) {
		snprintf(inv->boot_note, sizeof inv->boot_note, "cannot stat the root %s: %s", root, strerror(errno));
		return;
	}
	unsigned maj = major(st.st_dev), min = minor(st.st_dev), disks[STG_MAX_DISKS][2];
	int n = stg_whole_disks(maj, min, disks, STG_MAX_DISKS);
	if (n < 0 && mount_source_devno(st.st_dev, &maj, &min))
		n = stg_whole_disks(maj, min, disks, STG_MAX_DISKS);
	if (n <= 0) {
		snprintf(inv->boot_note, sizeof inv->boot_note,
			 "the root %s (device %u:%u) is on no disk: no drive is excluded as the boot drive", root,
			 major(st.st_dev), minor(st.st_dev));
		return;
	}
	size_t k = (size_t)snprintf(inv->boot_note, sizeof inv->boot_note, "the root %s is on", root);
	for (int i = 0; i < n; i++) {
		struct stg_disk *d = disk_by_devno(inv, disks[i][0], disks[i][1]);
		if (d)
			d->boot = true;
		if (k < sizeof inv->boot_note)
			k += (size_t)snprintf(inv->boot_note + k, sizeof inv->boot_note - k, " %s",
					      d ? d->name : "a disk not in /sys/block");
	}
}

/* ---- md arrays ------------------------------------------------------------------------------ */

static int disk_index(const struct stg_inventory *inv, const char *name)
{
	for (unsigned i = 0; i < inv->ndisks; i++)
		if (!strcmp(inv->disk[i].name, name))
			return (int)i;
	return -1;
}

static void read_array_members(struct stg_inventory *inv, struct stg_array *a)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "/sys/block/%s/md", a->name);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char link[PATH_MAX + 300], target[PATH_MAX];
		if (strncmp(e->d_name, "dev-", 4))
			continue;
		snprintf(link, sizeof link, "%s/%s/block", path, e->d_name);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		const char *base = strrchr(target, '/');
		int i = disk_index(inv, base ? base + 1 : target);
		if (i >= 0 && a->nmembers < STG_MAX_MEMBERS) {
			a->member[a->nmembers++] = i;
			if (!a->uuid[0] && inv->disk[i].md_member)
				snprintf(a->uuid, sizeof a->uuid, "%s", inv->disk[i].md_uuid);
		}
	}
	if (d)
		closedir(d);
}

static void read_arrays(struct stg_inventory *inv)
{
	bool used[MAX_MD] = { false };
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		unsigned nr;
		char extra, buf[64];
		if (sscanf(e->d_name, "md%u%c", &nr, &extra) != 1)
			continue;
		struct stg_array a = { .level = -1 };
		snprintf(a.name, sizeof a.name, "%s", e->d_name);
		if (read_attrf(buf, sizeof buf, "/sys/block/%s/dev", a.name, "") < 0 || !parse_devno(buf, &a.major, &a.minor))
			continue;
		read_attrf(a.state, sizeof a.state, "/sys/block/%s/md/array_state", a.name, "");
		if (read_attrf(buf, sizeof buf, "/sys/block/%s/md/level", a.name, "") == 0 && !strncmp(buf, "raid", 4))
			a.level = atoi(buf + 4);
		if (read_attrf(buf, sizeof buf, "/sys/block/%s/md/raid_disks", a.name, "") == 0)
			a.raid_disks = atoi(buf);
		if (read_attrf(buf, sizeof buf, "/sys/block/%s/md/chunk_size", a.name, "") == 0)
			a.chunk_kib = (unsigned)(strtoul(buf, NULL, 10) / 1024);
		read_array_members(inv, &a);
		bool clear = (!strcmp(a.state, "clear") || !a.state[0]) && a.nmembers == 0;
		if (nr < MAX_MD)
			used[nr] = !clear;
		if (!clear && inv->narrays < STG_MAX_ARRAYS)
			inv->array[inv->narrays++] = a;
	}
	if (d)
		closedir(d);
	for (unsigned nr = 0; nr < MAX_MD; nr++)
		if (!used[nr]) {
			snprintf(inv->free_md, sizeof inv->free_md, "md%u", nr);
			break;
		}
}

int stg_inventory_read(const struct setup *s, struct stg_inventory *inv, char *err, size_t errlen)
{
	memset(inv, 0, sizeof *inv);
	struct dirent **names;
	int n = scandir("/sys/block", &names, NULL, by_name);
	if (n < 0) {
		snprintf(err, errlen, "cannot read /sys/block: %s", strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' && inv->ndisks < STG_MAX_DISKS &&
		    read_disk(names[i]->d_name, &inv->disk[inv->ndisks]))
			inv->ndisks++;
		free(names[i]);
	}
	free(names);
	read_by_id(inv);
	read_mounts(inv);
	mark_boot(s, inv);
	read_arrays(inv);
	return 0;
}
