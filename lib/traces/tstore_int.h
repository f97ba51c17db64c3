/* tstore_int.h — the trace store's state, shared by tstore.c (index,
 * adding, reading), tseg.c (segment files) and tsearch.c (search, names,
 * retention). Private to lib/traces. */
#ifndef OBS_TRACES_TSTORE_INT_H
#define OBS_TRACES_TSTORE_INT_H

#include <pthread.h>
#include <roaring/roaring.h>
#include <stdint.h>
#include <zstd.h>

#include "core/buf.h"
#include "core/strmap.h"
#include "traces/span.h"
#include "traces/tstore.h"

#define TERM_MAX 128   /* longest service, operation, attribute key or value indexed */

struct loc { uint64_t seg; uint32_t off, len; };

struct tentry {
	uint8_t id[16];
	int64_t start_ns, end_ns;
	uint32_t nspans, nerrors;
	uint8_t has_root, dead;
	char *root_svc, *root_op;
	struct loc *locs;
	uint32_t nlocs;
};

struct seg {
	uint64_t no;
	int64_t min_ms, max_ms;
	uint64_t bytes, raw;
	roaring_bitmap_t *ords;
};

struct cache_ent { uint64_t no; char *data; size_t len; };

/* A segment taken out of the open one, being written (or waiting for a
 * retry after a failed write): its rows stay readable until it is listed. */
struct sealed {
	int on;
	uint64_t no;
	struct obs_buf raw;
	uint32_t n;
	int64_t min_ms, max_ms;
	roaring_bitmap_t *ords;
};

struct obs_tstore {
	pthread_mutex_t mu;
	pthread_mutex_t flush_mu;       /* one flush at a time; taken before mu */
	ZSTD_CCtx *zc;                  /* the flushes' compressor (flush_mu) */
	char *dir;
	struct obs_tstore_opts o;
	struct tentry *e;               /* by ordinal */
	size_t ne, cape;
	struct obs_strmap *ids;         /* 16-byte id -> ordinal + 1 */
	struct obs_strmap *terms;       /* term -> roaring_bitmap_t * */
	struct seg *segs;
	size_t nsegs, capsegs;
	/* the open segment */
	uint64_t open_no;
	struct obs_buf raw;
	uint32_t open_n;
	int64_t open_min, open_max;
	roaring_bitmap_t *open_ords;
	struct sealed seal;             /* rows and ords owned here; under mu */
	struct obs_span *sp;            /* scratch of obs_tstore_add and loading (mu) */
	size_t spcap;
	struct cache_ent cache[2];
	struct obs_tstore_stats st;
};

/* The spans of entry ord as (u32 length, encoding) entries (s->mu held). */
int tst_get_locked(struct obs_tstore *s, uint32_t ord, struct obs_buf *out, size_t *n);
/* Bit length of v (the duration class of v ms). */
int tst_bitlen(uint64_t v);
/* DIR/seg-NUMBER.ext, malloc'd. */
char *tst_seg_path(const struct obs_tstore *s, uint64_t no, const char *ext);

/* ---- segment files (tseg.c) ---- */
struct tseg_meta { uint32_t nrec; int64_t min_ms, max_ms; };
struct tseg_img {
	uint32_t version;
	struct tseg_meta meta;
	uint64_t bytes;          /* the file's size */
	char *rows;              /* the row records (malloc) */
	size_t rows_len;
	char *sum;               /* version 1 and asked for: the summary section (malloc) */
	size_t sum_len;
};
/* Write rows[0..n) (m->nrec records) as segment file fin (version 2: the
 * columns, one zstd frame at level, compressed with zc, reused) through tmp, fsync it and dir; *bytes
 * gets its size. 0 or -errno (tmp removed, fin not there). */
int tst_seg_write(const char *dir, const char *tmp, const char *fin, ZSTD_CCtx *zc, int level,
		  const struct tseg_meta *m, const uint8_t *rows, size_t n, uint64_t *bytes);
/* Read and check segment file path (either version) into *g: the rows,
 * and with want_sum a version 1 file's summary. 0, -EBADMSG, -errno. */
int tst_seg_read(const char *path, int want_sum, struct tseg_img *g);
void tst_seg_img_release(struct tseg_img *g);

#endif
