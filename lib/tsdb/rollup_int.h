/* rollup_int.h — what the rollup bucket algebra (rollup.c) and the rollup
 * file format (rollup_file.c, rollup_read.c) share. Private to them. */
#ifndef OBS_TSDB_ROLLUP_INT_H
#define OBS_TSDB_ROLLUP_INT_H

#include <stdint.h>

#include "tsdb/rollup.h"

/* A new empty bucket at time t at the end of s (its sketch allocated);
 * *out points at it. 0 or -ENOMEM. */
int obs_rollup_push_bucket(struct obs_rollup_series *s, int64_t t, struct obs_rollup_bucket **out);

#endif
