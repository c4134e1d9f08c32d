/* The host reference for libtbinfer: a plain C fp32 llama forward pass, one
 * token at a time over a KV cache, on the tensors of a struct tbi_model
 * (infer/internal.h) read from its files and dequantized to fp32; and the
 * operations it is made of, which the kernel tests compare the GPU kernels
 * with.  Slow and simple on purpose: it is what the engine is checked
 * against. */
#ifndef TB_TESTS_INFER_REF_H
#define TB_TESTS_INFER_REF_H

#include <stddef.h>
#include <stdint.h>

#include "infer/internal.h"

/* IEEE binary16 and bfloat16 to float. */
float ref_half_to_float(uint16_t h);
float ref_bf16_to_float(uint16_t b);
/* float to binary16 (round to nearest even) and bfloat16 (the same): for
 * writing test weights. */
uint16_t ref_float_to_half(float f);
uint16_t ref_float_to_bf16(float f);
/* Bytes of a row of n weights of type t: 0 when n is no multiple of the
 * Q8_0 block (for Q8_0), or on overflow. */
uint64_t ref_row_bytes(enum tbi_type t, uint64_t n);
/* Weight i of a row of type t that starts at row. */
float ref_weight(enum tbi_type t, const uint8_t *row, uint64_t i);
/* n weights of type t at src to fp32 (n a multiple of 32 for Q8_0). */
void ref_dequant(enum tbi_type t, const uint8_t *src, uint64_t n, float *dst);

/* n floats to type t at dst (ref_row_bytes(t, n) bytes; Q8_0: n a
 * multiple of 32, quantized as ggml does). */
void ref_encode_row(enum tbi_type t, const float *src, uint64_t n, uint8_t *dst);

/* RoPE's inverse frequencies, head_dim/2 of them: theta^(-2i/head_dim),
 * with Llama 3.1's scaling when hp->rope_llama3 (as llama.cpp and Hugging
 * Face transformers compute it: wavelengths below orig_ctx /
 * high_freq_factor kept, above orig_ctx / low_freq_factor divided by
 * factor, a linear blend between). */
void ref_rope_inv_freq(const struct tbi_hparams *hp, float *inv_freq);

/* out = x / sqrt(mean(x^2) + eps) * w, n elements (out may be x) */
void ref_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps);
/* y[j] = sum_i W[j][i] x[i], W rows x cols row-major */
void ref_matvec(float *y, const float *w, const float *x, uint32_t rows, uint32_t cols);
/* rotate each of n_heads heads of x at position pos */
void ref_rope(float *x, uint32_t n_heads, uint32_t head_dim, uint32_t pos, const float *inv_freq,
	      enum tbi_rope_layout layout);
/* one head's attention over positions 0..npos-1 of a cache whose rows are
 * kv_stride floats, the head's keys and values at k and v (the row's part):
 * out = softmax(scale q.k) v; scores: npos floats of work space */
void ref_attend(float *out, const float *q, const float *k, const float *v, uint32_t kv_stride, uint32_t head_dim,
		uint32_t npos, float scale, float *scores);
/* out = silu(gate) * up */
void ref_silu_mul(float *out, const float *gate, const float *up, uint32_t n);

struct ref_model;
/* Reads and dequantizes every tensor the forward pass needs (checking each
 * one's type, shape and extent against the hyperparameters and its file)
 * and allocates a KV cache of ctx positions.  Errors: a negative errno and
 * a sentence in why. */
int ref_open(const struct tbi_model *m, uint32_t ctx, struct ref_model **out, char *why, size_t why_len);
/* The logits (n_vocab floats) after token at position pos; positions must
 * come in order from 0 (the cache holds the earlier ones). */
int ref_forward(struct ref_model *r, int32_t token, uint32_t pos, float *logits);
void ref_free(struct ref_model *r);

#endif
