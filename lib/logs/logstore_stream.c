/* logstore_stream.c — the log store's streams (libobs logs): names and
 * their directory form, the in-memory head, the stream table with its
 * reference counts and removal tombs, and loading a stream's segments at
 * open. Shared declarations in logstore_int.h; locking at the top of
 * logstore.c.
 *
 * A stream lives in DIR/streams/NAME/, NAME escaped: bytes outside
 * [A-Za-z0-9._-] (and a leading '.') as %XX, so any valid stream name is
 * one safe directory entry. Its segments are SEQ.seg, SEQ the 16 hex digits
 * of the sequence number of its first record (format in logseg.c); a name
 * starting ".tmp-" is a segment being written (removed at load); a segment
 * that fails its checks at load is renamed SEQ.seg.corrupt, kept for
 * inspection and no longer served (obs_corrupt reports which check failed
 * where; stats count it); any other error loading one fails the open. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/vec.h"
#include "logs/logstore_int.h"

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

int ls_mkdir(const char *d)
{
	if (mkdir(d, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* ---- head --------------------------------------------------------------- */

void ls_head_release(struct head *h)
{
	obs_buf_release(&h->data);
	free(h->off);
	free(h->len);
	free(h->ts);
	memset(h, 0, sizeof(*h));
}

int ls_head_reserve(struct head *h, size_t k, size_t bytes)
{
	/* three arrays of one capacity: each grows the same way from cap */
	size_t need = h->n + k, co = h->cap, cl = h->cap, ct = h->cap;
	if (OBS_VEC_RESERVE_FROM(h->off, co, need, 1024) < 0 || OBS_VEC_RESERVE_FROM(h->len, cl, need, 1024) < 0 ||
	    OBS_VEC_RESERVE_FROM(h->ts, ct, need, 1024) < 0)
		return -ENOMEM;
	h->cap = co;
	return obs_buf_reserve(&h->data, bytes);
}

/* caller reserved */
void ls_head_push(struct head *h, int64_t ts, const char *p, size_t n)
{
	h->off[h->n] = h->data.len;
	h->len[h->n] = (uint32_t)n;
	h->ts[h->n] = ts;
	memcpy(h->data.data + h->data.len, p, n);
	h->data.len += n;
	h->n++;
}

uint64_t ls_head_text(const struct head *h)
{
	return h ? h->data.len + (uint64_t)h->n * TEXT_EXTRA : 0;
}

/* ---- streams ------------------------------------------------------------ */

void ls_stream_free(struct stream *s)
{
	if (!s)
		return;
	ls_head_release(&s->head);
	if (s->frozen) {
		ls_head_release(s->frozen);
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
int ls_stream_get_locked(struct obs_logstore *ls, const char *name, int create, struct stream **out)
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
		int grown = OBS_VEC_RESERVE(ls->all, ls->all_cap, ls->nall + 1) == 0;
		if (!s || !esc || !grown || !(s->name = strdup(name)) ||
		    asprintf(&s->dir, "%s/%s", ls->sdir, esc) < 0) {
			free(esc);
			if (s)
				s->dir = NULL;
			ls_stream_free(s);
			return -ENOMEM;
		}
		free(esc);
		pthread_rwlock_init(&s->lock, NULL);
		/* re-created after an rm: number on from where the removed one
		 * ended, so replay tells its records from the removed ones */
		uint64_t *end = ls->tombs ? obs_strmap_get(ls->tombs, h, name, n) : NULL;
		if (end)
			s->next_seq = *end;
		int r = ls_mkdir(s->dir);
		if (r == 0)
			r = obs_strmap_put(ls->map, h, name, n, s);
		if (r < 0) {
			ls_stream_free(s);
			return r;
		}
		ls->all[ls->nall++] = s;
	}
	s->refs++;
	*out = s;
	return 0;
}

int ls_stream_get(struct obs_logstore *ls, const char *name, int create, struct stream **out)
{
	pthread_mutex_lock(&ls->mu);
	int r = ls_stream_get_locked(ls, name, create, out);
	pthread_mutex_unlock(&ls->mu);
	return r;
}

void ls_stream_put(struct obs_logstore *ls, struct stream *s)
{
	pthread_mutex_lock(&ls->mu);
	int dead = --s->refs == 0 && s->removed;
	pthread_mutex_unlock(&ls->mu);
	if (dead)
		ls_stream_free(s);
}

/* under ls->mu: a copy of the name table without s (obs_strmap_del is not
 * used here: the table is rebuilt), installed by table_install */
int ls_table_without(struct obs_logstore *ls, struct stream *s, struct obs_strmap **out)
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
void ls_table_install(struct obs_logstore *ls, struct stream *s, struct obs_strmap *nm)
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
int ls_tomb_set(struct obs_logstore *ls, const char *name, uint64_t end)
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

int ls_tomb_free(void *ctx, const char *k, size_t n, void *val)
{
	free(val);
	return 0;
}

/* unlink every file of a stream directory (segments, .corrupt and temp
 * files) */
void ls_purge_dir(const char *dir)
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

int ls_seg_add(struct stream *s, struct obs_logseg *seg, char *path)
{
	if (OBS_VEC_RESERVE(s->segs, s->segs_cap, s->nsegs + 1) < 0)
		return -ENOMEM;
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

void ls_seg_offsets(struct stream *s)
{
	uint64_t t = s->text_base;
	for (size_t i = 0; i < s->nsegs; i++) {
		s->segs[i].text_off = t;
		t += obs_logseg_text_size(s->segs[i].seg);
	}
}

int ls_load_stream_dir(struct obs_logstore *ls, const char *esc)
{
	char *name = unescape_name(esc);
	if (!name)
		return -ENOMEM;
	struct stream *s;
	pthread_mutex_lock(&ls->mu);
	int r = ls_stream_get_locked(ls, name, 1, &s);
	pthread_mutex_unlock(&ls->mu);
	free(name);
	if (r < 0)
		return r == -EINVAL ? 0 : r;
	s->from_dir = 1;
	DIR *d = opendir(s->dir);
	if (!d) {
		ls_stream_put(ls, s);
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
		if ((r = obs_logseg_open(p, &seg)) < 0 && r != -EBADMSG) {
			free(p);   /* not the file's fault (ENOMEM, EIO, EACCES): fail the open */
			break;
		}
		if (r < 0) {
			/* a corrupt segment (obs_corrupt said where and why) is set
			 * aside, not fatal: keep it for inspection */
			r = 0;
			__atomic_add_fetch(&ls->corrupt_segments, 1, __ATOMIC_RELAXED);
			char *q;
			if (asprintf(&q, "%s.corrupt", p) >= 0) {
				rename(p, q);
				free(q);
			}
			free(p);
			continue;
		}
		if ((r = ls_seg_add(s, seg, p)) < 0) {
			obs_logseg_close(seg);
			free(p);
			break;
		}
	}
	closedir(d);
	if (s->nsegs > 1)
		qsort(s->segs, s->nsegs, sizeof(*s->segs), cmp_segent);
	ls_seg_offsets(s);
	ls_stream_put(ls, s);
	return r;
}


int ls_snapshot_streams(struct obs_logstore *ls, struct stream ***out, size_t *n)
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

void ls_release_streams(struct obs_logstore *ls, struct stream **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ls_stream_put(ls, v[i]);
	free(v);
}

