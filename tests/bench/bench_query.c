/* bench_query.c — the PromQL engine over the metrics db, without FUSE: the
 * library half of tests/bench/query.sh (which also times the mount and the
 * peers), and the dashboard figure.
 *
 *   bench_query range FILE.prom START_S END_S STEP_S REPEAT OUTDIR QUERY...
 *       ingest FILE (Prometheus text, timestamps in ms) into a fresh db in a
 *       temporary directory, compact it into a block (queries then read a
 *       block, as they would after two hours), run each range query REPEAT
 *       times; prints "query_range_s.N MEDIAN" and "samples_read.N K" and
 *       writes OUTDIR/obsfs-N.json ({"status":"success","data":...}).
 *   bench_query dashboard NSERIES REPEAT
 *       NSERIES series (10 jobs) scraped every 15 s for the last hour, in the
 *       head; prints "dashboard_s.N MEDIAN" for last-hour range queries at a
 *       15 s step (a Grafana panel's resolution); QUERY... replaces the
 *       built-in ones.
 *
 * Build: make build/bench_query (the bench scripts do it). */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/obstime.h"
#include "query/dbstore.h"
#include "query/query.h"
#include "tsdb/db.h"

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

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}

static struct obs_db *fresh_db(char *dir)
{
	strcpy(dir, "/tmp/obs-bench-query.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	struct obs_db_opts o;
	obs_db_opts_default(&o);
	o.sync_interval_ms = 0;
	o.block_span_ms = 0;
	o.ooo_window_ms = 0;
	o.retention_ms = 0;
	struct obs_db *db;
	char err[256];
	if (obs_db_open(dir, &o, &db, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_query: %s\n", err);
		exit(1);
	}
	return db;
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)len + 1);
	if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "bench_query: cannot read '%s'\n", path);
		exit(1);
	}
	fclose(f);
	*n = (size_t)len;
	return b;
}

/* Median seconds of REPEAT runs of one range query; the last answer is kept in res. */
static double time_query(struct obs_query_store *st, const char *q, int64_t s, int64_t e, int64_t step, int repeat,
			 struct obs_query_result *res, double *cpu_med)
{
	struct obs_query_expr *x;
	char err[256];
	if (obs_query_parse(q, strlen(q), &x, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_query: '%s': %s\n", q, err);
		exit(1);
	}
	double *t = calloc((size_t)repeat, sizeof(double)), *c = calloc((size_t)repeat, sizeof(double));
	for (int r = 0; r < repeat; r++) {
		if (r)
			obs_query_result_release(res);
		double t0 = now(), c0 = cpu();
		int rc = obs_query_range(NULL, st, x, s, e, step, res);
		t[r] = now() - t0;
		c[r] = cpu() - c0;
		if (rc) {
			fprintf(stderr, "bench_query: '%s': %s\n", q, res->err);
			exit(1);
		}
	}
	qsort(t, (size_t)repeat, sizeof(double), cmpd);
	qsort(c, (size_t)repeat, sizeof(double), cmpd);
	double med = t[repeat / 2];
	*cpu_med = c[repeat / 2];
	free(t);
	free(c);
	obs_query_expr_free(x);
	return med;
}

static int cmd_range(int argc, char **argv)
{
	if (argc < 9) {
		fprintf(stderr, "usage: bench_query range FILE START_S END_S STEP_S REPEAT OUTDIR QUERY...\n");
		return 2;
	}
	int64_t s = atoll(argv[3]) * 1000, e = atoll(argv[4]) * 1000, step = atoll(argv[5]) * 1000;
	int repeat = atoi(argv[6]);
	const char *outdir = argv[7];
	char dir[64];
	struct obs_db *db = fresh_db(dir);
	size_t n;
	char *data = slurp(argv[2], &n);
	struct obs_ingest_result ir = { 0 };
	double t0 = now();
	obs_db_ingest(db, data, n, OBS_FMT_PROM, "bench", 1, &ir);
	free(data);
	if (ir.rejected) {
		fprintf(stderr, "bench_query: %llu lines rejected\n", (unsigned long long)ir.rejected);
		return 1;
	}
	if (obs_db_compact(db) != 0) {
		fprintf(stderr, "bench_query: compaction failed\n");
		return 1;
	}
	printf("lib.ingest_compact_s %.3f\n", now() - t0);
	struct obs_query_store st = obs_query_db_store(db);
	for (int i = 8; i < argc; i++) {
		struct obs_query_result res;
		double cm;
		double med = time_query(&st, argv[i], s, e, step, repeat, &res, &cm);
		int k = i - 7;
		printf("query_range_s.%d %.6f\n", k, med);
		printf("query_range_cpu_s.%d %.6f\n", k, cm);
		printf("samples_read.%d %llu\n", k, (unsigned long long)res.samples_read);
		struct obs_buf b;
		obs_buf_init(&b);
		obs_buf_puts(&b, "{\"status\":\"success\",\"data\":");
		obs_query_format_json(&res, &b);
		obs_buf_puts(&b, "}\n");
		char path[4096];
		snprintf(path, sizeof(path), "%s/obsfs-%d.json", outdir, k);
		FILE *f = fopen(path, "w");
		if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
			fprintf(stderr, "bench_query: cannot write '%s'\n", path);
			return 1;
		}
		obs_buf_release(&b);
		obs_query_result_release(&res);
	}
	obs_db_close(db);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static const char *const dash_queries[] = {
	"sum by (job) (rate(dash_requests_total[5m]))",
	"topk(5, max_over_time(dash_memory_bytes[10m]))",
	"histogram_quantile(0.99, sum by (le) (rate(dash_latency_seconds_bucket[5m])))",
	"avg_over_time(dash_memory_bytes[5m])",
	"dash_memory_bytes",
};

static int cmd_dashboard(int argc, char **argv)
{
	int nseries = argc > 2 ? atoi(argv[2]) : 1000, repeat = argc > 3 ? atoi(argv[3]) : 5;
	char dir[64];
	struct obs_db *db = fresh_db(dir);
	int64_t end = obs_time_now() / 1000 * 1000, start = end - 3600 * 1000;
	struct obs_buf b;
	obs_buf_init(&b);
	/* nseries of each metric; the histogram as nseries/10 bucket series */
	for (int i = 0; i < nseries; i++) {
		obs_buf_reset(&b);
		for (int64_t t = start; t <= end; t += 15000) {
			int64_t k = (t - start) / 15000;
			obs_buf_printf(&b, "dash_requests_total{job=\"j%d\",instance=\"i%d\"} %lld %lld\n", i % 10, i,
				       (long long)(k * (i % 7 + 1)), (long long)t);
			obs_buf_printf(&b, "dash_memory_bytes{job=\"j%d\",instance=\"i%d\"} %lld %lld\n", i % 10, i,
				       (long long)(1000000 + (k * 7919 + i * 104729) % 500000), (long long)t);
			if (i < nseries / 10) {
				static const char *const le[] = { "0.1", "0.5", "1", "+Inf" };
				for (int j = 0; j < 4; j++)
					obs_buf_printf(&b, "dash_latency_seconds_bucket{instance=\"i%d\",le=\"%s\"} %lld %lld\n",
						       i, le[j], (long long)(k * (j + 1)), (long long)t);
			}
		}
		struct obs_ingest_result ir = { 0 };
		obs_db_ingest(db, b.data, b.len, OBS_FMT_PROM, "bench", 1, &ir);
		if (ir.rejected) {
			fprintf(stderr, "bench_query: %llu lines rejected\n", (unsigned long long)ir.rejected);
			return 1;
		}
	}
	obs_buf_release(&b);
	struct obs_query_store st = obs_query_db_store(db);
	printf("dashboard.series_per_metric %d\n", nseries);
	const char *const *qs = dash_queries;
	size_t nq = sizeof(dash_queries) / sizeof(dash_queries[0]);
	if (argc > 4) {   /* queries of one's own */
		qs = (const char *const *)argv + 4;
		nq = (size_t)argc - 4;
	}
	for (size_t i = 0; i < nq; i++) {
		struct obs_query_result res;
		double cm;
		double med = time_query(&st, qs[i], start, end, 15000, repeat, &res, &cm);
		printf("dashboard_s.%zu %.6f cpu %.6f  # %s (%zu series out, %llu samples read)\n", i + 1, med, cm, qs[i],
		       res.nseries, (unsigned long long)res.samples_read);
		obs_query_result_release(&res);
	}
	obs_db_close(db);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "range") == 0)
		return cmd_range(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "dashboard") == 0)
		return cmd_dashboard(argc, argv);
	fprintf(stderr, "usage: bench_query range FILE START_S END_S STEP_S REPEAT OUTDIR QUERY...\n"
			"       bench_query dashboard [NSERIES [REPEAT [QUERY...]]]\n");
	return 2;
}
