/* statsagg.h — StatsD aggregation per flush interval, as the statsd daemon
 * does it (libobs ingest). Lines are parsed by the StatsD parser (statsd.c);
 * the aggregator keeps one entry per (type, name, tags) and renders, at each
 * flush, Prometheus text lines stamped with the flush time:
 *
 *   counter  c      NAME_count  sum of value/rate in the interval
 *                   NAME_rate   NAME_count per second of the interval
 *   gauge    g      NAME        last value; "+N"/"-N" add to the previous one
 *   timer    ms h d NAME_count  samples (each counts 1/rate), NAME_sum,
 *                   NAME_min, NAME_max, NAME_mean (sum / samples received),
 *                   NAME{quantile="0.P"} for each configured percentile P:
 *                   the value at rank round(P/100 * n) of the sorted values
 *                   (the statsd daemon's upper_P)
 *   set      s      NAME_unique number of distinct members in the interval
 *
 * DogStatsD tags (|#k:v) are labels. Like the statsd daemon's defaults,
 * counters and sets seen once are rendered every flush (0 when idle), gauges
 * keep their last value, timers without samples render NAME_count 0 only.
 * Not thread-safe: one owner feeds and flushes. */
#ifndef OBS_INGEST_STATSAGG_H
#define OBS_INGEST_STATSAGG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define OBS_STATSAGG_MAX_PCTS 16

struct obs_statsagg;

struct obs_statsagg_stats {
	uint64_t lines;       /* lines aggregated */
	uint64_t bad_lines;   /* lines rejected by the parser */
	uint64_t entries;     /* distinct (type, name, tags) kept */
};

/* A new aggregator with the given timer percentiles (each in (0, 100],
 * at most OBS_STATSAGG_MAX_PCTS). NULL with errno EINVAL or ENOMEM. */
struct obs_statsagg *obs_statsagg_new(const double *pcts, int npcts);
void obs_statsagg_free(struct obs_statsagg *a);   /* accepts NULL */

/* Aggregate every line of buf[0..n) (one datagram: lines split by '\n').
 * Returns the number of rejected lines (>= 0) or -ENOMEM (the lines before
 * the failure are kept). If err is non-NULL it is called per rejected line. */
long obs_statsagg_feed(struct obs_statsagg *a, const char *buf, size_t n,
		       void (*err)(void *ctx, const char *line, size_t len, const char *why), void *ctx);

/* Append the interval's aggregates to out as "SERIES VALUE TS_MS" lines
 * (ts_ms the flush time, interval_ms the interval's length, for rates) and
 * start a new interval. 0 or -ENOMEM (out may then hold a partial render;
 * the state is reset all the same). */
int obs_statsagg_flush(struct obs_statsagg *a, int64_t ts_ms, int64_t interval_ms, struct obs_buf *out);

void obs_statsagg_stats(const struct obs_statsagg *a, struct obs_statsagg_stats *st);

#endif
