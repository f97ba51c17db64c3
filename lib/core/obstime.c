/* obstime.c — time points, durations and ranges (libobs core).
 *
 * Pure text <-> int64 milliseconds conversions; no locale, no libc time zone
 * state, no allocation. Calendar arithmetic is the proleptic Gregorian
 * calendar on days since 1970-01-01 (the "days from civil" construction), so
 * any year 0000..9999 round-trips. Parsers are hand-written because the
 * stream tools call obs_time_parse once per input line. */
#include "core/obstime.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define MS_PER_S 1000LL
#define MS_PER_M (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_M)
#define MS_PER_D (24 * MS_PER_H)
#define MS_PER_W (7 * MS_PER_D)
#define MS_PER_Y (365 * MS_PER_D)

int64_t obs_time_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / 1000000;
}

/* Days since 1970-01-01 of the civil date y-m-d (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Exactly n digits at s[0..n) into *v. */
static bool digits(const char *s, size_t n, int *v)
{
	int x = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return true;
}

/* Fraction digits after a '.': first three give ms, the fourth rounds (half
 * up); any further digits must still be digits. Returns the digits consumed,
 * 0 if there are none. */
static size_t frac_ms(const char *s, size_t n, int64_t *ms)
{
	size_t i = 0;
	int64_t v = 0;
	for (; i < n && is_digit(s[i]); i++) {
		if (i < 3)
			v = v * 10 + (s[i] - '0');
		else if (i == 3 && s[i] >= '5')
			v++; /* may carry to 1000: callers add, not store */
	}
	for (size_t k = i; k < 3 && i > 0; k++)
		v *= 10;
	*ms = v;
	return i;
}

static int parse_rfc3339(const char *s, size_t n, int64_t *out)
{
	int Y, M, D, h = 0, mi = 0, sec = 0;
	int64_t frac = 0, off = 0;
	size_t i;

	if (n < 10 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
	    s[7] != '-' || !digits(s + 8, 2, &D))
		return -EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M))
		return -EINVAL;
	i = 10;
	if (i < n) {
		if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
			return -EINVAL;
		i++;
		if (n - i < 5 || !digits(s + i, 2, &h) || s[i + 2] != ':' ||
		    !digits(s + i + 3, 2, &mi))
			return -EINVAL;
		i += 5;
		if (i < n && s[i] == ':') {
			if (n - i < 3 || !digits(s + i + 1, 2, &sec))
				return -EINVAL;
			i += 3;
			if (i < n && (s[i] == '.' || s[i] == ',')) {
				size_t k = frac_ms(s + i + 1, n - i - 1, &frac);
				if (k == 0)
					return -EINVAL;
				i += 1 + k;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -EINVAL;
		if (i < n) {
			if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
				i++;
			} else if (s[i] == '+' || s[i] == '-') {
				int oh, om;
				int sign = s[i] == '-' ? -1 : 1;
				const char *p = s + i + 1;
				size_t r = n - i - 1;
				if (r == 5 && p[2] == ':' && digits(p, 2, &oh) && digits(p + 3, 2, &om))
					;
				else if (r == 4 && digits(p, 2, &oh) && digits(p + 2, 2, &om))
					;
				else
					return -EINVAL;
				if (oh > 23 || om > 59)
					return -EINVAL;
				off = sign * (oh * MS_PER_H + om * MS_PER_M);
				i = n;
			} else {
				return -EINVAL;
			}
		}
	}
	if (i != n)
		return -EINVAL;
	*out = days_from_civil(Y, M, D) * MS_PER_D + h * MS_PER_H + mi * MS_PER_M +
	       sec * MS_PER_S + frac - off;
	return 0;
}

static int parse_epoch(const char *s, size_t n, int64_t *out)
{
	size_t i = 0, nd = 0;
	bool neg = false;
	int64_t v = 0, frac = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	for (; i < n && is_digit(s[i]); i++, nd++) {
		if (v > (INT64_MAX - 9) / 10)
			return -ERANGE;   /* digits beyond int64: out of range */
		v = v * 10 + (s[i] - '0');
	}
	if (i < n && s[i] == '.') {
		size_t k = frac_ms(s + i + 1, n - i - 1, &frac);
		if (k == 0 && nd == 0)
			return -EINVAL;
		i += 1 + k;
	} else if (nd >= 13) {
		if (i != n)
			return -EINVAL;
		*out = neg ? -v : v;
		return 0;
	}
	if (i != n || (nd == 0 && (i == 0 || s[i - 1] == '.' || s[i - 1] == '-' ||
				   s[i - 1] == '+')))
		return -EINVAL;
	if (v > (INT64_MAX - 1000) / MS_PER_S)
		return -ERANGE;
	v = v * MS_PER_S + frac;
	*out = neg ? -v : v;
	return 0;
}

int obs_time_parse(const char *s, size_t n, int64_t *out_ms)
{
	int64_t t;
	int rc = n >= 10 && s[4] == '-' ? parse_rfc3339(s, n, &t) : parse_epoch(s, n, &t);

	if (rc)
		return rc;
	if (!obs_time_valid(t))
		return -ERANGE;
	*out_ms = t;
	return 0;
}

static int unit_ms(const char *s, size_t n, size_t *used, int *rank, int64_t *mul)
{
	if (n >= 2 && s[0] == 'm' && s[1] == 's') {
		*used = 2, *rank = 0, *mul = 1;
		return 0;
	}
	if (n < 1)
		return -EINVAL;
	*used = 1;
	switch (s[0]) {
	case 's': *rank = 1, *mul = MS_PER_S; return 0;
	case 'm': *rank = 2, *mul = MS_PER_M; return 0;
	case 'h': *rank = 3, *mul = MS_PER_H; return 0;
	case 'd': *rank = 4, *mul = MS_PER_D; return 0;
	case 'w': *rank = 5, *mul = MS_PER_W; return 0;
	case 'y': *rank = 6, *mul = MS_PER_Y; return 0;
	}
	return -EINVAL;
}

int obs_duration_parse(const char *s, size_t n, int64_t *out_ms)
{
	size_t i = 0;
	int last_rank = 7;
	int64_t total = 0;

	if (n == 0)
		return -EINVAL;
	while (i < n) {
		int64_t ip = 0, frac_num = 0, frac_den = 1;
		size_t nd = 0, nf = 0;
		for (; i < n && is_digit(s[i]); i++, nd++) {
			if (ip > (INT64_MAX - 9) / 10)
				return -EINVAL;
			ip = ip * 10 + (s[i] - '0');
		}
		if (i < n && s[i] == '.') {
			for (i++; i < n && is_digit(s[i]); i++, nf++) {
				if (frac_den < 1000000000000LL) {
					frac_num = frac_num * 10 + (s[i] - '0');
					frac_den *= 10;
				}
			}
			if (nf == 0)
				return -EINVAL;
		}
		if (nd + nf == 0)
			return -EINVAL;
		int64_t mul;
		int rank;
		size_t used;
		if (i == n) {
			if (last_rank != 7) /* "1h30": a bare number only alone */
				return -EINVAL;
			mul = MS_PER_S, rank = 1, used = 0;
		} else if (unit_ms(s + i, n - i, &used, &rank, &mul) < 0) {
			return -EINVAL;
		}
		if (rank >= last_rank)
			return -EINVAL;
		last_rank = rank;
		i += used;
		if (ip > (INT64_MAX / mul) - 1)
			return -EINVAL;
		int64_t part = ip * mul;
		/* fraction of the unit, rounded half up to a millisecond */
		part += (int64_t)(((__int128)frac_num * mul * 2 + frac_den) / (2 * frac_den));
		if (total > INT64_MAX - part)
			return -EINVAL;
		total += part;
	}
	if (total == 0 && !(n == 1 && s[0] == '0'))
		return -EINVAL;
	if (total > OBS_DURATION_MAX)
		return -EINVAL;   /* longer than any time range can be: surely a mistake */
	*out_ms = total;
	return 0;
}

int obs_time_parse_rel(const char *s, size_t n, int64_t now_ms, int64_t *out_ms)
{
	int64_t d;

	if (n == 3 && memcmp(s, "now", 3) == 0) {
		*out_ms = now_ms;
		return 0;
	}
	if (n > 3 && memcmp(s, "now", 3) == 0) { /* now-1h, now+5m */
		s += 3, n -= 3;
		if (s[0] != '-' && s[0] != '+')
			return -EINVAL;
	}
	if (n > 1 && (s[0] == '-' || s[0] == '+')) {
		if (obs_duration_parse(s + 1, n - 1, &d) < 0)
			return -EINVAL;
		int64_t t;
		if (s[0] == '-' ? __builtin_sub_overflow(now_ms, d, &t) : __builtin_add_overflow(now_ms, d, &t))
			t = s[0] == '-' ? OBS_TIME_VALID_MIN : OBS_TIME_VALID_MAX;
		/* a relative time saturates at the ends of the valid times */
		if (t < OBS_TIME_VALID_MIN)
			t = OBS_TIME_VALID_MIN;
		if (t > OBS_TIME_VALID_MAX)
			t = OBS_TIME_VALID_MAX;
		*out_ms = t;
		return 0;
	}
	return obs_time_parse(s, n, out_ms);
}

int obs_range_parse(const char *s, size_t n, int64_t now_ms, int64_t *from, int64_t *to)
{
	int64_t a = OBS_TIME_MIN, b = now_ms;
	const char *dd = NULL;

	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '.' && s[i + 1] == '.') {
			dd = s + i;
			break;
		}
	if (!dd) {
		if (obs_time_parse_rel(s, n, now_ms, &a) < 0)
			return -EINVAL;
	} else {
		size_t na = (size_t)(dd - s), nb = n - na - 2;
		if (na && obs_time_parse_rel(s, na, now_ms, &a) < 0)
			return -EINVAL;
		if (nb && obs_time_parse_rel(dd + 2, nb, now_ms, &b) < 0)
			return -EINVAL;
		if (!na && !nb)
			return -EINVAL;
	}
	if (a > b)
		return -EINVAL;
	*from = a;
	*to = b;
	return 0;
}

static int put_uint(char *p, uint64_t v)
{
	char tmp[24];
	int k = 0;
	do {
		tmp[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (int i = 0; i < k; i++)
		p[i] = tmp[k - 1 - i];
	return k;
}

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

int obs_time_format(int64_t ms, enum obs_time_fmt fmt, char *buf)
{
	if (fmt == OBS_TIME_EPOCH) {
		int n = 0;
		uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
		if (ms < 0)
			buf[n++] = '-';
		n += put_uint(buf + n, u / 1000);
		unsigned f = (unsigned)(u % 1000);
		if (f) {
			buf[n++] = '.';
			buf[n++] = (char)('0' + f / 100);
			if (f % 100) {
				buf[n++] = (char)('0' + f / 10 % 10);
				if (f % 10)
					buf[n++] = (char)('0' + f % 10);
			}
		}
		buf[n] = '\0';
		return n;
	}
	int64_t days = ms / MS_PER_D, rem = ms % MS_PER_D;
	if (rem < 0)
		rem += MS_PER_D, days--;
	int64_t y;
	int m, d, n = 0;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) { /* not RFC3339: fall back to a signed year */
		if (y < 0)
			buf[n++] = '-';
		n += put_uint(buf + n, (uint64_t)(y < 0 ? -y : y));
	} else {
		put2(buf, (int)(y / 100));
		put2(buf + 2, (int)(y % 100));
		n = 4;
	}
	buf[n++] = '-';
	put2(buf + n, m), n += 2;
	buf[n++] = '-';
	put2(buf + n, d), n += 2;
	buf[n++] = 'T';
	put2(buf + n, (int)(rem / MS_PER_H)), n += 2;
	buf[n++] = ':';
	put2(buf + n, (int)(rem / MS_PER_M % 60)), n += 2;
	buf[n++] = ':';
	put2(buf + n, (int)(rem / MS_PER_S % 60)), n += 2;
	buf[n++] = '.';
	int f = (int)(rem % 1000);
	buf[n++] = (char)('0' + f / 100);
	put2(buf + n, f % 100), n += 2;
	buf[n++] = 'Z';
	buf[n] = '\0';
	return n;
}

int obs_duration_format(int64_t ms, char *buf)
{
	static const struct { int64_t ms; const char *u; } units[] = {
		{ MS_PER_Y, "y" }, { MS_PER_W, "w" }, { MS_PER_D, "d" }, { MS_PER_H, "h" },
		{ MS_PER_M, "m" }, { MS_PER_S, "s" }, { 1, "ms" },
	};
	int n = 0;
	uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;

	if (ms == 0) {
		memcpy(buf, "0", 2);   /* the one zero duration obs_duration_parse takes */
		return 1;
	}
	if (ms < 0)
		buf[n++] = '-';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t q = u / (uint64_t)units[i].ms;
		if (!q)
			continue;
		u -= q * (uint64_t)units[i].ms;
		n += put_uint(buf + n, q);
		for (const char *c = units[i].u; *c; c++)
			buf[n++] = *c;
	}
	buf[n] = '\0';
	return n;
}
