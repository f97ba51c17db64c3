/* alert_test.h — private to `obs-alert test` (promtool test rules), in
 * three parts:
 *
 *   alert_test.c        the runner: a group's input series into a memory
 *                       store, its rules evaluated every evaluation_interval,
 *                       the report of a file
 *   alert_test_load.c   the test file, decoded as promtool's yaml.v3 strict
 *                       decoding does, its rule_files resolved and globbed
 *   alert_test_diff.c   expected against got (alerts, samples), with
 *                       promtool's difference reports
 *
 * Everything decoded points into the YAML document (struct obs_ydoc, kept
 * until ut_free) or is malloc'd by the loader. */
#ifndef OBS_TOOLS_ALERT_TEST_H
#define OBS_TOOLS_ALERT_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "alert/alert.h"
#include "alert/yamldoc.h"
#include "core/buf.h"
#include "core/labels.h"
#include "query/query.h"

struct kv {
	char *k, *v;
};

struct kvlist {
	struct kv *v;
	size_t n;
};

struct ut_alert {
	struct kvlist labels, annotations;
};

struct ut_atest {
	int64_t eval_time;
	const char *alertname;
	struct ut_alert *exp;
	size_t nexp;
};

struct ut_sample {
	const char *labels;
	double value;
};

struct ut_ptest {
	const char *expr;
	int64_t eval_time;
	struct ut_sample *exp;
	size_t nexp;
};

struct ut_series {
	const char *series, *values;
};

struct ut_group {
	const char *name;
	int64_t interval;
	int has_interval;
	struct ut_series *in;
	size_t nin;
	struct ut_atest *at;
	size_t nat;
	struct ut_ptest *pt;
	size_t npt;
	struct kvlist ext;
	const char *ext_url;
};

struct ut_file {
	const char **rule_files;     /* as written (into the document) */
	size_t nrule_files;
	char **rule_paths;           /* rule_files resolved and globbed (owned) */
	size_t nrule_paths;
	int64_t eval_interval;       /* 1m when not given */
	const char **order;
	size_t norder;
	struct ut_group *groups;
	size_t ngroups;
	struct obs_ydoc doc;
	char *text;
};

/* calloc of at least one element; exits 2 out of memory (alert_test_load.c) */
void *ut_xcalloc(size_t n, size_t sz);

/* ---- errors: one string per difference report (alert_test_diff.c) ---- */

struct ut_errs {
	char **v;
	size_t n;
};

/* Take b's text as one error (b is left empty). Exits 2 out of memory. */
void ut_err_add(struct ut_errs *e, struct obs_buf *b);
/* One error from fmt with two string arguments. */
void ut_err_addf(struct ut_errs *e, const char *fmt, const char *a, const char *b);
/* One error per line of text, each "PREFIX: LINE" (prefix NULL: the line). */
void ut_err_lines(struct ut_errs *e, const char *prefix, const char *text);
void ut_errs_release(struct ut_errs *e);

/* ---- the test file (alert_test_load.c) ---- */

/* Read and decode the test file at path into *f (zeroed by the caller):
 * its YAML, the defaults, group_eval_order without repeats, rule_files
 * relative to the file's directory and globbed (a pattern matching nothing
 * is a WARNING on stderr, as promtool prints it). Returns 0 when the file
 * can run, -1 with its errors added to errs. Release f with ut_free in
 * every case. */
int ut_load(const char *path, struct ut_file *f, struct ut_errs *errs);
void ut_free(struct ut_file *f);

/* ---- comparing (alert_test_diff.c) ---- */

/* The label set of kv (alertname added when not NULL, replacing one in
 * kv) into *out (released by the caller). 0 or -errno. */
int ut_kv_labels(const struct kvlist *kv, const char *alertname, struct obs_labels *out);
/* Compare the firing alerts among al[0..nal) to t's expected alerts of
 * group g; a difference adds one error. The firing alerts' label sets are
 * taken (left empty in al). */
void ut_check_alerts(const struct ut_group *g, const struct ut_atest *t, struct obs_alert *al, size_t nal,
		     struct ut_errs *errs);
/* Compare an expression test's result (a vector or scalar; res keeps its
 * series) to t's expected samples; expr is the Go-quoted expression and
 * time the eval time, for the report. A difference, or expected labels that
 * do not parse, adds one error. */
void ut_check_samples(const struct ut_ptest *t, const char *expr, const char *time,
		      const struct obs_query_result *res, struct ut_errs *errs);

#endif
