/* test_am_slo.c — SLO files: the forms (error_ratio, errors+total,
 * good+total, key=value), validation, the generated multiwindow
 * multi-burn-rate rules (exact expressions; promtool agrees the file is a
 * valid rule file when it is installed), and the budget state evaluated
 * over an in-memory store. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert/slo.h"

static struct am_slo *ok(const char *name, const char *text)
{
	struct am_slo *s;
	struct obs_buf err;
	obs_buf_init(&err);
	cr_assert_eq(am_slo_parse(name, text, strlen(text), &s, &err), 0, "%s", err.data);
	obs_buf_release(&err);
	return s;
}

static void bad(const char *text, const char *why)
{
	struct am_slo *s = (void *)1;
	struct obs_buf err;
	obs_buf_init(&err);
	cr_assert_eq(am_slo_parse("x", text, strlen(text), &s, &err), -EINVAL, "accepted: %s", text);
	cr_assert_null(s);
	cr_assert(err.data && strstr(err.data, why), "want '%s' got '%s'", why, err.data);
	obs_buf_release(&err);
}

static const char *API =
	"objective: 99.9\n"
	"window: 30d\n"
	"errors: sum(rate(http_requests_total{code=~\"5..\"}[$window]))\n"
	"total: sum(rate(http_requests_total[$window]))\n"
	"labels:\n  team: web\n"
	"description: checkout availability\n";

Test(am_slo, forms_and_expressions)
{
	struct am_slo *s = ok("api", API);
	cr_assert_float_eq(s->objective, 0.999, 1e-12);
	cr_assert_eq(s->window_ms, 30LL * 86400000);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_slo_ratio_expr(s, "1h", &b), 0);
	cr_assert_str_eq(b.data, "((sum(rate(http_requests_total{code=~\"5..\"}[1h]))) / (sum(rate(http_requests_total[1h]))))");
	obs_buf_reset(&b);
	cr_assert_eq(am_slo_rules_yaml(s, &b), 0);
	const char *want[] = {
		"  - name: 'slo:api'\n",
		"      - record: slo:sli_error:ratio_rate5m\n        expr: '((sum(rate(http_requests_total{code=~\"5..\"}[5m]))) / (sum(rate(http_requests_total[5m]))))'\n"
		"        labels:\n          slo: 'api'\n          team: 'web'\n",
		"record: slo:sli_error:ratio_rate30m\n", "record: slo:sli_error:ratio_rate1h\n",
		"record: slo:sli_error:ratio_rate6h\n", "record: slo:sli_error:ratio_rate3d\n",
		"record: slo:sli_error:ratio_rate30d\n",
		"      - record: slo:objective:ratio\n        expr: vector(0.999)\n",
		"      - alert: SLOErrorBudgetBurn\n        expr: '(slo:sli_error:ratio_rate1h{slo=\"api\"} > (14.4 * 0.001) and "
		"slo:sli_error:ratio_rate5m{slo=\"api\"} > (14.4 * 0.001)) or (slo:sli_error:ratio_rate6h{slo=\"api\"} > (6 * 0.001) and "
		"slo:sli_error:ratio_rate30m{slo=\"api\"} > (6 * 0.001))'\n        labels:\n          severity: page\n",
		"expr: '(slo:sli_error:ratio_rate3d{slo=\"api\"} > (1 * 0.001) and slo:sli_error:ratio_rate6h{slo=\"api\"} > (1 * 0.001))'\n"
		"        labels:\n          severity: ticket\n",
		"description: 'checkout availability: error ratio {{ $value | humanizePercentage }}, budget 0.1% over 30d'",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(b.data, want[i]), "missing:\n%s\nin:\n%s", want[i], b.data);
	/* promtool agrees it is a valid rule file */
	if (access("/usr/bin/promtool", X_OK) == 0) {
		char path[] = "/tmp/test_am_slo.XXXXXX";
		int fd = mkstemp(path);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
		close(fd);
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "promtool check rules %s >/dev/null 2>&1", path);
		int rc = system(cmd);
		unlink(path);
		cr_assert_eq(rc, 0, "promtool check rules refused:\n%s", b.data);
	}
	obs_buf_release(&b);
	am_slo_free(s);

	s = ok("web", "objective=0.995\nwindow=7d\ngood=sum(rate(ok_total[$window]))\n"
		      "total=sum(rate(all_total[$window]))\nlabel.tier=1\n");
	cr_assert_float_eq(s->objective, 0.995, 1e-12);
	obs_buf_init(&b);
	cr_assert_eq(am_slo_ratio_expr(s, "6h", &b), 0);
	cr_assert_str_eq(b.data, "(1 - ((sum(rate(ok_total[6h]))) / (sum(rate(all_total[6h])))))");
	cr_assert_str_eq(obs_labels_get(&s->labels, "tier"), "1");
	obs_buf_release(&b);
	am_slo_free(s);
	s = ok("r", "objective: 99%\nerror_ratio: 'sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))'\n");
	cr_assert_float_eq(s->objective, 0.99, 1e-12);
	cr_assert_str_eq(s->window, "30d", "default window");
	am_slo_free(s);
}

Test(am_slo, validation)
{
	bad("window: 30d\nerror_ratio: rate(e[$window])\n", "objective is required");
	bad("objective: 101\nerror_ratio: rate(e[$window])\n", "invalid objective '101'");
	bad("objective: 99.9\nerror_ratio: rate(e[5m])\n", "needs $window");
	bad("objective: 99.9\nerror_ratio: rate(e[$window])\ntotal: t[$window]\n", "give either error_ratio");
	bad("objective: 99.9\ngood: rate(e[$window])\n", "give either error_ratio");
	bad("objective: 99.9\nwindow: soon\nerror_ratio: rate(e[$window])\n", "line 2: invalid window 'soon'");
	bad("objective: 99.9\nerror_ratio: rate(e[$window]\n", "invalid expression");
	/* 1h$window is a duration for 5m and 30m (1h5m, 1h30m), not for 1h */
	bad("objective: 99.9\nerror_ratio: rate(e[1h$window])\n", "invalid expression for window 1h");
	bad("objective: 99.9\nerror_ratio: rate(e[$window])\nlabels: {slo: x}\n", "label 'slo' is set by the slo rules");
	bad("objective: 99.9\nfoo: 1\n", "line 2: unknown key 'foo'");
	bad("objective=99.9\nnonsense\n", "line 2: expected key=value");
	bad("[1, 2]\n", "an slo is a mapping");
	struct am_slo *s;
	struct obs_buf err;
	obs_buf_init(&err);
	cr_assert_eq(am_slo_parse("a/b", API, strlen(API), &s, &err), -EINVAL);
	obs_buf_release(&err);
}

Test(am_slo, budget_state_from_the_store)
{
	struct obs_query_mem *m = obs_query_mem_new();
	struct obs_labels e, t;
	cr_assert_eq(obs_labels_parse("errs_total", 10, &e, NULL), 0);
	cr_assert_eq(obs_labels_parse("reqs_total", 10, &t, NULL), 0);
	/* 8 hours at 1% errors: 100 requests and 1 error per minute */
	int64_t t0 = 1800000000000LL;
	for (int i = 0; i <= 480; i++) {
		cr_assert_eq(obs_query_mem_add(m, &e, t0 + i * 60000LL, i), 0);
		cr_assert_eq(obs_query_mem_add(m, &t, t0 + i * 60000LL, 100.0 * i), 0);
	}
	struct obs_query_store st = obs_query_mem_store(m);
	struct obs_query_opts qo;
	obs_query_opts_default(&qo);
	struct am_slo *s = ok("api", "objective: 99.9\nwindow: 30d\nerrors: sum(rate(errs_total[$window]))\n"
				     "total: sum(rate(reqs_total[$window]))\n");
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_slo_render_state(s, &qo, &st, t0 + 480 * 60000LL, &b), 0);
	const char *want[] = {
		"slo api\n", "objective 99.9%\n", "window 30d\n", "error_budget 0.1%\n", "error_ratio 0.01\n",
		"budget_remaining -900%\n", "burn_rate 5m 10\n", "burn_rate 1h 10\n", "burn_rate 6h 10\n",
		"burn_rate 30d 10\n", "page_1h_5m ok\n", "page_6h_30m burning\n", "ticket_3d_6h burning\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(b.data, want[i]), "missing '%s' in:\n%s", want[i], b.data);
	/* before any data: unknown, never "ok" */
	obs_buf_reset(&b);
	cr_assert_eq(am_slo_render_state(s, &qo, &st, t0 - 86400000LL, &b), 0);
	cr_assert(strstr(b.data, "error_ratio unknown\n"), "%s", b.data);
	cr_assert(strstr(b.data, "page_1h_5m unknown\n"));
	obs_buf_release(&b);
	am_slo_free(s);
	obs_labels_release(&e);
	obs_labels_release(&t);
	obs_query_mem_free(m);
}
