/* test_rollup.c — rollup buckets against obs_downsample on the same raw data,
 * tier merges, rollup files (round trip, ranges, corruption) and the
 * year-long series served at 1 h. */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tsdb/downsample.h"
#include "tsdb/rollup.h"

#define MIN_MS 60000
#define HOUR_MS 3600000

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static double unif(void)
{
	return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}

static uint64_t bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	return u;
}

static double nan_payload(uint64_t payload)
{
	uint64_t u = 0x7ff8000000000000ull | (payload & 0x7ffffffffffffull);
	double v;
	memcpy(&v, &u, 8);
	return v;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A random series: irregular intervals (1 s .. 40 s), gaps of hours, NaN
 * runs (with payloads), both signs, starting before the epoch. */
static void random_series(struct obs_samples *s, size_t n)
{
	int64_t t = -7 * (int64_t)HOUR_MS - 12345;
	double level = 100;
	for (size_t i = 0; i < n; i++) {
		t += 1000 + (int64_t)(rnd() % 40000);
		if (rnd() % 500 == 0)
			t += (int64_t)(rnd() % (5 * (uint64_t)HOUR_MS));
		if (rnd() % 97 == 0 && i)
			t = s->t[i - 1];   /* duplicate timestamp */
		level += (unif() - 0.5) * 10;
		double v = level * (1 + 0.2 * (unif() - 0.5));
		uint64_t r = rnd() % 100;
		if (r < 5)
			v = nan_payload(rnd());
		else if (r < 7)
			v = -v;
		else if (r < 8)
			v = 0;
		cr_assert_eq(obs_samples_push(s, t, v), 0);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static const char *fns[] = { "avg", "min", "max", "sum", "count", "last", "p0", "p50", "p90", "p99", "p99.9", "p100" };

/* Compare one rollup series with obs_downsample of raw for every FN. Exact
 * for the simple functions (sums within rel relative to sum |v|), quantiles
 * within 1 % of the bracketing exact ranks. */
static void check_against_raw(const struct obs_rollup_series *r, const struct obs_samples *raw, int64_t step,
			      double rel)
{
	for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
		struct obs_aggfn fn;
		cr_assert_eq(obs_aggfn_parse(fns[f], strlen(fns[f]), &fn), 0);
		struct obs_samples want, got;
		obs_samples_init(&want);
		obs_samples_init(&got);
		cr_assert_eq(obs_downsample(raw, step, fn, &want), 0);
		cr_assert_eq(obs_rollup_to_samples(r, fn, &got), 0);
		cr_assert_eq(got.n, want.n, "%s: %zu buckets, raw %zu", fns[f], got.n, want.n);
		size_t j = 0;   /* raw cursor */
		double *vals = malloc(raw->n * sizeof *vals);
		for (size_t i = 0; i < got.n; i++) {
			cr_assert_eq(got.t[i], want.t[i]);
			/* the raw values of this bucket */
			size_t k = 0;
			double abssum = 0;
			int has_inf = 0;
			while (j < raw->n && raw->t[j] < want.t[i] + step) {
				if (!isnan(raw->v[j])) {
					vals[k++] = raw->v[j];
					abssum += fabs(raw->v[j]);
					has_inf |= isinf(raw->v[j]);
				}
				j++;
			}
			double g = got.v[i], w = want.v[i];
			if (fn.kind == OBS_AGG_LAST) {
				cr_assert_eq(bits(g), bits(w), "last differs at %lld", (long long)got.t[i]);
			} else if (g == w) {
				/* exact (infinities included) */
			} else if (fn.kind == OBS_AGG_QUANTILE && (isnan(w) || isinf(w)) && has_inf) {
				/* between a finite rank and an infinite one the exact
				 * interpolation is infinite; the sketch answers from ranks */
			} else if (isnan(w) || isnan(g)) {
				cr_assert(isnan(w) && isnan(g), "%s at %lld: %g vs %g", fns[f], (long long)got.t[i], g, w);
			} else if (fn.kind == OBS_AGG_QUANTILE) {
				qsort(vals, k, sizeof *vals, cmp_double);
				double rank = fn.q * (double)(k - 1);
				size_t lo = (size_t)rank, hi = lo + 1 < k ? lo + 1 : lo;
				double fr = rank - (double)lo;
				double near = fr == 0 ? fabs(vals[lo]) : fabs(vals[lo]) * (1 - fr) + fabs(vals[hi]) * fr;
				double tol = 0.01 * near * (1 + 1e-9) + 1e-300;
				cr_assert(fabs(g - w) <= tol, "%s at %lld: %.17g vs exact %.17g", fns[f],
					  (long long)got.t[i], g, w);
			} else if (fn.kind == OBS_AGG_SUM || fn.kind == OBS_AGG_AVG) {
				double scale = fn.kind == OBS_AGG_AVG ? abssum / (double)k : abssum;
				cr_assert(fabs(g - w) <= rel * scale + 1e-300, "%s at %lld: %.17g vs %.17g", fns[f],
					  (long long)got.t[i], g, w);
			} else {
				cr_assert_eq(g, w, "%s at %lld: %.17g vs %.17g", fns[f], (long long)got.t[i], g, w);
			}
		}
		free(vals);
		obs_samples_release(&want);
		obs_samples_release(&got);
	}
}

Test(rollup, compute_matches_downsample)
{
	struct obs_samples raw;
	obs_samples_init(&raw);
	random_series(&raw, 20000);
	static const int64_t steps[] = { 10000, MIN_MS, 5 * MIN_MS, HOUR_MS, 7 * 1000 + 3 };
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		struct obs_rollup_series r;
		obs_rollup_series_init(&r);
		cr_assert_eq(obs_rollup_compute(raw.t, raw.v, raw.n, steps[k], &r), 0);
		cr_assert_eq(r.step, steps[k]);
		check_against_raw(&r, &raw, steps[k], 0);   /* same summation order: exact */
		obs_rollup_series_release(&r);
	}
	obs_samples_release(&raw);
}

Test(rollup, compute_refuses_bad_input)
{
	int64_t ts[] = { 10, 5 };
	double vs[] = { 1, 2 };
	struct obs_rollup_series r;
	obs_rollup_series_init(&r);
	cr_assert_eq(obs_rollup_compute(ts, vs, 2, 1000, &r), -EINVAL);
	cr_assert_eq(obs_rollup_compute(ts, vs, 1, 0, &r), -EINVAL);
	cr_assert_eq(obs_rollup_compute(ts, vs, 1, 1000, &r), 0);
	cr_assert_eq(obs_rollup_compute(ts, vs, 1, 2000, &r), -EINVAL);   /* step mismatch */
	cr_assert_eq(obs_rollup_compute(ts, vs, 1, 1000, &r), -EINVAL);   /* not after the last bucket */
	cr_assert_eq(r.n, 1);
	obs_rollup_series_release(&r);
	obs_rollup_series_release(&r);
}

static void bucket_eq(const struct obs_rollup_bucket *a, const struct obs_rollup_bucket *b, double rel)
{
	cr_assert_eq(a->t, b->t);
	cr_assert_eq(a->count, b->count, "count at %lld", (long long)a->t);
	cr_assert_eq(a->nan_count, b->nan_count);
	cr_assert_eq(bits(a->last), bits(b->last));
	if (a->count) {
		cr_assert_eq(a->min, b->min);
		cr_assert_eq(a->max, b->max);
		double scale = fabs(a->sum) > fabs(b->sum) ? fabs(a->sum) : fabs(b->sum);
		if (rel == 0)
			cr_assert_eq(bits(a->sum), bits(b->sum));
		else
			cr_assert(fabs(a->sum - b->sum) <= rel * (scale + 1), "sum %.17g vs %.17g", a->sum, b->sum);
		cr_assert(obs_sketch_equal(a->sk, b->sk), "sketch at %lld", (long long)a->t);
	}
}

Test(rollup, merge_tiers_equal_compute)
{
	struct obs_samples raw;
	obs_samples_init(&raw);
	random_series(&raw, 30000);
	/* positive values only for the sum check to be relative */
	for (size_t i = 0; i < raw.n; i++)
		if (!isnan(raw.v[i]))
			raw.v[i] = fabs(raw.v[i]);
	struct obs_rollup_series m1, m5, h1, h1d, m5d;
	obs_rollup_series_init(&m1);
	obs_rollup_series_init(&m5);
	obs_rollup_series_init(&h1);
	obs_rollup_series_init(&h1d);
	obs_rollup_series_init(&m5d);
	cr_assert_eq(obs_rollup_compute(raw.t, raw.v, raw.n, MIN_MS, &m1), 0);
	cr_assert_eq(obs_rollup_merge_to(&m1, 5 * MIN_MS, &m5), 0);
	cr_assert_eq(obs_rollup_merge_to(&m5, HOUR_MS, &h1), 0);
	cr_assert_eq(obs_rollup_compute(raw.t, raw.v, raw.n, 5 * MIN_MS, &m5d), 0);
	cr_assert_eq(obs_rollup_compute(raw.t, raw.v, raw.n, HOUR_MS, &h1d), 0);
	cr_assert_eq(m5.n, m5d.n);
	cr_assert_eq(h1.n, h1d.n);
	for (size_t i = 0; i < m5.n; i++)
		bucket_eq(&m5.b[i], &m5d.b[i], 1e-12);
	for (size_t i = 0; i < h1.n; i++)
		bucket_eq(&h1.b[i], &h1d.b[i], 1e-12);
	check_against_raw(&h1, &raw, HOUR_MS, 1e-12);
	/* 1h views of 3h, 1d */
	struct obs_rollup_series d1;
	obs_rollup_series_init(&d1);
	cr_assert_eq(obs_rollup_merge_to(&h1, 3 * HOUR_MS, &d1), 0);
	check_against_raw(&d1, &raw, 3 * HOUR_MS, 1e-12);
	cr_assert_eq(obs_rollup_merge_to(&h1, 90 * MIN_MS, &d1), -EINVAL);   /* not a multiple */
	obs_rollup_series_release(&d1);
	/* a bucket split in two pieces (two blocks) joins back */
	size_t cut = raw.n / 2;
	while (cut < raw.n && raw.t[cut] % HOUR_MS == 0)
		cut++;
	struct obs_rollup_series a, b, ab, joined;
	obs_rollup_series_init(&a);
	obs_rollup_series_init(&b);
	obs_rollup_series_init(&ab);
	obs_rollup_series_init(&joined);
	cr_assert_eq(obs_rollup_compute(raw.t, raw.v, cut, HOUR_MS, &a), 0);
	cr_assert_eq(obs_rollup_compute(raw.t + cut, raw.v + cut, raw.n - cut, HOUR_MS, &b), 0);
	cr_assert_eq(obs_rollup_append(&ab, &a), 0);
	cr_assert_eq(obs_rollup_append(&ab, &b), 0);
	cr_assert_eq(obs_rollup_merge_to(&ab, HOUR_MS, &joined), 0);
	cr_assert_eq(joined.n, h1d.n);
	for (size_t i = 0; i < joined.n; i++)
		bucket_eq(&joined.b[i], &h1d.b[i], 1e-12);
	obs_rollup_series_release(&a);
	obs_rollup_series_release(&b);
	obs_rollup_series_release(&ab);
	obs_rollup_series_release(&joined);
	obs_rollup_series_release(&m1);
	obs_rollup_series_release(&m5);
	obs_rollup_series_release(&h1);
	obs_rollup_series_release(&h1d);
	obs_rollup_series_release(&m5d);
	obs_samples_release(&raw);
}

Test(rollup, pick_tier_and_values)
{
	static const int64_t tiers[] = { MIN_MS, 5 * MIN_MS, HOUR_MS };
	cr_assert_eq(obs_rollup_pick_tier(tiers, 3, HOUR_MS), 2);
	cr_assert_eq(obs_rollup_pick_tier(tiers, 3, 24 * (int64_t)HOUR_MS), 2);
	cr_assert_eq(obs_rollup_pick_tier(tiers, 3, 15 * MIN_MS), 1);
	cr_assert_eq(obs_rollup_pick_tier(tiers, 3, 90 * MIN_MS), 1);
	cr_assert_eq(obs_rollup_pick_tier(tiers, 3, 2 * MIN_MS), 0);
	cr_assert_eq(obs_rollup_pick_tier(tiers, 3, 90000), -ENOENT);
	cr_assert_eq(obs_rollup_pick_tier(tiers, 3, 30000), -ENOENT);

	int64_t ts[] = { 0, 1, 2, 3 };
	double vs[] = { 4, NAN, 1, 7 };
	struct obs_rollup_series r;
	obs_rollup_series_init(&r);
	cr_assert_eq(obs_rollup_compute(ts, vs, 4, 10, &r), 0);
	cr_assert_eq(r.n, 1);
	double v;
	struct obs_aggfn fn = { OBS_AGG_AVG, 0 };
	cr_assert_eq(obs_rollup_value(&r.b[0], fn, &v), 0);
	cr_assert(isnan(v), "avg of a bucket with a NaN is NaN (downsample.h), got %g", v);
	fn.kind = OBS_AGG_SUM;
	cr_assert_eq(obs_rollup_value(&r.b[0], fn, &v), 0);
	cr_assert(isnan(v), "sum of a bucket with a NaN is NaN, got %g", v);
	fn.kind = OBS_AGG_MAX;
	obs_rollup_value(&r.b[0], fn, &v);
	cr_assert_eq(v, 7);   /* min and max pass NaN over */
	fn.kind = OBS_AGG_COUNT;
	obs_rollup_value(&r.b[0], fn, &v);
	cr_assert_eq(v, 4);
	fn.kind = OBS_AGG_MIN;
	obs_rollup_value(&r.b[0], fn, &v);
	cr_assert_eq(v, 1);
	fn.kind = OBS_AGG_LAST;
	obs_rollup_value(&r.b[0], fn, &v);
	cr_assert_eq(v, 7);
	fn.kind = OBS_AGG_QUANTILE;
	fn.q = 0.5;
	obs_rollup_value(&r.b[0], fn, &v);
	cr_assert(fabs(v - 4) <= 0.04 * 1.000001, "%g", v);
	fn.q = 2;
	cr_assert_eq(obs_rollup_value(&r.b[0], fn, &v), -EINVAL);
	obs_rollup_series_release(&r);
}

static char *tmp_path(const char *name)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/obs_rollup_%d_%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(),
		 name);
	return path;
}

/* Write nser random series at step into path; their buckets in want[]. */
static void write_file(const char *path, int64_t step, struct obs_rollup_series *want, size_t nser, size_t nraw)
{
	struct obs_rollup_writer *w;
	cr_assert_eq(obs_rollup_writer_new(path, step, &w), 0);
	for (size_t k = 0; k < nser; k++) {
		struct obs_samples raw;
		obs_samples_init(&raw);
		random_series(&raw, nraw + k * 37);
		obs_rollup_series_init(&want[k]);
		cr_assert_eq(obs_rollup_compute(raw.t, raw.v, raw.n, step, &want[k]), 0);
		/* ids added out of order */
		cr_assert_eq(obs_rollup_writer_add(w, (uint32_t)(1000 - 7 * k), &want[k]), 0);
		obs_samples_release(&raw);
	}
	cr_assert_eq(obs_rollup_writer_commit(w), 0);
}

Test(rollup, file_round_trip_and_ranges)
{
	enum { NSER = 5 };
	struct obs_rollup_series want[NSER];
	const char *path = tmp_path("rt");
	write_file(path, MIN_MS, want, NSER, 3000);
	struct obs_rollup *r;
	cr_assert_eq(obs_rollup_open(path, &r), 0);
	cr_assert_eq(obs_rollup_step(r), MIN_MS);
	cr_assert_eq(obs_rollup_series_count(r), NSER);
	size_t total = 0;
	for (size_t k = 0; k < NSER; k++) {
		uint32_t id = (uint32_t)(1000 - 7 * k);
		uint32_t gid;
		uint64_t nb;
		int64_t mint, maxt;
		cr_assert_eq(obs_rollup_series_info(r, (uint32_t)(NSER - 1 - k), &gid, &nb, &mint, &maxt), 0);
		cr_assert_eq(gid, id);
		cr_assert_eq(nb, want[k].n);
		cr_assert_eq(mint, want[k].b[0].t);
		cr_assert_eq(maxt, want[k].b[want[k].n - 1].t);
		struct obs_rollup_series got;
		obs_rollup_series_init(&got);
		cr_assert_eq(obs_rollup_read(r, id, INT64_MIN, INT64_MAX, &got), 0);
		cr_assert_eq(got.n, want[k].n);
		cr_assert_eq(got.step, MIN_MS);
		for (size_t i = 0; i < got.n; i++)
			bucket_eq(&got.b[i], &want[k].b[i], 0);
		total += got.n;
		/* ranges: buckets meeting [from, to] */
		for (int trial = 0; trial < 50; trial++) {
			int64_t a = want[k].b[0].t - 2 * MIN_MS + (int64_t)(rnd() % (uint64_t)(maxt - mint + 4 * MIN_MS));
			int64_t b = a + (int64_t)(rnd() % (uint64_t)(12 * HOUR_MS));
			obs_rollup_series_reset(&got);
			cr_assert_eq(obs_rollup_read(r, id, a, b, &got), 0);
			size_t j = 0;
			for (size_t i = 0; i < want[k].n; i++) {
				int64_t t = want[k].b[i].t;
				if (t <= b && t + MIN_MS > a) {
					cr_assert(j < got.n);
					bucket_eq(&got.b[j], &want[k].b[i], 0);
					j++;
				}
			}
			cr_assert_eq(j, got.n, "range [%lld, %lld]", (long long)a, (long long)b);
		}
		obs_rollup_series_release(&got);
	}
	struct obs_rollup_series none;
	obs_rollup_series_init(&none);
	cr_assert_eq(obs_rollup_read(r, 1, INT64_MIN, INT64_MAX, &none), -ENOENT);
	none.step = HOUR_MS;
	cr_assert_eq(obs_rollup_read(r, 1000, INT64_MIN, INT64_MAX, &none), -EINVAL);
	printf("rollup file: %zu buckets (1m, ~%.0f raw samples each) in %zu bytes: %.1f bytes/bucket\n", total,
	       3000.0 * NSER / (double)total, obs_rollup_file_bytes(r), (double)obs_rollup_file_bytes(r) / (double)total);
	obs_rollup_close(r);
	for (size_t k = 0; k < NSER; k++)
		obs_rollup_series_release(&want[k]);
	unlink(path);
}

Test(rollup, writer_refuses_bad_series)
{
	const char *path = tmp_path("bad");
	struct obs_rollup_writer *w;
	cr_assert_eq(obs_rollup_writer_new(path, MIN_MS, &w), 0);
	int64_t ts[] = { 0, 1000 };
	double vs[] = { 1, 2 };
	struct obs_rollup_series s;
	obs_rollup_series_init(&s);
	cr_assert_eq(obs_rollup_compute(ts, vs, 2, HOUR_MS, &s), 0);
	cr_assert_eq(obs_rollup_writer_add(w, 1, &s), -EINVAL);   /* wrong step */
	obs_rollup_series_reset(&s);
	cr_assert_eq(obs_rollup_compute(ts, vs, 2, MIN_MS, &s), 0);
	cr_assert_eq(obs_rollup_writer_add(w, 1, &s), 0);
	cr_assert_eq(obs_rollup_writer_add(w, 1, &s), 0);
	cr_assert_eq(obs_rollup_writer_commit(w), -EEXIST);
	cr_assert_eq(access(path, F_OK), -1);   /* nothing visible */
	cr_assert_eq(obs_rollup_writer_new(path, MIN_MS, &w), 0);
	obs_rollup_writer_abort(w);
	cr_assert_eq(access(path, F_OK), -1);
	obs_rollup_series_release(&s);
}

/* Open the image and read every series: 0 when all succeed. */
static int read_all(const uint8_t *p, size_t len)
{
	struct obs_rollup *r;
	int rc = obs_rollup_open_mem(p, len, &r);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < obs_rollup_series_count(r) && !rc; i++) {
		uint32_t id;
		obs_rollup_series_info(r, i, &id, NULL, NULL, NULL);
		struct obs_rollup_series s;
		obs_rollup_series_init(&s);
		rc = obs_rollup_read(r, id, INT64_MIN, INT64_MAX, &s);
		obs_rollup_series_release(&s);
	}
	obs_rollup_close(r);
	return rc;
}

Test(rollup, corruption_is_detected)
{
	enum { NSER = 3 };
	struct obs_rollup_series want[NSER];
	const char *path = tmp_path("corrupt");
	write_file(path, 5 * MIN_MS, want, NSER, 400);
	FILE *f = fopen(path, "rb");
	cr_assert(f);
	static uint8_t img[1 << 20];
	size_t len = fread(img, 1, sizeof img, f);
	fclose(f);
	cr_assert(len > 100 && len < sizeof img);
	cr_assert_eq(read_all(img, len), 0);
	/* every truncation */
	for (size_t l = 0; l < len; l++)
		cr_assert_eq(read_all(img, l), -EBADMSG, "truncated to %zu", l);
	/* every single-bit flip of every byte is caught by a CRC or a check */
	uint8_t *copy = malloc(len);
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, img, len);
		copy[i] ^= (uint8_t)(1u << (i % 8));
		cr_assert_eq(read_all(copy, len), -EBADMSG, "flip at byte %zu of %zu", i, len);
	}
	free(copy);
	for (size_t k = 0; k < NSER; k++)
		obs_rollup_series_release(&want[k]);
	unlink(path);
}

/* A year at 10 s (3.15 M samples) into 1 h rollups; a 30-day view at 1 h
 * (and at 1 d) read back from the file, checked against raw. */
Test(rollup, year_long_series_at_1h, .timeout = 120)
{
	const int64_t t0 = 1700000000000LL - 1700000000000LL % HOUR_MS;
	const size_t n = 365 * 24 * 360;
	struct obs_samples raw;
	obs_samples_init(&raw);
	cr_assert_eq(obs_samples_reserve(&raw, n), 0);
	for (size_t i = 0; i < n; i++) {
		double day = (double)i / 8640.0;
		double v = 50 + 20 * sin(2 * M_PI * day) + 5 * sin(2 * M_PI * day / 7) + 10 * unif();
		v = round(v * 1000) / 1000;   /* like real gauges */
		if (i % 100003 == 0)
			v = NAN;
		raw.t[raw.n] = t0 + (int64_t)i * 10000;
		raw.v[raw.n++] = v;
	}
	double c0 = now_ms();
	struct obs_rollup_series h;
	obs_rollup_series_init(&h);
	cr_assert_eq(obs_rollup_compute(raw.t, raw.v, raw.n, HOUR_MS, &h), 0);
	double c1 = now_ms();
	cr_assert_eq(h.n, 365 * 24);
	const char *path = tmp_path("year");
	struct obs_rollup_writer *w;
	cr_assert_eq(obs_rollup_writer_new(path, HOUR_MS, &w), 0);
	cr_assert_eq(obs_rollup_writer_add(w, 42, &h), 0);
	cr_assert_eq(obs_rollup_writer_commit(w), 0);
	double c2 = now_ms();
	struct obs_rollup *r;
	cr_assert_eq(obs_rollup_open(path, &r), 0);

	/* the last 30 days */
	int64_t to = t0 + (int64_t)n * 10000 - 1, from = to - 30LL * 24 * HOUR_MS + 1;
	struct obs_aggfn avg = { OBS_AGG_AVG, 0 }, p99 = { OBS_AGG_QUANTILE, 0.99 };
	double best = 1e9;
	struct obs_rollup_series got;
	obs_rollup_series_init(&got);
	struct obs_samples view;
	obs_samples_init(&view);
	for (int rep = 0; rep < 20; rep++) {
		obs_rollup_series_reset(&got);
		obs_samples_reset(&view);
		double a = now_ms();
		cr_assert_eq(obs_rollup_read(r, 42, from, to, &got), 0);
		cr_assert_eq(obs_rollup_to_samples(&got, p99, &view), 0);
		double b = now_ms();
		best = b - a < best ? b - a : best;
	}
	cr_assert_eq(got.n, 30 * 24);
	cr_assert_eq(view.n, 30 * 24);
	/* same answers as raw for the window */
	size_t i0 = 0;
	while (raw.t[i0] < from)
		i0++;
	struct obs_samples win = { raw.t + i0, raw.v + i0, raw.n - i0, 0 };
	check_against_raw(&got, &win, HOUR_MS, 0);
	/* and at 1 d through merge_to */
	struct obs_rollup_series day;
	obs_rollup_series_init(&day);
	cr_assert_eq(obs_rollup_merge_to(&got, 24 * HOUR_MS, &day), 0);
	check_against_raw(&day, &win, 24 * HOUR_MS, 1e-12);
	struct obs_samples davg;
	obs_samples_init(&davg);
	cr_assert_eq(obs_rollup_to_samples(&day, avg, &davg), 0);
	const int64_t day_ms = 24 * (int64_t)HOUR_MS;
	cr_assert_eq((int64_t)davg.n, to / day_ms - from / day_ms + 1);

	/* the same view from raw, for comparison */
	double d0 = now_ms();
	struct obs_samples rawview;
	obs_samples_init(&rawview);
	cr_assert_eq(obs_downsample(&win, HOUR_MS, p99, &rawview), 0);
	double d1 = now_ms();

	printf("year at 10 s: %zu samples -> %zu 1h buckets in %zu bytes (%.1f bytes/bucket); "
	       "compute %.0f ms, write %.0f ms\n",
	       n, h.n, obs_rollup_file_bytes(r), (double)obs_rollup_file_bytes(r) / (double)h.n, c1 - c0, c2 - c1);
	printf("30 days at 1h p99 from the rollup file: %.3f ms (target < 10 ms); from raw: %.1f ms\n", best, d1 - d0);
	cr_assert(best < 10, "30-day read took %.3f ms", best);

	/* the finer tiers over the first 30 days: on-disk bytes per bucket */
	static const int64_t tier[] = { MIN_MS, 5 * MIN_MS };
	for (size_t k = 0; k < 2; k++) {
		struct obs_rollup_series ts;
		obs_rollup_series_init(&ts);
		cr_assert_eq(obs_rollup_compute(raw.t, raw.v, 30 * 8640, tier[k], &ts), 0);
		const char *tp = tmp_path("tier");
		cr_assert_eq(obs_rollup_writer_new(tp, tier[k], &w), 0);
		cr_assert_eq(obs_rollup_writer_add(w, 1, &ts), 0);
		cr_assert_eq(obs_rollup_writer_commit(w), 0);
		struct obs_rollup *tr;
		cr_assert_eq(obs_rollup_open(tp, &tr), 0);
		printf("tier %lldm: %zu buckets of %lld samples in %zu bytes (%.1f bytes/bucket)\n",
		       (long long)(tier[k] / MIN_MS), ts.n, (long long)(tier[k] / 10000), obs_rollup_file_bytes(tr),
		       (double)obs_rollup_file_bytes(tr) / (double)ts.n);
		obs_rollup_close(tr);
		unlink(tp);
		obs_rollup_series_release(&ts);
	}
	obs_samples_release(&rawview);
	obs_samples_release(&davg);
	obs_samples_release(&view);
	obs_rollup_series_release(&day);
	obs_rollup_series_release(&got);
	obs_rollup_series_release(&h);
	obs_rollup_close(r);
	obs_samples_release(&raw);
	unlink(path);
}

/* Decimal and non-decimal frames, specials (-0, Inf, huge, tiny, NaN
 * payloads), one-value and two-value buckets: all bit-exact through a file. */
Test(rollup, file_round_trip_specials)
{
	struct obs_samples raw;
	obs_samples_init(&raw);
	/* within the 2048-bucket range (a ratio of 1e18) of ordinary values */
	static const double special[] = { -0.0, INFINITY, -INFINITY, 1e15, 5e-324, 0.1, 123456789.125, -2.5 };
	for (size_t i = 0; i < 4000; i++) {
		double v = (double)(int64_t)(rnd() % 100000) / 100;   /* decimals */
		if (i > 1500 && i < 2500 && rnd() % 50 == 0)
			v = special[rnd() % 8];
		if (rnd() % 40 == 0)
			v = nan_payload(rnd());
		/* 1..3 samples per minute, so that 1- and 2-value buckets occur */
		cr_assert_eq(obs_samples_push(&raw, (int64_t)i * 25000 + (int64_t)(rnd() % 1000), v), 0);
	}
	struct obs_rollup_series want, got;
	obs_rollup_series_init(&want);
	obs_rollup_series_init(&got);
	cr_assert_eq(obs_rollup_compute(raw.t, raw.v, raw.n, MIN_MS, &want), 0);
	size_t ones = 0, twos = 0;
	for (size_t i = 0; i < want.n; i++) {
		ones += want.b[i].count == 1;
		twos += want.b[i].count == 2;
	}
	cr_assert(ones > 10 && twos > 10);
	const char *path = tmp_path("specials");
	struct obs_rollup_writer *w;
	cr_assert_eq(obs_rollup_writer_new(path, MIN_MS, &w), 0);
	cr_assert_eq(obs_rollup_writer_add(w, 7, &want), 0);
	cr_assert_eq(obs_rollup_writer_commit(w), 0);
	struct obs_rollup *r;
	cr_assert_eq(obs_rollup_open(path, &r), 0);
	cr_assert_eq(obs_rollup_read(r, 7, INT64_MIN, INT64_MAX, &got), 0);
	cr_assert_eq(got.n, want.n);
	for (size_t i = 0; i < got.n; i++)
		bucket_eq(&got.b[i], &want.b[i], 0);
	check_against_raw(&got, &raw, MIN_MS, 0);
	obs_rollup_close(r);
	unlink(path);
	obs_rollup_series_release(&want);
	obs_rollup_series_release(&got);
	obs_samples_release(&raw);
}

/* The one NaN rule (downsample.h) of views from raw samples, views from
 * rollups and obs-agg: avg/sum propagate NaN, min/max and quantiles pass it
 * over, count counts it, last keeps it. */
Test(rollup, nan_rule_is_the_same_for_raw_and_rollup_buckets)
{
	int64_t ts[] = { 0, 1, 10, 20, 21 };
	double vs[] = { 1, NAN, NAN, 2, 3 };
	struct obs_samples in = { .t = ts, .v = vs, .n = 5 };
	static const struct { const char *fn; double want[3]; } cases[] = {
		{ "avg", { NAN, NAN, 2.5 } },   { "sum", { NAN, NAN, 5 } },
		{ "min", { 1, NAN, 2 } },       { "max", { 1, NAN, 3 } },
		{ "count", { 2, 1, 2 } },       { "last", { NAN, NAN, 3 } },
		{ "p50", { 1, NAN, 2.5 } },
	};
	struct obs_rollup_series r;
	obs_rollup_series_init(&r);
	cr_assert_eq(obs_rollup_compute(ts, vs, 5, 10, &r), 0);
	cr_assert_eq(r.n, 3);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct obs_aggfn fn;
		cr_assert_eq(obs_aggfn_parse(cases[c].fn, strlen(cases[c].fn), &fn), 0);
		struct obs_samples out;
		obs_samples_init(&out);
		cr_assert_eq(obs_downsample(&in, 10, fn, &out), 0);
		cr_assert_eq(out.n, 3, "%s", cases[c].fn);
		for (size_t k = 0; k < 3; k++) {
			double w = cases[c].want[k], v;
			cr_assert_eq(out.t[k], (int64_t)k * 10);
			if (isnan(w))
				cr_assert(isnan(out.v[k]), "%s bucket %zu: raw %g, want NaN", cases[c].fn, k, out.v[k]);
			else
				cr_assert_eq(out.v[k], w, "%s bucket %zu: raw %g, want %g", cases[c].fn, k, out.v[k], w);
			cr_assert_eq(obs_rollup_value(&r.b[k], fn, &v), 0);
			if (fn.kind == OBS_AGG_QUANTILE && !isnan(w))
				cr_assert(fabs(v - w) <= 0.02 * w, "%s bucket %zu: rollup %g, want %g", cases[c].fn, k, v, w);
			else if (isnan(w))
				cr_assert(isnan(v), "%s bucket %zu: rollup %g, want NaN", cases[c].fn, k, v);
			else
				cr_assert_eq(v, w, "%s bucket %zu: rollup %g, want %g", cases[c].fn, k, v, w);
		}
		obs_samples_release(&out);
	}
	obs_rollup_series_release(&r);
	/* the accumulator's obs-agg-only functions */
	struct obs_agg_acc a;
	obs_agg_acc_init(&a, (struct obs_aggfn){ OBS_AGG_STDDEV, 0 });
	obs_agg_acc_add(&a, 1);
	obs_agg_acc_add(&a, 3);
	cr_assert_eq(obs_agg_acc_result(&a), 1);
	obs_agg_acc_add(&a, NAN);
	cr_assert(isnan(obs_agg_acc_result(&a)));
	obs_agg_acc_release(&a);
}
