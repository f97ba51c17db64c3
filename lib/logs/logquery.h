/* logquery.h — the log search language (libobs logs): parser and per-line
 * evaluator. Pure: no I/O; the store's planner (logseg.c) walks the same tree
 * to answer what it can from the index.
 *
 * Language (whitespace separates terms; juxtaposition is AND):
 *   word  "two words"     substring of the line (case-sensitive)
 *   /re/  ~"re"           PCRE2 regex on the line (/re/i: caseless)
 *   FIELD OP VALUE        OP: = != > >= < <= (=~ !~ take a regex value)
 *                         level fields order trace<debug<info<notice<warn<error<fatal;
 *                         numbers compare numerically, other values as strings;
 *                         a missing field satisfies only != and !~
 *   A B   A and B   A & B   A && B        AND
 *   A or B   A OR B   A | B   A || B      OR (binds looser than AND)
 *   !A   -A   not A   NOT A               NOT
 *   ( ... )                               grouping
 *   *                                     every line
 * An empty query matches every line.
 *
 * Daemon search path (one file name under MOUNT/logs/, lookup only):
 *   STREAM[@RANGE][?QUERY][#count | #by=FIELD]
 * RANGE is any obs_range_parse form (-1h, -2h..-1h, A..B). QUERY is the
 * language above; as a file name cannot hold '/', write ~"re" for regexes or
 * %2F for '/', and %25 for '%', %23 for '#', %3F for '?'.
 * Examples:  nginx@-1h?status>=500   app?level>=error&"timeout"
 *            nginx@-1d?status=404#count   app@-15m?#by=level
 * Output: "TIME LINE" records; #count: one line "N"; #by=F: "N VALUE" lines
 * by decreasing count ("N -" for records without the field). */
#ifndef OBS_LOGS_LOGQUERY_H
#define OBS_LOGS_LOGQUERY_H

#include <stddef.h>
#include <stdint.h>

enum obs_lq_kind {
	OBS_LQ_ALL = 0,  /* matches every line */
	OBS_LQ_AND, OBS_LQ_OR, OBS_LQ_NOT,
	OBS_LQ_SUBSTR,   /* value in the line */
	OBS_LQ_REGEX,    /* re matches the line */
	OBS_LQ_FIELD,    /* field op value */
};

enum obs_lq_op { OBS_LQ_EQ, OBS_LQ_NE, OBS_LQ_LT, OBS_LQ_LE, OBS_LQ_GT, OBS_LQ_GE, OBS_LQ_RE, OBS_LQ_NRE };

struct obs_lq_node {
	enum obs_lq_kind kind;
	enum obs_lq_op op;
	char *field;            /* OBS_LQ_FIELD */
	char *value;            /* SUBSTR text, FIELD value, REGEX source (NUL-terminated) */
	size_t vlen;
	int isnum;              /* value parses as a number */
	double num;
	int level;              /* obs_loglevel_rank(value), -1 if not a level word */
	void *re;               /* pcre2_code * for REGEX and =~ / !~ */
	struct obs_lq_node *a, *b; /* AND/OR: a, b; NOT: a */
};

struct obs_logquery {
	struct obs_lq_node *root;  /* never NULL: OBS_LQ_ALL for an empty query */
	int count;                 /* #count was given */
	char *by;                  /* #by=FIELD, or NULL */
};

/* Parse q[0..n). On error returns -EINVAL and, when err is non-NULL, writes a
 * message such as "unbalanced '('" into err (errlen bytes). *out is set only
 * on success; free it with obs_logquery_free. The '#count' / '#by=F' suffix is
 * accepted here too. */
int obs_logquery_parse(const char *q, size_t n, struct obs_logquery **out, char *err, size_t errlen);
void obs_logquery_free(struct obs_logquery *q);  /* accepts NULL */

/* Does the line match? Thread-safe (PCRE2 match data is per call). q may be
 * NULL (matches). Returns 1 or 0. */
int obs_logquery_match(const struct obs_logquery *q, const char *line, size_t n);

/* Value of field f in a line (first occurrence) for count-by; returns 1 and
 * sets *v, *vn (pointing into line), or 0 when the line lacks it. */
int obs_logline_field(const char *line, size_t n, const char *f, const char **v, size_t *vn);

/* Does a single field value satisfy a FIELD node? (used by the index planner
 * to select indexed values). */
int obs_lq_value_match(const struct obs_lq_node *nd, const char *v, size_t vn);

/* Split a search file name "STREAM[@RANGE][?QUERY][#...]"; %XX in QUERY is
 * decoded here. On success *stream is a malloc'd stream name, *from and *to
 * the range (OBS_TIME_MIN/MAX without @), and *q a
 * parsed query (NULL when there is no '?' nor '#'). -EINVAL on a bad range or
 * query (message in err). */
int obs_logpath_parse(const char *name, int64_t now_ms, char **stream, int64_t *from, int64_t *to,
		      struct obs_logquery **q, char *err, size_t errlen);

#endif
