/* Helpers shared by storage's commands. */
#include <errno.h>
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
