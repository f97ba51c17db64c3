/* func_slide.c — min/max/sum/avg_over_time over the consecutive steps of a
 * range query without rescanning each window.
 *
 * The windows (wend[i] - range, wend[i]] of one series move forward (their
 * ends never decrease), so each sample enters and leaves once:
 *
 *   - min/max: a monotonic deque of sample indices (values non-increasing
 *     for max, non-decreasing for min, NaN never enters); its front is the
 *     window's extreme, the earliest of equal ones, exactly the sample
 *     Prometheus' scan keeps. No non-NaN sample in a non-empty window: the
 *     first sample (a NaN), as Prometheus answers.
 *   - sum/avg: a running double-double sum (Knuth's TwoSum, ~106 bits), in
 *     which adding and removing samples loses nothing a double would see.
 *     It differs from Prometheus' Kahan sum of the window by rounding only,
 *     far below 1e-9 relative, as long as no cancellation makes the result
 *     tiny next to the magnitudes summed: when the samples summed since the
 *     last restart add up (in absolute value) to more than 1e12 times the
 *     result, or the window holds a non-finite value or one beyond 1e300,
 *     the window is computed directly, in Prometheus' order (the caller's
 *     window function), and the running sum restarts.
 *
 * Anything else (windows moving back, other functions) keeps the direct
 * computation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/q.h"

struct dd { double hi, lo; };

static inline void dd_add(struct dd *s, double x)
{
	double t = s->hi + x;
	double bp = t - s->hi;
	double err = (s->hi - (t - bp)) + (x - bp);
	s->hi = t;
	s->lo += err;
	/* renormalise */
	t = s->hi + s->lo;
	s->lo = s->lo - (t - s->hi);
	s->hi = t;
}

static inline int wild(double v)
{
	return !isfinite(v) || fabs(v) > 1e300;
}

int q_slide_series(struct q_ev *ev, int fn, const struct q_raw *r, const int64_t *wend, int64_t range,
		   size_t *dq, q_slide_direct_fn direct, void *dctx, double *v, uint8_t *ok, long *pts)
{
	for (size_t i = 1; i < ev->nsteps; i++)
		if (wend[i] < wend[i - 1])
			return 0;   /* not for us */
	int is_max = fn == Q_SLIDE_MAX, is_min = fn == Q_SLIDE_MIN;
	size_t qh = 0, qt = 0;          /* deque dq[qh..qt) */
	size_t plo = 0, phi = 0;        /* the state holds samples [plo, phi) */
	struct dd sum = { 0, 0 };
	double hist = 0;                /* sum of |v| added since the restart */
	size_t nwild = 0;               /* non-finite or huge values in [plo, phi) */
	const double *x = r->v;
	struct q_wcur cur = { 0 };
	*pts = 0;
	memset(ok, 0, ev->nsteps);
	for (size_t i = 0; i < ev->nsteps; i++) {
		int rc;
		if ((i & 1023) == 1023 && (rc = q_check(ev)) != 0)
			return rc;
		size_t lo, hi;
		q_window_next(r, wend[i], range, &cur, &lo, &hi);
		if (lo >= phi) {   /* nothing of the old window is left */
			qh = qt = 0;
			sum.hi = sum.lo = 0;
			hist = 0;
			nwild = 0;
			plo = phi = lo;
		}
		/* samples leaving */
		for (; plo < lo; plo++) {
			if (is_max || is_min) {
				if (qh < qt && dq[qh] == plo)
					qh++;
			} else if (wild(x[plo])) {
				nwild--;
			} else {
				dd_add(&sum, -x[plo]);
			}
		}
		/* samples entering */
		for (; phi < hi; phi++) {
			double y = x[phi];
			if (is_max || is_min) {
				if (isnan(y))
					continue;
				while (qt > qh && (is_max ? x[dq[qt - 1]] < y : x[dq[qt - 1]] > y))
					qt--;
				dq[qt++] = phi;
			} else if (wild(y)) {
				nwild++;
			} else {
				dd_add(&sum, y);
				hist += fabs(y);
			}
		}
		if (lo == hi)
			continue;
		if (is_max || is_min) {
			v[i] = qh < qt ? x[dq[qh]] : x[lo];
		} else {
			double cnt = (double)(hi - lo);
			double res = fn == Q_SLIDE_SUM ? sum.hi + sum.lo : sum.hi / cnt + sum.lo / cnt;
			if (nwild || hist > 1e12 * fabs(res)) {
				if (!direct(dctx, r->t + lo, x + lo, hi - lo, wend[i], &v[i]))
					continue;
				/* restart from this window */
				sum.hi = sum.lo = 0;
				hist = 0;
				for (size_t j = lo; j < hi; j++)
					if (!wild(x[j])) {
						dd_add(&sum, x[j]);
						hist += fabs(x[j]);
					}
			} else {
				v[i] = res;
			}
		}
		ok[i] = 1;
		(*pts)++;
	}
	return 1;
}
