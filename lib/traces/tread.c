/* tread.c — reading the kept traces of a struct obs_traces (libobs
 * traces): a trace's spans as JSON lines and its waterfall, search lines,
 * stats and the status lines. See traces.h. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "traces/span.h"
#include "traces/tquery.h"
#include "traces/traces_int.h"
#include "traces/waterfall.h"

/* ---- reading ------------------------------------------------------------------------------- */

static int span_start_cmp(const void *x, const void *y)
{
	const struct obs_span *a = x, *b = y;
	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return memcmp(a->span_id, b->span_id, 8);
}

/* The spans of a kept trace, decoded (views into *raw), sorted by start. */
static int load(struct obs_traces *t, const uint8_t id[16], struct obs_buf *raw, struct obs_span **sp, size_t *n)
{
	size_t cnt;
	int rc = obs_tstore_get(t->store, id, raw, &cnt);
	if (rc)
		return rc;
	*sp = malloc((cnt ? cnt : 1) * sizeof **sp);
	if (!*sp)
		return -ENOMEM;
	size_t pos = 0, k = 0;
	for (size_t i = 0; i < cnt; i++) {
		uint32_t l;
		memcpy(&l, raw->data + pos, 4);
		if (!obs_span_decode((const uint8_t *)raw->data + pos + 4, l, &(*sp)[k]))
			k++;
		pos += 4 + l;
	}
	qsort(*sp, k, sizeof **sp, span_start_cmp);
	*n = k;
	return 0;
}

int obs_traces_json(struct obs_traces *t, const uint8_t id[16], struct obs_buf *out)
{
	struct obs_buf raw;
	struct obs_span *sp = NULL;
	size_t n = 0;
	obs_buf_init(&raw);
	int rc = load(t, id, &raw, &sp, &n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = obs_span_json(&sp[i], out);
	free(sp);
	obs_buf_release(&raw);
	return rc;
}

int obs_traces_tree(struct obs_traces *t, const uint8_t id[16], int width, enum obs_time_fmt tf, struct obs_buf *out)
{
	struct obs_buf raw;
	struct obs_span *sp = NULL;
	size_t n = 0;
	obs_buf_init(&raw);
	int rc = load(t, id, &raw, &sp, &n);
	if (!rc)
		rc = obs_waterfall(sp, n, width, tf, out);
	free(sp);
	obs_buf_release(&raw);
	return rc;
}

struct sctx { struct obs_buf *out; enum obs_time_fmt tf; };

static int search_line(void *ctx, const struct obs_tstore_hit *h)
{
	struct sctx *c = ctx;
	struct obs_trace_summary s;
	memset(&s, 0, sizeof s);
	memcpy(s.trace_id, h->trace_id, 16);
	s.start_ns = h->start_ns;
	s.end_ns = h->end_ns;
	s.nspans = h->nspans;
	s.nerrors = h->nerrors;
	s.root_service = (struct obs_str){ h->root_service, strlen(h->root_service) };
	s.root_name = (struct obs_str){ h->root_name, strlen(h->root_name) };
	return obs_trace_summary_line(&s, c->tf, c->out);
}

int obs_traces_search(struct obs_traces *t, const char *q, size_t qn, int64_t from_ms, int64_t to_ms,
		      enum obs_time_fmt tf, struct obs_buf *out, char *err, size_t errlen)
{
	struct obs_tq tq;
	int rc = obs_tq_parse(q, qn, &tq, err, errlen);
	if (rc)
		return rc;
	struct sctx c = { out, tf };
	rc = obs_tstore_search(t->store, &tq, from_ms, to_ms, search_line, &c);
	obs_tq_release(&tq);
	return rc;
}

struct obs_tstore *obs_traces_store(struct obs_traces *t) { return t->store; }

void obs_traces_get_stats(struct obs_traces *t, struct obs_traces_stats *st)
{
	struct obs_tasm_stats as;
	pthread_mutex_lock(&t->mu);
	obs_tasm_get_stats(t->as, &as);
	*st = t->st;
	st->red_series = t->red ? obs_red_series(t->red) : 0;
	pthread_mutex_unlock(&t->mu);
	st->buffered_traces = as.buffered_traces;
	st->buffered_spans = as.buffered_spans;
	st->buffered_bytes = as.buffered_bytes;
	st->kept_traces = as.kept_traces;
	st->kept_spans = as.kept_spans;
	st->dropped_by_policy = as.dropped_by_policy;
	st->dropped_by_policy_spans = as.dropped_by_policy_spans;
	st->dropped_too_early = as.dropped_too_early;
	st->dropped_too_early_spans = as.dropped_too_early_spans;
	st->late_spans = as.late_spans;
	obs_tstore_get_stats(t->store, &st->store);
}

int obs_traces_status(struct obs_traces *t, struct obs_buf *out)
{
	struct obs_traces_stats s;
	obs_traces_get_stats(t, &s);
	unsigned long long sp = s.store.spans;
	return obs_buf_printf(out,
			      "traces_buffered    %" PRIu64 " (%" PRIu64 " spans, %" PRIu64 " bytes, %.1f bytes/span)\n"
			      "traces_kept        %" PRIu64 " (%" PRIu64 " spans)\n"
			      "traces_dropped_by_policy %" PRIu64 " (%" PRIu64 " spans)\n"
			      "traces_dropped_too_early %" PRIu64 " (%" PRIu64 " spans)\n"
			      "traces_late_spans  %" PRIu64 "\n"
			      "traces_spans_ingested %" PRIu64 "\n"
			      "traces_docs_rejected %" PRIu64 "\n"
			      "traces_stored      %" PRIu64 " (%llu spans, %" PRIu64 " segments, %" PRIu64 " bytes, %.1f bytes/span)\n"
			      "traces_red_series  %" PRIu64 "\n",
			      s.buffered_traces, s.buffered_spans, s.buffered_bytes,
			      s.buffered_spans ? (double)s.buffered_bytes / (double)s.buffered_spans : 0.0, s.kept_traces,
			      s.kept_spans, s.dropped_by_policy, s.dropped_by_policy_spans, s.dropped_too_early,
			      s.dropped_too_early_spans, s.late_spans, s.spans_ingested, s.docs_rejected, s.store.traces, sp,
			      s.store.segments, s.store.disk_bytes,
			      sp ? (double)(s.store.disk_bytes + s.store.open_bytes) / (double)sp : 0.0, s.red_series);
}
