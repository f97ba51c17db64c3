/* parse.c — PromQL parser: precedence climbing over q_lex() tokens, with
 * Prometheus' precedence (or < and/unless < comparisons < + - < * / % atan2
 * < unary < ^, ^ right-associative), aggregations, calls, type checks, and
 * "LINE:COL: message" errors at the offending token. Selectors and
 * postfix modifiers are in parse_sel.c. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/parse_int.h"

void q_perr(struct parser *p, size_t pos, const char *fmt, ...)
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

void q_advance(struct parser *p)
{
	if (p->have_nxt) {
		p->cur = p->nxt;
		p->have_nxt = 0;
	} else {
		p->cur = q_lex(&p->lx);
	}
	if (p->cur.k == T_ERR)
		q_perr(p, p->cur.pos, "%s", p->lx.err);
}

struct q_token *q_peek2(struct parser *p)
{
	if (!p->have_nxt) {
		p->nxt = q_lex(&p->lx);
		p->have_nxt = 1;
	}
	return &p->nxt;
}

int q_is_word(const struct parser *p, const struct q_token *t, const char *w)
{
	size_t n = strlen(w);
	return t->k == T_IDENT && t->len == n && strncasecmp(p->s + t->pos, w, n) == 0;
}

void q_unexpected(struct parser *p, const char *context)
{
	struct q_token *t = &p->cur;
	if (t->k == T_ERR)
		return;
	if (t->k == T_EOF)
		q_perr(p, t->pos, "unexpected end of input%s%s", context ? " " : "", context ? context : "");
	else
		q_perr(p, t->pos, "unexpected %s%.*s%s%s%s", t->k == T_IDENT ? "identifier \"" : "\"",
		     (int)(t->len > 40 ? 40 : t->len), p->s + t->pos, "\"", context ? " " : "", context ? context : "");
}

int q_expect(struct parser *p, enum q_tok k, const char *context)
{
	if (p->failed)
		return -1;
	if (p->cur.k != k) {
		q_unexpected(p, context);
		return -1;
	}
	q_advance(p);
	return p->failed ? -1 : 0;
}

struct q_node *q_new_node(struct parser *p, enum q_kind k, size_t pos)
{
	struct q_node *n = calloc(1, sizeof(*n));
	if (!n) {
		q_perr(p, pos, "out of memory");
		return NULL;
	}
	n->kind = k;
	n->pos = pos;
	n->end = pos;
	return n;
}

char *q_dup_tok(struct parser *p, const struct q_token *t)
{
	char *s = strndup(p->s + t->pos, t->len);
	if (!s)
		q_perr(p, t->pos, "out of memory");
	return s;
}

/* A string token's decoded text (malloc'd) or NULL after perr. */
char *q_str_tok(struct parser *p, const struct q_token *t)
{
	const char *why = "bad string";
	if (q_unquote(p->s + t->pos, t->len, &p->tmp, &why) != 0) {
		q_perr(p, t->pos, "%s", why);
		return NULL;
	}
	char *s = strdup(p->tmp.data ? p->tmp.data : "");
	if (!s)
		q_perr(p, t->pos, "out of memory");
	return s;
}

const char *q_vt_name(enum q_vt t)
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
static int agg_op(const struct parser *p, const struct q_token *t)
{
	static const char *const names[] = { "sum", "avg", "min", "max", "count", "stddev", "stdvar",
		"topk", "bottomk", "quantile", "count_values", "group", "limitk", "limit_ratio" };
	if (t->k != T_IDENT)
		return -1;
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (q_is_word(p, t, names[i]))
			return i;
	return -1;
}

static struct q_node *parse_agg(struct parser *p, int op)
{
	struct q_node *n = q_new_node(p, N_AGG, p->cur.pos);
	if (!n)
		return NULL;
	n->op = op;
	n->type = VT_VECTOR;
	q_advance(p);
	if (q_is_word(p, &p->cur, "by") || q_is_word(p, &p->cur, "without")) {
		n->without = q_is_word(p, &p->cur, "without");
		n->has_grouping = 1;
		q_advance(p);
		if (q_parse_label_list(p, &n->grouping) != 0)
			goto fail;
	}
	if (q_expect(p, T_LPAREN, "in aggregation, expected \"(\"") != 0)
		goto fail;
	int param = op == A_TOPK || op == A_BOTTOMK || op == A_QUANTILE || op == A_COUNT_VALUES ||
		    op == A_LIMITK || op == A_LIMIT_RATIO;
	struct q_node *args[3] = { 0 };
	size_t na = 0;
	while (p->cur.k != T_RPAREN && !p->failed) {
		if (na == 3) {
			q_perr(p, p->cur.pos, "wrong number of arguments for aggregate expression provided, expected %d, got %zu",
			     param ? 2 : 1, na + 1);
			goto fail_args;
		}
		args[na] = q_parse_expr(p, 0);
		if (!args[na])
			goto fail_args;
		na++;
		if (p->cur.k == T_COMMA)
			q_advance(p);
		else if (p->cur.k != T_RPAREN) {
			q_unexpected(p, "in aggregation, expected \",\" or \")\"");
			goto fail_args;
		}
	}
	if (p->failed)
		goto fail_args;
	if (na != (size_t)(param ? 2 : 1)) {
		q_perr(p, n->pos, "wrong number of arguments for aggregate expression provided, expected %d, got %zu",
		     param ? 2 : 1, na);
		goto fail_args;
	}
	n->end = p->cur.pos + 1;
	q_advance(p);
	if (param) {
		n->b = args[0];
		n->a = args[1];
	} else {
		n->a = args[0];
	}
	if (!n->has_grouping && (q_is_word(p, &p->cur, "by") || q_is_word(p, &p->cur, "without"))) {
		n->without = q_is_word(p, &p->cur, "without");
		n->has_grouping = 1;
		q_advance(p);
		if (q_parse_label_list(p, &n->grouping) != 0)
			goto fail;
		n->end = p->cur.pos;
	}
	if (n->a->type != VT_VECTOR) {
		q_perr(p, n->a->pos, "expected type instant vector in aggregation expression, got %s", q_vt_name(n->a->type));
		goto fail;
	}
	if (n->b) {
		enum q_vt want = op == A_COUNT_VALUES ? VT_STRING : VT_SCALAR;
		if (n->b->type != want) {
			q_perr(p, n->b->pos, "expected type %s in aggregation parameter, got %s", q_vt_name(want), q_vt_name(n->b->type));
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
	struct q_node *n = q_new_node(p, N_CALL, p->cur.pos);
	if (!n)
		return NULL;
	n->fn = fn;
	n->type = fn->ret;
	q_advance(p);   /* name */
	q_advance(p);   /* ( */
	while (p->cur.k != T_RPAREN && !p->failed) {
		struct q_node *a = q_parse_expr(p, 0);
		if (!a)
			goto fail;
		struct q_node **nv = realloc(n->args, (n->nargs + 1) * sizeof(*nv));
		if (!nv) {
			q_node_free(a);
			q_perr(p, n->pos, "out of memory");
			goto fail;
		}
		n->args = nv;
		n->args[n->nargs++] = a;
		if (p->cur.k == T_COMMA)
			q_advance(p);
		else if (p->cur.k != T_RPAREN) {
			q_unexpected(p, "in call to function, expected \",\" or \")\"");
			goto fail;
		}
	}
	if (p->failed)
		goto fail;
	n->end = p->cur.pos + 1;
	q_advance(p);
	size_t min = (size_t)fn->nargs, max = (size_t)(fn->nargs + fn->optional);
	if (fn->variadic) {
		if (n->nargs < min) {
			q_perr(p, n->pos, "expected at least %zu argument(s) in call to \"%s\", got %zu", min, fn->name, n->nargs);
			goto fail;
		}
	} else if (n->nargs < min || n->nargs > max) {
		if (min == max)
			q_perr(p, n->pos, "expected %zu argument(s) in call to \"%s\", got %zu", min, fn->name, n->nargs);
		else if (n->nargs < min)
			q_perr(p, n->pos, "expected at least %zu argument(s) in call to \"%s\", got %zu", min, fn->name, n->nargs);
		else
			q_perr(p, n->pos, "expected at most %zu argument(s) in call to \"%s\", got %zu", max, fn->name, n->nargs);
		goto fail;
	}
	for (size_t i = 0; i < n->nargs; i++) {
		enum q_vt want = i < max ? fn->args[i] : fn->args[fn->variadic - 1];
		if (n->args[i]->type != want) {
			q_perr(p, n->args[i]->pos, "expected type %s in call to function \"%s\", got %s", q_vt_name(want),
			     fn->name, q_vt_name(n->args[i]->type));
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
		q_perr(p, t.pos, "expression nested too deeply");
		return NULL;
	}
	switch (t.k) {
	case T_NUM: case T_DUR:
		n = q_new_node(p, N_NUM, t.pos);
		if (!n)
			return NULL;
		n->num = t.k == T_NUM ? t.num : (double)t.dur / 1000.0;
		n->type = VT_SCALAR;
		n->end = t.pos + t.len;
		q_advance(p);
		break;
	case T_STR:
		n = q_new_node(p, N_STR, t.pos);
		if (!n)
			return NULL;
		n->type = VT_STRING;
		n->end = t.pos + t.len;
		if (!(n->str = q_str_tok(p, &t))) {
			q_node_free(n);
			return NULL;
		}
		q_advance(p);
		break;
	case T_LPAREN: {
		q_advance(p);
		struct q_node *in = q_parse_expr(p, 0);
		if (!in)
			return NULL;
		if (p->cur.k != T_RPAREN) {
			q_node_free(in);
			q_unexpected(p, "in paren expression, expected \")\"");
			return NULL;
		}
		n = q_new_node(p, N_PAREN, t.pos);
		if (!n) {
			q_node_free(in);
			return NULL;
		}
		n->a = in;
		n->type = in->type;
		n->end = p->cur.pos + 1;
		q_advance(p);
		break;
	}
	case T_LBRACE:
		n = q_parse_selector(p);
		break;
	case T_IDENT: {
		int op = agg_op(p, &t);
		struct q_token *nx = q_peek2(p);
		if (op >= 0 && (nx->k == T_LPAREN || q_is_word(p, nx, "by") || q_is_word(p, nx, "without"))) {
			n = parse_agg(p, op);
			break;
		}
		if (nx->k == T_LPAREN) {
			const struct q_func *fn = q_func_lookup(p->s + t.pos, t.len);
			if (!fn) {
				q_perr(p, t.pos, "unknown function with name \"%.*s\"", (int)t.len, p->s + t.pos);
				return NULL;
			}
			n = parse_call(p, fn);
			break;
		}
		static const char *const kw[] = { "by", "without", "on", "ignoring", "group_left", "group_right",
						  "bool", "offset" };
		for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
			if (q_is_word(p, &t, kw[i])) {
				q_unexpected(p, NULL);
				return NULL;
			}
		if (op >= 0) {
			q_perr(p, t.pos, "unexpected aggregation \"%.*s\"", (int)t.len, p->s + t.pos);
			return NULL;
		}
		n = q_parse_selector(p);
		break;
	}
	default:
		q_unexpected(p, NULL);
		return NULL;
	}
	n = q_parse_postfix(p, n);
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
	q_advance(p);
	if (++p->depth > 1000) {
		q_perr(p, t.pos, "expression nested too deeply");
		return NULL;
	}
	struct q_node *in = q_parse_expr(p, 6);
	p->depth--;
	if (!in)
		return NULL;
	if (in->type != VT_SCALAR && in->type != VT_VECTOR) {
		q_perr(p, t.pos, "unary expression only allowed on expressions of type scalar or instant vector, got %s",
		     q_vt_name(in->type));
		q_node_free(in);
		return NULL;
	}
	if (in->kind == N_NUM) {   /* fold -1 into the literal */
		if (t.k == T_SUB)
			in->num = -in->num;
		in->pos = t.pos;
		return in;
	}
	struct q_node *n = q_new_node(p, N_UNARY, t.pos);
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
		q_perr(p, oppos, "binary expression must contain only scalar and instant vector types");
		return -1;
	}
	if (n->bool_mod && !q_is_comparison(n->op)) {
		q_perr(p, oppos, "bool modifier can only be used on comparison operators");
		return -1;
	}
	if (q_is_comparison(n->op) && l == VT_SCALAR && r == VT_SCALAR && !n->bool_mod) {
		q_perr(p, oppos, "comparisons between scalars must use BOOL modifier");
		return -1;
	}
	if (q_is_setop(n->op)) {
		if (l == VT_SCALAR || r == VT_SCALAR) {
			q_perr(p, oppos, "set operator \"%s\" not allowed in binary scalar expression", opname);
			return -1;
		}
		if (n->card == CARD_MANY_ONE || n->card == CARD_ONE_MANY) {
			q_perr(p, oppos, "no grouping allowed for \"%s\" operation", opname);
			return -1;
		}
		n->card = CARD_MANY_MANY;
	}
	if (n->has_matching && (l != VT_VECTOR || r != VT_VECTOR)) {
		q_perr(p, oppos, "vector matching only allowed between instant vectors");
		return -1;
	}
	if (n->on)
		for (size_t i = 0; i < n->include.n; i++)
			if (q_strs_has(&n->mlabels, n->include.v[i])) {
				q_perr(p, oppos, "label \"%s\" must not occur in ON and GROUP clause at once", n->include.v[i]);
				return -1;
			}
	n->type = (l == VT_VECTOR || r == VT_VECTOR) ? VT_VECTOR : VT_SCALAR;
	return 0;
}

struct q_node *q_parse_expr(struct parser *p, int minprec)
{
	struct q_node *left = parse_unary(p);
	while (left && !p->failed) {
		int prec = binop_prec(p->cur.k);
		if (!prec || prec < minprec)
			break;
		struct q_token opt = p->cur;
		struct q_node *n = q_new_node(p, N_BIN, left->pos);
		if (!n)
			break;
		n->op = opt.k;
		n->a = left;
		left = NULL;
		q_advance(p);
		if (q_is_word(p, &p->cur, "bool")) {
			n->bool_mod = 1;
			q_advance(p);
		}
		if (q_is_word(p, &p->cur, "on") || q_is_word(p, &p->cur, "ignoring")) {
			n->on = q_is_word(p, &p->cur, "on");
			n->has_matching = 1;
			q_advance(p);
			if (q_parse_label_list(p, &n->mlabels) != 0) {
				q_node_free(n);
				return NULL;
			}
			if (q_is_word(p, &p->cur, "group_left") || q_is_word(p, &p->cur, "group_right")) {
				n->card = q_is_word(p, &p->cur, "group_left") ? CARD_MANY_ONE : CARD_ONE_MANY;
				q_advance(p);
				if (p->cur.k == T_LPAREN && q_parse_label_list(p, &n->include) != 0) {
					q_node_free(n);
					return NULL;
				}
			}
		} else if (q_is_word(p, &p->cur, "group_left") || q_is_word(p, &p->cur, "group_right")) {
			q_unexpected(p, "in binary expression, group modifiers need on() or ignoring()");
			q_node_free(n);
			return NULL;
		}
		n->b = q_parse_expr(p, prec == 6 ? prec : prec + 1);
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
	q_advance(&p);
	struct q_node *root = NULL;
	if (!p.failed) {
		if (p.cur.k == T_EOF)
			q_perr(&p, 0, "no expression found in input");
		else
			root = q_parse_expr(&p, 0);
	}
	if (root && !p.failed && p.cur.k != T_EOF)
		q_unexpected(&p, NULL);
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

