/* timeint.h — Alertmanager time intervals: when a route is muted or active.
 *
 * An interval is a conjunction of optional fields; each field is a list of
 * ranges and matches when any range does: times (HH:MM start inclusive, end
 * exclusive, end may be 24:00), weekdays (sunday..saturday, "monday:friday"),
 * days_of_month (1..31 or -31..-1 counted from the month's end, "1:5",
 * "-3:-1"), months (january..december or 1..12), years ("2024:2026").
 * location is UTC (default) or Local. A named time interval (time_intervals:
 * or mute_time_intervals: entry) is a list of intervals, matching when any
 * does. Parsing of the YAML sits in amconfig.c; this module holds the parts
 * and the arithmetic, so tests can drive it with exact times. */
#ifndef OBS_ALERT_TIMEINT_H
#define OBS_ALERT_TIMEINT_H

#include <stddef.h>
#include <stdint.h>

struct am_range {
	int lo, hi;     /* inclusive (times: minutes of the day, hi exclusive) */
};

enum am_tfield { AM_TF_TIMES, AM_TF_WEEKDAYS, AM_TF_MDAYS, AM_TF_MONTHS, AM_TF_YEARS, AM_TF_N };

struct am_tinterval {
	struct am_range *r[AM_TF_N];
	size_t n[AM_TF_N];       /* 0: the field is absent (matches always) */
	int local;               /* location: Local instead of UTC */
};

struct am_named_tint {
	char *name;
	struct am_tinterval *v;
	size_t n;
};

void am_tinterval_release(struct am_tinterval *t);
void am_named_tint_release(struct am_named_tint *t);

/* Parse one range of a field from its YAML text ("09:00"-"17:00" is given as
 * two strings for times, see am_tint_add_time). 0 or -EINVAL with *why. */
int am_tint_add_range(struct am_tinterval *t, enum am_tfield f, const char *text, const char **why);
/* A times entry: start_time and end_time ("HH:MM"). */
int am_tint_add_time(struct am_tinterval *t, const char *start, const char *end, const char **why);
/* "UTC" or "Local"; other names are -EINVAL ("unsupported location"). */
int am_tint_set_location(struct am_tinterval *t, const char *loc, const char **why);

/* Does the interval contain time t (ms)? */
int am_tinterval_contains(const struct am_tinterval *t, int64_t t_ms);
/* Does any interval of the named one contain t? */
int am_named_tint_contains(const struct am_named_tint *t, int64_t t_ms);

#endif
