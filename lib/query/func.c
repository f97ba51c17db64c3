/* func.c — the function table and the functions over instant vectors and
 * scalars: math, clamp, round, time and date, vector/scalar, absent,
 * label_replace/label_join, sort*, timestamp, and the dispatcher that
 * evaluates arguments and calls the implementation. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/regex.h"
#include "core/utf8.h"
#include "query/q.h"

int q_fn_hist(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out);
int q_fn_label(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out);
int q_fn_sort(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out);

static double sgn(double x) { return x > 0 ? 1 : x < 0 ? -1 : x; }
static double deg(double x) { return x * 180 / M_PI; }
static double rad(double x) { return x * M_PI / 180; }

static const struct { const char *name; double (*f)(double); } mathfns[] = {
	{ "abs", fabs }, { "ceil", ceil }, { "floor", floor }, { "exp", exp }, { "sqrt", sqrt },
	{ "ln", log }, { "log2", log2 }, { "log10", log10 }, { "sgn", sgn }, { "deg", deg },
	{ "rad", rad }, { "sin", sin }, { "cos", cos }, { "tan", tan }, { "asin", asin },
	{ "acos", acos }, { "atan", atan }, { "sinh", sinh }, { "cosh", cosh }, { "tanh", tanh },
	{ "asinh", asinh }, { "acosh", acosh }, { "atanh", atanh },
};

/* Move the vector argument into out, ready to be rewritten in place. */
static void take_vec(struct q_val *arg, struct q_val *out, int dropname)
{
	out->type = VT_VECTOR;
	out->m = arg->m;
	memset(&arg->m, 0, sizeof(arg->m));
	for (size_t k = 0; k < out->m.n; k++) {
		if (dropname)
			out->m.s[k].dropname = 1;
		free(out->m.s[k].t);
		out->m.s[k].t = NULL;
	}
}

static int fn_math(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	double (*f)(double) = NULL;
	for (size_t k = 0; k < sizeof(mathfns) / sizeof(mathfns[0]); k++)
		if (strcmp(mathfns[k].name, n->fn->name) == 0)
			f = mathfns[k].f;
	take_vec(&args[0], out, 1);
	for (size_t k = 0; k < out->m.n; k++)
		for (size_t i = 0; i < ev->nsteps; i++)
			if (out->m.s[k].ok[i])
				out->m.s[k].v[i] = f(out->m.s[k].v[i]);
	return 0;
}

static int fn_clamp(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	const char *nm = n->fn->name;
	int mode = strcmp(nm, "clamp") == 0 ? 0 : strcmp(nm, "clamp_min") == 0 ? 1 : 2;
	take_vec(&args[0], out, 1);
	for (size_t k = 0; k < out->m.n; k++)
		for (size_t i = 0; i < ev->nsteps; i++) {
			struct q_ser *s = &out->m.s[k];
			if (!s->ok[i])
				continue;
			double lo = mode == 2 ? -INFINITY : args[1].sc[i];
			double hi = mode == 0 ? args[2].sc[i] : mode == 2 ? args[1].sc[i] : INFINITY;
			if (mode == 0 && hi < lo) {
				s->ok[i] = 0;
				continue;
			}
			double v = s->v[i];
			if (isnan(v) || isnan(lo) || isnan(hi))
				v = NAN;
			else
				v = fmax(lo, fmin(hi, v));
			s->v[i] = v;
		}
	return 0;
}

static int fn_round(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	take_vec(&args[0], out, 1);
	for (size_t k = 0; k < out->m.n; k++)
		for (size_t i = 0; i < ev->nsteps; i++) {
			struct q_ser *s = &out->m.s[k];
			if (!s->ok[i])
				continue;
			double to = n->nargs > 1 ? args[1].sc[i] : 1;
			double inv = 1 / to;
			s->v[i] = floor(s->v[i] * inv + 0.5) / inv;
		}
	return 0;
}

static int scalar_out(struct q_ev *ev, struct q_val *out)
{
	out->type = VT_SCALAR;
	int rc = q_account(ev, ev->nsteps);
	if (rc)
		return rc;
	out->sc = malloc((ev->nsteps ? ev->nsteps : 1) * sizeof(double));
	return out->sc ? 0 : q_errf(ev, -ENOMEM, "out of memory");
}

static int fn_time(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	int rc = scalar_out(ev, out);
	const char *nm = n->fn->name;
	for (size_t i = 0; !rc && i < ev->nsteps; i++) {
		double v;
		if (strcmp(nm, "time") == 0)
			v = (double)q_ts(ev, i) / 1000;
		else if (strcmp(nm, "start") == 0)
			v = (double)ev->qstart / 1000;
		else if (strcmp(nm, "end") == 0)
			v = (double)ev->qend / 1000;
		else if (strcmp(nm, "range") == 0)
			v = (double)(ev->qend - ev->qstart) / 1000;
		else if (strcmp(nm, "step") == 0)
			v = (double)ev->qstep / 1000;
		else if (strcmp(nm, "pi") == 0)
			v = M_PI;
		else if (strcmp(nm, "min_of") == 0 || strcmp(nm, "max_of") == 0) {
			v = args[0].sc[i];
			for (size_t a = 1; a < n->nargs; a++) {
				double x = args[a].sc[i];
				v = isnan(v) || isnan(x) ? NAN : nm[1] == 'i' ? fmin(v, x) : fmax(v, x);
			}
		} else
			v = NAN;
		out->sc[i] = v;
	}
	return rc;
}

static int fn_vector(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	out->type = VT_VECTOR;
	struct obs_labels none = { 0 };
	struct q_ser *s = q_mat_add(ev, &out->m, &none, 0);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < ev->nsteps; i++) {
		s->v[i] = args[0].sc[i];
		s->ok[i] = 1;
	}
	return 0;
}

static int fn_scalar(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	int rc = scalar_out(ev, out);
	for (size_t i = 0; !rc && i < ev->nsteps; i++) {
		size_t c = 0;
		double v = NAN;
		for (size_t k = 0; k < args[0].m.n; k++)
			if (args[0].m.s[k].ok[i]) {
				c++;
				v = args[0].m.s[k].v[i];
			}
		out->sc[i] = c == 1 ? v : NAN;
	}
	return rc;
}

static double date_part(const char *nm, double sec)
{
	if (isnan(sec) || isinf(sec) || fabs(sec) > 1e15)
		return NAN;
	time_t t = (time_t)floor(sec);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return NAN;
	if (strcmp(nm, "minute") == 0) return tm.tm_min;
	if (strcmp(nm, "hour") == 0) return tm.tm_hour;
	if (strcmp(nm, "day_of_week") == 0) return tm.tm_wday;
	if (strcmp(nm, "day_of_month") == 0) return tm.tm_mday;
	if (strcmp(nm, "day_of_year") == 0) return tm.tm_yday + 1;
	if (strcmp(nm, "month") == 0) return tm.tm_mon + 1;
	if (strcmp(nm, "year") == 0) return tm.tm_year + 1900;
	if (strcmp(nm, "days_in_month") == 0) {
		static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
		int y = tm.tm_year + 1900, d = days[tm.tm_mon];
		if (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
			d = 29;
		return d;
	}
	return NAN;
}

static int fn_date(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	if (n->nargs == 0) {
		out->type = VT_VECTOR;
		struct obs_labels none = { 0 };
		struct q_ser *s = q_mat_add(ev, &out->m, &none, 0);
		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < ev->nsteps; i++) {
			s->v[i] = date_part(n->fn->name, (double)q_ts(ev, i) / 1000);
			s->ok[i] = 1;
		}
		return 0;
	}
	take_vec(&args[0], out, 1);
	for (size_t k = 0; k < out->m.n; k++)
		for (size_t i = 0; i < ev->nsteps; i++)
			if (out->m.s[k].ok[i])
				out->m.s[k].v[i] = date_part(n->fn->name, out->m.s[k].v[i]);
	return 0;
}

static int fn_timestamp(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	out->type = VT_VECTOR;
	out->m = args[0].m;
	memset(&args[0].m, 0, sizeof(args[0].m));
	for (size_t k = 0; k < out->m.n; k++) {
		struct q_ser *s = &out->m.s[k];
		s->dropname = 1;
		for (size_t i = 0; i < ev->nsteps; i++)
			if (s->ok[i])
				s->v[i] = (double)(s->t ? s->t[i] : q_ts(ev, i)) / 1000;
		free(s->t);
		s->t = NULL;
	}
	return 0;
}

/* Labels for absent(): the selector's equality matchers. */
static int absent_labels(const struct q_node *a, struct obs_labels *out)
{
	while (a && (a->kind == N_PAREN))
		a = a->a;
	if (a && a->kind == N_MSEL)
		a = a->a;
	if (a && a->kind == N_SUBQ)
		a = NULL;   /* Prometheus gives absent_over_time of a subquery no labels */
	obs_labels_init(out);
	if (!a || a->kind != N_VSEL)
		return 0;
	struct obs_label v[OBS_MAX_LABELS];
	size_t k = 0;
	for (size_t i = 0; i < a->nm && k < OBS_MAX_LABELS; i++) {
		const struct obs_matcher *m = &a->m[i];
		if (strcmp(m->name, "__name__") == 0)
			continue;
		int dup = 0;
		for (size_t j = 0; j < a->nm; j++)
			if (j != i && strcmp(a->m[j].name, m->name) == 0)
				dup = 1;
		if (m->op == OBS_MATCH_EQ && !dup)
			v[k++] = (struct obs_label){ m->name, m->value };
	}
	return q_labels_from(out, v, k);
}

static int fn_absent(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	out->type = VT_VECTOR;
	struct obs_labels l;
	if (absent_labels(n->args[0], &l) != 0)
		return q_errf(ev, -ENOMEM, "out of memory");
	struct q_ser *s = q_mat_add(ev, &out->m, &l, 1);
	if (!s) {
		obs_labels_release(&l);
		return -ENOMEM;
	}
	int over_time = n->args[0]->type == VT_MATRIX;
	for (size_t i = 0; i < ev->nsteps; i++) {
		int any = 0;
		if (over_time) {
			const struct q_rv *rv = &args[0].rv;
			for (size_t k = 0; k < rv->n && !any; k++) {
				size_t lo, hi;
				q_window(&rv->s[k], rv->wend[i], rv->range, &lo, &hi);
				any = hi > lo;
			}
		} else {
			for (size_t k = 0; k < args[0].m.n && !any; k++)
				any = args[0].m.s[k].ok[i];
		}
		if (!any) {
			s->v[i] = 1;
			s->ok[i] = 1;
		}
	}
	return 0;
}

#define V VT_VECTOR
#define S VT_SCALAR
#define M VT_MATRIX
#define STR VT_STRING
static const struct q_func funcs[] = {
	{ "abs", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "ceil", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "floor", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "exp", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "sqrt", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "ln", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "log2", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "log10", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "sgn", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "deg", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "rad", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "sin", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "cos", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "tan", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "asin", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "acos", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "atan", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "sinh", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "cosh", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "tanh", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "asinh", { V }, 1, 0, 0, V, 0, 0, fn_math }, { "acosh", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "atanh", { V }, 1, 0, 0, V, 0, 0, fn_math },
	{ "clamp", { V, S, S }, 3, 0, 0, V, 0, 0, fn_clamp },
	{ "clamp_min", { V, S }, 2, 0, 0, V, 0, 0, fn_clamp },
	{ "clamp_max", { V, S }, 2, 0, 0, V, 0, 0, fn_clamp },
	{ "round", { V, S }, 1, 1, 0, V, 0, 0, fn_round },
	{ "time", { 0 }, 0, 0, 0, S, 0, 0, fn_time }, { "pi", { 0 }, 0, 0, 0, S, 0, 0, fn_time },
	{ "start", { 0 }, 0, 0, 0, S, 0, 1, fn_time }, { "end", { 0 }, 0, 0, 0, S, 0, 1, fn_time },
	{ "range", { 0 }, 0, 0, 0, S, 0, 1, fn_time }, { "step", { 0 }, 0, 0, 0, S, 0, 1, fn_time },
	{ "min_of", { S, S }, 1, 0, 2, S, 0, 1, fn_time }, { "max_of", { S, S }, 1, 0, 2, S, 0, 1, fn_time },
	{ "vector", { S }, 1, 0, 0, V, 0, 0, fn_vector },
	{ "scalar", { V }, 1, 0, 0, S, 0, 0, fn_scalar },
	{ "minute", { V }, 0, 1, 0, V, 0, 0, fn_date }, { "hour", { V }, 0, 1, 0, V, 0, 0, fn_date },
	{ "day_of_week", { V }, 0, 1, 0, V, 0, 0, fn_date }, { "day_of_month", { V }, 0, 1, 0, V, 0, 0, fn_date },
	{ "day_of_year", { V }, 0, 1, 0, V, 0, 0, fn_date }, { "days_in_month", { V }, 0, 1, 0, V, 0, 0, fn_date },
	{ "month", { V }, 0, 1, 0, V, 0, 0, fn_date }, { "year", { V }, 0, 1, 0, V, 0, 0, fn_date },
	{ "timestamp", { V }, 1, 0, 0, V, 0, 0, fn_timestamp },
	{ "absent", { V }, 1, 0, 0, V, 0, 0, fn_absent },
	{ "absent_over_time", { M }, 1, 0, 0, V, 0, 0, fn_absent },
	{ "label_replace", { V, STR, STR, STR, STR }, 5, 0, 0, V, 1, 0, q_fn_label },
	{ "label_join", { V, STR, STR, STR }, 3, 0, 4, V, 1, 0, q_fn_label },
	{ "sort", { V }, 1, 0, 0, V, 1, 0, q_fn_sort }, { "sort_desc", { V }, 1, 0, 0, V, 1, 0, q_fn_sort },
	{ "sort_by_label", { V, STR }, 1, 0, 2, V, 1, 1, q_fn_sort },
	{ "sort_by_label_desc", { V, STR }, 1, 0, 2, V, 1, 1, q_fn_sort },
	{ "histogram_quantile", { S, V }, 2, 0, 0, V, 0, 0, q_fn_hist },
	{ "histogram_quantiles", { V, STR, S }, 3, 0, 3, V, 0, 1, q_fn_hist },
	{ "histogram_fraction", { S, S, V }, 3, 0, 0, V, 0, 0, q_fn_hist },
	{ "histogram_count", { V }, 1, 0, 0, V, 0, 0, q_fn_hist },
	{ "histogram_sum", { V }, 1, 0, 0, V, 0, 0, q_fn_hist },
	{ "histogram_avg", { V }, 1, 0, 0, V, 0, 0, q_fn_hist },
	{ "histogram_stddev", { V }, 1, 0, 0, V, 0, 0, q_fn_hist },
	{ "histogram_stdvar", { V }, 1, 0, 0, V, 0, 0, q_fn_hist },
	{ "rate", { M }, 1, 0, 0, V, 0, 0, q_fn_range }, { "increase", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "delta", { M }, 1, 0, 0, V, 0, 0, q_fn_range }, { "irate", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "idelta", { M }, 1, 0, 0, V, 0, 0, q_fn_range }, { "deriv", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "predict_linear", { M, S }, 2, 0, 0, V, 0, 0, q_fn_range },
	{ "resets", { M }, 1, 0, 0, V, 0, 0, q_fn_range }, { "changes", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "avg_over_time", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "sum_over_time", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "count_over_time", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "min_over_time", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "max_over_time", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "last_over_time", { M }, 1, 0, 0, V, 1, 0, q_fn_range },
	{ "first_over_time", { M }, 1, 0, 0, V, 1, 1, q_fn_range },
	{ "present_over_time", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "stddev_over_time", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "stdvar_over_time", { M }, 1, 0, 0, V, 0, 0, q_fn_range },
	{ "quantile_over_time", { S, M }, 2, 0, 0, V, 0, 0, q_fn_range },
	{ "mad_over_time", { M }, 1, 0, 0, V, 0, 1, q_fn_range },
	{ "ts_of_min_over_time", { M }, 1, 0, 0, V, 0, 1, q_fn_range },
	{ "ts_of_max_over_time", { M }, 1, 0, 0, V, 0, 1, q_fn_range },
	{ "ts_of_first_over_time", { M }, 1, 0, 0, V, 0, 1, q_fn_range },
	{ "ts_of_last_over_time", { M }, 1, 0, 0, V, 0, 1, q_fn_range },
	{ "double_exponential_smoothing", { M, S, S }, 3, 0, 0, V, 0, 1, q_fn_range },
	{ "log_count_over_time", { STR, S }, 2, 0, 0, V, 0, 0, q_fn_log_count },   /* obsfs: func_log.c */
};

const struct q_func *q_func_lookup(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (strlen(funcs[i].name) == n && memcmp(funcs[i].name, name, n) == 0)
			return &funcs[i];
	return NULL;
}

const struct q_node *q_stream_msel(const struct q_node *n, size_t *ri)
{
	if (n->kind != N_CALL || n->fn->call != q_fn_range)
		return NULL;
	*ri = strcmp(n->fn->name, "quantile_over_time") == 0 ? 1 : 0;
	const struct q_node *m = n->args[*ri];
	while (m->kind == N_PAREN)
		m = m->a;
	return m->kind == N_MSEL ? m : NULL;
}

int q_eval_call_into(struct q_ev *ev, const struct q_node *n, struct q_fold *fold, struct q_val *out)
{
	struct q_val args[16];
	size_t na = n->nargs;
	if (na > 16)
		return q_errf(ev, -EINVAL, "too many arguments in call to \"%s\"", n->fn->name);
	memset(args, 0, sizeof(args));
	int rc = 0;
	size_t ri = 0;
	const struct q_node *msel = q_stream_msel(n, &ri);
	if (msel) {   /* a range function straight from the store */
		for (size_t i = 0; i < na && !rc; i++)
			if (i != ri)
				rc = q_eval(ev, n->args[i], &args[i]);
		if (!rc)
			rc = q_fn_range_stream(ev, n, args, msel, fold, out);
		for (size_t i = 0; i < na; i++)
			q_val_drop(ev, &args[i]);
		return rc;
	}
	int want_ts = ev->want_ts;
	for (size_t i = 0; i < na && !rc; i++) {
		const struct q_node *a = n->args[i];
		while (a->kind == N_PAREN)
			a = a->a;
		ev->want_ts = strcmp(n->fn->name, "timestamp") == 0 && a->kind == N_VSEL;
		rc = q_eval(ev, n->args[i], &args[i]);
	}
	ev->want_ts = want_ts;
	if (!rc)
		rc = n->fn->call(ev, n, args, out);
	for (size_t i = 0; i < na; i++)
		q_val_drop(ev, &args[i]);
	return rc;
}

int q_eval_call(struct q_ev *ev, const struct q_node *n, struct q_val *out)
{
	return q_eval_call_into(ev, n, NULL, out);
}
