/* obsfs.h — obsfsd internals shared by the files of fs/ (private header).
 *
 * fs/ is thin over libobs: node.c maps a path to a node (one place),
 * render.c turns engine state into text, ops.c implements the FUSE
 * operations on nodes, main.c parses options and runs the loop. */
#ifndef OBSFS_H
#define OBSFS_H

#define FUSE_USE_VERSION 314
#include <fuse.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/obstime.h"
#include <roaring/roaring.h>

#include "tsdb/db.h"

struct obs_logstore;

struct obsfs {
	struct obs_db *db;               /* thread-safe itself */
	struct obs_logstore *logs;       /* NULL until the log store is wired */
	char *datadir, *mountpoint;
	enum obs_time_fmt timefmt;       /* how reads print TIME (mount option time=) */
	size_t max_line;                 /* longest accepted input line in bytes */
	int sync_on_close;               /* fsync the WAL when a written file is closed */
	size_t max_write;                /* bytes of one FUSE write request (set at init) */
	int64_t mounted_ms;
	uid_t owner;                     /* the only user (besides root) who may change anything */
};

extern struct obsfs *obsfs;          /* set once in main() before the loop starts */
extern int ready_pipe[2];            /* [1]: tell the waiting parent we are mounted */

enum node_kind {
	N_NONE = 0,
	N_ROOT, N_README, N_INGEST, N_CTL, N_STATUS, N_ERRORS,
	N_EXPORT,                        /* export[.jsonl][@RANGE]: every sample, Prometheus text or JSON lines */
	N_METRICS_DIR, N_SERIES, N_VIEW,
	N_SELECT_DIR,                    /* select/M1/.../Mk/ */
	N_LABELS_DIR, N_LABEL_DIR,       /* labels/, labels/K/ */
	N_LABEL_VALUE_DIR,               /* labels/K/V/ : series with K=V */
	N_LOGS_DIR, N_LOG_STREAM,        /* logs/, logs/STREAM */
	N_LOG_VIEW,                      /* logs/STREAM@RANGE?QUERY#... (arg: the name) */
};

struct node {
	enum node_kind kind;
	uint32_t id;                     /* N_SERIES, N_VIEW (and series under select/) */
	int64_t from, to, step;          /* N_VIEW */
	char fn[16];                     /* N_VIEW aggregation function text ("" = raw) */
	int json;                        /* N_EXPORT: JSON lines instead of Prometheus text */
	struct obs_buf arg;              /* label name / dir path remainder, as decoded */
	struct obs_buf arg2;
};

void node_init(struct node *n);
void node_release(struct node *n);
/* Resolve a path; 0 or -ENOENT / -EINVAL / -ENAMETOOLONG. */
int node_resolve(const char *path, struct node *n);

/* Series file names: the canonical text with '/' and '%' escaped, or the
 * stable short alias when longer than NAME_MAX. */
int series_fname(uint32_t id, struct obs_buf *out);
/* The NAME_MAX rule for any name: enc (already %-escaped) cut to a prefix
 * plus "~" and 16 hex digits of the hash h of the real text. */
void alias_of(const char *enc, size_t n, uint64_t h, struct obs_buf *out);
int is_alias(const char *name, size_t n);

/* Series id from a file name (canonical text in any label order, or alias). */
int series_from_fname(const char *name, size_t n, uint32_t *id, int create, const char **why);

/* Series matching the matchers of a select/ path remainder ("k=v/j!~re"):
 * a new bitmap, or NULL with *err set (-ENOENT for a bad matcher). */
roaring_bitmap_t *select_bitmap(const char *mpath, int *err);

/* Text of read-only generated files. */
int render_readme(struct obs_buf *out);
int render_status(struct obs_buf *out);
int render_view(const struct node *n, struct obs_buf *out);
int render_log_view(const char *name, struct obs_buf *out);
/* Append series id's samples in [from, to] as "SERIES VALUE TIMESTAMP_MS"
 * lines, or with json as one JSON line {"metric":{..},"values":[..],"timestamps":[..]}
 * (the line format of VictoriaMetrics' /api/v1/export and /api/v1/import). */
int render_export_series(uint32_t id, int64_t from, int64_t to, int json, struct obs_buf *out);
/* ctl "compact": cut the metrics head into a block and the log heads into
 * segments re-encoded at their final compression, returning when all is
 * durable. */
int compact_all(void);

extern const struct fuse_operations obsfs_ops;

/* Source description for errors ("ingest", "metrics/NAME"). */
void source_name(const char *path, char *buf, size_t len);

#endif
