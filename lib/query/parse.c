/* parse.c — PromQL parser: precedence climbing over q_lex() tokens, with
 * Prometheus' precedence (or < and/unless < comparisons < + - < * / % atan2
 * < unary < ^, ^ right-associative), postfix range/subquery/offset/@, type
 * checks, and "LINE:COL: message" errors at the offending token. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/q.h"

struct parser {
	struct q_lexer lx;
	struct q_token cur, nxt;
	int have_nxt;
	const char *s;
	char *err;
	size_t errlen;
	int failed;
	struct obs_buf tmp;
	int depth;
};

static struct q_node *parse_expr(struct parser *p, int minprec);

static void perr(struct parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(struct parser *p, size_t pos, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = 1;
	int line, col;
	q_position(p->s, pos, &line, &col);
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "%d:%d: parse error: %s", line, col, msg);
}

static void advance(struct parser *p)
{
	if (p->have_nxt) {
		p->cur = p->nxt;
		p->have_nxt = 0;
	} else {
		p->cur = q_lex(&p->lx);
	}
	if (p->cur.k == T_ERR)
		perr(p, p->cur.pos, "%s", p->lx.err);
}

static struct q_token *peek2(struct parser *p)
{
	if (!p->have_nxt) {
		p->nxt = q_lex(&p->lx);
		p->have_nxt = 1;
	}
	return &p->nxt;
}

static int is_word(const struct parser *p, const struct q_token *t, const char *w)
{
	size_t n = strlen(w);
	return t->k == T_IDENT && t->len == n && strncasecmp(p->s + t->pos, w, n) == 0;
}

static void unexpected(struct parser *p, const char *context)
{
	struct q_token *t = &p->cur;
	if (t->k == T_ERR)
		return;
	if (t->k == T_EOF)
		perr(p, t->pos, "unexpected end of input%s%s", context ? " " : "", context ? context : "");
	else
		perr(p, t->pos, "unexpected %s%.*s%s%s%s", t->k == T_IDENT ? "identifier \"" : "\"",
		     (int)(t->len > 40 ? 40 : t->len), p->s + t->pos, "\"", context ? " " : "", context ? context : "");
}

static int expect(struct parser *p, enum q_tok k, const char *context)
{
	if (p->failed)
		return -1;
	if (p->cur.k != k) {
		unexpected(p, context);
		return -1;
	}
	advance(p);
	return p->failed ? -1 : 0;
}

static struct q_node *node(struct parser *p, enum q_kind k, size_t pos)
{
	struct q_node *n = calloc(1, sizeof(*n));
	if (!n) {
		perr(p, pos, "out of memory");
		return NULL;
	}
	n->kind = k;
	n->pos = pos;
	n->end = pos;
	return n;
}

static char *dup_tok(struct parser *p, const struct q_token *t)
{
	char *s = strndup(p->s + t->pos, t->len);
	if (!s)
		perr(p, t->pos, "out of memory");
	return s;
}

/* A string token's decoded text (malloc'd) or NULL after perr. */
static char *str_tok(struct parser *p, const struct q_token *t)
{
	const char *why = "bad string";
	if (q_unquote(p->s + t->pos, t->len, &p->tmp, &why) != 0) {
		perr(p, t->pos, "%s", why);
		return NULL;
	}
	char *s = strdup(p->tmp.data ? p->tmp.data : "");
	if (!s)
		perr(p, t->pos, "out of memory");
	return s;
}

static const char *vt_name(enum q_vt t)
{
	switch (t) {
	case VT_SCALAR: return "scalar";
	case VT_STRING: return "string";
	case VT_VECTOR: return "instant vector";
	case VT_MATRIX: return "range vector";
	default: return "none";
	}
}

/* ( label, ... ) into s; labels are identifiers or quoted strings. */
static int parse_label_list(struct parser *p, struct q_strs *s)
{
	if (expect(p, T_LPAREN, "in grouping opts, expected \"(\"") != 0)
		return -1;
	while (p->cur.k != T_RPAREN) {
		char *lab = NULL;
		if (p->cur.k == T_IDENT || p->cur.k == T_LAND || p->cur.k == T_LOR || p->cur.k == T_LUNLESS ||
		    p->cur.k == T_ATAN2) {
			lab = dup_tok(p, &p->cur);
		} else if (p->cur.k == T_STR) {
			lab = str_tok(p, &p->cur);
		} else if (p->cur.k == T_NUM && (isinf(p->cur.num) || isnan(p->cur.num))) {
			lab = dup_tok(p, &p->cur);   /* inf / nan are fine label names */
		} else {
			unexpected(p, "in grouping opts, expected label");
			return -1;
		}
		if (!lab)
			return -1;
		char **nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
		if (!nv) {
			free(lab);
			perr(p, p->cur.pos, "out of memory");
			return -1;
		}
		s->v = nv;
		s->v[s->n++] = lab;
		advance(p);
		if (p->cur.k == T_COMMA) {
			advance(p);
			continue;
		}
		if (p->cur.k != T_RPAREN) {
			unexpected(p, "in grouping opts, expected \")\" or \",\"");
			return -1;
		}
	}
	advance(p);
	return p->failed ? -1 : 0;
}

static int add_matcher(struct parser *p, struct q_node *n, const char *name, enum obs_match_op op,
		       const char *value, size_t pos)
{
	struct obs_matcher *nm = realloc(n->m, (n->nm + 1) * sizeof(*nm));
	if (!nm) {
		perr(p, pos, "out of memory");
		return -1;
	}
	n->m = nm;
	const char *why = NULL;
	int rc = obs_matcher_init(&n->m[n->nm], name, op, value, &why);
	if (rc != 0) {
		if (rc == -ENOMEM)
			perr(p, pos, "out of memory");
		else
			perr(p, pos, "error parsing regexp: %s", why ? why : "invalid regex");
		return -1;
	}
	n->nm++;
	return 0;
}

/* '{' matchers '}' into selector n (cur is '{'). */
static int parse_matchers(struct parser *p, struct q_node *n)
{
	advance(p);
	while (!p->failed && p->cur.k != T_RBRACE) {
		struct q_token nt = p->cur;
		char *name = NULL;
		if (nt.k == T_STR)
			name = str_tok(p, &nt);
		else if (nt.k == T_IDENT || nt.k == T_LAND || nt.k == T_LOR || nt.k == T_LUNLESS || nt.k == T_ATAN2 ||
			 (nt.k == T_NUM && (isinf(nt.num) || isnan(nt.num)) && p->s[nt.pos] != '+' && p->s[nt.pos] != '-' && p->s[nt.pos] != '.' && (p->s[nt.pos] < '0' || p->s[nt.pos] > '9')))
			name = dup_tok(p, &nt);
		else {
			unexpected(p, "in label matching, expected label");
			return -1;
		}
		if (!name)
			return -1;
		advance(p);
		enum obs_match_op op;
		if (nt.k == T_STR && (p->cur.k == T_COMMA || p->cur.k == T_RBRACE)) {
			/* {"metric.name"}: a quoted metric name */
			if (n->name) {
				free(name);
				perr(p, nt.pos, "metric name must not be set twice: \"%s\" or \"%s\"", n->name, p->tmp.data);
				return -1;
			}
			n->name = name;
			if (add_matcher(p, n, "__name__", OBS_MATCH_EQ, name, nt.pos) != 0)
				return -1;
			if (p->cur.k == T_COMMA)
				advance(p);
			continue;
		}
		switch (p->cur.k) {
		case T_EQL: op = OBS_MATCH_EQ; break;
		case T_NEQ: op = OBS_MATCH_NE; break;
		case T_EQL_RE: op = OBS_MATCH_RE; break;
		case T_NEQ_RE: op = OBS_MATCH_NRE; break;
		default:
			free(name);
			unexpected(p, "in label matching, expected one of \"=\", \"!=\", \"=~\" or \"!~\"");
			return -1;
		}
		advance(p);
		if (p->cur.k != T_STR) {
			free(name);
			unexpected(p, "in label matching, expected string");
			return -1;
		}
		char *val = str_tok(p, &p->cur);
		if (!val) {
			free(name);
			return -1;
		}
		size_t vpos = p->cur.pos;
		advance(p);
		int rc = add_matcher(p, n, name, op, val, vpos);
		free(name);
		free(val);
		if (rc)
			return -1;
		if (p->cur.k == T_COMMA) {
			advance(p);
			continue;
		}
		if (p->cur.k != T_RBRACE) {
			unexpected(p, "in label matching, expected \",\" or \"}\"");
			return -1;
		}
	}
	if (p->failed)
		return -1;
	n->end = p->cur.pos + 1;
	advance(p);
	return p->failed ? -1 : 0;
}

static int check_selector(struct parser *p, struct q_node *n)
{
	int nonempty = 0;
	for (size_t i = 0; i < n->nm; i++) {
		if (strcmp(n->m[i].name, "__name__") == 0 && n->name && n->name_outside && i > 0) {
			perr(p, n->pos, "metric name must not be set twice: \"%s\" or \"%s\"", n->name, n->m[i].value);
			return -1;
		}
		if (!obs_matcher_matches_empty(&n->m[i]))
			nonempty = 1;
	}
	if (!nonempty) {
		perr(p, n->pos, "vector selector must contain at least one non-empty matcher");
		return -1;
	}
	return 0;
}

static struct q_node *parse_selector(struct parser *p)
{
	struct q_node *n = node(p, N_VSEL, p->cur.pos);
	if (!n)
		return NULL;
	n->type = VT_VECTOR;
	if (p->cur.k == T_IDENT) {
		n->name = dup_tok(p, &p->cur);
		n->name_outside = 1;
		n->end = p->cur.pos + p->cur.len;
		if (!n->name || add_matcher(p, n, "__name__", OBS_MATCH_EQ, n->name, n->pos) != 0)
			goto fail;
		advance(p);
	}
	if (p->cur.k == T_LBRACE && parse_matchers(p, n) != 0)
		goto fail;
	if (p->failed || check_selector(p, n) != 0)
		goto fail;
	return n;
fail:
	q_node_free(n);
	return NULL;
}

static int is_duration_expr(const struct q_node *n)
{
	switch (n->kind) {
	case N_NUM: return 1;
	case N_PAREN: case N_UNARY: return is_duration_expr(n->a);
	case N_BIN:
		return (n->op == T_ADD || n->op == T_SUB || n->op == T_MUL || n->op == T_DIV ||
			n->op == T_MOD || n->op == T_POW) && is_duration_expr(n->a) && is_duration_expr(n->b);
	case N_CALL:
		if (strcmp(n->fn->name, "step") == 0)
			return 1;
		if (strcmp(n->fn->name, "min_of") == 0 || strcmp(n->fn->name, "max_of") == 0) {
			for (size_t i = 0; i < n->nargs; i++)
				if (!is_duration_expr(n->args[i]))
					return 0;
			return 1;
		}
		return 0;
	default: return 0;
	}
}

static int has_step(const struct q_node *n)
{
	if (!n)
		return 0;
	if (n->kind == N_CALL && strcmp(n->fn->name, "step") == 0)
		return 1;
	if (has_step(n->a) || has_step(n->b))
		return 1;
	for (size_t i = 0; i < n->nargs; i++)
		if (has_step(n->args[i]))
			return 1;
	return 0;
}

/* Constant value of a duration expression in seconds (no step()). */
static double const_seconds(const struct q_node *n)
{
	switch (n->kind) {
	case N_NUM: return n->num;
	case N_PAREN: return const_seconds(n->a);
	case N_UNARY: return n->op == T_SUB ? -const_seconds(n->a) : const_seconds(n->a);
	case N_CALL: {
		double r = const_seconds(n->args[0]);
		for (size_t i = 1; i < n->nargs; i++) {
			double x = const_seconds(n->args[i]);
			r = strcmp(n->fn->name, "min_of") == 0 ? fmin(r, x) : fmax(r, x);
		}
		return r;
	}
	case N_BIN: {
		double a = const_seconds(n->a), b = const_seconds(n->b);
		switch (n->op) {
		case T_ADD: return a + b;
		case T_SUB: return a - b;
		case T_MUL: return a * b;
		case T_DIV: return a / b;
		case T_MOD: return fmod(a, b);
		default: return pow(a, b);
		}
	}
	default: return NAN;
	}
}

/* A duration: a literal, a number of seconds, or (in brackets: full, after
 * offset: parenthesised or a function) a duration expression. */
static int parse_duration(struct parser *p, struct q_dur *d, int full, int allow_neg, const char *what)
{
	size_t pos = p->cur.pos;
	struct q_node *e;
	if (full) {
		e = parse_expr(p, 0);
	} else {
		int neg = 0;
		if (p->cur.k == T_SUB || p->cur.k == T_ADD) {
			neg = p->cur.k == T_SUB;
			advance(p);
		}
		if (p->cur.k == T_NUM || p->cur.k == T_DUR) {
			e = node(p, N_NUM, p->cur.pos);
			if (e) {
				e->type = VT_SCALAR;
				e->num = p->cur.k == T_NUM ? p->cur.num : (double)p->cur.dur / 1000.0;
			}
			advance(p);
		} else if (p->cur.k == T_LPAREN || (p->cur.k == T_IDENT && peek2(p)->k == T_LPAREN)) {
			e = parse_expr(p, 100);   /* a primary only */
		} else {
			unexpected(p, what);
			return -1;
		}
		if (e && neg) {
			struct q_node *u = node(p, N_UNARY, pos);
			if (!u) {
				q_node_free(e);
				return -1;
			}
			u->op = T_SUB;
			u->a = e;
			u->type = VT_SCALAR;
			e = u;
		}
	}
	if (!e)
		return -1;
	if (!is_duration_expr(e)) {
		perr(p, pos, "%s must be a duration", what);
		q_node_free(e);
		return -1;
	}
	if (has_step(e)) {
		d->expr = e;
		d->ms = 0;
		return 0;
	}
	double sec = const_seconds(e);
	q_node_free(e);
	if (isnan(sec) || isinf(sec) || fabs(sec) > 9e15 / 1000) {
		perr(p, pos, "%s is out of range", what);
		return -1;
	}
	d->ms = (int64_t)llround(sec * 1000);
	if (!allow_neg && d->ms < 0) {
		perr(p, pos, "%s must not be negative", what);
		return -1;
	}
	return 0;
}

/* Postfix: [range], [range:step], offset D, @ T. */
static struct q_node *parse_postfix(struct parser *p, struct q_node *e)
{
	while (e && !p->failed) {
		if (p->cur.k == T_LBRACK) {
			size_t pos = p->cur.pos;
			advance(p);
			struct q_dur range = { 0 }, step = { 0 };
			if (parse_duration(p, &range, 1, 0, "range") != 0)
				goto fail;
			if (p->cur.k == T_COLON) {
				advance(p);
				if (p->cur.k != T_RBRACK && parse_duration(p, &step, 1, 0, "subquery step") != 0) {
					q_node_free(range.expr);
					goto fail;
				}
				if (p->cur.k != T_RBRACK) {
					q_node_free(range.expr);
					q_node_free(step.expr);
					unexpected(p, "in subquery selector, expected \"]\"");
					goto fail;
				}
				if (e->type != VT_VECTOR) {
					q_node_free(range.expr);
					q_node_free(step.expr);
					perr(p, e->pos, "subquery is only allowed on instant vector, got %s instead", vt_name(e->type));
					goto fail;
				}
				struct q_node *s = node(p, N_SUBQ, e->pos);
				if (!s) {
					q_node_free(range.expr);
					q_node_free(step.expr);
					goto fail;
				}
				s->a = e;
				s->range = range;
				s->step = step;
				s->type = VT_MATRIX;
				s->end = p->cur.pos + 1;
				e = s;
			} else {
				if (p->cur.k != T_RBRACK) {
					q_node_free(range.expr);
					unexpected(p, "in range selector, expected \"]\" or \":\"");
					goto fail;
				}
				if (e->kind != N_VSEL) {
					q_node_free(range.expr);
					perr(p, pos, "ranges only allowed for vector selectors");
					goto fail;
				}
				if (e->has_offset || e->at) {
					q_node_free(range.expr);
					perr(p, pos, "no offset or @ modifiers allowed before range");
					goto fail;
				}
				if (!range.expr && range.ms <= 0) {
					perr(p, pos, "range duration must be greater than 0");
					goto fail;
				}
				struct q_node *m = node(p, N_MSEL, e->pos);
				if (!m) {
					q_node_free(range.expr);
					goto fail;
				}
				m->a = e;
				m->range = range;
				m->type = VT_MATRIX;
				m->end = p->cur.pos + 1;
				e = m;
			}
			advance(p);
			continue;
		}
		int is_offset = is_word(p, &p->cur, "offset");
		if (is_offset || p->cur.k == T_AT) {
			size_t pos = p->cur.pos;
			struct q_node *t = e->kind == N_MSEL ? e->a : e;
			if (t->kind != N_VSEL && t->kind != N_SUBQ) {
				if (is_offset)
					perr(p, pos, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
				else
					perr(p, pos, "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
				goto fail;
			}
			advance(p);
			if (is_offset) {
				if (t->has_offset) {
					perr(p, pos, "offset may not be set multiple times");
					goto fail;
				}
				if (parse_duration(p, &t->offset, 0, 1, "offset") != 0)
					goto fail;
				t->has_offset = 1;
			} else {
				if (t->at) {
					perr(p, pos, "@ <timestamp> may not be set multiple times");
					goto fail;
				}
				if (is_word(p, &p->cur, "start") || is_word(p, &p->cur, "end")) {
					t->at = is_word(p, &p->cur, "start") ? AT_START : AT_END;
					advance(p);
					if (expect(p, T_LPAREN, "in @ modifier") || expect(p, T_RPAREN, "in @ modifier"))
						goto fail;
				} else {
					int neg = 0;
					if (p->cur.k == T_SUB || p->cur.k == T_ADD) {
						neg = p->cur.k == T_SUB;
						advance(p);
					}
					double v;
					if (p->cur.k == T_NUM)
						v = p->cur.num;
					else if (p->cur.k == T_DUR)
						v = (double)p->cur.dur / 1000.0;
					else {
						unexpected(p, "in @ modifier, expected timestamp");
						goto fail;
					}
					if (neg)
						v = -v;
					if (isnan(v) || isinf(v) || fabs(v) > 9.2e15) {
						perr(p, p->cur.pos, "timestamp out of bounds for @ modifier: %g", v);
						goto fail;
					}
					t->at = AT_TS;
					t->at_ms = (int64_t)llround(v * 1000);
					advance(p);
				}
			}
			e->end = p->cur.pos;
			continue;
		}
		break;
	}
	return e;
fail:
	q_node_free(e);
	return NULL;
}

static int agg_op(const struct parser *p, const struct q_token *t)
{
	static const char *const names[] = { "sum", "avg", "min", "max", "count", "stddev", "stdvar",
		"topk", "bottomk", "quantile", "count_values", "group", "limitk", "limit_ratio" };
	if (t->k != T_IDENT)
		return -1;
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (is_word(p, t, names[i]))
			return i;
	return -1;
}

static struct q_node *parse_agg(struct parser *p, int op)
{
	struct q_node *n = node(p, N_AGG, p->cur.pos);
	if (!n)
		return NULL;
	n->op = op;
	n->type = VT_VECTOR;
	advance(p);
	if (is_word(p, &p->cur, "by") || is_word(p, &p->cur, "without")) {
		n->without = is_word(p, &p->cur, "without");
		n->has_grouping = 1;
		advance(p);
		if (parse_label_list(p, &n->grouping) != 0)
			goto fail;
	}
	if (expect(p, T_LPAREN, "in aggregation, expected \"(\"") != 0)
		goto fail;
	int param = op == A_TOPK || op == A_BOTTOMK || op == A_QUANTILE || op == A_COUNT_VALUES ||
		    op == A_LIMITK || op == A_LIMIT_RATIO;
	struct q_node *args[3] = { 0 };
	size_t na = 0;
	while (p->cur.k != T_RPAREN && !p->failed) {
		if (na == 3) {
			perr(p, p->cur.pos, "wrong number of arguments for aggregate expression provided, expected %d, got %zu",
			     param ? 2 : 1, na + 1);
			goto fail_args;
		}
		args[na] = parse_expr(p, 0);
		if (!args[na])
			goto fail_args;
		na++;
		if (p->cur.k == T_COMMA)
			advance(p);
		else if (p->cur.k != T_RPAREN) {
			unexpected(p, "in aggregation, expected \",\" or \")\"");
			goto fail_args;
		}
	}
	if (p->failed)
		goto fail_args;
	if (na != (size_t)(param ? 2 : 1)) {
		perr(p, n->pos, "wrong number of arguments for aggregate expression provided, expected %d, got %zu",
		     param ? 2 : 1, na);
		goto fail_args;
	}
	n->end = p->cur.pos + 1;
	advance(p);
	if (param) {
		n->b = args[0];
		n->a = args[1];
	} else {
		n->a = args[0];
	}
	if (!n->has_grouping && (is_word(p, &p->cur, "by") || is_word(p, &p->cur, "without"))) {
		n->without = is_word(p, &p->cur, "without");
		n->has_grouping = 1;
		advance(p);
		if (parse_label_list(p, &n->grouping) != 0)
			goto fail;
		n->end = p->cur.pos;
	}
	if (n->a->type != VT_VECTOR) {
		perr(p, n->a->pos, "expected type instant vector in aggregation expression, got %s", vt_name(n->a->type));
		goto fail;
	}
	if (n->b) {
		enum q_vt want = op == A_COUNT_VALUES ? VT_STRING : VT_SCALAR;
		if (n->b->type != want) {
			perr(p, n->b->pos, "expected type %s in aggregation parameter, got %s", vt_name(want), vt_name(n->b->type));
			goto fail;
		}
	}
	return n;
fail_args:
	for (size_t i = 0; i < na; i++)
		q_node_free(args[i]);
fail:
	q_node_free(n);
	return NULL;
}

static struct q_node *parse_call(struct parser *p, const struct q_func *fn)
{
	struct q_node *n = node(p, N_CALL, p->cur.pos);
	if (!n)
		return NULL;
	n->fn = fn;
	n->type = fn->ret;
	advance(p);   /* name */
	advance(p);   /* ( */
	while (p->cur.k != T_RPAREN && !p->failed) {
		struct q_node *a = parse_expr(p, 0);
		if (!a)
			goto fail;
		struct q_node **nv = realloc(n->args, (n->nargs + 1) * sizeof(*nv));
		if (!nv) {
			q_node_free(a);
			perr(p, n->pos, "out of memory");
			goto fail;
		}
		n->args = nv;
		n->args[n->nargs++] = a;
		if (p->cur.k == T_COMMA)
			advance(p);
		else if (p->cur.k != T_RPAREN) {
			unexpected(p, "in call to function, expected \",\" or \")\"");
			goto fail;
		}
	}
	if (p->failed)
		goto fail;
	n->end = p->cur.pos + 1;
	advance(p);
	size_t min = (size_t)fn->nargs, max = (size_t)(fn->nargs + fn->optional);
	if (fn->variadic) {
		if (n->nargs < min) {
			perr(p, n->pos, "expected at least %zu argument(s) in call to \"%s\", got %zu", min, fn->name, n->nargs);
			goto fail;
		}
	} else if (n->nargs < min || n->nargs > max) {
		if (min == max)
			perr(p, n->pos, "expected %zu argument(s) in call to \"%s\", got %zu", min, fn->name, n->nargs);
		else if (n->nargs < min)
			perr(p, n->pos, "expected at least %zu argument(s) in call to \"%s\", got %zu", min, fn->name, n->nargs);
		else
			perr(p, n->pos, "expected at most %zu argument(s) in call to \"%s\", got %zu", max, fn->name, n->nargs);
		goto fail;
	}
	for (size_t i = 0; i < n->nargs; i++) {
		enum q_vt want = i < max ? fn->args[i] : fn->args[fn->variadic - 1];
		if (n->args[i]->type != want) {
			perr(p, n->args[i]->pos, "expected type %s in call to function \"%s\", got %s", vt_name(want),
			     fn->name, vt_name(n->args[i]->type));
			goto fail;
		}
	}
	return n;
fail:
	q_node_free(n);
	return NULL;
}

static struct q_node *parse_primary(struct parser *p)
{
	struct q_token t = p->cur;
	struct q_node *n = NULL;
	if (++p->depth > 1000) {
		perr(p, t.pos, "expression nested too deeply");
		return NULL;
	}
	switch (t.k) {
	case T_NUM: case T_DUR:
		n = node(p, N_NUM, t.pos);
		if (!n)
			return NULL;
		n->num = t.k == T_NUM ? t.num : (double)t.dur / 1000.0;
		n->type = VT_SCALAR;
		n->end = t.pos + t.len;
		advance(p);
		break;
	case T_STR:
		n = node(p, N_STR, t.pos);
		if (!n)
			return NULL;
		n->type = VT_STRING;
		n->end = t.pos + t.len;
		if (!(n->str = str_tok(p, &t))) {
			q_node_free(n);
			return NULL;
		}
		advance(p);
		break;
	case T_LPAREN: {
		advance(p);
		struct q_node *in = parse_expr(p, 0);
		if (!in)
			return NULL;
		if (p->cur.k != T_RPAREN) {
			q_node_free(in);
			unexpected(p, "in paren expression, expected \")\"");
			return NULL;
		}
		n = node(p, N_PAREN, t.pos);
		if (!n) {
			q_node_free(in);
			return NULL;
		}
		n->a = in;
		n->type = in->type;
		n->end = p->cur.pos + 1;
		advance(p);
		break;
	}
	case T_LBRACE:
		n = parse_selector(p);
		break;
	case T_IDENT: {
		int op = agg_op(p, &t);
		struct q_token *nx = peek2(p);
		if (op >= 0 && (nx->k == T_LPAREN || is_word(p, nx, "by") || is_word(p, nx, "without"))) {
			n = parse_agg(p, op);
			break;
		}
		if (nx->k == T_LPAREN) {
			const struct q_func *fn = q_func_lookup(p->s + t.pos, t.len);
			if (!fn) {
				perr(p, t.pos, "unknown function with name \"%.*s\"", (int)t.len, p->s + t.pos);
				return NULL;
			}
			n = parse_call(p, fn);
			break;
		}
		static const char *const kw[] = { "by", "without", "on", "ignoring", "group_left", "group_right",
						  "bool", "offset" };
		for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
			if (is_word(p, &t, kw[i])) {
				unexpected(p, NULL);
				return NULL;
			}
		if (op >= 0) {
			perr(p, t.pos, "unexpected aggregation \"%.*s\"", (int)t.len, p->s + t.pos);
			return NULL;
		}
		n = parse_selector(p);
		break;
	}
	default:
		unexpected(p, NULL);
		return NULL;
	}
	n = parse_postfix(p, n);
	p->depth--;
	return n;
}

static int binop_prec(enum q_tok k)
{
	switch (k) {
	case T_LOR: return 1;
	case T_LAND: case T_LUNLESS: return 2;
	case T_EQLC: case T_NEQ: case T_LTE: case T_LSS: case T_GTE: case T_GTR: return 3;
	case T_ADD: case T_SUB: return 4;
	case T_MUL: case T_DIV: case T_MOD: case T_ATAN2: return 5;
	case T_POW: return 6;
	default: return 0;
	}
}

static struct q_node *parse_unary(struct parser *p)
{
	if (p->cur.k != T_ADD && p->cur.k != T_SUB)
		return parse_primary(p);
	struct q_token t = p->cur;
	advance(p);
	if (++p->depth > 1000) {
		perr(p, t.pos, "expression nested too deeply");
		return NULL;
	}
	struct q_node *in = parse_expr(p, 6);
	p->depth--;
	if (!in)
		return NULL;
	if (in->type != VT_SCALAR && in->type != VT_VECTOR) {
		perr(p, t.pos, "unary expression only allowed on expressions of type scalar or instant vector, got %s",
		     vt_name(in->type));
		q_node_free(in);
		return NULL;
	}
	if (in->kind == N_NUM) {   /* fold -1 into the literal */
		if (t.k == T_SUB)
			in->num = -in->num;
		in->pos = t.pos;
		return in;
	}
	struct q_node *n = node(p, N_UNARY, t.pos);
	if (!n) {
		q_node_free(in);
		return NULL;
	}
	n->op = t.k;
	n->a = in;
	n->type = in->type;
	n->end = in->end;
	return n;
}

static int check_bin(struct parser *p, struct q_node *n, size_t oppos)
{
	const char *opname = q_tok_text((enum q_tok)n->op);
	enum q_vt l = n->a->type, r = n->b->type;
	if ((l != VT_SCALAR && l != VT_VECTOR) || (r != VT_SCALAR && r != VT_VECTOR)) {
		perr(p, oppos, "binary expression must contain only scalar and instant vector types");
		return -1;
	}
	if (n->bool_mod && !q_is_comparison(n->op)) {
		perr(p, oppos, "bool modifier can only be used on comparison operators");
		return -1;
	}
	if (q_is_comparison(n->op) && l == VT_SCALAR && r == VT_SCALAR && !n->bool_mod) {
		perr(p, oppos, "comparisons between scalars must use BOOL modifier");
		return -1;
	}
	if (q_is_setop(n->op)) {
		if (l == VT_SCALAR || r == VT_SCALAR) {
			perr(p, oppos, "set operator \"%s\" not allowed in binary scalar expression", opname);
			return -1;
		}
		if (n->card == CARD_MANY_ONE || n->card == CARD_ONE_MANY) {
			perr(p, oppos, "no grouping allowed for \"%s\" operation", opname);
			return -1;
		}
		n->card = CARD_MANY_MANY;
	}
	if (n->has_matching && (l != VT_VECTOR || r != VT_VECTOR)) {
		perr(p, oppos, "vector matching only allowed between instant vectors");
		return -1;
	}
	if (n->on)
		for (size_t i = 0; i < n->include.n; i++)
			if (q_strs_has(&n->mlabels, n->include.v[i])) {
				perr(p, oppos, "label \"%s\" must not occur in ON and GROUP clause at once", n->include.v[i]);
				return -1;
			}
	n->type = (l == VT_VECTOR || r == VT_VECTOR) ? VT_VECTOR : VT_SCALAR;
	return 0;
}

static struct q_node *parse_expr(struct parser *p, int minprec)
{
	struct q_node *left = parse_unary(p);
	while (left && !p->failed) {
		int prec = binop_prec(p->cur.k);
		if (!prec || prec < minprec)
			break;
		struct q_token opt = p->cur;
		struct q_node *n = node(p, N_BIN, left->pos);
		if (!n)
			break;
		n->op = opt.k;
		n->a = left;
		left = NULL;
		advance(p);
		if (is_word(p, &p->cur, "bool")) {
			n->bool_mod = 1;
			advance(p);
		}
		if (is_word(p, &p->cur, "on") || is_word(p, &p->cur, "ignoring")) {
			n->on = is_word(p, &p->cur, "on");
			n->has_matching = 1;
			advance(p);
			if (parse_label_list(p, &n->mlabels) != 0) {
				q_node_free(n);
				return NULL;
			}
			if (is_word(p, &p->cur, "group_left") || is_word(p, &p->cur, "group_right")) {
				n->card = is_word(p, &p->cur, "group_left") ? CARD_MANY_ONE : CARD_ONE_MANY;
				advance(p);
				if (p->cur.k == T_LPAREN && parse_label_list(p, &n->include) != 0) {
					q_node_free(n);
					return NULL;
				}
			}
		} else if (is_word(p, &p->cur, "group_left") || is_word(p, &p->cur, "group_right")) {
			unexpected(p, "in binary expression, group modifiers need on() or ignoring()");
			q_node_free(n);
			return NULL;
		}
		n->b = parse_expr(p, prec == 6 ? prec : prec + 1);
		if (!n->b || check_bin(p, n, opt.pos) != 0) {
			q_node_free(n);
			return NULL;
		}
		n->end = n->b->end;
		left = n;
	}
	if (p->failed) {
		q_node_free(left);
		return NULL;
	}
	return left;
}

int obs_query_parse(const char *s, size_t n, struct obs_query_expr **out, char *err, size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = 0;
	struct parser p = { .s = NULL, .err = err, .errlen = errlen };
	char *text = strndup(s, n);
	if (!text)
		return -ENOMEM;
	if (strlen(text) != n) {
		free(text);
		if (err && errlen)
			snprintf(err, errlen, "1:1: parse error: NUL byte in expression");
		return -EINVAL;
	}
	p.s = text;
	p.lx.s = text;
	p.lx.n = n;
	obs_buf_init(&p.tmp);
	advance(&p);
	struct q_node *root = NULL;
	if (!p.failed) {
		if (p.cur.k == T_EOF)
			perr(&p, 0, "no expression found in input");
		else
			root = parse_expr(&p, 0);
	}
	if (root && !p.failed && p.cur.k != T_EOF)
		unexpected(&p, NULL);
	obs_buf_release(&p.tmp);
	if (p.failed || !root) {
		q_node_free(root);
		free(text);
		if (err && errlen && !err[0])
			snprintf(err, errlen, "1:1: parse error");
		return -EINVAL;
	}
	struct obs_query_expr *e = calloc(1, sizeof(*e));
	if (!e) {
		q_node_free(root);
		free(text);
		return -ENOMEM;
	}
	e->root = root;
	e->text = text;
	*out = e;
	return 0;
}

void obs_query_expr_free(struct obs_query_expr *e)
{
	if (!e)
		return;
	q_node_free(e->root);
	free(e->text);
	free(e);
}

enum obs_query_vtype obs_query_expr_type(const struct obs_query_expr *e)
{
	return (enum obs_query_vtype)e->root->type;
}
