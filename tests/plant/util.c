/* Helpers shared by the plant tests. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/plant/util.h"

static char scratch[64];

int scratch_setup(void **state)
{
	(void)state;
	snprintf(scratch, sizeof scratch, "/tmp/tbplant.XXXXXX");
	return mkdtemp(scratch) ? 0 : -1;
}

int scratch_teardown(void **state)
{
	(void)state;
	DIR *d = opendir(scratch);
	if (!d)
		return -1;
	char path[512];
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
			unlink(path);
		}
	closedir(d);
	return rmdir(scratch);
}

const char *scratch_file(const char *name, const char *data, size_t len)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", scratch, name);
	if (len == (size_t)-1)
		len = strlen(data);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Past every reader's limits: the largest file limit (a heat trace's
 * 64 MiB) and the longest line limit (a trace's 4096 bytes). */
#define HOSTILE_SIZE ((65 << 20) + 1)
#define HOSTILE_LINE 5000

void hostile_files(struct hostile h[HOSTILE_FILES])
{
	static char fifo[128], big[128], longline[128];
	snprintf(fifo, sizeof fifo, "%s/fifo", scratch);
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(big, sizeof big, "%s/big", scratch);
	FILE *f = fopen(big, "wb");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), HOSTILE_SIZE), 0); /* sparse: no time, no disk */
	assert_int_equal(fclose(f), 0);
	char *text = malloc(HOSTILE_LINE + 2);
	assert_non_null(text);
	memset(text, 'x', HOSTILE_LINE);
	text[HOSTILE_LINE] = '\n';
	snprintf(longline, sizeof longline, "%s", scratch_file("longline", text, HOSTILE_LINE + 1));
	free(text);
	h[0] = (struct hostile){"a device without end", "/dev/zero", ":0: not a regular file"};
	h[1] = (struct hostile){"a FIFO without a writer", fifo, ":0: not a regular file"};
	h[2] = (struct hostile){"a directory", scratch, ":0: not a regular file"};
	h[3] = (struct hostile){"an oversized file", big, ":0: larger than the limit of "};
	h[4] = (struct hostile){"an overlong line", longline, ":1: line longer than the limit of "};
}

void expect_refused(const struct hostile *h, const char *err)
{
	char want[300];
	snprintf(want, sizeof want, "%s%s", h->path, h->why);
	if (strncmp(err, want, strlen(want)))
		fail_msg("%s: expected '%s...', got '%s'", h->what, want, err);
}

const char *source_path(const char *rel)
{
	static char path[1024];
	const char *src = getenv("TB_SRC");
	snprintf(path, sizeof path, "%s/%s", src && *src ? src : ".", rel);
	return path;
}

struct plant_inputs inputs(double gpu_w, double cpu_w, double nvme_w, double ambient_c)
{
	struct plant_inputs in = {.cpu_w = cpu_w, .nvme_w = nvme_w, .ambient_c = ambient_c};
	for (int i = 0; i < PLANT_GPUS; i++)
		in.gpu_w[i] = gpu_w;
	return in;
}

void set_fans(struct plant *p, int gpu_pwm, int chassis_pwm)
{
	for (int i = 0; i < plant_fan_count(p); i++)
		assert_int_equal(plant_fan_set_pwm(p, i, i < PLANT_GPUS ? gpu_pwm : chassis_pwm), 0);
}

void run_for(struct plant *p, const struct plant_inputs *in, double seconds)
{
	for (double t = 0; t < seconds; t += 1)
		plant_step(p, 1, in);
}

double temp(const struct plant *p, const char *component, const char *kind)
{
	double c = -1000;
	assert_int_equal(plant_temp(p, component, kind, &c), 0);
	return c;
}
