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
#include "core/vec.h"
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
	return OBS_VEC_RESERVE_FROM(c->scratch, c->cap, need, 4096);
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

static inline enum obs_fmt detect(const char *p, const char *e);

int obs_p_ts(const char *s, size_t n, int shift, int intonly, int64_t *out)
{
	static const uint64_t p10[20] = {
		1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
		100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
		10000000000000ULL, 100000000000000ULL, 1000000000000000ULL,
		10000000000000000ULL, 100000000000000000ULL, 1000000000000000000ULL,
		10000000000000000000ULL,
	};
	const char *p = s, *e = s + n;
	uint64_t m = 0, q;
	int64_t ex = 0, t;
	int neg = 0, nd = 0, tail = 0, rem;

	if (p < e && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	/* the common case: up to 17 digits, no fraction, no exponent */
	for (; p < e && nd < 17; p++, nd++) {
		unsigned d = (unsigned)(*p - '0');

		if (d > 9)
			break;
		m = m * 10 + d;
	}
	if (p == e && nd && !shift) {
		if (neg ? -(int64_t)m < OBS_TIME_VALID_MIN : (int64_t)m > OBS_TIME_VALID_MAX)
			return -2;
		*out = neg ? -(int64_t)m : (int64_t)m;
		return 0;
	}
	for (; p < e && (unsigned)(*p - '0') <= 9; p++, nd++) {
		if (m < UINT64_C(100000000000000000))
			m = m * 10 + (unsigned)(*p - '0');
		else {
			ex++;
			tail |= *p != '0';
		}
	}
	if (p < e && *p == '.' && !intonly) {
		for (p++; p < e && (unsigned)(*p - '0') <= 9; p++, nd++) {
			if (m < UINT64_C(100000000000000000)) {
				m = m * 10 + (unsigned)(*p - '0');
				ex--;
			} else {
				tail |= *p != '0';
			}
		}
	}
	if (!nd)
		return -1;
	if (p < e && (*p == 'e' || *p == 'E') && !intonly) {
		int eneg = 0, ed = 0;
		int64_t ev = 0;

		p++;
		if (p < e && (*p == '-' || *p == '+'))
			eneg = *p++ == '-';
		for (; p < e && (unsigned)(*p - '0') <= 9; p++, ed++)
			if (ev < 100000)
				ev = ev * 10 + (*p - '0');
		if (!ed)
			return -1;
		ex += eneg ? -ev : ev;
	}
	if (p != e)
		return -1;
	ex += shift;
	if (!m) {
		q = 0;
		rem = 0;
	} else if (ex >= 0) {
		if (ex > 19 || __builtin_mul_overflow(m, p10[ex], &q))
			return -2;
		rem = 0;
	} else if (ex < -19) {
		q = 0;
		rem = 1;
	} else {
		q = m / p10[-ex];
		rem = m % p10[-ex] != 0;
	}
	if (q > (uint64_t)INT64_MAX)
		return -2;
	/* floor: a negative time with a dropped fraction goes one unit down */
	t = neg ? -(int64_t)q - ((rem || tail) ? 1 : 0) : (int64_t)q;
	if (!obs_time_valid(t))
		return -2;
	*out = t;
	return 0;
}

/* Is the OpenMetrics exemplar candidate at line [ls, le) a real one? */
static int line_has_exemplar(struct obs_pctx *c, const char *ls, const char *le)
{
	int r;

	c->probe = 1;
	c->s.exemplar = 0;
	r = obs_p_prom(c, ls, le);
	c->probe = 0;
	return r == PL_OK && c->s.exemplar > 0;
}

/* `# TYPE foo counter` ([nm, ne) holds " foo ") whose next sample line is
 * foo_total...: the OpenMetrics counter family (Prometheus text names the
 * counter foo_total in its # TYPE line). from is the end of the TYPE line. */
static int counter_family(const char *nm, const char *ne, const char *from, const char *e)
{
	const char *n = pc_skip_space(nm, ne), *q;
	size_t len;

	while (ne > n && (ne[-1] == ' ' || ne[-1] == '\t'))
		ne--;
	len = (size_t)(ne - n);
	if (!len || (len > 6 && !memcmp(ne - 6, "_total", 6)))
		return 0;
	for (q = from; q < e;) {
		const char *ls = pc_skip_space(q + (*q == '\n'), e), *nl;

		if (ls == e)
			return 0;
		nl = memchr(ls, '\n', (size_t)(e - ls));
		if (*ls != '#' && *ls != '\n' && *ls != '\r')
			return (size_t)(e - ls) > len + 6 && !memcmp(ls, n, len) && !memcmp(ls + len, "_total", 6) &&
			       (ls[len + 6] == ' ' || ls[len + 6] == '\t' || ls[len + 6] == '{');
		if (!nl)
			return 0;
		q = nl;
	}
	return 0;
}

/* The OpenMetrics rule (see parse.h): does buf hold a marker? */
static int is_openmetrics(struct obs_pctx *c, const char *buf, size_t n)
{
	const char *p = buf, *e = buf + n, *h;
	int comments = 0;

	while ((h = memchr(p, '#', (size_t)(e - p)))) {
		const char *ls = h, *le = memchr(h, '\n', (size_t)(e - h));

		if (!le)
			le = e;
		while (ls > buf && (ls[-1] == ' ' || ls[-1] == '\t'))
			ls--;
		if (ls == buf || ls[-1] == '\n') {
			/* a comment line: # EOF, # UNIT, # TYPE of an OpenMetrics-only type */
			comments = 1;
			const char *w = pc_skip_space(h + 1, le), *we = le;

			while (we > w && (we[-1] == '\r' || we[-1] == ' ' || we[-1] == '\t'))
				we--;
			if (we - w == 3 && !memcmp(w, "EOF", 3))
				return 1;
			if (we - w > 5 && !memcmp(w, "UNIT", 4) && (w[4] == ' ' || w[4] == '\t'))
				return 1;
			if (we - w > 5 && !memcmp(w, "TYPE", 4) && (w[4] == ' ' || w[4] == '\t')) {
				const char *t = we;

				while (t > w && t[-1] != ' ' && t[-1] != '\t')
					t--;
				if ((we - t == 4 && !memcmp(t, "info", 4)) ||
				    (we - t == 8 && !memcmp(t, "stateset", 8)) ||
				    (we - t == 14 && !memcmp(t, "gaugehistogram", 14)) ||
				    (we - t == 7 && !memcmp(t, "unknown", 7)))
					return 1;
				if (we - t == 7 && !memcmp(t, "counter", 7) && counter_family(w + 4, t, le, e))
					return 1;
			}
		} else if (h + 2 < le && h[1] == ' ' && h[2] == '{' && (h[-1] == ' ' || h[-1] == '\t')) {
			/* an exemplar, if the line really is a sample followed by one */
			const char *a = h;

			while (a > buf && a[-1] != '\n')
				a--;
			a = pc_skip_space(a, le);
			while (le > a && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
				le--;
			if (detect(a, le) == OBS_FMT_PROM && line_has_exemplar(c, a, le))
				return 1;
		}
		p = h + 1;
	}
	/* a sample named *_created (the first token of a line); looked for only
	 * in a write with comments, as every exposition has (# TYPE, # EOF), so
	 * bulk sample writes pay one memchr, not a memmem */
	if (!comments)
		return 0;
	p = buf;
	while ((h = memmem(p, (size_t)(e - p), "_created", 8))) {
		const char *a = h, *z = h + 8;

		while (a > buf && pc_is((unsigned char)a[-1], PC_NAME))
			a--;
		if (a < h && pc_is((unsigned char)*a, PC_NAME0) && z < e &&
		    (*z == '{' || *z == ' ' || *z == '\t')) {
			const char *ls = a;

			while (ls > buf && (ls[-1] == ' ' || ls[-1] == '\t'))
				ls--;
			if (ls == buf || ls[-1] == '\n')
				return 1;
		}
		p = h + 8;
	}
	return 0;
}

/* Format of one trimmed, non-comment line (the rule is in parse.h). */
static inline __attribute__((always_inline)) enum obs_fmt detect(const char *p, const char *e)
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
	c.probe = 0;
	c.om = 0;   /* read by the exemplar probe inside is_openmetrics */
	c.om = (fmt == OBS_FMT_AUTO || fmt == OBS_FMT_PROM) && is_openmetrics(&c, buf, n);

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
		c.s.exemplar = 0;   /* only Prometheus lines carry one */
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
	if (obs_num_parse_sample(vs, (size_t)(e - vs), &val)) {
		if (why)
			*why = "invalid value";
		return -EINVAL;
	}
	if (vs > p) {
		const char *te = vs;

		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		int r = obs_time_parse(p, (size_t)(te - p), &ts);

		if (r) {
			if (why)
				*why = r == -ERANGE ? "time out of range" : "invalid time";
			return -EINVAL;
		}
	}
	*ts_ms = ts;
	*v = val;
	return 0;
}
