/* TAP output for C test programs that are no cmocka suites (they run inside
 * the simulated box): check() prints "ok N - ..." or "not ok N - ...";
 * tap_done() prints the plan and gives the exit status. */
#ifndef TB_TESTS_TAP_H
#define TB_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_count, tap_failures;
/* optional: called after a failure to print more (a library's last error) */
static void (*tap_on_failure)(void);

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%sok %d - ", ok ? "" : "not ", ++tap_count);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (!ok && tap_on_failure)
		tap_on_failure();
	fflush(stdout);
	tap_failures += !ok;
}

static int tap_done(void) __attribute__((unused));
static int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failures ? 1 : 0;
}

#endif
