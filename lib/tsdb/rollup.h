/* rollup.h — downsampling tiers: per-series buckets of a fixed STEP holding
 * min, max, sum, count, last and a quantile sketch, and the immutable files
 * that store them (DATADIR/rollups/TIER/BLOCKID, layout at the top of
 * rollup_file.c).
 *
 * Buckets are [t, t + step) with t a multiple of step since the epoch, as in
 * obs_downsample, so a bucket answers every :STEP:FN view exactly as
 * obs_downsample on the raw samples would (sums up to rounding, quantiles
 * within the sketch's relative error).
 *
 * Typical view path (STEP >= a tier):
 *     int k = obs_rollup_pick_tier(tiers, ntiers, STEP);        // coarsest divisor
 *     for each rollup file of tier k overlapping [from, to], in time order:
 *         obs_rollup_read(r, id, from, to, &acc);               // appends
 *     raw samples not covered yet (head):
 *         obs_rollup_compute(ts, vs, n, tiers[k], &tmp); obs_rollup_append(&acc, &tmp);
 *     obs_rollup_merge_to(&acc, STEP, &view);                   // also joins split buckets
 *     obs_rollup_to_samples(&view, fn, &out);
 */
#ifndef OBS_TSDB_ROLLUP_H
#define OBS_TSDB_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb/downsample.h"
#include "tsdb/samples.h"
#include "tsdb/sketch.h"

struct obs_rollup_bucket {
	int64_t t;                 /* bucket start, a multiple of the series step */
	double min, max, sum;      /* over non-NaN samples; NaN when count == 0 */
	double last;               /* last sample, NaN included (bit-exact) */
	uint64_t count;            /* non-NaN samples */
	uint64_t nan_count;        /* NaN samples; count + nan_count > 0 */
	struct obs_sketch *sk;     /* non-NaN samples; owned by the bucket */
};

/* Buckets in strictly increasing t (except right after obs_rollup_append of
 * overlapping pieces, which obs_rollup_merge_to joins). */
struct obs_rollup_series {
	struct obs_rollup_bucket *b;
	size_t n, cap;
	int64_t step;              /* 0 until the first compute/read/merge sets it */
	uint32_t alpha_ppm, max_buckets;   /* sketch parameters (0: defaults) */
};

void obs_rollup_series_init(struct obs_rollup_series *s);
void obs_rollup_series_release(struct obs_rollup_series *s);  /* accepts zeroed */
void obs_rollup_series_reset(struct obs_rollup_series *s);    /* n = 0, step = 0; keeps memory */

/* Raw time-ordered samples (non-decreasing ts) -> buckets of step, appended
 * to out (out->step must be 0 or step). -EINVAL for step <= 0, unordered
 * timestamps or a step mismatch; -ENOMEM. */
int obs_rollup_compute(const int64_t *ts, const double *vs, size_t n, int64_t step,
		       struct obs_rollup_series *out);

/* Buckets of in regrouped into buckets of step (a multiple of in->step),
 * appended to out (out->step 0 or step). Consecutive input buckets falling
 * in the same output bucket are merged, so pieces of one bucket split across
 * files (same t) are joined too; step == in->step is allowed for that.
 * Input buckets must be in non-decreasing t. 0, -EINVAL, -ENOMEM. */
int obs_rollup_merge_to(const struct obs_rollup_series *in, int64_t step, struct obs_rollup_series *out);

/* Append deep copies of the buckets of in to out (same step, or out->step 0). */
int obs_rollup_append(struct obs_rollup_series *out, const struct obs_rollup_series *in);

/* The FN value of one bucket, as obs_downsample computes it for the same
 * samples: avg = sum / count, count = count + nan_count, last, min/max/sum
 * (NaN when count == 0), quantiles from the sketch. 0 or -EINVAL. */
int obs_rollup_value(const struct obs_rollup_bucket *b, struct obs_aggfn fn, double *out);
/* One (t, value) sample per bucket appended to out. 0, -EINVAL, -ENOMEM. */
int obs_rollup_to_samples(const struct obs_rollup_series *s, struct obs_aggfn fn, struct obs_samples *out);

/* Index of the coarsest tier step in tiers[0..n) that divides step (and is
 * <= step), or -ENOENT when none does. */
int obs_rollup_pick_tier(const int64_t *tiers, size_t n, int64_t step);

/* ---- files ---- */

struct obs_rollup_writer;

/* Start the file path (written as a temporary beside it until commit). */
int obs_rollup_writer_new(const char *path, int64_t step, struct obs_rollup_writer **out);
/* Add one series (buckets of the writer's step, strictly increasing t,
 * every bucket non-empty). Encoded at once: s may be reset after the call.
 * Each series id at most once (else -EEXIST at commit). Sketch parameters
 * must match those of the series added before (-EINVAL). */
int obs_rollup_writer_add(struct obs_rollup_writer *w, uint32_t series_id, const struct obs_rollup_series *s);
/* Write the index, fsync, rename into place, fsync the directory. The writer
 * is freed whatever the result; on failure nothing is visible at path. */
int obs_rollup_writer_commit(struct obs_rollup_writer *w);
void obs_rollup_writer_abort(struct obs_rollup_writer *w);   /* accepts NULL */

struct obs_rollup;

/* mmap and validate (header, footer, index CRCs) a rollup file. 0, -errno,
 * -EBADMSG. */
int obs_rollup_open(const char *path, struct obs_rollup **out);
/* The same over a caller-owned image (kept alive until close): for tests
 * and fuzzing. */
int obs_rollup_open_mem(const void *p, size_t len, struct obs_rollup **out);
void obs_rollup_close(struct obs_rollup *r);   /* accepts NULL */

int64_t obs_rollup_step(const struct obs_rollup *r);
uint32_t obs_rollup_series_count(const struct obs_rollup *r);
/* i-th series (ascending id): id, number of buckets, first and last bucket t. */
int obs_rollup_series_info(const struct obs_rollup *r, uint32_t i, uint32_t *id, uint64_t *nbuckets,
			   int64_t *mint, int64_t *maxt);
size_t obs_rollup_file_bytes(const struct obs_rollup *r);

/* Append to out the buckets of series_id whose span [t, t + step) meets
 * [from, to] (inclusive). out->step must be 0 or the file's step.
 * -ENOENT if the series is not in the file; -EBADMSG on corruption (out
 * then holds what was appended before the corrupt frame; release it).
 * Reads only the frames (256 buckets) that meet the range; several threads
 * may read one open file at once. */
int obs_rollup_read(struct obs_rollup *r, uint32_t series_id, int64_t from, int64_t to,
		    struct obs_rollup_series *out);

#endif
