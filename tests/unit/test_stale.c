/* test_stale.c — staleness markers (Prometheus' StaleNaN, bits
 * 0x7ff0000000000002) through the store: the `stale` value token of ingest,
 * the exact bits through the head, a Gorilla chunk, a block and a WAL
 * replay; text views leave them out; rollups, downsampling and aggregation
 * skip them; PromQL over the store ends a series at its marker. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"
#include "core/obstime.h"
#include "ingest/parse.h"
#include "query/dbstore.h"
#include "query/query.h"
#include "tsdb/chunk.h"
#include "tsdb/db.h"
#include "tsdb/downsample.h"
#include "tsdb/rollup.h"
#include "tsdb/samples.h"

static uint64_t bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b;
}

Test(stale, num_token_round_trip)
{
	double v = 0;
	cr_assert_eq(obs_num_parse_sample("stale", 5, &v), 0);
	cr_assert_eq(bits(v), OBS_STALE_BITS);
	cr_assert(obs_is_stale(v));
	char b[32];
	cr_assert_eq(obs_num_format(v, b), 5);
	cr_assert_str_eq(b, "stale");
	/* a plain NaN is no marker, and prints as NaN */
	cr_assert_eq(obs_num_parse_sample("NaN", 3, &v), 0);
	cr_assert(isnan(v) && !obs_is_stale(v));
	obs_num_format(v, b);
	cr_assert_str_eq(b, "NaN");
	/* the float grammar itself does not take the word; nor other spellings */
	cr_assert_eq(obs_num_parse("stale", 5, &v), -EINVAL);
	cr_assert_eq(obs_num_parse_sample("Stale", 5, &v), -EINVAL);
	cr_assert_eq(obs_num_parse_sample("stale1", 6, &v), -EINVAL);
	cr_assert(obs_query_is_stale(obs_stale_nan()));
	cr_assert_eq(bits(obs_query_stale_nan()), OBS_STALE_BITS);
}

struct got {
	double v[8];
	int n;
};

static int on_s(void *ctx, const struct obs_sample_in *s)
{
	struct got *g = ctx;
	g->v[g->n++] = s->value;
	return 0;
}

Test(stale, parsers)
{
	struct got g = { .n = 0 };
	struct obs_parse_cb cb = { .sample = on_s, .ctx = &g };
	const char *in = "a{x=\"1\"} stale 1000\nb stale\n# TYPE c gauge\nc 1\n";
	cr_assert_eq(obs_parse_lines(in, strlen(in), OBS_FMT_AUTO, 1, &cb), 0);
	cr_assert_eq(g.n, 3);
	cr_assert(obs_is_stale(g.v[0]) && obs_is_stale(g.v[1]) && !obs_is_stale(g.v[2]));
	/* Influx and Graphite have no marker */
	g.n = 0;
	const char *bad = "cpu value=stale\nsome.path stale 1700000000\n";
	cr_assert_eq(obs_parse_lines(bad, strlen(bad), OBS_FMT_AUTO, 1, &cb), 2);
	cr_assert_eq(g.n, 0);
	int64_t ts;
	double v;
	const char *why;
	cr_assert_eq(obs_parse_value_line("2026-11-21T10:00:00Z stale", 26, &ts, &v, &why), 0);
	cr_assert(obs_is_stale(v));
	cr_assert_eq(obs_parse_value_line("stale", 5, &ts, &v, &why), 0);
	cr_assert(obs_is_stale(v) && ts == OBS_TS_NONE);
}

Test(stale, chunk_keeps_bits)
{
	struct obs_chunk_enc e;
	obs_chunk_enc_init(&e);
	const double vals[] = { 1, 2, obs_stale_nan(), NAN, obs_stale_nan(), 3, obs_stale_nan() };
	const size_t n = sizeof vals / sizeof *vals;
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(obs_chunk_append(&e, 1000 + (int64_t)i * 15000, vals[i]), 0);
	size_t len;
	const uint8_t *d = obs_chunk_data(&e, &len);
	int64_t ts[8];
	double vs[8];
	cr_assert_eq(obs_chunk_decode(d, len, ts, vs, 8), (int)n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(bits(vs[i]), bits(vals[i]), "sample %zu: %016llx", i, (unsigned long long)bits(vs[i]));
	obs_chunk_enc_release(&e);
}

Test(stale, render_leaves_markers_out)
{
	struct obs_samples s;
	obs_samples_init(&s);
	obs_samples_push(&s, 1000, 1);
	obs_samples_push(&s, 2000, obs_stale_nan());
	obs_samples_push(&s, 3000, NAN);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_samples_render(&s, 0, OBS_TIME_EPOCH, &b), 0);
	cr_assert_str_eq(b.data, "1 1\n3 NaN\n");
	/* st_size (the sum of the lines' lengths) agrees with the text */
	size_t sum = 0;
	for (size_t i = 0; i < s.n; i++)
		sum += obs_sample_text_len(s.t[i], s.v[i], OBS_TIME_EPOCH);
	cr_assert_eq(sum, b.len);
	obs_buf_release(&b);
	obs_samples_release(&s);
}

Test(stale, rollup_and_downsample_skip)
{
	/* step 10 s: [0,10) 1, 3, stale; [10,20) only stale; [20,30) stale, 5 */
	const int64_t ts[] = { 1000, 2000, 3000, 11000, 21000, 22000 };
	const double vs[] = { 1, 3, obs_stale_nan(), obs_stale_nan(), obs_stale_nan(), 5 };
	struct obs_rollup_series r;
	obs_rollup_series_init(&r);
	cr_assert_eq(obs_rollup_compute(ts, vs, 6, 10000, &r), 0);
	cr_assert_eq(r.n, 2, "%zu buckets", r.n);
	cr_assert_eq(r.b[0].t, 0);
	cr_assert_eq(r.b[0].count, 2);
	cr_assert_eq(r.b[0].nan_count, 0);
	cr_assert_eq(r.b[0].last, 3);   /* the marker is no last value */
	cr_assert_eq(r.b[0].sum, 4);
	cr_assert_eq(r.b[1].t, 20000);
	cr_assert_eq(r.b[1].count, 1);
	double avg;
	cr_assert_eq(obs_rollup_value(&r.b[0], (struct obs_aggfn){ .kind = OBS_AGG_AVG }, &avg), 0);
	cr_assert_eq(avg, 2);
	obs_rollup_series_release(&r);

	struct obs_samples in, out;
	obs_samples_init(&in);
	obs_samples_init(&out);
	for (size_t i = 0; i < 6; i++)
		obs_samples_push(&in, ts[i], vs[i]);
	static const enum obs_agg kinds[] = { OBS_AGG_AVG, OBS_AGG_COUNT, OBS_AGG_LAST, OBS_AGG_MAX };
	static const double want0[] = { 2, 2, 3, 3 };
	for (size_t k = 0; k < 4; k++) {
		obs_samples_reset(&out);
		cr_assert_eq(obs_downsample(&in, 10000, (struct obs_aggfn){ .kind = kinds[k] }, &out), 0);
		cr_assert_eq(out.n, 2, "fn %zu: %zu points", k, out.n);
		cr_assert_eq(out.t[0], 0);
		cr_assert_eq(out.v[0], want0[k], "fn %zu: %g", k, out.v[0]);
		cr_assert_eq(out.t[1], 20000);
	}
	obs_samples_release(&in);
	obs_samples_release(&out);
}

/* ---- through the db ---------------------------------------------------------- */

static char dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static void cleanup(void)
{
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = 0;
}

static struct obs_db *open_db(void)
{
	struct obs_db_opts o;
	obs_db_opts_default(&o);
	o.check_interval_ms = 0;
	o.block_span_ms = 0;
	o.head_max_samples = 0;
	o.sync_interval_ms = 0;
	o.retention_ms = 0;
	for (int k = 0; k < 3; k++)
		o.tier_retention_ms[k] = 0;
	struct obs_db *db = NULL;
	char err[256];
	cr_assert_eq(obs_db_open(dir, &o, &db, err, sizeof err), 0, "%s", err);
	return db;
}

static void mkdir_db(void)
{
	strcpy(dir, "/tmp/test_stale.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	atexit(cleanup);
}

static uint32_t id_of(struct obs_db *db, const char *s)
{
	uint32_t id;
	const char *why;
	cr_assert_eq(obs_db_lookup(db, s, strlen(s), &id, &why), 0, "lookup %s", s);
	return id;
}

/* s must be 1, 2, stale, 4, stale at T, T+1s, ... (NaN at T+5s is no marker) */
static void check_series(struct obs_db *db, uint32_t id, int64_t t0, const char *when)
{
	struct obs_samples s;
	obs_samples_init(&s);
	cr_assert_eq(obs_db_read(db, id, INT64_MIN, INT64_MAX, &s), 0);
	cr_assert_eq(s.n, 6, "%s: %zu samples", when, s.n);
	const uint64_t want[] = { bits(1), bits(2), OBS_STALE_BITS, bits(4), OBS_STALE_BITS };
	for (size_t i = 0; i < 5; i++) {
		cr_assert_eq(s.t[i], t0 + (int64_t)i * 1000);
		cr_assert_eq(bits(s.v[i]), want[i], "%s: sample %zu is %016llx", when, i,
			     (unsigned long long)bits(s.v[i]));
	}
	cr_assert(isnan(s.v[5]) && !obs_is_stale(s.v[5]), "%s: a NaN became a marker", when);
	obs_samples_release(&s);
}

Test(stale, db_wal_block_replay)
{
	mkdir_db();
	struct obs_db *db = open_db();
	int64_t t0 = (obs_time_now() / 1000 - 600) * 1000;
	char text[512];
	snprintf(text, sizeof text,
		 "m{a=\"1\"} 1 %lld\nm{a=\"1\"} 2 %lld\nm{a=\"1\"} stale %lld\nm{a=\"1\"} 4 %lld\n"
		 "m{a=\"1\"} stale %lld\nm{a=\"1\"} NaN %lld\n",
		 (long long)t0, (long long)t0 + 1000, (long long)t0 + 2000, (long long)t0 + 3000,
		 (long long)t0 + 4000, (long long)t0 + 5000);
	struct obs_ingest_result r;
	cr_assert_eq(obs_db_ingest(db, text, strlen(text), OBS_FMT_PROM, "test", 1, &r), 0);
	cr_assert_eq(r.accepted, 6, "accepted %llu", (unsigned long long)r.accepted);
	/* a series file's "TIME stale" line */
	uint32_t id2;
	const char *why;
	cr_assert_eq(obs_db_create(db, "v", 1, &id2, &why), 0);
	snprintf(text, sizeof text, "%lld 1\n%lld 2\n%lld stale\n%lld 4\n%lld stale\n%lld NaN\n", (long long)t0 / 1000,
		 (long long)t0 / 1000 + 1, (long long)t0 / 1000 + 2, (long long)t0 / 1000 + 3, (long long)t0 / 1000 + 4,
		 (long long)t0 / 1000 + 5);
	cr_assert_eq(obs_db_ingest_values(db, id2, text, strlen(text), "test", 1, &r), 0);
	cr_assert_eq(r.accepted, 6);
	/* a marker sent again is a retry (accepted), another value at its time is not */
	snprintf(text, sizeof text, "m{a=\"1\"} stale %lld\nm{a=\"1\"} 7 %lld\n", (long long)t0 + 4000,
		 (long long)t0 + 4000);
	cr_assert_eq(obs_db_ingest(db, text, strlen(text), OBS_FMT_PROM, "test", 1, &r), 0);
	cr_assert_eq(r.accepted, 1);
	cr_assert_eq(r.rejected, 1);

	check_series(db, id_of(db, "m{a=\"1\"}"), t0, "head");
	check_series(db, id2, t0, "head (values)");
	/* the WAL replays the bits */
	obs_db_close(db);
	db = open_db();
	check_series(db, id_of(db, "m{a=\"1\"}"), t0, "WAL replay");
	check_series(db, id2, t0, "WAL replay (values)");
	/* a block keeps them, also after a reopen */
	cr_assert_eq(obs_db_compact(db), 0);
	check_series(db, id_of(db, "m{a=\"1\"}"), t0, "block");
	obs_db_close(db);
	db = open_db();
	check_series(db, id_of(db, "m{a=\"1\"}"), t0, "block after reopen");
	check_series(db, id2, t0, "block after reopen (values)");
	/* a :STEP view skips them */
	struct obs_samples s;
	obs_samples_init(&s);
	int ft;
	cr_assert_eq(obs_db_read_agg(db, id2, INT64_MIN, INT64_MAX, 60000, (struct obs_aggfn){ .kind = OBS_AGG_COUNT },
				     &s, &ft),
		     0);
	double total = 0;
	for (size_t i = 0; i < s.n; i++)
		total += s.v[i];
	cr_assert_eq(total, 4, "count %g", total);   /* 1, 2, 4, NaN */
	obs_samples_release(&s);
	obs_db_close(db);
	cleanup();
}

/* PromQL over the store: a series is gone from the moment of its marker,
 * not for the 5-minute lookback */
Test(stale, promql_instant_after_marker)
{
	mkdir_db();
	struct obs_db *db = open_db();
	int64_t t0 = (obs_time_now() / 1000 - 600) * 1000;
	char text[512];
	snprintf(text, sizeof text, "g{k=\"a\"} 1 %lld\ng{k=\"b\"} 2 %lld\ng{k=\"a\"} 1 %lld\ng{k=\"b\"} 2 %lld\n"
				    "g{k=\"a\"} stale %lld\ng{k=\"b\"} 2 %lld\n",
		 (long long)t0, (long long)t0, (long long)t0 + 15000, (long long)t0 + 15000, (long long)t0 + 30000,
		 (long long)t0 + 30000);
	struct obs_ingest_result r;
	cr_assert_eq(obs_db_ingest(db, text, strlen(text), OBS_FMT_PROM, "test", 1, &r), 0);
	cr_assert_eq(r.accepted, 6);
	struct obs_query_store st = obs_query_db_store(db);
	struct obs_query_opts o;
	obs_query_opts_default(&o);
	for (int pass = 0; pass < 2; pass++) {
		struct obs_query_expr *x;
		char err[256];
		cr_assert_eq(obs_query_parse("g", 1, &x, err, sizeof err), 0, "%s", err);
		struct obs_query_result res;
		cr_assert_eq(obs_query_instant(&o, &st, x, t0 + 29000, &res), 0, "%s", res.err);
		cr_assert_eq(res.nseries, 2, "pass %d: before the marker: %zu series", pass, res.nseries);
		obs_query_result_release(&res);
		cr_assert_eq(obs_query_instant(&o, &st, x, t0 + 31000, &res), 0, "%s", res.err);
		cr_assert_eq(res.nseries, 1, "pass %d: 1 s after the marker: %zu series", pass, res.nseries);
		cr_assert_eq(res.series[0].v[0], 2);
		obs_query_result_release(&res);
		obs_query_expr_free(x);
		const char *q = "count_over_time(g{k=\"a\"}[1m])";
		cr_assert_eq(obs_query_parse(q, strlen(q), &x, err, sizeof err), 0, "%s", err);
		cr_assert_eq(obs_query_instant(&o, &st, x, t0 + 31000, &res), 0, "%s", res.err);
		cr_assert_eq(res.nseries, 1);
		cr_assert_eq(res.series[0].v[0], 2, "range selections leave markers out: %g", res.series[0].v[0]);
		obs_query_result_release(&res);
		obs_query_expr_free(x);
		cr_assert_eq(obs_db_compact(db), 0);   /* the same from a block */
	}
	obs_db_close(db);
	cleanup();
}

/* Blocks merged into rollup tiers: markers enter no bucket, so an hour of
 * values 1 with markers in it is avg 1 (a NaN would make it NaN) and counts
 * only the values. */
Test(stale, tiers_skip_markers)
{
	mkdir_db();
	struct obs_db *db = open_db();
	const int64_t H = 3600000, T0 = 498667LL * H;
	struct obs_buf b;
	obs_buf_init(&b);
	for (int k = 0; k < 4; k++) {   /* four compactions of two hours merge into a block with rollups */
		obs_buf_reset(&b);
		for (int64_t t = T0 + k * 2 * H; t < T0 + (k + 1) * 2 * H; t += 15 * 60000) {
			obs_buf_printf(&b, "r 1 %lld\n", (long long)t);
			if (t % H == 0)
				obs_buf_printf(&b, "r stale %lld\n", (long long)t + 7 * 60000);
		}
		struct obs_ingest_result r;
		cr_assert_eq(obs_db_ingest(db, b.data, b.len, OBS_FMT_PROM, "test", 1, &r), 0);
		cr_assert_eq(r.rejected, 0);
		cr_assert_eq(obs_db_compact(db), 0);
	}
	obs_buf_release(&b);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_gt(st.rollup_sets, 0, "no rollups were made");
	uint32_t id = id_of(db, "r");
	static const enum obs_agg kinds[] = { OBS_AGG_AVG, OBS_AGG_COUNT, OBS_AGG_LAST, OBS_AGG_SUM };
	static const double want[] = { 1, 4, 1, 4 };
	struct obs_samples s;
	obs_samples_init(&s);
	for (size_t k = 0; k < 4; k++) {
		int ft = 0;
		obs_samples_reset(&s);
		cr_assert_eq(obs_db_read_agg(db, id, T0, T0 + 8 * H - 1, H, (struct obs_aggfn){ .kind = kinds[k] }, &s, &ft),
			     0);
		cr_assert(ft, "not served from a tier");
		cr_assert_eq(s.n, 8, "fn %zu: %zu hours", k, s.n);
		for (size_t i = 0; i < s.n; i++)
			cr_assert_eq(s.v[i], want[k], "fn %zu hour %zu: %g", k, i, s.v[i]);
	}
	/* the raw data keeps the markers */
	obs_samples_reset(&s);
	cr_assert_eq(obs_db_read(db, id, T0, T0 + H - 1, &s), 0);
	cr_assert_eq(s.n, 5);
	cr_assert(obs_is_stale(s.v[1]));
	obs_samples_release(&s);
	obs_db_close(db);
	cleanup();
}
