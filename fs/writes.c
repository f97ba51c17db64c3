/* writes.c — writes into files: a write is cut into lines for the kind's
 * consume, the part after the last newline is carried (and journaled by the
 * kind) until the next write or close, over-long lines are refused, and
 * errors are reported so that no retry can store a line twice (fs_write).
 * Generic over the kinds: nothing here names a subtree. */
#include "obsfs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/errlog.h"
#include "ingest/batch.h"

/* Feed complete lines [p, p+n) to the kind's consumer, counting them. */
static int consume(struct ofile *o, const char *p, size_t n)
{
	if (!o->nd.kind->consume)
		return -EACCES;
	size_t before = o->lines;
	o->first_line = before;
	for (const char *q = p, *e = p + n; (q = memchr(q, '\n', (size_t)(e - q))); q++)
		o->lines++;
	int rc = o->nd.kind->consume(o, p, n);
	if (rc && rc != -EINVAL && rc != -EDQUOT)
		o->lines = before;   /* nothing stored: the lines come again */
	return rc;
}

static int journal_carry(struct ofile *o)
{
	int rc = o->nd.kind->journal ? o->nd.kind->journal(o) : 0;
	if (!rc)
		o->carry_kept = o->carry.len;
	return rc;
}

/* The carry is done with (ended or dropped): the next one is all new. */
static void carry_reset(struct ofile *o)
{
	obs_buf_reset(&o->carry);
	o->carry_kept = 0;
}

/* The error a writer should see: anything beats EINVAL (EDQUOT, ENOSPC, EIO
 * say more), and the first error of a kind stays. */
int fs_worst(int rc, int e)
{
	return (!rc || (rc == -EINVAL && e)) ? (e ? e : rc) : rc;
}

/* The longest line o's kind takes. */
static size_t line_max(const struct ofile *o)
{
	return o->nd.kind->line_max ? o->nd.kind->line_max() : obsfs->max_line;
}

/* Log a line longer than max_line: the first bytes of a (carried part) then b. */
static void too_long(struct ofile *o, const char *a, size_t an, const char *b, size_t bn)
{
	char head[OBS_ERRLOG_LINE_MAX], why[96];
	size_t k = an < sizeof head ? an : sizeof head;
	if (k)
		memcpy(head, a, k);
	size_t m = bn < sizeof head - k ? bn : sizeof head - k;
	if (m)
		memcpy(head + k, b, m);
	snprintf(why, sizeof why, "line too long (more than %zu bytes)", line_max(o));
	obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), o->source, ++o->lines, head, k + m, why);
}

/* Errors of the input itself (a line refused, the others stored) against
 * errors of storing it (nothing of that consume() was stored). */
static int input_error(int e)
{
	return e == -EINVAL || e == -EDQUOT;
}

/* What one write request did: bytes taken (stored, refused, or carried),
 * the worst input error among them, and the storage error that stopped it. */
struct wres {
	size_t done;
	int lerr, serr;
};

static void wres_add(struct wres *w, int e)
{
	if (!e)
		return;
	if (input_error(e))
		w->lerr = fs_worst(w->lerr, e);
	else
		w->serr = e;
}

/* Feed complete lines [p, p + n) (n > 0, ending in '\n') to the consumer,
 * refusing each line longer than max_line. Stops at the first storage
 * error; w->done grows by the bytes handled before it. */
static void feed(struct ofile *o, const char *p, size_t n, struct wres *w)
{
	const char *run = p, *end = p + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if ((size_t)(nl - p) > line_max(o)) {
			if (p > run) {
				size_t lines = o->lines;
				wres_add(w, consume(o, run, (size_t)(p - run)));
				if (w->serr) {
					o->lines = lines;
					return;
				}
				w->done += (size_t)(p - run);
			}
			too_long(o, p, (size_t)(nl - p), NULL, 0);
			wres_add(w, -EINVAL);
			w->done += (size_t)(nl + 1 - p);
			run = nl + 1;
		}
		p = nl + 1;
	}
	if (run < end) {
		size_t lines = o->lines;
		wres_add(w, consume(o, run, (size_t)(end - run)));
		if (w->serr) {
			o->lines = lines;
			return;
		}
		w->done += (size_t)(end - run);
	}
}

/* For a kind with join_carry: the carried line (not too long) and the
 * complete lines [p, last] of this write go to the consumer as one buffer
 * (the carry, extended), so a parser that splits its input across threads
 * gets the carried line with the others. The outcome is the separate
 * calls': a storage error before the carried line was stored leaves the
 * carry as it was and takes none of this write (w->done unchanged); one
 * after it takes the bytes before the line that failed (w->done grows by
 * them), the carry is stored. Returns nonzero when the write stops here
 * (w->serr), the carry then cut back or dropped as said; 0: all handled,
 * the caller drops the carry. */
static int join_feed(struct ofile *o, const char *p, const char *last, struct wres *w)
{
	size_t had = o->carry.len;
	if (obs_buf_append(&o->carry, p, (size_t)(last - p) + 1)) {
		wres_add(w, -ENOMEM);
		return 1;
	}
	struct wres j = { 0, 0, 0 };
	feed(o, o->carry.data, o->carry.len, &j);
	wres_add(w, j.lerr);
	if (!j.serr)
		return 0;
	wres_add(w, j.serr);
	if (j.done < had) {   /* the carried line was not stored: it stays carried */
		o->carry.len = had;
		o->carry.data[had] = 0;
	} else {
		w->done += j.done - had;
		carry_reset(o);
	}
	return 1;
}

/* Does a request of size bytes fill a whole FUSE request? The kernel cuts
 * a larger write(2) into requests of max_write bytes (less at most a page
 * when the caller's buffer is not page-aligned). */
static int full_request(size_t size)
{
	return size + 4096 > obsfs->max_write;
}

/* A write is cut into lines; the part after the last newline waits in carry
 * for the next write (or close). A line longer than max_line is refused, its
 * rest skipped up to the next newline.
 *
 * Errors are reported so that no retry can store a line twice:
 *  - a storage error (ENOSPC, EIO, ...) stops the request at the line that
 *    could not be stored: write returns the bytes before it (a short count,
 *    which the kernel passes on) or the error when there are none, and
 *    nothing after that line is kept, not even as a partial line;
 *  - an input error (EINVAL, EDQUOT: the line is refused, the others are
 *    stored) fails a write that fits in one request; in a write the kernel
 *    cut into several requests (this request is full, or continues a full
 *    one) it would cut the write short after the refused request's good
 *    lines were stored and stop the requests after it, so the request is
 *    taken whole and the error is reported by close(2) instead. */
static int write_data(struct ofile *o, const char *buf, size_t size, off_t off)
{
	struct wres w = { 0, 0, 0 };
	pthread_mutex_lock(&o->mu);
	int split = o->split && (uint64_t)off == o->next_off;
	o->wrote = 1;
	const char *p = buf, *end = buf + size;
	if (o->skipping) {
		const char *nl = memchr(p, '\n', size);
		wres_add(&w, -EINVAL);   /* this write carries (the tail of) a refused line */
		if (!nl) {
			w.done = size;
			goto out;
		}
		o->skipping = 0;
		p = nl + 1;
		w.done = (size_t)(p - buf);
	}
	const char *last = p < end ? memrchr(p, '\n', (size_t)(end - p)) : NULL;
	if (last) {
		if (o->carry.len) {
			/* the carried line ends in this write */
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t had = o->carry.len;
			if (had + (size_t)(nl - p) > line_max(o)) {
				too_long(o, o->carry.data, had, p, (size_t)(nl - p));
				wres_add(&w, -EINVAL);
			} else if (o->nd.kind->join_carry) {
				if (join_feed(o, p, last, &w))
					goto out;
				carry_reset(o);
				p = last + 1;
				w.done = (size_t)(p - buf);
				goto tail;
			} else if (obs_buf_append(&o->carry, p, (size_t)(nl - p) + 1)) {
				wres_add(&w, -ENOMEM);
			} else {
				size_t lines = o->lines;
				wres_add(&w, consume(o, o->carry.data, o->carry.len));
				if (w.serr)
					o->lines = lines;
			}
			if (w.serr) {   /* not stored: the carry stays as it was */
				o->carry.len = had;
				goto out;
			}
			carry_reset(o);
			p = nl + 1;
			w.done = (size_t)(p - buf);
		}
		if (p <= last) {
			feed(o, p, (size_t)(last - p) + 1, &w);
			if (w.serr)
				goto out;
		}
		p = last + 1;
		w.done = (size_t)(p - buf);
	}
tail:
	if (p < end) {
		size_t had = o->carry.len;
		if (had + (size_t)(end - p) > line_max(o)) {
			too_long(o, o->carry.data, had, p, (size_t)(end - p));
			carry_reset(o);
			o->skipping = 1;
			wres_add(&w, -EINVAL);
			w.done = size;
		} else if (obs_buf_append(&o->carry, p, (size_t)(end - p))) {
			wres_add(&w, -ENOMEM);
		} else {
			w.done = size;
		}
	}
	int jr = journal_carry(o);
	if (jr && w.done == size && !o->skipping && o->carry.len) {
		/* the partial line could not be journaled: not taken */
		size_t tail = (size_t)(end - p);
		o->carry.len = o->carry.len > tail ? o->carry.len - tail : 0;
		w.done -= tail;
		journal_carry(o);
	}
	wres_add(&w, jr);
out:;
	int rc;
	if (w.serr) {
		rc = w.done ? (int)w.done : w.serr;
		o->pending_err = fs_worst(o->pending_err, w.lerr);
	} else if (w.lerr && (split || full_request(size))) {
		rc = (int)size;
		o->pending_err = fs_worst(o->pending_err, w.lerr);
	} else {
		rc = w.lerr ? w.lerr : (int)size;
	}
	o->split = !w.serr && full_request(size);
	o->next_off = (uint64_t)off + (rc > 0 ? (uint64_t)rc : 0);
	pthread_mutex_unlock(&o->mu);
	return rc;
}

/* Agent directives (lib/ingest/batch.h) at the head of a write to a kind
 * that takes them (ingest, log streams), on a handle with no partial line
 * pending: #obs-error goes to MOUNT/errors; #obs-batch KEY START END drops
 * the part of the batch that was taken before (all of an identical re-sent
 * batch) and records what this write stored. The table of batch ends is
 * journaled in DATADIR/agent-batches (lib/ingest/batch.c), so it outlives
 * a kill -9 of the daemon. */
static struct obs_batchtab *batches;
static pthread_once_t batches_once = PTHREAD_ONCE_INIT;
static void batches_init(void)
{
	char path[4096], why[160];
	batches = obs_batchtab_new(4096);
	snprintf(path, sizeof path, "%s/agent-batches", obsfs->datadir);
	int rc = batches ? obs_batchtab_open(batches, path) : 0;
	if (rc) {   /* kept in memory only: a re-send after a daemon kill may duplicate */
		snprintf(why, sizeof why, "agent batch journal not kept: %s", strerror(-rc));
		obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), "obsfsd", 0, "agent-batches", 13, why);
	}
}

static int agent_write(struct ofile *o, const struct obs_directive *d, const char *buf, size_t size, off_t off)
{
	const char *p = buf + d->len;
	size_t n = size - d->len;
	if (d->kind == OBS_DIR_ERROR) {
		char src[sizeof o->source], why[96];
		snprintf(src, sizeof src, "%.*s", (int)d->keylen, d->key);
		snprintf(why, sizeof why, "%.*s", (int)d->reasonlen, d->reason);
		obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), src, 0, d->subject, d->subjectlen, why);
		if (!n)
			return (int)size;
		int rc = write_data(o, p, n, off + (off_t)d->len);
		return rc < 0 ? rc : rc + (int)d->len;
	}
	pthread_once(&batches_once, batches_init);
	if (!batches)
		return -ENOMEM;
	if (n != d->end - d->start) {
		obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), o->source, 0, buf, d->len - 1,
			       "batch length does not match the write");
		return -EINVAL;
	}
	uint64_t skip = obs_batchtab_skip(batches, d, p);
	if (skip == n)
		return (int)size;   /* sent before: taken already */
	int rc = write_data(o, p + skip, n - skip, off + (off_t)(d->len + skip));
	if (rc > 0 || rc == -EINVAL || rc == -EDQUOT) {
		/* stored (refused lines are in errors); a short count stored whole
		 * lines before a storage error: the agent sends the batch again */
		uint64_t got = rc > 0 ? (uint64_t)rc : n - skip;
		int crc = obs_batchtab_commit(batches, d, d->start + skip + got);
		if (crc < 0 && rc > 0)
			return crc;   /* the agent sends it again: the table in memory skips it */
		if (rc > 0 && got < n - skip)
			return -EIO;
		return rc < 0 ? rc : (int)size;
	}
	return rc;
}

int fs_write(struct ofile *o, const char *buf, size_t size, off_t off)
{
	struct obs_directive d;
	if (o->nd.kind->agent && size >= 12 && buf[0] == '#' && obs_directive_parse(buf, size, &d) != OBS_DIR_NONE) {
		pthread_mutex_lock(&o->mu);
		int fresh = !o->carry.len && !o->skipping;
		pthread_mutex_unlock(&o->mu);
		if (fresh)
			return agent_write(o, &d, buf, size, off);
	}
	return write_data(o, buf, size, off);
}

/* The end of a write: a last line without newline is a line; the errors
 * of a write the kernel cut up are reported; the kind's end_write runs. */
int fs_end_of_write(struct ofile *o)
{
	int rc = 0;
	if (o->carry.len) {
		rc = consume(o, o->carry.data, o->carry.len);
		carry_reset(o);
	}
	rc = fs_worst(rc, journal_carry(o));
	rc = fs_worst(rc, o->pending_err);
	o->pending_err = 0;
	o->skipping = 0;
	if (o->wrote && o->nd.kind->end_write)
		rc = fs_worst(rc, o->nd.kind->end_write(o));
	return rc;
}

