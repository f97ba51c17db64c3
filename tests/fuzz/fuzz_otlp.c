// sources: lib/traces/otlp.c lib/traces/otlp_fast.c lib/traces/otlp_pool.c lib/traces/jscan.c lib/traces/simple.c lib/traces/span.c lib/traces/policy.c lib/traces/tquery.c lib/traces/waterfall.c lib/core/buf.c lib/core/obstime.c lib/core/regex.c
/* fuzz_otlp.c — libFuzzer harness for the span input parsers, the span
 * encoding, the tail-sampling policy parser and the trace search query
 * parser. The first input byte picks the target:
 *   0..3  OTLP/JSON or JSON lines (final / not final): parse returns 0,
 *         -EINVAL or -ENOMEM, consumed <= length; every delivered span's
 *         encoding decodes back to the same view, its JSON line parses
 *         again to one span, and the waterfall of the spans renders;
 *   4     span decoding of raw bytes: 0 or -EBADMSG, attributes iterate;
 *   5     a policy text: 0 or -EINVAL with a "line N: " message; a parsed
 *         set decides a trace;
 *   6     a search query: 0 or -EINVAL;
 *   7..8  differential: the fast zero-tree parser and the jansson
 *         reference (final / not final) give the same return, counts,
 *         span encodings and refusals (otlp_diff.h), else abort;
 *   9..10 differential: the serial parse and the parse on 2 or 4 threads
 *         cutting after newlines every few bytes (final / not final; the
 *         span callback stopping after a number of spans the second byte
 *         picks) hand out exactly the same (otlp_diff_pool), else abort. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "traces/otlp.h"
#include "traces/policy.h"
#include "traces/span.h"
#include "traces/tquery.h"
#include "traces/waterfall.h"
#include "otlp_diff.h"

#define MAXS 64
struct acc { struct obs_buf blobs[MAXS]; size_t n; };

static int again(void *ctx, const struct obs_span *s, const uint8_t *b, size_t n)
{
	(*(int *)ctx)++;
	return 0;
}

static int on_span(void *ctx, const struct obs_span *s, const uint8_t *blob, size_t n)
{
	struct acc *a = ctx;
	struct obs_span d;
	if (obs_span_decode(blob, n, &d))
		abort();
	if (d.start_ns != s->start_ns || d.end_ns != s->end_ns || d.end_ns < d.start_ns ||
	    memcmp(d.trace_id, s->trace_id, 16) || d.name.n != s->name.n || d.attrs.n != s->attrs.n)
		abort();
	struct obs_buf j;
	obs_buf_init(&j);
	if (obs_span_json(&d, &j))
		abort();
	int cnt = 0;
	struct obs_otlp_result r;
	if (obs_otlp_parse(j.data, j.len, 1, 1, again, NULL, &cnt, &r) || cnt != 1)
		abort();   /* our own line must read back as one span */
	obs_buf_release(&j);
	if (a->n < MAXS) {
		obs_buf_init(&a->blobs[a->n]);
		obs_buf_append(&a->blobs[a->n], blob, n);
		a->n++;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	int which = data[0] % 11;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	if (which <= 3) {
		struct acc a = { .n = 0 };
		struct obs_otlp_result r;
		int rc = obs_otlp_parse(p, n, which & 1, 1, on_span, NULL, &a, &r);
		if (rc && rc != -EINVAL && rc != -ENOMEM)
			abort();
		if (r.consumed > n)
			abort();
		struct obs_span sp[MAXS];
		size_t k = 0;
		for (size_t i = 0; i < a.n; i++)
			if (!obs_span_decode((const uint8_t *)a.blobs[i].data, a.blobs[i].len, &sp[k]))
				k++;
		struct obs_buf w;
		obs_buf_init(&w);
		obs_waterfall(sp, k, 30, OBS_TIME_RFC3339, &w);
		struct obs_trace_summary s;
		obs_trace_summarize(sp, k, &s);
		if (k)
			obs_trace_summary_line(&s, OBS_TIME_RFC3339, &w);
		obs_buf_release(&w);
		for (size_t i = 0; i < a.n; i++)
			obs_buf_release(&a.blobs[i]);
	} else if (which == 4) {
		struct obs_span s;
		if (!obs_span_decode((const uint8_t *)p, n, &s)) {
			size_t pos = 0;
			struct obs_attr at;
			while (obs_attr_next(s.attrs, &pos, &at) == 1)
				;
			struct obs_buf j;
			obs_buf_init(&j);
			obs_span_json(&s, &j);
			obs_buf_release(&j);
		}
	} else if (which == 5) {
		char err[200] = "";
		struct obs_policy_set *ps;
		int rc = obs_policy_parse(p, n, &ps, err, sizeof err);
		if (rc == -EINVAL && strncmp(err, "line ", 5))
			abort();
		if (!rc) {
			struct obs_span s;
			memset(&s, 0, sizeof s);
			s.trace_id[0] = 1;
			s.end_ns = 1500000000;
			s.service = s.name = (struct obs_str){ "x", 1 };
			const char *by;
			obs_policy_decide(ps, s.trace_id, &s, 1, 1000, &by);
			obs_policy_free(ps);
		}
	} else if (which >= 9) {
		static struct obs_otlp_pool *pools[2];
		int k = n && (p[0] & 1);
		if (!pools[k] && obs_otlp_pool_new(k ? 4 : 2, k ? 5 : 1, &pools[k]))
			abort();
		long stop = n && (p[0] & 6) == 6 ? (unsigned char)p[0] >> 3 : -1;
		if (otlp_diff_pool(pools[k], stop, p, n, which == 9, NULL, 0))
			abort();
	} else if (which >= 7) {
		if (otlp_diff(p, n, which == 7, NULL, 0))
			abort();
	} else {
		struct obs_tq q;
		char err[160];
		int rc = obs_tq_parse(p, n, &q, err, sizeof err);
		if (rc && rc != -EINVAL && rc != -ENOMEM)
			abort();
		if (!rc)
			obs_tq_release(&q);
	}
	return 0;
}
