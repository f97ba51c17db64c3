/* errlog.h — a bounded, thread-safe ring of recently rejected input lines:
 * what was rejected, where it came from and why (served as MOUNT/errors). */
#ifndef OBS_CORE_ERRLOG_H
#define OBS_CORE_ERRLOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define OBS_ERRLOG_LINE_MAX 256   /* bytes of the rejected line that are kept */

struct obs_errlog;

struct obs_errlog *obs_errlog_new(size_t capacity);
void obs_errlog_free(struct obs_errlog *e);   /* accepts NULL */

/* Record a rejection: source (e.g. "ingest", "metrics/up"), the offending
 * line (truncated, non-printable bytes escaped when rendered), its line
 * number (0 = none) and a reason. Never fails (drops the oldest entry). */
void obs_errlog_add(struct obs_errlog *e, int64_t now_ms, const char *source, size_t lineno,
		    const char *line, size_t len, const char *why);

/* Render every kept entry oldest first, one per line:
 * "TIME SOURCE:LINENO: WHY: LINE". Returns 0 or -ENOMEM. */
int obs_errlog_render(struct obs_errlog *e, struct obs_buf *out);

/* Total rejections since start (including those dropped from the ring). */
uint64_t obs_errlog_total(struct obs_errlog *e);

#endif
