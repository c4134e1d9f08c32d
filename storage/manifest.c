/* Manifests: FILE.tbsum holds the xxh3-64 of each chunk of FILE, so a load
 * can verify every byte as it streams by.  Text, so people can read it:
 *
 *   tbsum 1 xxh3-64
 *   size BYTES
 *   chunk BYTES
 *   16 hex digits per chunk, one a line
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "storage/internal.h"

#define MAX_CHUNK (256u << 20)
#define MAGIC_LINE "tbsum 1 xxh3-64\n"
#define HEADER_LINE 64          /* the longest header line: "chunk " and 20 digits */
#define SUM_LINE 17             /* 16 hex digits and a newline */

uint64_t tbs_chunk_sum(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

int tbs_manifest_path(const char *file, char *out, size_t len)
{
	return (size_t)snprintf(out, len, "%s.tbsum", file) < len ? 0 : -ENAMETOOLONG;
}

void tbs_manifest_free(struct tbs_manifest *m)
{
	free(m->sums);
	memset(m, 0, sizeof *m);
}

struct summer {
	struct tbs_manifest *m;
	struct tbs_hasher *hasher;
};

/* Slots are whole chunks (1 MiB multiples), so each lands in place. */
static int sum_each(void *ctx, uint64_t off, const uint8_t *data, size_t len, struct tbs_error *err)
{
	struct summer *sm = ctx;
	(void)err;
	tbs_hasher_run(sm->hasher, data, len, sm->m->chunk, sm->m->sums + off / sm->m->chunk);
	return 0;
}

static int write_atomic(const char *path, const struct tbs_manifest *m, struct tbs_error *err)
{
	char tmp[4200];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= sizeof tmp)
		return tbs_fail(err, -ENAMETOOLONG, "%s: name too long", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return tbs_fail(err, -errno, "%s: cannot create: %s", tmp, strerror(errno));
	fprintf(f, MAGIC_LINE "size %" PRIu64 "\nchunk %" PRIu64 "\n", m->file_size, m->chunk);
	for (uint64_t i = 0; i < m->count; i++)
		fprintf(f, "%016" PRIx64 "\n", m->sums[i]);
	/* The rename publishes it only once every byte is on disk. */
	int bad = ferror(f) | fflush(f) | fsync(fileno(f));
	int e = errno;
	if (fclose(f) || bad || rename(tmp, path)) {
		e = bad ? e : errno;
		unlink(tmp);
		return tbs_fail(err, -e, "%s: cannot write: %s", path, strerror(e));
	}
	return 0;
}

int tbs_manifest_write(const char *file, struct tbs_error *err)
{
	char path[4096];
	if (tbs_manifest_path(file, path, sizeof path) < 0)
		return tbs_fail(err, -ENAMETOOLONG, "%s: name too long", file);
	struct tbs_manifest m = { .chunk = TBS_MANIFEST_CHUNK };
	struct tbs_source *src;
	int rc = tbs_source_open_file(&src, file, err);
	if (rc < 0)
		return rc;
	m.file_size = tbs_source_size(src);
	m.count = (m.file_size + m.chunk - 1) / m.chunk;
	if (!(m.sums = calloc(m.count + 1, sizeof *m.sums))) {
		tbs_source_close(src);
		return tbs_fail(err, -ENOMEM, "out of memory");
	}
	struct summer sm = { .m = &m };
	struct tbs_stream s = { .path = file, .src = src, .each = sum_each, .ctx = &sm };
	rc = tbs_hasher_start(&sm.hasher, 0, err);
	if (rc == 0)
		rc = tbs_stream_run(&s, err);
	tbs_hasher_stop(sm.hasher);
	tbs_source_close(src);
	if (rc == 0 && s.bytes != m.file_size)
		rc = tbs_fail(err, -EIO, "%s: changed size while being read", file);
	if (rc == 0)
		rc = write_atomic(path, &m, err);
	tbs_manifest_free(&m);
	return rc;
}

/* Line N of the header: PREFIX then a decimal number, nothing else. */
static int header_line(FILE *f, const char *path, unsigned n, const char *prefix, uint64_t *v,
		       struct tbs_error *err)
{
	char line[HEADER_LINE];
	size_t k = strlen(prefix);
	if (!fgets(line, sizeof line, f) || !strchr(line, '\n'))
		return tbs_fail(err, -EBADMSG, "%s:%u: %s (at most %d bytes a line)", path, n,
				*prefix ? "expected a header line" : "not a tbsum manifest", HEADER_LINE - 1);
	if (!*prefix)
		return strcmp(line, MAGIC_LINE) ? tbs_fail(err, -EBADMSG, "%s: not a tbsum manifest (first line)", path)
						: 0;
	const char *d = line + k;
	if (strncmp(line, prefix, k) || *d < '0' || *d > '9')
		return tbs_fail(err, -EBADMSG, "%s:%u: expected '%sBYTES'", path, n, prefix);
	for (*v = 0; *d >= '0' && *d <= '9'; d++) {
		if (*v > (UINT64_MAX - (uint64_t)(*d - '0')) / 10)
			return tbs_fail(err, -EBADMSG, "%s:%u: the number is beyond 64 bits", path, n);
		*v = *v * 10 + (uint64_t)(*d - '0');
	}
	return strcmp(d, "\n") ? tbs_fail(err, -EBADMSG, "%s:%u: expected '%sBYTES'", path, n, prefix) : 0;
}

/* The header, then its claims against the real files: the size against
 * the data file's, the checksum count against the manifest's own length, so
 * nothing is allocated for what the files do not hold. */
static int parse_header(FILE *f, const char *path, uint64_t file_size, uint64_t man_size, struct tbs_manifest *m,
			struct tbs_error *err)
{
	int rc = header_line(f, path, 1, "", NULL, err);
	if (rc == 0)
		rc = header_line(f, path, 2, "size ", &m->file_size, err);
	if (rc == 0)
		rc = header_line(f, path, 3, "chunk ", &m->chunk, err);
	if (rc < 0)
		return rc;
	if (m->chunk < 4096 || m->chunk > MAX_CHUNK || (m->chunk & (m->chunk - 1)))
		return tbs_fail(err, -EBADMSG, "%s:3: the chunk size is not a power of two from 4 KiB to 256 MiB", path);
	if (m->file_size != file_size)
		return tbs_fail(err, -EBADMSG, "%s: the manifest is for a file of %" PRIu64 " bytes, this one has %" PRIu64,
				path, m->file_size, file_size);
	m->count = m->file_size / m->chunk + (m->file_size % m->chunk != 0);
	long head = ftell(f);
	if (head < 0 || man_size != (uint64_t)head + m->count * SUM_LINE)
		return tbs_fail(err, -EBADMSG, "%s: %" PRIu64 " bytes, but %" PRIu64 " checksums of %d bytes need %" PRIu64,
				path, man_size, m->count, SUM_LINE, (uint64_t)(head < 0 ? 0 : head) + m->count * SUM_LINE);
	return 0;
}

/* Opens FILE.tbsum and reads its header: *f is left at the first checksum. */
static int manifest_open(const struct tbs_root *root, const char *file, uint64_t file_size, struct tbs_manifest *m,
			 char *path, size_t path_len, FILE **f, struct tbs_error *err)
{
	memset(m, 0, sizeof *m);
	if (tbs_manifest_path(file, path, path_len) < 0)
		return tbs_fail(err, -ENAMETOOLONG, "%s: name too long", file);
	int fd;
	uint64_t man_size;
	int rc = tbs_open_input(root, path, 0, &fd, &man_size, err);
	if (rc == -ENOENT)
		return tbs_fail(err, rc, "%s: no manifest; create it with 'tb store manifest %s'", path, file);
	if (rc < 0)
		return rc;
	if (!(*f = fdopen(fd, "r"))) {
		close(fd);
		return tbs_fail(err, -ENOMEM, "out of memory");
	}
	if ((rc = parse_header(*f, path, file_size, man_size, m, err)) < 0)
		fclose(*f);
	return rc;
}

/* The header, and with `sums` the checksums. */
static int manifest_read(const struct tbs_root *root, const char *file, uint64_t file_size, struct tbs_manifest *m,
			 bool sums, struct tbs_error *err)
{
	char path[4096];
	FILE *f = NULL;
	int rc = manifest_open(root, file, file_size, m, path, sizeof path, &f, err);
	if (rc < 0 || !sums) {
		if (rc == 0)
			fclose(f);
		return rc;
	}
	if (!(m->sums = calloc(m->count + 1, sizeof *m->sums)))
		rc = tbs_fail(err, -ENOMEM, "out of memory for %" PRIu64 " checksums", m->count);
	char line[SUM_LINE + 2];
	for (uint64_t i = 0; rc == 0 && i < m->count; i++) {
		char *end;
		if (!fgets(line, sizeof line, f) || strlen(line) != SUM_LINE || line[SUM_LINE - 1] != '\n')
			rc = tbs_fail(err, -EBADMSG, "%s:%" PRIu64 ": expected a 16-digit checksum", path, i + 4);
		else if (m->sums[i] = strtoull(line, &end, 16), end != line + 16 || !isxdigit((unsigned char)line[0]))
			rc = tbs_fail(err, -EBADMSG, "%s:%" PRIu64 ": not hexadecimal", path, i + 4);
	}
	if (rc == 0 && fgets(line, sizeof line, f))
		rc = tbs_fail(err, -EBADMSG, "%s: more checksums than chunks", path);
	fclose(f);
	if (rc < 0)
		tbs_manifest_free(m);
	return rc;
}

int tbs_manifest_plan(const struct tbs_root *root, const char *file, uint64_t file_size, struct tbs_manifest *m,
		      struct tbs_error *err)
{
	return manifest_read(root, file, file_size, m, false, err);
}

int tbs_manifest_load(const struct tbs_root *root, const char *file, uint64_t file_size, struct tbs_manifest *m,
		      struct tbs_error *err)
{
	return manifest_read(root, file, file_size, m, true, err);
}

int tbs_manifest_read(const char *file, struct tbs_manifest *m, struct tbs_error *err)
{
	memset(m, 0, sizeof *m);
	int fd;
	uint64_t size;
	int rc = tbs_open_input(NULL, file, 0, &fd, &size, err);
	if (rc < 0)
		return rc;
	close(fd);
	return tbs_manifest_load(NULL, file, size, m, err);
}
