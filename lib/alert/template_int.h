/* template_int.h — private to lib/alert/template*.c: the template tree and
 * runtime values. */
#ifndef OBS_ALERT_TEMPLATE_INT_H
#define OBS_ALERT_TEMPLATE_INT_H

#include "alert/template.h"

#include <stdint.h>

/* bytes Prometheus prepends ({{$labels := .Labels}}... on line 1) */
#define TMPL_PREFIX_LEN 112

enum targ_kind { TA_FIELD, TA_VAR, TA_DOT, TA_STR, TA_NUM, TA_BOOL, TA_NIL, TA_IDENT, TA_PIPE };

struct tpipe;

struct targ {
	enum targ_kind kind;
	size_t pos;
	char *s;               /* string literal, identifier, variable name ("$x") */
	size_t slen;
	char **fields;         /* .A.B after the term (TA_FIELD: the fields themselves) */
	size_t nfields;
	double f;
	int64_t i;
	int is_int;            /* TA_NUM: an integer constant */
	int b;                 /* TA_BOOL */
	struct tpipe *pipe;    /* TA_PIPE */
};

struct tcmd {
	struct targ **args;
	size_t nargs;
	size_t pos, end;       /* source span, for error context */
};

struct tpipe {
	size_t pos;
	int assign;            /* '=' rather than ':=' */
	char *decl[2];
	int ndecl;
	struct tcmd **cmds;
	size_t ncmds;
};

enum tn_kind { TN_TEXT, TN_ACTION, TN_IF, TN_RANGE, TN_WITH };

struct tlist;

struct tnode {
	enum tn_kind kind;
	size_t pos;
	const char *text;      /* TN_TEXT: into the template's source copy */
	size_t tlen;
	struct tpipe *pipe;
	struct tlist *list, *elselist;
};

struct tlist {
	struct tnode **v;
	size_t n, cap;
};

struct obs_tmpl {
	char *name;
	char *src;
	size_t srclen;
	struct tlist *root;
	int is_static;
};

/* line and column (Go's ErrorContext, with the prefix on line 1) of pos */
void tmpl_position(const struct obs_tmpl *t, size_t pos, int *line, int *col);

/* ---- runtime values (template_exec.c, template_fn.c) ---- */

enum tv_kind { TV_NIL, TV_STR, TV_FLOAT, TV_INT, TV_BOOL, TV_MAP, TV_VEC, TV_SAMPLE, TV_DATA };

struct tsample {
	struct obs_labels labels;
	double v;
};

struct tv {
	enum tv_kind k;
	const char *s;                 /* TV_STR (arena or template-owned) */
	size_t slen;
	double f;
	int64_t i;
	int b;
	const struct obs_labels *map;  /* TV_MAP */
	struct tsample *samp;          /* TV_VEC (nsamp) / TV_SAMPLE (one) */
	size_t nsamp;
};

struct texec;

/* arena strings and allocations owned by one expansion */
char *tx_strdup(struct texec *x, const char *s, size_t n);
void *tx_alloc(struct texec *x, size_t n);
const struct obs_tmpl_data *tx_data(struct texec *x);
/* set the error (printf style) and return -EINVAL */
int tx_fail(struct texec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int tv_truth(const struct tv *v);
const char *tv_type(const struct tv *v);
/* fmt.Sprint of one value (template output) */
int tv_print(const struct tv *v, struct obs_buf *out);

/* functions: 1 known, 0 not */
int tfn_known(const char *name, size_t n);
/* call name with args (piped value last). 0 or -EINVAL (tx_fail called) */
int tfn_call(struct texec *x, const char *name, struct tv *args, size_t nargs, struct tv *res);

/* Go's fmt.Sprintf of format f (fn bytes) with args, into b; and
 * Sprint/Sprintln (ln). 0 or -ENOMEM (template_printf.c) */
int tfn_sprintf(const char *f, size_t fn, const struct tv *args, size_t n, struct obs_buf *b);
int tfn_sprint(const struct tv *args, size_t n, int ln, struct obs_buf *b);

#endif
