/* safetensors headers, manifests and loading: bad headers refused with the
 * reason, a corrupted chunk caught and named (file, offset, tensor), and a
 * host load that holds exactly the file's bytes. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/storage/util.h"

#define MIB (1024u * 1024)

static const char *model_json(void);

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
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},\"a\":{}}", 2, "dtype is missing" },
		{ "{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "unknown dtype" },
		{ "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "dtype is missing" },
		{ "{\"a\":{\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "dtype is missing" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[-1],\"data_offsets\":[0,2]}}", 2, "shape[0] is not" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":1,\"data_offsets\":[0,2]}}", 2, "shape is missing" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,2]}}", 2, "more than 8 dimensions" },
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
		{ "{}x", 0, "text after the header's object" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[01],\"data_offsets\":[0,2]}}", 2, "leading zero" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1.0],\"data_offsets\":[0,2]}}", 2, "shape[0] is not" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2e0]}}", 2, "[begin, end]" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[18446744073709551616],\"data_offsets\":[0,2]}}", 2,
		  "beyond 64 bits" },
		{ "{\"a\":{\"dtype\":\"F16\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
		  "a field given twice" },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
		  "\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "tensors 0 and 1 have the same name" },
		{ "{\"a\\u0000\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "\\u0000" },
		{ "{\"\xc3\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "not UTF-8" },
		{ "{\"\xed\xa0\x80\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "not UTF-8" },
		{ "{\"\\ud800\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "high surrogate" },
		{ "{\"\\q\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "unknown escape" },
		{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}", 0, "bad JSON" },
		{ "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ given twice" },
		{ "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}\n\"b\":1}", 2,
		  "bad JSON at byte 62: expected ',' or '}'" },
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

static long max_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* 300,000 tensors: the header is parsed into one compact record per tensor,
 * within what tbs_load_memory promises (a JSON tree took ~1 KiB each).
 * First in the run, so the process's peak RSS is still low. */
static void test_many_tensors_memory(void **state)
{
	(void)state;
	enum { N = 300000 };
	size_t cap = (size_t)N * 80 + 16, n = 0;
	char *json = malloc(cap);
	n += (size_t)snprintf(json + n, cap - n, "{");
	for (unsigned i = 0; i < N; i++)
		n += (size_t)snprintf(json + n, cap - n, "%s\"t.%u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%u,%u]}",
				      i ? "," : "", i, i, i + 1);
	snprintf(json + n, cap - n, "}");
	const char *path = scratch("many.safetensors");
	size_t len;
	free(make_safetensors(path, json, N, &len));
	free(json);
	struct tbs_load_opts o = { .target = TBS_TO_NULL };
	uint64_t promised;
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_load_memory(path, &o, &promised, &err), 0);
	long before = max_rss_kib();
	struct tbs_st st;
	assert_int_equal(tbs_st_open(path, &st, &err), 0);
	long grew = max_rss_kib() - before;
	assert_int_equal(st.count, N);
	assert_string_equal(tbs_st_find(&st, st.data_start + 12345)->name, "t.12345");
	printf("# parsing %u tensors (a %llu-byte header) took %ld KiB; promised %llu KiB\n", (unsigned)N,
	       (unsigned long long)st.header_len, grew, (unsigned long long)promised >> 10);
	tbs_st_free(&st);
	if ((uint64_t)grew * 1024 > promised)
		fail_msg("parsing took %ld KiB, more than the %llu KiB promised", grew, (unsigned long long)promised >> 10);
	/* a load that may not take that much is refused before it allocates */
	o.mem_limit = 1u << 20;
	struct tbs_load_result res;
	assert_int_equal(tbs_load(path, &o, &res, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "more than the 1 MiB it may use"));
}

/* Under a root: the path is resolved in one step that cannot leave it. */
static void test_root_confinement(void **state)
{
	(void)state;
	char dir[4200];
	snprintf(dir, sizeof dir, "%s", scratch("root"));
	assert_int_equal(mkdir(dir, 0755), 0);
	size_t len;
	char in[4300];
	snprintf(in, sizeof in, "%s/in.safetensors", dir);
	free(make_safetensors(in, model_json(), 3297929, &len));
	free(make_safetensors(scratch("outside.safetensors"), model_json(), 3297929, &len));
	char link[4300], up[4300];
	snprintf(link, sizeof link, "%s/out.safetensors", dir);
	assert_int_equal(symlink("../outside.safetensors", link), 0);
	snprintf(up, sizeof up, "%s/up.safetensors", dir);
	char abs[PATH_MAX];
	assert_non_null(realpath(scratch("outside.safetensors"), abs));
	assert_int_equal(symlink(abs, up), 0);
	struct tbs_root root;
	struct tbs_error err = { 0 };
	assert_true(tbs_root_open(&root, in, &err) < 0);
	assert_non_null(strstr(err.msg, "not a directory"));
	assert_int_equal(tbs_root_open(&root, dir, &err), 0);
	struct tbs_load_opts o = { .target = TBS_TO_NULL, .root = &root };
	struct tbs_load_result res;
	assert_int_equal(tbs_load("in.safetensors", &o, &res, &err), 0);
	tbs_load_result_free(&res);
	static const char *out[] = { "out.safetensors", "up.safetensors", "../outside.safetensors", "/etc/passwd" };
	for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
		if (tbs_load(out[i], &o, &res, &err) != -EACCES)
			fail_msg("%s: %s", out[i], err.msg);
		assert_non_null(strstr(err.msg, "resolves outside the directory"));
	}
	/* the manifest too */
	assert_int_equal(tbs_manifest_write(scratch("outside.safetensors"), &err), 0);
	char sum[4400];
	snprintf(sum, sizeof sum, "%s.tbsum", in);
	assert_int_equal(symlink("../outside.safetensors.tbsum", sum), 0);
	o.verify = true;
	assert_int_equal(tbs_load("in.safetensors", &o, &res, &err), -EACCES);
	tbs_root_close(&root);
}

/* Escapes decode to UTF-8 names; keys may come in any order. */
static void test_header_strings(void **state)
{
	(void)state;
	struct tbs_st st;
	struct tbs_error err = { 0 };
	const char *json = "{ \"a\\u00e9\\n\\\"\\ud83d\\ude00\\/\" : {\"shape\":[ 1 ],\"data_offsets\":[0, 1],"
			   "\"dtype\":\"U8\"},\"\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
	assert_int_equal(parse_json(json, 2, &st, &err), 0);
	assert_int_equal(st.count, 2);
	assert_string_equal(st.tensors[0].name, "a\xc3\xa9\n\"\xf0\x9f\x98\x80/");
	assert_string_equal(st.tensors[1].name, "\xc3\xa9");
	tbs_st_free(&st);
}

/* A file that is not a safetensors header (a secret, say) never comes back
 * in the error: not its first bytes as a length, not its JSON text. */
static void test_errors_hold_no_file_bytes(void **state)
{
	(void)state;
	static const char *files[] = {
		"TOPSECRET password hunter2\n",
		"\x20\0\0\0\0\0\0\0{\"SECRET\": hunter2 hunter2 hunter2}",
		"\x20\0\0\0\0\0\0\0{\"SECRET\":{\"dtype\":\"SECRETx\"}}        ",
		"\x20\0\0\0\0\0\0\0{\"SECRET\":{\"SECRET\":1}}             ",
		"\x20\0\0\0\0\0\0\0{\"SECRET\":{\"dtype\":\"F16\",\"shape\":[SECRET]}}",
		"\x20\0\0\0\0\0\0\0{\"__metadata__\":{\"SECRET\":SECRET}}   ",
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		const char *path = scratch("secret");
		struct tbs_st st;
		struct tbs_error err = { 0 };
		size_t len = i ? 8 + strlen(files[i] + 8) : strlen(files[i]);
		write_file(path, files[i], len);
		assert_true(tbs_st_open(path, &st, &err) < 0);
		if (strstr(err.msg, "SECRET") || strstr(err.msg, "hunter") || strstr(err.msg, "4995128901736877908") ||
		    strstr(err.msg, "TOP"))
			fail_msg("file %zu: the error repeats the file's bytes: %s", i, err.msg);
	}
}

/* Readers refuse what is not a regular file, without blocking on a FIFO. */
static void test_readers_refuse_special_files(void **state)
{
	(void)state;
	const char *fifo = scratch("fifo.safetensors");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	const char *special[] = { fifo, "/dev/zero", scratch("") };
	for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
		struct tbs_st st;
		struct tbs_error err = { 0 };
		struct tbs_load_result res;
		struct tbs_load_opts o = { .target = TBS_TO_NULL };
		struct tbs_manifest m;
		struct tbs_source *src;
		assert_true(tbs_st_open(special[i], &st, &err) < 0);
		assert_non_null(strstr(err.msg, "not a regular file"));
		assert_true(tbs_load(special[i], &o, &res, &err) < 0);
		assert_non_null(strstr(err.msg, "not a regular file"));
		assert_true(tbs_manifest_read(special[i], &m, &err) < 0);
		assert_non_null(strstr(err.msg, "not a regular file"));
		if (i == 0) {   /* a character device may be read as a source; a FIFO not */
			assert_true(tbs_source_open_file(&src, special[i], &err) < 0);
			assert_non_null(strstr(err.msg, "a FIFO, not a regular file"));
		}
	}
	/* a manifest that is a FIFO */
	const char *path = scratch("f.safetensors");
	size_t len;
	free(make_safetensors(path, "{}", 0, &len));
	char sum[4200];
	snprintf(sum, sizeof sum, "%s.tbsum", path);
	assert_int_equal(mkfifo(sum, 0600), 0);
	struct tbs_load_opts o = { .target = TBS_TO_NULL, .verify = true };
	struct tbs_load_result res;
	struct tbs_error err = { 0 };
	assert_true(tbs_load(path, &o, &res, &err) < 0);
	assert_non_null(strstr(err.msg, "a FIFO, not a regular file"));
	unlink(sum);
	unlink(fifo);
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
	/* Hashed on 1 to 5 threads, a good file verifies and, with a second bad
	 * chunk in the same slot, the first in file order is the one named. */
	file[2 * MIB + 4321] ^= 0x40;
	write_file(path, file, len);
	for (unsigned t = 1; t <= 5; t++) {
		struct tbs_load_opts ot = { .target = TBS_TO_NULL, .verify = true, .hash_threads = t };
		assert_int_equal(tbs_load(path, &ot, &res, &err), 0);
		assert_true(res.verified);
		tbs_load_result_free(&res);
	}
	file[1 * MIB + 5] ^= 1;
	file[3 * MIB + 5] ^= 1;
	write_file(path, file, len);
	for (unsigned t = 1; t <= 5; t++) {
		struct tbs_load_opts ot = { .target = TBS_TO_NULL, .verify = true, .hash_threads = t };
		assert_int_equal(tbs_load(path, &ot, &res, &err), -EBADMSG);
		if (!strstr(err.msg, "at offset 1048576,"))
			fail_msg("%u threads: %s", t, err.msg);
	}
	file[1 * MIB + 5] ^= 1;
	file[3 * MIB + 5] ^= 1;
	/* a file whose size changed does not match its manifest */
	write_file(path, file, len - 1);
	o.verify = true;
	assert_int_equal(tbs_load(path, &o, &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "the manifest is for a file of"));
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
	/* each claim is checked against the real files before anything is
	 * allocated for it */
	unsigned long long n = len, chunks = (n + 4095) / 4096;
	static const char *hdr = "tbsum 1 xxh3-64\n";
	char good[128];
	snprintf(good, sizeof good, "%ssize %llu\nchunk 4096\n", hdr, n);
	/* cases 0 to 4: the header text (after the first line, but for case
	 * 0); 5 to 7: a valid header, then the checksums spoilt */
	struct { char text[256]; const char *why; } bad[] = {
		{ "", "not a tbsum manifest" },
		{ "size 3abc\nchunk 4096\n", ":2: expected 'size BYTES'" },
		{ "size -1\nchunk 4096\n", ":2: expected 'size BYTES'" },
		/* 16 TiB: 4 G checksums were allocated for it (out of memory, an ASan abort) */
		{ "size 17592186044416\nchunk 4096\n", "for a file of 17592186044416 bytes, this one has" },
		{ "", ":3: the chunk size is not a power of two" },
		{ "", "checksums of 17 bytes need" },
		{ "", ":7: not hexadecimal" },
		{ "", ":2: expected a header line (at most 63 bytes a line)" },
	};
	snprintf(bad[0].text, sizeof bad[0].text, "nonsense\n");
	for (size_t i = 1; i < 4; i++) {
		char rest[200];
		snprintf(rest, sizeof rest, "%s", bad[i].text);
		snprintf(bad[i].text, sizeof bad[i].text, "%s%s", hdr, rest);
	}
	snprintf(bad[4].text, sizeof bad[4].text, "%ssize %llu\nchunk 1000\n", hdr, n);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t tl = strlen(bad[i].text);
		char *text = NULL;
		if (i >= 5) {   /* a valid header, then the checksums, spoilt */
			text = malloc(strlen(good) + chunks * 17 + 200);
			size_t at = (size_t)sprintf(text, "%s", good);
			for (unsigned long long c = 0; c < chunks - (i == 5); c++)
				at += (size_t)sprintf(text + at, "%016llx\n", c);
			if (i == 6)
				text[strlen(good) + 17 * 3 + 2] = 'g';
			if (i == 7)
				at = (size_t)sprintf(text, "%s%0200d\n", hdr, 1);
			tl = at;
		}
		write_file(sum, text ? text : bad[i].text, tl);
		free(text);
		struct tbs_manifest m;
		assert_int_equal(tbs_manifest_read(path, &m, &err), -EBADMSG);
		if (!strstr(err.msg, bad[i].why))
			fail_msg("case %zu: '%s' does not say '%s'", i, err.msg, bad[i].why);
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
		cmocka_unit_test(test_many_tensors_memory),
		cmocka_unit_test(test_good_header),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_header_strings),
		cmocka_unit_test(test_errors_hold_no_file_bytes),
		cmocka_unit_test(test_readers_refuse_special_files),
		cmocka_unit_test(test_host_load_and_verify),
		cmocka_unit_test(test_null_load_streams_in_order),
		cmocka_unit_test(test_corrupted_chunk_named),
		cmocka_unit_test(test_manifest_errors),
		cmocka_unit_test(test_root_confinement),
	};
	return cmocka_run_group_tests_name("storage load", tests, scratch_setup, scratch_teardown);
}
