/* API keys: random 256-bit tokens handed out once; the server keeps only
 * their SHA-256 (a key is random, not a password: a slow hash adds
 * nothing), in a file no one else may read. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infer/server/inferd.h"

#define KEY_PREFIX "tb-"
#define KEY_BYTES 32

static int sha256(const void *data, size_t len, uint8_t out[32])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) ? -EIO : 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int inferd_keys_load(const char *path, struct inferd_keys *k, char *err, size_t errlen)
{
	k->n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		int e = errno;
		snprintf(err, errlen, "api_keys %s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "api_keys %s: mode %04o, it must be 0600 (chmod 600 %s)", path,
			 (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -EPERM;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -errno;
	}
	char line[512];
	int n = 0, rc = 0;
	while (!rc && fgets(line, sizeof line, f)) {
		n++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		bool good = !strncmp(line, "sha256:", 7) && k->n < INFERD_MAX_KEYS;
		for (int i = 0; good && i < 32; i++) {
			int hi = hexval(line[7 + 2 * i]), lo = hi < 0 ? -1 : hexval(line[8 + 2 * i]);
			good = lo >= 0;
			if (good)
				k->hash[k->n][i] = (uint8_t)(hi << 4 | lo);
		}
		good = good && (line[71] == '\n' || line[71] == ' ' || line[71] == '\0');
		if (!good) {
			snprintf(err, errlen, "%s:%d: not 'sha256:HEX [name]'%s", path, n,
				 k->n == INFERD_MAX_KEYS ? " (or over 64 keys)" : "");
			rc = -EINVAL;
		} else {
			k->n++;
		}
	}
	fclose(f);
	if (!rc && k->n == 0) {
		snprintf(err, errlen, "api_keys %s: no keys (tb-inferd keygen --api_keys %s)", path, path);
		rc = -EINVAL;
	}
	return rc;
}

bool inferd_keys_check(const struct inferd_keys *k, const char *token, size_t len)
{
	uint8_t h[32];
	if (sha256(token, len, h))
		return false;
	/* every key compared to the end: the time says nothing about which matched or how far */
	unsigned match = 0;
	for (int i = 0; i < k->n; i++) {
		uint8_t diff = 0;
		for (int j = 0; j < 32; j++)
			diff |= (uint8_t)(k->hash[i][j] ^ h[j]);
		match |= (unsigned)(diff == 0);
	}
	return match != 0;
}

int inferd_keygen(const char *path, const char *name, char *key, size_t keylen, char *err, size_t errlen)
{
	uint8_t raw[KEY_BYTES], h[32];
	if (keylen < sizeof KEY_PREFIX + 2 * KEY_BYTES || getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		snprintf(err, errlen, "no random bytes for a key");
		return -EIO;
	}
	int at = snprintf(key, keylen, KEY_PREFIX);
	for (int i = 0; i < KEY_BYTES; i++)
		at += snprintf(key + at, keylen - (size_t)at, "%02x", raw[i]);
	if (sha256(key, strlen(key), h))
		return -EIO;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if ((st.st_mode & 077) && fchmod(fd, 0600)) {
		int e = errno;
		snprintf(err, errlen, "%s: chmod 600: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	char line[160];
	int n = snprintf(line, sizeof line, "sha256:");
	for (int i = 0; i < 32; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, "%02x", h[i]);
	n += snprintf(line + n, sizeof line - (size_t)n, " %.60s\n", name && *name ? name : "key");
	int rc = write(fd, line, (size_t)n) == n ? 0 : -EIO;
	if (close(fd) || rc) {
		snprintf(err, errlen, "%s: the key was not written", path);
		return -EIO;
	}
	return 0;
}
