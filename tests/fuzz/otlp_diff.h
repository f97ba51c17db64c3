/* otlp_diff.h — differential checks of the span parsers, shared by
 * tests/unit/test_traces_parse.c, tests/unit/test_traces_pool.c and
 * tests/fuzz/fuzz_otlp.c.
 *
 * otlp_diff: the fast zero-tree parser (obs_otlp_parse) and the jansson
 * reference (obs_otlp_parse_ref) run on the same bytes must return the same
 * code and result counts, deliver byte-identical span encodings in the same
 * order, and refuse the same documents (same line number, same line, same
 * reason; for JSON syntax errors only "invalid json" is compared, the text
 * after it is each parser's own).
 *
 * otlp_diff_pool: the serial parse and the parse on a pool's threads
 * (obs_otlp_parse_pool) must agree on all of that, every reason in full,
 * also when the span callback stops the parse after stop_after spans
 * (-ECANCELED; -1: never). */
#ifndef OBS_TESTS_OTLP_DIFF_H
#define OBS_TESTS_OTLP_DIFF_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "traces/otlp.h"

struct otlp_trace { struct obs_buf log; int exact; long stop_after; };

static inline int otlp_trace_span(void *ctx, const struct obs_span *s, const uint8_t *blob, size_t n)
{
	struct otlp_trace *t = ctx;
	(void)s;
	if (t->stop_after >= 0 && t->stop_after-- == 0)
		return -ECANCELED;
	obs_buf_printf(&t->log, "S %zu:", n);
	obs_buf_append(&t->log, blob, n);
	obs_buf_putc(&t->log, '\n');
	return 0;
}

static inline void otlp_trace_err(void *ctx, size_t lineno, const char *line, size_t n, const char *why)
{
	struct otlp_trace *t = ctx;
	obs_buf_printf(&t->log, "E %zu %zu:", lineno, n);
	obs_buf_append(&t->log, line, n);
	if (!t->exact && !strncmp(why, "invalid json: ", 14))
		obs_buf_puts(&t->log, " why invalid json\n");
	else
		obs_buf_printf(&t->log, " why %s\n", why);
}

/* Run obs_otlp_parse (a) and, as b, obs_otlp_parse_pool on pool or (NULL)
 * the reference on p[0..n); 0 when their logs are the same, else -1 with
 * the first difference in msg. */
static inline int otlp_diff_run(struct obs_otlp_pool *pool, const char *names, int exact, long stop_after,
				const char *p, size_t n, int final, char *msg, size_t msgn)
{
	struct otlp_trace a = { { 0 }, exact, stop_after }, b = { { 0 }, exact, stop_after };
	struct obs_otlp_result ra, rb;
	obs_buf_init(&a.log);
	obs_buf_init(&b.log);
	int rca = obs_otlp_parse(p, n, final, 1, otlp_trace_span, otlp_trace_err, &a, &ra);
	int rcb = pool ? obs_otlp_parse_pool(pool, p, n, final, 1, otlp_trace_span, otlp_trace_err, &b, &rb)
		       : obs_otlp_parse_ref(p, n, final, 1, otlp_trace_span, otlp_trace_err, &b, &rb);
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
		snprintf(msg, msgn, "%s differ at byte %zu of their logs:\n a: %.160s\n b: %.160s", names, i,
			 a.log.data + from, b.log.data + from);
	}
	obs_buf_release(&a.log);
	obs_buf_release(&b.log);
	return same ? 0 : -1;
}

static inline int otlp_diff(const char *p, size_t n, int final, char *msg, size_t msgn)
{
	return otlp_diff_run(NULL, "fast (a) and jansson (b)", 0, -1, p, n, final, msg, msgn);
}

static inline int otlp_diff_pool(struct obs_otlp_pool *pool, long stop_after, const char *p, size_t n, int final,
				 char *msg, size_t msgn)
{
	return otlp_diff_run(pool, "serial (a) and pooled (b)", 1, stop_after, p, n, final, msg, msgn);
}

#endif
