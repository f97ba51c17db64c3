/* rules.c — Prometheus rule files: strict YAML decoding (yaml.v3's errors)
 * then rulefmt's validation, with its messages and positions. */
#include "alert/rules.h"
#include "alert/yamldoc.h"
#include "core/labels.h"
#include "core/utf8.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* qsort without the undefined behaviour of a NULL base for 0 items */
static void obs_qsort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, sz, cmp);
}

/* what decoding keeps for validation */
struct kvs {
	struct obs_rule_kv *v;
	size_t n;
	int line;
};

struct drule {
	yaml_node_t *node, *record, *alert, *expr;
	const char *record_s, *alert_s, *expr_s;
	int64_t for_ms, kff_ms;
	struct kvs labels, annotations;
	int has_annotations;
};

struct dgroup {
	yaml_node_t *node;
	const char *name;
	int64_t interval_ms, offset_ms, limit;
	struct kvs labels;
	struct drule *rules;
	size_t nrules;
};

struct decoder {
	struct obs_ydoc *doc;
	struct obs_buf *errs;
	struct dgroup *groups;
	size_t ngroups;
	struct dgroup *g;     /* being decoded */
	struct drule *r;
	int nomem;
};

static void kvs_release(struct kvs *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->v[i].name);
		free(k->v[i].value);
		obs_tmpl_free(k->v[i].tmpl);
	}
	free(k->v);
	k->v = NULL;
	k->n = 0;
}

static int kv_add(void *ctx, const char *key, const char *val, int line)
{
	struct kvs *k = ctx;
	struct obs_rule_kv *v = realloc(k->v, (k->n + 1) * sizeof *v);
	if (!v)
		return -ENOMEM;
	k->v = v;
	v[k->n].name = strdup(key);
	v[k->n].value = strdup(val);
	v[k->n].tmpl = NULL;
	if (!v[k->n].name || !v[k->n].value) {
		free(v[k->n].name);
		free(v[k->n].value);
		return -ENOMEM;
	}
	k->n++;
	(void)line;
	return 0;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct obs_rule_kv *)a)->name, ((const struct obs_rule_kv *)b)->name);
}

static int duration(struct decoder *dc, yaml_node_t *v, int64_t *ms)
{
	const char *s = obs_ynode_str(v, dc->errs);
	if (!s)
		return 0;
	if (!*s) {
		*ms = 0;
		return 0;
	}
	if (obs_model_duration_parse(s, ms) < 0)
		return obs_yerr(dc->errs, "line %d: not a valid duration string: \"%s\"", obs_ynode_line(v), s);
	return 0;
}

static int rule_field(void *ctx, struct obs_ydoc *d, const char *key, yaml_node_t *v)
{
	struct decoder *dc = ctx;
	struct drule *r = dc->r;
	if (!strcmp(key, "record")) {
		r->record = v;
		r->record_s = obs_ynode_str(v, dc->errs);
	} else if (!strcmp(key, "alert")) {
		r->alert = v;
		r->alert_s = obs_ynode_str(v, dc->errs);
	} else if (!strcmp(key, "expr")) {
		r->expr = v;
		r->expr_s = obs_ynode_str(v, dc->errs);
	} else if (!strcmp(key, "for")) {
		return duration(dc, v, &r->for_ms);
	} else if (!strcmp(key, "keep_firing_for")) {
		return duration(dc, v, &r->kff_ms);
	} else if (!strcmp(key, "labels")) {
		r->labels.line = obs_ynode_line(v);
		return obs_ymap_strings(d, v, kv_add, &r->labels, dc->errs);
	} else if (!strcmp(key, "annotations")) {
		r->annotations.line = obs_ynode_line(v);
		return obs_ymap_strings(d, v, kv_add, &r->annotations, dc->errs);
	}
	return 0;
}

static const char *const rule_keys[] = { "record", "alert", "expr", "for", "keep_firing_for", "labels",
					 "annotations", NULL };

static int group_field(void *ctx, struct obs_ydoc *d, const char *key, yaml_node_t *v)
{
	struct decoder *dc = ctx;
	struct dgroup *g = dc->g;
	if (!strcmp(key, "name")) {
		const char *s = obs_ynode_str(v, dc->errs);
		if (s)
			g->name = s;
	} else if (!strcmp(key, "interval")) {
		return duration(dc, v, &g->interval_ms);
	} else if (!strcmp(key, "query_offset")) {
		return duration(dc, v, &g->offset_ms);
	} else if (!strcmp(key, "limit")) {
		const char *s = obs_ynode_str(v, dc->errs);
		if (!s || !*s)
			return 0;
		char *end;
		errno = 0;
		long long l = strtoll(s, &end, 10);
		if (*end || errno || end == s)
			return obs_yerr(dc->errs, "line %d: cannot unmarshal !!str `%s` into int", obs_ynode_line(v), s);
		g->limit = l;
	} else if (!strcmp(key, "labels")) {
		g->labels.line = obs_ynode_line(v);
		return obs_ymap_strings(d, v, kv_add, &g->labels, dc->errs);
	} else if (!strcmp(key, "rules")) {
		size_t n = obs_yseq_len(d, v, "[]rulefmt.RuleNode", dc->errs);
		if (!n)
			return 0;
		g->rules = calloc(n, sizeof *g->rules);
		if (!g->rules)
			return -ENOMEM;
		g->nrules = n;
		for (size_t i = 0; i < n; i++) {
			struct drule *r = &g->rules[i];
			r->node = obs_yseq_item(d, v, i);
			r->record_s = r->alert_s = r->expr_s = "";
			dc->r = r;
			int rc = obs_ymap_each(d, r->node, rule_keys, "rulefmt.RuleNode", rule_field, dc, dc->errs);
			if (rc < 0)
				return rc;
			if (!r->record_s)
				r->record_s = "";
			if (!r->alert_s)
				r->alert_s = "";
			if (!r->expr_s)
				r->expr_s = "";
		}
	}
	return 0;
}

static const char *const group_keys[] = { "name", "interval", "query_offset", "limit", "labels", "rules", NULL };

static int top_field(void *ctx, struct obs_ydoc *d, const char *key, yaml_node_t *v)
{
	struct decoder *dc = ctx;
	size_t n = obs_yseq_len(d, v, "[]rulefmt.RuleGroup", dc->errs);
	if (!n)
		return 0;
	dc->groups = calloc(n, sizeof *dc->groups);
	if (!dc->groups)
		return -ENOMEM;
	dc->ngroups = n;
	for (size_t j = 0; j < n; j++) {
		struct dgroup *g = &dc->groups[j];
		g->node = obs_yseq_item(d, v, j);
		g->name = "";
		dc->g = g;
		int rc = obs_ymap_each(d, g->node, group_keys, "rulefmt.RuleGroup", group_field, dc, dc->errs);
		if (rc < 0)
			return rc;
	}
	(void)key;
	return 0;
}

static const char *const top_keys[] = { "groups", NULL };

/* ---- validation (rulefmt's Validate) ---- */

#define RULE_ERR(fmt, ...) \
	obs_yerr(errs, fmt "group \"%s\", rule %zu, \"%s\": %s", __VA_ARGS__)

static int validate_labels(struct obs_buf *errs, const struct kvs *k, const char *gname, size_t ri,
			   const char *rname, int group_level)
{
	char msg[600];
	for (size_t i = 0; i < k->n; i++) {
		const char *n = k->v[i].name, *v = k->v[i].value;
		msg[0] = 0;
		if (!obs_label_name_valid(n, strlen(n)) || !strcmp(n, "__name__"))
			snprintf(msg, sizeof msg, "invalid label name: %s", n);
		else if (!obs_utf8_valid(v, strlen(v)))
			snprintf(msg, sizeof msg, "invalid label value: %s", v);
		if (!msg[0])
			continue;
		if (group_level ? obs_yerr(errs, "%s", msg) : obs_yerr(errs, "group \"%s\", rule %zu, \"%s\": %s", gname, ri,
									rname, msg))
			return -ENOMEM;
	}
	return 0;
}

static int validate_rule(struct obs_buf *errs, struct drule *r, const char *gname, size_t ri)
{
	const char *name = *r->alert_s ? r->alert_s : r->record_s;
	int rl = obs_ynode_line(r->record), rc = obs_ynode_col(r->record);
	char pos[40] = "";
	if (r->record)
		snprintf(pos, sizeof pos, "%d:%d: ", rl, rc);
	if (*r->record_s && *r->alert_s)
		RULE_ERR("%d:%d: %d:%d: ", rl, rc, obs_ynode_line(r->alert), obs_ynode_col(r->alert), gname, ri, name,
			 "only one of 'record' and 'alert' must be set");
	if (!*r->record_s && !*r->alert_s)
		RULE_ERR("%d:%d: ", obs_ynode_line(r->node), obs_ynode_col(r->node), gname, ri, name,
			 "one of 'record' or 'alert' must be set");
	if (!*r->expr_s) {
		yaml_node_t *at = r->expr ? r->expr : r->node;
		RULE_ERR("%d:%d: ", obs_ynode_line(at), obs_ynode_col(at), gname, ri, name,
			 "field 'expr' must be set in rule");
	} else {
		char perr[400], msg[460];
		struct obs_query_expr *e;
		if (obs_query_parse(r->expr_s, strlen(r->expr_s), &e, perr, sizeof perr) < 0) {
			snprintf(msg, sizeof msg, "could not parse expression: %s", perr);
			RULE_ERR("%d:%d: ", obs_ynode_line(r->expr), obs_ynode_col(r->expr), gname, ri, name, msg);
		} else {
			obs_query_expr_free(e);
		}
	}
	if (*r->record_s) {
		if (r->annotations.n)
			RULE_ERR("%s", pos, gname, ri, name, "invalid field 'annotations' in recording rule");
		if (r->for_ms)
			RULE_ERR("%s", pos, gname, ri, name, "invalid field 'for' in recording rule");
		if (r->kff_ms)
			RULE_ERR("%s", pos, gname, ri, name, "invalid field 'keep_firing_for' in recording rule");
		if (!obs_metric_name_valid(r->record_s, strlen(r->record_s))) {
			char msg[300];
			snprintf(msg, sizeof msg, "invalid recording rule name: %s", r->record_s);
			RULE_ERR("%s", pos, gname, ri, name, msg);
		}
	}
	if (*r->alert_s && !obs_utf8_valid(r->alert_s, strlen(r->alert_s))) {
		char msg[300];
		snprintf(msg, sizeof msg, "invalid alert name: %s", r->alert_s);
		RULE_ERR("%d:%d: ", obs_ynode_line(r->alert), obs_ynode_col(r->alert), gname, ri, name, msg);
	}
	obs_qsort(r->labels.v, r->labels.n, sizeof *r->labels.v, kv_cmp);
	obs_qsort(r->annotations.v, r->annotations.n, sizeof *r->annotations.v, kv_cmp);
	if (validate_labels(errs, &r->labels, gname, ri, name, 0))
		return -ENOMEM;
	for (size_t i = 0; i < r->annotations.n; i++) {
		const char *n = r->annotations.v[i].name;
		if (!obs_label_name_valid(n, strlen(n))) {
			char msg[300];
			snprintf(msg, sizeof msg, "invalid annotation name: %s", n);
			RULE_ERR("", gname, ri, name, msg);
		}
	}
	/* templates of alerting rules */
	if (*r->alert_s) {
		char tname[300];
		snprintf(tname, sizeof tname, "__alert_%s", r->alert_s);
		for (int pass = 0; pass < 2; pass++) {
			struct kvs *k = pass ? &r->annotations : &r->labels;
			for (size_t i = 0; i < k->n; i++) {
				char terr[400], msg[500];
				int trc = obs_tmpl_parse(tname, k->v[i].value, strlen(k->v[i].value), &k->v[i].tmpl, terr,
							 sizeof terr);
				if (trc == -ENOMEM)
					return -ENOMEM;
				if (trc < 0) {
					snprintf(msg, sizeof msg, "%s \"%s\": %s", pass ? "annotation" : "label", k->v[i].name,
						 terr);
					RULE_ERR("", gname, ri, name, msg);
				}
			}
		}
	}
	return 0;
}

static void decoder_release(struct decoder *dc)
{
	for (size_t j = 0; j < dc->ngroups; j++) {
		struct dgroup *g = &dc->groups[j];
		for (size_t i = 0; i < g->nrules; i++) {
			kvs_release(&g->rules[i].labels);
			kvs_release(&g->rules[i].annotations);
		}
		free(g->rules);
		kvs_release(&g->labels);
	}
	free(dc->groups);
}

void obs_rules_free(struct obs_rule_file *f)
{
	if (!f)
		return;
	for (size_t j = 0; j < f->ngroups; j++) {
		struct obs_rule_group *g = &f->groups[j];
		for (size_t i = 0; i < g->nrules; i++) {
			struct obs_rule *r = &g->rules[i];
			struct kvs l = { r->labels, r->nlabels, 0 }, a = { r->annotations, r->nannotations, 0 };
			kvs_release(&l);
			kvs_release(&a);
			free(r->name);
			free(r->expr_text);
			obs_query_expr_free(r->expr);
		}
		free(g->rules);
		struct kvs gl = { g->labels, g->nlabels, 0 };
		kvs_release(&gl);
		free(g->name);
	}
	free(f->groups);
	free(f);
}

/* move the decoded (and validated) groups into the public structure */
static int build(struct decoder *dc, struct obs_rule_file **out)
{
	struct obs_rule_file *f = calloc(1, sizeof *f);
	if (!f)
		return -ENOMEM;
	f->groups = calloc(dc->ngroups ? dc->ngroups : 1, sizeof *f->groups);
	if (!f->groups) {
		free(f);
		return -ENOMEM;
	}
	f->ngroups = dc->ngroups;
	for (size_t j = 0; j < dc->ngroups; j++) {
		struct dgroup *dg = &dc->groups[j];
		struct obs_rule_group *g = &f->groups[j];
		g->name = strdup(dg->name);
		g->interval_ms = dg->interval_ms;
		g->query_offset_ms = dg->offset_ms;
		g->limit = dg->limit;
		g->line = obs_ynode_line(dg->node);
		obs_qsort(dg->labels.v, dg->labels.n, sizeof *dg->labels.v, kv_cmp);
		g->labels = dg->labels.v;
		g->nlabels = dg->labels.n;
		dg->labels.v = NULL;
		dg->labels.n = 0;
		g->rules = calloc(dg->nrules ? dg->nrules : 1, sizeof *g->rules);
		if (!g->name || !g->rules)
			goto nomem;
		g->nrules = dg->nrules;
		f->nrules += dg->nrules;
		for (size_t i = 0; i < dg->nrules; i++) {
			struct drule *dr = &dg->rules[i];
			struct obs_rule *r = &g->rules[i];
			r->alert = *dr->alert_s != 0;
			r->name = strdup(r->alert ? dr->alert_s : dr->record_s);
			r->expr_text = strdup(dr->expr_s);
			r->for_ms = dr->for_ms;
			r->keep_firing_for_ms = dr->kff_ms;
			r->line = obs_ynode_line(dr->node);
			/* group labels, unless the rule sets the same name */
			for (size_t k = 0; k < g->nlabels; k++) {
				int have = 0;
				for (size_t m = 0; m < dr->labels.n; m++)
					have |= !strcmp(dr->labels.v[m].name, g->labels[k].name);
				if (!have && kv_add(&dr->labels, g->labels[k].name, g->labels[k].value, 0) < 0)
					goto nomem;
				if (!have && r->alert) {
					char terr[300], tname[300];
					snprintf(tname, sizeof tname, "__alert_%s", r->name ? r->name : "");
					struct obs_rule_kv *kv = &dr->labels.v[dr->labels.n - 1];
					if (obs_tmpl_parse(tname, kv->value, strlen(kv->value), &kv->tmpl, terr, sizeof terr) == -ENOMEM)
						goto nomem;
				}
			}
			obs_qsort(dr->labels.v, dr->labels.n, sizeof *dr->labels.v, kv_cmp);
			r->labels = dr->labels.v;
			r->nlabels = dr->labels.n;
			dr->labels.v = NULL;
			dr->labels.n = 0;
			r->annotations = dr->annotations.v;
			r->nannotations = dr->annotations.n;
			dr->annotations.v = NULL;
			dr->annotations.n = 0;
			char perr[300];
			if (!r->name || !r->expr_text)
				goto nomem;
			int prc = obs_query_parse(r->expr_text, strlen(r->expr_text), &r->expr, perr, sizeof perr);
			if (prc < 0)
				goto nomem;   /* validated already: only memory can fail */
		}
	}
	*out = f;
	return 0;
nomem:
	obs_rules_free(f);
	return -ENOMEM;
}

int obs_rules_parse(const char *text, size_t n, struct obs_rule_file **out, struct obs_buf *errs)
{
	*out = NULL;
	struct obs_ydoc doc;
	char yerr[400];
	int r = obs_ydoc_load(&doc, text, n, yerr, sizeof yerr);
	if (r < 0) {
		obs_yerr(errs, "%s", yerr);
		obs_ydoc_release(&doc);
		return r;
	}
	struct decoder dc = { .doc = &doc, .errs = errs };
	size_t mark = errs->len;
	r = obs_ymap_each(&doc, obs_ydoc_root(&doc), top_keys, "rulefmt.RuleGroups", top_field, &dc, errs);
	if (r < 0)
		goto done;
	if (errs->len > mark) {
		r = -EINVAL;
		goto done;
	}
	/* validate */
	for (size_t j = 0; j < dc.ngroups; j++) {
		struct dgroup *g = &dc.groups[j];
		if (!*g->name && obs_yerr(errs, "%d:%d: Groupname must not be empty", obs_ynode_line(g->node),
					  obs_ynode_col(g->node)))
			goto nomem;
		for (size_t k = 0; k < j; k++)
			if (!strcmp(dc.groups[k].name, g->name)) {
				if (obs_yerr(errs, "%d:%d: groupname: \"%s\" is repeated in the same file",
					     obs_ynode_line(g->node), obs_ynode_col(g->node), g->name))
					goto nomem;
				break;
			}
		obs_qsort(g->labels.v, g->labels.n, sizeof *g->labels.v, kv_cmp);
		if (validate_labels(errs, &g->labels, g->name, 0, "", 1) < 0)
			goto nomem;
		for (size_t i = 0; i < g->nrules; i++)
			if (validate_rule(errs, &g->rules[i], g->name, i + 1) < 0)
				goto nomem;
	}
	if (errs->len > mark) {
		r = -EINVAL;
		goto done;
	}
	r = build(&dc, out);
	goto done;
nomem:
	r = -ENOMEM;
done:
	decoder_release(&dc);
	obs_ydoc_release(&doc);
	return r;
}

size_t obs_rules_duplicates(const struct obs_rule_file *f, struct obs_buf *out)
{
	size_t dups = 0;
	for (size_t j = 0; j < f->ngroups; j++)
		for (size_t i = 0; i < f->groups[j].nrules; i++) {
			const struct obs_rule *a = &f->groups[j].rules[i];
			for (size_t jj = 0; jj <= j; jj++)
				for (size_t ii = 0; ii < (jj == j ? i : f->groups[jj].nrules); ii++) {
					const struct obs_rule *b = &f->groups[jj].rules[ii];
					if (strcmp(a->name, b->name) || a->nlabels != b->nlabels)
						continue;
					int same = 1;
					for (size_t k = 0; k < a->nlabels && same; k++)
						same = !strcmp(a->labels[k].name, b->labels[k].name) &&
						       !strcmp(a->labels[k].value, b->labels[k].value);
					if (!same)
						continue;
					dups++;
					obs_buf_printf(out, "Metric: %s\nLabel(s):\n", a->name);
					for (size_t k = 0; k < a->nlabels; k++)
						obs_buf_printf(out, "\t%s: %s\n", a->labels[k].name, a->labels[k].value);
					goto next;
				}
		next:;
		}
	return dups;
}
