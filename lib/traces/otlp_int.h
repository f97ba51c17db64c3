/* otlp_int.h — what otlp.c shares with simple.c (private to lib/traces). */
#ifndef OBS_TRACES_OTLP_INT_H
#define OBS_TRACES_OTLP_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "traces/jscan.h"
#include "traces/otlp.h"
#include "traces/span.h"

struct doc {
	struct obs_buf blobs;       /* encoded spans: u32 length + blob each */
	struct obs_buf attrs, res, events, links, tmp;
	struct obs_buf val, al;     /* fast path: one attribute value, one event's attributes */
	struct js_arena ar;         /* fast path: decoded strings of the document */
	struct js_index ix;         /* fast path: where the document's containers end */
	int oom;                    /* fast path: the arena ran out of memory */
	char why[160];
};

/* What the fast path returns for a document it leaves to jansson. */
#define OTLP_DECLINE 1

void otlp_doc_release(struct doc *d);
/* A parsed document's spans (d->blobs, at: where it starts in the buffer)
 * go to the caller of the document loop: 0, or a non-zero return that
 * stops the loop with r->consumed = at. */
typedef int (*otlp_doc_fn)(void *ctx, struct doc *d, size_t at, struct obs_otlp_result *r);
/* obs_otlp_parse's document loop (otlp_fast.c) with the delivery of each
 * accepted document left to deliver and each refusal to efn (may be NULL),
 * both called with ctx; r->spans is deliver's to count. */
int otlp_parse_loop(const char *buf, size_t n, int final, size_t first_lineno, otlp_doc_fn deliver,
		    obs_span_err_fn efn, void *ctx, struct obs_otlp_result *r);
/* The loop's delivery to span and error callbacks (ctx: a struct otlp_direct) */
struct otlp_direct { obs_span_fn fn; obs_span_err_fn efn; void *ctx; };
int otlp_direct_doc(void *ctx, struct doc *d, size_t at, struct obs_otlp_result *r);
void otlp_direct_err(void *ctx, size_t lineno, const char *line, size_t n, const char *why);
/* Hand blobs[0..len) (u32 length + encoding each, made by otlp_add_span)
 * to fn with their views, counting them in r->spans; fn's non-zero return
 * stops it and is returned. */
int otlp_deliver_view(const char *blobs, size_t len, obs_span_fn fn, void *ctx, struct obs_otlp_result *r);
/* Hand d's encoded spans to fn. */
int otlp_deliver(struct doc *d, obs_span_fn fn, void *ctx, struct obs_otlp_result *r);
/* jansson: one parsed document root into d->blobs (0, -EINVAL with d->why, -ENOMEM) */
int otlp_one_doc(struct doc *d, json_t *root);
/* Fast path over text js_validate accepted (root at p): 0, -EINVAL with
 * d->why, -ENOMEM, or OTLP_DECLINE (nothing kept; use jansson). */
int otlp_fast_doc(struct doc *d, const char *p);
/* Fast path: one span of the simple shape (the object at o). */
int otlp_fast_simple(struct doc *d, const char *o);
/* Fast path value helpers (v: a value in validated text, NULL when absent) */
struct obs_str otlpf_str(struct doc *d, const char *v, int nul);
int otlpf_u64(struct doc *d, const char *v, uint64_t *out);
int otlpf_id(struct doc *d, const char *v, const char *k, uint8_t *out, size_t n, int required);
int otlpf_kind(struct doc *d, const char *v, uint8_t *out);
int otlpf_status(struct doc *d, const char *v, uint8_t *out);
int otlp_valid_base64(const char *s, size_t n);
/* kind / status code names (NUL-terminated): 0 and *out, or -EINVAL */
int otlp_kind_name(const char *s, uint8_t *out);
int otlp_status_name(const char *s, uint8_t *out);

/* Set d->why from fmt (one %s: arg) and return -EINVAL. */
int otlp_fail(struct doc *d, const char *fmt, const char *arg);
/* The string member k of o (length in *n), or NULL. */
const char *otlp_jstr(json_t *o, const char *k, size_t *n);
/* An unsigned 64-bit integer: decimal string or number. 0, -ENOENT, -EINVAL. */
int otlp_get_u64(json_t *v, uint64_t *out);
int otlp_fmt_double(double x, char *buf, size_t len);
/* A plain JSON value (simple-shape tags) as a typed attribute appended to out. */
int otlp_plain_attr(struct doc *d, const char *k, json_t *v, struct obs_buf *out);
/* Hex id member k of o into out (n bytes); 0, 1 (absent or all zero, when
 * not required) or -EINVAL with d->why. */
int otlp_get_id(struct doc *d, json_t *o, const char *k, uint8_t *out, size_t n, int required);
/* Encode s into the document's span list. */
int otlp_add_span(struct doc *d, struct obs_span *s);
struct obs_str otlp_bstr(struct obs_buf *b);
int otlp_kind_of(json_t *v, uint8_t *out);
int otlp_status_of(json_t *v, uint8_t *out);
/* One span of the simple shape. */
int otlp_simple_span(struct doc *d, json_t *o);

#endif
