/* tb: the appliance's command front end.  It only dispatches, git-style:
 * "tb NAME ARGS..." runs the program tb-NAME from ../libexec/tb next to this
 * binary, so each component keeps its command with its code. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	fprintf(f, "usage: tb COMMAND [ARGS...]\n       tb COMMAND --help\n\ncommands:\n");
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(f, "  (none found in %s)\n", dir);
		return;
	}
	char *names[256];
	size_t count = 0;
	struct dirent *e;
	while ((e = readdir(d)) && count < 256)
		if (strncmp(e->d_name, "tb-", 3) == 0 && (names[count] = strdup(e->d_name + 3)))
			count++;
	closedir(d);
	qsort(names, count, sizeof names[0], cmp_names);
	for (size_t i = 0; i < count; i++) {
		fprintf(f, "  %s\n", names[i]);
		free(names[i]);
	}
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX];
	int rc = libexec_dir(dir, sizeof dir);
	if (rc < 0) {
		fprintf(stderr, "tb: cannot find my own location: %s\n", strerror(-rc));
		return 2;
	}
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout, dir);
		return argc < 2 ? 2 : 0;
	}
	const char *name = argv[1];
	if (strchr(name, '/') || name[0] == '.' || name[0] == '-') {
		fprintf(stderr, "tb: '%s' is not a command; see 'tb --help'\n", name);
		return 2;
	}
	char prog[PATH_MAX + 64];
	if ((size_t)snprintf(prog, sizeof prog, "%s/tb-%s", dir, name) >= sizeof prog) {
		fprintf(stderr, "tb: command name too long\n");
		return 2;
	}
	if (access(prog, X_OK) != 0) {
		fprintf(stderr, "tb: '%s' is not a tb command; see 'tb --help'\n", name);
		return 2;
	}
	argv[1] = prog;
	execv(prog, argv + 1);
	fprintf(stderr, "tb: cannot run %s: %s\n", prog, strerror(errno));
	return 2;
}
