/* ast.c — PromQL syntax tree: destruction and the canonical text printer
 * (Prometheus' String() forms: durations in units, binary operations
 * with their modifiers, selectors with sorted-as-written matchers). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/num.h"
#include "query/q.h"

void q_strs_release(struct q_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int q_strs_has(const struct q_strs *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], x) == 0)
			return 1;
	return 0;
}

void q_node_free(struct q_node *n)
{
	if (!n)
		return;
	free(n->str);
	free(n->name);
	for (size_t i = 0; i < n->nm; i++)
		obs_matcher_release(&n->m[i]);
	free(n->m);
	q_node_free(n->offset.expr);
	q_node_free(n->range.expr);
	q_node_free(n->step.expr);
	q_node_free(n->a);
	q_node_free(n->b);
	for (size_t i = 0; i < n->nargs; i++)
		q_node_free(n->args[i]);
	free(n->args);
	q_strs_release(&n->grouping);
	q_strs_release(&n->mlabels);
	q_strs_release(&n->include);
	free(n);
}

const char *q_agg_name(int op)
{
	static const char *const names[] = { "sum", "avg", "min", "max", "count", "stddev", "stdvar",
		"topk", "bottomk", "quantile", "count_values", "group", "limitk", "limit_ratio" };
	return op >= 0 && op < (int)(sizeof(names) / sizeof(names[0])) ? names[op] : "?";
}

const char *q_tok_text(enum q_tok k)
{
	switch (k) {
	case T_ADD: return "+";
	case T_SUB: return "-";
	case T_MUL: return "*";
	case T_DIV: return "/";
	case T_MOD: return "%";
	case T_POW: return "^";
	case T_EQLC: return "==";
	case T_NEQ: return "!=";
	case T_LTE: return "<=";
	case T_LSS: return "<";
	case T_GTE: return ">=";
	case T_GTR: return ">";
	case T_LAND: return "and";
	case T_LOR: return "or";
	case T_LUNLESS: return "unless";
	case T_ATAN2: return "atan2";
	default: return "?";
	}
}

int q_is_comparison(int op)
{
	return op == T_EQLC || op == T_NEQ || op == T_LTE || op == T_LSS || op == T_GTE || op == T_GTR;
}

int q_is_setop(int op)
{
	return op == T_LAND || op == T_LOR || op == T_LUNLESS;
}

static int put_dur(struct obs_buf *o, int64_t ms)
{
	if (ms == 0)
		return obs_buf_puts(o, "0s");
	int rc = 0;
	if (ms < 0) {
		rc |= obs_buf_putc(o, '-');
		ms = -ms;
	}
	static const struct { int64_t ms; const char *u; } units[] = {
		{ 365LL * 86400000, "y" }, { 7LL * 86400000, "w" }, { 86400000, "d" }, { 3600000, "h" },
		{ 60000, "m" }, { 1000, "s" }, { 1, "ms" },
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms >= units[i].ms) {
			rc |= obs_buf_printf(o, "%lld%s", (long long)(ms / units[i].ms), units[i].u);
			ms %= units[i].ms;
		}
	return rc;
}

static int put_qdur(struct obs_buf *o, const struct q_dur *d)
{
	if (d->expr)
		return q_node_format(d->expr, o);
	return put_dur(o, d->ms);
}

static int put_str(struct obs_buf *o, const char *s)
{
	int rc = obs_buf_putc(o, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			rc |= obs_buf_printf(o, "\\%c", c);
		else if (c == '\n')
			rc |= obs_buf_puts(o, "\\n");
		else if (c == '\t')
			rc |= obs_buf_puts(o, "\\t");
		else if (c < 0x20 || c == 0x7f)
			rc |= obs_buf_printf(o, "\\x%02x", c);
		else
			rc |= obs_buf_putc(o, (char)c);
	}
	return rc | obs_buf_putc(o, '"');
}

static int put_list(struct obs_buf *o, const struct q_strs *s)
{
	int rc = obs_buf_putc(o, '(');
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			rc |= obs_buf_puts(o, ", ");
		if (obs_label_name_valid(s->v[i], strlen(s->v[i])))
			rc |= obs_buf_puts(o, s->v[i]);
		else
			rc |= put_str(o, s->v[i]);
	}
	return rc | obs_buf_putc(o, ')');
}

static int put_mods(struct obs_buf *o, const struct q_node *n)
{
	int rc = 0;
	if (n->at == AT_TS)
		rc |= obs_buf_printf(o, " @ %.3f", (double)n->at_ms / 1000.0);
	else if (n->at == AT_START)
		rc |= obs_buf_puts(o, " @ start()");
	else if (n->at == AT_END)
		rc |= obs_buf_puts(o, " @ end()");
	if (n->has_offset) {
		rc |= obs_buf_puts(o, " offset ");
		rc |= put_qdur(o, &n->offset);
	}
	return rc;
}

/* Would a bare metric name read back as something else? */
static int reserved(const char *s)
{
	static const char *const kw[] = { "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk",
		"bottomk", "quantile", "count_values", "group", "limitk", "limit_ratio", "by", "without", "on",
		"ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless", "atan2", "inf", "nan" };
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (strcasecmp(s, kw[i]) == 0)
			return 1;
	return 0;
}

static int put_selector(struct obs_buf *o, const struct q_node *n)
{
	static const char *const ops[] = { "=", "!=", "=~", "!~" };
	int rc = 0;
	size_t shown = 0;
	int quoted_name = n->name && (!obs_metric_name_valid(n->name, strlen(n->name)) || reserved(n->name));
	if (n->name && !quoted_name)
		rc |= obs_buf_puts(o, n->name);
	if (quoted_name) {
		rc |= obs_buf_putc(o, '{');
		rc |= put_str(o, n->name);
		shown++;
	}
	for (size_t i = 0; i < n->nm; i++) {
		const struct obs_matcher *m = &n->m[i];
		if (n->name && m->op == OBS_MATCH_EQ && strcmp(m->name, "__name__") == 0 && strcmp(m->value, n->name) == 0)
			continue;
		rc |= obs_buf_puts(o, shown++ ? ", " : "{");
		if (obs_label_name_valid(m->name, strlen(m->name)))
			rc |= obs_buf_puts(o, m->name);
		else
			rc |= put_str(o, m->name);
		rc |= obs_buf_puts(o, ops[m->op]);
		rc |= put_str(o, m->value);
	}
	if (shown)
		rc |= obs_buf_putc(o, '}');
	else if (!n->name)
		rc |= obs_buf_puts(o, "{}");
	return rc;
}

int q_node_format(const struct q_node *n, struct obs_buf *o)
{
	int rc = 0;
	char num[32];
	switch (n->kind) {
	case N_NUM:
		if (isinf(n->num))
			return obs_buf_puts(o, n->num > 0 ? "Inf" : "-Inf");
		if (isnan(n->num))
			return obs_buf_puts(o, "NaN");
		obs_num_format(n->num, num);
		return obs_buf_puts(o, num);
	case N_STR:
		return put_str(o, n->str);
	case N_VSEL:
		return put_selector(o, n) | put_mods(o, n);
	case N_MSEL:
		rc |= put_selector(o, n->a);
		rc |= obs_buf_putc(o, '[');
		rc |= put_qdur(o, &n->range);
		rc |= obs_buf_putc(o, ']');
		return rc | put_mods(o, n->a);
	case N_SUBQ:
		rc |= q_node_format(n->a, o);
		rc |= obs_buf_putc(o, '[');
		rc |= put_qdur(o, &n->range);
		rc |= obs_buf_putc(o, ':');
		if (n->step.expr || n->step.ms)
			rc |= put_qdur(o, &n->step);
		rc |= obs_buf_putc(o, ']');
		return rc | put_mods(o, n);
	case N_PAREN:
		if (n->a->kind == N_BIN)   /* it prints its own parentheses */
			return q_node_format(n->a, o);
		rc |= obs_buf_putc(o, '(');
		rc |= q_node_format(n->a, o);
		return rc | obs_buf_putc(o, ')');
	case N_UNARY:
		rc |= obs_buf_puts(o, n->op == T_SUB ? "-" : "+");
		return rc | q_node_format(n->a, o);
	case N_CALL:
		rc |= obs_buf_printf(o, "%s(", n->fn->name);
		for (size_t i = 0; i < n->nargs; i++) {
			if (i)
				rc |= obs_buf_puts(o, ", ");
			rc |= q_node_format(n->args[i], o);
		}
		return rc | obs_buf_putc(o, ')');
	case N_AGG:
		rc |= obs_buf_puts(o, q_agg_name(n->op));
		if (n->has_grouping) {
			rc |= obs_buf_puts(o, n->without ? " without " : " by ");
			rc |= put_list(o, &n->grouping);
			rc |= obs_buf_putc(o, ' ');
		}
		rc |= obs_buf_putc(o, '(');
		if (n->b) {
			rc |= q_node_format(n->b, o);
			rc |= obs_buf_puts(o, ", ");
		}
		rc |= q_node_format(n->a, o);
		return rc | obs_buf_putc(o, ')');
	case N_BIN:
		rc |= obs_buf_putc(o, '(');
		rc |= q_node_format(n->a, o);
		rc |= obs_buf_printf(o, " %s ", q_tok_text((enum q_tok)n->op));
		if (n->bool_mod)
			rc |= obs_buf_puts(o, "bool ");
		if (n->has_matching) {
			rc |= obs_buf_puts(o, n->on ? "on" : "ignoring");
			rc |= put_list(o, &n->mlabels);
			rc |= obs_buf_putc(o, ' ');
			if (n->card == CARD_MANY_ONE || n->card == CARD_ONE_MANY) {
				/* always with (), or a parenthesised right side would read as the list */
				rc |= obs_buf_puts(o, n->card == CARD_MANY_ONE ? "group_left" : "group_right");
				rc |= put_list(o, &n->include);
				rc |= obs_buf_putc(o, ' ');
			}
		}
		rc |= q_node_format(n->b, o);
		return rc | obs_buf_putc(o, ')');
	default:
		return obs_buf_puts(o, "?");
	}
}

static int pin(struct q_node *n, int64_t t)
{
	if (!n)
		return 0;
	switch (n->kind) {
	case N_VSEL:
		if (!n->at) {
			n->at = AT_TS;
			n->at_ms = t;
		}
		return 0;
	case N_MSEL:
		return pin(n->a, t);
	case N_SUBQ:
		if (!n->at) {
			n->at = AT_TS;
			n->at_ms = t;
		}
		return 0;
	case N_CALL: {
		static const char *const unsafe[] = { "days_in_month", "day_of_month", "day_of_week", "day_of_year",
			"hour", "minute", "month", "year", "predict_linear", "time", "timestamp", "start", "end",
			"range", "step", "log_count_over_time" };
		int r = 0;
		for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++)
			if (strcmp(n->fn->name, unsafe[i]) == 0)
				r = 1;
		for (size_t i = 0; i < n->nargs; i++)
			r |= pin(n->args[i], t);
		return r;
	}
	default:
		return pin(n->a, t) | pin(n->b, t);
	}
}

int obs_query_expr_pin(struct obs_query_expr *e, int64_t t)
{
	return pin(e->root, t);
}

int obs_query_expr_format(const struct obs_query_expr *e, struct obs_buf *out)
{
	return q_node_format(e->root, out) ? -ENOMEM : 0;
}
