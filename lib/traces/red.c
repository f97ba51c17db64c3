/* red.c — span-derived RED metrics (libobs traces). See red.h. */
#include "traces/red.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"

static const double bounds[] = { 0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1, 1.4, 2, 5, 10, 15 };
#define NB (sizeof bounds / sizeof bounds[0])

struct red_ent {
	char *labels;            /* service_name="..",span_name="..",span_kind="..",status_code=".." */
	uint64_t calls;
	uint64_t buckets[NB];    /* non-cumulative counts; +Inf is calls */
	double sum;
	struct red_ent *next;    /* render order: creation */
};

struct obs_red {
	struct obs_strmap *m;
	struct red_ent *first, **last;
	size_t n;
	int dirty;
};

static const char *const kinds[] = { "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
				     "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER" };
static const char *const codes[] = { "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR" };

struct obs_red *obs_red_new(void)
{
	struct obs_red *r = calloc(1, sizeof *r);
	if (!r || !(r->m = obs_strmap_new())) {
		free(r);
		return NULL;
	}
	r->last = &r->first;
	return r;
}

void obs_red_free(struct obs_red *r)
{
	if (!r)
		return;
	for (struct red_ent *e = r->first, *n; e; e = n) {
		n = e->next;
		free(e->labels);
		free(e);
	}
	obs_strmap_free(r->m);
	free(r);
}

/* a label value in Prometheus text: \ " and newline escaped */
static int label_val(struct obs_buf *b, struct obs_str s)
{
	int rc = obs_buf_putc(b, '"');
	for (size_t i = 0; i < s.n && !rc; i++) {
		char c = s.p[i];
		if (c == '\\' || c == '"')
			rc = obs_buf_putc(b, '\\') || obs_buf_putc(b, c);
		else if (c == '\n')
			rc = obs_buf_puts(b, "\\n");
		else
			rc = obs_buf_putc(b, c);
	}
	return rc ? -ENOMEM : obs_buf_putc(b, '"');
}

int obs_red_add(struct obs_red *r, const struct obs_span *s)
{
	char key[1024];
	size_t sn = s->service.n > 400 ? 400 : s->service.n, nn = s->name.n > 400 ? 400 : s->name.n;
	memcpy(key, s->service.p, sn);
	key[sn] = 0;
	memcpy(key + sn + 1, s->name.p, nn);
	key[sn + 1 + nn] = (char)s->kind;
	key[sn + 2 + nn] = (char)s->status;
	size_t kl = sn + 3 + nn;
	uint64_t h = obs_strmap_hash(key, kl);
	struct red_ent *e = obs_strmap_get(r->m, h, key, kl);
	if (!e) {
		struct obs_buf l;
		obs_buf_init(&l);
		int rc = obs_buf_puts(&l, "service_name=") || label_val(&l, (struct obs_str){ s->service.p, sn }) ||
			 obs_buf_puts(&l, ",span_name=") || label_val(&l, (struct obs_str){ s->name.p, nn }) ||
			 obs_buf_printf(&l, ",span_kind=\"%s\",status_code=\"%s\"", kinds[s->kind <= 5 ? s->kind : 0],
					codes[s->status <= 2 ? s->status : 0]);
		if (rc || !(e = calloc(1, sizeof *e))) {
			obs_buf_release(&l);
			return -ENOMEM;
		}
		e->labels = obs_buf_detach(&l, NULL);
		if (!e->labels || obs_strmap_put(r->m, h, key, kl, e)) {
			free(e->labels);
			free(e);
			return -ENOMEM;
		}
		*r->last = e;
		r->last = &e->next;
		r->n++;
	}
	double d = (double)(s->end_ns - s->start_ns) / 1e9;
	e->calls++;
	e->sum += d;
	for (size_t i = 0; i < NB; i++)
		if (d <= bounds[i]) {
			e->buckets[i]++;
			break;
		}
	r->dirty = 1;
	return 0;
}

int obs_red_render(struct obs_red *r, int64_t ts, struct obs_buf *out)
{
	int rc = obs_buf_puts(out, "# TYPE traces_span_metrics_calls_total counter\n");
	for (struct red_ent *e = r->first; e && !rc; e = e->next)
		rc = obs_buf_printf(out, "traces_span_metrics_calls_total{%s} %" PRIu64 " %" PRId64 "\n", e->labels, e->calls, ts);
	rc = rc || obs_buf_puts(out, "# TYPE traces_span_metrics_duration_seconds histogram\n");
	for (struct red_ent *e = r->first; e && !rc; e = e->next) {
		uint64_t cum = 0;
		for (size_t i = 0; i < NB && !rc; i++) {
			cum += e->buckets[i];
			rc = obs_buf_printf(out, "traces_span_metrics_duration_seconds_bucket{%s,le=\"%g\"} %" PRIu64 " %" PRId64 "\n",
					    e->labels, bounds[i], cum, ts);
		}
		rc = rc ||
		     obs_buf_printf(out, "traces_span_metrics_duration_seconds_bucket{%s,le=\"+Inf\"} %" PRIu64 " %" PRId64 "\n",
				    e->labels, e->calls, ts) ||
		     obs_buf_printf(out, "traces_span_metrics_duration_seconds_sum{%s} %.9g %" PRId64 "\n", e->labels, e->sum, ts) ||
		     obs_buf_printf(out, "traces_span_metrics_duration_seconds_count{%s} %" PRIu64 " %" PRId64 "\n", e->labels,
				    e->calls, ts);
	}
	if (!rc)
		r->dirty = 0;
	return rc ? -ENOMEM : 0;
}

size_t obs_red_series(const struct obs_red *r) { return r->n * (NB + 4); }
int obs_red_dirty(const struct obs_red *r) { return r->dirty; }
