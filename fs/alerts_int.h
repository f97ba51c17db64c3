/* alerts_int.h — shared by the two files of the alerts/ subtree:
 * alerts.c (rule files, the evaluator, the table, start and stop) and
 * alerts_view.c (state, firing/, pending/, events). */
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

#endif
