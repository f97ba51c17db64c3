/* template_exec.c — expanding a parsed alert template: pipelines,
 * variables, fields, if/range/with, value printing (Go's fmt.Sprint). */
#include "alert/template_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tvar {
	const char *name;
	struct tv v;
};

struct arena_blk {
	struct arena_blk *next;
	char data[];
};

struct texec {
	const struct obs_tmpl *t;
	const struct obs_tmpl_data *d;
	struct obs_buf *out;
	struct tvar vars[128];
	size_t nvars;
	struct arena_blk *arena;
	size_t cur_pos, cur_end;   /* command being run, for error context */
	char *err;
	size_t errlen;
	int failed;
	int depth;
	struct obs_labels empty;
};

void *tx_alloc(struct texec *x, size_t n)
{
	struct arena_blk *b = malloc(sizeof *b + n + 1);
	if (!b)
		return NULL;
	b->next = x->arena;
	x->arena = b;
	return b->data;
}

char *tx_strdup(struct texec *x, const char *s, size_t n)
{
	char *p = tx_alloc(x, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

const struct obs_tmpl_data *tx_data(struct texec *x)
{
	return x->d;
}

int tx_fail(struct texec *x, const char *fmt, ...)
{
	if (x->failed)
		return -EINVAL;
	x->failed = 1;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	int line, col;
	tmpl_position(x->t, x->cur_pos, &line, &col);
	size_t cl = x->cur_end > x->cur_pos ? x->cur_end - x->cur_pos : 0;
	snprintf(x->err, x->errlen, "template: %s:%d:%d: executing \"%s\" at <%.*s>: %s", x->t->name, line, col,
		 x->t->name, (int)(cl > 120 ? 120 : cl), x->t->src + x->cur_pos, msg);
	return -EINVAL;
}

int obs_tmpl_fmt_float(double v, char *buf)
{
	if (isnan(v))
		return sprintf(buf, "NaN");
	if (isinf(v))
		return sprintf(buf, v > 0 ? "+Inf" : "-Inf");
	if (v == 0)
		return sprintf(buf, signbit(v) ? "-0" : "0");
	char e[40];
	int prec;
	for (prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e = d.ddddde±XX with prec significant digits */
	int exp = atoi(strchr(e, 'e') + 1);
	if (exp < -4 || exp >= 6) {
		/* Go: mantissa without trailing zeros, exponent at least two digits */
		char *ep = strchr(e, 'e');
		*ep = 0;
		return sprintf(buf, "%se%c%02d", e, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	}
	int decimals = prec - 1 - exp;
	return sprintf(buf, "%.*f", decimals < 0 ? 0 : decimals, v);
}

int tv_truth(const struct tv *v)
{
	switch (v->k) {
	case TV_NIL: return 0;
	case TV_STR: return v->slen > 0;
	case TV_FLOAT: return v->f != 0;
	case TV_INT: return v->i != 0;
	case TV_BOOL: return v->b;
	case TV_MAP: return v->map && v->map->n > 0;
	case TV_VEC: return v->nsamp > 0;
	default: return 1;
	}
}

const char *tv_type(const struct tv *v)
{
	switch (v->k) {
	case TV_NIL: return "<nil>";
	case TV_STR: return "string";
	case TV_FLOAT: return "float64";
	case TV_INT: return "int";
	case TV_BOOL: return "bool";
	case TV_MAP: return "map[string]string";
	case TV_VEC: return "template.queryResult";
	case TV_SAMPLE: return "*template.sample";
	default: return "template.tmplData";
	}
}

static int print_map(const struct obs_labels *m, struct obs_buf *out)
{
	int r = obs_buf_puts(out, "map[");
	for (size_t i = 0; m && i < m->n && !r; i++)
		r = obs_buf_printf(out, "%s%s:%s", i ? " " : "", m->v[i].name, m->v[i].value);
	return r ? r : obs_buf_putc(out, ']');
}

int tv_print(const struct tv *v, struct obs_buf *out)
{
	char b[48];
	switch (v->k) {
	case TV_NIL: return obs_buf_puts(out, "<no value>");
	case TV_STR: return obs_buf_append(out, v->s, v->slen);
	case TV_FLOAT: obs_tmpl_fmt_float(v->f, b); return obs_buf_puts(out, b);
	case TV_INT: return obs_buf_printf(out, "%lld", (long long)v->i);
	case TV_BOOL: return obs_buf_puts(out, v->b ? "true" : "false");
	case TV_MAP: return print_map(v->map, out);
	case TV_SAMPLE:
		if (obs_buf_puts(out, "&{") || print_map(&v->samp->labels, out))
			return -ENOMEM;
		obs_tmpl_fmt_float(v->samp->v, b);
		return obs_buf_printf(out, " %s}", b);
	case TV_VEC: {
		int r = obs_buf_putc(out, '[');
		for (size_t i = 0; i < v->nsamp && !r; i++) {
			struct tv e = { .k = TV_SAMPLE, .samp = &v->samp[i] };
			if (i)
				r = obs_buf_putc(out, ' ');
			if (!r)
				r = tv_print(&e, out);
		}
		return r ? r : obs_buf_putc(out, ']');
	}
	default:
		return obs_buf_puts(out, "{...}");
	}
}

/* ---- evaluation ---- */

static int exec_pipe(struct texec *x, const struct tpipe *p, const struct tv *dot, struct tv *res);

static int var_get(struct texec *x, const char *name, const struct tv *dot, struct tv *out)
{
	for (size_t i = x->nvars; i-- > 0;)
		if (!strcmp(x->vars[i].name, name)) {
			*out = x->vars[i].v;
			return 0;
		}
	const struct obs_tmpl_data *d = x->d;
	if (!strcmp(name, "$")) {
		*out = (struct tv){ .k = TV_DATA };
		return 0;
	}
	if (!strcmp(name, "$labels")) {
		*out = (struct tv){ .k = TV_MAP, .map = d->labels ? d->labels : &x->empty };
		return 0;
	}
	if (!strcmp(name, "$externalLabels")) {
		*out = (struct tv){ .k = TV_MAP, .map = d->external_labels ? d->external_labels : &x->empty };
		return 0;
	}
	if (!strcmp(name, "$externalURL")) {
		const char *u = d->external_url ? d->external_url : "";
		*out = (struct tv){ .k = TV_STR, .s = u, .slen = strlen(u) };
		return 0;
	}
	if (!strcmp(name, "$value")) {
		*out = (struct tv){ .k = TV_FLOAT, .f = d->value };
		return 0;
	}
	(void)dot;
	return tx_fail(x, "undefined variable: %s", name);
}

static int var_set(struct texec *x, const char *name, const struct tv *v, int assign)
{
	if (assign) {
		for (size_t i = x->nvars; i-- > 0;)
			if (!strcmp(x->vars[i].name, name)) {
				x->vars[i].v = *v;
				return 0;
			}
	}
	if (x->nvars == sizeof x->vars / sizeof x->vars[0])
		return tx_fail(x, "too many variables");
	x->vars[x->nvars].name = name;
	x->vars[x->nvars].v = *v;
	x->nvars++;
	return 0;
}

static int field(struct texec *x, const struct tv *recv, const char *f, struct tv *out)
{
	const struct obs_tmpl_data *d = x->d;
	switch (recv->k) {
	case TV_DATA:
		if (!strcmp(f, "Labels"))
			*out = (struct tv){ .k = TV_MAP, .map = d->labels ? d->labels : &x->empty };
		else if (!strcmp(f, "ExternalLabels"))
			*out = (struct tv){ .k = TV_MAP, .map = d->external_labels ? d->external_labels : &x->empty };
		else if (!strcmp(f, "ExternalURL"))
			*out = (struct tv){ .k = TV_STR, .s = d->external_url ? d->external_url : "",
					    .slen = d->external_url ? strlen(d->external_url) : 0 };
		else if (!strcmp(f, "Value"))
			*out = (struct tv){ .k = TV_FLOAT, .f = d->value };
		else
			return tx_fail(x, "can't evaluate field %s in type %s", f, tv_type(recv));
		return 0;
	case TV_MAP: {
		const char *v = obs_labels_get(recv->map, f);
		if (!v)
			*out = (struct tv){ .k = TV_NIL };
		else
			*out = (struct tv){ .k = TV_STR, .s = v, .slen = strlen(v) };
		return 0;
	}
	case TV_SAMPLE:
		if (!strcmp(f, "Labels"))
			*out = (struct tv){ .k = TV_MAP, .map = &recv->samp->labels };
		else if (!strcmp(f, "Value"))
			*out = (struct tv){ .k = TV_FLOAT, .f = recv->samp->v };
		else
			return tx_fail(x, "can't evaluate field %s in type %s", f, tv_type(recv));
		return 0;
	case TV_NIL:
		return tx_fail(x, "nil pointer evaluating interface {}.%s", f);
	default:
		return tx_fail(x, "can't evaluate field %s in type %s", f, tv_type(recv));
	}
}

static int eval_arg(struct texec *x, const struct targ *a, const struct tv *dot, struct tv *out)
{
	struct tv v;
	switch (a->kind) {
	case TA_DOT: v = *dot; break;
	case TA_FIELD: v = *dot; break;
	case TA_VAR:
		if (var_get(x, a->s, dot, &v) < 0)
			return -EINVAL;
		break;
	case TA_STR: v = (struct tv){ .k = TV_STR, .s = a->s, .slen = a->slen }; break;
	case TA_NUM:
		v = a->is_int ? (struct tv){ .k = TV_INT, .i = a->i } : (struct tv){ .k = TV_FLOAT, .f = a->f };
		break;
	case TA_BOOL: v = (struct tv){ .k = TV_BOOL, .b = a->b }; break;
	case TA_NIL: v = (struct tv){ .k = TV_NIL }; break;
	case TA_PIPE:
		if (exec_pipe(x, a->pipe, dot, &v) < 0)
			return -EINVAL;
		break;
	case TA_IDENT: {
		/* a function used as an argument: called without arguments */
		size_t sp = x->cur_pos, se = x->cur_end;
		x->cur_pos = a->pos;
		x->cur_end = a->pos + strlen(a->s);
		int r = tfn_call(x, a->s, NULL, 0, &v);
		x->cur_pos = sp;
		x->cur_end = se;
		if (r < 0)
			return r;
		break;
	}
	default:
		return tx_fail(x, "bad argument");
	}
	for (size_t i = 0; i < a->nfields; i++) {
		struct tv nv;
		if (field(x, &v, a->fields[i], &nv) < 0)
			return -EINVAL;
		v = nv;
	}
	*out = v;
	return 0;
}

static int exec_cmd(struct texec *x, const struct tcmd *c, const struct tv *dot, const struct tv *piped,
		    struct tv *res)
{
	x->cur_pos = c->pos;
	x->cur_end = c->end;
	const struct targ *first = c->args[0];
	if (first->kind == TA_IDENT) {
		size_t n = c->nargs - 1 + (piped ? 1 : 0);
		struct tv args[32];
		if (n > 32)
			return tx_fail(x, "too many arguments");
		for (size_t i = 1; i < c->nargs; i++)
			if (eval_arg(x, c->args[i], dot, &args[i - 1]) < 0)
				return -EINVAL;
		if (piped)
			args[n - 1] = *piped;
		x->cur_pos = c->pos;
		x->cur_end = c->end;
		return tfn_call(x, first->s, args, n, res);
	}
	if (c->nargs > 1 || piped) {
		if (first->kind == TA_NIL)
			return tx_fail(x, "nil is not a command");
		return tx_fail(x, "can't give argument to non-function %.*s", (int)(c->end - c->pos),
			       x->t->src + c->pos);
	}
	if (first->kind == TA_NIL)
		return tx_fail(x, "nil is not a command");
	return eval_arg(x, first, dot, res);
}

static int exec_pipe(struct texec *x, const struct tpipe *p, const struct tv *dot, struct tv *res)
{
	struct tv v = { .k = TV_NIL };
	for (size_t i = 0; i < p->ncmds; i++) {
		struct tv nv;
		if (exec_cmd(x, p->cmds[i], dot, i ? &v : NULL, &nv) < 0)
			return -EINVAL;
		v = nv;
	}
	if (p->ndecl == 1 && var_set(x, p->decl[0], &v, p->assign) < 0)
		return -EINVAL;
	*res = v;
	return 0;
}

static int exec_list(struct texec *x, const struct tlist *l, const struct tv *dot);

static int exec_range(struct texec *x, const struct tnode *nd, const struct tv *dot)
{
	const struct tpipe *p = nd->pipe;
	struct tv v = { .k = TV_NIL };
	/* the pipeline without its declaration (range declares per element) */
	for (size_t i = 0; i < p->ncmds; i++) {
		struct tv nv;
		if (exec_cmd(x, p->cmds[i], dot, i ? &v : NULL, &nv) < 0)
			return -EINVAL;
		v = nv;
	}
	size_t n;
	if (v.k == TV_MAP)
		n = v.map ? v.map->n : 0;
	else if (v.k == TV_VEC)
		n = v.nsamp;
	else if (v.k == TV_NIL)
		n = 0;
	else if (v.k == TV_INT && v.i >= 0)
		n = (size_t)v.i;
	else
		return tx_fail(x, "range can't iterate over %s", tv_type(&v));
	if (!n)
		return nd->elselist ? exec_list(x, nd->elselist, dot) : 0;
	for (size_t i = 0; i < n; i++) {
		size_t mark = x->nvars;
		struct tv key, el;
		if (v.k == TV_MAP) {
			key = (struct tv){ .k = TV_STR, .s = v.map->v[i].name, .slen = strlen(v.map->v[i].name) };
			el = (struct tv){ .k = TV_STR, .s = v.map->v[i].value, .slen = strlen(v.map->v[i].value) };
		} else if (v.k == TV_VEC) {
			key = (struct tv){ .k = TV_INT, .i = (int64_t)i };
			el = (struct tv){ .k = TV_SAMPLE, .samp = &v.samp[i] };
		} else {
			key = el = (struct tv){ .k = TV_INT, .i = (int64_t)i };
		}
		if (p->ndecl == 1 && var_set(x, p->decl[0], &el, 0) < 0)
			return -EINVAL;
		if (p->ndecl == 2 && (var_set(x, p->decl[0], &key, 0) < 0 || var_set(x, p->decl[1], &el, 0) < 0))
			return -EINVAL;
		int r = exec_list(x, nd->list, &el);
		x->nvars = mark;
		if (r < 0)
			return r;
	}
	return 0;
}

static int exec_list(struct texec *x, const struct tlist *l, const struct tv *dot)
{
	if (++x->depth > 100000)
		return tx_fail(x, "exceeded maximum template depth");
	size_t mark = x->nvars;
	int r = 0;
	for (size_t i = 0; i < l->n && !r; i++) {
		const struct tnode *nd = l->v[i];
		struct tv v;
		switch (nd->kind) {
		case TN_TEXT:
			r = obs_buf_append(x->out, nd->text, nd->tlen);
			break;
		case TN_ACTION:
			r = exec_pipe(x, nd->pipe, dot, &v);
			if (!r && !nd->pipe->ndecl)
				r = tv_print(&v, x->out);
			break;
		case TN_IF:
		case TN_WITH: {
			size_t m2 = x->nvars;
			r = exec_pipe(x, nd->pipe, dot, &v);
			if (r)
				break;
			if (tv_truth(&v))
				r = exec_list(x, nd->list, nd->kind == TN_WITH ? &v : dot);
			else if (nd->elselist)
				r = exec_list(x, nd->elselist, dot);
			x->nvars = m2;
			break;
		}
		case TN_RANGE:
			r = exec_range(x, nd, dot);
			break;
		}
	}
	x->nvars = mark;
	x->depth--;
	return r;
}

int obs_tmpl_expand(const struct obs_tmpl *t, const struct obs_tmpl_data *d, struct obs_buf *out, char *err,
		    size_t errlen)
{
	if (errlen)
		err[0] = 0;
	if (t->is_static)
		return obs_buf_append(out, t->src, t->srclen);
	struct texec x = { .t = t, .d = d, .out = out, .err = err, .errlen = errlen };
	obs_labels_init(&x.empty);
	struct tv dot = { .k = TV_DATA };
	int r = exec_list(&x, t->root, &dot);
	while (x.arena) {
		struct arena_blk *b = x.arena;
		x.arena = b->next;
		free(b);
	}
	if (r == -ENOMEM && !x.failed)
		snprintf(err, errlen, "out of memory");
	return r;
}

int obs_tmpl_expand_text(const char *name, const char *text, const struct obs_tmpl_data *d, struct obs_buf *out)
{
	struct obs_tmpl *t;
	char err[512];
	size_t mark = out->len;
	int r = obs_tmpl_parse(name, text, strlen(text), &t, err, sizeof err);
	if (!r) {
		r = obs_tmpl_expand(t, d, out, err, sizeof err);
		obs_tmpl_free(t);
	}
	if (r < 0) {
		out->len = mark;
		if (out->cap)
			out->data[mark] = 0;
		obs_buf_printf(out, "<error expanding template: %s>", err);
		return -EINVAL;
	}
	return 0;
}
