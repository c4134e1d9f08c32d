/* The reader: an io_uring engine over a source.  One ring per member, so
 * each drive has its own queue; up to queue_depth IOs in flight per member;
 * SQEs prepared in batches and submitted with one call per ring.  IOs are
 * aligned, at most io_size long, and never cross a RAID0 chunk or a
 * registered-buffer piece.  One thread drives everything: the kernel does
 * the IO while the caller consumes earlier data. */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "storage/internal.h"

#define PIECE (1ull << 30)      /* io_uring registers at most 1 GiB per buffer */
#define MAX_PIECES 1024u
#define MAX_RETRIES 64u         /* EAGAIN or no-progress resubmissions of one IO */
#define NONE (-1)

struct io {
	struct tbs_req *q;
	uint8_t *buf;
	uint64_t dev_off;
	uint32_t len;           /* aligned length submitted */
	uint32_t need;          /* bytes the request needs (less than len only at the source's end) */
	unsigned member;
	unsigned retries;
	int next;               /* pending FIFO or free list */
};

struct ring {
	struct io_uring u;
	bool up;
	unsigned inflight;
	int head, tail;         /* IOs waiting for room in the ring */
};

struct tbs_reader {
	struct tbs_source *s;
	struct tbs_reader_opts o;
	struct ring *rings;
	struct io *ios;
	int nios, free_head;
	uint8_t *reg_buf;
	size_t reg_len;
	bool registered, files;
};

static void default_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "tbstore: warning: %s\n", msg);
}

static void warn(struct tbs_reader *r, const char *msg)
{
	(r->o.warn ? r->o.warn : default_warn)(r->o.warn_ctx, msg);
}

/* COOP_TASKRUN saves an interrupt per completion on kernels that have it. */
static int ring_init(struct io_uring *u, unsigned depth)
{
	struct io_uring_params p = { .flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER };
	int rc = io_uring_queue_init_params(depth, u, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof p);
		rc = io_uring_queue_init_params(depth, u, &p);
	}
	return rc;
}

int tbs_reader_open(struct tbs_reader **out, struct tbs_source *src, const struct tbs_reader_opts *o,
		    struct tbs_error *err)
{
	struct tbs_reader *r = calloc(1, sizeof *r);
	if (!r)
		return tbs_fail(err, -ENOMEM, "out of memory");
	if (o)
		r->o = *o;
	if (!r->o.queue_depth)
		r->o.queue_depth = 32;
	if (r->o.queue_depth > 4096)
		r->o.queue_depth = 4096;
	if (!r->o.io_size)
		r->o.io_size = 1u << 20;
	if (r->o.io_size % src->align || r->o.io_size > (1u << 30)) {
		uint32_t io_size = r->o.io_size;
		free(r);
		return tbs_fail(err, -EINVAL, "IO size %u is not a multiple of the alignment %u (or above 1 GiB)",
				io_size, src->align);
	}
	r->s = src;
	r->free_head = NONE;
	r->rings = calloc(src->n, sizeof *r->rings);
	if (!r->rings) {
		free(r);
		return tbs_fail(err, -ENOMEM, "out of memory");
	}
	int rc = 0;
	for (unsigned i = 0; i < src->n && rc == 0; i++) {
		r->rings[i].head = r->rings[i].tail = NONE;
		rc = ring_init(&r->rings[i].u, r->o.queue_depth);
		if (rc < 0) {
			tbs_fail(err, rc, "%s: cannot set up io_uring: %s", src->m[i].path, strerror(-rc));
			break;
		}
		r->rings[i].up = true;
	}
	/* Registered files save a file-table lookup per IO; optional. */
	r->files = !r->o.no_register;
	for (unsigned i = 0; i < src->n && rc == 0 && r->files; i++)
		if (io_uring_register_files(&r->rings[i].u, &src->m[i].fd, 1) < 0)
			r->files = false;
	if (rc < 0) {
		tbs_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

void tbs_reader_close(struct tbs_reader *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->s->n; i++)
		if (r->rings[i].up)
			io_uring_queue_exit(&r->rings[i].u);
	free(r->rings);
	free(r->ios);
	free(r);
}

bool tbs_reader_registered(const struct tbs_reader *r) { return r->registered; }

static void unregister_all(struct tbs_reader *r, unsigned upto)
{
	for (unsigned i = 0; i < upto; i++)
		io_uring_unregister_buffers(&r->rings[i].u);
}

int tbs_reader_register(struct tbs_reader *r, void *buf, size_t len, struct tbs_error *err)
{
	if (r->o.no_register || r->registered || len == 0)
		return 0;
	size_t pieces = (len + PIECE - 1) / PIECE;
	if (pieces > MAX_PIECES) {
		warn(r, "buffer too large to register; using unregistered buffers");
		return 0;
	}
	struct iovec iov[MAX_PIECES];
	for (size_t i = 0; i < pieces; i++) {
		iov[i].iov_base = (uint8_t *)buf + i * PIECE;
		iov[i].iov_len = i + 1 < pieces ? PIECE : len - i * PIECE;
	}
	for (unsigned i = 0; i < r->s->n; i++) {
		int rc = io_uring_register_buffers(&r->rings[i].u, iov, (unsigned)pieces);
		if (rc == 0)
			continue;
		unregister_all(r, i);
		if (rc != -ENOMEM && rc != -EPERM)
			return tbs_fail(err, rc, "cannot register %zu bytes of buffers: %s", len, strerror(-rc));
		char msg[256];
		snprintf(msg, sizeof msg,
			 "cannot pin %zu bytes of IO buffers (RLIMIT_MEMLOCK; raise it with ulimit -l or "
			 "LimitMEMLOCK=): %s; falling back to unregistered buffers, which costs CPU per IO",
			 len, strerror(-rc));
		warn(r, msg);
		return 0;
	}
	r->reg_buf = buf;
	r->reg_len = len;
	r->registered = true;
	return 0;
}

/* ---- IO bookkeeping ------------------------------------------------------- */

static int io_get(struct tbs_reader *r)
{
	if (r->free_head == NONE) {
		int grow = r->nios ? r->nios : 256;
		struct io *n = realloc(r->ios, (size_t)(r->nios + grow) * sizeof *n);
		if (!n)
			return NONE;
		r->ios = n;
		for (int i = r->nios + grow - 1; i >= r->nios; i--) {
			n[i].next = r->free_head;
			r->free_head = i;
		}
		r->nios += grow;
	}
	int i = r->free_head;
	r->free_head = r->ios[i].next;
	return i;
}

static void io_put(struct tbs_reader *r, int i)
{
	r->ios[i].next = r->free_head;
	r->free_head = i;
}

static void push_tail(struct tbs_reader *r, struct ring *g, int i)
{
	r->ios[i].next = NONE;
	if (g->tail == NONE)
		g->head = i;
	else
		r->ios[g->tail].next = i;
	g->tail = i;
}

static void push_head(struct tbs_reader *r, struct ring *g, int i)
{
	r->ios[i].next = g->head;
	g->head = i;
	if (g->tail == NONE)
		g->tail = i;
}

static void finish(struct tbs_reader *r, int i)
{
	r->ios[i].q->pending--;
	io_put(r, i);
}

/* Prepares as many waiting IOs as the queue depth allows, then submits them
 * with one system call. */
static void submit_ring(struct tbs_reader *r, unsigned m)
{
	struct ring *g = &r->rings[m];
	unsigned prepared = 0;
	while (g->head != NONE && g->inflight < r->o.queue_depth) {
		int i = g->head;
		struct io *io = &r->ios[i];
		if (io->q->status < 0) {        /* its request already failed */
			g->head = io->next;
			if (g->head == NONE)
				g->tail = NONE;
			finish(r, i);
			continue;
		}
		struct io_uring_sqe *sqe = io_uring_get_sqe(&g->u);
		if (!sqe)
			break;
		g->head = io->next;
		if (g->head == NONE)
			g->tail = NONE;
		int fd = r->files ? 0 : r->s->m[m].fd;
		if (r->registered && io->buf >= r->reg_buf && io->buf + io->len <= r->reg_buf + r->reg_len)
			io_uring_prep_read_fixed(sqe, fd, io->buf, io->len, io->dev_off,
						 (int)((size_t)(io->buf - r->reg_buf) / PIECE));
		else
			io_uring_prep_read(sqe, fd, io->buf, io->len, io->dev_off);
		if (r->files)
			sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data64(sqe, (uint64_t)i);
		g->inflight++;
		prepared++;
	}
	/* -EBUSY/-EAGAIN leave the SQEs queued; the next call submits them. */
	if (prepared)
		io_uring_submit(&g->u);
}

static uint64_t piece_room(const struct tbs_reader *r, const uint8_t *p)
{
	if (!r->registered || p < r->reg_buf || p >= r->reg_buf + r->reg_len)
		return UINT64_MAX;
	return PIECE - (uint64_t)(p - r->reg_buf) % PIECE;
}

int tbs_reader_queue(struct tbs_reader *r, struct tbs_req *q, struct tbs_error *err)
{
	const struct tbs_source *s = r->s;
	uint32_t a = s->align;
	q->status = 0;
	q->pending = 0;
	q->err.code = 0;
	q->err.msg[0] = '\0';
	q->err.has_at = false;
	if (q->off > s->size || q->len > s->size - q->off)
		return tbs_fail(err, -EINVAL, "%s: read of %llu bytes at offset %llu goes beyond its end (%llu bytes)",
				s->name, (unsigned long long)q->len, (unsigned long long)q->off,
				(unsigned long long)s->size);
	bool tail_ok = q->off + q->len == s->size;
	if (q->off % a || (uintptr_t)q->buf % a || (q->len % a && !tail_ok))
		return tbs_fail(err, -EINVAL,
				"%s: misaligned O_DIRECT read: offset %llu, length %llu, buffer %p; all must be "
				"multiples of %u bytes",
				s->name, (unsigned long long)q->off, (unsigned long long)q->len, q->buf, a);
	uint8_t *buf = q->buf;
	for (uint64_t pos = 0; pos < q->len;) {
		struct io io = { .q = q, .buf = buf + pos };
		uint64_t run;
		tbs_source_map(s, q->off + pos, &io.member, &io.dev_off, &run);
		uint64_t n = q->len - pos;
		if (n > run)
			n = run;
		if (n > r->o.io_size)
			n = r->o.io_size;
		if (n > piece_room(r, io.buf))
			n = piece_room(r, io.buf);
		io.need = (uint32_t)n;
		io.len = (uint32_t)tbs_round_up(n, a);
		int i = io_get(r);
		if (i == NONE) {
			/* Drain what was queued so no IO outlives the caller's request. */
			tbs_fail(&q->err, q->status = -ENOMEM, "out of memory");
			tbs_reader_wait(r, q);
			return tbs_fail(err, -ENOMEM, "out of memory");
		}
		r->ios[i] = io;
		push_tail(r, &r->rings[io.member], i);
		q->pending++;
		pos += n;
	}
	for (unsigned m = 0; m < s->n; m++)
		submit_ring(r, m);
	return 0;
}

/* ---- completions ---------------------------------------------------------- */

#define SECTOR_BYTES 512u

/* The first block of `step` bytes in [off, off + len) that cannot be read
 * (off itself when every one can, or when the reads are refused). */
static uint64_t first_unreadable(int fd, uint8_t *buf, uint64_t off, uint64_t len, uint32_t step)
{
	for (uint64_t at = off; at < off + len; at += step) {
		ssize_t n;
		do
			n = pread(fd, buf, step, (off_t)at);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno == EINVAL)
			return off;
		if (n < (ssize_t)step)
			return at;
	}
	return off;
}

/* A read failed (a media error, a drive gone): find its first unreadable
 * logical block by reading the IO's blocks one at a time (the kernel says
 * only that the whole IO failed), and name the drive and LBA it is on. */
static void fail_read(struct tbs_reader *r, struct io *io, int res)
{
	const struct tbs_member *m = &r->s->m[io->member];
	struct tbs_req *q = io->q;
	uint64_t bad = first_unreadable(m->fd, io->buf, io->dev_off, io->len, r->s->align);
	/* then within that block by 512-byte sectors, where O_DIRECT allows it
	 * (a filesystem block may straddle two drives' chunks) */
	if (r->s->align > SECTOR_BYTES)
		bad = first_unreadable(m->fd, io->buf, bad, r->s->align, SECTOR_BYTES);
	char where[300] = "";
	if (tbs_locate(m->fd, bad, where + 4, sizeof where - 4) == 0)
		memcpy(where, " on ", 4);
	if (r->s->chunk)
		tbs_fail(&q->err, res, "%s (RAID0 member %u): read of %u bytes at offset %llu failed at offset %llu%s: %s",
			 m->path, io->member, io->len, (unsigned long long)io->dev_off, (unsigned long long)bad, where,
			 strerror(-res));
	else
		tbs_fail(&q->err, res, "%s: read of %u bytes at offset %llu failed at offset %llu%s: %s", m->path, io->len,
			 (unsigned long long)io->dev_off, (unsigned long long)bad, where, strerror(-res));
	q->err.has_at = true;
	q->err.at = tbs_source_unmap(r->s, io->member, bad);
}

static void fail_io(struct tbs_reader *r, struct io *io, int res)
{
	const struct tbs_member *m = &r->s->m[io->member];
	struct tbs_req *q = io->q;
	if (q->status < 0)
		return;
	if (res == -EINVAL)
		tbs_fail(&q->err, res,
			 "%s: the kernel refused an O_DIRECT read (EINVAL): offset %llu, length %u, buffer %p, "
			 "alignment %u",
			 m->path, (unsigned long long)io->dev_off, io->len, (void *)io->buf, r->s->align);
	else if (res == 0)
		tbs_fail(&q->err, -EIO, "%s: unexpected end of data at offset %llu (%u bytes still expected); "
			 "was it truncated?", m->path, (unsigned long long)io->dev_off, io->need);
	else if (res == -EAGAIN)
		tbs_fail(&q->err, res, "%s: read at offset %llu still busy (EAGAIN) after %u retries", m->path,
			 (unsigned long long)io->dev_off, MAX_RETRIES);
	else
		fail_read(r, io, res);
	q->status = q->err.code;
}

/* One completion: done, resubmitted (short read, EAGAIN) or failed. */
static void complete(struct tbs_reader *r, unsigned m, int i, int res)
{
	struct io *io = &r->ios[i];
	struct ring *g = &r->rings[m];
	g->inflight--;
	if (r->o.fault)
		res = r->o.fault(r->o.fault_ctx, m, io->dev_off, io->len, res);
	if (res >= (int)io->need || io->q->status < 0) {
		finish(r, i);
		return;
	}
	bool retry = res == -EAGAIN || res == -EINTR;
	if (res > 0) {
		/* A short read: continue after the aligned part that arrived (a
		 * partial block is read again, since O_DIRECT offsets must stay
		 * aligned). */
		uint32_t got = (uint32_t)res / r->s->align * r->s->align;
		if (got == 0) {
			/* Only end of file cuts an O_DIRECT read inside a block. */
			fail_io(r, io, 0);
			finish(r, i);
			return;
		}
		io->buf += got;
		io->dev_off += got;
		io->len -= got;
		io->need -= got;
		retry = true;
		io->retries = 0;
	}
	if (retry && ++io->retries <= MAX_RETRIES) {
		push_head(r, g, i);
		return;
	}
	fail_io(r, io, res > 0 ? -EAGAIN : res);
	finish(r, i);
}

static unsigned reap(struct tbs_reader *r, unsigned m)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;
	while (io_uring_peek_cqe(&r->rings[m].u, &cqe) == 0) {
		int i = (int)io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&r->rings[m].u, cqe);
		complete(r, m, i, res);
		n++;
	}
	return n;
}

int tbs_reader_wait(struct tbs_reader *r, struct tbs_req *q)
{
	unsigned n = r->s->n, next = 0;
	while (q->pending) {
		unsigned got = 0;
		for (unsigned m = 0; m < n; m++) {
			got += reap(r, m);
			submit_ring(r, m);
		}
		if (got || !q->pending)
			continue;
		/* Nothing ready: sleep on a ring that has IO in flight; the others
		 * keep their completions until we come back. */
		unsigned m = next, k = 0;
		while (k < n && r->rings[m].inflight == 0) {
			m = (m + 1) % n;
			k++;
		}
		if (k == n)
			return tbs_fail(&q->err, q->status = -EIO, "%s: IO engine stalled with %llu IOs outstanding",
					r->s->name, (unsigned long long)q->pending);
		next = (m + 1) % n;
		/* Submitting here too: SQEs a busy kernel refused earlier are
		 * still in the ring, and waiting alone would never send them. */
		int rc = io_uring_submit_and_wait(&r->rings[m].u, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return tbs_fail(&q->err, q->status = rc, "%s: waiting for IO failed: %s", r->s->m[m].path,
					strerror(-rc));
	}
	return q->status;
}

int tbs_read(struct tbs_reader *r, void *buf, uint64_t off, uint64_t len, struct tbs_error *err)
{
	struct tbs_req q = { .buf = buf, .off = off, .len = len };
	int rc = tbs_reader_queue(r, &q, err);
	if (rc == 0 && (rc = tbs_reader_wait(r, &q)) < 0 && err)
		*err = q.err;
	return rc;
}
