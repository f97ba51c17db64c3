/* ruleeval.c — the rule manager's life cycle: creation, loading rule files
 * (reload with state carried over, stale markers for what went away) and
 * the state persistence hooks (restore of saved alerts).
 *
 * The other parts of the rule manager, sharing ruleeval_int.h:
 *   ruleeval_group.c  group scheduling: due groups, evaluation order, timing
 *   ruleeval_alert.c  the alerting rules' state machine
 *   ruleeval_out.c    outputs: recording rules' series, ALERTS and
 *                     ALERTS_FOR_STATE, staleness of what a rule wrote
 *   ruleeval_view.c   views: alert copies, alerts/state, counts */
#include "alert/ruleeval_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void obs_ruleeval_opts_default(struct obs_ruleeval_opts *o)
{
	memset(o, 0, sizeof *o);
	obs_query_opts_default(&o->qopts);
	o->default_interval_ms = 60000;
	o->resend_delay_ms = OBS_ALERT_RESEND_DELAY_MS;
}

int obs_ruleeval_new(const struct obs_ruleeval_opts *o, struct obs_ruleeval **out)
{
	struct obs_ruleeval *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	e->o = *o;
	if (!e->o.default_interval_ms)
		e->o.default_interval_ms = 60000;
	if (!e->o.resend_delay_ms)
		e->o.resend_delay_ms = OBS_ALERT_RESEND_DELAY_MS;
	obs_labels_init(&e->ext);
	if ((o->external_labels && obs_labels_copy(&e->ext, o->external_labels) < 0) ||
	    (o->external_url && !(e->url = strdup(o->external_url)))) {
		obs_labels_release(&e->ext);
		free(e);
		return -ENOMEM;
	}
	e->o.external_labels = &e->ext;
	e->o.external_url = e->url;
	pthread_mutex_init(&e->mu, NULL);
	*out = e;
	return 0;
}

static void rrule_release(struct rrule *rr)
{
	for (size_t i = 0; i < rr->nactive; i++)
		obs_alert_release(&rr->active[i]);
	free(rr->active);
	rev_series_free(rr->prev, rr->nprev);
	memset(rr, 0, sizeof *rr);
}

static void rfile_free(struct rfile *f)
{
	if (!f)
		return;
	for (size_t j = 0; f->groups && j < f->f->ngroups; j++) {
		for (size_t i = 0; i < f->groups[j].g->nrules; i++)
			rrule_release(&f->groups[j].rules[i]);
		free(f->groups[j].rules);
	}
	free(f->groups);
	obs_rules_free(f->f);
	free(f->name);
	free(f);
}

void obs_ruleeval_free(struct obs_ruleeval *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nfiles; i++)
		rfile_free(e->files[i]);
	free(e->files);
	for (size_t i = 0; i < e->nrestore; i++) {
		free(e->restore[i].file);
		free(e->restore[i].group);
		free(e->restore[i].rule);
		obs_alert_release(&e->restore[i].a);
	}
	free(e->restore);
	obs_labels_release(&e->ext);
	free(e->url);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

/* ---- loading ---- */

static void apply_restore(struct obs_ruleeval *e, struct rgroup *g)
{
	for (size_t k = 0; k < e->nrestore;) {
		struct restore_ent *re = &e->restore[k];
		int used = 0;
		if (!strcmp(re->file, g->file) && !strcmp(re->group, g->g->name)) {
			for (size_t i = 0; i < g->g->nrules && !used; i++) {
				struct rrule *rr = &g->rules[i];
				if (!rr->r->alert || strcmp(rr->r->name, re->rule) ||
				    rev_find_alert(rr, re->a.fp, &re->a.labels))
					continue;
				struct obs_alert a = re->a;
				a.rule = rr->r->name;
				a.group = g->g->name;
				a.file = g->file;
				if (rev_alert_push(rr, &a) == 0) {
					memset(&re->a, 0, sizeof re->a);
					used = 1;
				}
			}
		}
		if (used) {
			free(re->file);
			free(re->group);
			free(re->rule);
			*re = e->restore[--e->nrestore];
			continue;
		}
		k++;
	}
}

static struct rfile *find_file(struct obs_ruleeval *e, const char *name, size_t *idx)
{
	for (size_t i = 0; i < e->nfiles; i++)
		if (!strcmp(e->files[i]->name, name)) {
			if (idx)
				*idx = i;
			return e->files[i];
		}
	return NULL;
}

static void file_stale(struct obs_ruleeval *e, struct rfile *f, int64_t now)
{
	for (size_t j = 0; j < f->f->ngroups; j++)
		for (size_t i = 0; i < f->f->groups[j].nrules; i++)
			rev_write_stale(e, &f->groups[j].rules[i], now);
}

int obs_ruleeval_set(struct obs_ruleeval *e, const char *file, struct obs_rule_file *rf, int64_t now)
{
	struct rfile *nf = calloc(1, sizeof *nf);
	if (!nf) {
		obs_rules_free(rf);
		return -ENOMEM;
	}
	nf->f = rf;
	nf->name = strdup(file);
	nf->groups = calloc(rf->ngroups ? rf->ngroups : 1, sizeof *nf->groups);
	if (!nf->name || !nf->groups)
		goto nomem;
	for (size_t j = 0; j < rf->ngroups; j++) {
		struct rgroup *g = &nf->groups[j];
		g->file = nf->name;
		g->g = &rf->groups[j];
		g->interval_ms = g->g->interval_ms ? g->g->interval_ms : e->o.default_interval_ms;
		g->rules = calloc(g->g->nrules ? g->g->nrules : 1, sizeof *g->rules);
		if (!g->rules)
			goto nomem;
		for (size_t i = 0; i < g->g->nrules; i++)
			g->rules[i].r = &g->g->rules[i];
		g->next_eval = now - now % g->interval_ms;
	}
	pthread_mutex_lock(&e->mu);
	size_t idx = 0;
	struct rfile *of = find_file(e, file, &idx);
	if (of) {
		/* carry state over: groups by name, rules by name and kind in order */
		for (size_t j = 0; j < rf->ngroups; j++) {
			struct rgroup *g = &nf->groups[j];
			for (size_t oj = 0; oj < of->f->ngroups; oj++) {
				struct rgroup *og = &of->groups[oj];
				if (strcmp(og->g->name, g->g->name))
					continue;
				if (og->interval_ms == g->interval_ms)
					g->next_eval = og->next_eval;
				g->last_eval = og->last_eval;
				for (size_t i = 0; i < g->g->nrules; i++) {
					struct rrule *rr = &g->rules[i];
					for (size_t oi = 0; oi < og->g->nrules; oi++) {
						struct rrule *orr = &og->rules[oi];
						if (!orr->r || orr->r->alert != rr->r->alert || strcmp(orr->r->name, rr->r->name))
							continue;
						const struct obs_rule *keep = rr->r;
						*rr = *orr;
						rr->r = keep;
						for (size_t k = 0; k < rr->nactive; k++) {
							rr->active[k].rule = keep->name;
							rr->active[k].group = g->g->name;
							rr->active[k].file = g->file;
						}
						memset(orr, 0, sizeof *orr);
						break;
					}
				}
				break;
			}
		}
		file_stale(e, of, now);
		rfile_free(of);
		e->files[idx] = nf;
	} else {
		struct rfile **v = realloc(e->files, (e->nfiles + 1) * sizeof *v);
		if (!v) {
			pthread_mutex_unlock(&e->mu);
			goto nomem;
		}
		e->files = v;
		v[e->nfiles++] = nf;
	}
	for (size_t j = 0; j < rf->ngroups; j++)
		apply_restore(e, &nf->groups[j]);
	e->gen++;
	pthread_mutex_unlock(&e->mu);
	return 0;
nomem:
	if (nf->groups)
		for (size_t j = 0; j < rf->ngroups; j++)
			free(nf->groups[j].rules);
	free(nf->groups);
	nf->groups = NULL;
	rfile_free(nf);
	return -ENOMEM;
}

int obs_ruleeval_remove(struct obs_ruleeval *e, const char *file, int64_t now)
{
	pthread_mutex_lock(&e->mu);
	size_t idx;
	struct rfile *f = find_file(e, file, &idx);
	if (!f) {
		pthread_mutex_unlock(&e->mu);
		return -ENOENT;
	}
	file_stale(e, f, now);
	rfile_free(f);
	e->files[idx] = e->files[--e->nfiles];
	e->gen++;
	pthread_mutex_unlock(&e->mu);
	return 0;
}

int obs_ruleeval_each_alert(struct obs_ruleeval *e,
			    int (*fn)(void *ctx, const char *file, const char *group, const struct obs_alert *a), void *ctx)
{
	pthread_mutex_lock(&e->mu);
	int rc = 0;
	for (size_t f = 0; !rc && f < e->nfiles; f++)
		for (size_t j = 0; !rc && j < e->files[f]->f->ngroups; j++) {
			struct rgroup *g = &e->files[f]->groups[j];
			for (size_t i = 0; !rc && i < g->g->nrules; i++)
				for (size_t a = 0; !rc && a < g->rules[i].nactive; a++)
					rc = fn(ctx, g->file, g->g->name, &g->rules[i].active[a]);
		}
	/* saved alerts whose rules are not loaded (yet) are kept too */
	for (size_t k = 0; !rc && k < e->nrestore; k++) {
		struct obs_alert a = e->restore[k].a;
		a.rule = e->restore[k].rule;
		rc = fn(ctx, e->restore[k].file, e->restore[k].group, &a);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

int obs_ruleeval_restore(struct obs_ruleeval *e, const char *file, const char *group, const struct obs_alert *a)
{
	struct restore_ent re = { 0 };
	re.file = strdup(file);
	re.group = strdup(group);
	re.rule = strdup(a->rule ? a->rule : "");
	if (!re.file || !re.group || !re.rule || obs_alert_copy(&re.a, a) < 0) {
		free(re.file);
		free(re.group);
		free(re.rule);
		return -ENOMEM;
	}
	re.a.fp = obs_alert_fingerprint(&re.a.labels);
	pthread_mutex_lock(&e->mu);
	struct restore_ent *v = realloc(e->restore, (e->nrestore + 1) * sizeof *v);
	if (!v) {
		pthread_mutex_unlock(&e->mu);
		free(re.file);
		free(re.group);
		free(re.rule);
		obs_alert_release(&re.a);
		return -ENOMEM;
	}
	e->restore = v;
	v[e->nrestore++] = re;
	struct rfile *f = find_file(e, file, NULL);
	if (f)
		for (size_t j = 0; j < f->f->ngroups; j++)
			apply_restore(e, &f->groups[j]);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

uint64_t obs_ruleeval_generation(struct obs_ruleeval *e)
{
	pthread_mutex_lock(&e->mu);
	uint64_t g = e->gen;
	pthread_mutex_unlock(&e->mu);
	return g;
}

