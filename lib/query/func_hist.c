/* func_hist.c — histogram_quantile, histogram_quantiles and
 * histogram_fraction over classic histograms (series with an "le" label),
 * with Prometheus' bucket coalescing and monotonicity repair. The native
 * histogram functions (histogram_count, ...) find no float input and
 * return nothing. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"
#include "core/strmap.h"
#include "query/q.h"

struct bucket {
	double le, count;
};

static int bcmp_le(const void *a, const void *b)
{
	double x = ((const struct bucket *)a)->le, y = ((const struct bucket *)b)->le;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* Sort, require +Inf, coalesce equal bounds, force monotonic counts.
 * Returns the bucket count (0 when unusable); *forced set on a repair. */
static size_t prepare(struct bucket *b, size_t n, int *forced)
{
	*forced = 0;
	if (!n)
		return 0;
	qsort(b, n, sizeof(*b), bcmp_le);
	if (!(isinf(b[n - 1].le) && b[n - 1].le > 0))
		return 0;
	size_t k = 0;
	struct bucket last = b[0];
	for (size_t i = 1; i < n; i++) {
		if (b[i].le == last.le) {
			last.count += b[i].count;
		} else {
			b[k++] = last;
			last = b[i];
		}
	}
	b[k++] = last;
	double prev = b[0].count;
	for (size_t i = 1; i < k; i++) {
		double cur = b[i].count;
		if (cur == prev)
			continue;
		if (obs_num_almost_equal(prev, cur, 1e-12)) {
			b[i].count = prev;
			continue;
		}
		if (cur < prev) {
			b[i].count = prev;
			*forced = 1;
			continue;
		}
		prev = cur;
	}
	return k;
}

static double bucket_quantile(double q, struct bucket *b, size_t n, int *forced)
{
	*forced = 0;
	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	n = prepare(b, n, forced);
	if (n < 2)
		return NAN;
	double obs = b[n - 1].count;
	if (obs == 0)
		return NAN;
	double rank = q * obs;
	size_t i = 0;
	while (i < n - 1 && !(b[i].count >= rank))
		i++;
	if (i == n - 1)
		return b[n - 2].le;
	if (i == 0 && b[0].le <= 0)
		return b[0].le;
	double start = 0, end = b[i].le, count = b[i].count;
	if (i > 0) {
		start = b[i - 1].le;
		count -= b[i - 1].count;
		rank -= b[i - 1].count;
	}
	return start + (end - start) * (rank / count);
}

static double bucket_fraction(double lower, double upper, struct bucket *b, size_t n)
{
	int forced;
	n = prepare(b, n, &forced);
	if (!n)
		return NAN;
	double count = b[n - 1].count;
	if (count == 0 || isnan(lower) || isnan(upper))
		return NAN;
	if (lower >= upper)
		return 0;
	double rank = 0, lr = 0, ur = 0;
	int lset = 0, uset = 0;
	for (size_t i = 0; i < n; i++) {
		double lb = i > 0 ? b[i - 1].le : -INFINITY, ub = b[i].le;
		if (i == 0 && ub > 0)
			lb = 0;   /* the first bucket starts at zero when its bound is positive */
		if (!lset && lb >= lower) { lr = rank; lset = 1; }
		if (!uset && lb >= upper) { ur = rank; uset = 1; }
		if (lset && uset)
			break;
		/* an infinite bucket contributes nothing between its finite bound and the value */
		if (!lset && lb < lower && ub > lower) {
			lr = isinf(lb) ? b[i].count : isinf(ub) ? rank : rank + (b[i].count - rank) * (lower - lb) / (ub - lb);
			lset = 1;
		}
		if (!uset && lb < upper && ub > upper) {
			ur = isinf(lb) ? b[i].count : isinf(ub) ? rank : rank + (b[i].count - rank) * (upper - lb) / (ub - lb);
			uset = 1;
		}
		if (lset && uset)
			break;
		rank = b[i].count;
	}
	if (!lset || lr > count)
		lr = count;
	if (!uset || ur > count)
		ur = count;
	return (ur - lr) / count;
}

int q_fn_hist(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	const char *nm = n->fn->name;
	out->type = VT_VECTOR;
	int mode = strcmp(nm, "histogram_quantile") == 0 ? 0 : strcmp(nm, "histogram_quantiles") == 0 ? 1 :
		   strcmp(nm, "histogram_fraction") == 0 ? 2 : -1;
	if (mode < 0)
		return 0;   /* native histograms only */
	struct q_mat *in = mode == 0 ? &args[1].m : mode == 1 ? &args[0].m : &args[2].m;
	const struct q_node *vnode = mode == 0 ? n->args[1] : mode == 1 ? n->args[0] : n->args[2];
	size_t nq = mode == 1 ? n->nargs - 2 : 1;
	struct obs_strmap *map = obs_strmap_new();
	size_t *gid = calloc(in->n + 1, sizeof(size_t)), ng = 0;
	double *le = calloc(in->n + 1, sizeof(double));
	struct obs_labels *gl = calloc(in->n + 1, sizeof(*gl));
	const char **gname = calloc(in->n + 1, sizeof(char *));
	size_t *outidx = NULL;
	struct bucket *bk = calloc(in->n + 1, sizeof(*bk)), *copy = calloc(in->n + 1, sizeof(*bk));
	size_t *fill = calloc(in->n + 1, sizeof(size_t));
	struct obs_buf key;
	obs_buf_init(&key);
	int rc = 0;
	if (!map || !gid || !le || !gl || !gname || !bk || !copy || !fill) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	struct q_strs drop = { 0 };
	char *dropv[] = { "le" };
	drop.v = dropv;
	drop.n = 1;
	for (size_t k = 0; k < in->n && !rc; k++) {
		const char *lv = obs_labels_get(&in->s[k].l, "le");
		const char *mn = obs_labels_get(&in->s[k].l, "__name__");
		double b;
		if (!lv || obs_num_parse(lv, strlen(lv), &b) != 0) {
			q_warnf(ev, vnode, "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"%s\" for metric name \"%s\"",
				lv ? lv : "", mn ? mn : "");
			gid[k] = SIZE_MAX;
			continue;
		}
		le[k] = b;
		struct obs_labels l;
		if (obs_labels_copy(&l, &in->s[k].l) != 0 || q_labels_drop(&l, &drop, 0) != 0) {
			rc = q_errf(ev, -ENOMEM, "out of memory");
			break;
		}
		obs_buf_reset(&key);
		q_labels_key(&l, NULL, 0, &key);
		obs_buf_puts(&key, mn ? mn : "");
		uint64_t h = obs_strmap_hash(key.data ? key.data : "", key.len);
		size_t g = (size_t)(uintptr_t)obs_strmap_get(map, h, key.data ? key.data : "", key.len);
		if (!g) {
			gl[ng] = l;
			gname[ng] = mn;
			g = ++ng;
			if (obs_strmap_put(map, h, key.data ? key.data : "", key.len, (void *)(uintptr_t)g) != 0)
				rc = q_errf(ev, -ENOMEM, "out of memory");
		} else {
			obs_labels_release(&l);
		}
		gid[k] = g - 1;
	}
	if (rc)
		goto out;
	/* group members, contiguous */
	size_t *start = calloc(ng + 2, sizeof(size_t)), *order = calloc(in->n + 1, sizeof(size_t));
	outidx = malloc((ng * nq + 1) * sizeof(size_t));
	if (!start || !order || !outidx) {
		free(start);
		free(order);
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t g = 0; g < ng * nq; g++)
		outidx[g] = SIZE_MAX;
	for (size_t k = 0; k < in->n; k++)
		if (gid[k] != SIZE_MAX)
			start[gid[k] + 1]++;
	for (size_t g = 0; g < ng; g++)
		start[g + 1] += start[g];
	memcpy(fill, start, ng * sizeof(size_t));
	for (size_t k = 0; k < in->n; k++)
		if (gid[k] != SIZE_MAX)
			order[fill[gid[k]]++] = k;
	for (size_t i = 0; i < ev->nsteps && mode != 2; i++)
		for (size_t qi = 0; qi < nq; qi++) {
			double q = mode == 0 ? args[0].sc[i] : args[2 + qi].sc[i];
			if (isnan(q) || q < 0 || q > 1) {
				char gq[32];
				snprintf(gq, sizeof(gq), "%g", q);
				q_warnf(ev, mode == 0 ? n->args[0] : n->args[2 + qi],
					"PromQL warning: quantile value should be between 0 and 1, got %s", isnan(q) ? "NaN" : gq);
			}
		}
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		for (size_t g = 0; g < ng && !rc; g++) {
			size_t nb = 0;
			for (size_t j = start[g]; j < start[g + 1]; j++) {
				size_t k = order[j];
				if (in->s[k].ok[i])
					bk[nb++] = (struct bucket){ le[k], in->s[k].v[i] };
			}
			if (!nb)
				continue;
			for (size_t qi = 0; qi < nq && !rc; qi++) {
				double r;
				int forced = 0;
				if (mode == 2) {
					r = bucket_fraction(args[0].sc[i], args[1].sc[i], bk, nb);
				} else {
					double q = mode == 0 ? args[0].sc[i] : args[2 + qi].sc[i];
					memcpy(copy, bk, nb * sizeof(*bk));   /* sorted in place: keep bk for the next q */
					r = bucket_quantile(q, copy, nb, &forced);
					if (forced)
						q_warnf(ev, vnode, "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"%s\"",
							gname[g] ? gname[g] : "");
				}
				size_t oi = g * nq + qi;
				if (outidx[oi] == SIZE_MAX) {
					struct obs_labels l;
					if (obs_labels_copy(&l, &gl[g]) != 0) {
						rc = q_errf(ev, -ENOMEM, "out of memory");
						break;
					}
					if (mode == 1) {
						char qs[64];
						double qv = args[2 + qi].sc[i];
						if (qv == floor(qv) && fabs(qv) < 1e15)
							snprintf(qs, sizeof(qs), "%.1f", qv);
						else
							q_format_f(qv, qs, sizeof(qs));
						if (q_labels_set(&l, args[1].str, qs) != 0) {
							obs_labels_release(&l);
							rc = q_errf(ev, -ENOMEM, "out of memory");
							break;
						}
					}
					struct q_ser *s = q_mat_add(ev, &out->m, &l, 1);
					if (!s) {
						obs_labels_release(&l);
						rc = -ENOMEM;
						break;
					}
					s->dropname = 1;
					outidx[oi] = out->m.n - 1;
				}
				out->m.s[outidx[oi]].v[i] = r;
				out->m.s[outidx[oi]].ok[i] = 1;
			}
		}
	}
	free(start);
	free(order);
out:
	for (size_t g = 0; g < ng; g++)
		obs_labels_release(&gl[g]);
	free(gl);
	free(gname);
	free(gid);
	free(le);
	free(bk);
	free(copy);
	free(fill);
	free(outidx);
	obs_buf_release(&key);
	obs_strmap_free(map);
	return rc;
}
