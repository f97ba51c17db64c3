/* otlp.h — span input parsers (libobs traces): OTLP/JSON
 * ExportTraceServiceRequest documents as the OpenTelemetry SDKs and the
 * Collector's file exporter write them, and the simple JSON-lines shape
 *   {"trace_id","span_id","parent_span_id","service","operation",
 *    "start_time" (ms),"duration_ms","status","tags"}
 * (which is also what obs_span_json prints, so a trace read back can be
 * written again). Pure: no I/O, no global state. A hand-written zero-tree
 * scanner (jscan.c, otlp_fast.c) reads the documents; jansson is the
 * reference and the fallback for the few documents the scanner declines.
 *
 * Input is one document per line (several lines per buffer); a document
 * spread over several lines (pretty-printed) is read too when it starts a
 * line. A malformed document is refused as a whole — no span of it is
 * delivered — and reported through the error callback with its first line
 * number and the reason; the documents after it are still read. Unknown
 * fields are ignored. */
#ifndef OBS_TRACES_OTLP_H
#define OBS_TRACES_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "traces/span.h"

/* One valid span: its view and its encoding (obs_span_encode). Both are
 * valid for the call only. A non-zero return stops parsing and is returned. */
typedef int (*obs_span_fn)(void *ctx, const struct obs_span *s, const uint8_t *blob, size_t n);
/* One refused document: first line number, the line's text, why. */
typedef void (*obs_span_err_fn)(void *ctx, size_t lineno, const char *line, size_t n, const char *why);

struct obs_otlp_result {
	uint64_t docs;         /* documents read */
	uint64_t spans;        /* spans delivered */
	uint64_t rejected;     /* documents refused */
	size_t consumed;       /* bytes of buf parsed (the rest is an incomplete document) */
	size_t lines;          /* lines consumed */
};

/* Parse buf[0..n). With final == 0, an incomplete document at the end (no
 * newline yet, or an unfinished multi-line document) is left unparsed and
 * r->consumed says where it starts, for the caller to resubmit with more
 * bytes; with final, it is refused. Line numbers start at first_lineno.
 * Returns 0, -EINVAL when some document was refused, -ENOMEM, or fn's
 * non-zero return. efn may be NULL. */
int obs_otlp_parse(const char *buf, size_t n, int final, size_t first_lineno, obs_span_fn fn,
		   obs_span_err_fn efn, void *ctx, struct obs_otlp_result *r);
/* The same contract on jansson trees (the reference the fast zero-tree
 * scanner is tested against; slower). Same spans, same verdicts and the
 * same reasons, but the text after "invalid json: ". */
int obs_otlp_parse_ref(const char *buf, size_t n, int final, size_t first_lineno, obs_span_fn fn,
		       obs_span_err_fn efn, void *ctx, struct obs_otlp_result *r);

/* ---- parsing on several threads ------------------------------------------- */
struct obs_otlp_pool;
/* A pool that parses with up to threads threads: threads - 1 persistent
 * workers (threads <= 1: none; at most 16). A buffer is cut only into
 * pieces of at least min_piece bytes (0: 64 KiB). 0 or -errno. */
int obs_otlp_pool_new(int threads, size_t min_piece, struct obs_otlp_pool **out);
/* Stop the workers and free the pool; accepts NULL. No parse may be running. */
void obs_otlp_pool_free(struct obs_otlp_pool *p);
/* obs_otlp_parse, with buf cut after newlines into pieces that are parsed
 * at once: the first on the calling thread, the others on the workers. fn
 * and efn are called on the calling thread only, in input order, with
 * exactly the spans, refusals (line numbers, lines, reasons), counts,
 * consumed and return value that obs_otlp_parse gives for the same bytes
 * (a document that runs over a cut is read by the calling thread once the
 * pieces before it are done). A NULL pool, a buffer too small to cut, or a
 * pool that another caller is using: obs_otlp_parse itself. */
int obs_otlp_parse_pool(struct obs_otlp_pool *p, const char *buf, size_t n, int final, size_t first_lineno,
			obs_span_fn fn, obs_span_err_fn efn, void *ctx, struct obs_otlp_result *r);
/* Pieces the workers have parsed (for tests). */
uint64_t obs_otlp_pool_pieces(struct obs_otlp_pool *p);

#endif
