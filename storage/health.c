/* Health: each NVMe drive's SMART log through libnvme, and md arrays'
 * state from sysfs, for `tb raid status` and the fan controller's NVMe
 * zone (drive temperatures). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <nvme/ioctl.h>
#include <nvme/tree.h>

#include "storage/internal.h"

static void copy_trim(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
	for (size_t n = strlen(dst); n && (dst[n - 1] == ' ' || dst[n - 1] == '\n'); n--)
		dst[n - 1] = '\0';
}

static void read_smart(nvme_ctrl_t c, struct tbs_drive *d)
{
	struct nvme_smart_log log;
	int fd = nvme_ctrl_get_fd(c);
	if (fd < 0) {
		d->smart_status = -errno;
		return;
	}
	int rc = nvme_get_log_smart(fd, NVME_NSID_ALL, false, &log);
	if (rc != 0) {
		d->smart_status = rc < 0 ? -errno : rc;
		return;
	}
	d->temp_c = (int)((unsigned)log.temperature[0] | (unsigned)log.temperature[1] << 8) - 273;
	d->critical_warning = log.critical_warning;
	d->avail_spare = log.avail_spare;
	d->percent_used = log.percent_used;
	d->media_errors = 0;
	for (int i = 7; i >= 0; i--)
		d->media_errors = d->media_errors << 8 | log.media_errors[i];
}

int tbs_drives(struct tbs_drive *out, unsigned max, unsigned *count, struct tbs_error *err)
{
	*count = 0;
	/* libnvme logs to the file given; quiet unless something is wrong. */
	nvme_root_t r = nvme_create_root(stderr, LOG_ERR);
	if (!r)
		return tbs_fail(err, -ENOMEM, "libnvme: cannot create its device tree");
	if (nvme_scan_topology(r, NULL, NULL) < 0 && errno != ENOENT) {
		int e = errno;
		nvme_free_tree(r);
		return tbs_fail(err, -e, "libnvme: cannot scan NVMe devices: %s", strerror(e));
	}
	nvme_host_t h;
	nvme_subsystem_t s;
	nvme_ctrl_t c;
	nvme_for_each_host(r, h)
		nvme_for_each_subsystem(h, s)
			nvme_subsystem_for_each_ctrl(s, c) {
				if (*count < max) {
					struct tbs_drive *d = &out[*count];
					memset(d, 0, sizeof *d);
					copy_trim(d->name, sizeof d->name, nvme_ctrl_get_name(c));
					copy_trim(d->model, sizeof d->model, nvme_ctrl_get_model(c));
					copy_trim(d->serial, sizeof d->serial, nvme_ctrl_get_serial(c));
					read_smart(c, d);
				}
				(*count)++;
			}
	nvme_free_tree(r);
	return 0;
}

/* ---- md arrays ---------------------------------------------------------------- */

static int read_attr(const char *dir, const char *name, char *out, size_t len)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	/* like every storage reader: a regular file (sysfs attributes are), one
	 * line of at most `len` bytes */
	int fd;
	uint64_t size;
	int rc = tbs_open_input(NULL, path, 0, &fd, &size, NULL);
	FILE *f = rc < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		if (rc == 0)
			close(fd);
		snprintf(out, len, "?");
		return rc < 0 ? rc : -ENOMEM;
	}
	if (!fgets(out, (int)len, f))
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static void read_members(const char *md, struct tbs_md_array *a)
{
	DIR *d = opendir(md);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "dev-", 4) && a->members < TBS_MD_MAX_MEMBERS) {
			char dir[600];
			snprintf(dir, sizeof dir, "%s/%s", md, e->d_name);
			snprintf(a->member[a->members], sizeof a->member[0], "%s", e->d_name + 4);
			read_attr(dir, "state", a->member_state[a->members], sizeof a->member_state[0]);
			a->members++;
		}
	if (d)
		closedir(d);
}

int tbs_md_arrays(struct tbs_md_array *out, unsigned max, unsigned *count, struct tbs_error *err)
{
	*count = 0;
	DIR *d = opendir("/sys/block");
	if (!d)
		return tbs_fail(err, -errno, "/sys/block: %s", strerror(errno));
	struct dirent *e;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "md", 2)) {
			char md[300], buf[32];
			snprintf(md, sizeof md, "/sys/block/%.200s/md", e->d_name);
			if (read_attr(md, "level", buf, sizeof buf) < 0)
				continue;
			/* a "clear" md device has neither disks nor geometry: no
			 * array (md keeps one after a stop while it is open, and
			 * /proc/mdstat leaves it out too) */
			char state[32];
			if (read_attr(md, "array_state", state, sizeof state) == 0 && !strcmp(state, "clear"))
				continue;
			if (*count < max) {
				struct tbs_md_array *a = &out[*count];
				memset(a, 0, sizeof *a);
				snprintf(a->name, sizeof a->name, "%.31s", e->d_name);
				snprintf(a->level, sizeof a->level, "%s", buf);
				read_attr(md, "array_state", a->state, sizeof a->state);
				read_attr(md, "raid_disks", buf, sizeof buf);
				a->raid_disks = (unsigned)strtoul(buf, NULL, 10);
				read_attr(md, "chunk_size", buf, sizeof buf);
				a->chunk_bytes = strtoull(buf, NULL, 10);
				read_members(md, a);
			}
			(*count)++;
		}
	closedir(d);
	return 0;
}
