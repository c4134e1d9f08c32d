/* tb load: read a safetensors file at the drives' speed, optionally verified
 * against its manifest.
 *
 *   tb load FILE [--verify] [--to host|null] [--json] [tuning options] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "storage/cmd.h"
#include "storage/tbstore.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb load FILE [--verify] [--to host|null] [--json]\n"
		"\n"
		"Reads a safetensors file with O_DIRECT io_uring reads into pinned staging\n"
		"buffers and reports the throughput.\n"
		"\n"
		"  --verify           check every chunk against FILE.tbsum ('tb store manifest FILE')\n"
		"  --to host          keep the whole file in host memory (default)\n"
		"  --to null          read and drop the data (measures the storage alone)\n"
		"  --to gpuN          not available yet: needs the HAL's copy queues\n"
		"  --json             print {\"bytes\":...,\"seconds\":...,\"gb_per_s\":...,\"verified\":...}\n"
		"  --queue-depth N    IOs in flight per drive (default 32)\n"
		"  --io-size BYTES    largest single IO (default 1M)\n"
		"  --slots N          staging buffers (default 4, at least 2)\n"
		"  --slot-size BYTES  bytes per staging buffer (default 16M per drive)\n"
		"  --no-register      do not register buffers and files with io_uring\n"
		"\n"
		"Exit status: 0 loaded, 1 the load failed (the error says where), 2 bad usage.\n");
}

enum { OPT_QD = 256, OPT_IO, OPT_SLOTS, OPT_SLOT_SIZE, OPT_NOREG };

static int parse_args(int argc, char **argv, struct tbs_load_opts *o, bool *json, const char **file)
{
	static const struct option opts[] = {
		{ "verify", no_argument, 0, 'v' }, { "to", required_argument, 0, 't' },
		{ "json", no_argument, 0, 'j' }, { "help", no_argument, 0, 'h' },
		{ "queue-depth", required_argument, 0, OPT_QD }, { "io-size", required_argument, 0, OPT_IO },
		{ "slots", required_argument, 0, OPT_SLOTS }, { "slot-size", required_argument, 0, OPT_SLOT_SIZE },
		{ "no-register", no_argument, 0, OPT_NOREG }, { 0 },
	};
	o->target = TBS_TO_HOST;
	uint64_t v;
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
			else if (!strncmp(optarg, "gpu", 3)) {
				fprintf(stderr, "tb load: --to %s is not available yet: loading into GPU memory goes "
						"through the HAL's copy queues, which the GPU driver work provides\n", optarg);
				return 1;
			} else {
				fprintf(stderr, "tb load: --to takes host, null or gpuN, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_QD:
			if (!cmd_parse_uint(optarg, 4096, &o->reader.queue_depth) || !o->reader.queue_depth)
				goto bad;
			break;
		case OPT_IO:
			if (!cmd_parse_size(optarg, &v) || !v || v > (1u << 30))
				goto bad;
			o->reader.io_size = (uint32_t)v;
			break;
		case OPT_SLOTS:
			if (!cmd_parse_uint(optarg, 1024, &o->slots) || o->slots < 2)
				goto bad;
			break;
		case OPT_SLOT_SIZE:
			if (!cmd_parse_size(optarg, &v) || !v || v > (1ull << 32))
				goto bad;
			o->slot_size = (size_t)v;
			break;
		case OPT_NOREG: o->reader.no_register = true; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	*file = argv[optind];
	return -1;
bad:
	fprintf(stderr, "tb load: bad option value '%s'; see tb load --help\n", optarg);
	return 2;
}

int main(int argc, char **argv)
{
	struct tbs_load_opts o = { 0 };
	bool json = false;
	const char *file = NULL;
	int rc = parse_args(argc, argv, &o, &json, &file);
	if (rc >= 0)
		return rc;
	struct cmd_progress prog;
	cmd_progress_init(&prog, "loading");
	o.progress = cmd_progress;
	o.progress_ctx = &prog;
	struct tbs_load_result res;
	struct tbs_error err = { 0 };
	rc = tbs_load(file, &o, &res, &err);
	cmd_progress_end(&prog);
	if (rc < 0) {
		fprintf(stderr, "tb load: %s\n", err.msg);
		return 1;
	}
	double gbps = res.seconds > 0 ? (double)res.bytes / res.seconds / 1e9 : 0;
	if (json)
		printf("{\"bytes\":%llu,\"seconds\":%.6f,\"gb_per_s\":%.3f,\"verified\":%s}\n",
		       (unsigned long long)res.bytes, res.seconds, gbps, res.verified ? "true" : "false");
	else
		printf("%s: %zu tensors, %llu bytes in %.3f s, %.2f GB/s%s%s\n", file, res.st.count,
		       (unsigned long long)res.bytes, res.seconds, gbps, res.verified ? ", verified" : "",
		       res.registered ? "" : " (unregistered buffers)");
	tbs_load_result_free(&res);
	return 0;
}
