/* value.c — the evaluator's values: step matrices, range vectors, and
 * label-set helpers that build struct obs_labels (one allocation, sorted,
 * no empty values) without the ingest name checks, since PromQL 3.x
 * allows any UTF-8 label name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/vec.h"
#include "query/q.h"

static int lab_cmp(const void *a, const void *b)
{
	const struct obs_label *x = a, *y = b;
	return strcmp(x->name, y->name);
}

int q_labels_from(struct obs_labels *out, const struct obs_label *v, size_t n)
{
	obs_labels_init(out);
	size_t keep = 0, bytes = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].value && v[i].value[0]) {
			keep++;
			bytes += strlen(v[i].name) + strlen(v[i].value) + 2;
		}
	if (!keep)
		return 0;
	char *mem = malloc(keep * sizeof(struct obs_label) + bytes);
	if (!mem)
		return -ENOMEM;
	struct obs_label *d = (struct obs_label *)mem;
	char *s = mem + keep * sizeof(struct obs_label);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].value || !v[i].value[0])
			continue;
		size_t a = strlen(v[i].name) + 1, b = strlen(v[i].value) + 1;
		memcpy(s, v[i].name, a);
		d[k].name = s;
		s += a;
		memcpy(s, v[i].value, b);
		d[k].value = s;
		s += b;
		k++;
	}
	qsort(d, keep, sizeof(*d), lab_cmp);
	out->v = d;
	out->n = keep;
	return 0;
}

static int replace(struct obs_labels *l, const struct obs_label *v, size_t n)
{
	struct obs_labels nl;
	int rc = q_labels_from(&nl, v, n);
	if (rc)
		return rc;
	obs_labels_release(l);
	*l = nl;
	return 0;
}

int q_labels_set(struct obs_labels *l, const char *name, const char *value)
{
	struct obs_label tmp[OBS_MAX_LABELS + 1];
	struct obs_label *v = l->n + 1 <= OBS_MAX_LABELS + 1 ? tmp : malloc((l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) != 0)
			v[k++] = l->v[i];
	v[k].name = name;
	v[k].value = value;
	k++;
	int rc = replace(l, v, k);
	if (v != tmp)
		free(v);
	return rc;
}

int q_labels_del(struct obs_labels *l, const char *name)
{
	if (!obs_labels_get(l, name))
		return 0;
	return q_labels_set(l, name, "");
}

static int filter(struct obs_labels *l, const struct q_strs *s, int keep, int name_rule)
{
	struct obs_label tmp[OBS_MAX_LABELS];
	struct obs_label *v = l->n <= OBS_MAX_LABELS ? tmp : malloc(l->n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		int is_name = strcmp(l->v[i].name, "__name__") == 0;
		int listed = q_strs_has(s, l->v[i].name);
		int stay = keep ? (listed || (is_name && name_rule)) : (!listed && !(is_name && name_rule));
		if (stay)
			v[k++] = l->v[i];
	}
	int rc = k == l->n ? 0 : replace(l, v, k);
	if (v != tmp)
		free(v);
	return rc;
}

int q_labels_keep(struct obs_labels *l, const struct q_strs *keep, int keep_name)
{
	return filter(l, keep, 1, keep_name);
}

int q_labels_drop(struct obs_labels *l, const struct q_strs *drop, int drop_name)
{
	return filter(l, drop, 0, drop_name);
}

int q_labels_key(const struct obs_labels *l, const struct q_strs *s, int on, struct obs_buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *nm = l->v[i].name;
		int listed = s && q_strs_has(s, nm);
		int take = on ? listed : (!listed && strcmp(nm, "__name__") != 0);
		if (!take)
			continue;
		rc |= obs_buf_puts(out, nm);
		rc |= obs_buf_putc(out, '\xff');
		rc |= obs_buf_puts(out, l->v[i].value);
		rc |= obs_buf_putc(out, '\xfe');
	}
	return rc ? -ENOMEM : 0;
}

int q_labels_format(const struct obs_labels *l, struct obs_buf *out)
{
	/* Prometheus notation, name first, values escaped */
	const char *name = obs_labels_get(l, "__name__");
	int rc = 0, first = 1;
	if (name)
		rc |= obs_buf_puts(out, name);
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].name, "__name__") == 0)
			continue;
		rc |= obs_buf_puts(out, first ? "{" : ", ");
		first = 0;
		rc |= obs_buf_printf(out, "%s=\"", l->v[i].name);
		for (const char *p = l->v[i].value; *p; p++) {
			if (*p == '"' || *p == '\\')
				rc |= obs_buf_putc(out, '\\');
			if (*p == '\n') {
				rc |= obs_buf_puts(out, "\\n");
				continue;
			}
			rc |= obs_buf_putc(out, *p);
		}
		rc |= obs_buf_putc(out, '"');
	}
	if (!first)
		rc |= obs_buf_putc(out, '}');
	else if (!name)
		rc |= obs_buf_puts(out, "{}");
	return rc ? -ENOMEM : 0;
}

void q_mat_release(struct q_mat *m)
{
	for (size_t i = 0; i < m->n; i++) {
		obs_labels_release(&m->s[i].l);
		free(m->s[i].v);
		free(m->s[i].ok);
		free(m->s[i].t);
	}
	free(m->s);
	memset(m, 0, sizeof(*m));
}

void q_rv_release(struct q_rv *rv)
{
	for (size_t i = 0; i < rv->n; i++) {
		obs_labels_release(&rv->s[i].l);
		free(rv->s[i].t);
		free(rv->s[i].v);
	}
	free(rv->s);
	free(rv->wend);
	memset(rv, 0, sizeof(*rv));
}

void q_val_release(struct q_val *v)
{
	free(v->sc);
	free(v->str);
	q_mat_release(&v->m);
	q_rv_release(&v->rv);
	memset(v, 0, sizeof(*v));
}

void q_val_drop(struct q_ev *ev, struct q_val *v)
{
	uint64_t pts = (uint64_t)v->m.n * ev->nsteps + (v->sc ? ev->nsteps : 0);
	for (size_t i = 0; i < v->rv.n; i++)
		pts += v->rv.s[i].n;
	ev->samples = ev->samples > pts ? ev->samples - pts : 0;
	q_val_release(v);
}

/* Every series of a step matrix holds nsteps points for the sample limit. */
struct q_ser *q_mat_add(struct q_ev *ev, struct q_mat *m, const struct obs_labels *l, int own)
{
	if (q_account(ev, ev->nsteps ? ev->nsteps : 1) != 0)
		return NULL;
	if (OBS_VEC_RESERVE(m->s, m->cap, m->n + 1)) {
		q_errf(ev, -ENOMEM, "out of memory");
		return NULL;
	}
	struct q_ser *s = &m->s[m->n];
	memset(s, 0, sizeof(*s));
	s->v = calloc(ev->nsteps ? ev->nsteps : 1, sizeof(double));
	s->ok = calloc(ev->nsteps ? ev->nsteps : 1, 1);
	if (!s->v || !s->ok) {
		free(s->v);
		free(s->ok);
		q_errf(ev, -ENOMEM, "out of memory");
		return NULL;
	}
	if (own) {
		s->l = *l;
	} else if (obs_labels_copy(&s->l, l) != 0) {
		free(s->v);
		free(s->ok);
		q_errf(ev, -ENOMEM, "out of memory");
		return NULL;
	}
	m->n++;
	return s;
}
