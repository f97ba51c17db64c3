/* assemble.c — per-trace span buffers, completion, decisions and the
 * decision cache (libobs traces). See assemble.h.
 *
 * Buffered traces sit in a chained hash table by trace id and on one list
 * ordered by their last update (the head is the quietest: the next to be
 * due, and the first to go when memory is full). A trace whose root is
 * present and that got a span since it was last looked at sits on the dirty
 * list; tick checks those for early completion. Each trace's spans are one
 * byte buffer of (u32 length, encoding) entries. The decision cache is a
 * ring of the last cache_size decisions (the oldest is forgotten first)
 * with a chained hash index over it. */
#include "traces/assemble.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/buf.h"

struct tbuf {
	uint8_t id[16];
	struct tbuf *hnext;              /* hash chain */
	struct tbuf *prev, *next;        /* by last update, oldest first */
	struct tbuf *dnext, *dprev;      /* dirty list (doubly linked: O(1) removal) */
	int64_t first_ms, last_ms;
	uint32_t nspans;
	uint8_t has_root, dirty, head;   /* head: 0 none, 1 sampled by the sender */
	struct obs_buf spans;            /* (u32 len, blob)* */
};

struct centry { uint8_t id[16]; uint8_t state; uint32_t next; };  /* state 0 empty, 1 keep, 2 drop;
								  next: ring index + 1 in the chain */

struct obs_tasm {
	struct obs_tasm_opts o;
	struct obs_policy_set *ps;
	obs_tasm_emit_fn emit;
	void *ctx;
	struct tbuf **tab;
	size_t tabsize;                  /* power of 2 */
	struct tbuf *oldest, *newest, *dirty;
	struct centry *cache;            /* ring of ccap entries */
	uint32_t *cbuckets;              /* cmask + 1 chain heads (ring index + 1) */
	size_t ccap, chead, cmask;
	struct obs_tasm_stats st;
	struct obs_span *sp;             /* policy_decide's scratch */
	size_t spcap;
};

void obs_tasm_opts_default(struct obs_tasm_opts *o)
{
	*o = (struct obs_tasm_opts){ 10000, 50000, 1000000, 65536, 0 };
}

static uint64_t idhash(const uint8_t *id) { return XXH3_64bits(id, 16); }

int obs_tasm_new(const struct obs_tasm_opts *o, struct obs_policy_set *ps, obs_tasm_emit_fn emit, void *ctx,
		 struct obs_tasm **out)
{
	struct obs_tasm *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	if (o)
		a->o = *o;
	else
		obs_tasm_opts_default(&a->o);
	a->ccap = a->o.cache_size ? a->o.cache_size : 1;
	if (a->ccap > ((size_t)1 << 30))
		a->ccap = (size_t)1 << 30;
	size_t c = 1;
	while (c < a->ccap)
		c <<= 1;
	a->cmask = c - 1;
	a->tabsize = 1024;
	a->tab = calloc(a->tabsize, sizeof *a->tab);
	a->cache = calloc(a->ccap, sizeof *a->cache);
	a->cbuckets = calloc(c, sizeof *a->cbuckets);
	if (!a->tab || !a->cache || !a->cbuckets) {
		free(a->tab);
		free(a->cache);
		free(a->cbuckets);
		free(a);
		return -ENOMEM;
	}
	a->ps = ps;
	a->emit = emit;
	a->ctx = ctx;
	*out = a;
	return 0;
}

static void tbuf_free(struct tbuf *t)
{
	obs_buf_release(&t->spans);
	free(t);
}

void obs_tasm_free(struct obs_tasm *a)
{
	if (!a)
		return;
	for (struct tbuf *t = a->oldest, *n; t; t = n) {
		n = t->next;
		tbuf_free(t);
	}
	free(a->tab);
	free(a->cache);
	free(a->cbuckets);
	free(a->sp);
	free(a);
}

void obs_tasm_set_policy(struct obs_tasm *a, struct obs_policy_set *ps, const struct obs_tasm_opts *o)
{
	a->ps = ps;
	if (o) {
		size_t cs = a->o.cache_size;
		a->o = *o;
		a->o.cache_size = cs;   /* the cache keeps its size */
	}
}

/* ---- cache ------------------------------------------------------------------ */

static struct centry *cfind(struct obs_tasm *a, const uint8_t *id)
{
	for (uint32_t i = a->cbuckets[idhash(id) & a->cmask]; i; i = a->cache[i - 1].next)
		if (!memcmp(a->cache[i - 1].id, id, 16))
			return &a->cache[i - 1];
	return NULL;
}

static void cache_put(struct obs_tasm *a, const uint8_t *id, int keep)
{
	struct centry *e = cfind(a, id);
	if (e) {
		e->state = keep ? 1 : 2;
		return;
	}
	size_t slot = a->chead;
	a->chead = (a->chead + 1) % a->ccap;
	e = &a->cache[slot];
	if (e->state) {   /* forget the oldest decision: unlink it from its chain */
		uint32_t *p = &a->cbuckets[idhash(e->id) & a->cmask];
		while (*p && *p != slot + 1)
			p = &a->cache[*p - 1].next;
		if (*p)
			*p = e->next;
	}
	memcpy(e->id, id, 16);
	e->state = keep ? 1 : 2;
	uint32_t *b = &a->cbuckets[idhash(id) & a->cmask];
	e->next = *b;
	*b = (uint32_t)slot + 1;
}

int obs_tasm_cached(struct obs_tasm *a, const uint8_t trace_id[16])
{
	struct centry *e = cfind(a, trace_id);
	return e ? e->state == 1 : -1;
}

/* ---- the table ---------------------------------------------------------------- */

static struct tbuf **find(struct obs_tasm *a, const uint8_t *id)
{
	struct tbuf **p = &a->tab[idhash(id) & (a->tabsize - 1)];
	while (*p && memcmp((*p)->id, id, 16))
		p = &(*p)->hnext;
	return p;
}

static void grow(struct obs_tasm *a)
{
	size_t ns = a->tabsize * 2;
	struct tbuf **nt = calloc(ns, sizeof *nt);
	if (!nt)
		return;   /* longer chains, still correct */
	for (size_t i = 0; i < a->tabsize; i++)
		for (struct tbuf *t = a->tab[i], *n; t; t = n) {
			n = t->hnext;
			size_t h = idhash(t->id) & (ns - 1);
			t->hnext = nt[h];
			nt[h] = t;
		}
	free(a->tab);
	a->tab = nt;
	a->tabsize = ns;
}

static void list_unlink(struct obs_tasm *a, struct tbuf *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		a->oldest = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		a->newest = t->prev;
	t->prev = t->next = NULL;
}

static void list_append(struct obs_tasm *a, struct tbuf *t)
{
	t->prev = a->newest;
	t->next = NULL;
	if (a->newest)
		a->newest->next = t;
	else
		a->oldest = t;
	a->newest = t;
}

/* Take t out of every structure (the caller frees it). */
static void detach(struct obs_tasm *a, struct tbuf *t)
{
	struct tbuf **p = find(a, t->id);
	if (*p == t)
		*p = t->hnext;
	list_unlink(a, t);
	if (t->dirty) {
		if (t->dprev)
			t->dprev->dnext = t->dnext;
		else
			a->dirty = t->dnext;
		if (t->dnext)
			t->dnext->dprev = t->dprev;
		t->dirty = 0;
		t->dnext = t->dprev = NULL;
	}
	a->st.buffered_traces--;
	a->st.buffered_spans -= t->nspans;
	a->st.buffered_bytes -= t->spans.cap + sizeof *t;
}

/* Emit t's spans with a decision, cache it, free t. */
static int decide(struct obs_tasm *a, struct tbuf *t, int keep, enum obs_tdec_why why, const char *by)
{
	detach(a, t);
	cache_put(a, t->id, keep);
	size_t n = t->nspans;
	const uint8_t **blobs = malloc((n ? n : 1) * sizeof *blobs);
	uint32_t *lens = malloc((n ? n : 1) * sizeof *lens);
	int rc = 0;
	if (!blobs || !lens)
		rc = -ENOMEM;
	else {
		size_t pos = 0;
		for (size_t i = 0; i < n; i++) {
			memcpy(&lens[i], t->spans.data + pos, 4);
			blobs[i] = (const uint8_t *)t->spans.data + pos + 4;
			pos += 4 + lens[i];
		}
		if (keep) {
			a->st.kept_traces++;
			a->st.kept_spans += n;
		} else if (why == OBS_TDEC_TOO_EARLY) {
			a->st.dropped_too_early++;
			a->st.dropped_too_early_spans += n;
		} else {
			a->st.dropped_by_policy++;
			a->st.dropped_by_policy_spans += n;
		}
		rc = a->emit ? a->emit(a->ctx, t->id, keep, why, by, blobs, lens, n) : 0;
	}
	free(blobs);
	free(lens);
	tbuf_free(t);
	return rc;
}

static int policy_decide(struct obs_tasm *a, struct tbuf *t, int64_t now)
{
	if (t->head)
		return decide(a, t, 1, OBS_TDEC_HEAD, "head_sampling");
	if (t->nspans > a->spcap) {
		struct obs_span *ns = realloc(a->sp, t->nspans * sizeof *ns);
		if (!ns)
			return -ENOMEM;
		a->sp = ns;
		a->spcap = t->nspans;
	}
	struct obs_span *sp = a->sp;
	size_t pos = 0, n = 0;
	for (uint32_t i = 0; i < t->nspans; i++) {
		uint32_t len;
		memcpy(&len, t->spans.data + pos, 4);
		if (!obs_span_view((const uint8_t *)t->spans.data + pos + 4, len, &sp[n]))   /* checked at the door */
			n++;
		pos += 4 + len;
	}
	const char *by = "";
	int keep = a->ps ? obs_policy_decide(a->ps, t->id, sp, n, now, &by) : 1;
	return decide(a, t, keep, OBS_TDEC_POLICY, by);
}

static int id_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* Every parent named by a span of t is a span of t: pairwise for a small
 * trace, else through a sorted list of its ids. */
static int parents_present(const struct tbuf *t)
{
	if (t->nspans <= 16) {
		const uint8_t *b[16];
		size_t pos = 0;
		for (uint32_t i = 0; i < t->nspans; i++) {
			uint32_t len;
			memcpy(&len, t->spans.data + pos, 4);
			b[i] = (const uint8_t *)t->spans.data + pos + 4;
			pos += 4 + len;
		}
		for (uint32_t i = 0; i < t->nspans; i++) {
			if (!(b[i][33] & OBS_SPAN_HAS_PARENT))
				continue;
			uint32_t j = 0;
			while (j < t->nspans && memcmp(b[j] + 17, b[i] + 25, 8))
				j++;
			if (j == t->nspans)
				return 0;
		}
		return 1;
	}
	uint64_t *ids = malloc(t->nspans * sizeof *ids);
	if (!ids)
		return 0;
	size_t pos = 0;
	for (uint32_t i = 0; i < t->nspans; i++) {
		uint32_t len;
		memcpy(&len, t->spans.data + pos, 4);
		memcpy(&ids[i], t->spans.data + pos + 4 + 17, 8);
		pos += 4 + len;
	}
	qsort(ids, t->nspans, sizeof *ids, id_cmp);
	int ok = 1;
	pos = 0;
	for (uint32_t i = 0; i < t->nspans && ok; i++) {
		uint32_t len;
		memcpy(&len, t->spans.data + pos, 4);
		const uint8_t *b = (const uint8_t *)t->spans.data + pos + 4;
		if (b[33] & OBS_SPAN_HAS_PARENT) {
			uint64_t p;
			memcpy(&p, b + 25, 8);
			ok = bsearch(&p, ids, t->nspans, sizeof *ids, id_cmp) != NULL;
		}
		pos += 4 + len;
	}
	free(ids);
	return ok;
}


static int evict_one(struct obs_tasm *a, struct tbuf *keep_me)
{
	struct tbuf *v = a->oldest;
	if (v == keep_me)
		v = v->next;
	if (!v)
		return 0;
	int rc = decide(a, v, 0, OBS_TDEC_TOO_EARLY, "");
	return rc ? rc : 1;
}

int obs_tasm_add(struct obs_tasm *a, const struct obs_span *s, const uint8_t *blob, size_t n, int64_t now_ms)
{
	int c = obs_tasm_cached(a, s->trace_id);
	if (c >= 0) {
		/* a late span: it follows the decision taken for its trace */
		const uint8_t *b[1] = { blob };
		uint32_t l[1] = { (uint32_t)n };
		a->st.late_spans++;
		if (c) {
			a->st.kept_spans++;
		} else {
			a->st.dropped_by_policy_spans++;
		}
		return a->emit ? a->emit(a->ctx, s->trace_id, c, OBS_TDEC_LATE, "", b, l, 1) : 0;
	}
	int rc;
	struct tbuf **p = find(a, s->trace_id), *t = *p;
	if (!t) {
		while (a->st.buffered_traces >= a->o.max_traces)
			if ((rc = evict_one(a, NULL)) <= 0)
				return rc;
		if (!(t = calloc(1, sizeof *t)))
			return -ENOMEM;
		memcpy(t->id, s->trace_id, 16);
		t->first_ms = now_ms;
		p = find(a, s->trace_id);   /* eviction may have changed the chain */
		t->hnext = *p;
		*p = t;
		list_append(a, t);
		a->st.buffered_traces++;
		a->st.buffered_bytes += sizeof *t;
		if (a->st.buffered_traces > a->tabsize)
			grow(a);
	} else {
		list_unlink(a, t);
		list_append(a, t);
	}
	while (a->st.buffered_spans >= a->o.max_spans) {
		if ((rc = evict_one(a, t)) < 0)
			return rc;
		if (rc == 0) {
			/* this trace alone fills the buffer: the span cannot be kept */
			a->st.dropped_too_early_spans++;
			return 0;
		}
	}
	uint32_t len = (uint32_t)n;
	size_t oldcap = t->spans.cap, oldlen = t->spans.len;
	if (obs_buf_append(&t->spans, &len, 4) || obs_buf_append(&t->spans, blob, n)) {
		t->spans.len = oldlen;
		a->st.buffered_bytes += t->spans.cap - oldcap;
		return -ENOMEM;
	}
	a->st.buffered_bytes += t->spans.cap - oldcap;
	t->nspans++;
	t->last_ms = now_ms;
	a->st.buffered_spans++;
	if (obs_span_is_root(s))
		t->has_root = 1;
	if (a->o.head_honour && (s->flags & OBS_SPAN_HAS_TFLAGS)) {
		if (!(s->trace_flags & 1))
			return decide(a, t, 0, OBS_TDEC_HEAD, "head_sampling");
		t->head = 1;
	}
	if (t->has_root && !t->dirty) {
		t->dirty = 1;
		t->dprev = NULL;
		t->dnext = a->dirty;
		if (a->dirty)
			a->dirty->dprev = t;
		a->dirty = t;
	}
	return 0;
}

int obs_tasm_tick(struct obs_tasm *a, int64_t now_ms)
{
	int rc = 0;
	/* early: root present and every parent there */
	struct tbuf *d = a->dirty;
	a->dirty = NULL;
	while (d && !rc) {
		struct tbuf *n = d->dnext;
		d->dirty = 0;
		d->dnext = d->dprev = NULL;
		if (n)
			n->dprev = NULL;   /* n heads what is left of the detached list */
		if (parents_present(d)) {
			a->st.decided_early++;
			rc = policy_decide(a, d, now_ms);
		}
		d = n;
	}
	while (d) {   /* an error stopped us: the rest are looked at next time they get a span */
		struct tbuf *n = d->dnext;
		d->dirty = 0;
		d->dnext = d->dprev = NULL;
		d = n;
	}
	/* quiet for decision_wait (3x without a root) */
	struct tbuf *t = a->oldest;
	while (t && !rc) {
		struct tbuf *n = t->next;
		int64_t wait = t->has_root ? a->o.decision_wait_ms : 3 * a->o.decision_wait_ms;
		if (t->last_ms + a->o.decision_wait_ms > now_ms)
			break;   /* the rest are newer */
		if (t->last_ms + wait <= now_ms) {
			if (!t->has_root)
				a->st.decided_without_root++;
			rc = policy_decide(a, t, now_ms);
		}
		t = n;
	}
	return rc;
}

int obs_tasm_flush(struct obs_tasm *a, int64_t now_ms)
{
	int rc = 0;
	while (a->oldest && !rc)
		rc = policy_decide(a, a->oldest, now_ms);
	return rc;
}

int obs_tasm_apply(struct obs_tasm *a, const uint8_t trace_id[16], int keep)
{
	struct tbuf *t = *find(a, trace_id);
	if (t)
		return decide(a, t, keep, OBS_TDEC_REPLAY, "");
	cache_put(a, trace_id, keep);
	return 0;
}

int obs_tasm_foreach_span(struct obs_tasm *a, int (*fn)(void *ctx, const uint8_t *blob, size_t n), void *ctx)
{
	for (struct tbuf *t = a->oldest; t; t = t->next) {
		size_t pos = 0;
		for (uint32_t i = 0; i < t->nspans; i++) {
			uint32_t len;
			memcpy(&len, t->spans.data + pos, 4);
			int rc = fn(ctx, (const uint8_t *)t->spans.data + pos + 4, len);
			if (rc)
				return rc;
			pos += 4 + len;
		}
	}
	return 0;
}

int obs_tasm_foreach_decision(struct obs_tasm *a, int (*fn)(void *ctx, const uint8_t id[16], int keep), void *ctx)
{
	for (size_t k = 0; k < a->ccap; k++) {   /* oldest first, so a replay keeps the newest */
		size_t i = (a->chead + k) % a->ccap;
		if (a->cache[i].state) {
			int rc = fn(ctx, a->cache[i].id, a->cache[i].state == 1);
			if (rc)
				return rc;
		}
	}
	return 0;
}

void obs_tasm_get_stats(const struct obs_tasm *a, struct obs_tasm_stats *st) { *st = a->st; }
