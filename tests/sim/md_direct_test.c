/* libtbstore's md direct path on the box: the array read through its
 * members (superblocks read from the real drives) gives the same bytes as
 * the array's own block device.
 *   md_direct_test MD_DEVICE MEMBER...   (members in any order)
 * TAP on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/tbstore.h"

#define MAX_MEMBERS 16
#define SLICE (8u << 20)

static int n_checks;

static void result(int ok, const char *name, const char *why)
{
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++n_checks, name);
	if (!ok && why)
		printf("# %s\n", why);
}

static int read_range(struct tbs_source *src, void *buf, uint64_t off, uint64_t len, struct tbs_error *err)
{
	struct tbs_reader *r;
	struct tbs_reader_opts o = { .queue_depth = 4, .io_size = 128u << 10, .no_register = true };
	int rc = tbs_reader_open(&r, src, &o, err);
	if (rc < 0)
		return rc;
	rc = tbs_read(r, buf, off, len, err);
	tbs_reader_close(r);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc - 2 > MAX_MEMBERS) {
		fprintf(stderr, "usage: md_direct_test MD_DEVICE MEMBER...\n");
		return 2;
	}
	struct tbs_error err = { 0 };
	struct tbs_source *md = NULL, *direct = NULL;
	int rc = tbs_source_open_file(&md, argv[1], &err);
	result(rc == 0, "the array's block device opens", err.msg);
	rc = rc == 0 ? tbs_source_open_md(&direct, (const char *const *)argv + 2, (unsigned)(argc - 2), &err) : rc;
	result(rc == 0, "the direct path assembles the array from its members' superblocks", err.msg);
	if (rc < 0)
		return 1;
	char why[160];
	snprintf(why, sizeof why, "direct path %llu bytes, %s %llu", (unsigned long long)tbs_source_size(direct), argv[1],
		 (unsigned long long)tbs_source_size(md));
	result(tbs_source_size(direct) == tbs_source_size(md), "the direct path's size is the array's", why);
	result(tbs_source_chunk(direct) == 512u << 10, "the chunk comes from the superblocks (512 KiB)", NULL);
	uint8_t *a = tbs_alloc(SLICE), *b = tbs_alloc(SLICE);
	if (!a || !b) {
		result(0, "buffers for the comparison", "out of memory");
		return 1;
	}
	uint64_t size = tbs_source_size(md) < tbs_source_size(direct) ? tbs_source_size(md) : tbs_source_size(direct);
	uint64_t differ = UINT64_MAX;
	int io = 0;
	for (uint64_t off = 0; off < size && differ == UINT64_MAX && io == 0; off += SLICE) {
		uint64_t len = size - off < SLICE ? size - off : SLICE;
		io = read_range(md, a, off, len, &err);
		if (io == 0)
			io = read_range(direct, b, off, len, &err);
		if (io == 0 && memcmp(a, b, len) != 0)
			differ = off;
	}
	result(io == 0, "every byte reads both ways", err.msg);
	snprintf(why, sizeof why, "the slice at byte %llu differs", (unsigned long long)differ);
	result(io == 0 && differ == UINT64_MAX, "the direct path reads the same bytes as the array", why);
	tbs_free(a, SLICE);
	tbs_free(b, SLICE);
	tbs_source_close(direct);
	tbs_source_close(md);
	return 0;
}
