/* tiers.h — the downsampling tiers on disk: rollup files (rollup.h) made
 * from merged blocks, found again at start, retained per tier, and read by
 * range views whose STEP a tier divides.
 *
 *   DATADIR/rollups/1m/LEVEL_MINT_MAXT_BLOCKID   (and 5m/, 1h/)
 *
 * A rollup set is the files of one block; it outlives the raw block (each
 * tier has its own retention). Sets are made when blocks are merged (level
 * >= 2), so fresh data is served raw and older data from rollups. The sets
 * of a merge's inputs are dropped after the merge (the store drops them
 * again at start from the merged block's parents, after a crash). Thread-safe. */
#ifndef OBS_TSDB_TIERS_H
#define OBS_TSDB_TIERS_H

#include <stddef.h>
#include <stdint.h>

#include "tsdb/block.h"
#include "tsdb/rollup.h"

#define OBS_NTIERS 3
extern const int64_t obs_tier_steps[OBS_NTIERS];     /* 1m, 5m, 1h */
extern const char *const obs_tier_names[OBS_NTIERS]; /* "1m", "5m", "1h" */

struct obs_tiers;

/* Open (creating) dir and every rollup file in it. */
int obs_tiers_open(const char *dir, struct obs_tiers **out);
void obs_tiers_close(struct obs_tiers *t);   /* accepts NULL */

/* Compute and write every tier of block b (of the given level), durable
 * (files fsynced and renamed) when it returns 0; on failure no file or set
 * of it is left. */
int obs_tiers_build(struct obs_tiers *t, struct obs_block *b, int level);
/* Forget and delete the set of a block id (the inputs of a merge). */
int obs_tiers_drop(struct obs_tiers *t, const char *block_id);
/* Does a set exist for this block id? */
int obs_tiers_has(struct obs_tiers *t, const char *block_id);
/* Sets present at all (views may skip the tier path otherwise). */
size_t obs_tiers_count(struct obs_tiers *t);

/* Append the buckets of series id from every set of tier k meeting
 * [from, to], in time order of the sets. */
int obs_tiers_read(struct obs_tiers *t, int k, uint32_t id, int64_t from, int64_t to,
		   struct obs_rollup_series *acc);

/* Delete the files of tier k whose span ended before now - retention[k]
 * (0 = keep). Returns the number of files deleted or -errno. */
int obs_tiers_retain(struct obs_tiers *t, int64_t now_ms, const int64_t retention[OBS_NTIERS]);

struct obs_tiers_stats {
	uint64_t sets, files[OBS_NTIERS], bytes[OBS_NTIERS], reads;
};
void obs_tiers_get_stats(struct obs_tiers *t, struct obs_tiers_stats *st);

#endif
