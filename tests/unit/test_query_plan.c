/* test_query_plan.c — planning over the metrics db: range functions whose
 * windows a rollup tier tiles read the tier (tier_buckets > 0, few raw
 * samples) and answer what the raw computation answers; other queries,
 * and series without rollups, read raw samples. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "query/dbstore.h"
#include "query/query.h"
#include "tsdb/db.h"

static char dir[64];
static struct obs_db *db;
static struct obs_query_store store;

#define H 3600000LL
static const int64_t T0 = 498667LL * H;   /* an hour boundary */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}

/* samples every 15 s, off ms past the grid (7 s: none on a bucket
 * boundary; 0: one on every boundary, the largest value at each hour) */
static void fill_at(int64_t from, int64_t to, int nseries, const char *name, int64_t off)
{
	struct obs_buf b;
	obs_buf_init(&b);
	for (int s = 0; s < nseries; s++)
		for (int64_t t = from + off; t < to; t += 15000) {
			double v = (double)((t / 15000 * 7919 + s * 104729) % 1000) / 8 - 40;
			if (!off && t % H == 0)
				v = 500;
			obs_buf_printf(&b, "%s{s=\"%d\",job=\"j%d\"} %.17g %lld\n", name, s, s % 2, v, (long long)t);
		}
	struct obs_ingest_result r = { 0 };
	cr_assert_eq(obs_db_ingest(db, b.data, b.len, OBS_FMT_PROM, "test", 1, &r), 0);
	cr_assert_eq(r.rejected, 0);
	obs_buf_release(&b);
}

static void fill(int64_t from, int64_t to, int nseries, const char *name)
{
	fill_at(from, to, nseries, name, 7000);
}

static void setup(void)
{
	strcpy(dir, "/tmp/test-query-plan.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	struct obs_db_opts o;
	obs_db_opts_default(&o);
	o.sync_interval_ms = 0;
	o.block_span_ms = 0;
	o.retention_ms = 0;
	for (int k = 0; k < 3; k++)
		o.tier_retention_ms[k] = 0;
	char err[256];
	cr_assert_eq(obs_db_open(dir, &o, &db, err, sizeof(err)), 0, "%s", err);
	/* four compactions of two hours each merge into a block with rollups */
	for (int k = 0; k < 4; k++) {
		fill(T0 + k * 2 * H, T0 + (k + 1) * 2 * H, 6, "m");
		fill_at(T0 + k * 2 * H, T0 + (k + 1) * 2 * H, 2, "edge", 0);
		cr_assert_eq(obs_db_compact(db), 0);
	}
	/* two more hours in the head only, and a series that has no rollups */
	fill(T0 + 8 * H, T0 + 10 * H, 6, "m");
	fill(T0 + 6 * H, T0 + 10 * H, 2, "fresh");
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_gt(st.rollup_sets, 0, "no rollups were made");
	store = obs_query_db_store(db);
}

static void teardown(void)
{
	obs_db_close(db);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(query_plan, .init = setup, .fini = teardown);

static void run(const char *q, int64_t s, int64_t e, int64_t step, int raw_only, struct obs_query_result *r)
{
	struct obs_query_expr *x;
	char err[256];
	cr_assert_eq(obs_query_parse(q, strlen(q), &x, err, sizeof(err)), 0, "%s", err);
	struct obs_query_opts o;
	obs_query_opts_default(&o);
	o.raw_only = raw_only;
	cr_assert_eq(obs_query_range(&o, &store, x, s, e, step, r), 0, "'%s': %s", q, r->err);
	obs_query_expr_free(x);
}

/* Plan q, compare with the raw answer; returns the planned result's tier_buckets. */
static uint64_t same_as_raw(const char *q, int64_t s, int64_t e, int64_t step, uint64_t *samples_planned,
			    uint64_t *samples_raw)
{
	struct obs_query_result a, b;
	run(q, s, e, step, 0, &a);
	run(q, s, e, step, 1, &b);
	cr_assert_eq(b.tier_buckets, 0);
	cr_assert_eq(a.nseries, b.nseries, "'%s': %zu vs %zu series", q, a.nseries, b.nseries);
	size_t pts = 0;
	for (size_t k = 0; k < a.nseries; k++) {
		cr_assert_eq(a.series[k].labels.n, b.series[k].labels.n);
		cr_assert_eq(a.series[k].n, b.series[k].n, "'%s' series %zu: %zu vs %zu points", q, k, a.series[k].n,
			     b.series[k].n);
		for (size_t i = 0; i < a.series[k].n; i++, pts++) {
			cr_assert_eq(a.series[k].t[i], b.series[k].t[i]);
			double x = a.series[k].v[i], y = b.series[k].v[i];
			cr_assert(fabs(x - y) <= 1e-12 * fmax(1, fabs(y)), "'%s' series %zu at %lld: %.17g vs %.17g", q, k,
				  (long long)a.series[k].t[i], x, y);
		}
	}
	cr_assert_gt(pts, 0, "'%s': nothing compared", q);
	uint64_t tb = a.tier_buckets;
	*samples_planned = a.samples_read;
	*samples_raw = b.samples_read;
	obs_query_result_release(&a);
	obs_query_result_release(&b);
	return tb;
}

Test(query_plan, aligned_windows_read_the_tier_and_agree_with_raw)
{
	static const char *const qs[] = {
		"max_over_time(m[1h])", "min_over_time(m[1h])", "sum_over_time(m[1h])",
		"count_over_time(m[1h])", "avg_over_time(m[1h])", "max by (job) (max_over_time(m[1h]))",
	};
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t sp, sr;
		/* the whole span, hours in the tier and two in the head */
		uint64_t tb = same_as_raw(qs[i], T0 + H, T0 + 10 * H, H, &sp, &sr);
		cr_assert_gt(tb, 0, "'%s' did not read the tier", qs[i]);
		/* the head's two hours (6 + 2 series) and the fresh series are raw */
		cr_assert_lt(sp, sr / 2, "'%s': %llu raw samples planned vs %llu", qs[i], (unsigned long long)sp,
			     (unsigned long long)sr);
	}
	/* a 2 h window at a 1 h step: buckets of gcd = 1 h, two per window */
	uint64_t sp, sr;
	cr_assert_gt(same_as_raw("max_over_time(m[2h])", T0 + 2 * H, T0 + 8 * H, H, &sp, &sr), 0);
	/* 5 m windows every 5 m, from the 5 m tier */
	cr_assert_gt(same_as_raw("sum_over_time(m[5m])", T0 + H, T0 + 3 * H, 300000, &sp, &sr), 0);
}

Test(query_plan, other_queries_read_raw_samples)
{
	uint64_t sp, sr;
	/* steps not on the bucket grid */
	cr_assert_eq(same_as_raw("max_over_time(m[1h])", T0 + H + 30000, T0 + 6 * H + 30000, H, &sp, &sr), 0);
	/* windows of 90 s: no tier divides them */
	cr_assert_eq(same_as_raw("max_over_time(m[90s])", T0 + H, T0 + 2 * H, 90000, &sp, &sr), 0);
	/* functions a tier cannot answer */
	cr_assert_eq(same_as_raw("last_over_time(m[1h])", T0 + H, T0 + 6 * H, H, &sp, &sr), 0);
	cr_assert_eq(same_as_raw("rate(m[1h])", T0 + H, T0 + 6 * H, H, &sp, &sr), 0);
	/* @ pins the windows */
	cr_assert_eq(same_as_raw("max_over_time(m[1h] @ 1795209600)", T0 + H, T0 + 6 * H, H, &sp, &sr), 0);
	/* a series without rollups comes back raw even when planned */
	struct obs_query_result r;
	run("max_over_time(fresh[1h])", T0 + 7 * H, T0 + 10 * H, H, 0, &r);
	cr_assert_eq(r.tier_buckets, 0);
	cr_assert_eq(r.nseries, 2);
	obs_query_result_release(&r);
}

Test(query_plan, samples_on_bucket_boundaries_are_corrected_with_raw_ones)
{
	uint64_t sp, sr;
	/* sum, count, avg, min: the buckets less the sample at E - 1h, plus the one at E */
	static const char *const qs[] = { "sum_over_time(edge[1h])", "count_over_time(edge[1h])",
					  "avg_over_time(edge[1h])", "min_over_time(edge[1h])" };
	for (size_t i = 0; i < 4; i++)
		cr_assert_gt(same_as_raw(qs[i], T0 + H, T0 + 8 * H, H, &sp, &sr), 0, "'%s' did not read the tier", qs[i]);
	/* max: the sample taken out is its bucket's max (500 at each hour): raw */
	same_as_raw("max_over_time(edge[1h])", T0 + H, T0 + 8 * H, H, &sp, &sr);
	cr_assert_geq(sp, sr, "max_over_time(edge[1h]) was not read raw");
	/* 5 m buckets, 15 m windows */
	cr_assert_gt(same_as_raw("sum_over_time(edge[15m])", T0 + H, T0 + 3 * H, 300000, &sp, &sr), 0);
}
