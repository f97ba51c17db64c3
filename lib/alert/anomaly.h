/* anomaly.h — anomaly rules (alerts/anomalies/NAME): a per-series seasonal
 * baseline and an alert on |z| over a threshold (libobs alert).
 *
 * An anomaly file holds `key: value` lines (or key=value; # comments):
 *   expr         PromQL, required: the series to watch (e.g.
 *                avg_over_time(http_latency_seconds[5m]), which the query
 *                engine serves from the 5m rollup tier)
 *   threshold    |z| that fires, default 3
 *   for          as a rule's `for`, default 0s
 *   min_history  how much history a series needs before it can alert,
 *                default 7d (a week: one of each hour of the week)
 *   history      how far back the baseline reaches, default 28d
 *   step         the resolution of the baseline, default 5m
 *   alert        the alertname, default Anomaly
 *   labels:      then indented `NAME: VALUE` lines (or label.NAME: VALUE)
 *   annotations: likewise (or annotation.NAME: VALUE); default a summary
 *
 * The baseline of a series (am_anomaly_model) is, for each of the 168 hours
 * of the week (UTC, Monday 00:00 first), the mean and standard deviation of
 * expr's values every `step` over `history`, from a range query (so from
 * the rollup tiers where the expression is one the planner serves from
 * them). Rollup buckets keep min/max/sum/count, no sum of squares: the
 * deviation is that of the step values in the hour slot, across weeks.
 * It is refreshed once an hour, not at every evaluation.
 *
 * Each evaluation computes z = (value - mean) / stddev of the value's hour
 * of week and writes anomaly:z{anomaly="NAME", series labels} = z. A series
 * with less than min_history of data, or no deviation for this hour, is
 * cold: no z is written, so it never pages, and the state says why; a z
 * series written last time and not now gets a staleness marker. The
 * rule group "anomaly:NAME" (am_anomaly_rules_yaml) alerts on
 * abs(anomaly:z{anomaly="NAME"}) > threshold. */
#ifndef OBS_ALERT_ANOMALY_H
#define OBS_ALERT_ANOMALY_H

#include <stddef.h>
#include <stdint.h>

#include "alert/ruleeval.h"
#include "core/buf.h"
#include "core/labels.h"
#include "query/query.h"

#define AM_ANOMALY_SLOTS 168          /* hours of the week */
#define AM_ANOMALY_REFRESH_MS 3600000  /* baseline refresh */

struct am_anomaly {
	char *name;
	char *expr_text;
	struct obs_query_expr *expr;
	char alert[128];
	double threshold;
	int64_t for_ms, min_history_ms, history_ms, step_ms;
	char for_text[32];
	struct obs_labels labels;
	struct obs_labels annotations;
};

/* Parse the file NAME. 0, or -EINVAL with "line N: reason" in err, or -ENOMEM. */
int am_anomaly_parse(const char *name, const char *text, size_t n, struct am_anomaly **out, struct obs_buf *err);
void am_anomaly_free(struct am_anomaly *a);   /* accepts NULL */

/* The rule file (YAML text, one group "anomaly:NAME"). 0 or -ENOMEM. */
int am_anomaly_rules_yaml(const struct am_anomaly *a, struct obs_buf *out);

/* Hour of the week of t (ms, UTC), 0 = Monday 00:00-01:00. */
int am_anomaly_slot(int64_t t);

struct am_anomaly_model;
struct am_anomaly_model *am_anomaly_model_new(void);
void am_anomaly_model_free(struct am_anomaly_model *m);   /* accepts NULL */

/* Rebuild the baseline from history before now when it is older than
 * AM_ANOMALY_REFRESH_MS (or never built); force rebuilds anyway. 0, or the
 * query's -errno with the message kept for the state. */
int am_anomaly_refresh(struct am_anomaly_model *m, const struct am_anomaly *a, const struct obs_query_opts *qo,
		       const struct obs_query_store *st, int64_t now, int force);

/* Evaluate at t: expr's value per series against its baseline; every warm
 * series' z goes to out as anomaly:z{anomaly="NAME",...}. Results are kept
 * for am_anomaly_render_state. Refreshes the baseline when due. 0 or -errno
 * (a query error, kept for the state). */
int am_anomaly_eval(struct am_anomaly_model *m, const struct am_anomaly *a, const struct obs_query_opts *qo,
		    const struct obs_query_store *st, int64_t t, const struct obs_rule_appender *out);

/* The state, one line each:
 *   anomaly NAME threshold Z for D min_history D baseline_at TIME|never [error MSG]
 *   series {labels} value V mean M stddev S z Z weeks W ok
 *   series {labels} value V ... weeks W cold REASON
 * (mean/stddev/z "-" when unknown; TIME RFC3339). 0 or -ENOMEM. */
int am_anomaly_render_state(const struct am_anomaly_model *m, const struct am_anomaly *a, struct obs_buf *out);

#endif
