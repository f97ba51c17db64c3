/* wait.c — reads that wait, poll(2), and the wake-ups that end them.
 *
 * A kind with a poll hook (tree.h) can answer a read with "not yet": the
 * request is parked here, no worker thread waits for it, and the notifier
 * thread answers it (fuse_reply_buf) once the kind says it is readable.
 *
 *   events    named wait keys ("logs/app", "errors"), interned on first use
 *             and kept for the mount's life; obsfs_wake(key) bumps the
 *             key's sequence number and signals the notifier
 *   waiters   one list under wait_mu: parked reads (a fuse_req_t, the open
 *             file, size and offset) and poll registrations (a
 *             fuse_pollhandle kept in the open file, o->pollreg)
 *   notifier  one thread: at a wake it asks again every waiter whose
 *             event moved since it last asked, and every SWEEP_MS all of
 *             them (sources that change without telling us, e.g.
 *             rejections counted by the engine); a ready read is claimed,
 *             read and answered, a ready poll is notified
 *             (fuse_lowlevel_notify_poll) and dropped
 *
 * Ownership of a parked read goes to exactly one of: the notifier (ready),
 * the interrupt callback (EINTR: Ctrl-C of the reader), the shutdown
 * (fs_wait_stop at unmount: whatever is readable, else end of file; reads
 * after it are answered at once, and fs_wait_release frees the keys). The
 * state field, under wait_mu, says who; fuse_req_interrupt_func(req, NULL)
 * before the answer waits out a running interrupt callback.
 *
 * Lock order: wait_mu, then an open file's mu. ev_mu is a leaf: obsfs_wake
 * takes nothing else, so a writer may wake while holding its file's mu. */
#include "obsfs.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#define SWEEP_MS 200
#define NEVENT_BUCKETS 256

struct fs_event {
	struct fs_event *next;
	_Atomic uint64_t seq;
	uint64_t hash;
	char key[];
};

enum { W_PARKING, W_QUEUED, W_CLAIMED, W_CANCELLED };

struct waiter {
	struct waiter *next, *prev;
	fuse_req_t req;                 /* a parked read; NULL: a poll registration */
	struct fuse_pollhandle *ph;     /* a poll registration's handle */
	struct ofile *o;
	size_t size;
	off_t off;                      /* UINT64_MAX for poll: the file's read_end */
	struct fs_event *ev;            /* NULL: the sweep only */
	uint64_t seen;                  /* ev->seq when last found not ready */
	int state;
};

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct fs_event *events[NEVENT_BUCKETS];
static int ev_pending, ev_stop;

static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static struct waiter head = { &head, &head, NULL, NULL, NULL, 0, 0, NULL, 0, 0 };
static int closed;                  /* shut down: nothing parks any more */
static size_t nparked;

static pthread_t notifier_thread;
static int notifier_running;

/* ---- events ------------------------------------------------------------------ */

static struct fs_event *event_find(const char *key, uint64_t h)
{
	for (struct fs_event *e = events[h % NEVENT_BUCKETS]; e; e = e->next)
		if (e->hash == h && !strcmp(e->key, key))
			return e;
	return NULL;
}

struct fs_event *fs_event(const char *key)
{
	uint64_t h = XXH3_64bits(key, strlen(key));
	pthread_mutex_lock(&ev_mu);
	struct fs_event *e = event_find(key, h);
	if (!e && (e = calloc(1, sizeof *e + strlen(key) + 1))) {
		strcpy(e->key, key);
		e->hash = h;
		e->next = events[h % NEVENT_BUCKETS];
		events[h % NEVENT_BUCKETS] = e;
	}
	pthread_mutex_unlock(&ev_mu);
	return e;
}

static void signal_notifier(void)
{
	pthread_mutex_lock(&ev_mu);
	ev_pending = 1;
	pthread_cond_signal(&ev_cond);
	pthread_mutex_unlock(&ev_mu);
}

void fs_event_wake(struct fs_event *e)
{
	if (!e)
		return;
	atomic_fetch_add(&e->seq, 1);
	signal_notifier();
}

void obsfs_wake(const char *key)
{
	uint64_t h = XXH3_64bits(key, strlen(key));
	pthread_mutex_lock(&ev_mu);
	struct fs_event *e = event_find(key, h);   /* none: nobody ever waited on it */
	if (e) {
		atomic_fetch_add(&e->seq, 1);
		ev_pending = 1;
		pthread_cond_signal(&ev_cond);
	}
	pthread_mutex_unlock(&ev_mu);
}

/* ---- waiters ------------------------------------------------------------------ */

static void list_add(struct waiter *w)
{
	w->prev = head.prev;
	w->next = &head;
	head.prev->next = w;
	head.prev = w;
	nparked++;
}

static void list_del(struct waiter *w)
{
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = w;
	nparked--;
}

size_t fs_wait_count(void)
{
	pthread_mutex_lock(&wait_mu);
	size_t n = nparked;
	pthread_mutex_unlock(&wait_mu);
	return n;
}

/* Read now and answer req. */
static void answer(fuse_req_t req, struct ofile *o, size_t size, off_t off)
{
	char stackbuf[4096];
	char *buf = size <= sizeof stackbuf ? stackbuf : malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int rc = fs_read_now(o, buf, size, off);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, (size_t)rc);
	if (buf != stackbuf)
		free(buf);
}

/* Ctrl-C of a blocked reader: the kernel's INTERRUPT (req's lock held). */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct waiter *w = data;
	pthread_mutex_lock(&wait_mu);
	if (w->state == W_PARKING) {
		w->state = W_CANCELLED;   /* the parker answers */
		pthread_mutex_unlock(&wait_mu);
		return;
	}
	if (w->state != W_QUEUED) {   /* claimed: the notifier answers */
		pthread_mutex_unlock(&wait_mu);
		return;
	}
	list_del(w);
	w->state = W_CANCELLED;
	pthread_mutex_unlock(&wait_mu);
	fuse_reply_err(req, EINTR);
	free(w);
}

void fs_read_reply(fuse_req_t req, struct ofile *o, size_t size, off_t off, int nonblock)
{
	struct fs_event *ev;
	if (fs_ready(o, (uint64_t)off, &ev) || !notifier_running) {
		answer(req, o, size, off);
		return;
	}
	if (nonblock) {   /* O_NONBLOCK: nothing yet is EAGAIN, as for a pipe */
		fuse_reply_err(req, EAGAIN);
		return;
	}
	struct waiter *w = calloc(1, sizeof *w);
	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*w = (struct waiter){ w, w, req, NULL, o, size, off, ev, UINT64_MAX, W_PARKING };
	fuse_req_interrupt_func(req, on_interrupt, w);   /* may run it at once */
	pthread_mutex_lock(&wait_mu);
	if (w->state == W_CANCELLED || closed) {
		int cancelled = w->state == W_CANCELLED;
		pthread_mutex_unlock(&wait_mu);
		fuse_req_interrupt_func(req, NULL, NULL);
		if (cancelled)
			fuse_reply_err(req, EINTR);
		else
			answer(req, o, size, off);
		free(w);
		return;
	}
	w->state = W_QUEUED;
	list_add(w);
	pthread_mutex_unlock(&wait_mu);
	/* seen is UINT64_MAX: the notifier asks once more at once, so data
	 * that came between our check and the queueing is not missed */
	signal_notifier();
}

void fs_poll(fuse_req_t req, struct ofile *o, struct fuse_pollhandle *ph, unsigned revents)
{
	struct fs_event *ev;
	if (fs_ready(o, UINT64_MAX, &ev)) {
		fs_poll_forget(o);
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, revents | POLLIN | POLLRDNORM);
		return;
	}
	if (ph) {
		pthread_mutex_lock(&wait_mu);
		struct waiter *w = o->pollreg;
		if (!w && !closed && (w = calloc(1, sizeof *w))) {
			w->state = W_QUEUED;
			w->o = o;
			w->off = (off_t)-1;
			list_add(w);
			o->pollreg = w;
		}
		if (w) {
			if (w->ph)
				fuse_pollhandle_destroy(w->ph);
			w->ph = ph;
			w->ev = ev;
			w->seen = UINT64_MAX;
		} else {
			fuse_pollhandle_destroy(ph);
		}
		pthread_mutex_unlock(&wait_mu);
		signal_notifier();
	}
	fuse_reply_poll(req, revents);
}

void fs_poll_forget(struct ofile *o)
{
	pthread_mutex_lock(&wait_mu);
	struct waiter *w = o->pollreg;
	if (w) {
		list_del(w);
		o->pollreg = NULL;
	}
	pthread_mutex_unlock(&wait_mu);
	if (w) {
		if (w->ph)
			fuse_pollhandle_destroy(w->ph);
		free(w);
	}
}

/* ---- the notifier --------------------------------------------------------------- */

/* Ask the waiters again (all of them, or those whose event moved): ready
 * reads are moved to *claimed, ready polls notified and dropped. */
static void check_waiters(int all, struct waiter *claimed)
{
	pthread_mutex_lock(&wait_mu);
	for (struct waiter *w = head.next, *nx; w != &head; w = nx) {
		nx = w->next;
		uint64_t seq = w->ev ? atomic_load(&w->ev->seq) : 0;
		if (!all && seq == w->seen)
			continue;
		struct fs_event *ev;
		if (!fs_ready(w->o, (uint64_t)w->off, &ev)) {
			w->seen = seq;
			if (ev && ev != w->ev) {
				w->ev = ev;
				w->seen = UINT64_MAX;
			}
			continue;
		}
		list_del(w);
		if (w->req) {
			w->state = W_CLAIMED;
			w->next = claimed->next;
			claimed->next = w;
		} else {
			w->o->pollreg = NULL;
			fuse_lowlevel_notify_poll(w->ph);
			fuse_pollhandle_destroy(w->ph);
			free(w);
		}
	}
	pthread_mutex_unlock(&wait_mu);
}

static void answer_claimed(struct waiter *claimed)
{
	for (struct waiter *w = claimed->next, *nx; w; w = nx) {
		nx = w->next;
		fuse_req_interrupt_func(w->req, NULL, NULL);   /* waits out on_interrupt */
		answer(w->req, w->o, w->size, w->off);
		free(w);
	}
	claimed->next = NULL;
}

static void *notifier(void *arg)
{
	pthread_mutex_lock(&ev_mu);
	while (!ev_stop) {
		if (!ev_pending) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += SWEEP_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&ev_cond, &ev_mu, &ts);
		}
		if (ev_stop)
			break;
		int all = !ev_pending;   /* the sweep */
		ev_pending = 0;
		pthread_mutex_unlock(&ev_mu);
		struct waiter claimed = { 0 };
		check_waiters(all, &claimed);
		answer_claimed(&claimed);
		pthread_mutex_lock(&ev_mu);
	}
	pthread_mutex_unlock(&ev_mu);
	return NULL;
}

int fs_wait_start(void)
{
	if (notifier_running)
		return 0;
	int e = pthread_create(&notifier_thread, NULL, notifier, NULL);
	if (e)
		return -e;
	notifier_running = 1;
	return 0;
}

int fs_wait_stop(void)
{
	int answered = 0;
	if (notifier_running) {
		pthread_mutex_lock(&ev_mu);
		ev_stop = 1;
		pthread_cond_signal(&ev_cond);
		pthread_mutex_unlock(&ev_mu);
		pthread_join(notifier_thread, NULL);
		notifier_running = 0;
	}
	/* every parked read gets what is readable now, else end of file */
	struct waiter claimed = { 0 };
	pthread_mutex_lock(&wait_mu);
	closed = 1;
	for (struct waiter *w = head.next, *nx; w != &head; w = nx) {
		nx = w->next;
		list_del(w);
		if (w->req) {
			w->state = W_CLAIMED;
			w->next = claimed.next;
			claimed.next = w;
			answered++;
		} else {
			w->o->pollreg = NULL;
			fuse_pollhandle_destroy(w->ph);
			free(w);
		}
	}
	pthread_mutex_unlock(&wait_mu);
	answer_claimed(&claimed);
	return answered;
}

void fs_wait_release(void)
{
	pthread_mutex_lock(&ev_mu);
	for (size_t i = 0; i < NEVENT_BUCKETS; i++) {
		for (struct fs_event *e = events[i], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
		events[i] = NULL;
	}
	pthread_mutex_unlock(&ev_mu);
}
