/* test_tiers.c — rollup sets on disk (lib/tsdb/tiers.c): build from a block,
 * reads against obs_rollup_compute of the raw samples, reopen, drop, per-tier
 * retention, and the clean-up done at open (temporaries, unreadable files,
 * sets left inside a higher-level set by an interrupted merge). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/block.h"
#include "tsdb/rollup.h"
#include "tsdb/tiers.h"

static char tmpdir[64], blocks[128], rdir[128];
static const int64_t T0 = 1790000000000LL / 3600000 * 3600000;   /* an hour boundary */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static void teardown(void);

static void setup(void)
{
	strcpy(tmpdir, "/tmp/test_tiers.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	atexit(teardown);   /* a failed assertion ends the test without .fini */
	snprintf(blocks, sizeof blocks, "%s/blocks", tmpdir);
	snprintf(rdir, sizeof rdir, "%s/rollups", tmpdir);
}

static void teardown(void)
{
	if (!tmpdir[0])
		return;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = 0;
}

static double sval(uint32_t id, size_t i)
{
	if (i % 101 == 7)
		return NAN;
	return (double)id * 1000 + 10 * sin((double)i / 50) + (double)(i % 7);
}

/* A block of level with series ids [0, nser) sampled every step from start. */
static struct obs_block *make_block(int level, int64_t start, int64_t step, size_t n, uint32_t nser)
{
	struct obs_block_writer *w;
	cr_assert_eq(obs_block_writer_new(blocks, level, &w), 0);
	int64_t *ts = malloc(n * sizeof *ts);
	double *vs = malloc(n * sizeof *vs);
	for (uint32_t id = 0; id < nser; id++) {
		for (size_t i = 0; i < n; i++) {
			ts[i] = start + (int64_t)i * step;
			vs[i] = sval(id, i);
		}
		char canon[32];
		int len = snprintf(canon, sizeof canon, "s{i=\"%u\"}", id);
		cr_assert_eq(obs_block_writer_add(w, id, canon, (size_t)len, ts, vs, n), 0);
	}
	free(ts);
	free(vs);
	char id[128], path[300];
	cr_assert_eq(obs_block_writer_commit(w, id), 0);
	snprintf(path, sizeof path, "%s/%s", blocks, id);
	struct obs_block *b;
	cr_assert_eq(obs_block_open(path, &b), 0);
	return b;
}

static size_t count_files(int k)
{
	char p[200];
	snprintf(p, sizeof p, "%s/%s", rdir, obs_tier_names[k]);
	DIR *d = opendir(p);
	cr_assert_not_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static uint64_t bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b;
}

/* Tier k of series id over [from, to] equals buckets computed from the raw
 * samples of the block. */
static void check_tier(struct obs_tiers *t, struct obs_block *b, int k, uint32_t id, int64_t from, int64_t to)
{
	struct obs_samples raw;
	struct obs_rollup_series want, got;
	obs_samples_init(&raw);
	obs_rollup_series_init(&want);
	obs_rollup_series_init(&got);
	uint32_t li;
	cr_assert_eq(obs_block_find(b, id, &li), 0);
	cr_assert_eq(obs_block_read(b, li, INT64_MIN, INT64_MAX, &raw), 0);
	cr_assert_eq(obs_rollup_compute(raw.t, raw.v, raw.n, obs_tier_steps[k], &want), 0);
	cr_assert_eq(obs_tiers_read(t, k, id, from, to, &got), 0);
	int64_t step = obs_tier_steps[k];
	size_t j = 0, n = 0;
	for (size_t i = 0; i < want.n; i++) {
		const struct obs_rollup_bucket *w = &want.b[i];
		if (w->t + step - 1 < from || w->t > to)
			continue;   /* not meeting the range */
		cr_assert_lt(j, got.n, "tier %d series %u: bucket %lld missing", k, id, (long long)w->t);
		const struct obs_rollup_bucket *g = &got.b[j++];
		cr_assert_eq(g->t, w->t, "tier %d series %u", k, id);
		cr_assert_eq(g->count, w->count);
		cr_assert_eq(g->nan_count, w->nan_count);
		if (w->count) {
			cr_assert_eq(g->min, w->min);
			cr_assert_eq(g->max, w->max);
			cr_assert(fabs(g->sum - w->sum) <= 1e-9 * fabs(w->sum), "sum %.17g vs %.17g", g->sum, w->sum);
		}
		cr_assert_eq(bits(g->last), bits(w->last));
		n++;
	}
	cr_assert_eq(got.n, j, "tier %d series %u: %zu extra buckets", k, id, got.n - j);
	cr_assert_gt(n, 0);
	obs_samples_release(&raw);
	obs_rollup_series_release(&want);
	obs_rollup_series_release(&got);
}

Test(tiers, build_read_reopen_drop, .init = setup, .fini = teardown)
{
	struct obs_tiers *t;
	cr_assert_eq(obs_tiers_open(rdir, &t), 0);
	cr_assert_eq(obs_tiers_count(t), 0);
	struct obs_block *b = make_block(2, T0 + 1234, 7000, 2000, 3);   /* ~3.9 h, unaligned */
	const char *bid = obs_block_id(b);
	cr_assert_eq(obs_tiers_has(t, bid), 0);
	cr_assert_eq(obs_tiers_build(t, b, 2), 0);
	cr_assert_eq(obs_tiers_has(t, bid), 1);
	cr_assert_eq(obs_tiers_count(t), 1);
	for (int k = 0; k < OBS_NTIERS; k++)
		cr_assert_eq(count_files(k), 1);
	struct obs_tiers_stats st;
	obs_tiers_get_stats(t, &st);
	cr_assert_eq(st.sets, 1);
	for (int k = 0; k < OBS_NTIERS; k++) {
		cr_assert_eq(st.files[k], 1);
		cr_assert_gt(st.bytes[k], 0);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < OBS_NTIERS; k++)
			for (uint32_t id = 0; id < 3; id++) {
				check_tier(t, b, k, id, INT64_MIN + 3600000, INT64_MAX);
				check_tier(t, b, k, id, T0 + 3600000 + 17, T0 + 2 * 3600000 + 5);
			}
		/* an unknown series reads nothing */
		struct obs_rollup_series none;
		obs_rollup_series_init(&none);
		cr_assert_eq(obs_tiers_read(t, 0, 77, INT64_MIN + 3600000, INT64_MAX, &none), 0);
		cr_assert_eq(none.n, 0);
		cr_assert_eq(obs_tiers_read(t, OBS_NTIERS, 0, 0, 1, &none), -EINVAL);
		obs_rollup_series_release(&none);
		/* the set is found again at open */
		obs_tiers_close(t);
		cr_assert_eq(obs_tiers_open(rdir, &t), 0);
		cr_assert_eq(obs_tiers_has(t, bid), 1);
	}
	cr_assert_eq(obs_tiers_drop(t, bid), 0);
	cr_assert_eq(obs_tiers_has(t, bid), 0);
	cr_assert_eq(obs_tiers_count(t), 0);
	for (int k = 0; k < OBS_NTIERS; k++)
		cr_assert_eq(count_files(k), 0);
	obs_tiers_close(t);
	obs_block_close(b);
}

Test(tiers, two_sets_in_time_order, .init = setup, .fini = teardown)
{
	struct obs_tiers *t;
	cr_assert_eq(obs_tiers_open(rdir, &t), 0);
	/* built newest first; reads come in time order of the sets */
	struct obs_block *b2 = make_block(2, T0 + 4 * 3600000, 10000, 720, 1);
	struct obs_block *b1 = make_block(2, T0, 10000, 720, 1);
	cr_assert_eq(obs_tiers_build(t, b2, 2), 0);
	cr_assert_eq(obs_tiers_build(t, b1, 2), 0);
	struct obs_rollup_series got;
	obs_rollup_series_init(&got);
	cr_assert_eq(obs_tiers_read(t, 1, 0, INT64_MIN + 3600000, INT64_MAX, &got), 0);
	cr_assert_eq(got.n, 2 * 24);
	for (size_t i = 1; i < got.n; i++)
		cr_assert_lt(got.b[i - 1].t, got.b[i].t);
	obs_rollup_series_reset(&got);
	/* a range meeting only the second set */
	cr_assert_eq(obs_tiers_read(t, 2, 0, T0 + 4 * 3600000, INT64_MAX, &got), 0);
	cr_assert_eq(got.n, 2);
	cr_assert_eq(got.b[0].t, T0 + 4 * 3600000);
	/* a range starting after the first set's last sample but inside its
	 * last bucket (T0+1h .. T0+2h) still gets that bucket */
	obs_rollup_series_reset(&got);
	struct obs_block_meta m1;
	obs_block_get_meta(b1, &m1);
	cr_assert_eq(obs_tiers_read(t, 2, 0, m1.maxt + 5000, INT64_MAX, &got), 0);
	cr_assert_eq(got.n, 3);
	cr_assert_eq(got.b[0].t, T0 + 3600000);
	obs_rollup_series_release(&got);
	obs_tiers_close(t);
	obs_block_close(b1);
	obs_block_close(b2);
}

Test(tiers, retain_per_tier, .init = setup, .fini = teardown)
{
	struct obs_tiers *t;
	cr_assert_eq(obs_tiers_open(rdir, &t), 0);
	struct obs_block *old = make_block(2, T0, 10000, 360, 2);
	struct obs_block *recent = make_block(2, T0 + 10 * 86400000LL, 10000, 360, 2);
	cr_assert_eq(obs_tiers_build(t, old, 2), 0);
	cr_assert_eq(obs_tiers_build(t, recent, 2), 0);
	struct obs_block_meta m;
	obs_block_get_meta(old, &m);
	const int64_t day = 86400000LL;
	const int64_t ret[OBS_NTIERS] = { 1 * day, 3 * day, 0 };
	/* nothing older than the cutoffs yet (cutoff == maxt keeps it) */
	cr_assert_eq(obs_tiers_retain(t, m.maxt + day, ret), 0);
	/* the old set's 1m file only */
	cr_assert_eq(obs_tiers_retain(t, m.maxt + day + 1, ret), 1);
	cr_assert_eq(count_files(0), 1);
	cr_assert_eq(count_files(1), 2);
	cr_assert_eq(count_files(2), 2);
	cr_assert_eq(obs_tiers_count(t), 2);
	struct obs_rollup_series got;
	obs_rollup_series_init(&got);
	cr_assert_eq(obs_tiers_read(t, 0, 0, T0, T0 + day, &got), 0);
	cr_assert_eq(got.n, 0, "a retained 1m file still answers");
	cr_assert_eq(obs_tiers_read(t, 1, 0, T0, T0 + day, &got), 0);
	cr_assert_gt(got.n, 0);
	/* then its 5m file; 1h is kept forever (0) */
	cr_assert_eq(obs_tiers_retain(t, m.maxt + 4 * day, ret), 1);
	cr_assert_eq(count_files(1), 1);
	cr_assert_eq(count_files(2), 2);
	cr_assert_eq(obs_tiers_has(t, obs_block_id(old)), 1);
	/* the state is the same after a reopen */
	obs_tiers_close(t);
	cr_assert_eq(obs_tiers_open(rdir, &t), 0);
	struct obs_tiers_stats st;
	obs_tiers_get_stats(t, &st);
	cr_assert_eq(st.sets, 2);
	cr_assert_eq(st.files[0], 1);
	cr_assert_eq(st.files[1], 1);
	cr_assert_eq(st.files[2], 2);
	/* all tiers with a retention: a set with no file left is forgotten */
	const int64_t all[OBS_NTIERS] = { day, day, day };
	cr_assert_eq(obs_tiers_retain(t, m.maxt + 5 * day, all), 1);
	cr_assert_eq(obs_tiers_count(t), 1);
	cr_assert_eq(obs_tiers_has(t, obs_block_id(old)), 0);
	cr_assert_eq(count_files(2), 1);
	obs_rollup_series_release(&got);
	obs_tiers_close(t);
	obs_block_close(old);
	obs_block_close(recent);
}

Test(tiers, open_cleans_up, .init = setup, .fini = teardown)
{
	struct obs_tiers *t;
	cr_assert_eq(obs_tiers_open(rdir, &t), 0);
	/* a level-2 set and a level-1 set inside its span: both stay (dropping
	 * merge inputs is the store's job, from the merged block's parents) */
	struct obs_block *big = make_block(2, T0, 10000, 1000, 1);
	struct obs_block *small = make_block(1, T0 + 3600000, 10000, 100, 1);
	cr_assert_eq(obs_tiers_build(t, big, 2), 0);
	cr_assert_eq(obs_tiers_build(t, small, 1), 0);
	cr_assert_eq(obs_tiers_count(t), 2);
	obs_tiers_close(t);
	/* a temporary and an unreadable file, as a crash would leave */
	char p[300];
	snprintf(p, sizeof p, "%s/1m/.tmp-crashed", rdir);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("partial", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/5m/3_%lld_%lld_garbage", rdir, (long long)(T0 + 100 * 86400000LL),
		 (long long)(T0 + 101 * 86400000LL));
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("not a rollup file at all", f);
	fclose(f);
	cr_assert_eq(obs_tiers_open(rdir, &t), 0);
	cr_assert_eq(obs_tiers_count(t), 2);
	cr_assert_eq(obs_tiers_has(t, obs_block_id(big)), 1);
	cr_assert_eq(obs_tiers_has(t, obs_block_id(small)), 1);
	for (int k = 0; k < OBS_NTIERS; k++)   /* the temporary and the garbage are gone */
		cr_assert_eq(count_files(k), 2, "tier %d: %zu files", k, count_files(k));
	cr_assert_eq(obs_tiers_drop(t, obs_block_id(small)), 0);
	cr_assert_eq(obs_tiers_has(t, obs_block_id(small)), 0);
	for (int k = 0; k < OBS_NTIERS; k++)
		cr_assert_eq(count_files(k), 1, "tier %d: %zu files", k, count_files(k));
	check_tier(t, big, 0, 0, INT64_MIN + 3600000, INT64_MAX);
	obs_tiers_close(t);
	obs_block_close(big);
	obs_block_close(small);
}
