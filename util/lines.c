/* Reading a text file line by line within limits.  The fan controller's
 * config and calibration, the thermal plant's config and heat traces come
 * through here, so none can hang or exhaust memory: what is not a regular
 * file is refused before a byte is read (opened O_NONBLOCK, so a FIFO
 * without a writer does not block the open), and the file's size and each
 * line's length are capped. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/tbutil.h"

static int why_(struct tb_lines *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int why_(struct tb_lines *r, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
	return rc;
}

int tb_lines_open(struct tb_lines *r, const char *path, size_t max_size, size_t max_line)
{
	memset(r, 0, sizeof *r);
	r->max_size = max_size;
	r->max_line = max_line;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return why_(r, -errno, "cannot open: %s", strerror(errno));
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0)
		rc = why_(r, -errno, "cannot stat: %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = why_(r, -EINVAL, "not a regular file");
	else if ((unsigned long long)st.st_size > max_size)
		rc = why_(r, -EFBIG, "larger than the limit of %zu bytes", max_size);
	else if (!(r->buf = malloc(max_line + 1)))
		rc = why_(r, -ENOMEM, "out of memory");
	else if (!(r->f = fdopen(fd, "r")))
		rc = why_(r, -errno, "cannot open: %s", strerror(errno));
	if (rc < 0) {
		free(r->buf);
		r->buf = NULL;
		close(fd);
	}
	return rc;
}

int tb_lines_next(struct tb_lines *r, char **line)
{
	size_t n = 0;
	int c;
	while ((c = getc_unlocked(r->f)) != EOF) {
		if (++r->total > r->max_size)
			return why_(r, -EFBIG, "the file grew past the limit of %zu bytes while being read", r->max_size);
		if (c == '\n')
			break;
		if (c == '\0')
			return r->line++, why_(r, -EINVAL, "NUL byte in line");
		if (n == r->max_line)
			return r->line++, why_(r, -EINVAL, "line longer than the limit of %zu bytes", r->max_line);
		r->buf[n++] = (char)c;
	}
	if (c == EOF && ferror(r->f))
		return r->line++, why_(r, -EIO, "read error: %s", strerror(errno));
	if (c == EOF && n == 0)
		return 0;
	r->buf[n] = '\0';
	r->line++;
	*line = r->buf;
	return 1;
}

void tb_lines_close(struct tb_lines *r)
{
	if (r->f)
		fclose(r->f);
	free(r->buf);
	r->f = NULL;
	r->buf = NULL;
}
