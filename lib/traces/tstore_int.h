/* tstore_int.h — the trace store's state, shared by tstore.c (segments,
 * adding, reading) and tsearch.c (search, names, retention). Private to
 * lib/traces. */
#ifndef OBS_TRACES_TSTORE_INT_H
#define OBS_TRACES_TSTORE_INT_H

#include <pthread.h>
#include <roaring/roaring.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/strmap.h"
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

struct obs_tstore {
	pthread_mutex_t mu;
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
	struct obs_buf raw, sum;
	uint32_t open_n;
	int64_t open_min, open_max;
	roaring_bitmap_t *open_ords;
	struct cache_ent cache[2];
	struct obs_tstore_stats st;
};

/* The spans of entry ord as (u32 length, encoding) entries (s->mu held). */
int tst_get_locked(struct obs_tstore *s, uint32_t ord, struct obs_buf *out, size_t *n);
/* Bit length of v (the duration class of v ms). */
int tst_bitlen(uint64_t v);
/* DIR/seg-NUMBER.ext, malloc'd. */
char *tst_seg_path(const struct obs_tstore *s, uint64_t no, const char *ext);

#endif
