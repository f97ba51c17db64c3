/* test_db.c — the metrics store (lib/tsdb/db*.c) without the mount: ingest and
 * bit-exact reads, lookups, duplicates, the out-of-order window, the floor
 * after compaction, untimed samples, series limits, text sizes, durability
 * (reopen, crash copies, torn WAL tails, leftovers of compactions), rollup
 * views against obs_downsample, retention and concurrency. Every test runs in
 * its own temporary directory with the background compactor off. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/errlog.h"
#include "core/obstime.h"
#include "tsdb/db.h"
#include "tsdb/downsample.h"
#include "tsdb/samples.h"
#include "db_fixture.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[64];
static char dbdir[128];
static int64_t T0;   /* an hour boundary three hours ago */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static void teardown(void);

static void setup(void)
{
	strcpy(tmpdir, "/tmp/test_db.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	atexit(teardown);   /* a failed assertion ends the test without .fini */
	snprintf(dbdir, sizeof dbdir, "%s/data", tmpdir);
	T0 = (obs_time_now() / 3600000 - 3) * 3600000;
}

static void teardown(void)
{
	if (!tmpdir[0])
		return;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = 0;
}

static struct obs_db *open_at(const char *dir, const struct obs_db_opts *o)
{
	struct obs_db_opts d;
	if (!o) {
		test_opts(&d);
		o = &d;
	}
	struct obs_db *db = NULL;
	char err[256];
	int rc = obs_db_open(dir, o, &db, err, sizeof err);
	cr_assert_eq(rc, 0, "open %s: %d %s", dir, rc, err);
	return db;
}

static struct obs_ingest_result ingest(struct obs_db *db, const char *text)
{
	struct obs_ingest_result r;
	int rc = obs_db_ingest(db, text, strlen(text), OBS_FMT_PROM, "test", 1, &r);
	cr_assert_eq(rc, 0, "ingest rc %d", rc);
	return r;
}

/* Ingest and require every sample to be accepted. */
static void ingest_ok(struct obs_db *db, const char *text)
{
	struct obs_ingest_result r = ingest(db, text);
	cr_assert_eq(r.rejected, 0, "rejected %llu (err %d) of: %.200s", (unsigned long long)r.rejected, r.err, text);
	cr_assert_eq(r.err, 0);
}

static uint32_t id_of(struct obs_db *db, const char *text)
{
	uint32_t id = UINT32_MAX;
	const char *why = NULL;
	int rc = obs_db_lookup(db, text, strlen(text), &id, &why);
	cr_assert_eq(rc, 0, "lookup %s: %d %s", text, rc, why ? why : "");
	return id;
}

static void read_all(struct obs_db *db, uint32_t id, struct obs_samples *s)
{
	obs_samples_reset(s);
	cr_assert_eq(obs_db_read(db, id, INT64_MIN, INT64_MAX, s), 0);
}

static uint64_t bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b;
}

static void fmt_val(double v, char *buf)
{
	if (isnan(v))
		strcpy(buf, "NaN");
	else if (isinf(v))
		strcpy(buf, v > 0 ? "+Inf" : "-Inf");
	else
		sprintf(buf, "%.17g", v);
}

/* Everything the db holds, as text: series, then "t bits" per sample. */
static void dump(struct obs_db *db, struct obs_buf *out)
{
	struct obs_samples s;
	obs_samples_init(&s);
	uint32_t n = obs_db_series_count(db);
	for (uint32_t id = 0; id < n; id++) {
		char line[128];
		if (obs_db_series_text(db, id, out) == -ENOENT)
			continue;
		snprintf(line, sizeof line, " #%u\n", id);
		obs_buf_append(out, line, strlen(line));
		read_all(db, id, &s);
		for (size_t i = 0; i < s.n; i++) {
			snprintf(line, sizeof line, "%lld %016llx\n", (long long)s.t[i], (unsigned long long)bits(s.v[i]));
			obs_buf_append(out, line, strlen(line));
		}
	}
	obs_samples_release(&s);
}

static void assert_same_dump(const struct obs_buf *a, const struct obs_buf *b)
{
	cr_assert_eq(a->len, b->len, "dumps differ in length: %zu vs %zu", a->len, b->len);
	cr_assert(!memcmp(a->data, b->data, a->len), "dumps differ");
}

/* n samples of one series: t = start + i*step, v = f(i), in one ingest. */
static double val_of(uint32_t salt, size_t i)
{
	return 1.0 + (double)((i * 2654435761u + salt * 40503u) % 100000) / 100.0;
}

static void ingest_series(struct obs_db *db, const char *series, int64_t start, int64_t step, size_t n, uint32_t salt)
{
	struct obs_buf b;
	obs_buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		char line[256];
		int len = snprintf(line, sizeof line, "%s %.17g %lld\n", series, val_of(salt, i),
				   (long long)(start + (int64_t)i * step));
		obs_buf_append(&b, line, (size_t)len);
	}
	struct obs_ingest_result r;
	cr_assert_eq(obs_db_ingest(db, b.data, b.len, OBS_FMT_PROM, "test", 1, &r), 0);
	cr_assert_eq(r.rejected, 0, "%s: rejected %llu", series, (unsigned long long)r.rejected);
	cr_assert_eq(r.accepted, n);
	obs_buf_release(&b);
}

static int copy_tree(const char *from, const char *to)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
	return system(cmd);
}

/* Names of the entries of dir not starting with '.', count returned. */
static size_t list_dir(const char *dir, char names[][128], size_t max)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "opendir %s", dir);
	struct dirent *e;
	size_t n = 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && n < max)
			snprintf(names[n++], 128, "%.127s", e->d_name);
	closedir(d);
	return n;
}


/* ---- ingest and reads ------------------------------------------------------ */

Test(db, values_bit_exact, .init = setup, .fini = teardown)
{
	const double vals[] = { 0.0, -0.0, 1.5, -2.25, INFINITY, -INFINITY, NAN, 4.9406564584124654e-324,
				2.2250738585072009e-308, -3e-320, 1e308, -1.7976931348623157e308, 0.1,
				123456789.123456789, 1e-300 };
	const size_t nv = sizeof vals / sizeof vals[0];
	struct obs_db *db = open_at(dbdir, NULL);
	struct obs_buf b;
	obs_buf_init(&b);
	for (size_t i = 0; i < nv; i++) {
		char vb[64], line[256];
		fmt_val(vals[i], vb);
		int len = snprintf(line, sizeof line, "bits{b=\"2\",a=\"1\"} %s %lld\n", vb, (long long)(T0 + (int64_t)i * 1000));
		obs_buf_append(&b, line, (size_t)len);
	}
	struct obs_ingest_result r;
	cr_assert_eq(obs_db_ingest(db, b.data, b.len, OBS_FMT_PROM, "test", 1, &r), 0);
	cr_assert_eq(r.accepted, nv, "accepted %llu of %zu", (unsigned long long)r.accepted, nv);
	uint32_t id = id_of(db, "bits{a=\"1\",b=\"2\"}");

	/* the same values through obs_db_ingest_values into a second series */
	uint32_t id2;
	const char *why = NULL;
	cr_assert_eq(obs_db_create(db, "vals", 4, &id2, &why), 0);
	obs_buf_reset(&b);
	for (size_t i = 0; i < nv; i++) {
		char vb[64], line[256];
		fmt_val(vals[i], vb);
		int len = snprintf(line, sizeof line, "%lld %s\n", (long long)(T0 + (int64_t)i * 1000), vb);
		obs_buf_append(&b, line, (size_t)len);
	}
	cr_assert_eq(obs_db_ingest_values(db, id2, b.data, b.len, "test", 1, &r), 0);
	cr_assert_eq(r.accepted, nv);
	obs_buf_release(&b);

	struct obs_samples s;
	obs_samples_init(&s);
	for (int pass = 0; pass < 3; pass++) {
		for (int k = 0; k < 2; k++) {
			read_all(db, k ? id2 : id, &s);
			cr_assert_eq(s.n, nv, "pass %d: %zu samples", pass, s.n);
			for (size_t i = 0; i < nv; i++) {
				cr_assert_eq(s.t[i], T0 + (int64_t)i * 1000);
				if (isnan(vals[i]))
					cr_assert(isnan(s.v[i]), "pass %d: sample %zu not NaN", pass, i);
				else
					cr_assert_eq(bits(s.v[i]), bits(vals[i]), "pass %d series %d sample %zu: %a != %a",
						     pass, k, i, s.v[i], vals[i]);
			}
		}
		/* then from a block, then after a replay */
		if (pass == 0)
			cr_assert_eq(obs_db_compact(db), 0);
		if (pass == 1) {
			obs_db_close(db);
			db = open_at(dbdir, NULL);
		}
	}
	obs_samples_release(&s);
	obs_db_close(db);
}

Test(db, ranges, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	ingest_series(db, "r", T0, 1000, 300, 1);
	uint32_t id = id_of(db, "r");
	struct obs_samples s;
	obs_samples_init(&s);
	for (int pass = 0; pass < 2; pass++) {
		/* inclusive bounds on exact sample times */
		obs_samples_reset(&s);
		cr_assert_eq(obs_db_read(db, id, T0 + 10000, T0 + 20000, &s), 0);
		cr_assert_eq(s.n, 11);
		cr_assert_eq(s.t[0], T0 + 10000);
		cr_assert_eq(s.t[10], T0 + 20000);
		cr_assert_eq(bits(s.v[3]), bits(val_of(1, 13)));
		/* bounds between samples */
		obs_samples_reset(&s);
		cr_assert_eq(obs_db_read(db, id, T0 + 10001, T0 + 19999, &s), 0);
		cr_assert_eq(s.n, 9);
		/* empty and inverted ranges */
		obs_samples_reset(&s);
		cr_assert_eq(obs_db_read(db, id, T0 - 5000, T0 - 1, &s), 0);
		cr_assert_eq(s.n, 0);
		cr_assert_eq(obs_db_read(db, id, T0 + 5000, T0 + 4000, &s), 0);
		cr_assert_eq(s.n, 0);
		/* across chunk boundaries (240 samples a chunk) and to the end */
		cr_assert_eq(obs_db_read(db, id, T0 + 200000, T0 + 299000, &s), 0);
		cr_assert_eq(s.n, 100);
		for (size_t i = 1; i < s.n; i++)
			cr_assert_eq(s.t[i], s.t[i - 1] + 1000);
		/* then half in a block, half in the head */
		if (pass == 0) {
			cr_assert_eq(obs_db_compact(db), 0);
			ingest_series(db, "r", T0 + 300000, 1000, 100, 7);
			obs_samples_reset(&s);
			cr_assert_eq(obs_db_read(db, id, T0 + 295000, T0 + 304000, &s), 0);
			cr_assert_eq(s.n, 10);
			for (size_t i = 0; i < s.n; i++)
				cr_assert_eq(s.t[i], T0 + 295000 + (int64_t)i * 1000);
		}
	}
	cr_assert_eq(obs_db_read(db, 999, 0, 1, &s), -ENOENT);
	obs_samples_release(&s);
	obs_db_close(db);
}

Test(db, lookup_create_any_order, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	const char *why = NULL;
	uint32_t a, b, c;
	const char *t1 = "http_requests{path=\"/a\\\"b\",code=\"200\",method=\"GET\"}";
	const char *t2 = "http_requests{method=\"GET\",code=\"200\",path=\"/a\\\"b\"}";
	cr_assert_eq(obs_db_lookup(db, t1, strlen(t1), &a, &why), -ENOENT);
	cr_assert_eq(obs_db_create(db, t1, strlen(t1), &a, &why), 0);
	cr_assert_eq(obs_db_create(db, t2, strlen(t2), &b, &why), 0);
	cr_assert_eq(a, b);
	cr_assert_eq(obs_db_lookup(db, t2, strlen(t2), &c, &why), 0);
	cr_assert_eq(a, c);
	cr_assert_eq(obs_db_series_count(db), 1);
	struct obs_buf out;
	obs_buf_init(&out);
	cr_assert_eq(obs_db_series_text(db, a, &out), 0);
	const char *canon = "http_requests{code=\"200\",method=\"GET\",path=\"/a\\\"b\"}";
	cr_assert_eq(out.len, strlen(canon));
	cr_assert(!memcmp(out.data, canon, out.len), "canonical text: %.*s", (int)out.len, out.data);
	cr_assert_eq(obs_db_series_text(db, a + 1, &out), -ENOENT);
	/* ingest with yet another order reaches the same series */
	ingest_ok(db, "http_requests{code=\"200\",path=\"/a\\\"b\",method=\"GET\"} 1 1000\n");
	cr_assert_eq(obs_db_series_count(db), 1);
	/* not a series */
	why = NULL;
	cr_assert_eq(obs_db_lookup(db, "a{b=", 4, &c, &why), -EINVAL);
	cr_assert_not_null(why);
	why = NULL;
	cr_assert_eq(obs_db_create(db, "{}", 2, &c, &why), -EINVAL);
	cr_assert_not_null(why);
	cr_assert_eq(obs_db_series_count(db), 1);
	/* a series without a metric name is valid (obsfs(7)) */
	uint32_t nameless;
	cr_assert_eq(obs_db_create(db, "{job=\"x\"}", 9, &nameless, &why), 0);
	cr_assert_eq(id_of(db, "{job=\"x\"}"), nameless);
	cr_assert_eq(obs_db_series_count(db), 2);
	/* a different label set is a different series */
	cr_assert_eq(obs_db_create(db, "http_requests{code=\"200\"}", 25, &c, &why), 0);
	cr_assert_neq(c, a);
	obs_buf_release(&out);
	/* ids survive a reopen */
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	cr_assert_eq(id_of(db, t2), a);
	cr_assert_eq(id_of(db, "http_requests{code=\"200\"}"), c);
	obs_db_close(db);
}

/* ---- duplicates, out of order, the floor ----------------------------------- */

static int errlog_has(struct obs_db *db, const char *needle)
{
	struct obs_buf b;
	obs_buf_init(&b);
	obs_errlog_render(obs_db_errlog(db), &b);
	obs_buf_putc(&b, 0);
	int has = strstr(b.data, needle) != NULL;
	obs_buf_release(&b);
	return has;
}

Test(db, duplicates, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	ingest_series(db, "d", T0, 1000, 500, 3);   /* three chunks: 2 closed + open */
	uint32_t id = id_of(db, "d");
	struct obs_errlog *el = obs_db_errlog(db);
	uint64_t e0 = obs_errlog_total(el);
	char line[128];
	/* identical re-sends: the newest sample, one in the open chunk, one in a closed chunk */
	const size_t same[] = { 499, 490, 230, 200 };   /* open chunk (480..499), closed chunk (240..479) */
	for (size_t k = 0; k < 4; k++) {
		snprintf(line, sizeof line, "d %.17g %lld\n", val_of(3, same[k]), (long long)(T0 + (int64_t)same[k] * 1000));
		struct obs_ingest_result r = ingest(db, line);
		cr_assert_eq(r.accepted, 1, "resend of %zu", same[k]);
		cr_assert_eq(r.rejected, 0);
		cr_assert_eq(r.err, 0);
	}
	cr_assert_eq(obs_errlog_total(el), e0);
	/* different values at the same times */
	for (size_t k = 0; k < 4; k++) {
		snprintf(line, sizeof line, "d %.17g %lld\n", val_of(3, same[k]) + 0.5, (long long)(T0 + (int64_t)same[k] * 1000));
		struct obs_ingest_result r = ingest(db, line);
		cr_assert_eq(r.accepted, 0, "conflict at %zu accepted", same[k]);
		cr_assert_eq(r.rejected, 1);
		cr_assert_eq(r.err, EINVAL);
		cr_assert_eq(obs_errlog_total(el), e0 + k + 1);
	}
	cr_assert(errlog_has(db, "duplicate timestamp"));
	/* -0.0 is not 0.0 */
	ingest_ok(db, "z 0 1000\n");
	struct obs_ingest_result r = ingest(db, "z -0 1000\n");
	cr_assert_eq(r.rejected, 1);
	/* nothing changed */
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id, &s);
	cr_assert_eq(s.n, 500);
	for (size_t i = 0; i < s.n; i++)
		cr_assert_eq(bits(s.v[i]), bits(val_of(3, i)));
	obs_samples_release(&s);
	/* a batch mixing good and bad lines keeps the good ones */
	snprintf(line, sizeof line, "d 7 %lld\nd 8 %lld\nd 9 %lld\n", (long long)(T0 + 600000),
		 (long long)(T0 + 499000), (long long)(T0 + 601000));
	r = ingest(db, line);
	cr_assert_eq(r.accepted, 2);
	cr_assert_eq(r.rejected, 1);
	cr_assert_eq(r.err, EINVAL);
	obs_db_close(db);
}

Test(db, out_of_order_window, .init = setup, .fini = teardown)
{
	struct obs_db_opts o;
	test_opts(&o);
	o.ooo_window_ms = 60000;
	struct obs_db *db = open_at(dbdir, &o);
	/* even seconds, 0..598 s: a closed chunk and an open one */
	struct obs_buf b;
	obs_buf_init(&b);
	for (int i = 0; i < 300; i++) {
		char line[64];
		int len = snprintf(line, sizeof line, "o %d %lld\n", i, (long long)(T0 + i * 2000));
		obs_buf_append(&b, line, (size_t)len);
	}
	ingest_ok(db, b.data);
	obs_buf_release(&b);
	uint32_t id = id_of(db, "o");
	char line[128];
	/* inside the window (newest is T0+598s, window 60 s): odd seconds 541..597 */
	for (int sec = 597; sec >= 541; sec -= 2) {
		snprintf(line, sizeof line, "o %d %lld\n", 10000 + sec, (long long)(T0 + sec * 1000));
		ingest_ok(db, line);
	}
	/* outside the window */
	snprintf(line, sizeof line, "o 1 %lld\n", (long long)(T0 + 537000));
	struct obs_ingest_result r = ingest(db, line);
	cr_assert_eq(r.rejected, 1);
	cr_assert_eq(r.err, EINVAL);
	cr_assert(errlog_has(db, "out-of-order window"));
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id, &s);
	cr_assert_eq(s.n, 300 + 29);
	for (size_t i = 1; i < s.n; i++)
		cr_assert_lt(s.t[i - 1], s.t[i]);
	for (size_t i = 0; i < s.n; i++) {
		int64_t sec = (s.t[i] - T0) / 1000;
		double want = sec % 2 ? 10000 + sec : sec / 2;
		cr_assert_eq(s.v[i], want, "t=%lld", (long long)sec);
	}
	/* the same after a replay */
	obs_db_close(db);
	db = open_at(dbdir, &o);
	read_all(db, id, &s);
	cr_assert_eq(s.n, 329);
	/* with a wide window, a late sample merges into the closed chunk (0..478 s) */
	obs_db_close(db);
	o.ooo_window_ms = 3600000;
	db = open_at(dbdir, &o);
	snprintf(line, sizeof line, "o 77 %lld\n", (long long)(T0 + 1000));
	ingest_ok(db, line);
	read_all(db, id, &s);
	size_t k = 0;
	while (k < s.n && s.t[k] < T0 + 1000)
		k++;
	cr_assert(k < s.n && s.t[k] == T0 + 1000 && s.v[k] == 77);
	for (size_t i = 1; i < s.n; i++)
		cr_assert_lt(s.t[i - 1], s.t[i]);
	obs_samples_release(&s);
	obs_db_close(db);
}

/* A sample refused at ingest (outside the out-of-order window, the writer got
 * EINVAL) never reaches the WAL: a restart with a wider window must not bring
 * it back. */
Test(db, rejected_sample_not_resurrected_by_replay, .init = setup, .fini = teardown)
{
	struct obs_db_opts o;
	test_opts(&o);
	o.ooo_window_ms = 60000;
	struct obs_db *db = open_at(dbdir, &o);
	char line[128];
	snprintf(line, sizeof line, "o 1 %lld\n", (long long)(T0 + 600000));
	ingest_ok(db, line);
	snprintf(line, sizeof line, "o 2 %lld\n", (long long)(T0 + 100000));
	struct obs_ingest_result r = ingest(db, line);
	cr_assert_eq(r.rejected, 1);
	obs_db_close(db);
	o.ooo_window_ms = 3600000;
	db = open_at(dbdir, &o);
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id_of(db, "o"), &s);
	cr_assert_eq(s.n, 1, "the refused sample came back after a restart (%zu samples)", s.n);
	obs_samples_release(&s);
	obs_db_close(db);
}

/* DESIGN.md: the same value at the same time is accepted again silently
 * (retries are idempotent), also older than the out-of-order window and at or
 * before the compaction floor. */
Test(db, identical_resend_always_accepted, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	ingest_series(db, "d", T0, 1000, 500, 3);
	char line[128];
	snprintf(line, sizeof line, "d %.17g %lld\n", val_of(3, 10), (long long)(T0 + 10000));
	struct obs_ingest_result r = ingest(db, line);
	cr_assert_eq(r.rejected, 0, "identical re-send outside the window rejected");
	cr_assert_eq(obs_db_compact(db), 0);
	snprintf(line, sizeof line, "d %.17g %lld\n", val_of(3, 499), (long long)(T0 + 499000));
	r = ingest(db, line);
	cr_assert_eq(r.rejected, 0, "identical re-send of a compacted sample rejected");
	obs_db_close(db);
}

Test(db, floor_after_compact, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	ingest_series(db, "f", T0, 1000, 100, 5);
	ingest_series(db, "g", T0, 1000, 10, 6);
	cr_assert_eq(obs_db_compact(db), 0);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks, 1);
	cr_assert_eq(st.samples, 0, "head still holds %llu samples", (unsigned long long)st.samples);
	char line[128];
	/* at or before the floor (f: T0+99s): refused, even inside the window */
	const int64_t bad[] = { T0 + 99000, T0 + 98500, T0 };
	for (size_t k = 0; k < 3; k++) {
		snprintf(line, sizeof line, "f 1 %lld\n", (long long)bad[k]);
		struct obs_ingest_result r = ingest(db, line);
		cr_assert_eq(r.rejected, 1, "t=%lld accepted", (long long)(bad[k] - T0));
		cr_assert_eq(r.err, EINVAL);
	}
	cr_assert(errlog_has(db, "compacted"));
	/* the floor is per series: g's floor is T0+9s */
	snprintf(line, sizeof line, "f 1 %lld\ng 2 %lld\n", (long long)(T0 + 99001), (long long)(T0 + 50000));
	ingest_ok(db, line);
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id_of(db, "f"), &s);
	cr_assert_eq(s.n, 101);
	cr_assert_eq(s.t[100], T0 + 99001);
	read_all(db, id_of(db, "g"), &s);
	cr_assert_eq(s.n, 11);
	/* the floor survives a reopen (it comes from the blocks) */
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	snprintf(line, sizeof line, "f 1 %lld\n", (long long)(T0 + 50000));
	struct obs_ingest_result r = ingest(db, line);
	cr_assert_eq(r.rejected, 1);
	read_all(db, id_of(db, "f"), &s);
	cr_assert_eq(s.n, 101);
	obs_samples_release(&s);
	obs_db_close(db);
}

Test(db, untimed_never_collide, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	const int N = 2000;
	for (int i = 0; i < N; i++) {
		char line[64];
		int len = snprintf(line, sizeof line, "u{k=\"v\"} %d\n", i);
		struct obs_ingest_result r;
		cr_assert_eq(obs_db_ingest(db, line, (size_t)len, OBS_FMT_AUTO, "test", 1, &r), 0);
		cr_assert_eq(r.accepted, 1, "write %d: accepted %llu", i, (unsigned long long)r.accepted);
		if (i == N / 2)
			cr_assert_eq(obs_db_compact(db), 0);   /* the floor must not make them collide either */
	}
	/* several untimed lines of one series in one write */
	struct obs_ingest_result r;
	const char *many = "u{k=\"v\"} 1\nu{k=\"v\"} 2\nu{k=\"v\"} 3\n";
	cr_assert_eq(obs_db_ingest(db, many, strlen(many), OBS_FMT_AUTO, "test", 1, &r), 0);
	cr_assert_eq(r.accepted, 3);
	uint32_t id = id_of(db, "u{k=\"v\"}");
	cr_assert_eq(obs_db_ingest_values(db, id, "7\n8\n9\n", 6, "test", 1, &r), 0);
	cr_assert_eq(r.accepted, 3);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(obs_db_ingest_values(db, id, "5\n", 2, "test", 1, &r), 0);
		cr_assert_eq(r.accepted, 1);
	}
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id, &s);
	cr_assert_eq(s.n, (size_t)N + 6 + 50);
	for (size_t i = 1; i < s.n; i++)
		cr_assert_lt(s.t[i - 1], s.t[i]);
	for (int i = 0; i < N; i++)
		cr_assert_eq(s.v[i], i);
	cr_assert_eq(s.v[N], 1);
	cr_assert_eq(s.v[N + 2], 3);
	cr_assert_eq(s.v[N + 5], 9);
	obs_samples_release(&s);
	obs_db_close(db);
}

/* ---- limits ----------------------------------------------------------------- */

Test(db, limit_max_series, .init = setup, .fini = teardown)
{
	struct obs_db_opts o;
	test_opts(&o);
	o.max_series = 5;
	struct obs_db *db = open_at(dbdir, &o);
	struct obs_buf b;
	obs_buf_init(&b);
	for (int i = 0; i < 10; i++) {
		char line[64];
		int len = snprintf(line, sizeof line, "m%d{i=\"%d\"} %d 1000\n", i % 2, i, i);
		obs_buf_append(&b, line, (size_t)len);
	}
	struct obs_ingest_result r = ingest(db, b.data);
	cr_assert_eq(r.accepted, 5);
	cr_assert_eq(r.rejected, 5);
	cr_assert_eq(r.err, EDQUOT);
	cr_assert_eq(obs_db_series_count(db), 5);
	for (int i = 0; i < 10; i++) {
		char t[64];
		uint32_t id;
		const char *why;
		snprintf(t, sizeof t, "m%d{i=\"%d\"}", i % 2, i);
		cr_assert_eq(obs_db_lookup(db, t, strlen(t), &id, &why), i < 5 ? 0 : -ENOENT, "%s", t);
	}
	uint32_t id;
	const char *why = NULL;
	cr_assert_eq(obs_db_create(db, "new", 3, &id, &why), -EDQUOT);
	cr_assert_not_null(why);
	cr_assert(errlog_has(db, "max_series"));
	/* existing series still take samples */
	ingest_ok(db, "m0{i=\"0\"} 1 2000\n");
	obs_buf_release(&b);
	obs_db_close(db);
}

Test(db, limit_per_metric, .init = setup, .fini = teardown)
{
	struct obs_db_opts o;
	test_opts(&o);
	o.max_series_per_metric = 3;
	struct obs_db *db = open_at(dbdir, &o);
	struct obs_buf b;
	obs_buf_init(&b);
	for (int i = 0; i < 6; i++) {
		char line[96];
		int len = snprintf(line, sizeof line, "a{i=\"%d\"} 1 1000\nb{i=\"%d\"} 1 1000\n", i, i);
		obs_buf_append(&b, line, (size_t)len);
	}
	struct obs_ingest_result r = ingest(db, b.data);
	cr_assert_eq(r.accepted, 6);
	cr_assert_eq(r.rejected, 6);
	cr_assert_eq(r.err, EDQUOT);
	for (int i = 0; i < 6; i++) {
		char t[64];
		uint32_t id;
		const char *why;
		for (int m = 0; m < 2; m++) {
			snprintf(t, sizeof t, "%c{i=\"%d\"}", "ab"[m], i);
			cr_assert_eq(obs_db_lookup(db, t, strlen(t), &id, &why), i < 3 ? 0 : -ENOENT, "%s", t);
		}
	}
	uint32_t id;
	const char *why;
	cr_assert_eq(obs_db_create(db, "a{i=\"9\"}", 8, &id, &why), -EDQUOT);
	cr_assert_eq(obs_db_create(db, "c{i=\"9\"}", 8, &id, &why), 0);
	/* the limit still holds after a reopen */
	obs_db_close(db);
	db = open_at(dbdir, &o);
	cr_assert_eq(obs_db_create(db, "b{i=\"9\"}", 8, &id, &why), -EDQUOT);
	cr_assert_eq(obs_db_series_count(db), 7);
	obs_buf_release(&b);
	obs_db_close(db);
}

/* ---- text sizes ------------------------------------------------------------- */

/* first: the format checked first (1 = epoch), the one a test cached before
 * changing the series, so the incremental path is what gets checked */
static void check_text_size_from(struct obs_db *db, uint32_t id, const char *when, int first)
{
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id, &s);
	for (int k = 0; k < 2; k++) {
		int f = (first + k) % 2;
		enum obs_time_fmt fmt = f ? OBS_TIME_EPOCH : OBS_TIME_RFC3339;
		struct obs_buf b;
		obs_buf_init(&b);
		cr_assert_eq(obs_samples_render(&s, 0, fmt, &b), 0);
		uint64_t size = 0;
		cr_assert_eq(obs_db_text_size(db, id, fmt, &size), 0);
		cr_assert_eq(size, b.len, "%s, fmt %d: text_size %llu, rendered %zu", when, f,
			     (unsigned long long)size, b.len);
		/* twice: the cached answer */
		cr_assert_eq(obs_db_text_size(db, id, fmt, &size), 0);
		cr_assert_eq(size, b.len, "%s, fmt %d (cached)", when, f);
		obs_buf_release(&b);
	}
	obs_samples_release(&s);
}

static void check_text_size(struct obs_db *db, uint32_t id, const char *when)
{
	check_text_size_from(db, id, when, 0);
}

Test(db, text_size, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	uint32_t id;
	const char *why;
	cr_assert_eq(obs_db_create(db, "ts", 2, &id, &why), 0);
	check_text_size(db, id, "empty");
	ingest_series(db, "ts", T0, 1500, 400, 9);
	check_text_size(db, id, "in order");
	/* appends after a cached answer (same format, then alternating) */
	uint64_t sz;
	cr_assert_eq(obs_db_text_size(db, id, OBS_TIME_EPOCH, &sz), 0);
	char line[200];
	snprintf(line, sizeof line, "ts 1e308 %lld\n", (long long)(T0 + 699000));
	ingest_ok(db, line);
	snprintf(line, sizeof line, "ts -0 %lld\nts NaN %lld\nts 4.9406564584124654e-324 %lld\n",
		 (long long)(T0 + 700000), (long long)(T0 + 700001), (long long)(T0 + 701000));
	ingest_ok(db, line);
	check_text_size_from(db, id, "after appends", 1);
	/* out of order, into the open chunk and a closed one (window 5 min) */
	snprintf(line, sizeof line, "ts 12345.678 %lld\nts -1 %lld\n", (long long)(T0 + 600500), (long long)(T0 + 598999));
	cr_assert_eq(obs_db_text_size(db, id, OBS_TIME_RFC3339, &sz), 0);
	ingest_ok(db, line);
	check_text_size(db, id, "after out-of-order");
	cr_assert_eq(obs_db_text_size(db, id, OBS_TIME_EPOCH, &sz), 0);
	cr_assert_eq(obs_db_compact(db), 0);
	check_text_size_from(db, id, "after compaction", 1);
	snprintf(line, sizeof line, "ts 1 %lld\nts 2 %lld\n", (long long)(T0 + 800000), (long long)(T0 + 799000));
	ingest_ok(db, line);
	check_text_size(db, id, "after compaction and out-of-order");
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	check_text_size(db, id, "after reopen");
	obs_db_close(db);
}

/* Retention drops history: a text size cached before must not stay. */
Test(db, text_size_after_retain, .init = setup, .fini = teardown)
{
	struct obs_db_opts o;
	test_opts(&o);
	o.retention_ms = 24 * 3600 * 1000;
	struct obs_db *db = open_at(dbdir, &o);
	ingest_series(db, "tr", T0, 1000, 100, 2);
	cr_assert_eq(obs_db_compact(db), 0);
	ingest_series(db, "tr", T0 + 200000, 1000, 10, 2);
	uint32_t id = id_of(db, "tr");
	check_text_size(db, id, "before retention");
	uint64_t before;
	cr_assert_eq(obs_db_text_size(db, id, OBS_TIME_EPOCH, &before), 0);   /* cached in this format */
	/* drops the block only (its maxt is older than the cutoff, the head's samples stay) */
	cr_assert_eq(obs_db_retain(db, T0 + 150000 + o.retention_ms), 1);
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id, &s);
	cr_assert_eq(s.n, 10);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_samples_render(&s, 0, OBS_TIME_EPOCH, &b), 0);
	uint64_t after;
	cr_assert_eq(obs_db_text_size(db, id, OBS_TIME_EPOCH, &after), 0);
	cr_assert_eq(after, b.len, "text size %llu after retention (was %llu), rendered %zu",
		     (unsigned long long)after, (unsigned long long)before, b.len);
	obs_buf_release(&b);
	obs_samples_release(&s);
	check_text_size(db, id, "after retention");
	obs_db_close(db);
}

/* ---- durability -------------------------------------------------------------- */

static void fill_mixed(struct obs_db *db, int64_t start, uint32_t salt)
{
	char name[64];
	for (int k = 0; k < 6; k++) {
		snprintf(name, sizeof name, "mix{k=\"%d\",job=\"j%d\"}", k, k % 2);
		ingest_series(db, name, start + k, 1000 + k, 250 + (size_t)k * 10, salt + (uint32_t)k);
	}
}

Test(db, reopen_identical, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	fill_mixed(db, T0, 1);
	uint32_t id;
	const char *why;
	cr_assert_eq(obs_db_create(db, "empty_series", 12, &id, &why), 0);
	ingest_ok(db, "special -0 1000\nspecial NaN 2000\nspecial -Inf 3000\n");
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	dump(db, &a);
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	dump(db, &b);
	assert_same_dump(&a, &b);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_gt(st.samples_replayed, 0);
	/* compact, reopen: same */
	cr_assert_eq(obs_db_compact(db), 0);
	obs_buf_reset(&b);
	dump(db, &b);
	assert_same_dump(&a, &b);
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	obs_buf_reset(&b);
	dump(db, &b);
	assert_same_dump(&a, &b);
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.samples_replayed, 0, "replayed %llu samples already in a block",
		     (unsigned long long)st.samples_replayed);
	cr_assert_eq(id_of(db, "empty_series"), id);
	/* more data after the block, reopen */
	fill_mixed(db, T0 + 3600000, 50);
	obs_buf_reset(&a);
	dump(db, &a);
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	obs_buf_reset(&b);
	dump(db, &b);
	assert_same_dump(&a, &b);
	/* the lock: a second open of the same directory is refused */
	struct obs_db *db2 = NULL;
	struct obs_db_opts o;
	test_opts(&o);
	char err[256];
	cr_assert_eq(obs_db_open(dbdir, &o, &db2, err, sizeof err), -EBUSY);
	cr_assert(strstr(err, "in use"), "%s", err);
	obs_db_close(db);
	obs_buf_release(&a);
	obs_buf_release(&b);
}

Test(db, crash_copy, .init = setup, .fini = teardown)
{
	char copy[192];
	struct obs_db *db = open_at(dbdir, NULL);
	fill_mixed(db, T0, 1);
	cr_assert_eq(obs_db_compact(db), 0);
	fill_mixed(db, T0 + 3600000, 2);
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	dump(db, &a);
	/* a copy of the directory of a running db: as after a power cut
	 * (the WAL records are in the page cache, so the copy holds them) */
	snprintf(copy, sizeof copy, "%s/copy1", tmpdir);
	cr_assert_eq(copy_tree(dbdir, copy), 0);
	struct obs_db *c = open_at(copy, NULL);
	dump(c, &b);
	assert_same_dump(&a, &b);
	/* the copy is a working db: it can compact and take samples */
	cr_assert_eq(obs_db_compact(c), 0);
	obs_buf_reset(&b);
	dump(c, &b);
	assert_same_dump(&a, &b);
	obs_db_close(c);
	obs_db_close(db);
	obs_buf_release(&a);
	obs_buf_release(&b);
}

static void last_segment(const char *waldir, char *path, size_t len)
{
	char names[64][128];
	size_t n = list_dir(waldir, names, 64);
	const char *best = NULL;
	for (size_t i = 0; i < n; i++)
		if (strstr(names[i], ".wal") && (!best || strcmp(names[i], best) > 0))
			best = names[i];
	cr_assert_not_null(best, "no segment in %s", waldir);
	snprintf(path, len, "%.190s/%.127s", waldir, best);
}

Test(db, torn_wal_tail, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	fill_mixed(db, T0, 1);
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	dump(db, &a);
	/* the last batch: existing series only, so it is one WAL record */
	char line[256];
	snprintf(line, sizeof line, "mix{k=\"0\",job=\"j0\"} 5 %lld\nmix{k=\"1\",job=\"j1\"} 6 %lld\n",
		 (long long)(T0 + 3600000), (long long)(T0 + 3600000));
	ingest_ok(db, line);
	obs_db_close(db);
	char wal[192], seg[448];
	snprintf(wal, sizeof wal, "%s/wal", dbdir);
	last_segment(wal, seg, sizeof seg);
	struct stat st;
	cr_assert_eq(stat(seg, &st), 0);
	cr_assert_eq(truncate(seg, st.st_size - 3), 0);
	db = open_at(dbdir, NULL);
	dump(db, &b);
	assert_same_dump(&a, &b);
	struct obs_db_stats s;
	obs_db_get_stats(db, &s);
	cr_assert_gt(s.wal_torn_bytes, 0);
	/* and it goes on: new writes after the torn tail survive another reopen */
	ingest_ok(db, line);
	obs_buf_reset(&a);
	dump(db, &a);
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	obs_buf_reset(&b);
	dump(db, &b);
	assert_same_dump(&a, &b);
	obs_db_close(db);
	obs_buf_release(&a);
	obs_buf_release(&b);
}

Test(db, tmp_dirs_ignored, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	fill_mixed(db, T0, 1);
	cr_assert_eq(obs_db_compact(db), 0);
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	dump(db, &a);
	obs_db_close(db);
	/* what a crash in the middle of writing a block leaves */
	char p[512], blocks[192];
	snprintf(blocks, sizeof blocks, "%s/blocks", dbdir);
	char names[8][128];
	cr_assert_eq(list_dir(blocks, names, 8), 1);
	snprintf(p, sizeof p, "%s/.tmp-crashed", blocks);
	char src[448];
	snprintf(src, sizeof src, "%s/%s", blocks, names[0]);
	cr_assert_eq(copy_tree(src, p), 0);   /* a complete-looking one */
	snprintf(p, sizeof p, "%s/.tmp-partial", blocks);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/.tmp-partial/chunks", blocks);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("garbage", f);
	fclose(f);
	db = open_at(dbdir, NULL);
	dump(db, &b);
	assert_same_dump(&a, &b);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks, 1);
	snprintf(p, sizeof p, "%s/.tmp-partial", blocks);
	cr_assert_neq(access(p, F_OK), 0, ".tmp-partial left behind");
	snprintf(p, sizeof p, "%s/.tmp-crashed", blocks);
	cr_assert_neq(access(p, F_OK), 0, ".tmp-crashed left behind");
	obs_db_close(db);
	obs_buf_release(&a);
	obs_buf_release(&b);
}

/* Four compactions, each with a slice of time, make four level-1 blocks that
 * the fourth merges into a level-2 block with rollups. */
static void four_compactions(struct obs_db *db, int64_t start, const char *snapdir)
{
	for (int k = 0; k < 4; k++) {
		fill_mixed(db, start + k * 1800000, 10 + (uint32_t)k);
		cr_assert_eq(obs_db_compact(db), 0);
		if (k == 0 && snapdir) {
			char blocks[192];
			snprintf(blocks, sizeof blocks, "%s/blocks", dbdir);
			cr_assert_eq(copy_tree(blocks, snapdir), 0);
		}
	}
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks, 1, "blocks %llu", (unsigned long long)st.blocks);
	cr_assert_eq(st.blocks_by_level[1], 1);
	cr_assert_gt(st.rollup_sets, 0);
}

Test(db, merge_leftover_dropped, .init = setup, .fini = teardown)
{
	char snap[192];
	snprintf(snap, sizeof snap, "%s/snap", tmpdir);
	struct obs_db *db = open_at(dbdir, NULL);
	four_compactions(db, T0 - 6 * 3600000, snap);
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	dump(db, &a);
	obs_db_close(db);
	/* put the first level-1 block back, as if the merge had committed but
	 * the crash came before its inputs were deleted */
	char names[8][128];
	cr_assert_eq(list_dir(snap, names, 8), 1);
	char src[448], dst[448];
	snprintf(src, sizeof src, "%s/%s", snap, names[0]);
	snprintf(dst, sizeof dst, "%s/blocks/%s", dbdir, names[0]);
	cr_assert_eq(copy_tree(src, dst), 0);
	db = open_at(dbdir, NULL);
	dump(db, &b);
	assert_same_dump(&a, &b);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks, 1);
	cr_assert_neq(access(dst, F_OK), 0, "the leftover block is still there");
	obs_db_close(db);
	obs_buf_release(&a);
	obs_buf_release(&b);
}

/* A level-1 block cut after a merge can lie inside the merged block's span
 * (series B below has nothing in the last three slices, so its floor is
 * older): it is no merge leftover and must survive a restart. Leftovers are
 * known by the merged block's parents, not by spans. */
Test(db, new_block_inside_merged_span_kept, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	ingest_series(db, "late_b", T0 - 6 * 3600000, 1000, 10, 1);
	four_compactions(db, T0 - 6 * 3600000, NULL);
	/* B's floor is 6 h ago + 9 s; a sample 5 h ago is newer than it, and
	 * inside the merged block's span (6 h ago .. 4.5 h ago) */
	char line[128];
	snprintf(line, sizeof line, "late_b 42 %lld\n", (long long)(T0 - 5 * 3600000));
	ingest_ok(db, line);
	cr_assert_eq(obs_db_compact(db), 0);
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	dump(db, &a);
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	dump(db, &b);
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id_of(db, "late_b"), &s);
	cr_assert_eq(s.n, 11, "late_b has %zu samples after reopen (accepted 11)", s.n);
	assert_same_dump(&a, &b);
	obs_samples_release(&s);
	obs_db_close(db);
	obs_buf_release(&a);
	obs_buf_release(&b);
}

/* ---- rollup views -------------------------------------------------------- */

static const char *const FNS[] = { "avg", "min", "max", "sum", "count", "last", "p50", "p99", "p99.9" };

static int close_rel(double a, double b, double rel)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	if (a == b)
		return 1;
	double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
	return fabs(a - b) <= rel * m;
}

/* Compare obs_db_read_agg with obs_downsample of obs_db_read over [from, to]
 * for every FN and a few steps; buckets wholly inside the range must match. */
static void check_agg(struct obs_db *db, uint32_t id, int64_t from, int64_t to, int want_tier)
{
	const int64_t steps[] = { 60000, 120000, 300000, 900000, 3600000, 45000 };
	size_t all_interior = 0;
	struct obs_samples raw, want, got;
	obs_samples_init(&raw);
	obs_samples_init(&want);
	obs_samples_init(&got);
	cr_assert_eq(obs_db_read(db, id, from, to, &raw), 0);
	cr_assert_gt(raw.n, 0);
	for (size_t si = 0; si < sizeof steps / sizeof steps[0]; si++) {
		int64_t step = steps[si];
		for (size_t fi = 0; fi < sizeof FNS / sizeof FNS[0]; fi++) {
			struct obs_aggfn fn;
			cr_assert_eq(obs_aggfn_parse(FNS[fi], strlen(FNS[fi]), &fn), 0);
			obs_samples_reset(&want);
			obs_samples_reset(&got);
			cr_assert_eq(obs_downsample(&raw, step, fn, &want), 0);
			int tier = -1;
			cr_assert_eq(obs_db_read_agg(db, id, from, to, step, fn, &got, &tier), 0);
			int expect_tier = want_tier && step % 60000 == 0;
			cr_assert_eq(tier, expect_tier, "step %lld %s: from_tier %d", (long long)step, FNS[fi], tier);
			int quant = fn.kind == OBS_AGG_QUANTILE;
			double rel = quant ? 0.01 : 1e-9;
			size_t j = 0, compared = 0;
			for (size_t i = 0; i < got.n; i++) {
				int64_t t = got.t[i];
				if (t < from || t + step - 1 > to)
					continue;   /* an edge bucket: the tier holds all of it */
				while (j < want.n && want.t[j] < t)
					j++;
				cr_assert_lt(j, want.n, "step %lld %s: bucket %lld not in the raw answer", (long long)step, FNS[fi], (long long)t);
				cr_assert_eq(want.t[j], t, "step %lld %s: bucket %lld missing", (long long)step, FNS[fi], (long long)want.t[j]);
				int exact = fn.kind == OBS_AGG_MIN || fn.kind == OBS_AGG_MAX || fn.kind == OBS_AGG_COUNT || fn.kind == OBS_AGG_LAST;
				if (exact && !isnan(want.v[j]))
					cr_assert_eq(bits(got.v[i]), bits(want.v[j]), "step %lld %s at %lld: %.17g != %.17g",
						     (long long)step, FNS[fi], (long long)t, got.v[i], want.v[j]);
				else
					cr_assert(close_rel(got.v[i], want.v[j], rel), "step %lld %s at %lld: %.17g vs %.17g",
						  (long long)step, FNS[fi], (long long)t, got.v[i], want.v[j]);
				compared++;
			}
			/* every interior raw bucket is answered */
			size_t interior = 0;
			for (size_t k = 0; k < want.n; k++)
				if (want.t[k] >= from && want.t[k] + step - 1 <= to)
					interior++;
			cr_assert_eq(compared, interior, "step %lld %s: %zu of %zu interior buckets", (long long)step, FNS[fi], compared, interior);
			all_interior += interior;
		}
	}
	cr_assert_gt(all_interior, 0);
	obs_samples_release(&raw);
	obs_samples_release(&want);
	obs_samples_release(&got);
}

static void fill_agg(struct obs_db *db, int64_t start, size_t n, size_t off)
{
	struct obs_buf b;
	obs_buf_init(&b);
	for (size_t i = off; i < off + n; i++) {
		char line[128];
		double v = 50 + 40 * sin((double)i / 300.0) + (double)(i % 13);
		int len;
		if (i % 97 == 0)
			len = snprintf(line, sizeof line, "agg NaN %lld\n", (long long)(start + (int64_t)i * 1000));
		else
			len = snprintf(line, sizeof line, "agg %.17g %lld\n", v, (long long)(start + (int64_t)i * 1000));
		obs_buf_append(&b, line, (size_t)len);
	}
	ingest_ok(db, b.data);
	obs_buf_release(&b);
}

Test(db, read_agg_matches_downsample, .init = setup, .fini = teardown)
{
	struct obs_db *db = open_at(dbdir, NULL);
	int64_t start = T0 - 8 * 3600000;
	/* 4 slices of 1 h (then compacted: 4 level-1 blocks, merged) + 1 h in the head */
	fill_agg(db, start, 3600, 0);
	uint32_t id = id_of(db, "agg");
	int64_t from = start + 17 * 60000 + 12345, to = start + 5 * 3600000 - 1;
	/* raw only: the head */
	check_agg(db, id, from, to, 0);
	cr_assert_eq(obs_db_compact(db), 0);
	check_agg(db, id, from, to, 0);   /* a level-1 block has no rollups */
	for (int k = 1; k < 4; k++) {
		fill_agg(db, start, 3600, (size_t)k * 3600);
		cr_assert_eq(obs_db_compact(db), 0);
	}
	fill_agg(db, start, 3600, 4 * 3600);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks_by_level[1], 1);
	cr_assert_eq(st.rollup_files[0], 1);
	/* from rollups (4 h) plus the head (1 h) */
	check_agg(db, id, from, to, 1);
	/* a range entirely in the rolled-up past, aligned */
	check_agg(db, id, start + 3600000, start + 3 * 3600000 - 1, 1);
	/* a range after the rollups only: raw */
	struct obs_samples out;
	obs_samples_init(&out);
	int tier = -1;
	struct obs_aggfn fn = { OBS_AGG_COUNT, 0 };
	cr_assert_eq(obs_db_read_agg(db, id, start + 4 * 3600000 + 1, to, 60000, fn, &out, &tier), 0);
	cr_assert_eq(tier, 0);
	/* a level-1 block after the merged one: rollups + raw block + head */
	cr_assert_eq(obs_db_compact(db), 0);
	fill_agg(db, start, 600, 5 * 3600);
	check_agg(db, id, from, start + 5 * 3600000 + 600000 - 1, 1);
	/* and after a reopen */
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	check_agg(db, id, from, to, 1);
	obs_samples_release(&out);
	obs_db_close(db);
}

/* ---- retention -------------------------------------------------------------- */

Test(db, retain_blocks_and_tiers, .init = setup, .fini = teardown)
{
	struct obs_db_opts o;
	test_opts(&o);
	o.retention_ms = 24 * 3600 * 1000;
	struct obs_db *db = open_at(dbdir, &o);
	int64_t now = obs_time_now();
	four_compactions(db, T0 - 6 * 3600000, NULL);
	fill_mixed(db, T0, 99);
	cr_assert_eq(obs_db_compact(db), 0);   /* a level-1 block of recent data */
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks, 2);
	/* nothing is old enough yet */
	cr_assert_eq(obs_db_retain(db, now), 0);
	/* a day later (plus a little): the merged block is older than the
	 * cutoff (its newest sample is ~4.5 h before T0), the recent one is not */
	cr_assert_eq(obs_db_retain(db, T0 - 4 * 3600000 + o.retention_ms), 1);
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks, 1);
	cr_assert_eq(st.blocks_by_level[1], 0);
	cr_assert_eq(st.blocks_retired, 1);
	struct obs_samples s;
	obs_samples_init(&s);
	read_all(db, id_of(db, "mix{k=\"0\",job=\"j0\"}"), &s);
	cr_assert_eq(s.n, 250);
	cr_assert_geq(s.t[0], T0);
	/* the rollups outlive the block: tiers 90 d / 1 y / 3 y */
	cr_assert_eq(st.rollup_files[0], 1);
	cr_assert_eq(st.rollup_files[1], 1);
	cr_assert_eq(st.rollup_files[2], 1);
	int64_t day = 24 * 3600000LL;
	obs_db_retain(db, now + 100 * day);
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks, 0);
	cr_assert_eq(st.rollup_files[0], 0);
	cr_assert_eq(st.rollup_files[1], 1);
	cr_assert_eq(st.rollup_files[2], 1);
	/* the 5m/1h tiers still answer */
	int tier = 0;
	struct obs_aggfn fn = { OBS_AGG_COUNT, 0 };
	obs_samples_reset(&s);
	uint32_t id = id_of(db, "mix{k=\"0\",job=\"j0\"}");
	cr_assert_eq(obs_db_read_agg(db, id, T0 - 7 * 3600000, T0, 300000, fn, &s, &tier), 0);
	cr_assert_eq(tier, 1);
	double total = 0;
	for (size_t i = 0; i < s.n; i++)
		total += s.v[i];
	cr_assert_eq(total, 4 * 250);
	obs_db_retain(db, now + 400 * day);
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.rollup_files[1], 0);
	cr_assert_eq(st.rollup_files[2], 1);
	obs_db_retain(db, now + 1200 * day);
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.rollup_files[2], 0);
	cr_assert_eq(st.rollup_sets, 0);
	char p[192];
	snprintf(p, sizeof p, "%s/rollups/1h", dbdir);
	char names[8][128];
	cr_assert_eq(list_dir(p, names, 8), 0);
	obs_samples_release(&s);
	obs_db_close(db);
}

/* ---- concurrency ----------------------------------------------------------- */

#define CW 4
#define CSERIES 8
#define CROUNDS 400
#define CPER 5

struct cctx {
	struct obs_db *db;
	int w;
	_Atomic int *stop;
	_Atomic uint64_t *accepted;
	_Atomic int *errors;
};

/* value of a sample is a function of its time: the writer and index are in t */
static double cval(int64_t t) { return (double)(t - T0) * 0.5 + 3; }

static void *c_writer(void *arg)
{
	struct cctx *c = arg;
	struct obs_buf b;
	obs_buf_init(&b);
	for (int r = 0; r < CROUNDS; r++) {
		obs_buf_reset(&b);
		for (int k = 0; k < CPER; k++) {
			int64_t i = (int64_t)r * CPER + k;
			int64_t t = T0 + i * CW + c->w;
			for (int s = 0; s < CSERIES; s++) {
				char line[128];
				int len = snprintf(line, sizeof line, "conc{s=\"%d\"} %.17g %lld\n", (s + c->w) % CSERIES, cval(t), (long long)t);
				obs_buf_append(&b, line, (size_t)len);
			}
		}
		struct obs_ingest_result res;
		if (obs_db_ingest(c->db, b.data, b.len, OBS_FMT_PROM, "w", 1, &res) || res.err == EIO || res.err == ENOSPC)
			atomic_fetch_add(c->errors, 1);
		atomic_fetch_add(c->accepted, res.accepted);
		usleep(1000);
	}
	obs_buf_release(&b);
	return NULL;
}

static void *c_reader(void *arg)
{
	struct cctx *c = arg;
	struct obs_samples s;
	obs_samples_init(&s);
	while (!atomic_load(c->stop)) {
		for (uint32_t id = 0; id < obs_db_series_count(c->db); id++) {
			obs_samples_reset(&s);
			if (obs_db_read(c->db, id, INT64_MIN, INT64_MAX, &s)) {
				atomic_fetch_add(c->errors, 1);
				continue;
			}
			for (size_t i = 0; i < s.n; i++)
				if ((i && s.t[i - 1] >= s.t[i]) || s.v[i] != cval(s.t[i]))
					atomic_fetch_add(c->errors, 1);
			uint64_t sz;
			if (obs_db_text_size(c->db, id, OBS_TIME_EPOCH, &sz))
				atomic_fetch_add(c->errors, 1);
		}
	}
	obs_samples_release(&s);
	return NULL;
}

static void *c_compactor(void *arg)
{
	struct cctx *c = arg;
	while (!atomic_load(c->stop)) {
		if (obs_db_compact(c->db))
			atomic_fetch_add(c->errors, 1);
		usleep(2000);
	}
	return NULL;
}

Test(db, concurrency, .init = setup, .fini = teardown, .timeout = 120)
{
	struct obs_db *db = open_at(dbdir, NULL);
	_Atomic int stop = 0, errors = 0;
	_Atomic uint64_t accepted = 0;
	struct cctx c[CW + 2];
	pthread_t th[CW + 2];
	for (int i = 0; i < CW + 2; i++) {
		c[i] = (struct cctx){ db, i, &stop, &accepted, &errors };
		cr_assert_eq(pthread_create(&th[i], NULL, i < CW ? c_writer : i == CW ? c_reader : c_compactor, &c[i]), 0);
	}
	for (int i = 0; i < CW; i++)
		pthread_join(th[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(th[CW], NULL);
	pthread_join(th[CW + 1], NULL);
	cr_assert_eq(atomic_load(&errors), 0, "%d errors seen by the threads", atomic_load(&errors));
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_gt(st.compactions, 3);
	uint64_t acc = atomic_load(&accepted);
	cr_assert_gt(acc, 0);
	/* every accepted sample exactly once, with its value */
	struct obs_samples s;
	obs_samples_init(&s);
	uint64_t total = 0;
	cr_assert_eq(obs_db_series_count(db), CSERIES);
	for (uint32_t id = 0; id < CSERIES; id++) {
		read_all(db, id, &s);
		for (size_t i = 0; i < s.n; i++) {
			if (i)
				cr_assert_lt(s.t[i - 1], s.t[i], "series %u: sample %zu twice or unordered", id, i);
			cr_assert_eq(s.v[i], cval(s.t[i]));
		}
		total += s.n;
	}
	cr_assert_eq(total, acc, "read %llu, accepted %llu", (unsigned long long)total, (unsigned long long)acc);
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	dump(db, &a);
	obs_db_close(db);
	db = open_at(dbdir, NULL);
	dump(db, &b);
	assert_same_dump(&a, &b);
	obs_db_close(db);
	obs_buf_release(&a);
	obs_buf_release(&b);
	obs_samples_release(&s);
}

/* A series whose every block was retired still has rollups keyed by its id:
 * after a checkpoint and a restart it must still be known under that id, and
 * a new series must not take it over. */
Test(db, series_survive_retention_of_all_their_blocks, .init = setup, .fini = teardown)
{
	struct obs_db_opts o;
	test_opts(&o);
	o.retention_ms = 24 * 3600 * 1000;
	struct obs_db *db = open_at(dbdir, &o);
	ingest_series(db, "gone", T0, 1000, 50, 1);
	uint32_t gone = id_of(db, "gone");
	cr_assert_eq(obs_db_compact(db), 0);
	cr_assert_eq(obs_db_retain(db, T0 + 100000 + o.retention_ms), 1);
	ingest_series(db, "kept", T0 + 200000, 1000, 5, 2);
	cr_assert_eq(obs_db_compact(db), 0);   /* checkpoint: old WAL segments go */
	obs_db_close(db);
	db = open_at(dbdir, &o);
	uint32_t again;
	cr_assert_eq(obs_db_lookup(db, "gone", 4, &again, NULL), 0, "series forgotten after retention");
	cr_assert_eq(again, gone);
	uint32_t fresh;
	cr_assert_eq(obs_db_create(db, "fresh", 5, &fresh, NULL), 0);
	cr_assert_neq(fresh, gone);
	obs_db_close(db);
}
