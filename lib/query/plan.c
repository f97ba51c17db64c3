/* plan.c — query planning against downsampling tiers: a range function
 * whose windows a rollup tier can tile reads the tier's buckets instead of
 * raw samples.
 *
 * Served: max_over_time, min_over_time, sum_over_time, count_over_time and
 * avg_over_time of a matrix selector without @, when every window
 * (E - range, E] is a whole number of buckets of B = gcd(range, step), E
 * is a multiple of B, B is a multiple of a tier step (1m, 5m, 1h), and
 * the store holds rollups (store.rollup does not answer -ENOENT). A window
 * is then the buckets [E - range, E), less a raw sample lying exactly at
 * E - range, plus one lying exactly at E (the store hands out the raw
 * samples on bucket boundaries it still keeps): the raw window's samples.
 * When the sample taken out was its bucket's min or max, that bucket's
 * extreme without it is unknown and the series is computed from raw
 * samples (OBS_QUERY_WANT_RAW). Where raw samples are gone (retention),
 * boundary samples cannot be corrected for. Buckets hold no NaN samples
 * apart from their count, so NaN samples in rolled-up data are taken for
 * staleness markers (ignored).
 * Series the store holds no rollups for come back raw and are computed
 * exactly as without planning. obs_query_opts.raw_only turns it off. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"
#include "query/q.h"

enum pfn { P_MAX, P_MIN, P_SUM, P_COUNT, P_AVG };

struct plan {
	struct q_ev *ev;
	enum pfn f;
	const struct q_rv *rv;
	int64_t bstep;
	q_plan_row_fn row;
	obs_query_emit_fn raw;
	void *c;
	double *v;
	uint8_t *ok;
};

/* The raw boundary sample at time x, if any (a cursor j over t[0..n) that
 * only moves forward while x does not decrease). */
static const double *at_time(const int64_t *t, const double *v, size_t n, size_t *j, int64_t x)
{
	while (*j < n && t[*j] < x)
		(*j)++;
	return *j < n && t[*j] == x && !isnan(v[*j]) ? &v[*j] : NULL;
}

static int plan_emit(void *ctx, const struct obs_labels *l, const struct obs_query_bucket *b, size_t nb,
		     const int64_t *t, const double *v, size_t n)
{
	struct plan *p = ctx;
	struct q_ev *ev = p->ev;
	int rc = q_check(ev);
	if (rc)
		return rc;
	if (!nb)
		return p->raw(p->c, l, t, v, n);
	size_t lo = 0, hi = 0, pts = 0, j0 = 0, j1 = 0;
	int64_t range = p->rv->range;
	int ismax = p->f == P_MAX, ismin = p->f == P_MIN;
	memset(p->ok, 0, ev->nsteps);
	for (size_t i = 0; i < ev->nsteps; i++) {
		int64_t e = p->rv->wend[i];
		/* buckets with e - range <= t < e; window ends never decrease here */
		while (lo < nb && b[lo].t < e - range)
			lo++;
		if (hi < lo)
			hi = lo;
		while (hi < nb && b[hi].t < e)
			hi++;
		/* the buckets hold a sample at e - range that the window does not,
		 * and miss one at e that it does */
		const double *s0 = at_time(t, v, n, &j0, e - range), *s1 = at_time(t, v, n, &j1, e);
		double acc = 0, c = 0, cnt = 0;
		int any = 0;
		for (size_t k = lo; k < hi; k++) {
			const struct obs_query_bucket *x = &b[k];
			double xc = x->count;
			if (!(xc > 0))
				continue;
			if (k == lo && s0 && x->t == e - range) {
				if (xc <= 1)
					continue;   /* it held s0 only */
				if ((ismax && *s0 >= x->max) || (ismin && *s0 <= x->min))
					return OBS_QUERY_WANT_RAW;   /* its extreme without s0 is unknown */
			}
			switch (p->f) {
			case P_MAX: if (!any || x->max > acc) acc = x->max; break;
			case P_MIN: if (!any || x->min < acc) acc = x->min; break;
			case P_SUM: case P_AVG: q_kahan_add(x->sum, &acc, &c); cnt += xc; break;
			case P_COUNT: acc += xc; break;
			}
			any = 1;
		}
		if (s0 && lo < hi && b[lo].t == e - range && b[lo].count > 1) {
			if (p->f == P_SUM || p->f == P_AVG) {
				q_kahan_add(-*s0, &acc, &c);
				cnt--;
			} else if (p->f == P_COUNT) {
				acc--;
			}
		}
		if (s1) {
			switch (p->f) {
			case P_MAX: if (!any || *s1 > acc) acc = *s1; break;
			case P_MIN: if (!any || *s1 < acc) acc = *s1; break;
			case P_SUM: case P_AVG: q_kahan_add(*s1, &acc, &c); cnt++; break;
			case P_COUNT: acc++; break;
			}
			any = 1;
		}
		if (!any)
			continue;
		if (p->f == P_SUM)
			acc += c;
		else if (p->f == P_AVG)
			acc = acc / cnt + c / cnt;
		p->v[i] = acc;
		p->ok[i] = 1;
		pts++;
	}
	if (!pts)
		return 0;
	return p->row(p->c, l, p->v, p->ok);
}

int q_plan_rollup(struct q_ev *ev, const struct q_node *n, const struct q_node *msel, const struct q_rv *rv,
		  q_plan_row_fn row, obs_query_emit_fn raw, void *c)
{
	static const struct { const char *name; enum pfn f; } fns[] = {
		{ "max_over_time", P_MAX }, { "min_over_time", P_MIN }, { "sum_over_time", P_SUM },
		{ "count_over_time", P_COUNT }, { "avg_over_time", P_AVG },
	};
	if (ev->o->raw_only || !ev->st->rollup || !ev->nsteps || msel->a->at != AT_NONE)
		return 0;
	size_t k;
	for (k = 0; k < sizeof(fns) / sizeof(fns[0]); k++)
		if (strcmp(n->fn->name, fns[k].name) == 0)
			break;
	if (k == sizeof(fns) / sizeof(fns[0]))
		return 0;
	int64_t b = ev->nsteps > 1 ? (int64_t)obs_gcd_u64((uint64_t)rv->range, (uint64_t)ev->step) : rv->range;
	if (b < 60000 || b % 60000)
		return 0;
	int64_t mn = rv->wend[0], mx = rv->wend[0];
	for (size_t i = 0; i < ev->nsteps; i++) {
		if (rv->wend[i] % b || (i && rv->wend[i] < rv->wend[i - 1]))
			return 0;
		if (rv->wend[i] < mn) mn = rv->wend[i];
		if (rv->wend[i] > mx) mx = rv->wend[i];
	}
	struct plan p = { .ev = ev, .f = fns[k].f, .rv = rv, .bstep = b, .row = row, .raw = raw, .c = c };
	p.v = malloc((ev->nsteps + 1) * sizeof(double));
	p.ok = malloc(ev->nsteps + 1);
	int rc = 0;
	if (!p.v || !p.ok)
		rc = q_errf(ev, -ENOMEM, "out of memory");
	else
		rc = ev->st->rollup(ev->st->ctx, msel->a->m, msel->a->nm, mn - rv->range, mx - 1, b, plan_emit, &p);
	free(p.v);
	free(p.ok);
	if (rc == -ENOENT)
		return 0;   /* no tier serves it: raw samples */
	return rc ? rc : 1;
}
