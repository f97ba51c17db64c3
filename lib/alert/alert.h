/* alert.h — the alert instance as the rest of obsfs sees it (libobs alert).
 *
 * The rule evaluator (ruleeval.h) produces alerts; everything downstream
 * (the Alertmanager side: silences, routes, notifications; the fs tree's
 * alerts/firing, alerts/pending, alerts/events) consumes them through a
 * struct obs_alert_sink. Nothing here depends on the notifier.
 *
 * An alert is identified by its label set (alertname, the series' labels
 * without __name__, the rule's templated labels; rule labels win) and its
 * fingerprint, a 64-bit hash of the canonical label text. All times are
 * Unix milliseconds; 0 means "not set".
 *
 * The life of an alert follows Prometheus' rule manager:
 *   inactive -> pending   first evaluation where the expression returns the series
 *   pending  -> firing    once it has been active for the rule's `for` (at once for 0)
 *   pending  -> (gone)    the series disappears before `for`: dropped, no resolve
 *   firing   -> inactive  the series has been gone for keep_firing_for: resolved_at
 *                         is set and the alert is kept OBS_ALERT_RESOLVED_RETENTION_MS
 *                         so notifiers can send the resolve */
#ifndef OBS_ALERT_ALERT_H
#define OBS_ALERT_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/labels.h"

enum obs_alert_state {
	OBS_ALERT_INACTIVE = 0,   /* resolved (resolved_at set) */
	OBS_ALERT_PENDING = 1,
	OBS_ALERT_FIRING = 2,
};

/* Prometheus' resolvedRetention (15 m) and default resend delay (1 m). */
#define OBS_ALERT_RESOLVED_RETENTION_MS (15 * 60 * 1000LL)
#define OBS_ALERT_RESEND_DELAY_MS (60 * 1000LL)

struct obs_alert {
	struct obs_labels labels;       /* owned; includes alertname */
	struct obs_labels annotations;  /* owned; templated, names are label names */
	uint64_t fp;                    /* obs_alert_fingerprint(&labels) */
	enum obs_alert_state state;
	double value;                   /* the sample value at the last true evaluation */
	int64_t active_at;              /* first true evaluation (Prometheus ActiveAt) */
	int64_t fired_at;               /* pending -> firing (0: never fired) */
	int64_t resolved_at;            /* firing -> inactive (0: still active) */
	int64_t last_sent_at;           /* last time the evaluator handed it out to send */
	int64_t valid_until;            /* Prometheus' ValidUntil / Alertmanager's endsAt
				         * for an active alert: eval time + 4 * max(interval, resend delay);
				         * for a resolved alert, resolved_at */
	int64_t keep_firing_since;      /* first evaluation without the series while
				         * kept firing by keep_firing_for (0: not kept) */
	const char *rule;               /* alert name (alertname), borrowed from the rule */
	const char *group;              /* group name, borrowed */
	const char *file;               /* rule file (as loaded), borrowed */
};

/* Events: one per state transition of an alert. */
enum obs_alert_event_kind {
	OBS_ALERT_EV_PENDING,     /* inactive -> pending */
	OBS_ALERT_EV_FIRING,      /* pending -> firing, or inactive -> firing when for is 0 */
	OBS_ALERT_EV_RESOLVED,    /* firing -> inactive */
	OBS_ALERT_EV_DROPPED,     /* pending -> gone (never fired) */
};

struct obs_alert_event {
	int64_t t;                          /* evaluation time of the transition */
	enum obs_alert_event_kind kind;
	const struct obs_alert *alert;      /* borrowed: valid during the call only */
};

/* The evaluator's outputs. Both callbacks run on the evaluator's thread with
 * the evaluator's group state stable; they must copy what they keep
 * (obs_alert_copy) and must not call back into the evaluator.
 *
 * send: after every evaluation of a group, every alert of that group that
 *   is pending, firing, or resolved within OBS_ALERT_RESOLVED_RETENTION_MS,
 *   like Prometheus' NotifyFunc except that pending alerts are included
 *   (a notifier sends only state != PENDING). The evaluator applies
 *   Prometheus' resend rule (obs_alert_needs_sending) before the call: the
 *   alerts Prometheus would send now have last_sent_at == now and
 *   valid_until set.
 * event: once per transition, in evaluation order, before send.
 * Either may be NULL. */
struct obs_alert_sink {
	void (*send)(void *ctx, const char *file, const char *group, int64_t now,
		     const struct obs_alert *const *alerts, size_t n);
	void (*event)(void *ctx, const struct obs_alert_event *ev);
	void *ctx;
};

const char *obs_alert_state_name(enum obs_alert_state s);          /* "inactive" ... */
const char *obs_alert_event_name(enum obs_alert_event_kind k);     /* "pending", "firing", "resolved", "inactive" */

/* 64-bit hash of the canonical label text (xxh64, seed 0). */
uint64_t obs_alert_fingerprint(const struct obs_labels *l);

/* Prometheus' needsSending(ts, resendDelay): never for pending; when
 * resolved after the last send; else when last_sent_at + resend <= now. */
int obs_alert_needs_sending(const struct obs_alert *a, int64_t now, int64_t resend_ms);

/* Deep copy of labels and annotations; rule, group and file stay borrowed
 * pointers (valid while the rule set is loaded: copy them when keeping an
 * alert longer). 0 or -ENOMEM (dst left zeroed). */
int obs_alert_copy(struct obs_alert *dst, const struct obs_alert *src);
void obs_alert_release(struct obs_alert *a);   /* accepts NULL and zeroed */

/* The one-line text used by alerts/events:
 * "TIME STATE ALERTNAME {labels} VALUE\n" with TIME in RFC3339 ms UTC. */
int obs_alert_event_format(const struct obs_alert_event *ev, struct obs_buf *out);

#endif
