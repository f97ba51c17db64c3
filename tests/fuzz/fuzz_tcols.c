// sources: lib/traces/tcols.c lib/traces/span.c lib/core/buf.c
/* fuzz_tcols.c — libFuzzer harness for the columnar trace segment
 * encoding. The first byte is a record count, the rest a columns image:
 * decoding it must fail with -EBADMSG or give rows that encode again, and
 * those columns must decode to the very same rows (a canonical round trip).
 * The rows of a failed decode must be left as they were. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "traces/tcols.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint32_t nrec = data[0];
	struct obs_buf rows, cols, again;
	obs_buf_init(&rows);
	obs_buf_init(&cols);
	obs_buf_init(&again);
	int rc = obs_tcols_decode(data + 1, size - 1, nrec, &rows);
	if (rc && (rc != -EBADMSG || rows.len))
		abort();
	if (!rc) {
		if (obs_tcols_encode((const uint8_t *)rows.data, rows.len, nrec, &cols))
			abort();
		if (obs_tcols_decode((const uint8_t *)cols.data, cols.len, nrec, &again) || again.len != rows.len ||
		    (rows.len && memcmp(again.data, rows.data, rows.len)))
			abort();
	}
	obs_buf_release(&rows);
	obs_buf_release(&cols);
	obs_buf_release(&again);
	return 0;
}
