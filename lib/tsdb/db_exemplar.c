/* db_exemplar.c — exemplars in the metrics store: the ingest side (a
 * write's exemplars are checked, logged to the WAL as one EXEMPLARS record
 * and added to the store), expiry, the relog after a compaction's cut, and
 * reads.
 *
 * The store (exemplar.h) lives in memory only; the WAL is what makes it
 * survive a restart. The record formats are in db_wal.c, which replays
 * them. Blocks hold no exemplars.
 *
 * Retention: exemplars older than exemplar_retention (by default the raw
 * retention) are dropped by obs_db_retain (the compactor's tick, after each
 * compaction) and after the replay, and refused from then on (counted as
 * expired, not as errors: they are past the policy, not bad input).
 *
 * The relog. A compaction's cut would leave the exemplars in segments
 * about to be removed, so they are logged again after it, without holding
 * up ingest:
 *   1. at the cut (cutlock exclusive, so no write is half logged) the store's
 *      mark is taken and an EXRELOG record flagged FIRST is appended: every
 *      exemplar numbered up to the mark is in a record before the cut, every
 *      later one in a record after FIRST;
 *   2. with cutlock released, the exemplars up to the mark that are still
 *      held are logged in EXRELOG records in the order they were added, the
 *      last record flagged LAST; writes go on meanwhile, their EXEMPLARS
 *      records interleaved;
 *   3. only then (and after an fsync) does the compaction remove the old
 *      segments. A relog that fails fails the compaction: the old segments
 *      stay.
 * A replay applies the EXRELOG entries at once and holds the EXEMPLARS
 * records met between FIRST and LAST until LAST (or a later FIRST, or the
 * end of the WAL: a relog cut short by a crash), then applies them: so the
 * store is rebuilt in the order it was filled (within a series an exemplar
 * newer than the relog's could otherwise come first and make the relog's
 * refused as out of order). A replay that meets an exemplar again (the old
 * segments of a crashed compaction, then the relog) sees a duplicate and
 * skips it.
 *
 * Locks: cutlock (shared) > ex_mu for a write's log-and-add, so a cut never
 * falls between the two; the relog's FIRST is logged under cutlock
 * exclusive, its pieces under ex_mu alone, its records under no db lock. */
#include "tsdb/db_int.h"

/* One entry of an EXEMPLARS payload (db_wal.c): uvarint id, zigzag varint
 * t - prev, 8 value bytes, uvarint label length, the labels. */
static int put_entry(struct obs_buf *b, uint32_t id, int64_t t, int64_t *prev, double v, const char *lab,
		     size_t len)
{
	if (obs_buf_reserve(b, 3 * OBS_VARINT_MAX + 8 + len))
		return -ENOMEM;
	uint8_t *p = (uint8_t *)b->data + b->len, *p0 = p;
	p += obs_varint_put(p, id);
	p += obs_varint_put(p, obs_zigzag((int64_t)((uint64_t)t - (uint64_t)*prev)));
	*prev = t;
	uint64_t bits = obs_f64_bits(v);
	memcpy(p, &bits, 8);
	p += 8;
	p += obs_varint_put(p, len);
	memcpy(p, lab, len);
	p += len;
	b->len += (size_t)(p - p0);
	return 0;
}

/* An EXEMPLARS payload: uvarint count, then the entries of body; or, for
 * flags >= 0, an EXRELOG one: the flags byte, then the same. */
static int log_record(struct obs_db *db, int flags, size_t count, const struct obs_buf *body)
{
	uint8_t hdr[1 + OBS_VARINT_MAX];
	size_t hn = 0;
	if (flags >= 0)
		hdr[hn++] = (uint8_t)flags;
	hn += obs_varint_put(hdr + hn, count);
	return obs_wal_append2(db->wal, flags >= 0 ? REC_EXRELOG : REC_EXEMPLARS, hdr, hn, body->data, body->len);
}

void db_exbatch_release(struct db_exbatch *b)
{
	free(b->e);
	obs_buf_release(&b->labels);
	memset(b, 0, sizeof *b);
}

int db_exemplar_note(struct obs_db *db, struct db_exbatch *b, struct series *s, int64_t sample_t,
		     const struct obs_sample_in *in, const char *source, int64_t now, struct obs_ingest_result *r)
{
	if (in->exemplar < 0) {
		atomic_fetch_add(&db->ex_rejected, 1);
		db_ingest_set_err(r, EINVAL);
		char why[160], line[700];
		snprintf(why, sizeof why, "%s (the sample is kept)", in->ex_why);
		int len = snprintf(line, sizeof line, "%.*s %.*s", (int)(in->keylen < 300 ? in->keylen : 300), in->key,
				   (int)(in->ex_textlen < 390 ? in->ex_textlen : 390), in->ex_text);
		obs_errlog_add(db->errs, now, source, 0, line, (size_t)len, why);
		return 0;
	}
	if (OBS_VEC_RESERVE_FROM(b->e, b->cap, b->n + 1, 64))
		return -ENOMEM;
	size_t off = b->labels.len;
	if (obs_exemplar_labels_canon(in->ex_labels, in->ex_labelslen, &b->labels))
		return -ENOMEM;
	b->e[b->n++] = (struct db_expending){ s->id, in->ex_ts != OBS_TS_NONE ? in->ex_ts : sample_t, in->ex_value,
					      off, b->labels.len - off };
	return 0;
}

int db_exemplars_commit(struct obs_db *db, struct db_exbatch *b, const char *source, int64_t now,
			struct obs_ingest_result *r)
{
	if (!b->n)
		return 0;
	struct obs_buf body;
	obs_buf_init(&body);
	size_t count = 0;
	int64_t prev = 0;
	int rc = 0;
	pthread_rwlock_rdlock(&db->cutlock);
	pthread_mutex_lock(&db->ex_mu);
	uint64_t mark = obs_exstore_mark(db->ex);
	for (size_t i = 0; i < b->n && !rc; i++) {
		const struct db_expending *e = &b->e[i];
		const char *lab = b->labels.data + e->off, *why = NULL;
		int a = obs_exstore_add(db->ex, e->id, e->t, e->v, lab, e->len, &why);
		if (a == -ENOMEM) {
			rc = a;
		} else if (a == -EINVAL) {
			atomic_fetch_add(&db->ex_rejected, 1);
			db_ingest_set_err(r, EINVAL);
			char line[700], tb[40], vb[40];
			obs_time_format(e->t, OBS_TIME_RFC3339, tb);
			obs_num_format(e->v, vb);
			struct series *s = db_series_get(db, e->id);
			int len = snprintf(line, sizeof line, "%.400s # %.*s %s %s", s ? s->canon : "?", (int)e->len, lab,
					   vb, tb);
			obs_errlog_add(db->errs, now, source, 0, line, (size_t)len, why);
		} else if (a == 0) {
			rc = put_entry(&body, e->id, e->t, &prev, e->v, lab, e->len);
			count++;
		}
	}
	if (!rc && count)
		rc = log_record(db, -1, count, &body);
	if (rc) {
		/* nothing of this write's exemplars stays that a restart would lose */
		obs_exstore_undo(db->ex, mark);
		if (rc != -ENOMEM) {
			char msg[128];
			snprintf(msg, sizeof msg, "write-ahead log write failed, exemplars dropped: %s", strerror(-rc));
			obs_errlog_add(db->errs, now, source, 0, "", 0, msg);
			db_ingest_set_err(r, rc == -ENOSPC || rc == -EDQUOT ? ENOSPC : EIO);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&db->ex_mu);
	pthread_rwlock_unlock(&db->cutlock);
	obs_buf_release(&body);
	return rc;
}

/* The relog. The exemplars held at the cut are those the store numbered up
 * to the mark taken then (obs_exstore_mark); later ones are in their own
 * records after the cut. They are walked in pieces of RELOG_PIECE under
 * ex_mu and written in records of about RELOG_RECORD with no lock of the
 * db held, so a write waits for one piece at most. */
#define RELOG_PIECE 512
#define RELOG_RECORD (256u << 10)

struct relog {
	struct obs_db *db;
	struct obs_buf body;
	size_t count;
	int64_t prev;
};

static int relog_flush(struct relog *rl, int flags)
{
	int rc = obs_fault("compact.exrelog");
	if (!rc)
		rc = log_record(rl->db, flags, rl->count, &rl->body);
	obs_buf_reset(&rl->body);
	rl->count = 0;
	rl->prev = 0;
	return rc;
}

static int relog_one(void *ctx, uint32_t id, int64_t t, double v, const char *lab, size_t len)
{
	struct relog *rl = ctx;
	int rc = put_entry(&rl->body, id, t, &rl->prev, v, lab, len);
	rl->count += !rc;
	return rc;
}

int db_exemplars_relog_begin(struct obs_db *db, uint64_t *mark)
{
	pthread_mutex_lock(&db->ex_mu);
	*mark = obs_exstore_mark(db->ex);
	pthread_mutex_unlock(&db->ex_mu);
	struct obs_buf none;
	obs_buf_init(&none);
	return log_record(db, EXRELOG_FIRST, 0, &none);
}

int db_exemplars_relog(struct obs_db *db, uint64_t mark)
{
	struct relog rl = { .db = db };
	obs_buf_init(&rl.body);
	uint64_t from = 0;
	int rc = 1;
	while (rc == 1) {
		pthread_mutex_lock(&db->ex_mu);
		rc = obs_exstore_each_between(db->ex, &from, mark, RELOG_PIECE, relog_one, &rl);
		pthread_mutex_unlock(&db->ex_mu);
		if (rc == 0)
			rc = relog_flush(&rl, EXRELOG_LAST);
		else if (rc == 1 && rl.body.len >= RELOG_RECORD && (rc = relog_flush(&rl, 0)) == 0)
			rc = 1;
	}
	obs_buf_release(&rl.body);
	return rc;
}

static int known_series(void *ctx, uint32_t id)
{
	return db_series_get(ctx, id) != NULL;
}

void db_exemplars_replayed(struct obs_db *db)
{
	obs_exstore_retain(db->ex, known_series, db);
	db_exemplars_expire(db, obs_time_now());
}

void db_exemplars_expire(struct obs_db *db, int64_t now_ms)
{
	int64_t keep = db->o.exemplar_retention_ms;
	if (keep <= 0)
		return;
	pthread_mutex_lock(&db->ex_mu);
	obs_exstore_expire(db->ex, now_ms > INT64_MIN + keep ? now_ms - keep : INT64_MIN);
	pthread_mutex_unlock(&db->ex_mu);
}

/* ---- reads ------------------------------------------------------------------- */

struct render {
	struct obs_buf *out;
	enum obs_time_fmt fmt;
};

static int render_one(void *ctx, int64_t t, double v, const char *lab, size_t len)
{
	struct render *r = ctx;
	char tb[40], vb[40];
	obs_time_format(t, r->fmt, tb);
	obs_num_format(v, vb);
	return obs_buf_printf(r->out, "%s %s %.*s\n", tb, vb, (int)len, lab) ? -ENOMEM : 0;
}

int obs_db_exemplars(struct obs_db *db, uint32_t id, int64_t from, int64_t to, enum obs_time_fmt fmt,
		     struct obs_buf *out)
{
	if (!db_series_get(db, id))
		return -ENOENT;
	struct render r = { out, fmt };
	pthread_mutex_lock(&db->ex_mu);
	int rc = obs_exstore_each(db->ex, id, from, to, render_one, &r);
	pthread_mutex_unlock(&db->ex_mu);
	return rc;
}
