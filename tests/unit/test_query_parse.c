/* test_query_parse.c — the PromQL lexer and parser: precedence and
 * associativity through the canonical printer, literals and durations,
 * modifiers, type checks and positioned error messages. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "query/query.h"

static void same(const char *in, const char *want)
{
	struct obs_query_expr *e = NULL;
	char err[256];
	int rc = obs_query_parse(in, strlen(in), &e, err, sizeof(err));
	cr_assert_eq(rc, 0, "parse '%s': %s", in, err);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_query_expr_format(e, &b), 0);
	cr_assert_str_eq(b.data, want, "'%s' printed as '%s', want '%s'", in, b.data, want);
	/* the printed form parses to the same text again */
	struct obs_query_expr *e2 = NULL;
	rc = obs_query_parse(b.data, b.len, &e2, err, sizeof(err));
	cr_assert_eq(rc, 0, "reparse '%s': %s", b.data, err);
	struct obs_buf b2;
	obs_buf_init(&b2);
	obs_query_expr_format(e2, &b2);
	cr_assert_str_eq(b2.data, b.data);
	obs_buf_release(&b);
	obs_buf_release(&b2);
	obs_query_expr_free(e);
	obs_query_expr_free(e2);
}

static void bad(const char *in, const char *want)
{
	struct obs_query_expr *e = (struct obs_query_expr *)1;
	char err[256] = "";
	int rc = obs_query_parse(in, strlen(in), &e, err, sizeof(err));
	cr_assert_eq(rc, -EINVAL, "'%s' should fail (rc %d)", in, rc);
	cr_assert_null(e);
	cr_assert(strstr(err, want) != NULL, "'%s': error '%s' lacks '%s'", in, err, want);
}

Test(query_parse, precedence)
{
	same("1 + 2 * 3", "(1 + (2 * 3))");
	same("1 * 2 + 3", "((1 * 2) + 3)");
	same("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))");
	same("-2 ^ 2", "-(2 ^ 2)");
	same("a - b - c", "((a - b) - c)");
	same("a or b and c unless d", "(a or ((b and c) unless d))");
	same("a + b > bool c", "((a + b) > bool c)");
	same("a % b atan2 c", "((a % b) atan2 c)");
	same("-a * b", "(-a * b)");
	same("1 - -1", "(1 - -1)");
	same("(1 + 2) * 3", "((1 + 2) * 3)");
}

Test(query_parse, literals)
{
	same("0x1F", "31");
	same("1e3", "1000");
	same(".5", "0.5");
	same("2.", "2");
	same("Inf", "Inf");
	same("-inF", "-Inf");
	same("NaN", "NaN");
	same("5m", "300");
	same("1h30m", "5400");
	same("\"a\\nb\"", "\"a\\nb\"");
}

Test(query_parse, literal_errors)
{
	bad("'it''s'", "unexpected");
	bad("\"abc", "unterminated quoted string");
	bad("1x", "bad number or duration syntax");
	bad("5m3h", "bad");
}

Test(query_parse, selectors)
{
	same("up", "up");
	same("up{job!=\"x\", instance=~\"a.*\"}", "up{job!=\"x\", instance=~\"a.*\"}");
	same("{__name__=\"up\"}", "{__name__=\"up\"}");
	same("{\"my.metric\", zone=\"a\"}", "{\"my.metric\", zone=\"a\"}");
	same("up{job='a',}", "up{job=\"a\"}");
	same("x[1h30m]", "x[1h30m]");
	same("x[90]", "x[1m30s]");
	same("x offset 5m", "x offset 5m");
	same("x offset -1h", "x offset -1h");
	same("x @ 100", "x @ 100.000");
	same("x offset 5m @ 100", "x @ 100.000 offset 5m");
	same("x[5m] @ end()", "x[5m] @ end()");
	same("x @ start()", "x @ start()");
	same("rate(x[5m])[30m:1m]", "rate(x[5m])[30m:1m]");
	same("x[5m:]", "x[5m:]");
	same("x[5m:] offset 1m", "x[5m:] offset 1m");
	same("SUM BY (job) (x)", "sum by (job) (x)");
}

Test(query_parse, aggregations_and_matching)
{
	same("sum by (job) (rate(x[5m]))", "sum by (job) (rate(x[5m]))");
	same("sum(x) without (a, b)", "sum without (a, b) (x)");
	same("topk(3, x)", "topk(3, x)");
	same("quantile by (le) (0.9, x)", "quantile by (le) (0.9, x)");
	same("count_values(\"v\", x)", "count_values(\"v\", x)");
	same("limitk(2, x)", "limitk(2, x)");
	same("a * on(job) group_left(instance) b", "(a * on(job) group_left(instance) b)");
	same("a / ignoring(code) group_right b", "(a / ignoring(code) group_right() b)");
	same("a / on() group_left() (b + c)", "(a / on() group_left() (b + c))");
	bad("a / on() group_left (b + c)", "in grouping opts");   /* the list comes first, as in Prometheus */
	same("a and on() b", "(a and on() b)");
	same("label_join(x, \"d\", \",\", \"a\", \"b\")", "label_join(x, \"d\", \",\", \"a\", \"b\")");
	same("day_of_week()", "day_of_week()");
}

Test(query_parse, errors_have_positions)
{
	bad("sum(x))", "1:7: parse error: unexpected \")\"");
	bad("rate(x)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector");
	bad("1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier");
	same("foo{}", "foo");
	bad("{}", "vector selector must contain at least one non-empty matcher");
	bad("{job=~\".*\"}", "vector selector must contain at least one non-empty matcher");
	bad("(x)[5m]", "ranges only allowed for vector selectors");
	bad("nosuch(x)", "1:1: parse error: unknown function with name \"nosuch\"");
	bad("x offset 1m offset 2m", "offset may not be set multiple times");
	bad("x @ 1 @ 2", "may not be set multiple times");
	bad("a and 1", "set operator \"and\" not allowed in binary scalar expression");
	bad("1 + bool 2", "bool modifier can only be used on comparison operators");
	bad("a + on(x) group_left(x) b", "must not occur in ON and GROUP clause at once");
	bad("sum(x, y)", "wrong number of arguments");
	bad("topk(x)", "wrong number of arguments");
	bad("rate(x[5m], 1)", "expected 1 argument(s) in call to \"rate\", got 2");
	bad("x[0s]", "range duration must be greater than 0");
	bad("sum(\n  x +\n)", "3:1: parse error: unexpected \")\"");
	bad("", "no expression found in input");
	bad("x{a=1}", "expected string");
	bad("x{a=\"1\"", "unexpected end of input");
	bad("1 + \"a\"", "binary expression must contain only scalar and instant vector types");
	bad("-\"a\"", "unary expression only allowed");
	bad("x[5m][5m]", "ranges only allowed for vector selectors");
	bad("sum(x)[5m] offset 1m[1m]", "ranges only allowed");
	bad("x{a=~\"(\"}", "error parsing regexp");
}

Test(query_parse, types)
{
	struct { const char *e; enum obs_query_vtype t; } cases[] = {
		{ "1", OBS_QV_SCALAR }, { "\"s\"", OBS_QV_STRING }, { "x", OBS_QV_VECTOR },
		{ "x[5m]", OBS_QV_MATRIX }, { "x + 1", OBS_QV_VECTOR }, { "time() * 2", OBS_QV_SCALAR },
		{ "rate(x[1m])[5m:]", OBS_QV_MATRIX }, { "scalar(x)", OBS_QV_SCALAR },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct obs_query_expr *e;
		char err[200];
		cr_assert_eq(obs_query_parse(cases[i].e, strlen(cases[i].e), &e, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(obs_query_expr_type(e), cases[i].t, "type of '%s'", cases[i].e);
		obs_query_expr_free(e);
	}
}

Test(query_parse, durations)
{
	int64_t ms;
	cr_assert_eq(obs_query_parse_duration("1h30m", 5, &ms), 0);
	cr_assert_eq(ms, 5400000);
	cr_assert_eq(obs_query_parse_duration("10s53ms", 7, &ms), 0);
	cr_assert_eq(ms, 10053);
	cr_assert_eq(obs_query_parse_duration("0s", 2, &ms), 0);
	cr_assert_eq(ms, 0);
	cr_assert_eq(obs_query_parse_duration("2w1d", 4, &ms), 0);
	cr_assert_eq(ms, 15LL * 86400000);
	cr_assert_eq(obs_query_parse_duration("5m1h", 4, &ms), -EINVAL);   /* units must decrease */
	cr_assert_eq(obs_query_parse_duration("1.5h", 4, &ms), -EINVAL);
	cr_assert_eq(obs_query_parse_duration("h", 1, &ms), -EINVAL);
}

Test(query_parse, series_descriptions)
{
	struct obs_labels l;
	struct obs_query_seqval *v;
	size_t n;
	char err[100];
	const char *s = "up{job=\"a\"} 1 2+3x2 _ stale _x2 5x1 1-1x1 {{schema:1 sum:3}}";
	cr_assert_eq(obs_query_parse_series_desc(s, strlen(s), &l, &v, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(obs_labels_get(&l, "__name__"), "up");
	cr_assert_str_eq(obs_labels_get(&l, "job"), "a");
	double want[] = { 1, 2, 5, 8, -1, -1, -1, -1, 5, 5, 1, 0, -1 };
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
	cr_assert(v[4].omitted && v[6].omitted && v[7].omitted && v[12].histogram);
	cr_assert(obs_query_is_stale(v[5].v));
	for (size_t i = 0; i < n; i++)
		if (want[i] >= 0 || i == 11)
			cr_assert_eq(v[i].v, want[i], "value %zu", i);
	free(v);
	obs_labels_release(&l);
	cr_assert_eq(obs_query_parse_series_desc("up 1+", 5, &l, &v, &n, err, sizeof(err)), -EINVAL);
}

Test(query_parse, duration_expressions)
{
	same("x[5m+1m]", "x[6m]");
	same("x offset (1m * 2)", "x offset 2m");
	same("x[min_of(5m, 10m)]", "x[5m]");
	same("x[step() * 2]", "x[(step() * 2)]");
	same("rate(x[1h:step()])", "rate(x[1h:step()])");
	bad("x[foo]", "range must be a duration");
	bad("x offset y", "offset");
}

Test(query_parse, nesting_is_bounded)
{
	char q[20000];
	size_t n = 0;
	for (int i = 0; i < 5000; i++)
		q[n++] = '(';
	q[n++] = '1';
	for (int i = 0; i < 5000; i++)
		q[n++] = ')';
	q[n] = 0;
	bad(q, "nested too deeply");
}
