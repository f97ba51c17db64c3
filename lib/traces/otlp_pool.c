/* otlp_pool.c — OTLP/JSON parsing on several threads (libobs traces): a
 * small pool of persistent workers, and obs_otlp_parse_pool (otlp.h).
 *
 * A buffer is cut after newlines into one piece per thread. The calling
 * thread parses the first piece with the caller's callbacks while each
 * worker runs the same document loop (otlp_parse_loop) over its piece and
 * records what it would hand out: every accepted document's encoded spans
 * and every refusal, with the offset where the document starts. The
 * records are then replayed on the calling thread, piece after piece, so
 * the caller sees the serial parse's calls in the serial order.
 *
 * Why the pieces give the serial result: the document loop carries no
 * state from one line to the next but the position and the line number,
 * and a piece is parsed with final == 0, so a document that would need
 * bytes past the piece's end (a multi-line document over the cut) stops
 * that piece before it (consumed short of the end). Then everything from
 * that document on is parsed again on the calling thread over the rest of
 * the buffer, and the later pieces' records are dropped. A piece's line
 * numbers come from counting the newlines before it.
 *
 * A worker's records live in memory only (no format kept anywhere):
 *   'D' offset in buf, len, documents, refused and lines before it in the
 *       piece, then len bytes of u32 length + span encoding (doc blobs)
 *   'E' lineno, offset of the line in buf, line length, reason length,
 *       then the reason and a NUL
 * each number a size_t in host order. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "traces/otlp.h"
#include "traces/otlp_int.h"

#define POOL_MAX 16
#define MIN_PIECE_DEFAULT (64u << 10)

enum { W_IDLE, W_POSTED, W_DONE };

struct worker {
	pthread_t th;
	pthread_mutex_t mu;          /* state, quit and the job below */
	pthread_cond_t cv;           /* state changed */
	int state, quit, started;
	/* the job: buf[off, off + n) of base, lines from first_lineno */
	const char *base;
	size_t off, n, first_lineno;
	int final;
	/* the result (the worker's until it sets W_DONE) */
	struct obs_buf ev;
	struct obs_otlp_result r;
	int rc, oom;
};

struct obs_otlp_pool {
	pthread_mutex_t use;         /* one parse at a time; others parse serially */
	size_t min_piece;
	int nw;
	uint64_t pieces;             /* under use */
	struct worker w[];
};

/* ---- recording (on a worker) ------------------------------------------------- */

static int put_sizes(struct obs_buf *b, char type, const size_t *v, int k)
{
	return obs_buf_putc(b, type) || obs_buf_append(b, v, (size_t)k * sizeof *v) ? -ENOMEM : 0;
}

static int rec_doc(void *ctx, struct doc *d, size_t at, struct obs_otlp_result *r)
{
	struct worker *w = ctx;
	size_t v[5] = { w->off + at, d->blobs.len, (size_t)r->docs, (size_t)r->rejected, r->lines };
	if (put_sizes(&w->ev, 'D', v, 5) || obs_buf_append(&w->ev, d->blobs.data, d->blobs.len)) {
		w->oom = 1;
		return -ENOMEM;
	}
	return 0;
}

static void rec_err(void *ctx, size_t lineno, const char *line, size_t n, const char *why)
{
	struct worker *w = ctx;
	size_t v[4] = { lineno, (size_t)(line - w->base), n, strlen(why) };
	if (put_sizes(&w->ev, 'E', v, 4) || obs_buf_append(&w->ev, why, v[3] + 1))
		w->oom = 1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->state != W_POSTED && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->state != W_POSTED)
			break;
		pthread_mutex_unlock(&w->mu);
		obs_buf_reset(&w->ev);
		w->oom = 0;
		w->rc = otlp_parse_loop(w->base + w->off, w->n, w->final, w->first_lineno, rec_doc, rec_err, w, &w->r);
		pthread_mutex_lock(&w->mu);
		w->state = W_DONE;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- the pool ------------------------------------------------------------------- */

int obs_otlp_pool_new(int threads, size_t min_piece, struct obs_otlp_pool **out)
{
	int nw = threads > POOL_MAX ? POOL_MAX - 1 : threads > 1 ? threads - 1 : 0;
	struct obs_otlp_pool *p = calloc(1, sizeof *p + (size_t)nw * sizeof p->w[0]);
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->use, NULL);
	p->min_piece = min_piece ? min_piece : MIN_PIECE_DEFAULT;
	/* the workers take no signals: those are the daemon's main thread's */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = 0;
	for (int i = 0; i < nw; i++) {
		struct worker *w = &p->w[i];
		pthread_mutex_init(&w->mu, NULL);
		pthread_cond_init(&w->cv, NULL);
		obs_buf_init(&w->ev);
		p->nw = i + 1;
		if ((rc = -pthread_create(&w->th, NULL, worker_main, w)))
			break;
		w->started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		obs_otlp_pool_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void obs_otlp_pool_free(struct obs_otlp_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nw; i++) {
		struct worker *w = &p->w[i];
		if (w->started) {
			pthread_mutex_lock(&w->mu);
			w->quit = 1;
			pthread_cond_broadcast(&w->cv);
			pthread_mutex_unlock(&w->mu);
			pthread_join(w->th, NULL);
		}
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		obs_buf_release(&w->ev);
	}
	pthread_mutex_destroy(&p->use);
	free(p);
}

uint64_t obs_otlp_pool_pieces(struct obs_otlp_pool *p)
{
	pthread_mutex_lock(&p->use);
	uint64_t n = p->pieces;
	pthread_mutex_unlock(&p->use);
	return n;
}

/* ---- one parse -------------------------------------------------------------------- */

static size_t count_nl(const char *p, size_t n)
{
	size_t c = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		c++;
	return c;
}

/* The caller's side of a parse: its callbacks and what was handed out. */
struct run {
	const char *buf;
	struct otlp_direct x;
	struct obs_otlp_result *r;
	int ret;                     /* 0, -EINVAL, or the error that stopped it */
};

/* Count a piece's (or the tail's) result into the total and the verdict;
 * 1 when it was stopped by an error. */
static int settle(struct run *u, const struct obs_otlp_result *p, int rc)
{
	u->r->docs += p->docs;
	u->r->rejected += p->rejected;
	u->r->lines += p->lines;
	if (rc == -EINVAL && !u->ret)
		u->ret = rc;
	else if (rc && rc != -EINVAL) {
		u->ret = rc;
		return 1;
	}
	return 0;
}

/* Parse buf[off, n) on the calling thread, lines from lineno (the serial
 * parse of the rest). */
static void run_serial(struct run *u, size_t off, size_t n, int final, size_t lineno)
{
	struct obs_otlp_result p;
	int rc = otlp_parse_loop(u->buf + off, n - off, final, lineno, otlp_direct_doc, otlp_direct_err, &u->x, &p);
	u->r->spans += p.spans;
	u->r->consumed = off + p.consumed;
	settle(u, &p, rc);
}

/* Replay worker w's records; 0, or 1 when fn stopped it (u->ret set,
 * u->r->consumed where that document starts). */
static int replay(struct run *u, const struct worker *w)
{
	size_t pos = 0;
	while (pos < w->ev.len) {
		char type = w->ev.data[pos++];
		size_t v[5];
		if (type == 'D') {
			memcpy(v, w->ev.data + pos, 5 * sizeof v[0]);
			pos += 5 * sizeof v[0];
			int rc = otlp_deliver_view(w->ev.data + pos, v[1], u->x.fn, u->x.ctx, u->r);
			pos += v[1];
			if (rc) {   /* where the serial parse stops */
				u->ret = rc;
				u->r->consumed = v[0];
				u->r->docs += v[2];
				u->r->rejected += v[3];
				u->r->lines += v[4];
				return 1;
			}
		} else {
			memcpy(v, w->ev.data + pos, 4 * sizeof v[0]);
			pos += 4 * sizeof v[0];
			otlp_direct_err(&u->x, v[0], u->buf + v[1], v[2], w->ev.data + pos);
			pos += v[3] + 1;
		}
	}
	return 0;
}

static void wait_done(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->state != W_DONE)
		pthread_cond_wait(&w->cv, &w->mu);
	w->state = W_IDLE;
	pthread_mutex_unlock(&w->mu);
}

int obs_otlp_parse_pool(struct obs_otlp_pool *p, const char *buf, size_t n, int final, size_t first_lineno,
			obs_span_fn fn, obs_span_err_fn efn, void *ctx, struct obs_otlp_result *r)
{
	if (!p || !p->nw || n < 2 * p->min_piece || pthread_mutex_trylock(&p->use))
		return obs_otlp_parse(buf, n, final, first_lineno, fn, efn, ctx, r);
	/* cut after the first newline at or past each k/P of the buffer */
	size_t cut[POOL_MAX + 1], line[POOL_MAX + 1];
	int np = 1;
	size_t want = (size_t)p->nw + 1;
	if (want > n / p->min_piece)
		want = n / p->min_piece;
	cut[0] = 0;
	line[0] = first_lineno;
	for (size_t k = 1; k < want; k++) {
		size_t at = k * (n / want);
		if (at < cut[np - 1] + p->min_piece)
			at = cut[np - 1] + p->min_piece;
		const char *nl = at < n ? memchr(buf + at, '\n', n - at) : NULL;
		size_t c = nl ? (size_t)(nl - buf) + 1 : n;
		if (c + p->min_piece > n)
			break;
		line[np] = line[np - 1] + count_nl(buf + cut[np - 1], c - cut[np - 1]);
		cut[np++] = c;
	}
	cut[np] = n;
	if (np == 1) {
		pthread_mutex_unlock(&p->use);
		return obs_otlp_parse(buf, n, final, first_lineno, fn, efn, ctx, r);
	}
	for (int k = 1; k < np; k++) {
		struct worker *w = &p->w[k - 1];
		pthread_mutex_lock(&w->mu);
		w->base = buf;
		w->off = cut[k];
		w->n = cut[k + 1] - cut[k];
		w->first_lineno = line[k];
		w->final = k == np - 1 ? final : 0;
		w->state = W_POSTED;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	p->pieces += (uint64_t)(np - 1);
	struct run u = { buf, { fn, efn, ctx }, r, 0 };
	memset(r, 0, sizeof *r);
	/* the first piece, handed out as it is parsed */
	struct obs_otlp_result p0;
	int rc = otlp_parse_loop(buf, cut[1], 0, first_lineno, otlp_direct_doc, otlp_direct_err, &u.x, &p0);
	r->spans = p0.spans;
	r->consumed = p0.consumed;
	int stop = settle(&u, &p0, rc), serial = !stop && p0.consumed != cut[1];
	/* then each worker's piece in turn, while the pieces meet */
	for (int k = 1; k < np; k++) {
		struct worker *w = &p->w[k - 1];
		wait_done(w);
		if (stop || serial)
			continue;   /* its records are dropped */
		if (w->oom) {   /* not all recorded: read it again here */
			serial = 1;
			continue;
		}
		if ((stop = replay(&u, w)))
			continue;
		r->consumed = w->off + w->r.consumed;
		stop = settle(&u, &w->r, w->rc);
		serial = !stop && w->r.consumed != w->n;
	}
	if (serial)
		run_serial(&u, r->consumed, n, final, first_lineno + r->lines);
	pthread_mutex_unlock(&p->use);
	return u.ret;
}
