/* db.c — the metrics store over one data directory.
 *
 * Write path (one call = one writer's write()):
 *   parse lines -> resolve each sample's series (cached by the raw key as
 *   written, else labels are built and canonicalised; new series are logged
 *   to the WAL first, under cutlock shared) -> refuse what the head would
 *   refuse (floor, window, other value at the newest time) -> one WAL record
 *   for the rest of the batch -> apply to the head under each series' lock.
 *   Nothing reaches the head before the WAL holds it, so a failed WAL write
 *   (ENOSPC) leaves no sample visible that a restart would lose, and nothing
 *   refused is in the WAL for a replay to bring back. The precheck, the WAL
 *   append and the apply hold the stripe locks of every series of the batch
 *   (64 stripes by id, taken in ascending order), so per series the head
 *   applies batches in their WAL order and a replay rebuilds the same head.
 *
 * Lock order: compact_mu > cutlock > stripes > maplock > blocks_lock >
 * series mu > carry_mu > the WAL's own locks.
 *
 * Data directory: LOCK (flock, pid inside), wal/ (obs_wal segments),
 * blocks/ID/ (block.h), rollups/ (tiers.h). Opening loads the blocks (a
 * merged block's parents still present are deleted), registers their series
 * under their global ids, opens the rollup tiers, then replays the WAL.
 *
 * WAL payloads (little-endian, varints are LEB128, zigzag for signed):
 *   type 1 SERIES:  u32 id, canonical series text (rest of the record)
 *   type 2 SAMPLES: uvarint count, then count x
 *                   { uvarint id, zigzag varint (t - previous t in record), u64 value bits }
 *   type 4 SERIESV: repeated { u32 id, u32 n, n bytes of canonical series text }
 *                   (the series a compaction logs again right after its cut)
 *   type 3 CARRY:   u64 handle, u32 series (UINT32_MAX: ingest), u16 n, n bytes
 *                   of source, then the partial last line of an open file
 *                   (empty: the line was completed or dropped). Carries left
 *                   at the end of a replay are ingested as complete lines, as
 *                   a close would have.
 * Replay applies records in order. Samples of an id no record has named yet
 * are held until its SERIES record comes (retention logs a series again when
 * it loses its last block, after samples of it); samples whose id is still
 * unknown at the end are corruption (-EBADMSG), unless opts.wal_recover: then every valid record is applied,
 * the rest (damaged bytes, records that cannot be applied, samples of
 * unknown ids) is skipped and counted (stats, errlog), and what was kept is
 * checkpointed at once so the damaged segments go.
 *
 * Head: per series, closed Gorilla chunks of up to CHUNK_SAMPLES samples plus
 * one open chunk. Out-of-order samples inside the window are merged into the
 * chunk that covers their time (decode, insert, re-encode) and bump the
 * series' generation, which invalidates cached text sizes. */
#include "tsdb/db.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "core/labels.h"
#include "core/num.h"
#include "core/obstime.h"
#include "core/strmap.h"
#include "core/varint.h"
#include "core/vec.h"
#include "tsdb/block.h"
#include "tsdb/chunk.h"
#include "tsdb/downsample.h"
#include "tsdb/tiers.h"
#include "core/wal.h"

#define CHUNK_SAMPLES 240
#define PAGE_BITS 12
#define PAGE_SIZE_IDS (1u << PAGE_BITS)
#define MAX_PAGES (1u << 16)

enum { REC_SERIES = 1, REC_SAMPLES = 2, REC_CARRY = 3, REC_SERIESV = 4 };

struct chunk {
	uint8_t *data;
	uint32_t len, n;
	int64_t tmin, tmax;
};

struct series {
	pthread_mutex_t mu;        /* protects everything below but id/canon/labels */
	uint32_t id;
	uint32_t canonlen;
	char *canon;               /* immutable after creation */
	struct obs_labels labels;  /* immutable after creation */
	struct chunk *closed;
	uint32_t nclosed, capclosed;
	struct obs_chunk_enc open;
	uint64_t nsamples;         /* in the head and the frozen set */
	uint64_t gen;              /* bumped by any change other than an append at the end */
	/* floor_t and in_block are written under mu (and cutlock or blocks_lock)
	 * but read on paths that hold neither, so they are atomic */
	_Atomic int64_t floor_t;   /* last compacted sample; older samples are refused */
	_Atomic int in_block;      /* some block holds samples of this series */
	struct chunk *frozen;      /* head chunks being written into a block (readable) */
	uint32_t nfrozen, capfrozen;
	int64_t floor_prev;        /* floor_t before the freeze, restored if the compaction fails */
	/* cached text size, valid while txt_gen == gen and the format matches */
	uint64_t txt_bytes, txt_gen;
	int64_t txt_last;
	int txt_fmt, txt_valid;
	_Atomic int64_t untimed_t; /* last arrival time given to an untimed sample (no lock) */
};

struct obs_db {
	char *dir;
	int lockfd;
	struct obs_db_opts o;
	struct obs_wal *wal;
	struct obs_index *ix;
	struct obs_errlog *errs;
	pthread_rwlock_t maplock;          /* protects byname, alias, pages, nseries */
	struct obs_strmap *byname;         /* canonical text -> series */
	struct obs_strmap *alias;          /* fmt byte + raw key -> series */
	struct series **pages[MAX_PAGES];
	_Atomic uint32_t nseries;
	int replaying;                     /* set during open only */
	pthread_rwlock_t cutlock;          /* shared: a batch's WAL append + apply;
	                                      exclusive: compaction freezing the head */
	pthread_mutex_t compact_mu;        /* one compaction at a time */
	pthread_rwlock_t blocks_lock;      /* protects blocks/nblocks and the frozen sets */
	struct obs_block **blocks;         /* ordered by mint */
	struct obs_tiers *tiers;           /* rollups of merged blocks (own lock) */
	size_t nblocks;
	pthread_mutex_t carry_mu;             /* protects carries and orders their records */
	struct obs_strmap *carries;           /* 8-byte handle -> struct carry */
	_Atomic uint64_t compactions, retired;
	_Atomic int64_t head_mint, head_maxt;   /* time span of samples in the head */
	_Atomic uint64_t head_samples;
	_Atomic int64_t head_since;           /* arrival time of the head's first sample (0: empty) */
	pthread_t compactor;
	int compactor_running;
	pthread_mutex_t stop_mu;              /* protects stopping, with stop_cv */
	pthread_cond_t stop_cv;
	int stopping;
	_Atomic int64_t last_compact_ms, last_compact_dur_ms;
	pthread_mutex_t stripes[64];          /* by series id: one writer at a time
	                                         checks, logs and applies a series */
	_Atomic uint64_t ingested, rejected, replayed;
	_Atomic uint64_t exemplars_dropped;   /* OpenMetrics exemplars seen, not kept */
	int64_t started_ms, replay_ms;
	struct obs_wal_stats replay_stats;
	uint64_t skipped_records, skipped_samples;   /* by a wal_recover replay */
	struct deferred *deferred;         /* replay: samples met before their SERIES record */
	size_t ndeferred, capdeferred;
	roaring_bitmap_t *deferred_ids;
};

struct deferred {
	uint32_t id;
	int64_t t;
	uint64_t bits;
};

static int push_range(const uint8_t *data, size_t len, uint32_t n, int64_t from, int64_t to,
		      struct obs_samples *out);
static void sort_samples(struct obs_samples *o, size_t from);
static int read_series(struct obs_db *db, uint32_t id, int64_t from, int64_t to, int skip_rolled,
		       struct obs_samples *out);
int obs_db_retain(struct obs_db *db, int64_t now_ms);

/* ---- small encoders ---------------------------------------------------- */


/* ---- options, series table ---------------------------------------------- */

void obs_db_opts_default(struct obs_db_opts *o)
{
	memset(o, 0, sizeof *o);
	o->ooo_window_ms = 5 * 60 * 1000;
	o->max_series = 1000000;
	o->max_series_per_metric = 100000;
	o->sync_interval_ms = 1000;
	o->wal_segment_bytes = 64u << 20;
	o->errlog_entries = 1000;
	o->block_span_ms = 2 * 3600 * 1000;
	o->head_max_samples = 16u << 20;
	o->retention_ms = 15LL * 24 * 3600 * 1000;
	o->check_interval_ms = 5000;
	o->tier_retention_ms[0] = 90LL * 24 * 3600 * 1000;
	o->tier_retention_ms[1] = 365LL * 24 * 3600 * 1000;
	o->tier_retention_ms[2] = 3 * 365LL * 24 * 3600 * 1000;
}

static struct series *series_get(struct obs_db *db, uint32_t id)
{
	if (id >= atomic_load(&db->nseries))
		return NULL;
	struct series **page = db->pages[id >> PAGE_BITS];
	return page ? page[id & (PAGE_SIZE_IDS - 1)] : NULL;
}

static void series_free(struct series *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nclosed; i++)
		free(s->closed[i].data);
	free(s->closed);
	for (uint32_t i = 0; i < s->nfrozen; i++)
		free(s->frozen[i].data);
	free(s->frozen);
	obs_chunk_enc_release(&s->open);
	obs_labels_release(&s->labels);
	free(s->canon);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Register a new series under maplock (held for writing by the caller). */
static int series_insert(struct obs_db *db, uint32_t id, const char *canon, size_t n,
			 struct obs_labels *labels, uint64_t hash, struct series **out)
{
	if (id >= MAX_PAGES * PAGE_SIZE_IDS)
		return -EDQUOT;
	struct series *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->canon = malloc(n + 1);
	if (!s->canon) {
		free(s);
		return -ENOMEM;
	}
	memcpy(s->canon, canon, n);
	s->canon[n] = 0;
	s->canonlen = (uint32_t)n;
	s->id = id;
	s->labels = *labels;
	obs_labels_init(labels);   /* ownership moved */
	pthread_mutex_init(&s->mu, NULL);
	obs_chunk_enc_init(&s->open);
	s->floor_t = INT64_MIN;
	struct series ***page = &db->pages[id >> PAGE_BITS];
	if (!*page && !(*page = calloc(PAGE_SIZE_IDS, sizeof **page)))
		goto nomem;
	if (obs_strmap_put(db->byname, hash, canon, n, s))
		goto nomem;
	if (obs_index_add(db->ix, id, &s->labels)) {
		obs_strmap_del(db->byname, hash, canon, n);
		goto nomem;
	}
	(*page)[id & (PAGE_SIZE_IDS - 1)] = s;
	if (id >= atomic_load(&db->nseries))
		atomic_store(&db->nseries, id + 1);
	*out = s;
	return 0;
nomem:
	series_free(s);
	return -ENOMEM;
}

/* Find or create the series for a label set. Takes ownership of nothing;
 * labels is consumed (moved) only when a series is created. */
static int series_resolve(struct obs_db *db, struct obs_labels *labels, struct series **out, const char **why)
{
	struct obs_buf canon;
	obs_buf_init(&canon);
	if (obs_labels_format(labels, &canon))
		return -ENOMEM;
	uint64_t h = obs_strmap_hash(canon.data, canon.len);
	pthread_rwlock_rdlock(&db->maplock);
	struct series *s = obs_strmap_get(db->byname, h, canon.data, canon.len);
	pthread_rwlock_unlock(&db->maplock);
	if (s) {
		obs_buf_release(&canon);
		*out = s;
		return 0;
	}
	/* the SERIES record and the registration are one step against a WAL
	 * cut (cutlock shared): a series whose record lies before a cut is
	 * known to the compaction making it, which logs it again after the cut
	 * unless a block holds it, so samples after a cut never meet an id
	 * that a replay does not know */
	pthread_rwlock_rdlock(&db->cutlock);
	pthread_rwlock_wrlock(&db->maplock);
	int rc = 0;
	s = obs_strmap_get(db->byname, h, canon.data, canon.len);
	if (s)
		goto done;
	uint32_t n = atomic_load(&db->nseries);
	/* a series without a metric name (`{a="1"}`) is valid: obsfs(7) */
	if (n >= db->o.max_series) {
		rc = -EDQUOT;
		if (why)
			*why = "series limit reached (max_series)";
		goto done;
	}
	const char *metric = obs_labels_get(labels, "__name__");
	if (metric && obs_index_count(db->ix, "__name__", metric) >= db->o.max_series_per_metric) {
		rc = -EDQUOT;
		if (why)
			*why = "series limit of the metric reached (max_series_per_metric)";
		goto done;
	}
	if (!db->replaying) {
		uint8_t hdr[4];
		obs_put_le32(hdr, n);
		rc = obs_wal_append2(db->wal, REC_SERIES, hdr, 4, canon.data, canon.len);
		if (rc) {
			if (why)
				*why = "write-ahead log write failed";
			goto done;
		}
	}
	rc = series_insert(db, n, canon.data, canon.len, labels, h, &s);
done:
	pthread_rwlock_unlock(&db->maplock);
	pthread_rwlock_unlock(&db->cutlock);
	obs_buf_release(&canon);
	if (!rc)
		*out = s;
	return rc;
}

/* ---- the head: appending to a series ------------------------------------ */

static int64_t series_last_t(const struct series *s, uint64_t *vbits)
{
	if (s->open.n) {
		*vbits = s->open.v_last;
		return s->open.t_last;
	}
	if (s->nclosed) {
		const struct chunk *c = &s->closed[s->nclosed - 1];
		*vbits = 0;
		return c->tmax;
	}
	return INT64_MIN;
}

/* A closed chunk holding an exact-size copy of the encoder's bytes. */
static int chunk_from_enc(const struct obs_chunk_enc *e, struct chunk *out)
{
	size_t len;
	const uint8_t *d = obs_chunk_data(e, &len);
	uint8_t *copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, d, len);
	*out = (struct chunk){ copy, (uint32_t)len, e->n, e->t_first, e->t_last };
	return 0;
}

static int series_cut(struct series *s)
{
	if (s->nclosed == s->capclosed) {
		uint32_t cap = s->capclosed ? s->capclosed * 2 : 4;
		struct chunk *c = realloc(s->closed, cap * sizeof *c);
		if (!c)
			return -ENOMEM;
		s->closed = c;
		s->capclosed = cap;
	}
	int rc = chunk_from_enc(&s->open, &s->closed[s->nclosed]);
	if (rc)
		return rc;
	s->nclosed++;
	obs_chunk_enc_release(&s->open);
	obs_chunk_enc_init(&s->open);
	return 0;
}

/* Decode (data,len) of n samples into arrays (caller frees). */
static int decode_alloc(const uint8_t *data, size_t len, uint32_t n, int64_t **ts, double **vs)
{
	*ts = malloc((n + 1) * sizeof **ts);
	*vs = malloc((n + 1) * sizeof **vs);
	if (!*ts || !*vs) {
		free(*ts);
		free(*vs);
		return -ENOMEM;
	}
	int got = obs_chunk_decode(data, len, *ts, *vs, n + 1);
	if (got < 0) {
		free(*ts);
		free(*vs);
	}
	return got;
}

/* Insert (t, v) into the chunk encoded in (data, len): returns 1 inserted,
 * 0 identical sample already there, -EEXIST other value at t, <0 errors.
 * On 1, *enc holds the re-encoded chunk. */
static int chunk_insert(const uint8_t *data, size_t len, uint32_t n, int64_t t, double v,
			struct obs_chunk_enc *enc)
{
	int64_t *ts;
	double *vs;
	int got = decode_alloc(data, len, n, &ts, &vs);
	if (got < 0)
		return got;
	int rc = 1;
	size_t pos = 0;
	while (pos < (size_t)got && ts[pos] < t)
		pos++;
	if (pos < (size_t)got && ts[pos] == t) {
		rc = obs_f64_bits(vs[pos]) == obs_f64_bits(v) ? 0 : -EEXIST;
		goto out;
	}
	obs_chunk_enc_init(enc);
	for (size_t i = 0; i <= (size_t)got && rc == 1; i++) {
		int r;
		if (i == pos)
			r = obs_chunk_append(enc, t, v);
		else
			r = 0;
		if (!r && i < (size_t)got)
			r = obs_chunk_append(enc, ts[i], vs[i]);
		if (r)
			rc = r;
	}
	if (rc != 1)
		obs_chunk_enc_release(enc);
out:
	free(ts);
	free(vs);
	return rc;
}

/* Out-of-order insert inside the window. */
static int series_insert_ooo(struct series *s, int64_t t, double v, const char **why)
{
	struct obs_chunk_enc enc;
	int rc;
	uint32_t i = 0;
	while (i < s->nclosed && s->closed[i].tmax < t)
		i++;
	if (i < s->nclosed) {
		struct chunk *c = &s->closed[i];
		rc = chunk_insert(c->data, c->len, c->n, t, v, &enc);
		if (rc == 1) {
			struct chunk nc;
			int e = chunk_from_enc(&enc, &nc);
			obs_chunk_enc_release(&enc);
			if (e)
				return e;
			free(c->data);
			*c = nc;
		}
	} else {
		size_t len;
		const uint8_t *d = obs_chunk_data(&s->open, &len);
		rc = chunk_insert(d, len, s->open.n, t, v, &enc);
		if (rc == 1) {
			obs_chunk_enc_release(&s->open);
			s->open = enc;
		}
	}
	if (rc == -EEXIST && why)
		*why = "duplicate timestamp with a different value";
	if (rc == 1) {
		s->nsamples++;
		s->gen++;
		return 0;
	}
	return rc;
}

/* Append one sample: 0 stored (or identical resend), -EEXIST / -ERANGE
 * rejected with *why, other <0 errors. Caller holds s->mu. */
static int series_append(struct obs_db *db, struct series *s, int64_t t, double v, const char **why)
{
	uint64_t lastbits;
	if (t <= s->floor_t) {
		*why = "sample at or before the series' compacted data";
		return -ERANGE;
	}
	int64_t last = series_last_t(s, &lastbits);
	if (last == INT64_MIN || t > last) {
		if (s->open.n >= CHUNK_SAMPLES) {
			int rc = series_cut(s);
			if (rc)
				return rc;
		}
		int rc = obs_chunk_append(&s->open, t, v);
		if (!rc)
			s->nsamples++;
		return rc;
	}
	if (t == last && s->open.n) {
		if (lastbits == obs_f64_bits(v))
			return 0;
		*why = "duplicate timestamp with a different value";
		return -EEXIST;
	}
	if (last - t > db->o.ooo_window_ms) {
		*why = "sample older than the out-of-order window";
		return -ERANGE;
	}
	return series_insert_ooo(s, t, v, why);
}

/* ---- ingest ----------------------------------------------------------- */

struct pending {
	struct series *s;
	int64_t t;
	double v;
};

struct ingest_ctx {
	struct obs_db *db;
	const char *source;
	struct obs_ingest_result *r;
	int64_t now;
	struct pending *p;
	size_t n, cap;
	/* last resolved key, to skip lookups on runs of one series */
	char lastkey[512];
	size_t lastkeylen;
	enum obs_fmt lastfmt;
	struct series *last;
	struct obs_buf akey;
	struct series *untimed_s;   /* last series whose newest time was looked up */
};

static void set_err(struct obs_ingest_result *r, int err)
{
	/* severity: EIO/ENOSPC > EDQUOT > EINVAL */
	static const int order[] = { EINVAL, EDQUOT, ENOSPC, EIO };
	int cur = 0, nw = 0;
	for (int i = 0; i < 4; i++) {
		if (order[i] == r->err)
			cur = i + 1;
		if (order[i] == err)
			nw = i + 1;
	}
	if (nw > cur)
		r->err = err;
}

static void reject(struct ingest_ctx *c, size_t lineno, const char *line, size_t len, const char *why, int err)
{
	c->r->rejected++;
	atomic_fetch_add(&c->db->rejected, 1);
	set_err(c->r, err);
	obs_errlog_add(c->db->errs, c->now, c->source, lineno, line, len, why);
}

static int pending_push(struct ingest_ctx *c, struct series *s, int64_t t, double v)
{
	if (OBS_VEC_RESERVE_FROM(c->p, c->cap, c->n + 1, 1024))
		return -ENOMEM;
	c->p[c->n++] = (struct pending){ s, t, v };
	return 0;
}

/* The time of an untimed sample of s: its arrival time (c->now), but after
 * the series' newest sample and after every arrival time already handed out
 * for s, by this write or any other (s->untimed_t, advanced by CAS), so
 * untimed samples are distinct and increasing per series however series and
 * writers interleave. The series' newest time is looked up (under s->mu)
 * when c moves to another series; a run of one series takes no lock.
 * -ERANGE when no valid time is left after the series' newest sample. */
static int untimed_time(struct ingest_ctx *c, struct series *s, int64_t *out)
{
	int64_t t = c->now;
	if (s != c->untimed_s) {
		uint64_t lastbits;
		pthread_mutex_lock(&s->mu);
		int64_t last = series_last_t(s, &lastbits);
		if (s->floor_t > last)
			last = s->floor_t;
		pthread_mutex_unlock(&s->mu);
		if (last != INT64_MIN && last >= t)
			t = last >= OBS_TIME_VALID_MAX ? INT64_MAX : last + 1;
		c->untimed_s = s;
	}
	int64_t cur = atomic_load_explicit(&s->untimed_t, memory_order_relaxed), want;
	do {
		want = t > cur ? t : (cur >= OBS_TIME_VALID_MAX ? INT64_MAX : cur + 1);
		if (want > OBS_TIME_VALID_MAX)
			return -ERANGE;
	} while (!atomic_compare_exchange_weak_explicit(&s->untimed_t, &cur, want, memory_order_relaxed,
							memory_order_relaxed));
	*out = want;
	return 0;
}

static int on_sample(void *ctx, const struct obs_sample_in *in)
{
	struct ingest_ctx *c = ctx;
	struct obs_db *db = c->db;
	struct series *s = NULL;
	if (c->last && in->fmt == c->lastfmt && in->keylen == c->lastkeylen &&
	    !memcmp(in->key, c->lastkey, in->keylen)) {
		s = c->last;
	} else {
		obs_buf_reset(&c->akey);
		if (obs_buf_putc(&c->akey, (char)('0' + in->fmt)) ||
		    obs_buf_append(&c->akey, in->key, in->keylen))
			return -ENOMEM;
		uint64_t h = obs_strmap_hash(c->akey.data, c->akey.len);
		pthread_rwlock_rdlock(&db->maplock);
		s = obs_strmap_get(db->alias, h, c->akey.data, c->akey.len);
		pthread_rwlock_unlock(&db->maplock);
		if (!s) {
			struct obs_labels l;
			const char *why = NULL;
			int rc = obs_labels_build(&l, in->name, in->namelen, in->labels, in->nlabels, &why);
			if (rc == -ENOMEM)
				return rc;
			if (rc) {
				reject(c, 0, in->key, in->keylen, why, EINVAL);
				return 0;
			}
			rc = series_resolve(db, &l, &s, &why);
			obs_labels_release(&l);
			if (rc == -EDQUOT) {
				reject(c, 0, in->key, in->keylen, why, EDQUOT);
				return 0;
			}
			if (rc) {
				reject(c, 0, in->key, in->keylen, why ? why : strerror(-rc), -rc);
				return rc == -ENOMEM ? rc : 0;
			}
			/* alias the raw key; bounded so label explosions cannot grow it unboundedly */
			pthread_rwlock_wrlock(&db->maplock);
			if (obs_strmap_count(db->alias) < 2 * (size_t)db->o.max_series + 1024)
				obs_strmap_put(db->alias, h, c->akey.data, c->akey.len, s);
			pthread_rwlock_unlock(&db->maplock);
		}
		if (in->keylen <= sizeof c->lastkey) {
			memcpy(c->lastkey, in->key, in->keylen);
			c->lastkeylen = in->keylen;
			c->lastfmt = in->fmt;
			c->last = s;
		} else {
			c->last = NULL;
		}
	}
	if (in->exemplar)
		atomic_fetch_add(&db->exemplars_dropped, 1);
	int64_t t = in->ts_ms;
	if (t == OBS_TS_NONE) {
		if (untimed_time(c, s, &t)) {
			reject(c, 0, in->key, in->keylen, "no time left after the series' newest sample", EINVAL);
			return 0;
		}
	} else if (!obs_time_valid(t)) {   /* the parsers refuse these already */
		reject(c, 0, in->key, in->keylen, "timestamp out of range", EINVAL);
		return 0;
	}
	return pending_push(c, s, t, in->value);
}

static void on_parse_error(void *ctx, size_t lineno, const char *line, size_t len, const char *why)
{
	reject(ctx, lineno, line, len, why, EINVAL);
}

/* Widen the head's time span by accepted samples (under cutlock, shared). */
static void head_note(struct obs_db *db, int64_t mn, int64_t mx, size_t n)
{
	if (!n)
		return;
	int64_t cur = atomic_load(&db->head_mint);
	while (mn < cur && !atomic_compare_exchange_weak(&db->head_mint, &cur, mn))
		;
	cur = atomic_load(&db->head_maxt);
	while (mx > cur && !atomic_compare_exchange_weak(&db->head_maxt, &cur, mx))
		;
	atomic_fetch_add(&db->head_samples, n);
	int64_t zero = 0;
	if (atomic_load(&db->head_since) == 0)
		atomic_compare_exchange_strong(&db->head_since, &zero, obs_time_now());
}

static void reject_sample(struct ingest_ctx *c, const struct pending *x, const char *why, int err)
{
	char line[600], tb[40], vb[40];
	obs_time_format(x->t, OBS_TIME_RFC3339, tb);
	obs_num_format(x->v, vb);
	int len = snprintf(line, sizeof line, "%.500s %s %s", x->s->canon, tb, vb);
	reject(c, 0, line, (size_t)len, why, err);
}

/* Before anything is logged: is the sample refused by the floor or the
 * out-of-order window, or a different value at the newest time? An identical
 * re-send of a stored sample is accepted whatever its age (retries are
 * idempotent). 0: to store; 1: already stored, nothing to do; -1: refused
 * (*why set). Caller holds cutlock (shared), so floors do not move. */
static int precheck(struct obs_db *db, struct series *s, int64_t t, double v, const char **why)
{
	uint64_t lastbits;
	pthread_mutex_lock(&s->mu);
	int64_t last = series_last_t(s, &lastbits);
	int late = t <= s->floor_t || (last != INT64_MIN && t < last && last - t > db->o.ooo_window_ms);
	int dup_last = !late && t == last && s->open.n;
	pthread_mutex_unlock(&s->mu);
	if (dup_last) {
		if (lastbits == obs_f64_bits(v))
			return 1;
		*why = "duplicate timestamp with a different value";
		return -1;
	}
	if (!late)
		return 0;
	struct obs_samples at;
	obs_samples_init(&at);
	int found = !read_series(db, s->id, t, t, 0, &at) && at.n && obs_f64_bits(at.v[0]) == obs_f64_bits(v);
	int other = at.n && !found;
	obs_samples_release(&at);
	if (found)
		return 1;
	if (other)
		*why = "duplicate timestamp with a different value";
	else if (t <= s->floor_t)
		*why = "sample at or before the series' compacted data";
	else
		*why = "sample older than the out-of-order window";
	return -1;
}

static void stripes_lock(struct obs_db *db, uint64_t mask)
{
	for (int i = 0; i < 64; i++)   /* ascending: no two writers wait on each other */
		if (mask >> i & 1)
			pthread_mutex_lock(&db->stripes[i]);
}

static void stripes_unlock(struct obs_db *db, uint64_t mask)
{
	for (int i = 63; i >= 0; i--)
		if (mask >> i & 1)
			pthread_mutex_unlock(&db->stripes[i]);
}

/* Log the pending batch to the WAL, then apply it to the head. Samples the
 * head would refuse are refused before the WAL sees them, so a replay (even
 * with other options) cannot bring them back. */
static int commit_pending(struct ingest_ctx *c)
{
	struct obs_db *db = c->db;
	if (!c->n)
		return 0;
	/* check, log and apply are one step per series: the stripes of every
	 * series of the batch are held from the precheck to the last apply, so
	 * two writers of one series apply in the order of their WAL records
	 * (a replay then rebuilds the same head) */
	uint64_t mask = 0;
	for (size_t i = 0; i < c->n; i++)
		mask |= 1ull << (c->p[i].s->id & 63);
	pthread_rwlock_rdlock(&db->cutlock);
	stripes_lock(db, mask);
	size_t keep = 0;
	for (size_t i = 0; i < c->n; i++) {
		const char *why = NULL;
		int v = precheck(db, c->p[i].s, c->p[i].t, c->p[i].v, &why);
		if (v == 1)
			c->r->accepted++;
		else if (v < 0)
			reject_sample(c, &c->p[i], why, EINVAL);
		else
			c->p[keep++] = c->p[i];
	}
	uint64_t resent = c->r->accepted;
	c->n = keep;
	if (!c->n) {
		stripes_unlock(db, mask);
		pthread_rwlock_unlock(&db->cutlock);
		atomic_fetch_add(&db->ingested, resent);
		return 0;
	}
	size_t room = 10 + c->n * (OBS_VARINT_MAX * 2 + 8);
	uint8_t *buf = malloc(room), *p = buf;
	if (!buf) {
		stripes_unlock(db, mask);
		pthread_rwlock_unlock(&db->cutlock);
		return -ENOMEM;
	}
	p += obs_varint_put(p, c->n);
	int64_t prev = 0;
	for (size_t i = 0; i < c->n; i++) {
		p += obs_varint_put(p, c->p[i].s->id);
		p += obs_varint_put(p, obs_zigzag((int64_t)((uint64_t)c->p[i].t - (uint64_t)prev)));
		prev = c->p[i].t;
		uint64_t b = obs_f64_bits(c->p[i].v);
		memcpy(p, &b, 8);
		p += 8;
	}
	int rc = obs_wal_append(db->wal, REC_SAMPLES, buf, (size_t)(p - buf));
	free(buf);
	if (rc) {
		stripes_unlock(db, mask);
		pthread_rwlock_unlock(&db->cutlock);
		char msg[128];
		snprintf(msg, sizeof msg, "write-ahead log write failed: %s", strerror(-rc));
		c->r->rejected += c->n;
		atomic_fetch_add(&db->rejected, c->n);
		set_err(c->r, rc == -ENOSPC || rc == -EDQUOT ? ENOSPC : EIO);
		obs_errlog_add(db->errs, c->now, c->source, 0, "", 0, msg);
		return 0;
	}
	struct series *locked = NULL;
	int64_t mn = INT64_MAX, mx = INT64_MIN;
	for (size_t i = 0; i < c->n; i++) {
		struct pending *x = &c->p[i];
		if (x->s != locked) {
			if (locked)
				pthread_mutex_unlock(&locked->mu);
			locked = x->s;
			pthread_mutex_lock(&locked->mu);
		}
		const char *why = NULL;
		int r = series_append(db, x->s, x->t, x->v, &why);
		if (r) {
			reject_sample(c, x, why ? why : strerror(-r), r == -ENOMEM ? EIO : EINVAL);
		} else {
			c->r->accepted++;
			mn = x->t < mn ? x->t : mn;
			mx = x->t > mx ? x->t : mx;
		}
	}
	if (locked)
		pthread_mutex_unlock(&locked->mu);
	head_note(db, mn, mx, (size_t)(c->r->accepted - resent));
	stripes_unlock(db, mask);
	pthread_rwlock_unlock(&db->cutlock);
	atomic_fetch_add(&db->ingested, c->r->accepted);
	return 0;
}

static void ctx_init(struct ingest_ctx *c, struct obs_db *db, const char *source, struct obs_ingest_result *r)
{
	memset(c, 0, sizeof *c);
	c->db = db;
	c->source = source;
	c->r = r;
	c->now = obs_time_now();
	obs_buf_init(&c->akey);
	memset(r, 0, sizeof *r);
}

static void ctx_release(struct ingest_ctx *c)
{
	free(c->p);
	obs_buf_release(&c->akey);
}

int obs_db_ingest(struct obs_db *db, const char *buf, size_t n, enum obs_fmt fmt,
		  const char *source, size_t first_lineno, struct obs_ingest_result *r)
{
	struct ingest_ctx c;
	ctx_init(&c, db, source, r);
	struct obs_parse_cb cb = { .sample = on_sample, .error = on_parse_error, .ctx = &c };
	long prc = obs_parse_lines(buf, n, fmt, first_lineno ? first_lineno : 1, &cb);
	int rc = prc < 0 ? (int)prc : commit_pending(&c);
	ctx_release(&c);
	return rc;
}

int obs_db_ingest_values(struct obs_db *db, uint32_t id, const char *buf, size_t n,
			 const char *source, size_t first_lineno, struct obs_ingest_result *r)
{
	struct ingest_ctx c;
	ctx_init(&c, db, source, r);
	struct series *s = series_get(db, id);
	if (!s) {
		ctx_release(&c);
		return -ENOENT;
	}
	const char *p = buf, *end = buf + n;
	size_t lineno = first_lineno ? first_lineno - 1 : 0;
	int rc = 0;
	while (p < end && !rc) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		lineno++;
		const char *a = p, *b = le;
		while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		if (a < b && *a != '#') {
			int64_t t;
			double v;
			const char *why = NULL;
			if (obs_parse_value_line(a, (size_t)(b - a), &t, &v, &why))
				reject(&c, lineno, p, (size_t)(le - p), why ? why : "invalid line", EINVAL);
			else if (t == OBS_TS_NONE && untimed_time(&c, s, &t))
				/* untimed lines are successive samples, 1 ms apart at
				 * least, after everything the series holds (echo 1 >> f;
				 * echo 2 >> f from two shells included) */
				reject(&c, lineno, p, (size_t)(le - p),
				       "no time left after the series' newest sample", EINVAL);
			else
				rc = pending_push(&c, s, t, v);
		}
		p = nl ? nl + 1 : end;
	}
	if (!rc)
		rc = commit_pending(&c);
	ctx_release(&c);
	return rc;
}

/* ---- carries: partial last lines of open files --------------------------- */

struct carry {
	uint32_t series;
	char *source;
	char *data;
	size_t len;
};

static void carry_free(struct carry *c)
{
	if (!c)
		return;
	free(c->source);
	free(c->data);
	free(c);
}

static int carry_free_cb(void *ctx, const char *key, size_t n, void *val)
{
	carry_free(val);
	return 0;
}

static int carry_log(struct obs_db *db, uint64_t handle, uint32_t series, const char *source,
		     const char *p, size_t n)
{
	size_t sl = strlen(source);
	if (sl > 1024)
		sl = 1024;
	uint8_t hdr[14 + 1024];
	obs_put_le64(hdr, handle);
	obs_put_le32(hdr + 8, series);
	obs_put_le16(hdr + 12, (uint16_t)sl);
	memcpy(hdr + 14, source, sl);
	return obs_wal_append2(db->wal, REC_CARRY, hdr, 14 + sl, p, n);
}

/* Set (n > 0) or clear the carry of handle in memory. Caller holds carry_mu
 * (or is the replay, alone). */
static int carry_put(struct obs_db *db, uint64_t handle, uint32_t series, const char *source, size_t sl,
		     const char *p, size_t n)
{
	uint64_t h = obs_strmap_hash(&handle, 8);
	carry_free(obs_strmap_del(db->carries, h, &handle, 8));
	if (!n)
		return 0;
	struct carry *c = calloc(1, sizeof *c);
	if (!c || !(c->source = strndup(source, sl)) || !(c->data = malloc(n))) {
		carry_free(c);
		return -ENOMEM;
	}
	memcpy(c->data, p, n);
	c->len = n;
	c->series = series;
	if (obs_strmap_put(db->carries, h, &handle, 8, c)) {
		carry_free(c);
		return -ENOMEM;
	}
	return 0;
}

int obs_db_carry(struct obs_db *db, uint64_t handle, uint32_t series, const char *source,
		 const char *p, size_t n)
{
	pthread_mutex_lock(&db->carry_mu);
	int rc = carry_log(db, handle, series, source, p, n);
	if (!rc)
		rc = carry_put(db, handle, series, source, strlen(source), p, n);
	pthread_mutex_unlock(&db->carry_mu);
	return rc;
}

static int carry_relog_one(void *ctx, const char *key, size_t n, void *val)
{
	struct obs_db *db = ctx;
	struct carry *c = val;
	uint64_t handle;
	memcpy(&handle, key, 8);
	return carry_log(db, handle, c->series, c->source, c->data, c->len);
}

/* After a WAL cut: log the pending carries again so a checkpoint keeps them. */
static int carries_relog(struct obs_db *db)
{
	pthread_mutex_lock(&db->carry_mu);
	int rc = obs_strmap_each(db->carries, carry_relog_one, db);
	pthread_mutex_unlock(&db->carry_mu);
	return rc;
}

struct carry_ref {
	uint64_t handle;
	struct carry *c;
};

static int carry_collect(void *ctx, const char *key, size_t n, void *val)
{
	struct carry_ref r;
	memcpy(&r.handle, key, 8);
	r.c = val;
	return obs_buf_append(ctx, &r, sizeof r);
}

/* At open, after the replay: the writers of the carries left are gone (the
 * daemon died under them), so their last lines are complete, as at close. */
static void carries_recover(struct obs_db *db)
{
	struct obs_buf refs, text, src;
	obs_buf_init(&refs);
	obs_buf_init(&text);
	obs_buf_init(&src);
	pthread_mutex_lock(&db->carry_mu);
	obs_strmap_each(db->carries, carry_collect, &refs);
	pthread_mutex_unlock(&db->carry_mu);
	for (size_t i = 0; i + sizeof(struct carry_ref) <= refs.len; i += sizeof(struct carry_ref)) {
		struct carry_ref r;
		memcpy(&r, refs.data + i, sizeof r);
		obs_buf_reset(&text);
		obs_buf_reset(&src);
		obs_buf_append(&text, r.c->data, r.c->len);
		obs_buf_putc(&text, '\n');
		obs_buf_printf(&src, "%s (line ended by a restart)", r.c->source);
		uint32_t series = r.c->series;
		struct obs_ingest_result res;
		if (series == UINT32_MAX)
			obs_db_ingest(db, text.data, text.len, OBS_FMT_AUTO, src.data, 0, &res);
		else
			obs_db_ingest_values(db, series, text.data, text.len, src.data, 0, &res);
		obs_db_carry(db, r.handle, series, "", NULL, 0);   /* logs the clear, frees r.c */
	}
	obs_buf_release(&refs);
	obs_buf_release(&text);
	obs_buf_release(&src);
}

/* ---- replay ---------------------------------------------------------- */

/* With -o wal_recover, what a replay could not apply is skipped and
 * counted; without it, it is corruption (-EBADMSG). */
static int replay_skip(struct obs_db *db, uint64_t *counter, uint64_t k)
{
	if (!db->o.wal_recover)
		return -EBADMSG;
	*counter += k;
	return 0;
}

static int replay_apply(struct obs_db *db, struct series *s, int64_t t, uint64_t bits)
{
	const char *why;
	if (t <= atomic_load(&s->floor_t))
		return 0;   /* already in a block (WAL not yet truncated at the crash) */
	pthread_mutex_lock(&s->mu);
	int rc = series_append(db, s, t, obs_bits_f64(bits), &why);
	pthread_mutex_unlock(&s->mu);
	if (rc == -ENOMEM)
		return rc;
	if (!rc) {
		db->replayed++;
		head_note(db, t, t, 1);
	}
	return 0;
}

/* A series is known now: apply, in their order, the samples of it that the
 * replay met before its record (a series that lost its last block to
 * retention is logged again after samples of it). */
static int replay_undefer(struct obs_db *db, struct series *s)
{
	if (!db->deferred_ids || !roaring_bitmap_contains(db->deferred_ids, s->id))
		return 0;
	roaring_bitmap_remove(db->deferred_ids, s->id);
	size_t keep = 0;
	int rc = 0;
	for (size_t i = 0; i < db->ndeferred; i++) {
		struct deferred d = db->deferred[i];
		if (d.id == s->id) {
			if (!rc)
				rc = replay_apply(db, s, d.t, d.bits);
		} else {
			db->deferred[keep++] = d;
		}
	}
	db->ndeferred = keep;
	return rc;
}

static int replay_defer(struct obs_db *db, uint32_t id, int64_t t, uint64_t bits)
{
	if (!db->deferred_ids && !(db->deferred_ids = roaring_bitmap_create()))
		return -ENOMEM;
	if (OBS_VEC_RESERVE_FROM(db->deferred, db->capdeferred, db->ndeferred + 1, 256))
		return -ENOMEM;
	db->deferred[db->ndeferred++] = (struct deferred){ id, t, bits };
	roaring_bitmap_add(db->deferred_ids, id);
	return 0;
}

/* After the replay: samples whose series no record named. */
static int replay_finish(struct obs_db *db)
{
	size_t left = db->ndeferred;
	free(db->deferred);
	db->deferred = NULL;
	db->ndeferred = db->capdeferred = 0;
	if (db->deferred_ids)
		roaring_bitmap_free(db->deferred_ids);
	db->deferred_ids = NULL;
	return left ? replay_skip(db, &db->skipped_samples, left) : 0;
}

static int replay_series(struct obs_db *db, uint32_t id, const char *text, size_t len)
{
	struct obs_labels l;
	const char *why;
	if (obs_labels_parse(text, len, &l, &why))
		return replay_skip(db, &db->skipped_records, 1);
	struct obs_buf canon;
	obs_buf_init(&canon);
	int rc = obs_labels_format(&l, &canon);
	if (!rc) {
		uint64_t h = obs_strmap_hash(canon.data, canon.len);
		struct series *s;
		struct series *known = series_get(db, id);
		if (known && known->canonlen == canon.len && !memcmp(known->canon, canon.data, canon.len))
			rc = 0;   /* registered from a block already, or logged again */
		else if (known || obs_strmap_get(db->byname, h, canon.data, canon.len))
			rc = replay_skip(db, &db->skipped_records, 1);   /* id or text taken */
		else if ((rc = series_insert(db, id, canon.data, canon.len, &l, h, &s)) == 0)
			rc = replay_undefer(db, s);
	}
	obs_buf_release(&canon);
	obs_labels_release(&l);
	return rc;
}

static int replay_samples(struct obs_db *db, const uint8_t *p, size_t n)
{
	size_t pos = 0;
	uint64_t cnt;
	if (obs_varint_get(p, n, &pos, &cnt))
		return replay_skip(db, &db->skipped_records, 1);
	int64_t prev = 0;
	for (uint64_t i = 0; i < cnt; i++) {
		uint64_t id, zz, bits;
		if (obs_varint_get(p, n, &pos, &id) || obs_varint_get(p, n, &pos, &zz) || n - pos < 8)
			return replay_skip(db, &db->skipped_records, 1);   /* the rest of the record */
		memcpy(&bits, p + pos, 8);
		pos += 8;
		int64_t t = (int64_t)((uint64_t)prev + (uint64_t)obs_unzigzag(zz));
		prev = t;
		struct series *s = id <= UINT32_MAX ? series_get(db, (uint32_t)id) : NULL;
		int rc;
		if (!s)   /* its record may follow; at the end it is an unknown id */
			rc = id < MAX_PAGES * PAGE_SIZE_IDS ? replay_defer(db, (uint32_t)id, t, bits)
							    : replay_skip(db, &db->skipped_samples, 1);
		else
			rc = replay_apply(db, s, t, bits);
		if (rc)
			return rc;
	}
	return 0;
}

static int replay_record(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	struct obs_db *db = ctx;
	switch (type) {
	case REC_SERIES:
		if (n < 4)
			return replay_skip(db, &db->skipped_records, 1);
		return replay_series(db, obs_get_le32(p), (const char *)p + 4, n - 4);
	case REC_SERIESV:
		for (size_t pos = 0; pos < n;) {
			uint32_t len = n - pos >= 8 ? obs_get_le32(p + pos + 4) : 0;
			if (n - pos < 8 || len > n - pos - 8)
				return replay_skip(db, &db->skipped_records, 1);
			int rc = replay_series(db, obs_get_le32(p + pos), (const char *)p + pos + 8, len);
			if (rc)
				return rc;
			pos += 8 + len;
		}
		return 0;
	case REC_SAMPLES:
		return replay_samples(db, p, n);
	case REC_CARRY: {
		if (n < 14)
			return replay_skip(db, &db->skipped_records, 1);
		uint64_t handle = obs_get_le64(p);
		uint32_t series = obs_get_le32(p + 8);
		size_t sl = obs_get_le16(p + 12);
		if (n < 14 + sl || (series != UINT32_MAX && !series_get(db, series)))
			return replay_skip(db, &db->skipped_records, 1);
		return carry_put(db, handle, series, (const char *)p + 14, sl, (const char *)p + 14 + sl,
				 n - 14 - sl);
	}
	default:
		return 0;   /* unknown record types are skipped (written by newer versions) */
	}
}

/* ---- blocks: loading, compaction, retention -------------------------------
 *
 * Compaction freezes the whole head under cutlock (exclusive, so no batch is
 * half applied), cutting the WAL at the same instant: every record before the
 * cut is in the frozen set, every record after it is not. The frozen chunks
 * stay readable while the block is written; once the block is durable and
 * registered they are dropped and the WAL segments before the cut removed.
 * Each series' floor_t becomes its last compacted sample: older samples are
 * refused from then on, which is also what makes a replay of WAL segments
 * that a crash left behind idempotent (samples <= floor_t are skipped). */

/* Is id one of the comma-separated ids of list? */
static int id_in_list(const char *list, const char *id)
{
	size_t n = strlen(id);
	for (const char *p = list; *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (len == n && !memcmp(p, id, n))
			return 1;
		p = c ? c + 1 : p + len;
	}
	return 0;
}

static int block_cmp(const void *a, const void *b)
{
	struct obs_block_meta ma, mb;
	obs_block_get_meta(*(struct obs_block *const *)a, &ma);
	obs_block_get_meta(*(struct obs_block *const *)b, &mb);
	if (ma.mint != mb.mint)
		return ma.mint < mb.mint ? -1 : 1;
	return strcmp(obs_block_id(*(struct obs_block *const *)a), obs_block_id(*(struct obs_block *const *)b));
}

/* Register the series of a block and raise floors. */
static int block_register(struct obs_db *db, struct obs_block *b)
{
	uint32_t n = obs_block_series_count(b);
	int rc = 0;
	for (uint32_t i = 0; i < n && !rc; i++) {
		uint32_t id;
		const char *canon;
		size_t len;
		rc = obs_block_series(b, i, &id, &canon, &len);
		if (rc)
			break;
		struct series *s = series_get(db, id);
		if (!s) {
			struct obs_labels l;
			const char *why;
			if (obs_labels_parse(canon, len, &l, &why)) {
				rc = -EBADMSG;
				break;
			}
			pthread_rwlock_wrlock(&db->maplock);
			rc = series_insert(db, id, canon, len, &l, obs_strmap_hash(canon, len), &s);
			pthread_rwlock_unlock(&db->maplock);
			obs_labels_release(&l);
			if (rc)
				break;
		} else if (s->canonlen != len || memcmp(s->canon, canon, len)) {
			rc = -EBADMSG;
			break;
		}
		int64_t mint, maxt;
		rc = obs_block_series_range(b, i, &mint, &maxt);
		pthread_mutex_lock(&s->mu);
		s->in_block = 1;
		if (!rc && maxt > s->floor_t)
			s->floor_t = maxt;
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

/* Open every block of DATADIR/blocks: remove temporaries a crash left, and
 * blocks whose span lies inside a block of a higher level (the inputs of a
 * merge that committed before they were deleted). */
static int blocks_load(struct obs_db *db, char *err, size_t errlen)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/blocks", db->dir);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
		return -errno;
	}
	obs_block_gc_tmp(dir);
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "cannot open '%s': %s", dir, strerror(errno));
		return -errno;
	}
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) && !rc) {
		char path[4600];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.')
			continue;   /* unfinished blocks, removed below */
		struct obs_block *b;
		rc = obs_block_open(path, &b);
		if (rc) {
			snprintf(err, errlen, "cannot open block '%s': %s", path, strerror(-rc));
			break;
		}
		struct obs_block **nb = realloc(db->blocks, (db->nblocks + 1) * sizeof *nb);
		if (!nb) {
			obs_block_close(b);
			rc = -ENOMEM;
			break;
		}
		db->blocks = nb;
		db->blocks[db->nblocks++] = b;
	}
	closedir(d);
	if (rc)
		return rc;
	/* drop merge inputs left behind by a crash after the merge committed */
	for (size_t i = 0; i < db->nblocks; i++) {
		const char *parents = obs_block_parents(db->blocks[i]);
		for (size_t j = 0; j < db->nblocks; j++) {
			if (i == j || !id_in_list(parents, obs_block_id(db->blocks[j])))
				continue;
			char path[4600];
			snprintf(path, sizeof path, "%s", obs_block_dir(db->blocks[j]));
			obs_block_close(db->blocks[j]);
			obs_rm_tree(path);
			db->blocks[j] = db->blocks[--db->nblocks];
			if (i == db->nblocks)
				i = j;   /* the block being scanned moved into slot j */
			j = (size_t)-1;   /* rescan: slots changed */
		}
	}
	if (db->nblocks)
		qsort(db->blocks, db->nblocks, sizeof *db->blocks, block_cmp);
	for (size_t i = 0; i < db->nblocks && !rc; i++) {
		rc = block_register(db, db->blocks[i]);
		if (rc)
			snprintf(err, errlen, "block '%s': %s", obs_block_id(db->blocks[i]), strerror(-rc));
	}
	return rc;
}

static int block_add(struct obs_db *db, const char *id, struct obs_block **out)
{
	char path[4600];
	snprintf(path, sizeof path, "%s/blocks/%s", db->dir, id);
	struct obs_block *b;
	int rc = obs_block_open(path, &b);
	if (rc)
		return rc;
	struct obs_block **nb = realloc(db->blocks, (db->nblocks + 1) * sizeof *nb);
	if (!nb) {
		obs_block_close(b);
		return -ENOMEM;
	}
	db->blocks = nb;
	db->blocks[db->nblocks++] = b;
	*out = b;
	return 0;
}

/* Decode chunks into arrays appended to out. */
static int chunks_decode(const struct chunk *c, uint32_t n, struct obs_samples *out)
{
	for (uint32_t i = 0; i < n; i++) {
		int rc = push_range(c[i].data, c[i].len, c[i].n, INT64_MIN, INT64_MAX, out);
		if (rc)
			return rc;
	}
	return 0;
}

/* Merge every block of one level into one block of the next level when
 * there are at least OBS_MERGE_FANIN of them. Caller holds compact_mu.
 * A failure at any step (writing the merged block, opening it, its rollups)
 * removes what the merge wrote and leaves the inputs registered. */
#define OBS_MERGE_FANIN 4
#define OBS_MAX_LEVEL 3
static int blocks_merge(struct obs_db *db)
{
	for (int level = 1; level < OBS_MAX_LEVEL; level++) {
		pthread_rwlock_rdlock(&db->blocks_lock);
		size_t cnt = 0;
		struct obs_block *in[64];
		for (size_t i = 0; i < db->nblocks && cnt < 64; i++) {
			struct obs_block_meta m;
			obs_block_get_meta(db->blocks[i], &m);
			if (m.level == level)
				in[cnt++] = db->blocks[i];
		}
		pthread_rwlock_unlock(&db->blocks_lock);
		if (cnt < OBS_MERGE_FANIN)
			continue;
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/blocks", db->dir);
		struct obs_block_writer *w;
		int rc = obs_block_writer_new(dir, level + 1, &w);
		if (rc)
			return rc;
		struct obs_samples smp;
		obs_samples_init(&smp);
		uint32_t nseries = atomic_load(&db->nseries);
		for (uint32_t id = 0; id < nseries && !rc; id++) {
			obs_samples_reset(&smp);
			for (size_t k = 0; k < cnt && !rc; k++) {
				uint32_t li;
				if (!obs_block_find(in[k], id, &li))
					rc = obs_block_read(in[k], li, INT64_MIN, INT64_MAX, &smp);
			}
			if (rc || !smp.n)
				continue;
			sort_samples(&smp, 0);
			struct series *s = series_get(db, id);
			rc = obs_block_writer_add(w, id, s->canon, s->canonlen, smp.t, smp.v, smp.n);
		}
		obs_samples_release(&smp);
		char newid[128];
		struct obs_buf parents;
		obs_buf_init(&parents);
		for (size_t k = 0; k < cnt && !rc; k++)
			rc = obs_buf_printf(&parents, "%s%s", k ? "," : "", obs_block_id(in[k]));
		if (!rc)
			rc = obs_block_writer_set_parents(w, parents.data);
		obs_buf_release(&parents);
		if (rc) {
			obs_block_writer_abort(w);
			return rc;
		}
		rc = obs_block_writer_commit(w, newid);   /* on failure it wrote nothing */
		if (rc)
			return rc;
		char path[4600];
		snprintf(path, sizeof path, "%s/%s", dir, newid);
		struct obs_block *nb = NULL;
		rc = obs_fault("merge.register");
		if (!rc)
			rc = obs_block_open(path, &nb);
		/* swap: the merged block in, the inputs out (kept open until its
		 * rollups exist, so that a failure can put them back) */
		pthread_rwlock_wrlock(&db->blocks_lock);
		struct obs_block **arr = NULL;
		if (!rc && !(arr = realloc(db->blocks, (db->nblocks + 1) * sizeof *arr)))
			rc = -ENOMEM;
		if (!rc) {
			db->blocks = arr;
			db->blocks[db->nblocks++] = nb;
			for (size_t k = 0; k < cnt; k++)
				for (size_t i = 0; i < db->nblocks; i++)
					if (db->blocks[i] == in[k]) {
						memmove(&db->blocks[i], &db->blocks[i + 1], (db->nblocks - i - 1) * sizeof *db->blocks);
						db->nblocks--;
						break;
					}
			qsort(db->blocks, db->nblocks, sizeof *db->blocks, block_cmp);
		}
		pthread_rwlock_unlock(&db->blocks_lock);
		int swapped = !rc;
		if (!rc)
			rc = obs_tiers_build(db->tiers, nb, level + 1);
		if (rc) {
			if (swapped) {
				/* back to the inputs: the array holds room for them */
				pthread_rwlock_wrlock(&db->blocks_lock);
				for (size_t i = 0; i < db->nblocks; i++)
					if (db->blocks[i] == nb) {
						db->blocks[i] = db->blocks[--db->nblocks];
						break;
					}
				for (size_t k = 0; k < cnt; k++)
					db->blocks[db->nblocks++] = in[k];
				qsort(db->blocks, db->nblocks, sizeof *db->blocks, block_cmp);
				pthread_rwlock_unlock(&db->blocks_lock);
			}
			obs_block_close(nb);
			obs_rm_tree(path);
			obs_fsync_dir(dir);
			return rc;
		}
		for (size_t k = 0; k < cnt; k++) {
			char ipath[4600];
			snprintf(ipath, sizeof ipath, "%s", obs_block_dir(in[k]));
			obs_tiers_drop(db->tiers, obs_block_id(in[k]));
			obs_block_close(in[k]);
			obs_rm_tree(ipath);
		}
	}
	return 0;
}

/* Head statistics saved by a freeze, given back when the compaction fails. */
struct head_save {
	int64_t mint, maxt, since;
	uint64_t samples;
};

/* Move the chunks of s into its frozen set (after any frozen chunks a
 * failed compaction could not give back). Caller holds cutlock exclusive
 * and s->mu. */
static int series_freeze(struct series *s)
{
	if (s->open.n) {
		int rc = series_cut(s);
		if (rc)
			return rc;
	}
	if (!s->nclosed)
		return 0;
	if (!s->nfrozen) {
		s->frozen = s->closed;
		s->nfrozen = s->nclosed;
		s->capfrozen = s->capclosed;
		s->floor_prev = atomic_load(&s->floor_t);
	} else {
		if (s->nfrozen + s->nclosed > s->capfrozen) {
			struct chunk *c = realloc(s->frozen, (s->nfrozen + s->nclosed) * sizeof *c);
			if (!c)
				return -ENOMEM;
			s->frozen = c;
			s->capfrozen = s->nfrozen + s->nclosed;
		}
		memcpy(s->frozen + s->nfrozen, s->closed, s->nclosed * sizeof *s->closed);
		s->nfrozen += s->nclosed;
		free(s->closed);
	}
	s->closed = NULL;
	s->nclosed = s->capclosed = 0;
	atomic_store(&s->floor_t, s->frozen[s->nfrozen - 1].tmax);
	return 0;
}

/* A compaction failed before its block was registered: give the frozen
 * chunks back to the head, in front of the chunks that arrived since (those
 * are all newer: the raised floor refused older samples), and restore the
 * floor. Caller holds cutlock exclusive and s->mu. If memory is short the
 * frozen set stays (readable, in the WAL, and taken by the next freeze). */
static void series_unfreeze(struct series *s)
{
	if (!s->nfrozen)
		return;
	if (s->nclosed) {
		if (s->nfrozen + s->nclosed > s->capfrozen) {
			struct chunk *c = realloc(s->frozen, (s->nfrozen + s->nclosed) * sizeof *c);
			if (!c)
				return;
			s->frozen = c;
			s->capfrozen = s->nfrozen + s->nclosed;
		}
		memcpy(s->frozen + s->nfrozen, s->closed, s->nclosed * sizeof *s->closed);
		s->nfrozen += s->nclosed;
		free(s->closed);
	}
	s->closed = s->frozen;
	s->nclosed = s->nfrozen;
	s->capclosed = s->capfrozen;
	s->frozen = NULL;
	s->nfrozen = s->capfrozen = 0;
	atomic_store(&s->floor_t, s->floor_prev);
}

static void min_into(_Atomic int64_t *a, int64_t v)
{
	int64_t cur = atomic_load(a);
	while (v < cur && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

static void max_into(_Atomic int64_t *a, int64_t v)
{
	int64_t cur = atomic_load(a);
	while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

/* Undo the freeze of series [0, n): the head is as it was, plus what
 * arrived meanwhile. */
static void head_unfreeze(struct obs_db *db, uint32_t n, const struct head_save *hs)
{
	pthread_rwlock_wrlock(&db->cutlock);
	for (uint32_t i = 0; i < n; i++) {
		struct series *s = series_get(db, i);
		if (!s)
			continue;
		pthread_mutex_lock(&s->mu);
		series_unfreeze(s);
		pthread_mutex_unlock(&s->mu);
	}
	min_into(&db->head_mint, hs->mint);
	max_into(&db->head_maxt, hs->maxt);
	atomic_fetch_add(&db->head_samples, hs->samples);
	if (hs->since && (atomic_load(&db->head_since) == 0 || hs->since < atomic_load(&db->head_since)))
		atomic_store(&db->head_since, hs->since);
	pthread_rwlock_unlock(&db->cutlock);
}

/* Log the SERIES record of a series again (after a WAL cut, or when it lost
 * its last block), so that a replay knows it. */
static int series_relog(struct obs_db *db, const struct series *s)
{
	uint32_t i = s->id;
	uint8_t hdr[4];
	obs_put_le32(hdr, i);
	return obs_wal_append2(db->wal, REC_SERIES, hdr, 4, s->canon, s->canonlen);
}

/* After a cut (caller holds cutlock exclusive): one SERIESV record per
 * few MiB naming every series of [0, n) that no block holds and that has no
 * frozen samples (those go into the block being written). */
static int series_relog_after_cut(struct obs_db *db, uint32_t n)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = 0;
	for (uint32_t i = 0; i < n && !rc; i++) {
		struct series *s = series_get(db, i);
		if (!s || atomic_load(&s->in_block) || s->nfrozen)
			continue;
		uint8_t hdr[8];
		for (int k = 0; k < 4; k++) {
			hdr[k] = (uint8_t)(i >> (8 * k));
			hdr[4 + k] = (uint8_t)(s->canonlen >> (8 * k));
		}
		if (obs_buf_append(&b, hdr, 8) || obs_buf_append(&b, s->canon, s->canonlen))
			rc = -ENOMEM;
		if (!rc && b.len >= (4u << 20)) {
			rc = obs_wal_append(db->wal, REC_SERIESV, b.data, b.len);
			obs_buf_reset(&b);
		}
	}
	if (!rc && b.len)
		rc = obs_wal_append(db->wal, REC_SERIESV, b.data, b.len);
	obs_buf_release(&b);
	return rc;
}

int obs_db_compact(struct obs_db *db)
{
	pthread_mutex_lock(&db->compact_mu);
	int64_t t0 = obs_time_now();
	uint64_t segno = 0;
	uint32_t n = 0;
	struct head_save hs;

	/* 1. freeze the head and cut the WAL at one instant; the series count is
	 * taken under the same lock, so every series whose SERIES record is
	 * before the cut is below n (series_resolve logs under cutlock) */
	pthread_rwlock_wrlock(&db->cutlock);
	n = atomic_load(&db->nseries);
	hs.mint = atomic_load(&db->head_mint);
	hs.maxt = atomic_load(&db->head_maxt);
	hs.samples = atomic_load(&db->head_samples);
	hs.since = atomic_load(&db->head_since);
	int rc = obs_fault("compact.cut");
	if (!rc)
		rc = obs_wal_cut(db->wal, &segno);
	size_t frozen_series = 0;
	for (uint32_t i = 0; i < n && !rc; i++) {
		struct series *s = series_get(db, i);
		if (!s)
			continue;
		rc = obs_fault("compact.freeze");
		if (rc)
			break;
		pthread_mutex_lock(&s->mu);
		rc = series_freeze(s);
		if (s->nfrozen)
			frozen_series++;
		pthread_mutex_unlock(&s->mu);
	}
	/* series in no block and not in this one, and pending carries, are
	 * logged again right after the cut, before any sample that follows it
	 * (a replay must meet a SERIES record before the samples of its id) */
	if (!rc)
		rc = obs_fault("compact.relog");
	if (!rc)
		rc = series_relog_after_cut(db, n);
	if (!rc)
		rc = carries_relog(db);
	if (!rc) {
		atomic_store(&db->head_mint, INT64_MAX);
		atomic_store(&db->head_maxt, INT64_MIN);
		atomic_store(&db->head_samples, 0);
		atomic_store(&db->head_since, 0);
	}
	pthread_rwlock_unlock(&db->cutlock);
	if (rc) {
		head_unfreeze(db, n, &(struct head_save){ INT64_MAX, INT64_MIN, 0, 0 });
		goto out;
	}

	/* 2. write the block from the frozen chunks (no lock needed to read
	 * them: only this function changes a frozen set, under compact_mu) */
	char newid[128] = "";
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/blocks", db->dir);
	if (frozen_series) {
		struct obs_block_writer *w = NULL;
		rc = obs_block_writer_new(dir, 1, &w);
		struct obs_samples smp;
		obs_samples_init(&smp);
		for (uint32_t i = 0; i < n && !rc; i++) {
			struct series *s = series_get(db, i);
			if (!s || !s->nfrozen)
				continue;
			obs_samples_reset(&smp);
			rc = chunks_decode(s->frozen, s->nfrozen, &smp);
			if (!rc)
				rc = obs_block_writer_add(w, s->id, s->canon, s->canonlen, smp.t, smp.v, smp.n);
		}
		obs_samples_release(&smp);
		if (rc && w)
			obs_block_writer_abort(w);
		else if (!rc)
			rc = obs_block_writer_commit(w, newid);   /* on failure it wrote nothing */
		if (rc) {
			head_unfreeze(db, n, &hs);   /* the WAL before the cut still holds it all */
			goto out;
		}
	}

	/* 3. register the block and drop the frozen sets in one step for readers */
	pthread_rwlock_wrlock(&db->blocks_lock);
	if (newid[0]) {
		struct obs_block *b;
		rc = obs_fault("compact.register");
		if (!rc)
			rc = block_add(db, newid, &b);
		if (!rc)
			qsort(db->blocks, db->nblocks, sizeof *db->blocks, block_cmp);
	}
	for (uint32_t i = 0; i < n && !rc; i++) {
		struct series *s = series_get(db, i);
		if (!s || !s->nfrozen)
			continue;
		pthread_mutex_lock(&s->mu);
		uint64_t cnt = 0;
		for (uint32_t k = 0; k < s->nfrozen; k++) {
			cnt += s->frozen[k].n;
			free(s->frozen[k].data);
		}
		free(s->frozen);
		s->frozen = NULL;
		s->nfrozen = s->capfrozen = 0;
		s->nsamples -= cnt;
		atomic_store(&s->in_block, 1);
		pthread_mutex_unlock(&s->mu);
	}
	pthread_rwlock_unlock(&db->blocks_lock);
	if (rc) {
		/* not registered: take the block back, or a restart would load
		 * samples the head also holds */
		char path[4600];
		snprintf(path, sizeof path, "%s/%s", dir, newid);
		obs_rm_tree(path);
		obs_fsync_dir(dir);
		head_unfreeze(db, n, &hs);
		goto out;
	}

	/* 4. make the records after the cut durable, then drop old segments.
	 * From here on the samples are in a registered block; a failure only
	 * keeps the old segments (a replay skips what the block holds) until
	 * the next compaction removes them. */
	rc = obs_fault("compact.sync");
	if (!rc)
		rc = obs_wal_sync(db->wal);
	if (!rc)
		rc = obs_fault("compact.remove");
	if (!rc)
		rc = obs_wal_remove_before(db->wal, segno);
	if (!rc)
		rc = blocks_merge(db);
	atomic_fetch_add(&db->compactions, 1);
	pthread_mutex_unlock(&db->compact_mu);
	if (!rc) {
		int r = obs_db_retain(db, obs_time_now());
		rc = r < 0 ? r : 0;
	}
	pthread_mutex_lock(&db->compact_mu);
	int64_t now = obs_time_now();
	atomic_store(&db->last_compact_ms, now);
	atomic_store(&db->last_compact_dur_ms, now - t0);
out:
	pthread_mutex_unlock(&db->compact_mu);
	return rc;
}

int obs_db_retain(struct obs_db *db, int64_t now_ms)
{
	int64_t cutoff = db->o.retention_ms > 0 ? now_ms - db->o.retention_ms : INT64_MIN;
	pthread_mutex_lock(&db->compact_mu);
	char paths[64][4600];
	size_t np = 0;
	roaring_bitmap_t *orphans = roaring_bitmap_create();
	if (!orphans) {
		pthread_mutex_unlock(&db->compact_mu);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(&db->blocks_lock);
	for (size_t i = 0; i < db->nblocks && np < 64;) {
		struct obs_block_meta m;
		obs_block_get_meta(db->blocks[i], &m);
		if (m.maxt >= cutoff) {
			i++;
			continue;
		}
		snprintf(paths[np++], sizeof paths[0], "%s", obs_block_dir(db->blocks[i]));
		/* the series lose history: cached text sizes are stale */
		for (uint32_t k = 0, ns = obs_block_series_count(db->blocks[i]); k < ns; k++) {
			uint32_t id;
			const char *canon;
			size_t len;
			struct series *s;
			if (obs_block_series(db->blocks[i], k, &id, &canon, &len) || !(s = series_get(db, id)))
				continue;
			pthread_mutex_lock(&s->mu);
			s->gen++;
			pthread_mutex_unlock(&s->mu);
			roaring_bitmap_add(orphans, id);
		}
		obs_block_close(db->blocks[i]);
		memmove(&db->blocks[i], &db->blocks[i + 1], (db->nblocks - i - 1) * sizeof *db->blocks);
		db->nblocks--;
	}
	/* series left in no block are logged to the WAL again before the block
	 * files go, or a restart would meet their later samples (and rollups)
	 * without knowing them */
	int rc = 0;
	roaring_uint32_iterator_t *it = roaring_create_iterator(orphans);
	for (; it && it->has_value; roaring_advance_uint32_iterator(it)) {
		uint32_t id = it->current_value, li;
		size_t b = 0;
		while (b < db->nblocks && obs_block_find(db->blocks[b], id, &li))
			b++;
		struct series *s = series_get(db, id);
		if (b == db->nblocks && s) {
			int r = db->wal ? series_relog(db, s) : 0;
			if (r && !rc)
				rc = r;
			pthread_mutex_lock(&s->mu);
			atomic_store(&s->in_block, 0);
			pthread_mutex_unlock(&s->mu);
		}
	}
	if (it)
		roaring_free_uint32_iterator(it);
	roaring_bitmap_free(orphans);
	pthread_rwlock_unlock(&db->blocks_lock);
	/* when a record could not be logged, the files stay: a restart loads
	 * them again (and retention drops them again) */
	for (size_t k = 0; k < np && !rc; k++)
		obs_rm_tree(paths[k]);
	atomic_fetch_add(&db->retired, np);
	obs_tiers_retain(db->tiers, now_ms, db->o.tier_retention_ms);
	pthread_mutex_unlock(&db->compact_mu);
	return rc ? rc : (int)np;
}

/* Background: compact when the head spans block_span or holds too many
 * samples; apply retention. Errors are kept for the next try (the head and
 * the WAL stay intact when a compaction fails). */
static void *compactor_main(void *arg)
{
	struct obs_db *db = arg;
	pthread_mutex_lock(&db->stop_mu);
	while (!db->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = ts.tv_nsec + (db->o.check_interval_ms % 1000) * 1000000;
		ts.tv_sec += db->o.check_interval_ms / 1000 + ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&db->stop_cv, &db->stop_mu, &ts);
		if (db->stopping)
			break;
		pthread_mutex_unlock(&db->stop_mu);
		/* by the head's age on the wall clock, so that one backfilled
		 * old (or future) sample does not cut a block at once */
		int64_t since = atomic_load(&db->head_since);
		uint64_t n = atomic_load(&db->head_samples);
		if ((db->o.block_span_ms > 0 && since && obs_time_now() - since >= db->o.block_span_ms) ||
		    (db->o.head_max_samples && n >= db->o.head_max_samples)) {
			int rc = obs_db_compact(db);
			if (rc) {
				char msg[160];
				snprintf(msg, sizeof msg, "compaction failed (the head and the write-ahead log are kept; retrying): %s",
					 strerror(-rc));
				obs_errlog_add(db->errs, obs_time_now(), "compactor", 0, "", 0, msg);
			}
		}
		obs_db_retain(db, obs_time_now());
		pthread_mutex_lock(&db->stop_mu);
	}
	pthread_mutex_unlock(&db->stop_mu);
	return NULL;
}

/* ---- open / close ------------------------------------------------------ */

static int take_lock(struct obs_db *db, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/LOCK", db->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		char pid[32] = "";
		ssize_t k = pread(fd, pid, sizeof pid - 1, 0);
		if (k > 0)
			pid[k] = 0;
		pid[strcspn(pid, "\n")] = 0;
		snprintf(err, errlen, "data directory '%s' is in use by another obsfsd (pid %s)",
			 db->dir, pid[0] ? pid : "unknown");
		close(fd);
		return -EBUSY;
	}
	char pid[32];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)len, 0) != len) {
		/* the pid is informational only */
	}
	db->lockfd = fd;
	return 0;
}

int obs_db_open(const char *dir, const struct obs_db_opts *o, struct obs_db **out, char *err, size_t errlen)
{
	char dummy[8];
	if (!err) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = 0;
	struct obs_db *db = calloc(1, sizeof *db);
	if (!db)
		return -ENOMEM;
	db->lockfd = -1;
	if (o)
		db->o = *o;
	else
		obs_db_opts_default(&db->o);
	db->started_ms = obs_time_now();
	pthread_rwlock_init(&db->maplock, NULL);
	pthread_rwlock_init(&db->cutlock, NULL);
	pthread_rwlock_init(&db->blocks_lock, NULL);
	pthread_mutex_init(&db->compact_mu, NULL);
	pthread_mutex_init(&db->stop_mu, NULL);
	pthread_mutex_init(&db->carry_mu, NULL);
	for (int i = 0; i < 64; i++)
		pthread_mutex_init(&db->stripes[i], NULL);
	pthread_cond_init(&db->stop_cv, NULL);
	atomic_store(&db->head_mint, INT64_MAX);
	atomic_store(&db->head_maxt, INT64_MIN);
	int rc = -ENOMEM;
	db->dir = strdup(dir);
	db->byname = obs_strmap_new();
	db->alias = obs_strmap_new();
	db->carries = obs_strmap_new();
	db->ix = obs_index_new();
	db->errs = obs_errlog_new(db->o.errlog_entries);
	if (!db->dir || !db->byname || !db->alias || !db->carries || !db->ix || !db->errs) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mkdir(dir, 0755) && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
		goto fail;
	}
	rc = take_lock(db, err, errlen);
	if (rc)
		goto fail;
	rc = blocks_load(db, err, errlen);
	if (rc)
		goto fail;
	char rdir[4096];
	snprintf(rdir, sizeof rdir, "%s/rollups", dir);
	rc = obs_tiers_open(rdir, &db->tiers);
	if (rc) {
		snprintf(err, errlen, "cannot open rollups '%s': %s", rdir, strerror(-rc));
		goto fail;
	}
	for (size_t i = 0; i < db->nblocks; i++) {   /* rollups of merge inputs */
		char ids[4096];
		snprintf(ids, sizeof ids, "%s", obs_block_parents(db->blocks[i]));
		for (char *tok = strtok(ids, ","); tok; tok = strtok(NULL, ","))
			obs_tiers_drop(db->tiers, tok);
	}
	char wdir[4096];
	snprintf(wdir, sizeof wdir, "%s/wal", dir);
	db->replaying = 1;
	if (db->o.wal_recover)
		rc = obs_wal_replay_recover(wdir, replay_record, db, &db->replay_stats);
	else
		rc = obs_wal_replay(wdir, replay_record, db, &db->replay_stats);
	int frc = replay_finish(db);
	if (!rc)
		rc = frc;
	db->replaying = 0;
	if (rc) {
		snprintf(err, errlen, "cannot replay write-ahead log '%s': %s%s", wdir, strerror(-rc),
			 rc == -EBADMSG ? " (it is damaged: -o wal_recover keeps every valid record and skips the rest)"
					: "");
		goto fail;
	}
	struct obs_wal_opts wo = { .segment_bytes = db->o.wal_segment_bytes,
				   .sync_interval_ms = db->o.sync_interval_ms };
	if (db->o.wal_recover)
		rc = obs_wal_open_recover(wdir, &wo, &db->wal);
	else
		rc = obs_wal_open(wdir, &wo, &db->wal);
	if (rc) {
		snprintf(err, errlen, "cannot open write-ahead log '%s': %s", wdir, strerror(-rc));
		goto fail;
	}
	carries_recover(db);
	if (db->skipped_records || db->skipped_samples || db->replay_stats.skipped_bytes ||
	    db->replay_stats.skipped_segments) {
		/* tell, then checkpoint what was kept, so that the damaged
		 * segments go and the next start needs no recovery */
		char msg[300];
		snprintf(msg, sizeof msg,
			 "write-ahead log recovery skipped %llu damaged bytes, %llu missing segments, "
			 "%llu records that could not be applied, %llu samples of unknown series",
			 (unsigned long long)db->replay_stats.skipped_bytes,
			 (unsigned long long)db->replay_stats.skipped_segments,
			 (unsigned long long)db->skipped_records, (unsigned long long)db->skipped_samples);
		obs_errlog_add(db->errs, obs_time_now(), "wal_recover", 0, "", 0, msg);
		int crc = obs_db_compact(db);
		if (crc) {
			snprintf(msg, sizeof msg, "checkpoint after recovery failed (the damaged segments stay): %s",
				 strerror(-crc));
			obs_errlog_add(db->errs, obs_time_now(), "wal_recover", 0, "", 0, msg);
		}
	}
	db->replay_ms = obs_time_now() - db->started_ms;
	if (db->o.block_span_ms > 0 && db->o.check_interval_ms > db->o.block_span_ms / 2)
		db->o.check_interval_ms = db->o.block_span_ms / 2 > 100 ? db->o.block_span_ms / 2 : 100;
	if (db->o.check_interval_ms > 0) {
		if (pthread_create(&db->compactor, NULL, compactor_main, db) == 0)
			db->compactor_running = 1;
	}
	*out = db;
	return 0;
fail:
	obs_db_close(db);
	return rc;
}

void obs_db_close(struct obs_db *db)
{
	if (!db)
		return;
	if (db->compactor_running) {
		pthread_mutex_lock(&db->stop_mu);
		db->stopping = 1;
		pthread_cond_signal(&db->stop_cv);
		pthread_mutex_unlock(&db->stop_mu);
		pthread_join(db->compactor, NULL);
	}
	obs_wal_close(db->wal);
	for (size_t i = 0; i < db->nblocks; i++)
		obs_block_close(db->blocks[i]);
	free(db->blocks);
	obs_tiers_close(db->tiers);
	uint32_t n = atomic_load(&db->nseries);
	for (uint32_t i = 0; i < n; i++)
		series_free(series_get(db, i));
	for (uint32_t p = 0; p < MAX_PAGES; p++)
		free(db->pages[p]);
	obs_strmap_free(db->byname);
	obs_strmap_free(db->alias);
	if (db->carries) {
		obs_strmap_each(db->carries, carry_free_cb, NULL);
		obs_strmap_free(db->carries);
	}
	obs_index_free(db->ix);
	obs_errlog_free(db->errs);
	if (db->lockfd >= 0)
		close(db->lockfd);
	pthread_rwlock_destroy(&db->maplock);
	pthread_rwlock_destroy(&db->cutlock);
	pthread_rwlock_destroy(&db->blocks_lock);
	pthread_mutex_destroy(&db->compact_mu);
	pthread_mutex_destroy(&db->stop_mu);
	pthread_mutex_destroy(&db->carry_mu);
	for (int i = 0; i < 64; i++)
		pthread_mutex_destroy(&db->stripes[i]);
	pthread_cond_destroy(&db->stop_cv);
	free(db->dir);
	free(db);
}

/* ---- lookups and reads ------------------------------------------------- */

static int lookup_labels(struct obs_db *db, const char *text, size_t n, struct obs_labels *l,
			 struct obs_buf *canon, struct series **s, const char **why)
{
	int rc = obs_labels_parse(text, n, l, why);
	if (rc)
		return rc;
	if (obs_labels_format(l, canon))
		return -ENOMEM;
	uint64_t h = obs_strmap_hash(canon->data, canon->len);
	pthread_rwlock_rdlock(&db->maplock);
	*s = obs_strmap_get(db->byname, h, canon->data, canon->len);
	pthread_rwlock_unlock(&db->maplock);
	return 0;
}

/* Find (or with create, make) the series named by text. */
static int find_series(struct obs_db *db, const char *text, size_t n, int create, uint32_t *id,
		       const char **why)
{
	struct obs_labels l;
	struct obs_buf canon;
	struct series *s = NULL;
	obs_buf_init(&canon);
	int rc = lookup_labels(db, text, n, &l, &canon, &s, why);
	if (!rc && !s)
		rc = create ? series_resolve(db, &l, &s, why) : -ENOENT;
	if (!rc)
		*id = s->id;
	obs_labels_release(&l);
	obs_buf_release(&canon);
	return rc;
}

int obs_db_lookup(struct obs_db *db, const char *text, size_t n, uint32_t *id, const char **why)
{
	return find_series(db, text, n, 0, id, why);
}

int obs_db_create(struct obs_db *db, const char *text, size_t n, uint32_t *id, const char **why)
{
	return find_series(db, text, n, 1, id, why);
}

int obs_db_series_text(struct obs_db *db, uint32_t id, struct obs_buf *out)
{
	struct series *s = series_get(db, id);
	if (!s)
		return -ENOENT;
	return obs_buf_append(out, s->canon, s->canonlen);
}

uint32_t obs_db_series_count(struct obs_db *db)
{
	return atomic_load(&db->nseries);
}

static int push_range(const uint8_t *data, size_t len, uint32_t n, int64_t from, int64_t to,
		      struct obs_samples *out)
{
	if (obs_samples_reserve(out, n + 1))
		return -ENOMEM;
	size_t base = out->n;
	int got = obs_chunk_decode(data, len, out->t + base, out->v + base, out->cap - base);
	if (got < 0)
		return got;
	size_t k = base;
	for (size_t i = base; i < base + (size_t)got; i++) {
		if (out->t[i] < from || out->t[i] > to)
			continue;
		out->t[k] = out->t[i];
		out->v[k++] = out->v[i];
	}
	out->n = k;
	return 0;
}

static void sort_samples(struct obs_samples *o, size_t from)
{
	/* insertion sort: only needed when blocks were read out of time order,
	 * and then only short runs are displaced */
	for (size_t i = from + 1; i < o->n; i++) {
		int64_t t = o->t[i];
		double v = o->v[i];
		size_t j = i;
		while (j > from && o->t[j - 1] > t) {
			o->t[j] = o->t[j - 1];
			o->v[j] = o->v[j - 1];
			j--;
		}
		o->t[j] = t;
		o->v[j] = v;
	}
}

/* Samples of a series; with skip_rolled, blocks that have rollups are left
 * out (the tier path reads them from their rollup files). */
static int read_series(struct obs_db *db, uint32_t id, int64_t from, int64_t to, int skip_rolled,
		       struct obs_samples *out)
{
	struct series *s = series_get(db, id);
	if (!s)
		return -ENOENT;
	int rc = 0;
	size_t base = out->n;
	pthread_rwlock_rdlock(&db->blocks_lock);
	if (s->in_block) {
		for (size_t b = 0; b < db->nblocks && !rc; b++) {
			struct obs_block_meta m;
			obs_block_get_meta(db->blocks[b], &m);
			uint32_t li;
			if (m.maxt < from || m.mint > to || obs_block_find(db->blocks[b], id, &li))
				continue;
			if (skip_rolled && obs_tiers_has(db->tiers, obs_block_id(db->blocks[b])))
				continue;
			rc = obs_block_read(db->blocks[b], li, from, to, out);
		}
	}
	pthread_mutex_lock(&s->mu);
	for (uint32_t i = 0; i < s->nfrozen && !rc; i++) {
		const struct chunk *c = &s->frozen[i];
		if (c->tmax >= from && c->tmin <= to)
			rc = push_range(c->data, c->len, c->n, from, to, out);
	}
	for (uint32_t i = 0; i < s->nclosed && !rc; i++) {
		const struct chunk *c = &s->closed[i];
		if (c->tmax < from || c->tmin > to)
			continue;
		rc = push_range(c->data, c->len, c->n, from, to, out);
	}
	if (!rc && s->open.n && s->open.t_last >= from && s->open.t_first <= to) {
		size_t len;
		const uint8_t *d = obs_chunk_data(&s->open, &len);
		rc = push_range(d, len, s->open.n, from, to, out);
	}
	pthread_mutex_unlock(&s->mu);
	pthread_rwlock_unlock(&db->blocks_lock);
	for (size_t i = base + 1; i < out->n && !rc; i++)
		if (out->t[i - 1] >= out->t[i]) {
			sort_samples(out, base);
			break;
		}
	return rc;
}

int obs_db_read(struct obs_db *db, uint32_t id, int64_t from, int64_t to, struct obs_samples *out)
{
	return read_series(db, id, from, to, 0, out);
}

int obs_db_read_agg(struct obs_db *db, uint32_t id, int64_t from, int64_t to, int64_t step,
		    struct obs_aggfn fn, struct obs_samples *out, int *from_tier)
{
	int k = obs_rollup_pick_tier(obs_tier_steps, OBS_NTIERS, step);
	*from_tier = 0;
	if (k < 0 || !obs_tiers_count(db->tiers)) {
		struct obs_samples raw;
		obs_samples_init(&raw);
		int rc = read_series(db, id, from, to, 0, &raw);
		if (!rc)
			rc = obs_downsample(&raw, step, fn, out);
		obs_samples_release(&raw);
		return rc;
	}
	/* rolled-up history from the tier files, the rest from raw samples */
	struct obs_rollup_series acc, tmp, view;
	struct obs_samples raw;
	obs_rollup_series_init(&acc);
	obs_rollup_series_init(&tmp);
	obs_rollup_series_init(&view);
	obs_samples_init(&raw);
	int rc = obs_tiers_read(db->tiers, k, id, from, to, &acc);
	if (!rc && acc.n)
		*from_tier = 1;
	if (!rc)
		rc = read_series(db, id, from, to, 1, &raw);
	if (!rc && raw.n)
		rc = obs_rollup_compute(raw.t, raw.v, raw.n, obs_tier_steps[k], &tmp);
	if (!rc && tmp.n)
		rc = obs_rollup_append(&acc, &tmp);
	if (!rc && acc.n) {
		/* pieces come in source order: put them in time order for merging */
		for (size_t i = 1; i < acc.n; i++) {
			struct obs_rollup_bucket b = acc.b[i];
			size_t j = i;
			while (j > 0 && acc.b[j - 1].t > b.t) {
				acc.b[j] = acc.b[j - 1];
				j--;
			}
			acc.b[j] = b;
		}
		rc = obs_rollup_merge_to(&acc, step, &view);
	}
	if (!rc && view.n)
		rc = obs_rollup_to_samples(&view, fn, out);
	obs_rollup_series_release(&acc);
	obs_rollup_series_release(&tmp);
	obs_rollup_series_release(&view);
	obs_samples_release(&raw);
	return rc;
}

int obs_db_text_size(struct obs_db *db, uint32_t id, enum obs_time_fmt fmt, uint64_t *size)
{
	struct series *s = series_get(db, id);
	if (!s)
		return -ENOENT;
	pthread_mutex_lock(&s->mu);
	int valid = s->txt_valid && s->txt_gen == s->gen && s->txt_fmt == (int)fmt;
	int64_t from = valid ? s->txt_last + 1 : INT64_MIN;
	uint64_t bytes = valid ? s->txt_bytes : 0;
	uint64_t gen = s->gen;
	pthread_mutex_unlock(&s->mu);

	struct obs_samples tail;
	obs_samples_init(&tail);
	int rc = obs_db_read(db, id, from, INT64_MAX, &tail);
	if (rc) {
		obs_samples_release(&tail);
		return rc;
	}
	for (size_t i = 0; i < tail.n; i++)
		bytes += obs_sample_text_len(tail.t[i], tail.v[i], fmt);
	pthread_mutex_lock(&s->mu);
	if (s->gen == gen) {
		s->txt_valid = 1;
		s->txt_gen = gen;
		s->txt_fmt = (int)fmt;
		s->txt_bytes = bytes;
		if (tail.n)
			s->txt_last = tail.t[tail.n - 1];
		else if (!valid)
			s->txt_last = INT64_MIN;
	}
	pthread_mutex_unlock(&s->mu);
	obs_samples_release(&tail);
	*size = bytes;
	return 0;
}

struct obs_index *obs_db_index(struct obs_db *db)
{
	return db->ix;
}

roaring_bitmap_t *obs_db_select(struct obs_db *db, const struct obs_matcher *m, size_t n)
{
	return obs_index_select(db->ix, m, n);
}

struct obs_errlog *obs_db_errlog(struct obs_db *db)
{
	return db->errs;
}

int obs_db_sync(struct obs_db *db)
{
	return obs_wal_sync(db->wal);
}

void obs_db_get_stats(struct obs_db *db, struct obs_db_stats *st)
{
	memset(st, 0, sizeof *st);
	uint32_t n = atomic_load(&db->nseries);
	st->series = n;
	for (uint32_t i = 0; i < n; i++) {
		struct series *s = series_get(db, i);
		if (!s)
			continue;
		pthread_mutex_lock(&s->mu);
		st->samples += s->nsamples;
		st->chunks += s->nclosed + (s->open.n ? 1 : 0);
		for (uint32_t k = 0; k < s->nclosed; k++)
			st->chunk_bytes += s->closed[k].len;
		st->open_chunk_bytes += obs_chunk_size(&s->open);
		pthread_mutex_unlock(&s->mu);
	}
	st->chunk_bytes += st->open_chunk_bytes;
	st->samples_ingested = atomic_load(&db->ingested);
	st->samples_rejected = atomic_load(&db->rejected);
	st->exemplars_dropped = atomic_load(&db->exemplars_dropped);
	st->samples_replayed = db->replayed;
	struct obs_wal_stats ws;
	obs_wal_get_stats(db->wal, &ws);
	st->wal_bytes = ws.bytes;
	st->wal_segments = ws.segments;
	st->wal_syncs = ws.syncs;
	st->wal_torn_bytes = db->replay_stats.torn_bytes;
	st->wal_skipped_bytes = db->replay_stats.skipped_bytes;
	st->wal_skipped_segments = db->replay_stats.skipped_segments;
	st->wal_skipped_records = db->skipped_records;
	st->wal_skipped_samples = db->skipped_samples;
	struct obs_index_stats is;
	obs_index_get_stats(db->ix, &is);
	st->index_bytes = is.bytes;
	pthread_rwlock_rdlock(&db->maplock);
	st->map_bytes = obs_strmap_bytes(db->byname) + obs_strmap_bytes(db->alias);
	pthread_rwlock_unlock(&db->maplock);
	st->started_ms = db->started_ms;
	st->replay_ms = db->replay_ms;
	pthread_rwlock_rdlock(&db->blocks_lock);
	st->blocks = db->nblocks;
	for (size_t i = 0; i < db->nblocks; i++) {
		struct obs_block_meta m;
		obs_block_get_meta(db->blocks[i], &m);
		st->block_bytes += m.bytes;
		st->block_samples += m.samples;
		if (m.level >= 1 && m.level <= 3)
			st->blocks_by_level[m.level - 1]++;
	}
	pthread_rwlock_unlock(&db->blocks_lock);
	struct obs_tiers_stats ts;
	obs_tiers_get_stats(db->tiers, &ts);
	st->rollup_sets = ts.sets;
	st->rollup_reads = ts.reads;
	for (int k = 0; k < 3; k++) {
		st->rollup_files[k] = ts.files[k];
		st->rollup_bytes[k] = ts.bytes[k];
	}
	st->compactions = atomic_load(&db->compactions);
	st->blocks_retired = atomic_load(&db->retired);
	st->head_mint = atomic_load(&db->head_mint);
	st->head_maxt = atomic_load(&db->head_maxt);
	st->last_compact_ms = db->last_compact_ms;
	st->last_compact_dur_ms = db->last_compact_dur_ms;
}

struct top_ctx {
	const char **names;
	uint64_t *counts;
	size_t k, n;
};

static int top_visit(void *ctx, const char *value, uint64_t count)
{
	struct top_ctx *t = ctx;   /* names/counts have room for k + 1 */
	size_t pos = t->n;
	while (pos > 0 && t->counts[pos - 1] < count)
		pos--;
	if (pos >= t->k)
		return 0;
	for (size_t i = t->n; i > pos; i--) {
		t->names[i] = t->names[i - 1];
		t->counts[i] = t->counts[i - 1];
	}
	t->names[pos] = strdup(value);
	t->counts[pos] = count;
	if (++t->n > t->k) {
		free((char *)t->names[t->k]);
		t->n = t->k;
	}
	return 0;
}

int obs_db_top_metrics(struct obs_db *db, size_t k, int (*fn)(void *ctx, const char *name, uint64_t series), void *ctx)
{
	if (!k)
		return 0;
	struct top_ctx t = { calloc(k + 1, sizeof(char *)), calloc(k + 1, sizeof(uint64_t)), k, 0 };
	if (!t.names || !t.counts) {
		free(t.names);
		free(t.counts);
		return -ENOMEM;
	}
	int rc = obs_index_label_values(db->ix, "__name__", top_visit, &t);
	for (size_t i = 0; i < t.n && !rc; i++)
		rc = fn(ctx, t.names[i] ? t.names[i] : "", t.counts[i]);
	for (size_t i = 0; i < t.n; i++)
		free((char *)t.names[i]);
	free(t.names);
	free(t.counts);
	return rc;
}
