/* The storage step: RAID0 over the data drives, ext4 on it, mounted at
 * /raid and in the target's fstab and mdadm.conf.
 *
 * check:  the inventory (storage_inventory.c) and the planner
 *         (storage_plan.c) decide adopt, assemble or create; the array's
 *         filesystem, fstab, mdadm.conf, the initramfs and the mount are
 *         compared with what they should be.
 * apply:  wipefs (listed drives only), mdadm --create or --assemble,
 *         mkfs.ext4 with the array's stride and stripe width, the files,
 *         update-initramfs, mount; the facts are read again after each
 *         change, never assumed.
 * verify: the array runs with the config's geometry, its filesystem is
 *         found by UUID as the boot will find it, the files hold its
 *         lines, it is mounted, and an O_DIRECT read of it is at least
 *         probe_floor_mbps. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "installer/setup.h"
#include "installer/storage.h"

#define SECTION "storage"
#define FSTAB "/etc/fstab"
#define MDADM_CONF "/etc/mdadm/mdadm.conf"
#define EXT4_BLOCK 4096
#define EXT4_LABEL_MAX 16		/* ext4's s_volume_name */
#define MD_NAME_MAX 32			/* superblock 1.x set_name */
#define PROBE_BLOCK (4u << 20)		/* one O_DIRECT read: two full stripes of 4 x 512 KiB */
#define MIB (1024ull * 1024)
#define FILE_MAX SETUP_MAX_FILE
#define OUT_MAX 8192

static const struct setup_key storage_keys[] = {
	{ "drives", "auto", "the array's drives: auto (the NVMe drives besides the boot drive, when there are exactly "
			    "count) or their serials or WWNs (/dev/disk/by-id), separated by commas" },
	{ "count", "4", "how many drives the array has" },
	{ "chunk_kib", "512", "RAID0 chunk in KiB (a power of two, 4 to 65536)" },
	{ "mount", "/raid", "where the array's filesystem is mounted" },
	{ "label", "raid", "the ext4 filesystem's label (at most 16 characters)" },
	{ "name", "raid", "the md array's name (mdadm --name; /dev/md/NAME)" },
	{ "wipe", NULL, "serials of drives that may be wiped though they carry a partition table or filesystem" },
	{ "device_timeout", "30", "seconds the boot waits for the array before going on without it (fstab nofail)" },
	{ "probe_mib", "1024", "MiB the O_DIRECT read probe of verify reads (at most the array's size)" },
	{ "probe_floor_mbps", "2000", "the least MB/s the probe must read; below it verify fails" },
	{ NULL },
};

struct storage_run {
	struct stg_want want;
	char mount[256], label[EXT4_LABEL_MAX + 1], name[MD_NAME_MAX + 1];
	unsigned long long timeout_s, probe_mib, floor_mbps;
	struct stg_inventory inv;
	struct stg_plan plan;
	char md_dev[32];		/* /dev/md0 */
	bool fresh;			/* apply created the array just now */
};

/* ---- config ---------------------------------------------------------------------------------- */

static bool safe_word(const char *v, size_t max, const char *extra)
{
	size_t n = strlen(v);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
		      strchr(extra, v[i])))
			return false;
	return true;
}

static bool mount_point_ok(const char *m)
{
	if (m[0] != '/' || !strcmp(m, "/") || m[strlen(m) - 1] == '/' || strstr(m, "//") || strstr(m, "/./") ||
	    strstr(m, "/../") || !strcmp(m + strlen(m) - 2, "/.") || (strlen(m) > 2 && !strcmp(m + strlen(m) - 3, "/..")))
		return false;
	return safe_word(m, 200, "/._-");
}

static int bad_value(const struct setup *s, struct step_run *r, const char *key, const char *why)
{
	char where[PATH_MAX + 16];
	return step_fail(r, SETUP_FAILED, "%s: [storage] %s: %s",
			 setup_conf_where(s->conf, SECTION, key, where, sizeof where), key, why);
}

static int read_config(const struct setup *s, struct step_run *r, struct storage_run *sr)
{
	unsigned long long count, chunk;
	int rc;
	if ((rc = setup_conf_uint(s, r, SECTION, "count", 1, STG_MAX_MEMBERS, &count)) ||
	    (rc = setup_conf_uint(s, r, SECTION, "chunk_kib", 4, 65536, &chunk)) ||
	    (rc = setup_conf_uint(s, r, SECTION, "device_timeout", 1, 3600, &sr->timeout_s)) ||
	    (rc = setup_conf_uint(s, r, SECTION, "probe_mib", 1, 1u << 20, &sr->probe_mib)) ||
	    (rc = setup_conf_uint(s, r, SECTION, "probe_floor_mbps", 0, 1000000, &sr->floor_mbps)))
		return rc;
	if (chunk & (chunk - 1))
		return bad_value(s, r, "chunk_kib", "a power of two");
	sr->want.count = (unsigned)count;
	sr->want.chunk_kib = (unsigned)chunk;
	rc = stg_parse_list(setup_conf_get(s->conf, SECTION, "drives"), sr->want.drives, STG_MAX_LIST, &sr->want.ndrives);
	sr->want.drives_auto = rc == -ENOENT;
	if (rc == -EINVAL || (rc == 0 && sr->want.ndrives == 0))
		return bad_value(s, r, "drives", "auto, or serials separated by commas");
	if (stg_parse_list(setup_conf_get(s->conf, SECTION, "wipe"), sr->want.wipe, STG_MAX_LIST, &sr->want.nwipe) != 0)
		return bad_value(s, r, "wipe", "serials separated by commas");
	const char *mount = setup_conf_get(s->conf, SECTION, "mount");
	const char *label = setup_conf_get(s->conf, SECTION, "label");
	const char *name = setup_conf_get(s->conf, SECTION, "name");
	if (!mount || !mount_point_ok(mount))
		return bad_value(s, r, "mount", "an absolute path other than / of letters, digits and / . _ -");
	if (!label || !safe_word(label, EXT4_LABEL_MAX, "._-"))
		return bad_value(s, r, "label", "1 to 16 letters, digits, . _ -");
	if (!name || !safe_word(name, MD_NAME_MAX, "._-"))
		return bad_value(s, r, "name", "1 to 32 letters, digits, . _ -");
	snprintf(sr->mount, sizeof sr->mount, "%s", mount);
	snprintf(sr->label, sizeof sr->label, "%s", label);
	snprintf(sr->name, sizeof sr->name, "%s", name);
	snprintf(sr->want.name, sizeof sr->want.name, "%s", name);
	return SETUP_OK;
}

/* ---- facts ------------------------------------------------------------------------------------ */

static void member_list(const struct storage_run *sr, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned k = 0; k < sr->plan.nmembers && n < len; k++) {
		const struct stg_disk *d = &sr->inv.disk[sr->plan.member[k]];
		n += (size_t)snprintf(out + n, len - n, "%s%s", k ? ", " : "", d->serial[0] ? d->serial : stg_disk_id(d));
	}
}

static int array_devno(const char *md_dev, dev_t *out)
{
	struct stat st;
	if (stat(md_dev, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	*out = st.st_rdev;
	return 0;
}

/* Whether the mount point under the root is the array's filesystem. */
static bool mounted_here(const struct setup *s, const struct storage_run *sr)
{
	char path[PATH_MAX];
	struct stat st;
	dev_t md = 0;
	return setup_path(s, sr->mount, path, sizeof path) == 0 && stat(path, &st) == 0 &&
	       array_devno(sr->md_dev, &md) == 0 && st.st_dev == md;
}

static bool tool_in_root(const struct setup *s, const char *tool, char *path, size_t len)
{
	static const char *const dirs[] = { "/usr/sbin/", "/sbin/", "/usr/bin/" };
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		char rel[128], full[PATH_MAX];
		snprintf(rel, sizeof rel, "%s%s", dirs[i], tool);
		if (setup_path(s, rel, full, sizeof full) == 0 && access(full, X_OK) == 0) {
			snprintf(path, len, "%s", full);
			return true;
		}
	}
	return false;
}

/* The newest /boot/initrd.img-* under the root, 0 when there is none. */
static time_t newest_initrd(const struct setup *s)
{
	char boot[PATH_MAX];
	time_t newest = 0;
	if (setup_path(s, "/boot", boot, sizeof boot) < 0)
		return 0;
	DIR *d = opendir(boot);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[PATH_MAX + 300];
		struct stat st;
		if (strncmp(e->d_name, "initrd.img-", 11))
			continue;
		snprintf(p, sizeof p, "%s/%s", boot, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime > newest)
			newest = st.st_mtime;
	}
	if (d)
		closedir(d);
	return newest;
}

/* The initramfs carries mdadm.conf (it assembles the array at boot): it is
 * stale when mdadm.conf is newer. */
static bool initramfs_stale(const struct setup *s)
{
	char conf[PATH_MAX];
	struct stat st;
	time_t initrd = newest_initrd(s);
	return initrd && setup_path(s, MDADM_CONF, conf, sizeof conf) == 0 && stat(conf, &st) == 0 &&
	       st.st_mtime > initrd;
}

static void fstab_want(const struct storage_run *sr, const char *uuid, char *options, size_t olen,
		       struct stg_fstab_want *w)
{
	snprintf(options, olen, "defaults,nofail,x-systemd.device-timeout=%llus", sr->timeout_s);
	*w = (struct stg_fstab_want){ .uuid = uuid, .mount = sr->mount, .type = "ext4", .options = options, .pass = 2 };
}

/* fstab as it should be (malloc'd in *out). */
static int fstab_content(struct setup *s, struct step_run *r, const struct storage_run *sr, const char *uuid,
			 char **out, size_t *len, unsigned *changed)
{
	char *have = NULL, options[96];
	size_t hlen = 0;
	int rc = setup_file_read(s, FSTAB, FILE_MAX, &have, &hlen);
	if (rc < 0 && rc != -ENOENT)
		return step_fail(r, SETUP_FAILED, "%s: %s", FSTAB, strerror(-rc));
	struct stg_fstab_want w;
	fstab_want(sr, uuid, options, sizeof options, &w);
	rc = stg_fstab_edit(have ? have : "", hlen, &w, out, len, changed);
	free(have);
	return rc < 0 ? step_fail(r, SETUP_FAILED, "%s: cannot edit it: %s", FSTAB, strerror(-rc)) : SETUP_OK;
}

/* The array's ARRAY line, as mdadm --detail --brief prints it. */
static int array_line(struct setup *s, struct step_run *r, const struct storage_run *sr, char *line, size_t len)
{
	char out[OUT_MAX];
	const char *argv[] = { "mdadm", "--detail", "--brief", sr->md_dev, NULL };
	int rc = setup_capture(s, argv, out, sizeof out);
	char *p = rc == 0 ? strstr(out, "ARRAY ") : NULL;
	if (!p || (p != out && p[-1] != '\n'))
		return step_fail(r, SETUP_FAILED, "mdadm --detail --brief %s: no ARRAY line (status %d)", sr->md_dev, rc);
	size_t n = strcspn(p, "\n");
	if (n >= len)
		return step_fail(r, SETUP_FAILED, "mdadm --detail --brief %s: its ARRAY line is too long", sr->md_dev);
	memcpy(line, p, n);
	line[n] = '\0';
	return SETUP_OK;
}

static int mdadm_conf_content(struct setup *s, struct step_run *r, const char *line, char **out, size_t *len,
			      unsigned *changed)
{
	char *have = NULL;
	size_t hlen = 0;
	int rc = setup_file_read(s, MDADM_CONF, FILE_MAX, &have, &hlen);
	if (rc < 0 && rc != -ENOENT)
		return step_fail(r, SETUP_FAILED, "%s: %s", MDADM_CONF, strerror(-rc));
	rc = stg_mdadm_conf_edit(have ? have : "", hlen, line, out, len, changed);
	free(have);
	return rc < 0 ? step_fail(r, SETUP_FAILED, "%s: cannot edit it: %s", MDADM_CONF, strerror(-rc)) : SETUP_OK;
}

/* ---- check -------------------------------------------------------------------------------------- */

static void describe_plan(struct step_run *r, const struct storage_run *sr)
{
	char members[STG_MAX_MEMBERS * (STG_SERIAL_LEN + 2)];
	member_list(sr, members, sizeof members);
	const struct stg_plan *p = &sr->plan;
	for (unsigned k = 0; k < p->nwipe; k++) {
		const struct stg_disk *d = &sr->inv.disk[p->wipe[k]];
		step_action(r, "wipe the signatures (%s%s%s) off %s (%s), listed in [storage] wipe", d->fstype,
			    d->fstype[0] && d->pttype[0] ? ", " : "", d->pttype, stg_disk_id(d), d->name);
	}
	if (p->verb == STG_CREATE) {
		unsigned stride, width;
		stg_ext4_geometry(sr->want.chunk_kib, EXT4_BLOCK, p->nmembers, &stride, &width);
		step_action(r, "create RAID0 %s '%s' over %u drives (%s), chunk %u KiB, metadata 1.2", sr->md_dev,
			    sr->name, p->nmembers, members, sr->want.chunk_kib);
		step_action(r, "make ext4 '%s' on %s (stride %u, stripe width %u blocks of %u bytes)", sr->label,
			    sr->md_dev, stride, width, EXT4_BLOCK);
		step_action(r, "add the new filesystem to %s (by UUID, at %s) and the array to %s", FSTAB, sr->mount,
			    MDADM_CONF);
		step_action(r, "mount it at %s", sr->mount);
	} else if (p->verb == STG_ASSEMBLE) {
		if (p->array >= 0)
			step_action(r, "stop the partial array %s", sr->inv.array[p->array].name);
		step_action(r, "assemble the existing array %s (UUID %s) from %s as %s", sr->name, p->uuid, members,
			    sr->md_dev);
		step_action(r, "check its filesystem, %s and %s once it runs, and mount it at %s", FSTAB, MDADM_CONF,
			    sr->mount);
	}
}

/* For a running array: its filesystem and the files and the mount. */
static int check_running(struct setup *s, struct step_run *r, struct storage_run *sr)
{
	char type[32], uuid[STG_UUID_LEN], label[64];
	if (stg_probe_fs(sr->md_dev, type, sizeof type, uuid, sizeof uuid, label, sizeof label) < 0)
		return step_fail(r, SETUP_FAILED, "cannot probe %s for a filesystem", sr->md_dev);
	step_input(r, "filesystem", uuid);
	if (!type[0]) {
		step_action(r, "make ext4 '%s' on the array %s, which has no filesystem", sr->label, sr->md_dev);
		step_action(r, "add the new filesystem to %s (by UUID, at %s)", FSTAB, sr->mount);
	} else if (strcmp(type, "ext4")) {
		return step_fail(r, SETUP_REFUSED, "the array %s holds %s, not ext4: it is kept; move its data and "
						   "wipefs it to let setup make ext4", sr->md_dev, type);
	} else {
		if (strcmp(label, sr->label))
			step_note(r, "the array's ext4 is labelled '%s', not '%s' (kept; e2label %s %s renames it)", label,
				  sr->label, sr->md_dev, sr->label);
		char *content;
		size_t len;
		unsigned changed;
		int rc = fstab_content(s, r, sr, uuid, &content, &len, &changed);
		if (rc)
			return rc;
		rc = setup_file_want(s, r, FSTAB, content, len, 0644);
		free(content);
		if (rc)
			return rc;
	}
	char line[1024], *content;
	size_t len;
	unsigned changed;
	int rc = array_line(s, r, sr, line, sizeof line);
	if (!rc)
		rc = mdadm_conf_content(s, r, line, &content, &len, &changed);
	if (rc)
		return rc;
	rc = setup_file_want(s, r, MDADM_CONF, content, len, 0644);
	free(content);
	if (rc)
		return rc;
	char tool[PATH_MAX];
	if (tool_in_root(s, "update-initramfs", tool, sizeof tool) && initramfs_stale(s))
		step_action(r, "update the initramfs (its mdadm.conf is older than %s)", MDADM_CONF);
	char dir[PATH_MAX];
	struct stat st;
	if (setup_path(s, sr->mount, dir, sizeof dir) < 0)
		return step_fail(r, SETUP_FAILED, "the mount point's path is too long under the root");
	if (stat(dir, &st) < 0)
		step_action(r, "create the mount point %s", sr->mount);
	else if (!S_ISDIR(st.st_mode))
		return step_fail(r, SETUP_REFUSED, "%s exists and is not a directory: it is kept", dir);
	if (!mounted_here(s, sr))
		step_action(r, "mount %s at %s", sr->md_dev, sr->mount);
	return SETUP_OK;
}

static void record_inputs(struct step_run *r, const struct storage_run *sr)
{
	char members[STG_MAX_MEMBERS * (STG_SERIAL_LEN + 2)];
	member_list(sr, members, sizeof members);
	step_input(r, "members", members);
	step_input(r, "array", sr->plan.uuid);
	for (unsigned i = 0; i < sr->inv.ndisks; i++)
		if (sr->inv.disk[i].boot)
			step_input(r, "boot", sr->inv.disk[i].serial);
}

static int plan_storage(struct setup *s, struct step_run *r, struct storage_run *sr, bool inputs)
{
	char err[256];
	if (stg_inventory_read(s, &sr->inv, err, sizeof err) < 0)
		return step_fail(r, SETUP_FAILED, "%s", err);
	if (stg_plan(&sr->inv, &sr->want, &sr->plan) != 0)
		return step_fail(r, SETUP_REFUSED, "%s", sr->plan.why);
	const struct stg_plan *p = &sr->plan;
	const char *dev = p->verb == STG_ADOPT || p->array >= 0 ? sr->inv.array[p->array].name : sr->inv.free_md;
	if (!dev[0])
		return step_fail(r, SETUP_FAILED, "no free md device for the array (every md0..md127 is in use)");
	snprintf(sr->md_dev, sizeof sr->md_dev, "/dev/%s", dev);
	if (inputs)
		record_inputs(r, sr);
	return SETUP_OK;
}

static int storage_check(struct setup *s, struct step_run *r)
{
	struct storage_run *sr = calloc(1, sizeof *sr);
	if (!sr)
		return step_fail(r, SETUP_FAILED, "out of memory");
	r->priv = sr;
	int rc = read_config(s, r, sr);
	if (!rc)
		rc = plan_storage(s, r, sr, true);
	if (rc)
		return rc;
	describe_plan(r, sr);
	return sr->plan.verb == STG_ADOPT ? check_running(s, r, sr) : SETUP_OK;
}

/* ---- apply -------------------------------------------------------------------------------------- */

static int run_tool(struct setup *s, struct step_run *r, const char *const argv[])
{
	int rc = setup_exec(s, r, argv);
	if (rc == 0)
		return SETUP_OK;
	char why[sizeof r->msg];
	snprintf(why, sizeof why, "%s", r->msg);
	return step_fail(r, SETUP_FAILED, "%s %s failed (%s%d)%s%.300s", argv[0], argv[1], rc < 0 ? "error " : "status ",
			 rc < 0 ? -rc : rc, why[0] ? ": " : "", why);
}

/* udev makes the array's links and its filesystem's by-uuid link after
 * each change; on the running system, wait for it as the boot would. */
static void settle(struct setup *s, struct step_run *r)
{
	if (!s->live || access("/run/udev/control", F_OK) != 0)
		return;
	const char *argv[] = { "udevadm", "settle", "--timeout=30", NULL };
	if (setup_exec(s, r, argv) != 0)
		step_note(r, "udevadm settle did not finish: the array's links may come later");
}

static int apply_create(struct setup *s, struct step_run *r, struct storage_run *sr)
{
	char paths[STG_MAX_MEMBERS][200];
	const struct stg_plan *p = &sr->plan;
	for (unsigned k = 0; k < p->nwipe; k++) {
		snprintf(paths[0], sizeof paths[0], "/dev/disk/by-id/%s", stg_disk_id(&sr->inv.disk[p->wipe[k]]));
		const char *argv[] = { "wipefs", "--all", paths[0], NULL };
		int rc = run_tool(s, r, argv);
		if (rc)
			return rc;
	}
	char level[] = "--level=0", disks[32], chunk[32], name[48];
	snprintf(disks, sizeof disks, "--raid-devices=%u", p->nmembers);
	snprintf(chunk, sizeof chunk, "--chunk=%u", sr->want.chunk_kib);
	snprintf(name, sizeof name, "--name=%s", sr->name);
	const char *argv[16 + STG_MAX_MEMBERS] = { "mdadm", "--create", sr->md_dev, "--run", level, disks, chunk,
						   "--metadata=1.2", name };
	size_t n = 9;
	for (unsigned k = 0; k < p->nmembers; k++) {
		snprintf(paths[k], sizeof paths[k], "/dev/disk/by-id/%s", stg_disk_id(&sr->inv.disk[p->member[k]]));
		argv[n++] = paths[k];
	}
	argv[n] = NULL;
	int rc = run_tool(s, r, argv);
	if (rc)
		return rc;
	sr->fresh = true;
	/* what the drives held before lies in the new array's blocks: a stale
	 * signature there is not a filesystem of this array */
	const char *wipe[] = { "wipefs", "--all", sr->md_dev, NULL };
	return run_tool(s, r, wipe);
}

static int apply_assemble(struct setup *s, struct step_run *r, struct storage_run *sr)
{
	const struct stg_plan *p = &sr->plan;
	if (p->array >= 0) {
		char dev[32];
		snprintf(dev, sizeof dev, "/dev/%s", sr->inv.array[p->array].name);
		const char *stop[] = { "mdadm", "--stop", dev, NULL };
		int rc = run_tool(s, r, stop);
		if (rc)
			return rc;
	}
	char paths[STG_MAX_MEMBERS][200], uuid[64];
	snprintf(uuid, sizeof uuid, "--uuid=%s", p->uuid);
	const char *argv[8 + STG_MAX_MEMBERS] = { "mdadm", "--assemble", sr->md_dev, uuid };
	size_t n = 4;
	for (unsigned k = 0; k < p->nmembers; k++) {
		snprintf(paths[k], sizeof paths[k], "/dev/disk/by-id/%s", stg_disk_id(&sr->inv.disk[p->member[k]]));
		argv[n++] = paths[k];
	}
	argv[n] = NULL;
	return run_tool(s, r, argv);
}

static int make_filesystem(struct setup *s, struct step_run *r, struct storage_run *sr, char *uuid, size_t ulen)
{
	char type[32], label[64];
	if (stg_probe_fs(sr->md_dev, type, sizeof type, uuid, ulen, label, sizeof label) < 0)
		return step_fail(r, SETUP_FAILED, "cannot probe %s for a filesystem", sr->md_dev);
	if (!type[0]) {
		unsigned stride, width;
		stg_ext4_geometry(sr->want.chunk_kib, EXT4_BLOCK, sr->plan.nmembers, &stride, &width);
		char block[16], ext[64];
		snprintf(block, sizeof block, "%u", EXT4_BLOCK);
		snprintf(ext, sizeof ext, "stride=%u,stripe_width=%u", stride, width);
		const char *argv[] = { "mkfs.ext4", "-q", "-L", sr->label, "-b", block, "-E", ext, sr->md_dev, NULL };
		int rc = run_tool(s, r, argv);
		if (rc)
			return rc;
		settle(s, r);
		if (stg_probe_fs(sr->md_dev, type, sizeof type, uuid, ulen, label, sizeof label) < 0)
			return step_fail(r, SETUP_FAILED, "cannot probe %s after mkfs.ext4", sr->md_dev);
	}
	if (strcmp(type, "ext4") || !uuid[0])
		return step_fail(r, SETUP_REFUSED, "the array %s holds %s, not ext4 with a UUID: it is kept", sr->md_dev,
				 type[0] ? type : "nothing mkfs.ext4 left");
	return SETUP_OK;
}

static int write_files(struct setup *s, struct step_run *r, struct storage_run *sr, const char *uuid)
{
	char *content, line[1024];
	size_t len;
	unsigned changed;
	int rc = fstab_content(s, r, sr, uuid, &content, &len, &changed);
	if (rc)
		return rc;
	if (changed)
		rc = setup_file_write(s, r, FSTAB, content, len, 0644);
	free(content);
	if (rc)
		return rc;
	if (changed && s->live && access("/run/systemd/system", F_OK) == 0) {
		const char *argv[] = { "systemctl", "daemon-reload", NULL };	/* fstab's mount units */
		if ((rc = run_tool(s, r, argv)))
			return rc;
	}
	if ((rc = array_line(s, r, sr, line, sizeof line)) || (rc = mdadm_conf_content(s, r, line, &content, &len, &changed)))
		return rc;
	if (changed)
		rc = setup_file_write(s, r, MDADM_CONF, content, len, 0644);
	free(content);
	return rc;
}

static int update_initramfs(struct setup *s, struct step_run *r)
{
	char tool[PATH_MAX];
	if (!tool_in_root(s, "update-initramfs", tool, sizeof tool)) {
		step_note(r, "the root has no update-initramfs: no initramfs was updated (the array is assembled from "
			     "%s after the root is mounted)", MDADM_CONF);
		return SETUP_OK;
	}
	if (!initramfs_stale(s))
		return SETUP_OK;
	if (s->live) {
		const char *argv[] = { "update-initramfs", "-u", NULL };
		return run_tool(s, r, argv);
	}
	const char *argv[] = { "chroot", s->root, "update-initramfs", "-u", NULL };
	return run_tool(s, r, argv);
}

static int mount_array(struct setup *s, struct step_run *r, struct storage_run *sr)
{
	char dir[PATH_MAX];
	struct stat st;
	if (setup_path(s, sr->mount, dir, sizeof dir) < 0)
		return step_fail(r, SETUP_FAILED, "the mount point's path is too long under the root");
	if (stat(dir, &st) < 0) {
		const char *argv[] = { "mkdir", "-p", "-m", "0755", dir, NULL };
		int rc = run_tool(s, r, argv);
		if (rc)
			return rc;
	}
	if (mounted_here(s, sr))
		return SETUP_OK;
	const char *argv[] = { "mount", "-t", "ext4", sr->md_dev, dir, NULL };
	return run_tool(s, r, argv);
}

static int storage_apply(struct setup *s, struct step_run *r)
{
	struct storage_run *sr = r->priv;
	int rc = SETUP_OK;
	if (sr->plan.verb == STG_CREATE)
		rc = apply_create(s, r, sr);
	else if (sr->plan.verb == STG_ASSEMBLE)
		rc = apply_assemble(s, r, sr);
	if (rc)
		return rc;
	settle(s, r);
	char uuid[STG_UUID_LEN];
	if ((rc = make_filesystem(s, r, sr, uuid, sizeof uuid)) || (rc = write_files(s, r, sr, uuid)) ||
	    (rc = update_initramfs(s, r)))
		return rc;
	return mount_array(s, r, sr);
}

/* ---- verify ------------------------------------------------------------------------------------- */

/* MB/s of O_DIRECT reads over the first probe_mib MiB of the array. */
static int read_probe(const struct storage_run *sr, double *mbps, char *err, size_t len)
{
	int fd = open(sr->md_dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return snprintf(err, len, "cannot open %s with O_DIRECT: %s", sr->md_dev, strerror(errno)), -1;
	uint64_t size = 0;
	void *buf = NULL;
	if (ioctl(fd, BLKGETSIZE64, &size) < 0 || posix_memalign(&buf, 4096, PROBE_BLOCK) != 0) {
		close(fd);
		return snprintf(err, len, "cannot size %s or allocate the probe's buffer", sr->md_dev), -1;
	}
	uint64_t want = sr->probe_mib * MIB < size ? sr->probe_mib * MIB : size / PROBE_BLOCK * PROBE_BLOCK, done = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < want) {
		ssize_t n = pread(fd, buf, PROBE_BLOCK, (off_t)done);
		if (n != (ssize_t)PROBE_BLOCK) {
			snprintf(err, len, "an O_DIRECT read of %s at %llu failed: %s", sr->md_dev, (unsigned long long)done,
				 n < 0 ? strerror(errno) : "short read");
			free(buf);
			close(fd);
			return -1;
		}
		done += PROBE_BLOCK;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(buf);
	close(fd);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	*mbps = secs > 0 ? (double)done / 1e6 / secs : 0;
	return done ? 0 : (snprintf(err, len, "%s is smaller than one probe read", sr->md_dev), -1);
}

/* The filesystem's /dev/disk/by-uuid link (what the boot mounts by) is the array. */
static bool found_by_uuid(const struct storage_run *sr, const char *uuid)
{
	char link[128];
	struct stat st;
	dev_t md = 0;
	snprintf(link, sizeof link, "/dev/disk/by-uuid/%s", uuid);
	return stat(link, &st) == 0 && S_ISBLK(st.st_mode) && array_devno(sr->md_dev, &md) == 0 && st.st_rdev == md;
}

static unsigned verify_files(struct setup *s, struct step_run *r, const struct storage_run *sr, const char *uuid)
{
	unsigned bad = 0;
	char *have = NULL, options[96];
	size_t hlen = 0;
	struct stg_fstab_want w;
	fstab_want(sr, uuid, options, sizeof options, &w);
	if (setup_file_read(s, FSTAB, FILE_MAX, &have, &hlen) < 0 || !stg_fstab_has(have, hlen, &w))
		bad++, step_note(r, "%s has no single line for %s by UUID=%s", FSTAB, sr->mount, uuid);
	free(have);
	have = NULL;
	if (setup_file_read(s, MDADM_CONF, FILE_MAX, &have, &hlen) < 0 || !stg_mdadm_conf_has(have, hlen, sr->plan.uuid))
		bad++, step_note(r, "%s has no ARRAY line for UUID %s", MDADM_CONF, sr->plan.uuid);
	free(have);
	return bad;
}

static int storage_verify(struct setup *s, struct step_run *r)
{
	struct storage_run *sr = r->priv;
	/* what apply changed is read afresh */
	if (plan_storage(s, r, sr, false))
		return SETUP_FAILED;
	if (sr->plan.verb != STG_ADOPT)
		return step_fail(r, SETUP_FAILED, "no running array matches the config (RAID0 of %u drives, chunk %u KiB)",
				 sr->want.count, sr->want.chunk_kib);
	unsigned bad = 0;
	for (unsigned k = 0; k < sr->plan.nmembers; k++)
		if (sr->inv.disk[sr->plan.member[k]].boot)
			bad++, step_note(r, "the array has the boot drive %s", sr->inv.disk[sr->plan.member[k]].name);
	char type[32], uuid[STG_UUID_LEN], label[64];
	if (stg_probe_fs(sr->md_dev, type, sizeof type, uuid, sizeof uuid, label, sizeof label) < 0 || strcmp(type, "ext4"))
		return step_fail(r, SETUP_FAILED, "%s holds no ext4 filesystem", sr->md_dev);
	if (!found_by_uuid(sr, uuid))
		bad++, step_note(r, "/dev/disk/by-uuid/%s is not %s: the boot would not find the filesystem (udevadm "
				    "trigger --action=change %s)", uuid, sr->md_dev, sr->md_dev);
	bad += verify_files(s, r, sr, uuid);
	if (!mounted_here(s, sr))
		bad++, step_note(r, "%s is not mounted at %s", sr->md_dev, sr->mount);
	char tool[PATH_MAX];
	if (tool_in_root(s, "update-initramfs", tool, sizeof tool) && initramfs_stale(s))
		bad++, step_note(r, "the initramfs is older than %s (update-initramfs -u)", MDADM_CONF);
	double mbps = 0;
	char err[256];
	if (read_probe(sr, &mbps, err, sizeof err) < 0)
		bad++, step_note(r, "%s", err);
	else if (mbps < (double)sr->floor_mbps)
		bad++, step_note(r, "O_DIRECT reads of %s: %.0f MB/s, below probe_floor_mbps %llu (tb raid status: a slow "
				    "or degraded drive?)", sr->md_dev, mbps, sr->floor_mbps);
	if (bad)
		return step_fail(r, SETUP_FAILED, "%u problem%s with the array (see the notes)", bad, bad == 1 ? "" : "s");
	return SETUP_OK;
}

static void storage_release(struct step_run *r)
{
	free(r->priv);
	r->priv = NULL;
}

const struct setup_step step_storage = {
	.name = SECTION,
	.summary = "RAID0 over the data drives, ext4 at /raid",
	.keys = storage_keys,
	.check = storage_check,
	.apply = storage_apply,
	.verify = storage_verify,
	.release = storage_release,
};
