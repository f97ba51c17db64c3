/* assemble.h — trace assembly and the tail-sampling decision (libobs traces).
 *
 * Spans are buffered per trace id until the trace is complete: its root span
 * has arrived (SDKs export a span when it ends, so the root has ended) and
 * either no span arrived for decision_wait, or every parent a span names is
 * present (decided early). A trace whose root never comes is decided when
 * no span arrived for 3 x decision_wait. The policy set decides; the decided
 * trace goes to the emit callback, and its id to a decision cache, so late
 * spans follow the same decision. Head sampling, when honoured, decides a
 * trace from its senders' W3C sampled flag instead.
 *
 * Memory is bounded: at num_traces buffered traces or max_spans buffered
 * spans the least recently updated trace is dropped undecided
 * (dropped_too_early) and cached as dropped.
 *
 * Not thread-safe: the caller serialises every call. Time is passed in
 * (now_ms), so tests drive a deterministic clock. */
#ifndef OBS_TRACES_ASSEMBLE_H
#define OBS_TRACES_ASSEMBLE_H

#include <stddef.h>
#include <stdint.h>

#include "traces/policy.h"
#include "traces/span.h"

struct obs_tasm;

struct obs_tasm_opts {
	int64_t decision_wait_ms;   /* 10 s */
	uint64_t max_traces;        /* 50,000 */
	uint64_t max_spans;         /* 1,000,000 */
	size_t cache_size;          /* decision cache entries (65,536; rounded up to a power of 2) */
	int head_honour;            /* decide by the W3C sampled flag when a span carries one */
};

enum obs_tdec_why { OBS_TDEC_POLICY = 0, OBS_TDEC_HEAD, OBS_TDEC_LATE, OBS_TDEC_REPLAY, OBS_TDEC_TOO_EARLY };

/* A decided trace (or late spans of one): keep or not, why, and its spans'
 * encodings blobs[i] of lens[i] bytes (valid for the call). A non-zero
 * return is passed back from the call that decided. */
typedef int (*obs_tasm_emit_fn)(void *ctx, const uint8_t trace_id[16], int keep, enum obs_tdec_why why,
				const char *by, const uint8_t *const *blobs, const uint32_t *lens, size_t n);

struct obs_tasm_stats {
	uint64_t buffered_traces, buffered_spans, buffered_bytes;
	uint64_t kept_traces, kept_spans;          /* kept_spans includes late spans */
	uint64_t dropped_by_policy, dropped_by_policy_spans;   /* traces, spans (incl. late) */
	uint64_t dropped_too_early, dropped_too_early_spans;
	uint64_t late_spans;                       /* spans that met a cached decision */
	uint64_t decided_early, decided_without_root;
};

void obs_tasm_opts_default(struct obs_tasm_opts *o);
/* ps is borrowed (the caller keeps it alive; obs_tasm_set_policy swaps). */
int obs_tasm_new(const struct obs_tasm_opts *o, struct obs_policy_set *ps, obs_tasm_emit_fn emit, void *ctx,
		 struct obs_tasm **out);
void obs_tasm_free(struct obs_tasm *a);     /* accepts NULL; buffered spans are forgotten */
void obs_tasm_set_policy(struct obs_tasm *a, struct obs_policy_set *ps, const struct obs_tasm_opts *o);

/* Add one span (its view and encoding). 0 or emit's error / -ENOMEM. */
int obs_tasm_add(struct obs_tasm *a, const struct obs_span *s, const uint8_t *blob, size_t n, int64_t now_ms);
/* Decide what is due at now_ms. */
int obs_tasm_tick(struct obs_tasm *a, int64_t now_ms);
/* Decide every buffered trace now, complete or not (end of a file). */
int obs_tasm_flush(struct obs_tasm *a, int64_t now_ms);
/* Apply a decision taken before (WAL replay): emits the buffered spans of
 * the trace, if any, with it, and caches it. */
int obs_tasm_apply(struct obs_tasm *a, const uint8_t trace_id[16], int keep);

/* Walk the buffered spans (oldest trace first) and the cached decisions;
 * fn's non-zero return stops the walk and is returned. */
int obs_tasm_foreach_span(struct obs_tasm *a, int (*fn)(void *ctx, const uint8_t *blob, size_t n), void *ctx);
int obs_tasm_foreach_decision(struct obs_tasm *a, int (*fn)(void *ctx, const uint8_t id[16], int keep), void *ctx);
/* 1 keep, 0 drop, -1 unknown */
int obs_tasm_cached(struct obs_tasm *a, const uint8_t trace_id[16]);

void obs_tasm_get_stats(const struct obs_tasm *a, struct obs_tasm_stats *st);

#endif
