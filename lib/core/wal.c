/* wal.c — write-ahead log: numbered segment files of checksummed records.
 *
 * ON-DISK FORMAT
 *
 * A WAL is a directory of segment files named by their number, zero-padded
 * decimal of at least 8 digits: DIR/00000001.wal, DIR/00000002.wal, ...
 * (exactly the form "%08llu.wal"; other names in the directory are ignored).
 * Numbers start at 1 and are contiguous from the first present segment to the
 * last (checkpointing removes a prefix, never a middle segment).
 *
 * A segment starts with a 16-byte header, all integers little-endian:
 *
 *     0   8  magic "OBSWAL1\n"
 *     8   4  format version (1)
 *    12   4  CRC-32C of bytes 0..11
 *
 * followed by records, back to back, no padding:
 *
 *     0   4  n, payload length in bytes (at most 256 MiB)
 *     4   1  record type (opaque to the WAL)
 *     5   4  CRC-32C of bytes 0..4 (length and type) followed by the payload
 *     9   n  payload
 *
 * VALIDITY. A record is valid when its 9 header bytes and its n payload bytes
 * lie inside the file, n <= 256 MiB, and the CRC matches. The length is
 * checked against the bytes left in the file before anything is read or
 * allocated, so a damaged length is never trusted. A segment is valid when its
 * header is (a good magic and CRC with an unknown version is -ENOTSUP, never
 * truncated) and every record up to the end of the file is.
 *
 * WRITING. Each record is one pwritev(2) at the end of the current segment,
 * under a mutex, so once obs_wal_append() returns the record is in the kernel
 * and survives kill -9. A short write (ENOSPC, EFBIG half-way) is retried for
 * the rest; if that fails the file is cut back (ftruncate) to the record's
 * start and the error returned. If the cut-back itself fails, the WAL turns
 * read-only: every later call returns that error. The same holds after a
 * failed fsync (the kernel may have dropped the dirty pages).
 * Durability against machine crashes: obs_wal_sync(), or the group-commit
 * thread every sync_interval_ms, fdatasync()s the current segment when
 * something was appended since the last sync. A new segment is started when a
 * record would push the current one past segment_bytes (a record bigger than
 * that gets a segment of its own); the old segment is fdatasync()ed before the
 * new one is created, the new one's header is fdatasync()ed and then the
 * directory is fsync()ed. So at any time every segment but the last is
 * complete on disk.
 *
 * RECOVERY (obs_wal_replay, and obs_wal_open for the last segment). Segments
 * are read in order (mmap) and each record is verified. In the LAST segment
 * the first invalid or short record starts a torn tail: the file is truncated
 * there, fdatasync()ed, the cut bytes are counted in torn_bytes, and replay
 * ends successfully. A last segment whose header is short or bad holds no
 * records: it is removed (and the directory fsync()ed). In an earlier segment
 * any invalid record or header, and a gap in the numbering, is corruption:
 * -EBADMSG, and nothing is changed on disk. Opening a WAL repairs the last
 * segment the same way and then appends into a new segment after it, so a
 * torn tail never ends up in the middle of the log.
 *
 * RECOVERY OF A DAMAGED WAL (obs_wal_replay_recover, and obs_wal_open with
 * obs_wal_open_recover). An invalid record anywhere does not stop the scan: from
 * the byte after it, the next offset where a record validates (length in
 * the file, CRC matching) is searched byte by byte and replay goes on from
 * there; the bytes passed over are counted in skipped_bytes. An earlier
 * segment with a bad header is passed over whole, a gap in the numbering is
 * counted in skipped_segments. Only the tail after the last valid record of
 * the last segment is truncated. Nothing else is changed on disk.
 *
 * LOCKING. obs_wal_open() holds an exclusive flock(2) on the directory until
 * obs_wal_close(); obs_wal_replay() takes it for its duration. A second open,
 * or a replay (which may truncate) of a WAL that is open, fails with -EBUSY
 * instead of cutting records that are being written. Replay first, then open.
 *
 * This file writes (open, append, sync, cut, checkpoint); replay and
 * recovery are in wal_read.c, the shared constants in wal_int.h.
 */
#include "core/wal.h"
#include "core/wal_int.h"

#include "core/bytes.h"
#include "core/corrupt.h"
#include "core/crc32c.h"
#include "core/vec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SEG_DEFAULT     ((size_t)64 << 20)

struct obs_wal {
	int dirfd;
	size_t segment_bytes;
	int sync_ms;

	/* sync_mu serializes fdatasync() of the current fd with closing it
	 * (segment cut) and with checkpoint removal. Lock order: sync_mu, mu. */
	pthread_mutex_t sync_mu;
	pthread_mutex_t mu;     /* protects everything below */
	pthread_cond_t cv;      /* wakes the group-commit thread to stop */
	int fd;                 /* current segment, open for writing */
	uint64_t seg;           /* its number */
	uint64_t seg_size;      /* its length */
	uint64_t seq;           /* records appended since open */
	uint64_t synced;        /* seq value known to be on disk */
	int broken;             /* sticky -errno: the WAL refuses writes */
	bool stop;
	bool thr_on;
	pthread_t thr;
	uint64_t first_seg, nsegs, bytes, syncs, torn_bytes;
};

/* ---- little helpers ------------------------------------------------------ */

const char *wal_seg_path(char *buf, size_t sz, const char *dir, const char *name)
{
	snprintf(buf, sz, "%s/%s", dir, name);
	return buf;
}

void wal_seg_name(char *buf, size_t sz, uint64_t seg)
{
	snprintf(buf, sz, "%08" PRIu64 ".wal", seg);
}

/* The number of a segment file name in canonical form, or 0. */
static uint64_t seg_parse(const char *name)
{
	size_t len = strlen(name), i;
	if (len < 12 || len > 24 || strcmp(name + len - 4, ".wal"))
		return 0;
	uint64_t v = 0;
	for (i = 0; i < len - 4; i++) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		unsigned d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	char canon[32];
	wal_seg_name(canon, sizeof canon, v);
	return v && !strcmp(canon, name) ? v : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted segment numbers of the directory dfd into *out (caller frees). */
int wal_seg_list(int dfd, uint64_t **out, size_t *count)
{
	int fd = dup(dfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int err = -errno;
		close(fd);
		return err;
	}
	rewinddir(d);
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	int err = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		uint64_t s = seg_parse(de->d_name);
		if (!s)
			continue;
		if ((err = OBS_VEC_RESERVE_FROM(v, cap, n + 1, 16)) != 0)
			break;
		v[n++] = s;
		errno = 0;
	}
	if (!err && errno)
		err = -errno;
	closedir(d);
	if (err) {
		free(v);
		return err;
	}
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_u64);
	*out = v;
	*count = n;
	return 0;
}

static int mkdir_p(const char *path)
{
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	int err = 0;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || !*s) {
			char c = *s;
			*s = 0;
			if (mkdir(p, 0755) && errno != EEXIST) {
				err = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return err;
}

/* Write every iov at off, retrying short writes. Returns 0 or -errno and
 * the number of bytes that did reach the file in *done. */
static int pwritev_all(int fd, struct iovec *iov, int cnt, off_t off, size_t *done)
{
	*done = 0;
	while (cnt > 0) {
		ssize_t r = pwritev(fd, iov, cnt, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENOSPC;
		*done += (size_t)r;
		off += r;
		size_t left = (size_t)r;
		while (cnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* ---- writing ----------------------------------------------------------- */

/* Create segment seg with its header, durable (file and directory). */
static int seg_create(int dfd, uint64_t seg, int *fdp)
{
	char name[32];
	wal_seg_name(name, sizeof name, seg);
	int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	unsigned char h[WAL_HDR];
	memcpy(h, WAL_MAGIC, 8);
	obs_put_le32(h + 8, WAL_VERSION);
	obs_put_le32(h + 12, obs_crc32c(0, h, 12));
	struct iovec iov = { h, sizeof h };
	size_t done;
	int err = pwritev_all(fd, &iov, 1, 0, &done);
	if (!err && fdatasync(fd))
		err = -errno;
	if (!err && fsync(dfd))
		err = -errno;
	if (err) {
		close(fd);
		unlinkat(dfd, name, 0);
		return err;
	}
	*fdp = fd;
	return 0;
}

/* Finish the current segment (durably) and start the next. Holds sync_mu and mu. */
static int wal_rotate(struct obs_wal *w)
{
	if (w->seq != w->synced) {
		if (fdatasync(w->fd)) {
			w->broken = -errno;
			return w->broken;
		}
		w->syncs++;
	}
	w->synced = w->seq;
	int fd;
	int err = seg_create(w->dirfd, w->seg + 1, &fd);
	if (err)
		return err;
	close(w->fd);
	w->fd = fd;
	w->seg++;
	w->seg_size = WAL_HDR;
	w->nsegs++;
	w->bytes += WAL_HDR;
	return 0;
}

static void *wal_timer(void *arg)
{
	struct obs_wal *w = arg;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		next.tv_sec += w->sync_ms / 1000;
		next.tv_nsec += (long)(w->sync_ms % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		int rc = 0;
		while (!w->stop && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&w->cv, &w->mu, &next);
		if (w->stop)
			break;
		bool dirty = w->seq != w->synced;
		pthread_mutex_unlock(&w->mu);
		if (dirty)
			obs_wal_sync(w);    /* an error sticks in w->broken */
		pthread_mutex_lock(&w->mu);
		/* never try to catch up a backlog of missed ticks */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next.tv_sec + 1)
			next = now;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int wal_open(const char *dir, const struct obs_wal_opts *opts, bool recover, struct obs_wal **out);

int obs_wal_open(const char *dir, const struct obs_wal_opts *opts, struct obs_wal **out)
{
	return wal_open(dir, opts, false, out);
}

int obs_wal_open_recover(const char *dir, const struct obs_wal_opts *opts, struct obs_wal **out)
{
	return wal_open(dir, opts, true, out);
}

static int wal_open(const char *dir, const struct obs_wal_opts *opts, bool recover, struct obs_wal **out)
{
	if (!dir || !*dir || !out)
		return -EINVAL;
	int err = mkdir_p(dir);
	if (err)
		return err;
	struct obs_wal *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->fd = -1;
	w->segment_bytes = opts && opts->segment_bytes ? opts->segment_bytes : SEG_DEFAULT;
	w->sync_ms = opts && opts->sync_interval_ms > 0 ? opts->sync_interval_ms : 0;
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		err = -errno;
		free(w);
		return err;
	}
	struct obs_wal_stats st;
	err = wal_lock(w->dirfd);
	if (!err)
		err = wal_recover(dir, w->dirfd, true, recover, NULL, NULL, &st);
	if (!err)
		err = seg_create(w->dirfd, st.last_seg + 1, &w->fd);
	if (err) {
		close(w->dirfd);
		free(w);
		return err;
	}
	w->seg = st.last_seg + 1;
	w->seg_size = WAL_HDR;
	w->first_seg = st.first_seg ? st.first_seg : w->seg;
	w->nsegs = st.segments + 1;
	w->bytes = st.bytes + WAL_HDR;
	w->torn_bytes = st.torn_bytes;

	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->sync_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (w->sync_ms > 0) {
		err = -pthread_create(&w->thr, NULL, wal_timer, w);
		if (err) {
			obs_wal_close(w);
			return err;
		}
		w->thr_on = true;
	}
	*out = w;
	return 0;
}

void obs_wal_close(struct obs_wal *w)
{
	if (!w)
		return;
	if (w->thr_on) {
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thr, NULL);
	}
	obs_wal_sync(w);
	close(w->fd);
	close(w->dirfd);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->sync_mu);
	free(w);
}

int obs_wal_append2(struct obs_wal *w, uint8_t type, const void *a, size_t an,
		    const void *b, size_t bn)
{
	if (!w || (an && !a) || (bn && !b))
		return -EINVAL;
	if (an > REC_MAX || bn > REC_MAX - an)
		return -EMSGSIZE;
	size_t n = an + bn;
	unsigned char h[REC_HDR];
	obs_put_le32(h, (uint32_t)n);
	h[4] = type;
	uint32_t crc = obs_crc32c(0, h, 5);
	if (an)
		crc = obs_crc32c(crc, a, an);
	if (bn)
		crc = obs_crc32c(crc, b, bn);
	obs_put_le32(h + 5, crc);
	uint64_t rec = REC_HDR + (uint64_t)n;

	pthread_mutex_lock(&w->mu);
	int err = w->broken;
	if (!err && w->seg_size > WAL_HDR && w->seg_size + rec > w->segment_bytes) {
		pthread_mutex_unlock(&w->mu);
		pthread_mutex_lock(&w->sync_mu);
		pthread_mutex_lock(&w->mu);
		err = w->broken;
		if (!err && w->seg_size > WAL_HDR && w->seg_size + rec > w->segment_bytes)
			err = wal_rotate(w);
		pthread_mutex_unlock(&w->sync_mu);
	}
	if (err)
		goto out;

	struct iovec iov[3];
	int cnt = 0;
	iov[cnt++] = (struct iovec){ h, REC_HDR };
	if (an)
		iov[cnt++] = (struct iovec){ (void *)a, an };
	if (bn)
		iov[cnt++] = (struct iovec){ (void *)b, bn };
	size_t done;
	err = pwritev_all(w->fd, iov, cnt, (off_t)w->seg_size, &done);
	if (err) {
		/* nothing half-written may stay: cut back to the record start */
		if (done && ftruncate(w->fd, (off_t)w->seg_size))
			w->broken = -errno;
		goto out;
	}
	w->seg_size += rec;
	w->bytes += rec;
	w->seq++;
out:
	pthread_mutex_unlock(&w->mu);
	return err;
}

int obs_wal_append(struct obs_wal *w, uint8_t type, const void *p, size_t n)
{
	return obs_wal_append2(w, type, p, n, NULL, 0);
}

int obs_wal_sync(struct obs_wal *w)
{
	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->sync_mu);
	pthread_mutex_lock(&w->mu);
	int err = w->broken;
	uint64_t target = w->seq;
	int fd = w->fd;
	if (err || target == w->synced) {
		pthread_mutex_unlock(&w->mu);
		pthread_mutex_unlock(&w->sync_mu);
		return err;
	}
	pthread_mutex_unlock(&w->mu);
	/* appends go on meanwhile; the fd stays open because sync_mu is held */
	if (fdatasync(fd))
		err = -errno;
	pthread_mutex_lock(&w->mu);
	if (err) {
		w->broken = err;
	} else {
		if (target > w->synced)
			w->synced = target;
		w->syncs++;
	}
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_unlock(&w->sync_mu);
	return err;
}

int obs_wal_cut(struct obs_wal *w, uint64_t *segno)
{
	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->sync_mu);
	pthread_mutex_lock(&w->mu);
	int err = w->broken;
	if (!err && w->seg_size > WAL_HDR)
		err = wal_rotate(w);    /* an empty current segment is already a cut */
	if (!err && segno)
		*segno = w->seg;
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_unlock(&w->sync_mu);
	return err;
}

int obs_wal_remove_before(struct obs_wal *w, uint64_t segno)
{
	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->sync_mu);
	pthread_mutex_lock(&w->mu);
	uint64_t cur = w->seg;
	pthread_mutex_unlock(&w->mu);
	int err = 0;
	uint64_t *segs = NULL;
	size_t n = 0, removed = 0;
	uint64_t freed = 0;
	if (segno > cur) {
		err = -EINVAL;
		goto out;
	}
	err = wal_seg_list(w->dirfd, &segs, &n);
	if (err)
		goto out;
	/* ascending, so a crash half-way leaves a contiguous suffix */
	for (size_t i = 0; i < n && segs[i] < segno; i++) {
		char name[32];
		struct stat sb;
		wal_seg_name(name, sizeof name, segs[i]);
		if (fstatat(w->dirfd, name, &sb, 0) == 0)
			freed += (uint64_t)sb.st_size;
		if (unlinkat(w->dirfd, name, 0) && errno != ENOENT) {
			err = -errno;
			break;
		}
		removed++;
	}
	if (removed && fsync(w->dirfd) && !err)
		err = -errno;
	pthread_mutex_lock(&w->mu);
	w->nsegs -= removed <= w->nsegs ? removed : w->nsegs;
	w->bytes -= freed <= w->bytes ? freed : w->bytes;
	if (removed)
		w->first_seg = removed < n ? segs[removed] : w->seg;
	pthread_mutex_unlock(&w->mu);
out:
	free(segs);
	pthread_mutex_unlock(&w->sync_mu);
	return err;
}

void obs_wal_get_stats(struct obs_wal *w, struct obs_wal_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	st->segments = w->nsegs;
	st->bytes = w->bytes;
	st->records = w->seq;
	st->syncs = w->syncs;
	st->torn_bytes = w->torn_bytes;
	st->first_seg = w->first_seg;
	st->last_seg = w->seg;
	pthread_mutex_unlock(&w->mu);
}
