/* db_ingest.c — the write path (one call = one writer's write()).
 *
 *   parse lines -> resolve each sample's series (cached by the raw key as
 *   written, else labels are built and canonicalised; new series are logged
 *   to the WAL first, under cutlock shared) -> refuse what the head would
 *   refuse (floor, window, other value at the newest time) -> one WAL SAMPLES
 *   record for the rest of the batch -> apply to the head under each series'
 *   lock -> the write's exemplars (db_exemplar.c: checked, one EXEMPLARS
 *   record, added to the store).
 *
 * Nothing reaches the head before the WAL holds it, so a failed WAL write
 * (ENOSPC) leaves no sample visible that a restart would lose, and nothing
 * refused is in the WAL for a replay to bring back. The precheck, the WAL
 * append and the apply hold the stripe locks of every series of the batch
 * (64 stripes by id, taken in ascending order), so per series the head
 * applies batches in their WAL order and a replay rebuilds the same head.
 * Every rejected line or sample goes to the errlog with its reason. */
#include "tsdb/db_int.h"

/* ---- ingest ----------------------------------------------------------- */

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
	struct db_exbatch ex;       /* the write's exemplars (db_exemplar.c) */
};

void db_ingest_set_err(struct obs_ingest_result *r, int err)
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
	db_ingest_set_err(c->r, err);
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
		int64_t last = db_series_last_t(s, &lastbits);
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
			rc = db_series_resolve(db, &l, &s, &why);
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
	if (in->exemplar && db_exemplar_note(db, &c->ex, s, t, in, c->source, c->now, c->r))
		return -ENOMEM;
	return pending_push(c, s, t, in->value);
}

static void on_parse_error(void *ctx, size_t lineno, const char *line, size_t len, const char *why)
{
	reject(ctx, lineno, line, len, why, EINVAL);
}

/* Widen the head's time span by accepted samples (under cutlock, shared). */
void db_head_note(struct obs_db *db, int64_t mn, int64_t mx, size_t n)
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
	int64_t last = db_series_last_t(s, &lastbits);
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
	int found = !db_read_series(db, s->id, t, t, 0, &at) && at.n && obs_f64_bits(at.v[0]) == obs_f64_bits(v);
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
	size_t len;
	uint8_t *buf = db_wal_samples_payload(c->p, c->n, &len);
	if (!buf) {
		stripes_unlock(db, mask);
		pthread_rwlock_unlock(&db->cutlock);
		return -ENOMEM;
	}
	int rc = obs_wal_append(db->wal, REC_SAMPLES, buf, len);
	free(buf);
	if (rc) {
		stripes_unlock(db, mask);
		pthread_rwlock_unlock(&db->cutlock);
		char msg[128];
		snprintf(msg, sizeof msg, "write-ahead log write failed: %s", strerror(-rc));
		c->r->rejected += c->n;
		atomic_fetch_add(&db->rejected, c->n);
		db_ingest_set_err(c->r, rc == -ENOSPC || rc == -EDQUOT ? ENOSPC : EIO);
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
		int r = db_series_append(db, x->s, x->t, x->v, &why);
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
	db_head_note(db, mn, mx, (size_t)(c->r->accepted - resent));
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
	obs_buf_init(&c->ex.labels);
	memset(r, 0, sizeof *r);
}

static void ctx_release(struct ingest_ctx *c)
{
	free(c->p);
	obs_buf_release(&c->akey);
	db_exbatch_release(&c->ex);
}

int obs_db_ingest(struct obs_db *db, const char *buf, size_t n, enum obs_fmt fmt,
		  const char *source, size_t first_lineno, struct obs_ingest_result *r)
{
	struct ingest_ctx c;
	ctx_init(&c, db, source, r);
	struct obs_parse_cb cb = { .sample = on_sample, .error = on_parse_error, .ctx = &c };
	long prc = obs_parse_lines(buf, n, fmt, first_lineno ? first_lineno : 1, &cb);
	int rc = prc < 0 ? (int)prc : commit_pending(&c);
	if (!rc)
		rc = db_exemplars_commit(db, &c.ex, source, c.now, r);
	ctx_release(&c);
	return rc;
}

int obs_db_ingest_values(struct obs_db *db, uint32_t id, const char *buf, size_t n,
			 const char *source, size_t first_lineno, struct obs_ingest_result *r)
{
	struct ingest_ctx c;
	ctx_init(&c, db, source, r);
	struct series *s = db_series_get(db, id);
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
