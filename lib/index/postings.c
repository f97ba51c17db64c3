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
 * result is still non-empty. With no positive term the start is all series. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/vec.h"
#include "index/postings.h"

/* ---- string-keyed hash table --------------------------------------------- */

struct hhead {                 /* first member of every table entry */
	const char *key;       /* NUL-terminated, stored with the entry */
	uint32_t klen;
	uint32_t di;           /* index in the table's dense array */
};

struct hslot {
	uint64_t h;
	void *e;               /* NULL: empty slot */
};

/* Entries are also kept in a dense array (insertion order, swap-removed):
 * scans follow it, touching memory roughly in allocation order instead of
 * hopping through the slots. */
struct htab {
	struct hslot *s;
	size_t cap, n;         /* cap: 0 or a power of two */
	void **dense;          /* n entries */
	size_t dcap;
};

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

/* A bitmap with its cardinality kept by hand: CRoaring recomputes it by
 * walking the containers (every run of a run container). */
struct cbm {
	roaring_bitmap_t *bm;
	uint32_t card;
	uint32_t next_opt;     /* run-optimise when card reaches this */
};

struct posting {
	struct hhead hd;
	struct cbm b;          /* b.bm NULL: exactly the series `one` */
	uint32_t one;
	char key[];
};

struct lname {
	struct hhead hd;
	struct htab vals;      /* of struct posting */
	struct cbm any;        /* series carrying this label */
	char key[];
};

struct obs_index {
	pthread_rwlock_t lock;
	struct htab names;     /* of struct lname; guarded by lock, as all below */
	struct cbm all;
	uint64_t npairs;
};

#define OPT_FIRST 64

static void bm_free(roaring_bitmap_t *b)   /* CRoaring 0.2.66 rejects NULL */
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
		bm_free(p->b.bm);
		p->b.bm = NULL;
	}
	return c;
}

static void posting_free(struct posting *p)
{
	if (p) {
		bm_free(p->b.bm);
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
	bm_free(ln->any.bm);
	free(ln);
}

static struct lname *name_get(const struct obs_index *ix, const char *name)
{
	size_t kl = strlen(name);
	return ht_get(&ix->names, hash_str(name, kl), name, kl);
}

static struct posting *val_get(const struct lname *ln, const char *v)
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
		bm_free(ix->all.bm);
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
	bm_free(ix->all.bm);
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

/* ---- select --------------------------------------------------------------- */

struct term {
	roaring_bitmap_t *bm;
	int owned;
	int pos;               /* 1: intersect, 0: subtract */
	uint64_t card;
};

enum { T_OK, T_SKIP, T_EMPTY, T_DEFER, T_NOMEM };

/* Does every non-empty value match the regex source? */
static int re_all_nonempty(const char *re)
{
	return strcmp(re, ".*") == 0 || strcmp(re, ".+") == 0;
}

/* Split a regex that is an alternation of literals ("a|b\.c|") into
 * NUL-separated literals in buf (strlen(re)+1 bytes). Returns the number of
 * literals, or -1 when re uses any other regex syntax. */
static int re_literals(const char *re, char *buf)
{
	int n = 1;
	char *o = buf;
	for (const char *p = re; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '|') {
			*o++ = 0;
			n++;
		} else if (c == '\\') {
			unsigned char d = (unsigned char)p[1];
			if (!d || (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') ||
			    (d >= 'A' && d <= 'Z') || d >= 0x80)
				return -1;
			*o++ = (char)d;
			p++;
		} else if (strchr(".^$?*+()[]{}", c)) {
			return -1;
		} else {
			*o++ = (char)c;
		}
	}
	*o = 0;
	return n;
}

/* Length of the literal prefix every match of the anchored regex re must
 * start with: leading plain characters, minus the last code point when a
 * quantifier follows it. 0 when re has an alternation anywhere (a top-level
 * '|' would allow other starts) or starts with syntax. */
static size_t re_prefix(const char *re)
{
	if (strchr(re, '|'))
		return 0;
	size_t n = strcspn(re, "\\.^$?*+()[]{}");
	if (n && re[n] && strchr("?*+{", re[n])) {
		n--;
		while (n && ((unsigned char)re[n] & 0xC0) == 0x80)
			n--;               /* drop the whole code point */
	}
	return n;
}

/* Union of postings into a new bitmap (NULL on ENOMEM). */
struct unionb {
	const roaring_bitmap_t **bms;
	uint32_t *ones;
	size_t nb, nones, cap;
};

static int union_push(struct unionb *u, const struct posting *p)
{
	if (u->nb == u->cap || u->nones == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 16;
		const roaring_bitmap_t **b = realloc(u->bms, nc * sizeof(*b));
		if (b)
			u->bms = b;
		uint32_t *o = realloc(u->ones, nc * sizeof(*o));
		if (o)
			u->ones = o;
		if (!b || !o)
			return -ENOMEM;
		u->cap = nc;
	}
	if (p->b.bm)
		u->bms[u->nb++] = p->b.bm;
	else
		u->ones[u->nones++] = p->one;
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static roaring_bitmap_t *union_finish(struct unionb *u)
{
	roaring_bitmap_t *r = u->nb ? roaring_bitmap_or_many(u->nb, u->bms) : roaring_bitmap_create();
	if (r && u->nones) {
		/* sorted ids append to containers instead of inserting mid-array */
		qsort(u->ones, u->nones, sizeof(*u->ones), u32_cmp);
		roaring_bitmap_add_many(r, u->nones, u->ones);
	}
	free(u->bms);
	free(u->ones);
	memset(u, 0, sizeof(*u));
	return r;
}

static void term_set_posting(struct term *t, const struct posting *p)
{
	if (p->b.bm) {
		t->bm = p->b.bm;
		t->owned = 0;
	} else {
		t->bm = roaring_bitmap_create();
		t->owned = 1;
		if (t->bm)
			roaring_bitmap_add(t->bm, p->one);
	}
}

/* Build the term of one matcher: the values v of its label whose match(v)
 * differs from match(""). generic: whether a scan over the values is allowed. */
static int term_build(const struct obs_index *ix, const struct obs_matcher *m,
		      struct term *t, int generic, pcre2_match_data *md)
{
	const struct lname *ln = name_get(ix, m->name);
	int me = obs_matcher_matches_empty(m);
	memset(t, 0, sizeof(*t));
	t->pos = !me;
	if (m->op == OBS_MATCH_EQ || m->op == OBS_MATCH_NE) {
		if (!m->value[0]) {
			if (ln)
				t->bm = ln->any.bm;
		} else {
			const struct posting *p = ln ? val_get(ln, m->value) : NULL;
			if (p) {
				term_set_posting(t, p);
				if (!t->bm)
					return T_NOMEM;
			}
		}
	} else if (re_all_nonempty(m->value)) {
		int mv = m->op == OBS_MATCH_RE;
		if (ln && mv != me)
			t->bm = ln->any.bm;
	} else {
		size_t vl = strlen(m->value);
		char *buf = malloc(vl + 1);
		if (!buf)
			return T_NOMEM;
		int nlit = re_literals(m->value, buf);
		if (nlit < 0 && !generic) {
			free(buf);
			return T_DEFER;
		}
		if (!ln) {
			free(buf);
			return t->pos ? T_EMPTY : T_SKIP;
		}
		struct unionb u = {0};
		int rc = 0;
		if (nlit >= 0) {
			const char *s = buf;
			for (int i = 0; i < nlit && !rc; i++, s += strlen(s) + 1) {
				const struct posting *p = *s ? val_get(ln, s) : NULL;
				if (p)
					rc = union_push(&u, p);
			}
		} else {
			struct obs_matcher lm = *m;   /* private match data, same pattern */
			lm.md = md;
			size_t pl = re_prefix(m->value);
			int nomatch = m->op == OBS_MATCH_NRE;   /* result without the prefix */
			for (size_t i = 0; i < ln->vals.n && !rc; i++) {
				const struct posting *p = ln->vals.dense[i];
				int r = p->hd.klen >= pl && memcmp(p->hd.key, m->value, pl) == 0
					? obs_matcher_match(&lm, p->hd.key) : nomatch;
				if (r != me)
					rc = union_push(&u, p);
			}
		}
		free(buf);
		roaring_bitmap_t *un = union_finish(&u);
		if (rc || !un) {
			bm_free(un);
			return T_NOMEM;
		}
		/* For literals, values in the list match iff op is RE. */
		if (nlit >= 0 && (m->op == OBS_MATCH_RE) == me) {
			roaring_bitmap_t *d = roaring_bitmap_andnot(ln->any.bm, un);
			bm_free(un);
			if (!d)
				return T_NOMEM;
			un = d;
		}
		t->bm = un;
		t->owned = 1;
	}
	t->card = t->bm ? roaring_bitmap_get_cardinality(t->bm) : 0;
	if (t->card == 0) {
		if (t->owned)
			bm_free(t->bm);
		t->bm = NULL;
		return t->pos ? T_EMPTY : T_SKIP;
	}
	return T_OK;
}

static int term_cmp(const void *a, const void *b)
{
	const struct term *x = a, *y = b;
	if (x->pos != y->pos)
		return y->pos - x->pos;        /* positives first */
	return x->card < y->card ? -1 : x->card > y->card;
}

static void term_drop(struct term *t)
{
	if (t->owned)
		bm_free(t->bm);
	t->bm = NULL;
}

/* Apply terms to *res (NULL: not started). Returns 0, 1 when the result is
 * empty, -ENOMEM. Terms are consumed. */
static int apply_terms(const struct obs_index *ix, roaring_bitmap_t **res, struct term *t, size_t nt)
{
	qsort(t, nt, sizeof(*t), term_cmp);
	for (size_t i = 0; i < nt; i++) {
		if (!*res) {
			if (t[i].pos && t[i].owned) {
				*res = t[i].bm;
				t[i].owned = 0;
				continue;
			}
			*res = roaring_bitmap_copy(t[i].pos ? t[i].bm : ix->all.bm);
			if (!*res)
				return -ENOMEM;
			if (t[i].pos)
				continue;
		}
		if (t[i].pos)
			roaring_bitmap_and_inplace(*res, t[i].bm);
		else
			roaring_bitmap_andnot_inplace(*res, t[i].bm);
		if (roaring_bitmap_is_empty(*res))
			return 1;
	}
	return 0;
}

roaring_bitmap_t *obs_index_select(struct obs_index *ix, const struct obs_matcher *m, size_t n)
{
	struct term *t = calloc(n ? n : 1, sizeof(*t));
	char *deferred = calloc(n ? n : 1, 1);
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	roaring_bitmap_t *res = NULL;
	int rc = 0;
	if (!t || !deferred || !md)
		goto nomem;
	pthread_rwlock_rdlock(&ix->lock);
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		size_t nt = 0;
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (pass == 1 && !deferred[i])
				continue;
			int k = term_build(ix, &m[i], &t[nt], pass == 1, md);
			switch (k) {
			case T_OK:    nt++; break;
			case T_SKIP:  break;
			case T_DEFER: deferred[i] = 1; break;
			case T_EMPTY: rc = 1; break;
			default:      rc = -ENOMEM; break;
			}
		}
		if (rc == 0)
			rc = apply_terms(ix, &res, t, nt);
		for (size_t i = 0; i < nt; i++)
			term_drop(&t[i]);
	}
	if (rc == 0 && !res)
		res = roaring_bitmap_copy(ix->all.bm);
	pthread_rwlock_unlock(&ix->lock);
	if (rc < 0 || (rc == 0 && !res))
		goto nomem;
	if (rc == 1) {
		bm_free(res);
		res = roaring_bitmap_create();
	}
	free(t);
	free(deferred);
	pcre2_match_data_free(md);
	return res;
nomem:
	bm_free(res);
	free(t);
	free(deferred);
	if (md)
		pcre2_match_data_free(md);
	return NULL;
}

roaring_bitmap_t *obs_index_all(struct obs_index *ix)
{
	pthread_rwlock_rdlock(&ix->lock);
	roaring_bitmap_t *r = roaring_bitmap_copy(ix->all.bm);
	pthread_rwlock_unlock(&ix->lock);
	return r;
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
	const struct lname *ln = name_get(ix, name);
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
	const struct lname *ln = name_get(ix, name);
	const struct posting *p = ln ? val_get(ln, value) : NULL;
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
	bm_free(one);
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
