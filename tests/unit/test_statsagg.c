/* test_statsagg.c — StatsD aggregation: counters with sample rates (count and
 * rate), gauges with deltas, timers (count, sum, min, max, mean, the statsd
 * daemon's percentile rank), sets (distinct members per interval), DogStatsD
 * tags as labels, idle entries at the next flush, rejected lines. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/statsagg.h"

static struct obs_buf out;

static const char *flush(struct obs_statsagg *a, int64_t interval_ms)
{
	obs_buf_release(&out);
	obs_buf_init(&out);
	cr_assert_eq(obs_statsagg_flush(a, 1000000, interval_ms, &out), 0);
	return out.data ? out.data : "";
}

static void feed(struct obs_statsagg *a, const char *s, long want_bad)
{
	cr_assert_eq(obs_statsagg_feed(a, s, strlen(s), NULL, NULL), want_bad, "feed '%s'", s);
}

/* the line of out for SERIES (ends with " VALUE TS"), or NULL */
static int has(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof(want), "%s 1000000\n", line);
	for (const char *p = text; (p = strstr(p, want)); p++)
		if (p == text || p[-1] == '\n')
			return 1;
	return 0;
}

Test(statsagg, counters_rate_and_count)
{
	struct obs_statsagg *a = obs_statsagg_new(NULL, 0);
	cr_assert_not_null(a);
	feed(a, "req:1|c\nreq:2|c\nreq:1|c|@0.1\n", 0);
	const char *t = flush(a, 10000);
	cr_assert(has(t, "req_count 13"), "%s", t);
	cr_assert(has(t, "req_rate 1.3"), "%s", t);
	t = flush(a, 10000);   /* idle: 0, like statsd's default */
	cr_assert(has(t, "req_count 0"), "%s", t);
	cr_assert(has(t, "req_rate 0"), "%s", t);
	obs_statsagg_free(a);
}

Test(statsagg, gauges_and_deltas)
{
	struct obs_statsagg *a = obs_statsagg_new(NULL, 0);
	feed(a, "temp:20|g\ntemp:+5|g\ntemp:-2|g", 0);
	cr_assert(has(flush(a, 10000), "temp 23"), "%s", out.data);
	cr_assert(has(flush(a, 10000), "temp 23"), "gauges keep their value: %s", out.data);
	feed(a, "temp:-3|g\n", 0);
	cr_assert(has(flush(a, 10000), "temp 20"), "%s", out.data);
	feed(a, "temp:7|g\n", 0);
	cr_assert(has(flush(a, 10000), "temp 7"), "%s", out.data);
	obs_statsagg_free(a);
}

Test(statsagg, timers_percentiles)
{
	double p[] = { 50, 90, 99 };
	struct obs_statsagg *a = obs_statsagg_new(p, 3);
	char line[64];
	for (int i = 1; i <= 100; i++) {
		snprintf(line, sizeof(line), "lat:%d|ms\n", 101 - i);
		feed(a, line, 0);
	}
	feed(a, "lat:1000|ms|@0.5\n", 0);   /* counts twice, its value once */
	const char *t = flush(a, 10000);
	cr_assert(has(t, "lat_count 102"), "%s", t);
	cr_assert(has(t, "lat_sum 6050"), "%s", t);
	cr_assert(has(t, "lat_min 1"), "%s", t);
	cr_assert(has(t, "lat_max 1000"), "%s", t);
	cr_assert(has(t, "lat_mean 59.9009900990099"), "%s", t);
	/* 101 values: rank round(0.5*101)=51, round(0.9*101)=91, round(0.99*101)=100 */
	cr_assert(has(t, "lat{quantile=\"0.5\"} 51"), "%s", t);
	cr_assert(has(t, "lat{quantile=\"0.9\"} 91"), "%s", t);
	cr_assert(has(t, "lat{quantile=\"0.99\"} 100"), "%s", t);
	t = flush(a, 10000);
	cr_assert(has(t, "lat_count 0"), "%s", t);
	cr_assert_null(strstr(t, "lat_sum"), "%s", t);
	obs_statsagg_free(a);
}

Test(statsagg, histograms_and_distributions_are_timers)
{
	double p[] = { 90 };
	struct obs_statsagg *a = obs_statsagg_new(p, 1);
	feed(a, "size:10|h\nsize:30|h\ndur:5|d\n", 0);
	const char *t = flush(a, 1000);
	cr_assert(has(t, "size_count 2"), "%s", t);
	cr_assert(has(t, "size_mean 20"), "%s", t);
	cr_assert(has(t, "size{quantile=\"0.9\"} 30"), "%s", t);
	cr_assert(has(t, "dur_max 5"), "%s", t);
	obs_statsagg_free(a);
}

Test(statsagg, sets_count_distinct_members)
{
	struct obs_statsagg *a = obs_statsagg_new(NULL, 0);
	feed(a, "users:alice|s\nusers:bob|s\nusers:alice|s\n", 0);
	for (int i = 0; i < 1000; i++) {
		char l[40];
		snprintf(l, sizeof(l), "many:m%d|s\nmany:m%d|s\n", i, i);
		feed(a, l, 0);
	}
	const char *t = flush(a, 10000);
	cr_assert(has(t, "users_unique 2"), "%s", t);
	cr_assert(has(t, "many_unique 1000"), "%s", t);
	t = flush(a, 10000);
	cr_assert(has(t, "users_unique 0"), "%s", t);
	obs_statsagg_free(a);
}

Test(statsagg, dogstatsd_tags_are_labels)
{
	struct obs_statsagg *a = obs_statsagg_new(NULL, 0);
	feed(a, "api.hits:1|c|#route:/a,code:200\napi.hits:2|c|#route:/a,code:200\napi.hits:5|c|#route:/b\n", 0);
	const char *t = flush(a, 10000);
	cr_assert(has(t, "api_hits_count{code=\"200\",route=\"/a\"} 3"), "%s", t);
	cr_assert(has(t, "api_hits_count{route=\"/b\"} 5"), "%s", t);
	obs_statsagg_free(a);
}

static int nerr;
static char lasterr[128];
static void on_err(void *ctx, const char *line, size_t len, const char *why)
{
	nerr++;
	snprintf(lasterr, sizeof(lasterr), "%s", why);
}

Test(statsagg, rejected_lines_are_counted)
{
	struct obs_statsagg *a = obs_statsagg_new(NULL, 0);
	const char *d = "ok:1|c\nbroken\nx:1|zz\ny:abc|c\nz:1|c|@2\n";
	cr_assert_eq(obs_statsagg_feed(a, d, strlen(d), on_err, NULL), 4);
	cr_assert_eq(nerr, 4);
	cr_assert_str_eq(lasterr, "invalid sample rate");
	struct obs_statsagg_stats st;
	obs_statsagg_stats(a, &st);
	cr_assert_eq(st.lines, 1);
	cr_assert_eq(st.bad_lines, 4);
	cr_assert_eq(st.entries, 1);
	obs_statsagg_free(a);
}

Test(statsagg, bad_percentiles)
{
	double p[] = { 0 };
	errno = 0;
	cr_assert_null(obs_statsagg_new(p, 1));
	cr_assert_eq(errno, EINVAL);
	double q[] = { 101 };
	cr_assert_null(obs_statsagg_new(q, 1));
	obs_statsagg_free(NULL);
}
