// sources: lib/tsdb/encoding.c lib/tsdb/chunk.c lib/core/buf.c lib/core/corrupt.c
/* fuzz_encoding.c — libFuzzer harness for the closed-chunk encodings.
 *
 * 1. Decode the input with obs_enc_decode: no out-of-bounds read, a count
 *    that matches obs_enc_count, strictly increasing timestamps.
 * 2. Build samples from the input and round-trip them bit-exactly through
 *    obs_enc_encode / obs_enc_decode. The first input byte picks how values
 *    are made (raw bits, short decimals, constant, mixed with specials) so
 *    that every encoding is reached.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib \
 *     tests/fuzz/fuzz_encoding.c lib/tsdb/encoding.c lib/tsdb/chunk.c \
 *     lib/core/buf.c -o build/fuzz_encoding
 *   build/fuzz_encoding -max_total_time=30
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/encoding.h"

static int64_t dt[OBS_ENC_MAX_SAMPLES];
static double dv[OBS_ENC_MAX_SAMPLES];

static uint64_t bits_of(double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	return u;
}

static void decode_arbitrary(const uint8_t *data, size_t size)
{
	int cnt = obs_enc_count(data, size);
	int n = obs_enc_decode(data, size, dt, dv, OBS_ENC_MAX_SAMPLES);
	if (n >= 0 && n != cnt)
		abort();
	for (int i = 1; i < n; i++)
		if (dt[i] <= dt[i - 1])
			abort();
}

static void round_trip(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	uint8_t sel = data[0];
	unsigned mode = sel % 5;
	data++;
	size--;
	size_t n = size / 8;
	if (n > OBS_ENC_MAX_SAMPLES)
		n = OBS_ENC_MAX_SAMPLES;
	int64_t *ts = malloc((n + 1) * sizeof(*ts));
	double *vs = malloc((n + 1) * sizeof(*vs));
	if (!ts || !vs)
		abort();
	size_t m = 0;
	int64_t t = -1000000;
	double acc = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t u;
		memcpy(&u, data + 8 * i, 8);
		uint64_t d = (u & 3) == 3 ? (u >> 2) + 1 : (u & 3) ? 1000 + (u >> 2) % 7 : 1000;
		if (i && (uint64_t)INT64_MAX - (uint64_t)t < d)
			break;
		t = i ? (int64_t)((uint64_t)t + d) : (int64_t)(u >> 1) - (INT64_C(1) << 62);
		switch (mode) {
		case 0: memcpy(&vs[m], &u, 8); break;
		case 1: acc += (double)((u >> 8) % 1000) / 100; vs[m] = acc; break;
		case 2: vs[m] = 42.5; break;
		case 3: vs[m] = (double)(int64_t)(u >> 20) / 1000; break;
		default: {
			static const uint64_t sp[] = { 0x8000000000000000ull, 0x7ff8000000000001ull,
				0x7ff0000000000000ull, 0x0000000000000001ull, 0x3ff0000000000000ull };
			uint64_t b = sp[(u >> 8) % 5];
			memcpy(&vs[m], &b, 8);
		}
		}
		ts[m++] = t;
	}
	struct obs_buf b;
	obs_buf_init(&b);
	if (obs_buf_append(&b, "x", 1))   /* encodings append after existing bytes */
		abort();
	if (obs_enc_encode(ts, vs, m, &b) != 0)
		abort();
	const uint8_t *p = (const uint8_t *)b.data + 1;
	size_t len = b.len - 1;
	if (obs_enc_count(p, len) != (int)m)
		abort();
	if (obs_enc_decode(p, len, dt, dv, OBS_ENC_MAX_SAMPLES) != (int)m)
		abort();
	for (size_t i = 0; i < m; i++)
		if (dt[i] != ts[i] || bits_of(dv[i]) != bits_of(vs[i]))
			abort();
	/* every strict prefix is refused */
	if (len > 1) {
		size_t cut = (size_t)sel * 7919 % len;
		uint8_t *c = malloc(cut ? cut : 1);
		memcpy(c, p, cut);
		if (obs_enc_decode(c, cut, dt, dv, OBS_ENC_MAX_SAMPLES) != -EBADMSG)
			abort();
		free(c);
	}
	obs_buf_release(&b);
	free(ts);
	free(vs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_arbitrary(data, size);
	round_trip(data, size);
	return 0;
}
