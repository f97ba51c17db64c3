/* test_alert_anomaly.c — anomaly rules (lib/alert/anomaly.h): the file
 * format and its refusals, the hour-of-week slot, and a synthetic seasonal
 * series (quiet at 10, a daily peak at 100 from 12:00 to 14:00 UTC) run
 * through the baseline, the z score and the generated rule group in the
 * rule manager: a spike in a quiet hour fires, the usual daily peak does
 * not, a series with three days of history (cold) never fires and its
 * state says why, a series that goes away resolves at once (its z gets a
 * staleness marker), the baseline is rebuilt hourly, not per evaluation. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/anomaly.h"
#include "alert/ruleeval.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
/* a Monday 00:00 UTC (2027-01-04) */
#define T0 1799020800000LL

static struct am_anomaly *ok(const char *text)
{
	struct am_anomaly *a;
	struct obs_buf err;
	obs_buf_init(&err);
	cr_assert_eq(am_anomaly_parse("lat", text, strlen(text), &a, &err), 0, "%s", err.data);
	obs_buf_release(&err);
	return a;
}

static void bad(const char *text, const char *why)
{
	struct am_anomaly *a = (void *)1;
	struct obs_buf err;
	obs_buf_init(&err);
	cr_assert_eq(am_anomaly_parse("lat", text, strlen(text), &a, &err), -EINVAL, "accepted: %s", text);
	cr_assert_null(a);
	cr_assert(err.data && strstr(err.data, why), "want '%s' got '%s'", why, err.data);
	obs_buf_release(&err);
}

Test(alert_anomaly, file_format)
{
	struct am_anomaly *a = ok("# latency\nexpr: latency_ms\n");
	cr_assert_float_eq(a->threshold, 3, 1e-12);
	cr_assert_eq(a->min_history_ms, 7 * DAY);
	cr_assert_eq(a->history_ms, 28 * DAY);
	cr_assert_eq(a->step_ms, 5 * MIN);
	cr_assert_str_eq(a->alert, "Anomaly");
	cr_assert_str_eq(obs_labels_get(&a->labels, "anomaly"), "lat");
	am_anomaly_free(a);
	a = ok("expr: 'avg_over_time(latency_ms{job=\"api\"}[5m])'\nthreshold: 4.5\nfor: 10m\nmin_history: 3d\n"
	       "alert: LatencyAnomaly\nlabels:\n  severity: page\n  team: web\nannotation.runbook: http://r/1\n");
	cr_assert_float_eq(a->threshold, 4.5, 1e-12);
	cr_assert_eq(a->for_ms, 10 * MIN);
	cr_assert_eq(a->min_history_ms, 3 * DAY);
	cr_assert_str_eq(obs_labels_get(&a->labels, "severity"), "page");
	cr_assert_str_eq(obs_labels_get(&a->labels, "team"), "web");
	cr_assert_str_eq(obs_labels_get(&a->annotations, "runbook"), "http://r/1");
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_anomaly_rules_yaml(a, &b), 0);
	cr_assert(strstr(b.data, "  - name: 'anomaly:lat'\n"), "%s", b.data);
	cr_assert(strstr(b.data, "      - alert: LatencyAnomaly\n        expr: 'abs(anomaly:z{anomaly=\"lat\"}) > 4.5'\n"
				 "        for: 10m\n"),
		  "%s", b.data);
	cr_assert(strstr(b.data, "          severity: 'page'\n"), "%s", b.data);
	struct obs_rule_file *rf;
	struct obs_buf errs;
	obs_buf_init(&errs);
	cr_assert_eq(obs_rules_parse(b.data, b.len, &rf, &errs), 0, "%s\n%s", errs.data, b.data);
	obs_rules_free(rf);
	obs_buf_release(&errs);
	obs_buf_release(&b);
	am_anomaly_free(a);

	bad("threshold: 3\n", "line 2: missing 'expr'");
	bad("expr: x\nthreshold: -1\n", "line 2: invalid threshold");
	bad("expr: x\nfor: 5x\n", "line 2: invalid duration '5x'");
	bad("expr: rate(x[5m]\n", "line 1: expr:");
	bad("expr: x[5m]\n", "line 1: expr: not an instant vector");
	bad("expr: x\nbogus: 1\n", "line 2: unknown key 'bogus'");
	bad("expr: x\nstep: 7m\n", "line 2: invalid step");
	bad("expr: x\nmin_history: 30d\n", "history is shorter than min_history");
	bad("expr: x\njunk\n", "line 2: expected 'key: value'");
	bad("expr: x\nlabels:\n  a: '{{ x'\n", "label \"a\": template");
	bad("expr: x\nlabel.a: \x01\n", "line 2: control character");
}

Test(alert_anomaly, hour_of_week)
{
	cr_assert_eq(am_anomaly_slot(T0), 0);
	cr_assert_eq(am_anomaly_slot(T0 + 13 * HOUR + 59 * MIN), 13);
	cr_assert_eq(am_anomaly_slot(T0 + 6 * DAY + 23 * HOUR), 167);
	cr_assert_eq(am_anomaly_slot(T0 + 7 * DAY), 0);
	cr_assert_eq(am_anomaly_slot(T0 - HOUR), 167);
}

/* ---- the seasonal series through the rule manager ---- */

static struct obs_query_mem *mem;
static int64_t zs_n;
static double z_last;

static int mem_append(void *ctx, const struct obs_labels *l, int64_t t, double v)
{
	if (!strcmp(obs_labels_get(l, "__name__"), "anomaly:z")) {
		zs_n++;
		z_last = v;
	}
	return obs_query_mem_add(mem, l, t, v);
}

static void add(const char *series, int64_t t, double v)
{
	struct obs_labels l;
	const char *why;
	cr_assert_eq(obs_labels_parse(series, strlen(series), &l, &why), 0);
	cr_assert_eq(obs_query_mem_add(mem, &l, t, v), 0);
	obs_labels_release(&l);
}

/* quiet at 10 (+-1), 100 (+-5) from 12:00 to 14:00 every day, every 5m, over [from, to) */
static void seasonal(const char *series, int64_t from, int64_t to)
{
	unsigned x = 12345;
	for (int64_t t = from; t < to; t += 5 * MIN) {
		x = x * 1103515245 + 12345;
		double noise = ((double)((x >> 16) % 2001) - 1000) / 1000;   /* -1 .. 1 */
		int64_t h = (t - T0) % DAY / HOUR;
		add(series, t, h >= 12 && h < 14 ? 100 + 5 * noise : 10 + noise);
	}
}

struct rig {
	struct am_anomaly *a;
	struct am_anomaly_model *m;
	struct obs_ruleeval *ev;
	struct obs_query_opts qo;
	struct obs_query_store st;
	struct obs_rule_appender out;
};

static void rig_init(struct rig *r, const char *text)
{
	mem = obs_query_mem_new();
	zs_n = 0;
	r->a = ok(text);
	r->m = am_anomaly_model_new();
	obs_query_opts_default(&r->qo);
	r->st = obs_query_mem_store(mem);
	r->out = (struct obs_rule_appender){ mem_append, NULL };
	struct obs_ruleeval_opts o;
	obs_ruleeval_opts_default(&o);
	o.store = r->st;
	o.out = r->out;
	cr_assert_eq(obs_ruleeval_new(&o, &r->ev), 0);
	struct obs_buf y, errs;
	obs_buf_init(&y);
	obs_buf_init(&errs);
	cr_assert_eq(am_anomaly_rules_yaml(r->a, &y), 0);
	struct obs_rule_file *rf;
	cr_assert_eq(obs_rules_parse(y.data, y.len, &rf, &errs), 0, "%s", errs.data);
	cr_assert_eq(obs_ruleeval_set(r->ev, "anomaly:lat", rf, T0), 0);
	obs_buf_release(&y);
	obs_buf_release(&errs);
}

static void rig_release(struct rig *r)
{
	obs_ruleeval_free(r->ev);
	am_anomaly_model_free(r->m);
	am_anomaly_free(r->a);
	obs_query_mem_free(mem);
	mem = NULL;
}

/* the value v at t, then one evaluation of the anomaly and of its rules:
 * the number of firing alerts */
static size_t step(struct rig *r, int64_t t, double v)
{
	add("latency_ms{job=\"api\"}", t, v);
	cr_assert_eq(am_anomaly_eval(r->m, r->a, &r->qo, &r->st, t, &r->out), 0);
	obs_ruleeval_eval_all(r->ev, t, NULL, 0, NULL);
	struct obs_alert *al;
	size_t n, firing = 0;
	cr_assert_eq(obs_ruleeval_alerts(r->ev, NULL, &al, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (al[i].state == OBS_ALERT_FIRING) {
			firing++;
			cr_assert_str_eq(obs_labels_get(&al[i].labels, "alertname"), "Anomaly");
			cr_assert_str_eq(obs_labels_get(&al[i].labels, "anomaly"), "lat");
			cr_assert_str_eq(obs_labels_get(&al[i].labels, "job"), "api");
		}
	obs_ruleeval_alerts_free(al, n);
	return firing;
}

static void state(struct rig *r, struct obs_buf *b)
{
	obs_buf_reset(b);
	cr_assert_eq(am_anomaly_render_state(r->m, r->a, b), 0);
}

Test(alert_anomaly, quiet_hour_spike_fires_daily_peak_does_not)
{
	struct rig r;
	rig_init(&r, "expr: latency_ms\nthreshold: 3\n");
	int64_t now = T0 + 14 * DAY;   /* two weeks of history: a Monday again */
	seasonal("latency_ms{job=\"api\"}", T0, now);
	struct obs_buf b;
	obs_buf_init(&b);

	/* the usual daily peak at 13:00: 100 is normal then */
	int64_t peak = now + 13 * HOUR;
	seasonal("latency_ms{job=\"api\"}", now, peak);
	cr_assert_eq(step(&r, peak, 101), 0);
	cr_assert_gt(zs_n, 0, "no z written for a warm series");
	cr_assert_lt(fabs(z_last), 3, "z at the daily peak %g", z_last);
	state(&r, &b);
	cr_assert(strstr(b.data, "series latency_ms{job=\"api\"} value 101 mean 10"), "%s", b.data);
	cr_assert(strstr(b.data, " weeks 2.") && strstr(b.data, " ok\n"), "%s", b.data);

	/* the same value at 03:00 the next day, a quiet hour, fires (for: 0s) */
	int64_t quiet = now + DAY + 3 * HOUR;
	seasonal("latency_ms{job=\"api\"}", peak + 5 * MIN, quiet);
	size_t before = (size_t)zs_n;
	cr_assert_eq(step(&r, quiet, 100), 1);
	cr_assert_gt((size_t)zs_n, before);
	cr_assert_gt(z_last, 30, "z of a spike in a quiet hour %g", z_last);
	state(&r, &b);
	cr_assert(strstr(b.data, "value 100 mean 10"), "%s", b.data);
	/* and resolves when the hour is quiet again */
	cr_assert_eq(step(&r, quiet + 5 * MIN, 10), 0);
	/* a series that goes away: its z gets a staleness marker, so the
	 * alert resolves at the next evaluation, not after the lookback */
	cr_assert_eq(step(&r, quiet + 10 * MIN, 100), 1);
	cr_assert_eq(step(&r, quiet + 11 * MIN, obs_query_stale_nan()), 0);
	obs_buf_release(&b);
	rig_release(&r);
}

Test(alert_anomaly, cold_start_never_fires)
{
	struct rig r;
	rig_init(&r, "expr: latency_ms\n");
	int64_t now = T0 + 3 * DAY;   /* three days: less than min_history 7d */
	seasonal("latency_ms{job=\"api\"}", T0, now);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(step(&r, now + 3 * HOUR, 1000), 0);
	cr_assert_eq(step(&r, now + 3 * HOUR + 5 * MIN, 1000), 0);
	cr_assert_eq(zs_n, 0, "a cold series wrote z");
	state(&r, &b);
	cr_assert(strstr(b.data, "series latency_ms{job=\"api\"} value 1000 mean - stddev - z - weeks 0.4 cold history "
				 "3.1d < min_history 7.0d\n"),
		  "%s", b.data);
	/* a series never seen in the baseline is cold too */
	add("latency_ms{job=\"new\"}", now + 3 * HOUR + 10 * MIN, 5000);
	cr_assert_eq(am_anomaly_eval(r.m, r.a, &r.qo, &r.st, now + 3 * HOUR + 10 * MIN, &r.out), 0);
	state(&r, &b);
	cr_assert(strstr(b.data, "series latency_ms{job=\"new\"} value 5000 mean - stddev - z - weeks 0.0 cold history 0s"), "%s",
		  b.data);
	cr_assert_eq(zs_n, 0);
	obs_buf_release(&b);
	rig_release(&r);
}

Test(alert_anomaly, baseline_is_cached_for_an_hour)
{
	struct rig r;
	rig_init(&r, "expr: latency_ms\nmin_history: 1d\n");
	seasonal("latency_ms{job=\"api\"}", T0, T0 + 8 * DAY);
	int64_t t = T0 + 8 * DAY + 3 * HOUR;
	cr_assert_eq(am_anomaly_refresh(r.m, r.a, &r.qo, &r.st, t, 0), 0);
	struct obs_buf b, b2;
	obs_buf_init(&b);
	obs_buf_init(&b2);
	state(&r, &b);
	/* 30 minutes later: not rebuilt (baseline_at unchanged) */
	cr_assert_eq(am_anomaly_refresh(r.m, r.a, &r.qo, &r.st, t + 30 * MIN, 0), 0);
	state(&r, &b2);
	cr_assert_str_eq(b.data, b2.data);
	cr_assert_eq(am_anomaly_refresh(r.m, r.a, &r.qo, &r.st, t + HOUR, 0), 0);
	state(&r, &b2);
	cr_assert_str_neq(b.data, b2.data);
	obs_buf_release(&b);
	obs_buf_release(&b2);
	rig_release(&r);
}
