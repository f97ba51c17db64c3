// sources: tools/ship_policy.c lib/logs/logline.c lib/core/buf.c lib/core/obstime.c lib/core/num.c lib/core/utf8.c
/* fuzz_policy.c — libFuzzer harness for obs-ship's log policy: the input up
 * to the first NUL is a policy file, the rest log lines (exact-size heap
 * copies). A policy that parses is applied twice to the lines: the output
 * must be the same both times (sampling is deterministic), hold no more
 * lines than the input and end with '\n' when not empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/ship.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const uint8_t *z = memchr(data, 0, n);
	size_t pl = z ? (size_t)(z - data) : n;
	char *pol = malloc(pl ? pl : 1), why[256];
	memcpy(pol, data, pl);
	size_t ln = 0;
	struct policy *p = policy_parse(pol, pl, &ln, why, sizeof(why));
	free(pol);
	if (!p || !z)
		goto out;
	size_t ll = n - pl - 1;
	char *lines = malloc(ll + 1);
	memcpy(lines, z + 1, ll);
	if (!ll || lines[ll - 1] != '\n')
		lines[ll++] = '\n';
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	policy_apply(p, "app", lines, ll, &a);
	policy_apply(p, "app", lines, ll, &b);
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
		abort();
	if (a.len && a.data[a.len - 1] != '\n')
		abort();
	size_t in = 0, out = 0;
	for (size_t i = 0; i < ll; i++)
		in += lines[i] == '\n';
	for (size_t i = 0; i < a.len; i++)
		out += a.data[i] == '\n';
	if (out > in)
		abort();
	obs_buf_release(&a);
	obs_buf_release(&b);
	free(lines);
out:
	policy_free(p);
	return 0;
}
