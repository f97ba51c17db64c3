/* chunk.c — Gorilla chunk codec: delta-of-delta timestamps, XOR values.
 *
 * Byte layout (all multi-byte integers big-endian, bits MSB-first):
 *
 *   offset 0   u16   n, the number of samples (0..65535)
 *   offset 2   varint t0, the first timestamp (int64 ms, zig-zag, LEB128,
 *                     1..10 bytes; present only when n >= 1)
 *   offset h   bit stream, starting at the first bit of byte h:
 *                v0: 64 raw bits of the first value
 *                then for each sample i = 1..n-1, a timestamp field then a
 *                value field.
 *
 * Timestamp field: dod = (t[i] - t[i-1]) - (t[i-1] - t[i-2]) with the
 * previous delta of sample 1 taken as 0. Arithmetic is modulo 2^64 (uint64),
 * so any strictly increasing int64 sequence is representable.
 *
 *   '0'                     dod = 0
 *   '10'    + 7 bits        dod in [-64, 63]        (two's complement)
 *   '110'   + 13 bits       dod in [-4096, 4095]
 *   '1110'  + 20 bits       dod in [-524288, 524287]
 *   '11110' + 32 bits       dod in [-2^31, 2^31-1]
 *   '11111' + 64 bits       any dod (raw 64 bits)
 *
 * Value field, on the 64 raw bits of the double (bit-exact for every NaN
 * payload, -0.0, infinities and denormals); x = bits ^ previous bits:
 *
 *   '0'                     x = 0, same value
 *   '10'  + sig bits        x fits the current window: x >> trail, where
 *                           sig = 64 - lead - trail
 *   '11'  + 5 bits lead + 6 bits sig (0 means 64) + sig bits of x >> trail;
 *                           sets the window (lead, trail = 64 - lead - sig)
 *
 * The window starts as lead = trail = 0 (sig = 64). The encoder picks the
 * cheaper of '10' and '11' when both fit.
 *
 * Validity: n and t0 parse, the stream holds the n samples within len bytes
 * (unused bits of the last byte are zero when written, ignored when read),
 * every window has lead + sig <= 64 and timestamps strictly increase.
 * Bytes after the stream are ignored. The encoder keeps its buffer a valid
 * chunk after every append: n is rewritten in place, the stream only grows.
 */
#include "tsdb/chunk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/corrupt.h"
#include "core/varint.h"
#include "core/vec.h"

#define HDR_MAX 12          /* u16 + 10-byte varint */
#define SLACK 32            /* zeroed bytes kept past the stream end */

/* ---- bit reader ------------------------------------------------------- */

/* 64 bits of p starting at bit pos; bits past len read as zero. */
static uint64_t peek_slow(const uint8_t *p, size_t len, uint64_t pos)
{
	uint8_t tmp[9] = { 0 };
	uint64_t b = pos >> 3;
	unsigned s = pos & 7;
	if (b < len) {
		size_t k = len - b < 9 ? len - b : 9;
		memcpy(tmp, p + b, k);
	}
	return (obs_get_be64(tmp) << s) | ((uint64_t)tmp[8] >> (8 - s));
}

static inline uint64_t peek(const uint8_t *p, size_t len, uint64_t pos)
{
	uint64_t b = pos >> 3;
	unsigned s = pos & 7;
	if (__builtin_expect(b + 9 <= len, 1))
		return (obs_get_be64(p + b) << s) | ((uint64_t)p[b + 8] >> (8 - s));
	return peek_slow(p, len, pos);
}

/* ---- encoder ---------------------------------------------------------- */

static const uint8_t empty_chunk[2];

void obs_chunk_enc_init(struct obs_chunk_enc *e)
{
	memset(e, 0, sizeof(*e));
}

void obs_chunk_enc_release(struct obs_chunk_enc *e)
{
	if (!e)
		return;
	free(e->buf);
	obs_chunk_enc_init(e);
}

static size_t hdr_len(const struct obs_chunk_enc *e)
{
	return e->n ? 2 + obs_varint_len(obs_zigzag(e->t_first)) : 2;
}

size_t obs_chunk_size(const struct obs_chunk_enc *e)
{
	return hdr_len(e) + (size_t)((e->bits + 7) >> 3);
}

const uint8_t *obs_chunk_data(const struct obs_chunk_enc *e, size_t *len)
{
	*len = obs_chunk_size(e);
	return e->buf ? e->buf : empty_chunk;
}

/* Make sure the buffer has `need` bytes, zero-filled past the old capacity. */
static int grow(struct obs_chunk_enc *e, size_t need)
{
	if (need <= e->cap)
		return 0;   /* the hot path: every sample asks */
	size_t old = e->cap;
	if (OBS_VEC_RESERVE_FROM(e->buf, e->cap, need, 64))
		return -ENOMEM;
	memset(e->buf + old, 0, e->cap - old);
	return 0;
}

/* Append the low n bits of x (1 <= n <= 64) at bit offset *bits of stream s.
 * The stream must have 9 zeroed bytes past the current byte. */
static inline void put(uint8_t *s, uint64_t *bits, uint64_t x, unsigned n)
{
	uint64_t b = *bits >> 3;
	unsigned sh = *bits & 7;
	uint64_t v = n == 64 ? x : x << (64 - n);
	obs_put_be64(s + b, obs_get_be64(s + b) | (v >> sh));
	s[b + 8] |= (uint8_t)((v & ((1u << sh) - 1)) << (8 - sh));
	*bits += n;
}

static const struct { int64_t lo, hi; uint8_t prefix, plen, nb; } dod_bucket[] = {
	{ -64, 63, 0x2, 2, 7 },
	{ -4096, 4095, 0x6, 3, 13 },
	{ -524288, 524287, 0xe, 4, 20 },
	{ INT32_MIN, INT32_MAX, 0x1e, 5, 32 },
};

int obs_chunk_append(struct obs_chunk_enc *e, int64_t t, double v)
{
	if (e->n >= OBS_CHUNK_MAX_SAMPLES || (e->n && t <= e->t_last))
		return -EINVAL;
	uint64_t vb = obs_f64_bits(v);
	if (e->n == 0) {
		if (grow(e, HDR_MAX + 8 + SLACK))
			return -ENOMEM;
		memset(e->buf, 0, e->cap);
		size_t h = 2 + obs_varint_put(e->buf + 2, obs_zigzag(t));
		e->bits = 0;
		put(e->buf + h, &e->bits, vb, 64);
		e->t_first = e->t_last = t;
		e->d_last = 0;
		e->v_last = vb;
		e->lead = e->trail = 0;
		e->n = 1;
		e->buf[0] = 0;
		e->buf[1] = 1;
		return 0;
	}
	size_t h = hdr_len(e);
	if (grow(e, h + (size_t)(e->bits >> 3) + SLACK))
		return -ENOMEM;
	uint8_t *s = e->buf + h;

	uint64_t d = (uint64_t)t - (uint64_t)e->t_last;
	int64_t dod = (int64_t)(d - (uint64_t)e->d_last);
	if (dod == 0) {
		put(s, &e->bits, 0, 1);
	} else {
		size_t k;
		for (k = 0; k < sizeof(dod_bucket) / sizeof(dod_bucket[0]); k++)
			if (dod >= dod_bucket[k].lo && dod <= dod_bucket[k].hi)
				break;
		if (k < sizeof(dod_bucket) / sizeof(dod_bucket[0])) {
			unsigned nb = dod_bucket[k].nb;
			put(s, &e->bits, dod_bucket[k].prefix, dod_bucket[k].plen);
			put(s, &e->bits, (uint64_t)dod & ((1ull << nb) - 1), nb);
		} else {
			put(s, &e->bits, 0x1f, 5);
			put(s, &e->bits, (uint64_t)dod, 64);
		}
	}

	uint64_t x = vb ^ e->v_last;
	if (x == 0) {
		put(s, &e->bits, 0, 1);
	} else {
		unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
		if (lz > 31)
			lz = 31;
		unsigned sig_old = 64u - e->lead - e->trail, sig = 64 - lz - tz;
		if (lz >= e->lead && tz >= e->trail && 2 + sig_old <= 13 + sig) {
			put(s, &e->bits, 0x2, 2);
			put(s, &e->bits, x >> e->trail, sig_old);
		} else {
			put(s, &e->bits, (0x3u << 11) | (lz << 6) | (sig & 63), 13);
			put(s, &e->bits, x >> tz, sig);
			e->lead = (uint8_t)lz;
			e->trail = (uint8_t)tz;
		}
	}
	e->d_last = (int64_t)d;
	e->t_last = t;
	e->v_last = vb;
	e->n++;
	e->buf[0] = (uint8_t)(e->n >> 8);
	e->buf[1] = (uint8_t)e->n;
	return 0;
}

/* ---- decoder ---------------------------------------------------------- */

int obs_chunk_count(const uint8_t *data, size_t len)
{
	if (!data || len < 2)
		return obs_corruptf(NULL, 0, "obs_chunk_count: failed check (!data || len < 2)");
	return (int)((unsigned)data[0] << 8 | data[1]);
}

/* Parse the header: sample count, first timestamp and the bit offset of the
 * stream. Returns 0 or -EBADMSG. */
static int parse_hdr(const uint8_t *p, size_t len, uint32_t *n, int64_t *t0, uint64_t *pos)
{
	if (!p || len < 2)
		return obs_corruptf(NULL, 0, "parse_hdr: failed check (!p || len < 2)");
	*n = (uint32_t)p[0] << 8 | p[1];
	*t0 = 0;
	*pos = 16;
	if (*n == 0)
		return 0;
	uint64_t u;
	size_t off = 2;
	if (obs_varint_get(p, len, &off, &u))
		return obs_corruptf(NULL, 0, "parse_hdr: failed check (obs_varint_get(p, len, &off, &u))");
	*t0 = obs_unzigzag(u);
	*pos = (uint64_t)off * 8;
	if (*pos + 64 > (uint64_t)len * 8)
		return obs_corruptf(NULL, 0, "parse_hdr: failed check (*pos + 64 > (uint64_t)len * 8)");
	return 0;
}

/* One timestamp field at *pos: returns the delta-of-delta. */
static inline uint64_t read_dod(const uint8_t *p, size_t len, uint64_t *pos)
{
	uint64_t w = peek(p, len, *pos);
	if (!(w >> 63)) {
		*pos += 1;
		return 0;
	}
	unsigned ones = (unsigned)__builtin_clzll(~w | 1);
	switch (ones) {
	case 1:
		*pos += 9;
		return (uint64_t)((int64_t)(w << 2) >> 57);
	case 2:
		*pos += 16;
		return (uint64_t)((int64_t)(w << 3) >> 51);
	case 3:
		*pos += 24;
		return (uint64_t)((int64_t)(w << 4) >> 44);
	case 4:
		*pos += 37;
		return (uint64_t)((int64_t)(w << 5) >> 32);
	default:
		w = peek(p, len, *pos + 5);
		*pos += 69;
		return w;
	}
}

/* One value field at *pos: XORs it into *v. Returns 0 or -EBADMSG. */
static inline int read_val(const uint8_t *p, size_t len, uint64_t *pos, uint64_t *v,
			   uint8_t *lead, uint8_t *trail)
{
	uint64_t w = peek(p, len, *pos);
	if (!(w >> 63)) {
		*pos += 1;
		return 0;
	}
	if (!((w >> 62) & 1)) {
		unsigned sig = 64u - *lead - *trail;
		uint64_t x = sig <= 62 ? (w << 2) >> (64 - sig) : peek(p, len, *pos + 2) >> (64 - sig);
		*v ^= x << *trail;
		*pos += 2 + sig;
		return 0;
	}
	unsigned ld = (w >> 57) & 31, sig = (w >> 51) & 63;
	if (!sig)
		sig = 64;
	if (ld + sig > 64)
		return obs_corruptf(NULL, 0, "read_val: failed check (ld + sig > 64)");
	uint64_t x = sig <= 51 ? (w << 13) >> (64 - sig) : peek(p, len, *pos + 13) >> (64 - sig);
	*lead = (uint8_t)ld;
	*trail = (uint8_t)(64 - ld - sig);
	*v ^= x << *trail;
	*pos += 13 + sig;
	return 0;
}

void obs_chunk_it_init(struct obs_chunk_it *it, const uint8_t *data, size_t len)
{
	memset(it, 0, sizeof(*it));
	it->p = data;
	it->len = len;
	it->err = parse_hdr(data, len, &it->n, &it->t, &it->pos);
}

int obs_chunk_it_next(struct obs_chunk_it *it, int64_t *t, double *v)
{
	if (it->err)
		return it->err;
	if (it->i >= it->n)
		return 0;
	if (it->i == 0) {
		it->v = peek(it->p, it->len, it->pos);
		it->pos += 64;
	} else {
		uint64_t d = (uint64_t)it->d + read_dod(it->p, it->len, &it->pos);
		int64_t nt = (int64_t)((uint64_t)it->t + d);
		int rc = read_val(it->p, it->len, &it->pos, &it->v, &it->lead, &it->trail);
		if (rc || nt <= it->t || it->pos > (uint64_t)it->len * 8) {
			it->err = obs_corruptf(NULL, 0, "obs_chunk_it_next: failed check (rc || nt <= it->t || it->pos > (uint64_t)it->len * 8)");
			return it->err;
		}
		it->t = nt;
		it->d = (int64_t)d;
	}
	it->i++;
	*t = it->t;
	*v = obs_bits_f64(it->v);
	return 1;
}

int obs_chunk_decode(const uint8_t *data, size_t len, int64_t *ts, double *vs, size_t room)
{
	uint32_t n;
	int64_t t;
	uint64_t pos;
	if (parse_hdr(data, len, &n, &t, &pos))
		return -EBADMSG;   /* detail recorded by parse_hdr */
	if (n == 0)
		return 0;
	if (room < n)
		return -ENOSPC;
	uint64_t v = peek(data, len, pos), d = 0;
	uint8_t lead = 0, trail = 0;
	pos += 64;
	ts[0] = t;
	memcpy(&vs[0], &v, 8);
	int bad = 0;
	for (uint32_t i = 1; i < n; i++) {
		d += read_dod(data, len, &pos);
		int64_t nt = (int64_t)((uint64_t)t + d);
		bad |= nt <= t;
		bad |= read_val(data, len, &pos, &v, &lead, &trail);
		t = nt;
		ts[i] = t;
		memcpy(&vs[i], &v, 8);
	}
	if (bad || pos > (uint64_t)len * 8)
		return obs_corruptf(NULL, 0, "obs_chunk_decode: failed check (bad || pos > (uint64_t)len * 8)");
	return (int)n;
}
