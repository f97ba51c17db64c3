/* postings.h — inverted label index: label=value -> CRoaring bitmap of series ids.
 *
 * In memory, thread-safe (an internal rwlock: many readers, one writer).
 * Series ids are uint32, dense, assigned by the caller (the tsdb). */
#ifndef OBS_INDEX_POSTINGS_H
#define OBS_INDEX_POSTINGS_H

#include <stddef.h>
#include <stdint.h>
#include <roaring/roaring.h>

#include "core/labels.h"
#include "index/matcher.h"

struct obs_index;

struct obs_index *obs_index_new(void);
void obs_index_free(struct obs_index *ix);   /* accepts NULL */

/* Add series id with its labels (every label, __name__ included). 0 or -ENOMEM. */
int obs_index_add(struct obs_index *ix, uint32_t id, const struct obs_labels *l);
/* Remove a series id from every posting it is in (for retention). */
int obs_index_remove(struct obs_index *ix, uint32_t id, const struct obs_labels *l);

/* Series matching all matchers (Prometheus semantics, including the empty
 * value rules: k="" matches series without k; k!="" only series with k; a
 * regex that matches "" also matches series without the label). With no
 * matcher, or only matchers that match "", the result is intersected with
 * every series. Returns a new bitmap the caller frees, NULL on ENOMEM. */
roaring_bitmap_t *obs_index_select(struct obs_index *ix, const struct obs_matcher *m, size_t n);

/* All series ids. New bitmap, caller frees. */
roaring_bitmap_t *obs_index_all(struct obs_index *ix);

/* Visit label names (sorted), or the values of one name (sorted) with the
 * number of series carrying each. fn returning non-zero stops and is returned. */
typedef int (*obs_index_str_fn)(void *ctx, const char *s, uint64_t count);
int obs_index_label_names(struct obs_index *ix, obs_index_str_fn fn, void *ctx);
int obs_index_label_values(struct obs_index *ix, const char *name, obs_index_str_fn fn, void *ctx);

/* Cardinality of the postings list name=value (0 when absent). */
uint64_t obs_index_count(struct obs_index *ix, const char *name, const char *value);

struct obs_index_stats {
	uint64_t names, pairs, series, bytes;  /* bytes: bitmaps' serialized size */
};
void obs_index_get_stats(struct obs_index *ix, struct obs_index_stats *st);

#endif
