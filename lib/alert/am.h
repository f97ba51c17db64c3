/* am.h — what the Alertmanager half of lib/alert shares: a clock that tests
 * drive, the alert as the dispatcher sees it (labels, annotations, start,
 * end), Alertmanager's fingerprint of a label set, and the atomic file save
 * used by every state file under DATADIR/alerts/. */
#ifndef OBS_ALERT_AM_H
#define OBS_ALERT_AM_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/labels.h"

/* A clock: now() in ms. NULL fn means the wall clock. Unit tests set their
 * own so that group_wait, group_interval and repeat_interval need no sleeps. */
struct am_clock {
	int64_t (*now)(void *ctx);
	void *ctx;
};

int64_t am_clock_now(const struct am_clock *c);

/* An alert as the notifier receives it. ends_at is 0 while the alert fires
 * with no known end; resolved alerts carry ends_at <= now. */
struct am_alert {
	struct obs_labels labels;
	struct obs_labels annotations;
	int64_t starts_at;
	int64_t ends_at;
	char *generator_url;       /* may be NULL */
};

void am_alert_init(struct am_alert *a);
void am_alert_release(struct am_alert *a);   /* accepts NULL */
int am_alert_copy(struct am_alert *dst, const struct am_alert *src);
/* Resolved at time now: ends_at set and not after now. */
int am_alert_resolved(const struct am_alert *a, int64_t now);

/* Alertmanager's fingerprint of a label set (model.LabelSet.Fingerprint:
 * 64-bit FNV-1a over name, 0xff, value, 0xff of the labels sorted by name). */
uint64_t am_fingerprint(const struct obs_labels *l);

/* Write data to path atomically (obs_write_file_atomic: temp file, fsync,
 * rename, directory fsync), creating the directory and its parents when
 * missing. 0 or -errno; on failure the old file is untouched. Fault points:
 * "am.save.write", "am.save.fsync", "am.save.rename", "am.save.dirsync". */
int am_save_atomic(const char *path, const void *data, size_t n);

/* Versioned state files (DATADIR/alerts/silences, STATE_DIR/nflog), text:
 *     MAGIC                    a name and a version, "obsfs-silences 1"
 *     RECORD                   one per line, as the owner formats it
 *     ...
 *     end COUNT CRC            COUNT records; CRC the CRC-32C, in lower-case
 *                              hex, of every byte before the "end" line
 * Written whole with am_save_atomic, so a torn file cannot happen and any
 * mismatch is corruption.
 *
 * am_statefile_end appends the end line to b, which holds the MAGIC line and
 * count records. 0 or -ENOMEM.
 *
 * am_statefile_load reads path and calls rec(ctx, line) for every record in
 * order (line NUL-terminated, without its newline, writable in place). A
 * missing file has no records (0). A wrong header, a missing end line, a
 * checksum or count that disagrees, a record without its newline, or
 * -EBADMSG from rec are -EBADMSG; other errors (the read's, rec's) are
 * returned as they are. On failure some records may have been delivered:
 * the caller discards what it loaded. */
int am_statefile_end(struct obs_buf *b, size_t count);
int am_statefile_load(const char *path, const char *magic, int (*rec)(void *ctx, char *line), void *ctx);

/* Escape s for one tab-separated field: \ tab newline as \\ \t \n. */
int am_field_escape(struct obs_buf *out, const char *s);
/* Decode a field in place (the reverse of am_field_escape). */
void am_field_unescape(char *s);

#endif
