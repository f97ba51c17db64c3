/* num.c — sample values as text: the Prometheus float grammar and shortest
 * round-trip formatting (libobs core).
 *
 * Parsing has an exact fast path for plain decimals: when the significant
 * digits fit an integer mantissa m <= 2^53 and the decimal exponent e has
 * |e| <= 22, both m and 10^|e| are exact doubles, so the single IEEE multiply
 * or divide m * 10^e is correctly rounded. (When e > 22 but m * 10^(e-22) is
 * still an exact integer <= 2^53 we fold the excess into m first.) Anything
 * else — more than 19 significant digits, large exponents, hex floats — is
 * validated against the grammar here and then handed to strtod(3) on a
 * NUL-terminated copy. */
#include "core/num.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pow10_exact[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#define TWO53 (UINT64_C(1) << 53)

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Case-insensitive equality of s[0..n) with the lower-case word w. */
static int word_eq(const char *s, size_t n, const char *w)
{
	size_t i;

	if (strlen(w) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != w[i])
			return 0;
	return 1;
}

static int is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* strtod on a NUL-terminated copy of s[0..n); the grammar was checked by the
 * caller. Overflow to infinity is rejected (as Prometheus does). */
static int slow_parse(const char *s, size_t n, double *out)
{
	char stack[128], *tmp = stack, *end;
	double v;

	if (n >= sizeof(stack)) {
		tmp = malloc(n + 1);
		if (!tmp)
			return -ENOMEM;
	}
	memcpy(tmp, s, n);
	tmp[n] = 0;
	errno = 0;
	v = strtod(tmp, &end);
	if (end != tmp + n || isinf(v)) {
		if (tmp != stack)
			free(tmp);
		return -EINVAL;
	}
	if (tmp != stack)
		free(tmp);
	*out = v;
	return 0;
}

/* [+-]? 0x hex* [. hex*] ([pP] [+-]? digits)? with at least one hex digit. */
static int hex_parse(const char *s, size_t n, const char *p, double *out)
{
	const char *e = s + n;
	int nd = 0;

	p += 2;
	while (p < e && is_hex((unsigned char)*p))
		p++, nd++;
	if (p < e && *p == '.') {
		p++;
		while (p < e && is_hex((unsigned char)*p))
			p++, nd++;
	}
	if (!nd)
		return -EINVAL;
	if (p < e && (*p == 'p' || *p == 'P')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p == e)
			return -EINVAL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p != e)
		return -EINVAL;
	return slow_parse(s, n, out);
}

int obs_num_parse(const char *s, size_t n, double *out)
{
	const char *p = s, *e = s + n;
	uint64_t m = 0;
	int neg = 0, nd = 0, ndigits = 0, slow = 0;
	long e10 = 0, ex = 0;
	double v;

	if (!n)
		return -EINVAL;
	if (*p == '+' || *p == '-') {
		neg = *p == '-';
		p++;
		if (p == e)
			return -EINVAL;
	}
	if ((unsigned)(*p - '0') > 9 && *p != '.') {
		if (word_eq(p, (size_t)(e - p), "inf") || word_eq(p, (size_t)(e - p), "infinity")) {
			*out = neg ? -INFINITY : INFINITY;
			return 0;
		}
		if (p == s && word_eq(p, n, "nan")) {
			*out = NAN;
			return 0;
		}
		return -EINVAL;
	}
	if (*p == '0' && p + 1 < e && (p[1] == 'x' || p[1] == 'X'))
		return hex_parse(s, n, p, out);

	for (; p < e; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (d > 9)
			break;
		ndigits++;
		if (m == 0 && d == 0)
			continue;
		if (nd < 19) {
			m = m * 10 + d;
			nd++;
		} else {
			slow = 1;
			e10++;
		}
	}
	if (p < e && *p == '.') {
		for (p++; p < e; p++) {
			unsigned d = (unsigned)(*p - '0');
			if (d > 9)
				break;
			ndigits++;
			if (m == 0 && d == 0) {
				e10--;
				continue;
			}
			if (nd < 19) {
				m = m * 10 + d;
				nd++;
				e10--;
			} else {
				slow = 1;
			}
		}
	}
	if (!ndigits)
		return -EINVAL;
	if (p < e && (*p == 'e' || *p == 'E')) {
		int eneg = 0, edig = 0;

		p++;
		if (p < e && (*p == '+' || *p == '-')) {
			eneg = *p == '-';
			p++;
		}
		for (; p < e; p++) {
			unsigned d = (unsigned)(*p - '0');
			if (d > 9)
				break;
			edig++;
			if (ex < 100000)
				ex = ex * 10 + d;
		}
		if (!edig)
			return -EINVAL;
		if (eneg)
			ex = -ex;
	}
	if (p != e)
		return -EINVAL;
	if (m == 0) {
		*out = neg ? -0.0 : 0.0;
		return 0;
	}
	e10 += ex;
	if (slow || m > TWO53)
		return slow_parse(s, n, out);
	if (e10 >= 0 && e10 <= 22) {
		v = (double)m * pow10_exact[e10];
	} else if (e10 < 0 && e10 >= -22) {
		v = (double)m / pow10_exact[-e10];
	} else if (e10 > 22 && e10 <= 22 + 15) {
		uint64_t mm = m;
		long k;

		for (k = e10 - 22; k > 0; k--) {
			if (mm > TWO53 / 10)
				return slow_parse(s, n, out);
			mm *= 10;
		}
		v = (double)mm * 1e22;
	} else {
		return slow_parse(s, n, out);
	}
	*out = neg ? -v : v;
	return 0;
}

/* Unsigned decimal into buf (no NUL); returns the length. */
static int put_u64(uint64_t u, char *buf)
{
	char tmp[24];
	int i = 0, k;

	do {
		tmp[i++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	for (k = 0; k < i; k++)
		buf[k] = tmp[i - 1 - k];
	return i;
}

int obs_num_format(double v, char *buf)
{
	static const char *const fmts[] = { "%.15g", "%.16g", "%.17g" };
	size_t i;
	int len = 0;

	if (isnan(v)) {
		memcpy(buf, "NaN", 4);
		return 3;
	}
	if (isinf(v)) {
		memcpy(buf, v > 0 ? "+Inf" : "-Inf", 5);
		return 4;
	}
	if (v == 0) {
		if (signbit(v)) {
			memcpy(buf, "-0", 3);
			return 2;
		}
		memcpy(buf, "0", 2);
		return 1;
	}
	if (fabs(v) < 9007199254740992.0 && v == trunc(v)) {
		if (v < 0) {
			buf[len++] = '-';
			len += put_u64((uint64_t)(-v), buf + len);
		} else {
			len = put_u64((uint64_t)v, buf);
		}
		buf[len] = 0;
		return len;
	}
	/* Fast path for short decimals (most sample values): the smallest k such
	 * that v == m / 10^k exactly, with m < 2^53. Both m and 10^k are exact
	 * doubles, so the division is correctly rounded and "m with k decimals"
	 * parses back to the same bits. Limited to the range where %g prints
	 * fixed notation, so the text is what the slow path would print. */
	double av = fabs(v);
	if (av >= 1e-4 && av < 1e15) {
		for (int k = 1; k <= 9; k++) {
			double scaled = av * pow10_exact[k];
			if (scaled >= 9007199254740992.0)
				break;
			double m = nearbyint(scaled);
			if (m / pow10_exact[k] != av)
				continue;
			char digits[24];
			int nd = put_u64((uint64_t)m, digits);
			if (v < 0)
				buf[len++] = '-';
			if (nd <= k) {
				buf[len++] = '0';
				buf[len++] = '.';
				for (int z = 0; z < k - nd; z++)
					buf[len++] = '0';
				memcpy(buf + len, digits, (size_t)nd);
				len += nd;
			} else {
				memcpy(buf + len, digits, (size_t)(nd - k));
				len += nd - k;
				buf[len++] = '.';
				memcpy(buf + len, digits + nd - k, (size_t)k);
				len += k;
			}
			buf[len] = 0;
			return len;
		}
	}
	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		double back;

		len = snprintf(buf, 32, fmts[i], v);
		if (i + 1 == sizeof(fmts) / sizeof(fmts[0]))
			break;
		back = strtod(buf, NULL);
		if (memcmp(&back, &v, sizeof(v)) == 0)
			break;
	}
	return len;
}
