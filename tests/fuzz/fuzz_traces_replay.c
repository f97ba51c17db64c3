// sources: lib/traces/assemble.c lib/traces/jscan.c lib/traces/otlp.c lib/traces/otlp_fast.c lib/traces/otlp_pool.c lib/traces/policy.c lib/traces/red.c lib/traces/simple.c lib/traces/span.c lib/traces/tcols.c lib/traces/tquery.c lib/traces/traces.c lib/traces/tread.c lib/traces/tsearch.c lib/traces/tseg.c lib/traces/tstore.c lib/traces/waterfall.c lib/tsdb/db.c lib/tsdb/db_head.c lib/tsdb/db_ingest.c lib/tsdb/db_wal.c lib/tsdb/db_exemplar.c lib/tsdb/exemplar.c lib/tsdb/db_compact.c lib/core/wal.c lib/core/wal_read.c lib/tsdb/block.c lib/tsdb/block_read.c lib/tsdb/block_write.c lib/tsdb/tiers.c lib/tsdb/rollup.c lib/tsdb/rollup_file.c lib/tsdb/rollup_read.c lib/tsdb/sketch.c lib/tsdb/downsample.c lib/tsdb/encoding.c lib/tsdb/chunk.c lib/tsdb/samples.c lib/index/postings.c lib/index/postings_select.c lib/index/matcher.c lib/ingest/parse.c lib/ingest/prom.c lib/ingest/influx.c lib/ingest/graphite.c lib/ingest/statsd.c lib/core/labels.c lib/core/num.c lib/core/obstime.c lib/core/buf.c lib/core/crc32c.c lib/core/strmap.c lib/core/errlog.c lib/core/utf8.c lib/core/fileio.c lib/core/regex.c lib/core/corrupt.c lib/core/fault.c
/* fuzz_traces_replay.c — libFuzzer harness for the trace store's journal
 * replay (lib/traces/traces.c replay_rec: SPANS, DECISIONS, CARRY and
 * CARRY_ADD records; layouts in lib/traces/traces.h) through
 * obs_traces_open.
 *
 * Input: a sequence of records, each
 *     1 byte  h      h == 0xff: the rest of the input is appended raw to the
 *                    end of the journal segment (a torn or damaged tail);
 *                    else the record type is 1 + h % 4, and h / 4 % 2 set
 *                    means the harness writes the payload as it is; clear,
 *                    for the carry types (3, 4) it prefixes an 8-byte
 *                    handle 1 + payload[0] % 4 to the payload's rest (so
 *                    sets, appends and clears meet on a few handles), and
 *                    for SPANS it frames the payload as one span encoding
 *     1 byte  len
 *     len bytes      the payload (shorter at the end of the input)
 * The records go into DIR/wal of a fresh directory (fuzz_tmp.h) with
 * obs_wal_append; obs_traces_open must then succeed or fail with a negative
 * errno and a message, never crash, hang or leak. After a successful open,
 * closing (a checkpoint that relogs what is buffered and carried) and
 * opening again must succeed and find the same stored and buffered spans. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/wal.h"
#include "traces/traces.h"
#include "fuzz_tmp.h"

#define MAX_INPUT 8192

static const int64_t NOW = 1800000000000LL;

static int open_store(const char *dir, struct obs_traces **t)
{
	struct obs_traces_opts o;
	obs_traces_opts_default(&o);
	o.sync_interval_ms = 0;
	char err[256] = "";
	int rc = obs_traces_open(dir, &o, NULL, NULL, NOW, t, err, sizeof err);
	if (rc > 0 || (rc && !err[0]))
		abort();   /* an error is a negative errno with a message */
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	const char *dir = fuzz_tmp_store("traces_replay");
	char wdir[3200];
	snprintf(wdir, sizeof wdir, "%s/wal", dir);
	struct obs_wal_opts wo = { 1u << 20, 0 };
	struct obs_wal *w;
	if (obs_wal_open(wdir, &wo, &w))
		abort();
	size_t pos = 0;
	const uint8_t *tail = NULL;
	size_t tail_n = 0;
	while (pos < size) {
		uint8_t h = data[pos++];
		if (h == 0xff || pos == size) {
			tail = data + pos;
			tail_n = size - pos;
			break;
		}
		uint8_t len = data[pos++];
		size_t n = len < size - pos ? len : size - pos;
		const uint8_t *p = data + pos;
		pos += n;
		uint8_t type = (uint8_t)(1 + h % 4);
		int raw = h / 4 % 2;
		int rc;
		if (!raw && (type == 3 || type == 4)) {
			uint64_t handle = 1 + (n ? p[0] % 4 : 0);
			rc = obs_wal_append2(w, type, &handle, 8, n ? p + 1 : p, n ? n - 1 : 0);
		} else if (!raw && type == 1) {
			uint8_t v = (uint8_t)(n < 128 ? n : 127);   /* a one-byte uvarint */
			rc = obs_wal_append2(w, type, &v, 1, p, v);
		} else {
			rc = obs_wal_append(w, type, p, n);
		}
		if (rc)
			abort();
	}
	if (obs_wal_sync(w))
		abort();
	obs_wal_close(w);
	if (tail_n) {   /* raw bytes after the last record: a torn tail */
		char seg[3300];
		snprintf(seg, sizeof seg, "%s/%08llu.wal", wdir, 1ULL);
		FILE *f = fopen(seg, "ab");
		if (f) {
			fwrite(tail, 1, tail_n, f);
			fclose(f);
		}
	}
	struct obs_traces *t;
	if (open_store(dir, &t))
		return 0;
	struct obs_traces_stats a, b;
	obs_traces_get_stats(t, &a);
	obs_traces_close(t);
	if (open_store(dir, &t))
		abort();   /* what the close's checkpoint wrote replays */
	obs_traces_get_stats(t, &b);
	if (a.store.spans != b.store.spans || a.buffered_spans != b.buffered_spans)
		abort();
	obs_traces_close(t);
	return 0;
}
