/* Text <-> tokens for a llama-family vocabulary (infer/internal.h).
 *
 *   SPM  SentencePiece BPE with scores (GGUF "llama", Llama 2): spaces become
 *        U+2581 and one is put in front of each run of text; the symbols are
 *        the text's characters; the adjacent pair whose concatenation is a
 *        piece with the highest score merges first (the leftmost on a tie);
 *        what is left that is no piece becomes byte pieces <0xXX>, else unk.
 *   BPE  byte-level BPE (GGUF "gpt2", tokenizer.json; Llama 3): the text is
 *        split by the pre-tokenizer's pattern (GPT-2's or Llama 3's, matched
 *        by hand over code points with Unicode's categories from
 *        libunistring), each piece's bytes are symbols (GPT-2's
 *        bytes_to_unicode characters), and the merge of lowest rank applies
 *        first (the leftmost on a tie).
 * Both merge with a priority queue, so a long input costs O(n log n).
 * Ill-formed UTF-8 in the input is kept: each byte of it is a symbol of its
 * own (SPM: byte fallback; BPE: its own pre-token).
 *
 * Special tokens: the texts of USER_DEFINED tokens, and with parse_special
 * of CONTROL tokens, become those tokens, the longest text first over the
 * whole input, as llama.cpp partitions it.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unictype.h>
#include <unicase.h>

#include "infer/internal.h"
#include "infer/utf8.h"

/* Bounds on what a vocabulary and an input may be (far above any llama's:
 * Llama 3 has 128256 tokens, 280147 merges, tokens of at most 256 bytes). */
#define MAX_TOKENS (1u << 22)
#define MAX_MERGES (1u << 23)
#define MAX_TOKEN_LEN 4096u
/* At most about 50 bytes of memory per byte of input (the symbols, their
 * heap, SPM's escaped text, BPE's code points, the output), the rest freed
 * before return. */
#define MAX_INPUT (16u << 20)

#define SPM_SPACE "\xE2\x96\x81"	/* U+2581 LOWER ONE EIGHTH BLOCK */
#define SPM_SPACE_LEN 3u
/* bytes_to_unicode maps the bytes it does not keep to U+0100 + n, n < 68 */
#define BYTE_CP_END 0x144u

struct pair {
	uint64_t key;			/* left id << 32 | right id; 0 = free slot */
	int32_t rank, result;
};

struct tbi_tokenizer {
	const struct tbi_vocab *v;
	int32_t *slots;			/* token text -> id + 1, open addressing; 0 = free */
	uint32_t mask;
	struct pair *pairs;		/* BPE merges by their two ids */
	uint32_t pmask;
	int32_t byte_tok[256];		/* SPM: <0xXX>; BPE: bytes_to_unicode's character; -1 */
	uint32_t byte_cp[256];		/* BPE: bytes_to_unicode */
	int16_t cp_byte[BYTE_CP_END];	/* BPE: its inverse, -1 */
	int32_t *special;		/* CONTROL and USER_DEFINED tokens, longest first */
	size_t n_special;
	int32_t *eog;
	size_t n_eog;
};

/* ---- lookups --------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h ^ h >> 29;
}

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 33;			/* a 64-bit finalizer (MurmurHash3's fmix64) */
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb3fe1a85ec53ull;
	return x ^ x >> 33;
}

/* A power of two at least twice n (n is bounded, so no overflow). */
static uint32_t table_size(uint32_t n)
{
	uint32_t s = 16;
	while (s < 2 * n)
		s *= 2;
	return s;
}

static int32_t lookup(const struct tbi_tokenizer *t, const char *s, size_t n)
{
	for (uint32_t i = (uint32_t)hash_bytes(s, n) & t->mask;; i = (i + 1) & t->mask) {
		int32_t id = t->slots[i] - 1;
		if (id < 0)
			return -1;
		if (t->v->token_len[id] == n && memcmp(t->v->tokens[id], s, n) == 0)
			return id;
	}
}

/* Adds token id unless its text is there already: the first one wins. */
static void insert_token(struct tbi_tokenizer *t, int32_t id)
{
	const char *s = t->v->tokens[id];
	size_t n = t->v->token_len[id];
	uint32_t i = (uint32_t)hash_bytes(s, n) & t->mask;
	for (; t->slots[i]; i = (i + 1) & t->mask) {
		int32_t o = t->slots[i] - 1;
		if (t->v->token_len[o] == n && memcmp(t->v->tokens[o], s, n) == 0)
			return;
	}
	t->slots[i] = id + 1;
}

static uint64_t pair_key(int32_t l, int32_t r)
{
	return (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
}

static const struct pair *pair_find(const struct tbi_tokenizer *t, int32_t l, int32_t r)
{
	uint64_t k = pair_key(l, r) + 1;	/* + 1: 0 marks a free slot */
	for (uint32_t i = (uint32_t)hash_u64(k) & t->pmask;; i = (i + 1) & t->pmask) {
		if (t->pairs[i].key == k)
			return &t->pairs[i];
		if (t->pairs[i].key == 0)
			return NULL;
	}
}

/* ---- building ------------------------------------------------------------------ */

static int check_vocab(const struct tbi_vocab *v, struct tbi_err *err)
{
	if (v->kind != TBI_VOCAB_SPM && v->kind != TBI_VOCAB_BPE)
		return tbi_fail(err, -EINVAL, "vocabulary: unknown kind %d", (int)v->kind);
	if (v->n_tokens == 0 || v->n_tokens > MAX_TOKENS)
		return tbi_fail(err, -EINVAL, "vocabulary: %u tokens (1 to %u expected)", v->n_tokens, MAX_TOKENS);
	if (!v->tokens || !v->token_len || !v->types)
		return tbi_fail(err, -EINVAL, "vocabulary: no token texts or types");
	if (v->kind == TBI_VOCAB_SPM && !v->scores)
		return tbi_fail(err, -EINVAL, "vocabulary: a SentencePiece vocabulary without scores");
	for (uint32_t i = 0; i < v->n_tokens; i++) {
		if (v->token_len[i] > MAX_TOKEN_LEN)
			return tbi_fail(err, -EINVAL, "vocabulary: token %u is %u bytes long (at most %u)", i,
					v->token_len[i], MAX_TOKEN_LEN);
		if (!v->tokens[i] || !tbi_utf8_valid((const uint8_t *)v->tokens[i], v->token_len[i]))
			return tbi_fail(err, -EILSEQ, "vocabulary: token %u is not valid UTF-8", i);
		if (v->types[i] < TBI_TOKEN_NORMAL || v->types[i] > TBI_TOKEN_BYTE)
			return tbi_fail(err, -EINVAL, "vocabulary: token %u has type %d", i, (int)v->types[i]);
		if (v->scores && !isfinite(v->scores[i]))
			return tbi_fail(err, -EINVAL, "vocabulary: token %u has a score that is not a number", i);
	}
	const int32_t ids[] = {v->bos, v->eos, v->eot, v->unk, v->pad};
	const char *names[] = {"bos", "eos", "eot", "unk", "pad"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		if (ids[i] < -1 || ids[i] >= (int64_t)v->n_tokens)
			return tbi_fail(err, -EINVAL, "vocabulary: %s token %d is not one of the %u tokens", names[i],
					(int)ids[i], v->n_tokens);
	if (v->n_merges > MAX_MERGES || (v->n_merges && !v->merges))
		return tbi_fail(err, -EINVAL, "vocabulary: %u merges (at most %u)", v->n_merges, MAX_MERGES);
	return 0;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the others (controls, space, soft hyphen) for U+0100 on, in byte order. */
static uint32_t gpt2_byte_cp(unsigned b, unsigned *next)
{
	if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
		return b;
	return 0x100u + (*next)++;
}

static void build_bytes(struct tbi_tokenizer *t)
{
	unsigned next = 0;
	memset(t->cp_byte, 0xff, sizeof t->cp_byte);
	for (unsigned b = 0; b < 256; b++) {
		char s[8];
		size_t n;
		if (t->v->kind == TBI_VOCAB_SPM) {
			static const char hex[] = "0123456789ABCDEF";
			memcpy(s, "<0x", 3);
			s[3] = hex[b >> 4], s[4] = hex[b & 15], s[5] = '>';
			n = 6;
		} else {
			uint32_t cp = gpt2_byte_cp(b, &next);
			t->byte_cp[b] = cp;
			t->cp_byte[cp] = (int16_t)b;
			n = (size_t)tbi_utf8_put(cp, (uint8_t *)s);
		}
		t->byte_tok[b] = lookup(t, s, n);
	}
}

static int build_merges(struct tbi_tokenizer *t, struct tbi_err *err)
{
	const struct tbi_vocab *v = t->v;
	t->pmask = table_size(v->n_merges) - 1;
	t->pairs = calloc((size_t)t->pmask + 1, sizeof *t->pairs);
	if (!t->pairs)
		return tbi_fail(err, -ENOMEM, "vocabulary: no memory for %u merges", v->n_merges);
	char joined[2 * MAX_TOKEN_LEN];
	for (uint32_t m = 0; m < v->n_merges; m++) {
		const char *s = v->merges[m];
		size_t n = s ? strnlen(s, 2 * MAX_TOKEN_LEN + 2) : 0;
		const char *sp = s ? memchr(s, ' ', n) : NULL;
		if (!sp || sp == s || sp + 1 == s + n || n > 2 * MAX_TOKEN_LEN)
			return tbi_fail(err, -EINVAL, "vocabulary: merge %u is not \"left right\"", m);
		size_t ln = (size_t)(sp - s), rn = n - ln - 1;
		int32_t l = lookup(t, s, ln), r = lookup(t, sp + 1, rn);
		memcpy(joined, s, ln);
		memcpy(joined + ln, sp + 1, rn);
		int32_t res = lookup(t, joined, ln + rn);
		if (l < 0 || r < 0 || res < 0)
			return tbi_fail(err, -EINVAL, "vocabulary: merge %u (\"%.*s\") names a token the vocabulary lacks",
					m, (int)(n > 200 ? 200 : n), s);
		uint64_t k = pair_key(l, r) + 1;
		uint32_t i = (uint32_t)hash_u64(k) & t->pmask;
		while (t->pairs[i].key && t->pairs[i].key != k)
			i = (i + 1) & t->pmask;
		if (t->pairs[i].key == 0)	/* a repeated merge keeps its first rank */
			t->pairs[i] = (struct pair){k, (int32_t)m, res};
	}
	return 0;
}

static int by_length_desc(const void *a, const void *b, void *arg)
{
	const struct tbi_vocab *v = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	if (v->token_len[x] != v->token_len[y])
		return v->token_len[x] > v->token_len[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static bool text_is(const struct tbi_vocab *v, int32_t id, const char *s)
{
	size_t n = strlen(s);
	return v->token_len[id] == n && memcmp(v->tokens[id], s, n) == 0;
}

/* The tokens that end a generation: the model's EOS and EOT, and the control
 * tokens llama-family chat formats end a turn with. */
static int build_special(struct tbi_tokenizer *t, struct tbi_err *err)
{
	const struct tbi_vocab *v = t->v;
	static const char *const ends[] = {"<|eot_id|>", "<|end_of_text|>", "<|eom_id|>", "<|im_end|>",
					   "<|endoftext|>", "</s>"};
	t->special = malloc(sizeof *t->special * v->n_tokens);
	t->eog = malloc(sizeof *t->eog * (v->n_tokens + 2));
	if (!t->special || !t->eog)
		return tbi_fail(err, -ENOMEM, "vocabulary: no memory");
	if (v->eos >= 0)
		t->eog[t->n_eog++] = v->eos;
	if (v->eot >= 0)
		t->eog[t->n_eog++] = v->eot;
	for (uint32_t i = 0; i < v->n_tokens; i++) {
		int32_t ty = v->types[i];
		if ((ty == TBI_TOKEN_CONTROL || ty == TBI_TOKEN_USER_DEFINED) && v->token_len[i] > 0)
			t->special[t->n_special++] = (int32_t)i;
		if (ty == TBI_TOKEN_CONTROL)
			for (size_t e = 0; e < sizeof ends / sizeof ends[0]; e++)
				if (text_is(v, (int32_t)i, ends[e]))
					t->eog[t->n_eog++] = (int32_t)i;
	}
	qsort_r(t->special, t->n_special, sizeof *t->special, by_length_desc, (void *)v);
	return 0;
}

int tbi_tokenizer_new(const struct tbi_vocab *v, struct tbi_tokenizer **out, struct tbi_err *err)
{
	*out = NULL;
	int rc = check_vocab(v, err);
	if (rc)
		return rc;
	struct tbi_tokenizer *t = calloc(1, sizeof *t);
	if (!t)
		return tbi_fail(err, -ENOMEM, "tokenizer: no memory");
	t->v = v;
	t->mask = table_size(v->n_tokens) - 1;
	t->slots = calloc((size_t)t->mask + 1, sizeof *t->slots);
	if (!t->slots) {
		rc = tbi_fail(err, -ENOMEM, "tokenizer: no memory for %u tokens", v->n_tokens);
		goto fail;
	}
	for (uint32_t i = 0; i < v->n_tokens; i++)
		insert_token(t, (int32_t)i);
	build_bytes(t);
	if (v->kind == TBI_VOCAB_BPE && (rc = build_merges(t, err)))
		goto fail;
	if ((rc = build_special(t, err)))
		goto fail;
	*out = t;
	return 0;
fail:
	tbi_tokenizer_free(t);
	return rc;
}

void tbi_tokenizer_free(struct tbi_tokenizer *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t->pairs);
	free(t->special);
	free(t->eog);
	free(t);
}

bool tbi_token_is_eog(const struct tbi_tokenizer *t, int32_t token)
{
	for (size_t i = 0; i < t->n_eog; i++)
		if (t->eog[i] == token)
			return true;
	return false;
}

/* ---- output and scratch ------------------------------------------------------- */

struct ids {
	int32_t *v;
	size_t n, cap;
};

static int ids_push(struct ids *o, int32_t id)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		int32_t *nv = realloc(o->v, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		o->v = nv, o->cap = cap;
	}
	o->v[o->n++] = id;
	return 0;
}

static int nomem(struct tbi_err *err)
{
	return tbi_fail(err, -ENOMEM, "tokenize: no memory");
}

/* Appends a token to the output, or fails for want of memory. */
static int emit(struct ids *o, int32_t id, struct tbi_err *err)
{
	return ids_push(o, id) ? nomem(err) : 0;
}

/* A symbol: a span of the text being merged, linked to its neighbours, and
 * the candidate merge with its right neighbour (when there is one, the
 * symbol is in the heap). */
struct sym {
	uint32_t start, len;
	int32_t prev, next;
	int32_t id;			/* its token, or -1 */
	int32_t merged;			/* the token it makes with its right neighbour */
	float prio;			/* of that merge: lower first, then the leftmost */
	uint32_t hpos;			/* its place in the heap, NO_HPOS when none */
};
#define NO_HPOS UINT32_MAX

/* Each symbol is in the heap at most once, so syms and heap are n long. */
struct work {
	struct sym *syms;
	uint32_t *heap;			/* symbols, by their candidates' order */
	size_t n_heap, cap;
	char *buf;			/* SPM: the escaped text; BPE: a piece's mapped text */
	size_t buf_cap;
};

static int work_reserve(struct work *w, size_t nsyms, size_t nbuf)
{
	if (nsyms > w->cap) {
		struct sym *s = realloc(w->syms, nsyms * sizeof *s);
		if (!s)
			return -ENOMEM;
		w->syms = s;
		uint32_t *h = realloc(w->heap, nsyms * sizeof *h);
		if (!h)
			return -ENOMEM;
		w->heap = h, w->cap = nsyms;
	}
	if (nbuf > w->buf_cap) {
		char *b = realloc(w->buf, nbuf);
		if (!b)
			return -ENOMEM;
		w->buf = b, w->buf_cap = nbuf;
	}
	return 0;
}

static bool before(const struct work *w, uint32_t a, uint32_t b)
{
	const struct sym *x = &w->syms[a], *y = &w->syms[b];
	return x->prio < y->prio || (x->prio == y->prio && a < b);
}

static void heap_set(struct work *w, size_t i, uint32_t s)
{
	w->heap[i] = s;
	w->syms[s].hpos = (uint32_t)i;
}

/* Moves the symbol at heap place i to where its candidate belongs. */
static void heap_fix(struct work *w, size_t i)
{
	uint32_t s = w->heap[i];
	while (i > 0 && before(w, s, w->heap[(i - 1) / 2])) {
		heap_set(w, i, w->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= w->n_heap)
			break;
		if (c + 1 < w->n_heap && before(w, w->heap[c + 1], w->heap[c]))
			c++;
		if (!before(w, w->heap[c], s))
			break;
		heap_set(w, i, w->heap[c]);
		i = c;
	}
	heap_set(w, i, s);
}

static void heap_remove(struct work *w, uint32_t s)
{
	size_t i = w->syms[s].hpos;
	if (i == NO_HPOS)
		return;
	w->syms[s].hpos = NO_HPOS;
	uint32_t last = w->heap[--w->n_heap];
	if (i < w->n_heap) {
		heap_set(w, i, last);
		heap_fix(w, i);
	}
}

/* Finds the merge of symbol l with its right neighbour and puts l in the
 * heap by it, or takes l out when there is none. */
static void update(const struct tbi_tokenizer *t, struct work *w, int32_t l)
{
	if (l < 0)
		return;
	struct sym *a = &w->syms[l];
	int32_t id = -1;
	float prio = 0;
	if (a->next >= 0) {
		const struct sym *b = &w->syms[a->next];
		if (t->v->kind == TBI_VOCAB_SPM) {
			id = lookup(t, w->buf + a->start, a->len + b->len);
			if (id >= 0 && (t->v->types[id] == TBI_TOKEN_NORMAL || t->v->types[id] == TBI_TOKEN_USER_DEFINED))
				prio = -t->v->scores[id];
			else
				id = -1;
		} else if (a->id >= 0 && b->id >= 0) {
			const struct pair *p = pair_find(t, a->id, b->id);
			if (p) {
				id = p->result;
				prio = (float)p->rank;	/* exact: ranks are below 2^24 */
			}
		}
	}
	if (id < 0) {
		heap_remove(w, (uint32_t)l);
		return;
	}
	a->merged = id, a->prio = prio;
	if (a->hpos == NO_HPOS) {
		a->hpos = (uint32_t)w->n_heap++;
		w->heap[a->hpos] = (uint32_t)l;
	}
	heap_fix(w, a->hpos);
}

/* Merges w->syms[0..n) (linked in order) until no candidate is left. */
static void merge_all(const struct tbi_tokenizer *t, struct work *w, size_t n)
{
	w->n_heap = 0;
	for (size_t i = 0; i < n; i++)
		w->syms[i].hpos = NO_HPOS;
	for (size_t i = 0; i + 1 < n; i++)
		update(t, w, (int32_t)i);
	while (w->n_heap) {
		uint32_t l = w->heap[0];
		struct sym *a = &w->syms[l];
		int32_t r = a->next;
		struct sym *b = &w->syms[r];
		a->len += b->len;
		a->id = a->merged;
		a->next = b->next;
		if (a->next >= 0)
			w->syms[a->next].prev = (int32_t)l;
		heap_remove(w, (uint32_t)r);
		b->len = 0;
		update(t, w, (int32_t)l);
		update(t, w, a->prev);
	}
}

static void link_syms(struct work *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		w->syms[i].prev = (int32_t)i - 1;
		w->syms[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
	}
}

/* A byte that no token covers: byte fallback, else unk. */
static int push_byte(const struct tbi_tokenizer *t, struct ids *o, uint8_t b, struct tbi_err *err)
{
	int32_t id = t->byte_tok[b] >= 0 ? t->byte_tok[b] : t->v->unk;
	if (id < 0)
		return tbi_fail(err, -EILSEQ, "tokenize: byte 0x%02X has no token and the vocabulary no unk token", b);
	return emit(o, id, err);
}

/* ---- SentencePiece ------------------------------------------------------------ */

static int spm_fragment(const struct tbi_tokenizer *t, struct work *w, const char *text, size_t len, bool prefix,
			struct ids *o, struct tbi_err *err)
{
	size_t cap = (len + 1) * SPM_SPACE_LEN;
	if (work_reserve(w, len + 1, cap))
		return nomem(err);
	size_t n = 0, nsyms = 0;
	if (prefix) {
		memcpy(w->buf, SPM_SPACE, SPM_SPACE_LEN);
		n = SPM_SPACE_LEN;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(w->buf + n, SPM_SPACE, SPM_SPACE_LEN);
			n += SPM_SPACE_LEN;
		} else {
			w->buf[n++] = text[i];
		}
	}
	/* the symbols: characters, and each byte of ill-formed UTF-8 alone */
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int r = tbi_utf8_next((const uint8_t *)w->buf + i, n - i, &cp);
		uint32_t l = r > 0 ? (uint32_t)r : 1;
		w->syms[nsyms++] = (struct sym){.start = (uint32_t)i, .len = l, .id = -1};
		i += l;
	}
	link_syms(w, nsyms);
	merge_all(t, w, nsyms);
	for (int32_t s = nsyms ? 0 : -1; s >= 0; s = w->syms[s].next) {
		const struct sym *y = &w->syms[s];
		int32_t id = y->id >= 0 ? y->id : lookup(t, w->buf + y->start, y->len);
		bool piece = id >= 0 && (t->v->types[id] == TBI_TOKEN_NORMAL || t->v->types[id] == TBI_TOKEN_USER_DEFINED);
		int rc = piece ? emit(o, id, err) : 0;
		for (uint32_t k = 0; !piece && k < y->len && !rc; k++)
			rc = push_byte(t, o, (uint8_t)w->buf[y->start + k], err);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- byte-level BPE: the pre-tokenizers ----------------------------------------- */

static bool is_L(uint32_t c)
{
	return uc_is_general_category(c, UC_CATEGORY_L);
}
static bool is_N(uint32_t c)
{
	return uc_is_general_category(c, UC_CATEGORY_N);
}
static bool is_S(uint32_t c)	/* the patterns' \s: Unicode's White_Space */
{
	return uc_is_property_white_space(c);
}
static bool is_other(uint32_t c)	/* [^\s\p{L}\p{N}] */
{
	return !is_S(c) && !is_L(c) && !is_N(c);
}
static bool is_crlf(uint32_t c)
{
	return c == '\r' || c == '\n';
}

/* Length of the run of code points from i that satisfy f. */
static size_t run(const uint32_t *cp, size_t i, size_t n, bool (*f)(uint32_t))
{
	size_t j = i;
	while (j < n && f(cp[j]))
		j++;
	return j - i;
}

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when icase as (?i:...) is: then
 * U+017F LATIN SMALL LETTER LONG S folds to s as well. */
static size_t contraction(const uint32_t *cp, size_t i, size_t n, bool icase)
{
	if (cp[i] != '\'' || i + 1 >= n)
		return 0;
	uint32_t a = cp[i + 1], b = i + 2 < n ? cp[i + 2] : 0;
	if (icase) {
		a = a == 0x17F ? 's' : uc_tolower(a);
		b = uc_tolower(b);
	}
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return 2;
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return 3;
	return 0;
}

/* \s+(?!\S) | \s+ : a whitespace run, leaving its last character to the
 * next piece when a non-space follows (unless the run is that character). */
static size_t space_run(const uint32_t *cp, size_t i, size_t n)
{
	size_t r = run(cp, i, n, is_S);
	if (r == 0 || i + r == n || r == 1)
		return r;
	return r - 1;
}

/* " ?X+" for the class f */
static size_t opt_space_run(const uint32_t *cp, size_t i, size_t n, bool (*f)(uint32_t))
{
	size_t sp = cp[i] == ' ' && i + 1 < n;
	size_t r = run(cp, i + sp, n, f);
	return r ? sp + r : 0;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t gpt2_piece(const uint32_t *cp, size_t i, size_t n)
{
	size_t m;
	if ((m = contraction(cp, i, n, false)) || (m = opt_space_run(cp, i, n, is_L)) ||
	    (m = opt_space_run(cp, i, n, is_N)) || (m = opt_space_run(cp, i, n, is_other)))
		return m;
	return space_run(cp, i, n);
}

static bool not_crlf_L_N(uint32_t c)
{
	return !is_crlf(c) && !is_L(c) && !is_N(c);
}

/* Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t llama3_piece(const uint32_t *cp, size_t i, size_t n)
{
	size_t m;
	if ((m = contraction(cp, i, n, true)))
		return m;
	if (is_L(cp[i]))
		return run(cp, i, n, is_L);
	if (not_crlf_L_N(cp[i]) && i + 1 < n && is_L(cp[i + 1]))
		return 1 + run(cp, i + 1, n, is_L);
	if (is_N(cp[i])) {
		m = run(cp, i, n, is_N);
		return m > 3 ? 3 : m;
	}
	if ((m = opt_space_run(cp, i, n, is_other)))
		return m + run(cp, i + m, n, is_crlf);
	/* \s*[\r\n]+ : up to the last CR or LF of the whitespace run */
	size_t r = run(cp, i, n, is_S);
	for (size_t k = r; k > 0; k--)
		if (is_crlf(cp[i + k - 1]))
			return k;
	return space_run(cp, i, n);
}

/* ---- byte-level BPE: a piece's merges --------------------------------------------- */

static int bpe_piece(const struct tbi_tokenizer *t, struct work *w, const uint8_t *s, size_t len, struct ids *o,
		     struct tbi_err *err)
{
	if (work_reserve(w, len, len * 2))
		return nomem(err);
	if (t->v->pretok == TBI_PRETOK_LLAMA3) {
		/* Llama 3's tokenizer takes a piece that is a token whole
		 * (tokenizer.json "ignore_merges"), as llama.cpp does */
		size_t m = 0;
		for (size_t i = 0; i < len; i++)
			m += (size_t)tbi_utf8_put(t->byte_cp[s[i]], (uint8_t *)w->buf + m);
		int32_t id = lookup(t, w->buf, m);
		if (id >= 0)
			return emit(o, id, err);
	}
	for (size_t i = 0; i < len; i++)
		w->syms[i] = (struct sym){.start = (uint32_t)i, .len = 1, .id = t->byte_tok[s[i]]};
	link_syms(w, len);
	merge_all(t, w, len);
	for (int32_t k = len ? 0 : -1; k >= 0; k = w->syms[k].next) {
		const struct sym *y = &w->syms[k];
		int rc = y->id >= 0 ? emit(o, y->id, err)
				    : push_byte(t, o, s[y->start], err);
		if (rc)
			return rc;
	}
	return 0;
}

static int bpe_fragment(const struct tbi_tokenizer *t, struct work *w, const char *text, size_t len,
			struct ids *o, struct tbi_err *err)
{
	const uint8_t *s = (const uint8_t *)text;
	uint32_t *cp = malloc((len + 1) * sizeof *cp);
	uint32_t *off = malloc((len + 1) * sizeof *off);	/* len <= MAX_INPUT */
	int rc = 0;
	if (!cp || !off) {
		rc = nomem(err);
		goto out;
	}
	size_t (*piece)(const uint32_t *, size_t, size_t) =
		t->v->pretok == TBI_PRETOK_LLAMA3 ? llama3_piece : gpt2_piece;
	for (size_t i = 0; i < len && !rc;) {
		/* a run of valid UTF-8 is split by the pattern; each byte of
		 * ill-formed UTF-8 is a piece of its own */
		size_t n = 0;
		while (i < len) {
			int r = tbi_utf8_next(s + i, len - i, &cp[n]);
			if (r <= 0)
				break;
			off[n++] = (uint32_t)i;
			i += (size_t)r;
		}
		off[n] = (uint32_t)i;
		for (size_t a = 0; a < n && !rc;) {
			size_t m = piece(cp, a, n);
			m += m == 0;	/* the patterns match every character; progress regardless */
			rc = bpe_piece(t, w, s + off[a], off[a + m] - off[a], o, err);
			a += m;
		}
		if (i < len && !rc)
			rc = bpe_piece(t, w, s + i++, 1, o, err);
	}
out:
	free(cp);
	free(off);
	return rc;
}

/* ---- special tokens and the whole ----------------------------------------------- */

struct frag {
	size_t off, len;
	int32_t token;			/* a special token, or -1 for text */
};

/* Splits the text fragments at each occurrence of special token id. */
static int split_at(const struct tbi_tokenizer *t, const char *text, int32_t id, struct frag **fr, size_t *nfr)
{
	const char *tok = t->v->tokens[id];
	size_t tl = t->v->token_len[id], found = 0;
	for (size_t i = 0; i < *nfr; i++) {
		const struct frag *f = &(*fr)[i];
		if (f->token >= 0)
			continue;
		for (const char *p = text + f->off, *e = p + f->len; (p = memmem(p, (size_t)(e - p), tok, tl)); p += tl)
			found++;
	}
	if (!found)
		return 0;
	/* each occurrence makes at most two fragments of one */
	struct frag *nf = malloc((*nfr + 2 * found) * sizeof *nf);
	if (!nf)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < *nfr; i++) {
		struct frag f = (*fr)[i];
		if (f.token >= 0) {
			nf[k++] = f;
			continue;
		}
		size_t pos = f.off, end = f.off + f.len;
		for (const char *p; (p = memmem(text + pos, end - pos, tok, tl)); pos = (size_t)(p - text) + tl) {
			size_t at = (size_t)(p - text);
			if (at > pos)
				nf[k++] = (struct frag){pos, at - pos, -1};
			nf[k++] = (struct frag){at, tl, id};
		}
		if (end > pos)
			nf[k++] = (struct frag){pos, end - pos, -1};
	}
	free(*fr);
	*fr = nf, *nfr = k;
	return 0;
}

/* The special token whose text is exactly s, or -1. */
static int32_t special_by_text(const struct tbi_tokenizer *t, const char *s, size_t len)
{
	for (size_t i = 0; i < t->n_special; i++) {
		int32_t id = t->special[i];
		if (t->v->token_len[id] == len && memcmp(t->v->tokens[id], s, len) == 0)
			return id;
	}
	return -1;
}

/* Splits the text fragments at the special tokens' texts (only the
 * user-defined ones unless parse_special), then encodes them in order. */
static int encode_frags(const struct tbi_tokenizer *t, const char *text, struct frag *fr, size_t nfr, bool add_bos,
			bool parse_special, int32_t **tokens, size_t *n, struct tbi_err *err)
{
	struct ids o = {0};
	struct work w = {0};
	int rc = 0;
	for (size_t i = 0; i < t->n_special && nfr; i++) {
		int32_t id = t->special[i];
		if (!parse_special && t->v->types[id] == TBI_TOKEN_CONTROL)
			continue;
		if (split_at(t, text, id, &fr, &nfr)) {
			rc = nomem(err);
			goto out;
		}
	}
	if (add_bos && t->v->bos >= 0 && ids_push(&o, t->v->bos)) {
		rc = nomem(err);
		goto out;
	}
	/* SentencePiece puts a space before the text, and after each special
	 * token (as llama.cpp does for Llama 2) */
	bool prefix = true;
	for (size_t i = 0; i < nfr && !rc; i++) {
		if (fr[i].token >= 0) {
			rc = emit(&o, fr[i].token, err);
			prefix = true;
		} else if (t->v->kind == TBI_VOCAB_SPM) {
			rc = spm_fragment(t, &w, text + fr[i].off, fr[i].len, prefix, &o, err);
			prefix = false;
		} else {
			rc = bpe_fragment(t, &w, text + fr[i].off, fr[i].len, &o, err);
		}
	}
out:
	free(fr);
	free(w.syms);
	free(w.heap);
	free(w.buf);
	if (rc) {
		free(o.v);
		return rc;
	}
	*tokens = o.v, *n = o.n;
	return 0;
}

int tbi_tokenize(const struct tbi_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
		 int32_t **tokens, size_t *n, struct tbi_err *err)
{
	*tokens = NULL, *n = 0;
	if (len > MAX_INPUT)
		return tbi_fail(err, -E2BIG, "tokenize: %zu bytes of text (at most %u)", len, MAX_INPUT);
	struct frag *fr = malloc(sizeof *fr);
	if (!fr)
		return nomem(err);
	size_t nfr = 0;
	if (len)
		fr[nfr++] = (struct frag){0, len, -1};
	return encode_frags(t, text, fr, nfr, add_bos, parse_special, tokens, n, err);
}

/* Text between marks, and a mark that is no token's text, are one text
 * fragment together: encoded as they would be without the mark. */
static void add_text(struct frag *fr, size_t *nfr, size_t off, size_t len)
{
	if (!len)
		return;
	if (*nfr && fr[*nfr - 1].token < 0 && fr[*nfr - 1].off + fr[*nfr - 1].len == off)
		fr[*nfr - 1].len += len;
	else
		fr[(*nfr)++] = (struct frag){off, len, -1};
}

int tbi_tokenize_marked(const struct tbi_tokenizer *t, const char *text, size_t len, const struct tbi_span *marks,
			size_t n_marks, int32_t **tokens, size_t *n, struct tbi_err *err)
{
	*tokens = NULL, *n = 0;
	if (len > MAX_INPUT)
		return tbi_fail(err, -E2BIG, "tokenize: %zu bytes of text (at most %u)", len, MAX_INPUT);
	if (n_marks > len)
		return tbi_fail(err, -EINVAL, "tokenize: %zu marks in %zu bytes", n_marks, len);
	struct frag *fr = malloc((2 * n_marks + 1) * sizeof *fr);
	if (!fr)
		return nomem(err);
	size_t nfr = 0, pos = 0;
	for (size_t i = 0; i < n_marks; i++) {
		const struct tbi_span *m = &marks[i];
		if (m->off < pos || m->off > len || m->len > len - m->off || !m->len) {
			free(fr);
			return tbi_fail(err, -EINVAL, "tokenize: mark %zu (%zu bytes at %zu) is out of order or outside "
					"the %zu bytes", i, m->len, m->off, len);
		}
		add_text(fr, &nfr, pos, m->off - pos);
		int32_t id = special_by_text(t, text + m->off, m->len);
		if (id >= 0)
			fr[nfr++] = (struct frag){m->off, m->len, id};
		else
			add_text(fr, &nfr, m->off, m->len);
		pos = m->off + m->len;
	}
	add_text(fr, &nfr, pos, len - pos);
	return encode_frags(t, text, fr, nfr, false, false, tokens, n, err);
}

/* ---- streamed decoding ------------------------------------------------------------ */

#define FFFD "\xEF\xBF\xBD"		/* U+FFFD REPLACEMENT CHARACTER */

struct tbi_detok {
	const struct tbi_tokenizer *t;
	bool first;			/* SPM: no text yet, its leading space is the prefix */
	uint8_t held[4];		/* an incomplete UTF-8 sequence */
	size_t n_held;
	char *out;
	uint8_t *piece;
};

/* Each token's bytes: at most its text, or a U+FFFD */
#define PIECE_MAX (MAX_TOKEN_LEN + 4)

int tbi_detok_new(const struct tbi_tokenizer *t, struct tbi_detok **out)
{
	struct tbi_detok *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->t = t;
	d->first = t->v->kind == TBI_VOCAB_SPM;
	/* held bytes + a piece, each byte at worst one U+FFFD */
	d->out = malloc((PIECE_MAX + sizeof d->held) * 3);
	d->piece = malloc(PIECE_MAX + sizeof d->held);
	if (!d->out || !d->piece) {
		tbi_detok_free(d);
		return -ENOMEM;
	}
	*out = d;
	return 0;
}

void tbi_detok_free(struct tbi_detok *d)
{
	if (!d)
		return;
	free(d->out);
	free(d->piece);
	free(d);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The bytes token id stands for, into p; returns their count. */
static size_t token_bytes(const struct tbi_tokenizer *t, int32_t id, uint8_t *p)
{
	const struct tbi_vocab *v = t->v;
	if (id < 0 || (uint32_t)id >= v->n_tokens || v->types[id] == TBI_TOKEN_UNKNOWN) {
		memcpy(p, FFFD, 3);
		return 3;
	}
	int32_t ty = v->types[id];
	const char *s = v->tokens[id];
	size_t n = v->token_len[id], k = 0;
	if (ty == TBI_TOKEN_CONTROL || ty == TBI_TOKEN_UNUSED)
		return 0;
	if (ty == TBI_TOKEN_USER_DEFINED) {
		memcpy(p, s, n);
		return n;
	}
	if (v->kind == TBI_VOCAB_SPM) {
		if (ty == TBI_TOKEN_BYTE && n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hexval(s[3]) >= 0 &&
		    hexval(s[4]) >= 0) {
			p[0] = (uint8_t)(hexval(s[3]) << 4 | hexval(s[4]));
			return 1;
		}
		for (size_t i = 0; i < n;) {
			if (i + SPM_SPACE_LEN <= n && memcmp(s + i, SPM_SPACE, SPM_SPACE_LEN) == 0) {
				p[k++] = ' ';
				i += SPM_SPACE_LEN;
			} else {
				p[k++] = (uint8_t)s[i++];
			}
		}
		return k;
	}
	/* byte-level: each bytes_to_unicode character back to its byte; any
	 * other character (tokens are valid UTF-8) stays as it is */
	for (size_t i = 0; i < n;) {
		uint32_t cp = 0;
		int r = tbi_utf8_next((const uint8_t *)s + i, n - i, &cp);
		if (cp < BYTE_CP_END && t->cp_byte[cp] >= 0) {
			p[k++] = (uint8_t)t->cp_byte[cp];
		} else {
			memcpy(p + k, s + i, (size_t)r);
			k += (size_t)r;
		}
		i += (size_t)r;
	}
	return k;
}

const char *tbi_detok_push(struct tbi_detok *d, int32_t token, size_t *len)
{
	uint8_t *p = d->piece;
	memcpy(p, d->held, d->n_held);
	size_t n = d->n_held + token_bytes(d->t, token, p + d->n_held), o = 0;
	d->n_held = 0;
	size_t i = 0;
	if (d->first && n > 0) {
		if (p[0] == ' ')
			i = 1;
		d->first = false;
	}
	while (i < n) {
		uint32_t cp;
		int r = tbi_utf8_next(p + i, n - i, &cp);
		if (r > 0) {
			memcpy(d->out + o, p + i, (size_t)r);
			o += (size_t)r;
			i += (size_t)r;
		} else if (r == 0) {	/* may be completed by the next token */
			memcpy(d->held, p + i, n - i);
			d->n_held = n - i;
			break;
		} else {
			memcpy(d->out + o, FFFD, 3);
			o += 3;
			i += (size_t)-r;
		}
	}
	*len = o;
	return d->out;
}

const char *tbi_detok_flush(struct tbi_detok *d, size_t *len)
{
	/* an incomplete sequence is one maximal subpart: one U+FFFD */
	*len = 0;
	if (d->n_held) {
		memcpy(d->out, FFFD, 3);
		*len = 3;
		d->n_held = 0;
	}
	return d->out;
}
