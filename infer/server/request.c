/* A request body (OpenAI's chat completions or completions) to a generation
 * request.  Every value is checked before it is used: the nesting depth
 * before jansson parses, then each field's type and range; unknown fields
 * are ignored, as OpenAI's clients send many.  No engine here: the prompt's
 * length against the context is checked once it is tokenized. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/server/inferd.h"

struct perr {
	char *msg;
	size_t len;
	const char **param;
};

static int bad(struct perr *p, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(struct perr *p, const char *param, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg, p->len, fmt, ap);
	va_end(ap);
	*p->param = param;
	return -EINVAL;
}

/* The deepest nesting of arrays and objects, strings skipped: refused
 * before jansson recurses into it. */
static unsigned json_depth(const char *s, size_t len, unsigned limit)
{
	unsigned d = 0, max = 0;
	bool str = false, esc = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				str = false;
		} else if (c == '"') {
			str = true;
		} else if (c == '[' || c == '{') {
			if (++d > max && (max = d) > limit)
				return max;
		} else if ((c == ']' || c == '}') && d) {
			d--;
		}
	}
	return max;
}

/* A string field, or a content array of {"type":"text","text":...} parts
 * joined (what newer clients send even for plain text). */
static int text_of(struct perr *p, const char *param, json_t *v, size_t *budget, char **out)
{
	if (json_is_string(v)) {
		size_t n = json_string_length(v);
		if (n > *budget)
			return bad(p, param, "the prompt's text is over the server's limit of characters");
		if (memchr(json_string_value(v), '\0', n))
			return bad(p, param, "'%s' contains a NUL character", param);
		*budget -= n;
		return (*out = strdup(json_string_value(v))) ? 0 : -ENOMEM;
	}
	if (!json_is_array(v))
		return bad(p, param, "'%s' must be a string or an array of text parts", param);
	size_t total = 0, i;
	json_t *part;
	json_array_foreach(v, i, part) {
		json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
		if (!json_is_object(part) || !json_is_string(type) || strcmp(json_string_value(type), "text") ||
		    !json_is_string(text))
			return bad(p, param, "'%s' parts must be {\"type\": \"text\", \"text\": STRING}", param);
		size_t n = json_string_length(text);
		if (n > *budget - total)
			return bad(p, param, "the prompt's text is over the server's limit of characters");
		if (memchr(json_string_value(text), '\0', n))
			return bad(p, param, "'%s' contains a NUL character", param);
		total += n;
	}
	char *s = malloc(total + 1);
	if (!s)
		return -ENOMEM;
	size_t at = 0;
	json_array_foreach(v, i, part) {
		json_t *text = json_object_get(part, "text");
		memcpy(s + at, json_string_value(text), json_string_length(text));
		at += json_string_length(text);
	}
	s[at] = '\0';
	*budget -= total;
	*out = s;
	return 0;
}

static const char *role_of(const char *r)
{
	/* "developer" is OpenAI's newer name for the system turn */
	static const char *const roles[][2] = { { "system", "system" }, { "developer", "system" },
						{ "user", "user" }, { "assistant", "assistant" } };
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (!strcmp(r, roles[i][0]))
			return roles[i][1];
	return NULL;
}

static int parse_messages(struct perr *p, json_t *v, const struct inferd_limits *lim, size_t *budget,
			  struct inferd_request *r)
{
	if (!json_is_array(v))
		return bad(p, "messages", "'messages' must be an array");
	size_t n = json_array_size(v);
	if (n == 0)
		return bad(p, "messages", "'messages' must not be empty");
	if (n > lim->max_messages)
		return bad(p, "messages", "%zu messages: the server takes at most %u", n, lim->max_messages);
	r->msgs = calloc(n, sizeof *r->msgs);
	if (!r->msgs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(v, i), *role = json_object_get(m, "role");
		if (!json_is_object(m))
			return bad(p, "messages", "messages[%zu] must be an object", i);
		if (!json_is_string(role))
			return bad(p, "messages", "messages[%zu].role must be a string", i);
		const char *rn = role_of(json_string_value(role));
		if (!rn)
			return bad(p, "messages", "messages[%zu].role '%.32s': system, user or assistant", i,
				   json_string_value(role));
		char *content;
		int rc = text_of(p, "messages", json_object_get(m, "content"), budget, &content);
		if (rc)
			return rc;
		r->msgs[r->nmsgs++] = (struct tbi_message){ rn, content };
	}
	return 0;
}

/* An integer field within [min, max] (JSON numbers like 5.0 are not integers). */
static int get_int(struct perr *p, json_t *o, const char *name, json_int_t min, json_int_t max, bool *set,
		   json_int_t *out)
{
	json_t *v = json_object_get(o, name);
	*set = v && !json_is_null(v);
	if (!*set)
		return 0;
	if (!json_is_integer(v))
		return bad(p, name, "'%s' must be an integer", name);
	json_int_t x = json_integer_value(v);
	if (x < min || x > max)
		return bad(p, name, "'%s' %lld: it must be between %lld and %lld", name, (long long)x, (long long)min,
			   (long long)max);
	*out = x;
	return 0;
}

static int get_num(struct perr *p, json_t *o, const char *name, double min, double max, bool min_open,
		   float *out)
{
	json_t *v = json_object_get(o, name);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return bad(p, name, "'%s' must be a number", name);
	double x = json_number_value(v);
	if (!isfinite(x) || x > max || (min_open ? x <= min : x < min))
		return bad(p, name, "'%s' %g: it must be in %s%g, %g]", name, x, min_open ? "(" : "[", min, max);
	*out = (float)x;
	return 0;
}

static int get_bool(struct perr *p, json_t *o, const char *name, bool *out)
{
	json_t *v = json_object_get(o, name);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return bad(p, name, "'%s' must be true or false", name);
	*out = json_is_true(v);
	return 0;
}

static int parse_stop(struct perr *p, json_t *v, struct inferd_request *r)
{
	if (!v || json_is_null(v))
		return 0;
	json_t *one = json_is_string(v) ? v : NULL;
	size_t n = one ? 1 : json_array_size(v);
	if (!one && !json_is_array(v))
		return bad(p, "stop", "'stop' must be a string or an array of strings");
	if (n > INFERD_MAX_STOP)
		return bad(p, "stop", "'stop': at most %d strings", INFERD_MAX_STOP);
	for (size_t i = 0; i < n; i++) {
		json_t *s = one ? one : json_array_get(v, i);
		if (!json_is_string(s))
			return bad(p, "stop", "'stop' must be a string or an array of strings");
		size_t len = json_string_length(s);
		if (len == 0 || len > INFERD_MAX_STOP_LEN || memchr(json_string_value(s), '\0', len))
			return bad(p, "stop", "each 'stop' string must have 1 to %d bytes", INFERD_MAX_STOP_LEN);
		if (!(r->stop[r->nstop] = strdup(json_string_value(s))))
			return -ENOMEM;
		r->nstop++;
	}
	return 0;
}

static int parse_fields(struct perr *p, json_t *root, const struct inferd_limits *lim, uint64_t seed_default,
			struct inferd_request *r)
{
	if (!json_is_object(root))
		return bad(p, "", "the body must be a JSON object");
	size_t budget = lim->max_chars;
	int rc;
	if (r->kind == INFERD_CHAT) {
		json_t *m = json_object_get(root, "messages");
		if (!m)
			return bad(p, "messages", "'messages' is required");
		rc = parse_messages(p, m, lim, &budget, r);
	} else {
		json_t *pr = json_object_get(root, "prompt");
		if (!pr)
			return bad(p, "prompt", "'prompt' is required");
		/* one prompt per request: a list of one string is accepted */
		if (json_is_array(pr) && json_array_size(pr) == 1 && json_is_string(json_array_get(pr, 0)))
			pr = json_array_get(pr, 0);
		if (!json_is_string(pr))
			return bad(p, "prompt", "'prompt' must be a string");
		rc = text_of(p, "prompt", pr, &budget, &r->prompt);
	}
	if (rc)
		return rc;
	json_t *model = json_object_get(root, "model");
	if (model && !json_is_null(model) && !json_is_string(model))
		return bad(p, "model", "'model' must be a string");

	bool set;
	json_int_t v;
	static const char *const max_names[] = { "max_tokens", "max_completion_tokens" };
	for (size_t i = 0; i < 2; i++) {
		if ((rc = get_int(p, root, max_names[i], 1, 1 << 20, &set, &v)))
			return rc;
		if (set)
			r->max_tokens = (uint32_t)v;
	}
	if ((rc = get_int(p, root, "n", 1, 1, &set, &v)))
		return rc;
	/* OpenAI's default temperature and top_p */
	r->sampling = (struct tbi_sampling){ .temperature = 1, .top_k = 40, .top_p = 1, .seed = seed_default };
	if ((rc = get_num(p, root, "temperature", 0, 2, false, &r->sampling.temperature)) ||
	    (rc = get_num(p, root, "top_p", 0, 1, true, &r->sampling.top_p)))
		return rc;
	if ((rc = get_int(p, root, "top_k", 1, 256, &set, &v)))
		return rc;
	if (set)
		r->sampling.top_k = (uint32_t)v;
	if ((rc = get_int(p, root, "seed", 0, INT64_MAX, &set, &v)))
		return rc;
	if (set)
		r->sampling.seed = (uint64_t)v;
	if ((rc = get_bool(p, root, "stream", &r->stream)))
		return rc;
	json_t *so = json_object_get(root, "stream_options");
	if (so && !json_is_null(so)) {
		if (!json_is_object(so))
			return bad(p, "stream_options", "'stream_options' must be an object");
		if ((rc = get_bool(p, so, "include_usage", &r->include_usage)))
			return rc;
	}
	return parse_stop(p, json_object_get(root, "stop"), r);
}

int inferd_request_parse(const char *body, size_t len, enum inferd_kind kind, const struct inferd_limits *lim,
			 uint64_t seed_default, struct inferd_request *out, char *msg, size_t msglen,
			 const char **param)
{
	struct perr p = { msg, msglen, param };
	memset(out, 0, sizeof *out);
	out->kind = kind;
	*param = "";
	if (json_depth(body, len, lim->max_depth) > lim->max_depth)
		return bad(&p, "", "the JSON nests deeper than %u levels", lim->max_depth);
	json_error_t je;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return bad(&p, "", "the body is not JSON: %s (line %d, column %d)", je.text, je.line, je.column);
	int rc = parse_fields(&p, root, lim, seed_default, out);
	json_decref(root);
	if (rc) {
		if (rc == -ENOMEM)
			bad(&p, "", "out of memory");
		inferd_request_free(out);
	}
	return rc;
}

void inferd_request_free(struct inferd_request *r)
{
	for (size_t i = 0; i < r->nmsgs; i++)
		free((char *)r->msgs[i].content);
	free(r->msgs);
	free(r->prompt);
	for (size_t i = 0; i < r->nstop; i++)
		free(r->stop[i]);
	memset(r, 0, sizeof *r);
}

bool inferd_stop_scan(const char *text, size_t len, char *const *stop, size_t nstop, size_t *stop_at,
		      size_t *visible)
{
	size_t first = len;
	bool found = false;
	for (size_t i = 0; i < nstop; i++) {
		const char *m = memmem(text, len, stop[i], strlen(stop[i]));
		if (m && (size_t)(m - text) < first) {
			first = (size_t)(m - text);
			found = true;
		}
	}
	if (found) {
		*stop_at = *visible = first;
		return true;
	}
	/* the longest tail of the text that begins some stop string */
	size_t hold = 0;
	for (size_t i = 0; i < nstop; i++) {
		size_t sl = strlen(stop[i]);
		for (size_t k = sl - 1 < len ? sl - 1 : len; k > hold; k--)
			if (!memcmp(text + len - k, stop[i], k)) {
				hold = k;
				break;
			}
	}
	*visible = len - hold;
	return false;
}
