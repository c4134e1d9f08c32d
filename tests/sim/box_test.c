/* The driver on the simulated box, end to end: discovery, memory, PM4
 * dispatches of real gfx1100 code, signals and interrupts, SDMA copies,
 * timestamps, a GPU page fault, every GPU at once, and the kernel
 * interface's answers to bad arguments.
 *
 * Usage (inside `tb sim run`):
 *   box_test CODE_OBJECT TB     everything; TB is the tb command, for faults
 *   box_test CODE_OBJECT work GPU ROUNDS
 *                               a worker: vector adds on one GPU (several
 *                               workers run at once in the two-process test)
 * Prints TAP. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <amdgpu.h>
#include <amdgpu_drm.h>
#include <linux/kfd_ioctl.h>

#include "driver/tbdrv.h"
#include "tests/tap.h"


static const char *co_path, *tb_path;
enum { TIMEOUT_MS = 20000 };

struct fixture {
	struct tb_gpu *gpu;
	struct tb_program *prog;
	struct tb_queue *compute, *copy;
	struct tb_signal *sig;
	uint64_t next;
};

static int setup(int index, struct fixture *f)
{
	char err[256] = "";
	memset(f, 0, sizeof *f);
	int rc = tb_gpu_open(index, &f->gpu, err, sizeof err);
	if (rc < 0) {
		printf("# open GPU %d: %s\n", index, err);
		return rc;
	}
	struct tb_codeobj *co;
	if ((rc = tb_codeobj_load_file(co_path, &co, err, sizeof err)) < 0) {
		printf("# %s\n", err);
		return rc;
	}
	if ((rc = tb_program_load(f->gpu, co, &f->prog)) < 0) {
		tb_codeobj_free(co);
		return rc;
	}
	if ((rc = tb_queue_create(f->gpu, TB_QUEUE_COMPUTE, &f->compute)) < 0 ||
	    (rc = tb_queue_create(f->gpu, TB_QUEUE_COPY, &f->copy)) < 0 || (rc = tb_signal_create(f->gpu, 0, &f->sig)) < 0)
		return rc;
	return 0;
}

static void teardown(struct fixture *f);

/* setup, undone when it fails half-way */
static int start(int index, struct fixture *f)
{
	int rc = setup(index, f);
	if (rc < 0) {
		printf("# GPU %d setup: %s\n", index, strerror(-rc));
		teardown(f);
	}
	return rc;
}

static void teardown(struct fixture *f)
{
	tb_signal_destroy(f->sig);
	tb_queue_destroy(f->copy);
	tb_queue_destroy(f->compute);
	tb_program_free(f->prog);
	tb_gpu_close(f->gpu);
	memset(f, 0, sizeof *f);
}

/* Signal the fixture's timeline from q after what was queued, submit, wait. */
static int finish(struct fixture *f, struct tb_queue *q)
{
	uint64_t v = ++f->next;
	int rc = tb_queue_signal(q, f->sig, v);
	if (rc == 0)
		rc = tb_queue_submit(q);
	if (rc == 0)
		rc = tb_signal_wait(f->sig, v, TIMEOUT_MS);
	return rc;
}

static const struct tb_kernel *kernel(struct fixture *f, const char *name)
{
	return tb_codeobj_kernel(f->prog->co, name);
}


/* tb sim fault ARGS, from inside the box (the control socket is reachable). */
static int inject(const char *args)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "%s sim fault %s >/dev/null", tb_path, args);
	return system(cmd);
}

static int run_add(struct fixture *f, int n, float scale)
{
	struct tb_bo *buf;
	int rc = tb_bo_alloc(f->gpu, (uint64_t)n * 4, TB_MEM_HOST, &buf);
	if (rc < 0)
		return rc;
	float *p = buf->cpu;
	for (int k = 0; k < n; k++)
		p[k] = scale * (float)k;
	struct { uint64_t a, b, c; uint32_t n; } args = { buf->va, buf->va, buf->va, (uint32_t)n };
	uint32_t grid[3] = { (uint32_t)((n + 63) / 64 * 64), 1, 1 }, block[3] = { 64, 1, 1 };
	rc = tb_queue_dispatch(f->compute, f->prog, kernel(f, "add"), &args, sizeof args, grid, block);
	rc = rc ? rc : finish(f, f->compute);
	for (int k = 0; rc == 0 && k < n; k++)
		if (p[k] != 2.0f * scale * (float)k)
			rc = -EBADMSG;
	tb_bo_free(buf);
	return rc;
}

/* SDMA between the VRAM of two GPUs and host memory: GPU 0's engine writes
 * into GPU 1's VRAM (mapped on GPU 0), GPU 1's engine copies it back out. */
static void test_peer_copy(void)
{
	struct fixture a, b;
	if (start(0, &a) < 0 || start(1, &b) < 0) {
		check(0, "two GPUs for the peer copy");
		teardown(&a);
		return;
	}
	enum { BYTES = 3 << 20 };
	struct tb_bo *src, *peer_vram, *dst;
	int rc = tb_bo_alloc(a.gpu, BYTES, TB_MEM_HOST, &src);
	rc = rc ? rc : tb_bo_alloc(b.gpu, BYTES, TB_MEM_VRAM, &peer_vram);
	rc = rc ? rc : tb_bo_alloc(b.gpu, BYTES, TB_MEM_HOST, &dst);
	rc = rc ? rc : tb_bo_map(peer_vram, a.gpu);
	check(rc == 0, "GPU 1's VRAM maps into GPU 0's address space (%d)", rc);
	if (rc == 0) {
		uint32_t *s = src->cpu;
		for (uint32_t i = 0; i < BYTES / 4; i++)
			s[i] = i ^ 0x5a5a5a5au;
		memset(dst->cpu, 0, BYTES);
		rc = tb_queue_copy(a.copy, peer_vram->va, src->va, BYTES);
		rc = rc ? rc : finish(&a, a.copy);
		rc = rc ? rc : tb_queue_copy(b.copy, dst->va, peer_vram->va, BYTES);
		rc = rc ? rc : finish(&b, b.copy);
		check(rc == 0 && !memcmp(src->cpu, dst->cpu, BYTES),
		      "SDMA: host -> peer VRAM on GPU 0's engine, peer VRAM -> host on GPU 1's, contents intact (%d)", rc);
	}
	tb_bo_free(src);
	tb_bo_free(peer_vram);
	tb_bo_free(dst);
	teardown(&b);
	teardown(&a);
}

/* An unknown PM4 opcode faults its queue only. */
static void test_bad_packet(void)
{
	struct fixture f, other;
	if (start(2, &f) < 0 || start(3, &other) < 0) {
		check(0, "GPUs for the bad-packet test");
		teardown(&f);
		return;
	}
	uint32_t junk[2] = { 3u << 30 | 0u << 16 | 0xeeu << 8, 0 };
	int rc = tb_queue_raw(f.compute, junk, 2);
	rc = rc ? rc : finish(&f, f.compute);
	const char *why = tb_gpu_failure(f.gpu);
	check(rc == -EIO && why && strstr(why, "hardware exception"),
	      "an unknown PM4 opcode stops the queue with a hw-exception event (rc %d: %s)", rc, why ? why : "none");
	check(run_add(&other, 1000, 1.0f) == 0, "another GPU of the same process keeps working");
	teardown(&other);
	teardown(&f);
}

/* A hung queue: waits time out; destroying it resets the GPU as amdgpu does
 * (the process hears of it); the GPU works again afterwards. */
static void test_hang_and_recover(void)
{
	struct fixture f;
	if (start(3, &f) < 0) {
		check(0, "GPU 3 for the hang test");
		return;
	}
	int rc = run_add(&f, 256, 1.0f);
	check(rc == 0 && inject("3 hang") == 0, "a queue that ran work is hung by the fault (%d)", rc);
	struct { uint64_t a, b, c; uint32_t n; } args = { 0, 0, 0, 0 };
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	uint64_t v = ++f.next;
	rc = tb_queue_dispatch(f.compute, f.prog, kernel(&f, "add"), &args, sizeof args, grid, block);
	rc = rc ? rc : tb_queue_signal(f.compute, f.sig, v);
	rc = rc ? rc : tb_queue_submit(f.compute);
	rc = rc ? rc : tb_signal_wait(f.sig, v, 1500);
	const char *why = tb_gpu_failure(f.gpu);
	check(rc == -ETIMEDOUT && !why, "a wait on the hung queue times out instead of hanging; a timeout fails nothing (%d: %s)",
	      rc, why ? why : "none");
	/* the driver declares the hang from the queue's lack of progress */
	tb_gpu_set_hang_timeout(f.gpu, 500);
	rc = tb_signal_wait(f.sig, v, 20000);
	why = tb_gpu_failure(f.gpu);
	check(rc == -EIO && why && strstr(why, "hang: compute queue"),
	      "the queue's lack of progress is declared a hang, and the GPU is marked failed (%d: %s)", rc,
	      why ? why : "none");
	/* taking the queue down makes the kernel reset the GPU */
	tb_queue_destroy(f.compute);
	f.compute = NULL;
	/* the failed GPU's waits end at once; the reset's event is still told */
	struct tb_signal *other;
	rc = tb_signal_create(f.gpu, 0, &other);
	for (int i = 0; i < 30 && rc == 0 && !strstr(tb_gpu_failure(f.gpu), "reset"); i++)
		tb_signal_wait(other, 1, 100);
	tb_signal_destroy(other);
	why = tb_gpu_failure(f.gpu);
	check(why && strstr(why, "reset"), "the reset reaches the process as a hw exception (%s)", why ? why : "none");
	teardown(&f);
	rc = start(3, &f);
	rc = rc ? rc : run_add(&f, 4096, 3.0f);
	check(rc == 0, "after the reset the GPU runs work again (%d)", rc);
	teardown(&f);
}

/* VRAM has no ECC on this board: a flipped bit is silent, only the data shows it. */
static void test_bitflip(void)
{
	struct fixture f;
	if (start(5, &f) < 0) {
		check(0, "GPU 5 for the bit-flip test");
		return;
	}
	struct tb_bo *bo;
	/* the first 2 MiB VRAM buffer of an idle GPU lands at VRAM offset 0 */
	teardown(&f);
	char err[256];
	struct tb_gpu *g;
	int rc = tb_gpu_open(5, &g, err, sizeof err);
	rc = rc ? rc : tb_bo_alloc(g, 2 << 20, TB_MEM_VRAM, &bo);
	if (rc) {
		check(0, "a VRAM buffer on GPU 5 (%d)", rc);
		tb_gpu_close(g);
		return;
	}
	memset(bo->cpu, 0x33, 2 << 20);
	rc = inject("5 vram-bitflip 0x1000");
	const uint8_t *p = bo->cpu;
	int diffs = 0, where = -1;
	for (int i = 0; i < 2 << 20; i++)
		if (p[i] != 0x33) {
			diffs++;
			where = i;
		}
	check(rc == 0 && diffs == 1 && where == 0x1000 && p[0x1000] == 0x32,
	      "a flipped VRAM bit shows in the data only (%d bytes differ, at 0x%x)", diffs, where);
	/* the same VRAM through the BAR: sysfs resource0 maps all 24 GiB */
	int fd = open("/sys/bus/pci/devices/0000:a3:00.0/resource0", O_RDWR | O_CLOEXEC);
	uint8_t *bar = fd >= 0 ? mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	check(bar != MAP_FAILED && bar[0x1000] == 0x32 && bar[0] == 0x33,
	      "BAR0 (sysfs resource0) maps the GPU's VRAM: the buffer's bytes are there");
	if (bar != MAP_FAILED) {
		bar[4] = 0x77;	/* a write through the BAR is a write to VRAM */
		check(p[4] == 0x77, "a write through BAR0 lands in the buffer");
		munmap(bar, 8192);
	}
	if (fd >= 0)
		close(fd);
	/* a stuck bit: set at once, and set again whatever is written before
	 * the next packet runs; cleared by tb sim fault clear */
	uint8_t *w = bo->cpu;
	memset(w + 0x2000, 0x44, 64);
	rc = inject("5 vram-stuck 0x2000 2 16");
	check(rc == 0 && w[0x2000] == 0x45 && w[0x2010] == 0x45 && w[0x2020] == 0x44 && w[0x2001] == 0x44,
	      "vram-stuck: bit 0 of the two bytes named reads 1 (0x%x 0x%x 0x%x)", w[0x2000], w[0x2010], w[0x2020]);
	int refused = (inject("5 vram-stuck 0 65537 2>/dev/null") != 0) + (inject("5 vram-stuck 0x600000000 2>/dev/null") != 0);
	w[0x2000] = 0x44;
	for (int i = 0; i < 7; i++)	/* each new range sets every stuck cell again */
		inject("5 vram-stuck 0x3000");
	check(w[0x2000] == 0x45, "a stuck bit written 0 reads 1 again (0x%x)", w[0x2000]);
	refused += inject("5 vram-stuck 0x3000 2>/dev/null") != 0;
	check(refused == 3, "vram-stuck refuses more than 65536 bytes, an offset past VRAM and a ninth range (%d of 3)",
	      refused);
	rc = inject("clear 5");
	w[0x2000] = 0x44;
	rc = rc ? rc : inject("5 vram-stuck 0x4000");
	check(rc == 0 && w[0x2000] == 0x44 && (w[0x4000] & 1),
	      "after tb sim fault clear the byte keeps what is written (0x%x)", w[0x2000]);
	inject("clear 5");
	tb_bo_free(bo);
	tb_gpu_close(g);
}

static void test_fall_off_bus(void)
{
	int rc = inject("4 fall-off-bus");
	struct tb_gpu *g = NULL;
	char err[256] = "";
	int open_rc = tb_gpu_open(4, &g, err, sizeof err);
	check(rc == 0 && open_rc < 0, "a GPU that fell off the bus cannot be opened (%d: %s)", open_rc, err);
	if (open_rc == 0)
		tb_gpu_close(g);
	struct fixture f;
	rc = start(0, &f);
	rc = rc ? rc : run_add(&f, 1000, 2.0f);
	check(rc == 0, "the other GPUs keep working (%d)", rc);
	teardown(&f);
	check(inject("clear") == 0 && tb_gpu_open(4, &g, err, sizeof err) == 0, "after clear the GPU is back (%s)", err);
	tb_gpu_close(g);
}

/* Keep a GPU busy for some seconds (the sensors test watches it heat up). */
static int load(int gpu, int seconds)
{
	struct fixture f;
	if (start(gpu, &f) < 0) {
		check(0, "GPU %d opens for the load", gpu);
		return 1;
	}
	time_t end = time(NULL) + seconds;
	int bad = 0, rounds = 0;
	while (time(NULL) < end && !bad) {
		bad += run_add(&f, 1 << 18, 1.0f) != 0;
		rounds++;
	}
	teardown(&f);
	check(bad == 0, "%d rounds of load on GPU %d", rounds, gpu);
	return bad != 0;
}

/* One worker process of the two-process test. */
static int worker(int gpu, int rounds)
{
	struct fixture f;
	if (start(gpu, &f) < 0) {
		check(0, "GPU %d opens for the work", gpu);
		return 1;
	}
	int bad = 0;
	for (int r = 0; r < rounds; r++)
		bad += run_add(&f, 5000, (float)(r + 1)) != 0;
	teardown(&f);
	check(bad == 0, "process %d: %d rounds of work on GPU %d (%d failed)", (int)getpid(), rounds, gpu, bad);
	return bad != 0;
}

static void test_discovery(void)
{
	struct tb_gpu_info gi[8];
	char err[256] = "";
	int n = tb_gpu_list(gi, 8, err, sizeof err);
	check(n == 6, "six GPUs in the KFD topology (got %d %s)", n, err);
	if (n < 1)
		return;
	check(!strcmp(gi[0].target, "gfx1100") && gi[0].cu_count == 96, "GPU 0 is a gfx1100 with 96 CUs (%s, %u)",
	      gi[0].target, gi[0].cu_count);
	check(!strcmp(gi[0].pci, "0000:03:00.0") && gi[0].render_minor == 128, "GPU 0 at 0000:03:00.0, renderD128 (%s, %d)",
	      gi[0].pci, gi[0].render_minor);
}

static void test_vector_add(struct fixture *f)
{
	enum { N = 10000 };
	struct tb_bo *a, *b, *c;
	int rc = tb_bo_alloc(f->gpu, N * 4, TB_MEM_VRAM, &a);
	rc = rc ? rc : tb_bo_alloc(f->gpu, N * 4, TB_MEM_VRAM, &b);
	rc = rc ? rc : tb_bo_alloc(f->gpu, N * 4, TB_MEM_HOST, &c);
	check(rc == 0, "VRAM and host buffers allocated and CPU-mapped (%d)", rc);
	if (rc)
		return;
	float *pa = a->cpu, *pb = b->cpu, *pc = c->cpu;
	for (int i = 0; i < N; i++) {
		pa[i] = (float)i;
		pb[i] = 0.5f * (float)i;
		pc[i] = -1.0f;
	}
	struct { uint64_t a, b, c; uint32_t n; } args = { a->va, b->va, c->va, N };
	uint32_t grid[3] = { 10240, 1, 1 }, block[3] = { 256, 1, 1 };
	rc = tb_queue_dispatch(f->compute, f->prog, kernel(f, "add"), &args, sizeof args, grid, block);
	if (rc == 0)
		rc = finish(f, f->compute);
	int bad = 0;
	for (int i = 0; i < N; i++)
		bad += pc[i] != 1.5f * (float)i;
	check(rc == 0 && bad == 0, "PM4 dispatch of a vector add, signalled by RELEASE_MEM (rc %d, %d wrong)", rc, bad);
	tb_bo_free(a);
	tb_bo_free(b);
	tb_bo_free(c);
}

static void test_sizes_and_scratch(struct fixture *f)
{
	struct tb_bo *out, *idx;
	uint32_t grid[3] = { 64, 3, 1 }, block[3] = { 32, 1, 1 };
	int rc = tb_bo_alloc(f->gpu, 64 * 3 * 16, TB_MEM_HOST, &out);
	rc = rc ? rc : tb_bo_alloc(f->gpu, 4096, TB_MEM_HOST, &idx);
	if (rc) {
		check(0, "buffers for the sizes kernel (%d)", rc);
		return;
	}
	uint64_t arg = out->va;
	rc = tb_queue_dispatch(f->compute, f->prog, kernel(f, "sizes"), &arg, sizeof arg, grid, block);
	rc = rc ? rc : finish(f, f->compute);
	const uint32_t *o = out->cpu;
	uint32_t last = 64 * 3 - 1;
	check(rc == 0 && o[0] == 32 && o[1] == 64 && o[4 * last + 2] == 2 && o[4 * last + 3] == 3,
	      "a kernel reads its workgroup and grid sizes (rc %d: %u %u %u %u)", rc, o[0], o[1], o[4 * last + 2],
	      o[4 * last + 3]);

	uint32_t *ix = idx->cpu;
	for (int i = 0; i < 256; i++)
		ix[i] = (uint32_t)(i * 7);
	struct { uint64_t idx, out; } sargs = { idx->va, out->va };
	uint32_t sgrid[3] = { 128, 1, 1 }, sblock[3] = { 64, 1, 1 };
	rc = tb_queue_dispatch(f->compute, f->prog, kernel(f, "scratch"), &sargs, sizeof sargs, sgrid, sblock);
	rc = rc ? rc : finish(f, f->compute);
	int bad = 0;
	for (uint32_t i = 0; i < 128; i++)
		bad += o[i] != i * 64 + ((i * 7) & 63);
	check(rc == 0 && bad == 0 && kernel(f, "scratch")->private_segment_size > 0,
	      "a kernel with private memory runs with the queue's scratch (rc %d, %d wrong)", rc, bad);
	tb_bo_free(out);
	tb_bo_free(idx);
}

static void test_sdma(struct fixture *f)
{
	enum { BYTES = 8 << 20 };
	struct tb_bo *src, *dst;
	int rc = tb_bo_alloc(f->gpu, BYTES, TB_MEM_VRAM, &src);
	rc = rc ? rc : tb_bo_alloc(f->gpu, BYTES, TB_MEM_HOST, &dst);
	if (rc) {
		check(0, "buffers for SDMA (%d)", rc);
		return;
	}
	uint32_t *s = src->cpu, *d = dst->cpu;
	for (uint32_t i = 0; i < BYTES / 4; i++)
		s[i] = i * 2654435761u;
	memset(d, 0, BYTES);
	rc = tb_queue_copy(f->copy, dst->va, src->va, BYTES);
	rc = rc ? rc : finish(f, f->copy);
	check(rc == 0 && !memcmp(s, d, BYTES), "SDMA copies 8 MiB from VRAM to host memory (rc %d)", rc);
	rc = tb_queue_fill(f->copy, dst->va + 4096, 0xdeadbeef, 8192);
	rc = rc ? rc : finish(f, f->copy);
	check(rc == 0 && d[1023] == 1023u * 2654435761u && d[1024] == 0xdeadbeef && d[1024 + 2047] == 0xdeadbeef &&
		      d[1024 + 2048] == (1024u + 2048u) * 2654435761u,
	      "SDMA constant fill writes exactly its range (rc %d)", rc);
	/* a copy queue waits for the compute queue's signal */
	struct tb_signal *gate;
	rc = tb_signal_create(f->gpu, 0, &gate);
	if (rc == 0) {
		uint64_t before = tb_signal_value(f->sig);
		rc = tb_queue_wait(f->copy, gate, 1);
		rc = rc ? rc : tb_queue_signal(f->copy, f->sig, ++f->next);
		rc = rc ? rc : tb_queue_submit(f->copy);
		usleep(50 * 1000);
		int held = tb_signal_value(f->sig) == before;
		tb_signal_set(gate, 1);
		rc = rc ? rc : tb_signal_wait(f->sig, f->next, TIMEOUT_MS);
		check(rc == 0 && held, "an SDMA poll holds the queue until the signal is set (rc %d, held %d)", rc, held);
		tb_signal_destroy(gate);
	}
	tb_bo_free(src);
	tb_bo_free(dst);
}

/* The process's own memory as a GPU buffer (userptr): SDMA writes into a
 * malloc'd array, which keeps what it held before. */
static void test_userptr(struct fixture *f)
{
	enum { BYTES = 1 << 20 };
	uint8_t *mem = NULL;
	struct tb_bo *user = NULL, *vram = NULL;
	int rc = posix_memalign((void **)&mem, 1 << 16, BYTES) ? -ENOMEM : 0;
	if (rc == 0)
		memset(mem, 0x11, BYTES);
	rc = rc ? rc : tb_bo_userptr(f->gpu, mem, BYTES, &user);
	check(rc == 0 && mem[12345] == 0x11, "malloc'd memory becomes a GPU buffer at its own address (%d)", rc);
	rc = rc ? rc : tb_bo_alloc(f->gpu, BYTES / 2, TB_MEM_VRAM, &vram);
	if (rc == 0) {
		memset(vram->cpu, 0x77, BYTES / 2);
		rc = tb_queue_copy(f->copy, (uint64_t)(uintptr_t)mem + BYTES / 2, vram->va, BYTES / 2);
		rc = rc ? rc : finish(f, f->copy);
	}
	check(rc == 0 && mem[0] == 0x11 && mem[BYTES / 2 - 1] == 0x11 && mem[BYTES / 2] == 0x77 && mem[BYTES - 1] == 0x77,
	      "SDMA writes into the userptr buffer, which the CPU sees in place (%d)", rc);
	int unaligned = f->gpu ? tb_bo_userptr(f->gpu, mem + 1, 4096, &vram) : 0;
	check(unaligned == -EINVAL, "an unaligned userptr is refused (%d)", unaligned);
	tb_bo_free(vram);
	tb_bo_free(user);
	free(mem);
}

static int refused(int rc);

/* What a 6.x KFD checks of a compute queue's buffers: the EOP buffer's size
 * and the context save area (the driver's queues pass both right). */
static void test_queue_buffers(struct fixture *f)
{
	struct tb_bo *bo;
	if (tb_bo_alloc(f->gpu, 1 << 20, TB_MEM_HOST, &bo) < 0) {
		check(0, "a buffer for the queue-buffer checks");
		return;
	}
	int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);	/* the same KFD process as the driver's */
	struct kfd_ioctl_create_queue_args q = {
		.ring_base_address = bo->va, .ring_size = 65536, .read_pointer_address = bo->va + 65536,
		.write_pointer_address = bo->va + 65544, .gpu_id = tb_gpu_info(f->gpu)->gpu_id,
		.queue_type = KFD_IOC_QUEUE_TYPE_COMPUTE, .queue_percentage = 100, .queue_priority = 7,
	};
	int e = refused(ioctl(kfd, AMDKFD_IOC_CREATE_QUEUE, &q));
	check(e == EINVAL, "a compute queue without a context save area: EINVAL (%s)", strerror(e));
	q.eop_buffer_address = bo->va + 131072;
	q.eop_buffer_size = 8192;
	e = refused(ioctl(kfd, AMDKFD_IOC_CREATE_QUEUE, &q));
	check(e == EINVAL, "an EOP buffer of the wrong size: EINVAL (%s)", strerror(e));
	q.queue_type = KFD_IOC_QUEUE_TYPE_SDMA;
	q.eop_buffer_address = 0;
	q.eop_buffer_size = 0;
	e = refused(ioctl(kfd, AMDKFD_IOC_CREATE_QUEUE, &q));
	check(e == 0, "an SDMA queue needs neither (%s)", strerror(e));
	if (e == 0) {
		struct kfd_ioctl_destroy_queue_args d = { .queue_id = q.queue_id };
		ioctl(kfd, AMDKFD_IOC_DESTROY_QUEUE, &d);
	}
	close(kfd);
	tb_bo_free(bo);
}

static void test_timestamps(struct fixture *f)
{
	struct tb_signal *t1, *t2;
	int rc = tb_signal_create(f->gpu, 0, &t1);
	rc = rc ? rc : tb_signal_create(f->gpu, 0, &t2);
	if (rc) {
		check(0, "timestamp signals (%d)", rc);
		return;
	}
	rc = tb_queue_timestamp(f->compute, t1);
	rc = rc ? rc : finish(f, f->compute);
	usleep(20 * 1000);
	rc = rc ? rc : tb_queue_timestamp(f->copy, t2);
	rc = rc ? rc : finish(f, f->copy);
	uint64_t a = tb_signal_timestamp_ns(t1), b = tb_signal_timestamp_ns(t2);
	check(rc == 0 && a > 0 && b > a + 10 * 1000 * 1000 && b < a + 10ull * 1000 * 1000 * 1000,
	      "PM4 and SDMA timestamps advance in GPU time (%llu -> %llu ns)", (unsigned long long)a,
	      (unsigned long long)b);
	tb_signal_destroy(t1);
	tb_signal_destroy(t2);
}

static void test_fault(struct fixture *f)
{
	struct tb_bo *buf;
	if (tb_bo_alloc(f->gpu, 4096, TB_MEM_VRAM, &buf) < 0) {
		check(0, "buffer for the fault test");
		return;
	}
	struct { uint64_t p, offset; } args = { buf->va, 1ull << 36 };
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	int rc = tb_queue_dispatch(f->compute, f->prog, kernel(f, "wild_write"), &args, sizeof args, grid, block);
	rc = rc ? rc : finish(f, f->compute);
	const char *why = tb_gpu_failure(f->gpu);
	check(rc == -EIO && why && strstr(why, "memory fault at 0x"),
	      "a write to an unmapped address is a GPU memory fault the wait reports (rc %d: %s)", rc,
	      why ? why : "no failure recorded");
	/* new work on the failed GPU is refused, not queued to a dead queue */
	rc = tb_queue_signal(f->compute, f->sig, ++f->next);
	rc = rc ? rc : tb_queue_submit(f->compute);
	check(rc == -EIO, "new work on the failed GPU is refused (%d)", rc);
	tb_bo_free(buf);
}

static void test_all_gpus(void)
{
	struct fixture f[6];
	int ok = 0;
	for (int i = 0; i < 6; i++) {
		if (start(i, &f[i]) < 0) {
			check(0, "open GPU %d", i);
			while (i-- > 0)
				teardown(&f[i]);
			return;
		}
	}
	struct tb_bo *c[6];
	for (int i = 0; i < 6; i++) {
		if (tb_bo_alloc(f[i].gpu, 256 * 4, TB_MEM_HOST, &c[i]) < 0)
			c[i] = NULL;
		uint32_t grid[3] = { 256, 1, 1 }, block[3] = { 64, 1, 1 };
		float *p = c[i] ? c[i]->cpu : NULL;
		for (int k = 0; p && k < 256; k++)
			p[k] = (float)(i * 1000 + k);
		struct { uint64_t a, b, c; uint32_t n; } args = { c[i] ? c[i]->va : 0, c[i] ? c[i]->va : 0,
								   c[i] ? c[i]->va : 0, 256 };
		if (c[i] && tb_queue_dispatch(f[i].compute, f[i].prog, kernel(&f[i], "add"), &args, sizeof args, grid, block) == 0 &&
		    tb_queue_signal(f[i].compute, f[i].sig, 1) == 0)
			tb_queue_submit(f[i].compute);
	}
	for (int i = 0; i < 6; i++) {
		int good = c[i] && tb_signal_wait(f[i].sig, 1, TIMEOUT_MS) == 0;
		const float *p = c[i] ? c[i]->cpu : NULL;
		for (int k = 0; good && k < 256; k++)
			good = p[k] == 2.0f * (float)(i * 1000 + k);
		ok += good;
		tb_bo_free(c[i]);
		teardown(&f[i]);
	}
	check(ok == 6, "all six GPUs run a kernel at once (%d of 6 right)", ok);
}

/* The render node through libdrm_amdgpu, as Mesa and ROCm's tools query it. */
static void test_libdrm(void)
{
	int fd = open("/dev/dri/renderD129", O_RDWR | O_CLOEXEC);
	amdgpu_device_handle dev;
	uint32_t major = 0, minor = 0;
	int rc = fd < 0 ? -errno : amdgpu_device_initialize(fd, &major, &minor, &dev);
	check(rc == 0 && major == 3, "libdrm_amdgpu initializes on renderD129 (DRM %u.%u, rc %d)", major, minor, rc);
	if (rc) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct drm_amdgpu_info_hw_ip ip;
	rc = amdgpu_query_hw_ip_info(dev, AMDGPU_HW_IP_COMPUTE, 0, &ip);
	check(rc == 0 && ip.available_rings && ip.hw_ip_version_major == 11, "compute HW IP 11.x with rings (%d)", rc);
	uint32_t ver = 0, feature = 0;
	rc = amdgpu_query_firmware_version(dev, AMDGPU_INFO_FW_GFX_MEC, 0, 0, &ver, &feature);
	check(rc == 0 && ver != 0, "MEC firmware version 0x%x", ver);
	uint32_t temp = 0, power = 0;
	rc = amdgpu_query_sensor_info(dev, AMDGPU_INFO_SENSOR_GPU_TEMP, sizeof temp, &temp);
	rc = rc ? rc : amdgpu_query_sensor_info(dev, AMDGPU_INFO_SENSOR_GPU_AVG_POWER, sizeof power, &power);
	check(rc == 0 && temp > 10000 && temp < 110000 && power > 0, "sensors: edge %u m°C, %u W", temp, power);
	uint64_t used = 0;
	rc = amdgpu_query_info(dev, AMDGPU_INFO_VRAM_USAGE, sizeof used, &used);
	check(rc == 0, "VRAM usage query (%llu bytes)", (unsigned long long)used);
	rc = amdgpu_query_info(dev, 0xee, sizeof used, &used);
	check(rc == -EINVAL, "an unknown AMDGPU_INFO query: EINVAL (%d)", rc);
	amdgpu_device_deinitialize(dev);
	close(fd);
}

/* The errno of a call that should have failed; 0 when it succeeded. */
static int refused(int rc)
{
	return rc < 0 ? errno : 0;
}

/* The kernel interface refuses bad arguments with the errno amdgpu's KFD gives. */
static void test_bad_ioctls(void)
{
	int kfd = open("/dev/kfd", O_RDWR | O_CLOEXEC);
	check(kfd >= 0, "/dev/kfd opens");
	if (kfd < 0)
		return;
	struct tb_gpu_info gi;
	char err[128];
	tb_gpu_list(&gi, 1, err, sizeof err);
	struct kfd_ioctl_alloc_memory_of_gpu_args a = { .va_addr = 1ull << 32, .size = 0, .gpu_id = gi.gpu_id,
							 .flags = KFD_IOC_ALLOC_MEM_FLAGS_GTT };
	int e = refused(ioctl(kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
	check(e == EINVAL, "ALLOC of 0 bytes: EINVAL (%s)", strerror(e));
	a.size = 4096;
	a.gpu_id = 12345;
	e = refused(ioctl(kfd, AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, &a));
	check(e == EINVAL, "ALLOC on an unknown gpu_id: EINVAL (%s)", strerror(e));
	struct kfd_ioctl_destroy_queue_args d = { .queue_id = 77 };
	e = refused(ioctl(kfd, AMDKFD_IOC_DESTROY_QUEUE, &d));
	check(e == EINVAL, "DESTROY_QUEUE of no queue: EINVAL (%s)", strerror(e));
	struct kfd_ioctl_create_queue_args q = { .ring_base_address = 1ull << 40, .ring_size = 4096,
						 .read_pointer_address = 1ull << 40, .write_pointer_address = 1ull << 40,
						 .gpu_id = gi.gpu_id, .queue_type = KFD_IOC_QUEUE_TYPE_COMPUTE,
						 .queue_percentage = 100, .queue_priority = 7 };
	e = refused(ioctl(kfd, AMDKFD_IOC_CREATE_QUEUE, &q));
	/* the process's GPUs have VMs (KFD state outlives its files): the ring is checked */
	check(e == EINVAL, "CREATE_QUEUE with an unmapped ring: EINVAL (%s)", strerror(e));
	struct kfd_ioctl_wait_events_args w = { .num_events = 0 };
	e = refused(ioctl(kfd, AMDKFD_IOC_WAIT_EVENTS, &w));
	check(e == EINVAL, "WAIT_EVENTS on no events: EINVAL (%s)", strerror(e));
	struct kfd_ioctl_free_memory_of_gpu_args fr = { .handle = 0xdead00000001ull };
	e = refused(ioctl(kfd, AMDKFD_IOC_FREE_MEMORY_OF_GPU, &fr));
	check(e == EINVAL, "FREE_MEMORY_OF_GPU of an unknown handle: EINVAL (%s)", strerror(e));
	uint32_t id = gi.gpu_id;
	struct kfd_ioctl_map_memory_to_gpu_args mp = { .handle = 0xdead00000001ull,
						       .device_ids_array_ptr = (uint64_t)(uintptr_t)&id, .n_devices = 1 };
	e = refused(ioctl(kfd, AMDKFD_IOC_MAP_MEMORY_TO_GPU, &mp));
	check(e == EINVAL, "MAP_MEMORY_TO_GPU of an unknown handle: EINVAL (%s)", strerror(e));
	struct kfd_ioctl_get_clock_counters_args cc = { .gpu_id = 999 };
	e = refused(ioctl(kfd, AMDKFD_IOC_GET_CLOCK_COUNTERS, &cc));
	check(e == EINVAL, "GET_CLOCK_COUNTERS of an unknown GPU: EINVAL (%s)", strerror(e));
	cc.gpu_id = gi.gpu_id;
	check(ioctl(kfd, AMDKFD_IOC_GET_CLOCK_COUNTERS, &cc) == 0 && cc.gpu_clock_counter > 0 &&
		      cc.system_clock_freq == 1000000000ull,
	      "GET_CLOCK_COUNTERS answers for a GPU (gpu clock %llu)", (unsigned long long)cc.gpu_clock_counter);
	struct kfd_ioctl_set_event_args se = { .event_id = 12345 };
	e = refused(ioctl(kfd, AMDKFD_IOC_SET_EVENT, &se));
	check(e == EINVAL, "SET_EVENT of an unknown event: EINVAL (%s)", strerror(e));
	/* with no page of its own, the kernel gives the event a slot in one it allocates */
	struct kfd_ioctl_create_event_args ce = { .event_type = KFD_IOC_EVENT_SIGNAL, .auto_reset = 1 };
	check(ioctl(kfd, AMDKFD_IOC_CREATE_EVENT, &ce) == 0 && (ce.event_page_offset >> 62) == 2,
	      "CREATE_EVENT without an event page uses the kernel's, mappable as KFD_MMAP_TYPE_EVENTS");
	struct kfd_process_device_apertures ap[8];
	struct kfd_ioctl_get_process_apertures_new_args pa = { .kfd_process_device_apertures_ptr = (uint64_t)(uintptr_t)ap,
							       .num_of_nodes = 8 };
	check(ioctl(kfd, AMDKFD_IOC_GET_PROCESS_APERTURES_NEW, &pa) == 0 && pa.num_of_nodes == 6 && ap[0].gpu_id == gi.gpu_id,
	      "GET_PROCESS_APERTURES_NEW lists six GPUs (%u)", pa.num_of_nodes);
	/* beyond the ioctl table: amdgpu's kfd_ioctl answers ENOTTY */
	e = refused(ioctl(kfd, _IOWR('K', 0x7f, int), &w));
	check(e == ENOTTY, "an unknown KFD ioctl: ENOTTY (%s)", strerror(e));
	close(kfd);
}

int main(int argc, char **argv)
{
	if (argc == 5 && (!strcmp(argv[2], "work") || !strcmp(argv[2], "load"))) {
		co_path = argv[1];
		int rc = !strcmp(argv[2], "work") ? worker(atoi(argv[3]), atoi(argv[4])) : load(atoi(argv[3]), atoi(argv[4]));
		tap_done();
		return rc;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: box_test CODE_OBJECT TB | box_test CODE_OBJECT work GPU ROUNDS\n");
		return 2;
	}
	co_path = argv[1];
	tb_path = argv[2];
	test_discovery();
	struct fixture f;
	if (start(0, &f) == 0) {
		check(1, "GPU 0 opens through KFD and its render node; queues and a signal are created");
		test_vector_add(&f);
		test_sizes_and_scratch(&f);
		test_sdma(&f);
		test_userptr(&f);
		test_queue_buffers(&f);
		test_timestamps(&f);
		teardown(&f);
	} else {
		check(0, "GPU 0 opens through KFD and its render node; queues and a signal are created");
	}
	test_all_gpus();
	test_bad_ioctls();
	test_libdrm();
	test_peer_copy();
	test_bad_packet();
	test_hang_and_recover();
	test_bitflip();
	test_fall_off_bus();
	/* last: it leaves GPU 0's queue faulted */
	if (start(0, &f) == 0) {
		test_fault(&f);
		teardown(&f);
	} else {
		check(0, "GPU 0 reopens for the memory-fault test");
	}
	return tap_done();
}
