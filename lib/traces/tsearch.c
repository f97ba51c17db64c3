/* tsearch.c — the trace store's queries (libobs traces): search through
 * the term bitmaps, the names seen, retention. The layout of the store is
 * in tstore.c; its state in tstore_int.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/fileio.h"
#include "core/varint.h"
#include "core/vec.h"
#include "traces/span.h"
#include "traces/tstore_int.h"

static roaring_bitmap_t *term_bm(struct obs_tstore *s, const char *t, size_t n)
{
	return obs_strmap_get(s->terms, obs_strmap_hash(t, n), t, n);
}

/* a AND= term (NULL a: a copy of the term's bitmap); empty bitmap when absent */
static roaring_bitmap_t *and_term(struct obs_tstore *s, roaring_bitmap_t *a, const char *t, size_t n)
{
	roaring_bitmap_t *b = term_bm(s, t, n);
	if (!a)
		return b ? roaring_bitmap_copy(b) : roaring_bitmap_create();
	if (b)
		roaring_bitmap_and_inplace(a, b);
	else
		roaring_bitmap_clear(a);
	return a;
}

static int hit_cmp(const void *x, const void *y)
{
	const struct tentry *a = *(struct tentry *const *)x, *b = *(struct tentry *const *)y;
	return a->start_ns > b->start_ns ? -1 : a->start_ns < b->start_ns;
}

int obs_tstore_search(struct obs_tstore *s, const struct obs_tq *q, int64_t from_ms, int64_t to_ms,
		      int (*fn)(void *ctx, const struct obs_tstore_hit *h), void *ctx)
{
	pthread_mutex_lock(&s->mu);
	roaring_bitmap_t *r = NULL;
	char t[3 * TERM_MAX + 8];
	int n, rc = 0;
	if (q->service && q->operation) {
		n = snprintf(t, sizeof t, "o\x1f%s\x1f%s", q->service, q->operation);
		r = and_term(s, r, t, (size_t)n);
	} else if (q->service) {
		n = snprintf(t, sizeof t, "s\x1f%s", q->service);
		r = and_term(s, r, t, (size_t)n);
	} else if (q->operation) {
		n = snprintf(t, sizeof t, "n\x1f%s", q->operation);
		r = and_term(s, r, t, (size_t)n);
	}
	if (q->error == 1)
		r = and_term(s, r, "e", 1);
	for (size_t i = 0; i < q->nattrs; i++) {
		n = snprintf(t, sizeof t, "a\x1f%s=%s", q->attrs[i].key, q->attrs[i].val);
		r = and_term(s, r, t, (size_t)n);
	}
	if (!r) {
		r = roaring_bitmap_create();
		if (r && s->ne)
			roaring_bitmap_add_range(r, 0, s->ne);
	}
	if (!r) {
		pthread_mutex_unlock(&s->mu);
		return -ENOMEM;
	}
	/* duration classes */
	if (q->min_ns > 0) {
		roaring_bitmap_t *u = roaring_bitmap_create();
		for (int k = tst_bitlen((uint64_t)q->min_ns / 1000000); k <= 64; k++) {
			n = snprintf(t, sizeof t, "d\x1f%d", k);
			roaring_bitmap_t *b = term_bm(s, t, (size_t)n);
			if (b)
				roaring_bitmap_or_inplace(u, b);
		}
		roaring_bitmap_and_inplace(r, u);
		roaring_bitmap_free(u);
	}
	/* start hours: a trace meeting [from, to] started before to; hours after it go */
	if (to_ms < INT64_MAX / 2 && !roaring_bitmap_is_empty(r)) {
		int64_t hi = to_ms / 3600000, lo = from_ms / 3600000 - 24;   /* traces up to a day long */
		int64_t first = s->open_min;   /* the earliest start held */
		if (s->seal.on && s->seal.min_ms < first)
			first = s->seal.min_ms;
		for (size_t i = 0; i < s->nsegs; i++)
			if (s->segs[i].min_ms < first)
				first = s->segs[i].min_ms;
		if (first != INT64_MAX && lo < first / 3600000)
			lo = first / 3600000;
		if (hi - lo <= 24 * 400) {
			roaring_bitmap_t *u = roaring_bitmap_create();
			for (int64_t hr = lo; hr <= hi; hr++) {
				n = snprintf(t, sizeof t, "h\x1f%" PRId64, hr);
				roaring_bitmap_t *b = term_bm(s, t, (size_t)n);
				if (b)
					roaring_bitmap_or_inplace(u, b);
			}
			roaring_bitmap_and_inplace(r, u);
			roaring_bitmap_free(u);
		}
	}
	uint64_t card = roaring_bitmap_get_cardinality(r);
	struct tentry **hits = malloc((card ? card : 1) * sizeof *hits);
	size_t nh = 0;
	if (!hits)
		rc = -ENOMEM;
	roaring_uint32_iterator_t it;
	roaring_init_iterator(r, &it);
	for (; !rc && it.has_value; roaring_advance_uint32_iterator(&it)) {
		struct tentry *e = &s->e[it.current_value];
		int64_t d = e->end_ns - e->start_ns;
		if (e->dead || e->end_ns / 1000000 < from_ms || e->start_ns / 1000000 > to_ms || d < q->min_ns ||
		    d > q->max_ns || (q->error == 0 && e->nerrors))
			continue;
		hits[nh++] = e;
	}
	roaring_bitmap_free(r);
	if (!rc) {
		qsort(hits, nh, sizeof *hits, hit_cmp);
		for (size_t i = 0; i < nh && (!q->limit || i < q->limit); i++) {
			struct obs_tstore_hit h;
			memcpy(h.trace_id, hits[i]->id, 16);
			h.start_ns = hits[i]->start_ns;
			h.end_ns = hits[i]->end_ns;
			h.nspans = hits[i]->nspans;
			h.nerrors = hits[i]->nerrors;
			h.root_service = hits[i]->root_svc ? hits[i]->root_svc : "";
			h.root_name = hits[i]->root_op ? hits[i]->root_op : "";
			if ((rc = fn(ctx, &h)))
				break;
		}
	}
	free(hits);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

struct names { char **v; size_t n, cap; const char *prefix; size_t pl; };

static int collect(void *ctx, const char *k, size_t n, void *val)
{
	struct names *nm = ctx;
	if (n <= nm->pl || memcmp(k, nm->prefix, nm->pl) || roaring_bitmap_is_empty(val))
		return 0;
	if (OBS_VEC_RESERVE_FROM(nm->v, nm->cap, nm->n + 1, 32))
		return -ENOMEM;
	if (!(nm->v[nm->n] = strndup(k + nm->pl, n - nm->pl)))
		return -ENOMEM;
	nm->n++;
	return 0;
}

static int strpcmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_names(struct obs_tstore *s, const char *prefix, size_t pl, int (*fn)(void *, const char *), void *ctx)
{
	struct names nm = { NULL, 0, 0, prefix, pl };
	pthread_mutex_lock(&s->mu);
	int rc = obs_strmap_each(s->terms, collect, &nm);
	pthread_mutex_unlock(&s->mu);
	if (!rc && nm.n)   /* qsort(NULL, 0) is undefined */
		qsort(nm.v, nm.n, sizeof *nm.v, strpcmp);
	for (size_t i = 0; i < nm.n; i++) {
		if (!rc)
			rc = fn(ctx, nm.v[i]);
		free(nm.v[i]);
	}
	free(nm.v);
	return rc;
}

int obs_tstore_services(struct obs_tstore *s, int (*fn)(void *ctx, const char *name), void *ctx)
{
	return list_names(s, "s\x1f", 2, fn, ctx);
}

int obs_tstore_operations(struct obs_tstore *s, const char *service, int (*fn)(void *ctx, const char *name), void *ctx)
{
	char p[TERM_MAX + 8];
	int n = snprintf(p, sizeof p, "o\x1f%.*s\x1f", TERM_MAX, service);
	return list_names(s, p, (size_t)n, fn, ctx);
}

/* ---- retention --------------------------------------------------------------------- */

static int andnot_each(void *ctx, const char *k, size_t n, void *val)
{
	roaring_bitmap_andnot_inplace(val, ctx);
	return 0;
}

int obs_tstore_retain(struct obs_tstore *s, int64_t now_ms)
{
	if (s->o.retention_ms <= 0)
		return 0;
	pthread_mutex_lock(&s->mu);
	int64_t cut = now_ms - s->o.retention_ms;
	roaring_bitmap_t *dead = roaring_bitmap_create();
	int rc = 0;
	size_t k = 0;
	for (size_t i = 0; i < s->nsegs; i++) {
		struct seg *g = &s->segs[i];
		if (g->max_ms >= cut) {
			s->segs[k++] = *g;
			continue;
		}
		char *p = tst_seg_path(s, g->no, "trc");
		int fr = p ? obs_fault("traces.retain.unlink") : 0;
		if (!p || fr || (unlink(p) && errno != ENOENT)) {
			/* still listed: the next pass tries again */
			rc = !p ? -ENOMEM : fr ? fr : -errno;
			free(p);
			s->segs[k++] = *g;
			continue;
		}
		free(p);
		for (int c = 0; c < 2; c++)
			if (s->cache[c].data && s->cache[c].no == g->no) {
				free(s->cache[c].data);
				s->cache[c].data = NULL;
			}
		roaring_uint32_iterator_t it;
		roaring_init_iterator(g->ords, &it);
		for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
			struct tentry *e = &s->e[it.current_value];
			uint32_t m = 0;
			for (uint32_t j = 0; j < e->nlocs; j++)
				if (e->locs[j].seg != g->no)
					e->locs[m++] = e->locs[j];
			e->nlocs = m;
			if (!m && !e->dead) {
				e->dead = 1;
				roaring_bitmap_add(dead, it.current_value);
				obs_strmap_del(s->ids, obs_strmap_hash(e->id, 16), e->id, 16);
				s->st.traces--;
				s->st.spans -= e->nspans;
			}
		}
		s->st.segments--;
		s->st.disk_bytes -= g->bytes;
		s->st.raw_bytes -= g->raw;
		s->st.removed_segments++;
		roaring_bitmap_free(g->ords);
	}
	s->nsegs = k;
	if (!roaring_bitmap_is_empty(dead))
		obs_strmap_each(s->terms, andnot_each, dead);
	roaring_bitmap_free(dead);
	if (!rc)
		rc = obs_fsync_dir(s->dir);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

