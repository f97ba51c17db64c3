/* ship.h — private to obs-ship: the parts linked into it (tools/ship_*.c).
 *
 *   ship_spool.c    the sink: every write into the mount goes through it; it
 *                   spools to a bounded on-disk queue while the mount is gone
 *                   and replays in order when it is back
 *   ship_scrape.c   pull: scraping /metrics targets (libcurl multi, one thread)
 *   ship_stale.c    a target's series sets and their staleness markers (pure)
 *   ship_targets.c  the targets file (pure parser, fuzzed)
 *   ship_statsd.c   the StatsD UDP listener (one thread, lib/ingest/statsagg)
 *   ship_policy.c   per-stream log rules: sample and scrub (pure, fuzzed)
 *   ship_files.c    log lines into streams, the followed files and their
 *                   position file
 *   ship_util.c     reading files, option values, obs-ship --status
 *
 * Threads: the main thread follows files and calls sink_tick(); the scrape
 * and StatsD threads only call sink_send()/sink_error() and keep their own
 * counters, read under their own locks by the status writers. */
#ifndef OBS_SHIP_H
#define OBS_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/fileio.h"

/* ---- small pieces (ship_util.c) ---- */

/* Option values: exit 2 with a message when invalid. */
int64_t ship_duration_arg(const char *s);
uint64_t ship_size_arg(const char *s);   /* a number with k, M or G */
/* obs-ship --status: print the status file; 0, 1 when its agent is not
 * running, 2 when there is none. */
int ship_show_status(const char *status_file);
/* Append " VALUE TIME" to an ingest line, TIME in seconds with a fraction
 * (1700000000.250), which is seconds in any write: one with an exemplar is
 * OpenMetrics, where integers would be seconds too (obsfs(7)). A staleness
 * marker's value prints as `stale`. 0 or -ENOMEM. */
struct obs_buf;
int ship_put_value_ts(struct obs_buf *out, double v, int64_t ms);

/* ---- sink (ship_spool.c) ---- */

struct sink_opts {
	const char *mount;        /* a FUSE mount (directives and health checks), or NULL */
	const char *logdir;       /* -d DIR: plain directory for log streams, or NULL */
	const char *spooldir;     /* NULL: no spool (a failed write is an error) */
	uint64_t spool_max;       /* bytes */
};

int sink_init(const struct sink_opts *o);   /* 0, or -errno with a warning printed */
void sink_close(void);

/* Send whole lines data[0..n) to dest ("ingest" or "logs/STREAM"). key (may
 * be NULL) with start/end = start + n is the batch identity the daemon uses
 * to drop a re-sent batch (see lib/ingest/batch.h). Returns 0 when the lines
 * were written or spooled (they will be delivered), -ENOSPC when the spool is
 * full (nothing was taken: retry later, or drop), another -errno on a
 * failure that retrying will not fix. Thread-safe. */
int sink_send(const char *dest, const char *data, size_t n, const char *key, uint64_t start);

/* Report an agent error (a scrape that failed) to MOUNT/errors: written to
 * ingest as an #obs-error directive when the mount is up, dropped otherwise
 * (it is in the status file too). Thread-safe. */
void sink_error(const char *source, const char *subject, const char *reason);

/* Replay the spool when the mount is back. Called from the main loop. */
void sink_tick(void);

int sink_mount_up(void);
void sink_status(struct obs_buf *out);

/* ---- scrape (ship_scrape.c, ship_targets.c) ---- */

#define SHIP_MAX_TLABELS 32

struct target_def {
	char *url, *job;
	char *lname[SHIP_MAX_TLABELS], *lvalue[SHIP_MAX_TLABELS];
	int nlabels;
	int64_t interval_ms, timeout_ms;   /* 0: the defaults */
	int honor_labels, honor_timestamps; /* -1: the default */
};

/* Parse a targets file: one target per line, `URL [JOB] [k=v ...]`, where
 * k may also be interval=DUR, timeout=DUR, honor_labels=true|false,
 * honor_timestamps=true|false; '#' starts a comment; JOB defaults to the
 * default_job. Appends to *defs (*n entries). On a bad line returns -EINVAL
 * with *why and *lineno set (entries before it are kept). */
int targets_parse(const char *text, size_t len, const char *default_job, struct target_def **defs, size_t *n,
		  size_t *lineno, const char **why);
void target_def_release(struct target_def *d);

struct scrape_opts {
	int64_t interval_ms, timeout_ms;
	int honor_labels, honor_timestamps;
	const char *targets_file;    /* re-read when it changes, or NULL */
};

/* Start the scrape thread with these targets (copied; may be none when a
 * targets file is given). 0 or -errno. */
int scrape_start(const struct scrape_opts *o, const struct target_def *defs, size_t n);
void scrape_stop(void);          /* the thread ends; the status stays */
void scrape_free(void);
void scrape_status(struct obs_buf *out);

/* ---- staleness (ship_stale.c) ---- */

/* The series one scrape exposed (label texts), for staleness markers. */
struct stale_set {
	struct obs_buf text;
	struct sref *r;
	size_t n, cap;
};

void stale_set_init(struct stale_set *s);
void stale_set_reset(struct stale_set *s);      /* empty, storage kept */
void stale_set_release(struct stale_set *s);    /* accepts NULL */
/* Add a series (its label text, copied). 0 or -ENOMEM. */
int stale_set_add(struct stale_set *s, const char *series, size_t len);
/* Sort the index and drop repeated series; before stale_set_markers. */
void stale_set_sort(struct stale_set *s);
/* Append `SERIES stale TS` to out for every series of prev (sorted) not in
 * cur (sorted; NULL: every series of prev). 0 or -ENOMEM. */
int stale_set_markers(const struct stale_set *prev, const struct stale_set *cur, int64_t ts, struct obs_buf *out);
void stale_set_swap(struct stale_set *a, struct stale_set *b);

/* ---- statsd (ship_statsd.c) ---- */

struct statsd_opts {
	const char *listen;          /* HOST:PORT */
	int64_t flush_ms;
	const double *pcts;
	int npcts;
	size_t max_packet;
};

int statsd_start(const struct statsd_opts *o);
void statsd_stop(void);          /* flushes what was aggregated */
void statsd_status(struct obs_buf *out);

/* ---- policy (ship_policy.c) ---- */

struct policy;

/* Parse a policy file's text. NULL with *why and *lineno on a bad line. */
struct policy *policy_parse(const char *text, size_t len, size_t *lineno, char *why, size_t whylen);
void policy_free(struct policy *p);

/* Apply the rules for stream to whole lines in[0..n): the kept lines,
 * scrubbed, are appended to out. Deterministic (the same input gives the
 * same output). Counts per stream. 0 or -ENOMEM. Not thread-safe. */
int policy_apply(struct policy *p, const char *stream, const char *in, size_t n, struct obs_buf *out);
void policy_status(const struct policy *p, struct obs_buf *out);

/* ---- log lines and followed files (ship_files.c) ---- */

struct files_opts {
	const char *host;            /* in batch keys "f:HOST:NONCE" */
	struct policy *policy;       /* applied to every batch, or NULL */
	const char *posfile;         /* the position file, or NULL: none kept */
	char **patterns;             /* files: paths or glob patterns */
	int npatterns;
	const char *fixed_stream;    /* every file's stream, or NULL: the file's
				      * base name without .log */
	int from_end;                /* files found at start begin at their end */
};

/* Ship whole lines data[0..n) (n ends at a '\n', not from a followed file:
 * no batch key) into logs/STREAM in batches, each through the policy and
 * then the sink. Returns the input bytes taken; *fatal is set when a
 * retry cannot help. */
size_t files_ship(const char *stream, const char *data, size_t n, int *fatal);
/* Begin following: the saved positions, the first scan, the files rotated
 * away meanwhile; positions saved. o (and what it points to) must outlive
 * the module. Nothing to do without patterns. Exits 2 out of memory. */
void files_start(const struct files_opts *o);
/* One round: ship what is new in every file, drop rotated files drained
 * for 3 rounds, save positions. */
void files_round(void);
/* Re-expand the patterns (new files, rotations), save positions. */
void files_rescan(void);
/* The clean stop: ship what is complete, save every position. */
void files_stop(void);
void files_status(struct obs_buf *out);   /* "file path=... stream=..." lines */
int files_failed(void);                    /* 1 after a write that cannot be retried */
void files_free(void);

#endif
