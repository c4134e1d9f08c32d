/* The box's md driver (see md.h).  What mdadm asks of the kernel for a
 * native (superblock 1.x) RAID0, from drivers/md/md.c:
 *  - /sys/module/md_mod/parameters/new_array creates md0's disk;
 *  - SET_ARRAY_INFO with raid_disks 0 names the superblock version only;
 *  - ADD_NEW_DISK imports a member: md reads its superblock (the first
 *    member's UUID must match every other's) and holds it exclusively;
 *  - RUN_ARRAY takes the geometry from the superblocks (super_1_validate)
 *    and starts the personality: raid0 needs every slot;
 *  - GET_ARRAY_INFO, GET_DISK_INFO, RAID_VERSION, STOP_ARRAY;
 *  - /sys/block/md0/md/{level,raid_disks,chunk_size,metadata_version,
 *    array_state,component_size,dev-X/{block,slot,state,offset,size}} and
 *    /proc/mdstat as md_seq_show prints it.
 * Members of unequal size (raid0's several strip zones) are refused. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/major.h>
#include <linux/raid/md_p.h>
#include <linux/raid/md_u.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "sim/box/blkfs.h"
#include "sim/box/conn.h"
#include "sim/box/drives.h"
#include "sim/box/md.h"
#include "sim/box/sensors.h"
#include "sim/box/udev.h"

#define MD_NAME "md0"
#define MD_DIR "devices/virtual/block/" MD_NAME
#define MD_MAX_MEMBERS SIM_DRIVES
#define SB_BYTES 4096			/* superblock 1.x with up to 1920 roles */
#define SECTOR_BYTES 512		/* the members' logical blocks: O_DIRECT's unit */
#define SB_1_2_OFFSET_SECTORS 8		/* 1.2: 4 KiB from the start; 1.1: at the start */
#define ROLE_SPARE 0xffff

enum md_state { MD_CLEAR, MD_INACTIVE, MD_ACTIVE };

struct md_member {
	int drive;			/* index in b->drive */
	int fd;				/* its loop device, held exclusively as md does */
	uint32_t dev_number;
	int slot;			/* raid disk, from dev_roles */
	uint64_t data_offset, data_size;	/* sectors */
	bool faulty;
};

static struct {
	pthread_rwlock_t lock;		/* I/O reads it; the ioctls change it */
	struct sim_box *box;
	bool exists;			/* md0's disk is there: the box probes it at boot, as
					 * an open of /dev/md0 does (md_probe) */
	bool personality;		/* raid0 was loaded once: /proc/mdstat names it */
	enum md_state state;
	bool broken;			/* a member is gone (raid0 fails the array) */
	int major_version, minor_version;
	int level, layout, raid_disks;
	uint32_t chunk_sectors;
	uint64_t ctime, component_sectors, array_sectors;
	uint8_t uuid[16];
	char name[33];
	int nmembers;
	struct md_member m[MD_MAX_MEMBERS];
	struct md_member *by_slot[MD_MAX_MEMBERS];

	atomic_int written;		/* written since its contents were last probed */
	int loop_fd, loop_nr;		/* md0's block device, over STATE/md/md0 */
	struct blkfs *fs;
} M = { .lock = PTHREAD_RWLOCK_INITIALIZER, .loop_fd = -1, .loop_nr = -1 };

/* ---- the array's blocks: raid0's mapping, served by FUSE ------------------------------ */

/* One piece of an array range inside one chunk: the member and its byte offset. */
static struct md_member *map_piece(uint64_t off, uint64_t *dev_off, uint64_t *len)
{
	uint64_t chunk = (uint64_t)M.chunk_sectors << 9, n = (uint64_t)M.raid_disks;
	uint64_t nr = off / chunk, in = off % chunk;
	struct md_member *mb = M.by_slot[nr % n];
	*dev_off = (mb->data_offset << 9) + (nr / n) * chunk + in;
	if (*len > chunk - in)
		*len = chunk - in;
	return mb;
}

static void mark_broken(struct md_member *mb)
{
	if (!mb->faulty)
		klog("md/raid0:%s: Disk failure on %sn1 detected, failing array.", MD_NAME, M.box->drive[mb->drive].name);
	mb->faulty = true;
	M.broken = true;
}

/* Read or write [off, off+len) of the array.  Returns bytes done or -errno. */
static ssize_t array_io(char *buf, size_t len, uint64_t off, bool write)
{
	uint64_t end = M.array_sectors << 9;
	if (M.state != MD_ACTIVE)
		return -EIO;
	if (off >= end)
		return write ? -ENOSPC : 0;
	if (len > end - off)
		len = (size_t)(end - off);
	size_t done = 0;
	while (done < len) {
		uint64_t dev_off, piece = len - done;
		struct md_member *mb = map_piece(off + done, &dev_off, &piece);
		ssize_t n = write ? pwrite(mb->fd, buf + done, piece, (off_t)dev_off)
				  : pread(mb->fd, buf + done, piece, (off_t)dev_off);
		if (n < 0)
			return -errno;
		if ((uint64_t)n != piece)
			return -EIO;
		done += piece;
	}
	return (ssize_t)done;
}

/* udev's "change" event for md0 (63-md-raid-arrays.rules): the links of
 * the filesystem on a running array, none on a stopped one.  Its blocks
 * are read through its FUSE file, as the loop device reads them, with no
 * lock held: those reads take the array's lock themselves. */
static void udev_md0(void)
{
	pthread_rwlock_rdlock(&M.lock);
	bool active = M.state == MD_ACTIVE;
	pthread_rwlock_unlock(&M.lock);
	int fd = active ? open(blkfs_path(M.fs, 0), O_RDONLY | O_CLOEXEC) : -1;
	udev_change(M.box, MD_NAME, fd);
	if (fd >= 0)
		close(fd);
}

void md_udev_tick(struct sim_box *b)
{
	(void)b;
	if (M.box && M.fs && atomic_exchange(&M.written, 0))
		udev_md0();
}

/* A read of md0's file that is not in whole sectors (a reader other than
 * the loop device: the box's udev probing it), through a bounce buffer of
 * the sectors around it: the members take O_DIRECT sectors only. */
static ssize_t read_unaligned(char *buf, size_t len, uint64_t off)
{
	uint64_t lo = off / SECTOR_BYTES * SECTOR_BYTES;
	uint64_t span = (off + len + SECTOR_BYTES - 1) / SECTOR_BYTES * SECTOR_BYTES - lo;
	char *tmp = aligned_alloc(SB_BYTES, (span + SB_BYTES - 1) / SB_BYTES * SB_BYTES);
	if (!tmp)
		return -ENOMEM;
	ssize_t n = array_io(tmp, (size_t)span, lo, false);
	if (n >= 0) {
		uint64_t skip = off - lo, got = (uint64_t)n > skip ? (uint64_t)n - skip : 0;
		n = (ssize_t)(got < len ? got : len);
		memcpy(buf, tmp + skip, (size_t)n);
	}
	free(tmp);
	return n;
}

/* md0's blocks, as its loop device reads and writes them. */
static ssize_t md0_io(void *obj, char *buf, size_t len, uint64_t off, bool write)
{
	(void)obj;
	if (write)
		atomic_store(&M.written, 1);
	pthread_rwlock_rdlock(&M.lock);
	ssize_t n = !write && (off % SECTOR_BYTES || len % SECTOR_BYTES) ? read_unaligned(buf, len, off)
									 : array_io(buf, len, off, write);
	pthread_rwlock_unlock(&M.lock);
	return n;
}

/* A flush of md0 (the loop device's REQ_PREFLUSH) flushes every member. */
static int md0_sync(void *obj)
{
	(void)obj;
	int err = 0;
	pthread_rwlock_rdlock(&M.lock);
	for (int i = 0; i < M.nmembers; i++)
		if (M.m[i].fd >= 0 && fdatasync(M.m[i].fd) < 0)
			err = -errno;
	pthread_rwlock_unlock(&M.lock);
	if (!err && atomic_exchange(&M.written, 0))
		udev_md0();
	return err;
}

static uint64_t md0_size(void *obj)
{
	(void)obj;
	pthread_rwlock_rdlock(&M.lock);
	uint64_t bytes = M.state == MD_ACTIVE ? M.array_sectors << 9 : 0;
	pthread_rwlock_unlock(&M.lock);
	return bytes;
}

/* md0's size changed: the loop device reads the file's new size.  FUSE
 * drops a size that an I/O in flight overtook, so it is checked and asked
 * again. */
static void resize_disk(uint64_t bytes)
{
	uint64_t now = UINT64_MAX;
	for (int attempt = 0; attempt < 50 && now != bytes; attempt++) {
		if (attempt)
			usleep(1000);
		blkfs_resized(M.fs, 0);
		if (ioctl(M.loop_fd, LOOP_SET_CAPACITY, 0) < 0 || ioctl(M.loop_fd, BLKGETSIZE64, &now) < 0) {
			klog("md: %s: cannot change its capacity: %s", MD_NAME, strerror(errno));
			return;
		}
	}
	if (now != bytes)
		klog("md: %s: its capacity stays %" PRIu64 " bytes, not %" PRIu64, MD_NAME, now, bytes);
}

/* ---- sysfs and /proc/mdstat --------------------------------------------------------------- */

static void member_kname(const struct md_member *mb, char *out, size_t len)
{
	snprintf(out, len, "%sn1", M.box->drive[mb->drive].name);
}

static const char *state_name(void)
{
	if (!M.exists || (M.state == MD_CLEAR && !M.nmembers))
		return "clear";
	if (M.state != MD_ACTIVE)
		return "inactive";
	return M.broken ? "broken" : "clean";
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);	/* what cannot go stays: the next publish rewrites it */
	return 0;
}

static void write_mdstat(void)
{
	char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
	snprintf(path, sizeof path, "%s/proc/mdstat", M.box->state);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "Personalities : %s\n", M.personality ? "[raid0] " : "");
	if (M.nmembers) {
		fprintf(f, "%s : %s", MD_NAME,
			M.state == MD_ACTIVE ? (M.broken ? "broken raid0" : "active raid0") : "inactive");
		uint64_t blocks = 0;
		for (int i = M.nmembers - 1; i >= 0; i--) {	/* md lists the last bound first */
			char k[24];
			member_kname(&M.m[i], k, sizeof k);
			fprintf(f, " %s[%u]%s", k, M.m[i].dev_number,
				M.m[i].faulty ? "(F)" : M.state == MD_ACTIVE ? "" : "(S)");
			blocks += M.m[i].data_size / 2;
		}
		if (M.state == MD_ACTIVE)
			fprintf(f, "\n      %" PRIu64 " blocks super %d.%d %uk chunks\n\n", M.array_sectors / 2,
				M.major_version, M.minor_version, M.chunk_sectors / 2);
		else
			fprintf(f, "\n      %" PRIu64 " blocks super %d.%d\n\n", blocks, M.major_version, M.minor_version);
	}
	fprintf(f, "unused devices: <none>\n");
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void remove_md_files(void)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/sys/%s", M.box->state, MD_DIR);
	nftw(p, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(p, sizeof p, "%s/sys/block/%s", M.box->state, MD_NAME);
	unlink(p);
	snprintf(p, sizeof p, "%s/sys/class/block/%s", M.box->state, MD_NAME);
	unlink(p);
	snprintf(p, sizeof p, "%s/sys/dev/block/%d:%d", M.box->state, LOOP_MAJOR, M.loop_nr);
	unlink(p);
	for (int i = 0; i < M.box->ndrives; i++) {
		snprintf(p, sizeof p, "%s/sys/%s/%sn1/holders/%s", M.box->state, M.box->drive[i].ctrldir,
			 M.box->drive[i].name, MD_NAME);
		unlink(p);
	}
	if (M.name[0]) {
		snprintf(p, sizeof p, "%s/dev/md/%s", M.box->state, M.name);
		unlink(p);
	}
}

/* The name the udev rules give /dev/md/NAME: the superblock's name without "host:". */
static const char *short_name(void)
{
	const char *colon = strchr(M.name, ':');
	return colon ? colon + 1 : M.name;
}

static void uuid_text(char *out, size_t len)
{
	const uint8_t *u = M.uuid;
	snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
		 u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* Everything the kernel shows of md0 now (called with the lock held for writing). */
static void publish(void)
{
	struct sim_box *b = M.box;
	remove_md_files();
	write_mdstat();
	if (!M.exists)
		return;
	char mm[32], q[96], md[96];
	snprintf(mm, sizeof mm, "%d:%d", LOOP_MAJOR, M.loop_nr);
	snprintf(q, sizeof q, "%s/queue", MD_DIR);
	snprintf(md, sizeof md, "%s/md", MD_DIR);
	bool active = M.state == MD_ACTIVE;
	uint64_t chunk = (uint64_t)M.chunk_sectors << 9;
	sysfs_write(b, MD_DIR, "dev", "%s\n", mm);
	sysfs_write(b, MD_DIR, "uevent", "MAJOR=%d\nMINOR=%d\nDEVNAME=%s\nDEVTYPE=disk\n", LOOP_MAJOR, M.loop_nr, MD_NAME);
	sysfs_write(b, MD_DIR, "size", "%" PRIu64 "\n", active ? M.array_sectors : 0);
	sysfs_write(b, MD_DIR, "ro", "0\n");
	sysfs_write(b, MD_DIR, "removable", "0\n");
	sysfs_write(b, MD_DIR, "range", "1\n");
	sysfs_write(b, MD_DIR, "ext_range", "256\n");
	sysfs_write(b, MD_DIR, "capability", "0\n");
	sysfs_write(b, MD_DIR, "alignment_offset", "0\n");
	sysfs_write(b, q, "logical_block_size", "512\n");
	sysfs_write(b, q, "physical_block_size", "512\n");
	sysfs_write(b, q, "hw_sector_size", "512\n");
	sysfs_write(b, q, "minimum_io_size", "%" PRIu64 "\n", active ? chunk : 512);
	sysfs_write(b, q, "optimal_io_size", "%" PRIu64 "\n", active ? chunk * (uint64_t)M.raid_disks : 0);
	sysfs_write(b, q, "max_hw_sectors_kb", "128\n");
	sysfs_write(b, q, "max_sectors_kb", "128\n");
	sysfs_write(b, q, "rotational", "0\n");
	sysfs_write(b, q, "read_ahead_kb", "%" PRIu64 "\n", active ? 2 * chunk * (uint64_t)M.raid_disks / 1024 : 128);
	sysfs_write(b, md, "level", "%s\n", M.state == MD_ACTIVE ? "raid0" : "");
	sysfs_write(b, md, "raid_disks", "%d\n", active ? M.raid_disks : 0);
	sysfs_write(b, md, "chunk_size", "%" PRIu64 "\n", active ? chunk : 0);
	sysfs_write(b, md, "layout", "%d\n", active ? M.layout : 0);
	sysfs_write(b, md, "component_size", "%" PRIu64 "\n", active ? M.component_sectors / 2 : 0);
	if (M.major_version > 0)
		sysfs_write(b, md, "metadata_version", "%d.%d\n", M.major_version, M.minor_version);
	else
		sysfs_write(b, md, "metadata_version", "none\n");
	sysfs_write(b, md, "array_state", "%s\n", state_name());
	sysfs_write(b, md, "array_size", "default\n");
	sysfs_write(b, md, "consistency_policy", "%s\n", active ? "none" : "unknown");
	sysfs_write(b, md, "resync_start", "none\n");
	sysfs_write(b, md, "safe_mode_delay", "0.000\n");
	sysfs_write(b, md, "degraded", "0\n");
	if (active) {
		char u[40];
		uuid_text(u, sizeof u);
		sysfs_write(b, md, "uuid", "%s\n", u);
	}
	for (int i = 0; i < M.nmembers; i++) {
		const struct md_member *mb = &M.m[i];
		const struct sim_drive *d = &b->drive[mb->drive];
		char k[24], dev[64], ns[240], holders[256];
		member_kname(mb, k, sizeof k);
		snprintf(dev, sizeof dev, "%s/dev-%s", md, k);
		snprintf(ns, sizeof ns, "%s/%s", d->ctrldir, k);
		snprintf(holders, sizeof holders, "%s/holders", ns);
		sysfs_link(b, dev, "block", ns);
		if (active && mb->slot >= 0)
			sysfs_write(b, dev, "slot", "%d\n", mb->slot);
		else
			sysfs_write(b, dev, "slot", "none\n");
		sysfs_write(b, dev, "state", "%s\n", mb->faulty ? "faulty" : active ? "in_sync" : "spare");
		sysfs_write(b, dev, "offset", "%" PRIu64 "\n", mb->data_offset);
		sysfs_write(b, dev, "size", "%" PRIu64 "\n", (active ? M.component_sectors : mb->data_size) / 2);
		sysfs_write(b, dev, "errors", "0\n");
		sysfs_write(b, dev, "bad_blocks", "%s", "");
		if (active && mb->slot >= 0) {
			char rd[16], target[128];
			snprintf(rd, sizeof rd, "rd%d", mb->slot);
			snprintf(target, sizeof target, "%s", dev);
			sysfs_link(b, md, rd, target);
		}
		sysfs_link(b, MD_DIR "/slaves", k, ns);
		sysfs_link(b, holders, MD_NAME, MD_DIR);
	}
	sysfs_link(b, MD_DIR, "subsystem", "class/block");
	sysfs_link(b, "block", MD_NAME, MD_DIR);
	sysfs_link(b, "class/block", MD_NAME, MD_DIR);
	sysfs_link(b, "dev/block", mm, MD_DIR);
	if (active && M.name[0] && strchr(short_name(), '/') == NULL && short_name()[0] && short_name()[0] != '.') {
		/* /dev/md/NAME (for processes started from now on), as mdadm
		 * links it where there is no udev */
		char dir[PATH_MAX], link[PATH_MAX + 40];
		snprintf(dir, sizeof dir, "%s/dev/md", b->state);
		mkdir(dir, 0755);
		snprintf(link, sizeof link, "%s/%s", dir, short_name());
		unlink(link);
		if (symlink("/dev/" MD_NAME, link) < 0)
			klog("md: cannot link /dev/md/%s: %s", short_name(), strerror(errno));
	}
}

/* /sys/module/md_mod/parameters/new_array: "md0" makes md0's disk. */
static int store_new_array(struct sim_box *b, struct sim_attr *a, const char *buf, size_t len)
{
	(void)b, (void)a;
	char name[32];
	if (len == 0 || len >= sizeof name)
		return -EINVAL;
	memcpy(name, buf, len);
	name[len] = '\0';
	name[strcspn(name, "\n")] = '\0';
	if (strcmp(name, MD_NAME) != 0) {
		klog("md: %s: the box has one array, %s", name, MD_NAME);
		return -ENODEV;
	}
	pthread_rwlock_wrlock(&M.lock);
	int rc = 0;
	if (M.exists && (M.state != MD_CLEAR || M.nmembers))
		rc = -EEXIST;
	M.exists = true;
	publish();
	pthread_rwlock_unlock(&M.lock);
	return rc;
}

/* ---- the ioctls -------------------------------------------------------------------------------- */

int md_open(struct conn *c, const char *path)
{
	unsigned maj, min;
	char extra;
	if (sscanf(path, "/dev/block/%u:%u%c", &maj, &min, &extra) != 2)
		return -ENOENT;
	if (maj != LOOP_MAJOR || (int)min != M.loop_nr)
		return -ENOTTY;	/* not md0: the kernel's own device, which knows no md ioctl */
	c->dev = DEV_MD;
	return 0;
}

static uint32_t sb_csum(const uint8_t *sb, size_t bytes)
{
	uint64_t sum = 0;
	for (size_t i = 0; i + 4 <= bytes; i += 4) {
		uint32_t w;
		memcpy(&w, sb + i, 4);
		if (i != offsetof(struct mdp_superblock_1, sb_csum))
			sum += le32toh(w);
	}
	return (uint32_t)((sum & 0xffffffffu) + (sum >> 32));
}

/* md_import_device + super_1_load: the member's superblock. */
static int load_member(struct md_member *mb, int drive_fd, uint64_t dev_sectors, struct mdp_superblock_1 **out)
{
	uint64_t sb_sector = M.minor_version == 2 ? SB_1_2_OFFSET_SECTORS : 0;
	uint8_t *sb = aligned_alloc(SB_BYTES, SB_BYTES);	/* an O_DIRECT read */
	if (!sb)
		return -ENOMEM;
	struct mdp_superblock_1 *s = (struct mdp_superblock_1 *)sb;
	if (pread(drive_fd, sb, SB_BYTES, (off_t)(sb_sector << 9)) != SB_BYTES) {
		free(sb);
		return -EIO;
	}
	uint32_t max_dev = le32toh(s->max_dev);
	if (le32toh(s->magic) != MD_SB_MAGIC || le32toh(s->major_version) != 1 || le64toh(s->super_offset) != sb_sector ||
	    max_dev > (SB_BYTES - 256) / 2 || sb_csum(sb, 256 + max_dev * 2) != le32toh(s->sb_csum) ||
	    le32toh(s->feature_map) & ~(uint32_t)MD_FEATURE_ALL) {
		free(sb);
		return -EINVAL;
	}
	mb->dev_number = le32toh(s->dev_number);
	mb->data_offset = le64toh(s->data_offset);
	mb->data_size = le64toh(s->data_size);
	if (mb->dev_number >= max_dev || mb->data_offset + mb->data_size > dev_sectors) {
		free(sb);
		return -EINVAL;
	}
	uint16_t role = le16toh(s->dev_roles[mb->dev_number]);
	mb->slot = role == ROLE_SPARE || role >= MD_MAX_MEMBERS ? -1 : role;
	*out = s;
	return 0;
}

static long add_new_disk(struct sim_box *b, const mdu_disk_info_t *info)
{
	if (M.state == MD_ACTIVE)
		return -EBUSY;	/* raid0 takes no disk while it runs */
	if (M.major_version != 1 || (M.minor_version != 1 && M.minor_version != 2))
		return -EINVAL;
	if (M.nmembers >= MD_MAX_MEMBERS)
		return -ENOSPC;
	int drive = -1;
	for (int i = 0; i < b->ndrives; i++)
		if (info->major == LOOP_MAJOR && info->minor == b->drive[i].loop_nr)
			drive = i;
	if (drive < 0 || atomic_load(&b->drive[drive].gone))
		return -ENXIO;
	for (int i = 0; i < M.nmembers; i++)
		if (M.m[i].drive == drive)
			return -EBUSY;
	char path[32];
	snprintf(path, sizeof path, "/dev/loop%d", b->drive[drive].loop_nr);
	/* md claims its members (an O_EXCL open elsewhere gets EBUSY) and its
	 * bios bypass their page cache: O_DIRECT */
	int fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC | O_DIRECT);
	if (fd < 0)
		return -errno;
	struct md_member mb = { .drive = drive, .fd = fd };
	struct mdp_superblock_1 *sb = NULL;
	int rc = load_member(&mb, fd, b->drive[drive].bytes >> 9, &sb);
	if (rc < 0) {
		klog("md: %sn1 does not have a valid v1.%d superblock, not importing!", b->drive[drive].name, M.minor_version);
		close(fd);
		return rc;
	}
	if (M.nmembers && memcmp(sb->set_uuid, M.uuid, 16) != 0) {
		klog("md: %sn1 has different UUID to %sn1", b->drive[drive].name, b->drive[M.m[0].drive].name);
		free(sb);
		close(fd);
		return -EINVAL;
	}
	if (!M.nmembers) {
		/* super_1_validate of the first member: the array's geometry */
		memcpy(M.uuid, sb->set_uuid, 16);
		memcpy(M.name, sb->set_name, 32);
		M.name[32] = '\0';
		M.level = (int32_t)le32toh((uint32_t)sb->level);
		M.layout = (int32_t)le32toh((uint32_t)sb->layout);
		M.raid_disks = (int)le32toh(sb->raid_disks);
		M.chunk_sectors = le32toh(sb->chunksize);
		M.ctime = le64toh(sb->ctime) & 0xffffffffffull;
	}
	free(sb);
	M.m[M.nmembers++] = mb;
	klog("md: bind<%sn1>", b->drive[drive].name);
	return 0;
}

static void release_members(void)
{
	for (int i = 0; i < M.nmembers; i++)
		if (M.m[i].fd >= 0)
			close(M.m[i].fd);
	M.nmembers = 0;
	memset(M.by_slot, 0, sizeof M.by_slot);
	M.state = MD_CLEAR;
	M.broken = false;
	M.array_sectors = M.component_sectors = 0;
}

/* do_md_run with raid0's run: every slot filled, one strip zone. */
static long run_array(struct sim_box *b)
{
	if (M.state == MD_ACTIVE)
		return -EBUSY;
	if (!M.nmembers)
		return -EINVAL;
	if (M.level != 0) {
		klog("md: personality for level %d is not loaded!", M.level);
		return -EINVAL;
	}
	if (M.raid_disks <= 0 || M.raid_disks > MD_MAX_MEMBERS || M.chunk_sectors == 0 ||
	    (M.chunk_sectors & (M.chunk_sectors - 1)) || M.chunk_sectors < 8) {
		klog("md/raid0:%s: chunk_size of %u sectors and %d disks not supported", MD_NAME, M.chunk_sectors,
		     M.raid_disks);
		return -EINVAL;
	}
	memset(M.by_slot, 0, sizeof M.by_slot);
	int found = 0;
	uint64_t size = UINT64_MAX;
	for (int i = 0; i < M.nmembers; i++) {
		struct md_member *mb = &M.m[i];
		if (mb->slot < 0 || mb->slot >= M.raid_disks || M.by_slot[mb->slot])
			continue;
		M.by_slot[mb->slot] = mb;
		found++;
		uint64_t s = mb->data_size / M.chunk_sectors * M.chunk_sectors;
		if (size != UINT64_MAX && s != size) {
			klog("md/raid0:%s: members of unequal size (several strip zones) are not simulated", MD_NAME);
			return -EINVAL;
		}
		size = s;
	}
	if (found != M.raid_disks) {
		klog("md/raid0:%s: too few disks (%d of %d) - aborting!", MD_NAME, found, M.raid_disks);
		return -EINVAL;
	}
	M.component_sectors = size;
	M.array_sectors = size * (uint64_t)M.raid_disks;
	M.state = MD_ACTIVE;
	M.personality = true;
	M.exists = true;
	klog("md/raid0:%s: md_size is %" PRIu64 " sectors.", MD_NAME, M.array_sectors);
	klog("%s: detected capacity change from 0 to %" PRIu64, MD_NAME, M.array_sectors);
	(void)b;
	return 0;
}

static long stop_array(void)
{
	bool was = M.state == MD_ACTIVE;
	remove_md_files();	/* /dev/md/NAME goes with the name */
	release_members();
	M.major_version = M.minor_version = 0;
	memset(M.name, 0, sizeof M.name);
	if (was)
		klog("md: %s stopped.", MD_NAME);
	return 0;
}

static void array_info(mdu_array_info_t *a)
{
	memset(a, 0, sizeof *a);
	a->major_version = M.major_version;
	a->minor_version = M.minor_version;
	a->ctime = (unsigned)M.ctime;
	a->level = M.level;
	uint64_t kib = M.component_sectors / 2;
	a->size = kib > INT32_MAX ? -1 : (int)kib;	/* md: -1 when it does not fit */
	a->nr_disks = M.nmembers;
	a->raid_disks = M.raid_disks;
	a->md_minor = 0;
	a->utime = (unsigned)M.ctime;
	a->state = M.broken ? 0 : 1 << MD_SB_CLEAN;
	for (int i = 0; i < M.nmembers; i++) {
		if (M.m[i].faulty) {
			a->failed_disks++;
			continue;
		}
		a->working_disks++;
		if (M.state == MD_ACTIVE && M.m[i].slot >= 0)
			a->active_disks++;
		else
			a->spare_disks++;
	}
	a->layout = M.layout;
	a->chunk_size = (int)(M.chunk_sectors << 9);
}

long md_ioctl(struct conn *c, unsigned long req, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out)
{
	(void)c;
	struct sim_box *b = M.box;
	if (req == RAID_VERSION) {
		mdu_version_t v = { .major = 0, .minor = 90, .patchlevel = 3 };
		if (size < sizeof v)
			return -EINVAL;
		memcpy(data, &v, sizeof v);
		*copy_out = sizeof v;
		return 0;
	}
	long rc = -EINVAL;
	/* md writes back what the array's page cache holds before it stops
	 * (sync_blockdev), through the running array */
	if (req == STOP_ARRAY && fsync(M.loop_fd) < 0)
		klog("md: %s: cannot write back its cache: %s", MD_NAME, strerror(errno));
	pthread_rwlock_wrlock(&M.lock);
	bool initialised = M.state == MD_ACTIVE;
	switch (req) {
	case GET_ARRAY_INFO:
		if (!initialised) {
			rc = -ENODEV;
		} else if (size >= sizeof(mdu_array_info_t)) {
			array_info(data);
			*copy_out = sizeof(mdu_array_info_t);
			rc = 0;
		}
		break;
	case GET_DISK_INFO:
		if (!initialised) {
			rc = -ENODEV;
		} else if (size >= sizeof(mdu_disk_info_t)) {
			mdu_disk_info_t *d = data;
			int number = d->number;
			memset(d, 0, sizeof *d);
			d->number = number;
			d->raid_disk = -1;
			d->state = 1 << MD_DISK_REMOVED;
			for (int i = 0; i < M.nmembers; i++)
				if ((int)M.m[i].dev_number == number) {
					d->major = LOOP_MAJOR;
					d->minor = b->drive[M.m[i].drive].loop_nr;
					d->raid_disk = M.m[i].slot;
					d->state = M.m[i].faulty ? 1 << MD_DISK_FAULTY
						   : M.m[i].slot >= 0 ? (1 << MD_DISK_ACTIVE) | (1 << MD_DISK_SYNC) : 0;
				}
			*copy_out = sizeof *d;
			rc = 0;
		}
		break;
	case SET_ARRAY_INFO:
		if (initialised || M.nmembers) {
			rc = -EBUSY;
		} else if (size >= sizeof(mdu_array_info_t)) {
			const mdu_array_info_t *a = data;
			if (a->raid_disks != 0) {
				/* arrays without persistent superblocks (mdadm --build) */
				klog("md: %s: arrays without a superblock are not simulated", MD_NAME);
			} else if (a->major_version == 1) {
				M.major_version = 1;
				M.minor_version = a->minor_version;
				M.exists = true;
				rc = 0;
			}
		}
		break;
	case ADD_NEW_DISK:
		rc = size >= sizeof(mdu_disk_info_t) ? add_new_disk(b, data) : -EINVAL;
		break;
	case RUN_ARRAY:
		rc = run_array(b);
		break;
	case STOP_ARRAY:
		rc = stop_array();
		break;
	case RESTART_ARRAY_RW:
		rc = initialised ? -EBUSY : -ENODEV;	/* never read-only */
		break;
	case GET_BITMAP_FILE:
		if (size >= sizeof(mdu_bitmap_file_t)) {
			memset(data, 0, sizeof(mdu_bitmap_file_t));
			*copy_out = sizeof(mdu_bitmap_file_t);
			rc = 0;	/* no bitmap: an empty path */
		}
		break;
	default:
		rc = initialised ? -EINVAL : -ENODEV;
	}
	(void)arg;
	bool changed = rc == 0 && (req == ADD_NEW_DISK || req == RUN_ARRAY || req == STOP_ARRAY || req == SET_ARRAY_INFO);
	if (changed)
		publish();
	uint64_t bytes = M.state == MD_ACTIVE ? M.array_sectors << 9 : 0;
	pthread_rwlock_unlock(&M.lock);
	if (changed && (req == RUN_ARRAY || req == STOP_ARRAY)) {
		resize_disk(bytes);
		udev_md0();	/* the array's change event: its filesystem's links come or go */
	}
	return rc;
}

/* ---- faults and status ----------------------------------------------------------------------- */

void md_drive_gone(struct sim_box *b, int drive)
{
	(void)b;
	pthread_rwlock_wrlock(&M.lock);
	for (int i = 0; i < M.nmembers; i++)
		if (M.m[i].drive == drive && M.state == MD_ACTIVE) {
			mark_broken(&M.m[i]);
			publish();
		}
	pthread_rwlock_unlock(&M.lock);
}

size_t md_status_json(struct sim_box *b, char *out, size_t len)
{
	pthread_rwlock_rdlock(&M.lock);
	size_t n = (size_t)snprintf(out, len, "{\"name\":\"%s\",\"block\":\"/dev/loop%d\",\"state\":\"%s\",\"bytes\":%" PRIu64
				    ",\"chunk_bytes\":%u,\"members\":[", MD_NAME, M.loop_nr, state_name(),
				    M.array_sectors << 9, M.chunk_sectors << 9);
	for (int i = 0; i < M.nmembers && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s{\"drive\":\"%s\",\"slot\":%d,\"faulty\":%s}", i ? "," : "",
				      b->drive[M.m[i].drive].name, M.m[i].slot, M.m[i].faulty ? "true" : "false");
	if (n < len)
		n += (size_t)snprintf(out + n, len - n, "]}");
	pthread_rwlock_unlock(&M.lock);
	return n < len ? n : len - 1;
}

size_t md_status_text(struct sim_box *b, char *out, size_t len)
{
	pthread_rwlock_rdlock(&M.lock);
	size_t n = (size_t)snprintf(out, len, "array %s (/dev/loop%d): %s", MD_NAME, M.loop_nr, state_name());
	if (M.state == MD_ACTIVE && n < len)
		n += (size_t)snprintf(out + n, len - n, ", raid0, %" PRIu64 " MiB, chunk %u KiB,", (M.array_sectors << 9) >> 20,
				      M.chunk_sectors / 2);
	for (int i = 0; i < M.nmembers && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, " %sn1[%d]%s", b->drive[M.m[i].drive].name, M.m[i].slot,
				      M.m[i].faulty ? "(F)" : "");
	if (n < len)
		n += (size_t)snprintf(out + n, len - n, "\n");
	pthread_rwlock_unlock(&M.lock);
	return n < len ? n : len - 1;
}

/* ---- setup ------------------------------------------------------------------------------------ */

int md_build(struct sim_box *b, char *err, size_t errlen)
{
	M.box = b;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/md", b->state);
	const struct blkfile file = { .name = MD_NAME, .io = md0_io, .sync = md0_sync, .size = md0_size };
	int rc = blkfs_mount(&M.fs, dir, &file, 1, err, errlen);
	if (rc < 0)
		return rc;
	int fd = open(blkfs_path(M.fs, 0), O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", blkfs_path(M.fs, 0), strerror(errno));
		return -errno;
	}
	rc = loop_attach(fd, 512, "tb-sim " MD_NAME, &M.loop_fd, &M.loop_nr);
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "cannot attach a loop device for %s: %s", MD_NAME, strerror(-rc));
		return rc;
	}
	/* /dev/md0 (mdadm makes it itself where it is missing) */
	char node[PATH_MAX + 16];
	snprintf(node, sizeof node, "%s/dev/%s", b->state, MD_NAME);
	unlink(node);
	if (mknod(node, S_IFBLK | 0660, makedev(LOOP_MAJOR, (unsigned)M.loop_nr)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", node, strerror(errno));
		return -errno;
	}
	sysfs_write(b, "module/md_mod/parameters", "start_ro", "0\n");
	sysfs_write(b, "module/md_mod/parameters", "new_array", "%s", "");
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/sys/module/md_mod/parameters/new_array", b->state);
	chmod(p, 0200);
	rc = attr_register(b, "module/md_mod/parameters", "new_array", store_new_array, NULL, 0);
	if (rc < 0) {
		snprintf(err, errlen, "cannot register md's attributes");
		return rc;
	}
	pthread_rwlock_wrlock(&M.lock);
	M.exists = true;
	publish();
	pthread_rwlock_unlock(&M.lock);
	klog("md: %s served over /dev/loop%d (FUSE %s)", MD_NAME, M.loop_nr, blkfs_path(M.fs, 0));
	return 0;
}

void md_release(struct sim_box *b)
{
	(void)b;
	if (!M.box)
		return;
	pthread_rwlock_wrlock(&M.lock);
	release_members();
	pthread_rwlock_unlock(&M.lock);
	if (M.loop_fd >= 0) {
		ioctl(M.loop_fd, LOOP_CLR_FD, 0);
		close(M.loop_fd);
		M.loop_fd = -1;
	}
	blkfs_unmount(M.fs);
}
