/* test_encoding.c — smallest-of closed-chunk encodings: choice of scheme,
 * bit-exact round trips, limits, corrupt input. */
#include <criterion/criterion.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/encoding.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t bits_of(double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	return u;
}

static double of_bits(uint64_t u)
{
	double v;
	memcpy(&v, &u, 8);
	return v;
}

/* Encode, decode, compare bit-exactly; every strict prefix must be refused.
 * Returns the encoding id; *size gets the encoded length. */
static int round_trip(const int64_t *ts, const double *vs, size_t n, size_t *size)
{
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_buf_append(&b, "pre", 3), 0);
	cr_assert_eq(obs_enc_encode(ts, vs, n, &b), 0);
	const uint8_t *p = (const uint8_t *)b.data + 3;
	size_t len = b.len - 3;
	cr_assert(memcmp(b.data, "pre", 3) == 0);
	int64_t *dt = malloc((n + 1) * sizeof(*dt));
	double *dv = malloc((n + 1) * sizeof(*dv));
	cr_assert_eq(obs_enc_count(p, len), (int)n);
	cr_assert_eq(obs_enc_decode(p, len, dt, dv, n), (int)n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(dt[i], ts[i], "ts[%zu]", i);
		cr_assert_eq(bits_of(dv[i]), bits_of(vs[i]), "vs[%zu] %a != %a", i, dv[i], vs[i]);
	}
	if (n)
		cr_assert_eq(obs_enc_decode(p, len, dt, dv, n - 1), -ENOSPC);
	size_t step = len > 400 ? len / 97 : 1;
	for (size_t l = 0; l < len; l += step) {
		uint8_t *c = malloc(l ? l : 1);   /* exact size so ASan sees overreads */
		memcpy(c, p, l);
		cr_assert_eq(obs_enc_decode(c, l, dt, dv, n), -EBADMSG, "prefix %zu of %zu", l, len);
		free(c);
	}
	int id = p[0];
	*size = len;
	free(dt);
	free(dv);
	obs_buf_release(&b);
	return id;
}

static void regular_ts(int64_t *ts, size_t n, int64_t t0, int64_t step)
{
	for (size_t i = 0; i < n; i++)
		ts[i] = t0 + (int64_t)i * step;
}

Test(encoding, constant_regular_is_tiny)
{
	enum { N = 1200 };
	static int64_t ts[N];
	static double vs[N];
	regular_ts(ts, N, 1795236131643, 1000);
	for (int i = 0; i < N; i++)
		vs[i] = 1.9129e-05;
	size_t sz;
	int id = round_trip(ts, vs, N, &sz);
	cr_assert(id == OBS_ENC_CONST || id == OBS_ENC_DECIMAL, "id %d", id);
	cr_assert_leq(sz, 24);
	/* a NaN with a payload is a constant too, and kept exactly */
	for (int i = 0; i < N; i++)
		vs[i] = of_bits(0x7ff80000deadbeefull);
	cr_assert_eq(round_trip(ts, vs, N, &sz), OBS_ENC_CONST);
}

Test(encoding, decimal_counter_and_gauge)
{
	enum { N = 1200 };
	static int64_t ts[N];
	static double vs[N];
	int64_t t = 1795236131643;
	double c = 24.21;
	for (int i = 0; i < N; i++) {
		t += 1000 + (rnd() % 50 ? 0 : (int64_t)(rnd() % 9) - 4);
		ts[i] = t;
		c += (double)(rnd() % 20) / 100;      /* counter with 2 decimals */
		vs[i] = round(c * 100) / 100;
	}
	size_t sz;
	cr_assert_eq(round_trip(ts, vs, N, &sz), OBS_ENC_DECIMAL);
	/* zig-zag deltas below 40 fit 6 bits, plus blocks and timestamps */
	cr_assert_lt(sz, N * 7 / 8 + 100);
	for (int i = 0; i < N; i++)
		vs[i] = (double)(int64_t)(rnd() % 2000000 - 1000000) / 1000;   /* gauge, 3 decimals */
	cr_assert_eq(round_trip(ts, vs, N, &sz), OBS_ENC_DECIMAL);
	/* 21 bits a value at most: well below Gorilla's 8 bytes */
	cr_assert_lt(sz, N * 22 / 8 + 100);
}

Test(encoding, multiples_share_a_factor)
{
	enum { N = 640 };
	static int64_t ts[N];
	static double vs[N];
	regular_ts(ts, N, 0, 15000);
	for (int i = 0; i < N; i++)
		vs[i] = 4096.0 * (double)(100000 + rnd() % 256);   /* page-sized memory gauge */
	size_t sz;
	cr_assert_eq(round_trip(ts, vs, N, &sz), OBS_ENC_DECIMAL);
	/* the factor 4096 is taken out: 9 bits a value, not 21 */
	cr_assert_lt(sz, N * 9 / 8 + 64);
}

Test(encoding, random_bits_fall_back_to_gorilla)
{
	enum { N = 500 };
	static int64_t ts[N];
	static double vs[N];
	regular_ts(ts, N, -123456789, 1000);
	for (int i = 0; i < N; i++)
		vs[i] = of_bits(rnd());
	size_t sz;
	cr_assert_eq(round_trip(ts, vs, N, &sz), OBS_ENC_GORILLA);
}

Test(encoding, specials_in_decimals_stay_exact)
{
	enum { N = 300 };
	static int64_t ts[N];
	static double vs[N];
	static const double sp[] = { -0.0, NAN, INFINITY, -INFINITY, DBL_TRUE_MIN, DBL_MAX, 1e-300 };
	regular_ts(ts, N, 1000, 1000);
	for (size_t k = 0; k < sizeof(sp) / sizeof(sp[0]); k++) {
		for (int i = 0; i < N; i++)
			vs[i] = (double)(i % 50) / 10;
		vs[N / 2] = sp[k];
		size_t sz;
		int id = round_trip(ts, vs, N, &sz);
		cr_assert_neq(id, OBS_ENC_DECIMAL, "special %zu cannot be a decimal", k);
	}
	vs[7] = of_bits(0xfff4000000000123ull);
	size_t sz;
	round_trip(ts, vs, N, &sz);
}

Test(encoding, random_shapes)
{
	for (int trial = 0; trial < 300; trial++) {
		size_t n = rnd() % 3000;
		int64_t *ts = malloc((n + 1) * sizeof(*ts));
		double *vs = malloc((n + 1) * sizeof(*vs));
		int64_t t = (int64_t)(rnd() >> 3) - (INT64_C(1) << 60);
		double acc = 0;
		for (size_t i = 0; i < n; i++) {
			int64_t d;
			switch (trial % 4) {
			case 0: d = 1000; break;
			case 1: d = rnd() % 30 ? 1000 : 1000 + (int64_t)(rnd() % 101) - 50; break;
			case 2: d = 1 + (int64_t)(rnd() >> (rnd() % 64 | 4)); break;
			default: d = 1 + (int64_t)(rnd() % 60000); break;
			}
			if (i && t > INT64_MAX - d) {
				n = i;
				break;
			}
			t = i ? t + d : t;
			ts[i] = t;
			switch ((trial / 4) % 6) {
			case 0: acc += (double)(rnd() % 1000); vs[i] = acc; break;
			case 1: vs[i] = (double)(int64_t)(rnd() % 100000) / pow(10, (double)(trial % 12)); break;
			case 2: vs[i] = rnd() % 100 ? 5.0 : 6.0; break;
			case 3: vs[i] = of_bits(rnd()); break;
			case 4: vs[i] = -(double)(int64_t)(rnd() >> 12); break;
			default: vs[i] = 1e17 + (double)(rnd() % 1000) * 64; break;
			}
		}
		size_t sz;
		round_trip(ts, vs, n, &sz);
		free(ts);
		free(vs);
	}
}

Test(encoding, small_and_extreme)
{
	int64_t ts[] = { INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX };
	double vs[] = { 1, 2, 3, 4, 5, 6, 7 };
	size_t sz;
	for (size_t n = 0; n <= 7; n++)
		round_trip(ts, vs, n, &sz);
	int64_t ts2[] = { INT64_MIN, INT64_MAX };
	round_trip(ts2, vs, 2, &sz);
}

Test(encoding, limits_and_order)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int64_t ts[3] = { 10, 10, 20 };
	double vs[3] = { 1, 2, 3 };
	cr_assert_eq(obs_enc_encode(ts, vs, 3, &b), -EINVAL);
	ts[1] = 5;
	cr_assert_eq(obs_enc_encode(ts, vs, 3, &b), -EINVAL);
	cr_assert_eq(b.len, 0);
	size_t n = OBS_ENC_MAX_SAMPLES + 1;
	int64_t *lt = malloc(n * sizeof(*lt));
	double *lv = malloc(n * sizeof(*lv));
	regular_ts(lt, n, 0, 1000);
	for (size_t i = 0; i < n; i++)
		lv[i] = (double)(i % 1000);
	cr_assert_eq(obs_enc_encode(lt, lv, n, &b), -EINVAL);
	cr_assert_eq(b.len, 0);
	size_t sz;
	cr_assert_eq(round_trip(lt, lv, n - 1, &sz), OBS_ENC_DECIMAL);
	free(lt);
	free(lv);
	obs_buf_release(&b);
}

Test(encoding, corrupt_input_is_bounded)
{
	enum { N = 400 };
	static int64_t ts[N], dt[OBS_ENC_MAX_SAMPLES];
	static double vs[N], dv[OBS_ENC_MAX_SAMPLES];
	for (int shape = 0; shape < 3; shape++) {
		int64_t t = 1795236131643;
		for (int i = 0; i < N; i++) {
			t += 1000 + (rnd() % 20 ? 0 : (int64_t)(rnd() % 9) - 4);
			ts[i] = t;
			vs[i] = shape == 0 ? (double)(rnd() % 1000) / 100 : shape == 1 ? 3.0 : of_bits(rnd());
		}
		struct obs_buf b;
		obs_buf_init(&b);
		cr_assert_eq(obs_enc_encode(ts, vs, N, &b), 0);
		size_t len = b.len;
		for (size_t bit = 0; bit < len * 8; bit++) {
			uint8_t *f = malloc(len);
			memcpy(f, b.data, len);
			f[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
			int n = obs_enc_decode(f, len, dt, dv, OBS_ENC_MAX_SAMPLES);
			cr_assert(n == -EBADMSG || (n >= 0 && n <= OBS_ENC_MAX_SAMPLES), "bit %zu: %d", bit, n);
			for (int i = 1; i < n; i++)
				cr_assert_gt(dt[i], dt[i - 1]);
			free(f);
		}
		/* an unknown id is refused */
		b.data[0] = 9;
		cr_assert_eq(obs_enc_decode((uint8_t *)b.data, len, dt, dv, N), -EBADMSG);
		cr_assert_eq(obs_enc_count((uint8_t *)b.data, len), -EBADMSG);
		obs_buf_release(&b);
	}
	cr_assert_eq(obs_enc_decode((const uint8_t *)"", 0, dt, dv, N), -EBADMSG);
	cr_assert_str_eq(obs_enc_name(OBS_ENC_DECIMAL), "decimal");
	cr_assert_str_eq(obs_enc_name(77), "unknown");
}
