/* otlp.c — the reference OTLP/JSON span parser on jansson (libobs traces):
 * each document is parsed into a tree, every span of it is validated and
 * encoded into the document's scratch, and only when the whole document is
 * valid are its spans handed to the caller. obs_otlp_parse (otlp_fast.c)
 * uses the zero-tree scanner instead and falls back to this code for the
 * few documents it declines; obs_otlp_parse_ref is the whole loop on
 * jansson, kept for the differential tests. The simple JSON-lines shape is
 * in simple.c. See otlp.h for the contract. */
#include "traces/otlp.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/obstime.h"
#include "traces/otlp_int.h"


int otlp_fail(struct doc *d, const char *fmt, const char *arg)
{
	snprintf(d->why, sizeof d->why, fmt, arg ? arg : "");
	return -EINVAL;
}

const char *otlp_jstr(json_t *o, const char *k, size_t *n)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v))
		return NULL;
	*n = json_string_length(v);
	return json_string_value(v);
}

/* ---- numbers ---------------------------------------------------------------- */

/* An unsigned 64-bit integer as OTLP/JSON writes it: a decimal string or a
 * number. 0, -ENOENT (absent) or -EINVAL. */
int otlp_get_u64(json_t *v, uint64_t *out)
{
	if (!v)
		return -ENOENT;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -EINVAL;
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= 0 && d < 1.8e19) || d != floor(d))
			return -EINVAL;
		*out = (uint64_t)d;
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!n || n > 20)
		return -EINVAL;
	uint64_t u = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || u > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		u = u * 10 + (uint64_t)(s[i] - '0');
	}
	*out = u;
	return 0;
}

static int get_time_ns(struct doc *d, json_t *o, const char *k, int64_t *out)
{
	uint64_t u;
	int rc = otlp_get_u64(json_object_get(o, k), &u);
	if (rc == -ENOENT)
		return otlp_fail(d, "missing %s", k);
	if (rc || u > INT64_MAX)
		return otlp_fail(d, "invalid %s", k);
	*out = (int64_t)u;
	return 0;
}

/* A signed 64-bit int value (intValue): decimal string or number */
static int get_i64(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double x = json_real_value(v);
		if (x != floor(x) || !(fabs(x) < 9.2e18))
			return -EINVAL;
		*out = (int64_t)x;
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	char *e;
	errno = 0;
	long long x = strtoll(s, &e, 10);
	if (e == s || *e || errno || (size_t)(e - s) != json_string_length(v))
		return -EINVAL;
	*out = x;
	return 0;
}

int otlp_fmt_double(double x, char *buf, size_t len)
{
	if (isnan(x))
		return snprintf(buf, len, "NaN");
	if (isinf(x))
		return snprintf(buf, len, x > 0 ? "Infinity" : "-Infinity");
	int n = snprintf(buf, len, "%.15g", x);
	if (strtod(buf, NULL) != x)
		n = snprintf(buf, len, "%.17g", x);
	if (!strpbrk(buf, ".eE") && n + 2 < (int)len) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	return n;
}

static int get_double(json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	if (!strcmp(s, "NaN"))
		*out = NAN;
	else if (!strcmp(s, "Infinity"))
		*out = INFINITY;
	else if (!strcmp(s, "-Infinity"))
		*out = -INFINITY;
	else {
		char *e;
		*out = strtod(s, &e);
		if (e == s || *e)
			return -EINVAL;
	}
	return 0;
}

int otlp_valid_base64(const char *s, size_t n)
{
	if (n % 4)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 c == '+' || c == '/' || c == '-' || c == '_';
		if (!ok && !(c == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '=')))
			return 0;
	}
	return 1;
}

/* ---- AnyValue ------------------------------------------------------------- */

static int anyvalue(struct doc *d, json_t *v, enum obs_attr_type *t, struct obs_buf *out, int depth);

/* Append an AnyValue as plain JSON (nested values of arrays and kvlists) */
static int anyvalue_plain(struct doc *d, json_t *v, struct obs_buf *out, int depth)
{
	enum obs_attr_type t;
	size_t at = out->len;
	int rc = anyvalue(d, v, &t, out, depth);
	if (rc)
		return rc;
	if (t == OBS_ATTR_STRING || t == OBS_ATTR_BYTES ||
	    (t == OBS_ATTR_DOUBLE && (out->data[at] == 'N' || out->data[at] == 'I' || out->data[at + 1] == 'I'))) {
		/* re-write the text as a JSON string */
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

/* Append the text of AnyValue v to out and set its type. */
static int anyvalue(struct doc *d, json_t *v, enum obs_attr_type *t, struct obs_buf *out, int depth)
{
	char num[40];
	json_t *x;
	if (depth > 64)
		return otlp_fail(d, "attribute values nested too deep", NULL);
	if (!json_is_object(v))
		return otlp_fail(d, "attribute value is not an AnyValue object", NULL);
	if ((x = json_object_get(v, "stringValue"))) {
		if (!json_is_string(x))
			return otlp_fail(d, "stringValue is not a string", NULL);
		*t = OBS_ATTR_STRING;
		return obs_buf_append(out, json_string_value(x), json_string_length(x));
	}
	if ((x = json_object_get(v, "boolValue"))) {
		if (!json_is_boolean(x))
			return otlp_fail(d, "boolValue is not true or false", NULL);
		*t = OBS_ATTR_BOOL;
		return obs_buf_puts(out, json_is_true(x) ? "true" : "false");
	}
	if ((x = json_object_get(v, "intValue"))) {
		int64_t i;
		if (get_i64(x, &i))
			return otlp_fail(d, "invalid intValue", NULL);
		*t = OBS_ATTR_INT;
		return obs_buf_printf(out, "%" PRId64, i);
	}
	if ((x = json_object_get(v, "doubleValue"))) {
		double f;
		if (get_double(x, &f))
			return otlp_fail(d, "invalid doubleValue", NULL);
		*t = OBS_ATTR_DOUBLE;
		otlp_fmt_double(f, num, sizeof num);
		return obs_buf_puts(out, num);
	}
	if ((x = json_object_get(v, "bytesValue"))) {
		if (!json_is_string(x) || !otlp_valid_base64(json_string_value(x), json_string_length(x)))
			return otlp_fail(d, "bytesValue is not base64", NULL);
		*t = OBS_ATTR_BYTES;
		return obs_buf_append(out, json_string_value(x), json_string_length(x));
	}
	if ((x = json_object_get(v, "arrayValue"))) {
		json_t *vals = json_is_object(x) ? json_object_get(x, "values") : NULL;
		if (!json_is_object(x) || (vals && !json_is_array(vals)))
			return otlp_fail(d, "arrayValue has no values array", NULL);
		*t = OBS_ATTR_ARRAY;
		int rc = obs_buf_putc(out, '[');
		for (size_t i = 0; !rc && i < json_array_size(vals); i++) {
			if (i)
				rc = obs_buf_putc(out, ',');
			rc = rc ? rc : anyvalue_plain(d, json_array_get(vals, i), out, depth + 1);
		}
		return rc ? rc : obs_buf_putc(out, ']');
	}
	if ((x = json_object_get(v, "kvlistValue"))) {
		json_t *vals = json_is_object(x) ? json_object_get(x, "values") : NULL;
		if (!json_is_object(x) || (vals && !json_is_array(vals)))
			return otlp_fail(d, "kvlistValue has no values array", NULL);
		*t = OBS_ATTR_KVLIST;
		int rc = obs_buf_putc(out, '{');
		for (size_t i = 0; !rc && i < json_array_size(vals); i++) {
			json_t *kv = json_array_get(vals, i);
			size_t kn;
			const char *k = json_is_object(kv) ? otlp_jstr(kv, "key", &kn) : NULL;
			if (!k)
				return otlp_fail(d, "kvlistValue entry without a key", NULL);
			if (i)
				rc = obs_buf_putc(out, ',');
			rc = rc || obs_json_str(out, k, kn) || obs_buf_putc(out, ':');
			json_t *vv = json_object_get(kv, "value");
			if (!rc && !vv)
				rc = obs_buf_puts(out, "null");
			else if (!rc)
				rc = anyvalue_plain(d, vv, out, depth + 1);
		}
		return rc ? rc : obs_buf_putc(out, '}');
	}
	*t = OBS_ATTR_NULL;   /* an empty AnyValue */
	return 0;
}

/* OTLP KeyValue list -> encoded attribute list appended to out; skip is a
 * key to leave out (service.name of a resource) */
static int otlp_attrs(struct doc *d, json_t *arr, struct obs_buf *out, const char *skip)
{
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return otlp_fail(d, "attributes is not an array", NULL);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *kv = json_array_get(arr, i);
		size_t kn;
		const char *k = json_is_object(kv) ? otlp_jstr(kv, "key", &kn) : NULL;
		if (!k)
			return otlp_fail(d, "attribute without a key", NULL);
		if (skip && !strcmp(k, skip))
			continue;
		enum obs_attr_type t = OBS_ATTR_NULL;
		obs_buf_reset(&d->tmp);
		json_t *v = json_object_get(kv, "value");
		struct obs_buf val;
		obs_buf_init(&val);
		int rc = v ? anyvalue(d, v, &t, &val, 0) : 0;
		if (!rc)
			rc = obs_attr_put(out, t, k, kn, val.data ? val.data : "", val.len);
		obs_buf_release(&val);
		if (rc)
			return rc;
	}
	return 0;
}

/* A plain JSON value (simple shape tags) -> typed attribute */
int otlp_plain_attr(struct doc *d, const char *k, json_t *v, struct obs_buf *out)
{
	char num[40];
	switch (json_typeof(v)) {
	case JSON_STRING:
		return obs_attr_put(out, OBS_ATTR_STRING, k, strlen(k), json_string_value(v), json_string_length(v));
	case JSON_TRUE: return obs_attr_put(out, OBS_ATTR_BOOL, k, strlen(k), "true", 4);
	case JSON_FALSE: return obs_attr_put(out, OBS_ATTR_BOOL, k, strlen(k), "false", 5);
	case JSON_NULL: return obs_attr_put(out, OBS_ATTR_NULL, k, strlen(k), "", 0);
	case JSON_INTEGER: {
		int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return obs_attr_put(out, OBS_ATTR_INT, k, strlen(k), num, (size_t)n);
	}
	case JSON_REAL: {
		int n = otlp_fmt_double(json_real_value(v), num, sizeof num);
		return obs_attr_put(out, OBS_ATTR_DOUBLE, k, strlen(k), num, (size_t)n);
	}
	default: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
		if (!s)
			return -ENOMEM;
		int rc = obs_attr_put(out, json_is_array(v) ? OBS_ATTR_ARRAY : OBS_ATTR_KVLIST, k, strlen(k), s, strlen(s));
		free(s);
		(void)d;
		return rc;
	}
	}
}

/* ---- ids ------------------------------------------------------------------ */

int otlp_get_id(struct doc *d, json_t *o, const char *k, uint8_t *out, size_t n, int required)
{
	size_t sn;
	const char *s = otlp_jstr(o, k, &sn);
	memset(out, 0, n);
	if (!s || !sn) {
		if (json_object_get(o, k) && !json_is_string(json_object_get(o, k)) && !json_is_null(json_object_get(o, k)))
			return otlp_fail(d, "%s is not a string", k);
		return required ? otlp_fail(d, "missing %s", k) : 1;
	}
	/* a 64-bit trace id (Jaeger, B3) is left-padded to 128 bits, as W3C says */
	if (n == 16 && sn == 16) {
		if (obs_unhex(s, sn, out + 8, 8))
			return otlp_fail(d, "invalid %s", k);
	} else if (obs_unhex(s, sn, out, n)) {
		snprintf(d->why, sizeof d->why, "invalid %s '%.40s' (want %zu hex digits)", k, s, 2 * n);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (out[i])
			return 0;
	if (!required)
		return 1;   /* an all-zero parent means none */
	return otlp_fail(d, "%s is all zeros", k);
}

int otlp_add_span(struct doc *d, struct obs_span *s)
{
	uint32_t len = 0;
	size_t at = d->blobs.len;
	if (obs_buf_append(&d->blobs, &len, 4) || obs_span_encode(s, &d->blobs)) {
		d->blobs.len = at;
		return -ENOMEM;
	}
	len = (uint32_t)(d->blobs.len - at - 4);
	memcpy(d->blobs.data + at, &len, 4);
	return 0;
}

struct obs_str otlp_bstr(struct obs_buf *b) { return (struct obs_str){ b->data ? b->data : "", b->len }; }

/* ---- OTLP ----------------------------------------------------------------- */

int otlp_kind_name(const char *s, uint8_t *out)
{
	static const char *names[] = { "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
				       "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER" };
	for (int i = 0; i < 6; i++)
		if (!strcasecmp(s, names[i]) || !strcasecmp(s, names[i] + 10)) {
			*out = (uint8_t)i;
			return 0;
		}
	return -EINVAL;
}

int otlp_kind_of(json_t *v, uint8_t *out)
{
	if (!v) {
		*out = 0;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 5) {
		*out = (uint8_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v))
		return otlp_kind_name(json_string_value(v), out);
	return -EINVAL;
}

int otlp_status_name(const char *s, uint8_t *out)
{
	if (!strncasecmp(s, "STATUS_CODE_", 12))
		s += 12;
	if (!strcasecmp(s, "unset") || !*s)
		*out = OBS_STATUS_UNSET;
	else if (!strcasecmp(s, "ok"))
		*out = OBS_STATUS_OK;
	else if (!strcasecmp(s, "error"))
		*out = OBS_STATUS_ERROR;
	else
		return -EINVAL;
	return 0;
}

int otlp_status_of(json_t *v, uint8_t *out)
{
	if (!v || json_is_null(v)) {
		*out = 0;
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 2) {
		*out = (uint8_t)json_integer_value(v);
		return 0;
	}
	if (json_is_true(v) || json_is_false(v)) {   /* simple shape: "error": true */
		*out = json_is_true(v) ? OBS_STATUS_ERROR : OBS_STATUS_UNSET;
		return 0;
	}
	if (json_is_string(v))
		return otlp_status_name(json_string_value(v), out);
	return -EINVAL;
}

/* events/links -> our JSON arrays */
static int otlp_events(struct doc *d, json_t *arr)
{
	obs_buf_reset(&d->events);
	if (!arr || !json_array_size(arr))
		return arr && !json_is_array(arr) ? otlp_fail(d, "events is not an array", NULL) : 0;
	int rc = obs_buf_putc(&d->events, '[');
	for (size_t i = 0; !rc && i < json_array_size(arr); i++) {
		json_t *e = json_array_get(arr, i);
		if (!json_is_object(e))
			return otlp_fail(d, "event is not an object", NULL);
		uint64_t t = 0;
		json_t *tv = json_object_get(e, "timeUnixNano");
		if (tv && otlp_get_u64(tv, &t))
			return otlp_fail(d, "invalid event timeUnixNano", NULL);
		size_t nn = 0;
		const char *nm = otlp_jstr(e, "name", &nn);
		struct obs_buf al;
		obs_buf_init(&al);
		rc = otlp_attrs(d, json_object_get(e, "attributes"), &al, NULL);
		if (!rc)
			rc = obs_buf_printf(&d->events, "%s{\"time_unix_nano\":\"%" PRIu64 "\",\"name\":", i ? "," : "", t) ||
			     obs_json_str(&d->events, nm ? nm : "", nn) || obs_buf_puts(&d->events, ",\"attributes\":") ||
			     obs_attrs_json(&d->events, otlp_bstr(&al)) || obs_buf_putc(&d->events, '}');
		obs_buf_release(&al);
	}
	return rc ? rc : obs_buf_putc(&d->events, ']');
}

static int otlp_links(struct doc *d, json_t *arr)
{
	obs_buf_reset(&d->links);
	if (!arr || !json_array_size(arr))
		return arr && !json_is_array(arr) ? otlp_fail(d, "links is not an array", NULL) : 0;
	int rc = obs_buf_putc(&d->links, '[');
	for (size_t i = 0; !rc && i < json_array_size(arr); i++) {
		json_t *l = json_array_get(arr, i);
		uint8_t tid[16], sid[8];
		char th[33], sh[17];
		if (!json_is_object(l))
			return otlp_fail(d, "link is not an object", NULL);
		if ((rc = otlp_get_id(d, l, "traceId", tid, 16, 1)) || (rc = otlp_get_id(d, l, "spanId", sid, 8, 1)))
			return rc < 0 ? rc : -EINVAL;
		obs_hex(tid, 16, th);
		obs_hex(sid, 8, sh);
		struct obs_buf al;
		obs_buf_init(&al);
		rc = otlp_attrs(d, json_object_get(l, "attributes"), &al, NULL);
		if (!rc)
			rc = obs_buf_printf(&d->links, "%s{\"trace_id\":\"%s\",\"span_id\":\"%s\",\"attributes\":", i ? "," : "",
					    th, sh) ||
			     obs_attrs_json(&d->links, otlp_bstr(&al)) || obs_buf_putc(&d->links, '}');
		obs_buf_release(&al);
	}
	return rc ? rc : obs_buf_putc(&d->links, ']');
}

static int otlp_span(struct doc *d, json_t *sp, struct obs_str service, struct obs_str scope)
{
	struct obs_span s;
	memset(&s, 0, sizeof s);
	int rc;
	if (!json_is_object(sp))
		return otlp_fail(d, "span is not an object", NULL);
	if ((rc = otlp_get_id(d, sp, "traceId", s.trace_id, 16, 1)) || (rc = otlp_get_id(d, sp, "spanId", s.span_id, 8, 1)))
		return rc < 0 ? rc : -EINVAL;
	rc = otlp_get_id(d, sp, "parentSpanId", s.parent_id, 8, 0);
	if (rc < 0)
		return rc;
	if (rc == 0)
		s.flags |= OBS_SPAN_HAS_PARENT;
	if (get_time_ns(d, sp, "startTimeUnixNano", &s.start_ns) || get_time_ns(d, sp, "endTimeUnixNano", &s.end_ns))
		return -EINVAL;
	if (s.end_ns < s.start_ns)
		return otlp_fail(d, "endTimeUnixNano before startTimeUnixNano", NULL);
	if (otlp_kind_of(json_object_get(sp, "kind"), &s.kind))
		return otlp_fail(d, "invalid span kind", NULL);
	json_t *st = json_object_get(sp, "status");
	if (st && !json_is_object(st))
		return otlp_fail(d, "status is not an object", NULL);
	if (st && otlp_status_of(json_object_get(st, "code"), &s.status))
		return otlp_fail(d, "invalid status code", NULL);
	if (st)
		s.status_msg.p = otlp_jstr(st, "message", &s.status_msg.n);
	json_t *fl = json_object_get(sp, "flags");
	if (fl) {
		uint64_t f;
		if (otlp_get_u64(fl, &f) || f > UINT32_MAX)
			return otlp_fail(d, "invalid flags", NULL);
		s.flags |= OBS_SPAN_HAS_TFLAGS;
		s.trace_flags = (uint8_t)f;
	}
	s.trace_state.p = otlp_jstr(sp, "traceState", &s.trace_state.n);
	s.name.p = otlp_jstr(sp, "name", &s.name.n);
	if (!s.name.p && json_object_get(sp, "name"))
		return otlp_fail(d, "span name is not a string", NULL);
	if (!s.name.p)
		s.name = (struct obs_str){ "", 0 };
	obs_buf_reset(&d->attrs);
	if ((rc = otlp_attrs(d, json_object_get(sp, "attributes"), &d->attrs, NULL)) ||
	    (rc = otlp_events(d, json_object_get(sp, "events"))) || (rc = otlp_links(d, json_object_get(sp, "links"))))
		return rc;
	s.service = service;
	s.scope = scope;
	s.attrs = otlp_bstr(&d->attrs);
	s.resource = otlp_bstr(&d->res);
	s.events = otlp_bstr(&d->events);
	s.links = otlp_bstr(&d->links);
	return otlp_add_span(d, &s);
}

static int otlp_doc(struct doc *d, json_t *root)
{
	json_t *rss = json_object_get(root, "resourceSpans");
	if (!json_is_array(rss))
		return otlp_fail(d, "resourceSpans is not an array", NULL);
	for (size_t i = 0; i < json_array_size(rss); i++) {
		json_t *rs = json_array_get(rss, i);
		if (!json_is_object(rs))
			return otlp_fail(d, "resourceSpans entry is not an object", NULL);
		json_t *res = json_object_get(rs, "resource");
		json_t *rattrs = json_is_object(res) ? json_object_get(res, "attributes") : NULL;
		struct obs_str svc = { "unknown_service", 15 };
		for (size_t k = 0; json_is_array(rattrs) && k < json_array_size(rattrs); k++) {
			json_t *kv = json_array_get(rattrs, k);
			size_t kn;
			const char *key = json_is_object(kv) ? otlp_jstr(kv, "key", &kn) : NULL;
			json_t *v = key && !strcmp(key, "service.name") ? json_object_get(kv, "value") : NULL;
			if (json_is_object(v) && json_is_string(json_object_get(v, "stringValue"))) {
				svc.p = json_string_value(json_object_get(v, "stringValue"));
				svc.n = json_string_length(json_object_get(v, "stringValue"));
			}
		}
		obs_buf_reset(&d->res);
		int rc = otlp_attrs(d, rattrs, &d->res, "service.name");
		if (rc)
			return rc;
		json_t *sss = json_object_get(rs, "scopeSpans");
		if (!sss)
			sss = json_object_get(rs, "instrumentationLibrarySpans");   /* OTLP before 0.15 */
		if (sss && !json_is_array(sss))
			return otlp_fail(d, "scopeSpans is not an array", NULL);
		for (size_t j = 0; j < json_array_size(sss); j++) {
			json_t *ss = json_array_get(sss, j);
			if (!json_is_object(ss))
				return otlp_fail(d, "scopeSpans entry is not an object", NULL);
			json_t *sc = json_object_get(ss, "scope");
			if (!sc)
				sc = json_object_get(ss, "instrumentationLibrary");
			struct obs_str scope = { "", 0 };
			if (json_is_object(sc) && otlp_jstr(sc, "name", &scope.n))
				scope.p = otlp_jstr(sc, "name", &scope.n);
			json_t *spans = json_object_get(ss, "spans");
			if (spans && !json_is_array(spans))
				return otlp_fail(d, "spans is not an array", NULL);
			for (size_t k = 0; k < json_array_size(spans); k++)
				if ((rc = otlp_span(d, json_array_get(spans, k), svc, scope)))
					return rc;
		}
	}
	return 0;
}

int otlp_one_doc(struct doc *d, json_t *root)
{
	if (json_is_array(root)) {
		for (size_t i = 0; i < json_array_size(root); i++) {
			json_t *e = json_array_get(root, i);
			int rc = json_object_get(e, "resourceSpans") ? otlp_doc(d, e) : otlp_simple_span(d, e);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (!json_is_object(root))
		return otlp_fail(d, "not a JSON object", NULL);
	if (json_object_get(root, "resourceSpans"))
		return otlp_doc(d, root);
	if (json_object_get(root, "trace_id"))
		return otlp_simple_span(d, root);
	return otlp_fail(d, "neither an OTLP ExportTraceServiceRequest (resourceSpans) nor a span (trace_id)", NULL);
}

int otlp_deliver(struct doc *d, obs_span_fn fn, void *ctx, struct obs_otlp_result *r)
{
	return otlp_deliver_view(d->blobs.data, d->blobs.len, fn, ctx, r);
}

static size_t count_nl(const char *p, size_t n)
{
	size_t c = 0;
	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		c++;
	return c;
}

void otlp_doc_release(struct doc *d)
{
	obs_buf_release(&d->blobs);
	obs_buf_release(&d->attrs);
	obs_buf_release(&d->res);
	obs_buf_release(&d->events);
	obs_buf_release(&d->links);
	obs_buf_release(&d->tmp);
	obs_buf_release(&d->val);
	obs_buf_release(&d->al);
	js_arena_release(&d->ar);
	js_index_release(&d->ix);
}

/* The reference parser: jansson builds each document's tree. */
int obs_otlp_parse_ref(const char *buf, size_t n, int final, size_t first_lineno, obs_span_fn fn,
		       obs_span_err_fn efn, void *ctx, struct obs_otlp_result *r)
{
	struct doc d;
	memset(&d, 0, sizeof d);
	memset(r, 0, sizeof *r);
	size_t pos = 0, lineno = first_lineno;
	int ret = 0;
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
		size_t next = nl ? end + 1 : n, lines = 1;
		if (a == b) {
			pos = next;
			lineno++;
			r->lines++;
			continue;
		}
		json_error_t err;
		json_t *root = json_loadb(buf + a, b - a, 0, &err);
		if (!root && json_error_code(&err) == json_error_premature_end_of_input && buf[a] == '{') {
			/* a document over several lines? */
			json_error_t e2;
			root = json_loadb(buf + a, n - a, JSON_DISABLE_EOF_CHECK, &e2);
			if (root) {
				size_t de = a + e2.position;
				const char *nl2 = memchr(buf + de, '\n', n - de);
				size_t k = de;
				while (k < n && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r'))
					k++;
				if (k < n && buf[k] != '\n') {
					json_decref(root);
					root = NULL;
					snprintf(err.text, sizeof err.text, "unterminated document");
				} else if (!nl2 && !final) {
					json_decref(root);
					break;
				} else {
					next = nl2 ? (size_t)(nl2 - buf) + 1 : n;
					lines = count_nl(buf + pos, next - pos);
					if (!lines)
						lines = 1;
				}
			} else if (!final && a + e2.position >= n &&
				   json_error_code(&e2) == json_error_premature_end_of_input) {
				break;
			}
		}
		if (root && memchr(buf + a, '\0', next - a)) {
			/* jansson skips a NUL byte between tokens; JSON has none
			 * (the fast parser refuses it: the two must agree) */
			json_decref(root);
			root = NULL;
			snprintf(err.text, sizeof err.text, "NUL byte");
		}
		r->docs++;
		int rc = 0;
		if (!root) {
			snprintf(d.why, sizeof d.why, "invalid json: %.140s", err.text);
			rc = -EINVAL;
		} else {
			obs_buf_reset(&d.blobs);
			rc = otlp_one_doc(&d, root);
			json_decref(root);
			if (!rc)
				rc = otlp_deliver(&d, fn, ctx, r);
			else if (rc != -EINVAL)
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
