/* test_alert_logcount.c — log alerts: log_count_over_time() parsed and
 * evaluated by the query engine over a real log store in a tmp dir (the
 * daemon's log_count hook, lib/query/dbstore.c), alone, inside expressions
 * with metrics, over globs, with bad input, and without a log store; and a
 * log alerting rule through the rule manager: pending, firing after for,
 * resolved when the window has passed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/ruleeval.h"
#include "logs_fixture.h"
#include "query/dbstore.h"
#include "query_text.h"

#define S 1000LL

static struct obs_logstore *ls;
static struct obs_query_mem *mem;
static struct obs_query_store st;

static void setup(void)
{
	mkdir_tmp();
	struct obs_logstore_opts o = lf_opts(4096, 3);
	ls = lf_open(&o);
	mem = obs_query_mem_new();
	/* metrics from memory, logs from the store: the daemon's hook */
	st = obs_query_mem_store(mem);
	struct obs_query_store lst = obs_query_db_store_logs(NULL, ls);
	st.log_count = lst.log_count;
	st.lctx = lst.lctx;
}

static void teardown(void)
{
	obs_query_mem_free(mem);
	obs_logstore_close(ls);
	rm_tmp();
}

static void logline(const char *stream, int64_t t, const char *line)
{
	cr_assert_eq(obs_logstore_create(ls, stream), 0);
	cr_assert_eq(obs_logstore_append(ls, stream, line, strlen(line), t, NULL, NULL), 0);
}

/* the instant vector of expr at t as "labels=value;" text; rc its result */
static const char *eval_at(const struct obs_query_store *s, const char *expr, int64_t t, int *rc, char *err)
{
	static char out[2048];
	out[0] = 0;
	struct obs_query_expr *e;
	char perr[300];
	cr_assert_eq(obs_query_parse(expr, strlen(expr), &e, perr, sizeof perr), 0, "%s: %s", expr, perr);
	struct obs_query_result r;
	*rc = obs_query_instant(NULL, s, e, t, &r);
	if (err)
		strcpy(err, r.err);
	if (!*rc)
		vector_text(&r, out, sizeof out);
	obs_query_result_release(&r);
	obs_query_expr_free(e);
	return out;
}

static const char *q(const char *expr, int64_t t)
{
	int rc;
	char err[512];
	const char *o = eval_at(&st, expr, t, &rc, err);
	cr_assert_eq(rc, 0, "%s: %s", expr, err);
	return o;
}

TestSuite(alert_logcount, .init = setup, .fini = teardown);

Test(alert_logcount, parses_and_formats)
{
	struct obs_query_expr *e;
	char err[300];
	const char *s = "log_count_over_time(\"app?level>=error\", 5m) > 10";
	cr_assert_eq(obs_query_parse(s, strlen(s), &e, err, sizeof err), 0, "%s", err);
	cr_expect_eq(obs_query_expr_type(e), OBS_QV_VECTOR);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_query_expr_format(e, &b), 0);
	cr_expect(strstr(b.data, "log_count_over_time(\"app?level>=error\", 300)") != NULL, "%s", b.data);
	obs_buf_release(&b);
	/* it reads the evaluation time: pinning cannot make it constant */
	cr_expect_eq(obs_query_expr_pin(e, T0), 1);
	obs_query_expr_free(e);
	/* a vector is not a string: the type checker refuses it */
	s = "log_count_over_time(up, 5m)";
	cr_expect_eq(obs_query_parse(s, strlen(s), &e, err, sizeof err), -EINVAL);
	cr_expect_null(e);
	s = "log_count_over_time(\"app\")";
	cr_expect_eq(obs_query_parse(s, strlen(s), &e, err, sizeof err), -EINVAL);
}

Test(alert_logcount, counts_matching_records_in_the_window)
{
	logline("app", T0 + 10 * S, "level=info msg=ok\nlevel=error msg=boom\nlevel=fatal msg=dead\n");
	logline("app", T0 + 100 * S, "level=error msg=again\n");
	logline("web", T0 + 20 * S, "level=error status=500\n");
	/* window (T0+120s - 5m, T0+120s]: all four app records, three match */
	cr_expect_str_eq(q("log_count_over_time(\"app?level>=error\", 5m)", T0 + 120 * S), "{stream=\"app\"}=3;");
	cr_expect_str_eq(q("log_count_over_time(\"app\", 5m)", T0 + 120 * S), "{stream=\"app\"}=4;");
	/* left-open window: the record at exactly t - range is out, at t is in */
	cr_expect_str_eq(q("log_count_over_time(\"app?level>=error\", 90s)", T0 + 99 * S), "{stream=\"app\"}=2;");
	cr_expect_str_eq(q("log_count_over_time(\"app?level>=error\", 90s)", T0 + 100 * S), "{stream=\"app\"}=1;");
	cr_expect_str_eq(q("log_count_over_time(\"app?level>=error\", 90s)", T0 + 190 * S), "", "window passed");
	/* glob and '*' give one series per stream, sorted by labels */
	cr_expect_str_eq(q("sort_by_label(log_count_over_time(\"*?level=error\", 5m), \"stream\")", T0 + 120 * S),
			 "{stream=\"app\"}=2;{stream=\"web\"}=1;");
	cr_expect_str_eq(q("log_count_over_time(\"w*?status>=500\", 5m)", T0 + 120 * S), "{stream=\"web\"}=1;");
	/* an unknown stream is no series, not an error (a rule written before its stream) */
	cr_expect_str_eq(q("log_count_over_time(\"nope?level=error\", 5m)", T0 + 120 * S), "");
	/* inside any expression */
	cr_expect_str_eq(q("log_count_over_time(\"app?level>=error\", 5m) > 2", T0 + 120 * S), "{stream=\"app\"}=3;");
	cr_expect_str_eq(q("log_count_over_time(\"app?level>=error\", 5m) > 3", T0 + 120 * S), "");
	cr_expect_str_eq(q("sum(log_count_over_time(\"*?level>=error\", 5m))", T0 + 120 * S), "{}=4;");
}

Test(alert_logcount, counts_flushed_segments_through_the_index)
{
	logline("app", T0 + 10 * S, "level=error msg=a\nlevel=info msg=b\n");
	cr_assert_eq(obs_logstore_flush(ls), 0);
	logline("app", T0 + 20 * S, "level=error msg=c\n");   /* in the head */
	cr_expect_str_eq(q("log_count_over_time(\"app?level=error\", 1m)", T0 + 30 * S), "{stream=\"app\"}=2;");
}

Test(alert_logcount, joins_with_metric_series)
{
	logline("app", T0 + 10 * S, "level=error a\nlevel=error b\n");
	struct obs_labels l;
	const char *why;
	const char *s = "app_requests{stream=\"app\"}";
	cr_assert_eq(obs_labels_parse(s, strlen(s), &l, &why), 0);
	cr_assert_eq(obs_query_mem_add(mem, &l, T0, 100), 0);
	obs_labels_release(&l);
	cr_expect_str_eq(q("log_count_over_time(\"app?level=error\", 1m) / on(stream) app_requests", T0 + 30 * S),
			 "{stream=\"app\"}=0.02;");
}

Test(alert_logcount, range_query_one_point_per_step)
{
	logline("app", T0 + 10 * S, "level=error a\n");
	logline("app", T0 + 70 * S, "level=error b\n");
	struct obs_query_expr *e;
	char err[300];
	const char *s = "log_count_over_time(\"app?level=error\", 1m)";
	cr_assert_eq(obs_query_parse(s, strlen(s), &e, err, sizeof err), 0, "%s", err);
	struct obs_query_result r;
	cr_assert_eq(obs_query_range(NULL, &st, e, T0, T0 + 180 * S, 30 * S, &r), 0, "%s", r.err);
	cr_assert_eq(r.nseries, 1);
	/* steps 0 30 60 90 120 150 180: windows hold 0 1 1 1 1 0 0 */
	cr_expect_eq(r.series[0].n, 4);
	cr_expect_eq(r.series[0].t[0], T0 + 30 * S);
	cr_expect_eq(r.series[0].t[3], T0 + 120 * S);
	obs_query_result_release(&r);
	obs_query_expr_free(e);
}

Test(alert_logcount, bad_input_is_a_clear_error)
{
	int rc;
	char err[512];
	eval_at(&st, "log_count_over_time(\"app?(level>=error\", 5m)", T0, &rc, err);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strstr(err, "log_count_over_time: bad log query") != NULL, "%s", err);
	eval_at(&st, "log_count_over_time(\"app@-1h?x\", 5m)", T0, &rc, err);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strstr(err, "the window is the second argument") != NULL, "%s", err);
	eval_at(&st, "log_count_over_time(\"?level=error\", 5m)", T0, &rc, err);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strstr(err, "no stream") != NULL, "%s", err);
	eval_at(&st, "log_count_over_time(\"app\", 0)", T0, &rc, err);
	cr_expect_eq(rc, -EINVAL);
	cr_expect(strstr(err, "positive duration") != NULL, "%s", err);
	eval_at(&st, "log_count_over_time(\"app?#count\", 5m)", T0, &rc, err);
	cr_expect_eq(rc, -EINVAL);
}

Test(alert_logcount, no_log_store)
{
	struct obs_query_store plain = obs_query_mem_store(mem);
	int rc;
	char err[512];
	eval_at(&plain, "log_count_over_time(\"app?level>=error\", 5m) > 10", T0, &rc, err);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_str_eq(err, "log_count_over_time: no log store");
}

/* ---- a log alerting rule through the rule manager -------------------------- */

static void nop_send(void *ctx, const char *file, const char *group, int64_t now, const struct obs_alert *const *a,
		     size_t n)
{
}

static size_t count_state(struct obs_ruleeval *ev, enum obs_alert_state s, const char **stream)
{
	struct obs_alert *a;
	size_t n, k = 0;
	cr_assert_eq(obs_ruleeval_alerts(ev, "AppErrors", &a, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (a[i].state == s) {
			static char sb[64];
			const char *v = obs_labels_get(&a[i].labels, "stream");
			snprintf(sb, sizeof sb, "%s", v ? v : "-");
			if (stream)
				*stream = sb;
			k++;
		}
	obs_ruleeval_alerts_free(a, n);
	return k;
}

Test(alert_logcount, log_rule_pending_firing_resolved)
{
	struct obs_ruleeval_opts o;
	obs_ruleeval_opts_default(&o);
	o.store = st;
	o.sink = (struct obs_alert_sink){ nop_send, NULL, NULL };
	struct obs_ruleeval *ev;
	cr_assert_eq(obs_ruleeval_new(&o, &ev), 0);
	const char *yaml = "groups:\n"
			   "  - name: logs\n"
			   "    interval: 10s\n"
			   "    rules:\n"
			   "      - alert: AppErrors\n"
			   "        expr: log_count_over_time(\"app?level>=error\", 1m) > 2\n"
			   "        for: 20s\n"
			   "        labels: {severity: page}\n";
	struct obs_buf errs;
	obs_buf_init(&errs);
	struct obs_rule_file *f;
	cr_assert_eq(obs_rules_parse(yaml, strlen(yaml), &f, &errs), 0, "%s", errs.data ? errs.data : "");
	obs_buf_release(&errs);
	cr_assert_eq(obs_ruleeval_set(ev, "logs.yml", f, 0), 0);
	logline("app", T0 + 5 * S, "level=error a\nlevel=error b\nlevel=fatal c\nlevel=info d\n");
	obs_ruleeval_eval_all(ev, T0, NULL, 0, NULL);
	cr_expect_eq(count_state(ev, OBS_ALERT_PENDING, NULL) + count_state(ev, OBS_ALERT_FIRING, NULL), 0);
	obs_ruleeval_eval_all(ev, T0 + 10 * S, NULL, 0, NULL);
	const char *sname = NULL;
	cr_expect_eq(count_state(ev, OBS_ALERT_PENDING, &sname), 1, "pending at the first true evaluation");
	cr_expect_str_eq(sname, "app");
	obs_ruleeval_eval_all(ev, T0 + 20 * S, NULL, 0, NULL);
	cr_expect_eq(count_state(ev, OBS_ALERT_PENDING, NULL), 1, "still pending before for");
	obs_ruleeval_eval_all(ev, T0 + 30 * S, NULL, 0, NULL);
	cr_expect_eq(count_state(ev, OBS_ALERT_FIRING, &sname), 1, "firing after for");
	cr_expect_str_eq(sname, "app");
	/* the records leave the 1m window at T0+65s */
	obs_ruleeval_eval_all(ev, T0 + 60 * S, NULL, 0, NULL);
	cr_expect_eq(count_state(ev, OBS_ALERT_FIRING, NULL), 1);
	obs_ruleeval_eval_all(ev, T0 + 70 * S, NULL, 0, NULL);
	cr_expect_eq(count_state(ev, OBS_ALERT_FIRING, NULL), 0, "resolved once the window passed");
	cr_expect_eq(count_state(ev, OBS_ALERT_INACTIVE, NULL), 1);
	obs_ruleeval_free(ev);
}
