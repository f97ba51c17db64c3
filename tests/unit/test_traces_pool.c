/* test_traces_pool.c — span parsing on several threads (obs_otlp_parse_pool)
 * gives exactly the serial parse: the same spans in the same order, the
 * same refusals with their line numbers, lines and reasons, the same
 * counts, consumed bytes and return, on documents with errors, multi-line
 * documents over a cut, unfinished ones, and a callback that stops it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "traces/otlp.h"

#include "../fuzz/otlp_diff.h"

/* Parse text[0..n) serially and on pool; assert the same calls and result. */
static void same(struct obs_otlp_pool *pool, const char *text, size_t n, int final, long stop_after)
{
	char msg[600];
	int rc = otlp_diff_pool(pool, stop_after, text, n, final, msg, sizeof msg);
	cr_assert_eq(rc, 0, "n=%zu final=%d stop=%ld: %s", n, final, stop_after, msg);
}

static unsigned long long seed = 12345;

static unsigned rnd(unsigned m)
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((seed >> 33) % m);
}

static void span_json(struct obs_buf *b, unsigned t, unsigned s, int bad)
{
	obs_buf_printf(b,
		       "{\"traceId\":\"%032x\",\"spanId\":\"%016x\",\"parentSpanId\":\"%s\",\"name\":\"op%u\",\"kind\":2,"
		       "\"startTimeUnixNano\":\"%u000\",\"endTimeUnixNano\":\"%u000\",\"attributes\":[{\"key\":\"k\","
		       "\"value\":{\"intValue\":\"%u\"}},{\"key\":\"e\",\"value\":{\"stringValue\":\"a\\u00e9\\n\"}}],"
		       "\"status\":{\"code\":%u}}",
		       t + 1, s + 1, s ? "00000000000000aa" : "", s, 5000 + s, bad ? 4000 : 6000 + s, s, s % 3);
}

/* One line (or several: a pretty-printed document) of mixed input. */
static void one_line(struct obs_buf *b, unsigned i)
{
	unsigned k = rnd(12), nsp = 1 + rnd(6);
	switch (k) {
	case 0:
		obs_buf_puts(b, "\n");   /* blank */
		return;
	case 1:
		obs_buf_puts(b, "  \t\r\n");
		return;
	case 2:   /* JSON syntax error */
		obs_buf_puts(b, "{\"resourceSpans\":[{\"scopeSpans\":[}]}\n");
		return;
	case 3:   /* unfinished on its line: tried as a multi-line document over what follows */
		obs_buf_puts(b, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[\n");
		return;
	case 4: {   /* a pretty-printed document over several lines */
		obs_buf_puts(b, "{\"resourceSpans\":[\n {\"scopeSpans\":[{\"spans\":[\n");
		for (unsigned s = 0; s < nsp; s++) {
			if (s)
				obs_buf_puts(b, ",\n  ");
			span_json(b, i, s, 0);
		}
		obs_buf_puts(b, "\n]}]}\n]}\n");
		return;
	}
	case 5:   /* the simple shape */
		obs_buf_printf(b, "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"operation\":\"simple%u\",\"start_time\":%u,"
			       "\"duration_ms\":2.5,\"tags\":{\"a\":1,\"b\":\"x\"}}\r\n", i + 1, i + 1, i, 1000 + i);
		return;
	case 6:   /* the simple shape, declined to jansson (an array tag) */
		obs_buf_printf(b, "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"operation\":\"tags\",\"start_time\":%u,"
			       "\"duration_ms\":1,\"tags\":{\"a\":[1,{\"b\":2}]}}\n", i + 1, i + 2, i);
		return;
	case 7:   /* a field error in the last span: the whole document refused */
	default: {
		obs_buf_printf(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
			       "{\"stringValue\":\"svc%u\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"lib\"},\"spans\":[",
			       i % 5);
		for (unsigned s = 0; s < nsp; s++) {
			if (s)
				obs_buf_putc(b, ',');
			span_json(b, i, s, k == 7 && s == nsp - 1);
		}
		obs_buf_puts(b, "]}]}]}\n");
		return;
	}
	}
}

static void mixed(struct obs_buf *b, unsigned lines)
{
	for (unsigned i = 0; i < lines; i++)
		one_line(b, i);
}

Test(pool, the_same_as_serial_at_every_cut)
{
	struct obs_buf text;
	obs_buf_init(&text);
	mixed(&text, 60);
	int threads[] = { 2, 3, 4 };
	size_t pieces[] = { 1, 13, 100, 700, 3000 };
	for (size_t t = 0; t < 3; t++)
		for (size_t m = 0; m < 5; m++) {
			struct obs_otlp_pool *pool;
			cr_assert_eq(obs_otlp_pool_new(threads[t], pieces[m], &pool), 0);
			/* whole, and cut short at many places (an unfinished last line) */
			for (size_t n = text.len; n > text.len / 3; n -= 1 + text.len / 41)
				for (int final = 0; final < 2; final++)
					same(pool, text.data, n, final, -1);
			cr_assert_gt(obs_otlp_pool_pieces(pool), 0, "the workers parsed nothing");
			obs_otlp_pool_free(pool);
		}
	obs_buf_release(&text);
}

Test(pool, a_callback_that_stops_stops_at_the_same_span)
{
	struct obs_buf text;
	obs_buf_init(&text);
	mixed(&text, 80);
	struct obs_otlp_pool *pool;
	cr_assert_eq(obs_otlp_pool_new(3, 200, &pool), 0);
	for (long stop = 0; stop < 200; stop += 3)
		same(pool, text.data, text.len, 1, stop);
	obs_otlp_pool_free(pool);
	obs_buf_release(&text);
}

Test(pool, small_buffers_and_no_pool_parse_serially)
{
	const char *t = "{\"trace_id\":\"0102\",\"span_id\":\"03\",\"operation\":\"x\",\"start_time\":1,\"duration_ms\":1}\n";
	struct obs_otlp_pool *pool;
	cr_assert_eq(obs_otlp_pool_new(2, 0, &pool), 0);
	same(pool, t, strlen(t), 1, -1);
	cr_assert_eq(obs_otlp_pool_pieces(pool), 0);
	obs_otlp_pool_free(pool);
	cr_assert_eq(obs_otlp_pool_new(1, 0, &pool), 0);   /* no workers */
	same(pool, t, strlen(t), 1, -1);
	obs_otlp_pool_free(pool);
	obs_otlp_pool_free(NULL);
}
