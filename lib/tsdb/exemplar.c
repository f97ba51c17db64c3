/* exemplar.c — the exemplar store (exemplar.h): a ring of exemplars per
 * series, and one FIFO over all of them that decides which goes first when
 * the store is full.
 *
 * Every add gets a sequence number. A series' ring holds its exemplars in
 * time order (which is also sequence order: an add older than the newest is
 * refused). The FIFO holds (series, seq) of every add in order; an entry is
 * live while its series' ring still holds that seq (oldest.seq <= seq <=
 * newest.seq, the ring being contiguous), stale once the per-series bound
 * or an undo removed it. When the store is full, FIFO entries are popped
 * from the front, stale ones skipped, until a live one is evicted; when
 * stale entries make up more than half of the FIFO it is compacted, so it
 * stays within twice the store's size.
 *
 * Expiry (obs_exstore_expire) walks the FIFO once: an entry that is its
 * series' oldest and older than the cutoff goes, and the series' next entry,
 * later in the FIFO, is met next. min_t bounds the oldest time from below
 * (lowered by adds, made exact by a walk), so a cutoff below it costs
 * nothing.
 *
 * Nothing here is on disk: the db logs exemplars in the WAL (db_wal.c,
 * record EXEMPLARS) and replays them through obs_exstore_add. */
#include "tsdb/exemplar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/strmap.h"
#include "core/vec.h"

struct ex {
	int64_t t;
	double v;
	uint64_t seq;
	char *lab;
	uint32_t len;
};

struct exs {                     /* one series' ring */
	uint32_t id;
	uint32_t cap, n, head;   /* head: the oldest */
	struct ex *e;
};

struct fent {
	uint32_t id;
	uint64_t seq;
};

struct obs_exstore {
	size_t max_total, max_per_series;
	struct obs_strmap *by_id;       /* 4-byte id -> struct exs */
	struct fent *fifo;              /* a ring of fcap entries from fhead */
	size_t fcap, fhead, fcount;
	size_t live;
	uint64_t seq;
	int64_t min_t;                  /* <= every time held (INT64_MAX: none was) */
	int64_t cutoff;                 /* older exemplars are refused (INT64_MIN) */
	struct obs_exstore_stats st;
};

static struct ex *at(const struct exs *s, uint32_t i)
{
	return &s->e[(s->head + i) % s->cap];
}

static struct exs *find(const struct obs_exstore *x, uint32_t id)
{
	return obs_strmap_get(x->by_id, obs_strmap_hash(&id, 4), &id, 4);
}

struct obs_exstore *obs_exstore_new(size_t max_total, size_t max_per_series)
{
	struct obs_exstore *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->max_total = max_total ? max_total : 1;
	x->min_t = INT64_MAX;
	x->cutoff = INT64_MIN;
	x->max_per_series = max_per_series ? max_per_series : 1;
	if (x->max_per_series > UINT32_MAX / 2)
		x->max_per_series = UINT32_MAX / 2;
	if (!(x->by_id = obs_strmap_new())) {
		free(x);
		return NULL;
	}
	return x;
}

static void series_free(struct exs *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		free(at(s, i)->lab);
	free(s->e);
	free(s);
}

static int free_one(void *ctx, const char *key, size_t n, void *val)
{
	series_free(val);
	return 0;
}

void obs_exstore_free(struct obs_exstore *x)
{
	if (!x)
		return;
	obs_strmap_each(x->by_id, free_one, NULL);
	obs_strmap_free(x->by_id);
	free(x->fifo);
	free(x);
}

static int live_entry(const struct obs_exstore *x, const struct fent *f)
{
	const struct exs *s = find(x, f->id);
	return s && s->n && at(s, 0)->seq <= f->seq && f->seq <= at(s, s->n - 1)->seq;
}

/* Drop the stale FIFO entries, keeping the order (into a new array; when
 * there is no memory for it the stale entries stay). */
static void fifo_compact(struct obs_exstore *x)
{
	struct fent *nf = x->fcap ? malloc(x->fcap * sizeof *nf) : NULL;
	if (!nf)
		return;
	size_t k = 0;
	for (size_t i = 0; i < x->fcount; i++) {
		struct fent f = x->fifo[(x->fhead + i) % x->fcap];
		if (live_entry(x, &f))
			nf[k++] = f;
	}
	free(x->fifo);
	x->fifo = nf;
	x->fhead = 0;
	x->fcount = k;
}

/* Room for one more FIFO entry. 0 or -ENOMEM. */
static int fifo_room(struct obs_exstore *x)
{
	if (x->fcount > 2 * x->live + 64)
		fifo_compact(x);
	if (x->fcount < x->fcap)
		return 0;
	size_t nc = x->fcap ? x->fcap * 2 : 64;
	if (nc < x->fcap || OBS_RING_REGROW(x->fifo, x->fcap, x->fhead, x->fcount, nc))
		return -ENOMEM;
	x->fcap = nc;
	x->fhead = 0;
	return 0;
}

/* Remove the oldest exemplar of s; a series left empty is freed unless
 * keep. The caller counts it. */
static void drop_oldest(struct obs_exstore *x, struct exs *s, int keep)
{
	free(at(s, 0)->lab);
	s->head = (s->head + 1) % s->cap;
	s->n--;
	x->live--;
	if (!s->n && !keep) {
		obs_strmap_del(x->by_id, obs_strmap_hash(&s->id, 4), &s->id, 4);
		series_free(s);
	}
}

/* Evict the oldest live exemplar of the store. */
static void evict_oldest(struct obs_exstore *x)
{
	while (x->fcount) {
		struct fent f = x->fifo[x->fhead];
		x->fhead = (x->fhead + 1) % x->fcap;
		x->fcount--;
		if (live_entry(x, &f)) {
			drop_oldest(x, find(x, f.id), 0);
			x->st.evicted++;
			return;
		}
	}
}

static int same(const struct ex *e, double v, const char *labels, size_t len)
{
	return e->len == len && obs_f64_bits(e->v) == obs_f64_bits(v) && !memcmp(e->lab, labels, len);
}

int obs_exstore_add(struct obs_exstore *x, uint32_t id, int64_t t, double v, const char *labels, size_t len,
		    const char **why)
{
	if (t < x->cutoff) {
		x->st.expired++;
		return 2;
	}
	struct exs *s = find(x, id);
	if (s && t <= at(s, s->n - 1)->t) {
		/* an exemplar already held (a retried write) is a duplicate */
		for (uint32_t i = s->n; i > 0 && at(s, i - 1)->t >= t; i--)
			if (at(s, i - 1)->t == t && same(at(s, i - 1), v, labels, len)) {
				x->st.duplicates++;
				return 1;
			}
		x->st.out_of_order++;
		*why = "out-of-order exemplar (older than the series' newest)";
		return -EINVAL;
	}
	char *lab = malloc(len + 1);
	if (!lab || fifo_room(x)) {
		free(lab);
		return -ENOMEM;
	}
	memcpy(lab, labels, len);
	lab[len] = 0;
	if (!s) {
		if (!(s = calloc(1, sizeof *s)) || obs_strmap_put(x->by_id, obs_strmap_hash(&id, 4), &id, 4, s)) {
			free(s);
			free(lab);
			return -ENOMEM;
		}
		s->id = id;
	}
	if (s->n == s->cap && s->cap < x->max_per_series) {
		uint32_t nc = s->cap ? s->cap * 2 : 4;
		if (nc > x->max_per_series)
			nc = (uint32_t)x->max_per_series;
		if (OBS_RING_REGROW(s->e, s->cap, s->head, s->n, nc)) {
			if (!s->n) {
				obs_strmap_del(x->by_id, obs_strmap_hash(&id, 4), &id, 4);
				free(s);
			}
			free(lab);
			return -ENOMEM;
		}
		s->cap = nc;
		s->head = 0;
	}
	if (s->n == s->cap) {   /* the series is at its bound: its oldest goes */
		drop_oldest(x, s, 1);
		x->st.evicted++;
	}
	*at(s, s->n) = (struct ex){ t, v, ++x->seq, lab, (uint32_t)len };
	s->n++;
	x->live++;
	x->fifo[(x->fhead + x->fcount) % x->fcap] = (struct fent){ id, x->seq };
	x->fcount++;
	x->st.added++;
	if (t < x->min_t)
		x->min_t = t;
	if (x->live > x->max_total)
		evict_oldest(x);   /* never s's new one: it is the newest of all */
	return 0;
}

uint64_t obs_exstore_mark(const struct obs_exstore *x)
{
	return x->seq;
}

void obs_exstore_undo(struct obs_exstore *x, uint64_t mark)
{
	while (x->fcount) {
		struct fent f = x->fifo[(x->fhead + x->fcount - 1) % x->fcap];
		if (f.seq <= mark)
			break;
		x->fcount--;
		struct exs *s = find(x, f.id);
		if (!s || !s->n || at(s, s->n - 1)->seq != f.seq)
			continue;   /* evicted meanwhile */
		free(at(s, s->n - 1)->lab);
		s->n--;
		x->live--;
		x->st.added--;
		if (!s->n) {
			obs_strmap_del(x->by_id, obs_strmap_hash(&f.id, 4), &f.id, 4);
			series_free(s);
		}
	}
}

/* The place of seq in s's ring (seqs increase along it), s->n when absent. */
static uint32_t find_seq(const struct exs *s, uint64_t seq)
{
	uint32_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (at(s, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && at(s, lo)->seq == seq ? lo : s->n;
}

int obs_exstore_each(const struct obs_exstore *x, uint32_t id, int64_t from, int64_t to,
		     int (*fn)(void *ctx, int64_t t, double v, const char *labels, size_t len), void *ctx)
{
	const struct exs *s = find(x, id);
	for (uint32_t i = 0; s && i < s->n; i++) {
		const struct ex *e = at(s, i);
		if (e->t < from)
			continue;
		if (e->t > to)
			break;
		int rc = fn(ctx, e->t, e->v, e->lab, e->len);
		if (rc)
			return rc;
	}
	return 0;
}

/* The first FIFO position whose seq is above seq (seqs increase along
 * the FIFO), fcount when none. */
static size_t fifo_after(const struct obs_exstore *x, uint64_t seq)
{
	size_t lo = 0, hi = x->fcount;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->fifo[(x->fhead + mid) % x->fcap].seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int obs_exstore_each_between(const struct obs_exstore *x, uint64_t *from, uint64_t to, size_t max,
			     int (*fn)(void *ctx, uint32_t id, int64_t t, double v, const char *labels, size_t len),
			     void *ctx)
{
	size_t seen = 0;
	for (size_t i = fifo_after(x, *from); i < x->fcount; i++) {
		const struct fent *f = &x->fifo[(x->fhead + i) % x->fcap];
		if (f->seq > to)
			break;
		if (seen == max)
			return 1;
		const struct exs *s = find(x, f->id);
		uint32_t k = s ? find_seq(s, f->seq) : 0;
		*from = f->seq;
		if (!s || k == s->n)
			continue;   /* stale */
		const struct ex *e = at(s, k);
		seen++;
		int rc = fn(ctx, f->id, e->t, e->v, e->lab, e->len);
		if (rc)
			return rc;
	}
	return 0;
}

int obs_exstore_each_all(const struct obs_exstore *x,
			 int (*fn)(void *ctx, uint32_t id, int64_t t, double v, const char *labels, size_t len),
			 void *ctx)
{
	uint64_t from = 0;
	return obs_exstore_each_between(x, &from, UINT64_MAX, SIZE_MAX, fn, ctx);
}

size_t obs_exstore_expire(struct obs_exstore *x, int64_t cutoff)
{
	if (cutoff <= x->cutoff)
		return 0;
	x->cutoff = cutoff;
	if (cutoff <= x->min_t)
		return 0;
	size_t dropped = 0;
	int64_t min = INT64_MAX;
	for (size_t i = 0; i < x->fcount; i++) {
		const struct fent *f = &x->fifo[(x->fhead + i) % x->fcap];
		struct exs *s = find(x, f->id);
		if (!s || !s->n || at(s, 0)->seq != f->seq)
			continue;   /* stale, or not its series' oldest: newer than that one */
		if (at(s, 0)->t >= cutoff) {
			if (at(s, 0)->t < min)
				min = at(s, 0)->t;
			continue;
		}
		drop_oldest(x, s, 0);
		dropped++;
	}
	x->min_t = min;
	x->st.expired += dropped;
	if (dropped && x->fcount > 2 * x->live + 64)
		fifo_compact(x);
	return dropped;
}

struct retain_ctx {
	int (*keep)(void *ctx, uint32_t id);
	void *ctx;
	uint32_t *drop;
	size_t n, cap;
	int oom;
};

static int retain_one(void *ctx, const char *key, size_t n, void *val)
{
	struct retain_ctx *r = ctx;
	const struct exs *s = val;
	if (r->keep(r->ctx, s->id))
		return 0;
	if (OBS_VEC_RESERVE_FROM(r->drop, r->cap, r->n + 1, 64)) {
		r->oom = 1;
		return 1;
	}
	r->drop[r->n++] = s->id;
	return 0;
}

void obs_exstore_retain(struct obs_exstore *x, int (*keep)(void *ctx, uint32_t id), void *ctx)
{
	struct retain_ctx r = { keep, ctx, NULL, 0, 0, 0 };
	obs_strmap_each(x->by_id, retain_one, &r);
	for (size_t i = 0; i < r.n; i++) {
		struct exs *s = obs_strmap_del(x->by_id, obs_strmap_hash(&r.drop[i], 4), &r.drop[i], 4);
		if (s) {
			x->live -= s->n;
			series_free(s);
		}
	}
	free(r.drop);
	if (r.n)
		fifo_compact(x);
}

void obs_exstore_get_stats(const struct obs_exstore *x, struct obs_exstore_stats *st)
{
	*st = x->st;
	st->exemplars = x->live;
	st->series = obs_strmap_count(x->by_id);
}

int obs_exemplar_labels_canon(const char *raw, size_t n, struct obs_buf *out)
{
	int inq = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = raw[i];
		if (inq && ch == '\\' && i + 1 < n) {
			if (obs_buf_putc(out, ch) || obs_buf_putc(out, raw[++i]))
				return -ENOMEM;
			continue;
		}
		if (ch == '"')
			inq = !inq;
		else if (!inq && (ch == ' ' || ch == '\t'))
			continue;
		if (obs_buf_putc(out, ch))
			return -ENOMEM;
	}
	return 0;
}
