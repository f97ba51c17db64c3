/* traces_int.h — the state of struct obs_traces, shared by traces.c
 * (ingest, journal, decisions, checkpoints) and tread.c (reading kept
 * traces, search, status). Private to lib/traces. */
#ifndef OBS_TRACES_TRACES_INT_H
#define OBS_TRACES_TRACES_INT_H

#include <pthread.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/errlog.h"
#include "core/wal.h"
#include "traces/assemble.h"
#include "traces/otlp.h"
#include "traces/policy.h"
#include "traces/red.h"
#include "traces/traces.h"
#include "traces/tstore.h"

struct obs_db;

/* the unfinished document of an open file, as the journal has it */
struct carry { uint64_t handle; struct obs_buf b; struct carry *next; };

struct obs_traces {
	pthread_mutex_t ckpt_mu;         /* one checkpoint at a time; taken before mu */
	pthread_mutex_t mu;              /* everything below but store (own lock), db, el */
	char *dir;
	struct obs_traces_opts o;
	struct obs_wal *wal;
	struct obs_tasm *as;
	struct obs_policy_set *ps;
	struct obs_tstore *store;
	struct obs_red *red;
	struct obs_otlp_pool *pool;      /* ingest parses big writes on its threads (own lock) */
	struct obs_db *db;
	struct obs_errlog *el;
	int replaying;
	int64_t last_red_ms, last_ckpt_ms, last_retain_ms;
	struct carry *carries;
	struct obs_buf pend;             /* decisions taken, journaled before mu is released */
	int defer;                       /* decisions of tick and flush_all: kept traces wait in kept */
	struct obs_buf kept;             /* (16 id, u32 n, (u32 len, span)*)*: added to the store by the
					  * deciding thread after it releases mu (ckpt_mu held: no
					  * checkpoint in between), or by a checkpoint */
	struct obs_traces_stats st;
};

#endif
