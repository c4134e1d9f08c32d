/* Manifests: FILE.tbsum holds the xxh3-64 of each chunk of FILE, so a load
 * can verify every byte as it streams by.  Text, so people can read it:
 *
 *   tbsum 1 xxh3-64
 *   size BYTES
 *   chunk BYTES
 *   16 hex digits per chunk, one a line
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "storage/internal.h"

#define MAX_CHUNK (256u << 20)

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
};

static int sum_each(void *ctx, uint64_t off, const uint8_t *data, size_t len, struct tbs_error *err)
{
	struct tbs_manifest *m = ctx;
	(void)err;
	for (size_t at = 0; at < len; at += m->chunk)
		m->sums[(off + at) / m->chunk] = tbs_chunk_sum(data + at, len - at < m->chunk ? len - at : m->chunk);
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
	fprintf(f, "tbsum 1 xxh3-64\nsize %" PRIu64 "\nchunk %" PRIu64 "\n", m->file_size, m->chunk);
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
	struct tbs_stream s = { .path = file, .each = sum_each, .ctx = &m };
	/* The size comes from the source the stream opens; allocate sums lazily
	 * by opening it once here. */
	struct tbs_source *src;
	int rc = tbs_source_open_file(&src, file, err);
	if (rc < 0)
		return rc;
	m.file_size = tbs_source_size(src);
	tbs_source_close(src);
	m.count = (m.file_size + m.chunk - 1) / m.chunk;
	if (!(m.sums = calloc(m.count + 1, sizeof *m.sums)))
		return tbs_fail(err, -ENOMEM, "out of memory");
	rc = tbs_stream_run(&s, err);
	if (rc == 0 && s.bytes != m.file_size)
		rc = tbs_fail(err, -EIO, "%s: changed size while being read", file);
	if (rc == 0)
		rc = write_atomic(path, &m, err);
	tbs_manifest_free(&m);
	return rc;
}

static int parse_header(FILE *f, const char *path, struct tbs_manifest *m, struct tbs_error *err)
{
	char line[128];
	if (!fgets(line, sizeof line, f) || strcmp(line, "tbsum 1 xxh3-64\n"))
		return tbs_fail(err, -EBADMSG, "%s: not a tbsum manifest (first line)", path);
	if (!fgets(line, sizeof line, f) || sscanf(line, "size %" SCNu64, &m->file_size) != 1)
		return tbs_fail(err, -EBADMSG, "%s:2: expected 'size BYTES'", path);
	if (!fgets(line, sizeof line, f) || sscanf(line, "chunk %" SCNu64, &m->chunk) != 1)
		return tbs_fail(err, -EBADMSG, "%s:3: expected 'chunk BYTES'", path);
	if (m->chunk < 4096 || m->chunk > MAX_CHUNK || (m->chunk & (m->chunk - 1)))
		return tbs_fail(err, -EBADMSG, "%s:3: chunk %" PRIu64 " is not a power of two from 4 KiB to 256 MiB",
				path, m->chunk);
	m->count = m->file_size / m->chunk + (m->file_size % m->chunk != 0);
	if (m->count > (1ull << 32))
		return tbs_fail(err, -EBADMSG, "%s:2: size too large", path);
	return 0;
}

int tbs_manifest_read(const char *file, struct tbs_manifest *m, struct tbs_error *err)
{
	memset(m, 0, sizeof *m);
	char path[4096];
	if (tbs_manifest_path(file, path, sizeof path) < 0)
		return tbs_fail(err, -ENAMETOOLONG, "%s: name too long", file);
	FILE *f = fopen(path, "r");
	if (!f)
		return tbs_fail(err, -errno, "%s: no manifest (%s); create it with 'tb store manifest %s'", path,
				strerror(errno), file);
	int rc = parse_header(f, path, m, err);
	if (rc == 0 && !(m->sums = calloc(m->count + 1, sizeof *m->sums)))
		rc = tbs_fail(err, -ENOMEM, "out of memory");
	char line[64];
	for (uint64_t i = 0; rc == 0 && i < m->count; i++) {
		char *end;
		if (!fgets(line, sizeof line, f) || strlen(line) != 17 || line[16] != '\n')
			rc = tbs_fail(err, -EBADMSG, "%s:%" PRIu64 ": expected a 16-digit checksum", path, i + 4);
		else if (m->sums[i] = strtoull(line, &end, 16), end != line + 16)
			rc = tbs_fail(err, -EBADMSG, "%s:%" PRIu64 ": not hexadecimal", path, i + 4);
	}
	if (rc == 0 && fgets(line, sizeof line, f))
		rc = tbs_fail(err, -EBADMSG, "%s: more checksums than chunks", path);
	fclose(f);
	if (rc < 0)
		tbs_manifest_free(m);
	return rc;
}
