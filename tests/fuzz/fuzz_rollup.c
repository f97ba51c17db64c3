// sources: lib/tsdb/rollup.c lib/tsdb/rollup_file.c lib/tsdb/rollup_read.c lib/tsdb/sketch.c lib/tsdb/downsample.c lib/tsdb/samples.c lib/core/buf.c lib/core/crc32c.c lib/core/num.c lib/core/obstime.c lib/core/fileio.c lib/core/corrupt.c lib/core/fault.c
/* fuzz_rollup.c — libFuzzer harness for rollup files, sketches and rollup
 * arithmetic. The first input byte picks the mode:
 *
 * 0. The rest is a rollup file image. Its CRCs are recomputed first (where
 *    the footer, index and directories can be located) so that the decoder
 *    proper is reached, then it is opened and every series read, whole and
 *    over a range taken from the input: 0, -EBADMSG or -ENOENT, never a
 *    crash or an out-of-bounds read; what decodes is consistent (bucket t
 *    increasing multiples of step, sketch count = count).
 * 1. The rest is a sketch encoding: decode, and when it decodes, re-encode
 *    and decode again to an equal sketch.
 * 2. The rest makes raw samples (9-byte records: a time step, a value
 *    class): compute buckets at a step from the input, merge them to a
 *    multiple; counts, min, max and last agree with obs_downsample, sketch
 *    bodies round-trip.
 *
 *   tests/fuzz/run.sh fuzz_rollup     (seeds: tests/fuzz/seeds/fuzz_rollup/)
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "tsdb/downsample.h"
#include "tsdb/rollup.h"
#include "tsdb/sketch.h"

static uint32_t rd32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t rd64(const uint8_t *b)
{
	return (uint64_t)rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

static void le32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute every CRC of a rollup image that can be located (layout at the
 * top of lib/tsdb/rollup_file.c). */
static void fix_crcs(uint8_t *p, size_t len)
{
	if (len < 56)
		return;
	le32(p + 28, obs_crc32c(0, p, 28));
	uint8_t *f = p + len - 24;
	uint64_t ioff = rd64(f);
	uint64_t nser = rd32(f + 8);
	if (ioff < 32 || ioff > len - 24 || (len - 24 - ioff) / 48 < nser)
		goto footer;
	for (uint64_t i = 0; i < nser; i++) {
		uint8_t *e = p + ioff + i * 48;
		uint64_t nfr = rd32(e + 4), doff = rd64(e + 32);
		if (doff < 32 || doff > ioff || nfr > (ioff - doff) / 40)
			continue;
		for (uint64_t k = 0; k < nfr; k++) {
			uint8_t *d = p + doff + k * 40;
			uint64_t off = rd64(d + 16), slen = rd32(d + 24);
			if (off >= 32 && off <= ioff && slen <= ioff - off)
				le32(d + 36, obs_crc32c(0, p + off, slen));
		}
		le32(e + 40, obs_crc32c(0, p + doff, nfr * 40));
	}
	le32(f + 12, obs_crc32c(0, p + ioff, nser * 48));
footer:
	le32(f + 20, obs_crc32c(0, f, 20));
}

static void check_series(const struct obs_rollup_series *s, int64_t step)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct obs_rollup_bucket *b = &s->b[i];
		if (b->t % step || (i && b->t <= s->b[i - 1].t) || b->count + b->nan_count == 0)
			abort();
		if (b->count && (obs_sketch_count(b->sk) != b->count || !(b->min <= b->max)))
			abort();
	}
}

static void mode_file(const uint8_t *data, size_t size)
{
	if (size < 16)
		return;
	int64_t from = 0, to = 0;
	memcpy(&from, data, 8);
	memcpy(&to, data + 8, 8);
	data += 16;
	size -= 16;
	uint8_t *img = malloc(size ? size : 1);
	memcpy(img, data, size);
	fix_crcs(img, size);
	struct obs_rollup *r;
	int rc = obs_rollup_open_mem(img, size, &r);
	if (rc && rc != -EBADMSG)
		abort();
	if (!rc) {
		for (uint32_t i = 0; i < obs_rollup_series_count(r) && i < 64; i++) {
			uint32_t id;
			if (obs_rollup_series_info(r, i, &id, NULL, NULL, NULL))
				abort();
			struct obs_rollup_series s;
			obs_rollup_series_init(&s);
			rc = obs_rollup_read(r, id, INT64_MIN, INT64_MAX, &s);
			if (rc && rc != -EBADMSG)
				abort();
			if (!rc)
				check_series(&s, obs_rollup_step(r));
			obs_rollup_series_reset(&s);
			rc = obs_rollup_read(r, id, from, to, &s);
			if (rc && rc != -EBADMSG)
				abort();
			if (!rc) {
				check_series(&s, obs_rollup_step(r));
				for (size_t k = 0; k < s.n; k++)
					if (s.b[k].t > to || (s.b[k].t < from && from - s.b[k].t >= s.step))
						abort();
			}
			obs_rollup_series_release(&s);
		}
		struct obs_rollup_series s;
		obs_rollup_series_init(&s);
		rc = obs_rollup_read(r, (uint32_t)from, from, to, &s);
		if (rc && rc != -EBADMSG && rc != -ENOENT)
			abort();
		obs_rollup_series_release(&s);
		obs_rollup_close(r);
	}
	free(img);
}

static void mode_sketch(const uint8_t *data, size_t size)
{
	struct obs_sketch *s, *t;
	int rc = obs_sketch_decode(data, size, &s);
	if (rc == -ENOMEM)
		return;
	if (rc) {
		if (rc != -EBADMSG)
			abort();
		return;
	}
	struct obs_buf b;
	obs_buf_init(&b);
	if (obs_sketch_encode(s, &b) || obs_sketch_decode(b.data, b.len, &t))
		abort();
	if (!obs_sketch_equal(s, t))
		abort();
	double q = obs_sketch_quantile(s, 0.5);
	if (obs_sketch_count(s) && (q < obs_sketch_min(s) || q > obs_sketch_max(s)))
		abort();
	obs_buf_release(&b);
	obs_sketch_free(s);
	obs_sketch_free(t);
}

static double make_value(uint8_t cls, const uint8_t *r)
{
	uint32_t x = rd32(r);
	switch (cls % 8) {
	case 0: return NAN;
	case 1: return 0;
	case 2: return (double)(int32_t)x;
	case 3: return (double)x / 1000.0;
	case 4: return -(double)x * 1e-300;
	case 5: return (cls & 8) ? INFINITY : -INFINITY;
	case 6: return ldexp((double)x, (int)(cls >> 3) * 8 - 500);
	default: return (double)(x % 7);
	}
}

static void mode_compute(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	int64_t step = 1 + data[0] % 60;
	int64_t mult = 1 + data[1] % 7;
	data += 2;
	size -= 2;
	struct obs_samples raw;
	obs_samples_init(&raw);
	int64_t t = -1000;
	for (size_t i = 0; i + 9 <= size; i += 9) {
		t += data[i] % 32;
		if (obs_samples_push(&raw, t, make_value(data[i + 1], data + i + 2)))
			abort();
	}
	struct obs_rollup_series a, m, direct;
	obs_rollup_series_init(&a);
	obs_rollup_series_init(&m);
	obs_rollup_series_init(&direct);
	if (obs_rollup_compute(raw.t, raw.v, raw.n, step, &a) ||
	    obs_rollup_merge_to(&a, step * mult, &m) ||
	    obs_rollup_compute(raw.t, raw.v, raw.n, step * mult, &direct))
		abort();
	check_series(&a, step);
	check_series(&m, step * mult);
	if (m.n != direct.n)
		abort();
	static const enum obs_agg kinds[] = { OBS_AGG_MIN, OBS_AGG_MAX, OBS_AGG_COUNT, OBS_AGG_LAST };
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		struct obs_aggfn fn = { kinds[k], 0 };
		struct obs_samples want, got;
		obs_samples_init(&want);
		obs_samples_init(&got);
		if (obs_downsample(&raw, step * mult, fn, &want) || obs_rollup_to_samples(&m, fn, &got))
			abort();
		if (want.n != got.n)
			abort();
		for (size_t i = 0; i < got.n; i++)
			if (got.t[i] != want.t[i] ||
			    (memcmp(&got.v[i], &want.v[i], 8) && !(isnan(got.v[i]) && isnan(want.v[i]))))
				abort();
		obs_samples_release(&want);
		obs_samples_release(&got);
	}
	for (size_t i = 0; i < m.n; i++) {
		if (!obs_sketch_equal(m.b[i].sk, direct.b[i].sk))
			abort();
		if (!m.b[i].count)
			continue;
		struct obs_buf b;
		obs_buf_init(&b);
		if (obs_sketch_encode_body(m.b[i].sk, &b))
			abort();
		struct obs_sketch *s;
		size_t pos = 0;
		if (obs_sketch_new(0, 0, &s) ||
		    obs_sketch_decode_body(s, (const uint8_t *)b.data, b.len, &pos, m.b[i].min, m.b[i].max) ||
		    pos != b.len || !obs_sketch_equal(s, m.b[i].sk))
			abort();
		obs_sketch_free(s);
		obs_buf_release(&b);
	}
	obs_rollup_series_release(&a);
	obs_rollup_series_release(&m);
	obs_rollup_series_release(&direct);
	obs_samples_release(&raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0: mode_file(data + 1, size - 1); break;
	case 1: mode_sketch(data + 1, size - 1); break;
	default: mode_compute(data + 1, size - 1); break;
	}
	return 0;
}
