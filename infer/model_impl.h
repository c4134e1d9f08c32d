/* What model.c, gguf.c and hf.c share (private to those three files): the
 * model's memory, the checks common to both formats, each format's opener. */
#ifndef TBINFER_MODEL_IMPL_H
#define TBINFER_MODEL_IMPL_H

#include "infer/internal.h"

/* Bounds on hyperparameters: far above any llama model, low enough that
 * every product of two of them fits in 64 bits many times over. */
#define TBI_MAX_DIM	  (1u << 17)
#define TBI_MAX_LAYERS	  1024u
#define TBI_MAX_HEADS	  1024u
#define TBI_MAX_FFN	  (1u << 20)
#define TBI_MAX_CTX	  (1u << 24)
#define TBI_MAX_VOCAB	  (1u << 24)
#define TBI_MAX_STRING	  (1u << 20)	/* any one string of a header */
#define TBI_MAX_NAME	  256u		/* a tensor's name */
#define TBI_MAX_FILES	  1024u		/* shards of one model */

/* A new, empty model whose memory (every string and table hung from it)
 * is freed by tbi_model_free. */
struct tbi_model *tbi_model_new(enum tbi_format format);
/* n zeroed bytes owned by the model, or NULL when out of memory. */
void *tbi_model_alloc(struct tbi_model *m, size_t n);
/* A NUL-terminated copy of len bytes owned by the model, or NULL. */
char *tbi_model_strdup(struct tbi_model *m, const void *s, size_t len);

/* A printable form of len bytes read from a file for messages (never the
 * raw bytes): ASCII as it is, anything else as \xNN; out, truncated to cap. */
const char *tbi_printable(char *out, size_t cap, const void *s, size_t len);

/* The checks every format's model must pass once its tables are filled:
 * architecture, hyperparameters, each needed tensor's presence, type and
 * shape, vocabulary against n_vocab, special token ids. */
int tbi_model_check(const struct tbi_model *m, struct tbi_err *err);

int tbi_gguf_open(const char *path, struct tbi_model **out, struct tbi_err *err);
int tbi_hf_open(const char *dir, struct tbi_model **out, struct tbi_err *err);

#endif
