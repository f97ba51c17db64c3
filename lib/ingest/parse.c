/* parse.c — line splitting, per-line format detection and error reporting for
 * the metric line formats; shared helpers (character classes, UTF-8 check,
 * name sanitizing, timestamps); the per-series "VALUE" / "TIME VALUE" line.
 * The formats themselves live in prom.c, influx.c, graphite.c and statsd.c. */
#include "ingest/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"
#include "core/obstime.h"
#include "ingest/parse_int.h"

#define L_ (PC_NAME0 | PC_NAME | PC_LNAME0 | PC_LNAME)
#define D_ (PC_NAME | PC_LNAME | PC_DIGIT)

const unsigned char obs_pcls[256] = {
	[0] = PC_VSTOP,
	['\t'] = PC_SPACE | PC_DET,
	[' '] = PC_SPACE | PC_DET,
	['"'] = PC_VSTOP,
	['\\'] = PC_VSTOP | PC_DET,
	[','] = PC_DET,
	['.'] = PC_DET,
	[';'] = PC_DET,
	['{'] = PC_DET,
	[':'] = PC_NAME0 | PC_NAME | PC_DET,
	['_'] = L_,
	['0' ... '9'] = D_,
	['a' ... 'z'] = L_,
	['A' ... 'Z'] = L_,
	[0x80 ... 0xff] = PC_VSTOP,
};


int obs_p_scratch(struct obs_pctx *c, size_t need)
{
	char *np;
	size_t cap;

	if (need <= c->cap)
		return 0;
	cap = c->cap ? c->cap : 4096;
	while (cap < need)
		cap *= 2;
	np = realloc(c->scratch, cap);
	if (!np)
		return -ENOMEM;
	c->scratch = np;
	c->cap = cap;
	return 0;
}

size_t obs_p_sanitize(const char *s, size_t n, int cls, char *out)
{
	size_t i, o = 0;

	if (!n || pc_is((unsigned char)s[0], PC_DIGIT))
		out[o++] = '_';
	for (i = 0; i < n; i++)
		out[o++] = pc_is((unsigned char)s[i], cls) ? s[i] : '_';
	return o;
}

/* [-]digits -> int64, no overflow. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
	const char *p = s, *e = s + n;
	int neg = 0;
	uint64_t v = 0;

	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	if (p == e)
		return -1;
	for (; p < e; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (d > 9)
			return -1;
		if (v > (UINT64_C(1) << 63) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int obs_p_ts_secs(const char *s, size_t n, int64_t *out)
{
	const char *dot = memchr(s, '.', n);
	int64_t sec, ms = 0;
	size_t i, flen;
	int neg;

	if (!dot && !memchr(s, 'e', n) && !memchr(s, 'E', n)) {
		if (parse_i64(s, n, &sec) || sec > INT64_MAX / 1000 || sec < INT64_MIN / 1000)
			return -1;
		*out = sec * 1000;
		return 0;
	}
	if (dot && !memchr(s, 'e', n) && !memchr(s, 'E', n)) {
		neg = n && s[0] == '-';
		if (dot == s + neg) {
			sec = 0;
		} else if (parse_i64(s, (size_t)(dot - s), &sec) || sec > INT64_MAX / 1000 - 1 ||
			   sec < INT64_MIN / 1000 + 1) {
			return -1;
		}
		flen = n - (size_t)(dot + 1 - s);
		if (!flen && dot == s + neg)
			return -1;
		for (i = 0; i < flen; i++) {
			unsigned d = (unsigned)(dot[1 + i] - '0');
			if (d > 9)
				return -1;
			if (i < 3)
				ms = ms * 10 + d;
		}
		for (i = flen; i < 3; i++)
			ms *= 10;
		*out = neg ? sec * 1000 - ms : sec * 1000 + ms;
		return 0;
	}
	{
		double v;

		if (obs_num_parse(s, n, &v) || !(v > -9.2e15 && v < 9.2e15))
			return -1;
		v *= 1000;
		*out = (int64_t)(v < 0 ? v - 0.5 : v + 0.5);
		return 0;
	}
}

int obs_p_ts_ms(const char *s, size_t n, int frac_secs, int64_t *out)
{
	if (frac_secs && (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n)))
		return obs_p_ts_secs(s, n, out);
	return parse_i64(s, n, out);
}

/* Format of one trimmed, non-comment line (the rule is in parse.h). */
static enum obs_fmt detect(const char *p, const char *e)
{
	const char *q = p;
	int dot = 0;

	for (;;) {
		while (q < e && !pc_is((unsigned char)*q, PC_DET))
			q++;
		if (q == e)
			return dot ? OBS_FMT_GRAPHITE : OBS_FMT_PROM;
		switch (*q) {
		case '{':
			return OBS_FMT_PROM;
		case ',':
		case '\\':
			return OBS_FMT_INFLUX;
		case ';':
			return OBS_FMT_GRAPHITE;
		case '.':
			dot = 1;
			break;
		case ':': {
			const char *r = q + 1;

			while (r < e && *r != '|' && *r != ' ' && *r != '\t' && *r != '{')
				r++;
			if (r < e && *r == '|')
				return OBS_FMT_STATSD;
			break;
		}
		default: /* space or tab: look at the second token */
			q = pc_skip_space(q, e);
			while (q < e && *q != ' ' && *q != '\t') {
				if (*q == '=')
					return OBS_FMT_INFLUX;
				q++;
			}
			return dot ? OBS_FMT_GRAPHITE : OBS_FMT_PROM;
		}
		q++;
	}
}

long obs_parse_lines(const char *buf, size_t n, enum obs_fmt fmt, size_t first_lineno,
		     const struct obs_parse_cb *cb)
{
	struct obs_pctx c;
	const char *p = buf, *end = buf + n;
	size_t lineno = first_lineno;
	long rejected = 0;

	c.cb = cb;
	c.scratch = NULL;
	c.cap = 0;
	c.why = NULL;
	c.stopval = 0;
	c.s.key = NULL;
	c.s.keylen = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *ls = p;
		enum obs_fmt f;
		int r;

		p = nl ? nl + 1 : end;
		while (ls < le && (*ls == ' ' || *ls == '\t'))
			ls++;
		while (le > ls && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
			le--;
		if (ls == le) {
			lineno++;
			continue;
		}
		if (*ls == '#') {
			if (fmt == OBS_FMT_AUTO || fmt == OBS_FMT_PROM)
				obs_p_prom_comment(&c, ls, le);
			lineno++;
			continue;
		}
		f = fmt == OBS_FMT_AUTO ? detect(ls, le) : fmt;
		switch (f) {
		case OBS_FMT_INFLUX:
			r = obs_p_influx(&c, ls, le);
			break;
		case OBS_FMT_GRAPHITE:
			r = obs_p_graphite(&c, ls, le);
			break;
		case OBS_FMT_STATSD:
			r = obs_p_statsd(&c, ls, le);
			break;
		default:
			r = obs_p_prom(&c, ls, le);
			break;
		}
		if (r == PL_ERR) {
			rejected++;
			if (cb->error)
				cb->error(cb->ctx, lineno, ls, (size_t)(le - ls), c.why);
		} else if (r == PL_STOP) {
			free(c.scratch);
			return c.stopval;
		}
		lineno++;
	}
	free(c.scratch);
	return rejected;
}

int obs_parse_value_line(const char *s, size_t n, int64_t *ts_ms, double *v, const char **why)
{
	const char *p = s, *e = s + n, *vs;
	int64_t ts = OBS_TS_NONE;
	double val;

	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	if (p == e) {
		if (why)
			*why = "missing value";
		return -EINVAL;
	}
	/* The value is the last token; everything before it is the time (an
	 * RFC3339 time may itself contain a space). */
	vs = e;
	while (vs > p && vs[-1] != ' ' && vs[-1] != '\t')
		vs--;
	if (obs_num_parse(vs, (size_t)(e - vs), &val)) {
		if (why)
			*why = "invalid value";
		return -EINVAL;
	}
	if (vs > p) {
		const char *te = vs;

		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if (obs_time_parse(p, (size_t)(te - p), &ts)) {
			if (why)
				*why = "invalid time";
			return -EINVAL;
		}
	}
	*ts_ms = ts;
	*v = val;
	return 0;
}
