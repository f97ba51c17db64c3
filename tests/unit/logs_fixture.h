/* logs_fixture.h — what the log store's unit tests share (test_logs_*.c):
 * a fresh data directory per test, test options, opening a store, and
 * reading a stream back as records or as its text file. Header-only (each
 * test file is its own binary); include it after criterion.h. */
#ifndef OBS_TESTS_LOGS_FIXTURE_H
#define OBS_TESTS_LOGS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/corrupt.h"
#include "core/fault.h"
#include "core/obstime.h"
#include "logs/logstore.h"

#define LF_UNUSED __attribute__((unused))

static const int64_t T0 = 1795236000000LL;   /* 2026-11-21T... */
static char dir[256];                          /* the test's data directory */

/* .init: a fresh directory, no fault armed */
static LF_UNUSED void mkdir_tmp(void)
{
	strcpy(dir, "/tmp/test_logs_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	obs_fault_reset();
}

/* .fini: disarm, remove the directory */
static LF_UNUSED void rm_tmp(void)
{
	obs_fault_reset();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* options for tests: no background thread, no retention (each test flushes,
 * compacts and retains when it means to), frames of frame_bytes at level */
static LF_UNUSED struct obs_logstore_opts lf_opts(size_t frame_bytes, int level)
{
	struct obs_logstore_opts o;
	memset(&o, 0, sizeof(o));
	o.no_background = 1;
	o.retention_ms = -1;
	o.seg.frame_bytes = frame_bytes;
	o.seg.level = level;
	return o;
}

/* open the store in dir, which must succeed */
static LF_UNUSED struct obs_logstore *lf_open(const struct obs_logstore_opts *o)
{
	struct obs_logstore *ls;
	int r = obs_logstore_open(dir, o, &ls);
	cr_assert_eq(r, 0, "open '%s': %d %s", dir, r, obs_corrupt_last());
	return ls;
}

static LF_UNUSED int lf_dump_rec(void *ctx, int64_t ts, const char *line, size_t n)
{
	return obs_buf_printf(ctx, "%lld|%.*s\n", (long long)ts, (int)n, line);
}

/* every record of a stream as "TS|LINE\n" (exact bytes, blank lines too) */
static LF_UNUSED char *dump(struct obs_logstore *ls, const char *stream)
{
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_logstore_read(ls, stream, OBS_TIME_MIN, OBS_TIME_MAX, NULL, lf_dump_rec, &b), 0);
	char *s = strdup(b.data ? b.data : "");
	obs_buf_release(&b);
	return s;
}

/* the stream's text file rendering, read back in odd-sized pieces */
static LF_UNUSED char *text(struct obs_logstore *ls, const char *stream)
{
	uint64_t size;
	cr_assert_eq(obs_logstore_text_size(ls, stream, &size), 0);
	char *t = calloc(1, size + 1);
	size_t off = 0, got;
	while (off < size) {
		cr_assert_eq(obs_logstore_read_text(ls, stream, off, t + off, 37, &got), 0);
		cr_assert_gt(got, 0, "short read at %zu of %llu", off, (unsigned long long)size);
		off += got;
	}
	return t;
}

#endif
