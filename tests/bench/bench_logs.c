/* bench_logs.c — log store figures on a raw log file (standalone, run by
 * tests/bench/bench_logs.sh; not in make test).
 *
 *   bench_logs FILE [DIR]
 *
 * Library level (no FUSE): appends FILE in 128 KiB writes cut at line ends
 * (what the daemon receives from write(2)) into a fresh store under DIR,
 * cuts the head into segments (fast zstd level), re-encodes them at the
 * compaction level (what the background thread does when idle), then times
 * searches (median of REPEAT runs, default 3). Env: LOG_LEVEL,
 * LOG_COMPACT_LEVEL, LOG_FRAME_KB, NEEDLE, REPEAT. Prints "name value";
 * exits 1 when the store holds fewer lines than the file. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/obstime.h"
#include "logs/logquery.h"
#include "logs/logstore.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static int count_rec(void *ctx, int64_t ts, const char *l, size_t n)
{
	(*(uint64_t *)ctx)++;
	return 0;
}

static uint64_t dir_bytes;
static int du_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	if (flag == FTW_F)
		dir_bytes += (uint64_t)sb->st_size;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* median of REPEAT (env, default 3) wall times of a search (read) or a count:
 * the same statistic bench_logs.sh takes of grep and ripgrep */
static void timed(struct obs_logstore *ls, const char *name, const char *qs, int count)
{
	struct obs_logquery *q;
	char err[200];
	if (obs_logquery_parse(qs, strlen(qs), &q, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_logs: %s: %s\n", qs, err);
		exit(2);
	}
	int reps = getenv("REPEAT") ? atoi(getenv("REPEAT")) : 3;
	if (reps < 1)
		reps = 1;
	double *ts = calloc((size_t)reps, sizeof(*ts));
	if (!ts)
		exit(2);
	uint64_t n = 0;
	for (int i = 0; i < reps; i++) {
		n = 0;
		double t0 = now();
		int r = count ? obs_logstore_count(ls, "A", OBS_TIME_MIN, OBS_TIME_MAX, q, NULL, NULL, NULL, &n)
			      : obs_logstore_read(ls, "A", OBS_TIME_MIN, OBS_TIME_MAX, q, count_rec, &n);
		ts[i] = now() - t0;
		if (r < 0) {
			fprintf(stderr, "bench_logs: %s: %s\n", qs, strerror(-r));
			exit(2);
		}
	}
	qsort(ts, (size_t)reps, sizeof(*ts), cmp_double);
	double med = reps % 2 ? ts[reps / 2] : (ts[reps / 2 - 1] + ts[reps / 2]) / 2;
	printf("obsfs_%s_ms %.1f\nobsfs_%s_result %llu\n", name, med * 1e3, name, (unsigned long long)n);
	free(ts);
	obs_logquery_free(q);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_logs FILE [DIR]\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 2;
	}
	size_t n = (size_t)st.st_size;
	const char *data = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
	if (data == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/bench_logs.XXXXXX", argc > 2 ? argv[2] : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	struct obs_logstore_opts o;
	memset(&o, 0, sizeof(o));
	o.no_background = 1;
	o.retention_ms = -1;
	const char *lvl = getenv("LOG_LEVEL"), *fb = getenv("LOG_FRAME_KB"), *cl = getenv("LOG_COMPACT_LEVEL");
	if (lvl)
		o.seg.level = atoi(lvl);
	if (cl)
		o.compact_level = atoi(cl);
	if (fb)
		o.seg.frame_bytes = (size_t)atol(fb) * 1024;
	struct obs_logstore *ls;
	int r = obs_logstore_open(dir, &o, &ls);
	if (r < 0) {
		fprintf(stderr, "open: %s\n", strerror(-r));
		return 2;
	}
	int64_t tnow = obs_time_now();
	uint64_t lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += data[i] == '\n';
	double t0 = now();
	for (size_t off = 0; off < n;) {
		size_t k = n - off > 131072 ? 131072 : n - off;
		if (off + k < n) {
			const char *nl = memrchr(data + off, '\n', k);
			if (nl)
				k = (size_t)(nl - (data + off)) + 1;
		}
		if ((r = obs_logstore_append(ls, "A", data + off, k, tnow, NULL, NULL)) < 0) {
			fprintf(stderr, "append: %s\n", strerror(-r));
			return 2;
		}
		off += k;
	}
	obs_logstore_sync(ls);
	double t1 = now();
	struct obs_logstore_stats s;
	obs_logstore_get_stats(ls, &s);
	if (s.appended != lines) {
		fprintf(stderr, "bench_logs: the store appended %llu lines, the file has %llu (lines lost)\n",
			(unsigned long long)s.appended, (unsigned long long)lines);
		return 1;
	}
	printf("obsfs_lines %llu\n", (unsigned long long)s.appended);
	printf("obsfs_ingest_wal_head_s %.2f\n", t1 - t0);
	printf("obsfs_ingest_lines_per_s %.0f\n", (double)lines / (t1 - t0));
	printf("obsfs_wal_bytes_per_line %.1f\n", (double)s.wal_bytes / (double)lines);
	double t2 = now();
	if ((r = obs_logstore_flush(ls)) < 0) {
		fprintf(stderr, "flush: %s\n", strerror(-r));
		return 2;
	}
	double t3 = now();
	obs_logstore_get_stats(ls, &s);
	printf("obsfs_flush_s %.2f\n", t3 - t2);
	printf("obsfs_flush_mb_per_s %.1f\n", (double)n / 1e6 / (t3 - t2));
	printf("obsfs_end_to_end_lines_per_s %.0f\n", (double)lines / (t3 - t0));
	printf("obsfs_flush_bytes_per_line %.2f\n", (double)s.segment_bytes / (double)lines);
	double t5 = now();
	if ((r = obs_logstore_compact(ls, 0)) < 0) {
		fprintf(stderr, "compact: %s\n", strerror(-r));
		return 2;
	}
	double t6 = now();
	obs_logstore_get_stats(ls, &s);
	printf("obsfs_compact_s %.2f\n", t6 - t5);
	printf("obsfs_compact_mb_per_s %.1f\n", (double)n / 1e6 / (t6 - t5));
	printf("obsfs_segments %llu\n", (unsigned long long)s.segments);
	printf("obsfs_segment_bytes %llu\n", (unsigned long long)s.segment_bytes);
	printf("obsfs_index_bytes_per_line %.2f\n", (double)s.index_bytes / (double)lines);
	dir_bytes = 0;
	nftw(dir, du_one, 16, FTW_PHYS);
	printf("obsfs_disk_bytes_per_line %.2f\n", (double)dir_bytes / (double)lines);
	/* searches on a freshly opened store (segments mapped, page cache warm) */
	obs_logstore_close(ls);
	double t4 = now();
	if ((r = obs_logstore_open(dir, &o, &ls)) < 0) {
		fprintf(stderr, "reopen: %s\n", strerror(-r));
		return 2;
	}
	printf("obsfs_open_ms %.1f\n", (now() - t4) * 1e3);
	const char *needle = getenv("NEEDLE") ? getenv("NEEDLE") : "Zyborg-Needle";
	char qb[300];
	snprintf(qb, sizeof(qb), "\"%s\"", needle);
	timed(ls, "needle", qb, 0);
	timed(ls, "status404_count", "status=404", 1);
	timed(ls, "substr404_count", "\" 404 \"", 1);
	timed(ls, "regex_count", "~'HTTP/1\\.1\" (401|403) '", 1);
	timed(ls, "status5xx_method_post_count", "status>=500 method=POST", 1);
	obs_logstore_close(ls);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
