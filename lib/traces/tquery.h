/* tquery.h — trace search queries (libobs traces): the QUERY of
 * MOUNT/traces/@RANGE?QUERY and of obs-trace find.
 *
 * Terms joined by '&' (all must hold):
 *   service=S          some span of the trace is of service S
 *   operation=O        some span is named O (with service=: of that service); also name=O
 *   error              some span has status ERROR (also status=error; !error and
 *                      status=ok: none has)
 *   duration>D  duration>=D  duration<D  duration<=D
 *                      the trace's duration (first start to last end); D as 500ms, 1.5s, 2m
 *   KEY=VALUE          some span (or its resource) has attribute KEY with value VALUE
 *                      (its text: 200, true, GET)
 *   limit=N            at most N traces (newest first)
 * Values may be %-encoded (%20 for a space, %26 for '&', %25 for '%'). An
 * empty query matches every trace. */
#ifndef OBS_TRACES_TQUERY_H
#define OBS_TRACES_TQUERY_H

#include <stddef.h>
#include <stdint.h>

struct obs_tq_attr { char *key, *val; };

struct obs_tq {
	char *service, *operation;
	int error;                    /* -1 any, 1 with an error, 0 without */
	int64_t min_ns, max_ns;       /* inclusive bounds on the duration (0, INT64_MAX) */
	struct obs_tq_attr *attrs;
	size_t nattrs;
	size_t limit;                 /* 0: none */
};

/* 0, -EINVAL with a message in err, or -ENOMEM. Release with obs_tq_release. */
int obs_tq_parse(const char *q, size_t n, struct obs_tq *out, char *err, size_t errlen);
void obs_tq_release(struct obs_tq *q);

struct obs_span;
/* Does the trace of spans sp[0..n) match q (without its limit)? 1 or 0.
 * The store answers from its index; this is the same rule over spans in
 * memory (obs-trace on a file). */
int obs_tq_match(const struct obs_tq *q, const struct obs_span *sp, size_t n);

#endif
