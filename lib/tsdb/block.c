/* block.c — immutable on-disk blocks (see block.h).
 *
 * A block is the directory BLOCKS/ID (ID: 26 characters, Crockford base32 of
 * 48 bits of max(mint, 0) then 80 random bits, so names sort by mint) with
 * three files. All integers are little-endian; "varint" is LEB128 (at most 10
 * bytes), "zz" a zig-zag signed varint.
 *
 * chunks — the samples.
 *     8 bytes   magic "OBSCHK1\n"
 *     frames    back to back; frame k starts at 8 + sum of the sizes of
 *               frames 0..k-1 (sizes and CRC-32C in the index). A frame is a
 *               zstd frame (or the raw bytes when zstd does not pay) of the
 *               concatenated encoded chunks (tsdb/encoding.h) of consecutive
 *               series, series ordered by label set so that similar series
 *               sit side by side. A frame holds up to about FRAME_TARGET raw
 *               bytes, so a read decompresses one frame, not the file.
 *     The file size must be exactly 8 + the sum of the frame sizes.
 *
 * index — symbols, series, chunk refs, frames, postings.
 *     8 bytes   magic "OBSIDX1\n"
 *     u32       compression: 0 raw body, 1 zstd
 *     u32       stored body length S
 *     u64       raw body length R
 *     S bytes   body (a single zstd frame when compressed)
 *     u32       CRC-32C of every preceding byte of the file
 *   The raw body:
 *     varint nsym; nsym x (varint len, bytes)   strings sorted bytewise,
 *               unique, no NUL byte; refs below are indexes in this table
 *     varint nframe; nframe x (varint clen << 1 | stored_raw, varint rlen,
 *               u32 CRC-32C of the frame's bytes on disk)
 *     varint nseries; per series, ordered by strictly increasing global id:
 *               varint id (first absolute, then delta >= 1),
 *               varint nlabels (1..64), nlabels x (varint name, varint value)
 *               label names strictly increasing,
 *               varint nchunks (>= 1), per chunk ordered by time:
 *                 varint frame, varint offset in the raw frame, varint len,
 *                 varint count (1..65535), zz mint - previous maxt (block
 *                 mint for the first chunk of a series), varint maxt - mint
 *     varint npair; per label pair, ordered by (name, value) refs strictly:
 *               varint name, varint value, varint len, len bytes of a CRoaring
 *               bitmap in portable format: the global ids carrying the pair
 *   Nothing may follow the last pair.
 *
 * meta — small text, written last:
 *     "obsblock 1\n" then lines "level L", "mint T", "maxt T", "series N",
 *     "samples N", "chunks N", "index BYTES", "chunkfile BYTES" in this order,
 *     then for a merged block "parents ID,ID,...": the blocks it replaces
 *     (the opener deletes those still present), then "crc32c XXXXXXXX\n":
 *     CRC-32C (8 lower-case hex digits) of all the preceding bytes.
 *
 * Validity: magic, CRCs, every count and reference in range, sizes equal to
 * those in meta, a decoded chunk holds exactly count samples from mint to
 * maxt. Anything else is -EBADMSG. The index is checked as a whole at open;
 * a frame's CRC when a read first needs it.
 *
 * Crash safety: a writer makes BLOCKS/.tmp-ID, writes chunks, index and meta
 * there, fsyncs each file and the directory, renames it to BLOCKS/ID and
 * fsyncs BLOCKS. A crash leaves either no ID directory or a complete block.
 * Recovery rule: a .tmp-* directory is garbage; whoever opens a data
 * directory calls obs_block_gc_tmp() on BLOCKS before anything else, and
 * obs_block_open() refuses a directory named .tmp-*.
 */
#include "tsdb/block.h"

#include "core/fault.h"
#include "tsdb/encoding.h"
#include "core/fileio.h"
#include "core/buf.h"
#include "core/bytes.h"
#include "core/crc32c.h"
#include "core/varint.h"
#include "core/vec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#ifndef FRAME_TARGET
#define FRAME_TARGET (32u * 1024)     /* raw bytes per chunk-file frame */
#endif
#define CHUNK_MAX 8192u               /* samples per chunk */
#define FCACHE 8                      /* decompressed frames cached per open block */
#define ZLEVEL 19
#define RFRAME_MAX (64u << 20)        /* largest raw frame a reader accepts */
#define RINDEX_MAX (1u << 30)         /* largest raw index body */
#define META_MAX 4096

static const char CHK_MAGIC[8] = "OBSCHK1\n";
static const char IDX_MAGIC[8] = "OBSIDX1\n";
#define IDX_HDR 24

/* Test hook: when set to k > 0, the writer calls abort() at step k of
 * commit (1 tmp dir made, 2 chunks written, 3 index written, 4 meta
 * written, 5 files and tmp dir fsynced, 6 renamed, before the parent fsync).
 * Only tests set it. */
int obs_block_crash_step;

static void crash_point(int k)
{
	if (obs_block_crash_step == k)
		abort();
}

/* ---- little helpers -------------------------------------------------- */

static int put_zz(struct obs_buf *b, int64_t v)
{
	return obs_buf_varint(b, obs_zigzag(v));
}

/* A bounded reader over a byte range; any overrun sets err. */
struct rd {
	const uint8_t *p, *end;
	int err;
};

static uint64_t get_var(struct rd *r)
{
	uint64_t v = 0;
	size_t pos = 0;
	if (obs_varint_get(r->p, (size_t)(r->end - r->p), &pos, &v)) {
		r->err = 1;
		return 0;
	}
	r->p += pos;
	return v;
}

static int64_t get_zz(struct rd *r)
{
	return obs_unzigzag(get_var(r));
}

/* A count that must not exceed the bytes left (each item takes >= 1 byte). */
static size_t get_count(struct rd *r)
{
	uint64_t n = get_var(r);
	if (n > (uint64_t)(r->end - r->p)) {
		r->err = 1;
		return 0;
	}
	return (size_t)n;
}



static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);
	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

/* ---- writer ---------------------------------------------------------- */

struct wseries {
	uint32_t id;
	struct obs_labels labels;
	size_t chunk0, nchunks;
};

struct wchunk {
	size_t off, len;          /* in the writer's payload buffer */
	int64_t mint, maxt;
	uint32_t count;
	uint32_t frame, foff;     /* set at commit */
};

struct obs_block_writer {
	char *dir;
	int level;
	struct wseries *s;
	size_t ns, caps;
	struct wchunk *c;
	size_t nc, capc;
	struct obs_buf payload;
	roaring_bitmap_t *ids;
	int64_t mint, maxt;
	uint64_t samples;
	char *parents;            /* "ID,ID,..." of merged inputs, or NULL */
};

int obs_block_writer_new(const char *blocks_dir, int level, struct obs_block_writer **out)
{
	if (!blocks_dir || !*blocks_dir || level < 1)
		return -EINVAL;
	if (mkdir(blocks_dir, 0755) && errno != EEXIST)
		return -errno;
	struct obs_block_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->dir = strdup(blocks_dir);
	w->ids = roaring_bitmap_create();
	if (!w->dir || !w->ids) {
		obs_block_writer_abort(w);
		return -ENOMEM;
	}
	w->level = level;
	w->mint = INT64_MAX;
	w->maxt = INT64_MIN;
	obs_buf_init(&w->payload);
	*out = w;
	return 0;
}

void obs_block_writer_abort(struct obs_block_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->ns; i++)
		obs_labels_release(&w->s[i].labels);
	free(w->s);
	free(w->c);
	obs_buf_release(&w->payload);
	if (w->ids)
		roaring_bitmap_free(w->ids);
	free(w->parents);
	free(w->dir);
	free(w);
}

int obs_block_writer_set_parents(struct obs_block_writer *w, const char *ids)
{
	for (const char *c = ids; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == ','))
			return -EINVAL;
	char *dup = strdup(ids);
	if (!dup)
		return -ENOMEM;
	free(w->parents);
	w->parents = dup;
	return 0;
}

int obs_block_writer_add(struct obs_block_writer *w, uint32_t series_id, const char *canon, size_t canonlen,
			 const int64_t *ts, const double *vs, size_t n)
{
	if (!w || !canon || !ts || !vs || n == 0)
		return -EINVAL;
	for (size_t i = 1; i < n; i++)
		if (ts[i] <= ts[i - 1])
			return -EINVAL;
	if (roaring_bitmap_contains(w->ids, series_id))
		return -EEXIST;
	struct obs_labels l;
	int rc = obs_labels_parse(canon, canonlen, &l, NULL);
	if (rc)
		return rc;
	if (l.n == 0) {
		obs_labels_release(&l);
		return -EINVAL;
	}
	size_t nchunks = (n + CHUNK_MAX - 1) / CHUNK_MAX;
	if (OBS_VEC_RESERVE_FROM(w->s, w->caps, w->ns + 1, 64) ||
	    OBS_VEC_RESERVE_FROM(w->c, w->capc, w->nc + nchunks, 64)) {
		obs_labels_release(&l);
		return -ENOMEM;
	}
	size_t oldlen = w->payload.len;
	for (size_t k = 0; k < nchunks; k++) {
		size_t a = k * CHUNK_MAX, m = n - a < CHUNK_MAX ? n - a : CHUNK_MAX;
		size_t before = w->payload.len;
		rc = obs_enc_encode(ts + a, vs + a, m, &w->payload);
		if (rc) {
			w->payload.len = oldlen;
			obs_labels_release(&l);
			return rc;
		}
		w->c[w->nc + k] = (struct wchunk){
			.off = before, .len = w->payload.len - before,
			.mint = ts[a], .maxt = ts[a + m - 1], .count = (uint32_t)m,
		};
	}
	w->s[w->ns++] = (struct wseries){ .id = series_id, .labels = l, .chunk0 = w->nc, .nchunks = nchunks };
	w->nc += nchunks;
	roaring_bitmap_add(w->ids, series_id);
	if (ts[0] < w->mint)
		w->mint = ts[0];
	if (ts[n - 1] > w->maxt)
		w->maxt = ts[n - 1];
	w->samples += n;
	return 0;
}

static int labels_cmp(const struct obs_labels *a, const struct obs_labels *b)
{
	/* by metric name first, so one metric's series sit together */
	const char *na = obs_labels_get(a, "__name__"), *nb = obs_labels_get(b, "__name__");
	int c = strcmp(na ? na : "", nb ? nb : "");
	if (c)
		return c;
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		if ((c = strcmp(a->v[i].name, b->v[i].name)))
			return c;
		if ((c = strcmp(a->v[i].value, b->v[i].value)))
			return c;
	}
	return (a->n > b->n) - (a->n < b->n);
}

/* qsort context (qsort has none); per thread, so commits may run in parallel */
static _Thread_local const struct obs_block_writer *tls_w;

static int cmp_by_labels(const void *x, const void *y)
{
	const struct wseries *s = tls_w->s;
	return labels_cmp(&s[*(const size_t *)x].labels, &s[*(const size_t *)y].labels);
}

static int cmp_by_id(const void *x, const void *y)
{
	const struct wseries *s = tls_w->s;
	uint32_t a = s[*(const size_t *)x].id, b = s[*(const size_t *)y].id;
	return (a > b) - (a < b);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

struct pairent {
	uint32_t name, value, id;
};

static int cmp_pair(const void *x, const void *y)
{
	const struct pairent *a = x, *b = y;
	if (a->name != b->name)
		return (a->name > b->name) - (a->name < b->name);
	if (a->value != b->value)
		return (a->value > b->value) - (a->value < b->value);
	return (a->id > b->id) - (a->id < b->id);
}

static uint32_t sym_find(const char *const *syms, size_t n, const char *s)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(syms[mid], s);
		if (c == 0)
			return (uint32_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return UINT32_MAX;   /* not reached for strings that were collected */
}

static void make_id(int64_t mint, char *id)
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t t = mint < 0 ? 0 : (uint64_t)mint;
	if (t >= (1ull << 48))
		t = (1ull << 48) - 1;
	for (int i = 9; i >= 0; i--) {
		id[i] = b32[t & 31];
		t >>= 5;
	}
	uint8_t r[10];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec tsp;
		clock_gettime(CLOCK_REALTIME, &tsp);
		uint64_t x = (uint64_t)tsp.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)id;
		for (int i = 0; i < 10; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			r[i] = (uint8_t)x;
		}
	}
	/* 80 bits -> 16 characters */
	uint64_t hi = 0, lo = 0;
	for (int i = 0; i < 5; i++)
		hi = hi << 8 | r[i];
	for (int i = 5; i < 10; i++)
		lo = lo << 8 | r[i];
	for (int i = 7; i >= 0; i--) {
		id[10 + i] = b32[hi & 31];
		hi >>= 5;
		id[18 + i] = b32[lo & 31];
		lo >>= 5;
	}
	id[26] = 0;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char *path = path_join(dir, name);
	if (!path)
		return -ENOMEM;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return -errno;
	int rc = obs_fault("block.write");
	if (!rc)
		rc = obs_write_all(fd, p, n);
	if (!rc && (rc = obs_fault("block.fsync")) == 0 && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

int obs_block_gc_tmp(const char *blocks_dir)
{
	DIR *d = opendir(blocks_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int rc = 0, removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ".tmp-", 5))
			continue;
		char *p = path_join(blocks_dir, e->d_name);
		if (!p) {
			rc = -ENOMEM;
			break;
		}
		int r = obs_rm_tree(p);
		free(p);
		if (r && !rc)
			rc = r;
		removed++;
	}
	closedir(d);
	if (removed && !rc)
		rc = obs_fsync_dir(blocks_dir);
	return rc;
}

/* Compress and append one frame of the chunk file; records it in idx. */
static int flush_frame(ZSTD_CCtx *cc, struct obs_buf *raw, struct obs_buf *zbuf, int fd,
		       struct obs_buf *frames, uint64_t *nframes)
{
	size_t bound = ZSTD_compressBound(raw->len);
	obs_buf_reset(zbuf);
	if (obs_buf_reserve(zbuf, bound))
		return -ENOMEM;
	size_t z = ZSTD_compressCCtx(cc, zbuf->data, bound, raw->data, raw->len, ZLEVEL);
	if (ZSTD_isError(z))
		return -EIO;
	const void *p = zbuf->data;
	size_t n = z;
	int stored_raw = 0;
	if (z >= raw->len) {
		p = raw->data;
		n = raw->len;
		stored_raw = 1;
	}
	int rc = obs_write_all(fd, p, n);
	if (rc)
		return rc;
	uint8_t crc[4];
	obs_put_le32(crc, obs_crc32c(0, p, n));
	rc = obs_buf_varint(frames, (uint64_t)n << 1 | (uint64_t)stored_raw);
	rc |= obs_buf_varint(frames, raw->len);
	rc |= obs_buf_append(frames, crc, 4);
	if (rc)
		return -ENOMEM;
	(*nframes)++;
	obs_buf_reset(raw);
	return 0;
}

/* Write the chunk file into dir; set frame/foff of every chunk. */
static int write_chunks(struct obs_block_writer *w, const char *dir, const size_t *order,
			struct obs_buf *frames, uint64_t *nframes, uint64_t *size)
{
	char *path = path_join(dir, "chunks");
	if (!path)
		return -ENOMEM;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	free(path);
	if (fd < 0)
		return -errno;
	struct obs_buf raw, zbuf;
	obs_buf_init(&raw);
	obs_buf_init(&zbuf);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	int rc = cc ? obs_fault("block.write") : -ENOMEM;
	if (!rc)
		rc = obs_write_all(fd, CHK_MAGIC, 8);
	for (size_t i = 0; i < w->ns && !rc; i++) {
		const struct wseries *s = &w->s[order[i]];
		for (size_t k = 0; k < s->nchunks && !rc; k++) {
			struct wchunk *c = &w->c[s->chunk0 + k];
			if (raw.len && raw.len + c->len > FRAME_TARGET)
				rc = flush_frame(cc, &raw, &zbuf, fd, frames, nframes);
			if (rc)
				break;
			c->frame = (uint32_t)*nframes;
			c->foff = (uint32_t)raw.len;
			if (obs_buf_append(&raw, w->payload.data + c->off, c->len))
				rc = -ENOMEM;
		}
	}
	if (!rc && raw.len)
		rc = flush_frame(cc, &raw, &zbuf, fd, frames, nframes);
	if (!rc) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			rc = -errno;
		else
			*size = (uint64_t)end;
	}
	if (!rc && (rc = obs_fault("block.fsync")) == 0 && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	ZSTD_freeCCtx(cc);
	obs_buf_release(&raw);
	obs_buf_release(&zbuf);
	return rc;
}

/* Build the raw index body. */
static int build_index(struct obs_block_writer *w, const size_t *by_id, const struct obs_buf *frames,
		       uint64_t nframes, struct obs_buf *body)
{
	int rc = -ENOMEM;
	size_t nstr = 0;
	for (size_t i = 0; i < w->ns; i++)
		nstr += w->s[i].labels.n * 2;
	const char **syms = malloc((nstr ? nstr : 1) * sizeof(*syms));
	struct pairent *pairs = malloc((nstr / 2 + 1) * sizeof(*pairs));
	if (!syms || !pairs)
		goto out;
	size_t k = 0;
	for (size_t i = 0; i < w->ns; i++)
		for (size_t j = 0; j < w->s[i].labels.n; j++) {
			syms[k++] = w->s[i].labels.v[j].name;
			syms[k++] = w->s[i].labels.v[j].value;
		}
	qsort(syms, nstr, sizeof(*syms), cmp_str);
	size_t nsym = 0;
	for (size_t i = 0; i < nstr; i++)
		if (!nsym || strcmp(syms[nsym - 1], syms[i]))
			syms[nsym++] = syms[i];

	rc = obs_buf_varint(body, nsym);
	for (size_t i = 0; i < nsym && !rc; i++) {
		size_t l = strlen(syms[i]);
		rc = obs_buf_varint(body, l) | obs_buf_append(body, syms[i], l);
	}
	rc |= obs_buf_varint(body, nframes);
	rc |= obs_buf_append(body, frames->data, frames->len);
	rc |= obs_buf_varint(body, w->ns);
	uint32_t prev = 0;
	size_t np = 0;
	for (size_t i = 0; i < w->ns && !rc; i++) {
		const struct wseries *s = &w->s[by_id[i]];
		rc |= obs_buf_varint(body, i ? s->id - prev : s->id);
		prev = s->id;
		rc |= obs_buf_varint(body, s->labels.n);
		for (size_t j = 0; j < s->labels.n; j++) {
			uint32_t nm = sym_find(syms, nsym, s->labels.v[j].name);
			uint32_t va = sym_find(syms, nsym, s->labels.v[j].value);
			rc |= obs_buf_varint(body, nm) | obs_buf_varint(body, va);
			pairs[np++] = (struct pairent){ nm, va, s->id };
		}
		rc |= obs_buf_varint(body, s->nchunks);
		int64_t last = w->mint;
		for (size_t c = 0; c < s->nchunks; c++) {
			const struct wchunk *ch = &w->c[s->chunk0 + c];
			rc |= obs_buf_varint(body, ch->frame) | obs_buf_varint(body, ch->foff) | obs_buf_varint(body, ch->len);
			rc |= obs_buf_varint(body, ch->count);
			rc |= put_zz(body, (int64_t)((uint64_t)ch->mint - (uint64_t)last));
			rc |= obs_buf_varint(body, (uint64_t)ch->maxt - (uint64_t)ch->mint);
			last = ch->maxt;
		}
	}
	if (rc)
		goto out;
	qsort(pairs, np, sizeof(*pairs), cmp_pair);
	size_t npair = 0;
	for (size_t i = 0; i < np; i++)
		if (!i || pairs[i].name != pairs[i - 1].name || pairs[i].value != pairs[i - 1].value)
			npair++;
	rc = obs_buf_varint(body, npair);
	uint32_t *ids = malloc((np ? np : 1) * sizeof(*ids));
	if (!ids)
		rc = -ENOMEM;
	for (size_t i = 0; i < np && !rc;) {
		size_t j = i, m = 0;
		while (j < np && pairs[j].name == pairs[i].name && pairs[j].value == pairs[i].value)
			ids[m++] = pairs[j++].id;
		roaring_bitmap_t *bm = roaring_bitmap_of_ptr(m, ids);
		if (!bm) {
			rc = -ENOMEM;
			break;
		}
		roaring_bitmap_run_optimize(bm);
		size_t bl = roaring_bitmap_portable_size_in_bytes(bm);
		rc = obs_buf_varint(body, pairs[i].name) | obs_buf_varint(body, pairs[i].value) | obs_buf_varint(body, bl);
		if (!rc && obs_buf_reserve(body, bl))
			rc = -ENOMEM;
		if (!rc) {
			roaring_bitmap_portable_serialize(bm, body->data + body->len);
			body->len += bl;
			body->data[body->len] = 0;
		}
		roaring_bitmap_free(bm);
		i = j;
	}
	free(ids);
	if (rc)
		rc = -ENOMEM;
out:
	free(syms);
	free(pairs);
	return rc;
}

static int write_index(const char *dir, const struct obs_buf *body, uint64_t *size)
{
	size_t bound = ZSTD_compressBound(body->len);
	uint8_t *f = malloc(IDX_HDR + bound + 4);
	if (!f)
		return -ENOMEM;
	size_t z = ZSTD_compress(f + IDX_HDR, bound, body->data, body->len, ZLEVEL);
	uint32_t comp = 1;
	if (ZSTD_isError(z) || z >= body->len) {
		comp = 0;
		z = body->len;
		memcpy(f + IDX_HDR, body->data, z);
	}
	if (z > UINT32_MAX) {
		free(f);
		return -EFBIG;
	}
	memcpy(f, IDX_MAGIC, 8);
	obs_put_le32(f + 8, comp);
	obs_put_le32(f + 12, (uint32_t)z);
	obs_put_le64(f + 16, body->len);
	obs_put_le32(f + IDX_HDR + z, obs_crc32c(0, f, IDX_HDR + z));
	*size = IDX_HDR + z + 4;
	int rc = write_file(dir, "index", f, *size);
	free(f);
	return rc;
}

static int meta_text(struct obs_buf *b, int level, int64_t mint, int64_t maxt, uint64_t series, uint64_t samples,
		     uint64_t chunks, uint64_t isize, uint64_t csize, const char *parents)
{
	int rc = obs_buf_printf(b, "obsblock 1\nlevel %d\nmint %lld\nmaxt %lld\nseries %llu\nsamples %llu\n"
				"chunks %llu\nindex %llu\nchunkfile %llu\n",
				level, (long long)mint, (long long)maxt, (unsigned long long)series,
				(unsigned long long)samples, (unsigned long long)chunks,
				(unsigned long long)isize, (unsigned long long)csize);
	if (!rc && parents && *parents)
		rc = obs_buf_printf(b, "parents %s\n", parents);
	if (rc)
		return rc;
	return obs_buf_printf(b, "crc32c %08x\n", obs_crc32c(0, b->data, b->len));
}

int obs_block_writer_commit(struct obs_block_writer *w, char *id)
{
	if (!w)
		return -EINVAL;
	if (w->ns == 0) {
		obs_block_writer_abort(w);
		return -ENODATA;
	}
	int rc = -ENOMEM;
	char bid[32], tname[40];
	char *tmp = NULL, *fin = NULL;
	struct obs_buf frames, body, meta;
	obs_buf_init(&frames);
	obs_buf_init(&body);
	obs_buf_init(&meta);
	size_t *by_lab = malloc(w->ns * sizeof(size_t)), *by_id = malloc(w->ns * sizeof(size_t));
	if (!by_lab || !by_id)
		goto out;
	for (size_t i = 0; i < w->ns; i++)
		by_lab[i] = by_id[i] = i;
	tls_w = w;
	qsort(by_lab, w->ns, sizeof(size_t), cmp_by_labels);
	qsort(by_id, w->ns, sizeof(size_t), cmp_by_id);

	make_id(w->mint, bid);
	snprintf(tname, sizeof(tname), ".tmp-%s", bid);
	tmp = path_join(w->dir, tname);
	fin = path_join(w->dir, bid);
	if (!tmp || !fin)
		goto out;
	if ((rc = obs_fault("block.mkdir")) != 0)
		goto out;
	if (mkdir(tmp, 0755)) {
		rc = -errno;
		goto out;
	}
	crash_point(1);
	uint64_t nframes = 0, csize = 0, isize = 0;
	rc = write_chunks(w, tmp, by_lab, &frames, &nframes, &csize);
	if (rc)
		goto fail;
	crash_point(2);
	rc = build_index(w, by_id, &frames, nframes, &body);
	if (!rc)
		rc = write_index(tmp, &body, &isize);
	if (rc)
		goto fail;
	crash_point(3);
	rc = meta_text(&meta, w->level, w->mint, w->maxt, w->ns, w->samples, w->nc, isize, csize, w->parents);
	if (!rc)
		rc = write_file(tmp, "meta", meta.data, meta.len);
	if (rc)
		goto fail;
	crash_point(4);
	rc = obs_fault("block.fsync");
	if (!rc)
		rc = obs_fsync_dir(tmp);
	if (rc)
		goto fail;
	crash_point(5);
	if ((rc = obs_fault("block.rename")) != 0)
		goto fail;
	if (rename(tmp, fin)) {
		rc = -errno;
		goto fail;
	}
	crash_point(6);
	rc = obs_fault("block.dirsync");
	if (!rc)
		rc = obs_fsync_dir(w->dir);
	if (rc) {
		/* renamed but not known durable: take it back, so that a failed
		 * commit never leaves a block a caller did not register */
		obs_rm_tree(fin);
		obs_fsync_dir(w->dir);
		goto out;
	}
	memcpy(id, bid, 27);
	goto out;
fail:
	obs_rm_tree(tmp);
out:
	free(tmp);
	free(fin);
	free(by_lab);
	free(by_id);
	obs_buf_release(&frames);
	obs_buf_release(&body);
	obs_buf_release(&meta);
	obs_block_writer_abort(w);
	return rc;
}

/* ---- reader ---------------------------------------------------------- */

struct rframe {
	uint64_t off;
	uint32_t clen, rlen, crc;
	uint8_t raw;
};

struct rchunk {
	int64_t mint, maxt;
	uint32_t frame, off, len, count;
};

struct rseries {
	uint32_t id;
	uint32_t chunk0, nchunks;
	size_t canon, canonlen;   /* in b->canon */
};

struct rpair {
	uint32_t name, value;
	size_t off, len;          /* bitmap bytes in b->body */
};

/* A decompressed frame shared by readers; refs counts readers using buf. */
struct fslot {
	uint32_t frame;           /* UINT32_MAX: empty */
	uint32_t refs;
	uint64_t used;            /* LRU tick */
	uint8_t *buf;
};

struct obs_block {
	pthread_mutex_t lock;     /* guards cache and tick, nothing else */
	struct fslot cache[FCACHE];
	uint64_t tick;
	char *dir;
	const char *id;
	struct obs_block_meta meta;
	uint8_t *body;
	size_t bodylen;
	char **sym;               /* NUL-terminated copies in symarena */
	char *symarena;
	size_t nsym;
	struct rframe *frames;
	size_t nframes;
	struct rseries *series;
	size_t nseries;
	struct rchunk *chunks;
	size_t nchunks;
	struct rpair *pairs;
	size_t npairs;
	char *canon;
	const uint8_t *cmap;
	size_t csize;
	roaring_bitmap_t *all;
	char *parents;            /* merged inputs ("ID,ID"), "" if none */
};

static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	for (;;) {
		ssize_t k = read(fd, buf + n, cap - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			return e;
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n == cap) {
			close(fd);
			return -EBADMSG;
		}
	}
	close(fd);
	*len = n;
	return 0;
}

/* Parse "key <int>\n" at *p; advances. */
static int meta_field(const char **p, const char *end, const char *key, int sign, uint64_t *v)
{
	size_t kl = strlen(key);
	const char *s = *p;
	if ((size_t)(end - s) < kl + 2 || memcmp(s, key, kl) || s[kl] != ' ')
		return -EBADMSG;
	s += kl + 1;
	int neg = 0;
	if (sign && s < end && *s == '-') {
		neg = 1;
		s++;
	}
	if (s >= end || *s < '0' || *s > '9')
		return -EBADMSG;
	uint64_t x = 0;
	while (s < end && *s >= '0' && *s <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return -EBADMSG;
		x = x * 10 + (uint64_t)(*s++ - '0');
	}
	if (s >= end || *s != '\n')
		return -EBADMSG;
	if (sign) {
		if (x > (uint64_t)INT64_MAX + neg)
			return -EBADMSG;
		x = neg ? 0 - x : x;
	}
	*v = x;
	*p = s + 1;
	return 0;
}

static int parse_meta(const char *buf, size_t len, struct obs_block_meta *m, uint64_t *isize, uint64_t *csize,
		      char **parents)
{
	const char *p = buf, *end = buf + len;
	static const char head[] = "obsblock 1\n";
	if (len < sizeof(head) - 1 || memcmp(buf, head, sizeof(head) - 1))
		return -EBADMSG;
	p += sizeof(head) - 1;
	uint64_t lv, mint, maxt;
	if (meta_field(&p, end, "level", 0, &lv) || meta_field(&p, end, "mint", 1, &mint) ||
	    meta_field(&p, end, "maxt", 1, &maxt) || meta_field(&p, end, "series", 0, &m->series) ||
	    meta_field(&p, end, "samples", 0, &m->samples) || meta_field(&p, end, "chunks", 0, &m->chunks) ||
	    meta_field(&p, end, "index", 0, isize) || meta_field(&p, end, "chunkfile", 0, csize))
		return -EBADMSG;
	if ((size_t)(end - p) > 8 && !memcmp(p, "parents ", 8)) {
		const char *v = p + 8, *nl = memchr(v, '\n', (size_t)(end - v));
		if (!nl)
			return -EBADMSG;
		for (const char *c = v; c < nl; c++)
			if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == ','))
				return -EBADMSG;
		*parents = strndup(v, (size_t)(nl - v));
		if (!*parents)
			return -ENOMEM;
		p = nl + 1;
	}
	size_t body = (size_t)(p - buf);
	char want[32];
	snprintf(want, sizeof(want), "crc32c %08x\n", obs_crc32c(0, buf, body));
	if ((size_t)(end - p) != strlen(want) || memcmp(p, want, strlen(want)))
		return -EBADMSG;
	if (lv < 1 || lv > 1000 || (int64_t)mint > (int64_t)maxt || m->series == 0)
		return -EBADMSG;
	m->level = (int)lv;
	m->mint = (int64_t)mint;
	m->maxt = (int64_t)maxt;
	return 0;
}

static int map_file(const char *dir, const char *name, const uint8_t **p, size_t *len)
{
	char *path = path_join(dir, name);
	if (!path)
		return -ENOMEM;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? -EBADMSG : -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int e = -errno;
		close(fd);
		return e;
	}
	*len = (size_t)st.st_size;
	*p = NULL;
	if (st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			int e = -errno;
			close(fd);
			return e;
		}
		*p = m;
	}
	close(fd);
	return 0;
}

/* Load and check the index file; fills b->body. */
static int load_index(struct obs_block *b, const uint8_t *f, size_t n)
{
	if (n < IDX_HDR + 4 || memcmp(f, IDX_MAGIC, 8))
		return -EBADMSG;
	uint32_t comp = obs_get_le32(f + 8), slen = obs_get_le32(f + 12);
	uint64_t rlen = obs_get_le64(f + 16);
	if (comp > 1 || (uint64_t)slen + IDX_HDR + 4 != n || rlen > RINDEX_MAX)
		return -EBADMSG;
	if (rlen > (uint64_t)slen * 4096 + (1u << 20))   /* beyond any real index's ratio */
		return -EBADMSG;
	if (obs_crc32c(0, f, n - 4) != obs_get_le32(f + n - 4))
		return -EBADMSG;
	if (!comp && rlen != slen)
		return -EBADMSG;
	if (comp) {
		unsigned long long fc = ZSTD_getFrameContentSize(f + IDX_HDR, slen);
		if (fc != rlen)
			return -EBADMSG;
	}
	b->body = malloc(rlen ? rlen : 1);
	if (!b->body)
		return -ENOMEM;
	b->bodylen = rlen;
	if (comp) {
		size_t z = ZSTD_decompress(b->body, rlen, f + IDX_HDR, slen);
		if (ZSTD_isError(z) || z != rlen)
			return -EBADMSG;
	} else {
		memcpy(b->body, f + IDX_HDR, rlen);
	}
	return 0;
}

static int parse_index(struct obs_block *b, const struct obs_block_meta *m)
{
	struct rd r = { b->body, b->body + b->bodylen, 0 };
	/* symbols */
	size_t nsym = get_count(&r);
	if (r.err)
		return -EBADMSG;
	b->sym = calloc(nsym ? nsym : 1, sizeof(char *));
	b->symarena = malloc(b->bodylen + 1);
	if (!b->sym || !b->symarena)
		return -ENOMEM;
	char *a = b->symarena;
	for (size_t i = 0; i < nsym; i++) {
		size_t l = get_count(&r);
		if (r.err || memchr(r.p, 0, l))
			return -EBADMSG;
		memcpy(a, r.p, l);
		a[l] = 0;
		b->sym[i] = a;
		a += l + 1;
		r.p += l;
		if (i && strcmp(b->sym[i - 1], b->sym[i]) >= 0)
			return -EBADMSG;
	}
	b->nsym = nsym;
	/* frames */
	size_t nf = get_count(&r);
	if (r.err)
		return -EBADMSG;
	b->frames = calloc(nf ? nf : 1, sizeof(*b->frames));
	if (!b->frames)
		return -ENOMEM;
	uint64_t off = 8;
	for (size_t i = 0; i < nf; i++) {
		uint64_t cl = get_var(&r), rl = get_var(&r);
		if (r.err || r.end - r.p < 4)
			return -EBADMSG;
		struct rframe *fr = &b->frames[i];
		fr->raw = cl & 1;
		cl >>= 1;
		if (cl == 0 || cl > UINT32_MAX || rl == 0 || rl > RFRAME_MAX || (fr->raw && cl != rl) ||
		    off + cl > b->csize)
			return -EBADMSG;
		fr->off = off;
		fr->clen = (uint32_t)cl;
		fr->rlen = (uint32_t)rl;
		fr->crc = obs_get_le32(r.p);
		r.p += 4;
		off += cl;
	}
	if (off != b->csize)
		return -EBADMSG;
	b->nframes = nf;
	/* series */
	size_t ns = get_count(&r);
	if (r.err || ns != m->series)
		return -EBADMSG;
	b->series = calloc(ns, sizeof(*b->series));
	uint32_t *ids = malloc(ns * sizeof(uint32_t));
	size_t capc = m->chunks;
	if (capc > (size_t)(r.end - r.p))
		return free(ids), -EBADMSG;
	b->chunks = calloc(capc ? capc : 1, sizeof(*b->chunks));
	if (!b->series || !ids || !b->chunks)
		return free(ids), -ENOMEM;
	struct obs_buf canon;
	obs_buf_init(&canon);
	struct obs_label lab[OBS_MAX_LABELS];
	uint64_t prev = 0, samples = 0;
	size_t nc = 0;
	int rc = -EBADMSG;
	for (size_t i = 0; i < ns; i++) {
		uint64_t id = get_var(&r);
		if (i) {
			if (id == 0)
				goto bad;
			id += prev;
		}
		if (r.err || id > UINT32_MAX)
			goto bad;
		prev = id;
		size_t nl = get_var(&r);
		if (r.err || nl == 0 || nl > OBS_MAX_LABELS)
			goto bad;
		uint64_t lastname = 0;
		for (size_t j = 0; j < nl; j++) {
			uint64_t nm = get_var(&r), va = get_var(&r);
			if (r.err || nm >= nsym || va >= nsym || (j && nm <= lastname))
				goto bad;
			lastname = nm;
			lab[j].name = b->sym[nm];
			lab[j].value = b->sym[va];
		}
		struct obs_labels l = { lab, nl };
		size_t c0 = canon.len;
		if (obs_labels_format(&l, &canon) || obs_buf_putc(&canon, 0)) {
			rc = -ENOMEM;
			goto bad;
		}
		struct rseries *s = &b->series[i];
		s->id = (uint32_t)id;
		ids[i] = (uint32_t)id;
		s->canon = c0;
		s->canonlen = canon.len - c0 - 1;
		size_t k = get_var(&r);
		if (r.err || k == 0 || k > capc - nc)
			goto bad;
		s->chunk0 = (uint32_t)nc;
		s->nchunks = (uint32_t)k;
		int64_t last = m->mint;
		for (size_t j = 0; j < k; j++) {
			struct rchunk *c = &b->chunks[nc++];
			uint64_t fr = get_var(&r), fo = get_var(&r), fl = get_var(&r), cnt = get_var(&r);
			int64_t dm = get_zz(&r);
			uint64_t span = get_var(&r);
			if (r.err || fr >= nf || fl == 0 || fo > b->frames[fr].rlen || fl > b->frames[fr].rlen - fo ||
			    cnt == 0 || cnt > OBS_ENC_MAX_SAMPLES || span < cnt - 1)
				goto bad;
			c->frame = (uint32_t)fr;
			c->off = (uint32_t)fo;
			c->len = (uint32_t)fl;
			c->count = (uint32_t)cnt;
			c->mint = (int64_t)((uint64_t)last + (uint64_t)dm);
			c->maxt = (int64_t)((uint64_t)c->mint + span);
			if (c->mint < m->mint || c->maxt > m->maxt || c->maxt < c->mint || (j && c->mint <= last))
				goto bad;
			last = c->maxt;
			samples += cnt;
		}
	}
	if (nc != m->chunks || samples != m->samples)
		goto bad;
	b->nseries = ns;
	b->nchunks = nc;
	b->canon = obs_buf_detach(&canon, NULL);
	/* postings */
	size_t np = get_count(&r);
	if (r.err)
		goto bad;
	b->pairs = calloc(np ? np : 1, sizeof(*b->pairs));
	if (!b->pairs) {
		rc = -ENOMEM;
		goto bad;
	}
	for (size_t i = 0; i < np; i++) {
		uint64_t nm = get_var(&r), va = get_var(&r);
		size_t bl = get_count(&r);
		if (r.err || nm >= nsym || va >= nsym || bl == 0)
			goto bad;
		if (i && (nm < b->pairs[i - 1].name || (nm == b->pairs[i - 1].name && va <= b->pairs[i - 1].value)))
			goto bad;
		b->pairs[i] = (struct rpair){ (uint32_t)nm, (uint32_t)va, (size_t)(r.p - b->body), bl };
		r.p += bl;
	}
	if (r.p != r.end)
		goto bad;
	b->npairs = np;
	b->all = roaring_bitmap_of_ptr(ns, ids);
	free(ids);
	return b->all ? 0 : -ENOMEM;
bad:
	obs_buf_release(&canon);
	free(ids);
	return rc;
}

int obs_block_open(const char *dir, struct obs_block **out)
{
	if (!dir || !out)
		return -EINVAL;
	struct obs_block *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	for (int k = 0; k < FCACHE; k++)
		b->cache[k].frame = UINT32_MAX;
	int rc = -ENOMEM;
	b->dir = strdup(dir);
	if (!b->dir)
		goto fail;
	for (size_t l = strlen(b->dir); l > 1 && b->dir[l - 1] == '/'; l--)
		b->dir[l - 1] = 0;
	b->id = strrchr(b->dir, '/');
	b->id = b->id ? b->id + 1 : b->dir;
	if (!strncmp(b->id, ".tmp-", 5)) {   /* a crashed writer's leftovers */
		rc = -ENOENT;
		goto fail;
	}
	char *mp = path_join(dir, "meta");
	if (!mp)
		goto fail;
	char mbuf[META_MAX];
	size_t mlen = 0;
	rc = read_small(mp, mbuf, sizeof(mbuf), &mlen);
	free(mp);
	if (rc == -ENOENT) {
		struct stat st;
		rc = stat(dir, &st) ? -errno : -EBADMSG;
	}
	if (rc)
		goto fail;
	uint64_t isize, csize;
	rc = parse_meta(mbuf, mlen, &b->meta, &isize, &csize, &b->parents);
	if (rc)
		goto fail;
	const uint8_t *ip;
	size_t ilen;
	rc = map_file(dir, "index", &ip, &ilen);
	if (rc)
		goto fail;
	if (ilen != isize) {
		if (ip)
			munmap((void *)ip, ilen);
		rc = -EBADMSG;
		goto fail;
	}
	rc = load_index(b, ip, ilen);
	if (ip)
		munmap((void *)ip, ilen);
	if (rc)
		goto fail;
	rc = map_file(dir, "chunks", &b->cmap, &b->csize);
	if (rc)
		goto fail;
	if (b->csize != csize || b->csize < 8 || memcmp(b->cmap, CHK_MAGIC, 8)) {
		rc = -EBADMSG;
		goto fail;
	}
	rc = parse_index(b, &b->meta);
	if (rc)
		goto fail;
	b->meta.bytes = mlen + ilen + b->csize;
	*out = b;
	return 0;
fail:
	obs_block_close(b);
	return rc;
}

void obs_block_close(struct obs_block *b)
{
	if (!b)
		return;
	if (b->cmap)
		munmap((void *)b->cmap, b->csize);
	for (int k = 0; k < FCACHE; k++)
		free(b->cache[k].buf);
	pthread_mutex_destroy(&b->lock);
	if (b->all)
		roaring_bitmap_free(b->all);
	free(b->parents);
	free(b->body);
	free(b->sym);
	free(b->symarena);
	free(b->frames);
	free(b->series);
	free(b->chunks);
	free(b->pairs);
	free(b->canon);
	free(b->dir);
	free(b);
}

const char *obs_block_parents(const struct obs_block *b)
{
	return b->parents ? b->parents : "";
}

void obs_block_get_meta(const struct obs_block *b, struct obs_block_meta *m)
{
	*m = b->meta;
}

const char *obs_block_id(const struct obs_block *b)
{
	return b->id;
}

const char *obs_block_dir(const struct obs_block *b)
{
	return b->dir;
}

uint32_t obs_block_series_count(const struct obs_block *b)
{
	return (uint32_t)b->nseries;
}

int obs_block_series(const struct obs_block *b, uint32_t i, uint32_t *series_id, const char **canon, size_t *len)
{
	if (i >= b->nseries)
		return -ENOENT;
	const struct rseries *s = &b->series[i];
	if (series_id)
		*series_id = s->id;
	if (canon)
		*canon = b->canon + s->canon;
	if (len)
		*len = s->canonlen;
	return 0;
}

int obs_block_find(const struct obs_block *b, uint32_t series_id, uint32_t *i)
{
	size_t lo = 0, hi = b->nseries;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t v = b->series[mid].id;
		if (v == series_id) {
			if (i)
				*i = (uint32_t)mid;
			return 0;
		}
		if (v < series_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

/* Decompress (or copy) frame k into buf (rlen bytes). */
static int load_frame(const struct obs_block *b, uint32_t k, ZSTD_DCtx *dc, uint8_t *buf)
{
	const struct rframe *f = &b->frames[k];
	const uint8_t *p = b->cmap + f->off;
	if (obs_crc32c(0, p, f->clen) != f->crc)
		return -EBADMSG;
	if (f->raw) {
		memcpy(buf, p, f->rlen);
		return 0;
	}
	size_t z = ZSTD_decompressDCtx(dc, buf, f->rlen, p, f->clen);
	return ZSTD_isError(z) || z != f->rlen ? -EBADMSG : 0;
}

/* The raw bytes of frame k: from the cache (*slot >= 0, release with
 * frame_put) or freshly decompressed (*slot == -1, then *owned is the buffer
 * to free). Raw frames point into the mapping. */
static int frame_get(struct obs_block *b, uint32_t k, ZSTD_DCtx **dc, const uint8_t **p, int *slot, uint8_t **owned)
{
	const struct rframe *f = &b->frames[k];
	*slot = -1;
	*owned = NULL;
	if (f->raw) {
		if (obs_crc32c(0, b->cmap + f->off, f->clen) != f->crc)
			return -EBADMSG;
		*p = b->cmap + f->off;
		return 0;
	}
	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < FCACHE; i++)
		if (b->cache[i].frame == k) {
			b->cache[i].refs++;
			b->cache[i].used = ++b->tick;
			*p = b->cache[i].buf;
			*slot = i;
			pthread_mutex_unlock(&b->lock);
			return 0;
		}
	pthread_mutex_unlock(&b->lock);
	if (!*dc && !(*dc = ZSTD_createDCtx()))
		return -ENOMEM;
	uint8_t *buf = malloc(f->rlen);
	if (!buf)
		return -ENOMEM;
	int rc = load_frame(b, k, *dc, buf);
	if (rc) {
		free(buf);
		return rc;
	}
	*p = buf;
	pthread_mutex_lock(&b->lock);
	int victim = -1;
	for (int i = 0; i < FCACHE; i++) {
		if (b->cache[i].frame == k) {   /* another reader won the race */
			victim = -1;
			break;
		}
		if (!b->cache[i].refs && (victim < 0 || b->cache[i].used < b->cache[victim].used))
			victim = i;
	}
	if (victim >= 0) {
		struct fslot *sl = &b->cache[victim];
		free(sl->buf);
		sl->buf = buf;
		sl->frame = k;
		sl->refs = 1;
		sl->used = ++b->tick;
		*slot = victim;
	} else {
		*owned = buf;
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void frame_put(struct obs_block *b, int slot, uint8_t *owned)
{
	if (slot >= 0) {
		pthread_mutex_lock(&b->lock);
		b->cache[slot].refs--;
		pthread_mutex_unlock(&b->lock);
	}
	free(owned);
}

int obs_block_series_range(const struct obs_block *b, uint32_t i, int64_t *mint, int64_t *maxt)
{
	if (i >= b->nseries || !b->series[i].nchunks)
		return -ENOENT;
	const struct rseries *s = &b->series[i];
	*mint = b->chunks[s->chunk0].mint;
	*maxt = b->chunks[s->chunk0 + s->nchunks - 1].maxt;
	return 0;
}

int obs_block_read(const struct obs_block *cb, uint32_t i, int64_t from, int64_t to, struct obs_samples *out)
{
	struct obs_block *b = (struct obs_block *)cb;   /* only the locked cache changes */
	if (i >= b->nseries)
		return -ENOENT;
	if (from > to)
		return 0;
	const struct rseries *s = &b->series[i];
	size_t n0 = out->n;
	ZSTD_DCtx *dc = NULL;
	uint32_t have = UINT32_MAX;
	const uint8_t *p = NULL;
	int slot = -1, rc = 0;
	uint8_t *owned = NULL;
	for (uint32_t k = 0; k < s->nchunks && !rc; k++) {
		const struct rchunk *c = &b->chunks[s->chunk0 + k];
		if (c->maxt < from)
			continue;
		if (c->mint > to)
			break;
		if (have != c->frame) {
			if (have != UINT32_MAX)
				frame_put(b, slot, owned);
			have = UINT32_MAX;
			if ((rc = frame_get(b, c->frame, &dc, &p, &slot, &owned)))
				break;
			have = c->frame;
		}
		if ((rc = obs_samples_reserve(out, c->count)))
			break;
		int64_t *ts = out->t + out->n;
		double *vs = out->v + out->n;
		int got = obs_enc_decode(p + c->off, c->len, ts, vs, c->count);
		if (got != (int)c->count || ts[0] != c->mint || ts[got - 1] != c->maxt) {
			rc = -EBADMSG;
			break;
		}
		size_t lo = 0, hi = (size_t)got;
		if (c->mint < from)
			while (lo < hi && ts[lo] < from)
				lo++;
		if (c->maxt > to)
			while (hi > lo && ts[hi - 1] > to)
				hi--;
		if (lo) {
			memmove(ts, ts + lo, (hi - lo) * sizeof(*ts));
			memmove(vs, vs + lo, (hi - lo) * sizeof(*vs));
		}
		out->n += hi - lo;
	}
	if (have != UINT32_MAX)
		frame_put(b, slot, owned);
	ZSTD_freeDCtx(dc);
	if (rc)
		out->n = n0;
	return rc;
}

static roaring_bitmap_t *pair_bitmap(const struct obs_block *b, const struct rpair *p)
{
	return roaring_bitmap_portable_deserialize_safe((const char *)b->body + p->off, p->len);
}

/* Series ids matched by one matcher. */
static roaring_bitmap_t *select_one(const struct obs_block *b, const struct obs_matcher *m)
{
	int empty_ok = obs_matcher_matches_empty(m);
	size_t lo = 0, hi = b->nsym, nm = SIZE_MAX;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(b->sym[mid], m->name);
		if (!c) {
			nm = mid;
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* pairs of name nm: [p0, p1) */
	size_t p0 = b->npairs, p1 = b->npairs;
	if (nm != SIZE_MAX) {
		lo = 0;
		hi = b->npairs;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (b->pairs[mid].name < nm)
				lo = mid + 1;
			else
				hi = mid;
		}
		p0 = p1 = lo;
		while (p1 < b->npairs && b->pairs[p1].name == nm)
			p1++;
	}
	roaring_bitmap_t *acc = roaring_bitmap_create();
	if (!acc)
		return NULL;
	for (size_t i = p0; i < p1; i++) {
		int hit = obs_matcher_match(m, b->sym[b->pairs[i].value]);
		if (hit < 0) {
			roaring_bitmap_free(acc);
			return NULL;
		}
		/* matchers matching "": all minus non-matching values; else union of matching */
		if ((hit != 0) == !empty_ok) {
			roaring_bitmap_t *bm = pair_bitmap(b, &b->pairs[i]);
			if (!bm) {
				roaring_bitmap_free(acc);
				return NULL;
			}
			roaring_bitmap_or_inplace(acc, bm);
			roaring_bitmap_free(bm);
		}
	}
	if (empty_ok) {
		roaring_bitmap_t *r = roaring_bitmap_andnot(b->all, acc);
		roaring_bitmap_free(acc);
		return r;
	}
	return acc;
}

roaring_bitmap_t *obs_block_select(const struct obs_block *b, const struct obs_matcher *m, size_t n)
{
	roaring_bitmap_t *res = roaring_bitmap_copy(b->all);
	for (size_t i = 0; i < n && res; i++) {
		if (roaring_bitmap_is_empty(res))
			break;
		roaring_bitmap_t *one = select_one(b, &m[i]);
		if (!one) {
			roaring_bitmap_free(res);
			return NULL;
		}
		roaring_bitmap_and_inplace(res, one);
		roaring_bitmap_free(one);
	}
	return res;
}
