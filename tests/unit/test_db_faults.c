/* test_db_faults.c — the metrics store when a step of compaction, merging or
 * ingest goes wrong or races: every fault point of compaction and merge
 * (block write/fsync/rename, register, WAL cut/relog/sync/remove, rollups)
 * armed one at a time with ENOSPC and EIO; the call fails with that errno,
 * every acknowledged sample stays readable and bit-exact (once), the next
 * compaction succeeds even with new samples in between, and a reopen brings
 * everything back. Also: new series racing a compaction (the directory must
 * reopen), writers racing on one series and timestamp (WAL order = head
 * order), and -o wal_recover over a hand-damaged WAL. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/errlog.h"
#include "core/fault.h"
#include "core/obstime.h"
#include "tsdb/db.h"
#include "tsdb/samples.h"
#include "core/wal.h"
#include "db_fixture.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[64];
static char dbdir[256];
static int64_t T0;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static void teardown(void)
{
	obs_fault_reset();
	if (!tmpdir[0])
		return;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = 0;
}

static void setup(void)
{
	strcpy(tmpdir, "/tmp/test_dbf.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	atexit(teardown);
	snprintf(dbdir, sizeof dbdir, "%s/data", tmpdir);
	T0 = (obs_time_now() / 3600000 - 3) * 3600000;
	obs_fault_reset();
}

static struct obs_db *open_db(const struct obs_db_opts *o)
{
	struct obs_db_opts d;
	if (!o) {
		test_opts(&d);
		o = &d;
	}
	struct obs_db *db = NULL;
	char err[512];
	int rc = obs_db_open(dbdir, o, &db, err, sizeof err);
	cr_assert_eq(rc, 0, "open: %d %s", rc, err);
	return db;
}

static uint64_t bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b;
}

/* The model: what was acknowledged, per series. */
#define NSER 6
static const char *names[NSER] = { "m_a", "m_b{x=\"1\"}", "m_b{x=\"2\"}", "m_c", "m_d", "m_e" };
static struct obs_samples want[NSER];
static int64_t next_t[NSER];

static void model_init(void)
{
	for (int i = 0; i < NSER; i++) {
		obs_samples_init(&want[i]);
		next_t[i] = T0;
	}
}

static void model_release(void)
{
	for (int i = 0; i < NSER; i++)
		obs_samples_release(&want[i]);
}

/* k samples to each series in [first, last], one write; all must be taken. */
static void put(struct obs_db *db, int first, int last, int k)
{
	struct obs_buf b;
	obs_buf_init(&b);
	for (int j = 0; j < k; j++)
		for (int i = first; i <= last; i++) {
			int64_t t = next_t[i];
			next_t[i] += 1000;
			double v = (double)(t - T0) / 7.0 + i;
			char line[200];
			int len = snprintf(line, sizeof line, "%s %.17g %lld\n", names[i], v, (long long)t);
			obs_buf_append(&b, line, (size_t)len);
			cr_assert_eq(obs_samples_push(&want[i], t, v), 0);
		}
	struct obs_ingest_result r;
	cr_assert_eq(obs_db_ingest(db, b.data, b.len, OBS_FMT_PROM, "test", 1, &r), 0);
	cr_assert_eq(r.rejected, 0, "rejected %llu err %d", (unsigned long long)r.rejected, r.err);
	cr_assert_eq(r.accepted, (uint64_t)(k * (last - first + 1)));
	obs_buf_release(&b);
}

/* Every acknowledged sample is there, bit-exact, exactly once. */
static void check(struct obs_db *db, const char *when)
{
	struct obs_samples got;
	obs_samples_init(&got);
	for (int i = 0; i < NSER; i++) {
		uint32_t id;
		const char *why = NULL;
		int rc = obs_db_lookup(db, names[i], strlen(names[i]), &id, &why);
		if (!want[i].n && rc == -ENOENT)
			continue;
		cr_assert_eq(rc, 0, "%s: lookup %s: %d", when, names[i], rc);
		obs_samples_reset(&got);
		cr_assert_eq(obs_db_read(db, id, INT64_MIN, INT64_MAX, &got), 0);
		cr_assert_eq(got.n, want[i].n, "%s: %s has %zu samples, want %zu", when, names[i], got.n, want[i].n);
		for (size_t k = 0; k < got.n; k++) {
			cr_assert_eq(got.t[k], want[i].t[k], "%s: %s sample %zu time", when, names[i], k);
			cr_assert_eq(bits(got.v[k]), bits(want[i].v[k]), "%s: %s sample %zu value", when, names[i], k);
		}
	}
	obs_samples_release(&got);
}

/* Entries of DATADIR/blocks (hidden ones too: nothing half-written may stay). */
static size_t count_blocks_dir(int *hidden)
{
	char dir[300];
	snprintf(dir, sizeof dir, "%s/blocks", dbdir);
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	size_t n = 0;
	*hidden = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_name[0] == '.')
			(*hidden)++;
		else
			n++;
	}
	closedir(d);
	return n;
}

static uint64_t nblocks(struct obs_db *db)
{
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	return st.blocks;
}

/* ---- compaction: each fault point, each errno --------------------------- */

static const char *compact_points[] = {
	"block.mkdir", "block.write", "block.fsync", "block.rename", "block.dirsync",
	"compact.cut", "compact.freeze", "compact.register", "compact.relog", "compact.sync",
	"compact.remove",
};

static void compact_fault_round(const char *point, int err)
{
	model_init();
	struct obs_db *db = open_db(NULL);
	put(db, 0, 2, 30);
	cr_assert_eq(obs_db_compact(db), 0);   /* a floor and a block before the fault */
	put(db, 0, 3, 300);                    /* m_d: a new series in this head */
	uint32_t idc;
	const char *why;
	cr_assert_eq(obs_db_create(db, "m_e", 3, &idc, &why), 0);   /* known only from the WAL */
	uint64_t blocks0 = nblocks(db);

	/* compact.freeze: fail after some series are frozen already */
	cr_assert_eq(obs_fault_arm(point, strcmp(point, "compact.freeze") ? 0 : 2, 1, err), 0);
	int rc = obs_db_compact(db);
	cr_assert_gt(obs_fault_hits(point), 0, "%s: point never reached", point);
	cr_assert_eq(rc, -err, "%s/%d: compact returned %d", point, err, rc);
	obs_fault_reset();
	check(db, "after the failed compaction");
	int hidden;
	count_blocks_dir(&hidden);
	cr_assert_eq(hidden, 0, "%s: a temporary block was left", point);

	/* the retry, with new samples and a new series in between */
	put(db, 0, 4, 50);
	check(db, "after new samples");
	cr_assert_eq(obs_db_compact(db), 0, "%s: retry failed", point);
	cr_assert_geq(nblocks(db), blocks0);
	check(db, "after the retry");
	put(db, 0, 4, 5);
	obs_db_close(db);

	db = open_db(NULL);
	check(db, "after reopen");
	cr_assert_eq(obs_db_series_count(db) >= 5, 1);
	uint32_t ide;
	cr_assert_eq(obs_db_lookup(db, "m_e", 3, &ide, &why), 0, "%s: a series known only from the WAL was lost", point);
	cr_assert_eq(obs_db_compact(db), 0);
	check(db, "after a compaction after reopen");
	obs_db_close(db);
	db = open_db(NULL);
	check(db, "after the second reopen");
	obs_db_close(db);
	model_release();
}

static void each_compact_point(int err)
{
	for (size_t i = 0; i < sizeof compact_points / sizeof *compact_points; i++) {
		char dir[200];
		snprintf(dir, sizeof dir, "%s/%zu-%d", tmpdir, i, err);
		snprintf(dbdir, sizeof dbdir, "%s", dir);
		compact_fault_round(compact_points[i], err);
	}
}

Test(faults, compact_each_point_enospc, .init = setup, .fini = teardown, .timeout = 120)
{
	each_compact_point(ENOSPC);
}

Test(faults, compact_each_point_eio, .init = setup, .fini = teardown, .timeout = 120)
{
	each_compact_point(EIO);
}

/* Two failed compactions in a row, each with new samples after it: the
 * second must not drop the chunks the first one froze. */
Test(faults, compact_fails_twice_then_succeeds, .init = setup, .fini = teardown)
{
	model_init();
	struct obs_db *db = open_db(NULL);
	put(db, 0, 1, 100);
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(obs_fault_arm("block.write", 0, 1, ENOSPC), 0);
		cr_assert_eq(obs_db_compact(db), -ENOSPC);
		obs_fault_reset();
		check(db, "after a failed compaction");
		put(db, 0, 2, 10);
	}
	cr_assert_eq(obs_db_compact(db), 0);
	check(db, "after the compaction");
	obs_db_close(db);
	db = open_db(NULL);
	check(db, "after reopen");
	obs_db_close(db);
	model_release();
}

/* ---- merges ------------------------------------------------------------ */

static const char *merge_points[] = {
	"block.mkdir", "block.write", "block.fsync", "block.rename", "block.dirsync",
	"merge.register", "rollup.write", "rollup.fsync", "rollup.rename",
};

static void merge_fault_round(const char *point, int err)
{
	model_init();
	struct obs_db *db = open_db(NULL);
	for (int i = 0; i < 3; i++) {
		put(db, 0, 2, 20);
		cr_assert_eq(obs_db_compact(db), 0);
	}
	put(db, 0, 2, 20);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks_by_level[0], 3);
	/* the level-1 block of this compaction comes first: skip its hits of a
	 * block point (counted on a probe directory); a level-1 compaction
	 * builds no rollups, so "rollup.*" and "merge.*" need no skip */
	int skip = 0;
	if (!strncmp(point, "block.", 6)) {
		struct obs_db *probe = NULL;   /* count the hits of one level-1 commit */
		char pdir[300];
		snprintf(pdir, sizeof pdir, "%s-probe", dbdir);
		struct obs_db_opts o;
		test_opts(&o);
		char e[256];
		cr_assert_eq(obs_db_open(pdir, &o, &probe, e, sizeof e), 0);
		struct obs_ingest_result r;
		cr_assert_eq(obs_db_ingest(probe, "p 1 1000\n", 9, OBS_FMT_PROM, "t", 1, &r), 0);
		cr_assert_eq(obs_fault_arm(point, 1 << 30, 0, err), 0);
		cr_assert_eq(obs_db_compact(probe), 0);
		skip = (int)obs_fault_hits(point);
		obs_fault_reset();
		obs_db_close(probe);
		cr_assert_gt(skip, 0);
	}
	cr_assert_eq(obs_fault_arm(point, skip, 1, err), 0);
	int rc = obs_db_compact(db);   /* 4th level-1 block, then the merge fails */
	cr_assert_eq(rc, -err, "%s/%d: compact (merge) returned %d", point, err, rc);
	obs_fault_reset();
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks_by_level[0], 4, "%s: merge inputs lost", point);
	cr_assert_eq(st.blocks_by_level[1], 0, "%s: a failed merge registered its output", point);
	int hidden;
	cr_assert_eq(count_blocks_dir(&hidden), 4, "%s: blocks on disk after a failed merge", point);
	cr_assert_eq(hidden, 0);
	check(db, "after the failed merge");
	obs_db_close(db);

	db = open_db(NULL);
	check(db, "after reopen");
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks_by_level[0], 4);
	put(db, 0, 4, 10);
	cr_assert_eq(obs_db_compact(db), 0, "%s: the merge retry failed", point);
	obs_db_get_stats(db, &st);
	cr_assert_eq(st.blocks_by_level[1], 1);
	check(db, "after the merge");
	obs_db_close(db);
	db = open_db(NULL);
	check(db, "after the merge and reopen");
	obs_db_close(db);
	model_release();
}

static void each_merge_point(int err)
{
	for (size_t i = 0; i < sizeof merge_points / sizeof *merge_points; i++) {
		snprintf(dbdir, sizeof dbdir, "%s/m%zu-%d", tmpdir, i, err);
		merge_fault_round(merge_points[i], err);
	}
}

Test(faults, merge_each_point_enospc, .init = setup, .fini = teardown, .timeout = 120)
{
	each_merge_point(ENOSPC);
}

Test(faults, merge_each_point_eio, .init = setup, .fini = teardown, .timeout = 120)
{
	each_merge_point(EIO);
}

/* ---- the background compactor ------------------------------------------- */

Test(faults, background_compactor_retries, .init = setup, .fini = teardown, .timeout = 60)
{
	model_init();
	struct obs_db_opts o;
	test_opts(&o);
	o.check_interval_ms = 20;
	o.head_max_samples = 50;
	struct obs_db *db = open_db(&o);
	cr_assert_eq(obs_fault_arm("block.write", 0, 3, ENOSPC), 0);
	put(db, 0, 2, 40);
	/* while it fails, new samples keep arriving */
	for (int i = 0; i < 40 && obs_fault_hits("block.write") < 3; i++) {
		usleep(20000);
		put(db, 0, 3, 2);
	}
	cr_assert_geq(obs_fault_hits("block.write"), 3, "the compactor did not retry");
	int ok = 0;
	for (int i = 0; i < 200 && !ok; i++) {
		usleep(20000);
		ok = nblocks(db) > 0;
	}
	cr_assert(ok, "the compactor never succeeded after the faults");
	check(db, "after the background compactions");
	struct obs_buf e;
	obs_buf_init(&e);
	cr_assert_eq(obs_errlog_render(obs_db_errlog(db), &e), 0);
	cr_assert_not_null(memmem(e.data, e.len, "compaction failed", 17), "no errors entry: %.*s", (int)e.len, e.data);
	obs_buf_release(&e);
	put(db, 0, 4, 3);
	obs_db_close(db);
	obs_fault_reset();
	db = open_db(NULL);
	check(db, "after reopen");
	obs_db_close(db);
	model_release();
}

/* ---- new series racing a compaction (SERIES record vs WAL cut) ----------- */

struct race {
	struct obs_db *db;
	_Atomic int stop;
	_Atomic uint64_t created;
	int64_t t;
};

/* Big writes to old series: each holds the ingest path (and delays a cut). */
static void *race_bulk(void *arg)
{
	struct race *r = arg;
	struct obs_buf b;
	obs_buf_init(&b);
	int64_t t = r->t;
	while (!atomic_load(&r->stop)) {
		obs_buf_reset(&b);
		for (int i = 0; i < 4000; i++) {
			char line[96];
			int len = snprintf(line, sizeof line, "bulk{k=\"%d\"} %d %lld\n", i % 50, i, (long long)t + i / 50);
			obs_buf_append(&b, line, (size_t)len);
		}
		t += 4000 / 50 + 1;
		struct obs_ingest_result res;
		obs_db_ingest(r->db, b.data, b.len, OBS_FMT_PROM, "bulk", 1, &res);
	}
	obs_buf_release(&b);
	return NULL;
}

/* A new series per write, its samples in the same write. */
static void *race_new(void *arg)
{
	struct race *r = arg;
	for (uint64_t i = 0; !atomic_load(&r->stop); i++) {
		char text[4096];
		int len = 0;
		len += snprintf(text + len, sizeof text - (size_t)len, "fresh{n=\"%llu\"} 1 %lld\n", (unsigned long long)i,
				(long long)r->t);
		for (int k = 0; k < 60; k++)   /* parse time between the SERIES record and the samples */
			len += snprintf(text + len, sizeof text - (size_t)len, "bulk{k=\"%d\"} 7 %lld\n", 60 + k, (long long)r->t + (long long)i);
		struct obs_ingest_result res;
		if (obs_db_ingest(r->db, text, (size_t)len, OBS_FMT_PROM, "new", 1, &res) == 0 && res.accepted == 61)
			atomic_store(&r->created, i + 1);
	}
	return NULL;
}

Test(faults, new_series_racing_compaction_reopens, .init = setup, .fini = teardown, .timeout = 120)
{
	struct obs_db *db = open_db(NULL);
	struct race r = { .db = db, .t = T0 };
	pthread_t a, b;
	pthread_create(&a, NULL, race_bulk, &r);
	pthread_create(&b, NULL, race_new, &r);
	int64_t end = obs_time_now() + 3000;
	int compactions = 0;
	while (obs_time_now() < end) {
		cr_assert_eq(obs_db_compact(db), 0);
		compactions++;
	}
	atomic_store(&r.stop, 1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	uint64_t created = atomic_load(&r.created);
	obs_db_close(db);
	struct obs_db_opts o;
	test_opts(&o);
	char err[512];
	db = NULL;
	int rc = obs_db_open(dbdir, &o, &db, err, sizeof err);
	cr_assert_eq(rc, 0, "reopen after %d compactions: %d %s", compactions, rc, err);
	for (uint64_t i = 0; i + 1 < created; i++) {
		char name[64];
		int len = snprintf(name, sizeof name, "fresh{n=\"%llu\"}", (unsigned long long)i);
		uint32_t id;
		const char *why;
		cr_assert_eq(obs_db_lookup(db, name, (size_t)len, &id, &why), 0, "%s lost", name);
		struct obs_samples s;
		obs_samples_init(&s);
		cr_assert_eq(obs_db_read(db, id, INT64_MIN, INT64_MAX, &s), 0);
		cr_assert_eq(s.n, 1, "%s: %zu samples", name, s.n);
		obs_samples_release(&s);
	}
	obs_db_close(db);
}

/* ---- writers racing on one series and timestamp -------------------------- */

struct dup_race {
	struct obs_db *db;
	pthread_barrier_t go;
	int rounds, who;
	int64_t t0;
};

static void *dup_writer(void *arg)
{
	struct dup_race *d = arg;
	int who = __atomic_fetch_add(&d->who, 1, __ATOMIC_SEQ_CST);
	for (int r = 0; r < d->rounds; r++) {
		char text[256];
		int len = 0;
		/* a few series per write, so that writes take their locks in
		 * different orders */
		for (int k = 0; k < 4; k++)
			len += snprintf(text + len, sizeof text - (size_t)len, "dup{s=\"%d\"} %d %lld\n", (k + who) % 4, who + 1,
					(long long)(d->t0 + r));
		pthread_barrier_wait(&d->go);
		struct obs_ingest_result res;
		obs_db_ingest(d->db, text, (size_t)len, OBS_FMT_PROM, "dup", 1, &res);
	}
	return NULL;
}

static void dump_series(struct obs_db *db, struct obs_buf *out)
{
	struct obs_samples s;
	obs_samples_init(&s);
	for (uint32_t id = 0; id < obs_db_series_count(db); id++) {
		obs_samples_reset(&s);
		cr_assert_eq(obs_db_read(db, id, INT64_MIN, INT64_MAX, &s), 0);
		obs_db_series_text(db, id, out);
		for (size_t i = 0; i < s.n; i++)
			obs_buf_printf(out, " %lld=%016llx", (long long)s.t[i], (unsigned long long)bits(s.v[i]));
		obs_buf_putc(out, '\n');
	}
	obs_samples_release(&s);
}

Test(faults, racing_writers_same_head_after_reopen, .init = setup, .fini = teardown, .timeout = 120)
{
	struct obs_db *db = open_db(NULL);
	enum { W = 4 };
	struct dup_race d = { .db = db, .rounds = 10000, .t0 = T0 };
	pthread_barrier_init(&d.go, NULL, W);
	pthread_t th[W];
	for (int i = 0; i < W; i++)
		pthread_create(&th[i], NULL, dup_writer, &d);
	for (int i = 0; i < W; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&d.go);
	struct obs_buf before, after;
	obs_buf_init(&before);
	obs_buf_init(&after);
	dump_series(db, &before);
	obs_db_close(db);
	db = open_db(NULL);
	dump_series(db, &after);
	obs_db_close(db);
	size_t diff = 0;
	for (size_t i = 0; i < before.len && i < after.len; i++)
		diff += before.data[i] != after.data[i];
	cr_assert_eq(before.len, after.len);
	cr_assert_eq(diff, 0, "the head changed across a reopen (%zu bytes differ)", diff);
	obs_buf_release(&before);
	obs_buf_release(&after);
}

/* ---- -o wal_recover ------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A SAMPLES record (the db's format) of one sample. */
static size_t samples_rec(uint8_t *p, uint32_t id, int64_t t, double v)
{
	size_t n = 0;
	p[n++] = 1;   /* count */
	p[n++] = (uint8_t)id;   /* ids < 128 */
	uint64_t zz = (uint64_t)((t << 1) ^ (t >> 63));
	while (zz >= 0x80) {
		p[n++] = (uint8_t)(zz | 0x80);
		zz >>= 7;
	}
	p[n++] = (uint8_t)zz;
	uint64_t b = bits(v);
	memcpy(p + n, &b, 8);
	return n + 8;
}

static void craft_wal(int damage_earlier_segment)
{
	char wdir[300];
	snprintf(wdir, sizeof wdir, "%s/wal", dbdir);
	mkdir(dbdir, 0755);
	for (int seg = 0; seg < 2; seg++) {
		struct obs_wal *w;
		cr_assert_eq(obs_wal_open(wdir, NULL, &w), 0);
		uint8_t rec[64];
		if (seg == 0) {
			uint8_t hdr[4];
			put32(hdr, 0);
			cr_assert_eq(obs_wal_append2(w, 1, hdr, 4, "good", 4), 0);   /* SERIES 0 good */
			cr_assert_eq(obs_wal_append(w, 2, rec, samples_rec(rec, 0, T0 + 1000, 1.5)), 0);
			/* samples of id 7, which no SERIES record names */
			cr_assert_eq(obs_wal_append(w, 2, rec, samples_rec(rec, 7, T0 + 1000, 9.0)), 0);
			cr_assert_eq(obs_wal_append(w, 2, rec, samples_rec(rec, 0, T0 + 2000, 2.5)), 0);
		} else {
			cr_assert_eq(obs_wal_append(w, 2, rec, samples_rec(rec, 0, T0 + 3000, 3.5)), 0);
			cr_assert_eq(obs_wal_append(w, 2, rec, samples_rec(rec, 0, T0 + 4000, 4.5)), 0);
		}
		obs_wal_close(w);
	}
	if (damage_earlier_segment) {
		/* flip a byte of the 3rd record of the first segment (the unknown
		 * id's samples): a CRC mismatch before the end of an earlier segment */
		char path[400];
		snprintf(path, sizeof path, "%s/00000001.wal", wdir);
		FILE *f = fopen(path, "r+b");
		cr_assert_not_null(f);
		long off = 16 + (9 + 8) + (9 + 13) + 9 + 3;
		fseek(f, off, SEEK_SET);
		int c = fgetc(f);
		fseek(f, off, SEEK_SET);
		fputc(c ^ 0x5a, f);
		fclose(f);
	}
}

static void check_recovered(int expect_skipped_samples)
{
	struct obs_db_opts o;
	test_opts(&o);
	struct obs_db *db = NULL;
	char err[512];
	int rc = obs_db_open(dbdir, &o, &db, err, sizeof err);
	cr_assert_eq(rc, -EBADMSG, "a damaged WAL opened: %d", rc);
	cr_assert_not_null(strstr(err, "wal_recover"), "the refusal does not name the option: %s", err);

	o.wal_recover = 1;
	rc = obs_db_open(dbdir, &o, &db, err, sizeof err);
	cr_assert_eq(rc, 0, "wal_recover: %d %s", rc, err);
	struct obs_db_stats st;
	obs_db_get_stats(db, &st);
	if (expect_skipped_samples)
		cr_assert_eq(st.wal_skipped_samples, 1);
	else
		cr_assert_gt(st.wal_skipped_bytes, 0);
	struct obs_buf e;
	obs_buf_init(&e);
	cr_assert_eq(obs_errlog_render(obs_db_errlog(db), &e), 0);
	cr_assert_not_null(memmem(e.data, e.len, "recovery skipped", 16), "errors: %.*s", (int)e.len, e.data);
	obs_buf_release(&e);
	uint32_t id;
	const char *why;
	cr_assert_eq(obs_db_lookup(db, "good", 4, &id, &why), 0);
	struct obs_samples s;
	obs_samples_init(&s);
	cr_assert_eq(obs_db_read(db, id, INT64_MIN, INT64_MAX, &s), 0);
	cr_assert_eq(s.n, 4, "kept %zu of the 4 valid samples", s.n);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(s.t[i], T0 + 1000 * (int64_t)(i + 1));
		cr_assert_eq(bits(s.v[i]), bits(1.5 + (double)i));
	}
	obs_db_close(db);
	/* the recovery checkpointed: a plain open works and has it all */
	o.wal_recover = 0;
	rc = obs_db_open(dbdir, &o, &db, err, sizeof err);
	cr_assert_eq(rc, 0, "open after recovery: %d %s", rc, err);
	cr_assert_eq(obs_db_lookup(db, "good", 4, &id, &why), 0);
	obs_samples_reset(&s);
	cr_assert_eq(obs_db_read(db, id, INT64_MIN, INT64_MAX, &s), 0);
	cr_assert_eq(s.n, 4);
	obs_samples_release(&s);
	obs_db_close(db);
}

Test(faults, wal_recover_unknown_ids, .init = setup, .fini = teardown)
{
	craft_wal(0);
	check_recovered(1);
}

Test(faults, wal_recover_damaged_earlier_segment, .init = setup, .fini = teardown)
{
	craft_wal(1);
	check_recovered(0);
}

/* ---- retention: a series losing its last block -------------------------- */

/* Its SERIES record is logged again after samples of it that follow the last
 * checkpoint: a restart before the next checkpoint must still know it. */
Test(faults, retention_of_last_block_then_restart, .init = setup, .fini = teardown)
{
	model_init();
	struct obs_db_opts o;
	test_opts(&o);
	o.retention_ms = 10LL * 3600 * 1000;
	struct obs_db *db = open_db(&o);
	put(db, 0, 1, 20);
	cr_assert_eq(obs_db_compact(db), 0);
	cr_assert_eq(nblocks(db), 1);
	/* the block's samples go with it; only what follows stays */
	for (int i = 0; i < 2; i++)
		obs_samples_reset(&want[i]);
	put(db, 0, 1, 5);
	cr_assert_eq(obs_db_retain(db, obs_time_now() + 20LL * 3600 * 1000), 1);
	put(db, 0, 1, 5);
	check(db, "after retention");
	obs_db_close(db);   /* no checkpoint since */
	db = open_db(&o);
	check(db, "after reopen");
	obs_db_close(db);
	model_release();
}

/* ---- series fields read while a compaction writes them ------------------ */

struct vrace {
	struct obs_db *db;
	uint32_t id;
	_Atomic int stop;
	_Atomic uint64_t stored;
};

static void *vrace_writer(void *arg)
{
	struct vrace *v = arg;
	while (!atomic_load(&v->stop)) {
		struct obs_ingest_result r;
		if (obs_db_ingest_values(v->db, v->id, "1\n2\n", 4, "v", 1, &r) == 0)
			atomic_fetch_add(&v->stored, r.accepted);
	}
	return NULL;
}

static void *vrace_reader(void *arg)
{
	struct vrace *v = arg;
	struct obs_samples s;
	obs_samples_init(&s);
	while (!atomic_load(&v->stop)) {
		uint64_t size;
		obs_samples_reset(&s);
		obs_db_read(v->db, v->id, INT64_MIN, INT64_MAX, &s);
		obs_db_text_size(v->db, v->id, OBS_TIME_EPOCH, &size);
		struct obs_db_stats st;
		obs_db_get_stats(v->db, &st);
	}
	obs_samples_release(&s);
	return NULL;
}

/* floor_t, in_block and the compaction times are read by writers, readers
 * and stats while compactions write them (ThreadSanitizer checks this test
 * under make tsan); nothing untimed is refused or lost meanwhile. */
Test(faults, series_fields_racing_compaction, .init = setup, .fini = teardown, .timeout = 120)
{
	struct obs_db *db = open_db(NULL);
	struct vrace v = { .db = db };
	const char *why;
	cr_assert_eq(obs_db_create(db, "vrace", 5, &v.id, &why), 0);
	pthread_t w, r;
	pthread_create(&w, NULL, vrace_writer, &v);
	pthread_create(&r, NULL, vrace_reader, &v);
	for (int i = 0; i < 30; i++) {
		cr_assert_eq(obs_db_compact(db), 0);
		usleep(5000);
	}
	atomic_store(&v.stop, 1);
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	struct obs_samples s;
	obs_samples_init(&s);
	cr_assert_eq(obs_db_read(db, v.id, INT64_MIN, INT64_MAX, &s), 0);
	cr_assert_eq(s.n, atomic_load(&v.stored));
	obs_samples_release(&s);
	obs_db_close(db);
}
