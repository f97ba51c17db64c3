/* tool_promqltest.c — the promqltest runner behind `obs-query test`.
 *
 * Commands: load INTERVAL / load_with_nhcb INTERVAL (series lines follow),
 * clear, eval instant at T EXPR, eval range from A to B step S EXPR (and
 * the deprecated eval_fail / eval_ordered / eval_warn / eval_info), each
 * followed by expect lines and expected series until a blank line. Values
 * match within a relative 1e-6 (Prometheus' tolerance). An eval is skipped
 * when it expects native histograms or the engine refuses them. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/labels.h"
#include "core/num.h"
#include "core/obstime.h"
#include "query/query.h"
#include "tool_promqltest.h"

struct line {
	char *s;       /* trimmed, comment lines emptied */
	size_t no;
};

struct exp_series {
	struct obs_labels l;
	struct obs_query_seqval *v;
	size_t n;
	int scalar;
};

enum ann_kind { AK_WARN, AK_INFO };
struct expect_ann {
	enum ann_kind kind;
	int mode;       /* 0 any, 1 msg, 2 regex */
	char *text;
};

struct evalcmd {
	int range;
	int64_t t, start, end, step;
	const char *expr;
	int fail, ordered, no_warn, no_info, has_ann[2];
	int fail_mode;            /* 0 any, 1 msg, 2 regex */
	const char *fail_text;
	int has_string;
	char *string;
	int has_rv;
	int64_t rv_from, rv_to, rv_step;
	struct exp_series *es;
	size_t nes;
	struct expect_ann *ann;
	size_t nann;
	int histo;                /* expects native histograms */
};

static int parse_time(const char *s, size_t n, int64_t *ms)
{
	int neg = 0;
	if (n && s[0] == '-') {
		neg = 1;
		s++;
		n--;
	}
	if (n == 1 && s[0] == '0') {
		*ms = 0;
		return 0;
	}
	int64_t v;
	if (obs_query_parse_duration(s, n, &v) != 0 && obs_duration_parse(s, n, &v) != 0)
		return -EINVAL;
	*ms = neg ? -v : v;
	return 0;
}

/* next whitespace-separated word of *p */
static int word(const char **p, const char **w, size_t *n)
{
	const char *s = *p;
	while (*s && isspace((unsigned char)*s))
		s++;
	if (!*s)
		return 0;
	*w = s;
	while (*s && !isspace((unsigned char)*s))
		s++;
	*n = (size_t)(s - *w);
	*p = s;
	return 1;
}

static int is_word(const char *w, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

static void eval_release(struct evalcmd *e)
{
	for (size_t i = 0; i < e->nes; i++) {
		obs_labels_release(&e->es[i].l);
		free(e->es[i].v);
	}
	free(e->es);
	for (size_t i = 0; i < e->nann; i++)
		free(e->ann[i].text);
	free(e->ann);
	free(e->string);
	memset(e, 0, sizeof(*e));
}

static char *unquote_simple(const char *s)
{
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= 2 && (s[0] == '"' || s[0] == '`' || s[0] == '\'') && s[n - 1] == s[0]) {
		char *r = strndup(s + 1, n - 2);
		if (r && s[0] == '"') {   /* \" and \\ */
			char *o = r;
			for (char *p = r; *p; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				*o++ = *p;
			}
			*o = 0;
		}
		return r;
	}
	return strndup(s, n);
}

/* "msg: X" / "regex: X" after an expect type; *mode 0 when absent. */
static void match_spec(const char *rest, int *mode, char **text)
{
	while (*rest && isspace((unsigned char)*rest))
		rest++;
	*mode = 0;
	*text = NULL;
	if (strncmp(rest, "msg:", 4) == 0) {
		*mode = 1;
		rest += 4;
	} else if (strncmp(rest, "regex:", 6) == 0) {
		*mode = 2;
		rest += 6;
	} else {
		return;
	}
	while (*rest && isspace((unsigned char)*rest))
		rest++;
	*text = *mode == 2 || *rest != '"' ? strdup(rest) : unquote_simple(rest);
	if (*mode == 2 && *text && (*text)[0] == '"') {
		char *u = unquote_simple(*text);
		free(*text);
		*text = u;
	}
}

static int add_expect_line(struct evalcmd *e, const char *s, char *err, size_t errlen)
{
	if (strstr(s, "{{"))
		e->histo = 1;
	const char *p = s;
	const char *w;
	size_t wn;
	word(&p, &w, &wn);
	/* a scalar: one number */
	const char *p2 = p, *w2;
	size_t wn2;
	double v;
	if (!word(&p2, &w2, &wn2) && obs_num_parse(w, wn, &v) == 0) {
		struct exp_series *ns = realloc(e->es, (e->nes + 1) * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		e->es = ns;
		struct exp_series *x = &e->es[e->nes++];
		memset(x, 0, sizeof(*x));
		x->scalar = 1;
		x->v = malloc(sizeof(*x->v));
		if (!x->v)
			return -ENOMEM;
		x->v[0] = (struct obs_query_seqval){ .v = v };
		x->n = 1;
		return 0;
	}
	struct exp_series x = { 0 };
	int rc = obs_query_parse_series_desc(s, strlen(s), &x.l, &x.v, &x.n, err, errlen);
	if (rc)
		return rc;
	struct exp_series *ns = realloc(e->es, (e->nes + 1) * sizeof(*ns));
	if (!ns) {
		obs_labels_release(&x.l);
		free(x.v);
		return -ENOMEM;
	}
	e->es = ns;
	e->es[e->nes++] = x;
	return 0;
}

static int add_expect(struct evalcmd *e, const char *s, char *err, size_t errlen)
{
	const char *p = s + 6, *w;
	size_t wn;
	if (!word(&p, &w, &wn))
		return -EINVAL;
	if (is_word(w, wn, "fail")) {
		e->fail = 1;
		char *t;
		match_spec(p, &e->fail_mode, &t);
		e->fail_text = t;   /* leaked into ann list for release */
		if (t) {
			struct expect_ann *na = realloc(e->ann, (e->nann + 1) * sizeof(*na));
			if (!na)
				return -ENOMEM;
			e->ann = na;
			e->ann[e->nann++] = (struct expect_ann){ .kind = (enum ann_kind)99, .text = t };
		}
		return 0;
	}
	if (is_word(w, wn, "ordered")) {
		e->ordered = 1;
		return 0;
	}
	if (is_word(w, wn, "no_warn")) {
		e->no_warn = 1;
		return 0;
	}
	if (is_word(w, wn, "no_info")) {
		e->no_info = 1;
		return 0;
	}
	if (is_word(w, wn, "warn") || is_word(w, wn, "info")) {
		struct expect_ann a = { .kind = w[0] == 'w' ? AK_WARN : AK_INFO };
		match_spec(p, &a.mode, &a.text);
		struct expect_ann *na = realloc(e->ann, (e->nann + 1) * sizeof(*na));
		if (!na) {
			free(a.text);
			return -ENOMEM;
		}
		e->ann = na;
		e->ann[e->nann++] = a;
		e->has_ann[a.kind] = 1;
		return 0;
	}
	if (is_word(w, wn, "string")) {
		while (*p && isspace((unsigned char)*p))
			p++;
		e->has_string = 1;
		e->string = unquote_simple(p);
		return e->string ? 0 : -ENOMEM;
	}
	if (is_word(w, wn, "range")) {
		/* expect range vector from A to B step C */
		const char *ws[7];
		size_t ns[7];
		for (int i = 0; i < 7; i++)
			if (!word(&p, &ws[i], &ns[i]))
				return -EINVAL;
		if (!is_word(ws[0], ns[0], "vector") || !is_word(ws[1], ns[1], "from") || !is_word(ws[3], ns[3], "to") ||
		    !is_word(ws[5], ns[5], "step"))
			return -EINVAL;
		if (parse_time(ws[2], ns[2], &e->rv_from) || parse_time(ws[4], ns[4], &e->rv_to) ||
		    parse_time(ws[6], ns[6], &e->rv_step))
			return -EINVAL;
		e->has_rv = 1;
		return 0;
	}
	snprintf(err, errlen, "unknown expectation '%.*s'", (int)wn, w);
	return -EINVAL;
}

static int parse_eval(struct evalcmd *e, char *s, char *err, size_t errlen)
{
	const char *p = s, *w;
	size_t wn;
	word(&p, &w, &wn);
	if (is_word(w, wn, "eval_fail"))
		e->fail = 1;
	else if (is_word(w, wn, "eval_ordered"))
		e->ordered = 1;
	else if (is_word(w, wn, "eval_warn"))
		e->has_ann[AK_WARN] = 1;
	else if (is_word(w, wn, "eval_info"))
		e->has_ann[AK_INFO] = 1;
	else if (!is_word(w, wn, "eval"))
		return -EINVAL;
	if (!word(&p, &w, &wn))
		return -EINVAL;
	if (is_word(w, wn, "instant")) {
		const char *a, *t;
		size_t an, tn;
		if (!word(&p, &a, &an) || !is_word(a, an, "at") || !word(&p, &t, &tn) || parse_time(t, tn, &e->t)) {
			snprintf(err, errlen, "bad eval instant line");
			return -EINVAL;
		}
	} else if (is_word(w, wn, "range")) {
		const char *ws[6];
		size_t ns[6];
		for (int i = 0; i < 6; i++)
			if (!word(&p, &ws[i], &ns[i]))
				return -EINVAL;
		if (!is_word(ws[0], ns[0], "from") || !is_word(ws[2], ns[2], "to") || !is_word(ws[4], ns[4], "step") ||
		    parse_time(ws[1], ns[1], &e->start) || parse_time(ws[3], ns[3], &e->end) ||
		    parse_time(ws[5], ns[5], &e->step)) {
			snprintf(err, errlen, "bad eval range line");
			return -EINVAL;
		}
		e->range = 1;
	} else {
		snprintf(err, errlen, "bad eval line");
		return -EINVAL;
	}
	while (*p && isspace((unsigned char)*p))
		p++;
	e->expr = p;
	return 0;
}

static int almost_equal(double a, double b)
{
	const double eps = 1e-6, min_normal = 2.2250738585072014e-308;
	if (isnan(a) && isnan(b))
		return 1;
	if (a == b)
		return 1;
	double sum = fabs(a) + fabs(b), diff = fabs(a - b);
	if (a == 0 || b == 0 || sum < min_normal)
		return diff < eps * min_normal;
	return diff / fmin(sum, 1.7976931348623157e308) < eps;
}

static void fmt_labels(struct obs_buf *b, const struct obs_labels *l)
{
	if (!l->n) {
		obs_buf_puts(b, "{}");
		return;
	}
	obs_labels_format(l, b);
}

static void fmt_num(struct obs_buf *b, double v)
{
	char t[32];
	obs_num_format(v, t);
	obs_buf_puts(b, t);
}

static void fmt_result(struct obs_buf *b, const struct obs_query_result *r)
{
	if (r->type == OBS_QV_STRING) {
		obs_buf_printf(b, "string \"%s\"", r->str ? r->str : "");
		return;
	}
	if (!r->nseries)
		obs_buf_puts(b, "(empty)");
	for (size_t i = 0; i < r->nseries && i < 20; i++) {
		obs_buf_puts(b, "\n    ");
		if (r->type != OBS_QV_SCALAR)
			fmt_labels(b, &r->series[i].labels);
		for (size_t k = 0; k < r->series[i].n && k < 40; k++) {
			obs_buf_putc(b, ' ');
			if (r->type == OBS_QV_MATRIX || r->series[i].n > 1)
				obs_buf_printf(b, "%lld:", (long long)r->series[i].t[k] / 1000);
			fmt_num(b, r->series[i].v[k]);
		}
	}
	if (r->nseries > 20)
		obs_buf_printf(b, "\n    ... %zu series", r->nseries);
}

static void fmt_expected(struct obs_buf *b, const struct evalcmd *e)
{
	if (e->fail) {
		obs_buf_printf(b, "an error%s%s", e->fail_text ? ": " : "", e->fail_text ? e->fail_text : "");
		return;
	}
	if (e->has_string) {
		obs_buf_printf(b, "string \"%s\"", e->string);
		return;
	}
	if (!e->nes)
		obs_buf_puts(b, "(empty)");
	for (size_t i = 0; i < e->nes && i < 20; i++) {
		obs_buf_puts(b, "\n    ");
		if (!e->es[i].scalar)
			fmt_labels(b, &e->es[i].l);
		for (size_t k = 0; k < e->es[i].n && k < 40; k++) {
			obs_buf_putc(b, ' ');
			if (e->es[i].v[k].omitted)
				obs_buf_putc(b, '_');
			else
				fmt_num(b, e->es[i].v[k].v);
		}
	}
}

static int regex_match(const char *re, const char *s)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
	if (!c)
		return 0;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
	int r = md && pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) >= 0;
	pcre2_match_data_free(md);
	pcre2_code_free(c);
	return r;
}

/* Compare points of expected series x (values at from + k*step) with got. */
static int cmp_points(const struct exp_series *x, const struct obs_query_series *g, int64_t from, int64_t step,
		      struct obs_buf *why)
{
	size_t gi = 0;
	for (size_t k = 0; k < x->n; k++) {
		if (x->v[k].omitted)
			continue;
		int64_t t = from + (int64_t)k * step;
		if (gi >= g->n || g->t[gi] != t) {
			obs_buf_printf(why, "no point at %g s", (double)t / 1000);
			return 0;
		}
		if (!almost_equal(x->v[k].v, g->v[gi])) {
			obs_buf_printf(why, "at %g s: expected ", (double)t / 1000);
			fmt_num(why, x->v[k].v);
			obs_buf_puts(why, ", got ");
			fmt_num(why, g->v[gi]);
			return 0;
		}
		gi++;
	}
	if (gi != g->n) {
		obs_buf_printf(why, "unexpected point at %g s", (double)g->t[gi] / 1000);
		return 0;
	}
	return 1;
}

static int labels_eq(const struct obs_labels *a, const struct obs_labels *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) || strcmp(a->v[i].value, b->v[i].value))
			return 0;
	return 1;
}

/* 1 pass, 0 fail (why says), -1 skip */
static int check(const struct evalcmd *e, int rc, const struct obs_query_result *r, struct obs_buf *why)
{
	if (rc == -ENOTSUP)
		return -1;
	if (e->histo)
		return -1;
	if (rc) {
		if (!e->fail) {
			obs_buf_printf(why, "error: %s", r->err);
			return 0;
		}
		if (e->fail_mode == 1 && strcmp(e->fail_text, r->err) != 0) {
			obs_buf_printf(why, "error message differs: %s", r->err);
			return 0;
		}
		if (e->fail_mode == 2 && !regex_match(e->fail_text, r->err)) {
			obs_buf_printf(why, "error message does not match: %s", r->err);
			return 0;
		}
		return 1;
	}
	if (e->fail) {
		obs_buf_puts(why, "no error");
		return 0;
	}
	/* annotations */
	int seen[2] = { 0, 0 };
	for (size_t i = 0; i < r->nwarnings; i++) {
		const char *a = r->warnings[i];
		int kind = strncmp(a, "PromQL info:", 12) == 0 ? AK_INFO : AK_WARN;
		seen[kind] = 1;
		if (!e->has_ann[kind])
			continue;
		int matched = 0;
		for (size_t k = 0; k < e->nann && !matched; k++) {
			const struct expect_ann *x = &e->ann[k];
			if ((int)x->kind != kind)
				continue;
			matched = x->mode == 0 || (x->mode == 1 && strcmp(x->text, a) == 0) ||
				  (x->mode == 2 && regex_match(x->text, a));
		}
		if (!matched) {
			obs_buf_printf(why, "unexpected annotation: %s", a);
			return 0;
		}
	}
	for (size_t k = 0; k < e->nann; k++) {
		const struct expect_ann *x = &e->ann[k];
		if ((int)x->kind != AK_WARN && (int)x->kind != AK_INFO)
			continue;
		int matched = 0;
		for (size_t i = 0; i < r->nwarnings && !matched; i++) {
			const char *a = r->warnings[i];
			int kind = strncmp(a, "PromQL info:", 12) == 0 ? AK_INFO : AK_WARN;
			if (kind != (int)x->kind)
				continue;
			matched = x->mode == 0 || (x->mode == 1 && strcmp(x->text, a) == 0) ||
				  (x->mode == 2 && regex_match(x->text, a));
		}
		if (!matched) {
			obs_buf_printf(why, "missing %s annotation%s%s", x->kind == AK_WARN ? "warn" : "info",
				       x->text ? ": " : "", x->text ? x->text : "");
			return 0;
		}
	}
	if ((e->has_ann[AK_WARN] && !seen[AK_WARN]) || (e->has_ann[AK_INFO] && !seen[AK_INFO])) {
		obs_buf_puts(why, "expected an annotation");
		return 0;
	}
	if ((e->no_warn && seen[AK_WARN]) || (e->no_info && seen[AK_INFO])) {
		for (size_t i = 0; i < r->nwarnings; i++)
			obs_buf_printf(why, "%sunexpected annotation: %s", i ? "; " : "", r->warnings[i]);
		return 0;
	}
	if (e->has_string) {
		if (r->type != OBS_QV_STRING || strcmp(r->str, e->string) != 0) {
			obs_buf_puts(why, "string differs");
			return 0;
		}
		return 1;
	}
	if (r->type == OBS_QV_STRING) {
		obs_buf_puts(why, "unexpected string result");
		return 0;
	}
	if (!e->range && r->type == OBS_QV_SCALAR) {
		if (e->nes != 1 || !e->es[0].scalar) {
			obs_buf_puts(why, "got a scalar");
			return 0;
		}
		if (!almost_equal(e->es[0].v[0].v, r->series[0].v[0])) {
			obs_buf_puts(why, "scalar differs");
			return 0;
		}
		return 1;
	}
	/* series: count those expected with at least one point */
	size_t nexp = 0;
	for (size_t i = 0; i < e->nes; i++) {
		if (e->es[i].scalar && (e->range || r->type != OBS_QV_SCALAR)) {
			obs_buf_puts(why, "expected a scalar");
			return 0;
		}
		int any = 0;
		for (size_t k = 0; k < e->es[i].n; k++)
			any |= !e->es[i].v[k].omitted;
		nexp += any;
	}
	if (nexp != r->nseries) {
		obs_buf_printf(why, "expected %zu series, got %zu", nexp, r->nseries);
		return 0;
	}
	size_t pos = 0;
	for (size_t i = 0; i < e->nes; i++) {
		const struct exp_series *x = &e->es[i];
		int any = 0;
		for (size_t k = 0; k < x->n; k++)
			any |= !x->v[k].omitted;
		if (!any)
			continue;
		size_t j;
		for (j = 0; j < r->nseries; j++)
			if (labels_eq(&x->l, &r->series[j].labels))
				break;
		if (j == r->nseries) {
			obs_buf_puts(why, "missing series ");
			fmt_labels(why, &x->l);
			return 0;
		}
		if (e->ordered && j != pos) {
			obs_buf_puts(why, "order differs at ");
			fmt_labels(why, &x->l);
			return 0;
		}
		pos++;
		const struct obs_query_series *g = &r->series[j];
		if (e->range || r->type == OBS_QV_MATRIX) {
			int64_t from = e->range ? e->start : e->rv_from, step = e->range ? e->step : e->rv_step;
			if (!e->range && !e->has_rv) {
				obs_buf_puts(why, "got a range vector");
				return 0;
			}
			struct obs_buf w2;
			obs_buf_init(&w2);
			if (!cmp_points(x, g, from, step, &w2)) {
				fmt_labels(why, &x->l);
				obs_buf_printf(why, ": %s", w2.data ? w2.data : "");
				obs_buf_release(&w2);
				return 0;
			}
			obs_buf_release(&w2);
		} else {
			if (x->n != 1 || !almost_equal(x->v[0].v, g->v[0])) {
				fmt_labels(why, &x->l);
				obs_buf_puts(why, ": expected ");
				fmt_num(why, x->v[0].v);
				obs_buf_puts(why, ", got ");
				fmt_num(why, g->v[0]);
				return 0;
			}
		}
	}
	return 1;
}

static int do_load(struct obs_query_mem *mem, struct line *ln, size_t nl, size_t *i, int nhcb, int64_t interval,
		   const char *path, FILE *out, int *bad)
{
	size_t j = *i + 1;
	for (; j < nl && ln[j].s[0]; j++) {
		struct obs_labels l;
		struct obs_query_seqval *v;
		size_t n;
		char err[200];
		if (obs_query_parse_series_desc(ln[j].s, strlen(ln[j].s), &l, &v, &n, err, sizeof(err)) != 0) {
			fprintf(out, "%s:%zu: bad series line: %s\n", path, ln[j].no, err);
			(*bad)++;
			continue;
		}
		struct obs_labels hl = { 0 };
		const char *name = obs_labels_get(&l, "__name__");
		size_t nlen = name ? strlen(name) : 0;
		int mark = nhcb && name && nlen > 7 && strcmp(name + nlen - 7, "_bucket") == 0 && obs_labels_get(&l, "le");
		if (mark) {
			struct obs_label tmp[OBS_MAX_LABELS];
			char base[512];
			snprintf(base, sizeof(base), "%.*s", (int)(nlen - 7), name);
			size_t k = 0;
			for (size_t a = 0; a < l.n && k < OBS_MAX_LABELS; a++) {
				if (strcmp(l.v[a].name, "le") == 0)
					continue;
				tmp[k] = l.v[a];
				if (strcmp(l.v[a].name, "__name__") == 0)
					tmp[k].value = base;
				k++;
			}
			struct obs_labels src = { .v = tmp, .n = k };
			if (obs_labels_copy(&hl, &src) != 0)
				mark = 0;
		}
		for (size_t k = 0; k < n; k++) {
			int64_t t = (int64_t)k * interval;
			if (v[k].omitted)
				continue;
			if (v[k].histogram)
				obs_query_mem_add_histogram(mem, &l, t);
			else
				obs_query_mem_add(mem, &l, t, v[k].v);
			if (mark)
				obs_query_mem_add_histogram(mem, &hl, t);
		}
		obs_labels_release(&hl);
		obs_labels_release(&l);
		free(v);
	}
	*i = j;
	return 0;
}

int pt_run_file(const char *path, FILE *out, int verbose, struct pt_stats *st)
{
	char *data = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	struct obs_buf fb;
	obs_buf_init(&fb);
	char chunk[65536];
	size_t k;
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		obs_buf_append(&fb, chunk, k);
	fclose(f);
	data = fb.data ? fb.data : strdup("");
	len = fb.len;
	/* lines */
	size_t nl = 0, cap = 0;
	struct line *ln = NULL;
	char *p = data;
	size_t no = 1;
	while (p <= data + len && *p != '\0') {
		char *e = strchr(p, '\n');
		if (e)
			*e = 0;
		char *s = p;
		while (*s && isspace((unsigned char)*s))
			s++;
		size_t sl = strlen(s);
		while (sl && isspace((unsigned char)s[sl - 1]))
			s[--sl] = 0;
		if (s[0] == '#')
			s[0] = 0;
		if (nl == cap) {
			cap = cap ? cap * 2 : 256;
			ln = realloc(ln, cap * sizeof(*ln));
			if (!ln)
				return -ENOMEM;
		}
		ln[nl++] = (struct line){ s, no++ };
		if (!e)
			break;
		p = e + 1;
	}
	struct obs_query_mem *mem = obs_query_mem_new();
	if (!mem)
		return -ENOMEM;
	struct obs_query_store store = obs_query_mem_store(mem);
	struct obs_query_opts opts;
	obs_query_opts_default(&opts);
	memset(st, 0, sizeof(*st));
	int bad = 0;
	for (size_t i = 0; i < nl;) {
		char *s = ln[i].s;
		if (!s[0]) {
			i++;
			continue;
		}
		if (strncmp(s, "load", 4) == 0) {
			const char *q = s, *w;
			size_t wn;
			word(&q, &w, &wn);
			int nhcb = is_word(w, wn, "load_with_nhcb");
			int64_t interval;
			if ((!is_word(w, wn, "load") && !nhcb) || !word(&q, &w, &wn) || parse_time(w, wn, &interval)) {
				fprintf(out, "%s:%zu: bad load line\n", path, ln[i].no);
				bad++;
				i++;
				continue;
			}
			do_load(mem, ln, nl, &i, nhcb, interval, path, out, &bad);
			continue;
		}
		if (strcmp(s, "clear") == 0) {
			obs_query_mem_clear(mem);
			i++;
			continue;
		}
		if (strncmp(s, "eval", 4) != 0) {
			fprintf(out, "%s:%zu: unknown command: %s\n", path, ln[i].no, s);
			bad++;
			i++;
			continue;
		}
		struct evalcmd e = { 0 };
		char err[300] = "";
		size_t at = i;
		int prc = parse_eval(&e, s, err, sizeof(err));
		size_t j = i + 1;
		for (; j < nl && ln[j].s[0]; j++) {
			if (prc)
				continue;
			const char *x = ln[j].s;
			if (strncmp(x, "expect ", 7) == 0)
				prc = add_expect(&e, x, err, sizeof(err));
			else if (strncmp(x, "expected_fail_message ", 22) == 0) {
				e.fail = 1;
				e.fail_mode = 1;
				e.fail_text = x + 22;
			} else if (strncmp(x, "expected_fail_regexp ", 21) == 0) {
				e.fail = 1;
				e.fail_mode = 2;
				e.fail_text = x + 21;
			} else
				prc = add_expect_line(&e, x, err, sizeof(err));
		}
		i = j;
		if (prc) {
			if (e.histo) {
				st->skipped++;
			} else {
				fprintf(out, "%s:%zu: cannot read eval: %s\n", path, ln[at].no, err[0] ? err : "syntax");
				st->failed++;
			}
			eval_release(&e);
			continue;
		}
		struct obs_query_expr *qe = NULL;
		struct obs_query_result r;
		memset(&r, 0, sizeof(r));
		int rc = obs_query_parse(e.expr, strlen(e.expr), &qe, r.err, sizeof(r.err));
		if (rc == 0) {
			char keep[sizeof(r.err)];
			memcpy(keep, r.err, sizeof(keep));
			if (e.range)
				rc = obs_query_range(&opts, &store, qe, e.start, e.end, e.step, &r);
			else
				rc = obs_query_instant(&opts, &store, qe, e.t, &r);
		}
		struct obs_buf why;
		obs_buf_init(&why);
		int res = check(&e, rc, &r, &why);
		if (res == 1) {
			st->passed++;
		} else if (res < 0) {
			st->skipped++;
			if (verbose)
				fprintf(out, "%s:%zu: skipped (native histograms): %s\n", path, ln[at].no, e.expr);
		} else {
			st->failed++;
			struct obs_buf b;
			obs_buf_init(&b);
			fmt_expected(&b, &e);
			fprintf(out, "%s:%zu: FAIL %s\n  why: %s\n  expected: %s\n  got: ", path, ln[at].no, s,
				why.data ? why.data : "", b.data ? b.data : "");
			obs_buf_reset(&b);
			if (rc)
				fprintf(out, "error: %s\n", r.err);
			else {
				fmt_result(&b, &r);
				fprintf(out, "%s\n", b.data ? b.data : "");
			}
			obs_buf_release(&b);
		}
		obs_buf_release(&why);
		obs_query_result_release(&r);
		obs_query_expr_free(qe);
		eval_release(&e);
	}
	st->failed += (unsigned)bad;
	fprintf(out, "%s: %u passed, %u failed, %u skipped\n", path, st->passed, st->failed, st->skipped);
	obs_query_mem_free(mem);
	free(ln);
	free(data);
	return 0;
}
