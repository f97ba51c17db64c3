/* template_fn.c — the functions of alert templates: Go's builtins (and, or,
 * not, comparisons, len, index, print/printf/println, escapers) and
 * Prometheus' (humanize*, query and its helpers, string helpers). printf
 * follows Go's fmt verbs, including its "%!d(float64=1.5)" complaints
 * (template_printf.c). */
#include "alert/template_int.h"
#include "core/num.h"
#include "core/obstime.h"
#include "core/regex.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* qsort without the undefined behaviour of a NULL base for 0 items */
static void obs_qsort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, sz, cmp);
}

static const char *const fnames[] = {
	"and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "print", "printf", "println",
	"urlquery", "html", "js", "humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
	"humanizeTimestamp", "toUpper", "toLower", "title", "match", "reReplaceAll", "stripPort", "stripDomain",
	"parseDuration", "query", "first", "label", "value", "strvalue", "sortByLabel", "safeHtml", "externalURL",
	"pathPrefix",
};

int tfn_known(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof fnames / sizeof fnames[0]; i++)
		if (strlen(fnames[i]) == n && !memcmp(fnames[i], name, n))
			return 1;
	return 0;
}

static int res_str(struct texec *x, struct tv *res, const char *s, size_t n)
{
	char *p = tx_strdup(x, s, n);
	if (!p)
		return -ENOMEM;
	*res = (struct tv){ .k = TV_STR, .s = p, .slen = n };
	return 0;
}

static int res_buf(struct texec *x, struct tv *res, struct obs_buf *b)
{
	int r = res_str(x, res, b->data ? b->data : "", b->len);
	obs_buf_release(b);
	return r;
}

static int nargs_is(struct texec *x, const char *fn, size_t n, size_t want)
{
	if (n != want)
		return tx_fail(x, "wrong number of args for %s: want %zu got %zu", fn, want, n);
	return 0;
}

static int want_str(struct texec *x, const struct tv *v)
{
	if (v->k == TV_STR)
		return 0;
	if (v->k == TV_NIL)
		return tx_fail(x, "invalid value; expected string");
	return tx_fail(x, "wrong type for value; expected string; got %s", tv_type(v));
}

/* Prometheus' convertToFloat */
static int to_float(struct texec *x, const char *fn, const struct tv *v, double *f)
{
	switch (v->k) {
	case TV_FLOAT: *f = v->f; return 0;
	case TV_INT: *f = (double)v->i; return 0;
	case TV_STR:
		if (obs_num_parse(v->s, v->slen, f) < 0)
			return tx_fail(x, "error calling %s: strconv.ParseFloat: parsing \"%.*s\": invalid syntax", fn,
				       (int)v->slen, v->s);
		return 0;
	case TV_NIL:
		return tx_fail(x, "error calling %s: can't convert <nil> to float", fn);
	default:
		return tx_fail(x, "error calling %s: can't convert %s to float", fn, tv_type(v));
	}
}

/* Go's %.4g (C's matches, but Inf/NaN are spelled Go's way) */
static int g4(struct obs_buf *b, double v, const char *suffix)
{
	if (isnan(v))
		return obs_buf_printf(b, "NaN%s", suffix);
	if (isinf(v))
		return obs_buf_printf(b, "%s%s", v > 0 ? "+Inf" : "-Inf", suffix);
	char t[64];
	snprintf(t, sizeof t, "%.4g", v);
	/* C prints e+06 like Go; Go prints "1e+06" for %.4g too */
	return obs_buf_printf(b, "%s%s", t, suffix);
}

static int humanize(double v, int base1024, struct obs_buf *b)
{
	static const char *big[] = { "k", "M", "G", "T", "P", "E", "Z", "Y" };
	static const char *bigi[] = { "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi" };
	static const char *small[] = { "m", "u", "n", "p", "f", "a", "z", "y" };
	const char *prefix = "";
	if (base1024) {
		if (fabs(v) <= 1 || isnan(v) || isinf(v))
			return g4(b, v, "");
		for (int i = 0; i < 8 && fabs(v) >= 1024; i++) {
			prefix = bigi[i];
			v /= 1024;
		}
		return g4(b, v, prefix);
	}
	if (v == 0 || isnan(v) || isinf(v))
		return g4(b, v, "");
	if (fabs(v) >= 1) {
		for (int i = 0; i < 8 && fabs(v) >= 1000; i++) {
			prefix = big[i];
			v /= 1000;
		}
		return g4(b, v, prefix);
	}
	for (int i = 0; i < 8 && fabs(v) < 1; i++) {
		prefix = small[i];
		v *= 1000;
	}
	return g4(b, v, prefix);
}

static int humanize_duration(double v, struct obs_buf *b)
{
	if (isnan(v) || isinf(v))
		return g4(b, v, "");
	if (v == 0)
		return g4(b, v, "s");
	if (fabs(v) >= 1) {
		const char *sign = "";
		if (v < 0) {
			sign = "-";
			v = -v;
		}
		int64_t d = (int64_t)v;
		int64_t s = d % 60, m = (d / 60) % 60, h = (d / 3600) % 24, days = d / 86400;
		if (days)
			return obs_buf_printf(b, "%s%lldd %lldh %lldm %llds", sign, (long long)days, (long long)h,
					      (long long)m, (long long)s);
		if (h)
			return obs_buf_printf(b, "%s%lldh %lldm %llds", sign, (long long)h, (long long)m, (long long)s);
		if (m)
			return obs_buf_printf(b, "%s%lldm %llds", sign, (long long)m, (long long)s);
		char t[64];
		snprintf(t, sizeof t, "%.4g", v);
		return obs_buf_printf(b, "%s%ss", sign, t);
	}
	static const char *small[] = { "m", "u", "n", "p", "f", "a", "z", "y" };
	const char *prefix = "";
	for (int i = 0; i < 8 && fabs(v) < 1; i++) {
		prefix = small[i];
		v *= 1000;
	}
	char t[64];
	snprintf(t, sizeof t, "%.4g", v);
	return obs_buf_printf(b, "%s%ss", t, prefix);
}

/* Go's time.Time.String() in UTC: "2006-01-02 15:04:05.999999999 +0000 UTC" */
static int humanize_ts(double v, struct obs_buf *b)
{
	if (isnan(v) || isinf(v))
		return g4(b, v, "");
	double ns = v * 1e9;
	if (ns > 9.2e18 || ns < -9.2e18)
		return -ERANGE;
	int64_t ms = (int64_t)ns / 1000000;   /* model.TimeFromUnixNano: ms precision */
	int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	int frac = (int)(ms - sec * 1000);
	time_t tt = (time_t)sec;
	struct tm tm;
	gmtime_r(&tt, &tm);
	char t[64];
	strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S", &tm);
	if (frac) {
		char f[8];
		snprintf(f, sizeof f, ".%03d", frac);
		size_t l = strlen(f);
		while (f[l - 1] == '0')
			f[--l] = 0;
		return obs_buf_printf(b, "%s%s +0000 UTC", t, f);
	}
	return obs_buf_printf(b, "%s +0000 UTC", t);
}

/* ---- comparisons (Go's eq/lt with basic kinds) ---- */

enum bk { BK_BAD, BK_BOOL, BK_INT, BK_FLOAT, BK_STR };

static enum bk kind(const struct tv *v)
{
	switch (v->k) {
	case TV_BOOL: return BK_BOOL;
	case TV_INT: return BK_INT;
	case TV_FLOAT: return BK_FLOAT;
	case TV_STR: return BK_STR;
	default: return BK_BAD;
	}
}

/* -2 error, else <0, 0, >0; *eq_only for bools */
static int cmp(struct texec *x, const struct tv *a, const struct tv *b, int ordered, int *out)
{
	enum bk ka = kind(a), kb = kind(b);
	if (ka == BK_BAD || kb == BK_BAD)
		return tx_fail(x, "error calling %s: invalid type for comparison", ordered ? "lt" : "eq");
	if (ka != kb)
		return tx_fail(x, "error calling %s: incompatible types for comparison", ordered ? "lt" : "eq");
	switch (ka) {
	case BK_BOOL:
		if (ordered)
			return tx_fail(x, "error calling lt: invalid type for comparison");
		*out = a->b != b->b;
		return 0;
	case BK_INT: *out = a->i < b->i ? -1 : a->i > b->i; return 0;
	case BK_FLOAT: *out = a->f < b->f ? -1 : a->f > b->f ? 1 : (a->f == b->f ? 0 : 2); return 0;
	default: {
		size_t n = a->slen < b->slen ? a->slen : b->slen;
		int c = memcmp(a->s, b->s, n);
		*out = c ? c : (a->slen < b->slen ? -1 : a->slen > b->slen);
		return 0;
	}
	}
}

/* ---- regular expressions (RE2 syntax is close enough to PCRE2's) ---- */

static pcre2_code *re_compile(struct texec *x, const char *fn, const struct tv *pat)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat->s, pat->slen, PCRE2_UTF, &ec, &eo, NULL);
	if (!re) {
		PCRE2_UCHAR m[200];
		pcre2_get_error_message(ec, m, sizeof m);
		tx_fail(x, "error calling %s: error parsing regexp: %s: `%.*s`", fn, (char *)m, (int)pat->slen, pat->s);
	}
	return re;
}

/* Go's $1 / ${1} / $name expansion is PCRE2's extended substitution */
static int re_replace(struct texec *x, const struct tv *pat, const struct tv *repl, const struct tv *text,
		      struct tv *res)
{
	pcre2_code *re = re_compile(x, "reReplaceAll", pat);
	if (!re)
		return -EINVAL;
	PCRE2_SIZE olen = text->slen * 2 + repl->slen * 4 + 64;
	for (int tries = 0; tries < 8; tries++) {
		PCRE2_UCHAR *o = tx_alloc(x, olen + 1);
		if (!o)
			break;
		PCRE2_SIZE l = olen;
		int rc = pcre2_substitute(re, (PCRE2_SPTR)text->s, text->slen, 0,
					  PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_UNSET_EMPTY |
						  PCRE2_SUBSTITUTE_UNKNOWN_UNSET | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH,
					  NULL, NULL, (PCRE2_SPTR)repl->s, repl->slen, o, &l);
		if (rc == PCRE2_ERROR_NOMEMORY) {
			olen = l + 1;
			continue;
		}
		pcre2_code_free(re);
		if (rc < 0) {
			/* an invalid replacement: Go keeps the text literally */
			*res = *text;
			return 0;
		}
		*res = (struct tv){ .k = TV_STR, .s = (const char *)o, .slen = l };
		return 0;
	}
	pcre2_code_free(re);
	return -ENOMEM;
}

/* ---- query ---- */

static int do_query(struct texec *x, const struct tv *q, struct tv *res)
{
	const struct obs_tmpl_data *d = tx_data(x);
	if (!d->store)
		return tx_fail(x, "error calling query: no store to query");
	struct obs_query_expr *e;
	char err[300];
	if (obs_query_parse(q->s, q->slen, &e, err, sizeof err) < 0)
		return tx_fail(x, "error calling query: %s", err);
	struct obs_query_opts o;
	if (d->qopts)
		o = *d->qopts;
	else
		obs_query_opts_default(&o);
	struct obs_query_result r;
	int rc = obs_query_instant(&o, d->store, e, d->now_ms, &r);
	obs_query_expr_free(e);
	if (rc < 0) {
		tx_fail(x, "error calling query: %s", r.err);
		obs_query_result_release(&r);
		return -EINVAL;
	}
	if (r.type != OBS_QV_VECTOR && r.type != OBS_QV_SCALAR) {
		obs_query_result_release(&r);
		return tx_fail(x, "error calling query: rule result is not a vector or scalar");
	}
	struct tsample *s = tx_alloc(x, (r.nseries ? r.nseries : 1) * sizeof *s);
	if (!s) {
		obs_query_result_release(&r);
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < r.nseries; i++) {
		if (!r.series[i].n)
			continue;
		/* the label set must live as long as the expansion: copy into the arena */
		struct obs_labels *l = &r.series[i].labels;
		size_t bytes = obs_labels_bytes(l);
		char *mem = tx_alloc(x, bytes ? bytes : 1);
		if (!mem) {
			obs_query_result_release(&r);
			return -ENOMEM;
		}
		obs_labels_copy_to(&s[k].labels, l, mem);
		s[k].v = r.series[i].v[r.series[i].n - 1];
		k++;
	}
	obs_query_result_release(&r);
	*res = (struct tv){ .k = TV_VEC, .samp = s, .nsamp = k };
	return 0;
}

static __thread const char *sort_label;
static int by_label(const void *a, const void *b)
{
	const char *x = obs_labels_get(&((const struct tsample *)a)->labels, sort_label);
	const char *y = obs_labels_get(&((const struct tsample *)b)->labels, sort_label);
	return strcmp(x ? x : "", y ? y : "");
}

static int want_sample(struct texec *x, const char *fn, const struct tv *v)
{
	if (v->k == TV_SAMPLE)
		return 0;
	return tx_fail(x, "wrong type for value; expected *template.sample; got %s", tv_type(v));
}

/* ---- dispatch ---- */

int tfn_call(struct texec *x, const char *fn, struct tv *a, size_t n, struct tv *res)
{
	struct obs_buf b;
	obs_buf_init(&b);
	double f;
	int c;
	if (!strcmp(fn, "and") || !strcmp(fn, "or")) {
		if (n < 1)
			return tx_fail(x, "wrong number of args for %s: want at least 1 got 0", fn);
		int is_and = fn[0] == 'a';
		for (size_t i = 0; i < n; i++)
			if (tv_truth(&a[i]) != is_and || i == n - 1) {
				*res = a[i];
				return 0;
			}
		return 0;
	}
	if (!strcmp(fn, "not")) {
		if (nargs_is(x, fn, n, 1))
			return -EINVAL;
		*res = (struct tv){ .k = TV_BOOL, .b = !tv_truth(&a[0]) };
		return 0;
	}
	if (!strcmp(fn, "eq")) {
		if (n < 2)
			return tx_fail(x, "wrong number of args for eq: want at least 2 got %zu", n);
		int any = 0;
		for (size_t i = 1; i < n; i++) {
			if (cmp(x, &a[0], &a[i], 0, &c) < 0)
				return -EINVAL;
			any |= c == 0;
		}
		*res = (struct tv){ .k = TV_BOOL, .b = any };
		return 0;
	}
	if (!strcmp(fn, "ne") || !strcmp(fn, "lt") || !strcmp(fn, "le") || !strcmp(fn, "gt") || !strcmp(fn, "ge")) {
		if (nargs_is(x, fn, n, 2))
			return -EINVAL;
		if (cmp(x, &a[0], &a[1], fn[0] != 'n', &c) < 0)
			return -EINVAL;
		int v;
		if (fn[0] == 'n')
			v = c != 0;
		else if (c == 2)
			v = 0;   /* NaN */
		else if (!strcmp(fn, "lt"))
			v = c < 0;
		else if (!strcmp(fn, "le"))
			v = c <= 0;
		else if (!strcmp(fn, "gt"))
			v = c > 0;
		else
			v = c >= 0;
		*res = (struct tv){ .k = TV_BOOL, .b = v };
		return 0;
	}
	if (!strcmp(fn, "len")) {
		if (nargs_is(x, fn, n, 1))
			return -EINVAL;
		int64_t l;
		if (a[0].k == TV_STR)
			l = (int64_t)a[0].slen;
		else if (a[0].k == TV_MAP)
			l = (int64_t)a[0].map->n;
		else if (a[0].k == TV_VEC)
			l = (int64_t)a[0].nsamp;
		else
			return tx_fail(x, "error calling len: len of type %s", tv_type(&a[0]));
		*res = (struct tv){ .k = TV_INT, .i = l };
		return 0;
	}
	if (!strcmp(fn, "index")) {
		if (n < 1)
			return tx_fail(x, "wrong number of args for index: want at least 1 got 0");
		struct tv v = a[0];
		for (size_t i = 1; i < n; i++) {
			if (v.k == TV_MAP && a[i].k == TV_STR) {
				char *k = tx_strdup(x, a[i].s, a[i].slen);
				if (!k)
					return -ENOMEM;
				const char *s = obs_labels_get(v.map, k);
				v = s ? (struct tv){ .k = TV_STR, .s = s, .slen = strlen(s) } : (struct tv){ .k = TV_STR, .s = "" };
			} else if (v.k == TV_VEC && a[i].k == TV_INT) {
				if (a[i].i < 0 || (size_t)a[i].i >= v.nsamp)
					return tx_fail(x, "error calling index: index out of range: %lld", (long long)a[i].i);
				v = (struct tv){ .k = TV_SAMPLE, .samp = &v.samp[a[i].i] };
			} else {
				return tx_fail(x, "error calling index: cannot index %s with %s", tv_type(&v), tv_type(&a[i]));
			}
		}
		*res = v;
		return 0;
	}
	if (!strcmp(fn, "print") || !strcmp(fn, "println")) {
		if (tfn_sprint(a, n, fn[5] == 'l', &b) < 0)
			return -ENOMEM;
		return res_buf(x, res, &b);
	}
	if (!strcmp(fn, "printf")) {
		if (n < 1)
			return tx_fail(x, "wrong number of args for printf: want at least 1 got 0");
		if (want_str(x, &a[0]))
			return -EINVAL;
		if (tfn_sprintf(a[0].s, a[0].slen, a + 1, n - 1, &b) < 0) {
			obs_buf_release(&b);
			return -ENOMEM;
		}
		return res_buf(x, res, &b);
	}
	if (!strcmp(fn, "urlquery") || !strcmp(fn, "html") || !strcmp(fn, "js")) {
		struct obs_buf t;
		obs_buf_init(&t);
		if (tfn_sprint(a, n, 0, &t) < 0)
			return -ENOMEM;
		int r = 0;
		for (size_t i = 0; i < t.len && !r; i++) {
			unsigned char ch = (unsigned char)t.data[i];
			if (fn[0] == 'u') {
				if (isalnum(ch) || strchr("-_.~", ch))
					r = obs_buf_putc(&b, (char)ch);
				else if (ch == ' ')
					r = obs_buf_putc(&b, '+');
				else
					r = obs_buf_printf(&b, "%%%02X", ch);
			} else if (fn[0] == 'h') {
				const char *e = ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" :
						ch == '"' ? "&#34;" : ch == '\'' ? "&#39;" : NULL;
				r = e ? obs_buf_puts(&b, e) : obs_buf_putc(&b, (char)ch);
			} else {
				const char *e = ch == '\\' ? "\\\\" : ch == '\'' ? "\\'" : ch == '"' ? "\\\"" :
						ch == '<' ? "\\u003C" : ch == '>' ? "\\u003E" : ch == '&' ? "\\u0026" :
						ch == '=' ? "\\u003D" : ch == '\n' ? "\\n" : NULL;
				r = e ? obs_buf_puts(&b, e) : obs_buf_putc(&b, (char)ch);
			}
		}
		obs_buf_release(&t);
		if (r)
			return -ENOMEM;
		return res_buf(x, res, &b);
	}
	if (!strncmp(fn, "humanize", 8)) {
		if (nargs_is(x, fn, n, 1) || to_float(x, fn, &a[0], &f))
			return -EINVAL;
		int r;
		if (!strcmp(fn, "humanize"))
			r = humanize(f, 0, &b);
		else if (!strcmp(fn, "humanize1024"))
			r = humanize(f, 1, &b);
		else if (!strcmp(fn, "humanizeDuration"))
			r = humanize_duration(f, &b);
		else if (!strcmp(fn, "humanizePercentage"))
			r = g4(&b, f * 100, "%");
		else
			r = humanize_ts(f, &b);
		if (r == -ERANGE) {
			obs_buf_release(&b);
			char t[40];
			obs_tmpl_fmt_float(f, t);
			return tx_fail(x, "error calling %s: %s cannot be represented as a nanoseconds timestamp since it overflows int64",
				       fn, t);
		}
		if (r)
			return -ENOMEM;
		return res_buf(x, res, &b);
	}
	if (!strcmp(fn, "toUpper") || !strcmp(fn, "toLower") || !strcmp(fn, "title") || !strcmp(fn, "safeHtml") ||
	    !strcmp(fn, "stripPort") || !strcmp(fn, "stripDomain")) {
		if (nargs_is(x, fn, n, 1) || want_str(x, &a[0]))
			return -EINVAL;
		char *s = tx_strdup(x, a[0].s, a[0].slen);
		if (!s)
			return -ENOMEM;
		size_t l = a[0].slen;
		if (!strcmp(fn, "toUpper") || !strcmp(fn, "toLower")) {
			for (size_t i = 0; i < l; i++)
				s[i] = (char)(fn[2] == 'U' ? toupper((unsigned char)s[i]) : tolower((unsigned char)s[i]));
		} else if (!strcmp(fn, "title")) {
			int start = 1;
			for (size_t i = 0; i < l; i++) {
				unsigned char ch = (unsigned char)s[i];
				if (isalnum(ch) || ch == '\'' || ch >= 0x80) {
					if (start && isalpha(ch))
						s[i] = (char)toupper(ch);
					start = 0;
				} else {
					start = 1;
				}
			}
		} else if (!strcmp(fn, "stripPort") || !strcmp(fn, "stripDomain")) {
			/* net.SplitHostPort */
			const char *host = s, *port = NULL;
			size_t hl = l;
			if (l && s[0] == '[') {
				char *rb = memchr(s, ']', l);
				if (rb && rb + 1 < s + l && rb[1] == ':') {
					host = s + 1;
					hl = (size_t)(rb - s - 1);
					port = rb + 2;
				}
			} else {
				char *c1 = memchr(s, ':', l);
				if (c1 && !memchr(c1 + 1, ':', l - (size_t)(c1 - s) - 1)) {
					hl = (size_t)(c1 - s);
					port = c1 + 1;
				}
			}
			if (!strcmp(fn, "stripPort")) {
				if (port)
					return res_str(x, res, host, hl);
			} else {
				char hb[300];
				snprintf(hb, sizeof hb, "%.*s", (int)hl, host);
				int is_ip = 1, colons = 0;
				for (size_t i = 0; hb[i]; i++) {
					if (hb[i] == ':')
						colons++;
					else if (!isxdigit((unsigned char)hb[i]) && hb[i] != '.')
						is_ip = 0;
				}
				int dots = 0;
				for (size_t i = 0; hb[i]; i++)
					dots += hb[i] == '.';
				if (is_ip && (colons || dots == 3) && (colons || !strpbrk(hb, "abcdefABCDEF")))
					return res_str(x, res, s, l);
				char *dot = strchr(hb, '.');
				if (dot)
					*dot = 0;
				if (port) {
					const char *fmt = strchr(hb, ':') ? "[%s]:%s" : "%s:%s";
					if (obs_buf_printf(&b, fmt, hb, port))
						return -ENOMEM;
					return res_buf(x, res, &b);
				}
				return res_str(x, res, hb, strlen(hb));
			}
		}
		*res = (struct tv){ .k = TV_STR, .s = s, .slen = l };
		return 0;
	}
	if (!strcmp(fn, "match")) {
		if (nargs_is(x, fn, n, 2) || want_str(x, &a[0]) || want_str(x, &a[1]))
			return -EINVAL;
		pcre2_code *re = re_compile(x, fn, &a[0]);
		if (!re)
			return -EINVAL;
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
		int rc = md ? pcre2_match(re, (PCRE2_SPTR)a[1].s, a[1].slen, 0, 0, md, NULL) : -1;
		pcre2_match_data_free(md);
		pcre2_code_free(re);
		*res = (struct tv){ .k = TV_BOOL, .b = rc >= 0 };
		return 0;
	}
	if (!strcmp(fn, "reReplaceAll")) {
		if (nargs_is(x, fn, n, 3) || want_str(x, &a[0]) || want_str(x, &a[1]) || want_str(x, &a[2]))
			return -EINVAL;
		return re_replace(x, &a[0], &a[1], &a[2], res);
	}
	if (!strcmp(fn, "parseDuration")) {
		if (nargs_is(x, fn, n, 1) || want_str(x, &a[0]))
			return -EINVAL;
		int64_t ms;
		if (obs_query_parse_duration(a[0].s, a[0].slen, &ms) < 0)
			return tx_fail(x, "error calling parseDuration: not a valid duration string: \"%.*s\"", (int)a[0].slen,
				       a[0].s);
		*res = (struct tv){ .k = TV_FLOAT, .f = (double)ms / 1000.0 };
		return 0;
	}
	if (!strcmp(fn, "query")) {
		if (nargs_is(x, fn, n, 1) || want_str(x, &a[0]))
			return -EINVAL;
		return do_query(x, &a[0], res);
	}
	if (!strcmp(fn, "first")) {
		if (nargs_is(x, fn, n, 1))
			return -EINVAL;
		if (a[0].k != TV_VEC)
			return tx_fail(x, "wrong type for value; expected template.queryResult; got %s", tv_type(&a[0]));
		if (!a[0].nsamp)
			return tx_fail(x, "error calling first: first() called on vector with no elements");
		*res = (struct tv){ .k = TV_SAMPLE, .samp = a[0].samp };
		return 0;
	}
	if (!strcmp(fn, "label")) {
		if (nargs_is(x, fn, n, 2) || want_str(x, &a[0]) || want_sample(x, fn, &a[1]))
			return -EINVAL;
		char *k = tx_strdup(x, a[0].s, a[0].slen);
		if (!k)
			return -ENOMEM;
		const char *v = obs_labels_get(&a[1].samp->labels, k);
		*res = (struct tv){ .k = TV_STR, .s = v ? v : "", .slen = v ? strlen(v) : 0 };
		return 0;
	}
	if (!strcmp(fn, "value")) {
		if (nargs_is(x, fn, n, 1) || want_sample(x, fn, &a[0]))
			return -EINVAL;
		*res = (struct tv){ .k = TV_FLOAT, .f = a[0].samp->v };
		return 0;
	}
	if (!strcmp(fn, "strvalue")) {
		if (nargs_is(x, fn, n, 1) || want_sample(x, fn, &a[0]))
			return -EINVAL;
		const char *v = obs_labels_get(&a[0].samp->labels, "__value__");
		*res = (struct tv){ .k = TV_STR, .s = v ? v : "", .slen = v ? strlen(v) : 0 };
		return 0;
	}
	if (!strcmp(fn, "sortByLabel")) {
		if (nargs_is(x, fn, n, 2) || want_str(x, &a[0]))
			return -EINVAL;
		if (a[1].k != TV_VEC)
			return tx_fail(x, "wrong type for value; expected template.queryResult; got %s", tv_type(&a[1]));
		struct tsample *s = tx_alloc(x, (a[1].nsamp + 1) * sizeof *s);
		char *k = tx_strdup(x, a[0].s, a[0].slen);
		if (!s || !k)
			return -ENOMEM;
		memcpy(s, a[1].samp, a[1].nsamp * sizeof *s);
		sort_label = k;
		obs_qsort(s, a[1].nsamp, sizeof *s, by_label);   /* Go's sort.Stable; ties keep order in practice */
		*res = (struct tv){ .k = TV_VEC, .samp = s, .nsamp = a[1].nsamp };
		return 0;
	}
	if (!strcmp(fn, "externalURL") || !strcmp(fn, "pathPrefix")) {
		if (nargs_is(x, fn, n, 0))
			return -EINVAL;
		const char *u = tx_data(x)->external_url ? tx_data(x)->external_url : "";
		if (fn[0] == 'p') {
			const char *p = strstr(u, "://");
			p = p ? strchr(p + 3, '/') : NULL;
			u = p ? p : "";
		}
		*res = (struct tv){ .k = TV_STR, .s = u, .slen = strlen(u) };
		return 0;
	}
	return tx_fail(x, "function \"%s\" not defined", fn);
}
