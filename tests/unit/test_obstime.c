/* test_obstime.c — time points, durations, ranges: parse, format, round-trip. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/obstime.h"

static int64_t tp(const char *s)
{
	int64_t v = 12345;
	int rc = obs_time_parse(s, strlen(s), &v);
	cr_assert_eq(rc, 0, "obs_time_parse('%s') failed: %d", s, rc);
	return v;
}

static void tp_bad(const char *s)
{
	int64_t v = 777;
	cr_assert_eq(obs_time_parse(s, strlen(s), &v), -EINVAL, "'%s' should not parse", s);
	cr_assert_eq(v, 777, "'%s' modified *out on failure", s);
}

static int64_t dp(const char *s)
{
	int64_t v = 0;
	int rc = obs_duration_parse(s, strlen(s), &v);
	cr_assert_eq(rc, 0, "obs_duration_parse('%s') failed: %d", s, rc);
	return v;
}

static void dp_bad(const char *s)
{
	int64_t v = 777;
	cr_assert_eq(obs_duration_parse(s, strlen(s), &v), -EINVAL, "'%s' should not parse", s);
	cr_assert_eq(v, 777);
}

/* Reference conversion through libc, independent of the code under test. */
static int64_t ref_utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };
	return (int64_t)timegm(&tm) * 1000;
}

Test(obstime, rfc3339_basic)
{
	cr_assert_eq(tp("1970-01-01T00:00:00Z"), 0);
	cr_assert_eq(tp("2026-11-21T10:00:00Z"), ref_utc(2026, 11, 21, 10, 0, 0));
	cr_assert_eq(tp("2026-11-21T10:00:00.643Z"), ref_utc(2026, 11, 21, 10, 0, 0) + 643);
	cr_assert_eq(tp("2026-11-21T10:00:00.6Z"), ref_utc(2026, 11, 21, 10, 0, 0) + 600);
	cr_assert_eq(tp("2026-11-21T10:00:00.123456789Z"), ref_utc(2026, 11, 21, 10, 0, 0) + 123);
	cr_assert_eq(tp("2026-11-21T10:00:00.1235Z"), ref_utc(2026, 11, 21, 10, 0, 0) + 124);
	cr_assert_eq(tp("2026-11-21 10:00:00Z"), ref_utc(2026, 11, 21, 10, 0, 0));
	cr_assert_eq(tp("2026-11-21t10:00:00z"), ref_utc(2026, 11, 21, 10, 0, 0));
	cr_assert_eq(tp("2026-11-21"), ref_utc(2026, 11, 21, 0, 0, 0));
	cr_assert_eq(tp("2026-11-21T10:00"), ref_utc(2026, 11, 21, 10, 0, 0));
	cr_assert_eq(tp("1969-12-31T23:59:59.999Z"), -1);
	cr_assert_eq(tp("2024-02-29T12:00:00Z"), ref_utc(2024, 2, 29, 12, 0, 0));
	cr_assert_eq(tp("2000-02-29T00:00:00Z"), ref_utc(2000, 2, 29, 0, 0, 0));
}

Test(obstime, rfc3339_offsets)
{
	int64_t z = tp("2026-11-21T10:00:00Z");
	cr_assert_eq(tp("2026-11-21T12:00:00+02:00"), z);
	cr_assert_eq(tp("2026-11-21T05:30:00-04:30"), z);
	cr_assert_eq(tp("2026-11-21T12:00:00+0200"), z);
	cr_assert_eq(tp("2026-11-21T10:00:00+00:00"), z);
	/* crossing midnight and a year boundary */
	cr_assert_eq(tp("2027-01-01T01:00:00+02:00"), ref_utc(2026, 12, 31, 23, 0, 0));
}

Test(obstime, rfc3339_rejects)
{
	tp_bad("2026-13-01T00:00:00Z");
	tp_bad("2026-02-29T00:00:00Z"); /* not a leap year */
	tp_bad("1900-02-29");
	tp_bad("2026-11-31");
	tp_bad("2026-11-00");
	tp_bad("2026-11-21T24:00:00Z");
	tp_bad("2026-11-21T10:60:00Z");
	tp_bad("2026-11-21T10:00:00.Z");
	tp_bad("2026-11-21T10:00:00Zx");
	tp_bad("2026-11-21T10:00:00+2:00");
	tp_bad("2026-11-21T10:00:00+02:60");
	tp_bad("2026-11-21X10:00:00Z");
	tp_bad("2026-1-21");
	tp_bad("2026-11-21T1:00:00Z");
	tp_bad("2026-11-2a");
}

Test(obstime, epoch)
{
	cr_assert_eq(tp("0"), 0);
	cr_assert_eq(tp("1795236131"), 1795236131000LL);
	cr_assert_eq(tp("1795236131.643"), 1795236131643LL);
	cr_assert_eq(tp("1795236131.5"), 1795236131500LL);
	cr_assert_eq(tp("1795236131.6435"), 1795236131644LL);
	cr_assert_eq(tp("1795236131.6434"), 1795236131643LL);
	cr_assert_eq(tp("1795236131.9999"), 1795236132000LL);
	cr_assert_eq(tp("1795236131."), 1795236131000LL);
	cr_assert_eq(tp(".5"), 500);
	cr_assert_eq(tp("-1.5"), -1500);
	/* 13+ digit integers are milliseconds */
	cr_assert_eq(tp("1795236131643"), 1795236131643LL);
	cr_assert_eq(tp("99999999999"), 99999999999000LL);
	tp_bad("");
	tp_bad("-");
	tp_bad(".");
	tp_bad("12a");
	tp_bad("1e9");
	tp_bad(" 12");
	tp_bad("12 ");
	tp_bad("1.2.3");
	/* too big: out of range, not a syntax error */
	cr_assert_eq(obs_time_parse("99999999999999999999999", 23, &(int64_t){0}), -ERANGE);
	cr_assert_eq(obs_time_parse("9999999999999999.5", 18, &(int64_t){0}), -ERANGE);
}

Test(obstime, parse_inside_a_line)
{
	const char *line = "1795236131.643 42";
	int64_t v;
	cr_assert_eq(obs_time_parse(line, 14, &v), 0);
	cr_assert_eq(v, 1795236131643LL);
	const char *l2 = "2026-11-21T10:00:00Z 1";
	cr_assert_eq(obs_time_parse(l2, 20, &v), 0);
	cr_assert_eq(v, tp("2026-11-21T10:00:00Z"));
}

Test(obstime, format_rfc3339)
{
	char buf[32];
	cr_assert_eq(obs_time_format(0, OBS_TIME_RFC3339, buf), 24);
	cr_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
	obs_time_format(ref_utc(2026, 11, 21, 10, 0, 0) + 643, OBS_TIME_RFC3339, buf);
	cr_assert_str_eq(buf, "2026-11-21T10:00:00.643Z");
	obs_time_format(-1, OBS_TIME_RFC3339, buf);
	cr_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
	obs_time_format(ref_utc(2024, 2, 29, 23, 59, 59) + 7, OBS_TIME_RFC3339, buf);
	cr_assert_str_eq(buf, "2024-02-29T23:59:59.007Z");
}

Test(obstime, format_epoch)
{
	char buf[32];
	cr_assert_eq(obs_time_format(1795236131643LL, OBS_TIME_EPOCH, buf), 14);
	cr_assert_str_eq(buf, "1795236131.643");
	obs_time_format(1795236131000LL, OBS_TIME_EPOCH, buf);
	cr_assert_str_eq(buf, "1795236131");
	obs_time_format(1795236131500LL, OBS_TIME_EPOCH, buf);
	cr_assert_str_eq(buf, "1795236131.5");
	obs_time_format(1795236131050LL, OBS_TIME_EPOCH, buf);
	cr_assert_str_eq(buf, "1795236131.05");
	obs_time_format(-1500, OBS_TIME_EPOCH, buf);
	cr_assert_str_eq(buf, "-1.5");
	obs_time_format(0, OBS_TIME_EPOCH, buf);
	cr_assert_str_eq(buf, "0");
}

/* Every ms step over a few days around leap days and the epoch, and a
 * pseudo-random walk over 0000..9999, must round-trip in both formats, and the
 * RFC3339 text must agree with libc's gmtime. */
Test(obstime, round_trip)
{
	char buf[32];
	int64_t starts[] = { -86400000LL * 3, ref_utc(2024, 2, 27, 0, 0, 0),
			     ref_utc(2100, 2, 27, 0, 0, 0), ref_utc(1999, 12, 30, 0, 0, 0) };
	for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
		for (int64_t t = starts[k]; t < starts[k] + 4 * 86400000LL; t += 3600007) {
			int64_t back;
			int n = obs_time_format(t, OBS_TIME_RFC3339, buf);
			cr_assert_eq(obs_time_parse(buf, (size_t)n, &back), 0, "%s", buf);
			cr_assert_eq(back, t, "%s", buf);
			n = obs_time_format(t, OBS_TIME_EPOCH, buf);
			cr_assert_eq(obs_time_parse(buf, (size_t)n, &back), 0, "%s", buf);
			cr_assert_eq(back, t, "%s", buf);
		}
	}
	uint64_t x = 88172645463325252ULL;
	int64_t lo = ref_utc(1, 1, 1, 0, 0, 0), hi = ref_utc(9999, 12, 31, 0, 0, 0);
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t t = lo + (int64_t)(x % (uint64_t)(hi - lo));
		int64_t back;
		int n = obs_time_format(t, OBS_TIME_RFC3339, buf);
		cr_assert_eq(obs_time_parse(buf, (size_t)n, &back), 0, "%s", buf);
		cr_assert_eq(back, t, "%s", buf);
		time_t secs = (time_t)((t - ((t % 1000 + 1000) % 1000)) / 1000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		char ref[64];
		snprintf(ref, sizeof ref, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		cr_assert(strncmp(buf, ref, 19) == 0, "%s vs libc %s", buf, ref);
	}
}

Test(obstime, durations)
{
	cr_assert_eq(dp("500ms"), 500);
	cr_assert_eq(dp("10s"), 10000);
	cr_assert_eq(dp("5m"), 300000);
	cr_assert_eq(dp("1h"), 3600000);
	cr_assert_eq(dp("2d"), 2 * 86400000LL);
	cr_assert_eq(dp("1w"), 7 * 86400000LL);
	cr_assert_eq(dp("1y"), 365 * 86400000LL);
	cr_assert_eq(dp("1h30m"), 5400000);
	cr_assert_eq(dp("1d2h3m4s5ms"), 86400000LL + 2 * 3600000 + 3 * 60000 + 4000 + 5);
	cr_assert_eq(dp("90"), 90000);
	cr_assert_eq(dp("1.5"), 1500);
	cr_assert_eq(dp("1.5m"), 90000);
	cr_assert_eq(dp("0.0005"), 1); /* rounds half up to a millisecond */
	cr_assert_eq(dp("0"), 0);
	dp_bad("");
	dp_bad("0s");
	dp_bad("0.0001");
	dp_bad("5x");
	dp_bad("m");
	dp_bad("1h1h");
	dp_bad("30m1h"); /* units must descend */
	dp_bad("1h30");
	dp_bad("-5m");
	dp_bad("5 m");
	dp_bad("1.");
	dp_bad("99999999999999999y");
}

Test(obstime, duration_format)
{
	char buf[32];
	int64_t cases[] = { 1, 250, 1000, 5400000, 86400000LL * 9 + 1, 365 * 86400000LL + 61000,
			    3600000, 90061001 };
	const char *want[] = { "1ms", "250ms", "1s", "1h30m", "1w2d1ms", "1y1m1s", "1h",
			       "1d1h1m1s1ms" };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = obs_duration_format(cases[i], buf);
		cr_assert_str_eq(buf, want[i]);
		cr_assert_eq((size_t)n, strlen(want[i]));
		int64_t back;
		cr_assert_eq(obs_duration_parse(buf, (size_t)n, &back), 0);
		cr_assert_eq(back, cases[i]);
	}
	obs_duration_format(0, buf);
	cr_assert_str_eq(buf, "0");   /* what obs_duration_parse reads back */
	obs_duration_format(-90000, buf);
	cr_assert_str_eq(buf, "-1m30s");
}

Test(obstime, relative)
{
	int64_t now = 1795236131643LL, v;
	cr_assert_eq(obs_time_parse_rel("now", 3, now, &v), 0);
	cr_assert_eq(v, now);
	cr_assert_eq(obs_time_parse_rel("-1h", 3, now, &v), 0);
	cr_assert_eq(v, now - 3600000);
	cr_assert_eq(obs_time_parse_rel("now-5m", 6, now, &v), 0);
	cr_assert_eq(v, now - 300000);
	cr_assert_eq(obs_time_parse_rel("+10s", 4, now, &v), 0);
	cr_assert_eq(v, now + 10000);
	cr_assert_eq(obs_time_parse_rel("2026-11-21", 10, now, &v), 0);
	cr_assert_eq(v, tp("2026-11-21T00:00:00Z"));
	v = 5;
	cr_assert_eq(obs_time_parse_rel("nowish", 6, now, &v), -EINVAL);
	cr_assert_eq(obs_time_parse_rel("-", 1, now, &v), -EINVAL);
	cr_assert_eq(obs_time_parse_rel("-1x", 3, now, &v), -EINVAL);
	cr_assert_eq(v, 5);
}

Test(obstime, ranges)
{
	int64_t now = 1795236131643LL, a = 1, b = 2;
	cr_assert_eq(obs_range_parse("-1h", 3, now, &a, &b), 0);
	cr_assert_eq(a, now - 3600000);
	cr_assert_eq(b, now);
	const char *r = "2026-11-21T10:00:00Z..2026-11-21T11:00:00Z";
	cr_assert_eq(obs_range_parse(r, strlen(r), now, &a, &b), 0);
	cr_assert_eq(a, tp("2026-11-21T10:00:00Z"));
	cr_assert_eq(b, tp("2026-11-21T11:00:00Z"));
	cr_assert_eq(obs_range_parse("-2h..-1h", 8, now, &a, &b), 0);
	cr_assert_eq(a, now - 7200000);
	cr_assert_eq(b, now - 3600000);
	cr_assert_eq(obs_range_parse("-2h..", 5, now, &a, &b), 0);
	cr_assert_eq(b, now);
	cr_assert_eq(obs_range_parse("..-1h", 5, now, &a, &b), 0);
	cr_assert_eq(a, OBS_TIME_MIN);
	cr_assert_eq(b, now - 3600000);
	cr_assert_eq(obs_range_parse("1795236000.5..1795236100", 24, now, &a, &b), 0);
	cr_assert_eq(a, 1795236000500LL);
	cr_assert_eq(b, 1795236100000LL);
	a = b = 9;
	cr_assert_eq(obs_range_parse("..", 2, now, &a, &b), -EINVAL);
	cr_assert_eq(obs_range_parse("-1h..-2h", 8, now, &a, &b), -EINVAL); /* reversed */
	cr_assert_eq(obs_range_parse("x..-2h", 6, now, &a, &b), -EINVAL);
	cr_assert_eq(obs_range_parse("", 0, now, &a, &b), -EINVAL);
	cr_assert_eq(a, 9);
	cr_assert_eq(b, 9);
}

Test(obstime, now_is_sane)
{
	int64_t a = obs_time_now();
	cr_assert_gt(a, tp("2020-01-01"));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ref = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	cr_assert(ref - a >= 0 && ref - a < 5000);
}

/* Sample times are years 0000..9999 (OBS_TIME_VALID_MIN..MAX): the rest is
 * -ERANGE, INT64_MIN and INT64_MAX included; relative times saturate. */
Test(obstime, valid_range)
{
	int64_t v = 777, from, to;

	cr_assert_eq(OBS_TIME_VALID_MIN, tp("0000-01-01T00:00:00Z"));
	cr_assert_eq(OBS_TIME_VALID_MAX, tp("9999-12-31T23:59:59.999Z"));
	cr_assert_eq(tp("253402300799999"), OBS_TIME_VALID_MAX);
	cr_assert_eq(tp("-62167219200000"), OBS_TIME_VALID_MIN);
	static const char *out[] = {
		"9223372036854775807", "-9223372036854775808", "-9223372036854775807",
		"253402300800000", "-62167219200001", "999999999999", "253402300800", "-62167219201",
	};
	for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
		cr_assert_eq(obs_time_parse(out[i], strlen(out[i]), &v), -ERANGE, "%s", out[i]);
		cr_assert_eq(v, 777);
	}
	/* a relative time beyond the ends saturates instead of overflowing */
	cr_assert_eq(obs_time_parse_rel("-10000y", 7, 0, &v), 0);
	cr_assert_eq(v, OBS_TIME_VALID_MIN);
	cr_assert_eq(obs_time_parse_rel("+10000y", 7, 0, &v), 0);
	cr_assert_eq(v, OBS_TIME_VALID_MAX);
	cr_assert_eq(obs_time_parse_rel("-10000y", 7, INT64_MIN, &v), 0);
	cr_assert_eq(v, OBS_TIME_VALID_MIN);
	cr_assert_eq(obs_range_parse("-10000y", 7, 1000, &from, &to), 0);
	cr_assert_eq(from, OBS_TIME_VALID_MIN);
	cr_assert_eq(to, 1000);
	cr_assert_eq(obs_range_parse("9223372036854775807..", 21, 1000, &from, &to), -EINVAL);
	char buf[40];
	obs_time_format(OBS_TIME_VALID_MAX, OBS_TIME_RFC3339, buf);
	cr_assert_str_eq(buf, "9999-12-31T23:59:59.999Z");
	obs_time_format(OBS_TIME_VALID_MIN, OBS_TIME_RFC3339, buf);
	cr_assert_str_eq(buf, "0000-01-01T00:00:00.000Z");
}
