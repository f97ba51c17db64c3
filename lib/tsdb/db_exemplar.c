/* db_exemplar.c — exemplars in the metrics store: the ingest side (a
 * write's exemplars are checked, logged to the WAL as one EXEMPLARS record
 * and added to the store), the relog after a compaction's cut, and reads.
 *
 * The store (exemplar.h) lives in memory only; the WAL is what makes it
 * survive a restart. The record format is in db_wal.c, which replays it.
 * A compaction's cut would leave the exemplars in segments about to be
 * removed, so right after the cut (cutlock exclusive) the whole store is
 * logged again, oldest first, in records of about 4 MiB: the segments after
 * a cut always start with the store as it was, and a replay of them (plus
 * the records after) rebuilds it. Blocks hold no exemplars. A replay that
 * meets an exemplar again (the old segments of a crashed compaction and the
 * relog) sees a duplicate or an out-of-order one and skips it.
 *
 * Locks: cutlock (shared) > ex_mu for a write's log-and-add, so a cut never
 * falls between the two; the relog holds cutlock exclusive > ex_mu. */
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

/* An EXEMPLARS payload: uvarint count, then the entries of body. */
static int log_record(struct obs_db *db, size_t count, const struct obs_buf *body)
{
	uint8_t hdr[OBS_VARINT_MAX];
	size_t hn = obs_varint_put(hdr, count);
	return obs_wal_append2(db->wal, REC_EXEMPLARS, hdr, hn, body->data, body->len);
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
		rc = log_record(db, count, &body);
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

struct relog {
	struct obs_db *db;
	struct obs_buf body;
	size_t count;
	int64_t prev;
};

static int relog_flush(struct relog *rl)
{
	if (!rl->count)
		return 0;
	int rc = log_record(rl->db, rl->count, &rl->body);
	obs_buf_reset(&rl->body);
	rl->count = 0;
	rl->prev = 0;
	return rc;
}

static int relog_one(void *ctx, uint32_t id, int64_t t, double v, const char *lab, size_t len)
{
	struct relog *rl = ctx;
	int rc = put_entry(&rl->body, id, t, &rl->prev, v, lab, len);
	if (!rc && ++rl->count && rl->body.len >= (4u << 20))
		rc = relog_flush(rl);
	return rc;
}

int db_exemplars_relog(struct obs_db *db)
{
	struct relog rl = { .db = db };
	obs_buf_init(&rl.body);
	pthread_mutex_lock(&db->ex_mu);
	int rc = obs_exstore_each_all(db->ex, relog_one, &rl);
	if (!rc)
		rc = relog_flush(&rl);
	pthread_mutex_unlock(&db->ex_mu);
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
