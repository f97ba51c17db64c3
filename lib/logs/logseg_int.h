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
#include <string.h>

#include "core/bytes.h"
#include "core/strmap.h"
#include "logs/logseg.h"

#define HDR_BYTES 32
#define FTR_BYTES 56
#define MAX_FIELDS 64
#define FTAB_ENTRY 16   /* v2 frame table entry: u64 off | u32 clen | u32 crc */
#define SEG_VERSION 3   /* written; 1 and 2 are still read */

/* the 16-bit hash of the byte trigram at p (the trigram index's key) */
static inline uint32_t tri_hash(const uint8_t *p)
{
	uint32_t t = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	return (t * 2654435761u) >> 16;
}

/* Identifier values (trace ids, request ids, UUIDs): a field's
 * value of ID_MIN..ID_MAX bytes of [0-9A-Za-z_-]. Version 3 segments keep
 * a Bloom filter of them per frame (format at the top of logseg.c), so a
 * search for field=ID skips the frames that cannot hold it when the field
 * has too many values for the field index. */
#define ID_MIN 20   /* trace ids (32), UUIDs (36); not 16-digit span ids: one a line, their cost */
#define ID_MAX 128
#define ID_PROBES 7
#define ID_BITS_PER 10  /* filter bits per distinct value, at least (~1% false positives) */

static inline int lseg_is_id(const char *v, size_t n)
{
	if (n < ID_MIN || n > ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* the filter's hash of field k = identifier v: XXH3-64 of "k\0v" (k is at
 * most 63 bytes: longer names are not in the field table) */
static inline uint64_t lseg_id_hash(const char *k, size_t kn, const char *v, size_t vn)
{
	char b[64 + ID_MAX];
	memcpy(b, k, kn);
	b[kn] = 0;
	memcpy(b + kn + 1, v, vn);
	return obs_strmap_hash(b, kn + 1 + vn);
}

/* probe j's bit of hash h in a filter of nbits (a power of two) bits */
static inline uint32_t lseg_id_bit(uint64_t h, uint32_t j, uint32_t nbits)
{
	return ((uint32_t)h + j * ((uint32_t)(h >> 32) | 1)) & (nbits - 1);
}

struct sframe {
	uint64_t off;
	uint32_t clen, rawlen, nlines, crc;
	uint64_t first_line;    /* record index of the frame's first line */
	uint64_t text_off;      /* rendering offset of its first line */
	const uint8_t *ids;     /* v3: its identifier filter (in the blob), ids_bits bits */
	uint32_t ids_bits;      /* 0: no identifier in the frame (v3), or no filter (v1, v2) */
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
	size_t ids_at;          /* where its identifier filters start (v1, v2: its end) */
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
