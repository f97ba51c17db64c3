/* db_fixture.h — what the TSDB's unit tests share (test_db*.c,
 * test_exemplar.c): database options with no background work. Header-only
 * (each test file is its own binary). */
#ifndef OBS_TESTS_DB_FIXTURE_H
#define OBS_TESTS_DB_FIXTURE_H

#include "tsdb/db.h"

/* No background compactor, no head cut by size, no timed sync, no retention:
 * a test decides when each of those happens. */
static inline void test_opts(struct obs_db_opts *o)
{
	obs_db_opts_default(o);
	o->check_interval_ms = 0;
	o->block_span_ms = 0;
	o->head_max_samples = 0;
	o->sync_interval_ms = 0;
	o->retention_ms = 0;
}

#endif
