/* libtbdrv's failure state under ThreadSanitizer, on the simulated box:
 * several threads wait on a GPU whose queue never progresses (it waits on a
 * gate no one opens), so that the driver declares the hang from one of
 * them while the others poll, wait and read the GPU's failure text.  Built
 * with -fsanitize=thread together with the driver's sources (the rest of
 * the tree is not), and run inside `tb sim run`, whose preload must find
 * libc's functions without calls ThreadSanitizer intercepts before it has
 * initialised.  Every report ThreadSanitizer makes is counted and fails a
 * check.  Usage: test_drv_threads CODE_OBJECT.  Prints TAP. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "driver/tbdrv.h"
#include "tests/tap.h"

enum { WAITERS = 4, POLL_MS = 20, HANG_MS = 300, GIVE_UP_MS = 20000 };

static const char HANG_CAUSE[] = "hang: compute queue";

/* ThreadSanitizer calls this for every report it prints (a data race, a
 * lock-order inversion...): the check below fails on any. */
static int tsan_reports;
void __tsan_on_report(void *report);
void __tsan_on_report(void *report)
{
	(void)report;
	__atomic_add_fetch(&tsan_reports, 1, __ATOMIC_RELAXED);
}

struct waiter {
	struct tb_gpu *gpu;
	struct tb_signal *done;
	pthread_t thread;
	int rc;			/* the last wait's */
	int reads, torn;	/* failure texts read; read without the cause whole */
};

/* A failure text is read whole: it starts with the one cause there is. */
static void read_failure(struct waiter *w)
{
	const char *f = tb_gpu_failure(w->gpu);
	if (!f)
		return;
	w->reads++;
	w->torn += strncmp(f, HANG_CAUSE, strlen(HANG_CAUSE)) != 0;
}

static void *wait_until_failed(void *arg)
{
	struct waiter *w = arg;
	for (int spent = 0; spent < GIVE_UP_MS; spent += POLL_MS) {
		w->rc = tb_signal_wait(w->done, 1, POLL_MS);
		read_failure(w);
		if (w->rc != -ETIMEDOUT)
			break;
	}
	/* the failure stays: more reads while the others still wait */
	for (int i = 0; i < 100; i++)
		read_failure(w);
	return NULL;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void run(struct tb_gpu *gpu, struct tb_program *prog, const struct tb_kernel *add)
{
	struct tb_queue *q = NULL;
	struct tb_signal *gate = NULL, *done = NULL;
	struct tb_bo *buf = NULL;
	int rc = tb_queue_create(gpu, TB_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tb_signal_create(gpu, 0, &gate);
	rc = rc ? rc : tb_signal_create(gpu, 0, &done);
	rc = rc ? rc : tb_bo_alloc(gpu, 4096, TB_MEM_HOST, &buf);
	/* work outstanding that cannot progress: it waits for a gate that stays shut */
	struct { uint64_t a, b, c; uint32_t n; } args = { buf ? buf->va : 0, buf ? buf->va : 0, buf ? buf->va : 0, 64 };
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	rc = rc ? rc : tb_queue_wait(q, gate, 1);
	rc = rc ? rc : tb_queue_dispatch(q, prog, add, &args, sizeof args, grid, block);
	rc = rc ? rc : tb_queue_signal(q, done, 1);
	rc = rc ? rc : tb_queue_submit(q);
	check(rc == 0, "a queue waiting on a shut gate is submitted (%s)", rc ? strerror(-rc) : "ok");
	if (rc == 0) {
		tb_gpu_set_hang_timeout(gpu, HANG_MS);
		struct waiter w[WAITERS];
		int started = 0;
		for (int i = 0; i < WAITERS; i++) {
			w[i] = (struct waiter){ .gpu = gpu, .done = done, .rc = -ETIMEDOUT };
			if (pthread_create(&w[i].thread, NULL, wait_until_failed, &w[i]) != 0)
				break;
			started++;
		}
		int failed = 0, reads = 0, torn = 0;
		for (int i = 0; i < started; i++) {
			pthread_join(w[i].thread, NULL);
			failed += w[i].rc == -EIO;
			reads += w[i].reads;
			torn += w[i].torn;
		}
		check(started == WAITERS && failed == WAITERS,
		      "all %d waiters see the GPU fail (-EIO) once the driver declares the hang (%d of %d did)",
		      WAITERS, failed, started);
		const char *f = tb_gpu_failure(gpu);
		check(f && count_of(f, HANG_CAUSE) == 1, "the failure names the hang once, whichever thread declared it (%s)",
		      f ? f : "no failure");
		check(reads > 0 && torn == 0, "every failure text the waiters read is whole (%d read, %d torn)", reads, torn);
	}
	tb_bo_free(buf);
	tb_signal_destroy(done);
	tb_signal_destroy(gate);
	tb_queue_destroy(q);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_drv_threads CODE_OBJECT\n");
		return 2;
	}
	char err[256] = "";
	struct tb_gpu *gpu = NULL;
	struct tb_codeobj *co = NULL;
	struct tb_program *prog = NULL;
	const struct tb_kernel *add = NULL;
	int rc = tb_gpu_open(0, &gpu, err, sizeof err);
	rc = rc ? rc : tb_codeobj_load_file(argv[1], &co, err, sizeof err);
	rc = rc ? rc : tb_program_load(gpu, co, &prog);
	if (rc && co && !prog)
		tb_codeobj_free(co);
	rc = rc ? rc : (add = tb_codeobj_kernel(prog->co, "add")) ? 0 : -ENOENT;
	check(rc == 0, "GPU 0 opens and the test kernel loads (%s %s)", rc ? strerror(-rc) : "ok", err);
	if (rc == 0)
		run(gpu, prog, add);
	tb_program_free(prog);
	if (gpu)
		tb_gpu_close(gpu);
	check(__atomic_load_n(&tsan_reports, __ATOMIC_RELAXED) == 0,
	      "ThreadSanitizer reports no data race in the driver (%d reports)", tsan_reports);
	return tap_done();
}
