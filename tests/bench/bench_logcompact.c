/* bench_logcompact.c — what `echo compact > MOUNT/ctl` costs the log store
 * (standalone, not in make test): N generated logfmt lines (default 200000,
 * a fixed seed) are appended to one stream in 128 KiB writes, then the head
 * is cut into segments (obs_logstore_flush, fast zstd level) and the
 * segments are re-encoded at the compaction level (obs_logstore_compact):
 * the two steps of ctl "compact". Prints "name value" lines: wall and
 * CPU seconds (the machine may be shared) of each step.
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Ilib -pthread tests/bench/bench_logcompact.c \
 *      build/libobs.a $(pkg-config --libs libzstd libpcre2-8 libxxhash) -lroaring -lm \
 *      -o build/bench_logcompact
 *   [COMPACT_LEVEL=L] build/bench_logcompact [N] [DIR]
 * Exits 1 when the store does not hold N lines afterwards. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/obstime.h"
#include "logs/logstore.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/obs-bench-compact.%d", argc > 2 ? argv[2] : "/tmp", (int)getpid());
	static const char *lv[] = { "debug", "info", "info", "info", "warn", "error" };
	static const char *path[] = { "/api/v1/orders", "/api/v1/users", "/healthz", "/metrics", "/login" };
	struct obs_logstore_opts o = { 0 };
	o.no_background = 1;
	if (getenv("COMPACT_LEVEL"))   /* default: the store's (15) */
		o.compact_level = atoi(getenv("COMPACT_LEVEL"));
	struct obs_logstore *ls;
	if (obs_logstore_open(dir, &o, &ls) < 0) {
		fprintf(stderr, "bench_logcompact: cannot open '%s'\n", dir);
		return 2;
	}
	struct obs_buf b;
	obs_buf_init(&b);
	int64_t t0 = 1790000000000LL;
	double a0 = now();
	for (size_t i = 0; i < n; i++) {
		uint64_t r = next();
		char ts[40];
		obs_time_format(t0 + (int64_t)i * 10, OBS_TIME_RFC3339, ts);
		obs_buf_printf(&b, "ts=%s level=%s method=GET path=%s status=%d dur_ms=%llu user=u%llu "
			       "trace_id=%016llx%08llx msg=\"request served\"\n",
			       ts, lv[r % 6], path[(r >> 8) % 5], (int)(200 + (r >> 16) % 4 * 100),
			       (unsigned long long)(r >> 24) % 2000, (unsigned long long)(r >> 40) % 5000,
			       (unsigned long long)next(), (unsigned long long)(next() & 0xffffffff));
		if (b.len > 128 * 1024 || i + 1 == n) {
			if (obs_logstore_append(ls, "A", b.data, b.len, t0, NULL, NULL) < 0) {
				fprintf(stderr, "bench_logcompact: append failed\n");
				return 2;
			}
			obs_buf_reset(&b);
		}
	}
	double a1 = now(), c1 = cpu();
	int rf = obs_logstore_flush(ls);
	double a2 = now(), c2 = cpu();
	int rc = obs_logstore_compact(ls, 0);
	double a3 = now(), c3 = cpu();
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	printf("lines %llu\n", (unsigned long long)st.segment_lines);
	printf("raw_bytes %llu\n", (unsigned long long)st.segment_raw_bytes);
	printf("segments %llu\n", (unsigned long long)st.segments);
	printf("segment_bytes %llu\n", (unsigned long long)st.segment_bytes);
	printf("index_bytes %llu\n", (unsigned long long)st.index_bytes);
	printf("append_s %.3f\n", a1 - a0);
	printf("flush_s %.3f\n", a2 - a1);
	printf("compact_s %.3f\n", a3 - a2);
	printf("ctl_compact_s %.3f\n", a3 - a1);
	printf("flush_cpu_s %.3f\n", c2 - c1);
	printf("compact_cpu_s %.3f\n", c3 - c2);
	obs_logstore_close(ls);
	obs_buf_release(&b);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (rf < 0 || rc < 0 || st.segment_lines != n) {
		fprintf(stderr, "bench_logcompact: flush %d compact %d lines %llu\n", rf, rc,
			(unsigned long long)st.segment_lines);
		return 1;
	}
	return 0;
}
