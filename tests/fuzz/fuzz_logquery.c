// sources: lib/logs/logquery.c lib/logs/logline.c lib/core/obstime.c lib/core/regex.c
/* fuzz_logquery.c — libFuzzer harness for the log search language and the
 * line readers. The input is split at the first NUL: before it a query,
 * after it a log line. Checks: parse returns 0 or -EINVAL (with a message);
 * an accepted query evaluates without crashing on the line and on fixed
 * lines, and "!(Q)" is its exact negation; time and field extraction of the
 * line never read outside it; the search-path parser agrees on validity. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "logs/logline.h"
#include "logs/logquery.h"

static const char *const lines[] = {
	"",
	"{\"level\":\"error\",\"status\":503,\"msg\":\"upstream timeout\",\"ts\":\"2026-11-21T10:00:00Z\"}",
	"level=warn service=db msg=\"slow query\" dur=1.5",
	"1.2.3.4 - - [21/Nov/2026:04:46:16 +0000] \"GET /a HTTP/1.1\" 404 0 \"-\" \"ua\"",
	"Nov 21 10:00:00 host sshd[1]: ok",
	"2026-11-21T10:00:00Z ERROR boom",
};

static int field_cb(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	const char *lo = ((const char **)ctx)[0], *hi = ((const char **)ctx)[1];
	/* keys may be static names (nginx columns, "level"); values are in the line */
	if (vn && (v < lo || v + vn > hi))
		abort();
	if (!kn)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *z = memchr(data, 0, size);
	size_t qn = z ? (size_t)(z - data) : size;
	/* the line, copied so that reading past it is caught */
	size_t ln = z ? size - qn - 1 : 0;
	char *line = malloc(ln ? ln : 1);
	if (!line)
		return 0;
	if (ln)
		memcpy(line, z + 1, ln);
	int64_t t;
	obs_logline_time(line, ln, 1795236000000LL, &t);
	const char *bounds[2] = { line, line + ln };
	obs_logline_fields(line, ln, field_cb, bounds, NULL);

	struct obs_logquery *q = NULL;
	char err[128] = "";
	int r = obs_logquery_parse((const char *)data, qn, &q, err, sizeof(err));
	if (r != 0 && (r != -EINVAL || !err[0] || q))
		abort();
	if (r == 0) {
		/* !(Q) must be the negation of Q when Q has no #suffix */
		char *neg = malloc(qn + 4);
		struct obs_logquery *nq = NULL;
		if (neg && !q->count && !q->by) {
			neg[0] = '!';
			neg[1] = '(';
			memcpy(neg + 2, data, qn);
			neg[qn + 2] = '\n';
			neg[qn + 3] = ')';
			if (obs_logquery_parse(neg, qn + 4, &nq, NULL, 0) == 0) {
				for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
					if (obs_logquery_match(q, lines[i], strlen(lines[i])) ==
					    obs_logquery_match(nq, lines[i], strlen(lines[i])))
						abort();
				if (obs_logquery_match(q, line, ln) == obs_logquery_match(nq, line, ln))
					abort();
			}
		}
		obs_logquery_free(nq);
		free(neg);
		obs_logquery_free(q);
	}
	/* as a search file name: "s?" + query (when it has no NUL) */
	char *name = malloc(qn + 3);
	if (name) {
		memcpy(name, "s?", 2);
		memcpy(name + 2, data, qn);
		name[qn + 2] = 0;
		char *stream = NULL;
		int64_t f, to;
		struct obs_logquery *pq = NULL;
		if (strlen(name) == qn + 2 && obs_logpath_parse(name, 0, &stream, &f, &to, &pq, err, sizeof(err)) == 0) {
			if (strcmp(stream, "s"))
				abort();
			free(stream);
			obs_logquery_free(pq);
		}
		free(name);
	}
	free(line);
	return 0;
}
