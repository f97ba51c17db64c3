/* logstore_cursor.c — resumable searches of a log stream (libobs logs):
 * the records of a search view given a few at a time, so a reader of a
 * huge result holds one frame and one plan, not the result.
 *
 * A cursor names its place by stream sequence number (every record has
 * one: a segment's first_seq + its line, a head's first_seq + its index),
 * which does not change when the head is cut into a segment or a segment
 * is re-encoded; retention only removes numbers below the others. A step
 * takes the stream's read lock, finds the part (segment, frozen head,
 * head) holding the cursor's number, goes on from there and drops the lock
 * when it is done with one frame of that part (HEAD_STEP records of a
 * head) or stops: appends, flushes, re-encoding and retention run between
 * steps and between the frames of one. The segment's plan and the frame
 * being read stay in the cursor across that (they are keyed by the
 * segment's records, which re-encoding keeps). What a cursor covers is fixed at its first step: the
 * records numbered below the stream's next number then (later appends are
 * not part of it), minus those retention drops before the cursor reaches
 * them. The cursor holds a reference to its stream, so a stream removed
 * meanwhile is still the one it searches: its records stay readable (the
 * heads and the mapped segments live as long as the stream), and a cursor
 * that started before the rm goes on to its end; one whose first step
 * comes after it fails -ENOENT, as a search started then would. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "logs/logstore_int.h"

struct obs_logcursor {
	struct obs_logstore *ls;
	struct stream *s;             /* a reference (ls_stream_get) */
	int64_t from, to;
	const struct obs_logquery *q; /* borrowed */
	int started;                  /* end is set */
	uint64_t seq;                 /* the next record to look at */
	uint64_t end;                 /* records at or past it are not ours */
	struct obs_logseg_cursor sc;  /* the segment being searched */
};

int obs_logcursor_new(struct obs_logstore *ls, const char *stream, int64_t from, int64_t to,
		      const struct obs_logquery *q, struct obs_logcursor **out)
{
	struct obs_logcursor *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int r = ls_stream_get(ls, stream, 0, &c->s);
	if (r < 0) {
		free(c);
		return r;
	}
	c->ls = ls;
	c->from = from;
	c->to = to;
	c->q = q;
	obs_logseg_cursor_init(&c->sc);
	c->sc.yield = 1;   /* a step lets the lock go between frames */
	*out = c;
	return 0;
}

void obs_logcursor_free(struct obs_logcursor *c)
{
	if (!c)
		return;
	obs_logseg_cursor_release(&c->sc);
	ls_stream_put(c->ls, c->s);
	free(c);
}

void obs_logcursor_rewind(struct obs_logcursor *c)
{
	c->seq = 0;
}

/* Records of a head a step looks at under one hold of the lock: about a
 * frame's worth, as for segments. */
#define HEAD_STEP 16384

/* records [seq - first_seq, end) of a head, at most HEAD_STEP of them; the
 * same contract as obs_logseg_search_from with yield, *seq for *line */
static int head_from(const struct head *h, const struct obs_logcursor *c, uint64_t *seq, obs_logrec_fn fn,
		     void *ctx)
{
	uint64_t stop = c->end - h->first_seq < h->n ? c->end - h->first_seq : h->n;
	uint64_t start = *seq - h->first_seq;
	if (stop - start > HEAD_STEP)
		stop = start + HEAD_STEP;
	for (uint64_t i = start; i < stop; i++) {
		int r = 0;
		const char *l = h->data.data + h->off[i];
		if (h->ts[i] >= c->from && h->ts[i] <= c->to && (!c->q || obs_logquery_match(c->q, l, h->len[i])))
			r = fn(ctx, h->ts[i], l, h->len[i]);
		if (r) {
			*seq = h->first_seq + i + (r > 0);
			return r;
		}
	}
	*seq = h->first_seq + stop;
	return 0;
}

/* Where the cursor's number lies: the part holding it, or else the first
 * one after it (then *seq moves to its start). 0: segment *seg, 1: the
 * frozen head, 2: the head, -1: nothing left. Under s->lock. */
static int find_part(const struct stream *s, uint64_t *seq, size_t *seg)
{
	size_t lo = 0, hi = s->nsegs;   /* the first segment ending after seq */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->segs[mid].first_seq + s->segs[mid].n <= *seq) lo = mid + 1; else hi = mid;
	}
	if (lo < s->nsegs) {
		if (*seq < s->segs[lo].first_seq)
			*seq = s->segs[lo].first_seq;
		*seg = lo;
		return 0;
	}
	const struct head *h[2] = { s->frozen, &s->head };
	for (int k = 0; k < 2; k++) {
		if (!h[k] || !h[k]->n || h[k]->first_seq + h[k]->n <= *seq)
			continue;
		if (*seq < h[k]->first_seq)
			*seq = h[k]->first_seq;
		return k + 1;
	}
	return -1;
}

int obs_logcursor_step(struct obs_logcursor *c, obs_logrec_fn fn, void *ctx)
{
	struct stream *s = c->s;
	struct obs_logseg_stats st = { 0, 0 };
	int r = 0, more = 1;
	/* the lock is let go between frames (a segment's, or HEAD_STEP
	 * records of a head), so a long step does not hold appends, flushes
	 * and retention back for more than one frame's work */
	while (!r && more) {
		pthread_rwlock_rdlock(&s->lock);
		if (!c->started && s->removed)
			r = -ENOENT;
		if (!r && !c->started) {
			c->end = s->next_seq;
			c->started = 1;
			__atomic_add_fetch(&c->ls->searches, 1, __ATOMIC_RELAXED);
		}
		size_t i = 0;
		int part = r ? -1 : find_part(s, &c->seq, &i);
		more = part >= 0 && c->seq < c->end;
		if (more && part == 0) {
			const struct segent *e = &s->segs[i];
			uint64_t line = c->seq - e->first_seq, stop = c->end - e->first_seq;
			r = obs_logseg_search_from(e->seg, c->from, c->to, c->q, &c->sc, &line, stop, fn, ctx, &st);
			c->seq = e->first_seq + line;
			if (!r && line >= e->n)
				obs_logseg_cursor_release(&c->sc);   /* done with its plan and frame */
		} else if (more) {
			r = head_from(part == 1 ? s->frozen : &s->head, c, &c->seq, fn, ctx);
		}
		pthread_rwlock_unlock(&s->lock);
	}
	__atomic_add_fetch(&c->ls->frames_read, st.frames_read, __ATOMIC_RELAXED);
	return r;
}
