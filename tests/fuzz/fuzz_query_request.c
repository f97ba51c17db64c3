// sources: lib/query/request.c lib/core/obstime.c lib/core/buf.c
/* fuzz_query_request.c — libFuzzer harness for the query file's request
 * parser (obs_query_request_parse, obs_query_request_spec). Invariants: 0
 * with a non-empty expression that is a substring of the input and no
 * blank at either end, or -EINVAL/-ENOMEM with a message; ranges have
 * start <= end and a positive step; never a crash. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct obs_query_request r;
	char err[128];
	err[0] = 0;
	int rc = obs_query_request_parse(s, size, 1795255200000, &r, err, sizeof(err));
	if (rc == 0) {
		size_t n = strlen(r.expr);
		if (!n || !memmem(s, size, r.expr, n))
			abort();
		if (r.expr[0] == ' ' || r.expr[n - 1] == ' ' || r.expr[n - 1] == '\n')
			abort();
		if (r.range && (r.start > r.end || r.step <= 0))
			abort();
		obs_query_request_release(&r);
	} else if ((rc != -EINVAL && rc != -ENOMEM) || !err[0]) {
		abort();
	}
	struct obs_query_request q = { 0 };
	if (obs_query_request_spec(s, size, 1795255200000, &q) == 0 && q.range && (q.start > q.end || q.step <= 0))
		abort();
	return 0;
}
