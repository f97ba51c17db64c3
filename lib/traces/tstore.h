/* tstore.h — the store of kept traces (libobs traces): zstd-compressed
 * columnar segment files under one directory, and an in-memory index of
 * CRoaring bitmaps (service, service+operation, attribute values, error,
 * start hour, duration class) over trace ordinals, rebuilt from the
 * segments at open. File layout at the top of tseg.c (columns: tcols.c).
 *
 * Traces are added to an open segment in memory; obs_tstore_flush() writes
 * it as a new segment file (temp, fsync, rename, fsync dir). Spans not yet
 * flushed are the journal's to keep (the caller's WAL). A trace may have
 * records in several segments (late spans); reads merge them.
 *
 * Thread-safe: one mutex inside. */
#ifndef OBS_TRACES_TSTORE_H
#define OBS_TRACES_TSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "traces/tquery.h"

struct obs_tstore;

struct obs_tstore_opts {
	int64_t retention_ms;       /* drop segments whose traces all ended before now - this (7 d); 0 keep */
	size_t segment_bytes;       /* flush the open segment past this many raw bytes (4 MiB) */
	int zstd_level;             /* (3: the ids dominate a segment; 19 saves 1.5 %) */
};

struct obs_tstore_stats {
	uint64_t traces, spans;     /* in the index */
	uint64_t segments, disk_bytes, raw_bytes;    /* segment files */
	uint64_t open_bytes, open_traces;            /* the open segment */
	uint64_t sealed_traces;                      /* sealed, not yet written (a failed flush) */
	uint64_t terms, damaged_segments, removed_segments, dup_spans;
};

struct obs_tstore_hit {
	uint8_t trace_id[16];
	int64_t start_ns, end_ns;
	uint32_t nspans, nerrors;
	const char *root_service, *root_name;
};

void obs_tstore_opts_default(struct obs_tstore_opts *o);
/* Open dir (created if missing) and index its segments. A damaged segment
 * is skipped (counted in damaged_segments) and left on disk. */
int obs_tstore_open(const char *dir, const struct obs_tstore_opts *o, struct obs_tstore **out);
void obs_tstore_close(struct obs_tstore *s);   /* does not flush; accepts NULL */

/* Add spans of one trace (encodings). With dedup, spans whose span id the
 * trace already has are skipped (replay after a crash between a flush and
 * the journal's checkpoint). 0 or -ENOMEM. */
int obs_tstore_add(struct obs_tstore *s, const uint8_t id[16], const uint8_t *const *blobs, const uint32_t *lens,
		   size_t n, int dedup);
/* Write the open segment to disk (after a segment a failed flush left);
 * 0 (also when empty) or -errno (what was not written stays in memory,
 * readable, for a retry). */
int obs_tstore_flush(struct obs_tstore *s);
/* The two halves of a flush, so that the caller need not hold its own lock
 * while a segment is compressed and written: seal moves the open segment
 * aside (cheap; nothing to do when it is empty or a sealed one still waits)
 * and a new one starts; write_sealed writes the sealed one (0 when there
 * is none). Adds and reads may run meanwhile; reads see the sealed spans. */
int obs_tstore_seal(struct obs_tstore *s);
int obs_tstore_write_sealed(struct obs_tstore *s);
/* Does the open segment want flushing (past segment_bytes)? */
int obs_tstore_full(struct obs_tstore *s);

/* The spans of a trace as (u32 length, encoding) entries appended to out;
 * *n gets their number. 0, -ENOENT, -EBADMSG (a damaged segment), -ENOMEM. */
int obs_tstore_get(struct obs_tstore *s, const uint8_t id[16], struct obs_buf *out, size_t *n);
/* Traces matching q whose span [start, end] meets [from_ms, to_ms], newest
 * first, to fn (hit valid for the call; fn's non-zero return stops). */
int obs_tstore_search(struct obs_tstore *s, const struct obs_tq *q, int64_t from_ms, int64_t to_ms,
		      int (*fn)(void *ctx, const struct obs_tstore_hit *h), void *ctx);
/* Names seen: services, and the operations of one service (sorted). */
int obs_tstore_services(struct obs_tstore *s, int (*fn)(void *ctx, const char *name), void *ctx);
int obs_tstore_operations(struct obs_tstore *s, const char *service, int (*fn)(void *ctx, const char *name), void *ctx);
int obs_tstore_has(struct obs_tstore *s, const uint8_t id[16]);
/* Drop segments past retention. */
int obs_tstore_retain(struct obs_tstore *s, int64_t now_ms);
void obs_tstore_get_stats(struct obs_tstore *s, struct obs_tstore_stats *st);

#endif
