/* logseg_int.h — what the parts of a log segment share (private to
 * lib/logs): the loaded segment, its frame table and field index, and the
 * little-endian and trigram helpers of the format. Format at the top of
 * logseg.c (loader, frames, text); logseg_enc.c writes segments,
 * logseg_search.c plans and runs searches over the index. */
#ifndef OBS_LOGS_LOGSEG_INT_H
#define OBS_LOGS_LOGSEG_INT_H

#include <pthread.h>
#include <roaring/roaring.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "logs/logseg.h"

#define HDR_BYTES 32
#define FTR_BYTES 56
#define MAX_FIELDS 64
#define FTAB_ENTRY 16   /* v2 frame table entry: u64 off | u32 clen | u32 crc */
#define SEG_VERSION 2   /* written; 1 is still read */

/* the 16-bit hash of the byte trigram at p (the trigram index's key) */
static inline uint32_t tri_hash(const uint8_t *p)
{
	uint32_t t = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	return (t * 2654435761u) >> 16;
}

struct sframe {
	uint64_t off;
	uint32_t clen, rawlen, nlines, crc;
	uint64_t first_line;    /* record index of the frame's first line */
	uint64_t text_off;      /* rendering offset of its first line */
};

struct sval {
	const char *v;          /* points into the index blob */
	size_t vn;
	roaring_bitmap_t *bm;
};

struct sfield {
	const char *name;
	size_t nlen;
	int indexed;
	struct sval *vals;
	size_t nvals;
};

struct obs_logseg {
	const uint8_t *p;
	size_t n;
	int own;                /* 1: free(p), 2: munmap */
	char *path;             /* names the file in corruption reports; NULL: in memory */
	int version;
	uint64_t index_off;     /* the compressed index: [index_off, index_off + index_bytes) */
	uint64_t index_raw;     /* its size decompressed (the blob's) */
	uint64_t ftab_off;      /* v2: the frame table, nframes x FTAB_ENTRY (v1: index_off) */
	size_t blob_rest;       /* where the blob goes on after its frame table */
	uint8_t *blob;          /* decompressed index */
	uint32_t nframes;
	struct sframe *fr;
	uint64_t nlines, first_seq, raw_bytes, text_bytes, index_bytes;
	int64_t *ts, min_ts, max_ts;
	int ts_sorted, complete, level;
	struct sfield *fields;
	int nfields;
	roaring_bitmap_t *tri;
	pthread_mutex_t cache_mu;  /* guards the cached frame */
	int64_t cache_idx;
	char *cache;
	size_t cache_pos;          /* where the last read stopped (0: none) */
	uint64_t cache_t, cache_rec;  /* its text offset and record */
};


/* Decompress frame f into a malloc'd buffer of its rawlen bytes (checks its
 * crc and that it ends in '\n'). 0, -ENOMEM or -EBADMSG. */
int lseg_frame_get(const struct obs_logseg *s, uint32_t f, char **out);

#endif
