/* policy.h — tail-sampling policies (libobs traces), in the OpenTelemetry
 * Collector's tail_sampling vocabulary, one policy per line:
 *
 *   [NAME] TYPE [PARAM=VALUE ...] [| SUB-POLICY | SUB-POLICY ...]
 *
 *   always_sample
 *   status_code        status_codes=ERROR[,OK,UNSET]
 *   latency            threshold_ms=N [upper_threshold_ms=N]
 *   probabilistic      sampling_percentage=P [hash_salt=S]
 *   rate_limiting      spans_per_second=N | traces_per_second=N
 *   string_attribute   key=K values=V[,V...] [enabled_regex_matching=true] [invert_match=true]
 *   numeric_attribute  key=K min_value=A max_value=B [invert_match=true]
 *   boolean_attribute  key=K value=true|false
 *   span_count         min_spans=N [max_spans=N]
 *   and                | SUB | SUB ...          (keep when every sub-policy keeps)
 *   composite          max_total_spans_per_second=N [policy_order=A,B] [rate_allocation=A:50,B:25] | SUB ...
 *
 * and settings lines KEY=VALUE: decision_wait=10s, num_traces=N (buffered
 * traces), max_spans=N (buffered spans), head_sampling=honour|ignore.
 * '#' starts a comment. A trace is kept when any policy keeps it. Attribute
 * policies look at span attributes, resource attributes and, for the key
 * service.name, the span's service. An empty text means the defaults:
 *
 *   errors   status_code   status_codes=ERROR
 *   slow     latency       threshold_ms=1000
 *   baseline probabilistic sampling_percentage=10
 *
 * Decisions are not thread-safe (rate limits keep state): the caller holds
 * a lock. Time comes from the caller (a deterministic clock in tests). */
#ifndef OBS_TRACES_POLICY_H
#define OBS_TRACES_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "traces/span.h"

struct obs_policy_set;

struct obs_policy_settings {
	int64_t decision_wait_ms;     /* 10 s */
	uint64_t num_traces;          /* 50,000 buffered traces */
	uint64_t max_spans;           /* 1,000,000 buffered spans */
	int head_honour;              /* honour the W3C sampled flag (0) */
};

extern const char obs_policy_default_text[];

/* Parse text. 0 and *out, or -EINVAL with "line N: why" in err. */
int obs_policy_parse(const char *text, size_t n, struct obs_policy_set **out, char *err, size_t errlen);
void obs_policy_free(struct obs_policy_set *ps);   /* accepts NULL */
void obs_policy_get_settings(const struct obs_policy_set *ps, struct obs_policy_settings *s);
/* The text it was parsed from (the default text for an empty one). */
const char *obs_policy_source(const struct obs_policy_set *ps);

/* Decide a whole trace: 1 keep, 0 drop. *by gets the name (or type) of the
 * policy that kept it ("" when dropped). now_ms drives the rate limits. */
int obs_policy_decide(struct obs_policy_set *ps, const uint8_t trace_id[16], const struct obs_span *spans,
		      size_t n, int64_t now_ms, const char **by);

/* The probabilistic policies' hash of a trace id, uniform in [0, 1). */
double obs_trace_hash01(const uint8_t trace_id[16], const char *salt);

#endif
