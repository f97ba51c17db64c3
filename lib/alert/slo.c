/* slo.c — SLO files, the burn-rate rule group, the budget state. */
#include "alert/slo.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/obstime.h"
#include "core/textline.h"

const char *const AM_SLO_WINDOWS[5] = { "5m", "30m", "1h", "6h", "3d" };

void am_slo_free(struct am_slo *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->ratio);
	free(s->description);
	obs_labels_release(&s->labels);
	free(s);
}

struct kv {
	char *k, *v;
	size_t line;
};

struct fields {
	struct kv *v;
	size_t n;
	struct obs_rawlabel raw[OBS_MAX_LABELS];
	char *lstore[2 * OBS_MAX_LABELS];
	int nraw;
};

static void fields_release(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].k), free(f->v[i].v);
	free(f->v);
	for (int i = 0; i < 2 * f->nraw; i++)
		free(f->lstore[i]);
}

static int add_kv(struct fields *f, const char *k, size_t kn, const char *v, size_t vn, size_t line)
{
	struct kv *nv = realloc(f->v, (f->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	f->v = nv;
	nv[f->n].k = strndup(k, kn);
	nv[f->n].v = strndup(v, vn);
	nv[f->n].line = line;
	if (!nv[f->n].k || !nv[f->n].v)
		return -ENOMEM;
	f->n++;
	return 0;
}

static int add_label(struct fields *f, const char *k, const char *v, size_t line, struct obs_buf *err)
{
	if (f->nraw >= OBS_MAX_LABELS - 2) {
		obs_buf_printf(err, "line %zu: too many labels", line);
		return -EINVAL;
	}
	char *a = strdup(k), *b = strdup(v);
	if (!a || !b) {
		free(a), free(b);
		return -ENOMEM;
	}
	f->lstore[2 * f->nraw] = a;
	f->lstore[2 * f->nraw + 1] = b;
	struct obs_rawlabel *r = &f->raw[f->nraw++];
	r->name = a, r->nlen = (uint32_t)strlen(a), r->value = b, r->vlen = (uint32_t)strlen(b), r->escaped = 0;
	return 0;
}

static int parse_yaml(const char *text, size_t n, struct fields *f, struct obs_buf *err)
{
	yaml_parser_t p;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
	if (!yaml_parser_load(&p, &doc)) {
		obs_buf_printf(err, "line %zu: %s", (size_t)p.problem_mark.line + 1, p.problem ? p.problem : "invalid yaml");
		yaml_parser_delete(&p);
		return -EINVAL;
	}
	int rc = 0;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		obs_buf_puts(err, "an slo is a mapping of keys (objective, window, error_ratio, ...)");
		rc = -EINVAL;
	}
	for (yaml_node_pair_t *pr = root && !rc ? root->data.mapping.pairs.start : NULL;
	     pr && pr < root->data.mapping.pairs.top && !rc; pr++) {
		yaml_node_t *k = yaml_document_get_node(&doc, pr->key), *v = yaml_document_get_node(&doc, pr->value);
		size_t line = k->start_mark.line + 1;
		if (k->type != YAML_SCALAR_NODE) {
			obs_buf_printf(err, "line %zu: keys must be strings", line);
			rc = -EINVAL;
			break;
		}
		const char *key = (const char *)k->data.scalar.value;
		if (!strcmp(key, "labels")) {
			if (v->type != YAML_MAPPING_NODE) {
				obs_buf_printf(err, "line %zu: labels must be a mapping", line);
				rc = -EINVAL;
				break;
			}
			for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top && !rc; q++) {
				yaml_node_t *lk = yaml_document_get_node(&doc, q->key), *lv = yaml_document_get_node(&doc, q->value);
				if (lk->type != YAML_SCALAR_NODE || lv->type != YAML_SCALAR_NODE) {
					obs_buf_printf(err, "line %zu: label names and values must be strings", (size_t)lk->start_mark.line + 1);
					rc = -EINVAL;
				} else {
					rc = add_label(f, (const char *)lk->data.scalar.value, (const char *)lv->data.scalar.value,
						       lk->start_mark.line + 1, err);
				}
			}
			continue;
		}
		if (v->type != YAML_SCALAR_NODE) {
			obs_buf_printf(err, "line %zu: %s must be a string", line, key);
			rc = -EINVAL;
			break;
		}
		rc = add_kv(f, key, strlen(key), (const char *)v->data.scalar.value, v->data.scalar.length, line);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

/* key=value lines: the form when the first key is followed by '=' */
static int is_kv_form(const char *t, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
			i++;
		if (i < n && t[i] == '#') {
			while (i < n && t[i] != '\n')
				i++;
			continue;
		}
		break;
	}
	for (; i < n && t[i] != '\n'; i++) {
		if (t[i] == '=')
			return 1;
		if (t[i] == ':' || t[i] == ' ')
			return 0;
	}
	return 0;
}

static int parse_kv(const char *text, size_t n, struct fields *f, struct obs_buf *err)
{
	size_t line = 0;
	const char *p = text, *end = text + n, *a, *b;
	while (obs_line_next(&p, end, &a, &b)) {
		line++;
		if (a == b || *a == '#')
			continue;
		const char *eq = memchr(a, '=', (size_t)(b - a));
		if (!eq) {
			obs_buf_printf(err, "line %zu: expected key=value", line);
			return -EINVAL;
		}
		const char *ke = eq;
		while (ke > a && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		const char *v = eq + 1;
		while (v < b && (*v == ' ' || *v == '\t'))
			v++;
		int rc;
		if ((size_t)(ke - a) > 6 && !strncmp(a, "label.", 6)) {
			char *k = strndup(a + 6, (size_t)(ke - a - 6)), *val = strndup(v, (size_t)(b - v));
			rc = k && val ? add_label(f, k, val, line, err) : -ENOMEM;
			free(k), free(val);
		} else {
			rc = add_kv(f, a, (size_t)(ke - a), v, (size_t)(b - v), line);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int has_window(const char *e)
{
	return strstr(e, "$window") || strstr(e, "${window}") || strstr(e, "{{.window}}") ||
	       strstr(e, "{{ .window }}");
}

static int name_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

int am_slo_parse(const char *name, const char *text, size_t n, struct am_slo **out, struct obs_buf *err)
{
	*out = NULL;
	if (!name_ok(name)) {
		obs_buf_puts(err, "invalid slo name (letters, digits, _ - .)");
		return -EINVAL;
	}
	struct fields f;
	memset(&f, 0, sizeof(f));
	int rc = is_kv_form(text, n) ? parse_kv(text, n, &f, err) : parse_yaml(text, n, &f, err);
	struct am_slo *s = NULL;
	const char *er = NULL, *errs = NULL, *good = NULL, *total = NULL;
	int have_obj = 0;
	if (rc)
		goto out;
	rc = -ENOMEM;
	if (!(s = calloc(1, sizeof(*s))) || !(s->name = strdup(name)))
		goto out;
	snprintf(s->window, sizeof(s->window), "30d");
	s->window_ms = 30LL * 86400000;
	rc = -EINVAL;
	for (size_t i = 0; i < f.n; i++) {
		const char *k = f.v[i].k, *v = f.v[i].v;
		size_t line = f.v[i].line;
		if (!strcmp(k, "objective")) {
			char *e;
			double o = strtod(v, &e);
			while (*e == ' ' || *e == '%')
				e++;
			if (*e || e == v || !(o > 0) || o >= 100 || o == 1) {
				obs_buf_printf(err, "line %zu: invalid objective '%s' (a percentage like 99.9)", line, v);
				goto out;
			}
			s->objective = o >= 1 ? o / 100 : o;
			have_obj = 1;
		} else if (!strcmp(k, "window")) {
			int64_t ms;
			if (obs_query_parse_duration(v, strlen(v), &ms) || ms <= 0) {
				obs_buf_printf(err, "line %zu: invalid window '%s'", line, v);
				goto out;
			}
			s->window_ms = ms;
			snprintf(s->window, sizeof(s->window), "%s", v);
		} else if (!strcmp(k, "error_ratio")) {
			er = v;
		} else if (!strcmp(k, "errors")) {
			errs = v;
		} else if (!strcmp(k, "good")) {
			good = v;
		} else if (!strcmp(k, "total")) {
			total = v;
		} else if (!strcmp(k, "description")) {
			free(s->description);
			if (!(s->description = strdup(v))) {
				rc = -ENOMEM;
				goto out;
			}
		} else {
			obs_buf_printf(err, "line %zu: unknown key '%s'", line, k);
			goto out;
		}
	}
	if (!have_obj) {
		obs_buf_puts(err, "objective is required");
		goto out;
	}
	int forms = (er != NULL) + (errs != NULL || good != NULL);
	if (forms != 1 || (!er && !total) || (errs && good) || (er && total)) {
		obs_buf_puts(err, "give either error_ratio, or errors and total, or good and total");
		goto out;
	}
	const char *parts[2] = { er ? er : errs ? errs : good, total };
	for (int i = 0; i < 2; i++)
		if (parts[i] && !has_window(parts[i])) {
			obs_buf_printf(err, "expression '%s' needs $window for its range", parts[i]);
			goto out;
		}
	int w;
	if (er)
		w = asprintf(&s->ratio, "%s", er);
	else if (errs)
		w = asprintf(&s->ratio, "(%s) / (%s)", errs, total);
	else
		w = asprintf(&s->ratio, "1 - ((%s) / (%s))", good, total);
	if (w < 0) {
		s->ratio = NULL;
		rc = -ENOMEM;
		goto out;
	}
	for (char *c = s->ratio; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
	/* each window's expression must parse as PromQL (all of them: "[1h$window]"
	 * is 1h5m, a duration, but 1h6h is none) */
	for (int i = 0; i < 6; i++) {
		struct obs_buf e;
		obs_buf_init(&e);
		if ((rc = am_slo_ratio_expr(s, i < 5 ? AM_SLO_WINDOWS[i] : s->window, &e))) {
			obs_buf_release(&e);
			goto out;
		}
		struct obs_query_expr *qe = NULL;
		char qerr[256] = "";
		if (obs_query_parse(e.data, e.len, &qe, qerr, sizeof(qerr))) {
			obs_buf_printf(err, "invalid expression for window %s: %s", i < 5 ? AM_SLO_WINDOWS[i] : s->window,
				       qerr);
			obs_buf_release(&e);
			rc = -EINVAL;
			goto out;
		}
		obs_query_expr_free(qe);
		obs_buf_release(&e);
	}
	for (int i = 0; i < f.nraw; i++)
		if (!strcmp(f.raw[i].name, "slo") || !strcmp(f.raw[i].name, "severity")) {
			obs_buf_printf(err, "label '%s' is set by the slo rules", f.raw[i].name);
			rc = -EINVAL;
			goto out;
		}
	if (f.nraw) {
		const char *why = NULL;
		if ((rc = obs_labels_build(&s->labels, NULL, 0, f.raw, f.nraw, &why))) {
			obs_buf_printf(err, "invalid labels: %s", why ? why : "bad label");
			goto out;
		}
	}
	rc = 0;
out:
	fields_release(&f);
	if (rc)
		am_slo_free(s);
	else
		*out = s;
	return rc;
}

int am_slo_ratio_expr(const struct am_slo *s, const char *w, struct obs_buf *out)
{
	static const char *const pats[] = { "{{ .window }}", "{{.window}}", "${window}", "$window" };
	if (obs_buf_putc(out, '('))
		return -ENOMEM;
	for (const char *p = s->ratio; *p;) {
		size_t k;
		for (k = 0; k < 4; k++)
			if (!strncmp(p, pats[k], strlen(pats[k])))
				break;
		if (k < 4) {
			if (obs_buf_puts(out, w))
				return -ENOMEM;
			p += strlen(pats[k]);
		} else if (obs_buf_putc(out, *p++)) {
			return -ENOMEM;
		}
	}
	return obs_buf_putc(out, ')') ? -ENOMEM : 0;
}

/* a YAML single-quoted scalar */
static int yq(struct obs_buf *b, const char *s)
{
	if (obs_buf_putc(b, '\''))
		return -ENOMEM;
	for (; *s; s++)
		if ((*s == '\'' && obs_buf_putc(b, '\'')) || obs_buf_putc(b, *s))
			return -ENOMEM;
	return obs_buf_putc(b, '\'') ? -ENOMEM : 0;
}

static int labels_yaml(struct obs_buf *b, const struct am_slo *s, const char *severity)
{
	if (obs_buf_puts(b, "        labels:\n"))
		return -ENOMEM;
	if (severity && obs_buf_printf(b, "          severity: %s\n", severity))
		return -ENOMEM;
	if (obs_buf_puts(b, "          slo: ") || yq(b, s->name) || obs_buf_putc(b, '\n'))
		return -ENOMEM;
	for (size_t i = 0; i < s->labels.n; i++)
		if (obs_buf_printf(b, "          %s: ", s->labels.v[i].name) || yq(b, s->labels.v[i].value) ||
		    obs_buf_putc(b, '\n'))
			return -ENOMEM;
	return 0;
}

static int window_name(const struct am_slo *s, int i, const char **w)
{
	*w = i < 5 ? AM_SLO_WINDOWS[i] : s->window;
	return 0;
}

int am_slo_rules_yaml(const struct am_slo *s, struct obs_buf *b)
{
	double budget = 1 - s->objective;
	char bud[64];
	snprintf(bud, sizeof(bud), "%.9g", budget);
	if (obs_buf_printf(b, "# generated from alerts/slos/%s: objective %.9g%%, window %s\n"
			      "groups:\n  - name: ", s->name, s->objective * 100, s->window) ||
	    obs_buf_printf(b, "'slo:%s'\n    rules:\n", s->name))
		return -ENOMEM;
	int nw = strcmp(s->window, "3d") && strcmp(s->window, "6h") && strcmp(s->window, "1h") &&
			 strcmp(s->window, "30m") && strcmp(s->window, "5m") ? 6 : 5;
	for (int i = 0; i < nw; i++) {
		const char *w;
		window_name(s, i, &w);
		struct obs_buf e;
		obs_buf_init(&e);
		int rc = am_slo_ratio_expr(s, w, &e);
		if (rc || obs_buf_printf(b, "      - record: slo:sli_error:ratio_rate%s\n        expr: ", w) ||
		    yq(b, e.data) || obs_buf_putc(b, '\n') || labels_yaml(b, s, NULL)) {
			obs_buf_release(&e);
			return -ENOMEM;
		}
		obs_buf_release(&e);
	}
	if (obs_buf_printf(b, "      - record: slo:objective:ratio\n        expr: vector(%.9g)\n", s->objective) ||
	    labels_yaml(b, s, NULL))
		return -ENOMEM;
	static const struct { const char *sev, *lw, *sw; double f; } burn[] = {
		{ "page", "1h", "5m", 14.4 }, { "page", "6h", "30m", 6 }, { "ticket", "3d", "6h", 1 },
	};
	for (int a = 0; a < 2; a++) {
		const char *sev = a == 0 ? "page" : "ticket";
		if (obs_buf_puts(b, "      - alert: SLOErrorBudgetBurn\n        expr: '"))
			return -ENOMEM;
		int first = 1;
		for (int k = 0; k < 3; k++) {
			if (strcmp(burn[k].sev, sev))
				continue;
			if (obs_buf_printf(b, "%s(slo:sli_error:ratio_rate%s{slo=\"%s\"} > (%g * %s) and "
					      "slo:sli_error:ratio_rate%s{slo=\"%s\"} > (%g * %s))",
					   first ? "" : " or ", burn[k].lw, s->name, burn[k].f, bud, burn[k].sw,
					   s->name, burn[k].f, bud))
				return -ENOMEM;
			first = 0;
		}
		if (obs_buf_puts(b, "'\n") || labels_yaml(b, s, sev))
			return -ENOMEM;
		if (obs_buf_printf(b, "        annotations:\n          summary: ") ||
		    yq(b, a == 0 ? "SLO {{ $labels.slo }} is burning its error budget fast (page)"
				 : "SLO {{ $labels.slo }} is burning its error budget (ticket)") ||
		    obs_buf_puts(b, "\n          description: "))
			return -ENOMEM;
		char d[512];
		snprintf(d, sizeof(d), "%s%serror ratio {{ $value | humanizePercentage }}, budget %.9g%% over %s",
			 s->description ? s->description : "", s->description ? ": " : "", budget * 100, s->window);
		if (yq(b, d) || obs_buf_putc(b, '\n'))
			return -ENOMEM;
	}
	return 0;
}

/* the first series' value of the error ratio over w, NAN when none */
static double eval_ratio(const struct am_slo *s, const char *w, const struct obs_query_opts *qo,
			 const struct obs_query_store *st, int64_t now, char *err, size_t errlen)
{
	struct obs_buf e;
	obs_buf_init(&e);
	double v = NAN;
	if (!st || !st->select || am_slo_ratio_expr(s, w, &e))
		return v;   /* no store: nothing known */
	struct obs_query_expr *qe = NULL;
	if (obs_query_parse(e.data, e.len, &qe, err, errlen) == 0) {
		struct obs_query_result r;
		if (obs_query_instant(qo, st, qe, now, &r) == 0) {
			if (r.nseries > 0 && r.series[0].n > 0)
				v = r.series[0].v[r.series[0].n - 1];
		} else {
			snprintf(err, errlen, "%.*s", (int)(errlen > 1 ? errlen - 1 : 0), r.err);
		}
		obs_query_result_release(&r);
	}
	obs_query_expr_free(qe);
	obs_buf_release(&e);
	return v;
}

static int put_num(struct obs_buf *b, const char *key, double v, const char *suffix)
{
	if (isnan(v))
		return obs_buf_printf(b, "%s unknown\n", key) ? -ENOMEM : 0;
	return obs_buf_printf(b, "%s %.6g%s\n", key, v, suffix) ? -ENOMEM : 0;
}

int am_slo_render_state(const struct am_slo *s, const struct obs_query_opts *qo,
			const struct obs_query_store *st, int64_t now, struct obs_buf *out)
{
	double budget = 1 - s->objective;
	char err[512] = "";
	double r[6];
	const char *names[6];
	for (int i = 0; i < 6; i++) {
		window_name(s, i, &names[i]);
		r[i] = eval_ratio(s, names[i], qo, st, now, err, sizeof(err));
	}
	if (obs_buf_printf(out, "slo %s\nobjective %.9g%%\nwindow %s\nerror_budget %.9g%%\n", s->name,
			   s->objective * 100, s->window, budget * 100))
		return -ENOMEM;
	if (put_num(out, "error_ratio", r[5], "") ||
	    put_num(out, "budget_remaining", isnan(r[5]) ? NAN : (1 - r[5] / budget) * 100, "%"))
		return -ENOMEM;
	for (int i = 0; i < 6; i++) {
		char key[48];
		snprintf(key, sizeof(key), "burn_rate %s", names[i]);
		if (put_num(out, key, isnan(r[i]) ? NAN : r[i] / budget, ""))
			return -ENOMEM;
	}
	static const struct { const char *name; int l, s; double f; } burn[] = {
		{ "page_1h_5m", 2, 0, 14.4 }, { "page_6h_30m", 3, 1, 6 }, { "ticket_3d_6h", 4, 3, 1 },
	};
	for (int k = 0; k < 3; k++) {
		double a = r[burn[k].l], c = r[burn[k].s];
		const char *state = isnan(a) || isnan(c) ? "unknown" :
				    a > burn[k].f * budget && c > burn[k].f * budget ? "burning" : "ok";
		if (obs_buf_printf(out, "%s %s\n", burn[k].name, state))
			return -ENOMEM;
	}
	if (*err && obs_buf_printf(out, "error %s\n", err))
		return -ENOMEM;
	return 0;
}
