/* ruleeval_group.c — group scheduling of the rule manager (ruleeval.h):
 * the groups due at a tick, promtool's evaluation order, a group's rules
 * in order with their health and timing, the sink's send per group. */
#include "alert/ruleeval_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void rev_rule_error(struct rrule *rr, const char *fmt, const char *a)
{
	rr->health = 2;
	snprintf(rr->err, sizeof rr->err, fmt, a);
}

int rev_run_query(struct obs_ruleeval *e, struct rrule *rr, int64_t t, struct obs_query_result *res)
{
	int r = obs_query_instant(&e->o.qopts, &e->o.store, rr->r->expr, t, res);
	if (r < 0) {
		rev_rule_error(rr, "%s", res->err[0] ? res->err : strerror(-r));
		return r;
	}
	if (res->type != OBS_QV_VECTOR && res->type != OBS_QV_SCALAR) {
		rev_rule_error(rr, "%s", "rule result is not a vector or scalar");
		return -EINVAL;
	}
	return 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Go's time.Duration String(): "0s", "500ms", "1.5s", "5m0s", "1h2m3s" */
static void go_duration(int64_t ms, char *b)
{
	const char *sign = ms < 0 ? "-" : "";
	if (ms < 0)
		ms = -ms;
	if (ms == 0) {
		strcpy(b, "0s");
		return;
	}
	if (ms < 1000) {
		sprintf(b, "%s%lldms", sign, (long long)ms);
		return;
	}
	long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, f = ms % 1000;
	char sec[24];
	if (f) {
		sprintf(sec, "%lld.%03lld", s, f);
		size_t l = strlen(sec);
		while (sec[l - 1] == '0')
			sec[--l] = 0;
	} else {
		sprintf(sec, "%lld", s);
	}
	if (h)
		sprintf(b, "%s%lldh%lldm%ss", sign, h, m, sec);
	else if (m)
		sprintf(b, "%s%lldm%ss", sign, m, sec);
	else
		sprintf(b, "%s%ss", sign, sec);
}

static size_t eval_group(struct obs_ruleeval *e, struct rgroup *g, int64_t t, struct obs_buf *errs)
{
	size_t nerr = 0;
	int64_t g0 = mono_ns();
	for (size_t i = 0; i < g->g->nrules; i++) {
		struct rrule *rr = &g->rules[i];
		int64_t r0 = mono_ns();
		rr->health = 1;
		rr->err[0] = 0;
		int rc = rr->r->alert ? rev_eval_alerting(e, g, rr, t) : rev_eval_recording(e, g, rr, t);
		if (rc == -ENOMEM && rr->health != 2)
			rev_rule_error(rr, "%s", "out of memory");
		if (rc) {
			rr->health = 2;
			nerr++;
			if (errs) {
				char d[48];
				go_duration(t, d);
				obs_buf_printf(errs, "    rule: %s, time: %s, err: %s\n", rr->r->name, d, rr->err);
			}
		}
		rr->last_eval = t;
		rr->eval_ns = mono_ns() - r0;
	}
	g->last_eval = t;
	g->eval_ns = mono_ns() - g0;
	if (e->o.sink.send) {
		size_t n = 0;
		for (size_t i = 0; i < g->g->nrules; i++)
			n += g->rules[i].nactive;
		const struct obs_alert **v = malloc((n ? n : 1) * sizeof *v);
		if (v) {
			size_t k = 0;
			for (size_t i = 0; i < g->g->nrules; i++)
				for (size_t j = 0; j < g->rules[i].nactive; j++)
					v[k++] = &g->rules[i].active[j];
			e->o.sink.send(e->o.sink.ctx, g->file, g->g->name, t, v, k);
			free(v);
		}
	}
	return nerr;
}

int64_t obs_ruleeval_tick(struct obs_ruleeval *e, int64_t now)
{
	pthread_mutex_lock(&e->mu);
	int64_t next = INT64_MAX;
	for (size_t f = 0; f < e->nfiles; f++)
		for (size_t j = 0; j < e->files[f]->f->ngroups; j++) {
			struct rgroup *g = &e->files[f]->groups[j];
			if (g->next_eval <= now) {
				int64_t t = now - now % g->interval_ms;
				if (t < g->next_eval)
					t = g->next_eval;
				eval_group(e, g, t, NULL);
				g->next_eval = t + g->interval_ms;
			}
			if (g->next_eval < next)
				next = g->next_eval;
		}
	pthread_mutex_unlock(&e->mu);
	return next;
}

struct gref {
	struct rgroup *g;
	size_t rank, seq;
};

static int gref_cmp(const void *a, const void *b)
{
	const struct gref *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t obs_ruleeval_eval_all(struct obs_ruleeval *e, int64_t t, const char *const *order, size_t norder,
			     struct obs_buf *errs)
{
	pthread_mutex_lock(&e->mu);
	size_t n = 0;
	for (size_t f = 0; f < e->nfiles; f++)
		n += e->files[f]->f->ngroups;
	struct gref *v = malloc((n ? n : 1) * sizeof *v);
	size_t nerr = 0;
	if (v) {
		size_t k = 0;
		for (size_t f = 0; f < e->nfiles; f++)
			for (size_t j = 0; j < e->files[f]->f->ngroups; j++) {
				struct rgroup *g = &e->files[f]->groups[j];
				size_t rank = 0;
				for (size_t o = 0; o < norder; o++)
					if (!strcmp(order[o], g->g->name))
						rank = o;
				v[k] = (struct gref){ g, rank, k };
				k++;
			}
		rev_qsort(v, n, sizeof *v, gref_cmp);
		for (size_t i = 0; i < n; i++)
			nerr += eval_group(e, v[i].g, t, errs);
		free(v);
	}
	pthread_mutex_unlock(&e->mu);
	return nerr;
}
