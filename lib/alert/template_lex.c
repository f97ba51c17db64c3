/* template_lex.c — the lexer of one template action (Go text/template
 * tokens: identifiers, fields, variables, strings, raw strings, chars,
 * numbers, | ( ) := = ,), and the trimming markers; template.c parses. */
#include "alert/template_parse.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* ---- lexing one action ---- */

int tmpl_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_alnum_(char c)
{
	return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Lex from ps->p (just after "{{" and an optional "- ") to "}}": fills tk[].
 * Leaves ps->p after "}}" and sets trim_next for " -}}". */
int tmpl_lex_action(struct parser *ps)
{
	const char *s = ps->s;
	size_t p = ps->p, n = ps->n;
	ps->ntk = ps->ti = 0;
	int sp = 1;
	for (;;) {
		while (p < n && tmpl_is_space(s[p])) {
			/* " -}}" */
			if (p + 3 < n && s[p + 1] == '-' && s[p + 2] == '}' && s[p + 3] == '}') {
				ps->p = p + 4;
				ps->trim_next = 1;
				goto done;
			}
			p++;
			sp = 1;
		}
		if (p >= n)
			return tmpl_perr(ps, ps->act_pos, "unclosed action");
		if (s[p] == '}' && p + 1 < n && s[p + 1] == '}') {
			ps->p = p + 2;
			ps->trim_next = 0;
			goto done;
		}
		if (ps->ntk == sizeof ps->tk / sizeof ps->tk[0] - 1)
			return tmpl_perr(ps, p, "action too long");
		struct token *t = &ps->tk[ps->ntk];
		t->pos = p;
		t->space_before = sp;
		sp = 0;
		char c = s[p];
		size_t q = p + 1;
		if (c == '|') {
			t->k = K_PIPE;
		} else if (c == '(') {
			t->k = K_LP;
		} else if (c == ')') {
			t->k = K_RP;
		} else if (c == ',') {
			t->k = K_COMMA;
		} else if (c == '=') {
			t->k = K_ASSIGN;
		} else if (c == ':') {
			if (q >= n || s[q] != '=')
				return tmpl_perr(ps, p, "expected :=");
			t->k = K_DECL;
			q++;
		} else if (c == '"' || c == '\'') {
			t->k = c == '"' ? K_STR : K_CHAR;
			while (q < n && s[q] != c) {
				if (s[q] == '\\' && q + 1 < n)
					q++;
				if (s[q] == '\n')
					return tmpl_perr(ps, p, c == '"' ? "unterminated quoted string" : "unterminated character constant");
				q++;
			}
			if (q >= n)
				return tmpl_perr(ps, p, c == '"' ? "unterminated quoted string" : "unterminated character constant");
			q++;
		} else if (c == '`') {
			t->k = K_RAW;
			while (q < n && s[q] != '`')
				q++;
			if (q >= n)
				return tmpl_perr(ps, p, "unterminated raw quoted string");
			q++;
		} else if (c == '$') {
			t->k = K_VAR;
			while (q < n && is_alnum_(s[q]))
				q++;
		} else if (c == '.' && !(q < n && isdigit((unsigned char)s[q]))) {
			if (q < n && is_alnum_(s[q])) {
				t->k = K_FIELD;
				while (q < n && is_alnum_(s[q]))
					q++;
			} else {
				t->k = K_DOT;
			}
		} else if (isdigit((unsigned char)c) || c == '.' ||
			   ((c == '-' || c == '+') && q < n && (isdigit((unsigned char)s[q]) || s[q] == '.'))) {
			t->k = K_NUM;
			while (q < n && (is_alnum_(s[q]) || s[q] == '.' ||
					 ((s[q] == '-' || s[q] == '+') && (s[q - 1] == 'e' || s[q - 1] == 'E' ||
									   s[q - 1] == 'p' || s[q - 1] == 'P'))))
				q++;
		} else if (is_alnum_(c)) {
			t->k = K_IDENT;
			while (q < n && is_alnum_(s[q]))
				q++;
		} else if (c == '/' && q < n && s[q] == '*') {
			return tmpl_perr(ps, p, "comment must be the whole action");
		} else {
			return tmpl_perr(ps, p, "unexpected \"%c\" in command", c);
		}
		t->len = q - p;
		ps->ntk++;
		p = q;
	}
done:
	ps->tk[ps->ntk].k = K_EOF;
	ps->tk[ps->ntk].pos = ps->p;
	ps->tk[ps->ntk].len = 0;
	ps->tk[ps->ntk].space_before = 1;
	return 0;
}
