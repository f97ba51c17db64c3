/* encoding.h — per-chunk choice of the smallest encoding for a closed chunk.
 *
 * An immutable chunk of (timestamp, float64) samples is encoded with each
 * applicable scheme and the smallest result is kept; its first byte names the
 * scheme (enum obs_enc_id). Schemes: a Gorilla chunk (chunk.h, always
 * applicable), a constant value, and values that are all short decimals kept
 * as scaled integers. Timestamps of the non-Gorilla schemes are
 * delta-of-delta bit-packed, with a fast path for regular intervals. Every
 * scheme round-trips each double bit-exactly. The byte layout is documented
 * at the top of encoding.c. Pure codecs: no I/O, no state. */
#ifndef OBS_TSDB_ENCODING_H
#define OBS_TSDB_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum obs_enc_id {
	OBS_ENC_GORILLA = 1,   /* a chunk.h chunk follows */
	OBS_ENC_CONST = 2,     /* packed timestamps, one 64-bit value */
	OBS_ENC_DECIMAL = 3,   /* packed timestamps, values m * 10^-e packed */
};

/* Most samples in one encoded chunk (that of a Gorilla chunk). */
#define OBS_ENC_MAX_SAMPLES 65535

/* Append the smallest encoding of n samples to out. Timestamps must strictly
 * increase and n <= OBS_ENC_MAX_SAMPLES, else -EINVAL; -ENOMEM when out
 * cannot grow. On failure out->len is unchanged. */
int obs_enc_encode(const int64_t *ts, const double *vs, size_t n, struct obs_buf *out);

/* Number of samples in an encoded chunk, or -EBADMSG. */
int obs_enc_count(const uint8_t *p, size_t len);

/* Decode into arrays with room entries (at least obs_enc_count()). Returns the
 * number of samples, -ENOSPC if room is too small or -EBADMSG on corrupt
 * input (never reads out of bounds, whatever the bytes). */
int obs_enc_decode(const uint8_t *p, size_t len, int64_t *ts, double *vs, size_t room);

/* "gorilla", "const", "decimal", or "unknown". */
const char *obs_enc_name(int id);

#endif
