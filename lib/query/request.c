/* request.c — the text a client writes to MOUNT/query or names a saved
 * query with: an expression, optionally when to evaluate it, optionally
 * the output format.
 *
 *     EXPR                          instant, at now
 *     EXPR @TIME                    instant, at TIME
 *     EXPR @START..END              range, step (END - START) / 250, >= 1 s
 *     EXPR @RANGE:STEP              range: RANGE as in views (-1h means
 *                                   the last hour, A..B), every STEP
 *     ... #json                     the answer as Prometheus' data object
 *
 * TIME, START and END are epoch seconds, RFC3339, "now" or relative to
 * now ("-1h"); STEP a duration ("1m") or seconds. The suffix is the last
 * '@' outside strings and brackets that is preceded by a blank (or starts
 * a saved query's name) and directly followed by a time: PromQL's own @
 * modifier at the very end of an expression is written with a blank after
 * it (`x @ 1700000000`) or inside parentheses. "#json" is a PromQL
 * comment, so it can never be part of an expression. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "query/query.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* a time spec s[0..n): 1 and the request's times set, 0 when it is none */
static int parse_spec(const char *s, size_t n, int64_t now, struct obs_query_request *r)
{
	if (!n || memchr(s, ' ', n) || memchr(s, '\t', n))
		return 0;
	const char *colon = NULL;
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == ':') {
			colon = s + i - 1;
			break;
		}
	int64_t from, to, step;
	if (colon && colon > s) {   /* RANGE:STEP */
		size_t rl = (size_t)(colon - s), sl = n - rl - 1;
		if (obs_duration_parse(colon + 1, sl, &step) == 0 && step > 0 &&
		    obs_range_parse(s, rl, now, &from, &to) == 0 && from <= to) {
			r->range = 1;
			r->start = from;
			r->end = to;
			r->step = step;
			return 1;
		}
	}
	if (memmem(s, n, "..", 2)) {   /* START..END */
		if (obs_range_parse(s, n, now, &from, &to) != 0 || from > to || from == INT64_MIN)
			return 0;
		r->range = 1;
		r->start = from;
		r->end = to;
		r->step = (to - from) / 250 / 1000 * 1000;
		if (r->step < 1000)
			r->step = 1000;
		return 1;
	}
	if (obs_time_parse_rel(s, n, now, &from) != 0)
		return 0;
	r->range = 0;
	r->time = from;
	return 1;
}

int obs_query_request_spec(const char *s, size_t n, int64_t now, struct obs_query_request *r)
{
	return parse_spec(s, n, now, r) ? 0 : -EINVAL;
}

int obs_query_request_parse(const char *s, size_t n, int64_t now, struct obs_query_request *r, char *err,
			    size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->time = now;
	if (memchr(s, 0, n)) {
		snprintf(err, errlen, "the request holds a NUL byte");
		return -EINVAL;
	}
	while (n && is_blank(s[n - 1]))
		n--;
	/* #json */
	if (n >= 5 && memcmp(s + n - 5, "#json", 5) == 0) {
		r->json = 1;
		n -= 5;
		while (n && is_blank(s[n - 1]))
			n--;
	}
	/* the last top-level '@' that starts a time spec */
	size_t at = n, at_open = n;   /* at_open: the same at any depth */
	int depth = 0;
	char quote = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (quote) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == quote)
				quote = 0;
			continue;
		}
		if (c == '"' || c == '\'' || c == '`')
			quote = c;
		else if (c == '(' || c == '[' || c == '{')
			depth++;
		else if ((c == ')' || c == ']' || c == '}') && depth > 0)
			depth--;
		else if (c == '#')
			break;   /* a comment: the rest is not the expression */
		else if (c == '@' && (i == 0 || is_blank(s[i - 1])) && i + 1 < n && !is_blank(s[i + 1])) {
			at_open = i;
			if (depth == 0)
				at = i;
		}
	}
	/* an expression left open ("up{ @NOW"): the time spec is still not part
	 * of it, so the parser reports what is missing, not the '@' */
	if (depth > 0 && at_open < n && (at == n || at_open > at))
		at = at_open;
	if (at < n && parse_spec(s + at + 1, n - at - 1, now, r))
		n = at;
	else
		r->range = 0, r->time = now;
	while (n && is_blank(s[n - 1]))
		n--;
	size_t b = 0;
	while (b < n && is_blank(s[b]))
		b++;
	if (b == n) {
		snprintf(err, errlen, "no expression");
		return -EINVAL;
	}
	if (!(r->expr = malloc(n - b + 1))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(r->expr, s + b, n - b);
	r->expr[n - b] = 0;
	return 0;
}

void obs_query_request_release(struct obs_query_request *r)
{
	if (!r)
		return;
	free(r->expr);
	r->expr = NULL;
}
