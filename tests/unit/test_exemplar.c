/* test_exemplar.c — exemplars: the store (lib/tsdb/exemplar.c: per-series
 * rings, the global bound, duplicates, out-of-order, undo) and the metrics
 * store around it (db_exemplar.c: ingest, errors, WAL replay after a close,
 * after a compaction and after kill -9 of the writer). */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/errlog.h"
#include "tsdb/db.h"
#include "tsdb/exemplar.h"

/* ---- the store ------------------------------------------------------------- */

static int add(struct obs_exstore *x, uint32_t id, int64_t t, double v, const char *lab)
{
	const char *why = NULL;
	return obs_exstore_add(x, id, t, v, lab, strlen(lab), &why);
}

static int dump_one(void *ctx, int64_t t, double v, const char *lab, size_t len)
{
	return obs_buf_printf(ctx, "%lld %g %.*s;", (long long)t, v, (int)len, lab);
}

/* "T V LABELS;" of every exemplar of id */
static const char *dump(struct obs_exstore *x, uint32_t id)
{
	static struct obs_buf b;
	obs_buf_reset(&b);
	obs_buf_puts(&b, "");
	obs_exstore_each(x, id, INT64_MIN, INT64_MAX, dump_one, &b);
	return b.data;
}

static int all_one(void *ctx, uint32_t id, int64_t t, double v, const char *lab, size_t len)
{
	return obs_buf_printf(ctx, "%u@%lld;", id, (long long)t);
}

Test(exstore, duplicates_out_of_order_and_ranges)
{
	struct obs_exstore *x = obs_exstore_new(100, 10);
	const char *why = NULL;
	cr_assert_eq(add(x, 1, 1000, 0.5, "{trace_id=\"a\"}"), 0);
	cr_assert_eq(add(x, 1, 2000, 0.7, "{trace_id=\"b\"}"), 0);
	/* the same exemplar again (a retried write), the newest or an older one */
	cr_assert_eq(add(x, 1, 2000, 0.7, "{trace_id=\"b\"}"), 1);
	cr_assert_eq(add(x, 1, 1000, 0.5, "{trace_id=\"a\"}"), 1);
	/* older than the newest, or at its time with other labels or value */
	cr_assert_eq(obs_exstore_add(x, 1, 1500, 1, "{}", 2, &why), -EINVAL);
	cr_assert_str_eq(why, "out-of-order exemplar (older than the series' newest)");
	cr_assert_eq(add(x, 1, 2000, 0.8, "{trace_id=\"b\"}"), -EINVAL);
	cr_assert_eq(add(x, 1, 2000, 0.7, "{trace_id=\"c\"}"), -EINVAL);
	/* another series has its own order */
	cr_assert_eq(add(x, 2, 10, 1, "{}"), 0);
	cr_assert_str_eq(dump(x, 1), "1000 0.5 {trace_id=\"a\"};2000 0.7 {trace_id=\"b\"};");
	cr_assert_str_eq(dump(x, 3), "");
	struct obs_buf b;
	obs_buf_init(&b);
	obs_exstore_each(x, 1, 1001, 2000, dump_one, &b);
	cr_assert_str_eq(b.data, "2000 0.7 {trace_id=\"b\"};");
	obs_buf_release(&b);
	struct obs_exstore_stats st;
	obs_exstore_get_stats(x, &st);
	cr_assert_eq(st.exemplars, 3);
	cr_assert_eq(st.series, 2);
	cr_assert_eq(st.duplicates, 2);
	cr_assert_eq(st.out_of_order, 3);
	obs_exstore_free(x);
}

Test(exstore, bounds_per_series_and_in_all)
{
	struct obs_exstore *x = obs_exstore_new(5, 3);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(add(x, 1, i, i, "{}"), 0);
	/* the series keeps its 3 newest */
	cr_assert_str_eq(dump(x, 1), "2 2 {};3 3 {};4 4 {};");
	cr_assert_eq(add(x, 2, 100, 1, "{}"), 0);
	cr_assert_eq(add(x, 3, 100, 1, "{}"), 0);
	/* the store is full (5): the oldest of all goes first, whatever series */
	cr_assert_eq(add(x, 4, 100, 1, "{}"), 0);
	cr_assert_str_eq(dump(x, 1), "3 3 {};4 4 {};");
	cr_assert_eq(add(x, 4, 101, 1, "{}"), 0);
	cr_assert_eq(add(x, 4, 102, 1, "{}"), 0);
	cr_assert_str_eq(dump(x, 1), "");
	cr_assert_str_eq(dump(x, 2), "100 1 {};");
	struct obs_buf b;
	obs_buf_init(&b);
	obs_exstore_each_all(x, all_one, &b);
	cr_assert_str_eq(b.data, "2@100;3@100;4@100;4@101;4@102;");
	struct obs_exstore_stats st;
	obs_exstore_get_stats(x, &st);
	cr_assert_eq(st.exemplars, 5);
	cr_assert_eq(st.series, 3);
	cr_assert_eq(st.evicted, 5);
	/* a long run through a small store stays within its bounds */
	for (int i = 0; i < 10000; i++)
		cr_assert_eq(add(x, (uint32_t)(i % 7), 1000 + i, i, "{trace_id=\"0123456789abcdef\"}"), 0);
	obs_exstore_get_stats(x, &st);
	cr_assert_eq(st.exemplars, 5);
	obs_buf_reset(&b);
	obs_buf_puts(&b, "");
	obs_exstore_each_all(x, all_one, &b);
	cr_assert_str_eq(b.data, "6@10995;0@10996;1@10997;2@10998;3@10999;");
	obs_buf_release(&b);
	obs_exstore_free(x);
}

static int keep_odd(void *ctx, uint32_t id)
{
	return id & 1;
}

Test(exstore, undo_and_retain)
{
	struct obs_exstore *x = obs_exstore_new(100, 2);
	cr_assert_eq(add(x, 1, 1, 1, "{}"), 0);
	cr_assert_eq(add(x, 2, 1, 1, "{}"), 0);
	uint64_t mark = obs_exstore_mark(x);
	cr_assert_eq(add(x, 1, 2, 2, "{}"), 0);
	cr_assert_eq(add(x, 1, 3, 3, "{}"), 0);   /* evicts 1@1: not given back */
	cr_assert_eq(add(x, 3, 5, 5, "{}"), 0);
	obs_exstore_undo(x, mark);
	cr_assert_str_eq(dump(x, 1), "");
	cr_assert_str_eq(dump(x, 3), "");
	cr_assert_str_eq(dump(x, 2), "1 1 {};");
	/* what was undone can come again */
	cr_assert_eq(add(x, 1, 2, 2, "{}"), 0);
	cr_assert_eq(add(x, 3, 1, 1, "{}"), 0);
	obs_exstore_retain(x, keep_odd, NULL);
	cr_assert_str_eq(dump(x, 2), "");
	cr_assert_str_eq(dump(x, 1), "2 2 {};");
	struct obs_exstore_stats st;
	obs_exstore_get_stats(x, &st);
	cr_assert_eq(st.exemplars, 2);
	cr_assert_eq(st.series, 2);
	obs_exstore_free(x);
}

Test(exstore, labels_canon)
{
	struct obs_buf b;
	obs_buf_init(&b);
	const char *raw = "{ a = \"x y\\\" z\" ,\tb=\"\" }";
	cr_assert_eq(obs_exemplar_labels_canon(raw, strlen(raw), &b), 0);
	cr_assert_str_eq(b.data, "{a=\"x y\\\" z\",b=\"\"}");
	obs_buf_release(&b);
}

/* ---- in the metrics store ---------------------------------------------------- */

static char tmpdir[64], dbdir[128];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static void teardown(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = 0;
}

static void setup(void)
{
	strcpy(tmpdir, "/tmp/test_exemplar.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	atexit(teardown);
	snprintf(dbdir, sizeof dbdir, "%s/data", tmpdir);
}

static struct obs_db *open_db(size_t max_total)
{
	struct obs_db_opts o;
	obs_db_opts_default(&o);
	o.check_interval_ms = 0;
	o.block_span_ms = 0;
	o.head_max_samples = 0;
	o.sync_interval_ms = 0;
	o.retention_ms = 0;
	if (max_total)
		o.max_exemplars = max_total;
	struct obs_db *db = NULL;
	char err[256];
	int rc = obs_db_open(dbdir, &o, &db, err, sizeof err);
	cr_assert_eq(rc, 0, "open: %d %s", rc, err);
	return db;
}

static int ingest(struct obs_db *db, const char *text, struct obs_ingest_result *r)
{
	return obs_db_ingest(db, text, strlen(text), OBS_FMT_AUTO, "test", 1, r);
}

/* the exemplars of a series, epoch times */
static const char *exemplars(struct obs_db *db, const char *series)
{
	static struct obs_buf b;
	uint32_t id;
	const char *why;
	obs_buf_reset(&b);
	obs_buf_puts(&b, "");
	cr_assert_eq(obs_db_lookup(db, series, strlen(series), &id, &why), 0, "no series %s", series);
	cr_assert_eq(obs_db_exemplars(db, id, INT64_MIN, INT64_MAX, OBS_TIME_EPOCH, &b), 0);
	return b.data;
}

#define HIST \
	"# TYPE rq histogram\n" \
	"rq_bucket{le=\"0.5\"} 3 1700000000.000 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.47 1700000000.100\n" \
	"rq_bucket{le=\"+Inf\"} 4 1700000000.000 # {trace_id=\"00f067aa0ba902b100f067aa0ba902b1\"} 1.5\n" \
	"rq_count 4 1700000000.000\n" \
	"# EOF\n"

static const char want_a[] = "1700000000.1 0.47 {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}\n";
static const char want_inf[] = "1700000000 1.5 {trace_id=\"00f067aa0ba902b100f067aa0ba902b1\"}\n";

Test(db_exemplars, ingest_read_errors, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_db(0);
	struct obs_ingest_result r;
	cr_assert_eq(ingest(db, HIST, &r), 0);
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.accepted, 3);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"0.5\"}"), want_a);
	/* no timestamp: the sample's */
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"+Inf\"}"), want_inf);
	cr_assert_str_eq(exemplars(db, "rq_count"), "");
	/* a bad exemplar and an out-of-order one: EINVAL and an errors line
	 * each, the samples kept; a retried write is accepted silently */
	cr_assert_eq(ingest(db, "rq_count 5 1700000001.000 # {trace_id=oops} 1\n"
				"rq_bucket{le=\"0.5\"} 4 1700000001.000 # {trace_id=\"x\"} 0.1 1699999999\n# EOF\n", &r), 0);
	cr_assert_eq(r.err, EINVAL);
	cr_assert_eq(r.accepted, 2);
	cr_assert_eq(r.rejected, 0);
	struct obs_buf e;
	obs_buf_init(&e);
	obs_errlog_render(obs_db_errlog(db), &e);
	cr_assert(strstr(e.data, "test: invalid exemplar: expected '\"' before label value (the sample is kept): "
				 "rq_count # {trace_id=oops} 1"), "%s", e.data);
	cr_assert(strstr(e.data, "test: out-of-order exemplar (older than the series' newest): "
				 "rq_bucket{le=\"0.5\"} # {trace_id=\"x\"} 0.1 2023-11-14T22:13:19.000Z"), "%s", e.data);
	obs_buf_release(&e);
	cr_assert_eq(ingest(db, HIST, &r), 0);
	cr_assert_eq(r.err, 0);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.exemplars, 2);
	cr_assert_eq(st.exemplar_series, 2);
	cr_assert_eq(st.exemplars_rejected, 2);
	cr_assert_eq(st.exemplars_duplicate, 2);
	obs_db_close(db);
}

Test(db_exemplars, survive_reopen_and_compaction, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_db(0);
	struct obs_ingest_result r;
	cr_assert_eq(ingest(db, HIST, &r), 0);
	obs_db_close(db);
	db = open_db(0);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"0.5\"}"), want_a);
	/* a compaction removes the segments that held them: they are logged again */
	cr_assert_eq(obs_db_compact(db), 0);
	cr_assert_eq(ingest(db, "rq_count 9 1700000002.000 # {span_id=\"1\"} 9 1700000002\n", &r), 0);
	cr_assert_eq(obs_db_compact(db), 0);
	obs_db_close(db);
	db = open_db(0);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"0.5\"}"), want_a);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"+Inf\"}"), want_inf);
	cr_assert_str_eq(exemplars(db, "rq_count"), "1700000002 9 {span_id=\"1\"}\n");
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.exemplars, 3, "%llu: a replay met each once", (unsigned long long)st.exemplars);
	obs_db_close(db);
	/* a smaller bound at the next start keeps the newest */
	db = open_db(1);
	cr_assert_str_eq(exemplars(db, "rq_count"), "1700000002 9 {span_id=\"1\"}\n");
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"0.5\"}"), "");
	obs_db_close(db);
}

/* kill -9 of the writer: every exemplar whose ingest returned is back */
Test(db_exemplars, survive_kill, .init = setup, .fini = teardown)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (!pid) {
		struct obs_db *db = open_db(0);
		struct obs_ingest_result r;
		if (ingest(db, HIST, &r) || obs_db_compact(db))
			_exit(3);
		char line[160];
		snprintf(line, sizeof line, "rq_count 5 1700000003.000 # {trace_id=\"late\"} 2 1700000003\n");
		if (ingest(db, line, &r) || r.err)
			_exit(4);
		raise(SIGKILL);   /* no close, no sync */
		_exit(5);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child: %d", status);
	struct obs_db *db = open_db(0);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"0.5\"}"), want_a);
	cr_assert_str_eq(exemplars(db, "rq_count"), "1700000003 2 {trace_id=\"late\"}\n");
	obs_db_close(db);
}
