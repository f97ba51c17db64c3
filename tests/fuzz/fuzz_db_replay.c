// sources: lib/tsdb/db.c lib/tsdb/db_head.c lib/tsdb/db_ingest.c lib/tsdb/db_wal.c lib/tsdb/db_exemplar.c lib/tsdb/exemplar.c lib/tsdb/db_compact.c lib/core/wal.c lib/core/wal_read.c lib/tsdb/block.c lib/tsdb/block_read.c lib/tsdb/block_write.c lib/tsdb/tiers.c lib/tsdb/rollup.c lib/tsdb/rollup_file.c lib/tsdb/rollup_read.c lib/tsdb/sketch.c lib/tsdb/downsample.c lib/tsdb/encoding.c lib/tsdb/chunk.c lib/tsdb/samples.c lib/index/postings.c lib/index/postings_select.c lib/index/matcher.c lib/ingest/parse.c lib/ingest/prom.c lib/ingest/influx.c lib/ingest/graphite.c lib/ingest/statsd.c lib/core/labels.c lib/core/num.c lib/core/obstime.c lib/core/buf.c lib/core/crc32c.c lib/core/strmap.c lib/core/errlog.c lib/core/utf8.c lib/core/fileio.c lib/core/regex.c lib/core/corrupt.c lib/core/fault.c
/* fuzz_db_replay.c — libFuzzer harness for the metrics store's WAL replay
 * (db.c replay_record) through the public API.
 *
 * Input: a sequence of records, each
 *     1 byte  h      h % 4: 0 or 2 -> type 1 (SERIES), 1 -> type 2 (SAMPLES),
 *                    3 -> type h >> 2 (any other type: 5 EXEMPLARS, 6
 *                    EXRELOG, 3 CARRY, 4 SERIESV, the rest skipped by replay);
 *                    h == 0xff: the rest of the input is appended raw to the
 *                    end of the WAL segment (a torn or damaged tail)
 *     1 byte  len
 *     len bytes      the record payload (shorter at the end of the input)
 * The records are written with obs_wal_append into DIR/wal of a fresh data
 * directory on tmpfs, then obs_db_open(DIR) must succeed or fail with a
 * negative errno and a message, never crash or leak. After a successful open:
 * every series has canonical text that parses, its samples read back in
 * strictly increasing time order, and closing and reopening the directory
 * (replaying the same records again) gives the same series, samples and
 * exemplars. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/labels.h"
#include "tsdb/db.h"
#include "tsdb/samples.h"
#include "core/wal.h"

#define MAX_INPUT 4096
#define MAX_IDS 64

static char base[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

static void rm_tree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	rm_tree(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(base, sizeof base, "%s/obs-fuzz-db.%ld", root, (long)getpid());
	rm_tree(base);
	atexit(cleanup);
	return 0;
}

/* One summary of the whole store: series texts and samples, to compare two
 * replays. Appended to out. */
static void snapshot(struct obs_db *db, const uint32_t *ids, size_t nids, struct obs_buf *out)
{
	uint32_t count = obs_db_series_count(db);
	struct obs_samples sm;
	obs_samples_init(&sm);
	/* dense ids first (bounded), then ids named by SERIES records */
	for (size_t k = 0; k < (count < 256 ? count : 256) + nids; k++) {
		uint32_t id = k < (count < 256 ? count : 256) ? (uint32_t)k : ids[k - (count < 256 ? count : 256)];
		struct obs_buf txt;
		obs_buf_init(&txt);
		int rc = obs_db_series_text(db, id, &txt);
		if (rc == -ENOENT) {
			obs_buf_release(&txt);
			continue;
		}
		if (rc || id >= count)
			abort();
		struct obs_labels l;
		const char *why;
		if (obs_labels_parse(txt.data, txt.len, &l, &why))
			abort();   /* stored series text must be valid series text */
		obs_labels_release(&l);
		uint32_t back;
		if (obs_db_lookup(db, txt.data, txt.len, &back, &why) || back != id)
			abort();   /* the text finds the same series */
		obs_buf_printf(out, "%u %s\n", id, txt.data);
		obs_buf_release(&txt);

		obs_samples_reset(&sm);
		if (obs_db_read(db, id, INT64_MIN, INT64_MAX, &sm))
			abort();
		for (size_t i = 0; i < sm.n; i++) {
			if (i && sm.t[i] <= sm.t[i - 1])
				abort();   /* one sample per time, in order */
			uint64_t bits;
			memcpy(&bits, &sm.v[i], 8);
			obs_buf_printf(out, " %lld %llx\n", (long long)sm.t[i], (unsigned long long)bits);
		}
		if (obs_db_exemplars(db, id, INT64_MIN, INT64_MAX, OBS_TIME_EPOCH, out))
			abort();   /* the series' exemplars (EXEMPLARS records) */
	}
	obs_samples_release(&sm);
}

static int open_db(const char *dir, struct obs_db **db)
{
	struct obs_db_opts o;
	obs_db_opts_default(&o);
	o.sync_interval_ms = 0;
	o.check_interval_ms = 0;   /* no compactor thread */
	o.block_span_ms = 0;
	o.retention_ms = 0;
	o.errlog_entries = 16;
	char err[512] = "";
	int rc = obs_db_open(dir, &o, db, err, sizeof err);
	if (rc > 0 || (rc && !err[0]))
		abort();   /* 0 or -errno, and a failure explains itself */
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	char dir[300], wdir[320];
	snprintf(dir, sizeof dir, "%s", base);
	snprintf(wdir, sizeof wdir, "%s/wal", base);
	rm_tree(base);
	if (mkdir(base, 0755))
		abort();

	struct obs_wal *w;
	struct obs_wal_opts wo = { .segment_bytes = 1 << 20, .sync_interval_ms = 0 };
	if (obs_wal_open(wdir, &wo, &w))
		abort();
	uint32_t ids[MAX_IDS];
	size_t nids = 0, pos = 0;
	const uint8_t *tail = NULL;
	size_t ntail = 0;
	while (pos < size) {
		uint8_t h = data[pos++];
		if (h == 0xff) {
			tail = data + pos;
			ntail = size - pos;
			break;
		}
		size_t len = pos < size ? data[pos++] : 0;
		if (len > size - pos)
			len = size - pos;
		uint8_t type = (h & 3) == 1 ? 2 : (h & 3) == 3 ? (uint8_t)(h >> 2) : 1;
		if (type == 1 && len >= 4 && nids < MAX_IDS) {
			const uint8_t *p = data + pos;
			ids[nids++] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		}
		if (obs_wal_append(w, type, data + pos, len))
			abort();
		pos += len;
	}
	obs_wal_close(w);
	if (ntail) {
		/* the only segment so far is the first */
		char seg[400];
		snprintf(seg, sizeof seg, "%s/%08llu.wal", wdir, 1ULL);
		int fd = open(seg, O_WRONLY | O_APPEND);
		if (fd < 0)
			abort();
		if (write(fd, tail, ntail) != (ssize_t)ntail)
			abort();
		close(fd);
	}

	struct obs_db *db = NULL;
	int rc = open_db(dir, &db);
	if (getenv("FUZZ_DB_DEBUG"))
		fprintf(stderr, "open: %d\n", rc);
	if (rc) {
		if (rc >= 0)
			abort();
		rm_tree(base);
		return 0;
	}
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	snapshot(db, ids, nids, &a);
	obs_db_close(db);

	/* replay again: same records, same state */
	db = NULL;
	if (open_db(dir, &db))
		abort();
	snapshot(db, ids, nids, &b);
	obs_db_close(db);
	if (getenv("FUZZ_DB_DEBUG"))
		fprintf(stderr, "%s", a.data ? a.data : "");
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
		abort();
	obs_buf_release(&a);
	obs_buf_release(&b);
	rm_tree(base);
	return 0;
}
