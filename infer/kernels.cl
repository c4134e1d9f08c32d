/* libtbinfer's GPU kernels: OpenCL C for gfx1100 (wave32), built with the
 * library and installed as build/share/tb/infer.co.
 *
 * Conventions: activations are fp32, row-major [T][n] with explicit row
 * strides in floats (T: tokens in the batch, 1 when decoding).  Weights are
 * bytes with a type (enum tbi_type in infer/internal.h: 0 F32, 1 F16,
 * 2 BF16, 3 Q8_0) and a row stride in bytes; Q8_0 rows are blocks of 32
 * weights, each an fp16 scale and 32 int8 (34 bytes).
 *
 * With -nogpulib there is no OpenCL library: work-item indices come from
 * the amdgcn builtins and the HSA dispatch packet (workgroup_size_x is the
 * u16 at byte 4, grid_size_x the u32 at byte 12).  Every kernel is
 * one-dimensional in x (matmul also uses y); the grid need not be a
 * multiple of the block.  Kernels that reduce over a work-group require a
 * block of exactly 256 (reqd_work_group_size: the HAL refuses others). */

#pragma OPENCL EXTENSION cl_khr_fp16 : enable

#define WAVE 32u
#define GROUP 256u
#define WAVES (GROUP / WAVE)

enum { W_F32, W_F16, W_BF16, W_Q8_0 };
#define Q8_BLOCK 32u
#define Q8_BYTES 34u

static inline uint block_size(void)
{
	return ((const __constant ushort *)__builtin_amdgcn_dispatch_ptr())[2];
}

static inline uint global_id(void)
{
	return __builtin_amdgcn_workgroup_id_x() * block_size() + __builtin_amdgcn_workitem_id_x();
}

static inline uint local_id(void)
{
	return __builtin_amdgcn_workitem_id_x();
}

/* Every work-item of the group reaches it; memory written before (LDS and
 * global) is visible to the group after. */
static inline void group_barrier(void)
{
	__builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
	__builtin_amdgcn_s_barrier();
	__builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}

/* The sum of v over the 32 lanes of the wave, in every lane (a butterfly
 * over ds_bpermute: no LDS allocation, no barrier). */
static inline float wave_sum(float v)
{
	uint lane = __builtin_amdgcn_mbcnt_lo(~0u, 0u);
	for (uint off = WAVE / 2; off > 0; off >>= 1)
		v += as_float(__builtin_amdgcn_ds_bpermute((int)((lane ^ off) * 4u), as_int(v)));
	return v;
}

/* Weight i of a row that starts at p. */
static inline float weight(__global const uchar *p, uint wtype, uint i)
{
	switch (wtype) {
	case W_F32:
		return ((__global const float *)p)[i];
	case W_F16:
		return (float)((__global const half *)p)[i];
	case W_BF16:
		return as_float((uint)((__global const ushort *)p)[i] << 16);
	default: {
		__global const uchar *b = p + (i / Q8_BLOCK) * Q8_BYTES;
		return (float)*(__global const half *)b * (float)(char)b[2 + i % Q8_BLOCK];
	}
	}
}

/* embed: out[t][i] = row tokens[t] - v0 of the table when v0 <= tokens[t] < v1,
 * else 0 (this GPU holds vocabulary rows [v0, v1); the GPUs' outputs sum to
 * the embedding).  Grid: T * dim work-items; any block (<= 256). */
__kernel void embed(__global const uchar *table, uint wtype, uint row_bytes, uint dim, uint v0, uint v1,
		    __global const int *tokens, uint T, __global float *out, uint out_stride)
{
	uint g = global_id();
	if (g >= T * dim)
		return;
	uint t = g / dim, i = g % dim;
	int tok = tokens[t];
	float v = 0.0f;
	if (tok >= (int)v0 && tok < (int)v1)
		v = weight(table + (ulong)((uint)tok - v0) * row_bytes, wtype, i);
	out[(ulong)t * out_stride + i] = v;
}

/* rmsnorm: out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w (w: dim weights of
 * wtype).  Grid: T * 256 (one work-group per token); block 256. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1))) void
rmsnorm(__global const float *x, uint x_stride, __global const uchar *w, uint wtype, uint dim, float eps, uint T,
	__global float *out, uint out_stride)
{
	__local float part[WAVES];
	uint t = __builtin_amdgcn_workgroup_id_x(), l = local_id();
	if (t >= T)
		return;
	__global const float *xr = x + (ulong)t * x_stride;
	float s = 0.0f;
	for (uint i = l; i < dim; i += GROUP)
		s += xr[i] * xr[i];
	s = wave_sum(s);
	if (l % WAVE == 0)
		part[l / WAVE] = s;
	group_barrier();
	float total = 0.0f;
	for (uint k = 0; k < WAVES; k++)
		total += part[k];
	float r = 1.0f / __builtin_sqrtf(total / (float)dim + eps);
	__global float *o = out + (ulong)t * out_stride;
	for (uint i = l; i < dim; i += GROUP)
		o[i] = xr[i] * r * weight(w, wtype, i);
}

/* Eight weights of a row from weight i (a multiple of 8) on: one 16-byte
 * load for F16/BF16, two for F32 (the row 16-byte aligned), four 2-byte
 * loads for Q8_0 (its blocks are 2-byte aligned) and the block's scale. */
static inline float8 weights8(__global const uchar *row, uint wtype, uint i)
{
	switch (wtype) {
	case W_F32: {
		__global const float4 *p = (__global const float4 *)(row + 4 * i);
		return (float8)(p[0], p[1]);
	}
	case W_F16: {
		uint4 u = *(__global const uint4 *)(row + 2 * i);
		return __builtin_convertvector(as_half8(u), float8);
	}
	case W_BF16: {
		uint4 u = *(__global const uint4 *)(row + 2 * i);
		uint8 e = (uint8)(u.x << 16, u.x & 0xffff0000u, u.y << 16, u.y & 0xffff0000u, u.z << 16,
				  u.z & 0xffff0000u, u.w << 16, u.w & 0xffff0000u);
		return as_float8(e);
	}
	default: {
		__global const uchar *b = row + (i / Q8_BLOCK) * Q8_BYTES;
		__global const ushort *q = (__global const ushort *)(b + 2 + i % Q8_BLOCK);
		float d = (float)*(__global const half *)b;
		ushort4 u = (ushort4)(q[0], q[1], q[2], q[3]);
		char8 c = as_char8(u);
		return d * __builtin_convertvector(c, float8);
	}
	}
}

/* Eight activations from x[i] on: two 16-byte loads when aligned. */
static inline float8 acts8(__global const float *x, uint i, bool aligned)
{
	if (aligned) {
		__global const float4 *p = (__global const float4 *)(x + i);
		return (float8)(p[0], p[1]);
	}
	return (float8)(x[i], x[i + 1], x[i + 2], x[i + 3], x[i + 4], x[i + 5], x[i + 6], x[i + 7]);
}

static inline float dot8(float8 a, float8 b)
{
	float8 p = a * b;
	return ((p.s0 + p.s1) + (p.s2 + p.s3)) + ((p.s4 + p.s5) + (p.s6 + p.s7));
}

/* matmul: y[t][j] (+)= sum_{i<k} W[j][i] x[t][i] for j < n, t < T.
 * Each wave computes one output row for a tile of up to MM_TOKENS tokens:
 * its lanes read eight consecutive weights each (a wave reads 512
 * consecutive bytes of an F16 row at a time: coalesced), each weight load
 * serving every token of the tile, and the lanes' partial sums are added
 * across the wave.  Vector loads need the weights 16-byte aligned (w and
 * row_bytes; Q8_0 rows: 2) and, for the activations' vector loads, x and
 * x_stride aligned to 16 bytes; otherwise element by element.
 * Grid: x = ceil(n / 8) * 256 (eight rows per work-group), y = ceil(T / 8)
 * (block y 1); block x 256. */
#define MM_TOKENS 8u
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1))) void
matmul(__global const uchar *w, uint wtype, uint row_bytes, uint k, uint n, __global const float *x, uint x_stride,
       uint T, __global float *y, uint y_stride, uint accumulate)
{
	uint l = local_id(), lane = l % WAVE;
	uint j = __builtin_amdgcn_workgroup_id_x() * WAVES + l / WAVE;
	uint t0 = __builtin_amdgcn_workgroup_id_y() * MM_TOKENS;
	if (j >= n || t0 >= T)
		return;
	uint tn = T - t0 < MM_TOKENS ? T - t0 : MM_TOKENS;
	__global const uchar *row = w + (ulong)j * row_bytes;
	__global const float *xt = x + (ulong)t0 * x_stride;
	uint walign = wtype == W_Q8_0 ? 2 : 16;
	bool wvec = (((ulong)w | row_bytes) & (walign - 1)) == 0;
	bool xvec = (((ulong)x & 15) | (x_stride & 3)) == 0;
	uint kv = wvec ? k / 8 * 8 : 0;	/* weights below kv: eight at a time */
	float acc[MM_TOKENS];
	for (uint t = 0; t < MM_TOKENS; t++)
		acc[t] = 0.0f;
	for (uint i = lane * 8; i < kv; i += WAVE * 8) {
		float8 wv = weights8(row, wtype, i);
		for (uint t = 0; t < MM_TOKENS; t++)
			if (t < tn)
				acc[t] += dot8(wv, acts8(xt + (ulong)t * x_stride, i, xvec));
	}
	for (uint i = kv + lane; i < k; i += WAVE) {
		float wv = weight(row, wtype, i);
		for (uint t = 0; t < MM_TOKENS; t++)
			if (t < tn)
				acc[t] += wv * xt[(ulong)t * x_stride + i];
	}
	for (uint t = 0; t < MM_TOKENS; t++) {
		if (t >= tn)
			break;
		float s = wave_sum(acc[t]);
		if (lane == 0) {
			__global float *yp = y + (ulong)(t0 + t) * y_stride + j;
			*yp = accumulate ? *yp + s : s;
		}
	}
}

/* The 16 halves of an f16 row from weight k0 on, zeros past k (the row
 * 16-byte aligned when aligned). */
static inline half16 row16_f16(__global const uchar *row, uint k0, uint k, bool aligned)
{
	__global const half *h = (__global const half *)row + k0;
	if (aligned && k0 + 16 <= k) {
		__global const uint4 *p = (__global const uint4 *)h;
		return as_half16((uint8)(p[0], p[1]));
	}
	half16 r = (half16)0;
	for (uint e = 0; e < 16; e++)
		if (k0 + e < k)
			r[e] = h[e];
	return r;
}

/* 16 activations from x[k0] on (zeros past k) as two halves each, hi the
 * value rounded to f16 and lo what that rounding left: hi + lo carries
 * about 22 of fp32's 24 significant bits, so two products on the matrix
 * cores come within fp32 rounding of the exact sum (activations beyond
 * f16's range, 65504, do not occur after RMSNorm in llama models). */
static inline void acts16_split(__global const float *x, uint k0, uint k, bool aligned, half16 *hi, half16 *lo)
{
	float16 f;
	if (aligned && k0 + 16 <= k) {
		__global const float4 *p = (__global const float4 *)(x + k0);
		f = (float16)(p[0], p[1], p[2], p[3]);
	} else {
		f = (float16)0.0f;
		for (uint e = 0; e < 16; e++)
			if (k0 + e < k)
				f[e] = x[k0 + e];
	}
	*hi = __builtin_convertvector(f, half16);
	*lo = __builtin_convertvector(f - __builtin_convertvector(*hi, float16), half16);
}

/* matmul_wmma: matmul for F16 weights (wtype must be 1; the same
 * arguments) on the matrix cores, for prefill (T >= 16): each wave computes
 * a 16 x 16 tile of y (16 rows, 16 tokens) with v_wmma_f32_16x16x16_f16,
 * twice per step (the activations' f16 high and low parts, acts16_split),
 * the products added in fp32.  The RDNA3 wave32 layout: lane l holds row
 * l % 16 of the weight tile and token l % 16's 16 activations (lanes 16-31
 * repeat 0-15); result v of lane l is row 2v + l / 16, token l % 16.
 * Vector loads when the rows (w, row_bytes) and x (x, x_stride) are
 * 16-byte aligned.
 * Grid: x = ceil(n / 16) * 32, y = ceil(T / 16) (block y 1); block x 32. */
__kernel __attribute__((reqd_work_group_size(WAVE, 1, 1))) void
matmul_wmma(__global const uchar *w, uint wtype, uint row_bytes, uint k, uint n, __global const float *x,
	    uint x_stride, uint T, __global float *y, uint y_stride, uint accumulate)
{
	uint lane = local_id(), r = lane % 16;
	uint j0 = __builtin_amdgcn_workgroup_id_x() * 16, t0 = __builtin_amdgcn_workgroup_id_y() * 16;
	if (wtype != W_F16 || j0 >= n || t0 >= T)
		return;
	bool wvec = (((ulong)w | row_bytes) & 15) == 0, xvec = (((ulong)x & 15) | (x_stride & 3)) == 0;
	bool has_row = j0 + r < n, has_tok = t0 + r < T;
	__global const uchar *row = w + (ulong)(has_row ? j0 + r : j0) * row_bytes;
	__global const float *xt = x + (ulong)(has_tok ? t0 + r : t0) * x_stride;
	float8 acc = 0.0f;
	for (uint k0 = 0; k0 < k; k0 += 16) {
		half16 a = has_row ? row16_f16(row, k0, k, wvec) : (half16)0;
		half16 hi = (half16)0, lo = (half16)0;
		if (has_tok)
			acts16_split(xt, k0, k, xvec, &hi, &lo);
		acc = __builtin_amdgcn_wmma_f32_16x16x16_f16_w32(a, hi, acc);
		acc = __builtin_amdgcn_wmma_f32_16x16x16_f16_w32(a, lo, acc);
	}
	for (uint v = 0; v < 8; v++) {
		uint j = j0 + 2 * v + lane / 16;
		if (j < n && has_tok) {
			__global float *yp = y + (ulong)(t0 + r) * y_stride + j;
			*yp = accumulate ? *yp + acc[v] : acc[v];
		}
	}
}

/* cos and sin of an angle of any size: reduced to [-pi, pi] first (2 pi in
 * two parts, Cody and Waite), where the hardware's approximations are good. */
static inline float2 cos_sin(float a)
{
	const float two_pi_hi = 6.28125f, two_pi_lo = 1.9353071795864769e-3f;
	float q = rint(a * 0.15915494309189535f);
	float r = (a - q * two_pi_hi) - q * two_pi_lo;
	return (float2)(__builtin_cosf(r), __builtin_sinf(r));
}

/* rope: rotates each head of each token t by the angles (pos0 + t) *
 * inv_freq[i], i < head_dim / 2.  layout 0 pairs dimensions (2i, 2i + 1),
 * layout 1 pairs (i, i + head_dim / 2).  Grid: T * n_heads * head_dim / 2
 * work-items (one a pair); any block. */
__kernel void rope(__global float *x, uint x_stride, uint n_heads, uint head_dim, uint T, uint pos0,
		   __global const float *inv_freq, uint layout)
{
	uint half_dim = head_dim / 2, g = global_id();
	if (g >= T * n_heads * half_dim)
		return;
	uint i = g % half_dim, h = g / half_dim % n_heads, t = g / half_dim / n_heads;
	__global float *p = x + (ulong)t * x_stride + h * head_dim;
	uint a = layout ? i : 2 * i, b = layout ? i + half_dim : 2 * i + 1;
	float2 cs = cos_sin((float)(pos0 + t) * inv_freq[i]);
	float x0 = p[a], x1 = p[b];
	p[a] = x0 * cs.x - x1 * cs.y;
	p[b] = x0 * cs.y + x1 * cs.x;
}

/* kv_store: cache rows pos0 + t (n_kv * head_dim floats each) = k[t], v[t].
 * Grid: T * n_kv * head_dim work-items; any block. */
__kernel void kv_store(__global const float *k, uint k_stride, __global const float *v, uint v_stride, uint T,
		       uint n_kv, uint head_dim, __global float *cache_k, __global float *cache_v, uint pos0)
{
	uint row = n_kv * head_dim, g = global_id();
	if (g >= T * row)
		return;
	uint t = g / row, i = g % row;
	ulong c = (ulong)(pos0 + t) * row + i;
	cache_k[c] = k[(ulong)t * k_stride + i];
	cache_v[c] = v[(ulong)t * v_stride + i];
}

/* attention: for local query head h of token t (at position pos0 + t),
 * softmax(scale * q . K[p]) over positions p <= pos0 + t, times V, into
 * out[t][h * head_dim ...].  Its KV head in the local cache is
 * (q_head0 + h) / group - kv_head0 (q_head0, kv_head0: the global indices
 * of the GPU's first query and KV heads; group = n_heads / n_kv_heads of the
 * model).  Cache rows are kv_stride floats.  Scores go to scratch (at least
 * n_heads * T * ctx floats; ctx >= pos0 + T).  head_dim <= 256.
 * Grid: n_heads * T * 256 (one work-group per head and token); block 256. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1))) void
attention(__global const float *q, uint q_stride, __global const float *cache_k, __global const float *cache_v,
	  uint n_heads, uint head_dim, uint q_head0, uint kv_head0, uint group, uint kv_stride, uint T, uint pos0,
	  float scale, __global float *scratch, uint ctx, __global float *out, uint out_stride)
{
	__local float qs[GROUP];
	__local float part[WAVES];
	uint wg = __builtin_amdgcn_workgroup_id_x(), l = local_id(), lane = l % WAVE, wave = l / WAVE;
	if (wg >= n_heads * T || head_dim > GROUP || group == 0 || ctx == 0)
		return;
	uint h = wg % n_heads, t = wg / n_heads;
	uint kvh = (q_head0 + h) / group - kv_head0;
	uint npos = pos0 + t + 1;
	if (npos > ctx)
		npos = ctx;
	__global const float *qr = q + (ulong)t * q_stride + h * head_dim;
	__global float *s = scratch + (ulong)wg * ctx;
	__global const float *kc = cache_k + kvh * head_dim;
	__global const float *vc = cache_v + kvh * head_dim;
	if (l < head_dim)
		qs[l] = qr[l] * scale;
	group_barrier();
	/* scores: a wave per position, its lanes across the head's dimensions */
	float m = -INFINITY;
	for (uint p = wave; p < npos; p += WAVES) {
		__global const float *kr = kc + (ulong)p * kv_stride;
		float d = 0.0f;
		for (uint i = lane; i < head_dim; i += WAVE)
			d += qs[i] * kr[i];
		d = wave_sum(d);
		if (lane == 0)
			s[p] = d;
		m = fmax(m, d);
	}
	if (lane == 0)
		part[wave] = m;
	group_barrier();
	m = part[0];
	for (uint k = 1; k < WAVES; k++)
		m = fmax(m, part[k]);
	group_barrier();
	/* exp(score - max) in place, and their sum */
	float z = 0.0f;
	for (uint p = l; p < npos; p += GROUP) {
		float e = __builtin_expf(s[p] - m);
		s[p] = e;
		z += e;
	}
	z = wave_sum(z);
	if (lane == 0)
		part[wave] = z;
	group_barrier();
	z = 0.0f;
	for (uint k = 0; k < WAVES; k++)
		z += part[k];
	/* the weighted sum of values: a work-item per dimension, coalesced rows */
	if (l < head_dim) {
		float acc = 0.0f;
		for (uint p = 0; p < npos; p++)
			acc += s[p] * vc[(ulong)p * kv_stride + l];
		out[(ulong)t * out_stride + h * head_dim + l] = acc / z;
	}
}

/* silu_mul: out[t][i] = silu(gate[t][i]) * up[t][i], the three with row
 * stride `stride`.  Grid: T * n work-items; any block. */
__kernel void silu_mul(__global const float *gate, __global const float *up, uint n, uint T, uint stride,
		       __global float *out)
{
	uint g = global_id();
	if (g >= T * n)
		return;
	ulong o = (ulong)(g / n) * stride + g % n;
	float a = gate[o];
	out[o] = a / (1.0f + __builtin_expf(-a)) * up[o];
}

/* allreduce_add: x[t][i] = (accumulate ? x[t][i] : 0) + p0[t][i] + ... in
 * the order p0, p1, ... (the same bits on every GPU that runs it); the parts
 * (peers' buffers, row stride p_stride) beyond nparts may be 0.
 * Grid: T * n work-items; any block. */
__kernel void allreduce_add(__global float *x, uint x_stride, uint n, uint T, uint nparts, __global const float *p0,
			    __global const float *p1, __global const float *p2, __global const float *p3,
			    __global const float *p4, __global const float *p5, __global const float *p6,
			    __global const float *p7, uint p_stride, uint accumulate)
{
	uint g = global_id();
	if (g >= T * n)
		return;
	uint t = g / n, i = g % n;
	__global const float *parts[8] = { p0, p1, p2, p3, p4, p5, p6, p7 };
	ulong xo = (ulong)t * x_stride + i, po = (ulong)t * p_stride + i;
	float s = accumulate ? x[xo] : 0.0f;
	for (uint j = 0; j < nparts && j < 8; j++)
		s += parts[j][po];
	x[xo] = s;
}

/* gather: dst[i] = src[i], i < n.  Grid: n work-items; any block. */
__kernel void gather(__global float *dst, __global const float *src, uint n)
{
	uint g = global_id();
	if (g < n)
		dst[g] = src[g];
}

/* (value, index) a before b: the larger value, the lower index on ties;
 * NaN never wins. */
static inline bool ranks_before(float va, uint ia, float vb, uint ib)
{
	return va > vb || (va == vb && ia < ib) || (vb != vb && va == va);
}

/* The group's best (value, index) of the elements after (after_v, after_i)
 * in that order (all when first); every work-item gets it. */
static inline uint group_argmax(__global const float *logits, uint n, bool first, float after_v, uint after_i,
				__local float *bv, __local uint *bi)
{
	uint l = local_id();
	float best = -INFINITY;
	uint bidx = 0xffffffffu;
	for (uint i = l; i < n; i += GROUP) {
		float v = logits[i];
		if (!first && !ranks_before(after_v, after_i, v, i))
			continue;
		if (bidx == 0xffffffffu || ranks_before(v, i, best, bidx)) {
			best = v;
			bidx = i;
		}
	}
	bv[l] = best;
	bi[l] = bidx;
	group_barrier();
	for (uint s = GROUP / 2; s > 0; s >>= 1) {
		if (l < s && bi[l + s] != 0xffffffffu &&
		    (bi[l] == 0xffffffffu || ranks_before(bv[l + s], bi[l + s], bv[l], bi[l]))) {
			bv[l] = bv[l + s];
			bi[l] = bi[l + s];
		}
		group_barrier();
	}
	uint r = bi[0];
	group_barrier();
	return r;
}

#define TOP_K_MAX 256u
/* sample: the next token from n_vocab logits.  temperature == 0: the
 * argmax (the lowest index on ties), probability 1.  Otherwise the top_k
 * largest logits (1 <= top_k <= 256, fewer when the vocabulary is smaller),
 * their softmax at the temperature, cut to the smallest prefix whose
 * probability reaches top_p, renormalised; the token is the first whose
 * cumulative probability passes u (in [0, 1), from the host's seeded
 * generator).  out_prob (may be 0) receives the token's probability in that
 * distribution.  Grid: 256; block 256 (one work-group). */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1))) void
sample(__global const float *logits, uint n_vocab, float temperature, uint top_k, float top_p, float u,
       __global int *out_token, __global float *out_prob)
{
	__local float bv[GROUP];
	__local uint bi[GROUP];
	__local uint top[TOP_K_MAX];
	if (__builtin_amdgcn_workgroup_id_x() != 0 || n_vocab == 0)
		return;
	uint l = local_id();
	if (!(temperature > 0.0f)) {
		uint best = group_argmax(logits, n_vocab, true, 0.0f, 0, bv, bi);
		if (l == 0) {
			*out_token = best == 0xffffffffu ? 0 : (int)best;
			if (out_prob)
				*out_prob = 1.0f;
		}
		return;
	}
	uint k = top_k < 1 ? 1 : top_k > TOP_K_MAX ? TOP_K_MAX : top_k;
	if (k > n_vocab)
		k = n_vocab;
	/* the top k, best first: each pass the best after the previous one */
	uint got = 0;
	for (; got < k; got++) {
		uint prev = got ? top[got - 1] : 0;
		uint b = group_argmax(logits, n_vocab, got == 0, got ? logits[prev] : 0.0f, prev, bv, bi);
		if (b == 0xffffffffu)
			break;
		if (l == 0)
			top[got] = b;
		group_barrier();
	}
	if (l != 0)
		return;
	if (got == 0) {
		*out_token = 0;
		if (out_prob)
			*out_prob = 1.0f;
		return;
	}
	/* probabilities relative to the best: exp((l - l0) / T) */
	float l0 = logits[top[0]], z = 0.0f;
	for (uint r = 0; r < got; r++) {
		bv[r] = __builtin_expf((logits[top[r]] - l0) / temperature);
		z += bv[r];
	}
	/* the top-p prefix */
	uint keep = got;
	float c = 0.0f;
	for (uint r = 0; r < got; r++) {
		c += bv[r];
		if (c >= top_p * z) {
			keep = r + 1;
			break;
		}
	}
	float zk = 0.0f;
	for (uint r = 0; r < keep; r++)
		zk += bv[r];
	uint pick = keep - 1;
	c = 0.0f;
	for (uint r = 0; r < keep; r++) {
		c += bv[r];
		if (c > u * zk) {
			pick = r;
			break;
		}
	}
	*out_token = (int)top[pick];
	if (out_prob)
		*out_prob = bv[pick] / zk;
}
