// sources: lib/traces/tstore.c lib/traces/tseg.c lib/traces/tcols.c lib/traces/tsearch.c lib/traces/tquery.c lib/traces/span.c lib/core/crc32c.c lib/core/buf.c lib/core/strmap.c lib/core/obstime.c lib/core/regex.c lib/core/fileio.c lib/core/fault.c
/* fuzz_tstore_seg.c — libFuzzer harness for the trace store's segment
 * reader (obs_tstore_open and the reads after it; format in
 * lib/traces/tseg.c).
 *
 * Input: byte 0 odd: the rest is the segment file as it is. Byte 0 % 4 ==
 * 0: version 1; byte 1 is the number of trace records, bytes 2-3
 * (little-endian) where the rest splits into the raw spans section and the
 * raw summary section. Byte 0 % 4 == 2: version 2; byte 1 the number of
 * records, bytes 2-3 the raw row length claimed, the rest the columns. The
 * harness compresses the sections (zstd) and writes a header with the
 * right lengths and CRCs, so the section and column parsers are reached. The file goes into
 * a fresh store directory (scratch directory of fuzz_tmp.h); the open must
 * give 0 (a damaged segment is skipped) or a negative errno, and then every
 * trace a search finds is readable (obs_tstore_get: 0 or -EBADMSG), and the
 * services and their operations list, never crashing or leaking. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/buf.h"
#include "core/crc32c.h"
#include "traces/tstore.h"
#include "fuzz_tmp.h"

#define MAX_SEG_INPUT 16384

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* zstd frame of p[0..n) appended to out; its length */
static size_t frame(struct obs_buf *out, const uint8_t *p, size_t n)
{
	size_t cap = ZSTD_compressBound(n);
	if (obs_buf_reserve(out, cap))
		abort();
	size_t k = ZSTD_compress(out->data + out->len, cap, p, n, 1);
	if (ZSTD_isError(k))
		abort();
	out->len += k;
	return k;
}

static struct obs_tstore *store;

static int on_op(void *ctx, const char *name)
{
	return name == NULL;
}

static int on_service(void *ctx, const char *name)
{
	int rc = obs_tstore_operations(store, name, on_op, NULL);
	if (rc && rc != -ENOENT)
		abort();
	return 0;
}

struct hits { uint8_t id[64][16]; size_t n; };

/* runs under the store's lock (tsearch.c): only note the id */
static int on_hit(void *ctx, const struct obs_tstore_hit *h)
{
	struct hits *hs = ctx;
	if (hs->n < 64)
		memcpy(hs->id[hs->n++], h->trace_id, 16);
	return 0;
}

static void read_hits(const struct hits *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		struct obs_buf b;
		obs_buf_init(&b);
		size_t n = 0;
		int rc = obs_tstore_get(store, hs->id[i], &b, &n);
		if (rc && rc != -EBADMSG && rc != -ENOENT)
			abort();
		obs_buf_release(&b);
		if (!obs_tstore_has(store, hs->id[i]))
			abort();   /* a search hit is in the index */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size || size > MAX_SEG_INPUT)
		return 0;
	const char *dir = fuzz_tmp_store("traces");
	char seg[3200];
	snprintf(seg, sizeof seg, "%s/seg-0000000000000001.trc", dir);

	struct obs_buf f;
	obs_buf_init(&f);
	if (data[0] & 1 || size < 4) {
		if (obs_buf_append(&f, data + 1, size - 1))
			abort();
	} else {
		size_t rest = size - 4, split = (size_t)(data[2] | data[3] << 8);
		int v2 = data[0] & 2;
		if (split > rest && !v2)
			split = rest;
		uint8_t h[56] = "OBSTSEG1";
		le32(h + 8, v2 ? 2 : 1);
		le32(h + 12, data[1]);
		le64(h + 16, 0);
		le64(h + 24, (uint64_t)INT64_MAX / 2);
		if (obs_buf_append(&f, h, sizeof h))
			abort();
		uint8_t *hp;
		if (v2) {   /* the columns, one frame */
			size_t k = frame(&f, data + 4, rest);
			hp = (uint8_t *)f.data;
			le32(hp + 32, (uint32_t)split);
			le32(hp + 36, (uint32_t)rest);
			le32(hp + 40, 0);
			le32(hp + 44, (uint32_t)k);
			le32(hp + 52, obs_crc32c(0, hp + 56, k));
		} else {    /* spans section, summary section */
			size_t ks = frame(&f, data + 4, split);
			size_t km = frame(&f, data + 4 + split, rest - split);
			hp = (uint8_t *)f.data;
			le32(hp + 32, (uint32_t)split);
			le32(hp + 36, (uint32_t)ks);
			le32(hp + 40, (uint32_t)(rest - split));
			le32(hp + 44, (uint32_t)km);
			le32(hp + 52, obs_crc32c(0, hp + 56, ks + km));
		}
		le32(hp + 48, obs_crc32c(0, hp, 48));
	}
	int fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || (f.len && write(fd, f.data, f.len) != (ssize_t)f.len))
		abort();
	close(fd);
	obs_buf_release(&f);

	struct obs_tstore_opts o;
	obs_tstore_opts_default(&o);
	o.retention_ms = 0;
	store = NULL;
	int rc = obs_tstore_open(dir, &o, &store);
	if (rc) {
		if (rc > 0)
			abort();
		return 0;
	}
	struct obs_tq q;
	char err[128];
	if (obs_tq_parse("", 0, &q, err, sizeof err))
		abort();
	static struct hits hs;
	hs.n = 0;
	rc = obs_tstore_search(store, &q, INT64_MIN, INT64_MAX, on_hit, &hs);
	if (rc > 0)
		abort();
	read_hits(&hs);
	obs_tq_release(&q);
	if (obs_tstore_services(store, on_service, NULL) > 0)
		abort();
	struct obs_tstore_stats st;
	obs_tstore_get_stats(store, &st);
	obs_tstore_close(store);
	return 0;
}
