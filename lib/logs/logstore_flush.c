/* logstore_flush.c — writing the log store's segments (libobs logs):
 * cutting heads into segments (flush), retention, re-encoding segments at
 * the compaction level, and the background thread that does them.
 *
 * Every segment file (format in logseg.c) is written atomically: a temp
 * file DIR/streams/NAME/.tmp-SEQ.seg, written and fsynced, loaded back as a
 * segment, renamed to SEQ.seg, and the directory fsynced. The steps are
 * fault points PT.write, PT.fsync, PT.open, PT.rename and PT.dirsync, with
 * PT = logs.flush for a flush and logs.compact for a re-encoding. (Not
 * core/fileio's obs_atomic_commit: the segment is loaded back from the
 * temp file between its fsync and the rename, so that a file that does not
 * load never gets its final name, and a flush unlinks its new file again
 * when the directory fsync fails.)
 * - A flush writes a new file; on failure no new file remains (a rename
 *   whose directory fsync fails is unlinked again) and the records stay in
 *   the head and in the WAL, so nothing acknowledged is lost. After every
 *   stream's head is in a segment, the WAL segments before the flush's cut
 *   are removed.
 * - A re-encoding replaces a file with one holding the same records under
 *   the same name (same sequence numbers, same text offsets). A failure
 *   before the rename leaves the old file; after it the new file is the one
 *   served even if the directory fsync failed (the old one cannot be
 *   brought back).
 * - Retention unlinks whole segments, oldest first: by age of their newest
 *   record (opts.retention_ms) and by total bytes (opts.retention_bytes).
 * flush_mu serialises all of these (and rm). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/fileio.h"
#include "core/obstime.h"
#include "logs/logstore_int.h"
#include "core/wal.h"

static int write_atomic(const char *pt, const char *dir, const char *name, const void *data, size_t n,
			int undo, struct obs_logseg **seg)
{
	*seg = NULL;
	char tmp[4096], fin[4096];
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, name);
	snprintf(fin, sizeof(fin), "%s/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int r = obs_fault_step(pt, "write");
	if (!r)
		r = obs_write_all(fd, data, n);
	if (!r)
		r = obs_fault_step(pt, "fsync");
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r)
		r = obs_fault_step(pt, "open");
	if (!r)   /* the mapping outlives the rename: it is the file at fin after it */
		r = obs_logseg_open_as(tmp, fin, seg);
	if (!r)
		r = obs_fault_step(pt, "rename");
	if (!r && rename(tmp, fin) < 0)
		r = -errno;
	if (r) {
		obs_logseg_close(*seg);
		*seg = NULL;
		unlink(tmp);
		return r;
	}
	r = obs_fault_step(pt, "dirsync");
	if (!r)
		r = obs_fsync_dir(dir);
	if (r && undo) {
		unlink(fin);
		obs_logseg_close(*seg);
		*seg = NULL;
	}
	return r;
}


/* ---- flush and retention ------------------------------------------------ */

static int flush_stream(struct obs_logstore *ls, struct stream *s)
{
	struct head *f = s->frozen;
	struct obs_logseg_input in = { f->n, f->ts, NULL, f->len, f->first_seq };
	const char **lines = malloc((f->n ? f->n : 1) * sizeof(*lines));
	if (!lines)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++)
		lines[i] = f->data.data + f->off[i];
	in.line = lines;
	struct obs_buf out;
	obs_buf_init(&out);
	int r = obs_logseg_encode(&in, &ls->o.seg, &out);
	free(lines);
	char name[32], *path = NULL;
	snprintf(name, sizeof(name), "%016llx.seg", (unsigned long long)f->first_seq);
	if (r == 0 && asprintf(&path, "%s/%s", s->dir, name) < 0) {
		path = NULL;
		r = -ENOMEM;
	}
	struct obs_logseg *seg = NULL;
	if (r == 0)   /* on failure no new file: its records stay in the head and the WAL */
		r = write_atomic("logs.flush", s->dir, name, out.data, out.len, 1, &seg);
	obs_buf_release(&out);
	pthread_rwlock_wrlock(&s->lock);
	if (r == 0)
		r = ls_seg_add(s, seg, path);
	if (r == 0) {
		ls_seg_offsets(s);
		ls_head_release(s->frozen);
		free(s->frozen);
		s->frozen = NULL;
	} else {
		/* keep the records readable: put the frozen head back in front of the head */
		struct head *h = &s->head, merged;
		memset(&merged, 0, sizeof(merged));
		int m = ls_head_reserve(&merged, f->n + h->n, f->data.len + h->data.len);
		if (m == 0) {
			for (size_t i = 0; i < f->n; i++)
				ls_head_push(&merged, f->ts[i], f->data.data + f->off[i], f->len[i]);
			for (size_t i = 0; i < h->n; i++)
				ls_head_push(&merged, h->ts[i], h->data.data + h->off[i], h->len[i]);
			merged.first_seq = f->first_seq;
			merged.first_arrival = f->first_arrival;
			ls_head_release(h);
			*h = merged;
			ls_head_release(f);
			free(f);
			s->frozen = NULL;
		}
		obs_logseg_close(seg);
		free(path);
	}
	pthread_rwlock_unlock(&s->lock);
	return r;
}

/* A flush, retention or re-encoding runs under flush_mu over a snapshot of
 * the streams (held by reference): begin takes both (0 or -ENOMEM, then
 * nothing is held), end drops both. */
static int begin(struct obs_logstore *ls, struct stream ***v, size_t *n)
{
	pthread_mutex_lock(&ls->flush_mu);
	int r = ls_snapshot_streams(ls, v, n);
	if (r < 0)
		pthread_mutex_unlock(&ls->flush_mu);
	return r;
}

static void end(struct obs_logstore *ls, struct stream **v, size_t n)
{
	ls_release_streams(ls, v, n);
	pthread_mutex_unlock(&ls->flush_mu);
}

int obs_logstore_flush(struct obs_logstore *ls)
{
	struct stream **v;
	size_t n;
	int r = begin(ls, &v, &n);
	if (r < 0)
		return r;
	uint64_t segno = 0;
	if ((r = obs_wal_cut(ls->wal, &segno)) < 0)
		goto out;
	r = ls_carries_relog(ls);   /* on failure the WAL before the cut stays */
	/* everything in WAL segments < segno is now in some head: freeze them */
	for (size_t i = 0; i < n; i++) {
		struct stream *s = v[i];
		pthread_rwlock_wrlock(&s->lock);
		if (s->head.n && !s->frozen) {
			struct head *f = malloc(sizeof(*f));
			if (f) {
				*f = s->head;
				memset(&s->head, 0, sizeof(s->head));
				s->frozen = f;
			} else
				r = -ENOMEM;
		} else if (s->head.n)
			r = -ENOMEM;   /* a failed flush could not merge back: keep the WAL */
		pthread_rwlock_unlock(&s->lock);
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i]->frozen) {
			int e = flush_stream(ls, v[i]);
			if (e < 0 && !r)
				r = e;
		}
	}
	if (r == 0)
		r = obs_wal_remove_before(ls->wal, segno);
	__atomic_add_fetch(&ls->flushes, 1, __ATOMIC_RELAXED);
out:
	end(ls, v, n);
	return r;
}

static void drop_first_seg(struct obs_logstore *ls, struct stream *s)
{
	struct segent e = s->segs[0];
	s->text_base += obs_logseg_text_size(e.seg);
	memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
	s->nsegs--;
	unlink(e.path);
	obs_logseg_close(e.seg);
	free(e.path);
	__atomic_add_fetch(&ls->retained, 1, __ATOMIC_RELAXED);
}

int obs_logstore_retain(struct obs_logstore *ls, int64_t now_ms)
{
	struct stream **v;
	size_t n;
	int r = begin(ls, &v, &n);
	if (r < 0)
		return r;
	int64_t keep = ls->o.retention_ms;
	if (keep > 0) {
		for (size_t i = 0; i < n; i++) {
			struct stream *s = v[i];
			pthread_rwlock_wrlock(&s->lock);
			while (s->nsegs && s->segs[0].max_ts < now_ms - keep)
				drop_first_seg(ls, s);
			pthread_rwlock_unlock(&s->lock);
		}
	}
	if (ls->o.retention_bytes) {
		for (;;) {
			uint64_t total = 0;
			struct stream *oldest = NULL;
			for (size_t i = 0; i < n; i++) {
				struct stream *s = v[i];
				pthread_rwlock_rdlock(&s->lock);
				for (size_t k = 0; k < s->nsegs; k++)
					total += s->segs[k].bytes;
				if (s->nsegs && (!oldest || s->segs[0].max_ts < oldest->segs[0].max_ts))
					oldest = s;
				pthread_rwlock_unlock(&s->lock);
			}
			if (total <= ls->o.retention_bytes || !oldest)
				break;
			pthread_rwlock_wrlock(&oldest->lock);
			if (oldest->nsegs)
				drop_first_seg(ls, oldest);
			pthread_rwlock_unlock(&oldest->lock);
		}
	}
	end(ls, v, n);
	return 0;
}

/* ---- background re-encoding ---------------------------------------------- */

/* under flush_mu: re-encode segment old of s (at path) at the compaction
 * level: its frames are recompressed, its index copied (obs_logseg_reencode) */
static int recompact(struct obs_logstore *ls, struct stream *s, struct obs_logseg *old, const char *path)
{
	struct obs_buf out;
	obs_buf_init(&out);
	int r = obs_logseg_reencode(old, ls->o.compact_level, &out);
	const char *base = strrchr(path, '/') + 1;
	struct obs_logseg *seg = NULL;
	if (r == 0)   /* replaces the old file: same records, same sequence numbers */
		r = write_atomic("logs.compact", s->dir, base, out.data, out.len, 0, &seg);
	obs_buf_release(&out);
	if (!seg)
		return r;   /* the old file is still the one on disk */
	/* renamed (even if the directory fsync then failed): the new file is
	 * the one at path, so it is the one memory serves from now on */
	pthread_rwlock_wrlock(&s->lock);
	for (size_t i = 0; i < s->nsegs; i++)
		if (s->segs[i].seg == old) {
			struct obs_logseg_info ni;
			obs_logseg_get_info(seg, &ni);
			s->segs[i].seg = seg;
			s->segs[i].bytes = ni.file_bytes;
			seg = old;
			break;
		}
	pthread_rwlock_unlock(&s->lock);
	obs_logseg_close(seg);   /* the old one (or the new one if the old was dropped meanwhile) */
	if (r == 0)
		__atomic_add_fetch(&ls->compactions, 1, __ATOMIC_RELAXED);
	return r;
}

int obs_logstore_compact(struct obs_logstore *ls, int max)
{
	if (ls->o.compact_level < 0)
		return 0;
	int done = 0, r = 0;
	struct stream **v;
	size_t n;
	if ((r = begin(ls, &v, &n)) < 0)
		return r;
	for (size_t i = 0; i < n && !r && (!max || done < max); i++) {
		struct stream *s = v[i];
		for (;;) {
			/* segments change only under flush_mu, which we hold */
			struct obs_logseg *seg = NULL;
			char *path = NULL;
			pthread_rwlock_rdlock(&s->lock);
			for (size_t k = 0; k < s->nsegs && !seg; k++) {
				struct obs_logseg_info in;
				obs_logseg_get_info(s->segs[k].seg, &in);
				if (in.level < ls->o.compact_level) {
					seg = s->segs[k].seg;
					path = strdup(s->segs[k].path);
				}
			}
			pthread_rwlock_unlock(&s->lock);
			if (!seg)
				break;
			r = path ? recompact(ls, s, seg, path) : -ENOMEM;
			free(path);
			if (r < 0 || (max && ++done >= max))
				break;
		}
	}
	end(ls, v, n);
	return r;
}

void *ls_flusher(void *arg)
{
	struct obs_logstore *ls = arg;
	int64_t last_retain = 0;
	/* after a failed flush or re-encoding (ENOSPC, EIO) wait before the
	 * next try, doubling up to a minute: the head and the WAL keep every
	 * record meanwhile, and a full disk is not hammered every second */
	int64_t retry_at = 0, backoff = 0;
	pthread_mutex_lock(&ls->mu);
	while (!ls->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&ls->cond, &ls->mu, &ts);
		if (ls->stopping)
			break;
		pthread_mutex_unlock(&ls->mu);
		/* a stream's lock is never taken under ls->mu (rm takes ls->mu
		 * under it): look at a snapshot */
		uint64_t bytes = 0;
		int64_t oldest = INT64_MAX;
		struct stream **v;
		size_t nv;
		if (ls_snapshot_streams(ls, &v, &nv) == 0) {
			for (size_t i = 0; i < nv; i++) {
				struct stream *s = v[i];
				pthread_rwlock_rdlock(&s->lock);
				bytes += s->head.data.len;
				if (s->head.n && s->head.first_arrival < oldest)
					oldest = s->head.first_arrival;
				pthread_rwlock_unlock(&s->lock);
			}
			ls_release_streams(ls, v, nv);
		}
		int64_t now = obs_time_now();
		int e = 0, tried = now >= retry_at;
		if (!tried)
			;
		else if (bytes >= ls->o.head_bytes || (oldest != INT64_MAX && now - oldest >= ls->o.head_age_ms))
			e = obs_logstore_flush(ls);
		else if (bytes < ls->o.head_bytes / 2)
			e = obs_logstore_compact(ls, 1);   /* one segment per idle round */
		if (tried) {
			backoff = e < 0 ? (backoff ? (backoff * 2 > 60000 ? 60000 : backoff * 2) : 1000) : 0;
			retry_at = now + backoff;
		}
		if (now - last_retain >= 10000) {
			obs_logstore_retain(ls, now);
			last_retain = now;
		}
		pthread_mutex_lock(&ls->mu);
	}
	pthread_mutex_unlock(&ls->mu);
	return NULL;
}

