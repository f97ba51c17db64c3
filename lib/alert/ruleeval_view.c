/* ruleeval_view.c — read-only views of the rule manager (ruleeval.h):
 * deep copies of the alerts, the alerts/state text, counts. */
#include "alert/ruleeval_int.h"
#include "core/obstime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int copy_out(const struct obs_alert *src, struct obs_alert *dst)
{
	if (obs_alert_copy(dst, src) < 0)
		return -ENOMEM;
	dst->rule = strdup(src->rule ? src->rule : "");
	dst->group = strdup(src->group ? src->group : "");
	dst->file = strdup(src->file ? src->file : "");
	if (!dst->rule || !dst->group || !dst->file)
		return -ENOMEM;
	return 0;
}

void obs_ruleeval_alerts_free(struct obs_alert *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free((char *)a[i].rule);
		free((char *)a[i].group);
		free((char *)a[i].file);
		obs_alert_release(&a[i]);
	}
	free(a);
}

int obs_ruleeval_alerts(struct obs_ruleeval *e, const char *rule_name, struct obs_alert **out, size_t *n)
{
	pthread_mutex_lock(&e->mu);
	size_t total = 0;
	for (size_t f = 0; f < e->nfiles; f++)
		for (size_t j = 0; j < e->files[f]->f->ngroups; j++)
			for (size_t i = 0; i < e->files[f]->groups[j].g->nrules; i++)
				total += e->files[f]->groups[j].rules[i].nactive;
	struct obs_alert *v = calloc(total ? total : 1, sizeof *v);
	size_t k = 0;
	int rc = v ? 0 : -ENOMEM;
	for (size_t f = 0; !rc && f < e->nfiles; f++)
		for (size_t j = 0; !rc && j < e->files[f]->f->ngroups; j++)
			for (size_t i = 0; !rc && i < e->files[f]->groups[j].g->nrules; i++) {
				struct rrule *rr = &e->files[f]->groups[j].rules[i];
				if (rule_name && strcmp(rr->r->name, rule_name))
					continue;
				for (size_t a = 0; !rc && a < rr->nactive; a++)
					rc = copy_out(&rr->active[a], &v[k++]);
			}
	pthread_mutex_unlock(&e->mu);
	if (rc) {
		obs_ruleeval_alerts_free(v, k);
		return rc;
	}
	*out = v;
	*n = k;
	return 0;
}

static int fmt_time(struct obs_buf *out, const char *what, int64_t t)
{
	char b[40];
	obs_time_format(t, OBS_TIME_RFC3339, b);
	return obs_buf_printf(out, " %s %s", what, b);
}

int obs_ruleeval_render_state(struct obs_ruleeval *e, struct obs_buf *out)
{
	pthread_mutex_lock(&e->mu);
	int rc = 0;
	for (size_t f = 0; !rc && f < e->nfiles; f++)
		for (size_t j = 0; !rc && j < e->files[f]->f->ngroups; j++) {
			struct rgroup *g = &e->files[f]->groups[j];
			for (size_t i = 0; !rc && i < g->g->nrules; i++) {
				struct rrule *rr = &g->rules[i];
				char tb[40] = "never";
				if (rr->health)
					obs_time_format(rr->last_eval, OBS_TIME_RFC3339, tb);
				rc = obs_buf_printf(out, "rule %s %s %s %s %s %s %.3fms%s%s\n", g->file, g->g->name, rr->r->name,
						    rr->r->alert ? "alerting" : "recording",
						    rr->health == 1 ? "ok" : rr->health == 2 ? "err" : "unknown", tb,
						    (double)rr->eval_ns / 1e6, rr->health == 2 ? " " : "",
						    rr->health == 2 ? rr->err : "");
				for (size_t a = 0; !rc && a < rr->nactive; a++) {
					const struct obs_alert *al = &rr->active[a];
					char vb[48];
					obs_tmpl_fmt_float(al->value, vb);
					rc = obs_buf_printf(out, "alert %s ", rr->r->name);
					if (!rc)
						rc = obs_labels_format(&al->labels, out);
					if (!rc)
						rc = obs_buf_printf(out, " %s %s", obs_alert_state_name(al->state), vb);
					if (!rc)
						rc = fmt_time(out, "since", al->active_at);
					if (!rc && al->fired_at)
						rc = fmt_time(out, "fired", al->fired_at);
					if (!rc && al->resolved_at)
						rc = fmt_time(out, "resolved", al->resolved_at);
					if (!rc && al->keep_firing_since)
						rc = fmt_time(out, "kept_firing_since", al->keep_firing_since);
					if (!rc)
						rc = obs_buf_putc(out, '\n');
				}
			}
		}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

void obs_ruleeval_counts(struct obs_ruleeval *e, size_t *files, size_t *groups, size_t *rules)
{
	pthread_mutex_lock(&e->mu);
	size_t g = 0, r = 0;
	for (size_t f = 0; f < e->nfiles; f++) {
		g += e->files[f]->f->ngroups;
		r += e->files[f]->f->nrules;
	}
	if (files)
		*files = e->nfiles;
	if (groups)
		*groups = g;
	if (rules)
		*rules = r;
	pthread_mutex_unlock(&e->mu);
}
