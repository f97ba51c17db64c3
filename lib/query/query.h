/* query.h — PromQL: parser and evaluator over an abstract store (libobs query).
 *
 * The engine evaluates float PromQL with Prometheus 3.x semantics: left-open
 * range windows (t - range, t], a 5 minute lookback for instant vector
 * selectors that excludes a sample at exactly t - 5m, staleness markers,
 * delayed __name__ removal. Native histograms are not supported: a store
 * reports them with -ENOTSUP and the query fails with a clear message.
 *
 * Nothing here prints; every function returns 0 or -errno, and a human
 * message (Prometheus' wording where one exists) goes to the caller's buffer
 * or to obs_query_result.err. */
#ifndef OBS_QUERY_QUERY_H
#define OBS_QUERY_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/labels.h"
#include "core/obstime.h"
#include "index/matcher.h"

/* ---- parsing ---------------------------------------------------------- */

struct obs_query_expr;

/* Parse an expression. On error returns -EINVAL (or -ENOMEM), writes
 * "LINE:COL: message" to err and leaves *out NULL. */
int obs_query_parse(const char *s, size_t n, struct obs_query_expr **out, char *err, size_t errlen);
void obs_query_expr_free(struct obs_query_expr *e);   /* accepts NULL */
/* Append the expression in canonical PromQL text (fully parenthesised
 * binary operations, durations in Prometheus units). 0 or -ENOMEM. */
int obs_query_expr_format(const struct obs_query_expr *e, struct obs_buf *out);
/* Pin the expression at t (ms): every vector selector, matrix selector and
 * subquery without @ gets @ t (nothing inside a subquery changes). The
 * answer then no longer depends on the evaluation time, unless the
 * expression calls a function that reads the evaluation time itself
 * (time(), timestamp(), the date functions, predict_linear(), start(),
 * end(), range(), step()): returns 1 for those, else 0. */
int obs_query_expr_pin(struct obs_query_expr *e, int64_t t);

/* Value type of the expression's result. */
enum obs_query_vtype { OBS_QV_SCALAR, OBS_QV_STRING, OBS_QV_VECTOR, OBS_QV_MATRIX };
enum obs_query_vtype obs_query_expr_type(const struct obs_query_expr *e);

/* ---- the store -------------------------------------------------------- */

/* The store hands out series through emit(): labels and samples with
 * mint <= t <= maxt, in time order (the arrays are only read during the
 * call). Stale markers are the NaN with bits OBS_QUERY_STALE_BITS.
 * select() returns 0, the first non-zero result of emit, or -errno;
 * -ENOTSUP means the selection touches native histograms. */
typedef int (*obs_query_emit_fn)(void *ectx, const struct obs_labels *l,
				 const int64_t *t, const double *v, size_t n);
/* Rollup buckets [t, t + step) of one series (t a multiple of step), in
 * time order: min/max/sum over the non-NaN samples (NaN when count is 0),
 * count of the non-NaN samples. */
struct obs_query_bucket {
	int64_t t;
	double min, max, sum, count;
};
/* A series of a rollup selection: its buckets (nb > 0) with, in t/v/n,
 * the raw samples still kept that lie exactly on a bucket boundary (t a
 * multiple of step) in [mint, maxt + 1], so windows (E - range, E] can be
 * corrected exactly; or, where the store holds no rollups for it, its raw
 * samples (nb == 0) in [mint, maxt + 1] (the windows the buckets stand
 * for), as select() gives them. An emit that returns OBS_QUERY_WANT_RAW
 * for a series of buckets gets it again as raw samples. */
#define OBS_QUERY_WANT_RAW 1
typedef int (*obs_query_bucket_fn)(void *ectx, const struct obs_labels *l, const struct obs_query_bucket *b,
				   size_t nb, const int64_t *t, const double *v, size_t n);
/* One log stream's record counts per window, for log_count(). */
typedef int (*obs_query_logcount_fn)(void *ectx, const char *stream, const uint64_t *counts);
struct obs_query_store {
	int (*select)(void *ctx, const struct obs_matcher *m, size_t nm,
		      int64_t mint, int64_t maxt, obs_query_emit_fn emit, void *ectx);
	/* Optional (NULL: none): the series matching m as buckets of step over
	 * [mint, maxt], read from downsampling tiers. -ENOENT when no tier
	 * serves step or none holds data, before emitting anything: the
	 * caller then selects raw samples. */
	int (*rollup)(void *ctx, const struct obs_matcher *m, size_t nm, int64_t mint, int64_t maxt,
		      int64_t step, obs_query_bucket_fn emit, void *ectx);
	void *ctx;
	/* Optional (NULL: log_count_over_time() fails with "no log store"):
	 * count the log records of the streams named by stream (a name, a
	 * glob, '*' for all) that match query (the log search language of
	 * lib/logs/logquery.h, "" for every record) in each window
	 * (at[i] - range, at[i]], i < n. emit gets each stream that exists once,
	 * with its n counts. 0, the first non-zero result of emit, or -errno
	 * (-EINVAL with why set for a bad query). lctx is its context. */
	int (*log_count)(void *lctx, const char *stream, const char *query, int64_t range, const int64_t *at,
			 size_t n, obs_query_logcount_fn emit, void *ectx, char *why, size_t whylen);
	void *lctx;
};

#define OBS_QUERY_STALE_BITS 0x7ff0000000000002ULL
int obs_query_is_stale(double v);
double obs_query_stale_nan(void);

/* ---- evaluation ------------------------------------------------------- */

struct obs_query_opts {
	int64_t lookback_ms;      /* instant vector selectors look back this far (5 m) */
	uint64_t max_samples;     /* samples held at once before failing (50,000,000) */
	int64_t timeout_ms;       /* 0 = none (2 m) */
	int scan_windows;         /* 1: scan every range window (no sliding windows; tests) */
	int raw_only;             /* 1: never read rollup tiers (store.rollup) */
};
void obs_query_opts_default(struct obs_query_opts *o);

struct obs_query_series {
	struct obs_labels labels;
	int64_t *t;
	double *v;
	size_t n;
};

/* The answer of a query. Instant vectors are series with one point each;
 * range queries give a matrix (type OBS_QV_MATRIX) with series sorted by
 * labels, a scalar expression as one series without labels; an instant
 * scalar is one series without labels and one point; strings set str. */
struct obs_query_result {
	enum obs_query_vtype type;
	struct obs_query_series *series;
	size_t nseries;
	char *str;
	char **warnings;          /* "PromQL warning: ..." / "PromQL info: ..." */
	size_t nwarnings;
	int64_t time;             /* the evaluation time (instant) or start (range), ms */
	uint64_t samples_read;    /* raw samples the store handed out */
	uint64_t tier_buckets;    /* rollup buckets read instead of raw samples */
	char err[512];            /* set when the query failed */
};
void obs_query_result_release(struct obs_query_result *r);   /* accepts zeroed */

/* Evaluate at one time (ms) / over [start, end] every step ms. Errors:
 * -EINVAL parse or evaluation error, -E2BIG too many samples, -ETIMEDOUT,
 * -ENOTSUP native histograms, -ENOMEM; res->err says what. res is always
 * initialised, even on failure (release it). */
int obs_query_instant(const struct obs_query_opts *o, const struct obs_query_store *st,
		      const struct obs_query_expr *e, int64_t t, struct obs_query_result *res);
int obs_query_range(const struct obs_query_opts *o, const struct obs_query_store *st,
		    const struct obs_query_expr *e, int64_t start, int64_t end, int64_t step,
		    struct obs_query_result *res);

/* ---- output (format.c) ------------------------------------------------ */

/* Append the answer as text: "SERIES TIME VALUE" per series and time
 * (SERIES in canonical Prometheus notation, "{}" without labels), "TIME
 * VALUE" for a scalar, "TIME STRING" for a string; TIME in tf, VALUE as
 * Prometheus prints floats. 0 or -ENOMEM. */
int obs_query_format_text(const struct obs_query_result *r, enum obs_time_fmt tf, struct obs_buf *out);
/* Append the answer as the "data" object of Prometheus' HTTP API, byte for
 * byte, and a newline. 0 or -ENOMEM. */
int obs_query_format_json(const struct obs_query_result *r, struct obs_buf *out);

/* ---- requests (request.c) --------------------------------------------- */

/* What a client asks: "EXPR [@TIME | @START..END | @RANGE:STEP] [#json]"
 * (grammar at the top of request.c). Times in ms. */
struct obs_query_request {
	char *expr;               /* malloc'd, without the suffixes */
	int range;                /* 0: instant at time */
	int64_t time, start, end, step;
	int json;
};
/* Parse s[0..n) with relative times against now. 0, or -EINVAL (no
 * expression, a NUL byte) / -ENOMEM with err set; the expression itself
 * is not parsed here. */
int obs_query_request_parse(const char *s, size_t n, int64_t now, struct obs_query_request *r, char *err,
			    size_t errlen);
/* Only the time spec after '@' (a saved query's "NAME@SPEC"): sets
 * range/time/start/end/step of r. 0 or -EINVAL. */
int obs_query_request_spec(const char *s, size_t n, int64_t now, struct obs_query_request *r);
void obs_query_request_release(struct obs_query_request *r);   /* accepts NULL */

/* A PromQL duration ("1h30m", "500ms", "0s") in ms. 0 or -EINVAL. */
int obs_query_parse_duration(const char *s, size_t n, int64_t *ms);

/* ---- series descriptions (promqltest, promtool) ---------------------- */

struct obs_query_seqval {
	double v;
	int omitted;      /* "_": no sample */
	int histogram;    /* a native histogram "{{...}}" (value not kept) */
};

/* Parse `name{l="v",...} VALUES` where VALUES use the expanding notation:
 * `1 2 _ stale`, `a+bxN` / `a-bxN` (N+1 values, each the previous plus b),
 * `axN` (N+1 copies), `_xN` (N omitted), `{{...}}` histograms. The labels
 * part alone is fine (nvals 0). Labels may be quoted ("a.b"="x").
 * *vals is malloc'd (free it). 0 or -EINVAL with err set. */
int obs_query_parse_series_desc(const char *s, size_t n, struct obs_labels *l,
				struct obs_query_seqval **vals, size_t *nvals, char *err, size_t errlen);

/* ---- an in-memory store (tests, obs-query test) ----------------------- */

struct obs_query_mem;
struct obs_query_mem *obs_query_mem_new(void);
void obs_query_mem_free(struct obs_query_mem *m);   /* accepts NULL */
void obs_query_mem_clear(struct obs_query_mem *m);
/* Append a sample to the series with labels l (copied); samples of a series
 * must come in time order (an older or equal one replaces/is refused: -EINVAL). */
int obs_query_mem_add(struct obs_query_mem *m, const struct obs_labels *l, int64_t t, double v);
/* The same for n samples of one series (one look-up). */
int obs_query_mem_add_n(struct obs_query_mem *m, const struct obs_labels *l, const int64_t *t, const double *v,
			size_t n);
/* Mark that series l holds a native histogram sample at t: selections
 * touching it fail with -ENOTSUP. */
int obs_query_mem_add_histogram(struct obs_query_mem *m, const struct obs_labels *l, int64_t t);
struct obs_query_store obs_query_mem_store(struct obs_query_mem *m);

#endif
