/* alert_test_diff.c — expected against got for `obs-alert test`, and the
 * difference reports in promtool's (2.42) words: an alert test compares the
 * firing alerts' labels and annotations, both sides sorted; an expression
 * test compares samples (labels and value), both sides sorted by labels.
 * Labels print as Go's labels.Labels.String(), values as Go's
 * strconv.FormatFloat(v, 'E', -1, 64). */
#include "alert_test.h"
#include "alert_tool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---- */

void ut_err_add(struct ut_errs *e, struct obs_buf *b)
{
	char **v = realloc(e->v, (e->n + 1) * sizeof *v);
	if (!v)
		exit(2);
	e->v = v;
	v[e->n++] = obs_buf_detach(b, NULL);
}

void ut_err_addf(struct ut_errs *e, const char *fmt, const char *a, const char *b)
{
	struct obs_buf t;
	obs_buf_init(&t);
	obs_buf_printf(&t, fmt, a, b);
	ut_err_add(e, &t);
}

void ut_err_lines(struct ut_errs *e, const char *prefix, const char *text)
{
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		struct obs_buf b;
		obs_buf_init(&b);
		if (prefix)
			obs_buf_printf(&b, "%s: ", prefix);
		obs_buf_append(&b, p, n);
		ut_err_add(e, &b);
		p += n + (nl != NULL);
	}
}

void ut_errs_release(struct ut_errs *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* ---- formatting ---- */

/* Go's strconv.FormatFloat(v, 'E', -1, 64) */
static void go_float_E(double v, char *out)
{
	if (isnan(v)) {
		strcpy(out, "NaN");
		return;
	}
	if (isinf(v)) {
		strcpy(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	char e[48];
	for (int p = 0; p < 17; p++) {
		snprintf(e, sizeof e, "%.*E", p, v);
		if (strtod(e, NULL) == v)
			break;
	}
	strcpy(out, e);
}

/* s with ind after every newline */
static void indent(struct obs_buf *out, const char *s, const char *ind)
{
	for (const char *p = s; *p; p++) {
		obs_buf_putc(out, *p);
		if (*p == '\n')
			obs_buf_puts(out, ind);
	}
}

/* ---- alerts ---- */

struct la {
	struct obs_labels l, a;
};

static int la_cmp(const void *x, const void *y)
{
	const struct la *p = x, *q = y;
	int c = obs_labels_cmp(&p->l, &q->l);
	return c ? c : obs_labels_cmp(&p->a, &q->a);
}

/* promtool's labelsAndAnnotations.String() */
static void la_string(const struct la *v, size_t n, struct obs_buf *out)
{
	if (!n) {
		obs_buf_puts(out, "[]");
		return;
	}
	obs_buf_puts(out, "[");
	for (size_t i = 0; i < n; i++) {
		struct obs_buf one;
		obs_buf_init(&one);
		obs_buf_puts(&one, "\nLabels:");
		alert_go_labels(&v[i].l, &one);
		obs_buf_puts(&one, "\nAnnotations:");
		alert_go_labels(&v[i].a, &one);
		obs_buf_printf(out, "%s\n%zu:", i ? "," : "", i);
		indent(out, one.data, "  ");
		obs_buf_release(&one);
	}
	obs_buf_puts(out, "\n]");
}

int ut_kv_labels(const struct kvlist *kv, const char *alertname, struct obs_labels *out)
{
	struct obs_rawlabel raw[OBS_MAX_LABELS + 1];
	int n = 0;
	for (size_t i = 0; i < kv->n && n < OBS_MAX_LABELS; i++) {
		if (alertname && !strcmp(kv->v[i].k, "alertname"))
			continue;
		raw[n++] = (struct obs_rawlabel){ kv->v[i].k, kv->v[i].v, (uint32_t)strlen(kv->v[i].k),
						  (uint32_t)strlen(kv->v[i].v), 0 };
	}
	if (alertname)
		raw[n++] = (struct obs_rawlabel){ "alertname", alertname, 9, (uint32_t)strlen(alertname), 0 };
	const char *why;
	obs_labels_init(out);
	if (!n)
		return 0;
	return obs_labels_build(out, NULL, 0, raw, n, &why);
}

void ut_check_alerts(const struct ut_group *g, const struct ut_atest *t, struct obs_alert *al, size_t nal,
		     struct ut_errs *errs)
{
	struct la *got = ut_xcalloc(nal, sizeof *got), *exp = ut_xcalloc(t->nexp, sizeof *exp);
	size_t ngot = 0;
	for (size_t k = 0; k < nal; k++)
		if (al[k].state == OBS_ALERT_FIRING) {
			got[ngot].l = al[k].labels;
			got[ngot].a = al[k].annotations;
			obs_labels_init(&al[k].labels);
			obs_labels_init(&al[k].annotations);
			ngot++;
		}
	for (size_t k = 0; k < t->nexp; k++) {
		ut_kv_labels(&t->exp[k].labels, t->alertname, &exp[k].l);
		ut_kv_labels(&t->exp[k].annotations, NULL, &exp[k].a);
	}
	qsort(got, ngot, sizeof *got, la_cmp);
	qsort(exp, t->nexp, sizeof *exp, la_cmp);
	int same = ngot == t->nexp;
	for (size_t k = 0; same && k < ngot; k++)
		same = !la_cmp(&got[k], &exp[k]);
	if (!same) {
		struct obs_buf b, es, gs, tmp;
		obs_buf_init(&b);
		obs_buf_init(&es);
		obs_buf_init(&gs);
		obs_buf_init(&tmp);
		la_string(exp, t->nexp, &tmp);
		indent(&es, tmp.data, "            ");
		obs_buf_reset(&tmp);
		la_string(got, ngot, &tmp);
		indent(&gs, tmp.data, "            ");
		obs_buf_release(&tmp);
		char d[32];
		obs_model_duration_format(t->eval_time, d);
		if (g->name && *g->name)
			obs_buf_printf(&b, "    name: %s,\n", g->name);
		obs_buf_printf(&b, "    alertname: %s, time: %s, \n        exp:%s, \n        got:%s", t->alertname, d,
			       es.data, gs.data);
		obs_buf_release(&es);
		obs_buf_release(&gs);
		ut_err_add(errs, &b);
	}
	for (size_t k = 0; k < ngot; k++) {
		obs_labels_release(&got[k].l);
		obs_labels_release(&got[k].a);
	}
	for (size_t k = 0; k < t->nexp; k++) {
		obs_labels_release(&exp[k].l);
		obs_labels_release(&exp[k].a);
	}
	free(got);
	free(exp);
}

/* ---- samples ---- */

struct sv {
	struct obs_labels l;
	double v;
};

/* by labels, stable (equal label sets keep their order) */
static void sv_sort(struct sv *v, size_t n)
{
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && obs_labels_cmp(&v[b - 1].l, &v[b].l) > 0; b--) {
			struct sv t = v[b];
			v[b] = v[b - 1];
			v[b - 1] = t;
		}
}

static void sv_string(const struct sv *v, size_t n, struct obs_buf *b)
{
	if (!n)
		obs_buf_puts(b, "nil");
	for (size_t k = 0; k < n; k++) {
		char fb[48];
		go_float_E(v[k].v, fb);
		if (k)
			obs_buf_puts(b, ", ");
		alert_go_labels(&v[k].l, b);
		obs_buf_printf(b, " %s", fb);
	}
}

void ut_check_samples(const struct ut_ptest *t, const char *expr, const char *time,
		      const struct obs_query_result *res, struct ut_errs *errs)
{
	/* got points into res; exp's label sets are owned */
	struct sv *got = ut_xcalloc(res->nseries, sizeof *got), *exp = ut_xcalloc(t->nexp, sizeof *exp);
	size_t ngot = 0, nexp = 0;
	for (size_t k = 0; k < res->nseries; k++)
		if (res->series[k].n) {
			got[ngot].l = res->series[k].labels;
			got[ngot++].v = res->series[k].v[res->series[k].n - 1];
		}
	int bad = 0;
	for (; nexp < t->nexp; nexp++) {
		const struct ut_sample *s = &t->exp[nexp];
		const char *why = NULL, *lt = s->labels;
		while (*lt == ' ')
			lt++;
		obs_labels_init(&exp[nexp].l);
		if (*lt && strcmp(lt, "{}") && obs_labels_parse(s->labels, strlen(s->labels), &exp[nexp].l, &why) < 0) {
			struct obs_buf b;
			obs_buf_init(&b);
			obs_buf_printf(&b, "    expr: %s, time: %s, err: labels \"%s\": %s", expr, time, s->labels,
				       why ? why : "invalid");
			ut_err_add(errs, &b);
			bad = 1;
			break;
		}
		exp[nexp].v = s->value;
	}
	if (!bad) {
		sv_sort(exp, nexp);
		sv_sort(got, ngot);
		int same = ngot == nexp;
		for (size_t k = 0; same && k < ngot; k++)
			same = !obs_labels_cmp(&got[k].l, &exp[k].l) && got[k].v == exp[k].v;
		if (!same) {
			struct obs_buf b;
			obs_buf_init(&b);
			obs_buf_printf(&b, "    expr: %s, time: %s,\n        exp: ", expr, time);
			sv_string(exp, nexp, &b);
			obs_buf_puts(&b, "\n        got: ");
			sv_string(got, ngot, &b);
			ut_err_add(errs, &b);
		}
	}
	for (size_t k = 0; k < nexp; k++)
		obs_labels_release(&exp[k].l);
	free(got);
	free(exp);
}
