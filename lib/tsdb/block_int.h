/* block_int.h — the block file format, shared by the writer (block_write.c)
 * and the reader (block.c); private to them. block.h is the API.
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
#ifndef OBS_TSDB_BLOCK_INT_H
#define OBS_TSDB_BLOCK_INT_H

#include "tsdb/block.h"

#include "core/fault.h"
#include "tsdb/encoding.h"
#include "core/fileio.h"
#include "core/labels.h"
#include "core/buf.h"
#include "core/bytes.h"
#include "core/corrupt.h"
#include "core/crc32c.h"
#include "core/varint.h"
#include "core/vec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#define CHK_MAGIC "OBSCHK1\n"   /* 8 bytes, no NUL on disk */
#define IDX_MAGIC "OBSIDX1\n"
#define IDX_HDR 24

/* The order of the series in the chunk file (the writer's): by metric name
 * first, so one metric's series sit together in the frames a read
 * decompresses, then obs_labels_cmp. Readers do not depend on it (the index
 * lists series by id); it is kept so new blocks lay out as old ones. */
int block_series_cmp(const struct obs_labels *a, const struct obs_labels *b);

/* ---- little helpers -------------------------------------------------- */

static inline int put_zz(struct obs_buf *b, int64_t v)
{
	return obs_buf_varint(b, obs_zigzag(v));
}

/* A bounded reader over a byte range; any overrun sets err. */
struct rd {
	const uint8_t *p, *end;
	int err;
};

static inline uint64_t get_var(struct rd *r)
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

static inline int64_t get_zz(struct rd *r)
{
	return obs_unzigzag(get_var(r));
}

/* A count that must not exceed the bytes left (each item takes >= 1 byte). */
static inline size_t get_count(struct rd *r)
{
	uint64_t n = get_var(r);
	if (n > (uint64_t)(r->end - r->p)) {
		r->err = 1;
		return 0;
	}
	return (size_t)n;
}

static inline char *path_join(const char *a, const char *b)
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

/* ---- the reader's state (block.c opens, block_read.c reads) ---- */

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

#endif
