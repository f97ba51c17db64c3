/* q.h — private to lib/query: tokens, the AST, the function table and the
 * evaluator's value types. */
#ifndef OBS_QUERY_Q_H
#define OBS_QUERY_Q_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/labels.h"
#include "index/matcher.h"
#include "query/query.h"

/* ---- lexer ------------------------------------------------------------ */

enum q_tok {
	T_EOF, T_ERR, T_IDENT, T_NUM, T_DUR, T_STR,
	T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_COLON, T_AT,
	T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_POW,
	T_EQLC, T_NEQ, T_LTE, T_LSS, T_GTE, T_GTR,   /* comparisons */
	T_EQL, T_EQL_RE, T_NEQ_RE,                   /* = =~ !~ (matchers) */
	T_LAND, T_LOR, T_LUNLESS, T_ATAN2,           /* keyword operators */
};

struct q_token {
	enum q_tok k;
	size_t pos, len;   /* byte offset and length in the input */
	double num;        /* T_NUM */
	int64_t dur;       /* T_DUR, ms */
};

struct q_lexer {
	const char *s;
	size_t n, p;
	int brackets;      /* inside [...]: ':' separates, else it starts a name */
	char err[160];
};

/* Next token; T_ERR sets lx->err. */
struct q_token q_lex(struct q_lexer *lx);
/* Decode a quoted string token into out (NUL-terminated, may contain no NUL).
 * 0 or -EINVAL with *why. */
int q_unquote(const char *s, size_t n, struct obs_buf *out, const char **why);
/* The end of a number's exponent (e or E, an optional sign, digits) at
 * s[i], or i when none starts there (lex.c). */
size_t q_exponent_end(const char *s, size_t n, size_t i);
/* Parse a PromQL duration ("1h30m", "500ms"). 0 or -EINVAL. */
int q_parse_duration(const char *s, size_t n, int64_t *ms);
/* "LINE:COL" of byte offset pos. */
void q_position(const char *s, size_t pos, int *line, int *col);

/* ---- AST -------------------------------------------------------------- */

enum q_kind { N_NUM, N_STR, N_VSEL, N_MSEL, N_SUBQ, N_CALL, N_AGG, N_BIN, N_UNARY, N_PAREN };
enum q_vt { VT_SCALAR = OBS_QV_SCALAR, VT_STRING = OBS_QV_STRING, VT_VECTOR = OBS_QV_VECTOR,
	    VT_MATRIX = OBS_QV_MATRIX, VT_NONE = 9 };

enum q_agg_op { A_SUM, A_AVG, A_MIN, A_MAX, A_COUNT, A_STDDEV, A_STDVAR, A_TOPK, A_BOTTOMK,
		A_QUANTILE, A_COUNT_VALUES, A_GROUP, A_LIMITK, A_LIMIT_RATIO };
enum q_at { AT_NONE, AT_TS, AT_START, AT_END };
enum q_card { CARD_ONE_ONE, CARD_MANY_ONE, CARD_ONE_MANY, CARD_MANY_MANY };

/* A duration that may be an expression (step(), min_of(), arithmetic):
 * expr NULL means the constant ms. */
struct q_dur {
	int64_t ms;
	struct q_node *expr;
};

struct q_strs {
	char **v;
	size_t n;
};

struct q_func;

struct q_node {
	enum q_kind kind;
	enum q_vt type;
	size_t pos, end;          /* span in the input */
	double num;               /* N_NUM */
	char *str;                /* N_STR */
	/* N_VSEL: selector; N_VSEL and N_SUBQ: offset and @ */
	char *name;
	int name_outside;         /* name written before the braces */
	struct obs_matcher *m;
	size_t nm;
	struct q_dur offset;
	int has_offset;
	enum q_at at;
	int64_t at_ms;
	/* N_MSEL, N_SUBQ */
	struct q_dur range, step;
	/* children: MSEL a=VSEL; SUBQ a; UNARY a; PAREN a; BIN a b; AGG a=expr b=param */
	struct q_node *a, *b;
	int op;                   /* N_BIN: enum q_tok; N_UNARY: T_ADD/T_SUB; N_AGG: q_agg_op */
	/* N_CALL */
	const struct q_func *fn;
	struct q_node **args;
	size_t nargs;
	/* N_AGG */
	struct q_strs grouping;
	int without, has_grouping;
	/* N_BIN */
	int bool_mod;
	enum q_card card;
	int on, has_matching;
	struct q_strs mlabels, include;
};

struct obs_query_expr {
	struct q_node *root;
	char *text;
};

void q_node_free(struct q_node *n);
int q_node_format(const struct q_node *n, struct obs_buf *out);
const char *q_agg_name(int op);
const char *q_tok_text(enum q_tok k);
int q_is_comparison(int op);
int q_is_setop(int op);
void q_strs_release(struct q_strs *s);
int q_strs_has(const struct q_strs *s, const char *x);

/* ---- values ------------------------------------------------------------ */

/* An instant vector over the steps of an evaluation: point i exists when
 * ok[i]. dropname: __name__ is to be removed (delayed name removal). */
struct q_ser {
	struct obs_labels l;
	double *v;
	uint8_t *ok;
	int64_t *t;        /* sample timestamps (selector results for timestamp()), or NULL */
	int dropname;
};

struct q_mat {
	struct q_ser *s;
	size_t n, cap;
};

/* A range vector: raw samples per series (from a matrix selector or a
 * subquery), windows are cut per step by the consumer. */
struct q_raw {
	struct obs_labels l;
	int64_t *t;
	double *v;
	size_t n, cap;
	int dropname;
};

struct q_rv {
	struct q_raw *s;
	size_t n, cap;
	int64_t range;
	int64_t off;     /* offset: wend[i] + off is the step's evaluation time */
	int64_t *wend;   /* per step: the window's right edge (ms) */
};

struct q_val {
	enum q_vt type;
	double *sc;          /* VT_SCALAR: one value per step */
	char *str;           /* VT_STRING */
	struct q_mat m;      /* VT_VECTOR */
	struct q_rv rv;      /* VT_MATRIX */
};

struct q_ev {
	const struct obs_query_opts *o;
	const struct obs_query_store *st;
	int64_t start, end, step;     /* this evaluation's steps */
	size_t nsteps;
	int64_t qstart, qend;         /* the query's range, for start()/end() */
	uint64_t samples;             /* currently accounted */
	int64_t deadline;             /* ms, 0 = none */
	unsigned tick;
	char *err;                    /* res->err */
	size_t errlen;
	char ***warn;                 /* annotations (res->warnings) */
	size_t *nwarn;
	const char *text;             /* the expression (annotation positions) */
	int want_ts;                  /* selectors fill q_ser.t */
	int *first_rc;                /* the code of the first error (its message is in err) */
	int64_t sub_step;             /* default subquery step */
	int64_t qstep;                /* the query's step (0 for instant queries) */
};

static inline int64_t q_ts(const struct q_ev *ev, size_t i) { return ev->start + (int64_t)i * ev->step; }

int q_errf(struct q_ev *ev, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void q_warnf(struct q_ev *ev, const struct q_node *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int q_check(struct q_ev *ev);                      /* timeout */
int q_account(struct q_ev *ev, uint64_t samples);  /* sample limit */

int q_eval(struct q_ev *ev, const struct q_node *n, struct q_val *out);
void q_val_release(struct q_val *v);
/* Release v and give its points back to the sample limit. */
void q_val_drop(struct q_ev *ev, struct q_val *v);
void q_mat_release(struct q_mat *m);
void q_rv_release(struct q_rv *rv);
/* Append a series with labels l (copied, or moved when own) and room for the steps. */
struct q_ser *q_mat_add(struct q_ev *ev, struct q_mat *m, const struct obs_labels *l, int own);
/* Duration values (offset, ranges, steps). */
int q_dur_eval(struct q_ev *ev, const struct q_dur *d, int64_t *ms);

/* labels helpers */
int q_labels_from(struct obs_labels *out, const struct obs_label *v, size_t n);  /* sorts, drops empty */
int q_labels_set(struct obs_labels *l, const char *name, const char *value);      /* value "" deletes */
int q_labels_del(struct obs_labels *l, const char *name);
int q_labels_keep(struct obs_labels *l, const struct q_strs *keep, int keep_name);
int q_labels_drop(struct obs_labels *l, const struct q_strs *drop, int drop_name);
/* Key text of the labels named in s (on) or not named (ignoring), name
 * excluded unless listed; appended to out. */
int q_labels_key(const struct obs_labels *l, const struct q_strs *s, int on, struct obs_buf *out);
int q_labels_format(const struct obs_labels *l, struct obs_buf *out);

/* functions, aggregations and binary operators */
struct q_func {
	const char *name;
	enum q_vt args[6];
	int nargs;         /* fixed arguments */
	int optional;      /* trailing optional arguments */
	int variadic;      /* 1 + index in args of the type that repeats, 0 = none */
	enum q_vt ret;
	int keeps_name;    /* the result keeps __name__ (last_over_time, label_*, sort*) */
	int experimental;  /* behind a feature flag in Prometheus (accepted here) */
	int (*call)(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out);
};
const struct q_func *q_func_lookup(const char *name, size_t n);

int q_eval_call(struct q_ev *ev, const struct q_node *n, struct q_val *out);
/* The matrix selector a range function call can stream from (*ri its
 * argument index), or NULL. */
const struct q_node *q_stream_msel(const struct q_node *n, size_t *ri);
struct q_fold;
/* q_eval_call; a streamable range function folds its rows into fold. */
int q_eval_call_into(struct q_ev *ev, const struct q_node *n, struct q_fold *fold, struct q_val *out);
int q_eval_agg(struct q_ev *ev, const struct q_node *n, struct q_val *out);
int q_eval_bin(struct q_ev *ev, const struct q_node *n, struct q_val *a, struct q_val *b, struct q_val *out);
/* Window [lo, hi) of raw series r for the window (end - range, end]. */
void q_window(const struct q_raw *r, int64_t end, int64_t range, size_t *lo, size_t *hi);

/* The same for consecutive steps: a cursor that moves forward while the
 * window ends do not decrease (zero-initialise it per series). */
struct q_wcur {
	size_t lo, hi;
	int64_t last;
	int init;
};
static inline void q_window_next(const struct q_raw *r, int64_t end, int64_t range, struct q_wcur *c,
				 size_t *lo, size_t *hi)
{
	if (!c->init || end < c->last) {
		q_window(r, end, range, &c->lo, &c->hi);
		c->init = 1;
	} else {
		while (c->lo < r->n && r->t[c->lo] <= end - range)
			c->lo++;
		while (c->hi < r->n && r->t[c->hi] <= end)
			c->hi++;
	}
	c->last = end;
	*lo = c->lo;
	*hi = c->hi;
}
double q_quantile(double q, double *v, size_t n);   /* sorts v */
double q_kahan_add(double v, double *sum, double *c);
/* Go's strconv.FormatFloat(v, 'f', -1, 64). */
void q_format_f(double v, char *buf, size_t len);

/* Sliding windows over a range query's steps (func_slide.c). direct()
 * computes one window as the plain scan does (0: no value). Fills v/ok and
 * *pts for one series and returns 1; 0 when the windows do not move
 * forward (the caller computes them directly); -errno. dq holds r->n
 * indices. */
enum { Q_SLIDE_MIN, Q_SLIDE_MAX, Q_SLIDE_SUM, Q_SLIDE_AVG };
typedef int (*q_slide_direct_fn)(void *ctx, const int64_t *t, const double *v, size_t n, int64_t wend, double *out);
int q_slide_series(struct q_ev *ev, int fn, const struct q_raw *r, const int64_t *wend, int64_t range,
		   size_t *dq, q_slide_direct_fn direct, void *dctx, double *v, uint8_t *ok, long *pts);

/* Planning (plan.c): a range function n over matrix selector msel, whose
 * windows are rv, answered from the store's rollup buckets. Each computed
 * series goes to row(c, ...), each series the store gives raw to raw(c,
 * ...). 1 when answered so, 0 when planning does not apply (nothing was
 * delivered), -errno. */
typedef int (*q_plan_row_fn)(void *c, const struct obs_labels *l, const double *v, const uint8_t *ok);
int q_plan_rollup(struct q_ev *ev, const struct q_node *n, const struct q_node *msel, const struct q_rv *rv,
		  q_plan_row_fn row, obs_query_emit_fn raw, void *c);

/* log_count_over_time (func_log.c): the store's log_count() hook */
int q_fn_log_count(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out);

/* range-vector functions (func_range.c) */
int q_fn_range(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out);

/* Groups of an aggregation filled row by row (agg_fast.c). */
struct q_fold;
int q_fold_new(struct q_ev *ev, const struct q_node *agg, struct q_fold **out);
/* Fold one series' values at the steps where ok. */
int q_fold_row(struct q_fold *x, const struct obs_labels *l, int dropname, const double *v, const uint8_t *ok);
/* The groups as the aggregation's result (out may be NULL on error); frees x. */
int q_fold_finish(struct q_fold *x, struct q_val *out);

/* Range function n (range vector argument the matrix selector msel, the
 * other arguments evaluated in args) straight from the store, without
 * holding raw samples; rows go to fold when set, else to out. */
int q_fn_range_stream(struct q_ev *ev, const struct q_node *n, struct q_val *args, const struct q_node *msel,
		      struct q_fold *fold, struct q_val *out);
/* Windows of a matrix selector: rv->range, rv->off, rv->wend, and the
 * sample bounds to select. */
int q_msel_bounds(struct q_ev *ev, const struct q_node *msel, struct q_rv *rv, int64_t *mint, int64_t *maxt);

/* The instant-vector lookback rule, shared by every selector walk: *j is a
 * cursor into t[0..n) over steps at[0..], rewound when the steps go back in
 * time; it is moved past the samples at or before at[i]. 1 when the newest
 * of them, t[*j - 1], is inside (at[i] - lb, at[i]] and no staleness marker. */
static inline int q_lookback_hit(const int64_t *at, size_t i, int64_t lb, const int64_t *t,
				 const double *v, size_t n, size_t *j)
{
	if (i && at[i] < at[i - 1])
		*j = 0;
	while (*j < n && t[*j] <= at[i])
		(*j)++;
	return *j > 0 && t[*j - 1] > at[i] - lb && !obs_query_is_stale(v[*j - 1]);
}

#endif
