/* udev's filesystem links for the box's block devices (see udev.h).
 *
 * The rules (systemd's 60-persistent-storage.rules, mdadm's
 * 63-md-raid-arrays.rules): on an "add" or "change" event the blkid builtin
 * probes the device, and when ID_FS_USAGE is filesystem, other or crypto
 * the device gets disk/by-uuid/$ID_FS_UUID_ENC and (filesystem or other)
 * disk/by-label/$ID_FS_LABEL_ENC; an md member (usage "raid") gets
 * neither.  60-block.rules' "watch" makes a program's close of a device it
 * wrote a "change" event.  The box raises that event where it sees the
 * writer: at a flush of the device (fsync, which mkfs, wipefs and mdadm do
 * before they close), at an array's start and stop, at a drive's removal,
 * and at its tick for a device written since (a writer that never
 * flushed), so a link is in place when the tool that wrote it returns. */
#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sim/box/udev.h"

#define ENC_MAX 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const dirs[] = { "by-uuid", "by-label" };

static void dir_path(const struct sim_box *b, const char *dir, char *out, size_t len)
{
	snprintf(out, len, "%s/dev/disk/%s", b->state, dir);
}

/* Remove kname's links from dir except keep (NULL: all of them). */
static void drop_links(const struct sim_box *b, const char *dir, const char *kname, const char *keep)
{
	char path[PATH_MAX], target[64];
	dir_path(b, dir, path, sizeof path);
	snprintf(target, sizeof target, "../../%s", kname);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char link[PATH_MAX + 300], got[64];
		if (e->d_name[0] == '.' || (keep && !strcmp(e->d_name, keep)))
			continue;
		snprintf(link, sizeof link, "%s/%s", path, e->d_name);
		ssize_t n = readlink(link, got, sizeof got - 1);
		if (n < 0)
			continue;
		got[n] = '\0';
		if (!strcmp(got, target))
			unlink(link);
	}
	if (d)
		closedir(d);
}

/* dir/name -> ../../kname, in place of whatever had the name (the newest
 * event wins, as between devices of equal link priority). */
static void set_link(const struct sim_box *b, const char *dir, const char *name, const char *kname)
{
	char path[PATH_MAX], link[PATH_MAX + ENC_MAX + 8], tmp[PATH_MAX + ENC_MAX + 16], target[64];
	dir_path(b, dir, path, sizeof path);
	snprintf(link, sizeof link, "%s/%s", path, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", path, name);
	snprintf(target, sizeof target, "../../%s", kname);
	unlink(tmp);
	if (symlink(target, tmp) < 0 || rename(tmp, link) < 0) {
		klog("udev: %s: cannot link disk/%s/%s: %s", kname, dir, name, strerror(errno));
		unlink(tmp);
	}
}

/* The blkid builtin: USAGE, UUID and LABEL, encoded as ID_FS_*_ENC are. */
static void probe(int fd, char *uuid, char *label)
{
	uuid[0] = label[0] = '\0';
	blkid_probe pr = blkid_new_probe();
	if (!pr)
		return;
	const char *usage = NULL, *u = NULL, *l = NULL;
	if (blkid_probe_set_device(pr, fd, 0, 0) == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_USAGE | BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL |
							  BLKID_SUBLKS_TYPE);
		if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "USAGE", &usage, NULL) == 0) {
			bool fs = !strcmp(usage, "filesystem") || !strcmp(usage, "other");
			if ((fs || !strcmp(usage, "crypto")) && blkid_probe_lookup_value(pr, "UUID", &u, NULL) == 0)
				blkid_encode_string(u, uuid, ENC_MAX);
			if (fs && blkid_probe_lookup_value(pr, "LABEL", &l, NULL) == 0)
				blkid_encode_string(l, label, ENC_MAX);
		}
	}
	blkid_free_probe(pr);
	/* a name udev would not make a file of */
	if (!strcmp(uuid, ".") || !strcmp(uuid, "..") || strchr(uuid, '/'))
		uuid[0] = '\0';
	if (!strcmp(label, ".") || !strcmp(label, "..") || strchr(label, '/'))
		label[0] = '\0';
}

void udev_change(struct sim_box *b, const char *kname, int fd)
{
	char uuid[ENC_MAX], label[ENC_MAX];
	uuid[0] = label[0] = '\0';
	if (fd >= 0)
		probe(fd, uuid, label);
	const char *names[2] = { uuid, label };
	pthread_mutex_lock(&lock);
	for (int i = 0; i < 2; i++) {
		drop_links(b, dirs[i], kname, names[i][0] ? names[i] : NULL);
		if (names[i][0])
			set_link(b, dirs[i], names[i], kname);
	}
	pthread_mutex_unlock(&lock);
}

int udev_start(struct sim_box *b)
{
	char path[PATH_MAX];
	for (int i = 0; i < 2; i++) {
		dir_path(b, dirs[i], path, sizeof path);
		int rc = sysfs_mkdirs(path);
		if (rc < 0)
			return rc;
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char link[PATH_MAX + 300];
			if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
				continue;
			snprintf(link, sizeof link, "%s/%s", path, e->d_name);
			unlink(link);
		}
		if (d)
			closedir(d);
	}
	return 0;
}
