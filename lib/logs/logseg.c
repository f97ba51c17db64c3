/* logseg.c — immutable log segment: encoder, loader, index planner, search.
 *
 * File layout (all integers little-endian):
 *
 *   header  32 bytes   "OBSLSEG1" | u16 version (1) | u16 zstd level of
 *                      the frames | u32 nframes |
 *                      u64 nlines | u64 first_seq
 *   frames             nframes zstd frames back to back from offset 32; frame
 *                      i holds its lines each followed by '\n'
 *   index              one zstd frame (the "index blob", below)
 *   footer  56 bytes   u64 index_off | u64 index_clen | u64 index_rawlen |
 *                      i64 min_ts | i64 max_ts | u32 crc32c(index bytes) |
 *                      u32 crc32c(header + footer bytes 0..43) | "OBSLSEGE"
 *
 * Index blob (after zstd decompression):
 *   frame table   per frame: u64 offset | u32 clen | u32 rawlen | u32 nlines |
 *                 u32 crc32c(compressed frame)
 *   time column   nlines zigzag varints: ts[i] - ts[i-1] (ts[-1] = 0)
 *   fields        u32 nfields | u8 complete (1: every field of every line is
 *                 listed) | per field: u16 namelen | name | u8 indexed |
 *                 u32 nvalues | per value: u16 vlen | value | u32 blen |
 *                 portable CRoaring bitmap of line numbers
 *   trigrams      u32 blen | portable CRoaring bitmap of frame<<16 | h, h the
 *                 16-bit hash of each byte trigram present in the frame
 *
 * Validity: both magics, crc_meta and crc_index match, every length stays
 * inside its buffer, bitmaps deserialize with the _safe reader, frame ranges
 * lie inside [32, index_off), line counts add up. A frame's crc is checked
 * when it is decompressed. A segment failing any check is -EBADMSG; the store
 * then ignores it (its records are still in the WAL if it was never
 * acknowledged, see logstore.c). Segments are written to a temp name, fsynced
 * and renamed, so a torn segment is never visible under its final name. */
#include "logs/logseg.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <pthread.h>
#include <roaring/roaring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/crc32c.h"
#include "core/obstime.h"
#include "core/strmap.h"
#include "logs/logline.h"

#define HDR_BYTES 32
#define FTR_BYTES 56
#define MAX_FIELDS 64

/* ---- little-endian helpers ---------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static int buf_u32(struct obs_buf *b, uint32_t v)
{
	uint8_t t[4];
	put32(t, v);
	return obs_buf_append(b, t, 4);
}

static int buf_u64(struct obs_buf *b, uint64_t v)
{
	uint8_t t[8];
	put64(t, v);
	return obs_buf_append(b, t, 8);
}

static int buf_u16(struct obs_buf *b, uint16_t v)
{
	uint8_t t[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	return obs_buf_append(b, t, 2);
}

static int buf_varint(struct obs_buf *b, uint64_t v)
{
	uint8_t t[10];
	int k = 0;
	while (v >= 0x80) {
		t[k++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[k++] = (uint8_t)v;
	return obs_buf_append(b, t, (size_t)k);
}

struct rd {
	const uint8_t *p;
	size_t n, i;
	int bad;
};

static const uint8_t *rd_take(struct rd *r, size_t k)
{
	if (r->bad || r->n - r->i < k) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *p = r->p + r->i;
	r->i += k;
	return p;
}

static uint32_t rd32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	return p ? get32(p) : 0;
}

static uint64_t rd64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	return p ? get64(p) : 0;
}

static uint16_t rd16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint64_t rdvarint(struct rd *r)
{
	uint64_t v = 0;
	for (int sh = 0; sh < 64; sh += 7) {
		const uint8_t *p = rd_take(r, 1);
		if (!p)
			return 0;
		v |= (uint64_t)(*p & 0x7f) << sh;
		if (!(*p & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

static inline uint32_t tri_hash(const uint8_t *p)
{
	uint32_t t = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	return (t * 2654435761u) >> 16;
}

/* ---- encoder ------------------------------------------------------------ */

struct fval {
	char *v;
	size_t vn;
	roaring_bitmap_t *bm;
};

struct field {
	char name[64];
	size_t nlen;
	int indexed;
	struct obs_strmap *map;    /* value -> struct fval * */
	struct fval **vals;
	size_t nvals;
};

struct fbuild {
	struct field f[MAX_FIELDS];
	int nf, complete;
	unsigned max_values;
	uint32_t line;
	uint64_t seen;             /* fields seen on the current line */
	int oom;
};

static void field_drop_values(struct field *f)
{
	for (size_t i = 0; i < f->nvals; i++) {
		roaring_bitmap_free(f->vals[i]->bm);
		free(f->vals[i]->v);
		free(f->vals[i]);
	}
	free(f->vals);
	f->vals = NULL;
	f->nvals = 0;
	obs_strmap_free(f->map);
	f->map = NULL;
	f->indexed = 0;
}

static int fbuild_cb(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	struct fbuild *b = ctx;
	int i;
	for (i = 0; i < b->nf; i++)
		if (b->f[i].nlen == kn && !memcmp(b->f[i].name, k, kn))
			break;
	if (i == b->nf) {
		if (b->nf == MAX_FIELDS || kn >= sizeof(b->f[0].name)) {
			b->complete = 0;
			return 0;
		}
		struct field *f = &b->f[b->nf++];
		memcpy(f->name, k, kn);
		f->name[kn] = 0;
		f->nlen = kn;
		f->indexed = 1;
		if (!(f->map = obs_strmap_new())) {
			b->oom = 1;
			return 1;
		}
	}
	if (b->seen & (1ULL << i))
		return 0;
	b->seen |= 1ULL << i;
	struct field *f = &b->f[i];
	if (!f->indexed)
		return 0;
	if (vn > 128) {
		field_drop_values(f);
		return 0;
	}
	uint64_t h = obs_strmap_hash(v, vn);
	struct fval *fv = obs_strmap_get(f->map, h, v, vn);
	if (!fv) {
		if (f->nvals >= b->max_values) {
			field_drop_values(f);
			return 0;
		}
		struct fval **nv = realloc(f->vals, (f->nvals + 1) * sizeof(*nv));
		fv = calloc(1, sizeof(*fv));
		if (!nv || !fv || !(fv->v = malloc(vn + 1)) || !(fv->bm = roaring_bitmap_create())) {
			if (nv)
				f->vals = nv;
			if (fv) {
				free(fv->v);
				free(fv);
			}
			b->oom = 1;
			return 1;
		}
		f->vals = nv;
		memcpy(fv->v, v, vn);
		fv->v[vn] = 0;
		fv->vn = vn;
		f->vals[f->nvals++] = fv;
		if (obs_strmap_put(f->map, h, v, vn, fv) < 0) {
			b->oom = 1;
			return 1;
		}
	}
	roaring_bitmap_add(fv->bm, b->line);
	return 0;
}

static int cmp_fval(const void *a, const void *b)
{
	const struct fval *x = *(const struct fval *const *)a, *y = *(const struct fval *const *)b;
	size_t m = x->vn < y->vn ? x->vn : y->vn;
	int c = memcmp(x->v, y->v, m);
	return c ? c : (x->vn > y->vn) - (x->vn < y->vn);
}

int obs_logseg_encode(const struct obs_logseg_input *in, const struct obs_logseg_opts *o, struct obs_buf *out)
{
	size_t frame_bytes = o && o->frame_bytes ? o->frame_bytes : (4u << 20);
	int level = o && o->level ? o->level : 15;
	double budget = o && o->field_budget > 0 ? o->field_budget : 0.5;
	struct fbuild *fb = calloc(1, sizeof(*fb));
	struct obs_buf idx, raw, frames_tab;
	obs_buf_init(&idx);
	obs_buf_init(&raw);
	obs_buf_init(&frames_tab);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	roaring_bitmap_t *tri = roaring_bitmap_create();
	uint8_t *seen = calloc(1, 1 << 13);        /* 2^16 bits: trigram hashes of this frame */
	uint32_t *hs = malloc(sizeof(uint32_t) << 16);
	int r = -ENOMEM;
	size_t base = out->len;
	if (!fb || !cc || !tri || !seen || !hs)
		goto done;
	fb->complete = 1;
	fb->max_values = o && o->max_values ? o->max_values : 256;

	int64_t mn = INT64_MAX, mx = INT64_MIN;
	for (size_t i = 0; i < in->n; i++) {
		if (in->ts[i] < mn)
			mn = in->ts[i];
		if (in->ts[i] > mx)
			mx = in->ts[i];
	}
	if (!in->n)
		mn = mx = 0;
	uint8_t hdr[HDR_BYTES];
	memcpy(hdr, "OBSLSEG1", 8);
	put32(hdr + 8, 1u | (uint32_t)level << 16);
	put32(hdr + 12, 0); /* nframes, patched below */
	put64(hdr + 16, in->n);
	put64(hdr + 24, in->first_seq);
	if ((r = obs_buf_append(out, hdr, HDR_BYTES)) < 0)
		goto done;

	uint32_t nframes = 0;
	size_t i = 0;
	while (i < in->n) {
		size_t first = i;
		obs_buf_reset(&raw);
		while (i < in->n && (raw.len < frame_bytes || i == first)) {
			if ((r = obs_buf_reserve(&raw, in->len[i] + 1)) < 0)
				goto done;
			memcpy(raw.data + raw.len, in->line[i], in->len[i]);
			raw.len += in->len[i];
			raw.data[raw.len++] = '\n';
			fb->line = (uint32_t)i;
			fb->seen = 0;
			obs_logline_fields(in->line[i], in->len[i], fbuild_cb, fb, NULL);
			if (fb->oom) {
				r = -ENOMEM;
				goto done;
			}
			i++;
		}
		/* trigram hashes of the frame */
		size_t nh = 0;
		const uint8_t *p = (const uint8_t *)raw.data;
		for (size_t k = 0; k + 2 < raw.len; k++) {
			uint32_t h = tri_hash(p + k);
			if (!(seen[h >> 3] & (1u << (h & 7)))) {
				seen[h >> 3] |= (uint8_t)(1u << (h & 7));
				hs[nh++] = h;
			}
		}
		for (size_t k = 0; k < nh; k++) {
			seen[hs[k] >> 3] = 0;
			hs[k] |= nframes << 16;
		}
		roaring_bitmap_add_many(tri, nh, hs);
		/* compress */
		size_t bound = ZSTD_compressBound(raw.len);
		if ((r = obs_buf_reserve(out, bound)) < 0)
			goto done;
		size_t cl = ZSTD_compressCCtx(cc, out->data + out->len, bound, raw.data, raw.len, level);
		if (ZSTD_isError(cl)) {
			r = -EIO;
			goto done;
		}
		uint32_t crc = obs_crc32c(0, out->data + out->len, cl);
		if ((r = buf_u64(&frames_tab, out->len - base)) < 0 || (r = buf_u32(&frames_tab, (uint32_t)cl)) < 0 ||
		    (r = buf_u32(&frames_tab, (uint32_t)raw.len)) < 0 ||
		    (r = buf_u32(&frames_tab, (uint32_t)(i - first))) < 0 || (r = buf_u32(&frames_tab, crc)) < 0)
			goto done;
		out->len += cl;
		nframes++;
	}
	put32((uint8_t *)out->data + base + 12, nframes);

	/* index blob */
	if ((r = obs_buf_append(&idx, frames_tab.data, frames_tab.len)) < 0)
		goto done;
	int64_t prev = 0;
	for (size_t k = 0; k < in->n; k++) {
		int64_t d = in->ts[k] - prev;
		prev = in->ts[k];
		if ((r = buf_varint(&idx, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63))) < 0)
			goto done;
	}
	/* drop fields whose bitmaps cost more than the budget */
	for (int f = 0; f < fb->nf; f++) {
		struct field *fl = &fb->f[f];
		if (!fl->indexed)
			continue;
		size_t bytes = 0;
		for (size_t v = 0; v < fl->nvals; v++) {
			roaring_bitmap_run_optimize(fl->vals[v]->bm);
			bytes += roaring_bitmap_portable_size_in_bytes(fl->vals[v]->bm) + fl->vals[v]->vn + 6;
		}
		if (bytes > 4096 && (double)bytes > budget * (double)in->n)
			field_drop_values(fl);
	}
	if ((r = buf_u32(&idx, (uint32_t)fb->nf)) < 0 || (r = obs_buf_putc(&idx, (char)fb->complete)) < 0)
		goto done;
	for (int f = 0; f < fb->nf; f++) {
		struct field *fl = &fb->f[f];
		if ((r = buf_u16(&idx, (uint16_t)fl->nlen)) < 0 || (r = obs_buf_append(&idx, fl->name, fl->nlen)) < 0 ||
		    (r = obs_buf_putc(&idx, (char)fl->indexed)) < 0 || (r = buf_u32(&idx, (uint32_t)fl->nvals)) < 0)
			goto done;
		if (fl->nvals)
			qsort(fl->vals, fl->nvals, sizeof(*fl->vals), cmp_fval);
		for (size_t v = 0; v < fl->nvals; v++) {
			struct fval *fv = fl->vals[v];
			size_t bl = roaring_bitmap_portable_size_in_bytes(fv->bm);
			if ((r = buf_u16(&idx, (uint16_t)fv->vn)) < 0 || (r = obs_buf_append(&idx, fv->v, fv->vn)) < 0 ||
			    (r = buf_u32(&idx, (uint32_t)bl)) < 0 || (r = obs_buf_reserve(&idx, bl)) < 0)
				goto done;
			idx.len += roaring_bitmap_portable_serialize(fv->bm, idx.data + idx.len);
		}
	}
	roaring_bitmap_run_optimize(tri);
	size_t tl = roaring_bitmap_portable_size_in_bytes(tri);
	if ((r = buf_u32(&idx, (uint32_t)tl)) < 0 || (r = obs_buf_reserve(&idx, tl)) < 0)
		goto done;
	idx.len += roaring_bitmap_portable_serialize(tri, idx.data + idx.len);

	size_t bound = ZSTD_compressBound(idx.len);
	if ((r = obs_buf_reserve(out, bound + FTR_BYTES)) < 0)
		goto done;
	size_t cl = ZSTD_compressCCtx(cc, out->data + out->len, bound, idx.data, idx.len, 9);
	if (ZSTD_isError(cl)) {
		r = -EIO;
		goto done;
	}
	uint64_t ioff = out->len - base;
	uint32_t icrc = obs_crc32c(0, out->data + out->len, cl);
	out->len += cl;
	uint8_t ft[FTR_BYTES];
	put64(ft, ioff);
	put64(ft + 8, cl);
	put64(ft + 16, idx.len);
	put64(ft + 24, (uint64_t)mn);
	put64(ft + 32, (uint64_t)mx);
	put32(ft + 40, icrc);
	put32(ft + 44, obs_crc32c(obs_crc32c(0, out->data + base, HDR_BYTES), ft, 44));
	memcpy(ft + 48, "OBSLSEGE", 8);
	r = obs_buf_append(out, ft, FTR_BYTES);
done:
	if (r < 0 && out->len > base) {
		out->len = base;
		if (out->cap)
			out->data[base] = 0;
	}
	if (fb)
		for (int f = 0; f < fb->nf; f++)
			field_drop_values(&fb->f[f]);
	free(fb);
	free(seen);
	free(hs);
	roaring_bitmap_free(tri);
	ZSTD_freeCCtx(cc);
	obs_buf_release(&idx);
	obs_buf_release(&raw);
	obs_buf_release(&frames_tab);
	return r;
}

/* ---- loaded segment ----------------------------------------------------- */

struct sframe {
	uint64_t off;
	uint32_t clen, rawlen, nlines, crc;
	uint64_t first_line;    /* record index of the frame's first line */
	uint64_t text_off;      /* rendering offset of its first line */
};

struct sval {
	const char *v;          /* points into the index blob */
	size_t vn;
	roaring_bitmap_t *bm;
};

struct sfield {
	const char *name;
	size_t nlen;
	int indexed;
	struct sval *vals;
	size_t nvals;
};

struct obs_logseg {
	const uint8_t *p;
	size_t n;
	int own;                /* 1: free(p), 2: munmap */
	uint8_t *blob;          /* decompressed index */
	uint32_t nframes;
	struct sframe *fr;
	uint64_t nlines, first_seq, raw_bytes, text_bytes, index_bytes;
	int64_t *ts, min_ts, max_ts;
	int ts_sorted, complete, level;
	struct sfield *fields;
	int nfields;
	roaring_bitmap_t *tri;
	pthread_mutex_t cache_mu;  /* guards the cached frame */
	int64_t cache_idx;
	char *cache;
};

void obs_logseg_close(struct obs_logseg *s)
{
	if (!s)
		return;
	for (int f = 0; f < s->nfields; f++) {
		for (size_t v = 0; v < s->fields[f].nvals; v++)
			roaring_bitmap_free(s->fields[f].vals[v].bm);
		free(s->fields[f].vals);
	}
	free(s->fields);
	roaring_bitmap_free(s->tri);
	free(s->fr);
	free(s->ts);
	free(s->blob);
	free(s->cache);
	if (s->own == 1)
		free((void *)s->p);
	else if (s->own == 2)
		munmap((void *)s->p, s->n);
	pthread_mutex_destroy(&s->cache_mu);
	free(s);
}

static roaring_bitmap_t *rd_bitmap(struct rd *r)
{
	uint32_t bl = rd32(r);
	const uint8_t *bp = rd_take(r, bl);
	if (!bp)
		return NULL;
	roaring_bitmap_t *bm = roaring_bitmap_portable_deserialize_safe((const char *)bp, bl);
	if (!bm)
		r->bad = 1;
	return bm;
}

int obs_logseg_load(const void *data, size_t n, int own, struct obs_logseg **out)
{
	const uint8_t *p = data;
	if (n < HDR_BYTES + FTR_BYTES || memcmp(p, "OBSLSEG1", 8) || memcmp(p + n - 8, "OBSLSEGE", 8))
		return -EBADMSG;
	const uint8_t *ft = p + n - FTR_BYTES;
	if (get32(ft + 44) != obs_crc32c(obs_crc32c(0, p, HDR_BYTES), ft, 44) || (get32(p + 8) & 0xffff) != 1)
		return -EBADMSG;
	uint64_t ioff = get64(ft), icl = get64(ft + 8), iraw = get64(ft + 16);
	if (ioff < HDR_BYTES || ioff > n - FTR_BYTES || icl != n - FTR_BYTES - ioff || iraw > (1ULL << 34))
		return -EBADMSG;
	if (get32(ft + 40) != obs_crc32c(0, p + ioff, icl))
		return -EBADMSG;
	struct obs_logseg *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->cache_mu, NULL);
	s->cache_idx = -1;
	s->p = p;
	s->n = n;
	s->level = (int)(get32(p + 8) >> 16);
	s->nframes = get32(p + 12);
	s->nlines = get64(p + 16);
	s->first_seq = get64(p + 24);
	s->min_ts = (int64_t)get64(ft + 24);
	s->max_ts = (int64_t)get64(ft + 32);
	s->index_bytes = icl;
	int r = -EBADMSG;
	if (s->nlines > (1ULL << 32) || s->nframes > s->nlines + 1 || s->nlines > iraw)
		goto bad;
	if (!(s->blob = malloc(iraw ? iraw : 1))) {
		r = -ENOMEM;
		goto bad;
	}
	size_t dn = ZSTD_decompress(s->blob, iraw, p + ioff, icl);
	if (ZSTD_isError(dn) || dn != iraw)
		goto bad;
	struct rd rr = { s->blob, iraw, 0, 0 };
	if (!(s->fr = calloc(s->nframes + 1, sizeof(*s->fr))) || !(s->ts = malloc((s->nlines + 1) * sizeof(int64_t)))) {
		r = -ENOMEM;
		goto bad;
	}
	uint64_t line = 0;
	for (uint32_t f = 0; f < s->nframes; f++) {
		struct sframe *fr = &s->fr[f];
		fr->off = rd64(&rr);
		fr->clen = rd32(&rr);
		fr->rawlen = rd32(&rr);
		fr->nlines = rd32(&rr);
		fr->crc = rd32(&rr);
		fr->first_line = line;
		fr->text_off = s->text_bytes;
		line += fr->nlines;
		s->raw_bytes += fr->rawlen - fr->nlines;
		s->text_bytes += fr->rawlen + (uint64_t)fr->nlines * (OBS_LOG_TIME_WIDTH + 1);
		if (rr.bad || fr->off < HDR_BYTES || fr->off > ioff || fr->clen > ioff - fr->off || fr->nlines == 0 ||
		    fr->rawlen < fr->nlines)
			goto bad;
	}
	if (line != s->nlines)
		goto bad;
	int64_t prev = 0;
	s->ts_sorted = 1;
	for (uint64_t k = 0; k < s->nlines; k++) {
		uint64_t z = rdvarint(&rr);
		int64_t d = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
		s->ts[k] = prev + d;
		if (d < 0)
			s->ts_sorted = 0;
		prev = s->ts[k];
	}
	uint32_t nf = rd32(&rr);
	const uint8_t *cp = rd_take(&rr, 1);
	if (rr.bad || nf > MAX_FIELDS)
		goto bad;
	s->complete = *cp;
	if (!(s->fields = calloc(nf + 1, sizeof(*s->fields)))) {
		r = -ENOMEM;
		goto bad;
	}
	for (uint32_t f = 0; f < nf; f++) {
		struct sfield *sf = &s->fields[f];
		s->nfields = (int)f + 1;
		sf->nlen = rd16(&rr);
		sf->name = (const char *)rd_take(&rr, sf->nlen);
		const uint8_t *ix = rd_take(&rr, 1);
		uint32_t nv = rd32(&rr);
		if (rr.bad || nv > s->nlines)
			goto bad;
		sf->indexed = *ix;
		if (!(sf->vals = calloc(nv + 1, sizeof(*sf->vals)))) {
			r = -ENOMEM;
			goto bad;
		}
		for (uint32_t v = 0; v < nv; v++) {
			sf->vals[v].vn = rd16(&rr);
			sf->vals[v].v = (const char *)rd_take(&rr, sf->vals[v].vn);
			sf->vals[v].bm = rd_bitmap(&rr);
			if (rr.bad)
				goto bad;
			sf->nvals = v + 1;
		}
	}
	s->tri = rd_bitmap(&rr);
	if (rr.bad || rr.i != rr.n)
		goto bad;
	s->own = own;
	*out = s;
	return 0;
bad:
	obs_logseg_close(s);
	return r;
}

int obs_logseg_open(const char *path, struct obs_logseg **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (st.st_size < HDR_BYTES + FTR_BYTES) {
		close(fd);
		return -EBADMSG;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	int r = obs_logseg_load(m, (size_t)st.st_size, 2, out);
	if (r < 0)
		munmap(m, (size_t)st.st_size);
	return r;
}

void obs_logseg_get_info(const struct obs_logseg *s, struct obs_logseg_info *i)
{
	memset(i, 0, sizeof(*i));
	i->nlines = s->nlines;
	i->first_seq = s->first_seq;
	i->raw_bytes = s->raw_bytes;
	i->file_bytes = s->n;
	i->index_bytes = s->index_bytes;
	i->nframes = s->nframes;
	for (int f = 0; f < s->nfields; f++)
		i->nfields_indexed += s->fields[f].indexed != 0;
	i->min_ts = s->min_ts;
	i->max_ts = s->max_ts;
	i->ts_sorted = s->ts_sorted;
	i->level = s->level;
}

uint64_t obs_logseg_text_size(const struct obs_logseg *s)
{
	return s->text_bytes;
}

/* decompress frame f into a malloc'd buffer (rawlen bytes) */
static int frame_get(const struct obs_logseg *s, uint32_t f, char **out)
{
	const struct sframe *fr = &s->fr[f];
	const uint8_t *cp = s->p + fr->off;
	if (obs_crc32c(0, cp, fr->clen) != fr->crc)
		return -EBADMSG;
	char *b = malloc(fr->rawlen ? fr->rawlen : 1);
	if (!b)
		return -ENOMEM;
	size_t dn = ZSTD_decompress(b, fr->rawlen, cp, fr->clen);
	if (ZSTD_isError(dn) || dn != fr->rawlen || b[fr->rawlen - 1] != '\n') {
		free(b);
		return -EBADMSG;
	}
	*out = b;
	return 0;
}

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
		if ((r = frame_get(s, f, &buf)) < 0)
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
			r = -EBADMSG;  /* frame holds fewer lines than its table says */
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

struct count_ctx {
	const char *by;
	obs_logcount_fn fn;
	void *ctx;
	uint64_t n;
};

static int count_cb(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct count_ctx *c = ctx;
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
		struct count_ctx c = { by, fn, ctx, 0 };
		struct walk w = { q, exact, count_cb, &c, st };
		r = walk(s, pl.bm, &w);
		*total += c.n;
	}
	roaring_bitmap_free(pl.bm);
	return r;
}

int obs_logseg_read_text(struct obs_logseg *s, uint64_t off, char *dst, size_t size, size_t *got)
{
	*got = 0;
	if (off >= s->text_bytes || !size)
		return 0;
	uint32_t lo = 0, hi = s->nframes;
	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;
		if (s->fr[mid].text_off <= off) lo = mid; else hi = mid;
	}
	int r = 0;
	pthread_mutex_lock(&s->cache_mu);
	for (uint32_t f = lo; f < s->nframes && *got < size; f++) {
		if (s->cache_idx != (int64_t)f) {
			char *b;
			if ((r = frame_get(s, f, &b)) < 0)
				break;
			free(s->cache);
			s->cache = b;
			s->cache_idx = f;
		}
		const char *p = s->cache, *end = s->cache + s->fr[f].rawlen;
		uint64_t t = s->fr[f].text_off, rec = s->fr[f].first_line;
		while (p < end && *got < size) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t ln = (size_t)(nl - p), rl = ln + OBS_LOG_TIME_WIDTH + 2;
			if (t + rl > off) {
				char tmp[40];
				obs_time_format(s->ts[rec], OBS_TIME_RFC3339, tmp);
				tmp[OBS_LOG_TIME_WIDTH] = ' ';
				uint64_t k = off > t ? off - t : 0;
				while (k < rl && *got < size) {
					char c = k <= OBS_LOG_TIME_WIDTH ? tmp[k] : p[k - OBS_LOG_TIME_WIDTH - 1];
					dst[(*got)++] = c;
					k++;
				}
			}
			t += rl;
			rec++;
			p = nl + 1;
		}
	}
	pthread_mutex_unlock(&s->cache_mu);
	return r;
}
