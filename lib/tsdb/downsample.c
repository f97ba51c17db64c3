/* downsample.c — step bucketing from raw samples. */
#include "tsdb/downsample.h"

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

static double quantile(double *v, size_t n, double q)
{
	qsort(v, n, sizeof *v, cmp_double);
	double rank = q * (double)(n - 1);
	size_t lo = (size_t)rank;
	if (lo + 1 >= n)
		return v[n - 1];
	double frac = rank - (double)lo;
	if (frac == 0 || v[lo] == v[lo + 1])
		return v[lo];   /* exact rank; also keeps infinities from making NaN */
	return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

int obs_downsample(const struct obs_samples *in, int64_t step, struct obs_aggfn fn, struct obs_samples *out)
{
	if (step <= 0)
		return -EINVAL;
	double *scratch = NULL;
	size_t i = 0;
	int rc = 0;
	while (i < in->n && !rc) {
		int64_t b = floor_div(in->t[i], step) * step;
		size_t j = i, cnt = 0;
		double sum = 0, mn = INFINITY, mx = -INFINITY, last = 0;
		while (j < in->n && in->t[j] >= b && in->t[j] - b < step) {
			double v = in->v[j];
			last = v;
			if (!isnan(v)) {
				sum += v;
				mn = v < mn ? v : mn;
				mx = v > mx ? v : mx;
				cnt++;
			}
			j++;
		}
		if (j == i)   /* unsorted input: treat the sample as its own bucket */
			j = i + 1;
		double r;
		switch (fn.kind) {
		case OBS_AGG_AVG: r = cnt ? sum / (double)cnt : NAN; break;
		case OBS_AGG_MIN: r = cnt ? mn : NAN; break;
		case OBS_AGG_MAX: r = cnt ? mx : NAN; break;
		case OBS_AGG_SUM: r = cnt ? sum : NAN; break;
		case OBS_AGG_COUNT: r = (double)(j - i); break;
		case OBS_AGG_LAST: r = last; break;
		default: {
			if (!cnt) {
				r = NAN;
				break;
			}
			double *tmp = realloc(scratch, cnt * sizeof *tmp);
			if (!tmp) {
				rc = -ENOMEM;
				r = NAN;
				break;
			}
			scratch = tmp;
			size_t k = 0;
			for (size_t x = i; x < j; x++)
				if (!isnan(in->v[x]))
					scratch[k++] = in->v[x];
			r = quantile(scratch, k, fn.q);
		}
		}
		if (!rc)
			rc = obs_samples_push(out, b, r);
		i = j;
	}
	free(scratch);
	return rc;
}
