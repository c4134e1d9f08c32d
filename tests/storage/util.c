/* Helpers shared by the storage tests. */
#include <endian.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/storage/util.h"

static char dir[4096];

int scratch_setup(void **state)
{
	(void)state;
	const char *build = getenv("TB_BUILD");
	snprintf(dir, sizeof dir, "%s/storage-scratch-XXXXXX", build && *build ? build : "/var/tmp");
	char base[4096];
	snprintf(base, sizeof base, "%s", dir);
	*strrchr(base, '/') = '\0';
	mkdir(base, 0755);
	return mkdtemp(dir) ? 0 : -1;
}

int scratch_teardown(void **state)
{
	(void)state;
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

const char *scratch(const char *name)
{
	static char paths[8][4200];
	static unsigned next;
	char *p = paths[next++ % 8];
	snprintf(p, sizeof paths[0], "%s/%s", dir, name);
	return p;
}

uint8_t *random_bytes(size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < len; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		p[i] = (uint8_t)(s >> 24);
	}
	return p;
}

void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

uint8_t *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	uint8_t *p = malloc(*len + 1);
	assert_int_equal(fread(p, 1, *len, f), *len);
	fclose(f);
	return p;
}

static void put32(uint8_t *p, size_t off, uint32_t v) { v = htole32(v); memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, size_t off, uint64_t v) { v = htole64(v); memcpy(p + off, &v, 8); }

uint32_t md_csum(const uint8_t *sb, unsigned max_dev)
{
	uint8_t copy[4096];
	size_t len = 256 + 2 * (size_t)max_dev;
	memcpy(copy, sb, len);
	put32(copy, 216, 0);
	uint64_t sum = 0;
	size_t i;
	for (i = 0; len - i >= 4; i += 4) {
		uint32_t w;
		memcpy(&w, copy + i, 4);
		sum += le32toh(w);
	}
	if (len - i == 2)
		sum += (uint32_t)copy[i] | (uint32_t)copy[i + 1] << 8;
	return (uint32_t)(sum & 0xffffffff) + (uint32_t)(sum >> 32);
}

/* Superblock 1.2 for member `dev_number` with role `role`.  max_dev is odd
 * on purpose so the checksum's trailing half word is exercised. */
static void make_sb(uint8_t *sb, unsigned n, unsigned dev_number, unsigned role, uint64_t chunk,
		    uint64_t data_offset, uint64_t data_size)
{
	const unsigned max_dev = n + 3;
	memset(sb, 0, 4096);
	put32(sb, 0, 0xa92b4efc);
	put32(sb, 4, 1);
	memcpy(sb + 16, "tb-test-array-uu", 16);     /* set_uuid */
	memcpy(sb + 32, "box:raid", 8);              /* set_name */
	put32(sb, 72, 0);                            /* level */
	put32(sb, 88, (uint32_t)(chunk / 512));
	put32(sb, 92, n);
	put64(sb, 128, data_offset / 512);
	put64(sb, 136, data_size / 512);
	put64(sb, 144, 8);                           /* super_offset */
	put32(sb, 160, dev_number);
	put64(sb, 200, 42);                          /* events */
	put32(sb, 220, max_dev);
	for (unsigned d = 0; d < max_dev; d++) {
		uint16_t r = htole16(d == dev_number ? (uint16_t)role : d < n ? 0 : 0xffff);
		memcpy(sb + 256 + 2 * d, &r, 2);
	}
	put32(sb, 216, md_csum(sb, max_dev));
}

void make_md(struct md_set *s, const char *prefix, const uint8_t *image, size_t len, unsigned n,
	     uint64_t chunk, uint64_t data_offset, const unsigned *perm)
{
	assert_true(n <= 8 && len % (n * chunk) == 0);
	s->n = n;
	s->chunk = chunk;
	s->data_offset = data_offset;
	uint64_t per = len / n;
	for (unsigned i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s%u", prefix, i);
		s->paths[i] = strdup(scratch(name));
		unsigned role = perm ? perm[i] : i;
		size_t mlen = data_offset + per;
		uint8_t *m = calloc(1, mlen);
		assert_non_null(m);
		make_sb(m + 4096, n, i, role, chunk, data_offset, per);
		/* md's raid0: array chunk c lives on role c % n, at chunk c / n. */
		for (uint64_t c = 0; c < len / chunk; c++)
			if (c % n == role)
				memcpy(m + data_offset + c / n * chunk, image + c * chunk, chunk);
		write_file(s->paths[i], m, mlen);
		free(m);
	}
}

uint8_t *make_safetensors(const char *path, const char *json, size_t data_len, size_t *file_len)
{
	size_t hl = strlen(json);
	*file_len = 8 + hl + data_len;
	uint8_t *f = random_bytes(*file_len, hl + data_len);
	uint64_t le = htole64(hl);
	memcpy(f, &le, 8);
	memcpy(f + 8, json, hl);
	write_file(path, f, *file_len);
	return f;
}

void free_md(struct md_set *s)
{
	for (unsigned i = 0; i < s->n; i++)
		free((void *)s->paths[i]);
	s->n = 0;
}
