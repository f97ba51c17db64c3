/* eval.c — the PromQL evaluator's core: every expression is evaluated over
 * all steps of the query at once (an instant query is one step). Vector
 * selectors apply the lookback window (t - lookback, t] and staleness;
 * matrix selectors and subqueries give raw samples that functions cut into
 * left-open windows (t - range, t]. Also: the public entry points, the
 * sample limit, the timeout and the final delayed __name__ removal. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/num.h"
#include "core/strmap.h"
#include "core/vec.h"
#include "query/q.h"

int obs_query_is_stale(double v)
{
	return obs_is_stale(v);
}

double obs_query_stale_nan(void)
{
	return obs_stale_nan();
}

void obs_query_opts_default(struct obs_query_opts *o)
{
	o->lookback_ms = 5 * 60 * 1000;
	o->max_samples = 50000000;
	o->timeout_ms = 2 * 60 * 1000;
	o->scan_windows = 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int q_errf(struct q_ev *ev, int rc, const char *fmt, ...)
{
	if (ev->first_rc && !*ev->first_rc)
		*ev->first_rc = rc;
	if (ev->err && !ev->err[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ev->err, ev->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void q_warnf(struct q_ev *ev, const struct q_node *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if (at && ev->text) {
		int line, col;
		q_position(ev->text, at->pos, &line, &col);
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), " (%d:%d)", line, col);
	}
	for (size_t i = 0; i < *ev->nwarn; i++)
		if (strcmp((*ev->warn)[i], msg) == 0)
			return;
	char **nw = realloc(*ev->warn, (*ev->nwarn + 1) * sizeof(*nw));
	if (!nw)
		return;
	*ev->warn = nw;
	if ((nw[*ev->nwarn] = strdup(msg)))
		(*ev->nwarn)++;
}

int q_check(struct q_ev *ev)
{
	if (!ev->deadline || (++ev->tick & 15))
		return 0;
	if (now_ms() > ev->deadline)
		return q_errf(ev, -ETIMEDOUT, "query timed out in query execution");
	return 0;
}

int q_account(struct q_ev *ev, uint64_t samples)
{
	ev->samples += samples;
	if (ev->o->max_samples && ev->samples > ev->o->max_samples)
		return q_errf(ev, -E2BIG, "query processing would load too many samples into memory in query execution");
	return 0;
}

int q_dur_eval(struct q_ev *ev, const struct q_dur *d, int64_t *ms)
{
	if (!d->expr) {
		*ms = d->ms;
		return 0;
	}
	struct q_val v = { 0 };
	int rc = q_eval(ev, d->expr, &v);
	if (rc)
		return rc;
	double sec = v.sc && ev->nsteps ? v.sc[0] : NAN;
	q_val_drop(ev, &v);
	if (isnan(sec) || isinf(sec) || fabs(sec) > 1e10)
		return q_errf(ev, -EINVAL, "duration out of range");
	*ms = (int64_t)llround(sec * 1000);
	return 0;
}

static int64_t at_time(const struct q_ev *ev, const struct q_node *n, size_t i)
{
	switch (n->at) {
	case AT_TS: return n->at_ms;
	case AT_START: return ev->qstart;
	case AT_END: return ev->qend;
	default: return q_ts(ev, i);
	}
}

/* ---- vector selectors ------------------------------------------------ */

struct vsel_ctx {
	struct q_ev *ev;
	struct q_mat *out;
	const int64_t *at;     /* evaluation time per step */
	int rc;
};

static int vsel_emit(void *c, const struct obs_labels *l, const int64_t *t, const double *v, size_t n)
{
	struct vsel_ctx *x = c;
	struct q_ev *ev = x->ev;
	int64_t lb = ev->o->lookback_ms;
	size_t j = 0;
	struct q_ser *s = NULL;
	int rc = q_check(ev);
	if (rc)
		return rc;
	for (size_t i = 0; i < ev->nsteps; i++) {
		if ((i & 4095) == 4095 && (rc = q_check(ev)) != 0)
			return rc;
		if (!q_lookback_hit(x->at, i, lb, t, v, n, &j))
			continue;
		if (!s) {
			if (!(s = q_mat_add(ev, x->out, l, 0)))
				return -ENOMEM;
			if (ev->want_ts && !(s->t = calloc(ev->nsteps, sizeof(int64_t))))
				return q_errf(ev, -ENOMEM, "out of memory");
		}
		s->v[i] = v[j - 1];
		s->ok[i] = 1;
		if (s->t)
			s->t[i] = t[j - 1];
	}
	return 0;
}

static int store_err(struct q_ev *ev, int rc)
{
	if (rc == -ENOTSUP)
		return q_errf(ev, rc, "native histograms are not supported");
	if (rc == -ENOMEM)
		return q_errf(ev, rc, "out of memory");
	return q_errf(ev, rc, "store: %s", strerror(-rc));
}

static int eval_vsel(struct q_ev *ev, const struct q_node *n, struct q_val *out)
{
	int64_t off = 0;
	int rc = q_dur_eval(ev, &n->offset, &off);
	if (rc)
		return rc;
	int64_t *at = malloc((ev->nsteps ? ev->nsteps : 1) * sizeof(int64_t));
	if (!at)
		return q_errf(ev, -ENOMEM, "out of memory");
	int64_t mn = INT64_MAX, mx = INT64_MIN;
	for (size_t i = 0; i < ev->nsteps; i++) {
		at[i] = at_time(ev, n, i) - off;
		if (at[i] < mn) mn = at[i];
		if (at[i] > mx) mx = at[i];
	}
	out->type = VT_VECTOR;
	struct vsel_ctx x = { .ev = ev, .out = &out->m, .at = at };
	rc = 0;
	if (ev->nsteps)
		rc = ev->st->select(ev->st->ctx, n->m, n->nm, mn - ev->o->lookback_ms + 1, mx, vsel_emit, &x);
	free(at);
	if (rc && ev->err && !ev->err[0])
		return store_err(ev, rc);
	return rc;
}

/* ---- matrix selectors and subqueries --------------------------------- */

static struct q_raw *rv_add(struct q_ev *ev, struct q_rv *rv, const struct obs_labels *l)
{
	if (OBS_VEC_RESERVE(rv->s, rv->cap, rv->n + 1)) {
		q_errf(ev, -ENOMEM, "out of memory");
		return NULL;
	}
	struct q_raw *r = &rv->s[rv->n];
	memset(r, 0, sizeof(*r));
	if (obs_labels_copy(&r->l, l) != 0) {
		q_errf(ev, -ENOMEM, "out of memory");
		return NULL;
	}
	rv->n++;
	return r;
}

static int raw_push(struct q_ev *ev, struct q_raw *r, int64_t t, double v)
{
	if (OBS_VEC_RESERVE2(r->t, r->v, r->cap, r->n + 1, 16))
		return q_errf(ev, -ENOMEM, "out of memory");
	r->t[r->n] = t;
	r->v[r->n] = v;
	r->n++;
	return 0;
}

struct msel_ctx {
	struct q_ev *ev;
	struct q_rv *rv;
};

static int msel_emit(void *c, const struct obs_labels *l, const int64_t *t, const double *v, size_t n)
{
	struct msel_ctx *x = c;
	int rc = q_check(x->ev);
	if (rc || !n)
		return rc;
	if ((rc = q_account(x->ev, n)) != 0)
		return rc;
	struct q_raw *r = rv_add(x->ev, x->rv, l);
	if (!r)
		return -ENOMEM;
	if (!(r->t = malloc(n * sizeof(int64_t))) || !(r->v = malloc(n * sizeof(double))))
		return q_errf(x->ev, -ENOMEM, "out of memory");
	r->cap = n;
	/* copy runs between staleness markers (they are rare) */
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && !obs_query_is_stale(v[j]))
			j++;
		memcpy(r->t + r->n, t + i, (j - i) * sizeof(int64_t));
		memcpy(r->v + r->n, v + i, (j - i) * sizeof(double));
		r->n += j - i;
		i = j + 1;
	}
	if (!r->n) {   /* only markers: no series */
		obs_labels_release(&r->l);
		free(r->t);
		free(r->v);
		x->rv->n--;
	}
	return 0;
}

static int set_wend(struct q_ev *ev, const struct q_node *mods, struct q_rv *rv, int64_t *mn, int64_t *mx)
{
	int64_t off = 0;
	int rc = q_dur_eval(ev, &mods->offset, &off);
	if (rc)
		return rc;
	rv->off = off;
	rv->wend = malloc((ev->nsteps ? ev->nsteps : 1) * sizeof(int64_t));
	if (!rv->wend)
		return q_errf(ev, -ENOMEM, "out of memory");
	*mn = INT64_MAX;
	*mx = INT64_MIN;
	for (size_t i = 0; i < ev->nsteps; i++) {
		rv->wend[i] = at_time(ev, mods, i) - off;
		if (rv->wend[i] < *mn) *mn = rv->wend[i];
		if (rv->wend[i] > *mx) *mx = rv->wend[i];
	}
	return 0;
}

int q_msel_bounds(struct q_ev *ev, const struct q_node *n, struct q_rv *rv, int64_t *mint, int64_t *maxt)
{
	int64_t mn, mx;
	int rc = q_dur_eval(ev, &n->range, &rv->range);
	if (rc)
		return rc;
	if (rv->range <= 0)
		return q_errf(ev, -EINVAL, "range duration must be greater than 0");
	if ((rc = set_wend(ev, n->a, rv, &mn, &mx)) != 0)
		return rc;
	*mint = mn - rv->range + 1;
	*maxt = mx;
	return 0;
}

static int eval_msel(struct q_ev *ev, const struct q_node *n, struct q_val *out)
{
	const struct q_node *vs = n->a;
	out->type = VT_MATRIX;
	int64_t mint, maxt;
	int rc = q_msel_bounds(ev, n, &out->rv, &mint, &maxt);
	if (rc || !ev->nsteps)
		return rc;
	struct msel_ctx x = { .ev = ev, .rv = &out->rv };
	rc = ev->st->select(ev->st->ctx, vs->m, vs->nm, mint, maxt, msel_emit, &x);
	if (rc && ev->err && !ev->err[0])
		return store_err(ev, rc);
	return rc;
}

static int64_t ceil_to(int64_t t, int64_t step)
{
	int64_t r = t % step;
	if (r == 0)
		return t;
	return r > 0 ? t - r + step : t - r;
}

static int eval_subq(struct q_ev *ev, const struct q_node *n, struct q_val *out)
{
	out->type = VT_MATRIX;
	int64_t mn, mx, step = 0, range = 0;
	int rc = q_dur_eval(ev, &n->range, &range);
	if (!rc)
		rc = q_dur_eval(ev, &n->step, &step);
	if (rc)
		return rc;
	if (range <= 0)
		return q_errf(ev, -EINVAL, "subquery range must be greater than 0");
	if (step <= 0)
		step = ev->sub_step;
	out->rv.range = range;
	if ((rc = set_wend(ev, n, &out->rv, &mn, &mx)) != 0 || !ev->nsteps)
		return rc;
	struct q_ev in = *ev;
	in.start = ceil_to(mn - range, step);
	in.end = mx;
	in.step = step;
	in.want_ts = 0;
	in.nsteps = in.end >= in.start ? (size_t)((in.end - in.start) / step) + 1 : 0;
	if (in.nsteps > 50000000 || (ev->o->max_samples && in.nsteps > ev->o->max_samples - ev->samples))
		return q_errf(ev, -E2BIG, "query processing would load too many samples into memory in query execution");
	struct q_val v = { 0 };
	rc = q_eval(&in, n->a, &v);
	ev->tick = in.tick;
	if (rc) {
		q_val_release(&v);
		ev->samples = in.samples;
		return rc;
	}
	for (size_t i = 0; i < v.m.n && !rc; i++) {
		struct q_ser *s = &v.m.s[i];
		struct q_raw *r = NULL;
		for (size_t j = 0; j < in.nsteps && !rc; j++) {
			if (!s->ok[j])
				continue;
			if (!r) {
				if (!(r = rv_add(ev, &out->rv, &s->l))) {
					rc = -ENOMEM;
					break;
				}
				r->dropname = s->dropname;
			}
			rc = raw_push(ev, r, q_ts(&in, j), s->v[j]);
			if (!rc)
				rc = q_account(&in, 1);
		}
	}
	q_val_drop(&in, &v);
	ev->samples = in.samples;
	return rc;
}

void q_window(const struct q_raw *r, int64_t end, int64_t range, size_t *lo, size_t *hi)
{
	/* binary search: first t > end - range, first t > end */
	size_t a = 0, b = r->n;
	int64_t from = end - range;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (r->t[m] <= from) a = m + 1; else b = m;
	}
	*lo = a;
	b = r->n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (r->t[m] <= end) a = m + 1; else b = m;
	}
	*hi = a;
}

/* ---- dispatch -------------------------------------------------------- */

static int eval_unary(struct q_ev *ev, const struct q_node *n, struct q_val *out)
{
	int rc = q_eval(ev, n->a, out);
	if (rc || n->op != T_SUB)
		return rc;
	if (out->type == VT_SCALAR) {
		for (size_t i = 0; i < ev->nsteps; i++)
			out->sc[i] = -out->sc[i];
		return 0;
	}
	for (size_t k = 0; k < out->m.n; k++) {
		struct q_ser *s = &out->m.s[k];
		for (size_t i = 0; i < ev->nsteps; i++)
			s->v[i] = -s->v[i];
		s->dropname = 1;
		free(s->t);
		s->t = NULL;
	}
	return 0;
}

int q_eval(struct q_ev *ev, const struct q_node *n, struct q_val *out)
{
	memset(out, 0, sizeof(*out));
	int rc = q_check(ev);
	if (rc)
		return rc;
	switch (n->kind) {
	case N_NUM:
		out->type = VT_SCALAR;
		if ((rc = q_account(ev, ev->nsteps)) != 0)
			return rc;
		if (!(out->sc = malloc((ev->nsteps ? ev->nsteps : 1) * sizeof(double))))
			return q_errf(ev, -ENOMEM, "out of memory");
		for (size_t i = 0; i < ev->nsteps; i++)
			out->sc[i] = n->num;
		return 0;
	case N_STR:
		out->type = VT_STRING;
		if (!(out->str = strdup(n->str)))
			return q_errf(ev, -ENOMEM, "out of memory");
		return 0;
	case N_PAREN:
		return q_eval(ev, n->a, out);
	case N_UNARY:
		return eval_unary(ev, n, out);
	case N_VSEL:
		return eval_vsel(ev, n, out);
	case N_MSEL:
		return eval_msel(ev, n, out);
	case N_SUBQ:
		return eval_subq(ev, n, out);
	case N_CALL:
		return q_eval_call(ev, n, out);
	case N_AGG:
		return q_eval_agg(ev, n, out);
	case N_BIN: {
		struct q_val a = { 0 }, b = { 0 };
		rc = q_eval(ev, n->a, &a);
		if (!rc)
			rc = q_eval(ev, n->b, &b);
		if (!rc)
			rc = q_eval_bin(ev, n, &a, &b, out);
		q_val_drop(ev, &a);
		q_val_drop(ev, &b);
		return rc;
	}
	}
	return q_errf(ev, -EINVAL, "unknown expression");
}

/* ---- results ---------------------------------------------------------- */

void obs_query_result_release(struct obs_query_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nseries; i++) {
		obs_labels_release(&r->series[i].labels);
		free(r->series[i].t);
		free(r->series[i].v);
	}
	free(r->series);
	free(r->str);
	for (size_t i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}

static int res_add(struct obs_query_result *r, const struct obs_labels *l, size_t npts)
{
	size_t n = r->nseries;
	if (n < 8 ? n == 0 : (n & (n - 1)) == 0) {   /* capacity: 8, then doubled at each power of two */
		struct obs_query_series *ns = realloc(r->series, (n < 8 ? 8 : 2 * n) * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		r->series = ns;
	}
	struct obs_query_series *ns = r->series;
	struct obs_query_series *s = &ns[r->nseries];
	memset(s, 0, sizeof(*s));
	if (obs_labels_copy(&s->labels, l) != 0)
		return -ENOMEM;
	s->t = malloc((npts ? npts : 1) * sizeof(int64_t));
	s->v = malloc((npts ? npts : 1) * sizeof(double));
	r->nseries++;
	if (!s->t || !s->v)
		return -ENOMEM;
	return 0;
}

static int cmp_series(const void *a, const void *b)
{
	const struct obs_query_series *x = a, *y = b;
	return obs_labels_cmp(&x->labels, &y->labels);
}

/* Drop names marked for removal; merge series whose labels became equal
 * when their points do not collide. */
static int finish_vector(struct q_ev *ev, struct q_mat *m)
{
	for (size_t k = 0; k < m->n; k++)
		if (m->s[k].dropname && q_labels_del(&m->s[k].l, "__name__") != 0)
			return q_errf(ev, -ENOMEM, "out of memory");
	if (m->n < 2)
		return 0;
	struct obs_strmap *seen = obs_strmap_new();
	struct obs_buf key;
	obs_buf_init(&key);
	int rc = seen ? 0 : q_errf(ev, -ENOMEM, "out of memory");
	for (size_t j = 0; j < m->n && !rc; j++) {
		obs_buf_reset(&key);
		const char *nm = obs_labels_get(&m->s[j].l, "__name__");
		if (q_labels_key(&m->s[j].l, NULL, 0, &key) != 0 || obs_buf_puts(&key, nm ? nm : "") != 0) {
			rc = q_errf(ev, -ENOMEM, "out of memory");
			break;
		}
		uint64_t h = obs_strmap_hash(key.data, key.len);
		size_t k = (size_t)(uintptr_t)obs_strmap_get(seen, h, key.data, key.len);
		if (!k) {
			if (obs_strmap_put(seen, h, key.data, key.len, (void *)(uintptr_t)(j + 1)) != 0)
				rc = q_errf(ev, -ENOMEM, "out of memory");
			continue;
		}
		struct q_ser *a = &m->s[k - 1], *b = &m->s[j];
		for (size_t i = 0; i < ev->nsteps; i++) {
			if (!b->ok[i])
				continue;
			if (a->ok[i]) {
				rc = q_errf(ev, -EINVAL, "vector cannot contain metrics with the same labelset");
				break;
			}
			a->ok[i] = 1;
			a->v[i] = b->v[i];
		}
		memset(b->ok, 0, ev->nsteps);
	}
	obs_buf_release(&key);
	obs_strmap_free(seen);
	return rc;
}

/* The store as the evaluator sees it: every sample and rollup bucket
 * handed out is counted (obs_query_result.samples_read, tier_buckets). */
struct counted {
	const struct obs_query_store *inner;
	uint64_t *n, *nb;
};
struct counted_emit {
	obs_query_emit_fn emit;
	void *ectx;
	uint64_t *n;
};

static int counted_emit_fn(void *c, const struct obs_labels *l, const int64_t *t, const double *v, size_t n)
{
	struct counted_emit *x = c;
	*x->n += n;
	return x->emit(x->ectx, l, t, v, n);
}

static int counted_select(void *ctx, const struct obs_matcher *m, size_t nm, int64_t mint, int64_t maxt,
			  obs_query_emit_fn emit, void *ectx)
{
	struct counted *c = ctx;
	struct counted_emit x = { .emit = emit, .ectx = ectx, .n = c->n };
	return c->inner->select(c->inner->ctx, m, nm, mint, maxt, counted_emit_fn, &x);
}

struct counted_bemit {
	obs_query_bucket_fn emit;
	void *ectx;
	uint64_t *n, *nb;
};

static int counted_bucket_fn(void *c, const struct obs_labels *l, const struct obs_query_bucket *b, size_t nb,
			     const int64_t *t, const double *v, size_t n)
{
	struct counted_bemit *x = c;
	*x->n += n;
	*x->nb += nb;
	return x->emit(x->ectx, l, b, nb, t, v, n);
}

static int counted_rollup(void *ctx, const struct obs_matcher *m, size_t nm, int64_t mint, int64_t maxt,
			  int64_t step, obs_query_bucket_fn emit, void *ectx)
{
	struct counted *c = ctx;
	struct counted_bemit x = { .emit = emit, .ectx = ectx, .n = c->n, .nb = c->nb };
	return c->inner->rollup(c->inner->ctx, m, nm, mint, maxt, step, counted_bucket_fn, &x);
}

static int run(const struct obs_query_opts *o, const struct obs_query_store *st, const struct obs_query_expr *e,
	       int64_t start, int64_t end, int64_t step, int instant, struct obs_query_result *res)
{
	memset(res, 0, sizeof(*res));
	res->time = start;
	struct counted cst = { .inner = st, .n = &res->samples_read, .nb = &res->tier_buckets };
	struct obs_query_store wrapped = *st;
	wrapped.select = counted_select;
	wrapped.rollup = st->rollup ? counted_rollup : NULL;
	wrapped.ctx = &cst;
	st = &wrapped;
	struct obs_query_opts defo;
	if (!o) {
		obs_query_opts_default(&defo);
		o = &defo;
	}
	struct q_ev ev = {
		.o = o, .st = st, .start = start, .end = end, .step = step,
		.qstart = start, .qend = end, .err = res->err, .errlen = sizeof(res->err),
		.warn = &res->warnings, .nwarn = &res->nwarnings, .text = e->text, .sub_step = 60000,
		.qstep = instant ? 0 : step,
	};
	int first_rc = 0;
	ev.first_rc = &first_rc;
	if (step <= 0 || end < start)
		return q_errf(&ev, -EINVAL, "invalid query range: end before start or step not positive");
	if (start < -(1LL << 55) || end > (1LL << 55))   /* about a million years: no overflow below */
		return q_errf(&ev, -EINVAL, "query time out of range");
	if ((end - start) / step > 11000)
		return q_errf(&ev, -EINVAL, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)");
	ev.nsteps = (size_t)((end - start) / step) + 1;
	if (o->timeout_ms > 0)
		ev.deadline = now_ms() + o->timeout_ms;
	if (!instant && e->root->type != VT_SCALAR && e->root->type != VT_VECTOR)
		return q_errf(&ev, -EINVAL, "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
			      e->root->type == VT_STRING ? "string" : "range vector");
	struct q_val v = { 0 };
	int rc = q_eval(&ev, e->root, &v);
	if (rc)
		goto out;
	res->type = (enum obs_query_vtype)v.type;
	switch (v.type) {
	case VT_STRING:
		res->str = v.str;
		v.str = NULL;
		break;
	case VT_SCALAR: {
		struct obs_labels none = { 0 };
		if ((rc = res_add(res, &none, ev.nsteps)) != 0)
			break;
		for (size_t i = 0; i < ev.nsteps; i++) {
			res->series[0].t[i] = q_ts(&ev, i);
			res->series[0].v[i] = v.sc[i];
		}
		res->series[0].n = ev.nsteps;
		break;
	}
	case VT_VECTOR:
		if ((rc = finish_vector(&ev, &v.m)) != 0)
			break;
		for (size_t k = 0; k < v.m.n && !rc; k++) {
			size_t np = 0;
			for (size_t i = 0; i < ev.nsteps; i++)
				np += v.m.s[k].ok[i];
			if (!np)
				continue;
			if ((rc = res_add(res, &v.m.s[k].l, np)) != 0)
				break;
			struct obs_query_series *s = &res->series[res->nseries - 1];
			for (size_t i = 0; i < ev.nsteps; i++)
				if (v.m.s[k].ok[i]) {
					s->t[s->n] = q_ts(&ev, i);
					s->v[s->n++] = v.m.s[k].v[i];
				}
		}
		if (!rc && !instant && res->nseries > 1)
			qsort(res->series, res->nseries, sizeof(*res->series), cmp_series);
		break;
	case VT_MATRIX:
		for (size_t k = 0; k < v.rv.n && !rc; k++) {
			struct q_raw *r = &v.rv.s[k];
			if (r->dropname && (rc = q_labels_del(&r->l, "__name__")) != 0)
				break;
			size_t lo, hi;
			q_window(r, v.rv.wend[0], v.rv.range, &lo, &hi);
			if (lo == hi)
				continue;
			if ((rc = res_add(res, &r->l, hi - lo)) != 0)
				break;
			struct obs_query_series *s = &res->series[res->nseries - 1];
			for (size_t i = lo; i < hi; i++) {
				s->t[s->n] = r->t[i];
				s->v[s->n++] = r->v[i];
			}
		}
		break;
	default:
		break;
	}
	if (!instant && res->type != OBS_QV_STRING)
		res->type = OBS_QV_MATRIX;   /* range queries answer a matrix, scalars as a series {} */
	if (rc == -ENOMEM)
		q_errf(&ev, rc, "out of memory");
out:
	q_val_release(&v);
	if (rc && first_rc)
		rc = first_rc;
	if (rc && !res->err[0])
		snprintf(res->err, sizeof(res->err), "%s", strerror(-rc));
	return rc;
}

int obs_query_instant(const struct obs_query_opts *o, const struct obs_query_store *st,
		      const struct obs_query_expr *e, int64_t t, struct obs_query_result *res)
{
	return run(o, st, e, t, t, 1, 1, res);
}

int obs_query_range(const struct obs_query_opts *o, const struct obs_query_store *st,
		    const struct obs_query_expr *e, int64_t start, int64_t end, int64_t step,
		    struct obs_query_result *res)
{
	return run(o, st, e, start, end, step, 0, res);
}
