/* logstore_read.c — reading the log store (libobs logs): searches and
 * counts over a stream's segments and heads, rendered views, the stream's
 * "TIME LINE\n" text served at stable byte offsets, and stats. Readers hold
 * the stream's read lock while they search one segment (counts) or one
 * frame (searches, logstore_cursor.c), not the whole stream. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "logs/logline.h"
#include "logs/logstore_int.h"
#include "core/wal.h"

/* ---- reading ------------------------------------------------------------ */

static int head_search(const struct head *h, int64_t from, int64_t to, const struct obs_logquery *q,
		       obs_logrec_fn fn, void *ctx)
{
	for (size_t i = 0; h && i < h->n; i++) {
		if (h->ts[i] < from || h->ts[i] > to)
			continue;
		const char *l = h->data.data + h->off[i];
		if (q && !obs_logquery_match(q, l, h->len[i]))
			continue;
		int r = fn(ctx, h->ts[i], l, h->len[i]);
		if (r)
			return r;
	}
	return 0;
}

int obs_logstore_read(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
		      const struct obs_logquery *q, obs_logrec_fn fn, void *ctx)
{
	struct obs_logcursor *c;
	int r = obs_logcursor_new(ls, stream, from, to, q, &c);
	if (r < 0)
		return r;
	r = obs_logcursor_step(c, fn, ctx);
	obs_logcursor_free(c);
	return r;
}

struct agg {
	struct obs_strmap *m;
	uint64_t none;
	int oom;
	int level;   /* grouping a level field: by canonical level name */
};

static int agg_add(void *ctx, const char *v, size_t vn, uint64_t c)
{
	struct agg *a = ctx;
	if (!v) {
		a->none += c;
		return 0;
	}
	const char *ln = a->level ? obs_loglevel_name(obs_loglevel_rank(v, vn)) : NULL;
	if (ln) {
		v = ln;
		vn = strlen(ln);
	}
	uint64_t h = obs_strmap_hash(v, vn);
	uint64_t *cur = obs_strmap_get(a->m, h, v, vn);
	if (!cur) {
		if (!(cur = calloc(1, sizeof(*cur))) || obs_strmap_put(a->m, h, v, vn, cur) < 0) {
			free(cur);
			a->oom = 1;
			return -ENOMEM;
		}
	}
	*cur += c;
	return 0;
}

struct kv {
	const char *k;
	size_t n;
	uint64_t c;
};

static int agg_collect(void *ctx, const char *k, size_t n, void *val)
{
	struct kv **p = ctx;
	(*p)->k = k;
	(*p)->n = n;
	(*p)->c = *(uint64_t *)val;
	(*p)++;
	return 0;
}

static int agg_free(void *ctx, const char *k, size_t n, void *val)
{
	free(val);
	return 0;
}

static int cmp_kv(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	if (x->c != y->c)
		return x->c < y->c ? 1 : -1;
	size_t m = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->k, y->k, m);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

int obs_logstore_count(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
		       const struct obs_logquery *q, const char *by, obs_logcount_fn fn, void *ctx,
		       uint64_t *total)
{
	struct stream *s;
	int r = ls_stream_get(ls, stream, 0, &s);
	if (r < 0)
		return r;
	__atomic_add_fetch(&ls->searches, 1, __ATOMIC_RELAXED);
	struct agg a = { by ? obs_strmap_new() : NULL, 0, 0, by && obs_logfield_is_level(by, strlen(by)) };
	if (by && !a.m) {
		ls_stream_put(ls, s);
		return -ENOMEM;
	}
	struct obs_logseg_stats st = { 0, 0 };
	*total = 0;
	/* one segment per hold of the lock (found again by sequence number:
	 * a flush, re-encoding or retention may come in between), then the
	 * heads under the hold that finds no segment left */
	uint64_t seq = 0;
	for (;;) {
		pthread_rwlock_rdlock(&s->lock);
		size_t i = 0;
		while (i < s->nsegs && s->segs[i].first_seq + s->segs[i].n <= seq)
			i++;
		if (r || i == s->nsegs)
			break;
		r = obs_logseg_count(s->segs[i].seg, from, to, q, by, agg_add, &a, total, &st);
		seq = s->segs[i].first_seq + s->segs[i].n;
		pthread_rwlock_unlock(&s->lock);
	}
	struct obs_logcounter hc = { by, agg_add, &a, 0 };
	if (!r)
		r = head_search(s->frozen, from, to, q, obs_logcount_rec, &hc);
	if (!r)
		r = head_search(&s->head, from, to, q, obs_logcount_rec, &hc);
	pthread_rwlock_unlock(&s->lock);
	*total += hc.n;
	__atomic_add_fetch(&ls->frames_read, st.frames_read, __ATOMIC_RELAXED);
	if (by) {
		/* the keys stay valid while the map lives */
		size_t n = obs_strmap_count(a.m);
		struct kv *v = malloc((n + 1) * sizeof(*v)), *p = v;
		if (!v && !r)
			r = -ENOMEM;
		if (v) {
			obs_strmap_each(a.m, agg_collect, &p);
			qsort(v, n, sizeof(*v), cmp_kv);
			size_t i = 0;
			int none_done = a.none == 0;
			while (!r && (i < n || !none_done)) {
				if (!none_done && (i == n || a.none >= v[i].c)) {
					r = fn(ctx, NULL, 0, a.none);
					none_done = 1;
				} else {
					r = fn(ctx, v[i].k, v[i].n, v[i].c);
					i++;
				}
			}
			free(v);
		}
		obs_strmap_each(a.m, agg_free, NULL);
		obs_strmap_free(a.m);
	}
	ls_stream_put(ls, s);
	return r;
}

struct render {
	struct obs_buf *out;
	int fmt;
	size_t want;   /* stop once out holds this much */
};

static int render_rec(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct render *rd = ctx;
	char t[40];
	int tl = obs_time_format(ts, rd->fmt ? OBS_TIME_EPOCH : OBS_TIME_RFC3339, t);
	t[tl++] = ' ';
	int r = obs_buf_reserve(rd->out, (size_t)tl + n + 1);
	if (r < 0)
		return r;
	memcpy(rd->out->data + rd->out->len, t, (size_t)tl);
	memcpy(rd->out->data + rd->out->len + tl, line, n);
	rd->out->len += (size_t)tl + n;
	rd->out->data[rd->out->len++] = '\n';
	rd->out->data[rd->out->len] = 0;
	return rd->out->len >= rd->want;
}

int obs_logcursor_render(struct obs_logcursor *c, int fmt, struct obs_buf *out, size_t want)
{
	struct render rd = { out, fmt, want };
	if (out->len >= want)
		return 1;
	return obs_logcursor_step(c, render_rec, &rd);
}

static int render_count(void *ctx, const char *v, size_t vn, uint64_t c)
{
	struct render *rd = ctx;
	if (!v)
		return obs_buf_printf(rd->out, "%llu -\n", (unsigned long long)c);
	return obs_buf_printf(rd->out, "%llu %.*s\n", (unsigned long long)c, (int)vn, v);
}

int obs_logstore_render_view(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
			     const struct obs_logquery *q, int fmt, struct obs_buf *out)
{
	struct render rd = { out, fmt, SIZE_MAX };
	if (q && (q->count || q->by)) {
		uint64_t total;
		int r = obs_logstore_count(ls, stream, from, to, q, q->by, render_count, &rd, &total);
		if (r == 0 && !q->by)
			r = obs_buf_printf(out, "%llu\n", (unsigned long long)total);
		return r < 0 ? r : 0;
	}
	return obs_logstore_read(ls, stream, from, to, q, render_rec, &rd);
}

int obs_logstore_text_size(struct obs_logstore *ls, const char *stream, uint64_t *size)
{
	struct stream *s;
	int r = ls_stream_get(ls, stream, 0, &s);
	if (r < 0)
		return r;
	pthread_rwlock_rdlock(&s->lock);
	uint64_t t = s->text_base;
	if (s->nsegs)
		t = s->segs[s->nsegs - 1].text_off + obs_logseg_text_size(s->segs[s->nsegs - 1].seg);
	*size = t + ls_head_text(s->frozen) + ls_head_text(&s->head);
	pthread_rwlock_unlock(&s->lock);
	ls_stream_put(ls, s);
	return 0;
}

/* copy text of a head from offset off (relative to the head's start) */
static size_t head_read_text(const struct head *h, uint64_t off, char *dst, size_t size)
{
	if (!h || !h->n)
		return 0;
	/* record i starts at off[i] + i * TEXT_EXTRA */
	size_t lo = 0, hi = h->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (h->off[mid] + mid * TEXT_EXTRA <= off) lo = mid; else hi = mid;
	}
	size_t got = 0;
	for (size_t i = lo; i < h->n && got < size; i++) {
		uint64_t t = h->off[i] + i * TEXT_EXTRA;
		size_t rl = h->len[i] + TEXT_EXTRA;
		if (t + rl <= off)
			continue;
		char tmp[40];
		obs_time_format(h->ts[i], OBS_TIME_RFC3339, tmp);
		tmp[OBS_LOG_TIME_WIDTH] = ' ';
		const char *line = h->data.data + h->off[i];
		for (uint64_t k = off > t ? off - t : 0; k < rl && got < size; k++)
			dst[got++] = k <= OBS_LOG_TIME_WIDTH ? tmp[k] : k == rl - 1 ? '\n' : line[k - OBS_LOG_TIME_WIDTH - 1];
	}
	return got;
}

int obs_logstore_read_text(struct obs_logstore *ls, const char *stream, uint64_t off, char *dst,
			   size_t size, size_t *got)
{
	struct stream *s;
	int r = ls_stream_get(ls, stream, 0, &s);
	if (r < 0)
		return r;
	*got = 0;
	pthread_rwlock_rdlock(&s->lock);
	if (off < s->text_base)
		off = s->text_base;   /* bytes dropped by retention read as what follows */
	size_t i = 0;
	while (i + 1 < s->nsegs && s->segs[i + 1].text_off <= off)
		i++;
	for (; i < s->nsegs && *got < size && !r; i++) {
		uint64_t so = s->segs[i].text_off, sz = obs_logseg_text_size(s->segs[i].seg);
		if (off + *got >= so + sz)
			continue;
		size_t g = 0;
		r = obs_logseg_read_text(s->segs[i].seg, off + *got - so, dst + *got, size - *got, &g);
		*got += g;
		if (!r && *got < size)   /* read to its end: a long history keeps no frame per segment */
			obs_logseg_drop_cache(s->segs[i].seg);
	}
	uint64_t hbase = s->nsegs ? s->segs[s->nsegs - 1].text_off + obs_logseg_text_size(s->segs[s->nsegs - 1].seg)
				  : s->text_base;
	if (!r && *got < size && s->frozen) {
		uint64_t ft = ls_head_text(s->frozen);
		if (off + *got < hbase + ft)
			*got += head_read_text(s->frozen, off + *got - hbase, dst + *got, size - *got);
		hbase += ft;
	}
	if (!r && *got < size && off + *got >= hbase)
		*got += head_read_text(&s->head, off + *got - hbase, dst + *got, size - *got);
	pthread_rwlock_unlock(&s->lock);
	ls_stream_put(ls, s);
	return r;
}

void obs_logstore_get_stats(struct obs_logstore *ls, struct obs_logstore_stats *st)
{
	memset(st, 0, sizeof(*st));
	struct stream **v;
	size_t n;
	if (ls_snapshot_streams(ls, &v, &n) < 0)
		return;
	st->streams = n;
	for (size_t i = 0; i < n; i++) {
		struct stream *s = v[i];
		pthread_rwlock_rdlock(&s->lock);
		for (size_t k = 0; k < s->nsegs; k++) {
			struct obs_logseg_info in;
			obs_logseg_get_info(s->segs[k].seg, &in);
			st->segments++;
			st->segment_bytes += in.file_bytes;
			st->index_bytes += in.index_bytes;
			st->segment_lines += in.nlines;
			st->segment_raw_bytes += in.raw_bytes;
		}
		st->head_lines += s->head.n + (s->frozen ? s->frozen->n : 0);
		st->head_bytes += s->head.data.len + (s->frozen ? s->frozen->data.len : 0);
		pthread_rwlock_unlock(&s->lock);
	}
	ls_release_streams(ls, v, n);
	struct obs_wal_stats ws;
	obs_wal_get_stats(ls->wal, &ws);
	st->wal_bytes = ws.bytes;
	st->appended = __atomic_load_n(&ls->appended, __ATOMIC_RELAXED);
	st->rejected = __atomic_load_n(&ls->rejected, __ATOMIC_RELAXED);
	st->flushes = __atomic_load_n(&ls->flushes, __ATOMIC_RELAXED);
	st->retained_segments = __atomic_load_n(&ls->retained, __ATOMIC_RELAXED);
	st->compactions = __atomic_load_n(&ls->compactions, __ATOMIC_RELAXED);
	st->searches = __atomic_load_n(&ls->searches, __ATOMIC_RELAXED);
	st->frames_read = __atomic_load_n(&ls->frames_read, __ATOMIC_RELAXED);
	st->corrupt_segments = __atomic_load_n(&ls->corrupt_segments, __ATOMIC_RELAXED);
}

