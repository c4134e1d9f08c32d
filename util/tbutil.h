/* libtbutil: small pieces more than one component needs and none owns.
 * Shipped code and the simulator both link it; it depends on nothing of
 * either. */
#ifndef TB_UTIL_H
#define TB_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* A text file read line by line within limits (util/lines.c). */
struct tb_lines {
	FILE *f;
	char *buf;			/* the current line */
	size_t max_size, max_line, total;
	int line;			/* number of the current line, or of the one that failed */
	char why[160];			/* what was wrong, after a failure */
};
/* Open path: a regular file of at most max_size bytes (else -EINVAL or
 * -EFBIG and why; a FIFO or device is never read). */
int tb_lines_open(struct tb_lines *r, const char *path, size_t max_size, size_t max_line);
/* The next line, without its '\n', in *line (valid until the next call):
 * 1, or 0 at the end; a line over max_line bytes, a NUL byte, a file that
 * grows past max_size or a read error: negative errno and why. */
int tb_lines_next(struct tb_lines *r, char **line);
void tb_lines_close(struct tb_lines *r);

#endif
