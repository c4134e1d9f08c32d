/* tb: the appliance's command front end.  It only dispatches, git-style:
 * "tb NAME ARGS..." runs the program tb-NAME from ../libexec/tb next to this
 * binary, so each component keeps its command with its code.  The command
 * runs with argv[0] = "tb NAME": that is the name getopt and the command's
 * own messages print, never the program's path. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tb_version.h"

#define MAX_COMMANDS 256

/* One line per command for `tb --help`; tests/frontend.sh checks that every
 * installed command has one. */
static const struct {
	const char *name, *summary;
} summaries[] = {
	{ "bench", "measure the GPUs: dispatch latency, copy bandwidth" },
	{ "chat", "chat with a llama-family model (GGUF or Hugging Face) on the GPUs" },
	{ "diag", "stress-test every GPU; catch and name each failure, hang and crash" },
	{ "emu", "run one kernel of a gfx1100 code object on the emulator" },
	{ "fan", "the fan daemon's zones and duties; calibrate the fans" },
	{ "fanbench", "fan control against the simulated box's thermal plant, in plant time" },
	{ "generate", "generate text from a llama-family model on the GPUs, streamed, with its tokens/s" },
	{ "info", "list the GPUs: PCI address, target, VRAM, BAR, PCIe link, KFD node" },
	{ "load", "read a safetensors file with O_DIRECT io_uring into host or GPU memory" },
	{ "power", "the GPUs' power caps for one outlet: budget, caps, draw; apply them" },
	{ "raid", "the NVMe drives' health and the md RAID0 arrays" },
	{ "serve", "an OpenAI-compatible HTTP server for one model (tb-inferd in the foreground)" },
	{ "setup", "first boot: plan, apply and verify the appliance's desired state (tb setup --help)" },
	{ "sim", "start, stop and inspect the simulated box; run programs on it; inject faults" },
	{ "store", "checksum manifests, test files and storage benchmarks" },
};

static const char *summary_of(const char *name)
{
	for (size_t i = 0; i < sizeof summaries / sizeof summaries[0]; i++)
		if (!strcmp(summaries[i].name, name))
			return summaries[i].summary;
	return "";
}

static int libexec_dir(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	if ((size_t)snprintf(out, len, "%s/../libexec/tb", dirname(self)) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void usage(FILE *f, const char *dir)
{
	fprintf(f, "usage: tb COMMAND [ARGS...]\n"
		   "       tb help COMMAND        (the same as tb COMMAND --help)\n"
		   "       tb --version\n\ncommands:\n");
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(f, "  (no commands are installed next to tb)\n");
		return;
	}
	char *names[MAX_COMMANDS];
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d)) && count < MAX_COMMANDS)
		if (strncmp(e->d_name, "tb-", 3) == 0 && (names[count] = strdup(e->d_name + 3)))
			count++;
	closedir(d);
	qsort(names, count, sizeof names[0], cmp_names);
	for (size_t i = 0; i < count; i++) {
		fprintf(f, "  %-8s %s\n", names[i], summary_of(names[i]));
		free(names[i]);
	}
}

/* Run command NAME with ARGS (argv-style, NULL-terminated, args[0] unused). */
static int run(const char *dir, const char *name, char **args)
{
	if (name[0] == '-') {
		fprintf(stderr, "tb: unknown option '%s'; see 'tb --help'\n", name);
		return 2;
	}
	if (strchr(name, '/') || name[0] == '.' || !name[0]) {
		fprintf(stderr, "tb: '%s' is not a command; see 'tb --help'\n", name);
		return 2;
	}
	char prog[PATH_MAX + 64], shown[128];
	if ((size_t)snprintf(prog, sizeof prog, "%s/tb-%s", dir, name) >= sizeof prog ||
	    (size_t)snprintf(shown, sizeof shown, "tb %s", name) >= sizeof shown) {
		fprintf(stderr, "tb: command name too long\n");
		return 2;
	}
	if (access(prog, X_OK) != 0) {
		fprintf(stderr, "tb: '%s' is not a tb command; see 'tb --help'\n", name);
		return 2;
	}
	args[0] = shown;
	execv(prog, args);
	fprintf(stderr, "tb: cannot run '%s': %s\n", shown, strerror(errno));
	return 2;
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX];
	int rc = libexec_dir(dir, sizeof dir);
	if (rc < 0) {
		fprintf(stderr, "tb: cannot find my own location: %s\n", strerror(-rc));
		return 2;
	}
	if (argc < 2) {
		usage(stderr, dir);
		return 2;
	}
	const char *first = argv[1];
	if (!strcmp(first, "--version") || !strcmp(first, "-V")) {
		printf("tb %s\n", TB_VERSION);
		return 0;
	}
	if (!strcmp(first, "--help") || !strcmp(first, "-h") || (!strcmp(first, "help") && argc == 2)) {
		usage(stdout, dir);
		return 0;
	}
	if (!strcmp(first, "help")) {
		if (argc > 3) {
			fprintf(stderr, "tb help: one command at a time ('tb help %s')\n", argv[2]);
			return 2;
		}
		char help[] = "--help";
		char *args[] = { NULL, help, NULL };
		return run(dir, argv[2], args);
	}
	return run(dir, first, argv + 1);
}
