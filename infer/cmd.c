/* Options, progress and figures shared by tb generate and tb chat. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "infer/cmd.h"

static const struct option long_opts[] = {
	{ "max-tokens", required_argument, NULL, OPT_MAX_TOKENS },
	{ "temperature", required_argument, NULL, OPT_TEMPERATURE },
	{ "top-k", required_argument, NULL, OPT_TOP_K },
	{ "top-p", required_argument, NULL, OPT_TOP_P },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "gpus", required_argument, NULL, OPT_GPUS },
	{ "context", required_argument, NULL, OPT_CONTEXT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "kernels", required_argument, NULL, OPT_KERNELS },
	{ "hang-timeout-ms", required_argument, NULL, OPT_HANG_TIMEOUT },
	{ "prompt", required_argument, NULL, OPT_PROMPT },
	{ "template", required_argument, NULL, OPT_TEMPLATE },
	{ "system", required_argument, NULL, OPT_SYSTEM },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Decimal digits only, no sign, no spaces, within [min, max]. */
static bool parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!s || *s < '0' || *s > '9') {
		fprintf(stderr, "%s: --%s '%s': not a number\n", cmd, opt, s ? s : "");
		return false;
	}
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno) {
		fprintf(stderr, "%s: --%s '%s': not a number\n", cmd, opt, s);
		return false;
	}
	if (v < min || v > max) {
		fprintf(stderr, "%s: --%s %s: it must be between %llu and %llu\n", cmd, opt, s,
			(unsigned long long)min, (unsigned long long)max);
		return false;
	}
	*out = v;
	return true;
}

static bool parse_float(const char *cmd, const char *opt, const char *s, double min, double max, float *out)
{
	char *end;
	errno = 0;
	double v = s && *s && *s != ' ' ? strtod(s, &end) : NAN;
	if (isnan(v) || *end || errno || !isfinite(v)) {
		fprintf(stderr, "%s: --%s '%s': not a number\n", cmd, opt, s ? s : "");
		return false;
	}
	if (v < min || v > max) {
		fprintf(stderr, "%s: --%s %s: it must be between %g and %g\n", cmd, opt, s, min, max);
		return false;
	}
	*out = (float)v;
	return true;
}

static bool parse_one(const char *cmd, int c, const char *arg, struct infer_opts *o)
{
	uint64_t v;
	switch (c) {
	case OPT_MAX_TOKENS:
		return parse_u64(cmd, "max-tokens", arg, 1, 1u << 20, &v) && ((o->max_tokens = (unsigned)v), true);
	case OPT_TEMPERATURE:
		return parse_float(cmd, "temperature", arg, 0, 100, &o->sampling.temperature);
	case OPT_TOP_K:
		return parse_u64(cmd, "top-k", arg, 1, 256, &v) && ((o->sampling.top_k = (uint32_t)v), true);
	case OPT_TOP_P:
		if (!parse_float(cmd, "top-p", arg, 0, 1, &o->sampling.top_p))
			return false;
		if (o->sampling.top_p <= 0) {
			fprintf(stderr, "%s: --top-p %s: it must be above 0\n", cmd, arg);
			return false;
		}
		return true;
	case OPT_SEED:
		return parse_u64(cmd, "seed", arg, 0, UINT64_MAX, &o->sampling.seed);
	case OPT_GPUS:
		return parse_u64(cmd, "gpus", arg, 1, TBI_MAX_GPUS, &v) && ((o->engine.ngpus = (int)v), true);
	case OPT_CONTEXT:
		return parse_u64(cmd, "context", arg, 2, 1u << 20, &v) && ((o->engine.context = (uint32_t)v), true);
	case OPT_HANG_TIMEOUT:
		return parse_u64(cmd, "hang-timeout-ms", arg, 1, 3600000, &v) &&
		       ((o->engine.hang_timeout_ms = (uint32_t)v), true);
	case OPT_JSON:
		o->json = true;
		return true;
	case OPT_VERIFY:
		o->engine.verify = true;
		return true;
	case OPT_KERNELS:
		o->engine.kernels = arg;
		return true;
	case OPT_PROMPT:
		o->prompt = arg;
		return true;
	case OPT_TEMPLATE:
		o->chat_template = arg;
		return true;
	case OPT_SYSTEM:
		o->system = arg;
		return true;
	}
	return false;
}

bool infer_parse(const char *cmd, int argc, char **argv, bool chat, struct infer_opts *o, bool *help)
{
	memset(o, 0, sizeof *o);
	o->max_tokens = chat ? 1024 : 256;
	o->sampling = (struct tbi_sampling){ .temperature = chat ? 0.7f : 0, .top_k = 40, .top_p = 0.95f };
	*help = false;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
		if (c == OPT_HELP) {
			*help = true;
			return true;
		}
		bool mine = chat ? c != OPT_PROMPT && c != OPT_JSON : c != OPT_TEMPLATE && c != OPT_SYSTEM;
		if (c == '?' || c == ':' || !mine) {
			const char *bad = argv[optind - 1];
			if (c == ':')
				fprintf(stderr, "%s: option '%s' needs a value\n", cmd, bad);
			else
				fprintf(stderr, "%s: unknown option '%s' (%s --help)\n", cmd, bad, cmd);
			return false;
		}
		if (!parse_one(cmd, c, optarg, o))
			return false;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: %s (%s --help)\n", cmd, optind >= argc ? "which model? (a GGUF file or a model directory)" : "one model at a time", cmd);
		return false;
	}
	o->model = argv[optind];
	if (!chat && !o->prompt) {
		fprintf(stderr, "%s: --prompt TEXT is needed\n", cmd);
		return false;
	}
	return true;
}

struct bar {
	double start, last;
	bool tty;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	struct bar *b = ctx;
	double t = now();
	if (!b->tty || (t - b->last < 0.1 && done < total))
		return;
	b->last = t;
	int width = 30, fill = total ? (int)((double)done / (double)total * width) : width;
	double gbs = t > b->start ? (double)done / (t - b->start) / 1e9 : 0;
	fprintf(stderr, "\rloading [%.*s%*s] %5.1f%%  %.2f GB/s", fill, "##############################",
		width - fill, "", total ? 100.0 * (double)done / (double)total : 100.0, gbs);
	fflush(stderr);
}

bool infer_open(const char *cmd, const struct infer_opts *o, tbi_engine **e)
{
	struct bar b = { .start = now(), .tty = isatty(2) };
	struct tbi_engine_opts eo = o->engine;
	eo.progress = progress;
	eo.progress_ctx = &b;
	struct tbi_err err = { 0 };
	int rc = tbi_engine_open(o->model, &eo, e, &err);
	if (b.tty)
		fprintf(stderr, "\r%*s\r", 70, "");
	if (rc) {
		fprintf(stderr, "%s: %s\n", cmd, err.msg);
		return false;
	}
	return true;
}

const char *infer_stop_name(enum tbi_stop s)
{
	switch (s) {
	case TBI_STOP_EOS:
		return "eos";
	case TBI_STOP_LENGTH:
		return "length";
	case TBI_STOP_CONTEXT:
		return "context";
	case TBI_STOP_CALLER:
		return "stopped";
	}
	return "?";
}

void infer_print_stats(FILE *f, const struct tbi_stats *s)
{
	fprintf(f, "%u prompt tokens (%u cached), %u generated; first token %.3f s, prefill %.1f tokens/s, decode %.1f "
		   "tokens/s\n",
		s->prompt_tokens, s->cached_tokens, s->generated_tokens, s->first_token_s, s->prefill_tps, s->decode_tps);
}

bool infer_start(const char *cmd, int argc, char **argv, bool chat, const char *usage, struct infer_opts *o,
		 tbi_engine **e, int *status)
{
	bool help;
	*status = 2;
	if (!infer_parse(cmd, argc, argv, chat, o, &help))
		return false;
	if (help) {
		fputs(usage, stdout);
		*status = 0;
		return false;
	}
	*status = 1;
	return infer_open(cmd, o, e);
}
