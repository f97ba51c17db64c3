/* bench_logs.c — log store figures on a raw log file (standalone, run by
 * tests/bench/bench_logs.sh; not in make test). Public API only, so the
 * same file builds against an older libobs.a (a before/after comparison in
 * one run).
 *
 *   bench_logs FILE [DIR]
 *   bench_logs -scan FILE [DIR]
 *
 * Library level (no FUSE): appends FILE in 128 KiB writes cut at line ends
 * (what the daemon receives from write(2)) into a fresh store under DIR,
 * cuts the head into segments (fast zstd level), re-encodes them at the
 * compaction level (what the background thread does when idle), then times
 * searches (median of REPEAT runs, default 3). Env: LOG_LEVEL,
 * LOG_COMPACT_LEVEL, LOG_FRAME_KB, NEEDLE, REPEAT. Prints "name value";
 * exits 1 when the store holds fewer lines than the file.
 *
 * -scan: sparse searches over many segments, and appends while a long
 * search runs ("scan_" lines). In a fresh store:
 *   stream B   FILE, flushed every LOG_SEG_MB (default 64: what the
 *              daemon's flusher does at its head_bytes default) at zstd
 *              LOG_LEVEL (3), no re-encoding: many segments;
 *   stream T   TRACE_LINES (default 2,000,000) synthetic logfmt lines, 8
 *              per trace id (W3C: 32 hex digits), flushed the same way.
 * Then the needle in B and one trace id of T (trace_id=ID, and ID as a
 * substring) through the cursor (obs_logstore_read): median ms, records,
 * frames decompressed; and a search of B that tests every line (a regex
 * without a 3-byte literal) in a thread while this one appends a line to
 * B every millisecond: the appends' latency p50, p99, max. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
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

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_logs: %s: %s\n", what, strerror(-r));
	exit(2);
}

/* Append data[0..n) to stream in 128 KiB writes cut at line ends; with
 * every, flush each time that many bytes went in, and at the end. */
static void load(struct obs_logstore *ls, const char *stream, const char *data, size_t n, int64_t tnow,
		 size_t every)
{
	size_t since = 0;
	int r;
	for (size_t off = 0; off < n;) {
		size_t k = n - off > 131072 ? 131072 : n - off;
		if (off + k < n) {
			const char *nl = memrchr(data + off, '\n', k);
			if (nl)
				k = (size_t)(nl - (data + off)) + 1;
		}
		if ((r = obs_logstore_append(ls, stream, data + off, k, tnow, NULL, NULL)) < 0)
			die("append", r);
		off += k;
		if (every && (since += k) >= every) {
			if ((r = obs_logstore_flush(ls)) < 0)
				die("flush", r);
			since = 0;
		}
	}
	if (every && (r = obs_logstore_flush(ls)) < 0)
		die("flush", r);
}

/* median of REPEAT (env, default 3) wall times of a search (read) or a count:
 * the same statistic bench_logs.sh takes of grep and ripgrep; PFX_NAME_ms,
 * _result and _frames (decompressed by the last run) */
static void timed(struct obs_logstore *ls, const char *pfx, const char *name, const char *stream, const char *qs,
		  int count)
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
	uint64_t n = 0, frames = 0;
	for (int i = 0; i < reps; i++) {
		struct obs_logstore_stats a, b;
		obs_logstore_get_stats(ls, &a);
		n = 0;
		double t0 = now();
		int r = count ? obs_logstore_count(ls, stream, OBS_TIME_MIN, OBS_TIME_MAX, q, NULL, NULL, NULL, &n)
			      : obs_logstore_read(ls, stream, OBS_TIME_MIN, OBS_TIME_MAX, q, count_rec, &n);
		ts[i] = now() - t0;
		if (r < 0)
			die(qs, r);
		obs_logstore_get_stats(ls, &b);
		frames = b.frames_read - a.frames_read;
	}
	qsort(ts, (size_t)reps, sizeof(*ts), cmp_double);
	double med = reps % 2 ? ts[reps / 2] : (ts[reps / 2 - 1] + ts[reps / 2]) / 2;
	printf("%s_%s_ms %.1f\n%s_%s_result %llu\n%s_%s_frames %llu\n", pfx, name, med * 1e3, pfx, name,
	       (unsigned long long)n, pfx, name, (unsigned long long)frames);
	free(ts);
	obs_logquery_free(q);
}

struct longsearch {
	struct obs_logstore *ls;
	struct obs_logquery *q;
	uint64_t n;
	double secs;
	int done;   /* atomic */
};

static void *long_search(void *arg)
{
	struct longsearch *x = arg;
	double t0 = now();
	int r = obs_logstore_read(x->ls, "B", OBS_TIME_MIN, OBS_TIME_MAX, x->q, count_rec, &x->n);
	if (r < 0)
		die("long search", r);
	x->secs = now() - t0;
	__atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void append_latency(struct obs_logstore *ls)
{
	const char *qs = "~\"Zq[0-9]x\"";   /* no 3-byte literal: every frame, every line */
	struct longsearch x = { ls, NULL, 0, 0, 0 };
	char err[200];
	if (obs_logquery_parse(qs, strlen(qs), &x.q, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_logs: %s: %s\n", qs, err);
		exit(2);
	}
	size_t cap = 1 << 20, k = 0;
	double *lat = malloc(cap * sizeof(*lat));
	pthread_t t;
	if (!lat || pthread_create(&t, NULL, long_search, &x))
		exit(2);
	int64_t tnow = obs_time_now();
	while (!__atomic_load_n(&x.done, __ATOMIC_ACQUIRE) && k < cap) {
		static const char line[] = "127.0.0.1 - - \"GET /bench HTTP/1.1\" 200 1 \"-\" \"bench\"\n";
		double t0 = now();
		int r = obs_logstore_append(ls, "B", line, sizeof(line) - 1, tnow, NULL, NULL);
		lat[k++] = now() - t0;
		if (r < 0)
			die("append", r);
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	pthread_join(t, NULL);
	qsort(lat, k, sizeof(*lat), cmp_double);
	printf("scan_long_search_ms %.1f\nscan_long_search_result %llu\n", x.secs * 1e3, (unsigned long long)x.n);
	printf("scan_appends_during %zu\n", k);
	if (k) {
		printf("scan_append_p50_ms %.3f\nscan_append_p99_ms %.3f\nscan_append_max_ms %.1f\n", lat[k / 2] * 1e3,
		       lat[(size_t)((double)k * 0.99)] * 1e3, lat[k - 1] * 1e3);
	}
	free(lat);
	obs_logquery_free(x.q);
}

/* TRACE_LINES logfmt lines, 8 a trace; *mid: the id of the middle trace */
static char *trace_lines(size_t nl, size_t *len, char mid[33])
{
	size_t cap = nl * 120 + 1, n = 0;
	char *b = malloc(cap);
	if (!b)
		exit(2);
	uint64_t x = 0x9e3779b97f4a7c15ull, hi = 0, lo = 0;
	for (size_t i = 0; i < nl; i++) {
		if (i % 8 == 0) {   /* a new trace: 128 pseudo-random bits */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			hi = x;
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			lo = x;
		}
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int w = snprintf(b + n, cap - n, "level=%s msg=\"step %zu\" svc=api%zu trace_id=%016llx%016llx span_id=%016llx\n",
				 i % 50 ? "info" : "error", i % 8, i % 7, (unsigned long long)hi, (unsigned long long)lo,
				 (unsigned long long)x);
		if (i == nl / 2)
			snprintf(mid, 33, "%016llx%016llx", (unsigned long long)hi, (unsigned long long)lo);
		n += (size_t)w;
	}
	*len = n;
	return b;
}

/* bench_logs -scan: the store in dir (made), data[0..n) the file */
static void scan(const char *dir, const char *data, size_t n)
{
	struct obs_logstore_opts o;
	memset(&o, 0, sizeof(o));
	o.no_background = 1;
	o.retention_ms = -1;
	o.compact_level = -1;
	o.seg.level = getenv("LOG_LEVEL") ? atoi(getenv("LOG_LEVEL")) : 3;
	size_t seg = (size_t)(getenv("LOG_SEG_MB") ? atol(getenv("LOG_SEG_MB")) : 64) << 20;
	struct obs_logstore *ls;
	int r = obs_logstore_open(dir, &o, &ls);
	if (r < 0)
		die("open", r);
	int64_t tnow = obs_time_now();
	load(ls, "B", data, n, tnow, seg);
	size_t tl;
	char mid[33];
	size_t nt = getenv("TRACE_LINES") ? (size_t)atol(getenv("TRACE_LINES")) : 2000000;
	char *tr = trace_lines(nt, &tl, mid);
	load(ls, "T", tr, tl, tnow, seg);
	free(tr);
	struct obs_logstore_stats s;
	obs_logstore_get_stats(ls, &s);
	printf("scan_segments %llu\nscan_lines %llu\n", (unsigned long long)s.segments,
	       (unsigned long long)s.segment_lines);
	printf("scan_index_bytes_per_line %.2f\n", (double)s.index_bytes / (double)s.segment_lines);
	const char *needle = getenv("NEEDLE") ? getenv("NEEDLE") : "Zyborg-Needle";
	char qb[300];
	snprintf(qb, sizeof(qb), "\"%s\"", needle);
	timed(ls, "scan", "needle", "B", qb, 0);
	snprintf(qb, sizeof(qb), "trace_id=%s", mid);
	timed(ls, "scan", "trace_id", "T", qb, 0);
	snprintf(qb, sizeof(qb), "\"%s\"", mid);
	timed(ls, "scan", "trace_substr", "T", qb, 0);
	append_latency(ls);
	obs_logstore_close(ls);
}

int main(int argc, char **argv)
{
	int scan_mode = argc > 1 && !strcmp(argv[1], "-scan");
	argv += scan_mode;
	argc -= scan_mode;
	if (argc < 2) {
		fprintf(stderr, "usage: bench_logs [-scan] FILE [DIR]\n");
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
	if (scan_mode) {
		scan(dir, data, n);
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		return 0;
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
	load(ls, "A", data, n, tnow, 0);
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
	timed(ls, "obsfs", "needle", "A", qb, 0);
	timed(ls, "obsfs", "status404_count", "A", "status=404", 1);
	timed(ls, "obsfs", "substr404_count", "A", "\" 404 \"", 1);
	timed(ls, "obsfs", "regex_count", "A", "~'HTTP/1\\.1\" (401|403) '", 1);
	timed(ls, "obsfs", "status5xx_method_post_count", "A", "status>=500 method=POST", 1);
	obs_logstore_close(ls);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
