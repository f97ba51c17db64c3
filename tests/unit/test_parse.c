/* test_parse.c — metric line parsers: Prometheus/OpenMetrics, Influx,
 * Graphite, StatsD, per-line format detection, every error reason, escapes,
 * UTF-8 checks, timestamps, line numbers; the "TIME VALUE" series line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "ingest/parse.h"

#define MAXS 64

struct got_sample {
	enum obs_fmt fmt;
	char key[8192];
	size_t keylen;
	char name[256];
	char labels[1024]; /* "k=v;k2=v2;" with "!" after the value when escaped */
	int nlabels;
	long long ts;
	double value;
	int exemplar;
	char ex[256];      /* labels as written, " VALUE TS", or the reason */
	char canon[1024];  /* obs_labels_build + format, or the error reason */
};

struct got_error {
	size_t lineno;
	char line[256];
	const char *why;
};

struct got {
	struct got_sample s[MAXS];
	int ns;
	struct got_error e[MAXS];
	int ne;
	char meta[8][256];
	int nmeta;
	int stop_at;
};

static int on_sample(void *ctx, const struct obs_sample_in *in)
{
	struct got *g = ctx;
	struct got_sample *s = &g->s[g->ns++];
	struct obs_labels l;
	struct obs_buf b;
	const char *why = NULL;
	size_t o = 0;

	cr_assert_leq(g->ns, MAXS);
	s->fmt = in->fmt;
	cr_assert_lt(in->keylen, sizeof(s->key));
	memcpy(s->key, in->key, in->keylen);
	s->keylen = in->keylen;
	snprintf(s->name, sizeof(s->name), "%.*s", (int)in->namelen, in->name);
	s->labels[0] = 0;
	for (int i = 0; i < in->nlabels; i++)
		o += (size_t)snprintf(s->labels + o, sizeof(s->labels) - o, "%.*s=%.*s%s;",
				      (int)in->labels[i].nlen, in->labels[i].name,
				      (int)in->labels[i].vlen, in->labels[i].value,
				      in->labels[i].escaped ? "!" : "");
	s->nlabels = in->nlabels;
	s->ts = in->ts_ms;
	s->value = in->value;
	s->exemplar = in->exemplar;
	if (in->exemplar > 0)
		snprintf(s->ex, sizeof(s->ex), "%.*s %.17g %lld", (int)in->ex_labelslen, in->ex_labels, in->ex_value,
			 (long long)in->ex_ts);
	else if (in->exemplar < 0)
		snprintf(s->ex, sizeof(s->ex), "%s", in->ex_why);
	obs_labels_init(&l);
	obs_buf_init(&b);
	if (obs_labels_build(&l, in->name, in->namelen, in->labels, in->nlabels, &why) == 0) {
		obs_labels_format(&l, &b);
		snprintf(s->canon, sizeof(s->canon), "%s", b.data ? b.data : "");
	} else {
		snprintf(s->canon, sizeof(s->canon), "ERROR %s", why ? why : "?");
	}
	obs_buf_release(&b);
	obs_labels_release(&l);
	if (g->stop_at && g->ns == g->stop_at)
		return 7;
	return 0;
}

static void on_error(void *ctx, size_t lineno, const char *line, size_t len, const char *why)
{
	struct got *g = ctx;
	struct got_error *e = &g->e[g->ne++];

	cr_assert_leq(g->ne, MAXS);
	e->lineno = lineno;
	snprintf(e->line, sizeof(e->line), "%.*s", (int)len, line);
	e->why = why;
}

static void on_meta(void *ctx, const char *kind, const char *name, size_t nlen, const char *text,
		    size_t tlen)
{
	struct got *g = ctx;

	snprintf(g->meta[g->nmeta++], sizeof(g->meta[0]), "%s|%.*s|%.*s", kind, (int)nlen, name,
		 (int)tlen, text);
}

static struct got G;

static long run(const char *text, enum obs_fmt fmt)
{
	struct obs_parse_cb cb = { on_sample, on_meta, on_error, &G };
	int stop = G.stop_at;

	memset(&G, 0, sizeof(G));
	G.stop_at = stop;
	return obs_parse_lines(text, strlen(text), fmt, 1, &cb);
}

static void reset(void) { memset(&G, 0, sizeof(G)); }

TestSuite(parse, .init = reset);

/* ---- Prometheus / OpenMetrics ------------------------------------------- */

Test(parse, prom_dataset_line)
{
	const char *line = "go_gc_duration_seconds{instance=\"127.0.0.1:9090\",job=\"prometheus\","
			   "quantile=\"0\"} 1.9129e-05 1795236131643\n";

	cr_assert_eq(run(line, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 1);
	cr_assert_eq(G.s[0].fmt, OBS_FMT_PROM);
	cr_assert_str_eq(G.s[0].name, "go_gc_duration_seconds");
	cr_assert_str_eq(G.s[0].labels, "instance=127.0.0.1:9090;job=prometheus;quantile=0;");
	cr_assert_eq(G.s[0].value, 1.9129e-05);
	cr_assert_eq(G.s[0].ts, 1795236131643LL);
	cr_assert_eq(G.s[0].keylen, (size_t)(strchr(line, ' ') - line));
	cr_assert_eq(memcmp(G.s[0].key, line, G.s[0].keylen), 0);
	cr_assert_str_eq(G.s[0].canon, "go_gc_duration_seconds{instance=\"127.0.0.1:9090\","
				       "job=\"prometheus\",quantile=\"0\"}");
}

Test(parse, prom_forms)
{
	const char *text =
		"up 1\n"
		"  spaced_out { a = \"x\" , b=\"y\", } \t 2.5   17  \r\n"
		"no_labels{} -3\n"
		"rule:rate5m{a=\"x|y\"} 4 1000\n"
		"job:up 5\n"
		"nan_v NaN\n"
		"inf_v +Inf\n"
		"ninf_v -inf";
	cr_assert_eq(run(text, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 8);
	cr_assert_str_eq(G.s[0].name, "up");
	cr_assert_eq(G.s[0].nlabels, 0);
	cr_assert_eq(G.s[0].ts, OBS_TS_NONE);
	cr_assert_eq(G.s[0].value, 1);
	cr_assert_str_eq(G.s[0].key, "up");
	cr_assert_str_eq(G.s[1].name, "spaced_out");
	cr_assert_str_eq(G.s[1].labels, "a=x;b=y;");
	cr_assert_eq(G.s[1].value, 2.5);
	cr_assert_eq(G.s[1].ts, 17);
	cr_assert_str_eq(G.s[1].canon, "spaced_out{a=\"x\",b=\"y\"}");
	cr_assert_str_eq(G.s[2].name, "no_labels");
	cr_assert_eq(G.s[2].value, -3);
	cr_assert_str_eq(G.s[3].name, "rule:rate5m");
	cr_assert_eq(G.s[3].fmt, OBS_FMT_PROM);
	cr_assert_str_eq(G.s[3].labels, "a=x|y;");
	cr_assert_eq(G.s[3].ts, 1000);
	cr_assert_str_eq(G.s[4].name, "job:up");
	cr_assert_eq(G.s[4].fmt, OBS_FMT_PROM);
	cr_assert(isnan(G.s[5].value));
	cr_assert(isinf(G.s[6].value) && G.s[6].value > 0);
	cr_assert(isinf(G.s[7].value) && G.s[7].value < 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(G.s[i].fmt, OBS_FMT_PROM);
}

Test(parse, prom_escapes_decoded_by_labels_build)
{
	cr_assert_eq(run("m{x=\"q\\\"uo\\\\te\\n\",y=\"plain\"} 1\n", OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 1);
	cr_assert_str_eq(G.s[0].labels, "x=q\\\"uo\\\\te\\n!;y=plain;");
	/* canonical text re-escapes the decoded value the same way */
	cr_assert_str_eq(G.s[0].canon, "m{x=\"q\\\"uo\\\\te\\n\",y=\"plain\"}");
}

Test(parse, openmetrics_timestamps_and_exemplars)
{
	const char *text =
		"a_total 5 1700000000.123\n"
		"b_total 6 # {trace_id=\"abc\"} 1 1700000000.5\n"
		"c_total 7 1700000000.5 # {trace_id=\"abc\"} 1\n"
		"d 8 1.7e9\n"
		"e 9 -1500\n"
		"f 10 1.5e3\n"
		"# EOF\n";
	cr_assert_eq(run(text, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 6);
	cr_assert_eq(G.s[0].ts, 1700000000123LL);
	cr_assert_eq(G.s[1].ts, OBS_TS_NONE);
	cr_assert_eq(G.s[1].value, 6);
	cr_assert_eq(G.s[2].ts, 1700000000500LL);
	cr_assert_eq(G.s[3].ts, 1700000000000LL);
	/* the write is OpenMetrics (# EOF, exemplars): integer times are seconds */
	cr_assert_eq(G.s[4].ts, -1500000);
	cr_assert_eq(G.s[5].ts, 1500000);
	cr_assert_eq(G.s[1].exemplar, 1);
	cr_assert_eq(G.s[2].exemplar, 1);
	cr_assert_eq(G.s[0].exemplar, 0);
}

/* An exemplar is handed out with its sample; a bad one is flagged with its
 * reason and the sample kept (as Prometheus does). */
Test(parse, exemplars_kept_and_bad_ones_flagged)
{
	char long_ok[300], long_bad[300];
	/* 8 name characters + 120 value characters (an escape and a 2-byte
	 * character count one each) = 128: the limit; one more is refused */
	snprintf(long_ok, sizeof long_ok, "m 1 # {trace_id=\"\\\"\xc3\xa9%0118d\"} 1\n", 0);
	snprintf(long_bad, sizeof long_bad, "m 1 # {trace_id=\"\\\"\xc3\xa9%0119d\"} 1\n", 0);
	static const struct { const char *line, *ex; int kind; } cases[] = {
		{ "m 1 # { a = \"b\" , c=\"d\" } 0.47 1700000000.5", "{ a = \"b\" , c=\"d\" } 0.46999999999999997 1700000000500", 1 },
		{ "m 1 1700000000 # {trace_id=\"x\"} 2", "{trace_id=\"x\"} 2 -9223372036854775808", 1 },
		{ "m 1 # {} 3 17", "{} 3 17000", 1 },
		{ "m 1 # {a=\"b\"}", "invalid exemplar value", -1 },
		{ "m 1 # {a=\"b\"} x", "invalid exemplar value", -1 },
		{ "m 1 # {a=b} 1", "invalid exemplar: expected '\"' before label value", -1 },
		{ "m 1 # {1a=\"b\"} 1", "invalid exemplar label name", -1 },
		{ "m 1 # {a=\"b\" 1", "invalid exemplar: expected ',' or '}' after label value", -1 },
		{ "m 1 # {a=\"b\"} 1 now", "invalid exemplar timestamp", -1 },
		{ "m 1 # {a=\"b\"} 1 1e30", "exemplar timestamp out of range", -1 },
		{ "m 1 1 # {a=\"b\"} 1 2 3", "invalid exemplar: unexpected text after its timestamp", -1 },
		{ "m 1 # {a=\"\xff\"} 1", "invalid exemplar label value", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(run(cases[i].line, OBS_FMT_AUTO), 0, "'%s' rejected", cases[i].line);
		cr_assert_eq(G.ns, 1, "'%s'", cases[i].line);
		cr_assert_eq(G.s[0].value, 1, "'%s': the sample is kept", cases[i].line);
		cr_assert_eq(G.s[0].exemplar, cases[i].kind, "'%s'", cases[i].line);
		cr_assert_str_eq(G.s[0].ex, cases[i].ex, "'%s'", cases[i].line);
	}
	cr_assert_eq(run(long_ok, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.s[0].exemplar, 1, "%s", G.s[0].ex);
	cr_assert_eq(run(long_bad, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.s[0].exemplar, -1);
	cr_assert_str_eq(G.s[0].ex, "exemplar labels longer than 128 characters");
	/* an invalid exemplar does not make a write OpenMetrics: 17 stays ms */
	cr_assert_eq(run("m 1 17 # {a=b} 1\n", OBS_FMT_AUTO), 0);
	cr_assert_eq(G.s[0].ts, 17);
	cr_assert_eq(run("m 1 17 # {a=\"b\"} 1\n", OBS_FMT_AUTO), 0);
	cr_assert_eq(G.s[0].ts, 17000);
}

Test(parse, prom_meta)
{
	const char *text =
		"# HELP http_requests_total The total number of requests.\n"
		"# TYPE http_requests_total counter\n"
		"# UNIT req_seconds seconds\n"
		"# just a comment\n"
		"#TYPE x gauge\n"
		"# EOF\n";
	cr_assert_eq(run(text, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 0);
	cr_assert_eq(G.nmeta, 4);
	cr_assert_str_eq(G.meta[0], "HELP|http_requests_total|The total number of requests.");
	cr_assert_str_eq(G.meta[1], "TYPE|http_requests_total|counter");
	cr_assert_str_eq(G.meta[2], "UNIT|req_seconds|seconds");
	cr_assert_str_eq(G.meta[3], "TYPE|x|gauge");
}

Test(parse, prom_utf8_label_values)
{
	cr_assert_eq(run("m{city=\"Z\xc3\xbcrich\",jp=\"\xe6\x97\xa5\xe6\x9c\xac\",e=\"\xf0\x9f\x98\x80\"} 1\n",
			 OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 1);
	cr_assert_str_eq(G.s[0].labels, "city=Z\xc3\xbcrich;jp=\xe6\x97\xa5\xe6\x9c\xac;e=\xf0\x9f\x98\x80;");
	static const char *bad[] = {
		"m{a=\"\xff\"} 1",             /* never valid */
		"m{a=\"\xc3\"} 1",             /* truncated */
		"m{a=\"\xc0\xaf\"} 1",         /* overlong */
		"m{a=\"\xed\xa0\x80\"} 1",     /* surrogate */
		"m{a=\"\xf4\x90\x80\x80\"} 1", /* > U+10FFFF */
		"m{a=\"\x80\"} 1",             /* lone continuation */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(run(bad[i], OBS_FMT_AUTO), 1, "case %zu", i);
		cr_assert_eq(G.ns, 0);
		cr_assert_str_eq(G.e[0].why, "invalid UTF-8 in label value", "case %zu", i);
	}
}

Test(parse, prom_label_limits)
{
	char line[8192];
	size_t o = (size_t)snprintf(line, sizeof(line), "m{");

	for (int i = 0; i < OBS_MAX_LABELS - 1; i++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "l%d=\"v\",", i);
	snprintf(line + o, sizeof(line) - o, "} 1");
	cr_assert_eq(run(line, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 1);
	cr_assert_eq(G.s[0].nlabels, OBS_MAX_LABELS - 1);
	snprintf(line + o, sizeof(line) - o, "x=\"v\"} 1");
	cr_assert_eq(run(line, OBS_FMT_AUTO), 1);
	cr_assert_str_eq(G.e[0].why, "too many labels");

	char *big = malloc(OBS_MAX_LABEL_BYTES + 64);
	o = (size_t)sprintf(big, "m{a=\"");
	memset(big + o, 'x', OBS_MAX_LABEL_BYTES);
	strcpy(big + o + OBS_MAX_LABEL_BYTES, "\"} 1");
	cr_assert_eq(run(big, OBS_FMT_AUTO), 0);
	big[o + OBS_MAX_LABEL_BYTES] = 'x';
	strcpy(big + o + OBS_MAX_LABEL_BYTES + 1, "\"} 1");
	cr_assert_eq(run(big, OBS_FMT_AUTO), 1);
	cr_assert_str_eq(G.e[0].why, "label value too long");
	free(big);
}

/* ---- Influx -------------------------------------------------------------- */

Test(parse, influx_fields_tags_ts)
{
	const char *line = "cpu,host=a,region=us\\ west usage=1.5,idle=3i,up=t,msg=\"hi, there x=1\","
			   "free=7u,down=FALSE 1700000000123456789\n";

	cr_assert_eq(run(line, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 5);
	static const char *names[] = { "cpu_usage", "cpu_idle", "cpu_up", "cpu_free", "cpu_down" };
	static const char *fields[] = { "usage", "idle", "up", "free", "down" };
	static const double vals[] = { 1.5, 3, 1, 7, 0 };
	const char *prefix = "cpu,host=a,region=us\\ west";
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(G.s[i].fmt, OBS_FMT_INFLUX);
		cr_assert_str_eq(G.s[i].name, names[i]);
		cr_assert_eq(G.s[i].value, vals[i], "%s", names[i]);
		cr_assert_eq(G.s[i].ts, 1700000000123LL);
		cr_assert_str_eq(G.s[i].labels, "host=a;region=us west;");
		cr_assert_eq(G.s[i].keylen, strlen(prefix) + 1 + strlen(fields[i]));
		cr_assert_eq(memcmp(G.s[i].key, prefix, strlen(prefix) + 1), 0); /* incl. the NUL */
		cr_assert_eq(memcmp(G.s[i].key + strlen(prefix) + 1, fields[i], strlen(fields[i])), 0);
	}
	cr_assert_str_eq(G.s[0].canon, "cpu_usage{host=\"a\",region=\"us west\"}");
}

Test(parse, influx_sanitize_and_ts)
{
	const char *text =
		"my.meas,tag-name=v,9lives=x field-x=2\n"
		"neg value=-1i -1500000\n"
		"only,s=1 str=\"text\" 5\n"
		"e\\,sc,k\\=ey=v\\,al f\\ x=1e3\n";
	cr_assert_eq(run(text, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 3);
	cr_assert_str_eq(G.s[0].name, "my_meas_field_x");
	cr_assert_str_eq(G.s[0].labels, "tag_name=v;_9lives=x;");
	cr_assert_eq(G.s[0].ts, OBS_TS_NONE);
	cr_assert_eq(G.s[0].value, 2);
	cr_assert_str_eq(G.s[1].name, "neg_value");
	cr_assert_eq(G.s[1].value, -1);
	cr_assert_eq(G.s[1].ts, -2); /* -1.5 ms floored */
	cr_assert_str_eq(G.s[2].name, "e_sc_f_x");
	cr_assert_str_eq(G.s[2].labels, "k_ey=v,al;");
	cr_assert_eq(G.s[2].value, 1000);
	cr_assert_eq(G.s[2].fmt, OBS_FMT_INFLUX);
}

/* ---- Graphite ------------------------------------------------------------ */

Test(parse, graphite)
{
	const char *text =
		"servers.web01.cpu 42.5 1700000000\n"
		"disk.used;dc=eu;host=h1 17 -1\n"
		"a.b-c 3\n"
		"1a.b 4 1700000000.25\n";
	cr_assert_eq(run(text, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(G.s[i].fmt, OBS_FMT_GRAPHITE);
	cr_assert_str_eq(G.s[0].name, "servers_web01_cpu");
	cr_assert_eq(G.s[0].value, 42.5);
	cr_assert_eq(G.s[0].ts, 1700000000000LL);
	cr_assert_str_eq(G.s[0].key, "servers.web01.cpu");
	cr_assert_str_eq(G.s[1].name, "disk_used");
	cr_assert_str_eq(G.s[1].labels, "dc=eu;host=h1;");
	cr_assert_eq(G.s[1].ts, OBS_TS_NONE);
	cr_assert_str_eq(G.s[1].key, "disk.used;dc=eu;host=h1");
	cr_assert_str_eq(G.s[2].name, "a_b_c");
	cr_assert_eq(G.s[2].ts, OBS_TS_NONE);
	cr_assert_str_eq(G.s[3].name, "_1a_b");
	cr_assert_eq(G.s[3].ts, 1700000000250LL);
	cr_assert_str_eq(G.s[1].canon, "disk_used{dc=\"eu\",host=\"h1\"}");
}

/* ---- StatsD -------------------------------------------------------------- */

Test(parse, statsd)
{
	const char *text =
		"page.views:3|c|@0.5|#env:prod,region:eu,bare\n"
		"temp:21.5|g\n"
		"lat:320|ms|@0.1\n"
		"users:alice|s\n"
		"x:1|h|T1700000000\n"
		"sz:-4|d\n";
	cr_assert_eq(run(text, OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 6);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(G.s[i].fmt, OBS_FMT_STATSD);
		if (i != 4)
			cr_assert_eq(G.s[i].ts, OBS_TS_NONE);
	}
	cr_assert_str_eq(G.s[0].name, "page_views");
	cr_assert_eq(G.s[0].value, 6); /* 3 / 0.5 */
	cr_assert_str_eq(G.s[0].labels, "env=prod;region=eu;");
	cr_assert_eq(G.s[0].keylen, strlen("page.views") + 1 + strlen("env:prod,region:eu,bare"));
	cr_assert_eq(memcmp(G.s[0].key, "page.views\0env:prod,region:eu,bare", G.s[0].keylen), 0);
	cr_assert_str_eq(G.s[1].name, "temp");
	cr_assert_eq(G.s[1].value, 21.5);
	cr_assert_eq(G.s[2].value, 320); /* rate only scales counters */
	cr_assert_eq(G.s[3].value, 1);
	cr_assert_eq(G.s[4].ts, 1700000000000LL);
	cr_assert_eq(G.s[5].value, -4);
}

/* ---- mixed formats, line numbers, control ------------------------------- */

Test(parse, mixed_formats_one_buffer)
{
	const char *text =
		"# TYPE up gauge\n"
		"up{job=\"a\"} 1 1000\n"
		"\n"
		"cpu,host=h value=2 3000000000\n"
		"bad line here\n"
		"a.b.c 3 4\n"
		"hits:4|c\n"
		"cpu value=5\n"
		"a.b value=6\n"
		"up 7\r\n"
		"last 8";
	struct obs_parse_cb cb = { on_sample, on_meta, on_error, &G };

	cr_assert_eq(obs_parse_lines(text, strlen(text), OBS_FMT_AUTO, 100, &cb), 1);
	cr_assert_eq(G.ns, 8);
	static const enum obs_fmt fmts[] = { OBS_FMT_PROM, OBS_FMT_INFLUX, OBS_FMT_GRAPHITE,
					     OBS_FMT_STATSD, OBS_FMT_INFLUX, OBS_FMT_INFLUX,
					     OBS_FMT_PROM, OBS_FMT_PROM };
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(G.s[i].fmt, fmts[i], "sample %d", i);
		cr_assert_eq(G.s[i].value, i + 1, "sample %d", i);
	}
	cr_assert_eq(G.s[1].ts, 3000);
	cr_assert_eq(G.s[2].ts, 4000);
	cr_assert_str_eq(G.s[5].name, "a_b_value");
	cr_assert_eq(G.ne, 1);
	cr_assert_eq(G.e[0].lineno, 104);
	cr_assert_str_eq(G.e[0].line, "bad line here");
	cr_assert_str_eq(G.e[0].why, "invalid value");
	cr_assert_eq(G.nmeta, 1);
}

Test(parse, forced_format)
{
	/* "a.b 1" is Graphite in AUTO, a bad Prometheus name when forced. */
	cr_assert_eq(run("a.b 1\n", OBS_FMT_PROM), 1);
	cr_assert_str_eq(G.e[0].why, "invalid metric name");
	cr_assert_eq(run("up 1\n", OBS_FMT_GRAPHITE), 0);
	cr_assert_eq(G.s[0].fmt, OBS_FMT_GRAPHITE);
	cr_assert_eq(run("up 1\n", OBS_FMT_INFLUX), 1);
	cr_assert_str_eq(G.e[0].why, "invalid field");
}

Test(parse, callback_stops)
{
	G.stop_at = 2;
	cr_assert_eq(run("a 1\nb 2\nc 3\n", OBS_FMT_AUTO), 7);
	cr_assert_eq(G.ns, 2);
	G.stop_at = 1;
	cr_assert_eq(run("cpu a=1,b=2,c=3\n", OBS_FMT_AUTO), 7);
	cr_assert_eq(G.ns, 1);
	G.stop_at = 0;
}

Test(parse, null_callbacks_and_empty)
{
	struct obs_parse_cb cb = { NULL, NULL, NULL, NULL };

	const char *t = "a 1\nbad\n# TYPE a gauge\n";

	cr_assert_eq(obs_parse_lines(t, strlen(t), OBS_FMT_AUTO, 1, &cb), 1);
	cr_assert_eq(obs_parse_lines("", 0, OBS_FMT_AUTO, 1, &cb), 0);
	cr_assert_eq(run("\n\n  \n\r\n", OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 0);
}

Test(parse, no_read_past_n)
{
	/* The buffer is not NUL-terminated: n stops inside the value. */
	char buf[16];

	memcpy(buf, "up 12345", 8);
	memset(buf + 8, '9', sizeof(buf) - 8);
	struct obs_parse_cb cb = { on_sample, on_meta, on_error, &G };
	cr_assert_eq(obs_parse_lines(buf, 5, OBS_FMT_AUTO, 1, &cb), 0);
	cr_assert_eq(G.ns, 1);
	cr_assert_eq(G.s[0].value, 12);
}

/* Every error reason, with the line that triggers it. */
Test(parse, every_error_reason)
{
	static const struct { const char *line; enum obs_fmt fmt; const char *why; } cases[] = {
		{ "9up 1", OBS_FMT_AUTO, "invalid metric name" },
		{ "up-x 1", OBS_FMT_AUTO, "invalid metric name" },
		{ "m{a=\"b\"", OBS_FMT_AUTO, "unterminated label set" },
		{ "m{1a=\"b\"} 1", OBS_FMT_AUTO, "invalid label name" },
		{ "m{a:\"b\"} 1", OBS_FMT_AUTO, "expected '=' after label name" },
		{ "m{a=b} 1", OBS_FMT_AUTO, "expected '\"' before label value" },
		{ "m{a=\"b} 1", OBS_FMT_AUTO, "unterminated label value" },
		{ "m{a=\"b\xfe\"} 1", OBS_FMT_AUTO, "invalid UTF-8 in label value" },
		{ "m{a=\"b\" c=\"d\"} 1", OBS_FMT_AUTO, "expected ',' or '}' after label value" },
		{ "m{a=\"b\"}x 1", OBS_FMT_AUTO, "unexpected text after labels" },
		{ "m", OBS_FMT_AUTO, "missing value" },
		{ "m{a=\"b\"}", OBS_FMT_AUTO, "missing value" },
		{ "m 1x", OBS_FMT_AUTO, "invalid value" },
		{ "m 1 12z", OBS_FMT_AUTO, "invalid timestamp" },
		{ "m 1 99999999999999999999", OBS_FMT_AUTO, "timestamp out of range" },
		{ "m 1 2 3", OBS_FMT_AUTO, "unexpected text after timestamp" },
		{ ",a=b f=1", OBS_FMT_AUTO, "invalid metric name" },
		{ "cpu,a f=1", OBS_FMT_AUTO, "invalid tag" },
		{ "cpu,a= f=1", OBS_FMT_AUTO, "invalid tag" },
		{ "cpu,a=\xc3\x28 f=1", OBS_FMT_AUTO, "invalid UTF-8 in label value" },
		{ "cpu,a=b", OBS_FMT_AUTO, "missing field set" },
		{ "cpu,a=b ", OBS_FMT_INFLUX, "missing field set" },
		{ "cpu,a=b f", OBS_FMT_AUTO, "invalid field" },
		{ "cpu,a=b =1", OBS_FMT_AUTO, "invalid field" },
		{ "cpu,a=b f=\"x", OBS_FMT_AUTO, "unterminated string field" },
		{ "cpu,a=b f=abc", OBS_FMT_AUTO, "invalid field value" },
		{ "cpu,a=b f=", OBS_FMT_AUTO, "invalid field value" },
		{ "cpu,a=b f=\"x\"y", OBS_FMT_AUTO, "invalid field value" },
		{ "cpu,a=b f=1 1.5", OBS_FMT_AUTO, "invalid timestamp" },
		{ "cpu,a=b f=1 1 2", OBS_FMT_AUTO, "unexpected text after timestamp" },
		{ ";a=b 1", OBS_FMT_AUTO, "invalid metric name" },
		{ "a.b;c 1", OBS_FMT_AUTO, "invalid tag" },
		{ "a.b;=c 1", OBS_FMT_AUTO, "invalid tag" },
		{ "a.b;c= 1", OBS_FMT_AUTO, "invalid tag" },
		{ "a.b;c=\x80 1", OBS_FMT_AUTO, "invalid UTF-8 in label value" },
		{ "a.b.c", OBS_FMT_AUTO, "missing value" },
		{ "a.b.c x", OBS_FMT_AUTO, "invalid value" },
		{ "a.b.c 1 now", OBS_FMT_AUTO, "invalid timestamp" },
		{ "a.b.c 1 2 3", OBS_FMT_AUTO, "unexpected text after timestamp" },
		{ ":1|c", OBS_FMT_AUTO, "invalid metric name" },
		{ "x:|c", OBS_FMT_AUTO, "missing value" },
		{ "x", OBS_FMT_STATSD, "missing value" },
		{ "x:1", OBS_FMT_STATSD, "invalid metric type" },
		{ "x:1|q", OBS_FMT_AUTO, "invalid metric type" },
		{ "x:1|c|@0", OBS_FMT_AUTO, "invalid sample rate" },
		{ "x:1|c|@2", OBS_FMT_AUTO, "invalid sample rate" },
		{ "x:a|c", OBS_FMT_AUTO, "invalid value" },
		{ "x:1|g|Tz", OBS_FMT_AUTO, "invalid timestamp" },
		{ "m 1 1.5.5", OBS_FMT_AUTO, "invalid timestamp" },
		{ "m 1 1e", OBS_FMT_AUTO, "invalid timestamp" },
		{ "m 1 0x10", OBS_FMT_AUTO, "invalid timestamp" },
		{ "m 1 NaN", OBS_FMT_AUTO, "invalid timestamp" },
		{ "x:1|g|#:v", OBS_FMT_AUTO, "invalid tag" },
		{ "x:1|g|#k:\xff", OBS_FMT_AUTO, "invalid UTF-8 in label value" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(run(cases[i].line, cases[i].fmt), 1, "'%s' not rejected", cases[i].line);
		cr_assert_eq(G.ns, 0, "'%s'", cases[i].line);
		cr_assert_eq(G.ne, 1);
		cr_assert_str_eq(G.e[0].why, cases[i].why, "'%s'", cases[i].line);
		cr_assert_eq(G.e[0].lineno, 1);
	}
	/* NUL inside a label value (needs an explicit length) */
	struct obs_parse_cb cb = { on_sample, on_meta, on_error, &G };
	reset();
	cr_assert_eq(obs_parse_lines("m{a=\"x\0y\"} 1\nok 2\n", sizeof("m{a=\"x\0y\"} 1\nok 2\n") - 1, OBS_FMT_AUTO, 1, &cb), 1);
	cr_assert_str_eq(G.e[0].why, "NUL byte in label value");
	cr_assert_eq(G.ns, 1);
	cr_assert_eq(G.e[0].lineno, 1);
	reset();
	cr_assert_eq(obs_parse_lines("cpu,a=x\0y f=1\n", sizeof("cpu,a=x\0y f=1\n") - 1, OBS_FMT_AUTO, 1, &cb), 1);
	cr_assert_str_eq(G.e[0].why, "invalid UTF-8 in label value");
}

Test(parse, garbage_rejected_good_lines_kept)
{
	char buf[4096];
	size_t o = 0;
	unsigned st = 12345;

	o += (size_t)sprintf(buf + o, "first 1\n");
	for (int i = 0; i < 20; i++) {
		buf[o++] = 'g';
		buf[o++] = '{';
		buf[o++] = 'a';
		buf[o++] = '=';
		buf[o++] = '"';
		for (int k = 0; k < 30; k++) {
			st = st * 1103515245u + 12345u;
			char ch = (char)(0x80 | (st >> 16));
			buf[o++] = ch;
		}
		o += (size_t)sprintf(buf + o, "\"} 1\n");
	}
	o += (size_t)sprintf(buf + o, "last 2\n");
	struct obs_parse_cb cb = { on_sample, on_meta, on_error, &G };
	long r = obs_parse_lines(buf, o, OBS_FMT_AUTO, 1, &cb);
	/* random high bytes are almost never valid UTF-8; whatever is accepted must be */
	cr_assert_eq(r + G.ns, 22);
	cr_assert_geq(r, 18);
	cr_assert_str_eq(G.s[0].name, "first");
	cr_assert_str_eq(G.s[G.ns - 1].name, "last");
	for (int i = 0; i < G.ne; i++) {
		cr_assert(G.e[i].lineno >= 2 && G.e[i].lineno <= 21);
		cr_assert_str_eq(G.e[i].why, "invalid UTF-8 in label value");
		if (i)
			cr_assert_gt(G.e[i].lineno, G.e[i - 1].lineno);
	}
}

/* ---- "VALUE" / "TIME VALUE" ---------------------------------------------- */

Test(parse, value_line)
{
	int64_t ts = 0;
	double v = 0;
	const char *why = NULL;

	cr_assert_eq(obs_parse_value_line("42\n", 3, &ts, &v, &why), 0);
	cr_assert_eq(ts, OBS_TS_NONE);
	cr_assert_eq(v, 42);
	cr_assert_eq(obs_parse_value_line(" 1700000000 1.5 ", 16, &ts, &v, &why), 0);
	cr_assert_eq(ts, 1700000000000LL);
	cr_assert_eq(v, 1.5);
	cr_assert_eq(obs_parse_value_line("1700000000.25\t-3", 16, &ts, &v, &why), 0);
	cr_assert_eq(ts, 1700000000250LL);
	cr_assert_eq(v, -3);
	const char *s = "2026-11-21T10:00:00Z NaN";
	cr_assert_eq(obs_parse_value_line(s, strlen(s), &ts, &v, &why), 0);
	cr_assert_eq(ts, 1795255200000LL);
	cr_assert(isnan(v));
	s = "2026-11-21 10:00:00Z 2";
	cr_assert_eq(obs_parse_value_line(s, strlen(s), &ts, &v, &why), 0);
	cr_assert_eq(ts, 1795255200000LL);
	cr_assert_eq(v, 2);

	ts = 5;
	v = 5;
	cr_assert_eq(obs_parse_value_line("", 0, &ts, &v, &why), -EINVAL);
	cr_assert_str_eq(why, "missing value");
	cr_assert_eq(obs_parse_value_line("abc", 3, &ts, &v, &why), -EINVAL);
	cr_assert_str_eq(why, "invalid value");
	cr_assert_eq(obs_parse_value_line("yesterday 3", 11, &ts, &v, &why), -EINVAL);
	cr_assert_str_eq(why, "invalid time");
	cr_assert_eq(obs_parse_value_line("1 2 3", 5, &ts, &v, NULL), -EINVAL);
	cr_assert_eq(ts, 5);
	cr_assert_eq(v, 5);
}

/* ---- issue 8: timestamps range, OpenMetrics, nameless series ------------ */

/* INT64_MAX / INT64_MIN (and anything outside years 0..9999) in every format
 * that takes a timestamp is refused with a reason, never taken as "no
 * timestamp" (OBS_TS_NONE is INT64_MIN). */
Test(parse, timestamps_outside_the_valid_range_refused)
{
	static const char *lines[] = {
		"x 1 9223372036854775807",
		"x 1 -9223372036854775808",
		"x 1 253402300800000",
		"x 1 -62167219200001",
		"x 1 1e300",
		"x 1 -1e300",
		"x 1 253402300800.0",
		"x f=1 -62167219200000000001",  /* Influx is ns: int64 ns (1677..2262) is valid */
		"x f=1 253402300800000000000",
		"x.y 1 9223372036854775807",
		"x.y 1 -9223372036854775808",
		"x.y 1 253402300800",
		"x:1|g|T9223372036854775807",
		"x:1|g|T-9223372036854775808",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		cr_assert_eq(run(lines[i], OBS_FMT_AUTO), 1, "'%s' not rejected", lines[i]);
		cr_assert_eq(G.ns, 0, "'%s'", lines[i]);
		cr_assert_str_eq(G.e[0].why, "timestamp out of range", "'%s'", lines[i]);
	}
	/* the ends themselves are fine */
	cr_assert_eq(run("x 1 253402300799999\nx 1 -62167219200000\nx:1|g|T253402300799\n"
			 "x f=1 253402300799999999999\n", OBS_FMT_AUTO), 0);
	cr_assert_eq(G.ns, 4);
	cr_assert_eq(G.s[0].ts, 253402300799999LL);
	cr_assert_eq(G.s[1].ts, -62167219200000LL);
	cr_assert_eq(G.s[2].ts, 253402300799000LL);
	cr_assert_eq(G.s[3].ts, 253402300799999LL);
	/* the series-file "TIME VALUE" line */
	int64_t t;
	double v;
	const char *why = NULL;
	cr_assert_eq(obs_parse_value_line("9223372036854775807 1", 21, &t, &v, &why), -EINVAL);
	cr_assert_str_eq(why, "time out of range");
	cr_assert_eq(obs_parse_value_line("-9223372036854775808 1", 22, &t, &v, &why), -EINVAL);
	cr_assert_str_eq(why, "time out of range");
}

/* Fractions and exponents are exact decimal arithmetic, floored to ms. */
Test(parse, fractional_and_exponent_timestamps_exact)
{
	static const struct { const char *ts; long long ms; } c[] = {
		{ "1.5e3", 1500000 }, { "1.5E3", 1500000 }, { "15e2", 1500000 }, { "1500e-3", 1500 },
		{ "1.234", 1234 }, { "1.2345", 1234 }, { "1.0005", 1000 }, { "-1.0005", -1001 },
		{ "-1.5", -1500 }, { ".5", 500 }, { "5.", 5000 }, { "1e-3", 1 }, { "5e-4", 0 },
		{ "-5e-4", -1 }, { "+2.5", 2500 }, { "1700000000.123456789", 1700000000123LL },
		{ "1.700000000123e9", 1700000000123LL }, { "0.0", 0 }, { "0e999999", 0 },
		{ "1700000000.000000000000000000000001", 1700000000000LL },
		{ "-1700000000.000000000000000000000001", -1700000000001LL },
	};
	char line[128];
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		snprintf(line, sizeof line, "m 1 %s", c[i].ts);
		cr_assert_eq(run(line, OBS_FMT_AUTO), 0, "'%s': %s", line, G.ne ? G.e[0].why : "");
		cr_assert_eq(G.s[0].ts, c[i].ms, "'%s' -> %lld", line, G.s[0].ts);
		snprintf(line, sizeof line, "a.b 1 %s", c[i].ts);    /* Graphite: seconds too */
		cr_assert_eq(run(line, OBS_FMT_AUTO), 0, "'%s'", line);
		cr_assert_eq(G.s[0].ts, c[i].ms, "'%s' -> %lld", line, G.s[0].ts);
	}
}

/* OpenMetrics: a write holding a marker (# EOF, # UNIT, an OpenMetrics-only
 * # TYPE, an exemplar, a *_created sample) has integer timestamps in seconds;
 * any other write keeps Prometheus' integer milliseconds. */
Test(parse, openmetrics_detected_per_write)
{
	static const struct { const char *text; long long ts; } c[] = {
		{ "a_total 0 123\n", 123 },
		{ "a_total 0 123\n# EOF\n", 123000 },
		{ "a_total 0 123\n# EOF", 123000 },
		{ "a_total 0 123\r\n# EOF\r\n", 123000 },
		{ "# UNIT a seconds\na_total 0 123\n", 123000 },
		{ "# TYPE a info\na_total 0 123\n", 123000 },
		{ "# TYPE a stateset\na_total 0 123\n", 123000 },
		{ "# TYPE a gaugehistogram\na_total 0 123\n", 123000 },
		{ "# TYPE a unknown\na_total 0 123\n", 123000 },
		{ "a_total 0 123 # {trace_id=\"x\"} 1\n", 123000 },
		{ "# TYPE a_total gauge\na_total 0 123\na_created 1\n", 123000 },
		{ "# HELP a x\na_total 0 123\na_created{x=\"y\"} 1\n", 123000 },
		{ "a_total 0 123\na_created 1\n", 123 },   /* no comment line: not looked for */
		{ "# TYPE a counter\n# HELP a h\na_total 0 123\n", 123000 },
		{ "# TYPE a counter\n\n  a_total{x=\"1\"} 0 123\n", 123000 },
		/* not markers */
		{ "# TYPE a_total counter\n# HELP a_total EOF\na_total 0 123\n", 123 },
		{ "# TYPE a untyped\na_total 0 123\n", 123 },
		{ "# TYPE a_total counter\na_total 0 123\n", 123 },
		{ "# TYPE a counter\na 0 123\n", 123 },
		{ "# TYPE a counter\nab_total 0 123\n", 123 },
		{ "# TYPE a counter\na_totals 0 123\n", 123 },
		{ "a_total{x=\" # {y\"} 0 123\n", 123 },
		{ "a_total{x=\"a_created\"} 0 123\n", 123 },
		{ "a_created_total 0 123\n", 123 },
		{ "a_total 0 123 # comment\n", 123 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		cr_assert_eq(run(c[i].text, OBS_FMT_AUTO), 0, "case %zu: %s", i, G.ne ? G.e[0].why : "");
		cr_assert_geq(G.ns, 1, "case %zu", i);
		cr_assert_eq(G.s[0].ts, c[i].ts, "case %zu: %lld", i, G.s[0].ts);
	}
}

/* OpenMetrics 1.0 exposition cases (written from the specification): each
 * text must give exactly these samples (canonical series, value, time) and
 * no rejected line. */
Test(parse, openmetrics_conformance_table)
{
	static const struct {
		const char *text;
		int n;
		const char *canon[4];
		double v[4];
		long long ts[4];
	} c[] = {
		/* counter with _total, _created, exemplar with and without timestamp */
		{ "# TYPE foo counter\n# HELP foo Some \\\\ help \\n with \\\"escapes\\\"\n"
		  "foo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\n"
		  "foo_created 1520872607.123\n# EOF\n",
		  2, { "foo_total", "foo_created" }, { 17, 1520872607.123 }, { 1520879607789LL, OBS_TS_NONE } },
		{ "foo_total{a=\"b\"} 1 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.043\n# EOF\n",
		  1, { "foo_total{a=\"b\"}" }, { 1 }, { OBS_TS_NONE } },
		/* gauge with NaN, +Inf, -Inf, negative zero; exponent timestamps */
		{ "# TYPE g gauge\ng{x=\"1\"} NaN 1.5e3\ng{x=\"2\"} +Inf 15e2\ng{x=\"3\"} -Inf 0\n"
		  "g{x=\"4\"} -0.0 -1\n# EOF\n",
		  4, { "g{x=\"1\"}", "g{x=\"2\"}", "g{x=\"3\"}", "g{x=\"4\"}" }, { NAN, INFINITY, -INFINITY, 0 },
		  { 1500000, 1500000, 0, -1000 } },
		/* escapes in label values, unknown ones kept; empty label value = absent */
		{ "m{a=\"q\\\"\\\\\\n\",b=\"\",c=\"\\z\\f\"} 1 1\n# EOF\n",
		  1, { "m{a=\"q\\\"\\\\\\n\",c=\"\\\\z\\\\f\"}" }, { 1 }, { 1000 } },
		/* histogram: le labels with +Inf and exponents */
		{ "# TYPE h histogram\nh_bucket{le=\"0.01\"} 0\nh_bucket{le=\"1e+1\"} 2\n"
		  "h_bucket{le=\"+Inf\"} 3\nh_count 3\n# EOF\n",
		  4, { "h_bucket{le=\"0.01\"}", "h_bucket{le=\"1e+1\"}", "h_bucket{le=\"+Inf\"}", "h_count" },
		  { 0, 2, 3, 3 }, { OBS_TS_NONE, OBS_TS_NONE, OBS_TS_NONE, OBS_TS_NONE } },
		/* gaugehistogram, stateset, info */
		{ "# TYPE gh gaugehistogram\ngh_bucket{le=\"+Inf\"} 4 10\ngh_gcount 4 10\ngh_gsum 2 10\n# EOF\n",
		  3, { "gh_bucket{le=\"+Inf\"}", "gh_gcount", "gh_gsum" }, { 4, 4, 2 }, { 10000, 10000, 10000 } },
		{ "# TYPE ss stateset\nss{ss=\"a\"} 1\nss{ss=\"b\"} 0\n# EOF\n",
		  2, { "ss{ss=\"a\"}", "ss{ss=\"b\"}" }, { 1, 0 }, { OBS_TS_NONE, OBS_TS_NONE } },
		{ "# TYPE build info\nbuild_info{version=\"1.0\",rev=\"\xe2\x9c\x93\"} 1\n# EOF\n",
		  1, { "build_info{rev=\"\xe2\x9c\x93\",version=\"1.0\"}" }, { 1 }, { OBS_TS_NONE } },
		/* unit, summary with quantiles, integer values */
		{ "# TYPE s_seconds summary\n# UNIT s_seconds seconds\ns_seconds{quantile=\"0.5\"} 1e-3\n"
		  "s_seconds_sum 12 5\ns_seconds_count 7 5\n# EOF\n",
		  3, { "s_seconds{quantile=\"0.5\"}", "s_seconds_sum", "s_seconds_count" }, { 1e-3, 12, 7 },
		  { OBS_TS_NONE, 5000, 5000 } },
		/* a series without a metric name (obsfs(7)), also with __name__ */
		{ "{a=\"1\"} 2 3\n{__name__=\"n\",b=\"2\"} 4\n# EOF\n",
		  2, { "{a=\"1\"}", "n{b=\"2\"}" }, { 2, 4 }, { 3000, OBS_TS_NONE } },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		cr_assert_eq(run(c[i].text, OBS_FMT_AUTO), 0, "case %zu: %s: %s", i, G.ne ? G.e[0].line : "",
			     G.ne ? G.e[0].why : "");
		cr_assert_eq(G.ns, c[i].n, "case %zu: %d samples", i, G.ns);
		for (int k = 0; k < c[i].n; k++) {
			cr_assert_str_eq(G.s[k].canon, c[i].canon[k], "case %zu/%d", i, k);
			if (isnan(c[i].v[k]))
				cr_assert(isnan(G.s[k].value), "case %zu/%d", i, k);
			else
				cr_assert_eq(G.s[k].value, c[i].v[k], "case %zu/%d: %g", i, k, G.s[k].value);
			cr_assert_eq(G.s[k].ts, c[i].ts[k], "case %zu/%d: %lld", i, k, G.s[k].ts);
		}
	}
}
