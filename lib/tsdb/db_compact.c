/* db_compact.c — blocks: loading, compaction, merges, retention, and the
 * background compactor.
 *
 * Compaction protocol (obs_db_compact, one at a time under compact_mu):
 *   1. cut: under cutlock exclusive (no batch is half applied) the WAL is cut
 *      (a new segment starts) and every series' chunks move to its frozen set,
 *      at one instant: every record before the cut is in the frozen set, every
 *      record after it is not. Each series' floor_t becomes its last frozen
 *      sample: older samples are refused from then on. Series in no block and
 *      not frozen and the pending carries are logged again right after the
 *      cut (SERIESV, CARRY: db_wal.c), so the segments after the cut name
 *      every series and carry they need; an EXRELOG record opens the
 *      exemplars' relog. With cutlock released, the exemplars held at the
 *      cut are logged again while writes go on (EXRELOG, db_exemplar.c);
 *      a failure there fails the compaction as one at the cut does.
 *   2. write: the frozen chunks (readable meanwhile; only this function
 *      changes a frozen set) become a level-1 block (block.c: tmp dir, fsync,
 *      rename, dir fsync). A failure gives the frozen chunks back to the head
 *      and the floors their old values (head_unfreeze): the WAL before the
 *      cut still holds them.
 *   3. register: the block joins db->blocks and the frozen sets are dropped in
 *      one step for readers (blocks_lock). Not registered: the block is
 *      removed again and the head unfrozen.
 *   4. retire: the records after the cut are fsynced, the segments before it
 *      removed; then merges and retention run. A crash anywhere leaves the
 *      old segments (replayed; samples <= floor_t skipped, which makes the
 *      replay idempotent) or the registered block, or both.
 * Fault points: compact.cut, compact.freeze, compact.relog, compact.exrelog
 * (each EXRELOG record after the FIRST), compact.register,
 * compact.sync, compact.remove, merge.register, and the block writer's.
 *
 * Merges: OBS_MERGE_FANIN blocks of one level become one block of the next
 * (up to OBS_MAX_LEVEL) and their rollups (tiers.h); the merged block names
 * its parents, and a parent still present at open (a crash after the commit)
 * is deleted then.
 * Retention drops blocks whose maxt is older than retention_ms (a series
 * left in no block is logged again first), the rollup tiers' old files and
 * exemplars older than exemplar_retention_ms. */
#include "tsdb/db_int.h"

#include "core/corrupt.h"

/* Remove a block's directory so that a crash half-way (kill -9 between
 * two unlinks) never leaves a damaged block under its name, which the next
 * open would refuse: it is renamed to a temporary name first (".tmp-rm-ID",
 * which obs_block_gc_tmp removes at the next open), then deleted. When the
 * rename fails it is deleted where it is. */
static void block_remove(const char *path)
{
	const char *slash = strrchr(path, '/');
	char tmp[4700];
	if (slash && snprintf(tmp, sizeof tmp, "%.*s/.tmp-rm-%s", (int)(slash - path), path, slash + 1) <
			     (int)sizeof tmp &&
	    !rename(path, tmp)) {
		char dir[4700];
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
		obs_fsync_dir(dir);
		path = tmp;
	}
	obs_rm_tree(path);
}

/* ---- loading ------------------------------------------------------- */

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
		struct series *s = db_series_get(db, id);
		if (!s) {
			struct obs_labels l;
			const char *why;
			if (obs_labels_parse(canon, len, &l, &why)) {
				rc = obs_corruptf(obs_block_dir(b), 0, "index: series %u: text does not parse: %s", id, why);
				break;
			}
			pthread_rwlock_wrlock(&db->maplock);
			rc = db_series_insert(db, id, canon, len, &l, obs_strmap_hash(canon, len), &s);
			pthread_rwlock_unlock(&db->maplock);
			obs_labels_release(&l);
			if (rc)
				break;
		} else if (s->canonlen != len || memcmp(s->canon, canon, len)) {
			rc = obs_corruptf(obs_block_dir(b), 0, "index: series id %u names '%.*s', another block says '%.*s'", id,
					 (int)(len > 200 ? 200 : len), canon, (int)(s->canonlen > 200 ? 200 : s->canonlen),
					 s->canon);
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
int db_blocks_load(struct obs_db *db, char *err, size_t errlen)
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
			block_remove(path);
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
		int rc = db_push_range(c[i].data, c[i].len, c[i].n, INT64_MIN, INT64_MAX, out);
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
			db_sort_samples(&smp, 0);
			struct series *s = db_series_get(db, id);
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
			block_remove(path);
			obs_fsync_dir(dir);
			return rc;
		}
		for (size_t k = 0; k < cnt; k++) {
			char ipath[4600];
			snprintf(ipath, sizeof ipath, "%s", obs_block_dir(in[k]));
			obs_tiers_drop(db->tiers, obs_block_id(in[k]));
			obs_block_close(in[k]);
			block_remove(ipath);
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
		int rc = db_series_cut(s);
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
		struct series *s = db_series_get(db, i);
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

int obs_db_compact(struct obs_db *db)
{
	pthread_mutex_lock(&db->compact_mu);
	int64_t t0 = obs_time_now();
	uint64_t segno = 0, exmark = 0;
	uint32_t n = 0;
	struct head_save hs;
	db_exemplars_expire(db, t0);   /* what would expire is not relogged */

	/* 1. freeze the head and cut the WAL at one instant; the series count is
	 * taken under the same lock, so every series whose SERIES record is
	 * before the cut is below n (db_series_resolve logs under cutlock) */
	pthread_rwlock_wrlock(&db->cutlock);
	struct timespec cut0, cut1;
	clock_gettime(CLOCK_MONOTONIC, &cut0);
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
		struct series *s = db_series_get(db, i);
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
		rc = db_series_relog_after_cut(db, n);
	if (!rc)
		rc = db_carries_relog(db);
	if (!rc)
		rc = db_exemplars_relog_begin(db, &exmark);
	if (!rc) {
		atomic_store(&db->head_mint, INT64_MAX);
		atomic_store(&db->head_maxt, INT64_MIN);
		atomic_store(&db->head_samples, 0);
		atomic_store(&db->head_since, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &cut1);
	pthread_rwlock_unlock(&db->cutlock);
	atomic_store(&db->last_cut_us,
		     (int64_t)(cut1.tv_sec - cut0.tv_sec) * 1000000 + (cut1.tv_nsec - cut0.tv_nsec) / 1000);
	if (rc) {
		head_unfreeze(db, n, &(struct head_save){ INT64_MAX, INT64_MIN, 0, 0 });
		goto out;
	}
	/* the exemplars held at the cut, logged again while writes go on
	 * (db_exemplar.c); without them the old segments must stay */
	rc = db_exemplars_relog(db, exmark);
	if (rc) {
		head_unfreeze(db, n, &hs);
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
			struct series *s = db_series_get(db, i);
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
		struct series *s = db_series_get(db, i);
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
		block_remove(path);
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
	db_exemplars_expire(db, now_ms);
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
			if (obs_block_series(db->blocks[i], k, &id, &canon, &len) || !(s = db_series_get(db, id)))
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
		struct series *s = db_series_get(db, id);
		if (b == db->nblocks && s) {
			int r = db->wal ? db_series_relog(db, s) : 0;
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
		block_remove(paths[k]);
	atomic_fetch_add(&db->retired, np);
	obs_tiers_retain(db->tiers, now_ms, db->o.tier_retention_ms);
	pthread_mutex_unlock(&db->compact_mu);
	return rc ? rc : (int)np;
}

/* Background: compact when the head spans block_span or holds too many
 * samples; apply retention. Errors are kept for the next try (the head and
 * the WAL stay intact when a compaction fails). */
void *db_compactor_main(void *arg)
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
