/* test_query_format.c — answers as text lines and as Prometheus' HTTP API
 * data object; every expected string below was checked by hand against
 * what Prometheus 2.x/3.x prints for the same query (jsonutil timestamps,
 * strconv 'f' -1 values, jsoniter string escapes). */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "query/query.h"

static struct obs_query_mem *mem;
static struct obs_query_store store;

static void setup(void)
{
	mem = obs_query_mem_new();
	cr_assert_not_null(mem);
	store = obs_query_mem_store(mem);
}

static void teardown(void)
{
	obs_query_mem_free(mem);
}

TestSuite(query_format, .init = setup, .fini = teardown);

static void add(const char *series, int64_t t, double v)
{
	struct obs_labels l;
	const char *why;
	cr_assert_eq(obs_labels_parse(series, strlen(series), &l, &why), 0, "%s", series);
	cr_assert_eq(obs_query_mem_add(mem, &l, t, v), 0);
	obs_labels_release(&l);
}

/* Evaluate q (instant at t, or range start..end:step when step > 0) and
 * format it; json selects the format. Returns a malloc'd string. */
static char *answer(const char *q, int64_t t, int64_t end, int64_t step, int json, enum obs_time_fmt tf)
{
	struct obs_query_expr *e;
	char err[256];
	cr_assert_eq(obs_query_parse(q, strlen(q), &e, err, sizeof(err)), 0, "%s", err);
	struct obs_query_result r;
	int rc = step ? obs_query_range(NULL, &store, e, t, end, step, &r) : obs_query_instant(NULL, &store, e, t, &r);
	cr_assert_eq(rc, 0, "'%s': %s", q, r.err);
	struct obs_buf b;
	obs_buf_init(&b);
	rc = json ? obs_query_format_json(&r, &b) : obs_query_format_text(&r, tf, &b);
	cr_assert_eq(rc, 0);
	obs_query_result_release(&r);
	obs_query_expr_free(e);
	char *s = strdup(b.data ? b.data : "");
	obs_buf_release(&b);
	return s;
}

static void same(char *got, const char *want)
{
	cr_assert_str_eq(got, want);
	free(got);
}

Test(query_format, json_vector_timestamps_and_values)
{
	add("up{job=\"a\",instance=\"h:9090\"}", 1700000000000, 1);
	add("up{job=\"b\",instance=\"h:9091\"}", 1700000000000, 0.1);
	same(answer("up", 1700000000123, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"vector\",\"result\":["
	     "{\"metric\":{\"__name__\":\"up\",\"instance\":\"h:9090\",\"job\":\"a\"},\"value\":[1700000000.123,\"1\"]},"
	     "{\"metric\":{\"__name__\":\"up\",\"instance\":\"h:9091\",\"job\":\"b\"},\"value\":[1700000000.123,\"0.1\"]}]}\n");
	/* milliseconds keep three digits; whole seconds have none */
	same(answer("up{job=\"a\"}", 1700000000100, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"up\",\"instance\":\"h:9090\",\"job\":\"a\"},"
	     "\"value\":[1700000000.100,\"1\"]}]}\n");
	same(answer("sum(up)", 1700000000000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1700000000,\"1.1\"]}]}\n");
	same(answer("nothing", 1700000000000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"vector\",\"result\":[]}\n");
}

Test(query_format, json_special_values)
{
	add("x", 1000, 1);
	same(answer("x / 0", 1000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"+Inf\"]}]}\n");
	same(answer("-x / 0", 1000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"-Inf\"]}]}\n");
	same(answer("x * NaN", 1000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"NaN\"]}]}\n");
	/* 'f' with the shortest digits: no exponent, ever */
	same(answer("1e21", 1000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"scalar\",\"result\":[1,\"1000000000000000000000\"]}\n");
	same(answer("1.5e-7", 1000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"scalar\",\"result\":[1,\"0.00000015\"]}\n");
	same(answer("-0.1 * 3", 1000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"scalar\",\"result\":[1,\"-0.30000000000000004\"]}\n");
	same(answer("-1 * 0", -1500, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"scalar\",\"result\":[-1.500,\"-0\"]}\n");
}

Test(query_format, json_strings_are_escaped_as_prometheus_does)
{
	same(answer("\"a\\\"b<c>&d\\\\e\\n\\tf\\u2028\"", 2000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"string\",\"result\":[2,\"a\\\"b\\u003cc\\u003e\\u0026d\\\\e\\n\\tf\\u2028\"]}\n");
	add("m{path=\"/a?b=<1>\",u=\"ü\"}", 1000, 2);
	same(answer("m", 1000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"m\",\"path\":\"/a?b=\\u003c1\\u003e\","
	     "\"u\":\"ü\"},\"value\":[1,\"2\"]}]}\n");
}

Test(query_format, json_matrix)
{
	for (int i = 0; i <= 4; i++) {
		add("c{k=\"1\"}", i * 15000, i * 1.5);
		if (i >= 2)
			add("c{k=\"0\"}", i * 15000, 7);
	}
	/* range query: series sorted by labels, points where they exist */
	same(answer("c", 30000, 60000, 15000, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"matrix\",\"result\":["
	     "{\"metric\":{\"__name__\":\"c\",\"k\":\"0\"},\"values\":[[30,\"7\"],[45,\"7\"],[60,\"7\"]]},"
	     "{\"metric\":{\"__name__\":\"c\",\"k\":\"1\"},\"values\":[[30,\"3\"],[45,\"4.5\"],[60,\"6\"]]}]}\n");
	/* a scalar over a range is a matrix of one series without labels */
	same(answer("time()", 0, 30000, 15000, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[0,\"0\"],[15,\"15\"],[30,\"30\"]]}]}\n");
	/* an instant range vector keeps the raw sample times */
	same(answer("c{k=\"1\"}[31s]", 60000, 0, 0, 1, OBS_TIME_EPOCH),
	     "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"c\",\"k\":\"1\"},"
	     "\"values\":[[30,\"3\"],[45,\"4.5\"],[60,\"6\"]]}]}\n");
}

Test(query_format, text_lines)
{
	add("up{job=\"a b\",instance=\"h\"}", 1795255200000, 1);
	add("up{job=\"c\",instance=\"h\"}", 1795255200000, 0);
	same(answer("up", 1795255200500, 0, 0, 0, OBS_TIME_RFC3339),
	     "up{instance=\"h\",job=\"a b\"} 2026-11-21T10:00:00.500Z 1\n"
	     "up{instance=\"h\",job=\"c\"} 2026-11-21T10:00:00.500Z 0\n");
	same(answer("up", 1795255200500, 0, 0, 0, OBS_TIME_EPOCH),
	     "up{instance=\"h\",job=\"a b\"} 1795255200.5 1\n"
	     "up{instance=\"h\",job=\"c\"} 1795255200.5 0\n");
	same(answer("sum(up) / 0", 1795255200000, 1795255260000, 30000, 0, OBS_TIME_EPOCH),
	     "{} 1795255200 +Inf\n{} 1795255230 +Inf\n{} 1795255260 +Inf\n");
	same(answer("2 * 2.5", 1795255200000, 0, 0, 0, OBS_TIME_RFC3339), "2026-11-21T10:00:00.000Z 5\n");
	same(answer("\"hi there\"", 1795255200000, 0, 0, 0, OBS_TIME_EPOCH), "1795255200 hi there\n");
	same(answer("nothing", 1795255200000, 0, 0, 0, OBS_TIME_EPOCH), "");
}

Test(query_format, results_count_the_samples_read)
{
	for (int i = 0; i < 100; i++)
		add("s", i * 10000, i);
	struct obs_query_expr *e;
	char err[128];
	const char *q = "max_over_time(s[100s])";
	cr_assert_eq(obs_query_parse(q, strlen(q), &e, err, sizeof(err)), 0);
	struct obs_query_result r;
	cr_assert_eq(obs_query_instant(NULL, &store, e, 500000, &r), 0, "%s", r.err);
	/* (400 s, 500 s]: ten samples */
	cr_assert_eq(r.samples_read, 10);
	cr_assert_eq(r.time, 500000);
	obs_query_result_release(&r);
	obs_query_expr_free(e);
}
