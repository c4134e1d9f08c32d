/* safetensors headers, manifests and loading: bad headers refused with the
 * reason, a corrupted chunk caught and named (file, offset, tensor), and a
 * host load that holds exactly the file's bytes. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/storage/util.h"

#define MIB (1024u * 1024)

static int parse_json(const char *json, uint64_t data_len, struct tbs_st *st, struct tbs_error *err)
{
	size_t hl = strlen(json);
	uint8_t *buf = malloc(8 + hl);
	uint64_t le = htole64(hl);
	memcpy(buf, &le, 8);
	memcpy(buf + 8, json, hl);
	int rc = tbs_st_parse(buf, 8 + hl, 8 + hl + data_len, st, err);
	free(buf);
	return rc;
}

static void test_good_header(void **state)
{
	(void)state;
	struct tbs_st st;
	struct tbs_error err = { 0 };
	const char *json = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[24,36]},"
			   "\"__metadata__\":{\"format\":\"pt\"},"
			   "\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
			   "\"empty\":{\"dtype\":\"I64\",\"shape\":[0,4],\"data_offsets\":[36,36]},"
			   "\"s\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[36,37]}}   ";
	assert_int_equal(parse_json(json, 37, &st, &err), 0);
	assert_int_equal(st.count, 4);
	uint64_t ds = 8 + strlen(json);
	assert_int_equal(st.data_start, ds);
	assert_string_equal(st.tensors[0].name, "a");
	assert_int_equal(st.tensors[0].dtype, TBS_F32);
	assert_int_equal(st.tensors[0].begin, ds);
	assert_int_equal(st.tensors[1].ndim, 2);
	assert_int_equal(st.tensors[1].shape[1], 3);
	assert_string_equal(tbs_st_find(&st, ds + 30)->name, "b");
	assert_string_equal(tbs_st_find(&st, ds + 36)->name, "s");
	assert_null(tbs_st_find(&st, 3));
	tbs_st_free(&st);
}

static void test_bad_headers(void **state)
{
	(void)state;
	static const struct {
		const char *json;
		uint64_t data;
		const char *why;
	} cases[] = {
		{ "[1,2]", 0, "does not start with '{'" },
		{ "{\"a\":", 0, "bad JSON" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},\"a\":{}}", 2, "bad JSON" },
		{ "{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "unknown dtype 'F17'" },
		{ "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "dtype is missing" },
		{ "{\"a\":{\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "dtype is missing" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[-1],\"data_offsets\":[0,2]}}", 2, "shape[0] is not" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":1,\"data_offsets\":[0,2]}}", 2, "shape is missing" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,2]}}", 2, "9 dimensions" },
		{ "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
		  "overflows" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "need 4" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2,4]}}", 4, "[begin, end]" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[4,2]}}", 4, "outside the data" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[2,4]}}", 3, "outside the data" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
		  "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[2,6]}}", 6, "overlap" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[2,4]}}", 4, "a hole" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 5, "belong to no tensor" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2],\"x\":1}}", 2, "unknown field" },
		{ "{\"__metadata__\":{\"k\":1}}", 0, "is not a string" },
		{ "{\"a\":[]}", 0, "not a JSON object" },
		{ " {}", 0, "does not start with '{'" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tbs_st st;
		struct tbs_error err = { 0 };
		assert_int_equal(parse_json(cases[i].json, cases[i].data, &st, &err), -EINVAL);
		if (!strstr(err.msg, cases[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, err.msg, cases[i].why);
		assert_null(st.tensors);
	}
	/* the length prefix itself */
	uint8_t buf[16] = { 0 };
	struct tbs_st st;
	struct tbs_error err = { 0 };
	uint64_t big = htole64(1000);
	memcpy(buf, &big, 8);
	assert_int_equal(tbs_st_parse(buf, sizeof buf, 100, &st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "beyond the file's end"));
	big = htole64(200u * 1000 * 1000);
	memcpy(buf, &big, 8);
	assert_int_equal(tbs_st_parse(buf, sizeof buf, 1ull << 40, &st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "100 MB"));
	assert_int_equal(tbs_st_parse(buf, 4, 4, &st, &err), -EINVAL);
	/* and through the file API: the file is named */
	write_file(scratch("bad.safetensors"), "\x05\0\0\0\0\0\0\0{\"a\":", 13);
	assert_int_equal(tbs_st_open(scratch("bad.safetensors"), &st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bad.safetensors: safetensors header: bad JSON"));
}

/* Three tensors over 3 MiB and a bit, so chunks and tensors interleave. */
static const char *model_json(void)
{
	return "{\"w0\":{\"dtype\":\"F16\",\"shape\":[1024,1024],\"data_offsets\":[0,2097152]},"
	       "\"w1\":{\"dtype\":\"F32\",\"shape\":[300000],\"data_offsets\":[2097152,3297152]},"
	       "\"w2\":{\"dtype\":\"U8\",\"shape\":[777],\"data_offsets\":[3297152,3297929]}}";
}

static void test_host_load_and_verify(void **state)
{
	(void)state;
	const char *path = scratch("model.safetensors");
	size_t len;
	uint8_t *file = make_safetensors(path, model_json(), 3297929, &len);
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_manifest_write(path, &err), 0);
	struct tbs_manifest m;
	assert_int_equal(tbs_manifest_read(path, &m, &err), 0);
	assert_int_equal(m.file_size, len);
	assert_int_equal(m.count, 4);
	assert_true(m.sums[3] == tbs_chunk_sum(file + 3 * MIB, len - 3 * MIB));
	tbs_manifest_free(&m);
	/* small slots: many of them pass through the two staging buffers */
	struct tbs_load_opts o = { .target = TBS_TO_HOST, .verify = true, .slots = 2, .slot_size = 1 * MIB };
	struct tbs_load_result res;
	assert_int_equal(tbs_load(path, &o, &res, &err), 0);
	assert_true(res.verified);
	assert_int_equal(res.bytes, len);
	assert_int_equal(res.st.count, 3);
	assert_non_null(res.host);
	assert_memory_equal(res.host, file, len);
	tbs_load_result_free(&res);
	free(file);
}

struct seen {
	uint64_t next, bytes;
	unsigned calls;
	uint64_t sum;
};

/* The consumer sees every byte once, in order. */
static int consume(void *ctx, uint64_t off, const void *data, size_t len)
{
	struct seen *s = ctx;
	if (off != s->next)
		return -EILSEQ;
	s->next += len;
	s->bytes += len;
	s->calls++;
	s->sum ^= tbs_chunk_sum(data, len) + off;
	return 0;
}

static void test_null_load_streams_in_order(void **state)
{
	(void)state;
	const char *path = scratch("stream.safetensors");
	size_t len;
	uint8_t *file = make_safetensors(path, model_json(), 3297929, &len);
	struct seen s = { 0 };
	struct tbs_load_opts o = { .target = TBS_TO_NULL, .slots = 3, .slot_size = 1 * MIB, .consume = consume,
				   .consume_ctx = &s };
	struct tbs_load_result res;
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_load(path, &o, &res, &err), 0);
	assert_null(res.host);
	assert_int_equal(s.bytes, len);
	assert_int_equal(s.calls, 4);
	uint64_t want = 0;
	for (uint64_t off = 0; off < len; off += MIB)
		want ^= tbs_chunk_sum(file + off, len - off < MIB ? len - off : MIB) + off;
	assert_true(s.sum == want);
	assert_false(res.verified);
	tbs_load_result_free(&res);
	free(file);
}

static void test_corrupted_chunk_named(void **state)
{
	(void)state;
	const char *path = scratch("corrupt.safetensors");
	size_t len;
	uint8_t *file = make_safetensors(path, model_json(), 3297929, &len);
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_manifest_write(path, &err), 0);
	/* one flipped byte inside w1, in the third 1 MiB chunk */
	file[2 * MIB + 4321] ^= 0x40;
	write_file(path, file, len);
	struct tbs_load_opts o = { .target = TBS_TO_HOST, .verify = true };
	struct tbs_load_result res;
	assert_int_equal(tbs_load(path, &o, &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "checksum mismatch"));
	assert_non_null(strstr(err.msg, "at offset 2097152"));
	/* the chunk starts in w0's last bytes and goes on into w1 */
	assert_non_null(strstr(err.msg, "tensor 'w0' (through 'w1')"));
	assert_null(res.host);
	/* without --verify the same file loads */
	o.verify = false;
	assert_int_equal(tbs_load(path, &o, &res, &err), 0);
	tbs_load_result_free(&res);
	/* a file whose size changed does not match its manifest */
	write_file(path, file, len - 1);
	o.verify = true;
	assert_int_equal(tbs_load(path, &o, &res, &err), -EINVAL); /* the header now overruns the data */
	free(file);
}

static void test_manifest_errors(void **state)
{
	(void)state;
	const char *path = scratch("m.safetensors");
	size_t len;
	uint8_t *file = make_safetensors(path, model_json(), 3297929, &len);
	struct tbs_load_opts o = { .verify = true };
	struct tbs_load_result res;
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_load(path, &o, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "tb store manifest"));
	char sum[4200];
	snprintf(sum, sizeof sum, "%s.tbsum", path);
	static const char *bad[] = {
		"nonsense\n",
		"tbsum 1 xxh3-64\nsize 3\nchunk 1000\n",
		"tbsum 1 xxh3-64\nsize 5000\nchunk 4096\n0123456789abcdef\n",
		"tbsum 1 xxh3-64\nsize 10\nchunk 4096\n0123456789abcdeg\n",
		"tbsum 1 xxh3-64\nsize 10\nchunk 4096\n0123456789abcdef\n0123456789abcdef\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(sum, bad[i], strlen(bad[i]));
		struct tbs_manifest m;
		assert_int_equal(tbs_manifest_read(path, &m, &err), -EBADMSG);
		assert_null(m.sums);
	}
	/* a manifest of another file of a different size */
	write_file(sum, "tbsum 1 xxh3-64\nsize 10\nchunk 4096\n0123456789abcdef\n", 52);
	assert_int_equal(tbs_load(path, &o, &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "file of 10 bytes"));
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_header),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_host_load_and_verify),
		cmocka_unit_test(test_null_load_streams_in_order),
		cmocka_unit_test(test_corrupted_chunk_named),
		cmocka_unit_test(test_manifest_errors),
	};
	return cmocka_run_group_tests_name("storage load", tests, scratch_setup, scratch_teardown);
}
