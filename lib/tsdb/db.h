/* db.h — the metrics store: series registry, in-memory head of Gorilla
 * chunks, write-ahead log, label index and rejection log, over one data
 * directory (DATADIR/wal, DATADIR/LOCK). This is what obsfsd calls.
 *
 * Thread-safety: every function may be called from many threads at once.
 * Series ids are dense uint32 assigned at creation and stable for the life
 * of the data directory (the WAL records them). */
#ifndef OBS_TSDB_DB_H
#define OBS_TSDB_DB_H

#include <stddef.h>
#include <stdint.h>
#include <roaring/roaring.h>

#include "core/buf.h"
#include "core/errlog.h"
#include "index/postings.h"
#include "ingest/parse.h"
#include "tsdb/downsample.h"
#include "tsdb/samples.h"

struct obs_db;

struct obs_db_opts {
	int64_t ooo_window_ms;          /* reject samples older than the series head minus this (5 min) */
	uint64_t max_series;            /* total series limit (1,000,000) */
	uint64_t max_series_per_metric; /* per metric name (100,000) */
	int sync_interval_ms;           /* WAL group commit interval (1000); 0 = only on sync */
	size_t wal_segment_bytes;       /* (64 MiB) */
	size_t errlog_entries;          /* MOUNT/errors ring size (1000) */
	int64_t block_span_ms;          /* compact the head once it has been filling this long (2h); 0 = never by itself */
	uint64_t head_max_samples;      /* ... or holds this many samples (16 M) */
	int64_t retention_ms;           /* drop blocks whose newest sample is older (15d); 0 = keep */
	int64_t check_interval_ms;      /* how often the background compactor looks (5 s) */
	int64_t tier_retention_ms[3];   /* rollups 1m, 5m, 1h: 90d, 1y, 3y; 0 = keep */
	size_t max_exemplars;           /* exemplars kept in all (100000, as Prometheus' max_exemplars) */
	size_t max_exemplars_per_series; /* ... of one series (1024) */
	int64_t exemplar_retention_ms;  /* drop exemplars older than this (< 0, the default: as
	                                   retention_ms); 0 = keep them until evicted for room */
	int wal_recover;                /* replay a damaged WAL: keep every valid record, skip and
	                                   count the rest (0: a damaged WAL refuses to open) */
};

void obs_db_opts_default(struct obs_db_opts *o);

/* Open (creating) a data directory: take DATADIR/LOCK (-EBUSY when another
 * process holds it; its pid is in the file), replay the WAL, open it for
 * appending. err gets a human message on failure; a damaged WAL is
 * -EBADMSG and the message names o->wal_recover (-o wal_recover), which
 * opens it anyway (see wal_skipped_* in the stats). */
int obs_db_open(const char *dir, const struct obs_db_opts *o, struct obs_db **out, char *err, size_t errlen);
void obs_db_close(struct obs_db *db);   /* syncs the WAL; accepts NULL */

struct obs_ingest_result {
	uint64_t accepted;    /* samples stored (or identical re-sends) */
	uint64_t rejected;    /* lines or samples refused (each logged to the errlog) */
	int err;              /* 0, or the errno a writer should see: EINVAL (bad
	                         input), EDQUOT (series limit), ENOSPC/EIO (WAL write);
	                         the most severe wins */
};

/* Ingest lines of any supported format. Valid lines are kept even when others
 * are rejected; rejects go to the errlog under source, numbered from
 * first_lineno. Samples without a timestamp get the arrival time, moved
 * just past the series' newest sample when that is not older. */
int obs_db_ingest(struct obs_db *db, const char *buf, size_t n, enum obs_fmt fmt,
		  const char *source, size_t first_lineno, struct obs_ingest_result *r);
/* Ingest "VALUE" / "TIME VALUE" lines into one series. */
int obs_db_ingest_values(struct obs_db *db, uint32_t id, const char *buf, size_t n,
			 const char *source, size_t first_lineno, struct obs_ingest_result *r);

/* Journal the partial last line of an open file (what follows its last
 * newline), so that bytes a write() accepted survive a crash before the line
 * ends: handle names the open file (unique across restarts), series is the
 * series of a series file or UINT32_MAX for the ingest file; n == 0 clears
 * it (the line was completed or dropped). A carry still set when the data
 * directory is opened again is ingested as a complete line, as a close would
 * have done. 0 or -errno. */
int obs_db_carry(struct obs_db *db, uint64_t handle, uint32_t series, const char *source,
		 const char *p, size_t n);

/* Find a series by its text (any label order, escapes as in Prometheus).
 * 0 and *id, -ENOENT, or -EINVAL with *why for text that is no series. */
int obs_db_lookup(struct obs_db *db, const char *text, size_t n, uint32_t *id, const char **why);
/* Find or create. -EDQUOT when a series limit is reached. */
int obs_db_create(struct obs_db *db, const char *text, size_t n, uint32_t *id, const char **why);

/* Canonical text of a series, appended to out. -ENOENT for an unknown id. */
int obs_db_series_text(struct obs_db *db, uint32_t id, struct obs_buf *out);
uint32_t obs_db_series_count(struct obs_db *db);

/* Samples of series id with from <= t <= to (blocks, then the head),
 * appended to out in time order. */
int obs_db_read(struct obs_db *db, uint32_t id, int64_t from, int64_t to, struct obs_samples *out);

/* The STEP/FN view of a series over [from, to]: one sample per non-empty
 * bucket of step (aligned to the epoch). Served from the coarsest rollup
 * tier that divides step for data that has rollups (merged blocks), from raw
 * samples for the rest; *from_tier tells whether rollups were used. Answers
 * equal obs_downsample of the raw data (quantiles within the sketch error). */
int obs_db_read_agg(struct obs_db *db, uint32_t id, int64_t from, int64_t to, int64_t step,
		    struct obs_aggfn fn, struct obs_samples *out, int *from_tier);

/* Size in bytes of the full "TIME VALUE\n" text of a series in fmt (cached and
 * updated incrementally, so it is cheap to call on every stat). */
int obs_db_text_size(struct obs_db *db, uint32_t id, enum obs_time_fmt fmt, uint64_t *size);

/* The exemplars of series id with from <= t <= to, oldest first, appended
 * to out as "TIME VALUE {labels}" lines (TIME in fmt). 0, -ENOENT for an
 * unknown id, -ENOMEM. */
int obs_db_exemplars(struct obs_db *db, uint32_t id, int64_t from, int64_t to, enum obs_time_fmt fmt,
		     struct obs_buf *out);

/* The label index (owned by the db) and matcher selection. */
struct obs_index *obs_db_index(struct obs_db *db);
roaring_bitmap_t *obs_db_select(struct obs_db *db, const struct obs_matcher *m, size_t n);

struct obs_errlog *obs_db_errlog(struct obs_db *db);

/* Cut the whole head into an immutable block now and return once the block
 * is durable and the WAL before it removed (checkpoint); then merge blocks of
 * a level when enough of them exist, and apply retention. Samples at or before a series' last
 * compacted sample are refused afterwards. 0 or -errno (the head stays intact
 * and readable on failure). */
int obs_db_compact(struct obs_db *db);

/* Delete whole blocks whose newest sample is older than now - retention,
 * and exemplars older than now - exemplar_retention (refusing such ones
 * from then on). Returns the number of blocks dropped or -errno. */
int obs_db_retain(struct obs_db *db, int64_t now_ms);

/* fsync the WAL now. */
int obs_db_sync(struct obs_db *db);

struct obs_db_stats {
	uint64_t series, samples, chunks, chunk_bytes, open_chunk_bytes;
	uint64_t samples_ingested, samples_rejected, samples_replayed;
	uint64_t exemplars, exemplar_series;   /* held now (in memory, rebuilt from the WAL) */
	uint64_t exemplars_added, exemplars_duplicate, exemplars_rejected, exemplars_evicted;
	uint64_t exemplars_expired;            /* dropped or refused for age (exemplar_retention) */
	uint64_t wal_bytes, wal_segments, wal_syncs, wal_torn_bytes;
	uint64_t wal_skipped_bytes, wal_skipped_segments;   /* by a wal_recover replay */
	uint64_t wal_skipped_records, wal_skipped_samples;
	uint64_t index_bytes, map_bytes;
	int64_t started_ms, replay_ms;
	uint64_t blocks, block_bytes, block_samples, blocks_by_level[3];
	uint64_t compactions, blocks_retired;
	int64_t last_compact_ms, last_compact_dur_ms;
	int64_t last_compact_cut_us;   /* how long the last compaction's cut held up writes */
	int64_t head_mint, head_maxt;
	uint64_t rollup_sets, rollup_files[3], rollup_bytes[3], rollup_reads;
};
void obs_db_get_stats(struct obs_db *db, struct obs_db_stats *st);

/* Metric names with the most series (top cardinality), largest first, at
 * most k of them. */
int obs_db_top_metrics(struct obs_db *db, size_t k, int (*fn)(void *ctx, const char *name, uint64_t series), void *ctx);

#endif
