/* tb load: read a safetensors file at the drives' speed, optionally verified
 * against its manifest.
 *
 *   tb load FILE [--verify] [--to host|null|gpuN] [--json] [tuning options]
 *
 * --to gpuN: the staging slots are pinned host memory GPU N's copy engine
 * reads (libtbhal); each slot, once read (and verified), is copied into a
 * VRAM buffer the size of the file while the other slots keep reading. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hal/tbhal.h"
#include "storage/cmd.h"
#include "storage/tbstore.h"

#define CMD "tb load"     /* as the user typed it (it runs as libexec/tb/tb-load) */

enum { DEFAULT_SLOTS = 4, DEFAULT_SLOT_BYTES = 16 << 20, COPY_TIMEOUT_MS = 60000 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb load FILE [--verify] [--to host|null|gpuN] [--json] [--readback]\n"
		"\n"
		"Reads a safetensors file with O_DIRECT io_uring reads into pinned staging\n"
		"buffers and reports the throughput.\n"
		"\n"
		"  --verify           check every chunk against FILE.tbsum ('tb store manifest FILE')\n"
		"  --to host          keep the whole file in host memory (default)\n"
		"  --to null          read and drop the data (measures the storage alone)\n"
		"  --to gpuN          into GPU N's VRAM through its copy engine, from pinned staging\n"
		"  --readback         with --to gpuN: read VRAM back and compare with the file\n"
		"  --json             print {\"bytes\":...,\"seconds\":...,\"gb_per_s\":...,\"verified\":...}\n"
		"  --queue-depth N    IOs in flight per drive (default 32)\n"
		"  --io-size BYTES    largest single IO (default 1M)\n"
		"  --slots N          staging buffers (default 4, at least 2)\n"
		"  --slot-size BYTES  bytes per staging buffer (default 16M per drive)\n"
		"  --no-register      do not register buffers and files with io_uring\n"
		"  --hash-threads N   threads hashing for --verify (default: one per CPU, at most 8)\n"
		"\n"
		"Exit status: 0 loaded, 1 the load failed (the error says where), 2 bad usage.\n");
}

enum { OPT_QD = 256, OPT_IO, OPT_SLOTS, OPT_SLOT_SIZE, OPT_NOREG, OPT_READBACK, OPT_HASH };

struct gpu_target {
	int index;		/* -1: no GPU */
	bool readback;
	tbh_device *dev;
	tbh_buffer *staging, *vram;
	tbh_queue *q;
	tbh_signal *done;
	uint64_t copies;
	uint64_t vram_size;     /* the file's size when it was sized */
};

static int parse_args(int argc, char **argv, struct tbs_load_opts *o, bool *json, const char **file,
		      struct gpu_target *gpu)
{
	static const struct option opts[] = {
		{ "verify", no_argument, 0, 'v' }, { "to", required_argument, 0, 't' },
		{ "json", no_argument, 0, 'j' }, { "help", no_argument, 0, 'h' },
		{ "queue-depth", required_argument, 0, OPT_QD }, { "io-size", required_argument, 0, OPT_IO },
		{ "slots", required_argument, 0, OPT_SLOTS }, { "slot-size", required_argument, 0, OPT_SLOT_SIZE },
		{ "no-register", no_argument, 0, OPT_NOREG }, { "readback", no_argument, 0, OPT_READBACK },
		{ "hash-threads", required_argument, 0, OPT_HASH }, { 0 },
	};
	o->target = TBS_TO_HOST;
	uint64_t v;
	unsigned v32;
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 'v': o->verify = true; break;
		case 'j': *json = true; break;
		case 'h': usage(stdout); return 0;
		case 't':
			if (!strcmp(optarg, "host"))
				o->target = TBS_TO_HOST;
			else if (!strcmp(optarg, "null"))
				o->target = TBS_TO_NULL;
			else if (!strncmp(optarg, "gpu", 3) && optarg[3] >= '0' && optarg[3] <= '9' &&
				 cmd_parse_uint(optarg + 3, 63, &v32)) {
				o->target = TBS_TO_NULL;	/* the consumer takes the data */
				gpu->index = (int)v32;
			} else {
				fprintf(stderr, "%s: --to takes host, null or gpuN, not '%s'\n", CMD, optarg);
				return 2;
			}
			break;
		case OPT_QD:
			if (!cmd_opt_uint(CMD, "--queue-depth", optarg, 1, 4096, &o->reader.queue_depth))
				return 2;
			break;
		case OPT_IO:
			if (!cmd_opt_size(CMD, "--io-size", optarg, 1, 1u << 30, &v))
				return 2;
			o->reader.io_size = (uint32_t)v;
			break;
		case OPT_SLOTS:
			if (!cmd_opt_uint(CMD, "--slots", optarg, 2, 1024, &o->slots))
				return 2;
			break;
		case OPT_SLOT_SIZE:
			if (!cmd_opt_size(CMD, "--slot-size", optarg, 1, 1ull << 32, &v))
				return 2;
			o->slot_size = (size_t)v;
			break;
		case OPT_HASH:
			if (!cmd_opt_uint(CMD, "--hash-threads", optarg, 1, 64, &o->hash_threads))
				return 2;
			break;
		case OPT_NOREG: o->reader.no_register = true; break;
		case OPT_READBACK: gpu->readback = true; break;
		default: cmd_bad_option(CMD, argv, optind); return 2;
		}
	}
	if (gpu->readback && gpu->index < 0) {
		fprintf(stderr, "%s: --readback compares VRAM with the file: it needs --to gpuN\n", CMD);
		return 2;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: %s; see %s --help\n", CMD, optind == argc ? "which FILE?" : "one FILE only", CMD);
		return 2;
	}
	*file = argv[optind];
	return -1;
}

/* ---- into a GPU ------------------------------------------------------------------- */

static int gpu_consume(void *ctx, uint64_t off, const void *data, size_t len)
{
	struct gpu_target *g = ctx;
	uint64_t from = (uint64_t)((const uint8_t *)data - (const uint8_t *)tbh_buffer_cpu(g->staging));
	uint64_t v = ++g->copies;
	if (off > g->vram_size || len > g->vram_size - off) {
		fprintf(stderr, "%s: the file grew past the %llu bytes it had when VRAM was allocated\n", CMD,
			(unsigned long long)g->vram_size);
		return -EFBIG;
	}
	/* the slot is reused once this returns: the copy must have read it */
	if (tbh_queue_copy(g->q, g->vram, off, g->staging, from, len) || tbh_queue_signal(g->q, g->done, v) ||
	    tbh_queue_submit(g->q) || tbh_signal_wait(g->done, v, COPY_TIMEOUT_MS)) {
		fprintf(stderr, "%s: copying to GPU %d: %s\n", CMD, g->index, tbh_last_error());
		return -EIO;
	}
	return 0;
}

static int gpu_open(struct gpu_target *g, const char *file, struct tbs_load_opts *o)
{
	struct stat st;
	if (stat(file, &st) < 0) {
		fprintf(stderr, "%s: %s: %s\n", CMD, file, strerror(errno));
		return -errno;
	}
	if (!o->slots)
		o->slots = DEFAULT_SLOTS;
	if (!o->slot_size)
		o->slot_size = DEFAULT_SLOT_BYTES;
	size_t staging = (size_t)o->slots * o->slot_size;
	g->vram_size = st.st_size ? (uint64_t)st.st_size : 1;
	if (tbh_device_open(g->index, &g->dev) || tbh_buffer_alloc(g->dev, staging, TBH_MEMORY_HOST, &g->staging) ||
	    tbh_buffer_alloc(g->dev, g->vram_size, TBH_MEMORY_DEVICE, &g->vram) ||
	    tbh_queue_create(g->dev, TBH_QUEUE_COPY, &g->q) || tbh_signal_create(g->dev, 0, &g->done)) {
		fprintf(stderr, "%s: %s\n", CMD, tbh_last_error());
		return -EIO;
	}
	o->staging = tbh_buffer_cpu(g->staging);
	o->staging_len = staging;
	o->consume = gpu_consume;
	o->consume_ctx = g;
	return 0;
}

/* The file's bytes against VRAM, read through the BAR: the `loaded` bytes
 * the load put there, no more (the file may have grown since). */
static int gpu_readback(struct gpu_target *g, const char *file, uint64_t loaded)
{
	int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", CMD, file, strerror(errno));
		return -errno;
	}
	uint8_t buf[1 << 16];
	const uint8_t *vram = tbh_buffer_cpu(g->vram);
	uint64_t off = 0;
	int rc = 0;
	for (ssize_t n; rc == 0 && off < loaded &&
			(n = read(fd, buf, loaded - off < sizeof buf ? (size_t)(loaded - off) : sizeof buf)) > 0;
	     off += (uint64_t)n)
		if (memcmp(buf, vram + off, (size_t)n)) {
			fprintf(stderr, "%s: VRAM differs from the file within bytes %llu..%llu\n", CMD,
				(unsigned long long)off, (unsigned long long)(off + (uint64_t)n));
			rc = -EBADMSG;
		}
	close(fd);
	return rc;
}

static void gpu_close(struct gpu_target *g)
{
	tbh_signal_destroy(g->done);
	tbh_queue_destroy(g->q);
	tbh_buffer_free(g->vram);
	tbh_buffer_free(g->staging);
	tbh_device_close(g->dev);
}

int main(int argc, char **argv)
{
	struct tbs_load_opts o = { 0 };
	struct gpu_target gpu = { .index = -1 };
	bool json = false;
	const char *file = NULL;
	int rc = parse_args(argc, argv, &o, &json, &file, &gpu);
	if (rc >= 0)
		return rc;
	if (gpu.index >= 0 && gpu_open(&gpu, file, &o) < 0) {
		gpu_close(&gpu);
		return 1;
	}
	struct cmd_progress prog;
	cmd_progress_init(&prog, "loading");
	o.progress = cmd_progress;
	o.progress_ctx = &prog;
	struct tbs_load_result res;
	struct tbs_error err = { 0 };
	rc = tbs_load(file, &o, &res, &err);
	cmd_progress_end(&prog);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", CMD, err.msg);
		gpu_close(&gpu);
		return 1;
	}
	if (gpu.readback && gpu_readback(&gpu, file, res.bytes) < 0) {
		tbs_load_result_free(&res);
		gpu_close(&gpu);
		return 1;
	}
	double gbps = res.seconds > 0 ? (double)res.bytes / res.seconds / 1e9 : 0;
	if (json)
		printf("{\"bytes\":%llu,\"seconds\":%.6f,\"gb_per_s\":%.3f,\"verified\":%s}\n",
		       (unsigned long long)res.bytes, res.seconds, gbps, res.verified ? "true" : "false");
	else
		printf("%s: %zu tensors, %llu bytes in %.3f s, %.2f GB/s%s%s%s\n", file, res.st.count,
		       (unsigned long long)res.bytes, res.seconds, gbps, res.verified ? ", verified" : "",
		       res.registered ? "" : " (unregistered buffers)",
		       gpu.index < 0 ? "" : gpu.readback ? ", in VRAM (read back equal)" : ", in VRAM");
	tbs_load_result_free(&res);
	gpu_close(&gpu);
	return 0;
}
