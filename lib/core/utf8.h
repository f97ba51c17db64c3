/* utf8.h — strict UTF-8 checks (no overlongs, no surrogates, <= U+10FFFF):
 * label values must be UTF-8 (Prometheus rule) and text we print must be. */
#ifndef OBS_CORE_UTF8_H
#define OBS_CORE_UTF8_H

#include <stddef.h>

/* Length (2..4) of the valid multi-byte sequence starting at p (< e), or 0
 * when p does not start one (ASCII bytes included). */
int obs_utf8_seq(const char *p, const char *e);
/* Is s[0..n) valid UTF-8 without NUL bytes? 1 or 0. */
int obs_utf8_valid(const char *s, size_t n);

#endif
