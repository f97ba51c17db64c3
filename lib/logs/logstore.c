/* logstore.c — log streams (libobs logs): opening and closing the store,
 * create, rm, sync and the stream listing (API and directory layout in
 * logstore.h). The other parts, sharing logstore_int.h:
 * logstore_stream.c (streams, heads, loading), logstore_wal.c (the WAL
 * records, their layouts and the recovery rule), logstore_flush.c
 * (segments written: flush, retention, re-encoding; the atomic-write
 * rule), logstore_read.c (searches and text); segments themselves are
 * logseg.c.
 *
 * Open: load every stream directory's segments (setting each stream's
 * next sequence number past its last segment), replay the WAL (records
 * below it are skipped: they are in a segment already), open the WAL for
 * appending in a new segment, then turn carries still pending into
 * records, and start the background thread.
 *
 * Locking: ls->mu guards the stream table, the removal table (tombs) and
 * stream refcounts; each stream's rwlock guards its head, frozen head and
 * segment list (appends and flush installs take it for writing, reads for
 * reading). A stream is freed by whoever drops its last reference after rm
 * marked it removed (rm holds one itself while it deletes the files);
 * removed is set under both ls->mu and the stream's lock, so an append that
 * holds the lock sees it and goes to the stream of that name instead.
 * carry_mu guards the carry table and keeps carry records in table order in
 * the WAL. Lock order: flush_mu, then a stream's lock, then ls->mu, then
 * carry_mu (nothing takes a stream's lock while holding ls->mu). flush_mu
 * serialises flushes, retention, re-encoding and rm. Segments are
 * immutable, so a reader holding the stream's read lock may search them at
 * length. */
#include "logs/logstore.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/obstime.h"
#include "logs/logstore_int.h"
#include "core/wal.h"

int obs_logstore_open(const char *dir, const struct obs_logstore_opts *o, struct obs_logstore **out)
{
	struct obs_logstore *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	if (o)
		ls->o = *o;
	if (!ls->o.max_line)
		ls->o.max_line = 64 * 1024;
	if (!ls->o.head_bytes)
		ls->o.head_bytes = 64u << 20;
	if (!ls->o.head_age_ms)
		ls->o.head_age_ms = 10 * 60 * 1000;
	if (!ls->o.retention_ms)
		ls->o.retention_ms = 15LL * 86400 * 1000;
	if (!ls->o.seg.level)
		ls->o.seg.level = 3;
	if (!ls->o.seg.frame_bytes)
		ls->o.seg.frame_bytes = 4u << 20;
	if (!ls->o.compact_level)
		ls->o.compact_level = 15;
	pthread_mutex_init(&ls->mu, NULL);
	pthread_mutex_init(&ls->flush_mu, NULL);
	pthread_mutex_init(&ls->carry_mu, NULL);
	pthread_cond_init(&ls->cond, NULL);
	if (getrandom(&ls->epoch, sizeof(ls->epoch), 0) != (ssize_t)sizeof(ls->epoch))
		ls->epoch = (uint64_t)obs_time_now() << 20 ^ (uint64_t)getpid();
	int r = -ENOMEM;
	char *wdir = NULL;
	if (!(ls->dir = strdup(dir)) || asprintf(&ls->sdir, "%s/streams", dir) < 0 ||
	    asprintf(&wdir, "%s/wal", dir) < 0 || !(ls->map = obs_strmap_new()) || !(ls->tombs = obs_strmap_new())) {
		ls->sdir = NULL;
		goto fail;
	}
	if ((r = ls_mkdir(dir)) < 0 || (r = ls_mkdir(ls->sdir)) < 0)
		goto fail;
	DIR *d = opendir(ls->sdir);
	if (!d) {
		r = -errno;
		goto fail;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if ((r = ls_load_stream_dir(ls, de->d_name)) < 0) {
			closedir(d);
			goto fail;
		}
	}
	closedir(d);
	if ((r = obs_wal_replay(wdir, ls_replay_cb, ls, NULL)) < 0)
		goto fail;
	struct obs_wal_opts wo = { 0, ls->o.wal_sync_ms };
	if ((r = obs_wal_open(wdir, &wo, &ls->wal)) < 0)
		goto fail;
	free(wdir);
	wdir = NULL;
	if ((r = ls_carries_recover(ls)) < 0)
		goto fail;
	if (!ls->o.no_background) {
		if ((r = -pthread_create(&ls->thr, NULL, ls_flusher, ls)) < 0)
			goto fail;
		ls->thr_on = 1;
	}
	*out = ls;
	return 0;
fail:
	free(wdir);
	obs_logstore_close(ls);
	return r;
}

void obs_logstore_close(struct obs_logstore *ls)
{
	if (!ls)
		return;
	if (ls->thr_on) {
		pthread_mutex_lock(&ls->mu);
		ls->stopping = 1;
		pthread_cond_broadcast(&ls->cond);
		pthread_mutex_unlock(&ls->mu);
		pthread_join(ls->thr, NULL);
	}
	obs_wal_close(ls->wal);
	for (size_t i = 0; i < ls->ncarries; i++) {
		free(ls->carries[i].stream);
		free(ls->carries[i].data);
	}
	free(ls->carries);
	pthread_mutex_destroy(&ls->carry_mu);
	for (size_t i = 0; i < ls->nall; i++)
		ls_stream_free(ls->all[i]);
	free(ls->all);
	obs_strmap_free(ls->map);
	if (ls->tombs)
		obs_strmap_each(ls->tombs, ls_tomb_free, NULL);
	obs_strmap_free(ls->tombs);
	pthread_mutex_destroy(&ls->mu);
	pthread_mutex_destroy(&ls->flush_mu);
	pthread_cond_destroy(&ls->cond);
	free(ls->dir);
	free(ls->sdir);
	free(ls);
}


int obs_logstore_create(struct obs_logstore *ls, const char *stream)
{
	struct stream *s;
	int r = ls_stream_get(ls, stream, 1, &s);
	if (r < 0)
		return r;
	ls_stream_put(ls, s);
	return obs_fsync_dir(ls->sdir);
}

int obs_logstore_exists(struct obs_logstore *ls, const char *stream)
{
	struct stream *s;
	if (ls_stream_get(ls, stream, 0, &s) < 0)
		return 0;
	ls_stream_put(ls, s);
	return 1;
}

/* WAL record type 4: u16 namelen | name | u64 end_seq */

int obs_logstore_remove(struct obs_logstore *ls, const char *stream)
{
	struct stream *s;
	pthread_mutex_lock(&ls->flush_mu);
	int r = ls_stream_get(ls, stream, 0, &s);
	if (r < 0) {
		pthread_mutex_unlock(&ls->flush_mu);
		return r;
	}
	pthread_rwlock_wrlock(&s->lock);
	pthread_mutex_lock(&ls->mu);
	struct obs_strmap *nm = NULL;
	if (s->removed)
		r = -ENOENT;
	if (r == 0)
		r = ls_table_without(ls, s, &nm);
	if (r == 0)   /* before the record: once it is written nothing may fail */
		r = ls_tomb_set(ls, s->name, s->next_seq);
	if (r == 0) {
		pthread_mutex_lock(&ls->carry_mu);
		if ((r = ls_removed_log(ls, s->name, s->next_seq)) == 0)
			ls_carries_drop_stream(ls, s->name);
		pthread_mutex_unlock(&ls->carry_mu);
	}
	if (r == 0)
		ls_table_install(ls, s, nm);
	else
		obs_strmap_free(nm);
	pthread_mutex_unlock(&ls->mu);
	pthread_rwlock_unlock(&s->lock);
	if (r < 0) {
		pthread_mutex_unlock(&ls->flush_mu);
		ls_stream_put(ls, s);
		return r;
	}
	/* durable before any file goes; the stream is gone either way (the
	 * record is in the WAL), a failed fsync is reported */
	r = obs_wal_sync(ls->wal);
	/* only flushes and re-encoding write segments, and they wait for
	 * flush_mu: the directory holds nothing of a re-created stream yet */
	ls_purge_dir(s->dir);
	pthread_mutex_lock(&ls->mu);
	size_t nl = strlen(stream);
	if (!obs_strmap_get(ls->map, obs_strmap_hash(stream, nl), stream, nl))
		rmdir(s->dir);   /* not re-created meanwhile (that would share it) */
	pthread_mutex_unlock(&ls->mu);
	obs_fsync_dir(ls->sdir);
	pthread_mutex_unlock(&ls->flush_mu);
	ls_stream_put(ls, s);   /* the last holder frees it */
	return r;
}

int obs_logstore_sync(struct obs_logstore *ls)
{
	return obs_wal_sync(ls->wal);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int obs_logstore_streams(struct obs_logstore *ls, int (*fn)(void *ctx, const char *stream), void *ctx)
{
	pthread_mutex_lock(&ls->mu);
	char **names = malloc((ls->nall ? ls->nall : 1) * sizeof(*names));
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; names && i < ls->nall; i++)
		if (!(names[n++] = strdup(ls->all[i]->name)))
			r = -ENOMEM;
	pthread_mutex_unlock(&ls->mu);
	if (!names)
		return -ENOMEM;
	if (r == 0) {
		qsort(names, n, sizeof(*names), cmp_str);
		for (size_t i = 0; i < n && !r; i++)
			r = fn(ctx, names[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

