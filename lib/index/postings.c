/* postings.c — in-memory inverted label index (label name -> value -> series ids).
 *
 * Layout: an open-addressing hash table (XXH3, linear probing, backward-shift
 * deletion) of label names; each name holds a table of its values and the
 * bitmap of every series carrying the name ("any"). A value's postings list is
 * a CRoaring bitmap, or, while it holds a single series, just that id (most
 * values of high-cardinality labels such as instance ids are singletons, and
 * a roaring bitmap costs ~200 bytes). The index keeps the bitmap of all series.
 * Bitmaps are run-optimised each time their cardinality doubles (amortised
 * O(1) per add). Empty postings and names are deleted on remove, so
 * label_names/label_values only list what some series carries.
 *
 * Locking: one pthread rwlock (writer-preferring); add/remove take it for
 * writing, everything else for reading. Visitor callbacks run under the read
 * lock: they must not add to or remove from the same index.
 *
 * Select follows Prometheus: each matcher selects the values v of its label
 * for which match(v) differs from match("") — if the matcher does not match
 * "", the union of those postings is a positive term (intersected), otherwise
 * it is a negative term (subtracted, which also keeps series lacking the
 * label). Positive terms are intersected smallest first starting from the
 * cheap ones (direct lookups, literal alternations "a|b|c", ".*", ".+"); a
 * regex that needs a scan over a label's values runs last, only if the
 * result is still non-empty. With no positive term the start is all series.
 * Select is in postings_select.c; the structures in postings_int.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/vec.h"
#include "index/postings.h"
#include "index/postings_int.h"

/* ---- string-keyed hash table --------------------------------------------- */

static uint64_t hash_str(const char *k, size_t kl)
{
	return XXH3_64bits(k, kl);
}

static void *ht_get(const struct htab *t, uint64_t h, const char *k, size_t kl)
{
	if (!t->cap)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct hslot *s = &t->s[i];
		if (!s->e)
			return NULL;
		if (s->h == h) {
			const struct hhead *hd = s->e;
			if (hd->klen == kl && memcmp(hd->key, k, kl) == 0)
				return s->e;
		}
	}
}

static void ht_place(struct hslot *s, size_t cap, uint64_t h, void *e)
{
	size_t mask = cap - 1, i = h & mask;
	while (s[i].e)
		i = (i + 1) & mask;
	s[i].h = h;
	s[i].e = e;
}

/* Insert e (whose key is absent). 0 or -ENOMEM (table unchanged). */
static int ht_put(struct htab *t, uint64_t h, void *e)
{
	if (OBS_VEC_RESERVE_FROM(t->dense, t->dcap, t->n + 1, 4))
		return -ENOMEM;
	if ((t->n + 1) * 4 > t->cap * 3) {
		size_t ncap = t->cap ? t->cap * 2 : 8;
		struct hslot *ns = calloc(ncap, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < t->cap; i++)
			if (t->s[i].e)
				ht_place(ns, ncap, t->s[i].h, t->s[i].e);
		free(t->s);
		t->s = ns;
		t->cap = ncap;
	}
	ht_place(t->s, t->cap, h, e);
	((struct hhead *)e)->di = (uint32_t)t->n;
	t->dense[t->n++] = e;
	return 0;
}

static void ht_del(struct htab *t, uint64_t h, const void *e)
{
	size_t mask = t->cap - 1, i = h & mask;
	while (t->s[i].e != e)
		i = (i + 1) & mask;
	/* Backward shift: pull later entries of the probe run into the hole
	 * unless their home slot lies cyclically in (hole, j]. */
	for (size_t j = (i + 1) & mask; t->s[j].e; j = (j + 1) & mask) {
		size_t k = t->s[j].h & mask;
		int in = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!in) {
			t->s[i] = t->s[j];
			i = j;
		}
	}
	t->s[i].e = NULL;
	t->s[i].h = 0;
	uint32_t di = ((const struct hhead *)e)->di;
	t->dense[di] = t->dense[--t->n];
	((struct hhead *)t->dense[di])->di = di;
}

/* ---- postings ------------------------------------------------------------- */

#define OPT_FIRST 64

void ix_bm_free(roaring_bitmap_t *b)   /* CRoaring 0.2.66 rejects NULL */
{
	if (b)
		roaring_bitmap_free(b);
}

static int cbm_init(struct cbm *c)
{
	c->bm = roaring_bitmap_create();
	c->card = 0;
	c->next_opt = OPT_FIRST;
	return c->bm ? 0 : -ENOMEM;
}

static void cbm_add(struct cbm *c, uint32_t id)
{
	if (!roaring_bitmap_add_checked(c->bm, id))
		return;
	if (++c->card < c->next_opt)
		return;
	roaring_bitmap_run_optimize(c->bm);
	roaring_bitmap_shrink_to_fit(c->bm);
	c->next_opt = c->card >= UINT32_MAX / 2 ? UINT32_MAX : c->card * 2;
}

static void cbm_remove(struct cbm *c, uint32_t id)
{
	if (roaring_bitmap_remove_checked(c->bm, id))
		c->card--;
}

static void *entry_new(size_t size, const char *k, size_t kl)
{
	struct hhead *hd = calloc(1, size + kl + 1);
	if (!hd)
		return NULL;
	char *key = (char *)hd + size;
	memcpy(key, k, kl);
	key[kl] = 0;
	hd->key = key;
	hd->klen = (uint32_t)kl;
	return hd;
}

static uint64_t posting_card(const struct posting *p)
{
	return p->b.bm ? p->b.card : 1;
}

static int posting_add(struct posting *p, uint32_t id)
{
	if (!p->b.bm) {
		if (p->one == id)
			return 0;
		if (cbm_init(&p->b))
			return -ENOMEM;
		cbm_add(&p->b, p->one);
	}
	cbm_add(&p->b, id);
	return 0;
}

/* Remove id; returns the remaining cardinality. */
static uint64_t posting_remove(struct posting *p, uint32_t id)
{
	if (!p->b.bm)
		return p->one == id ? 0 : 1;
	cbm_remove(&p->b, id);
	uint64_t c = p->b.card;
	if (c == 1) {
		p->one = roaring_bitmap_minimum(p->b.bm);
		ix_bm_free(p->b.bm);
		p->b.bm = NULL;
	}
	return c;
}

static void posting_free(struct posting *p)
{
	if (p) {
		ix_bm_free(p->b.bm);
		free(p);
	}
}

static void lname_free(struct lname *ln)
{
	if (!ln)
		return;
	for (size_t i = 0; i < ln->vals.n; i++)
		posting_free(ln->vals.dense[i]);
	free(ln->vals.s);
	free(ln->vals.dense);
	ix_bm_free(ln->any.bm);
	free(ln);
}

struct lname *ix_name_get(const struct obs_index *ix, const char *name)
{
	size_t kl = strlen(name);
	return ht_get(&ix->names, hash_str(name, kl), name, kl);
}

struct posting *ix_val_get(const struct lname *ln, const char *v)
{
	size_t kl = strlen(v);
	return ht_get(&ln->vals, hash_str(v, kl), v, kl);
}

/* ---- lifecycle ------------------------------------------------------------ */

struct obs_index *obs_index_new(void)
{
	struct obs_index *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return NULL;
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int rc = pthread_rwlock_init(&ix->lock, &a);
	pthread_rwlockattr_destroy(&a);
	if (rc || cbm_init(&ix->all)) {
		if (!rc)
			pthread_rwlock_destroy(&ix->lock);
		ix_bm_free(ix->all.bm);
		free(ix);
		return NULL;
	}
	return ix;
}

void obs_index_free(struct obs_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->names.n; i++)
		lname_free(ix->names.dense[i]);
	free(ix->names.s);
	free(ix->names.dense);
	ix_bm_free(ix->all.bm);
	pthread_rwlock_destroy(&ix->lock);
	free(ix);
}

/* ---- add / remove --------------------------------------------------------- */

static int add_label(struct obs_index *ix, uint32_t id, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	uint64_t nh = hash_str(name, nl), vh = hash_str(value, vl);
	struct lname *ln = ht_get(&ix->names, nh, name, nl);
	int fresh = 0;
	if (!ln) {
		ln = entry_new(sizeof(*ln), name, nl);
		if (!ln)
			return -ENOMEM;
		if (cbm_init(&ln->any) || ht_put(&ix->names, nh, ln)) {
			lname_free(ln);
			return -ENOMEM;
		}
		fresh = 1;
	}
	struct posting *p = ht_get(&ln->vals, vh, value, vl);
	if (p) {
		if (posting_add(p, id))
			return -ENOMEM;
	} else {
		p = entry_new(sizeof(*p), value, vl);
		if (!p || ht_put(&ln->vals, vh, p)) {
			free(p);
			if (fresh) {
				ht_del(&ix->names, nh, ln);
				lname_free(ln);
			}
			return -ENOMEM;
		}
		p->one = id;
		ix->npairs++;
	}
	cbm_add(&ln->any, id);
	return 0;
}

/* On -ENOMEM the series may be indexed under some of its labels only;
 * obs_index_remove with the same labels undoes that. */
int obs_index_add(struct obs_index *ix, uint32_t id, const struct obs_labels *l)
{
	int rc = 0;
	pthread_rwlock_wrlock(&ix->lock);
	for (size_t i = 0; i < l->n && !rc; i++)
		if (l->v[i].value && l->v[i].value[0])
			rc = add_label(ix, id, l->v[i].name, l->v[i].value);
	if (!rc) {
		cbm_add(&ix->all, id);
	}
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}

int obs_index_remove(struct obs_index *ix, uint32_t id, const struct obs_labels *l)
{
	pthread_rwlock_wrlock(&ix->lock);
	for (size_t i = 0; i < l->n; i++) {
		const char *name = l->v[i].name, *value = l->v[i].value;
		if (!value || !value[0])
			continue;
		size_t nl = strlen(name), vl = strlen(value);
		uint64_t nh = hash_str(name, nl), vh = hash_str(value, vl);
		struct lname *ln = ht_get(&ix->names, nh, name, nl);
		if (!ln)
			continue;
		struct posting *p = ht_get(&ln->vals, vh, value, vl);
		if (!p)
			continue;
		if (posting_remove(p, id) == 0) {
			ht_del(&ln->vals, vh, p);
			posting_free(p);
			ix->npairs--;
		}
		cbm_remove(&ln->any, id);
		if (ln->vals.n == 0) {
			ht_del(&ix->names, nh, ln);
			lname_free(ln);
		}
	}
	cbm_remove(&ix->all, id);
	pthread_rwlock_unlock(&ix->lock);
	return 0;
}

/* ---- listing -------------------------------------------------------------- */

static int hd_cmp(const void *a, const void *b)
{
	const struct hhead *x = *(const struct hhead *const *)a, *y = *(const struct hhead *const *)b;
	return strcmp(x->key, y->key);
}

/* Sorted array of a table's entries (caller frees), NULL on ENOMEM. */
static void **sorted_entries(const struct htab *t)
{
	void **v = malloc((t->n ? t->n : 1) * sizeof(*v));
	size_t k = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		v[k++] = t->dense[i];
	qsort(v, k, sizeof(*v), hd_cmp);
	return v;
}

int obs_index_label_names(struct obs_index *ix, obs_index_str_fn fn, void *ctx)
{
	int rc = 0;
	pthread_rwlock_rdlock(&ix->lock);
	size_t n = ix->names.n;
	void **v = sorted_entries(&ix->names);
	if (!v)
		rc = -ENOMEM;
	for (size_t i = 0; v && i < n && !rc; i++) {
		const struct lname *ln = v[i];
		rc = fn(ctx, ln->hd.key, ln->any.card);
	}
	pthread_rwlock_unlock(&ix->lock);
	free(v);
	return rc;
}

int obs_index_label_values(struct obs_index *ix, const char *name, obs_index_str_fn fn, void *ctx)
{
	int rc = 0;
	pthread_rwlock_rdlock(&ix->lock);
	const struct lname *ln = ix_name_get(ix, name);
	if (ln) {
		size_t n = ln->vals.n;
		void **v = sorted_entries(&ln->vals);
		if (!v)
			rc = -ENOMEM;
		for (size_t i = 0; v && i < n && !rc; i++) {
			const struct posting *p = v[i];
			rc = fn(ctx, p->hd.key, posting_card(p));
		}
		free(v);
	}
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}

uint64_t obs_index_count(struct obs_index *ix, const char *name, const char *value)
{
	uint64_t c = 0;
	pthread_rwlock_rdlock(&ix->lock);
	const struct lname *ln = ix_name_get(ix, name);
	const struct posting *p = ln ? ix_val_get(ln, value) : NULL;
	if (p)
		c = posting_card(p);
	pthread_rwlock_unlock(&ix->lock);
	return c;
}

void obs_index_get_stats(struct obs_index *ix, struct obs_index_stats *st)
{
	memset(st, 0, sizeof(*st));
	roaring_bitmap_t *one = roaring_bitmap_create();
	if (one)
		roaring_bitmap_add(one, 0);
	uint64_t one_size = one ? roaring_bitmap_portable_size_in_bytes(one) : 0;
	ix_bm_free(one);
	pthread_rwlock_rdlock(&ix->lock);
	st->names = ix->names.n;
	st->pairs = ix->npairs;
	st->series = ix->all.card;
	for (size_t i = 0; i < ix->names.n; i++) {
		const struct lname *ln = ix->names.dense[i];
		for (size_t j = 0; j < ln->vals.n; j++) {
			const struct posting *p = ln->vals.dense[j];
			st->bytes += p->b.bm ? roaring_bitmap_portable_size_in_bytes(p->b.bm) : one_size;
		}
	}
	pthread_rwlock_unlock(&ix->lock);
}
