/* otlp_diff.h — the differential check of the span parsers, shared by
 * tests/unit/test_traces_parse.c and tests/fuzz/fuzz_otlp.c: the fast
 * zero-tree parser (obs_otlp_parse) and the jansson reference
 * (obs_otlp_parse_ref) run on the same bytes must return the same code and
 * result counts, deliver byte-identical span encodings in the same order,
 * and refuse the same documents (same line number, same line, same reason;
 * for JSON syntax errors only "invalid json" is compared, the text after it
 * is each parser's own). */
#ifndef OBS_TESTS_OTLP_DIFF_H
#define OBS_TESTS_OTLP_DIFF_H

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "traces/otlp.h"

struct otlp_trace { struct obs_buf log; };

static int otlp_trace_span(void *ctx, const struct obs_span *s, const uint8_t *blob, size_t n)
{
	struct otlp_trace *t = ctx;
	(void)s;
	obs_buf_printf(&t->log, "S %zu:", n);
	obs_buf_append(&t->log, blob, n);
	obs_buf_putc(&t->log, '\n');
	return 0;
}

static void otlp_trace_err(void *ctx, size_t lineno, const char *line, size_t n, const char *why)
{
	struct otlp_trace *t = ctx;
	obs_buf_printf(&t->log, "E %zu %zu:", lineno, n);
	obs_buf_append(&t->log, line, n);
	if (!strncmp(why, "invalid json: ", 14))
		obs_buf_puts(&t->log, " why invalid json\n");
	else
		obs_buf_printf(&t->log, " why %s\n", why);
}

/* Run both parsers on p[0..n); 0 when they agree, else -1 with a
 * description of the first difference in msg. */
static int otlp_diff(const char *p, size_t n, int final, char *msg, size_t msgn)
{
	struct otlp_trace a, b;
	struct obs_otlp_result ra, rb;
	obs_buf_init(&a.log);
	obs_buf_init(&b.log);
	int rca = obs_otlp_parse(p, n, final, 1, otlp_trace_span, otlp_trace_err, &a, &ra);
	int rcb = obs_otlp_parse_ref(p, n, final, 1, otlp_trace_span, otlp_trace_err, &b, &rb);
	obs_buf_printf(&a.log, "R %d %llu %llu %llu %zu %zu\n", rca, (unsigned long long)ra.docs,
		       (unsigned long long)ra.spans, (unsigned long long)ra.rejected, ra.consumed, ra.lines);
	obs_buf_printf(&b.log, "R %d %llu %llu %llu %zu %zu\n", rcb, (unsigned long long)rb.docs,
		       (unsigned long long)rb.spans, (unsigned long long)rb.rejected, rb.consumed, rb.lines);
	int same = a.log.len == b.log.len && !memcmp(a.log.data, b.log.data, a.log.len);
	if (!same && msgn) {
		size_t i = 0;
		while (i < a.log.len && i < b.log.len && a.log.data[i] == b.log.data[i])
			i++;
		size_t from = i > 60 ? i - 60 : 0;
		snprintf(msg, msgn, "fast and jansson differ at byte %zu of their logs:\n fast:    %.160s\n jansson: %.160s", i,
			 a.log.data + from, b.log.data + from);
	}
	obs_buf_release(&a.log);
	obs_buf_release(&b.log);
	return same ? 0 : -1;
}

#endif
