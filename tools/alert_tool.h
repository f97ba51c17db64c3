/* alert_tool.h — obs-alert's rule subcommands (tools/alert_*.c), linked
 * into obs-alert only. */
#ifndef OBS_TOOLS_ALERT_TOOL_H
#define OBS_TOOLS_ALERT_TOOL_H

#include <stddef.h>

#include "alert/amatch.h"
#include "core/buf.h"
#include "core/fileio.h"
#include "core/labels.h"

/* obs-alert test FILE...: promtool test rules. Exit status 0/1/2. */
int alert_cmd_test(int argc, char **argv);
/* obs-alert check FILE...: promtool check rules. Exit status 0/1/2. */
int alert_cmd_check(int argc, char **argv);

/* obs-alert rules|state [-m MNT] (MNT defaults to mnt, from OBS_MOUNT; may
 * be NULL): the rule manager of a mount (alert_mount.c). Exit status 0/1/2. */
int alert_cmd_rules(const char *mnt, int argc, char **argv);
int alert_cmd_state(const char *mnt, int argc, char **argv);

/* argv[from..argc) joined with commas into m (amtool's matcher words) and
 * parsed into f (the caller releases it); exits 2 naming a bad list. */
void alert_matchers_args(int argc, char **argv, int from, struct obs_buf *m, struct am_matchers *f);

/* Go's labels.Labels.String(): {a="x", b="y"} with strconv.Quote values. */
int alert_go_labels(const struct obs_labels *l, struct obs_buf *out);

#endif
