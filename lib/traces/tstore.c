/* tstore.c — the store of kept traces (libobs traces): the open segment
 * in memory, flushes into segment files (tseg.c has their layout), the
 * bitmap index over every segment, reads. See tstore.h.
 *
 * Index terms per trace: "s\x1fSERVICE", "o\x1fSERVICE\x1fOPERATION",
 * "n\x1fOPERATION", "a\x1fKEY=VALUE" (string, int and bool attributes up to
 * 128 bytes), "e" (an error span); start-hour ("h\x1fHOUR") and
 * duration-class ("d\x1fK", K = bit length of the duration in ms) terms are
 * derived from the summary. A version 1 segment's summary section holds
 * its records' terms; a version 2 segment's are computed from its spans at
 * load, by the same code that indexes a trace when it is added.
 *
 * A flush seals the open segment (its rows move aside, still readable, and
 * a new open segment starts) and writes it without holding the store's
 * lock, so adds and reads go on while it is compressed; a failed write
 * leaves it sealed and the next flush retries it first. */
#include "traces/tstore.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <roaring/roaring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/strmap.h"
#include "core/varint.h"
#include "core/vec.h"
#include "traces/span.h"
#include "traces/tstore_int.h"


void obs_tstore_opts_default(struct obs_tstore_opts *o)
{
	*o = (struct obs_tstore_opts){ 7LL * 86400 * 1000, 4u << 20, 3 };
}

/* ---- index ------------------------------------------------------------------- */

static int term_add(struct obs_tstore *s, const char *t, size_t n, uint32_t ord)
{
	uint64_t h = obs_strmap_hash(t, n);
	roaring_bitmap_t *b = obs_strmap_get(s->terms, h, t, n);
	if (!b) {
		if (!(b = roaring_bitmap_create()))
			return -ENOMEM;
		if (obs_strmap_put(s->terms, h, t, n, b)) {
			roaring_bitmap_free(b);
			return -ENOMEM;
		}
	}
	roaring_bitmap_add(b, ord);
	return 0;
}

int tst_bitlen(uint64_t v)
{
	int k = 0;
	while (v) {
		k++;
		v >>= 1;
	}
	return k;
}

static int derived_terms(struct obs_tstore *s, uint32_t ord)
{
	struct tentry *t = &s->e[ord];
	char b[48];
	int n = snprintf(b, sizeof b, "h\x1f%" PRId64, (int64_t)(t->start_ns / 3600000000000LL));
	int rc = term_add(s, b, (size_t)n, ord);
	n = snprintf(b, sizeof b, "d\x1f%d", tst_bitlen((uint64_t)(t->end_ns - t->start_ns) / 1000000));
	return rc ? rc : term_add(s, b, (size_t)n, ord);
}

/* The ordinal of id, creating an entry. */
static int entry_of(struct obs_tstore *s, const uint8_t *id, uint32_t *ord, int *created)
{
	uint64_t h = obs_strmap_hash(id, 16);
	void *v = obs_strmap_get(s->ids, h, id, 16);
	*created = 0;
	if (v) {
		*ord = (uint32_t)((uintptr_t)v - 1);
		return 0;
	}
	if (OBS_VEC_RESERVE_FROM(s->e, s->cape, s->ne + 1, 1024))
		return -ENOMEM;
	if (s->ne >= UINT32_MAX - 1)
		return -ENOSPC;
	struct tentry *t = &s->e[s->ne];
	memset(t, 0, sizeof *t);
	memcpy(t->id, id, 16);
	t->start_ns = INT64_MAX;
	t->end_ns = INT64_MIN;
	if (obs_strmap_put(s->ids, h, id, 16, (void *)(uintptr_t)(s->ne + 1)))
		return -ENOMEM;
	*ord = (uint32_t)s->ne++;
	*created = 1;
	s->st.traces++;
	return 0;
}

struct rsum {
	int64_t start, end;
	uint32_t n, nerr;
	uint8_t has_root;
	struct obs_str svc, op;
};

/* Merge one record's summary into entry ord. */
static int merge(struct obs_tstore *s, uint32_t ord, const struct rsum *r, struct loc l)
{
	struct tentry *t = &s->e[ord];
	struct loc *nl = realloc(t->locs, (t->nlocs + 1) * sizeof *nl);
	if (!nl)
		return -ENOMEM;
	t->locs = nl;
	t->locs[t->nlocs++] = l;
	if (r->start < t->start_ns)
		t->start_ns = r->start;
	if (r->end > t->end_ns)
		t->end_ns = r->end;
	t->nspans += r->n;
	t->nerrors += r->nerr;
	s->st.spans += r->n;
	if (!t->root_svc || (r->has_root && !t->has_root)) {
		char *a = strndup(r->svc.p, r->svc.n), *b = strndup(r->op.p, r->op.n);
		if (!a || !b) {
			free(a);
			free(b);
			return -ENOMEM;
		}
		free(t->root_svc);
		free(t->root_op);
		t->root_svc = a;
		t->root_op = b;
		t->has_root = r->has_root;
	}
	return derived_terms(s, ord);
}

/* ---- adding --------------------------------------------------------------------- */

static int put_str(struct obs_buf *b, const char *p, size_t n)
{
	return obs_buf_varint(b, n) || obs_buf_append(b, p, n) ? -ENOMEM : 0;
}

/* Append term t to a record's list tb unless it is there already. */
static int term_put(struct obs_buf *tb, uint32_t *nt, const char *t, size_t n)
{
	size_t pos = 0;
	for (uint32_t i = 0; i < *nt; i++) {
		uint64_t len;
		if (obs_varint_get((const uint8_t *)tb->data, tb->len, &pos, &len))
			break;
		if (len == n && !memcmp(tb->data + pos, t, n))
			return 0;
		pos += (size_t)len;
	}
	if (put_str(tb, t, n))
		return -ENOMEM;
	(*nt)++;
	return 0;
}

/* "P\x1fA" (P one letter) or "P\x1fA\x1fB" / "P\x1fA=B" into t (room for 2 * TERM_MAX + 4). */
static size_t term3(char *t, char p, struct obs_str a, char sep, const struct obs_str *b)
{
	size_t an = a.n > TERM_MAX ? TERM_MAX : a.n, k = 2 + an;
	t[0] = p;
	t[1] = '\x1f';
	memcpy(t + 2, a.p, an);
	if (b) {
		size_t bn = b->n > TERM_MAX ? TERM_MAX : b->n;
		t[k++] = sep;
		memcpy(t + k, b->p, bn);
		k += bn;
	}
	return k;
}

/* The terms of one span into tb (as (len, bytes), each once per record),
 * counting them. */
static int span_terms(const struct obs_span *sp, struct obs_buf *tb, uint32_t *nt)
{
	char t[2 * TERM_MAX + 8];
	int rc = term_put(tb, nt, t, term3(t, 's', sp->service, 0, NULL));
	rc = rc || term_put(tb, nt, t, term3(t, 'o', sp->service, '\x1f', &sp->name));
	rc = rc || term_put(tb, nt, t, term3(t, 'n', sp->name, 0, NULL));
	if (sp->status == OBS_STATUS_ERROR)
		rc = rc || term_put(tb, nt, "e", 1);
	struct obs_str lists[2] = { sp->attrs, sp->resource };
	for (int l = 0; l < 2 && !rc; l++) {
		size_t pos = 0;
		struct obs_attr a;
		while (!rc && obs_attr_next(lists[l], &pos, &a) == 1) {
			if ((a.type != OBS_ATTR_STRING && a.type != OBS_ATTR_INT && a.type != OBS_ATTR_BOOL) ||
			    a.key.n > TERM_MAX || a.val.n > TERM_MAX)
				continue;
			rc = term_put(tb, nt, t, term3(t, 'a', a.key, '=', &a.val));
		}
	}
	return rc ? -ENOMEM : 0;
}

/* Index the record at l (its spans sp[0..n), decoded) under entry ord:
 * summary, terms, the segment's trace list ords. *r gets the summary. */
static int index_record(struct obs_tstore *s, uint32_t ord, const struct obs_span *sp, size_t n, struct loc l,
			roaring_bitmap_t *ords, struct rsum *r)
{
	struct obs_buf terms;
	obs_buf_init(&terms);
	*r = (struct rsum){ INT64_MAX, INT64_MIN, 0, 0, 0, { "", 0 }, { "", 0 } };
	uint32_t nt = 0;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = span_terms(&sp[i], &terms, &nt);
		if (sp[i].start_ns < r->start)
			r->start = sp[i].start_ns;
		if (sp[i].end_ns > r->end)
			r->end = sp[i].end_ns;
		r->n++;
		r->nerr += sp[i].status == OBS_STATUS_ERROR;
		if (obs_span_is_root(&sp[i]) && !r->has_root) {
			r->has_root = 1;
			r->svc = sp[i].service;
			r->op = sp[i].name;
		} else if (!r->has_root && !r->svc.n) {
			r->svc = sp[i].service;
			r->op = sp[i].name;
		}
	}
	if (!rc)
		rc = merge(s, ord, r, l);
	size_t pos = 0;
	for (uint32_t k = 0; !rc && k < nt; k++) {
		uint64_t len;
		if (obs_varint_get((const uint8_t *)terms.data, terms.len, &pos, &len))
			break;
		rc = term_add(s, terms.data + pos, (size_t)len, ord);
		pos += (size_t)len;
	}
	if (!rc)
		roaring_bitmap_add(ords, ord);
	obs_buf_release(&terms);
	return rc;
}

static int has_span(const struct obs_buf *old, size_t n, const uint8_t *sid)
{
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t len;
		memcpy(&len, old->data + pos, 4);
		if (len >= 25 && !memcmp(old->data + pos + 4 + 17, sid, 8))
			return 1;
		pos += 4 + len;
	}
	return 0;
}

/* Room for n decoded spans in s->sp. */
static int sp_room(struct obs_tstore *s, size_t n)
{
	if (n <= s->spcap)
		return 0;
	struct obs_span *ns = realloc(s->sp, n * sizeof *ns);
	if (!ns)
		return -ENOMEM;
	s->sp = ns;
	s->spcap = n;
	return 0;
}

int obs_tstore_add(struct obs_tstore *s, const uint8_t id[16], const uint8_t *const *blobs, const uint32_t *lens,
		   size_t n, int dedup)
{
	pthread_mutex_lock(&s->mu);
	struct obs_buf old;
	obs_buf_init(&old);
	size_t nold = 0, raw0 = s->raw.len, keep = 0;
	uint32_t ord;
	int created, rc = entry_of(s, id, &ord, &created);
	if (!rc && dedup && !created)
		rc = tst_get_locked(s, ord, &old, &nold);
	if (rc == -ENOENT)
		rc = 0;
	if (!rc)
		rc = sp_room(s, n);
	/* record: id, count, (len, span)* of the spans kept */
	uint8_t cnt[OBS_VARINT_MAX];
	size_t cl = obs_varint_put(cnt, n);   /* room for the count: n is the most it can be */
	if (!rc && (obs_buf_append(&s->raw, id, 16) || obs_buf_append(&s->raw, cnt, cl)))
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++) {
		if (obs_span_decode(blobs[i], lens[i], &s->sp[keep]))
			continue;
		if (dedup && nold && has_span(&old, nold, s->sp[keep].span_id)) {
			s->st.dup_spans++;
			continue;
		}
		if (obs_buf_varint(&s->raw, lens[i]) || obs_buf_append(&s->raw, blobs[i], lens[i]))
			rc = -ENOMEM;
		/* the view points into blobs[i]; the copy in raw is the same bytes */
		keep++;
	}
	if (!rc && keep) {
		size_t kl = obs_varint_put(cnt, keep);
		if (kl != cl) {   /* fewer spans kept than offered: a shorter count */
			memmove(s->raw.data + raw0 + 16 + kl, s->raw.data + raw0 + 16 + cl, s->raw.len - raw0 - 16 - cl);
			s->raw.len -= cl - kl;
		}
		memcpy(s->raw.data + raw0 + 16, cnt, kl);
		struct loc l = { s->open_no, (uint32_t)raw0, (uint32_t)(s->raw.len - raw0) };
		struct rsum r;
		rc = index_record(s, ord, s->sp, keep, l, s->open_ords, &r);
		if (!rc) {
			s->open_n++;
			if (r.start / 1000000 < s->open_min)
				s->open_min = r.start / 1000000;
			if (r.end / 1000000 > s->open_max)
				s->open_max = r.end / 1000000;
		}
	}
	if (rc || !keep)
		s->raw.len = raw0;
	s->st.open_bytes = s->raw.len;
	s->st.open_traces = s->open_n;
	pthread_mutex_unlock(&s->mu);
	obs_buf_release(&old);
	return rc;
}

int obs_tstore_full(struct obs_tstore *s)
{
	pthread_mutex_lock(&s->mu);
	int f = s->raw.len >= s->o.segment_bytes;
	pthread_mutex_unlock(&s->mu);
	return f;
}

/* ---- segment files --------------------------------------------------------------- */

char *tst_seg_path(const struct obs_tstore *s, uint64_t no, const char *ext)
{
	char *p;
	if (asprintf(&p, "%s/seg-%016" PRIx64 ".%s", s->dir, no, ext) < 0)
		return NULL;
	return p;
}

/* Move the open segment aside (s->mu held, nothing sealed). */
static int seal_open(struct obs_tstore *s)
{
	roaring_bitmap_t *fresh = roaring_bitmap_create();
	if (!fresh)
		return -ENOMEM;
	s->seal = (struct sealed){ 1, s->open_no, s->raw, s->open_n, s->open_min, s->open_max, s->open_ords };
	obs_buf_init(&s->raw);
	s->open_ords = fresh;
	s->open_no++;
	s->open_n = 0;
	s->open_min = INT64_MAX;
	s->open_max = INT64_MIN;
	s->st.sealed_traces = s->seal.n;
	s->st.open_bytes = s->st.open_traces = 0;
	return 0;
}

/* Write the sealed segment (flush_mu held, not mu); on success it is
 * listed and its rows become the newest cache entry. */
static int write_sealed(struct obs_tstore *s)
{
	pthread_mutex_lock(&s->mu);
	struct sealed g = s->seal;   /* rows stay put while sealed: only this flush changes them */
	pthread_mutex_unlock(&s->mu);
	char *tmp = tst_seg_path(s, g.no, "tmp"), *fin = tst_seg_path(s, g.no, "trc");
	uint64_t bytes = 0;
	struct tseg_meta m = { g.n, g.min_ms, g.max_ms };
	if (!s->zc)
		s->zc = ZSTD_createCCtx();
	int rc = tmp && fin && s->zc ? tst_seg_write(s->dir, tmp, fin, s->zc, s->o.zstd_level, &m,
						     (const uint8_t *)g.raw.data, g.raw.len, &bytes)
				     : -ENOMEM;
	free(tmp);
	free(fin);
	pthread_mutex_lock(&s->mu);
	if (!rc && OBS_VEC_RESERVE_FROM(s->segs, s->capsegs, s->nsegs + 1, 16))
		rc = -ENOMEM;   /* the file is durable; a retry writes it again */
	if (!rc) {
		s->segs[s->nsegs++] = (struct seg){ g.no, g.min_ms, g.max_ms, bytes, g.raw.len, g.ords };
		s->st.segments++;
		s->st.disk_bytes += bytes;
		s->st.raw_bytes += g.raw.len;
		free(s->cache[1].data);
		s->cache[1] = s->cache[0];
		s->cache[0] = (struct cache_ent){ g.no, g.raw.data, g.raw.len };
		memset(&s->seal, 0, sizeof s->seal);
		s->st.sealed_traces = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int obs_tstore_seal(struct obs_tstore *s)
{
	pthread_mutex_lock(&s->mu);
	int rc = !s->seal.on && s->open_n ? seal_open(s) : 0;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int obs_tstore_write_sealed(struct obs_tstore *s)
{
	pthread_mutex_lock(&s->flush_mu);
	pthread_mutex_lock(&s->mu);
	int todo = s->seal.on;
	pthread_mutex_unlock(&s->mu);
	int rc = todo ? write_sealed(s) : 0;
	pthread_mutex_unlock(&s->flush_mu);
	return rc;
}

int obs_tstore_flush(struct obs_tstore *s)
{
	int rc = obs_tstore_write_sealed(s);   /* what a failed flush left goes first */
	if (!rc)
		rc = obs_tstore_seal(s);
	return rc ? rc : obs_tstore_write_sealed(s);
}

/* Index a version 2 segment from its rows. */
static int load_rows(struct obs_tstore *s, uint64_t no, const struct tseg_img *g, roaring_bitmap_t *ords)
{
	const uint8_t *p = (const uint8_t *)g->rows;
	size_t n = g->rows_len, pos = 0;
	int rc = 0;
	for (uint32_t i = 0; i < g->meta.nrec && !rc; i++) {
		size_t r0 = pos;
		uint64_t cnt;
		if (pos + 16 > n || (pos += 16, obs_varint_get(p, n, &pos, &cnt)) || cnt > n - pos)
			return -EBADMSG;
		if ((rc = sp_room(s, cnt)))
			break;
		size_t k = 0;
		for (uint64_t j = 0; j < cnt; j++) {
			uint64_t bl;
			if (obs_varint_get(p, n, &pos, &bl) || bl > n - pos)
				return -EBADMSG;
			if (!obs_span_decode(p + pos, (size_t)bl, &s->sp[k]))
				k++;
			pos += (size_t)bl;
		}
		uint32_t ord;
		int created;
		struct rsum r;
		if (!(rc = entry_of(s, p + r0, &ord, &created)))
			rc = index_record(s, ord, s->sp, k, (struct loc){ no, (uint32_t)r0, (uint32_t)(pos - r0) }, ords, &r);
	}
	return !rc && pos != n ? -EBADMSG : rc;
}

/* Index a version 1 segment from its summary section. */
static int load_summary(struct obs_tstore *s, uint64_t no, const struct tseg_img *g, roaring_bitmap_t *ords)
{
	const uint8_t *p = (const uint8_t *)g->sum;
	size_t n = g->sum_len, pos = 0;
	int rc = 0;
	for (uint32_t i = 0; i < g->meta.nrec && !rc; i++) {
		uint64_t off, len, ns, ne, st, du, nt, sl, ol;
		if (pos + 16 > n)
			return -EBADMSG;
		const uint8_t *id = p + pos;
		pos += 16;
		if (obs_varint_get(p, n, &pos, &off) || obs_varint_get(p, n, &pos, &len) || obs_varint_get(p, n, &pos, &ns) ||
		    obs_varint_get(p, n, &pos, &ne) || obs_varint_get(p, n, &pos, &st) || obs_varint_get(p, n, &pos, &du) ||
		    pos >= n || off + len > g->rows_len || st > INT64_MAX || du > (uint64_t)INT64_MAX - st)
			return -EBADMSG;
		struct rsum r = { (int64_t)st, (int64_t)(st + du), (uint32_t)ns, (uint32_t)ne, p[pos++], { 0 }, { 0 } };
		if (obs_varint_get(p, n, &pos, &sl) || sl > n - pos)
			return -EBADMSG;
		r.svc = (struct obs_str){ (const char *)p + pos, (size_t)sl };
		pos += (size_t)sl;
		if (obs_varint_get(p, n, &pos, &ol) || ol > n - pos)
			return -EBADMSG;
		r.op = (struct obs_str){ (const char *)p + pos, (size_t)ol };
		pos += (size_t)ol;
		uint32_t ord;
		int created;
		if (obs_varint_get(p, n, &pos, &nt) || (rc = entry_of(s, id, &ord, &created)))
			return rc ? rc : -EBADMSG;
		rc = merge(s, ord, &r, (struct loc){ no, (uint32_t)off, (uint32_t)len });
		for (uint64_t k = 0; k < nt && !rc; k++) {
			uint64_t tl;
			if (obs_varint_get(p, n, &pos, &tl) || tl > n - pos)
				return -EBADMSG;
			rc = term_add(s, (const char *)p + pos, (size_t)tl, ord);
			pos += (size_t)tl;
		}
		roaring_bitmap_add(ords, ord);
	}
	return rc;
}

/* Index one segment file (either version). */
static int seg_load(struct obs_tstore *s, uint64_t no, const char *path)
{
	struct tseg_img g;
	int rc = tst_seg_read(path, 1, &g);
	if (rc)
		return rc;
	roaring_bitmap_t *ords = roaring_bitmap_create();
	if (!ords)
		rc = -ENOMEM;
	else
		rc = g.version == 1 ? load_summary(s, no, &g, ords) : load_rows(s, no, &g, ords);
	if (!rc && OBS_VEC_RESERVE_FROM(s->segs, s->capsegs, s->nsegs + 1, 16))
		rc = -ENOMEM;
	if (rc) {
		/* a damaged segment may have indexed part of it: those entries point
		 * at a segment that is not listed, and reads skip them */
		roaring_bitmap_free(ords);
		tst_seg_img_release(&g);
		return rc;
	}
	s->segs[s->nsegs++] = (struct seg){ no, g.meta.min_ms, g.meta.max_ms, g.bytes, g.rows_len, ords };
	s->st.segments++;
	s->st.disk_bytes += g.bytes;
	s->st.raw_bytes += g.rows_len;
	tst_seg_img_release(&g);
	return 0;
}

static int u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int obs_tstore_open(const char *dir, const struct obs_tstore_opts *o, struct obs_tstore **out)
{
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	struct obs_tstore *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->flush_mu, NULL);
	if (o)
		s->o = *o;
	else
		obs_tstore_opts_default(&s->o);
	s->dir = strdup(dir);
	s->ids = obs_strmap_new();
	s->terms = obs_strmap_new();
	s->open_ords = roaring_bitmap_create();
	s->open_min = INT64_MAX;
	s->open_max = INT64_MIN;
	obs_buf_init(&s->raw);
	if (!s->dir || !s->ids || !s->terms || !s->open_ords) {
		obs_tstore_close(s);
		return -ENOMEM;
	}
	DIR *d = opendir(dir);
	if (!d) {
		int e = -errno;
		obs_tstore_close(s);
		return e;
	}
	uint64_t *nos = NULL;
	size_t nn = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t no;
		char ext[8];
		if (sscanf(de->d_name, "seg-%16" SCNx64 ".%3s", &no, ext) == 2) {
			if (!strcmp(ext, "tmp")) {   /* an unfinished flush */
				char *p;
				if (asprintf(&p, "%s/%s", dir, de->d_name) >= 0) {
					unlink(p);
					free(p);
				}
				continue;
			}
			if (strcmp(ext, "trc"))
				continue;
			if (OBS_VEC_RESERVE_FROM(nos, cap, nn + 1, 64))
				break;
			nos[nn++] = no;
		}
	}
	closedir(d);
	if (nn)   /* nos is NULL when there is none: qsort must not get NULL */
		qsort(nos, nn, sizeof *nos, u64cmp);
	int rc = 0;
	for (size_t i = 0; i < nn && !rc; i++) {
		char *p = tst_seg_path(s, nos[i], "trc");
		if (!p) {
			rc = -ENOMEM;
			break;
		}
		int r = seg_load(s, nos[i], p);
		free(p);
		if (r == -EBADMSG)
			s->st.damaged_segments++;
		else if (r)
			rc = r;
		s->open_no = nos[i] + 1;
	}
	free(nos);
	if (rc) {
		obs_tstore_close(s);
		return rc;
	}
	s->st.terms = obs_strmap_count(s->terms);
	*out = s;
	return 0;
}

static int free_bitmap(void *ctx, const char *k, size_t n, void *v)
{
	roaring_bitmap_free(v);
	return 0;
}

void obs_tstore_close(struct obs_tstore *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ne; i++) {
		free(s->e[i].root_svc);
		free(s->e[i].root_op);
		free(s->e[i].locs);
	}
	free(s->e);
	for (size_t i = 0; i < s->nsegs; i++)
		roaring_bitmap_free(s->segs[i].ords);
	free(s->segs);
	if (s->terms)
		obs_strmap_each(s->terms, free_bitmap, NULL);
	obs_strmap_free(s->terms);
	obs_strmap_free(s->ids);
	if (s->open_ords)
		roaring_bitmap_free(s->open_ords);
	obs_buf_release(&s->raw);
	obs_buf_release(&s->seal.raw);
	if (s->seal.ords)
		roaring_bitmap_free(s->seal.ords);
	free(s->sp);
	for (int i = 0; i < 2; i++)
		free(s->cache[i].data);
	free(s->dir);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->flush_mu);
	ZSTD_freeCCtx(s->zc);
	free(s);
}

/* ---- reading -------------------------------------------------------------------- */

static struct seg *seg_find(struct obs_tstore *s, uint64_t no)
{
	size_t lo = 0, hi = s->nsegs;
	while (lo < hi) {
		size_t m = (lo + hi) / 2;
		if (s->segs[m].no < no)
			lo = m + 1;
		else
			hi = m;
	}
	return lo < s->nsegs && s->segs[lo].no == no ? &s->segs[lo] : NULL;
}

/* The row records of segment no (cached). */
static int seg_raw(struct obs_tstore *s, uint64_t no, const char **raw, size_t *len)
{
	if (no == s->open_no) {
		*raw = s->raw.data;
		*len = s->raw.len;
		return 0;
	}
	if (s->seal.on && no == s->seal.no) {
		*raw = s->seal.raw.data;
		*len = s->seal.raw.len;
		return 0;
	}
	for (int i = 0; i < 2; i++)
		if (s->cache[i].data && s->cache[i].no == no) {
			*raw = s->cache[i].data;
			*len = s->cache[i].len;
			return 0;
		}
	if (!seg_find(s, no))
		return -ENOENT;
	char *p = tst_seg_path(s, no, "trc");
	if (!p)
		return -ENOMEM;
	struct tseg_img g;
	int rc = tst_seg_read(p, 0, &g);
	free(p);
	if (rc)
		return rc;
	free(s->cache[1].data);
	s->cache[1] = s->cache[0];
	s->cache[0] = (struct cache_ent){ no, g.rows, g.rows_len };
	*raw = g.rows;
	*len = g.rows_len;
	return 0;
}

int tst_get_locked(struct obs_tstore *s, uint32_t ord, struct obs_buf *out, size_t *n)
{
	struct tentry *t = &s->e[ord];
	*n = 0;
	if (t->dead)
		return -ENOENT;
	for (uint32_t i = 0; i < t->nlocs; i++) {
		const char *raw;
		size_t rl;
		int rc = seg_raw(s, t->locs[i].seg, &raw, &rl);
		if (rc == -ENOENT)
			continue;   /* removed by retention */
		if (rc)
			return rc;
		const uint8_t *p = (const uint8_t *)raw + t->locs[i].off;
		size_t len = t->locs[i].len, pos = 16;
		uint64_t cnt;
		if ((uint64_t)t->locs[i].off + len > rl || len < 16 || memcmp(p, t->id, 16) ||
		    obs_varint_get(p, len, &pos, &cnt))
			return -EBADMSG;
		for (uint64_t k = 0; k < cnt; k++) {
			uint64_t bl;
			if (obs_varint_get(p, len, &pos, &bl) || bl > len - pos)
				return -EBADMSG;
			uint32_t l32 = (uint32_t)bl;
			if (obs_buf_append(out, &l32, 4) || obs_buf_append(out, p + pos, (size_t)bl))
				return -ENOMEM;
			pos += (size_t)bl;
			(*n)++;
		}
	}
	return *n ? 0 : -ENOENT;
}

int obs_tstore_get(struct obs_tstore *s, const uint8_t id[16], struct obs_buf *out, size_t *n)
{
	pthread_mutex_lock(&s->mu);
	void *v = obs_strmap_get(s->ids, obs_strmap_hash(id, 16), id, 16);
	int rc = v ? tst_get_locked(s, (uint32_t)((uintptr_t)v - 1), out, n) : -ENOENT;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int obs_tstore_has(struct obs_tstore *s, const uint8_t id[16])
{
	pthread_mutex_lock(&s->mu);
	int r = obs_strmap_get(s->ids, obs_strmap_hash(id, 16), id, 16) != NULL;
	pthread_mutex_unlock(&s->mu);
	return r;
}

void obs_tstore_get_stats(struct obs_tstore *s, struct obs_tstore_stats *st)
{
	pthread_mutex_lock(&s->mu);
	s->st.terms = obs_strmap_count(s->terms);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
}
