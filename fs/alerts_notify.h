/* alerts_notify.h — hooks of the Alertmanager side of alerts/ for alerts.c
 * and main.c (fs/alerts_notify.c). */
#ifndef OBSFS_ALERTS_NOTIFY_H
#define OBSFS_ALERTS_NOTIFY_H

#include "tree.h"
#include "alert/alert.h"

/* the rows alerts.c adds to its table: config, silences, slos, notifications */
extern const struct fs_kind alerts_notify_config;
extern const struct fs_kind alerts_notify_silences_dir;
extern const struct fs_kind alerts_notify_slos_dir;
extern const struct fs_kind alerts_notify_status;

/* Start the notifier (after the db is open); slo_rules installs or (yaml
 * NULL) removes the rule group of an SLO in the rule manager. 0 or -errno
 * with err set. */
int alerts_notify_start(int (*slo_rules)(void *ctx, const char *file, const char *yaml, size_t n),
			char *err, size_t errlen);
void alerts_notify_stop(void);
/* The evaluator sink's send (struct obs_alert_sink.send). */
void alerts_notify_send(void *ctx, const char *file, const char *group, int64_t now,
			const struct obs_alert *const *alerts, size_t n);
/* silencedBy:/inhibitedBy: lines for an alert file; 1 when suppressed. */
int alerts_notify_marks(const struct obs_labels *l, struct obs_buf *out);

#endif
