#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sim/box/state.h"

int sim_state_default(char *out, size_t len)
{
	const char *env = getenv("TB_SIM_STATE");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;
	if (env && *env)
		n = snprintf(out, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/run/tb-sim");
	else if (xdg && *xdg)
		n = snprintf(out, len, "%s/tb-sim", xdg);
	else
		n = snprintf(out, len, "/tmp/tb-sim-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
