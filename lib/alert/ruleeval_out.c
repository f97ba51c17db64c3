/* ruleeval_out.c — the rule manager's outputs: label building, recording
 * rules' series, ALERTS{alertstate} and ALERTS_FOR_STATE samples, and the
 * staleness markers of series a rule wrote last time and not now
 * (ruleeval.h). */
#include "alert/ruleeval_int.h"
#include "core/vec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rev_qsort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, sz, cmp);
}

void rev_series_free(struct oseries *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		obs_labels_release(&s[i].l);
	free(s);
}

/* ---- label building ---- */


void rev_lb_from(struct lb *b, const struct obs_labels *l, int drop_name)
{
	b->n = 0;
	for (size_t i = 0; l && i < l->n && b->n < OBS_MAX_LABELS; i++) {
		if (drop_name && !strcmp(l->v[i].name, "__name__"))
			continue;
		b->v[b->n++] = (struct obs_rawlabel){ l->v[i].name, l->v[i].value, (uint32_t)strlen(l->v[i].name),
						      (uint32_t)strlen(l->v[i].value), 0 };
	}
}

void rev_lb_set(struct lb *b, const char *name, const char *val, size_t vlen)
{
	size_t nl = strlen(name);
	for (int i = 0; i < b->n; i++)
		if (b->v[i].nlen == nl && !memcmp(b->v[i].name, name, nl)) {
			b->v[i].value = val;
			b->v[i].vlen = (uint32_t)vlen;
			return;
		}
	if (b->n < (int)(sizeof b->v / sizeof b->v[0]))
		b->v[b->n++] = (struct obs_rawlabel){ name, val, (uint32_t)nl, (uint32_t)vlen, 0 };
}

int rev_lb_build(struct lb *b, struct obs_labels *out, const char **why)
{
	*why = NULL;
	int r = obs_labels_build(out, NULL, 0, b->v, b->n, why);
	if (r == -EINVAL && !*why)
		*why = "invalid labels";
	return r;
}

/* ---- outputs and staleness ---- */


int rev_outvec_add(struct outvec *o, struct obs_labels *l, double v)
{
	if (OBS_VEC_RESERVE2(o->s, o->v, o->cap, o->n + 1, 16))
		return -ENOMEM;
	o->s[o->n].h = obs_alert_fingerprint(l);
	o->s[o->n].l = *l;
	obs_labels_init(l);
	o->v[o->n++] = v;
	return 0;
}

void rev_outvec_release(struct outvec *o)
{
	rev_series_free(o->s, o->n);
	free(o->v);
	memset(o, 0, sizeof *o);
}

static int oseries_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct oseries *)a)->h, y = ((const struct oseries *)b)->h;
	return x < y ? -1 : x > y;
}

static int contains(const struct oseries *s, size_t n, const struct oseries *k)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s[mid].h < k->h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < n && s[i].h == k->h; i++)
		if (obs_labels_equal(&s[i].l, &k->l))
			return 1;
	return 0;
}

static int hidx_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct hidx *)a)->h, y = ((const struct hidx *)b)->h;
	return x < y ? -1 : x > y;
}

int rev_has_same(struct hidx *v, size_t n)
{
	rev_qsort(v, n, sizeof *v, hidx_cmp);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n && v[j].h == v[i].h; j++)
			if (obs_labels_equal(v[i].l, v[j].l))
				return 1;
	return 0;
}

static int has_same_labelset(const struct oseries *s, size_t n)
{
	struct hidx *v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++)
		v[i] = (struct hidx){ s[i].h, &s[i].l };
	int r = rev_has_same(v, n);
	free(v);
	return r;
}

void rev_write_out(struct obs_ruleeval *e, struct rrule *rr, struct outvec *o, int64_t t)
{
	for (size_t i = 0; i < o->n; i++) {
		int r = e->o.out.append ? e->o.out.append(e->o.out.ctx, &o->s[i].l, t, o->v[i]) : 0;
		if (r < 0 && rr->health != 2) {
			rr->health = 2;
			snprintf(rr->err, sizeof rr->err, "appending sample: %s", strerror(-r));
		}
	}
	rev_qsort(o->s, o->n, sizeof *o->s, oseries_cmp);
	for (size_t i = 0; i < rr->nprev; i++)
		if (!contains(o->s, o->n, &rr->prev[i]) && e->o.out.append)
			e->o.out.append(e->o.out.ctx, &rr->prev[i].l, t, obs_query_stale_nan());
	rev_series_free(rr->prev, rr->nprev);
	rr->prev = o->s;
	rr->nprev = o->n;
	free(o->v);
	memset(o, 0, sizeof *o);
}

void rev_write_stale(struct obs_ruleeval *e, struct rrule *rr, int64_t t)
{
	for (size_t i = 0; i < rr->nprev; i++)
		if (e->o.out.append)
			e->o.out.append(e->o.out.ctx, &rr->prev[i].l, t, obs_query_stale_nan());
	rev_series_free(rr->prev, rr->nprev);
	rr->prev = NULL;
	rr->nprev = 0;
}

int rev_eval_recording(struct obs_ruleeval *e, struct rgroup *g, struct rrule *rr, int64_t t)
{
	const struct obs_rule *rule = rr->r;
	struct obs_query_result res;
	if (rev_run_query(e, rr, t - g->g->query_offset_ms, &res) < 0) {
		obs_query_result_release(&res);
		return -EINVAL;
	}
	struct outvec o = { 0 };
	int rc = 0;
	for (size_t i = 0; i < res.nseries && !rc; i++) {
		if (!res.series[i].n)
			continue;
		struct lb b;
		rev_lb_from(&b, &res.series[i].labels, 0);
		rev_lb_set(&b, "__name__", rule->name, strlen(rule->name));
		for (size_t k = 0; k < rule->nlabels; k++)
			rev_lb_set(&b, rule->labels[k].name, rule->labels[k].value, strlen(rule->labels[k].value));
		struct obs_labels l;
		const char *why;
		rc = rev_lb_build(&b, &l, &why);
		if (rc == -EINVAL) {
			rev_rule_error(rr, "invalid labels: %s", why);
			break;
		}
		if (!rc)
			rc = rev_outvec_add(&o, &l, res.series[i].v[res.series[i].n - 1]);
	}
	obs_query_result_release(&res);
	if (!rc && has_same_labelset(o.s, o.n)) {
		rev_rule_error(rr, "%s", "vector contains metrics with the same labelset after applying rule labels");
		rc = -EINVAL;
	}
	if (!rc && g->g->limit > 0 && (int64_t)o.n > g->g->limit) {
		char m[100];
		snprintf(m, sizeof m, "exceeded limit of %lld with %zu series", (long long)g->g->limit, o.n);
		rev_rule_error(rr, "%s", m);
		rc = -EINVAL;
	}
	if (rc) {
		rev_outvec_release(&o);
		return rc;
	}
	rev_write_out(e, rr, &o, t);
	return 0;
}

int rev_alerts_series(struct obs_ruleeval *e, const struct obs_alert *a, int64_t t, struct outvec *o)
{
	struct lb b;
	rev_lb_from(&b, &a->labels, 0);
	rev_lb_set(&b, "__name__", "ALERTS", 6);
	const char *st = obs_alert_state_name(a->state);
	rev_lb_set(&b, "alertstate", st, strlen(st));
	struct obs_labels l;
	const char *why;
	int rc = rev_lb_build(&b, &l, &why);
	if (!rc)
		rc = rev_outvec_add(o, &l, 1);
	if (rc)
		return rc;
	rev_lb_from(&b, &a->labels, 0);
	rev_lb_set(&b, "__name__", "ALERTS_FOR_STATE", 16);
	rc = rev_lb_build(&b, &l, &why);
	if (!rc)
		rc = rev_outvec_add(o, &l, (double)(a->active_at / 1000));
	(void)e;
	(void)t;
	return rc;
}
