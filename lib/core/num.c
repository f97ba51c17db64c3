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
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Unsigned decimal into buf (no NUL), two digits per division; returns the length. */
static int put_u64(uint64_t u, char *buf)
{
	char tmp[24];
	int i = 24;
	while (u >= 100) {
		i -= 2;
		memcpy(tmp + i, digit_pairs + (u % 100) * 2, 2);
		u /= 100;
	}
	if (u >= 10) {
		i -= 2;
		memcpy(tmp + i, digit_pairs + u * 2, 2);
	} else {
		tmp[--i] = (char)('0' + u);
	}
	memcpy(buf, tmp + i, (size_t)(24 - i));
	return 24 - i;
}

int obs_int_format(int64_t v, char *buf)
{
	if (v < 0) {
		buf[0] = '-';
		return 1 + put_u64((uint64_t)0 - (uint64_t)v, buf + 1);
	}
	return put_u64((uint64_t)v, buf);
}

/* ---- shortest round-trip formatting ------------------------------------------
 *
 * The reference is glibc's printf: the first of %.15g, %.16g, %.17g whose
 * text strtod() reads back as the same double. That costs ~1 us a value, too
 * slow for tools that print millions of samples a second, so a finite
 * non-integer with 1e-15 <= |v| < 1e15 is done here with exact integer
 * arithmetic and gives the same text: v = M * 2^E (M < 2^53), so
 * v * 10^s = M * 5^s * 2^(s+E), and M * 5^s < 2^128 for s <= 31. Shifting
 * right with round-half-even gives the correctly rounded P-digit mantissa
 * (what printf prints); the rounding error compared with half the gap to the
 * neighbouring doubles (5^s / 2 in the same units; a quarter below a power
 * of two) decides whether the text reads back exactly, ties going to the
 * even mantissa as strtod rounds them. Integers and everything else take the
 * printf path. */
typedef unsigned __int128 num_u128;

#define NUM_P5_27 UINT64_C(7450580596923828125)

static const num_u128 pow5_128[32] = {
	UINT64_C(1), UINT64_C(5), UINT64_C(25), UINT64_C(125), UINT64_C(625),
	UINT64_C(3125), UINT64_C(15625), UINT64_C(78125), UINT64_C(390625),
	UINT64_C(1953125), UINT64_C(9765625), UINT64_C(48828125),
	UINT64_C(244140625), UINT64_C(1220703125), UINT64_C(6103515625),
	UINT64_C(30517578125), UINT64_C(152587890625), UINT64_C(762939453125),
	UINT64_C(3814697265625), UINT64_C(19073486328125),
	UINT64_C(95367431640625), UINT64_C(476837158203125),
	UINT64_C(2384185791015625), UINT64_C(11920928955078125),
	UINT64_C(59604644775390625), UINT64_C(298023223876953125),
	UINT64_C(1490116119384765625), NUM_P5_27,
	(num_u128)NUM_P5_27 * 5, (num_u128)NUM_P5_27 * 25,
	(num_u128)NUM_P5_27 * 125, (num_u128)NUM_P5_27 * 625,
};

static const uint64_t pow10_u64[19] = {
	UINT64_C(1), UINT64_C(10), UINT64_C(100), UINT64_C(1000), UINT64_C(10000),
	UINT64_C(100000), UINT64_C(1000000), UINT64_C(10000000),
	UINT64_C(100000000), UINT64_C(1000000000), UINT64_C(10000000000),
	UINT64_C(100000000000), UINT64_C(1000000000000),
	UINT64_C(10000000000000), UINT64_C(100000000000000),
	UINT64_C(1000000000000000), UINT64_C(10000000000000000),
	UINT64_C(100000000000000000), UINT64_C(1000000000000000000),
};

/* *m = M * 2^E * 10^s correctly rounded; *exact: the decimal *m * 10^-s
 * reads back as M * 2^E. Returns 0 when out of reach. */
static int scaled_digits(uint64_t M, int E, int s, uint64_t *m, int *exact)
{
	int r = -(s + E);

	if (s < 0 || s > 31 || r <= 0 || r >= 127)
		return 0;
	num_u128 q = (num_u128)M * pow5_128[s];
	num_u128 mm = q >> r, rem = q & (((num_u128)1 << r) - 1);
	num_u128 half = (num_u128)1 << (r - 1);

	if (rem > half || (rem == half && (mm & 1)))
		mm++;
	if (mm >> 63)
		return 0;
	*m = (uint64_t)mm;
	num_u128 back = mm << r;
	int below = back < q;
	num_u128 d = below ? q - back : back - q;
	int k = (M == (UINT64_C(1) << 52) && below) ? 2 : 1;
	num_u128 twice = d << k;
	*exact = twice < pow5_128[s] || (twice == pow5_128[s] && !(M & 1));
	return 1;
}

/* The %g text of finite non-integer v, 1e-15 <= |v| < 1e15; 0 if not done. */
static int fast_format(double v, char *buf)
{
	double a = fabs(v);
	uint64_t bits;

	memcpy(&bits, &a, sizeof(bits));
	uint64_t M = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
	int E = (int)(bits >> 52) - 1075;
	int X0 = ((E + 52) * 78913) >> 18; /* floor(log10 2^(E+52)) */

	for (int P = 15; P <= 17; P++) {
		/* the decimal exponent after rounding to P digits: X0 or X0 - 1,
		 * or one more when the rounding carries (0.99...9 -> 1) */
		int X = X0, exact, tries = 0;
		uint64_t m;

		for (;;) {
			if (!scaled_digits(M, E, P - 1 - X, &m, &exact) || ++tries > 3)
				return 0;
			if (m >= pow10_u64[P])
				X++;
			else if (m < pow10_u64[P - 1])
				X--;
			else
				break;
		}
		if (!exact && P < 17)
			continue;
		char dig[20];
		int nd = P, n = 0;

		for (int i = P - 1; i >= 0; i--, m /= 10)
			dig[i] = (char)('0' + m % 10);
		while (nd > 1 && dig[nd - 1] == '0')
			nd--;
		if (v < 0)
			buf[n++] = '-';
		if (X >= 0) {
			for (int i = 0; i <= X; i++)
				buf[n++] = i < nd ? dig[i] : '0';
			if (nd > X + 1) {
				buf[n++] = '.';
				memcpy(buf + n, dig + X + 1, (size_t)(nd - X - 1));
				n += nd - X - 1;
			}
		} else if (X >= -4) {
			buf[n++] = '0';
			buf[n++] = '.';
			for (int i = -1; i > X; i--)
				buf[n++] = '0';
			memcpy(buf + n, dig, (size_t)nd);
			n += nd;
		} else {
			buf[n++] = dig[0];
			if (nd > 1) {
				buf[n++] = '.';
				memcpy(buf + n, dig + 1, (size_t)nd - 1);
				n += nd - 1;
			}
			buf[n++] = 'e';
			buf[n++] = '-';
			buf[n++] = (char)('0' + (-X) / 10);
			buf[n++] = (char)('0' + (-X) % 10);
		}
		buf[n] = '\0';
		return n;
	}
	return 0;
}

int obs_num_format(double v, char *buf)
{
	static const char *const fmts[] = { "%.15g", "%.16g", "%.17g" };
	size_t i;
	int len = 0;

	if (obs_is_stale(v)) {
		memcpy(buf, "stale", 6);
		return 5;
	}
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
	if (fabs(v) >= 1e-15 && fabs(v) < 1e15) {
		len = fast_format(v, buf);
		if (len)
			return len;
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

int obs_num_almost_equal(double a, double b, double eps)
{
	const double min_normal = 2.2250738585072014e-308;
	if ((isnan(a) && isnan(b)) || a == b)
		return 1;
	double sum = fabs(a) + fabs(b), diff = fabs(a - b);
	if (a == 0 || b == 0 || sum < min_normal)
		return diff < eps * min_normal;
	return diff / fmin(sum, 1.7976931348623157e308) < eps;
}
