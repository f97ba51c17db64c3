/* num.h — sample values as text (libobs core). */
#ifndef OBS_CORE_NUM_H
#define OBS_CORE_NUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Parse a float64 the way Prometheus text accepts it: decimal, exponent,
 * hex float, "NaN", "+Inf"/"Inf"/"-Inf" (case-insensitive). The whole of
 * s[0..n) must be consumed. Returns 0 or -EINVAL (*out unmodified). */
int obs_num_parse(const char *s, size_t n, double *out);

/* Staleness markers (Prometheus' StaleNaN): the NaN with these bits says
 * "this series ended here" (a scrape target stopped exposing it, a rule
 * stopped producing it). Stores keep the bits exactly; readers that show
 * samples skip them; aggregations ignore them. */
#define OBS_STALE_BITS 0x7ff0000000000002ULL
/* inline: obs-alert and the other filters test every value they read */
static inline int obs_is_stale(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof b);
	return b == OBS_STALE_BITS;
}

static inline double obs_stale_nan(void)
{
	uint64_t b = OBS_STALE_BITS;
	double v;
	memcpy(&v, &b, sizeof v);
	return v;
}

/* A sample value as ingest takes it: what obs_num_parse accepts, or the
 * word "stale" (a staleness marker). 0 or -EINVAL (*out unmodified). */
static inline int obs_num_parse_sample(const char *s, size_t n, double *out)
{
	if (n == 5 && s[0] == 's' && !memcmp(s, "stale", 5)) {
		*out = obs_stale_nan();
		return 0;
	}
	return obs_num_parse(s, n, out);
}

/* Shortest text that parses back to exactly the same double ("0.1", "42",
 * "1.9129e-05", "NaN", "+Inf", "-Inf"); NaN payloads are not representable
 * in text and print as "NaN", except a staleness marker, "stale" (which
 * obs_num_parse_sample takes back). buf must hold 32 bytes. Returns the length. */
int obs_num_format(double v, char *buf);

/* Greatest common divisor (Euclid); obs_gcd_u64(a, 0) == a. */
static inline uint64_t obs_gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Decimal text of an integer (no NUL); buf must hold 21 bytes. Returns the length. */
int obs_int_format(int64_t v, char *buf);

/* Prometheus' almost-equal (util/almost.Equal): 1 when a and b are both
 * NaN, equal, or their difference relative to their sum is below eps (near
 * zero: below eps times the smallest normal double), else 0. */
int obs_num_almost_equal(double a, double b, double eps);

#endif
