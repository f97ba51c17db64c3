/* alert_test_load.c — the test file of `obs-alert test`, decoded as
 * promtool (2.42) decodes it: yaml.v3 strict decoding into its types
 * (main.unitTestFile, main.testGroup, ...), so an unknown field or a wrong
 * type is refused with yaml.v3's words. Then the defaults
 * (evaluation_interval 1m), group_eval_order without repeats, and
 * rule_files relative to the test file's directory, globbed.
 *
 * A test file: rule_files (relative to the test file; globs),
 * evaluation_interval (1m), group_eval_order, tests: [{name, interval,
 * input_series: [{series, values}], external_labels, external_url,
 * alert_rule_test: [{eval_time, alertname, exp_alerts: [{exp_labels,
 * exp_annotations}]}], promql_expr_test: [{expr, eval_time, exp_samples:
 * [{labels, value}]}]}]. */
#include "alert_test.h"
#include "core/fileio.h"
#include "core/num.h"

#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dec {
	struct obs_buf *errs;
	struct ut_file *f;
	struct ut_group *g;
	void *cur;
};

void *ut_xcalloc(size_t n, size_t sz)
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
	t->exp = ut_xcalloc(n, sizeof *t->exp);
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
	t->exp = ut_xcalloc(n, sizeof *t->exp);
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
		g->in = ut_xcalloc(n, sizeof *g->in);
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
		g->at = ut_xcalloc(n, sizeof *g->at);
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
		g->pt = ut_xcalloc(n, sizeof *g->pt);
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
	const char **l = ut_xcalloc(*n, sizeof *l);
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
		f->groups = ut_xcalloc(n, sizeof *f->groups);
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

void ut_free(struct ut_file *f)
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
	for (size_t i = 0; i < f->nrule_paths; i++)
		free(f->rule_paths[i]);
	free(f->rule_paths);
	free(f->order);
	obs_ydoc_release(&f->doc);
	free(f->text);
	memset(f, 0, sizeof *f);
}

/* rule_files: relative to the test file, globbed */
static void resolve_rule_files(const char *path, struct ut_file *f)
{
	char *dircopy = strdup(path);
	if (!dircopy)
		exit(2);
	const char *base = dirname(dircopy);
	for (size_t i = 0; i < f->nrule_files; i++) {
		const char *rf = f->rule_files[i];
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
			char **v = realloc(f->rule_paths, (f->nrule_paths + 1) * sizeof *v);
			if (!v || !(v[f->nrule_paths] = strdup(gl.gl_pathv[k])))
				exit(2);
			f->rule_paths = v;
			f->nrule_paths++;
		}
		if (gr == 0)
			globfree(&gl);
	}
	free(dircopy);
}

int ut_load(const char *path, struct ut_file *f, struct ut_errs *errs)
{
	size_t n;
	int r = obs_read_file(path, 0, &f->text, &n);
	if (r < 0) {
		ut_err_addf(errs, "open %s: %s", path, strerror(-r));
		return -1;
	}
	char yerr[400];
	if (obs_ydoc_load(&f->doc, f->text, n, yerr, sizeof yerr) < 0) {
		ut_err_addf(errs, "%s%s", yerr, "");
		return -1;
	}
	struct obs_buf eb;
	obs_buf_init(&eb);
	struct dec d = { .errs = &eb, .f = f };
	obs_ymap_each(&f->doc, obs_ydoc_root(&f->doc), k_file, "main.unitTestFile", f_file, &d, &eb);
	if (eb.len) {
		struct obs_buf b;
		obs_buf_init(&b);
		obs_buf_puts(&b, "yaml: unmarshal errors:");
		for (char *p = eb.data; *p;) {
			char *nl = strchr(p, '\n');
			obs_buf_printf(&b, "\n  %.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
			p = nl ? nl + 1 : p + strlen(p);
		}
		ut_err_add(errs, &b);
		obs_buf_release(&eb);
		return -1;
	}
	obs_buf_release(&eb);
	if (!f->eval_interval)
		f->eval_interval = 60000;
	for (size_t i = 0; i < f->norder; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(f->order[i], f->order[j])) {
				ut_err_addf(errs, "group name repeated in evaluation order: %s%s", f->order[i], "");
				return -1;
			}
	resolve_rule_files(path, f);
	return 0;
}
