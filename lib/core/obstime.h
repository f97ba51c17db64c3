/* obstime.h — time points, durations and ranges (libobs core).
 *
 * A time point is int64 milliseconds since the Unix epoch (UTC). Every parser
 * takes (pointer, length) so it can work inside a line without copying; all
 * return 0, -EINVAL (not a time) or -ERANGE (a time outside
 * [OBS_TIME_VALID_MIN, OBS_TIME_VALID_MAX]) and leave *out unmodified on
 * failure. */
#ifndef OBS_CORE_OBSTIME_H
#define OBS_CORE_OBSTIME_H

#include <stddef.h>
#include <stdint.h>

#define OBS_TIME_MIN INT64_MIN
#define OBS_TIME_MAX INT64_MAX

/* The times a sample may have: years 0000 to 9999, what RFC3339 can print
 * (0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z). Every parser of
 * sample times refuses the rest, so time arithmetic on stored samples has
 * more than 2^62 of headroom either side. */
#define OBS_TIME_VALID_MIN (-62167219200000LL)
#define OBS_TIME_VALID_MAX 253402300799999LL

static inline int obs_time_valid(int64_t t)
{
	return t >= OBS_TIME_VALID_MIN && t <= OBS_TIME_VALID_MAX;
}

/* Current wall-clock time in ms. */
int64_t obs_time_now(void);

/* Absolute time: RFC3339 ("2026-11-21T10:00:00Z", fraction and +hh:mm offsets
 * allowed, 'T' or ' ' separator, date-only "2026-11-21" means midnight UTC) or
 * epoch seconds with an optional fraction ("1795236131.643"). A plain integer
 * with 13+ digits is taken as epoch milliseconds. */
int obs_time_parse(const char *s, size_t n, int64_t *out_ms);

/* The longest duration accepted: 10,000 years. */
#define OBS_DURATION_MAX (10000LL * 365 * 24 * 3600 * 1000)

/* Duration: "500ms", "10s", "5m", "1h", "2d", "1w", "1y", combinations
 * ("1h30m"), or a plain number of seconds ("90", "1.5"). Result in ms, > 0
 * unless the text is "0", at most OBS_DURATION_MAX. */
int obs_duration_parse(const char *s, size_t n, int64_t *out_ms);

/* A time that may be relative to now: "-1h" (now minus a duration), "now",
 * or anything obs_time_parse accepts. */
int obs_time_parse_rel(const char *s, size_t n, int64_t now_ms, int64_t *out_ms);

/* Range: "-1h" (from now-1h to now), "A..B" where A and B are any
 * obs_time_parse_rel form (B may be empty meaning now, A empty meaning the
 * beginning of time). Sets [*from, *to] inclusive. */
int obs_range_parse(const char *s, size_t n, int64_t now_ms, int64_t *from, int64_t *to);

enum obs_time_fmt { OBS_TIME_RFC3339 = 0, OBS_TIME_EPOCH = 1 };

/* Format into buf (at least 32 bytes): RFC3339 UTC with milliseconds
 * ("2026-11-21T10:00:00.000Z") or epoch seconds with milliseconds when not
 * whole ("1795236131.643", "1795236131"). Returns the length written. */
int obs_time_format(int64_t ms, enum obs_time_fmt fmt, char *buf);

/* Format a duration in ms compactly ("1h30m", "250ms") into buf (>= 32 bytes). */
int obs_duration_format(int64_t ms, char *buf);

#endif
