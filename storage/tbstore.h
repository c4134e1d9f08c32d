/* libtbstore: model weights from files or an md RAID0 array into memory at
 * the drives' speed.
 *
 * Layers, bottom up:
 *   tbs_source   a byte space: one file, or an md RAID0 array read through its
 *                member devices (the "direct path", one io_uring per member)
 *   tbs_reader   the io_uring engine over a source: O_DIRECT, aligned IOs that
 *                never cross a chunk, registered buffers and files, several IOs
 *                in flight per member, batched submission, short reads
 *                resubmitted, EAGAIN retried, RLIMIT_MEMLOCK fallback
 *   tbs_st_*     safetensors header parsing and validation
 *   tbs_manifest per-chunk xxh3 checksums kept in FILE.tbsum
 *   tbs_load     streams a safetensors file through pinned staging slots (at
 *                least two, so reads overlap the consumer) into a sink
 *
 * Errors are values: functions return 0 or a negative errno and fill a
 * struct tbs_error with a sentence that names the file, offset and cause.
 * Nothing here prints, except warnings through tbs_warn_fn (stderr when the
 * caller gives none) and nothing exits. */
#ifndef TBSTORE_H
#define TBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tbs_error {
	int code;          /* negative errno, 0 when no error */
	char msg[512];
	bool has_at;       /* a read error: at is the source's first unreadable byte */
	uint64_t at;
};

typedef void (*tbs_warn_fn)(void *ctx, const char *msg);

/* Test and diagnosis hook: called with each completion's result before the
 * engine looks at it; returns the result to use instead.  Lets tests inject
 * short reads, EAGAIN, EINVAL or EIO on a chosen member and offset. */
typedef int (*tbs_fault_fn)(void *ctx, unsigned member, uint64_t dev_offset, uint32_t len, int res);

/* ---- sources ------------------------------------------------------------ */

struct tbs_source;

/* A regular file (or block device) opened with O_DIRECT.  Like every file
 * libtbstore reads, it is opened without blocking and refused unless it is
 * what it must be (here a regular file or a block device: not a FIFO, a
 * character device, a directory). */
int tbs_source_open_file(struct tbs_source **out, const char *path, struct tbs_error *err);
/* An md RAID0 array (superblock 1.2) read through its members, given in any
 * order: order, chunk size and data offset come from the superblocks. */
int tbs_source_open_md(struct tbs_source **out, const char *const *members, unsigned count,
		       struct tbs_error *err);
void tbs_source_close(struct tbs_source *s);
uint64_t tbs_source_size(const struct tbs_source *s);
unsigned tbs_source_members(const struct tbs_source *s);
/* The alignment every IO's offset, length and buffer must have. */
uint32_t tbs_source_align(const struct tbs_source *s);
/* Bytes per chunk (RAID0) or 0 for a plain file. */
uint64_t tbs_source_chunk(const struct tbs_source *s);

/* md RAID0 superblock 1.2 facts (tests and `tb raid`). */
struct tbs_md_info {
	uint8_t set_uuid[16];
	uint32_t level, raid_disks, role;
	uint64_t chunk_bytes, data_offset_bytes, data_size_bytes;
};
/* Parses and validates the 4 KiB block found at byte 4096 of a member. */
int tbs_md_parse_sb(const void *block, size_t len, struct tbs_md_info *info, struct tbs_error *err);
/* Where byte `off` of an array lives: member (by role) and member offset. */
void tbs_md_map(uint64_t chunk_bytes, unsigned members, uint64_t data_offset, uint64_t off,
		unsigned *member, uint64_t *member_off);

/* ---- the reader (io_uring engine) ---------------------------------------- */

struct tbs_reader_opts {
	unsigned queue_depth;   /* IOs in flight per member; default 32 */
	uint32_t io_size;       /* largest single IO; default 1 MiB */
	bool no_register;       /* plain (unregistered) buffers and files */
	tbs_warn_fn warn;
	void *warn_ctx;
	tbs_fault_fn fault;
	void *fault_ctx;
};

struct tbs_reader;

/* One read of a source range into aligned memory; completes when every IO of
 * it has.  The caller owns it and keeps it alive until tbs_reader_wait. */
struct tbs_req {
	void *buf;
	uint64_t off;
	uint64_t len;
	/* engine state */
	uint64_t pending;       /* IOs not yet complete */
	int status;
	struct tbs_error err;
};

int tbs_reader_open(struct tbs_reader **out, struct tbs_source *src, const struct tbs_reader_opts *o,
		    struct tbs_error *err);
void tbs_reader_close(struct tbs_reader *r);
/* Registers [buf, buf+len) with every member's ring so reads into it use
 * fixed buffers.  When RLIMIT_MEMLOCK forbids it, warns once and carries on
 * with unregistered buffers (returns 0).  At most once per reader. */
int tbs_reader_register(struct tbs_reader *r, void *buf, size_t len, struct tbs_error *err);
/* True when reads use registered buffers. */
bool tbs_reader_registered(const struct tbs_reader *r);
/* Queues a request (split into IOs) and submits what fits, batched.  A
 * misaligned request fails here with -EINVAL and its offset, length and the
 * alignment.  `len` may end unaligned only at the end of the source. */
int tbs_reader_queue(struct tbs_reader *r, struct tbs_req *q, struct tbs_error *err);
/* Drives IO until q completes; returns q->status (q->err says why). */
int tbs_reader_wait(struct tbs_reader *r, struct tbs_req *q);
/* Reads [off, off+len) synchronously (queue + wait). */
int tbs_read(struct tbs_reader *r, void *buf, uint64_t off, uint64_t len, struct tbs_error *err);

/* Aligned, zeroed memory from mmap (pages, so always O_DIRECT-aligned). */
void *tbs_alloc(size_t len);
void tbs_free(void *p, size_t len);

/* ---- safetensors --------------------------------------------------------- */

enum tbs_dtype {
	TBS_BOOL, TBS_U8, TBS_I8, TBS_F8_E5M2, TBS_F8_E4M3, TBS_I16, TBS_U16, TBS_F16, TBS_BF16,
	TBS_I32, TBS_U32, TBS_F32, TBS_I64, TBS_U64, TBS_F64,
};
#define TBS_MAX_DIMS 8

struct tbs_tensor {
	char *name;
	enum tbs_dtype dtype;
	unsigned ndim;
	uint64_t shape[TBS_MAX_DIMS];
	uint64_t begin, end;    /* byte offsets in the file (header included) */
};

struct tbs_st {
	uint64_t header_len;    /* the JSON's length (the u64 at offset 0) */
	uint64_t data_start;    /* 8 + header_len */
	uint64_t file_size;
	size_t count;
	struct tbs_tensor *tensors;  /* sorted by begin */
	char *names;                 /* every tensor's name, one allocation */
};

/* Parses the 8-byte length and JSON header `hdr` (`hdr_len` bytes from the
 * start of a file of `file_size` bytes).  Refuses: a length beyond the file
 * or above 100 MB, bad JSON, unknown dtypes, bad shapes, data_offsets out of
 * the file, sizes that disagree with dtype and shape, overlaps and holes.
 * Messages name byte offsets, tensor numbers and sizes, never the bytes of
 * the file (which may not be a safetensors file at all).  Memory: the
 * header, plus one record and the name per tensor. */
int tbs_st_parse(const void *hdr, size_t hdr_len, uint64_t file_size, struct tbs_st *st,
		 struct tbs_error *err);
/* Reads the header of `path` (buffered IO) and parses it. */
int tbs_st_open(const char *path, struct tbs_st *st, struct tbs_error *err);
void tbs_st_free(struct tbs_st *st);
const char *tbs_dtype_name(enum tbs_dtype t);
/* The tensor containing file byte `off`, or NULL (header or padding). */
const struct tbs_tensor *tbs_st_find(const struct tbs_st *st, uint64_t off);

/* ---- manifest ------------------------------------------------------------ */

#define TBS_MANIFEST_CHUNK (1u << 20)

struct tbs_manifest {
	uint64_t file_size;
	uint64_t chunk;
	uint64_t count;
	uint64_t *sums;         /* xxh3-64 of each chunk (the last may be short) */
};

/* FILE.tbsum, next to the file. */
int tbs_manifest_path(const char *file, char *out, size_t len);
/* Checksums `file` (read through the engine) and writes FILE.tbsum atomically. */
int tbs_manifest_write(const char *file, struct tbs_error *err);
int tbs_manifest_read(const char *file, struct tbs_manifest *m, struct tbs_error *err);
void tbs_manifest_free(struct tbs_manifest *m);
uint64_t tbs_chunk_sum(const void *p, size_t len);

/* ---- loading ------------------------------------------------------------- */

/* A directory every file of a load must stay in (tb-stored's --root): the
 * path, relative to it, is resolved and opened in one step that cannot leave
 * it (openat2 RESOLVE_BENEATH: no "..", absolute paths or symlinks out), and
 * everything after reads that one descriptor. */
struct tbs_root {
	int fd;
};
int tbs_root_open(struct tbs_root *root, const char *dir, struct tbs_error *err);
void tbs_root_close(struct tbs_root *root);

enum tbs_target {
	TBS_TO_NULL,   /* read and (maybe) verify; the data is dropped */
	TBS_TO_HOST,   /* the whole file lands in one host buffer (zero copies) */
	/* To a GPU: TBS_TO_NULL with a consumer that copies each slot into
	 * VRAM, and staging memory the GPU can read (opts.staging): `tb load
	 * --to gpuN` does that through libtbhal's copy queues. */
};

/* Called for each staging slot in file order, after its bytes arrived (and
 * were verified); the slot is reused once this returns. */
typedef int (*tbs_consume_fn)(void *ctx, uint64_t off, const void *data, size_t len);
typedef void (*tbs_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct tbs_load_opts {
	enum tbs_target target;
	bool verify;            /* check every chunk against FILE.tbsum */
	unsigned hash_threads;  /* threads hashing for verify (the caller is one): 0 = one per
				 * CPU online, at most 8; 1 = the caller alone */
	unsigned slots;         /* staging slots (>= 2); default 4 */
	size_t slot_size;       /* bytes per slot, a multiple of 1 MiB; default 16 MiB per member */
	struct tbs_reader_opts reader;
	tbs_consume_fn consume;
	void *consume_ctx;
	/* The caller's staging memory (for instance pinned memory a GPU copies
	 * from) instead of the loader's own: at least slots x slot_size bytes,
	 * aligned to the device's direct-IO alignment; not with TBS_TO_HOST.
	 * It stays the caller's. */
	void *staging;
	size_t staging_len;
	tbs_progress_fn progress;
	void *progress_ctx;
	/* Files are looked up under this directory (NULL: anywhere). */
	const struct tbs_root *root;
	/* The most memory the load may take (staging, header records,
	 * checksums; see tbs_load_memory), refused with -E2BIG before any of
	 * it is allocated; 0: no limit. */
	uint64_t mem_limit;
};

struct tbs_load_result {
	uint64_t bytes;         /* bytes read from storage */
	double seconds;         /* wall time of the read phase */
	bool verified;
	bool registered;        /* fixed buffers were in use */
	void *host;             /* TBS_TO_HOST: the file's bytes; free with tbs_free(host, host_len) */
	size_t host_len;
	struct tbs_st st;       /* the parsed header (tbs_st_free) */
};

/* Loads a safetensors file.  On error, nothing is left allocated. */
int tbs_load(const char *path, const struct tbs_load_opts *o, struct tbs_load_result *res,
	     struct tbs_error *err);
void tbs_load_result_free(struct tbs_load_result *res);
/* The memory tbs_load would take for `path` with these options (from the
 * file's size, its header length and the manifest's chunk size): what a
 * caller running several loads reserves before it starts one. */
int tbs_load_memory(const char *path, const struct tbs_load_opts *o, uint64_t *bytes, struct tbs_error *err);

/* ---- health ---------------------------------------------------------------- */

/* One NVMe controller's SMART / health log (through libnvme). */
struct tbs_drive {
	char name[32];          /* nvme0 */
	char model[48], serial[24];
	int smart_status;       /* 0, or why the SMART log could not be read (negative errno
				 * or a positive NVMe status) */
	int temp_c;             /* composite temperature */
	unsigned critical_warning, avail_spare, percent_used;
	uint64_t media_errors;  /* low 64 bits of the 128-bit counter */
};

/* Fills up to `max` drives; *count is how many exist (0 is not an error). */
int tbs_drives(struct tbs_drive *out, unsigned max, unsigned *count, struct tbs_error *err);

#define TBS_MD_MAX_MEMBERS 16
/* One md array as the kernel sees it (/sys/block/mdN/md). */
struct tbs_md_array {
	char name[32], level[16], state[32];
	unsigned raid_disks, members;
	uint64_t chunk_bytes;
	char member[TBS_MD_MAX_MEMBERS][32];
	char member_state[TBS_MD_MAX_MEMBERS][48];
};

int tbs_md_arrays(struct tbs_md_array *out, unsigned max, unsigned *count, struct tbs_error *err);

#endif
