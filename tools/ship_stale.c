/* ship_stale.c — obs-ship's staleness bookkeeping for scrape targets: the
 * set of series one scrape exposed, and the staleness markers for the
 * series of the previous scrape that the current one lacks.
 *
 * A set holds series as their label text in Prometheus notation (as the
 * ingest lines carry them) in one buffer, and an index of (hash, offset,
 * length) sorted by hash, so the difference of two sets costs one merge.
 * Markers are ingest lines `SERIES stale SECONDS.MMM` (obsfs(7)
 * STALENESS; a timestamp with a fraction is seconds in every write, also one
 * that an exemplar makes OpenMetrics). Pure: no I/O, no locks (each target owns its sets). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/num.h"
#include "core/vec.h"
#include "ship.h"

struct sref {
	uint64_t h;
	size_t off, len;
};

void stale_set_init(struct stale_set *s)
{
	memset(s, 0, sizeof *s);
	obs_buf_init(&s->text);
}

void stale_set_reset(struct stale_set *s)
{
	obs_buf_reset(&s->text);
	s->n = 0;
}

void stale_set_release(struct stale_set *s)
{
	if (!s)
		return;
	obs_buf_release(&s->text);
	free(s->r);
	memset(s, 0, sizeof *s);
}

int stale_set_add(struct stale_set *s, const char *series, size_t len)
{
	if (OBS_VEC_RESERVE_FROM(s->r, s->cap, s->n + 1, 256))
		return -ENOMEM;
	size_t off = s->text.len;
	if (obs_buf_append(&s->text, series, len))
		return -ENOMEM;
	s->r[s->n++] = (struct sref){ XXH3_64bits(series, len), off, len };
	return 0;
}

static const char *text_of(const struct stale_set *s, const struct sref *r)
{
	return s->text.data + r->off;
}

static int sref_cmp(const struct sref *a, const char *ta, const struct sref *b, const char *tb)
{
	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(ta, tb, a->len);
}

static int qcmp(const void *x, const void *y, void *ctx)
{
	const struct stale_set *s = ctx;
	const struct sref *a = x, *b = y;
	return sref_cmp(a, text_of(s, a), b, text_of(s, b));
}

void stale_set_sort(struct stale_set *s)
{
	if (s->n)   /* s->r is NULL for an empty set: qsort must not get NULL */
		qsort_r(s->r, s->n, sizeof *s->r, qcmp, s);
	size_t k = 0;   /* one entry per series */
	for (size_t i = 0; i < s->n; i++)
		if (!k || sref_cmp(&s->r[k - 1], text_of(s, &s->r[k - 1]), &s->r[i], text_of(s, &s->r[i])))
			s->r[k++] = s->r[i];
	s->n = k;
}

int stale_set_markers(const struct stale_set *prev, const struct stale_set *cur, int64_t ts, struct obs_buf *out)
{
	size_t k = 0;
	for (size_t i = 0; i < prev->n; i++) {
		const struct sref *p = &prev->r[i];
		int c = 1;
		while (cur && k < cur->n &&
		       (c = sref_cmp(&cur->r[k], text_of(cur, &cur->r[k]), p, text_of(prev, p))) < 0)
			k++;
		if (cur && k < cur->n && c == 0)
			continue;
		if (obs_buf_append(out, text_of(prev, p), p->len) || ship_put_value_ts(out, obs_stale_nan(), ts) ||
		    obs_buf_putc(out, '\n'))
			return -ENOMEM;
	}
	return 0;
}

void stale_set_swap(struct stale_set *a, struct stale_set *b)
{
	struct stale_set t = *a;
	*a = *b;
	*b = t;
}
