/* test_logs_seg.c — the log segment format: re-encoding recompresses the
 * frames only (same records, index bytes unchanged), version 1 segments
 * are still read and upgraded, and corruption is reported with the file,
 * the offset and the failed check (segments, the store's load and its WAL
 * replay). */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "core/corrupt.h"
#include "core/crc32c.h"
#include "core/obstime.h"
#include "logs/logquery.h"
#include "logs/logseg.h"
#include "logs/logseg_int.h"
#include "logs/logstore.h"
#include "core/wal.h"

#include "logs_fixture.h"

#define NL 6000
#define FTR 56
static char *lines[NL];
static uint32_t lens[NL];
static int64_t tss[NL];

static void setup(void)
{
	static const char *lv[] = { "debug", "info", "info", "warn", "error" };
	for (int i = 0; i < NL; i++) {
		char b[200];
		int n = i % 2 ? snprintf(b, sizeof(b), "level=%s svc=api%d i=%d msg=\"served %d\"%s", lv[i % 5], i % 3, i,
					 i * 7, i == 4321 ? " needle-QWERTY" : "")
			      : snprintf(b, sizeof(b), "{\"level\":\"%s\",\"user\":\"u%d\",\"path\":\"/p/%d\"}", lv[i % 5],
					 i % 40, i % 9);
		lines[i] = strndup(b, (size_t)n);
		lens[i] = (uint32_t)n;
		tss[i] = T0 + i * 7 - (i % 11 == 5 ? 10 : 0);   /* a few out of order */
	}
	mkdir_tmp();
	obs_corrupt_clear();
}

static void teardown(void)
{
	for (int i = 0; i < NL; i++)
		free(lines[i]);
	obs_corrupt_set_sink(NULL, NULL);
	rm_tmp();
}

/* the compressed index bytes of an image: [*off, *off + *len) */
static void index_range(const struct obs_buf *b, uint64_t *off, uint64_t *len)
{
	const uint8_t *ft = (const uint8_t *)b->data + b->len - FTR;
	*off = obs_get_le64(ft);
	*len = obs_get_le64(ft + 8);
	cr_assert_leq(*off + *len, b->len - FTR);
}

static void encode(struct obs_buf *b, int level)
{
	struct obs_logseg_input in = { NL, tss, (const char *const *)lines, lens, 500 };
	/* at most 3 values per field: level (5 values) is not indexed, svc and
	 * path are; a re-encoding that rebuilt the index with other options
	 * would not keep that */
	struct obs_logseg_opts o = { 4096, level, 3, 100.0 };
	obs_buf_init(b);
	cr_assert_eq(obs_logseg_encode(&in, &o, b), 0);
}

static int check_rec(void *ctx, int64_t ts, const char *l, size_t n)
{
	int *i = ctx;
	cr_assert_lt(*i, NL);
	cr_assert_eq(ts, tss[*i], "record %d", *i);
	cr_assert_eq(n, lens[*i], "record %d", *i);
	cr_assert(!memcmp(l, lines[*i], n), "record %d", *i);
	(*i)++;
	return 0;
}

static void assert_records(struct obs_logseg *s)
{
	int i = 0;
	cr_assert_eq(obs_logseg_search(s, OBS_TIME_MIN, OBS_TIME_MAX, NULL, check_rec, &i, NULL), 0);
	cr_assert_eq(i, NL);
}

static char *all_text(struct obs_logseg *s)
{
	uint64_t size = obs_logseg_text_size(s);
	char *t = malloc(size + 1);
	size_t off = 0, got;
	while (off < size) {
		cr_assert_eq(obs_logseg_read_text(s, off, t + off, 5000, &got), 0);
		cr_assert_gt(got, 0);
		off += got;
	}
	t[size] = 0;
	return t;
}

static uint64_t count(struct obs_logseg *s, const char *qs, uint64_t *frames)
{
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse(qs, strlen(qs), &q, NULL, 0), 0);
	uint64_t n = 0;
	struct obs_logseg_stats st = { 0, 0 };
	cr_assert_eq(obs_logseg_count(s, OBS_TIME_MIN, OBS_TIME_MAX, q, NULL, NULL, NULL, &n, &st), 0);
	obs_logquery_free(q);
	if (frames)
		*frames = st.frames_read;
	return n;
}

Test(logseg_reencode, frames_only_same_records_same_index, .init = setup, .fini = teardown)
{
	struct obs_buf b1, b2, b3;
	encode(&b1, 1);
	struct obs_logseg *s1, *s2, *s3;
	cr_assert_eq(obs_logseg_load(b1.data, b1.len, 0, &s1), 0);
	obs_buf_init(&b2);
	cr_assert_eq(obs_logseg_reencode(s1, 19, &b2), 0);
	cr_assert_eq(obs_logseg_load(b2.data, b2.len, 0, &s2), 0);

	/* the index is copied byte for byte, the frames are smaller */
	uint64_t o1, l1, o2, l2;
	index_range(&b1, &o1, &l1);
	index_range(&b2, &o2, &l2);
	cr_assert_eq(l2, l1);
	cr_assert(!memcmp(b1.data + o1, b2.data + o2, l1), "index bytes changed");
	cr_assert_lt(o2, o1, "frames at level 19 (%llu bytes) not smaller than at level 1 (%llu)",
		     (unsigned long long)o2, (unsigned long long)o1);

	struct obs_logseg_info i1, i2;
	obs_logseg_get_info(s1, &i1);
	obs_logseg_get_info(s2, &i2);
	cr_assert_eq(i1.level, 1);
	cr_assert_eq(i2.level, 19);
	cr_assert_eq(i2.nlines, NL);
	cr_assert_eq(i2.first_seq, 500);
	cr_assert_eq(i2.nframes, i1.nframes);
	cr_assert_gt(i2.nframes, 20);
	cr_assert_eq(i2.raw_bytes, i1.raw_bytes);
	cr_assert_eq(i2.index_bytes, i1.index_bytes);
	cr_assert_eq(i2.nfields_indexed, i1.nfields_indexed);
	cr_assert_eq(i1.nfields_indexed, 1, "svc only, not %u", i1.nfields_indexed);
	cr_assert_eq(i2.min_ts, i1.min_ts);
	cr_assert_eq(i2.max_ts, i1.max_ts);
	cr_assert_eq(i2.ts_sorted, 0);

	/* the same records, text, counts; the index still narrows a needle */
	assert_records(s2);
	char *t1 = all_text(s1), *t2 = all_text(s2);
	cr_assert_str_eq(t2, t1);
	free(t1);
	free(t2);
	cr_assert_eq(count(s2, "level=error", NULL), count(s1, "level=error", NULL));
	cr_assert_eq(count(s2, "level=error", NULL), NL / 5);
	uint64_t frames;
	cr_assert_eq(count(s2, "needle-QWERTY", &frames), 1);
	cr_assert_leq(frames, 1);

	/* again from the re-encoded one: the same image (deterministic) */
	obs_buf_init(&b3);
	cr_assert_eq(obs_logseg_reencode(s2, 19, &b3), 0);
	cr_assert_eq(b3.len, b2.len);
	cr_assert(!memcmp(b3.data, b2.data, b2.len));
	cr_assert_eq(obs_logseg_load(b3.data, b3.len, 0, &s3), 0);
	assert_records(s3);
	obs_logseg_close(s3);
	obs_logseg_close(s2);
	obs_logseg_close(s1);
	obs_buf_release(&b1);
	obs_buf_release(&b2);
	obs_buf_release(&b3);
}

/* where the identifier filters of a version 3 image start in its blob */
static size_t ids_at(const struct obs_buf *v3)
{
	struct obs_logseg *s;
	cr_assert_eq(obs_logseg_load(v3->data, v3->len, 0, &s), 0);
	cr_assert_eq(s->version, 3);
	size_t at = s->ids_at;
	obs_logseg_close(s);
	return at;
}

/* Rewrite a version 3 image as version 1 (the frame table back inside the
 * index blob: off | clen | rawlen | nlines | crc per frame; no identifier
 * filters). */
static void to_v1(const struct obs_buf *v2, struct obs_buf *v1)
{
	const uint8_t *p = (const uint8_t *)v2->data, *ft = p + v2->len - FTR;
	uint32_t nf = obs_get_le32(p + 12);
	uint64_t ioff = obs_get_le64(ft), icl = obs_get_le64(ft + 8), iraw = obs_get_le64(ft + 16), tab = ioff - 16ULL * nf;
	uint8_t *blob = malloc(iraw), *nb = malloc(iraw + 16ULL * nf);
	cr_assert_eq(ZSTD_decompress(blob, iraw, p + ioff, icl), iraw);
	iraw = ids_at(v2);
	size_t k = 0;
	for (uint32_t f = 0; f < nf; f++) {
		memcpy(nb + k, p + tab + 16 * f, 12);         /* off, clen */
		memcpy(nb + k + 12, blob + 8 * f, 8);         /* rawlen, nlines */
		memcpy(nb + k + 20, p + tab + 16 * f + 12, 4); /* crc */
		k += 24;
	}
	memcpy(nb + k, blob + 8 * nf, iraw - 8 * nf);
	size_t nraw = k + iraw - 8 * nf, bound = ZSTD_compressBound(nraw);
	obs_buf_init(v1);
	cr_assert_eq(obs_buf_append(v1, p, tab), 0);
	v1->data[8] = 1;   /* version */
	cr_assert_eq(obs_buf_reserve(v1, bound + FTR), 0);
	size_t cl = ZSTD_compress(v1->data + v1->len, bound, nb, nraw, 9);
	cr_assert(!ZSTD_isError(cl));
	uint8_t f1[FTR];
	memcpy(f1, ft, FTR);
	obs_put_le64(f1, tab);
	obs_put_le64(f1 + 8, cl);
	obs_put_le64(f1 + 16, nraw);
	obs_put_le32(f1 + 40, obs_crc32c(0, v1->data + v1->len, cl));
	v1->len += cl;
	obs_put_le32(f1 + 44, obs_crc32c(obs_crc32c(0, v1->data, 32), f1, 44));
	cr_assert_eq(obs_buf_append(v1, f1, FTR), 0);
	free(blob);
	free(nb);
}

Test(logseg_reencode, version1_is_read_and_upgraded, .init = setup, .fini = teardown)
{
	struct obs_buf b2, b1, up;
	encode(&b2, 3);
	to_v1(&b2, &b1);
	struct obs_logseg *s1, *su;
	cr_assert_eq(obs_logseg_load(b1.data, b1.len, 0, &s1), 0, "%s", obs_corrupt_last());
	assert_records(s1);
	cr_assert_eq(count(s1, "level=warn", NULL), NL / 5);
	/* a frame of a v1 segment still has its crc checked */
	obs_buf_init(&up);
	cr_assert_eq(obs_logseg_reencode(s1, 9, &up), 0);
	cr_assert_eq(obs_logseg_load(up.data, up.len, 0, &su), 0);
	assert_records(su);
	cr_assert_eq(((const uint8_t *)up.data)[8], 2, "upgraded to version 2");
	/* its index is the one a v3 encoder writes, without the identifier
	 * filters */
	uint64_t o2, l2, ou, lu;
	index_range(&b2, &o2, &l2);
	index_range(&up, &ou, &lu);
	size_t r2 = obs_get_le64((const uint8_t *)b2.data + b2.len - FTR + 16),
	       ru = obs_get_le64((const uint8_t *)up.data + up.len - FTR + 16), at = ids_at(&b2);
	cr_assert_eq(ru, at);
	char *x2 = malloc(r2), *xu = malloc(ru);
	cr_assert_eq(ZSTD_decompress(x2, r2, b2.data + o2, l2), r2);
	cr_assert_eq(ZSTD_decompress(xu, ru, up.data + ou, lu), ru);
	cr_assert(!memcmp(x2, xu, at));
	free(x2);
	free(xu);
	/* a v2 segment is re-encoded as v2, its index byte for byte */
	struct obs_buf up2;
	obs_buf_init(&up2);
	cr_assert_eq(obs_logseg_reencode(su, 3, &up2), 0);
	cr_assert_eq(((const uint8_t *)up2.data)[8], 2);
	uint64_t o3, l3;
	index_range(&up2, &o3, &l3);
	cr_assert_eq(l3, lu);
	cr_assert(!memcmp(up.data + ou, up2.data + o3, lu));
	obs_buf_release(&up2);
	/* v1 corruption is still caught: a frame-table byte inside its index */
	uint64_t o1, l1;
	index_range(&b1, &o1, &l1);
	b1.data[o1 + 5] ^= 4;
	struct obs_logseg *bad;
	cr_assert_eq(obs_logseg_load(b1.data, b1.len, 0, &bad), -EBADMSG);
	char want[200];
	snprintf(want, sizeof(want), "corrupt '(in memory)' at offset %llu: index crc32c mismatch", (unsigned long long)o1);
	cr_assert_str_eq(obs_corrupt_last(), want);
	obs_logseg_close(su);
	obs_logseg_close(s1);
	obs_buf_release(&b1);
	obs_buf_release(&b2);
	obs_buf_release(&up);
}

/* ---- corruption reports ------------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

struct sink {
	int n;
	char line[OBS_CORRUPT_MAX];
	char file[512];
	uint64_t off;
};

static void on_corrupt(void *ctx, const char *file, uint64_t off, const char *check, const char *line)
{
	struct sink *k = ctx;
	k->n++;
	snprintf(k->line, sizeof(k->line), "%s", line);
	snprintf(k->file, sizeof(k->file), "%s", file ? file : "");
	k->off = off;
}

/* flip byte at of the image, write it to path, open it: the error and the
 * report */
static int open_flipped(const struct obs_buf *b, const char *path, size_t at, struct obs_logseg **s)
{
	b->data[at] ^= 0x20;
	write_file(path, b->data, b->len);
	b->data[at] ^= 0x20;
	obs_corrupt_clear();
	return obs_logseg_open(path, s);
}

Test(logseg_corrupt, names_file_offset_and_check, .init = setup, .fini = teardown)
{
	struct obs_buf b;
	encode(&b, 3);
	char path[300], want[2048];
	snprintf(path, sizeof(path), "%s/00000000000001f4.seg", dir);
	struct sink k = { 0 };
	obs_corrupt_set_sink(on_corrupt, &k);
	uint64_t ioff, icl;
	index_range(&b, &ioff, &icl);
	struct obs_logseg *s;
	uint32_t nf = obs_get_le32((const uint8_t *)b.data + 12);
	uint64_t ftab = ioff - 16ULL * nf;

	/* a frame byte: the load passes, the frame's read fails */
	cr_assert_eq(open_flipped(&b, path, 40, &s), 0);
	uint64_t before = obs_corrupt_count();
	int i = 0;
	cr_assert_eq(obs_logseg_search(s, OBS_TIME_MIN, OBS_TIME_MAX, NULL, check_rec, &i, NULL), -EBADMSG);
	snprintf(want, sizeof(want), "corrupt '%s' at offset 32: frame 0 crc32c mismatch", path);
	cr_assert_str_eq(obs_corrupt_last(), want);
	cr_assert_eq(obs_corrupt_count(), before + 1);
	cr_assert_eq(k.n, 1);
	cr_assert_str_eq(k.line, want);
	cr_assert_str_eq(k.file, path);
	cr_assert_eq(k.off, 32);
	char txt[64];
	size_t got;
	obs_corrupt_clear();
	cr_assert_eq(obs_logseg_read_text(s, 0, txt, sizeof(txt), &got), -EBADMSG);
	cr_assert_str_eq(obs_corrupt_last(), want);
	obs_logseg_close(s);

	/* a byte of the second frame-table entry: covered by the meta crc */
	cr_assert_eq(open_flipped(&b, path, ftab + 16 + 9, &s), -EBADMSG);
	snprintf(want, sizeof(want), "corrupt '%s' at offset %zu: crc32c of header, frame table and footer mismatch",
		 path, b.len - FTR + 44);
	cr_assert_str_eq(obs_corrupt_last(), want);

	/* a byte of the index */
	cr_assert_eq(open_flipped(&b, path, ioff + icl / 2, &s), -EBADMSG);
	snprintf(want, sizeof(want), "corrupt '%s' at offset %llu: index crc32c mismatch", path,
		 (unsigned long long)ioff);
	cr_assert_str_eq(obs_corrupt_last(), want);

	/* the footer's max_ts */
	cr_assert_eq(open_flipped(&b, path, b.len - FTR + 33, &s), -EBADMSG);
	snprintf(want, sizeof(want), "corrupt '%s' at offset %zu: crc32c of header, frame table and footer mismatch",
		 path, b.len - FTR + 44);
	cr_assert_str_eq(obs_corrupt_last(), want);

	/* the magics */
	cr_assert_eq(open_flipped(&b, path, 3, &s), -EBADMSG);
	snprintf(want, sizeof(want), "corrupt '%s' at offset 0: header magic is not OBSLSEG1", path);
	cr_assert_str_eq(obs_corrupt_last(), want);
	cr_assert_eq(open_flipped(&b, path, b.len - 2, &s), -EBADMSG);
	snprintf(want, sizeof(want), "corrupt '%s' at offset %zu: footer magic is not OBSLSEGE", path, b.len - 8);
	cr_assert_str_eq(obs_corrupt_last(), want);

	/* cut short */
	write_file(path, b.data, 40);
	cr_assert_eq(obs_logseg_open(path, &s), -EBADMSG);
	snprintf(want, sizeof(want), "corrupt '%s' at offset 0: 40 bytes: shorter than a header and a footer", path);
	cr_assert_str_eq(obs_corrupt_last(), want);
	cr_assert_eq(k.n, 8);
	obs_buf_release(&b);
}

static struct obs_logstore *store(void)
{
	struct obs_logstore_opts o = lf_opts(2048, 1);
	o.compact_level = 12;
	return lf_open(&o);
}

static void fill(struct obs_logstore *ls, const char *stream, int n)
{
	struct obs_buf w;
	obs_buf_init(&w);
	for (int i = 0; i < n; i++)
		cr_assert_eq(obs_buf_printf(&w, "%.*s\n", (int)lens[i], lines[i]), 0);
	cr_assert_eq(obs_logstore_append(ls, stream, w.data, w.len, T0, NULL, NULL), 0);
	obs_buf_release(&w);
}

static void slurp(const char *path, struct obs_buf *b)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	obs_buf_init(b);
	char t[8192];
	size_t k;
	while ((k = fread(t, 1, sizeof(t), f)) > 0)
		cr_assert_eq(obs_buf_append(b, t, k), 0);
	fclose(f);
}

Test(logstore_reencode, compaction_keeps_the_index_bytes, .init = setup, .fini = teardown)
{
	struct obs_logstore *ls = store();
	fill(ls, "a", 3000);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	char seg[512];
	snprintf(seg, sizeof(seg), "%s/streams/a/0000000000000000.seg", dir);
	struct obs_buf before, after;
	slurp(seg, &before);
	char *t0 = text(ls, "a");
	cr_assert_eq(obs_logstore_compact(ls, 0), 0);
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.compactions, 1);
	slurp(seg, &after);
	cr_assert_lt(after.len, before.len);
	cr_assert_eq(((const uint8_t *)after.data)[10], 12, "frames at level 12");
	uint64_t o1, l1, o2, l2;
	index_range(&before, &o1, &l1);
	index_range(&after, &o2, &l2);
	cr_assert_eq(l1, l2);
	cr_assert(!memcmp(before.data + o1, after.data + o2, l1), "index bytes changed");
	char *t1 = text(ls, "a");
	cr_assert_str_eq(t1, t0);
	obs_logstore_close(ls);
	ls = store();
	char *t2 = text(ls, "a");
	cr_assert_str_eq(t2, t0);
	obs_logstore_close(ls);
	free(t0);
	free(t1);
	free(t2);
	obs_buf_release(&before);
	obs_buf_release(&after);
}

Test(logstore_corrupt, segment_set_aside_and_reported, .init = setup, .fini = teardown)
{
	struct obs_logstore *ls = store();
	fill(ls, "a", 200);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	fill(ls, "a", 10);   /* stays in the WAL */
	obs_logstore_close(ls);
	char seg[512], want[2048];
	snprintf(seg, sizeof(seg), "%s/streams/a/0000000000000000.seg", dir);
	struct obs_buf b;
	slurp(seg, &b);
	b.data[b.len - FTR + 20] ^= 1;   /* index_rawlen */
	write_file(seg, b.data, b.len);
	struct sink k = { 0 };
	obs_corrupt_set_sink(on_corrupt, &k);
	ls = store();
	snprintf(want, sizeof(want), "corrupt '%s' at offset %zu: crc32c of header, frame table and footer mismatch",
		 seg, b.len - FTR + 44);
	cr_assert_eq(k.n, 1);
	cr_assert_str_eq(k.line, want);
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.corrupt_segments, 1);
	cr_assert_eq(st.segments, 0);
	cr_assert_eq(st.head_lines, 10);   /* what the WAL still had */
	struct stat sb;
	char aside[600];
	snprintf(aside, sizeof(aside), "%s.corrupt", seg);
	cr_assert_eq(stat(aside, &sb), 0);
	cr_assert_eq(stat(seg, &sb), -1);
	obs_logstore_close(ls);
	obs_buf_release(&b);
}

Test(logstore_corrupt, wal_record_reported, .init = setup, .fini = teardown)
{
	char wdir[512], want[2048];
	snprintf(wdir, sizeof(wdir), "%s/wal", dir);
	cr_assert_eq(mkdir(dir, 0755) == 0 || errno == EEXIST, 1);
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(wdir, NULL, &w), 0);
	/* a batch of stream "s": 2 lines, the second longer than the record */
	uint8_t p[32] = { 1, 0, 's' };
	obs_put_le64(p + 3, 0);       /* first_seq */
	obs_put_le32(p + 11, 2);      /* count */
	size_t n = 15;
	p[n++] = 0;                /* ts delta */
	p[n++] = 1;                /* len */
	p[n++] = 'x';
	p[n++] = 0;
	p[n++] = 100;              /* len past the end */
	cr_assert_eq(obs_wal_append(w, 1, p, n), 0);
	obs_wal_close(w);
	struct obs_logstore_opts o;
	memset(&o, 0, sizeof(o));
	o.no_background = 1;
	struct obs_logstore *ls;
	cr_assert_eq(obs_logstore_open(dir, &o, &ls), -EBADMSG);
	snprintf(want, sizeof(want),
		 "corrupt '%s': record 1 of the replay (type 1), payload byte 20: line 2 of 2 runs past the record", wdir);
	cr_assert_str_eq(obs_corrupt_last(), want);
}

Test(logseg_reencode, a_bad_frame_fails_it_and_is_named, .init = setup, .fini = teardown)
{
	struct obs_buf b, out;
	encode(&b, 1);
	struct obs_logseg *s;
	cr_assert_eq(obs_logseg_load(b.data, b.len, 0, &s), 0);
	uint64_t ioff, icl;
	index_range(&b, &ioff, &icl);
	uint32_t nf = obs_get_le32((const uint8_t *)b.data + 12);
	cr_assert_gt(nf, 8);
	uint64_t f7 = obs_get_le64((const uint8_t *)b.data + ioff - 16ULL * nf + 16 * 7);
	b.data[f7 + 5] ^= 0x40;   /* frame 7 */
	obs_buf_init(&out);
	cr_assert_eq(obs_buf_append(&out, "keep", 4), 0);
	obs_corrupt_clear();
	cr_assert_eq(obs_logseg_reencode(s, 9, &out), -EBADMSG);
	cr_assert_eq(out.len, 4, "out is as it was");
	char want[200];
	snprintf(want, sizeof(want), "corrupt '(in memory)' at offset %llu: frame 7 crc32c mismatch", (unsigned long long)f7);
	cr_assert_str_eq(obs_corrupt_last(), want);
	obs_logseg_close(s);
	obs_buf_release(&b);
	obs_buf_release(&out);
}
