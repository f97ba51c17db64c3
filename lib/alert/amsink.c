/* amsink.c — the rule evaluator's sink (alert.h, struct obs_alert_sink)
 * feeding the Alertmanager side: after each group evaluation every
 * non-pending alert goes to the dispatcher (startsAt = fired_at, endsAt =
 * resolved_at or the alert's validity, as Prometheus sends them), and the
 * ones Prometheus' resend rule picked (last_sent_at == now) are also
 * forwarded to the configured Alertmanagers.
 *
 * alert.h comes with the rule manager; until it is in the tree this file
 * compiles to nothing. */
#include "alert/amsvc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"

static int convert(const struct obs_alert *a, struct am_alert *out)
{
	am_alert_init(out);
	if (obs_labels_copy(&out->labels, &a->labels) || obs_labels_copy(&out->annotations, &a->annotations)) {
		am_alert_release(out);
		return -ENOMEM;
	}
	out->starts_at = a->fired_at ? a->fired_at : a->active_at;
	out->ends_at = a->resolved_at ? a->resolved_at : a->valid_until;
	return 0;
}

static void sink_send(void *ctx, const char *file, const char *group, int64_t now,
		      const struct obs_alert *const *alerts, size_t n)
{
	struct am_service *s = ctx;
	struct am_alert *all = calloc(n + 1, sizeof(*all)), *fwd = calloc(n + 1, sizeof(*fwd));
	size_t na = 0, nf = 0;
	int oom = !all || !fwd;
	for (size_t i = 0; !oom && i < n; i++) {
		const struct obs_alert *a = alerts[i];
		if (a->state == OBS_ALERT_PENDING)
			continue;
		if (convert(a, &all[na])) {
			oom = 1;
			break;
		}
		na++;
		if (a->last_sent_at == now) {
			if (am_alert_copy(&fwd[nf], &all[na - 1]))
				oom = 1;
			else
				nf++;
		}
	}
	if (!oom && na)
		oom = am_service_put(s, all, na, 0) != 0;
	if (!oom && nf)
		oom = am_service_put(s, fwd, nf, AM_PUT_FORWARD | AM_PUT_NO_DISPATCH) != 0;
	(void)oom;   /* the next evaluation sends the whole state again */
	for (size_t i = 0; i < na; i++)
		am_alert_release(&all[i]);
	for (size_t i = 0; i < nf; i++)
		am_alert_release(&fwd[i]);
	free(all);
	free(fwd);
}

struct obs_alert_sink am_service_sink(struct am_service *s)
{
	struct obs_alert_sink k = { .send = sink_send, .event = NULL, .ctx = s };
	return k;
}
