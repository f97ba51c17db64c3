/* parse_int.h — private to the PromQL parser (parse.c, parse_sel.c): the
 * parser state and the helpers both halves use. */
#ifndef OBS_QUERY_PARSE_INT_H
#define OBS_QUERY_PARSE_INT_H

#include <stddef.h>

#include "core/buf.h"
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

/* parse.c */
struct q_node *q_parse_expr(struct parser *p, int minprec);
void q_perr(struct parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void q_advance(struct parser *p);
struct q_token *q_peek2(struct parser *p);
int q_is_word(const struct parser *p, const struct q_token *t, const char *w);
void q_unexpected(struct parser *p, const char *context);
int q_expect(struct parser *p, enum q_tok k, const char *context);
struct q_node *q_new_node(struct parser *p, enum q_kind k, size_t pos);
char *q_dup_tok(struct parser *p, const struct q_token *t);
char *q_str_tok(struct parser *p, const struct q_token *t);
const char *q_vt_name(enum q_vt t);

/* parse_sel.c: selectors, label lists, durations and postfix modifiers */
int q_parse_label_list(struct parser *p, struct q_strs *s);
struct q_node *q_parse_selector(struct parser *p);
struct q_node *q_parse_postfix(struct parser *p, struct q_node *e);

#endif
