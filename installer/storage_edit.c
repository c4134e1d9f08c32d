/* Editors of /etc/fstab and /etc/mdadm/mdadm.conf: the line for the array
 * goes in, every line that is about something else stays byte for byte
 * (comments, blank lines, other mounts, other arrays).  Lines are matched
 * field by field as mount(8) and mdadm read them, never by substring: a
 * "/raid2" or "#/raid" line is not the /raid line. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "installer/storage.h"

#define MAX_FIELD 512

struct text {
	char *p;
	size_t n, cap;
};

static int put(struct text *t, const char *s, size_t n)
{
	if (t->n + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		while (cap < t->n + n + 1)
			cap *= 2;
		char *p = realloc(t->p, cap);
		if (!p)
			return -ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->n, s, n);
	t->n += n;
	t->p[t->n] = '\0';
	return 0;
}

static int put_line(struct text *t, const char *s)
{
	/* a file without a final newline gets one before what is appended */
	if (t->n && t->p[t->n - 1] != '\n' && put(t, "\n", 1) < 0)
		return -ENOMEM;
	return put(t, s, strlen(s)) < 0 || put(t, "\n", 1) < 0 ? -ENOMEM : 0;
}

bool stg_uuid_equal(const char *a, const char *b)
{
	size_t digits = 0;
	for (;;) {
		while (*a && !isxdigit((unsigned char)*a))
			a++;
		while (*b && !isxdigit((unsigned char)*b))
			b++;
		if (!*a || !*b)
			return !*a && !*b && digits > 0;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		a++, b++, digits++;
	}
}

/* The n-th whitespace-separated field of line [s, e) (0-based), with
 * fstab's octal escapes (\040) undone.  false when there is none. */
static bool field(const char *s, const char *e, int n, char *out, size_t len)
{
	for (int i = 0;; i++) {
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (s >= e)
			return false;
		const char *f = s;
		while (s < e && *s != ' ' && *s != '\t')
			s++;
		if (i < n)
			continue;
		size_t k = 0;
		for (const char *c = f; c < s && k + 1 < len; c++) {
			if (c[0] == '\\' && s - c >= 4 && c[1] >= '0' && c[1] <= '3' && c[2] >= '0' && c[2] <= '7' &&
			    c[3] >= '0' && c[3] <= '7') {
				out[k++] = (char)((c[1] - '0') * 64 + (c[2] - '0') * 8 + (c[3] - '0'));
				c += 3;
			} else {
				out[k++] = *c;
			}
		}
		out[k] = '\0';
		return true;
	}
}

static bool is_entry(const char *s, const char *e)
{
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	return s < e && *s != '#';
}

static void strip_slashes(char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
}

/* The UUID an fstab source names (UUID=x, UUID="x", /dev/disk/by-uuid/x), or NULL. */
static const char *source_uuid(char *spec)
{
	if (!strncasecmp(spec, "UUID=", 5)) {
		char *u = spec + 5;
		size_t n = strlen(u);
		if (n >= 2 && (u[0] == '"' || u[0] == '\'') && u[n - 1] == u[0]) {
			u[n - 1] = '\0';
			u++;
		}
		return u;
	}
	static const char by_uuid[] = "/dev/disk/by-uuid/";
	return strncmp(spec, by_uuid, sizeof by_uuid - 1) ? NULL : spec + sizeof by_uuid - 1;
}

static bool fstab_line_is_ours(const char *s, const char *e, const struct stg_fstab_want *w)
{
	char spec[MAX_FIELD], dir[MAX_FIELD];
	if (!is_entry(s, e) || !field(s, e, 0, spec, sizeof spec))
		return false;
	const char *u = source_uuid(spec);
	if (u && stg_uuid_equal(u, w->uuid))
		return true;
	if (!field(s, e, 1, dir, sizeof dir))
		return false;
	strip_slashes(dir);
	return !strcmp(dir, w->mount);
}

static bool plain(const char *v)
{
	if (!v || !v[0])
		return false;
	for (; *v; v++)
		if (isspace((unsigned char)*v) || *v == '#' || !isprint((unsigned char)*v))
			return false;
	return true;
}

int stg_fstab_line(const struct stg_fstab_want *w, char *buf, size_t len)
{
	if (!plain(w->uuid) || !plain(w->mount) || !plain(w->type) || !plain(w->options) || w->mount[0] != '/')
		return -EINVAL;
	int n = snprintf(buf, len, "UUID=%s %s %s %s 0 %u", w->uuid, w->mount, w->type, w->options, w->pass);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Each line of [in, in+len): its start, its end (before the '\n') and the next. */
#define EACH_LINE(in, len, s, e, next)                                                                      \
	for (const char *s = (in), *e, *next; s < (in) + (len) &&                                          \
	     ((e = memchr(s, '\n', (size_t)((in) + (len) - s))) ? (next = e + 1) : (e = next = (in) + (len)), 1); \
	     s = next)

int stg_fstab_edit(const char *in, size_t len, const struct stg_fstab_want *w, char **out, size_t *outlen,
		   unsigned *changed)
{
	char want[1024];
	int rc = stg_fstab_line(w, want, sizeof want);
	if (rc < 0)
		return rc;
	struct text t = { 0 };
	bool placed = false;
	*changed = 0;
	EACH_LINE(in, len, s, e, next) {
		if (!fstab_line_is_ours(s, e, w)) {
			rc |= put(&t, s, (size_t)(next - s));
			continue;
		}
		bool same = (size_t)(e - s) == strlen(want) && !memcmp(s, want, strlen(want));
		if (!placed) {
			rc |= put(&t, want, strlen(want)) | put(&t, "\n", 1);
			*changed += !same || next == e;	/* also when it lacked its newline */
			placed = true;
		} else {
			(*changed)++;	/* a second line for the same mount point or filesystem goes */
		}
	}
	if (!placed) {
		rc |= put_line(&t, want);
		(*changed)++;
	}
	if (rc < 0 || !t.p) {
		free(t.p);
		return -ENOMEM;
	}
	*out = t.p;
	*outlen = t.n;
	return 0;
}

bool stg_fstab_has(const char *in, size_t len, const struct stg_fstab_want *w)
{
	char want[1024];
	if (stg_fstab_line(w, want, sizeof want) < 0)
		return false;
	unsigned ours = 0, exact = 0;
	EACH_LINE(in, len, s, e, next) {
		(void)next;
		if (fstab_line_is_ours(s, e, w)) {
			ours++;
			exact += (size_t)(e - s) == strlen(want) && !memcmp(s, want, strlen(want));
		}
	}
	return ours == 1 && exact == 1;
}

/* ---- mdadm.conf ------------------------------------------------------------------------ */

/* An mdadm.conf entry: a line not starting with a blank, and the lines
 * after it that do (mdadm's continuation lines).  Its words, without
 * comments, in buf. */
static void entry_words(const char *s, const char *e, char *buf, size_t len)
{
	size_t k = 0;
	bool comment = false;
	for (const char *c = s; c < e && k + 1 < len; c++) {
		if (*c == '\n')
			comment = false;
		else if (*c == '#')
			comment = true;
		if (!comment)
			buf[k++] = *c == '\n' || *c == '\t' ? ' ' : *c;
	}
	buf[k] = '\0';
}

/* The device and UUID of an ARRAY entry's words; false when it is no ARRAY entry. */
static bool array_entry(const char *words, char *dev, size_t dlen, char *uuid, size_t ulen)
{
	char w[MAX_FIELD];
	const char *end = words + strlen(words);
	dev[0] = uuid[0] = '\0';
	if (!field(words, end, 0, w, sizeof w) || strlen(w) < 3 || strncasecmp(w, "ARRAY", strlen(w)))
		return false;
	for (int i = 1; field(words, end, i, w, sizeof w); i++) {
		if (i == 1 && !strchr(w, '='))
			snprintf(dev, dlen, "%s", w);
		else if (!strncasecmp(w, "uuid=", 5))
			snprintf(uuid, ulen, "%s", w + 5);
	}
	return true;
}

static bool same_array(const char *dev, const char *uuid, const char *want_dev, const char *want_uuid)
{
	return (uuid[0] && stg_uuid_equal(uuid, want_uuid)) || (dev[0] && !strcmp(dev, want_dev));
}

/* The end of the entry that starts at s: past its continuation lines. */
static const char *entry_end(const char *s, const char *end)
{
	const char *e = memchr(s, '\n', (size_t)(end - s));
	while (e && e + 1 < end && (e[1] == ' ' || e[1] == '\t')) {
		/* a blank line of spaces is no continuation of anything */
		const char *n = memchr(e + 1, '\n', (size_t)(end - e - 1));
		const char *c = e + 1;
		while (c < (n ? n : end) && (*c == ' ' || *c == '\t'))
			c++;
		if (c == (n ? n : end))
			break;
		e = n;
	}
	return e ? e + 1 : end;
}

int stg_mdadm_conf_edit(const char *in, size_t len, const char *array_line, char **out, size_t *outlen,
			unsigned *changed)
{
	char want_dev[MAX_FIELD], want_uuid[MAX_FIELD], words[4096];
	if (!array_line || strchr(array_line, '\n') || !array_entry(array_line, want_dev, sizeof want_dev, want_uuid,
								       sizeof want_uuid) || !want_uuid[0])
		return -EINVAL;
	struct text t = { 0 };
	int rc = 0;
	bool placed = false;
	*changed = 0;
	const char *end = in + len;
	for (const char *s = in; s < end;) {
		const char *next = entry_end(s, end);
		char dev[MAX_FIELD], uuid[MAX_FIELD];
		entry_words(s, next, words, sizeof words);
		bool ours = s[0] != ' ' && s[0] != '\t' && array_entry(words, dev, sizeof dev, uuid, sizeof uuid) &&
			    same_array(dev, uuid, want_dev, want_uuid);
		if (!ours) {
			rc |= put(&t, s, (size_t)(next - s));
		} else if (!placed) {
			size_t n = strlen(array_line);
			bool same = (size_t)(next - s) == n + 1 && !memcmp(s, array_line, n) && s[n] == '\n';
			rc |= put(&t, array_line, n) | put(&t, "\n", 1);
			*changed += !same;
			placed = true;
		} else {
			(*changed)++;
		}
		s = next;
	}
	if (!placed) {
		rc |= put_line(&t, array_line);
		(*changed)++;
	}
	if (rc < 0 || !t.p) {
		free(t.p);
		return -ENOMEM;
	}
	*out = t.p;
	*outlen = t.n;
	return 0;
}

bool stg_mdadm_conf_has(const char *in, size_t len, const char *uuid)
{
	char words[4096], dev[MAX_FIELD], u[MAX_FIELD];
	const char *end = in + len;
	for (const char *s = in; s < end;) {
		const char *next = entry_end(s, end);
		entry_words(s, next, words, sizeof words);
		if (s[0] != ' ' && s[0] != '\t' && array_entry(words, dev, sizeof dev, u, sizeof u) && u[0] &&
		    stg_uuid_equal(u, uuid))
			return true;
		s = next;
	}
	return false;
}
