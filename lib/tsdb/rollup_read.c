/* rollup_read.c — the rollup file reader: open (header, directory and
 * footer checked), series info, range reads that decode only the frames a
 * range meets. The format is documented in rollup_file.c, which writes it.
 * Corruption is -EBADMSG, obs_corrupt_last() naming the file, the offset
 * and the check. */
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

static int get_xfloat(const uint8_t *p, size_t len, size_t *pos, uint64_t *prev, double *out)
{
	if (*pos >= len)
		return obs_corruptf(NULL, *pos, "float field: failed check (*pos >= len)");
	uint8_t c = p[(*pos)++];
	int lz = c >> 4, tz = c & 15;
	if (lz + tz > 8)
		return obs_corruptf(NULL, *pos, "float field: failed check (lz + tz > 8)");
	int m = 8 - lz - tz;
	if (len - *pos < (size_t)m)
		return obs_corruptf(NULL, *pos, "float field: failed check (len - *pos < (size_t)m)");
	uint64_t y = 0;
	for (int i = 0; i < m; i++)
		y |= (uint64_t)p[*pos + (size_t)i] << (8 * i);
	*pos += (size_t)m;
	uint64_t x = m ? y << (8 * tz) : 0;
	*prev ^= x;
	*out = obs_bits_f64(*prev);
	return 0;
}

static int get_val(const uint8_t *p, size_t len, size_t *pos, struct fctx *f, int col, bool dec, double *out)
{
	if (!(dec && f->e >= 0))
		return get_xfloat(p, len, pos, &f->c[col].bits, out);
	uint64_t u;
	if (obs_varint_get(p, len, pos, &u))
		return obs_corruptf(NULL, *pos, "value field: failed check (obs_varint_get(p, len, pos, &u))");
	int64_t d = obs_unzigzag(u), m = f->c[col].m;
	if (d > DEC_MAX_M - m || d < -DEC_MAX_M - m)
		return obs_corruptf(NULL, *pos, "value field: failed check (d > DEC_MAX_M - m || d < -DEC_MAX_M - m)");
	m += d;
	f->c[col].m = m;
	*out = (double)m / p10[f->e];
	return 0;
}

/* ---- reader ---- */

struct obs_rollup {
	const uint8_t *p;
	size_t len;
	bool mapped;
	int64_t step;
	uint32_t alpha_ppm, max_buckets;
	uint32_t nseries;
	uint64_t index_off;
	char *path;   /* NULL when opened from memory */
};

#define RPATH(r) ((r)->path ? (r)->path : "(rollup in memory)")

static int validate(struct obs_rollup *r)
{
	const uint8_t *p = r->p;
	size_t len = r->len;
	if (len < HDR_SIZE + FOOT_SIZE || memcmp(p, magic, 8) || obs_get_le32(p + 28) != obs_crc32c(0, p, 28) ||
	    obs_get_le32(p + 24) != 1)
		return obs_corruptf(NULL, 0, "header: failed check (len < HDR_SIZE + FOOT_SIZE || memcmp(p, magic, 8) || obs_get_le32(p + 28) != obs_crc32c(0, p, 28) || obs_get_le32(p + 24) != 1)");
	r->step = (int64_t)obs_get_le64(p + 8);
	r->alpha_ppm = obs_get_le32(p + 16);
	r->max_buckets = obs_get_le32(p + 20);
	struct obs_sketch *probe;
	if (r->step <= 0 || r->alpha_ppm == 0 || obs_sketch_new(r->alpha_ppm, r->max_buckets, &probe))
		return obs_corruptf(NULL, 8, "header: failed check (r->step <= 0 || r->alpha_ppm == 0 || obs_sketch_new(r->alpha_ppm, r->max_buckets, &probe))");
	obs_sketch_free(probe);
	const uint8_t *f = p + len - FOOT_SIZE;
	if (memcmp(f + 16, "RLPF", 4) || obs_get_le32(f + 20) != obs_crc32c(0, f, 20))
		return obs_corruptf(NULL, len - FOOT_SIZE, "footer: failed check (memcmp(f + 16, \"RLPF\", 4) || obs_get_le32(f + 20) != obs_crc32c(0, f, 20))");
	r->index_off = obs_get_le64(f);
	r->nseries = obs_get_le32(f + 8);
	if (r->index_off < HDR_SIZE || r->index_off > len - FOOT_SIZE ||
	    (len - FOOT_SIZE - r->index_off) != (uint64_t)r->nseries * IDX_ENT)
		return obs_corruptf(NULL, len - FOOT_SIZE, "footer: failed check (r->index_off < HDR_SIZE || r->index_off > len - FOOT_SIZE || (len - FOOT_SIZE - r->index_off) != (uint64_t)r->nseries * IDX_ENT)");
	const uint8_t *idx = p + r->index_off;
	if (obs_crc32c(0, idx, (size_t)r->nseries * IDX_ENT) != obs_get_le32(f + 12))
		return obs_corruptf(NULL, r->index_off, "index: failed check (obs_crc32c(0, idx, (size_t)r->nseries * IDX_ENT) != obs_get_le32(f + 12))");
	for (uint32_t i = 0; i < r->nseries; i++) {
		const uint8_t *e = idx + (size_t)i * IDX_ENT;
		uint64_t nframes = obs_get_le32(e + 4), nb = obs_get_le64(e + 8), doff = obs_get_le64(e + 32);
		int64_t mint = (int64_t)obs_get_le64(e + 16), maxt = (int64_t)obs_get_le64(e + 24);
		if ((i && obs_get_le32(e) <= obs_get_le32(e - IDX_ENT)) || !nframes || nb < nframes || mint > maxt ||
		    doff < HDR_SIZE || doff > r->index_off || nframes * DIR_ENT > r->index_off - doff)
			return obs_corruptf(NULL, r->index_off + (uint64_t)i * IDX_ENT, "index entry: failed check ((i && obs_get_le32(e) <= obs_get_le32(e - IDX_ENT)) || !nframes || nb < nframes || mint > maxt || doff < HDR_SIZE || doff > r->index_off || nframes * DIR_ENT > r->index_off - doff)");
	}
	return 0;
}

int obs_rollup_open_mem(const void *p, size_t len, struct obs_rollup **out)
{
	struct obs_rollup *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->p = p;
	r->len = len;
	int rc = validate(r);
	if (rc) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int obs_rollup_open(const char *path, struct obs_rollup **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	if ((uint64_t)st.st_size < HDR_SIZE + FOOT_SIZE) {
		close(fd);
		return obs_corruptf(path, 0, "file of %lld bytes is shorter than a header and a footer", (long long)st.st_size);
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	int err = errno;
	close(fd);
	if (m == MAP_FAILED)
		return -err;
	int rc = obs_rollup_open_mem(m, (size_t)st.st_size, out);
	if (rc == -EBADMSG)
		obs_corrupt_in(path, 0, NULL);
	if (!rc && !((*out)->path = strdup(path))) {
		obs_rollup_close(*out);
		rc = -ENOMEM;
	}
	if (rc) {
		munmap(m, (size_t)st.st_size);
		return rc;
	}
	(*out)->mapped = true;
	return 0;
}

void obs_rollup_close(struct obs_rollup *r)
{
	if (!r)
		return;
	if (r->mapped)
		munmap((void *)r->p, r->len);
	free(r->path);
	free(r);
}

int64_t obs_rollup_step(const struct obs_rollup *r) { return r->step; }
uint32_t obs_rollup_series_count(const struct obs_rollup *r) { return r->nseries; }
size_t obs_rollup_file_bytes(const struct obs_rollup *r) { return r->len; }

int obs_rollup_series_info(const struct obs_rollup *r, uint32_t i, uint32_t *id, uint64_t *nbuckets,
			   int64_t *mint, int64_t *maxt)
{
	if (i >= r->nseries)
		return -ENOENT;
	const uint8_t *e = r->p + r->index_off + (size_t)i * IDX_ENT;
	if (id)
		*id = obs_get_le32(e);
	if (nbuckets)
		*nbuckets = obs_get_le64(e + 8);
	if (mint)
		*mint = (int64_t)obs_get_le64(e + 16);
	if (maxt)
		*maxt = (int64_t)obs_get_le64(e + 24);
	return 0;
}

static bool meets(int64_t t, int64_t step, int64_t from, int64_t to)
{
	/* [t, t + step) meets [from, to] */
	return t <= to && (t >= from || from - t < step);
}

/* Decode one raw frame; keep buckets meeting [from, to]. */
static int decode_frame(const struct obs_rollup *r, const uint8_t *p, size_t len, const uint8_t *d, int64_t from,
			int64_t to, struct obs_sketch *scratch, struct obs_rollup_series *out)
{
	int64_t first_t = (int64_t)obs_get_le64(d), last_t = (int64_t)obs_get_le64(d + 8);
	uint32_t nb = obs_get_le32(d + 32);
	struct fctx fc;
	memset(&fc, 0, sizeof fc);
	if (len < 1 || (p[0] > 15 && p[0] != 0xff))
		return obs_corruptf(NULL, 0, "frame: scale byte missing or not 0..15 or 0xff");
	fc.e = p[0] == 0xff ? -1 : p[0];
	size_t pos = 1;
	int64_t t = first_t;
	for (uint32_t i = 0; i < nb; i++) {
		if (i) {
			uint64_t g;
			if (obs_varint_get(p, len, &pos, &g) || g >= (uint64_t)INT64_MAX / (uint64_t)r->step)
				return obs_corruptf(NULL, pos, "frame: failed check (obs_varint_get(p, len, &pos, &g) || g >= (uint64_t)INT64_MAX / (uint64_t)r->step)");
			int64_t dt = (int64_t)(g + 1) * r->step;
			if (t > INT64_MAX - dt)
				return obs_corruptf(NULL, pos, "frame: failed check (t > INT64_MAX - dt)");
			t += dt;
		}
		uint64_t cnt, nan;
		if (obs_varint_get(p, len, &pos, &cnt) || obs_varint_get(p, len, &pos, &nan) || cnt + nan < cnt ||
		    cnt + nan == 0 || t > last_t)
			return obs_corruptf(NULL, pos, "frame: failed check (obs_varint_get(p, len, &pos, &cnt) || obs_varint_get(p, len, &pos, &nan) || cnt + nan < cnt || cnt + nan == 0 || t > last_t)");
		double mn = NAN, mx = NAN, sum = NAN, last = NAN;
		if (cnt) {
			if (pos >= len)
				return obs_corruptf(NULL, pos, "frame: failed check (pos >= len)");
			uint8_t eq = p[pos++];
			if ((eq & ~31) || (eq & 12) == 12 || ((eq & 16) && fc.e < 0) ||
			    get_val(p, len, &pos, &fc, 0, true, &mn))
				return obs_corruptf(NULL, pos, "frame: failed check ((eq & ~31) || (eq & 12) == 12 || ((eq & 16) && fc.e < 0) || get_val(p, len, &pos, &fc, 0, true, &mn))");
			mx = sum = mn;
			if (!(eq & 1) && get_val(p, len, &pos, &fc, 1, true, &mx))
				return obs_corruptf(NULL, pos, "frame: failed check (!(eq & 1) && get_val(p, len, &pos, &fc, 1, true, &mx))");
			if (!(eq & 2) && get_val(p, len, &pos, &fc, 2, !(eq & 16), &sum))
				return obs_corruptf(NULL, pos, "frame: failed check (!(eq & 2) && get_val(p, len, &pos, &fc, 2, !(eq & 16), &sum))");
			if (eq & 4)
				last = mn;
			else if (eq & 8)
				last = mx;
			else if (get_val(p, len, &pos, &fc, 3, true, &last))
				return obs_corruptf(NULL, pos, "frame: failed check (get_val(p, len, &pos, &fc, 3, true, &last))");
			if (!(mn <= mx) || (cnt == 1 && obs_f64_bits(mn) != obs_f64_bits(mx)))
				return obs_corruptf(NULL, pos, "frame: failed check (!(mn <= mx) || (cnt == 1 && obs_f64_bits(mn) != obs_f64_bits(mx)))");
		} else if (get_val(p, len, &pos, &fc, 3, false, &last)) {
			return obs_corruptf(NULL, pos, "frame: failed check (get_val(p, len, &pos, &fc, 3, false, &last))");
		}
		bool keep = meets(t, r->step, from, to);
		struct obs_rollup_bucket *b = NULL;
		struct obs_sketch *sk = scratch;
		if (keep) {
			int rc = obs_rollup_push_bucket(out, t, &b);
			if (rc)
				return rc;
			sk = b->sk;
		}
		if (cnt > 2) {
			int rc = obs_sketch_decode_body(sk, p, len, &pos, mn, mx);
			if (rc)
				return rc;
			if (obs_sketch_count(sk) != cnt)
				return obs_corruptf(NULL, pos, "frame: failed check (obs_sketch_count(sk) != cnt)");
		} else if (cnt && keep) {
			int rc = obs_sketch_add(sk, mn);
			if (!rc && cnt == 2)
				rc = obs_sketch_add(sk, mx);
			if (rc)
				return rc;
		}
		if (b) {
			b->min = mn;
			b->max = mx;
			b->sum = sum;
			b->last = last;
			b->count = cnt;
			b->nan_count = nan;
		}
	}
	if (t != last_t || pos != len)
		return obs_corruptf(NULL, pos, "frame: failed check (t != last_t || pos != len)");
	return 0;
}

int obs_rollup_read(struct obs_rollup *r, uint32_t series_id, int64_t from, int64_t to,
		    struct obs_rollup_series *out)
{
	if (out->step && out->step != r->step)
		return -EINVAL;
	if (out->n && (out->alpha_ppm ? out->alpha_ppm : OBS_SKETCH_ALPHA_PPM) != r->alpha_ppm)
		return -EINVAL;
	/* binary search of the index */
	size_t lo = 0, hi = r->nseries;
	const uint8_t *idx = r->p + r->index_off, *e = NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t id = obs_get_le32(idx + mid * IDX_ENT);
		if (id == series_id) {
			e = idx + mid * IDX_ENT;
			break;
		}
		if (id < series_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!e)
		return -ENOENT;
	out->step = r->step;
	if (!out->n) {
		out->alpha_ppm = r->alpha_ppm;
		out->max_buckets = r->max_buckets;
	}
	uint32_t nframes = obs_get_le32(e + 4);
	uint64_t nbuckets = obs_get_le64(e + 8), doff = obs_get_le64(e + 32);
	const uint8_t *dir = r->p + doff;
	if (obs_crc32c(0, dir, (size_t)nframes * DIR_ENT) != obs_get_le32(e + 40))
		return obs_corruptf(RPATH(r), (uint64_t)(doff), "series directory: failed check (obs_crc32c(0, dir, (size_t)nframes * DIR_ENT) != obs_get_le32(e + 40))");
	/* the directory: frames in increasing time, inside the data area */
	uint64_t total = 0;
	for (uint32_t f = 0; f < nframes; f++) {
		const uint8_t *d = dir + (size_t)f * DIR_ENT;
		int64_t ft = (int64_t)obs_get_le64(d), lt = (int64_t)obs_get_le64(d + 8);
		uint64_t off = obs_get_le64(d + 16), slen = obs_get_le32(d + 24), rawlen = obs_get_le32(d + 28), nb = obs_get_le32(d + 32);
		if (ft > lt || ft % r->step || lt % r->step || !nb || (uint64_t)(lt / r->step) - (uint64_t)(ft / r->step) < nb - 1 ||
		    off < HDR_SIZE || off > r->index_off || slen > r->index_off - off || rawlen > MAX_RAW_FRAME ||
		    (f && ft <= (int64_t)obs_get_le64(d - DIR_ENT + 8)) ||
		    (f == 0 && ft != (int64_t)obs_get_le64(e + 16)) ||
		    (f == nframes - 1 && lt != (int64_t)obs_get_le64(e + 24)))
			return obs_corruptf(RPATH(r), doff + (uint64_t)f * DIR_ENT, "series directory entry %u: times, offset or sizes out of range", f);
		total += nb;
	}
	if (total != nbuckets)
		return obs_corruptf(RPATH(r), (uint64_t)(doff), "series directory: failed check (total != nbuckets)");
	struct obs_sketch *scratch = NULL;
	uint8_t *zbuf = NULL;
	size_t zcap = 0;
	ZSTD_DCtx *dctx = NULL;
	int rc = obs_sketch_new(r->alpha_ppm, r->max_buckets, &scratch);
	for (uint32_t f = 0; f < nframes && !rc; f++) {
		const uint8_t *d = dir + (size_t)f * DIR_ENT;
		int64_t ft = (int64_t)obs_get_le64(d), lt = (int64_t)obs_get_le64(d + 8);
		if (ft > to)
			break;
		if (!meets(lt, r->step, from, to) && lt < from)
			continue;
		const uint8_t *sp = r->p + obs_get_le64(d + 16);
		size_t slen = obs_get_le32(d + 24), rawlen = obs_get_le32(d + 28);
		if (obs_crc32c(0, sp, slen) != obs_get_le32(d + 36)) {
			rc = obs_corruptf(RPATH(r), obs_get_le64(d + 16), "frame %u of series %u: CRC-32C of the stored bytes does not match", f, series_id);
			break;
		}
		const uint8_t *fp = sp;
		size_t flen = slen;
		if (rawlen) {
			if (rawlen > zcap) {
				uint8_t *nz = realloc(zbuf, rawlen);
				if (!nz) {
					rc = -ENOMEM;
					break;
				}
				zbuf = nz;
				zcap = rawlen;
			}
			if (!dctx && !(dctx = ZSTD_createDCtx())) {
				rc = -ENOMEM;
				break;
			}
			size_t z = ZSTD_decompressDCtx(dctx, zbuf, rawlen, sp, slen);
			if (ZSTD_isError(z) || z != rawlen) {
				rc = obs_corruptf(RPATH(r), obs_get_le64(d + 16), "frame %u of series %u: zstd decompression failed or short", f, series_id);
				break;
			}
			fp = zbuf;
			flen = rawlen;
		}
		rc = decode_frame(r, fp, flen, d, from, to, scratch, out);
		if (rc == -EBADMSG) {
			char what[64];
			snprintf(what, sizeof what, "frame %u of series %u", f, series_id);
			obs_corrupt_inside(RPATH(r), obs_get_le64(d + 16), what);
		}
	}
	ZSTD_freeDCtx(dctx);
	free(zbuf);
	obs_sketch_free(scratch);
	return rc;
}
