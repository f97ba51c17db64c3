/* wal.h — write-ahead log: numbered segment files of checksummed records.
 *
 * The WAL knows nothing about what it carries: a record is a type byte and a
 * payload (the tsdb and the log store encode their own payloads). Appends are
 * thread-safe; each record reaches the kernel (write(2)) before append returns,
 * so it survives kill -9 of the process; obs_wal_sync() or the group-commit
 * timer make it survive a crash of the machine. Replay stops at the first bad
 * record of the last segment and truncates the torn tail there; a bad record
 * in an earlier segment is corruption (-EBADMSG). Layout at the top of wal.c. */
#ifndef OBS_CORE_WAL_H
#define OBS_CORE_WAL_H

#include <stddef.h>
#include <stdint.h>

struct obs_wal;

struct obs_wal_opts {
	size_t segment_bytes;   /* cut a new segment past this size (default 64 MiB) */
	int sync_interval_ms;   /* group commit: fsync dirty data this often; 0 = only on obs_wal_sync */
};

struct obs_wal_stats {
	uint64_t segments;      /* segment files present */
	uint64_t bytes;         /* bytes in all segments */
	uint64_t records;       /* records appended (or replayed) */
	uint64_t syncs;         /* fsyncs done */
	uint64_t torn_bytes;    /* bytes cut from a torn tail at replay */
	uint64_t skipped_bytes; /* recovery: damaged bytes passed over (records lost) */
	uint64_t skipped_segments; /* recovery: missing segment numbers passed over */
	uint64_t first_seg, last_seg;
};

typedef int (*obs_wal_record_fn)(void *ctx, uint8_t type, const uint8_t *p, size_t n);

/* Replay every record of dir in order, calling fn; a non-zero return of fn
 * stops replay and is returned. Truncates a torn tail of the last segment.
 * A missing or empty dir is not an error. */
int obs_wal_replay(const char *dir, obs_wal_record_fn fn, void *ctx, struct obs_wal_stats *st);

/* The same, for a damaged WAL: a damaged record or header anywhere, and a
 * gap in the numbering, are passed over instead of being -EBADMSG; every
 * valid record (found again after damage by searching for the next record
 * whose checksum holds) goes to fn, and the damage is counted in
 * st->skipped_bytes / st->skipped_segments. The damaged segments stay on
 * disk (a checkpoint removes them); open the WAL with obs_wal_open_recover. */
int obs_wal_replay_recover(const char *dir, obs_wal_record_fn fn, void *ctx, struct obs_wal_stats *st);
/* obs_wal_open, checking the last segment as obs_wal_replay_recover does
 * (a damaged record in its middle does not truncate the valid ones after). */
int obs_wal_open_recover(const char *dir, const struct obs_wal_opts *opts, struct obs_wal **out);

/* Open dir (created if missing) for appending, in a new segment after the
 * existing ones. opts may be NULL for defaults. */
int obs_wal_open(const char *dir, const struct obs_wal_opts *opts, struct obs_wal **out);
void obs_wal_close(struct obs_wal *w);   /* syncs; accepts NULL */

/* Append one record (payload up to 256 MiB). 0 or -errno (-ENOSPC, -EIO, ...);
 * on error nothing of the record is considered written (a partial write is cut
 * back). */
int obs_wal_append(struct obs_wal *w, uint8_t type, const void *p, size_t n);
/* Two-part payload (header + body) without copying. */
int obs_wal_append2(struct obs_wal *w, uint8_t type, const void *a, size_t an, const void *b, size_t bn);
/* fsync everything appended so far. */
int obs_wal_sync(struct obs_wal *w);
/* Close the current segment and start a new one; *segno gets the number of
 * the new segment (records before it live in segments < *segno). */
int obs_wal_cut(struct obs_wal *w, uint64_t *segno);
/* Delete segments with numbers < segno (after their content is durable
 * elsewhere). */
int obs_wal_remove_before(struct obs_wal *w, uint64_t segno);
void obs_wal_get_stats(struct obs_wal *w, struct obs_wal_stats *st);

#endif
