/* test_sketch.c — quantile sketch: accuracy against exact rank-based
 * quantiles, exact merges, bounded size, codec round trips, corrupt input. */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/sketch.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static double unif(void) /* (0, 1) */
{
	return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
	return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif());
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The sketch's quantile q of the sorted v[0..n) is within alpha of the
 * interpolated exact quantile, relative to the two ranks it lies between. */
static void check_quantile(const struct obs_sketch *s, const double *sorted, size_t n, double q, double alpha)
{
	double rank = q * (double)(n - 1);
	size_t lo = (size_t)rank;
	size_t hi = lo + 1 < n ? lo + 1 : lo;
	double f = rank - (double)lo;
	double truth = sorted[lo] + (sorted[hi] - sorted[lo]) * f;
	double got = obs_sketch_quantile(s, q);
	double tol = alpha * (fabs(sorted[lo]) * (1 - f) + fabs(sorted[hi]) * f) * (1 + 1e-9) + 1e-300;
	cr_assert(fabs(got - truth) <= tol, "q=%g: got %.17g, exact %.17g (tolerance %g)", q, got, truth, tol);
}

static const double qs[] = { 0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1 };

static void accuracy(double (*gen)(void), const char *what)
{
	size_t n = 200000;
	double *v = malloc(n * sizeof *v);
	struct obs_sketch *s;
	cr_assert_eq(obs_sketch_new(0, 0, &s), 0);
	for (size_t i = 0; i < n; i++) {
		v[i] = gen();
		cr_assert_eq(obs_sketch_add(s, v[i]), 0);
	}
	cr_assert_eq(obs_sketch_count(s), n);
	qsort(v, n, sizeof *v, cmp_double);
	cr_assert_eq(obs_sketch_min(s), v[0]);
	cr_assert_eq(obs_sketch_max(s), v[n - 1]);
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
		check_quantile(s, v, n, qs[i], 0.01);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_sketch_encode(s, &b), 0);
	printf("sketch %s: %zu values -> %zu bytes encoded\n", what, n, b.len);
	obs_buf_release(&b);
	obs_sketch_free(s);
	free(v);
}

static double gen_uniform(void) { return 1000 * unif(); }
static double gen_exp(void) { return -log(unif()) * 3.5; }
static double gen_normal(void) { return 50 + 20 * normal(); }
static double gen_normal0(void) { return normal(); }   /* both signs */
static double gen_latency(void) { return exp(2 + 1.5 * normal()); }   /* lognormal, wide */

Test(sketch, accuracy_uniform) { accuracy(gen_uniform, "uniform"); }
Test(sketch, accuracy_exponential) { accuracy(gen_exp, "exponential"); }
Test(sketch, accuracy_normal) { accuracy(gen_normal, "normal"); }
Test(sketch, accuracy_normal_both_signs) { accuracy(gen_normal0, "normal(0,1)"); }
Test(sketch, accuracy_lognormal) { accuracy(gen_latency, "lognormal"); }

Test(sketch, small_sets_and_specials)
{
	struct obs_sketch *s;
	cr_assert_eq(obs_sketch_new(0, 0, &s), 0);
	cr_assert(isnan(obs_sketch_quantile(s, 0.5)));
	cr_assert(isnan(obs_sketch_min(s)));
	cr_assert_eq(obs_sketch_add(s, NAN), 0);
	cr_assert_eq(obs_sketch_count(s), 0);
	cr_assert_eq(obs_sketch_add(s, 42.5), 0);
	cr_assert_eq(obs_sketch_quantile(s, 0), 42.5);
	cr_assert_eq(obs_sketch_quantile(s, 0.5), 42.5);
	cr_assert_eq(obs_sketch_quantile(s, 1), 42.5);
	cr_assert(isnan(obs_sketch_quantile(s, 1.5)));
	cr_assert(isnan(obs_sketch_quantile(s, -0.1)));
	cr_assert(isnan(obs_sketch_quantile(s, NAN)));
	cr_assert_eq(obs_sketch_add(s, 0), 0);
	cr_assert_eq(obs_sketch_add(s, -7), 0);
	cr_assert_eq(obs_sketch_add(s, INFINITY), 0);
	cr_assert_eq(obs_sketch_add(s, -INFINITY), 0);
	cr_assert_eq(obs_sketch_count(s), 5);
	/* sorted: -inf -7 0 42.5 inf */
	cr_assert_eq(obs_sketch_quantile(s, 0), -INFINITY);
	cr_assert(fabs(obs_sketch_quantile(s, 0.25) + 7) <= 0.07 * 1.000001);
	cr_assert_eq(obs_sketch_quantile(s, 0.5), 0);
	cr_assert(fabs(obs_sketch_quantile(s, 0.75) - 42.5) <= 0.425 * 1.000001);
	cr_assert_eq(obs_sketch_quantile(s, 1), INFINITY);
	/* interpolation between ranks 1 (-7) and 2 (0) */
	double mid = obs_sketch_quantile(s, 0.375);
	cr_assert(mid < 0 && mid > -7 * 1.01 / 2 - 1e-9 && mid < -7 * 0.99 / 2 + 1e-9, "%g", mid);
	obs_sketch_clear(s);
	cr_assert_eq(obs_sketch_count(s), 0);
	cr_assert(isnan(obs_sketch_quantile(s, 0.5)));
	obs_sketch_free(s);
	obs_sketch_free(NULL);
}

Test(sketch, parameters)
{
	struct obs_sketch *s = NULL;
	cr_assert_eq(obs_sketch_new(500001, 0, &s), -EINVAL);
	cr_assert_eq(obs_sketch_new(0, 15, &s), -EINVAL);
	cr_assert_eq(obs_sketch_new(1000, 100, &s), 0);
	cr_assert_eq(obs_sketch_alpha_ppm(s), 1000);
	cr_assert_eq(obs_sketch_max_buckets(s), 100);
	struct obs_sketch *t;
	cr_assert_eq(obs_sketch_new(0, 0, &t), 0);
	cr_assert_eq(obs_sketch_alpha_ppm(t), OBS_SKETCH_ALPHA_PPM);
	cr_assert_eq(obs_sketch_add(t, 1), 0);
	cr_assert_eq(obs_sketch_merge(s, t), -EINVAL);
	cr_assert_eq(obs_sketch_count(s), 0);
	obs_sketch_free(s);
	obs_sketch_free(t);
}

Test(sketch, tighter_alpha_is_tighter)
{
	size_t n = 50000;
	double *v = malloc(n * sizeof *v);
	struct obs_sketch *s;
	cr_assert_eq(obs_sketch_new(1000, 1 << 16, &s), 0);   /* 0.1 %, no collapsing */
	for (size_t i = 0; i < n; i++) {
		v[i] = gen_latency();
		obs_sketch_add(s, v[i]);
	}
	qsort(v, n, sizeof *v, cmp_double);
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
		check_quantile(s, v, n, qs[i], 0.001);
	obs_sketch_free(s);
	free(v);
}

static void encode_eq(const struct obs_sketch *a, const struct obs_sketch *b)
{
	struct obs_buf x, y;
	obs_buf_init(&x);
	obs_buf_init(&y);
	cr_assert_eq(obs_sketch_encode(a, &x), 0);
	cr_assert_eq(obs_sketch_encode(b, &y), 0);
	cr_assert_eq(x.len, y.len);
	cr_assert(!memcmp(x.data, y.data, x.len));
	obs_buf_release(&x);
	obs_buf_release(&y);
}

static void merge_equivalence(uint32_t maxb)
{
	enum { N = 60000, PARTS = 7 };
	double *v = malloc(N * sizeof *v);
	struct obs_sketch *all, *part[PARTS], *m1, *m2;
	cr_assert_eq(obs_sketch_new(0, maxb, &all), 0);
	for (int k = 0; k < PARTS; k++)
		cr_assert_eq(obs_sketch_new(0, maxb, &part[k]), 0);
	for (size_t i = 0; i < N; i++) {
		/* wide range of both signs, zeros, specials */
		switch (rnd() % 10) {
		case 0: v[i] = 0; break;
		case 1: v[i] = -exp(40 * normal()); break;
		case 2: v[i] = (rnd() % 50) ? exp(60 * normal()) : INFINITY; break;
		default: v[i] = exp(4 * normal());
		}
		cr_assert_eq(obs_sketch_add(all, v[i]), 0);
		cr_assert_eq(obs_sketch_add(part[rnd() % PARTS], v[i]), 0);
	}
	cr_assert_eq(obs_sketch_new(0, maxb, &m1), 0);
	cr_assert_eq(obs_sketch_new(0, maxb, &m2), 0);
	for (int k = 0; k < PARTS; k++)
		cr_assert_eq(obs_sketch_merge(m1, part[k]), 0);
	for (int k = PARTS - 1; k >= 0; k--)
		cr_assert_eq(obs_sketch_merge(m2, part[k]), 0);
	cr_assert(obs_sketch_equal(m1, all));
	cr_assert(obs_sketch_equal(m2, all));
	encode_eq(m1, all);
	encode_eq(m2, all);
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		cr_assert_eq(obs_sketch_quantile(m1, qs[i]), obs_sketch_quantile(all, qs[i]));
		cr_assert_eq(obs_sketch_quantile(m2, qs[i]), obs_sketch_quantile(all, qs[i]));
	}
	struct obs_sketch *d;
	cr_assert_eq(obs_sketch_dup(all, &d), 0);
	cr_assert(obs_sketch_equal(d, all));
	cr_assert_eq(obs_sketch_add(d, 1), 0);
	cr_assert(!obs_sketch_equal(d, all));
	obs_sketch_free(d);
	for (int k = 0; k < PARTS; k++)
		obs_sketch_free(part[k]);
	obs_sketch_free(all);
	obs_sketch_free(m1);
	obs_sketch_free(m2);
	free(v);
}

Test(sketch, merge_is_sketch_of_union) { merge_equivalence(0); }
Test(sketch, merge_is_sketch_of_union_collapsing) { merge_equivalence(32); }

Test(sketch, bounded_size_keeps_high_quantiles)
{
	size_t n = 100000;
	double *v = malloc(n * sizeof *v);
	struct obs_sketch *s;
	cr_assert_eq(obs_sketch_new(0, 64, &s), 0);
	for (size_t i = 0; i < n; i++) {
		v[i] = exp(30 * unif() - 15);   /* 1e-7 .. 3e6: about 1500 buckets at 1 % */
		cr_assert_eq(obs_sketch_add(s, v[i]), 0);
	}
	qsort(v, n, sizeof *v, cmp_double);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_sketch_encode(s, &b), 0);
	cr_assert(b.len <= 64 * 5 + 40, "%zu bytes", b.len);
	cr_assert_eq(obs_sketch_count(s), n);
	/* the kept buckets cover the top 64 * 2 % of the log range: q >= 0.96 */
	check_quantile(s, v, n, 0.99, 0.01);
	check_quantile(s, v, n, 0.999, 0.01);
	check_quantile(s, v, n, 1, 0.01);
	cr_assert_eq(obs_sketch_quantile(s, 0), v[0]);
	/* collapsed low quantiles are over-estimates but stay within [min, max] */
	double lowq = obs_sketch_quantile(s, 0.1);
	cr_assert(lowq >= v[0] && lowq <= v[n - 1]);
	obs_buf_release(&b);
	obs_sketch_free(s);
	free(v);
}

static struct obs_sketch *sample_sketch(size_t n)
{
	struct obs_sketch *s;
	cr_assert_eq(obs_sketch_new(0, 0, &s), 0);
	for (size_t i = 0; i < n; i++)
		obs_sketch_add(s, (rnd() % 13 == 0) ? -gen_exp() : (rnd() % 17 == 0) ? 0 : gen_latency());
	obs_sketch_add(s, INFINITY);
	obs_sketch_add(s, -INFINITY);
	return s;
}

Test(sketch, codec_round_trip)
{
	for (size_t n = 0; n < 3000; n = n * 3 + 1) {
		struct obs_sketch *s = sample_sketch(n), *d;
		if (n == 0)
			obs_sketch_clear(s);
		struct obs_buf b, c;
		obs_buf_init(&b);
		obs_buf_init(&c);
		cr_assert_eq(obs_sketch_encode(s, &b), 0);
		cr_assert_eq(obs_sketch_decode(b.data, b.len, &d), 0, "n=%zu", n);
		cr_assert(obs_sketch_equal(s, d));
		cr_assert_eq(obs_sketch_encode(d, &c), 0);
		cr_assert_eq(b.len, c.len);
		cr_assert(!memcmp(b.data, c.data, b.len));
		for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
			double x = obs_sketch_quantile(s, qs[i]), y = obs_sketch_quantile(d, qs[i]);
			cr_assert(x == y || (isnan(x) && isnan(y)));
		}
		/* the body codec restores min/max from the caller */
		size_t before = c.len, pos = before;
		cr_assert_eq(obs_sketch_encode_body(s, &c), 0);
		obs_sketch_clear(d);
		cr_assert_eq(obs_sketch_decode_body(d, (const uint8_t *)c.data, c.len, &pos, obs_sketch_min(s),
						    obs_sketch_max(s)), 0);
		cr_assert_eq(pos, c.len);
		cr_assert(obs_sketch_equal(s, d));
		obs_buf_release(&b);
		obs_buf_release(&c);
		obs_sketch_free(s);
		obs_sketch_free(d);
	}
}

Test(sketch, corrupt_input_is_refused)
{
	struct obs_sketch *s = sample_sketch(500), *d;
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_sketch_encode(s, &b), 0);
	uint8_t *p = (uint8_t *)b.data;
	/* every strict prefix */
	for (size_t len = 0; len < b.len; len++)
		cr_assert_eq(obs_sketch_decode(p, len, &d), -EBADMSG, "prefix %zu of %zu", len, b.len);
	/* trailing garbage */
	uint8_t *q = malloc(b.len + 1);
	memcpy(q, p, b.len);
	q[b.len] = 0;
	cr_assert_eq(obs_sketch_decode(q, b.len + 1, &d), -EBADMSG);
	/* version, parameters, flags */
	memcpy(q, p, b.len);
	q[0] = 2;
	cr_assert_eq(obs_sketch_decode(q, b.len, &d), -EBADMSG);
	memcpy(q, p, b.len);
	q[5] |= 0x80;   /* version, two 2-byte varints, then flags */
	cr_assert_eq(obs_sketch_decode(q, b.len, &d), -EBADMSG);
	/* min > max, NaN min */
	memcpy(q, p, b.len);
	double bad = -1e300;
	memcpy(q + b.len - 8, &bad, 8);
	memcpy(q + b.len - 16, &(double){ 1e300 }, 8);
	cr_assert_eq(obs_sketch_decode(q, b.len, &d), -EBADMSG);
	memcpy(q, p, b.len);
	bad = NAN;
	memcpy(q + b.len - 16, &bad, 8);
	cr_assert_eq(obs_sketch_decode(q, b.len, &d), -EBADMSG);
	/* random byte flips: refused or a valid sketch that re-encodes to itself */
	for (int i = 0; i < 20000; i++) {
		memcpy(q, p, b.len);
		q[rnd() % b.len] ^= (uint8_t)(1u << (rnd() % 8));
		int rc = obs_sketch_decode(q, b.len, &d);
		cr_assert(rc == 0 || rc == -EBADMSG);
		if (!rc) {
			struct obs_buf c;
			obs_buf_init(&c);
			cr_assert_eq(obs_sketch_encode(d, &c), 0);
			struct obs_sketch *e;
			cr_assert_eq(obs_sketch_decode(c.data, c.len, &e), 0);
			cr_assert(obs_sketch_equal(d, e));
			obs_sketch_free(e);
			obs_buf_release(&c);
			obs_sketch_free(d);
		}
	}
	/* a key out of range, a zero count */
	static const uint8_t bad_key[] = { 1, 0x90, 0x4e, 0x80, 0x10, 8, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f, 1 };
	cr_assert_eq(obs_sketch_decode(bad_key, sizeof bad_key, &d), -EBADMSG);
	static const uint8_t zero_cnt[] = { 1, 0x90, 0x4e, 0x80, 0x10, 1, 0 };
	cr_assert_eq(obs_sketch_decode(zero_cnt, sizeof zero_cnt, &d), -EBADMSG);
	free(q);
	obs_buf_release(&b);
	obs_sketch_free(s);
}
