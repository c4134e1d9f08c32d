/* Decoding gfx1100 machine code into struct inst, once per instruction.
 *
 * Field layouts follow AMD's RDNA3 ISA reference; the mnemonics come from
 * LLVM's disassembler (opnames.inc), which the decoder test holds us to. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim/isa/internal.h"

#include "sim/isa/opnames.inc"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NAME(tab, op) ((op) < ARRAY_LEN(tab) ? (tab)[op] : NULL)

/* Canonical VALU operation numbers: the VOP3 opcode space (0x000-0x3ff)
 * holds VOPC (0x000+), VOP2 (0x100+), VOP1 (0x180+) and VOP3-only ops; ops
 * with no VOP3 form get numbers above it. */
#define CANON_VOP2_ONLY 0x400
#define CANON_VOP3P 0x500

const char *op_name(int enc, unsigned op)
{
	switch (enc) {
	case E_SOP2: return NAME(names_sop2, op);
	case E_SOPK: return NAME(names_sopk, op);
	case E_SOP1: return NAME(names_sop1, op);
	case E_SOPC: return NAME(names_sopc, op);
	case E_SOPP: return NAME(names_sopp, op);
	case E_SMEM: return NAME(names_smem, op);
	case E_VOP1: return NAME(names_vop1, op);
	case E_VOP2: return NAME(names_vop2, op);
	case E_VOPC: return NAME(names_vopc, op);
	case E_VOP3:
	case E_VOP3SD: return NAME(names_vop3, op);
	case E_VOP3P: return NAME(names_vop3p, op);
	case E_DS: return NAME(names_ds, op);
	case E_FLAT: return NAME(names_flat, op);
	case E_GLOBAL: return NAME(names_global, op);
	case E_SCRATCH: return NAME(names_scratch, op);
	case E_MUBUF: return NAME(names_mubuf, op);
	default: return NULL;
	}
}

static int classify(uint32_t w)
{
	if ((w >> 30) == 2) {
		if ((w >> 28) == 0xb) {
			switch (w >> 23) {
			case 0x17d: return E_SOP1;
			case 0x17e: return E_SOPC;
			case 0x17f: return E_SOPP;
			default: return E_SOPK;
			}
		}
		return E_SOP2;
	}
	if ((w >> 31) == 0) {
		switch (w >> 25) {
		case 0x3f: return E_VOP1;
		case 0x3e: return E_VOPC;
		default: return E_VOP2;
		}
	}
	switch (w >> 26) {
	case 0x3d: return E_SMEM;
	case 0x35: return E_VOP3;
	case 0x32: return E_VOPD;
	case 0x36: return E_DS;
	case 0x37:
		switch ((w >> 16) & 3) {
		case 0: return E_FLAT;
		case 1: return E_SCRATCH;
		case 2: return E_GLOBAL;
		default: return E_INVALID;
		}
	case 0x38: return E_MUBUF;
	}
	if ((w >> 24) == 0xcc)
		return E_VOP3P;
	return E_INVALID;
}

/* The VOP3SD ops: VOP3 layout with an SGPR carry/VCC destination. */
static bool is_vop3sd(unsigned op)
{
	return (op >= 0x120 && op <= 0x122) || (op >= 0x2fc && op <= 0x2ff) || (op >= 0x300 && op <= 0x302);
}

/* ---- source operands ---------------------------------------------------- */

static const uint32_t float_consts32[9] = {
	0x3f000000, 0xbf000000, 0x3f800000, 0xbf800000, 0x40000000, 0xc0000000, 0x40800000, 0xc0800000,
	0x3e22f983,	/* 1/(2*pi) */
};
static const uint16_t float_consts16[9] = {
	0x3800, 0xb800, 0x3c00, 0xbc00, 0x4000, 0xc000, 0x4400, 0xc400, 0x3118,
};
static const uint64_t float_consts64[9] = {
	0x3fe0000000000000, 0xbfe0000000000000, 0x3ff0000000000000, 0xbff0000000000000,
	0x4000000000000000, 0xc000000000000000, 0x4010000000000000, 0xc010000000000000,
	0x3fc45f306dc9c882,
};

enum { CODE_LITERAL = 255, CODE_DPP16 = 250, CODE_DPP8 = 233, CODE_DPP8_FI = 234 };

static bool is_dpp(unsigned code) { return code == CODE_DPP16 || code == CODE_DPP8 || code == CODE_DPP8_FI; }

static bool is_64(int type) { return type == T_B64 || type == T_F64; }

/* Resolve a 9-bit source code; literal is the instruction's literal dword.
 * Returns false for codes that are not valid sources. */
static bool resolve_src(unsigned code, int type, uint32_t literal, struct src *s)
{
	memset(s, 0, sizeof *s);
	s->type = (uint8_t)type;
	if (code >= 256) {
		s->kind = SRC_VGPR;
		s->reg = (uint16_t)(code - 256);
		return true;
	}
	if (code <= 127) {
		s->kind = SRC_SGPR;
		s->reg = (uint16_t)code;
		return true;
	}
	s->kind = SRC_CONST;
	if (code >= 128 && code <= 208) {
		int64_t v = code <= 192 ? (int64_t)code - 128 : 192 - (int64_t)code;
		if (is_64(type))
			s->value = (uint64_t)v;
		else if (type == T_B16 || type == T_F16)
			s->value = (uint16_t)v;
		else
			s->value = (uint32_t)v;
		return true;
	}
	if (code >= 240 && code <= 248) {
		unsigned i = code - 240;
		if (type == T_F64)
			s->value = float_consts64[i];
		else if (type == T_F16 || type == T_PKF16)
			s->value = float_consts16[i];
		else if (type == T_B16 || type == T_PK16)
			s->value = float_consts16[i];
		else
			s->value = float_consts32[i];
		return true;
	}
	switch (code) {
	case CODE_LITERAL:
		if (type == T_F64)
			s->value = (uint64_t)literal << 32;
		else
			s->value = literal;
		return true;
	case 235: case 236: case 237: case 238:	/* apertures: resolved per dispatch */
		s->kind = SRC_SGPR;	/* placeholder, fixed below by the caller */
		s->reg = (uint16_t)code;
		return true;
	case 251: s->kind = SRC_VCCZ; return true;
	case 252: s->kind = SRC_EXECZ; return true;
	case 253: s->kind = SRC_SCC; return true;
	}
	return false;
}

static bool uses_literal(unsigned code) { return code == CODE_LITERAL; }

/* Destination SGPR index, with NULL redirected to the discard slots. */
static bool resolve_sdst(unsigned code, uint16_t *out)
{
	if (code > 127)
		return false;
	*out = code == R_NULL ? R_DISCARD : (uint16_t)code;
	return true;
}

/* ---- the decoder -------------------------------------------------------- */

struct dctx {
	const uint32_t *w;
	int n;			/* dwords available */
	uint32_t pc;		/* dword index of the instruction */
	struct inst *in;
};

static int need(struct dctx *c, int ndw)
{
	return ndw <= c->n ? ndw : 0;
}

static int finish(struct dctx *c, int ndw)
{
	struct inst *in = c->in;
	in->ndw = (uint8_t)ndw;
	in->next = c->pc + (uint32_t)ndw;
	for (int i = 0; i < 3; i++)
		in->word[i] = i < ndw && i < c->n ? c->w[i] : 0;
	return ndw;
}

static int decode_sop2(struct dctx *c)
{
	uint32_t w = c->w[0];
	unsigned op = (w >> 23) & 0x7f;
	struct inst *in = c->in;
	const struct opinfo *oi = salu_op(E_SOP2, op);
	unsigned s0 = w & 0xff, s1 = (w >> 8) & 0xff;
	int ndw = 1 + (uses_literal(s0) || uses_literal(s1));
	uint32_t lit = ndw == 2 && c->n >= 2 ? c->w[1] : 0;
	in->op = (uint16_t)op;
	if (!need(c, ndw) || !oi || !resolve_sdst((w >> 16) & 0x7f, &in->dst) ||
	    !resolve_src(s0, oi->t0, lit, &in->src[0]) || !resolve_src(s1, oi->t1, lit, &in->src[1]))
		return -1;
	in->fn = oi->fn;
	return finish(c, ndw);
}

static int decode_sopk(struct dctx *c)
{
	uint32_t w = c->w[0];
	unsigned op = (w >> 23) & 0x1f;
	struct inst *in = c->in;
	const struct opinfo *oi = salu_op(E_SOPK, op);
	int ndw = op == 0x13 ? 2 : 1;	/* s_setreg_imm32_b32 carries a literal */
	in->op = (uint16_t)op;
	in->imm = (int16_t)(w & 0xffff);
	if (!need(c, ndw) || !oi)
		return -1;
	if (op == 0x13)
		in->src[0] = (struct src){ .kind = SRC_CONST, .type = T_B32, .value = c->w[1] };
	unsigned sd = (w >> 16) & 0x7f;
	in->dst = sd == R_NULL ? R_DISCARD : (uint16_t)sd;
	in->src[1] = (struct src){ .kind = SRC_SGPR, .type = T_B32, .reg = (uint16_t)sd };
	in->target = c->pc + 1 + (uint32_t)in->imm;	/* s_call_b64 */
	in->fn = oi->fn;
	return finish(c, ndw);
}

static int decode_sop1(struct dctx *c)
{
	uint32_t w = c->w[0];
	unsigned op = (w >> 8) & 0xff;
	struct inst *in = c->in;
	const struct opinfo *oi = salu_op(E_SOP1, op);
	unsigned s0 = w & 0xff;
	int ndw = 1 + uses_literal(s0);
	in->op = (uint16_t)op;
	in->imm = (int32_t)s0;	/* the message of s_sendmsg_rtn */
	if (!need(c, ndw) || !oi || !resolve_sdst((w >> 16) & 0x7f, &in->dst) ||
	    !resolve_src(s0, oi->t0, ndw == 2 ? c->w[1] : 0, &in->src[0]))
		return -1;
	in->fn = oi->fn;
	return finish(c, ndw);
}

static int decode_sopc(struct dctx *c)
{
	uint32_t w = c->w[0];
	unsigned op = (w >> 16) & 0x7f;
	struct inst *in = c->in;
	const struct opinfo *oi = salu_op(E_SOPC, op);
	unsigned s0 = w & 0xff, s1 = (w >> 8) & 0xff;
	int ndw = 1 + (uses_literal(s0) || uses_literal(s1));
	uint32_t lit = ndw == 2 && c->n >= 2 ? c->w[1] : 0;
	in->op = (uint16_t)op;
	if (!need(c, ndw) || !oi || !resolve_src(s0, oi->t0, lit, &in->src[0]) ||
	    !resolve_src(s1, oi->t1, lit, &in->src[1]))
		return -1;
	in->fn = oi->fn;
	return finish(c, ndw);
}

static int decode_sopp(struct dctx *c)
{
	uint32_t w = c->w[0];
	unsigned op = (w >> 16) & 0x7f;
	struct inst *in = c->in;
	const struct opinfo *oi = salu_op(E_SOPP, op);
	in->op = (uint16_t)op;
	in->imm = (int16_t)(w & 0xffff);
	in->target = c->pc + 1 + (uint32_t)in->imm;
	if (!oi)
		return -1;
	in->fn = oi->fn;
	return finish(c, 1);
}

static int decode_smem(struct dctx *c)
{
	if (!need(c, 2))
		return -1;
	uint32_t w0 = c->w[0], w1 = c->w[1];
	unsigned op = (w0 >> 18) & 0xff;
	struct inst *in = c->in;
	const struct opinfo *oi = vmem_op(E_SMEM, op);
	in->op = (uint16_t)op;
	in->saddr = (uint16_t)((w0 & 0x3f) * 2);
	in->data = (uint16_t)((w0 >> 6) & 0x7f);
	in->dlc = (w0 >> 13) & 1;
	in->glc = (w0 >> 14) & 1;
	in->imm = (int32_t)(w1 << 11) >> 11;	/* 21-bit signed */
	unsigned so = w1 >> 25;
	if (so == R_NULL)
		in->src[1] = (struct src){ .kind = SRC_CONST, .type = T_B32, .value = 0 };
	else
		in->src[1] = (struct src){ .kind = SRC_SGPR, .type = T_B32, .reg = (uint16_t)so };
	if (!oi)
		return -1;
	in->fn = oi->fn;
	return finish(c, 2);
}

/* VALU sources: fills src[i] from code with the operation's operand type. */
static bool valu_src(struct inst *in, int i, unsigned code, int type, uint32_t lit)
{
	if (!resolve_src(code, type ? type : T_B32, lit, &in->src[i]))
		return false;
	return true;
}

static void set_dpp(struct inst *in, int kind, uint32_t dword)
{
	in->dpp = (uint8_t)kind;
	in->src[0] = (struct src){ .kind = SRC_VGPR, .type = in->src[0].type, .reg = (uint16_t)(dword & 0xff) };
	if (kind == DPP_16) {
		uint32_t ctrl = (dword >> 8) & 0x1ff;
		uint32_t fi = (dword >> 18) & 1, bc = (dword >> 19) & 1;
		uint32_t bank = (dword >> 24) & 0xf, row = (dword >> 28) & 0xf;
		in->dpp_ctrl = ctrl | row << 16 | bank << 20 | bc << 24 | fi << 25;
		/* src0 neg/abs live in the DPP word for VOP1/2/C */
		in->neg |= (uint8_t)((dword >> 20) & 1);
		in->abs |= (uint8_t)((dword >> 21) & 1);
		in->neg |= (uint8_t)(((dword >> 22) & 1) << 1);
		in->abs |= (uint8_t)(((dword >> 23) & 1) << 1);
	} else {
		in->dpp_ctrl = dword >> 8;	/* eight 3-bit lane selects */
	}
}

static int dpp_kind(unsigned code)
{
	return code == CODE_DPP16 ? DPP_16 : code == CODE_DPP8 ? DPP_8 : DPP_8_FI;
}

/* Apply the implicit operands of VOP2/VOPC/VOP1 forms. */
static void valu_implicit(struct inst *in, const struct opinfo *oi, bool vop3)
{
	if (!vop3 && (oi->flags & OPF_VCC_IN))
		in->src[2] = (struct src){ .kind = SRC_SGPR, .type = T_B32, .reg = R_VCC_LO };
	if (!vop3 && (oi->flags & OPF_VCC_OUT))
		in->sdst = R_VCC_LO;
}

static bool is_fmac(unsigned canon)
{
	return canon == 0x12b || canon == 0x136 || canon == 0x106 || canon == CANON_VOP2_ONLY + 0x02 ||
	       canon == CANON_VOP2_ONLY + 0x3c;
}

static int decode_vop_short(struct dctx *c, int enc)
{
	uint32_t w = c->w[0];
	struct inst *in = c->in;
	unsigned op, canon, s0 = w & 0x1ff, vsrc1 = (w >> 9) & 0xff, vdst = (w >> 17) & 0xff;
	if (enc == E_VOP1) {
		op = (w >> 9) & 0xff;
		canon = 0x180 + op;
	} else if (enc == E_VOP2) {
		op = (w >> 25) & 0x3f;
		bool only = op == 0x02 || op == 0x2c || op == 0x2d || op == 0x37 || op == 0x38 || op == 0x3c;
		canon = only ? CANON_VOP2_ONLY + op : 0x100 + op;
	} else {
		op = (w >> 17) & 0xff;
		canon = op;
	}
	in->op = (uint16_t)canon;
	const struct opinfo *oi = valu_op(canon);
	if (!oi)
		return -1;
	int ndw = 1;
	bool fmak = enc == E_VOP2 && (op == 0x2c || op == 0x2d || op == 0x37 || op == 0x38);
	if (is_dpp(s0) || uses_literal(s0) || fmak)
		ndw = 2;
	if (!need(c, ndw))
		return -1;
	uint32_t ext = ndw == 2 ? c->w[1] : 0;
	if (is_dpp(s0)) {
		if (fmak || !valu_src(in, 0, 256, oi->t0, 0))
			return -1;
		set_dpp(in, dpp_kind(s0), ext);
	} else if (!valu_src(in, 0, s0, oi->t0, ext)) {
		return -1;
	}
	if (enc != E_VOP1) {
		/* 16-bit operands of the e32 forms name register halves: bit 7 is .h */
		unsigned r1 = vsrc1;
		if ((oi->t1 == T_F16 || oi->t1 == T_B16) && (r1 & 0x80)) {
			r1 &= 0x7f;
			in->opsel |= 2;
		}
		if (!valu_src(in, 1, 256 + r1, oi->t1, ext))
			return -1;
	}
	if ((oi->t0 == T_F16 || oi->t0 == T_B16) && in->src[0].kind == SRC_VGPR && (in->src[0].reg & 0x80) &&
	    !in->dpp) {
		in->src[0].reg &= 0x7f;
		in->opsel |= 1;
	}
	if (enc == E_VOPC) {
		in->sdst = (oi->flags & OPF_CMPX) ? R_EXEC_LO : R_VCC_LO;
	} else if (oi->flags & OPF_SDST) {
		if (!resolve_sdst(vdst, &in->dst))	/* v_readfirstlane_b32 */
			return -1;
	} else {
		in->dst = (uint16_t)vdst;
		if ((oi->dt == T_F16 || oi->dt == T_B16) && (vdst & 0x80)) {
			in->dst = (uint16_t)(vdst & 0x7f);
			in->opsel |= 8;
		}
	}
	if (fmak) {
		/* v_fmamk: D = S0 * K + S1;  v_fmaak: D = S0 * S1 + K */
		in->src[2] = (struct src){ .kind = SRC_CONST, .type = oi->t2, .value = ext };
	}
	if (is_fmac(canon))
		in->src[2] = (struct src){ .kind = SRC_VGPR, .type = oi->t2, .reg = in->dst };
	valu_implicit(in, oi, false);
	in->fn = oi->fn;
	return finish(c, ndw);
}

static bool needs_literal3(const uint32_t w1)
{
	return uses_literal(w1 & 0x1ff) || uses_literal((w1 >> 9) & 0x1ff) || uses_literal((w1 >> 18) & 0x1ff);
}

static int decode_vop3(struct dctx *c)
{
	if (!need(c, 2))
		return -1;
	uint32_t w0 = c->w[0], w1 = c->w[1];
	struct inst *in = c->in;
	unsigned op = (w0 >> 16) & 0x3ff;
	const struct opinfo *oi = valu_op(op);
	in->op = (uint16_t)op;
	if (!oi)
		return -1;
	bool sd = is_vop3sd(op);
	unsigned s0 = w1 & 0x1ff;
	int ndw = 2;
	if (is_dpp(s0) || needs_literal3(w1))
		ndw = 3;
	if (!need(c, ndw))
		return -1;
	uint32_t ext = ndw == 3 ? c->w[2] : 0;
	in->enc = sd ? E_VOP3SD : E_VOP3;
	in->clamp = (w0 >> 15) & 1;
	in->omod = (w1 >> 27) & 3;
	in->neg = (w1 >> 29) & 7;
	if (!sd) {
		in->abs = (w0 >> 8) & 7;
		in->opsel = (w0 >> 11) & 0xf;
	}
	const int types[3] = { oi->t0, oi->t1, oi->t2 };
	for (int i = 0; i < 3; i++) {
		unsigned code = (w1 >> (9 * i)) & 0x1ff;
		if (i == 0 && is_dpp(code)) {
			if (!valu_src(in, 0, 256, types[0], 0))
				return -1;
			uint8_t keep_neg = in->neg, keep_abs = in->abs;
			set_dpp(in, dpp_kind(code), ext);
			in->neg = keep_neg;	/* VOP3 DPP keeps its modifiers in the VOP3 word */
			in->abs = keep_abs;
			continue;
		}
		if (types[i] == T_NONE)
			continue;
		if (!valu_src(in, i, code, types[i], ext))
			return -1;
	}
	unsigned vdst = w0 & 0xff;
	if (op < 0x100) {
		/* VOPC promoted: the destination is an SGPR mask; v_cmpx writes EXEC */
		if (oi->flags & OPF_CMPX)
			in->sdst = R_EXEC_LO;
		else if (!resolve_sdst(vdst, &in->sdst))
			return -1;
	} else if (oi->flags & OPF_SDST) {
		if (!resolve_sdst(vdst, &in->dst))
			return -1;
	} else {
		in->dst = (uint16_t)vdst;
	}
	if (sd && !resolve_sdst((w0 >> 8) & 0x7f, &in->sdst))
		return -1;
	if (is_fmac(op))
		in->src[2] = (struct src){ .kind = SRC_VGPR, .type = oi->t2, .reg = in->dst };
	if (in->clamp && (oi->flags & OPF_NOCLAMP))
		return -1;
	in->fn = oi->fn;
	return finish(c, ndw);
}

static int decode_vop3p(struct dctx *c)
{
	if (!need(c, 2))
		return -1;
	uint32_t w0 = c->w[0], w1 = c->w[1];
	struct inst *in = c->in;
	unsigned op = (w0 >> 16) & 0x7f;
	const struct opinfo *oi = valu_op(CANON_VOP3P + op);
	in->op = (uint16_t)(CANON_VOP3P + op);
	if (!oi)
		return -1;
	int ndw = needs_literal3(w1) ? 3 : 2;
	if (!need(c, ndw))
		return -1;
	uint32_t lit = ndw == 3 ? c->w[2] : 0;
	in->enc = E_VOP3P;
	in->dst = (uint16_t)(w0 & 0xff);
	in->neg_hi = (w0 >> 8) & 7;
	in->opsel = (w0 >> 11) & 7;
	in->opsel_hi = (uint8_t)(((w1 >> 27) & 3) | (((w0 >> 14) & 1) << 2));
	in->clamp = (w0 >> 15) & 1;
	in->neg = (w1 >> 29) & 7;
	const int types[3] = { oi->t0, oi->t1, oi->t2 };
	for (int i = 0; i < 3; i++) {
		if (types[i] == T_NONE)
			continue;
		if (!valu_src(in, i, (w1 >> (9 * i)) & 0x1ff, types[i], lit))
			return -1;
	}
	if (in->clamp && (oi->flags & OPF_NOCLAMP))
		return -1;
	in->fn = oi->fn;
	return finish(c, ndw);
}

static const uint16_t vopd_canon[32] = {
	[0x00] = 0x12b, [0x01] = CANON_VOP2_ONLY + 0x2d, [0x02] = CANON_VOP2_ONLY + 0x2c,
	[0x03] = 0x108, [0x04] = 0x103, [0x05] = 0x104, [0x06] = 0x105, [0x07] = 0x107,
	[0x08] = 0x181, [0x09] = 0x101, [0x0a] = 0x110, [0x0b] = 0x10f,
	[0x0c] = CANON_VOP2_ONLY + 0x02, [0x10] = 0x125, [0x11] = 0x118, [0x12] = 0x11b,
};

/* One half of a dual-issue instruction, decoded as if it were a VOP2. */
static bool vopd_half(struct inst *h, unsigned vop, bool is_x, unsigned s0, unsigned vsrc1, unsigned vdst,
		      uint32_t lit, uint32_t pc)
{
	memset(h, 0, sizeof *h);
	if ((is_x && vop > 0x0c) || vop > 0x12 || !vopd_canon[vop])
		return false;
	unsigned canon = vopd_canon[vop];
	const struct opinfo *oi = valu_op(canon);
	if (!oi)
		return false;
	h->op = (uint16_t)canon;
	h->enc = E_VOP2;
	h->pc = pc;
	h->dst = (uint16_t)vdst;
	if (!resolve_src(s0, oi->t0, lit, &h->src[0]))
		return false;
	if (oi->t1 != T_NONE && !resolve_src(256 + vsrc1, oi->t1, lit, &h->src[1]))
		return false;
	if (vop == 0x01 || vop == 0x02)
		h->src[2] = (struct src){ .kind = SRC_CONST, .type = T_F32, .value = lit };
	if (is_fmac(canon))
		h->src[2] = (struct src){ .kind = SRC_VGPR, .type = oi->t2, .reg = h->dst };
	if (oi->flags & OPF_VCC_IN)
		h->src[2] = (struct src){ .kind = SRC_SGPR, .type = T_B32, .reg = R_VCC_LO };
	h->fn = oi->fn;
	return true;
}

static bool reads_vgpr(const struct inst *h, unsigned reg)
{
	for (int i = 0; i < 3; i++)
		if (h->src[i].kind == SRC_VGPR && h->src[i].reg == reg)
			return true;
	return false;
}

static int decode_vopd(struct dctx *c, struct inst *halves)
{
	if (!need(c, 2))
		return -1;
	uint32_t w0 = c->w[0], w1 = c->w[1];
	struct inst *in = c->in;
	unsigned opx = (w0 >> 22) & 0xf, opy = (w0 >> 17) & 0x1f;
	unsigned sx0 = w0 & 0x1ff, vsx1 = (w0 >> 9) & 0xff;
	unsigned sy0 = w1 & 0x1ff, vsy1 = (w1 >> 9) & 0xff;
	unsigned vdstx = w1 >> 24, vdsty = (((w1 >> 17) & 0x7f) << 1) | ((vdstx & 1) ^ 1);
	bool lit = uses_literal(sx0) || uses_literal(sy0) || opx == 1 || opx == 2 || opy == 1 || opy == 2;
	int ndw = lit ? 3 : 2;
	if (!need(c, ndw))
		return -1;
	uint32_t k = lit ? c->w[2] : 0;
	in->op = (uint16_t)(opx << 8 | opy);
	struct inst *x = &halves[0], *y = &halves[1];
	if (!vopd_half(x, opx, true, sx0, vsx1, vdstx, k, c->pc) ||
	    !vopd_half(y, opy, false, sy0, vsy1, vdsty, k, c->pc))
		return -1;
	if (vdstx == vdsty)
		return -1;
	/* Both halves read their sources before either writes: if Y reads
	 * X's destination, X writes the spare row and is copied after Y. */
	if (reads_vgpr(y, vdstx)) {
		in->vopd_hazard = 1;
		x->dst = VGPR_TEMP;
		if (is_fmac(x->op)) {
			/* the accumulator is read from the real register, written to the temp */
			x->src[2].reg = (uint16_t)vdstx;
		}
	}
	in->dst = (uint16_t)vdstx;
	in->vopd_x = x;
	in->vopd_y = y;
	in->fn = exec_vopd;
	return finish(c, ndw);
}

static int decode_ds(struct dctx *c)
{
	if (!need(c, 2))
		return -1;
	uint32_t w0 = c->w[0], w1 = c->w[1];
	struct inst *in = c->in;
	unsigned op = (w0 >> 18) & 0xff;
	const struct opinfo *oi = vmem_op(E_DS, op);
	in->op = (uint16_t)op;
	in->imm = (int32_t)(w0 & 0xff);
	in->imm2 = (int32_t)((w0 >> 8) & 0xff);
	in->addr = (uint16_t)(w1 & 0xff);
	in->data = (uint16_t)((w1 >> 8) & 0xff);
	in->data1 = (uint16_t)((w1 >> 16) & 0xff);
	in->dst = (uint16_t)(w1 >> 24);
	if (!oi || ((w0 >> 17) & 1))	/* GDS is not for compute kernels here */
		return -1;
	in->fn = oi->fn;
	return finish(c, 2);
}

static int decode_flat(struct dctx *c, int enc)
{
	if (!need(c, 2))
		return -1;
	uint32_t w0 = c->w[0], w1 = c->w[1];
	struct inst *in = c->in;
	unsigned op = (w0 >> 18) & 0x7f;
	const struct opinfo *oi = vmem_op(enc, op);
	in->op = (uint16_t)op;
	if (enc == E_FLAT)
		in->imm = (int32_t)(w0 & 0xfff);
	else
		in->imm = (int32_t)(w0 << 19) >> 19;	/* 13-bit signed */
	in->dlc = (w0 >> 13) & 1;
	in->glc = (w0 >> 14) & 1;
	in->slc = (w0 >> 15) & 1;
	in->addr = (uint16_t)(w1 & 0xff);
	in->data = (uint16_t)((w1 >> 8) & 0xff);
	in->saddr = (uint16_t)((w1 >> 16) & 0x7f);
	in->sve = (w1 >> 23) & 1;
	in->dst = (uint16_t)(w1 >> 24);
	if (!oi)
		return -1;
	in->fn = oi->fn;
	return finish(c, 2);
}

/* MUBUF: only the cache invalidations (fences emit them) are executed;
 * buffer loads and stores need buffer descriptors no OpenCL kernel here uses. */
static int decode_mubuf(struct dctx *c)
{
	if (!need(c, 2))
		return -1;
	unsigned op = (c->w[0] >> 18) & 0xff;
	const struct opinfo *oi = vmem_op(E_MUBUF, op);
	c->in->op = (uint16_t)op;
	if (!oi)
		return -1;
	c->in->fn = oi->fn;
	return finish(c, 2);
}

/* Fix the sources that name the apertures (src_shared_base...), which are
 * not registers: they become special constants resolved per dispatch. */
static void fix_apertures(struct inst *in)
{
	for (int i = 0; i < 3; i++) {
		struct src *s = &in->src[i];
		if (s->kind == SRC_SGPR && s->reg >= 235 && s->reg <= 238)
			s->kind = (uint8_t)(SRC_SHARED_BASE + (s->reg - 235));
	}
}

/* Sources that need more than a plain VGPR row (constants, SGPRs, DPP,
 * 16-bit halves, abs/neg): fetch32 takes its slow path for those. */
static void mark_slow_sources(struct inst *in)
{
	in->slow_src = 0;
	for (int i = 0; i < 3; i++) {
		const struct src *s = &in->src[i];
		unsigned bit = 1u << i;
		bool slow = s->kind != SRC_VGPR || (i == 0 && in->dpp) || ((in->abs | in->neg) & bit) ||
			    ((s->type == T_F16 || s->type == T_B16) && (in->opsel & bit));
		if (slow)
			in->slow_src |= (uint8_t)bit;
	}
}

static int decode_with(const uint32_t *words, int n, uint32_t pc_dw, struct inst *out, struct inst *halves)
{
	memset(out, 0, sizeof *out);
	out->pc = pc_dw;
	if (n < 1)
		return -EINVAL;
	struct dctx c = { words, n, pc_dw, out };
	int enc = classify(words[0]);
	out->enc = (uint8_t)enc;
	int r;
	switch (enc) {
	case E_SOP2: r = decode_sop2(&c); break;
	case E_SOPK: r = decode_sopk(&c); break;
	case E_SOP1: r = decode_sop1(&c); break;
	case E_SOPC: r = decode_sopc(&c); break;
	case E_SOPP: r = decode_sopp(&c); break;
	case E_SMEM: r = decode_smem(&c); break;
	case E_VOP1:
	case E_VOP2:
	case E_VOPC: r = decode_vop_short(&c, enc); break;
	case E_VOP3: r = decode_vop3(&c); break;
	case E_VOP3P: r = decode_vop3p(&c); break;
	case E_VOPD: r = decode_vopd(&c, halves); break;
	case E_DS: r = decode_ds(&c); break;
	case E_FLAT:
	case E_GLOBAL:
	case E_SCRATCH: r = decode_flat(&c, enc); break;
	case E_MUBUF: r = decode_mubuf(&c); break;
	default: r = -1; break;
	}
	if (r <= 0) {
		out->fn = exec_illegal;
		out->ndw = 1;
		out->next = pc_dw + 1;
		out->word[0] = words[0];
		out->word[1] = n > 1 ? words[1] : 0;
		out->word[2] = n > 2 ? words[2] : 0;
		return -EINVAL;
	}
	fix_apertures(out);
	mark_slow_sources(out);
	if (out->vopd_x) {
		mark_slow_sources((struct inst *)out->vopd_x);
		mark_slow_sources((struct inst *)out->vopd_y);
	}
	return r;
}

int decode_inst(const uint32_t *words, int n, uint32_t pc_dw, struct inst *out, struct inst *halves)
{
	return decode_with(words, n, pc_dw, out, halves);
}

/* An instruction's length in dwords from its encoding alone: base size,
 * plus a literal or DPP dword where a source asks for one. */
static int inst_length(const uint32_t *w, int n, int enc)
{
	uint32_t w0 = w[0];
	switch (enc) {
	case E_SOP2: case E_SOPC: return 1 + (uses_literal(w0 & 0xff) || uses_literal((w0 >> 8) & 0xff));
	case E_SOP1: return 1 + uses_literal(w0 & 0xff);
	case E_SOPK: return ((w0 >> 23) & 0x1f) == 0x13 ? 2 : 1;
	case E_SOPP: return 1;
	case E_VOP1: case E_VOPC: return 1 + (uses_literal(w0 & 0x1ff) || is_dpp(w0 & 0x1ff));
	case E_VOP2: {
		unsigned op = (w0 >> 25) & 0x3f;
		bool k = op == 0x2c || op == 0x2d || op == 0x37 || op == 0x38;
		return 1 + (k || uses_literal(w0 & 0x1ff) || is_dpp(w0 & 0x1ff));
	}
	case E_VOP3: case E_VOP3P:
		if (n < 2)
			return 2;
		return 2 + (needs_literal3(w[1]) || (enc == E_VOP3 && is_dpp(w[1] & 0x1ff)));
	case E_VOPD: {
		unsigned opx = (w0 >> 22) & 0xf, opy = (w0 >> 17) & 0x1f;
		bool lit = uses_literal(w0 & 0x1ff) || (n > 1 && uses_literal(w[1] & 0x1ff)) || opx == 1 ||
			   opx == 2 || opy == 1 || opy == 2;
		return lit ? 3 : 2;
	}
	default: return 2;
	}
}

/* DPP forms are named with _dpp: v_mov_b32_e32 -> v_mov_b32_dpp,
 * v_add_f32_e64 -> v_add_f32_e64_dpp. */
static void dpp_name(const uint32_t *w, int n, int enc, char *name, size_t len)
{
	unsigned s0 = enc == E_VOP3 ? (n > 1 ? w[1] & 0x1ff : 0) : w[0] & 0x1ff;
	if (!(enc == E_VOP1 || enc == E_VOP2 || enc == E_VOPC || enc == E_VOP3) || !is_dpp(s0))
		return;
	size_t l = strlen(name);
	if (enc != E_VOP3 && l > 4 && !strcmp(name + l - 4, "_e32"))
		name[l - 4] = '\0';
	l = strlen(name);
	snprintf(name + l, len - l, "_dpp");
}

/* The mnemonic as llvm-objdump prints it, for any encoding we name, whether
 * or not the emulator executes it (the decoder test compares every
 * instruction of the test kernels with llvm-objdump-19). */
static int name_only(const uint32_t *w, int n, char *name, size_t len)
{
	int enc = classify(w[0]);
	unsigned op;
	const char *nm = NULL;
	switch (enc) {
	case E_SOP2: op = (w[0] >> 23) & 0x7f; break;
	case E_SOPK: op = (w[0] >> 23) & 0x1f; break;
	case E_SOP1: op = (w[0] >> 8) & 0xff; break;
	case E_SOPC: op = (w[0] >> 16) & 0x7f; break;
	case E_SOPP: op = (w[0] >> 16) & 0x7f; break;
	case E_SMEM: op = (w[0] >> 18) & 0xff; break;
	case E_VOP1: op = (w[0] >> 9) & 0xff; break;
	case E_VOP2: op = (w[0] >> 25) & 0x3f; break;
	case E_VOPC: op = (w[0] >> 17) & 0xff; break;
	case E_VOP3: op = (w[0] >> 16) & 0x3ff; break;
	case E_VOP3P: op = (w[0] >> 16) & 0x7f; break;
	case E_DS: op = (w[0] >> 18) & 0xff; break;
	case E_FLAT:
	case E_GLOBAL:
	case E_SCRATCH: op = (w[0] >> 18) & 0x7f; break;
	case E_MUBUF: op = (w[0] >> 18) & 0xff; break;
	case E_VOPD: {
		const char *x = NAME(names_vopd_x, (w[0] >> 22) & 0xf);
		const char *y = NAME(names_vopd_y, (w[0] >> 17) & 0x1f);
		if (!x || !y)
			return 0;
		snprintf(name, len, "%s :: %s", x, y);
		break;
	}
	default: return 0;
	}
	if (enc != E_VOPD) {
		nm = op_name(enc, op);
		if (!nm)
			return 0;
		snprintf(name, len, "%s", nm);
		dpp_name(w, n, enc, name, len);
	}
	int ndw = inst_length(w, n, enc);
	return ndw <= n ? ndw : 0;
}

int isa_disasm_name(const uint32_t *words, int n, char *name, size_t len, bool *executable)
{
	struct inst in, halves[2];
	bool dummy;
	if (!executable)
		executable = &dummy;
	*executable = false;
	if (n < 1 || len == 0)
		return 0;
	int r = decode_with(words, n, 0, &in, halves);
	*executable = r > 0;
	if (r > 0 && in.enc == E_VOPD) {
		snprintf(name, len, "%s :: %s", NAME(names_vopd_x, (words[0] >> 22) & 0xf),
			 NAME(names_vopd_y, (words[0] >> 17) & 0x1f));
		return r;
	}
	if (r > 0) {
		const char *nm = op_name(in.enc, in.enc == E_VOP3P ? (words[0] >> 16) & 0x7f :
					 in.enc == E_VOP3 || in.enc == E_VOP3SD ? (words[0] >> 16) & 0x3ff :
					 in.enc == E_VOP1 ? (words[0] >> 9) & 0xff :
					 in.enc == E_VOP2 ? (words[0] >> 25) & 0x3f :
					 in.enc == E_VOPC ? (words[0] >> 17) & 0xff : in.op);
		snprintf(name, len, "%s", nm ? nm : "?");
		dpp_name(words, n, in.enc == E_VOP3SD ? E_VOP3 : in.enc, name, len);
		return r;
	}
	/* Not executable here; still name it if the instruction set has it. */
	return name_only(words, n, name, len);
}
