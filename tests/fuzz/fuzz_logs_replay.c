// sources: lib/logs/logstore.c lib/logs/logstore_flush.c lib/logs/logstore_read.c lib/logs/logstore_cursor.c lib/logs/logstore_stream.c lib/logs/logstore_wal.c lib/logs/logseg.c lib/logs/logseg_enc.c lib/logs/logseg_search.c lib/logs/logquery.c lib/logs/logline.c lib/core/wal.c lib/core/wal_read.c lib/core/obstime.c lib/core/crc32c.c lib/core/buf.c lib/core/strmap.c lib/core/regex.c lib/core/fileio.c lib/core/fault.c lib/core/corrupt.c
/* fuzz_logs_replay.c — libFuzzer harness for the log store's WAL replay
 * (lib/logs/logstore_wal.c, payload formats in its header) through the
 * public API.
 *
 * Input: records, each
 *     1 byte  h      h % 8 < 4: type h % 8 + 1 (1 batch, 2 carry, 3 batch
 *                    ending a carry, 4 removal); else type h >> 3 (any type,
 *                    the unknown ones skipped by replay); h == 0xff: the
 *                    rest of the input is appended raw to the WAL segment
 *                    (a torn or damaged tail)
 *     2 bytes len    little-endian, cut to what is left of the input
 *     len bytes      the payload
 * They are written with obs_wal_append into DIR/wal of a fresh store
 * directory (in the scratch directory of fuzz_tmp.h), then
 * obs_logstore_open(DIR) must give 0 or a negative errno, never crash or
 * leak. After a successful open every stream reads back, its text size is
 * what read_text delivers, and closing and opening again (replaying the
 * same WAL plus what the first open logged for pending carries) gives the
 * same streams and records. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/wal.h"
#include "logs/logstore.h"
#include "fuzz_tmp.h"

#define MAX_INPUT 8192
#define MAX_STREAMS 64

struct names { char *v[MAX_STREAMS]; size_t n; };

static int add_name(void *ctx, const char *stream)
{
	struct names *s = ctx;
	if (s->n < MAX_STREAMS && !(s->v[s->n++] = strdup(stream)))
		abort();
	return 0;
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_rec(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct obs_buf *b = ctx;
	if (obs_buf_printf(b, "%" PRId64 " %zu ", ts, n) || obs_buf_append(b, line, n) || obs_buf_putc(b, '\n'))
		abort();
	return 0;
}

/* Every stream (sorted by name) and its records, into out. */
static void snapshot(struct obs_logstore *ls, struct obs_buf *out)
{
	struct names s = { .n = 0 };
	if (obs_logstore_streams(ls, add_name, &s))
		abort();
	qsort(s.v, s.n, sizeof(s.v[0]), by_text);
	for (size_t i = 0; i < s.n; i++) {
		if (obs_buf_printf(out, "stream %s\n", s.v[i]))
			abort();
		int rc = obs_logstore_read(ls, s.v[i], INT64_MIN, INT64_MAX, NULL, add_rec, out);
		if (rc && rc != -ENOENT)
			abort();
		uint64_t size = 0, off = 0;
		if (obs_logstore_text_size(ls, s.v[i], &size) == 0) {
			char chunk[4096];
			size_t got;
			while (obs_logstore_read_text(ls, s.v[i], off, chunk, sizeof chunk, &got) == 0 && got)
				off += got;
			if (off != size)
				abort();   /* st_size is what a reader gets */
		}
		free(s.v[i]);
	}
}

static int open_store(const char *dir, struct obs_logstore **ls)
{
	struct obs_logstore_opts o = { .no_background = 1, .compact_level = -1, .retention_ms = -1 };
	return obs_logstore_open(dir, &o, ls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	const char *dir = fuzz_tmp_store("logs");
	char wdir[3200];
	snprintf(wdir, sizeof wdir, "%s/wal", dir);

	struct obs_wal *w;
	struct obs_wal_opts wo = { .segment_bytes = 1 << 20, .sync_interval_ms = 0 };
	if (obs_wal_open(wdir, &wo, &w))
		abort();
	size_t pos = 0;
	while (pos < size && data[pos] != 0xff) {
		uint8_t h = data[pos++];
		size_t len = 0;
		if (pos < size)
			len = data[pos++];
		if (pos < size)
			len |= (size_t)data[pos++] << 8;
		if (len > size - pos)
			len = size - pos;
		uint8_t type = (h & 7) < 4 ? (uint8_t)((h & 7) + 1) : (uint8_t)(h >> 3);
		if (obs_wal_append(w, type, data + pos, len))
			abort();
		pos += len;
	}
	obs_wal_close(w);
	if (pos < size) {   /* 0xff: a damaged tail on the first segment */
		char seg[3300];
		snprintf(seg, sizeof seg, "%s/%08llu.wal", wdir, 1ULL);
		int fd = open(seg, O_WRONLY | O_APPEND);
		if (fd < 0 || write(fd, data + pos + 1, size - pos - 1) != (ssize_t)(size - pos - 1))
			abort();
		close(fd);
	}

	struct obs_logstore *ls = NULL;
	int rc = open_store(dir, &ls);
	if (rc) {
		if (rc > 0 || ls)
			abort();
		return 0;
	}
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	snapshot(ls, &a);
	obs_logstore_close(ls);
	ls = NULL;
	if (open_store(dir, &ls))
		abort();   /* what opened once opens again */
	snapshot(ls, &b);
	obs_logstore_close(ls);
	if (getenv("FUZZ_LOGS_DEBUG"))
		fprintf(stderr, "first:\n%s\nsecond:\n%s\n", a.data ? a.data : "", b.data ? b.data : "");
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
		abort();   /* and replays to the same streams and records */
	obs_buf_release(&a);
	obs_buf_release(&b);
	return 0;
}
