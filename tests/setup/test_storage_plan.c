/* The storage planner over inventories: fixed cases (a fresh box, a
 * foreign filesystem with and without wipe, an extra USB disk, an extra
 * NVMe drive, an array to adopt or assemble, the boot drive listed), then
 * thousands of generated ones (shuffled drive orders, extra USB and NVMe
 * disks, existing arrays of either geometry, foreign filesystems and
 * partition tables, held, mounted and dead drives, the boot drive anywhere,
 * random drives = and wipe = lists): no destructive action ever names a
 * drive outside the allow-list, the boot drive, or a mounted or held one. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "installer/setup.h"
#include "installer/storage.h"
#include "tests/tap.h"

#define RUNS 20000
#define ARRAY_UUID "da03abc7:db235a9d:8e0efe63:ea2c879e"
#define OTHER_UUID "11111111:22222222:33333333:44444444"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned pick(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static struct stg_disk *add_disk(struct stg_inventory *inv, const char *serial, enum stg_bus bus)
{
	struct stg_disk *d = &inv->disk[inv->ndisks];
	memset(d, 0, sizeof *d);
	snprintf(d->name, sizeof d->name, bus == STG_BUS_USB ? "sd%c" : "nvme%un1",
		 bus == STG_BUS_USB ? 'a' + inv->ndisks : inv->ndisks);
	d->major = 259;
	d->minor = inv->ndisks;
	d->bytes = 2000398934016ull;
	snprintf(d->serial, sizeof d->serial, "%s", serial);
	snprintf(d->by_id[0], sizeof d->by_id[0], "%s-Model_%s", bus == STG_BUS_USB ? "usb" : "nvme", serial);
	snprintf(d->by_id[1], sizeof d->by_id[1], "nvme-eui.00253800%08u", inv->ndisks);
	d->nby_id = 2;
	d->bus = bus;
	d->removable = bus == STG_BUS_USB;
	d->healthy = true;
	d->md_level = d->md_role = -1;
	inv->ndisks++;
	return d;
}

static void make_member(struct stg_disk *d, const char *uuid, int role, int raid_disks, unsigned chunk)
{
	snprintf(d->fstype, sizeof d->fstype, "linux_raid_member");
	snprintf(d->fsuuid, sizeof d->fsuuid, "%s", uuid);
	snprintf(d->md_uuid, sizeof d->md_uuid, "%s", uuid);
	d->md_member = true;
	d->md_level = 0;
	d->md_raid_disks = raid_disks;
	d->md_role = role;
	d->md_chunk_kib = chunk;
	d->md_minor_version = 2;
}

/* The appliance: four data drives and the boot drive (mounted: the root). */
static void box(struct stg_inventory *inv)
{
	memset(inv, 0, sizeof *inv);
	static const char *const serials[] = { "S6B0NL0T000101", "S6B0NL0T000102", "S6B0NL0T000103", "S6B0NL0T000104" };
	for (int i = 0; i < 4; i++)
		add_disk(inv, serials[i], STG_BUS_NVME);
	struct stg_disk *b = add_disk(inv, "S6B0NL0T000105", STG_BUS_NVME);
	b->boot = b->mounted = true;
	snprintf(b->fstype, sizeof b->fstype, "ext4");
	snprintf(inv->free_md, sizeof inv->free_md, "md0");
}

static void want_auto(struct stg_want *w)
{
	memset(w, 0, sizeof *w);
	w->drives_auto = true;
	w->count = 4;
	w->chunk_kib = 512;
}

static void add_running_array(struct stg_inventory *inv, const char *uuid, const int *members, unsigned n)
{
	struct stg_array *a = &inv->array[inv->narrays++];
	memset(a, 0, sizeof *a);
	snprintf(a->name, sizeof a->name, "md%u", inv->narrays - 1);
	snprintf(a->state, sizeof a->state, "clean");
	a->level = 0;
	a->raid_disks = 4;
	a->chunk_kib = 512;
	snprintf(a->uuid, sizeof a->uuid, "%s", uuid);
	for (unsigned k = 0; k < n; k++) {
		a->member[a->nmembers++] = members[k];
		memcpy(inv->disk[members[k]].holder, a->name, sizeof a->name);
	}
}

static bool in_list(const struct stg_disk *d, const char (*list)[STG_SERIAL_LEN], unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (stg_disk_matches(d, list[i]))
			return true;
	return false;
}

/* The safety invariant over one plan: NULL when it holds, else what broke. */
static const char *unsafe(const struct stg_inventory *inv, const struct stg_want *w, const struct stg_plan *p)
{
	if (p->verb != STG_CREATE) {
		if (p->nwipe)
			return "a kept array's drives are wiped";
		for (unsigned k = 0; k < p->nmembers; k++) {
			const struct stg_disk *d = &inv->disk[p->member[k]];
			if (d->boot || !d->md_member || !stg_uuid_equal(d->md_uuid, p->uuid) || d->md_role != (int)k)
				return "a kept array's member is not its drive in its role, or is the boot drive";
		}
		return p->nmembers == w->count ? NULL : "a kept array of another size";
	}
	if (p->nmembers != w->count)
		return "an array of another size than count";
	for (unsigned k = 0; k < p->nmembers; k++) {
		const struct stg_disk *d = &inv->disk[p->member[k]];
		bool blank = !d->fstype[0] && !d->pttype[0] && !d->md_member;
		/* or only the superblock of our own array cut short: named as the
		 * config names it, fewer members than it was made for */
		unsigned with_uuid = 0;
		for (unsigned i = 0; i < inv->ndisks; i++)
			with_uuid += inv->disk[i].md_member && !strcmp(inv->disk[i].md_uuid, d->md_uuid);
		const char *colon = strchr(d->md_name, ':');
		blank |= w->name[0] && d->md_member && !d->pttype[0] && with_uuid < (unsigned)d->md_raid_disks &&
			 !strcmp(colon ? colon + 1 : d->md_name, w->name);
		bool wiped = false;
		for (unsigned j = 0; j < p->nwipe; j++)
			wiped |= p->wipe[j] == p->member[k];
		if (d->boot)
			return "the boot drive is destroyed";
		if (d->mounted || d->holder[0])
			return "a mounted or held drive is destroyed";
		if (!d->healthy)
			return "a dead drive is a new member";
		if (!blank && !(wiped && in_list(d, w->wipe, w->nwipe)))
			return "a drive with a signature is destroyed without being listed in wipe";
		if (w->drives_auto && (d->bus != STG_BUS_NVME || d->removable))
			return "auto chose a drive that is not an internal NVMe drive";
		if (!w->drives_auto && !in_list(d, w->drives, w->ndrives))
			return "a drive outside drives = is destroyed";
		for (unsigned j = 0; j < k; j++)
			if (p->member[j] == p->member[k])
				return "a drive is named twice";
	}
	for (unsigned j = 0; j < p->nwipe; j++) {
		bool member = false;
		for (unsigned k = 0; k < p->nmembers; k++)
			member |= p->wipe[j] == p->member[k];
		if (!member)
			return "a drive that is no member is wiped";
	}
	return NULL;
}

static void test_fixed(void)
{
	struct stg_inventory inv;
	struct stg_want w;
	struct stg_plan p;

	box(&inv);
	want_auto(&w);
	int rc = stg_plan(&inv, &w, &p);
	check(rc == 0 && p.verb == STG_CREATE && p.nmembers == 4 && p.nwipe == 0, "a fresh box: a new array of the four");
	check(rc == 0 && !strcmp(inv.disk[p.member[0]].serial, "S6B0NL0T000101") &&
	      !strcmp(inv.disk[p.member[3]].serial, "S6B0NL0T000104"), "the members in the order of their serials");
	check(!unsafe(&inv, &w, &p), "a fresh box's plan is safe");

	/* the same drives under other kernel names */
	struct stg_inventory sh = inv;
	sh.disk[0] = inv.disk[4], sh.disk[1] = inv.disk[2], sh.disk[2] = inv.disk[0], sh.disk[3] = inv.disk[3],
	sh.disk[4] = inv.disk[1];
	rc = stg_plan(&sh, &w, &p);
	check(rc == 0 && !strcmp(sh.disk[p.member[0]].serial, "S6B0NL0T000101") &&
	      !strcmp(sh.disk[p.member[1]].serial, "S6B0NL0T000102") && !unsafe(&sh, &w, &p),
	      "shuffled kernel names: the same members in the same roles");

	snprintf(inv.disk[2].fstype, sizeof inv.disk[2].fstype, "ext4");
	rc = stg_plan(&inv, &w, &p);
	check(rc == SETUP_REFUSED && strstr(p.why, "S6B0NL0T000103") && strstr(p.why, "wipe"),
	      "a foreign ext4 on a data drive is refused, naming its serial: %s", p.why);
	snprintf(w.wipe[w.nwipe++], STG_SERIAL_LEN, "S6B0NL0T000103");
	rc = stg_plan(&inv, &w, &p);
	check(rc == 0 && p.verb == STG_CREATE && p.nwipe == 1 && p.wipe[0] == 2, "listed in wipe: it is wiped first");
	snprintf(inv.disk[2].holder, sizeof inv.disk[2].holder, "dm-0");
	check(stg_plan(&inv, &w, &p) == SETUP_REFUSED, "listed in wipe but held by dm-0: refused");

	/* our own mdadm --create cut short: two of four superblocks written */
	box(&inv);
	want_auto(&w);
	snprintf(w.name, sizeof w.name, "raid");
	for (int i = 0; i < 2; i++) {
		make_member(&inv.disk[i], "11111111:22222222:33333333:44444444", i, 4, 512);
		snprintf(inv.disk[i].md_name, sizeof inv.disk[i].md_name, "appliance:raid");
	}
	rc = stg_plan(&inv, &w, &p);
	check(rc == 0 && p.verb == STG_CREATE && p.nwipe == 2 && !unsafe(&inv, &w, &p),
	      "our own array cut short (2 of 4 superblocks, named raid): wiped and made again");
	snprintf(inv.disk[1].md_name, sizeof inv.disk[1].md_name, "nas:backup");
	check(stg_plan(&inv, &w, &p) == SETUP_REFUSED, "an unfinished array of another name is refused");
	snprintf(inv.disk[1].md_name, sizeof inv.disk[1].md_name, "appliance:raid");
	make_member(&inv.disk[4], "11111111:22222222:33333333:44444444", 2, 4, 512);
	snprintf(inv.disk[4].md_name, sizeof inv.disk[4].md_name, "appliance:raid");
	check(stg_plan(&inv, &w, &p) == SETUP_REFUSED, "one with a member outside the chosen drives is refused");

	box(&inv);
	want_auto(&w);
	add_disk(&inv, "USB0001", STG_BUS_USB);
	rc = stg_plan(&inv, &w, &p);
	check(rc == 0 && p.nmembers == 4 && !unsafe(&inv, &w, &p), "an extra USB disk is no candidate");
	add_disk(&inv, "S6B0NL0T000199", STG_BUS_NVME);
	rc = stg_plan(&inv, &w, &p);
	check(rc == SETUP_REFUSED && strstr(p.why, "drives"), "an extra NVMe drive makes auto ambiguous: %s", p.why);
	w.drives_auto = false;
	static const char *const four[] = { "S6B0NL0T000104", "nvme-eui.0025380000000002", "S6B0NL0T000101",
					    "S6B0NL0T000199" };
	for (int i = 0; i < 4; i++)
		snprintf(w.drives[w.ndrives++], STG_SERIAL_LEN, "%s", four[i]);
	rc = stg_plan(&inv, &w, &p);
	check(rc == 0 && p.nmembers == 4 && !unsafe(&inv, &w, &p) && !in_list(&inv.disk[1], w.drives, w.ndrives),
	      "listed by serial and by WWN: exactly those");
	snprintf(w.drives[3], STG_SERIAL_LEN, "S6B0NL0T000105");
	rc = stg_plan(&inv, &w, &p);
	check(rc == SETUP_REFUSED && strstr(p.why, "root"), "the boot drive listed: refused: %s", p.why);
	snprintf(w.drives[3], STG_SERIAL_LEN, "S6B0NL0T000777");
	rc = stg_plan(&inv, &w, &p);
	check(rc == SETUP_REFUSED && strstr(p.why, "S6B0NL0T000777"), "a listed serial no drive has: refused");

	box(&inv);
	want_auto(&w);
	for (int i = 0; i < 4; i++)
		make_member(&inv.disk[i], ARRAY_UUID, 3 - i, 4, 512);
	rc = stg_plan(&inv, &w, &p);
	check(rc == 0 && p.verb == STG_ASSEMBLE && p.member[0] == 3 && p.nwipe == 0 && !unsafe(&inv, &w, &p),
	      "an array on the drives matching the config: assembled in its roles, nothing written");
	int members[] = { 0, 1, 2, 3 };
	add_running_array(&inv, ARRAY_UUID, members, 4);
	rc = stg_plan(&inv, &w, &p);
	check(rc == 0 && p.verb == STG_ADOPT && p.array == 0 && !unsafe(&inv, &w, &p), "the same array running: adopted");
	struct stg_inventory extra = inv;
	add_disk(&extra, "S6B0NL0T000199", STG_BUS_NVME);
	rc = stg_plan(&extra, &w, &p);
	check(rc == 0 && p.verb == STG_ADOPT, "adopted though an extra NVMe drive is there");
	w.chunk_kib = 256;
	inv.narrays = 0;
	for (int i = 0; i < 4; i++)
		inv.disk[i].holder[0] = '\0';
	rc = stg_plan(&inv, &w, &p);
	check(rc == SETUP_REFUSED && strstr(p.why, "linux_raid_member"), "an array of another chunk is not rebuilt unasked: %s",
	      p.why);

	box(&inv);
	want_auto(&w);
	inv.disk[1].healthy = false;
	rc = stg_plan(&inv, &w, &p);
	check(rc == SETUP_REFUSED && strstr(p.why, "healthy"), "a dead drive: fewer healthy than count: %s", p.why);

	/* the invariant's own check can fail */
	box(&inv);
	want_auto(&w);
	stg_plan(&inv, &w, &p);
	p.member[2] = 4;
	check(unsafe(&inv, &w, &p) != NULL, "the safety check catches a plan that names the boot drive");
	stg_plan(&inv, &w, &p);
	snprintf(inv.disk[1].fstype, sizeof inv.disk[1].fstype, "xfs");
	check(unsafe(&inv, &w, &p) != NULL, "the safety check catches a wipe of a drive not listed");

	unsigned stride, width;
	stg_ext4_geometry(512, 4096, 4, &stride, &width);
	check(stride == 128 && width == 512, "ext4 geometry: stride 128, stripe width 512 for 4 x 512 KiB");
	char list[STG_MAX_LIST][STG_SERIAL_LEN];
	unsigned n;
	check(stg_parse_list("auto", list, STG_MAX_LIST, &n) == -ENOENT, "drives = auto");
	check(stg_parse_list(" A1, B2 C3,", list, STG_MAX_LIST, &n) == 0 && n == 3 && !strcmp(list[2], "C3"),
	      "a list of serials by commas and blanks");
	check(stg_parse_list("A1, auto", list, STG_MAX_LIST, &n) == -EINVAL, "auto mixed with serials is refused");
}

/* A random inventory around the appliance's. */
static void generate(struct stg_inventory *inv, struct stg_want *w)
{
	memset(inv, 0, sizeof *inv);
	want_auto(w);
	w->count = pick(4) ? 4 : 3 + pick(3);
	/* mostly count data drives and the boot drive; sometimes one more or less */
	unsigned nvme = w->count + 1 + (pick(4) ? 0 : pick(3)) - (pick(8) == 0);
	unsigned boot = pick(nvme + 1);	/* boot == nvme: on a USB disk */
	bool array = pick(2), running = array && pick(2);
	unsigned chunk = pick(4) ? 512 : 256;
	int role = 0;
	char serial[32];
	for (unsigned i = 0; i < nvme; i++) {
		snprintf(serial, sizeof serial, "S6B0NL0T%06u", 101 + pick(900));
		struct stg_disk *d = add_disk(inv, serial, STG_BUS_NVME);
		unsigned what = pick(48);
		if (what == 0)
			snprintf(d->fstype, sizeof d->fstype, "ext4");
		else if (what == 1)
			snprintf(d->pttype, sizeof d->pttype, "gpt");
		else if (what == 2)
			snprintf(d->holder, sizeof d->holder, "dm-%u", pick(3));
		else if (what == 3)
			d->mounted = true;
		else if (what == 4)
			d->healthy = false;
		else if (what == 5)
			make_member(d, OTHER_UUID, (int)pick(4), 4, 512);
		else if (array && what < 46)
			make_member(d, ARRAY_UUID, pick(16) ? role++ : (int)pick(w->count), (int)w->count, chunk);
		if (i == boot) {
			d->boot = d->mounted = true;
			if (!d->fstype[0] && pick(2))
				snprintf(d->fstype, sizeof d->fstype, "ext4");
		}
	}
	for (unsigned k = pick(3); k > 0; k--) {
		snprintf(serial, sizeof serial, "USB%04u", pick(10000));
		struct stg_disk *d = add_disk(inv, serial, STG_BUS_USB);
		if (pick(2))
			snprintf(d->fstype, sizeof d->fstype, "vfat");
		if (boot == nvme && k == 1)
			d->boot = d->mounted = true;
	}
	if (running) {
		int members[STG_MAX_MEMBERS];
		unsigned n = 0;
		for (unsigned i = 0; i < inv->ndisks; i++)
			if (inv->disk[i].md_member && !strcmp(inv->disk[i].md_uuid, ARRAY_UUID) && n < STG_MAX_MEMBERS &&
			    !inv->disk[i].holder[0])
				members[n++] = (int)i;
		add_running_array(inv, ARRAY_UUID, members, n);
	}
	/* shuffle the kernel's order (the arrays' member indices follow) */
	for (unsigned i = inv->ndisks - 1; i > 0; i--) {
		unsigned j = pick(i + 1);
		struct stg_disk t = inv->disk[i];
		inv->disk[i] = inv->disk[j];
		inv->disk[j] = t;
		for (unsigned a = 0; a < inv->narrays; a++)
			for (unsigned m = 0; m < inv->array[a].nmembers; m++)
				inv->array[a].member[m] = inv->array[a].member[m] == (int)i   ? (int)j
							  : inv->array[a].member[m] == (int)j ? (int)i
											      : inv->array[a].member[m];
	}
	if (pick(3) == 0) {
		w->drives_auto = false;
		for (unsigned k = w->count + pick(2) - (pick(4) == 0); k > 0 && w->ndrives < STG_MAX_LIST; k--) {
			const struct stg_disk *d = &inv->disk[pick(inv->ndisks)];
			snprintf(w->drives[w->ndrives++], STG_SERIAL_LEN, "%s", pick(4) ? d->serial : d->by_id[1]);
		}
	}
	for (unsigned k = pick(4); k > 0; k--)
		snprintf(w->wipe[w->nwipe++], STG_SERIAL_LEN, "%s", inv->disk[pick(inv->ndisks)].serial);
	snprintf(inv->free_md, sizeof inv->free_md, "md%u", inv->narrays);
}

static void test_generated(void)
{
	unsigned outcomes[4] = { 0 }, bad = 0;
	for (unsigned run = 0; run < RUNS; run++) {
		struct stg_inventory inv;
		struct stg_want w;
		struct stg_plan p;
		generate(&inv, &w);
		int rc = stg_plan(&inv, &w, &p);
		if (rc == SETUP_REFUSED) {
			outcomes[3]++;
			bad += !p.why[0];
			continue;
		}
		if (rc != 0) {
			bad++;
			continue;
		}
		outcomes[p.verb]++;
		const char *why = unsafe(&inv, &w, &p);
		if (why && bad++ < 5)
			printf("# run %u: %s\n", run, why);
	}
	check(bad == 0, "%u generated inventories: every plan safe, every refusal says why (%u not)", RUNS, bad);
	check(outcomes[STG_CREATE] > RUNS / 50, "new arrays among them: %u", outcomes[STG_CREATE]);
	check(outcomes[STG_ADOPT] > RUNS / 500, "adopted arrays among them: %u", outcomes[STG_ADOPT]);
	check(outcomes[STG_ASSEMBLE] > RUNS / 500, "assembled arrays among them: %u", outcomes[STG_ASSEMBLE]);
	check(outcomes[3] > RUNS / 10, "refusals among them: %u", outcomes[3]);
}

int main(void)
{
	test_fixed();
	test_generated();
	return tap_done();
}
