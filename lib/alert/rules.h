/* rules.h — Prometheus rule files (libobs alert).
 *
 * A rule file is YAML:
 *
 *   groups:
 *     - name: NAME                 required, unique in the file
 *       interval: DURATION         optional (the evaluator's default otherwise)
 *       limit: N                   optional: more alerts/series than N fail the rule
 *       query_offset: DURATION     optional (Prometheus 2.53+): evaluate at t - offset
 *       labels: {K: V}             optional (Prometheus 3): added to every rule
 *       rules:
 *         - alert: NAME | record: METRIC
 *           expr: PROMQL
 *           for: DURATION                   alerting only
 *           keep_firing_for: DURATION       alerting only
 *           labels: {K: V}                  templated for alerts
 *           annotations: {K: V}             alerting only, templated
 *
 * obs_rules_parse reads it exactly as Prometheus' rulefmt does (yaml.v3
 * strict decoding, then Validate): the same files are accepted, and each
 * refusal carries Prometheus' reason and, where it has one, LINE:COL.
 * Durations are model.Duration ("90s", "1h30m"; "1.5m" is refused). */
#ifndef OBS_ALERT_RULES_H
#define OBS_ALERT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "alert/template.h"
#include "core/buf.h"
#include "query/query.h"

struct obs_rule_kv {
	char *name;
	char *value;
	struct obs_tmpl *tmpl;     /* alerting rules: the parsed template */
};

struct obs_rule {
	int alert;                 /* 1: alerting rule, 0: recording rule */
	char *name;                /* alert name or recorded metric name */
	char *expr_text;
	struct obs_query_expr *expr;
	int64_t for_ms;
	int64_t keep_firing_for_ms;
	struct obs_rule_kv *labels;       /* sorted by name */
	size_t nlabels;
	struct obs_rule_kv *annotations;  /* sorted by name */
	size_t nannotations;
	int line;
};

struct obs_rule_group {
	char *name;
	int64_t interval_ms;       /* 0: the evaluator's default */
	int64_t query_offset_ms;
	int64_t limit;
	struct obs_rule_kv *labels;
	size_t nlabels;
	struct obs_rule *rules;
	size_t nrules;
	int line;
};

struct obs_rule_file {
	struct obs_rule_group *groups;
	size_t ngroups;
	size_t nrules;             /* over all groups */
};

/* A rule file is parsed whole (libyaml builds the document tree, as
 * Prometheus' yaml.v3 does), so it is bounded: callers refuse a larger one
 * with -EFBIG before parsing it (16 MiB, far above any real rule file). */
#define OBS_RULES_FILE_MAX (16u << 20)

/* Parse and validate. On success *out holds the file (free it). On refusal
 * returns -EINVAL, *out NULL, and errs gets one line per error, in
 * Prometheus' words ("5:15: group \"g\", rule 1, \"X\": could not parse
 * expression: 1:4: parse error: ..."), without a file-name prefix.
 * -ENOMEM on allocation failure. */
int obs_rules_parse(const char *text, size_t n, struct obs_rule_file **out, struct obs_buf *errs);
void obs_rules_free(struct obs_rule_file *f);   /* accepts NULL */

/* promtool's lint: rules with the same name and labels in one file.
 * Appends "Metric: NAME\nLabel(s):\n\t..." style lines; returns the count. */
size_t obs_rules_duplicates(const struct obs_rule_file *f, struct obs_buf *out);

#endif
