/* Helpers shared by the storage tests: a scratch directory on a real
 * filesystem (O_DIRECT does not work on tmpfs), files of known bytes, and
 * md RAID0 member sets built independently of libtbstore. */
#ifndef TB_TESTS_STORAGE_UTIL_H
#define TB_TESTS_STORAGE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "storage/tbstore.h"

/* cmocka group setup/teardown: make and remove the scratch directory. */
int scratch_setup(void **state);
int scratch_teardown(void **state);
/* PATH of scratch file NAME (static buffer per call slot: up to 8 live). */
const char *scratch(const char *name);
/* len pseudo-random bytes from seed. */
uint8_t *random_bytes(size_t len, uint64_t seed);
void write_file(const char *path, const void *data, size_t len);
uint8_t *read_whole(const char *path, size_t *len);

/* Writes an md RAID0 (superblock 1.2) of `n` members holding `image`
 * (a multiple of n * chunk bytes), striped as md does.  Member i of the
 * returned paths gets role perm[i] (the order given is not the array's);
 * data starts at data_offset bytes. */
struct md_set {
	unsigned n;
	const char *paths[8];
	uint64_t chunk, data_offset;
};
void make_md(struct md_set *s, const char *prefix, const uint8_t *image, size_t len, unsigned n,
	     uint64_t chunk, uint64_t data_offset, const unsigned *perm);
void free_md(struct md_set *s);
/* The md 1.2 checksum, computed as md does, over a superblock block. */
uint32_t md_csum(const uint8_t *sb, unsigned max_dev);

/* A safetensors file from a header JSON and `data_len` bytes of data;
 * returns the whole file's bytes (free them). */
uint8_t *make_safetensors(const char *path, const char *json, size_t data_len, size_t *file_len);

#endif
