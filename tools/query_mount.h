/* query_mount.h — obs-query's client of a mount's query file (CLI glue). */
#ifndef QUERY_MOUNT_H
#define QUERY_MOUNT_H

#include <stdint.h>
#include <stdio.h>

struct qm_request {
	const char *expr;
	int range;                  /* 0: instant at time */
	int64_t time, start, end;   /* ms */
	int64_t step;               /* ms */
	int json;
};

/* The line written to MOUNT/query for r: "EXPR @TIME" or
 * "EXPR @START..END:STEP", then " #json" when asked, and a newline; times
 * as epoch seconds (with milliseconds when not whole). Returns a malloc'd
 * string or NULL (out of memory). */
char *qm_request_line(const struct qm_request *r);

/* Open MOUNT/query read-write, write the request, copy the answer to out.
 * Returns 0 when the answer came, 1 when the query failed (its message,
 * without the "error: " prefix, went to err), 2 when the file could not be
 * used (message on err too). */
int qm_run(const char *mount, const struct qm_request *r, FILE *out, FILE *err);

#endif
