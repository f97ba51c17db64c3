// sources: lib/ingest/batch.c lib/core/strmap.c lib/core/buf.c lib/core/fileio.c lib/core/fault.c
/* fuzz_batch.c — libFuzzer harness for the agent directive parser and the
 * batch table: any bytes (an exact-size heap copy) either are not a
 * directive or give one whose parts lie inside the line; a batch committed
 * is skipped whole when seen again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	char *p = malloc(n ? n : 1);
	memcpy(p, data, n);
	struct obs_directive d;
	enum obs_directive_kind k = obs_directive_parse(p, n, &d);
	if (k != OBS_DIR_NONE) {
		if (d.len > n || p[d.len - 1] != '\n' || d.key < p || d.key + d.keylen > p + d.len)
			abort();
		if (k == OBS_DIR_ERROR && (d.reason + d.reasonlen > p + d.len || !d.reasonlen))
			abort();
		if (k == OBS_DIR_BATCH) {
			struct obs_batchtab *t = obs_batchtab_new(4);
			size_t plen = n - d.len;
			if (d.end - d.start <= plen) {
				if (obs_batchtab_skip(t, &d, p + d.len) != 0)
					abort();
				obs_batchtab_commit(t, &d, d.end);
				if (obs_batchtab_skip(t, &d, p + d.len) != d.end - d.start)
					abort();
			}
			char buf[OBS_BATCH_KEY_MAX + 64];
			if (!obs_directive_batch(buf, d.key, d.keylen, d.start, d.end))
				abort();
			obs_batchtab_free(t);
		}
	}
	free(p);
	return 0;
}
