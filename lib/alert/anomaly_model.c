/* anomaly_model.c — the seasonal baseline of an anomaly rule, z scores and
 * the state (anomaly.h). In memory only: rebuilt from the store at start
 * and once an hour. */
#include "alert/anomaly.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "core/obstime.h"
#include "core/vec.h"

#define WEEK_MS (7 * 86400000LL)

struct slot {
	double n, sum, sumsq;
};

struct aseries {
	struct obs_labels l;
	uint64_t fp;
	int64_t first_t;                    /* the oldest point of the baseline */
	struct slot s[AM_ANOMALY_SLOTS];
	/* the last evaluation */
	int64_t t;
	double v, mean, sd, z;
	int have_base, cold, seen;
	char why[96];
};

/* a z series written by the last evaluation (staleness when it stops) */
struct zout {
	uint64_t fp;
	struct obs_labels l;
};

struct am_anomaly_model {
	struct aseries *v;
	size_t n, cap;
	struct zout *z;                     /* sorted by fp */
	size_t nz;
	int64_t built_at;                   /* 0: never */
	char err[512];
};

struct am_anomaly_model *am_anomaly_model_new(void)
{
	return calloc(1, sizeof(struct am_anomaly_model));
}

static void clear(struct am_anomaly_model *m)
{
	for (size_t i = 0; i < m->n; i++)
		obs_labels_release(&m->v[i].l);
	m->n = 0;
}

static void zouts_free(struct zout *z, size_t n)
{
	for (size_t i = 0; i < n; i++)
		obs_labels_release(&z[i].l);
	free(z);
}

static int zout_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct zout *)a)->fp, y = ((const struct zout *)b)->fp;
	return x < y ? -1 : x > y;
}

static int zouts_has(const struct zout *z, size_t n, const struct zout *k)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (z[mid].fp < k->fp)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < n && z[i].fp == k->fp; i++)
		if (obs_labels_equal(&z[i].l, &k->l))
			return 1;
	return 0;
}

/* The z series of this evaluation (taken) replace the last one's; those
 * that went away (cold, gone) get a staleness marker at t, so the alert
 * resolves at once rather than after the lookback. */
static void zouts_swap(struct am_anomaly_model *m, struct zout *z, size_t n, int64_t t,
		       const struct obs_rule_appender *out)
{
	if (n > 1)
		qsort(z, n, sizeof *z, zout_cmp);
	for (size_t i = 0; i < m->nz; i++)
		if (!zouts_has(z, n, &m->z[i]) && out && out->append)
			out->append(out->ctx, &m->z[i].l, t, obs_query_stale_nan());
	zouts_free(m->z, m->nz);
	m->z = z;
	m->nz = n;
}

void am_anomaly_model_free(struct am_anomaly_model *m)
{
	if (!m)
		return;
	clear(m);
	free(m->v);
	zouts_free(m->z, m->nz);
	free(m);
}

int am_anomaly_slot(int64_t t)
{
	/* 1970-01-01 was a Thursday: Monday 00:00 is 72 hours before */
	int64_t h = (t >= 0 ? t : t - 3599999) / 3600000 + 72;
	return (int)(((h % AM_ANOMALY_SLOTS) + AM_ANOMALY_SLOTS) % AM_ANOMALY_SLOTS);
}

static struct aseries *find(struct am_anomaly_model *m, const struct obs_labels *l)
{
	uint64_t fp = obs_alert_fingerprint(l);
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].fp == fp && obs_labels_equal(&m->v[i].l, l))
			return &m->v[i];
	return NULL;
}

static struct aseries *add(struct am_anomaly_model *m, const struct obs_labels *l)
{
	if (OBS_VEC_RESERVE_FROM(m->v, m->cap, m->n + 1, 8))
		return NULL;
	struct aseries *s = &m->v[m->n];
	memset(s, 0, sizeof *s);
	if (obs_labels_copy(&s->l, l) < 0)
		return NULL;
	s->fp = obs_alert_fingerprint(l);
	s->first_t = INT64_MAX;
	m->n++;
	return s;
}

int am_anomaly_refresh(struct am_anomaly_model *m, const struct am_anomaly *a, const struct obs_query_opts *qo,
		       const struct obs_query_store *st, int64_t now, int force)
{
	if (!force && m->built_at && now - m->built_at < AM_ANOMALY_REFRESH_MS)
		return 0;
	/* the steps before now's: the value being judged is not its own baseline */
	int64_t end = now - now % a->step_ms - a->step_ms, start = end - a->history_ms;
	struct obs_query_result res;
	int rc = obs_query_range(qo, st, a->expr, start, end, a->step_ms, &res);
	m->built_at = now;
	if (rc) {
		snprintf(m->err, sizeof m->err, "%s", res.err[0] ? res.err : strerror(-rc));
		obs_query_result_release(&res);
		return rc;
	}
	m->err[0] = 0;
	clear(m);
	for (size_t i = 0; i < res.nseries; i++) {
		const struct obs_query_series *q = &res.series[i];
		if (!q->n)
			continue;
		struct aseries *s = add(m, &q->labels);
		if (!s) {
			rc = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < q->n; k++) {
			if (isnan(q->v[k]) || isinf(q->v[k]))
				continue;
			struct slot *sl = &s->s[am_anomaly_slot(q->t[k])];
			sl->n++;
			sl->sum += q->v[k];
			sl->sumsq += q->v[k] * q->v[k];
			if (q->t[k] < s->first_t)
				s->first_t = q->t[k];
		}
	}
	obs_query_result_release(&res);
	return rc;
}

static void fmt_dur(int64_t ms, char *b)
{
	if (ms >= 86400000)
		snprintf(b, 32, "%.1fd", (double)ms / 86400000);
	else if (ms <= 0)
		strcpy(b, "0s");
	else
		obs_duration_format(ms, b);
}

/* the z of s at t, or cold with the reason */
static void score(struct aseries *s, const struct am_anomaly *a, int64_t t, double v)
{
	s->t = t;
	s->v = v;
	s->seen = 1;
	s->have_base = 0;
	s->cold = 1;
	s->why[0] = 0;
	int64_t hist = s->first_t == INT64_MAX ? 0 : t - s->first_t;
	const struct slot *sl = &s->s[am_anomaly_slot(t)];
	if (sl->n >= 1) {
		s->mean = sl->sum / sl->n;
		double var = sl->n >= 2 ? (sl->sumsq - sl->sum * sl->sum / sl->n) / (sl->n - 1) : 0;
		s->sd = var > 0 ? sqrt(var) : 0;
		s->have_base = 1;
	}
	if (hist < a->min_history_ms) {
		char h[32], mh[32];
		fmt_dur(hist, h);
		fmt_dur(a->min_history_ms, mh);
		snprintf(s->why, sizeof s->why, "history %s < min_history %s", h, mh);
		return;
	}
	if (sl->n < 2) {
		snprintf(s->why, sizeof s->why, "no baseline for this hour of the week");
		return;
	}
	s->cold = 0;
	if (s->sd > 0)
		s->z = (v - s->mean) / s->sd;
	else   /* a flat hour: any change is off the scale */
		s->z = v == s->mean ? 0 : v > s->mean ? INFINITY : -INFINITY;
}

int am_anomaly_eval(struct am_anomaly_model *m, const struct am_anomaly *a, const struct obs_query_opts *qo,
		    const struct obs_query_store *st, int64_t t, const struct obs_rule_appender *out)
{
	am_anomaly_refresh(m, a, qo, st, t, 0);
	struct obs_query_result res;
	int rc = obs_query_instant(qo, st, a->expr, t, &res);
	for (size_t i = 0; i < m->n; i++)
		m->v[i].seen = 0;
	if (rc) {
		snprintf(m->err, sizeof m->err, "%s", res.err[0] ? res.err : strerror(-rc));
		obs_query_result_release(&res);
		return rc;
	}
	struct zout *z = calloc(res.nseries ? res.nseries : 1, sizeof *z);
	size_t nz = 0;
	if (!z)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < res.nseries; i++) {
		const struct obs_query_series *q = &res.series[i];
		if (!q->n || isnan(q->v[q->n - 1]))
			continue;
		struct aseries *s = find(m, &q->labels);
		if (!s && !(s = add(m, &q->labels))) {   /* new: cold until the next refresh */
			rc = -ENOMEM;
			break;
		}
		score(s, a, t, q->v[q->n - 1]);
		if (s->cold || !out || !out->append)
			continue;
		/* anomaly:z{the series' labels but __name__, anomaly="NAME"} */
		struct obs_rawlabel raw[OBS_MAX_LABELS + 2];
		int nr = 0;
		for (size_t k = 0; k < q->labels.n && nr < OBS_MAX_LABELS; k++) {
			const char *ln = q->labels.v[k].name;
			if (!strcmp(ln, "__name__") || !strcmp(ln, "anomaly"))
				continue;
			raw[nr++] = (struct obs_rawlabel){ ln, q->labels.v[k].value, (uint32_t)strlen(ln),
							   (uint32_t)strlen(q->labels.v[k].value), 0 };
		}
		raw[nr++] = (struct obs_rawlabel){ "anomaly", a->name, 7, (uint32_t)strlen(a->name), 0 };
		struct obs_labels l;
		const char *why;
		if (obs_labels_build(&l, "anomaly:z", 9, raw, nr, &why) == 0) {
			out->append(out->ctx, &l, t, s->z);
			z[nz].fp = obs_alert_fingerprint(&l);
			z[nz++].l = l;
		}
	}
	obs_query_result_release(&res);
	if (z)
		zouts_swap(m, z, nz, t, out);
	if (!rc)
		m->err[0] = 0;
	return rc;
}

static void num(double v, int known, char *b)
{
	if (!known)
		strcpy(b, "-");
	else
		snprintf(b, 40, "%.4g", v);
}

int am_anomaly_render_state(const struct am_anomaly_model *m, const struct am_anomaly *a, struct obs_buf *out)
{
	char mh[32], ba[40] = "never";
	fmt_dur(a->min_history_ms, mh);
	if (m && m->built_at)
		obs_time_format(m->built_at, OBS_TIME_RFC3339, ba);
	int r = obs_buf_printf(out, "anomaly %s threshold %g for %s min_history %s baseline_at %s", a->name,
			       a->threshold, a->for_text, mh, ba);
	if (!r && m && m->err[0])
		r = obs_buf_printf(out, " error %s", m->err);
	r = r ? r : obs_buf_putc(out, '\n');
	for (size_t i = 0; !r && m && i < m->n; i++) {
		const struct aseries *s = &m->v[i];
		if (!s->seen)
			continue;
		char vb[40], mb[40], sb[40], zb[40];
		num(s->v, 1, vb);
		num(s->mean, s->have_base, mb);
		num(s->sd, s->have_base, sb);
		num(s->z, !s->cold, zb);
		double weeks = s->first_t == INT64_MAX ? 0 : (double)(s->t - s->first_t) / WEEK_MS;
		r = obs_buf_puts(out, "series ");
		r = r ? r : obs_labels_format(&s->l, out);
		r = r ? r : obs_buf_printf(out, " value %s mean %s stddev %s z %s weeks %.1f %s%s%s\n", vb, mb, sb, zb,
					   weeks, s->cold ? "cold" : "ok", s->cold ? " " : "", s->cold ? s->why : "");
	}
	return r;
}
