/* downsample.h — bucket samples by STEP and aggregate (the :STEP:FN views). */
#ifndef OBS_TSDB_DOWNSAMPLE_H
#define OBS_TSDB_DOWNSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb/samples.h"

enum obs_agg { OBS_AGG_AVG, OBS_AGG_MIN, OBS_AGG_MAX, OBS_AGG_SUM, OBS_AGG_COUNT,
	       OBS_AGG_LAST, OBS_AGG_QUANTILE };

struct obs_aggfn {
	enum obs_agg kind;
	double q;             /* for OBS_AGG_QUANTILE, in [0, 1] */
};

/* "avg", "min", "max", "sum", "count", "last", "p50", "p99", "p99.9". 0 or -EINVAL. */
int obs_aggfn_parse(const char *s, size_t n, struct obs_aggfn *fn);

/* Samples of in (time-ordered) grouped into buckets [k*step, (k+1)*step)
 * (aligned to the epoch, as Prometheus aligns steps), one output sample per
 * non-empty bucket stamped with the bucket start. Quantiles interpolate
 * linearly between closest ranks. NaN samples count but are skipped by
 * avg/min/max/sum/quantile (a bucket of only NaN yields NaN). */
int obs_downsample(const struct obs_samples *in, int64_t step, struct obs_aggfn fn, struct obs_samples *out);

#endif
