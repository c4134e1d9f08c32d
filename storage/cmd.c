/* Helpers shared by storage's commands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/cmd.h"

bool cmd_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	unsigned shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

bool cmd_parse_uint(const char *s, unsigned max, unsigned *out)
{
	uint64_t v;
	if (!cmd_parse_size(s, &v) || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

static void size_text(uint64_t v, char *out, size_t len)
{
	if (v && !(v % (1u << 30)))
		snprintf(out, len, "%lluG", (unsigned long long)(v >> 30));
	else if (v && !(v % (1u << 20)))
		snprintf(out, len, "%lluM", (unsigned long long)(v >> 20));
	else
		snprintf(out, len, "%llu", (unsigned long long)v);
}

bool cmd_opt_size(const char *cmd, const char *opt, const char *val, uint64_t min, uint64_t max, uint64_t *out)
{
	char lo[32], hi[32];
	size_text(min, lo, sizeof lo);
	size_text(max, hi, sizeof hi);
	if (!cmd_parse_size(val, out)) {
		fprintf(stderr, "%s: %s takes BYTES (digits with an optional K, M or G), not '%s'\n", cmd, opt, val);
		return false;
	}
	if (*out < min || *out > max) {
		fprintf(stderr, "%s: %s %s is out of range: from %s to %s\n", cmd, opt, val, lo, hi);
		return false;
	}
	return true;
}

bool cmd_opt_uint(const char *cmd, const char *opt, const char *val, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;
	const char *d = val;
	while (*d >= '0' && *d <= '9')
		d++;
	if (!*val || *d || !cmd_parse_size(val, &v)) {
		fprintf(stderr, "%s: %s takes a whole number, not '%s'\n", cmd, opt, val);
		return false;
	}
	if (v < min || v > max) {
		fprintf(stderr, "%s: %s %s is out of range: from %u to %u\n", cmd, opt, val, min, max);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

void cmd_bad_option(const char *cmd, char **argv, int optind_now)
{
	fprintf(stderr, "%s: unknown option or missing value: '%s'; see %s --help\n", cmd, argv[optind_now - 1], cmd);
}

double cmd_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cmd_progress_init(struct cmd_progress *p, const char *what)
{
	p->what = what;
	p->start = p->last = cmd_now();
	p->tty = isatty(2);
}

void cmd_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct cmd_progress *p = ctx;
	double t = cmd_now();
	if (!p->tty || (t - p->last < 0.1 && done < total))
		return;
	p->last = t;
	double secs = t - p->start;
	fprintf(stderr, "\r%s: %llu/%llu MiB  %.2f GB/s ", p->what, (unsigned long long)(done >> 20),
		(unsigned long long)(total >> 20), secs > 0 ? (double)done / secs / 1e9 : 0.0);
}

void cmd_progress_end(struct cmd_progress *p)
{
	if (p->tty)
		fprintf(stderr, "\r\033[K");
}
