/* downsample.h — bucket samples by STEP and aggregate: the one aggregation
 * of the :STEP:FN views (from raw samples) and of obs-agg.
 *
 * NaN rule (as Prometheus' *_over_time functions): avg, sum, stddev and
 * stdvar of a bucket holding a NaN are NaN; min and max pass NaN over (NaN
 * only when every value is NaN); count counts every sample, NaN included;
 * first and last are the samples as they are. Quantiles pass NaN over (NaN
 * only when every value is NaN; Prometheus sorts NaN below every number
 * instead). Rollup tiers keep NaN counts apart and follow the same rule.
 * Staleness markers (obs_is_stale) are no values: every aggregation skips
 * them, and a bucket holding nothing else has no output sample. */
#ifndef OBS_TSDB_DOWNSAMPLE_H
#define OBS_TSDB_DOWNSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb/samples.h"

enum obs_agg { OBS_AGG_AVG, OBS_AGG_MIN, OBS_AGG_MAX, OBS_AGG_SUM, OBS_AGG_COUNT,
	       OBS_AGG_LAST, OBS_AGG_QUANTILE,
	       /* obs-agg only (no view, no rollup serves them): */
	       OBS_AGG_FIRST, OBS_AGG_STDDEV, OBS_AGG_STDVAR };

struct obs_aggfn {
	enum obs_agg kind;
	double q;             /* for OBS_AGG_QUANTILE, in [0, 1] */
};

/* "avg", "min", "max", "sum", "count", "last", "p50", "p99", "p99.9". 0 or -EINVAL. */
int obs_aggfn_parse(const char *s, size_t n, struct obs_aggfn *fn);

/* A streaming accumulator of one bucket. */
struct obs_agg_acc {
	struct obs_aggfn fn;
	size_t n, nnum;            /* values, non-NaN values */
	double sum, min, max, first, last, mean, m2;
	double *vals;              /* quantiles: the non-NaN values */
	size_t cap;
};

void obs_agg_acc_init(struct obs_agg_acc *a, struct obs_aggfn fn);
void obs_agg_acc_reset(struct obs_agg_acc *a);      /* empty, storage kept */
void obs_agg_acc_release(struct obs_agg_acc *a);
int obs_agg_acc_add(struct obs_agg_acc *a, double v);   /* 0 or -ENOMEM */
/* The bucket's value (NaN for an empty bucket but count, which is 0). */
double obs_agg_acc_result(struct obs_agg_acc *a);
/* Prometheus' quantile of v[0..n) (sorted in place): linear interpolation
 * between closest ranks; NaN when n is 0. */
double obs_quantile(double q, double *v, size_t n);

/* Samples of in (time-ordered) grouped into buckets [k*step, (k+1)*step)
 * (aligned to the epoch, as Prometheus aligns steps), one output sample per
 * non-empty bucket stamped with the bucket start. Quantiles interpolate
 * linearly between closest ranks. NaN as above. */
int obs_downsample(const struct obs_samples *in, int64_t step, struct obs_aggfn fn, struct obs_samples *out);

#endif
