/* test_logs_store.c — log segments (encode/decode, index, corruption) and the
 * log store (append, read, restart through WAL replay, flush, retention). */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/obstime.h"
#include "logs/logquery.h"
#include "logs/logseg.h"
#include "logs/logstore.h"

#include "logs_fixture.h"

/* ---- a synthetic corpus ------------------------------------------------- */

#define NL 20000
static char *lines[NL];
static uint32_t lens[NL];
static int64_t tss[NL];

static void corpus(void)
{
	static const char *lv[] = { "debug", "info", "info", "info", "warn", "error" };
	static const char *svc[] = { "api", "web", "db" };
	for (int i = 0; i < NL; i++) {
		char b[256];
		int n;
		if (i % 3 == 0)
			n = snprintf(b, sizeof(b), "{\"level\":\"%s\",\"service\":\"%s\",\"i\":%d,\"msg\":\"req %d%s\"}",
				     lv[i % 6], svc[i % 3 == 0 ? (i / 3) % 3 : 0], i, i, i == 12345 ? " needle-XYZZY" : "");
		else if (i % 3 == 1)
			n = snprintf(b, sizeof(b), "level=%s service=%s i=%d msg=\"work %d\"", lv[i % 6], svc[i % 3], i, i * 7);
		else
			n = snprintf(b, sizeof(b), "10.0.%d.%d - - [21/Nov/2026:04:46:16 +0000] \"GET /p/%d HTTP/1.1\" %d %d \"-\" \"ua\"",
				     i % 256, i % 7, i % 50, (i % 10 == 2) ? 404 : 200, i);
		lines[i] = strndup(b, (size_t)n);
		lens[i] = (uint32_t)n;
		tss[i] = T0 + i * 10;
	}
}

static void corpus_free(void)
{
	for (int i = 0; i < NL; i++)
		free(lines[i]);
}

/* brute-force answer */
static uint64_t brute(const char *qs, int64_t from, int64_t to)
{
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse(qs, strlen(qs), &q, NULL, 0), 0, "%s", qs);
	uint64_t n = 0;
	for (int i = 0; i < NL; i++)
		if (tss[i] >= from && tss[i] <= to && obs_logquery_match(q, lines[i], lens[i]))
			n++;
	obs_logquery_free(q);
	return n;
}

static int count_rec(void *ctx, int64_t ts, const char *l, size_t n)
{
	(*(uint64_t *)ctx)++;
	return 0;
}

static int check(void *ctx, int64_t ts, const char *l, size_t n)
{
	int *i = ctx;
	cr_assert_eq(ts, tss[*i]);
	cr_assert_eq(n, lens[*i]);
	cr_assert(!memcmp(l, lines[*i], n));
	(*i)++;
	return 0;
}

static struct obs_logseg *encode_corpus(struct obs_buf *b, size_t frame)
{
	struct obs_logseg_input in = { NL, tss, (const char *const *)lines, lens, 100 };
	struct obs_logseg_opts o = { frame, 3, 0, 0 };
	obs_buf_init(b);
	cr_assert_eq(obs_logseg_encode(&in, &o, b), 0);
	struct obs_logseg *s;
	cr_assert_eq(obs_logseg_load(b->data, b->len, 0, &s), 0);
	return s;
}

Test(logseg, roundtrip_and_index, .init = corpus, .fini = corpus_free)
{
	struct obs_buf b;
	struct obs_logseg *s = encode_corpus(&b, 64 * 1024);
	struct obs_logseg_info in;
	obs_logseg_get_info(s, &in);
	cr_assert_eq(in.nlines, NL);
	cr_assert_eq(in.first_seq, 100);
	cr_assert_gt(in.nframes, 10);
	cr_assert_eq(in.min_ts, T0);
	cr_assert_eq(in.max_ts, T0 + (NL - 1) * 10);
	cr_assert(in.ts_sorted);
	cr_assert_geq(in.nfields_indexed, 2); /* level, service at least */

	/* every record back, in order, with its time */
	struct { int i; } st = { 0 };
	cr_assert_eq(obs_logseg_search(s, OBS_TIME_MIN, OBS_TIME_MAX, NULL, check, &st.i, NULL), 0);
	cr_assert_eq(st.i, NL);

	/* queries agree with brute force, and needles read few frames */
	const char *qs[] = { "level>=warn", "service=db", "status=404", "needle-XYZZY", "level=error service!=api",
			     "-level=info", "status>=400 or needle-XYZZY", "/work 7[0-9]+/", "i>19990", "method=GET",
			     "nosuchfield=1", "nosuchfield!=1", "(level=debug | level=error) \"req 1\"",
			     "/needle-X+YZZY/", "/(abc)?needle-XY.ZY/", "/needle-xyzzy/i", "/needle-XYZ?ZY/",
			     "/req [0-9]+ needle/", "~\"ne(e|x)dle\"", "/^10\\.0\\.3\\./", NULL };
	for (int k = 0; qs[k]; k++) {
		for (int r = 0; r < 2; r++) {
			int64_t from = r ? T0 + 50000 : OBS_TIME_MIN, to = r ? T0 + 120000 : OBS_TIME_MAX;
			struct obs_logquery *q;
			cr_assert_eq(obs_logquery_parse(qs[k], strlen(qs[k]), &q, NULL, 0), 0);
			uint64_t want = brute(qs[k], from, to), got = 0, cnt = 0;
			struct obs_logseg_stats ss = { 0, 0 };
			cr_assert_eq(obs_logseg_search(s, from, to, q, count_rec, &got, &ss), 0);
			cr_assert_eq(got, want, "search '%s' range %d: %lu want %lu", qs[k], r, got, want);
			cr_assert_eq(obs_logseg_count(s, from, to, q, NULL, NULL, NULL, &cnt, NULL), 0);
			cr_assert_eq(cnt, want, "count '%s': %lu want %lu", qs[k], cnt, want);
			if ((!strcmp(qs[k], "needle-XYZZY") || !strcmp(qs[k], "/needle-X+YZZY/")) && !r) {
				cr_assert_eq(got, 1);
				cr_assert_leq(ss.frames_read, 2, "needle read %lu frames", ss.frames_read);
			}
			obs_logquery_free(q);
		}
	}
	/* an exact field count decompresses nothing */
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse("status=404", 10, &q, NULL, 0), 0);
	struct obs_logseg_stats ss = { 0, 0 };
	uint64_t c = 0;
	cr_assert_eq(obs_logseg_count(s, OBS_TIME_MIN, OBS_TIME_MAX, q, NULL, NULL, NULL, &c, &ss), 0);
	cr_assert_eq(c, brute("status=404", OBS_TIME_MIN, OBS_TIME_MAX));
	cr_assert_eq(ss.frames_read, 0);
	obs_logquery_free(q);
	obs_logseg_close(s);
	obs_buf_release(&b);
}

Test(logseg, read_text, .init = corpus, .fini = corpus_free)
{
	struct obs_buf b;
	struct obs_logseg *s = encode_corpus(&b, 16 * 1024);
	uint64_t size = obs_logseg_text_size(s), want = 0;
	for (int i = 0; i < NL; i++)
		want += lens[i] + 26;
	cr_assert_eq(size, want);
	char *all = malloc(size + 1);
	size_t got = 0, off = 0;
	/* odd-sized reads across frames */
	while (off < size) {
		cr_assert_eq(obs_logseg_read_text(s, off, all + off, 7777, &got), 0);
		cr_assert_gt(got, 0);
		off += got;
	}
	cr_assert_eq(obs_logseg_read_text(s, size, all, 10, &got), 0);
	cr_assert_eq(got, 0);
	char t[40];
	obs_time_format(tss[0], OBS_TIME_RFC3339, t);
	cr_assert(!strncmp(all, t, 24) && all[24] == ' ');
	cr_assert(!memcmp(all + 25, lines[0], lens[0]) && all[25 + lens[0]] == '\n');
	size_t lnum = 0;
	for (size_t k = 0; k < size; k++)
		lnum += all[k] == '\n';
	cr_assert_eq(lnum, NL);
	cr_assert(!memcmp(all + size - 1 - lens[NL - 1], lines[NL - 1], lens[NL - 1]));
	/* reads at any offset, forwards in small steps (the frame's position is
	 * kept between them), backwards, and after the cache was dropped, give
	 * the same bytes as the sequential reading */
	char piece[300];
	uint64_t seed = 12345;
	for (int k = 0; k < 4000; k++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		uint64_t at = k % 3 == 2 ? off - 1000 + (seed >> 33) % 2000 : (seed >> 20) % size;
		if (at >= size)
			at = size - 1;
		size_t n = 1 + (seed >> 40) % sizeof piece;
		if (k % 500 == 0)
			obs_logseg_drop_cache(s);
		cr_assert_eq(obs_logseg_read_text(s, at, piece, n, &got), 0);
		cr_assert_eq(got, n < size - at ? n : size - at, "read at %llu", (unsigned long long)at);
		cr_assert(!memcmp(piece, all + at, got), "the bytes at %llu", (unsigned long long)at);
		off = at + got < size ? at + got : size / 2;
	}
	free(all);
	obs_logseg_close(s);
	obs_buf_release(&b);
}

Test(logseg, corruption, .init = corpus, .fini = corpus_free)
{
	struct obs_buf b;
	struct obs_logseg *s = encode_corpus(&b, 64 * 1024);
	obs_logseg_close(s);
	/* truncation anywhere is detected */
	for (size_t cut = 0; cut < b.len; cut += b.len / 97 + 1)
		cr_assert_eq(obs_logseg_load(b.data, cut, 0, &s), -EBADMSG, "cut at %zu", cut);
	/* a bit flip in the index or footer is detected at load */
	for (size_t k = b.len - 1; k > b.len - 400; k -= 13) {
		b.data[k] ^= 0x10;
		cr_assert_eq(obs_logseg_load(b.data, b.len, 0, &s), -EBADMSG, "flip at %zu", k);
		b.data[k] ^= 0x10;
	}
	/* a bit flip in a frame is detected when that frame is read */
	b.data[100] ^= 1;
	cr_assert_eq(obs_logseg_load(b.data, b.len, 0, &s), 0);
	uint64_t n = 0;
	cr_assert_eq(obs_logseg_search(s, OBS_TIME_MIN, OBS_TIME_MAX, NULL, count_rec, &n, NULL), -EBADMSG);
	obs_logseg_close(s);
	obs_buf_release(&b);
}

/* ---- store ------------------------------------------------------------- */

static struct obs_logstore *open_store(void)
{
	struct obs_logstore_opts o = lf_opts(4096, 3);
	o.max_line = 100;
	return lf_open(&o);
}

static char *render(struct obs_logstore *ls, const char *stream, const char *qs)
{
	struct obs_logquery *q = NULL;
	if (qs)
		cr_assert_eq(obs_logquery_parse(qs, strlen(qs), &q, NULL, 0), 0);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_logstore_render_view(ls, stream, OBS_TIME_MIN, OBS_TIME_MAX, q, 0, &b), 0);
	obs_logquery_free(q);
	if (!b.data)
		return strdup("");
	return b.data;
}

struct rej {
	int n;
	size_t lineno;
};

static void on_reject(void *ctx, const char *stream, const char *line, size_t n, size_t lineno, const char *why)
{
	struct rej *r = ctx;
	r->n++;
	r->lineno = lineno;
}

Test(logstore, append_read_restart, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	int64_t now = T0;
	const char *w1 = "2026-11-21T10:00:00Z first line\nlevel=error msg=\"boom\" ts=2026-11-21T10:00:01Z\r\n\nno time here";
	cr_assert_eq(obs_logstore_append(ls, "app", w1, strlen(w1), now, NULL, NULL), 0);
	char big[300];
	memset(big, 'x', sizeof(big));
	char w2[400];
	int n = snprintf(w2, sizeof(w2), "ok one\n%.*s\nok two\n", 200, big);
	struct rej rj = { 0, 0 };
	cr_assert_eq(obs_logstore_append(ls, "app", w2, (size_t)n, now, on_reject, &rj), -EINVAL);
	cr_assert_eq(rj.n, 1);
	cr_assert_eq(rj.lineno, 2);
	cr_assert_eq(obs_logstore_append(ls, "bad/name", "x", 1, now, NULL, NULL), -EINVAL);

	char *expect = render(ls, "app", NULL);
	char tnow[40];
	obs_time_format(now, OBS_TIME_RFC3339, tnow);
	char want[1024];
	snprintf(want, sizeof(want),
		 "2026-11-21T10:00:00.000Z 2026-11-21T10:00:00Z first line\n"
		 "2026-11-21T10:00:01.000Z level=error msg=\"boom\" ts=2026-11-21T10:00:01Z\n"
		 "%s \n%s no time here\n%s ok one\n%s ok two\n", tnow, tnow, tnow, tnow);   /* the blank line is a record */
	cr_assert_str_eq(expect, want);
	char *t = text(ls, "app");
	cr_assert_str_eq(t, want);
	free(t);
	char *e = render(ls, "app", "level>=error");
	cr_assert_str_eq(e, "2026-11-21T10:00:01.000Z level=error msg=\"boom\" ts=2026-11-21T10:00:01Z\n");
	free(e);
	/* restart without a flush: everything comes back from the WAL */
	obs_logstore_close(ls);
	ls = open_store();
	t = render(ls, "app", NULL);
	cr_assert_str_eq(t, want);
	free(t);
	/* flush into a segment, append more, restart: no loss, no duplicate */
	cr_assert_eq(obs_logstore_flush(ls), 0);
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.segments, 1);
	cr_assert_eq(st.segment_lines, 6);
	cr_assert_eq(st.head_lines, 0);
	cr_assert_eq(obs_logstore_append(ls, "app", "after flush\n", 12, now, NULL, NULL), 0);
	char *before = text(ls, "app");
	cr_assert(strstr(before, " after flush\n"));
	obs_logstore_close(ls);
	ls = open_store();
	t = render(ls, "app", NULL);
	cr_assert_str_eq(t, before);
	free(t);
	t = text(ls, "app");
	cr_assert_str_eq(t, before);
	free(t);
	free(before);
	free(expect);
	obs_logstore_close(ls);
}

Test(logstore, crash_between_segment_and_wal_drop, .init = mkdir_tmp, .fini = rm_tmp)
{
	/* a segment written while the WAL still holds its records (as if the
	 * process died before dropping the WAL) must not duplicate them */
	struct obs_logstore *ls = open_store();
	cr_assert_eq(obs_logstore_append(ls, "s", "a\nb\nc\n", 6, T0, NULL, NULL), 0);
	obs_logstore_close(ls);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "cp -a '%s/wal' '%s/wal.keep'", dir, dir);
	cr_assert_eq(system(cmd), 0);
	ls = open_store();
	cr_assert_eq(obs_logstore_flush(ls), 0);
	cr_assert_eq(obs_logstore_append(ls, "s", "d\n", 2, T0, NULL, NULL), 0);
	obs_logstore_close(ls);
	snprintf(cmd, sizeof(cmd), "cp -a '%s/wal.keep/.' '%s/wal/'", dir, dir);
	cr_assert_eq(system(cmd), 0);
	ls = open_store();
	uint64_t total = 0;
	cr_assert_eq(obs_logstore_count(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, NULL, NULL, NULL, NULL, &total), 0);
	cr_assert_eq(total, 4);
	obs_logstore_close(ls);
}

static int count_by(void *ctx, const char *v, size_t vn, uint64_t c)
{
	char *out = ctx;
	size_t l = strlen(out);
	snprintf(out + l, 512 - l, "%lu %.*s;", (unsigned long)c, v ? (int)vn : 1, v ? v : "-");
	return 0;
}

static int add_name(void *ctx, const char *s)
{
	strcat(ctx, s);
	strcat(ctx, ";");
	return 0;
}

Test(logstore, counts_streams_remove, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	const char *w = "level=info a\nlevel=error b\nlevel=error c\nplain d\nlevel=warn e\n";
	cr_assert_eq(obs_logstore_append(ls, "x", w, strlen(w), T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	cr_assert_eq(obs_logstore_append(ls, "x", "level=error f\n", 14, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_create(ls, "empty{env=\"a/b\"}"), -EINVAL);
	cr_assert_eq(obs_logstore_create(ls, "empty"), 0);
	char by[512] = "";
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse("level>=info", 11, &q, NULL, 0), 0);
	uint64_t total;
	cr_assert_eq(obs_logstore_count(ls, "x", OBS_TIME_MIN, OBS_TIME_MAX, q, "level", count_by, by, &total), 0);
	cr_assert_eq(total, 5);
	cr_assert_str_eq(by, "3 error;1 info;1 warn;");
	obs_logquery_free(q);
	by[0] = 0;
	cr_assert_eq(obs_logstore_count(ls, "x", OBS_TIME_MIN, OBS_TIME_MAX, NULL, "level", count_by, by, &total), 0);
	cr_assert_str_eq(by, "3 error;1 -;1 info;1 warn;");
	char names[256] = "";
	cr_assert_eq(obs_logstore_streams(ls, add_name, names), 0);
	cr_assert_str_eq(names, "empty;x;");
	obs_logstore_close(ls);
	ls = open_store();
	names[0] = 0;
	cr_assert_eq(obs_logstore_streams(ls, add_name, names), 0);
	cr_assert_str_eq(names, "empty;x;");
	cr_assert_eq(obs_logstore_remove(ls, "x"), 0);
	cr_assert_eq(obs_logstore_remove(ls, "x"), -ENOENT);
	cr_assert(!obs_logstore_exists(ls, "x"));
	obs_logstore_close(ls);
	ls = open_store();
	cr_assert(!obs_logstore_exists(ls, "x"));
	cr_assert(obs_logstore_exists(ls, "empty"));
	obs_logstore_close(ls);
}

Test(logstore, retention, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore_opts o;
	memset(&o, 0, sizeof(o));
	o.no_background = 1;
	o.retention_ms = 3600 * 1000;
	struct obs_logstore *ls;
	cr_assert_eq(obs_logstore_open(dir, &o, &ls), 0);
	cr_assert_eq(obs_logstore_append(ls, "r", "old\n", 4, T0, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	cr_assert_eq(obs_logstore_append(ls, "r", "new\n", 4, T0 + 7200 * 1000, NULL, NULL), 0);
	cr_assert_eq(obs_logstore_flush(ls), 0);
	uint64_t size0;
	obs_logstore_text_size(ls, "r", &size0);
	cr_assert_eq(obs_logstore_retain(ls, T0 + 7200 * 1000 + 1), 0);
	char *t = render(ls, "r", NULL);
	cr_assert(strstr(t, " new\n") && !strstr(t, " old\n"), "%s", t);
	free(t);
	uint64_t size1;
	obs_logstore_text_size(ls, "r", &size1);
	cr_assert_eq(size1, size0);  /* offsets stay stable; the old bytes are gone */
	char buf[64];
	size_t got;
	cr_assert_eq(obs_logstore_read_text(ls, "r", 0, buf, sizeof(buf), &got), 0);
	cr_assert_eq(got, 29);
	cr_assert(!memcmp(buf + 25, "new\n", 4));
	obs_logstore_close(ls);
}

Test(logstore, compaction_keeps_records, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore_opts o = lf_opts(2048, 1);
	o.compact_level = 9;
	struct obs_logstore *ls = lf_open(&o);
	char w[64];
	for (int i = 0; i < 500; i++) {
		int n = snprintf(w, sizeof(w), "level=%s n=%d some repeated text\n", i % 5 ? "info" : "error", i);
		cr_assert_eq(obs_logstore_append(ls, "c", w, (size_t)n, T0 + i, NULL, NULL), 0);
		if (i == 250)
			cr_assert_eq(obs_logstore_flush(ls), 0);
	}
	cr_assert_eq(obs_logstore_flush(ls), 0);
	char *before = text(ls, "c");
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	uint64_t bytes0 = st.segment_bytes;
	cr_assert_eq(st.segments, 2);
	cr_assert_eq(obs_logstore_compact(ls, 0), 0);
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.compactions, 2);
	cr_assert_lt(st.segment_bytes, bytes0);
	char *after = text(ls, "c");
	cr_assert_str_eq(after, before);
	free(after);
	cr_assert_eq(obs_logstore_compact(ls, 0), 0);   /* nothing left to do */
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.compactions, 2);
	obs_logstore_close(ls);
	cr_assert_eq(obs_logstore_open(dir, &o, &ls), 0);
	after = text(ls, "c");
	cr_assert_str_eq(after, before);
	uint64_t total;
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse("level=error", 11, &q, NULL, 0), 0);
	cr_assert_eq(obs_logstore_count(ls, "c", OBS_TIME_MIN, OBS_TIME_MAX, q, NULL, NULL, NULL, &total), 0);
	cr_assert_eq(total, 100);
	obs_logquery_free(q);
	free(after);
	free(before);
	obs_logstore_close(ls);
}

/* many writers, a reader and flushes at once (the daemon's FUSE threads) */
struct worker {
	struct obs_logstore *ls;
	int id;
	int n;
};

static void *writer(void *arg)
{
	struct worker *w = arg;
	char b[128];
	char stream[8];
	snprintf(stream, sizeof(stream), "w%d", w->id % 2);
	for (int i = 0; i < w->n; i++) {
		int n = snprintf(b, sizeof(b), "level=info writer=%d seq=%d\nlevel=error writer=%d seq=%d\n", w->id, i,
				 w->id, i);
		if (obs_logstore_append(w->ls, stream, b, (size_t)n, T0 + i, NULL, NULL) != 0)
			return (void *)1;
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 50; i++) {
		uint64_t size = 0, total = 0;
		if (obs_logstore_text_size(w->ls, "w0", &size) == 0 && size) {
			char buf[512];
			size_t got;
			if (obs_logstore_read_text(w->ls, "w0", size / 2, buf, sizeof(buf), &got) != 0)
				return (void *)1;
		}
		obs_logstore_count(w->ls, "w1", OBS_TIME_MIN, OBS_TIME_MAX, NULL, NULL, NULL, NULL, &total);
		if (i % 10 == 0 && obs_logstore_flush(w->ls) != 0)
			return (void *)1;
	}
	return NULL;
}

Test(logstore, concurrent_writers_readers_flush, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore *ls = open_store();
	pthread_t th[5];
	struct worker w[5];
	for (int i = 0; i < 5; i++) {
		w[i] = (struct worker){ ls, i, 2000 };
		cr_assert_eq(pthread_create(&th[i], NULL, i == 4 ? reader : writer, &w[i]), 0);
	}
	for (int i = 0; i < 5; i++) {
		void *rv;
		pthread_join(th[i], &rv);
		cr_assert_null(rv, "thread %d failed", i);
	}
	uint64_t t0 = 0, t1 = 0;
	cr_assert_eq(obs_logstore_count(ls, "w0", OBS_TIME_MIN, OBS_TIME_MAX, NULL, NULL, NULL, NULL, &t0), 0);
	cr_assert_eq(obs_logstore_count(ls, "w1", OBS_TIME_MIN, OBS_TIME_MAX, NULL, NULL, NULL, NULL, &t1), 0);
	cr_assert_eq(t0, 2 * 2 * 2000);   /* writers 0 and 2 */
	cr_assert_eq(t1, 2 * 2 * 2000);   /* writers 1 and 3 */
	/* the two lines of one append stay adjacent, each writer's in order */
	char *t = text(ls, "w0");
	int last[4] = { -1, -1, -1, -1 };
	for (char *p = t; *p; p = strchr(p, '\n') + 1) {
		int wr, sq;
		char lv[8];
		cr_assert_eq(sscanf(p + 25, "level=%5s writer=%d seq=%d", lv, &wr, &sq), 3);
		if (!strcmp(lv, "info")) {
			cr_assert_eq(sq, last[wr] + 1);
			last[wr] = sq;
		} else
			cr_assert_eq(sq, last[wr]);
	}
	free(t);
	obs_logstore_close(ls);
	ls = open_store();
	cr_assert_eq(obs_logstore_count(ls, "w0", OBS_TIME_MIN, OBS_TIME_MAX, NULL, NULL, NULL, NULL, &t0), 0);
	cr_assert_eq(t0, 8000);
	obs_logstore_close(ls);
}

Test(logstore, retention_by_size, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct obs_logstore_opts o = lf_opts(0, 1);
	struct obs_logstore *ls = lf_open(&o);
	char w[64];
	/* three segments in two streams, oldest first: a(t0), b(t0+1), a(t0+2) */
	const char *order[] = { "a", "b", "a" };
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 200; i++) {
			int n = snprintf(w, sizeof(w), "seg %d line %d\n", k, i);
			cr_assert_eq(obs_logstore_append(ls, order[k], w, (size_t)n, T0 + k * 1000, NULL, NULL), 0);
		}
		cr_assert_eq(obs_logstore_flush(ls), 0);
	}
	struct obs_logstore_stats st;
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.segments, 3);
	uint64_t one = st.segment_bytes / 3;
	obs_logstore_close(ls);
	o.retention_bytes = st.segment_bytes - one / 2;   /* must drop exactly the oldest */
	cr_assert_eq(obs_logstore_open(dir, &o, &ls), 0);
	cr_assert_eq(obs_logstore_retain(ls, T0), 0);
	obs_logstore_get_stats(ls, &st);
	cr_assert_eq(st.segments, 2);
	cr_assert_eq(st.retained_segments, 1);
	char *t = render(ls, "a", NULL);
	cr_assert(!strstr(t, "seg 0 ") && strstr(t, "seg 2 line 199\n"), "%s", t);
	free(t);
	t = render(ls, "b", NULL);
	cr_assert(strstr(t, "seg 1 line 0\n"));
	free(t);
	obs_logstore_close(ls);
}
