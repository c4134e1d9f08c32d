/* VOP3P: packed 16-bit math, dot products, mixed-precision FMA and the
 * matrix cores (v_wmma_*). */
#include <math.h>

#include "sim/isa/lanes.h"

/* The low and high 16-bit halves a packed operand feeds the two results:
 * op_sel picks the half for the low result, op_sel_hi for the high one;
 * neg/neg_hi negate float halves. */
static void fetch_pk(struct wave *w, const struct inst *in, int i, bool is_float, uint16_t *lo, uint16_t *hi)
{
	uint32_t tmp[LANES];
	const struct src *s = &in->src[i];
	const uint32_t *p;
	if (s->kind == SRC_VGPR) {
		p = w->v[s->reg];
	} else {
		uint32_t x = read_ssrc(w, s);
		LOOP tmp[l] = x;
		p = tmp;
	}
	unsigned bit = 1u << i;
	unsigned sl = (in->opsel & bit) ? 16 : 0, sh = (in->opsel_hi & bit) ? 16 : 0;
	uint16_t nl = is_float && (in->neg & bit) ? 0x8000 : 0, nh = is_float && (in->neg_hi & bit) ? 0x8000 : 0;
	LOOP {
		lo[l] = (uint16_t)(p[l] >> sl) ^ nl;
		hi[l] = (uint16_t)(p[l] >> sh) ^ nh;
	}
}

#define PK_HEAD(nsrc, is_float)                                                            \
	uint16_t al[LANES], ah[LANES], bl[LANES] = { 0 }, bh[LANES] = { 0 }, cl[LANES] = { 0 }, ch[LANES] = { 0 }; \
	uint32_t r[LANES];                                                                  \
	fetch_pk(w, in, 0, is_float, al, ah);                                               \
	if (nsrc > 1)                                                                       \
		fetch_pk(w, in, 1, is_float, bl, bh);                                       \
	if (nsrc > 2)                                                                       \
		fetch_pk(w, in, 2, is_float, cl, ch);                                       \
	(void)cl; (void)ch; (void)bl; (void)bh

#define PK_INT(name, nsrc, EXPR)                                                           \
	H(name)                                                                             \
	{                                                                                   \
		PK_HEAD(nsrc, false);                                                       \
		LOOP {                                                                      \
			uint16_t lo, hi;                                                    \
			{ uint16_t a = al[l], b = bl[l], c = cl[l]; (void)b; (void)c; lo = (uint16_t)(EXPR); } \
			{ uint16_t a = ah[l], b = bh[l], c = ch[l]; (void)b; (void)c; hi = (uint16_t)(EXPR); } \
			r[l] = lo | (uint32_t)hi << 16;                                     \
		}                                                                           \
		store32(w, in, r, T_B32);                                                   \
	}
#define PK_F16(name, nsrc, EXPR)                                                           \
	H(name)                                                                             \
	{                                                                                   \
		PK_HEAD(nsrc, true);                                                        \
		LOOP {                                                                      \
			uint16_t lo, hi;                                                    \
			{ double a = f32_from_f16(al[l]), b = f32_from_f16(bl[l]), c = f32_from_f16(cl[l]); \
			  (void)b; (void)c; lo = clamp16(in, f16_from_f64(EXPR)); }      \
			{ double a = f32_from_f16(ah[l]), b = f32_from_f16(bh[l]), c = f32_from_f16(ch[l]); \
			  (void)b; (void)c; hi = clamp16(in, f16_from_f64(EXPR)); }      \
			r[l] = lo | (uint32_t)hi << 16;                                     \
		}                                                                           \
		store32(w, in, r, T_B32);                                                   \
	}

static uint16_t clamp16(const struct inst *in, uint16_t h)
{
	if (!in->clamp)
		return h;
	float f = f32_from_f16(h);
	return f16_from_f32(isnan(f) ? 0.0f : f < 0.0f ? 0.0f : f > 1.0f ? 1.0f : f);
}

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

PK_INT(v_pk_mad_i16, 3, (int16_t)a * (int16_t)b + (int16_t)c)
PK_INT(v_pk_mul_lo_u16, 2, a * b)
PK_INT(v_pk_add_i16, 2, in->clamp ? MAX(MIN((int)(int16_t)a + (int16_t)b, 32767), -32768) : a + b)
PK_INT(v_pk_sub_i16, 2, in->clamp ? MAX(MIN((int)(int16_t)a - (int16_t)b, 32767), -32768) : a - b)
PK_INT(v_pk_lshlrev_b16, 2, b << (a & 15))
PK_INT(v_pk_lshrrev_b16, 2, b >> (a & 15))
PK_INT(v_pk_ashrrev_i16, 2, (int16_t)b >> (a & 15))
PK_INT(v_pk_max_i16, 2, MAX((int16_t)a, (int16_t)b))
PK_INT(v_pk_min_i16, 2, MIN((int16_t)a, (int16_t)b))
PK_INT(v_pk_mad_u16, 3, a * b + c)
PK_INT(v_pk_add_u16, 2, in->clamp ? MIN((int)a + b, 65535) : a + b)
PK_INT(v_pk_sub_u16, 2, in->clamp ? MAX((int)a - b, 0) : a - b)
PK_INT(v_pk_max_u16, 2, MAX(a, b))
PK_INT(v_pk_min_u16, 2, MIN(a, b))
PK_F16(v_pk_fma_f16, 3, fma(a, b, c))
PK_F16(v_pk_add_f16, 2, a + b)
PK_F16(v_pk_mul_f16, 2, a * b)
PK_F16(v_pk_min_f16, 2, ieee_min32(w, (float)a, (float)b))
PK_F16(v_pk_max_f16, 2, ieee_max32(w, (float)a, (float)b))

/* v_pk_fmac_f16 (VOP2 encoding): D = S0 * S1 + D on both halves */
H(v_pk_fmac_f16)
{
	uint32_t t0[LANES], t1[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1), *C = w->v[in->dst];
	LOOP {
		uint32_t x = 0;
		for (int h = 0; h < 32; h += 16) {
			double a = f32_from_f16((uint16_t)(A[l] >> h)), b = f32_from_f16((uint16_t)(B[l] >> h));
			double c = f32_from_f16((uint16_t)(C[l] >> h));
			x |= (uint32_t)f16_from_f64(fma(a, b, c)) << h;
		}
		r[l] = x;
	}
	store32(w, in, r, T_B32);
}

/* ---- dot products ---------------------------------------------------------- */

H(v_dot2_f32_f16)
{
	PK_HEAD(2, true);
	uint32_t t2[LANES];
	const uint32_t *C = fetch32(w, in, 2, t2);
	LOOP {
		double s = (double)f32_from_f16(al[l]) * f32_from_f16(bl[l]) +
			   (double)f32_from_f16(ah[l]) * f32_from_f16(bh[l]) + f32_of(C[l]);
		r[l] = u32_of((float)s);
	}
	store32(w, in, r, T_F32);
}

H(v_dot2_f32_bf16)
{
	PK_HEAD(2, true);
	uint32_t t2[LANES];
	const uint32_t *C = fetch32(w, in, 2, t2);
	LOOP {
		double s = (double)f32_from_bf16(al[l]) * f32_from_bf16(bl[l]) +
			   (double)f32_from_bf16(ah[l]) * f32_from_bf16(bh[l]) + f32_of(C[l]);
		r[l] = u32_of((float)s);
	}
	store32(w, in, r, T_F32);
}

/* Integer dots: for the mixed-sign forms, neg[0]/neg[1] say whether A/B are signed. */
static void dot_int(struct wave *w, const struct inst *in, int bits, bool can_sign)
{
	uint32_t t0[LANES], t1[LANES], t2[LANES], r[LANES];
	const uint32_t *A = fetch32(w, in, 0, t0), *B = fetch32(w, in, 1, t1), *C = fetch32(w, in, 2, t2);
	bool sa = can_sign && (in->neg & 1), sb = can_sign && (in->neg & 2);
	int n = 32 / bits;
	uint32_t m = (1u << bits) - 1;
	LOOP {
		int64_t acc = can_sign ? (int64_t)(int32_t)C[l] : (int64_t)C[l];
		for (int k = 0; k < n; k++) {
			int64_t a = (A[l] >> (k * bits)) & m, b = (B[l] >> (k * bits)) & m;
			if (sa && (a >> (bits - 1)))
				a -= (int64_t)1 << bits;
			if (sb && (b >> (bits - 1)))
				b -= (int64_t)1 << bits;
			acc += a * b;
		}
		if (in->clamp)
			acc = can_sign ? MAX(MIN(acc, INT32_MAX), INT32_MIN) : MIN(acc, (int64_t)UINT32_MAX);
		r[l] = (uint32_t)acc;
	}
	store32(w, in, r, T_B32);
}
H(v_dot4_i32_iu8) { dot_int(w, in, 8, true); }
H(v_dot4_u32_u8) { dot_int(w, in, 8, false); }
H(v_dot8_i32_iu4) { dot_int(w, in, 4, true); }
H(v_dot8_u32_u4) { dot_int(w, in, 4, false); }

/* ---- mixed precision FMA ----------------------------------------------------
 * op_sel_hi[i] says source i is a half (op_sel[i] picks which), else f32. */
static void fma_mix(struct wave *w, const struct inst *in, int out)
{
	uint32_t t[3][LANES], r[LANES];
	const uint32_t *S[3];
	for (int i = 0; i < 3; i++) {
		const struct src *s = &in->src[i];
		if (s->kind == SRC_VGPR) {
			S[i] = w->v[s->reg];
		} else {
			uint32_t x = read_ssrc(w, s);
			LOOP t[i][l] = x;
			S[i] = t[i];
		}
	}
	LOOP {
		float v[3];
		for (int i = 0; i < 3; i++) {
			unsigned bit = 1u << i;
			float f = (in->opsel_hi & bit) ? f32_from_f16((uint16_t)(S[i][l] >> ((in->opsel & bit) ? 16 : 0)))
						      : f32_of(S[i][l]);
			if (in->neg_hi & bit)
				f = fabsf(f);
			if (in->neg & bit)
				f = -f;
			v[i] = f;
		}
		float x = fmaf(v[0], v[1], v[2]);
		if (in->clamp)
			x = isnan(x) ? 0.0f : x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
		r[l] = u32_of(x);
	}
	if (out == 0) {
		masked_copy(w->v[in->dst], r, exec_of(w));
		return;
	}
	uint32_t mask = exec_of(w), *d = w->v[in->dst];
	LOOP if (mask >> l & 1) {
		uint32_t h = f16_from_f32(f32_of(r[l]));
		d[l] = out == 1 ? (d[l] & 0xffff0000u) | h : (d[l] & 0xffffu) | h << 16;
	}
}
H(v_fma_mix_f32) { fma_mix(w, in, 0); }
H(v_fma_mixlo_f16) { fma_mix(w, in, 1); }
H(v_fma_mixhi_f16) { fma_mix(w, in, 2); }

/* ---- WMMA ---------------------------------------------------------------------
 * D = A x B + C on a 16x16x16 tile, wave32 layout (RDNA3 ISA, "WMMA"):
 * A row i is in lane i (lanes 16-31 repeat it), element k in VGPR k/E,
 * part k%E (E elements per VGPR); B column j likewise in lane j; C and D
 * element (i, j) is in lane j + 16*(i%2), VGPR i/2.  Each output is summed
 * in k order, rounding after each step: acc = C; acc += A[i][k]*B[k][j]. */

enum wmma_in { W_F16, W_BF16, W_IU8, W_IU4 };

static double wmma_elem(const struct wave *w, unsigned reg, int lane, int k, enum wmma_in kind, bool is_signed)
{
	switch (kind) {
	case W_F16: return f32_from_f16((uint16_t)(w->v[reg + k / 2][lane] >> (16 * (k & 1))));
	case W_BF16: return f32_from_bf16((uint16_t)(w->v[reg + k / 2][lane] >> (16 * (k & 1))));
	case W_IU8: {
		uint32_t b = (w->v[reg + k / 4][lane] >> (8 * (k & 3))) & 0xff;
		return is_signed ? (double)(int8_t)b : (double)b;
	}
	default: {
		uint32_t n = (w->v[reg + k / 8][lane] >> (4 * (k & 7))) & 0xf;
		return is_signed ? (double)((int32_t)(n << 28) >> 28) : (double)n;
	}
	}
}

/* out: 0 f32, 1 f16, 2 bf16, 3 i32 */
static void wmma(struct wave *w, const struct inst *in, enum wmma_in kind, int out)
{
	if (in->src[0].kind != SRC_VGPR || in->src[1].kind != SRC_VGPR) {
		wave_fault(w, in, ISA_ILLEGAL_INSTRUCTION, 0, "v_wmma needs VGPR operands for A and B");
		return;
	}
	unsigned ra = in->src[0].reg, rb = in->src[1].reg;
	bool ints = kind == W_IU8 || kind == W_IU4;
	bool sa = ints && (in->neg & 1), sb = ints && (in->neg & 2);
	double neg_a = !ints && (in->neg & 1) ? -1.0 : 1.0, neg_b = !ints && (in->neg & 2) ? -1.0 : 1.0;
	double a[16][16], b[16][16];
	for (int i = 0; i < 16; i++)
		for (int k = 0; k < 16; k++) {
			a[i][k] = neg_a * wmma_elem(w, ra, i, k, kind, sa);
			b[k][i] = neg_b * wmma_elem(w, rb, i, k, kind, sb);
		}
	/* 16-bit accumulators live in the low halves, or the high ones with op_sel[2] */
	unsigned half = (in->opsel & 4) ? 16 : 0;
	uint32_t res[8][LANES];
	for (int i = 0; i < 16; i++) {
		for (int j = 0; j < 16; j++) {
			int lane = j + 16 * (i & 1), vg = i / 2;
			uint32_t cbits = in->src[2].kind == SRC_VGPR ? w->v[in->src[2].reg + vg][lane]
								     : (uint32_t)in->src[2].value;
			if (out == 3) {
				int64_t acc = (int32_t)cbits;
				for (int k = 0; k < 16; k++)
					acc += (int64_t)a[i][k] * (int64_t)b[k][j];
				if (in->clamp)
					acc = MAX(MIN(acc, INT32_MAX), INT32_MIN);
				res[vg][lane] = (uint32_t)acc;
			} else if (out == 0) {
				float acc = f32_of(cbits);
				if (in->neg & 4)
					acc = -acc;
				for (int k = 0; k < 16; k++)
					acc = acc + (float)(a[i][k] * b[k][j]);	/* products are exact */
				res[vg][lane] = u32_of(acc);
			} else {
				uint16_t cb = (uint16_t)(cbits >> half);
				float acc = out == 1 ? f32_from_f16(cb) : f32_from_bf16(cb);
				if (in->neg & 4)
					acc = -acc;
				for (int k = 0; k < 16; k++)
					acc = acc + (float)(a[i][k] * b[k][j]);
				uint32_t h = out == 1 ? f16_from_f32(acc) : bf16_from_f32(acc);
				uint32_t keep = w->v[in->dst + vg][lane] & (0xffffu << (16 - half));
				res[vg][lane] = keep | h << half;
			}
		}
	}
	/* the whole tile is written at once: D may be C */
	for (int vg = 0; vg < 8; vg++)
		memcpy(w->v[in->dst + vg], res[vg], sizeof res[vg]);
}
H(v_wmma_f32_16x16x16_f16) { wmma(w, in, W_F16, 0); }
H(v_wmma_f32_16x16x16_bf16) { wmma(w, in, W_BF16, 0); }
H(v_wmma_f16_16x16x16_f16) { wmma(w, in, W_F16, 1); }
H(v_wmma_bf16_16x16x16_bf16) { wmma(w, in, W_BF16, 2); }
H(v_wmma_i32_16x16x16_iu8) { wmma(w, in, W_IU8, 3); }
H(v_wmma_i32_16x16x16_iu4) { wmma(w, in, W_IU4, 3); }

/* ---- table ---------------------------------------------------------------------- */

enum { N = T_NONE, B = T_B32, F = T_F32, P = T_PK16, PF = T_PKF16 };
#define NC OPF_NOCLAMP
#define OPI(fn, dt, t0, t1, t2, fl) { fn, dt, t0, t1, t2, fl }

static const struct opinfo vop3p[0x46] = {
	[0x00] = OPI(v_pk_mad_i16, P, P, P, P, NC), [0x01] = OPI(v_pk_mul_lo_u16, P, P, P, N, NC),
	[0x02] = OPI(v_pk_add_i16, P, P, P, N, 0), [0x03] = OPI(v_pk_sub_i16, P, P, P, N, 0),
	[0x04] = OPI(v_pk_lshlrev_b16, P, P, P, N, NC), [0x05] = OPI(v_pk_lshrrev_b16, P, P, P, N, NC),
	[0x06] = OPI(v_pk_ashrrev_i16, P, P, P, N, NC), [0x07] = OPI(v_pk_max_i16, P, P, P, N, NC),
	[0x08] = OPI(v_pk_min_i16, P, P, P, N, NC), [0x09] = OPI(v_pk_mad_u16, P, P, P, P, NC),
	[0x0a] = OPI(v_pk_add_u16, P, P, P, N, 0), [0x0b] = OPI(v_pk_sub_u16, P, P, P, N, 0),
	[0x0c] = OPI(v_pk_max_u16, P, P, P, N, NC), [0x0d] = OPI(v_pk_min_u16, P, P, P, N, NC),
	[0x0e] = OPI(v_pk_fma_f16, PF, PF, PF, PF, 0), [0x0f] = OPI(v_pk_add_f16, PF, PF, PF, N, 0),
	[0x10] = OPI(v_pk_mul_f16, PF, PF, PF, N, 0), [0x11] = OPI(v_pk_min_f16, PF, PF, PF, N, 0),
	[0x12] = OPI(v_pk_max_f16, PF, PF, PF, N, 0), [0x13] = OPI(v_dot2_f32_f16, F, PF, PF, F, NC),
	[0x16] = OPI(v_dot4_i32_iu8, B, B, B, B, 0), [0x17] = OPI(v_dot4_u32_u8, B, B, B, B, 0),
	[0x18] = OPI(v_dot8_i32_iu4, B, B, B, B, 0), [0x19] = OPI(v_dot8_u32_u4, B, B, B, B, 0),
	[0x1a] = OPI(v_dot2_f32_bf16, F, P, P, F, NC), [0x20] = OPI(v_fma_mix_f32, F, B, B, B, 0),
	[0x21] = OPI(v_fma_mixlo_f16, F, B, B, B, 0), [0x22] = OPI(v_fma_mixhi_f16, F, B, B, B, 0),
	[0x40] = OPI(v_wmma_f32_16x16x16_f16, F, B, B, F, NC), [0x41] = OPI(v_wmma_f32_16x16x16_bf16, F, B, B, F, NC),
	[0x42] = OPI(v_wmma_f16_16x16x16_f16, B, B, B, PF, NC),
	[0x43] = OPI(v_wmma_bf16_16x16x16_bf16, B, B, B, P, NC), [0x44] = OPI(v_wmma_i32_16x16x16_iu8, B, B, B, B, 0),
	[0x45] = OPI(v_wmma_i32_16x16x16_iu4, B, B, B, B, 0),
};

static const struct opinfo pk_fmac = OPI(v_pk_fmac_f16, B, B, B, N, NC);

const struct opinfo *vop3p_op(unsigned op);
const struct opinfo *vop3p_op(unsigned op)
{
	if (op < sizeof vop3p / sizeof vop3p[0] && vop3p[op].fn)
		return &vop3p[op];
	return NULL;
}

/* The VOP2 encoding's packed FMAC (v_pk_fmac_f16) lives here too. */
const struct opinfo *vop2_pk_fmac(void);
const struct opinfo *vop2_pk_fmac(void) { return &pk_fmac; }
