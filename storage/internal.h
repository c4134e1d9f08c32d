/* libtbstore internals shared between its files; not a public interface. */
#ifndef TBSTORE_INTERNAL_H
#define TBSTORE_INTERNAL_H

#include "storage/tbstore.h"

struct tbs_member {
	int fd;
	char *path;
	uint64_t data_offset;   /* where the array's data starts on this member */
	uint64_t size;          /* usable bytes from data_offset */
};

struct tbs_source {
	unsigned n;
	struct tbs_member *m;   /* indexed by role (RAID0 order) */
	uint64_t size;          /* bytes in the source */
	uint64_t chunk;         /* RAID0 chunk bytes; 0 for a plain file */
	uint32_t align;
	char *name;             /* the file, or "md:" and the first member */
};

/* Fills err with a formatted sentence and returns code (a negative errno). */
int tbs_fail(struct tbs_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Where source byte `off` lives: member, member offset, and how many bytes
 * follow contiguously on that member (to the chunk's end). */
void tbs_source_map(const struct tbs_source *s, uint64_t off, unsigned *member, uint64_t *dev_off,
		    uint64_t *run);

/* The inverse: the source byte at dev_off on member. */
uint64_t tbs_source_unmap(const struct tbs_source *s, unsigned member, uint64_t dev_off);

/* Where byte off of the file or block device fd lives on the drives, as
 * "nvme2n1 (MODEL, serial S) LBA N" (locate.c): through FIEMAP, partitions
 * and md RAID0.  Negative errno when it cannot be told. */
int tbs_locate(int fd, uint64_t off, char *out, size_t len);

/* Opens what a reader reads (see open.c): without blocking, checked with
 * fstat to be a regular file (or, with TBS_OPEN_BLOCK, a block device),
 * under `root` when not NULL.  *size is the file's size. */
#define TBS_OPEN_BLOCK 1u
int tbs_open_input(const struct tbs_root *root, const char *path, unsigned kinds, int *fd, uint64_t *size,
		   struct tbs_error *err);
/* A one-member source of an open descriptor (taken over, closed on error). */
int tbs_source_from_fd(struct tbs_source **out, int fd, uint64_t size, const char *path, struct tbs_error *err);
/* The header of an open safetensors file of `size` bytes. */
int tbs_st_read_fd(int fd, const char *path, uint64_t size, struct tbs_st *st, struct tbs_error *err);
#define TBS_ST_MAX_HEADER (100u * 1000 * 1000)   /* the safetensors format's own limit */
/* The most memory parsing a header of `header_len` bytes takes. */
uint64_t tbs_st_memory(uint64_t header_len);
/* FILE.tbsum under root, checked against the data file's `file_size`:
 * _plan reads only its header (chunk and count), _load the checksums too. */
int tbs_manifest_plan(const struct tbs_root *root, const char *file, uint64_t file_size, struct tbs_manifest *m,
		      struct tbs_error *err);
int tbs_manifest_load(const struct tbs_root *root, const char *file, uint64_t file_size, struct tbs_manifest *m,
		      struct tbs_error *err);

/* Hashing on several threads (hash.c): tbs_hasher_run fills sums[i] with
 * the xxh3 of each `chunk` bytes of data (the last piece may be short). */
struct tbs_hasher;
unsigned tbs_hash_threads(unsigned asked);   /* 0: the CPUs online, at most 8 */
int tbs_hasher_start(struct tbs_hasher **out, unsigned threads, struct tbs_error *err);
void tbs_hasher_run(struct tbs_hasher *h, const uint8_t *data, size_t len, size_t chunk, uint64_t *sums);
void tbs_hasher_stop(struct tbs_hasher *h);

static inline uint64_t tbs_round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }



/* Streams the whole of a file through the reader into staging slots and
 * calls `each` for each slot in file order (see load.c). */
struct tbs_stream {
	const char *path;
	struct tbs_source *src;  /* the source to read (the caller's), or NULL: open path */
	unsigned slots;
	size_t slot_size;
	bool whole;             /* one buffer for the whole file instead of reused slots */
	struct tbs_reader_opts reader;
	int (*each)(void *ctx, uint64_t off, const uint8_t *data, size_t len, struct tbs_error *err);
	void *ctx;
	tbs_progress_fn progress;
	void *progress_ctx;
	void *staging;          /* the caller's slots, or NULL */
	size_t staging_len;
	/* results */
	uint64_t bytes;
	double seconds;
	bool registered;
	void *mem;              /* whole: the file's bytes (tbs_free(mem, mem_len)) */
	size_t mem_len;
};
int tbs_stream_run(struct tbs_stream *s, struct tbs_error *err);
#endif
