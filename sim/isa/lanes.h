/* Reading and writing the 32 lanes of vector operands, shared by the VALU
 * files (valu.c, vop3p.c).  Private to sim/isa. */
#ifndef TB_SIM_ISA_LANES_H
#define TB_SIM_ISA_LANES_H

#include "sim/isa/internal.h"

#define H(name) static void name(struct wave *w, const struct inst *in)

static inline float f32_of_h(uint32_t x) { return f32_from_f16((uint16_t)x); }
#define LOOP for (int l = 0; l < LANES; l++)

/* Lanes that a DPP read left without a source do not get written. */
void dpp_permute(struct wave *w, const struct inst *in, const uint32_t *row, uint32_t *out);

static inline uint32_t write_mask(const struct wave *w, const struct inst *in)
{
	return in->dpp ? exec_of(w) & w->dpp_write : exec_of(w);
}

/* Source i as 32 lanes of 32 bits: DPP, the 16-bit half selected by opsel,
 * and abs/neg (float types only) applied.  tmp is used when needed.  Plain
 * VGPR reads (decided at decode, in slow_src) return the register itself. */
const uint32_t *fetch32_slow(struct wave *w, const struct inst *in, int i, uint32_t *tmp);

static inline __attribute__((always_inline)) const uint32_t *fetch32(struct wave *w, const struct inst *in, int i,
								     uint32_t *tmp)
{
	if (__builtin_expect(!(in->slow_src >> i & 1), 1))
		return w->v[in->src[i].reg];
	return fetch32_slow(w, in, i, tmp);
}

/* Source i as 32 lanes of 64 bits (a register pair, or a 64-bit constant). */
static inline const uint64_t *fetch64(struct wave *w, const struct inst *in, int i, uint64_t *tmp)
{
	const struct src *s = &in->src[i];
	if (s->kind == SRC_VGPR) {
		const uint32_t *lo = w->v[s->reg], *hi = w->v[s->reg + 1];
		if (i == 0 && in->dpp) {
			uint32_t a[LANES], b[LANES];
			dpp_permute(w, in, lo, a);
			dpp_permute(w, in, hi, b);
			LOOP tmp[l] = (uint64_t)a[l] | (uint64_t)b[l] << 32;
		} else {
			LOOP tmp[l] = (uint64_t)lo[l] | (uint64_t)hi[l] << 32;
		}
	} else {
		uint64_t x = read_ssrc64(w, s);
		LOOP tmp[l] = x;
	}
	unsigned bit = 1u << i;
	if (s->type == T_F64 && ((in->abs | in->neg) & bit)) {
		uint64_t sign = 1ull << 63;
		uint64_t a = (in->abs & bit) ? ~sign : ~0ull, n = (in->neg & bit) ? sign : 0;
		LOOP tmp[l] = (tmp[l] & a) ^ n;
	}
	return tmp;
}

/* Output modifiers of float results: omod (x2, x4, /2), then clamp to [0,1]. */
static inline float outmod32(const struct inst *in, float x)
{
	static const float scale[4] = { 1.0f, 2.0f, 4.0f, 0.5f };
	x *= scale[in->omod];
	if (in->clamp)
		x = isnan(x) ? 0.0f : x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
	return x;
}

static inline double outmod64(const struct inst *in, double x)
{
	static const double scale[4] = { 1.0, 2.0, 4.0, 0.5 };
	x *= scale[in->omod];
	if (in->clamp)
		x = isnan(x) ? 0.0 : x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
	return x;
}

static inline void masked_copy(uint32_t *d, const uint32_t *r, uint32_t mask)
{
	if (mask == FULL_EXEC) {
		memcpy(d, r, LANES * 4);
		return;
	}
	LOOP d[l] = (mask >> l & 1) ? r[l] : d[l];
}

/* Write 32-bit results to the destination VGPR in the lanes that may be written. */
void store32_slow(struct wave *w, const struct inst *in, uint32_t *r, int type);

static inline __attribute__((always_inline)) void store32(struct wave *w, const struct inst *in, uint32_t *r,
							  int type)
{
	if (__builtin_expect(type != T_F32 || (!in->omod && !in->clamp && (w->denorm32 & 2)), 1)) {
		masked_copy(w->v[in->dst], r, write_mask(w, in));
		return;
	}
	store32_slow(w, in, r, type);
}

static inline void store32_outmods(struct wave *w, const struct inst *in, uint32_t *r, int type)
{
	if (type == T_F32) {
		if (in->omod || in->clamp)
			LOOP r[l] = u32_of(outmod32(in, f32_of(r[l])));
		if (!(w->denorm32 & 2))
			LOOP r[l] = u32_of(flush_f32(f32_of(r[l])));
	}
	masked_copy(w->v[in->dst], r, write_mask(w, in));
}

/* 16-bit results go to the low half, or the high half with opsel[3]; the
 * other half keeps its value. */
static inline void store16(struct wave *w, const struct inst *in, uint32_t *r, int type)
{
	uint32_t mask = write_mask(w, in);
	uint32_t *d = w->v[in->dst];
	if (type == T_F16 && (in->omod || in->clamp))
		LOOP r[l] = f16_from_f32(outmod32(in, f32_of_h(r[l])));
	if (in->opsel & 8) {
		LOOP if (mask >> l & 1) d[l] = (d[l] & 0xffffu) | (r[l] << 16);
	} else {
		LOOP if (mask >> l & 1) d[l] = (d[l] & 0xffff0000u) | (r[l] & 0xffffu);
	}
}

static inline void store64(struct wave *w, const struct inst *in, uint64_t *r, int type)
{
	uint32_t mask = write_mask(w, in);
	uint32_t *lo = w->v[in->dst], *hi = w->v[in->dst + 1];
	if (type == T_F64 && (in->omod || in->clamp))
		LOOP r[l] = u64_of(outmod64(in, f64_of(r[l])));
	LOOP if (mask >> l & 1) {
		lo[l] = (uint32_t)r[l];
		hi[l] = (uint32_t)(r[l] >> 32);
	}
}

/* A lane mask result (VOPC, carry out) to an SGPR; inactive lanes read 0. */
static inline void store_mask(struct wave *w, uint16_t reg, uint32_t bits)
{
	w->s[reg] = bits & exec_of(w);
}

#endif
