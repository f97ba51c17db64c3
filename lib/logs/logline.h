/* logline.h — what the log store reads out of one log line (libobs logs).
 *
 * Pure functions over (pointer, length); nothing is copied or allocated.
 * Used by the store at ingest (record time, index fields), by the query
 * evaluator (field values) and by obs-grep in filter mode. */
#ifndef OBS_LOGS_LOGLINE_H
#define OBS_LOGS_LOGLINE_H

#include <stddef.h>
#include <stdint.h>

/* Time of a line, tried in this order:
 *   RFC3339 prefix          "2026-11-21T10:00:00.123Z ..." ('T' or ' ', offsets)
 *   syslog prefix           "Nov 21 10:00:00 ..." (year from now_ms, UTC)
 *   nginx/apache            "... [21/Nov/2026:04:46:16 +0000] ..." (first 96 bytes)
 *   JSON object             "ts" / "time" / "timestamp" / "@timestamp": RFC3339 or epoch s/ms
 *   logfmt                  ts= / time= : RFC3339 or epoch s/ms
 * Returns 0 and sets *out_ms, or -ENOENT when the line carries no time. */
int obs_logline_time(const char *p, size_t n, int64_t now_ms, int64_t *out_ms);

enum obs_logline_fmt {
	OBS_LOGLINE_PLAIN = 0,
	OBS_LOGLINE_JSON,
	OBS_LOGLINE_LOGFMT,
	OBS_LOGLINE_NGINX,
};

/* Called once per field; k and v point into the line (JSON string values are
 * given without their quotes, escapes left as written). A non-zero return
 * stops the walk and is returned by obs_logline_fields. */
typedef int (*obs_logfield_fn)(void *ctx, const char *k, size_t kn, const char *v, size_t vn);

/* Walk the fields of a line:
 *   JSON object: top-level keys with string, number, bool and null values
 *   logfmt: key=value and key="quoted value" pairs (at least one '=' pair)
 *   nginx/apache combined: ip, user, method, path, proto, status, bytes,
 *     referer, agent
 *   plain: a level word among the first tokens ("ERROR", "[warn]", "W")
 *     yields level=<word>; a trace_id= or span_id= token anywhere yields
 *     that field (logs correlate with traces/ID.logs)
 * *fmt (may be NULL) receives the detected format. Returns 0 or fn's value. */
int obs_logline_fields(const char *p, size_t n, obs_logfield_fn fn, void *ctx,
		       enum obs_logline_fmt *fmt);

/* Severity rank of a level word, case-insensitive: trace 0, debug 1, info 2,
 * notice 3, warn/warning 4, error/err 5, critical/crit/fatal/panic/alert/
 * emerg 6 (one-letter forms D I W E F too). -1 when not a level word. */
int obs_loglevel_rank(const char *v, size_t n);

/* Canonical name of a rank: "trace" "debug" "info" "notice" "warn" "error"
 * "fatal" (NULL when out of range). Count-by-level groups by these names. */
const char *obs_loglevel_name(int rank);

/* True when the field name is a severity field (level, lvl, severity,
 * loglevel, log.level). */
int obs_logfield_is_level(const char *k, size_t n);

/* Parse a civil UTC time "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM]" at the
 * start of p; returns the number of bytes consumed (0 when not a time). */
size_t obs_logline_rfc3339(const char *p, size_t n, int64_t *out_ms);

#endif
