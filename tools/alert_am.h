/* alert_am.h — obs-alert's Alertmanager subcommands (amtool's words):
 * check-config, silence add|query|expire. Linked into obs-alert only. */
#ifndef OBS_TOOLS_ALERT_AM_H
#define OBS_TOOLS_ALERT_AM_H

/* When argv[1] names one of these subcommands, run it and return its exit
 * status (0 ok, 1 failed check / nothing found, 2 error); else -1. */
int alert_am_main(int argc, char **argv);

#endif
