/* test_logs_cursor.c — resumable searches (logstore_cursor.c): a cursor
 * stepped one record at a time gives exactly what a brute-force filter of
 * the appended lines says, in arrival order, across frames, segments, the
 * head, and flushes, re-encodings and retention made between its steps;
 * what it covers is fixed at its first step; rewind, errors of its
 * callback and an rm of the stream (before and after its first step). */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logs/logquery.h"
#include "logs_fixture.h"

#define N 3000

static char *line[N];

static void mk_lines(void)
{
	static const char *lv[] = { "info", "info", "warn", "error", "debug" };
	for (int i = 0; i < N; i++) {
		char b[128];
		snprintf(b, sizeof b, "level=%s i=%d msg=\"%s %d\"", lv[i % 5], i, i % 7 ? "req" : "slow req", i);
		line[i] = strdup(b);
	}
}

static void free_lines(void)
{
	for (int i = 0; i < N; i++)
		free(line[i]);
}

static void setup(void)
{
	mkdir_tmp();
	mk_lines();
}

static void teardown(void)
{
	free_lines();
	rm_tmp();
}

/* line i appended at time T0 + i s (one append each: times from now_ms) */
static void append(struct obs_logstore *ls, int a, int b)
{
	for (int i = a; i < b; i++)
		cr_assert_eq(obs_logstore_append(ls, "s", line[i], strlen(line[i]), T0 + i * 1000LL, NULL, NULL), 0);
}

/* what a search of lines [0, upto) must give, "TS|LINE\n" */
static char *brute(const char *qs, int64_t from, int64_t to, int lo, int upto)
{
	struct obs_logquery *q = NULL;
	if (qs)
		cr_assert_eq(obs_logquery_parse(qs, strlen(qs), &q, NULL, 0), 0);
	struct obs_buf b;
	obs_buf_init(&b);
	obs_buf_puts(&b, "");
	for (int i = lo; i < upto; i++) {
		int64_t ts = T0 + i * 1000LL;
		if (ts >= from && ts <= to && obs_logquery_match(q, line[i], strlen(line[i])))
			lf_dump_rec(&b, ts, line[i], strlen(line[i]));
	}
	obs_logquery_free(q);
	char *s = strdup(b.data);
	obs_buf_release(&b);
	return s;
}

/* one record per step */
struct one {
	struct obs_buf *out;
	int fail_at;   /* the record number that fails once with -EIO (-1: none) */
	int n;
};

static int one_rec(void *ctx, int64_t ts, const char *l, size_t n)
{
	struct one *o = ctx;
	if (o->n == o->fail_at) {
		o->fail_at = -1;
		return -EIO;
	}
	o->n++;
	lf_dump_rec(o->out, ts, l, n);
	return 1;
}

/* step c to its end, calling between(k) before the k-th step */
static char *drain(struct obs_logcursor *c, void (*between)(int k, void *ctx), void *ctx, int fail_at)
{
	struct obs_buf b;
	obs_buf_init(&b);
	obs_buf_puts(&b, "");
	struct one o = { &b, fail_at, 0 };
	int r, k = 0, failed = 0;
	do {
		if (between)
			between(k, ctx);
		k++;
		r = obs_logcursor_step(c, one_rec, &o);
		if (r == -EIO && !failed) {
			failed = 1;
			r = 1;
		}
		cr_assert_geq(r, 0, "step %d: %d", k, r);
	} while (r == 1);
	cr_assert_eq(failed, fail_at >= 0);
	char *s = strdup(b.data);
	obs_buf_release(&b);
	return s;
}

/* drain c (as drain) and compare with what brute(qs, whole range, lo, upto)
 * says */
static void expect_drain(struct obs_logcursor *c, void (*between)(int k, void *ctx), void *ctx, int fail_at,
			 const char *qs, int lo, int upto)
{
	char *got = drain(c, between, ctx, fail_at);
	char *want = brute(qs, OBS_TIME_MIN, OBS_TIME_MAX, lo, upto);
	cr_assert_str_eq(got, want, "%s [%d, %d)", qs ? qs : "all", lo, upto);
	free(got);
	free(want);
}

static struct obs_logstore_opts opts(void)
{
	struct obs_logstore_opts o = lf_opts(300, 1);   /* frames of a few lines */
	o.compact_level = 5;
	return o;
}

Test(cursor, steps_over_frames_segments_and_the_head, .init = setup, .fini = teardown)
{
	struct obs_logstore_opts o = opts();
	struct obs_logstore *ls = lf_open(&o);
	/* three segments and a head */
	append(ls, 0, 800);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	append(ls, 800, 1500);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	append(ls, 1500, 2200);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	append(ls, 2200, 3000);
	struct {
		const char *q;
		int64_t from, to;
	} cases[] = {
		{ NULL, OBS_TIME_MIN, OBS_TIME_MAX },
		{ "level=error", OBS_TIME_MIN, OBS_TIME_MAX },
		{ "slow", T0 + 500 * 1000LL, T0 + 2600 * 1000LL },   /* trigram plan, inexact */
		{ "level>=warn or i=1499", T0 + 799 * 1000LL, T0 + 1500 * 1000LL },   /* one segment's edges */
		{ "i=123456", OBS_TIME_MIN, OBS_TIME_MAX },   /* nothing */
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct obs_logquery *q = NULL;
		if (cases[k].q)
			cr_assert_eq(obs_logquery_parse(cases[k].q, strlen(cases[k].q), &q, NULL, 0), 0);
		struct obs_logcursor *c;
		cr_assert_eq(obs_logcursor_new(ls, "s", cases[k].from, cases[k].to, q, &c), 0);
		char *want = brute(cases[k].q, cases[k].from, cases[k].to, 0, N);
		char *got = drain(c, NULL, NULL, -1);
		cr_assert_str_eq(got, want, "case %zu (%s)", k, cases[k].q ? cases[k].q : "all");
		/* the same again after a rewind */
		obs_logcursor_rewind(c);
		free(got);
		got = drain(c, NULL, NULL, -1);
		cr_assert_str_eq(got, want, "case %zu after a rewind", k);
		/* and the whole search agrees */
		struct obs_buf b;
		obs_buf_init(&b);
		obs_buf_puts(&b, "");
		cr_assert_eq(obs_logstore_read(ls, "s", cases[k].from, cases[k].to, q, lf_dump_rec, &b), 0);
		cr_assert_str_eq(b.data, want, "case %zu: obs_logstore_read", k);
		obs_buf_release(&b);
		free(got);
		free(want);
		obs_logcursor_free(c);
		obs_logquery_free(q);
	}
	obs_logstore_close(ls);
}

/* between steps: a flush of the head, a re-encoding, new appends */
struct churn {
	struct obs_logstore *ls;
};

static void churn(int k, void *ctx)
{
	struct churn *ch = ctx;
	if (k == 50)   /* inside the first segment: re-encode it under the cursor */
		cr_assert_eq(obs_logstore_compact(ch->ls, 0), 0);
	if (k == 450)  /* in the head: cut it into a segment */
		cr_assert_eq(obs_logstore_flush(ch->ls), 0);
	if (k == 500)  /* appended after the first step: not part of it */
		append(ch->ls, 2000, 3000);
}

Test(cursor, flush_reencode_and_appends_between_steps, .init = setup, .fini = teardown)
{
	struct obs_logstore_opts o = opts();
	struct obs_logstore *ls = lf_open(&o);
	append(ls, 0, 1000);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	append(ls, 1000, 2000);
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse("level=info", 10, &q, NULL, 0), 0);
	struct obs_logcursor *c;
	cr_assert_eq(obs_logcursor_new(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, q, &c), 0);
	struct churn ch = { ls };
	expect_drain(c, churn, &ch, -1, "level=info", 0, 2000);
	/* a new cursor sees the late appends */
	obs_logcursor_free(c);
	cr_assert_eq(obs_logcursor_new(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, q, &c), 0);
	expect_drain(c, NULL, NULL, -1, "level=info", 0, 3000);
	obs_logcursor_free(c);
	obs_logquery_free(q);
	obs_logstore_close(ls);
}

static void retain(int k, void *ctx)
{
	struct churn *ch = ctx;
	/* the cursor is in the second segment: the first (times up to
	 * T0 + 999 s) goes */
	if (k == 1100)
		cr_assert_eq(obs_logstore_retain(ch->ls, T0 + 1000 * 1000LL + 1000), 0);
}

Test(cursor, retention_behind_it_and_a_failing_callback, .init = setup, .fini = teardown)
{
	struct obs_logstore_opts o = opts();
	o.retention_ms = 1000;
	o.compact_level = -1;
	struct obs_logstore *ls = lf_open(&o);
	append(ls, 0, 1000);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	append(ls, 1000, 2000);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	struct obs_logcursor *c;
	cr_assert_eq(obs_logcursor_new(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, NULL, &c), 0);
	struct churn ch = { ls };
	/* record 1500 fails once: it comes again at the next step */
	expect_drain(c, retain, &ch, 1500, NULL, 0, 2000);
	/* the same cursor rewound: the first segment is gone */
	obs_logcursor_rewind(c);
	expect_drain(c, NULL, NULL, -1, NULL, 1000, 2000);
	obs_logcursor_free(c);
	obs_logstore_close(ls);
}

Test(cursor, rm_of_the_stream, .init = setup, .fini = teardown)
{
	struct obs_logstore_opts o = opts();
	struct obs_logstore *ls = lf_open(&o);
	append(ls, 0, 600);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	append(ls, 600, 1000);
	struct obs_logcursor *c, *late;
	cr_assert_eq(obs_logcursor_new(ls, "nope", OBS_TIME_MIN, OBS_TIME_MAX, NULL, &c), -ENOENT);
	cr_assert_eq(obs_logcursor_new(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, NULL, &c), 0);
	cr_assert_eq(obs_logcursor_new(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, NULL, &late), 0);
	struct obs_buf b;
	obs_buf_init(&b);
	struct one one = { &b, -1, 0 };
	cr_assert_eq(obs_logcursor_step(c, one_rec, &one), 1);
	cr_assert_eq(obs_logstore_remove(ls, "s"), 0);
	/* started before the rm: to its end, every record; not started: ENOENT */
	expect_drain(c, NULL, NULL, -1, NULL, 1, 1000);
	cr_assert_eq(obs_logcursor_step(late, one_rec, &one), -ENOENT);
	obs_logcursor_free(late);
	obs_logcursor_free(c);   /* the last reference frees the removed stream */
	obs_buf_release(&b);
	obs_logstore_close(ls);
}

/* render: whole records, at least want bytes, 0 at the end */
Test(cursor, render_in_pieces, .init = setup, .fini = teardown)
{
	struct obs_logstore_opts o = opts();
	struct obs_logstore *ls = lf_open(&o);
	append(ls, 0, 600);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	append(ls, 600, 1000);
	struct obs_buf whole, piece;
	obs_buf_init(&whole);
	obs_buf_init(&piece);
	cr_assert_eq(obs_logstore_render_view(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, NULL, 1, &whole), 0);
	struct obs_logcursor *c;
	cr_assert_eq(obs_logcursor_new(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, NULL, &c), 0);
	int r, steps = 0;
	size_t want = 0;
	do {
		want = piece.len + 1000;
		r = obs_logcursor_render(c, 1, &piece, want);
		cr_assert_geq(r, 0);
		if (r == 1)
			cr_assert_geq(piece.len, want);
		cr_assert(piece.len == 0 || piece.data[piece.len - 1] == '\n');
		steps++;
	} while (r == 1);
	cr_assert_gt(steps, 20);
	cr_assert_eq(piece.len, whole.len);
	cr_assert_eq(memcmp(piece.data, whole.data, whole.len), 0);
	obs_buf_release(&whole);
	obs_buf_release(&piece);
	obs_logcursor_free(c);
	obs_logstore_close(ls);
}
