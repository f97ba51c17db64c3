/* bench_traces.c — library-level throughput of the span path: the OTLP/JSON
 * parsers alone (fast zero-tree scanner, jansson reference) and the whole
 * obs_traces_ingest (parse, journal, RED, assembly, decisions, store)
 * without FUSE. Input as traces/ingest receives it: WRITE-byte writes
 * (default 128 KiB, FUSE's max_write), an unfinished document carried over
 * to the next write; the store is ticked every 8 writes (early decisions).
 *
 * Build (from the repository root, after `make`):
 *   cc -O2 -g -std=c11 -D_GNU_SOURCE -Ilib tests/bench/bench_traces.c build/libobs.a \
 *      $(pkg-config --libs libzstd libpcre2-8 libxxhash jansson) -lroaring -lm -pthread -o build/bench_traces
 *   build/bench_traces parse|pool|ref|ingest FILE [iterations] [write-bytes]
 * pool is parse on BENCH_PARSE_THREADS threads (default 2, obs_otlp_parse_pool),
 * which also sets ingest's parse threads (default: obs_traces_opts_default's);
 * BENCH_ZSTD_LEVEL=N sets the trace segments' zstd level for ingest (default 9);
 * ingest also prints the segment bytes per stored span.
 * Prints "name value unit" lines: spans/s (wall, best iteration) and the CPU
 * seconds of the process per iteration (user + system, getrusage), so a
 * loaded machine does not hide the cost. Exit 1 when a document was refused
 * or the span count is not the same every iteration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "traces/otlp.h"
#include "traces/traces.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int count(void *ctx, const struct obs_span *s, const uint8_t *b, size_t n)
{
	(*(size_t *)ctx)++;
	return 0;
}

static void bad(void *ctx, size_t lineno, const char *line, size_t n, const char *why)
{
	fprintf(stderr, "line %zu refused: %s\n", lineno, why);
}

typedef int (*parse_fn)(const char *, size_t, int, size_t, obs_span_fn, obs_span_err_fn, void *, struct obs_otlp_result *);

static struct obs_otlp_pool *pool;

static int pool_parse(const char *buf, size_t n, int final, size_t lineno, obs_span_fn fn, obs_span_err_fn efn,
		      void *ctx, struct obs_otlp_result *r)
{
	return obs_otlp_parse_pool(pool, buf, n, final, lineno, fn, efn, ctx, r);
}

/* feed text as writes of wb bytes with carry; spans counted into *spans */
static int feed(const char *text, size_t n, size_t wb, parse_fn pf, struct obs_traces *t, size_t *spans, int64_t now)
{
	char *carry = malloc(wb * 4 + n / 8 + 1);
	size_t cn = 0, pos = 0, lineno = 1, writes = 0;
	if (!carry)
		return -ENOMEM;
	while (pos < n || cn) {
		size_t k = n - pos < wb ? n - pos : wb;
		memcpy(carry + cn, text + pos, k);
		cn += k;
		pos += k;
		int final = pos == n;
		size_t used, lines;
		if (t) {
			struct obs_traces_result r;
			int rc = obs_traces_ingest(t, carry, cn, final, "bench", lineno, now, &r);
			if (rc)
				return rc;
			*spans += r.spans;
			used = r.consumed;
			lines = 0;
			if (++writes % 8 == 0 && (rc = obs_traces_tick(t, now)))   /* obsfsd ticks every 200 ms */
				return rc;
		} else {
			struct obs_otlp_result r;
			int rc = pf(carry, cn, final, lineno, count, bad, spans, &r);
			if (rc)
				return rc;
			used = r.consumed;
			lines = r.lines;
		}
		lineno += lines;
		if (used)
			memmove(carry, carry + used, cn - used);
		cn -= used;
		if (final && cn)
			return -EINVAL;
	}
	free(carry);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_traces parse|pool|ref|ingest FILE [iterations] [write-bytes]\n");
		return 2;
	}
	const char *mode = argv[1];
	int iters = argc > 3 ? atoi(argv[3]) : 3;
	size_t wb = argc > 4 ? (size_t)atol(argv[4]) : 131072;
	FILE *f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = malloc((size_t)sz + 1);
	if (!text || fread(text, 1, (size_t)sz, f) != (size_t)sz) {
		fprintf(stderr, "cannot read %s\n", argv[2]);
		return 2;
	}
	fclose(f);
	int threads = getenv("BENCH_PARSE_THREADS") ? atoi(getenv("BENCH_PARSE_THREADS")) : 0;
	if (!strcmp(mode, "pool") && obs_otlp_pool_new(threads ? threads : 2, 0, &pool)) {
		fprintf(stderr, "cannot start the parse threads\n");
		return 2;
	}
	double best = 1e30, cpu_total = 0, disk = 0;
	size_t first = 0;
	for (int it = 0; it < iters; it++) {
		size_t spans = 0;
		struct obs_traces *t = NULL;
		char dir[] = "/tmp/bench-traces.XXXXXX", err[200];
		int64_t now = (int64_t)time(NULL) * 1000;
		if (!strcmp(mode, "ingest")) {
			struct obs_traces_opts o;
			obs_traces_opts_default(&o);
			if (getenv("BENCH_ZSTD_LEVEL"))   /* what the segments' compression costs */
				o.store.zstd_level = atoi(getenv("BENCH_ZSTD_LEVEL"));
			if (threads)
				o.parse_threads = threads;
			if (!mkdtemp(dir) || obs_traces_open(dir, &o, NULL, NULL, now, &t, err, sizeof err) ||
			    obs_traces_set_policy(t, "all always_sample\n", 18, err, sizeof err)) {
				fprintf(stderr, "cannot open a trace store in %s: %s\n", dir, err);
				return 2;
			}
		}
		double c0 = cpu_s(), t0 = now_s();
		parse_fn pf = !strcmp(mode, "ref") ? obs_otlp_parse_ref : !strcmp(mode, "pool") ? pool_parse : obs_otlp_parse;
		int rc = feed(text, (size_t)sz, wb, pf, t, &spans, now);
		if (t && !rc)
			rc = obs_traces_flush_all(t, now + 3600000);
		if (t && !rc)   /* every kept trace into a segment file */
			rc = obs_traces_checkpoint(t, now + 3600000);
		double t1 = now_s(), c1 = cpu_s();
		if (t && !rc) {
			struct obs_traces_stats st;
			obs_traces_get_stats(t, &st);
			disk = st.store.spans ? (double)st.store.disk_bytes / (double)st.store.spans : 0;
		}
		if (t) {
			obs_traces_close(t);
			char cmd[100];
			snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
			if (system(cmd))
				fprintf(stderr, "cannot remove %s\n", dir);
		}
		if (rc) {
			fprintf(stderr, "%s failed: %s\n", mode, strerror(-rc));
			return 1;
		}
		if (it && spans != first) {
			fprintf(stderr, "span count changed: %zu then %zu\n", first, spans);
			return 1;
		}
		first = spans;
		if (t1 - t0 < best)
			best = t1 - t0;
		cpu_total += c1 - c0;
	}
	printf("%s_spans %zu spans (%ld bytes, %.0f bytes/span)\n", mode, first, sz, (double)sz / (double)first);
	printf("%s_spans_per_s %.0f spans/s (best of %d, wall %.3f s, %.1f MB/s)\n", mode, (double)first / best, iters, best,
	       (double)sz / best / 1e6);
	printf("%s_cpu_s_per_iteration %.3f s (%.0f spans per CPU second)\n", mode, cpu_total / iters,
	       (double)first / (cpu_total / iters));
	if (disk > 0)
		printf("%s_disk_bytes_per_span %.1f bytes (segment files / stored spans)\n", mode, disk);
	free(text);
	obs_otlp_pool_free(pool);
	return 0;
}
