/* bench_chunk.c — size and speed of the chunk codecs on Prometheus text data.
 *
 * Build and run (from the top of the tree, after `make build/libobs.a`):
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Ilib -o build/bench_chunk tests/bench/bench_chunk.c build/libobs.a \
 *      $(pkg-config --libs libzstd libpcre2-8 libxxhash) -lroaring -lm -pthread
 *   zstd -dc /work/shared/data/metrics-A.prom.zst | build/bench_chunk
 *   build/bench_chunk FILE
 *
 * Input: `series value ts_ms` per line, sorted by series then time. A sample
 * whose timestamp does not increase within its series fails the run (exit 1):
 * the figures must cover every sample of the input.
 * Output: `name value` lines: for Gorilla chunks cut at 120 and 1024 samples,
 * bytes per sample, encode and decode samples/s; for obs_enc (one chunk per
 * whole series) the same, plus bytes per sample after zstd -3 of all chunks
 * concatenated, and how many chunks each encoding won.
 */
#include "tsdb/chunk.h"
#include "tsdb/encoding.h"
#include "core/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

struct series {
	size_t off, n;
};

static int64_t *g_ts;
static double *g_vs;
static size_t g_n, g_cap;
static struct series *g_ser;
static size_t g_nser, g_sercap;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "bench_chunk: out of memory\n");
		exit(2);
	}
	return p;
}

static size_t load(FILE *f)
{
	char *line = NULL, *prev = NULL;
	size_t cap = 0, dropped = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		char *sp2 = strrchr(line, ' ');
		if (!sp2)
			continue;
		*sp2 = 0;
		char *sp1 = strrchr(line, ' ');
		if (!sp1)
			continue;
		*sp1 = 0;
		double v = strtod(sp1 + 1, NULL);
		int64_t t = strtoll(sp2 + 1, NULL, 10);
		if (!prev || strcmp(prev, line)) {
			free(prev);
			prev = strdup(line);
			if (g_nser == g_sercap) {
				g_sercap = g_sercap ? 2 * g_sercap : 1024;
				g_ser = xrealloc(g_ser, g_sercap * sizeof(*g_ser));
			}
			g_ser[g_nser++] = (struct series){ g_n, 0 };
		} else if (t <= g_ts[g_n - 1]) {
			dropped++;
			continue;
		}
		if (g_n == g_cap) {
			g_cap = g_cap ? 2 * g_cap : 1 << 16;
			g_ts = xrealloc(g_ts, g_cap * sizeof(*g_ts));
			g_vs = xrealloc(g_vs, g_cap * sizeof(*g_vs));
		}
		g_ts[g_n] = t;
		g_vs[g_n] = v;
		g_n++;
		g_ser[g_nser - 1].n++;
	}
	free(line);
	free(prev);
	return dropped;
}

struct chunk {
	uint8_t *p;
	size_t len, n;
};

static void check_equal(const int64_t *ts, const double *vs, size_t off, size_t n, const char *what)
{
	if (memcmp(ts, g_ts + off, n * sizeof(*ts)) || memcmp(vs, g_vs + off, n * sizeof(*vs))) {
		fprintf(stderr, "bench_chunk: %s round trip mismatch\n", what);
		exit(1);
	}
}

static size_t zstd_size(struct chunk *ch, size_t nch)
{
	struct obs_buf all;
	obs_buf_init(&all);
	for (size_t i = 0; i < nch; i++)
		if (obs_buf_append(&all, ch[i].p, ch[i].len))
			exit(2);
	size_t bound = ZSTD_compressBound(all.len);
	void *dst = xrealloc(NULL, bound);
	size_t z = ZSTD_compress(dst, bound, all.data, all.len, 3);
	free(dst);
	obs_buf_release(&all);
	return ZSTD_isError(z) ? 0 : z;
}

static void bench_gorilla(size_t cut, int64_t *ts, double *vs)
{
	size_t nch = 0, chcap = g_n / cut + g_nser + 1, bytes = 0;
	struct chunk *ch = xrealloc(NULL, chcap * sizeof(*ch));
	double t0 = now();
	for (size_t s = 0; s < g_nser; s++) {
		for (size_t i = 0; i < g_ser[s].n; i += cut) {
			size_t k = g_ser[s].n - i < cut ? g_ser[s].n - i : cut;
			struct obs_chunk_enc e;
			obs_chunk_enc_init(&e);
			size_t off = g_ser[s].off + i;
			for (size_t j = 0; j < k; j++)
				if (obs_chunk_append(&e, g_ts[off + j], g_vs[off + j])) {
					fprintf(stderr, "bench_chunk: append failed\n");
					exit(1);
				}
			ch[nch].len = obs_chunk_size(&e);
			ch[nch].p = e.buf;  /* take ownership */
			ch[nch].n = k;
			bytes += ch[nch].len;
			nch++;
		}
	}
	double t_enc = now() - t0;

	/* Verify once, then time several decoding passes. */
	size_t ci = 0;
	for (size_t s = 0; s < g_nser; s++)
		for (size_t i = 0; i < g_ser[s].n; i += cut, ci++) {
			int r = obs_chunk_decode(ch[ci].p, ch[ci].len, ts, vs, ch[ci].n);
			if (r != (int)ch[ci].n) {
				fprintf(stderr, "bench_chunk: decode failed\n");
				exit(1);
			}
			check_equal(ts, vs, g_ser[s].off + i, ch[ci].n, "gorilla");
		}
	int reps = 0;
	double t_dec = 0, sink = 0;
	t0 = now();
	do {
		for (size_t c = 0; c < nch; c++) {
			obs_chunk_decode(ch[c].p, ch[c].len, ts, vs, ch[c].n);
			sink += vs[0];
		}
		reps++;
		t_dec = now() - t0;
	} while (t_dec < 1.0);
	int64_t t;
	double v;
	size_t it_n = 0;
	t0 = now();
	for (size_t c = 0; c < nch; c++) {
		struct obs_chunk_it it;
		obs_chunk_it_init(&it, ch[c].p, ch[c].len);
		while (obs_chunk_it_next(&it, &t, &v) > 0) {
			sink += v;
			it_n++;
		}
	}
	double t_it = now() - t0;
	size_t z = zstd_size(ch, nch);
	printf("gorilla%zu_chunks %zu\n", cut, nch);
	printf("gorilla%zu_bytes_per_sample %.4f\n", cut, (double)bytes / g_n);
	printf("gorilla%zu_zstd_bytes_per_sample %.4f\n", cut, (double)z / g_n);
	printf("gorilla%zu_encode_samples_per_s %.0f\n", cut, g_n / t_enc);
	printf("gorilla%zu_decode_samples_per_s %.0f\n", cut, (double)g_n * reps / t_dec);
	printf("gorilla%zu_iter_samples_per_s %.0f\n", cut, it_n / t_it);
	if (sink == 12345.6789)
		putchar(' ');
	for (size_t c = 0; c < nch; c++)
		free(ch[c].p);
	free(ch);
}

static void bench_enc(int64_t *ts, double *vs)
{
	struct chunk *ch = xrealloc(NULL, g_nser * sizeof(*ch));
	size_t bytes = 0, won[256] = { 0 };
	double t0 = now();
	for (size_t s = 0; s < g_nser; s++) {
		struct obs_buf b;
		obs_buf_init(&b);
		if (obs_enc_encode(g_ts + g_ser[s].off, g_vs + g_ser[s].off, g_ser[s].n, &b)) {
			fprintf(stderr, "bench_chunk: obs_enc_encode failed\n");
			exit(1);
		}
		size_t len;
		ch[s].p = (uint8_t *)obs_buf_detach(&b, &len);
		ch[s].len = len;
		ch[s].n = g_ser[s].n;
		bytes += len;
		won[ch[s].p[0]]++;
	}
	double t_enc = now() - t0;
	for (size_t s = 0; s < g_nser; s++) {
		if (obs_enc_count(ch[s].p, ch[s].len) != (int)ch[s].n ||
		    obs_enc_decode(ch[s].p, ch[s].len, ts, vs, ch[s].n) != (int)ch[s].n) {
			fprintf(stderr, "bench_chunk: obs_enc_decode failed\n");
			exit(1);
		}
		check_equal(ts, vs, g_ser[s].off, ch[s].n, "obs_enc");
	}
	int reps = 0;
	double t_dec = 0, sink = 0;
	t0 = now();
	do {
		for (size_t s = 0; s < g_nser; s++) {
			obs_enc_decode(ch[s].p, ch[s].len, ts, vs, ch[s].n);
			sink += vs[0];
		}
		reps++;
		t_dec = now() - t0;
	} while (t_dec < 1.0);
	size_t z = zstd_size(ch, g_nser);
	printf("enc_chunks %zu\n", g_nser);
	printf("enc_bytes_per_sample %.4f\n", (double)bytes / g_n);
	printf("enc_zstd_bytes_per_sample %.4f\n", (double)z / g_n);
	printf("enc_encode_samples_per_s %.0f\n", g_n / t_enc);
	printf("enc_decode_samples_per_s %.0f\n", (double)g_n * reps / t_dec);
	for (int i = 0; i < 256; i++)
		if (won[i])
			printf("enc_%s_chunks %zu\n", obs_enc_name(i), won[i]);
	if (sink == 12345.6789)
		putchar(' ');
	for (size_t s = 0; s < g_nser; s++)
		free(ch[s].p);
	free(ch);
}

int main(int argc, char **argv)
{
	FILE *f = stdin;
	if (argc > 2) {
		fprintf(stderr, "usage: bench_chunk [file]\n");
		return 2;
	}
	if (argc == 2 && !(f = fopen(argv[1], "r"))) {
		fprintf(stderr, "bench_chunk: unable to open '%s'\n", argv[1]);
		return 2;
	}
	size_t dropped = load(f);
	if (f != stdin)
		fclose(f);
	size_t maxn = 0;
	for (size_t s = 0; s < g_nser; s++)
		if (g_ser[s].n > maxn)
			maxn = g_ser[s].n;
	if (dropped) {
		fprintf(stderr, "bench_chunk: %zu samples do not increase in time within their series: "
			"the figures would not cover the whole input\n", dropped);
		return 1;
	}
	printf("series %zu\n", g_nser);
	printf("samples %zu\n", g_n);
	printf("dropped_non_increasing %zu\n", dropped);
	if (!g_n)
		return 0;
	int64_t *ts = xrealloc(NULL, (maxn + 1) * sizeof(*ts));
	double *vs = xrealloc(NULL, (maxn + 1) * sizeof(*vs));
	bench_gorilla(120, ts, vs);
	bench_gorilla(1024, ts, vs);
	bench_enc(ts, vs);
	free(ts);
	free(vs);
	free(g_ts);
	free(g_vs);
	free(g_ser);
	return 0;
}
