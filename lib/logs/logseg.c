/* logseg.c — immutable log segments (libobs logs): the format, the loader
 * and the frames' text. The encoder is logseg_enc.c, the index planner and
 * search logseg_search.c; they share logseg_int.h.
 *
 * File layout, version 3 (all integers little-endian):
 *
 *   header  32 bytes   "OBSLSEG1" | u16 version (3) | u16 zstd level of
 *                      the frames | u32 nframes |
 *                      u64 nlines | u64 first_seq
 *   frames             nframes zstd frames back to back from offset 32; frame
 *                      i holds its lines each followed by '\n'
 *   frame table        nframes x 16 bytes, ending where the index starts:
 *                      u64 offset | u32 clen | u32 crc32c(compressed frame)
 *   index              one zstd frame, level 9 (the "index blob", below)
 *   footer  56 bytes   u64 index_off | u64 index_clen | u64 index_rawlen |
 *                      i64 min_ts | i64 max_ts | u32 crc32c(index bytes) |
 *                      u32 crc32c(header + frame table + footer bytes 0..43) |
 *                      "OBSLSEGE"
 *
 * Index blob (after zstd decompression):
 *   frames        per frame: u32 rawlen | u32 nlines
 *   time column   nlines zigzag varints: ts[i] - ts[i-1] (ts[-1] = 0)
 *   fields        u32 nfields | u8 complete (1: every field of every line is
 *                 listed) | per field: u16 namelen | name | u8 indexed |
 *                 u32 nvalues | per value: u16 vlen | value | u32 blen |
 *                 portable CRoaring bitmap of line numbers
 *   trigrams      u32 blen | portable CRoaring bitmap of frame<<16 | h, h the
 *                 16-bit hash of each byte trigram present in the frame
 *   identifiers   per frame: u32 nbits | nbits/8 bytes, a Bloom filter of
 *                 the identifier values (logseg_int.h lseg_is_id: 20..128
 *                 bytes of [0-9A-Za-z_-]) of the fields in the field table
 *                 (first occurrence on a line, as the evaluator reads it),
 *                 indexed or not: h = XXH3-64 of "NAME\0VALUE", probe j
 *                 (0..6) sets bit (lo32(h) + j * (hi32(h) | 1)) mod nbits,
 *                 bit b is byte b/8's bit b%8; nbits is 0 (no identifier
 *                 in the frame) or a power of two >= 64
 * What the index says depends only on the lines, not on how the frames are
 * compressed: where each compressed frame lies is the frame table's, so
 * re-encoding the frames at another level (obs_logseg_reencode) writes a
 * new frame table and copies the index byte for byte.
 *
 * Version 2 (still read and re-encoded as it is) has no identifier
 * filters: its blob ends with the trigrams. Version 1 (still read;
 * re-encoding turns it into version 2) has no frame table either: its
 * blob starts with u64 offset | u32 clen | u32 rawlen | u32 nlines |
 * u32 crc32c per frame, and crc_meta covers header + footer bytes 0..43
 * only.
 *
 * Validity: both magics, crc_meta and crc_index match, every length stays
 * inside its buffer, bitmaps deserialize with the _safe reader, frame ranges
 * lie inside [32, frame table), line counts add up. A frame's crc is checked
 * when it is decompressed. A segment failing any check is -EBADMSG, and
 * obs_corrupt() (core/corrupt.h) records the file, the offset of the
 * structure that failed (for a check inside the index blob: the index's
 * offset, and the blob byte in the message) and the check. The store sets
 * such a segment aside at open (renamed .corrupt; its records are still in
 * the WAL if it was never acknowledged, see logstore_wal.c). Segments are
 * written to a temp name, fsynced and renamed, so a torn segment is never
 * visible under its final name. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/corrupt.h"
#include "core/crc32c.h"
#include "core/obstime.h"
#include "core/varint.h"
#include "logs/logseg_int.h"

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
	return p ? obs_get_le32(p) : 0;
}

static uint64_t rd64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	return p ? obs_get_le64(p) : 0;
}

static uint16_t rd16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);
	return p ? obs_get_le16(p) : 0;
}

static uint64_t rdvarint(struct rd *r)
{
	uint64_t v = 0;
	if (!r->bad && obs_varint_get(r->p, r->n, &r->i, &v) < 0)
		r->bad = 1;
	return v;
}

/* ---- loaded segment ----------------------------------------------------- */

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
	free(s->path);
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

/* a failed check inside the index blob: name the blob byte too */
static int bad_index(const struct obs_logseg *s, const struct rd *r, const char *what)
{
	return obs_corruptf(s->path, s->index_off, "index byte %zu: %s", r->i, what);
}

/* The frame table: v2 keeps each frame's place in the file (u64 off |
 * u32 clen | u32 crc) in the table before the index, its contents (u32
 * rawlen | u32 nlines) in the index blob; v1 has all five, in that order
 * but rawlen and nlines before crc, in the blob. */
static int load_frames(struct obs_logseg *s, struct rd *rr, uint64_t flimit)
{
	uint64_t line = 0;
	for (uint32_t f = 0; f < s->nframes; f++) {
		struct sframe *fr = &s->fr[f];
		uint64_t at = s->ftab_off + (uint64_t)f * FTAB_ENTRY;
		if (s->version == 1) {
			fr->off = rd64(rr);
			fr->clen = rd32(rr);
		} else {
			fr->off = obs_get_le64(s->p + at);
			fr->clen = obs_get_le32(s->p + at + 8);
			fr->crc = obs_get_le32(s->p + at + 12);
		}
		fr->rawlen = rd32(rr);
		fr->nlines = rd32(rr);
		if (s->version == 1)
			fr->crc = rd32(rr);
		if (rr->bad)
			return bad_index(s, rr, "frame table cut short");
		if (fr->off < HDR_BYTES || fr->off > flimit || fr->clen > flimit - fr->off)
			return obs_corruptf(s->path, s->version == 1 ? s->index_off : at,
					    "frame %u at %llu+%u lies outside the frames area [%d, %llu)", f,
					    (unsigned long long)fr->off, fr->clen, HDR_BYTES, (unsigned long long)flimit);
		if (fr->nlines == 0 || fr->rawlen < fr->nlines)
			return bad_index(s, rr, "frame with no line or fewer bytes than lines");
		fr->first_line = line;
		fr->text_off = s->text_bytes;
		line += fr->nlines;
		s->raw_bytes += fr->rawlen - fr->nlines;
		s->text_bytes += fr->rawlen + (uint64_t)fr->nlines * (OBS_LOG_TIME_WIDTH + 1);
	}
	if (line != s->nlines)
		return obs_corruptf(s->path, 16, "header says %llu lines, the frames hold %llu",
				    (unsigned long long)s->nlines, (unsigned long long)line);
	s->blob_rest = rr->i;
	return 0;
}

/* the index blob after the frame table: time column, fields, trigrams,
 * (v3) identifier filters */
static int load_index(struct obs_logseg *s, struct rd *rr)
{
	int64_t prev = 0;
	s->ts_sorted = 1;
	for (uint64_t k = 0; k < s->nlines; k++) {
		uint64_t z = rdvarint(rr);
		int64_t d = obs_unzigzag(z);
		s->ts[k] = prev + d;
		if (d < 0)
			s->ts_sorted = 0;
		prev = s->ts[k];
	}
	if (rr->bad)
		return bad_index(s, rr, "time column cut short");
	uint32_t nf = rd32(rr);
	const uint8_t *cp = rd_take(rr, 1);
	if (rr->bad || nf > MAX_FIELDS)
		return bad_index(s, rr, "field count missing or above 64");
	s->complete = *cp;
	if (!(s->fields = calloc(nf + 1, sizeof(*s->fields))))
		return -ENOMEM;
	for (uint32_t f = 0; f < nf; f++) {
		struct sfield *sf = &s->fields[f];
		s->nfields = (int)f + 1;
		sf->nlen = rd16(rr);
		sf->name = (const char *)rd_take(rr, sf->nlen);
		const uint8_t *ix = rd_take(rr, 1);
		uint32_t nv = rd32(rr);
		if (rr->bad || nv > s->nlines)
			return bad_index(s, rr, "field entry cut short or with more values than lines");
		sf->indexed = *ix;
		if (!(sf->vals = calloc(nv + 1, sizeof(*sf->vals))))
			return -ENOMEM;
		for (uint32_t v = 0; v < nv; v++) {
			sf->vals[v].vn = rd16(rr);
			sf->vals[v].v = (const char *)rd_take(rr, sf->vals[v].vn);
			sf->vals[v].bm = rd_bitmap(rr);
			if (rr->bad)
				return bad_index(s, rr, "field value or its bitmap cut short or invalid");
			sf->nvals = v + 1;
		}
	}
	s->tri = rd_bitmap(rr);
	if (rr->bad)
		return bad_index(s, rr, "trigram bitmap cut short or invalid");
	s->ids_at = rr->i;
	for (uint32_t f = 0; s->version >= 3 && f < s->nframes; f++) {
		uint32_t nb = rd32(rr);
		if (nb && (nb < 64 || (nb & (nb - 1))))
			return bad_index(s, rr, "identifier filter size not 0 nor a power of two >= 64");
		s->fr[f].ids = rd_take(rr, nb / 8);
		s->fr[f].ids_bits = nb;
		if (rr->bad)
			return bad_index(s, rr, "identifier filter cut short");
	}
	if (rr->i != rr->n)
		return bad_index(s, rr, s->version >= 3 ? "bytes after the identifier filters" : "bytes after the trigram bitmap");
	return 0;
}

/* load an image; path (NULL: in memory) names it in corruption reports */
static int load(const void *data, size_t n, int own, const char *path, struct obs_logseg **out)
{
	const uint8_t *p = data;
	if (n < HDR_BYTES + FTR_BYTES)
		return obs_corruptf(path, 0, "%zu bytes: shorter than a header and a footer", n);
	if (memcmp(p, "OBSLSEG1", 8))
		return obs_corrupt(path, 0, "header magic is not OBSLSEG1");
	if (memcmp(p + n - 8, "OBSLSEGE", 8))
		return obs_corrupt(path, n - 8, "footer magic is not OBSLSEGE");
	const uint8_t *ft = p + n - FTR_BYTES;
	unsigned version = obs_get_le32(p + 8) & 0xffff;
	uint32_t nframes = obs_get_le32(p + 12);
	if (version < 1 || version > 3)
		return obs_corruptf(path, 8, "unknown version %u", version);
	uint64_t ioff = obs_get_le64(ft), icl = obs_get_le64(ft + 8), iraw = obs_get_le64(ft + 16);
	if (ioff < HDR_BYTES || ioff > n - FTR_BYTES || icl != n - FTR_BYTES - ioff || iraw > (1ULL << 34))
		return obs_corruptf(path, n - FTR_BYTES, "index at %llu+%llu does not end at the footer",
				    (unsigned long long)ioff, (unsigned long long)icl);
	uint64_t ftab = ioff, tabn = version >= 2 ? (uint64_t)nframes * FTAB_ENTRY : 0;
	if (tabn > ioff - HDR_BYTES)
		return obs_corruptf(path, 12, "%u frames do not fit before the index", nframes);
	ftab -= tabn;
	uint32_t meta = obs_crc32c(obs_crc32c(obs_crc32c(0, p, HDR_BYTES), p + ftab, tabn), ft, 44);
	if (obs_get_le32(ft + 44) != meta)
		return obs_corrupt(path, n - FTR_BYTES + 44,
				   version >= 2 ? "crc32c of header, frame table and footer mismatch"
						: "crc32c of header and footer mismatch");
	if (obs_get_le32(ft + 40) != obs_crc32c(0, p + ioff, icl))
		return obs_corrupt(path, ioff, "index crc32c mismatch");
	struct obs_logseg *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->cache_mu, NULL);
	s->cache_idx = -1;
	s->p = p;
	s->n = n;
	s->version = (int)version;
	s->level = (int)(obs_get_le32(p + 8) >> 16);
	s->nframes = nframes;
	s->nlines = obs_get_le64(p + 16);
	s->first_seq = obs_get_le64(p + 24);
	s->min_ts = (int64_t)obs_get_le64(ft + 24);
	s->max_ts = (int64_t)obs_get_le64(ft + 32);
	s->index_off = ioff;
	s->index_bytes = icl;
	s->index_raw = iraw;
	s->ftab_off = ftab;
	int r = -ENOMEM;
	if (path && !(s->path = strdup(path)))
		goto bad;
	if (s->nlines > (1ULL << 32) || s->nframes > s->nlines + 1 || s->nlines > iraw) {
		r = obs_corruptf(path, 12, "%u frames, %llu lines and %llu index bytes do not agree", s->nframes,
				 (unsigned long long)s->nlines, (unsigned long long)iraw);
		goto bad;
	}
	if (!(s->blob = malloc(iraw ? iraw : 1)))
		goto bad;
	size_t dn = ZSTD_decompress(s->blob, iraw, p + ioff, icl);
	if (ZSTD_isError(dn) || dn != iraw) {
		r = obs_corruptf(path, ioff, "index does not decompress to its %llu bytes", (unsigned long long)iraw);
		goto bad;
	}
	struct rd rr = { s->blob, iraw, 0, 0 };
	if (!(s->fr = calloc(s->nframes + 1, sizeof(*s->fr))) || !(s->ts = malloc((s->nlines + 1) * sizeof(int64_t))))
		goto bad;
	if ((r = load_frames(s, &rr, ftab)) < 0 || (r = load_index(s, &rr)) < 0)
		goto bad;
	s->own = own;
	*out = s;
	return 0;
bad:
	obs_logseg_close(s);
	return r;
}

int obs_logseg_load(const void *data, size_t n, int own, struct obs_logseg **out)
{
	return load(data, n, own, NULL, out);
}

int obs_logseg_open_as(const char *path, const char *name, struct obs_logseg **out)
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
		return obs_corruptf(path, 0, "%lld bytes: shorter than a header and a footer", (long long)st.st_size);
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	int r = load(m, (size_t)st.st_size, 2, path, out);
	if (r < 0) {
		munmap(m, (size_t)st.st_size);
		return r;
	}
	if (name && strcmp(name, path)) {   /* later reports name the file where it will be */
		char *nm = strdup(name);
		if (!nm) {
			obs_logseg_close(*out);
			*out = NULL;
			return -ENOMEM;
		}
		free((*out)->path);
		(*out)->path = nm;
	}
	return 0;
}

int obs_logseg_open(const char *path, struct obs_logseg **out)
{
	return obs_logseg_open_as(path, path, out);
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

/* A mapped segment's compressed bytes [p, p + n) were read: let their pages
 * go from the daemon's resident set (they stay in the page cache, and a
 * later read maps them again), so reading a long history does not grow it
 * by the size of the files read. */
static void release_pages(const struct obs_logseg *s, const uint8_t *p, size_t n)
{
	if (s->own != 2 || !n)
		return;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p & ~(pg - 1), e = ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
	madvise((void *)a, e - a, MADV_DONTNEED);
}

/* decompress frame f into a malloc'd buffer (rawlen bytes) */
int lseg_frame_get(const struct obs_logseg *s, uint32_t f, char **out)
{
	const struct sframe *fr = &s->fr[f];
	const uint8_t *cp = s->p + fr->off;
	if (obs_crc32c(0, cp, fr->clen) != fr->crc)
		return obs_corruptf(s->path, fr->off, "frame %u crc32c mismatch", f);
	char *b = malloc(fr->rawlen ? fr->rawlen : 1);
	if (!b)
		return -ENOMEM;
	size_t dn = ZSTD_decompress(b, fr->rawlen, cp, fr->clen);
	if (ZSTD_isError(dn) || dn != fr->rawlen || b[fr->rawlen - 1] != '\n') {
		free(b);
		return obs_corruptf(s->path, fr->off, "frame %u does not decompress to %u bytes ending in a newline",
				    f, fr->rawlen);
	}
	*out = b;
	release_pages(s, cp, fr->clen);
	return 0;
}

/* The text of the cached frame f is read from the line at byte cache_pos
 * (record cache_rec, text offset cache_t) when off is at or past it, else
 * from the frame's start: a reader going through a frame in pieces does
 * not scan it again from its start at each read. */
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
			free(s->cache);   /* first: one frame at a time */
			s->cache = NULL;
			s->cache_idx = -1;
			s->cache_pos = 0;
			if ((r = lseg_frame_get(s, f, &s->cache)) < 0)
				break;
			s->cache_idx = f;
		}
		const char *p = s->cache, *end = s->cache + s->fr[f].rawlen;
		uint64_t t = s->fr[f].text_off, rec = s->fr[f].first_line;
		if (s->cache_pos && s->cache_t <= off) {
			p += s->cache_pos;
			t = s->cache_t;
			rec = s->cache_rec;
		}
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
				if (k < rl)   /* the read ends inside this line: go on from it */
					break;
			}
			t += rl;
			rec++;
			p = nl + 1;
		}
		s->cache_pos = (size_t)(p - s->cache);
		s->cache_t = t;
		s->cache_rec = rec;
	}
	pthread_mutex_unlock(&s->cache_mu);
	return r;
}

void obs_logseg_drop_cache(struct obs_logseg *s)
{
	pthread_mutex_lock(&s->cache_mu);
	free(s->cache);
	s->cache = NULL;
	s->cache_idx = -1;
	s->cache_pos = 0;
	pthread_mutex_unlock(&s->cache_mu);
}
