/* db.c — the metrics store over one data directory: options, the series
 * table, open/close, lookups, statistics.
 *
 * The store is split by job; every part includes db_int.h (the structs they
 * share and the calls between them):
 *   db.c          options, the series table (ids in pages of 4096, the
 *                 canonical-text and raw-key maps), open/close, lookups, stats
 *   db_ingest.c   the write path: parse, resolve, precheck, log, apply
 *   db_head.c     the head (Gorilla chunks per series, out-of-order inserts)
 *                 and reads over blocks, frozen chunks and the head
 *   db_wal.c      the WAL record types (encoders, replay) and the carries
 *   db_exemplar.c exemplars: a write's, logged and kept in the store
 *                 (exemplar.h), relogged after a cut, read
 *   db_compact.c  loading blocks, compaction (head -> block), merges,
 *                 retention, the background compactor
 *
 * Lock order: compact_mu > cutlock > stripes > maplock > blocks_lock >
 * series mu > carry_mu > the WAL's own locks; cutlock > ex_mu > the WAL's.
 *
 * Data directory: LOCK (flock, pid inside), wal/ (obs_wal segments, records
 * in db_wal.c), blocks/ID/ (block.h), rollups/ (tiers.h). Opening loads the
 * blocks (a merged block's parents still present are deleted), registers
 * their series under their global ids, opens the rollup tiers, then replays
 * the WAL (db_wal.c); a replay that finds corruption fails the open with
 * -EBADMSG and says where (obs_db_open's err). */
#include "tsdb/db_int.h"

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
	o->max_exemplars = 100000;
	o->max_exemplars_per_series = 1024;
	o->exemplar_retention_ms = -1;
	o->tier_retention_ms[0] = 90LL * 24 * 3600 * 1000;
	o->tier_retention_ms[1] = 365LL * 24 * 3600 * 1000;
	o->tier_retention_ms[2] = 3 * 365LL * 24 * 3600 * 1000;
}

struct series *db_series_get(struct obs_db *db, uint32_t id)
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
int db_series_insert(struct obs_db *db, uint32_t id, const char *canon, size_t n,
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
int db_series_resolve(struct obs_db *db, struct obs_labels *labels, struct series **out, const char **why)
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
		rc = db_wal_log_series(db, n, canon.data, canon.len);
		if (rc) {
			if (why)
				*why = "write-ahead log write failed";
			goto done;
		}
	}
	rc = db_series_insert(db, n, canon.data, canon.len, labels, h, &s);
done:
	pthread_rwlock_unlock(&db->maplock);
	pthread_rwlock_unlock(&db->cutlock);
	obs_buf_release(&canon);
	if (!rc)
		*out = s;
	return rc;
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
	if (db->o.exemplar_retention_ms < 0)   /* exemplars live as long as raw samples */
		db->o.exemplar_retention_ms = db->o.retention_ms;
	db->started_ms = obs_time_now();
	pthread_rwlock_init(&db->maplock, NULL);
	/* a compaction's cut (exclusive) must not starve behind a steady
	 * stream of batches (shared): glibc's default prefers readers */
	pthread_rwlockattr_t wr_first;
	pthread_rwlockattr_init(&wr_first);
	pthread_rwlockattr_setkind_np(&wr_first, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&db->cutlock, &wr_first);
	pthread_rwlockattr_destroy(&wr_first);
	pthread_rwlock_init(&db->blocks_lock, NULL);
	pthread_mutex_init(&db->compact_mu, NULL);
	pthread_mutex_init(&db->stop_mu, NULL);
	pthread_mutex_init(&db->carry_mu, NULL);
	pthread_mutex_init(&db->ex_mu, NULL);
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
	db->ex = obs_exstore_new(db->o.max_exemplars, db->o.max_exemplars_per_series);
	if (!db->dir || !db->byname || !db->alias || !db->carries || !db->ix || !db->errs || !db->ex) {
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
	rc = db_blocks_load(db, err, errlen);
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
		rc = obs_wal_replay_recover(wdir, db_replay_record, db, &db->replay_stats);
	else
		rc = obs_wal_replay(wdir, db_replay_record, db, &db->replay_stats);
	int frc = db_replay_finish(db, !rc);
	db_exemplars_replayed(db);
	if (!rc)
		rc = frc;
	db->replaying = 0;
	if (rc) {
		snprintf(err, errlen, "cannot replay write-ahead log '%s': %s%s", wdir, strerror(-rc),
			 rc == -EBADMSG ? " (it is damaged: -o wal_recover keeps every valid record and skips the rest)"
					: "");   /* obsfsd adds obs_corrupt_last(): where and which check */
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
	db_carries_recover(db);
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
		if (pthread_create(&db->compactor, NULL, db_compactor_main, db) == 0)
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
		series_free(db_series_get(db, i));
	for (uint32_t p = 0; p < MAX_PAGES; p++)
		free(db->pages[p]);
	obs_strmap_free(db->byname);
	obs_strmap_free(db->alias);
	if (db->carries) {
		obs_strmap_each(db->carries, db_carry_free_cb, NULL);
		obs_strmap_free(db->carries);
	}
	obs_index_free(db->ix);
	obs_errlog_free(db->errs);
	obs_exstore_free(db->ex);
	if (db->lockfd >= 0)
		close(db->lockfd);
	pthread_rwlock_destroy(&db->maplock);
	pthread_rwlock_destroy(&db->cutlock);
	pthread_rwlock_destroy(&db->blocks_lock);
	pthread_mutex_destroy(&db->compact_mu);
	pthread_mutex_destroy(&db->stop_mu);
	pthread_mutex_destroy(&db->carry_mu);
	pthread_mutex_destroy(&db->ex_mu);
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
		rc = create ? db_series_resolve(db, &l, &s, why) : -ENOENT;
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
	struct series *s = db_series_get(db, id);
	if (!s)
		return -ENOENT;
	return obs_buf_append(out, s->canon, s->canonlen);
}

uint32_t obs_db_series_count(struct obs_db *db)
{
	return atomic_load(&db->nseries);
}

/* ---- index, errors, stats -------------------------------------------- */

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
		struct series *s = db_series_get(db, i);
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
	struct obs_exstore_stats xs;
	pthread_mutex_lock(&db->ex_mu);
	obs_exstore_get_stats(db->ex, &xs);
	pthread_mutex_unlock(&db->ex_mu);
	st->exemplars = xs.exemplars;
	st->exemplar_series = xs.series;
	st->exemplars_added = xs.added;
	st->exemplars_duplicate = xs.duplicates;
	st->exemplars_evicted = xs.evicted;
	st->exemplars_expired = xs.expired;
	st->exemplars_rejected = atomic_load(&db->ex_rejected);
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
	st->last_compact_cut_us = atomic_load(&db->last_cut_us);
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
