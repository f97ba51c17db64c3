/* query_promqltest.c — the promqltest runner behind `obs-query test`.
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

#include "core/buf.h"
#include "core/fileio.h"
#include "core/labels.h"
#include "core/num.h"
#include "core/obstime.h"
#include "core/vec.h"
#include "query/query.h"
#include "query_promqltest.h"
#include "query_ptint.h"

struct line {
	char *s;       /* trimmed, comment lines emptied */
	size_t no;
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
		int64_t *ft = malloc((n + 1) * sizeof(int64_t));
		double *fv = malloc((n + 1) * sizeof(double));
		size_t nf = 0;
		for (size_t k = 0; k < n; k++) {
			int64_t t = (int64_t)k * interval;
			if (v[k].omitted)
				continue;
			if (v[k].histogram) {
				if (ft && fv && nf)
					obs_query_mem_add_n(mem, &l, ft, fv, nf);
				nf = 0;
				obs_query_mem_add_histogram(mem, &l, t);
			} else if (ft && fv) {
				ft[nf] = t;
				fv[nf++] = v[k].v;
			}
			if (mark)
				obs_query_mem_add_histogram(mem, &hl, t);
		}
		if (ft && fv && nf)
			obs_query_mem_add_n(mem, &l, ft, fv, nf);
		free(ft);
		free(fv);
		obs_labels_release(&hl);
		obs_labels_release(&l);
		free(v);
	}
	*i = j;
	return 0;
}

/* Does the answer depend on the query's range (start(), end(), range(),
 * step())? Then an instant query and a range query differ by design. */
static int range_dependent(const char *expr)
{
	static const char *const fns[] = { "start", "end", "range", "step" };
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		size_t n = strlen(fns[i]);
		for (const char *p = strstr(expr, fns[i]); p; p = strstr(p + 1, fns[i])) {
			const char *q = p + n;
			while (*q == ' ')
				q++;
			if (*q == '(' && (p == expr || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')))
				return 1;
		}
	}
	return 0;
}

/* As Prometheus' runner does: the instant query again as a range query
 * from t - 1m to t + 1m every minute must give the same answer at t. */
static int range_mode(const struct evalcmd *e, const struct obs_query_expr *qe, const struct obs_query_opts *o,
		      const struct obs_query_store *st, struct obs_buf *why)
{
	struct obs_query_result rr, v;
	int rc = obs_query_range(o, st, qe, e->t - 60000, e->t + 60000, 60000, &rr);
	memset(&v, 0, sizeof(v));
	v.type = OBS_QV_VECTOR;
	int res = 0;
	if (rc == -ENOTSUP) {   /* the wider range reaches native histograms: not checked */
		res = 1;
		goto out;
	}
	if (rc) {
		obs_buf_printf(why, "range mode: error: %s", rr.err);
		goto out;
	}
	v.series = calloc(rr.nseries + 1, sizeof(*v.series));
	if (!v.series)
		goto out;
	int scalar = obs_query_expr_type(qe) == OBS_QV_SCALAR;
	for (size_t i = 0; i < rr.nseries; i++)
		for (size_t k = 0; k < rr.series[i].n; k++)
			if (rr.series[i].t[k] == e->t) {
				struct obs_query_series *s = &v.series[v.nseries++];
				s->labels = rr.series[i].labels;   /* borrowed */
				s->t = rr.series[i].t + k;
				s->v = rr.series[i].v + k;
				s->n = 1;
				break;
			}
	if (scalar && v.nseries == 1)
		v.type = OBS_QV_SCALAR;
	struct obs_buf w;
	obs_buf_init(&w);
	res = pt_check(e, 0, &v, 1, &w);
	if (res == 0)
		obs_buf_printf(why, "range mode: %s", w.data ? w.data : "");
	obs_buf_release(&w);
out:
	free(v.series);
	obs_query_result_release(&rr);
	return res;
}

/* As Prometheus' runner does: with @ t on every selector the query must
 * give the same answer at other evaluation times (-10t, 0, t/5, t, 10t). */
static int at_mode(const struct evalcmd *e, const struct obs_query_opts *o, const struct obs_query_store *st,
		   struct obs_buf *why)
{
	struct obs_query_expr *pe = NULL;
	char err[300];
	if (obs_query_parse(e->expr, strlen(e->expr), &pe, err, sizeof(err)) != 0)
		return 1;
	int res = 1;
	if (obs_query_expr_pin(pe, e->t)) {
		obs_query_expr_free(pe);
		return 1;
	}
	int64_t t = e->t;
	int64_t times[5] = { -10 * t, 0, t / 5, t, 10 * t };
	size_t nt = 5;
	if (t == 0) {
		times[0] = -1000000;
		times[1] = 1000000;
		nt = 2;
	}
	for (size_t i = 0; i < nt && res == 1; i++) {
		struct obs_query_result r;
		int rc = obs_query_instant(o, st, pe, times[i], &r);
		if (rc == -ENOTSUP) {
			obs_query_result_release(&r);
			continue;
		}
		struct obs_buf w;
		obs_buf_init(&w);
		res = pt_check(e, rc, &r, 1, &w);
		if (res < 0)
			res = 1;
		if (res == 0) {
			struct obs_buf txt;
			obs_buf_init(&txt);
			obs_query_expr_format(pe, &txt);
			obs_buf_printf(why, "with @ (%s at %gs): %s", txt.data ? txt.data : "", (double)times[i] / 1000,
				       w.data ? w.data : "");
			obs_buf_release(&txt);
		}
		obs_buf_release(&w);
		obs_query_result_release(&r);
	}
	obs_query_expr_free(pe);
	return res;
}

int pt_run_file(const char *path, FILE *out, int verbose, struct pt_stats *st)
{
	char *data = NULL;
	size_t len = 0;
	int frc = obs_read_file(path, 0, &data, &len);
	if (frc)
		return frc;
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
		if (OBS_VEC_RESERVE_FROM(ln, cap, nl + 1, 256))
			return -ENOMEM;
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
		int res = pt_check(&e, rc, &r, 0, &why);
		if (res == 1 && !e.range && !rc && !e.ordered && !e.has_string && !range_dependent(e.expr) &&
		    (r.type == OBS_QV_VECTOR || r.type == OBS_QV_SCALAR))
			res = range_mode(&e, qe, &opts, &store, &why);
		if (res == 1 && !e.range && qe)
			res = at_mode(&e, &opts, &store, &why);
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
			pt_fmt_expected(&b, &e);
			fprintf(out, "%s:%zu: FAIL %s\n  why: %s\n  expected: %s\n  got: ", path, ln[at].no, s,
				why.data ? why.data : "", b.data ? b.data : "");
			obs_buf_reset(&b);
			if (rc)
				fprintf(out, "error: %s\n", r.err);
			else {
				pt_fmt_result(&b, &r);
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

