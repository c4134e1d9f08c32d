/* Floating-point details of the RDNA3 ALUs that the host's do not share:
 * half conversions, NaN rules, IEEE-mode min/max, integer conversions with
 * saturation, and the transcendental units. */
#include <math.h>

#include "sim/isa/internal.h"

/* ---- half precision ------------------------------------------------------- */

/* Round-to-nearest-even of mm >> shift (shift >= 1). */
static uint32_t rne_shift(uint64_t mm, unsigned shift)
{
	if (shift >= 64)
		return 0;
	uint64_t q = mm >> shift;
	uint64_t rem = mm & ((1ull << shift) - 1);
	uint64_t half = 1ull << (shift - 1);
	if (rem > half || (rem == half && (q & 1)))
		q++;
	return (uint32_t)q;
}

/* Sign, unbiased exponent and 1.m mantissa (mbits fraction bits) to half. */
static uint16_t half_from_parts(uint16_t sign, int exp, uint64_t mant, unsigned mbits, bool rtz)
{
	int hexp = exp + 15;
	if (hexp >= 31)
		return rtz ? (uint16_t)(sign | 0x7bff) : (uint16_t)(sign | 0x7c00);
	if (hexp <= 0) {
		/* f16 denormal: value = mant * 2^(exp - mbits), unit 2^-24 */
		int shift = (int)mbits - 24 - exp;	/* bits to drop */
		if (shift > 63)
			return sign;
		uint32_t q = rtz ? (uint32_t)(mant >> shift) : rne_shift(mant, (unsigned)shift);
		return (uint16_t)(sign | q);
	}
	unsigned drop = mbits - 10;
	uint64_t full = ((uint64_t)hexp << mbits) | (mant & ((1ull << mbits) - 1));
	/* rounding may carry into the exponent, which is the right answer */
	uint32_t q = rtz ? (uint32_t)(full >> drop) : rne_shift(full, drop);
	if (q >= 0x7c00)
		return rtz ? (uint16_t)(sign | 0x7bff) : (uint16_t)(sign | 0x7c00);
	return (uint16_t)(sign | q);
}

static uint16_t half_from_f32(float f, bool rtz)
{
	uint32_t x = u32_of(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t e = (x >> 23) & 0xff, m = x & 0x7fffff;
	if (e == 0xff)
		return (uint16_t)(sign | 0x7c00 | (m ? 0x200 | (m >> 13) : 0));
	if (e == 0)
		return sign;	/* f32 denormals are far below the half range */
	return half_from_parts(sign, (int)e - 127, m | 0x800000, 23, rtz);
}

uint16_t f16_from_f32(float f) { return half_from_f32(f, false); }
uint16_t f16_from_f32_rtz(float f) { return half_from_f32(f, true); }

uint16_t f16_from_f64(double d)
{
	uint64_t x = u64_of(d);
	uint16_t sign = (uint16_t)((x >> 48) & 0x8000);
	uint32_t e = (uint32_t)(x >> 52) & 0x7ff;
	uint64_t m = x & 0xfffffffffffffull;
	if (e == 0x7ff)
		return (uint16_t)(sign | 0x7c00 | (m ? 0x200 | (uint32_t)(m >> 42) : 0));
	if (e == 0)
		return sign;
	return half_from_parts(sign, (int)e - 1023, m | (1ull << 52), 52, false);
}

float f32_from_f16(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
	if (e == 0x1f)
		return f32_of(sign | 0x7f800000 | (m << 13));
	if (e == 0) {
		if (m == 0)
			return f32_of(sign);
		/* denormal: m * 2^-24, exact in f32 */
		float v = (float)m * 0x1p-24f;
		return sign ? -v : v;
	}
	return f32_of(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t bf16_from_f32(float f)
{
	uint32_t x = u32_of(f);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((x >> 16) | 0x40);
	return (uint16_t)rne_shift(x, 16);
}

float f32_from_bf16(uint16_t h) { return f32_of((uint32_t)h << 16); }

/* ---- NaNs and special values ---------------------------------------------- */

bool is_snan32(uint32_t u) { return (u & 0x7f800000) == 0x7f800000 && (u & 0x7fffff) && !(u & 0x400000); }
bool is_snan64(uint64_t u)
{
	return (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (u & 0xfffffffffffffull) &&
	       !(u & 0x8000000000000ull);
}
bool is_snan16(uint16_t u) { return (u & 0x7c00) == 0x7c00 && (u & 0x3ff) && !(u & 0x200); }

float flush_f32(float f)
{
	uint32_t u = u32_of(f);
	return (u & 0x7f800000) == 0 ? f32_of(u & 0x80000000) : f;
}

/* The result NaN of an arithmetic operation: the first NaN operand, quieted,
 * else the default NaN (the hardware's is positive, unlike x86's). */
float nan_fix32(float r, float a, float b)
{
	if (!isnan(r))
		return r;
	if (isnan(a))
		return f32_of(u32_of(a) | 0x400000);
	if (isnan(b))
		return f32_of(u32_of(b) | 0x400000);
	return f32_of(0x7fc00000);
}

/* f32/f64 to integer: truncation toward zero, saturating, NaN gives 0. */
int32_t cvt_f32_i32(float f)
{
	if (isnan(f))
		return 0;
	if (f >= 2147483648.0f)
		return INT32_MAX;
	if (f <= -2147483648.0f)
		return INT32_MIN;
	return (int32_t)f;
}

uint32_t cvt_f32_u32(float f)
{
	if (isnan(f) || f <= 0.0f)
		return 0;
	if (f >= 4294967296.0f)
		return UINT32_MAX;
	return (uint32_t)f;
}

int32_t cvt_f64_i32(double f)
{
	if (isnan(f))
		return 0;
	if (f >= 2147483648.0)
		return INT32_MAX;
	if (f <= -2147483649.0)
		return INT32_MIN;
	return (int32_t)f;
}

uint32_t cvt_f64_u32(double f)
{
	if (isnan(f) || f <= 0.0)
		return 0;
	if (f >= 4294967296.0)
		return UINT32_MAX;
	return (uint32_t)f;
}

/* v_min/v_max: -0 orders below +0; in IEEE mode a signalling NaN wins
 * (quieted) and a quiet NaN loses; otherwise any NaN loses. */
static float minmax32(const struct wave *w, float a, float b, bool want_min)
{
	uint32_t ua = u32_of(a), ub = u32_of(b);
	if (w->ieee) {
		if (is_snan32(ua))
			return f32_of(ua | 0x400000);
		if (is_snan32(ub))
			return f32_of(ub | 0x400000);
	}
	if (isnan(b))
		return a;
	if (isnan(a))
		return b;
	if (a == b && a == 0.0f) {
		bool a_neg = ua >> 31;
		return want_min ? (a_neg ? a : b) : (a_neg ? b : a);
	}
	return want_min ? (a < b ? a : b) : (a > b ? a : b);
}

float ieee_min32(const struct wave *w, float a, float b) { return minmax32(w, a, b, true); }
float ieee_max32(const struct wave *w, float a, float b) { return minmax32(w, a, b, false); }

static double minmax64(const struct wave *w, double a, double b, bool want_min)
{
	uint64_t ua = u64_of(a), ub = u64_of(b);
	if (w->ieee) {
		if (is_snan64(ua))
			return f64_of(ua | 0x8000000000000ull);
		if (is_snan64(ub))
			return f64_of(ub | 0x8000000000000ull);
	}
	if (isnan(b))
		return a;
	if (isnan(a))
		return b;
	if (a == b && a == 0.0) {
		bool a_neg = ua >> 63;
		return want_min ? (a_neg ? a : b) : (a_neg ? b : a);
	}
	return want_min ? (a < b ? a : b) : (a > b ? a : b);
}

double ieee_min64(const struct wave *w, double a, double b) { return minmax64(w, a, b, true); }
double ieee_max64(const struct wave *w, double a, double b) { return minmax64(w, a, b, false); }

/* ---- transcendental units -------------------------------------------------
 * The hardware computes these to about 1 ulp and does not handle denormals:
 * they are flushed on the way in and out (LLVM's expansions scale around
 * that).  We compute in double precision and round once. */

static float trans_out(double r)
{
	return flush_f32((float)r);
}

float amd_exp2f(float x)
{
	x = flush_f32(x);
	if (isnan(x))
		return f32_of(u32_of(x) | 0x400000);
	return trans_out(exp2((double)x));
}

float amd_log2f(float x)
{
	x = flush_f32(x);
	if (isnan(x))
		return f32_of(u32_of(x) | 0x400000);
	if (x == 0.0f)
		return -INFINITY;
	if (x < 0.0f)
		return f32_of(0x7fc00000);
	return trans_out(log2((double)x));
}

float amd_rcpf(float x)
{
	x = flush_f32(x);
	if (isnan(x))
		return f32_of(u32_of(x) | 0x400000);
	return trans_out(1.0 / (double)x);
}

float amd_rsqf(float x)
{
	x = flush_f32(x);
	if (isnan(x))
		return f32_of(u32_of(x) | 0x400000);
	if (x < 0.0f)
		return f32_of(0x7fc00000);
	if (x == 0.0f)
		return copysignf(INFINITY, x);
	return trans_out(1.0 / sqrt((double)x));
}

float amd_sqrtf(float x)
{
	x = flush_f32(x);
	if (isnan(x))
		return f32_of(u32_of(x) | 0x400000);
	if (x < 0.0f)
		return f32_of(0x7fc00000);
	return trans_out(sqrt((double)x));
}

/* v_sin_f32 and v_cos_f32 take their argument in revolutions. */
static double revolutions(float x)
{
	double r = (double)x;
	return r - nearbyint(r);
}

float amd_sinf(float x)
{
	x = flush_f32(x);
	if (isnan(x) || isinf(x))
		return f32_of(0x7fc00000);
	return trans_out(sin(2.0 * M_PI * revolutions(x)));
}

float amd_cosf(float x)
{
	x = flush_f32(x);
	if (isnan(x) || isinf(x))
		return f32_of(0x7fc00000);
	return trans_out(cos(2.0 * M_PI * revolutions(x)));
}

/* ---- v_cmp_class ------------------------------------------------------------
 * mask bits: 0 sNaN, 1 qNaN, 2 -inf, 3 -normal, 4 -denormal, 5 -0,
 * 6 +0, 7 +denormal, 8 +normal, 9 +inf. */
static bool class_bits(bool snan, bool qnan, bool inf, bool normal, bool denorm, bool neg, uint32_t mask)
{
	int bit;
	if (snan)
		bit = 0;
	else if (qnan)
		bit = 1;
	else if (inf)
		bit = neg ? 2 : 9;
	else if (normal)
		bit = neg ? 3 : 8;
	else if (denorm)
		bit = neg ? 4 : 7;
	else
		bit = neg ? 5 : 6;
	return (mask >> bit) & 1;
}

bool class_match32(uint32_t u, uint32_t mask)
{
	uint32_t e = (u >> 23) & 0xff, m = u & 0x7fffff;
	return class_bits(e == 0xff && m && !(m & 0x400000), e == 0xff && (m & 0x400000), e == 0xff && !m,
			  e && e != 0xff, !e && m, u >> 31, mask);
}

bool class_match64(uint64_t u, uint32_t mask)
{
	uint64_t e = (u >> 52) & 0x7ff, m = u & 0xfffffffffffffull;
	return class_bits(e == 0x7ff && m && !(m & 0x8000000000000ull), e == 0x7ff && (m & 0x8000000000000ull),
			  e == 0x7ff && !m, e && e != 0x7ff, !e && m, u >> 63, mask);
}

bool class_match16(uint16_t u, uint32_t mask)
{
	uint32_t e = (u >> 10) & 0x1f, m = u & 0x3ff;
	return class_bits(e == 0x1f && m && !(m & 0x200), e == 0x1f && (m & 0x200), e == 0x1f && !m,
			  e && e != 0x1f, !e && m, u >> 15, mask);
}
