/* num.h — sample values as text (libobs core). */
#ifndef OBS_CORE_NUM_H
#define OBS_CORE_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parse a float64 the way Prometheus text accepts it: decimal, exponent,
 * hex float, "NaN", "+Inf"/"Inf"/"-Inf" (case-insensitive). The whole of
 * s[0..n) must be consumed. Returns 0 or -EINVAL (*out unmodified). */
int obs_num_parse(const char *s, size_t n, double *out);

/* Shortest text that parses back to exactly the same double ("0.1", "42",
 * "1.9129e-05", "NaN", "+Inf", "-Inf"); NaN payloads are not representable
 * in text and print as "NaN". buf must hold 32 bytes. Returns the length. */
int obs_num_format(double v, char *buf);

/* Decimal text of an integer (no NUL); buf must hold 21 bytes. Returns the length. */
int obs_int_format(int64_t v, char *buf);

#endif
