/* test_num.c — sample value text: the Prometheus float grammar, the exact fast
 * path against strtod, and shortest round-trip formatting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"

static int parse(const char *s, double *v) { return obs_num_parse(s, strlen(s), v); }

static uint64_t bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

Test(num, plain_decimals)
{
	static const struct { const char *s; double v; } cases[] = {
		{ "0", 0.0 }, { "42", 42.0 }, { "-42", -42.0 }, { "+7", 7.0 },
		{ "1.5", 1.5 }, { "0.1", 0.1 }, { ".5", 0.5 }, { "5.", 5.0 },
		{ "1.9129e-05", 1.9129e-05 }, { "1e3", 1000.0 }, { "1E+3", 1000.0 },
		{ "-2.5e-3", -0.0025 }, { "123456789012345678", 123456789012345678.0 },
		{ "0.000001", 1e-6 }, { "1e22", 1e22 }, { "1e23", 1e23 }, { "9e30", 9e30 },
		{ "00012.50", 12.5 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double v = -1;

		cr_assert_eq(parse(cases[i].s, &v), 0, "%s", cases[i].s);
		cr_assert_eq(bits(v), bits(cases[i].v), "%s -> %.17g", cases[i].s, v);
	}
}

Test(num, specials_case_insensitive)
{
	double v;

	cr_assert_eq(parse("NaN", &v), 0);
	cr_assert(isnan(v));
	cr_assert_eq(parse("nan", &v), 0);
	cr_assert(isnan(v));
	cr_assert_eq(parse("+Inf", &v), 0);
	cr_assert(isinf(v) && v > 0);
	cr_assert_eq(parse("inf", &v), 0);
	cr_assert(isinf(v) && v > 0);
	cr_assert_eq(parse("-INF", &v), 0);
	cr_assert(isinf(v) && v < 0);
	cr_assert_eq(parse("-Infinity", &v), 0);
	cr_assert(isinf(v) && v < 0);
	cr_assert_eq(parse("-0", &v), 0);
	cr_assert(v == 0 && signbit(v));
}

Test(num, hex_and_slow_path)
{
	double v;

	cr_assert_eq(parse("0x1p-2", &v), 0);
	cr_assert_eq(v, 0.25);
	cr_assert_eq(parse("0x10", &v), 0);
	cr_assert_eq(v, 16.0);
	cr_assert_eq(parse("1e-320", &v), 0); /* subnormal via strtod */
	cr_assert_eq(bits(v), bits(strtod("1e-320", NULL)));
	cr_assert_eq(parse("3.14159265358979323846264338327950288", &v), 0);
	cr_assert_eq(bits(v), bits(3.14159265358979323846264338327950288));
}

Test(num, rejects)
{
	static const char *bad[] = {
		"", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", "1 ", " 1", "abc", "0x",
		"0xg", "1,5", "+NaN", "Infx", "1e999", "-1e999", "nan1", "1_000", "--1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double v = 123;

		cr_assert_eq(parse(bad[i], &v), -EINVAL, "'%s' accepted", bad[i]);
		cr_assert_eq(v, 123, "'%s' modified *out", bad[i]);
	}
}

Test(num, length_bounded)
{
	double v;

	/* Only s[0..n) counts: "12" out of "1234". */
	cr_assert_eq(obs_num_parse("1234", 2, &v), 0);
	cr_assert_eq(v, 12.0);
	cr_assert_eq(obs_num_parse("1e5x", 3, &v), 0);
	cr_assert_eq(v, 1e5);
}

Test(num, fast_path_matches_strtod)
{
	char buf[64];

	for (int i = 0; i < 200000; i++) {
		uint64_t r = rnd64();
		int digits = 1 + (int)(r % 19), exp = (int)((r >> 8) % 61) - 30, dot = (int)((r >> 16) % 20);
		int n = 0;
		double a, b;

		if ((r >> 24) & 1)
			buf[n++] = '-';
		for (int d = 0; d < digits; d++) {
			if (d == dot && d)
				buf[n++] = '.';
			buf[n++] = (char)('0' + rnd64() % 10);
		}
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "e%d", exp);
		cr_assert_eq(obs_num_parse(buf, (size_t)n, &a), 0, "%s", buf);
		b = strtod(buf, NULL);
		cr_assert_eq(bits(a), bits(b), "%s: %.17g != %.17g", buf, a, b);
	}
}

Test(num, format_examples)
{
	static const struct { double v; const char *s; } cases[] = {
		{ 42, "42" }, { -42, "-42" }, { 0, "0" }, { 0.1, "0.1" }, { 1.9129e-05, "1.9129e-05" },
		{ 1e20, "1e+20" }, { 1.5, "1.5" }, { 1795236131643.0, "1795236131643" },
		{ 1.0 / 3, "0.3333333333333333" }, { 0.1 + 0.2, "0.30000000000000004" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = obs_num_format(cases[i].v, buf);

		cr_assert_str_eq(buf, cases[i].s);
		cr_assert_eq(n, (int)strlen(cases[i].s));
	}
	cr_assert_eq(obs_num_format(NAN, buf), 3);
	cr_assert_str_eq(buf, "NaN");
	obs_num_format(INFINITY, buf);
	cr_assert_str_eq(buf, "+Inf");
	obs_num_format(-INFINITY, buf);
	cr_assert_str_eq(buf, "-Inf");
	obs_num_format(-0.0, buf);
	cr_assert_str_eq(buf, "-0");
}

Test(num, round_trip_random_bits)
{
	char buf[32];

	for (int i = 0; i < 300000; i++) {
		uint64_t u = rnd64();
		double v, back = 0;
		int n;

		memcpy(&v, &u, sizeof(v));
		if (i % 3 == 1)
			v = (double)(int64_t)(u >> 20) / 1000.0; /* typical metric values */
		else if (i % 3 == 2)
			v = (double)(int64_t)(u >> 11) * (((u & 1) ? -1.0 : 1.0));
		n = obs_num_format(v, buf);
		cr_assert(n > 0 && n < 32);
		cr_assert_eq((int)strlen(buf), n);
		cr_assert_eq(obs_num_parse(buf, (size_t)n, &back), 0, "'%s' does not parse", buf);
		if (isnan(v))
			cr_assert(isnan(back));
		else
			cr_assert_eq(bits(back), bits(v), "%s: %.17g", buf, v);
	}
}

Test(num, format_is_shortest_of_15_16_17)
{
	char buf[32], ref[32];

	for (int i = 0; i < 20000; i++) {
		uint64_t u = rnd64();
		double v;

		memcpy(&v, &u, sizeof(v));
		if (!isfinite(v) || v == trunc(v))
			continue;
		obs_num_format(v, buf);
		snprintf(ref, sizeof(ref), "%.15g", v);
		if (strtod(ref, NULL) != v) {
			snprintf(ref, sizeof(ref), "%.16g", v);
			if (strtod(ref, NULL) != v)
				snprintf(ref, sizeof(ref), "%.17g", v);
		}
		cr_assert_str_eq(buf, ref);
	}
}

Test(num, almost_equal_is_relative_and_nan_equals_nan)
{
	cr_assert(obs_num_almost_equal(NAN, NAN, 1e-6));
	cr_assert(!obs_num_almost_equal(NAN, 1, 1e-6));
	cr_assert(obs_num_almost_equal(INFINITY, INFINITY, 1e-6));
	cr_assert(obs_num_almost_equal(1e9, 1e9 + 1, 1e-6));        /* 5e-10 relative */
	cr_assert(!obs_num_almost_equal(1, 1.00001, 1e-6));
	cr_assert(obs_num_almost_equal(1, 1.0000001, 1e-6));
	cr_assert(!obs_num_almost_equal(0, 1e-300, 1e-6));          /* near zero: absolute */
	cr_assert(obs_num_almost_equal(0, 1e-320, 1e-6) == (1e-320 < 1e-6 * 2.2250738585072014e-308));
}
