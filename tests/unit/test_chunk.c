/* test_chunk.c — Gorilla chunk codec: round trips, limits, corrupt input. */
#include <criterion/criterion.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunk.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

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

/* Encode n samples, checking after every append that a copy of the bytes
 * decodes to exactly the samples so far when check_each is set. */
static void encode(struct obs_chunk_enc *e, const int64_t *ts, const double *vs, size_t n,
		   int check_each)
{
	int64_t *dt = malloc((n + 1) * sizeof(*dt));
	double *dv = malloc((n + 1) * sizeof(*dv));
	cr_assert(dt && dv);
	obs_chunk_enc_init(e);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(obs_chunk_append(e, ts[i], vs[i]), 0, "append %zu", i);
		if (!check_each)
			continue;
		size_t len;
		const uint8_t *d = obs_chunk_data(e, &len);
		uint8_t *copy = malloc(len);
		memcpy(copy, d, len);
		cr_assert_eq(len, obs_chunk_size(e));
		cr_assert_eq(obs_chunk_count(copy, len), (int)i + 1);
		cr_assert_eq(obs_chunk_decode(copy, len, dt, dv, n), (int)i + 1);
		for (size_t j = 0; j <= i; j++) {
			cr_assert_eq(dt[j], ts[j]);
			cr_assert_eq(bits_of(dv[j]), bits_of(vs[j]));
		}
		free(copy);
	}
	free(dt);
	free(dv);
}

/* Decode with both obs_chunk_decode and the iterator; both must give back
 * exactly ts/vs. */
static void check_round_trip(const int64_t *ts, const double *vs, size_t n)
{
	struct obs_chunk_enc e;
	encode(&e, ts, vs, n, 0);
	size_t len;
	const uint8_t *d = obs_chunk_data(&e, &len);
	int64_t *dt = malloc((n + 1) * sizeof(*dt));
	double *dv = malloc((n + 1) * sizeof(*dv));
	cr_assert(dt && dv);
	cr_assert_eq(obs_chunk_count(d, len), (int)n);
	cr_assert_eq(obs_chunk_decode(d, len, dt, dv, n), (int)n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(dt[i], ts[i], "ts[%zu] %lld != %lld", i, (long long)dt[i], (long long)ts[i]);
		cr_assert_eq(bits_of(dv[i]), bits_of(vs[i]), "vs[%zu] bits differ", i);
	}
	struct obs_chunk_it it;
	obs_chunk_it_init(&it, d, len);
	int64_t t;
	double v;
	size_t k = 0;
	int rc;
	while ((rc = obs_chunk_it_next(&it, &t, &v)) == 1) {
		cr_assert_lt(k, n);
		cr_assert_eq(t, ts[k]);
		cr_assert_eq(bits_of(v), bits_of(vs[k]));
		k++;
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(k, n);
	free(dt);
	free(dv);
	obs_chunk_enc_release(&e);
}

static const double edge[] = {
	0.0, -0.0, 1.0, -1.0, INFINITY, -INFINITY, NAN, DBL_MAX, -DBL_MAX, DBL_MIN,
	DBL_TRUE_MIN, -DBL_TRUE_MIN, 4.9406564584124654e-320, 0.1, 1e308, 1e-308, 42.0,
};

Test(chunk, empty)
{
	struct obs_chunk_enc e;
	obs_chunk_enc_init(&e);
	size_t len;
	const uint8_t *d = obs_chunk_data(&e, &len);
	cr_assert_eq(obs_chunk_count(d, len), 0);
	int64_t t;
	double v;
	cr_assert_eq(obs_chunk_decode(d, len, &t, &v, 0), 0);
	struct obs_chunk_it it;
	obs_chunk_it_init(&it, d, len);
	cr_assert_eq(obs_chunk_it_next(&it, &t, &v), 0);
	obs_chunk_enc_release(&e);
	obs_chunk_enc_release(&e);   /* accepts a released (zeroed) encoder */
}

Test(chunk, edge_floats_bit_exact)
{
	size_t ne = sizeof(edge) / sizeof(edge[0]);
	size_t n = ne * ne * 2;
	int64_t *ts = malloc(n * sizeof(*ts));
	double *vs = malloc(n * sizeof(*vs));
	size_t k = 0;
	/* every ordered pair, so each XOR transition is covered */
	for (size_t i = 0; i < ne; i++)
		for (size_t j = 0; j < ne; j++) {
			vs[k++] = edge[i];
			vs[k++] = edge[j];
		}
	/* NaNs with payloads and sign, signalling NaN */
	vs[3] = of_bits(0x7ff8000000000001ull);
	vs[4] = of_bits(0xfff0000000000001ull);
	vs[5] = of_bits(0x7ff4deadbeef0000ull);
	vs[6] = of_bits(0xffffffffffffffffull);
	for (size_t i = 0; i < n; i++)
		ts[i] = 1000 * (int64_t)i;
	check_round_trip(ts, vs, n);
	free(ts);
	free(vs);
}

Test(chunk, valid_after_every_append)
{
	enum { N = 300 };
	int64_t ts[N];
	double vs[N];
	int64_t t = -5000;
	for (int i = 0; i < N; i++) {
		t += 1 + (int64_t)(rnd() % 3000);
		ts[i] = t;
		vs[i] = i % 7 ? (double)(rnd() % 1000) / 10 : of_bits(rnd());
	}
	struct obs_chunk_enc e;
	encode(&e, ts, vs, N, 1);
	obs_chunk_enc_release(&e);
}

Test(chunk, random_round_trips)
{
	for (int trial = 0; trial < 200; trial++) {
		size_t n = 1 + rnd() % 2000;
		int64_t *ts = malloc(n * sizeof(*ts));
		double *vs = malloc(n * sizeof(*vs));
		int tmode = trial % 5, vmode = (trial / 5) % 6;
		int64_t t = (int64_t)(rnd() >> 2) - (INT64_C(1) << 61);
		double g = 0;
		for (size_t i = 0; i < n; i++) {
			int64_t d;
			switch (tmode) {
			case 0: d = 1000; break;                                     /* regular */
			case 1: d = 1000 + (int64_t)(rnd() % 9) - 4; break;          /* jitter */
			case 2: d = 1 + (int64_t)(rnd() % 100000); break;            /* irregular */
			case 3: d = rnd() % 50 ? 15000 : 1 + (int64_t)(rnd() >> 36); break; /* jumps */
			default: d = 1 + (int64_t)(rnd() >> (20 + rnd() % 44)); break; /* any size */
			}
			if (t > INT64_MAX - d) {
				n = i;
				break;
			}
			t = i ? t + d : t;
			ts[i] = t;
			switch (vmode) {
			case 0: vs[i] = of_bits(rnd()); break;
			case 1: g += (double)(rnd() % 100); vs[i] = g; break;       /* counter */
			case 2: vs[i] = (double)(rnd() % 100000) / 1000; break;      /* gauge */
			case 3: vs[i] = rnd() % 10 ? 7.5 : -0.0; break;              /* mostly constant */
			case 4: vs[i] = edge[rnd() % (sizeof(edge) / sizeof(edge[0]))]; break;
			default: vs[i] = of_bits(rnd() & 0xfff00000000fffffull); break; /* wide windows */
			}
		}
		if (n)
			check_round_trip(ts, vs, n);
		free(ts);
		free(vs);
	}
}

Test(chunk, extreme_timestamps)
{
	int64_t ts[] = { INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX };
	double vs[] = { 1, 2, 3, 4, 5, 6, 7 };
	check_round_trip(ts, vs, 7);
	int64_t ts2[] = { INT64_MIN, INT64_MAX };
	check_round_trip(ts2, vs, 2);
	int64_t ts3[] = { -3, -2, -1 };
	check_round_trip(ts3, vs, 3);
}

Test(chunk, non_increasing_rejected)
{
	struct obs_chunk_enc e;
	obs_chunk_enc_init(&e);
	cr_assert_eq(obs_chunk_append(&e, 100, 1.0), 0);
	cr_assert_eq(obs_chunk_append(&e, 200, 2.0), 0);
	size_t before = obs_chunk_size(&e);
	cr_assert_eq(obs_chunk_append(&e, 200, 3.0), -EINVAL);
	cr_assert_eq(obs_chunk_append(&e, 150, 3.0), -EINVAL);
	cr_assert_eq(obs_chunk_append(&e, INT64_MIN, 3.0), -EINVAL);
	cr_assert_eq(obs_chunk_size(&e), before);
	cr_assert_eq(obs_chunk_append(&e, 201, 3.0), 0);
	size_t len;
	const uint8_t *d = obs_chunk_data(&e, &len);
	int64_t ts[3];
	double vs[3];
	cr_assert_eq(obs_chunk_decode(d, len, ts, vs, 3), 3);
	cr_assert_eq(ts[2], 201);
	cr_assert_eq(vs[2], 3.0);
	obs_chunk_enc_release(&e);
}

Test(chunk, max_samples)
{
	struct obs_chunk_enc e;
	obs_chunk_enc_init(&e);
	for (int i = 0; i < OBS_CHUNK_MAX_SAMPLES; i++)
		cr_assert_eq(obs_chunk_append(&e, i, (double)(i % 17)), 0);
	cr_assert_eq(obs_chunk_append(&e, OBS_CHUNK_MAX_SAMPLES, 1.0), -EINVAL);
	size_t len;
	const uint8_t *d = obs_chunk_data(&e, &len);
	cr_assert_eq(obs_chunk_count(d, len), OBS_CHUNK_MAX_SAMPLES);
	int64_t *ts = malloc(OBS_CHUNK_MAX_SAMPLES * sizeof(*ts));
	double *vs = malloc(OBS_CHUNK_MAX_SAMPLES * sizeof(*vs));
	cr_assert_eq(obs_chunk_decode(d, len, ts, vs, OBS_CHUNK_MAX_SAMPLES), OBS_CHUNK_MAX_SAMPLES);
	cr_assert_eq(ts[OBS_CHUNK_MAX_SAMPLES - 1], OBS_CHUNK_MAX_SAMPLES - 1);
	cr_assert_eq(vs[OBS_CHUNK_MAX_SAMPLES - 1], (double)((OBS_CHUNK_MAX_SAMPLES - 1) % 17));
	/* too little room */
	cr_assert_eq(obs_chunk_decode(d, len, ts, vs, 100), -ENOSPC);
	free(ts);
	free(vs);
	obs_chunk_enc_release(&e);
}

Test(chunk, regular_scrapes_are_small)
{
	struct obs_chunk_enc e;
	obs_chunk_enc_init(&e);
	for (int i = 0; i < 120; i++)
		cr_assert_eq(obs_chunk_append(&e, 1795236131643 + 1000 * i, 3.0), 0);
	/* 16 bytes of header and first value, 2 for the first delta, then 2
	 * bits a sample */
	cr_assert_leq(obs_chunk_size(&e), 16 + 2 + 30 + 1);
	obs_chunk_enc_release(&e);
}

static uint8_t *sample_chunk(size_t n, size_t *len)
{
	struct obs_chunk_enc e;
	obs_chunk_enc_init(&e);
	int64_t t = 1795236131643;
	for (size_t i = 0; i < n; i++) {
		t += 1000 + (int64_t)(rnd() % 5) - 2 + (rnd() % 40 ? 0 : 100000);
		double v = i % 3 ? (double)(rnd() % 1000) / 100 : of_bits(rnd());
		cr_assert_eq(obs_chunk_append(&e, t, v), 0);
	}
	const uint8_t *d = obs_chunk_data(&e, len);
	uint8_t *copy = malloc(*len);
	memcpy(copy, d, *len);
	obs_chunk_enc_release(&e);
	return copy;
}

Test(chunk, truncated_is_ebadmsg)
{
	size_t len;
	uint8_t *d = sample_chunk(150, &len);
	int64_t ts[150];
	double vs[150];
	cr_assert_eq(obs_chunk_decode(d, len, ts, vs, 150), 150);
	int64_t full_t[150];
	double full_v[150];
	memcpy(full_t, ts, sizeof(ts));
	memcpy(full_v, vs, sizeof(vs));
	for (size_t l = 0; l < len; l++) {
		uint8_t *cut = malloc(l ? l : 1);   /* exact-size copy: ASan sees overreads */
		memcpy(cut, d, l);
		cr_assert_eq(obs_chunk_decode(cut, l, ts, vs, 150), -EBADMSG, "len %zu", l);
		struct obs_chunk_it it;
		obs_chunk_it_init(&it, cut, l);
		int64_t t;
		double v;
		int rc;
		size_t k = 0;
		while ((rc = obs_chunk_it_next(&it, &t, &v)) == 1) {
			cr_assert_lt(k, 150);
			cr_assert_eq(t, full_t[k]);
			cr_assert_eq(bits_of(v), bits_of(full_v[k]));
			k++;
		}
		cr_assert_eq(rc, -EBADMSG, "len %zu", l);
		free(cut);
	}
	free(d);
}

Test(chunk, bit_flips_are_bounded)
{
	size_t len;
	uint8_t *d = sample_chunk(200, &len);
	int64_t *ts = malloc(OBS_CHUNK_MAX_SAMPLES * sizeof(*ts));
	double *vs = malloc(OBS_CHUNK_MAX_SAMPLES * sizeof(*vs));
	size_t detected = 0;
	for (size_t b = 0; b < len * 8; b++) {
		uint8_t *f = malloc(len);
		memcpy(f, d, len);
		f[b / 8] ^= (uint8_t)(0x80 >> (b % 8));
		int n = obs_chunk_decode(f, len, ts, vs, OBS_CHUNK_MAX_SAMPLES);
		cr_assert(n == -EBADMSG || (n >= 0 && n <= OBS_CHUNK_MAX_SAMPLES), "bit %zu: %d", b, n);
		detected += n < 0;
		/* the iterator agrees with the bulk decoder */
		struct obs_chunk_it it;
		obs_chunk_it_init(&it, f, len);
		int64_t t;
		double v;
		int rc, k = 0;
		while ((rc = obs_chunk_it_next(&it, &t, &v)) == 1) {
			if (n >= 0) {
				cr_assert_eq(t, ts[k]);
				cr_assert_eq(bits_of(v), bits_of(vs[k]));
			}
			k++;
		}
		cr_assert_eq(rc < 0, n < 0, "bit %zu", b);
		if (n >= 0)
			cr_assert_eq(k, n);
		free(f);
	}
	/* flips of control bits desynchronise the stream and are caught (value
	 * payload flips cannot be: chunks carry no checksum) */
	cr_assert_gt(detected, 0);
	d[0] ^= 0x80;   /* n + 32768 samples cannot fit */
	cr_assert_eq(obs_chunk_decode(d, len, ts, vs, OBS_CHUNK_MAX_SAMPLES), -EBADMSG);
	free(ts);
	free(vs);
	free(d);
}

Test(chunk, garbage_headers)
{
	uint8_t b[16] = { 0 };
	int64_t ts[4];
	double vs[4];
	cr_assert_eq(obs_chunk_count(b, 0), -EBADMSG);
	cr_assert_eq(obs_chunk_count(b, 1), -EBADMSG);
	cr_assert_eq(obs_chunk_decode(b, 1, ts, vs, 4), -EBADMSG);
	/* n = 1 but the varint never ends */
	memset(b, 0xff, sizeof(b));
	b[0] = 0;
	b[1] = 1;
	cr_assert_eq(obs_chunk_decode(b, sizeof(b), ts, vs, 4), -EBADMSG);
	/* n = 1, t0 = 0, but only 7 bytes of the first value */
	memset(b, 0, sizeof(b));
	b[1] = 1;
	cr_assert_eq(obs_chunk_decode(b, 10, ts, vs, 4), -EBADMSG);
	cr_assert_eq(obs_chunk_decode(b, 11, ts, vs, 4), 1);
	cr_assert_eq(ts[0], 0);
	cr_assert_eq(bits_of(vs[0]), 0);
}
