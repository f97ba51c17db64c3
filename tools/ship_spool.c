/* ship_spool.c — obs-ship's sink: every batch for the mount goes through
 * sink_send(), which writes it (one write(2), after an #obs-batch directive
 * for log batches that carry a key, see lib/ingest/batch.h) or, while the
 * mount is gone, appends it to the spool; sink_tick() notices the mount's
 * return (a FUSE file system at the mount point again, a new one when its
 * device changed) and replays the spool in order. While the spool holds
 * anything, new batches go behind it, so a stream's order is kept.
 *
 * Spool: SPOOLDIR/queue and SPOOLDIR/queue.pos.
 *   queue      records appended back to back, each
 *                "@ DESTLEN KEYLEN LEN START CRC DESTKEY\n" then LEN bytes
 *              DESTLEN, KEYLEN, LEN, START decimal; CRC the CRC32C of the data
 *              in hex; DESTKEY the destination ("ingest" or "logs/STREAM",
 *              DESTLEN bytes) followed by the batch key the data was sent
 *              with (KEYLEN bytes, 0 for none) and START its offset. A record is valid
 *              when its header parses and its data is complete with a matching
 *              CRC; at start, the first invalid record and all after it (a
 *              torn append) are cut off. Appends are fdatasync'ed before
 *              sink_send returns, so a batch taken is never lost.
 *   queue.pos  "BASE OFF\n": records before byte OFF were delivered; BASE
 *              counts the bytes of earlier, emptied queues. Written (temp,
 *              fsync, rename) after each delivered record. When every record
 *              is delivered the queue is truncated and BASE grows by OFF.
 * A replayed record is sent with its own batch key (a followed file's: the
 * daemon then also drops what a failed write had stored of it), a log
 * record without one with KEY "spool:HOST:INODE" and START = BASE + the
 * offset of its data, so after a kill -9 between the write and queue.pos
 * the daemon drops the second copy. The spool holds at
 * most spool_max bytes; beyond, sink_send returns -ENOSPC. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <err.h>
#include <signal.h>

#include "core/crc32c.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "core/obstime.h"
#include "ingest/batch.h"
#include "ship.h"

#define FUSE_MAGIC 0x65735546
#define KEYED_MAX (900 * 1024)   /* a directive and its data fit one FUSE request */

struct dest {
	char *name;
	int fd;
};

static struct {
	pthread_mutex_t mu;         /* protects everything below */
	char *mount, *logdir;
	int up;
	dev_t dev;                  /* the mount's device when the fds were opened */
	struct dest *d;
	size_t nd;
	char *qpath, *ppath;
	int qfd;                    /* -1: no spool */
	uint64_t base, off, qlen, max;
	char key[128];
	uint64_t sent, sent_bytes, spooled, spooled_bytes, replayed, full_drops, rejected_writes;
	int64_t down_since;
	struct obs_buf tmp;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER, .qfd = -1 };

static int mount_dev(dev_t *dev)
{
	struct statfs fs;
	struct stat st;
	if (statfs(S.mount, &fs) < 0 || (unsigned long)fs.f_type != FUSE_MAGIC || stat(S.mount, &st) < 0)
		return -1;
	*dev = st.st_dev;
	return 0;
}

static void close_dests(void)
{
	for (size_t i = 0; i < S.nd; i++) {
		close(S.d[i].fd);
		free(S.d[i].name);
	}
	S.nd = 0;
}

static void go_down(void)
{
	if (S.up)
		S.down_since = obs_time_now();
	S.up = 0;
	close_dests();
}

/* errors of a write that say the mount (or its daemon) is gone or cannot
 * store now: deliver later */
static int retry_later(int e)
{
	return e == ENOTCONN || e == ENOENT || e == ENODEV || e == EIO || e == ECONNABORTED || e == EBADF ||
	       e == ENXIO || e == EPIPE || e == ENOSPC || e == ESTALE;
}

static int dest_fd(const char *dest)
{
	for (size_t i = 0; i < S.nd; i++)
		if (!strcmp(S.d[i].name, dest))
			return S.d[i].fd;
	char p[4096];
	int fl = O_WRONLY | O_APPEND | O_CLOEXEC;
	if (S.mount) {
		dev_t dev;
		if (mount_dev(&dev) < 0)
			return -ENOTCONN;
		if (S.nd && dev != S.dev)
			close_dests();
		S.dev = dev;
		snprintf(p, sizeof(p), "%s/%s", S.mount, dest);
		if (strncmp(dest, "logs/", 5) == 0)
			fl |= O_CREAT;
	} else {
		if (strncmp(dest, "logs/", 5))
			return -EINVAL;
		snprintf(p, sizeof(p), "%s/%s", S.logdir, dest + 5);
		fl |= O_CREAT;
	}
	int fd = open(p, fl, 0644);
	if (fd < 0)
		return -errno;
	struct dest *nd = realloc(S.d, (S.nd + 1) * sizeof(*nd));
	if (!nd) {
		close(fd);
		return -ENOMEM;
	}
	S.d = nd;
	S.d[S.nd].name = strdup(dest);
	S.d[S.nd].fd = fd;
	S.nd++;
	return fd;
}

/* One write of [hdr][data]; 0 or -errno. Input errors (EINVAL, EDQUOT: some
 * lines refused, the rest stored, all in MOUNT/errors) count as written. */
static int put(const char *dest, const char *data, size_t n, const char *key, uint64_t start)
{
	int fd = dest_fd(dest);
	if (fd < 0)
		return fd;
	const char *p = data;
	size_t len = n;
	if (key && S.mount && n <= KEYED_MAX) {
		char hdr[OBS_BATCH_KEY_MAX + 64];
		size_t hl = obs_directive_batch(hdr, key, strlen(key), start, start + n);
		if (hl) {
			obs_buf_reset(&S.tmp);
			if (obs_buf_append(&S.tmp, hdr, hl) || obs_buf_append(&S.tmp, data, n))
				return -ENOMEM;
			p = S.tmp.data;
			len = S.tmp.len;
		}
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EINVAL || errno == EDQUOT) {
				warnx("'%s': some lines were rejected (see MOUNT/errors)", dest);
				S.rejected_writes++;
				break;
			}
			return -errno;
		}
		/* a short count: the daemon stored whole lines before a storage
		 * error; the rest is written again (and fails, or goes on) */
		p += w;
		len -= (size_t)w;
	}
	S.sent++;
	S.sent_bytes += n;
	return 0;
}

static int save_pos(void)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n", S.base, S.off);
	return obs_write_file_atomic(S.ppath, line, (size_t)n, "ship.spool_pos");
}

/* Parse the record header at queue offset off: dest (into buf), data offset
 * and length, crc. 0, or -1 when there is no valid record there. */
static int rec_at(uint64_t off, uint64_t end, char *dest, size_t destcap, char *key, uint64_t *start,
		  uint64_t *doff, uint64_t *dlen, uint32_t *crc)
{
	char h[4200];
	ssize_t r = pread(S.qfd, h, sizeof(h) - 1, (off_t)off);
	if (r <= 0)
		return -1;
	h[r] = 0;
	char *nl = memchr(h, '\n', (size_t)r);
	unsigned long long dl, kl, ln, st;
	unsigned cr;
	int k = 0;
	if (!nl || sscanf(h, "@ %llu %llu %llu %llu %x %n", &dl, &kl, &ln, &st, &cr, &k) < 5 || !k || dl == 0 ||
	    dl >= destcap || kl > OBS_BATCH_KEY_MAX || h + k + dl + kl != nl)
		return -1;
	memcpy(dest, h + k, dl);
	dest[dl] = 0;
	memcpy(key, h + k + dl, kl);
	key[kl] = 0;
	*start = st;
	*doff = off + (uint64_t)(nl - h) + 1;
	*dlen = ln;
	*crc = cr;
	return *doff + ln <= end ? 0 : -1;
}

static int rec_data(uint64_t doff, uint64_t dlen, uint32_t crc, struct obs_buf *b)
{
	obs_buf_reset(b);
	if (obs_buf_reserve(b, dlen))
		return -ENOMEM;
	ssize_t r = pread(S.qfd, b->data, dlen, (off_t)doff);
	if (r != (ssize_t)dlen || obs_crc32c(0, b->data, dlen) != crc)
		return -EBADMSG;
	b->len = dlen;
	return 0;
}

int sink_init(const struct sink_opts *o)
{
	S.mount = o->mount ? strdup(o->mount) : NULL;
	S.logdir = o->logdir ? strdup(o->logdir) : NULL;
	S.max = o->spool_max;
	S.up = 1;
	obs_buf_init(&S.tmp);
	if (S.mount) {
		dev_t dev;
		S.up = mount_dev(&dev) == 0;
		if (!S.up)
			S.down_since = obs_time_now();
	}
	if (!o->spooldir)
		return 0;
	if (mkdir(o->spooldir, 0700) < 0 && errno != EEXIST) {
		warn("cannot create spool '%s'", o->spooldir);
		return -errno;
	}
	if (asprintf(&S.qpath, "%s/queue", o->spooldir) < 0 || asprintf(&S.ppath, "%s/queue.pos", o->spooldir) < 0)
		return -ENOMEM;
	S.qfd = open(S.qpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (S.qfd < 0) {
		warn("cannot open spool '%s'", S.qpath);
		return -errno;
	}
	FILE *f = fopen(S.ppath, "r");
	if (f) {
		unsigned long long b, of;
		if (fscanf(f, "%llu %llu", &b, &of) == 2) {
			S.base = b;
			S.off = of;
		}
		fclose(f);
	}
	struct stat st;
	fstat(S.qfd, &st);
	S.qlen = (uint64_t)st.st_size;
	if (S.off > S.qlen)
		S.off = S.qlen;
	/* cut a torn tail: walk the records after OFF */
	uint64_t p = S.off, doff, dlen;
	uint32_t crc;
	char dest[4096], key[OBS_BATCH_KEY_MAX + 1];
	uint64_t kst;
	struct obs_buf b;
	obs_buf_init(&b);
	while (p < S.qlen && rec_at(p, S.qlen, dest, sizeof(dest), key, &kst, &doff, &dlen, &crc) == 0 &&
	       rec_data(doff, dlen, crc, &b) == 0)
		p = doff + dlen;
	obs_buf_release(&b);
	if (p < S.qlen) {
		warnx("spool '%s': cutting %" PRIu64 " bytes of a torn record at %" PRIu64, S.qpath, S.qlen - p, p);
		if (ftruncate(S.qfd, (off_t)p) < 0)
			warn("truncate '%s'", S.qpath);
		S.qlen = p;
	}
	char host[64] = "host";
	gethostname(host, sizeof(host) - 1);
	for (char *c = host; *c; c++)
		if (*c <= ' ' || *c > '~')
			*c = '_';
	fstat(S.qfd, &st);
	snprintf(S.key, sizeof(S.key), "spool:%s:%llu", host, (unsigned long long)st.st_ino);
	return 0;
}

void sink_close(void)
{
	pthread_mutex_lock(&S.mu);
	close_dests();
	if (S.qfd >= 0)
		close(S.qfd);
	S.qfd = -1;
	pthread_mutex_unlock(&S.mu);
}

static int spool_append(const char *dest, const char *data, size_t n, const char *key, uint64_t start)
{
	if (S.qfd < 0)
		return -ENOTCONN;
	char h[4500];
	size_t kl = key ? strlen(key) : 0;
	if (kl > OBS_BATCH_KEY_MAX)
		return -EINVAL;
	int hl = snprintf(h, sizeof(h), "@ %zu %zu %zu %" PRIu64 " %08x %s%s\n", strlen(dest), kl, n, key ? start : 0,
			  obs_crc32c(0, data, n), dest, key ? key : "");
	if (hl <= 0 || (size_t)hl >= sizeof(h))
		return -EINVAL;
	if (S.qlen - S.off + (uint64_t)hl + n > S.max) {
		S.full_drops++;
		return -ENOSPC;
	}
	struct iovec iov[2] = { { h, (size_t)hl }, { (void *)data, n } };
	ssize_t w = pwritev(S.qfd, iov, 2, (off_t)S.qlen);
	if (w != (ssize_t)(hl + (ssize_t)n) || fdatasync(S.qfd) < 0) {
		int e = w < 0 ? errno : EIO;
		if (ftruncate(S.qfd, (off_t)S.qlen) < 0)
			warn("truncate '%s'", S.qpath);
		return -e;
	}
	S.qlen += (uint64_t)hl + n;
	S.spooled++;
	S.spooled_bytes += n;
	return 0;
}

int sink_send(const char *dest, const char *data, size_t n, const char *key, uint64_t start)
{
	int rc;
	if (!n)
		return 0;
	pthread_mutex_lock(&S.mu);
	if (S.up && S.qlen == S.off) {
		rc = put(dest, data, n, key, start);
		if (rc == 0 || !retry_later(-rc) || (!S.mount && S.qfd < 0))
			goto out;
		if (S.mount)
			go_down();
	}
	rc = spool_append(dest, data, n, key, start);
out:
	pthread_mutex_unlock(&S.mu);
	return rc;
}

void sink_error(const char *source, const char *subject, const char *reason)
{
	if (!S.mount)
		return;
	char line[1024];
	int n = snprintf(line, sizeof(line) - 1, "#obs-error %s %s %s", source, subject, reason);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;   /* a long reason is cut */
	for (int i = 0; i < n; i++)     /* one line, whatever the reason holds */
		if ((unsigned char)line[i] < ' ')
			line[i] = ' ';
	line[n++] = '\n';
	pthread_mutex_lock(&S.mu);
	if (S.up && put("ingest", line, (size_t)n, NULL, 0) < 0)
		go_down();
	pthread_mutex_unlock(&S.mu);
}

void sink_tick(void)
{
	if (!S.mount)
		return;
	pthread_mutex_lock(&S.mu);
	dev_t dev;
	int ok = mount_dev(&dev) == 0;
	if (!ok && S.up)
		go_down();
	else if (ok && S.nd && dev != S.dev)
		close_dests();   /* a new daemon at the mount point: the old fds let the old one go */
	if (ok && !S.up)
		S.up = 1;
	pthread_mutex_unlock(&S.mu);
	if (S.qfd < 0)
		return;
	struct obs_buf b;
	obs_buf_init(&b);
	int64_t t0 = obs_time_now();
	for (;;) {
		pthread_mutex_lock(&S.mu);
		if (!S.up || S.off >= S.qlen) {
			if (S.up && S.off && S.off == S.qlen && ftruncate(S.qfd, 0) == 0) {
				S.base += S.off;
				S.off = S.qlen = 0;
				int pe = save_pos();
				if (pe < 0)
					warnx("cannot write '%s': %s", S.ppath, strerror(-pe));
			}
			pthread_mutex_unlock(&S.mu);
			break;
		}
		char dest[4096], rkey[OBS_BATCH_KEY_MAX + 1];
		uint64_t doff, dlen, rstart;
		uint32_t crc;
		if (rec_at(S.off, S.qlen, dest, sizeof(dest), rkey, &rstart, &doff, &dlen, &crc) < 0 ||
		    rec_data(doff, dlen, crc, &b) < 0) {
			warnx("spool '%s': bad record at %" PRIu64 ", skipping the rest", S.qpath, S.off);
			S.off = S.qlen;
			pthread_mutex_unlock(&S.mu);
			continue;
		}
		int rc;
		if (rkey[0])
			rc = put(dest, b.data, b.len, rkey, rstart);
		else
			rc = put(dest, b.data, b.len, strncmp(dest, "logs/", 5) == 0 ? S.key : NULL, S.base + doff);
		if (rc < 0 && retry_later(-rc)) {
			go_down();
			pthread_mutex_unlock(&S.mu);
			break;
		}
		if (rc < 0)
			warnx("spool: cannot deliver to '%s': %s (dropped)", dest, strerror(-rc));
		else
			S.replayed++;
		if (obs_fault("ship.after_replay"))   /* tests: a kill -9 before queue.pos */
			raise(SIGKILL);
		S.off = doff + dlen;
		int pe = save_pos();
		if (pe < 0)
			warnx("cannot write '%s': %s", S.ppath, strerror(-pe));
		pthread_mutex_unlock(&S.mu);
		if (obs_time_now() - t0 > 2000)   /* let the main loop breathe; go on next tick */
			break;
	}
	obs_buf_release(&b);
}

int sink_mount_up(void)
{
	pthread_mutex_lock(&S.mu);
	int up = S.up;
	pthread_mutex_unlock(&S.mu);
	return up;
}

void sink_status(struct obs_buf *out)
{
	pthread_mutex_lock(&S.mu);
	obs_buf_printf(out, "mount %s %s\n", S.mount ? S.mount : S.logdir, S.up ? "up" : "down");
	obs_buf_printf(out,
		       "spool depth_bytes=%" PRIu64 " spooled=%" PRIu64 " replayed=%" PRIu64 " full_drops=%" PRIu64
		       " max_bytes=%" PRIu64 "\n",
		       S.qlen - S.off, S.spooled, S.replayed, S.full_drops, S.max);
	obs_buf_printf(out, "sent batches=%" PRIu64 " bytes=%" PRIu64 " with_rejected_lines=%" PRIu64 "\n", S.sent,
		       S.sent_bytes, S.rejected_writes);
	pthread_mutex_unlock(&S.mu);
}
