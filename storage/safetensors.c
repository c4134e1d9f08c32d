/* safetensors headers: an 8-byte little-endian length, then that many bytes
 * of JSON mapping tensor names to {dtype, shape, data_offsets} (offsets
 * relative to the end of the header), plus an optional "__metadata__" map of
 * strings.  Everything is validated before a byte of data is trusted. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/internal.h"

#define MAX_HEADER (100u * 1000 * 1000)   /* the format's own limit */

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
	for (size_t i = 0; st->tensors && i < st->count; i++)
		free(st->tensors[i].name);
	free(st->tensors);
	memset(st, 0, sizeof *st);
}

static bool get_u64(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static int parse_dtype(const char *name, const json_t *v, struct tbs_tensor *t, struct tbs_error *err)
{
	const char *s = json_string_value(v);
	if (!s)
		return tbs_fail(err, -EINVAL, "tensor '%s': dtype is missing or not a string", name);
	for (unsigned i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (!strcmp(s, dtypes[i].name)) {
			t->dtype = (enum tbs_dtype)i;
			return 0;
		}
	return tbs_fail(err, -EINVAL, "tensor '%s': unknown dtype '%.40s'", name, s);
}

/* The shape's element count times the dtype's size, without overflow. */
static int parse_shape(const char *name, const json_t *v, struct tbs_tensor *t, uint64_t *bytes,
		       struct tbs_error *err)
{
	if (!json_is_array(v))
		return tbs_fail(err, -EINVAL, "tensor '%s': shape is missing or not an array", name);
	if (json_array_size(v) > TBS_MAX_DIMS)
		return tbs_fail(err, -EINVAL, "tensor '%s': %zu dimensions, at most %d", name, json_array_size(v),
				TBS_MAX_DIMS);
	uint64_t n = dtypes[t->dtype].size;
	t->ndim = (unsigned)json_array_size(v);
	for (unsigned i = 0; i < t->ndim; i++) {
		uint64_t d;
		if (!get_u64(json_array_get(v, i), &d))
			return tbs_fail(err, -EINVAL, "tensor '%s': shape[%u] is not a non-negative integer", name, i);
		if (d && n > UINT64_MAX / d)
			return tbs_fail(err, -EINVAL, "tensor '%s': shape overflows 64 bits", name);
		n *= d;
		t->shape[i] = d;
	}
	*bytes = n;
	return 0;
}

static int parse_offsets(const char *name, const json_t *v, uint64_t data_size, uint64_t bytes,
			 struct tbs_tensor *t, struct tbs_error *err)
{
	uint64_t b, e;
	if (!json_is_array(v) || json_array_size(v) != 2 || !get_u64(json_array_get(v, 0), &b) ||
	    !get_u64(json_array_get(v, 1), &e))
		return tbs_fail(err, -EINVAL, "tensor '%s': data_offsets must be [begin, end] of non-negative integers",
				name);
	if (b > e || e > data_size)
		return tbs_fail(err, -EINVAL, "tensor '%s': data_offsets [%llu, %llu] outside the data (%llu bytes)",
				name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_size);
	if (e - b != bytes)
		return tbs_fail(err, -EINVAL, "tensor '%s': data_offsets hold %llu bytes but dtype and shape need %llu",
				name, (unsigned long long)(e - b), (unsigned long long)bytes);
	t->begin = b;
	t->end = e;
	return 0;
}

static int parse_tensor(const char *name, const json_t *v, uint64_t data_size, struct tbs_tensor *t,
			struct tbs_error *err)
{
	if (!json_is_object(v))
		return tbs_fail(err, -EINVAL, "tensor '%s': not a JSON object", name);
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)v, key, val)
		if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
			return tbs_fail(err, -EINVAL, "tensor '%s': unknown field '%.40s'", name, key);
	uint64_t bytes = 0;
	int rc = parse_dtype(name, json_object_get(v, "dtype"), t, err);
	if (rc == 0)
		rc = parse_shape(name, json_object_get(v, "shape"), t, &bytes, err);
	if (rc == 0)
		rc = parse_offsets(name, json_object_get(v, "data_offsets"), data_size, bytes, t, err);
	return rc;
}

static int check_metadata(const json_t *v, struct tbs_error *err)
{
	if (!json_is_object(v))
		return tbs_fail(err, -EINVAL, "__metadata__ is not a JSON object");
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)v, key, val)
		if (!json_is_string(val))
			return tbs_fail(err, -EINVAL, "__metadata__ '%.40s' is not a string", key);
	return 0;
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
			return tbs_fail(err, -EINVAL, "tensors '%s' and '%s' overlap at data offset %llu",
					st->tensors[i - 1].name, t->name, (unsigned long long)t->begin);
		if (t->begin > at)
			return tbs_fail(err, -EINVAL, "a hole in the data before tensor '%s' (data offset %llu to %llu)",
					t->name, (unsigned long long)at, (unsigned long long)t->begin);
		at = t->end;
	}
	if (at != data_size)
		return tbs_fail(err, -EINVAL, "%llu bytes after the last tensor belong to no tensor",
				(unsigned long long)(data_size - at));
	for (size_t i = 0; i < st->count; i++) {
		st->tensors[i].begin += st->data_start;
		st->tensors[i].end += st->data_start;
	}
	return 0;
}

static int parse_tensors(const json_t *root, struct tbs_st *st, struct tbs_error *err)
{
	uint64_t data_size = st->file_size - st->data_start;
	st->tensors = calloc(json_object_size(root) + 1, sizeof *st->tensors);
	if (!st->tensors)
		return tbs_fail(err, -ENOMEM, "out of memory");
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)root, key, val) {
		int rc;
		if (!strcmp(key, "__metadata__")) {
			if ((rc = check_metadata(val, err)) < 0)
				return rc;
			continue;
		}
		struct tbs_tensor *t = &st->tensors[st->count];
		if ((rc = parse_tensor(key, val, data_size, t, err)) < 0)
			return rc;
		if (!(t->name = strdup(key)))
			return tbs_fail(err, -ENOMEM, "out of memory");
		st->count++;
	}
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
	if (n > MAX_HEADER || n > file_size - 8)
		return tbs_fail(err, -EINVAL, "not a safetensors file: header length %llu is beyond %s",
				(unsigned long long)n, n > MAX_HEADER ? "the format's 100 MB limit" : "the file's end");
	if (n < 2 || hdr_len - 8 < n)
		return tbs_fail(err, -EINVAL, "safetensors header of %llu bytes is %s", (unsigned long long)n,
				n < 2 ? "too short" : "incomplete");
	const char *json = (const char *)hdr + 8;
	if (json[0] != '{')
		return tbs_fail(err, -EINVAL, "safetensors header does not start with '{'");
	st->header_len = n;
	st->data_start = 8 + n;
	st->file_size = file_size;
	json_error_t je;
	json_t *root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return tbs_fail(err, -EINVAL, "safetensors header: bad JSON at byte %d: %s", je.position, je.text);
	int rc = json_is_object(root) ? parse_tensors(root, st, err)
				       : tbs_fail(err, -EINVAL, "safetensors header is not a JSON object");
	json_decref(root);
	if (rc < 0)
		tbs_st_free(st);
	return rc;
}

int tbs_st_open(const char *path, struct tbs_st *st, struct tbs_error *err)
{
	memset(st, 0, sizeof *st);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tbs_fail(err, -errno, "%s: cannot open: %s", path, strerror(errno));
	uint64_t n = 0;
	off_t size = lseek(fd, 0, SEEK_END);
	int rc = 0;
	char *buf = NULL;
	if (size < 8 || pread(fd, &n, 8, 0) != 8) {
		rc = tbs_fail(err, -EINVAL, "%s: not a safetensors file (too short)", path);
		goto out;
	}
	n = le64toh(n);
	if (n > MAX_HEADER || n > (uint64_t)size - 8)
		n = 0; /* tbs_st_parse says why */
	if (!(buf = malloc(8 + n + 1))) {
		rc = tbs_fail(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	ssize_t got = pread(fd, buf, 8 + n, 0);
	if (got != (ssize_t)(8 + n)) {
		rc = tbs_fail(err, -EIO, "%s: cannot read the header", path);
		goto out;
	}
	if ((rc = tbs_st_parse(buf, 8 + n, (uint64_t)size, st, err)) < 0) {
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err->msg);
		tbs_fail(err, rc, "%s: %s", path, why);
	}
out:
	free(buf);
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
