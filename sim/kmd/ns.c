/* The simulated box's files, placed where the kernel's would be.
 *
 * Programs run against the simulated box inside a private mount namespace in
 * which the box's state directory provides /sys/class, /sys/bus and
 * /sys/devices (the host's /sys/devices/system and /sys/devices/virtual stay
 * visible under it, so that CPU and memory information still reads right),
 * and a minimal /dev holding the host's basic devices plus the box's device
 * files.  /sys itself stays the host's sysfs mount, so libraries that check
 * its filesystem type (libsensors does) accept it.
 *
 * As root this needs only a mount namespace; otherwise a user namespace maps
 * the caller to root inside it. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/kmd/ns.h"

static int fail(char *err, size_t len, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return e ? -e : -EIO;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = n < 0 ? -errno : 0;
	close(fd);
	return e;
}

static int enter_namespace(char *err, size_t len)
{
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) < 0)
			return fail(err, len, "cannot create a mount namespace: %s", strerror(errno));
	} else {
		uid_t uid = geteuid();
		gid_t gid = getegid();
		char map[64];
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return fail(err, len,
				    "cannot create a user and mount namespace (%s); run as root or enable "
				    "unprivileged user namespaces", strerror(errno));
		snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
		if (write_file("/proc/self/uid_map", map) < 0 ||
		    write_file("/proc/self/setgroups", "deny") < 0)
			return fail(err, len, "cannot map the user into the namespace: %s", strerror(errno));
		snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
		if (write_file("/proc/self/gid_map", map) < 0)
			return fail(err, len, "cannot map the group into the namespace: %s", strerror(errno));
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(err, len, "cannot make the mounts private: %s", strerror(errno));
	return 0;
}

static int bind(const char *from, const char *to, int recursive, char *err, size_t len)
{
	if (mount(from, to, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
		return fail(err, len, "cannot bind %s on %s: %s", from, to, strerror(errno));
	return 0;
}

static int path_join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s/%s", a, b);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Make sure the mount point exists inside the state directory (the state
 * directory is ours to change; the host's /sys and /dev are not). */
static int ensure_dir(const char *path)
{
	char p[4096];
	if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int ensure_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Whether the box provides ENTRY itself.  Mount points an earlier run left
 * in the state directory are empty; the box's own files and directories
 * never are. */
static bool box_owns(const char *entry)
{
	struct stat st;
	if (lstat(entry, &st) < 0)
		return false;
	if (S_ISLNK(st.st_mode))
		return true;
	if (S_ISREG(st.st_mode))
		return st.st_size > 0;
	DIR *d = opendir(entry);
	if (!d)
		return true;
	bool full = false;
	struct dirent *e;
	while (!full && (e = readdir(d)))
		full = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return full;
}

/* Place one host entry at the same name in the box's copy of its directory:
 * directories and files by binding, symlinks by copying the (relative) link. */
static int place_host_entry(const char *from, const char *to, char *err, size_t len)
{
	struct stat st;
	if (lstat(from, &st) < 0)
		return 0;
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(from, target, sizeof target - 1);
		if (n < 0)
			return 0;
		target[n] = '\0';
		if (symlink(target, to) < 0 && errno != EEXIST)
			return fail(err, len, "cannot link %s: %s", to, strerror(errno));
		return 0;
	}
	int rc = S_ISDIR(st.st_mode) ? ensure_dir(to) : ensure_file(to);
	if (rc < 0)
		return fail(err, len, "cannot prepare %s: %s", to, strerror(-rc));
	return bind(from, to, S_ISDIR(st.st_mode), err, len);
}

/* Give the box's copy of a host directory every host entry the box does not
 * provide itself (its /sys/devices/virtual/kfd, its amdgpu module...). */
static int bind_host_entries(const char *host, const char *box, char *err, size_t len)
{
	DIR *d = opendir(host);
	if (!d)
		return 0;
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		char from[4096], to[4096];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(from, sizeof from, "%s/%s", host, e->d_name) >= (int)sizeof from ||
		    snprintf(to, sizeof to, "%s/%s", box, e->d_name) >= (int)sizeof to)
			continue;
		if (!box_owns(to))
			rc = place_host_entry(from, to, err, len);
	}
	closedir(d);
	return rc;
}

/* Merge the host's /sys/REL into the box's, deepest box directories first:
 * the box adds directories inside some host directories (the caches of
 * each host CPU), so each box directory on the way gets the host's other
 * entries before its parent is merged. */
static bool box_only(const char *rel)
{
	/* the box's PCI hierarchy, GPUs and sensors replace the host's: a
	 * host device showing through would not be on the appliance */
	static const char *const only[] = { "bus/pci", "class/drm", "class/hwmon", "class/kfd", "class/pci_bus",
					    "class/nvme", "class/nvme-subsystem", "class/block", "devices/virtual/nvme-subsystem",
					    "devices/virtual/kfd", "devices/virtual/hwmon", "module/amdgpu" };
	for (size_t i = 0; i < sizeof only / sizeof only[0]; i++)
		if (!strcmp(rel, only[i]))
			return true;
	/* the CPUs' caches are the appliance EPYC's, not the host's */
	return fnmatch("devices/system/cpu/cpu[0-9]*/cache", rel, FNM_PATHNAME) == 0;
}

static int merge_tree(const char *state, const char *rel, char *err, size_t len)
{
	if (box_only(rel))
		return 0;
	char box[4096], host[4096];
	if (snprintf(box, sizeof box, "%s/sys/%s", state, rel) >= (int)sizeof box ||
	    snprintf(host, sizeof host, "/sys/%s", rel) >= (int)sizeof host)
		return fail(err, len, "state directory path too long");
	DIR *d = opendir(box);
	if (d) {
		struct dirent *e;
		int rc = 0;
		while (rc == 0 && (e = readdir(d))) {
			char sub[4096], host_sub[4200], box_sub[8400];
			if (e->d_name[0] == '.' || e->d_type != DT_DIR)
				continue;
			snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
			snprintf(host_sub, sizeof host_sub, "/sys/%s", sub);
			snprintf(box_sub, sizeof box_sub, "%s/%s", box, e->d_name);
			struct stat st;
			/* only directories both sides have and the box filled in */
			if (lstat(host_sub, &st) == 0 && S_ISDIR(st.st_mode) && box_owns(box_sub))
				rc = merge_tree(state, sub, err, len);
		}
		closedir(d);
		if (rc < 0)
			return rc;
	}
	if (ensure_dir(box) < 0)
		return fail(err, len, "cannot prepare %s: %s", box, strerror(errno));
	return bind_host_entries(host, box, err, len);
}

static int place_sys(const char *state, char *err, size_t len)
{
	char from[4096], to[4096];

	/* Where the box owns some entries and the host the others (the host's
	 * CPUs and memory, its network classes, other buses and modules), the
	 * box's tree gets the host's entries it lacks. */
	static const char *const merged[] = { "devices/system", "devices/virtual", "class", "bus", "module" };
	for (size_t i = 0; i < sizeof merged / sizeof merged[0]; i++)
		if (merge_tree(state, merged[i], err, len) < 0)
			return -EIO;
	static const char *const parts[] = { "devices", "class", "bus", "dev", "block", "module" };
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (snprintf(from, sizeof from, "%s/sys/%s", state, parts[i]) >= (int)sizeof from)
			return fail(err, len, "state directory path too long");
		snprintf(to, sizeof to, "/sys/%s", parts[i]);
		if (access(from, F_OK) != 0 || access(to, F_OK) != 0)
			continue;
		if (bind(from, to, 1, err, len) < 0)
			return -EIO;
	}
	return 0;
}

/* A minimal /dev: the host's basic devices, its terminals and shared memory,
 * and whatever the box provides under STATE/dev. */
static int place_dev(const char *state, char *err, size_t len)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty", "ptmx" };
	static const char *const dirs[] = { "pts", "shm", "mqueue", "hugepages" };
	char host[4096], to[4096];
	int rc;

	/* Keep a handle on the host's /dev before covering it. */
	if ((rc = path_join(host, sizeof host, state, "hostdev")) < 0 || ensure_dir(host) < 0)
		return fail(err, len, "cannot prepare %s", host);
	if (bind("/dev", host, 1, err, len) < 0)
		return -EIO;
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m") < 0)
		return fail(err, len, "cannot mount a tmpfs on /dev: %s", strerror(errno));

	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		char from[4200];
		snprintf(from, sizeof from, "%s/%s", host, nodes[i]);
		snprintf(to, sizeof to, "/dev/%s", nodes[i]);
		if (access(from, F_OK) != 0)
			continue;
		if (ensure_file(to) < 0 || bind(from, to, 0, err, len) < 0)
			return fail(err, len, "cannot place /dev/%s: %s", nodes[i], strerror(errno));
	}
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char from[4200];
		snprintf(from, sizeof from, "%s/%s", host, dirs[i]);
		snprintf(to, sizeof to, "/dev/%s", dirs[i]);
		if (access(from, F_OK) != 0)
			continue;
		if (ensure_dir(to) < 0 || bind(from, to, 1, err, len) < 0)
			return fail(err, len, "cannot place /dev/%s: %s", dirs[i], strerror(errno));
	}
	if (symlink("/proc/self/fd", "/dev/fd") < 0 || symlink("/proc/self/fd/0", "/dev/stdin") < 0 ||
	    symlink("/proc/self/fd/1", "/dev/stdout") < 0 || symlink("/proc/self/fd/2", "/dev/stderr") < 0)
		return fail(err, len, "cannot create the /dev links: %s", strerror(errno));

	umount2(host, MNT_DETACH);
	return 0;
}

/* The box's device files: every file under STATE/dev (kfd, dri/renderD128...)
 * is bound at the same path under /dev. */
static int place_box_devices(const char *from_dir, const char *to_dir, int depth, char *err, size_t len)
{
	DIR *d = opendir(from_dir);
	if (!d)
		return errno == ENOENT ? 0 : fail(err, len, "cannot read %s: %s", from_dir, strerror(errno));
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		char from[4096], to[4096];
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(from, sizeof from, "%s/%s", from_dir, e->d_name) >= (int)sizeof from ||
		    snprintf(to, sizeof to, "%s/%s", to_dir, e->d_name) >= (int)sizeof to) {
			rc = fail(err, len, "device path too long");
			break;
		}
		struct stat st;
		if (lstat(from, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && !strcmp(to, "/dev/disk")) {
			/* udev's links (by-id, by-uuid, by-label) change while
			 * programs run (mkfs makes a by-uuid link): the box's
			 * directory itself, so every run sees them as they change */
			if (ensure_dir(to) < 0 || bind(from, to, 1, err, len) < 0)
				rc = fail(err, len, "cannot place /dev/disk: %s", strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (depth > 0 && ensure_dir(to) == 0)
				rc = place_box_devices(from, to, depth - 1, err, len);
		} else if (S_ISBLK(st.st_mode)) {
			/* a block device the box made (a drive's loop device):
			 * its node, made afresh where the state directory's
			 * filesystem may forbid opening device nodes */
			if (mknod(to, st.st_mode, st.st_rdev) < 0)
				rc = fail(err, len, "cannot create %s: %s", to, strerror(errno));
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlink(from, target, sizeof target - 1);
			if (n >= 0) {
				target[n] = '\0';
				if (symlink(target, to) < 0)
					rc = fail(err, len, "cannot link %s: %s", to, strerror(errno));
			}
		} else if (ensure_file(to) < 0) {
			rc = fail(err, len, "cannot create %s: %s", to, strerror(errno));
		} else {
			rc = bind(from, to, 0, err, len);
		}
	}
	closedir(d);
	return rc;
}

int simns_enter(const char *state_dir, char *err, size_t errlen)
{
	char sys[4096];
	struct stat st;

	if (path_join(sys, sizeof sys, state_dir, "sys") < 0)
		return fail(err, errlen, "state directory path too long");
	if (stat(sys, &st) < 0 || !S_ISDIR(st.st_mode)) {
		errno = ENOENT;
		return fail(err, errlen, "%s holds no simulated box (no sys/ directory)", state_dir);
	}
	int rc = enter_namespace(err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = place_sys(state_dir, err, errlen)) < 0)
		return rc;
	if ((rc = place_dev(state_dir, err, errlen)) < 0)
		return rc;
	char dev[4096];
	if (path_join(dev, sizeof dev, state_dir, "dev") < 0)
		return fail(err, errlen, "state directory path too long");
	return place_box_devices(dev, "/dev", 2, err, errlen);
}
