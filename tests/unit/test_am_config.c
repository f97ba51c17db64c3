/* test_am_config.c — alerts/config: parsing, defaults and inheritance, the
 * route tree's matching, validation errors with their line, time intervals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "alert/amconfig.h"
#include "core/obstime.h"

static const char *CFG =
	"global:\n"
	"  resolve_timeout: 1m\n"
	"route:\n"
	"  receiver: default\n"
	"  group_by: [alertname]\n"
	"  group_wait: 10s\n"
	"  routes:\n"
	"    - matchers: ['team = \"db\"', 'severity=~\"page|critical\"']\n"
	"      receiver: dba\n"
	"      group_by: ['...']\n"
	"      continue: true\n"
	"    - match: {team: db}\n"
	"      receiver: ticket\n"
	"      repeat_interval: 1h\n"
	"      mute_time_intervals: [weekends]\n"
	"      routes:\n"
	"        - match_re: {service: \"api|web\"}\n"
	"          receiver: web\n"
	"    - receiver: web\n"
	"      matchers: [team=web]\n"
	"      active_time_intervals: [office]\n"
	"receivers:\n"
	"  - name: default\n"
	"  - name: dba\n"
	"    webhook_configs:\n"
	"      - url: http://127.0.0.1:9/hook\n"
	"        send_resolved: false\n"
	"        max_alerts: 5\n"
	"  - name: ticket\n"
	"    exec_configs:\n"
	"      - command: [/bin/sh, -c, 'cat > /dev/null']\n"
	"  - name: web\n"
	"inhibit_rules:\n"
	"  - source_matchers: [severity=critical]\n"
	"    target_matchers: [severity=warning]\n"
	"    equal: [alertname, cluster]\n"
	"  - source_match: {alertname: NodeDown}\n"
	"    target_match_re: {alertname: \".+\"}\n"
	"    equal: [instance]\n"
	"time_intervals:\n"
	"  - name: office\n"
	"    time_intervals:\n"
	"      - times: [{start_time: '09:00', end_time: '17:00'}]\n"
	"        weekdays: ['monday:friday']\n"
	"mute_time_intervals:\n"
	"  - name: weekends\n"
	"    time_intervals:\n"
	"      - weekdays: [saturday, sunday]\n"
	"alerting:\n"
	"  alertmanagers:\n"
	"    - static_configs: [{targets: ['127.0.0.1:9093']}]\n";

static struct obs_labels L(const char *s)
{
	struct obs_labels l;
	cr_assert_eq(obs_labels_parse(s, strlen(s), &l, NULL), 0, "%s", s);
	return l;
}

Test(am_config, parse_defaults_inheritance)
{
	struct am_config *c;
	struct obs_buf err;
	obs_buf_init(&err);
	int rc = am_config_parse(CFG, strlen(CFG), &c, &err);
	cr_assert_eq(rc, 0, "%s", err.data ? err.data : "");
	cr_assert_eq(c->resolve_timeout, 60000);
	cr_assert_eq(c->root.group_wait, 10000);
	cr_assert_eq(c->root.group_interval, AM_GROUP_INTERVAL_DEFAULT);
	cr_assert_eq(c->root.repeat_interval, AM_REPEAT_INTERVAL_DEFAULT);
	cr_assert_str_eq(c->root.key, "{}");
	cr_assert_eq(c->root.nroutes, 3);
	const struct am_route *dba = &c->root.routes[0], *ticket = &c->root.routes[1];
	cr_assert_eq(dba->group_by_all, 1);
	cr_assert_eq(dba->group_wait, 10000, "inherited");
	cr_assert_str_eq(dba->key, "{}/{team=\"db\",severity=~\"page|critical\"}");
	cr_assert_eq(ticket->repeat_interval, 3600000);
	cr_assert_eq(ticket->group_by.n, 1, "group_by inherited");
	cr_assert_str_eq(ticket->group_by.v[0], "alertname");
	cr_assert_eq(ticket->routes[0].repeat_interval, 3600000, "inherited from the parent");
	cr_assert_str_eq(ticket->routes[0].receiver, "web");
	const struct am_receiver *r = am_config_receiver(c, "dba");
	cr_assert_not_null(r);
	cr_assert_eq(r->nwebhooks, 1);
	cr_assert_eq(r->webhooks[0].send_resolved, 0);
	cr_assert_eq(r->webhooks[0].max_alerts, 5);
	r = am_config_receiver(c, "ticket");
	cr_assert_eq(r->nexecs, 1);
	cr_assert_eq(r->execs[0].argv.n, 3);
	cr_assert_eq(r->execs[0].send_resolved, 1);
	cr_assert_eq(c->has_exec, 1);
	cr_assert_eq(c->ninhibits, 2);
	cr_assert_eq(c->inhibits[1].target.v[0].op, OBS_MATCH_RE);
	cr_assert_eq(c->forward.n, 1);
	cr_assert_str_eq(c->forward.v[0], "http://127.0.0.1:9093/");

	/* routing: continue on the first child lets the second match too */
	const struct am_route *out[8];
	struct obs_labels l = L("{alertname=\"X\",team=\"db\",severity=\"page\",service=\"api\"}");
	size_t k = am_route_match(&c->root, &l, out, 8);
	cr_assert_eq(k, 2);
	cr_assert_eq(out[0], dba);
	cr_assert_eq(out[1], &ticket->routes[0], "deepest matching child");
	obs_labels_release(&l);
	l = L("{alertname=\"X\",team=\"db\",service=\"db\"}");
	k = am_route_match(&c->root, &l, out, 8);
	cr_assert_eq(k, 1);
	cr_assert_eq(out[0], ticket, "no child matched: the route itself");
	obs_labels_release(&l);
	l = L("{alertname=\"X\",team=\"ops\"}");
	k = am_route_match(&c->root, &l, out, 8);
	cr_assert_eq(k, 1);
	cr_assert_eq(out[0], &c->root);
	obs_labels_release(&l);

	/* time intervals: 2026-12-05 is a Saturday */
	const struct am_named_tint *we = am_config_tint(c, "weekends"), *of = am_config_tint(c, "office");
	int64_t sat, mon9, mon17;
	cr_assert_eq(obs_time_parse("2026-12-05T12:00:00Z", 20, &sat), 0);
	cr_assert_eq(obs_time_parse("2026-12-07T09:00:00Z", 20, &mon9), 0);
	cr_assert_eq(obs_time_parse("2026-12-07T17:00:00Z", 20, &mon17), 0);
	cr_assert_eq(am_named_tint_contains(we, sat), 1);
	cr_assert_eq(am_named_tint_contains(we, mon9), 0);
	cr_assert_eq(am_named_tint_contains(of, mon9), 1);
	cr_assert_eq(am_named_tint_contains(of, mon17), 0, "end time is exclusive");
	cr_assert_eq(am_named_tint_contains(of, sat), 0);
	am_config_free(c);
	obs_buf_release(&err);
}

Test(am_config, time_interval_fields)
{
	struct am_tinterval t;
	memset(&t, 0, sizeof(t));
	const char *why;
	cr_assert_eq(am_tint_add_range(&t, AM_TF_MDAYS, "-3:-1", &why), 0);
	cr_assert_eq(am_tint_add_range(&t, AM_TF_MONTHS, "february", &why), 0);
	cr_assert_eq(am_tint_add_range(&t, AM_TF_YEARS, "2028", &why), 0);
	int64_t a, b, c;
	cr_assert_eq(obs_time_parse("2028-02-27T00:00:00Z", 20, &a), 0);   /* leap year: 29 days */
	cr_assert_eq(obs_time_parse("2028-02-26T23:59:00Z", 20, &b), 0);
	cr_assert_eq(obs_time_parse("2027-02-27T00:00:00Z", 20, &c), 0);
	cr_assert_eq(am_tinterval_contains(&t, a), 1);
	cr_assert_eq(am_tinterval_contains(&t, b), 0);
	cr_assert_eq(am_tinterval_contains(&t, c), 0, "wrong year");
	am_tinterval_release(&t);
	cr_assert_eq(am_tint_add_range(&t, AM_TF_WEEKDAYS, "friday:monday", &why), -EINVAL);
	cr_assert_str_eq(why, "start day cannot be after end day");
	cr_assert_eq(am_tint_add_range(&t, AM_TF_MONTHS, "13", &why), -EINVAL);
	cr_assert_eq(am_tint_add_time(&t, "17:00", "09:00", &why), -EINVAL);
	cr_assert_eq(am_tint_add_time(&t, "09:00", "24:00", &why), 0);
	cr_assert_eq(am_tint_add_time(&t, "9:00", "10:00", &why), -EINVAL);
	cr_assert_eq(am_tint_set_location(&t, "Mars/Olympus", &why), -EINVAL);
	am_tinterval_release(&t);
}

static void bad(const char *text, const char *expect)
{
	struct am_config *c = (void *)1;
	struct obs_buf err;
	obs_buf_init(&err);
	int rc = am_config_parse(text, strlen(text), &c, &err);
	cr_assert_eq(rc, -EINVAL, "accepted: %s", text);
	cr_assert_null(c);
	cr_assert(err.data && strstr(err.data, expect), "want '%s', got '%s'", expect, err.data ? err.data : "");
	obs_buf_release(&err);
}

Test(am_config, errors_with_lines)
{
	const char *R = "receivers: [{name: a}]\n";
	bad("route:\n  receiver: a\n  group_wait: 30\nreceivers: [{name: a}]\n",
	    "line 3: not a valid duration string: \"30\"");
	bad("route:\n  receiver: a\n  bogus: 1\nreceivers: [{name: a}]\n", "line 3: field bogus not found");
	bad("route:\n  receiver: b\nreceivers: [{name: a}]\n", "undefined receiver \"b\" used in route");
	bad(R, "no route provided in config");
	bad("route: {group_by: [a]}\nreceivers: [{name: a}]\n", "root route must specify a default receiver");
	bad("route: {receiver: a, matchers: [x=y]}\nreceivers: [{name: a}]\n", "root route must not have any matchers");
	bad("route: {receiver: a, group_by: ['...', x]}\nreceivers: [{name: a}]\n", "cannot have wildcard group_by");
	bad("route: {receiver: a, group_by: [x, x]}\nreceivers: [{name: a}]\n", "duplicated label \"x\" in group_by");
	bad("route: {receiver: a, group_by: [1x]}\nreceivers: [{name: a}]\n", "invalid label name \"1x\"");
	bad("route: {receiver: a}\nreceivers: [{name: a}, {name: a}]\n", "notification config name \"a\" is not unique");
	bad("route: {receiver: a, routes: [{matchers: ['x=~\"(\"']}]}\nreceivers: [{name: a}]\n", "bad matcher format");
	bad("route: {receiver: a, routes: [{mute_time_intervals: [w]}]}\nreceivers: [{name: a}]\n",
	    "undefined time interval \"w\" used in route");
	bad("route: {receiver: a}\nreceivers: [{name: a, slack_configs: [{channel: x}]}]\n", "unsupported receiver type slack_configs");
	bad("route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: 'ftp://x'}]}]\n", "unsupported scheme");
	bad("route: {receiver: a}\nreceivers: [{name: a, exec_configs: [{command: 'ls'}]}]\n", "command must be a list");
	bad("route: {receiver: a, repeat_interval: 0s}\nreceivers: [{name: a}]\n", "repeat_interval cannot be zero");
	bad("route: {receiver: a}\nreceivers: [{name: a}]\nfoo: 1\n", "line 3: field foo not found");
	bad("route: [receiver: a\n", "line ");
	bad("route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{weekdays: [funday]}]}]\n",
	    "invalid weekday");
	bad("route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t}]\nmute_time_intervals: [{name: t}]\n",
	    "time interval \"t\" is not unique");
}

/* A time interval whose time_intervals key is given twice: the last list
 * wins (the count used to add up over a list sized for the last one, and
 * the release read past it: fuzz_amconfig-time-intervals-twice). */
Test(am_config, time_intervals_key_twice_last_wins)
{
	static const char text[] = "route:\n  receiver: a\nreceivers:\n  - name: a\ntime_intervals:\n"
				   "  - name: wk\n    time_intervals:\n      - weekdays: [saturday]\n"
				   "      - weekdays: [sunday]\n    time_intervals:\n      - weekdays: [monday]\n";
	struct am_config *c;
	struct obs_buf err;
	obs_buf_init(&err);
	int rc = am_config_parse(text, strlen(text), &c, &err);
	cr_assert_eq(rc, 0, "%s", err.data ? err.data : "");
	cr_assert_eq(c->ntints, 1);
	cr_assert_eq(c->tints[0].n, 1, "the last list only");
	am_config_free(c);
	obs_buf_release(&err);
}
