/* span.c — span encoding and JSON rendering (libobs traces).
 *
 * Span encoding (version 1), little-endian where fixed-width; what the
 * traces WAL (SPAN records), the assembler's buffers and the segments'
 * trace records hold:
 *
 *   u8      version (1)
 *   16      trace id          8  span id          8  parent span id (zeros: none)
 *   u8      flags (OBS_SPAN_HAS_PARENT 1, OBS_SPAN_HAS_TFLAGS 2)
 *   u8      W3C trace flags   u8 kind   u8 status code (0 unset, 1 ok, 2 error)
 *   uvarint start time, ns since the epoch
 *   uvarint duration, ns (end - start)
 *   9 x (uvarint length, bytes): service, name, status message, scope name,
 *           trace state, attributes, resource attributes, events, links
 *
 * An attribute list is a byte string of entries
 *   u8 type ('s' 'b' 'i' 'd' 'a' 'k' 'y' 'n'), uvarint key length, key,
 *   uvarint value length, value text
 * A blob is valid when every length stays inside it and it ends exactly after
 * the links; anything else is -EBADMSG. */
#include "traces/span.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/varint.h"

#define SPAN_VERSION 1

int obs_attr_put(struct obs_buf *b, enum obs_attr_type t, const char *k, size_t kn,
		 const char *v, size_t vn)
{
	size_t old = b->len;
	uint8_t ty = (uint8_t)t;
	if (obs_buf_append(b, &ty, 1) || obs_buf_varint(b, kn) || obs_buf_append(b, k, kn) ||
	    obs_buf_varint(b, vn) || obs_buf_append(b, v, vn)) {
		b->len = old;
		return -ENOMEM;
	}
	return 0;
}

static int get_str(const uint8_t *p, size_t n, size_t *pos, struct obs_str *s)
{
	uint64_t len;
	if (obs_varint_get(p, n, pos, &len) || len > n - *pos)
		return -EBADMSG;
	s->p = (const char *)p + *pos;
	s->n = (size_t)len;
	*pos += (size_t)len;
	return 0;
}

int obs_attr_next(struct obs_str list, size_t *pos, struct obs_attr *a)
{
	const uint8_t *p = (const uint8_t *)list.p;
	if (*pos >= list.n)
		return 0;
	size_t i = *pos;
	uint8_t t = p[i++];
	switch (t) {
	case 's': case 'b': case 'i': case 'd': case 'a': case 'k': case 'y': case 'n':
		break;
	default:
		return -EBADMSG;
	}
	if (get_str(p, list.n, &i, &a->key) || get_str(p, list.n, &i, &a->val))
		return -EBADMSG;
	a->type = (enum obs_attr_type)t;
	*pos = i;
	return 1;
}

int obs_attr_find(struct obs_str list, const char *key, size_t kn, struct obs_attr *a)
{
	size_t pos = 0;
	while (obs_attr_next(list, &pos, a) == 1)
		if (a->key.n == kn && !memcmp(a->key.p, key, kn))
			return 1;
	return 0;
}

int obs_span_encode(const struct obs_span *s, struct obs_buf *out)
{
	uint64_t dur = s->end_ns > s->start_ns ? (uint64_t)(s->end_ns - s->start_ns) : 0;
	const struct obs_str *f[] = { &s->service, &s->name, &s->status_msg, &s->scope, &s->trace_state,
				      &s->attrs, &s->resource, &s->events, &s->links };
	enum { NF = sizeof f / sizeof f[0] };
	size_t need = 37 + 2 * 10;
	for (size_t i = 0; i < NF; i++)
		need += 10 + f[i]->n;
	/* one reservation, then the bytes in place */
	if (obs_buf_reserve(out, need))
		return -ENOMEM;
	uint8_t *h = (uint8_t *)out->data + out->len, *p = h + 37;
	h[0] = SPAN_VERSION;
	memcpy(h + 1, s->trace_id, 16);
	memcpy(h + 17, s->span_id, 8);
	memcpy(h + 25, s->parent_id, 8);
	h[33] = (uint8_t)s->flags;
	h[34] = s->trace_flags;
	h[35] = s->kind;
	h[36] = s->status;
	p += obs_varint_put(p, (uint64_t)s->start_ns);
	p += obs_varint_put(p, dur);
	for (size_t i = 0; i < NF; i++) {
		p += obs_varint_put(p, f[i]->n);
		if (f[i]->n)
			memcpy(p, f[i]->p, f[i]->n);
		p += f[i]->n;
	}
	out->len += (size_t)(p - h);
	out->data[out->len] = 0;
	return 0;
}

static int decode(const uint8_t *p, size_t n, struct obs_span *s, int check_attrs)
{
	if (n < 37 || p[0] != SPAN_VERSION)
		return -EBADMSG;
	memset(s, 0, sizeof *s);
	memcpy(s->trace_id, p + 1, 16);
	memcpy(s->span_id, p + 17, 8);
	memcpy(s->parent_id, p + 25, 8);
	s->flags = p[33];
	s->trace_flags = p[34];
	s->kind = p[35];
	s->status = p[36];
	if (s->flags & ~3u || s->status > 2)
		return -EBADMSG;
	size_t pos = 37;
	uint64_t st, dur;
	if (obs_varint_get(p, n, &pos, &st) || obs_varint_get(p, n, &pos, &dur) ||
	    st > INT64_MAX || dur > (uint64_t)INT64_MAX - st)
		return -EBADMSG;
	s->start_ns = (int64_t)st;
	s->end_ns = (int64_t)(st + dur);
	struct obs_str *f[] = { &s->service, &s->name, &s->status_msg, &s->scope, &s->trace_state,
				&s->attrs, &s->resource, &s->events, &s->links };
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		if (get_str(p, n, &pos, f[i]))
			return -EBADMSG;
	if (pos != n)
		return -EBADMSG;
	if (!check_attrs)
		return 0;
	size_t ap = 0;
	struct obs_attr a;
	int r;
	while ((r = obs_attr_next(s->attrs, &ap, &a)) == 1)
		;
	if (r < 0)
		return -EBADMSG;
	ap = 0;
	while ((r = obs_attr_next(s->resource, &ap, &a)) == 1)
		;
	return r < 0 ? -EBADMSG : 0;
}

int obs_span_decode(const uint8_t *p, size_t n, struct obs_span *s) { return decode(p, n, s, 1); }

int obs_span_view(const uint8_t *p, size_t n, struct obs_span *s) { return decode(p, n, s, 0); }

void obs_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}


int obs_unhex(const char *s, size_t sn, uint8_t *out, size_t n)
{
	/* 0x10 | value for a hex digit, 0 for anything else */
	static const uint8_t tab[256] = {
		['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13, ['4'] = 0x14, ['5'] = 0x15, ['6'] = 0x16, ['7'] = 0x17,
		['8'] = 0x18, ['9'] = 0x19, ['a'] = 0x1a, ['b'] = 0x1b, ['c'] = 0x1c, ['d'] = 0x1d, ['e'] = 0x1e, ['f'] = 0x1f,
		['A'] = 0x1a, ['B'] = 0x1b, ['C'] = 0x1c, ['D'] = 0x1d, ['E'] = 0x1e, ['F'] = 0x1f,
	};
	if (sn != 2 * n)
		return -EINVAL;
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned a = tab[(uint8_t)s[2 * i]], b = tab[(uint8_t)s[2 * i + 1]];
		bad |= (a & b & 0x10) ^ 0x10;
		out[i] = (uint8_t)((a & 15) << 4 | (b & 15));
	}
	return bad ? -EINVAL : 0;
}

int obs_json_str(struct obs_buf *b, const char *s, size_t n)
{
	if (obs_buf_reserve(b, n + 2))
		return -ENOMEM;
	int rc = obs_buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		rc = obs_buf_append(b, s + i - run, run);
		run = 0;
		if (rc)
			break;
		switch (c) {
		case '"': rc = obs_buf_puts(b, "\\\""); break;
		case '\\': rc = obs_buf_puts(b, "\\\\"); break;
		case '\n': rc = obs_buf_puts(b, "\\n"); break;
		case '\t': rc = obs_buf_puts(b, "\\t"); break;
		case '\r': rc = obs_buf_puts(b, "\\r"); break;
		default: rc = obs_buf_printf(b, "\\u%04x", c);
		}
	}
	if (!rc)
		rc = obs_buf_append(b, s + n - run, run);
	return rc ? rc : obs_buf_putc(b, '"');
}

static int attr_value_json(struct obs_buf *b, const struct obs_attr *a)
{
	switch (a->type) {
	case OBS_ATTR_BOOL: case OBS_ATTR_INT: case OBS_ATTR_ARRAY: case OBS_ATTR_KVLIST:
		return obs_buf_append(b, a->val.p, a->val.n);
	case OBS_ATTR_DOUBLE:
		/* NaN and infinities are no JSON numbers: protobuf's JSON spells them as strings */
		if (a->val.n && (a->val.p[0] == 'N' || a->val.p[0] == 'I' || (a->val.n > 1 && a->val.p[1] == 'I')))
			return obs_json_str(b, a->val.p, a->val.n);
		return obs_buf_append(b, a->val.p, a->val.n);
	case OBS_ATTR_NULL:
		return obs_buf_puts(b, "null");
	default:
		return obs_json_str(b, a->val.p, a->val.n);
	}
}

int obs_attrs_json(struct obs_buf *b, struct obs_str list)
{
	size_t pos = 0;
	struct obs_attr a;
	int first = 1, rc = obs_buf_putc(b, '{');
	while (!rc && obs_attr_next(list, &pos, &a) == 1) {
		if (!first)
			rc = obs_buf_putc(b, ',');
		first = 0;
		rc = rc || obs_json_str(b, a.key.p, a.key.n) || obs_buf_putc(b, ':') || attr_value_json(b, &a);
	}
	return rc ? -ENOMEM : obs_buf_putc(b, '}');
}

static const char *status_word(int s)
{
	return s == OBS_STATUS_ERROR ? "error" : s == OBS_STATUS_OK ? "ok" : "unset";
}

int obs_span_json(const struct obs_span *s, struct obs_buf *b)
{
	char tid[33], sid[17], pid[17], dur[40];
	obs_hex(s->trace_id, 16, tid);
	obs_hex(s->span_id, 8, sid);
	if (s->flags & OBS_SPAN_HAS_PARENT)
		obs_hex(s->parent_id, 8, pid);
	else
		pid[0] = 0;
	int64_t d = s->end_ns - s->start_ns;
	/* duration in ms with up to 6 decimals, trailing zeros cut */
	int dl = snprintf(dur, sizeof dur, "%" PRId64 ".%06" PRId64, d / 1000000, d % 1000000);
	while (dur[dl - 1] == '0')
		dur[--dl] = 0;
	if (dur[dl - 1] == '.')
		dur[--dl] = 0;
	size_t old = b->len;
	int rc = obs_buf_printf(b, "{\"trace_id\":\"%s\",\"span_id\":\"%s\",\"parent_span_id\":\"%s\",\"service\":",
				tid, sid, pid) ||
		 obs_json_str(b, s->service.p, s->service.n) || obs_buf_puts(b, ",\"operation\":") ||
		 obs_json_str(b, s->name.p, s->name.n) ||
		 obs_buf_printf(b, ",\"kind\":%u,\"start_time\":%" PRId64 ",\"duration_ms\":%s,"
				   "\"start_time_unix_nano\":\"%" PRId64 "\",\"end_time_unix_nano\":\"%" PRId64
				   "\",\"status\":\"%s\"",
				s->kind, s->start_ns / 1000000, dur, s->start_ns, s->end_ns, status_word(s->status));
	if (!rc && s->status_msg.n)
		rc = obs_buf_puts(b, ",\"status_message\":") || obs_json_str(b, s->status_msg.p, s->status_msg.n);
	rc = rc || obs_buf_puts(b, ",\"tags\":") || obs_attrs_json(b, s->attrs);
	if (!rc && s->resource.n)
		rc = obs_buf_puts(b, ",\"resource\":") || obs_attrs_json(b, s->resource);
	if (!rc && s->scope.n)
		rc = obs_buf_puts(b, ",\"scope\":") || obs_json_str(b, s->scope.p, s->scope.n);
	if (!rc && s->trace_state.n)
		rc = obs_buf_puts(b, ",\"trace_state\":") || obs_json_str(b, s->trace_state.p, s->trace_state.n);
	if (!rc && (s->flags & OBS_SPAN_HAS_TFLAGS))
		rc = obs_buf_printf(b, ",\"trace_flags\":%u", s->trace_flags);
	if (!rc && s->events.n)
		rc = obs_buf_puts(b, ",\"events\":") || obs_buf_append(b, s->events.p, s->events.n);
	if (!rc && s->links.n)
		rc = obs_buf_puts(b, ",\"links\":") || obs_buf_append(b, s->links.p, s->links.n);
	rc = rc || obs_buf_puts(b, "}\n");
	if (rc) {
		b->len = old;
		return -ENOMEM;
	}
	return 0;
}
