/* simple.c — the simple JSON-lines span shape (libobs traces):
 *   {"trace_id","span_id","parent_span_id","service","operation",
 *    "start_time" (ms or RFC3339),"duration_ms","status","tags"}
 * plus the exact fields obs_span_json prints (start_time_unix_nano, ...),
 * so a trace read from the mount can be written back. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "traces/otlp_int.h"

/* ---- the simple shape ------------------------------------------------------- */

/* A JSON number of milliseconds (>= 0, before year 2262) in ns, exact for
 * integers and to the ns for fractions. */
static int ms_to_ns(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t ms = json_integer_value(v);
		if (ms < 0 || ms > INT64_MAX / 1000000)
			return -EINVAL;
		*out = (int64_t)ms * 1000000;
		return 0;
	}
	double ms = json_is_real(v) ? json_real_value(v) : -1;
	if (!(ms >= 0 && ms < 9.2e12))
		return -EINVAL;
	double w = floor(ms);
	*out = (int64_t)w * 1000000 + (int64_t)llround((ms - w) * 1e6);
	return 0;
}

int otlp_simple_span(struct doc *d, json_t *o)
{
	struct obs_span s;
	memset(&s, 0, sizeof s);
	int rc;
	if (!json_is_object(o))
		return otlp_fail(d, "span is not an object", NULL);
	if ((rc = otlp_get_id(d, o, "trace_id", s.trace_id, 16, 1)) || (rc = otlp_get_id(d, o, "span_id", s.span_id, 8, 1)))
		return rc < 0 ? rc : -EINVAL;
	rc = otlp_get_id(d, o, "parent_span_id", s.parent_id, 8, 0);
	if (rc < 0)
		return rc;
	if (rc == 0)
		s.flags |= OBS_SPAN_HAS_PARENT;
	s.service.p = otlp_jstr(o, "service", &s.service.n);
	if (!s.service.p)
		s.service = (struct obs_str){ "unknown_service", 15 };
	s.name.p = otlp_jstr(o, "operation", &s.name.n);
	if (!s.name.p)
		s.name.p = otlp_jstr(o, "name", &s.name.n);
	if (!s.name.p)
		return otlp_fail(d, "missing operation", NULL);
	/* times: exact nanoseconds when given, else start_time (ms or RFC3339) + duration_ms */
	uint64_t u;
	json_t *v;
	if ((v = json_object_get(o, "start_time_unix_nano"))) {
		if (otlp_get_u64(v, &u) || u > INT64_MAX)
			return otlp_fail(d, "invalid start_time_unix_nano", NULL);
		s.start_ns = (int64_t)u;
	} else if (json_is_number(v = json_object_get(o, "start_time"))) {
		if (ms_to_ns(v, &s.start_ns))
			return otlp_fail(d, "invalid start_time", NULL);
	} else if (json_is_string(v)) {
		int64_t ms;
		if (obs_time_parse(json_string_value(v), json_string_length(v), &ms) || ms < 0)
			return otlp_fail(d, "invalid start_time '%.40s'", json_string_value(v));
		s.start_ns = ms * 1000000;
	} else
		return otlp_fail(d, "missing start_time", NULL);
	if ((v = json_object_get(o, "end_time_unix_nano"))) {
		if (otlp_get_u64(v, &u) || u > INT64_MAX || (int64_t)u < s.start_ns)
			return otlp_fail(d, "invalid end_time_unix_nano", NULL);
		s.end_ns = (int64_t)u;
	} else if ((v = json_object_get(o, "duration_ms"))) {
		int64_t dns;
		if (ms_to_ns(v, &dns) || s.start_ns > INT64_MAX - dns)
			return otlp_fail(d, "invalid duration_ms", NULL);
		s.end_ns = s.start_ns + dns;
	} else
		return otlp_fail(d, "missing duration_ms", NULL);
	v = json_object_get(o, "status");
	if (!v)
		v = json_object_get(o, "error");
	if (otlp_status_of(v, &s.status))
		return otlp_fail(d, "invalid status", NULL);
	if (otlp_kind_of(json_object_get(o, "kind"), &s.kind))
		return otlp_fail(d, "invalid span kind", NULL);
	s.status_msg.p = otlp_jstr(o, "status_message", &s.status_msg.n);
	s.scope.p = otlp_jstr(o, "scope", &s.scope.n);
	s.trace_state.p = otlp_jstr(o, "trace_state", &s.trace_state.n);
	if ((v = json_object_get(o, "trace_flags"))) {
		if (otlp_get_u64(v, &u) || u > 255)
			return otlp_fail(d, "invalid trace_flags", NULL);
		s.flags |= OBS_SPAN_HAS_TFLAGS;
		s.trace_flags = (uint8_t)u;
	}
	obs_buf_reset(&d->attrs);
	obs_buf_reset(&d->res);
	json_t *tags = json_object_get(o, "tags");
	if (json_is_object(tags)) {
		const char *k;
		json_object_foreach(tags, k, v)
			if ((rc = otlp_plain_attr(d, k, v, &d->attrs)))
				return rc;
	} else if (json_is_array(tags)) {   /* [{"key":..,"value":..}] as Jaeger writes */
		for (size_t i = 0; i < json_array_size(tags); i++) {
			json_t *kv = json_array_get(tags, i);
			size_t kn;
			const char *k = json_is_object(kv) ? otlp_jstr(kv, "key", &kn) : NULL;
			if (!k)
				return otlp_fail(d, "tag without a key", NULL);
			if ((rc = otlp_plain_attr(d, k, json_object_get(kv, "value") ? json_object_get(kv, "value") : json_null(), &d->attrs)))
				return rc;
		}
	} else if (tags && !json_is_null(tags))
		return otlp_fail(d, "tags is not an object", NULL);
	json_t *res = json_object_get(o, "resource");
	if (json_is_object(res)) {
		const char *k;
		json_object_foreach(res, k, v)
			if ((rc = otlp_plain_attr(d, k, v, &d->res)))
				return rc;
	}
	obs_buf_reset(&d->events);
	obs_buf_reset(&d->links);
	const char *raw[2] = { "events", "links" };
	struct obs_buf *dst[2] = { &d->events, &d->links };
	for (int i = 0; i < 2; i++) {
		v = json_object_get(o, raw[i]);
		if (!v || !json_array_size(v))
			continue;
		char *txt = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17));
		if (!txt)
			return -ENOMEM;
		rc = obs_buf_puts(dst[i], txt);
		free(txt);
		if (rc)
			return rc;
	}
	s.attrs = otlp_bstr(&d->attrs);
	s.resource = otlp_bstr(&d->res);
	s.events = otlp_bstr(&d->events);
	s.links = otlp_bstr(&d->links);
	return otlp_add_span(d, &s);
}


/* ---- the simple shape on the zero-tree scanner (mirrors the above) --------------- */

static int fast_ms_to_ns(struct doc *d, const char *v, int64_t *out)
{
	enum js_type t = js_type(v);
	if (t == JT_INT) {
		int64_t ms = js_int(v);
		if (ms < 0 || ms > INT64_MAX / 1000000)
			return -EINVAL;
		*out = ms * 1000000;
		return 0;
	}
	double ms = t == JT_REAL ? js_num(v) : -1;
	if (!(ms >= 0 && ms < 9.2e12))
		return -EINVAL;
	double w = floor(ms);
	*out = (int64_t)w * 1000000 + (int64_t)llround((ms - w) * 1e6);
	return 0;
}

/* A plain JSON value -> typed attribute; arrays and objects need jansson's
 * serializer (OTLP_DECLINE). */
static int fast_plain_attr(struct doc *d, struct obs_str k, const char *v, struct obs_buf *out)
{
	char num[40];
	int n;
	switch (js_type(v)) {
	case JT_STR: {
		struct obs_str s = otlpf_str(d, v, 0);
		return obs_attr_put(out, OBS_ATTR_STRING, k.p, k.n, s.p, s.n);
	}
	case JT_TRUE: return obs_attr_put(out, OBS_ATTR_BOOL, k.p, k.n, "true", 4);
	case JT_FALSE: return obs_attr_put(out, OBS_ATTR_BOOL, k.p, k.n, "false", 5);
	case JT_NONE:
	case JT_NULL: return obs_attr_put(out, OBS_ATTR_NULL, k.p, k.n, "", 0);
	case JT_INT:
		n = snprintf(num, sizeof num, "%" PRId64, js_int(v));
		return obs_attr_put(out, OBS_ATTR_INT, k.p, k.n, num, (size_t)n);
	case JT_REAL:
		n = otlp_fmt_double(js_num(v), num, sizeof num);
		return obs_attr_put(out, OBS_ATTR_DOUBLE, k.p, k.n, num, (size_t)n);
	default: return OTLP_DECLINE;
	}
}

/* The members of object o as typed attributes, in jansson's order: a key
 * given twice keeps its first place and its last value. */
static int fast_object_attrs(struct doc *d, const char *o, struct obs_buf *out)
{
	enum { MAXM = 64 };
	struct obs_str key[MAXM];
	const char *val[MAXM], *it = NULL, *v;
	struct obs_str k;
	int m = 0, rc;
	while ((rc = js_member_next(&d->ix, &d->ar, o, &it, &k, &v)) == 1) {
		if (m == MAXM)
			return OTLP_DECLINE;
		key[m] = k;
		val[m++] = v;
	}
	if (rc)
		return rc;
	for (int i = 0; i < m; i++) {
		int seen = 0, last = i;
		for (int j = 0; j < m && !seen; j++)
			if (j != i && key[j].n == key[i].n && !memcmp(key[j].p, key[i].p, key[i].n)) {
				if (j < i)
					seen = 1;
				else
					last = j;
			}
		if (!seen && (rc = fast_plain_attr(d, key[i], val[last], out)))
			return rc;
	}
	return 0;
}

enum { F_TRACE, F_SPAN, F_PARENT, F_SERVICE, F_OPERATION, F_NAME, F_START_NS, F_START, F_END_NS, F_DUR,
       F_STATUS, F_ERROR, F_KIND, F_SMSG, F_SCOPE, F_TSTATE, F_TFLAGS, F_TAGS, F_RESOURCE, F_EVENTS, F_LINKS, F_N };
static const char *const SIMPLE_KEYS[F_N] = {
	"trace_id", "span_id", "parent_span_id", "service", "operation", "name", "start_time_unix_nano",
	"start_time", "end_time_unix_nano", "duration_ms", "status", "error", "kind", "status_message",
	"scope", "trace_state", "trace_flags", "tags", "resource", "events", "links" };
static const char *const KV[] = { "key", "value" };

static struct obs_str str_or_null(struct doc *d, const char *v)
{
	return js_type(v) == JT_STR ? otlpf_str(d, v, 0) : (struct obs_str){ NULL, 0 };
}

int otlp_fast_simple(struct doc *d, const char *o)
{
	struct obs_span s;
	const char *f[F_N], *v;
	memset(&s, 0, sizeof s);
	int rc;
	if (js_type(o) != JT_OBJ)
		return otlp_fail(d, "span is not an object", NULL);
	js_object(&d->ix, o, SIMPLE_KEYS, F_N, f);
	/* events and links given as JSON are re-serialized by jansson */
	for (int i = F_EVENTS; i <= F_LINKS; i++)
		if (js_type(f[i]) == JT_ARR && js_ws(f[i] + 1)[0] != ']')
			return OTLP_DECLINE;
	if ((rc = otlpf_id(d, f[F_TRACE], "trace_id", s.trace_id, 16, 1)) ||
	    (rc = otlpf_id(d, f[F_SPAN], "span_id", s.span_id, 8, 1)))
		return rc < 0 ? rc : -EINVAL;
	rc = otlpf_id(d, f[F_PARENT], "parent_span_id", s.parent_id, 8, 0);
	if (rc < 0)
		return rc;
	if (rc == 0)
		s.flags |= OBS_SPAN_HAS_PARENT;
	s.service = str_or_null(d, f[F_SERVICE]);
	if (!s.service.p)
		s.service = (struct obs_str){ "unknown_service", 15 };
	s.name = str_or_null(d, f[F_OPERATION]);
	if (!s.name.p)
		s.name = str_or_null(d, f[F_NAME]);
	if (!s.name.p)
		return otlp_fail(d, "missing operation", NULL);
	uint64_t u;
	enum js_type st = js_type(f[F_START]);
	if ((v = f[F_START_NS])) {
		if (otlpf_u64(d, v, &u) || u > INT64_MAX)
			return otlp_fail(d, "invalid start_time_unix_nano", NULL);
		s.start_ns = (int64_t)u;
	} else if (st == JT_INT || st == JT_REAL) {
		if (fast_ms_to_ns(d, f[F_START], &s.start_ns))
			return otlp_fail(d, "invalid start_time", NULL);
	} else if (st == JT_STR) {
		int64_t ms;
		struct obs_str t = otlpf_str(d, f[F_START], 1);
		if (obs_time_parse(t.p, t.n, &ms) || ms < 0)
			return otlp_fail(d, "invalid start_time '%.40s'", t.p);
		s.start_ns = ms * 1000000;
	} else
		return otlp_fail(d, "missing start_time", NULL);
	if ((v = f[F_END_NS])) {
		if (otlpf_u64(d, v, &u) || u > INT64_MAX || (int64_t)u < s.start_ns)
			return otlp_fail(d, "invalid end_time_unix_nano", NULL);
		s.end_ns = (int64_t)u;
	} else if ((v = f[F_DUR])) {
		int64_t dns;
		if (fast_ms_to_ns(d, v, &dns) || s.start_ns > INT64_MAX - dns)
			return otlp_fail(d, "invalid duration_ms", NULL);
		s.end_ns = s.start_ns + dns;
	} else
		return otlp_fail(d, "missing duration_ms", NULL);
	if (otlpf_status(d, f[F_STATUS] ? f[F_STATUS] : f[F_ERROR], &s.status))
		return otlp_fail(d, "invalid status", NULL);
	if (otlpf_kind(d, f[F_KIND], &s.kind))
		return otlp_fail(d, "invalid span kind", NULL);
	s.status_msg = str_or_null(d, f[F_SMSG]);
	s.scope = str_or_null(d, f[F_SCOPE]);
	s.trace_state = str_or_null(d, f[F_TSTATE]);
	if ((v = f[F_TFLAGS])) {
		if (otlpf_u64(d, v, &u) || u > 255)
			return otlp_fail(d, "invalid trace_flags", NULL);
		s.flags |= OBS_SPAN_HAS_TFLAGS;
		s.trace_flags = (uint8_t)u;
	}
	obs_buf_reset(&d->attrs);
	obs_buf_reset(&d->res);
	const char *tags = f[F_TAGS];
	if (js_type(tags) == JT_OBJ) {
		if ((rc = fast_object_attrs(d, tags, &d->attrs)))
			return rc;
	} else if (js_type(tags) == JT_ARR) {   /* [{"key":..,"value":..}] as Jaeger writes */
		const char *it = NULL, *kv;
		while (js_elem_next(&d->ix, tags, &it, &kv) == 1) {
			const char *g[2] = { NULL, NULL };
			if (js_type(kv) == JT_OBJ)
				js_object(&d->ix, kv, KV, 2, g);
			if (js_type(g[0]) != JT_STR)
				return otlp_fail(d, "tag without a key", NULL);
			if ((rc = fast_plain_attr(d, otlpf_str(d, g[0], 0), g[1], &d->attrs)))
				return rc;
		}
	} else if (tags && js_type(tags) != JT_NULL)
		return otlp_fail(d, "tags is not an object", NULL);
	if (js_type(f[F_RESOURCE]) == JT_OBJ && (rc = fast_object_attrs(d, f[F_RESOURCE], &d->res)))
		return rc;
	obs_buf_reset(&d->events);
	obs_buf_reset(&d->links);
	s.attrs = otlp_bstr(&d->attrs);
	s.resource = otlp_bstr(&d->res);
	s.events = otlp_bstr(&d->events);
	s.links = otlp_bstr(&d->links);
	return otlp_add_span(d, &s);
}
