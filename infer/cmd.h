/* What tb generate and tb chat share: the model and sampling options, the
 * loading progress bar, the figures line; not library API. */
#ifndef TBINFER_CMD_H
#define TBINFER_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "infer/tbinfer.h"

struct infer_opts {
	const char *model;
	struct tbi_engine_opts engine;
	struct tbi_sampling sampling;
	unsigned max_tokens;
	bool json;
	const char *chat_template;	/* tb chat */
	const char *system;		/* tb chat */
	const char *prompt;		/* tb generate */
};

/* The options both commands take, as getopt_long entries (ids >= 256). */
enum {
	OPT_MAX_TOKENS = 256, OPT_TEMPERATURE, OPT_TOP_K, OPT_TOP_P, OPT_SEED, OPT_GPUS, OPT_CONTEXT, OPT_JSON,
	OPT_VERIFY, OPT_KERNELS, OPT_HANG_TIMEOUT, OPT_PROMPT, OPT_TEMPLATE, OPT_SYSTEM, OPT_HELP,
};

/* Parses argv into o: false after a message on stderr naming cmd ("tb
 * generate"), the option and why.  *help when --help was asked. */
bool infer_parse(const char *cmd, int argc, char **argv, bool chat, struct infer_opts *o, bool *help);

/* Opens the engine with a progress bar on a terminal (stderr); false after
 * a message. */
bool infer_open(const char *cmd, const struct infer_opts *o, tbi_engine **e);

/* Both commands' start: the options (--help prints usage), then the
 * engine.  false: exit with *status (0 after --help, 2 bad options, 1 the
 * engine did not open, said on stderr). */
bool infer_start(const char *cmd, int argc, char **argv, bool chat, const char *usage, struct infer_opts *o,
		 tbi_engine **e, int *status);

/* time to first token, prefill and decode tokens/s, on f */
void infer_print_stats(FILE *f, const struct tbi_stats *s);
const char *infer_stop_name(enum tbi_stop s);

#endif
