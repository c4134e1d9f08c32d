/* tb sim: the simulated box's command.
 *   tb sim run [--state DIR] -- CMD [ARGS...]
 * runs CMD against the simulated box: it sees the box's /sys and /dev files
 * where the kernel's would be, and nothing else about the simulation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/box/state.h"
#include "sim/kmd/ns.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tb sim run [--state DIR] -- CMD [ARGS...]\n"
		"\n"
		"  run     run CMD against the simulated box: its /sys and /dev files appear\n"
		"          where the kernel's would be, in a private mount namespace\n"
		"\n"
		"  --state DIR   the box's state directory (default: $TB_SIM_STATE, else\n"
		"                /run/tb-sim as root, else $XDG_RUNTIME_DIR/tb-sim)\n");
}

static int cmd_run(int argc, char **argv)
{
	const char *state = NULL;
	int i = 0;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--state") && i + 1 < argc) {
			state = argv[++i];
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "tb sim run: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "tb sim run: no command given (tb sim run -- CMD [ARGS...])\n");
		return 2;
	}
	char dir[4096];
	if (!state) {
		if (sim_state_default(dir, sizeof dir) < 0) {
			fprintf(stderr, "tb sim run: cannot name a state directory\n");
			return 2;
		}
		state = dir;
	}
	char err[512];
	if (simns_enter(state, err, sizeof err) < 0) {
		fprintf(stderr, "tb sim run: %s\n", err);
		return 1;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "tb sim run: cannot run %s: %s\n", argv[i], strerror(errno));
	return 127;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	fprintf(stderr, "tb sim: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
