/* logstore.h — the log store (libobs logs): streams of text records with a
 * time each, durable through a WAL, kept in immutable indexed segments.
 *
 * How the daemon uses it
 * ----------------------
 *   obs_logstore_open(DATADIR "/logs", &opts, &ls) at mount; _close at unmount.
 *   Every function is thread-safe: call them straight from FUSE worker threads.
 *
 *   write/append to MOUNT/logs/STREAM
 *       obs_logstore_append(ls, STREAM, buf, size, obs_time_now(), reject_cb, ctx)
 *       Splits buf on '\n' (a trailing piece without '\n' is a record too, so
 *       buffer a partial last line per open file if writers split lines across
 *       write() calls); a '\r' before '\n' is dropped. Every line is a record,
 *       kept verbatim: empty and whitespace-only lines too. Each line
 *       gets its time from its text (logline.h) or now_ms. A line longer than
 *       opts.max_line is passed to reject_cb and the call returns -EINVAL
 *       after storing every other line; an I/O error is returned as is
 *       (-ENOSPC, -EIO) and then nothing of the call is stored. When append
 *       returns the records are in the kernel (kill -9 safe); fsync on the
 *       file -> obs_logstore_sync().
 *   partial last line of a write  obs_logstore_carry(ls, HANDLE, STREAM, bytes, n)
 *       journals the bytes after the last '\n' of an open file (HANDLE names
 *       the file; n == 0 clears it), so that what write() accepted survives
 *       kill -9: at the next open a pending carry becomes a complete record.
 *       The write that ends the line goes through
 *       obs_logstore_append_carried(..., HANDLE), which stores the line and
 *       ends the carry in one WAL record.
 *   create (O_CREAT) / mknod      obs_logstore_create(ls, STREAM)
 *   unlink                        obs_logstore_remove(ls, STREAM)
 *       Journals "stream removed" (WAL type 4) and fsyncs it, then deletes
 *       the files: the stream stays deleted across kill -9; no segment is
 *       written, so only a failure to write that record fails it (then
 *       nothing changed). A stream created again afterwards is a new one.
 *   readdir MOUNT/logs            obs_logstore_streams(ls, cb, ctx)
 *   getattr STREAM                obs_logstore_text_size(ls, STREAM, &size)
 *       st_size = bytes of the "TIME LINE\n" rendering (TIME is always 24
 *       chars, RFC3339 ms), growing with every append, so tail -f works.
 *   read STREAM at (off, size)    obs_logstore_read_text(ls, STREAM, off, dst, size, &got)
 *       Records are rendered in arrival order (time order for writers that
 *       log in order); byte offsets are stable while the daemon runs.
 *   lookup/open of a search view  STREAM[@RANGE][?QUERY][#count|#by=FIELD]
 *       obs_logpath_parse() (logquery.h) splits the name; a record view is
 *       streamed: obs_logcursor_new at open, obs_logcursor_render as reads
 *       get there (a few records at a time, memory bounded whatever the
 *       range); #count and #by are small and rendered whole with
 *       obs_logstore_render_view().
 *   ctl "sync"                    obs_logstore_sync(ls)
 *   ctl "compact"                 obs_logstore_flush(ls), then obs_logstore_compact(ls, 0)
 *   status                        obs_logstore_get_stats(ls, &st)
 *
 * On-disk (DIR = DATADIR/logs):
 *   DIR/wal/               obs_wal segments: record type 1 = a batch of lines
 *                          of one stream, 2 = a carry (partial line), 3 = a
 *                          batch that ends a carry, 4 = a stream removed
 *                          (layouts at the top of logstore_wal.c)
 *   DIR/streams/NAME/      one directory per stream (NAME escaped: bytes
 *                          outside [A-Za-z0-9._-] as %XX)
 *   DIR/streams/NAME/SEQ.seg   immutable segments (logseg.c), SEQ = 16 hex
 *                          digits, the stream sequence number of its first record
 * A background thread cuts the in-memory head into segments (past
 * opts.head_bytes or opts.head_age_ms) with a fast zstd level, re-encodes
 * them at opts.compact_level when idle (the size target), and applies
 * retention. */
#ifndef OBS_LOGS_LOGSTORE_H
#define OBS_LOGS_LOGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "logs/logquery.h"
#include "logs/logseg.h"

struct obs_logstore;

struct obs_logstore_opts {
	size_t max_line;            /* longest accepted line (default 64 KiB) */
	size_t head_bytes;          /* flush the head past this many line bytes (default 64 MiB) */
	int64_t head_age_ms;        /* ... or when its oldest record is this old (default 10 min) */
	int64_t retention_ms;       /* drop segments whose newest record is older (0: 15 days; <0: keep) */
	uint64_t retention_bytes;   /* drop the oldest segments past this total (0: no limit) */
	int no_background;          /* 1: no flusher thread (flush with obs_logstore_flush) */
	int wal_sync_ms;            /* WAL group commit interval (0: only on obs_logstore_sync) */
	struct obs_logseg_opts seg; /* segment encoding at flush (default 4 MiB frames, zstd 3) */
	int compact_level;          /* re-encode flushed segments at this zstd level in the
				       background (default 15; <0: never) */
};

/* Rejected input line: the line (not NUL-terminated), its 1-based number in
 * the appended buffer, and a static reason. */
typedef void (*obs_log_reject_fn)(void *ctx, const char *stream, const char *line, size_t n,
				  size_t lineno, const char *why);

/* Open (creating) the store in dir, load segments, replay the WAL. o may be
 * NULL. 0 or -errno; *out set only on success. */
int obs_logstore_open(const char *dir, const struct obs_logstore_opts *o, struct obs_logstore **out);
/* Stop the flusher, sync the WAL, free everything. Accepts NULL. Records
 * still in the head stay in the WAL and come back at the next open. */
void obs_logstore_close(struct obs_logstore *ls);

/* A stream name: 1..200 bytes, no '/', NUL, newline, not "." or "..". */
int obs_logstore_valid_name(const char *stream);

int obs_logstore_append(struct obs_logstore *ls, const char *stream, const char *buf, size_t n,
			int64_t now_ms, obs_log_reject_fn reject, void *ctx);
/* Append whose first line completes the pending carry of handle (or, when
 * no line is stored because all were refused, that ends it all the same). */
int obs_logstore_append_carried(struct obs_logstore *ls, const char *stream, const char *buf, size_t n,
				int64_t now_ms, obs_log_reject_fn reject, void *ctx, uint64_t handle);
/* Journal the partial last line p[0..n) of open file handle (replacing its
 * previous one; n == 0 clears it). handle is not 0 (-EINVAL). 0 or -errno
 * (then the previous carry is still the one in force). */
int obs_logstore_carry(struct obs_logstore *ls, uint64_t handle, const char *stream, const char *p, size_t n);
int obs_logstore_create(struct obs_logstore *ls, const char *stream);   /* exists: 0 */
/* -ENOENT if absent; -ENOSPC/-EIO when the removal record cannot be
 * written (the stream is intact); a failed fsync of that record is returned
 * after the stream is gone (the record is in the kernel). */
int obs_logstore_remove(struct obs_logstore *ls, const char *stream);
int obs_logstore_exists(struct obs_logstore *ls, const char *stream);   /* 1 or 0 */
int obs_logstore_sync(struct obs_logstore *ls);
/* Cut every stream's head into segments now and wait; drops WAL segments
 * that became redundant. */
int obs_logstore_flush(struct obs_logstore *ls);
/* Apply retention now (the flusher does it every few seconds). */
int obs_logstore_retain(struct obs_logstore *ls, int64_t now_ms);
/* Re-encode up to max segments (0: all) written below opts.compact_level at
 * that level, oldest first; the flusher does one per idle second. Readers
 * see the same records and offsets before and after. */
int obs_logstore_compact(struct obs_logstore *ls, int max);

/* Visit stream names in sorted order; fn returning non-zero stops. */
int obs_logstore_streams(struct obs_logstore *ls, int (*fn)(void *ctx, const char *stream), void *ctx);

/* Records of stream with from <= ts <= to matching q (NULL: all), in
 * arrival order; fn returning non-zero stops and is returned. -ENOENT for an
 * unknown stream. */
int obs_logstore_read(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
		      const struct obs_logquery *q, obs_logrec_fn fn, void *ctx);
/* A resumable search (logstore_cursor.c): the records obs_logstore_read
 * would give, a few at a time. It covers the records stored before its
 * first step (later appends are not part of it), in arrival order, minus
 * those retention drops before it gets there; between steps it holds a
 * reference to the stream and what it is reading of one segment (a plan,
 * one frame), no lock (a step takes the stream's read lock one frame of a
 * segment, or a few thousand records of a head, at a time, so appends wait
 * for one frame's work at most). q is borrowed: it must outlive the cursor.
 * new: 0, -ENOENT (no such stream), -ENOMEM; *out set only on success. */
struct obs_logcursor;
int obs_logcursor_new(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
		      const struct obs_logquery *q, struct obs_logcursor **out);
/* Give the next records to fn. fn > 0: the record is taken and the step
 * stops (the next one goes on after it); fn < 0: the step stops before it
 * (the next one gives it again). Returns fn's non-zero value, 0 when no
 * record is left, -ENOENT when the stream was removed before the first
 * step (a cursor that started goes on to its end), -ENOMEM, -EBADMSG. */
int obs_logcursor_step(struct obs_logcursor *c, obs_logrec_fn fn, void *ctx);
/* Append "TIME LINE\n" records (fmt as render_view's) to out until it holds
 * at least want bytes (whole records: it may hold more): 1 when it does
 * and records may follow, 0 at the end, or -errno. */
int obs_logcursor_render(struct obs_logcursor *c, int fmt, struct obs_buf *out, size_t want);
/* Back to the first record of the same search (what it covers stays). */
void obs_logcursor_rewind(struct obs_logcursor *c);
void obs_logcursor_free(struct obs_logcursor *c);   /* accepts NULL */

/* Count matching records into *total; with by, per-value counts are passed
 * to fn once per distinct value (v NULL: records lacking the field), in
 * decreasing count order; level values are grouped by canonical name
 * (ERROR, err -> error). Uses the index alone where it is exact. */
int obs_logstore_count(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
		       const struct obs_logquery *q, const char *by, obs_logcount_fn fn, void *ctx,
		       uint64_t *total);
/* Render a search view into out: "TIME LINE\n" records, or for q->count one
 * line "N\n", or for q->by "N VALUE\n" lines ("N -" for records without the
 * field). fmt selects TIME's form. */
int obs_logstore_render_view(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
			     const struct obs_logquery *q, int fmt, struct obs_buf *out);

int obs_logstore_text_size(struct obs_logstore *ls, const char *stream, uint64_t *size);
int obs_logstore_read_text(struct obs_logstore *ls, const char *stream, uint64_t off, char *dst,
			   size_t size, size_t *got);

struct obs_logstore_stats {
	uint64_t streams;
	uint64_t segments, segment_bytes, index_bytes;   /* on disk; segment_bytes includes
							    index_bytes (bytes/line = segment_bytes / segment_lines) */
	uint64_t segment_lines, segment_raw_bytes;
	uint64_t head_lines, head_bytes;                 /* in memory, not yet in segments */
	uint64_t wal_bytes;
	uint64_t appended, rejected;                     /* lines since open */
	uint64_t flushes, retained_segments;             /* segments dropped by retention */
	uint64_t compactions;                            /* segments re-encoded */
	uint64_t searches, frames_read;
	uint64_t corrupt_segments;                       /* set aside (renamed .corrupt) at open */
};
void obs_logstore_get_stats(struct obs_logstore *ls, struct obs_logstore_stats *st);

#endif
