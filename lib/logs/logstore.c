/* logstore.c — log streams: WAL, in-memory head, immutable segments,
 * background flush and retention (API and directory layout in logstore.h).
 *
 * WAL records, little-endian:
 *   type 1, a batch (one per append call of one stream):
 *     u16 namelen | name | u64 first_seq | u32 count |
 *     count x ( zigzag varint ts - prev_ts (prev starts at 0) | varint len | bytes )
 *     (len may be 0: blank lines are records)
 *   type 2, a carry (the partial last line of an open file):
 *     u64 epoch | u64 handle | u16 namelen | name | bytes (none: cleared)
 *   type 3, a batch that ends a carry: u64 epoch | u64 handle | type 1 payload
 *   type 4, a stream removed (rm): u16 namelen | name | u64 end_seq
 *     every record of that stream with a sequence number below end_seq is
 *     gone: replay drops the head and the segments it built for it so far
 *     (unlinking segment files a crash left behind) and the carries of that
 *     stream logged before it. A stream re-created with that name numbers
 *     its records from end_seq on (the store remembers end_seq per name), so
 *     its records and segments, before or after this record in the WAL, are
 *     kept. rm writes it (and fsyncs the WAL) before it deletes any file,
 *     and never needs to write a segment.
 * A carry is named by (epoch, handle): epoch is random per open, handle is
 * the caller's, so handles of different runs never meet. Replay keeps the
 * last carry of each name; those still pending after replay become records
 * (type 3, which ends them). Every flush logs the pending carries again
 * right after its WAL cut, before it drops the segments before the cut.
 * Every record of a stream has a sequence number (first_seq + i), dense and
 * increasing; a segment knows the first sequence number it holds and how
 * many records. Recovery: load every segment, set each stream's next_seq past
 * its last segment, then replay the WAL, skipping records below next_seq
 * (they reached a segment before the crash) — so a crash between writing a
 * segment and dropping the WAL neither loses nor duplicates a record.
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
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/obstime.h"
#include "core/strmap.h"
#include "logs/logline.h"
#include "core/wal.h"

#define WAL_BATCH 1
#define WAL_CARRY 2
#define WAL_BATCH_CARRIED 3
#define WAL_REMOVED 4
#define NAME_MAX_BYTES 200
#define TEXT_EXTRA (OBS_LOG_TIME_WIDTH + 2)   /* "TIME " + "\n" */

struct head {
	struct obs_buf data;     /* line bytes back to back */
	uint64_t *off;           /* start of line i in data */
	uint32_t *len;
	int64_t *ts;
	size_t n, cap;
	uint64_t first_seq;
	int64_t first_arrival;   /* now_ms of the first append */
};

struct segent {
	struct obs_logseg *seg;
	uint64_t first_seq, n, text_off, bytes;
	int64_t max_ts;
	char *path;
};

struct stream {
	char *name;
	char *dir;
	int refs;                /* ls->mu */
	int removed;             /* set under ls->mu and lock */
	int from_dir;            /* loaded from a directory present at open */
	pthread_rwlock_t lock;
	struct head head;        /* lock */
	struct head *frozen;     /* lock: being written to a segment, still readable */
	struct segent *segs;     /* lock */
	size_t nsegs;
	uint64_t next_seq;       /* lock */
	uint64_t text_base;      /* lock: text bytes before segs[0] (dropped by retention) */
};

/* the partial last line of an open file (see obs_logstore_carry) */
struct carry {
	uint64_t epoch, handle;
	char *stream;
	char *data;
	size_t len;
};

struct obs_logstore {
	char *dir, *sdir;
	struct obs_logstore_opts o;
	struct obs_wal *wal;
	pthread_mutex_t mu;
	struct obs_strmap *map;  /* mu: name -> stream */
	struct obs_strmap *tombs;/* mu: name -> uint64_t end_seq of its last rm */
	struct stream **all;     /* mu */
	size_t nall;
	pthread_mutex_t flush_mu;
	pthread_t thr;
	int thr_on, stopping;    /* stopping: mu */
	pthread_cond_t cond;
	uint64_t epoch;          /* names this open's carries: random */
	pthread_mutex_t carry_mu;/* carries, and the WAL order of carry records */
	struct carry *carries;
	size_t ncarries;
	/* counters (atomics) */
	uint64_t appended, rejected, flushes, retained, searches, frames_read, compactions;
};

/* ---- small helpers ------------------------------------------------------ */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int put_varint(struct obs_buf *b, uint64_t v)
{
	uint8_t t[10];
	int k = 0;
	while (v >= 0x80) {
		t[k++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[k++] = (uint8_t)v;
	return obs_buf_append(b, t, (size_t)k);
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (int sh = 0; sh < 64 && *p < end; sh += 7) {
		uint8_t c = *(*p)++;
		v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EBADMSG;
}

int obs_logstore_valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_BYTES || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == '\n')
			return 0;
	return 1;
}

static char *escape_name(const char *s)
{
	size_t n = strlen(s);
	char *o = malloc(3 * n + 1), *p = o;
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		    c == '-' || (c == '.' && i > 0))
			*p++ = (char)c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	*p = 0;
	return o;
}

static char *unescape_name(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *o = malloc(n + 1);
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (s[i] == '%' && i + 2 < n + 0 + 1 && sscanf(s + i + 1, "%2X", &v) == 1) {
			o[k++] = (char)v;
			i += 2;
		} else
			o[k++] = s[i];
	}
	o[k] = 0;
	return o;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int mkdir_p(const char *d)
{
	if (mkdir(d, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* fault point "PT.step" (fault.h) */
static int fault_at(const char *pt, const char *step)
{
	char name[48];
	snprintf(name, sizeof(name), "%s.%s", pt, step);
	return obs_fault(name);
}

/* Write segment data to dir/name atomically: temp file, fsync, open the
 * temp file as a segment (*seg), rename, fsync dir. Each step may fail
 * (fault points PT.write, PT.fsync, PT.open, PT.rename, PT.dirsync); the
 * temp file never outlives a failure. A failure before the rename leaves
 * everything as it was and *seg NULL. When the directory fsync fails after
 * the rename and undo is set, the new file is unlinked again and *seg
 * closed, so a failed call leaves no new live file either; without undo (a
 * replaced file cannot be brought back) the new file stays and *seg is
 * returned with the error: it is what the path holds now, and the caller
 * installs it so that memory follows the disk. */
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
	const char *p = data;
	int r = fault_at(pt, "write");
	while (!r && n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	if (!r)
		r = fault_at(pt, "fsync");
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r)
		r = fault_at(pt, "open");
	if (!r)   /* the mapping outlives the rename: it is the file at fin after it */
		r = obs_logseg_open(tmp, seg);
	if (!r)
		r = fault_at(pt, "rename");
	if (!r && rename(tmp, fin) < 0)
		r = -errno;
	if (r) {
		obs_logseg_close(*seg);
		*seg = NULL;
		unlink(tmp);
		return r;
	}
	r = fault_at(pt, "dirsync");
	if (!r)
		r = fsync_dir(dir);
	if (r && undo) {
		unlink(fin);
		obs_logseg_close(*seg);
		*seg = NULL;
	}
	return r;
}

/* ---- head --------------------------------------------------------------- */

static void head_release(struct head *h)
{
	obs_buf_release(&h->data);
	free(h->off);
	free(h->len);
	free(h->ts);
	memset(h, 0, sizeof(*h));
}

static int head_reserve(struct head *h, size_t k, size_t bytes)
{
	if (h->n + k > h->cap) {
		size_t nc = h->cap ? h->cap : 1024;
		while (nc < h->n + k)
			nc *= 2;
		uint64_t *o = realloc(h->off, nc * sizeof(*o));
		if (o)
			h->off = o;
		uint32_t *l = realloc(h->len, nc * sizeof(*l));
		if (l)
			h->len = l;
		int64_t *t = realloc(h->ts, nc * sizeof(*t));
		if (t)
			h->ts = t;
		if (!o || !l || !t)
			return -ENOMEM;
		h->cap = nc;
	}
	return obs_buf_reserve(&h->data, bytes);
}

/* caller reserved */
static void head_push(struct head *h, int64_t ts, const char *p, size_t n)
{
	h->off[h->n] = h->data.len;
	h->len[h->n] = (uint32_t)n;
	h->ts[h->n] = ts;
	memcpy(h->data.data + h->data.len, p, n);
	h->data.len += n;
	h->n++;
}

static uint64_t head_text(const struct head *h)
{
	return h ? h->data.len + (uint64_t)h->n * TEXT_EXTRA : 0;
}

/* ---- streams ------------------------------------------------------------ */

static void stream_free(struct stream *s)
{
	if (!s)
		return;
	head_release(&s->head);
	if (s->frozen) {
		head_release(s->frozen);
		free(s->frozen);
	}
	for (size_t i = 0; i < s->nsegs; i++) {
		obs_logseg_close(s->segs[i].seg);
		free(s->segs[i].path);
	}
	free(s->segs);
	pthread_rwlock_destroy(&s->lock);
	free(s->name);
	free(s->dir);
	free(s);
}

/* under ls->mu: find or (create=1) make a stream; returns it with a ref */
static int stream_get_locked(struct obs_logstore *ls, const char *name, int create, struct stream **out)
{
	size_t n = strlen(name);
	uint64_t h = obs_strmap_hash(name, n);
	struct stream *s = obs_strmap_get(ls->map, h, name, n);
	if (!s) {
		if (!create)
			return -ENOENT;
		if (!obs_logstore_valid_name(name))
			return -EINVAL;
		s = calloc(1, sizeof(*s));
		char *esc = escape_name(name);
		struct stream **na = realloc(ls->all, (ls->nall + 1) * sizeof(*na));
		if (na)
			ls->all = na;
		if (!s || !esc || !na || !(s->name = strdup(name)) ||
		    asprintf(&s->dir, "%s/%s", ls->sdir, esc) < 0) {
			free(esc);
			if (s)
				s->dir = NULL;
			stream_free(s);
			return -ENOMEM;
		}
		free(esc);
		pthread_rwlock_init(&s->lock, NULL);
		/* re-created after an rm: number on from where the removed one
		 * ended, so replay tells its records from the removed ones */
		uint64_t *end = ls->tombs ? obs_strmap_get(ls->tombs, h, name, n) : NULL;
		if (end)
			s->next_seq = *end;
		int r = mkdir_p(s->dir);
		if (r == 0)
			r = obs_strmap_put(ls->map, h, name, n, s);
		if (r < 0) {
			stream_free(s);
			return r;
		}
		ls->all[ls->nall++] = s;
	}
	s->refs++;
	*out = s;
	return 0;
}

static int stream_get(struct obs_logstore *ls, const char *name, int create, struct stream **out)
{
	pthread_mutex_lock(&ls->mu);
	int r = stream_get_locked(ls, name, create, out);
	pthread_mutex_unlock(&ls->mu);
	return r;
}

static void stream_put(struct obs_logstore *ls, struct stream *s)
{
	pthread_mutex_lock(&ls->mu);
	int dead = --s->refs == 0 && s->removed;
	pthread_mutex_unlock(&ls->mu);
	if (dead)
		stream_free(s);
}

/* under ls->mu: a copy of the name table without s (obs_strmap_del is not
 * used here: the table is rebuilt), installed by table_install */
static int table_without(struct obs_logstore *ls, struct stream *s, struct obs_strmap **out)
{
	struct obs_strmap *nm = obs_strmap_new();
	for (size_t i = 0; i < ls->nall && nm; i++) {
		if (ls->all[i] == s)
			continue;
		size_t l = strlen(ls->all[i]->name);
		if (obs_strmap_put(nm, obs_strmap_hash(ls->all[i]->name, l), ls->all[i]->name, l, ls->all[i]) < 0) {
			obs_strmap_free(nm);
			nm = NULL;
		}
	}
	*out = nm;
	return nm ? 0 : -ENOMEM;
}

/* under ls->mu (and s->lock): s leaves the table; cannot fail */
static void table_install(struct obs_logstore *ls, struct stream *s, struct obs_strmap *nm)
{
	for (size_t i = 0; i < ls->nall; i++)
		if (ls->all[i] == s) {
			ls->all[i] = ls->all[--ls->nall];
			break;
		}
	obs_strmap_free(ls->map);
	ls->map = nm;
	s->removed = 1;
}

/* under ls->mu: remember that stream name ended at end_seq (kept the
 * largest) */
static int tomb_set(struct obs_logstore *ls, const char *name, uint64_t end)
{
	size_t n = strlen(name);
	uint64_t h = obs_strmap_hash(name, n);
	uint64_t *t = obs_strmap_get(ls->tombs, h, name, n);
	if (t) {
		if (*t < end)
			*t = end;
		return 0;
	}
	if (!(t = malloc(sizeof(*t))))
		return -ENOMEM;
	*t = end;
	if (obs_strmap_put(ls->tombs, h, name, n, t) < 0) {
		free(t);
		return -ENOMEM;
	}
	return 0;
}

static int tomb_free(void *ctx, const char *k, size_t n, void *val)
{
	free(val);
	return 0;
}

/* unlink every file of a stream directory (segments, .corrupt and temp
 * files) */
static void purge_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			char *p;
			if (asprintf(&p, "%s/%s", dir, de->d_name) >= 0) {
				unlink(p);
				free(p);
			}
		}
	closedir(d);
}

/* ---- segments on disk --------------------------------------------------- */

static int cmp_segent(const void *a, const void *b)
{
	const struct segent *x = a, *y = b;
	return (x->first_seq > y->first_seq) - (x->first_seq < y->first_seq);
}

static int seg_add(struct stream *s, struct obs_logseg *seg, char *path)
{
	struct segent *ns = realloc(s->segs, (s->nsegs + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	s->segs = ns;
	struct obs_logseg_info in;
	obs_logseg_get_info(seg, &in);
	struct segent *e = &s->segs[s->nsegs++];
	e->seg = seg;
	e->first_seq = in.first_seq;
	e->n = in.nlines;
	e->bytes = in.file_bytes;
	e->max_ts = in.max_ts;
	e->path = path;
	e->text_off = 0;
	if (in.first_seq + in.nlines > s->next_seq)
		s->next_seq = in.first_seq + in.nlines;
	return 0;
}

static void seg_offsets(struct stream *s)
{
	uint64_t t = s->text_base;
	for (size_t i = 0; i < s->nsegs; i++) {
		s->segs[i].text_off = t;
		t += obs_logseg_text_size(s->segs[i].seg);
	}
}

static int load_stream_dir(struct obs_logstore *ls, const char *esc)
{
	char *name = unescape_name(esc);
	if (!name)
		return -ENOMEM;
	struct stream *s;
	pthread_mutex_lock(&ls->mu);
	int r = stream_get_locked(ls, name, 1, &s);
	pthread_mutex_unlock(&ls->mu);
	free(name);
	if (r < 0)
		return r == -EINVAL ? 0 : r;
	s->from_dir = 1;
	DIR *d = opendir(s->dir);
	if (!d) {
		stream_put(ls, s);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (!strncmp(de->d_name, ".tmp-", 5)) {
			char *p;
			if (asprintf(&p, "%s/%s", s->dir, de->d_name) >= 0) {
				unlink(p);
				free(p);
			}
			continue;
		}
		if (l != 20 || strcmp(de->d_name + 16, ".seg"))
			continue;
		char *p;
		if (asprintf(&p, "%s/%s", s->dir, de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		struct obs_logseg *seg;
		if (obs_logseg_open(p, &seg) < 0) {
			/* a corrupt segment is set aside, not fatal: keep it for inspection */
			char *q;
			if (asprintf(&q, "%s.corrupt", p) >= 0) {
				rename(p, q);
				free(q);
			}
			free(p);
			continue;
		}
		if ((r = seg_add(s, seg, p)) < 0) {
			obs_logseg_close(seg);
			free(p);
			break;
		}
	}
	closedir(d);
	if (s->nsegs > 1)
		qsort(s->segs, s->nsegs, sizeof(*s->segs), cmp_segent);
	seg_offsets(s);
	stream_put(ls, s);
	return r;
}

/* ---- carries ------------------------------------------------------------- */

static long carry_find(struct obs_logstore *ls, uint64_t epoch, uint64_t handle)
{
	for (size_t i = 0; i < ls->ncarries; i++)
		if (ls->carries[i].epoch == epoch && ls->carries[i].handle == handle)
			return (long)i;
	return -1;
}

static void carry_drop(struct obs_logstore *ls, uint64_t epoch, uint64_t handle)
{
	long i = carry_find(ls, epoch, handle);
	if (i < 0)
		return;
	free(ls->carries[i].stream);
	free(ls->carries[i].data);
	ls->carries[i] = ls->carries[--ls->ncarries];
}

/* drop every carry of stream (rm: they were partial lines of it) */
static void carries_drop_stream(struct obs_logstore *ls, const char *stream)
{
	size_t i = 0;
	while (i < ls->ncarries) {
		struct carry *c = &ls->carries[i];
		if (strcmp(c->stream, stream)) {
			i++;
			continue;
		}
		free(c->stream);
		free(c->data);
		ls->carries[i] = ls->carries[--ls->ncarries];
	}
}

/* Make room and copies for a carry first, so that once its record is in
 * the WAL installing it cannot fail. */
struct carry_new {
	struct carry c;
	long at;   /* index to replace, or -1: append */
};

static int carry_prepare(struct obs_logstore *ls, uint64_t epoch, uint64_t handle, const char *stream,
			 size_t nl, const char *p, size_t n, struct carry_new *cn)
{
	cn->at = carry_find(ls, epoch, handle);
	cn->c.epoch = epoch;
	cn->c.handle = handle;
	cn->c.len = n;
	cn->c.stream = strndup(stream, nl);
	cn->c.data = malloc(n ? n : 1);
	if (cn->at < 0) {
		struct carry *na = realloc(ls->carries, (ls->ncarries + 1) * sizeof(*na));
		if (na)
			ls->carries = na;
		else {
			free(cn->c.data);
			cn->c.data = NULL;
		}
	}
	if (!cn->c.stream || !cn->c.data) {
		free(cn->c.stream);
		free(cn->c.data);
		return -ENOMEM;
	}
	memcpy(cn->c.data, p, n);
	return 0;
}

static void carry_install(struct obs_logstore *ls, struct carry_new *cn)
{
	if (cn->at < 0) {
		ls->carries[ls->ncarries++] = cn->c;
		return;
	}
	struct carry *c = &ls->carries[cn->at];
	free(c->stream);
	free(c->data);
	*c = cn->c;
}

/* set (n > 0) or clear (n == 0) a carry in the table; used by replay */
static int carry_set(struct obs_logstore *ls, uint64_t epoch, uint64_t handle, const char *stream, size_t nl,
		     const char *p, size_t n)
{
	if (!n) {
		carry_drop(ls, epoch, handle);
		return 0;
	}
	struct carry_new cn;
	int r = carry_prepare(ls, epoch, handle, stream, nl, p, n, &cn);
	if (r == 0)
		carry_install(ls, &cn);
	return r;
}

/* WAL record type 2: u64 epoch | u64 handle | u16 namelen | name | bytes */
static int carry_log(struct obs_logstore *ls, uint64_t epoch, uint64_t handle, const char *stream,
		     const char *p, size_t n)
{
	uint8_t hdr[18 + NAME_MAX_BYTES];
	size_t nl = strlen(stream);
	if (nl > NAME_MAX_BYTES)
		return -EINVAL;
	put64(hdr, epoch);
	put64(hdr + 8, handle);
	hdr[16] = (uint8_t)nl;
	hdr[17] = (uint8_t)(nl >> 8);
	memcpy(hdr + 18, stream, nl);
	int r = obs_fault("logs.carry");
	if (r == 0)
		r = obs_wal_append2(ls->wal, WAL_CARRY, hdr, 18 + nl, p, n);
	return r;
}

int obs_logstore_carry(struct obs_logstore *ls, uint64_t handle, const char *stream, const char *p, size_t n)
{
	if (!obs_logstore_valid_name(stream))
		return -EINVAL;
	pthread_mutex_lock(&ls->carry_mu);
	int r = 0;
	if (!n) {
		if (carry_find(ls, ls->epoch, handle) >= 0 &&
		    (r = carry_log(ls, ls->epoch, handle, stream, NULL, 0)) == 0)
			carry_drop(ls, ls->epoch, handle);
	} else {
		struct carry_new cn;
		r = carry_prepare(ls, ls->epoch, handle, stream, strlen(stream), p, n, &cn);
		if (r == 0 && (r = carry_log(ls, ls->epoch, handle, stream, p, n)) < 0) {
			free(cn.c.stream);
			free(cn.c.data);
		}
		if (r == 0)
			carry_install(ls, &cn);
	}
	pthread_mutex_unlock(&ls->carry_mu);
	return r;
}

/* After a WAL cut: log every pending carry again, so that dropping the
 * segments before the cut keeps them. */
static int carries_relog(struct obs_logstore *ls)
{
	pthread_mutex_lock(&ls->carry_mu);
	int r = 0;
	for (size_t i = 0; i < ls->ncarries && !r; i++) {
		struct carry *c = &ls->carries[i];
		r = carry_log(ls, c->epoch, c->handle, c->stream, c->data, c->len);
	}
	pthread_mutex_unlock(&ls->carry_mu);
	return r;
}

/* ---- WAL replay --------------------------------------------------------- */

static int replay_batch(struct obs_logstore *ls, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	if (n < 2)
		return -EBADMSG;
	size_t nl = (size_t)(p[0] | p[1] << 8);
	if (n < 2 + nl + 12)
		return -EBADMSG;
	char name[NAME_MAX_BYTES + 1];
	if (nl > NAME_MAX_BYTES)
		return -EBADMSG;
	memcpy(name, p + 2, nl);
	name[nl] = 0;
	p += 2 + nl;
	uint64_t seq = get64(p);
	uint32_t cnt = (uint32_t)(p[8] | p[9] << 8 | p[10] << 16 | (uint32_t)p[11] << 24);
	p += 12;
	struct stream *s;
	int r = stream_get(ls, name, 1, &s);
	if (r < 0)
		return r == -EINVAL ? 0 : r;
	pthread_rwlock_wrlock(&s->lock);
	int64_t ts = 0;
	for (uint32_t i = 0; i < cnt && !r; i++, seq++) {
		uint64_t z, len;
		if (get_varint(&p, end, &z) < 0 || get_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p)) {
			r = -EBADMSG;
			break;
		}
		ts += (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
		if (seq >= s->next_seq) {
			if (!s->head.n) {
				s->head.first_seq = seq;
				s->head.first_arrival = obs_time_now();
			}
			if ((r = head_reserve(&s->head, 1, len)) == 0) {
				head_push(&s->head, ts, (const char *)p, len);
				s->next_seq = seq + 1;
			}
		}
		p += len;
	}
	pthread_rwlock_unlock(&s->lock);
	stream_put(ls, s);
	return r;
}

/* type 4: stream removed; see the top of the file */
static int replay_removed(struct obs_logstore *ls, const uint8_t *p, size_t n)
{
	if (n < 2)
		return -EBADMSG;
	size_t nl = (size_t)(p[0] | p[1] << 8);
	if (nl > NAME_MAX_BYTES || n < 2 + nl + 8)
		return -EBADMSG;
	char name[NAME_MAX_BYTES + 1];
	memcpy(name, p + 2, nl);
	name[nl] = 0;
	uint64_t end = get64(p + 2 + nl);
	carries_drop_stream(ls, name);
	pthread_mutex_lock(&ls->mu);
	int r = tomb_set(ls, name, end);
	pthread_mutex_unlock(&ls->mu);
	struct stream *s;
	if (r < 0 || stream_get(ls, name, 0, &s) < 0)
		return r;
	pthread_rwlock_wrlock(&s->lock);
	/* the head holds records replayed before this one: all below end */
	if (s->head.n && s->head.first_seq < end)
		head_release(&s->head);
	size_t k = 0, dropped = 0;
	for (size_t i = 0; i < s->nsegs; i++) {
		if (s->segs[i].first_seq < end) {   /* rm died before it deleted it */
			unlink(s->segs[i].path);
			obs_logseg_close(s->segs[i].seg);
			free(s->segs[i].path);
			dropped++;
		} else
			s->segs[k++] = s->segs[i];
	}
	s->nsegs = k;
	if (dropped) {
		s->text_base = 0;
		seg_offsets(s);
	}
	if (s->next_seq < end)
		s->next_seq = end;
	/* gone, unless a directory that was there at open holds what is left
	 * (a stream re-created after the rm, with segments or not) */
	int gone = !s->nsegs && !s->head.n && (!s->from_dir || dropped);
	struct obs_strmap *nm = NULL;
	if (gone) {
		pthread_mutex_lock(&ls->mu);
		if ((r = table_without(ls, s, &nm)) == 0)
			table_install(ls, s, nm);
		pthread_mutex_unlock(&ls->mu);
		if (r == 0) {
			purge_dir(s->dir);
			rmdir(s->dir);
		}
	}
	pthread_rwlock_unlock(&s->lock);
	stream_put(ls, s);
	return r;
}

static int replay_cb(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	struct obs_logstore *ls = ctx;
	if (type == WAL_REMOVED)
		return replay_removed(ls, p, n);
	if (type == WAL_BATCH)
		return replay_batch(ls, p, n);
	if (type == WAL_CARRY) {
		if (n < 18)
			return -EBADMSG;
		size_t nl = (size_t)(p[16] | p[17] << 8);
		if (nl > NAME_MAX_BYTES || n < 18 + nl)
			return -EBADMSG;
		return carry_set(ls, get64(p), get64(p + 8), (const char *)p + 18, nl, (const char *)p + 18 + nl,
				 n - 18 - nl);
	}
	if (type == WAL_BATCH_CARRIED) {
		if (n < 16)
			return -EBADMSG;
		carry_drop(ls, get64(p), get64(p + 8));
		return replay_batch(ls, p + 16, n - 16);
	}
	return 0;
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
		r = seg_add(s, seg, path);
	if (r == 0) {
		seg_offsets(s);
		head_release(s->frozen);
		free(s->frozen);
		s->frozen = NULL;
	} else {
		/* keep the records readable: put the frozen head back in front of the head */
		struct head *h = &s->head, merged;
		memset(&merged, 0, sizeof(merged));
		int m = head_reserve(&merged, f->n + h->n, f->data.len + h->data.len);
		if (m == 0) {
			for (size_t i = 0; i < f->n; i++)
				head_push(&merged, f->ts[i], f->data.data + f->off[i], f->len[i]);
			for (size_t i = 0; i < h->n; i++)
				head_push(&merged, h->ts[i], h->data.data + h->off[i], h->len[i]);
			merged.first_seq = f->first_seq;
			merged.first_arrival = f->first_arrival;
			head_release(h);
			*h = merged;
			head_release(f);
			free(f);
			s->frozen = NULL;
		}
		obs_logseg_close(seg);
		free(path);
	}
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int snapshot_streams(struct obs_logstore *ls, struct stream ***out, size_t *n)
{
	pthread_mutex_lock(&ls->mu);
	struct stream **v = malloc((ls->nall ? ls->nall : 1) * sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&ls->mu);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ls->nall; i++) {
		v[i] = ls->all[i];
		v[i]->refs++;
	}
	*n = ls->nall;
	pthread_mutex_unlock(&ls->mu);
	*out = v;
	return 0;
}

static void release_streams(struct obs_logstore *ls, struct stream **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		stream_put(ls, v[i]);
	free(v);
}

int obs_logstore_flush(struct obs_logstore *ls)
{
	struct stream **v;
	size_t n;
	pthread_mutex_lock(&ls->flush_mu);
	int r = snapshot_streams(ls, &v, &n);
	if (r < 0) {
		pthread_mutex_unlock(&ls->flush_mu);
		return r;
	}
	uint64_t segno = 0;
	if ((r = obs_wal_cut(ls->wal, &segno)) < 0)
		goto out;
	r = carries_relog(ls);   /* on failure the WAL before the cut stays */
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
	release_streams(ls, v, n);
	pthread_mutex_unlock(&ls->flush_mu);
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
	pthread_mutex_lock(&ls->flush_mu);
	int r = snapshot_streams(ls, &v, &n);
	if (r < 0) {
		pthread_mutex_unlock(&ls->flush_mu);
		return r;
	}
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
	release_streams(ls, v, n);
	pthread_mutex_unlock(&ls->flush_mu);
	return 0;
}

/* ---- background re-encoding ---------------------------------------------- */

/* Collect a segment's records into a head-shaped buffer (for re-encoding). */
static int collect_rec(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct head *c = ctx;
	int rc = head_reserve(c, 1, n);
	if (!rc)
		head_push(c, ts, line, n);
	return rc;
}

/* under flush_mu: re-encode segment k of s at the compaction level */
static int recompact(struct obs_logstore *ls, struct stream *s, struct obs_logseg *old, const char *path)
{
	struct head c;
	memset(&c, 0, sizeof(c));
	struct obs_logseg_info in;
	obs_logseg_get_info(old, &in);
	int r = obs_logseg_search(old, OBS_TIME_MIN, OBS_TIME_MAX, NULL, collect_rec, &c, NULL);
	const char **lines = NULL;
	struct obs_buf out;
	obs_buf_init(&out);
	if (r == 0 && c.n != in.nlines)
		r = -EBADMSG;
	if (r == 0 && !(lines = malloc((c.n ? c.n : 1) * sizeof(*lines))))
		r = -ENOMEM;
	if (r == 0) {
		for (size_t i = 0; i < c.n; i++)
			lines[i] = c.data.data + c.off[i];
		struct obs_logseg_input si = { c.n, c.ts, lines, c.len, in.first_seq };
		struct obs_logseg_opts so = ls->o.seg;
		so.level = ls->o.compact_level;
		r = obs_logseg_encode(&si, &so, &out);
	}
	free(lines);
	head_release(&c);
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
	pthread_mutex_lock(&ls->flush_mu);
	struct stream **v;
	size_t n;
	if ((r = snapshot_streams(ls, &v, &n)) < 0) {
		pthread_mutex_unlock(&ls->flush_mu);
		return r;
	}
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
	release_streams(ls, v, n);
	pthread_mutex_unlock(&ls->flush_mu);
	return r;
}

static void *flusher(void *arg)
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
		if (snapshot_streams(ls, &v, &nv) == 0) {
			for (size_t i = 0; i < nv; i++) {
				struct stream *s = v[i];
				pthread_rwlock_rdlock(&s->lock);
				bytes += s->head.data.len;
				if (s->head.n && s->head.first_arrival < oldest)
					oldest = s->head.first_arrival;
				pthread_rwlock_unlock(&s->lock);
			}
			release_streams(ls, v, nv);
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

/* ---- open / close ------------------------------------------------------- */

static int append_impl(struct obs_logstore *ls, const char *stream, const char *buf, size_t n, int64_t now_ms,
		       obs_log_reject_fn reject, void *ctx, uint64_t epoch, uint64_t handle);

/* After replay: the partial lines of files that were open when the process
 * died become complete records (each in one WAL record that also ends its
 * carry, so a crash during recovery neither loses nor repeats one). One that
 * cannot be stored now (ENOSPC) stays pending, is logged again by every
 * flush and is retried at the next open. */
static int carries_recover(struct obs_logstore *ls)
{
	size_t i = 0;
	while (i < ls->ncarries) {
		struct carry *c = &ls->carries[i];
		char *stream = strdup(c->stream), *data = malloc(c->len);
		uint64_t epoch = c->epoch, handle = c->handle;
		size_t len = c->len;
		if (!stream || !data) {
			free(stream);
			free(data);
			return -ENOMEM;
		}
		memcpy(data, c->data, len);
		int r = append_impl(ls, stream, data, len, obs_time_now(), NULL, NULL, epoch, handle);
		free(stream);
		free(data);
		if (r == -EINVAL && carry_find(ls, epoch, handle) >= 0)
			carry_drop(ls, epoch, handle);   /* a bad name or line: nothing to keep */
		if (carry_find(ls, epoch, handle) >= 0)
			i++;
	}
	return 0;
}

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
	if ((r = mkdir_p(dir)) < 0 || (r = mkdir_p(ls->sdir)) < 0)
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
		if ((r = load_stream_dir(ls, de->d_name)) < 0) {
			closedir(d);
			goto fail;
		}
	}
	closedir(d);
	if ((r = obs_wal_replay(wdir, replay_cb, ls, NULL)) < 0)
		goto fail;
	struct obs_wal_opts wo = { 0, ls->o.wal_sync_ms };
	if ((r = obs_wal_open(wdir, &wo, &ls->wal)) < 0)
		goto fail;
	free(wdir);
	wdir = NULL;
	if ((r = carries_recover(ls)) < 0)
		goto fail;
	if (!ls->o.no_background) {
		if ((r = -pthread_create(&ls->thr, NULL, flusher, ls)) < 0)
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
		stream_free(ls->all[i]);
	free(ls->all);
	obs_strmap_free(ls->map);
	if (ls->tombs)
		obs_strmap_each(ls->tombs, tomb_free, NULL);
	obs_strmap_free(ls->tombs);
	pthread_mutex_destroy(&ls->mu);
	pthread_mutex_destroy(&ls->flush_mu);
	pthread_cond_destroy(&ls->cond);
	free(ls->dir);
	free(ls->sdir);
	free(ls);
}

/* ---- append ------------------------------------------------------------- */

/* handle != 0: the lines complete the carry (epoch, handle), which is
 * cleared in the same WAL record (type 3), so that replay never sees both
 * the carry and the line it became. */
static int append_impl(struct obs_logstore *ls, const char *stream, const char *buf, size_t n, int64_t now_ms,
		       obs_log_reject_fn reject, void *ctx, uint64_t epoch, uint64_t handle)
{
	struct stream *s;
	int r = stream_get(ls, stream, 1, &s);
	if (r < 0)
		return r;
	struct obs_buf w;
	obs_buf_init(&w);
	size_t nl = strlen(stream);
	uint8_t hbuf[16 + 2 + NAME_MAX_BYTES + 12], *hdr = hbuf + 16;
	put64(hbuf, epoch);
	put64(hbuf + 8, handle);
	hdr[0] = (uint8_t)nl;
	hdr[1] = (uint8_t)(nl >> 8);
	memcpy(hdr + 2, stream, nl);
	int rejected = 0;
	uint32_t cnt = 0;
	int64_t prev = 0;
	size_t bytes = 0, lineno = 0;
	/* pass 1: encode the accepted lines into the WAL payload body */
	const char *p = buf, *end = buf + n;
	while (p < end && r == 0) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		size_t len = (size_t)(e - p);
		lineno++;
		if (len && p[len - 1] == '\r')
			len--;
		if (len > ls->o.max_line) {
			rejected++;
			if (reject)
				reject(ctx, stream, p, len, lineno, "line too long");
		} else {   /* blank and whitespace-only lines are records too */
			int64_t ts;
			if (obs_logline_time(p, len, now_ms, &ts) < 0)
				ts = now_ms;
			int64_t d = ts - prev;
			prev = ts;
			if ((r = put_varint(&w, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63))) == 0 &&
			    (r = put_varint(&w, len)) == 0)
				r = obs_buf_append(&w, p, len);
			cnt++;
			bytes += len;
		}
		p = e + 1;
	}
	if (r == 0 && cnt)
		pthread_rwlock_wrlock(&s->lock);
	while (r == 0 && cnt && s->removed) {
		/* rm'd since we looked it up: this append comes after the rm, so
		 * it goes to the stream of that name now (a new one) */
		pthread_rwlock_unlock(&s->lock);
		stream_put(ls, s);
		if ((r = stream_get(ls, stream, 1, &s)) < 0)
			s = NULL;
		else
			pthread_rwlock_wrlock(&s->lock);
	}
	if (r == 0 && cnt) {
		uint64_t seq = s->next_seq;
		put64(hdr + 2 + nl, seq);
		hdr[2 + nl + 8] = (uint8_t)cnt;
		hdr[2 + nl + 9] = (uint8_t)(cnt >> 8);
		hdr[2 + nl + 10] = (uint8_t)(cnt >> 16);
		hdr[2 + nl + 11] = (uint8_t)(cnt >> 24);
		struct head *h = &s->head;
		r = head_reserve(h, cnt, bytes);
		if (r == 0 && handle) {
			pthread_mutex_lock(&ls->carry_mu);
			r = obs_wal_append2(ls->wal, WAL_BATCH_CARRIED, hbuf, 16 + 2 + nl + 12, w.data, w.len);
			if (r == 0)
				carry_drop(ls, epoch, handle);
			pthread_mutex_unlock(&ls->carry_mu);
		} else if (r == 0)
			r = obs_wal_append2(ls->wal, WAL_BATCH, hdr, 2 + nl + 12, w.data, w.len);
		if (r == 0) {
			if (!h->n) {
				h->first_seq = seq;
				h->first_arrival = now_ms;
			}
			/* decode our own payload back into the head (same lines, same times) */
			const uint8_t *q = (const uint8_t *)w.data, *qe = q + w.len;
			int64_t ts = 0;
			for (uint32_t i = 0; i < cnt; i++) {
				uint64_t z = 0, len = 0;
				get_varint(&q, qe, &z);
				get_varint(&q, qe, &len);
				ts += (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
				head_push(h, ts, (const char *)q, len);
				q += len;
			}
			s->next_seq = seq + cnt;
		}
		pthread_rwlock_unlock(&s->lock);
		if (r == 0)
			__atomic_add_fetch(&ls->appended, cnt, __ATOMIC_RELAXED);
	} else if (r == 0 && handle) {
		/* no line to store (all refused): the carry ends all the same */
		pthread_mutex_lock(&ls->carry_mu);
		if (carry_find(ls, epoch, handle) >= 0 && (r = carry_log(ls, epoch, handle, stream, NULL, 0)) == 0)
			carry_drop(ls, epoch, handle);
		pthread_mutex_unlock(&ls->carry_mu);
	}
	obs_buf_release(&w);
	if (s)
		stream_put(ls, s);
	if (rejected)
		__atomic_add_fetch(&ls->rejected, (uint64_t)rejected, __ATOMIC_RELAXED);
	if (r == 0 && rejected)
		r = -EINVAL;
	return r;
}

int obs_logstore_create(struct obs_logstore *ls, const char *stream)
{
	struct stream *s;
	int r = stream_get(ls, stream, 1, &s);
	if (r < 0)
		return r;
	stream_put(ls, s);
	return fsync_dir(ls->sdir);
}

int obs_logstore_exists(struct obs_logstore *ls, const char *stream)
{
	struct stream *s;
	if (stream_get(ls, stream, 0, &s) < 0)
		return 0;
	stream_put(ls, s);
	return 1;
}

/* WAL record type 4: u16 namelen | name | u64 end_seq */
static int removed_log(struct obs_logstore *ls, const char *stream, uint64_t end)
{
	uint8_t rec[2 + NAME_MAX_BYTES + 8];
	size_t nl = strlen(stream);
	rec[0] = (uint8_t)nl;
	rec[1] = (uint8_t)(nl >> 8);
	memcpy(rec + 2, stream, nl);
	put64(rec + 2 + nl, end);
	int r = obs_fault("logs.remove");
	if (r == 0)
		r = obs_wal_append(ls->wal, WAL_REMOVED, rec, 2 + nl + 8);
	return r;
}

/* rm: one small WAL record says the stream is gone (no segment is written,
 * so a full disk does not stop it unless even that record cannot be
 * written: then -ENOSPC and the stream is intact). The record, the stream
 * leaving the table and its carries being dropped happen under its lock, so
 * an append is either before the rm (its lines go with the stream) or after
 * it (it makes a new stream of that name). Then the WAL is fsynced and the
 * files deleted; a crash in between is finished by replay. */
int obs_logstore_remove(struct obs_logstore *ls, const char *stream)
{
	struct stream *s;
	pthread_mutex_lock(&ls->flush_mu);
	int r = stream_get(ls, stream, 0, &s);
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
		r = table_without(ls, s, &nm);
	if (r == 0)   /* before the record: once it is written nothing may fail */
		r = tomb_set(ls, s->name, s->next_seq);
	if (r == 0) {
		pthread_mutex_lock(&ls->carry_mu);
		if ((r = removed_log(ls, s->name, s->next_seq)) == 0)
			carries_drop_stream(ls, s->name);
		pthread_mutex_unlock(&ls->carry_mu);
	}
	if (r == 0)
		table_install(ls, s, nm);
	else
		obs_strmap_free(nm);
	pthread_mutex_unlock(&ls->mu);
	pthread_rwlock_unlock(&s->lock);
	if (r < 0) {
		pthread_mutex_unlock(&ls->flush_mu);
		stream_put(ls, s);
		return r;
	}
	/* durable before any file goes; the stream is gone either way (the
	 * record is in the WAL), a failed fsync is reported */
	r = obs_wal_sync(ls->wal);
	/* only flushes and re-encoding write segments, and they wait for
	 * flush_mu: the directory holds nothing of a re-created stream yet */
	purge_dir(s->dir);
	pthread_mutex_lock(&ls->mu);
	size_t nl = strlen(stream);
	if (!obs_strmap_get(ls->map, obs_strmap_hash(stream, nl), stream, nl))
		rmdir(s->dir);   /* not re-created meanwhile (that would share it) */
	pthread_mutex_unlock(&ls->mu);
	fsync_dir(ls->sdir);
	pthread_mutex_unlock(&ls->flush_mu);
	stream_put(ls, s);   /* the last holder frees it */
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

/* ---- reading ------------------------------------------------------------ */

static int head_search(const struct head *h, int64_t from, int64_t to, const struct obs_logquery *q,
		       obs_logrec_fn fn, void *ctx)
{
	for (size_t i = 0; h && i < h->n; i++) {
		if (h->ts[i] < from || h->ts[i] > to)
			continue;
		const char *l = h->data.data + h->off[i];
		if (q && !obs_logquery_match(q, l, h->len[i]))
			continue;
		int r = fn(ctx, h->ts[i], l, h->len[i]);
		if (r)
			return r;
	}
	return 0;
}

int obs_logstore_read(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
		      const struct obs_logquery *q, obs_logrec_fn fn, void *ctx)
{
	struct stream *s;
	int r = stream_get(ls, stream, 0, &s);
	if (r < 0)
		return r;
	__atomic_add_fetch(&ls->searches, 1, __ATOMIC_RELAXED);
	struct obs_logseg_stats st = { 0, 0 };
	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < s->nsegs && !r; i++)
		r = obs_logseg_search(s->segs[i].seg, from, to, q, fn, ctx, &st);
	if (!r)
		r = head_search(s->frozen, from, to, q, fn, ctx);
	if (!r)
		r = head_search(&s->head, from, to, q, fn, ctx);
	pthread_rwlock_unlock(&s->lock);
	__atomic_add_fetch(&ls->frames_read, st.frames_read, __ATOMIC_RELAXED);
	stream_put(ls, s);
	return r;
}

struct agg {
	struct obs_strmap *m;
	uint64_t none;
	int oom;
	int level;   /* grouping a level field: by canonical level name */
};

static int agg_add(void *ctx, const char *v, size_t vn, uint64_t c)
{
	struct agg *a = ctx;
	if (!v) {
		a->none += c;
		return 0;
	}
	const char *ln = a->level ? obs_loglevel_name(obs_loglevel_rank(v, vn)) : NULL;
	if (ln) {
		v = ln;
		vn = strlen(ln);
	}
	uint64_t h = obs_strmap_hash(v, vn);
	uint64_t *cur = obs_strmap_get(a->m, h, v, vn);
	if (!cur) {
		if (!(cur = calloc(1, sizeof(*cur))) || obs_strmap_put(a->m, h, v, vn, cur) < 0) {
			free(cur);
			a->oom = 1;
			return -ENOMEM;
		}
	}
	*cur += c;
	return 0;
}

struct head_count {
	const char *by;
	struct agg *a;
	uint64_t n;
};

static int head_count_cb(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct head_count *c = ctx;
	c->n++;
	if (c->by) {
		const char *v;
		size_t vn;
		int has = obs_logline_field(line, n, c->by, &v, &vn);
		return agg_add(c->a, has ? v : NULL, has ? vn : 0, 1);
	}
	return 0;
}

struct kv {
	const char *k;
	size_t n;
	uint64_t c;
};

static int agg_collect(void *ctx, const char *k, size_t n, void *val)
{
	struct kv **p = ctx;
	(*p)->k = k;
	(*p)->n = n;
	(*p)->c = *(uint64_t *)val;
	(*p)++;
	return 0;
}

static int agg_free(void *ctx, const char *k, size_t n, void *val)
{
	free(val);
	return 0;
}

static int cmp_kv(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	if (x->c != y->c)
		return x->c < y->c ? 1 : -1;
	size_t m = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->k, y->k, m);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

int obs_logstore_count(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
		       const struct obs_logquery *q, const char *by, obs_logcount_fn fn, void *ctx,
		       uint64_t *total)
{
	struct stream *s;
	int r = stream_get(ls, stream, 0, &s);
	if (r < 0)
		return r;
	__atomic_add_fetch(&ls->searches, 1, __ATOMIC_RELAXED);
	struct agg a = { by ? obs_strmap_new() : NULL, 0, 0, by && obs_logfield_is_level(by, strlen(by)) };
	if (by && !a.m) {
		stream_put(ls, s);
		return -ENOMEM;
	}
	struct obs_logseg_stats st = { 0, 0 };
	*total = 0;
	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < s->nsegs && !r; i++)
		r = obs_logseg_count(s->segs[i].seg, from, to, q, by, agg_add, &a, total, &st);
	struct head_count hc = { by, &a, 0 };
	if (!r)
		r = head_search(s->frozen, from, to, q, head_count_cb, &hc);
	if (!r)
		r = head_search(&s->head, from, to, q, head_count_cb, &hc);
	pthread_rwlock_unlock(&s->lock);
	*total += hc.n;
	__atomic_add_fetch(&ls->frames_read, st.frames_read, __ATOMIC_RELAXED);
	if (by) {
		/* the keys stay valid while the map lives */
		size_t n = obs_strmap_count(a.m);
		struct kv *v = malloc((n + 1) * sizeof(*v)), *p = v;
		if (!v && !r)
			r = -ENOMEM;
		if (v) {
			obs_strmap_each(a.m, agg_collect, &p);
			qsort(v, n, sizeof(*v), cmp_kv);
			size_t i = 0;
			int none_done = a.none == 0;
			while (!r && (i < n || !none_done)) {
				if (!none_done && (i == n || a.none >= v[i].c)) {
					r = fn(ctx, NULL, 0, a.none);
					none_done = 1;
				} else {
					r = fn(ctx, v[i].k, v[i].n, v[i].c);
					i++;
				}
			}
			free(v);
		}
		obs_strmap_each(a.m, agg_free, NULL);
		obs_strmap_free(a.m);
	}
	stream_put(ls, s);
	return r;
}

struct render {
	struct obs_buf *out;
	int fmt;
};

static int render_rec(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct render *rd = ctx;
	char t[40];
	int tl = obs_time_format(ts, rd->fmt ? OBS_TIME_EPOCH : OBS_TIME_RFC3339, t);
	t[tl++] = ' ';
	int r = obs_buf_reserve(rd->out, (size_t)tl + n + 1);
	if (r < 0)
		return r;
	memcpy(rd->out->data + rd->out->len, t, (size_t)tl);
	memcpy(rd->out->data + rd->out->len + tl, line, n);
	rd->out->len += (size_t)tl + n;
	rd->out->data[rd->out->len++] = '\n';
	rd->out->data[rd->out->len] = 0;
	return 0;
}

static int render_count(void *ctx, const char *v, size_t vn, uint64_t c)
{
	struct render *rd = ctx;
	if (!v)
		return obs_buf_printf(rd->out, "%llu -\n", (unsigned long long)c);
	return obs_buf_printf(rd->out, "%llu %.*s\n", (unsigned long long)c, (int)vn, v);
}

int obs_logstore_render_view(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
			     const struct obs_logquery *q, int fmt, struct obs_buf *out)
{
	struct render rd = { out, fmt };
	if (q && (q->count || q->by)) {
		uint64_t total;
		int r = obs_logstore_count(ls, stream, from, to, q, q->by, render_count, &rd, &total);
		if (r == 0 && !q->by)
			r = obs_buf_printf(out, "%llu\n", (unsigned long long)total);
		return r < 0 ? r : 0;
	}
	return obs_logstore_read(ls, stream, from, to, q, render_rec, &rd);
}

int obs_logstore_text_size(struct obs_logstore *ls, const char *stream, uint64_t *size)
{
	struct stream *s;
	int r = stream_get(ls, stream, 0, &s);
	if (r < 0)
		return r;
	pthread_rwlock_rdlock(&s->lock);
	uint64_t t = s->text_base;
	if (s->nsegs)
		t = s->segs[s->nsegs - 1].text_off + obs_logseg_text_size(s->segs[s->nsegs - 1].seg);
	*size = t + head_text(s->frozen) + head_text(&s->head);
	pthread_rwlock_unlock(&s->lock);
	stream_put(ls, s);
	return 0;
}

/* copy text of a head from offset off (relative to the head's start) */
static size_t head_read_text(const struct head *h, uint64_t off, char *dst, size_t size)
{
	if (!h || !h->n)
		return 0;
	/* record i starts at off[i] + i * TEXT_EXTRA */
	size_t lo = 0, hi = h->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (h->off[mid] + mid * TEXT_EXTRA <= off) lo = mid; else hi = mid;
	}
	size_t got = 0;
	for (size_t i = lo; i < h->n && got < size; i++) {
		uint64_t t = h->off[i] + i * TEXT_EXTRA;
		size_t rl = h->len[i] + TEXT_EXTRA;
		if (t + rl <= off)
			continue;
		char tmp[40];
		obs_time_format(h->ts[i], OBS_TIME_RFC3339, tmp);
		tmp[OBS_LOG_TIME_WIDTH] = ' ';
		const char *line = h->data.data + h->off[i];
		for (uint64_t k = off > t ? off - t : 0; k < rl && got < size; k++)
			dst[got++] = k <= OBS_LOG_TIME_WIDTH ? tmp[k] : k == rl - 1 ? '\n' : line[k - OBS_LOG_TIME_WIDTH - 1];
	}
	return got;
}

int obs_logstore_read_text(struct obs_logstore *ls, const char *stream, uint64_t off, char *dst,
			   size_t size, size_t *got)
{
	struct stream *s;
	int r = stream_get(ls, stream, 0, &s);
	if (r < 0)
		return r;
	*got = 0;
	pthread_rwlock_rdlock(&s->lock);
	if (off < s->text_base)
		off = s->text_base;   /* bytes dropped by retention read as what follows */
	size_t i = 0;
	while (i + 1 < s->nsegs && s->segs[i + 1].text_off <= off)
		i++;
	for (; i < s->nsegs && *got < size && !r; i++) {
		uint64_t so = s->segs[i].text_off, sz = obs_logseg_text_size(s->segs[i].seg);
		if (off + *got >= so + sz)
			continue;
		size_t g = 0;
		r = obs_logseg_read_text(s->segs[i].seg, off + *got - so, dst + *got, size - *got, &g);
		*got += g;
	}
	uint64_t hbase = s->nsegs ? s->segs[s->nsegs - 1].text_off + obs_logseg_text_size(s->segs[s->nsegs - 1].seg)
				  : s->text_base;
	if (!r && *got < size && s->frozen) {
		uint64_t ft = head_text(s->frozen);
		if (off + *got < hbase + ft)
			*got += head_read_text(s->frozen, off + *got - hbase, dst + *got, size - *got);
		hbase += ft;
	}
	if (!r && *got < size && off + *got >= hbase)
		*got += head_read_text(&s->head, off + *got - hbase, dst + *got, size - *got);
	pthread_rwlock_unlock(&s->lock);
	stream_put(ls, s);
	return r;
}

void obs_logstore_get_stats(struct obs_logstore *ls, struct obs_logstore_stats *st)
{
	memset(st, 0, sizeof(*st));
	struct stream **v;
	size_t n;
	if (snapshot_streams(ls, &v, &n) < 0)
		return;
	st->streams = n;
	for (size_t i = 0; i < n; i++) {
		struct stream *s = v[i];
		pthread_rwlock_rdlock(&s->lock);
		for (size_t k = 0; k < s->nsegs; k++) {
			struct obs_logseg_info in;
			obs_logseg_get_info(s->segs[k].seg, &in);
			st->segments++;
			st->segment_bytes += in.file_bytes;
			st->index_bytes += in.index_bytes;
			st->segment_lines += in.nlines;
			st->segment_raw_bytes += in.raw_bytes;
		}
		st->head_lines += s->head.n + (s->frozen ? s->frozen->n : 0);
		st->head_bytes += s->head.data.len + (s->frozen ? s->frozen->data.len : 0);
		pthread_rwlock_unlock(&s->lock);
	}
	release_streams(ls, v, n);
	struct obs_wal_stats ws;
	obs_wal_get_stats(ls->wal, &ws);
	st->wal_bytes = ws.bytes;
	st->appended = __atomic_load_n(&ls->appended, __ATOMIC_RELAXED);
	st->rejected = __atomic_load_n(&ls->rejected, __ATOMIC_RELAXED);
	st->flushes = __atomic_load_n(&ls->flushes, __ATOMIC_RELAXED);
	st->retained_segments = __atomic_load_n(&ls->retained, __ATOMIC_RELAXED);
	st->compactions = __atomic_load_n(&ls->compactions, __ATOMIC_RELAXED);
	st->searches = __atomic_load_n(&ls->searches, __ATOMIC_RELAXED);
	st->frames_read = __atomic_load_n(&ls->frames_read, __ATOMIC_RELAXED);
}

int obs_logstore_append(struct obs_logstore *ls, const char *stream, const char *buf, size_t n,
			int64_t now_ms, obs_log_reject_fn reject, void *ctx)
{
	return append_impl(ls, stream, buf, n, now_ms, reject, ctx, 0, 0);
}

int obs_logstore_append_carried(struct obs_logstore *ls, const char *stream, const char *buf, size_t n,
				int64_t now_ms, obs_log_reject_fn reject, void *ctx, uint64_t handle)
{
	return append_impl(ls, stream, buf, n, now_ms, reject, ctx, ls->epoch, handle);
}
