/* notify.h — the notifier: the sink of the rule evaluator on one side,
 * deliveries on the other, a thread and a bounded queue in between so that
 * the evaluator never waits for a webhook, a hook or an Alertmanager.
 *
 * am_notifier_put() copies a batch of alerts into the queue and returns at
 * once; when the queue is full the oldest batch is dropped (counted, and an
 * `errors` line): the evaluator resends its whole state every evaluation.
 * The thread feeds the batches to the dispatcher (dispatch.h), flushes the
 * groups that are due, delivers (exec hooks, webhooks) and forwards the
 * batches marked for it to the Alertmanagers of the config's `alerting:`
 * block. Configuration and status calls are thread-safe. */
#ifndef OBS_ALERT_NOTIFY_H
#define OBS_ALERT_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "alert/am.h"
#include "alert/dispatch.h"
#include "alert/silence.h"
#include "core/buf.h"
#include "core/errlog.h"

#define AM_QUEUE_DEFAULT 1024   /* batches */

struct am_notifier_opts {
	const char *state_dir;        /* DATADIR/alerts (nflog); NULL: memory only */
	const struct am_clock *clk;   /* NULL: the wall clock */
	struct am_silences *silences; /* may be NULL; not owned */
	struct obs_errlog *errlog;    /* may be NULL; not owned */
	const char *external_url;     /* payloads' externalURL */
	size_t queue_max;             /* 0: AM_QUEUE_DEFAULT */
	int no_thread;                /* tests: run am_notifier_run_once() themselves */
	am_deliver_fn deliver;        /* NULL: exec and webhook receivers (receivers.h) */
	void *deliver_ctx;
};

struct am_notifier;

int am_notifier_new(const struct am_notifier_opts *o, struct am_notifier **out);
/* Stops the thread (after the delivery in progress) and frees. NULL ok. */
void am_notifier_free(struct am_notifier *n);

/* Parse config text and use it. trusted: written by the mount owner (exec
 * hooks run only then). On a bad config returns -EINVAL with "line N:
 * reason" in err and keeps the old one. text NULL removes the config. */
int am_notifier_set_config(struct am_notifier *n, const char *text, size_t len, int trusted,
			   struct obs_buf *err);

/* Queue alerts (copied) for the dispatcher and, with AM_PUT_FORWARD, for
 * the Alertmanagers too; AM_PUT_NO_DISPATCH skips the dispatcher (alerts to
 * forward only). Never blocks. 0 or -ENOMEM. */
#define AM_PUT_FORWARD 1
#define AM_PUT_NO_DISPATCH 2
int am_notifier_put(struct am_notifier *n, const struct am_alert *alerts, size_t cnt, int flags);

/* Drain the queue and tick the dispatcher once (the thread's loop body).
 * Returns the next due time. */
int64_t am_notifier_run_once(struct am_notifier *n);

/* Wait until the queue is drained and the dispatcher ticked after the last
 * put (tests and `sync`); up to timeout_ms. 0 or -ETIMEDOUT. */
int am_notifier_sync(struct am_notifier *n, int64_t timeout_ms);

/* Text renderings (dispatch.h): alerts with their marks, groups, and
 * counters ("alerts N", "groups N", "notifications N", ...). */
int am_notifier_render_alerts(struct am_notifier *n, struct obs_buf *out);
int am_notifier_render_groups(struct am_notifier *n, struct obs_buf *out);
int am_notifier_render_stats(struct am_notifier *n, struct obs_buf *out);
/* silencedBy / inhibitedBy lines for one label set; 1 when suppressed. */
int am_notifier_marks(struct am_notifier *n, const struct obs_labels *l, struct obs_buf *out);

#endif
