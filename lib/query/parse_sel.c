/* parse_sel.c — the PromQL parser's selectors (label matchers, quoted
 * UTF-8 names), grouping label lists, durations (literals, numbers of
 * seconds, duration expressions with step(), min_of(), max_of()) and the
 * postfix modifiers [range], [range:step], offset and @. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/parse_int.h"

int q_parse_label_list(struct parser *p, struct q_strs *s)
{
	if (q_expect(p, T_LPAREN, "in grouping opts, expected \"(\"") != 0)
		return -1;
	while (p->cur.k != T_RPAREN) {
		char *lab = NULL;
		if (p->cur.k == T_IDENT || p->cur.k == T_LAND || p->cur.k == T_LOR || p->cur.k == T_LUNLESS ||
		    p->cur.k == T_ATAN2) {
			lab = q_dup_tok(p, &p->cur);
		} else if (p->cur.k == T_STR) {
			lab = q_str_tok(p, &p->cur);
		} else if (p->cur.k == T_NUM && (isinf(p->cur.num) || isnan(p->cur.num))) {
			lab = q_dup_tok(p, &p->cur);   /* inf / nan are fine label names */
		} else {
			q_unexpected(p, "in grouping opts, expected label");
			return -1;
		}
		if (!lab)
			return -1;
		char **nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
		if (!nv) {
			free(lab);
			q_perr(p, p->cur.pos, "out of memory");
			return -1;
		}
		s->v = nv;
		s->v[s->n++] = lab;
		q_advance(p);
		if (p->cur.k == T_COMMA) {
			q_advance(p);
			continue;
		}
		if (p->cur.k != T_RPAREN) {
			q_unexpected(p, "in grouping opts, expected \")\" or \",\"");
			return -1;
		}
	}
	q_advance(p);
	return p->failed ? -1 : 0;
}

static int add_matcher(struct parser *p, struct q_node *n, const char *name, enum obs_match_op op,
		       const char *value, size_t pos)
{
	struct obs_matcher *nm = realloc(n->m, (n->nm + 1) * sizeof(*nm));
	if (!nm) {
		q_perr(p, pos, "out of memory");
		return -1;
	}
	n->m = nm;
	const char *why = NULL;
	int rc = obs_matcher_init(&n->m[n->nm], name, op, value, &why);
	if (rc != 0) {
		if (rc == -ENOMEM)
			q_perr(p, pos, "out of memory");
		else
			q_perr(p, pos, "error parsing regexp: %s", why ? why : "invalid regex");
		return -1;
	}
	n->nm++;
	return 0;
}

/* '{' matchers '}' into selector n (cur is '{'). */
static int parse_matchers(struct parser *p, struct q_node *n)
{
	q_advance(p);
	while (!p->failed && p->cur.k != T_RBRACE) {
		struct q_token nt = p->cur;
		char *name = NULL;
		if (nt.k == T_STR)
			name = q_str_tok(p, &nt);
		else if (nt.k == T_IDENT || nt.k == T_LAND || nt.k == T_LOR || nt.k == T_LUNLESS || nt.k == T_ATAN2 ||
			 (nt.k == T_NUM && (isinf(nt.num) || isnan(nt.num)) && p->s[nt.pos] != '+' && p->s[nt.pos] != '-' && p->s[nt.pos] != '.' && (p->s[nt.pos] < '0' || p->s[nt.pos] > '9')))
			name = q_dup_tok(p, &nt);
		else {
			q_unexpected(p, "in label matching, expected label");
			return -1;
		}
		if (!name)
			return -1;
		q_advance(p);
		enum obs_match_op op;
		if (nt.k == T_STR && (p->cur.k == T_COMMA || p->cur.k == T_RBRACE)) {
			/* {"metric.name"}: a quoted metric name */
			if (n->name) {
				free(name);
				q_perr(p, nt.pos, "metric name must not be set twice: \"%s\" or \"%s\"", n->name, p->tmp.data);
				return -1;
			}
			n->name = name;
			if (add_matcher(p, n, "__name__", OBS_MATCH_EQ, name, nt.pos) != 0)
				return -1;
			if (p->cur.k == T_COMMA)
				q_advance(p);
			continue;
		}
		switch (p->cur.k) {
		case T_EQL: op = OBS_MATCH_EQ; break;
		case T_NEQ: op = OBS_MATCH_NE; break;
		case T_EQL_RE: op = OBS_MATCH_RE; break;
		case T_NEQ_RE: op = OBS_MATCH_NRE; break;
		default:
			free(name);
			q_unexpected(p, "in label matching, expected one of \"=\", \"!=\", \"=~\" or \"!~\"");
			return -1;
		}
		q_advance(p);
		if (p->cur.k != T_STR) {
			free(name);
			q_unexpected(p, "in label matching, expected string");
			return -1;
		}
		char *val = q_str_tok(p, &p->cur);
		if (!val) {
			free(name);
			return -1;
		}
		size_t vpos = p->cur.pos;
		q_advance(p);
		int rc = add_matcher(p, n, name, op, val, vpos);
		free(name);
		free(val);
		if (rc)
			return -1;
		if (p->cur.k == T_COMMA) {
			q_advance(p);
			continue;
		}
		if (p->cur.k != T_RBRACE) {
			q_unexpected(p, "in label matching, expected \",\" or \"}\"");
			return -1;
		}
	}
	if (p->failed)
		return -1;
	n->end = p->cur.pos + 1;
	q_advance(p);
	return p->failed ? -1 : 0;
}

static int check_selector(struct parser *p, struct q_node *n)
{
	int nonempty = 0;
	for (size_t i = 0; i < n->nm; i++) {
		if (strcmp(n->m[i].name, "__name__") == 0 && n->name && n->name_outside && i > 0) {
			q_perr(p, n->pos, "metric name must not be set twice: \"%s\" or \"%s\"", n->name, n->m[i].value);
			return -1;
		}
		if (!obs_matcher_matches_empty(&n->m[i]))
			nonempty = 1;
	}
	if (!nonempty) {
		q_perr(p, n->pos, "vector selector must contain at least one non-empty matcher");
		return -1;
	}
	return 0;
}

struct q_node *q_parse_selector(struct parser *p)
{
	struct q_node *n = q_new_node(p, N_VSEL, p->cur.pos);
	if (!n)
		return NULL;
	n->type = VT_VECTOR;
	if (p->cur.k == T_IDENT) {
		n->name = q_dup_tok(p, &p->cur);
		n->name_outside = 1;
		n->end = p->cur.pos + p->cur.len;
		if (!n->name || add_matcher(p, n, "__name__", OBS_MATCH_EQ, n->name, n->pos) != 0)
			goto fail;
		q_advance(p);
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
		e = q_parse_expr(p, 0);
	} else {
		int neg = 0;
		if (p->cur.k == T_SUB || p->cur.k == T_ADD) {
			neg = p->cur.k == T_SUB;
			q_advance(p);
		}
		if (p->cur.k == T_NUM || p->cur.k == T_DUR) {
			e = q_new_node(p, N_NUM, p->cur.pos);
			if (e) {
				e->type = VT_SCALAR;
				e->num = p->cur.k == T_NUM ? p->cur.num : (double)p->cur.dur / 1000.0;
			}
			q_advance(p);
		} else if (p->cur.k == T_LPAREN || (p->cur.k == T_IDENT && q_peek2(p)->k == T_LPAREN)) {
			e = q_parse_expr(p, 100);   /* a primary only */
		} else {
			q_unexpected(p, what);
			return -1;
		}
		if (e && neg) {
			struct q_node *u = q_new_node(p, N_UNARY, pos);
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
		q_perr(p, pos, "%s must be a duration", what);
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
	if (isnan(sec) || isinf(sec) || fabs(sec) > 1e10) {
		q_perr(p, pos, "%s is out of range", what);
		return -1;
	}
	d->ms = (int64_t)llround(sec * 1000);
	if (!allow_neg && d->ms < 0) {
		q_perr(p, pos, "%s must not be negative", what);
		return -1;
	}
	return 0;
}

/* Postfix: [range], [range:step], offset D, @ T. */
struct q_node *q_parse_postfix(struct parser *p, struct q_node *e)
{
	while (e && !p->failed) {
		if (p->cur.k == T_LBRACK) {
			size_t pos = p->cur.pos;
			q_advance(p);
			struct q_dur range = { 0 }, step = { 0 };
			if (parse_duration(p, &range, 1, 0, "range") != 0)
				goto fail;
			if (p->cur.k == T_COLON) {
				q_advance(p);
				if (p->cur.k != T_RBRACK && parse_duration(p, &step, 1, 0, "subquery step") != 0) {
					q_node_free(range.expr);
					goto fail;
				}
				if (p->cur.k != T_RBRACK) {
					q_node_free(range.expr);
					q_node_free(step.expr);
					q_unexpected(p, "in subquery selector, expected \"]\"");
					goto fail;
				}
				if (e->type != VT_VECTOR) {
					q_node_free(range.expr);
					q_node_free(step.expr);
					q_perr(p, e->pos, "subquery is only allowed on instant vector, got %s instead", q_vt_name(e->type));
					goto fail;
				}
				struct q_node *s = q_new_node(p, N_SUBQ, e->pos);
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
					q_unexpected(p, "in range selector, expected \"]\" or \":\"");
					goto fail;
				}
				if (e->kind != N_VSEL) {
					q_node_free(range.expr);
					q_perr(p, pos, "ranges only allowed for vector selectors");
					goto fail;
				}
				if (e->has_offset || e->at) {
					q_node_free(range.expr);
					q_perr(p, pos, "no offset or @ modifiers allowed before range");
					goto fail;
				}
				if (!range.expr && range.ms <= 0) {
					q_perr(p, pos, "range duration must be greater than 0");
					goto fail;
				}
				struct q_node *m = q_new_node(p, N_MSEL, e->pos);
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
			q_advance(p);
			continue;
		}
		int is_offset = q_is_word(p, &p->cur, "offset");
		if (is_offset || p->cur.k == T_AT) {
			size_t pos = p->cur.pos;
			struct q_node *t = e->kind == N_MSEL ? e->a : e;
			if (t->kind != N_VSEL && t->kind != N_SUBQ) {
				if (is_offset)
					q_perr(p, pos, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
				else
					q_perr(p, pos, "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
				goto fail;
			}
			q_advance(p);
			if (is_offset) {
				if (t->has_offset) {
					q_perr(p, pos, "offset may not be set multiple times");
					goto fail;
				}
				if (parse_duration(p, &t->offset, 0, 1, "offset") != 0)
					goto fail;
				t->has_offset = 1;
			} else {
				if (t->at) {
					q_perr(p, pos, "@ <timestamp> may not be set multiple times");
					goto fail;
				}
				if (q_is_word(p, &p->cur, "start") || q_is_word(p, &p->cur, "end")) {
					t->at = q_is_word(p, &p->cur, "start") ? AT_START : AT_END;
					q_advance(p);
					if (q_expect(p, T_LPAREN, "in @ modifier") || q_expect(p, T_RPAREN, "in @ modifier"))
						goto fail;
				} else {
					int neg = 0;
					if (p->cur.k == T_SUB || p->cur.k == T_ADD) {
						neg = p->cur.k == T_SUB;
						q_advance(p);
					}
					double v;
					if (p->cur.k == T_NUM)
						v = p->cur.num;
					else if (p->cur.k == T_DUR)
						v = (double)p->cur.dur / 1000.0;
					else {
						q_unexpected(p, "in @ modifier, expected timestamp");
						goto fail;
					}
					if (neg)
						v = -v;
					if (isnan(v) || isinf(v) || fabs(v) > 9.2e12) {
						q_perr(p, p->cur.pos, "timestamp out of bounds for @ modifier: %g", v);
						goto fail;
					}
					t->at = AT_TS;
					t->at_ms = (int64_t)llround(v * 1000);
					q_advance(p);
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

