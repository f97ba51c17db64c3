/* alert_test.c — `obs-alert test FILE...`: Prometheus' rule unit tests, as
 * `promtool test rules` (2.42) runs them and reports.
 *
 * A test file: rule_files (relative to the test file; globs),
 * evaluation_interval (1m), group_eval_order, tests: [{name, interval,
 * input_series: [{series, values}], external_labels, external_url,
 * alert_rule_test: [{eval_time, alertname, exp_alerts: [{exp_labels,
 * exp_annotations}]}], promql_expr_test: [{expr, eval_time, exp_samples:
 * [{labels, value}]}]}]. Input values use the expanding notation
 * (1+2x10, _, stale) at 0, interval, 2*interval, ... Rules are evaluated
 * every evaluation_interval from 0 to the largest eval_time, into the same
 * in-memory store; an alert test at eval_time compares the firing alerts
 * after the evaluation at the latest ts <= eval_time; expression tests run
 * at the end. Output: "Unit Testing:  FILE", "  SUCCESS" or "  FAILED:"
 * followed by promtool's difference reports (on stderr). Exit 0 only when
 * every test of every file passes. */
#include "alert_tool.h"
#include "alert/template.h"
#include "alert/ruleeval.h"
#include "alert/yamldoc.h"
#include "core/num.h"

#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kv {
	char *k, *v;
};

struct kvlist {
	struct kv *v;
	size_t n;
};

struct ut_alert {
	struct kvlist labels, annotations;
};

struct ut_atest {
	int64_t eval_time;
	const char *alertname;
	struct ut_alert *exp;
	size_t nexp;
};

struct ut_sample {
	const char *labels;
	double value;
};

struct ut_ptest {
	const char *expr;
	int64_t eval_time;
	struct ut_sample *exp;
	size_t nexp;
};

struct ut_series {
	const char *series, *values;
};

struct ut_group {
	const char *name;
	int64_t interval;
	int has_interval;
	struct ut_series *in;
	size_t nin;
	struct ut_atest *at;
	size_t nat;
	struct ut_ptest *pt;
	size_t npt;
	struct kvlist ext;
	const char *ext_url;
};

struct ut_file {
	const char **rule_files;
	size_t nrule_files;
	int64_t eval_interval;
	const char **order;
	size_t norder;
	struct ut_group *groups;
	size_t ngroups;
};

struct dec {
	struct obs_buf *errs;
	struct ut_file *f;
	struct ut_group *g;
	void *cur;
};

/* everything decoded points into the YAML document, or is malloc'd here */
static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p) {
		fprintf(stderr, "obs-alert: out of memory\n");
		exit(2);
	}
	return p;
}

static int kv_add(void *ctx, const char *k, const char *v, int line)
{
	struct kvlist *l = ctx;
	struct kv *n = realloc(l->v, (l->n + 1) * sizeof *n);
	if (!n)
		return -ENOMEM;
	l->v = n;
	n[l->n].k = (char *)k;
	n[l->n].v = (char *)v;
	l->n++;
	(void)line;
	return 0;
}

static int dur(struct dec *d, yaml_node_t *v, int64_t *ms)
{
	const char *s = obs_ynode_str(v, d->errs);
	if (!s || !*s)
		return 0;
	if (obs_model_duration_parse(s, ms) < 0)
		obs_yerr(d->errs, "not a valid duration string: \"%s\"", s);
	return 0;
}

static const char *const k_alert[] = { "exp_labels", "exp_annotations", NULL };
static int f_alert(void *ctx, struct obs_ydoc *doc, const char *key, yaml_node_t *v)
{
	struct dec *d = ctx;
	struct ut_alert *a = d->cur;
	return obs_ymap_strings(doc, v, kv_add, key[4] == 'l' ? &a->labels : &a->annotations, d->errs);
}

static const char *const k_atest[] = { "eval_time", "alertname", "exp_alerts", NULL };
static int f_atest(void *ctx, struct obs_ydoc *doc, const char *key, yaml_node_t *v)
{
	struct dec *d = ctx;
	struct ut_atest *t = d->cur;
	if (!strcmp(key, "eval_time"))
		return dur(d, v, &t->eval_time);
	if (!strcmp(key, "alertname")) {
		t->alertname = obs_ynode_str(v, d->errs);
		return 0;
	}
	size_t n = obs_yseq_len(doc, v, "[]main.alert", d->errs);
	t->exp = xcalloc(n, sizeof *t->exp);
	t->nexp = n;
	for (size_t i = 0; i < n; i++) {
		d->cur = &t->exp[i];
		int r = obs_ymap_each(doc, obs_yseq_item(doc, v, i), k_alert, "main.alert", f_alert, d, d->errs);
		if (r < 0)
			return r;
	}
	d->cur = t;
	return 0;
}

static const char *const k_sample[] = { "labels", "value", NULL };
static int f_sample(void *ctx, struct obs_ydoc *doc, const char *key, yaml_node_t *v)
{
	struct dec *d = ctx;
	struct ut_sample *s = d->cur;
	const char *t = obs_ynode_str(v, d->errs);
	if (!t)
		return 0;
	if (!strcmp(key, "labels")) {
		s->labels = t;
		return 0;
	}
	const char *p = t;
	if (!strcmp(t, ".inf") || !strcmp(t, ".Inf") || !strcmp(t, "+.inf"))
		p = "+Inf";
	else if (!strcmp(t, "-.inf") || !strcmp(t, "-.Inf"))
		p = "-Inf";
	else if (!strcmp(t, ".nan") || !strcmp(t, ".NaN"))
		p = "NaN";
	if (*t && obs_num_parse(p, strlen(p), &s->value) < 0)
		obs_yerr(d->errs, "line %d: cannot unmarshal !!str `%s` into float64", obs_ynode_line(v), t);
	(void)doc;
	return 0;
}

static const char *const k_ptest[] = { "expr", "eval_time", "exp_samples", NULL };
static int f_ptest(void *ctx, struct obs_ydoc *doc, const char *key, yaml_node_t *v)
{
	struct dec *d = ctx;
	struct ut_ptest *t = d->cur;
	if (!strcmp(key, "eval_time"))
		return dur(d, v, &t->eval_time);
	if (!strcmp(key, "expr")) {
		t->expr = obs_ynode_str(v, d->errs);
		return 0;
	}
	size_t n = obs_yseq_len(doc, v, "[]main.sample", d->errs);
	t->exp = xcalloc(n, sizeof *t->exp);
	t->nexp = n;
	for (size_t i = 0; i < n; i++) {
		t->exp[i].labels = "";
		d->cur = &t->exp[i];
		int r = obs_ymap_each(doc, obs_yseq_item(doc, v, i), k_sample, "main.sample", f_sample, d, d->errs);
		if (r < 0)
			return r;
	}
	d->cur = t;
	return 0;
}

static const char *const k_series[] = { "series", "values", NULL };
static int f_series(void *ctx, struct obs_ydoc *doc, const char *key, yaml_node_t *v)
{
	struct dec *d = ctx;
	struct ut_series *s = d->cur;
	const char *t = obs_ynode_str(v, d->errs);
	if (t)
		*(key[0] == 's' ? &s->series : &s->values) = t;
	(void)doc;
	return 0;
}

static const char *const k_group[] = { "name", "interval", "input_series", "alert_rule_test", "promql_expr_test",
				       "external_labels", "external_url", NULL };
static int f_group(void *ctx, struct obs_ydoc *doc, const char *key, yaml_node_t *v)
{
	struct dec *d = ctx;
	struct ut_group *g = d->g;
	if (!strcmp(key, "name")) {
		g->name = obs_ynode_str(v, d->errs);
	} else if (!strcmp(key, "interval")) {
		g->has_interval = 1;
		return dur(d, v, &g->interval);
	} else if (!strcmp(key, "external_url")) {
		g->ext_url = obs_ynode_str(v, d->errs);
	} else if (!strcmp(key, "external_labels")) {
		return obs_ymap_strings(doc, v, kv_add, &g->ext, d->errs);
	} else if (!strcmp(key, "input_series")) {
		size_t n = obs_yseq_len(doc, v, "[]main.series", d->errs);
		g->in = xcalloc(n, sizeof *g->in);
		g->nin = n;
		for (size_t i = 0; i < n; i++) {
			g->in[i].series = g->in[i].values = "";
			d->cur = &g->in[i];
			int r = obs_ymap_each(doc, obs_yseq_item(doc, v, i), k_series, "main.series", f_series, d, d->errs);
			if (r < 0)
				return r;
		}
	} else if (!strcmp(key, "alert_rule_test")) {
		size_t n = obs_yseq_len(doc, v, "[]main.alertTestCase", d->errs);
		g->at = xcalloc(n, sizeof *g->at);
		g->nat = n;
		for (size_t i = 0; i < n; i++) {
			g->at[i].alertname = "";
			d->cur = &g->at[i];
			int r = obs_ymap_each(doc, obs_yseq_item(doc, v, i), k_atest, "main.alertTestCase", f_atest, d,
					      d->errs);
			if (r < 0)
				return r;
		}
	} else {
		size_t n = obs_yseq_len(doc, v, "[]main.promqlTestCase", d->errs);
		g->pt = xcalloc(n, sizeof *g->pt);
		g->npt = n;
		for (size_t i = 0; i < n; i++) {
			g->pt[i].expr = "";
			d->cur = &g->pt[i];
			int r = obs_ymap_each(doc, obs_yseq_item(doc, v, i), k_ptest, "main.promqlTestCase", f_ptest, d,
					      d->errs);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static const char **strlist(struct dec *d, struct obs_ydoc *doc, yaml_node_t *v, size_t *n)
{
	*n = obs_yseq_len(doc, v, "[]string", d->errs);
	const char **l = xcalloc(*n, sizeof *l);
	for (size_t i = 0; i < *n; i++) {
		l[i] = obs_ynode_str(obs_yseq_item(doc, v, i), d->errs);
		if (!l[i])
			l[i] = "";
	}
	return l;
}

static const char *const k_file[] = { "rule_files", "evaluation_interval", "group_eval_order", "tests", NULL };
static int f_file(void *ctx, struct obs_ydoc *doc, const char *key, yaml_node_t *v)
{
	struct dec *d = ctx;
	struct ut_file *f = d->f;
	if (!strcmp(key, "rule_files")) {
		f->rule_files = strlist(d, doc, v, &f->nrule_files);
	} else if (!strcmp(key, "evaluation_interval")) {
		return dur(d, v, &f->eval_interval);
	} else if (!strcmp(key, "group_eval_order")) {
		f->order = strlist(d, doc, v, &f->norder);
	} else {
		size_t n = obs_yseq_len(doc, v, "[]main.testGroup", d->errs);
		f->groups = xcalloc(n, sizeof *f->groups);
		f->ngroups = n;
		for (size_t i = 0; i < n; i++) {
			d->g = &f->groups[i];
			int r = obs_ymap_each(doc, obs_yseq_item(doc, v, i), k_group, "main.testGroup", f_group, d, d->errs);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static void ut_free(struct ut_file *f)
{
	for (size_t i = 0; i < f->ngroups; i++) {
		struct ut_group *g = &f->groups[i];
		for (size_t j = 0; j < g->nat; j++) {
			for (size_t k = 0; k < g->at[j].nexp; k++) {
				free(g->at[j].exp[k].labels.v);
				free(g->at[j].exp[k].annotations.v);
			}
			free(g->at[j].exp);
		}
		for (size_t j = 0; j < g->npt; j++)
			free(g->pt[j].exp);
		free(g->in);
		free(g->at);
		free(g->pt);
		free(g->ext.v);
	}
	free(f->groups);
	free(f->rule_files);
	free(f->order);
}

/* ---- errors, as promtool prints them ---- */

struct errlist {
	char **v;
	size_t n;
};

static void err_add(struct errlist *e, struct obs_buf *b)
{
	char **v = realloc(e->v, (e->n + 1) * sizeof *v);
	if (!v)
		exit(2);
	e->v = v;
	v[e->n++] = obs_buf_detach(b, NULL);
}

static void err_addf(struct errlist *e, const char *fmt, const char *a, const char *b)
{
	struct obs_buf t;
	obs_buf_init(&t);
	obs_buf_printf(&t, fmt, a, b);
	err_add(e, &t);
}

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

static int labels_cmp(const struct obs_labels *a, const struct obs_labels *b)
{
	size_t n = a->n < b->n ? a->n : b->n;
	for (size_t i = 0; i < n; i++) {
		int c = strcmp(a->v[i].name, b->v[i].name);
		if (c)
			return c;
		c = strcmp(a->v[i].value, b->v[i].value);
		if (c)
			return c;
	}
	return a->n < b->n ? -1 : a->n > b->n;
}

struct la {
	struct obs_labels l, a;
};

static int la_cmp(const void *x, const void *y)
{
	const struct la *p = x, *q = y;
	int c = labels_cmp(&p->l, &q->l);
	return c ? c : labels_cmp(&p->a, &q->a);
}

static void indent(struct obs_buf *out, const char *s, const char *ind)
{
	for (const char *p = s; *p; p++) {
		obs_buf_putc(out, *p);
		if (*p == '\n' && p[1])
			obs_buf_puts(out, ind);
		else if (*p == '\n')
			obs_buf_puts(out, ind);
	}
}

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

static int kv_labels(const struct kvlist *kv, const char *alertname, struct obs_labels *out)
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

/* ---- running one test group ---- */

static int mem_append(void *ctx, const struct obs_labels *l, int64_t t, double v)
{
	return obs_query_mem_add(ctx, l, t, v);
}

static void load_rules(const struct ut_file *f, struct obs_ruleeval *e, struct errlist *errs)
{
	for (size_t i = 0; i < f->nrule_files; i++) {
		const char *path = f->rule_files[i];
		char *text;
		size_t n;
		int r = obs_read_file(path, 0, &text, &n);
		if (r < 0) {
			err_addf(errs, "%s: %s", path, strerror(-r));
			continue;
		}
		struct obs_buf eb;
		obs_buf_init(&eb);
		struct obs_rule_file *rf;
		r = obs_rules_parse(text, n, &rf, &eb);
		free(text);
		if (r < 0) {
			for (char *p = eb.data; p && *p;) {
				char *nl = strchr(p, '\n');
				if (nl)
					*nl = 0;
				err_addf(errs, "%s: %s", path, p);
				p = nl ? nl + 1 : p + strlen(p);
			}
			if (r == -ENOMEM)
				err_addf(errs, "%s: %s", path, "out of memory");
			obs_buf_release(&eb);
			continue;
		}
		obs_buf_release(&eb);
		if (obs_ruleeval_set(e, path, rf, 0) < 0)
			err_addf(errs, "%s: %s", path, "out of memory");
	}
}

static void model_dur(int64_t ms, char *b)
{
	obs_model_duration_format(ms, b);
}

static void run_group(const struct ut_file *f, const struct ut_group *g, struct errlist *errs)
{
	int64_t interval = g->has_interval ? g->interval : f->eval_interval;
	if (!g->has_interval)
		interval = 0;   /* promtool 2.42: "load 0s" puts every value at 0 */
	struct obs_query_mem *mem = obs_query_mem_new();
	if (!mem)
		exit(2);
	/* input series */
	for (size_t i = 0; i < g->nin; i++) {
		struct obs_buf line;
		obs_buf_init(&line);
		obs_buf_printf(&line, "%s %s", g->in[i].series, g->in[i].values);
		struct obs_labels l;
		struct obs_query_seqval *v;
		size_t n;
		char err[300];
		if (obs_query_parse_series_desc(line.data, line.len, &l, &v, &n, err, sizeof err) < 0) {
			struct obs_buf b;
			obs_buf_init(&b);
			obs_buf_printf(&b, "error in input_series %s: %s", g->in[i].series, err);
			err_add(errs, &b);
			obs_buf_release(&line);
			obs_query_mem_free(mem);
			return;
		}
		obs_buf_release(&line);
		int added = 0;
		for (size_t k = 0; k < n; k++)
			if (!v[k].omitted && !v[k].histogram && !(interval == 0 && added)) {
				/* a repeated timestamp (interval 0) keeps the first, as Prometheus' storage does */
				obs_query_mem_add(mem, &l, (int64_t)k * interval, v[k].v);
				added = 1;
			}
		obs_labels_release(&l);
		free(v);
	}
	struct obs_labels ext;
	obs_labels_init(&ext);
	kv_labels(&g->ext, NULL, &ext);
	struct obs_ruleeval_opts o;
	obs_ruleeval_opts_default(&o);
	o.store = obs_query_mem_store(mem);
	o.out = (struct obs_rule_appender){ mem_append, mem };
	o.external_labels = &ext;
	o.external_url = g->ext_url;
	o.default_interval_ms = g->has_interval && g->interval ? g->interval : 60000;
	struct obs_ruleeval *e;
	if (obs_ruleeval_new(&o, &e) < 0)
		exit(2);
	size_t before = errs->n;
	load_rules(f, e, errs);
	if (errs->n > before)
		goto done;
	for (size_t i = 0; i < g->nat; i++)
		if (!*g->at[i].alertname) {
			struct obs_buf b;
			char d[32];
			model_dur(g->at[i].eval_time, d);
			obs_buf_init(&b);
			obs_buf_printf(&b, "an item under alert_rule_test misses required attribute alertname at eval_time %s", d);
			if (g->name && *g->name)
				obs_buf_printf(&b, " (in TestGroup %s)", g->name);
			err_add(errs, &b);
			goto done;
		}
	int64_t maxt = 0;
	for (size_t i = 0; i < g->nat; i++)
		if (g->at[i].eval_time > maxt)
			maxt = g->at[i].eval_time;
	for (size_t i = 0; i < g->npt; i++)
		if (g->pt[i].eval_time > maxt)
			maxt = g->pt[i].eval_time;
	/* alert tests sorted by eval time */
	size_t *ord = xcalloc(g->nat, sizeof *ord);
	for (size_t i = 0; i < g->nat; i++)
		ord[i] = i;
	for (size_t i = 1; i < g->nat; i++)
		for (size_t j = i; j > 0 && g->at[ord[j - 1]].eval_time > g->at[ord[j]].eval_time; j--) {
			size_t t = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
	size_t cur = 0;
	int64_t step = f->eval_interval;
	for (int64_t ts = 0; ts <= maxt; ts += step) {
		struct obs_buf eb;
		obs_buf_init(&eb);
		size_t nerr = obs_ruleeval_eval_all(e, ts, f->order, f->norder, &eb);
		if (nerr) {
			for (char *p = eb.data; p && *p;) {
				char *nl = strchr(p, '\n');
				struct obs_buf one;
				obs_buf_init(&one);
				obs_buf_append(&one, p, nl ? (size_t)(nl - p) : strlen(p));
				err_add(errs, &one);
				p = nl ? nl + 1 : p + strlen(p);
			}
			obs_buf_release(&eb);
			free(ord);
			goto done;
		}
		obs_buf_release(&eb);
		while (cur < g->nat && g->at[ord[cur]].eval_time >= ts && g->at[ord[cur]].eval_time < ts + step) {
			const struct ut_atest *t = &g->at[ord[cur]];
			struct obs_alert *al;
			size_t nal;
			if (obs_ruleeval_alerts(e, t->alertname, &al, &nal) < 0)
				exit(2);
			struct la *got = xcalloc(nal, sizeof *got), *exp = xcalloc(t->nexp, sizeof *exp);
			size_t ngot = 0;
			for (size_t k = 0; k < nal; k++)
				if (al[k].state == OBS_ALERT_FIRING) {
					got[ngot].l = al[k].labels;
					got[ngot].a = al[k].annotations;
					obs_labels_init(&al[k].labels);
					obs_labels_init(&al[k].annotations);
					ngot++;
				}
			obs_ruleeval_alerts_free(al, nal);
			for (size_t k = 0; k < t->nexp; k++) {
				kv_labels(&t->exp[k].labels, t->alertname, &exp[k].l);
				kv_labels(&t->exp[k].annotations, NULL, &exp[k].a);
			}
			qsort(got, ngot, sizeof *got, la_cmp);
			qsort(exp, t->nexp, sizeof *exp, la_cmp);
			int same = ngot == t->nexp;
			for (size_t k = 0; same && k < ngot; k++)
				same = !la_cmp(&got[k], &exp[k]);
			if (!same) {
				struct obs_buf b, es, gs;
				obs_buf_init(&b);
				obs_buf_init(&es);
				obs_buf_init(&gs);
				struct obs_buf tmp;
				obs_buf_init(&tmp);
				la_string(exp, t->nexp, &tmp);
				indent(&es, tmp.data, "            ");
				obs_buf_reset(&tmp);
				la_string(got, ngot, &tmp);
				indent(&gs, tmp.data, "            ");
				obs_buf_release(&tmp);
				char d[32];
				model_dur(t->eval_time, d);
				if (g->name && *g->name)
					obs_buf_printf(&b, "    name: %s,\n", g->name);
				obs_buf_printf(&b, "    alertname: %s, time: %s, \n        exp:%s, \n        got:%s", t->alertname,
					       d, es.data, gs.data);
				obs_buf_release(&es);
				obs_buf_release(&gs);
				err_add(errs, &b);
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
			cur++;
		}
	}
	free(ord);
	/* expression tests */
	for (size_t i = 0; i < g->npt; i++) {
		const struct ut_ptest *t = &g->pt[i];
		char d[32];
		model_dur(t->eval_time, d);
		struct obs_buf qexpr;
		obs_buf_init(&qexpr);
		obs_tmpl_go_quote(&qexpr, t->expr, strlen(t->expr));
		struct obs_query_expr *qe;
		char perr[600];
		struct obs_query_result res;
		memset(&res, 0, sizeof res);
		int rc = obs_query_parse(t->expr, strlen(t->expr), &qe, perr, sizeof perr);
		if (!rc) {
			rc = obs_query_instant(&o.qopts, &o.store, qe, t->eval_time, &res);
			if (rc)
				snprintf(perr, sizeof perr, "%s", res.err);
			else if (res.type != OBS_QV_VECTOR && res.type != OBS_QV_SCALAR) {
				rc = -EINVAL;
				snprintf(perr, sizeof perr, "rule result is not a vector or scalar");
			}
			obs_query_expr_free(qe);
		}
		if (rc) {
			struct obs_buf b;
			obs_buf_init(&b);
			obs_buf_printf(&b, "    expr: %s, time: %s, err: %s", qexpr.data, d, perr);
			err_add(errs, &b);
			obs_query_result_release(&res);
			obs_buf_release(&qexpr);
			continue;
		}
		struct la *got = xcalloc(res.nseries, sizeof *got), *exp = xcalloc(t->nexp, sizeof *exp);
		double *gv = xcalloc(res.nseries, sizeof *gv), *ev = xcalloc(t->nexp, sizeof *ev);
		size_t ngot = 0;
		for (size_t k = 0; k < res.nseries; k++)
			if (res.series[k].n) {
				obs_labels_copy(&got[ngot].l, &res.series[k].labels);
				obs_labels_init(&got[ngot].a);
				gv[ngot++] = res.series[k].v[res.series[k].n - 1];
			}
		obs_query_result_release(&res);
		int bad = 0;
		for (size_t k = 0; k < t->nexp; k++) {
			const char *why = NULL;
			obs_labels_init(&exp[k].a);
			const char *lt = t->exp[k].labels;
			while (*lt == ' ')
				lt++;
			if (*lt && strcmp(lt, "{}") &&
			    obs_labels_parse(t->exp[k].labels, strlen(t->exp[k].labels), &exp[k].l, &why) < 0) {
				struct obs_buf b;
				obs_buf_init(&b);
				obs_buf_printf(&b, "    expr: %s, time: %s, err: labels \"%s\": %s", qexpr.data, d,
					       t->exp[k].labels, why ? why : "invalid");
				err_add(errs, &b);
				bad = 1;
				break;
			}
			ev[k] = t->exp[k].value;
		}
		if (!bad) {
			/* sort indexes by labels, carrying values */
			for (int pass = 0; pass < 2; pass++) {
				struct la *v = pass ? got : exp;
				double *vals = pass ? gv : ev;
				size_t n = pass ? ngot : t->nexp;
				for (size_t a = 1; a < n; a++)
					for (size_t b = a; b > 0 && labels_cmp(&v[b - 1].l, &v[b].l) > 0; b--) {
						struct la tl = v[b];
						v[b] = v[b - 1];
						v[b - 1] = tl;
						double tv = vals[b];
						vals[b] = vals[b - 1];
						vals[b - 1] = tv;
					}
			}
			int same = ngot == t->nexp;
			for (size_t k = 0; same && k < ngot; k++)
				same = !labels_cmp(&got[k].l, &exp[k].l) && gv[k] == ev[k];
			if (!same) {
				struct obs_buf b;
				obs_buf_init(&b);
				obs_buf_printf(&b, "    expr: %s, time: %s,\n        exp: ", qexpr.data, d);
				for (int pass = 0; pass < 2; pass++) {
					struct la *v = pass ? got : exp;
					double *vals = pass ? gv : ev;
					size_t n = pass ? ngot : t->nexp;
					if (pass)
						obs_buf_puts(&b, "\n        got: ");
					if (!n)
						obs_buf_puts(&b, "nil");
					for (size_t k = 0; k < n; k++) {
						char fb[48];
						go_float_E(vals[k], fb);
						if (k)
							obs_buf_puts(&b, ", ");
						alert_go_labels(&v[k].l, &b);
						obs_buf_printf(&b, " %s", fb);
					}
				}
				err_add(errs, &b);
			}
		}
		for (size_t k = 0; k < ngot; k++)
			obs_labels_release(&got[k].l);
		for (size_t k = 0; k < t->nexp; k++)
			obs_labels_release(&exp[k].l);
		free(got);
		free(exp);
		free(gv);
		free(ev);
		obs_buf_release(&qexpr);
	}
done:
	obs_ruleeval_free(e);
	obs_query_mem_free(mem);
	obs_labels_release(&ext);
}

/* returns 1 when the file passed */
static int test_file(const char *path)
{
	printf("Unit Testing:  %s\n", path);
	fflush(stdout);
	struct errlist errs = { 0 };
	char *text = NULL;
	size_t n;
	struct obs_ydoc doc;
	memset(&doc, 0, sizeof doc);
	struct ut_file f = { 0 };
	int r = obs_read_file(path, 0, &text, &n);
	if (r < 0) {
		err_addf(&errs, "open %s: %s", path, strerror(-r));
		goto report;
	}
	char yerr[400];
	if (obs_ydoc_load(&doc, text, n, yerr, sizeof yerr) < 0) {
		err_addf(&errs, "%s%s", yerr, "");
		goto report;
	}
	struct obs_buf eb;
	obs_buf_init(&eb);
	struct dec d = { .errs = &eb, .f = &f };
	obs_ymap_each(&doc, obs_ydoc_root(&doc), k_file, "main.unitTestFile", f_file, &d, &eb);
	if (eb.len) {
		struct obs_buf b;
		obs_buf_init(&b);
		obs_buf_puts(&b, "yaml: unmarshal errors:");
		for (char *p = eb.data; *p;) {
			char *nl = strchr(p, '\n');
			obs_buf_printf(&b, "\n  %.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
			p = nl ? nl + 1 : p + strlen(p);
		}
		err_add(&errs, &b);
		obs_buf_release(&eb);
		goto report;
	}
	obs_buf_release(&eb);
	if (!f.eval_interval)
		f.eval_interval = 60000;
	for (size_t i = 0; i < f.norder; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(f.order[i], f.order[j])) {
				err_addf(&errs, "group name repeated in evaluation order: %s%s", f.order[i], "");
				goto report;
			}
	/* rule_files: relative to the test file, globbed */
	char *dircopy = strdup(path);
	const char *base = dirname(dircopy);
	const char **files = NULL;
	size_t nfiles = 0;
	char **owned = NULL;
	size_t nowned = 0;
	for (size_t i = 0; i < f.nrule_files; i++) {
		const char *rf = f.rule_files[i];
		char full[4096];
		if (*rf && rf[0] != '/')
			snprintf(full, sizeof full, "%s/%s", base, rf);
		else
			snprintf(full, sizeof full, "%s", rf);
		/* filepath.Join cleans "./" */
		char *clean = full;
		while (!strncmp(clean, "./", 2) && clean[2])
			clean += 2;
		glob_t gl;
		int gr = glob(clean, 0, NULL, &gl);
		if (gr == GLOB_NOMATCH || (gr == 0 && gl.gl_pathc == 0))
			fprintf(stderr, "  WARNING: no file match pattern %s\n", clean);
		for (size_t k = 0; gr == 0 && k < gl.gl_pathc; k++) {
			files = realloc(files, (nfiles + 1) * sizeof *files);
			owned = realloc(owned, (nowned + 1) * sizeof *owned);
			if (!files || !owned)
				exit(2);
			owned[nowned] = strdup(gl.gl_pathv[k]);
			files[nfiles++] = owned[nowned++];
		}
		if (gr == 0)
			globfree(&gl);
	}
	free(f.rule_files);
	f.rule_files = files;
	f.nrule_files = nfiles;
	for (size_t i = 0; i < f.ngroups; i++)
		run_group(&f, &f.groups[i], &errs);
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(dircopy);
report:
	ut_free(&f);
	obs_ydoc_release(&doc);
	free(text);
	int ok = errs.n == 0;
	if (!ok) {
		fprintf(stderr, "  FAILED:\n");
		for (size_t i = 0; i < errs.n; i++) {
			fprintf(stderr, "%s\n", errs.v[i]);
			fflush(stderr);
			printf("\n");
			fflush(stdout);
		}
	} else {
		printf("  SUCCESS\n");
	}
	printf("\n");
	fflush(stdout);
	for (size_t i = 0; i < errs.n; i++)
		free(errs.v[i]);
	free(errs.v);
	return ok;
}

int alert_cmd_test(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: obs-alert test FILE...\n");
		return 2;
	}
	int failed = 0;
	for (int i = 1; i < argc; i++)
		if (!test_file(argv[i]))
			failed = 1;
	return failed;
}
