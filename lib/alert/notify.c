/* notify.c — the notifier thread, its queue and the deliveries. */
#include "alert/notify.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/receivers.h"
#include "core/obstime.h"

struct batch {
	struct am_alert *v;
	size_t n;
	int flags;                     /* AM_PUT_* */
	struct batch *next;
};

struct am_notifier {
	struct am_clock clk;
	struct obs_errlog *errlog;
	char *external_url;
	size_t queue_max;
	am_deliver_fn deliver;
	void *deliver_ctx;

	pthread_mutex_t mu;            /* guards the queue, seq counters, stop */
	pthread_cond_t cv;             /* queue or config changed, or stop */
	pthread_cond_t done_cv;        /* a loop pass completed */
	struct batch *head, *tail;     /* guarded by mu */
	size_t qlen;
	uint64_t put_seq, done_seq;    /* guarded by mu */
	uint64_t dropped;
	int stop;

	pthread_mutex_t tick_mu;       /* held by whoever changes d (the thread's
	                                  pass, set_config); taken before dmu */
	pthread_mutex_t dmu;           /* guards reading d and the forwarding
	                                  fields; released while a delivery runs
	                                  (tick_mu still held), so status reads
	                                  never wait for a webhook */
	struct am_dispatch *d;
	struct am_strv fwd;            /* copy of the config's targets */
	int64_t fwd_timeout;
	uint64_t forwarded, forward_failed;

	pthread_t thread;
	int has_thread;
};

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		am_alert_release(&b->v[i]);
	free(b->v);
	free(b);
}

static void errlog(struct am_notifier *n, const char *src, const char *why)
{
	if (n->errlog)
		obs_errlog_add(n->errlog, am_clock_now(&n->clk), src, 0, "", 0, why);
}

static int real_deliver(void *ctx, const struct am_delivery *d)
{
	struct am_notifier *n = ctx;
	struct obs_buf why;
	obs_buf_init(&why);
	/* called inside am_dispatch_tick (tick_mu and dmu held): readers may
	 * look at the dispatcher meanwhile, nobody may change it */
	pthread_mutex_unlock(&n->dmu);
	int rc = d->kind == AM_INT_EXEC ? am_deliver_exec(d, n->external_url, &why)
					: am_deliver_webhook(d, &why);
	pthread_mutex_lock(&n->dmu);
	if (rc)
		errlog(n, "alerts/config", why.data ? why.data : "delivery failed");
	obs_buf_release(&why);
	return rc;
}

static void strv_clear(struct am_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static void forward(struct am_notifier *n, struct batch *b)
{
	/* called with tick_mu and dmu held: fwd cannot change (set_config takes
	 * tick_mu), so dmu is let go for the POST (bounded by its timeout) */
	for (size_t i = 0; i < n->fwd.n; i++) {
		struct obs_buf why;
		obs_buf_init(&why);
		pthread_mutex_unlock(&n->dmu);
		int rc = am_forward_post(n->fwd.v[i], n->fwd_timeout, b->v, b->n, &why);
		pthread_mutex_lock(&n->dmu);
		if (rc) {
			n->forward_failed++;
			errlog(n, "alerts/config", why.data ? why.data : "forwarding failed");
		} else {
			n->forwarded += b->n;
		}
		obs_buf_release(&why);
	}
}

int64_t am_notifier_run_once(struct am_notifier *n)
{
	pthread_mutex_lock(&n->mu);
	struct batch *q = n->head;
	n->head = n->tail = NULL;
	n->qlen = 0;
	uint64_t seq = n->put_seq;
	pthread_mutex_unlock(&n->mu);

	pthread_mutex_lock(&n->tick_mu);
	pthread_mutex_lock(&n->dmu);
	while (q) {
		struct batch *next = q->next;
		if (!(q->flags & AM_PUT_NO_DISPATCH) && am_dispatch_put(n->d, q->v, q->n))
			errlog(n, "alerts", "out of memory in the notifier");
		if ((q->flags & AM_PUT_FORWARD) && n->fwd.n)
			forward(n, q);
		batch_free(q);
		q = next;
	}
	int64_t due = am_dispatch_tick(n->d);
	pthread_mutex_unlock(&n->dmu);
	pthread_mutex_unlock(&n->tick_mu);

	pthread_mutex_lock(&n->mu);
	if (seq > n->done_seq)
		n->done_seq = seq;
	pthread_cond_broadcast(&n->done_cv);
	pthread_mutex_unlock(&n->mu);
	return due;
}

static void *loop(void *arg)
{
	struct am_notifier *n = arg;
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	for (;;) {
		int64_t due = am_notifier_run_once(n);
		pthread_mutex_lock(&n->mu);
		while (!n->stop && !n->head) {
			int64_t now = obs_time_now();
			/* the dispatcher's clock may be a test's: wake at least every second */
			int64_t wait = due == INT64_MAX ? 1000 : due - am_clock_now(&n->clk);
			if (wait > 1000)
				wait = 1000;
			if (wait <= 0)
				break;
			int64_t until = now + wait;
			struct timespec ts = { (time_t)(until / 1000), (long)(until % 1000) * 1000000L };
			if (pthread_cond_timedwait(&n->cv, &n->mu, &ts) == ETIMEDOUT)
				break;
		}
		int stop = n->stop;
		pthread_mutex_unlock(&n->mu);
		if (stop)
			break;
	}
	return NULL;
}

int am_notifier_new(const struct am_notifier_opts *o, struct am_notifier **out)
{
	struct am_notifier *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	if (o->clk)
		n->clk = *o->clk;
	n->errlog = o->errlog;
	n->queue_max = o->queue_max ? o->queue_max : AM_QUEUE_DEFAULT;
	n->deliver = o->deliver ? o->deliver : real_deliver;
	n->deliver_ctx = o->deliver ? o->deliver_ctx : n;
	n->external_url = strdup(o->external_url ? o->external_url : "http://localhost/");
	pthread_mutex_init(&n->mu, NULL);
	pthread_mutex_init(&n->tick_mu, NULL);
	pthread_mutex_init(&n->dmu, NULL);
	pthread_cond_init(&n->cv, NULL);
	pthread_cond_init(&n->done_cv, NULL);
	int rc = n->external_url ? 0 : -ENOMEM;
	if (!rc)
		rc = am_dispatch_new(o->state_dir, o->clk, o->silences, n->deliver, n->deliver_ctx, &n->d);
	if (!rc)
		rc = am_dispatch_set_external_url(n->d, n->external_url);
	if (!rc && !o->no_thread) {
		rc = -pthread_create(&n->thread, NULL, loop, n);
		n->has_thread = rc == 0;
	}
	if (rc) {
		am_notifier_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

void am_notifier_free(struct am_notifier *n)
{
	if (!n)
		return;
	if (n->has_thread) {
		pthread_mutex_lock(&n->mu);
		n->stop = 1;
		pthread_cond_broadcast(&n->cv);
		pthread_mutex_unlock(&n->mu);
		pthread_join(n->thread, NULL);
	}
	while (n->head) {
		struct batch *b = n->head;
		n->head = b->next;
		batch_free(b);
	}
	am_dispatch_free(n->d);
	strv_clear(&n->fwd);
	free(n->external_url);
	pthread_mutex_destroy(&n->mu);
	pthread_mutex_destroy(&n->tick_mu);
	pthread_mutex_destroy(&n->dmu);
	pthread_cond_destroy(&n->cv);
	pthread_cond_destroy(&n->done_cv);
	free(n);
}

int am_notifier_set_config(struct am_notifier *n, const char *text, size_t len, int trusted,
			   struct obs_buf *err)
{
	struct am_config *c = NULL;
	if (text) {
		int rc = am_config_parse(text, len, &c, err);
		if (rc)
			return rc;
	}
	struct am_strv fwd = { 0 };
	for (size_t i = 0; c && i < c->forward.n; i++) {
		char **v = realloc(fwd.v, (fwd.n + 1) * sizeof(*v));
		if (!v || !(v[fwd.n] = strdup(c->forward.v[i]))) {
			free(v ? v : fwd.v);
			fwd.v = v;
			strv_clear(&fwd);
			am_config_free(c);
			return -ENOMEM;
		}
		fwd.v = v;
		fwd.n++;
	}
	pthread_mutex_lock(&n->tick_mu);
	pthread_mutex_lock(&n->dmu);
	strv_clear(&n->fwd);
	n->fwd = fwd;
	n->fwd_timeout = c ? c->forward_timeout : AM_HTTP_TIMEOUT_DEFAULT;
	am_dispatch_set_config(n->d, c, trusted);
	pthread_mutex_unlock(&n->dmu);
	pthread_mutex_unlock(&n->tick_mu);
	pthread_mutex_lock(&n->mu);
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return 0;
}

int am_notifier_put(struct am_notifier *n, const struct am_alert *alerts, size_t cnt, int flags)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b || !(b->v = calloc(cnt ? cnt : 1, sizeof(*b->v)))) {
		free(b);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cnt; i++, b->n++)
		if (am_alert_copy(&b->v[i], &alerts[i])) {
			batch_free(b);
			return -ENOMEM;
		}
	b->flags = flags;
	struct batch *drop = NULL;
	pthread_mutex_lock(&n->mu);
	if (n->qlen >= n->queue_max) {
		drop = n->head;
		n->head = drop->next;
		if (!n->head)
			n->tail = NULL;
		n->qlen--;
		n->dropped++;
	}
	if (n->tail)
		n->tail->next = b;
	else
		n->head = b;
	n->tail = b;
	n->qlen++;
	n->put_seq++;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (drop) {
		batch_free(drop);
		errlog(n, "alerts", "notifier queue full: oldest batch dropped");
	}
	return 0;
}

int am_notifier_sync(struct am_notifier *n, int64_t timeout_ms)
{
	int64_t until = obs_time_now() + timeout_ms;
	struct timespec ts = { (time_t)(until / 1000), (long)(until % 1000) * 1000000L };
	pthread_mutex_lock(&n->mu);
	uint64_t want = n->put_seq;
	int rc = 0;
	while (n->done_seq < want && rc == 0) {
		if (!n->has_thread) {
			pthread_mutex_unlock(&n->mu);
			am_notifier_run_once(n);
			pthread_mutex_lock(&n->mu);
			continue;
		}
		pthread_cond_broadcast(&n->cv);
		rc = pthread_cond_timedwait(&n->done_cv, &n->mu, &ts);
	}
	pthread_mutex_unlock(&n->mu);
	return rc ? -ETIMEDOUT : 0;
}

int am_notifier_render_alerts(struct am_notifier *n, struct obs_buf *out)
{
	pthread_mutex_lock(&n->dmu);
	int rc = am_dispatch_render_alerts(n->d, out);
	pthread_mutex_unlock(&n->dmu);
	return rc;
}

int am_notifier_render_groups(struct am_notifier *n, struct obs_buf *out)
{
	pthread_mutex_lock(&n->dmu);
	int rc = am_dispatch_render_groups(n->d, out);
	pthread_mutex_unlock(&n->dmu);
	return rc;
}

int am_notifier_render_stats(struct am_notifier *n, struct obs_buf *out)
{
	struct am_dispatch_stats st;
	pthread_mutex_lock(&n->dmu);
	am_dispatch_stats(n->d, &st);
	uint64_t fw = n->forwarded, ff = n->forward_failed;
	pthread_mutex_unlock(&n->dmu);
	pthread_mutex_lock(&n->mu);
	uint64_t dropped = n->dropped;
	size_t q = n->qlen;
	pthread_mutex_unlock(&n->mu);
	return obs_buf_printf(out,
			      "alerts %zu\ngroups %zu\nnotifications %llu\nfailed %llu\nrefused %llu\n"
			      "suppressed %llu\nmuted %llu\nforwarded %llu\nforward_failed %llu\n"
			      "queued %zu\ndropped %llu\n",
			      st.alerts, st.groups, (unsigned long long)st.notifications,
			      (unsigned long long)st.failed, (unsigned long long)st.refused,
			      (unsigned long long)st.suppressed, (unsigned long long)st.muted,
			      (unsigned long long)fw, (unsigned long long)ff, q,
			      (unsigned long long)dropped) ? -ENOMEM : 0;
}

int am_notifier_marks(struct am_notifier *n, const struct obs_labels *l, struct obs_buf *out)
{
	pthread_mutex_lock(&n->dmu);
	int rc = am_dispatch_marks(n->d, l, out);
	pthread_mutex_unlock(&n->dmu);
	return rc;
}
