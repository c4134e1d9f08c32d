/* tb store: manifests, test files and the storage benchmark.
 *
 *   tb store manifest FILE
 *   tb store make-test-file FILE --size BYTES
 *   tb store bench [--json] [--file FILE] [--size BYTES] [--rounds N] [--dir DIR] [--ram-dir DIR] */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/cmd.h"
#include "storage/tbstore.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb store manifest FILE\n"
		"       tb store make-test-file FILE --size BYTES\n"
		"       tb store bench [--json] [--file FILE] [--size BYTES] [--rounds N] [--dir DIR]\n"
		"                      [--ram-dir DIR]\n"
		"\n"
		"manifest        writes FILE.tbsum, the xxh3 checksum of each 1 MiB chunk of FILE,\n"
		"                which 'tb load --verify' checks\n"
		"make-test-file  writes a valid safetensors file of about BYTES of pseudo-random F16\n"
		"                tensors (for tests and benchmarks)\n"
		"bench           sequential reads of the same file, alternating: 'tb load --to host'\n"
		"                against fio (io_uring, O_DIRECT, 1 MiB, depth 32, fixed buffers and\n"
		"                files), with CPU time per GB; without --file, a test file of --size\n"
		"                (default 256M) is made in --dir (default /var/tmp) and removed after;\n"
		"                --rounds N (default 5) alternations, medians reported; then\n"
		"                xxh3 on one core, and 'tb load --to null --verify' of a file of\n"
		"                --size in --ram-dir (default /dev/shm) with 1, 2 and N hashing threads\n");
}

/* ---- manifest ---------------------------------------------------------------- */

static int cmd_manifest(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		usage(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	struct tbs_error err = { 0 };
	double t0 = cmd_now();
	if (tbs_manifest_write(argv[1], &err) < 0) {
		fprintf(stderr, "tb store manifest: %s\n", err.msg);
		return 1;
	}
	printf("%s.tbsum written in %.2f s\n", argv[1], cmd_now() - t0);
	return 0;
}

/* ---- test files ---------------------------------------------------------------- */

#define TENSOR_BYTES (8u << 20)   /* 4096 x 1024 F16 */
/* 4 TiB: 512 Ki tensors, whose header stays well inside the format's 100 MB */
#define MAX_TEST_FILE (1ull << 42)

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Builds the JSON header for `count` full F16 tensors and one U8 remainder. */
static char *synth_header(uint64_t count, uint64_t rem, size_t *len)
{
	size_t cap = 128 + (size_t)count * 128, n = 0;
	char *h = malloc(cap);
	if (!h)
		return NULL;
	n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{\"format\":\"pt\"}");
	for (uint64_t i = 0; i < count; i++)
		n += (size_t)snprintf(h + n, cap - n,
				      ",\"layer.%llu.weight\":{\"dtype\":\"F16\",\"shape\":[4096,1024],"
				      "\"data_offsets\":[%llu,%llu]}",
				      (unsigned long long)i, (unsigned long long)(i * TENSOR_BYTES),
				      (unsigned long long)((i + 1) * TENSOR_BYTES));
	if (rem)
		n += (size_t)snprintf(h + n, cap - n,
				      ",\"tail\":{\"dtype\":\"U8\",\"shape\":[%llu],\"data_offsets\":[%llu,%llu]}",
				      (unsigned long long)rem, (unsigned long long)(count * TENSOR_BYTES),
				      (unsigned long long)(count * TENSOR_BYTES + rem));
	n += (size_t)snprintf(h + n, cap - n, "}");
	/* Pad with spaces so the data starts 8-byte aligned, as writers do. */
	while (n % 8)
		h[n++] = ' ';
	*len = n;
	return h;
}

/* On any failure the partial file is removed: a truncated test file would
 * look like a corrupt model. */
static int make_test_file(const char *path, uint64_t size)
{
	uint64_t data = size > 4096 ? size - 4096 : size;
	size_t hlen;
	char *h = synth_header(data / TENSOR_BYTES, data % TENSOR_BYTES, &hlen);
	if (!h) {
		fprintf(stderr, "tb store make-test-file: out of memory for the header\n");
		return 1;
	}
	/* an existing regular file is replaced; anything else there (a FIFO,
	 * a device) is left alone and refused */
	struct stat st;
	FILE *f = NULL;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		errno = EEXIST;
	else if (!(f = fopen(path, "wx")) && errno == EEXIST && unlink(path) == 0)
		f = fopen(path, "wx");
	if (!f) {
		fprintf(stderr, "tb store make-test-file: cannot create %s: %s\n", path, strerror(errno));
		free(h);
		return 1;
	}
	uint64_t le = htole64((uint64_t)hlen), seed = 0x9e3779b97f4a7c15ull;
	bool ok = fwrite(&le, 8, 1, f) == 1 && fwrite(h, 1, hlen, f) == hlen;
	free(h);
	static uint64_t block[1 << 14];
	for (uint64_t left = data; left && ok;) {
		for (size_t i = 0; i < sizeof block / 8; i++)
			block[i] = xorshift(&seed);
		size_t n = left < sizeof block ? (size_t)left : sizeof block;
		ok = fwrite(block, 1, n, f) == n;
		left -= n;
	}
	ok = ok && !fflush(f) && !fsync(fileno(f)) && !ferror(f);
	int e = errno;
	if (fclose(f))
		ok = false, e = errno;
	if (!ok) {
		fprintf(stderr, "tb store make-test-file: cannot write %s: %s (removed)\n", path, strerror(e));
		unlink(path);
		return 1;
	}
	return 0;
}

static int cmd_make_test_file(int argc, char **argv)
{
	uint64_t size = 0;
	if (argc != 4 || strcmp(argv[2], "--size")) {
		fprintf(stderr, "tb store make-test-file: usage: tb store make-test-file FILE --size BYTES\n");
		return 2;
	}
	if (!cmd_opt_size("tb store make-test-file", "--size", argv[3], 8, MAX_TEST_FILE, &size))
		return 2;
	return make_test_file(argv[1], size);
}

#define BENCH "tb store bench"

/* ---- bench ---------------------------------------------------------------------- */

struct run {
	double gbps, cpu_s;     /* throughput and CPU seconds (user + system) */
	uint64_t bytes;
};

/* Runs argv with stdout captured; returns its output (caller frees) and CPU time. */
static char *run_child(char *const argv[], double *cpu)
{
	int fds[2];
	if (pipe(fds) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	size_t cap = 1 << 16, n = 0;
	char *out = malloc(cap);
	for (ssize_t r; out && (r = read(fds[0], out + n, cap - n - 1)) > 0;) {
		n += (size_t)r;
		if (cap - n < 2 && !(out = realloc(out, cap *= 2)))
			break;
	}
	close(fds[0]);
	int status;
	struct rusage ru;
	wait4(pid, &status, 0, &ru);
	*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec * 1e-6;
	if (!out || !WIFEXITED(status) || WEXITSTATUS(status)) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "tb store bench: %s was killed by signal %d\n", argv[0], WTERMSIG(status));
		else if (WEXITSTATUS(status) == 127)
			fprintf(stderr, "tb store bench: %s could not be run (exit code 127: is it installed?)\n", argv[0]);
		else if (WEXITSTATUS(status))
			fprintf(stderr, "tb store bench: %s failed with exit code %d\n", argv[0], WEXITSTATUS(status));
		else
			fprintf(stderr, "tb store bench: out of memory reading %s's output\n", argv[0]);
		free(out);
		return NULL;
	}
	out[n] = '\0';
	return out;
}

static int run_fio(const char *file, uint64_t size, struct run *r)
{
	char fname[PATH_MAX + 16], sz[32];
	snprintf(fname, sizeof fname, "--filename=%s", file);
	snprintf(sz, sizeof sz, "--size=%llu", (unsigned long long)size);
	char *argv[] = { "fio", "--name=seqread", fname, sz, "--rw=read", "--bs=1M", "--iodepth=32",
			 "--ioengine=io_uring", "--direct=1", "--fixedbufs", "--registerfiles",
			 "--output-format=json", NULL };
	char *out = run_child(argv, &r->cpu_s);
	if (!out)
		return -1;
	json_error_t je;
	json_t *root = json_loads(strchr(out, '{') ? strchr(out, '{') : out, JSON_DISABLE_EOF_CHECK, &je);
	free(out);
	json_t *rd = json_object_get(json_array_get(json_object_get(root, "jobs"), 0), "read");
	r->gbps = json_number_value(json_object_get(rd, "bw_bytes")) / 1e9;
	r->bytes = (uint64_t)json_integer_value(json_object_get(rd, "io_bytes"));
	json_decref(root);
	return r->gbps > 0 ? 0 : -1;
}

/* tb load FILE --json and `extra` (at most 6, NULL-terminated). */
static int run_tb(const char *tb_load, const char *file, const char *const *extra, struct run *r)
{
	char *argv[10] = { (char *)tb_load, (char *)file, "--json" };
	for (int i = 0; i < 6 && extra[i]; i++)
		argv[3 + i] = (char *)extra[i];
	char *out = run_child(argv, &r->cpu_s);
	if (!out)
		return -1;
	json_error_t je;
	json_t *root = json_loads(out, 0, &je);
	free(out);
	r->gbps = json_number_value(json_object_get(root, "gb_per_s"));
	r->bytes = (uint64_t)json_integer_value(json_object_get(root, "bytes"));
	json_decref(root);
	return r->gbps > 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct bench {
	bool json;
	const char *file;
	char made[PATH_MAX];
	uint64_t size;
	unsigned rounds;
	const char *dir, *ram_dir;
};

/* Verification's ceiling: xxh3 on one core, and the whole pipeline (reads,
 * hashing, no drive in the way) from a file in RAM with 1, 2 and N threads. */
#define HASH_COUNTS 3
struct hash_bench {
	double core_gbps;
	unsigned counts, threads[HASH_COUNTS];
	double ram_gbps[HASH_COUNTS];
	bool ram_ok;
};

static void cpu_model(char *out, size_t len)
{
	snprintf(out, len, "unknown CPU");
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(out, len, "%s", strchr(line, ':') + 2);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	if (f)
		fclose(f);
}

static int bench_report(const struct bench *b, double *v[6], unsigned n, uint64_t bytes, const struct hash_bench *h)
{
	const char *names[] = { "fio", "tb load --to host", "tb load --to host --verify" };
	double gb = (double)bytes / 1e9, med[3], cpu[3];
	for (int i = 0; i < 3; i++) {
		med[i] = median(v[2 * i], n);
		cpu[i] = median(v[2 * i + 1], n) / gb;
	}
	double ratio = med[0] > 0 ? med[1] / med[0] : 0;
	if (b->json) {
		printf("{\"file\":\"%s\",\"bytes\":%llu,\"rounds\":%u,\"fio_gb_per_s\":%.3f,\"fio_cpu_s_per_gb\":%.4f,"
		       "\"tb_gb_per_s\":%.3f,\"tb_cpu_s_per_gb\":%.4f,\"tb_verify_gb_per_s\":%.3f,"
		       "\"tb_verify_cpu_s_per_gb\":%.4f,\"tb_over_fio\":%.3f,\"xxh3_gb_per_s_per_core\":%.3f,"
		       "\"ram_verify_gb_per_s\":{",
		       b->file, (unsigned long long)bytes, n, med[0], cpu[0], med[1], cpu[1], med[2], cpu[2], ratio,
		       h->core_gbps);
		for (unsigned i = 0; h->ram_ok && i < h->counts; i++)
			printf("%s\"%u\":%.3f", i ? "," : "", h->threads[i], h->ram_gbps[i]);
		printf("}}\n");
		return 0;
	}
	char cpu_name[128];
	struct utsname u;
	cpu_model(cpu_name, sizeof cpu_name);
	uname(&u);
	printf("file %s, %llu bytes, %u rounds alternating; %s, %ld cores, Linux %s\n", b->file,
	       (unsigned long long)bytes, n, cpu_name, sysconf(_SC_NPROCESSORS_ONLN), u.release);
	printf("%-28s %10s %14s\n", "reader (median)", "GB/s", "CPU s per GB");
	for (int i = 0; i < 3; i++)
		printf("%-28s %10.3f %14.4f\n", names[i], med[i], cpu[i]);
	printf("tb load / fio: %.1f%% (target at least 95%%)\n", ratio * 100);
	printf("xxh3-64 on one core (1 MiB chunks, in memory): %.3f GB/s\n", h->core_gbps);
	for (unsigned i = 0; h->ram_ok && i < h->counts; i++)
		printf("tb load --to null --verify from %s, %u hashing thread%s: %.3f GB/s\n", b->ram_dir, h->threads[i],
		       h->threads[i] > 1 ? "s" : "", h->ram_gbps[i]);
	if (!h->ram_ok)
		printf("from %s: not measured (see the error above)\n", b->ram_dir);
	return 0;
}

static double xxh3_per_core(uint64_t size, unsigned rounds)
{
	size_t len = size < (256u << 20) ? (size_t)size : 256u << 20;
	uint64_t *buf = tbs_alloc(len), seed = 0x9e3779b97f4a7c15ull, sink = 0;
	double *v = calloc(rounds, sizeof *v), gbps = 0;
	if (buf && v) {
		for (size_t i = 0; i < len / 8; i++)
			buf[i] = xorshift(&seed);
		for (unsigned k = 0; k < rounds; k++) {
			double t0 = cmd_now();
			for (size_t at = 0; at < len; at += TBS_MANIFEST_CHUNK)
				sink ^= tbs_chunk_sum((uint8_t *)buf + at, len - at < TBS_MANIFEST_CHUNK ? len - at : TBS_MANIFEST_CHUNK);
			double t = cmd_now() - t0;
			v[k] = t > 0 ? (double)len / t / 1e9 : 0;
		}
		gbps = median(v, rounds);
	}
	if (sink == 1)  /* keeps the sums from being optimised away */
		fprintf(stderr, "\n");
	free(v);
	tbs_free(buf, len);
	return gbps;
}

/* The same size of file in RAM (tmpfs), verified with each thread count. */
static int bench_ram(const struct bench *b, const char *tb_load, struct hash_bench *h)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want[HASH_COUNTS] = { 1, 2, cpus > 8 ? 8 : cpus > 1 ? (unsigned)cpus : 1 };
	for (unsigned i = 0; i < HASH_COUNTS; i++)
		if (!h->counts || want[i] > h->threads[h->counts - 1])
			h->threads[h->counts++] = want[i];
	char path[PATH_MAX], sum[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/tb-store-bench-ram.%d.safetensors", b->ram_dir, (int)getpid());
	struct tbs_error err = { 0 };
	int rc = make_test_file(path, b->size);
	if (rc == 0 && tbs_manifest_write(path, &err) < 0) {
		fprintf(stderr, "%s: %s\n", BENCH, err.msg);
		rc = 1;
	}
	double *v = calloc(b->rounds, sizeof *v);
	for (unsigned i = 0; rc == 0 && v && i < h->counts; i++) {
		char n[16];
		snprintf(n, sizeof n, "%u", h->threads[i]);
		const char *extra[] = { "--to", "null", "--verify", "--hash-threads", n, NULL };
		struct run r;
		for (unsigned k = 0; k < b->rounds && rc == 0; k++) {
			rc = run_tb(tb_load, path, extra, &r);
			v[k] = r.gbps;
		}
		if (rc == 0)
			h->ram_gbps[i] = median(v, b->rounds);
	}
	free(v);
	h->ram_ok = rc == 0 && v;
	unlink(path);
	if (tbs_manifest_path(path, sum, sizeof sum) == 0)
		unlink(sum);
	return 0;   /* a RAM-backed file that cannot be read (no O_DIRECT on tmpfs before Linux 6.6) is said, not fatal */
}

static int bench_rounds(struct bench *b, const char *tb_load)
{
	double *v[6];
	for (int i = 0; i < 6; i++)
		v[i] = calloc(b->rounds, sizeof(double));
	int rc = 0;
	uint64_t bytes = 0;
	for (unsigned k = 0; k < b->rounds && rc == 0; k++) {
		struct run r[3];
		static const char *const plain[] = { "--to", "host", NULL };
		static const char *const verify[] = { "--to", "host", "--verify", NULL };
		rc = run_fio(b->file, b->size, &r[0]) | run_tb(tb_load, b->file, plain, &r[1]) |
		     run_tb(tb_load, b->file, verify, &r[2]);
		for (int i = 0; i < 3 && rc == 0; i++) {
			v[2 * i][k] = r[i].gbps;
			v[2 * i + 1][k] = r[i].cpu_s;
		}
		bytes = r[1].bytes;
		if (isatty(2))
			fprintf(stderr, "\rbench: round %u/%u ", k + 1, b->rounds);
	}
	if (isatty(2))
		fprintf(stderr, "\r\033[K");
	struct hash_bench h = { .core_gbps = rc == 0 ? xxh3_per_core(b->size, b->rounds) : 0 };
	if (rc == 0)
		rc = bench_ram(b, tb_load, &h);
	if (rc == 0)
		rc = bench_report(b, v, b->rounds, bytes, &h);
	for (int i = 0; i < 6; i++)
		free(v[i]);
	return rc ? 1 : 0;
}

static int bench_prepare(struct bench *b)
{
	struct tbs_error err = { 0 };
	if (!b->file) {
		snprintf(b->made, sizeof b->made, "%s/tb-store-bench.%d.safetensors", b->dir, (int)getpid());
		if (make_test_file(b->made, b->size))
			return 1;
		b->file = b->made;
	}
	struct tbs_st st;
	if (tbs_st_open(b->file, &st, &err) < 0) {
		fprintf(stderr, "%s: %s\n", BENCH, err.msg);
		return 1;
	}
	b->size = st.file_size;
	tbs_st_free(&st);
	if (tbs_manifest_write(b->file, &err) < 0) {
		fprintf(stderr, "tb store bench: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, 0, 'j' }, { "file", required_argument, 0, 'f' },
		{ "size", required_argument, 0, 's' }, { "rounds", required_argument, 0, 'r' },
		{ "dir", required_argument, 0, 'd' }, { "ram-dir", required_argument, 0, 'R' },
		{ "help", no_argument, 0, 'h' }, { 0 },
	};
	struct bench b = { .size = 256u << 20, .rounds = 5, .dir = "/var/tmp", .ram_dir = "/dev/shm" };
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 'j': b.json = true; break;
		case 'f': b.file = optarg; break;
		case 'd': b.dir = optarg; break;
		case 'R': b.ram_dir = optarg; break;
		case 'h': usage(stdout); return 0;
		case 's':
			if (!cmd_opt_size(BENCH, "--size", optarg, 1u << 20, 1ull << 50, &b.size))
				return 2;
			break;
		case 'r':
			if (!cmd_opt_uint(BENCH, "--rounds", optarg, 1, 100, &b.rounds))
				return 2;
			break;
		default: cmd_bad_option(BENCH, argv, optind); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'; see %s --help\n", BENCH, argv[optind], BENCH);
		return 2;
	}
	char self[PATH_MAX], tb_load[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return 1;
	self[n] = '\0';
	snprintf(tb_load, sizeof tb_load, "%s/tb-load", dirname(self));
	int rc = bench_prepare(&b);
	if (rc == 0)
		rc = bench_rounds(&b, tb_load);
	if (b.made[0]) {
		char sum[PATH_MAX + 8];
		unlink(b.made);
		if (tbs_manifest_path(b.made, sum, sizeof sum) == 0)
			unlink(sum);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "manifest"))
		return cmd_manifest(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "make-test-file"))
		return cmd_make_test_file(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "bench"))
		return cmd_bench(argc - 1, argv + 1);
	bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"));
	usage(help ? stdout : stderr);
	return help ? 0 : 2;
}
