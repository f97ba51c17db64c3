/* agg_int.h — private to the aggregations (agg.c, agg_fast.c): the running
 * state of one group at one step and its update rules, shared so that the
 * streaming path gives bit-identical answers. */
#ifndef OBS_QUERY_AGG_INT_H
#define OBS_QUERY_AGG_INT_H

#include <math.h>
#include <stddef.h>

#include "query/q.h"

struct acc {
	size_t gen;
	double v, c, mean, cnt;
	int incremental;
	size_t nv;           /* quantile candidates */
};

/* Add sample f; first: the group's first sample at this step. */
static inline void q_acc_add(int op, struct acc *a, double f, int first)
{
	if (first) {
		size_t gen = a->gen;
		*a = (struct acc){ .gen = gen, .v = f, .cnt = 1, .mean = f };
		if (op == A_STDDEV || op == A_STDVAR)
			a->v = isinf(f) || isnan(f) ? NAN : 0;
		return;
	}
	a->cnt++;
	switch (op) {
	case A_SUM:
		q_kahan_add(f, &a->v, &a->c);
		break;
	case A_AVG:
		if (!a->incremental) {
			double nv = a->v, nc = a->c;
			q_kahan_add(f, &nv, &nc);
			if (!isinf(nv)) {
				a->v = nv;
				a->c = nc;
				break;
			}
			a->incremental = 1;
			a->mean = a->v / (a->cnt - 1);
			a->c /= a->cnt - 1;
		}
		{
			double q = (a->cnt - 1) / a->cnt;
			double mean = q * a->mean, c = q * a->c;
			q_kahan_add(f / a->cnt, &mean, &c);
			a->mean = mean;
			a->c = c;
		}
		break;
	case A_MIN:
		if (a->v > f || isnan(a->v))
			a->v = f;
		break;
	case A_MAX:
		if (a->v < f || isnan(a->v))
			a->v = f;
		break;
	case A_STDDEV: case A_STDVAR: {
		if (isnan(a->v))
			break;
		if (isinf(f) || isnan(f)) {
			a->v = NAN;
			break;
		}
		double d = f - a->mean;
		a->mean += d / a->cnt;
		a->v += d * (f - a->mean);
		break;
	}
	default:
		break;
	}
}

static inline double q_acc_result(int op, const struct acc *a)
{
	switch (op) {
	case A_SUM: return a->v + a->c;
	case A_AVG: return a->incremental ? a->mean + a->c : (a->cnt == 1 ? a->v : (a->v + a->c) / a->cnt);
	case A_COUNT: return a->cnt;
	case A_GROUP: return 1;
	case A_STDVAR: return a->v / a->cnt;
	case A_STDDEV: return sqrt(a->v / a->cnt);
	default: return a->v;
	}
}

/* Aggregate straight from a vector selector (sum avg min max count group
 * stddev stdvar), without holding the selector's step matrix. */
int q_agg_fast(struct q_ev *ev, const struct q_node *n, const struct q_node *sel, struct q_val *out);

#endif
