/* agg_fast.c — aggregations straight from a vector selector: each series
 * the store hands out is folded into its group's per-step state at once,
 * so `sum by (job) (metric)` over many series and steps holds one row per
 * group, not one per series. Same grouping and update rules as agg.c
 * (agg_int.h), in the same order, hence the same answers. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "core/vec.h"
#include "query/agg_int.h"

struct fgroup {
	struct obs_labels l;
	int dropname;
	struct acc *acc;     /* one per step; gen 1 = has a value */
};

struct q_fold {
	struct q_ev *ev;
	const struct q_node *n;
	const int64_t *at;
	struct obs_strmap *map;
	struct fgroup *g;
	size_t ng, cap;
	struct obs_buf key;
	int keep_name;
};

static int group_of(struct q_fold *x, const struct obs_labels *in, size_t *gid)
{
	struct q_ev *ev = x->ev;
	struct obs_labels l;
	if (obs_labels_copy(&l, in) != 0)
		return q_errf(ev, -ENOMEM, "out of memory");
	int rc = x->n->without ? q_labels_drop(&l, &x->n->grouping, 1) : q_labels_keep(&l, &x->n->grouping, x->keep_name);
	obs_buf_reset(&x->key);
	if (!rc)
		rc = q_labels_key(&l, NULL, 0, &x->key);
	if (!rc && obs_labels_get(&l, "__name__"))
		rc = obs_buf_puts(&x->key, obs_labels_get(&l, "__name__"));
	if (rc) {
		obs_labels_release(&l);
		return q_errf(ev, -ENOMEM, "out of memory");
	}
	const char *k = x->key.data ? x->key.data : "";
	uint64_t h = obs_strmap_hash(k, x->key.len);
	size_t g = (size_t)(uintptr_t)obs_strmap_get(x->map, h, k, x->key.len);
	if (g) {
		obs_labels_release(&l);
		*gid = g - 1;
		return 0;
	}
	if ((rc = q_account(ev, ev->nsteps)) != 0) {
		obs_labels_release(&l);
		return rc;
	}
	if (OBS_VEC_RESERVE(x->g, x->cap, x->ng + 1)) {
		obs_labels_release(&l);
		return q_errf(ev, -ENOMEM, "out of memory");
	}
	struct fgroup *fg = &x->g[x->ng];
	fg->l = l;
	fg->dropname = 0;
	if (!(fg->acc = calloc(ev->nsteps ? ev->nsteps : 1, sizeof(struct acc)))) {
		obs_labels_release(&l);
		return q_errf(ev, -ENOMEM, "out of memory");
	}
	x->ng++;
	if (obs_strmap_put(x->map, h, k, x->key.len, (void *)(uintptr_t)x->ng) != 0)
		return q_errf(ev, -ENOMEM, "out of memory");
	*gid = x->ng - 1;
	return 0;
}

static int fast_emit(void *c, const struct obs_labels *l, const int64_t *t, const double *v, size_t n)
{
	struct q_fold *x = c;
	struct q_ev *ev = x->ev;
	int64_t lb = ev->o->lookback_ms;
	int rc = q_check(ev);
	if (rc)
		return rc;
	struct fgroup *g = NULL;
	size_t j = 0;
	for (size_t i = 0; i < ev->nsteps; i++) {
		if ((i & 4095) == 4095 && (rc = q_check(ev)) != 0)
			return rc;
		if (!q_lookback_hit(x->at, i, lb, t, v, n, &j))
			continue;
		if (!g) {
			size_t gid = 0;
			if ((rc = group_of(x, l, &gid)) != 0)
				return rc;
			g = &x->g[gid];
		}
		struct acc *a = &g->acc[i];
		int first = a->gen == 0;
		a->gen = 1;
		q_acc_add(x->n->op, a, v[j - 1], first);
	}
	return 0;
}

int q_fold_new(struct q_ev *ev, const struct q_node *agg, struct q_fold **out)
{
	struct q_fold *x = calloc(1, sizeof(*x));
	if (!x || !(x->map = obs_strmap_new())) {
		free(x);
		return q_errf(ev, -ENOMEM, "out of memory");
	}
	x->ev = ev;
	x->n = agg;
	x->keep_name = !agg->without && q_strs_has(&agg->grouping, "__name__");
	obs_buf_init(&x->key);
	*out = x;
	return 0;
}

int q_fold_row(struct q_fold *x, const struct obs_labels *l, int dropname, const double *v, const uint8_t *ok)
{
	size_t gid = 0;
	int rc = group_of(x, l, &gid);
	if (rc)
		return rc;
	struct fgroup *g = &x->g[gid];
	if (dropname && x->keep_name)
		g->dropname = 1;
	for (size_t i = 0; i < x->ev->nsteps; i++) {
		if (!ok[i])
			continue;
		struct acc *a = &g->acc[i];
		int first = a->gen == 0;
		a->gen = 1;
		q_acc_add(x->n->op, a, v[i], first);
	}
	return 0;
}

/* the groups into out (when set), then free everything */
static int fold_output(struct q_fold *x, struct q_val *out)
{
	struct q_ev *ev = x->ev;
	int rc = 0;
	for (size_t g = 0; out && g < x->ng && !rc; g++) {
		struct q_ser *s = q_mat_add(ev, &out->m, &x->g[g].l, 0);
		if (!s) {
			rc = -ENOMEM;
			break;
		}
		s->dropname = x->g[g].dropname;
		for (size_t i = 0; i < ev->nsteps; i++)
			if (x->g[g].acc[i].gen) {
				s->ok[i] = 1;
				s->v[i] = q_acc_result(x->n->op, &x->g[g].acc[i]);
			}
	}
	for (size_t g = 0; g < x->ng; g++) {
		obs_labels_release(&x->g[g].l);
		free(x->g[g].acc);
	}
	ev->samples = ev->samples > x->ng * ev->nsteps ? ev->samples - x->ng * ev->nsteps : 0;
	free(x->g);
	obs_strmap_free(x->map);
	obs_buf_release(&x->key);
	return rc;
}

int q_fold_finish(struct q_fold *x, struct q_val *out)
{
	if (!x)
		return 0;
	if (out)
		out->type = VT_VECTOR;
	int rc = fold_output(x, out);
	free(x);
	return rc;
}

int q_agg_fast(struct q_ev *ev, const struct q_node *n, const struct q_node *sel, struct q_val *out)
{
	int64_t off = 0;
	int rc = q_dur_eval(ev, &sel->offset, &off);
	if (rc)
		return rc;
	out->type = VT_VECTOR;
	if (!ev->nsteps)
		return 0;
	struct q_fold x = { .ev = ev, .n = n, .keep_name = !n->without && q_strs_has(&n->grouping, "__name__") };
	int64_t *at = malloc(ev->nsteps * sizeof(int64_t));
	x.map = obs_strmap_new();
	obs_buf_init(&x.key);
	if (!at || !x.map) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	int64_t mn = INT64_MAX, mx = INT64_MIN;
	for (size_t i = 0; i < ev->nsteps; i++) {
		int64_t t = sel->at == AT_TS ? sel->at_ms : sel->at == AT_START ? ev->qstart :
			    sel->at == AT_END ? ev->qend : q_ts(ev, i);
		at[i] = t - off;
		if (at[i] < mn) mn = at[i];
		if (at[i] > mx) mx = at[i];
	}
	x.at = at;
	rc = ev->st->select(ev->st->ctx, sel->m, sel->nm, mn - ev->o->lookback_ms + 1, mx, fast_emit, &x);
	if (rc) {
		if (ev->err && !ev->err[0])
			q_errf(ev, rc, rc == -ENOTSUP ? "native histograms are not supported" : "store: error %d", rc);
		goto out;
	}
	if (!rc) {
		rc = fold_output(&x, out);
		x.map = NULL;
		x.ng = 0;
		x.g = NULL;
	}
out:
	for (size_t g = 0; g < x.ng; g++) {
		obs_labels_release(&x.g[g].l);
		free(x.g[g].acc);
	}
	free(x.g);
	free(at);
	obs_strmap_free(x.map);
	obs_buf_release(&x.key);
	return rc;
}
