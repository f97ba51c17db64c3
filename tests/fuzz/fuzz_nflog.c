// sources: lib/alert/nflog.c lib/alert/am.c lib/core/strmap.c lib/core/labels.c lib/core/utf8.c lib/core/buf.c lib/core/crc32c.c lib/core/obstime.c lib/core/fileio.c lib/core/fault.c
/* fuzz_nflog.c — libFuzzer harness for the notification log's file
 * (am_nflog_open, format in lib/alert/nflog.c). The first byte picks the
 * shape: odd, the rest is the file as it is; even, the rest is the body
 * between the "obsfs-nflog 1" line and an "end COUNT CRC" line made here
 * with the right CRC and COUNT (so the line parser is reached, not only
 * the CRC check); with the second bit set too, COUNT is one more than
 * the lines and the file must not load. A load gives 0 (at most COUNT
 * entries) or -EBADMSG; what loaded, flushed with one more entry, loads again with the same
 * entries plus that one, and it reads back as it was logged. The file
 * lives in a scratch directory (fuzz_tmp.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/nflog.h"
#include "core/buf.h"
#include "core/crc32c.h"
#include "core/fileio.h"
#include "fuzz_tmp.h"

static const char key[] = "{}:{alertname=\"a\\tb\"}\x1fteam\\x\x1fwebhook/0";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *path = fuzz_tmp_file("nflog");
	if (!n)
		return 0;
	struct obs_buf b;
	obs_buf_init(&b);
	size_t lines = 0;
	int miscount = (data[0] & 3) == 2;   /* an end line off by one */
	if (data[0] & 1) {
		if (obs_buf_append(&b, data + 1, n - 1))
			abort();
	} else {
		for (size_t i = 1; i < n; i++)
			lines += data[i] == '\n';
		if (obs_buf_puts(&b, "obsfs-nflog 1\n") || obs_buf_append(&b, data + 1, n - 1) ||
		    obs_buf_printf(&b, "end %zu %08" PRIx32 "\n", lines + miscount, obs_crc32c(0, b.data, b.len)))
			abort();
	}
	if (obs_write_file_atomic(path, b.data ? b.data : "", b.len, NULL))
		abort();
	obs_buf_release(&b);

	struct am_nflog *l = NULL;
	int rc = am_nflog_open(path, &l);
	if (rc == -EBADMSG)
		return 0;
	if (rc || !l || miscount)
		abort();
	if (!(data[0] & 1) && am_nflog_count(l) > lines)
		abort();
	int had = am_nflog_get(l, key) != NULL;
	size_t count = am_nflog_count(l);
	const uint64_t fir[] = { 0xffffffffffffffffULL, 1 }, res[] = { 0 };
	if (am_nflog_log(l, key, -5, fir, 2, res, 1) || am_nflog_flush(l))
		abort();
	am_nflog_free(l);

	struct am_nflog *m = NULL;
	if (am_nflog_open(path, &m) || am_nflog_count(m) != count + !had)
		abort();   /* what the log writes, it reads back */
	const struct am_nflog_entry *e = am_nflog_get(m, key);
	if (!e || e->ts != -5 || e->nfiring != 2 || e->firing[0] != 1 || e->firing[1] != fir[0] ||
	    e->nresolved != 1 || e->resolved[0] != 0)
		abort();
	am_nflog_free(m);
	return 0;
}
