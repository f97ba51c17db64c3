/* ruleeval.c — the rule manager: groups, evaluation, alert state machine,
 * staleness of rule outputs, reload with state carried over. */
#include "alert/ruleeval.h"
#include "alert/yamldoc.h"
#include "core/obstime.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* qsort without the undefined behaviour of a NULL base for 0 items */
static void obs_qsort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, sz, cmp);
}

struct oseries {
	uint64_t h;
	struct obs_labels l;
};

struct rrule {
	const struct obs_rule *r;
	struct obs_alert *active;   /* a.rule/group/file borrow from the rule set */
	size_t nactive, cap;
	struct oseries *prev;       /* series written by the last evaluation, sorted by h */
	size_t nprev;
	int health;                 /* 0 unknown, 1 ok, 2 err */
	char err[512];
	int64_t last_eval;
	int64_t eval_ns;
};

struct rgroup {
	const char *file;           /* the rfile's name */
	struct obs_rule_group *g;
	struct rrule *rules;
	int64_t interval_ms;
	int64_t next_eval, last_eval, eval_ns;
};

struct rfile {
	char *name;
	struct obs_rule_file *f;
	struct rgroup *groups;      /* one per f->groups */
};

struct restore_ent {
	char *file, *group, *rule;
	struct obs_alert a;
};

struct obs_ruleeval {
	pthread_mutex_t mu;
	struct obs_ruleeval_opts o;
	struct obs_labels ext;
	char *url;
	struct rfile **files;
	size_t nfiles;
	struct restore_ent *restore;
	size_t nrestore;
	uint64_t gen;
};

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

static void series_free(struct oseries *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		obs_labels_release(&s[i].l);
	free(s);
}

static void rrule_release(struct rrule *rr)
{
	for (size_t i = 0; i < rr->nactive; i++)
		obs_alert_release(&rr->active[i]);
	free(rr->active);
	series_free(rr->prev, rr->nprev);
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

/* ---- label building ---- */

struct lb {
	struct obs_rawlabel v[OBS_MAX_LABELS + 4];
	int n;
};

static void lb_from(struct lb *b, const struct obs_labels *l, int drop_name)
{
	b->n = 0;
	for (size_t i = 0; l && i < l->n && b->n < OBS_MAX_LABELS; i++) {
		if (drop_name && !strcmp(l->v[i].name, "__name__"))
			continue;
		b->v[b->n++] = (struct obs_rawlabel){ l->v[i].name, l->v[i].value, (uint32_t)strlen(l->v[i].name),
						      (uint32_t)strlen(l->v[i].value), 0 };
	}
}

/* set (an empty value removes the label, as labels.Builder does) */
static void lb_set(struct lb *b, const char *name, const char *val, size_t vlen)
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

static int lb_build(struct lb *b, struct obs_labels *out, const char **why)
{
	*why = NULL;
	int r = obs_labels_build(out, NULL, 0, b->v, b->n, why);
	if (r == -EINVAL && !*why)
		*why = "invalid labels";
	return r;
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

/* ---- outputs and staleness ---- */

struct outvec {
	struct oseries *s;
	double *v;
	size_t n, cap;
};

static int outvec_add(struct outvec *o, struct obs_labels *l, double v)
{
	if (o->n == o->cap) {
		size_t c = o->cap ? o->cap * 2 : 16;
		struct oseries *s = realloc(o->s, c * sizeof *s);
		if (!s)
			return -ENOMEM;
		o->s = s;
		double *vv = realloc(o->v, c * sizeof *vv);
		if (!vv)
			return -ENOMEM;
		o->v = vv;
		o->cap = c;
	}
	o->s[o->n].h = obs_alert_fingerprint(l);
	o->s[o->n].l = *l;
	obs_labels_init(l);
	o->v[o->n++] = v;
	return 0;
}

static void outvec_release(struct outvec *o)
{
	series_free(o->s, o->n);
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
		if (labels_eq(&s[i].l, &k->l))
			return 1;
	return 0;
}

/* ContainsSameLabelset, in n log n: sorts an index by hash and compares
 * the label sets within runs of equal hashes */
struct hidx {
	uint64_t h;
	const struct obs_labels *l;
};

static int hidx_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct hidx *)a)->h, y = ((const struct hidx *)b)->h;
	return x < y ? -1 : x > y;
}

static int has_same(struct hidx *v, size_t n)
{
	obs_qsort(v, n, sizeof *v, hidx_cmp);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n && v[j].h == v[i].h; j++)
			if (labels_eq(v[i].l, v[j].l))
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
	int r = has_same(v, n);
	free(v);
	return r;
}

static void rule_error(struct rrule *rr, const char *fmt, const char *a)
{
	rr->health = 2;
	snprintf(rr->err, sizeof rr->err, fmt, a);
}

/* Write the rule's samples at t, stale markers for the series it wrote
 * last time and not now; the output becomes the new previous set. */
static void write_out(struct obs_ruleeval *e, struct rrule *rr, struct outvec *o, int64_t t)
{
	for (size_t i = 0; i < o->n; i++) {
		int r = e->o.out.append ? e->o.out.append(e->o.out.ctx, &o->s[i].l, t, o->v[i]) : 0;
		if (r < 0 && rr->health != 2) {
			rr->health = 2;
			snprintf(rr->err, sizeof rr->err, "appending sample: %s", strerror(-r));
		}
	}
	obs_qsort(o->s, o->n, sizeof *o->s, oseries_cmp);
	for (size_t i = 0; i < rr->nprev; i++)
		if (!contains(o->s, o->n, &rr->prev[i]) && e->o.out.append)
			e->o.out.append(e->o.out.ctx, &rr->prev[i].l, t, obs_query_stale_nan());
	series_free(rr->prev, rr->nprev);
	rr->prev = o->s;
	rr->nprev = o->n;
	free(o->v);
	memset(o, 0, sizeof *o);
}

static void write_stale(struct obs_ruleeval *e, struct rrule *rr, int64_t t)
{
	for (size_t i = 0; i < rr->nprev; i++)
		if (e->o.out.append)
			e->o.out.append(e->o.out.ctx, &rr->prev[i].l, t, obs_query_stale_nan());
	series_free(rr->prev, rr->nprev);
	rr->prev = NULL;
	rr->nprev = 0;
}

/* ---- evaluation ---- */

/* run the rule's query at t: a vector (scalar -> one sample without
 * labels); -EINVAL with rr->err set otherwise */
static int run_query(struct obs_ruleeval *e, struct rrule *rr, int64_t t, struct obs_query_result *res)
{
	int r = obs_query_instant(&e->o.qopts, &e->o.store, rr->r->expr, t, res);
	if (r < 0) {
		rule_error(rr, "%s", res->err[0] ? res->err : strerror(-r));
		return r;
	}
	if (res->type != OBS_QV_VECTOR && res->type != OBS_QV_SCALAR) {
		rule_error(rr, "%s", "rule result is not a vector or scalar");
		return -EINVAL;
	}
	return 0;
}

static void emit_event(struct obs_ruleeval *e, const struct obs_alert *a, enum obs_alert_event_kind k, int64_t t)
{
	e->gen++;
	if (!e->o.sink.event)
		return;
	struct obs_alert_event ev = { .t = t, .kind = k, .alert = a };
	e->o.sink.event(e->o.sink.ctx, &ev);
}

static int eval_recording(struct obs_ruleeval *e, struct rgroup *g, struct rrule *rr, int64_t t)
{
	const struct obs_rule *rule = rr->r;
	struct obs_query_result res;
	if (run_query(e, rr, t - g->g->query_offset_ms, &res) < 0) {
		obs_query_result_release(&res);
		return -EINVAL;
	}
	struct outvec o = { 0 };
	int rc = 0;
	for (size_t i = 0; i < res.nseries && !rc; i++) {
		if (!res.series[i].n)
			continue;
		struct lb b;
		lb_from(&b, &res.series[i].labels, 0);
		lb_set(&b, "__name__", rule->name, strlen(rule->name));
		for (size_t k = 0; k < rule->nlabels; k++)
			lb_set(&b, rule->labels[k].name, rule->labels[k].value, strlen(rule->labels[k].value));
		struct obs_labels l;
		const char *why;
		rc = lb_build(&b, &l, &why);
		if (rc == -EINVAL) {
			rule_error(rr, "invalid labels: %s", why);
			break;
		}
		if (!rc)
			rc = outvec_add(&o, &l, res.series[i].v[res.series[i].n - 1]);
	}
	obs_query_result_release(&res);
	if (!rc && has_same_labelset(o.s, o.n)) {
		rule_error(rr, "%s", "vector contains metrics with the same labelset after applying rule labels");
		rc = -EINVAL;
	}
	if (!rc && g->g->limit > 0 && (int64_t)o.n > g->g->limit) {
		char m[100];
		snprintf(m, sizeof m, "exceeded limit of %lld with %zu series", (long long)g->g->limit, o.n);
		rule_error(rr, "%s", m);
		rc = -EINVAL;
	}
	if (rc) {
		outvec_release(&o);
		return rc;
	}
	write_out(e, rr, &o, t);
	return 0;
}

static struct obs_alert *find_alert(struct rrule *rr, uint64_t fp, const struct obs_labels *l)
{
	for (size_t i = 0; i < rr->nactive; i++)
		if (rr->active[i].fp == fp && labels_eq(&rr->active[i].labels, l))
			return &rr->active[i];
	return NULL;
}

static int alert_fp_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct obs_alert *)a)->fp, y = ((const struct obs_alert *)b)->fp;
	return x < y ? -1 : x > y;
}

/* the same over active[0, n) sorted by fp */
static struct obs_alert *find_sorted(struct rrule *rr, size_t n, uint64_t fp, const struct obs_labels *l)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (rr->active[mid].fp < fp)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < n && rr->active[i].fp == fp; i++)
		if (labels_eq(&rr->active[i].labels, l))
			return &rr->active[i];
	return NULL;
}

static int alert_push(struct rrule *rr, struct obs_alert *a)
{
	if (rr->nactive == rr->cap) {
		size_t c = rr->cap ? rr->cap * 2 : 8;
		struct obs_alert *v = realloc(rr->active, c * sizeof *v);
		if (!v)
			return -ENOMEM;
		rr->active = v;
		rr->cap = c;
	}
	rr->active[rr->nactive++] = *a;
	return 0;
}

/* expand one template into out (a NUL-terminated arena in b) */
static void expand(struct obs_ruleeval *e, const struct obs_rule_kv *kv, const struct obs_tmpl_data *d,
		   struct obs_buf *b)
{
	if (!kv->tmpl) {
		obs_buf_puts(b, kv->value);
		return;
	}
	char err[512];
	size_t mark = b->len;
	if (obs_tmpl_expand(kv->tmpl, d, b, err, sizeof err) < 0) {
		b->len = mark;
		if (b->cap)
			b->data[mark] = 0;
		obs_buf_printf(b, "<error expanding template: %s>", err);
	}
	(void)e;
}

static int sample_alert(struct obs_ruleeval *e, struct rgroup *g, struct rrule *rr, const struct obs_labels *sl,
			double v, int64_t t, int64_t qt, struct obs_alert *a)
{
	const struct obs_rule *rule = rr->r;
	struct obs_tmpl_data d = { .labels = sl, .external_labels = &e->ext, .external_url = e->url, .value = v,
				   .now_ms = qt, .store = &e->o.store, .qopts = &e->o.qopts };
	/* expansions live in bufs until the label sets are built */
	size_t nb = rule->nlabels + rule->nannotations;
	struct obs_buf bufs[nb ? nb : 1];
	for (size_t i = 0; i < nb; i++)
		obs_buf_init(&bufs[i]);
	struct lb b;
	lb_from(&b, sl, 1);
	for (size_t k = 0; k < rule->nlabels; k++) {
		expand(e, &rule->labels[k], &d, &bufs[k]);
		lb_set(&b, rule->labels[k].name, bufs[k].data ? bufs[k].data : "", bufs[k].len);
	}
	lb_set(&b, "alertname", rule->name, strlen(rule->name));
	memset(a, 0, sizeof *a);
	const char *why;
	int rc = lb_build(&b, &a->labels, &why);
	if (rc == -EINVAL)
		rule_error(rr, "invalid alert labels: %s", why);
	struct lb ab;
	ab.n = 0;
	for (size_t k = 0; !rc && k < rule->nannotations; k++) {
		struct obs_buf *ob = &bufs[rule->nlabels + k];
		expand(e, &rule->annotations[k], &d, ob);
		lb_set(&ab, rule->annotations[k].name, ob->data ? ob->data : "", ob->len);
	}
	if (!rc && ab.n) {
		/* an annotation set whose values all expanded to "" is empty */
		int any = 0;
		for (int i = 0; i < ab.n; i++)
			any |= ab.v[i].vlen > 0;
		if (any) {
			rc = lb_build(&ab, &a->annotations, &why);
			if (rc == -EINVAL)
				rule_error(rr, "invalid annotations: %s", why);
		}
	}
	for (size_t i = 0; i < nb; i++)
		obs_buf_release(&bufs[i]);
	if (rc) {
		obs_alert_release(a);
		return rc;
	}
	a->fp = obs_alert_fingerprint(&a->labels);
	a->value = v;
	a->active_at = t;
	a->state = OBS_ALERT_PENDING;
	a->rule = rule->name;
	a->group = g->g->name;
	a->file = g->file;
	return 0;
}

static int alerts_series(struct obs_ruleeval *e, const struct obs_alert *a, int64_t t, struct outvec *o)
{
	struct lb b;
	lb_from(&b, &a->labels, 0);
	lb_set(&b, "__name__", "ALERTS", 6);
	const char *st = obs_alert_state_name(a->state);
	lb_set(&b, "alertstate", st, strlen(st));
	struct obs_labels l;
	const char *why;
	int rc = lb_build(&b, &l, &why);
	if (!rc)
		rc = outvec_add(o, &l, 1);
	if (rc)
		return rc;
	lb_from(&b, &a->labels, 0);
	lb_set(&b, "__name__", "ALERTS_FOR_STATE", 16);
	rc = lb_build(&b, &l, &why);
	if (!rc)
		rc = outvec_add(o, &l, (double)(a->active_at / 1000));
	(void)e;
	(void)t;
	return rc;
}

static int eval_alerting(struct obs_ruleeval *e, struct rgroup *g, struct rrule *rr, int64_t t)
{
	const struct obs_rule *rule = rr->r;
	int64_t qt = t - g->g->query_offset_ms;
	struct obs_query_result res;
	if (run_query(e, rr, qt, &res) < 0) {
		obs_query_result_release(&res);
		return -EINVAL;
	}
	/* new alerts from this evaluation */
	struct obs_alert *cur = calloc(res.nseries ? res.nseries : 1, sizeof *cur);
	if (!cur) {
		obs_query_result_release(&res);
		return -ENOMEM;
	}
	size_t ncur = 0;
	int rc = 0;
	for (size_t i = 0; i < res.nseries && !rc; i++) {
		if (!res.series[i].n)
			continue;
		rc = sample_alert(e, g, rr, &res.series[i].labels, res.series[i].v[res.series[i].n - 1], t, qt, &cur[ncur]);
		if (rc)
			break;
		ncur++;
	}
	obs_query_result_release(&res);
	if (!rc && ncur > 1) {
		struct hidx *hv = malloc(ncur * sizeof *hv);
		if (!hv)
			rc = -ENOMEM;
		for (size_t j = 0; hv && j < ncur; j++)
			hv[j] = (struct hidx){ cur[j].fp, &cur[j].labels };
		if (hv && has_same(hv, ncur)) {
			rule_error(rr, "%s", "vector contains metrics with the same labelset after applying alert labels");
			rc = -EINVAL;
		}
		free(hv);
	}
	if (rc) {
		for (size_t j = 0; j < ncur; j++)
			obs_alert_release(&cur[j]);
		free(cur);
		return rc;
	}
	/* merge into the active set */
	char *seen = calloc(rr->nactive + ncur + 1, 1);
	if (!seen) {
		for (size_t j = 0; j < ncur; j++)
			obs_alert_release(&cur[j]);
		free(cur);
		return -ENOMEM;
	}
	obs_qsort(rr->active, rr->nactive, sizeof *rr->active, alert_fp_cmp);
	size_t n0 = rr->nactive;
	for (size_t j = 0; j < ncur; j++) {
		struct obs_alert *old = find_sorted(rr, n0, cur[j].fp, &cur[j].labels);
		if (old && old->state != OBS_ALERT_INACTIVE) {
			old->value = cur[j].value;
			obs_labels_release(&old->annotations);
			old->annotations = cur[j].annotations;
			obs_labels_init(&cur[j].annotations);
			seen[old - rr->active] = 1;
			obs_alert_release(&cur[j]);
			continue;
		}
		if (old) {   /* a resolved alert comes back: a new alert replaces it */
			size_t idx = (size_t)(old - rr->active);
			obs_alert_release(old);
			*old = cur[j];
			seen[idx] = 1;
			if (rule->for_ms)
				emit_event(e, old, OBS_ALERT_EV_PENDING, t);
			continue;
		}
		if (alert_push(rr, &cur[j]) < 0) {
			obs_alert_release(&cur[j]);
			rc = -ENOMEM;
			continue;
		}
		seen[rr->nactive - 1] = 1;
		if (rule->for_ms)
			emit_event(e, &rr->active[rr->nactive - 1], OBS_ALERT_EV_PENDING, t);
	}
	free(cur);
	/* advance states; write ALERTS / ALERTS_FOR_STATE */
	struct outvec o = { 0 };
	size_t numactive = 0;
	for (size_t i = 0; i < rr->nactive;) {
		struct obs_alert *a = &rr->active[i];
		if (!seen[i]) {
			int keep = 0;
			if (a->state == OBS_ALERT_FIRING && rule->keep_firing_for_ms > 0) {
				if (!a->keep_firing_since)
					a->keep_firing_since = t;
				if (t - a->keep_firing_since < rule->keep_firing_for_ms)
					keep = 1;
			}
			if (a->state == OBS_ALERT_PENDING ||
			    (a->resolved_at && t - a->resolved_at > OBS_ALERT_RESOLVED_RETENTION_MS)) {
				if (a->state == OBS_ALERT_PENDING)
					emit_event(e, a, OBS_ALERT_EV_DROPPED, t);
				obs_alert_release(a);
				memmove(a, a + 1, (rr->nactive - i - 1) * sizeof *a);
				memmove(seen + i, seen + i + 1, rr->nactive - i - 1);
				rr->nactive--;
				continue;
			}
			if (a->state != OBS_ALERT_INACTIVE && !keep) {
				a->state = OBS_ALERT_INACTIVE;
				a->resolved_at = t;
				emit_event(e, a, OBS_ALERT_EV_RESOLVED, t);
			}
			if (!keep) {
				i++;
				continue;
			}
		} else {
			a->keep_firing_since = 0;
		}
		numactive++;
		if (a->state == OBS_ALERT_PENDING && t - a->active_at >= rule->for_ms) {
			a->state = OBS_ALERT_FIRING;
			a->fired_at = t;
			emit_event(e, a, OBS_ALERT_EV_FIRING, t);
		}
		if (!rc)
			rc = alerts_series(e, a, t, &o);
		i++;
	}
	free(seen);
	if (!rc && g->g->limit > 0 && (int64_t)numactive > g->g->limit) {
		for (size_t i = 0; i < rr->nactive; i++)
			obs_alert_release(&rr->active[i]);
		rr->nactive = 0;
		char m[100];
		snprintf(m, sizeof m, "exceeded limit of %lld with %zu alerts", (long long)g->g->limit, numactive);
		rule_error(rr, "%s", m);
		outvec_release(&o);
		return -EINVAL;
	}
	if (rc) {
		outvec_release(&o);
		return rc;
	}
	write_out(e, rr, &o, t);
	/* Prometheus' sendAlerts bookkeeping */
	int64_t delta = e->o.resend_delay_ms > g->interval_ms ? e->o.resend_delay_ms : g->interval_ms;
	for (size_t i = 0; i < rr->nactive; i++) {
		struct obs_alert *a = &rr->active[i];
		if (obs_alert_needs_sending(a, t, e->o.resend_delay_ms)) {
			a->last_sent_at = t;
			a->valid_until = a->state == OBS_ALERT_INACTIVE ? a->resolved_at : t + 4 * delta;
		}
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
		int rc = rr->r->alert ? eval_alerting(e, g, rr, t) : eval_recording(e, g, rr, t);
		if (rc == -ENOMEM && rr->health != 2)
			rule_error(rr, "%s", "out of memory");
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
		obs_qsort(v, n, sizeof *v, gref_cmp);
		for (size_t i = 0; i < n; i++)
			nerr += eval_group(e, v[i].g, t, errs);
		free(v);
	}
	pthread_mutex_unlock(&e->mu);
	return nerr;
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
				    find_alert(rr, re->a.fp, &re->a.labels))
					continue;
				struct obs_alert a = re->a;
				a.rule = rr->r->name;
				a.group = g->g->name;
				a.file = g->file;
				if (alert_push(rr, &a) == 0) {
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
			write_stale(e, &f->groups[j].rules[i], now);
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

/* ---- views ---- */

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
