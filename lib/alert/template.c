/* template.c — parsing Prometheus alert templates (Go text/template subset)
 * into a tree; the lexer of an action is template_lex.c, expansion is in
 * template_exec.c, functions in template_fn.c.
 *
 * Lexing follows Go: text up to "{{", actions up to "}}" ("{{- " trims the
 * white space before, " -}}" the white space after), comments
 * comments ({{ followed by slash-star ... star-slash }}), tokens inside actions: identifiers and keywords, fields
 * (.Name), ".", variables ($, $name), "string", `raw`, 'c', numbers, | ( )
 * := = ,. Parse errors carry Go's wording and the line. */
#include "alert/template_parse.h"
#include "core/vec.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tmpl_position(const struct obs_tmpl *t, size_t pos, int *line, int *col)
{
	int l = 1;
	size_t last = (size_t)-1;
	for (size_t i = 0; i < pos && i < t->srclen; i++)
		if (t->src[i] == '\n') {
			l++;
			last = i;
		}
	*line = l;
	*col = (int)(last == (size_t)-1 ? pos + TMPL_PREFIX_LEN : pos - last - 1);
}

int tmpl_perr(struct parser *ps, size_t pos, const char *fmt, ...)
{
	if (ps->failed)
		return -EINVAL;
	ps->failed = 1;
	int line, col;
	tmpl_position(ps->t, pos, &line, &col);
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "template: %s:%d: %s", ps->t->name, line, msg);
	return -EINVAL;
}

/* ---- tree helpers ---- */

static struct tlist *list_new(void)
{
	return calloc(1, sizeof(struct tlist));
}

static int list_add(struct tlist *l, struct tnode *nd)
{
	if (OBS_VEC_RESERVE(l->v, l->cap, l->n + 1))
		return -ENOMEM;
	l->v[l->n++] = nd;
	return 0;
}

static void pipe_free(struct tpipe *p);

static void arg_free(struct targ *a)
{
	if (!a)
		return;
	free(a->s);
	for (size_t i = 0; i < a->nfields; i++)
		free(a->fields[i]);
	free(a->fields);
	pipe_free(a->pipe);
	free(a);
}

static void pipe_free(struct tpipe *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->ndecl; i++)
		free(p->decl[i]);
	for (size_t i = 0; i < p->ncmds; i++) {
		for (size_t j = 0; j < p->cmds[i]->nargs; j++)
			arg_free(p->cmds[i]->args[j]);
		free(p->cmds[i]->args);
		free(p->cmds[i]);
	}
	free(p->cmds);
	free(p);
}

static void list_free(struct tlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		struct tnode *nd = l->v[i];
		pipe_free(nd->pipe);
		list_free(nd->list);
		list_free(nd->elselist);
		free(nd);
	}
	free(l->v);
	free(l);
}

void obs_tmpl_free(struct obs_tmpl *t)
{
	if (!t)
		return;
	list_free(t->root);
	free(t->name);
	free(t->src);
	free(t);
}

int obs_tmpl_is_static(const struct obs_tmpl *t)
{
	return t->is_static;
}

static struct token *peek(struct parser *ps)
{
	return &ps->tk[ps->ti];
}

static struct token *next(struct parser *ps)
{
	struct token *t = &ps->tk[ps->ti];
	if (t->k != K_EOF)
		ps->ti++;
	return t;
}

static int tok_is(struct parser *ps, const struct token *t, const char *word)
{
	return t->k == K_IDENT && t->len == strlen(word) && !memcmp(ps->s + t->pos, word, t->len);
}

/* ---- variables in scope ---- */

static int var_known(struct parser *ps, const char *s, size_t n)
{
	if (n == 1)
		return 1;   /* "$" */
	for (size_t i = ps->nvars; i-- > 0;)
		if (strlen(ps->vars[i]) == n && !memcmp(ps->vars[i], s, n))
			return 1;
	static const char *pre[] = { "$labels", "$externalLabels", "$externalURL", "$value" };
	for (size_t i = 0; i < 4; i++)
		if (strlen(pre[i]) == n && !memcmp(pre[i], s, n))
			return 1;
	return 0;
}

static int var_push(struct parser *ps, const char *name)
{
	if (ps->nvars == sizeof ps->vars / sizeof ps->vars[0])
		return tmpl_perr(ps, ps->act_pos, "too many variables");
	ps->vars[ps->nvars] = strdup(name);
	if (!ps->vars[ps->nvars])
		return -ENOMEM;
	ps->nvars++;
	return 0;
}

static void var_pop(struct parser *ps, size_t mark)
{
	while (ps->nvars > mark)
		free(ps->vars[--ps->nvars]);
}

/* ---- literals ---- */

static char *unquote(struct parser *ps, const struct token *t, size_t *len)
{
	const char *s = ps->s + t->pos + 1;
	size_t n = t->len - 2;
	char *o = malloc(n + 1);
	if (!o)
		return NULL;
	size_t k = 0;
	if (t->k == K_RAW) {
		memcpy(o, s, n);
		k = n;
	} else {
		for (size_t i = 0; i < n; i++) {
			if (s[i] != '\\') {
				o[k++] = s[i];
				continue;
			}
			i++;
			switch (s[i]) {
			case 'n': o[k++] = '\n'; break;
			case 't': o[k++] = '\t'; break;
			case 'r': o[k++] = '\r'; break;
			case 'a': o[k++] = '\a'; break;
			case 'b': o[k++] = '\b'; break;
			case 'f': o[k++] = '\f'; break;
			case 'v': o[k++] = '\v'; break;
			case '\\': o[k++] = '\\'; break;
			case '"': o[k++] = '"'; break;
			case '\'': o[k++] = '\''; break;
			case 'x':
				if (i + 2 < n + 1 && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
					char hx[3] = { s[i + 1], s[i + 2], 0 };
					o[k++] = (char)strtol(hx, NULL, 16);
					i += 2;
					break;
				}
				/* fall through */
			default:
				free(o);
				tmpl_perr(ps, t->pos, "invalid syntax");
				return NULL;
			}
		}
	}
	o[k] = 0;
	*len = k;
	return o;
}

static int parse_number(struct parser *ps, const struct token *t, struct targ *a)
{
	char buf[64];
	if (t->len >= sizeof buf)
		return tmpl_perr(ps, t->pos, "illegal number syntax: %.*s", (int)t->len, ps->s + t->pos);
	size_t k = 0;
	for (size_t i = 0; i < t->len; i++)
		if (ps->s[t->pos + i] != '_')
			buf[k++] = ps->s[t->pos + i];
	buf[k] = 0;
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 0);
	if (!*end && !errno && k) {
		a->is_int = 1;
		a->i = v;
		a->f = (double)v;
		return 0;
	}
	errno = 0;
	double f = strtod(buf, &end);
	if (*end || !k || strchr(buf, 'x') || strchr(buf, 'X') || !strcmp(buf, "inf"))
		return tmpl_perr(ps, t->pos, "bad number syntax: \"%s\"", buf);
	a->f = f;
	return 0;
}

/* ---- pipelines ---- */

static struct tpipe *parse_pipeline(struct parser *ps, const char *ctx, int in_parens);

static int add_field(struct parser *ps, struct targ *a, const struct token *t)
{
	char **v = realloc(a->fields, (a->nfields + 1) * sizeof *v);
	if (!v)
		return -ENOMEM;
	a->fields = v;
	v[a->nfields] = strndup(ps->s + t->pos + 1, t->len - 1);
	if (!v[a->nfields])
		return -ENOMEM;
	a->nfields++;
	return 0;
}

static struct targ *parse_operand(struct parser *ps)
{
	struct token *t = peek(ps);
	struct targ *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->pos = t->pos;
	switch (t->k) {
	case K_IDENT:
		next(ps);
		if (tok_is(ps, t, "true") || tok_is(ps, t, "false")) {
			a->kind = TA_BOOL;
			a->b = tok_is(ps, t, "true");
		} else if (tok_is(ps, t, "nil")) {
			a->kind = TA_NIL;
		} else {
			a->kind = TA_IDENT;
			a->s = strndup(ps->s + t->pos, t->len);
			if (!a->s)
				goto fail;
			if (!tfn_known(a->s, t->len)) {
				tmpl_perr(ps, t->pos, "function \"%s\" not defined", a->s);
				goto fail;
			}
		}
		break;
	case K_FIELD:
		a->kind = TA_FIELD;
		break;
	case K_DOT:
		next(ps);
		a->kind = TA_DOT;
		break;
	case K_VAR:
		next(ps);
		a->kind = TA_VAR;
		a->s = strndup(ps->s + t->pos, t->len);
		if (!a->s)
			goto fail;
		if (!var_known(ps, a->s, t->len)) {
			tmpl_perr(ps, t->pos, "undefined variable \"%s\"", a->s);
			goto fail;
		}
		break;
	case K_STR:
	case K_RAW:
		next(ps);
		a->kind = TA_STR;
		a->s = unquote(ps, t, &a->slen);
		if (!a->s)
			goto fail;
		break;
	case K_CHAR: {
		next(ps);
		a->kind = TA_NUM;
		a->is_int = 1;
		size_t l;
		char *c = unquote(ps, t, &l);
		if (!c)
			goto fail;
		a->i = l ? (unsigned char)c[0] : 0;
		a->f = (double)a->i;
		free(c);
		break;
	}
	case K_NUM:
		next(ps);
		a->kind = TA_NUM;
		if (parse_number(ps, t, a) < 0)
			goto fail;
		break;
	case K_LP:
		next(ps);
		a->kind = TA_PIPE;
		a->pipe = parse_pipeline(ps, "parenthesized pipeline", 1);
		if (!a->pipe)
			goto fail;
		if (peek(ps)->k != K_RP) {
			tmpl_perr(ps, peek(ps)->pos, "unclosed left paren");
			goto fail;
		}
		next(ps);
		break;
	default:
		tmpl_perr(ps, t->pos, "unexpected \"%.*s\" in operand", (int)(t->len ? t->len : 2),
		     t->len ? ps->s + t->pos : "}}");
		goto fail;
	}
	/* field chain: adjacent .X tokens */
	while (peek(ps)->k == K_FIELD && (a->kind == TA_FIELD || !peek(ps)->space_before)) {
		if (a->kind == TA_IDENT || a->kind == TA_STR || a->kind == TA_NUM || a->kind == TA_BOOL ||
		    a->kind == TA_NIL) {
			tmpl_perr(ps, peek(ps)->pos, "unexpected . after term \"%.*s\"", (int)(peek(ps)->pos - a->pos),
			     ps->s + a->pos);
			goto fail;
		}
		if (add_field(ps, a, next(ps)) < 0)
			goto fail;
		if (a->kind == TA_FIELD && peek(ps)->space_before)
			break;
	}
	return a;
fail:
	arg_free(a);
	return NULL;
}

static int cmd_end(const struct token *t)
{
	return t->k == K_EOF || t->k == K_PIPE || t->k == K_RP;
}

static struct tcmd *parse_command(struct parser *ps)
{
	struct tcmd *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->pos = peek(ps)->pos;
	while (!cmd_end(peek(ps))) {
		if (peek(ps)->k == K_COMMA || peek(ps)->k == K_DECL || peek(ps)->k == K_ASSIGN) {
			tmpl_perr(ps, peek(ps)->pos, "unexpected \"%.*s\" in operand", (int)peek(ps)->len,
			     ps->s + peek(ps)->pos);
			goto fail;
		}
		struct targ *a = parse_operand(ps);
		if (!a)
			goto fail;
		struct targ **v = realloc(c->args, (c->nargs + 1) * sizeof *v);
		if (!v) {
			arg_free(a);
			goto fail;
		}
		c->args = v;
		v[c->nargs++] = a;
	}
	if (!c->nargs) {
		tmpl_perr(ps, peek(ps)->pos, "missing value for command");
		goto fail;
	}
	c->end = ps->ti > 0 ? ps->tk[ps->ti - 1].pos + ps->tk[ps->ti - 1].len : c->pos;
	if (c->nargs > 1 && c->args[0]->kind != TA_IDENT && c->args[0]->kind != TA_FIELD &&
	    c->args[0]->kind != TA_VAR && c->args[0]->kind != TA_PIPE) {
		tmpl_perr(ps, c->pos, "can't give argument to non-function %.*s", (int)(c->args[1]->pos - c->pos - 1),
		     ps->s + c->pos);
		goto fail;
	}
	if (c->args[0]->kind == TA_NIL && c->nargs == 1) {
		/* Go refuses a bare nil command only when it is executed; allow */
	}
	return c;
fail:
	for (size_t j = 0; j < c->nargs; j++)
		arg_free(c->args[j]);
	free(c->args);
	free(c);
	return NULL;
}

/* Pipeline from the current token; ctx names the construct for "missing
 * value for CTX". Declarations are only recognised at the start. */
static struct tpipe *parse_pipeline(struct parser *ps, const char *ctx, int in_parens)
{
	struct tpipe *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->pos = peek(ps)->pos;
	/* $x := / $x = / $i, $v := */
	if (peek(ps)->k == K_VAR) {
		size_t save = ps->ti;
		struct token *v1 = next(ps), *v2 = NULL;
		if (peek(ps)->k == K_COMMA) {
			next(ps);
			if (peek(ps)->k == K_VAR)
				v2 = next(ps);
		}
		if ((peek(ps)->k == K_DECL || (peek(ps)->k == K_ASSIGN && !v2)) &&
		    (v2 || ps->tk[save + 1].k != K_COMMA)) {
			p->assign = peek(ps)->k == K_ASSIGN;
			next(ps);
			p->decl[0] = strndup(ps->s + v1->pos, v1->len);
			p->ndecl = 1;
			if (v2) {
				p->decl[1] = strndup(ps->s + v2->pos, v2->len);
				p->ndecl = 2;
			}
			if (p->assign && !var_known(ps, ps->s + v1->pos, v1->len)) {
				tmpl_perr(ps, v1->pos, "undefined variable \"%.*s\"", (int)v1->len, ps->s + v1->pos);
				goto fail;
			}
		} else {
			ps->ti = save;
		}
	}
	for (;;) {
		if (peek(ps)->k == K_EOF || peek(ps)->k == K_RP) {
			if (!p->ncmds) {
				tmpl_perr(ps, peek(ps)->pos, "missing value for %s", ctx);
				goto fail;
			}
			break;
		}
		struct tcmd *c = parse_command(ps);
		if (!c)
			goto fail;
		struct tcmd **v = realloc(p->cmds, (p->ncmds + 1) * sizeof *v);
		if (!v)
			goto fail;
		p->cmds = v;
		v[p->ncmds++] = c;
		if (peek(ps)->k == K_PIPE) {
			next(ps);
			if (cmd_end(peek(ps))) {
				tmpl_perr(ps, peek(ps)->pos, "missing command after |");   /* Go: "missing value for command" */
				goto fail;
			}
			continue;
		}
		if (peek(ps)->k == K_RP && !in_parens) {
			tmpl_perr(ps, peek(ps)->pos, "unexpected right paren");
			goto fail;
		}
		break;
	}
	/* declared variables become visible after the pipeline */
	if (!p->assign)
		for (int i = 0; i < p->ndecl; i++)
			if (var_push(ps, p->decl[i]) < 0)
				goto fail;
	return p;
fail:
	pipe_free(p);
	return NULL;
}

/* ---- lists and control structures ---- */

enum stop { ST_EOF, ST_END, ST_ELSE };

static struct tlist *parse_list(struct parser *ps, enum stop *how, size_t *stop_pos);

static int parse_control(struct parser *ps, struct tnode *nd, const char *ctx)
{
	size_t mark = ps->nvars;
	nd->pipe = parse_pipeline(ps, ctx, 0);
	if (!nd->pipe)
		return -EINVAL;
	if (peek(ps)->k != K_EOF)
		return tmpl_perr(ps, peek(ps)->pos, "unexpected \"%.*s\" in %s", (int)peek(ps)->len, ps->s + peek(ps)->pos, ctx);
	enum stop how;
	size_t sp;
	nd->list = parse_list(ps, &how, &sp);
	if (!nd->list)
		return -EINVAL;
	if (how == ST_EOF)
		return tmpl_perr(ps, ps->n, "unexpected EOF");
	if (how == ST_ELSE) {
		/* "else if ..." / "else with ..." chains into a nested node */
		if (peek(ps)->k == K_IDENT && (tok_is(ps, peek(ps), "if") || tok_is(ps, peek(ps), "with")) &&
		    nd->kind != TN_RANGE) {
			int is_if = tok_is(ps, peek(ps), "if");
			struct tnode *sub = calloc(1, sizeof *sub);
			nd->elselist = list_new();
			if (!sub || !nd->elselist || list_add(nd->elselist, sub) < 0) {
				free(sub);
				return -ENOMEM;
			}
			sub->kind = is_if ? TN_IF : TN_WITH;
			sub->pos = peek(ps)->pos;
			next(ps);
			var_pop(ps, mark);
			return parse_control(ps, sub, is_if ? "if" : "with");
		}
		if (peek(ps)->k != K_EOF)
			return tmpl_perr(ps, peek(ps)->pos, "unexpected \"%.*s\" in else", (int)peek(ps)->len,
				    ps->s + peek(ps)->pos);
		nd->elselist = parse_list(ps, &how, &sp);
		if (!nd->elselist)
			return -EINVAL;
		if (how == ST_EOF)
			return tmpl_perr(ps, ps->n, "unexpected EOF");
		if (how == ST_ELSE)
			return tmpl_perr(ps, sp, "expected end; found {{else}}");
	}
	var_pop(ps, mark);
	return 0;
}

static void trim_left_text(struct tnode *txt)
{
	while (txt->tlen && tmpl_is_space(txt->text[txt->tlen - 1]))
		txt->tlen--;
}

/* Text and actions until {{end}} / {{else}} / end of input. */
static struct tlist *parse_list(struct parser *ps, enum stop *how, size_t *stop_pos)
{
	struct tlist *l = list_new();
	if (!l)
		return NULL;
	const char *s = ps->s;
	size_t n = ps->n;
	for (;;) {
		size_t start = ps->p;
		if (ps->trim_next) {
			while (start < n && tmpl_is_space(s[start]))
				start++;
			ps->trim_next = 0;
		}
		const char *open = start < n ? memmem(s + start, n - start, "{{", 2) : NULL;
		size_t tend = open ? (size_t)(open - s) : n;
		struct tnode *txt = NULL;
		if (tend > start) {
			txt = calloc(1, sizeof *txt);
			if (!txt || list_add(l, txt) < 0) {
				free(txt);
				goto fail;
			}
			txt->kind = TN_TEXT;
			txt->pos = start;
			txt->text = s + start;
			txt->tlen = tend - start;
		}
		if (!open) {
			ps->p = n;
			*how = ST_EOF;
			return l;
		}
		size_t a = tend + 2;
		ps->act_pos = tend;
		if (a + 1 < n && s[a] == '-' && tmpl_is_space(s[a + 1])) {
			if (txt)
				trim_left_text(txt);
			a += 2;
		}
		/* comment */
		size_t c = a;
		if (c + 1 < n && s[c] == '/' && s[c + 1] == '*') {
			const char *close = memmem(s + c + 2, n - c - 2, "*/", 2);
			if (!close) {
				tmpl_perr(ps, tend, "unclosed comment");
				goto fail;
			}
			size_t q = (size_t)(close - s) + 2;
			if (q + 3 < n && s[q] == ' ' && s[q + 1] == '-' && s[q + 2] == '}' && s[q + 3] == '}') {
				ps->p = q + 4;
				ps->trim_next = 1;
			} else if (q + 1 < n && s[q] == '}' && s[q + 1] == '}') {
				ps->p = q + 2;
			} else {
				tmpl_perr(ps, tend, "comment ends before closing delimiter");
				goto fail;
			}
			continue;
		}
		ps->p = a;
		if (tmpl_lex_action(ps) < 0)
			goto fail;
		struct token *t = peek(ps);
		if (tok_is(ps, t, "end")) {
			next(ps);
			if (peek(ps)->k != K_EOF) {
				tmpl_perr(ps, peek(ps)->pos, "unexpected \"%.*s\" in end", (int)peek(ps)->len, s + peek(ps)->pos);
				goto fail;
			}
			*how = ST_END;
			*stop_pos = tend;
			return l;
		}
		if (tok_is(ps, t, "else")) {
			next(ps);
			*how = ST_ELSE;
			*stop_pos = tend;
			return l;
		}
		struct tnode *nd = calloc(1, sizeof *nd);
		if (!nd || list_add(l, nd) < 0) {
			free(nd);
			goto fail;
		}
		nd->pos = t->pos;
		if (tok_is(ps, t, "if") || tok_is(ps, t, "range") || tok_is(ps, t, "with")) {
			const char *ctx = tok_is(ps, t, "if") ? "if" : tok_is(ps, t, "range") ? "range" : "with";
			nd->kind = ctx[0] == 'i' ? TN_IF : ctx[0] == 'r' ? TN_RANGE : TN_WITH;
			next(ps);
			if (parse_control(ps, nd, ctx) < 0)
				goto fail;
			continue;
		}
		if (tok_is(ps, t, "define") || tok_is(ps, t, "template") || tok_is(ps, t, "block") ||
		    tok_is(ps, t, "break") || tok_is(ps, t, "continue")) {
			tmpl_perr(ps, t->pos, "{{%.*s}} is not supported", (int)t->len, s + t->pos);
			goto fail;
		}
		nd->kind = TN_ACTION;
		nd->pipe = parse_pipeline(ps, "command", 0);
		if (!nd->pipe)
			goto fail;
		if (peek(ps)->k != K_EOF) {
			tmpl_perr(ps, peek(ps)->pos, "unexpected \"%.*s\" in command", (int)peek(ps)->len, s + peek(ps)->pos);
			goto fail;
		}
	}
fail:
	list_free(l);
	return NULL;
}

int obs_tmpl_parse(const char *name, const char *text, size_t n, struct obs_tmpl **out, char *err, size_t errlen)
{
	*out = NULL;
	struct obs_tmpl *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->name = strdup(name);
	t->src = malloc(n + 1);
	if (!t->name || !t->src) {
		obs_tmpl_free(t);
		return -ENOMEM;
	}
	memcpy(t->src, text, n);
	t->src[n] = 0;
	t->srclen = n;
	t->is_static = memmem(text, n, "{{", 2) == NULL;
	struct parser ps = { .t = t, .s = t->src, .n = n, .err = err, .errlen = errlen };
	if (errlen)
		err[0] = 0;
	enum stop how;
	size_t sp = 0;
	t->root = parse_list(&ps, &how, &sp);
	if (t->root && how != ST_EOF) {
		tmpl_perr(&ps, sp, how == ST_END ? "unexpected {{end}}" : "unexpected {{else}}");
		list_free(t->root);
		t->root = NULL;
	}
	var_pop(&ps, 0);
	if (!t->root) {
		if (!ps.failed)
			snprintf(err, errlen, "out of memory");
		obs_tmpl_free(t);
		return ps.failed ? -EINVAL : -ENOMEM;
	}
	*out = t;
	return 0;
}
