/* tb emu: run one kernel of a gfx1100 code object on the emulator.
 *
 *   tb emu CODE_OBJECT KERNEL --grid X[,Y,Z] --block X[,Y,Z] [--arg SPEC]... [--stats]
 *
 * For people who debug kernels without a GPU, and for tests. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/emu/emu.h"

#define EXIT_FAULT 1
#define EXIT_USAGE 2
#define MAX_ARGS 64
#define MAX_BUFFER (4ull << 30)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb emu CODE_OBJECT KERNEL --grid X[,Y,Z] --block X[,Y,Z] [--arg SPEC]... [--stats]\n"
		"\n"
		"Runs one kernel of a gfx1100 code object on the emulator.\n"
		"\n"
		"  --grid X[,Y,Z]     work-items in the grid (OpenCL's global size)\n"
		"  --block X[,Y,Z]    work-items in a workgroup (OpenCL's local size)\n"
		"  --arg SPEC         one per kernel argument, in order:\n"
		"                       buf:SIZE[:>OUT]      a zero-filled buffer of SIZE bytes (K, M, G suffixes)\n"
		"                       buf:@IN[:>OUT]       a buffer filled from file IN, of its size\n"
		"                       u32:V i32:V u64:V i64:V f32:V f16:V   a scalar\n"
		"                     :>OUT writes the buffer's final contents to file OUT\n"
		"  --stats            end with 'stats: wave_instructions=N seconds=S rate=R'\n"
		"  --threads N        host threads (default: one per core)\n"
		"  --max-instructions N   treat a wave running longer than N instructions as hung\n"
		"\n"
		"Exit status: 0 success, 1 the kernel faulted (memory fault, illegal instruction,\n"
		"hang or trap), 2 bad usage or arguments that do not match the kernel.\n");
}

/* ---- parsing --------------------------------------------------------------- */

/* A whole number as a person writes one: decimal digits, or 0x and hex
 * digits; no sign, spaces, octal or exponent ("010" is ten, "1e3" an error). */
static bool parse_u64(const char *s, uint64_t *out)
{
	if (!s)
		return false;
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	/* strtoull would also take a sign, spaces and a second 0x */
	if (!(base == 16 ? isxdigit((unsigned char)s[0]) : isdigit((unsigned char)s[0])) ||
	    (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
	bool neg = s && s[0] == '-';
	uint64_t u;
	if (!parse_u64(neg ? s + 1 : s, &u) || u > (uint64_t)INT64_MAX + neg)
		return false;
	*out = !neg ? (int64_t)u : u == 0 ? 0 : -(int64_t)(u - 1) - 1;	/* -2^63 too */
	return true;
}

static bool parse_size(const char *s, uint64_t *out)
{
	char buf[64];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n + 1);
	uint64_t mult = 1;
	switch (buf[n - 1]) {
	case 'K': case 'k': mult = 1ull << 10; break;
	case 'M': case 'm': mult = 1ull << 20; break;
	case 'G': case 'g': mult = 1ull << 30; break;
	}
	if (mult != 1)
		buf[n - 1] = '\0';
	uint64_t v;
	if (!parse_u64(buf, &v) || v > MAX_BUFFER / mult)
		return false;
	*out = v * mult;
	return true;
}

static bool parse_dims(const char *s, uint32_t out[3])
{
	char buf[96];
	if (!s || strlen(s) >= sizeof buf)
		return false;
	strcpy(buf, s);
	out[0] = out[1] = out[2] = 1;
	int i = 0;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		uint64_t v;
		if (i >= 3 || !parse_u64(tok, &v) || v == 0 || v > UINT32_MAX)
			return false;
		out[i++] = (uint32_t)v;
	}
	return i > 0;
}

struct arg_spec {
	struct emu_arg a;
	char *out_path;
};

static int read_file(const char *path, void **data, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_BUFFER) {
		close(fd);
		return -EINVAL;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *p = malloc(n ? n : 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != n) {
		free(p);
		return -EIO;
	}
	*data = p;
	*size = n;
	return 0;
}

/* SPEC: buf:SIZE[:>OUT] | buf:@IN[:>OUT] | TYPE:VALUE */
static int parse_arg(const char *spec, struct arg_spec *out, char *err, size_t len)
{
	memset(out, 0, sizeof *out);
	const char *colon = strchr(spec, ':');
	if (!colon) {
		snprintf(err, len, "argument '%s': expected buf:SIZE, buf:@FILE or TYPE:VALUE", spec);
		return -EINVAL;
	}
	size_t tl = (size_t)(colon - spec);
	const char *val = colon + 1;
	if (tl == 3 && !strncmp(spec, "buf", 3)) {
		char body[4096];
		const char *o = strstr(val, ":>");
		size_t bl = o ? (size_t)(o - val) : strlen(val);
		if (bl == 0 || bl >= sizeof body || (o && !o[2])) {
			snprintf(err, len, "argument '%s': expected buf:SIZE or buf:@FILE, optionally :>OUTFILE", spec);
			return -EINVAL;
		}
		memcpy(body, val, bl);
		body[bl] = '\0';
		out->a.kind = EMU_ARG_BUFFER;
		strcpy(out->a.what, "buffer");
		if (o && !(out->out_path = strdup(o + 2)))
			return -ENOMEM;
		if (body[0] == '@') {
			int rc = read_file(body + 1, &out->a.data, &out->a.size);
			if (rc < 0) {
				snprintf(err, len, "argument '%s': cannot read %s: %s", spec, body + 1,
					 rc == -EINVAL ? "not a regular file of at most 4 GiB" : strerror(-rc));
				return -EINVAL;
			}
			return 0;
		}
		uint64_t size;
		if (!parse_size(body, &size) || size == 0) {
			snprintf(err, len, "argument '%s': '%s' is not a size between 1 byte and 4G", spec, body);
			return -EINVAL;
		}
		out->a.size = (size_t)size;
		out->a.data = calloc(1, out->a.size);
		return out->a.data ? 0 : -ENOMEM;
	}
	char type[8];
	if (tl >= sizeof type) {
		snprintf(err, len, "argument '%s': unknown type", spec);
		return -EINVAL;
	}
	memcpy(type, spec, tl);
	type[tl] = '\0';
	snprintf(out->a.what, sizeof out->a.what, "%s", type);
	out->a.kind = EMU_ARG_SCALAR;
	uint64_t u;
	int64_t i;
	bool ok = true;
	if (!strcmp(type, "u32")) {
		ok = parse_u64(val, &u) && u <= UINT32_MAX;
		out->a.size = 4;
		out->a.value = u;
	} else if (!strcmp(type, "u64")) {
		ok = parse_u64(val, &u);
		out->a.size = 8;
		out->a.value = u;
	} else if (!strcmp(type, "i32")) {
		ok = parse_i64(val, &i) && i >= INT32_MIN && i <= INT32_MAX;
		out->a.size = 4;
		out->a.value = (uint32_t)(int32_t)i;
	} else if (!strcmp(type, "i64")) {
		ok = parse_i64(val, &i);
		out->a.size = 8;
		out->a.value = (uint64_t)i;
	} else if (!strcmp(type, "f32") || !strcmp(type, "f16")) {
		char *end;
		errno = 0;
		float f = strtof(val, &end);
		ok = *val && !isspace((unsigned char)*val) && !*end && errno != ERANGE;
		if (type[1] == '3') {
			uint32_t bits;
			memcpy(&bits, &f, 4);
			out->a.size = 4;
			out->a.value = bits;
		} else {
			_Float16 h = (_Float16)f;
			uint16_t bits;
			memcpy(&bits, &h, 2);
			out->a.size = 2;
			out->a.value = bits;
		}
	} else {
		snprintf(err, len, "argument '%s': unknown type '%s' (buf, u32, i32, u64, i64, f32, f16)", spec, type);
		return -EINVAL;
	}
	if (!ok) {
		snprintf(err, len, "argument '%s': '%s' is not a valid %s", spec, val, type);
		return -EINVAL;
	}
	return 0;
}

/* Write atomically: a file named by :>OUT is either the full result or untouched. */
static int write_file(const char *path, const void *data, size_t size)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	const uint8_t *p = data;
	size_t done = 0;
	while (done < size) {
		ssize_t w = write(fd, p + done, size - done);
		if (w < 0) {
			int e = -errno;
			close(fd);
			unlink(tmp);
			return e;
		}
		done += (size_t)w;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "grid", required_argument, NULL, 'g' }, { "block", required_argument, NULL, 'b' },
		{ "arg", required_argument, NULL, 'a' }, { "stats", no_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' }, { "max-instructions", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	uint32_t grid[3] = { 0 }, block[3] = { 0 };
	bool have_grid = false, have_block = false, stats = false;
	uint64_t threads = 0, max_inst = 0;
	struct arg_spec specs[MAX_ARGS];
	unsigned nspecs = 0;
	char err[512];
	int status = EXIT_USAGE, c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (!(have_grid = parse_dims(optarg, grid))) {
				fprintf(stderr, "tb emu: --grid '%s': expected X[,Y,Z] with positive integers\n", optarg);
				goto out;
			}
			break;
		case 'b':
			if (!(have_block = parse_dims(optarg, block))) {
				fprintf(stderr, "tb emu: --block '%s': expected X[,Y,Z] with positive integers\n", optarg);
				goto out;
			}
			break;
		case 'a':
			if (nspecs >= MAX_ARGS) {
				fprintf(stderr, "tb emu: too many --arg (at most %d)\n", MAX_ARGS);
				goto out;
			}
			if (parse_arg(optarg, &specs[nspecs], err, sizeof err) < 0) {
				fprintf(stderr, "tb emu: %s\n", err);
				free(specs[nspecs].a.data);
				free(specs[nspecs].out_path);
				goto out;
			}
			nspecs++;
			break;
		case 's': stats = true; break;
		case 't':
			if (!parse_u64(optarg, &threads) || threads > 1024) {
				fprintf(stderr, "tb emu: --threads '%s': expected 0 to 1024\n", optarg);
				goto out;
			}
			break;
		case 'm':
			if (!parse_u64(optarg, &max_inst)) {
				fprintf(stderr, "tb emu: --max-instructions '%s': expected a whole number\n", optarg);
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (argc - optind > 2) {
		fprintf(stderr, "tb emu: unexpected argument '%s' (kernel arguments are given with --arg)\n", argv[optind + 2]);
		goto out;
	}
	if (argc - optind != 2 || !have_grid || !have_block) {
		fprintf(stderr, "tb emu: need CODE_OBJECT, KERNEL, --grid and --block\n");
		usage(stderr);
		goto out;
	}

	struct tb_codeobj *co = NULL;
	if (tb_codeobj_load_file(argv[optind], &co, err, sizeof err) < 0) {
		fprintf(stderr, "tb emu: %s\n", err);
		goto out;
	}
	const struct tb_kernel *k = tb_codeobj_kernel(co, argv[optind + 1]);
	if (!k) {
		fprintf(stderr, "tb emu: %s has no kernel '%s'; it has:", argv[optind], argv[optind + 1]);
		for (uint32_t i = 0; i < co->nkernels; i++)
			fprintf(stderr, " %s", co->kernels[i].name);
		fprintf(stderr, "\n");
		tb_codeobj_free(co);
		goto out;
	}
	struct emu_arg args[MAX_ARGS];
	for (unsigned i = 0; i < nspecs; i++)
		args[i] = specs[i].a;
	struct emu_launch l = {
		.co = co, .kernel = k, .args = args, .nargs = nspecs,
		.threads = (unsigned)threads, .max_wave_instructions = max_inst,
	};
	memcpy(l.grid, grid, sizeof grid);
	memcpy(l.block, block, sizeof block);
	if (emu_check_args(&l, err, sizeof err) < 0) {
		fprintf(stderr, "tb emu: %s\n", err);
		tb_codeobj_free(co);
		goto out;
	}
	struct isa_result res;
	int rc = emu_run(&l, &res, err, sizeof err);
	double secs = (double)res.elapsed_ns / 1e9;	/* the dispatch, not file IO */
	if (rc == -EIO) {
		fprintf(stderr, "tb emu: %s\n", res.message);
		status = EXIT_FAULT;
	} else if (rc < 0) {
		fprintf(stderr, "tb emu: %s\n", err);
		status = rc == -EINVAL ? EXIT_USAGE : EXIT_FAULT;
	} else {
		status = 0;
		for (unsigned i = 0; i < nspecs; i++) {
			if (!specs[i].out_path)
				continue;
			int w = write_file(specs[i].out_path, args[i].data, args[i].size);
			if (w < 0) {
				fprintf(stderr, "tb emu: cannot write %s: %s\n", specs[i].out_path, strerror(-w));
				status = EXIT_FAULT;
			}
		}
		printf("%s: %llu workgroups, %llu waves, %llu wave-instructions\n", k->name,
		       (unsigned long long)res.workgroups, (unsigned long long)res.waves,
		       (unsigned long long)res.wave_instructions);
	}
	if (stats && rc != -EINVAL)
		printf("stats: wave_instructions=%llu seconds=%.6f rate=%.0f\n", (unsigned long long)res.wave_instructions,
		       secs, secs > 0 ? (double)res.wave_instructions / secs : 0.0);
	tb_codeobj_free(co);
out:
	for (unsigned i = 0; i < nspecs; i++) {
		free(specs[i].a.data);
		free(specs[i].out_path);
	}
	return status;
}
