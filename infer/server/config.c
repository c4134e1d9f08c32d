/* tb-inferd's config: /etc/tb/inferd.conf, "key = value" lines under an
 * [inferd] header, '#' comments; every key is also a command-line option
 * (--key VALUE), which wins.  A bad value is refused with FILE:LINE (or the
 * option) and the reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/server/inferd.h"

#define MAX_LINE 2048

static int fail(char *err, size_t len, const char *where, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t len, const char *where, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(err, len, "%s: %s", where, why);
	return -EINVAL;
}

void inferd_config_defaults(struct inferd_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->listen[0], sizeof c->listen[0], "127.0.0.1:8000");
	c->nlisten = 1;
	snprintf(c->unix_socket, sizeof c->unix_socket, "/run/tb-inferd/inferd.sock");
	c->queue = 8;
	c->max_body = 1 << 20;
	c->max_depth = 32;
	c->max_messages = 1024;
	c->max_chars = 512 * 1024;
	c->max_connections = 64;
	c->per_ip_connections = 16;
	c->connection_timeout_s = 30;
	c->request_timeout_s = 30;
}

static int set_str(char *dst, size_t cap, const char *v, const char *where, const char *key, char *err, size_t len)
{
	if (strlen(v) >= cap)
		return fail(err, len, where, "%s: the value is longer than %zu bytes", key, cap - 1);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_uint(unsigned long long *out, const char *v, unsigned long long min, unsigned long long max,
		    const char *where, const char *key, char *err, size_t len)
{
	char *end;
	errno = 0;
	unsigned long long x = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
	if (*v < '0' || *v > '9' || *end || errno)
		return fail(err, len, where, "%s '%s': not a number", key, v);
	if (x < min || x > max)
		return fail(err, len, where, "%s %s: it must be between %llu and %llu", key, v, min, max);
	*out = x;
	return 0;
}

static int set_bool(bool *out, const char *v, const char *where, const char *key, char *err, size_t len)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return fail(err, len, where, "%s '%s': true or false", key, v);
	return 0;
}

/* "ADDR:PORT" with ADDR an IPv4 address or a bracketed IPv6 one. */
static int check_listen(const char *v, const char *where, char *err, size_t len)
{
	char host[64];
	const char *colon = strrchr(v, ':');
	if (!colon || colon == v || (size_t)(colon - v) >= sizeof host)
		return fail(err, len, where, "listen '%s': ADDR:PORT (e.g. 127.0.0.1:8000, [::1]:8000)", v);
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = '\0';
	unsigned long long port;
	if (set_uint(&port, colon + 1, 0, 65535, where, "listen port", err, len))
		return -EINVAL;
	unsigned char buf[16];
	size_t hl = strlen(host);
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, buf) == 1)
			return 0;
	} else if (inet_pton(AF_INET, host, buf) == 1) {
		return 0;
	}
	return fail(err, len, where, "listen '%s': the address is not numeric IPv4 or [IPv6]", v);
}

/* A comma-separated list into fixed slots. */
static int set_list(char *slots, size_t slot_len, int max, int *n, const char *v, const char *where,
		    const char *key, char *err, size_t len)
{
	*n = 0;
	const char *p = v;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t l = strcspn(p, ", ");
		if (!l)
			break;
		if (*n == max)
			return fail(err, len, where, "%s: at most %d entries", key, max);
		if (l >= slot_len)
			return fail(err, len, where, "%s: '%.*s' is too long", key, (int)l, p);
		char *s = slots + (size_t)*n * slot_len;
		memcpy(s, p, l);
		s[l] = '\0';
		if (!strcmp(key, "listen") && check_listen(s, where, err, len))
			return -EINVAL;
		(*n)++;
		p += l;
	}
	return 0;
}

int inferd_config_set(struct inferd_config *c, const char *key, const char *v, const char *where, char *err,
		      size_t len)
{
	unsigned long long x;
	int rc = 0;
#define STR(k, f) else if (!strcmp(key, k)) rc = set_str(c->f, sizeof c->f, v, where, key, err, len)
#define UINT(k, f, lo, hi) \
	else if (!strcmp(key, k)) { \
		if (!(rc = set_uint(&x, v, lo, hi, where, key, err, len))) \
			c->f = (__typeof__(c->f))x; \
	}
	if (0)
		;
	STR("model", model);
	STR("kernels", kernels);
	STR("unix_socket", unix_socket);
	STR("tls_cert", tls_cert);
	STR("tls_key", tls_key);
	STR("api_keys", api_keys);
	STR("port_file", port_file);
	UINT("gpus", gpus, 0, TBI_MAX_GPUS)
	UINT("context", context, 0, 1u << 20)
	UINT("hang_timeout_ms", hang_timeout_ms, 0, 3600000)
	UINT("queue", queue, 0, 1024)
	UINT("max_body", max_body, 64, 64u << 20)
	UINT("max_depth", max_depth, 2, 256)
	UINT("max_messages", max_messages, 1, 65536)
	UINT("max_chars", max_chars, 1, 64u << 20)
	UINT("max_connections", max_connections, 2, 4096)
	UINT("per_ip_connections", per_ip_connections, 1, 4096)
	UINT("connection_timeout", connection_timeout_s, 1, 3600)
	UINT("request_timeout", request_timeout_s, 1, 3600)
	else if (!strcmp(key, "listen"))
		rc = set_list(&c->listen[0][0], sizeof c->listen[0], INFERD_MAX_LISTEN, &c->nlisten, v, where, key, err,
			      len);
	else if (!strcmp(key, "cors_origins"))
		rc = set_list(&c->origins[0][0], sizeof c->origins[0], INFERD_MAX_ORIGINS, &c->norigins, v, where, key,
			      err, len);
	else if (!strcmp(key, "open_health"))
		rc = set_bool(&c->open_health, v, where, key, err, len);
	else if (!strcmp(key, "verify"))
		rc = set_bool(&c->verify, v, where, key, err, len);
	else
		rc = fail(err, len, where, "unknown key '%s'", key);
#undef STR
#undef UINT
	return rc;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int inferd_config_load(struct inferd_config *c, const char *path, bool must_exist, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char line[MAX_LINE], where[1100];
	int n = 0, rc = 0;
	bool in_section = false;
	while (!rc && fgets(line, sizeof line, f)) {
		n++;
		snprintf(where, sizeof where, "%s:%d", path, n);
		if (!strchr(line, '\n') && !feof(f)) {
			rc = fail(err, errlen, where, "line longer than %d bytes", MAX_LINE - 2);
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			in_section = !strcmp(s, "[inferd]");
			if (!in_section)
				rc = fail(err, errlen, where, "unknown section %s (the file has [inferd])", s);
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = fail(err, errlen, where, "'%s' is not key = value", s);
			break;
		}
		if (!in_section) {
			rc = fail(err, errlen, where, "key = value before the [inferd] header");
			break;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		rc = inferd_config_set(c, key, val, where, err, errlen);
	}
	fclose(f);
	return rc;
}

bool inferd_addr_is_loopback(const char *listen)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
	if (n >= sizeof host)
		return false;
	memcpy(host, listen, n);
	host[n] = '\0';
	unsigned char a[16];
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return !strcmp(host, "[::1]");
}

int inferd_config_check(const struct inferd_config *c, char *err, size_t len)
{
	if (!c->model[0])
		return fail(err, len, "config", "no model (model = PATH in the config, or --model PATH)");
	if (c->nlisten == 0 && !c->unix_socket[0])
		return fail(err, len, "config", "nothing to listen on (listen and unix_socket are both empty)");
	for (int i = 0; i < c->nlisten; i++) {
		if (inferd_addr_is_loopback(c->listen[i]))
			continue;
		if (!c->tls_cert[0] || !c->tls_key[0] || !c->api_keys[0])
			return fail(err, len, "config",
				    "listen %s is not a loopback address: it needs tls_cert, tls_key and api_keys "
				    "(or reach the box through an SSH port forward to 127.0.0.1)",
				    c->listen[i]);
	}
	if (!!c->tls_cert[0] != !!c->tls_key[0])
		return fail(err, len, "config", "tls_cert and tls_key go together");
	return 0;
}
