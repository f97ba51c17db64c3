/* format.c — the answer of a query as text or as Prometheus' HTTP API data
 * object.
 *
 * Text, one line per series and time (oldest first within a series):
 *
 *     SERIES TIME VALUE       up{instance="a",job="x"} 2026-11-21T10:00:00.000Z 1
 *     TIME VALUE              a scalar (instant query)
 *     TIME STRING             a string
 *
 * SERIES is the canonical Prometheus notation of the series' labels (as the
 * files under metrics/ are named; "{}" when it has none), TIME per the
 * caller's time format, VALUE as Go's strconv.FormatFloat(v, 'f', -1, 64)
 * with NaN, +Inf and -Inf spelled so. An empty answer is no line at all.
 *
 * JSON, exactly what Prometheus puts under "data":
 *
 *     {"resultType":"vector","result":[{"metric":{"job":"x"},"value":[1700000000.123,"1.5"]}]}
 *     {"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"1"],...]}]}
 *     {"resultType":"scalar","result":[1700000000,"2"]}
 *     {"resultType":"string","result":[1700000000,"x"]}
 *
 * Timestamps are seconds with the milliseconds as three digits when not whole
 * (Prometheus' jsonutil.MarshalTimestamp), strings escaped as its jsoniter
 * configuration does (HTML characters as \u003c \u003e \u0026, U+2028/9,
 * control characters, invalid UTF-8 as \ufffd). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/obstime.h"
#include "core/utf8.h"
#include "query/q.h"

static int put_value(struct obs_buf *out, double v)
{
	char b[400];
	q_format_f(v, b, sizeof(b));
	return obs_buf_puts(out, b);
}

static int put_series(struct obs_buf *out, const struct obs_labels *l)
{
	if (!l->n)
		return obs_buf_puts(out, "{}");
	return obs_labels_format(l, out);
}

int obs_query_format_text(const struct obs_query_result *r, enum obs_time_fmt tf, struct obs_buf *out)
{
	char tb[40];
	int rc = 0;
	if (r->type == OBS_QV_STRING) {
		obs_time_format(r->time, tf, tb);
		return obs_buf_printf(out, "%s %s\n", tb, r->str ? r->str : "") ? -ENOMEM : 0;
	}
	for (size_t k = 0; k < r->nseries && !rc; k++) {
		const struct obs_query_series *s = &r->series[k];
		for (size_t i = 0; i < s->n && !rc; i++) {
			if (r->type != OBS_QV_SCALAR) {
				rc |= put_series(out, &s->labels);
				rc |= obs_buf_putc(out, ' ');
			}
			obs_time_format(s->t[i], tf, tb);
			rc |= obs_buf_puts(out, tb);
			rc |= obs_buf_putc(out, ' ');
			rc |= put_value(out, s->v[i]);
			rc |= obs_buf_putc(out, '\n');
		}
	}
	return rc ? -ENOMEM : 0;
}

static int put_ts(struct obs_buf *out, int64_t t)
{
	int rc = 0;
	uint64_t u = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
	if (t < 0)
		rc |= obs_buf_putc(out, '-');
	rc |= obs_buf_printf(out, "%" PRIu64, u / 1000);
	if (u % 1000)
		rc |= obs_buf_printf(out, ".%03u", (unsigned)(u % 1000));
	return rc;
}

static int put_jstr(struct obs_buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *p = s, *e = s + strlen(s);
	int rc = obs_buf_putc(out, '"');
	while (p < e && !rc) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x80) {
			int n = obs_utf8_seq(p, e);
			if (!n) {
				rc = obs_buf_puts(out, "\\ufffd");
				p++;
			} else if (n == 3 && c == 0xe2 && (unsigned char)p[1] == 0x80 &&
				   ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9)) {
				rc = obs_buf_puts(out, (unsigned char)p[2] == 0xa8 ? "\\u2028" : "\\u2029");
				p += 3;
			} else {
				rc = obs_buf_append(out, p, (size_t)n);
				p += n;
			}
			continue;
		}
		switch (c) {
		case '"': rc = obs_buf_puts(out, "\\\""); break;
		case '\\': rc = obs_buf_puts(out, "\\\\"); break;
		case '\n': rc = obs_buf_puts(out, "\\n"); break;
		case '\r': rc = obs_buf_puts(out, "\\r"); break;
		case '\t': rc = obs_buf_puts(out, "\\t"); break;
		case '<': case '>': case '&':
			rc = obs_buf_printf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
			break;
		default:
			if (c < 0x20)
				rc = obs_buf_printf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
			else
				rc = obs_buf_putc(out, (char)c);
		}
		p++;
	}
	rc |= obs_buf_putc(out, '"');
	return rc;
}

static int put_point(struct obs_buf *out, int64_t t, double v)
{
	int rc = obs_buf_putc(out, '[');
	rc |= put_ts(out, t);
	rc |= obs_buf_puts(out, ",\"");
	rc |= put_value(out, v);
	rc |= obs_buf_puts(out, "\"]");
	return rc;
}

static int put_metric(struct obs_buf *out, const struct obs_labels *l)
{
	int rc = obs_buf_puts(out, "{\"metric\":{");
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			rc |= obs_buf_putc(out, ',');
		rc |= put_jstr(out, l->v[i].name);
		rc |= obs_buf_putc(out, ':');
		rc |= put_jstr(out, l->v[i].value);
	}
	rc |= obs_buf_puts(out, "},");
	return rc;
}

int obs_query_format_json(const struct obs_query_result *r, struct obs_buf *out)
{
	static const char *const names[] = { "scalar", "string", "vector", "matrix" };
	int rc = obs_buf_printf(out, "{\"resultType\":\"%s\",\"result\":", names[r->type]);
	const struct obs_query_series *s0 = r->nseries ? &r->series[0] : NULL;
	switch (r->type) {
	case OBS_QV_SCALAR:
		rc |= put_point(out, s0 && s0->n ? s0->t[0] : r->time, s0 && s0->n ? s0->v[0] : 0);
		break;
	case OBS_QV_STRING:
		rc |= obs_buf_putc(out, '[');
		rc |= put_ts(out, r->time);
		rc |= obs_buf_putc(out, ',');
		rc |= put_jstr(out, r->str ? r->str : "");
		rc |= obs_buf_putc(out, ']');
		break;
	case OBS_QV_VECTOR:
	case OBS_QV_MATRIX:
		rc |= obs_buf_putc(out, '[');
		for (size_t k = 0; k < r->nseries && !rc; k++) {
			const struct obs_query_series *s = &r->series[k];
			if (k)
				rc |= obs_buf_putc(out, ',');
			rc |= put_metric(out, &s->labels);
			if (r->type == OBS_QV_VECTOR) {
				rc |= obs_buf_puts(out, "\"value\":");
				rc |= put_point(out, s->n ? s->t[0] : 0, s->n ? s->v[0] : 0);
			} else {
				rc |= obs_buf_puts(out, "\"values\":[");
				for (size_t i = 0; i < s->n && !rc; i++) {
					if (i)
						rc |= obs_buf_putc(out, ',');
					rc |= put_point(out, s->t[i], s->v[i]);
				}
				rc |= obs_buf_putc(out, ']');
			}
			rc |= obs_buf_putc(out, '}');
		}
		rc |= obs_buf_putc(out, ']');
		break;
	}
	rc |= obs_buf_puts(out, "}\n");
	return rc ? -ENOMEM : 0;
}
