/* template_parse.h — private to template.c (the parser) and
 * template_lex.c (the lexer of one action): tokens and the parser state. */
#ifndef OBS_ALERT_TEMPLATE_PARSE_H
#define OBS_ALERT_TEMPLATE_PARSE_H

#include "alert/template_int.h"

#include <stddef.h>

enum tok { K_EOF, K_IDENT, K_FIELD, K_DOT, K_VAR, K_STR, K_RAW, K_CHAR, K_NUM, K_PIPE, K_LP, K_RP,
	   K_DECL, K_ASSIGN, K_COMMA };

struct token {
	enum tok k;
	size_t pos, len;        /* in src */
	int space_before;
};

struct parser {
	struct obs_tmpl *t;
	const char *s;
	size_t n;
	size_t p;               /* text cursor */
	/* tokens of the current action */
	struct token tk[256];
	size_t ntk, ti;
	size_t act_pos;         /* position of the current action */
	int trim_next;
	/* declared variables (for undefined-variable errors) */
	char *vars[128];
	size_t nvars;
	char *err;
	size_t errlen;
	int failed;
};

/* Record a parse error at pos (Go's wording, with the line), once: later
 * ones are dropped. Always -EINVAL. (template.c) */
int tmpl_perr(struct parser *ps, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* space, tab, CR or LF: what trimming removes (template_lex.c) */
int tmpl_is_space(char c);
/* Lex one action from ps->p (after "{{" and an optional "- ") to "}}" into
 * ps->tk; ps->p ends after "}}", trim_next set for " -}}". 0 or -EINVAL
 * (template_lex.c) */
int tmpl_lex_action(struct parser *ps);

#endif
