/* db_head.c — the head and the read path.
 *
 * Head: per series, closed Gorilla chunks of up to CHUNK_SAMPLES samples plus
 * one open chunk (chunk.h). Out-of-order samples inside the window are merged
 * into the chunk that covers their time (decode, insert, re-encode) and bump
 * the series' generation, which invalidates cached text sizes. A sample at
 * the newest time with the same value bits is a retry (accepted, not kept
 * twice); another value there is refused.
 *
 * Reads of a series merge, oldest first: the blocks that hold it, its frozen
 * chunks (a compaction in progress), the head; with skip_rolled the time
 * served by rollup tiers is left to them (obs_db_read_agg). */
#include "tsdb/db_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/vec.h"

/* ---- the head: appending to a series ------------------------------------ */

int64_t db_series_last_t(const struct series *s, uint64_t *vbits)
{
	if (s->open.n) {
		*vbits = s->open.v_last;
		return s->open.t_last;
	}
	if (s->nclosed) {
		const struct chunk *c = &s->closed[s->nclosed - 1];
		*vbits = 0;
		return c->tmax;
	}
	return INT64_MIN;
}

/* A closed chunk holding an exact-size copy of the encoder's bytes. */
static int chunk_from_enc(const struct obs_chunk_enc *e, struct chunk *out)
{
	size_t len;
	const uint8_t *d = obs_chunk_data(e, &len);
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, d, len);
	*out = (struct chunk){ copy, (uint32_t)len, e->n, e->t_first, e->t_last };
	return 0;
}

int db_series_cut(struct series *s)
{
	size_t cap = s->capclosed;   /* uint32_t in struct series, which is per series */
	if (s->nclosed == UINT32_MAX || OBS_VEC_RESERVE_FROM(s->closed, cap, s->nclosed + 1, 4))
		return -ENOMEM;
	s->capclosed = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
	int rc = chunk_from_enc(&s->open, &s->closed[s->nclosed]);
	if (rc)
		return rc;
	s->nclosed++;
	obs_chunk_enc_release(&s->open);
	obs_chunk_enc_init(&s->open);
	return 0;
}

/* Decode (data,len) of n samples into arrays (caller frees). */
static int decode_alloc(const uint8_t *data, size_t len, uint32_t n, int64_t **ts, double **vs)
{
	*ts = malloc((n + 1) * sizeof **ts);
	*vs = malloc((n + 1) * sizeof **vs);
	if (!*ts || !*vs) {
		free(*ts);
		free(*vs);
		return -ENOMEM;
	}
	int got = obs_chunk_decode(data, len, *ts, *vs, n + 1);
	if (got < 0) {
		free(*ts);
		free(*vs);
	}
	return got;
}

/* Insert (t, v) into the chunk encoded in (data, len): returns 1 inserted,
 * 0 identical sample already there, -EEXIST other value at t, <0 errors.
 * On 1, *enc holds the re-encoded chunk. */
static int chunk_insert(const uint8_t *data, size_t len, uint32_t n, int64_t t, double v,
			struct obs_chunk_enc *enc)
{
	int64_t *ts;
	double *vs;
	int got = decode_alloc(data, len, n, &ts, &vs);
	if (got < 0)
		return got;
	int rc = 1;
	size_t pos = 0;
	while (pos < (size_t)got && ts[pos] < t)
		pos++;
	if (pos < (size_t)got && ts[pos] == t) {
		rc = obs_f64_bits(vs[pos]) == obs_f64_bits(v) ? 0 : -EEXIST;
		goto out;
	}
	obs_chunk_enc_init(enc);
	for (size_t i = 0; i <= (size_t)got && rc == 1; i++) {
		int r;
		if (i == pos)
			r = obs_chunk_append(enc, t, v);
		else
			r = 0;
		if (!r && i < (size_t)got)
			r = obs_chunk_append(enc, ts[i], vs[i]);
		if (r)
			rc = r;
	}
	if (rc != 1)
		obs_chunk_enc_release(enc);
out:
	free(ts);
	free(vs);
	return rc;
}

/* Out-of-order insert inside the window. */
static int series_insert_ooo(struct series *s, int64_t t, double v, const char **why)
{
	struct obs_chunk_enc enc;
	int rc;
	uint32_t i = 0;
	while (i < s->nclosed && s->closed[i].tmax < t)
		i++;
	if (i < s->nclosed) {
		struct chunk *c = &s->closed[i];
		rc = chunk_insert(c->data, c->len, c->n, t, v, &enc);
		if (rc == 1) {
			struct chunk nc;
			int e = chunk_from_enc(&enc, &nc);
			obs_chunk_enc_release(&enc);
			if (e)
				return e;
			free(c->data);
			*c = nc;
		}
	} else {
		size_t len;
		const uint8_t *d = obs_chunk_data(&s->open, &len);
		rc = chunk_insert(d, len, s->open.n, t, v, &enc);
		if (rc == 1) {
			obs_chunk_enc_release(&s->open);
			s->open = enc;
		}
	}
	if (rc == -EEXIST && why)
		*why = "duplicate timestamp with a different value";
	if (rc == 1) {
		s->nsamples++;
		s->gen++;
		return 0;
	}
	return rc;
}

/* Append one sample: 0 stored (or identical resend), -EEXIST / -ERANGE
 * rejected with *why, other <0 errors. Caller holds s->mu. */
int db_series_append(struct obs_db *db, struct series *s, int64_t t, double v, const char **why)
{
	uint64_t lastbits;
	if (t <= s->floor_t) {
		*why = "sample at or before the series' compacted data";
		return -ERANGE;
	}
	int64_t last = db_series_last_t(s, &lastbits);
	if (last == INT64_MIN || t > last) {
		if (s->open.n >= CHUNK_SAMPLES) {
			int rc = db_series_cut(s);
			if (rc)
				return rc;
		}
		int rc = obs_chunk_append(&s->open, t, v);
		if (!rc)
			s->nsamples++;
		return rc;
	}
	if (t == last && s->open.n) {
		if (lastbits == obs_f64_bits(v))
			return 0;
		*why = "duplicate timestamp with a different value";
		return -EEXIST;
	}
	if (last - t > db->o.ooo_window_ms) {
		*why = "sample older than the out-of-order window";
		return -ERANGE;
	}
	return series_insert_ooo(s, t, v, why);
}

/* ---- reads --------------------------------------------------------- */

int db_push_range(const uint8_t *data, size_t len, uint32_t n, int64_t from, int64_t to,
		      struct obs_samples *out)
{
	if (obs_samples_reserve(out, n + 1))
		return -ENOMEM;
	size_t base = out->n;
	int got = obs_chunk_decode(data, len, out->t + base, out->v + base, out->cap - base);
	if (got < 0)
		return got;
	size_t k = base;
	for (size_t i = base; i < base + (size_t)got; i++) {
		if (out->t[i] < from || out->t[i] > to)
			continue;
		out->t[k] = out->t[i];
		out->v[k++] = out->v[i];
	}
	out->n = k;
	return 0;
}

static void insertion_sort(int64_t *t, double *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		int64_t ti = t[i];
		double vi = v[i];
		size_t j = i;
		while (j > 0 && t[j - 1] > ti) {
			t[j] = t[j - 1];
			v[j] = v[j - 1];
			j--;
		}
		t[j] = ti;
		v[j] = vi;
	}
}

/* Sort o's samples from index from on by time, stably (equal timestamps
 * keep the order they were read in). Samples read from blocks in time
 * order are sorted already: one pass finds that. Otherwise a bottom-up
 * merge sort, O(n log n) however the runs are shuffled (an insertion sort
 * here once made a merge of out-of-order blocks quadratic). */
void db_sort_samples(struct obs_samples *o, size_t from)
{
	if (o->n <= from + 1)
		return;
	size_t n = o->n - from;
	int64_t *t = o->t + from;
	double *v = o->v + from;
	size_t sorted = 1;
	while (sorted < n && t[sorted - 1] <= t[sorted])
		sorted++;
	if (sorted == n)
		return;
	int64_t *t2 = malloc(n * sizeof *t2);
	double *v2 = malloc(n * sizeof *v2);
	if (!t2 || !v2) {   /* no memory for the merge: slow, but sorted */
		free(t2);
		free(v2);
		insertion_sort(t, v, n);
		return;
	}
	int64_t *st = t, *dt = t2;
	double *sv = v, *dv = v2;
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t a = lo, b = mid, k = lo;
			while (a < mid && b < hi) {
				size_t from_b = st[b] < st[a];
				size_t i = from_b ? b++ : a++;
				dt[k] = st[i];
				dv[k++] = sv[i];
			}
			for (; a < mid; a++, k++) {
				dt[k] = st[a];
				dv[k] = sv[a];
			}
			for (; b < hi; b++, k++) {
				dt[k] = st[b];
				dv[k] = sv[b];
			}
		}
		int64_t *tt = st;
		st = dt;
		dt = tt;
		double *vv = sv;
		sv = dv;
		dv = vv;
	}
	if (st != t) {
		memcpy(t, st, n * sizeof *t);
		memcpy(v, sv, n * sizeof *v);
	}
	free(t2);
	free(v2);
}

/* Samples of a series; with skip_rolled, blocks that have rollups are left
 * out (the tier path reads them from their rollup files). */
int db_read_series(struct obs_db *db, uint32_t id, int64_t from, int64_t to, int skip_rolled,
		       struct obs_samples *out)
{
	struct series *s = db_series_get(db, id);
	if (!s)
		return -ENOENT;
	int rc = 0;
	size_t base = out->n;
	pthread_rwlock_rdlock(&db->blocks_lock);
	if (s->in_block) {
		for (size_t b = 0; b < db->nblocks && !rc; b++) {
			struct obs_block_meta m;
			obs_block_get_meta(db->blocks[b], &m);
			uint32_t li;
			if (m.maxt < from || m.mint > to || obs_block_find(db->blocks[b], id, &li))
				continue;
			if (skip_rolled && obs_tiers_has(db->tiers, obs_block_id(db->blocks[b])))
				continue;
			rc = obs_block_read(db->blocks[b], li, from, to, out);
		}
	}
	pthread_mutex_lock(&s->mu);
	for (uint32_t i = 0; i < s->nfrozen && !rc; i++) {
		const struct chunk *c = &s->frozen[i];
		if (c->tmax >= from && c->tmin <= to)
			rc = db_push_range(c->data, c->len, c->n, from, to, out);
	}
	for (uint32_t i = 0; i < s->nclosed && !rc; i++) {
		const struct chunk *c = &s->closed[i];
		if (c->tmax < from || c->tmin > to)
			continue;
		rc = db_push_range(c->data, c->len, c->n, from, to, out);
	}
	if (!rc && s->open.n && s->open.t_last >= from && s->open.t_first <= to) {
		size_t len;
		const uint8_t *d = obs_chunk_data(&s->open, &len);
		rc = db_push_range(d, len, s->open.n, from, to, out);
	}
	pthread_mutex_unlock(&s->mu);
	pthread_rwlock_unlock(&db->blocks_lock);
	for (size_t i = base + 1; i < out->n && !rc; i++)
		if (out->t[i - 1] >= out->t[i]) {
			db_sort_samples(out, base);
			break;
		}
	return rc;
}

int obs_db_read(struct obs_db *db, uint32_t id, int64_t from, int64_t to, struct obs_samples *out)
{
	return db_read_series(db, id, from, to, 0, out);
}

int obs_db_read_agg(struct obs_db *db, uint32_t id, int64_t from, int64_t to, int64_t step,
		    struct obs_aggfn fn, struct obs_samples *out, int *from_tier)
{
	int k = obs_rollup_pick_tier(obs_tier_steps, OBS_NTIERS, step);
	*from_tier = 0;
	if (k < 0 || !obs_tiers_count(db->tiers)) {
		struct obs_samples raw;
		obs_samples_init(&raw);
		int rc = db_read_series(db, id, from, to, 0, &raw);
		if (!rc)
			rc = obs_downsample(&raw, step, fn, out);
		obs_samples_release(&raw);
		return rc;
	}
	/* rolled-up history from the tier files, the rest from raw samples */
	struct obs_rollup_series acc, tmp, view;
	struct obs_samples raw;
	obs_rollup_series_init(&acc);
	obs_rollup_series_init(&tmp);
	obs_rollup_series_init(&view);
	obs_samples_init(&raw);
	int rc = obs_tiers_read(db->tiers, k, id, from, to, &acc);
	if (!rc && acc.n)
		*from_tier = 1;
	if (!rc)
		rc = db_read_series(db, id, from, to, 1, &raw);
	if (!rc && raw.n)
		rc = obs_rollup_compute(raw.t, raw.v, raw.n, obs_tier_steps[k], &tmp);
	if (!rc && tmp.n)
		rc = obs_rollup_append(&acc, &tmp);
	if (!rc && acc.n) {
		/* pieces come in source order: put them in time order for merging */
		for (size_t i = 1; i < acc.n; i++) {
			struct obs_rollup_bucket b = acc.b[i];
			size_t j = i;
			while (j > 0 && acc.b[j - 1].t > b.t) {
				acc.b[j] = acc.b[j - 1];
				j--;
			}
			acc.b[j] = b;
		}
		rc = obs_rollup_merge_to(&acc, step, &view);
	}
	if (!rc && view.n)
		rc = obs_rollup_to_samples(&view, fn, out);
	obs_rollup_series_release(&acc);
	obs_rollup_series_release(&tmp);
	obs_rollup_series_release(&view);
	obs_samples_release(&raw);
	return rc;
}

int obs_db_text_size(struct obs_db *db, uint32_t id, enum obs_time_fmt fmt, uint64_t *size)
{
	struct series *s = db_series_get(db, id);
	if (!s)
		return -ENOENT;
	pthread_mutex_lock(&s->mu);
	int valid = s->txt_valid && s->txt_gen == s->gen && s->txt_fmt == (int)fmt;
	int64_t from = valid ? s->txt_last + 1 : INT64_MIN;
	uint64_t bytes = valid ? s->txt_bytes : 0;
	uint64_t gen = s->gen;
	pthread_mutex_unlock(&s->mu);

	struct obs_samples tail;
	obs_samples_init(&tail);
	int rc = obs_db_read(db, id, from, INT64_MAX, &tail);
	if (rc) {
		obs_samples_release(&tail);
		return rc;
	}
	for (size_t i = 0; i < tail.n; i++)
		bytes += obs_sample_text_len(tail.t[i], tail.v[i], fmt);
	pthread_mutex_lock(&s->mu);
	if (s->gen == gen) {
		s->txt_valid = 1;
		s->txt_gen = gen;
		s->txt_fmt = (int)fmt;
		s->txt_bytes = bytes;
		if (tail.n)
			s->txt_last = tail.t[tail.n - 1];
		else if (!valid)
			s->txt_last = INT64_MIN;
	}
	pthread_mutex_unlock(&s->mu);
	obs_samples_release(&tail);
	*size = bytes;
	return 0;
}
