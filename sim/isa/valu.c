/* The vector ALU: VOP1, VOP2, VOPC and VOP3 operations (VOP3P in vop3p.c).
 * Handlers are named after the operation; the table at the end maps the
 * canonical operation number (the VOP3 opcode) to handler and operand types. */
#include <math.h>
#include <stdlib.h>

#include "sim/isa/lanes.h"

/* ---- DPP ------------------------------------------------------------------ */

void dpp_permute(struct wave *w, const struct inst *in, const uint32_t *row, uint32_t *out)
{
	uint32_t exec = exec_of(w), write = 0, c = in->dpp_ctrl;
	if (in->dpp == DPP_16) {
		uint32_t ctrl = c & 0x1ff, row_mask = (c >> 16) & 0xf, bank_mask = (c >> 20) & 0xf;
		bool bound_zero = (c >> 24) & 1, fetch_inactive = (c >> 25) & 1;
		LOOP {
			int lane = l & 15, base = l & ~15, src = l;
			bool ok = true;
			if (ctrl <= 0xff) {
				src = (l & ~3) | ((ctrl >> (2 * (l & 3))) & 3);
			} else if (ctrl >= 0x101 && ctrl <= 0x10f) {	/* row_shl */
				int n = (int)(ctrl & 15);
				ok = lane + n < 16;
				src = l + n;
			} else if (ctrl >= 0x111 && ctrl <= 0x11f) {	/* row_shr */
				int n = (int)(ctrl & 15);
				ok = lane >= n;
				src = l - n;
			} else if (ctrl >= 0x121 && ctrl <= 0x12f) {	/* row_ror */
				src = base | ((lane - (int)(ctrl & 15)) & 15);
			} else if (ctrl == 0x140) {			/* row_mirror */
				src = base | (15 - lane);
			} else if (ctrl == 0x141) {			/* row_half_mirror */
				src = (l & ~7) | (7 - (l & 7));
			} else if (ctrl >= 0x150 && ctrl <= 0x15f) {	/* row_share */
				src = base | (int)(ctrl & 15);
			} else if (ctrl >= 0x160 && ctrl <= 0x16f) {	/* row_xmask */
				src = base | (lane ^ (int)(ctrl & 15));
			} else {
				ok = false;				/* reserved controls read nothing */
			}
			if (ok && (src < 0 || src >= LANES))
				ok = false;
			if (ok && !fetch_inactive && !(exec >> src & 1))
				ok = false;
			bool enabled = ((row_mask >> (l >> 4)) & 1) && ((bank_mask >> ((l >> 2) & 3)) & 1);
			out[l] = ok ? row[src] : 0;
			if (enabled && (ok || bound_zero))
				write |= 1u << l;
		}
	} else {
		bool fetch_inactive = in->dpp == DPP_8_FI;
		LOOP {
			int src = (l & ~7) | (int)((c >> (3 * (l & 7))) & 7);
			out[l] = fetch_inactive || (exec >> src & 1) ? row[src] : 0;
		}
		write = FULL_EXEC;
	}
	w->dpp_write = write;
}

/* ---- operand slow paths ------------------------------------------------------- */

const uint32_t *fetch32_slow(struct wave *w, const struct inst *in, int i, uint32_t *tmp)
{
	const struct src *s = &in->src[i];
	const uint32_t *p;
	if (s->kind == SRC_VGPR) {
		p = w->v[s->reg];
		if (i == 0 && in->dpp) {
			dpp_permute(w, in, p, tmp);
			p = tmp;
		}
	} else {
		uint32_t x = read_ssrc(w, s);
		LOOP tmp[l] = x;
		p = tmp;
	}
	unsigned bit = 1u << i;
	if ((s->type == T_F16 || s->type == T_B16) && (in->opsel & bit)) {
		LOOP tmp[l] = p[l] >> 16;
		p = tmp;
	}
	if ((in->abs | in->neg) & bit) {
		uint32_t sign = s->type == T_F16 ? 0x8000u : s->type == T_F32 ? 0x80000000u : 0;
		if (sign) {
			uint32_t a = (in->abs & bit) ? ~sign : ~0u, n = (in->neg & bit) ? sign : 0;
			LOOP tmp[l] = (p[l] & a) ^ n;
			p = tmp;
		}
	}
	return p;
}

void store32_slow(struct wave *w, const struct inst *in, uint32_t *r, int type)
{
	store32_outmods(w, in, r, type);
}

/* ---- helpers ---------------------------------------------------------------- */

/* f32 arithmetic: denormal inputs flushed when MODE says so (rare, so off
 * the fast path); the plain loops vectorize.  The _N forms then make NaN
 * results the hardware's: the first NaN operand quieted, else the default
 * (positive) quiet NaN. */
static const uint32_t *flush_in(const uint32_t *p, uint32_t *tmp)
{
	LOOP tmp[l] = u32_of(flush_f32(f32_of(p[l])));
	return tmp;
}
#define FLUSH_IN(P, T) do { if (__builtin_expect(!(w->denorm32 & 1), 0)) P = flush_in(P, T); } while (0)

static inline float nf2(float r, float a, float b)
{
	return __builtin_expect(r != r, 0) ? nan_fix32(r, a, b) : r;
}

static inline uint32_t nan_lanes(const uint32_t *r)
{
	uint32_t any = 0;
	LOOP any |= (r[l] & 0x7fffffffu) > 0x7f800000u;	/* vectorizes */
	if (__builtin_expect(!any, 1))
		return 0;
	uint32_t m = 0;
	LOOP m |= (uint32_t)((r[l] & 0x7fffffffu) > 0x7f800000u) << l;
	return m;
}
static void fix_nans(uint32_t *r, uint32_t m, const uint32_t *A, const uint32_t *B)
{
	LOOP if (m >> l & 1) r[l] = u32_of(nan_fix32(f32_of(r[l]), f32_of(A[l]), B ? f32_of(B[l]) : 0.0f));
}
#define NANFIX(A, B) do { uint32_t m_ = nan_lanes(r); if (__builtin_expect(m_ != 0, 0)) fix_nans(r, m_, A, B); } while (0)

#define F32_1(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], r[LANES];                                        \
		const uint32_t *A = fetch32(w, in, 0, t0);                           \
		FLUSH_IN(A, t0);                                                     \
		LOOP { float a = f32_of(A[l]); (void)a; r[l] = u32_of(EXPR); }       \
		store32(w, in, r, T_F32);                                            \
	}
#define F32_2_BODY(EXPR)                                                             \
		uint32_t t0[LANES], t1[LANES], r[LANES];                             \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		FLUSH_IN(A, t0);                                                     \
		FLUSH_IN(B, t1);                                                     \
		LOOP {                                                               \
			float a = f32_of(A[l]), b = f32_of(B[l]);                    \
			r[l] = u32_of(EXPR);                                         \
		}
#define F32_2(name, EXPR) H(name) { F32_2_BODY(EXPR) store32(w, in, r, T_F32); }
#define F32_2N(name, EXPR) H(name) { F32_2_BODY(EXPR) NANFIX(A, B); store32(w, in, r, T_F32); }
#define F32_3_BODY(EXPR)                                                             \
		uint32_t t0[LANES], t1[LANES], t2[LANES], r[LANES];                  \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		const uint32_t *C = fetch32(w, in, 2, t2);                           \
		FLUSH_IN(A, t0);                                                     \
		FLUSH_IN(B, t1);                                                     \
		FLUSH_IN(C, t2);                                                     \
		LOOP {                                                               \
			float a = f32_of(A[l]), b = f32_of(B[l]), c = f32_of(C[l]);  \
			r[l] = u32_of(EXPR);                                         \
		}
#define F32_3(name, EXPR) H(name) { F32_3_BODY(EXPR) store32(w, in, r, T_F32); }
#define F32_3N(name, EXPR) H(name) { F32_3_BODY(EXPR) NANFIX(A, B); store32(w, in, r, T_F32); }
#define U32_1(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], r[LANES];                                        \
		const uint32_t *A = fetch32(w, in, 0, t0);                           \
		LOOP { uint32_t a = A[l]; r[l] = (uint32_t)(EXPR); }                 \
		store32(w, in, r, T_B32);                                            \
	}
#define U32_2(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], t1[LANES], r[LANES];                             \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		LOOP { uint32_t a = A[l], b = B[l]; r[l] = (uint32_t)(EXPR); }       \
		store32(w, in, r, T_B32);                                            \
	}
#define U32_3(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], t1[LANES], t2[LANES], r[LANES];                  \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		const uint32_t *C = fetch32(w, in, 2, t2);                           \
		LOOP { uint32_t a = A[l], b = B[l], c = C[l]; r[l] = (uint32_t)(EXPR); } \
		store32(w, in, r, T_B32);                                            \
	}
#define F64_1(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint64_t t0[LANES], r[LANES];                                        \
		const uint64_t *A = fetch64(w, in, 0, t0);                           \
		LOOP { double a = f64_of(A[l]); r[l] = u64_of(EXPR); }               \
		store64(w, in, r, T_F64);                                            \
	}
#define F64_2(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint64_t t0[LANES], t1[LANES], r[LANES];                             \
		const uint64_t *A = fetch64(w, in, 0, t0), *B = fetch64(w, in, 1, t1); \
		LOOP { double a = f64_of(A[l]), b = f64_of(B[l]); r[l] = u64_of(EXPR); } \
		store64(w, in, r, T_F64);                                            \
	}
#define F64_3(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint64_t t0[LANES], t1[LANES], t2[LANES], r[LANES];                  \
		const uint64_t *A = fetch64(w, in, 0, t0), *B = fetch64(w, in, 1, t1); \
		const uint64_t *C = fetch64(w, in, 2, t2);                           \
		LOOP {                                                               \
			double a = f64_of(A[l]), b = f64_of(B[l]), c = f64_of(C[l]); \
			r[l] = u64_of(EXPR);                                         \
		}                                                                    \
		store64(w, in, r, T_F64);                                            \
	}
/* half operations compute in f32 (exact for one operation) and round once */
#define F16_1(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], r[LANES];                                        \
		const uint32_t *A = fetch32(w, in, 0, t0);                           \
		LOOP { float a = f32_of_h(A[l]); (void)a; r[l] = f16_from_f32(EXPR); }        \
		store16(w, in, r, T_F16);                                            \
	}
#define F16_2(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], t1[LANES], r[LANES];                             \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		LOOP {                                                               \
			float a = f32_of_h(A[l]), b = f32_of_h(B[l]);                \
			r[l] = f16_from_f32(EXPR);                                   \
		}                                                                    \
		store16(w, in, r, T_F16);                                            \
	}
#define F16_3D(name, EXPR) /* three operands, computed in double */                 \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], t1[LANES], t2[LANES], r[LANES];                  \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		const uint32_t *C = fetch32(w, in, 2, t2);                           \
		LOOP {                                                               \
			double a = f32_of_h(A[l]), b = f32_of_h(B[l]), c = f32_of_h(C[l]); \
			r[l] = f16_from_f64(EXPR);                                   \
		}                                                                    \
		store16(w, in, r, T_F16);                                            \
	}
#define U16_2(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], t1[LANES], r[LANES];                             \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		LOOP { uint16_t a = (uint16_t)A[l], b = (uint16_t)B[l]; r[l] = (uint16_t)(EXPR); } \
		store16(w, in, r, T_B16);                                            \
	}
#define U16_3(name, EXPR)                                                            \
	H(name)                                                                      \
	{                                                                            \
		uint32_t t0[LANES], t1[LANES], t2[LANES], r[LANES];                  \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		const uint32_t *C = fetch32(w, in, 2, t2);                           \
		LOOP {                                                               \
			uint16_t a = (uint16_t)A[l], b = (uint16_t)B[l], c = (uint16_t)C[l]; \
			r[l] = (uint16_t)(EXPR);                                     \
		}                                                                    \
		store16(w, in, r, T_B16);                                            \
	}

static inline uint32_t sext24(uint32_t x) { return (uint32_t)((int32_t)(x << 8) >> 8); }
static inline int32_t i32(uint32_t x) { return (int32_t)x; }
static inline float fmin3f(const struct wave *w, float a, float b, float c)
{
	return ieee_min32(w, ieee_min32(w, a, b), c);
}
static inline float fmax3f(const struct wave *w, float a, float b, float c)
{
	return ieee_max32(w, ieee_max32(w, a, b), c);
}
static inline float fmed3f(const struct wave *w, float a, float b, float c)
{
	if (isnan(a) || isnan(b) || isnan(c))
		return fmin3f(w, a, b, c);
	float mx = fmax3f(w, a, b, c);
	if (mx == a)
		return ieee_max32(w, b, c);
	if (mx == b)
		return ieee_max32(w, a, c);
	return ieee_max32(w, a, b);
}
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MED3(a, b, c) MAX(MIN(a, b), MIN(MAX(a, b), c))

static inline uint32_t bfrev32(uint32_t x)
{
	x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
	x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
	x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
	return __builtin_bswap32(x);
}

/* frexp as the hardware defines it: mantissa in [0.5, 1), inf/NaN unchanged. */
static float frexp_mant32(float a)
{
	if (isinf(a) || isnan(a))
		return a;
	int e;
	return frexpf(a, &e);
}
static int32_t frexp_exp32(float a)
{
	if (isinf(a) || isnan(a))
		return 0;
	int e;
	frexpf(a, &e);
	return e;
}
static double frexp_mant64(double a)
{
	if (isinf(a) || isnan(a))
		return a;
	int e;
	return frexp(a, &e);
}
static int32_t frexp_exp64(double a)
{
	if (isinf(a) || isnan(a))
		return 0;
	int e;
	frexp(a, &e);
	return e;
}
/* v_fract: x - floor(x), kept below 1.0 (the largest float under 1) */
static float fract32(float a)
{
	if (isinf(a))
		return f32_of(0x7fc00000);
	if (isnan(a))
		return a;
	float r = a - floorf(a);
	return r >= 1.0f ? 0x1.fffffep-1f : r;
}
static double fract64(double a)
{
	if (isinf(a))
		return f64_of(0x7ff8000000000000ull);
	if (isnan(a))
		return a;
	double r = a - floor(a);
	return r >= 1.0 ? 0x1.fffffffffffffp-1 : r;
}
static float ldexp32(float a, int32_t e)
{
	return ldexpf(a, e < -1000 ? -1000 : e > 1000 ? 1000 : e);
}
/* Rounding to integral values, in the current (nearest-even) mode. */
static float rndne32(float a) { return nearbyintf(a); }
static double rndne64(double a) { return nearbyint(a); }

/* ---- VOP2 / VOP3 two-operand f32 --------------------------------------------- */

F32_2N(v_add_f32, a + b)
F32_2N(v_sub_f32, a - b)
F32_2N(v_subrev_f32, b - a)
F32_2N(v_mul_f32, a * b)
/* DX9 rules: 0 times anything (even inf or NaN) is 0 */
F32_2N(v_mul_dx9_zero_f32, (a == 0.0f || b == 0.0f) ? 0.0f : a * b)
F32_3N(v_fmac_dx9_zero_f32, (a == 0.0f || b == 0.0f) ? c : fmaf(a, b, c))
F32_2(v_min_f32, ieee_min32(w, a, b))
F32_2(v_max_f32, ieee_max32(w, a, b))
F32_3N(v_fmac_f32, fmaf(a, b, c))
F32_3N(v_fma_f32, fmaf(a, b, c))
F32_3N(v_fmamk_f32, fmaf(a, c, b))	/* S0 * K + S1, K in src2 */
F32_3N(v_fmaak_f32, fmaf(a, b, c))	/* S0 * S1 + K */
F32_3N(v_fma_dx9_zero_f32, (a == 0.0f || b == 0.0f) ? c : fmaf(a, b, c))
F32_3(v_min3_f32, fmin3f(w, a, b, c))
F32_3(v_max3_f32, fmax3f(w, a, b, c))
F32_3(v_med3_f32, fmed3f(w, a, b, c))
F32_3(v_maxmin_f32, ieee_min32(w, ieee_max32(w, a, b), c))
F32_3(v_minmax_f32, ieee_max32(w, ieee_min32(w, a, b), c))

/* v_ldexp_f32: the exponent operand is an integer */
H(v_ldexp_f32)
{
	uint32_t t0[LANES], t1[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	LOOP r[l] = u32_of(ldexp32(f32_of(A[l]), i32(B[l])));
	store32(w, in, r, T_F32);
}

/* ---- VOP1 f32 ------------------------------------------------------------------ */

F32_1(v_fract_f32, fract32(a))
F32_1(v_trunc_f32, truncf(a))
F32_1(v_ceil_f32, ceilf(a))
F32_1(v_rndne_f32, rndne32(a))
F32_1(v_floor_f32, floorf(a))
F32_1(v_exp_f32, amd_exp2f(a))
F32_1(v_log_f32, amd_log2f(a))
F32_1(v_rcp_f32, amd_rcpf(a))
F32_1(v_rcp_iflag_f32, amd_rcpf(a))
F32_1(v_rsq_f32, amd_rsqf(a))
F32_1(v_sqrt_f32, amd_sqrtf(a))
F32_1(v_sin_f32, amd_sinf(a))
F32_1(v_cos_f32, amd_cosf(a))
F32_1(v_frexp_mant_f32, frexp_mant32(a))

H(v_frexp_exp_i32_f32)
{
	uint32_t t0[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0);
	LOOP r[l] = (uint32_t)frexp_exp32(f32_of(A[l]));
	store32(w, in, r, T_B32);
}

/* ---- conversions ---------------------------------------------------------------- */

U32_1(v_cvt_i32_f32, cvt_f32_i32(f32_of(a)))
U32_1(v_cvt_u32_f32, cvt_f32_u32(f32_of(a)))
U32_1(v_cvt_floor_i32_f32, cvt_f32_i32(floorf(f32_of(a))))
U32_1(v_cvt_nearest_i32_f32, cvt_f32_i32(floorf(f32_of(a) + 0.5f)))
F32_1(v_cvt_f32_i32, (float)i32(A[l]))
F32_1(v_cvt_f32_u32, (float)A[l])
F32_1(v_cvt_f32_ubyte0, (float)(A[l] & 0xff))
F32_1(v_cvt_f32_ubyte1, (float)((A[l] >> 8) & 0xff))
F32_1(v_cvt_f32_ubyte2, (float)((A[l] >> 16) & 0xff))
F32_1(v_cvt_f32_ubyte3, (float)(A[l] >> 24))
F32_1(v_cvt_off_f32_i4, (float)((int32_t)(A[l] << 28) >> 28) / 16.0f)
F32_1(v_cvt_f32_f16, f32_of_h(A[l]))

H(v_cvt_f16_f32)
{
	uint32_t t0[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0);
	LOOP r[l] = f16_from_f32(f32_of(A[l]));
	store16(w, in, r, T_F16);
}

H(v_cvt_f32_f64)
{
	uint64_t t0[LANES];
	uint32_t r[LANES];
	const uint64_t *A = fetch64(w, in, 0, t0);
	LOOP r[l] = u32_of((float)f64_of(A[l]));
	store32(w, in, r, T_F32);
}
H(v_cvt_i32_f64)
{
	uint64_t t0[LANES];
	uint32_t r[LANES];
	const uint64_t *A = fetch64(w, in, 0, t0);
	LOOP r[l] = (uint32_t)cvt_f64_i32(f64_of(A[l]));
	store32(w, in, r, T_B32);
}
H(v_cvt_u32_f64)
{
	uint64_t t0[LANES];
	uint32_t r[LANES];
	const uint64_t *A = fetch64(w, in, 0, t0);
	LOOP r[l] = cvt_f64_u32(f64_of(A[l]));
	store32(w, in, r, T_B32);
}
H(v_frexp_exp_i32_f64)
{
	uint64_t t0[LANES];
	uint32_t r[LANES];
	const uint64_t *A = fetch64(w, in, 0, t0);
	LOOP r[l] = (uint32_t)frexp_exp64(f64_of(A[l]));
	store32(w, in, r, T_B32);
}
#define TO_F64(name, EXPR)                                                    \
	H(name)                                                               \
	{                                                                     \
		uint32_t t0[LANES];                                           \
		uint64_t r[LANES];                                            \
		const uint32_t *A = fetch32(w, in, 0, t0);                    \
		LOOP r[l] = u64_of(EXPR);                                     \
		store64(w, in, r, T_F64);                                     \
	}
TO_F64(v_cvt_f64_i32, (double)i32(A[l]))
TO_F64(v_cvt_f64_u32, (double)A[l])
TO_F64(v_cvt_f64_f32, (double)f32_of(A[l]))

/* v_cvt_pk_rtz_f16_f32: two f32 to a pair of halves, rounding toward zero */
H(v_cvt_pk_rtz_f16_f32)
{
	uint32_t t0[LANES], t1[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	LOOP r[l] = f16_from_f32_rtz(f32_of(A[l])) | (uint32_t)f16_from_f32_rtz(f32_of(B[l])) << 16;
	store32(w, in, r, T_B32);
}

/* ---- f64 ---------------------------------------------------------------------- */

static inline double nf2d(double r, double a, double b)
{
	if (__builtin_expect(r == r, 1))
		return r;
	if (isnan(a))
		return f64_of(u64_of(a) | 0x8000000000000ull);
	if (isnan(b))
		return f64_of(u64_of(b) | 0x8000000000000ull);
	return f64_of(0x7ff8000000000000ull);
}
F64_2(v_add_f64, nf2d(a + b, a, b))
F64_2(v_mul_f64, nf2d(a * b, a, b))
F64_2(v_min_f64, ieee_min64(w, a, b))
F64_2(v_max_f64, ieee_max64(w, a, b))
F64_3(v_fma_f64, nf2d(fma(a, b, c), a, b))
F64_1(v_trunc_f64, trunc(a))
F64_1(v_ceil_f64, ceil(a))
F64_1(v_rndne_f64, rndne64(a))
F64_1(v_floor_f64, floor(a))
F64_1(v_fract_f64, fract64(a))
F64_1(v_frexp_mant_f64, frexp_mant64(a))
/* the double-precision transcendental units: ~1 ulp; exact here */
F64_1(v_rcp_f64, isnan(a) ? a : 1.0 / a)
F64_1(v_rsq_f64, isnan(a) ? a : 1.0 / sqrt(a))
F64_1(v_sqrt_f64, sqrt(a))
H(v_ldexp_f64)
{
	uint64_t t0[LANES], r[LANES];
	uint32_t t1[LANES];
	const uint64_t *A = fetch64(w, in, 0, t0);
	const uint32_t *B = fetch32(w, in, 1, t1);
	LOOP {
		int32_t e = i32(B[l]);
		r[l] = u64_of(ldexp(f64_of(A[l]), e < -3000 ? -3000 : e > 3000 ? 3000 : e));
	}
	store64(w, in, r, T_F64);
}
/* v_trig_preop_f64: 53-bit segments of 2/pi for argument reduction */
H(v_trig_preop_f64)
{
	/* 2/pi to 1200 bits would be needed for every shift; kernels from the
	 * OpenCL library use it, our own kernels do not: report it. */
	wave_fault(w, in, ISA_ILLEGAL_INSTRUCTION, 0, "v_trig_preop_f64 is not emulated");
}

/* ---- division helpers: v_div_scale, v_div_fmas, v_div_fixup ----------------------
 * LLVM divides as: scale numerator and denominator so that the Newton-Raphson
 * steps stay in the normal range (v_div_scale, VCC tells whether the
 * quotient must be rescaled), refine, rescale (v_div_fmas), and handle
 * special values (v_div_fixup).  Scaling both operands by the same power of
 * two leaves the quotient alone; scaling one of them sets VCC. */

static int exp32(float x) { return (int)((u32_of(x) >> 23) & 0xff); }
static int exp64(double x) { return (int)((u64_of(x) >> 52) & 0x7ff); }

static float div_scale32(float s0, float den, float num, bool *vcc)
{
	*vcc = false;
	if (num == 0.0f || den == 0.0f || isnan(num) || isnan(den) || isinf(num) || isinf(den))
		return s0;	/* v_div_fixup handles the special values */
	int en = exp32(num), ed = exp32(den);
	if (en - ed >= 96) {			/* quotient near overflow: shrink it */
		*vcc = true;
		return s0 == den ? ldexpf(s0, 64) : s0;
	}
	if (ed == 0)				/* denormal denominator: scale both */
		return ldexpf(s0, 64);
	if (ed >= 253 && en - ed < -126) {	/* huge denominator and tiny quotient */
		*vcc = true;
		return s0 == den ? ldexpf(s0, -64) : s0;
	}
	if (ed >= 253)				/* 1/den would be denormal: scale both */
		return ldexpf(s0, -64);
	if (en - ed < -126) {			/* denormal quotient: grow it */
		*vcc = true;
		return s0 == num ? ldexpf(s0, 64) : s0;
	}
	if (en <= 23)				/* tiny numerator: scale both */
		return ldexpf(s0, 64);
	return s0;
}

static double div_scale64(double s0, double den, double num, bool *vcc)
{
	*vcc = false;
	if (num == 0.0 || den == 0.0 || isnan(num) || isnan(den) || isinf(num) || isinf(den))
		return s0;
	int en = exp64(num), ed = exp64(den);
	if (en - ed >= 768) {
		*vcc = true;
		return s0 == den ? ldexp(s0, 128) : s0;
	}
	if (ed == 0)
		return ldexp(s0, 128);
	if (ed >= 2045 && en - ed < -1022) {
		*vcc = true;
		return s0 == den ? ldexp(s0, -128) : s0;
	}
	if (ed >= 2045)
		return ldexp(s0, -128);
	if (en - ed < -1022) {
		*vcc = true;
		return s0 == num ? ldexp(s0, 128) : s0;
	}
	if (en <= 52)
		return ldexp(s0, 128);
	return s0;
}

H(v_div_scale_f32)
{
	uint32_t t0[LANES], t1[LANES], t2[LANES], r[LANES], vcc = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1), *C = fetch32(w, in, 2, t2);
	LOOP {
		bool v;
		r[l] = u32_of(div_scale32(f32_of(A[l]), f32_of(B[l]), f32_of(C[l]), &v));
		vcc |= (uint32_t)v << l;
	}
	store32(w, in, r, T_B32);
	store_mask(w, in->sdst, vcc);
}

H(v_div_scale_f64)
{
	uint64_t t0[LANES], t1[LANES], t2[LANES], r[LANES];
	uint32_t vcc = 0;
	const uint64_t *A = fetch64(w, in, 0, t0), *B = fetch64(w, in, 1, t1), *C = fetch64(w, in, 2, t2);
	LOOP {
		bool v;
		r[l] = u64_of(div_scale64(f64_of(A[l]), f64_of(B[l]), f64_of(C[l]), &v));
		vcc |= (uint32_t)v << l;
	}
	store64(w, in, r, T_B64);
	store_mask(w, in->sdst, vcc);
}

/* fma, then undo v_div_scale's one-sided scaling (direction from the size
 * of the quotient), rounding once. */
H(v_div_fmas_f32)
{
	uint32_t t0[LANES], t1[LANES], t2[LANES], r[LANES], vcc = w->s[R_VCC_LO];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1), *C = fetch32(w, in, 2, t2);
	LOOP {
		float a = f32_of(A[l]), b = f32_of(B[l]), c = f32_of(C[l]);
		if (vcc >> l & 1) {
			int k = exp32(c) > 127 ? 64 : -64;
			r[l] = u32_of(nf2((float)ldexp(fma((double)a, (double)b, (double)c), k), a, b));
		} else {
			r[l] = u32_of(nf2(fmaf(a, b, c), a, b));
		}
	}
	store32(w, in, r, T_F32);
}

H(v_div_fmas_f64)
{
	uint64_t t0[LANES], t1[LANES], t2[LANES], r[LANES];
	uint32_t vcc = w->s[R_VCC_LO];
	const uint64_t *A = fetch64(w, in, 0, t0), *B = fetch64(w, in, 1, t1), *C = fetch64(w, in, 2, t2);
	LOOP {
		double a = f64_of(A[l]), b = f64_of(B[l]), c = f64_of(C[l]);
		double f = fma(a, b, c);
		if (vcc >> l & 1)
			f = ldexp(f, exp64(c) > 1023 ? 128 : -128);
		r[l] = u64_of(nf2d(f, a, b));
	}
	store64(w, in, r, T_F64);
}

static float div_fixup32(float q, float den, float num)
{
	bool sign = signbit(den) ^ signbit(num);
	if (isnan(num))
		return f32_of(u32_of(num) | 0x400000);
	if (isnan(den))
		return f32_of(u32_of(den) | 0x400000);
	if (den == 0.0f && num == 0.0f)
		return f32_of(0xffc00000);
	if (isinf(den) && isinf(num))
		return f32_of(0xffc00000);
	if (den == 0.0f || isinf(num))
		return sign ? -INFINITY : INFINITY;
	if (isinf(den) || num == 0.0f)
		return sign ? -0.0f : 0.0f;
	if (isnan(q))
		return sign ? -INFINITY : INFINITY;
	return sign ? -fabsf(q) : fabsf(q);
}

static double div_fixup64(double q, double den, double num)
{
	bool sign = signbit(den) ^ signbit(num);
	if (isnan(num))
		return f64_of(u64_of(num) | 0x8000000000000ull);
	if (isnan(den))
		return f64_of(u64_of(den) | 0x8000000000000ull);
	if ((den == 0.0 && num == 0.0) || (isinf(den) && isinf(num)))
		return f64_of(0xfff8000000000000ull);
	if (den == 0.0 || isinf(num))
		return sign ? -INFINITY : INFINITY;
	if (isinf(den) || num == 0.0)
		return sign ? -0.0 : 0.0;
	if (isnan(q))
		return sign ? -INFINITY : INFINITY;
	return sign ? -fabs(q) : fabs(q);
}

F32_3(v_div_fixup_f32, div_fixup32(a, b, c))
F64_3(v_div_fixup_f64, div_fixup64(a, b, c))

/* ---- integer ---------------------------------------------------------------------- */

U32_2(v_mul_i32_i24, (uint32_t)(i32(sext24(a)) * i32(sext24(b))))
U32_2(v_mul_hi_i32_i24, (uint32_t)(((int64_t)i32(sext24(a)) * i32(sext24(b))) >> 32))
U32_2(v_mul_u32_u24, (a & 0xffffff) * (b & 0xffffff))
U32_2(v_mul_hi_u32_u24, (uint32_t)(((uint64_t)(a & 0xffffff) * (b & 0xffffff)) >> 32))
U32_2(v_min_i32, (uint32_t)MIN(i32(a), i32(b)))
U32_2(v_max_i32, (uint32_t)MAX(i32(a), i32(b)))
U32_2(v_min_u32, MIN(a, b))
U32_2(v_max_u32, MAX(a, b))
U32_2(v_lshlrev_b32, b << (a & 31))
U32_2(v_lshrrev_b32, b >> (a & 31))
U32_2(v_ashrrev_i32, (uint32_t)(i32(b) >> (a & 31)))
U32_2(v_and_b32, a & b)
U32_2(v_or_b32, a | b)
U32_2(v_xor_b32, a ^ b)
U32_2(v_xnor_b32, ~(a ^ b))
U32_2(v_mul_lo_u32, a * b)
U32_2(v_mul_hi_u32, (uint32_t)(((uint64_t)a * b) >> 32))
U32_2(v_mul_hi_i32, (uint32_t)((uint64_t)((int64_t)i32(a) * i32(b)) >> 32))
U32_2(v_bfm_b32, ((1u << (a & 31)) - 1) << (b & 31))
U32_2(v_bcnt_u32_b32, (uint32_t)__builtin_popcount(a) + b)
U32_2(v_cvt_pk_u16_u32, (a & 0xffff) | (b << 16))
U32_2(v_cvt_pk_i16_i32, (uint32_t)(uint16_t)MED3(i32(a), -32768, 32767) |
			(uint32_t)(uint16_t)MED3(i32(b), -32768, 32767) << 16)

/* add/sub without carry; clamp saturates */
static inline uint32_t sat_u32(uint64_t x) { return x > 0xffffffffu ? 0xffffffffu : (uint32_t)x; }
static inline uint32_t sat_i32(int64_t x) { return (uint32_t)(int32_t)MED3(x, (int64_t)INT32_MIN, (int64_t)INT32_MAX); }
U32_2(v_add_nc_u32, in->clamp ? sat_u32((uint64_t)a + b) : a + b)
U32_2(v_sub_nc_u32, in->clamp ? (a > b ? a - b : 0) : a - b)
U32_2(v_subrev_nc_u32, in->clamp ? (b > a ? b - a : 0) : b - a)
U32_2(v_add_nc_i32, in->clamp ? sat_i32((int64_t)i32(a) + i32(b)) : a + b)
U32_2(v_sub_nc_i32, in->clamp ? sat_i32((int64_t)i32(a) - i32(b)) : a - b)

/* carries: mask in src[2] (VCC for VOP2), carry out to sdst */
#define CARRY_OP(name, EXPR_R, EXPR_C, HAS_CIN)                                           \
	H(name)                                                                           \
	{                                                                                 \
		uint32_t t0[LANES], t1[LANES], r[LANES], cout = 0;                        \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);    \
		uint32_t cin_mask = HAS_CIN ? read_ssrc(w, &in->src[2]) : 0;              \
		LOOP {                                                                    \
			uint64_t a = A[l], b = B[l], ci = cin_mask >> l & 1;              \
			(void)ci;                                                         \
			r[l] = (uint32_t)(EXPR_R);                                        \
			cout |= (uint32_t)(EXPR_C) << l;                                  \
		}                                                                         \
		store32(w, in, r, T_B32);                                                 \
		store_mask(w, in->sdst, cout);                                            \
	}
CARRY_OP(v_add_co_u32, a + b, (a + b) >> 32, 0)
CARRY_OP(v_sub_co_u32, a - b, b > a, 0)
CARRY_OP(v_subrev_co_u32, b - a, a > b, 0)
CARRY_OP(v_add_co_ci_u32, a + b + ci, (a + b + ci) >> 32, 1)
CARRY_OP(v_sub_co_ci_u32, a - b - ci, b + ci > a, 1)
CARRY_OP(v_subrev_co_ci_u32, b - a - ci, a + ci > b, 1)

H(v_cndmask_b32)
{
	uint32_t t0[LANES], t1[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	uint32_t mask = read_ssrc(w, &in->src[2]);
	LOOP r[l] = (mask >> l & 1) ? B[l] : A[l];
	store32(w, in, r, T_B32);
}

U32_1(v_mov_b32, a)
U32_1(v_not_b32, ~a)
U32_1(v_bfrev_b32, bfrev32(a))
U32_1(v_clz_i32_u32, a ? (uint32_t)__builtin_clz(a) : ~0u)
U32_1(v_ctz_i32_b32, a ? (uint32_t)__builtin_ctz(a) : ~0u)
U32_1(v_cls_i32, ((a >> 31) ? ~a : a) ? (uint32_t)__builtin_clz((a >> 31) ? ~a : a) : ~0u)
U32_1(v_cvt_i32_i16, (uint32_t)(int32_t)(int16_t)a)
U32_1(v_cvt_u32_u16, a & 0xffff)

H(v_nop) { (void)w; (void)in; }

/* v_readfirstlane_b32: the first active lane (lane 0 when none) to an SGPR */
H(v_readfirstlane_b32)
{
	uint32_t exec = exec_of(w);
	int lane = exec ? __builtin_ctz(exec) : 0;
	const struct src *s = &in->src[0];
	w->s[in->dst] = s->kind == SRC_VGPR ? w->v[s->reg][lane] : read_ssrc(w, s);
}

H(v_readlane_b32)
{
	uint32_t lane = read_ssrc(w, &in->src[1]) & 31;
	const struct src *s = &in->src[0];
	w->s[in->dst] = s->kind == SRC_VGPR ? w->v[s->reg][lane] : read_ssrc(w, s);
}

H(v_writelane_b32)
{
	uint32_t lane = read_ssrc(w, &in->src[1]) & 31;
	w->v[in->dst][lane] = read_ssrc(w, &in->src[0]);
}

/* v_mbcnt: count of set mask bits in lanes below this one, plus S1 */
H(v_mbcnt_lo_u32_b32)
{
	uint32_t t0[LANES], t1[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	LOOP r[l] = (uint32_t)__builtin_popcount(A[l] & ((1u << l) - 1)) + B[l];
	store32(w, in, r, T_B32);
}
/* in wave32 the high half of the mask covers lanes 32..63: none */
U32_2(v_mbcnt_hi_u32_b32, b + 0 * a)

/* M0-relative VGPR moves; indices outside the file read 0 and drop writes. */
H(v_movrels_b32)
{
	uint32_t r[LANES], idx = in->src[0].reg + w->s[R_M0];
	LOOP r[l] = in->src[0].kind == SRC_VGPR && idx < 256 ? w->v[idx][l] : 0;
	store32(w, in, r, T_B32);
}
H(v_movreld_b32)
{
	uint32_t t0[LANES], idx = in->dst + w->s[R_M0];
	const uint32_t *A = fetch32(w, in, 0, t0);
	if (idx < 256)
		masked_copy(w->v[idx], A, exec_of(w));
}
H(v_movrelsd_b32)
{
	uint32_t idx_s = in->src[0].reg + w->s[R_M0], idx_d = in->dst + w->s[R_M0];
	if (in->src[0].kind == SRC_VGPR && idx_s < 256 && idx_d < 256) {
		uint32_t r[LANES];
		memcpy(r, w->v[idx_s], sizeof r);
		masked_copy(w->v[idx_d], r, exec_of(w));
	}
}
H(v_swap_b32)
{
	uint32_t mask = exec_of(w), *a = w->v[in->dst], *b = w->v[in->src[0].reg];
	if (in->src[0].kind != SRC_VGPR)
		return;
	LOOP if (mask >> l & 1) {
		uint32_t t = a[l];
		a[l] = b[l];
		b[l] = t;
	}
}

/* ---- three-operand integer (VOP3) ------------------------------------------------- */

static inline uint32_t bfe_u(uint32_t x, uint32_t off, uint32_t width)
{
	off &= 31;
	width &= 31;
	if (width == 0)
		return 0;
	return (x >> off) & ((width >= 32 ? 0 : 1u << width) - 1);
}
static inline uint32_t bfe_i(uint32_t x, uint32_t off, uint32_t width)
{
	off &= 31;
	width &= 31;
	if (width == 0)
		return 0;
	uint32_t v = bfe_u(x, off, width);
	return (uint32_t)((int32_t)(v << (32 - width)) >> (32 - width));
}
static inline uint32_t byte_permute(uint64_t data, uint32_t sel)
{
	sel &= 0xff;
	if (sel >= 13)
		return 0xff;
	if (sel == 12)
		return 0;
	if (sel >= 8) {
		static const int src_byte[4] = { 1, 3, 5, 7 };
		return (data >> (src_byte[sel - 8] * 8 + 7) & 1) ? 0xff : 0;
	}
	return (uint32_t)(data >> (sel * 8)) & 0xff;
}
static inline uint32_t perm_b32(uint32_t s0, uint32_t s1, uint32_t sel)
{
	uint64_t data = (uint64_t)s0 << 32 | s1;
	return byte_permute(data, sel) | byte_permute(data, sel >> 8) << 8 | byte_permute(data, sel >> 16) << 16 |
	       byte_permute(data, sel >> 24) << 24;
}

U32_3(v_mad_i32_i24, (uint32_t)(i32(sext24(a)) * i32(sext24(b))) + c)
U32_3(v_mad_u32_u24, (a & 0xffffff) * (b & 0xffffff) + c)
U32_3(v_bfe_u32, bfe_u(a, b, c))
U32_3(v_bfe_i32, bfe_i(a, b, c))
U32_3(v_bfi_b32, (a & b) | (~a & c))
U32_3(v_alignbit_b32, (uint32_t)((((uint64_t)a << 32) | b) >> (c & 31)))
U32_3(v_alignbyte_b32, (uint32_t)((((uint64_t)a << 32) | b) >> ((c & 3) * 8)))
U32_3(v_min3_i32, (uint32_t)MIN(MIN(i32(a), i32(b)), i32(c)))
U32_3(v_min3_u32, MIN(MIN(a, b), c))
U32_3(v_max3_i32, (uint32_t)MAX(MAX(i32(a), i32(b)), i32(c)))
U32_3(v_max3_u32, MAX(MAX(a, b), c))
U32_3(v_med3_i32, (uint32_t)MED3(i32(a), i32(b), i32(c)))
U32_3(v_med3_u32, MED3(a, b, c))
U32_3(v_maxmin_u32, MIN(MAX(a, b), c))
U32_3(v_minmax_u32, MAX(MIN(a, b), c))
U32_3(v_maxmin_i32, (uint32_t)MIN(MAX(i32(a), i32(b)), i32(c)))
U32_3(v_minmax_i32, (uint32_t)MAX(MIN(i32(a), i32(b)), i32(c)))
U32_3(v_xor3_b32, a ^ b ^ c)
U32_3(v_perm_b32, perm_b32(a, b, c))
U32_3(v_xad_u32, (a ^ b) + c)
U32_3(v_lshl_add_u32, (a << (b & 31)) + c)
U32_3(v_add_lshl_u32, (a + b) << (c & 31))
U32_3(v_add3_u32, a + b + c)
U32_3(v_lshl_or_b32, (a << (b & 31)) | c)
U32_3(v_and_or_b32, (a & b) | c)
U32_3(v_or3_b32, a | b | c)
U32_3(v_mad_u32_u16, (a & 0xffff) * (b & 0xffff) + c)
U32_3(v_mad_i32_i16, (uint32_t)((int32_t)(int16_t)a * (int32_t)(int16_t)b) + c)
U32_3(v_cvt_pk_u8_f32, (c & ~(0xffu << ((b & 3) * 8))) |
			(cvt_f32_u32(rndne32(f32_of(a))) > 255 ? 255u : cvt_f32_u32(rndne32(f32_of(a))))
			    << ((b & 3) * 8))
U32_3(v_sad_u8, c + (uint32_t)abs((int)(a & 0xff) - (int)(b & 0xff)) +
		    (uint32_t)abs((int)((a >> 8) & 0xff) - (int)((b >> 8) & 0xff)) +
		    (uint32_t)abs((int)((a >> 16) & 0xff) - (int)((b >> 16) & 0xff)) +
		    (uint32_t)abs((int)(a >> 24) - (int)(b >> 24)))
U32_3(v_sad_u16, c + (uint32_t)abs((int)(a & 0xffff) - (int)(b & 0xffff)) +
		     (uint32_t)abs((int)(a >> 16) - (int)(b >> 16)))
U32_3(v_sad_u32, c + (a > b ? a - b : b - a))

/* v_mad_u64_u32 / v_mad_i64_i32: 32x32 + 64, carry out to sdst */
H(v_mad_u64_u32)
{
	uint32_t t0[LANES], t1[LANES], cout = 0;
	uint64_t t2[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	const uint64_t *C = fetch64(w, in, 2, t2);
	LOOP {
		unsigned __int128 x = (unsigned __int128)((uint64_t)A[l] * B[l]) + C[l];
		r[l] = (uint64_t)x;
		cout |= (uint32_t)(x >> 64) << l;
	}
	store64(w, in, r, T_B64);
	store_mask(w, in->sdst, cout);
}
H(v_mad_i64_i32)
{
	uint32_t t0[LANES], t1[LANES], cout = 0;
	uint64_t t2[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	const uint64_t *C = fetch64(w, in, 2, t2);
	LOOP {
		__int128 x = (__int128)((int64_t)i32(A[l]) * i32(B[l])) + (int64_t)C[l];
		r[l] = (uint64_t)x;
		/* carry-out: the 65th bit of the signed result differs from bit 64 */
		cout |= (uint32_t)((x >> 63) != 0 && (x >> 63) != -1) << l;
	}
	store64(w, in, r, T_B64);
	store_mask(w, in->sdst, cout);
}

/* 64-bit shifts: the shift amount is src0 (32-bit), the value src1 (64-bit) */
#define SHIFT64(name, EXPR)                                                     \
	H(name)                                                                 \
	{                                                                       \
		uint32_t t0[LANES];                                             \
		uint64_t t1[LANES], r[LANES];                                   \
		const uint32_t *A = fetch32(w, in, 0, t0);                      \
		const uint64_t *B = fetch64(w, in, 1, t1);                      \
		LOOP { uint32_t a = A[l] & 63; uint64_t b = B[l]; r[l] = (EXPR); } \
		store64(w, in, r, T_B64);                                       \
	}
SHIFT64(v_lshlrev_b64, b << a)
SHIFT64(v_lshrrev_b64, b >> a)
SHIFT64(v_ashrrev_i64, (uint64_t)((int64_t)b >> a))

/* permlane16 / permlanex16: lane selects from src1 (lanes 0-7) and src2 (8-15) */
static void permlane(struct wave *w, const struct inst *in, bool cross)
{
	uint32_t r[LANES], exec = exec_of(w);
	const uint32_t *src = w->v[in->src[0].reg];
	uint64_t sel = (uint64_t)read_ssrc(w, &in->src[1]) | (uint64_t)read_ssrc(w, &in->src[2]) << 32;
	bool fi = in->opsel & 1, bc = in->opsel & 2;
	uint32_t write = 0;
	LOOP {
		int row = l >> 4, s = (int)((sel >> (4 * (l & 15))) & 15);
		int from = ((cross ? row ^ 1 : row) << 4) | s;
		if (fi || (exec >> from & 1)) {
			r[l] = src[from];
			write |= 1u << l;
		} else if (bc) {
			r[l] = 0;
			write |= 1u << l;
		} else {
			r[l] = 0;
		}
	}
	masked_copy(w->v[in->dst], r, exec & write);
}
H(v_permlane16_b32) { permlane(w, in, false); }
H(v_permlanex16_b32) { permlane(w, in, true); }

/* ---- 16-bit ----------------------------------------------------------------------- */

static inline float hmin(const struct wave *w, float a, float b) { return ieee_min32(w, a, b); }
static inline float hmax(const struct wave *w, float a, float b) { return ieee_max32(w, a, b); }
F16_2(v_add_f16, a + b)
F16_2(v_sub_f16, a - b)
F16_2(v_subrev_f16, b - a)
F16_2(v_mul_f16, a * b)
F16_2(v_max_f16, hmax(w, a, b))
F16_2(v_min_f16, hmin(w, a, b))
F16_3D(v_fma_f16, fma(a, b, c))
F16_3D(v_fmac_f16, fma(a, b, c))
F16_3D(v_fmamk_f16, fma(a, c, b))
F16_3D(v_fmaak_f16, fma(a, b, c))
F16_3D(v_min3_f16, fmin3f(w, (float)a, (float)b, (float)c))
F16_3D(v_max3_f16, fmax3f(w, (float)a, (float)b, (float)c))
F16_3D(v_med3_f16, fmed3f(w, (float)a, (float)b, (float)c))
F16_3D(v_maxmin_f16, ieee_min32(w, ieee_max32(w, (float)a, (float)b), (float)c))
F16_3D(v_minmax_f16, ieee_max32(w, ieee_min32(w, (float)a, (float)b), (float)c))
F16_3D(v_div_fixup_f16, div_fixup32((float)a, (float)b, (float)c))
F16_1(v_rcp_f16, amd_rcpf(a))
F16_1(v_sqrt_f16, amd_sqrtf(a))
F16_1(v_rsq_f16, amd_rsqf(a))
F16_1(v_log_f16, amd_log2f(a))
F16_1(v_exp_f16, amd_exp2f(a))
F16_1(v_sin_f16, amd_sinf(a))
F16_1(v_cos_f16, amd_cosf(a))
F16_1(v_floor_f16, floorf(a))
F16_1(v_ceil_f16, ceilf(a))
F16_1(v_trunc_f16, truncf(a))
F16_1(v_rndne_f16, rndne32(a))
F16_1(v_fract_f16, isinf(a) ? NAN : a - floorf(a) >= 1.0f ? 0x1.ffcp-1f : a - floorf(a))
F16_1(v_frexp_mant_f16, frexp_mant32(a))
F16_1(v_cvt_f16_u16, (float)(uint16_t)A[l])
F16_1(v_cvt_f16_i16, (float)(int16_t)A[l])

H(v_ldexp_f16)
{
	uint32_t t0[LANES], t1[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	LOOP r[l] = f16_from_f32(ldexp32(f32_of_h(A[l]), (int16_t)B[l]));
	store16(w, in, r, T_F16);
}

#define H16_OUT(name, EXPR)                                                    \
	H(name)                                                                \
	{                                                                      \
		uint32_t t0[LANES], r[LANES];                                  \
		const uint32_t *A = fetch32(w, in, 0, t0);                     \
		LOOP { float a = f32_of_h(A[l]); r[l] = (uint16_t)(EXPR); }    \
		store16(w, in, r, T_B16);                                      \
	}
static inline uint16_t f_to_u16(float a) { return isnan(a) || a <= 0 ? 0 : a >= 65535.0f ? 65535 : (uint16_t)a; }
static inline int16_t f_to_i16(float a)
{
	return isnan(a) ? 0 : a <= -32768.0f ? -32768 : a >= 32767.0f ? 32767 : (int16_t)a;
}
H16_OUT(v_cvt_u16_f16, f_to_u16(a))
H16_OUT(v_cvt_i16_f16, f_to_i16(a))
H16_OUT(v_frexp_exp_i16_f16, frexp_exp32(a))
H16_OUT(v_cvt_norm_i16_f16, f_to_i16(rndne32(MED3(a, -1.0f, 1.0f) * 32767.0f)))
H16_OUT(v_cvt_norm_u16_f16, f_to_u16(rndne32(MED3(a, 0.0f, 1.0f) * 65535.0f)))

U16_2(v_add_nc_u16, in->clamp ? (a + b > 0xffff ? 0xffff : a + b) : a + b)
U16_2(v_sub_nc_u16, in->clamp ? (a > b ? a - b : 0) : a - b)
U16_2(v_add_nc_i16, in->clamp ? MED3((int)(int16_t)a + (int16_t)b, -32768, 32767) : a + b)
U16_2(v_sub_nc_i16, in->clamp ? MED3((int)(int16_t)a - (int16_t)b, -32768, 32767) : a - b)
U16_2(v_mul_lo_u16, a * b)
U16_2(v_max_u16, MAX(a, b))
U16_2(v_max_i16, MAX((int16_t)a, (int16_t)b))
U16_2(v_min_u16, MIN(a, b))
U16_2(v_min_i16, MIN((int16_t)a, (int16_t)b))
U16_2(v_lshlrev_b16, b << (a & 15))
U16_2(v_lshrrev_b16, b >> (a & 15))
U16_2(v_ashrrev_i16, (int16_t)b >> (a & 15))
U16_2(v_and_b16, a & b)
U16_2(v_or_b16, a | b)
U16_2(v_xor_b16, a ^ b)
U16_3(v_mad_u16, a * b + c)
U16_3(v_mad_i16, (int16_t)a * (int16_t)b + (int16_t)c)
U16_3(v_min3_i16, MIN(MIN((int16_t)a, (int16_t)b), (int16_t)c))
U16_3(v_min3_u16, MIN(MIN(a, b), c))
U16_3(v_max3_i16, MAX(MAX((int16_t)a, (int16_t)b), (int16_t)c))
U16_3(v_max3_u16, MAX(MAX(a, b), c))
U16_3(v_med3_i16, MED3((int16_t)a, (int16_t)b, (int16_t)c))
U16_3(v_med3_u16, MED3(a, b, c))

H(v_mov_b16)
{
	uint32_t t0[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0);
	LOOP r[l] = A[l] & 0xffff;
	store16(w, in, r, T_B16);
}
H(v_not_b16)
{
	uint32_t t0[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0);
	LOOP r[l] = ~A[l] & 0xffff;
	store16(w, in, r, T_B16);
}
H(v_cndmask_b16)
{
	uint32_t t0[LANES], t1[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	uint32_t mask = read_ssrc(w, &in->src[2]);
	LOOP r[l] = ((mask >> l & 1) ? B[l] : A[l]) & 0xffff;
	store16(w, in, r, T_B16);
}
H(v_pack_b32_f16)
{
	uint32_t t0[LANES], t1[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	LOOP r[l] = (A[l] & 0xffff) | (B[l] & 0xffff) << 16;
	store32(w, in, r, T_B32);
}
H(v_sat_pk_u8_i16)
{
	uint32_t t0[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0);
	LOOP {
		int lo = (int16_t)A[l], hi = (int16_t)(A[l] >> 16);
		r[l] = (uint32_t)MED3(lo, 0, 255) | (uint32_t)MED3(hi, 0, 255) << 8;
	}
	store16(w, in, r, T_B16);
}
#define PK_NORM(name, EXPR_LO, EXPR_HI)                                            \
	H(name)                                                                    \
	{                                                                          \
		uint32_t t0[LANES], t1[LANES], r[LANES];                           \
		const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1); \
		LOOP r[l] = (uint32_t)(uint16_t)(EXPR_LO) | (uint32_t)(uint16_t)(EXPR_HI) << 16; \
		store32(w, in, r, T_B32);                                          \
	}
PK_NORM(v_cvt_pk_norm_i16_f16, f_to_i16(rndne32(MED3(f32_of_h(A[l]), -1.0f, 1.0f) * 32767.0f)),
	f_to_i16(rndne32(MED3(f32_of_h(B[l]), -1.0f, 1.0f) * 32767.0f)))
PK_NORM(v_cvt_pk_norm_u16_f16, f_to_u16(rndne32(MED3(f32_of_h(A[l]), 0.0f, 1.0f) * 65535.0f)),
	f_to_u16(rndne32(MED3(f32_of_h(B[l]), 0.0f, 1.0f) * 65535.0f)))
PK_NORM(v_cvt_pk_norm_i16_f32, f_to_i16(rndne32(MED3(f32_of(A[l]), -1.0f, 1.0f) * 32767.0f)),
	f_to_i16(rndne32(MED3(f32_of(B[l]), -1.0f, 1.0f) * 32767.0f)))
PK_NORM(v_cvt_pk_norm_u16_f32, f_to_u16(rndne32(MED3(f32_of(A[l]), 0.0f, 1.0f) * 65535.0f)),
	f_to_u16(rndne32(MED3(f32_of(B[l]), 0.0f, 1.0f) * 65535.0f)))
PK_NORM(v_cvt_pk_i16_f32, f_to_i16(f32_of(A[l])), f_to_i16(f32_of(B[l])))
PK_NORM(v_cvt_pk_u16_f32, f_to_u16(f32_of(A[l])), f_to_u16(f32_of(B[l])))

/* v_dot2acc_f32_f16 (VOP2): D += a.lo*b.lo + a.hi*b.hi */
H(v_dot2acc_f32_f16)
{
	uint32_t t0[LANES], t1[LANES], t2[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1), *C = fetch32(w, in, 2, t2);
	LOOP {
		double s = (double)f32_of_h(A[l]) * f32_of_h(B[l]) + (double)f32_of_h(A[l] >> 16) * f32_of_h(B[l] >> 16);
		r[l] = u32_of((float)(s + f32_of(C[l])));
	}
	store32(w, in, r, T_F32);
}

/* ---- VOPC: compares ----------------------------------------------------------------- */

static inline bool fcmp(int k, double a, double b)
{
	switch (k) {
	case 0: return false;				/* f */
	case 1: return a < b;				/* lt */
	case 2: return a == b;				/* eq */
	case 3: return a <= b;				/* le */
	case 4: return a > b;				/* gt */
	case 5: return a < b || a > b;			/* lg */
	case 6: return a >= b;				/* ge */
	case 7: return !isnan(a) && !isnan(b);		/* o */
	case 8: return isnan(a) || isnan(b);		/* u */
	case 9: return !(a >= b);			/* nge */
	case 10: return !(a < b || a > b);		/* nlg */
	case 11: return !(a > b);			/* ngt */
	case 12: return !(a <= b);			/* nle */
	case 13: return !(a == b);			/* neq */
	case 14: return !(a < b);			/* nlt */
	default: return true;				/* t */
	}
}
static inline bool icmp(int k, int64_t a, int64_t b)
{
	switch (k) {
	case 0: return false;
	case 1: return a < b;
	case 2: return a == b;
	case 3: return a <= b;
	case 4: return a > b;
	case 5: return a != b;
	case 6: return a >= b;
	default: return true;
	}
}
static inline bool ucmp(int k, uint64_t a, uint64_t b)
{
	switch (k) {
	case 0: return false;
	case 1: return a < b;
	case 2: return a == b;
	case 3: return a <= b;
	case 4: return a > b;
	case 5: return a != b;
	case 6: return a >= b;
	default: return true;
	}
}

/* The compare kind is the low bits of the operation number. */
static void cmp_f32(struct wave *w, const struct inst *in)
{
	uint32_t t0[LANES], t1[LANES], bits = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	int k = in->op & 15;
	LOOP bits |= (uint32_t)fcmp(k, f32_of(A[l]), f32_of(B[l])) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_f16(struct wave *w, const struct inst *in)
{
	uint32_t t0[LANES], t1[LANES], bits = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	int k = in->op & 15;
	LOOP bits |= (uint32_t)fcmp(k, f32_of_h(A[l]), f32_of_h(B[l])) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_f64(struct wave *w, const struct inst *in)
{
	uint64_t t0[LANES], t1[LANES];
	uint32_t bits = 0;
	const uint64_t *A = fetch64(w, in, 0, t0), *B = fetch64(w, in, 1, t1);
	int k = in->op & 15;
	LOOP bits |= (uint32_t)fcmp(k, f64_of(A[l]), f64_of(B[l])) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_i32(struct wave *w, const struct inst *in)
{
	uint32_t t0[LANES], t1[LANES], bits = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	int k = in->op & 7;
	LOOP bits |= (uint32_t)icmp(k, i32(A[l]), i32(B[l])) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_u32(struct wave *w, const struct inst *in)
{
	uint32_t t0[LANES], t1[LANES], bits = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	int k = in->op & 7;
	LOOP bits |= (uint32_t)ucmp(k, A[l], B[l]) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_i16(struct wave *w, const struct inst *in)
{
	uint32_t t0[LANES], t1[LANES], bits = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	int k = in->op & 7;
	LOOP bits |= (uint32_t)icmp(k, (int16_t)A[l], (int16_t)B[l]) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_u16(struct wave *w, const struct inst *in)
{
	uint32_t t0[LANES], t1[LANES], bits = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	int k = in->op & 7;
	LOOP bits |= (uint32_t)ucmp(k, (uint16_t)A[l], (uint16_t)B[l]) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_i64(struct wave *w, const struct inst *in)
{
	uint64_t t0[LANES], t1[LANES];
	uint32_t bits = 0;
	const uint64_t *A = fetch64(w, in, 0, t0), *B = fetch64(w, in, 1, t1);
	int k = in->op & 7;
	LOOP bits |= (uint32_t)icmp(k, (int64_t)A[l], (int64_t)B[l]) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_u64(struct wave *w, const struct inst *in)
{
	uint64_t t0[LANES], t1[LANES];
	uint32_t bits = 0;
	const uint64_t *A = fetch64(w, in, 0, t0), *B = fetch64(w, in, 1, t1);
	int k = in->op & 7;
	LOOP bits |= (uint32_t)ucmp(k, A[l], B[l]) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_class_f32(struct wave *w, const struct inst *in)
{
	uint32_t t0[LANES], t1[LANES], bits = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	LOOP bits |= (uint32_t)class_match32(A[l], B[l]) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_class_f16(struct wave *w, const struct inst *in)
{
	uint32_t t0[LANES], t1[LANES], bits = 0;
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1);
	LOOP bits |= (uint32_t)class_match16((uint16_t)A[l], B[l]) << l;
	store_mask(w, in->sdst, bits);
}
static void cmp_class_f64(struct wave *w, const struct inst *in)
{
	uint64_t t0[LANES];
	uint32_t t1[LANES], bits = 0;
	const uint64_t *A = fetch64(w, in, 0, t0);
	const uint32_t *B = fetch32(w, in, 1, t1);
	LOOP bits |= (uint32_t)class_match64(A[l], B[l]) << l;
	store_mask(w, in->sdst, bits);
}

/* ---- VOPD --------------------------------------------------------------------------- */

void exec_vopd(struct wave *w, const struct inst *in)
{
	const struct inst *x = in->vopd_x, *y = in->vopd_y;
	x->fn(w, x);
	y->fn(w, y);
	if (in->vopd_hazard)
		masked_copy(w->v[in->dst], w->v[VGPR_TEMP], exec_of(w));
}

/* ---- the table ----------------------------------------------------------------------- */

#define OPI(fn, dt, t0, t1, t2, fl) { fn, dt, t0, t1, t2, fl }
enum { N = T_NONE, B = T_B32, F = T_F32, Q = T_B64, D = T_F64, S = T_B16, HF = T_F16 };
#define NC OPF_NOCLAMP

static struct opinfo table[0x440];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void def(unsigned op, exec_fn fn, int dt, int t0, int t1, int t2, int flags)
{
	table[op] = (struct opinfo){ fn, (uint8_t)dt, (uint8_t)t0, (uint8_t)t1, (uint8_t)t2, (uint8_t)flags };
}

static void build_compares(void)
{
	for (unsigned k = 0; k < 16; k++) {
		for (unsigned x = 0; x < 2; x++) {
			unsigned base = x ? 0x80 : 0;
			int fl = (x ? OPF_CMPX : 0) | NC;
			def(base + 0x00 + k, cmp_f16, N, HF, HF, N, fl);
			def(base + 0x10 + k, cmp_f32, N, F, F, N, fl);
			def(base + 0x20 + k, cmp_f64, N, D, D, N, fl);
			if (k < 8) {
				if (k >= 1 && k <= 6) {
					def(base + 0x30 + k, cmp_i16, N, S, S, N, fl);
					def(base + 0x38 + k, cmp_u16, N, S, S, N, fl);
				}
				def(base + 0x40 + k, cmp_i32, N, B, B, N, fl);
				def(base + 0x48 + k, cmp_u32, N, B, B, N, fl);
				def(base + 0x50 + k, cmp_i64, N, Q, Q, N, fl);
				def(base + 0x58 + k, cmp_u64, N, Q, Q, N, fl);
			}
		}
	}
	for (unsigned x = 0; x < 2; x++) {
		unsigned base = x ? 0x80 : 0;
		int fl = (x ? OPF_CMPX : 0) | NC;
		def(base + 0x7d, cmp_class_f16, N, HF, B, N, fl);
		def(base + 0x7e, cmp_class_f32, N, F, B, N, fl);
		def(base + 0x7f, cmp_class_f64, N, D, B, N, fl);
	}
}

static void build_table(void)
{
	build_compares();
	/* VOP2 (0x100 + opcode) */
	def(0x101, v_cndmask_b32, B, F, F, B, OPF_VCC_IN | NC);
	def(0x103, v_add_f32, F, F, F, N, 0);
	def(0x104, v_sub_f32, F, F, F, N, 0);
	def(0x105, v_subrev_f32, F, F, F, N, 0);
	def(0x106, v_fmac_dx9_zero_f32, F, F, F, F, 0);
	def(0x107, v_mul_dx9_zero_f32, F, F, F, N, 0);
	def(0x108, v_mul_f32, F, F, F, N, 0);
	def(0x109, v_mul_i32_i24, B, B, B, N, NC);
	def(0x10a, v_mul_hi_i32_i24, B, B, B, N, NC);
	def(0x10b, v_mul_u32_u24, B, B, B, N, NC);
	def(0x10c, v_mul_hi_u32_u24, B, B, B, N, NC);
	def(0x10f, v_min_f32, F, F, F, N, 0);
	def(0x110, v_max_f32, F, F, F, N, 0);
	def(0x111, v_min_i32, B, B, B, N, NC);
	def(0x112, v_max_i32, B, B, B, N, NC);
	def(0x113, v_min_u32, B, B, B, N, NC);
	def(0x114, v_max_u32, B, B, B, N, NC);
	def(0x118, v_lshlrev_b32, B, B, B, N, NC);
	def(0x119, v_lshrrev_b32, B, B, B, N, NC);
	def(0x11a, v_ashrrev_i32, B, B, B, N, NC);
	def(0x11b, v_and_b32, B, B, B, N, NC);
	def(0x11c, v_or_b32, B, B, B, N, NC);
	def(0x11d, v_xor_b32, B, B, B, N, NC);
	def(0x11e, v_xnor_b32, B, B, B, N, NC);
	def(0x120, v_add_co_ci_u32, B, B, B, B, OPF_VCC_IN | OPF_VCC_OUT | NC);
	def(0x121, v_sub_co_ci_u32, B, B, B, B, OPF_VCC_IN | OPF_VCC_OUT | NC);
	def(0x122, v_subrev_co_ci_u32, B, B, B, B, OPF_VCC_IN | OPF_VCC_OUT | NC);
	def(0x125, v_add_nc_u32, B, B, B, N, 0);
	def(0x126, v_sub_nc_u32, B, B, B, N, 0);
	def(0x127, v_subrev_nc_u32, B, B, B, N, 0);
	def(0x12b, v_fmac_f32, F, F, F, F, 0);
	def(0x12f, v_cvt_pk_rtz_f16_f32, B, F, F, N, NC);
	def(0x132, v_add_f16, HF, HF, HF, N, 0);
	def(0x133, v_sub_f16, HF, HF, HF, N, 0);
	def(0x134, v_subrev_f16, HF, HF, HF, N, 0);
	def(0x135, v_mul_f16, HF, HF, HF, N, 0);
	def(0x136, v_fmac_f16, HF, HF, HF, HF, 0);
	def(0x139, v_max_f16, HF, HF, HF, N, 0);
	def(0x13a, v_min_f16, HF, HF, HF, N, 0);
	def(0x13b, v_ldexp_f16, HF, HF, S, N, 0);
	/* VOP2-only */
	def(0x402, v_dot2acc_f32_f16, F, B, B, F, NC);
	def(0x42c, v_fmamk_f32, F, F, F, F, NC);
	def(0x42d, v_fmaak_f32, F, F, F, F, NC);
	def(0x437, v_fmamk_f16, HF, HF, HF, HF, NC);
	def(0x438, v_fmaak_f16, HF, HF, HF, HF, NC);
	/* VOP1 (0x180 + opcode) */
	def(0x180, v_nop, N, N, N, N, NC);
	def(0x181, v_mov_b32, B, B, N, N, NC);
	def(0x182, v_readfirstlane_b32, B, B, N, N, OPF_SDST | NC | OPF_LANE);
	def(0x183, v_cvt_i32_f64, B, D, N, N, NC);
	def(0x184, v_cvt_f64_i32, D, B, N, N, 0);
	def(0x185, v_cvt_f32_i32, F, B, N, N, 0);
	def(0x186, v_cvt_f32_u32, F, B, N, N, 0);
	def(0x187, v_cvt_u32_f32, B, F, N, N, NC);
	def(0x188, v_cvt_i32_f32, B, F, N, N, NC);
	def(0x18a, v_cvt_f16_f32, HF, F, N, N, NC);
	def(0x18b, v_cvt_f32_f16, F, HF, N, N, 0);
	def(0x18c, v_cvt_nearest_i32_f32, B, F, N, N, NC);
	def(0x18d, v_cvt_floor_i32_f32, B, F, N, N, NC);
	def(0x18e, v_cvt_off_f32_i4, F, B, N, N, 0);
	def(0x18f, v_cvt_f32_f64, F, D, N, N, 0);
	def(0x190, v_cvt_f64_f32, D, F, N, N, 0);
	def(0x191, v_cvt_f32_ubyte0, F, B, N, N, 0);
	def(0x192, v_cvt_f32_ubyte1, F, B, N, N, 0);
	def(0x193, v_cvt_f32_ubyte2, F, B, N, N, 0);
	def(0x194, v_cvt_f32_ubyte3, F, B, N, N, 0);
	def(0x195, v_cvt_u32_f64, B, D, N, N, NC);
	def(0x196, v_cvt_f64_u32, D, B, N, N, 0);
	def(0x197, v_trunc_f64, D, D, N, N, 0);
	def(0x198, v_ceil_f64, D, D, N, N, 0);
	def(0x199, v_rndne_f64, D, D, N, N, 0);
	def(0x19a, v_floor_f64, D, D, N, N, 0);
	def(0x19b, v_nop, N, N, N, N, NC);
	def(0x19c, v_mov_b16, S, S, N, N, NC);
	def(0x1a0, v_fract_f32, F, F, N, N, 0);
	def(0x1a1, v_trunc_f32, F, F, N, N, 0);
	def(0x1a2, v_ceil_f32, F, F, N, N, 0);
	def(0x1a3, v_rndne_f32, F, F, N, N, 0);
	def(0x1a4, v_floor_f32, F, F, N, N, 0);
	def(0x1a5, v_exp_f32, F, F, N, N, 0);
	def(0x1a7, v_log_f32, F, F, N, N, 0);
	def(0x1aa, v_rcp_f32, F, F, N, N, 0);
	def(0x1ab, v_rcp_iflag_f32, F, F, N, N, 0);
	def(0x1ae, v_rsq_f32, F, F, N, N, 0);
	def(0x1af, v_rcp_f64, D, D, N, N, 0);
	def(0x1b1, v_rsq_f64, D, D, N, N, 0);
	def(0x1b3, v_sqrt_f32, F, F, N, N, 0);
	def(0x1b4, v_sqrt_f64, D, D, N, N, 0);
	def(0x1b5, v_sin_f32, F, F, N, N, 0);
	def(0x1b6, v_cos_f32, F, F, N, N, 0);
	def(0x1b7, v_not_b32, B, B, N, N, NC);
	def(0x1b8, v_bfrev_b32, B, B, N, N, NC);
	def(0x1b9, v_clz_i32_u32, B, B, N, N, NC);
	def(0x1ba, v_ctz_i32_b32, B, B, N, N, NC);
	def(0x1bb, v_cls_i32, B, B, N, N, NC);
	def(0x1bc, v_frexp_exp_i32_f64, B, D, N, N, NC);
	def(0x1bd, v_frexp_mant_f64, D, D, N, N, 0);
	def(0x1be, v_fract_f64, D, D, N, N, 0);
	def(0x1bf, v_frexp_exp_i32_f32, B, F, N, N, NC);
	def(0x1c0, v_frexp_mant_f32, F, F, N, N, 0);
	def(0x1c2, v_movreld_b32, B, B, N, N, NC);
	def(0x1c3, v_movrels_b32, B, B, N, N, NC);
	def(0x1c4, v_movrelsd_b32, B, B, N, N, NC);
	def(0x1d0, v_cvt_f16_u16, HF, S, N, N, 0);
	def(0x1d1, v_cvt_f16_i16, HF, S, N, N, 0);
	def(0x1d2, v_cvt_u16_f16, S, HF, N, N, NC);
	def(0x1d3, v_cvt_i16_f16, S, HF, N, N, NC);
	def(0x1d4, v_rcp_f16, HF, HF, N, N, 0);
	def(0x1d5, v_sqrt_f16, HF, HF, N, N, 0);
	def(0x1d6, v_rsq_f16, HF, HF, N, N, 0);
	def(0x1d7, v_log_f16, HF, HF, N, N, 0);
	def(0x1d8, v_exp_f16, HF, HF, N, N, 0);
	def(0x1d9, v_frexp_mant_f16, HF, HF, N, N, 0);
	def(0x1da, v_frexp_exp_i16_f16, S, HF, N, N, NC);
	def(0x1db, v_floor_f16, HF, HF, N, N, 0);
	def(0x1dc, v_ceil_f16, HF, HF, N, N, 0);
	def(0x1dd, v_trunc_f16, HF, HF, N, N, 0);
	def(0x1de, v_rndne_f16, HF, HF, N, N, 0);
	def(0x1df, v_fract_f16, HF, HF, N, N, 0);
	def(0x1e0, v_sin_f16, HF, HF, N, N, 0);
	def(0x1e1, v_cos_f16, HF, HF, N, N, 0);
	def(0x1e2, v_sat_pk_u8_i16, S, B, N, N, NC);
	def(0x1e3, v_cvt_norm_i16_f16, S, HF, N, N, NC);
	def(0x1e4, v_cvt_norm_u16_f16, S, HF, N, N, NC);
	def(0x1e5, v_swap_b32, B, B, N, N, NC);
	def(0x1e9, v_not_b16, S, S, N, N, NC);
	def(0x1ea, v_cvt_i32_i16, B, S, N, N, NC);
	def(0x1eb, v_cvt_u32_u16, B, S, N, N, NC);
	/* VOP3-only */
	def(0x209, v_fma_dx9_zero_f32, F, F, F, F, 0);
	def(0x20a, v_mad_i32_i24, B, B, B, B, NC);
	def(0x20b, v_mad_u32_u24, B, B, B, B, NC);
	def(0x210, v_bfe_u32, B, B, B, B, NC);
	def(0x211, v_bfe_i32, B, B, B, B, NC);
	def(0x212, v_bfi_b32, B, B, B, B, NC);
	def(0x213, v_fma_f32, F, F, F, F, 0);
	def(0x214, v_fma_f64, D, D, D, D, 0);
	def(0x216, v_alignbit_b32, B, B, B, B, NC);
	def(0x217, v_alignbyte_b32, B, B, B, B, NC);
	def(0x219, v_min3_f32, F, F, F, F, 0);
	def(0x21a, v_min3_i32, B, B, B, B, NC);
	def(0x21b, v_min3_u32, B, B, B, B, NC);
	def(0x21c, v_max3_f32, F, F, F, F, 0);
	def(0x21d, v_max3_i32, B, B, B, B, NC);
	def(0x21e, v_max3_u32, B, B, B, B, NC);
	def(0x21f, v_med3_f32, F, F, F, F, 0);
	def(0x220, v_med3_i32, B, B, B, B, NC);
	def(0x221, v_med3_u32, B, B, B, B, NC);
	def(0x222, v_sad_u8, B, B, B, B, NC);
	def(0x224, v_sad_u16, B, B, B, B, NC);
	def(0x225, v_sad_u32, B, B, B, B, NC);
	def(0x226, v_cvt_pk_u8_f32, B, F, B, B, NC);
	def(0x227, v_div_fixup_f32, F, F, F, F, 0);
	def(0x228, v_div_fixup_f64, D, D, D, D, 0);
	def(0x237, v_div_fmas_f32, F, F, F, F, 0);
	def(0x238, v_div_fmas_f64, D, D, D, D, 0);
	def(0x240, v_xor3_b32, B, B, B, B, NC);
	def(0x241, v_mad_u16, S, S, S, S, NC);
	def(0x244, v_perm_b32, B, B, B, B, NC);
	def(0x245, v_xad_u32, B, B, B, B, NC);
	def(0x246, v_lshl_add_u32, B, B, B, B, NC);
	def(0x247, v_add_lshl_u32, B, B, B, B, NC);
	def(0x248, v_fma_f16, HF, HF, HF, HF, 0);
	def(0x249, v_min3_f16, HF, HF, HF, HF, 0);
	def(0x24a, v_min3_i16, S, S, S, S, NC);
	def(0x24b, v_min3_u16, S, S, S, S, NC);
	def(0x24c, v_max3_f16, HF, HF, HF, HF, 0);
	def(0x24d, v_max3_i16, S, S, S, S, NC);
	def(0x24e, v_max3_u16, S, S, S, S, NC);
	def(0x24f, v_med3_f16, HF, HF, HF, HF, 0);
	def(0x250, v_med3_i16, S, S, S, S, NC);
	def(0x251, v_med3_u16, S, S, S, S, NC);
	def(0x253, v_mad_i16, S, S, S, S, NC);
	def(0x254, v_div_fixup_f16, HF, HF, HF, HF, 0);
	def(0x255, v_add3_u32, B, B, B, B, NC);
	def(0x256, v_lshl_or_b32, B, B, B, B, NC);
	def(0x257, v_and_or_b32, B, B, B, B, NC);
	def(0x258, v_or3_b32, B, B, B, B, NC);
	def(0x259, v_mad_u32_u16, B, S, S, B, NC);
	def(0x25a, v_mad_i32_i16, B, S, S, B, NC);
	def(0x25b, v_permlane16_b32, B, B, B, B, NC | OPF_LANE);
	def(0x25c, v_permlanex16_b32, B, B, B, B, NC | OPF_LANE);
	def(0x25d, v_cndmask_b16, S, HF, HF, B, NC);
	def(0x25e, v_maxmin_f32, F, F, F, F, 0);
	def(0x25f, v_minmax_f32, F, F, F, F, 0);
	def(0x260, v_maxmin_f16, HF, HF, HF, HF, 0);
	def(0x261, v_minmax_f16, HF, HF, HF, HF, 0);
	def(0x262, v_maxmin_u32, B, B, B, B, NC);
	def(0x263, v_minmax_u32, B, B, B, B, NC);
	def(0x264, v_maxmin_i32, B, B, B, B, NC);
	def(0x265, v_minmax_i32, B, B, B, B, NC);
	def(0x2fc, v_div_scale_f32, F, F, F, F, NC);
	def(0x2fd, v_div_scale_f64, D, D, D, D, NC);
	def(0x2fe, v_mad_u64_u32, Q, B, B, Q, NC);
	def(0x2ff, v_mad_i64_i32, Q, B, B, Q, NC);
	def(0x300, v_add_co_u32, B, B, B, N, NC);
	def(0x301, v_sub_co_u32, B, B, B, N, NC);
	def(0x302, v_subrev_co_u32, B, B, B, N, NC);
	def(0x303, v_add_nc_u16, S, S, S, N, 0);
	def(0x304, v_sub_nc_u16, S, S, S, N, 0);
	def(0x305, v_mul_lo_u16, S, S, S, N, NC);
	def(0x306, v_cvt_pk_i16_f32, B, F, F, N, NC);
	def(0x307, v_cvt_pk_u16_f32, B, F, F, N, NC);
	def(0x309, v_max_u16, S, S, S, N, NC);
	def(0x30a, v_max_i16, S, S, S, N, NC);
	def(0x30b, v_min_u16, S, S, S, N, NC);
	def(0x30c, v_min_i16, S, S, S, N, NC);
	def(0x30d, v_add_nc_i16, S, S, S, N, 0);
	def(0x30e, v_sub_nc_i16, S, S, S, N, 0);
	def(0x311, v_pack_b32_f16, B, HF, HF, N, NC);
	def(0x312, v_cvt_pk_norm_i16_f16, B, HF, HF, N, NC);
	def(0x313, v_cvt_pk_norm_u16_f16, B, HF, HF, N, NC);
	def(0x31c, v_ldexp_f32, F, F, B, N, 0);
	def(0x31d, v_bfm_b32, B, B, B, N, NC);
	def(0x31e, v_bcnt_u32_b32, B, B, B, N, NC);
	def(0x31f, v_mbcnt_lo_u32_b32, B, B, B, N, NC);
	def(0x320, v_mbcnt_hi_u32_b32, B, B, B, N, NC);
	def(0x321, v_cvt_pk_norm_i16_f32, B, F, F, N, NC);
	def(0x322, v_cvt_pk_norm_u16_f32, B, F, F, N, NC);
	def(0x323, v_cvt_pk_u16_u32, B, B, B, N, NC);
	def(0x324, v_cvt_pk_i16_i32, B, B, B, N, NC);
	def(0x325, v_sub_nc_i32, B, B, B, N, 0);
	def(0x326, v_add_nc_i32, B, B, B, N, 0);
	def(0x327, v_add_f64, D, D, D, N, 0);
	def(0x328, v_mul_f64, D, D, D, N, 0);
	def(0x329, v_min_f64, D, D, D, N, 0);
	def(0x32a, v_max_f64, D, D, D, N, 0);
	def(0x32b, v_ldexp_f64, D, D, B, N, 0);
	def(0x32c, v_mul_lo_u32, B, B, B, N, NC);
	def(0x32d, v_mul_hi_u32, B, B, B, N, NC);
	def(0x32e, v_mul_hi_i32, B, B, B, N, NC);
	def(0x32f, v_trig_preop_f64, D, D, B, N, NC);
	def(0x338, v_lshlrev_b16, S, S, S, N, NC);
	def(0x339, v_lshrrev_b16, S, S, S, N, NC);
	def(0x33a, v_ashrrev_i16, S, S, S, N, NC);
	def(0x33c, v_lshlrev_b64, Q, B, Q, N, NC);
	def(0x33d, v_lshrrev_b64, Q, B, Q, N, NC);
	def(0x33e, v_ashrrev_i64, Q, B, Q, N, NC);
	def(0x360, v_readlane_b32, B, B, B, N, OPF_SDST | NC | OPF_LANE);
	def(0x361, v_writelane_b32, B, B, B, N, NC | OPF_LANE);
	def(0x362, v_and_b16, S, S, S, N, NC);
	def(0x363, v_or_b16, S, S, S, N, NC);
	def(0x364, v_xor_b16, S, S, S, N, NC);
}

const struct opinfo *vop3p_op(unsigned op);

const struct opinfo *valu_op(unsigned canon)
{
	pthread_once(&table_once, build_table);
	if (canon >= 0x500)
		return vop3p_op(canon - 0x500);
	if (canon >= sizeof table / sizeof table[0] || !table[canon].fn)
		return NULL;
	return &table[canon];
}
