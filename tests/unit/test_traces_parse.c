/* test_traces_parse.c — OTLP/JSON and simple JSON-lines span parsing: every
 * AnyValue type, ids, times, kinds and status, events and links, refused
 * documents with their line and reason, multi-line and unfinished
 * documents, and the JSON line read back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traces/otlp.h"
#include "traces/span.h"

#define MAXS 64

struct got {
	struct obs_buf blobs[MAXS];
	struct obs_span s[MAXS];
	size_t n;
	size_t errline[16];
	char errwhy[16][200];
	size_t nerr;
};

static int on_span(void *ctx, const struct obs_span *s, const uint8_t *blob, size_t n)
{
	struct got *g = ctx;
	cr_assert_lt(g->n, MAXS);
	obs_buf_init(&g->blobs[g->n]);
	cr_assert_eq(obs_buf_append(&g->blobs[g->n], blob, n), 0);
	cr_assert_eq(obs_span_decode((const uint8_t *)g->blobs[g->n].data, n, &g->s[g->n]), 0);
	g->n++;
	return 0;
}

static void on_err(void *ctx, size_t lineno, const char *line, size_t n, const char *why)
{
	struct got *g = ctx;
	if (g->nerr < 16) {
		g->errline[g->nerr] = lineno;
		snprintf(g->errwhy[g->nerr], sizeof g->errwhy[0], "%s", why);
	}
	g->nerr++;
}

static struct got *parse(const char *text, int final, struct obs_otlp_result *r, int *rc)
{
	struct got *g = calloc(1, sizeof *g);
	struct obs_otlp_result tmp;
	*rc = obs_otlp_parse(text, strlen(text), final, 1, on_span, on_err, g, r ? r : &tmp);
	return g;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		obs_buf_release(&g->blobs[i]);
	free(g);
}

static int streq(struct obs_str s, const char *c) { return s.n == strlen(c) && !memcmp(s.p, c, s.n); }

static void attr_is(struct obs_str list, const char *key, enum obs_attr_type t, const char *val)
{
	struct obs_attr a;
	cr_assert(obs_attr_find(list, key, strlen(key), &a), "attribute %s missing", key);
	cr_assert_eq(a.type, t, "attribute %s type %c, want %c", key, a.type, t);
	cr_assert(streq(a.val, val), "attribute %s = '%.*s', want '%s'", key, (int)a.val.n, a.val.p, val);
}

#define TID "5b8efff798038103d269b633813fc60c"
#define SID "eee19b7ec3c1b174"
#define PID "eee19b7ec3c1b173"

static const char *otlp_doc =
	"{\"resourceSpans\":[{\"resource\":{\"attributes\":["
	"{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
	"{\"key\":\"host.name\",\"value\":{\"stringValue\":\"web-1\"}}]},"
	"\"scopeSpans\":[{\"scope\":{\"name\":\"my.lib\",\"version\":\"1.0\"},\"spans\":[{"
	"\"traceId\":\"" TID "\",\"spanId\":\"" SID "\",\"parentSpanId\":\"" PID "\","
	"\"name\":\"GET /cart\",\"kind\":2,\"startTimeUnixNano\":\"1544712660000000000\","
	"\"endTimeUnixNano\":1544712661000000000,\"unknownField\":[1,2,3],"
	"\"attributes\":["
	"{\"key\":\"s\",\"value\":{\"stringValue\":\"x\\\"y\"}},"
	"{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
	"{\"key\":\"i1\",\"value\":{\"intValue\":\"-42\"}},"
	"{\"key\":\"i2\",\"value\":{\"intValue\":7}},"
	"{\"key\":\"d\",\"value\":{\"doubleValue\":0.5}},"
	"{\"key\":\"d2\",\"value\":{\"doubleValue\":3}},"
	"{\"key\":\"dn\",\"value\":{\"doubleValue\":\"NaN\"}},"
	"{\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"p\"},{\"intValue\":\"1\"},{\"boolValue\":false}]}}},"
	"{\"key\":\"k\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"n\",\"value\":{\"doubleValue\":1.25}},"
	"{\"key\":\"m\",\"value\":{\"arrayValue\":{}}}]}}},"
	"{\"key\":\"y\",\"value\":{\"bytesValue\":\"aGVsbG8=\"}},"
	"{\"key\":\"e\",\"value\":{}}],"
	"\"events\":[{\"timeUnixNano\":\"1544712660500000000\",\"name\":\"retry\",\"attributes\":[{\"key\":\"n\",\"value\":{\"intValue\":\"2\"}}]}],"
	"\"links\":[{\"traceId\":\"" TID "\",\"spanId\":\"" PID "\"}],"
	"\"status\":{\"code\":2,\"message\":\"boom\"},\"flags\":257,\"traceState\":\"a=b\"}]}]}]}\n";

Test(otlp, every_anyvalue_type)
{
	int rc;
	struct got *g = parse(otlp_doc, 1, NULL, &rc);
	cr_assert_eq(rc, 0, "rc %d: %s", rc, g->nerr ? g->errwhy[0] : "");
	cr_assert_eq(g->n, 1);
	struct obs_span *s = &g->s[0];
	attr_is(s->attrs, "s", OBS_ATTR_STRING, "x\"y");
	attr_is(s->attrs, "b", OBS_ATTR_BOOL, "true");
	attr_is(s->attrs, "i1", OBS_ATTR_INT, "-42");
	attr_is(s->attrs, "i2", OBS_ATTR_INT, "7");
	attr_is(s->attrs, "d", OBS_ATTR_DOUBLE, "0.5");
	attr_is(s->attrs, "d2", OBS_ATTR_DOUBLE, "3.0");
	attr_is(s->attrs, "dn", OBS_ATTR_DOUBLE, "NaN");
	attr_is(s->attrs, "a", OBS_ATTR_ARRAY, "[\"p\",1,false]");
	attr_is(s->attrs, "k", OBS_ATTR_KVLIST, "{\"n\":1.25,\"m\":[]}");
	attr_is(s->attrs, "y", OBS_ATTR_BYTES, "aGVsbG8=");
	attr_is(s->attrs, "e", OBS_ATTR_NULL, "");
	attr_is(s->resource, "host.name", OBS_ATTR_STRING, "web-1");
	struct obs_attr a;
	cr_assert_not(obs_attr_find(s->resource, "service.name", 12, &a), "service.name is the span's service, not a resource attribute");
	got_free(g);
}

Test(otlp, ids_times_kind_status)
{
	int rc;
	struct got *g = parse(otlp_doc, 1, NULL, &rc);
	cr_assert_eq(rc, 0);
	struct obs_span *s = &g->s[0];
	char h[33];
	obs_hex(s->trace_id, 16, h);
	cr_assert_str_eq(h, TID);
	obs_hex(s->span_id, 8, h);
	cr_assert_str_eq(h, SID);
	obs_hex(s->parent_id, 8, h);
	cr_assert_str_eq(h, PID);
	cr_assert(s->flags & OBS_SPAN_HAS_PARENT);
	cr_assert_eq(s->start_ns, 1544712660000000000LL, "string nanoseconds");
	cr_assert_eq(s->end_ns, 1544712661000000000LL, "numeric nanoseconds");
	cr_assert_eq(s->kind, OBS_KIND_SERVER);
	cr_assert_eq(s->status, OBS_STATUS_ERROR);
	cr_assert(streq(s->status_msg, "boom"));
	cr_assert(streq(s->service, "checkout"));
	cr_assert(streq(s->name, "GET /cart"));
	cr_assert(streq(s->scope, "my.lib"));
	cr_assert(streq(s->trace_state, "a=b"));
	cr_assert(s->flags & OBS_SPAN_HAS_TFLAGS);
	cr_assert_eq(s->trace_flags, 1, "low 8 bits of flags are the W3C trace flags");
	cr_assert(streq(s->events, "[{\"time_unix_nano\":\"1544712660500000000\",\"name\":\"retry\",\"attributes\":{\"n\":2}}]"),
		  "events %.*s", (int)s->events.n, s->events.p);
	cr_assert(streq(s->links, "[{\"trace_id\":\"" TID "\",\"span_id\":\"" PID "\",\"attributes\":{}}]"));
	got_free(g);
}

static char *span_doc(const char *fields)
{
	char *d;
	cr_assert_geq(asprintf(&d, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{%s}]}]}]}\n", fields), 0);
	return d;
}

static void refused(const char *fields, const char *why_part)
{
	char *d = span_doc(fields);
	int rc;
	struct got *g = parse(d, 1, NULL, &rc);
	cr_assert_eq(rc, -EINVAL, "'%s' accepted", fields);
	cr_assert_eq(g->n, 0);
	cr_assert_eq(g->nerr, 1);
	cr_assert(strstr(g->errwhy[0], why_part), "why '%s' lacks '%s'", g->errwhy[0], why_part);
	got_free(g);
	free(d);
}

#define OKT "\"traceId\":\"" TID "\",\"spanId\":\"" SID "\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\""

Test(otlp, bad_ids_and_times_refused)
{
	refused("\"traceId\":\"xyz\",\"spanId\":\"" SID "\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"", "invalid traceId");
	refused("\"traceId\":\"" TID "ab\",\"spanId\":\"" SID "\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"", "invalid traceId");
	refused("\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"" SID "\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"", "all zeros");
	refused("\"spanId\":\"" SID "\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"", "missing traceId");
	refused("\"traceId\":\"" TID "\",\"spanId\":\"eee19b7ec3c1b17\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"", "invalid spanId");
	refused("\"traceId\":\"" TID "\",\"spanId\":\"" SID "\",\"endTimeUnixNano\":\"2\"", "missing startTimeUnixNano");
	refused("\"traceId\":\"" TID "\",\"spanId\":\"" SID "\",\"startTimeUnixNano\":\"1x\",\"endTimeUnixNano\":\"2\"", "invalid startTimeUnixNano");
	refused("\"traceId\":\"" TID "\",\"spanId\":\"" SID "\",\"startTimeUnixNano\":\"-1\",\"endTimeUnixNano\":\"2\"", "invalid startTimeUnixNano");
	refused("\"traceId\":\"" TID "\",\"spanId\":\"" SID "\",\"startTimeUnixNano\":\"5\",\"endTimeUnixNano\":\"2\"", "before");
	refused(OKT ",\"kind\":9", "kind");
	refused(OKT ",\"status\":{\"code\":7}", "status code");
	refused(OKT ",\"attributes\":[{\"key\":\"x\",\"value\":{\"intValue\":\"1.5\"}}]", "intValue");
	refused(OKT ",\"attributes\":[{\"key\":\"x\",\"value\":{\"bytesValue\":\"!!\"}}]", "base64");
	refused(OKT ",\"attributes\":[{\"value\":{\"intValue\":1}}]", "without a key");
}

Test(otlp, defaults_and_names)
{
	char *d = span_doc(OKT ",\"kind\":\"SPAN_KIND_CLIENT\",\"status\":{\"code\":\"STATUS_CODE_OK\"},\"parentSpanId\":\"\"");
	int rc;
	struct got *g = parse(d, 1, NULL, &rc);
	cr_assert_eq(rc, 0, "%s", g->nerr ? g->errwhy[0] : "");
	cr_assert_eq(g->n, 1);
	cr_assert(streq(g->s[0].service, "unknown_service"), "no service.name: the SDKs' unknown_service");
	cr_assert(obs_span_is_root(&g->s[0]), "an empty parentSpanId is a root");
	cr_assert_eq(g->s[0].kind, OBS_KIND_CLIENT);
	cr_assert_eq(g->s[0].status, OBS_STATUS_OK);
	cr_assert_not(g->s[0].flags & OBS_SPAN_HAS_TFLAGS);
	got_free(g);
	free(d);
}

Test(otlp, malformed_document_refused_rest_kept)
{
	char *good = span_doc(OKT);
	char *text;
	cr_assert_geq(asprintf(&text, "%s{\"resourceSpans\": [ oops\n\n%s{\"hello\":1}\n%s", good, good, good), 0);
	struct obs_otlp_result r;
	int rc;
	struct got *g = parse(text, 1, &r, &rc);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_eq(g->n, 3, "the three good documents are kept, got %zu", g->n);
	cr_assert_eq(g->nerr, 2);
	cr_assert_eq(g->errline[0], 2, "the broken document is on line 2, said %zu", g->errline[0]);
	cr_assert(strstr(g->errwhy[0], "invalid json"), "%s", g->errwhy[0]);
	cr_assert_eq(g->errline[1], 5);
	cr_assert(strstr(g->errwhy[1], "neither"), "%s", g->errwhy[1]);
	cr_assert_eq(r.rejected, 2);
	got_free(g);
	free(text);
	free(good);
}

Test(otlp, one_bad_span_refuses_its_whole_document)
{
	char *d;
	cr_assert_geq(asprintf(&d, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT "},{\"traceId\":\"zz\"}]}]}]}\n"), 0);
	int rc;
	struct got *g = parse(d, 1, NULL, &rc);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_eq(g->n, 0, "no span of a refused document is delivered");
	got_free(g);
	free(d);
}

Test(otlp, multiline_and_unfinished_documents)
{
	const char *pretty = "{\n  \"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\n"
			     "    \"traceId\": \"" TID "\", \"spanId\": \"" SID "\",\n"
			     "    \"startTimeUnixNano\": \"1\", \"endTimeUnixNano\": \"2\"}]}]}]\n}\n";
	int rc;
	struct obs_otlp_result r;
	struct got *g = parse(pretty, 1, &r, &rc);
	cr_assert_eq(rc, 0, "%s", g->nerr ? g->errwhy[0] : "");
	cr_assert_eq(g->n, 1);
	cr_assert_eq(r.consumed, strlen(pretty));
	got_free(g);
	/* cut in the middle: not final -> nothing consumed, nothing refused */
	char half[200];
	snprintf(half, sizeof half, "%.*s", (int)(strlen(pretty) / 2), pretty);
	g = parse(half, 0, &r, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(g->n, 0);
	cr_assert_eq(g->nerr, 0);
	cr_assert_eq(r.consumed, 0);
	got_free(g);
	/* a complete line then a partial one */
	char *good = span_doc(OKT), *two;
	cr_assert_geq(asprintf(&two, "%s{\"resourceSp", good), 0);
	g = parse(two, 0, &r, &rc);
	cr_assert_eq(g->n, 1);
	cr_assert_eq(r.consumed, strlen(good));
	got_free(g);
	/* final: the partial one is refused */
	g = parse(two, 1, &r, &rc);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_eq(g->n, 1);
	cr_assert_eq(g->nerr, 1);
	got_free(g);
	free(two);
	free(good);
}

Test(simple, json_lines_shape)
{
	const char *t =
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"parent_span_id\":\"\",\"service\":\"api\","
		"\"operation\":\"GET /\",\"start_time\":1700000000123,\"duration_ms\":12.5,\"status\":\"error\","
		"\"tags\":{\"http.status_code\":500,\"ok\":false,\"ratio\":0.25,\"who\":\"me\",\"l\":[1,2],\"o\":{\"a\":1},\"z\":null}}\n"
		"{\"trace_id\":\"d269b633813fc60c\",\"span_id\":\"" PID "\",\"parent_span_id\":\"" SID "\",\"service\":\"db\","
		"\"operation\":\"query\",\"start_time\":\"2023-11-14T22:13:20.200Z\",\"duration_ms\":1,\"status\":2}\n";
	int rc;
	struct got *g = parse(t, 1, NULL, &rc);
	cr_assert_eq(rc, 0, "%s", g->nerr ? g->errwhy[0] : "");
	cr_assert_eq(g->n, 2);
	struct obs_span *s = &g->s[0];
	cr_assert(obs_span_is_root(s));
	cr_assert_eq(s->start_ns, 1700000000123000000LL);
	cr_assert_eq(s->end_ns - s->start_ns, 12500000);
	cr_assert_eq(s->status, OBS_STATUS_ERROR);
	attr_is(s->attrs, "http.status_code", OBS_ATTR_INT, "500");
	attr_is(s->attrs, "ok", OBS_ATTR_BOOL, "false");
	attr_is(s->attrs, "ratio", OBS_ATTR_DOUBLE, "0.25");
	attr_is(s->attrs, "who", OBS_ATTR_STRING, "me");
	attr_is(s->attrs, "l", OBS_ATTR_ARRAY, "[1,2]");
	attr_is(s->attrs, "o", OBS_ATTR_KVLIST, "{\"a\":1}");
	attr_is(s->attrs, "z", OBS_ATTR_NULL, "");
	char h[33];
	obs_hex(g->s[1].trace_id, 16, h);
	cr_assert_str_eq(h, "0000000000000000d269b633813fc60c", "a 64-bit trace id is left-padded");
	cr_assert_eq(g->s[1].start_ns, 1700000000200000000LL, "RFC3339 start_time");
	cr_assert_eq(g->s[1].status, OBS_STATUS_ERROR, "status 2");
	got_free(g);
	g = parse("{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"start_time\":1,\"duration_ms\":1}\n", 1, NULL, &rc);
	cr_assert_eq(rc, -EINVAL);
	cr_assert(strstr(g->errwhy[0], "missing operation"), "%s", g->errwhy[0]);
	got_free(g);
	g = parse("{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"x\",\"start_time\":1,\"duration_ms\":-3}\n", 1, NULL, &rc);
	cr_assert_eq(rc, -EINVAL);
	cr_assert(strstr(g->errwhy[0], "duration_ms"), "%s", g->errwhy[0]);
	got_free(g);
}

Test(simple, json_line_reads_back_exactly)
{
	int rc;
	struct got *g = parse(otlp_doc, 1, NULL, &rc);
	cr_assert_eq(rc, 0);
	struct obs_buf j;
	obs_buf_init(&j);
	cr_assert_eq(obs_span_json(&g->s[0], &j), 0);
	struct got *g2 = parse(j.data, 1, NULL, &rc);
	cr_assert_eq(rc, 0, "our own line refused: %s\n%s", g2->nerr ? g2->errwhy[0] : "", j.data);
	cr_assert_eq(g2->n, 1);
	struct obs_buf j2;
	obs_buf_init(&j2);
	cr_assert_eq(obs_span_json(&g2->s[0], &j2), 0);
	/* bytes become strings on the way back; everything else is the same */
	cr_assert_str_eq(j2.data, j.data);
	cr_assert_eq(g2->s[0].start_ns, g->s[0].start_ns);
	cr_assert_eq(g2->s[0].end_ns, g->s[0].end_ns);
	cr_assert_eq(g2->s[0].trace_flags, 1);
	obs_buf_release(&j);
	obs_buf_release(&j2);
	got_free(g);
	got_free(g2);
}

Test(span, decode_refuses_damage)
{
	int rc;
	struct got *g = parse(otlp_doc, 1, NULL, &rc);
	cr_assert_eq(rc, 0);
	const uint8_t *b = (const uint8_t *)g->blobs[0].data;
	size_t n = g->blobs[0].len;
	struct obs_span s;
	for (size_t cut = 0; cut < n; cut++)
		cr_assert_eq(obs_span_decode(b, cut, &s), -EBADMSG, "a blob cut at %zu decoded", cut);
	uint8_t *c = malloc(n + 1);
	memcpy(c, b, n);
	c[n] = 0;
	cr_assert_eq(obs_span_decode(c, n + 1, &s), -EBADMSG, "trailing bytes");
	c[0] = 9;
	cr_assert_eq(obs_span_decode(c, n, &s), -EBADMSG, "version");
	free(c);
	got_free(g);
}

/* ---- the fast scanner against the jansson reference ------------------------------- */

#include "../fuzz/otlp_diff.h"
#include "traces/jscan.h"

static size_t diff_cases;

static void same_both(const char *p, size_t n, int final)
{
	char msg[600];
	diff_cases++;
	int rc = otlp_diff(p, n, final, msg, sizeof msg);
	cr_assert_eq(rc, 0, "input (%zu bytes, final %d) '%.*s': %s", n, final, (int)(n < 300 ? n : 300), p, msg);
}

static void same_all_finals(const char *p) { same_both(p, strlen(p), 1); same_both(p, strlen(p), 0); }

/* every strict prefix, every single-byte replacement from a set of bytes
 * that matter to JSON, every single-byte deletion */
static void mutate(const char *doc)
{
	static const char repl[] = "\"\\{}[],:0-1e. \n\tx\x80\xc3u\0";   /* NUL too: jansson skips one between tokens */
	size_t n = strlen(doc);
	char *m = malloc(n + 1);
	for (size_t cut = 0; cut < n; cut++) {
		same_both(doc, cut, 1);
		same_both(doc, cut, 0);
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t r = 0; r < sizeof repl - 1; r++) {
			if (doc[i] == repl[r])
				continue;
			memcpy(m, doc, n + 1);
			m[i] = repl[r];
			same_both(m, n, 1);
		}
		memcpy(m, doc, i);
		memcpy(m + i, doc + i + 1, n - i);
		same_both(m, n - 1, 1);
	}
	free(m);
}

static const char *simple_doc =
	"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"parent_span_id\":\"" PID "\",\"service\":\"api\","
	"\"operation\":\"GET /\",\"start_time\":1700000000123,\"duration_ms\":12.5,\"status\":\"error\",\"kind\":\"server\","
	"\"trace_flags\":1,\"tags\":{\"http.status_code\":500,\"ok\":false,\"r\":0.25,\"who\":\"m\\u00e9\",\"z\":null},"
	"\"resource\":{\"host\":\"a\"}}\n";

Test(diff, corpus_mutations_agree, .timeout = 600)
{
	diff_cases = 0;
	mutate(otlp_doc);
	mutate(simple_doc);
	char *two;
	cr_assert_geq(asprintf(&two, "%s\n  \n%s", otlp_doc, simple_doc), 0);
	same_all_finals(two);
	free(two);
	cr_assert_gt(diff_cases, 30000, "only %zu inputs compared", diff_cases);
}

Test(diff, anyvalues_escapes_numbers_agree)
{
	static const char *const vals[] = {
		"{\"stringValue\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\\b\\f\\r\"}", "{\"stringValue\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}",
		"{\"stringValue\":5}", "{\"stringValue\":null}", "{\"boolValue\":false}", "{\"boolValue\":\"true\"}",
		"{\"intValue\":\"9223372036854775807\"}", "{\"intValue\":\"-9223372036854775808\"}", "{\"intValue\":\"9223372036854775808\"}",
		"{\"intValue\":\" 12\"}", "{\"intValue\":\"+12\"}", "{\"intValue\":\"012\"}", "{\"intValue\":\"\"}", "{\"intValue\":12.0}",
		"{\"intValue\":1e3}", "{\"intValue\":-9223372036854775807}", "{\"intValue\":true}", "{\"intValue\":9.3e18}",
		"{\"doubleValue\":1e308}", "{\"doubleValue\":-0.0}", "{\"doubleValue\":\"Infinity\"}", "{\"doubleValue\":\"-Infinity\"}",
		"{\"doubleValue\":\"inf\"}", "{\"doubleValue\":\"0x1p3\"}", "{\"doubleValue\":\" 1.5\"}", "{\"doubleValue\":\"1.5 \"}",
		"{\"doubleValue\":0.1}", "{\"doubleValue\":123456789012345678}", "{\"doubleValue\":2.5e-320}", "{\"doubleValue\":null}",
		"{\"bytesValue\":\"aGVsbG8=\"}", "{\"bytesValue\":\"aGVsbA==\"}", "{\"bytesValue\":\"a=Vs\"}", "{\"bytesValue\":\"-_-_\"}",
		"{\"bytesValue\":7}", "{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\\u0001\"},{\"doubleValue\":\"NaN\"},{}, {\"bytesValue\":\"AA==\"}]}}",
		"{\"arrayValue\":{\"values\":[{\"arrayValue\":{\"values\":[{\"kvlistValue\":{\"values\":[{\"key\":\"x\"}]}}]}}]}}",
		"{\"arrayValue\":[]}", "{\"arrayValue\":{\"values\":{}}}", "{\"arrayValue\":{\"values\":null}}", "{\"arrayValue\":{\"values\":[1]}}",
		"{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":{\"intValue\":1}},{\"key\":\"b\\\"\",\"value\":{\"doubleValue\":\"Infinity\"}}]}}",
		"{\"kvlistValue\":{\"values\":[{\"value\":{}}]}}", "{\"kvlistValue\":{}}", "{\"kvlistValue\":5}",
		"{}", "null", "[]", "{\"unknown\":1}", "{\"intValue\":1,\"stringValue\":\"s\"}", "{\"stringValue\":\"a\",\"stringValue\":\"b\"}",
		"{\"string\\u0056alue\":\"escaped key\"}",
	};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		char *d;
		cr_assert_geq(asprintf(&d, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"r\",\"value\":%s}]},"
					   "\"scopeSpans\":[{\"spans\":[{" OKT ",\"attributes\":[{\"key\":\"k\",\"value\":%s}],"
					   "\"events\":[{\"name\":\"e\",\"attributes\":[{\"key\":\"k\",\"value\":%s}]}]}]}]}]}\n",
				   vals[i], vals[i], vals[i]), 0);
		same_all_finals(d);
		free(d);
	}
	/* deep nesting: jansson's limit is 2048 values deep */
	for (int depth = 2040; depth <= 2052; depth += 4) {
		struct obs_buf b;
		obs_buf_init(&b);
		obs_buf_puts(&b, "{\"resourceSpans\":[],\"x\":");
		for (int i = 0; i < depth; i++)
			obs_buf_putc(&b, '[');
		obs_buf_putc(&b, '1');
		for (int i = 0; i < depth; i++)
			obs_buf_putc(&b, ']');
		obs_buf_puts(&b, "}\n");
		same_both(b.data, b.len, 1);
		obs_buf_release(&b);
	}
}

Test(diff, fields_and_shapes_agree)
{
	static const char *const docs[] = {
		/* times, kinds, status, flags, ids */
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"startTimeUnixNano\":1.5e9,\"endTimeUnixNano\":2e9}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"startTimeUnixNano\":\"18446744073709551615\"}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"startTimeUnixNano\":18446744073709551615}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"endTimeUnixNano\":9223372036854775807}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"kind\":\"internal\",\"status\":{\"code\":\"Error\",\"message\":\"m\\u00e9\"}}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"kind\":null}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"kind\":2.0}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"status\":{\"code\":null}}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"status\":[]}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"flags\":4294967296}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"flags\":\"769\",\"traceState\":\"k=v\"}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"name\":7}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"parentSpanId\":\"0000000000000000\"}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"parentSpanId\":5}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"traceId\":\"D269B633813FC60C\"}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"traceId\":\"5b8efff798038103d269b633813fc60\\u0063\"}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"spanId\":\"this is not a hex span id at all, forty+ chars\"}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"events\":{}}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"events\":[],\"links\":[]}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"events\":[1]}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"events\":[{\"timeUnixNano\":\"x\"}]}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"links\":[{\"traceId\":\"" TID "\"}]}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"links\":[{\"traceId\":\"" TID "\",\"spanId\":\"" SID "\",\"attributes\":[{\"key\":\"a\",\"value\":{\"boolValue\":true}}]},{\"traceId\":\"" TID "\",\"spanId\":\"" PID "\"}]}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"attributes\":{}}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"attributes\":[{\"key\":\"a\",\"value\":null}]}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"attributes\":[{\"key\":\"a\"},{\"key\":\"a\",\"key\":\"b\",\"value\":{}}]}]}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT "},{" OKT ",\"spanId\":\"" PID "\"}]}]}]}",
		/* structure */
		"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"a\"}},"
		"{\"key\":\"service.name\",\"value\":{\"stringValue\":\"b\"}},{\"key\":\"service.name\",\"value\":{\"intValue\":1}}]},"
		"\"instrumentationLibrarySpans\":[{\"instrumentationLibrary\":{\"name\":\"old\"},\"spans\":[{" OKT "}]}]}]}",
		"{\"resourceSpans\":[{\"resource\":{\"attributes\":{}},\"scopeSpans\":[]}]}",
		"{\"resourceSpans\":[{\"resource\":[],\"scopeSpans\":null}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":{\"name\":5},\"spans\":{}}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[3]}]}", "{\"resourceSpans\":[3]}", "{\"resourceSpans\":{}}",
		"{\"resourceSpans\":null}", "{\"resourceSpans\":[],\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT "}]}]}]}",
		"[{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT "}]}]}]},{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":2}]",
		"[1]", "[]", "[{\"x\":1}]", "{\"x\":1}", "{}", "\"str\"", "5", "nul", "{\"a\":1} x", "{\"a\":1}{", "{\"a\":\"\\u0000\"}",
		"{\"a\":\"\\ud800\"}", "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\x01\"}", "{\"a\":\"\xc0\xaf\"}",
		"{\"a\":\"\xed\xa0\x80\"}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":1e}", "{\"a\":9223372036854775808}",
		"{\"a\":-9223372036854775809}", "{\"a\":1e400}", "{\"a\":-1e400}", "{\"a\":1e-400}", "{\"a\":tru}", "{\"a\":True}",
		"{\"a\":[1,]}", "{\"a\":1,}", "{,}", "{\"a\" 1}", "\xef\xbb\xbf{}",
		/* the simple shape */
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"name\":\"n\",\"start_time\":\"2023-11-14T22:13:20Z\",\"end_time_unix_nano\":\"1700000000000000001\"}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":\"yesterday\",\"duration_ms\":1}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1.0000005,\"duration_ms\":0.0000004}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":-1,\"duration_ms\":1}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":true,\"duration_ms\":1}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time_unix_nano\":5,\"end_time_unix_nano\":4}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":\"1\"}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":9223372036854,\"duration_ms\":9223372036854}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"error\":true,\"trace_flags\":256}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"status\":\"STATUS_CODE_OK\",\"kind\":7}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"tags\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\"},{\"value\":2}]}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"tags\":{\"a\":1,\"b\":2,\"a\":\"x\"}}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"tags\":\"x\"}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"tags\":null,\"resource\":5}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"tags\":{\"l\":[1,2.50,\"x\\u00e9\"],\"o\":{\"a\":{\"b\":null}}}}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"events\":[{\"name\":\"e\",\"t\":1.5}],\"links\":[]}",
		"{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,\"duration_ms\":1,\"events\":[{\"name\":\"e\"}],\"kind\":99}",
		"{\"trace_id\":null,\"span_id\":\"" SID "\"}", "{\"trace_id\":[],\"span_id\":\"" SID "\"}",
		/* several lines, pretty-printed, unfinished */
		"{\n \"resourceSpans\": [{\n  \"scopeSpans\": [{\"spans\": [{" OKT "}]}]\n }]\n}\n{\"resourceSpans\":[]}\n",
		"{\n \"resourceSpans\": [\n", "{\n \"resourceSpans\": [] } x\n{}", "{\n \"a\": \"\xc3", "{\n \"a\": \"x\ny\"}\n",
		"{\"a\":\n1}\n\n  {\"b\":\n", "  \t\r\n\r\n", "{\"resourceSpans\":[]}\r\n{\"resourceSpans\":[]}",
	};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
		same_all_finals(docs[i]);
}

Test(diff, declined_documents_still_parse)
{
	/* nested simple-shape tags are serialized by jansson: the fast path declines */
	const char *t = "{\"trace_id\":\"" TID "\",\"span_id\":\"" SID "\",\"operation\":\"o\",\"start_time\":1,"
			"\"duration_ms\":1,\"tags\":{\"l\":[1,2]}}\n";
	int rc;
	struct got *g = parse(t, 1, NULL, &rc);
	cr_assert_eq(rc, 0);
	cr_assert_eq(g->n, 1);
	attr_is(g->s[0].attrs, "l", OBS_ATTR_ARRAY, "[1,2]");
	got_free(g);
}

Test(jscan, premature_and_invalid_like_jansson)
{
	static const struct { const char *in; int want; } c[] = {
		{ "{", JS_PREMATURE }, { "{\"a\"", JS_PREMATURE }, { "{\"a\":", JS_PREMATURE }, { "{\"a\":1", JS_PREMATURE },
		{ "{\"a\":\"xy", JS_PREMATURE }, { "[1,", JS_PREMATURE }, { "", JS_PREMATURE }, { "{\"a\":tr", JS_INVALID },
		{ "{\"a\":1.", JS_INVALID }, { "{\"a\":-", JS_INVALID }, { "{\"a\":\"x\\", JS_INVALID }, { "{\"a\":\"\\u12", JS_INVALID },
		{ "{\"a\":\"\xc3", JS_INVALID }, { "{\"a\":true", JS_PREMATURE }, { "{\"a\":\"\\ud800", JS_PREMATURE },
		{ "{\"a\":\"\\ud800\"}", JS_INVALID }, { "{\"a\":\"\\ud83d\\ude00\"}", JS_OK }, { "[]", JS_OK }, { "{} ", JS_OK },
		{ "{} x", JS_INVALID }, { "1", JS_INVALID }, { "{\"a\":1e5}", JS_OK }, { "{\"a\":1E+5}", JS_OK },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		size_t end;
		char why[100];
		int v = js_validate(c[i].in, strlen(c[i].in), 1, &end, why, sizeof why, NULL);
		cr_assert_eq(v, c[i].want, "'%s': %d, want %d (%s)", c[i].in, v, c[i].want, why);
		same_both(c[i].in, strlen(c[i].in), 1);
		same_both(c[i].in, strlen(c[i].in), 0);
	}
}

/* jscan scans plain string bytes 8 at a time: a byte that ends the run
 * (control, non-ASCII, quote, backslash) is found at every offset of a
 * long string, exactly where jansson finds it */
Test(diff, string_bytes_at_every_offset_agree)
{
	static const char *const specials[] = { "\x01", "\x1f", "\\\"", "\\\\", "\x7f", " ", "\xc3\xa9", "\xff",
						"\x80", "\\u0041", "\\n", "\xe2\x82", "\xf0\x9f\x98\x80" };
	for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++)
		for (int at = 0; at < 19; at++) {
			char val[64];
			snprintf(val, sizeof val, "%.*s%s%.*s", at, "abcdefghijklmnopqrstuvwxyz", specials[s], 19 - at,
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
			char *d;
			cr_assert_geq(asprintf(&d, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" OKT ",\"name\":\"%s\","
						   "\"attributes\":[{\"key\":\"%s\",\"value\":{\"stringValue\":\"%s\"}}]}]}]}]}\n",
					       val, val, val), 0);
			same_all_finals(d);
			free(d);
		}
}
