/* test_exemplar.c — exemplars: the store (lib/tsdb/exemplar.c: per-series
 * rings, the global bound, duplicates, out-of-order, undo, expiry, walks in
 * pieces) and the metrics store around it (db_exemplar.c: ingest, errors,
 * retention, WAL replay after a close, after a compaction, after kill -9 of
 * the writer, of a relog cut short and during compactions with writes
 * going on). */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "core/errlog.h"
#include "core/fault.h"
#include "core/obstime.h"
#include "core/varint.h"
#include "core/wal.h"
#include "tsdb/db.h"
#include "tsdb/exemplar.h"
#include "db_fixture.h"

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

Test(exstore, expire_drops_and_then_refuses_the_old)
{
	struct obs_exstore *x = obs_exstore_new(100, 10);
	cr_assert_eq(add(x, 1, 10, 1, "{}"), 0);
	cr_assert_eq(add(x, 2, 5, 2, "{}"), 0);
	cr_assert_eq(add(x, 1, 20, 3, "{}"), 0);
	cr_assert_eq(add(x, 2, 40, 4, "{}"), 0);
	cr_assert_eq(add(x, 1, 30, 5, "{}"), 0);
	cr_assert_eq(add(x, 3, 7, 6, "{}"), 0);
	/* nothing that old: nothing goes */
	cr_assert_eq(obs_exstore_expire(x, 5), 0);
	cr_assert_eq(obs_exstore_expire(x, 25), 4);
	cr_assert_str_eq(dump(x, 1), "30 5 {};");
	cr_assert_str_eq(dump(x, 2), "40 4 {};");
	cr_assert_str_eq(dump(x, 3), "");
	struct obs_buf b;
	obs_buf_init(&b);
	obs_exstore_each_all(x, all_one, &b);
	cr_assert_str_eq(b.data, "2@40;1@30;");
	/* older than the cutoff: refused (2), not stored; an earlier cutoff
	 * does not bring it back */
	cr_assert_eq(add(x, 4, 24, 1, "{}"), 2);
	cr_assert_eq(obs_exstore_expire(x, 20), 0);
	cr_assert_eq(add(x, 4, 22, 1, "{}"), 2);
	cr_assert_eq(add(x, 4, 26, 1, "{}"), 0);
	struct obs_exstore_stats st;
	obs_exstore_get_stats(x, &st);
	cr_assert_eq(st.expired, 6);
	cr_assert_eq(st.evicted, 0);
	cr_assert_eq(st.exemplars, 3);
	cr_assert_eq(st.series, 3);   /* 3 went with its last exemplar */
	cr_assert_eq(obs_exstore_expire(x, 27), 1);
	cr_assert_str_eq(dump(x, 4), "");
	cr_assert_eq(obs_exstore_expire(x, INT64_MAX), 2);
	obs_exstore_get_stats(x, &st);
	cr_assert_eq(st.exemplars, 0);
	cr_assert_eq(st.series, 0);
	obs_buf_release(&b);
	obs_exstore_free(x);
}

struct model {
	uint32_t id[4096];
	int64_t t[4096];
	size_t n;
};

static int model_one(void *ctx, uint32_t id, int64_t t, double v, const char *lab, size_t len)
{
	struct model *m = ctx;
	m->id[m->n] = id;
	m->t[m->n++] = t;
	return 0;
}

/* expiry against a model: what stays is what was held, less the old, in
 * the same order, through evictions and FIFO compactions */
Test(exstore, expire_matches_a_model)
{
	struct obs_exstore *x = obs_exstore_new(300, 40);
	int64_t last[9] = { 0 };
	unsigned r = 12345;
	int64_t cutoff = 0;
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++) {
			r = r * 1103515245 + 12345;
			uint32_t id = (r >> 16) % 9;
			last[id] += 1 + (r >> 8) % 40;
			int a = add(x, id, last[id], 0, "{trace_id=\"0123456789\"}");
			cr_assert(a == 0 || (a == 2 && last[id] < cutoff));
		}
		static struct model before, after;
		before.n = after.n = 0;
		obs_exstore_each_all(x, model_one, &before);
		cutoff += 25 + round % 30;
		size_t dropped = obs_exstore_expire(x, cutoff);
		obs_exstore_each_all(x, model_one, &after);
		size_t k = 0;
		for (size_t i = 0; i < before.n; i++) {
			if (before.t[i] < cutoff)
				continue;
			cr_assert_lt(k, after.n);
			cr_assert_eq(after.id[k], before.id[i]);
			cr_assert_eq(after.t[k], before.t[i]);
			k++;
		}
		cr_assert_eq(k, after.n);
		cr_assert_eq(dropped, before.n - after.n);
	}
	obs_exstore_free(x);
}

/* a walk in pieces with the store changing between them visits what was
 * added up to its mark and is still held, once each, in order */
Test(exstore, each_between_pieces)
{
	struct obs_exstore *x = obs_exstore_new(100, 2);
	for (int i = 1; i <= 8; i++)
		cr_assert_eq(add(x, (uint32_t)(i % 4), i, i, "{}"), 0);
	uint64_t mark = obs_exstore_mark(x), from = 0;
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_exstore_each_between(x, &from, mark, 3, all_one, &b), 1);
	cr_assert_str_eq(b.data, "1@1;2@2;3@3;");
	/* meanwhile: a newer one pushes 0@4 out of its series, 1@5 expires
	 * (with the three visited) */
	cr_assert_eq(add(x, 0, 9, 9, "{}"), 0);
	cr_assert_eq(obs_exstore_expire(x, 6), 4);
	cr_assert_eq(obs_exstore_each_between(x, &from, mark, 3, all_one, &b), 0);
	cr_assert_str_eq(b.data, "1@1;2@2;3@3;2@6;3@7;0@8;");
	/* a walk that has nothing left to visit */
	cr_assert_eq(obs_exstore_each_between(x, &from, mark, 3, all_one, &b), 0);
	obs_buf_reset(&b);
	obs_buf_puts(&b, "");
	from = 0;
	cr_assert_eq(obs_exstore_each_between(x, &from, UINT64_MAX, 100, all_one, &b), 0);
	cr_assert_str_eq(b.data, "2@6;3@7;0@8;0@9;");
	obs_buf_release(&b);
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

static struct obs_db *open_db_opts(const struct obs_db_opts *o)
{
	struct obs_db *db = NULL;
	char err[256];
	int rc = obs_db_open(dbdir, o, &db, err, sizeof err);
	cr_assert_eq(rc, 0, "open: %d %s", rc, err);
	return db;
}

static struct obs_db *open_db(size_t max_total)
{
	struct obs_db_opts o;
	test_opts(&o);
	if (max_total)
		o.max_exemplars = max_total;
	return open_db_opts(&o);
}

/* wait for a child that must have died of SIGKILL */
static void reap_killed(pid_t pid)
{
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child: %d", status);
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
	reap_killed(pid);
	struct obs_db *db = open_db(0);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"0.5\"}"), want_a);
	cr_assert_str_eq(exemplars(db, "rq_count"), "1700000003 2 {trace_id=\"late\"}\n");
	obs_db_close(db);
}

/* ---- retention --------------------------------------------------------------- */

/* one sample of series with an exemplar, both at t (ms) */
static void put(struct obs_db *db, const char *series, int64_t t, const char *trace)
{
	char line[300];
	snprintf(line, sizeof line, "%s 1 %lld.%03lld # {trace_id=\"%s\"} 1 %lld.%03lld\n", series, (long long)(t / 1000),
		 (long long)(t % 1000), trace, (long long)(t / 1000), (long long)(t % 1000));
	struct obs_ingest_result r;
	cr_assert_eq(ingest(db, line, &r), 0);
	cr_assert_eq(r.err, 0, "%s: %d", line, r.err);
}

static uint64_t expired(struct obs_db *db)
{
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	return st.exemplars_expired;
}

/* exemplar_retention with the clock given to obs_db_retain; the default
 * follows the raw retention */
Test(db_exemplars, retention, .init = setup, .fini = teardown)
{
	struct obs_db_opts o;
	test_opts(&o);
	o.exemplar_retention_ms = 3600 * 1000;
	struct obs_db *db = open_db_opts(&o);
	int64_t now = obs_time_now() / 1000 * 1000;
	/* past the retention already (the open expired up to its start): not
	 * stored, no error */
	put(db, "a", now - 2 * 3600 * 1000, "old");
	cr_assert_str_eq(exemplars(db, "a"), "");
	cr_assert_eq(expired(db), 1);
	put(db, "b", now - 1800 * 1000, "half");
	put(db, "c", now, "new");
	put(db, "d", now - 120 * 1000, "two minutes");
	/* three quarters of an hour later b is older than an hour */
	cr_assert_eq(obs_db_retain(db, now + 2700 * 1000), 0);
	cr_assert_str_eq(exemplars(db, "b"), "");
	cr_assert_neq(exemplars(db, "c")[0], 0);
	cr_assert_eq(expired(db), 2);
	/* and one of that age is refused from then on */
	put(db, "b", now - 1200 * 1000, "late");
	cr_assert_str_eq(exemplars(db, "b"), "");
	cr_assert_eq(expired(db), 3);
	/* a compaction logs only what is held: b's are gone for good */
	cr_assert_eq(obs_db_compact(db), 0);
	obs_db_close(db);
	db = open_db_opts(&o);
	cr_assert_str_eq(exemplars(db, "b"), "");
	cr_assert_neq(exemplars(db, "c")[0], 0);
	cr_assert_neq(exemplars(db, "d")[0], 0);
	cr_assert_eq(expired(db), 0);
	obs_db_close(db);
	/* the default follows retention; 0 keeps them */
	o.exemplar_retention_ms = -1;
	o.retention_ms = 60 * 1000;
	db = open_db_opts(&o);
	cr_assert_str_eq(exemplars(db, "d"), "");
	cr_assert_neq(exemplars(db, "c")[0], 0);
	cr_assert_eq(expired(db), 1);
	obs_db_close(db);
	o.retention_ms = 0;
	db = open_db_opts(&o);
	cr_assert_eq(obs_db_retain(db, now + 100LL * 24 * 3600 * 1000), 0);
	cr_assert_neq(exemplars(db, "c")[0], 0);
	cr_assert_neq(exemplars(db, "d")[0], 0);
	cr_assert_eq(expired(db), 0);
	obs_db_close(db);
}

/* ---- the relog -------------------------------------------------------------- */

static void wal_exemplar(struct obs_buf *b, uint32_t id, int64_t t, double v, const char *lab)
{
	uint8_t p[64];
	size_t n = obs_varint_put(p, id);
	n += obs_varint_put(p + n, obs_zigzag(t));   /* one entry per record: delta from 0 */
	uint64_t bits;
	memcpy(&bits, &v, 8);
	memcpy(p + n, &bits, 8);
	n += 8;
	n += obs_varint_put(p + n, strlen(lab));
	obs_buf_append(b, p, n);
	obs_buf_puts(b, lab);
}

/* a record of the metrics store's WAL (db_wal.c): type 1 SERIES, 5
 * EXEMPLARS (one entry), 6 EXRELOG (flags, then zero or one entry) */
static void wal_rec(struct obs_wal *w, int type, int flags, uint32_t id, int64_t t, const char *lab)
{
	struct obs_buf b;
	obs_buf_init(&b);
	if (type == 1) {
		uint8_t le[4];
		obs_put_le32(le, id);
		obs_buf_append(&b, le, 4);
		obs_buf_puts(&b, lab);
	} else {
		if (type == 6)
			obs_buf_putc(&b, (char)flags);
		obs_buf_putc(&b, lab ? 1 : 0);
		if (lab)
			wal_exemplar(&b, id, t, 1, lab);
	}
	cr_assert_eq(obs_wal_append(w, (uint8_t)type, b.data, b.len), 0);
	obs_buf_release(&b);
}

/* A write's exemplar can reach the WAL between a relog's records, before
 * the relog's older exemplars of the same series: the replay still
 * rebuilds the series in time order, relog finished or cut short. */
Test(db_exemplars, replay_holds_writes_met_inside_a_relog, .init = setup, .fini = teardown)
{
	for (int finished = 0; finished < 2; finished++) {
		char wdir[200];
		snprintf(wdir, sizeof wdir, "%s/wal", dbdir);
		cr_assert_eq(mkdir(dbdir, 0755), 0);
		struct obs_wal *w;
		cr_assert_eq(obs_wal_open(wdir, NULL, &w), 0);
		wal_rec(w, 1, 0, 0, 0, "rq_count");
		wal_rec(w, 6, 1, 0, 0, NULL);                              /* FIRST, at the cut */
		wal_rec(w, 5, 0, 0, 1700000200000, "{trace_id=\"write\"}"); /* a write meanwhile */
		wal_rec(w, 6, 0, 0, 1700000100000, "{trace_id=\"relog\"}"); /* the store at the cut */
		if (finished)
			wal_rec(w, 6, 2, 0, 0, NULL);                      /* LAST */
		obs_wal_close(w);
		struct obs_db *db = open_db(0);
		cr_assert_str_eq(exemplars(db, "rq_count"),
				 "1700000100 1 {trace_id=\"relog\"}\n1700000200 1 {trace_id=\"write\"}\n", "finished %d",
				 finished);
		obs_db_close(db);
		teardown();
		setup();
	}
}

/* A relog that fails fails the compaction: the segments before the cut
 * stay, the head is intact, and the next compaction relogs again. */
Test(db_exemplars, relog_failure_keeps_the_old_segments, .init = setup, .fini = teardown)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (!pid) {
		struct obs_db *db = open_db(0);
		struct obs_ingest_result r;
		if (ingest(db, HIST, &r) || r.err)
			_exit(3);
		obs_fault_arm("compact.exrelog", 0, 1, EIO);
		if (obs_db_compact(db) != -EIO)
			_exit(4);
		struct obs_db_stats st;
		obs_db_get_stats(db, &st);
		if (st.blocks || st.samples != 3)
			_exit(5);
		if (ingest(db, "rq_count 5 1700000003.000 # {trace_id=\"late\"} 2 1700000003\n", &r) || r.err)
			_exit(6);
		raise(SIGKILL);   /* the relog was cut short, then a write */
		_exit(7);
	}
	reap_killed(pid);
	struct obs_db *db = open_db(0);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"0.5\"}"), want_a);
	cr_assert_str_eq(exemplars(db, "rq_count"), "1700000003 2 {trace_id=\"late\"}\n");
	cr_assert_eq(obs_db_compact(db), 0);
	obs_db_close(db);
	db = open_db(0);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"0.5\"}"), want_a);
	cr_assert_str_eq(exemplars(db, "rq_bucket{le=\"+Inf\"}"), want_inf);
	cr_assert_str_eq(exemplars(db, "rq_count"), "1700000003 2 {trace_id=\"late\"}\n");
	obs_db_close(db);
}

#define KILL_SERIES 8
#define KILL_MAX 60000

struct killer {
	struct obs_db *db;
	_Atomic uint32_t *acked;   /* shared with the parent */
	int64_t base;
};

static void *kill_writer(void *arg)
{
	struct killer *k = arg;
	for (uint32_t i = 0; i < KILL_MAX; i++) {
		char line[200];
		int64_t t = k->base + i;
		snprintf(line, sizeof line, "kw{s=\"%u\"} %u %lld.%03lld # {trace_id=\"%u\"} %u %lld.%03lld\n",
			 i % KILL_SERIES, i, (long long)(t / 1000), (long long)(t % 1000), i, i, (long long)(t / 1000),
			 (long long)(t % 1000));
		struct obs_ingest_result r;
		if (obs_db_ingest(k->db, line, strlen(line), OBS_FMT_AUTO, "kill", 1, &r) || r.err)
			_exit(10);
		atomic_store(k->acked, i + 1);
	}
	return NULL;
}

/* kill -9 while compactions relog the store and a writer goes on: every
 * exemplar whose ingest returned is back, in order */
Test(db_exemplars, survive_kill_during_relogs, .init = setup, .fini = teardown, .timeout = 60)
{
	_Atomic uint32_t *acked = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(acked, MAP_FAILED);
	int64_t base = obs_time_now() - 3600 * 1000;
	struct obs_db_opts o;
	test_opts(&o);
	o.max_exemplars = 1 << 20;
	o.max_exemplars_per_series = 1 << 20;
	for (int round = 0; round < 3; round++) {
		atomic_store(acked, 0);
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (!pid) {
			struct killer k = { open_db_opts(&o), acked, base };
			pthread_t th;
			pthread_create(&th, NULL, kill_writer, &k);
			for (;;)
				if (obs_db_compact(k.db))
					_exit(11);
		}
		/* let it fill the store, then kill it at some point of a relog */
		int status;
		while (atomic_load(acked) < 3000u + 2000u * (unsigned)round) {
			cr_assert_eq(waitpid(pid, &status, WNOHANG), 0, "the child died: %d", status);
			usleep(1000);
		}
		usleep(1000 * (unsigned)(7 + 13 * round));
		kill(pid, SIGKILL);
		reap_killed(pid);
		uint32_t n = atomic_load(acked);
		struct obs_db *db = open_db_opts(&o);
		for (uint32_t s = 0; s < KILL_SERIES; s++) {
			char name[32];
			snprintf(name, sizeof name, "kw{s=\"%u\"}", s);
			const char *got = exemplars(db, name);
			struct obs_buf want;
			obs_buf_init(&want);
			for (uint32_t i = s; i < n; i += KILL_SERIES) {
				char tb[40];
				obs_time_format(base + i, OBS_TIME_EPOCH, tb);
				obs_buf_printf(&want, "%s %u {trace_id=\"%u\"}\n", tb, i, i);
			}
			/* every one acknowledged, in order (and maybe the one after) */
			cr_assert(!strncmp(got, want.data, want.len), "round %d series %u: %u acknowledged, %zu bytes of %zu",
				  round, s, n, strlen(got), want.len);
			obs_buf_release(&want);
		}
		obs_db_close(db);
		teardown();
		setup();
	}
	munmap(acked, 4096);
}
