/* The io_uring engine on plain files: short reads resubmitted, EAGAIN
 * retried, EINVAL and misaligned requests reported with offset, length and
 * alignment, truncated files, and the RLIMIT_MEMLOCK fallback. */
#include <errno.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/storage/util.h"

#define KIB 1024u
#define MIB (1024u * 1024)

struct fixture {
	struct tbs_source *src;
	struct tbs_reader *r;
	uint8_t *data, *out;
	size_t len, out_len;
};

static void fx_open(struct fixture *f, const char *name, size_t len, const struct tbs_reader_opts *o)
{
	struct tbs_error err = { 0 };
	f->len = len;
	f->data = random_bytes(len, len);
	write_file(scratch(name), f->data, len);
	assert_int_equal(tbs_source_open_file(&f->src, scratch(name), &err), 0);
	assert_int_equal(tbs_source_align(f->src) % 4096, 0);
	assert_int_equal(tbs_reader_open(&f->r, f->src, o, &err), 0);
	f->out_len = len + 2 * 4096;
	f->out = tbs_alloc(f->out_len);
}

static void fx_close(struct fixture *f)
{
	tbs_reader_close(f->r);
	tbs_source_close(f->src);
	tbs_free(f->out, f->out_len);
	free(f->data);
}

/* ---- short reads ---- */

struct shorts {
	unsigned seen, injected;
};

/* Every other completion of more than 12 KiB reports a third of it, not a
 * multiple of the block size, as a short read would. */
static int cut_short(void *ctx, unsigned member, uint64_t off, uint32_t len, int res)
{
	struct shorts *s = ctx;
	(void)member, (void)off, (void)len;
	if (res >= 12 * 1024 && s->seen++ % 2 == 0) {
		s->injected++;
		return res / 3 + 100;
	}
	return res;
}

static void test_short_reads_resubmitted(void **state)
{
	(void)state;
	struct shorts s = { 0 };
	struct fixture f;
	fx_open(&f, "short", 4 * MIB + 12345, &(struct tbs_reader_opts){ .io_size = 256 * KIB, .fault = cut_short,
									 .fault_ctx = &s });
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_reader_register(f.r, f.out, f.out_len, &err), 0);
	assert_int_equal(tbs_read(f.r, f.out, 0, f.len, &err), 0);
	assert_true(s.injected >= 16);
	assert_memory_equal(f.out, f.data, f.len);
	fx_close(&f);
}

/* A file that shrinks after it was opened: the read fails with where. */
static void test_truncated_file(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f, "trunc", 1 * MIB, NULL);
	assert_int_equal(truncate(scratch("trunc"), 300 * KIB + 123), 0);
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_read(f.r, f.out, 0, f.len, &err), -EIO);
	assert_non_null(strstr(err.msg, "unexpected end of data at offset 307200"));
	assert_non_null(strstr(err.msg, "truncated"));
	fx_close(&f);
}

/* The last block of a file need not be whole. */
static void test_unaligned_tail(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f, "tail", 10000, NULL);
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_source_size(f.src), 10000);
	assert_int_equal(tbs_read(f.r, f.out, 0, 10000, &err), 0);
	assert_memory_equal(f.out, f.data, 10000);
	assert_int_equal(tbs_read(f.r, f.out, 8192, 10000 - 8192, &err), 0);
	assert_memory_equal(f.out, f.data + 8192, 10000 - 8192);
	fx_close(&f);
}

/* ---- EAGAIN and EINVAL ---- */

static int eagain_left;

static int busy(void *ctx, unsigned member, uint64_t off, uint32_t len, int res)
{
	(void)ctx, (void)member, (void)off, (void)len;
	if (eagain_left > 0) {
		eagain_left--;
		return -EAGAIN;
	}
	return eagain_left < 0 ? -EAGAIN : res;
}

static void test_eagain_retried(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f, "again", 2 * MIB, &(struct tbs_reader_opts){ .io_size = 128 * KIB, .fault = busy });
	struct tbs_error err = { 0 };
	eagain_left = 40;
	assert_int_equal(tbs_read(f.r, f.out, 0, f.len, &err), 0);
	assert_int_equal(eagain_left, 0);
	assert_memory_equal(f.out, f.data, f.len);
	/* a device that never stops saying EAGAIN fails, eventually and clearly */
	eagain_left = -1;
	assert_int_equal(tbs_read(f.r, f.out, 0, 128 * KIB, &err), -EAGAIN);
	assert_non_null(strstr(err.msg, "EAGAIN"));
	eagain_left = 0;
	fx_close(&f);
}

static int einval_at_64k(void *ctx, unsigned member, uint64_t off, uint32_t len, int res)
{
	(void)ctx, (void)member, (void)len;
	return off == 64 * KIB ? -EINVAL : res;
}

static void test_kernel_einval_reported(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f, "einval", 256 * KIB, &(struct tbs_reader_opts){ .io_size = 64 * KIB, .fault = einval_at_64k });
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_read(f.r, f.out, 0, f.len, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "offset 65536, length 65536"));
	assert_non_null(strstr(err.msg, "alignment 4096"));
	fx_close(&f);
}

static void test_misaligned_requests(void **state)
{
	(void)state;
	struct fixture f;
	fx_open(&f, "mis", 256 * KIB + 100, NULL);
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_read(f.r, f.out, 100, 4096, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "offset 100, length 4096"));
	assert_non_null(strstr(err.msg, "multiples of 4096"));
	assert_int_equal(tbs_read(f.r, f.out + 512, 0, 4096, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "misaligned"));
	assert_int_equal(tbs_read(f.r, f.out, 0, 5000, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "length 5000"));
	assert_int_equal(tbs_read(f.r, f.out, 256 * KIB, 8192, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "beyond its end"));
	/* and the engine is still usable afterwards */
	assert_int_equal(tbs_read(f.r, f.out, 0, f.len, &err), 0);
	assert_memory_equal(f.out, f.data, f.len);
	fx_close(&f);
}

/* ---- RLIMIT_MEMLOCK ---- */

struct warned {
	char msg[512];
	int count;
};

static void catch_warning(void *ctx, const char *msg)
{
	struct warned *w = ctx;
	snprintf(w->msg, sizeof w->msg, "%s", msg);
	w->count++;
}

/* Root (CAP_IPC_LOCK) is exempt from RLIMIT_MEMLOCK, so the child drops
 * that capability before lowering the limit: then registering 8 MiB must
 * fail, warn once, and reads must still be right. */
static int memlock_child(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2];
	if (syscall(SYS_capget, &hdr, caps) < 0)
		return 10;
	caps[0].effective &= ~(1u << CAP_IPC_LOCK);
	if (syscall(SYS_capset, &hdr, caps) < 0)
		return 11;
	struct rlimit rl = { 64 * KIB, 64 * KIB };
	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return 12;
	struct warned w = { 0 };
	struct fixture f;
	fx_open(&f, "memlock", 8 * MIB, &(struct tbs_reader_opts){ .warn = catch_warning, .warn_ctx = &w });
	struct tbs_error err = { 0 };
	int rc = 0;
	if (tbs_reader_register(f.r, f.out, f.out_len, &err) != 0)
		rc = 13;
	else if (tbs_reader_registered(f.r))
		rc = 14;
	else if (w.count != 1 || !strstr(w.msg, "RLIMIT_MEMLOCK") || !strstr(w.msg, "unregistered"))
		rc = 15;
	else if (tbs_read(f.r, f.out, 0, f.len, &err) != 0 || memcmp(f.out, f.data, f.len))
		rc = 16;
	fx_close(&f);
	return rc;
}

static void test_memlock_fallback(void **state)
{
	(void)state;
	/* control: with the limit untouched, registration works */
	struct fixture f;
	fx_open(&f, "nolimit", 1 * MIB, NULL);
	struct tbs_error err = { 0 };
	assert_int_equal(tbs_reader_register(f.r, f.out, 1 * MIB, &err), 0);
	assert_true(tbs_reader_registered(f.r));
	assert_int_equal(tbs_read(f.r, f.out, 0, f.len, &err), 0);
	assert_memory_equal(f.out, f.data, f.len);
	fx_close(&f);

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(memlock_child());
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("memlock child failed check %d", WEXITSTATUS(status));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_reads_resubmitted),
		cmocka_unit_test(test_truncated_file),
		cmocka_unit_test(test_unaligned_tail),
		cmocka_unit_test(test_eagain_retried),
		cmocka_unit_test(test_kernel_einval_reported),
		cmocka_unit_test(test_misaligned_requests),
		cmocka_unit_test(test_memlock_fallback),
	};
	return cmocka_run_group_tests_name("storage engine", tests, scratch_setup, scratch_teardown);
}
