/* test_matcher.c — Prometheus label matcher parsing and PCRE2 matching. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "index/matcher.h"

static struct obs_matcher parse_ok(const char *s)
{
	struct obs_matcher m;
	const char *why = NULL;
	int rc = obs_matcher_parse(s, strlen(s), &m, &why);
	cr_assert_eq(rc, 0, "parse '%s': %d %s", s, rc, why ? why : "");
	return m;
}

static void parse_bad(const char *s)
{
	struct obs_matcher m;
	const char *why = NULL;
	int rc = obs_matcher_parse(s, strlen(s), &m, &why);
	cr_assert_eq(rc, -EINVAL, "'%s' should be rejected (rc %d)", s, rc);
	cr_assert_not_null(why, "'%s' rejected without a reason", s);
	cr_assert_null(m.name);
	cr_assert_null(m.re);
	obs_matcher_release(&m);
}

static void check(const char *s, const char *name, enum obs_match_op op, const char *value)
{
	struct obs_matcher m = parse_ok(s);
	cr_assert_str_eq(m.name, name, "'%s' name", s);
	cr_assert_eq(m.op, op, "'%s' op", s);
	cr_assert_str_eq(m.value, value, "'%s' value", s);
	cr_assert_eq(m.re != NULL, op == OBS_MATCH_RE || op == OBS_MATCH_NRE);
	obs_matcher_release(&m);
}

Test(matcher, parse_operators)
{
	check("job=api", "job", OBS_MATCH_EQ, "api");
	check("job!=api", "job", OBS_MATCH_NE, "api");
	check("job=~a.*", "job", OBS_MATCH_RE, "a.*");
	check("job!~a.*", "job", OBS_MATCH_NRE, "a.*");
	check("job=", "job", OBS_MATCH_EQ, "");
	check("job!=", "job", OBS_MATCH_NE, "");
	check("__name__=up", "__name__", OBS_MATCH_EQ, "up");
	check("  job  =~\"x|y\"  ", "job", OBS_MATCH_RE, "x|y");
	check("job = 'a b'", "job", OBS_MATCH_EQ, "a b");
	check("k=a=b", "k", OBS_MATCH_EQ, "a=b");      /* value is the rest */
	check("k==", "k", OBS_MATCH_EQ, "=");
	check("k=~=x", "k", OBS_MATCH_RE, "=x");
}

Test(matcher, parse_bare_metric_name)
{
	check("up", "__name__", OBS_MATCH_EQ, "up");
	check("node:cpu:rate5m", "__name__", OBS_MATCH_EQ, "node:cpu:rate5m");
	check(" up ", "__name__", OBS_MATCH_EQ, "up");
}

Test(matcher, parse_quoted_escapes)
{
	check("k=\"a\\\"b\"", "k", OBS_MATCH_EQ, "a\"b");
	check("k=\"a\\\\b\"", "k", OBS_MATCH_EQ, "a\\b");
	check("k=\"a\\nb\"", "k", OBS_MATCH_EQ, "a\nb");
	check("k=\"\"", "k", OBS_MATCH_EQ, "");
	check("k=~\"\\d+\"", "k", OBS_MATCH_RE, "\\d+");      /* unknown escape kept */
	check("k=~\"a\\\\.b\"", "k", OBS_MATCH_RE, "a\\.b");
	check("k='it\\'s'", "k", OBS_MATCH_EQ, "it's");
}

Test(matcher, parse_errors)
{
	parse_bad("");
	parse_bad("   ");
	parse_bad("=x");
	parse_bad("!=x");
	parse_bad("1a=b");
	parse_bad("a:b=c");           /* ':' only in metric names */
	parse_bad("1up");             /* bare but not a metric name */
	parse_bad("k~x");
	parse_bad("k!x");
	parse_bad("k<x");
	parse_bad("k=\"abc");
	parse_bad("k=\"abc\\\"");
	parse_bad("k=\"a\"b");
	parse_bad("k=~(");
	parse_bad("k=~a)|(b");
	parse_bad("k!~[a");
	parse_bad("k=~*");
	parse_bad("k=~\xff");
	parse_bad("k{a=\"b\"}");
	struct obs_matcher m;
	const char *why = NULL;
	cr_assert_eq(obs_matcher_parse("k=a\0b", 5, &m, &why), -EINVAL);
	cr_assert_eq(obs_matcher_parse(NULL, 0, &m, &why), -EINVAL);   /* empty buffer */
	cr_assert_eq(obs_matcher_parse("k=ab", 3, &m, &why), 0);   /* length honoured */
	cr_assert_str_eq(m.value, "a");
	obs_matcher_release(&m);
}

Test(matcher, init_direct)
{
	struct obs_matcher m;
	const char *why = NULL;
	cr_assert_eq(obs_matcher_init(&m, "job", OBS_MATCH_RE, "a|b", &why), 0);
	cr_assert(obs_matcher_match(&m, "a"));
	cr_assert(!obs_matcher_match(&m, "c"));
	obs_matcher_release(&m);
	obs_matcher_release(&m);   /* released is zeroed: safe again */
	cr_assert_eq(obs_matcher_init(&m, "", OBS_MATCH_EQ, "x", &why), -EINVAL);
	cr_assert_eq(obs_matcher_init(&m, "a-b", OBS_MATCH_EQ, "x", &why), -EINVAL);
	why = NULL;
	cr_assert_eq(obs_matcher_init(&m, "k", OBS_MATCH_NRE, "(", &why), -EINVAL);
	cr_assert_str_eq(why, "missing closing parenthesis");
	cr_assert_eq(obs_matcher_init(&m, "k", (enum obs_match_op)9, "x", &why), -EINVAL);
}

static int mt(const char *s, const char *v)
{
	struct obs_matcher m = parse_ok(s);
	int r = obs_matcher_match(&m, v);
	obs_matcher_release(&m);
	return r;
}

Test(matcher, match_operators)
{
	cr_assert(mt("k=a", "a"));
	cr_assert(!mt("k=a", "b"));
	cr_assert(!mt("k=a", ""));
	cr_assert(mt("k!=a", "b"));
	cr_assert(mt("k!=a", ""));
	cr_assert(!mt("k!=a", "a"));
	cr_assert(mt("k=~a|b", "b"));
	cr_assert(!mt("k=~a|b", "c"));
	cr_assert(mt("k!~a|b", "c"));
	cr_assert(!mt("k!~a|b", "a"));
	cr_assert(mt("k=~[0-9]+", "200"));
	cr_assert(!mt("k=~[0-9]+", "20x"));
	cr_assert(mt("k=~\"\\\\d{3}\"", "404"));
}

Test(matcher, regex_is_fully_anchored)
{
	cr_assert(!mt("k=~a", "ab"));
	cr_assert(!mt("k=~a", "ba"));
	cr_assert(!mt("k=~a", "a\n"));       /* no $-before-newline leak */
	cr_assert(mt("k=~a|ab", "ab"));      /* end anchor backtracks into alternation */
	cr_assert(mt("k=~ab|a", "a"));
	cr_assert(!mt("k=~b.*", "abc"));
	cr_assert(mt("k=~.*b.*", "abc"));
	cr_assert(!mt("k!~a", "a"));
	cr_assert(mt("k!~a", "ab"));
}

Test(matcher, dot_matches_newline_and_utf8)
{
	cr_assert(mt("k=~a.b", "a\nb"));
	cr_assert(mt("k=~.*", "x\ny"));
	cr_assert(mt("k=~a.c", "a\xc3\xa9" "c"));          /* one code point */
	cr_assert(!mt("k=~a..c", "a\xc3\xa9" "c"));
	cr_assert(mt("k=~\xc3\xa9+", "\xc3\xa9\xc3\xa9"));
	/* invalid UTF-8 subject: no error, just a decision */
	int r = mt("k=~a.*", "a\xff");
	cr_assert(r == 0 || r == 1);
	cr_assert(mt("k!=\xff", "x"));
}

Test(matcher, matches_empty)
{
	struct { const char *s; int empty; } c[] = {
		{ "k=", 1 }, { "k=x", 0 }, { "k!=", 0 }, { "k!=x", 1 },
		{ "k=~.*", 1 }, { "k=~.+", 0 }, { "k=~x|", 1 }, { "k=~x?", 1 },
		{ "k=~x", 0 }, { "k!~x", 1 }, { "k!~.*", 0 }, { "k!~.+", 1 },
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct obs_matcher m = parse_ok(c[i].s);
		cr_assert_eq(obs_matcher_matches_empty(&m), c[i].empty, "%s", c[i].s);
		cr_assert_eq(obs_matcher_match(&m, ""), c[i].empty, "%s", c[i].s);
		cr_assert_eq(obs_matcher_match(&m, NULL), c[i].empty, "%s NULL", c[i].s);
		obs_matcher_release(&m);
	}
}

Test(matcher, catastrophic_backtracking_is_bounded, .timeout = 20)
{
	struct obs_matcher m = parse_ok("k=~(a+)+b");
	char s[64];
	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = 0;
	cr_assert(!obs_matcher_match(&m, s));
	s[sizeof(s) - 2] = 'b';
	cr_assert(obs_matcher_match(&m, s));
	obs_matcher_release(&m);
}

static struct obs_matcher shared_m;
static void *match_worker(void *arg)
{
	long bad = 0;
	char v[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(v, sizeof(v), "host-%d", i);
		int want = (i % 10) == 7;   /* regex: host-[0-9]*7 */
		if (obs_matcher_match(&shared_m, v) != want)
			bad++;
	}
	return (void *)bad;
}

Test(matcher, concurrent_match_on_one_matcher)
{
	shared_m = parse_ok("instance=~\"host-[0-9]*7\"");
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, match_worker, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(th[i], &r);
		cr_assert_eq((long)r, 0, "thread %d saw %ld wrong answers", i, (long)r);
	}
	obs_matcher_release(&shared_m);
}
