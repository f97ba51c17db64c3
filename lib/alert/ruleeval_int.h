/* ruleeval_int.h — private to the rule manager's modules (ruleeval*.c):
 * the evaluator's structures and the functions the modules share. The
 * public contract is ruleeval.h. Everything here runs with e->mu held. */
#ifndef OBS_ALERT_RULEEVAL_INT_H
#define OBS_ALERT_RULEEVAL_INT_H

#include "alert/ruleeval.h"

#include <pthread.h>

struct oseries {
	uint64_t h;
	struct obs_labels l;
};

struct rrule {
	const struct obs_rule *r;
	struct obs_alert *active;   /* a.rule/group/file borrow from the rule set */
	size_t nactive, cap;
	struct oseries *prev;       /* series written by the last evaluation, sorted by h */
	size_t nprev;
	int health;                 /* 0 unknown, 1 ok, 2 err */
	char err[512];
	int64_t last_eval;
	int64_t eval_ns;
	int restored;               /* its first evaluation ran (ALERTS_FOR_STATE restore) */
};

struct rgroup {
	const char *file;           /* the rfile's name */
	struct obs_rule_group *g;
	struct rrule *rules;
	int64_t interval_ms;
	int64_t next_eval, last_eval, eval_ns;
};

struct rfile {
	char *name;
	struct obs_rule_file *f;
	struct rgroup *groups;      /* one per f->groups */
};

struct restore_ent {
	char *file, *group, *rule;
	struct obs_alert a;
};

struct obs_ruleeval {
	pthread_mutex_t mu;
	struct obs_ruleeval_opts o;
	struct obs_labels ext;
	char *url;
	struct rfile **files;
	size_t nfiles;
	struct restore_ent *restore;
	size_t nrestore;
	uint64_t gen;
};

struct lb {
	struct obs_rawlabel v[OBS_MAX_LABELS + 4];
	int n;
};

struct outvec {
	struct oseries *s;
	double *v;
	size_t n, cap;
};

struct hidx {
	uint64_t h;
	const struct obs_labels *l;
};

/* ruleeval_out.c */

/* qsort without the undefined behaviour of a NULL base for 0 items */
void rev_qsort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *));
void rev_series_free(struct oseries *s, size_t n);
/* a builder from l (without __name__ when drop_name) */
void rev_lb_from(struct lb *b, const struct obs_labels *l, int drop_name);
/* set (an empty value removes the label, as labels.Builder does) */
void rev_lb_set(struct lb *b, const char *name, const char *val, size_t vlen);
int rev_lb_build(struct lb *b, struct obs_labels *out, const char **why);
/* takes l (left empty) */
int rev_outvec_add(struct outvec *o, struct obs_labels *l, double v);
void rev_outvec_release(struct outvec *o);
/* ContainsSameLabelset over v (sorts it) */
int rev_has_same(struct hidx *v, size_t n);
/* Write the rule's samples at t, stale markers for the series it wrote
 * last time and not now; the output becomes the new previous set. */
void rev_write_out(struct obs_ruleeval *e, struct rrule *rr, struct outvec *o, int64_t t);
/* stale markers at t for all the series the rule wrote last time */
void rev_write_stale(struct obs_ruleeval *e, struct rrule *rr, int64_t t);
int rev_eval_recording(struct obs_ruleeval *e, struct rgroup *g, struct rrule *rr, int64_t t);
/* ALERTS and ALERTS_FOR_STATE samples of a pending or firing alert into o */
int rev_alerts_series(struct obs_ruleeval *e, const struct obs_alert *a, int64_t t, struct outvec *o);

/* ruleeval_alert.c */

int rev_eval_alerting(struct obs_ruleeval *e, struct rgroup *g, struct rrule *rr, int64_t t);
struct obs_alert *rev_find_alert(struct rrule *rr, uint64_t fp, const struct obs_labels *l);
/* appends a (taken) to the rule's alerts; -ENOMEM */
int rev_alert_push(struct rrule *rr, struct obs_alert *a);

/* ruleeval_group.c */

/* marks the rule unhealthy with the message fmt (one %s: a) */
void rev_rule_error(struct rrule *rr, const char *fmt, const char *a);
/* run the rule's query at t: a vector (scalar -> one sample without
 * labels); -EINVAL with rr->err set otherwise */
int rev_run_query(struct obs_ruleeval *e, struct rrule *rr, int64_t t, struct obs_query_result *res);

#endif
