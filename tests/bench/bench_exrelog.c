/* bench_exrelog.c — how long ingest waits while a compaction relogs the
 * exemplar store (standalone, not in make test).
 *
 *   make build/libobs.a && cc -O2 -std=c11 -D_GNU_SOURCE -Ilib -pthread \
 *       tests/bench/bench_exrelog.c build/libobs.a $(pkg-config --libs fuse3 \
 *       libzstd libpcre2-8 libxxhash yaml-0.1 jansson libcurl) -lroaring -lm \
 *       -o build/bench_exrelog && build/bench_exrelog [DIR [ROUNDS]]
 *
 * Fills a fresh data directory under DIR (default /tmp) with a full exemplar
 * store (100 series x 1000 exemplars, {trace_id="32 hex"}: about 5.7 MB as
 * the WAL holds it, the default max_exemplars), cuts it into a block once,
 * then runs two writers (one writing samples only, one a sample with an
 * exemplar per write) for ROUNDS (default 10) quiet periods and ROUNDS
 * compactions. Each compaction after the first relogs the whole store and
 * little else, so the writers' latency during them is the relog's pause.
 * Prints "name value" lines: per compaction wall and CPU time (mean, max)
 * and how long its cut held writes up (cutlock exclusive, mean and max),
 * and per writer the writes done per second and the p50/p99/max latency of
 * one write while compactions run and while none do; then how long expiring
 * half of the store takes (-DBENCH_NO_EXPIRY builds it against a tree
 * without exemplar_retention). The machine may be shared: compare max and p99 of the
 * two phases, not across runs. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/obstime.h"
#include "tsdb/db.h"

#define NSERIES 100
#define PER_SERIES 1000
#define MAXLAT (1u << 20)

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}

static struct obs_db *db;
static _Atomic int phase;      /* 0 quiet, 1 compacting, 2 stop */
static _Atomic unsigned compactions_started;
static _Atomic int64_t clock_ms;

struct writer {
	const char *name;
	int exemplar;
	pthread_t th;
	double *lat[2];           /* per phase, seconds */
	size_t n[2];
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char line[256];
	int64_t t = atomic_load(&clock_ms);
	for (unsigned i = 0; atomic_load(&phase) != 2; i++) {
		int p0 = atomic_load(&phase);
		unsigned g0 = atomic_load(&compactions_started);
		t++;
		/* millisecond times: the store refuses an exemplar not newer than the last */
		int n = w->exemplar ? snprintf(line, sizeof line, "%s %u %lld.%03lld # {trace_id=\"%032x\"} %u %lld.%03lld\n",
					       w->name, i, (long long)t / 1000, (long long)t % 1000, i, i,
					       (long long)t / 1000, (long long)t % 1000)
				    : snprintf(line, sizeof line, "%s %u\n", w->name, i);
		struct obs_ingest_result r;
		double t0 = mono();
		int rc = obs_db_ingest(db, line, (size_t)n, OBS_FMT_AUTO, "bench", 1, &r);
		double dt = mono() - t0;
		/* a write that overlapped a compaction in any way counts as one
		 * during compactions */
		int ph = p0 == 1 || atomic_load(&phase) == 1 || atomic_load(&compactions_started) != g0;
		if (rc || r.err) {
			w->err = rc ? rc : r.err;
			break;
		}
		if (w->n[ph] < MAXLAT)
			w->lat[ph][w->n[ph]++] = dt;
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const struct writer *w, int ph, const char *what, double secs)
{
	size_t n = w->n[ph];
	if (!n)
		return;
	qsort(w->lat[ph], n, sizeof *w->lat[ph], cmp_d);
	printf("%s_%s_writes %zu\n", w->name, what, n);
	printf("%s_%s_writes_per_s %.0f\n", w->name, what, (double)n / secs);
	printf("%s_%s_p50_ms %.3f\n", w->name, what, w->lat[ph][n / 2] * 1e3);
	printf("%s_%s_p99_ms %.3f\n", w->name, what, w->lat[ph][n * 99 / 100] * 1e3);
	printf("%s_%s_max_ms %.3f\n", w->name, what, w->lat[ph][n - 1] * 1e3);
}

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : "/tmp";
	int rounds = argc > 2 ? atoi(argv[2]) : 10;
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/bench_exrelog.XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char data[4200];
	snprintf(data, sizeof data, "%s/data", dir);
	struct obs_db_opts o;
	obs_db_opts_default(&o);
	o.check_interval_ms = 0;
	o.block_span_ms = 0;
	o.head_max_samples = 0;
	o.sync_interval_ms = 0;
	o.retention_ms = 0;
#ifndef BENCH_NO_EXPIRY   /* defined to build against a tree without exemplar_retention */
	o.exemplar_retention_ms = 2 * 3600 * 1000;
#endif
	char err[256];
	int rc = obs_db_open(data, &o, &db, err, sizeof err);
	if (rc) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	/* the store, full: exemplar i of series s at a time all of its own */
	int64_t t0 = obs_time_now() - 3600 * 1000;
	struct obs_buf b;
	obs_buf_init(&b);
	for (int i = 0; i < PER_SERIES; i++) {
		obs_buf_reset(&b);
		for (int s = 0; s < NSERIES; s++) {
			int64_t t = t0 + (int64_t)i * NSERIES + s;
			obs_buf_printf(&b, "bench_bucket{le=\"%d\"} %d %lld.%03lld # {trace_id=\"%08x%08x%016x\"} %d %lld.%03lld\n",
				       s, i, (long long)t / 1000, (long long)t % 1000, s, i, (unsigned)(s * 7919 + i), i,
				       (long long)t / 1000, (long long)t % 1000);
		}
		struct obs_ingest_result r;
		rc = obs_db_ingest(db, b.data, b.len, OBS_FMT_AUTO, "bench", 1, &r);
		if (rc || r.err) {
			fprintf(stderr, "fill: %d %d\n", rc, r.err);
			return 1;
		}
	}
	obs_buf_release(&b);
	if ((rc = obs_db_compact(db))) {
		fprintf(stderr, "first compaction: %s\n", strerror(-rc));
		return 1;
	}
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	printf("exemplars %llu\n", (unsigned long long)st.exemplars);
	printf("wal_bytes_after_relog %llu\n", (unsigned long long)st.wal_bytes);

	atomic_store(&clock_ms, obs_time_now());
	struct writer w[2] = { { .name = "samples_only" }, { .name = "with_exemplar", .exemplar = 1 } };
	for (int k = 0; k < 2; k++) {
		for (int ph = 0; ph < 2; ph++)
			if (!(w[k].lat[ph] = malloc(MAXLAT * sizeof(double))))
				return 1;
		pthread_create(&w[k].th, NULL, writer_main, &w[k]);
	}
	double wall_sum = 0, wall_max = 0, cpu_sum = 0, cpu_max = 0, quiet_sum = 0, cut_sum = 0, cut_max = 0;
	for (int i = 0; i < rounds; i++) {
		atomic_store(&phase, 0);
		double q = mono();
		usleep(100 * 1000);
		quiet_sum += mono() - q;
		atomic_fetch_add(&compactions_started, 1);
		atomic_store(&phase, 1);
		double a = mono(), c = thread_cpu();
		if ((rc = obs_db_compact(db))) {
			fprintf(stderr, "compaction: %s\n", strerror(-rc));
			return 1;
		}
		double wall = mono() - a, cpu = thread_cpu() - c;
		atomic_store(&phase, 0);
		obs_db_get_stats(db, &st);
		double cut = (double)st.last_compact_cut_us / 1e6;
		cut_sum += cut;
		if (cut > cut_max)
			cut_max = cut;
		wall_sum += wall;
		cpu_sum += cpu;
		if (wall > wall_max)
			wall_max = wall;
		if (cpu > cpu_max)
			cpu_max = cpu;
	}
	atomic_store(&phase, 2);
	for (int k = 0; k < 2; k++) {
		pthread_join(w[k].th, NULL);
		if (w[k].err) {
			fprintf(stderr, "%s: write failed: %d\n", w[k].name, w[k].err);
			return 1;
		}
	}
	printf("compactions %d\n", rounds);
	printf("compact_wall_mean_ms %.3f\n", wall_sum / rounds * 1e3);
	printf("compact_wall_max_ms %.3f\n", wall_max * 1e3);
	printf("compact_cpu_mean_ms %.3f\n", cpu_sum / rounds * 1e3);
	printf("compact_cpu_max_ms %.3f\n", cpu_max * 1e3);
	printf("compact_cut_mean_ms %.3f\n", cut_sum / rounds * 1e3);   /* writes held up */
	printf("compact_cut_max_ms %.3f\n", cut_max * 1e3);
	for (int k = 0; k < 2; k++) {
		report(&w[k], 1, "compacting", wall_sum);
		report(&w[k], 0, "quiet", quiet_sum);
		free(w[k].lat[0]);
		free(w[k].lat[1]);
	}
#ifndef BENCH_NO_EXPIRY
	/* expiry: a clock 2 h on drops the half of the store filled first
	 * (one walk of the store under its lock), then a second later the
	 * next second's worth (another walk) */
	obs_db_get_stats(db, &st);
	uint64_t before = st.exemplars_expired;
	double e0 = mono();
	obs_db_retain(db, t0 + (int64_t)(PER_SERIES / 2) * NSERIES + 2 * 3600 * 1000);
	double e1 = mono();
	obs_db_get_stats(db, &st);
	printf("expire_dropped %llu\n", (unsigned long long)(st.exemplars_expired - before));
	printf("expire_ms %.3f\n", (e1 - e0) * 1e3);
	e0 = mono();
	obs_db_retain(db, t0 + (int64_t)(PER_SERIES / 2) * NSERIES + 2 * 3600 * 1000 + 1000);
	printf("expire_one_second_more_ms %.3f\n", (mono() - e0) * 1e3);
#endif
	obs_db_close(db);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
