/* chunk.h — Gorilla-compressed chunk of (timestamp, float64) samples.
 *
 * Timestamps (int64 ms) are delta-of-delta encoded, values XOR encoded, as in
 * Facebook's Gorilla paper. Values are carried as their 64 raw bits, so every
 * double round-trips bit-exactly (NaN payloads, -0.0, ±Inf, denormals).
 * The byte layout is documented at the top of chunk.c. Codecs are pure: no I/O,
 * no locks. The encoder's bytes are a valid chunk after every append, so a
 * reader may decode a copy of (data, len) at any time. */
#ifndef OBS_TSDB_CHUNK_H
#define OBS_TSDB_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define OBS_CHUNK_MAX_SAMPLES 65535

struct obs_chunk_enc {
	uint8_t *buf;       /* owned, grows by realloc */
	size_t cap;         /* bytes allocated */
	uint64_t bits;      /* bits written after the header */
	uint32_t n;         /* samples */
	int64_t t_first, t_last;
	int64_t d_last;     /* last timestamp delta */
	uint64_t v_last;    /* bits of the last value */
	uint8_t lead, trail;/* window of the last XOR block */
};

void obs_chunk_enc_init(struct obs_chunk_enc *e);
void obs_chunk_enc_release(struct obs_chunk_enc *e);   /* accepts zeroed */
/* Append a sample. t must be > t_last of a non-empty chunk and the chunk must
 * hold fewer than OBS_CHUNK_MAX_SAMPLES: else -EINVAL (chunk unchanged).
 * -ENOMEM when growing fails (chunk unchanged). */
int obs_chunk_append(struct obs_chunk_enc *e, int64_t t, double v);
/* The encoded chunk: pointer and length in bytes (valid until the next append). */
const uint8_t *obs_chunk_data(const struct obs_chunk_enc *e, size_t *len);
/* Bytes the chunk occupies (header + payload, rounded up to a byte). */
size_t obs_chunk_size(const struct obs_chunk_enc *e);

/* Number of samples in an encoded chunk, or -EBADMSG if the header is bad. */
int obs_chunk_count(const uint8_t *data, size_t len);

struct obs_chunk_it {
	const uint8_t *p;
	size_t len;
	uint64_t pos;       /* bit position */
	uint32_t n, i;
	int64_t t, d;
	uint64_t v;
	uint8_t lead, trail;
	int err;
};
/* Iterate an encoded chunk; (data, len) must stay valid while iterating. */
void obs_chunk_it_init(struct obs_chunk_it *it, const uint8_t *data, size_t len);
/* 1 and the next sample; 0 at the end; -EBADMSG on corrupt input (never reads
 * out of bounds, whatever the bytes). */
int obs_chunk_it_next(struct obs_chunk_it *it, int64_t *t, double *v);
/* Decode the whole chunk into arrays with room for obs_chunk_count() entries.
 * Returns the number of samples, -ENOSPC when room is too small, or
 * -EBADMSG. The fast path for reads. */
int obs_chunk_decode(const uint8_t *data, size_t len, int64_t *ts, double *vs, size_t room);

#endif
