/* alerts_int.h — shared by the two files of the alerts/ subtree:
 * alerts.c (rule files, the evaluator, the table, start and stop),
 * alerts_view.c (state, firing/, pending/, events) and alerts_anomaly.c
 * (anomalies/). */
#ifndef OBSFS_ALERTS_INT_H
#define OBSFS_ALERTS_INT_H

#include "tree.h"
#include "alert/alert.h"
#include "alert/ruleeval.h"

/* the rule manager (NULL before alerts_start and after alerts_stop) */
struct obs_ruleeval *alerts_rule_manager(void);

/* the rows of alerts_view.c in alerts.c's table */
extern const struct fs_kind alerts_view_state;    /* alerts/state */
extern const struct fs_kind alerts_view_in_dir;   /* alerts/firing/, alerts/pending/ (node arg) */
extern const struct fs_kind alerts_view_events;   /* alerts/events */

/* Append a transition's line to alerts/events (the caller wakes its
 * readers); keeps the last MiB of lines. */
void alerts_view_event(const struct obs_alert_event *e);
/* free the kept event lines (at stop) */
void alerts_view_release(void);

/* Install (yaml non-NULL) or remove the generated rule group file (an
 * SLO's, an anomaly's) in the rule manager, source naming it in errors. */
int alerts_install_generated(const char *file, const char *yaml, size_t n, const char *source);

/* Files being created are kept as NUL-separated names in a buffer (under
 * the caller's lock): is name there, take it out. */
int alerts_names_has(const struct obs_buf *names, const char *name);
void alerts_names_del(struct obs_buf *names, const char *name);

/* alerts/anomalies/ (alerts_anomaly.c) */
extern const struct fs_kind alerts_anomalies_dir;
/* Load DATADIR/alerts/anomalies/ and install their rule groups; anomalies
 * are evaluated every interval_ms. 0 or -errno with err set. */
int alerts_anomaly_start(const char *alerts_dir, int64_t interval_ms, char *err, size_t errlen);
/* Evaluate the anomalies due at now, z samples to out (evaluator thread). */
void alerts_anomaly_tick(int64_t now, const struct obs_rule_appender *out);
void alerts_anomaly_stop(void);

#endif
