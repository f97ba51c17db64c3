/* anomaly.c — anomaly files and their rule group (anomaly.h); the baseline
 * and the evaluation are in anomaly_model.c. */
#include "alert/anomaly.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/rules.h"
#include "core/obstime.h"
#include "core/utf8.h"

void am_anomaly_free(struct am_anomaly *a)
{
	if (!a)
		return;
	free(a->name);
	free(a->expr_text);
	obs_query_expr_free(a->expr);
	obs_labels_release(&a->labels);
	obs_labels_release(&a->annotations);
	free(a);
}

/* labels or annotations being collected: raw pairs over malloc'd strings */
struct kvset {
	struct obs_rawlabel raw[OBS_MAX_LABELS];
	char *store[2 * OBS_MAX_LABELS];
	int n;
};

static void kvset_release(struct kvset *s)
{
	for (int i = 0; i < 2 * s->n; i++)
		free(s->store[i]);
	s->n = 0;
}

static int kvset_add(struct kvset *s, const char *k, size_t kn, const char *v, size_t vn)
{
	if (s->n >= OBS_MAX_LABELS - 2)
		return -E2BIG;
	char *a = strndup(k, kn), *b = strndup(v, vn);
	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	s->store[2 * s->n] = a;
	s->store[2 * s->n + 1] = b;
	s->raw[s->n++] = (struct obs_rawlabel){ a, b, (uint32_t)kn, (uint32_t)vn, 0 };
	return 0;
}

static void trim(const char **p, const char **e)
{
	while (*p < *e && isspace((unsigned char)**p))
		(*p)++;
	while (*e > *p && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* a value with its YAML quotes taken off ('' inside '...' is one quote) */
static char *unquote(const char *p, const char *e)
{
	size_t n = (size_t)(e - p);
	if (n >= 2 && ((*p == '"' && e[-1] == '"') || (*p == '\'' && e[-1] == '\''))) {
		char q = *p, *out = malloc(n), *o = out;
		if (!out)
			return NULL;
		for (const char *s = p + 1; s < e - 1; s++) {
			if (q == '\'' && *s == '\'' && s + 1 < e - 1 && s[1] == '\'')
				s++;
			else if (q == '"' && *s == '\\' && s + 1 < e - 1)
				s++;
			*o++ = *s;
		}
		*o = 0;
		return out;
	}
	return strndup(p, n);
}

static int name_ok(const char *s)
{
	if (!*s || strlen(s) > 200 || s[0] == '.')
		return 0;
	for (const char *p = s; *p; p++)
		if (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f || *p == '\'' || *p == '"' || *p == '\\')
			return 0;
	return 1;
}

static int dur(const char *v, int64_t *ms, int zero_ok)
{
	return obs_duration_parse(v, strlen(v), ms) == 0 && (*ms > 0 || (zero_ok && *ms == 0)) ? 0 : -EINVAL;
}

static int yq(struct obs_buf *b, const char *s);

/* the rule group must be one the rule manager takes (templates in labels
 * and annotations are checked there) */
static int check_rules(const struct am_anomaly *a, struct obs_buf *err)
{
	struct obs_buf y, errs;
	obs_buf_init(&y);
	obs_buf_init(&errs);
	struct obs_rule_file *rf = NULL;
	int rc = am_anomaly_rules_yaml(a, &y);
	if (!rc)
		rc = obs_rules_parse(y.data, y.len, &rf, &errs);
	if (rc == -EINVAL) {
		const char *m = errs.data ? errs.data : "invalid rule";
		const char *r = strstr(m, ": ");   /* past `group "G", rule 1, "ALERT": ` */
		m = r ? r + 2 : m;
		size_t l = strcspn(m, "\n");
		obs_buf_printf(err, "%.*s", (int)l, m);
	}
	obs_rules_free(rf);
	obs_buf_release(&y);
	obs_buf_release(&errs);
	return rc;
}

#define BAD(...)                                           \
	do {                                               \
		obs_buf_printf(err, "line %zu: ", line);   \
		obs_buf_printf(err, __VA_ARGS__);          \
		rc = -EINVAL;                              \
		goto out;                                  \
	} while (0)

int am_anomaly_parse(const char *name, const char *text, size_t n, struct am_anomaly **out, struct obs_buf *err)
{
	*out = NULL;
	if (!name_ok(name)) {
		obs_buf_printf(err, "invalid anomaly name '%s'", name);
		return -EINVAL;
	}
	struct am_anomaly *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	obs_labels_init(&a->labels);
	obs_labels_init(&a->annotations);
	a->threshold = 3;
	a->min_history_ms = 7 * 86400000LL;
	a->history_ms = 28 * 86400000LL;
	a->step_ms = 300000;
	strcpy(a->alert, "Anomaly");
	strcpy(a->for_text, "0s");
	struct kvset lab = { .n = 0 }, ann = { .n = 0 };
	struct kvset *in = NULL;   /* the mapping indented lines belong to */
	size_t line = 0;
	int rc = 0;
	char *v = NULL;
	a->name = strdup(name);
	if (!a->name) {
		rc = -ENOMEM;
		goto out;
	}
	for (const char *p = text, *end = text + n; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *ls = p;
		p = nl ? nl + 1 : end;
		line++;
		if (!obs_utf8_valid(ls, (size_t)(le - ls)))
			BAD("invalid UTF-8");
		for (const char *q = ls; q < le; q++)
			if (((unsigned char)*q < 0x20 && *q != '\t' && *q != '\r') || *q == 0x7f)
				BAD("control character");
		int indented = ls < le && (*ls == ' ' || *ls == '\t');
		trim(&ls, &le);
		if (ls == le || *ls == '#' || (le - ls == 3 && !memcmp(ls, "---", 3)))
			continue;
		const char *c = ls;
		while (c < le && *c != ':' && *c != '=')
			c++;
		if (c == le)
			BAD("expected 'key: value'");
		const char *ke = c, *vs = c + 1, *ve = le;
		trim(&ls, &ke);
		trim(&vs, &ve);
		size_t kn = (size_t)(ke - ls);
		free(v);
		v = unquote(vs, ve);
		if (!v) {
			rc = -ENOMEM;
			goto out;
		}
		if (indented && in) {
			rc = kvset_add(in, ls, kn, v, strlen(v));
			if (rc == -E2BIG)
				BAD("too many labels");
			if (rc)
				goto out;
			continue;
		}
		in = NULL;
#define KEY(s) (kn == strlen(s) && !memcmp(ls, s, kn))
		if (KEY("labels") || KEY("annotations")) {
			if (*v)
				BAD("'%.*s' is a mapping: indented 'NAME: VALUE' lines", (int)kn, ls);
			in = KEY("labels") ? &lab : &ann;
		} else if (kn > 6 && !memcmp(ls, "label.", 6)) {
			if ((rc = kvset_add(&lab, ls + 6, kn - 6, v, strlen(v))) == -E2BIG)
				BAD("too many labels");
		} else if (kn > 11 && !memcmp(ls, "annotation.", 11)) {
			if ((rc = kvset_add(&ann, ls + 11, kn - 11, v, strlen(v))) == -E2BIG)
				BAD("too many annotations");
		} else if (KEY("expr")) {
			char qerr[256];
			free(a->expr_text);
			obs_query_expr_free(a->expr);
			a->expr = NULL;
			a->expr_text = strdup(v);
			if (!a->expr_text) {
				rc = -ENOMEM;
				goto out;
			}
			rc = obs_query_parse(v, strlen(v), &a->expr, qerr, sizeof qerr);
			if (rc == -EINVAL)
				BAD("expr: %s", qerr);
			if (!rc && obs_query_expr_type(a->expr) != OBS_QV_VECTOR &&
			    obs_query_expr_type(a->expr) != OBS_QV_SCALAR)
				BAD("expr: not an instant vector or scalar");
		} else if (KEY("threshold")) {
			char *e;
			a->threshold = strtod(v, &e);
			if (e == v || *e || !(a->threshold > 0) || isinf(a->threshold))
				BAD("invalid threshold '%s' (a z score > 0)", v);
		} else if (KEY("for")) {
			if (dur(v, &a->for_ms, 1) || strlen(v) >= sizeof a->for_text)
				BAD("invalid duration '%s'", v);
			strcpy(a->for_text, v);
		} else if (KEY("min_history")) {
			if (dur(v, &a->min_history_ms, 1))
				BAD("invalid duration '%s'", v);
		} else if (KEY("history")) {
			if (dur(v, &a->history_ms, 0))
				BAD("invalid duration '%s'", v);
		} else if (KEY("step")) {
			if (dur(v, &a->step_ms, 0) || a->step_ms > 3600000 || 3600000 % a->step_ms)
				BAD("invalid step '%s' (a divisor of 1h)", v);
		} else if (KEY("alert")) {
			int ok = *v && strlen(v) < sizeof a->alert && !isdigit((unsigned char)*v);
			for (const char *s = v; ok && *s; s++)
				ok = isalnum((unsigned char)*s) || *s == '_' || *s == ':';
			if (!ok)
				BAD("invalid alert name '%s'", v);
			strcpy(a->alert, v);
		} else {
			BAD("unknown key '%.*s'", (int)kn, ls);
		}
		if (rc)
			goto out;
#undef KEY
	}
	line++;
	if (!a->expr)
		BAD("missing 'expr'");
	if (a->history_ms < a->min_history_ms)
		BAD("history is shorter than min_history");
	const char *why = NULL;
	if (kvset_add(&lab, "anomaly", 7, name, strlen(name)) == -E2BIG)
		BAD("too many labels");
	rc = obs_labels_build(&a->labels, NULL, 0, lab.raw, lab.n, &why);
	if (rc == -EINVAL)
		BAD("labels: %s", why ? why : "invalid");
	if (!rc && ann.n)
		rc = obs_labels_build(&a->annotations, NULL, 0, ann.raw, ann.n, &why);
	if (rc == -EINVAL)
		BAD("annotations: %s", why ? why : "invalid");
	if (!rc)
		rc = check_rules(a, err);
out:
	free(v);
	kvset_release(&lab);
	kvset_release(&ann);
	if (rc) {
		am_anomaly_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

/* a YAML single-quoted scalar */
static int yq(struct obs_buf *b, const char *s)
{
	int r = obs_buf_putc(b, '\'');
	for (; !r && *s; s++)
		r = *s == '\'' ? obs_buf_puts(b, "''") : *s == '\n' ? obs_buf_puts(b, "\\n") : obs_buf_putc(b, *s);
	return r ? r : obs_buf_putc(b, '\'');
}

int am_anomaly_rules_yaml(const struct am_anomaly *a, struct obs_buf *b)
{
	char th[48], expr[400];
	snprintf(th, sizeof th, "%.17g", a->threshold);
	snprintf(expr, sizeof expr, "abs(anomaly:z{anomaly=\"%s\"}) > %s", a->name, th);
	int r = obs_buf_puts(b, "groups:\n  - name: ");
	char g[300];
	snprintf(g, sizeof g, "anomaly:%s", a->name);
	r = r ? r : yq(b, g);
	r = r ? r : obs_buf_printf(b, "\n    rules:\n      - alert: %s\n        expr: ", a->alert);
	r = r ? r : yq(b, expr);
	r = r ? r : obs_buf_printf(b, "\n        for: %s\n        labels:\n", a->for_text);
	for (size_t i = 0; !r && i < a->labels.n; i++) {
		r = obs_buf_printf(b, "          %s: ", a->labels.v[i].name);
		r = r ? r : yq(b, a->labels.v[i].value);
		r = r ? r : obs_buf_putc(b, '\n');
	}
	r = r ? r : obs_buf_puts(b, "        annotations:\n");
	if (!r && !obs_labels_get(&a->annotations, "summary")) {
		char s[400];
		snprintf(s, sizeof s, "%s: {{ $value | printf \"%%.1f\" }} standard deviations from its usual level at this hour of the week (threshold %s)",
			 a->name, th);
		r = obs_buf_puts(b, "          summary: ");
		r = r ? r : yq(b, s);
		r = r ? r : obs_buf_putc(b, '\n');
	}
	for (size_t i = 0; !r && i < a->annotations.n; i++) {
		r = obs_buf_printf(b, "          %s: ", a->annotations.v[i].name);
		r = r ? r : yq(b, a->annotations.v[i].value);
		r = r ? r : obs_buf_putc(b, '\n');
	}
	return r;
}
