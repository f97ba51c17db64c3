/* sketch.c — DDSketch-style quantile sketch (see sketch.h).
 *
 * Encoding (all varints are LEB128, unsigned; "zz" = zigzag-signed):
 *
 *   full  := 0x01 | varint alpha_ppm | varint max_buckets | body
 *            | [min f64 LE | max f64 LE]          (only when count > 0)
 *   body  := flags u8                            (bit0 zero, bit1 +Inf, bit2 -Inf,
 *                                                 bit3 positive store, bit4 negative
 *                                                 store; other bits 0)
 *            | [varint zero_count] | [varint pinf_count] | [varint ninf_count]
 *            | [store positive] | [store negative]   (present per flag)
 *   store := varint nnz (>= 1) | zz (key0 - base) | varint count0
 *            | (varint key_{i-1} - key_i - 1 | varint count_i) * (nnz - 1)
 *
 * Only non-zero buckets are written, keys strictly decreasing from the
 * highest, which is the key of the largest magnitude of the store: base is
 * key(max) for the positive store when max is finite and >= the minimum
 * value, key(-min) for the negative store likewise, else 0 — so key0 - base
 * is usually 0 (one byte) and min/max must be known before the body is
 * decoded (the full encoding keeps them at its end). A valid body
 * has every present count > 0, keys within +-idx_limit (the largest key any
 * double can reach for this alpha), a store span (last key - first key + 1) of
 * at most max_buckets and a total count that fits 64 bits. */
#include "tsdb/sketch.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/corrupt.h"
#include "core/varint.h"

struct store {
	uint64_t *c;       /* counts of keys [base, base + cap) */
	int64_t base;
	int64_t cap;
	int64_t lo, hi;    /* used keys (c[lo], c[hi] non-zero) when total > 0 */
	uint64_t total;
};

struct obs_sketch {
	uint32_t alpha_ppm, max_buckets;
	double gamma, lg, inv_lg, rep_mul;
	int64_t idx_limit;
	struct store pos, neg;
	uint64_t zero, pinf, ninf, count;
	double min, max;
};

static void store_clear(struct store *st)
{
	st->total = 0;
	st->lo = st->hi = 0;
	if (st->c)
		memset(st->c, 0, (size_t)st->cap * sizeof *st->c);
}

static void store_release(struct store *st)
{
	free(st->c);
	memset(st, 0, sizeof *st);
}

/* Add n at key idx, collapsing the lowest keys into one so that the span
 * stays within maxb. On -ENOMEM the store is unchanged. */
static int store_add(struct store *st, int64_t idx, uint64_t n, int64_t maxb)
{
	if (!n)
		return 0;
	int64_t newlo = idx, newhi = idx;
	if (st->total) {
		newlo = st->lo < idx ? st->lo : idx;
		newhi = st->hi > idx ? st->hi : idx;
	}
	if (newhi - newlo + 1 > maxb)
		newlo = newhi - maxb + 1;
	if (!st->c || newlo < st->base || newhi >= st->base + st->cap) {
		int64_t span = newhi - newlo + 1;
		int64_t pad = span < 16 ? 8 : span / 2;
		if (pad > maxb)
			pad = maxb;
		int64_t nbase = newlo - pad, ncap = span + 2 * pad;
		uint64_t *nc = calloc((size_t)ncap, sizeof *nc);
		if (!nc)
			return -ENOMEM;
		if (st->total)
			for (int64_t k = st->lo; k <= st->hi; k++) {
				int64_t t = k < newlo ? newlo : k;
				nc[t - nbase] += st->c[k - st->base];
			}
		free(st->c);
		st->c = nc;
		st->base = nbase;
		st->cap = ncap;
	} else if (st->total && newlo > st->lo) {
		uint64_t fold = 0;
		for (int64_t k = st->lo; k < newlo; k++) {
			fold += st->c[k - st->base];
			st->c[k - st->base] = 0;
		}
		st->c[newlo - st->base] += fold;
	}
	st->c[(idx < newlo ? newlo : idx) - st->base] += n;
	st->lo = newlo;
	st->hi = newhi;
	st->total += n;
	return 0;
}

static int params_set(struct obs_sketch *s, uint32_t alpha_ppm, uint32_t max_buckets)
{
	if (!alpha_ppm)
		alpha_ppm = OBS_SKETCH_ALPHA_PPM;
	if (!max_buckets)
		max_buckets = OBS_SKETCH_MAX_BUCKETS;
	if (alpha_ppm > 500000 || max_buckets < 16 || max_buckets > (1u << 20))
		return -EINVAL;
	double a = alpha_ppm / 1e6;
	s->alpha_ppm = alpha_ppm;
	s->max_buckets = max_buckets;
	s->gamma = (1 + a) / (1 - a);
	s->lg = log(s->gamma);
	s->inv_lg = 1 / s->lg;
	s->rep_mul = log(2 / (1 + s->gamma));
	/* |log(v)| <= 745 for every finite non-zero double */
	s->idx_limit = (int64_t)ceil(745.2 * s->inv_lg) + 1;
	return 0;
}

int obs_sketch_new(uint32_t alpha_ppm, uint32_t max_buckets, struct obs_sketch **out)
{
	struct obs_sketch *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	int rc = params_set(s, alpha_ppm, max_buckets);
	if (rc) {
		free(s);
		return rc;
	}
	s->min = s->max = NAN;
	*out = s;
	return 0;
}

void obs_sketch_free(struct obs_sketch *s)
{
	if (!s)
		return;
	store_release(&s->pos);
	store_release(&s->neg);
	free(s);
}

void obs_sketch_clear(struct obs_sketch *s)
{
	store_clear(&s->pos);
	store_clear(&s->neg);
	s->zero = s->pinf = s->ninf = s->count = 0;
	s->min = s->max = NAN;
}

int obs_sketch_dup(const struct obs_sketch *s, struct obs_sketch **out)
{
	struct obs_sketch *d;
	int rc = obs_sketch_new(s->alpha_ppm, s->max_buckets, &d);
	if (rc)
		return rc;
	rc = obs_sketch_merge(d, s);
	if (rc) {
		obs_sketch_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

uint32_t obs_sketch_alpha_ppm(const struct obs_sketch *s) { return s->alpha_ppm; }
uint32_t obs_sketch_max_buckets(const struct obs_sketch *s) { return s->max_buckets; }
uint64_t obs_sketch_count(const struct obs_sketch *s) { return s->count; }
double obs_sketch_min(const struct obs_sketch *s) { return s->count ? s->min : NAN; }
double obs_sketch_max(const struct obs_sketch *s) { return s->count ? s->max : NAN; }

static int64_t key_of(const struct obs_sketch *s, double mag)
{
	int64_t k = (int64_t)ceil(log(mag) * s->inv_lg);
	if (k > s->idx_limit)
		k = s->idx_limit;
	if (k < -s->idx_limit)
		k = -s->idx_limit;
	return k;
}

static double value_of(const struct obs_sketch *s, int64_t key)
{
	return exp((double)key * s->lg + s->rep_mul);
}

static void minmax_note(struct obs_sketch *s, double lo, double hi)
{
	if (!s->count) {
		s->min = lo;
		s->max = hi;
		return;
	}
	if (lo < s->min)
		s->min = lo;
	if (hi > s->max)
		s->max = hi;
}

int obs_sketch_add_n(struct obs_sketch *s, double v, uint64_t n)
{
	if (isnan(v) || !n)
		return 0;
	if (s->count + n < s->count)
		return -EOVERFLOW;
	int rc = 0;
	if (isinf(v)) {
		if (v > 0)
			s->pinf += n;
		else
			s->ninf += n;
	} else if (fabs(v) < OBS_SKETCH_MIN_VALUE) {
		s->zero += n;
	} else if (v > 0) {
		rc = store_add(&s->pos, key_of(s, v), n, s->max_buckets);
	} else {
		rc = store_add(&s->neg, key_of(s, -v), n, s->max_buckets);
	}
	if (rc)
		return rc;
	minmax_note(s, v, v);
	s->count += n;
	return 0;
}

int obs_sketch_add(struct obs_sketch *s, double v)
{
	return obs_sketch_add_n(s, v, 1);
}

static int store_merge(struct store *d, const struct store *src, int64_t maxb)
{
	if (!src->total)
		return 0;
	/* the highest key first, so that the collapse bound is set at once */
	for (int64_t k = src->hi; k >= src->lo; k--) {
		uint64_t n = src->c[k - src->base];
		if (n) {
			int rc = store_add(d, k, n, maxb);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int obs_sketch_merge(struct obs_sketch *dst, const struct obs_sketch *src)
{
	if (dst->alpha_ppm != src->alpha_ppm || dst->max_buckets != src->max_buckets)
		return -EINVAL;
	if (!src->count)
		return 0;
	if (dst->count + src->count < dst->count)
		return -EOVERFLOW;
	int rc = store_merge(&dst->pos, &src->pos, dst->max_buckets);
	if (!rc)
		rc = store_merge(&dst->neg, &src->neg, dst->max_buckets);
	if (rc)
		return rc;
	dst->zero += src->zero;
	dst->pinf += src->pinf;
	dst->ninf += src->ninf;
	minmax_note(dst, src->min, src->max);
	dst->count += src->count;
	return 0;
}

/* The value answering rank r (0-based, r < count), before clamping. */
static double value_at_rank(const struct obs_sketch *s, uint64_t r)
{
	if (r < s->ninf)
		return -INFINITY;
	r -= s->ninf;
	if (r < s->neg.total) {
		for (int64_t k = s->neg.hi; k >= s->neg.lo; k--) {
			uint64_t n = s->neg.c[k - s->neg.base];
			if (r < n)
				return -value_of(s, k);
			r -= n;
		}
	}
	r -= s->neg.total;
	if (r < s->zero)
		return 0;
	r -= s->zero;
	if (r < s->pos.total) {
		for (int64_t k = s->pos.lo; k <= s->pos.hi; k++) {
			uint64_t n = s->pos.c[k - s->pos.base];
			if (r < n)
				return value_of(s, k);
			r -= n;
		}
	}
	return INFINITY;
}

static double clamp_rank(const struct obs_sketch *s, uint64_t r)
{
	if (r == 0)
		return s->min;
	if (r + 1 >= s->count)
		return s->max;
	double v = value_at_rank(s, r);
	if (v < s->min)
		v = s->min;
	if (v > s->max)
		v = s->max;
	return v;
}

double obs_sketch_quantile(const struct obs_sketch *s, double q)
{
	if (!s->count || !(q >= 0 && q <= 1))
		return NAN;
	double rank = q * (double)(s->count - 1);
	uint64_t lo = (uint64_t)rank;
	if (lo >= s->count)
		lo = s->count - 1;
	double vlo = clamp_rank(s, lo);
	double frac = rank - (double)lo;
	if (lo + 1 >= s->count || frac <= 0)
		return vlo;
	double vhi = clamp_rank(s, lo + 1);
	if (vhi == vlo)
		return vlo;
	return vlo + (vhi - vlo) * frac;
}

/* ---- codec ---- */




static int64_t store_base(const struct obs_sketch *s, double extreme)
{
	return isfinite(extreme) && extreme >= OBS_SKETCH_MIN_VALUE ? key_of(s, extreme) : 0;
}

static int store_encode(const struct store *st, struct obs_buf *out, int64_t base)
{
	uint64_t nnz = 0;
	for (int64_t k = st->lo; k <= st->hi; k++)
		nnz += st->c[k - st->base] != 0;
	int rc = obs_buf_varint(out, nnz);
	int64_t prev = 0;
	bool first = true;
	for (int64_t k = st->hi; k >= st->lo && !rc; k--) {
		uint64_t n = st->c[k - st->base];
		if (!n)
			continue;
		rc = obs_buf_varint(out, first ? obs_zigzag(k - base) : (uint64_t)(prev - k - 1));
		if (!rc)
			rc = obs_buf_varint(out, n);
		prev = k;
		first = false;
	}
	return rc;
}

int obs_sketch_encode_body(const struct obs_sketch *s, struct obs_buf *out)
{
	size_t old = out->len;
	uint8_t flags = (s->zero ? 1 : 0) | (s->pinf ? 2 : 0) | (s->ninf ? 4 : 0) | (s->pos.total ? 8 : 0) |
			(s->neg.total ? 16 : 0);
	int rc = obs_buf_append(out, &flags, 1);
	if (!rc && s->zero)
		rc = obs_buf_varint(out, s->zero);
	if (!rc && s->pinf)
		rc = obs_buf_varint(out, s->pinf);
	if (!rc && s->ninf)
		rc = obs_buf_varint(out, s->ninf);
	if (!rc && s->pos.total)
		rc = store_encode(&s->pos, out, store_base(s, s->max));
	if (!rc && s->neg.total)
		rc = store_encode(&s->neg, out, store_base(s, -s->min));
	if (rc)
		out->len = old;
	return rc;
}

static int add_checked(uint64_t *acc, uint64_t n)
{
	if (*acc + n < *acc)
		return obs_corruptf(NULL, 0, "add_checked: failed check (*acc + n < *acc)");
	*acc += n;
	return 0;
}

static int store_decode(const struct obs_sketch *s, struct store *st, const uint8_t *p, size_t len, size_t *pos,
			uint64_t *total, int64_t base)
{
	uint64_t nnz, u, n;
	if (obs_varint_get(p, len, pos, &nnz) || nnz == 0 || nnz > s->max_buckets)
		return obs_corruptf(NULL, 0, "store_decode: failed check (obs_varint_get(p, len, pos, &nnz) || nnz == 0 || nnz > s->max_buckets)");
	int64_t first = 0, k = 0;
	for (uint64_t i = 0; i < nnz; i++) {
		if (obs_varint_get(p, len, pos, &u))
			return obs_corruptf(NULL, 0, "store_decode: failed check (obs_varint_get(p, len, pos, &u))");
		if (i == 0) {
			if (u > (uint64_t)4 * (uint64_t)s->idx_limit + 2)
				return obs_corruptf(NULL, 0, "store_decode: failed check (u > (uint64_t)4 * (uint64_t)s->idx_limit + 2)");
			k = base + obs_unzigzag(u);
			if (k < -s->idx_limit || k > s->idx_limit)
				return obs_corruptf(NULL, 0, "store_decode: failed check (k < -s->idx_limit || k > s->idx_limit)");
			first = k;
		} else {
			if (u >= (uint64_t)s->max_buckets)
				return obs_corruptf(NULL, 0, "store_decode: failed check (u >= (uint64_t)s->max_buckets)");
			k -= (int64_t)u + 1;
			if (k < -s->idx_limit || first - k + 1 > (int64_t)s->max_buckets)
				return obs_corruptf(NULL, 0, "store_decode: failed check (k < -s->idx_limit || first - k + 1 > (int64_t)s->max_buckets)");
		}
		if (obs_varint_get(p, len, pos, &n) || n == 0 || add_checked(total, n))
			return obs_corruptf(NULL, 0, "store_decode: failed check (obs_varint_get(p, len, pos, &n) || n == 0 || add_checked(total, n))");
		int rc = store_add(st, k, n, s->max_buckets);
		if (rc)
			return rc;
	}
	return 0;
}

int obs_sketch_decode_body(struct obs_sketch *s, const uint8_t *p, size_t len, size_t *pos, double min,
			   double max)
{
	obs_sketch_clear(s);
	if (*pos >= len)
		return obs_corruptf(NULL, 0, "obs_sketch_decode_body: failed check (*pos >= len)");
	uint8_t flags = p[(*pos)++];
	if (flags & ~0x1f)
		return obs_corruptf(NULL, 0, "obs_sketch_decode_body: failed check (flags & ~0x1f)");
	uint64_t total = 0;
	int rc = 0;
	uint64_t *cnt[3] = { &s->zero, &s->pinf, &s->ninf };
	for (int i = 0; i < 3 && !rc; i++)
		if (flags & (1 << i)) {
			if (obs_varint_get(p, len, pos, cnt[i]) || *cnt[i] == 0 || add_checked(&total, *cnt[i]))
				rc = obs_corruptf(NULL, 0, "obs_sketch_decode_body: failed check (obs_varint_get(p, len, pos, cnt[i]) || *cnt[i] == 0 || add_checked(&total, *cnt[i]))");
		}
	if (!rc && (flags & 8))
		rc = store_decode(s, &s->pos, p, len, pos, &total, store_base(s, max));
	if (!rc && (flags & 16))
		rc = store_decode(s, &s->neg, p, len, pos, &total, store_base(s, -min));
	if (!rc && total && (isnan(min) || isnan(max) || min > max))
		rc = obs_corruptf(NULL, 0, "obs_sketch_decode_body: failed check (!rc && total && (isnan(min) || isnan(max) || min > max))");
	if (rc) {
		obs_sketch_clear(s);
		return rc;
	}
	s->count = total;
	if (total) {
		s->min = min;
		s->max = max;
	}
	return 0;
}

static void put_f64(uint8_t *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(u >> (8 * i));
}

static double get_f64(const uint8_t *b)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)b[i] << (8 * i);
	double v;
	memcpy(&v, &u, 8);
	return v;
}

int obs_sketch_encode(const struct obs_sketch *s, struct obs_buf *out)
{
	size_t old = out->len;
	uint8_t ver = 1;
	int rc = obs_buf_append(out, &ver, 1);
	if (!rc)
		rc = obs_buf_varint(out, s->alpha_ppm);
	if (!rc)
		rc = obs_buf_varint(out, s->max_buckets);
	if (!rc)
		rc = obs_sketch_encode_body(s, out);
	if (!rc && s->count) {
		uint8_t mm[16];
		put_f64(mm, s->min);
		put_f64(mm + 8, s->max);
		rc = obs_buf_append(out, mm, 16);
	}
	if (rc)
		out->len = old;
	return rc;
}

int obs_sketch_decode(const void *buf, size_t len, struct obs_sketch **out)
{
	const uint8_t *p = buf;
	size_t pos = 0;
	uint64_t a, m;
	if (len < 1 || p[0] != 1)
		return obs_corruptf(NULL, 0, "obs_sketch_decode: failed check (len < 1 || p[0] != 1)");
	pos = 1;
	if (obs_varint_get(p, len, &pos, &a) || obs_varint_get(p, len, &pos, &m) || a == 0 || a > 500000 || m < 16 ||
	    m > (1u << 20))
		return obs_corruptf(NULL, 0, "obs_sketch_decode: failed check (obs_varint_get(p, len, &pos, &a) || obs_varint_get(p, len, &pos, &m) || a == 0 || a > 500000 || m < 16 || m > (1u << 20))");
	struct obs_sketch *s;
	int rc = obs_sketch_new((uint32_t)a, (uint32_t)m, &s);
	if (rc)
		return rc;
	/* the body first, min/max after it: peek them from the end */
	size_t body_end = len;
	double mn = NAN, mx = NAN;
	if (len >= pos + 1 + 16 && p[pos] != 0) {
		body_end = len - 16;
		mn = get_f64(p + body_end);
		mx = get_f64(p + body_end + 8);
	}
	rc = obs_sketch_decode_body(s, p, body_end, &pos, mn, mx);
	if (!rc && pos != body_end)
		rc = obs_corruptf(NULL, 0, "obs_sketch_decode: failed check (!rc && pos != body_end)");
	if (rc) {
		obs_sketch_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static bool store_equal(const struct store *a, const struct store *b)
{
	if (a->total != b->total)
		return false;
	if (!a->total)
		return true;
	if (a->lo != b->lo || a->hi != b->hi)
		return false;
	for (int64_t k = a->lo; k <= a->hi; k++)
		if (a->c[k - a->base] != b->c[k - b->base])
			return false;
	return true;
}

int obs_sketch_equal(const struct obs_sketch *a, const struct obs_sketch *b)
{
	if (a->alpha_ppm != b->alpha_ppm || a->max_buckets != b->max_buckets || a->count != b->count ||
	    a->zero != b->zero || a->pinf != b->pinf || a->ninf != b->ninf)
		return 0;
	if (a->count && (a->min != b->min || a->max != b->max))
		return 0;
	return store_equal(&a->pos, &b->pos) && store_equal(&a->neg, &b->neg);
}
