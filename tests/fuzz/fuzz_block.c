// sources: lib/tsdb/block.c lib/tsdb/block_read.c lib/tsdb/block_write.c lib/tsdb/encoding.c lib/tsdb/chunk.c lib/tsdb/samples.c lib/core/buf.c lib/core/crc32c.c lib/core/labels.c lib/core/obstime.c lib/core/num.c lib/index/matcher.c lib/core/utf8.c lib/core/fileio.c lib/core/regex.c lib/core/corrupt.c lib/core/fault.c
/* fuzz_block.c — libFuzzer harness for immutable blocks.
 *
 * Byte 0 picks the mode:
 *   even  write: series and samples derived from the input are written as a
 *         block, opened and read back; every sample must come back
 *         bit-exactly and obs_block_select must find every series.
 *   odd   open: the input becomes the files of a block directory. Byte 1
 *         bit 0 chooses whether the harness seals the files (valid meta,
 *         index header and CRCs around fuzzed contents, so the parser behind
 *         the checksums is reached) or writes them verbatim. The block must
 *         open with 0 or -EBADMSG, and reads and selects of an opened block
 *         must not crash.
 * Blocks live under /dev/shm when it exists (fsync is cheap there).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/crc32c.h"
#include "tsdb/block.h"

static char root[256], blocks[300];

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[1024];
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		struct stat st;
		if (!lstat(p, &st) && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void setup(void)
{
	if (root[0])
		return;
	snprintf(root, sizeof(root), "%s/fuzz_block.XXXXXX", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	if (!mkdtemp(root))
		abort();
	snprintf(blocks, sizeof(blocks), "%s/blocks", root);
}

static void put_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	if (n && fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

static void exercise(struct obs_block *b)
{
	struct obs_samples s;
	obs_samples_init(&s);
	uint32_t n = obs_block_series_count(b);
	for (uint32_t i = 0; i < n && i < 64; i++) {
		uint32_t id;
		const char *c;
		size_t len;
		if (obs_block_series(b, i, &id, &c, &len) || strlen(c) != len)
			abort();
		uint32_t j;
		if (obs_block_find(b, id, &j))
			abort();
		s.n = 0;
		int rc = obs_block_read(b, i, INT64_MIN, INT64_MAX, &s);
		if (rc && (rc != -EBADMSG || s.n))
			abort();
		s.n = 0;
		rc = obs_block_read(b, i, 0, 1000, &s);
		if (rc && rc != -EBADMSG)
			abort();
	}
	obs_samples_release(&s);
	struct obs_matcher m[2];
	if (!obs_matcher_init(&m[0], "job", OBS_MATCH_RE, "a.*", NULL)) {
		if (!obs_matcher_init(&m[1], "__name__", OBS_MATCH_NE, "x", NULL)) {
			roaring_bitmap_t *r = obs_block_select(b, m, 2);
			if (r)
				roaring_bitmap_free(r);
			obs_matcher_release(&m[1]);
		}
		obs_matcher_release(&m[0]);
	}
}

static uint64_t take(const uint8_t **p, const uint8_t *end, int nbytes)
{
	uint64_t v = 0;
	for (int i = 0; i < nbytes; i++)
		v = v << 8 | (*p < end ? *(*p)++ : 0);
	return v;
}

static void mode_write(const uint8_t *p, const uint8_t *end)
{
	size_t ns = (size_t)take(&p, end, 1) % 8 + 1;
	struct obs_block_writer *w;
	if (obs_block_writer_new(blocks, 1, &w))
		abort();
	int64_t *ts[8] = { 0 };
	double *vs[8] = { 0 };
	size_t cnt[8] = { 0 };
	char canon[8][64];
	for (size_t i = 0; i < ns; i++) {
		size_t n = (size_t)take(&p, end, 2) % 20000 + 1;
		int mode = (int)take(&p, end, 1);
		ts[i] = malloc(n * sizeof(int64_t));
		vs[i] = malloc(n * sizeof(double));
		int64_t t = (int64_t)take(&p, end, 8);
		if (t > INT64_MAX / 2)
			t = INT64_MAX / 2;
		if (t < INT64_MIN / 2)
			t = INT64_MIN / 2;
		for (size_t k = 0; k < n; k++) {
			ts[i][k] = t;
			t += (mode & 1) ? 1000 : (int64_t)take(&p, end, 1) + 1;
			uint64_t u;
			if (mode & 2) {
				double d = (double)(int64_t)take(&p, end, 2) / 100.0;
				memcpy(&u, &d, 8);
			} else {
				u = take(&p, end, 8);
			}
			memcpy(&vs[i][k], &u, 8);
		}
		cnt[i] = n;
		snprintf(canon[i], sizeof(canon[i]), "m%zu{job=\"a%u\"}", i % 3, (unsigned)(mode & 7));
		if (obs_block_writer_add(w, (uint32_t)(i * 1000 + 7), canon[i], strlen(canon[i]), ts[i], vs[i], n))
			abort();
	}
	char id[64];
	if (obs_block_writer_commit(w, id))
		abort();
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/%s", blocks, id);
	struct obs_block *b;
	if (obs_block_open(dir, &b))
		abort();
	struct obs_samples s;
	obs_samples_init(&s);
	for (size_t i = 0; i < ns; i++) {
		uint32_t li;
		if (obs_block_find(b, (uint32_t)(i * 1000 + 7), &li))
			abort();
		s.n = 0;
		if (obs_block_read(b, li, INT64_MIN, INT64_MAX, &s) || s.n != cnt[i])
			abort();
		for (size_t k = 0; k < s.n; k++)
			if (s.t[k] != ts[i][k] || memcmp(&s.v[k], &vs[i][k], 8))
				abort();
		free(ts[i]);
		free(vs[i]);
	}
	obs_samples_release(&s);
	roaring_bitmap_t *all = obs_block_select(b, NULL, 0);
	if (!all || roaring_bitmap_get_cardinality(all) != ns)
		abort();
	roaring_bitmap_free(all);
	exercise(b);
	obs_block_close(b);
	rm_tree(dir);
}

static void mode_open(const uint8_t *p, const uint8_t *end)
{
	int seal = (int)(take(&p, end, 1) & 1);
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/B", root);
	mkdir(dir, 0755);
	size_t len = (size_t)(end - p);
	size_t ilen = (size_t)take(&p, end, 2) % (len + 1);
	if (ilen > (size_t)(end - p))
		ilen = (size_t)(end - p);
	const uint8_t *ib = p, *cb = p + ilen;
	size_t clen = (size_t)(end - cb);
	if (!seal) {
		/* verbatim: index bytes, the rest split between chunks and meta */
		put_file(dir, "index", ib, ilen);
		put_file(dir, "chunks", cb, clen / 2);
		put_file(dir, "meta", cb + clen / 2, clen - clen / 2);
	} else {
		/* the fuzzed index body behind a valid header and CRC; chunk bytes
		 * behind the magic; a meta that agrees on sizes. The series, chunk
		 * and sample counts come from the first bytes of the chunk part. */
		const uint8_t *q = cb;
		uint64_t ns = take(&q, end, 1) % 16 + 1, nc = take(&q, end, 1) % 32 + 1;
		uint64_t samples = take(&q, end, 2);
		int comp = (int)(take(&q, end, 1) & 1);
		uint8_t *idx = malloc(24 + ZSTD_compressBound(ilen) + 4);
		size_t body = ilen;
		memcpy(idx + 24, ib, ilen);
		if (comp) {
			size_t z = ZSTD_compress(idx + 24, ZSTD_compressBound(ilen), ib, ilen, 1);
			if (ZSTD_isError(z))
				abort();
			body = z;
		}
		memcpy(idx, "OBSIDX1\n", 8);
		uint8_t h[16] = { (uint8_t)comp, 0, 0, 0 };
		for (int i = 0; i < 4; i++)
			h[4 + i] = (uint8_t)(body >> (8 * i));
		for (int i = 0; i < 8; i++)
			h[8 + i] = (uint8_t)((uint64_t)ilen >> (8 * i));
		memcpy(idx + 8, h, 16);
		uint32_t crc = obs_crc32c(0, idx, 24 + body);
		for (int i = 0; i < 4; i++)
			idx[24 + body + i] = (uint8_t)(crc >> (8 * i));
		put_file(dir, "index", idx, 24 + body + 4);
		size_t crest = (size_t)(end - q);
		uint8_t *chk = malloc(8 + crest);
		memcpy(chk, "OBSCHK1\n", 8);
		memcpy(chk + 8, q, crest);
		put_file(dir, "chunks", chk, 8 + crest);
		char meta[512];
		int ml = snprintf(meta, sizeof(meta),
				  "obsblock 1\nlevel 1\nmint 0\nmaxt 1000000000000\nseries %llu\nsamples %llu\nchunks %llu\n"
				  "index %zu\nchunkfile %zu\n",
				  (unsigned long long)ns, (unsigned long long)samples, (unsigned long long)nc,
				  24 + body + 4, 8 + crest);
		snprintf(meta + ml, sizeof(meta) - (size_t)ml, "crc32c %08x\n", obs_crc32c(0, meta, (size_t)ml));
		put_file(dir, "meta", meta, strlen(meta));
		free(idx);
		free(chk);
	}
	struct obs_block *b = NULL;
	int rc = obs_block_open(dir, &b);
	if (rc == 0) {
		exercise(b);
		obs_block_close(b);
	} else if (rc != -EBADMSG) {
		abort();
	}
	rm_tree(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size < 1)
		return 0;
	if (data[0] & 1)
		mode_open(data + 1, data + size);
	else
		mode_write(data + 1, data + size);
	return 0;
}
