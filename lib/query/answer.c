/* answer.c — one request in, one answer out: what MOUNT/query and
 * MOUNT/queries/NAME serve (fs/ only moves the bytes).
 *
 * The answer is the text or JSON of format.c; a failed query answers
 * "error: MESSAGE\n", MESSAGE starting with LINE:COL for parse errors, as
 * Prometheus words it otherwise. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "query/query.h"
#include "query/saved.h"

int obs_query_answer_req(const struct obs_query_opts *o, const struct obs_query_store *st,
			 const struct obs_query_request *r, enum obs_time_fmt tf, struct obs_buf *out, char *err,
			 size_t errlen)
{
	struct obs_query_expr *e = NULL;
	char perr[512];
	int rc = obs_query_parse(r->expr, strlen(r->expr), &e, perr, sizeof(perr));
	if (rc) {
		snprintf(err, errlen, "%s", perr);
		goto fail;
	}
	struct obs_query_result res;
	if (r->range)
		rc = obs_query_range(o, st, e, r->start, r->end, r->step, &res);
	else
		rc = obs_query_instant(o, st, e, r->time, &res);
	obs_query_expr_free(e);
	if (rc) {
		snprintf(err, errlen, "%s", res.err[0] ? res.err : strerror(-rc));
		obs_query_result_release(&res);
		goto fail;
	}
	rc = r->json ? obs_query_format_json(&res, out) : obs_query_format_text(&res, tf, out);
	obs_query_result_release(&res);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	if (obs_buf_printf(out, "error: %s\n", err) != 0)
		return -ENOMEM;
	return rc;
}

int obs_query_answer(const struct obs_query_opts *o, const struct obs_query_store *st, const char *req, size_t n,
		     int64_t now, enum obs_time_fmt tf, struct obs_buf *out, char *err, size_t errlen)
{
	struct obs_query_request r;
	int rc = obs_query_request_parse(req, n, now, &r, err, errlen);
	if (rc) {
		if (obs_buf_printf(out, "error: %s\n", err) != 0)
			return -ENOMEM;
		return rc;
	}
	rc = obs_query_answer_req(o, st, &r, tf, out, err, errlen);
	obs_query_request_release(&r);
	return rc;
}
