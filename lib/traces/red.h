/* red.h — RED metrics from spans (libobs traces): per service, span name,
 * kind and status code, a call counter and a duration histogram with
 * classic cumulative buckets, rendered as Prometheus text exposition for
 * the metrics store. Names and labels follow the OpenTelemetry Collector's
 * spanmetrics connector:
 *
 *   traces_span_metrics_calls_total{service_name,span_name,span_kind,status_code}
 *   traces_span_metrics_duration_seconds_bucket{...,le}  _sum  _count
 *
 * Buckets (seconds): 0.002 0.004 0.006 0.008 0.01 0.05 0.1 0.2 0.4 0.8 1
 * 1.4 2 5 10 15 +Inf. Counters count from the process start (a restart
 * is a counter reset, which rate() and increase() handle).
 * Not thread-safe: the owner locks. */
#ifndef OBS_TRACES_RED_H
#define OBS_TRACES_RED_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "traces/span.h"

struct obs_red;

struct obs_red *obs_red_new(void);
void obs_red_free(struct obs_red *r);      /* accepts NULL */
int obs_red_add(struct obs_red *r, const struct obs_span *s);   /* 0 or -ENOMEM */
/* Every series with timestamp ts_ms; 0 or -ENOMEM. */
int obs_red_render(struct obs_red *r, int64_t ts_ms, struct obs_buf *out);
size_t obs_red_series(const struct obs_red *r);   /* series rendered */
int obs_red_dirty(const struct obs_red *r);       /* spans added since the last render */

#endif
