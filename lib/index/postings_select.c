/* postings_select.c — label selection over the index: each matcher a
 * positive or negative term of postings, intersected smallest first (the
 * rules are in postings.c's top comment). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/vec.h"
#include "index/postings_int.h"

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
	if (OBS_VEC_RESERVE2(u->bms, u->ones, u->cap, (u->nb > u->nones ? u->nb : u->nones) + 1, 16))
		return -ENOMEM;
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
	const struct lname *ln = ix_name_get(ix, m->name);
	int me = obs_matcher_matches_empty(m);
	memset(t, 0, sizeof(*t));
	t->pos = !me;
	if (m->op == OBS_MATCH_EQ || m->op == OBS_MATCH_NE) {
		if (!m->value[0]) {
			if (ln)
				t->bm = ln->any.bm;
		} else {
			const struct posting *p = ln ? ix_val_get(ln, m->value) : NULL;
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
				const struct posting *p = *s ? ix_val_get(ln, s) : NULL;
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
			ix_bm_free(un);
			return T_NOMEM;
		}
		/* For literals, values in the list match iff op is RE. */
		if (nlit >= 0 && (m->op == OBS_MATCH_RE) == me) {
			roaring_bitmap_t *d = roaring_bitmap_andnot(ln->any.bm, un);
			ix_bm_free(un);
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
			ix_bm_free(t->bm);
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
		ix_bm_free(t->bm);
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
		ix_bm_free(res);
		res = roaring_bitmap_create();
	}
	free(t);
	free(deferred);
	pcre2_match_data_free(md);
	return res;
nomem:
	ix_bm_free(res);
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
