/* tstore.c — segment files of kept traces and their bitmap index (libobs
 * traces). See tstore.h.
 *
 * Segment file DIR/seg-NNNNNNNNNNNNNNNN.trc (NNN: the segment number, 16
 * hex digits, increasing), written once (temp name, fsync, rename, fsync
 * dir) and never changed; little-endian:
 *
 *   off size
 *     0   8  magic "OBSTSEG1"
 *     8   4  u32 version (1)
 *    12   4  u32 number of trace records
 *    16   8  i64 earliest span start, ms
 *    24   8  i64 latest span end, ms
 *    32   4  u32 raw length of the spans section
 *    36   4  u32 stored length of the spans section (one zstd frame)
 *    40   4  u32 raw length of the summary section
 *    44   4  u32 stored length of the summary section (one zstd frame)
 *    48   4  u32 CRC32C of bytes 0..47
 *    52   4  u32 CRC32C of the two stored sections
 *    56      spans section, then summary section
 *
 * Spans section: trace records, each
 *   16 trace id, uvarint span count, per span (uvarint length, span encoding
 *   as in span.c)
 * Summary section: one entry per trace record, in the same order:
 *   16 trace id, uvarint offset and length of its record in the spans
 *   section, uvarint spans, uvarint error spans, uvarint earliest start
 *   (ns), uvarint duration (ns), u8 has a root span, (uvarint len, bytes)
 *   root service, root operation, uvarint term count, terms as
 *   (uvarint len, bytes)
 * Terms: "s\x1fSERVICE", "o\x1fSERVICE\x1fOPERATION", "n\x1fOPERATION", "a\x1fKEY=VALUE"
 * (string, int and bool attributes up to 128 bytes), "e" (an error span).
 * Start-hour ("h\x1fHOUR") and duration-class ("d\x1fK", K = bit length of
 * the duration in ms) terms are derived at load.
 *
 * A segment is valid when the magic, version and both CRCs hold and both
 * frames decompress to their raw lengths; an invalid one is skipped at open
 * (counted, left on disk for inspection). Recovery of spans not yet in a
 * segment is the WAL's business (traces.c). */
#include "traces/tstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <roaring/roaring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/crc32c.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "core/strmap.h"
#include "core/varint.h"
#include "traces/span.h"
#include "traces/tstore_int.h"

#define HDR 56
#define MAGIC "OBSTSEG1"


void obs_tstore_opts_default(struct obs_tstore_opts *o)
{
	*o = (struct obs_tstore_opts){ 7LL * 86400 * 1000, 4u << 20, 9 };
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
	if (s->ne == s->cape) {
		size_t nc = s->cape ? s->cape * 2 : 1024;
		struct tentry *ne = realloc(s->e, nc * sizeof *ne);
		if (!ne)
			return -ENOMEM;
		s->e = ne;
		s->cape = nc;
	}
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

/* The terms of one span into tb (as (len, bytes), each once per record),
 * counting them. */
static int span_terms(const struct obs_span *sp, struct obs_buf *tb, uint32_t *nt)
{
	char t[2 * TERM_MAX + 8];
	int sn = (int)(sp->service.n > TERM_MAX ? TERM_MAX : sp->service.n);
	int on = (int)(sp->name.n > TERM_MAX ? TERM_MAX : sp->name.n);
	int n = snprintf(t, sizeof t, "s\x1f%.*s", sn, sp->service.p);
	int rc = term_put(tb, nt, t, (size_t)n);
	n = snprintf(t, sizeof t, "o\x1f%.*s\x1f%.*s", sn, sp->service.p, on, sp->name.p);
	rc = rc || term_put(tb, nt, t, (size_t)n);
	n = snprintf(t, sizeof t, "n\x1f%.*s", on, sp->name.p);
	rc = rc || term_put(tb, nt, t, (size_t)n);
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
			n = snprintf(t, sizeof t, "a\x1f%.*s=%.*s", (int)a.key.n, a.key.p, (int)a.val.n, a.val.p);
			rc = term_put(tb, nt, t, (size_t)n);
		}
	}
	return rc ? -ENOMEM : 0;
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


int obs_tstore_add(struct obs_tstore *s, const uint8_t id[16], const uint8_t *const *blobs, const uint32_t *lens,
		   size_t n, int dedup)
{
	pthread_mutex_lock(&s->mu);
	struct obs_buf old, terms;
	obs_buf_init(&old);
	obs_buf_init(&terms);
	size_t nold = 0;
	uint32_t ord;
	int created, rc = entry_of(s, id, &ord, &created);
	if (!rc && dedup && !created)
		rc = tst_get_locked(s, ord, &old, &nold);
	if (rc == -ENOENT)
		rc = 0;
	size_t raw0 = s->raw.len, sum0 = s->sum.len;
	struct rsum r = { INT64_MAX, INT64_MIN, 0, 0, 0, { "", 0 }, { "", 0 } };
	uint32_t nt = 0;
	/* record: id, count (patched below), spans */
	uint8_t cnt[OBS_VARINT_MAX];
	size_t keep = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		struct obs_span sp;
		if (obs_span_decode(blobs[i], lens[i], &sp))
			continue;
		if (dedup && nold && has_span(&old, nold, sp.span_id)) {
			s->st.dup_spans++;
			continue;
		}
		if (!keep)
			rc = obs_buf_append(&s->raw, id, 16);
		keep++;
		if (!rc)
			rc = span_terms(&sp, &terms, &nt);
		if (!rc && (obs_buf_varint(&s->raw, lens[i]) || obs_buf_append(&s->raw, blobs[i], lens[i])))
			rc = -ENOMEM;
		if (sp.start_ns < r.start)
			r.start = sp.start_ns;
		if (sp.end_ns > r.end)
			r.end = sp.end_ns;
		r.n++;
		r.nerr += sp.status == OBS_STATUS_ERROR;
		if (obs_span_is_root(&sp) && !r.has_root) {
			r.has_root = 1;
			r.svc = sp.service;
			r.op = sp.name;
		} else if (!r.has_root && !r.svc.n) {
			r.svc = sp.service;
			r.op = sp.name;
		}
	}
	if (!rc && keep) {
		/* the count goes after the id: rebuild the record head */
		size_t cl = obs_varint_put(cnt, keep);
		rc = obs_buf_reserve(&s->raw, cl);
		if (!rc) {
			memmove(s->raw.data + raw0 + 16 + cl, s->raw.data + raw0 + 16, s->raw.len - raw0 - 16);
			memcpy(s->raw.data + raw0 + 16, cnt, cl);
			s->raw.len += cl;
		}
		struct loc l = { s->open_no, (uint32_t)raw0, (uint32_t)(s->raw.len - raw0) };
		/* summary entry */
		rc = rc || obs_buf_append(&s->sum, id, 16) || obs_buf_varint(&s->sum, l.off) || obs_buf_varint(&s->sum, l.len) ||
		     obs_buf_varint(&s->sum, r.n) || obs_buf_varint(&s->sum, r.nerr) ||
		     obs_buf_varint(&s->sum, (uint64_t)r.start) || obs_buf_varint(&s->sum, (uint64_t)(r.end - r.start)) ||
		     obs_buf_append(&s->sum, &r.has_root, 1) || put_str(&s->sum, r.svc.p, r.svc.n) ||
		     put_str(&s->sum, r.op.p, r.op.n) || obs_buf_varint(&s->sum, nt) ||
		     obs_buf_append(&s->sum, terms.data, terms.len) ? -ENOMEM : 0;
		if (!rc)
			rc = merge(s, ord, &r, l);
		/* index the terms */
		size_t pos = 0;
		for (uint32_t k = 0; !rc && k < nt; k++) {
			struct obs_str t;
			uint64_t len;
			if (obs_varint_get((const uint8_t *)terms.data, terms.len, &pos, &len))
				break;
			t.p = terms.data + pos;
			t.n = (size_t)len;
			pos += (size_t)len;
			rc = term_add(s, t.p, t.n, ord);
		}
		if (!rc) {
			roaring_bitmap_add(s->open_ords, ord);
			s->open_n++;
			if (r.start / 1000000 < s->open_min)
				s->open_min = r.start / 1000000;
			if (r.end / 1000000 > s->open_max)
				s->open_max = r.end / 1000000;
		}
	}
	if (rc) {
		s->raw.len = raw0;
		s->sum.len = sum0;
	}
	s->st.open_bytes = s->raw.len;
	s->st.open_traces = s->open_n;
	pthread_mutex_unlock(&s->mu);
	obs_buf_release(&old);
	obs_buf_release(&terms);
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

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static int64_t get64(const uint8_t *p) { int64_t v; memcpy(&v, p, 8); return v; }

char *tst_seg_path(const struct obs_tstore *s, uint64_t no, const char *ext)
{
	char *p;
	if (asprintf(&p, "%s/seg-%016" PRIx64 ".%s", s->dir, no, ext) < 0)
		return NULL;
	return p;
}

static int write_file(const char *tmp, const char *fin, const void *a, size_t an, const void *b, size_t bn,
		      const void *c, size_t cn)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = obs_fault("traces.seg.write");
	if (!rc)
		rc = obs_write_all(fd, a, an);
	if (!rc)
		rc = obs_write_all(fd, b, bn);
	if (!rc)
		rc = obs_write_all(fd, c, cn);
	if (!rc)
		rc = obs_fault("traces.seg.fsync");
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc)
		rc = obs_fault("traces.seg.rename");
	if (!rc && rename(tmp, fin))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int obs_tstore_flush(struct obs_tstore *s)
{
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	if (!s->open_n)
		goto out;
	size_t c1 = ZSTD_compressBound(s->raw.len), c2 = ZSTD_compressBound(s->sum.len);
	uint8_t *z = malloc(c1 + c2);
	char *tmp = tst_seg_path(s, s->open_no, "tmp"), *fin = tst_seg_path(s, s->open_no, "trc");
	if (!z || !tmp || !fin) {
		rc = -ENOMEM;
		goto done;
	}
	size_t z1 = ZSTD_compress(z, c1, s->raw.data, s->raw.len, s->o.zstd_level);
	size_t z2 = ZSTD_compress(z + z1, c2, s->sum.data, s->sum.len, s->o.zstd_level);
	if (ZSTD_isError(z1) || ZSTD_isError(z2)) {
		rc = -EIO;
		goto done;
	}
	uint8_t h[HDR];
	memcpy(h, MAGIC, 8);
	put32(h + 8, 1);
	put32(h + 12, s->open_n);
	put64(h + 16, s->open_min);
	put64(h + 24, s->open_max);
	put32(h + 32, (uint32_t)s->raw.len);
	put32(h + 36, (uint32_t)z1);
	put32(h + 40, (uint32_t)s->sum.len);
	put32(h + 44, (uint32_t)z2);
	put32(h + 48, obs_crc32c(0, h, 48));
	put32(h + 52, obs_crc32c(0, z, z1 + z2));
	rc = write_file(tmp, fin, h, HDR, z, z1 + z2, NULL, 0);
	if (!rc)
		rc = obs_fsync_dir(s->dir);
	if (!rc) {
		if (s->nsegs == s->capsegs) {
			size_t nc = s->capsegs ? 2 * s->capsegs : 16;
			struct seg *ns = realloc(s->segs, nc * sizeof *ns);
			if (!ns) {
				rc = -ENOMEM;   /* the file is durable; it will be indexed at the next open */
				goto done;
			}
			s->segs = ns;
			s->capsegs = nc;
		}
		s->segs[s->nsegs++] = (struct seg){ s->open_no, s->open_min, s->open_max, HDR + z1 + z2, s->raw.len, s->open_ords };
		s->st.segments++;
		s->st.disk_bytes += HDR + z1 + z2;
		s->st.raw_bytes += s->raw.len;
		s->open_ords = roaring_bitmap_create();
		s->open_no++;
		s->open_n = 0;
		s->open_min = INT64_MAX;
		s->open_max = INT64_MIN;
		obs_buf_reset(&s->raw);
		obs_buf_reset(&s->sum);
		s->st.open_bytes = s->st.open_traces = 0;
	}
done:
	free(z);
	free(tmp);
	free(fin);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Read and check a segment file; *hdr gets its header, *data (malloc) the
 * stored sections. */
static int seg_read(const char *path, uint8_t *hdr, uint8_t **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	uint8_t *d = NULL;
	if (fstat(fd, &st) || st.st_size < HDR) {
		rc = -EBADMSG;
		goto out;
	}
	d = malloc((size_t)st.st_size);
	if (!d) {
		rc = -ENOMEM;
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, d + got, (size_t)st.st_size - got);
		if (r <= 0) {
			rc = r < 0 ? -errno : -EBADMSG;
			goto out;
		}
		got += (size_t)r;
	}
	if (memcmp(d, MAGIC, 8) || get32(d + 8) != 1 || get32(d + 48) != obs_crc32c(0, d, 48) ||
	    (uint64_t)get32(d + 36) + get32(d + 44) != (uint64_t)st.st_size - HDR ||
	    get32(d + 52) != obs_crc32c(0, d + HDR, (size_t)st.st_size - HDR)) {
		rc = -EBADMSG;
		goto out;
	}
	memcpy(hdr, d, HDR);
	*len = (size_t)st.st_size - HDR;
	memmove(d, d + HDR, *len);
	*data = d;
	d = NULL;
out:
	free(d);
	close(fd);
	return rc;
}

static int unz(const uint8_t *z, size_t zn, size_t raw, char **out)
{
	char *r = malloc(raw ? raw : 1);
	if (!r)
		return -ENOMEM;
	size_t got = ZSTD_decompress(r, raw, z, zn);
	if (ZSTD_isError(got) || got != raw) {
		free(r);
		return -EBADMSG;
	}
	*out = r;
	return 0;
}

/* Index one segment's summary. */
static int seg_load(struct obs_tstore *s, uint64_t no, const char *path)
{
	uint8_t h[HDR], *d = NULL;
	size_t dl;
	char *sum = NULL;
	int rc = seg_read(path, h, &d, &dl);
	if (!rc)
		rc = unz(d + get32(h + 36), get32(h + 44), get32(h + 40), &sum);
	free(d);
	if (rc)
		return rc;
	roaring_bitmap_t *ords = roaring_bitmap_create();
	const uint8_t *p = (const uint8_t *)sum;
	size_t n = get32(h + 40), pos = 0;
	uint32_t raw = get32(h + 32);
	for (uint32_t i = 0; i < get32(h + 12) && !rc; i++) {
		uint64_t off, len, ns, ne, st, du, nt, sl, ol;
		if (pos + 16 > n) {
			rc = -EBADMSG;
			break;
		}
		const uint8_t *id = p + pos;
		pos += 16;
		if (obs_varint_get(p, n, &pos, &off) || obs_varint_get(p, n, &pos, &len) || obs_varint_get(p, n, &pos, &ns) ||
		    obs_varint_get(p, n, &pos, &ne) || obs_varint_get(p, n, &pos, &st) || obs_varint_get(p, n, &pos, &du) ||
		    pos >= n || off + len > raw || st > INT64_MAX || du > (uint64_t)INT64_MAX - st) {
			rc = -EBADMSG;
			break;
		}
		struct rsum r = { (int64_t)st, (int64_t)(st + du), (uint32_t)ns, (uint32_t)ne, p[pos++], { 0 }, { 0 } };
		if (obs_varint_get(p, n, &pos, &sl) || sl > n - pos) {
			rc = -EBADMSG;
			break;
		}
		r.svc = (struct obs_str){ (const char *)p + pos, (size_t)sl };
		pos += (size_t)sl;
		if (obs_varint_get(p, n, &pos, &ol) || ol > n - pos) {
			rc = -EBADMSG;
			break;
		}
		r.op = (struct obs_str){ (const char *)p + pos, (size_t)ol };
		pos += (size_t)ol;
		uint32_t ord;
		int created;
		if (obs_varint_get(p, n, &pos, &nt) || (rc = entry_of(s, id, &ord, &created)))
			break;
		rc = merge(s, ord, &r, (struct loc){ no, (uint32_t)off, (uint32_t)len });
		for (uint64_t k = 0; k < nt && !rc; k++) {
			uint64_t tl;
			if (obs_varint_get(p, n, &pos, &tl) || tl > n - pos) {
				rc = -EBADMSG;
				break;
			}
			rc = term_add(s, (const char *)p + pos, (size_t)tl, ord);
			pos += (size_t)tl;
		}
		roaring_bitmap_add(ords, ord);
	}
	free(sum);
	if (!rc && s->nsegs == s->capsegs) {
		size_t nc = s->capsegs ? 2 * s->capsegs : 16;
		struct seg *nsg = realloc(s->segs, nc * sizeof *nsg);
		if (!nsg)
			rc = -ENOMEM;
		else
			s->segs = nsg, s->capsegs = nc;
	}
	if (rc) {
		/* a damaged summary may have indexed part of it: those entries point
		 * at a segment that is not listed, and reads skip them */
		roaring_bitmap_free(ords);
		return rc;
	}
	struct stat sb;
	uint64_t bytes = stat(path, &sb) ? 0 : (uint64_t)sb.st_size;
	s->segs[s->nsegs++] = (struct seg){ no, get64(h + 16), get64(h + 24), bytes, raw, ords };
	s->st.segments++;
	s->st.disk_bytes += bytes;
	s->st.raw_bytes += raw;
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
	obs_buf_init(&s->sum);
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
			if (nn == cap) {
				cap = cap ? 2 * cap : 64;
				uint64_t *nv = realloc(nos, cap * sizeof *nv);
				if (!nv)
					break;
				nos = nv;
			}
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
	obs_buf_release(&s->sum);
	for (int i = 0; i < 2; i++)
		free(s->cache[i].data);
	free(s->dir);
	pthread_mutex_destroy(&s->mu);
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

/* The raw spans section of segment no (cached). */
static int seg_raw(struct obs_tstore *s, uint64_t no, const char **raw, size_t *len)
{
	if (no == s->open_no) {
		*raw = s->raw.data;
		*len = s->raw.len;
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
	uint8_t h[HDR], *d = NULL;
	size_t dl;
	char *r = NULL;
	int rc = seg_read(p, h, &d, &dl);
	free(p);
	if (!rc)
		rc = unz(d, get32(h + 36), get32(h + 32), &r);
	free(d);
	if (rc)
		return rc;
	free(s->cache[1].data);
	s->cache[1] = s->cache[0];
	s->cache[0] = (struct cache_ent){ no, r, get32(h + 32) };
	*raw = r;
	*len = get32(h + 32);
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
