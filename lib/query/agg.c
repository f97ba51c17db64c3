/* agg.c — aggregation operators (sum avg min max count stddev stdvar
 * topk bottomk quantile count_values group limitk limit_ratio) with
 * by/without grouping, evaluated per step. Groups are computed once per
 * input series; a group keeps __name__ only when listed in by(), and then
 * it is removed at the end if any member's name was to be dropped. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/strmap.h"
#include "core/utf8.h"
#include "core/vec.h"
#include "query/agg_int.h"
#include "query/q.h"

double q_kahan_add(double inc, double *sum, double *c)
{
	double t = *sum + inc;
	if (isinf(t))
		*c = 0;
	else if (fabs(*sum) >= fabs(inc))
		*c += (*sum - t) + inc;
	else
		*c += (inc - t) + *sum;
	*sum = t;
	return t;
}

/* Go's sort.Float64s order: NaN first */
static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	if (isnan(x) || isnan(y))
		return isnan(x) && isnan(y) ? 0 : isnan(x) ? -1 : 1;
	return x < y ? -1 : x > y ? 1 : 0;
}

/* Prometheus' quantile: linear interpolation between closest ranks. */
double q_quantile(double q, double *v, size_t n)
{
	if (n == 0 || isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(v, n, sizeof(double), dcmp);
	double rank = q * (double)(n - 1);
	size_t lo = (size_t)fmax(0, floor(rank)), hi = (size_t)fmin((double)(n - 1), lo + 1);
	double w = rank - floor(rank);
	return v[lo] * (1 - w) + v[hi] * w;
}

/* Go's strconv.FormatFloat(f, 'f', -1, 64): shortest round-trip digits in
 * fixed notation. */
void q_format_f(double v, char *buf, size_t len)
{
	if (isnan(v)) { snprintf(buf, len, "NaN"); return; }
	if (isinf(v)) { snprintf(buf, len, v > 0 ? "+Inf" : "-Inf"); return; }
	char e[40];
	int p;
	for (p = 1; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e = [-]D.DDDDe[+-]XX */
	char digits[32];
	size_t nd = 0;
	const char *s = e;
	int neg = 0;
	if (*s == '-') { neg = 1; s++; }
	for (; *s && *s != 'e'; s++)
		if (*s != '.')
			digits[nd++] = *s;
	int exp = atoi(s + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	char *o = buf;
	char *end = buf + len - 1;
	if (neg && o < end) *o++ = '-';
	int point = exp + 1;   /* digits before the decimal point */
	if (point <= 0) {
		if (o < end) *o++ = '0';
		if (o < end) *o++ = '.';
		for (int i = 0; i < -point && o < end; i++) *o++ = '0';
		for (size_t i = 0; i < nd && o < end; i++) *o++ = digits[i];
	} else {
		for (int i = 0; i < point && o < end; i++) *o++ = (size_t)i < nd ? digits[i] : '0';
		if ((size_t)point < nd) {
			if (o < end) *o++ = '.';
			for (size_t i = (size_t)point; i < nd && o < end; i++) *o++ = digits[i];
		}
	}
	*o = 0;
}

struct group {
	struct obs_labels l;
	int dropname;
	size_t out;          /* output series + 1 */
};

static uint64_t labels_hash(const struct obs_labels *l)
{
	XXH64_state_t *st = XXH64_createState();
	if (!st)
		return 0;
	XXH64_reset(st, 0);
	for (size_t i = 0; i < l->n; i++) {
		XXH64_update(st, l->v[i].name, strlen(l->v[i].name));
		XXH64_update(st, "\xff", 1);
		XXH64_update(st, l->v[i].value, strlen(l->v[i].value));
		XXH64_update(st, "\xff", 1);
	}
	uint64_t h = XXH64_digest(st);
	XXH64_freeState(st);
	return h;
}

struct kctx {
	const struct q_mat *m;
	size_t step;
	int top;
};
/* qsort_r (glibc) keeps the engine reentrant: queries run in many threads */
static int kcmp(const void *a, const void *b, void *ctx)
{
	const struct kctx *k = ctx;
	double x = k->m->s[*(const size_t *)a].v[k->step], y = k->m->s[*(const size_t *)b].v[k->step];
	/* NaN always sorts last */
	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y);
	if (x == y)
		return 0;
	return k->top ? (x > y ? -1 : 1) : (x < y ? -1 : 1);
}

static int out_series(struct q_ev *ev, struct q_val *out, struct group *g)
{
	if (g->out)
		return 0;
	struct q_ser *s = q_mat_add(ev, &out->m, &g->l, 0);
	if (!s)
		return -ENOMEM;
	s->dropname = g->dropname;
	g->out = out->m.n;
	return 0;
}

static int eval_k(struct q_ev *ev, const struct q_node *n, const struct q_mat *in, const size_t *gid,
		  size_t ng, const double *param, struct q_val *out)
{
	size_t *order = malloc((in->n + 1) * sizeof(size_t)), *start = calloc(ng + 2, sizeof(size_t));
	size_t *outidx = malloc((in->n + 1) * sizeof(size_t)), *fill = calloc(ng + 1, sizeof(size_t));
	int rc = 0;
	if (!order || !start || !outidx || !fill) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < in->n; k++)
		outidx[k] = SIZE_MAX;
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		double p = param[i];
		if (n->op != A_LIMIT_RATIO) {
			if (isnan(p)) {
				rc = q_errf(ev, -EINVAL, "Parameter value is NaN");
				break;
			}
		} else if (isnan(p)) {
			rc = q_errf(ev, -EINVAL, "Ratio value is NaN");
			break;
		}
		/* bucket the present series by group, in input order */
		memset(start, 0, (ng + 2) * sizeof(size_t));
		for (size_t k = 0; k < in->n; k++)
			if (in->s[k].ok[i])
				start[gid[k] + 1]++;
		for (size_t g = 0; g < ng; g++)
			start[g + 1] += start[g];
		memcpy(fill, start, ng * sizeof(size_t));
		for (size_t k = 0; k < in->n; k++)
			if (in->s[k].ok[i])
				order[fill[gid[k]]++] = k;
		for (size_t g = 0; g < ng && !rc; g++) {
			size_t *v = order + start[g], cnt = start[g + 1] - start[g];
			if (!cnt)
				continue;
			size_t take = cnt;
			if (n->op == A_LIMIT_RATIO) {
				if (p < -1 || p > 1) {
					q_warnf(ev, n->b, "PromQL warning: ratio value should be between -1 and 1, got %g, capping to %g", p, p < -1 ? -1.0 : 1.0);
					p = p < -1 ? -1 : 1;
				}
				size_t kept = 0;
				for (size_t j = 0; j < cnt; j++) {
					double r = (double)labels_hash(&in->s[v[j]].l) / 18446744073709551615.0;
					if ((p >= 0 && r < p) || (p < 0 && r >= 1 + p))
						v[kept++] = v[j];
				}
				take = kept;
			} else {
				if (p < 1)
					continue;
				if (p < (double)cnt)
					take = (size_t)p;
				if (n->op == A_TOPK || n->op == A_BOTTOMK) {
					struct kctx kc = { .m = in, .step = i, .top = n->op == A_TOPK };
					qsort_r(v, cnt, sizeof(size_t), kcmp, &kc);
				}
			}
			for (size_t j = 0; j < take; j++) {
				size_t k = v[j];
				if (outidx[k] == SIZE_MAX) {
					struct q_ser *s = q_mat_add(ev, &out->m, &in->s[k].l, 0);
					if (!s) {
						rc = -ENOMEM;
						break;
					}
					s->dropname = in->s[k].dropname;
					outidx[k] = out->m.n - 1;
				}
				out->m.s[outidx[k]].v[i] = in->s[k].v[i];
				out->m.s[outidx[k]].ok[i] = 1;
			}
		}
	}
out:
	free(order);
	free(start);
	free(outidx);
	free(fill);
	return rc;
}

static int eval_count_values(struct q_ev *ev, const struct q_node *n, const struct q_mat *in, const size_t *gid,
			     struct group *gs, const char *label, struct q_val *out)
{
	if (!obs_utf8_valid(label, strlen(label)) || !label[0]) {
		/* quoted as Go's %q does: invalid bytes as \xNN */
		char q[256];
		size_t o = 0;
		const char *e = label + strlen(label);
		for (const char *p = label; *p && o + 8 < sizeof(q); p++) {
			unsigned char c = (unsigned char)*p;
			int seq = c >= 0x80 ? obs_utf8_seq(p, e) : 0;
			if (seq > 1) {
				memcpy(q + o, p, (size_t)seq);
				o += (size_t)seq;
				p += seq - 1;
			} else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
				o += (size_t)snprintf(q + o, sizeof(q) - o, c == '"' || c == '\\' ? "\\%c" : "\\x%02x", c);
			} else {
				q[o++] = (char)c;
			}
		}
		q[o] = 0;
		return q_errf(ev, -EINVAL, "invalid label name \"%s\"", q);
	}
	struct obs_strmap *map = obs_strmap_new();
	struct obs_buf key;
	obs_buf_init(&key);
	int rc = 0;
	if (!map)
		return q_errf(ev, -ENOMEM, "out of memory");
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		for (size_t k = 0; k < in->n && !rc; k++) {
			if (!in->s[k].ok[i])
				continue;
			char vs[64];
			q_format_f(in->s[k].v[i], vs, sizeof(vs));
			obs_buf_reset(&key);
			obs_buf_printf(&key, "%zu\xff%s", gid[k], vs);
			uint64_t h = obs_strmap_hash(key.data, key.len);
			size_t oi = (size_t)(uintptr_t)obs_strmap_get(map, h, key.data, key.len);
			if (!oi) {
				struct obs_labels l;
				if (obs_labels_copy(&l, &gs[gid[k]].l) != 0 || q_labels_set(&l, label, vs) != 0) {
					obs_labels_release(&l);
					rc = q_errf(ev, -ENOMEM, "out of memory");
					break;
				}
				struct q_ser *s = q_mat_add(ev, &out->m, &l, 1);
				if (!s) {
					obs_labels_release(&l);
					rc = -ENOMEM;
					break;
				}
				oi = out->m.n;
				if (obs_strmap_put(map, h, key.data, key.len, (void *)(uintptr_t)oi) != 0)
					rc = q_errf(ev, -ENOMEM, "out of memory");
			}
			struct q_ser *s = &out->m.s[oi - 1];
			if (!s->ok[i]) {
				s->ok[i] = 1;
				s->v[i] = 0;
			}
			s->v[i] += 1;
		}
	}
	obs_buf_release(&key);
	obs_strmap_free(map);
	return rc;
}

int q_eval_agg(struct q_ev *ev, const struct q_node *n, struct q_val *out)
{
	struct q_val in = { 0 }, par = { 0 };
	int rc = 0;
	const struct q_node *sel = n->a;
	while (sel->kind == N_PAREN)
		sel = sel->a;
	int simple = n->op == A_SUM || n->op == A_AVG || n->op == A_MIN || n->op == A_MAX || n->op == A_COUNT ||
		     n->op == A_GROUP || n->op == A_STDDEV || n->op == A_STDVAR;
	size_t ri;
	if (simple && sel->kind == N_VSEL)
		return q_agg_fast(ev, n, sel, out);
	if (simple && q_stream_msel(sel, &ri)) {   /* e.g. sum by (job) (rate(x[5m])) */
		struct q_fold *fold;
		if ((rc = q_fold_new(ev, n, &fold)) != 0)
			return rc;
		rc = q_eval_call_into(ev, sel, fold, NULL);
		int rc2 = q_fold_finish(fold, rc ? NULL : out);
		return rc ? rc : rc2;
	}
	if (n->b && (rc = q_eval(ev, n->b, &par)) != 0)
		goto done;
	if ((rc = q_eval(ev, n->a, &in)) != 0)
		goto done;
	out->type = VT_VECTOR;
	struct q_mat *m = &in.m;
	size_t *gid = calloc(m->n + 1, sizeof(size_t));
	struct group *gs = NULL;
	size_t ng = 0, gcap = 0;
	struct obs_strmap *map = obs_strmap_new();
	struct obs_buf key;
	obs_buf_init(&key);
	int keep_name = !n->without && q_strs_has(&n->grouping, "__name__");
	if (!gid || !map) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto free_groups;
	}
	/* groups */
	int k_op = n->op == A_TOPK || n->op == A_BOTTOMK || n->op == A_LIMITK || n->op == A_LIMIT_RATIO;
	for (size_t k = 0; k < m->n; k++) {
		struct obs_labels l;
		if (obs_labels_copy(&l, &m->s[k].l) != 0) {
			rc = q_errf(ev, -ENOMEM, "out of memory");
			break;
		}
		if (n->without)
			rc = q_labels_drop(&l, &n->grouping, 1);
		else
			rc = q_labels_keep(&l, &n->grouping, keep_name);
		obs_buf_reset(&key);
		if (!rc)
			rc = q_labels_key(&l, NULL, 0, &key);
		if (!rc && obs_labels_get(&l, "__name__"))
			rc = obs_buf_puts(&key, obs_labels_get(&l, "__name__"));
		if (rc) {
			obs_labels_release(&l);
			rc = q_errf(ev, -ENOMEM, "out of memory");
			break;
		}
		uint64_t h = obs_strmap_hash(key.data ? key.data : "", key.len);
		size_t g = (size_t)(uintptr_t)obs_strmap_get(map, h, key.data ? key.data : "", key.len);
		if (!g) {
			if (OBS_VEC_RESERVE(gs, gcap, ng + 1)) {
				obs_labels_release(&l);
				rc = q_errf(ev, -ENOMEM, "out of memory");
				break;
			}
			gs[ng] = (struct group){ .l = l };
			g = ++ng;
			if (obs_strmap_put(map, h, key.data ? key.data : "", key.len, (void *)(uintptr_t)g) != 0) {
				rc = q_errf(ev, -ENOMEM, "out of memory");
				break;
			}
		} else {
			obs_labels_release(&l);
		}
		gid[k] = g - 1;
		if (keep_name && m->s[k].dropname)
			gs[g - 1].dropname = 1;
	}
	if (rc)
		goto free_groups;
	if (k_op) {
		rc = eval_k(ev, n, m, gid, ng, par.sc, out);
		goto free_groups;
	}
	if (n->op == A_QUANTILE)
		for (size_t i = 0; i < ev->nsteps; i++) {
			double q = par.sc[i];
			if (isnan(q) || q < 0 || q > 1) {
				char g[32];
				snprintf(g, sizeof(g), "%g", q);
				q_warnf(ev, n->b, "PromQL warning: quantile value should be between 0 and 1, got %s",
					isnan(q) ? "NaN" : g);
			}
		}
	if (n->op == A_COUNT_VALUES) {
		rc = eval_count_values(ev, n, m, gid, gs, par.str, out);
		goto free_groups;
	}
	struct acc *acc = calloc(ng + 1, sizeof(*acc));
	double **vals = n->op == A_QUANTILE ? calloc(ng + 1, sizeof(double *)) : NULL;
	size_t *cnt = NULL;
	if (!acc || (n->op == A_QUANTILE && !vals)) {
		free(acc);
		free(vals);
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto free_groups;
	}
	if (n->op == A_QUANTILE) {
		cnt = calloc(ng + 1, sizeof(size_t));
		for (size_t k = 0; cnt && k < m->n; k++)
			cnt[gid[k]]++;
		for (size_t g = 0; cnt && g < ng; g++)
			if (!(vals[g] = malloc((cnt[g] + 1) * sizeof(double)))) {
				free(cnt);
				cnt = NULL;
			}
		if (!cnt)
			rc = q_errf(ev, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < ev->nsteps && !rc; i++) {
		size_t gen = i + 1;
		if ((rc = q_check(ev)))
			break;
		for (size_t k = 0; k < m->n; k++) {
			if (!m->s[k].ok[i])
				continue;
			double f = m->s[k].v[i];
			struct acc *a = &acc[gid[k]];
			int first = a->gen != gen;
			if (first)
				a->gen = gen;
			q_acc_add(n->op, a, f, first);
			if (n->op == A_QUANTILE)
				vals[gid[k]][a->nv++] = f;
		}
		for (size_t g = 0; g < ng && !rc; g++) {
			struct acc *a = &acc[g];
			if (a->gen != gen)
				continue;
			double r = n->op == A_QUANTILE ? q_quantile(par.sc[i], vals[g], a->nv) : q_acc_result(n->op, a);
			if ((rc = out_series(ev, out, &gs[g])) != 0)
				break;
			out->m.s[gs[g].out - 1].v[i] = r;
			out->m.s[gs[g].out - 1].ok[i] = 1;
		}
	}
	for (size_t g = 0; vals && g < ng; g++)
		free(vals[g]);
	free(vals);
	free(cnt);
	free(acc);
free_groups:
	for (size_t g = 0; g < ng; g++)
		obs_labels_release(&gs[g].l);
	free(gs);
	free(gid);
	obs_strmap_free(map);
	obs_buf_release(&key);
done:
	q_val_drop(ev, &in);
	q_val_drop(ev, &par);
	return rc;
}
