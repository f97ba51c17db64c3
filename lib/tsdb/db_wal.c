/* db_wal.c — the metrics store's WAL records: their encoders, the replay
 * that rebuilds the head from them, and the carries (partial last lines of
 * open files) that they also hold. Exemplar records are encoded in
 * db_exemplar.c.
 *
 * Payloads (little-endian, varints are LEB128, zigzag for signed; the WAL's
 * own framing is in core/wal.c):
 *   type 1 SERIES:  u32 id, canonical series text (rest of the record).
 *                   Logged when a series is created, and again when it lost
 *                   its last block (retention).
 *   type 2 SAMPLES: uvarint count, then count x
 *                   { uvarint id, zigzag varint (t - previous t in record),
 *                     u64 value bits (host order: little-endian) }
 *   type 3 CARRY:   u64 handle, u32 series (UINT32_MAX: ingest), u16 n, n bytes
 *                   of source, then the partial last line of an open file
 *                   (empty: the line was completed or dropped). Carries left
 *                   at the end of a replay are ingested as complete lines, as
 *                   a close would have.
 *   type 4 SERIESV: repeated { u32 id, u32 n, n bytes of canonical series text }:
 *                   the series a compaction logs again right after its cut
 *                   (those in no block and not in the block being written),
 *                   in records of about 4 MiB, so that the segments after a
 *                   cut name every series their samples use.
 *   type 5 EXEMPLARS: uvarint count, then count x
 *                   { uvarint id, zigzag varint (t - previous t in record),
 *                     u64 value bits, uvarint n, n bytes of the label set
 *                     in canonical form ({trace_id="..."}) }:
 *                   the exemplars of one write that the store took
 *                   (db_exemplar.c). Replay adds them to the store in order
 *                   (duplicates and out-of-order ones, met again after a
 *                   relog, are skipped); at the end of the replay those of
 *                   ids that no series has are dropped, then expired ones.
 *   type 6 EXRELOG: u8 flags (1 FIRST, 2 LAST), then an EXEMPLARS payload:
 *                   after a compaction's cut, the store as it was at the
 *                   cut, oldest first, in records of about 256 KiB from a
 *                   FIRST (logged at the cut, no entries) to a LAST, with
 *                   the EXEMPLARS records of writes meanwhile interleaved.
 *                   Replay adds the entries at once and holds the EXEMPLARS
 *                   records between FIRST and LAST, adding them at LAST (or
 *                   at the next FIRST or the end of the replay, when a crash
 *                   cut the relog short), in the order they came: the store
 *                   is rebuilt in the order it was filled.
 *   other types are skipped (written by a newer version).
 *
 * Replay applies records in order. A sample at or below its series' floor_t
 * (the last compacted sample) is skipped: that makes a replay of segments a
 * crash left behind after a compaction idempotent. Samples of an id no record
 * has named yet are held until its SERIES record comes (retention logs a
 * series again when it loses its last block, after samples of it); samples
 * whose id is still unknown at the end are corruption (-EBADMSG), unless
 * opts.wal_recover: then every valid record is applied, the rest (damaged
 * bytes, records that cannot be applied, samples of unknown ids) is skipped
 * and counted (stats, errlog), and what was kept is checkpointed at once so
 * the damaged segments go. */
#include "tsdb/db_int.h"

#include "core/corrupt.h"

/* ---- WAL records: encoders ------------------------------------------- */

/* SERIES: u32 id, canonical text. */
int db_wal_log_series(struct obs_db *db, uint32_t id, const char *canon, size_t len)
{
	uint8_t hdr[4];
	obs_put_le32(hdr, id);
	return obs_wal_append2(db->wal, REC_SERIES, hdr, 4, canon, len);
}

/* The payload of a SAMPLES record: uvarint count, then per sample uvarint
 * id, zigzag delta of t, the 8 value bytes. Malloc'ed (NULL: no memory). */
uint8_t *db_wal_samples_payload(const struct pending *x, size_t n, size_t *len)
{
	size_t room = 10 + n * (OBS_VARINT_MAX * 2 + 8);
	uint8_t *buf = malloc(room), *p = buf;
	if (!buf)
		return NULL;
	p += obs_varint_put(p, n);
	int64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		p += obs_varint_put(p, x[i].s->id);
		p += obs_varint_put(p, obs_zigzag((int64_t)((uint64_t)x[i].t - (uint64_t)prev)));
		prev = x[i].t;
		uint64_t b = obs_f64_bits(x[i].v);
		memcpy(p, &b, 8);
		p += 8;
	}
	*len = (size_t)(p - buf);
	return buf;
}

/* Log the SERIES record of a series again (after a WAL cut, or when it lost
 * its last block), so that a replay knows it. */
int db_series_relog(struct obs_db *db, const struct series *s)
{
	return db_wal_log_series(db, s->id, s->canon, s->canonlen);
}

/* After a cut (caller holds cutlock exclusive): one SERIESV record per
 * few MiB naming every series of [0, n) that no block holds and that has no
 * frozen samples (those go into the block being written). */
int db_series_relog_after_cut(struct obs_db *db, uint32_t n)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = 0;
	for (uint32_t i = 0; i < n && !rc; i++) {
		struct series *s = db_series_get(db, i);
		if (!s || atomic_load(&s->in_block) || s->nfrozen)
			continue;
		uint8_t hdr[8];
		obs_put_le32(hdr, i);
		obs_put_le32(hdr + 4, s->canonlen);
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

int db_carry_free_cb(void *ctx, const char *key, size_t n, void *val)
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
int db_carries_relog(struct obs_db *db)
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
void db_carries_recover(struct obs_db *db)
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
 * counted; without it, it is corruption: -EBADMSG, with the check and the
 * offset in the record's payload recorded (core/corrupt.h; the WAL adds
 * the segment and the record's offset). */
static int replay_skip(struct obs_db *db, uint64_t *counter, uint64_t k, uint64_t off, const char *check)
{
	if (!db->o.wal_recover)
		return obs_corruptf(NULL, off, "%s", check);
	*counter += k;
	return 0;
}

static int replay_apply(struct obs_db *db, struct series *s, int64_t t, uint64_t bits)
{
	const char *why;
	if (t <= atomic_load(&s->floor_t))
		return 0;   /* already in a block (WAL not yet truncated at the crash) */
	pthread_mutex_lock(&s->mu);
	int rc = db_series_append(db, s, t, obs_bits_f64(bits), &why);
	pthread_mutex_unlock(&s->mu);
	if (rc == -ENOMEM)
		return rc;
	if (!rc) {
		db->replayed++;
		db_head_note(db, t, t, 1);
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

static int held_apply(struct obs_db *db);

/* After the replay: the exemplars a relog cut short held back, and samples
 * whose series no record named (-EBADMSG, with the detail recorded when
 * report is set). */
int db_replay_finish(struct obs_db *db, int report)
{
	int hrc = held_apply(db);   /* a relog a crash cut short */
	size_t left = db->ndeferred;
	free(db->deferred);
	db->deferred = NULL;
	db->ndeferred = db->capdeferred = 0;
	if (db->deferred_ids)
		roaring_bitmap_free(db->deferred_ids);
	db->deferred_ids = NULL;
	if (!left)
		return hrc;
	if (db->o.wal_recover) {
		int rc = replay_skip(db, &db->skipped_samples, left, 0, "");
		return rc ? rc : hrc;
	}
	if (!report)
		return -EBADMSG;   /* the replay's own error is the one reported */
	char wdir[4200];
	snprintf(wdir, sizeof wdir, "%s/wal", db->dir);
	return obs_corruptf(wdir, 0, "at the end of the replay %zu samples belong to series ids no SERIES record names", left);
}

static int replay_series(struct obs_db *db, uint32_t id, const char *text, size_t len, uint64_t text_off)
{
	struct obs_labels l;
	const char *why;
	if (obs_labels_parse(text, len, &l, &why)) {
		char check[200];
		snprintf(check, sizeof check, "series %u: text does not parse: %s", id, why);
		return replay_skip(db, &db->skipped_records, 1, text_off, check);
	}
	struct obs_buf canon;
	obs_buf_init(&canon);
	int rc = obs_labels_format(&l, &canon);
	if (!rc) {
		uint64_t h = obs_strmap_hash(canon.data, canon.len);
		struct series *s;
		struct series *known = db_series_get(db, id);
		if (known && known->canonlen == canon.len && !memcmp(known->canon, canon.data, canon.len))
			rc = 0;   /* registered from a block already, or logged again */
		else if (known || obs_strmap_get(db->byname, h, canon.data, canon.len))
			rc = replay_skip(db, &db->skipped_records, 1, text_off,
					 known ? "series id already names another series"
					       : "series text already has another id");
		else if ((rc = db_series_insert(db, id, canon.data, canon.len, &l, h, &s)) == 0)
			rc = replay_undefer(db, s);
	}
	obs_buf_release(&canon);
	obs_labels_release(&l);
	return rc;
}

/* The head of a SAMPLES or EXEMPLARS entry at *pos: uvarint id, zigzag
 * delta of t from *prev, 8 value bytes. 0, or -1 when it runs past n. */
static int entry_head(const uint8_t *p, size_t n, size_t *pos, int64_t *prev, uint64_t *id, int64_t *t,
		      uint64_t *bits)
{
	uint64_t zz;
	if (obs_varint_get(p, n, pos, id) || obs_varint_get(p, n, pos, &zz) || n - *pos < 8)
		return -1;
	memcpy(bits, p + *pos, 8);
	*pos += 8;
	*t = (int64_t)((uint64_t)*prev + (uint64_t)obs_unzigzag(zz));
	*prev = *t;
	return 0;
}

static int replay_samples(struct obs_db *db, const uint8_t *p, size_t n)
{
	size_t pos = 0;
	uint64_t cnt;
	if (obs_varint_get(p, n, &pos, &cnt))
		return replay_skip(db, &db->skipped_records, 1, 0, "SAMPLES: count varint truncated");
	int64_t prev = 0;
	for (uint64_t i = 0; i < cnt; i++) {
		uint64_t id, bits;
		int64_t t;
		if (entry_head(p, n, &pos, &prev, &id, &t, &bits))
			return replay_skip(db, &db->skipped_records, 1, pos,   /* the rest of the record */
					   "SAMPLES: sample truncated (id, time delta or value past the end)");
		struct series *s = id <= UINT32_MAX ? db_series_get(db, (uint32_t)id) : NULL;
		int rc;
		if (!s)   /* its record may follow; at the end it is an unknown id */
			rc = id < MAX_PAGES * PAGE_SIZE_IDS ? replay_defer(db, (uint32_t)id, t, bits)
							    : replay_skip(db, &db->skipped_samples, 1, pos - 8,
									  "SAMPLES: series id out of range");
		else
			rc = replay_apply(db, s, t, bits);
		if (rc)
			return rc;
	}
	return 0;
}

/* An EXEMPLARS record (its ids need not be known yet: the store does not
 * care, and db_exemplars_replayed drops those still unknown at the end). */
static int replay_exemplars(struct obs_db *db, const uint8_t *p, size_t n)
{
	size_t pos = 0;
	uint64_t cnt;
	if (obs_varint_get(p, n, &pos, &cnt))
		return replay_skip(db, &db->skipped_records, 1, 0, "EXEMPLARS: count varint truncated");
	int64_t prev = 0;
	for (uint64_t i = 0; i < cnt; i++) {
		uint64_t id, bits, len;
		int64_t t;
		if (entry_head(p, n, &pos, &prev, &id, &t, &bits))
			return replay_skip(db, &db->skipped_records, 1, pos, "EXEMPLARS: entry truncated");
		if (obs_varint_get(p, n, &pos, &len) || len > n - pos || id > UINT32_MAX)
			return replay_skip(db, &db->skipped_records, 1, pos,
					   "EXEMPLARS: labels past the end or series id out of range");
		const char *why;
		if (obs_exstore_add(db->ex, (uint32_t)id, t, obs_bits_f64(bits), (const char *)p + pos, len, &why) ==
		    -ENOMEM)
			return -ENOMEM;
		pos += len;
	}
	return 0;
}

/* An EXEMPLARS record met inside a relog, held until it ends: u32 length,
 * the payload. */
static int held_push(struct obs_db *db, const uint8_t *p, size_t n)
{
	uint8_t len[4];
	obs_put_le32(len, (uint32_t)n);   /* a record is at most 256 MiB */
	if (obs_buf_reserve(&db->ex_held, 4 + n))
		return -ENOMEM;
	obs_buf_append(&db->ex_held, len, 4);
	obs_buf_append(&db->ex_held, p, n);
	return 0;
}

/* The relog is over: the held records, in the order they came. */
static int held_apply(struct obs_db *db)
{
	int rc = 0;
	db->ex_relog_open = 0;
	const uint8_t *h = (const uint8_t *)db->ex_held.data;
	for (size_t pos = 0; pos < db->ex_held.len && !rc;) {
		uint32_t len = obs_get_le32(h + pos);
		rc = replay_exemplars(db, h + pos + 4, len);
		pos += 4 + (size_t)len;
	}
	obs_buf_release(&db->ex_held);
	return rc;
}

static int replay_exrelog(struct obs_db *db, const uint8_t *p, size_t n)
{
	if (!n)
		return replay_skip(db, &db->skipped_records, 1, 0, "EXRELOG: no flags byte");
	int rc = 0;
	if (p[0] & EXRELOG_FIRST) {
		rc = held_apply(db);   /* the relog before, if a crash cut it short */
		db->ex_relog_open = 1;
	}
	if (!rc)
		rc = replay_exemplars(db, p + 1, n - 1);
	if (!rc && (p[0] & EXRELOG_LAST))
		rc = held_apply(db);
	return rc;
}

int db_replay_record(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	struct obs_db *db = ctx;
	switch (type) {
	case REC_SERIES:
		if (n < 4)
			return replay_skip(db, &db->skipped_records, 1, 0, "SERIES: shorter than its id");
		return replay_series(db, obs_get_le32(p), (const char *)p + 4, n - 4, 4);
	case REC_SERIESV:
		for (size_t pos = 0; pos < n;) {
			uint32_t len = n - pos >= 8 ? obs_get_le32(p + pos + 4) : 0;
			if (n - pos < 8 || len > n - pos - 8)
				return replay_skip(db, &db->skipped_records, 1, pos, "SERIESV: entry runs past the end");
			int rc = replay_series(db, obs_get_le32(p + pos), (const char *)p + pos + 8, len, pos + 8);
			if (rc)
				return rc;
			pos += 8 + len;
		}
		return 0;
	case REC_SAMPLES:
		return replay_samples(db, p, n);
	case REC_EXEMPLARS:
		return db->ex_relog_open ? held_push(db, p, n) : replay_exemplars(db, p, n);
	case REC_EXRELOG:
		return replay_exrelog(db, p, n);
	case REC_CARRY: {
		if (n < 14)
			return replay_skip(db, &db->skipped_records, 1, 0, "CARRY: shorter than its header");
		uint64_t handle = obs_get_le64(p);
		uint32_t series = obs_get_le32(p + 8);
		size_t sl = obs_get_le16(p + 12);
		if (n < 14 + sl || (series != UINT32_MAX && !db_series_get(db, series)))
			return replay_skip(db, &db->skipped_records, 1, n < 14 + sl ? 12 : 8,
					   n < 14 + sl ? "CARRY: source runs past the end" : "CARRY: unknown series id");
		return carry_put(db, handle, series, (const char *)p + 14, sl, (const char *)p + 14 + sl,
				 n - 14 - sl);
	}
	default:
		return 0;   /* unknown record types are skipped (written by newer versions) */
	}
}
