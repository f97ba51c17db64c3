/* timeint.c — time-interval ranges and their evaluation against a time. */
#include "alert/timeint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void am_tinterval_release(struct am_tinterval *t)
{
	if (!t)
		return;
	for (int f = 0; f < AM_TF_N; f++)
		free(t->r[f]);
	memset(t, 0, sizeof(*t));
}

void am_named_tint_release(struct am_named_tint *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		am_tinterval_release(&t->v[i]);
	free(t->v);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

static int push(struct am_tinterval *t, enum am_tfield f, int lo, int hi)
{
	struct am_range *r = realloc(t->r[f], (t->n[f] + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	r[t->n[f]].lo = lo;
	r[t->n[f]].hi = hi;
	t->r[f] = r;
	t->n[f]++;
	return 0;
}

static const char *const WEEKDAYS[] = { "sunday", "monday", "tuesday", "wednesday", "thursday",
					"friday", "saturday" };
static const char *const MONTHS[] = { "january", "february", "march", "april", "may", "june", "july",
				      "august", "september", "october", "november", "december" };

static int parse_int(const char *s, size_t n, int *out)
{
	size_t i = 0;
	int neg = 0;
	long v = 0;
	if (n && s[0] == '-')
		neg = 1, i = 1;
	if (i == n)
		return -EINVAL;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > 100000)
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = (int)(neg ? -v : v);
	return 0;
}

static int parse_name(const char *s, size_t n, const char *const *names, int count, int base,
		      int *out)
{
	for (int i = 0; i < count; i++)
		if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0) {
			*out = i + base;
			return 0;
		}
	return -EINVAL;
}

static int parse_one(enum am_tfield f, const char *s, size_t n, int *out, const char **why)
{
	switch (f) {
	case AM_TF_WEEKDAYS:
		if (parse_name(s, n, WEEKDAYS, 7, 0, out)) {
			*why = "invalid weekday";
			return -EINVAL;
		}
		return 0;
	case AM_TF_MONTHS:
		if (parse_name(s, n, MONTHS, 12, 1, out) == 0)
			return 0;
		if (parse_int(s, n, out) || *out < 1 || *out > 12) {
			*why = "invalid month";
			return -EINVAL;
		}
		return 0;
	case AM_TF_MDAYS:
		if (parse_int(s, n, out) || *out == 0 || *out < -31 || *out > 31) {
			*why = "invalid day of month";
			return -EINVAL;
		}
		return 0;
	default:
		if (parse_int(s, n, out) || *out < 0) {
			*why = "invalid year";
			return -EINVAL;
		}
		return 0;
	}
}

int am_tint_add_range(struct am_tinterval *t, enum am_tfield f, const char *text, const char **why)
{
	size_t n = strlen(text);
	/* a ':' separates the ends; a leading '-' belongs to a negative day */
	const char *colon = NULL;
	for (size_t i = 1; i < n; i++)
		if (text[i] == ':') {
			colon = text + i;
			break;
		}
	int lo, hi;
	if (colon) {
		if (parse_one(f, text, (size_t)(colon - text), &lo, why) ||
		    parse_one(f, colon + 1, n - (size_t)(colon - text) - 1, &hi, why))
			return -EINVAL;
	} else {
		if (parse_one(f, text, n, &lo, why))
			return -EINVAL;
		hi = lo;
	}
	if (f == AM_TF_MDAYS && (lo < 0 ? 30 + lo : lo) > (hi < 0 ? 30 + hi : hi)) {
		/* Alertmanager's check: negative days counted from a 30-day month */
		*why = "start day cannot be after end day";
		return -EINVAL;
	}
	if (f != AM_TF_MDAYS && lo > hi) {
		*why = f == AM_TF_WEEKDAYS ? "start day cannot be after end day" :
		       f == AM_TF_MONTHS ? "start month cannot be after end month" :
					   "end year cannot be before start year";
		return -EINVAL;
	}
	return push(t, f, lo, hi);
}

static int parse_hhmm(const char *s, int *out)
{
	size_t n = strlen(s);
	if (n != 5 || s[2] != ':')
		return -EINVAL;
	int h, m;
	if (parse_int(s, 2, &h) || parse_int(s + 3, 2, &m) || h < 0 || h > 24 || m < 0 || m > 59 ||
	    (h == 24 && m != 0))
		return -EINVAL;
	*out = h * 60 + m;
	return 0;
}

int am_tint_add_time(struct am_tinterval *t, const char *start, const char *end, const char **why)
{
	int a, b;
	if (!start || !end) {
		*why = "both start and end times must be provided";
		return -EINVAL;
	}
	if (parse_hhmm(start, &a) || parse_hhmm(end, &b)) {
		*why = "invalid time of day";
		return -EINVAL;
	}
	if (a >= b) {
		*why = "start time cannot be equal or greater than end time";
		return -EINVAL;
	}
	return push(t, AM_TF_TIMES, a, b);
}

int am_tint_set_location(struct am_tinterval *t, const char *loc, const char **why)
{
	if (strcmp(loc, "UTC") == 0) {
		t->local = 0;
		return 0;
	}
	if (strcmp(loc, "Local") == 0) {
		t->local = 1;
		return 0;
	}
	*why = "unsupported location (UTC or Local)";
	return -EINVAL;
}

static int days_in_month(int year, int mon)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (mon == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return d[mon - 1];
}

static int in_ranges(const struct am_range *r, size_t n, int v)
{
	for (size_t i = 0; i < n; i++)
		if (v >= r[i].lo && v <= r[i].hi)
			return 1;
	return 0;
}

int am_tinterval_contains(const struct am_tinterval *t, int64_t t_ms)
{
	time_t secs = (time_t)(t_ms >= 0 ? t_ms / 1000 : (t_ms - 999) / 1000);
	struct tm tm;
	if (!(t->local ? localtime_r(&secs, &tm) : gmtime_r(&secs, &tm)))
		return 0;
	if (t->n[AM_TF_TIMES]) {
		int min = tm.tm_hour * 60 + tm.tm_min, ok = 0;
		for (size_t i = 0; i < t->n[AM_TF_TIMES] && !ok; i++)
			ok = min >= t->r[AM_TF_TIMES][i].lo && min < t->r[AM_TF_TIMES][i].hi;
		if (!ok)
			return 0;
	}
	if (t->n[AM_TF_WEEKDAYS] && !in_ranges(t->r[AM_TF_WEEKDAYS], t->n[AM_TF_WEEKDAYS], tm.tm_wday))
		return 0;
	if (t->n[AM_TF_MONTHS] && !in_ranges(t->r[AM_TF_MONTHS], t->n[AM_TF_MONTHS], tm.tm_mon + 1))
		return 0;
	if (t->n[AM_TF_YEARS] && !in_ranges(t->r[AM_TF_YEARS], t->n[AM_TF_YEARS], tm.tm_year + 1900))
		return 0;
	if (t->n[AM_TF_MDAYS]) {
		int dim = days_in_month(tm.tm_year + 1900, tm.tm_mon + 1), ok = 0;
		for (size_t i = 0; i < t->n[AM_TF_MDAYS] && !ok; i++) {
			int lo = t->r[AM_TF_MDAYS][i].lo, hi = t->r[AM_TF_MDAYS][i].hi;
			if (lo < 0)
				lo = dim + lo + 1;
			if (hi < 0)
				hi = dim + hi + 1;
			if (lo < 1)
				lo = 1;
			if (hi > dim)
				hi = dim;
			ok = tm.tm_mday >= lo && tm.tm_mday <= hi;
		}
		if (!ok)
			return 0;
	}
	return 1;
}

int am_named_tint_contains(const struct am_named_tint *t, int64_t t_ms)
{
	for (size_t i = 0; i < t->n; i++)
		if (am_tinterval_contains(&t->v[i], t_ms))
			return 1;
	return 0;
}
