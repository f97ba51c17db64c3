// sources: lib/tsdb/chunk.c lib/core/corrupt.c
/* fuzz_chunk.c — libFuzzer harness for the Gorilla chunk codec.
 *
 * 1. Decode the input as a chunk with obs_chunk_decode and the iterator: no
 *    out-of-bounds read, and both agree (same samples, same verdict).
 * 2. Build samples from the input (16-byte records: a timestamp step and the
 *    raw value bits), encode them, and check the bit-exact round trip.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib \
 *     tests/fuzz/fuzz_chunk.c lib/tsdb/chunk.c -o build/fuzz_chunk
 *   build/fuzz_chunk -max_total_time=30
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunk.h"

static int64_t dt[OBS_CHUNK_MAX_SAMPLES], it_t[OBS_CHUNK_MAX_SAMPLES];
static double dv[OBS_CHUNK_MAX_SAMPLES];

static uint64_t bits_of(double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	return u;
}

static void decode_arbitrary(const uint8_t *data, size_t size)
{
	int cnt = obs_chunk_count(data, size);
	int n = obs_chunk_decode(data, size, dt, dv, OBS_CHUNK_MAX_SAMPLES);
	if (n >= 0 && n != cnt)
		abort();
	struct obs_chunk_it it;
	obs_chunk_it_init(&it, data, size);
	int64_t t;
	double v;
	int rc, k = 0;
	while ((rc = obs_chunk_it_next(&it, &t, &v)) == 1) {
		if (k >= OBS_CHUNK_MAX_SAMPLES)
			abort();
		if (n >= 0 && (t != dt[k] || bits_of(v) != bits_of(dv[k])))
			abort();
		if (k && t <= it_t[k - 1])
			abort();
		it_t[k++] = t;
	}
	if ((rc < 0) != (n < 0) || (n >= 0 && k != n))
		abort();
}

static void round_trip(const uint8_t *data, size_t size)
{
	size_t n = size / 16;
	if (n > OBS_CHUNK_MAX_SAMPLES)
		n = OBS_CHUNK_MAX_SAMPLES;
	int64_t *ts = malloc((n + 1) * sizeof(*ts));
	double *vs = malloc((n + 1) * sizeof(*vs));
	if (!ts || !vs)
		abort();
	struct obs_chunk_enc e;
	obs_chunk_enc_init(&e);
	size_t m = 0;
	int64_t t = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t step, vb;
		memcpy(&step, data + 16 * i, 8);
		memcpy(&vb, data + 16 * i + 8, 8);
		/* low byte picks the step's scale: mostly small, sometimes huge */
		unsigned sh = (unsigned)(step & 63);
		uint64_t d = sh < 40 ? (step >> 6) % 5000 + 1 : (step >> 1) + 1;
		if (i == 0)
			t = (int64_t)step;
		else if ((uint64_t)INT64_MAX - (uint64_t)t < d)
			break;
		else
			t = (int64_t)((uint64_t)t + d);
		double v;
		memcpy(&v, &vb, 8);
		if (obs_chunk_append(&e, t, v) != 0)
			abort();
		ts[m] = t;
		vs[m] = v;
		m++;
		/* a repeated or older timestamp is refused */
		if (obs_chunk_append(&e, t, v) != -EINVAL)
			abort();
	}
	size_t len;
	const uint8_t *c = obs_chunk_data(&e, &len);
	if (len != obs_chunk_size(&e) || obs_chunk_count(c, len) != (int)m)
		abort();
	if (obs_chunk_decode(c, len, dt, dv, OBS_CHUNK_MAX_SAMPLES) != (int)m)
		abort();
	for (size_t i = 0; i < m; i++)
		if (dt[i] != ts[i] || bits_of(dv[i]) != bits_of(vs[i]))
			abort();
	free(ts);
	free(vs);
	obs_chunk_enc_release(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_arbitrary(data, size);
	round_trip(data, size);
	return 0;
}
