/* dispatch.h — Alertmanager's dispatcher, single-threaded and driven by a
 * clock: alerts in, grouped notifications out.
 *
 * Alerts put in are routed (am_route_match) into aggregation groups keyed by
 * the route and the values of its group_by labels (all labels for '...'),
 * Alertmanager's group key `ROUTEKEY:{l="v",...}`. A new group is flushed
 * after group_wait (at once when its first alert started more than group_wait
 * ago), then every group_interval. A flush runs the pipeline of Alertmanager:
 * the route muted by its time intervals (mute_time_intervals active, or
 * active_time_intervals all inactive) sends nothing; inhibited alerts (a
 * firing source alert with equal labels) and silenced alerts are left out;
 * the notification log decides per receiver integration whether anything
 * changed (new firing alerts, new resolved ones when send_resolved, all
 * resolved after a firing notification) or repeat_interval has passed since
 * the last notification; then one notification per group and integration is
 * delivered and, once delivered, logged. Resolved alerts leave the group after
 * a successful flush; an empty group is dropped. An alert put with ends_at 0
 * resolves by itself when not refreshed for resolve_timeout.
 *
 * The notification log (what was sent per group key and integration:
 * timestamp, firing and resolved fingerprints) is kept in STATE_DIR/nflog,
 * saved atomically after every delivery, so a restart does not notify again;
 * its entries expire after 120h, as Alertmanager's.
 *
 * Not thread-safe: notify.c serialises access (one notifier thread). */
#ifndef OBS_ALERT_DISPATCH_H
#define OBS_ALERT_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "alert/am.h"
#include "alert/amconfig.h"
#include "alert/silence.h"
#include "core/buf.h"

#define AM_NFLOG_RETENTION (120LL * 3600 * 1000)

enum am_integration { AM_INT_WEBHOOK, AM_INT_EXEC };

/* One notification to deliver. alerts[] are the group's alerts that passed
 * the pipeline (resolved ones only when the integration sends them). */
struct am_delivery {
	const char *receiver;
	enum am_integration kind;
	int index;                        /* integration index in the receiver */
	const struct am_webhook *webhook; /* kind == AM_INT_WEBHOOK */
	const struct am_exec *exec;       /* kind == AM_INT_EXEC */
	const char *group_key;
	const struct obs_labels *group_labels;
	const struct am_alert *const *alerts;
	size_t nalerts;
	size_t nfiring, nresolved;
	int64_t now;
	const char *json;                 /* the Alertmanager webhook payload (version 4) */
	size_t json_len;
};

/* Returns 0 when delivered; anything else leaves the notification log as it
 * was, so the next flush tries again. */
typedef int (*am_deliver_fn)(void *ctx, const struct am_delivery *d);

struct am_dispatch;

/* state_dir may be NULL (no notification log on disk). silences may be NULL.
 * The notification log is loaded from state_dir/nflog; a corrupt log is
 * -EBADMSG. */
int am_dispatch_new(const char *state_dir, const struct am_clock *clk, struct am_silences *sil,
		    am_deliver_fn deliver, void *deliver_ctx, struct am_dispatch **out);
void am_dispatch_free(struct am_dispatch *d);   /* accepts NULL */

/* Use config c (owned by the dispatcher from now on; NULL: no routing, every
 * group dropped). Groups are rebuilt from the alerts held; the notification
 * log is kept, so an unchanged group is not notified again. exec_trusted: the
 * config was written by the mount owner; otherwise exec integrations are not
 * run (each attempt counts in am_dispatch_stats' refused). */
void am_dispatch_set_config(struct am_dispatch *d, struct am_config *c, int exec_trusted);
const struct am_config *am_dispatch_config(const struct am_dispatch *d);

/* The external URL put in payloads (default "http://localhost/"). */
int am_dispatch_set_external_url(struct am_dispatch *d, const char *url);

/* Put alerts (copied). An alert with the same labels replaces the held one
 * (its starts_at is kept when it was already firing). 0 or -ENOMEM. */
int am_dispatch_put(struct am_dispatch *d, const struct am_alert *alerts, size_t n);

/* Flush every group due at now. Returns the time of the next due flush (or
 * INT64_MAX when no group waits). */
int64_t am_dispatch_tick(struct am_dispatch *d);

struct am_dispatch_stats {
	size_t alerts, groups;
	uint64_t notifications;   /* delivered */
	uint64_t failed;          /* delivery attempts that failed */
	uint64_t refused;         /* exec integrations not run: config not owner's */
	uint64_t suppressed;      /* alerts left out by silences or inhibition */
	uint64_t muted;           /* flushes muted by time intervals */
};
void am_dispatch_stats(const struct am_dispatch *d, struct am_dispatch_stats *st);

/* Alertmanager's alert status as text, one line per alert held:
 *     FINGERPRINT STATE {labels} silencedBy=ID,... inhibitedBy=FP,...
 * STATE is active, suppressed or resolved. */
int am_dispatch_render_alerts(struct am_dispatch *d, struct obs_buf *out);
/* The groups: "GROUPKEY receiver=NAME alerts=N next=TIME" lines. */
int am_dispatch_render_groups(struct am_dispatch *d, struct obs_buf *out);

/* Status of one label set: appends "silencedBy: ID,..." and "inhibitedBy:
 * FP,..." lines (nothing when neither applies). Returns 1 when suppressed. */
int am_dispatch_marks(struct am_dispatch *d, const struct obs_labels *l, struct obs_buf *out);

/* The Alertmanager webhook JSON (version "4") for a delivery's fields:
 * groupKey, truncatedAlerts, status, receiver, groupLabels, commonLabels,
 * commonAnnotations, externalURL, alerts[] (status, labels, annotations,
 * startsAt, endsAt, generatorURL, fingerprint). max_alerts > 0 truncates. */
int am_payload_json(const char *receiver, const char *group_key, const struct obs_labels *glabels,
		    const struct am_alert *const *alerts, size_t n, int max_alerts, int64_t now,
		    const char *external_url, struct obs_buf *out);

#endif
