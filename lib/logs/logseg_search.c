/* logseg_search.c — searching a log segment (libobs logs): the planner
 * turns a query and a time range into a bitmap of candidate lines from the
 * field and trigram indexes and the identifier filters (exact where the
 * index answers the question alone), then only the frames holding
 * candidates are decompressed and,
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

/* lines of frames whose identifier filter may hold field sf = v (v3) */
static roaring_bitmap_t *id_lines(const struct obs_logseg *s, const struct sfield *sf, const char *v, size_t vn)
{
	roaring_bitmap_t *b = roaring_bitmap_create();
	if (!b)
		return NULL;
	uint64_t h = lseg_id_hash(sf->name, sf->nlen, v, vn);
	for (uint32_t f = 0; f < s->nframes; f++) {
		const struct sframe *fr = &s->fr[f];
		uint32_t j = 0;
		while (fr->ids_bits && j < ID_PROBES) {
			uint32_t bit = lseg_id_bit(h, j, fr->ids_bits);
			if (!(fr->ids[bit >> 3] & (1u << (bit & 7))))
				break;
			j++;
		}
		if (j == ID_PROBES)
			roaring_bitmap_add_range(b, fr->first_line, fr->first_line + fr->nlines);
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
			int eq = nd->op == OBS_LQ_EQ && !nd->isnum && nd->level < 0;
			/* an identifier of a field in the table (level fields
			 * have aliases: not those) is in its frame's filter */
			if (eq && sf && !amb && s->version >= 3 && lseg_is_id(nd->value, nd->vlen) &&
			    !obs_logfield_is_level(sf->name, sf->nlen))
				pl->bm = id_lines(s, sf, nd->value, nd->vlen);
			else if (eq && nd->vlen >= 3)
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

/* ---- walking the candidates --------------------------------------------- */

void obs_logseg_cursor_init(struct obs_logseg_cursor *c)
{
	memset(c, 0, sizeof(*c));
	c->frame = -1;
}

void obs_logseg_cursor_release(struct obs_logseg_cursor *c)
{
	int y = c->yield;
	if (c->it)
		roaring_free_uint32_iterator(c->it);
	if (c->bm)   /* CRoaring 0.2 does not take NULL */
		roaring_bitmap_free(c->bm);
	free(c->buf);
	obs_logseg_cursor_init(c);
	c->yield = y;   /* how it is used, not what it holds */
}

/* c takes bm (freed on failure too) as the plan of s */
static int cursor_adopt(const struct obs_logseg *s, struct obs_logseg_cursor *c, roaring_bitmap_t *bm, int exact)
{
	obs_logseg_cursor_release(c);
	if (!(c->it = roaring_create_iterator(bm))) {
		roaring_bitmap_free(bm);
		return -ENOMEM;
	}
	c->bm = bm;
	c->exact = exact;
	c->planned = 1;
	c->seg_seq = s->first_seq;
	c->seg_lines = s->nlines;
	return 0;
}

/* c holds the plan of s for (from, to, q): made now unless it is there */
static int cursor_plan(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
		       struct obs_logseg_cursor *c)
{
	if (c->planned && c->seg_seq == s->first_seq && c->seg_lines == s->nlines)
		return 0;
	struct plan pl;
	int r = plan(s, from, to, q, &pl);
	return r < 0 ? r : cursor_adopt(s, c, pl.bm, pl.exact || !q);
}

/* Make c->buf frame f's text and c->pos the start of line `line` in it. */
static int cursor_seek(struct obs_logseg *s, struct obs_logseg_cursor *c, uint32_t f, uint64_t line,
		       struct obs_logseg_stats *st)
{
	const struct sframe *fr = &s->fr[f];
	if (c->frame != (int64_t)f) {
		free(c->buf);
		c->buf = NULL;
		c->frame = -1;
		int r = lseg_frame_get(s, f, &c->buf);
		if (r < 0)
			return r;
		if (st)
			st->frames_read++;
		c->frame = f;
		c->pos = 0;
		c->pos_line = fr->first_line;
	}
	if (line < c->pos_line) {
		c->pos = 0;
		c->pos_line = fr->first_line;
	}
	while (c->pos_line < line) {
		const char *nl = c->pos < fr->rawlen ? memchr(c->buf + c->pos, '\n', fr->rawlen - c->pos) : NULL;
		if (!nl)
			return obs_corruptf(s->path, fr->off, "frame %u holds fewer lines than its table says", f);
		c->pos = (size_t)(nl - c->buf) + 1;
		c->pos_line++;
	}
	if (c->pos >= fr->rawlen)
		return obs_corruptf(s->path, fr->off, "frame %u holds fewer lines than its table says", f);
	return 0;
}

/* the frame holding line (lines exist: line < s->nlines) */
static uint32_t frame_of(const struct obs_logseg *s, uint64_t line)
{
	uint32_t lo = 0, hi = s->nframes;
	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;
		if (s->fr[mid].first_line <= line) lo = mid; else hi = mid;
	}
	return lo;
}

int obs_logseg_search_from(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
			   struct obs_logseg_cursor *c, uint64_t *line, uint64_t end, obs_logrec_fn fn, void *ctx,
			   struct obs_logseg_stats *st)
{
	if (end > s->nlines)
		end = s->nlines;
	if (*line >= end)
		return 0;
	int r = cursor_plan(s, from, to, q, c);
	if (r < 0)
		return r;
	roaring_uint32_iterator_t *it = c->it;
	if (c->next_line != *line || (it->has_value && it->current_value < *line))
		roaring_move_uint32_iterator_equalorlarger(it, (uint32_t)*line);
	int decoded = 0;   /* frames decompressed by this call */
	while (it->has_value && it->current_value < end) {
		uint64_t ln = it->current_value;
		uint32_t f = c->frame >= 0 && ln >= s->fr[c->frame].first_line &&
				     ln < s->fr[c->frame].first_line + s->fr[c->frame].nlines
			? (uint32_t)c->frame : frame_of(s, ln);
		if (c->frame != (int64_t)f) {
			if (c->yield && decoded) {
				*line = c->next_line = ln;
				return 0;
			}
			decoded++;
		}
		if ((r = cursor_seek(s, c, f, ln, st)) < 0)
			break;
		const char *p = c->buf + c->pos, *e = c->buf + s->fr[f].rawlen;
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		size_t n = (size_t)(nl - p);   /* a frame ends in '\n' (lseg_frame_get) */
		if (st && !c->exact)
			st->lines_tested++;
		if (c->exact || obs_logquery_match(q, p, n)) {
			if ((r = fn(ctx, s->ts[ln], p, n)) < 0) {
				*line = c->next_line = ln;
				return r;
			}
		}
		c->pos = (size_t)(nl + 1 - c->buf);
		c->pos_line = ln + 1;
		roaring_advance_uint32_iterator(it);
		if (r > 0) {
			*line = c->next_line = ln + 1;
			return r;
		}
	}
	if (r < 0) {
		*line = c->next_line = it->has_value ? it->current_value : end;
		return r;
	}
	*line = c->next_line = end;
	return 0;
}

/* the whole segment in one go; bm: its plan made already (taken), or NULL */
static int search_all(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
		      roaring_bitmap_t *bm, int exact, obs_logrec_fn fn, void *ctx, struct obs_logseg_stats *st)
{
	struct obs_logseg_cursor c;
	obs_logseg_cursor_init(&c);
	uint64_t line = 0;
	int r = bm ? cursor_adopt(s, &c, bm, exact) : 0;
	if (r == 0)
		r = obs_logseg_search_from(s, from, to, q, &c, &line, s->nlines, fn, ctx, st);
	obs_logseg_cursor_release(&c);
	return r;
}

int obs_logseg_search(struct obs_logseg *s, int64_t from, int64_t to, const struct obs_logquery *q,
		      obs_logrec_fn fn, void *ctx, struct obs_logseg_stats *st)
{
	return search_all(s, from, to, q, NULL, 0, fn, ctx, st);
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
		r = search_all(s, from, to, q, pl.bm, exact, obs_logcount_rec, &c, st);
		pl.bm = NULL;
		*total += c.n;
	}
	if (pl.bm)
		roaring_bitmap_free(pl.bm);
	return r;
}

