/* test_query_eval.c — the PromQL evaluator over the in-memory store:
 * lookback and staleness, left-open windows, rate extrapolation, binary
 * operators and matching errors, aggregations, functions, range queries,
 * the sample limit and native histogram refusal. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "query/dbstore.h"
#include "query/query.h"

static struct obs_query_mem *mem;
static struct obs_query_store store;
static struct obs_query_opts opts;

static void setup(void)
{
	mem = obs_query_mem_new();
	cr_assert_not_null(mem);
	store = obs_query_mem_store(mem);
	obs_query_opts_default(&opts);
}

static void teardown(void)
{
	obs_query_mem_free(mem);
}

/* load "SERIES VALUES" with samples every step_s seconds from 0 */
static void load(const char *desc, int step_s)
{
	struct obs_labels l;
	struct obs_query_seqval *v;
	size_t n;
	char err[100];
	cr_assert_eq(obs_query_parse_series_desc(desc, strlen(desc), &l, &v, &n, err, sizeof(err)), 0, "%s", err);
	for (size_t i = 0; i < n; i++) {
		if (v[i].omitted)
			continue;
		if (v[i].histogram)
			cr_assert_eq(obs_query_mem_add_histogram(mem, &l, (int64_t)i * step_s * 1000), 0);
		else
			cr_assert_eq(obs_query_mem_add(mem, &l, (int64_t)i * step_s * 1000, v[i].v), 0);
	}
	obs_labels_release(&l);
	free(v);
}

static int run(const char *q, int64_t t_s, struct obs_query_result *r)
{
	struct obs_query_expr *e;
	char err[256];
	int rc = obs_query_parse(q, strlen(q), &e, err, sizeof(err));
	cr_assert_eq(rc, 0, "parse '%s': %s", q, err);
	rc = obs_query_instant(&opts, &store, e, t_s * 1000, r);
	obs_query_expr_free(e);
	return rc;
}

/* the value of the only series (or scalar) of an instant query */
static double one(const char *q, int64_t t_s)
{
	struct obs_query_result r;
	int rc = run(q, t_s, &r);
	cr_assert_eq(rc, 0, "'%s': %s", q, r.err);
	cr_assert_eq(r.nseries, 1, "'%s' at %llds: %zu series", q, (long long)t_s, r.nseries);
	double v = r.series[0].v[0];
	obs_query_result_release(&r);
	return v;
}

static size_t count(const char *q, int64_t t_s)
{
	struct obs_query_result r;
	int rc = run(q, t_s, &r);
	cr_assert_eq(rc, 0, "'%s': %s", q, r.err);
	size_t n = r.nseries;
	obs_query_result_release(&r);
	return n;
}

static void fails(const char *q, int64_t t_s, int want_rc, const char *msg)
{
	struct obs_query_result r;
	int rc = run(q, t_s, &r);
	cr_assert_eq(rc, want_rc, "'%s': rc %d (%s)", q, rc, r.err);
	cr_assert(strstr(r.err, msg) != NULL, "'%s': '%s' lacks '%s'", q, r.err, msg);
	obs_query_result_release(&r);
}

static void near(double a, double b)
{
	cr_assert(fabs(a - b) < 1e-9 * fmax(1, fabs(b)), "%.17g != %.17g", a, b);
}

TestSuite(query_eval, .init = setup, .fini = teardown);

static int q_labels_eq_test(const struct obs_labels *a, const struct obs_labels *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) || strcmp(a->v[i].value, b->v[i].value))
			return 0;
	return 1;
}

Test(query_eval, lookback_excludes_exactly_five_minutes)
{
	load("g 7", 60);
	near(one("g", 0), 7);
	near(one("g", 299), 7);
	cr_assert_eq(count("g", 300), 0);
	cr_assert_eq(count("g offset 1m", 360), 0);
	near(one("g offset 1m", 359), 7);
}

Test(query_eval, staleness_ends_a_series)
{
	load("s 1 2 stale 4", 60);
	near(one("s", 90), 2);
	cr_assert_eq(count("s", 120), 0);
	cr_assert_eq(count("s", 170), 0);
	near(one("s", 180), 4);
	/* a window ignores the marker itself */
	near(one("count_over_time(s[10m])", 180), 3);
}

Test(query_eval, windows_are_left_open)
{
	load("c 0+1x10", 60);
	near(one("count_over_time(c[5m])", 300), 5);   /* 1m..5m, not 0 */
	near(one("sum_over_time(c[5m])", 300), 15);
	near(one("last_over_time(c[5m])", 330), 5);
	near(one("first_over_time(c[5m])", 300), 1);
}

Test(query_eval, rate_extrapolates_like_prometheus)
{
	load("req_total 0+60x10", 60);
	near(one("rate(req_total[5m])", 600), 1);
	near(one("increase(req_total[5m])", 600), 300);
	near(one("irate(req_total[5m])", 600), 1);
	/* counter reset: 10 20 5 15 -> increase counts 20 + 15 - 10 */
	load("r_total 10 20 5 15", 60);
	near(one("resets(r_total[10m])", 180), 1);
	near(one("changes(r_total[10m])", 180), 3);
	/* the zero point limits extrapolation to the left */
	load("z_total 1+1x3", 60);
	double inc = one("increase(z_total[5m])", 180);
	cr_assert(inc > 3 && inc <= 4.5, "increase %g", inc);
}

Test(query_eval, deriv_and_predict_linear)
{
	load("lin 0+2x10", 60);
	near(one("deriv(lin[5m])", 600), 2.0 / 60);
	near(one("predict_linear(lin[5m], 60)", 600), 22);
}

Test(query_eval, binary_operators_and_matching)
{
	load("a{job=\"x\",i=\"1\"} 10", 60);
	load("a{job=\"x\",i=\"2\"} 20", 60);
	load("b{job=\"x\"} 2", 60);
	near(one("sum(a) / on() group_left b", 0), 15);
	cr_assert_eq(count("a / on(job) group_left b", 0), 2);
	fails("a / on(job) b", 0, -EINVAL, "many-to-one matching must be explicit");
	fails("b / on(job) a", 0, -EINVAL, "found duplicate series for the match group {job=\"x\"} on the right hand-side");
	cr_assert_eq(count("a > 15", 0), 1);
	cr_assert_eq(count("a > bool 15", 0), 2);
	near(one("a{i=\"1\"} + a{i=\"2\"} * 0 + 1 or vector(0)", 0), 0);   /* no match: the right side */
	cr_assert_eq(count("a and on(job) b", 0), 2);
	cr_assert_eq(count("a unless on(job) b", 0), 0);
	near(one("2 ^ 3 ^ 2", 0), 512);
	near(one("-2 ^ 2", 0), -4);
	near(one("5 % 3", 0), 2);
	near(one("1 == bool 1", 0), 1);
}

Test(query_eval, name_is_dropped_late)
{
	load("m_total{env=\"1\"} 0 60 120", 300);
	struct obs_query_result r;
	cr_assert_eq(run("label_replace(rate(m_total[10m]), \"n\", \"$1\", \"__name__\", \"(.+)\")", 600, &r), 0);
	cr_assert_eq(r.nseries, 1);
	cr_assert_str_eq(obs_labels_get(&r.series[0].labels, "n"), "m_total");
	cr_assert_null(obs_labels_get(&r.series[0].labels, "__name__"));
	obs_query_result_release(&r);
	load("m2_total{env=\"1\"} 1", 300);
	fails("-{__name__=~\"m_total|m2_total\"}", 0, -EINVAL, "vector cannot contain metrics with the same labelset");
}

Test(query_eval, aggregations)
{
	for (int i = 1; i <= 4; i++) {
		char d[64];
		snprintf(d, sizeof(d), "v{k=\"%d\",g=\"%s\"} %d", i, i % 2 ? "odd" : "even", i);
		load(d, 60);
	}
	near(one("sum(v)", 0), 10);
	near(one("avg(v)", 0), 2.5);
	near(one("min(v)", 0), 1);
	near(one("max(v)", 0), 4);
	near(one("count(v)", 0), 4);
	near(one("group(v)", 0), 1);
	near(one("stdvar(v)", 0), 1.25);
	near(one("stddev(v)", 0), sqrt(1.25));
	near(one("quantile(0.5, v)", 0), 2.5);
	cr_assert_eq(count("sum by (g) (v)", 0), 2);
	cr_assert_eq(count("sum without (k) (v)", 0), 2);
	cr_assert_eq(count("topk(2, v)", 0), 2);
	cr_assert_eq(count("topk by (g) (1, v)", 0), 2);
	cr_assert_eq(count("limitk(3, v)", 0), 3);
	cr_assert_eq(count("count_values(\"val\", v)", 0), 4);
	struct obs_query_result r;
	cr_assert_eq(run("bottomk(2, v)", 0, &r), 0);
	cr_assert_eq(r.nseries, 2);
	near(r.series[0].v[0], 1);   /* instant results keep the ranking order */
	near(r.series[1].v[0], 2);
	obs_query_result_release(&r);
	cr_assert_eq(run("sort_desc(v)", 0, &r), 0);
	near(r.series[0].v[0], 4);
	near(r.series[3].v[0], 1);
	obs_query_result_release(&r);
	fails("topk(NaN, v)", 0, -EINVAL, "Parameter value is NaN");
}

Test(query_eval, histogram_quantile_over_buckets)
{
	load("h_bucket{le=\"0.1\"} 0+1x10", 60);
	load("h_bucket{le=\"0.5\"} 0+3x10", 60);
	load("h_bucket{le=\"+Inf\"} 0+4x10", 60);
	/* rank 0.5 * 4 = 2 falls in (0.1, 0.5]: 0.1 + 0.4 * (2 - 1) / 2 */
	near(one("histogram_quantile(0.5, rate(h_bucket[5m]))", 600), 0.3);
	near(one("histogram_quantile(1, h_bucket)", 600), 0.5);
	near(one("histogram_fraction(0, 0.1, h_bucket)", 600), 0.25);
	struct obs_query_result r;
	cr_assert_eq(run("histogram_quantile(2, h_bucket)", 600, &r), 0);
	cr_assert(isinf(r.series[0].v[0]));
	cr_assert_eq(r.nwarnings, 1);
	cr_assert(strstr(r.warnings[0], "quantile value should be between 0 and 1") != NULL);
	obs_query_result_release(&r);
}

Test(query_eval, functions)
{
	load("x{a=\"p-q\"} -2.5", 60);
	near(one("abs(x)", 0), 2.5);
	near(one("ceil(x)", 0), -2);
	near(one("floor(x)", 0), -3);
	near(one("round(x)", 0), -2);
	near(one("round(x, 2)", 0), -2);
	near(one("clamp(x, -1, 1)", 0), -1);
	near(one("clamp_min(x, 0)", 0), 0);
	near(one("sgn(x)", 0), -1);
	near(one("scalar(x)", 0), -2.5);
	near(one("vector(3)", 0), 3);
	near(one("time()", 90), 90);
	near(one("timestamp(x)", 90), 0);
	near(one("year(vector(0))", 0), 1970);
	near(one("day_of_week(vector(86400 * 3))", 0), 0);   /* 1970-01-04 was a Sunday */
	near(one("days_in_month(vector(86400 * 40))", 0), 28);
	cr_assert_eq(count("absent(x)", 0), 0);
	struct obs_query_result r;
	cr_assert_eq(run("absent(nope{job=\"j\", k=~\"v\"})", 0, &r), 0);
	cr_assert_eq(r.nseries, 1);
	cr_assert_str_eq(obs_labels_get(&r.series[0].labels, "job"), "j");
	cr_assert_null(obs_labels_get(&r.series[0].labels, "k"));
	obs_query_result_release(&r);
	cr_assert_eq(run("label_replace(x, \"b\", \"$2-$1\", \"a\", \"(.*)-(.*)\")", 0, &r), 0);
	cr_assert_str_eq(obs_labels_get(&r.series[0].labels, "b"), "q-p");
	obs_query_result_release(&r);
	cr_assert_eq(run("label_join(x, \"c\", \"+\", \"a\", \"a\")", 0, &r), 0);
	cr_assert_str_eq(obs_labels_get(&r.series[0].labels, "c"), "p-q+p-q");
	obs_query_result_release(&r);
	fails("label_replace(x, \"b\", \"\", \"a\", \"(\")", 0, -EINVAL, "invalid regular expression");
	cr_assert_eq(run("\"str\"", 0, &r), 0);
	cr_assert_eq(r.type, OBS_QV_STRING);
	cr_assert_str_eq(r.str, "str");
	obs_query_result_release(&r);
}

Test(query_eval, subqueries_and_at)
{
	load("c 0+1x20", 60);
	/* inner points at 6m..10m (aligned to 1m; 5m excluded) */
	near(one("sum_over_time(c[5m:1m])", 600), 6 + 7 + 8 + 9 + 10);
	near(one("max_over_time(rate(c[2m])[5m:])", 600), 1.0 / 60);
	near(one("c @ 120", 600), 2);
	near(one("c @ start()", 600), 10);
	near(one("sum_over_time(c[2m] @ 300 offset 1m)", 900), 3 + 4);
}

Test(query_eval, range_query)
{
	load("r{i=\"b\"} 1 2 _ _ _ _ _ 8", 60);
	load("r{i=\"a\"} 5 5 5", 60);
	struct obs_query_expr *e;
	char err[200];
	const char *q = "r * 2";
	cr_assert_eq(obs_query_parse(q, strlen(q), &e, err, sizeof(err)), 0);
	struct obs_query_result r;
	cr_assert_eq(obs_query_range(&opts, &store, e, 0, 480000, 60000, &r), 0, "%s", r.err);
	cr_assert_eq(r.type, OBS_QV_MATRIX);
	cr_assert_eq(r.nseries, 2);
	cr_assert_str_eq(obs_labels_get(&r.series[0].labels, "i"), "a");   /* sorted by labels */
	/* {i="b"}: 0, 1m, lookback covers 2m..6m, then a gap at 7m, 8m */
	cr_assert_eq(r.series[1].n, 8);
	cr_assert_eq(r.series[1].t[6], 420000);
	near(r.series[1].v[6], 16);
	obs_query_result_release(&r);
	const char *bad = "r[5m]";
	obs_query_expr_free(e);
	cr_assert_eq(obs_query_parse(bad, strlen(bad), &e, err, sizeof(err)), 0);
	cr_assert_eq(obs_query_range(&opts, &store, e, 0, 60000, 60000, &r), -EINVAL);
	cr_assert(strstr(r.err, "invalid expression type \"range vector\" for range query") != NULL);
	obs_query_result_release(&r);
	obs_query_expr_free(e);
}

Test(query_eval, instant_range_vector)
{
	load("m 1 2 3 4", 10);
	struct obs_query_result r;
	cr_assert_eq(run("m[20s]", 30, &r), 0);
	cr_assert_eq(r.type, OBS_QV_MATRIX);
	cr_assert_eq(r.series[0].n, 2);
	cr_assert_eq(r.series[0].t[0], 20000);
	obs_query_result_release(&r);
}

Test(query_eval, sample_limit)
{
	load("big 0+1x999", 1);
	opts.max_samples = 100;
	fails("sum_over_time(big[1000s])", 999, -E2BIG,
	      "query processing would load too many samples into memory in query execution");
	opts.max_samples = 0;
	near(one("sum_over_time(big[1000s])", 999), 999.0 * 1000 / 2);
}

Test(query_eval, native_histograms_are_refused)
{
	load("nh {{schema:0 sum:1 count:1}}x3", 60);
	load("fl 1", 60);
	fails("nh", 60, -ENOTSUP, "native histograms are not supported");
	fails("sum({__name__=~\".+\"})", 60, -ENOTSUP, "native histograms are not supported");
	near(one("fl", 60), 1);
}

Test(query_eval, limits_cover_intermediate_results)
{
	for (int i = 0; i < 20; i++) {
		char d[64];
		snprintf(d, sizeof(d), "w{i=\"%d\"} 0+1x60", i);
		load(d, 60);
	}
	/* a fine subquery holds 20 series x 36001 points */
	opts.max_samples = 100000;
	fails("max_over_time(w[10h:1s])", 3600, -E2BIG, "too many samples");
	opts.max_samples = 0;
	opts.timeout_ms = 1;
	fails("max_over_time(sum(rate(w[5m]))[10d:1s])", 3600, -ETIMEDOUT, "query timed out in query execution");
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

/* The same engine over the metrics db: index selection, head reads. */
Test(query_eval, over_the_metrics_db)
{
	char dir[] = "/tmp/test_query_db.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	struct obs_db_opts o;
	obs_db_opts_default(&o);
	o.check_interval_ms = 0;
	o.block_span_ms = 0;
	o.head_max_samples = 0;
	o.sync_interval_ms = 0;
	o.retention_ms = 0;
	struct obs_db *db = NULL;
	char err[256];
	cr_assert_eq(obs_db_open(dir, &o, &db, err, sizeof(err)), 0, "%s", err);
	int64_t t0 = (obs_time_now() / 3600000 - 2) * 3600000;
	struct obs_buf in;
	obs_buf_init(&in);
	for (int i = 0; i <= 10; i++) {
		obs_buf_printf(&in, "req_total{job=\"a\",code=\"200\"} %d %lld\n", i * 60, (long long)(t0 + i * 60000));
		obs_buf_printf(&in, "req_total{job=\"a\",code=\"500\"} %d %lld\n", i * 6, (long long)(t0 + i * 60000));
		obs_buf_printf(&in, "req_total{job=\"b\",code=\"200\"} %d %lld\n", i, (long long)(t0 + i * 60000));
	}
	struct obs_ingest_result r;
	cr_assert_eq(obs_db_ingest(db, in.data, in.len, OBS_FMT_PROM, "test", 1, &r), 0);
	cr_assert_eq(r.accepted, 33);
	obs_buf_release(&in);
	struct obs_query_store st = obs_query_db_store(db);
	const char *q = "sum by (job) (rate(req_total{code=~\"2..|5..\"}[5m]))";
	struct obs_query_expr *e;
	cr_assert_eq(obs_query_parse(q, strlen(q), &e, err, sizeof(err)), 0, "%s", err);
	struct obs_query_result res;
	cr_assert_eq(obs_query_instant(&opts, &st, e, t0 + 600000, &res), 0, "%s", res.err);
	cr_assert_eq(res.nseries, 2);
	for (size_t i = 0; i < res.nseries; i++) {
		const char *job = obs_labels_get(&res.series[i].labels, "job");
		near(res.series[i].v[0], strcmp(job, "a") == 0 ? 1.1 : 1.0 / 60);
	}
	obs_query_result_release(&res);
	obs_query_expr_free(e);
	obs_db_close(db);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The streaming aggregation over a selector answers exactly as the general
 * path (forced here by "* 1", which changes no value). */
Test(query_eval, streaming_aggregation_matches)
{
	load("s{g=\"a\",k=\"1\"} 1 2 NaN 4 stale 6 7", 60);
	load("s{g=\"a\",k=\"2\"} 1e308 1e308 3 _ 5 -Inf 7", 60);
	load("s{g=\"b\",k=\"3\"} 0.1 0.2 0.3 0.4 0.5 0.6 0.7", 60);
	load("s{g=\"b\",k=\"4\"} _ _ _ 9 9 9 9", 60);
	static const char *const ops[] = { "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar" };
	static const char *const grp[] = { "by (g)", "without (k)", "", "by (__name__)" };
	for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
		for (size_t g = 0; g < sizeof(grp) / sizeof(grp[0]); g++) {
			char q1[128], q2[128];
			snprintf(q1, sizeof(q1), "%s %s (s)", ops[o], grp[g]);
			snprintf(q2, sizeof(q2), "%s %s (s * 1)", ops[o], grp[g]);
			struct obs_query_expr *e1, *e2;
			char err[200];
			cr_assert_eq(obs_query_parse(q1, strlen(q1), &e1, err, sizeof(err)), 0, "%s", err);
			cr_assert_eq(obs_query_parse(q2, strlen(q2), &e2, err, sizeof(err)), 0, "%s", err);
			struct obs_query_result r1, r2;
			cr_assert_eq(obs_query_range(&opts, &store, e1, 0, 420000, 30000, &r1), 0, "%s", r1.err);
			cr_assert_eq(obs_query_range(&opts, &store, e2, 0, 420000, 30000, &r2), 0, "%s", r2.err);
			int by_name = strstr(q1, "__name__") != NULL;   /* "* 1" drops the name there */
			cr_assert_eq(r1.nseries, r2.nseries, "%s", q1);
			for (size_t i = 0; i < r1.nseries; i++) {
				if (!by_name)
					cr_assert(q_labels_eq_test(&r1.series[i].labels, &r2.series[i].labels), "%s", q1);
				cr_assert_eq(r1.series[i].n, r2.series[i].n, "%s", q1);
				for (size_t k = 0; k < r1.series[i].n; k++) {
					double a = r1.series[i].v[k], b = r2.series[i].v[k];
					cr_assert(a == b || (isnan(a) && isnan(b)), "%s at %lld: %g vs %g", q1,
						  (long long)r1.series[i].t[k], a, b);
				}
			}
			obs_query_result_release(&r1);
			obs_query_result_release(&r2);
			obs_query_expr_free(e1);
			obs_query_expr_free(e2);
		}
}

/* Range functions folded straight into an aggregation answer as when their
 * rows are built first ("* 1" forces that). */
Test(query_eval, streaming_range_functions_match)
{
	load("c_total{g=\"a\",k=\"1\"} 1 2 4 stale 8 16 3 5 _ 9", 60);
	load("c_total{g=\"a\",k=\"2\"} 0+10x9", 60);
	load("c_total{g=\"b\",k=\"3\"} NaN 1 2 3 Inf 5 6 7 8 9", 60);
	static const char *const fns[] = { "rate(c_total[3m])", "increase(c_total[5m])", "max_over_time(c_total[2m])",
					   "avg_over_time(c_total[4m])", "quantile_over_time(0.3, c_total[4m])",
					   "changes(c_total[10m])", "deriv(c_total[5m])" };
	static const char *const ops[] = { "sum by (g)", "avg without (k)", "max", "count by (__name__)", "stddev by (g)" };
	for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++)
		for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
			char q1[160], q2[160];
			snprintf(q1, sizeof(q1), "%s (%s)", ops[o], fns[f]);
			snprintf(q2, sizeof(q2), "%s (%s * 1)", ops[o], fns[f]);
			struct obs_query_expr *e1, *e2;
			char err[200];
			cr_assert_eq(obs_query_parse(q1, strlen(q1), &e1, err, sizeof(err)), 0, "%s", err);
			cr_assert_eq(obs_query_parse(q2, strlen(q2), &e2, err, sizeof(err)), 0, "%s", err);
			struct obs_query_result r1, r2;
			cr_assert_eq(obs_query_range(&opts, &store, e1, 0, 600000, 30000, &r1), 0, "%s", r1.err);
			cr_assert_eq(obs_query_range(&opts, &store, e2, 0, 600000, 30000, &r2), 0, "%s", r2.err);
			cr_assert_eq(r1.nseries, r2.nseries, "%s", q1);
			for (size_t i = 0; i < r1.nseries; i++) {
				cr_assert(q_labels_eq_test(&r1.series[i].labels, &r2.series[i].labels), "%s", q1);
				cr_assert_eq(r1.series[i].n, r2.series[i].n, "%s", q1);
				for (size_t k = 0; k < r1.series[i].n; k++) {
					double a = r1.series[i].v[k], b = r2.series[i].v[k];
					cr_assert(a == b || (isnan(a) && isnan(b)), "%s: %g vs %g", q1, a, b);
				}
			}
			obs_query_result_release(&r1);
			obs_query_result_release(&r2);
			obs_query_expr_free(e1);
			obs_query_expr_free(e2);
		}
}
