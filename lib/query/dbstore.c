/* dbstore.c — obs_query_store over struct obs_db: the matchers select
 * series ids through the CRoaring postings, each series' canonical text
 * gives its labels, obs_db_read() its samples in [mint, maxt] (blocks
 * outside the range are not read). rollup() gives obs_db_read_agg()'s
 * min/max/sum/count buckets of a series that has rolled-up data for the
 * step, its raw samples otherwise. log_count() (obs_query_db_store_logs)
 * counts log records through obs_logstore_count(), which answers from the
 * segments' index where it is exact. */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <roaring/roaring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/dbstore.h"
#include "logs/logstore.h"
#include "tsdb/rollup.h"
#include "tsdb/samples.h"
#include "tsdb/tiers.h"

static int db_select(void *ctx, const struct obs_matcher *m, size_t nm, int64_t mint, int64_t maxt,
		     obs_query_emit_fn emit, void *ectx)
{
	struct obs_db *db = ctx;
	roaring_bitmap_t *ids = obs_db_select(db, m, nm);
	if (!ids)
		return -ENOMEM;
	struct obs_buf text;
	struct obs_samples s;
	obs_buf_init(&text);
	obs_samples_init(&s);
	int rc = 0;
	roaring_uint32_iterator_t *it = roaring_create_iterator(ids);
	if (!it)
		rc = -ENOMEM;
	for (; !rc && it && it->has_value; roaring_advance_uint32_iterator(it)) {
		uint32_t id = it->current_value;
		obs_buf_reset(&text);
		obs_samples_reset(&s);
		if (obs_db_series_text(db, id, &text) != 0)
			continue;   /* gone since the selection */
		struct obs_labels l;
		const char *why;
		if (obs_labels_parse(text.data, text.len, &l, &why) != 0)
			continue;
		rc = obs_db_read(db, id, mint, maxt, &s);
		if (!rc && s.n)
			rc = emit(ectx, &l, s.t, s.v, s.n);
		obs_labels_release(&l);
	}
	if (it)
		roaring_free_uint32_iterator(it);
	roaring_bitmap_free(ids);
	obs_buf_release(&text);
	obs_samples_release(&s);
	return rc;
}

/* Buckets of the four aggregates of one series; 1 when they came from a
 * tier, 0 when the series has no rolled-up data there, -errno. */
static int read_buckets(struct obs_db *db, uint32_t id, int64_t mint, int64_t maxt, int64_t step,
			struct obs_samples s[4], struct obs_query_bucket **out, size_t *nout)
{
	static const enum obs_agg kinds[4] = { OBS_AGG_MIN, OBS_AGG_MAX, OBS_AGG_SUM, OBS_AGG_COUNT };
	int tier = 0;
	for (int k = 0; k < 4; k++) {
		int ft = 0;
		struct obs_aggfn fn = { .kind = kinds[k] };
		obs_samples_reset(&s[k]);
		int rc = obs_db_read_agg(db, id, mint, maxt, step, fn, &s[k], &ft);
		if (rc)
			return rc;
		if (!k && !ft)
			return 0;
		tier |= ft;
		if (s[k].n != s[0].n)
			return -EIO;   /* the data moved between the reads (a compaction): read raw */
	}
	struct obs_query_bucket *b = realloc(*out, (s[0].n ? s[0].n : 1) * sizeof(*b));
	if (!b)
		return -ENOMEM;
	*out = b;
	for (size_t i = 0; i < s[0].n; i++) {
		if (s[1].t[i] != s[0].t[i] || s[2].t[i] != s[0].t[i] || s[3].t[i] != s[0].t[i])
			return -EIO;
		b[i].t = s[0].t[i];
		b[i].min = s[0].v[i];
		b[i].max = s[1].v[i];
		b[i].sum = s[2].v[i];
		/* count includes NaN samples; a bucket of only NaN has no sum */
		b[i].count = isnan(s[2].v[i]) ? 0 : s[3].v[i];
	}
	*nout = s[0].n;
	return tier;
}

/* The raw samples of series id lying exactly on a multiple of step in
 * [mint, maxt + 1], one point read per boundary. */
static int boundary_samples(struct obs_db *db, uint32_t id, int64_t mint, int64_t maxt, int64_t step,
			    struct obs_samples *out)
{
	struct obs_samples one;
	obs_samples_init(&one);
	obs_samples_reset(out);
	int64_t r = mint % step;
	int64_t t = r == 0 ? mint : r > 0 ? mint - r + step : mint - r;
	int rc = 0;
	for (; t <= maxt + 1 && !rc; t += step) {
		obs_samples_reset(&one);
		rc = obs_db_read(db, id, t, t, &one);
		for (size_t k = 0; !rc && k < one.n; k++)
			if (one.t[k] == t && !obs_query_is_stale(one.v[k]))
				rc = obs_samples_push(out, t, one.v[k]);
	}
	obs_samples_release(&one);
	return rc;
}

static int db_rollup(void *ctx, const struct obs_matcher *m, size_t nm, int64_t mint, int64_t maxt, int64_t step,
		     obs_query_bucket_fn emit, void *ectx)
{
	struct obs_db *db = ctx;
	struct obs_db_stats st;
	if (obs_rollup_pick_tier(obs_tier_steps, OBS_NTIERS, step) < 0)
		return -ENOENT;
	obs_db_get_stats(db, &st);
	if (!st.rollup_sets)
		return -ENOENT;
	roaring_bitmap_t *ids = obs_db_select(db, m, nm);
	if (!ids)
		return -ENOMEM;
	struct obs_buf text;
	struct obs_samples raw, s[4];
	struct obs_query_bucket *b = NULL;
	obs_buf_init(&text);
	obs_samples_init(&raw);
	for (int k = 0; k < 4; k++)
		obs_samples_init(&s[k]);
	int rc = 0;
	roaring_uint32_iterator_t *it = roaring_create_iterator(ids);
	if (!it)
		rc = -ENOMEM;
	for (; !rc && it && it->has_value; roaring_advance_uint32_iterator(it)) {
		uint32_t id = it->current_value;
		obs_buf_reset(&text);
		if (obs_db_series_text(db, id, &text) != 0)
			continue;
		struct obs_labels l;
		const char *why;
		if (obs_labels_parse(text.data, text.len, &l, &why) != 0)
			continue;
		size_t nb = 0;
		int tier = read_buckets(db, id, mint, maxt, step, s, &b, &nb);
		if (tier == -ENOMEM) {
			rc = tier;
		} else if (tier == 1 && nb) {
			rc = boundary_samples(db, id, mint, maxt, step, &raw);
			if (!rc)
				rc = emit(ectx, &l, b, nb, raw.t, raw.v, raw.n);
			if (rc == OBS_QUERY_WANT_RAW) {
				rc = 0;
				tier = 0;   /* the evaluator needs the raw samples */
			}
		}
		if (!rc && tier <= 0) {   /* no rollups for this series here, or they moved: raw */
			obs_samples_reset(&raw);
			rc = obs_db_read(db, id, mint, maxt + 1, &raw);
			if (!rc && raw.n)
				rc = emit(ectx, &l, NULL, 0, raw.t, raw.v, raw.n);
		}
		obs_labels_release(&l);
	}
	if (it)
		roaring_free_uint32_iterator(it);
	roaring_bitmap_free(ids);
	obs_buf_release(&text);
	obs_samples_release(&raw);
	for (int k = 0; k < 4; k++)
		obs_samples_release(&s[k]);
	free(b);
	return rc;
}

struct obs_query_store obs_query_db_store(struct obs_db *db)
{
	struct obs_query_store st = { .select = db_select, .rollup = db_rollup, .ctx = db };
	return st;
}

/* ---- log counts ---------------------------------------------------------- */

struct logc {
	struct obs_logstore *ls;
	const char *pattern;
	int glob;
	const struct obs_logquery *q;
	int64_t range;
	const int64_t *at;
	size_t n;
	uint64_t *counts;
	obs_query_logcount_fn emit;
	void *ectx;
	int rc;
};

static int logc_stream(void *ctx, const char *stream)
{
	struct logc *c = ctx;
	if (c->glob ? fnmatch(c->pattern, stream, 0) != 0 : strcmp(c->pattern, stream) != 0)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		/* the window (at - range, at] in whole ms */
		int rc = obs_logstore_count(c->ls, stream, c->at[i] - c->range + 1, c->at[i], c->q, NULL, NULL, NULL,
					    &c->counts[i]);
		if (rc == -ENOENT)
			return 0;   /* removed meanwhile */
		if (rc) {
			c->rc = rc;
			return 1;
		}
	}
	c->rc = c->emit(c->ectx, stream, c->counts);
	return c->rc != 0;
}

static int db_log_count(void *lctx, const char *stream, const char *query, int64_t range, const int64_t *at,
			size_t n, obs_query_logcount_fn emit, void *ectx, char *why, size_t whylen)
{
	struct obs_logquery *q = NULL;
	int rc = obs_logquery_parse(query, strlen(query), &q, why, whylen);
	if (rc)
		return rc;
	if (q->count || q->by) {
		obs_logquery_free(q);
		snprintf(why, whylen, "'#' suffixes have no meaning here");
		return -EINVAL;
	}
	struct logc c = { .ls = lctx, .pattern = stream, .glob = strpbrk(stream, "*?[") != NULL, .q = q,
			  .range = range, .at = at, .n = n, .emit = emit, .ectx = ectx };
	c.counts = calloc(n ? n : 1, sizeof(*c.counts));
	if (!c.counts) {
		obs_logquery_free(q);
		return -ENOMEM;
	}
	if (!c.glob) {   /* one stream: no walk over the names */
		if (obs_logstore_exists(c.ls, stream))
			logc_stream(&c, stream);
	} else {
		rc = obs_logstore_streams(c.ls, logc_stream, &c);
		if (rc && !c.rc)
			c.rc = rc < 0 ? rc : 0;
	}
	free(c.counts);
	obs_logquery_free(q);
	return c.rc;
}

struct obs_query_store obs_query_db_store_logs(struct obs_db *db, struct obs_logstore *ls)
{
	struct obs_query_store st = obs_query_db_store(db);
	if (ls) {
		st.log_count = db_log_count;
		st.lctx = ls;
	}
	return st;
}
