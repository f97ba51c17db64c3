/* receivers.h — delivering notifications: the exec hook, the webhook (HTTP
 * POST via libcurl) and forwarding alerts to a real Alertmanager
 * (POST /api/v2/alerts). Blocking calls, made by the notifier thread only.
 * Each returns 0 or -errno and, on failure, appends a lower-case reason to
 * why (for MOUNT/errors). */
#ifndef OBS_ALERT_RECEIVERS_H
#define OBS_ALERT_RECEIVERS_H

#include <stddef.h>
#include <stdint.h>

#include "alert/am.h"
#include "alert/dispatch.h"
#include "core/buf.h"

/* Run the exec integration's command (argv, no shell) with the webhook JSON
 * on stdin and, added to the daemon's environment: ALERT_STATUS (firing or
 * resolved), ALERT_RECEIVER, ALERT_GROUP_KEY, ALERT_GROUP_LABELS ({k="v"}),
 * ALERT_COUNT, ALERT_FIRING, ALERT_RESOLVED, ALERT_EXTERNAL_URL (not set
 * when empty). stdout and stderr go to /dev/null. A command that exits
 * non-zero, dies or outlives its timeout (then killed) is a failure
 * (-EIO, or -ETIMEDOUT). */
int am_deliver_exec(const struct am_delivery *d, const char *external_url, struct obs_buf *why);

/* POST the JSON to the webhook's url (Content-Type: application/json),
 * each attempt bounded by its timeout; connection errors and 5xx/429
 * answers are retried with backoff (0.5 s, doubling, at most 4 attempts),
 * other 4xx are final (-EPROTO). */
int am_deliver_webhook(const struct am_delivery *d, struct obs_buf *why);

/* Alertmanager's v2 API body for alerts: [{labels, annotations, startsAt,
 * endsAt, generatorURL}, ...]. */
int am_forward_json(const struct am_alert *alerts, size_t n, struct obs_buf *out);
/* POST alerts to BASE/api/v2/alerts (base ends with '/'), in batches of 64
 * (Prometheus' batch size). One attempt per batch, as Prometheus' notifier:
 * the next resend repairs a loss. */
int am_forward_post(const char *base, int64_t timeout_ms, const struct am_alert *alerts, size_t n,
		    struct obs_buf *why);

#endif
