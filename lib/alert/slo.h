/* slo.h — service level objectives as alerting rules (alerts/slos/NAME).
 *
 * An SLO file names an objective (99.9 or 0.999), a window (30d), and the
 * error ratio as either `error_ratio`, `errors` + `total`, or `good` +
 * `total` PromQL expressions in which $window (or {{.window}}) stands for
 * the range of each evaluation window; optional `labels` (a mapping) and
 * `description`. YAML (`key: value`) or `key=value` lines (labels as
 * `label.NAME=VALUE`) are accepted; unknown keys are refused.
 *
 * From it come the SRE workbook's multiwindow, multi-burn-rate rules
 * (chapter 5, "Alerting on SLOs"), as a Prometheus rule file the rule
 * manager loads like any other:
 *   recording rules slo:sli_error:ratio_rateW{slo="NAME",...} for W in 5m,
 *   30m, 1h, 6h, 3d and the SLO window, and slo:objective:ratio;
 *   alert SLOErrorBudgetBurn{severity="page"} when the error ratio exceeds
 *   14.4x the budget over 1h and 5m, or 6x over 6h and 30m;
 *   alert SLOErrorBudgetBurn{severity="ticket"} at 1x over 3d and 6h. */
#ifndef OBS_ALERT_SLO_H
#define OBS_ALERT_SLO_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/labels.h"
#include "query/query.h"

struct am_slo {
	char *name;
	double objective;         /* a ratio in (0, 1), e.g. 0.999 */
	int64_t window_ms;
	char window[32];          /* as PromQL writes it, e.g. "30d" */
	char *ratio;              /* the error-ratio template, with $window */
	struct obs_labels labels;
	char *description;
};

/* The burn-rate windows, in order: 5m 30m 1h 6h 3d (the SLO window is the
 * last one of am_slo_windows). */
extern const char *const AM_SLO_WINDOWS[5];

/* Parse the file NAME. -EINVAL with "line N: reason" (or a reason) in err. */
int am_slo_parse(const char *name, const char *text, size_t n, struct am_slo **out, struct obs_buf *err);
void am_slo_free(struct am_slo *s);   /* accepts NULL */

/* The error ratio over window w ("1h"): the template with $window
 * replaced, in parentheses. */
int am_slo_ratio_expr(const struct am_slo *s, const char *w, struct obs_buf *out);

/* The rule file (YAML text, one group "slo:NAME"). */
int am_slo_rules_yaml(const struct am_slo *s, struct obs_buf *out);

/* The budget state at now, evaluated through the query engine:
 *     slo NAME / objective 99.9% / window 30d / error_budget 0.1%
 *     error_ratio R / budget_remaining P% / burn_rate W X (one per window)
 *     page_1h_5m ok|burning / page_6h_30m ... / ticket_3d_6h ...
 * Values without data are "unknown". Query errors are in the text
 * ("error ..."), not a failure; -ENOMEM only. */
int am_slo_render_state(const struct am_slo *s, const struct obs_query_opts *qo,
			const struct obs_query_store *st, int64_t now, struct obs_buf *out);

#endif
