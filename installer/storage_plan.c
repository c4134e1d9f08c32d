/* The storage planner: which drives the array is made of, from the
 * inventory and the config alone (no IO, so every case is testable).
 *
 * Disk safety in the manner of curtin: drives are named by serial or WWN,
 * never by kernel name (those change from boot to boot); an existing array
 * that matches the config is kept; a destructive action (wipefs, mdadm
 * --create) only ever names a drive that is not the boot drive, not mounted
 * or held, and either carries no signature at all or is listed by serial in
 * wipe = ; anything unclear is refused, and a refusal changes nothing. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "installer/setup.h"
#include "installer/storage.h"

#define LINUX_RAID_MEMBER "linux_raid_member"

static int refuse(struct stg_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct stg_plan *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof p->why, fmt, ap);
	va_end(ap);
	return SETUP_REFUSED;
}

bool stg_disk_matches(const struct stg_disk *d, const char *entry)
{
	if (!entry[0])
		return false;
	if ((d->serial[0] && !strcmp(d->serial, entry)) || (d->wwid[0] && !strcmp(d->wwid, entry)))
		return true;
	for (unsigned i = 0; i < d->nby_id; i++)
		if (!strcmp(d->by_id[i], entry))
			return true;
	return false;
}

const char *stg_disk_id(const struct stg_disk *d)
{
	for (unsigned i = 0; d->serial[0] && i < d->nby_id; i++) {
		size_t n = strlen(d->by_id[i]), k = strlen(d->serial);
		/* udev's ID_SERIAL link: BUS-MODEL_SERIAL */
		if (n > k && !strcmp(d->by_id[i] + n - k, d->serial) && d->by_id[i][n - k - 1] == '_')
			return d->by_id[i];
	}
	return d->nby_id ? d->by_id[0] : "";
}

int stg_parse_list(const char *value, char list[][STG_SERIAL_LEN], unsigned max, unsigned *n)
{
	*n = 0;
	if (!value)
		return 0;
	const char *p = value;
	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		size_t k = strcspn(p, ", \t");
		if (k >= STG_SERIAL_LEN || *n >= max)
			return -EINVAL;
		memcpy(list[*n], p, k);
		list[*n][k] = '\0';
		for (size_t i = 0; i < k; i++)
			if (!isgraph((unsigned char)p[i]))
				return -EINVAL;
		(*n)++;
		p += k;
	}
	if (*n == 1 && !strcmp(list[0], "auto")) {
		*n = 0;
		return -ENOENT;
	}
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp(list[i], "auto"))
			return -EINVAL;	/* "auto" mixed with serials */
	return 0;
}

void stg_ext4_geometry(unsigned chunk_kib, unsigned block_bytes, unsigned members, unsigned *stride,
		       unsigned *stripe_width)
{
	/* stride: blocks per chunk (one drive's share of a stripe); stripe
	 * width: blocks per full stripe across the data drives (RAID0: all) */
	*stride = block_bytes ? (unsigned)((uint64_t)chunk_kib * 1024 / block_bytes) : 0;
	*stripe_width = *stride * members;
}

static bool listed(const struct stg_disk *d, const char (*list)[STG_SERIAL_LEN], unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (stg_disk_matches(d, list[i]))
			return true;
	return false;
}

static bool has_signature(const struct stg_disk *d)
{
	return d->fstype[0] || d->pttype[0] || d->md_member;
}

static const char *describe(const struct stg_disk *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s (serial %s)", d->name, d->serial[0] ? d->serial : "unknown");
	return buf;
}

/* Whether disk i may be one of the array's drives at all. */
static bool candidate(const struct stg_inventory *inv, const struct stg_want *w, unsigned i)
{
	const struct stg_disk *d = &inv->disk[i];
	if (!w->drives_auto)
		return listed(d, w->drives, w->ndrives);
	/* auto: the box's internal NVMe drives, the boot drive and anything
	 * mounted aside (a USB stick, the install medium, the boot drive) */
	return d->bus == STG_BUS_NVME && !d->removable && !d->boot && !d->mounted;
}

static bool array_matches_config(int level, int raid_disks, unsigned chunk_kib, const struct stg_want *w)
{
	return level == 0 && raid_disks == (int)w->count && chunk_kib == w->chunk_kib;
}

/* The members of the array with this UUID among the candidates, in role
 * order: true when they are exactly count healthy drives with every role. */
static bool complete_members(const struct stg_inventory *inv, const struct stg_want *w, const char *uuid,
			     int member[STG_MAX_MEMBERS], unsigned *n)
{
	*n = 0;
	int by_role[STG_MAX_MEMBERS];
	for (unsigned r = 0; r < STG_MAX_MEMBERS; r++)
		by_role[r] = -1;
	unsigned found = 0;
	for (unsigned i = 0; i < inv->ndisks; i++) {
		const struct stg_disk *d = &inv->disk[i];
		if (!d->md_member || !stg_uuid_equal(d->md_uuid, uuid))
			continue;
		if (!candidate(inv, w, i) || d->boot || !d->healthy || d->md_role < 0 || d->md_role >= (int)w->count ||
		    by_role[d->md_role] >= 0 || !array_matches_config(d->md_level, d->md_raid_disks, d->md_chunk_kib, w) ||
		    d->md_minor_version != 2)
			return false;
		by_role[d->md_role] = (int)i;
		found++;
	}
	if (found != w->count)
		return false;
	for (unsigned r = 0; r < w->count; r++)
		member[(*n)++] = by_role[r];
	return true;
}

/* An array (running or on the drives) the config describes: its plan. 1
 * found, 0 none, SETUP_REFUSED when more than one would do. */
static int find_existing(const struct stg_inventory *inv, const struct stg_want *w, struct stg_plan *p)
{
	char seen[STG_MAX_DISKS][STG_UUID_LEN];
	unsigned nseen = 0, found = 0;
	for (unsigned i = 0; i < inv->ndisks; i++) {
		const struct stg_disk *d = &inv->disk[i];
		bool dup = false;
		for (unsigned k = 0; k < nseen && !dup; k++)
			dup = stg_uuid_equal(seen[k], d->md_uuid);
		if (!d->md_member || dup || !d->md_uuid[0])
			continue;
		snprintf(seen[nseen++], STG_UUID_LEN, "%s", d->md_uuid);
		int member[STG_MAX_MEMBERS];
		unsigned n;
		if (!complete_members(inv, w, d->md_uuid, member, &n))
			continue;
		if (++found > 1)
			return refuse(p, "two arrays on the drives match the config (%s and %s): list the serials of "
					 "one in [storage] drives", p->uuid, d->md_uuid);
		memcpy(p->member, member, sizeof member);
		p->nmembers = n;
		snprintf(p->uuid, sizeof p->uuid, "%s", d->md_uuid);
	}
	return found ? 1 : 0;
}

/* The running or inactive md device that holds the members, if any. */
static int adopt_or_assemble(const struct stg_inventory *inv, struct stg_plan *p)
{
	p->array = -1;
	for (unsigned a = 0; a < inv->narrays; a++) {
		const struct stg_array *arr = &inv->array[a];
		bool holds = false;
		for (unsigned m = 0; m < arr->nmembers && !holds; m++)
			for (unsigned k = 0; k < p->nmembers; k++)
				holds |= arr->member[m] == p->member[k];
		if (!holds)
			continue;
		bool running = strcmp(arr->state, "inactive") && strcmp(arr->state, "clear") && arr->level >= 0;
		if (running && arr->nmembers == p->nmembers && strcmp(arr->state, "broken")) {
			p->verb = STG_ADOPT;
			p->array = (int)a;
			return 0;
		}
		if (running)
			return refuse(p, "%s holds the array's drives but is %s: see mdadm --detail /dev/%s", arr->name,
				      arr->state, arr->name);
		p->array = (int)a;	/* inactive (a partial assembly at boot): stopped, then assembled */
	}
	p->verb = STG_ASSEMBLE;
	return 0;
}

/* Whether d's only signature is the md superblock of an array this step
 * began and did not finish: named as the config names the array (mdadm's
 * "homehost:name"), with fewer members on the drives than its raid_disks,
 * all of them among the chosen ones.  A RAID0 missing a member holds
 * nothing readable; what it is is our own mdadm --create cut short. */
static bool own_unfinished_array(const struct stg_inventory *inv, const struct stg_want *w, const int *chosen,
				 unsigned n, const struct stg_disk *d)
{
	if (!d->md_member || (d->fstype[0] && strcmp(d->fstype, "linux_raid_member")) || d->pttype[0] || !w->name[0])
		return false;
	const char *colon = strchr(d->md_name, ':');
	if (strcmp(colon ? colon + 1 : d->md_name, w->name))
		return false;
	unsigned members = 0;
	for (unsigned i = 0; i < inv->ndisks; i++) {
		if (!inv->disk[i].md_member || !stg_uuid_equal(inv->disk[i].md_uuid, d->md_uuid))
			continue;
		bool among = false;
		for (unsigned k = 0; k < n && !among; k++)
			among = chosen[k] == (int)i;
		if (!among)
			return false;
		members++;
	}
	return d->md_raid_disks > 0 && members < (unsigned)d->md_raid_disks;
}

/* A new array: count drives, each free and blank or listed in wipe. */
static int plan_create(const struct stg_inventory *inv, const struct stg_want *w, struct stg_plan *p)
{
	char who[160];
	int chosen[STG_MAX_DISKS];
	unsigned n = 0, healthy = 0;
	if (!w->drives_auto) {
		for (unsigned e = 0; e < w->ndrives; e++) {
			unsigned hits = 0;
			for (unsigned i = 0; i < inv->ndisks; i++)
				hits += stg_disk_matches(&inv->disk[i], w->drives[e]);
			if (hits == 0)
				return refuse(p, "[storage] drives lists %s, but no drive has that serial or WWN "
						 "(ls -l /dev/disk/by-id)", w->drives[e]);
			if (hits > 1)
				return refuse(p, "[storage] drives: %s names %u drives", w->drives[e], hits);
		}
	}
	for (unsigned i = 0; i < inv->ndisks; i++) {
		const struct stg_disk *d = &inv->disk[i];
		if (!candidate(inv, w, i))
			continue;
		if (d->boot)
			return refuse(p, "%s holds the root filesystem: it is never part of the array; take it out of "
					 "[storage] drives", describe(d, who, sizeof who));
		chosen[n++] = (int)i;
		healthy += d->healthy;
	}
	if (w->drives_auto && n > w->count)
		return refuse(p, "%u NVMe drives besides the boot drive could be the array's %u: list the serials "
				 "of %u in [storage] drives (ls -l /dev/disk/by-id)", n, w->count, w->count);
	if (!w->drives_auto && n != w->count)
		return refuse(p, "[storage] drives lists %u drives but count is %u", n, w->count);
	if (healthy < w->count)
		return refuse(p, "%u healthy drives for an array of %u: see tb raid status", healthy, w->count);
	/* the order of the members (their roles) by serial, not by kernel name */
	for (unsigned a = 1; a < n; a++)
		for (unsigned b = a; b > 0 && strcmp(inv->disk[chosen[b - 1]].serial, inv->disk[chosen[b]].serial) > 0;
		     b--) {
			int t = chosen[b];
			chosen[b] = chosen[b - 1];
			chosen[b - 1] = t;
		}
	p->verb = STG_CREATE;
	p->array = -1;
	for (unsigned k = 0; k < n; k++) {
		const struct stg_disk *d = &inv->disk[chosen[k]];
		if (d->holder[0])
			return refuse(p, "%s is held by %s: stop that first (mdadm --stop, dmsetup remove)",
				      describe(d, who, sizeof who), d->holder);
		if (d->mounted)
			return refuse(p, "%s is mounted: unmount it first", describe(d, who, sizeof who));
		if (d->readonly)
			return refuse(p, "%s is read-only", describe(d, who, sizeof who));
		if (!stg_disk_id(d)[0])
			return refuse(p, "%s has no /dev/disk/by-id name: it cannot be chosen by serial",
				      describe(d, who, sizeof who));
		if (has_signature(d)) {
			if ((!d->serial[0] || !listed(d, w->wipe, w->nwipe)) && !own_unfinished_array(inv, w, chosen, n, d))
				return refuse(p, "%s carries %s%s%s: it is not wiped unless its serial is listed in "
						 "[storage] wipe", describe(d, who, sizeof who),
					      d->fstype[0] ? d->fstype : "", d->fstype[0] && d->pttype[0] ? " and " : "",
					      d->pttype[0] ? "a partition table" : d->fstype[0] ? "" : "an md superblock");
			p->wipe[p->nwipe++] = chosen[k];
		}
		p->member[p->nmembers++] = chosen[k];
	}
	return 0;
}

int stg_plan(const struct stg_inventory *inv, const struct stg_want *w, struct stg_plan *p)
{
	memset(p, 0, sizeof *p);
	p->array = -1;
	if (w->count == 0 || w->count > STG_MAX_MEMBERS)
		return refuse(p, "count %u: an array of 1 to %d drives", w->count, STG_MAX_MEMBERS);
	int rc = find_existing(inv, w, p);
	if (rc == SETUP_REFUSED)
		return rc;
	if (rc == 1)
		return adopt_or_assemble(inv, p);
	p->nmembers = 0;
	p->uuid[0] = '\0';
	return plan_create(inv, w, p);
}
