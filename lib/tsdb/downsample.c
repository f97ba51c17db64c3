/* downsample.c — the bucket accumulator and step bucketing (NaN rule in
 * downsample.h). */
#include "tsdb/downsample.h"

#include "core/num.h"
#include "core/vec.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int obs_aggfn_parse(const char *s, size_t n, struct obs_aggfn *fn)
{
	static const struct { const char *name; enum obs_agg kind; } names[] = {
		{ "avg", OBS_AGG_AVG }, { "min", OBS_AGG_MIN }, { "max", OBS_AGG_MAX },
		{ "sum", OBS_AGG_SUM }, { "count", OBS_AGG_COUNT }, { "last", OBS_AGG_LAST },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i].name) == n && !memcmp(names[i].name, s, n)) {
			fn->kind = names[i].kind;
			fn->q = 0;
			return 0;
		}
	if (n >= 2 && n < 16 && s[0] == 'p') {
		char tmp[16];
		memcpy(tmp, s + 1, n - 1);
		tmp[n - 1] = 0;
		char *end;
		double p = strtod(tmp, &end);
		if (*end || !(p >= 0 && p <= 100))
			return -EINVAL;
		fn->kind = OBS_AGG_QUANTILE;
		fn->q = p / 100;
		return 0;
	}
	return -EINVAL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

double obs_quantile(double q, double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof *v, cmp_double);
	double rank = q * (double)(n - 1);
	size_t lo = (size_t)rank;
	if (lo + 1 >= n)
		return v[n - 1];
	double w = rank - (double)lo;
	if (w == 0 || v[lo] == v[lo + 1])
		return v[lo];   /* exact rank; also keeps infinities from making NaN */
	return v[lo] * (1 - w) + v[lo + 1] * w;
}

void obs_agg_acc_init(struct obs_agg_acc *a, struct obs_aggfn fn)
{
	memset(a, 0, sizeof *a);
	a->fn = fn;
	obs_agg_acc_reset(a);
}

void obs_agg_acc_reset(struct obs_agg_acc *a)
{
	a->n = a->nnum = 0;
	a->sum = a->mean = a->m2 = 0;
	a->first = a->last = a->min = a->max = NAN;
}

void obs_agg_acc_release(struct obs_agg_acc *a)
{
	free(a->vals);
	a->vals = NULL;
	a->cap = 0;
}

int obs_agg_acc_add(struct obs_agg_acc *a, double v)
{
	if (obs_is_stale(v))
		return 0;   /* a series' end, not a value */
	if (a->n == 0)
		a->first = v;
	a->n++;
	a->last = v;
	if (!isnan(v))
		a->nnum++;
	switch (a->fn.kind) {
	case OBS_AGG_AVG:
	case OBS_AGG_SUM:
		a->sum += v;   /* a NaN makes the sum NaN */
		break;
	case OBS_AGG_MIN:
		if (!isnan(v) && !(v >= a->min))
			a->min = v;
		break;
	case OBS_AGG_MAX:
		if (!isnan(v) && !(v <= a->max))
			a->max = v;
		break;
	case OBS_AGG_STDDEV:
	case OBS_AGG_STDVAR: {   /* Welford; a NaN makes both NaN */
		double d = v - a->mean;
		a->mean += d / (double)a->n;
		a->m2 += d * (v - a->mean);
		break;
	}
	case OBS_AGG_QUANTILE:
		if (isnan(v))
			break;
		if (OBS_VEC_RESERVE_FROM(a->vals, a->cap, a->nnum, 64)) {
			a->nnum--;
			return -ENOMEM;
		}
		a->vals[a->nnum - 1] = v;
		break;
	default:
		break;
	}
	return 0;
}

double obs_agg_acc_result(struct obs_agg_acc *a)
{
	if (a->fn.kind == OBS_AGG_COUNT)
		return (double)a->n;
	if (!a->n)
		return NAN;
	switch (a->fn.kind) {
	case OBS_AGG_AVG: return a->sum / (double)a->n;
	case OBS_AGG_SUM: return a->sum;
	case OBS_AGG_MIN: return a->min;
	case OBS_AGG_MAX: return a->max;
	case OBS_AGG_LAST: return a->last;
	case OBS_AGG_FIRST: return a->first;
	case OBS_AGG_STDDEV: return sqrt(a->m2 / (double)a->n);
	case OBS_AGG_STDVAR: return a->m2 / (double)a->n;
	case OBS_AGG_QUANTILE: return obs_quantile(a->fn.q, a->vals, a->nnum);
	default: return NAN;
	}
}

int obs_downsample(const struct obs_samples *in, int64_t step, struct obs_aggfn fn, struct obs_samples *out)
{
	if (step <= 0)
		return -EINVAL;
	struct obs_agg_acc acc;
	obs_agg_acc_init(&acc, fn);
	size_t i = 0;
	int rc = 0;
	while (i < in->n && !rc) {
		int64_t b = floor_div(in->t[i], step) * step;
		size_t j = i;
		obs_agg_acc_reset(&acc);
		while (j < in->n && in->t[j] >= b && in->t[j] - b < step && !rc)
			rc = obs_agg_acc_add(&acc, in->v[j++]);
		if (j == i)   /* unsorted input: treat the sample as its own bucket */
			rc = obs_agg_acc_add(&acc, in->v[j++]);
		if (!rc && acc.n)   /* a bucket of staleness markers only has no point */
			rc = obs_samples_push(out, b, obs_agg_acc_result(&acc));
		i = j;
	}
	obs_agg_acc_release(&acc);
	return rc;
}
