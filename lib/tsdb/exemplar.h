/* exemplar.h — the exemplar store: OpenMetrics exemplars (a label set such
 * as {trace_id="..."}, a value, a time) kept beside series, as Prometheus
 * keeps them: in memory, bounded, rebuilt from the WAL (db_wal.c).
 *
 * Per series a ring of at most max_per_series exemplars in time order; all
 * series together at most max_total, the oldest exemplar of all going first
 * when a new one needs room (Prometheus' circular buffer). An exemplar equal
 * (time, labels, value) to one its series holds is a duplicate and is
 * ignored (a retried write); any other not newer than the series' newest is
 * out of order and refused (Prometheus compares with the newest only).
 * Exemplars older than a cutoff (obs_exstore_expire) are dropped, and
 * refused from then on: the db's exemplar_retention.
 *
 * Not thread-safe: the owner (the db, ex_mu) locks. Series are uint32 ids;
 * the store knows nothing else of them. */
#ifndef OBS_TSDB_EXEMPLAR_H
#define OBS_TSDB_EXEMPLAR_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct obs_exstore;

/* A store for at most max_total exemplars, at most max_per_series of one
 * series (both >= 1). NULL when out of memory. */
struct obs_exstore *obs_exstore_new(size_t max_total, size_t max_per_series);
void obs_exstore_free(struct obs_exstore *x);   /* accepts NULL */

/* Add an exemplar of series id: labels is its label set in the form of
 * obs_exemplar_labels_canon (len bytes, copied). Returns 0 when stored
 * (the oldest exemplar of the store or of the series may be evicted), 1 for
 * a duplicate, 2 for one older than the expiry cutoff (counted as expired;
 * nothing else changes for either), -EINVAL with *why for one out of order,
 * -ENOMEM (nothing changes). */
int obs_exstore_add(struct obs_exstore *x, uint32_t id, int64_t t, double v, const char *labels, size_t len,
		    const char **why);

/* A mark before a batch of adds, and the undo of every add since it (after
 * a failed WAL write): they are removed; what they evicted stays gone. */
uint64_t obs_exstore_mark(const struct obs_exstore *x);
void obs_exstore_undo(struct obs_exstore *x, uint64_t mark);

/* Visit the exemplars of series id with from <= t <= to, oldest first; fn
 * returning non-zero stops the walk and is returned. */
int obs_exstore_each(const struct obs_exstore *x, uint32_t id, int64_t from, int64_t to,
		     int (*fn)(void *ctx, int64_t t, double v, const char *labels, size_t len), void *ctx);

/* Visit every exemplar in the order they were added (oldest first), with
 * its series: what a WAL needs to rebuild the store. */
int obs_exstore_each_all(const struct obs_exstore *x,
			 int (*fn)(void *ctx, uint32_t id, int64_t t, double v, const char *labels, size_t len),
			 void *ctx);

/* The same walk in pieces, for a store that changes between them: visit,
 * in the order they were added, the exemplars still held that were added
 * after mark *from and not after mark to (obs_exstore_mark), at most max of
 * them; *from advances past what was visited. Returns 1 when the walk
 * stopped at max (call again with the same *from), 0 when it reached to,
 * fn's non-zero when fn stopped it. Exemplars evicted or expired between
 * pieces are not visited; those added after to never are. */
int obs_exstore_each_between(const struct obs_exstore *x, uint64_t *from, uint64_t to, size_t max,
			     int (*fn)(void *ctx, uint32_t id, int64_t t, double v, const char *labels, size_t len),
			     void *ctx);

/* Drop every exemplar older than cutoff (t < cutoff) and refuse such ones
 * from now on; the cutoff never moves back (an earlier one changes
 * nothing). Returns how many were dropped (stats: expired). Cheap when
 * nothing is that old (the store keeps a bound on its oldest time);
 * otherwise one pass over the store. */
size_t obs_exstore_expire(struct obs_exstore *x, int64_t cutoff);

/* Forget every exemplar of the series for which keep(ctx, id) is 0. */
void obs_exstore_retain(struct obs_exstore *x, int (*keep)(void *ctx, uint32_t id), void *ctx);

struct obs_exstore_stats {
	uint64_t exemplars, series;     /* held now */
	uint64_t added, duplicates, out_of_order, evicted;
	uint64_t expired;               /* dropped or refused for age (obs_exstore_expire) */
};
void obs_exstore_get_stats(const struct obs_exstore *x, struct obs_exstore_stats *st);

/* The canonical form of a label set as the parser hands it out ("{ a = "x" ,b="y"}"
 * -> {a="x",b="y"}: blanks outside values dropped, values as written),
 * appended to out. raw must be a label set the parser accepted. 0 or -ENOMEM. */
int obs_exemplar_labels_canon(const char *raw, size_t n, struct obs_buf *out);

#endif
