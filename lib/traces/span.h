/* span.h — one span (libobs traces): the in-memory view, its compact binary
 * encoding (what the WAL, the assembler and the segments hold) and its JSON
 * line (what MOUNT/traces/ID prints).
 *
 * A struct obs_span is a view: its strings point into a parser's scratch or
 * into an encoded blob, and are not NUL-terminated (use the lengths).
 * Attributes are kept as an encoded attribute list (obs_attr_* below), so a
 * decoded span costs no allocation. */
#ifndef OBS_TRACES_SPAN_H
#define OBS_TRACES_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* OTLP span kinds and status codes, as integers (as OTLP/JSON writes them) */
enum { OBS_KIND_UNSPECIFIED = 0, OBS_KIND_INTERNAL, OBS_KIND_SERVER, OBS_KIND_CLIENT,
       OBS_KIND_PRODUCER, OBS_KIND_CONSUMER };
enum { OBS_STATUS_UNSET = 0, OBS_STATUS_OK = 1, OBS_STATUS_ERROR = 2 };

/* Attribute value types (the AnyValue cases). ARRAY and KVLIST values are
 * held as plain JSON text ([..] / {..}); BYTES as its base64 text. */
enum obs_attr_type {
	OBS_ATTR_NULL = 'n', OBS_ATTR_STRING = 's', OBS_ATTR_BOOL = 'b', OBS_ATTR_INT = 'i',
	OBS_ATTR_DOUBLE = 'd', OBS_ATTR_ARRAY = 'a', OBS_ATTR_KVLIST = 'k', OBS_ATTR_BYTES = 'y',
};

struct obs_str { const char *p; size_t n; };

struct obs_attr {
	enum obs_attr_type type;
	struct obs_str key;
	struct obs_str val;     /* text: the string, "true"/"false", decimal, JSON, base64 */
};

/* Flag bits of struct obs_span.flags */
#define OBS_SPAN_HAS_PARENT  1u
#define OBS_SPAN_HAS_TFLAGS  2u   /* trace_flags carries W3C flags from the sender */

struct obs_span {
	uint8_t trace_id[16], span_id[8], parent_id[8];
	uint32_t flags;               /* OBS_SPAN_* */
	uint8_t trace_flags;          /* W3C trace-flags (bit 0: sampled) when HAS_TFLAGS */
	uint8_t kind, status;
	int64_t start_ns, end_ns;
	struct obs_str service, name, status_msg, scope, trace_state;
	struct obs_str attrs;         /* encoded attribute list (obs_attr_put) */
	struct obs_str resource;      /* encoded attribute list: resource attributes but service.name */
	struct obs_str events, links; /* JSON arrays as printed (or empty) */
};

/* ---- attribute lists: a byte string of (type, key, value) entries ------- */
int obs_attr_put(struct obs_buf *b, enum obs_attr_type t, const char *k, size_t kn,
		 const char *v, size_t vn);
/* Iterate: *pos starts at 0; 1 and *a filled, 0 at the end, -EBADMSG when
 * the list is damaged. */
int obs_attr_next(struct obs_str list, size_t *pos, struct obs_attr *a);
/* The first attribute named key: 1 and *a, or 0. */
int obs_attr_find(struct obs_str list, const char *key, size_t kn, struct obs_attr *a);

/* ---- binary encoding ---------------------------------------------------- */
/* Append the encoding of s to out. 0 or -ENOMEM (out unchanged). */
int obs_span_encode(const struct obs_span *s, struct obs_buf *out);
/* Decode p[0..n) into a view pointing into p. 0 or -EBADMSG. */
int obs_span_decode(const uint8_t *p, size_t n, struct obs_span *s);
/* The same for an encoding that is known good (made by obs_span_encode in
 * this process, or one that obs_span_decode accepted): the framing is
 * checked, the attribute lists are not walked. Never for bytes from disk. */
int obs_span_view(const uint8_t *p, size_t n, struct obs_span *s);

/* ---- text --------------------------------------------------------------- */
/* Append s as one JSON line (with '\n'): the simple span shape
 * (trace_id, span_id, parent_span_id, service, operation, start_time in ms,
 * duration_ms, status, tags) plus the exact OTLP fields (kind,
 * start_time_unix_nano, end_time_unix_nano, status_message, resource, scope,
 * events, links), which the parser reads back. 0 or -ENOMEM. */
int obs_span_json(const struct obs_span *s, struct obs_buf *out);
/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void obs_hex(const uint8_t *p, size_t n, char *out);
/* Parse exactly 2n hex digits into out; 0 or -EINVAL. */
int obs_unhex(const char *s, size_t sn, uint8_t *out, size_t n);
/* Append s as a JSON string literal. */
int obs_json_str(struct obs_buf *b, const char *s, size_t n);
/* Append an encoded attribute list as a JSON object {"k":v,...}. */
int obs_attrs_json(struct obs_buf *b, struct obs_str list);

static inline int obs_span_is_root(const struct obs_span *s) { return !(s->flags & OBS_SPAN_HAS_PARENT); }

#endif
