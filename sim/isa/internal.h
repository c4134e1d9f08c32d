/* sim/isa internals: decoded instructions, waves, programs.  Private to sim/isa. */
#ifndef TB_SIM_ISA_INTERNAL_H
#define TB_SIM_ISA_INTERNAL_H

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "sim/isa/isa.h"

#define LANES 32
#define FULL_EXEC 0xffffffffu

/* Scalar register file indices: the operand encoding's own numbers. */
enum {
	R_VCC_LO = 106,
	R_VCC_HI = 107,
	R_NULL = 124,		/* reads 0, writes vanish (into R_DISCARD) */
	R_M0 = 125,
	R_EXEC_LO = 126,
	R_EXEC_HI = 127,
	R_DISCARD = 128,	/* where writes to NULL go */
	R_DISCARD_HI = 129,
	SGPR_FILE = 128 + 20,
};
#define VGPR_TEMP 256		/* a spare VGPR row for dual-issue hazards */
/* Padding past the last register: operand ranges (v[255:262], s[120:135])
 * stay inside the file, where the hardware would read garbage. */
#define VGPR_FILE (256 + 16)

/* Source operand kinds, resolved at decode time. */
enum src_kind {
	SRC_NONE,
	SRC_SGPR,		/* reg: scalar register (pairs start here) */
	SRC_VGPR,		/* reg: vector register */
	SRC_CONST,		/* value: inline constant or literal, in the operand's type */
	SRC_SCC,
	SRC_VCCZ,
	SRC_EXECZ,
	SRC_SHARED_BASE,	/* the apertures: 64-bit reads give the address, */
	SRC_SHARED_LIMIT,	/* 32-bit reads its high half */
	SRC_PRIVATE_BASE,
	SRC_PRIVATE_LIMIT,
};

/* Operand types: how constants are materialized and registers read. */
enum optype {
	T_NONE,
	T_B32,		/* 32-bit integer or bits */
	T_F32,
	T_B16,		/* 16-bit integer */
	T_F16,
	T_B64,
	T_F64,
	T_PK16,		/* two packed 16-bit integers (VOP3P) */
	T_PKF16,	/* two packed halves (VOP3P) */
};

struct src {
	uint8_t kind;
	uint8_t type;
	uint16_t reg;
	uint64_t value;
};

struct wave;
struct inst;
typedef void (*exec_fn)(struct wave *w, const struct inst *in);

/* Encodings. */
enum enc {
	E_INVALID,
	E_SOP2, E_SOPK, E_SOP1, E_SOPC, E_SOPP, E_SMEM,
	E_VOP1, E_VOP2, E_VOPC, E_VOP3, E_VOP3SD, E_VOP3P, E_VOPD,
	E_DS, E_FLAT, E_GLOBAL, E_SCRATCH, E_MUBUF,
	E_COUNT
};

/* DPP source modes (src0 of VOP1/VOP2/VOPC/VOP3). */
enum { DPP_NONE, DPP_16, DPP_8, DPP_8_FI };

/* One decoded instruction.  Its fields are read by its handler; which ones
 * mean what depends on the encoding and is documented where decoded. */
struct inst {
	exec_fn fn;
	uint32_t next;		/* dword index of the following instruction */
	uint32_t target;	/* branch target (dword index), SOPP */
	uint16_t op;		/* canonical operation number (see optable.c) */
	uint8_t enc;
	uint8_t ndw;		/* length in dwords */
	uint16_t dst;		/* VGPR or SGPR destination */
	uint16_t sdst;		/* second (scalar) destination: carry out, VOPC e64 */
	struct src src[3];
	/* modifiers */
	uint8_t neg, abs, neg_hi, opsel, opsel_hi, clamp, omod;
	uint8_t dpp;		/* DPP_* on src0 */
	uint8_t slow_src;	/* bit i: source i is not a plain VGPR read (see lanes.h) */
	uint32_t dpp_ctrl;	/* dpp16: ctrl|row_mask<<16|bank_mask<<20|bc<<24|fi<<25; dpp8: selects */
	/* memory and scalar fields */
	int32_t imm;		/* simm16, memory offsets */
	int32_t imm2;		/* DS offset1 */
	uint16_t addr;		/* VGPR address */
	uint16_t data;		/* VGPR or SGPR data */
	uint16_t data1;		/* DS data1 */
	uint16_t saddr;		/* SGPR base (0x7c/NULL: off) */
	uint8_t glc, slc, dlc, sve;
	/* VOPD: the Y half (X is this instruction's own fields) */
	const struct inst *vopd_x, *vopd_y;
	uint8_t vopd_hazard;	/* Y reads X's destination: X writes VGPR_TEMP first */
	uint32_t word[3];	/* the raw words, for messages */
	uint32_t pc;		/* dword index of this instruction */
};

/* Wave state: registers and where it is in the program. */
enum wave_state { W_RUNNING, W_BARRIER, W_DONE, W_FAULT };

struct workgroup;

struct wave {
	uint32_t s[SGPR_FILE];
	uint32_t v[VGPR_FILE][LANES];
	uint32_t pc;		/* dword index into the program */
	uint32_t cur;		/* the executing instruction's dword index */
	int32_t budget;		/* instructions left in this time slice; a
				   handler that stops the wave sets it to 0 */
	uint8_t scc;
	uint8_t state;
	uint8_t ieee;		/* MODE.IEEE */
	uint8_t dx10_clamp;
	uint8_t denorm32;	/* MODE.FP_DENORM f32: 3 keeps denormals */
	uint8_t denorm1664;
	uint8_t round;		/* MODE.FP_ROUND (4 bits) */
	uint32_t mode;		/* HW_REG_MODE as written */
	uint32_t trapsts;
	uint32_t dpp_write;	/* lanes a DPP instruction may write */
	uint64_t executed;
	uint32_t id_in_group;	/* wave index within its workgroup */
	uint32_t lane_count;	/* live lanes (partial waves have fewer) */
	uint64_t scratch_base;	/* GPU VA of this wave's lane 0 private memory */
	struct workgroup *wg;
	const struct program *prog;
	/* recently used translations */
	struct isa_mapping tlb[4];
	uint32_t tlb_next;
};

/* Per workgroup: its LDS and its waves, on one host thread. */
struct workgroup {
	uint8_t *lds;
	uint32_t lds_bytes;
	uint32_t nwaves;
	uint32_t id[3];
	struct wave *waves;
	const struct isa_dispatch *d;
	struct dispatch_ctx *ctx;
};

/* A program: decoded instructions in chunks of 64 dword slots, decoded the
 * first time each is reached (and then never again).  Chunks are small
 * (about 8 KiB) because each is zeroed when first reached: a small kernel's
 * first launch then touches a page or two, not 30. */
#define CHUNK_SHIFT 6
#define CHUNK_SLOTS (1u << CHUNK_SHIFT)
struct program {
	uint64_t base;		/* GPU VA of dword 0 */
	uint32_t ndwords;	/* size of the region */
	struct isa_memory mem;
	pthread_mutex_t lock;
	_Atomic(struct inst *) *chunks;	/* nchunks pointers */
	uint32_t nchunks;
	struct inst *vopd_pool;	/* VOPD halves, allocated as decoded */
};

struct isa_program {
	struct program p;
};

/* What the whole dispatch shares. */
struct dispatch_ctx {
	const struct isa_dispatch *d;
	const struct isa_memory *mem;
	const struct program *prog;
	atomic_uint_fast64_t next_group;
	uint64_t groups;
	atomic_int stop;		/* a fault or abort ends every wave */
	pthread_mutex_t fault_lock;
	struct isa_result *res;
	atomic_uint_fast64_t executed;
	atomic_uint_fast64_t waves;
	atomic_uint_fast64_t done_groups;
	uint64_t t0_ns;
	uint32_t waves_per_group;
	uint32_t user_sgprs;
};

/* ---- helpers shared by the handlers ------------------------------------ */

static inline float f32_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline uint32_t u32_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline double f64_of(uint64_t u)
{
	double f;
	memcpy(&f, &u, 8);
	return f;
}

static inline uint64_t u64_of(double f)
{
	uint64_t u;
	memcpy(&u, &f, 8);
	return u;
}

static inline uint32_t exec_of(const struct wave *w)
{
	return w->s[R_EXEC_LO];
}

static inline uint64_t sreg64(const struct wave *w, unsigned r)
{
	return (uint64_t)w->s[r] | (uint64_t)w->s[r + 1] << 32;
}

static inline void set_sreg64(struct wave *w, unsigned r, uint64_t v)
{
	w->s[r] = (uint32_t)v;
	w->s[r + 1] = (uint32_t)(v >> 32);
}

/* Read a scalar source: SGPR, constant or special. */
uint32_t read_special(const struct wave *w, const struct src *s);
uint64_t read_special64(const struct wave *w, const struct src *s);

static inline uint32_t read_ssrc(const struct wave *w, const struct src *s)
{
	if (s->kind == SRC_SGPR)
		return w->s[s->reg];
	if (s->kind == SRC_CONST)
		return (uint32_t)s->value;
	return read_special(w, s);
}

static inline uint64_t read_ssrc64(const struct wave *w, const struct src *s)
{
	if (s->kind == SRC_SGPR)
		return sreg64(w, s->reg);
	if (s->kind == SRC_CONST)
		return s->value;
	return read_special64(w, s);
}

/* Stop the wave: a fault (kind and message recorded once for the dispatch). */
void wave_fault(struct wave *w, const struct inst *in, enum isa_status kind, uint64_t addr,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Memory access through the wave's translation cache: returns the host
 * pointer of [va, va+len) or NULL after raising a memory fault. */
uint8_t *wave_translate(struct wave *w, const struct inst *in, uint64_t va, uint32_t len, bool write);

/* fp helpers (fp.c) */
uint16_t f16_from_f32(float f);
uint16_t f16_from_f32_rtz(float f);
uint16_t f16_from_f64(double d);
float f32_from_f16(uint16_t h);
uint16_t bf16_from_f32(float f);
float f32_from_bf16(uint16_t h);
float flush_f32(float f);
bool is_snan32(uint32_t u);
bool is_snan64(uint64_t u);
bool is_snan16(uint16_t u);
int32_t cvt_f32_i32(float f);
uint32_t cvt_f32_u32(float f);
int32_t cvt_f64_i32(double f);
uint32_t cvt_f64_u32(double f);
float ieee_min32(const struct wave *w, float a, float b);
float ieee_max32(const struct wave *w, float a, float b);
double ieee_min64(const struct wave *w, double a, double b);
double ieee_max64(const struct wave *w, double a, double b);
float nan_fix32(float r, float a, float b);
float amd_exp2f(float x);
float amd_log2f(float x);
float amd_rcpf(float x);
float amd_rsqf(float x);
float amd_sqrtf(float x);
float amd_sinf(float x);
float amd_cosf(float x);
bool class_match32(uint32_t u, uint32_t mask);
bool class_match64(uint64_t u, uint32_t mask);
bool class_match16(uint16_t u, uint32_t mask);

/* Handler tables (salu.c, valu.c, vmem.c): look up the handler of an
 * encoding's opcode.  Return NULL when unsupported. */
struct opinfo {
	exec_fn fn;
	uint8_t dt, t0, t1, t2;	/* destination and source operand types */
	uint8_t flags;
};
enum {
	OPF_VCC_IN = 1,		/* VOP2 form reads VCC (carry in, cndmask) */
	OPF_VCC_OUT = 2,	/* VOP2 form writes VCC (carry out) */
	OPF_CMPX = 4,		/* VOPC writes EXEC */
	OPF_SDST = 8,		/* VOP3 form has an SGPR destination (VOPC, readlane) */
	OPF_NOCLAMP = 16,	/* clamp is not supported */
	OPF_LANE = 32,		/* cross-lane: reads other lanes of a source */
};
const struct opinfo *salu_op(int enc, unsigned op);
const struct opinfo *valu_op(unsigned canonical);
const struct opinfo *vmem_op(int enc, unsigned op);
extern const struct opinfo vopd_x_ops[16], vopd_y_ops[32];

/* Decode (decode.c). */
/* Decode one instruction at dword index pc_dw; VOPD halves go to halves[0..1].
 * Returns its length in dwords, or -EINVAL (then out executes as illegal). */
int decode_inst(const uint32_t *words, int n, uint32_t pc_dw, struct inst *out, struct inst *halves);
const char *op_name(int enc, unsigned op);
void exec_illegal(struct wave *w, const struct inst *in);

/* Execution entry points (salu.c, valu.c, vmem.c) used by the decoder. */
void exec_vopd(struct wave *w, const struct inst *in);

/* Initial MODE register (salu.c). */
void wave_set_mode(struct wave *w, uint32_t mode);

/* Scheduling (dispatch.c) */
uint64_t now_ns(void);

#define UNUSED __attribute__((unused))

#endif
