/* logseg.h — immutable log segments (libobs logs, private to lib/logs and
 * its tests): zstd-compressed frames of lines, a time column, a field index
 * (CRoaring bitmaps of line numbers per field=value) and a trigram index
 * (one CRoaring bitmap of frame<<16 | hash16(trigram)). Layout at the top of
 * logseg.c. A segment is read-only after open and safe to search from many
 * threads at once. */
#ifndef OBS_LOGS_LOGSEG_H
#define OBS_LOGS_LOGSEG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "logs/logquery.h"

struct obs_logseg;

struct obs_logseg_opts {
	size_t frame_bytes;     /* raw bytes per frame (default 4 MiB) */
	int level;              /* zstd level of frames (default 15) */
	unsigned max_values;    /* distinct values per indexed field (default 256) */
	double field_budget;    /* bytes/line a field's bitmaps may take (default 0.5) */
};

/* Records to encode, in arrival order: lines without their '\n'. */
struct obs_logseg_input {
	size_t n;
	const int64_t *ts;
	const char *const *line;
	const uint32_t *len;
	uint64_t first_seq;     /* stream sequence number of record 0 */
};

/* Encode a whole segment file image into out (appended). Pure. 0 or -errno. */
int obs_logseg_encode(const struct obs_logseg_input *in, const struct obs_logseg_opts *o, struct obs_buf *out);

/* Re-encode segment s with its frames at zstd level into a new image
 * appended to out: every frame is decompressed (its crc checked) and
 * compressed again; the index is copied byte for byte (a version 1
 * segment's index loses its frame table, which moves before it, and is
 * compressed again once). No record is decoded and nothing is indexed
 * again, so the new image holds the same records, times, index and text.
 * Pure (no I/O). 0, -ENOMEM, -EBADMSG (a frame fails its check, reported
 * through obs_corrupt) or -EIO (zstd); on failure out is as it was. */
int obs_logseg_reencode(const struct obs_logseg *s, int level, struct obs_buf *out);

/* Decode a segment image (verifies checksums); p must stay valid until close
 * unless own is set (then the segment frees it with free()).
 * -EBADMSG on corruption (reported through obs_corrupt, file "(in memory)"). */
int obs_logseg_load(const void *p, size_t n, int own, struct obs_logseg **out);
/* Map a segment file and load it. A check failing is -EBADMSG, reported
 * through obs_corrupt (core/corrupt.h) with the file, the offset and the
 * check; reports made later (a frame failing at search time) name the file
 * too (_open_as: name, the path it will have after a rename). */
int obs_logseg_open(const char *path, struct obs_logseg **out);
int obs_logseg_open_as(const char *path, const char *name, struct obs_logseg **out);
void obs_logseg_close(struct obs_logseg *s);    /* accepts NULL */

struct obs_logseg_info {
	uint64_t nlines, first_seq;
	uint64_t raw_bytes;     /* sum of line lengths */
	uint64_t file_bytes, index_bytes;
	uint32_t nframes, nfields_indexed;
	int64_t min_ts, max_ts;
	int ts_sorted;
	int level;              /* zstd level its frames were written with */
};
void obs_logseg_get_info(const struct obs_logseg *s, struct obs_logseg_info *i);

typedef int (*obs_logrec_fn)(void *ctx, int64_t ts, const char *line, size_t n);
typedef int (*obs_logcount_fn)(void *ctx, const char *v, size_t vn, uint64_t count);

struct obs_logseg_stats {
	uint64_t frames_read;   /* frames decompressed */
	uint64_t lines_tested;  /* lines the evaluator looked at */
};

/* Call fn for each record with from <= ts <= to matching q (NULL = all), in
 * arrival order. The index narrows the lines; only frames holding candidates
 * are decompressed. fn returning non-zero stops and is returned. */
int obs_logseg_search(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
		      obs_logrec_fn fn, void *ctx, struct obs_logseg_stats *st);

/* A search of one segment that can stop after any record and go on later
 * (obs_logcursor): the segment's plan (candidate lines) and the frame being
 * read, kept between calls. They depend only on the segment's records, so
 * they stay valid for another obs_logseg of the same records (a segment
 * re-encoded at another level): keyed by first_seq and nlines. Owns what
 * it holds; _release frees it (accepts an initialised, unused one). */
struct obs_logseg_cursor {
	int planned;            /* bm holds the plan of the segment below */
	uint64_t seg_seq, seg_lines;
	void *bm, *it;          /* roaring_bitmap_t *, roaring_uint32_iterator_t * */
	int exact;
	int64_t frame;          /* the frame in buf, -1: none */
	char *buf;
	size_t pos;             /* byte of buf where line pos_line starts */
	uint64_t pos_line;
	uint64_t next_line;     /* where the last call stopped (the iterator is there) */
	int yield;              /* 1: a call decompresses at most one frame (see below) */
};
void obs_logseg_cursor_init(struct obs_logseg_cursor *c);
void obs_logseg_cursor_release(struct obs_logseg_cursor *c);

/* Search s (from, to, q as for obs_logseg_search, the same for every call
 * with c) over lines [*line, end): fn gets the matching records in order.
 * fn > 0: the record is taken, the search stops, *line is the line after it
 * and fn's value is returned; fn < 0: stops before that record (*line is
 * it) and is returned; 0 when every line below end was looked at (*line =
 * end). With c->yield set, a call that has decompressed one frame stops
 * before it would decompress another: 0 with *line < end, the next
 * candidate (a caller holding a lock lets it go between frames, then calls
 * again). -ENOMEM, -EBADMSG (a damaged frame, reported through obs_corrupt). */
int obs_logseg_search_from(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
			   struct obs_logseg_cursor *c, uint64_t *line, uint64_t end, obs_logrec_fn fn, void *ctx,
			   struct obs_logseg_stats *st);

/* Count matching records into *total; when by is non-NULL, also report
 * counts per value of field `by` through fn (v == NULL for records lacking
 * it). Answers from the index alone when it can. */
int obs_logseg_count(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
		     const char *by, obs_logcount_fn fn, void *ctx, uint64_t *total, struct obs_logseg_stats *st);

/* An obs_logrec_fn that counts the records it is given into a struct
 * obs_logcounter: n++, and when by is set, fn(ctx, value of field by or
 * NULL when the record lacks it, 1). Returns what fn returns. */
struct obs_logcounter {
	const char *by;
	obs_logcount_fn fn;
	void *ctx;
	uint64_t n;
};
int obs_logcount_rec(void *ctx, int64_t ts, const char *line, size_t n);

/* Copy up to size bytes of the segment's "TIME LINE\n" rendering (RFC3339
 * ms, OBS_LOG_TIME_WIDTH-char TIME) starting at byte off into dst; *got gets
 * the count (0 at or past the end). Frames are cached one at a time. */
int obs_logseg_read_text(struct obs_logseg *s, uint64_t off, char *dst, size_t size, size_t *got);
uint64_t obs_logseg_text_size(const struct obs_logseg *s);
/* Free the frame read_text keeps (a reader has gone past this segment). */
void obs_logseg_drop_cache(struct obs_logseg *s);

#define OBS_LOG_TIME_WIDTH 24   /* "2026-11-21T10:00:00.000Z" */

#endif
