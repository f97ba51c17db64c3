/* inhibit.h — Alertmanager's inhibition: a firing alert matching a rule's
 * source matchers mutes the alerts matching its target matchers that have
 * the same values (absent counts as the same) for every `equal` label. An
 * alert matching both sides is not muted by source alerts that also match
 * both (Alertmanager's rule, so an alert cannot inhibit itself). Resolved
 * alerts inhibit nothing.
 *
 * Built once per dispatcher tick from the alerts held, then asked per alert. */
#ifndef OBS_ALERT_INHIBIT_H
#define OBS_ALERT_INHIBIT_H

#include <stddef.h>
#include <stdint.h>

#include "alert/am.h"
#include "alert/amconfig.h"

struct am_inhibitor;

/* alerts[0..n) stay owned by the caller and must outlive the inhibitor. */
int am_inhibitor_new(const struct am_config *c, const struct am_alert *const *alerts, size_t n,
		     int64_t now, struct am_inhibitor **out);
void am_inhibitor_free(struct am_inhibitor *ih);
/* 1 when l is muted; *by gets the fingerprint of an inhibiting alert. */
int am_inhibitor_mutes(const struct am_inhibitor *ih, const struct obs_labels *l, uint64_t *by);

#endif
