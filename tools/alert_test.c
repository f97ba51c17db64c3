/* alert_test.c — `obs-alert test FILE...`: Prometheus' rule unit tests, as
 * `promtool test rules` (2.42) runs them and reports. The test file is
 * decoded by alert_test_load.c, expected and got are compared by
 * alert_test_diff.c; this is the runner.
 *
 * Each test group: input values use the expanding notation (1+2x10, _,
 * stale) at 0, interval, 2*interval, ... Rules are evaluated every
 * evaluation_interval from 0 to the largest eval_time, into the same
 * in-memory store; an alert test at eval_time compares the firing alerts
 * after the evaluation at the latest ts <= eval_time; expression tests run
 * at the end. Output: "Unit Testing:  FILE", "  SUCCESS" or "  FAILED:"
 * followed by promtool's difference reports (on stderr). Exit 0 only when
 * every test of every file passes. */
#include "alert_tool.h"
#include "alert_test.h"
#include "alert/ruleeval.h"
#include "alert/template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mem_append(void *ctx, const struct obs_labels *l, int64_t t, double v)
{
	return obs_query_mem_add(ctx, l, t, v);
}

/* The group's input series into mem; -1 with an error on a bad one. */
static int load_input(const struct ut_group *g, struct obs_query_mem *mem, struct ut_errs *errs)
{
	int64_t interval = g->has_interval ? g->interval : 0;   /* promtool 2.42: "load 0s" puts every value at 0 */
	for (size_t i = 0; i < g->nin; i++) {
		struct obs_buf line;
		obs_buf_init(&line);
		obs_buf_printf(&line, "%s %s", g->in[i].series, g->in[i].values);
		struct obs_labels l;
		struct obs_query_seqval *v;
		size_t n;
		char err[300];
		int r = obs_query_parse_series_desc(line.data, line.len, &l, &v, &n, err, sizeof err);
		obs_buf_release(&line);
		if (r < 0) {
			ut_err_addf(errs, "error in input_series %s: %s", g->in[i].series, err);
			return -1;
		}
		int added = 0;
		for (size_t k = 0; k < n; k++)
			if (!v[k].omitted && !v[k].histogram && !(interval == 0 && added)) {
				/* a repeated timestamp (interval 0) keeps the first, as Prometheus' storage does */
				obs_query_mem_add(mem, &l, (int64_t)k * interval, v[k].v);
				added = 1;
			}
		obs_labels_release(&l);
		free(v);
	}
	return 0;
}

/* The rule files into e; each problem is an error "FILE: REASON". */
static void load_rules(const struct ut_file *f, struct obs_ruleeval *e, struct ut_errs *errs)
{
	for (size_t i = 0; i < f->nrule_paths; i++) {
		const char *path = f->rule_paths[i];
		char *text;
		size_t n;
		int r = obs_read_file(path, OBS_RULES_FILE_MAX, &text, &n);
		if (r < 0) {
			ut_err_addf(errs, "%s: %s", path, strerror(-r));
			continue;
		}
		struct obs_buf eb;
		obs_buf_init(&eb);
		struct obs_rule_file *rf;
		r = obs_rules_parse(text, n, &rf, &eb);
		free(text);
		if (r < 0) {
			ut_err_lines(errs, path, eb.data);
			if (r == -ENOMEM)
				ut_err_addf(errs, "%s: %s", path, "out of memory");
			obs_buf_release(&eb);
			continue;
		}
		obs_buf_release(&eb);
		if (obs_ruleeval_set(e, path, rf, 0) < 0)
			ut_err_addf(errs, "%s: %s", path, "out of memory");
	}
}

/* Evaluate every evaluation_interval up to the last eval time, checking
 * each alert test after the evaluation at the latest ts <= its time.
 * -1 when an evaluation failed (its errors added). */
static int run_alert_tests(const struct ut_file *f, const struct ut_group *g, struct obs_ruleeval *e,
			   struct ut_errs *errs)
{
	int64_t maxt = 0;
	for (size_t i = 0; i < g->nat; i++)
		if (g->at[i].eval_time > maxt)
			maxt = g->at[i].eval_time;
	for (size_t i = 0; i < g->npt; i++)
		if (g->pt[i].eval_time > maxt)
			maxt = g->pt[i].eval_time;
	/* alert tests sorted by eval time (stable) */
	size_t *ord = ut_xcalloc(g->nat, sizeof *ord);
	for (size_t i = 0; i < g->nat; i++)
		ord[i] = i;
	for (size_t i = 1; i < g->nat; i++)
		for (size_t j = i; j > 0 && g->at[ord[j - 1]].eval_time > g->at[ord[j]].eval_time; j--) {
			size_t t = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
	size_t cur = 0;
	int64_t step = f->eval_interval;
	int rc = 0;
	for (int64_t ts = 0; ts <= maxt && !rc; ts += step) {
		struct obs_buf eb;
		obs_buf_init(&eb);
		if (obs_ruleeval_eval_all(e, ts, f->order, f->norder, &eb)) {
			ut_err_lines(errs, NULL, eb.data);
			rc = -1;
		}
		obs_buf_release(&eb);
		for (; !rc && cur < g->nat && g->at[ord[cur]].eval_time >= ts && g->at[ord[cur]].eval_time < ts + step;
		     cur++) {
			const struct ut_atest *t = &g->at[ord[cur]];
			struct obs_alert *al;
			size_t nal;
			if (obs_ruleeval_alerts(e, t->alertname, &al, &nal) < 0)
				exit(2);
			ut_check_alerts(g, t, al, nal, errs);
			obs_ruleeval_alerts_free(al, nal);
		}
	}
	free(ord);
	return rc;
}

/* Each expression test at its eval time, against the store as the rules
 * left it. */
static void run_expr_tests(const struct ut_group *g, const struct obs_ruleeval_opts *o, struct ut_errs *errs)
{
	for (size_t i = 0; i < g->npt; i++) {
		const struct ut_ptest *t = &g->pt[i];
		char d[32];
		obs_model_duration_format(t->eval_time, d);
		struct obs_buf qexpr;
		obs_buf_init(&qexpr);
		obs_tmpl_go_quote(&qexpr, t->expr, strlen(t->expr));
		struct obs_query_expr *qe;
		char perr[600];
		struct obs_query_result res;
		memset(&res, 0, sizeof res);
		int rc = obs_query_parse(t->expr, strlen(t->expr), &qe, perr, sizeof perr);
		if (!rc) {
			rc = obs_query_instant(&o->qopts, &o->store, qe, t->eval_time, &res);
			if (rc)
				snprintf(perr, sizeof perr, "%s", res.err);
			else if (res.type != OBS_QV_VECTOR && res.type != OBS_QV_SCALAR) {
				rc = -EINVAL;
				snprintf(perr, sizeof perr, "rule result is not a vector or scalar");
			}
			obs_query_expr_free(qe);
		}
		if (rc) {
			struct obs_buf b;
			obs_buf_init(&b);
			obs_buf_printf(&b, "    expr: %s, time: %s, err: %s", qexpr.data, d, perr);
			ut_err_add(errs, &b);
		} else {
			ut_check_samples(t, qexpr.data, d, &res, errs);
		}
		obs_query_result_release(&res);
		obs_buf_release(&qexpr);
	}
}

static void run_group(const struct ut_file *f, const struct ut_group *g, struct ut_errs *errs)
{
	struct obs_query_mem *mem = obs_query_mem_new();
	if (!mem)
		exit(2);
	if (load_input(g, mem, errs) < 0) {
		obs_query_mem_free(mem);
		return;
	}
	struct obs_labels ext;
	ut_kv_labels(&g->ext, NULL, &ext);
	struct obs_ruleeval_opts o;
	obs_ruleeval_opts_default(&o);
	o.store = obs_query_mem_store(mem);
	o.out = (struct obs_rule_appender){ mem_append, mem };
	o.external_labels = &ext;
	o.external_url = g->ext_url;
	o.default_interval_ms = g->has_interval && g->interval ? g->interval : 60000;
	struct obs_ruleeval *e;
	if (obs_ruleeval_new(&o, &e) < 0)
		exit(2);
	size_t before = errs->n;
	load_rules(f, e, errs);
	if (errs->n > before)
		goto done;
	for (size_t i = 0; i < g->nat; i++)
		if (!*g->at[i].alertname) {
			struct obs_buf b;
			char d[32];
			obs_model_duration_format(g->at[i].eval_time, d);
			obs_buf_init(&b);
			obs_buf_printf(&b, "an item under alert_rule_test misses required attribute alertname at eval_time %s", d);
			if (g->name && *g->name)
				obs_buf_printf(&b, " (in TestGroup %s)", g->name);
			ut_err_add(errs, &b);
			goto done;
		}
	if (run_alert_tests(f, g, e, errs) == 0)
		run_expr_tests(g, &o, errs);
done:
	obs_ruleeval_free(e);
	obs_query_mem_free(mem);
	obs_labels_release(&ext);
}

/* returns 1 when the file passed */
static int test_file(const char *path)
{
	printf("Unit Testing:  %s\n", path);
	fflush(stdout);
	struct ut_errs errs = { 0 };
	struct ut_file f;
	memset(&f, 0, sizeof f);
	if (ut_load(path, &f, &errs) == 0)
		for (size_t i = 0; i < f.ngroups; i++)
			run_group(&f, &f.groups[i], &errs);
	ut_free(&f);
	int ok = errs.n == 0;
	if (!ok) {
		fprintf(stderr, "  FAILED:\n");
		for (size_t i = 0; i < errs.n; i++) {
			fprintf(stderr, "%s\n", errs.v[i]);
			fflush(stderr);
			printf("\n");
			fflush(stdout);
		}
	} else {
		printf("  SUCCESS\n");
	}
	printf("\n");
	fflush(stdout);
	ut_errs_release(&errs);
	return ok;
}

int alert_cmd_test(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: obs-alert test FILE...\n");
		return 2;
	}
	int failed = 0;
	for (int i = 1; i < argc; i++)
		if (!test_file(argv[i]))
			failed = 1;
	return failed;
}
