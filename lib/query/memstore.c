/* memstore.c — an in-memory store for the query engine: series with float
 * samples in time order, and markers for native histogram samples (which
 * make a selection touching them fail with -ENOTSUP). Used by the unit
 * tests and by `obs-query test`. Not thread-safe. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "core/vec.h"
#include "query/q.h"

struct mem_series {
	struct obs_labels l;
	int64_t *t;
	double *v;
	size_t n, cap;
	int64_t hmin, hmax;   /* native histogram samples in [hmin, hmax]; hmin > hmax: none */
};

struct obs_query_mem {
	struct mem_series *s;
	size_t n, cap;
	struct obs_strmap *idx;
	struct obs_buf key;
};

struct obs_query_mem *obs_query_mem_new(void)
{
	struct obs_query_mem *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	if (!(m->idx = obs_strmap_new())) {
		free(m);
		return NULL;
	}
	obs_buf_init(&m->key);
	return m;
}

void obs_query_mem_clear(struct obs_query_mem *m)
{
	for (size_t i = 0; i < m->n; i++) {
		obs_labels_release(&m->s[i].l);
		free(m->s[i].t);
		free(m->s[i].v);
	}
	free(m->s);
	m->s = NULL;
	m->n = m->cap = 0;
	obs_strmap_free(m->idx);
	m->idx = obs_strmap_new();
}

void obs_query_mem_free(struct obs_query_mem *m)
{
	if (!m)
		return;
	obs_query_mem_clear(m);
	obs_strmap_free(m->idx);
	obs_buf_release(&m->key);
	free(m);
}

static struct mem_series *get(struct obs_query_mem *m, const struct obs_labels *l)
{
	if (!m->idx)
		return NULL;
	obs_buf_reset(&m->key);
	if (q_labels_key(l, NULL, 0, &m->key) != 0)
		return NULL;
	const char *nm = obs_labels_get(l, "__name__");
	obs_buf_putc(&m->key, '\xfd');
	obs_buf_puts(&m->key, nm ? nm : "");
	uint64_t h = obs_strmap_hash(m->key.data, m->key.len);
	size_t i = (size_t)(uintptr_t)obs_strmap_get(m->idx, h, m->key.data, m->key.len);
	if (i)
		return &m->s[i - 1];
	if (OBS_VEC_RESERVE_FROM(m->s, m->cap, m->n + 1, 16))
		return NULL;
	struct mem_series *s = &m->s[m->n];
	memset(s, 0, sizeof(*s));
	s->hmin = INT64_MAX;
	s->hmax = INT64_MIN;
	if (obs_labels_copy(&s->l, l) != 0)
		return NULL;
	if (obs_strmap_put(m->idx, h, m->key.data, m->key.len, (void *)(uintptr_t)(m->n + 1)) != 0) {
		obs_labels_release(&s->l);
		return NULL;
	}
	m->n++;
	return s;
}

static int add_one(struct mem_series *s, int64_t t, double v);

int obs_query_mem_add(struct obs_query_mem *m, const struct obs_labels *l, int64_t t, double v)
{
	struct mem_series *s = get(m, l);
	if (!s)
		return -ENOMEM;
	return add_one(s, t, v);
}

int obs_query_mem_add_n(struct obs_query_mem *m, const struct obs_labels *l, const int64_t *t, const double *v,
			size_t n)
{
	struct mem_series *s = get(m, l);
	if (!s)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = add_one(s, t[i], v[i]);
	return rc;
}

static int add_one(struct mem_series *s, int64_t t, double v)
{
	if (s->n && s->t[s->n - 1] >= t) {
		if (s->t[s->n - 1] == t) {
			s->v[s->n - 1] = v;
			return 0;
		}
		return -EINVAL;
	}
	if (OBS_VEC_RESERVE2(s->t, s->v, s->cap, s->n + 1, 16))
		return -ENOMEM;
	s->t[s->n] = t;
	s->v[s->n++] = v;
	return 0;
}

int obs_query_mem_add_histogram(struct obs_query_mem *m, const struct obs_labels *l, int64_t t)
{
	struct mem_series *s = get(m, l);
	if (!s)
		return -ENOMEM;
	if (t < s->hmin)
		s->hmin = t;
	if (t > s->hmax)
		s->hmax = t;
	return 0;
}

static int mem_select(void *ctx, const struct obs_matcher *mt, size_t nm, int64_t mint, int64_t maxt,
		      obs_query_emit_fn emit, void *ectx)
{
	struct obs_query_mem *m = ctx;
	/* first pass: refuse selections touching native histograms */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < m->n; i++) {
			struct mem_series *s = &m->s[i];
			int ok = 1;
			for (size_t k = 0; k < nm && ok; k++) {
				const char *v = obs_labels_get(&s->l, mt[k].name);
				ok = obs_matcher_match(&mt[k], v ? v : "") == 1;
			}
			if (!ok)
				continue;
			if (pass == 0) {
				if (s->hmin <= maxt && s->hmax >= mint)
					return -ENOTSUP;
				continue;
			}
			size_t a = 0, b = s->n;
			while (a < b) {
				size_t mid = a + (b - a) / 2;
				if (s->t[mid] < mint) a = mid + 1; else b = mid;
			}
			size_t lo = a;
			b = s->n;
			while (a < b) {
				size_t mid = a + (b - a) / 2;
				if (s->t[mid] <= maxt) a = mid + 1; else b = mid;
			}
			if (a == lo)
				continue;
			int rc = emit(ectx, &s->l, s->t + lo, s->v + lo, a - lo);
			if (rc)
				return rc;
		}
	}
	return 0;
}

struct obs_query_store obs_query_mem_store(struct obs_query_mem *m)
{
	struct obs_query_store st = { .select = mem_select, .ctx = m };
	return st;
}
