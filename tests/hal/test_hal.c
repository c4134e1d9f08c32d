/* libtbhal on the simulated box: devices, buffers, programs, queues,
 * signals, graphs replayed with changed values, peer buffers, and the
 * messages bad calls get, peer copies between every pair of GPUs, long runs
 * that must not leak, and a hang on one GPU while the others work.
 * Usage (inside `tb sim run`): test_hal CODE_OBJECT TB LIMITS_CODE_OBJECT (TB:
 * the tb command, for injecting faults; LIMITS_CODE_OBJECT: hal_kernels.co).
 * Prints TAP. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <time.h>

#include "hal/tbhal.h"
#include "tests/tap.h"


enum { TIMEOUT_MS = 20000, N = 4096 };

static void print_last_error(void)
{
	printf("# last error: %s\n", tbh_last_error());
}

struct add_args {
	uint64_t a, b, c;
	uint32_t n;
};

static tbh_device *devs[8];
static int ndevs;
static const char *co_path, *tb_path, *limits_path;

static void test_devices(void)
{
	int n = tbh_device_count();
	check(n == 6, "six devices (%d)", n);
	int rc = tbh_device_open_all(devs, 8, &ndevs);
	check(rc == TBH_OK && ndevs == 6, "all six open (%d)", ndevs);
	tbh_device_props p;
	rc = ndevs ? tbh_device_get_props(devs[0], &p) : -1;
	check(rc == TBH_OK && !strcmp(p.arch, "gfx1100") && p.compute_units == 96 && p.vram_bytes == 24ull << 30 &&
		      strstr(p.name, "7900 XTX") && !strcmp(p.pci, "0000:03:00.0"),
	      "device 0: %s, %s, %u CUs, %llu GiB at %s", p.name, p.arch, p.compute_units,
	      (unsigned long long)(p.vram_bytes >> 30), p.pci);
	tbh_device *d = NULL;
	rc = tbh_device_open_pci("99:00.0", &d);
	check(rc == -ENODEV && strstr(tbh_last_error(), "99:00.0"), "an unknown PCI address is refused by name (%s)",
	      tbh_last_error());
}

static void test_errors(tbh_device *dev, const tbh_kernel *add)
{
	tbh_buffer *b;
	int rc = tbh_buffer_alloc(dev, 0, TBH_MEMORY_HOST, &b);
	check(rc == -EINVAL && strstr(tbh_last_error(), "size is 0"), "a 0-byte buffer is refused (%s)", tbh_last_error());
	tbh_program *p;
	static const char junk[] = "\177ELF but not really a code object";
	rc = tbh_program_load(dev, junk, sizeof junk, &p);
	check(rc < 0 && strstr(tbh_last_error(), "code object"), "a bad code object is refused (%s)", tbh_last_error());
	tbh_queue *copyq = NULL, *q = NULL;
	rc = tbh_queue_create(dev, TBH_QUEUE_COPY, &copyq);
	struct add_args args = { 0 };
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	int erc = rc ? rc : tbh_queue_exec(copyq, add, &args, sizeof args, grid, block);
	check(erc == -EINVAL && strstr(tbh_last_error(), "compute queues"), "a kernel on a copy queue is refused (%s)",
	      tbh_last_error());
	uint32_t big[3] = { 2048, 1, 1 };
	rc = tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &q);
	erc = rc ? rc : tbh_queue_exec(q, add, &args, sizeof args, grid, big);
	check(erc == -EINVAL && strstr(tbh_last_error(), "at most 1024"), "a block over 1024 work-items is refused (%s)",
	      tbh_last_error());
	erc = rc ? rc : tbh_queue_exec(q, add, &args, 8, grid, block);
	check(erc == -EINVAL && strstr(tbh_last_error(), "bytes of arguments"), "too few argument bytes are refused (%s)",
	      tbh_last_error());
	tbh_queue_destroy(q);
	tbh_queue_destroy(copyq);
}

/* c = a + b on one device, through its compute queue. */
static int run_add(tbh_device *dev, const tbh_kernel *add, tbh_queue *q, tbh_signal *s, uint64_t value)
{
	tbh_buffer *a = NULL, *b = NULL, *c = NULL;
	int rc = tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_DEVICE, &a);
	rc = rc ? rc : tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_DEVICE, &b);
	rc = rc ? rc : tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_HOST, &c);
	if (rc) {
		tbh_buffer_free(a);
		tbh_buffer_free(b);
		return rc;
	}
	float *pa = tbh_buffer_cpu(a), *pb = tbh_buffer_cpu(b), *pc = tbh_buffer_cpu(c);
	for (int i = 0; i < N; i++) {
		pa[i] = (float)i;
		pb[i] = (float)(value * 10);
	}
	struct add_args args = { tbh_buffer_address(a), tbh_buffer_address(b), tbh_buffer_address(c), N };
	uint32_t grid[3] = { N, 1, 1 }, block[3] = { 128, 1, 1 };
	rc = tbh_queue_exec(q, add, &args, sizeof args, grid, block);
	rc = rc ? rc : tbh_queue_signal(q, s, value);
	rc = rc ? rc : tbh_queue_submit(q);
	rc = rc ? rc : tbh_signal_wait(s, value, TIMEOUT_MS);
	for (int i = 0; rc == 0 && i < N; i++)
		if (pc[i] != (float)i + (float)(value * 10))
			rc = -EBADMSG;
	tbh_buffer_free(a);
	tbh_buffer_free(b);
	tbh_buffer_free(c);
	return rc;
}

/* What a 64 MiB allocation takes shows in the free VRAM, and comes back. */
static void test_free_vram(tbh_device *dev)
{
	uint64_t before = 0, during = 0, after = 0;
	tbh_buffer *b = NULL;
	int rc = tbh_device_free_vram(dev, &before);
	rc = rc ? rc : tbh_buffer_alloc(dev, 64u << 20, TBH_MEMORY_DEVICE, &b);
	rc = rc ? rc : tbh_device_free_vram(dev, &during);
	tbh_buffer_free(b);
	rc = rc ? rc : tbh_device_free_vram(dev, &after);
	tbh_device_props p;
	tbh_device_get_props(dev, &p);
	check(rc == 0 && before <= p.vram_bytes && before - during >= (64u << 20) && after == before,
	      "the free VRAM drops by an allocation and comes back (%llu, %llu, %llu MiB; %s)",
	      (unsigned long long)(before >> 20), (unsigned long long)(during >> 20), (unsigned long long)(after >> 20),
	      rc ? tbh_last_error() : "");
}

static void test_every_device(void)
{
	int ok = 0;
	for (int d = 0; d < ndevs; d++) {
		tbh_program *p = NULL;
		const tbh_kernel *add;
		tbh_queue *q = NULL;
		tbh_signal *s = NULL;
		int rc = tbh_program_load_file(devs[d], co_path, &p);
		rc = rc ? rc : tbh_program_kernel(p, "add", &add);
		rc = rc ? rc : tbh_queue_create(devs[d], TBH_QUEUE_COMPUTE, &q);
		rc = rc ? rc : tbh_signal_create(devs[d], 0, &s);
		rc = rc ? rc : run_add(devs[d], add, q, s, (uint64_t)d + 1);
		ok += rc == 0;
		if (rc)
			printf("# device %d: %s\n", d, tbh_last_error());
		tbh_signal_destroy(s);
		tbh_queue_destroy(q);
		tbh_program_free(p);
	}
	check(ok == ndevs, "a kernel on every device (%d of %d)", ok, ndevs);
}

static void test_copies_and_timestamps(tbh_device *dev)
{
	enum { BYTES = 1 << 20 };
	tbh_buffer *h1 = NULL, *v = NULL, *h2 = NULL;
	tbh_queue *q = NULL;
	tbh_signal *s = NULL, *t1 = NULL, *t2 = NULL;
	int rc = tbh_buffer_alloc(dev, BYTES, TBH_MEMORY_HOST, &h1);
	rc = rc ? rc : tbh_buffer_alloc(dev, BYTES, TBH_MEMORY_DEVICE, &v);
	rc = rc ? rc : tbh_buffer_alloc(dev, BYTES, TBH_MEMORY_HOST, &h2);
	rc = rc ? rc : tbh_queue_create(dev, TBH_QUEUE_COPY, &q);
	rc = rc ? rc : tbh_signal_create(dev, 0, &s);
	rc = rc ? rc : tbh_signal_create(dev, 0, &t1);
	rc = rc ? rc : tbh_signal_create(dev, 0, &t2);
	if (rc) {
		check(0, "copy-queue setup (%s)", tbh_last_error());
		goto out;
	}
	for (uint32_t i = 0; i < BYTES / 4; i++)
		((uint32_t *)tbh_buffer_cpu(h1))[i] = i * 7u;
	rc = tbh_queue_timestamp(q, t1);
	rc = rc ? rc : tbh_queue_copy(q, v, 0, h1, 0, BYTES);
	rc = rc ? rc : tbh_queue_barrier(q);
	rc = rc ? rc : tbh_queue_copy(q, h2, 0, v, 0, BYTES);
	rc = rc ? rc : tbh_queue_timestamp(q, t2);
	rc = rc ? rc : tbh_queue_signal(q, s, 1);
	rc = rc ? rc : tbh_queue_submit(q);
	rc = rc ? rc : tbh_signal_wait(s, 1, TIMEOUT_MS);
	check(rc == 0 && !memcmp(tbh_buffer_cpu(h1), tbh_buffer_cpu(h2), BYTES),
	      "host -> device -> host copies on a copy queue (%d)", rc);
	check(tbh_signal_timestamp_ns(t2) >= tbh_signal_timestamp_ns(t1) && tbh_signal_timestamp_ns(t1) > 0,
	      "timestamps around the copies are in order");
	int erc = tbh_queue_copy(q, h2, BYTES - 4, h1, 0, 8);
	check(erc == -ERANGE, "a copy past the end of a buffer is refused (%s)", tbh_last_error());
out:
	tbh_signal_destroy(s);
	tbh_signal_destroy(t1);
	tbh_signal_destroy(t2);
	tbh_queue_destroy(q);
	tbh_buffer_free(h1);
	tbh_buffer_free(v);
	tbh_buffer_free(h2);
}

static void fill(float *p, float v)
{
	for (int i = 0; i < N; i++)
		p[i] = v;
}

/* Every element is exactly a[i] + b[i]. */
static int sums(const float *c, const float *a, const float *b)
{
	for (int i = 0; i < N; i++)
		if (c[i] != a[i] + b[i])
			return 0;
	return 1;
}

/* A graph: one kernel and a signal, replayed with new arguments and values;
 * the outputs are poisoned between rounds and the inputs change, so each
 * round's results are that round's. */
static void test_graph(tbh_device *dev, const tbh_kernel *add)
{
	tbh_queue *q = NULL;
	tbh_signal *s = NULL;
	tbh_buffer *a = NULL, *b = NULL, *c1 = NULL, *c2 = NULL;
	tbh_graph *g = NULL;
	int rc = tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tbh_signal_create(dev, 0, &s);
	rc = rc ? rc : tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_HOST, &a);
	rc = rc ? rc : tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_HOST, &b);
	rc = rc ? rc : tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_HOST, &c1);
	rc = rc ? rc : tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_HOST, &c2);
	if (rc) {
		check(0, "graph setup (%s)", tbh_last_error());
		goto out;
	}
	float *pa = tbh_buffer_cpu(a), *pb = tbh_buffer_cpu(b), *pc1 = tbh_buffer_cpu(c1), *pc2 = tbh_buffer_cpu(c2);
	struct add_args args = { tbh_buffer_address(a), tbh_buffer_address(b), tbh_buffer_address(c1), N };
	uint32_t grid[3] = { N, 1, 1 }, block[3] = { 256, 1, 1 }, h_args, h_sig;
	rc = tbh_graph_begin(q);
	rc = rc ? rc : tbh_graph_exec(q, add, &args, sizeof args, grid, block, &h_args);
	rc = rc ? rc : tbh_graph_signal(q, s, 1, &h_sig);
	int busy = rc ? 0 : tbh_queue_submit(q);
	rc = rc ? rc : tbh_graph_end(q, &g);
	check(rc == 0 && busy == -EBUSY, "a graph records (and submitting mid-recording is refused: %d)", busy);
	int good = 0;
	for (uint64_t round = 1; rc == 0 && round <= 4; round++) {
		/* new inputs, poisoned outputs; odd rounds write c1, even rounds c2 */
		for (int i = 0; i < N; i++) {
			pa[i] = (float)(round * 1000);
			pb[i] = (float)i * (float)round;
		}
		fill(pc1, -1.0f);
		fill(pc2, -1.0f);
		uint64_t out = tbh_buffer_address(round % 2 ? c1 : c2);
		rc = tbh_graph_set_args(g, h_args, offsetof(struct add_args, c), &out, sizeof out);
		rc = rc ? rc : tbh_graph_set_value(g, h_sig, round * 10);
		rc = rc ? rc : tbh_queue_replay(q, g);
		rc = rc ? rc : tbh_queue_submit(q);
		rc = rc ? rc : tbh_signal_wait(s, round * 10, TIMEOUT_MS);
		const float *written = round % 2 ? pc1 : pc2, *other = round % 2 ? pc2 : pc1;
		int untouched = 1;
		for (int i = 0; i < N; i++)
			untouched &= other[i] == -1.0f;
		good += rc == 0 && sums(written, pa, pb) && untouched && tbh_signal_value(s) == round * 10;
	}
	check(good == 4, "four replays, each with new inputs, a new output buffer and a new signal value (%d right)", good);
	rc = g ? tbh_graph_set_args(g, h_args, 24, &args, 16) : -1;
	check(rc == -ERANGE, "changing bytes outside the argument block is refused (%s)", tbh_last_error());
	rc = g ? tbh_graph_set_value(g, h_args, 1) : -1;
	check(rc == -EINVAL, "a launch handle is no value handle (%s)", tbh_last_error());
out:
	tbh_graph_free(g);
	tbh_buffer_free(a);
	tbh_buffer_free(b);
	tbh_buffer_free(c1);
	tbh_buffer_free(c2);
	tbh_signal_destroy(s);
	tbh_queue_destroy(q);
}

/* Device 1 writes into device 0's buffer. */
static void test_peer(const tbh_kernel *add1)
{
	tbh_buffer *shared = NULL, *in = NULL;
	tbh_queue *q = NULL;
	tbh_signal *s = NULL;
	int rc = tbh_buffer_alloc(devs[0], N * 4, TBH_MEMORY_DEVICE, &shared);
	rc = rc ? rc : tbh_buffer_alloc(devs[1], N * 4, TBH_MEMORY_HOST, &in);
	rc = rc ? rc : tbh_buffer_map_to(shared, devs[1]);
	rc = rc ? rc : tbh_queue_create(devs[1], TBH_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tbh_signal_create(devs[1], 0, &s);
	if (rc) {
		check(0, "peer setup (%s)", tbh_last_error());
		goto out;
	}
	float *pin = tbh_buffer_cpu(in);
	for (int i = 0; i < N; i++)
		pin[i] = (float)i;
	struct add_args args = { tbh_buffer_address(in), tbh_buffer_address(in), tbh_buffer_address(shared), N };
	uint32_t grid[3] = { N, 1, 1 }, block[3] = { 64, 1, 1 };
	rc = tbh_queue_exec(q, add1, &args, sizeof args, grid, block);
	rc = rc ? rc : tbh_queue_signal(q, s, 1);
	rc = rc ? rc : tbh_queue_submit(q);
	rc = rc ? rc : tbh_signal_wait(s, 1, TIMEOUT_MS);
	const float *out = tbh_buffer_cpu(shared);
	int right = rc == 0;
	for (int i = 0; right && i < N; i++)
		right = out[i] == 2.0f * (float)i;
	check(right, "device 1's kernel writes device 0's VRAM through a peer mapping (%d)", rc);
out:
	tbh_signal_destroy(s);
	tbh_queue_destroy(q);
	tbh_buffer_free(in);
	tbh_buffer_free(shared);
}


/* ---- pairs, leaks, hangs ------------------------------------------------------------- */

/* SDMA from every GPU's VRAM into every other GPU's VRAM, on the source's
 * copy engine, checked through the destination's BAR view. */
static void test_peer_pairs(void)
{
	enum { BYTES = 256 * 1024 };
	tbh_buffer *vram[8] = { 0 };
	tbh_queue *q[8] = { 0 };
	tbh_signal *s[8] = { 0 };
	int rc = 0;
	for (int i = 0; i < ndevs && rc == 0; i++) {
		rc = tbh_buffer_alloc(devs[i], BYTES, TBH_MEMORY_DEVICE, &vram[i]);
		rc = rc ? rc : tbh_queue_create(devs[i], TBH_QUEUE_COPY, &q[i]);
		rc = rc ? rc : tbh_signal_create(devs[i], 0, &s[i]);
	}
	for (int i = 0; i < ndevs && rc == 0; i++)
		for (int j = 0; j < ndevs && rc == 0; j++)
			if (i != j)
				rc = tbh_buffer_map_to(vram[j], devs[i]);
	int good = 0, pairs = 0;
	for (int i = 0; i < ndevs && rc == 0; i++)
		for (int j = 0; j < ndevs && rc == 0; j++) {
			if (i == j)
				continue;
			pairs++;
			uint32_t *src = tbh_buffer_cpu(vram[i]);
			for (uint32_t k = 0; k < BYTES / 4; k++)
				src[k] = (uint32_t)(i * 16 + j) << 24 | k;
			memset(tbh_buffer_cpu(vram[j]), 0, BYTES);
			uint64_t v = tbh_signal_value(s[i]) + 1;
			rc = tbh_queue_copy(q[i], vram[j], 0, vram[i], 0, BYTES);
			rc = rc ? rc : tbh_queue_signal(q[i], s[i], v);
			rc = rc ? rc : tbh_queue_submit(q[i]);
			rc = rc ? rc : tbh_signal_wait(s[i], v, TIMEOUT_MS);
			good += rc == 0 && !memcmp(tbh_buffer_cpu(vram[i]), tbh_buffer_cpu(vram[j]), BYTES);
		}
	check(rc == 0 && pairs == ndevs * (ndevs - 1) && good == pairs,
	      "SDMA peer copies between every pair of GPUs (%d of %d right)", good, pairs);
	for (int i = 0; i < ndevs; i++) {
		tbh_signal_destroy(s[i]);
		tbh_queue_destroy(q[i]);
		tbh_buffer_free(vram[i]);
	}
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "re");
	int n = 0;
	for (int c; f && (c = fgetc(f)) != EOF;)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

struct usage {
	int fds, maps;
	long rss;
};

static struct usage usage_now(void)
{
	return (struct usage){ count_entries("/proc/self/fd"), count_lines("/proc/self/maps"), rss_kib() };
}

/* 10,000 dispatches, then 1,000 queues created and destroyed: the process
 * ends with the descriptors and mappings it started with.  (RSS gets a wide
 * margin: a sanitizer build keeps freed memory in quarantine.) */
static void test_no_leaks(tbh_device *dev, const tbh_kernel *add)
{
	tbh_queue *q = NULL;
	tbh_signal *s = NULL;
	tbh_buffer *b = NULL;
	int rc = tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tbh_signal_create(dev, 0, &s);
	rc = rc ? rc : tbh_buffer_alloc(dev, 64 * 4, TBH_MEMORY_DEVICE, &b);
	if (rc)
		printf("# no-leak setup: %s\n", tbh_last_error());
	struct add_args args = { tbh_buffer_address(b), tbh_buffer_address(b), tbh_buffer_address(b), 64 };
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	struct usage before = usage_now();
	int done = 0;
	for (uint64_t batch = 1; rc == 0 && batch <= 100; batch++) {
		for (int i = 0; rc == 0 && i < 100; i++, done++)
			rc = tbh_queue_exec(q, add, &args, sizeof args, grid, block);
		rc = rc ? rc : tbh_queue_signal(q, s, batch);
		rc = rc ? rc : tbh_queue_submit(q);
		rc = rc ? rc : tbh_signal_wait(s, batch, TIMEOUT_MS);
	}
	struct usage after = usage_now();
	check(rc == 0 && done == 10000 && after.fds == before.fds && after.maps <= before.maps + 2 &&
		      after.rss < before.rss + 64 * 1024,
	      "10,000 dispatches: fds %d -> %d, mappings %d -> %d, RSS %ld -> %ld KiB", before.fds, after.fds,
	      before.maps, after.maps, before.rss, after.rss);
	tbh_buffer_free(b);
	tbh_signal_destroy(s);
	tbh_queue_destroy(q);
	before = usage_now();
	int cycles = 0;
	for (; rc == 0 && cycles < 1000; cycles++) {
		rc = tbh_queue_create(dev, cycles % 2 ? TBH_QUEUE_COPY : TBH_QUEUE_COMPUTE, &q);
		if (rc == 0)
			tbh_queue_destroy(q);
	}
	after = usage_now();
	check(rc == 0 && cycles == 1000 && after.fds == before.fds && after.maps <= before.maps + 2 &&
		      after.rss < before.rss + 64 * 1024,
	      "1,000 queues created and destroyed: fds %d -> %d, mappings %d -> %d, RSS %ld -> %ld KiB (%s)",
	      before.fds, after.fds, before.maps, after.maps, before.rss, after.rss, rc ? tbh_last_error() : "ok");
}


/* A wait that times out loses nothing: the queue waits behind a gate the
 * test holds, a short wait times out, and once the gate opens the same
 * work finishes on the same, still usable, device. */
static void test_timeout_not_final(tbh_device *dev, const tbh_kernel *add)
{
	tbh_queue *q = NULL;
	tbh_signal *gate = NULL, *done = NULL;
	tbh_buffer *a = NULL, *c = NULL;
	int rc = tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tbh_signal_create(dev, 0, &gate);
	rc = rc ? rc : tbh_signal_create(dev, 0, &done);
	rc = rc ? rc : tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_HOST, &a);
	rc = rc ? rc : tbh_buffer_alloc(dev, N * 4, TBH_MEMORY_HOST, &c);
	if (rc) {
		check(0, "timeout test setup (%s)", tbh_last_error());
		goto out;
	}
	float *pa = tbh_buffer_cpu(a), *pc = tbh_buffer_cpu(c);
	for (int i = 0; i < N; i++)
		pa[i] = (float)i;
	fill(pc, -1.0f);
	struct add_args args = { tbh_buffer_address(a), tbh_buffer_address(a), tbh_buffer_address(c), N };
	uint32_t grid[3] = { N, 1, 1 }, block[3] = { 64, 1, 1 };
	rc = tbh_queue_wait(q, gate, 1);
	rc = rc ? rc : tbh_queue_exec(q, add, &args, sizeof args, grid, block);
	rc = rc ? rc : tbh_queue_signal(q, done, 1);
	rc = rc ? rc : tbh_queue_submit(q);
	int early = rc ? rc : tbh_signal_wait(done, 1, 50);
	check(early == -ETIMEDOUT && strstr(tbh_last_error(), "still usable"), "a short wait times out (%d: %s)", early,
	      tbh_last_error());
	tbh_signal_set(gate, 1);
	rc = rc ? rc : tbh_signal_wait(done, 1, TIMEOUT_MS);
	check(rc == 0 && sums(pc, pa, pa), "after the timeout the device finishes the work and stays usable (%s)",
	      rc ? tbh_last_error() : "ok");
out:
	tbh_buffer_free(a);
	tbh_buffer_free(c);
	tbh_signal_destroy(gate);
	tbh_signal_destroy(done);
	tbh_queue_destroy(q);
}

/* What libtbhal refuses of a kernel: a block over what it was compiled
 * for, a grid past the hardware's limit, dynamic shared memory. */
static void test_kernel_limits(tbh_device *dev, const tbh_kernel *add)
{
	tbh_program *p = NULL;
	const tbh_kernel *small = NULL, *dyn = NULL;
	int rc = tbh_program_load_file(dev, limits_path, &p);
	rc = rc ? rc : tbh_program_kernel(p, "small_block", &small);
	if (rc) {
		check(0, "the limits kernels load (%s)", tbh_last_error());
		tbh_program_free(p);
		return;
	}
	int drc = tbh_program_kernel(p, "dynamic_lds", &dyn);
	check(drc == -EOPNOTSUPP && strstr(tbh_last_error(), "dynamic shared memory"),
	      "a kernel with a __local pointer argument is refused by name (%s)", tbh_last_error());
	tbh_queue *q = NULL;
	tbh_buffer *out = NULL;
	rc = tbh_queue_create(dev, TBH_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tbh_buffer_alloc(dev, 4096, TBH_MEMORY_HOST, &out);
	uint64_t addr = tbh_buffer_address(out);
	uint32_t grid[3] = { 128, 1, 1 }, b128[3] = { 128, 1, 1 }, b64[3] = { 64, 1, 1 };
	int erc = rc ? rc : tbh_queue_exec(q, small, &addr, sizeof addr, grid, b128);
	check(erc == -EINVAL && strstr(tbh_last_error(), "compiled for at most 64"),
	      "a block over the kernel's max_flat_workgroup_size is refused (%s)", tbh_last_error());
	erc = rc ? rc : tbh_queue_exec(q, small, &addr, sizeof addr, grid, b64);
	check(erc == 0, "a block within it is taken (%s)", erc ? tbh_last_error() : "ok");
	struct add_args args = { 0 };
	uint32_t huge[3] = { 0xffffffffu, 0xffffffffu, 1 };
	erc = rc ? rc : tbh_queue_exec(q, add, &args, sizeof args, huge, b64);
	check(erc == -EINVAL && strstr(tbh_last_error(), "hardware's limit"),
	      "a grid of more than 2^32 - 1 work-items is refused (%s)", tbh_last_error());
	tbh_buffer_free(out);
	tbh_queue_destroy(q);
	tbh_program_free(p);
}

/* Signals belong to their device's queues. */
static void test_cross_device_signal(void)
{
	tbh_queue *q = NULL;
	tbh_signal *s = NULL;
	int rc = tbh_queue_create(devs[1], TBH_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tbh_signal_create(devs[0], 0, &s);
	int erc = rc ? rc : tbh_queue_signal(q, s, 1);
	check(erc == -EINVAL && strstr(tbh_last_error(), "own device"), "a signal of GPU 0 on GPU 1's queue is refused (%s)",
	      tbh_last_error());
	tbh_signal_destroy(s);
	tbh_queue_destroy(q);
}

/* GPU 1's queue waits, in the GPU, for GPU 0's signal (mapped on GPU 1),
 * then reads what GPU 0's kernel wrote before signalling: without the host
 * in between.  A wait on a signal not mapped there is refused. */
static void test_cross_device_wait(const tbh_kernel *add0, const tbh_kernel *add1)
{
	tbh_buffer *a = NULL, *b = NULL;
	tbh_queue *q0 = NULL, *q1 = NULL;
	tbh_signal *s0 = NULL, *s1 = NULL;
	int rc = tbh_buffer_alloc(devs[0], N * 4, TBH_MEMORY_DEVICE, &a);
	rc = rc ? rc : tbh_buffer_alloc(devs[1], N * 4, TBH_MEMORY_DEVICE, &b);
	rc = rc ? rc : tbh_buffer_map_to(a, devs[1]);
	rc = rc ? rc : tbh_queue_create(devs[0], TBH_QUEUE_COMPUTE, &q0);
	rc = rc ? rc : tbh_queue_create(devs[1], TBH_QUEUE_COMPUTE, &q1);
	rc = rc ? rc : tbh_signal_create(devs[0], 0, &s0);
	rc = rc ? rc : tbh_signal_create(devs[1], 0, &s1);
	if (rc) {
		check(0, "cross-GPU wait setup (%s)", tbh_last_error());
		goto out;
	}
	int erc = tbh_queue_wait(q1, s0, 1);
	check(erc == -EINVAL && strstr(tbh_last_error(), "not mapped"), "a wait on an unmapped peer's signal is refused (%s)",
	      tbh_last_error());
	rc = tbh_signal_map_to(s0, devs[1]);
	check(rc == 0, "a signal maps on a peer GPU (%s)", rc ? tbh_last_error() : "");
	float *pa = tbh_buffer_cpu(a);
	for (int i = 0; i < N; i++)
		pa[i] = (float)i;
	uint32_t grid[3] = { N, 1, 1 }, block[3] = { 64, 1, 1 };
	/* GPU 1 first: b = a + a, once GPU 0 has made a = a + a */
	struct add_args twice_a = { tbh_buffer_address(a), tbh_buffer_address(a), tbh_buffer_address(b), N };
	rc = rc ? rc : tbh_queue_wait(q1, s0, 1);
	rc = rc ? rc : tbh_queue_exec(q1, add1, &twice_a, sizeof twice_a, grid, block);
	rc = rc ? rc : tbh_queue_signal(q1, s1, 1);
	rc = rc ? rc : tbh_queue_submit(q1);
	int early = rc == 0 && tbh_signal_wait(s1, 1, 200) == -ETIMEDOUT;
	check(early, "GPU 1's work waits for GPU 0's signal");
	struct add_args double_a = { tbh_buffer_address(a), tbh_buffer_address(a), tbh_buffer_address(a), N };
	rc = rc ? rc : tbh_queue_exec(q0, add0, &double_a, sizeof double_a, grid, block);
	rc = rc ? rc : tbh_queue_signal(q0, s0, 1);
	rc = rc ? rc : tbh_queue_submit(q0);
	rc = rc ? rc : tbh_signal_wait(s1, 1, TIMEOUT_MS);
	const float *pb = tbh_buffer_cpu(b);
	int right = rc == 0;
	for (int i = 0; right && i < N; i++)
		right = pb[i] == 4.0f * (float)i;
	check(right, "then it runs and sees GPU 0's writes (%d: %s)", rc, rc ? tbh_last_error() : "");
out:
	tbh_signal_destroy(s1);
	tbh_signal_destroy(s0);
	tbh_queue_destroy(q1);
	tbh_queue_destroy(q0);
	tbh_buffer_free(b);
	tbh_buffer_free(a);
}

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A hang on GPU 2: its wait ends with a timeout, which fails nothing; the
 * driver declares the hang from the queue's lack of progress (a short hang
 * timeout here), and that is final; the other five GPUs run work
 * meanwhile; after the reset it works again. */
static void test_hang(const char *co)
{
	enum { HUNG = 2, WAIT_MS = 1000 };
	tbh_program *p = NULL;
	const tbh_kernel *k;
	tbh_queue *q = NULL;
	tbh_signal *s = NULL;
	int rc = tbh_program_load_file(devs[HUNG], co, &p);
	rc = rc ? rc : tbh_program_kernel(p, "add", &k);
	rc = rc ? rc : tbh_queue_create(devs[HUNG], TBH_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tbh_signal_create(devs[HUNG], 0, &s);
	rc = rc ? rc : run_add(devs[HUNG], k, q, s, 1);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "%s sim fault %d hang >/dev/null", tb_path, HUNG);
	if (rc == 0 && system(cmd) != 0)
		rc = -EIO;
	if (rc) {
		check(0, "a hung queue on GPU %d (%s)", HUNG, tbh_last_error());
		tbh_signal_destroy(s);
		tbh_queue_destroy(q);
		tbh_program_free(p);
		return;
	}
	struct add_args args = { 0, 0, 0, 0 };
	uint32_t grid[3] = { 64, 1, 1 }, block[3] = { 64, 1, 1 };
	rc = tbh_queue_exec(q, k, &args, sizeof args, grid, block);
	rc = rc ? rc : tbh_queue_signal(q, s, 2);
	rc = rc ? rc : tbh_queue_submit(q);
	uint64_t t0 = ms_now();
	rc = rc ? rc : tbh_signal_wait(s, 2, WAIT_MS);
	uint64_t waited = ms_now() - t0;
	check(rc == -ETIMEDOUT && waited >= WAIT_MS && strstr(tbh_last_error(), "did not reach"),
	      "the hung GPU's wait times out after %llu ms for %d asked (%s)", (unsigned long long)waited, WAIT_MS,
	      tbh_last_error());
	rc = tbh_signal_wait(s, 2, 100);
	check(rc == -ETIMEDOUT, "a timeout is no failure: the next wait times out again (%s)", tbh_last_error());
	tbh_device_set_hang_timeout(devs[HUNG], 500);
	rc = tbh_signal_wait(s, 2, TIMEOUT_MS);
	check(rc == -EIO && strstr(tbh_last_error(), "hang: compute queue"),
	      "the driver declares the hang from the queue's lack of progress (%s)", tbh_last_error());
	rc = tbh_queue_exec(q, k, &args, sizeof args, grid, block);
	rc = rc ? rc : tbh_queue_submit(q);
	check(rc == -EIO, "a declared hang is final: submitting fails (%s)", tbh_last_error());
	/* meanwhile the others work */
	int others = 0;
	for (int d = 0; d < ndevs; d++) {
		if (d == HUNG)
			continue;
		tbh_program *op = NULL;
		const tbh_kernel *ok_k;
		tbh_queue *oq = NULL;
		tbh_signal *os = NULL;
		int orc = tbh_program_load_file(devs[d], co, &op);
		orc = orc ? orc : tbh_program_kernel(op, "add", &ok_k);
		orc = orc ? orc : tbh_queue_create(devs[d], TBH_QUEUE_COMPUTE, &oq);
		orc = orc ? orc : tbh_signal_create(devs[d], 0, &os);
		orc = orc ? orc : run_add(devs[d], ok_k, oq, os, 3);
		others += orc == 0;
		tbh_signal_destroy(os);
		tbh_queue_destroy(oq);
		tbh_program_free(op);
	}
	check(others == ndevs - 1, "the other %d GPUs run work meanwhile (%d did)", ndevs - 1, others);
	/* recovery: the hung queue goes (the kernel resets the GPU), the
	 * device is reopened, and work runs */
	tbh_signal_destroy(s);
	tbh_queue_destroy(q);
	tbh_program_free(p);
	tbh_device_close(devs[HUNG]);
	p = NULL;
	q = NULL;
	s = NULL;
	rc = tbh_device_open(HUNG, &devs[HUNG]);
	if (rc)
		devs[HUNG] = NULL;
	rc = rc ? rc : tbh_program_load_file(devs[HUNG], co, &p);
	rc = rc ? rc : tbh_program_kernel(p, "add", &k);
	rc = rc ? rc : tbh_queue_create(devs[HUNG], TBH_QUEUE_COMPUTE, &q);
	rc = rc ? rc : tbh_signal_create(devs[HUNG], 0, &s);
	rc = rc ? rc : run_add(devs[HUNG], k, q, s, 4);
	check(rc == 0, "after the reset the GPU, reopened, runs work again (%s)", rc ? tbh_last_error() : "ok");
	tbh_signal_destroy(s);
	tbh_queue_destroy(q);
	tbh_program_free(p);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: test_hal CODE_OBJECT TB LIMITS_CODE_OBJECT\n");
		return 2;
	}
	co_path = argv[1];
	tb_path = argv[2];
	limits_path = argv[3];
	tap_on_failure = print_last_error;
	test_devices();
	if (ndevs < 6)
		check(0, "the tests need six devices (%d opened: %s)", ndevs, tbh_last_error());
	else {
		tbh_program *p0 = NULL, *p1 = NULL;
		const tbh_kernel *add0, *add1;
		int rc = tbh_program_load_file(devs[0], co_path, &p0);
		rc = rc ? rc : tbh_program_load_file(devs[1], co_path, &p1);
		rc = rc ? rc : tbh_program_kernel(p0, "add", &add0);
		rc = rc ? rc : tbh_program_kernel(p1, "add", &add1);
		tbh_kernel_arg arg;
		check(rc == 0 && tbh_kernel_arg_count(add0) == 4 && tbh_kernel_arg_info(add0, 2, &arg) == 0 &&
			      arg.kind == TBH_ARG_BUFFER && arg.offset == 16 && tbh_kernel_args_size(add0) == 28,
		      "kernel 'add': 4 arguments, the third a buffer at offset 16, 28 bytes in all");
		const tbh_kernel *none;
		int erc = rc ? rc : tbh_program_kernel(p0, "nope", &none);
		check(erc == -ENOENT && strstr(tbh_last_error(), "nope"), "a missing kernel is named (%s)", tbh_last_error());
		if (rc == 0) {
			test_errors(devs[0], add0);
			test_every_device();
			test_free_vram(devs[4]);
			test_copies_and_timestamps(devs[2]);
			test_graph(devs[0], add0);
			test_timeout_not_final(devs[0], add0);
			test_kernel_limits(devs[0], add0);
			test_cross_device_signal();
			test_cross_device_wait(add0, add1);
			test_peer(add1);
			test_peer_pairs();
			tbh_program *p3 = NULL;
			const tbh_kernel *add3;
			int lrc = tbh_program_load_file(devs[3], co_path, &p3);
			lrc = lrc ? lrc : tbh_program_kernel(p3, "add", &add3);
			if (lrc == 0)
				test_no_leaks(devs[3], add3);
			else
				check(0, "the no-leak test's program loads on GPU 3 (%s)", tbh_last_error());
			tbh_program_free(p3);
			test_hang(co_path);
		} else {
			check(0, "the test kernels load on GPUs 0 and 1 (%s)", tbh_last_error());
		}
		tbh_program_free(p0);
		tbh_program_free(p1);
	}
	for (int i = 0; i < ndevs; i++)
		tbh_device_close(devs[i]);
	return tap_done();
}
