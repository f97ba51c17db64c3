/* test_query_request.c — what a client writes to MOUNT/query (and names a
 * saved query with): the expression, @TIME, @START..END, @RANGE:STEP and
 * #json, and where PromQL's own @ stays in the expression. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "query/query.h"

static const int64_t NOW = 1795255200000;   /* 2026-11-21T10:00:00Z */

static struct obs_query_request req(const char *s)
{
	struct obs_query_request r;
	char err[128];
	int rc = obs_query_request_parse(s, strlen(s), NOW, &r, err, sizeof(err));
	cr_assert_eq(rc, 0, "'%s': %s", s, err);
	return r;
}

static void instant(const char *s, const char *expr, int64_t t, int json)
{
	struct obs_query_request r = req(s);
	cr_assert_str_eq(r.expr, expr, "'%s'", s);
	cr_assert_eq(r.range, 0, "'%s'", s);
	cr_assert_eq(r.time, t, "'%s': time %lld", s, (long long)r.time);
	cr_assert_eq(r.json, json, "'%s'", s);
	obs_query_request_release(&r);
}

static void range(const char *s, const char *expr, int64_t a, int64_t b, int64_t step, int json)
{
	struct obs_query_request r = req(s);
	cr_assert_str_eq(r.expr, expr, "'%s'", s);
	cr_assert_eq(r.range, 1, "'%s'", s);
	cr_assert_eq(r.start, a, "'%s': start %lld", s, (long long)r.start);
	cr_assert_eq(r.end, b, "'%s': end %lld", s, (long long)r.end);
	cr_assert_eq(r.step, step, "'%s': step %lld", s, (long long)r.step);
	cr_assert_eq(r.json, json, "'%s'", s);
	obs_query_request_release(&r);
}

Test(query_request, instant_forms)
{
	instant("up\n", "up", NOW, 0);
	instant("  sum by (job) (rate(x[5m]))  \n", "sum by (job) (rate(x[5m]))", NOW, 0);
	instant("up @1700000000.5\n", "up", 1700000000500, 0);
	instant("up @2026-11-21T09:00:00Z", "up", NOW - 3600000, 0);
	instant("up @-1h #json\n", "up", NOW - 3600000, 1);
	instant("up#json", "up", NOW, 1);
	instant("up @now", "up", NOW, 0);
}

Test(query_request, range_forms)
{
	range("up @1700000000..1700003600:1m\n", "up", 1700000000000, 1700003600000, 60000, 0);
	range("rate(x[5m]) @-1h:1m #json", "rate(x[5m])", NOW - 3600000, NOW, 60000, 1);
	range("up @-2h..-1h:30s", "up", NOW - 7200000, NOW - 3600000, 30000, 0);
	/* no step: the range over 250 points, whole seconds, at least 1 s */
	range("up @-1h..now", "up", NOW - 3600000, NOW, 14000, 0);
	range("up @-1m..now", "up", NOW - 60000, NOW, 1000, 0);
	range("up @2026-11-21T08:00:00Z..2026-11-21T09:00:00Z:5m", "up", NOW - 7200000, NOW - 3600000, 300000, 0);
}

Test(query_request, promql_at_stays_in_the_expression)
{
	/* a blank after @: the @ modifier */
	instant("up @ 1700000000", "up @ 1700000000", NOW, 0);
	/* inside parentheses or brackets */
	instant("sum(up @1700000000)", "sum(up @1700000000)", NOW, 0);
	instant("max_over_time(up[5m:1m] @ end())", "max_over_time(up[5m:1m] @ end())", NOW, 0);
	/* both: the modifier, then the evaluation time */
	instant("up @ start() @1700000000", "up @ start()", 1700000000000, 0);
	/* not a time: left for the parser to judge */
	instant("up @start()", "up @start()", NOW, 0);
	/* an expression left open: the time spec still comes off, so the
	 * parser reports what is missing rather than the '@' */
	instant("up{ @1700000000", "up{", 1700000000000, 0);
	instant("sum(rate(x[5m]) @-1h", "sum(rate(x[5m])", NOW - 3600000, 0);
	/* '@' in a string */
	instant("label_replace(up, \"a\", \"x @-1h\", \"b\", \".*\")", "label_replace(up, \"a\", \"x @-1h\", \"b\", \".*\")",
		NOW, 0);
}

Test(query_request, bad_requests)
{
	struct obs_query_request r;
	char err[128];
	cr_assert_eq(obs_query_request_parse("  \n", 3, NOW, &r, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "no expression");
	cr_assert_eq(obs_query_request_parse("@-1h #json", 10, NOW, &r, err, sizeof(err)), -EINVAL);
	cr_assert_eq(obs_query_request_parse("up\0x", 4, NOW, &r, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "the request holds a NUL byte");
}

Test(query_request, saved_query_specs)
{
	struct obs_query_request r = { 0 };
	cr_assert_eq(obs_query_request_spec("-1h:1m", 6, NOW, &r), 0);
	cr_assert_eq(r.range, 1);
	cr_assert_eq(r.start, NOW - 3600000);
	cr_assert_eq(r.step, 60000);
	cr_assert_eq(obs_query_request_spec("1700000000", 10, NOW, &r), 0);
	cr_assert_eq(r.range, 0);
	cr_assert_eq(r.time, 1700000000000);
	cr_assert_eq(obs_query_request_spec("yesterday", 9, NOW, &r), -EINVAL);
	cr_assert_eq(obs_query_request_spec("-1h:0s", 6, NOW, &r), -EINVAL);
	cr_assert_eq(obs_query_request_spec("", 0, NOW, &r), -EINVAL);
}
