// sources: lib/ingest/statsagg.c lib/ingest/parse.c lib/ingest/prom.c lib/ingest/influx.c lib/ingest/graphite.c lib/ingest/statsd.c lib/core/num.c lib/core/obstime.c lib/core/labels.c lib/core/buf.c lib/core/utf8.c lib/core/strmap.c
/* fuzz_statsagg.c — libFuzzer harness for the StatsD aggregator: the input
 * is cut into datagrams at NUL bytes, each fed (an exact-size heap copy, so
 * ASan catches a read past its end), with a flush after every fourth; every
 * rendered line must end in '\n' and hold a value and a timestamp. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/statsagg.h"

static void check(const struct obs_buf *b)
{
	if (!b->len)
		return;
	if (b->data[b->len - 1] != '\n')
		abort();
	for (const char *p = b->data, *e = b->data + b->len; p < e;) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		int spaces = 0;
		for (const char *q = p; q < nl; q++)
			spaces += *q == ' ';
		if (spaces < 2)
			abort();
		p = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	double p[] = { 50, 90, 99.9 };
	struct obs_statsagg *a = obs_statsagg_new(p, 3);
	struct obs_buf out;
	obs_buf_init(&out);
	if (!a)
		return 0;
	int k = 0;
	for (size_t i = 0; i < n;) {
		const uint8_t *z = memchr(data + i, 0, n - i);
		size_t len = z ? (size_t)(z - data) - i : n - i;
		char *d = malloc(len ? len : 1);
		memcpy(d, data + i, len);
		obs_statsagg_feed(a, d, len, NULL, NULL);
		free(d);
		if (++k % 4 == 0) {
			obs_buf_reset(&out);
			obs_statsagg_flush(a, 1000, 10000, &out);
			check(&out);
		}
		i += len + 1;
	}
	obs_buf_reset(&out);
	obs_statsagg_flush(a, 1000, 0, &out);
	check(&out);
	obs_buf_release(&out);
	obs_statsagg_free(a);
	return 0;
}
