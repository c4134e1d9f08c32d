/* UTF-8 decoding with Unicode's "maximal subpart" rule for ill-formed input
 * (The Unicode Standard, chapter 3, "U+FFFD Substitution of Maximal
 * Subparts"): the tokenizers split on it and the decoder replaces by it. */
#include "infer/utf8.h"

/* The valid range of a sequence's second byte given its first (Table 3-7,
 * "Well-Formed UTF-8 Byte Sequences"); later bytes are always 80..BF. */
static int second_range(uint8_t b0, uint8_t *lo, uint8_t *hi)
{
	*lo = 0x80, *hi = 0xBF;
	if (b0 >= 0xC2 && b0 <= 0xDF)
		return 2;
	if (b0 >= 0xE0 && b0 <= 0xEF) {
		if (b0 == 0xE0)
			*lo = 0xA0;	/* no overlong 3-byte forms */
		if (b0 == 0xED)
			*hi = 0x9F;	/* no surrogates */
		return 3;
	}
	if (b0 >= 0xF0 && b0 <= 0xF4) {
		if (b0 == 0xF0)
			*lo = 0x90;	/* no overlong 4-byte forms */
		if (b0 == 0xF4)
			*hi = 0x8F;	/* nothing above U+10FFFF */
		return 4;
	}
	return 0;			/* 80..C1 and F5..FF never start a sequence */
}

int tbi_utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	uint8_t lo, hi;
	int len = second_range(s[0], &lo, &hi);
	if (len == 0)
		return -1;
	uint32_t c = s[0] & (0x7Fu >> len);
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return 0;
		if (s[i] < lo || s[i] > hi)
			return -i;
		c = c << 6 | (s[i] & 0x3Fu);
		lo = 0x80, hi = 0xBF;
	}
	*cp = c;
	return len;
}

int tbi_utf8_valid(const uint8_t *s, size_t n)
{
	uint32_t cp;
	for (size_t i = 0; i < n;) {
		int r = tbi_utf8_next(s + i, n - i, &cp);
		if (r <= 0)
			return 0;
		i += (size_t)r;
	}
	return 1;
}

int tbi_utf8_put(uint32_t cp, uint8_t out[4])
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}
