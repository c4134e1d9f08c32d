/* Loading: a file streams through `slots` staging buffers (at least two, so
 * the drives fill one while the consumer works on another).  The buffers are
 * registered with the rings (pinned) and are where the data stays: reads
 * land in them directly and consumers work in place, so the CPU copies
 * nothing.  For --to host the slots are consecutive windows of one buffer
 * holding the whole file. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/internal.h"

#define MIB (1u << 20)
/* With the default four slots, the three ahead of the consumer hold 48 IOs
 * of 1 MiB: more than the ring's depth of 32, so the ring stays full while
 * the consumer works and while a finished slot waits to be requeued. */
#define DEFAULT_SLOT (16 * MIB)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct pipe {
	struct tbs_stream *s;
	struct tbs_reader *rd;
	struct tbs_req *reqs;   /* one per slot */
	uint64_t size, total;   /* file bytes, slot count */
};

static uint8_t *slot_mem(const struct pipe *p, uint64_t k)
{
	uint64_t i = p->s->whole ? k : k % p->s->slots;
	return (uint8_t *)p->s->mem + i * p->s->slot_size;
}

static int queue_slot(struct pipe *p, uint64_t k, struct tbs_error *err)
{
	struct tbs_req *q = &p->reqs[k % p->s->slots];
	uint64_t off = k * p->s->slot_size;
	q->buf = slot_mem(p, k);
	q->off = off;
	q->len = p->size - off < p->s->slot_size ? p->size - off : p->s->slot_size;
	return tbs_reader_queue(p->rd, q, err);
}

/* Waits for slots in order, hands each to the consumer, then reuses it for
 * the slot `slots` ahead.  On error, drains what is in flight. */
static int pump(struct pipe *p, struct tbs_error *err)
{
	struct tbs_stream *s = p->s;
	uint64_t queued = 0;
	int rc = 0;
	for (; queued < p->total && queued < s->slots && rc == 0; queued++)
		rc = queue_slot(p, queued, err);
	for (uint64_t k = 0; k < queued; k++) {
		struct tbs_req *q = &p->reqs[k % s->slots];
		int st = tbs_reader_wait(p->rd, q);
		if (rc < 0)
			continue;       /* only draining */
		if (st < 0) {
			*err = q->err;
			rc = st;
			continue;
		}
		s->bytes += q->len;
		if (s->each)
			rc = s->each(s->ctx, q->off, q->buf, q->len, err);
		if (s->progress)
			s->progress(s->progress_ctx, s->bytes, p->size);
		if (rc == 0 && queued < p->total)
			rc = queue_slot(p, queued++, err);
	}
	return rc;
}

static int stream_setup(struct tbs_stream *s, struct tbs_source *src, struct tbs_error *err)
{
	uint32_t a = tbs_source_align(src);
	if (!s->slots)
		s->slots = 4;
	if (s->slots < 2)
		s->slots = 2;
	if (!s->slot_size)
		s->slot_size = (size_t)DEFAULT_SLOT * tbs_source_members(src);
	s->slot_size = tbs_round_up(s->slot_size, MIB);
	if (s->slot_size % a)
		return tbs_fail(err, -EINVAL, "slot size %zu is not a multiple of the alignment %u", s->slot_size, a);
	uint64_t size = tbs_source_size(src);
	s->mem_len = s->whole ? tbs_round_up(size ? size : 1, a) : (size_t)s->slots * s->slot_size;
	if (s->staging) {
		if (s->whole || s->staging_len < s->mem_len || (uintptr_t)s->staging % a)
			return tbs_fail(err, -EINVAL,
					"%s: the staging memory given (%zu bytes at %p) is not %zu bytes aligned to %u",
					s->path, s->staging_len, s->staging, s->mem_len, a);
		s->mem = s->staging;
		return 0;
	}
	if (!(s->mem = tbs_alloc(s->mem_len)))
		return tbs_fail(err, -ENOMEM, "%s: cannot allocate %zu bytes of staging memory", s->path, s->mem_len);
	return 0;
}

int tbs_stream_run(struct tbs_stream *s, struct tbs_error *err)
{
	struct tbs_source *src = s->src;
	struct pipe p = { .s = s };
	s->bytes = 0;
	s->mem = NULL;
	int rc = src ? 0 : tbs_source_open_file(&src, s->path, err);
	if (rc == 0)
		rc = stream_setup(s, src, err);
	if (rc == 0)
		rc = tbs_reader_open(&p.rd, src, &s->reader, err);
	if (rc == 0)
		rc = tbs_reader_register(p.rd, s->mem, s->mem_len, err);
	if (rc == 0 && !(p.reqs = calloc(s->slots, sizeof *p.reqs)))
		rc = tbs_fail(err, -ENOMEM, "out of memory");
	if (rc == 0) {
		s->registered = tbs_reader_registered(p.rd);
		p.size = tbs_source_size(src);
		p.total = (p.size + s->slot_size - 1) / s->slot_size;
		double t0 = now();
		rc = pump(&p, err);
		s->seconds = now() - t0;
	}
	free(p.reqs);
	tbs_reader_close(p.rd);
	if (src != s->src)
		tbs_source_close(src);
	if ((rc < 0 || !s->whole) && s->mem != s->staging)
		tbs_free(s->mem, s->mem_len);
	if (rc < 0 || !s->whole)
		s->mem = NULL;
	return rc;
}

/* ---- safetensors loading ---------------------------------------------------- */

struct loader {
	const char *path;
	const struct tbs_load_opts *o;
	const struct tbs_st *st;
	const struct tbs_manifest *man;
	struct tbs_hasher *hasher;
	uint64_t *sums;         /* one slot's, as hashed */
};

static void describe_tensors(const struct tbs_st *st, uint64_t off, uint64_t len, char *out, size_t n)
{
	const struct tbs_tensor *t = tbs_st_find(st, off);
	if (!t && off < st->data_start) {
		snprintf(out, n, "the safetensors header");
		return;
	}
	for (uint64_t at = off; !t && at < off + len; at += 4096)
		t = tbs_st_find(st, at);
	if (!t) {
		snprintf(out, n, "no tensor");
		return;
	}
	const struct tbs_tensor *last = tbs_st_find(st, off + len - 1);
	if (last && last != t)
		snprintf(out, n, "tensor '%s' (through '%s')", t->name, last->name);
	else
		snprintf(out, n, "tensor '%s'", t->name);
}

static int verify_slot(struct loader *l, uint64_t off, const uint8_t *data, size_t len, struct tbs_error *err)
{
	const struct tbs_manifest *m = l->man;
	tbs_hasher_run(l->hasher, data, len, m->chunk, l->sums);
	/* the first mismatch in file order, whichever thread found it */
	for (size_t at = 0; at < len; at += m->chunk) {
		size_t n = len - at < m->chunk ? len - at : m->chunk;
		uint64_t c = (off + at) / m->chunk;
		if (l->sums[at / m->chunk] == m->sums[c])
			continue;
		char what[300];
		describe_tensors(l->st, off + at, n, what, sizeof what);
		return tbs_fail(err, -EBADMSG, "%s: checksum mismatch in the %zu-byte chunk at offset %llu, in %s",
				l->path, n, (unsigned long long)(off + at), what);
	}
	return 0;
}

static int load_each(void *ctx, uint64_t off, const uint8_t *data, size_t len, struct tbs_error *err)
{
	struct loader *l = ctx;
	int rc = l->man ? verify_slot(l, off, data, len, err) : 0;
	if (rc == 0 && l->o->consume && (rc = l->o->consume(l->o->consume_ctx, off, data, len)) < 0)
		tbs_fail(err, rc, "%s: the consumer failed at offset %llu: %s", l->path, (unsigned long long)off,
			 strerror(-rc));
	return rc;
}

/* The reader's own memory (rings, IO records) beside the staging. */
#define READER_OVERHEAD MIB

/* What a load will allocate, known before it allocates anything. */
struct plan {
	uint64_t header_len;
	uint64_t chunk;         /* the manifest's chunk size (verify) */
	uint64_t bytes;
};

static int plan_load(int fd, const char *path, uint64_t size, const struct tbs_load_opts *o, struct plan *pl,
		     struct tbs_error *err)
{
	uint64_t n = 0;
	memset(pl, 0, sizeof *pl);
	if (size >= 8 && pread(fd, &n, 8, 0) == 8)
		n = le64toh(n);
	/* a bad length is refused by the parse, which then allocates nothing */
	pl->header_len = n > TBS_ST_MAX_HEADER || size < 8 || n > size - 8 ? 0 : n;
	uint64_t sums = 0, slot = o->slot_size ? o->slot_size : DEFAULT_SLOT;
	if (o->verify) {
		struct tbs_manifest m;
		int rc = tbs_manifest_plan(o->root, path, size, &m, err);
		if (rc < 0)
			return rc;
		pl->chunk = m.chunk;
		sums = (m.count + 1) * sizeof(uint64_t);
		slot = tbs_round_up(slot, m.chunk);
	}
	uint64_t slots = o->slots > 2 ? o->slots : o->slots ? 2 : 4, staging;
	if (o->staging)
		staging = 0;
	else if (o->target == TBS_TO_HOST)
		staging = tbs_round_up(size ? size : 1, MIB);
	else
		staging = slots * tbs_round_up(slot, MIB);
	pl->bytes = tbs_st_memory(pl->header_len) + sums + staging + READER_OVERHEAD;
	return 0;
}

static int open_load(const char *path, const struct tbs_load_opts *o, int *fd, uint64_t *size, struct plan *pl,
		     struct tbs_error *err)
{
	int rc = tbs_open_input(o->root, path, 0, fd, size, err);
	if (rc == 0 && (rc = plan_load(*fd, path, *size, o, pl, err)) < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

int tbs_load_memory(const char *path, const struct tbs_load_opts *o, uint64_t *bytes, struct tbs_error *err)
{
	int fd;
	uint64_t size;
	struct plan pl = { 0 };
	int rc = open_load(path, o, &fd, &size, &pl, err);
	if (rc == 0) {
		close(fd);
		*bytes = pl.bytes;
	}
	return rc;
}

/* The checksums, as planned: the manifest may not have changed since. */
static int load_manifest(const char *path, const struct tbs_load_opts *o, const struct tbs_st *st,
			 const struct plan *pl, struct tbs_manifest *man, struct tbs_error *err)
{
	int rc = tbs_manifest_load(o->root, path, st->file_size, man, err);
	if (rc == 0 && man->chunk != pl->chunk)
		rc = tbs_fail(err, -EAGAIN, "%s: the manifest changed while the load started", path);
	if (rc < 0)
		tbs_manifest_free(man);
	return rc;
}

/* One descriptor from the open to the last read: what was checked (its
 * type, where it resolved) is what is read. */
int tbs_load(const char *path, const struct tbs_load_opts *o, struct tbs_load_result *res, struct tbs_error *err)
{
	memset(res, 0, sizeof *res);
	struct tbs_manifest man = { 0 };
	struct tbs_source *src = NULL;
	struct plan pl = { 0 };
	int fd;
	uint64_t size;
	int rc = open_load(path, o, &fd, &size, &pl, err);
	if (rc < 0)
		return rc;
	if (o->mem_limit && pl.bytes > o->mem_limit)
		rc = tbs_fail(err, -E2BIG, "%s: the load needs %llu MiB of memory, more than the %llu MiB it may use",
			      path, (unsigned long long)(pl.bytes >> 20), (unsigned long long)(o->mem_limit >> 20));
	if (rc == 0)
		rc = tbs_st_read_fd(fd, path, size, &res->st, err);
	if (rc == 0 && o->verify)
		rc = load_manifest(path, o, &res->st, &pl, &man, err);
	if (rc == 0)
		rc = tbs_source_from_fd(&src, fd, size, path, err);
	else
		close(fd);
	if (rc < 0) {
		tbs_st_free(&res->st);
		return rc;
	}
	struct loader l = { .path = path, .o = o, .st = &res->st, .man = o->verify ? &man : NULL };
	struct tbs_stream s = {
		.path = path, .src = src, .slots = o->slots, .slot_size = o->slot_size,
		.whole = o->target == TBS_TO_HOST, .reader = o->reader, .each = load_each, .ctx = &l,
		.progress = o->progress, .progress_ctx = o->progress_ctx,
		.staging = o->staging, .staging_len = o->staging_len,
	};
	/* Slots hold whole manifest chunks, so each is verified in place. */
	if (o->verify) {
		s.slot_size = tbs_round_up(s.slot_size ? s.slot_size : DEFAULT_SLOT, man.chunk);
		rc = tbs_hasher_start(&l.hasher, o->hash_threads, err);
		if (rc == 0 && !(l.sums = calloc(tbs_round_up(s.slot_size, MIB) / man.chunk + 1, sizeof *l.sums)))
			rc = tbs_fail(err, -ENOMEM, "out of memory");
	}
	if (rc == 0)
		rc = tbs_stream_run(&s, err);
	if (rc < 0 && err->has_at) {
		char what[300];
		describe_tensors(&res->st, err->at, 1, what, sizeof what);
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, "; the byte at file offset %llu is in %s",
			 (unsigned long long)err->at, what);
	}
	tbs_hasher_stop(l.hasher);
	free(l.sums);
	tbs_source_close(src);
	tbs_manifest_free(&man);
	if (rc < 0) {
		tbs_st_free(&res->st);
		return rc;
	}
	res->bytes = s.bytes;
	res->seconds = s.seconds;
	res->verified = o->verify;
	res->registered = s.registered;
	res->host = s.mem;
	res->host_len = s.mem_len;
	return 0;
}

void tbs_load_result_free(struct tbs_load_result *res)
{
	tbs_free(res->host, res->host_len);
	tbs_st_free(&res->st);
	memset(res, 0, sizeof *res);
}
