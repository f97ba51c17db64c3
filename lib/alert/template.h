/* template.h — Prometheus' alert templates (libobs alert).
 *
 * The subset of Go's text/template that rule files use, with Prometheus'
 * functions: text and {{ actions }} (with {{- -}} trimming and comments),
 * pipelines, variables ($x := ..., $x = ...), fields (.Labels.x,
 * $labels.x, .Value), string/raw/number/bool/nil literals, if / else if /
 * else / end, range (over label maps in key order and query results, with
 * else), with / else, and the functions and, or, not, eq, ne, lt, le, gt,
 * ge, len, index, print, printf, println, urlquery, html, js, humanize,
 * humanize1024, humanizeDuration, humanizePercentage, humanizeTimestamp,
 * toUpper, toLower, title, match, reReplaceAll, stripPort, stripDomain,
 * parseDuration, query, first, label, value, strvalue, sortByLabel,
 * safeHtml, externalURL, pathPrefix. Not supported: define/template/block,
 * break/continue, method calls, args, toTime, graphLink, tableLink (a parse
 * error names them, as an undefined function would be).
 *
 * Error positions count the four variable definitions Prometheus prepends
 * to every alert template (112 bytes on line 1), so columns match its
 * messages.
 *
 * Each alert expansion sees Prometheus' data and variables: .Labels /
 * $labels (the series' labels), .ExternalLabels / $externalLabels,
 * .ExternalURL / $externalURL, .Value / $value. Error texts follow Go's:
 * "template: NAME:LINE: function \"x\" not defined" at parse time,
 * "template: NAME:LINE:COL: executing \"NAME\" at <...>: ..." at run time. */
#ifndef OBS_ALERT_TEMPLATE_H
#define OBS_ALERT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/labels.h"
#include "query/query.h"

struct obs_tmpl;

/* Parse text (n bytes) as the template called name. On error returns
 * -EINVAL (or -ENOMEM) with Go's message in err, and *out stays NULL. */
int obs_tmpl_parse(const char *name, const char *text, size_t n, struct obs_tmpl **out,
		   char *err, size_t errlen);
void obs_tmpl_free(struct obs_tmpl *t);   /* accepts NULL */

/* 1 when the template is plain text (no action): expansion is the text. */
int obs_tmpl_is_static(const struct obs_tmpl *t);

struct obs_tmpl_data {
	const struct obs_labels *labels;            /* .Labels (may be NULL) */
	const struct obs_labels *external_labels;   /* .ExternalLabels (may be NULL) */
	const char *external_url;                   /* .ExternalURL (may be NULL) */
	double value;                               /* .Value */
	int64_t now_ms;                             /* evaluation time, for query */
	const struct obs_query_store *store;        /* for query (NULL: query fails) */
	const struct obs_query_opts *qopts;         /* NULL: defaults */
};

/* Expand t with d, appending to out. On an execution error returns -EINVAL
 * with Go's message in err; what was produced before the error stays in out
 * (callers that follow Prometheus replace it with
 * "<error expanding template: ERR>"). */
int obs_tmpl_expand(const struct obs_tmpl *t, const struct obs_tmpl_data *d, struct obs_buf *out,
		    char *err, size_t errlen);

/* Go's %v of a float64: shortest round-trip digits, %e form when the
 * exponent is < -4 or >= 6 ("1e+06", "123456", "NaN", "+Inf"). buf >= 40. */
int obs_tmpl_fmt_float(double v, char *buf);
/* s (n bytes) as Go's %q / strconv.Quote writes it for ASCII: in double
 * quotes, \" \\ \n \t \r escaped, other controls as \xNN. 0 or -ENOMEM. */
int obs_tmpl_go_quote(struct obs_buf *b, const char *s, size_t n);

/* One-shot helper: parse the Prometheus alert template text and expand it.
 * Any error yields "<error expanding template: ERR>" in out, as Prometheus
 * puts in the alert. Returns 0, or -EINVAL after writing that text. */
int obs_tmpl_expand_text(const char *name, const char *text, const struct obs_tmpl_data *d,
			 struct obs_buf *out);

#endif
