/* UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates, nothing
 * above U+10FFFF), for libtbinfer's tokenizers; private to infer/. */
#ifndef TBINFER_UTF8_H
#define TBINFER_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* One step of decoding s[0..n), n > 0:
 *   > 0  a valid sequence of that many bytes, its code point in *cp
 *   0    s[0..n) is the valid beginning of a longer sequence (incomplete)
 *   < 0  s starts an ill-formed "maximal subpart" of -r bytes (Unicode's
 *        definition, the unit that U+FFFD replaces) */
int tbi_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);
/* Whether s[0..n) is entirely valid UTF-8. */
int tbi_utf8_valid(const uint8_t *s, size_t n);
/* Writes the encoding of cp (<= U+10FFFF, not a surrogate) to out, returns
 * its length (1-4). */
int tbi_utf8_put(uint32_t cp, uint8_t out[4]);

#endif
