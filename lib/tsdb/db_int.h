/* db_int.h — what the parts of the metrics store share (db.c lists them):
 * the series and store structs, the WAL record types, and the calls between
 * the parts. Private to lib/tsdb/db*.c. */
#ifndef OBS_TSDB_DB_INT_H
#define OBS_TSDB_DB_INT_H

#include "tsdb/db.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/bytes.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "core/labels.h"
#include "core/num.h"
#include "core/obstime.h"
#include "core/strmap.h"
#include "core/varint.h"
#include "core/vec.h"
#include "tsdb/block.h"
#include "tsdb/chunk.h"
#include "tsdb/downsample.h"
#include "tsdb/exemplar.h"
#include "tsdb/tiers.h"
#include "core/wal.h"

#define CHUNK_SAMPLES 240
#define PAGE_BITS 12
#define PAGE_SIZE_IDS (1u << PAGE_BITS)
#define MAX_PAGES (1u << 16)

enum { REC_SERIES = 1, REC_SAMPLES = 2, REC_CARRY = 3, REC_SERIESV = 4, REC_EXEMPLARS = 5, REC_EXRELOG = 6 };
enum { EXRELOG_FIRST = 1, EXRELOG_LAST = 2 };   /* flags of an EXRELOG record */

struct chunk {
	uint8_t *data;
	uint32_t len, n;
	int64_t tmin, tmax;
};

struct series {
	pthread_mutex_t mu;        /* protects everything below but id/canon/labels */
	uint32_t id;
	uint32_t canonlen;
	char *canon;               /* immutable after creation */
	struct obs_labels labels;  /* immutable after creation */
	struct chunk *closed;
	uint32_t nclosed, capclosed;
	struct obs_chunk_enc open;
	uint64_t nsamples;         /* in the head and the frozen set */
	uint64_t gen;              /* bumped by any change other than an append at the end */
	/* floor_t and in_block are written under mu (and cutlock or blocks_lock)
	 * but read on paths that hold neither, so they are atomic */
	_Atomic int64_t floor_t;   /* last compacted sample; older samples are refused */
	_Atomic int in_block;      /* some block holds samples of this series */
	struct chunk *frozen;      /* head chunks being written into a block (readable) */
	uint32_t nfrozen, capfrozen;
	int64_t floor_prev;        /* floor_t before the freeze, restored if the compaction fails */
	/* cached text size, valid while txt_gen == gen and the format matches */
	uint64_t txt_bytes, txt_gen;
	int64_t txt_last;
	int txt_fmt, txt_valid;
	_Atomic int64_t untimed_t; /* last arrival time given to an untimed sample (no lock) */
};

struct obs_db {
	char *dir;
	int lockfd;
	struct obs_db_opts o;
	struct obs_wal *wal;
	struct obs_index *ix;
	struct obs_errlog *errs;
	pthread_rwlock_t maplock;          /* protects byname, alias, pages, nseries */
	struct obs_strmap *byname;         /* canonical text -> series */
	struct obs_strmap *alias;          /* fmt byte + raw key -> series */
	struct series **pages[MAX_PAGES];
	_Atomic uint32_t nseries;
	int replaying;                     /* set during open only */
	pthread_rwlock_t cutlock;          /* shared: a batch's WAL append + apply;
	                                      exclusive: compaction freezing the head */
	pthread_mutex_t compact_mu;        /* one compaction at a time */
	pthread_rwlock_t blocks_lock;      /* protects blocks/nblocks and the frozen sets */
	struct obs_block **blocks;         /* ordered by mint */
	struct obs_tiers *tiers;           /* rollups of merged blocks (own lock) */
	size_t nblocks;
	pthread_mutex_t carry_mu;             /* protects carries and orders their records */
	struct obs_strmap *carries;           /* 8-byte handle -> struct carry */
	_Atomic uint64_t compactions, retired;
	_Atomic int64_t head_mint, head_maxt;   /* time span of samples in the head */
	_Atomic uint64_t head_samples;
	_Atomic int64_t head_since;           /* arrival time of the head's first sample (0: empty) */
	pthread_t compactor;
	int compactor_running;
	pthread_mutex_t stop_mu;              /* protects stopping, with stop_cv */
	pthread_cond_t stop_cv;
	int stopping;
	_Atomic int64_t last_compact_ms, last_compact_dur_ms;
	_Atomic int64_t last_cut_us;          /* how long the last cut held cutlock exclusive */
	pthread_mutex_t stripes[64];          /* by series id: one writer at a time
	                                         checks, logs and applies a series */
	_Atomic uint64_t ingested, rejected, replayed;
	pthread_mutex_t ex_mu;                /* protects ex */
	struct obs_exstore *ex;               /* exemplars (db_exemplar.c) */
	_Atomic uint64_t ex_rejected;         /* invalid or out of order */
	int64_t started_ms, replay_ms;
	struct obs_wal_stats replay_stats;
	uint64_t skipped_records, skipped_samples;   /* by a wal_recover replay */
	int ex_relog_open;                 /* replay: between an EXRELOG FIRST and its LAST */
	struct obs_buf ex_held;            /* replay: the EXEMPLARS records met there (db_wal.c) */
	struct deferred *deferred;         /* replay: samples met before their SERIES record */
	size_t ndeferred, capdeferred;
	roaring_bitmap_t *deferred_ids;
};

struct deferred {
	uint32_t id;
	int64_t t;
	uint64_t bits;
};

struct pending {
	struct series *s;
	int64_t t;
	double v;
};

/* A write's exemplars before they are logged (db_exemplar.c). */
struct db_expending {
	uint32_t id;
	int64_t t;
	double v;
	size_t off, len;           /* labels in db_exbatch.labels */
};

struct db_exbatch {
	struct db_expending *e;
	size_t n, cap;
	struct obs_buf labels;
};

/* db.c */
struct series *db_series_get(struct obs_db *db, uint32_t id);
int db_series_insert(struct obs_db *db, uint32_t id, const char *canon, size_t n,
	 struct obs_labels *labels, uint64_t hash, struct series **out);
int db_series_resolve(struct obs_db *db, struct obs_labels *labels, struct series **out, const char **why);

/* db_head.c */
int64_t db_series_last_t(const struct series *s, uint64_t *vbits);
int db_series_cut(struct series *s);
int db_series_append(struct obs_db *db, struct series *s, int64_t t, double v, const char **why);
int db_push_range(const uint8_t *data, size_t len, uint32_t n, int64_t from, int64_t to,
	      struct obs_samples *out);
void db_sort_samples(struct obs_samples *o, size_t from);
int db_read_series(struct obs_db *db, uint32_t id, int64_t from, int64_t to, int skip_rolled,
	       struct obs_samples *out);

/* db_ingest.c */
void db_head_note(struct obs_db *db, int64_t mn, int64_t mx, size_t n);
void db_ingest_set_err(struct obs_ingest_result *r, int err);

/* db_exemplar.c */
/* The exemplar of in, a sample of s at sample_t: an invalid one goes to
 * the errlog (r->err EINVAL), a valid one into b. 0 or -ENOMEM. */
int db_exemplar_note(struct obs_db *db, struct db_exbatch *b, struct series *s, int64_t sample_t,
		     const struct obs_sample_in *in, const char *source, int64_t now, struct obs_ingest_result *r);
/* Add b's exemplars to the store and log those it took (one EXEMPLARS
 * record); refusals go to the errlog. 0 or -ENOMEM. */
int db_exemplars_commit(struct obs_db *db, struct db_exbatch *b, const char *source, int64_t now,
			struct obs_ingest_result *r);
void db_exbatch_release(struct db_exbatch *b);
/* At a cut (cutlock exclusive): *mark for db_exemplars_relog, and the
 * relog's FIRST record. 0 or -errno. */
int db_exemplars_relog_begin(struct obs_db *db, uint64_t *mark);
/* After the cut, no lock held: log again the exemplars held at the cut
 * (up to mark) that are still held, the last record flagged LAST. 0 or
 * -errno (the segments before the cut must then stay). */
int db_exemplars_relog(struct obs_db *db, uint64_t mark);
/* After the replay: forget exemplars of ids no series has, and expired ones. */
void db_exemplars_replayed(struct obs_db *db);
/* Drop exemplars older than now_ms - exemplar_retention (and refuse such
 * ones from then on); nothing when the retention is 0. */
void db_exemplars_expire(struct obs_db *db, int64_t now_ms);

/* db_wal.c */
int db_wal_log_series(struct obs_db *db, uint32_t id, const char *canon, size_t len);
uint8_t *db_wal_samples_payload(const struct pending *x, size_t n, size_t *len);
int db_series_relog(struct obs_db *db, const struct series *s);
int db_series_relog_after_cut(struct obs_db *db, uint32_t n);
int db_carry_free_cb(void *ctx, const char *key, size_t n, void *val);
int db_carries_relog(struct obs_db *db);
void db_carries_recover(struct obs_db *db);
int db_replay_finish(struct obs_db *db, int report);
int db_replay_record(void *ctx, uint8_t type, const uint8_t *p, size_t n);

/* db_compact.c */
int db_blocks_load(struct obs_db *db, char *err, size_t errlen);
void *db_compactor_main(void *arg);


#endif
