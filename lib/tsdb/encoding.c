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
 *   byte   flags: bits 0-1 order k, bit 6 "a multiplier g follows the
 *          heads", bit 7 "every residual is zero", bits 2-5 zero.
 *   heads: zz varints: x[0] (k >= 1); x[1] - x[0] (k == 2); the grid
 *          step s (k == 3). Then varint g if bit 6 (else g = 1).
 *   unless bit 7: the residuals from index f (f = k, but 1 for k == 3)
 *          in blocks of 64 (the last may be shorter). A block starts with
 *          a byte b:
 *            0..64    dense: the 64 (or fewer) zig-zag residuals / g as
 *                     b-bit fields, MSB-first, padded to a byte;
 *            65..127  this block and the next b - 65 are all zero;
 *            129..192 sparse, w = b - 128: a byte c - 1 (c nonzero
 *                     residuals), then c pairs of a 6-bit index in the
 *                     block and a w-bit zig-zag residual / g, MSB-first,
 *                     padded to a byte; the others are zero.
 *
 * Residuals (all arithmetic modulo 2^64) for order
 *   0  raw:              x[i]
 *   1  delta:            x[i] - x[i-1]
 *   2  delta-of-delta:   (x[i] - x[i-1]) - (x[i-1] - x[i-2])
 *   3  grid:             x[i] - (x[0] + i * s), s the rounded mean step
 * each stored as residual / g (g is the gcd of the residuals, so memory
 * sizes in pages cost no bits for the page). The encoder picks the order
 * giving the fewest bytes. A regular interval is flags 0x82 (or 0x83) and
 * two varints; a jittered one (a scrape now and then a few ms late) is a
 * grid with sparse blocks and zero runs, one small field per late scrape.
 *
 * Validity: every field within len, block bytes as above, sparse indexes
 * inside their block, k <= n (n >= 2 for k == 3), e <= 18, n <= 65535,
 * timestamps strictly increasing. Bytes after the chunk are ignored.
 */
#include "tsdb/encoding.h"
#include "tsdb/chunk.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/corrupt.h"
#include "core/num.h"
#include "core/varint.h"

#define BLK 64
#define E_MAX 18
#define M_LIMIT 9.2e18      /* |m| below 2^63; exactness is checked anyway */

static const double p10[E_MAX + 1] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};

/* zigzag over the uint64 arithmetic of the codecs */
static inline uint64_t zz_enc(uint64_t v) { return obs_zigzag((int64_t)v); }
static inline uint64_t zz_dec(uint64_t u) { return (uint64_t)obs_unzigzag(u); }

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



static inline unsigned width(uint64_t u)
{
	return u ? 64 - (unsigned)__builtin_clzll(u) : 0;
}

/* A planned seq: order, grid step, multiplier, size. */
struct plan {
	unsigned k;
	uint64_t step;
	uint64_t g;
	int zero;
	size_t size;
};

/* Index of the first residual of order k. */
static inline size_t first_resid(unsigned k)
{
	return k == 3 ? 1 : k;
}

/* Whether block i of residuals r[from..n) is all zero. */
static int zero_block(const uint64_t *r, size_t from, size_t n)
{
	size_t e = from + BLK < n ? from + BLK : n;
	for (size_t j = from; j < e; j++)
		if (r[j])
			return 0;
	return 1;
}

/* Zero blocks from block start `from` on (at most ZRUN_MAX). */
#define ZRUN_MAX 63
static size_t zero_run(const uint64_t *r, size_t from, size_t n)
{
	size_t c = 0;
	for (size_t i = from; i < n && c < ZRUN_MAX && zero_block(r, i, n); i += BLK)
		c++;
	return c;
}

/* Cost in bytes of one block of cnt residuals, and whether sparse wins. */
static size_t block_cost(const uint64_t *r, size_t cnt, int *sparse, unsigned *w)
{
	uint64_t or = 0;
	size_t c = 0;
	for (size_t j = 0; j < cnt; j++) {
		or |= r[j];
		c += r[j] != 0;
	}
	*w = width(or);
	size_t dense = 1 + (cnt * *w + 7) / 8;
	size_t sp = c ? 2 + (c * (6 + *w) + 7) / 8 : SIZE_MAX;
	*sparse = sp < dense;
	return *sparse ? sp : dense;
}

/* Fill r[k..n) with the zig-zag residuals of order k divided by their gcd
 * and return the seq's size in bytes. */
static size_t seq_plan(const uint64_t *x, size_t n, unsigned k, uint64_t *r, struct plan *pl)
{
	uint64_t g = 0, step = 0;
	if (k == 3) {
		/* the rounded mean interval, from the first to the last value */
		uint64_t span = x[n - 1] - x[0], m = n - 1;
		int neg = (int64_t)span < 0;
		if (neg)
			span = -span;
		step = span / m + (span % m >= m - span % m);
		if (neg)
			step = -step;
	}
	for (size_t i = first_resid(k); i < n; i++) {
		uint64_t d;
		if (k == 0)
			d = x[i];
		else if (k == 1)
			d = x[i] - x[i - 1];
		else if (k == 2)
			d = (x[i] - x[i - 1]) - (x[i - 1] - x[i - 2]);
		else
			d = x[i] - (x[0] + (uint64_t)i * step);
		r[i] = d;
		if (g != 1 && d) {
			uint64_t mag = (int64_t)d < 0 ? -d : d;
			g = obs_gcd_u64(mag, g);
		}
	}
	if (g > (uint64_t)INT64_MAX)
		g = 1;
	pl->k = k;
	pl->step = step;
	pl->g = g ? g : 1;
	pl->zero = g == 0;
	pl->size = 1;
	if (k >= 1)
		pl->size += obs_varint_len(zz_enc(x[0]));
	if (k == 2)
		pl->size += obs_varint_len(zz_enc(x[1] - x[0]));
	if (k == 3)
		pl->size += obs_varint_len(zz_enc(step));
	if (pl->zero)
		return pl->size;
	if (pl->g != 1)
		pl->size += obs_varint_len(pl->g);
	size_t fr = first_resid(k);
	for (size_t i = fr; i < n; i++)
		r[i] = zz_enc((uint64_t)((int64_t)r[i] / (int64_t)pl->g));
	for (size_t i = fr; i < n;) {
		size_t z = zero_run(r, i, n);
		if (z) {
			pl->size++;
			i += z * BLK;
			continue;
		}
		size_t cnt = n - i < BLK ? n - i : BLK;
		int sp;
		unsigned w;
		pl->size += block_cost(r + i, cnt, &sp, &w);
		i += BLK;
	}
	return pl->size;
}

/* Plan the cheapest order; r holds its residuals. */
static void seq_best(const uint64_t *x, size_t n, uint64_t *r, struct plan *pl)
{
	struct plan t;
	unsigned best = 0;
	seq_plan(x, n, 0, r, pl);
	for (unsigned k = 1; k <= 3 && (k <= n || (k == 3 && n >= 2)); k++)
		if (seq_plan(x, n, k, r, &t) < pl->size) {
			*pl = t;
			best = k;
		}
	unsigned last = n >= 2 ? 3 : (unsigned)n;
	if (best != last)
		seq_plan(x, n, best, r, pl);
}

/* MSB-first bit writer over zeroed memory with 9 bytes of slack. */
static inline void bput(uint8_t *s, uint64_t *bits, uint64_t x, unsigned n)
{
	uint64_t b = *bits >> 3;
	unsigned sh = *bits & 7;
	uint64_t v = n == 64 ? x : x << (64 - n);
	uint64_t cur = obs_get_be64(s + b) | (v >> sh);
	for (int i = 0; i < 8; i++)
		s[b + i] = (uint8_t)(cur >> (56 - 8 * i));
	s[b + 8] |= (uint8_t)((v & ((1u << sh) - 1)) << (8 - sh));
	*bits += n;
}

/* Write the planned seq at p (zeroed, pl->size + 16 bytes of room).
 * Returns the bytes written. */
static size_t seq_write(uint8_t *p, const uint64_t *x, size_t n, const uint64_t *r,
			const struct plan *pl)
{
	uint8_t *s = p;
	*p++ = (uint8_t)(pl->k | (pl->zero ? 0x80 : 0) | (!pl->zero && pl->g != 1 ? 0x40 : 0));
	if (pl->k >= 1)
		p += obs_varint_put(p, zz_enc(x[0]));
	if (pl->k == 2)
		p += obs_varint_put(p, zz_enc(x[1] - x[0]));
	if (pl->k == 3)
		p += obs_varint_put(p, zz_enc(pl->step));
	if (pl->zero)
		return (size_t)(p - s);
	if (pl->g != 1)
		p += obs_varint_put(p, pl->g);
	for (size_t i = first_resid(pl->k); i < n; i += BLK) {
		size_t z = zero_run(r, i, n);
		if (z) {
			*p++ = (uint8_t)(64 + z);
			i += (z - 1) * BLK;
			continue;
		}
		size_t cnt = n - i < BLK ? n - i : BLK;
		int sp;
		unsigned w;
		size_t cost = block_cost(r + i, cnt, &sp, &w);
		uint64_t bits = 0;
		if (sp) {
			size_t c = 0;
			for (size_t j = 0; j < cnt; j++)
				c += r[i + j] != 0;
			*p++ = (uint8_t)(0x80 | w);
			*p++ = (uint8_t)(c - 1);
			for (size_t j = 0; j < cnt; j++)
				if (r[i + j]) {
					bput(p, &bits, j, 6);
					bput(p, &bits, r[i + j], w);
				}
			p += cost - 2;
		} else {
			*p++ = (uint8_t)w;
			if (w)
				for (size_t j = 0; j < cnt; j++)
					bput(p, &bits, r[i + j], w);
			p += cost - 1;
		}
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
			if (!(fabs(x) < M_LIMIT))
				return -1;
			int64_t m = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
			if (obs_f64_bits((double)m / p10[e]) == obs_f64_bits(v))
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
	int id = OBS_ENC_GORILLA, e = -1, rc = 0;
	struct plan tp, mp;
	uint64_t *tx = NULL, *mx = NULL, *tr = NULL, *mr = NULL;

	if (n >= 1) {
		tx = malloc(n * sizeof(*tx));
		mx = malloc(n * sizeof(*mx));
		tr = malloc(n * sizeof(*tr));
		mr = malloc(n * sizeof(*mr));
		if (!tx || !mx || !tr || !mr) {
			rc = -ENOMEM;
			goto done;
		}
		for (size_t i = 0; i < n; i++)
			tx[i] = (uint64_t)ts[i];
		seq_best(tx, n, tr, &tp);
		size_t head = 1 + obs_varint_len(n) + tp.size;
		int same = 1;
		for (size_t i = 1; i < n && same; i++)
			same = obs_f64_bits(vs[i]) == obs_f64_bits(vs[0]);
		if (same && head + 8 < best) {
			best = head + 8;
			id = OBS_ENC_CONST;
		}
		e = find_exp(vs, n);
		for (size_t i = 0; i < n && e >= 0; i++) {
			double x = vs[i] * p10[e];
			if (!(fabs(x) < M_LIMIT)) {
				e = -1;
				break;
			}
			int64_t m = (int64_t)(x < 0 ? x - 0.5 : x + 0.5);
			mx[i] = (uint64_t)m;
			if (obs_f64_bits((double)m / p10[e]) != obs_f64_bits(vs[i]))
				e = -1;
		}
		if (e >= 0) {
			seq_best(mx, n, mr, &mp);
			if (head + 1 + mp.size < best) {
				best = head + 1 + mp.size;
				id = OBS_ENC_DECIMAL;
			}
		}
	}

	rc = obs_buf_reserve(out, best + 32);
	if (rc)
		goto done;
	uint8_t *p = (uint8_t *)out->data + out->len, *s = p;
	memset(p, 0, best + 32);
	*p++ = (uint8_t)id;
	if (id == OBS_ENC_GORILLA) {
		memcpy(p, gdata, glen);
		p += glen;
	} else {
		p += obs_varint_put(p, n);
		p += seq_write(p, tx, n, tr, &tp);
		if (id == OBS_ENC_CONST) {
			uint64_t u = obs_f64_bits(vs[0]);
			for (int b = 0; b < 8; b++)
				*p++ = (uint8_t)(u >> (56 - 8 * b));
		} else {
			*p++ = (uint8_t)e;
			p += seq_write(p, mx, n, mr, &mp);
		}
	}
	out->len += (size_t)(p - s);
	out->data[out->len] = 0;
done:
	free(tx);
	free(mx);
	free(tr);
	free(mr);
	obs_chunk_enc_release(&g);
	return rc;
}

/* ---- decoder ---------------------------------------------------------- */


static inline uint64_t peek_fast(const uint8_t *p, uint64_t pos)
{
	uint64_t b = pos >> 3;
	unsigned s = pos & 7;
	return (obs_get_be64(p + b) << s) | ((uint64_t)p[b + 8] >> (8 - s));
}

static uint64_t peek_safe(const uint8_t *p, size_t len, uint64_t pos)
{
	uint8_t tmp[9] = { 0 };
	uint64_t b = pos >> 3;
	if (b < len)
		memcpy(tmp, p + b, len - b < 9 ? len - b : 9);
	unsigned s = pos & 7;
	return (obs_get_be64(tmp) << s) | ((uint64_t)tmp[8] >> (8 - s));
}

static inline uint64_t peek(const uint8_t *p, size_t len, uint64_t pos)
{
	if (__builtin_expect((pos >> 3) + 9 <= len, 1))
		return peek_fast(p, pos);
	return peek_safe(p, len, pos);
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

/* Read one block of cnt residuals at *off into r; a run of zero blocks sets
 * *zrun to the blocks of it still to come. */
static int read_block(const uint8_t *p, size_t len, size_t *off, size_t cnt, uint64_t *r,
		      size_t *zrun)
{
	if (*off >= len)
		return obs_corruptf(NULL, 0, "read_block: failed check (*off >= len)");
	unsigned w = p[(*off)++];
	if (!(w & 0x80)) {
		if (w > 64) {
			*zrun = w - 65;   /* this block and w - 65 more are zero */
			memset(r, 0, cnt * sizeof(r[0]));
			return 0;
		}
		size_t nb = (cnt * w + 7) / 8;
		if (nb > len - *off)
			return obs_corruptf(NULL, 0, "read_block: failed check (nb > len - *off)");
		if (w)
			unpack(p, len, *off, w, cnt, r);
		else
			memset(r, 0, cnt * sizeof(r[0]));
		*off += nb;
		return 0;
	}
	w &= 0x7f;
	if (w < 1 || w > 64 || *off >= len)
		return obs_corruptf(NULL, 0, "read_block: failed check (w < 1 || w > 64 || *off >= len)");
	size_t c = (size_t)p[(*off)++] + 1;
	size_t nb = (c * (6 + w) + 7) / 8;
	if (nb > len - *off)
		return obs_corruptf(NULL, 0, "read_block: failed check (nb > len - *off)");
	memset(r, 0, cnt * sizeof(r[0]));
	uint64_t pos = (uint64_t)*off * 8;
	for (size_t j = 0; j < c; j++) {
		unsigned at = (unsigned)(peek(p, len, pos) >> 58);
		uint64_t v = peek(p, len, pos + 6) >> (64 - w);
		if (at >= cnt)
			return obs_corruptf(NULL, 0, "read_block: failed check (at >= cnt)");
		r[at] = v;
		pos += 6 + w;
	}
	*off += nb;
	return 0;
}

/* Decode a seq of n values at *off into ti (integers) or, when ti is NULL,
 * into vd as (double)x / div. */
static int seq_decode(const uint8_t *p, size_t len, size_t *off, size_t n,
		      int64_t *ti, double *vd, double div)
{
	if (*off >= len)
		return obs_corruptf(NULL, 0, "seq_decode: failed check (*off >= len)");
	uint8_t flags = p[(*off)++];
	unsigned k = flags & 3;
	if ((flags & 0x3c) || (k < 3 ? k > n : n < 2))
		return obs_corruptf(NULL, 0, "seq_decode: failed check ((flags & 0x3c) || (k < 3 ? k > n : n < 2))");
	uint64_t x = 0, d = 0, u, g = 1, step = 0;
	if (k >= 1) {
		if (obs_varint_get(p, len, off, &u))
			return obs_corruptf(NULL, 0, "seq_decode: failed check (obs_varint_get(p, len, off, &u))");
		x = zz_dec(u);
		if (ti)
			ti[0] = (int64_t)x;
		else
			vd[0] = (double)(int64_t)x / div;
	}
	if (k == 2) {
		if (obs_varint_get(p, len, off, &u))
			return obs_corruptf(NULL, 0, "seq_decode: failed check (obs_varint_get(p, len, off, &u))");
		d = zz_dec(u);
		x += d;
		if (ti)
			ti[1] = (int64_t)x;
		else
			vd[1] = (double)(int64_t)x / div;
	}
	if (k == 3) {
		if (obs_varint_get(p, len, off, &u))
			return obs_corruptf(NULL, 0, "seq_decode: failed check (obs_varint_get(p, len, off, &u))");
		step = zz_dec(u);
	}
	if ((flags & 0x40) && obs_varint_get(p, len, off, &g))
		return obs_corruptf(NULL, 0, "seq_decode: failed check ((flags & 0x40) && obs_varint_get(p, len, off, &g))");
	uint64_t r[BLK];
	size_t zrun = 0;
	for (size_t i = first_resid(k); i < n; i += BLK) {
		size_t cnt = n - i < BLK ? n - i : BLK;
		if ((flags & 0x80) || zrun) {
			memset(r, 0, cnt * sizeof(r[0]));
			zrun -= zrun > 0;
		} else if (read_block(p, len, off, cnt, r, &zrun)) {
			return -EBADMSG;   /* detail recorded by read_block */
		}
		switch (k) {
		case 3:
			for (size_t j = 0; j < cnt; j++)
				r[j] = x + (uint64_t)(i + j) * step + zz_dec(r[j]) * g;
			break;
		case 0:
			for (size_t j = 0; j < cnt; j++)
				r[j] = zz_dec(r[j]) * g;
			break;
		case 1:
			for (size_t j = 0; j < cnt; j++) {
				x += zz_dec(r[j]) * g;
				r[j] = x;
			}
			break;
		default:
			for (size_t j = 0; j < cnt; j++) {
				d += zz_dec(r[j]) * g;
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
	if (obs_varint_get(p, len, off, &n) || n == 0 || n > OBS_ENC_MAX_SAMPLES)
		return obs_corruptf(NULL, 0, "packed_count: failed check (obs_varint_get(p, len, off, &n) || n == 0 || n > OBS_ENC_MAX_SAMPLES)");
	return (int)n;
}

int obs_enc_count(const uint8_t *p, size_t len)
{
	size_t off;
	if (!p || len < 1)
		return obs_corruptf(NULL, 0, "obs_enc_count: failed check (!p || len < 1)");
	switch (p[0]) {
	case OBS_ENC_GORILLA:
		return obs_chunk_count(p + 1, len - 1);
	case OBS_ENC_CONST:
	case OBS_ENC_DECIMAL:
		return packed_count(p, len, &off);
	default:
		return obs_corruptf(NULL, 0, "obs_enc_count: expected a known type");
	}
}

int obs_enc_decode(const uint8_t *p, size_t len, int64_t *ts, double *vs, size_t room)
{
	size_t off;
	if (!p || len < 1)
		return obs_corruptf(NULL, 0, "obs_enc_decode: failed check (!p || len < 1)");
	if (p[0] == OBS_ENC_GORILLA)
		return obs_chunk_decode(p + 1, len - 1, ts, vs, room);
	if (p[0] != OBS_ENC_CONST && p[0] != OBS_ENC_DECIMAL)
		return obs_corruptf(NULL, 0, "obs_enc_decode: failed check (p[0] != OBS_ENC_CONST && p[0] != OBS_ENC_DECIMAL)");
	int n = packed_count(p, len, &off);
	if (n < 0)
		return n;
	if (room < (size_t)n)
		return -ENOSPC;
	if (seq_decode(p, len, &off, (size_t)n, ts, NULL, 1.0))
		return -EBADMSG;   /* detail recorded by seq_decode */
	for (int i = 1; i < n; i++)
		if (ts[i] <= ts[i - 1])
			return obs_corruptf(NULL, 0, "obs_enc_decode: failed check (ts[i] <= ts[i - 1])");
	if (p[0] == OBS_ENC_CONST) {
		if (len - off < 8)
			return obs_corruptf(NULL, 0, "obs_enc_decode: failed check (len - off < 8)");
		uint64_t u = obs_get_be64(p + off);
		double v;
		memcpy(&v, &u, 8);
		for (int i = 0; i < n; i++)
			vs[i] = v;
		return n;
	}
	if (off >= len || p[off] > E_MAX)
		return obs_corruptf(NULL, 0, "obs_enc_decode: failed check (off >= len || p[off] > E_MAX)");
	double div = p10[p[off++]];
	if (seq_decode(p, len, &off, (size_t)n, NULL, vs, div))
		return -EBADMSG;   /* detail recorded by seq_decode */
	return n;
}
