/* systemctl on the target root (see units.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "installer/units.h"

enum { SYSTEMCTL_ANSWER_MAX = 256 };

static void systemctl_argv(const struct setup *s, const char *verb, const char *unit, const char *argv[5],
			   char *rootopt, size_t len)
{
	int i = 0;
	argv[i++] = "systemctl";
	if (s->root[0]) {
		snprintf(rootopt, len, "--root=%s", s->root);
		argv[i++] = rootopt;
	}
	argv[i++] = verb;
	argv[i++] = unit;
	argv[i] = NULL;
}

int units_systemctl(struct setup *s, struct step_run *r, const char *verb, const char *unit)
{
	const char *argv[5];
	char rootopt[PATH_MAX + 16];
	systemctl_argv(s, verb, unit, argv, rootopt, sizeof rootopt);
	return setup_exec(s, r, argv);
}

bool units_say(struct setup *s, const char *verb, const char *unit, const char *want)
{
	const char *argv[5];
	char rootopt[PATH_MAX + 16], out[SYSTEMCTL_ANSWER_MAX];
	systemctl_argv(s, verb, unit, argv, rootopt, sizeof rootopt);
	size_t n = strlen(want);
	return setup_capture(s, argv, out, sizeof out) == 0 && !strncmp(out, want, n) &&
	       (out[n] == '\0' || out[n] == '\n');
}

bool units_systemd_running(const struct setup *s)
{
	return s->live && access("/run/systemd/system", F_OK) == 0;
}
