/* rollup_file.c — rollup files: the format and its writer (the reader is
 * rollup_read.c, what both use rollup_file_int.h; the bucket algebra is
 * rollup.c).
 *
 * File layout (all integers little-endian; CRC = CRC-32C):
 *
 *   header (32 bytes, offset 0)
 *      0  magic "OBSRLUP\x01"
 *      8  i64 step (ms, > 0)
 *     16  u32 alpha_ppm      sketch parameters of every bucket (sketch.h)
 *     20  u32 max_buckets
 *     24  u32 version (1)
 *     28  u32 CRC of bytes 0..27
 *   frames and frame directories, one group per series (anywhere in
 *   [32, index_off)); a series is cut into frames of at most 256 buckets so
 *   that a short range decodes only the frames it meets:
 *      frame data (stored_len bytes; zstd of raw_len bytes when raw_len != 0,
 *      else raw). Raw frame = u8 scale, then buckets. scale 0..15: the
 *      frame is decimal, every min, max and last of a bucket with count > 0
 *      is m / 10^scale (m an integer, |m| <= 2^53, the division giving
 *      back the very double); 0xff: not decimal. Each bucket:
 *          varint (t - t_prev) / step - 1     (absent for the first: t = first_t)
 *          varint count, varint nan_count     (count + nan_count > 0)
 *          if count > 0:
 *              u8 eq: bit0 max == min, bit1 sum == min, bit2 last == min,
 *                     bit3 last == max (not with bit2), bit4 (decimal frames
 *                     only) sum is not decimal, other bits 0
 *                     (equal = same bits; an equal field is not written)
 *              float min, [float max], [float sum], [float last]
 *              if count > 2: sketch body (sketch.c), whose count must equal
 *                  count; its min/max are the bucket's. With 1 or 2 values
 *                  the sketch is that of {min} or {min, max}: not written.
 *          else: float last (a NaN)
 *        float = in a decimal frame, for min, max, last (and sum unless
 *        bit4) of a bucket with count > 0: zz varint m - m of the same field
 *        of the previous such bucket of the frame (0 for the first);
 *        otherwise control byte (lz << 4 | tz, lz + tz <= 8) then 8 - lz - tz
 *        bytes (LE) of (bits XOR bits of the same field of the previous
 *        bucket of the frame, 0 for the first) >> 8*tz: lz/tz count the zero
 *        bytes at the top/bottom of that XOR.
 *      frame directory: nframes entries of 40 bytes:
 *          i64 first_t, i64 last_t, u64 offset, u32 stored_len, u32 raw_len,
 *          u32 nbuckets, u32 CRC of the stored bytes
 *   index (at index_off): nseries entries of 48 bytes, ids ascending:
 *          u32 series_id, u32 nframes, u64 nbuckets, i64 mint, i64 maxt,
 *          u64 dir_offset, u32 CRC of the directory, u32 0
 *   footer (last 24 bytes):
 *          u64 index_off, u32 nseries, u32 CRC of the index, u32 "RLPF",
 *          u32 CRC of the footer's first 20 bytes
 *
 * Validity: header and footer CRCs and fields, index_off + 48 * nseries =
 * file size - 24, index CRC, ascending ids, every offset inside [32,
 * index_off) (checked at open); a directory's CRC, frames in increasing time,
 * bucket counts adding up and each frame's CRC (checked when read). A frame
 * decodes to exactly nbuckets buckets ending at last_t, with t multiples of
 * step, or the read fails with -EBADMSG.
 * Recovery: none needed: files are written to PATH.tmp.XXXXXX, fsynced,
 * renamed and the directory fsynced; a leftover temporary is garbage. */
#include "tsdb/rollup_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "core/fileio.h"
#include "core/varint.h"
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/bytes.h"
#include "core/corrupt.h"
#include "core/crc32c.h"
#include "core/vec.h"
#include "tsdb/rollup_file_int.h"

/* ---- little helpers ---- */

static int put_xfloat(struct obs_buf *b, double v, uint64_t *prev)
{
	uint64_t u = obs_f64_bits(v), x = u ^ *prev;
	*prev = u;
	int lz = 8, tz = 0;
	if (x) {
		lz = __builtin_clzll(x) / 8;
		tz = __builtin_ctzll(x) / 8;
	}
	int m = 8 - lz - tz;
	uint8_t tmp[9];
	tmp[0] = (uint8_t)(lz << 4 | tz);
	uint64_t y = m ? x >> (8 * tz) : 0;
	for (int i = 0; i < m; i++)
		tmp[1 + i] = (uint8_t)(y >> (8 * i));
	return obs_buf_append(b, tmp, (size_t)m + 1);
}

/* v as m / 10^e exactly (same bits back), or false. */
static bool dec_of(double v, int e, int64_t *m)
{
	double x = v * p10[e];
	if (!(fabs(x) <= (double)DEC_MAX_M))
		return false;
	int64_t k = llround(x);
	if (obs_f64_bits((double)k / p10[e]) != obs_f64_bits(v))
		return false;
	*m = k;
	return true;
}

static int put_val(struct obs_buf *b, struct fctx *f, int col, double v, bool dec)
{
	int64_t m;
	if (dec && f->e >= 0 && dec_of(v, f->e, &m)) {
		int rc = obs_buf_varint(b, obs_zigzag(m - f->c[col].m));
		f->c[col].m = m;
		return rc;
	}
	return put_xfloat(b, v, &f->c[col].bits);
}

/* The smallest scale at which the min, max and last of every bucket of
 * b[0..n) with count > 0 are decimal, or -1. */
static int frame_scale(const struct obs_rollup_bucket *b, size_t n)
{
	int e = 0;
	int64_t m;
	for (size_t i = 0; i < n; i++) {
		if (!b[i].count)
			continue;
		const double v[3] = { b[i].min, b[i].max, b[i].last };
		for (int k = 0; k < 3; k++) {
			while (e < 16 && !dec_of(v[k], e, &m))
				e++;
			if (e == 16)
				return -1;
		}
	}
	return e;
}

/* ---- writer ---- */

struct idx_ent {
	uint32_t id, nframes;
	uint64_t nbuckets;
	int64_t mint, maxt;
	uint64_t dir_off;
	uint32_t dir_crc;
};

struct obs_rollup_writer {
	struct obs_atomic_file f;   /* the temp file, renamed over the path on commit */
	int64_t step;
	uint32_t alpha_ppm, max_buckets;
	bool params_set;
	uint64_t off;             /* file offset of out's first byte */
	struct obs_buf out;       /* pending bytes */
	struct obs_buf raw, dir;  /* per-frame scratch, per-series directory */
	struct idx_ent *idx;
	size_t nidx, capidx;
	ZSTD_CCtx *cctx;
};


static int w_flush(struct obs_rollup_writer *w)
{
	int rc = obs_write_all(w->f.fd, w->out.data, w->out.len);
	if (!rc) {
		w->off += w->out.len;
		obs_buf_reset(&w->out);
	}
	return rc;
}

static int w_emit(struct obs_rollup_writer *w, const void *p, size_t n)
{
	int rc = obs_buf_append(&w->out, p, n);
	if (!rc && w->out.len >= (1u << 20))
		rc = w_flush(w);
	return rc;
}

void obs_rollup_writer_abort(struct obs_rollup_writer *w)
{
	if (!w)
		return;
	obs_atomic_abort(&w->f);
	obs_buf_release(&w->out);
	obs_buf_release(&w->raw);
	obs_buf_release(&w->dir);
	free(w->idx);
	ZSTD_freeCCtx(w->cctx);
	free(w);
}

int obs_rollup_writer_new(const char *path, int64_t step, struct obs_rollup_writer **out)
{
	if (step <= 0)
		return -EINVAL;
	struct obs_rollup_writer *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->f.fd = -1;
	w->step = step;
	obs_buf_init(&w->out);
	obs_buf_init(&w->raw);
	obs_buf_init(&w->dir);
	w->cctx = ZSTD_createCCtx();
	if (!w->cctx) {
		obs_rollup_writer_abort(w);
		return -ENOMEM;
	}
	int rc = obs_atomic_open(&w->f, path);
	if (rc) {
		obs_rollup_writer_abort(w);
		return rc;
	}
	uint8_t zero[HDR_SIZE] = { 0 };
	rc = w_emit(w, zero, HDR_SIZE);
	if (rc) {
		obs_rollup_writer_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int encode_bucket(struct obs_buf *raw, const struct obs_rollup_bucket *b, const struct obs_rollup_bucket *prev,
			 int64_t step, struct fctx *f)
{
	int rc = 0;
	if (prev)
		rc = obs_buf_varint(raw, (uint64_t)((b->t - prev->t) / step - 1));
	if (!rc)
		rc = obs_buf_varint(raw, b->count);
	if (!rc)
		rc = obs_buf_varint(raw, b->nan_count);
	if (rc)
		return rc;
	if (!b->count)
		return put_val(raw, f, 3, b->last, false);
	uint64_t mn = obs_f64_bits(b->min), mx = obs_f64_bits(b->max), last = obs_f64_bits(b->last);
	int64_t m;
	bool sum_dec = f->e >= 0 && dec_of(b->sum, f->e, &m);
	uint8_t eq = (mx == mn ? 1 : 0) | (obs_f64_bits(b->sum) == mn ? 2 : 0) | (last == mn ? 4 : last == mx ? 8 : 0) |
		     (f->e >= 0 && !sum_dec ? 16 : 0);
	rc = obs_buf_append(raw, &eq, 1);
	if (!rc)
		rc = put_val(raw, f, 0, b->min, true);
	if (!rc && !(eq & 1))
		rc = put_val(raw, f, 1, b->max, true);
	if (!rc && !(eq & 2))
		rc = put_val(raw, f, 2, b->sum, sum_dec);
	if (!rc && !(eq & 12))
		rc = put_val(raw, f, 3, b->last, true);
	if (!rc && b->count > 2)
		rc = obs_sketch_encode_body(b->sk, raw);
	return rc;
}

int obs_rollup_writer_add(struct obs_rollup_writer *w, uint32_t series_id, const struct obs_rollup_series *s)
{
	if (!s->n)
		return 0;
	if (s->step != w->step)
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++) {
		const struct obs_rollup_bucket *b = &s->b[i];
		if (b->t % w->step || (i && b->t <= s->b[i - 1].t) || b->count + b->nan_count < b->count ||
		    b->count + b->nan_count == 0)
			return -EINVAL;
		if (b->count) {
			if (!b->sk || obs_sketch_count(b->sk) != b->count || isnan(b->min) || isnan(b->max) ||
			    b->min > b->max || obs_sketch_min(b->sk) != b->min || obs_sketch_max(b->sk) != b->max)
				return -EINVAL;
			uint32_t a = obs_sketch_alpha_ppm(b->sk), m = obs_sketch_max_buckets(b->sk);
			if (!w->params_set) {
				w->alpha_ppm = a;
				w->max_buckets = m;
				w->params_set = true;
			} else if (a != w->alpha_ppm || m != w->max_buckets) {
				return -EINVAL;
			}
		}
	}
	if (OBS_VEC_RESERVE_FROM(w->idx, w->capidx, w->nidx + 1, 64))
		return -ENOMEM;
	obs_buf_reset(&w->dir);
	uint32_t nframes = 0;
	int rc = 0;
	for (size_t f = 0; f < s->n && !rc; f += FRAME_BUCKETS) {
		size_t e = f + FRAME_BUCKETS < s->n ? f + FRAME_BUCKETS : s->n;
		struct fctx fc;
		memset(&fc, 0, sizeof fc);
		fc.e = frame_scale(s->b + f, e - f);
		uint8_t scale = fc.e < 0 ? 0xff : (uint8_t)fc.e;
		obs_buf_reset(&w->raw);
		rc = obs_buf_append(&w->raw, &scale, 1);
		for (size_t i = f; i < e && !rc; i++)
			rc = encode_bucket(&w->raw, &s->b[i], i > f ? &s->b[i - 1] : NULL, w->step, &fc);
		if (rc)
			break;
		if (w->raw.len > MAX_RAW_FRAME)
			return -E2BIG;
		/* zstd when it saves at least an eighth */
		size_t bound = ZSTD_compressBound(w->raw.len);
		rc = obs_buf_reserve(&w->out, bound);
		if (rc)
			break;
		const void *stored = w->raw.data;
		size_t slen = w->raw.len;
		uint32_t rawlen = 0;
		size_t z = ZSTD_compressCCtx(w->cctx, w->out.data + w->out.len, bound, w->raw.data, w->raw.len, 1);
		if (!ZSTD_isError(z) && z < w->raw.len - w->raw.len / 8) {
			stored = w->out.data + w->out.len;
			slen = z;
			rawlen = (uint32_t)w->raw.len;
		}
		uint8_t d[DIR_ENT];
		obs_put_le64(d, (uint64_t)s->b[f].t);
		obs_put_le64(d + 8, (uint64_t)s->b[e - 1].t);
		obs_put_le64(d + 16, w->off + w->out.len);
		obs_put_le32(d + 24, (uint32_t)slen);
		obs_put_le32(d + 28, rawlen);
		obs_put_le32(d + 32, (uint32_t)(e - f));
		obs_put_le32(d + 36, obs_crc32c(0, stored, slen));
		if (rawlen) {
			w->out.len += slen;   /* compressed in place */
			w->out.data[w->out.len] = 0;
			if (w->out.len >= (1u << 20))
				rc = w_flush(w);
		} else {
			rc = w_emit(w, stored, slen);
		}
		if (!rc)
			rc = obs_buf_append(&w->dir, d, DIR_ENT);
		nframes++;
	}
	if (rc)
		return rc;
	struct idx_ent *ie = &w->idx[w->nidx];
	ie->id = series_id;
	ie->nframes = nframes;
	ie->nbuckets = s->n;
	ie->mint = s->b[0].t;
	ie->maxt = s->b[s->n - 1].t;
	ie->dir_off = w->off + w->out.len;
	ie->dir_crc = obs_crc32c(0, w->dir.data, w->dir.len);
	rc = w_emit(w, w->dir.data, w->dir.len);
	if (rc)
		return rc;
	w->nidx++;
	return 0;
}

static int cmp_idx(const void *a, const void *b)
{
	uint32_t x = ((const struct idx_ent *)a)->id, y = ((const struct idx_ent *)b)->id;
	return (x > y) - (x < y);
}


int obs_rollup_writer_commit(struct obs_rollup_writer *w)
{
	int rc = 0;
	qsort(w->idx, w->nidx, sizeof *w->idx, cmp_idx);
	for (size_t i = 1; i < w->nidx; i++)
		if (w->idx[i].id == w->idx[i - 1].id)
			rc = -EEXIST;
	if (w->nidx > UINT32_MAX)
		rc = -E2BIG;
	uint64_t index_off = w->off + w->out.len;
	uint32_t icrc = 0;
	for (size_t i = 0; i < w->nidx && !rc; i++) {
		uint8_t e[IDX_ENT] = { 0 };
		const struct idx_ent *ie = &w->idx[i];
		obs_put_le32(e, ie->id);
		obs_put_le32(e + 4, ie->nframes);
		obs_put_le64(e + 8, ie->nbuckets);
		obs_put_le64(e + 16, (uint64_t)ie->mint);
		obs_put_le64(e + 24, (uint64_t)ie->maxt);
		obs_put_le64(e + 32, ie->dir_off);
		obs_put_le32(e + 40, ie->dir_crc);
		icrc = obs_crc32c(icrc, e, IDX_ENT);
		rc = w_emit(w, e, IDX_ENT);
	}
	if (!rc) {
		uint8_t f[FOOT_SIZE];
		obs_put_le64(f, index_off);
		obs_put_le32(f + 8, (uint32_t)w->nidx);
		obs_put_le32(f + 12, icrc);
		memcpy(f + 16, "RLPF", 4);
		obs_put_le32(f + 20, obs_crc32c(0, f, 20));
		rc = w_emit(w, f, FOOT_SIZE);
	}
	if (!rc)
		rc = obs_fault("rollup.write");
	if (!rc)
		rc = w_flush(w);
	if (!rc) {
		uint8_t h[HDR_SIZE];
		memcpy(h, magic, 8);
		obs_put_le64(h + 8, (uint64_t)w->step);
		obs_put_le32(h + 16, w->params_set ? w->alpha_ppm : OBS_SKETCH_ALPHA_PPM);
		obs_put_le32(h + 20, w->params_set ? w->max_buckets : OBS_SKETCH_MAX_BUCKETS);
		obs_put_le32(h + 24, 1);
		obs_put_le32(h + 28, obs_crc32c(0, h, 28));
		if (pwrite(w->f.fd, h, HDR_SIZE, 0) != HDR_SIZE)
			rc = errno ? -errno : -EIO;
	}
	if (!rc)   /* fault points rollup.fsync, rollup.rename, rollup.dirsync */
		rc = obs_atomic_commit(&w->f, "rollup");
	obs_rollup_writer_abort(w);
	return rc;
}
