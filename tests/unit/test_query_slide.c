/* test_query_slide.c — sliding windows (func_slide.c) against scanning
 * every window (obs_query_opts.scan_windows): min/max_over_time bit for
 * bit, sum/avg_over_time within 1e-12 relative, over random series with
 * NaN, infinities, huge values, cancellation, ties of 0 and -0, gaps and
 * staleness markers; range queries of several steps and ranges, with
 * offset and @. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "query/query.h"

static struct obs_query_mem *mem;
static struct obs_query_store store;

static void setup(void)
{
	mem = obs_query_mem_new();
	cr_assert_not_null(mem);
	store = obs_query_mem_store(mem);
}

static void teardown(void)
{
	obs_query_mem_free(mem);
}

TestSuite(query_slide, .init = setup, .fini = teardown);

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double value(int kind)
{
	uint64_t r = next() % 100;
	switch (kind) {
	case 0: return (double)(next() % 1000) / 10;                     /* plain */
	case 1: return r < 5 ? NAN : r < 8 ? INFINITY : r < 10 ? -INFINITY : (double)(next() % 7) - 3;
	case 2: return r < 10 ? 1e200 * (r % 2 ? 1 : -1) : (double)(next() % 100) * 1e-3;   /* cancellation */
	case 3: return r < 50 ? 0.0 : -0.0;                               /* ties of zeros */
	default: return ldexp((double)(next() % 1000), (int)(next() % 80) - 40);
	}
}

static void load(int nseries)
{
	for (int s = 0; s < nseries; s++) {
		char name[64];
		snprintf(name, sizeof(name), "m{s=\"%d\"}", s);
		struct obs_labels l;
		const char *why;
		cr_assert_eq(obs_labels_parse(name, strlen(name), &l, &why), 0);
		int kind = s % 5;
		int64_t t = (int64_t)(next() % 7000);
		for (int i = 0; i < 600; i++) {
			t += 1000 + (int64_t)(next() % 9000);
			if (next() % 50 == 0)
				t += 200000;   /* a gap longer than the windows */
			double v = next() % 97 == 0 ? obs_query_stale_nan() : value(kind);
			cr_assert_eq(obs_query_mem_add(mem, &l, t, v), 0);
		}
		obs_labels_release(&l);
	}
}

static void run(const char *q, int64_t s, int64_t e, int64_t step, int scan, struct obs_query_result *r)
{
	struct obs_query_expr *x;
	char err[256];
	cr_assert_eq(obs_query_parse(q, strlen(q), &x, err, sizeof(err)), 0, "%s", err);
	struct obs_query_opts o;
	obs_query_opts_default(&o);
	o.scan_windows = scan;
	cr_assert_eq(obs_query_range(&o, &store, x, s, e, step, r), 0, "'%s': %s", q, r->err);
	obs_query_expr_free(x);
}

static void compare(const char *q, int64_t s, int64_t e, int64_t step, int exact)
{
	struct obs_query_result a, b;
	run(q, s, e, step, 0, &a);
	run(q, s, e, step, 1, &b);
	cr_assert_eq(a.nseries, b.nseries, "'%s': %zu vs %zu series", q, a.nseries, b.nseries);
	size_t pts = 0;
	for (size_t k = 0; k < a.nseries; k++) {
		cr_assert_eq(a.series[k].n, b.series[k].n, "'%s' series %zu", q, k);
		for (size_t i = 0; i < a.series[k].n; i++) {
			double x = a.series[k].v[i], y = b.series[k].v[i];
			cr_assert_eq(a.series[k].t[i], b.series[k].t[i]);
			pts++;
			if (exact) {
				cr_assert(memcmp(&x, &y, sizeof(x)) == 0, "'%s' series %zu point %zu: %.17g vs %.17g", q, k, i,
					  x, y);
			} else if (isnan(y) || isinf(y)) {
				cr_assert(memcmp(&x, &y, sizeof(x)) == 0 || (isnan(x) && isnan(y)),
					  "'%s' series %zu point %zu: %.17g vs %.17g", q, k, i, x, y);
			} else {
				cr_assert(fabs(x - y) <= 1e-12 * fabs(y), "'%s' series %zu point %zu: %.17g vs %.17g", q, k,
					  i, x, y);
			}
		}
	}
	cr_assert_gt(pts, 200, "'%s': only %zu points compared", q, pts);
	obs_query_result_release(&a);
	obs_query_result_release(&b);
}

Test(query_slide, agrees_with_scanning_every_window)
{
	load(25);
	static const char *const fns[] = { "max_over_time", "min_over_time", "sum_over_time", "avg_over_time" };
	static const char *const ranges[] = { "10s", "1m", "5m", "17m" };
	static const int64_t steps[] = { 1000, 7000, 60000 };
	for (size_t f = 0; f < 4; f++)
		for (size_t r = 0; r < 4; r++)
			for (size_t st = 0; st < 3; st++) {
				char q[128];
				snprintf(q, sizeof(q), "%s(m[%s])", fns[f], ranges[r]);
				compare(q, 0, 3000000, steps[st], f < 2);
			}
	compare("max_over_time(m[5m] offset 2m)", 0, 3000000, 10000, 1);
	compare("sum_over_time(m[5m:20s])", 0, 3000000, 10000, 0);
	compare("topk(3, min_over_time(m[3m]))", 0, 3000000, 10000, 1);
}

Test(query_slide, windows_that_do_not_move_forward_are_scanned)
{
	load(5);
	/* @ pins every step to the same window */
	compare("max_over_time(m[10m] @ 1500)", 0, 3000000, 10000, 1);
	compare("avg_over_time(m[10m] @ 1500)", 0, 3000000, 10000, 0);
}

Test(query_slide, cancellation_is_recomputed)
{
	struct obs_labels l;
	const char *why;
	cr_assert_eq(obs_labels_parse("c", 1, &l, &why), 0);
	/* 1e20 enters and leaves the window: a running double sum would keep garbage */
	double vs[] = { 1, 1e20, 2, 3, -1e20, 4, 5, 6, 7, 8 };
	for (int i = 0; i < 10; i++)
		cr_assert_eq(obs_query_mem_add(mem, &l, (int64_t)(i + 1) * 10000, vs[i]), 0);
	obs_labels_release(&l);
	struct obs_query_result r;
	run("sum_over_time(c[30s])", 30000, 100000, 10000, 0, &r);
	cr_assert_eq(r.nseries, 1);
	/* windows (t-30s, t]: {1,1e20,2}, {1e20,2,3}, {2,3,-1e20}, {3,-1e20,4}, {-1e20,4,5}, {4,5,6}, ... */
	double want[] = { 1e20, 1e20, -1e20, -1e20, -1e20, 15, 18, 21 };
	cr_assert_eq(r.series[0].n, 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(r.series[0].v[i], want[i], "point %d: %.17g", i, r.series[0].v[i]);
	obs_query_result_release(&r);
}
