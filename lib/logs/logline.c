/* logline.c — time and field extraction from one log line (see logline.h).
 * Hot path of ingest: every function is a single forward pass, no allocation. */
#include "logs/logline.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int dig(const char *p, int k, int *out)
{
	int v = 0;
	for (int i = 0; i < k; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 1;
}

static int64_t civil_ms(int y, int mo, int d, int h, int mi, int s)
{
	return ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
}

size_t obs_logline_rfc3339(const char *p, size_t n, int64_t *out_ms)
{
	int y, mo, d, h, mi, s;
	if (n < 19 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != ' ' && p[10] != 't') ||
	    p[13] != ':' || p[16] != ':')
		return 0;
	if (!dig(p, 4, &y) || !dig(p + 5, 2, &mo) || !dig(p + 8, 2, &d) || !dig(p + 11, 2, &h) ||
	    !dig(p + 14, 2, &mi) || !dig(p + 17, 2, &s))
		return 0;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return 0;
	size_t i = 19;
	int64_t frac = 0;
	if (i < n && (p[i] == '.' || p[i] == ',')) {
		i++;
		int k = 0;
		while (i < n && p[i] >= '0' && p[i] <= '9') {
			if (k < 3)
				frac = frac * 10 + (p[i] - '0');
			k++;
			i++;
		}
		if (k == 0)
			return 0;
		for (; k < 3; k++)
			frac *= 10;
	}
	int64_t off = 0;
	if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
		i++;
	} else if (i + 6 <= n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
		int oh, om;
		if (!dig(p + i + 1, 2, &oh) || !dig(p + i + 4, 2, &om))
			return 0;
		off = (oh * 60 + om) * 60000LL;
		if (p[i] == '-')
			off = -off;
		i += 6;
	} else if (i + 5 <= n && (p[i] == '+' || p[i] == '-')) {
		int oh, om;
		if (!dig(p + i + 1, 2, &oh) || !dig(p + i + 3, 2, &om))
			return 0;
		off = (oh * 60 + om) * 60000LL;
		if (p[i] == '-')
			off = -off;
		i += 5;
	}
	*out_ms = civil_ms(y, mo, d, h, mi, s) + frac - off;
	return i;
}

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static int month_of(const char *p)
{
	for (int i = 0; i < 12; i++)
		if (p[0] == months[3 * i] && p[1] == months[3 * i + 1] && p[2] == months[3 * i + 2])
			return i + 1;
	return 0;
}

/* "Nov 21 10:00:00" or "Nov  1 10:00:00" */
static int syslog_time(const char *p, size_t n, int64_t now_ms, int64_t *out)
{
	int mo, d, h, mi, s;
	if (n < 15 || p[3] != ' ' || p[9] != ':' || p[12] != ':' || !(mo = month_of(p)))
		return 0;
	if (p[4] == ' ') {
		if (!dig(p + 5, 1, &d))
			return 0;
	} else if (!dig(p + 4, 2, &d)) {
		return 0;
	}
	if (!dig(p + 7, 2, &h) || !dig(p + 10, 2, &mi) || !dig(p + 13, 2, &s) || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || s > 60)
		return 0;
	/* year of now; a date more than a day in the future is last year's */
	int64_t days = now_ms / 86400000;
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153, m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	int64_t t = civil_ms((int)y, mo, d, h, mi, s);
	if (t > now_ms + 86400000)
		t = civil_ms((int)y - 1, mo, d, h, mi, s);
	*out = t;
	return 1;
}

/* "21/Nov/2026:04:46:16 +0000" after '[' */
static int clf_time(const char *p, size_t n, int64_t *out)
{
	int d, mo, y, h, mi, s, oh, om;
	if (n < 26 || p[2] != '/' || p[6] != '/' || p[11] != ':' || p[14] != ':' || p[17] != ':' || p[20] != ' ')
		return 0;
	if (!dig(p, 2, &d) || !(mo = month_of(p + 3)) || !dig(p + 7, 4, &y) || !dig(p + 12, 2, &h) ||
	    !dig(p + 15, 2, &mi) || !dig(p + 18, 2, &s) || (p[21] != '+' && p[21] != '-') ||
	    !dig(p + 22, 2, &oh) || !dig(p + 24, 2, &om))
		return 0;
	int64_t off = (oh * 60 + om) * 60000LL;
	if (p[21] == '-')
		off = -off;
	*out = civil_ms(y, mo, d, h, mi, s) - off;
	return 1;
}

/* a time value: RFC3339 or epoch seconds (fraction allowed) or epoch ms (13+ digits) */
static int value_time(const char *v, size_t n, int64_t *out)
{
	if (n >= 19 && obs_logline_rfc3339(v, n, out))
		return 1;
	size_t i = 0;
	int64_t ip = 0;
	int nd = 0;
	while (i < n && v[i] >= '0' && v[i] <= '9' && nd < 19) {
		ip = ip * 10 + (v[i++] - '0');
		nd++;
	}
	if (nd < 9)
		return 0;
	int64_t frac = 0;
	if (i < n && v[i] == '.') {
		int k = 0;
		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, k++)
			if (k < 3)
				frac = frac * 10 + (v[i] - '0');
		for (; k < 3; k++)
			frac *= 10;
	}
	if (i != n)
		return 0;
	*out = nd >= 13 ? ip : ip * 1000 + frac;
	return 1;
}

struct time_ctx {
	int64_t t;
	int found;
};

static int is_time_key(const char *k, size_t n)
{
	return (n == 2 && !memcmp(k, "ts", 2)) || (n == 4 && !memcmp(k, "time", 4)) ||
	       (n == 9 && !memcmp(k, "timestamp", 9)) || (n == 10 && !memcmp(k, "@timestamp", 10));
}

static int time_field_cb(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	struct time_ctx *c = ctx;
	if (is_time_key(k, kn) && value_time(v, vn, &c->t)) {
		c->found = 1;
		return 1;
	}
	return 0;
}

int obs_logline_time(const char *p, size_t n, int64_t now_ms, int64_t *out_ms)
{
	if (n >= 19 && p[0] >= '0' && p[0] <= '9' && obs_logline_rfc3339(p, n, out_ms))
		return 0;
	if (n >= 15 && p[0] >= 'A' && p[0] <= 'S' && syslog_time(p, n, now_ms, out_ms))
		return 0;
	if (n > 0 && p[0] == '{') {
		struct time_ctx c = { 0, 0 };
		obs_logline_fields(p, n, time_field_cb, &c, NULL);
		if (c.found) {
			*out_ms = c.t;
			return 0;
		}
		return -ENOENT;
	}
	size_t lim = n < 96 ? n : 96;
	const char *b = memchr(p, '[', lim);
	if (b && clf_time(b + 1, n - (size_t)(b + 1 - p), out_ms))
		return 0;
	/* logfmt ts= / time= */
	for (size_t i = 0; i + 3 < n; i++) {
		if ((i == 0 || p[i - 1] == ' ') &&
		    ((p[i] == 't' && p[i + 1] == 's' && p[i + 2] == '=') ||
		     (i + 5 < n && !memcmp(p + i, "time=", 5)))) {
			size_t j = i + (p[i + 1] == 's' ? 3 : 5), e;
			if (j < n && p[j] == '"') {
				j++;
				for (e = j; e < n && p[e] != '"'; e++)
					;
			} else {
				for (e = j; e < n && p[e] != ' '; e++)
					;
			}
			if (value_time(p + j, e - j, out_ms))
				return 0;
		}
	}
	return -ENOENT;
}

/* ---- fields ------------------------------------------------------------ */

static size_t skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	return i;
}

/* end of a JSON string starting after its opening quote: index of the closing quote */
static size_t json_str_end(const char *p, size_t i, size_t n)
{
	while (i < n && p[i] != '"')
		i += p[i] == '\\' ? 2 : 1;
	return i < n ? i : n;
}

/* skip a JSON value (object/array/scalar) starting at i; returns index after it */
static size_t json_skip(const char *p, size_t i, size_t n)
{
	int depth = 0;
	while (i < n) {
		char c = p[i];
		if (c == '"') {
			i = json_str_end(p, i + 1, n) + 1;
			if (!depth)
				return i;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (!depth)
				return i;
			if (--depth == 0)
				return i + 1;
		} else if (!depth && (c == ',' || c == ' '))
			return i;
		i++;
	}
	return n;
}

static int json_fields(const char *p, size_t n, obs_logfield_fn fn, void *ctx)
{
	size_t i = 1;
	for (;;) {
		i = skip_ws(p, i, n);
		if (i >= n || p[i] != '"')
			return 0;
		size_t ks = i + 1, ke = json_str_end(p, ks, n);
		i = skip_ws(p, ke + 1, n);
		if (i >= n || p[i] != ':')
			return 0;
		i = skip_ws(p, i + 1, n);
		if (i >= n)
			return 0;
		size_t vs, ve;
		if (p[i] == '"') {
			vs = i + 1;
			ve = json_str_end(p, vs, n);
			i = ve + 1;
		} else if (p[i] == '{' || p[i] == '[') {
			vs = i;
			i = json_skip(p, i, n);
			ve = vs; /* nested values are not fields */
		} else {
			vs = i;
			while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ' ')
				i++;
			ve = i;
		}
		if (ke > ks && (ve > vs || p[vs - 1] == '"')) {
			int r = fn(ctx, p + ks, ke - ks, p + vs, ve - vs);
			if (r)
				return r;
		}
		i = skip_ws(p, i, n);
		if (i >= n || p[i] != ',')
			return 0;
		i++;
	}
}

static int is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '.' || c == '-' || c == '@' || c == '/';
}

/* logfmt: returns number of pairs seen (walks only when fn != NULL) */
static int logfmt_fields(const char *p, size_t n, obs_logfield_fn fn, void *ctx, int *ret)
{
	size_t i = 0;
	int pairs = 0;
	while (i < n) {
		i = skip_ws(p, i, n);
		size_t ks = i;
		while (i < n && is_key_char(p[i]))
			i++;
		if (i < n && p[i] == '=' && i > ks) {
			size_t ke = i++, vs, ve;
			if (i < n && p[i] == '"') {
				vs = ++i;
				while (i < n && p[i] != '"')
					i += p[i] == '\\' ? 2 : 1;
				ve = i < n ? i : n;
				i = ve + 1;
			} else {
				vs = i;
				while (i < n && p[i] != ' ' && p[i] != '\t')
					i++;
				ve = i;
			}
			pairs++;
			if (fn) {
				int r = fn(ctx, p + ks, ke - ks, p + vs, ve - vs);
				if (r) {
					*ret = r;
					return pairs;
				}
			}
		} else {
			while (i < n && p[i] != ' ' && p[i] != '\t')
				i++;
		}
	}
	return pairs;
}

/* nginx/apache combined: IP - USER [TIME] "M PATH PROTO" STATUS BYTES "REF" "UA" */
static int nginx_fields(const char *p, size_t n, obs_logfield_fn fn, void *ctx, int *matched)
{
	*matched = 0;
	const char *sp = memchr(p, ' ', n < 64 ? n : 64);
	if (!sp || sp == p)
		return 0;
	size_t ipn = (size_t)(sp - p);
	const char *lb = memchr(sp, '[', n - ipn);
	if (!lb || lb - sp > 80)
		return 0;
	const char *rb = memchr(lb, ']', n - (size_t)(lb - p));
	if (!rb || rb - lb > 40 || (size_t)(rb - p) + 3 >= n || rb[1] != ' ' || rb[2] != '"')
		return 0;
	/* user: between "IP - " and " [" */
	const char *us = sp + 1, *ue = lb - 1;
	if (us < ue && us[0] == '-' && us[1] == ' ')
		us += 2;
	const char *q = rb + 3, *end = p + n;
	const char *qe = q;
	while (qe < end && *qe != '"')
		qe += *qe == '\\' ? 2 : 1;
	if (qe >= end)
		return 0;
	const char *m = q, *me = memchr(q, ' ', (size_t)(qe - q));
	const char *path = NULL, *pe = NULL, *proto = NULL, *pre = NULL;
	if (me) {
		path = me + 1;
		pe = memchr(path, ' ', (size_t)(qe - path));
		if (pe) {
			proto = pe + 1;
			pre = qe;
		} else {
			pe = qe;
		}
	} else {
		me = qe;
	}
	const char *st = qe + 1;
	if (st >= end || *st != ' ')
		return 0;
	st++;
	const char *ste = st;
	while (ste < end && *ste >= '0' && *ste <= '9')
		ste++;
	if (ste - st != 3)
		return 0;
	*matched = 1;
	int r;
#define EMIT(K, V, VE) \
	if ((r = fn(ctx, K, sizeof(K) - 1, V, (size_t)((VE) - (V))))) return r
	EMIT("ip", p, sp);
	if (us < ue)
		EMIT("user", us, ue);
	EMIT("method", m, me);
	if (path)
		EMIT("path", path, pe);
	if (proto)
		EMIT("proto", proto, pre);
	EMIT("status", st, ste);
	const char *b = ste;
	if (b < end && *b == ' ') {
		b++;
		const char *be = b;
		while (be < end && *be != ' ')
			be++;
		EMIT("bytes", b, be);
		if (be + 2 < end && be[1] == '"') {
			const char *rs = be + 2, *re = rs;
			while (re < end && *re != '"')
				re += *re == '\\' ? 2 : 1;
			if (re < end) {
				EMIT("referer", rs, re);
				if (re + 2 < end && re[1] == ' ' && re[2] == '"') {
					const char *as = re + 3, *ae = as;
					while (ae < end && *ae != '"')
						ae += *ae == '\\' ? 2 : 1;
					if (ae <= end)
						EMIT("agent", as, ae < end ? ae : end);
				}
			}
		}
	}
#undef EMIT
	return 0;
}

int obs_loglevel_rank(const char *v, size_t n)
{
	static const struct { const char *w; int r; } lv[] = {
		{ "trace", 0 }, { "debug", 1 }, { "dbug", 1 }, { "info", 2 }, { "information", 2 },
		{ "notice", 3 }, { "warn", 4 }, { "warning", 4 }, { "error", 5 }, { "err", 5 },
		{ "eror", 5 }, { "critical", 6 }, { "crit", 6 }, { "fatal", 6 }, { "panic", 6 },
		{ "alert", 6 }, { "emerg", 6 }, { "emergency", 6 },
	};
	if (n == 1) {
		switch (v[0] | 0x20) {
		case 't': return 0;
		case 'd': return 1;
		case 'i': return 2;
		case 'w': return 4;
		case 'e': return 5;
		case 'f': case 'c': return 6;
		}
		return -1;
	}
	for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++)
		if (strlen(lv[i].w) == n && !strncasecmp(lv[i].w, v, n))
			return lv[i].r;
	return -1;
}

const char *obs_loglevel_name(int rank)
{
	static const char *const names[] = { "trace", "debug", "info", "notice", "warn", "error", "fatal" };
	return rank >= 0 && rank <= 6 ? names[rank] : NULL;
}

int obs_logfield_is_level(const char *k, size_t n)
{
	return (n == 5 && !memcmp(k, "level", 5)) || (n == 3 && !memcmp(k, "lvl", 3)) ||
	       (n == 8 && !memcmp(k, "severity", 8)) || (n == 8 && !memcmp(k, "loglevel", 8)) ||
	       (n == 9 && !memcmp(k, "log.level", 9)) || (n == 5 && !memcmp(k, "Level", 5));
}

/* plain text: a level word among the first 4 tokens (all caps, or in [brackets]) */
static int plain_level(const char *p, size_t n, obs_logfield_fn fn, void *ctx)
{
	size_t i = 0;
	for (int tok = 0; tok < 4 && i < n; tok++) {
		i = skip_ws(p, i, n);
		size_t s = i;
		while (i < n && p[i] != ' ' && p[i] != '\t')
			i++;
		size_t ws = s, we = i;
		int br = 0;
		if (we > ws && (p[ws] == '[' || p[ws] == '<')) {
			ws++;
			br = 1;
		}
		while (we > ws && (p[we - 1] == ']' || p[we - 1] == ':' || p[we - 1] == '>' || p[we - 1] == ','))
			we--;
		if (we - ws < 3)
			continue;
		int caps = 1;
		for (size_t k = ws; k < we; k++)
			if (p[k] < 'A' || p[k] > 'Z')
				caps = 0;
		if ((caps || br) && obs_loglevel_rank(p + ws, we - ws) >= 0)
			return fn(ctx, "level", 5, p + ws, we - ws);
	}
	return 0;
}

struct lvl_watch {
	obs_logfield_fn fn;
	void *ctx;
	int seen;
};

static int lvl_watch_cb(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	struct lvl_watch *w = ctx;
	if (obs_logfield_is_level(k, kn))
		w->seen = 1;
	return w->fn(w->ctx, k, kn, v, vn);
}

/* Plain text still carries correlation ids as one key=value token ("payment
 * failed trace_id=4bf9..."): those keys are fields, the other pairs of a
 * line that is not logfmt are not. */
static int correlation_cb(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	struct lvl_watch *w = ctx;
	if ((kn == 8 && !memcmp(k, "trace_id", 8)) || (kn == 7 && !memcmp(k, "span_id", 7)))
		return w->fn(w->ctx, k, kn, v, vn);
	return 0;
}

static int plain_fields(const char *p, size_t n, int pairs, obs_logfield_fn fn, void *ctx)
{
	int r = plain_level(p, n, fn, ctx);
	if (!r && pairs) {
		struct lvl_watch w = { fn, ctx, 0 };
		logfmt_fields(p, n, correlation_cb, &w, &r);
	}
	return r;
}

int obs_logline_fields(const char *p, size_t n, obs_logfield_fn fn, void *ctx, enum obs_logline_fmt *fmt)
{
	if (fmt)
		*fmt = OBS_LOGLINE_PLAIN;
	if (n == 0)
		return 0;
	if (p[0] == '{') {
		if (fmt)
			*fmt = OBS_LOGLINE_JSON;
		return json_fields(p, n, fn, ctx);
	}
	int matched, r;
	if ((p[0] >= '0' && p[0] <= '9') || p[0] == ':' || (p[0] >= 'a' && p[0] <= 'f') || (p[0] >= 'A' && p[0] <= 'F')) {
		r = nginx_fields(p, n, fn, ctx, &matched);
		if (matched) {
			if (fmt)
				*fmt = OBS_LOGLINE_NGINX;
			return r;
		}
	}
	/* logfmt when the first token is a pair or at least two pairs exist */
	size_t i = 0;
	while (i < n && is_key_char(p[i]))
		i++;
	int first_pair = i > 0 && i < n && p[i] == '=';
	int pairs = first_pair ? 2 : logfmt_fields(p, n, NULL, NULL, &r);
	if (pairs >= 2) {
		if (fmt)
			*fmt = OBS_LOGLINE_LOGFMT;
		struct lvl_watch w = { fn, ctx, 0 };
		r = 0;
		logfmt_fields(p, n, lvl_watch_cb, &w, &r);
		if (r || w.seen)
			return r;
		return plain_level(p, n, fn, ctx); /* "INFO msg k=v": the level is a word */
	}
	return plain_fields(p, n, pairs, fn, ctx);
}
