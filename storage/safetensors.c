/* safetensors headers: an 8-byte little-endian length, then that many bytes
 * of JSON mapping tensor names to {dtype, shape, data_offsets} (offsets
 * relative to the end of the header), plus an optional "__metadata__" map of
 * strings.  Everything is validated before a byte of data is trusted.
 *
 * The JSON is parsed here, not by a general JSON library: the header's
 * grammar is small and fixed, and a general document tree costs about a
 * kilobyte per tensor (a 38 MB header of 500,000 tensors took 590 MB).  Two
 * passes over the text, the first validating and counting, the second
 * filling records allocated once at their exact size, keep the memory to
 * the header itself plus one compact record per tensor and its name (see
 * tbs_st_memory).  Errors name byte offsets, tensor numbers and sizes, never
 * the file's own bytes: a file that is not a safetensors header (a secret,
 * say) must not come back in the error message. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/internal.h"


/* The shortest tensor entry: "":{"dtype":"U8","shape":[],"data_offsets":[0,0]} */
#define MIN_TENSOR_JSON 49u

static const struct {
	const char *name;
	unsigned size;
} dtypes[] = {
	[TBS_BOOL] = { "BOOL", 1 }, [TBS_U8] = { "U8", 1 }, [TBS_I8] = { "I8", 1 },
	[TBS_F8_E5M2] = { "F8_E5M2", 1 }, [TBS_F8_E4M3] = { "F8_E4M3", 1 },
	[TBS_I16] = { "I16", 2 }, [TBS_U16] = { "U16", 2 }, [TBS_F16] = { "F16", 2 }, [TBS_BF16] = { "BF16", 2 },
	[TBS_I32] = { "I32", 4 }, [TBS_U32] = { "U32", 4 }, [TBS_F32] = { "F32", 4 },
	[TBS_I64] = { "I64", 8 }, [TBS_U64] = { "U64", 8 }, [TBS_F64] = { "F64", 8 },
};

const char *tbs_dtype_name(enum tbs_dtype t)
{
	return (unsigned)t < sizeof dtypes / sizeof dtypes[0] ? dtypes[t].name : "?";
}

void tbs_st_free(struct tbs_st *st)
{
	free(st->tensors);
	free(st->names);
	memset(st, 0, sizeof *st);
}

uint64_t tbs_st_memory(uint64_t header_len)
{
	uint64_t tensors = header_len / MIN_TENSOR_JSON + 1;
	/* the header text, the names (never longer than the text), the records
	 * and the index the duplicate check sorts */
	return (8 + header_len + 1) + header_len + tensors * (sizeof(struct tbs_tensor) + sizeof(size_t));
}

/* ---- the JSON grammar of a header ---------------------------------------------- */

struct parser {
	const char *text;       /* the header's JSON */
	size_t len, at;
	struct tbs_error *err;
	/* pass two: where records and names go; NULL in pass one */
	struct tbs_tensor *tensors;
	char *names;
	/* counted in both passes */
	size_t count, name_bytes;
};

/* Offsets in messages are file offsets: the JSON starts at byte 8. */
static int bad_json(struct parser *p, const char *what)
{
	return tbs_fail(p->err, -EINVAL, "safetensors header: bad JSON at byte %zu: %s", 8 + p->at, what);
}

static int bad_tensor(struct parser *p, size_t key_at, const char *fmt, unsigned long long a,
		      unsigned long long b, unsigned long long c)
{
	char why[256];
	snprintf(why, sizeof why, fmt, a, b, c);
	return tbs_fail(p->err, -EINVAL, "safetensors header: tensor %zu (named at byte %zu): %s", p->count,
			8 + key_at, why);
}

static void skip_ws(struct parser *p)
{
	for (; p->at < p->len; p->at++) {
		char c = p->text[p->at];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
	}
}

/* Bytes from `at` that need no decoding: not '"', '\\', a control
 * character or part of a multi-byte sequence. */
static size_t plain_run(const struct parser *p)
{
	size_t at = p->at;
	for (; at < p->len; at++) {
		unsigned char c = (unsigned char)p->text[at];
		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
			break;
	}
	return at - p->at;
}

static int peek(struct parser *p)
{
	skip_ws(p);
	return p->at < p->len ? (unsigned char)p->text[p->at] : -1;
}

static int expect(struct parser *p, char c, const char *what)
{
	if (peek(p) != (unsigned char)c)
		return bad_json(p, what);
	p->at++;
	return 0;
}

static int hex4(struct parser *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++, p->at++) {
		int c = p->at < p->len ? p->text[p->at] : 0, d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 32) >= 'a' && (c | 32) <= 'f')
			d = (c | 32) - 'a' + 10;
		else
			return bad_json(p, "a \\u escape needs four hexadecimal digits");
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

/* A \uXXXX escape (a surrogate pair taken whole) as a code point. */
static int unicode_escape(struct parser *p, unsigned *cp)
{
	if (hex4(p, cp) < 0)
		return -EINVAL;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return bad_json(p, "a lone low surrogate");
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;
	unsigned lo;
	if (p->at + 2 > p->len || p->text[p->at] != '\\' || p->text[p->at + 1] != 'u')
		return bad_json(p, "a high surrogate without its low half");
	p->at += 2;
	if (hex4(p, &lo) < 0)
		return -EINVAL;
	if (lo < 0xdc00 || lo > 0xdfff)
		return bad_json(p, "a high surrogate without its low half");
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

static size_t put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	unsigned n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
	if (!n || n > left || s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	for (unsigned i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) || (s[0] == 0xf0 && s[1] < 0x90) ||
	    (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

static char unescape(char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '/': return '/';
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	default: return 0;
	}
}

/* A string, decoded: up to `cap` bytes go to out (when not NULL), *len is
 * the whole decoded length.  A decoded string is never longer than its
 * JSON text.  NUL (\u0000) is refused: names are C strings. */
static int parse_string(struct parser *p, char *out, size_t cap, size_t *len)
{
	if (expect(p, '"', "expected a string") < 0)
		return -EINVAL;
	size_t n = 0;
	char tmp[4];
	for (;;) {
		size_t run = plain_run(p);
		if (run) {      /* most of a name: copied as it is */
			if (out && n < cap)
				memcpy(out + n, p->text + p->at, run < cap - n ? run : cap - n);
			n += run;
			p->at += run;
		}
		if (p->at >= p->len)
			return bad_json(p, "a string does not end");
		unsigned char c = (unsigned char)p->text[p->at];
		size_t k = 1;
		if (c == '"') {
			p->at++;
			break;
		}
		if (c < 0x20)
			return bad_json(p, "a control character inside a string");
		if (c == '\\') {
			char e = p->at + 1 < p->len ? p->text[p->at + 1] : 0;
			p->at += 2;
			if (e == 'u') {
				unsigned cp;
				if (unicode_escape(p, &cp) < 0)
					return -EINVAL;
				if (!cp)
					return bad_json(p, "\\u0000 inside a string");
				k = put_utf8(tmp, cp);
			} else if ((tmp[0] = unescape(e))) {
				k = 1;
			} else {
				p->at -= 2;
				return bad_json(p, "an unknown escape");
			}
		} else if (c >= 0x80) {
			if (!(k = utf8_len((const unsigned char *)p->text + p->at, p->len - p->at)))
				return bad_json(p, "a string is not UTF-8");
			memcpy(tmp, p->text + p->at, k);
			p->at += k;
		} else {
			tmp[0] = (char)c;
			p->at++;
		}
		for (size_t i = 0; i < k; i++, n++)
			if (out && n < cap)
				out[n] = tmp[i];
	}
	*len = n;
	return 0;
}

/* A non-negative integer that fits 64 bits; *ok false (and no error) when
 * the value is some other JSON value, so the caller says what it wanted. */
static int parse_uint(struct parser *p, uint64_t *v, bool *ok)
{
	*ok = false;
	int c = peek(p);
	if (c < '0' || c > '9')
		return 0;
	size_t start = p->at;
	*v = 0;
	for (; p->at < p->len && p->text[p->at] >= '0' && p->text[p->at] <= '9'; p->at++) {
		unsigned d = (unsigned)(p->text[p->at] - '0');
		if (*v > (UINT64_MAX - d) / 10)
			return bad_json(p, "an integer beyond 64 bits");
		*v = *v * 10 + d;
	}
	if (p->text[start] == '0' && p->at - start > 1)
		return bad_json(p, "a number with a leading zero");
	*ok = p->at >= p->len || !strchr(".eE", p->text[p->at]);
	return 0;
}

/* After a member of an object or array: 1 when `close` ends it, 0 after
 * a ',' (another member follows), or the error. */
static int next_member(struct parser *p, char close)
{
	int c = peek(p);
	if (c == (unsigned char)close || c == ',') {
		p->at++;
		return c == ',' ? 0 : 1;
	}
	return bad_json(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* An empty object or array: its `close` right away (taken). */
static bool empty(struct parser *p, char close)
{
	if (peek(p) != (unsigned char)close)
		return false;
	p->at++;
	return true;
}

/* ---- a tensor entry ------------------------------------------------------------- */

enum { F_DTYPE = 1, F_SHAPE = 2, F_OFFSETS = 4 };

static int field_dtype(struct parser *p, size_t key_at, struct tbs_tensor *t)
{
	char name[16];
	size_t n;
	if (peek(p) != '"')
		return bad_tensor(p, key_at, "dtype is missing or not a string", 0, 0, 0);
	if (parse_string(p, name, sizeof name, &n) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (n == strlen(dtypes[i].name) && !memcmp(name, dtypes[i].name, n)) {
			t->dtype = (enum tbs_dtype)i;
			return 0;
		}
	return bad_tensor(p, key_at, "unknown dtype (a string of %llu bytes)", n, 0, 0);
}

static int field_shape(struct parser *p, size_t key_at, struct tbs_tensor *t)
{
	if (peek(p) != '[')
		return bad_tensor(p, key_at, "shape is missing or not an array", 0, 0, 0);
	p->at++;
	t->ndim = 0;
	if (empty(p, ']'))
		return 0;
	for (int more = 0; more == 0;) {
		uint64_t d;
		bool ok;
		if (parse_uint(p, &d, &ok) < 0)
			return -EINVAL;
		if (!ok)
			return bad_tensor(p, key_at, "shape[%llu] is not a non-negative integer", t->ndim, 0, 0);
		if (t->ndim == TBS_MAX_DIMS)
			return bad_tensor(p, key_at, "more than %llu dimensions", TBS_MAX_DIMS, 0, 0);
		t->shape[t->ndim++] = d;
		if ((more = next_member(p, ']')) < 0)
			return more;
	}
	return 0;
}

static int field_offsets(struct parser *p, size_t key_at, struct tbs_tensor *t)
{
	uint64_t v[2];
	bool ok = peek(p) == '[';
	p->at += ok;
	for (int i = 0; i < 2 && ok; i++) {
		if ((i && expect(p, ',', "expected ',' in data_offsets") < 0) || parse_uint(p, &v[i], &ok) < 0)
			return -EINVAL;
	}
	if (!ok || peek(p) != ']')
		return bad_tensor(p, key_at, "data_offsets must be [begin, end] of non-negative integers", 0, 0, 0);
	p->at++;
	t->begin = v[0];
	t->end = v[1];
	return 0;
}

/* The shape's element count times the dtype's size, without overflow, must
 * be what data_offsets hold, inside the data. */
static int check_tensor(struct parser *p, size_t key_at, uint64_t data_size, const struct tbs_tensor *t)
{
	uint64_t n = dtypes[t->dtype].size;
	for (unsigned i = 0; i < t->ndim; i++) {
		if (t->shape[i] && n > UINT64_MAX / t->shape[i])
			return bad_tensor(p, key_at, "shape overflows 64 bits", 0, 0, 0);
		n *= t->shape[i];
	}
	if (t->begin > t->end || t->end > data_size)
		return bad_tensor(p, key_at, "data_offsets [%llu, %llu] outside the data (%llu bytes)", t->begin,
				  t->end, data_size);
	if (t->end - t->begin != n)
		return bad_tensor(p, key_at, "data_offsets hold %llu bytes but dtype and shape need %llu",
				  t->end - t->begin, n, 0);
	return 0;
}

static int parse_tensor(struct parser *p, size_t key_at, uint64_t data_size, struct tbs_tensor *t)
{
	if (peek(p) < 0)
		return bad_json(p, "the header ends inside an entry");
	if (peek(p) != '{')
		return bad_tensor(p, key_at, "not a JSON object", 0, 0, 0);
	p->at++;
	unsigned seen = 0;
	for (int more = empty(p, '}'); more == 0;) {
		char key[16];
		size_t n;
		size_t at = p->at;
		if (parse_string(p, key, sizeof key, &n) < 0 || expect(p, ':', "expected ':'") < 0)
			return -EINVAL;
		unsigned f = n == 5 && !memcmp(key, "dtype", 5) ? F_DTYPE
			     : n == 5 && !memcmp(key, "shape", 5) ? F_SHAPE
			     : n == 12 && !memcmp(key, "data_offsets", 12) ? F_OFFSETS : 0;
		if (!f) {
			p->at = at;
			return bad_tensor(p, key_at, "an unknown field (at byte %llu)", 8 + at, 0, 0);
		}
		if (seen & f) {
			p->at = at;
			return bad_json(p, "a field given twice");
		}
		seen |= f;
		if (peek(p) < 0)
			return bad_json(p, "the header ends inside an entry");
		int rc = f == F_DTYPE ? field_dtype(p, key_at, t)
			 : f == F_SHAPE ? field_shape(p, key_at, t) : field_offsets(p, key_at, t);
		if (rc < 0 || (more = next_member(p, '}')) < 0)
			return rc < 0 ? rc : more;
	}
	if (!(seen & F_DTYPE))
		return bad_tensor(p, key_at, "dtype is missing or not a string", 0, 0, 0);
	if (!(seen & F_SHAPE))
		return bad_tensor(p, key_at, "shape is missing or not an array", 0, 0, 0);
	if (!(seen & F_OFFSETS))
		return bad_tensor(p, key_at, "data_offsets must be [begin, end] of non-negative integers", 0, 0, 0);
	return check_tensor(p, key_at, data_size, t);
}

/* "__metadata__": a map of strings to strings, checked and dropped. */
static int parse_metadata(struct parser *p)
{
	if (expect(p, '{', "__metadata__ is not a JSON object") < 0)
		return -EINVAL;
	for (int more = empty(p, '}'); more == 0;) {
		size_t n;
		if (parse_string(p, NULL, 0, &n) < 0 || expect(p, ':', "expected ':'") < 0)
			return -EINVAL;
		if (peek(p) != '"')
			return tbs_fail(p->err, -EINVAL, "safetensors header: __metadata__ value at byte %zu is not a string",
					8 + p->at);
		if (parse_string(p, NULL, 0, &n) < 0 || (more = next_member(p, '}')) < 0)
			return -EINVAL;
	}
	return 0;
}

/* One entry of the top-level object: metadata or a tensor. */
static int parse_entry(struct parser *p, uint64_t data_size, bool *had_metadata)
{
	size_t key_at = peek(p) >= 0 ? p->at : p->len, n;
	char key[16];
	if (parse_string(p, key, sizeof key, &n) < 0)
		return -EINVAL;
	bool metadata = n == 12 && !memcmp(key, "__metadata__", 12);
	char *name = p->names && !metadata ? p->names + p->name_bytes : NULL;
	if (name) {     /* pass two: the name again, into its place (pass one sized it) */
		p->at = key_at;
		parse_string(p, name, n, &n);
	}
	if (expect(p, ':', "expected ':'") < 0)
		return -EINVAL;
	if (metadata) {
		if (*had_metadata) {
			p->at = key_at;
			return bad_json(p, "__metadata__ given twice");
		}
		*had_metadata = true;
		return parse_metadata(p);
	}
	struct tbs_tensor scratch = { 0 }, *t = p->tensors ? &p->tensors[p->count] : &scratch;
	int rc = parse_tensor(p, key_at, data_size, t);
	if (rc < 0)
		return rc;
	if (name) {
		name[n] = '\0';
		t->name = name;
	}
	p->name_bytes += n + 1;
	p->count++;
	return 0;
}

static int parse_object(struct parser *p, uint64_t data_size)
{
	bool had_metadata = false;
	p->at = 0;
	p->count = p->name_bytes = 0;
	if (expect(p, '{', "expected '{'") < 0)
		return -EINVAL;
	for (int more = empty(p, '}'); more == 0;) {
		int rc = parse_entry(p, data_size, &had_metadata);
		if (rc < 0 || (more = next_member(p, '}')) < 0)
			return -EINVAL;
	}
	if (peek(p) != -1)
		return bad_json(p, "text after the header's object");
	return 0;
}

/* ---- the layout ------------------------------------------------------------------ */

static int by_name(const void *a, const void *b, void *tensors)
{
	const struct tbs_tensor *t = tensors;
	return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

/* Names are unique (JSON keys of one object).  Sorting an index keeps the
 * tensors in header order for the message. */
static int check_names(struct tbs_st *st, struct tbs_error *err)
{
	size_t *ix = malloc((st->count + 1) * sizeof *ix);
	if (!ix)
		return tbs_fail(err, -ENOMEM, "out of memory for %zu tensor names", st->count);
	for (size_t i = 0; i < st->count; i++)
		ix[i] = i;
	qsort_r(ix, st->count, sizeof *ix, by_name, st->tensors);
	int rc = 0;
	for (size_t i = 1; i < st->count && rc == 0; i++)
		if (!strcmp(st->tensors[ix[i - 1]].name, st->tensors[ix[i]].name))
			rc = tbs_fail(err, -EINVAL, "safetensors header: bad JSON: tensors %zu and %zu have the same name",
				      ix[i - 1] < ix[i] ? ix[i - 1] : ix[i], ix[i - 1] < ix[i] ? ix[i] : ix[i - 1]);
	free(ix);
	return rc;
}

static int by_begin(const void *a, const void *b)
{
	const struct tbs_tensor *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Sorted by offset, tensors must tile the data exactly, as the format says. */
static int check_layout(struct tbs_st *st, uint64_t data_size, struct tbs_error *err)
{
	qsort(st->tensors, st->count, sizeof *st->tensors, by_begin);
	uint64_t at = 0;
	for (size_t i = 0; i < st->count; i++) {
		const struct tbs_tensor *t = &st->tensors[i];
		if (t->begin < at)
			return tbs_fail(err, -EINVAL, "safetensors header: two tensors overlap at data offset %llu",
					(unsigned long long)t->begin);
		if (t->begin > at)
			return tbs_fail(err, -EINVAL, "safetensors header: a hole in the data (data offset %llu to %llu)",
					(unsigned long long)at, (unsigned long long)t->begin);
		at = t->end;
	}
	if (at != data_size)
		return tbs_fail(err, -EINVAL, "safetensors header: %llu bytes after the last tensor belong to no tensor",
				(unsigned long long)(data_size - at));
	for (size_t i = 0; i < st->count; i++) {
		st->tensors[i].begin += st->data_start;
		st->tensors[i].end += st->data_start;
	}
	return 0;
}

static int parse_tensors(struct parser *p, struct tbs_st *st, struct tbs_error *err)
{
	uint64_t data_size = st->file_size - st->data_start;
	int rc = parse_object(p, data_size);   /* pass one: validate and count */
	if (rc < 0)
		return rc;
	st->tensors = calloc(p->count + 1, sizeof *st->tensors);
	st->names = malloc(p->name_bytes + 1);
	if (!st->tensors || !st->names)
		return tbs_fail(err, -ENOMEM, "out of memory for %zu tensors", p->count);
	p->tensors = st->tensors;
	p->names = st->names;
	if ((rc = parse_object(p, data_size)) < 0)   /* pass two: fill */
		return rc;
	st->count = p->count;
	if ((rc = check_names(st, err)) < 0)
		return rc;
	return check_layout(st, data_size, err);
}

int tbs_st_parse(const void *hdr, size_t hdr_len, uint64_t file_size, struct tbs_st *st, struct tbs_error *err)
{
	memset(st, 0, sizeof *st);
	if (hdr_len < 8 || file_size < 8)
		return tbs_fail(err, -EINVAL, "not a safetensors file: shorter than its 8-byte header length");
	uint64_t n;
	memcpy(&n, hdr, 8);
	n = le64toh(n);
	/* The length's value is the file's first bytes: it is not repeated. */
	if (n > TBS_ST_MAX_HEADER || n > file_size - 8)
		return tbs_fail(err, -EINVAL, "not a safetensors file: the header length at offset 0 is beyond %s",
				n > TBS_ST_MAX_HEADER ? "the format's 100 MB limit" : "the file's end");
	if (n < 2 || hdr_len - 8 < n)
		return tbs_fail(err, -EINVAL, "safetensors header of %llu bytes is %s", (unsigned long long)n,
				n < 2 ? "too short" : "incomplete");
	const char *json = (const char *)hdr + 8;
	if (json[0] != '{')
		return tbs_fail(err, -EINVAL, "safetensors header does not start with '{'");
	st->header_len = n;
	st->data_start = 8 + n;
	st->file_size = file_size;
	struct parser p = { .text = json, .len = (size_t)n, .err = err };
	int rc = parse_tensors(&p, st, err);
	if (rc < 0)
		tbs_st_free(st);
	return rc;
}

int tbs_st_read_fd(int fd, const char *path, uint64_t size, struct tbs_st *st, struct tbs_error *err)
{
	memset(st, 0, sizeof *st);
	uint64_t n = 0;
	if (size < 8 || pread(fd, &n, 8, 0) != 8)
		return tbs_fail(err, -EINVAL, "%s: not a safetensors file (%llu bytes, shorter than its header length)",
				path, (unsigned long long)size);
	n = le64toh(n);
	if (n > TBS_ST_MAX_HEADER || n > size - 8)
		n = 0; /* tbs_st_parse says why */
	char *buf = malloc(8 + n + 1);
	if (!buf)
		return tbs_fail(err, -ENOMEM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)n);
	int rc = 0;
	ssize_t got = pread(fd, buf, 8 + n, 0);
	if (got != (ssize_t)(8 + n))
		rc = tbs_fail(err, -EIO, "%s: cannot read the %llu-byte header", path, (unsigned long long)n);
	else if ((rc = tbs_st_parse(buf, 8 + n, size, st, err)) < 0) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		tbs_fail(err, rc, "%s: %s", path, why);
	}
	free(buf);
	return rc;
}

int tbs_st_open(const char *path, struct tbs_st *st, struct tbs_error *err)
{
	memset(st, 0, sizeof *st);
	int fd;
	uint64_t size;
	int rc = tbs_open_input(NULL, path, 0, &fd, &size, err);
	if (rc < 0)
		return rc;
	rc = tbs_st_read_fd(fd, path, size, st, err);
	close(fd);
	return rc;
}

const struct tbs_tensor *tbs_st_find(const struct tbs_st *st, uint64_t off)
{
	size_t lo = 0, hi = st->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (st->tensors[mid].end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* skip empty tensors sitting at off */
	while (lo < st->count && st->tensors[lo].begin == st->tensors[lo].end)
		lo++;
	return lo < st->count && st->tensors[lo].begin <= off && off < st->tensors[lo].end ? &st->tensors[lo] : NULL;
}
