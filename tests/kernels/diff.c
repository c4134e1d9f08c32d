/* Differential test of the emulator: every kernel of tests/kernels, at
 * several sizes (some not multiples of the work-group size), on seeded
 * random inputs, run on the emulator (libtbemu) and on the host reference
 * (the same OpenCL C compiled for the host, tests/kernels/host.c), then
 * every buffer compared: bit-exact, or within the ULP tolerance of
 * tests/kernels/README.md for the transcendental functions.
 *
 *   kernel_diff [--seed N] [--table] [--threads N] [--only KERNEL] [--build DIR]
 *
 * TAP by default (one test per kernel and size; the seed is printed, and
 * again with every failure).  --table runs each kernel once, at its largest
 * size, and prints a table for `make run`.  Exit status 1 on any mismatch. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hal/tbhal.h"
#include "sim/emu/emu.h"
#include "tests/kernels/host.h"

#define MAX_ARGS 24
#define NSIZES 3

typedef unsigned int uint;
typedef unsigned long ulong;
typedef _Float16 half;
typedef uint uint4 __attribute__((vector_size(16)));

/* ---- the host builds of the kernels (the .cl files here) ----------------- */

void ew_f32(const float *a, const float *b, float *out, uint n);
void ew_i32(const int *a, const int *b, int *out, uint n);
void ew_f16(const half *a, const half *b, half *out, float *wide, uint n);
void ew_div(const float *a, const float *b, const half *ha, const half *hb, float *q, half *hq, float *fma, uint n);
void ew_wide(const double *a, const double *b, const ulong *u, const float *f, double *dout, ulong *uout,
	     float *fout, uint n);
void reduce_u32(const uint *in, uint *sums, uint *maxes, uint n);
void reduce_f32(const float *in, float *sums, uint n);
void histogram(const uint *in, uint *bins, uint n, uint nbins);
void atomic_ops(const uint *in, uint *acc, ulong *acc64, uint n);
void histogram_lds(const uint *in, uint *bins, uint n);
void matmul_f32(const float *a, const float *b, float *c, uint m, uint n, uint k);
void matmul_tiled_f32(const float *a, const float *b, float *c, uint m, uint n, uint k);
void matmul_wmma_f16(const half *a, const half *b, float *c, uint m, uint n, uint k);
void mt_walking_ones(uint *buf, uint *errors, uint n);
void mt_address(ulong *buf, ulong *offsets, uint *errors, uint n);
void mt_random_fill(uint *buf, uint *errors, uint n, uint seed);
void div_i32(const int *a, const int *b, int *out, uint n);
void div_i64(const long *a, const long *b, long *out, uint n);
void divergent(const int *in, int *out, uint n);
void ptr64(const ulong *base, ulong *out, ulong far, ulong back, uint n);
void widths(const unsigned char *in8, const unsigned short *in16, const uint *in32, const ulong *in64,
	    const uint4 *in128, unsigned char *o8, unsigned short *o16, uint *o32, ulong *o64, uint4 *o128, int *sext,
	    uint n);
void lds_widths(const ulong *in, ulong *out, unsigned char *bytes, uint n);
void many_args(const uint *in, ulong *out, uint a0, ulong a1, float a2, int a3, uint a4, half a5, ulong a6, uint a7,
	       int a8, float a9, uint a10, ulong a11, uint a12, int a13, uint a14, uint a15, half a16, uint n);
void scratch_counts(const uint *in, uint *out, uint n, uint per_item);
void dispatch_info(uint *out);
void math_exp(const float *x, float *out, uint n);
void math_log(const float *x, float *out, uint n);
void math_sqrt(const float *x, float *out, uint n);
void math_rsqrt(const float *x, float *out, uint n);
void math_sin(const float *x, float *out, uint n);

/* ---- one run's arguments --------------------------------------------------- */

/* How a buffer is compared: its element type, and the ULP tolerance for floats. */
enum elem { E_U8, E_U16, E_U32, E_U64, E_F16, E_F32, E_SKIP };
static const unsigned elem_bytes[] = { 1, 2, 4, 8, 2, 4, 1 };

struct arg {
	bool is_buffer;
	enum elem elem;
	unsigned ulp;
	size_t bytes;
	void *init;		/* the inputs both sides start from */
	void *gpu, *host;	/* results */
	uint64_t value;		/* scalars: bits */
	unsigned size;		/* scalars: bytes */
};

struct run {
	struct arg a[MAX_ARGS];
	unsigned n;
	uint32_t grid[3], block[3];
	uint64_t rng;
	bool oom;
};

static uint64_t rnd(struct run *r)
{
	/* splitmix64: small, and good enough for test inputs */
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float rnd_f32(struct run *r, float lo, float hi)
{
	return lo + (hi - lo) * (float)((double)(rnd(r) >> 11) / 9007199254740992.0);
}

/* A buffer of count elements, zero-filled; the caller fills the inputs. */
static void *buffer(struct run *r, enum elem e, size_t count)
{
	struct arg *a = &r->a[r->n++];
	a->is_buffer = true;
	a->elem = e;
	a->bytes = count * elem_bytes[e];
	a->init = calloc(1, a->bytes ? a->bytes : 1);
	if (!a->init)
		r->oom = true;
	return a->init;
}

/* An output buffer of floats (E_F32 or E_F16) compared within ulp. */
static void *buffer_ulp(struct run *r, enum elem e, size_t count, unsigned ulp)
{
	void *p = buffer(r, e, count);
	r->a[r->n - 1].ulp = ulp;
	return p;
}

static void scalar(struct run *r, uint64_t bits, unsigned size)
{
	struct arg *a = &r->a[r->n++];
	a->value = bits;
	a->size = size;
}

static void u32(struct run *r, uint32_t v) { scalar(r, v, 4); }
static void u64(struct run *r, uint64_t v) { scalar(r, v, 8); }
static void f32(struct run *r, float v)
{
	uint32_t b;
	memcpy(&b, &v, 4);
	scalar(r, b, 4);
}
static void f16(struct run *r, float v)
{
	half h = (half)v;
	uint16_t b;
	memcpy(&b, &h, 2);
	scalar(r, b, 2);
}

/* Fillers for input buffers (p may be NULL after a failed allocation). */
static void fill_bits(struct run *r, void *p, size_t bytes)
{
	for (size_t i = 0; p && i < bytes; i++)
		((uint8_t *)p)[i] = (uint8_t)rnd(r);
}

static void fill_f32(struct run *r, float *p, size_t count, float lo, float hi)
{
	for (size_t i = 0; p && i < count; i++)
		p[i] = rnd_f32(r, lo, hi);
}

/* Any finite half, subnormals included. */
static void fill_f16_bits(struct run *r, half *p, size_t count)
{
	for (size_t i = 0; p && i < count; i++) {
		uint16_t b = (uint16_t)rnd(r);
		if (((b >> 10) & 0x1f) == 0x1f)
			b ^= 0x4000;
		memcpy(&p[i], &b, 2);
	}
}

/* Positive finite floats of every exponent, subnormals included unless
 * normal_only. */
static void fill_f32_positive(struct run *r, float *p, size_t count, bool normal_only)
{
	for (size_t i = 0; p && i < count; i++) {
		uint32_t b = (uint32_t)rnd(r) & 0x7fffffffu;
		if ((b >> 23) == 0xff)
			b ^= 0x40000000u;
		if (normal_only && (b >> 23) == 0)
			b |= 1u << 23;
		memcpy(&p[i], &b, 4);
	}
}

/* Integers that stress division: edge values, small ones of either sign,
 * and full-width random ones. */
static int64_t pick_int(struct run *r, int bits)
{
	int64_t min = bits == 32 ? INT32_MIN : INT64_MIN, max = bits == 32 ? INT32_MAX : INT64_MAX;
	const int64_t edges[] = { 0, 1, -1, 2, -2, 7, -7, min, max, min + 1 };
	uint64_t x = rnd(r);
	switch (x % 4) {
	case 0: return edges[(x >> 8) % (sizeof edges / sizeof *edges)];
	case 1: return (int64_t)((x >> 8) % 2001) - 1000;
	case 2: return bits == 32 ? (int32_t)(x >> 16) % 65536 : (int64_t)(x >> 8) - (int64_t)(1ull << 55);
	default: return bits == 32 ? (int32_t)(uint32_t)(rnd(r)) : (int64_t)rnd(r);
	}
}

static void grid1(struct run *r, uint32_t items, uint32_t block)
{
	r->grid[0] = items;
	r->block[0] = block;
	r->grid[1] = r->grid[2] = r->block[1] = r->block[2] = 1;
}

static uint32_t round_up(uint32_t x, uint32_t m) { return (x + m - 1) / m * m; }

/* ---- the cases: inputs, shapes and host wrappers --------------------------------- */

#define P(i) (a[i].p)
#define V32(i) ((uint32_t)a[i].v)

static float as_f32(uint64_t bits)
{
	float f;
	uint32_t b = (uint32_t)bits;
	memcpy(&f, &b, 4);
	return f;
}

static half as_f16(uint64_t bits)
{
	half h;
	uint16_t b = (uint16_t)bits;
	memcpy(&h, &b, 2);
	return h;
}

static void p_ew_f32(struct run *r, uint32_t n)
{
	fill_f32(r, buffer(r, E_F32, n), n, -100, 100);
	fill_f32(r, buffer(r, E_F32, n), n, -100, 100);
	buffer(r, E_F32, 8 * (size_t)n);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_ew_f32(const struct tk_arg *a) { ew_f32(P(0), P(1), P(2), V32(3)); }

static void p_ew_i32(struct run *r, uint32_t n)
{
	fill_bits(r, buffer(r, E_U32, n), 4 * (size_t)n);
	fill_bits(r, buffer(r, E_U32, n), 4 * (size_t)n);
	buffer(r, E_U32, 10 * (size_t)n);
	u32(r, n);
	grid1(r, n, 128);
}
static void h_ew_i32(const struct tk_arg *a) { ew_i32(P(0), P(1), P(2), V32(3)); }

/* No -0 in a: clang lowers (half)((float)x * c) to v_fma_mixhi_f16 x, c, +0,
 * which turns -0 into +0 where C keeps -0 (the emulator does what the
 * instruction does; the difference is the compiler's). */
static void p_ew_f16(struct run *r, uint32_t n)
{
	half *a = buffer(r, E_F16, n);
	fill_f16_bits(r, a, n);
	for (size_t i = 0; a && i < n; i++)
		if (a[i] == 0)
			a[i] = 0;
	fill_f16_bits(r, buffer(r, E_F16, n), n);
	buffer(r, E_F16, 4 * (size_t)n);
	buffer(r, E_F32, n);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_ew_f16(const struct tk_arg *a) { ew_f16(P(0), P(1), P(2), P(3), V32(4)); }

static void p_ew_wide(struct run *r, uint32_t n)
{
	for (int side = 0; side < 2; side++) {
		double *d = buffer(r, E_U64, n);
		for (size_t i = 0; d && i < n; i++)
			d[i] = (double)rnd_f32(r, -1e5f, 1e5f) * (1.0 + (double)(rnd(r) >> 40) / 16777216.0);
	}
	fill_bits(r, buffer(r, E_U64, n), 8 * (size_t)n);
	fill_f32(r, buffer(r, E_F32, n), n, -3e4f, 3e4f);
	buffer(r, E_U64, 4 * (size_t)n);
	buffer(r, E_U64, 4 * (size_t)n);
	buffer(r, E_F32, 3 * (size_t)n);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_ew_wide(const struct tk_arg *a) { ew_wide(P(0), P(1), P(2), P(3), P(4), P(5), P(6), V32(7)); }

/* The ULP tolerances of tests/kernels/README.md for division. */
enum { ULP_DIV = 3, ULP_DIV_F16 = 1 };

static void p_ew_div(struct run *r, uint32_t n)
{
	fill_f32(r, buffer(r, E_F32, n), n, -1e6f, 1e6f);
	fill_f32_positive(r, buffer(r, E_F32, n), n, true);
	fill_f16_bits(r, buffer(r, E_F16, n), n);
	fill_f16_bits(r, buffer(r, E_F16, n), n);
	buffer_ulp(r, E_F32, n, ULP_DIV);
	buffer_ulp(r, E_F16, n, ULP_DIV_F16);
	buffer(r, E_F32, n);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_ew_div(const struct tk_arg *a) { ew_div(P(0), P(1), P(2), P(3), P(4), P(5), P(6), V32(7)); }

static void p_reduce_u32(struct run *r, uint32_t n)
{
	uint32_t groups = (n + 255) / 256;
	fill_bits(r, buffer(r, E_U32, n), 4 * (size_t)n);
	buffer(r, E_U32, groups);
	buffer(r, E_U32, groups);
	u32(r, n);
	grid1(r, n, 256);
}
static void h_reduce_u32(const struct tk_arg *a) { reduce_u32(P(0), P(1), P(2), V32(3)); }

static void p_reduce_f32(struct run *r, uint32_t n)
{
	fill_f32(r, buffer(r, E_F32, n), n, -1000, 1000);
	buffer(r, E_F32, (n + 255) / 256);
	u32(r, n);
	grid1(r, round_up(n, 256), 256);
}
static void h_reduce_f32(const struct tk_arg *a) { reduce_f32(P(0), P(1), V32(2)); }

static void p_histogram(struct run *r, uint32_t n)
{
	fill_bits(r, buffer(r, E_U32, n), 4 * (size_t)n);
	buffer(r, E_U32, 37);
	u32(r, n);
	u32(r, 37);
	grid1(r, n, 64);
}
static void h_histogram(const struct tk_arg *a) { histogram(P(0), P(1), V32(2), V32(3)); }

static void p_atomic_ops(struct run *r, uint32_t n)
{
	fill_bits(r, buffer(r, E_U32, n), 4 * (size_t)n);
	uint32_t *acc = buffer(r, E_U32, 9);
	if (acc)
		acc[3] = acc[6] = 0xffffffffu;	/* the identities of min and and */
	buffer(r, E_U64, 1);
	u32(r, n);
	grid1(r, n, 96);
}
static void h_atomic_ops(const struct tk_arg *a) { atomic_ops(P(0), P(1), P(2), V32(3)); }

static void p_histogram_lds(struct run *r, uint32_t n)
{
	fill_bits(r, buffer(r, E_U32, n), 4 * (size_t)n);
	buffer(r, E_U32, 64);
	u32(r, n);
	grid1(r, round_up(n, 128), 128);
}
static void h_histogram_lds(const struct tk_arg *a) { histogram_lds(P(0), P(1), V32(2)); }

/* C (n x n+1) = A (n x n+3) x B (n+3 x n+1): no dimension a multiple of 16. */
static void p_matmul(struct run *r, uint32_t n, bool tiled)
{
	uint32_t m = n, cols = n + 1, k = n + 3;
	fill_f32(r, buffer(r, E_F32, (size_t)m * k), (size_t)m * k, -1, 1);
	fill_f32(r, buffer(r, E_F32, (size_t)k * cols), (size_t)k * cols, -1, 1);
	buffer(r, E_F32, (size_t)m * cols);
	u32(r, m);
	u32(r, cols);
	u32(r, k);
	r->grid[0] = tiled ? round_up(cols, 16) : cols;
	r->grid[1] = tiled ? round_up(m, 16) : m;
	r->grid[2] = 1;
	r->block[0] = r->block[1] = 16;
	r->block[2] = 1;
}
static void p_matmul_f32(struct run *r, uint32_t n) { p_matmul(r, n, false); }
static void p_matmul_tiled(struct run *r, uint32_t n) { p_matmul(r, n, true); }
static void h_matmul_f32(const struct tk_arg *a) { matmul_f32(P(0), P(1), P(2), V32(3), V32(4), V32(5)); }
static void h_matmul_tiled(const struct tk_arg *a) { matmul_tiled_f32(P(0), P(1), P(2), V32(3), V32(4), V32(5)); }

/* n a multiple of 16: C (n x 2n) = A (n x n+16) x B. */
static void p_matmul_wmma(struct run *r, uint32_t n)
{
	uint32_t m = n, cols = 2 * n, k = n + 16;
	half *a = buffer(r, E_F16, (size_t)m * k), *b = buffer(r, E_F16, (size_t)k * cols);
	for (size_t i = 0; a && i < (size_t)m * k; i++)
		a[i] = (half)rnd_f32(r, -2, 2);
	for (size_t i = 0; b && i < (size_t)k * cols; i++)
		b[i] = (half)rnd_f32(r, -2, 2);
	buffer(r, E_F32, (size_t)m * cols);
	u32(r, m);
	u32(r, cols);
	u32(r, k);
	r->grid[0] = cols / 16 * 32;	/* one wave per 16x16 tile */
	r->grid[1] = m / 16;
	r->grid[2] = 1;
	r->block[0] = 32;
	r->block[1] = r->block[2] = 1;
}
static void h_matmul_wmma(const struct tk_arg *a) { matmul_wmma_f16(P(0), P(1), P(2), V32(3), V32(4), V32(5)); }

static void p_walking(struct run *r, uint32_t n)
{
	buffer(r, E_U32, n);
	buffer(r, E_U32, 1);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_walking(const struct tk_arg *a) { mt_walking_ones(P(0), P(1), V32(2)); }

static void p_address(struct run *r, uint32_t n)
{
	buffer(r, E_SKIP, 8 * (size_t)n);	/* addresses differ between GPU and host */
	buffer(r, E_U64, n);
	buffer(r, E_U32, 1);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_address(const struct tk_arg *a) { mt_address(P(0), P(1), P(2), V32(3)); }

static void p_random_fill(struct run *r, uint32_t n)
{
	buffer(r, E_U32, n);
	buffer(r, E_U32, 1);
	u32(r, n);
	u32(r, (uint32_t)rnd(r));
	grid1(r, n, 64);
}
static void h_random_fill(const struct tk_arg *a) { mt_random_fill(P(0), P(1), V32(2), V32(3)); }

static void p_div(struct run *r, uint32_t n, int bits)
{
	enum elem e = bits == 32 ? E_U32 : E_U64;
	for (int side = 0; side < 2; side++) {
		void *p = buffer(r, e, n);
		for (size_t i = 0; p && i < n; i++) {
			int64_t v = pick_int(r, bits);
			if (bits == 32)
				((int32_t *)p)[i] = (int32_t)v;
			else
				((int64_t *)p)[i] = v;
		}
	}
	/* not zero: 0 / 0 gives 0, and a kernel must be seen to write */
	void *out = buffer(r, e, 4 * (size_t)n);
	if (out)
		memset(out, 0xa5, 4 * (size_t)n * elem_bytes[e]);
	u32(r, n);
	grid1(r, n, 64);
}
static void p_div_i32(struct run *r, uint32_t n) { p_div(r, n, 32); }
static void p_div_i64(struct run *r, uint32_t n) { p_div(r, n, 64); }
static void h_div_i32(const struct tk_arg *a) { div_i32(P(0), P(1), P(2), V32(3)); }
static void h_div_i64(const struct tk_arg *a) { div_i64(P(0), P(1), P(2), V32(3)); }

static void p_divergent(struct run *r, uint32_t n)
{
	int32_t *in = buffer(r, E_U32, n);
	for (size_t i = 0; in && i < n; i++)
		in[i] = (int32_t)pick_int(r, 32);
	/* not zero: an input of 0 gives all zeros, and a kernel must be seen to write */
	void *out = buffer(r, E_U32, 3 * (size_t)n);
	if (out)
		memset(out, 0xa5, 12 * (size_t)n);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_divergent(const struct tk_arg *a) { divergent(P(0), P(1), V32(2)); }

static void p_ptr64(struct run *r, uint32_t n)
{
	fill_bits(r, buffer(r, E_U64, n), 8 * (size_t)n);
	buffer(r, E_U64, 3 * (size_t)n);
	uint64_t far = (5ull << 32) + 8 * (rnd(r) % 1000);
	u64(r, far);
	u64(r, far);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_ptr64(const struct tk_arg *a) { ptr64(P(0), P(1), a[2].v, a[3].v, V32(4)); }

static void p_widths(struct run *r, uint32_t n)
{
	static const enum elem in[] = { E_U8, E_U16, E_U32, E_U64 };
	for (int i = 0; i < 4; i++)
		fill_bits(r, buffer(r, in[i], n), (size_t)n * elem_bytes[in[i]]);
	fill_bits(r, buffer(r, E_U32, 4 * (size_t)n), 16 * (size_t)n);
	for (int i = 0; i < 4; i++)
		buffer(r, in[i], n);
	buffer(r, E_U32, 4 * (size_t)n);
	buffer(r, E_U32, 2 * (size_t)n);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_widths(const struct tk_arg *a)
{
	widths(P(0), P(1), P(2), P(3), P(4), P(5), P(6), P(7), P(8), P(9), P(10), V32(11));
}

static void p_lds_widths(struct run *r, uint32_t n)
{
	fill_bits(r, buffer(r, E_U64, n), 8 * (size_t)n);
	buffer(r, E_U64, n);
	buffer(r, E_U8, n);
	u32(r, n);
	grid1(r, n, 64);
}
static void h_lds_widths(const struct tk_arg *a) { lds_widths(P(0), P(1), P(2), V32(3)); }

static void p_many_args(struct run *r, uint32_t n)
{
	fill_bits(r, buffer(r, E_U32, n), 4 * (size_t)n);
	buffer(r, E_U64, 4 * (size_t)n);
	u32(r, (uint32_t)rnd(r));
	u64(r, rnd(r));
	f32(r, rnd_f32(r, -4, 4));
	u32(r, (uint32_t)rnd(r));
	u32(r, (uint32_t)rnd(r));
	f16(r, rnd_f32(r, -8, 8));
	u64(r, rnd(r));
	for (int i = 0; i < 2; i++)
		u32(r, (uint32_t)rnd(r));
	f32(r, rnd_f32(r, -1e6f, 1e6f));
	u32(r, (uint32_t)rnd(r));
	u64(r, rnd(r));
	for (int i = 0; i < 4; i++)
		u32(r, (uint32_t)rnd(r));
	f16(r, rnd_f32(r, -8, 8));
	u32(r, n);
	grid1(r, n, 32);
}
static void h_many_args(const struct tk_arg *a)
{
	many_args(P(0), P(1), V32(2), a[3].v, as_f32(a[4].v), (int)V32(5), V32(6), as_f16(a[7].v), a[8].v, V32(9),
		  (int)V32(10), as_f32(a[11].v), V32(12), a[13].v, V32(14), (int)V32(15), V32(16), V32(17),
		  as_f16(a[18].v), V32(19));
}

static void p_scratch(struct run *r, uint32_t n)
{
	fill_bits(r, buffer(r, E_U32, 16 * (size_t)n), 64 * (size_t)n);
	buffer(r, E_U32, 2 * (size_t)n);
	u32(r, n);
	u32(r, 16);
	grid1(r, n, 64);
}
static void h_scratch(const struct tk_arg *a) { scratch_counts(P(0), P(1), V32(2), V32(3)); }

/* 3-D grids with partial groups in every dimension. */
static void p_dispatch(struct run *r, uint32_t n)
{
	r->grid[0] = n;
	r->grid[1] = 5;
	r->grid[2] = 3;
	r->block[0] = 16;
	r->block[1] = 2;
	r->block[2] = 2;
	buffer(r, E_U32, (size_t)n * 5 * 3 * 21);
}
static void h_dispatch(const struct tk_arg *a) { dispatch_info(P(0)); }

/* The ULP tolerances of tests/kernels/README.md, and the input domains
 * they hold on. */
enum { ULP_EXP = 2, ULP_LOG = 2, ULP_SQRT = 1, ULP_RSQRT = 1, ULP_SIN = 4 };
enum domain { D_RANGE, D_POSITIVE, D_POSITIVE_NORMAL };

static void p_math(struct run *r, uint32_t n, enum domain d, float lo, float hi, unsigned ulp)
{
	float *x = buffer(r, E_F32, n);
	if (d == D_RANGE)
		fill_f32(r, x, n, lo, hi);
	else
		fill_f32_positive(r, x, n, d == D_POSITIVE_NORMAL);
	buffer_ulp(r, E_F32, n, ulp);
	u32(r, n);
	grid1(r, n, 64);
}
static void p_exp(struct run *r, uint32_t n) { p_math(r, n, D_RANGE, -87, 88, ULP_EXP); }
static void p_log(struct run *r, uint32_t n) { p_math(r, n, D_POSITIVE, 0, 0, ULP_LOG); }
static void p_sqrt(struct run *r, uint32_t n) { p_math(r, n, D_POSITIVE, 0, 0, ULP_SQRT); }
static void p_rsqrt(struct run *r, uint32_t n) { p_math(r, n, D_POSITIVE_NORMAL, 0, 0, ULP_RSQRT); }
static void p_sin(struct run *r, uint32_t n) { p_math(r, n, D_RANGE, -1.57079632f, 1.57079632f, ULP_SIN); }
static void h_exp(const struct tk_arg *a) { math_exp(P(0), P(1), V32(2)); }
static void h_log(const struct tk_arg *a) { math_log(P(0), P(1), V32(2)); }
static void h_sqrt(const struct tk_arg *a) { math_sqrt(P(0), P(1), V32(2)); }
static void h_rsqrt(const struct tk_arg *a) { math_rsqrt(P(0), P(1), V32(2)); }
static void h_sin(const struct tk_arg *a) { math_sin(P(0), P(1), V32(2)); }

struct kcase {
	const char *file, *kernel;
	void (*prepare)(struct run *r, uint32_t n);
	tk_host_fn *host;
	uint32_t sizes[NSIZES];
};

static const struct kcase cases[] = {
	{ "elementwise", "ew_f32", p_ew_f32, h_ew_f32, { 1, 1000, 4099 } },
	{ "elementwise", "ew_i32", p_ew_i32, h_ew_i32, { 7, 1000, 4099 } },
	{ "elementwise", "ew_f16", p_ew_f16, h_ew_f16, { 3, 1000, 4099 } },
	{ "elementwise", "ew_div", p_ew_div, h_ew_div, { 1, 1000, 4099 } },
	{ "elementwise", "ew_wide", p_ew_wide, h_ew_wide, { 1, 1000, 4099 } },
	{ "reduce", "reduce_u32", p_reduce_u32, h_reduce_u32, { 5, 256, 3001 } },
	{ "reduce", "reduce_f32", p_reduce_f32, h_reduce_f32, { 5, 256, 3001 } },
	{ "atomics", "histogram", p_histogram, h_histogram, { 1, 999, 5000 } },
	{ "atomics", "atomic_ops", p_atomic_ops, h_atomic_ops, { 1, 999, 5000 } },
	{ "atomics", "histogram_lds", p_histogram_lds, h_histogram_lds, { 3, 128, 3333 } },
	{ "matmul", "matmul_f32", p_matmul_f32, h_matmul_f32, { 1, 17, 64 } },
	{ "matmul", "matmul_tiled_f32", p_matmul_tiled, h_matmul_tiled, { 1, 17, 64 } },
	{ "wmma", "matmul_wmma_f16", p_matmul_wmma, h_matmul_wmma, { 16, 32, 64 } },
	{ "memtest", "mt_walking_ones", p_walking, h_walking, { 1, 100, 4097 } },
	{ "memtest", "mt_address", p_address, h_address, { 1, 100, 4097 } },
	{ "memtest", "mt_random_fill", p_random_fill, h_random_fill, { 1, 100, 4097 } },
	{ "intdiv", "div_i32", p_div_i32, h_div_i32, { 1, 1000, 4099 } },
	{ "intdiv", "div_i64", p_div_i64, h_div_i64, { 1, 1000, 4099 } },
	{ "control", "divergent", p_divergent, h_divergent, { 1, 1000, 4099 } },
	{ "memory", "ptr64", p_ptr64, h_ptr64, { 1, 100, 1000 } },
	{ "memory", "widths", p_widths, h_widths, { 1, 100, 1001 } },
	{ "memory", "lds_widths", p_lds_widths, h_lds_widths, { 1, 100, 1001 } },
	{ "manyargs", "many_args", p_many_args, h_many_args, { 1, 100, 1000 } },
	{ "scratch", "scratch_counts", p_scratch, h_scratch, { 1, 100, 1000 } },
	{ "dispatch", "dispatch_info", p_dispatch, h_dispatch, { 1, 16, 37 } },
	{ "math", "math_exp", p_exp, h_exp, { 1, 1000, 4099 } },
	{ "math", "math_log", p_log, h_log, { 1, 1000, 4099 } },
	{ "math", "math_sqrt", p_sqrt, h_sqrt, { 1, 1000, 4099 } },
	{ "math", "math_rsqrt", p_rsqrt, h_rsqrt, { 1, 1000, 4099 } },
	{ "math", "math_sin", p_sin, h_sin, { 1, 1000, 4099 } },
};
#define NCASES (sizeof cases / sizeof *cases)

/* ---- running and comparing ------------------------------------------------------------ */

struct options {
	uint64_t seed;
	bool table;
	int gpu;		/* -1: the emulator; >= 0: that GPU through the driver; -2: every GPU in turn */
	unsigned threads;
	const char *only;
	const char *build;
};

static void run_free(struct run *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		free(r->a[i].init);
		free(r->a[i].gpu);
		free(r->a[i].host);
	}
}

/* The bits of a float (E_F32 or E_F16) as an integer that orders like the
 * float, so that the distance between two is their distance in ULP. */
static int64_t ordered(uint64_t bits, enum elem e)
{
	uint64_t sign = e == E_F16 ? 0x8000u : 0x80000000u;
	return bits & sign ? -(int64_t)(bits & (sign - 1)) : (int64_t)bits;
}

static bool is_nan(uint64_t bits, enum elem e)
{
	return e == E_F16 ? (bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) : isnan(as_f32(bits));
}

static uint64_t elem_at(const void *p, enum elem e, size_t i)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32v;
	uint64_t u64v = 0;
	switch (elem_bytes[e]) {
	case 1: memcpy(&u8, (const uint8_t *)p + i, 1); return u8;
	case 2: memcpy(&u16, (const uint8_t *)p + 2 * i, 2); return u16;
	case 4: memcpy(&u32v, (const uint8_t *)p + 4 * i, 4); return u32v;
	default: memcpy(&u64v, (const uint8_t *)p + 8 * i, 8); return u64v;
	}
}

/* Distance in ULP between two floats (both not NaN). */
static int64_t ulp_distance(uint64_t g, uint64_t h, enum elem e)
{
	int64_t d = ordered(g, e) - ordered(h, e);
	return d < 0 ? -d : d;
}

/* Whether two elements agree: bit-exact, or for floats with a tolerance
 * within it (NaN agrees with any NaN). */
static bool agree(uint64_t g, uint64_t h, enum elem e, unsigned ulp)
{
	if (g == h)
		return true;
	if (!ulp)
		return false;
	if (is_nan(g, e) || is_nan(h, e))
		return is_nan(g, e) && is_nan(h, e);
	return ulp_distance(g, h, e) <= (int64_t)ulp;
}

/* Compare every buffer; describe the first few differences.  *max_ulp: the
 * largest distance seen in the buffers compared with a tolerance. */
static int compare(const struct run *r, char *why, size_t len, int64_t *max_ulp)
{
	int bad = 0;
	size_t used = 0;
	for (unsigned i = 0; i < r->n; i++) {
		const struct arg *a = &r->a[i];
		if (!a->is_buffer || a->elem == E_SKIP)
			continue;
		size_t count = a->bytes / elem_bytes[a->elem];
		for (size_t j = 0; j < count; j++) {
			uint64_t g = elem_at(a->gpu, a->elem, j), h = elem_at(a->host, a->elem, j);
			if (a->ulp && !is_nan(g, a->elem) && !is_nan(h, a->elem) &&
			    ulp_distance(g, h, a->elem) > *max_ulp)
				*max_ulp = ulp_distance(g, h, a->elem);
			if (agree(g, h, a->elem, a->ulp))
				continue;
			if (bad++ < 4 && used < len)
				used += (size_t)snprintf(why + used, len - used,
							 "#   argument %u element %zu: emulator 0x%" PRIx64 ", host 0x%" PRIx64 "\n",
							 i + 1, j, g, h);
		}
	}
	return bad;
}

static bool changed_something(const struct run *r)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->a[i].is_buffer && memcmp(r->a[i].gpu, r->a[i].init, r->a[i].bytes))
			return true;
	return false;
}

struct outcome {
	bool ok;
	int mismatches;
	int64_t max_ulp;	/* -1: no tolerance applied */
	struct isa_result res;
	char why[1024];
};

static int run_emulator(const struct kcase *c, struct tb_codeobj *co, struct run *r, const struct options *o,
			struct outcome *out)
{
	const struct tb_kernel *k = tb_codeobj_kernel(co, c->kernel);
	if (!k) {
		snprintf(out->why, sizeof out->why, "# the code object has no kernel %s\n", c->kernel);
		return -ENOENT;
	}
	struct emu_arg args[MAX_ARGS];
	memset(args, 0, sizeof args);
	for (unsigned i = 0; i < r->n; i++) {
		struct arg *a = &r->a[i];
		if (a->is_buffer) {
			args[i].kind = EMU_ARG_BUFFER;
			args[i].data = a->gpu;
			args[i].size = a->bytes;
		} else {
			args[i].kind = EMU_ARG_SCALAR;
			args[i].size = a->size;
			args[i].value = a->value;
		}
	}
	struct emu_launch l = { .co = co, .kernel = k, .args = args, .nargs = r->n, .threads = o->threads,
				.max_wave_instructions = 50u * 1000 * 1000 };
	memcpy(l.grid, r->grid, sizeof l.grid);
	memcpy(l.block, r->block, sizeof l.block);
	char err[512];
	int rc = emu_run(&l, &out->res, err, sizeof err);
	if (rc < 0)
		snprintf(out->why, sizeof out->why, "# emulator: %s\n", err);
	return rc;
}

/* ---- the same kernels on GPUs, through libtbhal (the simulated box or the
 * real one) ------------------------------------------------------------------------------ */

enum { BOX_GPUS = 16, BOX_TIMEOUT_MS = 120000 };

static int64_t clock_gettime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct box_gpu {
	tbh_device *dev;
	tbh_queue *queue;
	tbh_signal *done;
	uint64_t count;
	tbh_program *prog;		/* the code object last used on it */
	const char *prog_file;
	const struct options *o;
};

static struct box_gpu box_gpus[BOX_GPUS];
static int box_ngpus;

static int box_open(const struct options *o, char *err, size_t len)
{
	tbh_device *devs[BOX_GPUS];
	int n = 0;
	if (tbh_device_open_all(devs, BOX_GPUS, &n) < 0) {
		snprintf(err, len, "%s", tbh_last_error());
		return -ENODEV;
	}
	box_ngpus = n;
	for (int i = 0; i < n; i++) {
		struct box_gpu *b = &box_gpus[i];
		b->dev = devs[i];
		b->o = o;
		if (tbh_queue_create(b->dev, TBH_QUEUE_COMPUTE, &b->queue) < 0 || tbh_signal_create(b->dev, 0, &b->done) < 0) {
			snprintf(err, len, "GPU %d: %s", i, tbh_last_error());
			return -EIO;
		}
	}
	return n ? 0 : -ENODEV;
}

static void box_close(void)
{
	for (int i = 0; i < box_ngpus; i++) {
		struct box_gpu *b = &box_gpus[i];
		tbh_program_free(b->prog);
		tbh_signal_destroy(b->done);
		tbh_queue_destroy(b->queue);
		tbh_device_close(b->dev);
	}
	box_ngpus = 0;
}

static int box_program(struct box_gpu *b, const char *file)
{
	if (b->prog && !strcmp(b->prog_file, file))
		return 0;
	tbh_program_free(b->prog);
	b->prog = NULL;
	char path[4096];
	snprintf(path, sizeof path, "%s/gpu/tests/kernels/%s.co", b->o->build, file);
	int rc = tbh_program_load_file(b->dev, path, &b->prog);
	if (rc == 0)
		b->prog_file = file;
	return rc;
}

/* One case on one GPU: device buffers with the inputs, the kernel, a signal,
 * the results back.  Runs on the GPU's own thread in --gpu all. */
static int run_box_on(struct box_gpu *b, const struct kcase *c, struct run *r, struct outcome *out)
{
	const tbh_kernel *k = NULL;
	int rc = box_program(b, c->file);
	rc = rc ? rc : tbh_program_kernel(b->prog, c->kernel, &k);
	tbh_buffer *bufs[MAX_ARGS] = { 0 };
	uint8_t block[4096];
	memset(block, 0, sizeof block);
	uint32_t nargs = k ? tbh_kernel_arg_count(k) : 0;
	for (unsigned i = 0; rc == 0 && i < r->n && i < nargs; i++) {
		struct arg *a = &r->a[i];
		tbh_kernel_arg info;
		uint64_t v = a->value;
		rc = tbh_kernel_arg_info(k, i, &info);
		if (rc == 0 && a->is_buffer) {
			rc = tbh_buffer_alloc(b->dev, a->bytes ? a->bytes : 4, TBH_MEMORY_DEVICE, &bufs[i]);
			if (rc < 0)
				break;
			memcpy(tbh_buffer_cpu(bufs[i]), a->init, a->bytes);
			v = tbh_buffer_address(bufs[i]);
		}
		if (rc == 0 && info.offset + info.size <= sizeof block)
			memcpy(block + info.offset, &v, info.size < 8 ? info.size : 8);
	}
	int64_t t0 = clock_gettime_ns();
	rc = rc ? rc : tbh_queue_exec(b->queue, k, block, tbh_kernel_args_size(k), r->grid, r->block);
	rc = rc ? rc : tbh_queue_signal(b->queue, b->done, ++b->count);
	rc = rc ? rc : tbh_queue_submit(b->queue);
	rc = rc ? rc : tbh_signal_wait(b->done, b->count, BOX_TIMEOUT_MS);
	out->res.elapsed_ns = (uint64_t)(clock_gettime_ns() - t0);
	for (unsigned i = 0; i < r->n; i++) {
		if (bufs[i] && rc == 0)
			memcpy(r->a[i].gpu, tbh_buffer_cpu(bufs[i]), r->a[i].bytes);
		tbh_buffer_free(bufs[i]);
	}
	if (rc < 0)
		snprintf(out->why, sizeof out->why, "# GPU %d: %s\n", (int)(b - box_gpus), tbh_last_error());
	return rc;
}

static int run_box(const struct kcase *c, struct run *r, const struct options *o, struct outcome *out)
{
	if (o->gpu >= box_ngpus) {
		snprintf(out->why, sizeof out->why, "# there is no GPU %d\n", o->gpu);
		return -ENODEV;
	}
	return run_box_on(&box_gpus[o->gpu], c, r, out);
}

/* The inputs of one kernel at one size, copied for both sides. */
static int case_prepare(const struct kcase *c, uint32_t size, uint64_t seed, struct run *r, struct tk_arg *host_args)
{
	memset(r, 0, sizeof *r);
	r->rng = seed;
	c->prepare(r, size);
	for (unsigned i = 0; i < r->n && !r->oom; i++) {
		struct arg *a = &r->a[i];
		host_args[i].v = a->value;
		host_args[i].p = NULL;
		if (!a->is_buffer)
			continue;
		a->gpu = malloc(a->bytes ? a->bytes : 1);
		a->host = malloc(a->bytes ? a->bytes : 1);
		if (!a->gpu || !a->host) {
			r->oom = true;
			break;
		}
		memcpy(a->gpu, a->init, a->bytes);
		memcpy(a->host, a->init, a->bytes);
		host_args[i].p = a->host;
	}
	return r->oom ? -ENOMEM : 0;
}

/* After the GPU side (rc): the host reference, then the comparison. */
static int case_finish(const struct kcase *c, struct run *r, struct tk_arg *host_args, int rc, const struct options *o,
		       struct outcome *out)
{
	if (rc == -ENOMEM)
		snprintf(out->why, sizeof out->why, "# out of memory\n");
	if (rc == 0 && tk_host_run(c->host, host_args, r->grid, r->block) < 0) {
		snprintf(out->why, sizeof out->why, "# out of memory for the host reference\n");
		rc = -ENOMEM;
	}
	if (rc == 0 && !changed_something(r)) {
		/* both sides doing nothing would agree: that is no test */
		snprintf(out->why, sizeof out->why, "# the kernel wrote nothing on the %s\n", o->gpu == -1 ? "emulator" : "GPU");
		rc = -EIO;
	}
	if (rc == 0) {
		out->max_ulp = -1;
		for (unsigned i = 0; i < r->n; i++)
			if (r->a[i].ulp)
				out->max_ulp = 0;
		out->mismatches = compare(r, out->why, sizeof out->why, &out->max_ulp);
		out->ok = out->mismatches == 0;
	}
	run_free(r);
	return rc;
}

/* The inputs' seed of case i at size index s: the same in every mode. */
static uint64_t case_seed(const struct options *o, size_t i, int s)
{
	return o->seed ^ ((uint64_t)i << 40) ^ ((uint64_t)s << 32);
}

/* One kernel at one size: the same inputs to both sides, then compare. */
static int run_case(const struct kcase *c, struct tb_codeobj *co, uint32_t size, uint64_t seed,
		    const struct options *o, struct outcome *out)
{
	struct run r;
	struct tk_arg host_args[MAX_ARGS];
	memset(out, 0, sizeof *out);
	out->max_ulp = -1;
	int rc = case_prepare(c, size, seed, &r, host_args);
	if (rc == 0)
		rc = o->gpu == -1 ? run_emulator(c, co, &r, o, out) : run_box(c, &r, o, out);
	return case_finish(c, &r, host_args, rc, o, out);
}

static int load(const struct options *o, const char *file, struct tb_codeobj **co, char *err, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/gpu/tests/kernels/%s.co", o->build, file);
	return tb_codeobj_load_file(path, co, err, len);
}

/* GPUs report no instruction counts: for the table of a GPU run, the
 * emulator counts the wave-instructions of the same case on the same inputs.
 * 0 when it cannot. */
static uint64_t emulator_count(const struct options *o, size_t i, int s)
{
	const struct kcase *c = &cases[i];
	struct tb_codeobj *co = NULL;
	struct run r;
	struct tk_arg host_args[MAX_ARGS];
	struct outcome out;
	memset(&out, 0, sizeof out);
	char err[512];
	uint64_t n = 0;
	if (load(o, c->file, &co, err, sizeof err) == 0) {
		if (case_prepare(c, c->sizes[s], case_seed(o, i, s), &r, host_args) == 0 &&
		    run_emulator(c, co, &r, o, &out) == 0)
			n = out.res.wave_instructions;
		run_free(&r);
	}
	tb_codeobj_free(co);
	return n;
}

static void grid_text(const struct run *r, char *s, size_t len)
{
	snprintf(s, len, "%u,%u,%u/%u,%u,%u", r->grid[0], r->grid[1], r->grid[2], r->block[0], r->block[1],
		 r->block[2]);
}

/* Print one outcome as a table row or a TAP line; returns whether it passed. */
static bool report(const struct options *o, const struct kcase *c, int s, const struct outcome *out, int rc, int *testno)
{
	bool ok = rc == 0 && out->ok;
	if (o->table) {
		struct run shape;
		memset(&shape, 0, sizeof shape);
		c->prepare(&shape, c->sizes[s]);
		run_free(&shape);
		char g[64];
		grid_text(&shape, g, sizeof g);
		printf("%-18s %-18s %-6s %14" PRIu64 " %10.2f\n", c->kernel, g, ok ? "OK" : "FAIL", out->res.wave_instructions,
		       (double)out->res.elapsed_ns / 1e6);
		if (!ok)
			fputs(out->why, stdout);
		return ok;
	}
	printf("%s %d - %s n=%u\n", ok ? "ok" : "not ok", ++*testno, c->kernel, c->sizes[s]);
	if (out->max_ulp >= 0)
		printf("# largest difference %" PRId64 " ULP\n", out->max_ulp);
	if (!ok)
		printf("%s# %d mismatches; seed %" PRIu64 "\n", out->why, out->mismatches, o->seed);
	return ok;
}

static void header(const struct options *o)
{
	if (o->table)
		printf("%-18s %-18s %-6s %14s %10s\n", "kernel", "grid/block", "result", "wave-instr", "ms");
	else
		printf("# seed %" PRIu64 " (rerun with --seed %" PRIu64 ")\n", o->seed, o->seed);
}

/* Returns the number of failures. */
static int run_all(const struct options *o)
{
	int failed = 0, testno = 0;
	header(o);
	for (size_t i = 0; i < NCASES; i++) {
		const struct kcase *c = &cases[i];
		if (o->only && strcmp(o->only, c->kernel))
			continue;
		char err[512];
		struct tb_codeobj *co = NULL;
		int lrc = o->gpu == -1 ? load(o, c->file, &co, err, sizeof err) : 0;
		for (int s = o->table ? NSIZES - 1 : 0; s < NSIZES; s++) {
			uint64_t seed = case_seed(o, i, s);
			struct outcome out;
			memset(&out, 0, sizeof out);
			out.max_ulp = -1;
			int rc = lrc < 0 ? lrc : run_case(c, co, c->sizes[s], seed, o, &out);
			if (lrc < 0)
				snprintf(out.why, sizeof out.why, "# %s\n", err);
			failed += !report(o, c, s, &out, rc, &testno);
		}
		tb_codeobj_free(co);
	}
	if (!o->table)
		printf("1..%d\n", testno);
	return failed;
}

/* --gpu all: every case's GPU side on its GPU's thread, all GPUs at once;
 * the host references and the report in order afterwards (the host runner
 * is single-threaded). */
struct job {
	const struct kcase *c;
	int size_index;
	struct run r;
	struct tk_arg host_args[MAX_ARGS];
	struct outcome out;
	int rc;
};

struct gpu_worker {
	struct box_gpu *b;
	struct job *jobs;
	int njobs, stride, first;
};

static void *gpu_worker_main(void *arg)
{
	struct gpu_worker *w = arg;
	for (int j = w->first; j < w->njobs; j += w->stride)
		if (w->jobs[j].rc == 0)
			w->jobs[j].rc = run_box_on(w->b, w->jobs[j].c, &w->jobs[j].r, &w->jobs[j].out);
	return NULL;
}

static int run_all_gpus(const struct options *o)
{
	struct job *jobs = calloc(NCASES * NSIZES, sizeof *jobs);
	if (!jobs)
		return 1;
	int n = 0;
	for (size_t i = 0; i < NCASES; i++) {
		if (o->only && strcmp(o->only, cases[i].kernel))
			continue;
		for (int s = o->table ? NSIZES - 1 : 0; s < NSIZES; s++) {
			struct job *j = &jobs[n++];
			j->c = &cases[i];
			j->size_index = s;
			j->out.max_ulp = -1;
			j->rc = case_prepare(j->c, j->c->sizes[s], case_seed(o, i, s), &j->r, j->host_args);
		}
	}
	struct gpu_worker w[BOX_GPUS];
	pthread_t t[BOX_GPUS];
	int started = 0;
	for (int g = 0; g < box_ngpus; g++) {
		w[g] = (struct gpu_worker){ &box_gpus[g], jobs, n, box_ngpus, g };
		started += pthread_create(&t[g], NULL, gpu_worker_main, &w[g]) == 0;
	}
	for (int g = 0; g < started; g++)
		pthread_join(t[g], NULL);
	int failed = started == box_ngpus ? 0 : 1, testno = 0;
	header(o);
	for (int k = 0; k < n; k++) {
		int rc = case_finish(jobs[k].c, &jobs[k].r, jobs[k].host_args, jobs[k].rc, o, &jobs[k].out);
		if (o->table)
			jobs[k].out.res.wave_instructions = emulator_count(o, (size_t)(jobs[k].c - cases), jobs[k].size_index);
		failed += !report(o, jobs[k].c, jobs[k].size_index, &jobs[k].out, rc, &testno);
	}
	if (!o->table)
		printf("1..%d\n", testno);
	free(jobs);
	return failed;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kernel_diff [--seed N] [--table] [--threads N] [--only KERNEL] [--build DIR] [--gpu N|all]\n"
		   "Runs every kernel of tests/kernels on the emulator (or with --gpu on the GPUs through libtbhal;\n"
		   "--gpu all: on every GPU at once) and on the host reference, and compares.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' }, { "table", no_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'j' }, { "only", required_argument, NULL, 'o' },
		{ "build", required_argument, NULL, 'b' }, { "gpu", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("TB_BUILD");
	struct options o = { .seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20), .build = env ? env : "build",
			     .gpu = -1 };
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.seed = strtoull(optarg, NULL, 0); break;
		case 't': o.table = true; break;
		case 'j': o.threads = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'o': o.only = optarg; break;
		case 'b': o.build = optarg; break;
		case 'g':
			if (!strcmp(optarg, "all"))
				o.gpu = -2;
			else if ((o.gpu = atoi(optarg)) < 0 || o.gpu >= BOX_GPUS) {
				fprintf(stderr, "kernel_diff: --gpu takes a GPU index or 'all'\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);	/* results survive a sanitizer's abort */
	if (o.gpu != -1) {
		char err[512] = "";
		if (box_open(&o, err, sizeof err) < 0) {
			fprintf(stderr, "kernel_diff: %s\n", err);
			box_close();
			return 2;
		}
	}
	int failed = o.gpu == -2 ? run_all_gpus(&o) : run_all(&o);
	box_close();
	if (o.table)
		printf("%d of %zu kernels differ from the host reference\n", failed, o.only ? (size_t)1 : NCASES);
	if (o.table && o.gpu != -1)
		printf("(wave-instr: counted by the emulator on the same inputs; GPUs report no instruction counts)\n");
	return failed ? 1 : 0;
}
