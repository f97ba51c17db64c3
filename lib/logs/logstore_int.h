/* logstore_int.h — what the parts of the log store share (private to
 * lib/logs): the stream table, the in-memory head, the carry table and the
 * store itself. The parts:
 *   logstore.c         open/close, create/remove/sync, the stream listing,
 *                      stats; sequence numbers, recovery and locking
 *   logstore_stream.c  stream names, heads, the stream table and refcounts,
 *                      loading stream directories
 *   logstore_wal.c     the WAL records (layouts at its top): append, carries,
 *                      rm's record, replay
 *   logstore_flush.c   segments written: flush, retention, re-encoding, the
 *                      background thread
 *   logstore_read.c    searches, counts, views and the text rendering
 *   logstore_cursor.c  resumable searches (streamed views), by sequence number
 * Locking (the fields below name the lock that guards them) is described at
 * the top of logstore.c. */
#ifndef OBS_LOGS_LOGSTORE_INT_H
#define OBS_LOGS_LOGSTORE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/strmap.h"
#include "logs/logstore.h"

#define WAL_BATCH 1
#define WAL_CARRY 2
#define WAL_BATCH_CARRIED 3
#define WAL_REMOVED 4
#define NAME_MAX_BYTES 200
#define TEXT_EXTRA (OBS_LOG_TIME_WIDTH + 2)   /* "TIME " + "\n" */

struct head {
	struct obs_buf data;     /* line bytes back to back */
	uint64_t *off;           /* start of line i in data */
	uint32_t *len;
	int64_t *ts;
	size_t n, cap;
	uint64_t first_seq;
	int64_t first_arrival;   /* now_ms of the first append */
};

struct segent {
	struct obs_logseg *seg;
	uint64_t first_seq, n, text_off, bytes;
	int64_t max_ts;
	char *path;
};

struct stream {
	char *name;
	char *dir;
	int refs;                /* ls->mu */
	int removed;             /* set under ls->mu and lock */
	int from_dir;            /* loaded from a directory present at open */
	pthread_rwlock_t lock;
	struct head head;        /* lock */
	struct head *frozen;     /* lock: being written to a segment, still readable */
	struct segent *segs;     /* lock */
	size_t nsegs, segs_cap;
	uint64_t next_seq;       /* lock */
	uint64_t text_base;      /* lock: text bytes before segs[0] (dropped by retention) */
};

/* the partial last line of an open file (see obs_logstore_carry) */
struct carry {
	uint64_t epoch, handle;
	char *stream;
	char *data;
	size_t len;
};

struct obs_logstore {
	char *dir, *sdir;
	struct obs_logstore_opts o;
	struct obs_wal *wal;
	pthread_mutex_t mu;
	struct obs_strmap *map;  /* mu: name -> stream */
	struct obs_strmap *tombs;/* mu: name -> uint64_t end_seq of its last rm */
	struct stream **all;     /* mu */
	size_t nall, all_cap;
	pthread_mutex_t flush_mu;
	pthread_t thr;
	int thr_on, stopping;    /* stopping: mu */
	pthread_cond_t cond;
	uint64_t epoch;          /* names this open's carries: random */
	pthread_mutex_t carry_mu;/* carries, and the WAL order of carry records */
	struct carry *carries;
	size_t ncarries, carries_cap;
	/* counters (atomics) */
	uint64_t appended, rejected, flushes, retained, searches, frames_read, compactions;
	uint64_t corrupt_segments;               /* set aside at open (atomic) */
	uint64_t replay_n;                       /* open: records replayed so far */
	uint8_t replay_type;                     /* open: the type of the current one */
};


/* ---- logstore_stream.c --------------------------------------------------- */

void ls_head_release(struct head *h);
/* room for k more records of bytes line bytes: 0 or -ENOMEM (h unchanged) */
int ls_head_reserve(struct head *h, size_t k, size_t bytes);
void ls_head_push(struct head *h, int64_t ts, const char *p, size_t n);   /* caller reserved */
uint64_t ls_head_text(const struct head *h);   /* bytes of its "TIME LINE\n" text; NULL: 0 */

int ls_mkdir(const char *d);   /* mkdir 0755; an existing one is fine */
void ls_stream_free(struct stream *s);   /* accepts NULL */
/* Find or (create=1) make a stream; returns it with a reference (drop it
 * with ls_stream_put). -ENOENT, -EINVAL (bad name), -ENOMEM, mkdir errors.
 * The _locked form is called under ls->mu. */
int ls_stream_get_locked(struct obs_logstore *ls, const char *name, int create, struct stream **out);
int ls_stream_get(struct obs_logstore *ls, const char *name, int create, struct stream **out);
void ls_stream_put(struct obs_logstore *ls, struct stream *s);   /* frees a removed one at 0 */
/* Under ls->mu: a new name table without s (0 or -ENOMEM), then installed
 * (s leaves the table, removed set; cannot fail). */
int ls_table_without(struct obs_logstore *ls, struct stream *s, struct obs_strmap **out);
void ls_table_install(struct obs_logstore *ls, struct stream *s, struct obs_strmap *nm);
/* Under ls->mu: stream name ended at end_seq (the largest is kept). */
int ls_tomb_set(struct obs_logstore *ls, const char *name, uint64_t end);
int ls_tomb_free(void *ctx, const char *k, size_t n, void *val);   /* obs_strmap_each */
void ls_purge_dir(const char *dir);   /* unlink every file of a stream directory */
/* Append seg (taking it and path) to s's segments, advancing next_seq. */
int ls_seg_add(struct stream *s, struct obs_logseg *seg, char *path);
void ls_seg_offsets(struct stream *s);   /* recompute text offsets from text_base */
/* Load DIR/streams/ESC: its segments (a corrupt one is renamed NAME.corrupt
 * and counted), temp files removed. */
int ls_load_stream_dir(struct obs_logstore *ls, const char *esc);
/* Every stream with a reference held (release_streams drops them). */
int ls_snapshot_streams(struct obs_logstore *ls, struct stream ***out, size_t *n);
void ls_release_streams(struct obs_logstore *ls, struct stream **v, size_t n);

/* ---- logstore_wal.c ------------------------------------------------------ */

long ls_carry_find(struct obs_logstore *ls, uint64_t epoch, uint64_t handle);   /* carry_mu */
void ls_carries_drop_stream(struct obs_logstore *ls, const char *stream);    /* carry_mu */
/* After a WAL cut: log every pending carry again (takes carry_mu). */
int ls_carries_relog(struct obs_logstore *ls);
/* Under s->lock, ls->mu and carry_mu: WAL record type 4. */
int ls_removed_log(struct obs_logstore *ls, const char *stream, uint64_t end);
int ls_replay_cb(void *ctx, uint8_t type, const uint8_t *p, size_t n);   /* obs_wal_replay */
/* After replay: pending carries become records. */
int ls_carries_recover(struct obs_logstore *ls);

/* ---- logstore_flush.c ---------------------------------------------------- */

void *ls_flusher(void *arg);   /* the background thread */

#endif
