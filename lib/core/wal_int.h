/* wal_int.h — what wal.c (writing) and wal_read.c (replay, recovery) share:
 * the format constants (documented in wal.c) and segment helpers. */
#ifndef OBS_CORE_WAL_INT_H
#define OBS_CORE_WAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wal.h"

#define WAL_MAGIC       "OBSWAL1\n"
#define WAL_VERSION     1u
#define WAL_HDR         16u
#define REC_HDR         9u
#define REC_MAX         (256u << 20)

/* DIR/NAME into buf */
const char *wal_seg_path(char *buf, size_t sz, const char *dir, const char *name);
/* the file name of segment seg */
void wal_seg_name(char *buf, size_t sz, uint64_t seg);
/* the segment numbers in the directory, sorted; 0 or -errno */
int wal_seg_list(int dfd, uint64_t **out, size_t *count);
/* Scan the segments of dir (dfd, locked) in order, calling fn for every
 * record (last_only: only the last segment, fn NULL), as the RECOVERY rules
 * of wal.c say; st gets the counts. */
int wal_recover(const char *dir, int dfd, bool last_only, bool recover, obs_wal_record_fn fn, void *ctx,
		struct obs_wal_stats *st);
/* Exclusive lock on the WAL directory, released when dfd is closed. */
int wal_lock(int dfd);

#endif
