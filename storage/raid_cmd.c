/* tb raid status: the NVMe drives' health (SMART through libnvme) and the md
 * arrays' state.
 *
 *   tb raid status [--json] */
#include <stdio.h>
#include <string.h>

#include "storage/tbstore.h"

#define MAX_DRIVES 32
#define MAX_ARRAYS 8

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb raid status [--json]\n"
		"\n"
		"Shows each NVMe drive's health (temperature, critical warning, spare,\n"
		"percentage used, media errors) and each md array with its members' state.\n"
		"\n"
		"Exit status: 0 all healthy; 1 no drives found, a drive warns, its SMART log\n"
		"cannot be read, or an array or member is not in a good state; 2 bad usage.\n");
}

static bool drive_ok(const struct tbs_drive *d)
{
	return d->smart_status == 0 && d->critical_warning == 0 && d->media_errors == 0;
}

/* md says "in_sync" for a good member and "clean"/"active" for a good array. */
static bool array_ok(const struct tbs_md_array *a)
{
	if (strcmp(a->state, "clean") && strcmp(a->state, "active") && strcmp(a->state, "active-idle"))
		return false;
	for (unsigned i = 0; i < a->members && i < TBS_MD_MAX_MEMBERS; i++)
		if (!strstr(a->member_state[i], "in_sync") || strstr(a->member_state[i], "faulty"))
			return false;
	return a->members >= a->raid_disks;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	putchar('"');
}

static void print_json(const struct tbs_drive *d, unsigned nd, const struct tbs_md_array *a, unsigned na,
		       bool healthy)
{
	printf("{\"healthy\":%s,\"drives\":[", healthy ? "true" : "false");
	for (unsigned i = 0; i < nd; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_str(d[i].name);
		printf(",\"model\":");
		json_str(d[i].model);
		printf(",\"serial\":");
		json_str(d[i].serial);
		if (d[i].smart_status)
			printf(",\"smart_error\":%d}", d[i].smart_status);
		else
			printf(",\"temperature_c\":%d,\"critical_warning\":%u,\"available_spare\":%u,"
			       "\"percentage_used\":%u,\"media_errors\":%llu}",
			       d[i].temp_c, d[i].critical_warning, d[i].avail_spare, d[i].percent_used,
			       (unsigned long long)d[i].media_errors);
	}
	printf("],\"arrays\":[");
	for (unsigned i = 0; i < na; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_str(a[i].name);
		printf(",\"level\":");
		json_str(a[i].level);
		printf(",\"state\":");
		json_str(a[i].state);
		printf(",\"raid_disks\":%u,\"chunk_bytes\":%llu,\"members\":[", a[i].raid_disks,
		       (unsigned long long)a[i].chunk_bytes);
		for (unsigned k = 0; k < a[i].members; k++) {
			printf("%s{\"device\":", k ? "," : "");
			json_str(a[i].member[k]);
			printf(",\"state\":");
			json_str(a[i].member_state[k]);
			putchar('}');
		}
		printf("]}");
	}
	printf("]}\n");
}

static void print_text(const struct tbs_drive *d, unsigned nd, const struct tbs_md_array *a, unsigned na)
{
	if (nd == 0)
		printf("no NVMe drives found (no controllers under /sys/class/nvme)\n");
	for (unsigned i = 0; i < nd; i++) {
		if (d[i].smart_status) {
			printf("%-8s %-30s SMART log unreadable (status %d)\n", d[i].name, d[i].model, d[i].smart_status);
			continue;
		}
		printf("%-8s %-30s %3d C  warning %#04x  spare %3u%%  used %3u%%  media errors %llu%s\n", d[i].name,
		       d[i].model, d[i].temp_c, d[i].critical_warning, d[i].avail_spare, d[i].percent_used,
		       (unsigned long long)d[i].media_errors, drive_ok(&d[i]) ? "" : "  <- attention");
	}
	if (na == 0)
		printf("no md arrays found\n");
	for (unsigned i = 0; i < na; i++) {
		printf("%s: %s, %u disks, chunk %llu KiB, %s%s\n", a[i].name, a[i].level, a[i].raid_disks,
		       (unsigned long long)(a[i].chunk_bytes >> 10), a[i].state, array_ok(&a[i]) ? "" : "  <- attention");
		for (unsigned k = 0; k < a[i].members; k++)
			printf("  %-12s %s\n", a[i].member[k], a[i].member_state[k]);
	}
}

int main(int argc, char **argv)
{
	bool json = false;
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "status") || argc > 3 || (argc == 3 && strcmp(argv[2], "--json"))) {
		if (argc == 3 && !strcmp(argv[2], "--help")) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	json = argc == 3;
	static struct tbs_drive drives[MAX_DRIVES];
	static struct tbs_md_array arrays[MAX_ARRAYS];
	unsigned nd = 0, na = 0;
	struct tbs_error err = { 0 };
	if (tbs_drives(drives, MAX_DRIVES, &nd, &err) < 0 || tbs_md_arrays(arrays, MAX_ARRAYS, &na, &err) < 0) {
		fprintf(stderr, "tb raid: %s\n", err.msg);
		return 1;
	}
	nd = nd < MAX_DRIVES ? nd : MAX_DRIVES;
	na = na < MAX_ARRAYS ? na : MAX_ARRAYS;
	bool healthy = nd > 0;
	for (unsigned i = 0; i < nd; i++)
		healthy = healthy && drive_ok(&drives[i]);
	for (unsigned i = 0; i < na; i++)
		healthy = healthy && array_ok(&arrays[i]);
	if (json)
		print_json(drives, nd, arrays, na, healthy);
	else
		print_text(drives, nd, arrays, na);
	return healthy ? 0 : 1;
}
