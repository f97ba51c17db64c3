/* logstore_wal.c — the log store's write-ahead log records (libobs logs):
 * appends, carries (partial last lines of open files), rm's record, and
 * replaying them at open. The records travel in obs_wal segments under
 * DIR/wal/ (framing, CRC32C and torn-tail handling in lib/core/wal.c); this
 * file owns their payloads.
 *
 * Payloads, all integers little-endian; NAME is a stream name of 1..200
 * bytes (no NUL), namelen a u16:
 *
 *   type 1  batch: the lines of one append call of one stream
 *           u16 namelen | name | u64 first_seq | u32 count |
 *           count x ( varint zigzag(ts - prev_ts) | varint len | len bytes )
 *           prev_ts starts at 0; len may be 0 (a blank line is a record).
 *           Record i has sequence number first_seq + i.
 *   type 2  carry: the partial last line of an open file
 *           u64 epoch | u64 handle | u16 namelen | name | bytes
 *           no bytes: the carry is cleared (the file was closed or its
 *           line withdrawn); handle is never 0
 *   type 3  batch that ends a carry: the line that completed it is in it
 *           u64 epoch | u64 handle | type 1 payload
 *   type 4  stream removed (rm)
 *           u16 namelen | name | u64 end_seq
 *
 * Other types are skipped (a newer writer's). A payload shorter than its
 * fields, a name longer than 200 bytes or a line running past the end of
 * the record is corruption: replay stops with -EBADMSG, and obs_corrupt()
 * (core/corrupt.h) names DIR/wal, the record (its number in replay order,
 * from 1, and its type), the payload byte and the check; the WAL hands
 * payloads over without their segment file or offset.
 *
 * Validity and recovery:
 * - Sequence numbers: every record of a stream has one, dense and
 *   increasing; a segment knows the first it holds and how many. At open
 *   the segments are loaded first and each stream's next_seq set past its
 *   last segment; replay then skips records below next_seq (they reached a
 *   segment before the crash), so a crash between writing a segment and
 *   dropping the WAL segments before it neither loses nor repeats a record.
 * - Carries are named by (epoch, handle): epoch is random per open, handle
 *   the caller's, so handles of different runs never meet. Replay keeps the
 *   last carry of each name; type 3 and an empty type 2 end one. Those
 *   still pending after replay become records (each in a type 3 record
 *   that ends it, so a crash during recovery neither loses nor repeats
 *   one). Every flush logs the pending carries again right after its WAL
 *   cut, before it drops the WAL segments before the cut.
 * - Type 4: every record of that stream with a sequence number below
 *   end_seq is gone: replay drops the head and the segments it built for it
 *   so far (unlinking segment files a crash left behind) and the carries of
 *   that stream logged before it. A stream re-created with that name
 *   numbers its records from end_seq on (the store remembers end_seq per
 *   name), so its records and segments, before or after this record in the
 *   WAL, are kept. rm writes it (and fsyncs the WAL) before it deletes any
 *   file, and never needs to write a segment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/corrupt.h"
#include "core/fault.h"
#include "core/obstime.h"
#include "core/varint.h"
#include "core/vec.h"
#include "logs/logline.h"
#include "logs/logstore_int.h"
#include "core/fileio.h"
#include "core/wal.h"

/* core/varint.h's reader over a [*p, end) cursor */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	size_t pos = 0;
	int r = obs_varint_get(*p, (size_t)(end - *p), &pos, out);
	if (r == 0)
		*p += pos;
	return r;
}

/* ---- carries ------------------------------------------------------------- */

long ls_carry_find(struct obs_logstore *ls, uint64_t epoch, uint64_t handle)
{
	for (size_t i = 0; i < ls->ncarries; i++)
		if (ls->carries[i].epoch == epoch && ls->carries[i].handle == handle)
			return (long)i;
	return -1;
}

static void carry_drop(struct obs_logstore *ls, uint64_t epoch, uint64_t handle)
{
	long i = ls_carry_find(ls, epoch, handle);
	if (i < 0)
		return;
	free(ls->carries[i].stream);
	free(ls->carries[i].data);
	ls->carries[i] = ls->carries[--ls->ncarries];
}

/* drop every carry of stream (rm: they were partial lines of it) */
void ls_carries_drop_stream(struct obs_logstore *ls, const char *stream)
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
	cn->at = ls_carry_find(ls, epoch, handle);
	cn->c.epoch = epoch;
	cn->c.handle = handle;
	cn->c.len = n;
	cn->c.stream = strndup(stream, nl);
	cn->c.data = malloc(n ? n : 1);
	if (cn->at < 0) {
		if (OBS_VEC_RESERVE(ls->carries, ls->carries_cap, ls->ncarries + 1) < 0) {
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
	obs_put_le64(hdr, epoch);
	obs_put_le64(hdr + 8, handle);
	obs_put_le16(hdr + 16, (uint16_t)nl);
	memcpy(hdr + 18, stream, nl);
	int r = obs_fault("logs.carry");
	if (r == 0)
		r = obs_wal_append2(ls->wal, WAL_CARRY, hdr, 18 + nl, p, n);
	return r;
}

int obs_logstore_carry(struct obs_logstore *ls, uint64_t handle, const char *stream, const char *p, size_t n)
{
	if (!obs_logstore_valid_name(stream) || !handle)
		return -EINVAL;
	pthread_mutex_lock(&ls->carry_mu);
	int r = 0;
	if (!n) {
		if (ls_carry_find(ls, ls->epoch, handle) >= 0 &&
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
int ls_carries_relog(struct obs_logstore *ls)
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

/* A payload failing a check: name the WAL, the record and the check (the
 * WAL replays payloads without their segment file or offset) */
static int bad_record(struct obs_logstore *ls, size_t at, const char *what)
{
	char wdir[4096];
	snprintf(wdir, sizeof(wdir), "%s/wal", ls->dir);
	return obs_corruptf(wdir, OBS_CORRUPT_NO_OFFSET, "record %llu of the replay (type %u), payload byte %zu: %s",
			    (unsigned long long)ls->replay_n, ls->replay_type, at, what);
}

/* a type 1 payload at byte base of its record */
static int replay_batch(struct obs_logstore *ls, const uint8_t *p, size_t n, size_t base)
{
	const uint8_t *start = p, *end = p + n;
	if (n < 2)
		return bad_record(ls, base, "batch shorter than its name length");
	size_t nl = obs_get_le16(p);
	if (n < 2 + nl + 12)
		return bad_record(ls, base, "batch shorter than its header");
	char name[NAME_MAX_BYTES + 1];
	if (nl > NAME_MAX_BYTES)
		return bad_record(ls, base, "stream name longer than 200 bytes");
	memcpy(name, p + 2, nl);
	name[nl] = 0;
	p += 2 + nl;
	uint64_t seq = obs_get_le64(p);
	uint32_t cnt = obs_get_le32(p + 8);
	p += 12;
	struct stream *s;
	int r = ls_stream_get(ls, name, 1, &s);
	if (r < 0)
		return r == -EINVAL ? 0 : r;
	pthread_rwlock_wrlock(&s->lock);
	int64_t ts = 0;
	for (uint32_t i = 0; i < cnt && !r; i++, seq++) {
		uint64_t z, len;
		if (get_varint(&p, end, &z) < 0 || get_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p)) {
			char what[80];
			snprintf(what, sizeof(what), "line %u of %u runs past the record", i + 1, cnt);
			r = bad_record(ls, base + (size_t)(p - start), what);
			break;
		}
		ts += obs_unzigzag(z);
		if (seq >= s->next_seq) {
			if (!s->head.n) {
				s->head.first_seq = seq;
				s->head.first_arrival = obs_time_now();
			}
			if ((r = ls_head_reserve(&s->head, 1, len)) == 0) {
				ls_head_push(&s->head, ts, (const char *)p, len);
				s->next_seq = seq + 1;
			}
		}
		p += len;
	}
	pthread_rwlock_unlock(&s->lock);
	ls_stream_put(ls, s);
	return r;
}

/* type 4: stream removed; see the top of the file */
static int replay_removed(struct obs_logstore *ls, const uint8_t *p, size_t n)
{
	if (n < 2)
		return bad_record(ls, 0, "removal shorter than its name length");
	size_t nl = obs_get_le16(p);
	if (nl > NAME_MAX_BYTES || n < 2 + nl + 8)
		return bad_record(ls, 0, "removal shorter than its fields, or its name longer than 200 bytes");
	char name[NAME_MAX_BYTES + 1];
	memcpy(name, p + 2, nl);
	name[nl] = 0;
	uint64_t end = obs_get_le64(p + 2 + nl);
	ls_carries_drop_stream(ls, name);
	pthread_mutex_lock(&ls->mu);
	int r = ls_tomb_set(ls, name, end);
	pthread_mutex_unlock(&ls->mu);
	struct stream *s;
	if (r < 0 || ls_stream_get(ls, name, 0, &s) < 0)
		return r;
	pthread_rwlock_wrlock(&s->lock);
	/* the head holds records replayed before this one: all below end */
	if (s->head.n && s->head.first_seq < end)
		ls_head_release(&s->head);
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
		ls_seg_offsets(s);
	}
	if (s->next_seq < end)
		s->next_seq = end;
	/* gone, unless a directory that was there at open holds what is left
	 * (a stream re-created after the rm, with segments or not) */
	int gone = !s->nsegs && !s->head.n && (!s->from_dir || dropped);
	struct obs_strmap *nm = NULL;
	if (gone) {
		pthread_mutex_lock(&ls->mu);
		if ((r = ls_table_without(ls, s, &nm)) == 0)
			ls_table_install(ls, s, nm);
		pthread_mutex_unlock(&ls->mu);
		if (r == 0)
			obs_rm_tree(s->dir);
	}
	pthread_rwlock_unlock(&s->lock);
	ls_stream_put(ls, s);
	return r;
}

int ls_replay_cb(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	struct obs_logstore *ls = ctx;
	ls->replay_n++;
	ls->replay_type = type;
	if (type == WAL_REMOVED)
		return replay_removed(ls, p, n);
	if (type == WAL_BATCH)
		return replay_batch(ls, p, n, 0);
	if (type == WAL_CARRY) {
		if (n < 18)
			return bad_record(ls, 0, "carry shorter than its header");
		size_t nl = obs_get_le16(p + 16);
		if (nl > NAME_MAX_BYTES || n < 18 + nl)
			return bad_record(ls, 16, "carry shorter than its name, or its name longer than 200 bytes");
		if (!obs_get_le64(p + 8))   /* 0 means "no carry" to append_impl: it could never end */
			return bad_record(ls, 8, "carry of handle 0");
		return carry_set(ls, obs_get_le64(p), obs_get_le64(p + 8), (const char *)p + 18, nl, (const char *)p + 18 + nl,
				 n - 18 - nl);
	}
	if (type == WAL_BATCH_CARRIED) {
		if (n < 16)
			return bad_record(ls, 0, "carried batch shorter than its carry name");
		carry_drop(ls, obs_get_le64(p), obs_get_le64(p + 8));
		return replay_batch(ls, p + 16, n - 16, 16);
	}
	return 0;
}


int ls_removed_log(struct obs_logstore *ls, const char *stream, uint64_t end)
{
	uint8_t rec[2 + NAME_MAX_BYTES + 8];
	size_t nl = strlen(stream);
	obs_put_le16(rec, (uint16_t)nl);
	memcpy(rec + 2, stream, nl);
	obs_put_le64(rec + 2 + nl, end);
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

static int append_impl(struct obs_logstore *ls, const char *stream, const char *buf, size_t n, int64_t now_ms,
		       obs_log_reject_fn reject, void *ctx, uint64_t epoch, uint64_t handle);

/* After replay: the partial lines of files that were open when the process
 * died become complete records (each in one WAL record that also ends its
 * carry, so a crash during recovery neither loses nor repeats one). One that
 * cannot be stored now (ENOSPC) stays pending, is logged again by every
 * flush and is retried at the next open. */
int ls_carries_recover(struct obs_logstore *ls)
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
		if (r == -EINVAL && ls_carry_find(ls, epoch, handle) >= 0)
			carry_drop(ls, epoch, handle);   /* a bad name or line: nothing to keep */
		if (ls_carry_find(ls, epoch, handle) >= 0)
			i++;
	}
	return 0;
}

/* ---- append ------------------------------------------------------------- */

/* handle != 0: the lines complete the carry (epoch, handle), which is
 * cleared in the same WAL record (type 3), so that replay never sees both
 * the carry and the line it became. */
static int append_impl(struct obs_logstore *ls, const char *stream, const char *buf, size_t n, int64_t now_ms,
		       obs_log_reject_fn reject, void *ctx, uint64_t epoch, uint64_t handle)
{
	struct stream *s;
	int r = ls_stream_get(ls, stream, 1, &s);
	if (r < 0)
		return r;
	struct obs_buf w;
	obs_buf_init(&w);
	size_t nl = strlen(stream);
	uint8_t hbuf[16 + 2 + NAME_MAX_BYTES + 12], *hdr = hbuf + 16;
	obs_put_le64(hbuf, epoch);
	obs_put_le64(hbuf + 8, handle);
	obs_put_le16(hdr, (uint16_t)nl);
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
			if ((r = obs_buf_varint(&w, obs_zigzag(d))) == 0 &&
			    (r = obs_buf_varint(&w, len)) == 0)
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
		ls_stream_put(ls, s);
		if ((r = ls_stream_get(ls, stream, 1, &s)) < 0)
			s = NULL;
		else
			pthread_rwlock_wrlock(&s->lock);
	}
	if (r == 0 && cnt) {
		uint64_t seq = s->next_seq;
		obs_put_le64(hdr + 2 + nl, seq);
		obs_put_le32(hdr + 2 + nl + 8, cnt);
		struct head *h = &s->head;
		r = ls_head_reserve(h, cnt, bytes);
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
				ts += obs_unzigzag(z);
				ls_head_push(h, ts, (const char *)q, len);
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
		if (ls_carry_find(ls, epoch, handle) >= 0 && (r = carry_log(ls, epoch, handle, stream, NULL, 0)) == 0)
			carry_drop(ls, epoch, handle);
		pthread_mutex_unlock(&ls->carry_mu);
	}
	obs_buf_release(&w);
	if (s)
		ls_stream_put(ls, s);
	if (rejected)
		__atomic_add_fetch(&ls->rejected, (uint64_t)rejected, __ATOMIC_RELAXED);
	if (r == 0 && rejected)
		r = -EINVAL;
	return r;
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
