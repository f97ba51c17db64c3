/* func_log.c — log_count_over_time(SEARCH, RANGE): the log store seen from
 * PromQL, so log and metric alerts share one engine.
 *
 *   log_count_over_time("app?level>=error", 5m)
 *   log_count_over_time("nginx-*?status>=500 & \"upstream\"", 1m) > 10
 *
 * SEARCH is "STREAM[?QUERY]": STREAM a log stream name, a glob (fnmatch:
 * * ? [...]) or '*' for every stream; QUERY the log search language of
 * lib/logs/logquery.h (no '%XX' decoding: a PromQL string holds '/' and
 * '#' as they are; an empty QUERY counts every record). RANGE is a
 * duration (a scalar in seconds; the first step's value is used).
 *
 * The result is an instant vector with one series per stream, labels
 * {stream="NAME"}, value the number of records with a time in (t - RANGE,
 * t] matching QUERY, at each step t; like Loki's count_over_time (and
 * PromQL's over an empty window) a step whose window holds no match has no
 * point, so `== 0` never fires (use absent()/unless for silence).
 *
 * The store answers through its optional log_count() hook (the daemon's
 * store over the log store's index); a store without one (the in-memory
 * store of tests and `obs-alert test`) fails the query with
 * "log_count_over_time: no log store". */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/q.h"

struct logcount_out {
	struct q_ev *ev;
	struct q_val *out;
};

static int on_stream(void *ectx, const char *stream, const uint64_t *counts)
{
	struct logcount_out *x = ectx;
	struct obs_label one = { "stream", stream };
	struct obs_labels l;
	size_t any = 0;
	for (size_t i = 0; i < x->ev->nsteps; i++)
		any += counts[i] > 0;
	if (!any)
		return 0;
	if (q_labels_from(&l, &one, 1) != 0)
		return q_errf(x->ev, -ENOMEM, "out of memory");
	struct q_ser *s = q_mat_add(x->ev, &x->out->m, &l, 1);
	if (!s) {
		obs_labels_release(&l);
		return x->ev->first_rc && *x->ev->first_rc ? *x->ev->first_rc : -ENOMEM;
	}
	for (size_t i = 0; i < x->ev->nsteps; i++) {
		s->v[i] = (double)counts[i];
		s->ok[i] = counts[i] > 0;
	}
	return 0;
}

int q_fn_log_count(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	out->type = VT_VECTOR;
	if (!ev->st->log_count)
		return q_errf(ev, -EINVAL, "log_count_over_time: no log store");
	const char *spec = args[0].str ? args[0].str : "";
	double secs = args[1].sc ? args[1].sc[0] : NAN;
	if (!(secs > 0) || secs > 1e10)
		return q_errf(ev, -EINVAL, "log_count_over_time: range must be a positive duration, got %g", secs);
	int64_t range = (int64_t)llround(secs * 1000.0);
	if (range < 1)
		range = 1;
	const char *qm = strchr(spec, '?');
	size_t sn = qm ? (size_t)(qm - spec) : strlen(spec);
	if (!sn)
		return q_errf(ev, -EINVAL, "log_count_over_time: no stream in \"%s\" (want \"STREAM?QUERY\")", spec);
	if (memchr(spec, '@', sn) || memchr(spec, '#', sn))
		return q_errf(ev, -EINVAL,
			      "log_count_over_time: \"%.*s\": no @RANGE or #suffix here, the window is the second argument",
			      (int)sn, spec);
	char *stream = strndup(spec, sn);
	int64_t *at = malloc((ev->nsteps ? ev->nsteps : 1) * sizeof(*at));
	int rc = 0;
	if (!stream || !at) {
		rc = q_errf(ev, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ev->nsteps; i++)
		at[i] = q_ts(ev, i);
	struct logcount_out x = { ev, out };
	char why[160] = "";
	rc = ev->st->log_count(ev->st->lctx, stream, qm ? qm + 1 : "", range, at, ev->nsteps, on_stream, &x, why,
			       sizeof why);
	if (rc && !ev->err[0]) {
		if (rc == -EINVAL)
			q_errf(ev, rc, "log_count_over_time: bad log query \"%s\": %s", qm ? qm + 1 : "",
			       why[0] ? why : "invalid");
		else
			q_errf(ev, rc, "log_count_over_time: %s", strerror(-rc));
	}
out:
	free(stream);
	free(at);
	(void)n;
	return rc;
}
