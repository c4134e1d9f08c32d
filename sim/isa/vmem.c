/* Memory instructions: scalar loads (SMEM), LDS (DS) and the flat, global
 * and scratch forms of vector memory.  Addresses are GPU virtual addresses
 * translated through the dispatch's isa_memory; private and LDS addresses
 * come from their apertures. */
#include <errno.h>

#include "sim/isa/lanes.h"

/* ---- translation ------------------------------------------------------------ */

static bool in_mapping(const struct isa_mapping *m, uint64_t va, uint32_t len)
{
	return m->host && va >= m->va && va - m->va <= m->size && len <= m->size - (va - m->va);
}

uint8_t *wave_translate(struct wave *w, const struct inst *in, uint64_t va, uint32_t len, bool write)
{
	for (int i = 0; i < 4; i++) {
		const struct isa_mapping *m = &w->tlb[i];
		if (in_mapping(m, va, len)) {
			if (write && !m->writable)
				goto fault;
			return m->host + (va - m->va);
		}
	}
	const struct isa_memory *mem = w->wg->ctx->mem;
	struct isa_mapping m;
	if (mem->lookup(mem->ctx, va, &m) == 0 && in_mapping(&m, va, len)) {
		w->tlb[w->tlb_next++ & 3] = m;
		if (write && !m.writable)
			goto fault;
		return m.host + (va - m.va);
	}
fault:
	wave_fault(w, in, ISA_MEMORY_FAULT, va, "memory fault: %s of %u bytes at 0x%llx", write ? "write" : "read",
		   len, (unsigned long long)va);
	return NULL;
}

/* ---- SMEM -------------------------------------------------------------------- */

static void s_load(struct wave *w, const struct inst *in, unsigned n)
{
	uint64_t base = sreg64(w, in->saddr);
	uint64_t va = (base + (int64_t)in->imm + read_ssrc(w, &in->src[1])) & ~3ull;
	uint8_t *p = wave_translate(w, in, va, n * 4, false);
	if (!p)
		return;
	memcpy(&w->s[in->data], p, n * 4);
}

/* s_buffer_load: the address comes from a buffer descriptor (V#) in four
 * SGPRs; dwords past num_records read as 0, like the hardware's range check. */
static void s_buffer_load(struct wave *w, const struct inst *in, unsigned n)
{
	const uint32_t *d = &w->s[in->saddr];
	uint64_t base = d[0] | (uint64_t)(d[1] & 0xffff) << 32;
	uint32_t records = d[2];
	uint64_t off = ((int64_t)in->imm + read_ssrc(w, &in->src[1])) & 0xfffffffcull;
	for (unsigned i = 0; i < n; i++) {
		uint64_t o = off + 4ull * i;
		if (o + 4 > records) {
			w->s[in->data + i] = 0;
			continue;
		}
		uint8_t *p = wave_translate(w, in, base + o, 4, false);
		if (!p)
			return;
		memcpy(&w->s[in->data + i], p, 4);
	}
}

#define SLOAD(name, n) H(name) { s_load(w, in, n); }
SLOAD(s_load_b32, 1)
SLOAD(s_load_b64, 2)
SLOAD(s_load_b128, 4)
SLOAD(s_load_b256, 8)
SLOAD(s_load_b512, 16)
#define SBLOAD(name, n) H(name) { s_buffer_load(w, in, n); }
SBLOAD(s_buffer_load_b32, 1)
SBLOAD(s_buffer_load_b64, 2)
SBLOAD(s_buffer_load_b128, 4)
SBLOAD(s_buffer_load_b256, 8)
SBLOAD(s_buffer_load_b512, 16)
H(s_cache_op) { (void)w; (void)in; }	/* caches are coherent here */

/* ---- per-lane addresses --------------------------------------------------------- */

enum space { SP_GLOBAL, SP_SCRATCH, SP_LDS };

struct lane_addr {
	enum space space;
	uint64_t va;		/* global VA, private offset or LDS offset */
};

static bool saddr_off(const struct inst *in) { return in->saddr == R_NULL; }

static void lane_addresses(struct wave *w, const struct inst *in, int enc, struct lane_addr *out)
{
	const struct isa_dispatch *d = w->wg->d;
	if (enc == E_SCRATCH) {
		uint32_t s = saddr_off(in) ? 0 : w->s[in->saddr];
		LOOP {
			uint32_t v = in->sve ? w->v[in->addr][l] : 0;
			out[l].space = SP_SCRATCH;
			out[l].va = (uint32_t)(s + v + (uint32_t)in->imm);
		}
		return;
	}
	if (enc == E_GLOBAL && !saddr_off(in)) {
		uint64_t base = sreg64(w, in->saddr);
		LOOP {
			out[l].space = SP_GLOBAL;
			out[l].va = base + w->v[in->addr][l] + (int64_t)in->imm;
		}
		return;
	}
	LOOP {
		uint64_t a = ((uint64_t)w->v[in->addr][l] | (uint64_t)w->v[in->addr + 1][l] << 32) + (int64_t)in->imm;
		out[l].space = SP_GLOBAL;
		out[l].va = a;
		if (enc == E_FLAT) {
			/* flat addresses inside an aperture reach LDS or private memory */
			if (a - d->shared_aperture < (1ull << 32)) {
				out[l].space = SP_LDS;
				out[l].va = a - d->shared_aperture;
			} else if (a - d->private_aperture < (1ull << 32)) {
				out[l].space = SP_SCRATCH;
				out[l].va = a - d->private_aperture;
			}
		}
	}
}

/* Host pointer of [addr, addr+len) for one lane, or NULL after a fault. */
static uint8_t *lane_ptr(struct wave *w, const struct inst *in, int lane, const struct lane_addr *a, uint32_t len,
			 bool write)
{
	switch (a->space) {
	case SP_LDS:
		if (a->va + len > w->wg->lds_bytes) {
			wave_fault(w, in, ISA_MEMORY_FAULT, w->wg->d->shared_aperture + a->va,
				   "memory fault: LDS %s of %u bytes at offset 0x%llx, past the %u bytes allocated",
				   write ? "write" : "read", len, (unsigned long long)a->va, w->wg->lds_bytes);
			return NULL;
		}
		return w->wg->lds + a->va;
	case SP_SCRATCH: {
		uint32_t lane_bytes = w->wg->d->scratch_lane_bytes;
		if (a->va + len > lane_bytes) {
			wave_fault(w, in, ISA_MEMORY_FAULT, w->wg->d->private_aperture + a->va,
				   "memory fault: private (scratch) %s of %u bytes at offset 0x%llx, past the %u bytes "
				   "per work-item", write ? "write" : "read", len, (unsigned long long)a->va, lane_bytes);
			return NULL;
		}
		return wave_translate(w, in, w->scratch_base + (uint64_t)lane * lane_bytes + a->va, len, write);
	}
	default:
		return wave_translate(w, in, a->va, len, write);
	}
}

static int vmem_enc(const struct inst *in) { return in->enc; }

/* ---- loads and stores ------------------------------------------------------------ */

enum ext { X_NONE, X_U8, X_I8, X_U16, X_I16, X_D16_U8, X_D16_I8, X_D16, X_D16_HI_U8, X_D16_HI_I8, X_D16_HI };

/* Global accesses of a full wave that all fall in one mapping (the usual
 * case) are translated once: returns the host address of GPU address *vbase
 * (lane l's pointer is that plus va[l] - *vbase), or NULL. */
static uint8_t *global_span(struct wave *w, const struct inst *in, const uint64_t *va, uint32_t bytes, bool write,
			    uint64_t *vbase)
{
	uint64_t lo = va[0], hi = va[0];
	LOOP {
		lo = va[l] < lo ? va[l] : lo;
		hi = va[l] > hi ? va[l] : hi;
	}
	if (hi - lo > (1ull << 30))
		return NULL;
	for (int i = 0; i < 4; i++) {
		const struct isa_mapping *m = &w->tlb[i];
		if (m->host && lo >= m->va && hi + bytes <= m->va + m->size && (!write || m->writable)) {
			*vbase = m->va;
			return m->host;
		}
	}
	/* not cached: look it up without faulting; the per-lane path reports
	 * the exact faulting address when some lane is out of range */
	const struct isa_memory *mem = w->wg->ctx->mem;
	struct isa_mapping m;
	(void)in;
	if (mem->lookup(mem->ctx, lo, &m) != 0 || lo < m.va || hi + bytes > m.va + m.size || (write && !m.writable))
		return NULL;
	w->tlb[w->tlb_next++ & 3] = m;
	*vbase = m.va;
	return m.host;
}

static bool global_fast(const struct wave *w, const struct inst *in)
{
	return in->enc == E_GLOBAL && exec_of(w) == FULL_EXEC && w->state == W_RUNNING;
}

static void global_addresses(const struct wave *w, const struct inst *in, uint64_t *va)
{
	if (!saddr_off(in)) {
		uint64_t base = sreg64(w, in->saddr) + (uint64_t)(int64_t)in->imm;
		const uint32_t *v = w->v[in->addr];
		LOOP va[l] = base + v[l];
	} else {
		const uint32_t *lo = w->v[in->addr], *hi = w->v[in->addr + 1];
		LOOP va[l] = ((uint64_t)lo[l] | (uint64_t)hi[l] << 32) + (uint64_t)(int64_t)in->imm;
	}
}

static void vload(struct wave *w, const struct inst *in, uint32_t bytes, enum ext ext)
{
	struct lane_addr a[LANES];
	uint32_t exec = exec_of(w);
	if (global_fast(w, in) && (ext == X_NONE || ext == X_U8 || ext == X_U16)) {
		uint64_t va[LANES];
		global_addresses(w, in, va);
		uint64_t vb;
		uint8_t *h = global_span(w, in, va, bytes, false, &vb);
		if (h) {
			LOOP va[l] -= vb;
			if (bytes == 4) {
				uint32_t *d = w->v[in->dst];
				LOOP memcpy(&d[l], h + va[l], 4);
			} else {
				for (uint32_t i = 0; i < (bytes + 3) / 4; i++) {
					uint32_t *d = w->v[in->dst + i];
					uint32_t n = bytes - 4 * i < 4 ? bytes - 4 * i : 4;
					LOOP {
						uint32_t x = 0;
						memcpy(&x, h + va[l] + 4 * i, n);
						d[l] = x;
					}
				}
			}
			return;
		}
		if (w->state != W_RUNNING)
			return;
	}
	lane_addresses(w, in, vmem_enc(in), a);
	uint32_t ndw = (bytes + 3) / 4;
	uint32_t val[4][LANES];
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint8_t *p = lane_ptr(w, in, l, &a[l], bytes, false);
		if (!p)
			return;
		uint32_t buf[4] = { 0 };
		memcpy(buf, p, bytes);
		switch (ext) {
		case X_I8: buf[0] = (uint32_t)(int32_t)(int8_t)buf[0]; break;
		case X_I16: buf[0] = (uint32_t)(int32_t)(int16_t)buf[0]; break;
		case X_D16_U8:
		case X_D16_I8:
		case X_D16: {
			uint32_t v = ext == X_D16_I8 ? (uint16_t)(int16_t)(int8_t)buf[0] : buf[0] & 0xffff;
			buf[0] = (w->v[in->dst][l] & 0xffff0000u) | v;
			break;
		}
		case X_D16_HI_U8:
		case X_D16_HI_I8:
		case X_D16_HI: {
			uint32_t v = ext == X_D16_HI_I8 ? (uint16_t)(int16_t)(int8_t)buf[0] : buf[0] & 0xffff;
			buf[0] = (w->v[in->dst][l] & 0xffffu) | v << 16;
			break;
		}
		default: break;
		}
		for (uint32_t i = 0; i < ndw; i++)
			val[i][l] = buf[i];
	}
	/* write after all lanes are read: the address may be the destination */
	for (uint32_t i = 0; i < ndw; i++)
		LOOP if (exec >> l & 1) w->v[in->dst + i][l] = val[i][l];
}

static void vstore(struct wave *w, const struct inst *in, uint32_t bytes, bool hi16)
{
	struct lane_addr a[LANES];
	uint32_t exec = exec_of(w);
	if (global_fast(w, in) && !hi16 && bytes % 4 == 0) {
		uint64_t va[LANES];
		global_addresses(w, in, va);
		uint64_t vb;
		uint8_t *h = global_span(w, in, va, bytes, true, &vb);
		if (h) {
			LOOP va[l] -= vb;
			for (uint32_t i = 0; i < bytes / 4; i++) {
				const uint32_t *s = w->v[in->data + i];
				LOOP memcpy(h + va[l] + 4 * i, &s[l], 4);
			}
			return;
		}
		if (w->state != W_RUNNING)
			return;
	}
	lane_addresses(w, in, vmem_enc(in), a);
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint32_t buf[4];
		for (uint32_t i = 0; i < (bytes + 3) / 4; i++)
			buf[i] = w->v[in->data + i][l];
		if (hi16)
			buf[0] >>= 16;
		uint8_t *p = lane_ptr(w, in, l, &a[l], bytes, true);
		if (!p)
			return;
		memcpy(p, buf, bytes);
	}
}

#define VLOAD(name, bytes, ext) H(name) { vload(w, in, bytes, ext); }
#define VSTORE(name, bytes, hi) H(name) { vstore(w, in, bytes, hi); }
VLOAD(v_load_u8, 1, X_U8)
VLOAD(v_load_i8, 1, X_I8)
VLOAD(v_load_u16, 2, X_U16)
VLOAD(v_load_i16, 2, X_I16)
VLOAD(v_load_b32, 4, X_NONE)
VLOAD(v_load_b64, 8, X_NONE)
VLOAD(v_load_b96, 12, X_NONE)
VLOAD(v_load_b128, 16, X_NONE)
VLOAD(v_load_d16_u8, 1, X_D16_U8)
VLOAD(v_load_d16_i8, 1, X_D16_I8)
VLOAD(v_load_d16_b16, 2, X_D16)
VLOAD(v_load_d16_hi_u8, 1, X_D16_HI_U8)
VLOAD(v_load_d16_hi_i8, 1, X_D16_HI_I8)
VLOAD(v_load_d16_hi_b16, 2, X_D16_HI)
VSTORE(v_store_b8, 1, false)
VSTORE(v_store_b16, 2, false)
VSTORE(v_store_b32, 4, false)
VSTORE(v_store_b64, 8, false)
VSTORE(v_store_b96, 12, false)
VSTORE(v_store_b128, 16, false)
VSTORE(v_store_d16_hi_b8, 1, true)
VSTORE(v_store_d16_hi_b16, 2, true)

/* ---- atomics ------------------------------------------------------------------------ */

enum atom {
	A_SWAP, A_CMPSWAP, A_ADD, A_SUB, A_CSUB, A_SMIN, A_UMIN, A_SMAX, A_UMAX, A_AND, A_OR, A_XOR, A_INC, A_DEC,
	A_FCMPSWAP, A_FMIN, A_FMAX, A_FADD, A_RSUB, A_MSKOR,
};

static uint64_t atom_apply(const struct wave *w, enum atom op, bool is64, uint64_t old, uint64_t v, uint64_t cmp)
{
	uint64_t mask = is64 ? ~0ull : 0xffffffffull;
	switch (op) {
	case A_SWAP: return v;
	case A_CMPSWAP: return old == cmp ? v : old;
	case A_ADD: return (old + v) & mask;
	case A_SUB: return (old - v) & mask;
	case A_RSUB: return (v - old) & mask;
	case A_CSUB: return old < v ? 0 : old - v;
	case A_SMIN: return is64 ? (uint64_t)((int64_t)old < (int64_t)v ? old : v)
				 : ((int32_t)old < (int32_t)v ? old : v);
	case A_SMAX: return is64 ? (uint64_t)((int64_t)old > (int64_t)v ? old : v)
				 : ((int32_t)old > (int32_t)v ? old : v);
	case A_UMIN: return old < v ? old : v;
	case A_UMAX: return old > v ? old : v;
	case A_AND: return old & v;
	case A_OR: return old | v;
	case A_XOR: return old ^ v;
	case A_MSKOR: return (old & ~v) | cmp;
	case A_INC: return old >= v ? 0 : old + 1;
	case A_DEC: return (old == 0 || old > v) ? v : old - 1;
	case A_FCMPSWAP: return f32_of((uint32_t)old) == f32_of((uint32_t)cmp) ? v : old;
	case A_FMIN: return u32_of(ieee_min32(w, f32_of((uint32_t)old), f32_of((uint32_t)v)));
	case A_FMAX: return u32_of(ieee_max32(w, f32_of((uint32_t)old), f32_of((uint32_t)v)));
	case A_FADD: return u32_of(f32_of((uint32_t)old) + f32_of((uint32_t)v));
	}
	return old;
}

/* One atomic read-modify-write on host memory shared with other threads. */
static uint64_t atom_rmw(const struct wave *w, uint8_t *p, enum atom op, bool is64, uint64_t v, uint64_t cmp)
{
	if (is64) {
		uint64_t *q = (uint64_t *)(void *)p, old = __atomic_load_n(q, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(q, &old, atom_apply(w, op, true, old, v, cmp), false,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			;
		return old;
	}
	uint32_t *q = (uint32_t *)(void *)p, old = __atomic_load_n(q, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(q, &old, (uint32_t)atom_apply(w, op, false, old, v, cmp), false,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
	return old;
}

/* Global/flat atomics: data in VDATA (for cmpswap: new value, then the
 * compare value); with GLC the old value returns to VDST. */
static void vatomic(struct wave *w, const struct inst *in, enum atom op, bool is64)
{
	struct lane_addr a[LANES];
	uint32_t exec = exec_of(w), bytes = is64 ? 8 : 4;
	uint64_t ret[LANES];
	lane_addresses(w, in, vmem_enc(in), a);
	bool has_cmp = op == A_CMPSWAP || op == A_FCMPSWAP;
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint64_t v = w->v[in->data][l], cmp = 0;
		if (is64)
			v |= (uint64_t)w->v[in->data + 1][l] << 32;
		if (has_cmp) {
			unsigned c = in->data + (is64 ? 2 : 1);
			cmp = w->v[c][l] | (is64 ? (uint64_t)w->v[c + 1][l] << 32 : 0);
		}
		if (a[l].va & (bytes - 1)) {
			wave_fault(w, in, ISA_MEMORY_FAULT, a[l].va, "memory fault: misaligned %u-byte atomic at 0x%llx",
				   bytes, (unsigned long long)a[l].va);
			return;
		}
		uint8_t *p = lane_ptr(w, in, l, &a[l], bytes, true);
		if (!p)
			return;
		ret[l] = a[l].space == SP_GLOBAL ? atom_rmw(w, p, op, is64, v, cmp) : 0;
		if (a[l].space != SP_GLOBAL) {
			/* LDS and scratch belong to this workgroup's thread alone */
			uint64_t old = 0;
			memcpy(&old, p, bytes);
			uint64_t nv = atom_apply(w, op, is64, old, v, cmp);
			memcpy(p, &nv, bytes);
			ret[l] = old;
		}
	}
	if (in->glc)
		LOOP if (exec >> l & 1) {
			w->v[in->dst][l] = (uint32_t)ret[l];
			if (is64)
				w->v[in->dst + 1][l] = (uint32_t)(ret[l] >> 32);
		}
}

#define VATOM(name, op, is64) H(name) { vatomic(w, in, op, is64); }
VATOM(v_atomic_swap_b32, A_SWAP, false)
VATOM(v_atomic_cmpswap_b32, A_CMPSWAP, false)
VATOM(v_atomic_add_u32, A_ADD, false)
VATOM(v_atomic_sub_u32, A_SUB, false)
VATOM(v_atomic_csub_u32, A_CSUB, false)
VATOM(v_atomic_min_i32, A_SMIN, false)
VATOM(v_atomic_min_u32, A_UMIN, false)
VATOM(v_atomic_max_i32, A_SMAX, false)
VATOM(v_atomic_max_u32, A_UMAX, false)
VATOM(v_atomic_and_b32, A_AND, false)
VATOM(v_atomic_or_b32, A_OR, false)
VATOM(v_atomic_xor_b32, A_XOR, false)
VATOM(v_atomic_inc_u32, A_INC, false)
VATOM(v_atomic_dec_u32, A_DEC, false)
VATOM(v_atomic_swap_b64, A_SWAP, true)
VATOM(v_atomic_cmpswap_b64, A_CMPSWAP, true)
VATOM(v_atomic_add_u64, A_ADD, true)
VATOM(v_atomic_sub_u64, A_SUB, true)
VATOM(v_atomic_min_i64, A_SMIN, true)
VATOM(v_atomic_min_u64, A_UMIN, true)
VATOM(v_atomic_max_i64, A_SMAX, true)
VATOM(v_atomic_max_u64, A_UMAX, true)
VATOM(v_atomic_and_b64, A_AND, true)
VATOM(v_atomic_or_b64, A_OR, true)
VATOM(v_atomic_xor_b64, A_XOR, true)
VATOM(v_atomic_inc_u64, A_INC, true)
VATOM(v_atomic_dec_u64, A_DEC, true)
VATOM(v_atomic_cmpswap_f32, A_FCMPSWAP, false)
VATOM(v_atomic_min_f32, A_FMIN, false)
VATOM(v_atomic_max_f32, A_FMAX, false)
VATOM(v_atomic_add_f32, A_FADD, false)

/* ---- LDS (DS) -------------------------------------------------------------------------
 * Out-of-range LDS addresses are dropped (writes) or read 0, as the hardware
 * range-checks LDS; LDS belongs to the workgroup, which one host thread runs. */

/* Highest address among the active lanes of an address VGPR (all lanes
 * when EXEC is full, so that the loop vectorizes). */
static inline uint32_t max_addr(const uint32_t *a)
{
	uint32_t m = 0;
	LOOP m = a[l] > m ? a[l] : m;
	return m;
}

static inline uint8_t *lds_ptr(struct wave *w, uint32_t addr, uint32_t len)
{
	struct workgroup *g = w->wg;
	if ((uint64_t)addr + len > g->lds_bytes)
		return NULL;
	return g->lds + addr;
}

static uint32_t ds_offset16(const struct inst *in) { return (uint32_t)in->imm | (uint32_t)in->imm2 << 8; }

/* Loads write each lane's destination right after reading its address: a
 * lane's own address registers are read before they can be overwritten, and
 * other lanes' are untouched. */
static inline __attribute__((always_inline)) void ds_load(struct wave *w, const struct inst *in, uint32_t bytes,
							  enum ext ext)
{
	uint32_t exec = exec_of(w), ndw = (bytes + 3) / 4, off = ds_offset16(in);
	const uint32_t *A = w->v[in->addr];
	if (exec == FULL_EXEC && ext == X_NONE && (uint64_t)max_addr(A) + off + bytes <= w->wg->lds_bytes) {
		const uint8_t *lds = w->wg->lds;
		uint32_t base[LANES];
		memcpy(base, A, sizeof base);
		for (uint32_t i = 0; i < ndw; i++) {
			uint32_t *d = w->v[in->dst + i];
			LOOP memcpy(&d[l], lds + base[l] + off + 4 * i, 4);
		}
		return;
	}
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint32_t buf[4] = { 0, 0, 0, 0 };
		uint8_t *p = lds_ptr(w, w->v[in->addr][l] + off, bytes);
		if (p)
			memcpy(buf, p, bytes);
		switch (ext) {
		case X_I8: buf[0] = (uint32_t)(int32_t)(int8_t)buf[0]; break;
		case X_I16: buf[0] = (uint32_t)(int32_t)(int16_t)buf[0]; break;
		case X_D16_U8:
		case X_D16_I8:
		case X_D16: {
			uint32_t v = ext == X_D16_I8 ? (uint16_t)(int16_t)(int8_t)buf[0] : buf[0] & 0xffff;
			buf[0] = (w->v[in->dst][l] & 0xffff0000u) | v;
			break;
		}
		case X_D16_HI_U8:
		case X_D16_HI_I8:
		case X_D16_HI: {
			uint32_t v = ext == X_D16_HI_I8 ? (uint16_t)(int16_t)(int8_t)buf[0] : buf[0] & 0xffff;
			buf[0] = (w->v[in->dst][l] & 0xffffu) | v << 16;
			break;
		}
		default: break;
		}
		for (uint32_t i = 0; i < ndw; i++)
			w->v[in->dst + i][l] = buf[i];
	}
}

static inline __attribute__((always_inline)) void ds_store(struct wave *w, const struct inst *in, uint32_t bytes,
							   bool hi16)
{
	uint32_t exec = exec_of(w), off = ds_offset16(in);
	const uint32_t *A = w->v[in->addr];
	if (exec == FULL_EXEC && !hi16 && bytes % 4 == 0 &&
	    (uint64_t)max_addr(A) + off + bytes <= w->wg->lds_bytes) {
		uint8_t *lds = w->wg->lds;
		for (uint32_t i = 0; i < bytes / 4; i++) {
			const uint32_t *s = w->v[in->data + i];
			LOOP memcpy(lds + A[l] + off + 4 * i, &s[l], 4);
		}
		return;
	}
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint32_t buf[4];
		for (uint32_t i = 0; i < (bytes + 3) / 4; i++)
			buf[i] = w->v[in->data + i][l];
		if (hi16)
			buf[0] >>= 16;
		uint8_t *p = lds_ptr(w, w->v[in->addr][l] + off, bytes);
		if (p)
			memcpy(p, buf, bytes);
	}
}

/* Two addresses: offset0 and offset1 scaled by the element size (times 64
 * for the stride64 forms). */
static inline __attribute__((always_inline)) void ds_load2(struct wave *w, const struct inst *in, uint32_t esz,
							   uint32_t stride)
{
	uint32_t exec = exec_of(w), ndw = esz / 4;
	uint32_t off0 = (uint32_t)in->imm * esz * stride, off1 = (uint32_t)in->imm2 * esz * stride;
	const uint32_t *A = w->v[in->addr];
	if (exec == FULL_EXEC && esz == 4 &&
	    (uint64_t)max_addr(A) + (off0 > off1 ? off0 : off1) + 4 <= w->wg->lds_bytes) {
		/* every lane in range: a plain gather */
		const uint8_t *lds = w->wg->lds;
		uint32_t *d0 = w->v[in->dst], *d1 = w->v[in->dst + 1];
		uint32_t base[LANES];
		memcpy(base, A, sizeof base);	/* the destination may be the address */
		LOOP {
			uint32_t x, y;
			memcpy(&x, lds + base[l] + off0, 4);
			memcpy(&y, lds + base[l] + off1, 4);
			d0[l] = x;
			d1[l] = y;
		}
		return;
	}
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint32_t base = w->v[in->addr][l];
		uint32_t buf[4] = { 0, 0, 0, 0 };
		uint8_t *p0 = lds_ptr(w, base + off0, esz), *p1 = lds_ptr(w, base + off1, esz);
		if (p0)
			memcpy(buf, p0, esz);
		if (p1)
			memcpy(buf + ndw, p1, esz);
		for (uint32_t i = 0; i < 2 * ndw; i++)
			w->v[in->dst + i][l] = buf[i];
	}
}

static inline __attribute__((always_inline)) void ds_store2(struct wave *w, const struct inst *in, uint32_t esz,
							    uint32_t stride)
{
	uint32_t exec = exec_of(w);
	uint32_t off0 = (uint32_t)in->imm * esz * stride, off1 = (uint32_t)in->imm2 * esz * stride;
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint32_t base = w->v[in->addr][l];
		uint32_t d0[2] = { w->v[in->data][l], esz == 8 ? w->v[in->data + 1][l] : 0 };
		uint32_t d1[2] = { w->v[in->data1][l], esz == 8 ? w->v[in->data1 + 1][l] : 0 };
		uint8_t *p0 = lds_ptr(w, base + off0, esz), *p1 = lds_ptr(w, base + off1, esz);
		if (p0)
			memcpy(p0, d0, esz);
		if (p1)
			memcpy(p1, d1, esz);
	}
}

/* LDS atomics: DATA (and DATA2 for compare/mask forms); rtn forms return the old value. */
static void ds_atomic(struct wave *w, const struct inst *in, enum atom op, bool is64, bool rtn)
{
	uint32_t exec = exec_of(w), bytes = is64 ? 8 : 4, off = ds_offset16(in);
	uint64_t ret[LANES];
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint64_t v = w->v[in->data][l], v2 = w->v[in->data1][l];
		if (is64) {
			v |= (uint64_t)w->v[in->data + 1][l] << 32;
			v2 |= (uint64_t)w->v[in->data1 + 1][l] << 32;
		}
		uint8_t *p = lds_ptr(w, w->v[in->addr][l] + off, bytes);
		uint64_t old = 0;
		if (p) {
			memcpy(&old, p, bytes);
			uint64_t nv = atom_apply(w, op, is64, old, v, v2);
			memcpy(p, &nv, bytes);
		}
		ret[l] = old;
	}
	if (rtn)
		LOOP if (exec >> l & 1) {
			w->v[in->dst][l] = (uint32_t)ret[l];
			if (is64)
				w->v[in->dst + 1][l] = (uint32_t)(ret[l] >> 32);
		}
}

/* ds_storexchg_2addr: two exchanges at offset0 and offset1 */
static void ds_xchg2(struct wave *w, const struct inst *in, uint32_t esz, uint32_t stride)
{
	uint32_t exec = exec_of(w), ndw = esz / 4;
	uint32_t val[4][LANES];
	LOOP {
		if (!(exec >> l & 1))
			continue;
		uint32_t base = w->v[in->addr][l];
		for (int k = 0; k < 2; k++) {
			unsigned reg = k ? in->data1 : in->data;
			uint32_t off = (uint32_t)(k ? in->imm2 : in->imm) * esz * stride;
			uint32_t nv[2] = { w->v[reg][l], esz == 8 ? w->v[reg + 1][l] : 0 }, old[2] = { 0, 0 };
			uint8_t *p = lds_ptr(w, base + off, esz);
			if (p) {
				memcpy(old, p, esz);
				memcpy(p, nv, esz);
			}
			for (uint32_t i = 0; i < ndw; i++)
				val[k * ndw + i][l] = old[i];
		}
	}
	for (uint32_t i = 0; i < 2 * ndw; i++)
		LOOP if (exec >> l & 1) w->v[in->dst + i][l] = val[i][l];
}

#define DSL(name, bytes, ext) H(name) { ds_load(w, in, bytes, ext); }
#define DSS(name, bytes, hi) H(name) { ds_store(w, in, bytes, hi); }
DSL(ds_load_b32, 4, X_NONE)
DSL(ds_load_b64, 8, X_NONE)
DSL(ds_load_b96, 12, X_NONE)
DSL(ds_load_b128, 16, X_NONE)
DSL(ds_load_u8, 1, X_U8)
DSL(ds_load_i8, 1, X_I8)
DSL(ds_load_u16, 2, X_U16)
DSL(ds_load_i16, 2, X_I16)
DSL(ds_load_u8_d16, 1, X_D16_U8)
DSL(ds_load_i8_d16, 1, X_D16_I8)
DSL(ds_load_u16_d16, 2, X_D16)
DSL(ds_load_u8_d16_hi, 1, X_D16_HI_U8)
DSL(ds_load_i8_d16_hi, 1, X_D16_HI_I8)
DSL(ds_load_u16_d16_hi, 2, X_D16_HI)
DSS(ds_store_b32, 4, false)
DSS(ds_store_b64, 8, false)
DSS(ds_store_b96, 12, false)
DSS(ds_store_b128, 16, false)
DSS(ds_store_b8, 1, false)
DSS(ds_store_b16, 2, false)
DSS(ds_store_b8_d16_hi, 1, true)
DSS(ds_store_b16_d16_hi, 2, true)
H(ds_load_2addr_b32) { ds_load2(w, in, 4, 1); }
H(ds_load_2addr_stride64_b32) { ds_load2(w, in, 4, 64); }
H(ds_load_2addr_b64) { ds_load2(w, in, 8, 1); }
H(ds_load_2addr_stride64_b64) { ds_load2(w, in, 8, 64); }
H(ds_store_2addr_b32) { ds_store2(w, in, 4, 1); }
H(ds_store_2addr_stride64_b32) { ds_store2(w, in, 4, 64); }
H(ds_store_2addr_b64) { ds_store2(w, in, 8, 1); }
H(ds_store_2addr_stride64_b64) { ds_store2(w, in, 8, 64); }
H(ds_storexchg_2addr_rtn_b32) { ds_xchg2(w, in, 4, 1); }
H(ds_storexchg_2addr_stride64_rtn_b32) { ds_xchg2(w, in, 4, 64); }
H(ds_storexchg_2addr_rtn_b64) { ds_xchg2(w, in, 8, 1); }
H(ds_storexchg_2addr_stride64_rtn_b64) { ds_xchg2(w, in, 8, 64); }

#define DSA(name, op, is64, rtn) H(name) { ds_atomic(w, in, op, is64, rtn); }
#define DSA_BOTH(base, op)                                  \
	DSA(ds_##base##_u32, op, false, false)              \
	DSA(ds_##base##_rtn_u32, op, false, true)           \
	DSA(ds_##base##_u64, op, true, false)               \
	DSA(ds_##base##_rtn_u64, op, true, true)
DSA_BOTH(add, A_ADD)
DSA_BOTH(sub, A_SUB)
DSA_BOTH(rsub, A_RSUB)
DSA_BOTH(inc, A_INC)
DSA_BOTH(dec, A_DEC)
DSA(ds_min_i32, A_SMIN, false, false)
DSA(ds_min_rtn_i32, A_SMIN, false, true)
DSA(ds_max_i32, A_SMAX, false, false)
DSA(ds_max_rtn_i32, A_SMAX, false, true)
DSA(ds_min_u32, A_UMIN, false, false)
DSA(ds_min_rtn_u32, A_UMIN, false, true)
DSA(ds_max_u32, A_UMAX, false, false)
DSA(ds_max_rtn_u32, A_UMAX, false, true)
DSA(ds_min_i64, A_SMIN, true, false)
DSA(ds_min_rtn_i64, A_SMIN, true, true)
DSA(ds_max_i64, A_SMAX, true, false)
DSA(ds_max_rtn_i64, A_SMAX, true, true)
DSA(ds_min_u64, A_UMIN, true, false)
DSA(ds_min_rtn_u64, A_UMIN, true, true)
DSA(ds_max_u64, A_UMAX, true, false)
DSA(ds_max_rtn_u64, A_UMAX, true, true)
DSA(ds_and_b32, A_AND, false, false)
DSA(ds_and_rtn_b32, A_AND, false, true)
DSA(ds_or_b32, A_OR, false, false)
DSA(ds_or_rtn_b32, A_OR, false, true)
DSA(ds_xor_b32, A_XOR, false, false)
DSA(ds_xor_rtn_b32, A_XOR, false, true)
DSA(ds_and_b64, A_AND, true, false)
DSA(ds_and_rtn_b64, A_AND, true, true)
DSA(ds_or_b64, A_OR, true, false)
DSA(ds_or_rtn_b64, A_OR, true, true)
DSA(ds_xor_b64, A_XOR, true, false)
DSA(ds_xor_rtn_b64, A_XOR, true, true)
DSA(ds_mskor_b32, A_MSKOR, false, false)
DSA(ds_mskor_rtn_b32, A_MSKOR, false, true)
DSA(ds_mskor_b64, A_MSKOR, true, false)
DSA(ds_mskor_rtn_b64, A_MSKOR, true, true)
DSA(ds_storexchg_rtn_b32, A_SWAP, false, true)
DSA(ds_storexchg_rtn_b64, A_SWAP, true, true)
DSA(ds_cmpstore_b32, A_CMPSWAP, false, false)
DSA(ds_cmpstore_rtn_b32, A_CMPSWAP, false, true)
DSA(ds_cmpstore_b64, A_CMPSWAP, true, false)
DSA(ds_cmpstore_rtn_b64, A_CMPSWAP, true, true)
DSA(ds_cmpstore_f32, A_FCMPSWAP, false, false)
DSA(ds_cmpstore_rtn_f32, A_FCMPSWAP, false, true)
DSA(ds_min_f32, A_FMIN, false, false)
DSA(ds_min_rtn_f32, A_FMIN, false, true)
DSA(ds_max_f32, A_FMAX, false, false)
DSA(ds_max_rtn_f32, A_FMAX, false, true)
DSA(ds_add_f32, A_FADD, false, false)
DSA(ds_add_rtn_f32, A_FADD, false, true)

/* Cross-lane moves through the LDS crossbar (no LDS memory used). */
H(ds_swizzle_b32)
{
	uint32_t exec = exec_of(w), off = ds_offset16(in), r[LANES];
	const uint32_t *src = w->v[in->addr];
	LOOP {
		int j;
		if (off >= 0xe000) {		/* FFT mode */
			uint32_t mask = off & 0x1f, rev = 0;
			for (int b = 0; b < 5; b++)
				rev |= ((l >> b) & 1u) << (4 - b);
			j = (int)((rev >> __builtin_popcount(mask)) | (l & mask));
		} else if (off & 0x8000) {	/* quad permute */
			j = (l & ~3) | (int)((off >> (2 * (l & 3))) & 3);
		} else {			/* bit masks */
			uint32_t and_m = off & 0x1f, or_m = (off >> 5) & 0x1f, xor_m = (off >> 10) & 0x1f;
			j = (int)((((uint32_t)l & and_m) | or_m) ^ xor_m);
		}
		j &= 31;
		r[l] = (exec >> j & 1) ? src[j] : 0;
	}
	masked_copy(w->v[in->dst], r, exec);
}

H(ds_bpermute_b32)
{
	uint32_t exec = exec_of(w), off = ds_offset16(in), r[LANES];
	LOOP {
		uint32_t s = ((w->v[in->addr][l] + off) / 4) & 31;
		r[l] = (exec >> s & 1) ? w->v[in->data][s] : 0;
	}
	masked_copy(w->v[in->dst], r, exec);
}

H(ds_permute_b32)
{
	uint32_t exec = exec_of(w), off = ds_offset16(in), r[LANES] = { 0 };
	LOOP if (exec >> l & 1) {
		uint32_t d = ((w->v[in->addr][l] + off) / 4) & 31;
		r[d] = w->v[in->data][l];
	}
	masked_copy(w->v[in->dst], r, exec);
}

/* ---- tables ------------------------------------------------------------------------------ */

#define OPI(fn) { fn, 0, 0, 0, 0, 0 }

static const struct opinfo smem[0x22] = {
	[0x00] = OPI(s_load_b32), [0x01] = OPI(s_load_b64), [0x02] = OPI(s_load_b128),
	[0x03] = OPI(s_load_b256), [0x04] = OPI(s_load_b512), [0x08] = OPI(s_buffer_load_b32),
	[0x09] = OPI(s_buffer_load_b64), [0x0a] = OPI(s_buffer_load_b128), [0x0b] = OPI(s_buffer_load_b256),
	[0x0c] = OPI(s_buffer_load_b512), [0x20] = OPI(s_cache_op), [0x21] = OPI(s_cache_op),
};

/* flat, global and scratch share opcodes for loads and stores */
static const struct opinfo flat_ls[0x26] = {
	[0x10] = OPI(v_load_u8), [0x11] = OPI(v_load_i8), [0x12] = OPI(v_load_u16), [0x13] = OPI(v_load_i16),
	[0x14] = OPI(v_load_b32), [0x15] = OPI(v_load_b64), [0x16] = OPI(v_load_b96), [0x17] = OPI(v_load_b128),
	[0x18] = OPI(v_store_b8), [0x19] = OPI(v_store_b16), [0x1a] = OPI(v_store_b32), [0x1b] = OPI(v_store_b64),
	[0x1c] = OPI(v_store_b96), [0x1d] = OPI(v_store_b128), [0x1e] = OPI(v_load_d16_u8),
	[0x1f] = OPI(v_load_d16_i8), [0x20] = OPI(v_load_d16_b16), [0x21] = OPI(v_load_d16_hi_u8),
	[0x22] = OPI(v_load_d16_hi_i8), [0x23] = OPI(v_load_d16_hi_b16), [0x24] = OPI(v_store_d16_hi_b8),
	[0x25] = OPI(v_store_d16_hi_b16),
};

static const struct opinfo flat_atomic[0x57] = {
	[0x33] = OPI(v_atomic_swap_b32), [0x34] = OPI(v_atomic_cmpswap_b32), [0x35] = OPI(v_atomic_add_u32),
	[0x36] = OPI(v_atomic_sub_u32), [0x37] = OPI(v_atomic_csub_u32), [0x38] = OPI(v_atomic_min_i32),
	[0x39] = OPI(v_atomic_min_u32), [0x3a] = OPI(v_atomic_max_i32), [0x3b] = OPI(v_atomic_max_u32),
	[0x3c] = OPI(v_atomic_and_b32), [0x3d] = OPI(v_atomic_or_b32), [0x3e] = OPI(v_atomic_xor_b32),
	[0x3f] = OPI(v_atomic_inc_u32), [0x40] = OPI(v_atomic_dec_u32), [0x41] = OPI(v_atomic_swap_b64),
	[0x42] = OPI(v_atomic_cmpswap_b64), [0x43] = OPI(v_atomic_add_u64), [0x44] = OPI(v_atomic_sub_u64),
	[0x45] = OPI(v_atomic_min_i64), [0x46] = OPI(v_atomic_min_u64), [0x47] = OPI(v_atomic_max_i64),
	[0x48] = OPI(v_atomic_max_u64), [0x49] = OPI(v_atomic_and_b64), [0x4a] = OPI(v_atomic_or_b64),
	[0x4b] = OPI(v_atomic_xor_b64), [0x4c] = OPI(v_atomic_inc_u64), [0x4d] = OPI(v_atomic_dec_u64),
	[0x50] = OPI(v_atomic_cmpswap_f32), [0x51] = OPI(v_atomic_min_f32), [0x52] = OPI(v_atomic_max_f32),
	[0x56] = OPI(v_atomic_add_f32),
};

static const struct opinfo ds[0x100] = {
	[0x00] = OPI(ds_add_u32), [0x01] = OPI(ds_sub_u32), [0x02] = OPI(ds_rsub_u32), [0x03] = OPI(ds_inc_u32),
	[0x04] = OPI(ds_dec_u32), [0x05] = OPI(ds_min_i32), [0x06] = OPI(ds_max_i32), [0x07] = OPI(ds_min_u32),
	[0x08] = OPI(ds_max_u32), [0x09] = OPI(ds_and_b32), [0x0a] = OPI(ds_or_b32), [0x0b] = OPI(ds_xor_b32),
	[0x0c] = OPI(ds_mskor_b32), [0x0d] = OPI(ds_store_b32), [0x0e] = OPI(ds_store_2addr_b32),
	[0x0f] = OPI(ds_store_2addr_stride64_b32), [0x10] = OPI(ds_cmpstore_b32), [0x11] = OPI(ds_cmpstore_f32),
	[0x12] = OPI(ds_min_f32), [0x13] = OPI(ds_max_f32), [0x15] = OPI(ds_add_f32), [0x1e] = OPI(ds_store_b8),
	[0x1f] = OPI(ds_store_b16), [0x20] = OPI(ds_add_rtn_u32), [0x21] = OPI(ds_sub_rtn_u32),
	[0x22] = OPI(ds_rsub_rtn_u32), [0x23] = OPI(ds_inc_rtn_u32), [0x24] = OPI(ds_dec_rtn_u32),
	[0x25] = OPI(ds_min_rtn_i32), [0x26] = OPI(ds_max_rtn_i32), [0x27] = OPI(ds_min_rtn_u32),
	[0x28] = OPI(ds_max_rtn_u32), [0x29] = OPI(ds_and_rtn_b32), [0x2a] = OPI(ds_or_rtn_b32),
	[0x2b] = OPI(ds_xor_rtn_b32), [0x2c] = OPI(ds_mskor_rtn_b32), [0x2d] = OPI(ds_storexchg_rtn_b32),
	[0x2e] = OPI(ds_storexchg_2addr_rtn_b32), [0x2f] = OPI(ds_storexchg_2addr_stride64_rtn_b32),
	[0x30] = OPI(ds_cmpstore_rtn_b32), [0x31] = OPI(ds_cmpstore_rtn_f32), [0x32] = OPI(ds_min_rtn_f32),
	[0x33] = OPI(ds_max_rtn_f32), [0x35] = OPI(ds_swizzle_b32), [0x36] = OPI(ds_load_b32),
	[0x37] = OPI(ds_load_2addr_b32), [0x38] = OPI(ds_load_2addr_stride64_b32), [0x39] = OPI(ds_load_i8),
	[0x3a] = OPI(ds_load_u8), [0x3b] = OPI(ds_load_i16), [0x3c] = OPI(ds_load_u16),
	[0x40] = OPI(ds_add_u64), [0x41] = OPI(ds_sub_u64), [0x42] = OPI(ds_rsub_u64), [0x43] = OPI(ds_inc_u64),
	[0x44] = OPI(ds_dec_u64), [0x45] = OPI(ds_min_i64), [0x46] = OPI(ds_max_i64), [0x47] = OPI(ds_min_u64),
	[0x48] = OPI(ds_max_u64), [0x49] = OPI(ds_and_b64), [0x4a] = OPI(ds_or_b64), [0x4b] = OPI(ds_xor_b64),
	[0x4c] = OPI(ds_mskor_b64), [0x4d] = OPI(ds_store_b64), [0x4e] = OPI(ds_store_2addr_b64),
	[0x4f] = OPI(ds_store_2addr_stride64_b64), [0x50] = OPI(ds_cmpstore_b64), [0x60] = OPI(ds_add_rtn_u64),
	[0x61] = OPI(ds_sub_rtn_u64), [0x62] = OPI(ds_rsub_rtn_u64), [0x63] = OPI(ds_inc_rtn_u64),
	[0x64] = OPI(ds_dec_rtn_u64), [0x65] = OPI(ds_min_rtn_i64), [0x66] = OPI(ds_max_rtn_i64),
	[0x67] = OPI(ds_min_rtn_u64), [0x68] = OPI(ds_max_rtn_u64), [0x69] = OPI(ds_and_rtn_b64),
	[0x6a] = OPI(ds_or_rtn_b64), [0x6b] = OPI(ds_xor_rtn_b64), [0x6c] = OPI(ds_mskor_rtn_b64),
	[0x6d] = OPI(ds_storexchg_rtn_b64), [0x6e] = OPI(ds_storexchg_2addr_rtn_b64),
	[0x6f] = OPI(ds_storexchg_2addr_stride64_rtn_b64), [0x70] = OPI(ds_cmpstore_rtn_b64),
	[0x76] = OPI(ds_load_b64), [0x77] = OPI(ds_load_2addr_b64), [0x78] = OPI(ds_load_2addr_stride64_b64),
	[0x79] = OPI(ds_add_rtn_f32), [0xa0] = OPI(ds_store_b8_d16_hi), [0xa1] = OPI(ds_store_b16_d16_hi),
	[0xa2] = OPI(ds_load_u8_d16), [0xa3] = OPI(ds_load_u8_d16_hi), [0xa4] = OPI(ds_load_i8_d16),
	[0xa5] = OPI(ds_load_i8_d16_hi), [0xa6] = OPI(ds_load_u16_d16), [0xa7] = OPI(ds_load_u16_d16_hi),
	[0xb2] = OPI(ds_permute_b32), [0xb3] = OPI(ds_bpermute_b32), [0xde] = OPI(ds_store_b96),
	[0xdf] = OPI(ds_store_b128), [0xfe] = OPI(ds_load_b96), [0xff] = OPI(ds_load_b128),
};

static const struct opinfo mubuf[0x2d] = {
	[0x2b] = OPI(s_cache_op), [0x2c] = OPI(s_cache_op),	/* buffer_gl0_inv, buffer_gl1_inv */
};

#define LOOKUP(tab, op) ((op) < sizeof(tab) / sizeof((tab)[0]) && (tab)[op].fn ? &(tab)[op] : NULL)

const struct opinfo *vmem_op(int enc, unsigned op)
{
	switch (enc) {
	case E_MUBUF: return LOOKUP(mubuf, op);
	case E_SMEM: return LOOKUP(smem, op);
	case E_DS: return LOOKUP(ds, op);
	case E_SCRATCH: return LOOKUP(flat_ls, op);
	case E_FLAT:
	case E_GLOBAL: {
		const struct opinfo *o = LOOKUP(flat_ls, op);
		return o ? o : LOOKUP(flat_atomic, op);
	}
	default: return NULL;
	}
}
