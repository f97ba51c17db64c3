/* query_ptcheck.c — the promqltest runner's comparison of a query result
 * with an eval's expectations: values within a relative 1e-6, series as
 * sets (or in order with expect ordered), points of range results at the
 * expected steps, annotations and error messages by text or regex. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/num.h"
#include "query_ptint.h"

/* promqltest's tolerance */
static int almost_equal(double a, double b)
{
	return obs_num_almost_equal(a, b, 1e-6);
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

void pt_fmt_result(struct obs_buf *b, const struct obs_query_result *r)
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

void pt_fmt_expected(struct obs_buf *b, const struct evalcmd *e)
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
int pt_check(const struct evalcmd *e, int rc, const struct obs_query_result *r, int values_only,
	     struct obs_buf *why)
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
	for (size_t i = 0; i < r->nwarnings && !values_only; i++) {
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
	for (size_t k = 0; k < e->nann && !values_only; k++) {
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
	if (!values_only && ((e->has_ann[AK_WARN] && !seen[AK_WARN]) || (e->has_ann[AK_INFO] && !seen[AK_INFO]))) {
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

