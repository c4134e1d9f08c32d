/* libtbhal on libtbdrv: thin objects over the driver's, with the checks and
 * messages a tensor runtime needs, and graphs on the driver's recordings. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driver/tbdrv.h"
#include "hal/tbhal.h"

enum { MAX_DEVICES = 64, MAX_HANDLES = 4096 };

struct tbh_device {
	struct tb_gpu *gpu;
};

struct tbh_buffer {
	tbh_device *dev;
	struct tb_bo *bo;
};

struct tbh_kernel {
	const struct tb_kernel *k;
	struct tbh_program *prog;
};

struct tbh_program {
	tbh_device *dev;
	struct tb_program *p;
	struct tbh_kernel *kernels;	/* one per kernel of the code object */
};

struct tbh_signal {
	tbh_device *dev;
	struct tb_signal *s;
	uint64_t peers;			/* other GPUs (bit = index) whose queues may wait on it */
};

/* What a recording can change: an exec's argument block or a value. */
struct handle {
	void *kernarg;			/* exec: the block's CPU address */
	uint32_t size;			/* exec: its size */
	uint32_t index;			/* value: dword index in the recording */
	int value_bits;			/* 64; 0 for an exec */
};

struct tbh_queue {
	tbh_device *dev;
	struct tb_queue *q;
	tbh_queue_kind kind;
	bool recording;
	struct handle *handles;		/* while recording */
	uint32_t nhandles;
};

struct tbh_graph {
	struct tb_cmdbuf *cb;
	struct handle *handles;
	uint32_t nhandles;
	struct tb_gpu *gpu;
};

/* ---- errors ------------------------------------------------------------------ */

static _Thread_local char last_error[512];

const char *tbh_last_error(void)
{
	return last_error;
}

static int fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	return rc;
}

/* A driver status, with what failed and, after a GPU failure, why. */
static int check(int rc, struct tb_gpu *gpu, const char *what)
{
	if (rc >= 0)
		return TBH_OK;
	const char *why = gpu ? tb_gpu_failure(gpu) : NULL;
	return fail(rc, "%s: %s%s%s", what, strerror(-rc), why ? ": " : "", why ? why : "");
}

#define NEED(cond, what)                                                              \
	do {                                                                          \
		if (!(cond))                                                          \
			return fail(-EINVAL, "%s: invalid argument (%s)", __func__, what); \
	} while (0)

/* ---- devices ------------------------------------------------------------------ */

int tbh_device_count(void)
{
	struct tb_gpu_info info[MAX_DEVICES];
	char err[256] = "";
	int n = tb_gpu_list(info, MAX_DEVICES, err, sizeof err);
	return n < 0 ? fail(n, "%s", err) : n;
}

int tbh_device_open(int index, tbh_device **out)
{
	NEED(out, "out is NULL");
	tbh_device *d = calloc(1, sizeof *d);
	if (!d)
		return fail(-ENOMEM, "out of memory");
	char err[256] = "";
	int rc = tb_gpu_open(index, &d->gpu, err, sizeof err);
	if (rc < 0) {
		free(d);
		return fail(rc, "GPU %d: %s", index, err[0] ? err : strerror(-rc));
	}
	*out = d;
	return TBH_OK;
}

/* "0000:03:00.0" or "03:00.0" */
static bool same_pci(const char *want, const char *have)
{
	size_t w = strlen(want), h = strlen(have);
	return !strcasecmp(want, have) || (w == 7 && h == 12 && !strcasecmp(want, have + 5));
}

int tbh_device_open_pci(const char *pci, tbh_device **out)
{
	NEED(pci && out, "NULL argument");
	struct tb_gpu_info info[MAX_DEVICES];
	char err[256] = "";
	int n = tb_gpu_list(info, MAX_DEVICES, err, sizeof err);
	if (n < 0)
		return fail(n, "%s", err);
	for (int i = 0; i < n && i < MAX_DEVICES; i++)
		if (same_pci(pci, info[i].pci))
			return tbh_device_open(i, out);
	return fail(-ENODEV, "no GPU at PCI address %s", pci);
}

int tbh_device_open_all(tbh_device **out, int max, int *count)
{
	NEED(out && count && max >= 0, "NULL argument or negative max");
	*count = 0;
	int n = tbh_device_count();
	if (n < 0)
		return n;
	for (int i = 0; i < n && i < max; i++) {
		int rc = tbh_device_open(i, &out[i]);
		if (rc < 0) {
			while (i-- > 0)
				tbh_device_close(out[i]);
			return rc;
		}
		*count = i + 1;
	}
	return TBH_OK;
}

void tbh_device_close(tbh_device *dev)
{
	if (!dev)
		return;
	tb_gpu_close(dev->gpu);
	free(dev);
}

int tbh_device_set_hang_timeout(tbh_device *dev, uint32_t ms)
{
	NEED(dev, "NULL device");
	tb_gpu_set_hang_timeout(dev->gpu, ms);
	return TBH_OK;
}

int tbh_device_get_props(const tbh_device *dev, tbh_device_props *props)
{
	NEED(dev && props, "NULL argument");
	const struct tb_gpu_info *gi = tb_gpu_info(dev->gpu);
	memset(props, 0, sizeof *props);
	props->index = gi->index;
	snprintf(props->pci, sizeof props->pci, "%s", gi->pci);
	snprintf(props->name, sizeof props->name, "%s", gi->name);
	snprintf(props->arch, sizeof props->arch, "%s", gi->target);
	props->compute_units = gi->cu_count;
	props->vram_bytes = gi->vram_bytes;
	props->numa_node = gi->numa_node;
	return TBH_OK;
}

int tbh_device_free_vram(tbh_device *dev, uint64_t *bytes)
{
	NEED(dev && bytes, "NULL argument");
	return check(tb_gpu_available_vram(dev->gpu, bytes), dev->gpu, "reading the free VRAM");
}

int tbh_device_holders(int index, int *pids, int max)
{
	NEED(pids || max == 0, "NULL argument");
	struct tb_gpu_info info[MAX_DEVICES];
	char err[256] = "";
	int n = tb_gpu_list(info, MAX_DEVICES, err, sizeof err);
	if (n < 0)
		return fail(n, "%s", err);
	if (index < 0 || index >= n || index >= MAX_DEVICES)
		return fail(-EINVAL, "GPU %d: there are %d", index, n);
	return tb_gpu_holders(&info[index], pids, max < 0 ? 0 : max);
}

/* ---- buffers ------------------------------------------------------------------ */

int tbh_buffer_alloc(tbh_device *dev, uint64_t size, tbh_memory where, tbh_buffer **out)
{
	NEED(dev && out, "NULL argument");
	NEED(size > 0, "size is 0");
	NEED(where == TBH_MEMORY_DEVICE || where == TBH_MEMORY_HOST, "unknown memory kind");
	tbh_buffer *b = calloc(1, sizeof *b);
	if (!b)
		return fail(-ENOMEM, "out of memory");
	int rc = tb_bo_alloc(dev->gpu, size, where == TBH_MEMORY_DEVICE ? TB_MEM_VRAM : TB_MEM_HOST, &b->bo);
	if (rc < 0) {
		free(b);
		return fail(rc, "allocating %llu bytes of %s memory: %s", (unsigned long long)size,
			    where == TBH_MEMORY_DEVICE ? "device" : "host", strerror(-rc));
	}
	b->dev = dev;
	*out = b;
	return TBH_OK;
}

void tbh_buffer_free(tbh_buffer *buf)
{
	if (!buf)
		return;
	tb_bo_free(buf->bo);
	free(buf);
}

void *tbh_buffer_cpu(const tbh_buffer *buf)
{
	return buf ? buf->bo->cpu : NULL;
}

uint64_t tbh_buffer_address(const tbh_buffer *buf)
{
	return buf ? buf->bo->va : 0;
}

uint64_t tbh_buffer_size(const tbh_buffer *buf)
{
	return buf ? buf->bo->size : 0;
}

int tbh_buffer_map_to(tbh_buffer *buf, tbh_device *peer)
{
	NEED(buf && peer, "NULL argument");
	if (peer == buf->dev)
		return TBH_OK;
	return check(tb_bo_map(buf->bo, peer->gpu), peer->gpu, "mapping a buffer on a peer GPU");
}

/* ---- programs ------------------------------------------------------------------ */

static int program_from(tbh_device *dev, struct tb_codeobj *co, tbh_program **out)
{
	tbh_program *p = calloc(1, sizeof *p);
	if (p)
		p->kernels = calloc(co->nkernels ? co->nkernels : 1, sizeof *p->kernels);
	if (!p || !p->kernels) {
		free(p);
		tb_codeobj_free(co);
		return fail(-ENOMEM, "out of memory");
	}
	int rc = tb_program_load(dev->gpu, co, &p->p);
	if (rc < 0) {
		free(p->kernels);
		free(p);
		tb_codeobj_free(co);
		return check(rc, dev->gpu, "loading the program into GPU memory");
	}
	for (uint32_t i = 0; i < co->nkernels; i++)
		p->kernels[i] = (struct tbh_kernel){ &co->kernels[i], p };
	p->dev = dev;
	*out = p;
	return TBH_OK;
}

int tbh_program_load(tbh_device *dev, const void *elf, size_t size, tbh_program **out)
{
	NEED(dev && elf && out, "NULL argument");
	struct tb_codeobj *co;
	char err[256] = "";
	int rc = tb_codeobj_parse(elf, size, &co, err, sizeof err);
	if (rc < 0)
		return fail(rc, "not a loadable gfx1100 code object: %s", err);
	return program_from(dev, co, out);
}

int tbh_program_load_file(tbh_device *dev, const char *path, tbh_program **out)
{
	NEED(dev && path && out, "NULL argument");
	struct tb_codeobj *co;
	char err[256] = "";
	int rc = tb_codeobj_load_file(path, &co, err, sizeof err);
	if (rc < 0)
		return fail(rc, "%s: %s", path, err);
	return program_from(dev, co, out);
}

void tbh_program_free(tbh_program *prog)
{
	if (!prog)
		return;
	tb_program_free(prog->p);
	free(prog->kernels);
	free(prog);
}

/* A __local pointer argument takes its size at launch, which exec has no
 * way to say: such kernels are refused by name. */
static int dynamic_lds_arg(const struct tb_kernel *k)
{
	for (uint32_t i = 0; i < k->nargs; i++)
		if (k->args[i].kind == TB_ARG_DYNAMIC_SHARED_POINTER)
			return (int)i;
	return -1;
}

int tbh_program_kernel(tbh_program *prog, const char *name, const tbh_kernel **out)
{
	NEED(prog && name && out, "NULL argument");
	for (uint32_t i = 0; i < prog->p->co->nkernels; i++)
		if (!strcmp(prog->kernels[i].k->name, name)) {
			int arg = dynamic_lds_arg(prog->kernels[i].k);
			if (arg >= 0)
				return fail(-EOPNOTSUPP, "kernel %s: argument %d is dynamic shared memory (a __local "
					    "pointer), which libtbhal cannot size; use a fixed __local array", name, arg);
			*out = &prog->kernels[i];
			return TBH_OK;
		}
	return fail(-ENOENT, "the program has no kernel named '%s'", name);
}

uint32_t tbh_kernel_arg_count(const tbh_kernel *k)
{
	return k ? k->k->nexplicit : 0;
}

int tbh_kernel_arg_info(const tbh_kernel *k, uint32_t i, tbh_kernel_arg *out)
{
	NEED(k && out, "NULL argument");
	if (i >= k->k->nexplicit)
		return fail(-ERANGE, "kernel %s has %u arguments, not %u", k->k->name, k->k->nexplicit, i + 1);
	const struct tb_kernel_arg *a = &k->k->args[i];
	out->name = a->name;
	out->offset = a->offset;
	out->size = a->size;
	out->kind = a->kind == TB_ARG_GLOBAL_BUFFER ? TBH_ARG_BUFFER : TBH_ARG_VALUE;
	return TBH_OK;
}

uint32_t tbh_kernel_args_size(const tbh_kernel *k)
{
	if (!k)
		return 0;
	uint32_t end = 0;
	for (uint32_t i = 0; i < k->k->nexplicit; i++)
		if (k->k->args[i].offset + k->k->args[i].size > end)
			end = k->k->args[i].offset + k->k->args[i].size;
	return end;
}

/* ---- signals ------------------------------------------------------------------ */

int tbh_signal_create(tbh_device *dev, uint64_t initial, tbh_signal **out)
{
	NEED(dev && out, "NULL argument");
	tbh_signal *s = calloc(1, sizeof *s);
	if (!s)
		return fail(-ENOMEM, "out of memory");
	int rc = tb_signal_create(dev->gpu, initial, &s->s);
	if (rc < 0) {
		free(s);
		return check(rc, dev->gpu, "creating a signal");
	}
	s->dev = dev;
	*out = s;
	return TBH_OK;
}

void tbh_signal_destroy(tbh_signal *sig)
{
	if (!sig)
		return;
	tb_signal_destroy(sig->s);
	free(sig);
}

int tbh_signal_map_to(tbh_signal *sig, tbh_device *peer)
{
	NEED(sig && peer, "NULL argument");
	if (peer == sig->dev)
		return TBH_OK;
	int rc = check(tb_signal_map(sig->s, peer->gpu), peer->gpu, "mapping a signal on a peer GPU");
	if (rc == 0)
		sig->peers |= 1ull << tb_gpu_info(peer->gpu)->index;
	return rc;
}

uint64_t tbh_signal_value(const tbh_signal *sig)
{
	return sig ? tb_signal_value(sig->s) : 0;
}

void tbh_signal_set(tbh_signal *sig, uint64_t value)
{
	if (sig)
		tb_signal_set(sig->s, value);
}

int tbh_signal_wait(tbh_signal *sig, uint64_t value, uint32_t timeout_ms)
{
	NEED(sig, "NULL signal");
	int rc = tb_signal_wait(sig->s, value, timeout_ms);
	if (rc == -ETIMEDOUT)
		return fail(rc, "the signal did not reach %llu within %u ms (it is at %llu); the device is still usable",
			    (unsigned long long)value, timeout_ms, (unsigned long long)tb_signal_value(sig->s));
	return check(rc, sig->dev->gpu, "waiting on a signal");
}

uint64_t tbh_signal_timestamp_ns(const tbh_signal *sig)
{
	return sig ? tb_signal_timestamp_ns(sig->s) : 0;
}

/* ---- queues ------------------------------------------------------------------ */

int tbh_queue_create(tbh_device *dev, tbh_queue_kind kind, tbh_queue **out)
{
	NEED(dev && out, "NULL argument");
	NEED(kind == TBH_QUEUE_COMPUTE || kind == TBH_QUEUE_COPY, "unknown queue kind");
	tbh_queue *q = calloc(1, sizeof *q);
	if (!q)
		return fail(-ENOMEM, "out of memory");
	int rc = tb_queue_create(dev->gpu, kind == TBH_QUEUE_COMPUTE ? TB_QUEUE_COMPUTE : TB_QUEUE_COPY, &q->q);
	if (rc < 0) {
		free(q);
		return check(rc, dev->gpu, "creating a queue");
	}
	q->dev = dev;
	q->kind = kind;
	*out = q;
	return TBH_OK;
}

void tbh_queue_destroy(tbh_queue *q)
{
	if (!q)
		return;
	tb_queue_destroy(q->q);
	free(q->handles);
	free(q);
}

/* The grid and block k can take, with a message naming the limit. */
static int grid_ok(const struct tb_kernel *k, const uint32_t grid[3], const uint32_t block[3])
{
	if (!grid || !block)
		return fail(-EINVAL, "grid or block is NULL");
	uint64_t items = 1, threads = 1;
	for (int i = 0; i < 3; i++) {
		if (!grid[i] || !block[i])
			return fail(-EINVAL, "grid %u,%u,%u / block %u,%u,%u: sizes must be at least 1", grid[0], grid[1],
				    grid[2], block[0], block[1], block[2]);
		threads *= block[i];
	}
	for (int i = 0; i < 3 && items <= TB_MAX_GRID_WORK_ITEMS; i++)
		items *= grid[i];
	if (items > TB_MAX_GRID_WORK_ITEMS)
		return fail(-EINVAL, "grid %u,%u,%u has more than %llu work-items, the hardware's limit", grid[0], grid[1],
			    grid[2], TB_MAX_GRID_WORK_ITEMS);
	if (threads > TB_MAX_WORKGROUP_SIZE)
		return fail(-EINVAL, "block %u,%u,%u has %llu work-items; at most %u", block[0], block[1], block[2],
			    (unsigned long long)threads, TB_MAX_WORKGROUP_SIZE);
	if (threads > k->max_flat_workgroup_size)
		return fail(-EINVAL, "block %u,%u,%u has %llu work-items; kernel %s was compiled for at most %u", block[0],
			    block[1], block[2], (unsigned long long)threads, k->name, k->max_flat_workgroup_size);
	return TBH_OK;
}

static int exec_common(tbh_queue *q, const tbh_kernel *k, const void *args, size_t args_size,
		       const uint32_t grid[3], const uint32_t block[3], void **kernarg)
{
	NEED(q && k && (args || !args_size), "NULL argument");
	if (q->kind != TBH_QUEUE_COMPUTE)
		return fail(-EINVAL, "kernels run on compute queues, not copy queues");
	if (k->prog->dev != q->dev)
		return fail(-EINVAL, "the kernel's program was loaded on another device");
	int rc = grid_ok(k->k, grid, block);
	if (rc < 0)
		return rc;
	if (args_size < tbh_kernel_args_size(k))
		return fail(-EINVAL, "kernel %s takes %u bytes of arguments, %zu given", k->k->name,
			    tbh_kernel_args_size(k), args_size);
	rc = tb_queue_dispatch_ex(q->q, k->prog->p, k->k, args, args_size, grid, block, kernarg);
	return check(rc, q->dev->gpu, "queueing a kernel");
}

int tbh_queue_exec(tbh_queue *q, const tbh_kernel *k, const void *args, size_t args_size, const uint32_t grid[3],
		   const uint32_t block[3])
{
	return exec_common(q, k, args, args_size, grid, block, NULL);
}

int tbh_queue_copy(tbh_queue *q, tbh_buffer *dst, uint64_t dst_offset, tbh_buffer *src, uint64_t src_offset,
		   uint64_t size)
{
	NEED(q && dst && src, "NULL argument");
	if (q->kind != TBH_QUEUE_COPY)
		return fail(-EINVAL, "copies run on copy queues");
	if (dst_offset > dst->bo->size || size > dst->bo->size - dst_offset || src_offset > src->bo->size ||
	    size > src->bo->size - src_offset)
		return fail(-ERANGE, "copy of %llu bytes runs past a buffer", (unsigned long long)size);
	if (!size)
		return TBH_OK;
	return check(tb_queue_copy(q->q, dst->bo->va + dst_offset, src->bo->va + src_offset, size), q->dev->gpu,
		     "queueing a copy");
}

/* Signals live in their device's memory, mapped there only. */
static int same_device(const tbh_queue *q, const tbh_signal *sig)
{
	if (q->dev != sig->dev)
		return fail(-EINVAL, "the signal belongs to GPU %d, the queue to GPU %d: signals work on their own "
			    "device's queues only", tb_gpu_info(sig->dev->gpu)->index, tb_gpu_info(q->dev->gpu)->index);
	return TBH_OK;
}

/* Waits also take signals mapped on the queue's device (tbh_signal_map_to). */
static int reachable(const tbh_queue *q, const tbh_signal *sig)
{
	if (q->dev != sig->dev && !(sig->peers & (1ull << tb_gpu_info(q->dev->gpu)->index)))
		return fail(-EINVAL, "the signal belongs to GPU %d and is not mapped on GPU %d, the queue's: "
			    "tbh_signal_map_to first", tb_gpu_info(sig->dev->gpu)->index,
			    tb_gpu_info(q->dev->gpu)->index);
	return TBH_OK;
}

/* Copy queues compare 32 bits. */
static int wait_value_ok(const tbh_queue *q, uint64_t value)
{
	if (q->kind == TBH_QUEUE_COPY && value > UINT32_MAX)
		return fail(-ERANGE, "a copy queue's wait compares 32 bits; %llu does not fit", (unsigned long long)value);
	return TBH_OK;
}

int tbh_queue_signal(tbh_queue *q, tbh_signal *sig, uint64_t value)
{
	NEED(q && sig, "NULL argument");
	if (same_device(q, sig) < 0)
		return -EINVAL;
	return check(tb_queue_signal(q->q, sig->s, value), q->dev->gpu, "queueing a signal");
}

int tbh_queue_wait(tbh_queue *q, tbh_signal *sig, uint64_t value)
{
	NEED(q && sig, "NULL argument");
	int rc = reachable(q, sig);
	rc = rc ? rc : wait_value_ok(q, value);
	if (rc < 0)
		return rc;
	return check(tb_queue_wait(q->q, sig->s, value), q->dev->gpu, "queueing a wait");
}

int tbh_queue_timestamp(tbh_queue *q, tbh_signal *sig)
{
	NEED(q && sig, "NULL argument");
	if (same_device(q, sig) < 0)
		return -EINVAL;
	return check(tb_queue_timestamp(q->q, sig->s), q->dev->gpu, "queueing a timestamp");
}

int tbh_queue_barrier(tbh_queue *q)
{
	NEED(q, "NULL queue");
	return check(tb_queue_barrier(q->q), q->dev->gpu, "queueing a barrier");
}

int tbh_queue_submit(tbh_queue *q)
{
	NEED(q, "NULL queue");
	if (q->recording)
		return fail(-EBUSY, "the queue is recording a graph: end it before submitting");
	return check(tb_queue_submit(q->q), q->dev->gpu, "submitting");
}

/* ---- graphs ------------------------------------------------------------------ */

static int add_handle(tbh_queue *q, struct handle h, uint32_t *out)
{
	if (q->nhandles == MAX_HANDLES)
		return fail(-ENOSPC, "a graph holds at most %d changeable values", MAX_HANDLES);
	struct handle *n = realloc(q->handles, (q->nhandles + 1) * sizeof *n);
	if (!n)
		return fail(-ENOMEM, "out of memory");
	q->handles = n;
	q->handles[q->nhandles] = h;
	if (out)
		*out = q->nhandles;
	q->nhandles++;
	return TBH_OK;
}

int tbh_graph_begin(tbh_queue *q)
{
	NEED(q, "NULL queue");
	if (q->kind != TBH_QUEUE_COMPUTE)
		return fail(-EINVAL, "graphs are recorded on compute queues");
	if (q->recording)
		return fail(-EBUSY, "the queue is already recording");
	int rc = tb_queue_record_begin(q->q);
	if (rc == -EINVAL)
		return fail(rc, "submit the queued commands before recording a graph");
	if (rc < 0)
		return check(rc, q->dev->gpu, "starting a recording");
	q->recording = true;
	q->nhandles = 0;
	return TBH_OK;
}

static int need_recording(const tbh_queue *q)
{
	return q->recording ? TBH_OK : fail(-EINVAL, "the queue is not recording (tbh_graph_begin)");
}

int tbh_graph_exec(tbh_queue *q, const tbh_kernel *k, const void *args, size_t args_size, const uint32_t grid[3],
		   const uint32_t block[3], uint32_t *args_handle)
{
	NEED(q, "NULL queue");
	int rc = need_recording(q);
	void *kernarg = NULL;
	if (rc == 0)
		rc = exec_common(q, k, args, args_size, grid, block, &kernarg);
	if (rc == 0)
		rc = add_handle(q, (struct handle){ .kernarg = kernarg, .size = tbh_kernel_args_size(k) }, args_handle);
	return rc;
}

int tbh_graph_signal(tbh_queue *q, tbh_signal *sig, uint64_t value, uint32_t *value_handle)
{
	NEED(q && sig, "NULL argument");
	int rc = need_recording(q);
	rc = rc ? rc : same_device(q, sig);
	uint32_t index = 0;
	if (rc == 0)
		rc = check(tb_queue_signal_ex(q->q, sig->s, value, &index), q->dev->gpu, "recording a signal");
	if (rc == 0)
		rc = add_handle(q, (struct handle){ .index = index, .value_bits = 64 }, value_handle);
	return rc;
}

int tbh_graph_wait(tbh_queue *q, tbh_signal *sig, uint64_t value, uint32_t *value_handle)
{
	NEED(q && sig, "NULL argument");
	int rc = need_recording(q);
	rc = rc ? rc : reachable(q, sig);
	uint32_t index = 0;
	if (rc == 0)
		rc = check(tb_queue_wait_ex(q->q, sig->s, value, &index), q->dev->gpu, "recording a wait");
	/* graphs are compute queues': their waits compare 64 bits */
	if (rc == 0)
		rc = add_handle(q, (struct handle){ .index = index, .value_bits = 64 }, value_handle);
	return rc;
}

int tbh_graph_end(tbh_queue *q, tbh_graph **out)
{
	NEED(q && out, "NULL argument");
	int rc = need_recording(q);
	if (rc < 0)
		return rc;
	q->recording = false;
	tbh_graph *g = calloc(1, sizeof *g);
	if (!g) {
		struct tb_cmdbuf *cb;
		if (tb_queue_record_end(q->q, &cb) == 0)
			tb_cmdbuf_free(cb);
		return fail(-ENOMEM, "out of memory");
	}
	rc = tb_queue_record_end(q->q, &g->cb);
	if (rc < 0) {
		free(g);
		return rc == -ENODATA ? fail(rc, "the graph is empty") : check(rc, q->dev->gpu, "ending a recording");
	}
	g->handles = q->handles;
	g->nhandles = q->nhandles;
	g->gpu = q->dev->gpu;
	q->handles = NULL;
	q->nhandles = 0;
	*out = g;
	return TBH_OK;
}

int tbh_graph_set_args(tbh_graph *g, uint32_t args_handle, uint32_t offset, const void *data, size_t size)
{
	NEED(g && data, "NULL argument");
	if (args_handle >= g->nhandles || g->handles[args_handle].value_bits)
		return fail(-EINVAL, "handle %u is no recorded kernel launch", args_handle);
	const struct handle *h = &g->handles[args_handle];
	if (offset > h->size || size > h->size - offset)
		return fail(-ERANGE, "bytes %u..%zu are outside the %u-byte argument block", offset, offset + size, h->size);
	memcpy((uint8_t *)h->kernarg + offset, data, size);
	return TBH_OK;
}

int tbh_graph_set_value(tbh_graph *g, uint32_t value_handle, uint64_t value)
{
	NEED(g, "NULL graph");
	if (value_handle >= g->nhandles || !g->handles[value_handle].value_bits)
		return fail(-EINVAL, "handle %u is no recorded signal or wait", value_handle);
	const struct handle *h = &g->handles[value_handle];
	return check(tb_cmdbuf_patch64(g->cb, h->index, value), NULL, "changing a recorded value");
}

int tbh_queue_replay(tbh_queue *q, const tbh_graph *g)
{
	NEED(q && g, "NULL argument");
	if (q->recording)
		return fail(-EBUSY, "the queue is recording");
	if (g->gpu != q->dev->gpu)
		return fail(-EINVAL, "the graph was recorded on another device");
	return check(tb_queue_replay(q->q, g->cb), q->dev->gpu, "queueing a replay");
}

void tbh_graph_free(tbh_graph *g)
{
	if (!g)
		return;
	tb_cmdbuf_free(g->cb);
	free(g->handles);
	free(g);
}
