/* sketch.h — mergeable quantile sketch with bounded relative error
 * (DDSketch-style: logarithmic buckets, gamma = (1 + alpha) / (1 - alpha)).
 *
 * A value v > 0 goes to bucket ceil(log_gamma(v)) of the positive store, v < 0
 * to bucket ceil(log_gamma(-v)) of the negative store, zero (and magnitudes
 * below OBS_SKETCH_MIN_VALUE) to a zero count, +-Inf to their own counts; NaN
 * is ignored. Each bucket is answered with the value of least relative error,
 * so every quantile is within alpha of a sample of the right rank, as long as
 * no store has more than max_buckets distinct buckets: past that the lowest
 * buckets (smallest magnitudes) of that store are collapsed into one.
 * The exact min and max are kept; q = 0 and q = 1 return them.
 *
 * Sketches with the same alpha and max_buckets merge exactly: the merge of
 * sketches is the sketch of the union of their values, whatever the order
 * (collapsing included). Encodings are compact (delta-encoded varint bucket
 * indexes and varint counts) and decoding validates everything (-EBADMSG).
 * Pure: no I/O. */
#ifndef OBS_TSDB_SKETCH_H
#define OBS_TSDB_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define OBS_SKETCH_ALPHA_PPM 10000u      /* default relative accuracy 1 % */
#define OBS_SKETCH_MAX_BUCKETS 2048u     /* default per-store bucket bound */
#define OBS_SKETCH_MIN_VALUE 1e-300      /* smaller magnitudes count as zero */

struct obs_sketch;

/* New empty sketch. alpha_ppm: relative accuracy in millionths, in
 * [1, 500000] (0 means OBS_SKETCH_ALPHA_PPM); max_buckets in [16, 1<<20]
 * (0 means OBS_SKETCH_MAX_BUCKETS). 0, -EINVAL or -ENOMEM. */
int obs_sketch_new(uint32_t alpha_ppm, uint32_t max_buckets, struct obs_sketch **out);
void obs_sketch_free(struct obs_sketch *s);   /* accepts NULL */
void obs_sketch_clear(struct obs_sketch *s);  /* empty again, same parameters */
/* A copy (same parameters, same contents). 0 or -ENOMEM. */
int obs_sketch_dup(const struct obs_sketch *s, struct obs_sketch **out);

uint32_t obs_sketch_alpha_ppm(const struct obs_sketch *s);
uint32_t obs_sketch_max_buckets(const struct obs_sketch *s);

/* Add one value (NaN is ignored), or n copies of it. 0 or -ENOMEM (then the
 * sketch is unchanged). */
int obs_sketch_add(struct obs_sketch *s, double v);
int obs_sketch_add_n(struct obs_sketch *s, double v, uint64_t n);

/* dst := dst + src. -EINVAL if the parameters differ, -ENOMEM (dst may then
 * hold part of src: release it). */
int obs_sketch_merge(struct obs_sketch *dst, const struct obs_sketch *src);

/* Number of values added (NaN excluded); exact min and max (NaN if empty). */
uint64_t obs_sketch_count(const struct obs_sketch *s);
double obs_sketch_min(const struct obs_sketch *s);
double obs_sketch_max(const struct obs_sketch *s);

/* Quantile q in [0, 1], interpolated between ranks floor(q*(n-1)) and the
 * next as obs_downsample does. NaN if empty or q is out of range. */
double obs_sketch_quantile(const struct obs_sketch *s, double q);

/* Append the full encoding (parameters, min, max, stores) to out.
 * 0 or -ENOMEM (out->len unchanged). */
int obs_sketch_encode(const struct obs_sketch *s, struct obs_buf *out);
/* Decode a full encoding of exactly len bytes into a new sketch.
 * 0, -EBADMSG (whatever the bytes, never reads out of bounds) or -ENOMEM. */
int obs_sketch_decode(const void *p, size_t len, struct obs_sketch **out);

/* Body codec for containers that store parameters, min and max themselves
 * (the rollup files): only the counts and stores. encode_body appends;
 * decode_body reads from p[*pos..len), advances *pos, replaces the contents
 * of s (parameters kept) and sets its min/max to the given ones, which must
 * be consistent (min <= max, not NaN) when the body is not empty.
 * 0, -EBADMSG or -ENOMEM. */
int obs_sketch_encode_body(const struct obs_sketch *s, struct obs_buf *out);
int obs_sketch_decode_body(struct obs_sketch *s, const uint8_t *p, size_t len, size_t *pos, double min,
			   double max);

/* Bucket-for-bucket equality of two sketches (parameters, counts, min, max). */
int obs_sketch_equal(const struct obs_sketch *a, const struct obs_sketch *b);

#endif
