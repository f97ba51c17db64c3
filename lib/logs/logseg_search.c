/* logseg_search.c — searching a log segment (libobs logs): the planner
 * turns a query and a time range into a bitmap of candidate lines from the
 * field and trigram indexes (exact where the index answers the question
 * alone), then only the frames holding candidates are decompressed and,
 * when the plan is inexact, their lines tested. Counts are answered from
 * the bitmaps alone when they are exact. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/corrupt.h"
#include "logs/logline.h"
#include "logs/logseg_int.h"

/* ---- planner ------------------------------------------------------------ */

struct plan {
	roaring_bitmap_t *bm;   /* candidate lines */
	int exact;              /* bm is exactly the matching lines */
};

static roaring_bitmap_t *full(const struct obs_logseg *s)
{
	roaring_bitmap_t *b = roaring_bitmap_create();
	if (b && s->nlines)
		roaring_bitmap_add_range(b, 0, s->nlines);
	return b;
}

/* lines of frames whose trigram hashes contain all of the text's trigrams */
static roaring_bitmap_t *tri_lines(const struct obs_logseg *s, const char *t, size_t tn)
{
	roaring_bitmap_t *b = roaring_bitmap_create();
	if (!b)
		return NULL;
	for (uint32_t f = 0; f < s->nframes; f++) {
		int ok = 1;
		for (size_t k = 0; ok && k + 2 < tn; k++)
			ok = roaring_bitmap_contains(s->tri, f << 16 | tri_hash((const uint8_t *)t + k));
		if (ok)
			roaring_bitmap_add_range(b, s->fr[f].first_line, s->fr[f].first_line + s->fr[f].nlines);
	}
	return b;
}

/* The longest literal every match of a regex must contain (0 when unsure):
 * runs of plain characters outside groups and classes, with a character
 * followed by ?, * or {..} dropped. Patterns with '|', inline options or
 * caseless matching give nothing. */
static size_t regex_literal(const char *re, size_t n, char *out, size_t cap)
{
	char run[256];
	size_t rl = 0, best = 0;
	int depth = 0;
	if (memchr(re, '|', n) || (n > 1 && re[0] == '(' && re[1] == '?'))
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? re[i] : 0;
		int lit = 0;
		char ch = 0;
		if (i == n) {
			lit = 0;
		} else if (c == '\\' && i + 1 < n) {
			char e = re[i + 1];
			if (strchr(".^$|?*+()[]{}\\/-", e)) {
				lit = 1;
				ch = e;
			}
			i++;
		} else if (strchr(".^$?*+()[]{}", c)) {
			if (c == '(')
				depth++;
			else if (c == ')' && depth)
				depth--;
			else if (c == '[') {   /* skip the class */
				i++;
				if (i < n && re[i] == ']')
					i++;
				while (i < n && re[i] != ']')
					i += re[i] == '\\' ? 2 : 1;
			} else if ((c == '?' || c == '*' || c == '{') && rl)
				rl--;          /* the previous character is optional */
			if (c == '*' || c == '?' || c == '{' || c == '+') {
				if (c == '{')
					while (i < n && re[i] != '}')
						i++;
				if (i + 1 < n && (re[i + 1] == '?' || re[i + 1] == '+'))
					i++;
			}
		} else {
			lit = 1;
			ch = c;
		}
		/* a quantifier right after this character makes it optional */
		if (lit && i + 1 < n && (re[i + 1] == '?' || re[i + 1] == '*' || re[i + 1] == '{'))
			lit = 0;
		if (lit && depth == 0 && rl < sizeof(run)) {
			run[rl++] = ch;
			continue;
		}
		if (rl > best && rl <= cap) {
			memcpy(out, run, rl);
			best = rl;
		}
		rl = 0;
		if (lit && depth == 0)
			run[rl++] = ch;
	}
	return best;
}

static const struct sfield *find_field(const struct obs_logseg *s, const char *name, int *ambiguous)
{
	size_t nl = strlen(name);
	int lvl = obs_logfield_is_level(name, nl);
	const struct sfield *hit = NULL;
	*ambiguous = 0;
	for (int f = 0; f < s->nfields; f++) {
		const struct sfield *sf = &s->fields[f];
		if ((sf->nlen == nl && !memcmp(sf->name, name, nl)) || (lvl && obs_logfield_is_level(sf->name, sf->nlen))) {
			if (hit)
				*ambiguous = 1;
			hit = sf;
		}
	}
	return hit;
}

static int plan_node(const struct obs_logseg *s, const struct obs_lq_node *nd, struct plan *pl)
{
	struct plan a = { 0, 0 }, b = { 0, 0 };
	pl->bm = NULL;
	pl->exact = 0;
	switch (nd->kind) {
	case OBS_LQ_ALL:
		pl->bm = full(s);
		pl->exact = 1;
		break;
	case OBS_LQ_AND:
	case OBS_LQ_OR:
		if (plan_node(s, nd->a, &a) < 0 || plan_node(s, nd->b, &b) < 0) {
			roaring_bitmap_free(a.bm);
			return -ENOMEM;
		}
		if (nd->kind == OBS_LQ_AND)
			roaring_bitmap_and_inplace(a.bm, b.bm);
		else
			roaring_bitmap_or_inplace(a.bm, b.bm);
		roaring_bitmap_free(b.bm);
		pl->bm = a.bm;
		pl->exact = a.exact && b.exact;
		return 0;
	case OBS_LQ_NOT:
		if (plan_node(s, nd->a, &a) < 0)
			return -ENOMEM;
		pl->bm = full(s);
		if (a.exact && pl->bm) {
			roaring_bitmap_andnot_inplace(pl->bm, a.bm);
			pl->exact = 1;
		}
		roaring_bitmap_free(a.bm);
		break;
	case OBS_LQ_SUBSTR:
		pl->bm = nd->vlen >= 3 ? tri_lines(s, nd->value, nd->vlen) : full(s);
		pl->exact = nd->vlen == 0;
		break;
	case OBS_LQ_REGEX: {
		char lit[256];
		uint32_t opts = 0;
		pcre2_pattern_info(nd->re, PCRE2_INFO_ALLOPTIONS, &opts);
		size_t ln = (opts & PCRE2_CASELESS) ? 0 : regex_literal(nd->value, nd->vlen, lit, sizeof(lit));
		pl->bm = ln >= 3 ? tri_lines(s, lit, ln) : full(s);
		break;
	}
	case OBS_LQ_FIELD: {
		int amb;
		const struct sfield *sf = find_field(s, nd->field, &amb);
		int neg = nd->op == OBS_LQ_NE || nd->op == OBS_LQ_NRE;
		if (!sf && s->complete) {   /* no line has the field */
			pl->bm = neg ? full(s) : roaring_bitmap_create();
			pl->exact = 1;
			break;
		}
		if (!sf || amb || !sf->indexed) {
			if (nd->op == OBS_LQ_EQ && nd->vlen >= 3 && !nd->isnum && nd->level < 0)
				pl->bm = tri_lines(s, nd->value, nd->vlen);
			else
				pl->bm = full(s);
			break;
		}
		roaring_bitmap_t *any = roaring_bitmap_create(), *m = roaring_bitmap_create();
		if (!any || !m) {
			roaring_bitmap_free(any);
			roaring_bitmap_free(m);
			return -ENOMEM;
		}
		for (size_t v = 0; v < sf->nvals; v++) {
			roaring_bitmap_or_inplace(any, sf->vals[v].bm);
			if (obs_lq_value_match(nd, sf->vals[v].v, sf->vals[v].vn))
				roaring_bitmap_or_inplace(m, sf->vals[v].bm);
		}
		if (neg) {  /* lines without the field match != and !~ */
			roaring_bitmap_t *f = full(s);
			if (f) {
				roaring_bitmap_andnot_inplace(f, any);
				roaring_bitmap_or_inplace(m, f);
				roaring_bitmap_free(f);
			}
		}
		roaring_bitmap_free(any);
		pl->bm = m;
		pl->exact = 1;
		break;
	}
	}
	return pl->bm ? 0 : -ENOMEM;
}

/* candidate lines for [from, to] and q */
static int plan(const struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q, struct plan *pl)
{
	pl->bm = NULL;
	pl->exact = 1;
	if (!s->nlines || to < s->min_ts || from > s->max_ts) {
		pl->bm = roaring_bitmap_create();
		return pl->bm ? 0 : -ENOMEM;
	}
	if (q) {
		if (plan_node(s, q->root, pl) < 0)
			return -ENOMEM;
	} else if (!(pl->bm = full(s)))
		return -ENOMEM;
	if (from > s->min_ts || to < s->max_ts) {
		roaring_bitmap_t *t = roaring_bitmap_create();
		if (!t)
			return -ENOMEM;
		if (s->ts_sorted) {
			uint64_t lo = 0, hi = s->nlines;
			while (lo < hi) {
				uint64_t mid = (lo + hi) / 2;
				if (s->ts[mid] < from) lo = mid + 1; else hi = mid;
			}
			uint64_t a = lo;
			hi = s->nlines;
			while (lo < hi) {
				uint64_t mid = (lo + hi) / 2;
				if (s->ts[mid] <= to) lo = mid + 1; else hi = mid;
			}
			if (lo > a)
				roaring_bitmap_add_range(t, a, lo);
		} else {
			for (uint64_t k = 0; k < s->nlines; k++)
				if (s->ts[k] >= from && s->ts[k] <= to)
					roaring_bitmap_add(t, (uint32_t)k);
		}
		roaring_bitmap_and_inplace(pl->bm, t);
		roaring_bitmap_free(t);
	}
	return 0;
}

/* walk candidate lines frame by frame; verify when the plan is inexact */
struct walk {
	const struct obs_logquery *q;
	int exact;
	obs_logrec_fn fn;
	void *ctx;
	struct obs_logseg_stats *st;
};

static int walk(struct obs_logseg *s, const roaring_bitmap_t *bm, struct walk *w)
{
	roaring_uint32_iterator_t *it = roaring_create_iterator(bm);
	if (!it)
		return -ENOMEM;
	int r = 0;
	char *buf = NULL;
	uint32_t f = 0;
	while (it->has_value) {
		uint32_t line = it->current_value;
		while (f + 1 < s->nframes && s->fr[f + 1].first_line <= line)
			f++;
		free(buf);
		buf = NULL;
		if ((r = lseg_frame_get(s, f, &buf)) < 0)
			break;
		if (w->st)
			w->st->frames_read++;
		const char *p = buf, *end = buf + s->fr[f].rawlen;
		uint64_t cur = s->fr[f].first_line, stop = cur + s->fr[f].nlines;
		while (it->has_value && it->current_value < stop && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				nl = end;
			if (cur == it->current_value) {
				size_t ln = (size_t)(nl - p);
				if (w->st && !w->exact)
					w->st->lines_tested++;
				if (w->exact || obs_logquery_match(w->q, p, ln)) {
					if ((r = w->fn(w->ctx, s->ts[cur], p, ln)))
						goto out;
				}
				roaring_advance_uint32_iterator(it);
			}
			p = nl + 1;
			cur++;
		}
		if (it->has_value && it->current_value < stop) {
			r = obs_corruptf(s->path, s->fr[f].off, "frame %u holds fewer lines than its table says", f);
			break;
		}
	}
out:
	free(buf);
	roaring_free_uint32_iterator(it);
	return r;
}

int obs_logseg_search(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
		      obs_logrec_fn fn, void *ctx, struct obs_logseg_stats *st)
{
	struct plan pl;
	int r = plan(s, from, to, q, &pl);
	if (r < 0)
		return r;
	struct walk w = { q, pl.exact || !q, fn, ctx, st };
	r = roaring_bitmap_is_empty(pl.bm) ? 0 : walk(s, pl.bm, &w);
	roaring_bitmap_free(pl.bm);
	return r;
}

int obs_logcount_rec(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct obs_logcounter *c = ctx;
	c->n++;
	if (c->by) {
		const char *v;
		size_t vn;
		int has = obs_logline_field(line, n, c->by, &v, &vn);
		return c->fn(c->ctx, has ? v : NULL, has ? vn : 0, 1);
	}
	return 0;
}

int obs_logseg_count(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
		     const char *by, obs_logcount_fn fn, void *ctx, uint64_t *total, struct obs_logseg_stats *st)
{
	struct plan pl;
	int r = plan(s, from, to, q, &pl);
	if (r < 0)
		return r;
	int exact = pl.exact || !q;
	const struct sfield *bf = NULL;
	int amb = 0;
	if (by)
		bf = find_field(s, by, &amb);
	if (exact && (!by || (bf && bf->indexed && !amb) || (!bf && s->complete))) {
		uint64_t n = roaring_bitmap_get_cardinality(pl.bm), seen = 0;
		*total += n;
		for (size_t v = 0; by && bf && v < bf->nvals && !r; v++) {
			uint64_t c = roaring_bitmap_and_cardinality(pl.bm, bf->vals[v].bm);
			seen += c;
			if (c)
				r = fn(ctx, bf->vals[v].v, bf->vals[v].vn, c);
		}
		if (by && !r && n > seen)
			r = fn(ctx, NULL, 0, n - seen);
	} else if (!roaring_bitmap_is_empty(pl.bm)) {
		struct obs_logcounter c = { by, fn, ctx, 0 };
		struct walk w = { q, exact, obs_logcount_rec, &c, st };
		r = walk(s, pl.bm, &w);
		*total += c.n;
	}
	roaring_bitmap_free(pl.bm);
	return r;
}

