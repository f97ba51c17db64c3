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
 * Recovery of spans not yet in a segment is the WAL's business (traces.c).
 *
 * Reading (tst_seg_read) preads the header, checks it against the file's
 * size before anything is allocated, then streams the stored sections in
 * 64 KiB pieces through the CRC and straight into the frame it wants (a v1
 * summary is only checked when not asked for): a read holds the frame's
 * raw bytes and one piece, never the file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY   /* ZSTD_d_stableOutBuffer */
#include <zstd.h>

#include "core/bytes.h"
#include "core/crc32c.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "traces/tcols.h"
#include "traces/tstore_int.h"

#define HDR 56
#define MAGIC "OBSTSEG1"


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
	obs_put_le32(h + 8, 2);
	obs_put_le32(h + 12, m->nrec);
	obs_put_le64(h + 16, (uint64_t)m->min_ms);
	obs_put_le64(h + 24, (uint64_t)m->max_ms);
	obs_put_le32(h + 32, (uint32_t)n);
	obs_put_le32(h + 36, (uint32_t)cols.len);
	obs_put_le32(h + 40, 0);
	obs_put_le32(h + 44, rc ? 0 : (uint32_t)zn);
	obs_put_le32(h + 48, obs_crc32c(0, h, 48));
	obs_buf_release(&cols);
	if (!rc) {
		obs_put_le32(h + 52, obs_crc32c(0, z, zn));
		rc = write_file(tmp, fin, h, HDR, z, zn);
	}
	if (!rc)
		rc = obs_fsync_dir(dir);
	if (!rc)
		*bytes = HDR + zn;
	free(z);
	return rc;
}

/* ---- reading: pread in pieces, never the whole file ---- */

#define PIECE (64u << 10)

/* A zstd frame decompressed into a buffer of its known raw length, fed the
 * stored bytes piece by piece. With zstd's stable output buffer the frame
 * is decoded straight into out (no window copy), so reading costs the raw
 * bytes and a piece, not the file as well. */
struct zsink {
	ZSTD_DCtx *dc;
	ZSTD_outBuffer ob;
	int done;
};

static int zsink_init(struct zsink *z, size_t raw)
{
	memset(z, 0, sizeof *z);
	char *out = malloc(raw ? raw : 1);
	if (!out || !(z->dc = ZSTD_createDCtx())) {
		free(out);
		return -ENOMEM;
	}
	z->ob = (ZSTD_outBuffer){ out, raw, 0 };
	ZSTD_DCtx_setParameter(z->dc, ZSTD_d_windowLogMax, ZSTD_WINDOWLOG_MAX);
	ZSTD_DCtx_setParameter(z->dc, ZSTD_d_stableOutBuffer, 1);   /* refused: zstd keeps a window, still right */
	return 0;
}

/* Feed in[0..n); -EBADMSG for bytes past the frame's end or more output
 * than raw. n == 0 asks for the rest of the output. */
static int zsink_feed(struct zsink *z, const uint8_t *in, size_t n)
{
	ZSTD_inBuffer ib = { in, n, 0 };
	do {
		if (z->done)
			return n ? -EBADMSG : 0;
		size_t in0 = ib.pos, out0 = z->ob.pos;
		size_t r = ZSTD_decompressStream(z->dc, &z->ob, &ib);
		if (ZSTD_isError(r))
			return -EBADMSG;
		if (!r)
			z->done = 1;
		else if (ib.pos == in0 && z->ob.pos == out0)
			return ib.pos < ib.size || z->ob.pos == z->ob.size ? -EBADMSG : 0;   /* stuck: too long / wants input */
	} while (ib.pos < ib.size || (!n && !z->done));
	return 0;
}

/* The frame ended exactly at its raw length: *out gets the bytes. */
static int zsink_finish(struct zsink *z, char **out)
{
	int rc = zsink_feed(z, NULL, 0);
	if (!rc && (!z->done || z->ob.pos != z->ob.size))
		rc = -EBADMSG;
	ZSTD_freeDCtx(z->dc);
	z->dc = NULL;
	if (rc)
		free(z->ob.dst);
	else
		*out = z->ob.dst;
	z->ob.dst = NULL;
	return rc;
}

static void zsink_drop(struct zsink *z)
{
	ZSTD_freeDCtx(z->dc);
	free(z->ob.dst);
	memset(z, 0, sizeof *z);
}

static int pread_all(int fd, void *p, size_t n, off_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)p + got, n - got, off + (off_t)got);
		if (r <= 0)
			return r < 0 ? -errno : -EBADMSG;
		got += (size_t)r;
	}
	return 0;
}

/* Stream the stored sections [HDR, HDR + len) of fd through the CRC
 * (checked against want) and, for the stored byte ranges of the frames in
 * z[i] (at off[i], len zl[i]; z[i].dc NULL: not wanted), their
 * decompression. */
static int stream_sections(int fd, uint64_t len, uint32_t want, struct zsink *z, const uint64_t *off,
			   const uint64_t *zl, int nz)
{
	uint8_t *piece = malloc(PIECE);
	if (!piece)
		return -ENOMEM;
	uint32_t crc = 0;
	int rc = 0;
	for (uint64_t pos = 0; pos < len && !rc; ) {
		size_t k = len - pos < PIECE ? (size_t)(len - pos) : PIECE;
		if ((rc = pread_all(fd, piece, k, (off_t)(HDR + pos))))
			break;
		crc = obs_crc32c(crc, piece, k);
		for (int i = 0; i < nz && !rc; i++) {
			if (!z[i].dc || pos + k <= off[i] || pos >= off[i] + zl[i])
				continue;
			uint64_t a = pos > off[i] ? pos : off[i], e = pos + k < off[i] + zl[i] ? pos + k : off[i] + zl[i];
			rc = zsink_feed(&z[i], piece + (a - pos), (size_t)(e - a));
		}
		pos += k;
	}
	free(piece);
	return rc ? rc : crc == want ? 0 : -EBADMSG;
}

void tst_seg_img_release(struct tseg_img *g)
{
	free(g->rows);
	free(g->sum);
	g->rows = g->sum = NULL;
}

/* Decode a version 2 segment's columns (cols[0..cn)) to its rows. */
static int v2_rows(struct tseg_img *g, const char *cols, size_t cn)
{
	struct obs_buf rows;
	obs_buf_init(&rows);
	int rc = obs_buf_reserve(&rows, g->rows_len);
	if (!rc)
		rc = obs_tcols_decode((const uint8_t *)cols, cn, g->meta.nrec, &rows);
	if (!rc && rows.len != g->rows_len)
		rc = -EBADMSG;
	if (rc) {
		obs_buf_release(&rows);
		return rc;
	}
	size_t n;
	g->rows = obs_buf_detach(&rows, &n);
	return 0;
}

int tst_seg_read(const char *path, int want_sum, struct tseg_img *g)
{
	memset(g, 0, sizeof *g);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	uint8_t h[HDR];
	int rc = fstat(fd, &st) ? -errno : st.st_size < HDR ? -EBADMSG : pread_all(fd, h, HDR, 0);
	uint32_t ver = rc ? 0 : obs_get_le32(h + 8);
	uint64_t stored = rc ? 0 : (uint64_t)st.st_size - HDR;
	if (!rc && (memcmp(h, MAGIC, 8) || (ver != 1 && ver != 2) || obs_get_le32(h + 48) != obs_crc32c(0, h, 48) ||
		    (ver == 1 ? (uint64_t)obs_get_le32(h + 36) : 0) + obs_get_le32(h + 44) != stored))
		rc = -EBADMSG;
	if (rc) {
		close(fd);
		return rc;
	}
	g->version = ver;
	g->meta = (struct tseg_meta){ obs_get_le32(h + 12), (int64_t)obs_get_le64(h + 16),
				      (int64_t)obs_get_le64(h + 24) };
	g->bytes = (uint64_t)st.st_size;
	g->rows_len = obs_get_le32(h + 32);
	/* v1: frame 0 the spans, frame 1 the summary (when wanted); v2: frame 0 the columns */
	struct zsink z[2];
	memset(z, 0, sizeof z);
	uint64_t off[2] = { 0, ver == 1 ? obs_get_le32(h + 36) : 0 };
	uint64_t zl[2] = { ver == 1 ? obs_get_le32(h + 36) : obs_get_le32(h + 44),
			   ver == 1 ? obs_get_le32(h + 44) : 0 };
	size_t raw0 = ver == 1 ? g->rows_len : obs_get_le32(h + 36);
	rc = zsink_init(&z[0], raw0);
	if (!rc && ver == 1 && want_sum)
		rc = zsink_init(&z[1], g->sum_len = obs_get_le32(h + 40));
	if (!rc)
		rc = stream_sections(fd, stored, obs_get_le32(h + 52), z, off, zl, 2);
	close(fd);
	char *out0 = NULL;
	if (!rc)
		rc = zsink_finish(&z[0], &out0);
	if (!rc && z[1].dc)
		rc = zsink_finish(&z[1], &g->sum);
	zsink_drop(&z[0]);
	zsink_drop(&z[1]);
	if (!rc && ver == 1) {
		g->rows = out0;
	} else if (!rc) {
		rc = v2_rows(g, out0, raw0);
		free(out0);
	}
	if (rc)
		tst_seg_img_release(g);
	return rc;
}
