/* bench_wal.c — WAL append and replay throughput (standalone, not in make test).
 *
 *   make build/libobs.a && cc -O2 -std=c11 -D_GNU_SOURCE -Ilib -pthread \
 *       tests/bench/bench_wal.c build/libobs.a -o build/bench_wal && build/bench_wal [DIR [MIB]]
 *
 * Writes MIB (default 512) of 16 KiB records, then of 128-byte records, into a
 * fresh WAL under DIR (default /tmp), with group commit every 10 ms, and
 * replays each (page cache warm: this measures the WAL's own cost, not the
 * disk). Prints one line per phase to stdout. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/wal.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}

static int sum_fn(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	uint64_t *s = ctx;
	*s += type + n + (n ? p[n - 1] : 0);
	return 0;
}

static int run(const char *base, size_t rec, size_t total)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/bench_wal.%d.%zu", base, (int)getpid(), rec);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	unsigned char *buf = malloc(rec);
	if (!buf)
		return 1;
	for (size_t i = 0; i < rec; i++)
		buf[i] = (unsigned char)(i * 31 + 7);
	size_t count = total / rec;
	struct obs_wal_opts o = { .segment_bytes = 64 << 20, .sync_interval_ms = 10 };
	struct obs_wal *w;
	int rc = obs_wal_open(dir, &o, &w);
	if (rc) {
		fprintf(stderr, "bench_wal: open '%s': %s\n", dir, strerror(-rc));
		return 1;
	}
	double t0 = now();
	for (size_t i = 0; i < count; i++) {
		buf[0] = (unsigned char)i;
		if ((rc = obs_wal_append(w, (uint8_t)i, buf, rec))) {
			fprintf(stderr, "bench_wal: append: %s\n", strerror(-rc));
			return 1;
		}
	}
	double t1 = now();
	obs_wal_close(w);           /* final fsync */
	double t2 = now();
	double mb = (double)count * (double)rec / 1e6;
	printf("append %6zu B records: %10.0f rec/s %8.1f MB/s (%.1f MB/s incl. final fsync)\n",
	       rec, count / (t1 - t0), mb / (t1 - t0), mb / (t2 - t0));

	uint64_t sum = 0;
	struct obs_wal_stats st;
	t0 = now();
	rc = obs_wal_replay(dir, sum_fn, &sum, &st);
	t1 = now();
	if (rc || st.records != count) {
		fprintf(stderr, "bench_wal: replay: %s (%llu records)\n", strerror(-rc),
			(unsigned long long)st.records);
		return 1;
	}
	printf("replay %6zu B records: %10.0f rec/s %8.1f MB/s (%llu segments, %.1f MB on disk)\n",
	       rec, count / (t1 - t0), (double)st.bytes / 1e6 / (t1 - t0),
	       (unsigned long long)st.segments, (double)st.bytes / 1e6);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : "/tmp";
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 512;
	if (!mib) {
		fprintf(stderr, "usage: bench_wal [dir [mib]]\n");
		return 2;
	}
	if (run(base, 16384, mib << 20) || run(base, 128, (mib << 20) / 8))
		return 1;
	return 0;
}
