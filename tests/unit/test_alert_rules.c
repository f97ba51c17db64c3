/* test_alert_rules.c — rule files (lib/alert/rules.h) and the YAML helpers
 * (lib/alert/yamldoc.h): what a parsed file holds (kinds, durations,
 * sorted labels, parsed templates, group labels merged, query_offset,
 * limit), Prometheus' errors with positions, model.Duration both ways. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "alert/rules.h"
#include "alert/yamldoc.h"

static struct obs_rule_file *parse_ok(const char *y)
{
	struct obs_buf e;
	obs_buf_init(&e);
	struct obs_rule_file *f;
	int r = obs_rules_parse(y, strlen(y), &f, &e);
	cr_assert_eq(r, 0, "%s", e.data ? e.data : "");
	obs_buf_release(&e);
	return f;
}

/* the error lines of a refused file (static) */
static const char *parse_err(const char *y)
{
	static char out[4096];
	struct obs_buf e;
	obs_buf_init(&e);
	struct obs_rule_file *f = (void *)1;
	cr_assert_eq(obs_rules_parse(y, strlen(y), &f, &e), -EINVAL);
	cr_assert_null(f);
	snprintf(out, sizeof out, "%s", e.data ? e.data : "");
	obs_buf_release(&e);
	return out;
}

Test(alert_rules, what_a_file_holds)
{
	struct obs_rule_file *f = parse_ok(
		"groups:\n"
		"  - name: a\n"
		"    interval: 30s\n"
		"    query_offset: 1m\n"
		"    limit: 10\n"
		"    labels: {team: db, severity: info}\n"
		"    rules:\n"
		"      - record: job:x:sum\n"
		"        expr: sum by (job) (x)\n"
		"      - alert: X\n"
		"        expr: x > 1\n"
		"        for: 1h30m\n"
		"        keep_firing_for: 5m\n"
		"        labels: {z: last, severity: page, a: '{{ $labels.job }}'}\n"
		"        annotations: {summary: s}\n"
		"  - name: b\n"
		"    rules: []\n");
	cr_assert_eq(f->ngroups, 2);
	cr_expect_eq(f->nrules, 2);
	const struct obs_rule_group *g = &f->groups[0];
	cr_expect_str_eq(g->name, "a");
	cr_expect_eq(g->interval_ms, 30000);
	cr_expect_eq(g->query_offset_ms, 60000);
	cr_expect_eq(g->limit, 10);
	cr_expect_eq(g->line, 2);
	const struct obs_rule *rec = &g->rules[0], *al = &g->rules[1];
	cr_expect_eq(rec->alert, 0);
	cr_expect_str_eq(rec->name, "job:x:sum");
	cr_expect_not_null(rec->expr);
	cr_expect_eq(rec->nlabels, 2, "group labels reach recording rules");
	cr_expect_eq(al->alert, 1);
	cr_expect_eq(al->for_ms, 90 * 60000);
	cr_expect_eq(al->keep_firing_for_ms, 5 * 60000);
	cr_assert_eq(al->nlabels, 4, "rule labels plus the group's team");
	cr_expect_str_eq(al->labels[0].name, "a", "sorted by name");
	cr_expect_str_eq(al->labels[1].name, "severity");
	cr_expect_str_eq(al->labels[1].value, "page", "the rule's label wins over the group's");
	cr_expect_str_eq(al->labels[2].name, "team");
	cr_expect_str_eq(al->labels[3].name, "z");
	cr_expect_not_null(al->labels[0].tmpl, "alert labels are templates");
	cr_expect_not_null(al->annotations[0].tmpl);
	cr_expect_eq(f->groups[1].nrules, 0);
	obs_rules_free(f);
	f = parse_ok("");
	cr_expect_eq(f->ngroups, 0, "an empty file is valid");
	obs_rules_free(f);
	f = parse_ok("groups:\n");
	cr_expect_eq(f->ngroups, 0);
	obs_rules_free(f);
}

Test(alert_rules, prometheus_errors_with_positions)
{
	cr_expect_str_eq(parse_err("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        foo: 1\n"),
			 "line 6: field foo not found in type rulefmt.RuleNode\n");
	cr_expect_str_eq(parse_err("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        expr: x\n"),
			 "line 6: mapping key \"expr\" already defined at line 5\n");
	cr_expect_str_eq(parse_err("groups:\n  - name: g\n    interval: 1.5m\n    rules: []\n"),
			 "line 3: not a valid duration string: \"1.5m\"\n");
	cr_expect_str_eq(parse_err("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: [up]\n"),
			 "line 5: cannot unmarshal !!seq into string\n");
	cr_expect_str_eq(parse_err("groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n"),
			 "4:5: groupname: \"g\" is repeated in the same file\n");
	cr_expect_str_eq(parse_err("groups:\n  - name: g\n    rules:\n      - record: 'a b'\n        expr: up\n        for: 1m\n"),
			 "4:17: group \"g\", rule 1, \"a b\": invalid field 'for' in recording rule\n"
			 "4:17: group \"g\", rule 1, \"a b\": invalid recording rule name: a b\n");
	const char *e = parse_err("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 'up{'\n");
	cr_expect(!strncmp(e, "5:15: group \"g\", rule 1, \"A\": could not parse expression: 1:4: parse error: ", 75), "%s", e);
	cr_expect_str_eq(parse_err("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
				   "        annotations: {s: '{{ nosuch }}'}\n"),
			 "group \"g\", rule 1, \"A\": annotation \"s\": template: __alert_A:1: function \"nosuch\" not defined\n");
	e = parse_err("groups: [\n");
	cr_expect(!strncmp(e, "yaml: line ", 11), "%s", e);
	cr_expect_str_eq(parse_err("groups:\n  - name: g\n    rules:\n      - expr: up\n"),
			 "4:9: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set\n");
}

Test(alert_rules, model_durations)
{
	int64_t ms;
	cr_expect_eq(obs_model_duration_parse("1h30m", &ms), 0);
	cr_expect_eq(ms, 90 * 60000);
	cr_expect_eq(obs_model_duration_parse("0", &ms), 0);
	cr_expect_eq(ms, 0);
	cr_expect_eq(obs_model_duration_parse("1y2w3d4h5m6s7ms", &ms), 0);
	cr_expect_eq(obs_model_duration_parse("1.5m", &ms), -EINVAL);
	cr_expect_eq(obs_model_duration_parse("-1m", &ms), -EINVAL);
	cr_expect_eq(obs_model_duration_parse("5m1h", &ms), -EINVAL, "units in order");
	cr_expect_eq(obs_model_duration_parse("", &ms), -EINVAL);
	char b[32];
	obs_model_duration_format(0, b);
	cr_expect_str_eq(b, "0s");
	obs_model_duration_format(90 * 60000, b);
	cr_expect_str_eq(b, "1h30m");
	obs_model_duration_format(14LL * 86400000, b);
	cr_expect_str_eq(b, "2w");
	obs_model_duration_format(90LL * 86400000, b);
	cr_expect_str_eq(b, "90d", "weeks only when exact");
}

Test(alert_rules, duplicate_lint)
{
	struct obs_rule_file *f = parse_ok("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n"
					   "  - alert: A\n    expr: down\n  - alert: A\n    expr: up\n    labels: {x: y}\n");
	struct obs_buf d;
	obs_buf_init(&d);
	cr_expect_eq(obs_rules_duplicates(f, &d), 1);
	cr_expect_str_eq(d.data, "Metric: A\nLabel(s):\n");
	obs_buf_release(&d);
	obs_rules_free(f);
}
