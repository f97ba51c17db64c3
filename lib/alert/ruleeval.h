/* ruleeval.h — the rule manager: groups of recording and alerting rules
 * evaluated with Prometheus' semantics (libobs alert).
 *
 * Rules of a group run in order at the group's evaluation time, so a
 * recording rule feeds the next rule of the same evaluation. Each
 * evaluation of an alerting rule follows Prometheus' AlertingRule.Eval:
 * pending at the first evaluation returning the series (active_at), firing
 * once t - active_at >= for (at once for for: 0), resolved when the series
 * is gone (kept firing while it has been gone less than keep_firing_for),
 * a pending alert that goes away is dropped, a resolved one is kept 15
 * minutes for notifiers. Alert labels are the series' labels without
 * __name__ plus the rule's templated labels (rule labels win) plus
 * alertname; annotations are templated; a template error becomes
 * "<error expanding template: ...>" as in Prometheus.
 *
 * Outputs go to the appender: recording rules' series (named by `record`),
 * ALERTS{alertname,alertstate,...} = 1 and ALERTS_FOR_STATE{...} =
 * active_at in seconds for every pending and firing alert; a series written
 * in the previous evaluation of a rule and not in this one gets a
 * staleness marker (as do all series of a rule or group that is removed).
 * Alerts and transitions go to the sink (alert.h).
 *
 * At the first evaluation of an alerting rule with `for`, an alert that
 * is new (no saved state restored it, obs_ruleeval_restore) takes its for
 * state from ALERTS_FOR_STATE as Prometheus' RestoreForState does: the
 * last sample of its labels within OBS_ALERT_FOR_OUTAGE_TOLERANCE_MS (1h)
 * before now gives active_at (its value) and the time the evaluator went
 * down (its time); an alert that had fired fires at once with its old
 * active_at, one that would fire within OBS_ALERT_FOR_GRACE_PERIOD_MS (10m)
 * fires that long after now, others keep their pending time minus the
 * outage. So a lost or older state file does not re-pend firing alerts.
 *
 * The evaluator is thread-safe: one mutex guards the groups; sink and
 * appender are called with it held (they must not call back in). */
#ifndef OBS_ALERT_RULEEVAL_H
#define OBS_ALERT_RULEEVAL_H

#include <stddef.h>
#include <stdint.h>

#include "alert/alert.h"
#include "alert/rules.h"
#include "core/buf.h"
#include "query/query.h"

#define OBS_ALERT_FOR_OUTAGE_TOLERANCE_MS (60 * 60 * 1000LL)
#define OBS_ALERT_FOR_GRACE_PERIOD_MS (10 * 60 * 1000LL)

struct obs_rule_appender {
	/* Write one sample; v may be the staleness NaN. 0 or -errno (an error
	 * marks the rule unhealthy with the message, evaluation goes on). */
	int (*append)(void *ctx, const struct obs_labels *l, int64_t t, double v);
	void *ctx;
};

struct obs_ruleeval_opts {
	struct obs_query_store store;
	struct obs_query_opts qopts;
	struct obs_rule_appender out;
	struct obs_alert_sink sink;
	const struct obs_labels *external_labels;   /* copied */
	const char *external_url;                   /* copied */
	int64_t default_interval_ms;                /* 0: 1m */
	int64_t resend_delay_ms;                    /* 0: 1m */
};
void obs_ruleeval_opts_default(struct obs_ruleeval_opts *o);

struct obs_ruleeval;

int obs_ruleeval_new(const struct obs_ruleeval_opts *o, struct obs_ruleeval **out);
void obs_ruleeval_free(struct obs_ruleeval *e);   /* accepts NULL; writes no stale markers */

/* Install the rules of file (a name, e.g. "team.rules.yml"), replacing
 * what was loaded under that name; takes ownership of f (also on error).
 * Groups and rules with the same names keep their state (alerts, previous
 * series), like Prometheus' reload; the series of rules and groups that
 * went away get stale markers at now. A group's first evaluation is due at
 * the next multiple of its interval. 0 or -ENOMEM. */
int obs_ruleeval_set(struct obs_ruleeval *e, const char *file, struct obs_rule_file *f, int64_t now);
/* Remove file's rules (stale markers at now). 0 or -ENOENT. */
int obs_ruleeval_remove(struct obs_ruleeval *e, const char *file, int64_t now);

/* Evaluate every group due at now (next_eval <= now) at its aligned time;
 * returns the earliest next due time (INT64_MAX without groups). */
int64_t obs_ruleeval_tick(struct obs_ruleeval *e, int64_t now);

/* Evaluate all groups at t, ordered by their rank in order[] (groups not
 * named rank 0, ties keep load order), as promtool's group_eval_order.
 * Returns the number of rule evaluation errors; each appends
 * "    rule: NAME, time: T, err: MSG" lines to errs when non-NULL. */
size_t obs_ruleeval_eval_all(struct obs_ruleeval *e, int64_t t, const char *const *order, size_t norder,
			     struct obs_buf *errs);

/* Deep copies of every alert (pending, firing, resolved within retention),
 * rule/group/file included (freed by obs_ruleeval_alerts_free). rule_name
 * non-NULL: only that alerting rule's. 0 or -ENOMEM. */
int obs_ruleeval_alerts(struct obs_ruleeval *e, const char *rule_name, struct obs_alert **out, size_t *n);
void obs_ruleeval_alerts_free(struct obs_alert *a, size_t n);

/* alerts/state: one line per rule, then one per alert of it:
 *   rule FILE GROUP NAME alerting|recording ok|err|unknown LAST_EVAL DURATION [ERR]
 *   alert NAME {labels} STATE VALUE since ACTIVE_AT [fired FIRED_AT] [resolved RESOLVED_AT]
 * (times RFC3339; DURATION like "1.2ms"). */
int obs_ruleeval_render_state(struct obs_ruleeval *e, struct obs_buf *out);

/* Number of files / groups / rules loaded. */
void obs_ruleeval_counts(struct obs_ruleeval *e, size_t *files, size_t *groups, size_t *rules);

/* ---- state persistence hooks (alertstate.c) ---- */

/* Calls fn for every alert with its file and group; under the lock. */
int obs_ruleeval_each_alert(struct obs_ruleeval *e,
			    int (*fn)(void *ctx, const char *file, const char *group, const struct obs_alert *a),
			    void *ctx);
/* Remember a saved alert: when a group (file, group) with an alerting rule
 * a->rule is installed, the alert resumes with its saved state (no
 * re-pending after a restart). Applies at once to loaded groups. Copies a. */
int obs_ruleeval_restore(struct obs_ruleeval *e, const char *file, const char *group, const struct obs_alert *a);
/* Incremented at every change of any alert's state: savers compare it. */
uint64_t obs_ruleeval_generation(struct obs_ruleeval *e);

#endif
