/* otlp_fast.c — the OTLP/JSON span parser on the zero-tree scanner, and the
 * document loop (libobs traces). See otlp.h for the contract.
 *
 * A document is read in two passes and nothing is allocated per node:
 * js_validate checks the whole text first (so a JSON error anywhere wins
 * over a field error, as when jansson builds the tree first), then the
 * walk below indexes each object's members it needs in one scan
 * (js_object: the last of a repeated key wins, as json_object_get) and
 * checks them in the same order, with the same reasons, as the jansson
 * code in otlp.c, which it mirrors function by function. The simple shape
 * is in simple.c (otlp_fast_simple). Documents whose output needs jansson's
 * own serializer (simple-shape tags holding arrays or objects, events or
 * links given as JSON) are declined and parsed by otlp.c. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traces/otlp.h"
#include "traces/otlp_int.h"

/* ---- values ------------------------------------------------------------------- */

struct obs_str otlpf_str(struct doc *d, const char *v, int nul)
{
	struct obs_str s = { "", 0 };
	if (js_str(&d->ar, v, nul, &s)) {
		d->oom = 1;
		s = (struct obs_str){ "", 0 };
	}
	return s;
}

int otlpf_u64(struct doc *d, const char *v, uint64_t *out)
{
	switch (js_type(v)) {
	case JT_NONE: return -ENOENT;
	case JT_INT: {
		int64_t i = js_int(v);
		if (i < 0)
			return -EINVAL;
		*out = (uint64_t)i;
		return 0;
	}
	case JT_REAL: {
		double x = js_num(v);
		if (!(x >= 0 && x < 1.8e19) || x != floor(x))
			return -EINVAL;
		*out = (uint64_t)x;
		return 0;
	}
	case JT_STR: {
		struct obs_str s = otlpf_str(d, v, 0);
		if (!s.n || s.n > 20)
			return -EINVAL;
		uint64_t u = 0;
		for (size_t i = 0; i < s.n; i++) {
			if (s.p[i] < '0' || s.p[i] > '9' || u > (UINT64_MAX - (uint64_t)(s.p[i] - '0')) / 10)
				return -EINVAL;
			u = u * 10 + (uint64_t)(s.p[i] - '0');
		}
		*out = u;
		return 0;
	}
	default: return -EINVAL;
	}
}

static int get_time_ns(struct doc *d, const char *v, const char *k, int64_t *out)
{
	uint64_t u;
	int rc = otlpf_u64(d, v, &u);
	if (rc == -ENOENT)
		return otlp_fail(d, "missing %s", k);
	if (rc || u > INT64_MAX)
		return otlp_fail(d, "invalid %s", k);
	*out = (int64_t)u;
	return 0;
}

static int get_i64(struct doc *d, const char *v, int64_t *out)
{
	switch (js_type(v)) {
	case JT_INT: *out = js_int(v); return 0;
	case JT_REAL: {
		double x = js_num(v);
		if (x != floor(x) || !(fabs(x) < 9.2e18))
			return -EINVAL;
		*out = (int64_t)x;
		return 0;
	}
	case JT_STR: {
		struct obs_str s = otlpf_str(d, v, 1);
		char *e;
		errno = 0;
		long long x = strtoll(s.p, &e, 10);
		if (e == s.p || *e || errno || (size_t)(e - s.p) != s.n)
			return -EINVAL;
		*out = x;
		return 0;
	}
	default: return -EINVAL;
	}
}

static int get_double(struct doc *d, const char *v, double *out)
{
	enum js_type t = js_type(v);
	if (t == JT_INT || t == JT_REAL) {
		*out = js_num(v);
		return 0;
	}
	if (t != JT_STR)
		return -EINVAL;
	struct obs_str s = otlpf_str(d, v, 1);
	if (!strcmp(s.p, "NaN"))
		*out = NAN;
	else if (!strcmp(s.p, "Infinity"))
		*out = INFINITY;
	else if (!strcmp(s.p, "-Infinity"))
		*out = -INFINITY;
	else {
		char *e;
		*out = strtod(s.p, &e);
		if (e == s.p || *e)
			return -EINVAL;
	}
	return 0;
}

int otlpf_id(struct doc *d, const char *v, const char *k, uint8_t *out, size_t n, int required)
{
	memset(out, 0, n);
	enum js_type t = js_type(v);
	struct obs_str s = { "", 0 };
	if (t == JT_STR)
		s = otlpf_str(d, v, 0);
	if (!s.n) {
		if (t != JT_NONE && t != JT_STR && t != JT_NULL)
			return otlp_fail(d, "%s is not a string", k);
		return required ? otlp_fail(d, "missing %s", k) : 1;
	}
	/* a 64-bit trace id (Jaeger, B3) is left-padded to 128 bits, as W3C says */
	if (n == 16 && s.n == 16) {
		if (obs_unhex(s.p, s.n, out + 8, 8))
			return otlp_fail(d, "invalid %s", k);
	} else if (obs_unhex(s.p, s.n, out, n)) {
		snprintf(d->why, sizeof d->why, "invalid %s '%.*s' (want %zu hex digits)", k, (int)(s.n < 40 ? s.n : 40),
			 s.p, 2 * n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (out[i])
			return 0;
	if (!required)
		return 1;   /* an all-zero parent means none */
	return otlp_fail(d, "%s is all zeros", k);
}

int otlpf_kind(struct doc *d, const char *v, uint8_t *out)
{
	switch (js_type(v)) {
	case JT_NONE: *out = 0; return 0;
	case JT_INT: {
		int64_t i = js_int(v);
		if (i < 0 || i > 5)
			return -EINVAL;
		*out = (uint8_t)i;
		return 0;
	}
	case JT_STR: return otlp_kind_name(otlpf_str(d, v, 1).p, out);
	default: return -EINVAL;
	}
}

int otlpf_status(struct doc *d, const char *v, uint8_t *out)
{
	switch (js_type(v)) {
	case JT_NONE:
	case JT_NULL: *out = 0; return 0;
	case JT_INT: {
		int64_t i = js_int(v);
		if (i < 0 || i > 2)
			return -EINVAL;
		*out = (uint8_t)i;
		return 0;
	}
	case JT_TRUE: *out = OBS_STATUS_ERROR; return 0;
	case JT_FALSE: *out = OBS_STATUS_UNSET; return 0;
	case JT_STR: return otlp_status_name(otlpf_str(d, v, 1).p, out);
	default: return -EINVAL;
	}
}

/* ---- AnyValue ------------------------------------------------------------------- */

static const char *const AV_KEYS[] = { "stringValue", "boolValue", "intValue", "doubleValue",
				       "bytesValue", "arrayValue", "kvlistValue" };
static const char *const VALUES_KEY[] = { "values" };
static const char *const KV_KEYS[] = { "key", "value" };

static int anyvalue(struct doc *d, const char *v, enum obs_attr_type *t, struct obs_buf *out, int depth);

static int anyvalue_plain(struct doc *d, const char *v, struct obs_buf *out, int depth)
{
	enum obs_attr_type t;
	size_t at = out->len;
	int rc = anyvalue(d, v, &t, out, depth);
	if (rc)
		return rc;
	if (t == OBS_ATTR_STRING || t == OBS_ATTR_BYTES ||
	    (t == OBS_ATTR_DOUBLE && (out->data[at] == 'N' || out->data[at] == 'I' || out->data[at + 1] == 'I'))) {
		size_t n = out->len - at;
		obs_buf_reset(&d->tmp);
		if (obs_buf_append(&d->tmp, out->data + at, n))
			return -ENOMEM;
		out->len = at;
		return obs_json_str(out, d->tmp.data, n);
	}
	if (t == OBS_ATTR_NULL)
		return obs_buf_puts(out, "null");
	return 0;
}

static int anyvalue(struct doc *d, const char *v, enum obs_attr_type *t, struct obs_buf *out, int depth)
{
	char num[40];
	const char *x[7];
	if (depth > 64)
		return otlp_fail(d, "attribute values nested too deep", NULL);
	if (js_type(v) != JT_OBJ)
		return otlp_fail(d, "attribute value is not an AnyValue object", NULL);
	js_object(&d->ix, v, AV_KEYS, 7, x);
	if (x[0]) {
		if (js_type(x[0]) != JT_STR)
			return otlp_fail(d, "stringValue is not a string", NULL);
		*t = OBS_ATTR_STRING;
		struct obs_str s = otlpf_str(d, x[0], 0);
		return obs_buf_append(out, s.p, s.n);
	}
	if (x[1]) {
		enum js_type bt = js_type(x[1]);
		if (bt != JT_TRUE && bt != JT_FALSE)
			return otlp_fail(d, "boolValue is not true or false", NULL);
		*t = OBS_ATTR_BOOL;
		return obs_buf_puts(out, bt == JT_TRUE ? "true" : "false");
	}
	if (x[2]) {
		int64_t i;
		if (get_i64(d, x[2], &i))
			return otlp_fail(d, "invalid intValue", NULL);
		*t = OBS_ATTR_INT;
		return obs_buf_printf(out, "%" PRId64, i);
	}
	if (x[3]) {
		double f;
		if (get_double(d, x[3], &f))
			return otlp_fail(d, "invalid doubleValue", NULL);
		*t = OBS_ATTR_DOUBLE;
		otlp_fmt_double(f, num, sizeof num);
		return obs_buf_puts(out, num);
	}
	if (x[4]) {
		struct obs_str s = { "", 0 };
		if (js_type(x[4]) == JT_STR)
			s = otlpf_str(d, x[4], 0);
		if (js_type(x[4]) != JT_STR || !otlp_valid_base64(s.p, s.n))
			return otlp_fail(d, "bytesValue is not base64", NULL);
		*t = OBS_ATTR_BYTES;
		return obs_buf_append(out, s.p, s.n);
	}
	if (x[5] || x[6]) {
		int kv = !x[5];
		const char *c = kv ? x[6] : x[5], *vals = NULL, *it = NULL, *e;
		if (js_type(c) == JT_OBJ)
			js_object(&d->ix, c, VALUES_KEY, 1, &vals);
		if (js_type(c) != JT_OBJ || (vals && js_type(vals) != JT_ARR))
			return otlp_fail(d, kv ? "kvlistValue has no values array" : "arrayValue has no values array", NULL);
		*t = kv ? OBS_ATTR_KVLIST : OBS_ATTR_ARRAY;
		int rc = obs_buf_putc(out, kv ? '{' : '[');
		for (size_t i = 0; !rc && vals && js_elem_next(&d->ix, vals, &it, &e) == 1; i++) {
			if (!kv) {
				if (i)
					rc = obs_buf_putc(out, ',');
				rc = rc ? rc : anyvalue_plain(d, e, out, depth + 1);
				continue;
			}
			const char *f[2] = { NULL, NULL };
			if (js_type(e) == JT_OBJ)
				js_object(&d->ix, e, KV_KEYS, 2, f);
			if (js_type(f[0]) != JT_STR)
				return otlp_fail(d, "kvlistValue entry without a key", NULL);
			struct obs_str k = otlpf_str(d, f[0], 0);
			if (i)
				rc = obs_buf_putc(out, ',');
			rc = rc || obs_json_str(out, k.p, k.n) || obs_buf_putc(out, ':');
			if (!rc && !f[1])
				rc = obs_buf_puts(out, "null");
			else if (!rc)
				rc = anyvalue_plain(d, f[1], out, depth + 1);
		}
		return rc ? rc : obs_buf_putc(out, kv ? '}' : ']');
	}
	*t = OBS_ATTR_NULL;   /* an empty AnyValue */
	return 0;
}

/* OTLP KeyValue list -> encoded attribute list appended to out */
static int attrs(struct doc *d, const char *arr, struct obs_buf *out, const char *skip)
{
	if (!arr)
		return 0;
	if (js_type(arr) != JT_ARR)
		return otlp_fail(d, "attributes is not an array", NULL);
	const char *it = NULL, *kv;
	size_t skn = skip ? strlen(skip) : 0;
	while (js_elem_next(&d->ix, arr, &it, &kv) == 1) {
		const char *f[2] = { NULL, NULL };
		if (js_type(kv) == JT_OBJ)
			js_object(&d->ix, kv, KV_KEYS, 2, f);
		if (js_type(f[0]) != JT_STR)
			return otlp_fail(d, "attribute without a key", NULL);
		struct obs_str k = otlpf_str(d, f[0], 0);
		if (skip && k.n == skn && !memcmp(k.p, skip, skn))
			continue;
		enum obs_attr_type t = OBS_ATTR_NULL;
		obs_buf_reset(&d->val);
		int rc = f[1] ? anyvalue(d, f[1], &t, &d->val, 0) : 0;
		if (!rc)
			rc = obs_attr_put(out, t, k.p, k.n, d->val.data ? d->val.data : "", d->val.len);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- spans ---------------------------------------------------------------------- */

static const char *const EV_KEYS[] = { "timeUnixNano", "name", "attributes" };
static const char *const LINK_KEYS[] = { "traceId", "spanId", "attributes" };

static int events(struct doc *d, const char *arr)
{
	obs_buf_reset(&d->events);
	const char *it = NULL, *e;
	if (!arr || js_type(arr) != JT_ARR)
		return arr ? otlp_fail(d, "events is not an array", NULL) : 0;
	int rc = 0;
	for (size_t i = 0; !rc && js_elem_next(&d->ix, arr, &it, &e) == 1; i++) {
		if (!i && (rc = obs_buf_putc(&d->events, '[')))
			break;
		if (js_type(e) != JT_OBJ)
			return otlp_fail(d, "event is not an object", NULL);
		const char *f[3];
		js_object(&d->ix, e, EV_KEYS, 3, f);
		uint64_t t = 0;
		if (f[0] && otlpf_u64(d, f[0], &t))
			return otlp_fail(d, "invalid event timeUnixNano", NULL);
		struct obs_str nm = { "", 0 };
		if (js_type(f[1]) == JT_STR)
			nm = otlpf_str(d, f[1], 0);
		obs_buf_reset(&d->al);
		rc = attrs(d, f[2], &d->al, NULL);
		if (!rc)
			rc = obs_buf_printf(&d->events, "%s{\"time_unix_nano\":\"%" PRIu64 "\",\"name\":", i ? "," : "", t) ||
			     obs_json_str(&d->events, nm.p, nm.n) || obs_buf_puts(&d->events, ",\"attributes\":") ||
			     obs_attrs_json(&d->events, otlp_bstr(&d->al)) || obs_buf_putc(&d->events, '}');
	}
	return rc || !d->events.len ? rc : obs_buf_putc(&d->events, ']');
}

static int links(struct doc *d, const char *arr)
{
	obs_buf_reset(&d->links);
	const char *it = NULL, *l;
	if (!arr || js_type(arr) != JT_ARR)
		return arr ? otlp_fail(d, "links is not an array", NULL) : 0;
	int rc = 0;
	for (size_t i = 0; !rc && js_elem_next(&d->ix, arr, &it, &l) == 1; i++) {
		uint8_t tid[16], sid[8];
		char th[33], sh[17];
		if (!i && (rc = obs_buf_putc(&d->links, '[')))
			break;
		if (js_type(l) != JT_OBJ)
			return otlp_fail(d, "link is not an object", NULL);
		const char *f[3];
		js_object(&d->ix, l, LINK_KEYS, 3, f);
		if ((rc = otlpf_id(d, f[0], "traceId", tid, 16, 1)) || (rc = otlpf_id(d, f[1], "spanId", sid, 8, 1)))
			return rc < 0 ? rc : -EINVAL;
		obs_hex(tid, 16, th);
		obs_hex(sid, 8, sh);
		obs_buf_reset(&d->al);
		rc = attrs(d, f[2], &d->al, NULL);
		if (!rc)
			rc = obs_buf_printf(&d->links, "%s{\"trace_id\":\"%s\",\"span_id\":\"%s\",\"attributes\":", i ? "," : "",
					    th, sh) ||
			     obs_attrs_json(&d->links, otlp_bstr(&d->al)) || obs_buf_putc(&d->links, '}');
	}
	return rc || !d->links.len ? rc : obs_buf_putc(&d->links, ']');
}

enum { S_TRACE, S_SPAN, S_PARENT, S_START, S_END, S_KIND, S_STATUS, S_FLAGS, S_TSTATE, S_NAME, S_ATTRS,
       S_EVENTS, S_LINKS, S_N };
static const char *const SPAN_KEYS[S_N] = { "traceId", "spanId", "parentSpanId", "startTimeUnixNano",
					    "endTimeUnixNano", "kind", "status", "flags", "traceState", "name",
					    "attributes", "events", "links" };
static const char *const STATUS_KEYS[] = { "code", "message" };

static int span(struct doc *d, const char *sp, struct obs_str service, struct obs_str scope)
{
	struct obs_span s;
	const char *f[S_N];
	memset(&s, 0, sizeof s);
	int rc;
	if (js_type(sp) != JT_OBJ)
		return otlp_fail(d, "span is not an object", NULL);
	js_object(&d->ix, sp, SPAN_KEYS, S_N, f);
	if ((rc = otlpf_id(d, f[S_TRACE], "traceId", s.trace_id, 16, 1)) ||
	    (rc = otlpf_id(d, f[S_SPAN], "spanId", s.span_id, 8, 1)))
		return rc < 0 ? rc : -EINVAL;
	rc = otlpf_id(d, f[S_PARENT], "parentSpanId", s.parent_id, 8, 0);
	if (rc < 0)
		return rc;
	if (rc == 0)
		s.flags |= OBS_SPAN_HAS_PARENT;
	if (get_time_ns(d, f[S_START], "startTimeUnixNano", &s.start_ns) ||
	    get_time_ns(d, f[S_END], "endTimeUnixNano", &s.end_ns))
		return -EINVAL;
	if (s.end_ns < s.start_ns)
		return otlp_fail(d, "endTimeUnixNano before startTimeUnixNano", NULL);
	if (otlpf_kind(d, f[S_KIND], &s.kind))
		return otlp_fail(d, "invalid span kind", NULL);
	const char *st = f[S_STATUS];
	if (st && js_type(st) != JT_OBJ)
		return otlp_fail(d, "status is not an object", NULL);
	if (st) {
		const char *sf[2];
		js_object(&d->ix, st, STATUS_KEYS, 2, sf);
		if (otlpf_status(d, sf[0], &s.status))
			return otlp_fail(d, "invalid status code", NULL);
		if (js_type(sf[1]) == JT_STR)
			s.status_msg = otlpf_str(d, sf[1], 0);
	}
	if (f[S_FLAGS]) {
		uint64_t fl;
		if (otlpf_u64(d, f[S_FLAGS], &fl) || fl > UINT32_MAX)
			return otlp_fail(d, "invalid flags", NULL);
		s.flags |= OBS_SPAN_HAS_TFLAGS;
		s.trace_flags = (uint8_t)fl;
	}
	if (js_type(f[S_TSTATE]) == JT_STR)
		s.trace_state = otlpf_str(d, f[S_TSTATE], 0);
	if (f[S_NAME] && js_type(f[S_NAME]) != JT_STR)
		return otlp_fail(d, "span name is not a string", NULL);
	s.name = f[S_NAME] ? otlpf_str(d, f[S_NAME], 0) : (struct obs_str){ "", 0 };
	obs_buf_reset(&d->attrs);
	if ((rc = attrs(d, f[S_ATTRS], &d->attrs, NULL)) || (rc = events(d, f[S_EVENTS])) || (rc = links(d, f[S_LINKS])))
		return rc;
	s.service = service;
	s.scope = scope;
	s.attrs = otlp_bstr(&d->attrs);
	s.resource = otlp_bstr(&d->res);
	s.events = otlp_bstr(&d->events);
	s.links = otlp_bstr(&d->links);
	return otlp_add_span(d, &s);
}

static const char *const RS_KEYS[] = { "resource", "scopeSpans", "instrumentationLibrarySpans" };
static const char *const RES_KEYS[] = { "attributes" };
static const char *const SS_KEYS[] = { "scope", "instrumentationLibrary", "spans" };
static const char *const NAME_KEY[] = { "name" };
static const char *const SV_KEY[] = { "stringValue" };

static struct obs_str service_of(struct doc *d, const char *rattrs)
{
	struct obs_str svc = { "unknown_service", 15 };
	const char *it = NULL, *kv;
	while (js_type(rattrs) == JT_ARR && js_elem_next(&d->ix, rattrs, &it, &kv) == 1) {
		const char *f[2] = { NULL, NULL }, *sv = NULL;
		if (js_type(kv) == JT_OBJ)
			js_object(&d->ix, kv, KV_KEYS, 2, f);
		if (js_type(f[0]) != JT_STR || js_type(f[1]) != JT_OBJ)
			continue;
		struct obs_str k = otlpf_str(d, f[0], 0);
		if (k.n != 12 || memcmp(k.p, "service.name", 12))
			continue;
		js_object(&d->ix, f[1], SV_KEY, 1, &sv);
		if (js_type(sv) == JT_STR)
			svc = otlpf_str(d, sv, 0);
	}
	return svc;
}

static int otlp_doc(struct doc *d, const char *rss)
{
	if (js_type(rss) != JT_ARR)
		return otlp_fail(d, "resourceSpans is not an array", NULL);
	const char *it = NULL, *rs;
	while (js_elem_next(&d->ix, rss, &it, &rs) == 1) {
		if (js_type(rs) != JT_OBJ)
			return otlp_fail(d, "resourceSpans entry is not an object", NULL);
		const char *f[3], *rattrs = NULL;
		js_object(&d->ix, rs, RS_KEYS, 3, f);
		if (js_type(f[0]) == JT_OBJ)
			js_object(&d->ix, f[0], RES_KEYS, 1, &rattrs);
		struct obs_str svc = service_of(d, rattrs);
		obs_buf_reset(&d->res);
		int rc = attrs(d, rattrs, &d->res, "service.name");
		if (rc)
			return rc;
		const char *sss = f[1] ? f[1] : f[2];   /* instrumentationLibrarySpans: OTLP before 0.15 */
		if (sss && js_type(sss) != JT_ARR)
			return otlp_fail(d, "scopeSpans is not an array", NULL);
		const char *it2 = NULL, *ss;
		while (sss && js_elem_next(&d->ix, sss, &it2, &ss) == 1) {
			if (js_type(ss) != JT_OBJ)
				return otlp_fail(d, "scopeSpans entry is not an object", NULL);
			const char *g[3], *nm = NULL;
			js_object(&d->ix, ss, SS_KEYS, 3, g);
			const char *sc = g[0] ? g[0] : g[1];
			struct obs_str scope = { "", 0 };
			if (js_type(sc) == JT_OBJ)
				js_object(&d->ix, sc, NAME_KEY, 1, &nm);
			if (js_type(nm) == JT_STR)
				scope = otlpf_str(d, nm, 0);
			const char *spans = g[2], *it3 = NULL, *sp;
			if (spans && js_type(spans) != JT_ARR)
				return otlp_fail(d, "spans is not an array", NULL);
			while (spans && js_elem_next(&d->ix, spans, &it3, &sp) == 1)
				if ((rc = span(d, sp, svc, scope)))
					return rc;
		}
	}
	return 0;
}

static const char *const TOP_KEYS[] = { "resourceSpans", "trace_id" };

static int fast_doc(struct doc *d, const char *root)
{
	const char *f[2];
	if (js_type(root) == JT_ARR) {
		const char *it = NULL, *e;
		while (js_elem_next(&d->ix, root, &it, &e) == 1) {
			f[0] = NULL;
			if (js_type(e) == JT_OBJ)
				js_object(&d->ix, e, TOP_KEYS, 1, f);
			int rc = f[0] ? otlp_doc(d, f[0]) : otlp_fast_simple(d, e);
			if (rc)
				return rc;
		}
		return 0;
	}
	js_object(&d->ix, root, TOP_KEYS, 2, f);
	if (f[0])
		return otlp_doc(d, f[0]);
	if (f[1])
		return otlp_fast_simple(d, root);
	return otlp_fail(d, "neither an OTLP ExportTraceServiceRequest (resourceSpans) nor a span (trace_id)", NULL);
}

int otlp_fast_doc(struct doc *d, const char *p)
{
	js_arena_reset(&d->ar);
	d->oom = 0;
	obs_buf_reset(&d->blobs);
	int rc = fast_doc(d, js_ws(p));
	if (d->oom && rc != OTLP_DECLINE)
		rc = -ENOMEM;
	return rc;
}

/* ---- the document loop ------------------------------------------------------------ */

/* One document text[0..len) that js_validate accepted. */
static int one(struct doc *d, const char *text, size_t len)
{
	int rc = otlp_fast_doc(d, text);
	if (rc != OTLP_DECLINE)
		return rc;
	json_error_t err;
	obs_buf_reset(&d->blobs);
	json_t *root = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, &err);
	if (!root) {   /* the scanner and jansson disagree: jansson has the last word */
		snprintf(d->why, sizeof d->why, "invalid json: %.140s", err.text);
		return -EINVAL;
	}
	rc = otlp_one_doc(d, root);
	json_decref(root);
	return rc;
}

static size_t count_nl(const char *p, size_t n)
{
	size_t c = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		c++;
	return c;
}

int otlp_parse_loop(const char *buf, size_t n, int final, size_t first_lineno, otlp_doc_fn deliver,
		    obs_span_err_fn efn, void *ctx, struct obs_otlp_result *r)
{
	struct doc d;
	memset(&d, 0, sizeof d);
	memset(r, 0, sizeof *r);
	size_t pos = 0, lineno = first_lineno;
	int ret = 0;
	char jwhy[120];
	while (pos < n) {
		const char *nl = memchr(buf + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - buf) : n;
		if (!nl && !final)
			break;
		size_t a = pos, b = end;
		while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r'))
			a++;
		while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
			b--;
		size_t next = nl ? end + 1 : n, lines = 1, de = 0, dlen = b - a;
		if (a == b) {
			pos = next;
			lineno++;
			r->lines++;
			continue;
		}
		int v = js_validate(buf + a, b - a, 1, &de, jwhy, sizeof jwhy, &d.ix);
		if (v == JS_PREMATURE && buf[a] == '{') {
			/* a document over several lines? */
			char w2[120];
			int v2 = js_validate(buf + a, n - a, 0, &de, w2, sizeof w2, &d.ix);
			if (v2 == JS_OK) {
				de += a;
				const char *nl2 = memchr(buf + de, '\n', n - de);
				size_t k = de;
				while (k < n && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r'))
					k++;
				if (k < n && buf[k] != '\n') {
					snprintf(jwhy, sizeof jwhy, "unterminated document");
				} else if (!nl2 && !final) {
					break;
				} else {
					v = JS_OK;
					dlen = de - a;
					next = nl2 ? (size_t)(nl2 - buf) + 1 : n;
					lines = count_nl(buf + pos, next - pos);
					if (!lines)
						lines = 1;
				}
			} else if (!final && v2 == JS_PREMATURE) {
				break;
			}
		}
		r->docs++;
		int rc = 0;
		if (v != JS_OK) {
			snprintf(d.why, sizeof d.why, "invalid json: %.140s", jwhy);
			rc = -EINVAL;
		} else {
			rc = one(&d, buf + a, dlen);
			if (!rc && (rc = deliver(ctx, &d, pos, r))) {
				ret = rc;   /* the caller's stop, whatever its code */
				break;
			}
			if (rc && rc != -EINVAL)
				ret = rc;
		}
		if (rc == -EINVAL) {
			r->rejected++;
			if (efn)
				efn(ctx, lineno, buf + a, b - a, d.why);
			if (!ret)
				ret = -EINVAL;
		} else if (rc) {
			ret = rc;
			break;
		}
		pos = next;
		lineno += lines;
		r->lines += lines;
	}
	r->consumed = pos;
	otlp_doc_release(&d);
	return ret;
}

int otlp_direct_doc(void *ctx, struct doc *d, size_t at, struct obs_otlp_result *r)
{
	struct otlp_direct *x = ctx;
	(void)at;
	return otlp_deliver_view(d->blobs.data, d->blobs.len, x->fn, x->ctx, r);
}

void otlp_direct_err(void *ctx, size_t lineno, const char *line, size_t n, const char *why)
{
	struct otlp_direct *x = ctx;
	if (x->efn)
		x->efn(x->ctx, lineno, line, n, why);
}

int otlp_deliver_view(const char *blobs, size_t len, obs_span_fn fn, void *ctx, struct obs_otlp_result *r)
{
	size_t pos = 0;
	while (pos + 4 <= len) {
		uint32_t bn;
		memcpy(&bn, blobs + pos, 4);
		const uint8_t *b = (const uint8_t *)blobs + pos + 4;
		struct obs_span s;
		if (obs_span_view(b, bn, &s))
			return -EIO;   /* cannot happen: encoded by this process */
		int rc = fn(ctx, &s, b, bn);
		if (rc)
			return rc;
		r->spans++;
		pos += 4 + (size_t)bn;
	}
	return 0;
}

int obs_otlp_parse(const char *buf, size_t n, int final, size_t first_lineno, obs_span_fn fn,
		   obs_span_err_fn efn, void *ctx, struct obs_otlp_result *r)
{
	struct otlp_direct x = { fn, efn, ctx };
	return otlp_parse_loop(buf, n, final, first_lineno, otlp_direct_doc, otlp_direct_err, &x, r);
}
