/* tcols.c — columnar form of a segment's trace records (libobs traces).
 * See tcols.h.
 *
 * Layout (uncompressed; the segment file holds it as one zstd frame):
 *
 *   uvarint D, then D x (uvarint length, bytes)      the dictionary: every
 *                                                    distinct string field value
 *   18 x (uvarint length, bytes)                     the columns, in this order:
 *
 *    0 TID  16 bytes per record: the trace id
 *    1 NSP  uvarint per record: its span count
 *    2 RST  zigzag varint per record: its earliest span start (ns) minus the
 *           previous record's (the first: minus 0)
 *    3 SID  8 bytes per span: the span id
 *    4 PAR  uvarint per span: 0 the parent id is all zeros, 1 the parent id is
 *           the next 8 bytes of PEX, K + 2 it is the span id of the K-th span
 *           (from 0) of the same record
 *    5 PEX  8 bytes per parent that is not in its record
 *    6 HDR  4 bytes per span: flags, W3C trace flags, kind, status code
 *    7 OFF  uvarint per span: start minus its record's earliest start (ns)
 *    8 DUR  uvarint per span: duration (ns)
 *    9..17  uvarint per span, a dictionary index each: service, name, status
 *           message, scope, trace state, attributes, resource attributes,
 *           events, links (attribute lists as encoded by obs_attr_put)
 *
 * Spans are in record order, each record's in its own order. Dictionary
 * indexes are given in first-use order, so the common values are the small
 * ones. Decoding rebuilds each span with obs_span_encode: a canonical row
 * comes back byte for byte. Valid when every length, count and index stays
 * inside the data, every column is used up exactly, the times fit in int64
 * and every rebuilt span decodes (span.c); anything else is -EBADMSG. */
#include "traces/tcols.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/varint.h"
#include "traces/span.h"

enum { C_TID, C_NSP, C_RST, C_SID, C_PAR, C_PEX, C_HDR, C_OFF, C_DUR, C_STR, NSTR = 9, NCOL = C_STR + NSTR };

static void span_strs(struct obs_span *s, struct obs_str **f)
{
	struct obs_str *v[NSTR] = { &s->service, &s->name, &s->status_msg, &s->scope, &s->trace_state,
				    &s->attrs, &s->resource, &s->events, &s->links };
	memcpy(f, v, sizeof v);
}

/* ---- the dictionary while encoding: open addressing over the strings ------ */

struct dent { uint64_t h; const char *p; uint32_t n, idx; };

struct dict {
	struct dent *t;
	size_t cap, n;       /* cap: a power of 2 */
	struct obs_buf out;  /* (uvarint len, bytes)* */
};

static int dict_grow(struct dict *d)
{
	size_t nc = d->cap ? d->cap * 2 : 256;
	struct dent *nt = calloc(nc, sizeof *nt);
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < d->cap; i++)
		if (d->t[i].p) {
			size_t j = d->t[i].h & (nc - 1);
			while (nt[j].p)
				j = (j + 1) & (nc - 1);
			nt[j] = d->t[i];
		}
	free(d->t);
	d->t = nt;
	d->cap = nc;
	return 0;
}

/* The index of string s (added when new). -ENOMEM or the index. */
static int64_t dict_idx(struct dict *d, struct obs_str s)
{
	if (2 * (d->n + 1) > d->cap && dict_grow(d))
		return -ENOMEM;
	uint64_t h = XXH3_64bits(s.p, s.n);
	size_t j = h & (d->cap - 1);
	for (; d->t[j].p; j = (j + 1) & (d->cap - 1))
		if (d->t[j].h == h && d->t[j].n == s.n && !memcmp(d->t[j].p, s.p, s.n))
			return d->t[j].idx;
	if (obs_buf_varint(&d->out, s.n) || obs_buf_append(&d->out, s.p, s.n))
		return -ENOMEM;
	d->t[j] = (struct dent){ h, s.p ? s.p : "", (uint32_t)s.n, (uint32_t)d->n };
	return (int64_t)d->n++;
}

/* ---- encoding -------------------------------------------------------------------- */

struct sref { uint8_t id[8]; uint32_t k; };

static int sref_cmp(const void *x, const void *y)
{
	const struct sref *a = x, *b = y;
	int c = memcmp(a->id, b->id, 8);
	return c ? c : (a->k > b->k) - (a->k < b->k);
}

/* The index in sp[0..n) of the span whose id is pid, or -1. by (n > 16) is
 * sp's ids sorted. */
static int64_t find_parent(const struct obs_span *sp, size_t n, const struct sref *by, const uint8_t *pid)
{
	if (!by) {
		for (size_t k = 0; k < n; k++)
			if (!memcmp(sp[k].span_id, pid, 8))
				return (int64_t)k;
		return -1;
	}
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (memcmp(by[m].id, pid, 8) < 0)
			lo = m + 1;
		else
			hi = m;
	}
	return lo < n && !memcmp(by[lo].id, pid, 8) ? (int64_t)by[lo].k : -1;
}

static const uint8_t zero8[8];

/* One record's spans sp[0..n) into the columns. */
static int enc_record(struct obs_buf *c, struct dict *d, const uint8_t *id, struct obs_span *sp, size_t n,
		      int64_t *prev, struct sref **by, size_t *bycap)
{
	int64_t rmin = INT64_MAX;
	for (size_t k = 0; k < n; k++)
		if (sp[k].start_ns < rmin)
			rmin = sp[k].start_ns;
	if (!n)
		rmin = *prev;
	struct sref *sorted = NULL;
	if (n > 16) {
		if (n > *bycap) {
			struct sref *nb = realloc(*by, n * sizeof *nb);
			if (!nb)
				return -ENOMEM;
			*by = nb;
			*bycap = n;
		}
		for (size_t k = 0; k < n; k++) {
			memcpy((*by)[k].id, sp[k].span_id, 8);
			(*by)[k].k = (uint32_t)k;
		}
		qsort(*by, n, sizeof **by, sref_cmp);
		sorted = *by;
	}
	int rc = obs_buf_append(&c[C_TID], id, 16) || obs_buf_varint(&c[C_NSP], n) ||
		 obs_buf_varint(&c[C_RST], obs_zigzag(rmin - *prev));
	*prev = rmin;
	for (size_t k = 0; !rc && k < n; k++) {
		const struct obs_span *s = &sp[k];
		uint8_t h[4] = { (uint8_t)s->flags, s->trace_flags, s->kind, s->status };
		uint64_t par = 0;
		if (memcmp(s->parent_id, zero8, 8)) {
			int64_t j = find_parent(sp, n, sorted, s->parent_id);
			par = j >= 0 ? (uint64_t)j + 2 : 1;
			if (j < 0 && obs_buf_append(&c[C_PEX], s->parent_id, 8))
				rc = -ENOMEM;
		}
		rc = rc || obs_buf_append(&c[C_SID], s->span_id, 8) || obs_buf_varint(&c[C_PAR], par) ||
		     obs_buf_append(&c[C_HDR], h, 4) || obs_buf_varint(&c[C_OFF], (uint64_t)(s->start_ns - rmin)) ||
		     obs_buf_varint(&c[C_DUR], (uint64_t)(s->end_ns - s->start_ns));
		struct obs_str *f[NSTR];
		span_strs(&sp[k], f);
		for (int i = 0; !rc && i < NSTR; i++) {
			int64_t x = dict_idx(d, *f[i]);
			rc = x < 0 || obs_buf_varint(&c[C_STR + i], (uint64_t)x);
		}
	}
	return rc ? -ENOMEM : 0;
}

int obs_tcols_encode(const uint8_t *rows, size_t n, uint32_t nrec, struct obs_buf *out)
{
	struct obs_buf c[NCOL];
	struct dict d = { NULL, 0, 0, { 0 } };
	struct obs_span *sp = NULL;
	struct sref *by = NULL;
	size_t spcap = 0, bycap = 0, pos = 0, old = out->len;
	int64_t prev = 0;
	int rc = 0;
	for (int i = 0; i < NCOL; i++)
		obs_buf_init(&c[i]);
	obs_buf_init(&d.out);
	for (uint32_t r = 0; r < nrec && !rc; r++) {
		uint64_t cnt;
		const uint8_t *id = rows + pos;
		if (pos + 16 > n || (pos += 16, obs_varint_get(rows, n, &pos, &cnt)) || cnt > n - pos) {
			rc = -EBADMSG;
			break;
		}
		if (cnt > spcap) {
			struct obs_span *ns = realloc(sp, cnt * sizeof *ns);
			if (!ns) {
				rc = -ENOMEM;
				break;
			}
			sp = ns;
			spcap = cnt;
		}
		for (uint64_t k = 0; k < cnt && !rc; k++) {
			uint64_t bl;
			if (obs_varint_get(rows, n, &pos, &bl) || bl > n - pos || obs_span_decode(rows + pos, bl, &sp[k]))
				rc = -EBADMSG;
			pos += rc ? 0 : bl;
		}
		if (!rc)
			rc = enc_record(c, &d, id, sp, cnt, &prev, &by, &bycap);
	}
	if (!rc && pos != n)
		rc = -EBADMSG;
	if (!rc)
		rc = obs_buf_varint(out, d.n) || obs_buf_append(out, d.out.data, d.out.len) ? -ENOMEM : 0;
	for (int i = 0; !rc && i < NCOL; i++)
		rc = obs_buf_varint(out, c[i].len) || obs_buf_append(out, c[i].data, c[i].len) ? -ENOMEM : 0;
	if (rc)
		out->len = old;
	for (int i = 0; i < NCOL; i++)
		obs_buf_release(&c[i]);
	obs_buf_release(&d.out);
	free(d.t);
	free(sp);
	free(by);
	return rc;
}

/* ---- decoding -------------------------------------------------------------------- */

struct col { const uint8_t *p; size_t n, pos; };

static int col_uv(struct col *c, uint64_t *v) { return obs_varint_get(c->p, c->n, &c->pos, v); }

static const uint8_t *col_take(struct col *c, size_t k)
{
	if (k > c->n - c->pos)
		return NULL;
	c->pos += k;
	return c->p + c->pos - k;
}

/* One span of a record: sid is the record's first span id in SID. */
static int dec_span(struct col *c, const struct obs_str *dict, uint64_t nd, const uint8_t *sid0, uint64_t nsp,
		    int64_t rmin, const uint8_t *id, struct obs_span *s)
{
	memset(s, 0, sizeof *s);
	memcpy(s->trace_id, id, 16);
	const uint8_t *sid = col_take(&c[C_SID], 8), *h = col_take(&c[C_HDR], 4);
	uint64_t par, off, dur;
	if (!sid || !h || col_uv(&c[C_PAR], &par) || col_uv(&c[C_OFF], &off) || col_uv(&c[C_DUR], &dur))
		return -EBADMSG;
	memcpy(s->span_id, sid, 8);
	if (par == 1) {
		const uint8_t *x = col_take(&c[C_PEX], 8);
		if (!x)
			return -EBADMSG;
		memcpy(s->parent_id, x, 8);
	} else if (par >= 2) {
		if (par - 2 >= nsp)
			return -EBADMSG;
		memcpy(s->parent_id, sid0 + 8 * (par - 2), 8);
	}
	s->flags = h[0];
	s->trace_flags = h[1];
	s->kind = h[2];
	s->status = h[3];
	if (off > (uint64_t)INT64_MAX - (uint64_t)rmin || dur > (uint64_t)INT64_MAX - ((uint64_t)rmin + off))
		return -EBADMSG;
	s->start_ns = rmin + (int64_t)off;
	s->end_ns = s->start_ns + (int64_t)dur;
	struct obs_str *f[NSTR];
	span_strs(s, f);
	for (int i = 0; i < NSTR; i++) {
		uint64_t x;
		if (col_uv(&c[C_STR + i], &x) || x >= nd)
			return -EBADMSG;
		*f[i] = dict[x];
	}
	return 0;
}

static int dec_rows(struct col *c, const struct obs_str *dict, uint64_t nd, uint32_t nrec, struct obs_buf *rows)
{
	struct obs_buf blob;
	obs_buf_init(&blob);
	int64_t rmin = 0;
	int rc = 0;
	for (uint32_t r = 0; r < nrec && !rc; r++) {
		const uint8_t *id = col_take(&c[C_TID], 16);
		uint64_t nsp, zz;
		if (!id || col_uv(&c[C_NSP], &nsp) || col_uv(&c[C_RST], &zz) || nsp > (c[C_SID].n - c[C_SID].pos) / 8) {
			rc = -EBADMSG;
			break;
		}
		int64_t d = obs_unzigzag(zz);
		if (__builtin_add_overflow(rmin, d, &rmin) || rmin < 0) {
			rc = -EBADMSG;
			break;
		}
		const uint8_t *sid0 = c[C_SID].p + c[C_SID].pos;
		rc = obs_buf_append(rows, id, 16) || obs_buf_varint(rows, nsp) ? -ENOMEM : 0;
		for (uint64_t k = 0; k < nsp && !rc; k++) {
			struct obs_span s, chk;
			obs_buf_reset(&blob);
			rc = dec_span(c, dict, nd, sid0, nsp, rmin, id, &s);
			if (!rc && obs_span_encode(&s, &blob))
				rc = -ENOMEM;
			if (!rc && obs_span_decode((const uint8_t *)blob.data, blob.len, &chk))
				rc = -EBADMSG;
			if (!rc && (obs_buf_varint(rows, blob.len) || obs_buf_append(rows, blob.data, blob.len)))
				rc = -ENOMEM;
		}
	}
	for (int i = 0; !rc && i < NCOL; i++)
		if (c[i].pos != c[i].n)
			rc = -EBADMSG;
	obs_buf_release(&blob);
	return rc;
}

int obs_tcols_decode(const uint8_t *p, size_t n, uint32_t nrec, struct obs_buf *rows)
{
	size_t pos = 0, old = rows->len;
	uint64_t nd;
	if (obs_varint_get(p, n, &pos, &nd) || nd > n - pos)
		return -EBADMSG;
	struct obs_str *dict = malloc((nd ? nd : 1) * sizeof *dict);
	if (!dict)
		return -ENOMEM;
	int rc = 0;
	for (uint64_t i = 0; i < nd && !rc; i++) {
		uint64_t len;
		if (obs_varint_get(p, n, &pos, &len) || len > n - pos)
			rc = -EBADMSG;
		else {
			dict[i] = (struct obs_str){ (const char *)p + pos, (size_t)len };
			pos += (size_t)len;
		}
	}
	struct col c[NCOL];
	for (int i = 0; i < NCOL && !rc; i++) {
		uint64_t len;
		if (obs_varint_get(p, n, &pos, &len) || len > n - pos)
			rc = -EBADMSG;
		else {
			c[i] = (struct col){ p + pos, (size_t)len, 0 };
			pos += (size_t)len;
		}
	}
	if (!rc && pos != n)
		rc = -EBADMSG;
	if (!rc)
		rc = dec_rows(c, dict, nd, nrec, rows);
	if (rc)
		rows->len = old;
	free(dict);
	return rc;
}
