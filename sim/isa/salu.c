/* The scalar unit: SOP1, SOP2, SOPK, SOPC and SOPP (program control). */
#include "sim/isa/internal.h"

#define S0 read_ssrc(w, &in->src[0])
#define S1 read_ssrc(w, &in->src[1])
#define S0_64 read_ssrc64(w, &in->src[0])
#define S1_64 read_ssrc64(w, &in->src[1])
#define D (w->s[in->dst])
#define SET_D64(v) set_sreg64(w, in->dst, (v))

#define H(name) static void name(struct wave *w, const struct inst *in)

/* ---- SOP2 ---------------------------------------------------------------- */

H(s_add_u32) { uint64_t t = (uint64_t)S0 + S1; w->scc = t >> 32; D = (uint32_t)t; }
H(s_sub_u32) { uint32_t a = S0, b = S1; w->scc = b > a; D = a - b; }
H(s_add_i32)
{
	uint32_t a = S0, b = S1, t = a + b;
	w->scc = ((a ^ t) & (b ^ t)) >> 31;
	D = t;
}
H(s_sub_i32)
{
	uint32_t a = S0, b = S1, t = a - b;
	w->scc = ((a ^ b) & (a ^ t)) >> 31;
	D = t;
}
H(s_addc_u32) { uint64_t t = (uint64_t)S0 + S1 + w->scc; w->scc = t >> 32; D = (uint32_t)t; }
H(s_subb_u32)
{
	uint64_t a = S0, b = (uint64_t)S1 + w->scc;
	w->scc = b > a;
	D = (uint32_t)(a - b);
}
H(s_absdiff_i32)
{
	int32_t t = (int32_t)(S0 - S1);
	uint32_t r = t < 0 ? 0u - (uint32_t)t : (uint32_t)t;
	D = r;
	w->scc = r != 0;
}
H(s_lshl_b32) { uint32_t r = S0 << (S1 & 31); D = r; w->scc = r != 0; }
H(s_lshl_b64) { uint64_t r = S0_64 << (S1 & 63); SET_D64(r); w->scc = r != 0; }
H(s_lshr_b32) { uint32_t r = S0 >> (S1 & 31); D = r; w->scc = r != 0; }
H(s_lshr_b64) { uint64_t r = S0_64 >> (S1 & 63); SET_D64(r); w->scc = r != 0; }
H(s_ashr_i32) { uint32_t r = (uint32_t)((int32_t)S0 >> (S1 & 31)); D = r; w->scc = r != 0; }
H(s_ashr_i64) { uint64_t r = (uint64_t)((int64_t)S0_64 >> (S1 & 63)); SET_D64(r); w->scc = r != 0; }
static void lshl_add(struct wave *w, const struct inst *in, unsigned n)
{
	uint64_t t = ((uint64_t)S0 << n) + S1;
	w->scc = t >> 32;
	D = (uint32_t)t;
}
H(s_lshl1_add_u32) { lshl_add(w, in, 1); }
H(s_lshl2_add_u32) { lshl_add(w, in, 2); }
H(s_lshl3_add_u32) { lshl_add(w, in, 3); }
H(s_lshl4_add_u32) { lshl_add(w, in, 4); }
H(s_min_i32) { int32_t a = (int32_t)S0, b = (int32_t)S1; w->scc = a < b; D = (uint32_t)(a < b ? a : b); }
H(s_min_u32) { uint32_t a = S0, b = S1; w->scc = a < b; D = a < b ? a : b; }
H(s_max_i32) { int32_t a = (int32_t)S0, b = (int32_t)S1; w->scc = a > b; D = (uint32_t)(a > b ? a : b); }
H(s_max_u32) { uint32_t a = S0, b = S1; w->scc = a > b; D = a > b ? a : b; }

#define LOGIC(name, expr)                                                               \
	H(name##_b32) { uint32_t a = S0, b = S1, r = (expr); D = r; w->scc = r != 0; }   \
	H(name##_b64) { uint64_t a = S0_64, b = S1_64, r = (expr); SET_D64(r); w->scc = r != 0; }
LOGIC(s_and, a & b)
LOGIC(s_or, a | b)
LOGIC(s_xor, a ^ b)
LOGIC(s_nand, ~(a & b))
LOGIC(s_nor, ~(a | b))
LOGIC(s_xnor, ~(a ^ b))
LOGIC(s_and_not1, a & ~b)
LOGIC(s_or_not1, a | ~b)

H(s_bfe_u32)
{
	uint32_t c = S1, off = c & 31, width = (c >> 16) & 0x7f;
	uint32_t r = width >= 32 ? S0 >> off : (S0 >> off) & ((1u << width) - 1);
	D = r;
	w->scc = r != 0;
}
H(s_bfe_i32)
{
	uint32_t c = S1, off = c & 31, width = (c >> 16) & 0x7f;
	int32_t r;
	if (width == 0)
		r = 0;
	else if (width >= 32)
		r = (int32_t)(S0 >> off);
	else
		r = (int32_t)((S0 >> off) << (32 - width)) >> (32 - width);
	D = (uint32_t)r;
	w->scc = r != 0;
}
H(s_bfe_u64)
{
	uint32_t c = S1, off = c & 63, width = (c >> 16) & 0x7f;
	uint64_t r = width >= 64 ? S0_64 >> off : (S0_64 >> off) & ((1ull << width) - 1);
	SET_D64(r);
	w->scc = r != 0;
}
H(s_bfe_i64)
{
	uint32_t c = S1, off = c & 63, width = (c >> 16) & 0x7f;
	int64_t r;
	if (width == 0)
		r = 0;
	else if (width >= 64)
		r = (int64_t)(S0_64 >> off);
	else
		r = (int64_t)((S0_64 >> off) << (64 - width)) >> (64 - width);
	SET_D64((uint64_t)r);
	w->scc = r != 0;
}
H(s_bfm_b32) { D = ((1u << (S0 & 31)) - 1) << (S1 & 31); }
H(s_bfm_b64) { SET_D64(((1ull << (S0 & 63)) - 1) << (S1 & 63)); }
H(s_mul_i32) { D = S0 * S1; }
H(s_mul_hi_u32) { D = (uint32_t)(((uint64_t)S0 * S1) >> 32); }
H(s_mul_hi_i32) { D = (uint32_t)((uint64_t)((int64_t)(int32_t)S0 * (int32_t)S1) >> 32); }
H(s_cselect_b32) { D = w->scc ? S0 : S1; }
H(s_cselect_b64) { SET_D64(w->scc ? S0_64 : S1_64); }
H(s_pack_ll_b32_b16) { D = (S0 & 0xffff) | S1 << 16; }
H(s_pack_lh_b32_b16) { D = (S0 & 0xffff) | (S1 & 0xffff0000u); }
H(s_pack_hh_b32_b16) { D = S0 >> 16 | (S1 & 0xffff0000u); }
H(s_pack_hl_b32_b16) { D = S0 >> 16 | S1 << 16; }

/* ---- SOPK ---------------------------------------------------------------- */

#define SIMM ((int32_t)in->imm)
#define UIMM ((uint32_t)(uint16_t)in->imm)
H(s_movk_i32) { D = (uint32_t)SIMM; }
H(s_cmovk_i32) { if (w->scc) D = (uint32_t)SIMM; }
H(s_version) { (void)w; (void)in; }
#define CMPK(name, type, imm, op) H(name) { w->scc = (type)w->s[in->src[1].reg] op (type)(imm); }
CMPK(s_cmpk_eq_i32, int32_t, SIMM, ==)
CMPK(s_cmpk_lg_i32, int32_t, SIMM, !=)
CMPK(s_cmpk_gt_i32, int32_t, SIMM, >)
CMPK(s_cmpk_ge_i32, int32_t, SIMM, >=)
CMPK(s_cmpk_lt_i32, int32_t, SIMM, <)
CMPK(s_cmpk_le_i32, int32_t, SIMM, <=)
CMPK(s_cmpk_eq_u32, uint32_t, UIMM, ==)
CMPK(s_cmpk_lg_u32, uint32_t, UIMM, !=)
CMPK(s_cmpk_gt_u32, uint32_t, UIMM, >)
CMPK(s_cmpk_ge_u32, uint32_t, UIMM, >=)
CMPK(s_cmpk_lt_u32, uint32_t, UIMM, <)
CMPK(s_cmpk_le_u32, uint32_t, UIMM, <=)
H(s_addk_i32)
{
	uint32_t a = w->s[in->src[1].reg], b = (uint32_t)SIMM, t = a + b;
	w->scc = ((a ^ t) & (b ^ t)) >> 31;
	D = t;
}
H(s_mulk_i32) { D = w->s[in->src[1].reg] * (uint32_t)SIMM; }

/* Hardware registers (s_getreg/s_setreg): the ones a kernel can use. */
enum { HW_MODE = 1, HW_STATUS = 2, HW_TRAPSTS = 3, HW_HW_ID1 = 23, HW_HW_ID2 = 24, HW_FLAT_SCR_LO = 20,
       HW_FLAT_SCR_HI = 21, HW_SHADER_CYCLES = 29 };

static void apply_mode(struct wave *w)
{
	w->round = w->mode & 0xf;
	w->denorm32 = (w->mode >> 4) & 3;
	w->denorm1664 = (w->mode >> 6) & 3;
	w->dx10_clamp = (w->mode >> 8) & 1;
	w->ieee = (w->mode >> 9) & 1;
}

static uint32_t hwreg_read(const struct wave *w, unsigned id)
{
	switch (id) {
	case HW_MODE: return w->mode;
	case HW_STATUS: return (exec_of(w) == 0) << 9 | w->scc;
	case HW_TRAPSTS: return w->trapsts;
	case HW_HW_ID1: return (w->id_in_group & 0x1f) | (w->wg ? (w->wg->id[0] & 0xf) << 8 : 0);
	case HW_HW_ID2: return 0;
	case HW_FLAT_SCR_LO: return (uint32_t)w->scratch_base;
	case HW_FLAT_SCR_HI: return (uint32_t)(w->scratch_base >> 32);
	case HW_SHADER_CYCLES: return (uint32_t)(w->executed * 4) & 0xfffff;	/* ~4 clocks an instruction */
	default: return 0;
	}
}

static void getreg(struct wave *w, const struct inst *in)
{
	uint32_t s = (uint16_t)in->imm, id = s & 0x3f, off = (s >> 6) & 0x1f, size = (s >> 11) + 1;
	uint32_t mask = size >= 32 ? ~0u : (1u << size) - 1;
	D = (hwreg_read(w, id) >> off) & mask;
}

static void setreg_value(struct wave *w, const struct inst *in, uint32_t value)
{
	uint32_t s = (uint16_t)in->imm, id = s & 0x3f, off = (s >> 6) & 0x1f, size = (s >> 11) + 1;
	uint32_t mask = (size >= 32 ? ~0u : (1u << size) - 1) << off;
	if (id == HW_MODE) {
		w->mode = (w->mode & ~mask) | ((value << off) & mask);
		apply_mode(w);
	} else if (id == HW_TRAPSTS) {
		w->trapsts = (w->trapsts & ~mask) | ((value << off) & mask);
	}
	/* other registers are read-only to a shader: writes are ignored */
}

H(s_getreg_b32) { getreg(w, in); }
H(s_setreg_b32) { setreg_value(w, in, w->s[in->src[1].reg]); }
H(s_setreg_imm32_b32) { setreg_value(w, in, (uint32_t)in->src[0].value); }
H(s_nop_k) { (void)w; (void)in; }

/* Jumps to computed addresses: the program is addressed in dwords. */
static void jump_to(struct wave *w, const struct inst *in, uint64_t addr)
{
	const struct program *p = w->prog;
	uint64_t off = addr - p->base;
	if ((addr & 3) || addr < p->base || off / 4 >= p->ndwords) {
		wave_fault(w, in, ISA_MEMORY_FAULT, addr, "jump to 0x%llx outside the program",
			   (unsigned long long)addr);
		return;
	}
	w->pc = (uint32_t)(off / 4);
}

static uint64_t va_of(const struct wave *w, uint32_t dword)
{
	return w->prog->base + (uint64_t)dword * 4;
}

H(s_call_b64)
{
	SET_D64(va_of(w, in->next));
	w->pc = in->target;
}

/* ---- SOP1 ---------------------------------------------------------------- */

H(s_mov_b32) { D = S0; }
H(s_mov_b64) { SET_D64(S0_64); }
H(s_cmov_b32) { if (w->scc) D = S0; }
H(s_cmov_b64) { if (w->scc) SET_D64(S0_64); }
H(s_brev_b32)
{
	uint32_t x = S0;
	x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
	x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
	x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
	D = __builtin_bswap32(x);
}
H(s_brev_b64)
{
	uint64_t x = S0_64;
	x = ((x >> 1) & 0x5555555555555555ull) | ((x & 0x5555555555555555ull) << 1);
	x = ((x >> 2) & 0x3333333333333333ull) | ((x & 0x3333333333333333ull) << 2);
	x = ((x >> 4) & 0x0f0f0f0f0f0f0f0full) | ((x & 0x0f0f0f0f0f0f0f0full) << 4);
	SET_D64(__builtin_bswap64(x));
}
H(s_ctz_i32_b32) { uint32_t x = S0; D = x ? (uint32_t)__builtin_ctz(x) : ~0u; }
H(s_ctz_i32_b64) { uint64_t x = S0_64; D = x ? (uint32_t)__builtin_ctzll(x) : ~0u; }
H(s_clz_i32_u32) { uint32_t x = S0; D = x ? (uint32_t)__builtin_clz(x) : ~0u; }
H(s_clz_i32_u64) { uint64_t x = S0_64; D = x ? (uint32_t)__builtin_clzll(x) : ~0u; }
H(s_cls_i32)
{
	uint32_t x = S0, y = (x >> 31) ? ~x : x;
	D = y ? (uint32_t)__builtin_clz(y) : ~0u;
}
H(s_cls_i32_i64)
{
	uint64_t x = S0_64, y = (x >> 63) ? ~x : x;
	D = y ? (uint32_t)__builtin_clzll(y) : ~0u;
}
H(s_sext_i32_i8) { D = (uint32_t)(int32_t)(int8_t)S0; }
H(s_sext_i32_i16) { D = (uint32_t)(int32_t)(int16_t)S0; }
H(s_bitset0_b32) { D &= ~(1u << (S0 & 31)); }
H(s_bitset0_b64) { SET_D64(sreg64(w, in->dst) & ~(1ull << (S0 & 63))); }
H(s_bitset1_b32) { D |= 1u << (S0 & 31); }
H(s_bitset1_b64) { SET_D64(sreg64(w, in->dst) | 1ull << (S0 & 63)); }
H(s_bitreplicate_b64_b32)
{
	uint32_t x = S0;
	uint64_t r = 0;
	for (int i = 0; i < 32; i++)
		if (x >> i & 1)
			r |= 3ull << (2 * i);
	SET_D64(r);
}
H(s_abs_i32)
{
	int32_t x = (int32_t)S0;
	uint32_t r = x < 0 ? 0u - (uint32_t)x : (uint32_t)x;
	D = r;
	w->scc = r != 0;
}
H(s_bcnt0_i32_b32) { uint32_t r = 32 - (uint32_t)__builtin_popcount(S0); D = r; w->scc = r != 0; }
H(s_bcnt0_i32_b64) { uint32_t r = 64 - (uint32_t)__builtin_popcountll(S0_64); D = r; w->scc = r != 0; }
H(s_bcnt1_i32_b32) { uint32_t r = (uint32_t)__builtin_popcount(S0); D = r; w->scc = r != 0; }
H(s_bcnt1_i32_b64) { uint32_t r = (uint32_t)__builtin_popcountll(S0_64); D = r; w->scc = r != 0; }
H(s_quadmask_b32)
{
	uint32_t x = S0, r = 0;
	for (int i = 0; i < 8; i++)
		r |= ((x >> (4 * i)) & 0xf ? 1u : 0u) << i;
	D = r;
	w->scc = r != 0;
}
H(s_quadmask_b64)
{
	uint64_t x = S0_64, r = 0;
	for (int i = 0; i < 16; i++)
		r |= ((x >> (4 * i)) & 0xf ? 1ull : 0ull) << i;
	SET_D64(r);
	w->scc = r != 0;
}
H(s_wqm_b32)
{
	uint32_t x = S0, r = 0;
	for (int i = 0; i < 8; i++)
		if ((x >> (4 * i)) & 0xf)
			r |= 0xfu << (4 * i);
	D = r;
	w->scc = r != 0;
}
H(s_wqm_b64)
{
	uint64_t x = S0_64, r = 0;
	for (int i = 0; i < 16; i++)
		if ((x >> (4 * i)) & 0xf)
			r |= 0xfull << (4 * i);
	SET_D64(r);
	w->scc = r != 0;
}
H(s_not_b32) { uint32_t r = ~S0; D = r; w->scc = r != 0; }
H(s_not_b64) { uint64_t r = ~S0_64; SET_D64(r); w->scc = r != 0; }

/* EXEC manipulation.  Wave32 uses EXEC_LO; the _b64 forms act on the pair. */
#define SAVEEXEC(name, expr)                                                          \
	H(name##_b32)                                                                 \
	{                                                                             \
		uint32_t s = S0, e = w->s[R_EXEC_LO];                                 \
		D = e;                                                                \
		w->s[R_EXEC_LO] = (expr);                                             \
		w->scc = w->s[R_EXEC_LO] != 0;                                        \
	}                                                                             \
	H(name##_b64)                                                                 \
	{                                                                             \
		uint64_t s = S0_64, e = sreg64(w, R_EXEC_LO);                         \
		SET_D64(e);                                                           \
		set_sreg64(w, R_EXEC_LO, (expr));                                     \
		w->scc = sreg64(w, R_EXEC_LO) != 0;                                   \
	}
SAVEEXEC(s_and_saveexec, s & e)
SAVEEXEC(s_or_saveexec, s | e)
SAVEEXEC(s_xor_saveexec, s ^ e)
SAVEEXEC(s_nand_saveexec, ~(s & e))
SAVEEXEC(s_nor_saveexec, ~(s | e))
SAVEEXEC(s_xnor_saveexec, ~(s ^ e))
SAVEEXEC(s_and_not0_saveexec, ~s & e)
SAVEEXEC(s_or_not0_saveexec, ~s | e)
SAVEEXEC(s_and_not1_saveexec, s & ~e)
SAVEEXEC(s_or_not1_saveexec, s | ~e)

#define WREXEC(name, expr)                                                            \
	H(name##_b32)                                                                 \
	{                                                                             \
		uint32_t s = S0, e = w->s[R_EXEC_LO];                                 \
		w->s[R_EXEC_LO] = (expr);                                             \
		D = w->s[R_EXEC_LO];                                                  \
		w->scc = w->s[R_EXEC_LO] != 0;                                        \
	}                                                                             \
	H(name##_b64)                                                                 \
	{                                                                             \
		uint64_t s = S0_64, e = sreg64(w, R_EXEC_LO);                         \
		set_sreg64(w, R_EXEC_LO, (expr));                                     \
		SET_D64(sreg64(w, R_EXEC_LO));                                        \
		w->scc = sreg64(w, R_EXEC_LO) != 0;                                   \
	}
WREXEC(s_and_not0_wrexec, ~s & e)
WREXEC(s_and_not1_wrexec, s & ~e)

/* M0-relative register moves; out-of-range indices read 0 and drop writes,
 * as the hardware clamps them. */
static bool sgpr_index_ok(uint32_t i, unsigned n) { return i + n <= 106; }
H(s_movrels_b32)
{
	uint32_t i = in->src[0].reg + w->s[R_M0];
	D = in->src[0].kind == SRC_SGPR && sgpr_index_ok(i, 1) ? w->s[i] : 0;
}
H(s_movrels_b64)
{
	uint32_t i = in->src[0].reg + w->s[R_M0];
	SET_D64(in->src[0].kind == SRC_SGPR && sgpr_index_ok(i, 2) ? sreg64(w, i) : 0);
}
H(s_movreld_b32)
{
	uint32_t i = in->dst + w->s[R_M0];
	if (sgpr_index_ok(i, 1))
		w->s[i] = S0;
}
H(s_movreld_b64)
{
	uint32_t i = in->dst + w->s[R_M0];
	if (sgpr_index_ok(i, 2))
		set_sreg64(w, i, S0_64);
}
H(s_getpc_b64) { SET_D64(va_of(w, in->next)); }
H(s_setpc_b64) { jump_to(w, in, S0_64); }
H(s_swappc_b64)
{
	uint64_t target = S0_64;
	SET_D64(va_of(w, in->next));
	jump_to(w, in, target);
}
H(s_rfe_b64) { jump_to(w, in, S0_64); }

/* s_sendmsg_rtn: messages that return a value. */
H(s_sendmsg_rtn)
{
	uint32_t msg = (uint32_t)in->imm;
	uint64_t v = 0;
	const struct dispatch_ctx *c = w->wg ? w->wg->ctx : NULL;
	if (msg == 0x83 && c) {	/* MSG_RTN_GET_REALTIME */
		uint64_t hz = c->d->realtime_hz ? c->d->realtime_hz : 100000000;
		v = (uint64_t)((now_ns() - c->t0_ns) * (hz / 1e9));
	}
	if (in->op == 0x4c)
		D = (uint32_t)v;
	else
		SET_D64(v);
}

/* ---- SOPC ---------------------------------------------------------------- */

#define CMP(name, type, op) H(name) { w->scc = (type)S0 op (type)S1; }
CMP(s_cmp_eq_i32, int32_t, ==)
CMP(s_cmp_lg_i32, int32_t, !=)
CMP(s_cmp_gt_i32, int32_t, >)
CMP(s_cmp_ge_i32, int32_t, >=)
CMP(s_cmp_lt_i32, int32_t, <)
CMP(s_cmp_le_i32, int32_t, <=)
CMP(s_cmp_eq_u32, uint32_t, ==)
CMP(s_cmp_lg_u32, uint32_t, !=)
CMP(s_cmp_gt_u32, uint32_t, >)
CMP(s_cmp_ge_u32, uint32_t, >=)
CMP(s_cmp_lt_u32, uint32_t, <)
CMP(s_cmp_le_u32, uint32_t, <=)
H(s_bitcmp0_b32) { w->scc = !((S0 >> (S1 & 31)) & 1); }
H(s_bitcmp1_b32) { w->scc = (S0 >> (S1 & 31)) & 1; }
H(s_bitcmp0_b64) { w->scc = !((S0_64 >> (S1 & 63)) & 1); }
H(s_bitcmp1_b64) { w->scc = (S0_64 >> (S1 & 63)) & 1; }
H(s_cmp_eq_u64) { w->scc = S0_64 == S1_64; }
H(s_cmp_lg_u64) { w->scc = S0_64 != S1_64; }

/* ---- SOPP: program control ---------------------------------------------- */

static void stop_slice(struct wave *w) { w->budget = 0; }

H(s_nop) { (void)w; (void)in; }
H(s_endpgm)
{
	(void)in;
	w->state = W_DONE;
	stop_slice(w);
}
H(s_barrier)
{
	(void)in;
	w->state = W_BARRIER;
	stop_slice(w);
}
H(s_sleep) { (void)in; stop_slice(w); }
H(s_trap)
{
	wave_fault(w, in, ISA_TRAP, 0, "s_trap %d: the kernel trapped (no trap handler takes it)",
		   (int)(in->imm & 0xff));
}
H(s_sethalt)
{
	if (in->imm & 1)
		wave_fault(w, in, ISA_TRAP, 0, "s_sethalt: the wave halted itself");
}
H(s_code_end)
{
	wave_fault(w, in, ISA_ILLEGAL_INSTRUCTION, 0, "executed s_code_end padding (ran off the kernel's end)");
}
H(s_round_mode)
{
	w->mode = (w->mode & ~0xfu) | (in->imm & 0xf);
	apply_mode(w);
}
H(s_denorm_mode)
{
	w->mode = (w->mode & ~0xf0u) | (uint32_t)(in->imm & 0xf) << 4;
	apply_mode(w);
}
H(s_branch) { w->pc = in->target; }
H(s_cbranch_scc0) { if (!w->scc) w->pc = in->target; }
H(s_cbranch_scc1) { if (w->scc) w->pc = in->target; }
H(s_cbranch_vccz) { if (w->s[R_VCC_LO] == 0) w->pc = in->target; }
H(s_cbranch_vccnz) { if (w->s[R_VCC_LO] != 0) w->pc = in->target; }
H(s_cbranch_execz) { if (exec_of(w) == 0) w->pc = in->target; }
H(s_cbranch_execnz) { if (exec_of(w) != 0) w->pc = in->target; }
H(s_cbranch_cdbg) { (void)w; (void)in; }	/* no debugger attached: never taken */
H(s_sendmsg) { (void)w; (void)in; }		/* DEALLOC_VGPRS and friends: nothing to do */

/* ---- tables ---------------------------------------------------------------- */

#define B T_B32
#define Q T_B64
#define OP(fn, t0, t1) { fn, T_NONE, t0, t1, T_NONE, 0 }

static const struct opinfo sop2[0x36] = {
	[0x00] = OP(s_add_u32, B, B), [0x01] = OP(s_sub_u32, B, B), [0x02] = OP(s_add_i32, B, B),
	[0x03] = OP(s_sub_i32, B, B), [0x04] = OP(s_addc_u32, B, B), [0x05] = OP(s_subb_u32, B, B),
	[0x06] = OP(s_absdiff_i32, B, B), [0x08] = OP(s_lshl_b32, B, B), [0x09] = OP(s_lshl_b64, Q, B),
	[0x0a] = OP(s_lshr_b32, B, B), [0x0b] = OP(s_lshr_b64, Q, B), [0x0c] = OP(s_ashr_i32, B, B),
	[0x0d] = OP(s_ashr_i64, Q, B), [0x0e] = OP(s_lshl1_add_u32, B, B), [0x0f] = OP(s_lshl2_add_u32, B, B),
	[0x10] = OP(s_lshl3_add_u32, B, B), [0x11] = OP(s_lshl4_add_u32, B, B), [0x12] = OP(s_min_i32, B, B),
	[0x13] = OP(s_min_u32, B, B), [0x14] = OP(s_max_i32, B, B), [0x15] = OP(s_max_u32, B, B),
	[0x16] = OP(s_and_b32, B, B), [0x17] = OP(s_and_b64, Q, Q), [0x18] = OP(s_or_b32, B, B),
	[0x19] = OP(s_or_b64, Q, Q), [0x1a] = OP(s_xor_b32, B, B), [0x1b] = OP(s_xor_b64, Q, Q),
	[0x1c] = OP(s_nand_b32, B, B), [0x1d] = OP(s_nand_b64, Q, Q), [0x1e] = OP(s_nor_b32, B, B),
	[0x1f] = OP(s_nor_b64, Q, Q), [0x20] = OP(s_xnor_b32, B, B), [0x21] = OP(s_xnor_b64, Q, Q),
	[0x22] = OP(s_and_not1_b32, B, B), [0x23] = OP(s_and_not1_b64, Q, Q), [0x24] = OP(s_or_not1_b32, B, B),
	[0x25] = OP(s_or_not1_b64, Q, Q), [0x26] = OP(s_bfe_u32, B, B), [0x27] = OP(s_bfe_i32, B, B),
	[0x28] = OP(s_bfe_u64, Q, B), [0x29] = OP(s_bfe_i64, Q, B), [0x2a] = OP(s_bfm_b32, B, B),
	[0x2b] = OP(s_bfm_b64, B, B), [0x2c] = OP(s_mul_i32, B, B), [0x2d] = OP(s_mul_hi_u32, B, B),
	[0x2e] = OP(s_mul_hi_i32, B, B), [0x30] = OP(s_cselect_b32, B, B), [0x31] = OP(s_cselect_b64, Q, Q),
	[0x32] = OP(s_pack_ll_b32_b16, B, B), [0x33] = OP(s_pack_lh_b32_b16, B, B),
	[0x34] = OP(s_pack_hh_b32_b16, B, B), [0x35] = OP(s_pack_hl_b32_b16, B, B),
};

static const struct opinfo sopk[0x1c] = {
	[0x00] = OP(s_movk_i32, 0, 0), [0x01] = OP(s_version, 0, 0), [0x02] = OP(s_cmovk_i32, 0, 0),
	[0x03] = OP(s_cmpk_eq_i32, 0, 0), [0x04] = OP(s_cmpk_lg_i32, 0, 0), [0x05] = OP(s_cmpk_gt_i32, 0, 0),
	[0x06] = OP(s_cmpk_ge_i32, 0, 0), [0x07] = OP(s_cmpk_lt_i32, 0, 0), [0x08] = OP(s_cmpk_le_i32, 0, 0),
	[0x09] = OP(s_cmpk_eq_u32, 0, 0), [0x0a] = OP(s_cmpk_lg_u32, 0, 0), [0x0b] = OP(s_cmpk_gt_u32, 0, 0),
	[0x0c] = OP(s_cmpk_ge_u32, 0, 0), [0x0d] = OP(s_cmpk_lt_u32, 0, 0), [0x0e] = OP(s_cmpk_le_u32, 0, 0),
	[0x0f] = OP(s_addk_i32, 0, 0), [0x10] = OP(s_mulk_i32, 0, 0), [0x11] = OP(s_getreg_b32, 0, 0),
	[0x12] = OP(s_setreg_b32, 0, 0), [0x13] = OP(s_setreg_imm32_b32, 0, 0), [0x14] = OP(s_call_b64, 0, 0),
	[0x18] = OP(s_nop_k, 0, 0), [0x19] = OP(s_nop_k, 0, 0), [0x1a] = OP(s_nop_k, 0, 0),
	[0x1b] = OP(s_nop_k, 0, 0),
};

static const struct opinfo sop1[0x4e] = {
	[0x00] = OP(s_mov_b32, B, 0), [0x01] = OP(s_mov_b64, Q, 0), [0x02] = OP(s_cmov_b32, B, 0),
	[0x03] = OP(s_cmov_b64, Q, 0), [0x04] = OP(s_brev_b32, B, 0), [0x05] = OP(s_brev_b64, Q, 0),
	[0x08] = OP(s_ctz_i32_b32, B, 0), [0x09] = OP(s_ctz_i32_b64, Q, 0), [0x0a] = OP(s_clz_i32_u32, B, 0),
	[0x0b] = OP(s_clz_i32_u64, Q, 0), [0x0c] = OP(s_cls_i32, B, 0), [0x0d] = OP(s_cls_i32_i64, Q, 0),
	[0x0e] = OP(s_sext_i32_i8, B, 0), [0x0f] = OP(s_sext_i32_i16, B, 0), [0x10] = OP(s_bitset0_b32, B, 0),
	[0x11] = OP(s_bitset0_b64, B, 0), [0x12] = OP(s_bitset1_b32, B, 0), [0x13] = OP(s_bitset1_b64, B, 0),
	[0x14] = OP(s_bitreplicate_b64_b32, B, 0), [0x15] = OP(s_abs_i32, B, 0),
	[0x16] = OP(s_bcnt0_i32_b32, B, 0), [0x17] = OP(s_bcnt0_i32_b64, Q, 0),
	[0x18] = OP(s_bcnt1_i32_b32, B, 0), [0x19] = OP(s_bcnt1_i32_b64, Q, 0),
	[0x1a] = OP(s_quadmask_b32, B, 0), [0x1b] = OP(s_quadmask_b64, Q, 0), [0x1c] = OP(s_wqm_b32, B, 0),
	[0x1d] = OP(s_wqm_b64, Q, 0), [0x1e] = OP(s_not_b32, B, 0), [0x1f] = OP(s_not_b64, Q, 0),
	[0x20] = OP(s_and_saveexec_b32, B, 0), [0x21] = OP(s_and_saveexec_b64, Q, 0),
	[0x22] = OP(s_or_saveexec_b32, B, 0), [0x23] = OP(s_or_saveexec_b64, Q, 0),
	[0x24] = OP(s_xor_saveexec_b32, B, 0), [0x25] = OP(s_xor_saveexec_b64, Q, 0),
	[0x26] = OP(s_nand_saveexec_b32, B, 0), [0x27] = OP(s_nand_saveexec_b64, Q, 0),
	[0x28] = OP(s_nor_saveexec_b32, B, 0), [0x29] = OP(s_nor_saveexec_b64, Q, 0),
	[0x2a] = OP(s_xnor_saveexec_b32, B, 0), [0x2b] = OP(s_xnor_saveexec_b64, Q, 0),
	[0x2c] = OP(s_and_not0_saveexec_b32, B, 0), [0x2d] = OP(s_and_not0_saveexec_b64, Q, 0),
	[0x2e] = OP(s_or_not0_saveexec_b32, B, 0), [0x2f] = OP(s_or_not0_saveexec_b64, Q, 0),
	[0x30] = OP(s_and_not1_saveexec_b32, B, 0), [0x31] = OP(s_and_not1_saveexec_b64, Q, 0),
	[0x32] = OP(s_or_not1_saveexec_b32, B, 0), [0x33] = OP(s_or_not1_saveexec_b64, Q, 0),
	[0x34] = OP(s_and_not0_wrexec_b32, B, 0), [0x35] = OP(s_and_not0_wrexec_b64, Q, 0),
	[0x36] = OP(s_and_not1_wrexec_b32, B, 0), [0x37] = OP(s_and_not1_wrexec_b64, Q, 0),
	[0x40] = OP(s_movrels_b32, B, 0), [0x41] = OP(s_movrels_b64, Q, 0), [0x42] = OP(s_movreld_b32, B, 0),
	[0x43] = OP(s_movreld_b64, Q, 0), [0x47] = OP(s_getpc_b64, B, 0), [0x48] = OP(s_setpc_b64, Q, 0),
	[0x49] = OP(s_swappc_b64, Q, 0), [0x4a] = OP(s_rfe_b64, Q, 0), [0x4c] = OP(s_sendmsg_rtn, B, 0),
	[0x4d] = OP(s_sendmsg_rtn, B, 0),
};

static const struct opinfo sopc[0x12] = {
	[0x00] = OP(s_cmp_eq_i32, B, B), [0x01] = OP(s_cmp_lg_i32, B, B), [0x02] = OP(s_cmp_gt_i32, B, B),
	[0x03] = OP(s_cmp_ge_i32, B, B), [0x04] = OP(s_cmp_lt_i32, B, B), [0x05] = OP(s_cmp_le_i32, B, B),
	[0x06] = OP(s_cmp_eq_u32, B, B), [0x07] = OP(s_cmp_lg_u32, B, B), [0x08] = OP(s_cmp_gt_u32, B, B),
	[0x09] = OP(s_cmp_ge_u32, B, B), [0x0a] = OP(s_cmp_lt_u32, B, B), [0x0b] = OP(s_cmp_le_u32, B, B),
	[0x0c] = OP(s_bitcmp0_b32, B, B), [0x0d] = OP(s_bitcmp1_b32, B, B), [0x0e] = OP(s_bitcmp0_b64, Q, B),
	[0x0f] = OP(s_bitcmp1_b64, Q, B), [0x10] = OP(s_cmp_eq_u64, Q, Q), [0x11] = OP(s_cmp_lg_u64, Q, Q),
};

static const struct opinfo sopp[0x3e] = {
	[0x00] = OP(s_nop, 0, 0), [0x01] = OP(s_nop, 0, 0) /* s_setkill */, [0x02] = OP(s_sethalt, 0, 0),
	[0x03] = OP(s_sleep, 0, 0), [0x04] = OP(s_nop, 0, 0), [0x05] = OP(s_nop, 0, 0),
	[0x07] = OP(s_nop, 0, 0), [0x08] = OP(s_nop, 0, 0), [0x09] = OP(s_nop, 0, 0), [0x0a] = OP(s_nop, 0, 0),
	[0x0b] = OP(s_nop, 0, 0), [0x10] = OP(s_trap, 0, 0), [0x11] = OP(s_round_mode, 0, 0),
	[0x12] = OP(s_denorm_mode, 0, 0), [0x1f] = OP(s_code_end, 0, 0), [0x20] = OP(s_branch, 0, 0),
	[0x21] = OP(s_cbranch_scc0, 0, 0), [0x22] = OP(s_cbranch_scc1, 0, 0),
	[0x23] = OP(s_cbranch_vccz, 0, 0), [0x24] = OP(s_cbranch_vccnz, 0, 0),
	[0x25] = OP(s_cbranch_execz, 0, 0), [0x26] = OP(s_cbranch_execnz, 0, 0),
	[0x27] = OP(s_cbranch_cdbg, 0, 0), [0x28] = OP(s_cbranch_cdbg, 0, 0), [0x29] = OP(s_cbranch_cdbg, 0, 0),
	[0x2a] = OP(s_cbranch_cdbg, 0, 0), [0x30] = OP(s_endpgm, 0, 0), [0x34] = OP(s_nop, 0, 0),
	[0x35] = OP(s_nop, 0, 0), [0x36] = OP(s_sendmsg, 0, 0), [0x38] = OP(s_nop, 0, 0),
	[0x39] = OP(s_nop, 0, 0), [0x3c] = OP(s_nop, 0, 0), [0x3d] = OP(s_barrier, 0, 0),
};

#define LOOKUP(tab, op) ((op) < sizeof(tab) / sizeof((tab)[0]) && (tab)[op].fn ? &(tab)[op] : NULL)

const struct opinfo *salu_op(int enc, unsigned op)
{
	switch (enc) {
	case E_SOP2: return LOOKUP(sop2, op);
	case E_SOPK: return LOOKUP(sopk, op);
	case E_SOP1: return LOOKUP(sop1, op);
	case E_SOPC: return LOOKUP(sopc, op);
	case E_SOPP: return LOOKUP(sopp, op);
	default: return NULL;
	}
}

void wave_set_mode(struct wave *w, uint32_t mode)
{
	w->mode = mode;
	apply_mode(w);
}
