/* test_logs_faults.c — integrity of the log store: a stream removed while
 * it is being read, blank lines kept as records, journaled partial lines
 * (carries), and an injected failure (ENOSPC, EIO) at each durable step of
 * the flusher and the re-encoder. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/obstime.h"
#include "logs/logquery.h"
#include "logs/logseg.h"
#include "logs/logstore.h"

#include "logs_fixture.h"

static struct obs_logstore *open_store(void)
{
	struct obs_logstore_opts o = lf_opts(1024, 1);
	o.compact_level = 5;
	return lf_open(&o);
}

/* counts of the files in DIR/streams/NAME: live segments and temp files */
static void stream_files(const char *name, int *segs, int *tmps)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/streams/%s", dir, name);
	*segs = *tmps = 0;
	DIR *d = opendir(p);
	cr_assert_not_null(d, "%s", p);
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (!strncmp(de->d_name, ".tmp-", 5))
			(*tmps)++;
		else if (l > 4 && !strcmp(de->d_name + l - 4, ".seg"))
			(*segs)++;
	}
	closedir(d);
}

/* ---- item 4: rm of a stream while a reader holds it --------------------- */

struct slow_reader {
	struct obs_logstore *ls;
	const char *stream;
	int sleep_ms;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inside;
	int rc;
	int done;
	uint64_t seen;
};

static int slow_rec(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct slow_reader *r = ctx;
	if (r->seen++ == 0) {
		pthread_mutex_lock(&r->mu);
		r->inside = 1;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		usleep((useconds_t)r->sleep_ms * 1000);   /* holding the stream */
	}
	return 0;
}

static void *slow_read(void *arg)
{
	struct slow_reader *r = arg;
	r->rc = obs_logstore_read(r->ls, r->stream, OBS_TIME_MIN, OBS_TIME_MAX, NULL, slow_rec, r);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&r->mu);   /* no record seen: do not leave start_reader waiting */
	r->inside = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void start_reader(struct slow_reader *r, pthread_t *t)
{
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	cr_assert_eq(pthread_create(t, NULL, slow_read, r), 0);
	pthread_mutex_lock(&r->mu);
	while (!r->inside)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

struct remover {
	struct obs_logstore *ls;
	int rc;
};

static void *do_remove(void *arg)
{
	struct remover *m = arg;
	m->rc = obs_logstore_remove(m->ls, "gone");
	return NULL;
}

/* Readers that hold the stream while rm runs: rm waits for them, they see
 * every record, and it is freed once (by rm or the last reader). A slow
 * reader of another stream does not hold rm up (rm writes no segment). */
Test(logs_integrity, remove_while_a_view_is_read, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	cr_assert_eq(obs_logstore_append(ls, "gone", "a\nb\nc\n", 6, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	cr_assert_eq(obs_logstore_append(ls, "other", "o\n", 2, T0, NULL, NULL), 0);
	struct slow_reader x = { .ls = ls, .stream = "other", .sleep_ms = 900 };
	struct slow_reader y = { .ls = ls, .stream = "gone", .sleep_ms = 400 };
	pthread_t tx, ty, tr;
	start_reader(&x, &tx);
	start_reader(&y, &ty);
	struct remover m = { ls, 1 };
	cr_assert_eq(pthread_create(&tr, NULL, do_remove, &m), 0);
	pthread_join(ty, NULL);
	pthread_join(tr, NULL);
	cr_assert_eq(__atomic_load_n(&x.done, __ATOMIC_SEQ_CST), 0, "rm waited for a reader of another stream");
	pthread_join(tx, NULL);
	cr_assert_eq(m.rc, 0);
	cr_assert_eq(x.rc, 0);
	cr_assert_eq(y.rc, 0);
	cr_assert_eq(y.seen, 3);
	cr_assert(!obs_logstore_exists(ls, "gone"));
	uint64_t size;
	cr_assert_eq(obs_logstore_text_size(ls, "gone", &size), -ENOENT);
	char *k = dump(ls, "other");
	cr_assert_str_eq(k, "1795236000000|o\n");
	free(k);
	obs_logstore_close(ls);
	ls = open_store();
	cr_assert(!obs_logstore_exists(ls, "gone"));
	obs_logstore_close(ls);
}

/* ---- item 9: blank and whitespace-only lines are records ---------------- */

Test(logs_integrity, blank_lines_are_records, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	const char *w = "first\n\n   \n\t\nlast\n\n";
	cr_assert_eq(obs_logstore_append(ls, "b", w, strlen(w), T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_append(ls, "b", "\n", 1, T0 + 1, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_append(ls, "b", "\r\n", 2, T0 + 2, NULL, NULL), 0);
	const char *want = "1795236000000|first\n"
			   "1795236000000|\n"
			   "1795236000000|   \n"
			   "1795236000000|\t\n"
			   "1795236000000|last\n"
			   "1795236000000|\n"
			   "1795236000001|\n"
			   "1795236000002|\n";
	char *got = dump(ls, "b");
	cr_assert_str_eq(got, want);
	free(got);
	char *t0 = text(ls, "b");
	cr_assert(!strncmp(t0 + 24, " first\n", 7), "%s", t0);
	cr_assert_eq(strlen(t0), 8 * 26 + 5 + 3 + 1 + 4);
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.appended, 8);
	/* restart from the WAL, then from a segment, then re-encoded */
	obs_logstore_close(ls);
	ls = open_store();
	got = dump(ls, "b");
	cr_assert_str_eq(got, want);
	free(got);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	got = dump(ls, "b");
	cr_assert_str_eq(got, want);
	free(got);
	cr_assert_eq(obs_logstore_compact(ls, 0), 0);
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.compactions, 1);
	cr_assert_eq(st.segment_lines, 8);
	obs_logstore_close(ls);
	ls = open_store();
	got = dump(ls, "b");
	cr_assert_str_eq(got, want);
	free(got);
	char *t1 = text(ls, "b");
	cr_assert_str_eq(t1, t0);
	free(t1);
	free(t0);
	/* a query for a word still skips them; #count counts them */
	uint64_t total;
	cr_assert_eq(obs_logstore_count(ls, "b", OBS_TIME_MIN, OBS_TIME_MAX, NULL, NULL, NULL, NULL, &total), 0);
	cr_assert_eq(total, 8);
	obs_logstore_close(ls);
}

/* ---- item 5: partial last lines are journaled --------------------------- */

Test(logs_integrity, carry_survives_restart_once, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	cr_assert_eq(obs_logstore_append(ls, "p", "whole\n", 6, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_carry(ls, 7, "p", "half", 4), 0);
	cr_assert_eq(obs_logstore_carry(ls, 7, "p", "half a line", 11), 0);   /* replaces */
	cr_assert_eq(obs_logstore_carry(ls, 8, "q", "dropped", 7), 0);
	cr_assert_eq(obs_logstore_carry(ls, 8, "q", NULL, 0), 0);          /* cleared */
	/* the open file's carry is not a record yet */
	char *got = dump(ls, "p");
	cr_assert_str_eq(got, "1795236000000|whole\n");
	free(got);
	/* no unmount of the file: the process dies (close keeps only the WAL) */
	obs_logstore_close(ls);
	ls = open_store();
	got = dump(ls, "p");
	cr_assert(!strncmp(got, "1795236000000|whole\n", 20), "%s", got);
	cr_assert(strstr(got, "|half a line\n"), "%s", got);
	cr_assert_eq(strstr(got, "|half\n"), NULL);
	char *first = got;
	if (obs_logstore_exists(ls, "q")) {
		char *q = dump(ls, "q");
		cr_assert_eq(strstr(q, "dropped"), NULL, "%s", q);
		free(q);
	}
	/* recovered once: a second and third restart do not add it again */
	obs_logstore_close(ls);
	ls = open_store();
	got = dump(ls, "p");
	cr_assert_str_eq(got, first);
	free(got);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	obs_logstore_close(ls);
	ls = open_store();
	got = dump(ls, "p");
	cr_assert_str_eq(got, first);
	free(got);
	free(first);
	obs_logstore_close(ls);
}

Test(logs_integrity, carry_survives_a_flush_that_drops_the_wal, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	cr_assert_eq(obs_logstore_carry(ls, 3, "p", "pending", 7), 0);
	cr_assert_eq(obs_logstore_append(ls, "p", "a\n", 2, T0, NULL, NULL), 0);
	/* flush cuts the WAL and removes the segment the carry was written to */
	cr_assert_eq(obs_logstore_flush(ls), 0);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	obs_logstore_close(ls);
	ls = open_store();
	char *got = dump(ls, "p");
	cr_assert(!strncmp(got, "1795236000000|a\n", 16), "%s", got);
	cr_assert(strstr(got, "|pending\n"), "%s", got);
	free(got);
	obs_logstore_close(ls);
}

Test(logs_integrity, completing_a_carry_clears_it_atomically, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	cr_assert_eq(obs_logstore_carry(ls, 5, "p", "one ", 4), 0);
	/* the next write ends the line and leaves a new partial one */
	cr_assert_eq(obs_logstore_append_carried(ls, "p", "one two\n", 8, T0, NULL, NULL, 5), 0);
	cr_assert_eq(obs_logstore_carry(ls, 5, "p", "three", 5), 0);
	obs_logstore_close(ls);
	ls = open_store();
	char *got = dump(ls, "p");
	cr_assert(!strncmp(got, "1795236000000|one two\n", 22), "%s", got);
	cr_assert(strstr(got, "|three\n"), "%s", got);
	cr_assert_eq(strstr(got, "|one \n"), NULL, "%s", got);
	cr_assert_eq(strchr(strstr(got, "|three\n") + 1, '|'), NULL, "%s", got);
	free(got);
	obs_logstore_close(ls);
	/* a carry completed by a write whose lines were all refused is cleared too */
	ls = open_store();
	cr_assert_eq(obs_logstore_carry(ls, 9, "r", "x", 1), 0);
	cr_assert_eq(obs_logstore_append_carried(ls, "r", "", 0, T0, NULL, NULL, 9), 0);
	obs_logstore_close(ls);
	ls = open_store();
	if (obs_logstore_exists(ls, "r")) {
		char *q = dump(ls, "r");
		cr_assert_eq(strstr(q, "|x\n"), NULL, "%s", q);
		free(q);
	}
	obs_logstore_close(ls);
}

/* ---- item 18 (logs): a failure at each step of flush and re-encoding ---- */

static const char *flush_points[] = { "logs.flush.write", "logs.flush.fsync", "logs.flush.rename",
				      "logs.flush.dirsync", "logs.flush.open" };
static const char *compact_points[] = { "logs.compact.write", "logs.compact.fsync", "logs.compact.rename",
					"logs.compact.dirsync", "logs.compact.open" };

static void append_n(struct obs_logstore *ls, const char *stream, int from, int n, struct obs_buf *want)
{
	for (int i = from; i < from + n; i++) {
		char w[96];
		int k = snprintf(w, sizeof(w), "level=info n=%d text that repeats %s\n", i, i % 7 ? "" : "   ");
		cr_assert_eq(obs_logstore_append(ls, stream, w, (size_t)k, T0 + i, NULL, NULL), 0);
		cr_assert_eq(obs_buf_printf(want, "%lld|%.*s\n", (long long)(T0 + i), k - 1, w), 0);
	}
}

static void check_exact(struct obs_logstore *ls, const char *stream, const struct obs_buf *want, const char *ctx)
{
	char *got = dump(ls, stream);
	cr_assert_str_eq(got, want->data, "%s", ctx);
	free(got);
}

static void flush_fault(const char *point, int err)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "%s %s", point, strerror(err));
	struct obs_buf want;
	obs_buf_init(&want);
	struct obs_logstore *ls = open_store();
	append_n(ls, "f", 0, 300, &want);
	cr_assert_eq(obs_fault_arm(point, 0, -1, err), 0);
	cr_assert_eq(obs_logstore_flush(ls), -err, "%s", ctx);
	cr_assert_gt(obs_fault_hits(point), 0, "%s", ctx);
	check_exact(ls, "f", &want, ctx);
	int segs, tmps;
	stream_files("f", &segs, &tmps);
	cr_assert_eq(segs, 0, "%s: a failed flush left a live segment", ctx);
	cr_assert_eq(tmps, 0, "%s: a failed flush left a temp file", ctx);
	/* new lines arrive while the failure lasts: a second try fails too */
	append_n(ls, "f", 300, 50, &want);
	cr_assert_eq(obs_logstore_flush(ls), -err, "%s", ctx);
	check_exact(ls, "f", &want, ctx);
	/* a crash now: the WAL still holds everything */
	obs_logstore_close(ls);
	ls = open_store();
	check_exact(ls, "f", &want, ctx);
	cr_assert_eq(obs_logstore_flush(ls), -err, "%s", ctx);
	append_n(ls, "f", 350, 10, &want);
	/* the failure ends: the next flush succeeds and loses nothing */
	obs_fault_reset();
	cr_assert_eq(obs_logstore_flush(ls), 0, "%s", ctx);
	check_exact(ls, "f", &want, ctx);
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.head_lines, 0, "%s", ctx);
	cr_assert_eq(st.segment_lines, 360, "%s", ctx);
	stream_files("f", &segs, &tmps);
	cr_assert_eq(segs, 1, "%s", ctx);
	cr_assert_eq(tmps, 0, "%s", ctx);
	obs_logstore_close(ls);
	ls = open_store();
	check_exact(ls, "f", &want, ctx);
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.head_lines, 0, "%s: the WAL was not dropped", ctx);
	obs_logstore_close(ls);
	obs_buf_release(&want);
}

static void compact_fault(const char *point, int err)
{
	char ctx[96];
	snprintf(ctx, sizeof(ctx), "%s %s", point, strerror(err));
	struct obs_buf want;
	obs_buf_init(&want);
	struct obs_logstore *ls = open_store();
	append_n(ls, "c", 0, 200, &want);
	cr_assert_eq(obs_logstore_flush(ls), 0, "%s", ctx);
	append_n(ls, "c", 200, 100, &want);
	cr_assert_eq(obs_logstore_flush(ls), 0, "%s", ctx);
	char *text0 = text(ls, "c");
	cr_assert_eq(obs_fault_arm(point, 0, -1, err), 0);
	cr_assert_eq(obs_logstore_compact(ls, 0), -err, "%s", ctx);
	check_exact(ls, "c", &want, ctx);
	char *t = text(ls, "c");
	cr_assert_str_eq(t, text0, "%s", ctx);
	free(t);
	int segs, tmps;
	stream_files("c", &segs, &tmps);
	cr_assert_eq(segs, 2, "%s", ctx);
	cr_assert_eq(tmps, 0, "%s: a failed re-encoding left a temp file", ctx);
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.compactions, 0, "%s", ctx);
	/* restart during the failure: both segments load, nothing twice */
	obs_logstore_close(ls);
	ls = open_store();
	check_exact(ls, "c", &want, ctx);
	obs_fault_reset();
	cr_assert_eq(obs_logstore_compact(ls, 0), 0, "%s", ctx);
	obs_logstore_get_stats(ls, &st);
	/* 2, or 1 when the failed step came after the rename (that file is
	 * at the new level already) */
	cr_assert_geq(st.compactions, 1, "%s", ctx);
	cr_assert_eq(obs_logstore_compact(ls, 0), 0, "%s", ctx);
	struct obs_logstore_stats st2;
	obs_logstore_get_stats(ls, &st2);
	cr_assert_eq(st2.compactions, st.compactions, "%s: a segment was left below the level", ctx);
	check_exact(ls, "c", &want, ctx);
	t = text(ls, "c");
	cr_assert_str_eq(t, text0, "%s", ctx);
	free(t);
	obs_logstore_close(ls);
	ls = open_store();
	check_exact(ls, "c", &want, ctx);
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.segments, 2, "%s", ctx);
	stream_files("c", &segs, &tmps);
	cr_assert_eq(tmps, 0, "%s", ctx);
	obs_logstore_close(ls);
	free(text0);
	obs_buf_release(&want);
}

static void clean_dir(void)
{
	rm_tmp();
	mkdir_tmp();
}

/* run one fault case per point and errno (ENOSPC, EIO), each in a fresh
 * directory */
static void each_point(const char *const *points, size_t n, void (*run)(const char *point, int err))
{
	static const int errs[] = { ENOSPC, EIO };
	for (size_t e = 0; e < 2; e++)
		for (size_t i = 0; i < n; i++) {
			run(points[i], errs[e]);
			clean_dir();
		}
}

Test(logs_faults, flush_step_fails, .init = mkdir_tmp, .fini = rm_tmp)
{
	each_point(flush_points, sizeof(flush_points) / sizeof(*flush_points), flush_fault);
}

Test(logs_faults, compact_step_fails, .init = mkdir_tmp, .fini = rm_tmp)
{
	each_point(compact_points, sizeof(compact_points) / sizeof(*compact_points), compact_fault);
}

Test(logs_faults, carry_append_fails_cleanly, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	cr_assert_eq(obs_logstore_carry(ls, 1, "p", "kept", 4), 0);
	cr_assert_eq(obs_fault_arm("logs.carry", 0, 1, ENOSPC), 0);
	/* a failed journal write leaves the earlier carry in force */
	cr_assert_eq(obs_logstore_carry(ls, 1, "p", "kept more", 9), -ENOSPC);
	obs_logstore_close(ls);
	ls = open_store();
	char *got = dump(ls, "p");
	cr_assert(strstr(got, "|kept\n"), "%s", got);
	free(got);
	obs_logstore_close(ls);
}

/* The background flusher under a lasting failure: it retries with a
 * growing pause (not every second), keeps every line, and flushes once the
 * failure ends. */
Test(logs_faults, background_flush_backs_off_and_recovers, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 90)
{
	struct obs_logstore_opts o;
	memset(&o, 0, sizeof(o));
	o.retention_ms = -1;
	o.head_age_ms = 1;   /* every round wants to flush */
	o.compact_level = -1;
	struct obs_logstore *ls;
	struct obs_buf want;
	obs_buf_init(&want);
	cr_assert_eq(obs_fault_arm("logs.flush.write", 0, -1, ENOSPC), 0);
	cr_assert_eq(obs_logstore_open(dir, &o, &ls), 0);
	append_n(ls, "bg", 0, 100, &want);
	usleep(6500 * 1000);
	unsigned hits = obs_fault_hits("logs.flush.write");
	/* rounds at 1 s, 2 s and 4 s (pauses 1 s, 2 s); every second would be 6 */
	cr_assert(hits >= 2 && hits <= 4, "%u flush attempts in 6.5 s", hits);
	check_exact(ls, "bg", &want, "during the failure");
	obs_fault_reset();
	struct obs_logstore_stats st;
	for (int i = 0; i < 700; i++) {
		obs_logstore_get_stats(ls, &st);
		if (st.head_lines == 0)
			break;
		usleep(100 * 1000);
	}
	cr_assert_eq(st.head_lines, 0, "no flush after the failure ended");
	cr_assert_eq(st.segment_lines, 100);
	check_exact(ls, "bg", &want, "after the failure");
	obs_logstore_close(ls);
	obs_buf_release(&want);
}

/* ---- rm: a removal record, no flush ------------------------------------- */

static int exists_dir(const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/streams/%s", dir, name);
	return access(p, F_OK) == 0;
}

/* dump, or NULL when the stream does not exist */
static char *dump_or_null(struct obs_logstore *ls, const char *stream)
{
	return obs_logstore_exists(ls, stream) ? dump(ls, stream) : NULL;
}

/* Lines in the head, a segment and a pending partial line (carry) of a
 * removed stream: none of them brings it back at the next open (close
 * keeps only the WAL, like kill -9). Old code: rm's flush logged the carry
 * again and the next open made it a record of a new stream "gone". */
Test(logs_remove, removed_stream_stays_removed, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	cr_assert_eq(obs_logstore_append(ls, "gone", "seg 1\nseg 2\n", 12, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	cr_assert_eq(obs_logstore_append(ls, "gone", "head 3\n", 7, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_carry(ls, 4, "gone", "partial", 7), 0);
	cr_assert_eq(obs_logstore_append(ls, "kept", "k\n", 2, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_remove(ls, "gone"), 0);
	cr_assert_eq(obs_logstore_remove(ls, "gone"), -ENOENT);
	cr_assert(!obs_logstore_exists(ls, "gone"));
	cr_assert(!exists_dir("gone"));
	obs_logstore_close(ls);
	for (int round = 0; round < 2; round++) {   /* and once more after that open */
		ls = open_store();
		cr_assert(!obs_logstore_exists(ls, "gone"), "round %d", round);
		cr_assert(!exists_dir("gone"), "round %d", round);
		char *k = dump(ls, "kept");
		cr_assert_str_eq(k, "1795236000000|k\n");
		free(k);
		obs_logstore_close(ls);
	}
	/* and after a flush dropped the WAL that held the removal record */
	ls = open_store();
	cr_assert_eq(obs_logstore_flush(ls), 0);
	obs_logstore_close(ls);
	ls = open_store();
	cr_assert(!obs_logstore_exists(ls, "gone"));
	obs_logstore_close(ls);
}

/* rm, re-create with the same name, append: after a restart only the new
 * records (and the new partial line) are there, also when a segment of the
 * new stream was written while the WAL still holds the removal record (a
 * flush whose WAL drop failed). */
Test(logs_remove, recreated_stream_keeps_only_new_records, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	cr_assert_eq(obs_logstore_append(ls, "x", "old 1\nold 2\n", 12, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	cr_assert_eq(obs_logstore_append(ls, "x", "old 3\n", 6, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_carry(ls, 4, "x", "old part", 8), 0);
	cr_assert_eq(obs_logstore_remove(ls, "x"), 0);
	cr_assert_eq(obs_logstore_append(ls, "x", "new 1\n", 6, T0 + 1, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_carry(ls, 5, "x", "new part", 8), 0);
	char *got = dump(ls, "x");
	cr_assert_str_eq(got, "1795236000001|new 1\n");
	free(got);
	obs_logstore_close(ls);
	ls = open_store();
	got = dump(ls, "x");
	cr_assert(!strncmp(got, "1795236000001|new 1\n", 20), "%s", got);
	cr_assert(strstr(got, "|new part\n"), "%s", got);
	cr_assert_eq(strstr(got, "old"), NULL, "%s", got);
	char *want = got;

	/* again, and this time a segment of the new stream is written while
	 * the removal record stays in the WAL (the flush's carry relog fails,
	 * so it keeps the WAL) */
	cr_assert_eq(obs_logstore_remove(ls, "x"), 0);
	cr_assert_eq(obs_logstore_append(ls, "x", "third 1\nthird 2\n", 16, T0 + 2, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_carry(ls, 6, "x", "third part", 10), 0);
	cr_assert_eq(obs_fault_arm("logs.carry", 0, 1, EIO), 0);
	cr_assert_eq(obs_logstore_flush(ls), -EIO);
	obs_fault_reset();
	int segs, tmps;
	stream_files("x", &segs, &tmps);
	cr_assert_eq(segs, 1);
	obs_logstore_close(ls);
	ls = open_store();
	got = dump(ls, "x");
	cr_assert(!strncmp(got, "1795236000002|third 1\n1795236000002|third 2\n", 44), "%s", got);
	cr_assert(strstr(got, "|third part\n"), "%s", got);
	cr_assert_eq(strstr(got, "new"), NULL, "%s", got);
	cr_assert_eq(strstr(got, "old"), NULL, "%s", got);
	free(got);
	free(want);
	obs_logstore_close(ls);
}

/* rm needs no segment write: it works on a full disk (every flush step
 * fails); only when its own small record cannot be written it fails with
 * ENOSPC and the stream is left intact. Old code: rm flushed first and
 * failed with ENOSPC. */
Test(logs_remove, rm_on_a_full_disk, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_buf want;
	obs_buf_init(&want);
	struct obs_logstore *ls = open_store();
	append_n(ls, "full", 0, 50, &want);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	append_n(ls, "full", 50, 50, &want);
	cr_assert_eq(obs_fault_arm("logs.flush.write", 0, -1, ENOSPC), 0);
	cr_assert_eq(obs_logstore_flush(ls), -ENOSPC);
	cr_assert_eq(obs_logstore_remove(ls, "full"), 0);
	cr_assert(!obs_logstore_exists(ls, "full"));
	cr_assert(!exists_dir("full"));
	obs_logstore_close(ls);
	ls = open_store();
	cr_assert(!obs_logstore_exists(ls, "full"));

	/* even the removal record cannot be written */
	obs_buf_release(&want);
	obs_buf_init(&want);
	append_n(ls, "full", 0, 20, &want);
	cr_assert_eq(obs_fault_arm("logs.remove", 0, -1, ENOSPC), 0);
	cr_assert_eq(obs_logstore_remove(ls, "full"), -ENOSPC);
	cr_assert_gt(obs_fault_hits("logs.remove"), 0);
	cr_assert(obs_logstore_exists(ls, "full"));
	check_exact(ls, "full", &want, "after a failed rm");
	append_n(ls, "full", 20, 5, &want);   /* still a working stream */
	check_exact(ls, "full", &want, "after a failed rm");
	obs_logstore_close(ls);
	ls = open_store();
	check_exact(ls, "full", &want, "restart after a failed rm");
	obs_fault_reset();
	cr_assert_eq(obs_logstore_remove(ls, "full"), 0);
	obs_logstore_close(ls);
	ls = open_store();
	cr_assert(!obs_logstore_exists(ls, "full"));
	obs_logstore_close(ls);
	obs_buf_release(&want);
}

struct racer {
	struct obs_logstore *ls;
	int stop;
	int n;
};

static void *race_append(void *arg)
{
	struct racer *a = arg;
	while (!__atomic_load_n(&a->stop, __ATOMIC_SEQ_CST)) {
		char w[32];
		int k = snprintf(w, sizeof(w), "a %d\nb %d\n", a->n, a->n);
		cr_assert_eq(obs_logstore_append(a->ls, "race", w, (size_t)k, T0 + a->n, NULL, NULL), 0);
		a->n++;
	}
	return NULL;
}

/* Appends racing rm: what the store shows before a restart (kill -9) is
 * what it shows after; no line appended around an rm comes back. Old code:
 * lines appended between rm's flush and the removal went to the removed
 * head (invisible) and came back from the WAL at the next open. */
Test(logs_remove, appends_racing_rm_same_after_restart, .init = mkdir_tmp, .fini = rm_tmp, .timeout = 120)
{
	for (int round = 0; round < 20; round++) {
		struct obs_logstore *ls = open_store();
		struct racer a = { ls, 0, 0 };
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, race_append, &a), 0);
		for (int i = 0; i < 20; i++) {
			usleep(500);
			int r = obs_logstore_remove(ls, "race");
			cr_assert(r == 0 || r == -ENOENT, "rm: %d", r);
		}
		__atomic_store_n(&a.stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(t, NULL);
		char *before = dump_or_null(ls, "race");
		obs_logstore_close(ls);
		ls = open_store();
		char *after = dump_or_null(ls, "race");
		cr_assert((before == NULL) == (after == NULL), "round %d: exists %d before, %d after", round,
			  before != NULL, after != NULL);
		if (before)
			cr_assert_str_eq(after, before, "round %d", round);
		free(before);
		free(after);
		obs_logstore_close(ls);
		clean_dir();
	}
}

/* ---- re-encoding: memory follows the disk -------------------------------- */

/* bytes of the segment files of a stream on disk */
static uint64_t disk_seg_bytes(const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/streams/%s", dir, name);
	DIR *d = opendir(p);
	cr_assert_not_null(d, "%s", p);
	uint64_t total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".seg")) {
			char f[800];
			struct stat st;
			snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
			cr_assert_eq(stat(f, &st), 0, "%s", f);
			total += (uint64_t)st.st_size;
		}
	}
	closedir(d);
	return total;
}

/* A re-encoding that fails at any step, before or after its rename: what
 * memory serves is what is on disk (same bytes), and the next pass
 * re-encodes exactly what is still below the level. Old code: a failure
 * after the rename (dirsync, open) kept the old segment in memory while the
 * new file was on disk, and the next pass re-encoded it once more. */
Test(logs_faults, reencode_fault_memory_follows_disk, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const int err = EIO;
	for (size_t i = 0; i < sizeof(compact_points) / sizeof(*compact_points); i++) {
		const char *pt = compact_points[i];
		struct obs_buf want;
		obs_buf_init(&want);
		struct obs_logstore *ls = open_store();
		append_n(ls, "m", 0, 200, &want);
		cr_assert_eq(obs_logstore_flush(ls), 0);
		append_n(ls, "m", 200, 100, &want);
		cr_assert_eq(obs_logstore_flush(ls), 0);
		char *text0 = text(ls, "m");
		cr_assert_eq(obs_fault_arm(pt, 0, 1, err), 0);
		cr_assert_eq(obs_logstore_compact(ls, 1), -err, "%s", pt);
		struct obs_logstore_stats st;
		obs_logstore_get_stats(ls, &st);
		cr_assert_eq(st.segment_bytes, disk_seg_bytes("m"), "%s: memory and disk differ", pt);
		check_exact(ls, "m", &want, pt);
		char *t = text(ls, "m");
		cr_assert_str_eq(t, text0, "%s", pt);
		free(t);
		/* one already at the level after a failure past the rename */
		int after_rename = !strcmp(pt, "logs.compact.dirsync");
		cr_assert_eq(obs_logstore_compact(ls, 0), 0, "%s", pt);
		obs_logstore_get_stats(ls, &st);
		cr_assert_eq(st.compactions, after_rename ? 1 : 2, "%s: re-encoded %llu", pt,
			     (unsigned long long)st.compactions);
		cr_assert_eq(st.segment_bytes, disk_seg_bytes("m"), "%s", pt);
		check_exact(ls, "m", &want, pt);
		t = text(ls, "m");
		cr_assert_str_eq(t, text0, "%s", pt);
		free(t);
		obs_logstore_close(ls);
		ls = open_store();
		check_exact(ls, "m", &want, pt);
		obs_logstore_close(ls);
		free(text0);
		obs_buf_release(&want);
		clean_dir();
	}
}
