/* test_logs_query.c — log line time/field extraction and the search language. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "logs/logline.h"
#include "logs/logquery.h"

static int64_t T(const char *s)
{
	int64_t t;
	cr_assert_eq(obs_time_parse(s, strlen(s), &t), 0, "parse %s", s);
	return t;
}

static int64_t linetime(const char *l, int64_t now)
{
	int64_t t = -1;
	cr_assert_eq(obs_logline_time(l, strlen(l), now, &t), 0, "no time in '%s'", l);
	return t;
}

Test(logline, time_forms)
{
	int64_t now = T("2026-11-21T12:00:00Z");
	cr_assert_eq(linetime("2026-11-21T10:00:00Z hello", now), T("2026-11-21T10:00:00Z"));
	cr_assert_eq(linetime("2026-11-21 10:00:00.250 hello", now), T("2026-11-21T10:00:00.250Z"));
	cr_assert_eq(linetime("2026-11-21T10:00:00.123456+02:00 x", now), T("2026-11-21T08:00:00.123Z"));
	cr_assert_eq(linetime("Nov 21 10:00:00 host sshd[1]: ok", now), T("2026-11-21T10:00:00Z"));
	cr_assert_eq(linetime("Nov  1 09:08:07 host x", now), T("2026-11-01T09:08:07Z"));
	/* a syslog date in the future belongs to last year */
	cr_assert_eq(linetime("Dec 31 23:00:00 host x", now), T("2025-12-31T23:00:00Z"));
	cr_assert_eq(linetime("1.2.3.4 - - [21/Nov/2026:04:46:16 +0000] \"GET / HTTP/1.1\" 200 1", now),
		     T("2026-11-21T04:46:16Z"));
	cr_assert_eq(linetime("1.2.3.4 - - [21/Nov/2026:06:46:16 +0200] \"GET / HTTP/1.1\" 200 1", now),
		     T("2026-11-21T04:46:16Z"));
	cr_assert_eq(linetime("{\"level\":\"info\",\"ts\":\"2026-11-21T10:00:01Z\",\"msg\":\"x\"}", now),
		     T("2026-11-21T10:00:01Z"));
	cr_assert_eq(linetime("{\"time\":1795236131.5,\"msg\":\"x\"}", now), 1795236131500LL);
	cr_assert_eq(linetime("{\"timestamp\":1795236131250}", now), 1795236131250LL);
	cr_assert_eq(linetime("level=warn ts=2026-11-21T10:00:02Z msg=hi", now), T("2026-11-21T10:00:02Z"));
	cr_assert_eq(linetime("msg=\"x y\" time=\"2026-11-21T10:00:03Z\"", now), T("2026-11-21T10:00:03Z"));
	int64_t t = 7;
	cr_assert_eq(obs_logline_time("no time here", 12, now, &t), -ENOENT);
	cr_assert_eq(obs_logline_time("{\"msg\":\"x\"}", 11, now, &t), -ENOENT);
	cr_assert_eq(obs_logline_time("2026-13-21T10:00:00Z bad month", 30, now, &t), -ENOENT);
	cr_assert_eq(t, 7);
}

struct kvs {
	char buf[1024];
};

static int kv_cb(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	struct kvs *s = ctx;
	size_t l = strlen(s->buf);
	snprintf(s->buf + l, sizeof(s->buf) - l, "%.*s=%.*s;", (int)kn, k, (int)vn, v);
	return 0;
}

static const char *fields(const char *line, enum obs_logline_fmt *fmt)
{
	static struct kvs s;
	s.buf[0] = 0;
	obs_logline_fields(line, strlen(line), kv_cb, &s, fmt);
	return s.buf;
}

Test(logline, fields)
{
	enum obs_logline_fmt f;
	cr_assert_str_eq(fields("{\"level\":\"error\",\"n\":42,\"ok\":true,\"o\":{\"a\":1},\"s\":\"a\\\"b\"}", &f),
			 "level=error;n=42;ok=true;s=a\\\"b;");
	cr_assert_eq(f, OBS_LOGLINE_JSON);
	cr_assert_str_eq(fields("level=info service=api msg=\"two words\" trace_id=4bf9", &f),
			 "level=info;service=api;msg=two words;trace_id=4bf9;");
	cr_assert_eq(f, OBS_LOGLINE_LOGFMT);
	cr_assert_str_eq(fields("1.2.3.4 - bob [21/Nov/2026:04:46:16 +0000] \"GET /a?b=1 HTTP/1.1\" 404 12 \"-\" \"curl/8\"", &f),
			 "ip=1.2.3.4;user=bob;method=GET;path=/a?b=1;proto=HTTP/1.1;status=404;bytes=12;referer=-;agent=curl/8;");
	cr_assert_eq(f, OBS_LOGLINE_NGINX);
	cr_assert_str_eq(fields("2026-11-21T10:00:00Z ERROR payment failed", &f), "level=ERROR;");
	cr_assert_eq(f, OBS_LOGLINE_PLAIN);
	cr_assert_str_eq(fields("[warn] disk almost full", &f), "level=warn;");
	cr_assert_str_eq(fields("just words Error here", &f), "");
	/* plain text with one pair: only a correlation id is a field */
	cr_assert_str_eq(fields("2026-11-21T10:00:00Z ERROR checkout failed trace_id=4bf9 ", &f),
			 "level=ERROR;trace_id=4bf9;");
	cr_assert_eq(f, OBS_LOGLINE_PLAIN);
	cr_assert_str_eq(fields("checkout failed span_id=00f0", &f), "span_id=00f0;");
	cr_assert_str_eq(fields("retry attempt=3 of 5", &f), "");
	cr_assert_str_eq(fields("2026-11-21 INFO started port=80 pid=1", &f), "port=80;pid=1;level=INFO;");
}

Test(logline, levels)
{
	cr_assert_eq(obs_loglevel_rank("DEBUG", 5), 1);
	cr_assert_eq(obs_loglevel_rank("warning", 7), 4);
	cr_assert_eq(obs_loglevel_rank("Err", 3), 5);
	cr_assert_eq(obs_loglevel_rank("fatal", 5), 6);
	cr_assert_eq(obs_loglevel_rank("E", 1), 5);
	cr_assert_eq(obs_loglevel_rank("bogus", 5), -1);
}

static int M(const char *q, const char *line)
{
	struct obs_logquery *lq;
	char err[128] = "";
	int r = obs_logquery_parse(q, strlen(q), &lq, err, sizeof(err));
	cr_assert_eq(r, 0, "parse '%s': %s", q, err);
	int m = obs_logquery_match(lq, line, strlen(line));
	obs_logquery_free(lq);
	return m;
}

static const char *J = "{\"level\":\"warn\",\"service\":\"api\",\"status\":503,\"msg\":\"upstream timeout\",\"lat\":1.5}";
static const char *N = "9.9.9.9 - - [21/Nov/2026:04:46:16 +0000] \"POST /pay HTTP/1.1\" 404 0 \"-\" \"x\"";

Test(logquery, operators)
{
	cr_assert(M("timeout", J));
	cr_assert(!M("Timeout", J));
	cr_assert(M("\"upstream timeout\"", J));
	cr_assert(M("level>=warn", J));
	cr_assert(!M("level>=error", J));
	cr_assert(M("level>info", J));
	cr_assert(M("level<error", J));
	cr_assert(M("level=WARNING", J));   /* synonyms compare by rank */
	cr_assert(M("status>=500 status<600", J));
	cr_assert(!M("status>503", J));
	cr_assert(M("lat>1", J) && M("lat<=1.5", J) && !M("lat<1.5", J));
	cr_assert(M("service=api", J) && !M("service=web", J));
	cr_assert(M("service!=web", J));
	cr_assert(M("missing!=x", J) && !M("missing=x", J) && !M("missing>1", J));
	cr_assert(M("service=~\"^a.i$\"", J) && !M("service!~\"^a\"", J));
	cr_assert(M("/up.*out/", J) && !M("/^up/", J) && M("~\"timeo+ut\"", J));
	cr_assert(M("/TIMEOUT/i", J));
	cr_assert(M("service=web or level=warn", J));
	cr_assert(M("service=web | level=warn", J));
	cr_assert(!M("service=web || level=error", J));
	cr_assert(M("!service=web", J) && M("-service=web", J) && M("not service=web", J));
	cr_assert(!M("-timeout", J));
	cr_assert(M("(service=web or timeout) level=warn", J));
	cr_assert(!M("service=web or timeout level=error", J));  /* AND binds tighter */
	cr_assert(M("level>=warn&timeout", J) && M("level>=warn && timeout", J) && M("api AND 503", J));
	cr_assert(M("*", J) && M("", J) && M("  ", J));
	cr_assert(M("status=404 method=POST", N) && M("path=/pay", N) && !M("status=200", N));
	cr_assert(M("status>=400 status<500", N));
	cr_assert(M("ip=9.9.9.9", N));
}

Test(logquery, errors)
{
	const char *bad[] = { "(a", "a)", "/unterminated", "\"open", "x=~\"(\"", "a or", "!", "status>", "a #nope", "level>>", "status=<5", NULL };
	for (int i = 0; bad[i]; i++) {
		struct obs_logquery *q = (void *)1;
		char err[128] = "";
		cr_assert_eq(obs_logquery_parse(bad[i], strlen(bad[i]), &q, err, sizeof(err)), -EINVAL, "'%s'", bad[i]);
		cr_assert(err[0], "no message for '%s'", bad[i]);
		cr_assert_eq(q, (void *)1);
	}
	char deep[400];
	memset(deep, '(', 300);
	deep[300] = 'a';
	memset(deep + 301, ')', 98);
	deep[399] = 0;
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse(deep, strlen(deep), &q, NULL, 0), -EINVAL);
}

Test(logquery, output_suffix_and_path)
{
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse("status=404#count", 16, &q, NULL, 0), 0);
	cr_assert(q->count && !q->by);
	obs_logquery_free(q);
	cr_assert_eq(obs_logquery_parse("#by=level", 9, &q, NULL, 0), 0);
	cr_assert_str_eq(q->by, "level");
	cr_assert_eq(q->root->kind, OBS_LQ_ALL);
	obs_logquery_free(q);

	char *s;
	int64_t f, t, now = 1795236000000LL;
	char err[128];
	cr_assert_eq(obs_logpath_parse("nginx@-1h?status>=500&\"time%2Fout\"", now, &s, &f, &t, &q, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(s, "nginx");
	cr_assert_eq(f, now - 3600000);
	cr_assert_eq(t, now);
	cr_assert(obs_logquery_match(q, "{\"status\":503,\"m\":\"time/out\"}", 30));
	cr_assert(!obs_logquery_match(q, "{\"status\":503,\"m\":\"timeout\"}", 29));
	free(s);
	obs_logquery_free(q);
	cr_assert_eq(obs_logpath_parse("app{env=\"a@b?\"}", now, &s, &f, &t, &q, err, sizeof(err)), 0);
	cr_assert_str_eq(s, "app{env=\"a@b?\"}");
	cr_assert_eq(f, OBS_TIME_MIN);
	cr_assert_null(q);
	free(s);
	cr_assert_eq(obs_logpath_parse("app#count", now, &s, &f, &t, &q, err, sizeof(err)), 0);
	cr_assert(q && q->count);
	free(s);
	obs_logquery_free(q);
	cr_assert_eq(obs_logpath_parse("app@bogus", now, &s, &f, &t, &q, err, sizeof(err)), -EINVAL);
	cr_assert_eq(obs_logpath_parse("app?(x", now, &s, &f, &t, &q, err, sizeof(err)), -EINVAL);
	cr_assert_eq(obs_logpath_parse("@-1h", now, &s, &f, &t, &q, err, sizeof(err)), -EINVAL);
}
