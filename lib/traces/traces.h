/* traces.h — the trace store as obsfsd uses it (libobs traces): span
 * ingest (OTLP/JSON and simple JSON lines), a write-ahead log so kill -9
 * loses nothing a write accepted, assembly and tail sampling, the segment
 * store of kept traces, and RED metrics per service and operation written
 * into the metrics store (from every span, sampled or not).
 *
 * Directory DIR (DATADIR/traces): wal/ (the journal, lib/core/wal.h), the
 * segments (tstore.h) and policy (the current policy text). Journal
 * records (type byte, payload):
 *   1 SPANS     (uvarint length, span encoding)*      spans a write accepted
 *   2 DECISIONS (16 trace id, u8 keep)*               decisions taken
 *   3 CARRY     u64 handle, bytes                      an open file's unfinished
 *                                                      document (none: cleared)
 *   4 CARRY_ADD u64 handle, bytes                      more of it: appended to
 *                                                      the handle's carry
 * A big document arrives in many writes: each journals only its new bytes
 * (CARRY_ADD), so the journal grows by the document's size, not by the
 * square of it; CARRY starts a carry afresh (journals before CARRY_ADD have
 * only CARRY, and replay alike). Replay re-buffers spans, applies the
 * decisions (kept spans go to the store, skipping spans a segment already
 * holds) and ingests carries left set as complete input. A checkpoint flushes the open segment, cuts the
 * journal and relogs what is still only in memory (decisions, buffered
 * spans, carries) before removing the older journal segments.
 *
 * RED metrics (names of the OpenTelemetry Collector's spanmetrics
 * connector): traces_span_metrics_calls_total and
 * traces_span_metrics_duration_seconds_{bucket,sum,count}, labels
 * service_name, span_name, span_kind, status_code.
 *
 * Thread-safe. Times come from the caller (now_ms). */
#ifndef OBS_TRACES_TRACES_H
#define OBS_TRACES_TRACES_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/errlog.h"
#include "core/obstime.h"
#include "traces/tstore.h"

struct obs_traces;
struct obs_db;

struct obs_traces_opts {
	struct obs_tstore_opts store;
	size_t wal_segment_bytes;       /* (16 MiB) */
	int sync_interval_ms;           /* journal group commit (1000); 0: only on sync */
	int64_t red_interval_ms;        /* write RED metrics this often (10 s) */
	int64_t checkpoint_ms;          /* checkpoint at least this often when there is data (60 s) */
	size_t cache_size;              /* decision cache entries (65,536) */
	int parse_threads;              /* threads that parse one big write (2; 1: the writer's alone) */
};

struct obs_traces_result {
	uint64_t spans;                 /* spans accepted */
	uint64_t rejected;              /* documents refused (each in the errlog) */
	size_t consumed;                /* bytes parsed; the rest is an unfinished document */
	int err;                        /* 0, EINVAL (refused input), ENOSPC/EIO (journal) */
};

struct obs_traces_stats {
	uint64_t buffered_traces, buffered_spans, buffered_bytes;
	uint64_t kept_traces, kept_spans, dropped_by_policy, dropped_by_policy_spans;
	uint64_t dropped_too_early, dropped_too_early_spans, late_spans;
	uint64_t spans_ingested, docs_rejected, spans_replayed;
	uint64_t red_series, checkpoints;
	struct obs_tstore_stats store;
};

void obs_traces_opts_default(struct obs_traces_opts *o);
/* Open DIR (created), replay its journal. db and el may be NULL (no RED
 * metrics; rejections not logged). err gets a message on failure. */
int obs_traces_open(const char *dir, const struct obs_traces_opts *o, struct obs_db *db, struct obs_errlog *el,
		    int64_t now_ms, struct obs_traces **out, char *err, size_t errlen);
/* Checkpoint and close; accepts NULL. */
void obs_traces_close(struct obs_traces *t);

/* Ingest documents from buf[0..n) (otlp.h); final as in obs_otlp_parse.
 * Accepted spans are journaled before this returns. 0, -EINVAL (some
 * document refused, the others taken) or another -errno (r->err): then
 * nothing of buf was journaled when the parse stopped part-way (-ENOMEM),
 * so the caller may send it all again. A kept trace the store refuses
 * during the call waits for the next tick's retry (no error). */
int obs_traces_ingest(struct obs_traces *t, const char *buf, size_t n, int final, const char *source,
		      size_t first_lineno, int64_t now_ms, struct obs_traces_result *r);
/* Journal p[0..n), the unfinished tail of open file handle (n == 0 clears
 * it). Its first from bytes are the ones the previous call for handle
 * journaled (0: none, or the tail started afresh): when they are, only
 * p[from..n) is written (CARRY_ADD); otherwise the whole tail (CARRY).
 * 0 or -errno (then the previous carry is still the one in force). */
int obs_traces_carry(struct obs_traces *t, uint64_t handle, const char *p, size_t n, size_t from);
/* Decisions due, RED metrics, checkpoint, retention. */
int obs_traces_tick(struct obs_traces *t, int64_t now_ms);
/* Decide every buffered trace now (tools reading a whole file). */
int obs_traces_flush_all(struct obs_traces *t, int64_t now_ms);
/* fsync the journal; write RED metrics. */
int obs_traces_sync(struct obs_traces *t, int64_t now_ms);
int obs_traces_checkpoint(struct obs_traces *t, int64_t now_ms);

/* Replace the policies (persisted in DIR/policy). -EINVAL with "line N: why". */
int obs_traces_set_policy(struct obs_traces *t, const char *text, size_t n, char *err, size_t errlen);
int obs_traces_policy_text(struct obs_traces *t, struct obs_buf *out);

/* A kept trace: spans as JSON lines, or its waterfall. -ENOENT when unknown. */
int obs_traces_json(struct obs_traces *t, const uint8_t id[16], struct obs_buf *out);
int obs_traces_tree(struct obs_traces *t, const uint8_t id[16], int width, enum obs_time_fmt tf, struct obs_buf *out);
/* Search lines (waterfall.h obs_trace_summary_line) for query q over
 * [from_ms, to_ms]. -EINVAL with err for a bad query. */
int obs_traces_search(struct obs_traces *t, const char *q, size_t qn, int64_t from_ms, int64_t to_ms,
		      enum obs_time_fmt tf, struct obs_buf *out, char *err, size_t errlen);
struct obs_tstore *obs_traces_store(struct obs_traces *t);

void obs_traces_get_stats(struct obs_traces *t, struct obs_traces_stats *st);
/* "name value" lines for MOUNT/status. */
int obs_traces_status(struct obs_traces *t, struct obs_buf *out);

#endif
