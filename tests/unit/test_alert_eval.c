/* test_alert_eval.c — the rule manager (lib/alert/ruleeval.h) over the
 * in-memory store: pending/firing/resolved with for and keep_firing_for,
 * dropped pending alerts, resolved retention, labels and templated
 * annotations, ALERTS / ALERTS_FOR_STATE, recording rules feeding the next
 * rule, staleness, duplicate label sets, limits, reload and removal, the
 * sink's events and resend bookkeeping, and state persistence across a
 * restart (lib/alert/alertstate.h) including a corrupt state file, and
 * the for state restored from ALERTS_FOR_STATE without one (outage
 * tolerance, grace period). */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert/alertstate.h"
#include "alert/ruleeval.h"
#include "query_text.h"

#define M 60000LL

static struct obs_query_mem *mem;
static struct obs_ruleeval *ev;
static char events[8192];
static size_t nsend;
static size_t last_send_n;
static int64_t last_send_sent;   /* alerts with last_sent_at == now */

static int mem_append(void *ctx, const struct obs_labels *l, int64_t t, double v)
{
	return obs_query_mem_add(ctx, l, t, v);
}

static void on_event(void *ctx, const struct obs_alert_event *e)
{
	char b[256];
	const char *inst = obs_labels_get(&e->alert->labels, "instance");
	snprintf(b, sizeof b, "%lld %s %s %s;", (long long)(e->t / M), obs_alert_event_name(e->kind), e->alert->rule,
		 inst ? inst : "-");
	strncat(events, b, sizeof events - strlen(events) - 1);
}

static void on_send(void *ctx, const char *file, const char *group, int64_t now, const struct obs_alert *const *a,
		    size_t n)
{
	nsend++;
	last_send_n = n;
	last_send_sent = 0;
	for (size_t i = 0; i < n; i++)
		if (a[i]->last_sent_at == now)
			last_send_sent++;
}

static void add(const char *series, int64_t t, double v)
{
	struct obs_labels l;
	const char *why;
	cr_assert_eq(obs_labels_parse(series, strlen(series), &l, &why), 0, "%s", series);
	cr_assert_eq(obs_query_mem_add(mem, &l, t, v), 0);
	obs_labels_release(&l);
}

static struct obs_ruleeval *new_eval(void)
{
	struct obs_ruleeval_opts o;
	obs_ruleeval_opts_default(&o);
	o.store = obs_query_mem_store(mem);
	o.out = (struct obs_rule_appender){ mem_append, mem };
	o.sink = (struct obs_alert_sink){ on_send, on_event, NULL };
	struct obs_ruleeval *e;
	cr_assert_eq(obs_ruleeval_new(&o, &e), 0);
	return e;
}

static void setup(void)
{
	mem = obs_query_mem_new();
	ev = new_eval();
	events[0] = 0;
	nsend = 0;
}

static void teardown(void)
{
	obs_ruleeval_free(ev);
	obs_query_mem_free(mem);
}

static void load(struct obs_ruleeval *e, const char *name, const char *yaml)
{
	struct obs_buf errs;
	obs_buf_init(&errs);
	struct obs_rule_file *f;
	int r = obs_rules_parse(yaml, strlen(yaml), &f, &errs);
	cr_assert_eq(r, 0, "%s", errs.data ? errs.data : "");
	obs_buf_release(&errs);
	cr_assert_eq(obs_ruleeval_set(e, name, f, 0), 0);
}

/* evaluate at t minutes */
static void at(int64_t min)
{
	obs_ruleeval_eval_all(ev, min * M, NULL, 0, NULL);
}

/* the instant vector of q at t minutes as "labels=value;" text */
static const char *q(const char *expr, int64_t min)
{
	static char out[4096];
	out[0] = 0;
	struct obs_query_expr *e;
	char err[300];
	cr_assert_eq(obs_query_parse(expr, strlen(expr), &e, err, sizeof err), 0, "%s", err);
	struct obs_query_opts o;
	obs_query_opts_default(&o);
	struct obs_query_store st = obs_query_mem_store(mem);
	struct obs_query_result r;
	cr_assert_eq(obs_query_instant(&o, &st, e, min * M, &r), 0, "%s", r.err);
	vector_text(&r, out, sizeof out);
	obs_query_result_release(&r);
	obs_query_expr_free(e);
	return out;
}

static size_t nalerts(const char *rule, enum obs_alert_state st, struct obs_alert *first)
{
	struct obs_alert *a;
	size_t n, k = 0;
	cr_assert_eq(obs_ruleeval_alerts(ev, rule, &a, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (a[i].state == st) {
			if (!k && first) {
				cr_assert_eq(obs_alert_copy(first, &a[i]), 0);
				first->rule = first->group = first->file = NULL;
			}
			k++;
		}
	obs_ruleeval_alerts_free(a, n);
	return k;
}

TestSuite(alert_eval, .init = setup, .fini = teardown);

static const char *down_rules =
	"groups:\n"
	"  - name: g\n"
	"    rules:\n"
	"      - alert: Down\n"
	"        expr: up == 0\n"
	"        for: 3m\n"
	"        labels: {severity: page, job: overridden}\n"
	"        annotations:\n"
	"          summary: '{{ $labels.instance }} down, value {{ $value }}'\n"
	"          bad: '{{ humanize \"x\" }}'\n";

Test(alert_eval, pending_then_firing_after_for_then_resolved)
{
	load(ev, "r.yml", down_rules);
	for (int m = 0; m <= 12; m++)
		add("up{instance=\"a\",job=\"node\"}", m * M, m >= 2 && m <= 7 ? 0 : 1);
	at(1);
	cr_expect_eq(nalerts("Down", OBS_ALERT_PENDING, NULL), 0);
	at(2);
	struct obs_alert a;
	cr_assert_eq(nalerts("Down", OBS_ALERT_PENDING, &a), 1, "pending at the first true evaluation");
	cr_expect_eq(a.active_at, 2 * M);
	cr_expect_str_eq(obs_labels_get(&a.labels, "alertname"), "Down");
	cr_expect_str_eq(obs_labels_get(&a.labels, "job"), "overridden", "rule labels win");
	cr_expect_str_eq(obs_labels_get(&a.labels, "instance"), "a");
	cr_expect_null(obs_labels_get(&a.labels, "__name__"));
	cr_expect_str_eq(obs_labels_get(&a.annotations, "summary"), "a down, value 0");
	cr_expect(strstr(obs_labels_get(&a.annotations, "bad"), "<error expanding template: template: __alert_Down:1:"),
		  "%s", obs_labels_get(&a.annotations, "bad"));
	obs_alert_release(&a);
	cr_expect_str_eq(q("ALERTS", 2),
			 "ALERTS{alertname=\"Down\",alertstate=\"pending\",instance=\"a\",job=\"overridden\",severity=\"page\"}=1;");
	cr_expect_str_eq(q("ALERTS_FOR_STATE", 2),
			 "ALERTS_FOR_STATE{alertname=\"Down\",instance=\"a\",job=\"overridden\",severity=\"page\"}=120;");
	at(3);
	at(4);
	cr_expect_eq(nalerts("Down", OBS_ALERT_FIRING, NULL), 0, "not before for has passed");
	at(5);
	cr_assert_eq(nalerts("Down", OBS_ALERT_FIRING, &a), 1, "firing once t - activeAt >= for");
	cr_expect_eq(a.fired_at, 5 * M);
	obs_alert_release(&a);
	/* the pending series went stale when the alert fired */
	cr_expect_str_eq(q("ALERTS{alertstate=\"pending\"}", 5), "");
	cr_expect_str_eq(q("count(ALERTS{alertstate=\"firing\"})", 5), "{}=1;");
	at(6);
	at(7);
	at(8);
	cr_assert_eq(nalerts("Down", OBS_ALERT_INACTIVE, &a), 1, "resolved when the condition is gone");
	cr_expect_eq(a.resolved_at, 8 * M);
	cr_expect_eq(a.valid_until, 8 * M, "a resolve is sent with endsAt = resolvedAt");
	cr_expect_eq(a.last_sent_at, 8 * M);
	obs_alert_release(&a);
	cr_expect_str_eq(q("ALERTS", 8), "", "ALERTS is stale after the resolve");
	cr_expect_str_eq(events, "2 pending Down a;5 firing Down a;8 resolved Down a;");
	/* kept 15 minutes for notifications, then forgotten */
	add("up{instance=\"a\",job=\"node\"}", 20 * M, 1);
	at(20);
	cr_expect_eq(nalerts("Down", OBS_ALERT_INACTIVE, NULL), 1);
	at(24);
	cr_expect_eq(nalerts("Down", OBS_ALERT_INACTIVE, NULL), 0, "dropped after resolvedRetention");
}

Test(alert_eval, pending_that_goes_away_is_dropped_without_resolve)
{
	load(ev, "r.yml", down_rules);
	add("up{instance=\"b\"}", 0, 0);
	add("up{instance=\"b\"}", 1 * M, 1);
	at(0);
	cr_expect_eq(nalerts("Down", OBS_ALERT_PENDING, NULL), 1);
	at(1);
	cr_expect_eq(nalerts("Down", OBS_ALERT_PENDING, NULL), 0);
	cr_expect_eq(nalerts("Down", OBS_ALERT_INACTIVE, NULL), 0, "no resolved entry for a pending alert");
	cr_expect_str_eq(events, "0 pending Down b;1 inactive Down b;");
}

Test(alert_eval, for_zero_fires_at_once_and_keep_firing_for_holds)
{
	load(ev, "r.yml",
	     "groups:\n- name: g\n  rules:\n"
	     "  - alert: Now\n    expr: errors > 5\n"
	     "  - alert: Kept\n    expr: errors > 5\n    keep_firing_for: 3m\n");
	add("errors{instance=\"x\"}", 0, 10);
	add("errors{instance=\"x\"}", 1 * M, 0);
	at(0);
	cr_expect_eq(nalerts("Now", OBS_ALERT_FIRING, NULL), 1, "for 0: firing at the first evaluation");
	cr_expect_str_eq(events, "0 firing Now x;0 firing Kept x;", "no pending event for for 0");
	at(1);
	cr_expect_eq(nalerts("Now", OBS_ALERT_FIRING, NULL), 0);
	struct obs_alert a;
	cr_assert_eq(nalerts("Kept", OBS_ALERT_FIRING, &a), 1, "kept firing");
	cr_expect_eq(a.keep_firing_since, 1 * M);
	cr_expect_eq(a.value, 10, "the last value stays");
	obs_alert_release(&a);
	at(3);
	cr_expect_eq(nalerts("Kept", OBS_ALERT_FIRING, NULL), 1);
	at(4);
	cr_expect_eq(nalerts("Kept", OBS_ALERT_FIRING, NULL), 0, "resolved once keep_firing_for has passed");
	cr_expect_eq(nalerts("Kept", OBS_ALERT_INACTIVE, &a), 1);
	cr_expect_eq(a.resolved_at, 4 * M);
	obs_alert_release(&a);
}

Test(alert_eval, keep_firing_resets_when_the_condition_returns)
{
	load(ev, "r.yml", "groups:\n- name: g\n  rules:\n  - alert: K\n    expr: e > 5\n    keep_firing_for: 2m\n");
	double v[] = { 10, 0, 10, 0, 0, 0 };
	for (int m = 0; m < 6; m++)
		add("e", m * M, v[m]);
	for (int m = 0; m <= 3; m++)
		at(m);
	struct obs_alert a;
	cr_assert_eq(nalerts("K", OBS_ALERT_FIRING, &a), 1);
	cr_expect_eq(a.keep_firing_since, 3 * M, "restarted at the second gap");
	obs_alert_release(&a);
	at(4);
	cr_expect_eq(nalerts("K", OBS_ALERT_FIRING, NULL), 1);
	at(5);
	cr_expect_eq(nalerts("K", OBS_ALERT_FIRING, NULL), 0);
}

Test(alert_eval, recording_rule_feeds_the_next_rule_and_goes_stale)
{
	load(ev, "r.yml",
	     "groups:\n- name: g\n  rules:\n"
	     "  - record: job:req:sum\n    expr: sum by (job) (req)\n    labels: {team: web}\n"
	     "  - alert: Busy\n    expr: job:req:sum > 10\n");
	add("req{job=\"a\",i=\"1\"}", 0, 6);
	add("req{job=\"a\",i=\"2\"}", 0, 6);
	add("req{job=\"a\",i=\"1\"}", 1 * M, 1);
	add("req{job=\"a\",i=\"2\"}", 1 * M, 1);
	at(0);
	cr_expect_str_eq(q("job:req:sum", 0), "job:req:sum{job=\"a\",team=\"web\"}=12;");
	cr_expect_eq(nalerts("Busy", OBS_ALERT_FIRING, NULL), 1, "the alert sees the record of the same evaluation");
	at(1);
	cr_expect_eq(nalerts("Busy", OBS_ALERT_FIRING, NULL), 0);
	/* the inputs vanish: the record gets a stale marker, not 5 minutes of lookback */
	add("req{job=\"a\",i=\"1\"}", 2 * M, obs_query_stale_nan());
	add("req{job=\"a\",i=\"2\"}", 2 * M, obs_query_stale_nan());
	at(2);
	cr_expect_str_eq(q("job:req:sum", 3), "");
}

Test(alert_eval, errors_duplicates_limit_and_non_vectors)
{
	load(ev, "r.yml",
	     "groups:\n- name: g\n  limit: 1\n  rules:\n"
	     "  - alert: Dup\n    expr: x > 0\n    labels: {i: same}\n"
	     "  - alert: Many\n    expr: y > 0\n"
	     "  - record: s\n    expr: '\"a string\"'\n");
	add("x{i=\"1\"}", 0, 1);
	add("x{i=\"2\"}", 0, 1);
	add("y{i=\"1\"}", 0, 1);
	add("y{i=\"2\"}", 0, 1);
	struct obs_buf errs;
	obs_buf_init(&errs);
	size_t n = obs_ruleeval_eval_all(ev, 0, NULL, 0, &errs);
	cr_expect_eq(n, 3);
	cr_expect(strstr(errs.data, "rule: Dup, time: 0s, err: vector contains metrics with the same labelset after applying alert labels"), "%s", errs.data);
	cr_expect(strstr(errs.data, "rule: Many, time: 0s, err: exceeded limit of 1 with 2 alerts"), "%s", errs.data);
	cr_expect(strstr(errs.data, "rule: s, time: 0s, err: rule result is not a vector or scalar"), "%s", errs.data);
	obs_buf_release(&errs);
	struct obs_buf st;
	obs_buf_init(&st);
	cr_assert_eq(obs_ruleeval_render_state(ev, &st), 0);
	cr_expect(strstr(st.data, "rule r.yml g Dup alerting err "), "%s", st.data);
	obs_buf_release(&st);
}

Test(alert_eval, sink_gets_group_alerts_and_resend_rule)
{
	load(ev, "r.yml", "groups:\n- name: g\n  interval: 15s\n  rules:\n  - alert: F\n    expr: v > 0\n");
	for (int s = 0; s <= 120; s += 15)
		add("v", s * 1000, 1);
	obs_ruleeval_eval_all(ev, 0, NULL, 0, NULL);
	cr_expect_eq(nsend, 1);
	cr_expect_eq(last_send_n, 1);
	cr_expect_eq(last_send_sent, 1, "sent at the first firing evaluation");
	obs_ruleeval_eval_all(ev, 15000, NULL, 0, NULL);
	cr_expect_eq(last_send_sent, 0, "not again within the resend delay");
	obs_ruleeval_eval_all(ev, 60000, NULL, 0, NULL);
	cr_expect_eq(last_send_sent, 1, "re-sent after 1m");
	struct obs_alert a;
	cr_assert_eq(nalerts("F", OBS_ALERT_FIRING, &a), 1);
	cr_expect_eq(a.valid_until, 60000 + 4 * 60000, "endsAt = now + 4 * max(interval, resend delay)");
	obs_alert_release(&a);
}

Test(alert_eval, reload_keeps_state_remove_writes_stale)
{
	load(ev, "r.yml", down_rules);
	for (int m = 0; m <= 10; m++)
		add("up{instance=\"a\"}", m * M, 0);
	at(0);
	at(1);
	/* the same rule again, with a changed annotation: the alert keeps active_at */
	load(ev, "r.yml",
	     "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 3m\n"
	     "        labels: {severity: page, job: overridden}\n");
	at(2);
	at(3);
	struct obs_alert a;
	cr_assert_eq(nalerts("Down", OBS_ALERT_FIRING, &a), 1, "fired at activeAt + for despite the reload");
	cr_expect_eq(a.active_at, 0);
	obs_alert_release(&a);
	cr_assert_eq(obs_ruleeval_remove(ev, "r.yml", 4 * M), 0);
	cr_expect_str_eq(q("ALERTS", 4), "", "stale markers for a removed file");
	cr_expect_eq(obs_ruleeval_remove(ev, "r.yml", 4 * M), -ENOENT);
}

Test(alert_eval, state_survives_a_restart)
{
	char path[] = "/tmp/test_alert_stateXXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	load(ev, "r.yml", down_rules);
	for (int m = 0; m <= 30; m++)
		add("up{instance=\"a\"}", m * M, 0);
	for (int m = 0; m <= 10; m++)
		at(m);
	cr_assert_eq(nalerts("Down", OBS_ALERT_FIRING, NULL), 1);
	cr_assert_eq(obs_alertstate_save(ev, path), 0);

	/* a new evaluator: load the state, then the rules (as the daemon does) */
	obs_ruleeval_free(ev);
	ev = new_eval();
	events[0] = 0;
	size_t n;
	cr_assert_eq(obs_alertstate_load(ev, path, &n), 0);
	cr_expect_eq(n, 1);
	load(ev, "r.yml", down_rules);
	struct obs_alert a;
	cr_assert_eq(nalerts("Down", OBS_ALERT_FIRING, &a), 1, "firing right after the restart, before any evaluation");
	cr_expect_eq(a.active_at, 0);
	cr_expect_eq(a.fired_at, 3 * M);
	cr_expect_str_eq(obs_labels_get(&a.annotations, "summary"), "a down, value 0");
	obs_alert_release(&a);
	at(11);
	cr_expect_eq(nalerts("Down", OBS_ALERT_FIRING, NULL), 1, "no re-pending");
	cr_expect_str_eq(events, "", "no transition at the first evaluation after the restart");
	cr_expect_str_eq(q("ALERTS_FOR_STATE", 11),
			 "ALERTS_FOR_STATE{alertname=\"Down\",instance=\"a\",job=\"overridden\",severity=\"page\"}=0;");

	/* a corrupt file restores nothing and says so */
	FILE *f = fopen(path, "r+");
	cr_assert_not_null(f);
	fseek(f, 30, SEEK_SET);
	fputc('#', f);
	fclose(f);
	struct obs_ruleeval *e2 = new_eval();
	cr_expect_eq(obs_alertstate_load(e2, path, &n), -EBADMSG);
	cr_expect_eq(n, 0);
	obs_ruleeval_free(e2);
	unlink(path);
	e2 = new_eval();
	cr_expect_eq(obs_alertstate_load(e2, path, &n), 0, "a missing file is no saved alerts");
	obs_ruleeval_free(e2);
}

Test(alert_eval, state_text_round_trips_odd_labels)
{
	load(ev, "r.yml", "groups:\n- name: \"g\\tx\"\n  rules:\n  - alert: T\n    expr: v > 0\n"
			  "    annotations: {d: \"line1\\nline2\\ttab \\\\ back\"}\n");
	add("v{path=\"/a\\tb\"}", 0, 1);
	at(0);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_alertstate_encode(ev, &b), 0);
	struct obs_ruleeval *e2 = new_eval();
	cr_assert_eq(obs_alertstate_decode(b.data, b.len, NULL, NULL), 0);
	char tmp[] = "/tmp/test_alert_rtXXXXXX";
	int fd = mkstemp(tmp);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
	close(fd);
	size_t n;
	cr_assert_eq(obs_alertstate_load(e2, tmp, &n), 0);
	cr_expect_eq(n, 1);
	struct obs_buf b2;
	obs_buf_init(&b2);
	cr_assert_eq(obs_alertstate_encode(e2, &b2), 0);
	cr_expect_str_eq(b2.data, b.data, "the saved text reads back to the same text");
	obs_buf_release(&b);
	obs_buf_release(&b2);
	obs_ruleeval_free(e2);
	unlink(tmp);
}

Test(alert_eval, tick_aligns_to_the_group_interval)
{
	load(ev, "r.yml", "groups:\n- name: g\n  interval: 10s\n  rules:\n  - record: r\n    expr: vector(1)\n");
	int64_t next = obs_ruleeval_tick(ev, 12345);
	cr_expect_eq(next, 20000, "evaluated at 10s, next at 20s");
	cr_expect_str_eq(q("r", 0), "", "nothing written before 10s");
	next = obs_ruleeval_tick(ev, 15000);
	cr_expect_eq(next, 20000, "not due yet");
	next = obs_ruleeval_tick(ev, 47000);
	cr_expect_eq(next, 50000, "a late tick evaluates once at the latest aligned time");
}

/* ---- ALERTS_FOR_STATE: the for state without a state file ---- */

/* a new evaluator on the same store, without the saved state (a lost or
 * copied data directory), rules loaded */
static void restart_without_state(const char *rules)
{
	obs_ruleeval_free(ev);
	ev = new_eval();
	events[0] = 0;
	load(ev, "r.yml", rules);
}

static const char *for_rules(const char *dur)
{
	static char b[256];
	snprintf(b, sizeof b, "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: %s\n",
		 dur);
	return b;
}

Test(alert_eval, firing_alert_restored_from_alerts_for_state)
{
	load(ev, "r.yml", down_rules);
	for (int m = 100; m <= 300; m++)
		add("up{instance=\"a\"}", m * M, 0);
	for (int m = 100; m <= 110; m++)
		at(m);
	cr_assert_eq(nalerts("Down", OBS_ALERT_FIRING, NULL), 1);
	restart_without_state(down_rules);
	at(112);   /* down for a minute */
	struct obs_alert a;
	cr_assert_eq(nalerts("Down", OBS_ALERT_FIRING, &a), 1, "firing at the first evaluation, not re-pended");
	cr_expect_eq(a.active_at, 100 * M, "since the original activation");
	obs_alert_release(&a);
	cr_expect_str_eq(events, "112 firing Down a;", "no pending transition");
	/* down longer than the outage tolerance (1h): starts over */
	restart_without_state(down_rules);
	at(112 + 61);
	cr_assert_eq(nalerts("Down", OBS_ALERT_PENDING, &a), 1);
	cr_expect_eq(a.active_at, 173 * M);
	obs_alert_release(&a);
	cr_expect_str_eq(events, "173 pending Down a;");
}

Test(alert_eval, pending_alert_restored_with_grace_period_and_outage)
{
	for (int m = 300; m <= 500; m++)
		add("up{instance=\"a\"}", m * M, 0);
	/* for 15m, 10m spent pending: 5m left, less than the 10m grace period */
	load(ev, "r.yml", for_rules("15m"));
	for (int m = 300; m <= 310; m++)
		at(m);
	restart_without_state(for_rules("15m"));
	at(312);
	struct obs_alert a;
	cr_assert_eq(nalerts("Down", OBS_ALERT_PENDING, &a), 1);
	cr_expect_eq(a.active_at, (312 + 10 - 15) * M, "fires the grace period after the restart");
	obs_alert_release(&a);
	at(321);
	cr_expect_eq(nalerts("Down", OBS_ALERT_FIRING, NULL), 0);
	at(322);
	cr_expect_eq(nalerts("Down", OBS_ALERT_FIRING, NULL), 1);

	/* for 1h, 5m spent pending, down 3m: pending since 5m before the restart */
	obs_ruleeval_free(ev);
	obs_query_mem_free(mem);
	mem = obs_query_mem_new();
	ev = new_eval();
	for (int m = 300; m <= 500; m++)
		add("up{instance=\"a\"}", m * M, 0);
	load(ev, "r.yml", for_rules("1h"));
	for (int m = 400; m <= 405; m++)
		at(m);
	restart_without_state(for_rules("1h"));
	at(408);
	cr_assert_eq(nalerts("Down", OBS_ALERT_PENDING, &a), 1);
	cr_expect_eq(a.active_at, 403 * M, "the outage does not count as time pending");
	obs_alert_release(&a);
	at(462);
	cr_expect_eq(nalerts("Down", OBS_ALERT_FIRING, NULL), 0);
	at(463);
	cr_expect_eq(nalerts("Down", OBS_ALERT_FIRING, NULL), 1);
}

Test(alert_eval, resolved_alert_is_not_restored_from_alerts_for_state)
{
	load(ev, "r.yml", down_rules);
	for (int m = 100; m <= 130; m++)
		add("up{instance=\"a\"}", m * M, m <= 110 || m >= 113 ? 0 : 1);
	for (int m = 100; m <= 112; m++)
		at(m);
	cr_assert_eq(nalerts("Down", OBS_ALERT_INACTIVE, NULL), 1, "resolved at 111");
	/* ALERTS_FOR_STATE ended with a staleness marker: a new alert starts over */
	restart_without_state(down_rules);
	at(113);
	struct obs_alert a;
	cr_assert_eq(nalerts("Down", OBS_ALERT_PENDING, &a), 1);
	cr_expect_eq(a.active_at, 113 * M);
	obs_alert_release(&a);
}
