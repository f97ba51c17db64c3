/* block.h — immutable on-disk blocks: all samples of a time span [mint, maxt]
 * for a set of series, with their own label index.
 *
 * A block is a directory DATADIR/blocks/ID/ (ID: 26-char sortable text, e.g.
 * ULID-like from mint + random) holding a meta file, an index (symbol table,
 * series -> chunk refs, postings as serialized CRoaring bitmaps) and chunk
 * files (per-chunk best encoding via tsdb/encoding.h, zstd over the file where
 * it pays). Layouts are documented at the top of block_int.h. Blocks are written
 * to a temporary directory, fsynced, renamed into place and the parent
 * fsynced, so a crash never leaves a half block visible; readers mmap them.
 *
 * Every series in a block carries its global series id (the tsdb's), so the
 * registry can be rebuilt from blocks at start. */
#ifndef OBS_TSDB_BLOCK_H
#define OBS_TSDB_BLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <roaring/roaring.h>

#include "core/labels.h"
#include "index/matcher.h"
#include "tsdb/samples.h"

struct obs_block_writer;

/* Start a block in blocks_dir (created if missing). level: 1 for a block cut
 * from the head, higher for merged blocks (recorded in meta). */
int obs_block_writer_new(const char *blocks_dir, int level, struct obs_block_writer **out);
/* Add one series with its samples (time-ordered, non-empty). Series may come
 * in any order; each series id at most once. Copies what it needs. */
int obs_block_writer_add(struct obs_block_writer *w, uint32_t series_id, const char *canon, size_t canonlen,
			 const int64_t *ts, const double *vs, size_t n);
/* Record the ids of the blocks this one replaces (a merge), "ID,ID,...":
 * written in meta, so that whoever opens the directory after a crash between
 * the commit and the deletion of the inputs deletes them. 0, -EINVAL, -ENOMEM. */
int obs_block_writer_set_parents(struct obs_block_writer *w, const char *ids);
/* Write, fsync, rename into place, fsync the directory. On success the new
 * block's directory name is copied to id (>= 64 bytes) and the writer is
 * freed. On failure nothing is visible and the writer is freed too. */
int obs_block_writer_commit(struct obs_block_writer *w, char *id);
void obs_block_writer_abort(struct obs_block_writer *w);   /* accepts NULL */

/* Remove the .tmp-* directories a crashed writer left in blocks_dir. Whoever
 * opens a data directory calls it before listing blocks (no writer may run
 * in blocks_dir meanwhile). 0 (also when blocks_dir is missing) or -errno. */
int obs_block_gc_tmp(const char *blocks_dir);

struct obs_block;

/* Open (mmap) a committed block directory. -EBADMSG on corruption (checked
 * with CRC-32C), never a crash, whatever the bytes. */
int obs_block_open(const char *dir, struct obs_block **out);
void obs_block_close(struct obs_block *b);   /* accepts NULL */

struct obs_block_meta {
	int64_t mint, maxt;
	uint64_t series, samples, chunks;
	int level;
	uint64_t bytes;          /* all files of the block */
};
void obs_block_get_meta(const struct obs_block *b, struct obs_block_meta *m);
const char *obs_block_id(const struct obs_block *b);
/* The blocks a merged block replaces, "ID,ID,..." ("" for none). */
const char *obs_block_parents(const struct obs_block *b);
const char *obs_block_dir(const struct obs_block *b);

/* Series of the block: local index i in [0, series) -> global id and text. */
uint32_t obs_block_series_count(const struct obs_block *b);
int obs_block_series(const struct obs_block *b, uint32_t i, uint32_t *series_id, const char **canon, size_t *len);
/* Local index of a global series id, or -ENOENT. */
int obs_block_find(const struct obs_block *b, uint32_t series_id, uint32_t *i);
/* Time of the first and last sample of local series i (from the index, no
 * decoding). 0 or -ENOENT. */
int obs_block_series_range(const struct obs_block *b, uint32_t i, int64_t *mint, int64_t *maxt);
/* Append the samples of local series i with from <= t <= to to out. Thread-safe. */
int obs_block_read(const struct obs_block *b, uint32_t i, int64_t from, int64_t to, struct obs_samples *out);
/* Global series ids matching all matchers (Prometheus semantics), new bitmap. */
roaring_bitmap_t *obs_block_select(const struct obs_block *b, const struct obs_matcher *m, size_t n);

#endif
