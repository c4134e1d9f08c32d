/* Helpers shared by storage's commands (tb load, tb store); not library API. */
#ifndef TBSTORE_CMD_H
#define TBSTORE_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* BYTES with an optional K, M or G suffix (powers of 1024). */
bool cmd_parse_size(const char *s, uint64_t *out);
bool cmd_parse_uint(const char *s, unsigned max, unsigned *out);
/* An option's value in [min, max], or a message on stderr that names the
 * command as the user typed it ("tb load"), the option and why. */
bool cmd_opt_size(const char *cmd, const char *opt, const char *val, uint64_t min, uint64_t max, uint64_t *out);
bool cmd_opt_uint(const char *cmd, const char *opt, const char *val, unsigned min, unsigned max, unsigned *out);
/* getopt_long with its own messages off (they would name the program's
 * path inside libexec): an unknown option or a missing value, said by cmd. */
void cmd_bad_option(const char *cmd, char **argv, int optind_now);

/* A progress line on stderr, at most ten times a second, only on a terminal. */
struct cmd_progress {
	const char *what;
	double start, last;
	bool tty;
};
void cmd_progress_init(struct cmd_progress *p, const char *what);
void cmd_progress(void *ctx, uint64_t done, uint64_t total);
void cmd_progress_end(struct cmd_progress *p);
double cmd_now(void);

#endif
