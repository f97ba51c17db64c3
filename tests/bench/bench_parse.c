/* bench_parse.c — throughput of the metric line parsers on a real scrape dump.
 *
 * Build and run (from the repository root, after `make build/libobs.a`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Ilib tests/bench/bench_parse.c build/libobs.a \
 *      -lzstd -lm -o build/bench_parse
 *   build/bench_parse [/work/shared/data/metrics-A.prom.zst] [iterations] [auto|prom]
 *
 * The file (zstd-compressed or plain) is read into memory once; each
 * iteration parses all of it with obs_parse_lines, the callback only sums
 * values and label counts. Prints lines/s and MB/s of the best iteration
 * (no peer, no ratio); exits 1 when the parser rejected any line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "ingest/parse.h"

struct stats {
	size_t samples, errors, labels;
	double sum;
};

static int on_sample(void *ctx, const struct obs_sample_in *s)
{
	struct stats *st = ctx;

	st->samples++;
	st->labels += (size_t)s->nlabels + s->keylen;
	st->sum += s->value + (double)s->ts_ms;
	return 0;
}

static void on_error(void *ctx, size_t lineno, const char *line, size_t len, const char *why)
{
	struct stats *st = ctx;

	if (st->errors++ < 5)
		fprintf(stderr, "line %zu: %s: %.*s\n", lineno, why, (int)(len > 200 ? 200 : len), line);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *raw = NULL, *out;
	size_t cap = 0, len = 0, r;
	ZSTD_DStream *ds;
	ZSTD_inBuffer in;
	ZSTD_outBuffer ob;
	size_t ocap;

	if (!f)
		return NULL;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			raw = realloc(raw, cap);
			if (!raw)
				exit(1);
		}
		r = fread(raw + len, 1, cap - len, f);
		if (!r)
			break;
		len += r;
	}
	fclose(f);
	if (len < 4 || memcmp(raw, "\x28\xb5\x2f\xfd", 4)) {
		*n = len;
		return raw;
	}
	ds = ZSTD_createDStream();
	ZSTD_initDStream(ds);
	ocap = len * 8;
	out = malloc(ocap);
	in = (ZSTD_inBuffer){ raw, len, 0 };
	ob = (ZSTD_outBuffer){ out, ocap, 0 };
	while (in.pos < in.size) {
		if (ob.pos == ob.size) {
			ocap *= 2;
			out = realloc(out, ocap);
			ob.dst = out;
			ob.size = ocap;
		}
		r = ZSTD_decompressStream(ds, &ob, &in);
		if (ZSTD_isError(r)) {
			fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(r));
			exit(1);
		}
	}
	ZSTD_freeDStream(ds);
	free(raw);
	*n = ob.pos;
	return out;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/work/shared/data/metrics-A.prom.zst";
	int iters = argc > 2 ? atoi(argv[2]) : 5, i;
	enum obs_fmt fmt = (argc > 3 && !strcmp(argv[3], "prom")) ? OBS_FMT_PROM : OBS_FMT_AUTO;
	size_t n, lines = 0, k;
	char *buf = slurp(path, &n);
	double best = 1e30;
	struct stats st;
	struct obs_parse_cb cb = { on_sample, NULL, on_error, &st };

	if (!buf) {
		perror(path);
		return 1;
	}
	for (k = 0; k < n; k++)
		lines += buf[k] == '\n';
	for (i = 0; i < iters; i++) {
		double t0, t;

		memset(&st, 0, sizeof(st));
		t0 = now();
		obs_parse_lines(buf, n, fmt, 1, &cb);
		t = now() - t0;
		if (t < best)
			best = t;
	}
	printf("%s: %zu lines, %zu samples, %zu errors, %.1f MB (%s)\n", path, lines, st.samples,
	       st.errors, (double)n / 1e6, fmt == OBS_FMT_AUTO ? "auto" : "prom");
	printf("best of %d: %.3f s  %.2f M lines/s  %.0f MB/s\n", iters, best, (double)lines / best / 1e6,
	       (double)n / best / 1e6);
	free(buf);
	if (st.errors) {
		fprintf(stderr, "bench_parse: %zu lines rejected: the figures do not cover the whole input\n",
			st.errors);
		return 1;
	}
	return 0;
}
