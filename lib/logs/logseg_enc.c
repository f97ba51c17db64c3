/* logseg_enc.c — writing log segments (libobs logs): the encoder, a pure
 * function from records to a segment image (format at the top of
 * logseg.c): lines cut into zstd frames, the time column, the field index
 * (one CRoaring bitmap of line numbers per field=value, within a size
 * budget), the trigram index of each frame and its identifier filter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/crc32c.h"
#include "core/strmap.h"
#include "core/varint.h"
#include "core/vec.h"
#include "logs/logline.h"
#include "logs/logseg_int.h"

#define INDEX_LEVEL 9   /* zstd level of the index blob */

static int buf_u32(struct obs_buf *b, uint32_t v)
{
	uint8_t t[4];
	obs_put_le32(t, v);
	return obs_buf_append(b, t, 4);
}

static int buf_u64(struct obs_buf *b, uint64_t v)
{
	uint8_t t[8];
	obs_put_le64(t, v);
	return obs_buf_append(b, t, 8);
}

static int buf_u16(struct obs_buf *b, uint16_t v)
{
	uint8_t t[2];
	obs_put_le16(t, v);
	return obs_buf_append(b, t, 2);
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
	size_t nvals, vals_cap;
};

struct fbuild {
	struct field f[MAX_FIELDS];
	int nf, complete;
	unsigned max_values;
	uint32_t line;
	uint64_t seen;             /* fields seen on the current line */
	uint64_t *ids;             /* identifier hashes of the current frame */
	size_t nids, ids_cap;
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
	f->nvals = f->vals_cap = 0;
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
	if (lseg_is_id(v, vn)) {
		if (OBS_VEC_RESERVE(b->ids, b->ids_cap, b->nids + 1) < 0) {
			b->oom = 1;
			return 1;
		}
		b->ids[b->nids++] = lseg_id_hash(k, kn, v, vn);
	}
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
		int grown = OBS_VEC_RESERVE(f->vals, f->vals_cap, f->nvals + 1) == 0;
		fv = calloc(1, sizeof(*fv));
		if (!grown || !fv || !(fv->v = malloc(vn + 1)) || !(fv->bm = roaring_bitmap_create())) {
			if (fv) {
				free(fv->v);
				free(fv);
			}
			b->oom = 1;
			return 1;
		}
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The identifier filter of a frame (its distinct hashes h[0..n), sorted
 * and deduplicated here) onto out: u32 nbits | nbits / 8 bytes, nbits the
 * least power of two >= ID_BITS_PER * distinct (at least 64), 0 for none. */
static int put_id_filter(struct obs_buf *out, uint64_t *h, size_t n)
{
	size_t d = 0;
	if (n)
		qsort(h, n, sizeof(*h), cmp_u64);
	for (size_t k = 0; k < n; k++)
		if (!d || h[k] != h[d - 1])
			h[d++] = h[k];
	uint32_t nbits = 0;
	if (d) {
		nbits = 64;
		while (nbits < (1u << 31) && nbits < ID_BITS_PER * d)
			nbits <<= 1;
	}
	int r = buf_u32(out, nbits);
	if (r < 0 || !nbits)
		return r;
	if ((r = obs_buf_reserve(out, nbits / 8)) < 0)
		return r;
	uint8_t *f = (uint8_t *)out->data + out->len;
	memset(f, 0, nbits / 8);
	for (size_t k = 0; k < d; k++)
		for (uint32_t j = 0; j < ID_PROBES; j++) {
			uint32_t bit = lseg_id_bit(h[k], j, nbits);
			f[bit >> 3] |= (uint8_t)(1u << (bit & 7));
		}
	out->len += nbits / 8;
	return 0;
}

static int cmp_fval(const void *a, const void *b)
{
	const struct fval *x = *(const struct fval *const *)a, *y = *(const struct fval *const *)b;
	size_t m = x->vn < y->vn ? x->vn : y->vn;
	int c = memcmp(x->v, y->v, m);
	return c ? c : (x->vn > y->vn) - (x->vn < y->vn);
}

/* Append the footer of the image at out->data + base, whose frame table
 * (tabn bytes) and compressed index (icl bytes, iraw raw) end the buffer. */
static int put_footer(struct obs_buf *out, size_t base, size_t tabn, size_t icl, uint64_t iraw, int64_t mn,
		      int64_t mx)
{
	const uint8_t *img = (const uint8_t *)out->data + base;
	uint64_t ioff = out->len - base - icl;
	uint8_t ft[FTR_BYTES];
	obs_put_le64(ft, ioff);
	obs_put_le64(ft + 8, icl);
	obs_put_le64(ft + 16, iraw);
	obs_put_le64(ft + 24, (uint64_t)mn);
	obs_put_le64(ft + 32, (uint64_t)mx);
	obs_put_le32(ft + 40, obs_crc32c(0, img + ioff, icl));
	obs_put_le32(ft + 44, obs_crc32c(obs_crc32c(obs_crc32c(0, img, HDR_BYTES), img + ioff - tabn, tabn), ft, 44));
	memcpy(ft + 48, "OBSLSEGE", 8);
	return obs_buf_append(out, ft, FTR_BYTES);
}

int obs_logseg_encode(const struct obs_logseg_input *in, const struct obs_logseg_opts *o, struct obs_buf *out)
{
	size_t frame_bytes = o && o->frame_bytes ? o->frame_bytes : (4u << 20);
	int level = o && o->level ? o->level : 15;
	double budget = o && o->field_budget > 0 ? o->field_budget : 0.5;
	struct fbuild *fb = calloc(1, sizeof(*fb));
	struct obs_buf idx, raw, ftab, ids;
	obs_buf_init(&idx);
	obs_buf_init(&raw);
	obs_buf_init(&ftab);
	obs_buf_init(&ids);
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
	obs_put_le32(hdr + 8, SEG_VERSION | (uint32_t)level << 16);
	obs_put_le32(hdr + 12, 0); /* nframes, patched below */
	obs_put_le64(hdr + 16, in->n);
	obs_put_le64(hdr + 24, in->first_seq);
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
		if ((r = put_id_filter(&ids, fb->ids, fb->nids)) < 0)
			goto done;
		fb->nids = 0;
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
		if ((r = buf_u64(&ftab, out->len - base)) < 0 || (r = buf_u32(&ftab, (uint32_t)cl)) < 0 ||
		    (r = buf_u32(&ftab, crc)) < 0 || (r = buf_u32(&idx, (uint32_t)raw.len)) < 0 ||
		    (r = buf_u32(&idx, (uint32_t)(i - first))) < 0)
			goto done;
		out->len += cl;
		nframes++;
	}
	obs_put_le32((uint8_t *)out->data + base + 12, nframes);

	/* index blob: the frames' rawlen | nlines are in it already */
	int64_t prev = 0;
	for (size_t k = 0; k < in->n; k++) {
		int64_t d = in->ts[k] - prev;
		prev = in->ts[k];
		if ((r = obs_buf_varint(&idx, obs_zigzag(d))) < 0)
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
	if ((r = obs_buf_append(&idx, ids.data, ids.len)) < 0)
		goto done;

	if ((r = obs_buf_append(out, ftab.data, ftab.len)) < 0)
		goto done;
	size_t bound = ZSTD_compressBound(idx.len);
	if ((r = obs_buf_reserve(out, bound + FTR_BYTES)) < 0)
		goto done;
	size_t cl = ZSTD_compressCCtx(cc, out->data + out->len, bound, idx.data, idx.len, INDEX_LEVEL);
	if (ZSTD_isError(cl)) {
		r = -EIO;
		goto done;
	}
	out->len += cl;
	r = put_footer(out, base, ftab.len, cl, idx.len, mn, mx);
done:
	if (r < 0 && out->len > base) {
		out->len = base;
		if (out->cap)
			out->data[base] = 0;
	}
	if (fb) {
		for (int f = 0; f < fb->nf; f++)
			field_drop_values(&fb->f[f]);
		free(fb->ids);
	}
	free(fb);
	free(seen);
	free(hs);
	roaring_bitmap_free(tri);
	ZSTD_freeCCtx(cc);
	obs_buf_release(&idx);
	obs_buf_release(&raw);
	obs_buf_release(&ftab);
	obs_buf_release(&ids);
	return r;
}


/* v1 -> v2: the blob without the frames' places (off, clen, crc), which
 * move to the frame table; everything after the frame table as it is */
static int v2_blob(const struct obs_logseg *s, struct obs_buf *b)
{
	int r = obs_buf_reserve(b, (size_t)s->nframes * 8 + (s->index_raw - s->blob_rest));
	for (uint32_t f = 0; f < s->nframes && !r; f++)
		if ((r = buf_u32(b, s->fr[f].rawlen)) == 0)
			r = buf_u32(b, s->fr[f].nlines);
	if (!r)
		r = obs_buf_append(b, s->blob + s->blob_rest, s->index_raw - s->blob_rest);
	return r;
}

int obs_logseg_reencode(const struct obs_logseg *s, int level, struct obs_buf *out)
{
	size_t base = out->len;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	struct obs_buf ftab, blob;
	obs_buf_init(&ftab);
	obs_buf_init(&blob);
	char *raw = NULL;
	int r = cc ? obs_buf_append(out, s->p, HDR_BYTES) : -ENOMEM;
	if (r < 0)
		goto done;
	/* v2 and v3 keep their version (a v2 index has no identifier filters) */
	uint32_t version = s->version == 1 ? 2 : (uint32_t)s->version;
	obs_put_le32((uint8_t *)out->data + base + 8, version | (uint32_t)level << 16);
	for (uint32_t f = 0; f < s->nframes; f++) {
		if ((r = lseg_frame_get(s, f, &raw)) < 0)
			goto done;
		size_t rawlen = s->fr[f].rawlen, bound = ZSTD_compressBound(rawlen);
		if ((r = obs_buf_reserve(out, bound)) < 0)
			goto done;
		size_t cl = ZSTD_compressCCtx(cc, out->data + out->len, bound, raw, rawlen, level);
		free(raw);
		raw = NULL;
		if (ZSTD_isError(cl)) {
			r = -EIO;
			goto done;
		}
		uint32_t crc = obs_crc32c(0, out->data + out->len, cl);
		if ((r = buf_u64(&ftab, out->len - base)) < 0 || (r = buf_u32(&ftab, (uint32_t)cl)) < 0 ||
		    (r = buf_u32(&ftab, crc)) < 0)
			goto done;
		out->len += cl;
	}
	if ((r = obs_buf_append(out, ftab.data, ftab.len)) < 0)
		goto done;
	size_t icl = s->index_bytes;
	uint64_t iraw = s->index_raw;
	if (s->version >= 2) {   /* the index as it is, byte for byte */
		r = obs_buf_append(out, s->p + s->index_off, s->index_bytes);
	} else if ((r = v2_blob(s, &blob)) == 0) {
		size_t bound = ZSTD_compressBound(blob.len);
		if ((r = obs_buf_reserve(out, bound)) == 0) {
			icl = ZSTD_compressCCtx(cc, out->data + out->len, bound, blob.data, blob.len, INDEX_LEVEL);
			if (ZSTD_isError(icl))
				r = -EIO;
			else
				out->len += icl;
		}
		iraw = blob.len;
	}
	if (r == 0)
		r = put_footer(out, base, ftab.len, icl, iraw, s->min_ts, s->max_ts);
done:
	if (r < 0 && out->len > base) {
		out->len = base;
		if (out->cap)
			out->data[base] = 0;
	}
	free(raw);
	ZSTD_freeCCtx(cc);
	obs_buf_release(&ftab);
	obs_buf_release(&blob);
	return r;
}
