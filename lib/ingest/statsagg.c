/* statsagg.c — StatsD aggregation per flush interval (see statsagg.h for
 * what is rendered). One hash map from (type class, name, tag text as
 * written) to an entry; timers keep their values until the flush sorts
 * them; sets keep a small open-addressing table of member hashes. */
#include "ingest/statsagg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/labels.h"
#include "core/num.h"
#include "core/strmap.h"
#include "core/vec.h"
#include "ingest/parse.h"

struct ent {
	char cls;                 /* 'c' counter, 'g' gauge, 't' timer, 's' set */
	int touched;              /* samples in this interval */
	char *name;               /* sanitized metric name */
	char *ltext;              /* canonical label text "{k=\"v\"}" or "" */
	char **qtext;             /* timers: ltext with quantile="..." per percentile */
	double count;             /* counter: sum of value/rate; timer: sum of 1/rate */
	double gauge;
	int has_gauge;
	double *vals, sum, min, max;
	size_t nv, cap;
	uint64_t *mem;            /* set members (hash+1; 0 is empty) */
	size_t nm, mcap;
	struct ent *next;
};

struct obs_statsagg {
	struct obs_strmap *map;
	struct ent *head, **tail;
	double pcts[OBS_STATSAGG_MAX_PCTS];
	int npcts;
	char *key;
	size_t keycap;
	uint64_t lines, bad;
	size_t nent;
	/* during a feed */
	void (*err)(void *ctx, const char *line, size_t len, const char *why);
	void *ectx;
	int oom;
};

struct obs_statsagg *obs_statsagg_new(const double *pcts, int npcts)
{
	if (npcts < 0 || npcts > OBS_STATSAGG_MAX_PCTS) {
		errno = EINVAL;
		return NULL;
	}
	for (int i = 0; i < npcts; i++)
		if (!(pcts[i] > 0 && pcts[i] <= 100)) {
			errno = EINVAL;
			return NULL;
		}
	struct obs_statsagg *a = calloc(1, sizeof(*a));
	if (!a || !(a->map = obs_strmap_new())) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	a->tail = &a->head;
	if (npcts)
		memcpy(a->pcts, pcts, (size_t)npcts * sizeof(double));
	a->npcts = npcts;
	return a;
}

static void ent_free(struct ent *e, int npcts)
{
	free(e->name);
	free(e->ltext);
	if (e->qtext)
		for (int i = 0; i < npcts; i++)
			free(e->qtext[i]);
	free(e->qtext);
	free(e->vals);
	free(e->mem);
	free(e);
}

void obs_statsagg_free(struct obs_statsagg *a)
{
	if (!a)
		return;
	for (struct ent *e = a->head, *n; e; e = n) {
		n = e->next;
		ent_free(e, a->npcts);
	}
	obs_strmap_free(a->map);
	free(a->key);
	free(a);
}

/* "0.99" for 99, "0.999" for 99.9: the shortest decimal form of p/100 */
static void quantile_text(double p, char *buf, size_t n)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, p / 100);
		if (strtod(buf, NULL) == p / 100)
			return;
	}
}

static char *labels_text(const struct obs_rawlabel *raw, int nraw, const char **why)
{
	struct obs_labels l;
	struct obs_buf b;
	obs_labels_init(&l);
	obs_buf_init(&b);
	const char *w = NULL;
	int rc = nraw ? obs_labels_build(&l, NULL, 0, raw, nraw, &w) : 0;
	if (rc == -EINVAL && !strcmp(w, "empty label set"))   /* only empty tag values */
		return strdup("");
	if (rc && why)
		*why = w;
	if (!rc && nraw)
		rc = obs_labels_format(&l, &b) ? -ENOMEM : 0;
	obs_labels_release(&l);
	if (rc) {
		obs_buf_release(&b);
		return NULL;
	}
	if (!b.data)
		return strdup("");
	return obs_buf_detach(&b, NULL);
}

static struct ent *ent_new(struct obs_statsagg *a, char cls, const struct obs_sample_in *s, const char **why)
{
	struct ent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cls = cls;
	e->name = strndup(s->name, s->namelen);
	e->ltext = labels_text(s->labels, s->nlabels, why);
	if (!e->name || !e->ltext)
		goto fail;
	if (cls == 't' && a->npcts) {
		struct obs_rawlabel raw[OBS_MAX_LABELS];
		char q[32];
		if (s->nlabels >= OBS_MAX_LABELS - 1) {
			*why = "too many labels";
			goto fail;
		}
		memcpy(raw, s->labels, (size_t)s->nlabels * sizeof(raw[0]));
		if (!(e->qtext = calloc((size_t)a->npcts, sizeof(char *))))
			goto fail;
		for (int i = 0; i < a->npcts; i++) {
			quantile_text(a->pcts[i], q, sizeof(q));
			raw[s->nlabels] = (struct obs_rawlabel){ "quantile", q, 8, (uint32_t)strlen(q), 0 };
			if (!(e->qtext[i] = labels_text(raw, s->nlabels + 1, why)))
				goto fail;
		}
	}
	return e;
fail:
	if (!*why)
		*why = "out of memory";
	ent_free(e, a->npcts);
	return NULL;
}

static int set_add(struct ent *e, uint64_t h)
{
	h = h ? h : 1;
	if ((e->nm + 1) * 2 > e->mcap) {
		size_t ncap = e->mcap ? e->mcap * 2 : 16;
		uint64_t *nm = calloc(ncap, sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		for (size_t i = 0; i < e->mcap; i++)
			if (e->mem[i])
				for (size_t j = e->mem[i] & (ncap - 1);; j = (j + 1) & (ncap - 1))
					if (!nm[j]) {
						nm[j] = e->mem[i];
						break;
					}
		free(e->mem);
		e->mem = nm;
		e->mcap = ncap;
	}
	for (size_t j = h & (e->mcap - 1);; j = (j + 1) & (e->mcap - 1)) {
		if (e->mem[j] == h)
			return 0;
		if (!e->mem[j]) {
			e->mem[j] = h;
			e->nm++;
			return 0;
		}
	}
}

static void reject(struct obs_statsagg *a, const struct obs_sample_in *s, const char *why)
{
	a->bad++;
	if (a->err)
		a->err(a->ectx, s->key, s->keylen, why);
}

static int on_sample(void *ctx, const struct obs_sample_in *s)
{
	struct obs_statsagg *a = ctx;
	char cls = s->st_type == 'c' || s->st_type == 'g' || s->st_type == 's' ? s->st_type : 't';
	size_t kl = s->keylen + 1;
	if (kl > a->keycap) {
		size_t nc = kl * 2 > 256 ? kl * 2 : 256;
		char *nk = realloc(a->key, nc);
		if (!nk)
			return a->oom = -ENOMEM;
		a->key = nk;
		a->keycap = nc;
	}
	a->key[0] = cls;
	memcpy(a->key + 1, s->key, s->keylen);
	uint64_t h = obs_strmap_hash(a->key, kl);
	struct ent *e = obs_strmap_get(a->map, h, a->key, kl);
	if (!e) {
		const char *why = NULL;
		if (!(e = ent_new(a, cls, s, &why))) {
			if (!strcmp(why, "out of memory"))
				return a->oom = -ENOMEM;
			reject(a, s, why);
			return 0;
		}
		if (obs_strmap_put(a->map, h, a->key, kl, e)) {
			ent_free(e, a->npcts);
			return a->oom = -ENOMEM;
		}
		*a->tail = e;
		a->tail = &e->next;
		a->nent++;
	}
	switch (cls) {
	case 'c':
		e->count += s->value;   /* the parser divided by the rate */
		break;
	case 'g':
		if (s->st_sign)
			e->gauge += s->value;
		else
			e->gauge = s->value;
		e->has_gauge = 1;
		break;
	case 's':
		if (set_add(e, XXH3_64bits(s->st_member, s->st_memberlen)))
			return a->oom = -ENOMEM;
		break;
	default:
		if (OBS_VEC_RESERVE(e->vals, e->cap, e->nv + 1))
			return a->oom = -ENOMEM;
		e->vals[e->nv++] = s->value;
		e->count += 1 / s->st_rate;
		e->sum += s->value;
		if (e->nv == 1 || s->value < e->min)
			e->min = s->value;
		if (e->nv == 1 || s->value > e->max)
			e->max = s->value;
	}
	e->touched = 1;
	a->lines++;
	return 0;
}

static void on_error(void *ctx, size_t lineno, const char *line, size_t len, const char *why)
{
	struct obs_statsagg *a = ctx;
	a->bad++;
	if (a->err)
		a->err(a->ectx, line, len, why);
}

long obs_statsagg_feed(struct obs_statsagg *a, const char *buf, size_t n,
		       void (*err)(void *ctx, const char *line, size_t len, const char *why), void *ctx)
{
	struct obs_parse_cb cb = { .sample = on_sample, .error = on_error, .ctx = a };
	uint64_t bad0 = a->bad;
	a->err = err;
	a->ectx = ctx;
	a->oom = 0;
	long r = obs_parse_lines(buf, n, OBS_FMT_STATSD, 1, &cb);
	a->err = NULL;
	if (a->oom || r < 0)
		return -ENOMEM;
	return (long)(a->bad - bad0);
}

static int put(struct obs_buf *out, const char *name, const char *suffix, const char *lt, double v, const char *ts)
{
	char num[40];
	obs_num_format(v, num);
	return obs_buf_printf(out, "%s%s%s %s %s\n", name, suffix, lt, num, ts);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

int obs_statsagg_flush(struct obs_statsagg *a, int64_t ts_ms, int64_t interval_ms, struct obs_buf *out)
{
	char ts[24];
	double secs = interval_ms > 0 ? (double)interval_ms / 1000 : 1;
	int rc = 0;
	snprintf(ts, sizeof(ts), "%lld", (long long)ts_ms);
	for (struct ent *e = a->head; e; e = e->next) {
		switch (e->cls) {
		case 'c':
			rc |= put(out, e->name, "_count", e->ltext, e->count, ts);
			rc |= put(out, e->name, "_rate", e->ltext, e->count / secs, ts);
			e->count = 0;
			break;
		case 'g':
			if (e->has_gauge)
				rc |= put(out, e->name, "", e->ltext, e->gauge, ts);
			break;
		case 's':
			rc |= put(out, e->name, "_unique", e->ltext, (double)e->nm, ts);
			if (e->mcap)
				memset(e->mem, 0, e->mcap * sizeof(*e->mem));
			e->nm = 0;
			break;
		default:
			rc |= put(out, e->name, "_count", e->ltext, e->count, ts);
			if (e->nv) {
				qsort(e->vals, e->nv, sizeof(double), cmp_double);
				rc |= put(out, e->name, "_sum", e->ltext, e->sum, ts);
				rc |= put(out, e->name, "_min", e->ltext, e->min, ts);
				rc |= put(out, e->name, "_max", e->ltext, e->max, ts);
				rc |= put(out, e->name, "_mean", e->ltext, e->sum / (double)e->nv, ts);
				for (int i = 0; i < a->npcts; i++) {
					double r = round(a->pcts[i] / 100 * (double)e->nv);
					size_t k = r < 1 ? 1 : (size_t)r;
					rc |= put(out, e->name, "", e->qtext[i], e->vals[k - 1], ts);
				}
			}
			e->count = e->sum = e->min = e->max = 0;
			e->nv = 0;
			if (e->cap > 4096) {   /* a burst does not keep its memory */
				free(e->vals);
				e->vals = NULL;
				e->cap = 0;
			}
		}
		e->touched = 0;
	}
	return rc ? -ENOMEM : 0;
}

void obs_statsagg_stats(const struct obs_statsagg *a, struct obs_statsagg_stats *st)
{
	st->lines = a->lines;
	st->bad_lines = a->bad;
	st->entries = a->nent;
}
