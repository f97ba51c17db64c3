/* tseg.c — segment files of kept traces (libobs traces): writing one,
 * reading and checking one. The index over them is tstore.c's.
 *
 * Segment file DIR/seg-NNNNNNNNNNNNNNNN.trc (NNN: the segment number, 16
 * hex digits, increasing), written once (temp name, fsync, rename, fsync
 * dir) and never changed; little-endian. Both versions share the header:
 *
 *   off size
 *     0   8  magic "OBSTSEG1"
 *     8   4  u32 version (1 or 2; written: 2)
 *    12   4  u32 number of trace records
 *    16   8  i64 earliest span start, ms
 *    24   8  i64 latest span end, ms
 *    32   4  u32 raw length of the row records (the spans section)
 *    36   4  version 1: u32 stored length of the spans section (one zstd frame)
 *             version 2: u32 raw length of the columns
 *    40   4  version 1: u32 raw length of the summary section; version 2: 0
 *    44   4  u32 stored length of the summary section (v1) / of the columns (v2)
 *    48   4  u32 CRC32C of bytes 0..47
 *    52   4  u32 CRC32C of the stored sections
 *    56      version 1: spans section, then summary section (one zstd frame each)
 *             version 2: the columns (tcols.c), one zstd frame
 *
 * Row records (the spans section of v1, what v2's columns decode to): per
 * record 16 trace id, uvarint span count, per span (uvarint length, span
 * encoding as in span.c). A trace may have several records (late spans).
 *
 * Version 1 summary section: one entry per trace record, in the same order:
 *   16 trace id, uvarint offset and length of its record in the spans
 *   section, uvarint spans, uvarint error spans, uvarint earliest start
 *   (ns), uvarint duration (ns), u8 has a root span, (uvarint len, bytes)
 *   root service, root operation, uvarint term count, terms as
 *   (uvarint len, bytes). Version 2 has no summary: the index is derived
 *   from the spans at load (tstore.c), so no id or name is stored twice.
 *
 * A segment is valid when the magic, a known version and both CRCs hold,
 * the stored lengths add up to the file, the frames decompress to their raw
 * lengths and (v2) the columns decode to exactly the raw row length; an
 * invalid one is skipped at open (counted, left on disk for inspection).
 * Recovery of spans not yet in a segment is the WAL's business (traces.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/crc32c.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "traces/tcols.h"
#include "traces/tstore_int.h"

#define HDR 56
#define MAGIC "OBSTSEG1"

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static int64_t get64(const uint8_t *p) { int64_t v; memcpy(&v, p, 8); return v; }

static int write_file(const char *tmp, const char *fin, const void *a, size_t an, const void *b, size_t bn)
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

int tst_seg_write(const char *dir, const char *tmp, const char *fin, ZSTD_CCtx *zc, int level,
		  const struct tseg_meta *m, const uint8_t *rows, size_t n, uint64_t *bytes)
{
	struct obs_buf cols;
	obs_buf_init(&cols);
	int rc = obs_tcols_encode(rows, n, m->nrec, &cols);
	if (rc)
		return rc;
	size_t cap = ZSTD_compressBound(cols.len);
	uint8_t *z = malloc(cap ? cap : 1);
	if (!z) {
		obs_buf_release(&cols);
		return -ENOMEM;
	}
	size_t zn = ZSTD_compressCCtx(zc, z, cap, cols.data, cols.len, level);
	if (ZSTD_isError(zn) || n > UINT32_MAX || cols.len > UINT32_MAX)
		rc = -EIO;
	uint8_t h[HDR];
	memcpy(h, MAGIC, 8);
	put32(h + 8, 2);
	put32(h + 12, m->nrec);
	put64(h + 16, m->min_ms);
	put64(h + 24, m->max_ms);
	put32(h + 32, (uint32_t)n);
	put32(h + 36, (uint32_t)cols.len);
	put32(h + 40, 0);
	put32(h + 44, rc ? 0 : (uint32_t)zn);
	put32(h + 48, obs_crc32c(0, h, 48));
	obs_buf_release(&cols);
	if (!rc) {
		put32(h + 52, obs_crc32c(0, z, zn));
		rc = write_file(tmp, fin, h, HDR, z, zn);
	}
	if (!rc)
		rc = obs_fsync_dir(dir);
	if (!rc)
		*bytes = HDR + zn;
	free(z);
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

static int read_whole(const char *path, uint8_t **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	uint8_t *d = NULL;
	if (fstat(fd, &st) || st.st_size < HDR || (uint64_t)st.st_size > SIZE_MAX / 2) {
		rc = -EBADMSG;
		goto out;
	}
	if (!(d = malloc((size_t)st.st_size))) {
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
	*data = d;
	*len = got;
	d = NULL;
out:
	free(d);
	close(fd);
	return rc;
}

void tst_seg_img_release(struct tseg_img *g)
{
	free(g->rows);
	free(g->sum);
	g->rows = g->sum = NULL;
}

int tst_seg_read(const char *path, int want_sum, struct tseg_img *g)
{
	uint8_t *d = NULL;
	size_t n;
	memset(g, 0, sizeof *g);
	int rc = read_whole(path, &d, &n);
	if (rc)
		return rc;
	uint32_t ver = get32(d + 8);
	if (memcmp(d, MAGIC, 8) || (ver != 1 && ver != 2) || get32(d + 48) != obs_crc32c(0, d, 48) ||
	    (ver == 1 ? (uint64_t)get32(d + 36) : 0) + get32(d + 44) != (uint64_t)n - HDR ||
	    get32(d + 52) != obs_crc32c(0, d + HDR, n - HDR)) {
		free(d);
		return -EBADMSG;
	}
	g->version = ver;
	g->meta = (struct tseg_meta){ get32(d + 12), get64(d + 16), get64(d + 24) };
	g->bytes = n;
	g->rows_len = get32(d + 32);
	if (ver == 1) {
		rc = unz(d + HDR, get32(d + 36), g->rows_len, &g->rows);
		if (!rc && want_sum) {
			g->sum_len = get32(d + 40);
			rc = unz(d + HDR + get32(d + 36), get32(d + 44), g->sum_len, &g->sum);
		}
	} else {
		char *cols = NULL;
		struct obs_buf rows;
		obs_buf_init(&rows);
		rc = unz(d + HDR, get32(d + 44), get32(d + 36), &cols);
		if (!rc && !(rc = obs_buf_reserve(&rows, g->rows_len)))
			rc = obs_tcols_decode((const uint8_t *)cols, get32(d + 36), g->meta.nrec, &rows);
		if (!rc && rows.len != g->rows_len)
			rc = -EBADMSG;
		free(cols);
		if (rc)
			obs_buf_release(&rows);
		else
			g->rows = obs_buf_detach(&rows, &n);
	}
	free(d);
	if (rc)
		tst_seg_img_release(g);
	return rc;
}
