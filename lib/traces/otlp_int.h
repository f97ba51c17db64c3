/* otlp_int.h — what otlp.c shares with simple.c (private to lib/traces). */
#ifndef OBS_TRACES_OTLP_INT_H
#define OBS_TRACES_OTLP_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "traces/span.h"

struct doc {
	struct obs_buf blobs;       /* encoded spans: u32 length + blob each */
	struct obs_buf attrs, res, events, links, tmp;
	char why[160];
};

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
