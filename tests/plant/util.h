/* Helpers shared by the plant tests: a scratch directory for generated
 * files, and driving a plant to steady state. */
#ifndef TB_TESTS_PLANT_UTIL_H
#define TB_TESTS_PLANT_UTIL_H

#include <stddef.h>

#include "sim/plant/plant.h"

/* Create / remove the scratch directory (cmocka group setup/teardown). */
int scratch_setup(void **state);
int scratch_teardown(void **state);
/* Write bytes (len) or a string (len (size_t)-1) to the scratch file NAME;
 * returns its path (static buffer, valid until the next call). */
const char *scratch_file(const char *name, const char *data, size_t len);
/* Files no reader may read through, and the start of the error each
 * must give after its path: /dev/zero, a FIFO without a writer (opening
 * it must not block), a directory, a file larger than every reader's
 * limit, a line longer than every reader's limit. */
#define HOSTILE_FILES 5
struct hostile {
	const char *what, *path, *why;
};
void hostile_files(struct hostile h[HOSTILE_FILES]);
/* Fail the test unless err is "PATH" + h->why ... */
void expect_refused(const struct hostile *h, const char *err);
/* The repository's file at REL (TB_SRC, else the current directory). */
const char *source_path(const char *rel);

/* Inputs with every GPU at gpu_w. */
struct plant_inputs inputs(double gpu_w, double cpu_w, double nvme_w, double ambient_c);
/* Set every GPU fan to gpu_pwm and every chassis fan to chassis_pwm. */
void set_fans(struct plant *p, int gpu_pwm, int chassis_pwm);
/* Step in 1 s steps for seconds. */
void run_for(struct plant *p, const struct plant_inputs *in, double seconds);
/* A sensor's reading; fails the test on an unknown sensor. */
double temp(const struct plant *p, const char *component, const char *kind);

#endif
