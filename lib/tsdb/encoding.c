/* encoding.c — smallest-of encodings for closed chunks (see encoding.h).
 *
 * Byte layout (varints are LEB128, "zz" marks zig-zag signed varints, bit
 * fields MSB-first):
 *
 *   byte 0      id (enum obs_enc_id)
 *
 *   id 1 GORILLA   a chunk.h chunk fills the rest (its layout: chunk.c).
 *   id 2 CONST     varint n (>= 1), TS seq, 8 bytes raw value bits (BE).
 *   id 3 DECIMAL   varint n (>= 1), TS seq, byte e (0..18), M seq;
 *                  value[i] = (double)m[i] / 10^e, which the encoder checked
 *                  gives back every value bit-exactly.
 *
 * A seq holds n int64 x[0..n) (timestamps or the scaled values m):
 *
 *   byte   flags: bits 0-1 order k (0 raw, 1 delta, 2 delta-of-delta,
 *          k <= 2 and k <= n), bit 7 "every residual is zero", others 0.
 *   k zz varints: the heads x[0] (k >= 1) and x[1] - x[0] (k == 2).
 *   unless bit 7: residuals r[k..n) in blocks of 64 (the last may be
 *          shorter), each a byte w (0..64) then the zig-zag residuals as
 *          w-bit fields, MSB-first, padded to a byte.
 *
 * Residuals are x[i] (k = 0), x[i] - x[i-1] (k = 1) or
 * (x[i] - x[i-1]) - (x[i-1] - x[i-2]) (k = 2), all modulo 2^64. The encoder
 * picks the order giving the fewest bytes. A regular interval is then
 * flags 0x82 and two varints, and the decoder fills an arithmetic sequence.
 *
 * Validity: every field within len, w <= 64, e <= 18, n <= 65535,
 * timestamps strictly increasing. Bytes after the chunk are ignored.
 */
#include "tsdb/encoding.h"
#include "tsdb/chunk.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLK 64
#define E_MAX 18

static const double p10[E_MAX + 1] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};

static inline uint64_t ld_be64(const uint8_t *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

static inline uint64_t zz_enc(uint64_t v) { return (v << 1) ^ (uint64_t)((int64_t)v >> 63); }
static inline uint64_t zz_dec(uint64_t u) { return (u >> 1) ^ -(u & 1); }

static inline uint64_t dbits(double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	return u;
}

const char *obs_enc_name(int id)
{
	switch (id) {
	case OBS_ENC_GORILLA: return "gorilla";
	case OBS_ENC_CONST: return "const";
	case OBS_ENC_DECIMAL: return "decimal";
	default: return "unknown";
	}
}

/* ---- encoder ---------------------------------------------------------- */

static size_t varint_put(uint8_t *p, uint64_t u)
{
	size_t n = 0;
	while (u >= 0x80) {
		p[n++] = (uint8_t)(u | 0x80);
		u >>= 7;
	}
	p[n++] = (uint8_t)u;
	return n;
}

static size_t varint_len(uint64_t u)
{
	size_t n = 1;
	while (u >= 0x80) {
		u >>= 7;
		n++;
	}
	return n;
}

/* Zig-zag residual i (i >= k) of order k. */
static inline uint64_t resid(const uint64_t *x, size_t i, unsigned k)
{
	switch (k) {
	case 0: return zz_enc(x[i]);
	case 1: return zz_enc(x[i] - x[i - 1]);
	default: return zz_enc((x[i] - x[i - 1]) - (x[i - 1] - x[i - 2]));
	}
}

static inline unsigned width(uint64_t u)
{
	return u ? 64 - (unsigned)__builtin_clzll(u) : 0;
}

/* Bytes of the seq of order k. */
static size_t seq_size(const uint64_t *x, size_t n, unsigned k)
{
	size_t sz = 1;
	if (k >= 1)
		sz += varint_len(zz_enc(x[0]));
	if (k == 2)
		sz += varint_len(zz_enc(x[1] - x[0]));
	size_t blocks = 0;
	int nonzero = 0;
	for (size_t i = k; i < n; i += BLK) {
		size_t e = i + BLK < n ? i + BLK : n;
		uint64_t or = 0;
		for (size_t j = i; j < e; j++)
			or |= resid(x, j, k);
		nonzero |= or != 0;
		blocks += 1 + ((e - i) * width(or) + 7) / 8;
	}
	return nonzero ? sz + blocks : sz;
}

static unsigned seq_best(const uint64_t *x, size_t n, size_t *size)
{
	unsigned best = 0;
	*size = seq_size(x, n, 0);
	for (unsigned k = 1; k <= 2 && k <= n; k++) {
		size_t s = seq_size(x, n, k);
		if (s < *size) {
			*size = s;
			best = k;
		}
	}
	return best;
}

/* Write the seq of order k at p (room checked by the caller, who reserved
 * seq_size() + 8 bytes of slack). Returns the bytes written. */
static size_t seq_write(uint8_t *p, const uint64_t *x, size_t n, unsigned k)
{
	uint8_t *s = p;
	uint8_t *flags = p++;
	*flags = (uint8_t)k;
	if (k >= 1)
		p += varint_put(p, zz_enc(x[0]));
	if (k == 2)
		p += varint_put(p, zz_enc(x[1] - x[0]));
	int nonzero = 0;
	for (size_t i = k; i < n && !nonzero; i++)
		nonzero = resid(x, i, k) != 0;
	if (!nonzero) {
		*flags |= 0x80;
		return (size_t)(p - s);
	}
	for (size_t i = k; i < n; i += BLK) {
		size_t e = i + BLK < n ? i + BLK : n;
		uint64_t or = 0;
		for (size_t j = i; j < e; j++)
			or |= resid(x, j, k);
		unsigned w = width(or);
		*p++ = (uint8_t)w;
		if (!w)
			continue;
		size_t nb = ((e - i) * w + 7) / 8;
		memset(p, 0, nb);
		uint64_t acc = 0;
		unsigned fill = 0;    /* bits in acc, MSB-aligned */
		uint8_t *q = p;
		for (size_t j = i; j < e; j++) {
			uint64_t r = resid(x, j, k);
			/* place w bits of r after fill bits of acc */
			if (fill + w <= 64) {
				acc |= w == 64 ? r : r << (64 - fill - w);
				fill += w;
			} else {
				unsigned hi = 64 - fill;
				acc |= r >> (w - hi);
				for (int b = 0; b < 8; b++)
					*q++ = (uint8_t)(acc >> (56 - 8 * b));
				fill = w - hi;
				acc = r << (64 - fill);
			}
			while (fill >= 8) {
				*q++ = (uint8_t)(acc >> 56);
				acc <<= 8;
				fill -= 8;
			}
		}
		if (fill)
			*q++ = (uint8_t)(acc >> 56);
		p += nb;
	}
	return (size_t)(p - s);
}

/* The exponent e making every value an exact m / 10^e, or -1. */
static int find_exp(const double *vs, size_t n)
{
	int e = 0;
	for (size_t i = 0; i < n; i++) {
		double v = vs[i];
		if (!isfinite(v))
			return -1;
		for (;; e++) {
			if (e > E_MAX)
				return -1;
			double x = v * p10[e];
			if (!(fabs(x) < 9007199254740992.0))   /* 2^53 */
				return -1;
			int64_t m = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
			if (dbits((double)m / p10[e]) == dbits(v))
				break;
		}
	}
	return e;
}

int obs_enc_encode(const int64_t *ts, const double *vs, size_t n, struct obs_buf *out)
{
	if (n > OBS_ENC_MAX_SAMPLES)
		return -EINVAL;
	for (size_t i = 1; i < n; i++)
		if (ts[i] <= ts[i - 1])
			return -EINVAL;

	/* Gorilla: always applicable. */
	struct obs_chunk_enc g;
	obs_chunk_enc_init(&g);
	for (size_t i = 0; i < n; i++) {
		int rc = obs_chunk_append(&g, ts[i], vs[i]);
		if (rc) {
			obs_chunk_enc_release(&g);
			return rc;
		}
	}
	size_t glen;
	const uint8_t *gdata = obs_chunk_data(&g, &glen);
	size_t best = 1 + glen;
	int id = OBS_ENC_GORILLA, e = -1;
	unsigned tk = 0, mk = 0;
	uint64_t *tx = NULL, *mx = NULL;

	if (n >= 1) {
		tx = malloc(n * sizeof(*tx));
		mx = malloc(n * sizeof(*mx));
		if (!tx || !mx) {
			free(tx);
			free(mx);
			obs_chunk_enc_release(&g);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++)
			tx[i] = (uint64_t)ts[i];
		size_t tsz, msz;
		tk = seq_best(tx, n, &tsz);
		size_t head = 1 + varint_len(n) + tsz;
		int same = 1;
		for (size_t i = 1; i < n && same; i++)
			same = dbits(vs[i]) == dbits(vs[0]);
		if (same && head + 8 < best) {
			best = head + 8;
			id = OBS_ENC_CONST;
		}
		e = find_exp(vs, n);
		if (e >= 0) {
			for (size_t i = 0; i < n && e >= 0; i++) {
				double x = vs[i] * p10[e];
				int64_t m = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
				mx[i] = (uint64_t)m;
				if (dbits((double)m / p10[e]) != dbits(vs[i]))
					e = -1;
			}
		}
		if (e >= 0) {
			mk = seq_best(mx, n, &msz);
			if (head + 1 + msz < best) {
				best = head + 1 + msz;
				id = OBS_ENC_DECIMAL;
			}
		}
	}

	int rc = obs_buf_reserve(out, best + 16);
	if (rc)
		goto done;
	uint8_t *p = (uint8_t *)out->data + out->len, *s = p;
	*p++ = (uint8_t)id;
	if (id == OBS_ENC_GORILLA) {
		memcpy(p, gdata, glen);
		p += glen;
	} else {
		p += varint_put(p, n);
		p += seq_write(p, tx, n, tk);
		if (id == OBS_ENC_CONST) {
			uint64_t u = dbits(vs[0]);
			for (int b = 0; b < 8; b++)
				*p++ = (uint8_t)(u >> (56 - 8 * b));
		} else {
			*p++ = (uint8_t)e;
			p += seq_write(p, mx, n, mk);
		}
	}
	out->len += (size_t)(p - s);
	out->data[out->len] = 0;
done:
	free(tx);
	free(mx);
	obs_chunk_enc_release(&g);
	return rc;
}

/* ---- decoder ---------------------------------------------------------- */

static int varint_get(const uint8_t *p, size_t len, size_t *off, uint64_t *out)
{
	uint64_t u = 0;
	for (size_t i = 0; i < 10 && *off + i < len; i++) {
		uint64_t b = p[*off + i];
		if (i == 9 && b > 1)
			return -EBADMSG;
		u |= (b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*off += i + 1;
			*out = u;
			return 0;
		}
	}
	return -EBADMSG;
}

static inline uint64_t peek_fast(const uint8_t *p, uint64_t pos)
{
	uint64_t b = pos >> 3;
	unsigned s = pos & 7;
	return (ld_be64(p + b) << s) | ((uint64_t)p[b + 8] >> (8 - s));
}

static uint64_t peek_safe(const uint8_t *p, size_t len, uint64_t pos)
{
	uint8_t tmp[9] = { 0 };
	uint64_t b = pos >> 3;
	if (b < len)
		memcpy(tmp, p + b, len - b < 9 ? len - b : 9);
	unsigned s = pos & 7;
	return (ld_be64(tmp) << s) | ((uint64_t)tmp[8] >> (8 - s));
}

/* Unpack cnt w-bit fields (1 <= w <= 64) from p[off..] into r; the fields
 * lie within len (checked by the caller). */
static void unpack(const uint8_t *p, size_t len, size_t off, unsigned w, size_t cnt, uint64_t *r)
{
	uint64_t pos = (uint64_t)off * 8;
	unsigned sh = 64 - w;
	size_t nb = (cnt * w + 7) / 8;
	if (off + nb + 8 <= len) {
		for (size_t j = 0; j < cnt; j++, pos += w)
			r[j] = peek_fast(p, pos) >> sh;
	} else {
		for (size_t j = 0; j < cnt; j++, pos += w)
			r[j] = peek_safe(p, len, pos) >> sh;
	}
}

/* Decode a seq of n values at *off into ti (integers) or, when ti is NULL,
 * into vd as (double)x / div. */
static int seq_decode(const uint8_t *p, size_t len, size_t *off, size_t n,
		      int64_t *ti, double *vd, double div)
{
	if (*off >= len)
		return -EBADMSG;
	uint8_t flags = p[(*off)++];
	unsigned k = flags & 3;
	if ((flags & 0x7c) || k > 2 || k > n)
		return -EBADMSG;
	uint64_t x = 0, d = 0, u;
	if (k >= 1) {
		if (varint_get(p, len, off, &u))
			return -EBADMSG;
		x = zz_dec(u);
		if (ti)
			ti[0] = (int64_t)x;
		else
			vd[0] = (double)(int64_t)x / div;
	}
	if (k == 2) {
		if (varint_get(p, len, off, &u))
			return -EBADMSG;
		d = zz_dec(u);
		x += d;
		if (ti)
			ti[1] = (int64_t)x;
		else
			vd[1] = (double)(int64_t)x / div;
	}
	uint64_t r[BLK];
	for (size_t i = k; i < n; i += BLK) {
		size_t cnt = n - i < BLK ? n - i : BLK;
		if (flags & 0x80) {
			memset(r, 0, cnt * sizeof(r[0]));
		} else {
			if (*off >= len)
				return -EBADMSG;
			unsigned w = p[(*off)++];
			if (w > 64)
				return -EBADMSG;
			size_t nb = (cnt * w + 7) / 8;
			if (nb > len - *off)
				return -EBADMSG;
			if (w)
				unpack(p, len, *off, w, cnt, r);
			else
				memset(r, 0, cnt * sizeof(r[0]));
			*off += nb;
		}
		switch (k) {
		case 0:
			for (size_t j = 0; j < cnt; j++)
				r[j] = zz_dec(r[j]);
			break;
		case 1:
			for (size_t j = 0; j < cnt; j++) {
				x += zz_dec(r[j]);
				r[j] = x;
			}
			break;
		default:
			for (size_t j = 0; j < cnt; j++) {
				d += zz_dec(r[j]);
				x += d;
				r[j] = x;
			}
			break;
		}
		if (ti) {
			for (size_t j = 0; j < cnt; j++)
				ti[i + j] = (int64_t)r[j];
		} else {
			for (size_t j = 0; j < cnt; j++)
				vd[i + j] = (double)(int64_t)r[j] / div;
		}
	}
	return 0;
}

/* Parse id and n of a packed chunk; *off is left after n. */
static int packed_count(const uint8_t *p, size_t len, size_t *off)
{
	uint64_t n;
	*off = 1;
	if (varint_get(p, len, off, &n) || n == 0 || n > OBS_ENC_MAX_SAMPLES)
		return -EBADMSG;
	return (int)n;
}

int obs_enc_count(const uint8_t *p, size_t len)
{
	size_t off;
	if (!p || len < 1)
		return -EBADMSG;
	switch (p[0]) {
	case OBS_ENC_GORILLA:
		return obs_chunk_count(p + 1, len - 1);
	case OBS_ENC_CONST:
	case OBS_ENC_DECIMAL:
		return packed_count(p, len, &off);
	default:
		return -EBADMSG;
	}
}

int obs_enc_decode(const uint8_t *p, size_t len, int64_t *ts, double *vs, size_t room)
{
	size_t off;
	if (!p || len < 1)
		return -EBADMSG;
	if (p[0] == OBS_ENC_GORILLA)
		return obs_chunk_decode(p + 1, len - 1, ts, vs, room);
	if (p[0] != OBS_ENC_CONST && p[0] != OBS_ENC_DECIMAL)
		return -EBADMSG;
	int n = packed_count(p, len, &off);
	if (n < 0)
		return n;
	if (room < (size_t)n)
		return -ENOSPC;
	if (seq_decode(p, len, &off, (size_t)n, ts, NULL, 1.0))
		return -EBADMSG;
	for (int i = 1; i < n; i++)
		if (ts[i] <= ts[i - 1])
			return -EBADMSG;
	if (p[0] == OBS_ENC_CONST) {
		if (len - off < 8)
			return -EBADMSG;
		uint64_t u = ld_be64(p + off);
		double v;
		memcpy(&v, &u, 8);
		for (int i = 0; i < n; i++)
			vs[i] = v;
		return n;
	}
	if (off >= len || p[off] > E_MAX)
		return -EBADMSG;
	double div = p10[p[off++]];
	if (seq_decode(p, len, &off, (size_t)n, NULL, vs, div))
		return -EBADMSG;
	return n;
}
