/* func_range.c — functions over range vectors: rate, increase, delta
 * (Prometheus' extrapolation), irate, idelta, deriv, predict_linear,
 * resets, changes, the *_over_time family and double_exponential_smoothing.
 * Each window is (end - range, end] of one series. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/q.h"

enum rfn {
	R_RATE, R_INCREASE, R_DELTA, R_IRATE, R_IDELTA, R_DERIV, R_PREDICT, R_RESETS, R_CHANGES,
	R_AVG, R_SUM, R_COUNT, R_MIN, R_MAX, R_LAST, R_FIRST, R_PRESENT, R_STDDEV, R_STDVAR,
	R_QUANTILE, R_MAD, R_TS_MIN, R_TS_MAX, R_TS_FIRST, R_TS_LAST, R_DES,
};

static const struct { const char *name; enum rfn f; } rfns[] = {
	{ "rate", R_RATE }, { "increase", R_INCREASE }, { "delta", R_DELTA }, { "irate", R_IRATE },
	{ "idelta", R_IDELTA }, { "deriv", R_DERIV }, { "predict_linear", R_PREDICT },
	{ "resets", R_RESETS }, { "changes", R_CHANGES }, { "avg_over_time", R_AVG },
	{ "sum_over_time", R_SUM }, { "count_over_time", R_COUNT }, { "min_over_time", R_MIN },
	{ "max_over_time", R_MAX }, { "last_over_time", R_LAST }, { "first_over_time", R_FIRST },
	{ "present_over_time", R_PRESENT }, { "stddev_over_time", R_STDDEV },
	{ "stdvar_over_time", R_STDVAR }, { "quantile_over_time", R_QUANTILE },
	{ "mad_over_time", R_MAD }, { "ts_of_min_over_time", R_TS_MIN }, { "ts_of_max_over_time", R_TS_MAX },
	{ "ts_of_first_over_time", R_TS_FIRST }, { "ts_of_last_over_time", R_TS_LAST },
	{ "double_exponential_smoothing", R_DES },
};

static int extrapolate(const int64_t *t, const double *v, size_t n, int64_t rs, int64_t re, int counter,
		       int is_rate, double *out)
{
	if (n < 2)
		return 0;
	double result = v[n - 1] - v[0];
	if (counter) {
		double prev = v[0];
		for (size_t i = 1; i < n; i++) {
			if (v[i] < prev)
				result += prev;
			prev = v[i];
		}
	}
	double to_start = (double)(t[0] - rs) / 1000, to_end = (double)(re - t[n - 1]) / 1000;
	double sampled = (double)(t[n - 1] - t[0]) / 1000;
	double avg = sampled / (double)(n - 1);
	double thr = avg * 1.1;
	if (to_start >= thr)
		to_start = avg / 2;
	if (counter) {
		double to_zero = to_start;
		if (result > 0 && v[0] >= 0)
			to_zero = sampled * (v[0] / result);
		if (to_zero < to_start)
			to_start = to_zero;
	}
	if (to_end >= thr)
		to_end = avg / 2;
	double factor = (sampled + to_start + to_end) / sampled;
	if (is_rate)
		factor /= (double)(re - rs) / 1000;
	*out = result * factor;
	return 1;
}

static void linreg(const int64_t *t, const double *v, size_t n, int64_t icept, double *slope, double *intercept)
{
	double cnt = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
	double init = v[0];
	int consty = 1;
	for (size_t i = 0; i < n; i++) {
		if (consty && i > 0 && v[i] != init)
			consty = 0;
		cnt += 1;
		double x = (double)(t[i] - icept) / 1e3;
		q_kahan_add(x, &sx, &cx);
		q_kahan_add(v[i], &sy, &cy);
		q_kahan_add(x * v[i], &sxy, &cxy);
		q_kahan_add(x * x, &sx2, &cx2);
	}
	if (consty) {
		if (isinf(init)) {
			*slope = NAN;
			*intercept = NAN;
		} else {
			*slope = 0;
			*intercept = init;
		}
		return;
	}
	sx += cx;
	sy += cy;
	sxy += cxy;
	sx2 += cx2;
	double cov = sxy - sx * sy / cnt, var = sx2 - sx * sx / cnt;
	*slope = cov / var;
	*intercept = sy / cnt - *slope * sx / cnt;
}

static double med(double *tmp, const double *v, size_t n)
{
	memcpy(tmp, v, n * sizeof(double));
	return q_quantile(0.5, tmp, n);
}

/* One window's value; 0 when the function gives no sample for it. */
static int window_value(struct q_ev *ev, const struct q_node *n, enum rfn f, const int64_t *t, const double *v,
			size_t cnt, int64_t wend, int64_t range, int64_t evt, double p1, double p2, double *tmp,
			double *out)
{
	if (!cnt)
		return 0;
	switch (f) {
	case R_RATE: return extrapolate(t, v, cnt, wend - range, wend, 1, 1, out);
	case R_INCREASE: return extrapolate(t, v, cnt, wend - range, wend, 1, 0, out);
	case R_DELTA: return extrapolate(t, v, cnt, wend - range, wend, 0, 0, out);
	case R_IRATE: case R_IDELTA: {
		if (cnt < 2)
			return 0;
		double a = v[cnt - 2], b = v[cnt - 1];
		double r = (f == R_IRATE && b < a) ? b : b - a;
		if (f == R_IRATE) {
			int64_t dt = t[cnt - 1] - t[cnt - 2];
			if (!dt)
				return 0;
			r /= (double)dt / 1000;
		}
		*out = r;
		return 1;
	}
	case R_DERIV: {
		if (cnt < 2)
			return 0;
		double s, i;
		linreg(t, v, cnt, t[0], &s, &i);
		*out = s;
		return 1;
	}
	case R_PREDICT: {
		if (cnt < 2)
			return 0;
		double s, i;
		linreg(t, v, cnt, evt, &s, &i);
		*out = s * p1 + i;
		return 1;
	}
	case R_RESETS: case R_CHANGES: {
		double c = 0;
		for (size_t i = 1; i < cnt; i++) {
			if (f == R_RESETS ? v[i] < v[i - 1] : !(v[i] == v[i - 1] || (isnan(v[i]) && isnan(v[i - 1]))))
				c++;
		}
		*out = c;
		return 1;
	}
	case R_AVG: {
		double sum = v[0], c = 0, mean = 0, count = 1;
		int inc = 0;
		for (size_t i = 1; i < cnt; i++) {
			count = (double)(i + 1);
			if (!inc) {
				double ns = sum, nc = c;
				q_kahan_add(v[i], &ns, &nc);
				if (!isinf(ns)) {
					sum = ns;
					c = nc;
					continue;
				}
				inc = 1;
				mean = sum / (count - 1);
				c /= count - 1;
			}
			double q = (count - 1) / count;
			double m = q * mean, cc = q * c;
			q_kahan_add(v[i] / count, &m, &cc);
			mean = m;
			c = cc;
		}
		*out = inc ? mean + c : sum / count + c / count;
		return 1;
	}
	case R_SUM: {
		double s = 0, c = 0;
		for (size_t i = 0; i < cnt; i++)
			q_kahan_add(v[i], &s, &c);
		*out = s + c;
		return 1;
	}
	case R_COUNT: *out = (double)cnt; return 1;
	case R_PRESENT: *out = 1; return 1;
	case R_MIN: case R_MAX: {
		double m = v[0];
		for (size_t i = 1; i < cnt; i++)
			if ((f == R_MIN ? v[i] < m : v[i] > m) || isnan(m))
				m = v[i];
		*out = m;
		return 1;
	}
	case R_TS_MIN: case R_TS_MAX: {
		double m = v[0];
		int64_t mt = t[0];
		for (size_t i = 1; i < cnt; i++)
			if ((f == R_TS_MIN ? v[i] <= m : v[i] >= m) || isnan(m)) {
				m = v[i];
				mt = t[i];
			}
		*out = (double)mt / 1000;
		return 1;
	}
	case R_LAST: *out = v[cnt - 1]; return 1;
	case R_FIRST: *out = v[0]; return 1;
	case R_TS_FIRST: *out = (double)t[0] / 1000; return 1;
	case R_TS_LAST: *out = (double)t[cnt - 1] / 1000; return 1;
	case R_STDDEV: case R_STDVAR: {
		double count = 0, mean = 0, cm = 0, aux = 0, ca = 0;
		for (size_t i = 0; i < cnt; i++) {
			count++;
			double d = v[i] - (mean + cm);
			q_kahan_add(d / count, &mean, &cm);
			q_kahan_add(d * (v[i] - (mean + cm)), &aux, &ca);
		}
		double var = (aux + ca) / count;
		*out = f == R_STDDEV ? sqrt(var) : var;
		return 1;
	}
	case R_QUANTILE:
		memcpy(tmp, v, cnt * sizeof(double));
		*out = q_quantile(p1, tmp, cnt);
		return 1;
	case R_MAD: {
		for (size_t i = 0; i < cnt; i++)
			if (isnan(v[i])) {
				*out = NAN;
				return 1;
			}
		double m = med(tmp, v, cnt);
		for (size_t i = 0; i < cnt; i++)
			tmp[i] = fabs(v[i] - m);
		*out = q_quantile(0.5, tmp, cnt);
		return 1;
	}
	case R_DES: {
		if (cnt < 2)
			return 0;
		double s0 = 0, s1 = v[0], b = v[1] - v[0];
		for (size_t i = 1; i < cnt; i++) {
			double x = p1 * v[i];
			if (i > 1)
				b = p2 * (s1 - s0) + (1 - p2) * b;
			double y = (1 - p1) * (s1 + b);
			s0 = s1;
			s1 = x + y;
		}
		*out = s1;
		return 1;
	}
	}
	(void)ev;
	(void)n;
	return 0;
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

struct rfn_ctx {
	enum rfn f;
	size_t ri;               /* index of the range vector argument */
	const double *p1, *p2;   /* scalar parameters per step */
	double *tmp;
	size_t tmpcap;
	size_t *dq;              /* sliding-window deque (func_slide.c) */
	int counter, warned_q;
};

static int rfn_prepare(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct rfn_ctx *c)
{
	memset(c, 0, sizeof(*c));
	size_t k;
	for (k = 0; k < sizeof(rfns) / sizeof(rfns[0]); k++)
		if (strcmp(rfns[k].name, n->fn->name) == 0) {
			c->f = rfns[k].f;
			break;
		}
	if (k == sizeof(rfns) / sizeof(rfns[0]))
		return q_errf(ev, -EINVAL, "function \"%s\" is not implemented", n->fn->name);
	enum rfn f = c->f;
	c->ri = f == R_QUANTILE ? 1 : 0;
	if (f == R_QUANTILE)
		c->p1 = args[0].sc;
	else if (f == R_PREDICT)
		c->p1 = args[1].sc;
	else if (f == R_DES) {
		c->p1 = args[1].sc;
		c->p2 = args[2].sc;
		for (size_t i = 0; i < ev->nsteps; i++) {
			if (c->p1[i] <= 0 || c->p1[i] >= 1)
				return q_errf(ev, -EINVAL, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", c->p1[i]);
			if (c->p2[i] <= 0 || c->p2[i] >= 1)
				return q_errf(ev, -EINVAL, "invalid trend factor. Expected: 0 < tf < 1, got: %f", c->p2[i]);
		}
	}
	c->counter = f == R_RATE || f == R_INCREASE;   /* Prometheus checks names for these two */
	return 0;
}

struct direct_ctx {
	struct q_ev *ev;
	const struct q_node *n;
	enum rfn f;
	int64_t range;
};

static int slide_direct(void *ctx, const int64_t *t, const double *v, size_t cnt, int64_t wend, double *out)
{
	struct direct_ctx *d = ctx;
	return window_value(d->ev, d->n, d->f, t, v, cnt, wend, d->range, 0, 0, 0, NULL, out);
}

/* One series over every step into v/ok; returns the number of points or -errno. */
static long rfn_series(struct q_ev *ev, const struct q_node *n, struct rfn_ctx *c, const struct q_raw *r,
		       const int64_t *wend, int64_t range, double *v, uint8_t *ok)
{
	enum rfn f = c->f;
	if (r->n + 1 > c->tmpcap) {
		double *nt = realloc(c->tmp, (r->n + 1) * sizeof(double));
		if (!nt)
			return q_errf(ev, -ENOMEM, "out of memory");
		c->tmp = nt;
		size_t *nd = realloc(c->dq, (r->n + 1) * sizeof(size_t));
		if (!nd)
			return q_errf(ev, -ENOMEM, "out of memory");
		c->dq = nd;
		c->tmpcap = r->n + 1;
	}
	int chk = c->counter, rc;
	if (ev->nsteps > 1 && !ev->o->scan_windows && (f == R_MIN || f == R_MAX || f == R_SUM || f == R_AVG)) {
		int sf = f == R_MIN ? Q_SLIDE_MIN : f == R_MAX ? Q_SLIDE_MAX : f == R_SUM ? Q_SLIDE_SUM : Q_SLIDE_AVG;
		struct direct_ctx d = { .ev = ev, .n = n, .f = f, .range = range };
		long pts = 0;
		rc = q_slide_series(ev, sf, r, wend, range, c->dq, slide_direct, &d, v, ok, &pts);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return pts;
	}
	struct q_wcur cur = { 0 };
	long pts = 0;
	memset(ok, 0, ev->nsteps);
	for (size_t i = 0; i < ev->nsteps; i++) {
		size_t lo, hi;
		if ((i & 1023) == 1023 && (rc = q_check(ev)) != 0)
			return rc;
		q_window_next(r, wend[i], range, &cur, &lo, &hi);
		if (chk && hi > lo) {
			const char *nm = obs_labels_get(&r->l, "__name__");
			if (nm && !ends_with(nm, "_total") && !ends_with(nm, "_sum") && !ends_with(nm, "_count") &&
			    !ends_with(nm, "_bucket"))
				q_warnf(ev, n->args[c->ri], "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"%s\"", nm);
			chk = 0;
		}
		double a1 = c->p1 ? c->p1[i] : 0, a2 = c->p2 ? c->p2[i] : 0;
		if (f == R_QUANTILE && (isnan(a1) || a1 < 0 || a1 > 1) && !c->warned_q && hi > lo) {
			char g[32];
			snprintf(g, sizeof(g), "%g", a1);
			q_warnf(ev, n->args[0], "PromQL warning: quantile value should be between 0 and 1, got %s",
				isnan(a1) ? "NaN" : g);
			c->warned_q = 1;
		}
		if (!window_value(ev, n, f, r->t + lo, r->v + lo, hi - lo, wend[i], range, q_ts(ev, i), a1, a2,
				  c->tmp, &v[i]))
			continue;
		ok[i] = 1;
		pts++;
	}
	return pts;
}

int q_fn_range(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	struct rfn_ctx c;
	int rc = rfn_prepare(ev, n, args, &c);
	if (rc)
		return rc;
	struct q_rv *rv = &args[c.ri].rv;
	out->type = VT_VECTOR;
	double *v = malloc((ev->nsteps + 1) * sizeof(double));
	uint8_t *ok = malloc(ev->nsteps + 1);
	if (!v || !ok)
		rc = q_errf(ev, -ENOMEM, "out of memory");
	for (size_t s = 0; s < rv->n && !rc; s++) {
		struct q_raw *r = &rv->s[s];
		if ((rc = q_check(ev)))
			break;
		long pts = rfn_series(ev, n, &c, r, rv->wend, rv->range, v, ok);
		if (pts < 0) {
			rc = (int)pts;
			break;
		}
		if (!pts)
			continue;
		struct q_ser *o = q_mat_add(ev, &out->m, &r->l, 0);
		if (!o) {
			rc = -ENOMEM;
			break;
		}
		o->dropname = n->fn->keeps_name ? r->dropname : 1;
		memcpy(o->v, v, ev->nsteps * sizeof(double));
		memcpy(o->ok, ok, ev->nsteps);
	}
	free(v);
	free(ok);
	free(c.tmp);
	free(c.dq);
	return rc;
}

/* ---- straight from the store ----------------------------------------- */

struct stream {
	struct q_ev *ev;
	const struct q_node *n;
	struct rfn_ctx c;
	struct q_rv rv;          /* windows only (no series) */
	struct q_val *out;
	struct q_fold *fold;
	double *v;
	uint8_t *ok;
	int64_t *ft;             /* stale-free copies when needed */
	double *fv;
	size_t fcap;
};

/* One computed series into the aggregation or the result. */
static int stream_row(void *ctx, const struct obs_labels *l, const double *v, const uint8_t *ok)
{
	struct stream *x = ctx;
	struct q_ev *ev = x->ev;
	int dropname = x->n->fn->keeps_name ? 0 : 1;
	if (x->fold)
		return q_fold_row(x->fold, l, dropname, v, ok);
	struct q_ser *o = q_mat_add(ev, &x->out->m, l, 0);
	if (!o)
		return -ENOMEM;
	o->dropname = dropname;
	memcpy(o->v, v, ev->nsteps * sizeof(double));
	memcpy(o->ok, ok, ev->nsteps);
	return 0;
}

static int stream_emit(void *ctx, const struct obs_labels *l, const int64_t *t, const double *v, size_t n)
{
	struct stream *x = ctx;
	struct q_ev *ev = x->ev;
	int rc = q_check(ev);
	if (rc || !n)
		return rc;
	struct q_raw r = { .l = *l, .t = (int64_t *)t, .v = (double *)v, .n = n };
	size_t stale = 0;
	for (size_t i = 0; i < n; i++)
		stale += obs_query_is_stale(v[i]);
	if (stale) {
		if (n > x->fcap) {
			int64_t *nt = realloc(x->ft, n * sizeof(int64_t));
			if (nt)
				x->ft = nt;
			double *nv = realloc(x->fv, n * sizeof(double));
			if (nv)
				x->fv = nv;
			if (!nt || !nv)
				return q_errf(ev, -ENOMEM, "out of memory");
			x->fcap = n;
		}
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (!obs_query_is_stale(v[i])) {
				x->ft[k] = t[i];
				x->fv[k++] = v[i];
			}
		r.t = x->ft;
		r.v = x->fv;
		r.n = k;
	}
	if ((rc = q_account(ev, r.n)) != 0)   /* held while this series is worked on */
		return rc;
	long pts = rfn_series(ev, x->n, &x->c, &r, x->rv.wend, x->rv.range, x->v, x->ok);
	ev->samples -= r.n;
	if (pts <= 0)
		return (int)pts;
	return stream_row(x, l, x->v, x->ok);
}

int q_fn_range_stream(struct q_ev *ev, const struct q_node *n, struct q_val *args, const struct q_node *msel,
		      struct q_fold *fold, struct q_val *out)
{
	struct stream x = { .ev = ev, .n = n, .out = out, .fold = fold };
	int rc = rfn_prepare(ev, n, args, &x.c);
	if (rc)
		return rc;
	if (out)
		out->type = VT_VECTOR;
	int64_t mint, maxt;
	if ((rc = q_msel_bounds(ev, msel, &x.rv, &mint, &maxt)) != 0 || !ev->nsteps)
		goto out;
	x.v = malloc((ev->nsteps + 1) * sizeof(double));
	x.ok = malloc(ev->nsteps + 1);
	if (!x.v || !x.ok) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	rc = q_plan_rollup(ev, n, msel, &x.rv, stream_row, stream_emit, &x);
	if (rc == 0)
		rc = ev->st->select(ev->st->ctx, msel->a->m, msel->a->nm, mint, maxt, stream_emit, &x);
	else if (rc == 1)
		rc = 0;
	if (rc && ev->err && !ev->err[0])
		q_errf(ev, rc, rc == -ENOTSUP ? "native histograms are not supported" : "store: error %d", rc);
out:
	q_rv_release(&x.rv);
	free(x.v);
	free(x.ok);
	free(x.ft);
	free(x.fv);
	free(x.c.tmp);
	free(x.c.dq);
	return rc;
}
