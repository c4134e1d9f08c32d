/* libtbfan internals shared by its files.  Private to fancontrol/. */
#ifndef TB_FANCONTROL_INTERNAL_H
#define TB_FANCONTROL_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

/* Strip leading blanks and trailing blanks and line ends, in place. */
char *fc_trim(char *s);

/* A text file read line by line within limits (lines.c). */
struct fc_lines {
	FILE *f;
	char *buf;			/* the current line */
	size_t max_size, max_line, total;
	int line;			/* number of the current line, or of the one that failed */
	char why[160];			/* what was wrong, after a failure */
};
/* Open path: a regular file of at most max_size bytes (else -EINVAL or
 * -EFBIG and why; a FIFO or device is never read). */
int fc_lines_open(struct fc_lines *r, const char *path, size_t max_size, size_t max_line);
/* The next line, without its '\n', in *line (valid until the next call):
 * 1, or 0 at the end; a line over max_line bytes, a NUL byte, a file that
 * grows past max_size or a read error: negative errno and why. */
int fc_lines_next(struct fc_lines *r, char **line);
void fc_lines_close(struct fc_lines *r);

#endif
