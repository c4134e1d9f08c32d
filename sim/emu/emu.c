/* Running one kernel on the emulator: GPU memory, kernarg segment, dispatch
 * packet and dispatch registers, as a runtime would set them up. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/emu/emu.h"

#define PAGE 4096ull
#define VA_BASE 0x10000000ull		/* well below the LDS and private apertures */
#define VA_GAP (2ull << 20)		/* unmapped space between allocations */
#define SHARED_APERTURE (1ull << 48)	/* KFD's gfx9+ layout */
#define PRIVATE_APERTURE (2ull << 48)
#define MAX_REGIONS 64

static int fail(char *err, size_t len, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t len, int rc, const char *fmt, ...)
{
	if (err && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- a small GPU address space: page-granular regions with gaps ---------- */

struct space {
	struct isa_mapping r[MAX_REGIONS];
	unsigned n;
	uint64_t next;
};

static int space_lookup(void *ctx, uint64_t va, struct isa_mapping *out)
{
	const struct space *s = ctx;
	for (unsigned i = 0; i < s->n; i++)
		if (va >= s->r[i].va && va - s->r[i].va < s->r[i].size) {
			*out = s->r[i];
			return 0;
		}
	return -EFAULT;
}

static uint64_t space_alloc(struct space *s, size_t size, bool writable, uint8_t **host)
{
	if (s->n >= MAX_REGIONS)
		return 0;
	uint64_t bytes = (size + PAGE - 1) & ~(PAGE - 1);
	if (!bytes)
		bytes = PAGE;
	uint8_t *p = aligned_alloc(PAGE, bytes);
	if (!p)
		return 0;
	memset(p, 0, bytes);
	uint64_t va = s->next;
	s->next = (va + bytes + VA_GAP + (VA_GAP - 1)) & ~(VA_GAP - 1);
	s->r[s->n++] = (struct isa_mapping){ .va = va, .size = bytes, .host = p, .writable = writable };
	*host = p;
	return va;
}

static void space_free(struct space *s)
{
	for (unsigned i = 0; i < s->n; i++)
		free(s->r[i].host);
	s->n = 0;
}

/* ---- argument checks ------------------------------------------------------ */

int emu_check_args(const struct emu_launch *l, char *err, size_t errlen)
{
	const struct tb_kernel *k = l->kernel;
	if (l->nargs != k->nexplicit)
		return fail(err, errlen, -EINVAL, "kernel %s takes %u arguments, %u given", k->name, k->nexplicit,
			    l->nargs);
	for (unsigned i = 0; i < k->nexplicit; i++) {
		const struct tb_kernel_arg *m = &k->args[i];
		const struct emu_arg *a = &l->args[i];
		const char *name = m->name[0] ? m->name : "?";
		switch (m->kind) {
		case TB_ARG_GLOBAL_BUFFER:
			if (a->kind != EMU_ARG_BUFFER)
				return fail(err, errlen, -EINVAL, "argument %u (%s %s) is a buffer, given a %s scalar",
					    i + 1, m->type_name, name, a->what);
			break;
		case TB_ARG_BY_VALUE:
			if (a->kind != EMU_ARG_SCALAR)
				return fail(err, errlen, -EINVAL, "argument %u (%s %s) is a %u-byte value, given a buffer",
					    i + 1, m->type_name, name, m->size);
			if (a->size != m->size)
				return fail(err, errlen, -EINVAL,
					    "argument %u (%s %s) is %u bytes, given a %zu-byte %s", i + 1, m->type_name,
					    name, m->size, a->size, a->what);
			break;
		default:
			return fail(err, errlen, -EINVAL,
				    "argument %u (%s %s) is of a kind tb emu does not provide (local or image memory)",
				    i + 1, m->type_name, name);
		}
	}
	for (int d = 0; d < 3; d++) {
		if (!l->grid[d] || !l->block[d])
			return fail(err, errlen, -EINVAL, "grid and block sizes must be at least 1");
	}
	uint64_t per_group = (uint64_t)l->block[0] * l->block[1] * l->block[2];
	uint32_t max = k->max_flat_workgroup_size ? k->max_flat_workgroup_size : 1024;
	if (per_group > max)
		return fail(err, errlen, -EINVAL, "block of %llu work-items exceeds the kernel's maximum of %u",
			    (unsigned long long)per_group, max);
	return 0;
}

/* ---- kernarg segment and dispatch packet -------------------------------------- */

static void put(uint8_t *p, uint32_t off, uint64_t v, uint32_t size)
{
	memcpy(p + off, &v, size > 8 ? 8 : size);	/* little endian */
}

static uint64_t hidden_value(const struct emu_launch *l, enum tb_hidden_arg h)
{
	switch (h) {
	case TB_HIDDEN_BLOCK_COUNT_X: return l->grid[0] / l->block[0];
	case TB_HIDDEN_BLOCK_COUNT_Y: return l->grid[1] / l->block[1];
	case TB_HIDDEN_BLOCK_COUNT_Z: return l->grid[2] / l->block[2];
	case TB_HIDDEN_GROUP_SIZE_X: return l->block[0];
	case TB_HIDDEN_GROUP_SIZE_Y: return l->block[1];
	case TB_HIDDEN_GROUP_SIZE_Z: return l->block[2];
	case TB_HIDDEN_REMAINDER_X: return l->grid[0] % l->block[0];
	case TB_HIDDEN_REMAINDER_Y: return l->grid[1] % l->block[1];
	case TB_HIDDEN_REMAINDER_Z: return l->grid[2] % l->block[2];
	case TB_HIDDEN_GRID_DIMS: return l->grid[2] > 1 ? 3 : l->grid[1] > 1 ? 2 : 1;
	default: return 0;	/* global offsets are zero; others unused */
	}
}

static void write_dispatch_packet(uint8_t *p, const struct emu_launch *l, uint64_t kd_va, uint64_t kernarg_va)
{
	const struct tb_kernel *k = l->kernel;
	put(p, 2, hidden_value(l, TB_HIDDEN_GRID_DIMS), 2);	/* setup: dimensions */
	for (int d = 0; d < 3; d++) {
		put(p, 4 + 2 * (uint32_t)d, l->block[d], 2);
		put(p, 12 + 4 * (uint32_t)d, l->grid[d], 4);
	}
	put(p, 24, k->private_segment_size, 4);
	put(p, 28, k->group_segment_size, 4);
	put(p, 32, kd_va, 8);
	put(p, 40, kernarg_va, 8);
}

/* ---- the run ------------------------------------------------------------------------ */

struct setup {
	struct space sp;
	uint64_t code_va, kernarg_va, packet_va, queue_va, scratch_va, scratch_bytes;
	uint64_t *buf_va;
	uint8_t **buf_host;
	struct isa_program *prog;
};

static int place_everything(const struct emu_launch *l, struct setup *s, unsigned threads, char *err, size_t len)
{
	const struct tb_kernel *k = l->kernel;
	const struct tb_codeobj *co = l->co;
	uint8_t *host;
	s->sp.next = VA_BASE;
	s->code_va = space_alloc(&s->sp, co->image_size, false, &host);
	if (!s->code_va)
		return fail(err, len, -ENOMEM, "out of memory for the code object");
	tb_codeobj_place(co, host, s->code_va);

	uint8_t *kernarg;
	s->kernarg_va = space_alloc(&s->sp, k->kernarg_size ? k->kernarg_size : 16, false, &kernarg);
	uint8_t *packet;
	s->packet_va = space_alloc(&s->sp, 64, false, &packet);
	uint8_t *queue;
	s->queue_va = space_alloc(&s->sp, 256, false, &queue);
	if (!s->kernarg_va || !s->packet_va || !s->queue_va)
		return fail(err, len, -ENOMEM, "out of memory");

	s->buf_va = calloc(l->nargs ? l->nargs : 1, sizeof *s->buf_va);
	s->buf_host = calloc(l->nargs ? l->nargs : 1, sizeof *s->buf_host);
	if (!s->buf_va || !s->buf_host)
		return fail(err, len, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < l->nargs; i++) {
		const struct emu_arg *a = &l->args[i];
		const struct tb_kernel_arg *m = &k->args[i];
		if (a->kind == EMU_ARG_BUFFER) {
			s->buf_va[i] = space_alloc(&s->sp, a->size, true, &s->buf_host[i]);
			if (!s->buf_va[i])
				return fail(err, len, -ENOMEM, "out of memory for a %zu-byte buffer", a->size);
			if (a->data && a->size)
				memcpy(s->buf_host[i], a->data, a->size);
			put(kernarg, m->offset, s->buf_va[i], 8);
		} else {
			put(kernarg, m->offset, a->value, (uint32_t)a->size);
		}
	}
	for (unsigned i = k->nexplicit; i < k->nargs; i++)
		if (k->args[i].kind == TB_ARG_HIDDEN)
			put(kernarg, k->args[i].offset, hidden_value(l, k->args[i].hidden), k->args[i].size);
	write_dispatch_packet(packet, l, s->code_va + k->kd_offset, s->kernarg_va);

	/* private memory for every wave that can run at once */
	if (k->private_segment_size) {
		uint64_t per_group = (uint64_t)l->block[0] * l->block[1] * l->block[2];
		uint64_t waves = (per_group + 31) / 32;
		s->scratch_bytes = (uint64_t)k->private_segment_size * 32 * waves * threads;
		uint8_t *scratch;
		s->scratch_va = space_alloc(&s->sp, s->scratch_bytes, true, &scratch);
		if (!s->scratch_va)
			return fail(err, len, -ENOMEM, "out of memory for %llu bytes of scratch",
				    (unsigned long long)s->scratch_bytes);
	}
	struct isa_memory mem = { space_lookup, &s->sp };
	s->prog = isa_program_create(&mem, s->code_va + co->text_offset, co->text_size);
	if (!s->prog)
		return fail(err, len, -ENOMEM, "cannot decode the program");
	return 0;
}

static void teardown(struct setup *s)
{
	isa_program_destroy(s->prog);
	free(s->buf_va);
	free(s->buf_host);
	space_free(&s->sp);
}

int emu_run(const struct emu_launch *l, struct isa_result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof *res);
	int rc = emu_check_args(l, err, errlen);
	if (rc < 0)
		return rc;
	const struct tb_kernel *k = l->kernel;
	unsigned threads = l->threads ? l->threads : isa_default_threads();
	struct setup s;
	memset(&s, 0, sizeof s);
	rc = place_everything(l, &s, threads, err, errlen);
	if (rc < 0) {
		teardown(&s);
		return rc;
	}
	struct isa_dispatch d = {
		.program = s.prog,
		.pgm_va = s.code_va + k->entry_offset,
		.rsrc1 = k->rsrc1,
		.rsrc2 = k->rsrc2,
		.rsrc3 = k->rsrc3,
		.lds_bytes = k->group_segment_size,
		.scratch_va = s.scratch_va,
		.scratch_bytes = s.scratch_bytes,
		.scratch_lane_bytes = k->private_segment_size,
		.shared_aperture = SHARED_APERTURE,
		.private_aperture = PRIVATE_APERTURE,
		.realtime_hz = 100000000,
		.max_wave_instructions = l->max_wave_instructions,
	};
	uint64_t psb[2] = { 0, 0 };
	tb_kernel_user_sgprs(k, psb, s.packet_va, s.queue_va, s.kernarg_va, 0, d.user_data);
	for (int i = 0; i < 3; i++) {
		d.wg_size[i] = l->block[i];
		d.wg_count[i] = (l->grid[i] + l->block[i] - 1) / l->block[i];
		d.partial[i] = l->grid[i] % l->block[i];
	}
	struct isa_memory mem = { space_lookup, &s.sp };
	rc = isa_dispatch_run(&d, &mem, threads, res);
	if (rc == 0 || rc == -EIO)
		for (unsigned i = 0; i < l->nargs; i++)
			if (l->args[i].kind == EMU_ARG_BUFFER && l->args[i].data)
				memcpy(l->args[i].data, s.buf_host[i], l->args[i].size);
	if (rc < 0)
		fail(err, errlen, rc, "%s", res->message);
	teardown(&s);
	return rc;
}
