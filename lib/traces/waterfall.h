/* waterfall.h — text renderings of a trace (libobs traces), shared by
 * obsfsd (traces/ID.tree, search views) and obs-trace(1).
 *
 * Waterfall: a header line, then one line per span in tree order (children
 * after their parent, siblings by start time; spans whose parent is absent
 * start a tree of their own):
 *
 *   TRACE_ID START DURATION N spans, E errors
 *   OFFSET DURATION M INDENT SERVICE OPERATION |BAR|[ MESSAGE]
 *
 * OFFSET (from the trace's start) and DURATION are right-aligned in 9
 * columns; M is '!' for a span with status ERROR, else ' '; INDENT is two
 * spaces per depth; names are padded to one width; BAR is width cells,
 * '#' over the span's share of the trace ('!' cells for an error span),
 * '.' elsewhere, at least one cell marked; MESSAGE is the error's status
 * message. Durations print as 250ns, 12us, 1.5ms, 2.25s, 3m20s. */
#ifndef OBS_TRACES_WATERFALL_H
#define OBS_TRACES_WATERFALL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/obstime.h"
#include "traces/span.h"

struct obs_trace_summary {
	uint8_t trace_id[16];
	int64_t start_ns, end_ns;
	uint32_t nspans, nerrors, nservices;
	struct obs_str root_service, root_name;   /* point into the spans */
};

void obs_trace_summarize(const struct obs_span *sp, size_t n, struct obs_trace_summary *s);
/* Decode n encodings (blobs/lens, as the store returns them) into sp[]
 * (caller-allocated, n entries); returns how many decoded (damaged ones
 * are skipped). */
size_t obs_spans_decode(const uint8_t *const *blobs, const uint32_t *lens, size_t n, struct obs_span *sp);

/* Append the waterfall of spans sp[0..n). width: bar cells (0: 40). */
int obs_waterfall(const struct obs_span *sp, size_t n, int width, enum obs_time_fmt tf, struct obs_buf *out);
/* Append "TRACE_ID START ROOT_SERVICE ROOT_OPERATION DURATION SPANS ERROR\n"
 * (service and operation with ' ' written %20 and '%' %25, so the line
 * splits on blanks; ERROR is "error" or "ok"). */
int obs_trace_summary_line(const struct obs_trace_summary *s, enum obs_time_fmt tf, struct obs_buf *out);
/* Format a duration in ns ("1.5ms") into buf (>= 32 bytes); returns the length. */
int obs_dur_ns_format(int64_t ns, char *buf);

#endif
