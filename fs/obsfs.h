/* obsfs.h — obsfsd internals shared by the files of fs/ (private header).
 *
 * fs/ is thin over libobs and is a table (tree.h): tree.c walks a path
 * through the subtree table and the node kinds, one file per subtree
 * defines its kinds and its row (rootfiles.c, export.c, metrics.c,
 * select.c, labels.c, logs.c), ops.c is the generic FUSE dispatch over the
 * kinds, main.c parses options and runs the loop. This header holds the
 * mount's state and what several subtrees share (series file names, select
 * matchers, sync and compaction). */
#ifndef OBSFS_H
#define OBSFS_H

#include "tree.h"

#include <fuse_lowlevel.h>

#include <stdint.h>
#include <roaring/roaring.h>

#include "core/buf.h"
#include "core/errlog.h"
#include "core/obstime.h"
#include "tsdb/db.h"
#include "tsdb/downsample.h"

struct obs_logstore;
struct obs_traces;
struct obs_traces_opts;

struct obsfs {
	struct obs_db *db;               /* thread-safe itself */
	struct obs_logstore *logs;       /* thread-safe itself */
	struct obs_traces *traces;       /* thread-safe itself (traces.c) */
	size_t traces_max_line;          /* longest accepted traces/ingest document */
	char *datadir, *mountpoint;
	enum obs_time_fmt timefmt;       /* how reads print TIME (mount option time=) */
	size_t max_line;                 /* longest accepted input line in bytes */
	int sync_on_close;               /* fsync the WAL when a written file is closed */
	size_t max_write;                /* bytes of one FUSE write request (set at init) */
	unsigned max_read;               /* -o max_read=N, 0 if not given (init repeats it) */
	int64_t mounted_ms;
	uid_t owner;                     /* the only user (besides root) who may change anything */
};

extern struct obsfs *obsfs;          /* set once in main() before the loop starts */
extern int ready_pipe[2];            /* [1]: tell the waiting parent we are mounted */

extern const struct fuse_lowlevel_ops obsfs_ll_ops;   /* ops.c */

/* ---- the inode table (inode.c) ------------------------------------------- */

/* The path ino was looked up by (malloc'd), NULL when unknown. */
char *fs_ino_path(fuse_ino_t ino);
/* The inode of path, its lookup count raised by one. 0 or -ENOMEM. */
int fs_ino_get(const char *path, fuse_ino_t *ino, uint64_t *gen);
/* The kernel forgot nlookup lookups of ino; at 0 the inode goes. */
void fs_ino_forget(fuse_ino_t ino, uint64_t nlookup);
size_t fs_ino_count(void);

/* ---- reads (ops.c) and reads that wait (wait.c) --------------------------- */

/* Read [off, off + size) of o now: bytes or -errno; notes o->read_end. */
int fs_read_now(struct ofile *o, char *buf, size_t size, off_t off);
/* 1 when a read of o at off has data, end of file or an error now; 0 when
 * not yet, *wake the event to wait for (NULL: only the sweep). off
 * UINT64_MAX: where the last read ended (poll). Kinds without poll: 1. */
int fs_ready(struct ofile *o, uint64_t off, struct fs_event **wake);
/* Answer a read now, or park it until fs_ready says so (EINTR when
 * interrupted, what is there at unmount; EAGAIN at once when nonblock,
 * the reader's O_NONBLOCK). */
void fs_read_reply(fuse_req_t req, struct ofile *o, size_t size, off_t off, int nonblock);
/* The poll op: revents (POLLOUT...) plus POLLIN when readable; else ph is
 * kept and notified when it becomes readable. */
void fs_poll(fuse_req_t req, struct ofile *o, struct fuse_pollhandle *ph, unsigned revents);
/* Drop o's poll registration (release). */
void fs_poll_forget(struct ofile *o);
/* The notifier thread: started at init, stopped after the loop (every
 * parked read answered). */
int fs_wait_start(void);
int fs_wait_stop(void);   /* answers every parked read; returns how many */
void fs_wait_release(void);
void fs_ofiles_release(void);   /* frees the files still open at unmount (no FUSE thread runs) */
/* Reads parked now (status). */
size_t fs_wait_count(void);

/* ---- series (metrics.c) ----------------------------------------------- */

/* Series file names: the canonical text with '/' and '%' escaped, or the
 * stable short alias when longer than NAME_MAX. Appended to out. */
int series_fname(uint32_t id, struct obs_buf *out);
/* Series id from a file name (canonical text in any label order, or alias;
 * an alias is found through an index, not a scan). create makes a new
 * series from a canonical name. 0, -ENOENT, -EINVAL (*why says why). */
int series_from_fname(const char *name, size_t n, uint32_t *id, int create, const char **why);
/* Series names the alias index examined since mount (status). */
uint64_t series_alias_indexed(void);
/* SERIES or SERIES@VIEW as a child of a directory listing series:
 * a series or view node. 0 or -ENOENT. */
int series_lookup(const char *name, size_t n, struct node *child);
/* Fill a directory with the file names of the series in b. */
int series_fill_bitmap(struct fs_fill *f, const roaring_bitmap_t *b);
/* "RANGE[:STEP[:FN]]" — RANGE may itself hold ':' (RFC3339 times, +hh:mm
 * offsets), so the split is the one where every part parses, trying
 * RANGE:STEP:FN, then RANGE:STEP (FN avg), then RANGE alone (*step 0).
 * 0 or -EINVAL. */
int view_parse(const char *s, size_t n, int64_t *from, int64_t *to, int64_t *step, struct obs_aggfn *fn);
/* Journal o's carry (the written bytes after the last newline) in the
 * metrics WAL, so what write() accepted survives a crash before its line
 * ends; series is UINT32_MAX for ingest. */
int series_carry_journal(struct ofile *o, uint32_t series);
/* The journal and sync of files written into the metrics store. */
int series_sync(struct ofile *o);

/* ---- select/ matchers (select.c) ----------------------------------------- */

/* Series matching the matchers of a select/ path remainder ("k=v/j!~re"):
 * a new bitmap, or NULL with *err set (-ENOENT for a bad matcher). */
roaring_bitmap_t *select_bitmap(const char *mpath, int *err);

/* ---- writes (writes.c) ---------------------------------------------------- */

/* One FUSE write request into o: bytes taken or -errno (see writes.c). */
int fs_write(struct ofile *o, const char *buf, size_t size, off_t off);
/* The end of a write (close, or a read of a transaction file): the carried
 * last line is consumed, the errors of a write the kernel cut up are
 * returned, the kind's end_write runs. o->mu held. */
int fs_end_of_write(struct ofile *o);
/* The error a writer should see of rc and e. */
int fs_worst(int rc, int e);

/* ---- query and queries/ (query.c) ------------------------------------------ */

/* Before the loop: the query limits (mount options query_max_samples,
 * query_timeout; 0 = none) and the saved queries in DATADIR/queries.
 * 0 or -errno with err set. */
int fs_query_setup(const char *datadir, uint64_t max_samples, int64_t timeout_ms, char *err, size_t errlen);
void fs_query_teardown(void);
/* ---- alerts (alerts.c) ------------------------------------------------------ */

/* Start the rule evaluator over the db: load DATADIR/alerts/state and the
 * rule files of DATADIR/alerts/rules/, run every group on its interval
 * (default_interval_ms for groups without one; 0: 1m). 0 or -errno with
 * err set. */
int alerts_start(int64_t default_interval_ms, char *err, size_t errlen);
/* Stop it, saving the alert state. */
void alerts_stop(void);
struct obs_alert_sink;
/* Also hand every group's alerts and every transition to s (the
 * notifier); call before alerts_start. */
void alerts_add_sink(const struct obs_alert_sink *s);

/* ---- shared by the root files -------------------------------------------- */

/* 0 when the caller may change the tree (the owner or root), else -EACCES. */
int may_change(void);
/* The uid of the process whose request this thread serves (the low-level
 * API has no fuse_get_context(): use this); getuid() outside a request. */
uid_t fs_caller_uid(void);
/* fsync the metrics WAL and the log store's. */
int sync_all(void);
/* ctl "compact": cut the metrics head into a block and the log heads into
 * segments re-encoded at their final compression, returning when all is
 * durable. */
int compact_all(void);
/* ---- traces/ (traces.c) --------------------------------------------------- */

int traces_start(const char *datadir, const struct obs_traces_opts *o, char *err, size_t errlen);
void traces_run(void);                /* start the ticker (in the serving process) */
void traces_stop(void);
int traces_sync(void);                /* fsync the trace journal, write RED metrics */
int traces_checkpoint(void);          /* kept traces into a segment file */
int traces_status(struct obs_buf *out);
/* traces/ID.logs, node.arg the trace id (traces_logs.c) */
extern const struct fs_kind traces_logs_kind;

/* Source description for errors ("ingest", "metrics/NAME"). */
void source_name(const char *path, char *buf, size_t len);

#endif
