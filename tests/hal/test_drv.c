/* libtbdrv's queues on the simulated box, where the HAL cannot reach:
 * kernel arguments retired on completion (the box's CP reports packets
 * consumed as soon as it has fetched them, as the hardware does), the
 * grid, block and scratch limits, signals of another GPU, 64-bit waits,
 * and a crafted code object whose scratch size the hardware cannot take.
 * Usage (inside `tb sim run`): test_drv CODE_OBJECT HUGE_SCRATCH_CODE_OBJECT.
 * Prints TAP. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "driver/tbdrv.h"
#include "tests/tap.h"

enum { N = 1024, TIMEOUT_MS = 20000 };

struct add_args {
	uint64_t a, b, c;
	uint32_t n;
};

struct fixture {
	struct tb_gpu *gpu;
	struct tb_program *prog;
	const struct tb_kernel *add;
	struct tb_queue *q;
	struct tb_signal *done;
	struct tb_bo *a, *b;
};

static int setup(int index, const char *co_path, struct fixture *f)
{
	char err[256] = "";
	struct tb_codeobj *co = NULL;
	memset(f, 0, sizeof *f);
	int rc = tb_gpu_open(index, &f->gpu, err, sizeof err);
	rc = rc ? rc : tb_codeobj_load_file(co_path, &co, err, sizeof err);
	rc = rc ? rc : tb_program_load(f->gpu, co, &f->prog);
	if (rc && co && !f->prog)
		tb_codeobj_free(co);
	rc = rc ? rc : (f->add = tb_codeobj_kernel(f->prog->co, "add")) ? 0 : -ENOENT;
	rc = rc ? rc : tb_queue_create(f->gpu, TB_QUEUE_COMPUTE, &f->q);
	rc = rc ? rc : tb_signal_create(f->gpu, 0, &f->done);
	rc = rc ? rc : tb_bo_alloc(f->gpu, N * 4, TB_MEM_HOST, &f->a);
	rc = rc ? rc : tb_bo_alloc(f->gpu, N * 4, TB_MEM_HOST, &f->b);
	if (rc)
		printf("# GPU %d: %s (%s)\n", index, strerror(-rc), err);
	for (int i = 0; rc == 0 && i < N; i++) {
		((float *)f->a->cpu)[i] = (float)i;
		((float *)f->b->cpu)[i] = 0.5f;
	}
	return rc;
}

static void teardown(struct fixture *f)
{
	tb_bo_free(f->a);
	tb_bo_free(f->b);
	tb_signal_destroy(f->done);
	tb_queue_destroy(f->q);
	tb_program_free(f->prog);
	tb_gpu_close(f->gpu);
}

static struct add_args args_to(const struct fixture *f, const struct tb_bo *c)
{
	return (struct add_args){ f->a->va, f->b->va, c->va, N };
}

static int right(const struct tb_bo *c)
{
	const float *p = c->cpu;
	for (int i = 0; i < N; i++)
		if (p[i] != (float)i + 0.5f)
			return 0;
	return 1;
}

struct release {
	struct tb_signal *gate;
	int ms;
};

static void *release_later(void *arg)
{
	struct release *r = arg;
	struct timespec ts = { r->ms / 1000, (long)(r->ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
	tb_signal_set(r->gate, 1);
	return NULL;
}

/* Two dispatches whose argument blocks each take most of the kernarg ring:
 * the second must reuse the first's space.  The first waits behind a gate,
 * so the CP has fetched it (read pointer past it) but not run it when the
 * second is queued; a driver that reused the space on the read pointer
 * would hand the first dispatch the second's arguments. */
static void test_kernarg_retire(struct fixture *f)
{
	struct tb_kernel big = *f->add;
	big.kernarg_size = 640 * 1024;	/* the same code with a larger argument segment */
	struct tb_bo *c0 = NULL, *c1 = NULL;
	struct tb_signal *gate = NULL;
	int rc = tb_bo_alloc(f->gpu, N * 4, TB_MEM_HOST, &c0);
	rc = rc ? rc : tb_bo_alloc(f->gpu, N * 4, TB_MEM_HOST, &c1);
	rc = rc ? rc : tb_signal_create(f->gpu, 0, &gate);
	if (rc) {
		check(0, "kernarg test setup (%d)", rc);
		return;
	}
	memset(c0->cpu, 0xff, N * 4);
	memset(c1->cpu, 0xff, N * 4);
	uint32_t grid[3] = { N, 1, 1 }, block[3] = { 64, 1, 1 };
	struct add_args a0 = args_to(f, c0), a1 = args_to(f, c1);
	rc = tb_queue_wait(f->q, gate, 1);
	rc = rc ? rc : tb_queue_dispatch(f->q, f->prog, &big, &a0, sizeof a0, grid, block);
	rc = rc ? rc : tb_queue_signal(f->q, f->done, 1);
	rc = rc ? rc : tb_queue_submit(f->q);
	struct release r = { gate, 300 };
	pthread_t t;
	int started = rc == 0 && pthread_create(&t, NULL, release_later, &r) == 0;
	rc = rc ? rc : tb_queue_dispatch(f->q, f->prog, &big, &a1, sizeof a1, grid, block);
	rc = rc ? rc : tb_queue_signal(f->q, f->done, 2);
	rc = rc ? rc : tb_queue_submit(f->q);
	rc = rc ? rc : tb_signal_wait(f->done, 2, TIMEOUT_MS);
	if (started)
		pthread_join(t, NULL);
	check(rc == 0 && right(c0) && right(c1),
	      "kernel arguments are reused only after their dispatch completed, not when the CP fetched it "
	      "(rc %d, first output %s, second %s)", rc, right(c0) ? "right" : "wrong", right(c1) ? "right" : "wrong");
	tb_signal_destroy(gate);
	tb_bo_free(c0);
	tb_bo_free(c1);
}

static void test_limits(struct fixture *f)
{
	struct tb_bo *c = f->a;
	struct add_args a = args_to(f, c);
	uint32_t block[3] = { 64, 1, 1 };
	uint32_t huge[3] = { 0xffffffffu, 2, 1 };
	int rc = tb_queue_dispatch(f->q, f->prog, f->add, &a, sizeof a, huge, block);
	check(rc == -EINVAL, "a grid of more than 2^32 - 1 work-items is refused (%d)", rc);
	uint32_t minus_one[3] = { 0xffffffffu, 1, 1 }, block_max[3] = { 256, 1, 1 };
	struct tb_kernel small = *f->add;
	small.max_flat_workgroup_size = 64;
	uint32_t grid[3] = { 1024, 1, 1 }, b128[3] = { 128, 1, 1 };
	rc = tb_queue_dispatch(f->q, f->prog, &small, &a, sizeof a, grid, b128);
	check(rc == -EINVAL, "a block over the kernel's max_flat_workgroup_size is refused (%d)", rc);
	/* 2^27 bytes per work-item: x 32 is 2^32, 0 in 32-bit arithmetic */
	struct tb_kernel scratchy = *f->add;
	scratchy.private_segment_size = 1u << 27;
	rc = tb_queue_dispatch(f->q, f->prog, &scratchy, &a, sizeof a, grid, block);
	check(rc == -E2BIG, "scratch that COMPUTE_TMPRING_SIZE cannot describe is refused, not wrapped (%d)", rc);
	/* the hidden block count of a 2^32 - 1 grid, computed in 64 bits, is
	 * 2^26: the dispatch is accepted, never run (the batch is dropped) */
	struct tb_queue *q2;
	rc = tb_queue_create(f->gpu, TB_QUEUE_COMPUTE, &q2);
	int drc = rc ? rc : tb_queue_dispatch(q2, f->prog, f->add, &a, sizeof a, minus_one, block_max);
	check(drc == 0, "the largest grid the hardware takes is accepted (%d)", drc);
	tb_queue_destroy(q2);
	struct tb_kernel dyn = *f->add;
	struct tb_kernel_arg args[8];
	memcpy(args, f->add->args, sizeof args[0] * (f->add->nargs < 8 ? f->add->nargs : 8));
	args[1].kind = TB_ARG_DYNAMIC_SHARED_POINTER;
	dyn.args = args;
	dyn.nargs = f->add->nargs < 8 ? f->add->nargs : 8;
	rc = tb_queue_dispatch(f->q, f->prog, &dyn, &a, sizeof a, grid, block);
	check(rc == -EOPNOTSUPP, "a kernel with a dynamic shared-memory argument is refused (%d)", rc);
}

/* Waits compare all 64 bits on compute queues; copy queues refuse what
 * their 32-bit poll cannot compare. */
static void test_wide_waits(struct fixture *f)
{
	const uint64_t high = (1ull << 32) + 5;
	struct tb_signal *s;
	struct tb_queue *copy = NULL;
	int rc = tb_signal_create(f->gpu, 5, &s);
	uint64_t v = tb_signal_value(f->done) + 1;
	rc = rc ? rc : tb_queue_wait(f->q, s, high);
	rc = rc ? rc : tb_queue_signal(f->q, f->done, v);
	rc = rc ? rc : tb_queue_submit(f->q);
	int early = rc ? rc : tb_signal_wait(f->done, v, 300);
	tb_signal_set(s, high);
	rc = rc ? rc : tb_signal_wait(f->done, v, TIMEOUT_MS);
	check(early == -ETIMEDOUT && rc == 0,
	      "a wait for 2^32 + 5 holds while the signal is at 5 and ends when it gets there (%d, %d)", early, rc);
	rc = tb_queue_create(f->gpu, TB_QUEUE_COPY, &copy);
	rc = rc ? rc : tb_queue_wait(copy, s, high);
	check(rc == -ERANGE, "a copy queue refuses a wait value above 32 bits (%d)", rc);
	tb_queue_destroy(copy);
	tb_signal_destroy(s);
}

static void test_cross_gpu(struct fixture *f0, struct fixture *f1)
{
	int rc = tb_queue_signal(f1->q, f0->done, 1);
	int wrc = tb_queue_wait(f1->q, f0->done, 1);
	check(rc == -EINVAL && wrc == -EINVAL, "a signal of GPU 0 on a queue of GPU 1 is refused (%d, %d)", rc, wrc);
}

/* 2^27 + 64 bytes of scratch per work-item, in both the descriptor and the
 * metadata: refused when the code object is parsed, before a queue could
 * size scratch from it (x 32 lanes would wrap to 2048 in 32 bits). */
static void test_huge_scratch(const char *path)
{
	char err[256] = "";
	struct tb_codeobj *co = NULL;
	int rc = tb_codeobj_load_file(path, &co, err, sizeof err);
	check(rc == -ENOEXEC && strstr(err, "huge_scratch: 134217792 bytes of scratch per work-item"),
	      "a code object claiming 2^27 + 64 bytes of scratch per work-item is refused at parse time (%d: %s)", rc,
	      err);
	if (rc == 0)
		tb_codeobj_free(co);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_drv CODE_OBJECT HUGE_SCRATCH_CODE_OBJECT\n");
		return 2;
	}
	struct fixture f0, f1;
	int rc0 = setup(0, argv[1], &f0), rc1 = setup(1, argv[1], &f1);
	check(rc0 == 0 && rc1 == 0, "GPUs 0 and 1 open with a program, a queue and a signal (%d, %d)", rc0, rc1);
	if (rc0 == 0 && rc1 == 0) {
		test_kernarg_retire(&f0);
		test_limits(&f0);
		test_wide_waits(&f0);
		test_cross_gpu(&f0, &f1);
	}
	test_huge_scratch(argv[2]);
	teardown(&f1);
	teardown(&f0);
	return tap_done();
}
