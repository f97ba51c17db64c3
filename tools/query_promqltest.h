/* query_promqltest.h — run files in Prometheus' promqltest format against
 * a fresh in-memory query engine (obs-query test). */
#ifndef OBS_QUERY_PROMQLTEST_H
#define OBS_QUERY_PROMQLTEST_H

#include <stdio.h>

struct pt_stats {
	unsigned passed, failed, skipped;
};

/* Run one file: every failure is described on out, then the line
 * "FILE: P passed, F failed, S skipped". verbose also lists skips.
 * Returns 0, or -errno when the file cannot be read. */
int pt_run_file(const char *path, FILE *out, int verbose, struct pt_stats *st);

#endif
