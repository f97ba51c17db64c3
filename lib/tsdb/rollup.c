/* rollup.c — the rollup bucket algebra: a bucket is the summary of the
 * samples of one step (count, NaN count, min, max, sum, last and a quantile
 * sketch, sketch.h); series of buckets are computed from samples, merged to a
 * coarser step, appended, and read back as values of an aggregation function
 * (obs_rollup_value). NaN samples are counted apart (nan_count) and enter no
 * other field, but make a bucket's last NaN when they are its last sample;
 * obs_rollup_value applies the NaN rule of downsample.h (avg and sum of a
 * bucket with nan_count > 0 are NaN), so tiers answer as raw views do.
 * Staleness markers are skipped: they enter no bucket (a step holding only
 * markers has none), as they enter no aggregate of a raw view.
 * The file format is in rollup_file.c. */
#include "tsdb/rollup_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"
#include "core/vec.h"

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- series ---- */

void obs_rollup_series_init(struct obs_rollup_series *s)
{
	memset(s, 0, sizeof *s);
}

void obs_rollup_series_reset(struct obs_rollup_series *s)
{
	for (size_t i = 0; i < s->n; i++) {
		obs_sketch_free(s->b[i].sk);
		s->b[i].sk = NULL;
	}
	s->n = 0;
	s->step = 0;
}

void obs_rollup_series_release(struct obs_rollup_series *s)
{
	obs_rollup_series_reset(s);
	free(s->b);
	memset(s, 0, sizeof *s);
}

/* A new empty bucket at the end of s (its sketch allocated). */
int obs_rollup_push_bucket(struct obs_rollup_series *s, int64_t t, struct obs_rollup_bucket **out)
{
	if (OBS_VEC_RESERVE_FROM(s->b, s->cap, s->n + 1, 64))
		return -ENOMEM;
	struct obs_rollup_bucket *b = &s->b[s->n];
	memset(b, 0, sizeof *b);
	int rc = obs_sketch_new(s->alpha_ppm, s->max_buckets, &b->sk);
	if (rc)
		return rc;
	b->t = t;
	b->min = b->max = b->sum = NAN;
	b->last = NAN;
	s->n++;
	*out = b;
	return 0;
}

static void note_value(struct obs_rollup_bucket *b, double v)
{
	b->last = v;
	if (isnan(v)) {
		b->nan_count++;
		return;
	}
	if (!b->count) {
		b->min = b->max = v;
		b->sum = 0;
	}
	b->sum += v;
	b->min = v < b->min ? v : b->min;
	b->max = v > b->max ? v : b->max;
	b->count++;
}

int obs_rollup_compute(const int64_t *ts, const double *vs, size_t n, int64_t step,
		       struct obs_rollup_series *out)
{
	if (step <= 0 || (out->step && out->step != step))
		return -EINVAL;
	for (size_t i = 1; i < n; i++)
		if (ts[i] < ts[i - 1])
			return -EINVAL;
	if (out->n && n && floor_div(ts[0], step) * step <= out->b[out->n - 1].t)
		return -EINVAL;
	out->step = step;
	struct obs_rollup_bucket *b = NULL;
	for (size_t i = 0; i < n; i++) {
		int64_t t = floor_div(ts[i], step) * step;
		if (obs_is_stale(vs[i]))
			continue;   /* a series' end: no value, no bucket */
		if (!b || b->t != t) {
			int rc = obs_rollup_push_bucket(out, t, &b);
			if (rc)
				return rc;
		}
		note_value(b, vs[i]);
		if (!isnan(vs[i])) {
			int rc = obs_sketch_add(b->sk, vs[i]);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* dst += src (src later in time). */
static int bucket_merge(struct obs_rollup_bucket *dst, const struct obs_rollup_bucket *src)
{
	if (src->count) {
		if (!dst->count) {
			dst->min = src->min;
			dst->max = src->max;
			dst->sum = 0;
		}
		dst->sum += src->sum;
		dst->min = src->min < dst->min ? src->min : dst->min;
		dst->max = src->max > dst->max ? src->max : dst->max;
		if (src->sk) {
			int rc = obs_sketch_merge(dst->sk, src->sk);
			if (rc)
				return rc;
		}
	}
	dst->count += src->count;
	dst->nan_count += src->nan_count;
	dst->last = src->last;
	return 0;
}

int obs_rollup_merge_to(const struct obs_rollup_series *in, int64_t step, struct obs_rollup_series *out)
{
	if (in == out || in->step <= 0 || step <= 0 || step % in->step || (out->step && out->step != step))
		return -EINVAL;
	for (size_t i = 1; i < in->n; i++)
		if (in->b[i].t < in->b[i - 1].t)
			return -EINVAL;
	if (out->n && in->n && floor_div(in->b[0].t, step) * step <= out->b[out->n - 1].t)
		return -EINVAL;
	out->step = step;
	if (!out->n) {
		out->alpha_ppm = in->alpha_ppm;
		out->max_buckets = in->max_buckets;
	}
	struct obs_rollup_bucket *b = NULL;
	for (size_t i = 0; i < in->n; i++) {
		int64_t t = floor_div(in->b[i].t, step) * step;
		int rc;
		if (!b || b->t != t) {
			rc = obs_rollup_push_bucket(out, t, &b);
			if (rc)
				return rc;
		}
		rc = bucket_merge(b, &in->b[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int obs_rollup_append(struct obs_rollup_series *out, const struct obs_rollup_series *in)
{
	if (out == in || (out->step && in->step && out->step != in->step))
		return -EINVAL;
	if (!out->step)
		out->step = in->step;
	if (!out->n) {
		out->alpha_ppm = in->alpha_ppm;
		out->max_buckets = in->max_buckets;
	}
	for (size_t i = 0; i < in->n; i++) {
		struct obs_rollup_bucket *b;
		int rc = obs_rollup_push_bucket(out, in->b[i].t, &b);
		if (!rc)
			rc = bucket_merge(b, &in->b[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int obs_rollup_value(const struct obs_rollup_bucket *b, struct obs_aggfn fn, double *out)
{
	double c = (double)b->count;
	switch (fn.kind) {
	/* the NaN rule of downsample.h: a NaN makes avg and sum NaN */
	case OBS_AGG_AVG: *out = b->count && !b->nan_count ? b->sum / c : NAN; return 0;
	case OBS_AGG_MIN: *out = b->count ? b->min : NAN; return 0;
	case OBS_AGG_MAX: *out = b->count ? b->max : NAN; return 0;
	case OBS_AGG_SUM: *out = b->count && !b->nan_count ? b->sum : NAN; return 0;
	case OBS_AGG_COUNT: *out = (double)(b->count + b->nan_count); return 0;
	case OBS_AGG_LAST: *out = b->last; return 0;
	case OBS_AGG_QUANTILE:
		if (!(fn.q >= 0 && fn.q <= 1))
			return -EINVAL;
		*out = b->count && b->sk ? obs_sketch_quantile(b->sk, fn.q) : NAN;
		return 0;
	default:   /* first, stddev, stdvar: not kept in a bucket */
		return -EINVAL;
	}
	return -EINVAL;
}

int obs_rollup_to_samples(const struct obs_rollup_series *s, struct obs_aggfn fn, struct obs_samples *out)
{
	int rc = obs_samples_reserve(out, s->n);
	for (size_t i = 0; i < s->n && !rc; i++) {
		double v;
		rc = obs_rollup_value(&s->b[i], fn, &v);
		if (!rc)
			rc = obs_samples_push(out, s->b[i].t, v);
	}
	return rc;
}

int obs_rollup_pick_tier(const int64_t *tiers, size_t n, int64_t step)
{
	int best = -ENOENT;
	for (size_t i = 0; i < n && i < INT_MAX; i++)
		if (tiers[i] > 0 && tiers[i] <= step && step % tiers[i] == 0 && (best < 0 || tiers[i] > tiers[best]))
			best = (int)i;
	return best;
}
