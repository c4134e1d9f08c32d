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

static inline uint64_t tbs_round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }



/* Streams the whole of a file through the reader into staging slots and
 * calls `each` for each slot in file order (see load.c). */
struct tbs_stream {
	const char *path;
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
