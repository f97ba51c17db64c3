/* alertstate.h — the rule manager's alert state on disk (libobs alert), so
 * a restart neither re-pends a long-firing alert nor forgets a pending
 * alert's active_at (DATADIR/alerts/state, format in alertstate.c).
 *
 * Also the atomic file write used for everything under DATADIR/alerts/
 * (rule files, state): temp file, fsync, rename, fsync the directory. */
#ifndef OBS_ALERT_ALERTSTATE_H
#define OBS_ALERT_ALERTSTATE_H

#include <stddef.h>

#include "alert/ruleeval.h"

/* Write every alert of e (and saved alerts not yet claimed by a loaded
 * rule) to path atomically. 0 or -errno; on failure the previous file
 * stays. */
int obs_alertstate_save(struct obs_ruleeval *e, const char *path);

/* Read path and hand each alert to obs_ruleeval_restore. A missing file is
 * 0 alerts; a corrupt one (bad header, line, count or checksum) restores
 * nothing and returns -EBADMSG. *n (may be NULL) gets the count. */
int obs_alertstate_load(struct obs_ruleeval *e, const char *path, size_t *n);

/* Encode / decode the state text (pure; load and save use them).
 * decode calls fn per alert; 0, -EBADMSG or -ENOMEM. */
int obs_alertstate_encode(struct obs_ruleeval *e, struct obs_buf *out);
int obs_alertstate_decode(const char *text, size_t n,
			  int (*fn)(void *ctx, const char *file, const char *group, const struct obs_alert *a),
			  void *ctx);

/* Write data to path atomically (obs_write_file_atomic with the fault
 * points alert.state.write/fsync/rename/dirsync). */
int obs_alert_write_atomic(const char *path, const void *data, size_t n);

#endif
