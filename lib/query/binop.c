/* binop.c — binary operators: arithmetic, comparisons (filtering or bool),
 * set operators, and vector matching (on/ignoring, group_left/right) with
 * Prometheus' cardinality errors, evaluated per step over step matrices. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "query/q.h"

/* Apply op; *keep is 0 when a comparison is false. */
static double apply(int op, double l, double r, int *keep)
{
	*keep = 1;
	switch (op) {
	case T_ADD: return l + r;
	case T_SUB: return l - r;
	case T_MUL: return l * r;
	case T_DIV: return l / r;
	case T_MOD: return fmod(l, r);
	case T_POW: return pow(l, r);
	case T_ATAN2: return atan2(l, r);
	case T_EQLC: *keep = l == r; return l;
	case T_NEQ: *keep = l != r; return l;
	case T_GTR: *keep = l > r; return l;
	case T_LSS: *keep = l < r; return l;
	case T_GTE: *keep = l >= r; return l;
	case T_LTE: *keep = l <= r; return l;
	default: *keep = 0; return NAN;
	}
}

static int scalar_scalar(struct q_ev *ev, const struct q_node *n, struct q_val *a, struct q_val *b, struct q_val *out)
{
	out->type = VT_SCALAR;
	out->sc = a->sc;
	a->sc = NULL;
	for (size_t i = 0; i < ev->nsteps; i++) {
		int keep;
		double v = apply(n->op, out->sc[i], b->sc[i], &keep);
		out->sc[i] = q_is_comparison(n->op) ? (double)keep : v;
	}
	return 0;
}

static int vector_scalar(struct q_ev *ev, const struct q_node *n, struct q_val *a, struct q_val *b, struct q_val *out)
{
	int vec_left = a->type == VT_VECTOR;
	struct q_val *vv = vec_left ? a : b, *sv = vec_left ? b : a;
	int cmp = q_is_comparison(n->op);
	out->type = VT_VECTOR;
	out->m = vv->m;
	memset(&vv->m, 0, sizeof(vv->m));
	for (size_t k = 0; k < out->m.n; k++) {
		struct q_ser *s = &out->m.s[k];
		free(s->t);
		s->t = NULL;
		for (size_t i = 0; i < ev->nsteps; i++) {
			if (!s->ok[i])
				continue;
			double l = vec_left ? s->v[i] : sv->sc[i], r = vec_left ? sv->sc[i] : s->v[i];
			int keep;
			double v = apply(n->op, l, r, &keep);
			if (cmp) {
				if (n->bool_mod)
					s->v[i] = keep;
				else if (!keep)
					s->ok[i] = 0;
				else
					s->v[i] = vec_left ? l : r;   /* the vector's own value */
			} else {
				s->v[i] = v;
			}
		}
		if (!cmp || n->bool_mod)
			s->dropname = 1;
	}
	return 0;
}

/* Group ids by matching signature: ids[i] for every series of m. */
static int sig_ids(struct q_ev *ev, const struct q_node *n, const struct q_mat *m, struct obs_strmap *map,
		   size_t *ids, size_t *ngroups)
{
	struct obs_buf key;
	obs_buf_init(&key);
	int rc = 0;
	for (size_t k = 0; k < m->n && !rc; k++) {
		obs_buf_reset(&key);
		if ((rc = q_labels_key(&m->s[k].l, &n->mlabels, n->has_matching && n->on, &key)) != 0)
			break;
		uint64_t h = obs_strmap_hash(key.data ? key.data : "", key.len);
		void *v = obs_strmap_get(map, h, key.data ? key.data : "", key.len);
		if (!v) {
			v = (void *)(uintptr_t)(++*ngroups);
			rc = obs_strmap_put(map, h, key.data ? key.data : "", key.len, v);
		}
		ids[k] = (size_t)(uintptr_t)v - 1;
	}
	obs_buf_release(&key);
	return rc ? q_errf(ev, -ENOMEM, "out of memory") : 0;
}

static int add_copy(struct q_ev *ev, struct q_mat *out, const struct q_ser *s, size_t *idx)
{
	struct q_ser *o = q_mat_add(ev, out, &s->l, 0);
	if (!o)
		return -ENOMEM;
	o->dropname = s->dropname;
	*idx = out->n - 1;
	return 0;
}

static int set_op(struct q_ev *ev, const struct q_node *n, struct q_mat *l, struct q_mat *r, struct q_val *out)
{
	out->type = VT_VECTOR;
	struct obs_strmap *map = obs_strmap_new();
	size_t *lid = calloc(l->n + 1, sizeof(size_t)), *rid = calloc(r->n + 1, sizeof(size_t));
	size_t ng = 0;
	int rc = 0;
	if (!map || !lid || !rid) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = sig_ids(ev, n, l, map, lid, &ng)) || (rc = sig_ids(ev, n, r, map, rid, &ng)))
		goto out;
	size_t *seen = calloc(ng + 1, sizeof(size_t));   /* generation marks */
	if (!seen) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	size_t *lout = malloc((l->n + 1) * sizeof(size_t)), *rout = malloc((r->n + 1) * sizeof(size_t));
	if (!lout || !rout) {
		free(lout);
		free(rout);
		free(seen);
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < l->n; k++)
		lout[k] = SIZE_MAX;
	for (size_t k = 0; k < r->n; k++)
		rout[k] = SIZE_MAX;
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		size_t gen = i + 1;
		const struct q_mat *marks = n->op == T_LOR ? l : r;
		const size_t *mid = n->op == T_LOR ? lid : rid;
		for (size_t k = 0; k < marks->n; k++)
			if (marks->s[k].ok[i])
				seen[mid[k]] = gen;
		for (size_t k = 0; k < l->n && !rc; k++) {
			if (!l->s[k].ok[i])
				continue;
			int take = n->op == T_LOR || (n->op == T_LAND ? seen[lid[k]] == gen : seen[lid[k]] != gen);
			if (!take)
				continue;
			if (lout[k] == SIZE_MAX && (rc = add_copy(ev, &out->m, &l->s[k], &lout[k])))
				break;
			out->m.s[lout[k]].v[i] = l->s[k].v[i];
			out->m.s[lout[k]].ok[i] = 1;
		}
		if (n->op != T_LOR)
			continue;
		for (size_t k = 0; k < r->n && !rc; k++) {
			if (!r->s[k].ok[i] || seen[rid[k]] == gen)
				continue;
			if (rout[k] == SIZE_MAX && (rc = add_copy(ev, &out->m, &r->s[k], &rout[k])))
				break;
			out->m.s[rout[k]].v[i] = r->s[k].v[i];
			out->m.s[rout[k]].ok[i] = 1;
		}
	}
	free(lout);
	free(rout);
	free(seen);
out:
	obs_strmap_free(map);
	free(lid);
	free(rid);
	return rc;
}

static int fmt_series_list(struct obs_buf *b, const struct q_mat *m, const size_t *idx, size_t n)
{
	int rc = obs_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			rc |= obs_buf_puts(b, ", ");
		const struct obs_labels *l = &m->s[idx[i]].l;
		rc |= obs_buf_putc(b, '{');
		for (size_t j = 0; j < l->n; j++)
			rc |= obs_buf_printf(b, "%s%s=\"%s\"", j ? ", " : "", l->v[j].name, l->v[j].value);
		rc |= obs_buf_putc(b, '}');
	}
	return rc | obs_buf_putc(b, ']');
}

/* The labels of a result series from the matched many-side and one-side series. */
static int result_labels(const struct q_node *n, const struct q_ser *many, const struct q_ser *one,
			 struct obs_labels *out, int *dropname)
{
	int rc = obs_labels_copy(out, &many->l);
	if (rc)
		return rc;
	int cmp_filter = q_is_comparison(n->op) && !n->bool_mod;
	*dropname = cmp_filter ? many->dropname : 1;
	if (n->card == CARD_ONE_ONE && n->has_matching) {
		if (n->on)
			rc = q_labels_keep(out, &n->mlabels, 0);
		else
			rc = q_labels_drop(out, &n->mlabels, 0);
	}
	for (size_t i = 0; !rc && i < n->include.n; i++) {
		const char *v = obs_labels_get(&one->l, n->include.v[i]);
		rc = q_labels_set(out, n->include.v[i], v ? v : "");
	}
	return rc;
}

static int vector_vector(struct q_ev *ev, const struct q_node *n, struct q_mat *l, struct q_mat *r, struct q_val *out)
{
	out->type = VT_VECTOR;
	int swap = n->card == CARD_ONE_MANY;
	struct q_mat *many = swap ? r : l, *one = swap ? l : r;
	struct obs_strmap *sigs = obs_strmap_new(), *outs = obs_strmap_new();
	size_t *mid = calloc(many->n + 1, sizeof(size_t)), *oid = calloc(one->n + 1, sizeof(size_t));
	size_t ng = 0;
	size_t *onegen = NULL, *oneat = NULL, *usedgen = NULL;
	struct obs_buf key;
	obs_buf_init(&key);
	int rc = 0;
	if (!sigs || !outs || !mid || !oid) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = sig_ids(ev, n, many, sigs, mid, &ng)) || (rc = sig_ids(ev, n, one, sigs, oid, &ng)))
		goto out;
	onegen = calloc(ng + 1, sizeof(size_t));
	oneat = calloc(ng + 1, sizeof(size_t));
	usedgen = calloc(ng + 1, sizeof(size_t));
	if (!onegen || !oneat || !usedgen) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	/* pair cache: (many, one) -> output series + 1, kept in outs by labels key */
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		size_t gen = i + 1;
		if ((rc = q_check(ev)))
			break;
		for (size_t k = 0; k < one->n; k++) {
			if (!one->s[k].ok[i])
				continue;
			size_t g = oid[k];
			if (onegen[g] == gen) {
				size_t dup[2] = { oneat[g], k };
				obs_buf_reset(&key);
				obs_buf_puts(&key, "found duplicate series for the match group ");
				struct obs_labels sl;
				struct obs_labels tmp = one->s[k].l;
				if (obs_labels_copy(&sl, &tmp) == 0) {
					if (n->has_matching && n->on)
						q_labels_keep(&sl, &n->mlabels, 0);
					else
						q_labels_drop(&sl, &n->mlabels, 1);
					obs_buf_putc(&key, '{');
					for (size_t j = 0; j < sl.n; j++)
						obs_buf_printf(&key, "%s%s=\"%s\"", j ? ", " : "", sl.v[j].name, sl.v[j].value);
					obs_buf_putc(&key, '}');
					obs_labels_release(&sl);
				}
				obs_buf_printf(&key, " on the %s hand-side of the operation: ", swap ? "left" : "right");
				fmt_series_list(&key, one, dup, 2);
				obs_buf_puts(&key, ";many-to-many matching not allowed: matching labels must be unique on one side");
				rc = q_errf(ev, -EINVAL, "%s", key.data);
				break;
			}
			onegen[g] = gen;
			oneat[g] = k;
		}
		for (size_t k = 0; k < many->n && !rc; k++) {
			if (!many->s[k].ok[i])
				continue;
			size_t g = mid[k];
			if (onegen[g] != gen)
				continue;
			size_t ok = oneat[g];
			if (n->card == CARD_ONE_ONE) {
				if (usedgen[g] == gen) {
					rc = q_errf(ev, -EINVAL, "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
					break;
				}
				usedgen[g] = gen;
			}
			double lv = swap ? one->s[ok].v[i] : many->s[k].v[i];
			double rv = swap ? many->s[k].v[i] : one->s[ok].v[i];
			int keep;
			double v = apply(n->op, lv, rv, &keep);
			if (q_is_comparison(n->op)) {
				if (n->bool_mod)
					v = keep;
				else if (!keep)
					continue;
			}
			struct obs_labels rl;
			int dropname;
			if ((rc = result_labels(n, &many->s[k], &one->s[ok], &rl, &dropname)) != 0) {
				rc = q_errf(ev, -ENOMEM, "out of memory");
				break;
			}
			obs_buf_reset(&key);
			q_labels_key(&rl, NULL, 0, &key);
			obs_buf_puts(&key, obs_labels_get(&rl, "__name__") ? obs_labels_get(&rl, "__name__") : "");
			uint64_t h = obs_strmap_hash(key.data, key.len);
			size_t oi = (size_t)(uintptr_t)obs_strmap_get(outs, h, key.data, key.len);
			if (!oi) {
				struct q_ser *s = q_mat_add(ev, &out->m, &rl, 1);
				if (!s) {
					obs_labels_release(&rl);
					rc = -ENOMEM;
					break;
				}
				s->dropname = dropname;
				oi = out->m.n;
				if (obs_strmap_put(outs, h, key.data, key.len, (void *)(uintptr_t)oi) != 0) {
					rc = q_errf(ev, -ENOMEM, "out of memory");
					break;
				}
			} else {
				obs_labels_release(&rl);
				if (dropname)
					out->m.s[oi - 1].dropname = 1;
			}
			struct q_ser *s = &out->m.s[oi - 1];
			if (s->ok[i]) {
				rc = q_errf(ev, -EINVAL, n->card == CARD_ONE_ONE ?
					"multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)" :
					"multiple matches for labels: grouping labels must ensure unique matches");
				break;
			}
			s->ok[i] = 1;
			s->v[i] = v;
		}
	}
out:
	obs_buf_release(&key);
	obs_strmap_free(sigs);
	obs_strmap_free(outs);
	free(mid);
	free(oid);
	free(onegen);
	free(oneat);
	free(usedgen);
	return rc;
}

int q_eval_bin(struct q_ev *ev, const struct q_node *n, struct q_val *a, struct q_val *b, struct q_val *out)
{
	if (a->type == VT_SCALAR && b->type == VT_SCALAR)
		return scalar_scalar(ev, n, a, b, out);
	if (a->type == VT_SCALAR || b->type == VT_SCALAR)
		return vector_scalar(ev, n, a, b, out);
	if (q_is_setop(n->op))
		return set_op(ev, n, &a->m, &b->m, out);
	return vector_vector(ev, n, &a->m, &b->m, out);
}
