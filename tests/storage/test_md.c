/* The md RAID0 direct path: superblock 1.2 parsing, md's raid0 mapping, and
 * reads through member files that must give back exactly the striped image. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/storage/util.h"

#define KIB 1024u
#define CHUNK (64 * KIB)

/* Mapping facts worked out by hand from md's rule (chunk c -> member c % n,
 * member chunk c / n). */
static void test_mapping(void **state)
{
	(void)state;
	static const struct {
		uint64_t off;
		unsigned member;
		uint64_t member_off;
	} cases[] = {
		{ 0, 0, 1000 },
		{ CHUNK - 1, 0, 1000 + CHUNK - 1 },
		{ CHUNK, 1, 1000 },
		{ 3 * CHUNK + 5, 3, 1005 },
		{ 4 * CHUNK, 0, 1000 + CHUNK },          /* wraps to member 0, its second chunk */
		{ 9 * CHUNK + 7, 1, 1000 + 2 * CHUNK + 7 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned m;
		uint64_t mo;
		tbs_md_map(CHUNK, 4, 1000, cases[i].off, &m, &mo);
		assert_int_equal(m, cases[i].member);
		assert_int_equal(mo, cases[i].member_off);
	}
}

static void read_all(struct tbs_source *src, const struct tbs_reader_opts *o, uint8_t *out, uint64_t len)
{
	struct tbs_reader *r;
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_reader_open(&r, src, o, &err), 0);
	assert_int_equal(tbs_reader_register(r, out, len, &err), 0);
	int rc = tbs_read(r, out, 0, len, &err);
	if (rc)
		print_error("%s\n", err.msg);
	assert_int_equal(rc, 0);
	tbs_reader_close(r);
}

/* Four members given out of order; the direct path reads the image back. */
static void test_direct_path_reads_image(void **state)
{
	(void)state;
	const size_t len = 4 * CHUNK * 6;
	uint8_t *image = random_bytes(len, 1);
	struct md_set s;
	const unsigned perm[4] = { 2, 0, 3, 1 };
	make_md(&s, "img", image, len, 4, CHUNK, 64 * KIB, perm);
	struct tbs_source *src;
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_source_open_md(&src, s.paths, 4, &err), 0);
	assert_int_equal(tbs_source_size(src), len);
	assert_int_equal(tbs_source_chunk(src), CHUNK);
	assert_int_equal(tbs_source_members(src), 4);
	uint8_t *out = tbs_alloc(len);
	/* IOs smaller than a chunk, so several per chunk and per member */
	struct tbs_reader_opts o = { .queue_depth = 4, .io_size = 16 * KIB };
	read_all(src, &o, out, len);
	assert_memory_equal(out, image, len);
	tbs_free(out, len);
	tbs_source_close(src);
	free_md(&s);
	free(image);
}

/* Reads of unequal sizes at offsets that straddle chunk and member edges. */
static void test_unaligned_ranges_cross_boundaries(void **state)
{
	(void)state;
	const size_t len = 3 * CHUNK * 4;
	uint8_t *image = random_bytes(len, 2);
	struct md_set s;
	make_md(&s, "rng", image, len, 3, CHUNK, 128 * KIB, NULL);
	struct tbs_source *src;
	struct tbs_reader *r;
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_source_open_md(&src, s.paths, 3, &err), 0);
	assert_int_equal(tbs_reader_open(&r, src, &(struct tbs_reader_opts){ .io_size = 8 * KIB }, &err), 0);
	static const uint64_t ranges[][2] = {
		{ CHUNK - 4 * KIB, 8 * KIB },           /* member 0 -> 1 */
		{ 3 * CHUNK - 4 * KIB, 8 * KIB },       /* member 2 -> 0, next stripe */
		{ 4 * KIB, 2 * CHUNK + 12 * KIB },      /* three members */
		{ 5 * CHUNK, 4 * KIB },
		{ 0, len },
		{ len - 4 * KIB, 4 * KIB },
	};
	uint8_t *out = tbs_alloc(len);
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		memset(out, 0, len);
		assert_int_equal(tbs_read(r, out, ranges[i][0], ranges[i][1], &err), 0);
		assert_memory_equal(out, image + ranges[i][0], ranges[i][1]);
	}
	/* several requests in flight at once, completed out of order */
	struct tbs_req q[3] = {
		{ .buf = out, .off = 2 * CHUNK, .len = CHUNK + 4 * KIB },
		{ .buf = out + 2 * CHUNK, .off = 0, .len = CHUNK },
		{ .buf = out + 4 * CHUNK, .off = 7 * CHUNK + 8 * KIB, .len = 3 * CHUNK - 8 * KIB },
	};
	for (int i = 0; i < 3; i++)
		assert_int_equal(tbs_reader_queue(r, &q[i], &err), 0);
	for (int i = 2; i >= 0; i--) {
		assert_int_equal(tbs_reader_wait(r, &q[i]), 0);
		assert_memory_equal(q[i].buf, image + q[i].off, q[i].len);
	}
	tbs_free(out, len);
	tbs_reader_close(r);
	tbs_source_close(src);
	free_md(&s);
	free(image);
}

static void test_missing_member(void **state)
{
	(void)state;
	const size_t len = 4 * CHUNK;
	uint8_t *image = random_bytes(len, 3);
	struct md_set s;
	make_md(&s, "miss", image, len, 4, CHUNK, 64 * KIB, NULL);
	struct tbs_source *src = NULL;
	struct tbs_error err = { 0 };
	const char *three[3] = { s.paths[0], s.paths[1], s.paths[3] };
	assert_int_equal(tbs_source_open_md(&src, three, 3, &err), -ENODEV);
	assert_non_null(strstr(err.msg, "member 2 of 4 is missing"));
	assert_null(src);
	/* the same member twice is not a whole array either */
	const char *dup[4] = { s.paths[0], s.paths[1], s.paths[1], s.paths[3] };
	assert_int_equal(tbs_source_open_md(&src, dup, 4, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "both claim RAID0 member 1"));
	free_md(&s);
	free(image);
}

/* A failing member is named in the error (EIO injected on member 1). */
static int eio_on_member1(void *ctx, unsigned member, uint64_t off, uint32_t len, int res)
{
	(void)ctx, (void)off, (void)len;
	return member == 1 ? -EIO : res;
}

static void test_failing_member_named(void **state)
{
	(void)state;
	const size_t len = 2 * CHUNK * 2;
	uint8_t *image = random_bytes(len, 4);
	struct md_set s;
	make_md(&s, "fail", image, len, 2, CHUNK, 64 * KIB, NULL);
	struct tbs_source *src;
	struct tbs_reader *r;
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_source_open_md(&src, s.paths, 2, &err), 0);
	assert_int_equal(tbs_reader_open(&r, src, &(struct tbs_reader_opts){ .fault = eio_on_member1 }, &err), 0);
	uint8_t *out = tbs_alloc(len);
	assert_int_equal(tbs_read(r, out, 0, len, &err), -EIO);
	assert_non_null(strstr(err.msg, s.paths[1]));
	assert_non_null(strstr(err.msg, "RAID0 member 1"));
	assert_non_null(strstr(err.msg, "Input/output error"));
	tbs_free(out, len);
	tbs_reader_close(r);
	tbs_source_close(src);
	free_md(&s);
	free(image);
}

/* Damaged superblocks are refused with the reason. */
static void test_bad_superblocks(void **state)
{
	(void)state;
	const size_t len = 2 * CHUNK;
	uint8_t *image = random_bytes(len, 5);
	struct md_set s;
	make_md(&s, "sb", image, len, 2, CHUNK, 64 * KIB, NULL);
	size_t mlen;
	uint8_t *m = read_whole(s.paths[0], &mlen);
	uint8_t *sb = m + 4096;
	struct tbs_md_info info;
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_md_parse_sb(sb, 4096, &info, &err), 0);
	assert_int_equal(info.raid_disks, 2);
	assert_int_equal(info.chunk_bytes, CHUNK);
	assert_int_equal(info.data_offset_bytes, 64 * KIB);
	static const struct {
		size_t off;
		uint8_t val;
		bool fix_csum;
		const char *why;
	} cases[] = {
		{ 0, 0x00, true, "no md superblock" },
		{ 40, 0x55, false, "checksum" },         /* a flipped name byte, stale checksum */
		{ 72, 5, true, "RAID level 5" },
		{ 144, 0, true, "not metadata 1.2" },
		{ 92, 0, true, "raid_disks 0" },
		{ 88, 1, true, "not a multiple of 4 KiB" },
		{ 256, 0xff, true, "beyond raid_disks" },  /* role of dev 0 becomes 255 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t b[4096];
		memcpy(b, sb, sizeof b);
		b[cases[i].off] = cases[i].val;
		if (cases[i].fix_csum) {
			uint32_t max_dev;
			memcpy(&max_dev, b + 220, 4);
			uint32_t c = md_csum(b, max_dev);
			memcpy(b + 216, &c, 4);
		}
		assert_int_equal(tbs_md_parse_sb(b, sizeof b, &info, &err), -EINVAL);
		if (!strstr(err.msg, cases[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, err.msg, cases[i].why);
	}
	/* a plain file is not a member */
	const char *plain[1] = { scratch("plain") };
	write_file(plain[0], image, len);
	struct tbs_source *src;
	assert_int_equal(tbs_source_open_md(&src, plain, 1, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no md superblock"));
	free(m);
	free_md(&s);
	free(image);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping),
		cmocka_unit_test(test_direct_path_reads_image),
		cmocka_unit_test(test_unaligned_ranges_cross_boundaries),
		cmocka_unit_test(test_missing_member),
		cmocka_unit_test(test_failing_member_named),
		cmocka_unit_test(test_bad_superblocks),
	};
	return cmocka_run_group_tests_name("storage md raid0", tests, scratch_setup, scratch_teardown);
}
