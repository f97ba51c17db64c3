/* tquery.c — the trace search query parser (libobs traces). See tquery.h. */
#include "traces/tquery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "traces/span.h"

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* %-decoded copy of s[0..n) */
static char *decode(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	if (!o)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
			o[k++] = (char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
			i += 2;
		} else
			o[k++] = s[i];
	}
	o[k] = 0;
	return o;
}

void obs_tq_release(struct obs_tq *q)
{
	if (!q)
		return;
	free(q->service);
	free(q->operation);
	for (size_t i = 0; i < q->nattrs; i++) {
		free(q->attrs[i].key);
		free(q->attrs[i].val);
	}
	free(q->attrs);
	memset(q, 0, sizeof *q);
}

static int bad(char *err, size_t len, const char *what, const char *t, size_t tn)
{
	if (err && len)
		snprintf(err, len, "%s '%.*s'", what, (int)(tn > 80 ? 80 : tn), t);
	return -EINVAL;
}

int obs_tq_parse(const char *q, size_t n, struct obs_tq *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->error = -1;
	out->max_ns = INT64_MAX;
	int rc = 0;
	for (size_t pos = 0; pos < n && !rc;) {
		const char *amp = memchr(q + pos, '&', n - pos);
		size_t tn = amp ? (size_t)(amp - (q + pos)) : n - pos;
		const char *t = q + pos;
		pos += tn + 1;
		if (!tn)
			continue;
		if ((tn == 5 && !memcmp(t, "error", 5)) || (tn == 12 && !memcmp(t, "status=error", 12))) {
			out->error = 1;
			continue;
		}
		if ((tn == 6 && !memcmp(t, "!error", 6)) || (tn == 9 && !memcmp(t, "status=ok", 9))) {
			out->error = 0;
			continue;
		}
		if (tn > 8 && !memcmp(t, "duration", 8)) {
			const char *o = t + 8;
			int ge = 0, le = 0, strict = 0;
			if (*o == '>')
				ge = 1;
			else if (*o == '<')
				le = 1;
			else
				return obs_tq_release(out), bad(err, errlen, "invalid duration term", t, tn);
			o++;
			if (o < t + tn && *o == '=')
				o++;
			else
				strict = 1;
			int64_t ms;
			/* sub-millisecond values ("250us") are not needed: durations are ms-based */
			if (obs_duration_parse(o, (size_t)(t + tn - o), &ms))
				return obs_tq_release(out), bad(err, errlen, "invalid duration", o, (size_t)(t + tn - o));
			int64_t ns = ms * 1000000;
			if (ge)
				out->min_ns = strict ? ns + 1 : ns;
			if (le)
				out->max_ns = strict ? ns - 1 : ns;
			continue;
		}
		const char *eq = memchr(t, '=', tn);
		if (!eq || eq == t)
			return obs_tq_release(out), bad(err, errlen, "invalid search term", t, tn);
		size_t kn = (size_t)(eq - t), vn = tn - kn - 1;
		char *v = decode(eq + 1, vn);
		if (!v)
			return obs_tq_release(out), -ENOMEM;
		if (kn == 7 && !memcmp(t, "service", 7)) {
			free(out->service);
			out->service = v;
		} else if ((kn == 9 && !memcmp(t, "operation", 9)) || (kn == 4 && !memcmp(t, "name", 4))) {
			free(out->operation);
			out->operation = v;
		} else if (kn == 5 && !memcmp(t, "limit", 5)) {
			char *e;
			unsigned long long l = strtoull(v, &e, 10);
			if (e == v || *e) {
				rc = bad(err, errlen, "invalid limit", v, strlen(v));
				free(v);
				break;
			}
			out->limit = (size_t)l;
			free(v);
		} else {
			struct obs_tq_attr *na = realloc(out->attrs, (out->nattrs + 1) * sizeof *na);
			if (!na) {
				free(v);
				rc = -ENOMEM;
				break;
			}
			out->attrs = na;
			char *k = decode(t, kn);
			if (!k) {
				free(v);
				rc = -ENOMEM;
				break;
			}
			out->attrs = na;
			out->attrs[out->nattrs].key = k;
			out->attrs[out->nattrs].val = v;
			out->nattrs++;
		}
	}
	if (rc)
		obs_tq_release(out);
	return rc;
}

static int eqs(struct obs_str s, const char *c) { return s.n == strlen(c) && !memcmp(s.p, c, s.n); }

int obs_tq_match(const struct obs_tq *q, const struct obs_span *sp, size_t n)
{
	if (!n)
		return 0;
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	int svc = !q->service, op = !q->operation, err = 0;
	size_t attrs_hit = 0;
	unsigned char *hit = q->nattrs ? calloc(q->nattrs, 1) : NULL;
	if (q->nattrs && !hit)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct obs_span *s = &sp[i];
		if (s->start_ns < lo)
			lo = s->start_ns;
		if (s->end_ns > hi)
			hi = s->end_ns;
		err |= s->status == OBS_STATUS_ERROR;
		if (q->service && eqs(s->service, q->service) && (!q->operation || eqs(s->name, q->operation)))
			svc = op = 1;
		if (!q->service && q->operation && eqs(s->name, q->operation))
			op = 1;
		for (size_t k = 0; k < q->nattrs; k++) {
			struct obs_attr a;
			size_t kn = strlen(q->attrs[k].key);
			if (!hit[k] && ((obs_attr_find(s->attrs, q->attrs[k].key, kn, &a) && eqs(a.val, q->attrs[k].val)) ||
					(obs_attr_find(s->resource, q->attrs[k].key, kn, &a) && eqs(a.val, q->attrs[k].val)))) {
				hit[k] = 1;
				attrs_hit++;
			}
		}
	}
	free(hit);
	int64_t d = hi - lo;
	return svc && op && attrs_hit == q->nattrs && (q->error < 0 || q->error == err) && d >= q->min_ns &&
	       d <= q->max_ns;
}
