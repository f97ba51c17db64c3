/* ruleeval_alert.c — the alerting rules' state machine (Prometheus'
 * AlertingRule.Eval, ruleeval.h): alerts from a query's samples with
 * templated labels and annotations, pending -> firing after `for`,
 * resolved, keep_firing_for, dropped, resend bookkeeping. */
#include "alert/ruleeval_int.h"
#include "core/vec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void emit_event(struct obs_ruleeval *e, const struct obs_alert *a, enum obs_alert_event_kind k, int64_t t)
{
	e->gen++;
	if (!e->o.sink.event)
		return;
	struct obs_alert_event ev = { .t = t, .kind = k, .alert = a };
	e->o.sink.event(e->o.sink.ctx, &ev);
}

struct obs_alert *rev_find_alert(struct rrule *rr, uint64_t fp, const struct obs_labels *l)
{
	for (size_t i = 0; i < rr->nactive; i++)
		if (rr->active[i].fp == fp && obs_labels_equal(&rr->active[i].labels, l))
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
		if (obs_labels_equal(&rr->active[i].labels, l))
			return &rr->active[i];
	return NULL;
}

int rev_alert_push(struct rrule *rr, struct obs_alert *a)
{
	if (OBS_VEC_RESERVE(rr->active, rr->cap, rr->nactive + 1))
		return -ENOMEM;
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
	rev_lb_from(&b, sl, 1);
	for (size_t k = 0; k < rule->nlabels; k++) {
		expand(e, &rule->labels[k], &d, &bufs[k]);
		rev_lb_set(&b, rule->labels[k].name, bufs[k].data ? bufs[k].data : "", bufs[k].len);
	}
	rev_lb_set(&b, "alertname", rule->name, strlen(rule->name));
	memset(a, 0, sizeof *a);
	const char *why;
	int rc = rev_lb_build(&b, &a->labels, &why);
	if (rc == -EINVAL)
		rev_rule_error(rr, "invalid alert labels: %s", why);
	struct lb ab;
	ab.n = 0;
	for (size_t k = 0; !rc && k < rule->nannotations; k++) {
		struct obs_buf *ob = &bufs[rule->nlabels + k];
		expand(e, &rule->annotations[k], &d, ob);
		rev_lb_set(&ab, rule->annotations[k].name, ob->data ? ob->data : "", ob->len);
	}
	if (!rc && ab.n) {
		/* an annotation set whose values all expanded to "" is empty */
		int any = 0;
		for (int i = 0; i < ab.n; i++)
			any |= ab.v[i].vlen > 0;
		if (any) {
			rc = rev_lb_build(&ab, &a->annotations, &why);
			if (rc == -EINVAL)
				rev_rule_error(rr, "invalid annotations: %s", why);
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

/* ---- ALERTS_FOR_STATE: the for state of alerts without saved state ---- */

struct fsq {
	size_t nlabels;
	int64_t t;
	double v;
	int found;
};

static int fsq_emit(void *ctx, const struct obs_labels *l, const int64_t *t, const double *v, size_t n)
{
	struct fsq *q = ctx;
	if (l->n != q->nlabels + 1)   /* the alert's labels and __name__, no more */
		return 0;
	/* the last sample; a staleness marker there: the alert had ended */
	if (n && t[n - 1] > q->t) {
		q->t = t[n - 1];
		q->v = v[n - 1];
		q->found = !obs_query_is_stale(v[n - 1]) && !isnan(v[n - 1]);
	}
	return 0;
}

/* Prometheus' RestoreForState for a new alert a at the first evaluation of
 * its rule: the last ALERTS_FOR_STATE sample of its labels within the
 * outage tolerance up to t says since when it was active (value) and when
 * the evaluator went down (the sample's time; one at t itself is from the
 * previous run, after a restart within the same interval); none, or a
 * staleness marker last (the alert had resolved), and it starts afresh. Time already spent pending
 * counts; an alert that would fire within the grace period fires at
 * t + grace; one that had fired keeps its active_at (and fires now). */
static void restore_for_state(struct obs_ruleeval *e, struct obs_alert *a, int64_t for_ms, int64_t t)
{
	if (!e->o.store.select)
		return;
	size_t nm = a->labels.n + 1;
	struct obs_matcher *m = calloc(nm, sizeof *m);
	if (!m)
		return;
	const char *why;
	int rc = obs_matcher_init(&m[0], "__name__", OBS_MATCH_EQ, "ALERTS_FOR_STATE", &why);
	for (size_t i = 0; !rc && i < a->labels.n; i++)
		rc = obs_matcher_init(&m[i + 1], a->labels.v[i].name, OBS_MATCH_EQ, a->labels.v[i].value, &why);
	struct fsq q = { .nlabels = a->labels.n, .t = INT64_MIN };
	if (!rc)
		rc = e->o.store.select(e->o.store.ctx, m, nm, t - OBS_ALERT_FOR_OUTAGE_TOLERANCE_MS, t, fsq_emit, &q);
	for (size_t i = 0; i < nm; i++)
		obs_matcher_release(&m[i]);
	free(m);
	if (rc || !q.found || !(q.v > 0) || q.v * 1000 > (double)q.t)
		return;
	int64_t active_at = (int64_t)q.v * 1000, down_at = q.t;
	int64_t remaining = for_ms - (down_at - active_at);
	if (remaining <= 0)
		;   /* it had fired: it still has */
	else if (remaining < OBS_ALERT_FOR_GRACE_PERIOD_MS)
		active_at = t + OBS_ALERT_FOR_GRACE_PERIOD_MS - for_ms;
	else
		active_at += t - down_at;   /* the outage does not count as pending */
	a->active_at = active_at;
}

int rev_eval_alerting(struct obs_ruleeval *e, struct rgroup *g, struct rrule *rr, int64_t t)
{
	const struct obs_rule *rule = rr->r;
	int64_t qt = t - g->g->query_offset_ms;
	struct obs_query_result res;
	if (rev_run_query(e, rr, qt, &res) < 0) {
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
		if (hv && rev_has_same(hv, ncur)) {
			rev_rule_error(rr, "%s", "vector contains metrics with the same labelset after applying alert labels");
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
	rev_qsort(rr->active, rr->nactive, sizeof *rr->active, alert_fp_cmp);
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
		if (rev_alert_push(rr, &cur[j]) < 0) {
			obs_alert_release(&cur[j]);
			rc = -ENOMEM;
			continue;
		}
		seen[rr->nactive - 1] = 1;
		struct obs_alert *na = &rr->active[rr->nactive - 1];
		if (rule->for_ms && !rr->restored)
			restore_for_state(e, na, rule->for_ms, t);
		if (rule->for_ms && t - na->active_at < rule->for_ms)
			emit_event(e, na, OBS_ALERT_EV_PENDING, t);
	}
	rr->restored = 1;
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
			rc = rev_alerts_series(e, a, t, &o);
		i++;
	}
	free(seen);
	if (!rc && g->g->limit > 0 && (int64_t)numactive > g->g->limit) {
		for (size_t i = 0; i < rr->nactive; i++)
			obs_alert_release(&rr->active[i]);
		rr->nactive = 0;
		char m[100];
		snprintf(m, sizeof m, "exceeded limit of %lld with %zu alerts", (long long)g->g->limit, numactive);
		rev_rule_error(rr, "%s", m);
		rev_outvec_release(&o);
		return -EINVAL;
	}
	if (rc) {
		rev_outvec_release(&o);
		return rc;
	}
	rev_write_out(e, rr, &o, t);
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
