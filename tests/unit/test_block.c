/* test_block.c — immutable blocks: bit-exact round trips, ranges, select
 * against the in-memory index, crash safety (abort at each commit step),
 * corruption (truncate / flip every file), and the size on a small sample of
 * real data shipped in tests/data. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/corrupt.h"
#include "core/labels.h"
#include "core/strmap.h"
#include "index/postings.h"
#include "tsdb/block.h"
#include "tsdb/block_int.h"

extern int obs_block_crash_step;   /* block.c test hook */

static char tmpdir[256];
static char blocks[300];

static void mk_tmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_block.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(blocks, sizeof(blocks), "%s/blocks", tmpdir);
}

static void rm_tmp(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		cr_log_warn("cannot remove %s", tmpdir);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	return u;
}

static double of_bits(uint64_t u)
{
	double v;
	memcpy(&v, &u, 8);
	return v;
}

/* A generated series. */
struct gen {
	char canon[200];
	uint32_t id;
	int64_t *t;
	double *v;
	size_t n;
};

static void gen_free(struct gen *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(g[i].t);
		free(g[i].v);
	}
	free(g);
}

/* kind 0: counters, 1: decimals, 2: raw random bits, 3: constant, 4: specials */
static void gen_fill(struct gen *g, size_t n, int kind, int64_t t0, int64_t step)
{
	g->t = malloc(n * sizeof(int64_t));
	g->v = malloc(n * sizeof(double));
	g->n = n;
	double acc = 0;
	static const uint64_t specials[] = {
		0x7ff8000000000000ull, 0x7ff0000000000001ull, 0xfff8dead0000beefull, 0x8000000000000000ull,
		0x7ff0000000000000ull, 0xfff0000000000000ull, 0x0000000000000001ull, 0,
	};
	for (size_t i = 0; i < n; i++) {
		g->t[i] = t0 + (int64_t)i * step + (kind == 2 ? (int64_t)(rnd() % 3) : 0);
		switch (kind) {
		case 0: acc += (double)(rnd() % 100); g->v[i] = acc; break;
		case 1: g->v[i] = (double)(int64_t)(rnd() % 100000) / 100.0; break;
		case 2: g->v[i] = of_bits(rnd()); break;
		case 3: g->v[i] = 42.5; break;
		default: g->v[i] = of_bits(specials[rnd() % 8]); break;
		}
	}
}

static void check_samples(const struct obs_samples *s, const struct gen *g, int64_t from, int64_t to)
{
	size_t k = 0;
	for (size_t i = 0; i < g->n; i++) {
		if (g->t[i] < from || g->t[i] > to)
			continue;
		cr_assert_lt(k, s->n, "%s: too few samples", g->canon);
		cr_assert_eq(s->t[k], g->t[i], "%s: t[%zu]", g->canon, k);
		cr_assert_eq(bits(s->v[k]), bits(g->v[i]), "%s: value bits at %zu", g->canon, k);
		k++;
	}
	cr_assert_eq(k, s->n, "%s: %zu samples read, %zu expected", g->canon, s->n, k);
}

static void write_block(struct gen *g, size_t n, int level, char *id)
{
	struct obs_block_writer *w;
	cr_assert_eq(obs_block_writer_new(blocks, level, &w), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(obs_block_writer_add(w, g[i].id, g[i].canon, strlen(g[i].canon), g[i].t, g[i].v, g[i].n), 0,
			     "add %s", g[i].canon);
	cr_assert_eq(obs_block_writer_commit(w, id), 0);
}

static struct obs_block *open_id(const char *id)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/%s", blocks, id);
	struct obs_block *b = NULL;
	int rc = obs_block_open(p, &b);
	cr_assert_eq(rc, 0, "open %s: %d", p, rc);
	return b;
}

TestSuite(block, .init = mk_tmp, .fini = rm_tmp);

Test(block, round_trip_bit_exact)
{
	size_t n = 5;
	struct gen *g = calloc(n, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		snprintf(g[i].canon, sizeof(g[i].canon), "m%zu{job=\"j\",kind=\"%zu\"}", i, i);
		g[i].id = (uint32_t)(100 - i * 7);
		gen_fill(&g[i], 500 + i * 300, (int)i, 1700000000000 + (int64_t)i * 11, 1000);
	}
	char id[64];
	write_block(g, n, 2, id);
	cr_assert_eq(strlen(id), 26);
	struct obs_block *b = open_id(id);
	cr_assert_str_eq(obs_block_id(b), id);
	{
		char p[400];
		struct obs_block *b2;
		snprintf(p, sizeof(p), "%s/%s/", blocks, id);
		cr_assert_eq(obs_block_open(p, &b2), 0);
		cr_assert_str_eq(obs_block_id(b2), id);
		obs_block_close(b2);
		snprintf(p, sizeof(p), "%s/nosuch", blocks);
		cr_assert_eq(obs_block_open(p, &b2), -ENOENT);
	}
	struct obs_block_meta m;
	obs_block_get_meta(b, &m);
	cr_assert_eq(m.series, n);
	cr_assert_eq(m.level, 2);
	uint64_t total = 0;
	int64_t mint = INT64_MAX, maxt = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		total += g[i].n;
		if (g[i].t[0] < mint)
			mint = g[i].t[0];
		if (g[i].t[g[i].n - 1] > maxt)
			maxt = g[i].t[g[i].n - 1];
	}
	cr_assert_eq(m.samples, total);
	cr_assert_eq(m.mint, mint);
	cr_assert_eq(m.maxt, maxt);
	cr_assert_gt(m.bytes, 0);
	cr_assert_eq(obs_block_series_count(b), n);
	uint32_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t li, sid;
		const char *c;
		size_t cl;
		cr_assert_eq(obs_block_find(b, g[i].id, &li), 0);
		cr_assert_eq(obs_block_series(b, li, &sid, &c, &cl), 0);
		cr_assert_eq(sid, g[i].id);
		cr_assert_eq(cl, strlen(g[i].canon));
		cr_assert_str_eq(c, g[i].canon);
		struct obs_samples s;
		obs_samples_init(&s);
		cr_assert_eq(obs_block_read(b, li, INT64_MIN, INT64_MAX, &s), 0);
		check_samples(&s, &g[i], INT64_MIN, INT64_MAX);
		obs_samples_release(&s);
	}
	for (uint32_t i = 0; i < n; i++) {   /* local order is by global id */
		uint32_t sid;
		obs_block_series(b, i, &sid, NULL, NULL);
		cr_assert(i == 0 || sid > prev);
		prev = sid;
	}
	uint32_t li;
	cr_assert_eq(obs_block_find(b, 99, &li), -ENOENT);
	cr_assert_eq(obs_block_series(b, (uint32_t)n, NULL, NULL, NULL), -ENOENT);
	obs_block_close(b);
	gen_free(g, n);
}

Test(block, ranges_across_chunks)
{
	struct gen *g = calloc(2, sizeof(*g));
	snprintf(g[0].canon, sizeof(g[0].canon), "long{a=\"1\"}");
	g[0].id = 1;
	gen_fill(&g[0], 30000, 1, 1000, 10);   /* several chunks */
	snprintf(g[1].canon, sizeof(g[1].canon), "long{a=\"2\"}");
	g[1].id = 2;
	gen_fill(&g[1], 20000, 2, 5000, 7);
	char id[64];
	write_block(g, 2, 1, id);
	struct obs_block *b = open_id(id);
	struct obs_block_meta m;
	obs_block_get_meta(b, &m);
	cr_assert_geq(m.chunks, 4, "a long series is split into chunks");
	for (int round = 0; round < 300; round++) {
		struct gen *s = &g[round & 1];
		int64_t a = s->t[0] - 50 + (int64_t)(rnd() % (uint64_t)(s->t[s->n - 1] - s->t[0] + 100));
		int64_t z = a + (int64_t)(rnd() % (round < 100 ? 200 : 200000));
		if (round == 7) {   /* exactly on sample timestamps */
			a = s->t[8191];
			z = s->t[8192];
		}
		uint32_t li;
		cr_assert_eq(obs_block_find(b, s->id, &li), 0);
		struct obs_samples out;
		obs_samples_init(&out);
		obs_samples_push(&out, -1, 1.0);   /* read appends */
		cr_assert_eq(obs_block_read(b, li, a, z, &out), 0);
		cr_assert_eq(out.t[0], -1);
		struct obs_samples tail = { out.t + 1, out.v + 1, out.n - 1, 0 };
		check_samples(&tail, s, a, z);
		obs_samples_release(&out);
	}
	struct obs_samples out;
	obs_samples_init(&out);
	cr_assert_eq(obs_block_read(b, 0, 10, 5, &out), 0);
	cr_assert_eq(out.n, 0);
	cr_assert_eq(obs_block_read(b, 0, INT64_MIN, 0, &out), 0);
	cr_assert_eq(out.n, 0);
	cr_assert_eq(obs_block_read(b, 5, INT64_MIN, INT64_MAX, &out), -ENOENT);
	obs_samples_release(&out);
	obs_block_close(b);
	gen_free(g, 2);
}

Test(block, writer_rejects_bad_input)
{
	struct obs_block_writer *w;
	cr_assert_eq(obs_block_writer_new(blocks, 1, &w), 0);
	int64_t t[3] = { 1, 2, 2 };
	double v[3] = { 1, 2, 3 };
	cr_assert_eq(obs_block_writer_add(w, 1, "a", 1, t, v, 3), -EINVAL, "duplicate timestamp");
	cr_assert_eq(obs_block_writer_add(w, 1, "a", 1, t, v, 0), -EINVAL, "no samples");
	cr_assert_eq(obs_block_writer_add(w, 1, "a{", 2, t, v, 2), -EINVAL, "bad series");
	cr_assert_eq(obs_block_writer_add(w, 1, "a", 1, t, v, 2), 0);
	cr_assert_eq(obs_block_writer_add(w, 1, "b", 1, t, v, 2), -EEXIST);
	obs_block_writer_abort(w);
	cr_assert_eq(obs_block_writer_new(blocks, 1, &w), 0);
	char id[64];
	cr_assert_eq(obs_block_writer_commit(w, id), -ENODATA);
	DIR *d = opendir(blocks);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)))
		cr_assert(e->d_name[0] == '.', "nothing visible after failures: %s", e->d_name);
	closedir(d);
	obs_block_writer_abort(NULL);
	obs_block_close(NULL);
}

/* ---- select against obs_index ------------------------------------------ */

static int same_bitmap(const roaring_bitmap_t *a, const roaring_bitmap_t *b)
{
	return a && b && roaring_bitmap_equals(a, b);
}

Test(block, select_matches_memory_index)
{
	size_t n = 2000;
	struct gen *g = calloc(n, sizeof(*g));
	struct obs_index *ix = obs_index_new();
	static const char *jobs[] = { "api", "db", "web", "cache" };
	for (size_t i = 0; i < n; i++) {
		int has_zone = (i % 3) != 0;
		snprintf(g[i].canon, sizeof(g[i].canon), "metric_%zu{instance=\"h%zu:9100\",job=\"%s\"%s%s%s}",
			 i % 17, i % 50, jobs[i % 4], has_zone ? ",zone=\"z" : "",
			 has_zone ? (i % 2 ? "a" : "b") : "", has_zone ? "\"" : "");
		g[i].id = (uint32_t)(i * 3 + 5);
		gen_fill(&g[i], 3 + i % 5, 3, 1000, 1000);
		struct obs_labels l;
		cr_assert_eq(obs_labels_parse(g[i].canon, strlen(g[i].canon), &l, NULL), 0);
		cr_assert_eq(obs_index_add(ix, g[i].id, &l), 0);
		obs_labels_release(&l);
	}
	char id[64];
	write_block(g, n, 1, id);
	struct obs_block *b = open_id(id);
	static const char *sets[][3] = {
		{ "__name__=metric_3", NULL, NULL },
		{ "job=api", "zone=zb", NULL },
		{ "job!=api", NULL, NULL },
		{ "job=~\"(db|web)\"", "instance=~\"h1.*\"", NULL },
		{ "job!~\"a.*\"", "__name__=~\"metric_1.*\"", NULL },
		{ "zone=\"\"", NULL, NULL },
		{ "zone!=\"\"", NULL, NULL },
		{ "zone=~\"z?b?\"", NULL, NULL },
		{ "zone!~\"za\"", "job=cache", NULL },
		{ "nolabel=x", NULL, NULL },
		{ "nolabel!=x", "job=db", NULL },
		{ "nolabel=~\".*\"", NULL, NULL },
		{ "job=absent", NULL, NULL },
		{ NULL, NULL, NULL },
	};
	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		struct obs_matcher m[3];
		size_t nm = 0;
		for (; nm < 3 && sets[k][nm]; nm++)
			cr_assert_eq(obs_matcher_parse(sets[k][nm], strlen(sets[k][nm]), &m[nm], NULL), 0, "%s",
				     sets[k][nm]);
		roaring_bitmap_t *want = obs_index_select(ix, m, nm);
		roaring_bitmap_t *got = obs_block_select(b, m, nm);
		cr_assert(same_bitmap(want, got), "set %zu (%s): %llu vs %llu series", k, sets[k][0] ? sets[k][0] : "",
			  (unsigned long long)roaring_bitmap_get_cardinality(want),
			  got ? (unsigned long long)roaring_bitmap_get_cardinality(got) : 0ull);
		if (k < 4)
			cr_assert_gt(roaring_bitmap_get_cardinality(got), 0, "set %zu selects something", k);
		roaring_bitmap_free(want);
		roaring_bitmap_free(got);
		for (size_t j = 0; j < nm; j++)
			obs_matcher_release(&m[j]);
	}
	obs_block_close(b);
	obs_index_free(ix);
	gen_free(g, n);
}

/* ---- crash safety ------------------------------------------------------ */

static size_t count_entries(int *tmp_seen, char *visible)
{
	DIR *d = opendir(blocks);
	cr_assert_not_null(d);
	size_t n = 0;
	struct dirent *e;
	*tmp_seen = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!strncmp(e->d_name, ".tmp-", 5)) {
			*tmp_seen = 1;
			if (visible)
				snprintf(visible, 64, "%.60s", e->d_name);
			continue;
		}
		n++;
		if (visible)
			snprintf(visible, 64, "%.60s", e->d_name);
	}
	closedir(d);
	return n;
}

Test(block, crash_at_each_step)
{
	struct gen *g = calloc(3, sizeof(*g));
	for (size_t i = 0; i < 3; i++) {
		snprintf(g[i].canon, sizeof(g[i].canon), "c{i=\"%zu\"}", i);
		g[i].id = (uint32_t)i;
		gen_fill(&g[i], 100, 0, 0, 1000);
	}
	for (int step = 1; step <= 6; step++) {
		fflush(NULL);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			signal(SIGABRT, SIG_DFL);
			obs_block_crash_step = step;
			struct obs_block_writer *w;
			if (obs_block_writer_new(blocks, 1, &w))
				_exit(3);
			for (size_t i = 0; i < 3; i++)
				obs_block_writer_add(w, g[i].id, g[i].canon, strlen(g[i].canon), g[i].t, g[i].v, g[i].n);
			char id[64];
			obs_block_writer_commit(w, id);
			_exit(0);
		}
		int st;
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "step %d: writer killed", step);
		int tmp_seen;
		char name[64] = "";
		size_t vis = count_entries(&tmp_seen, name);
		if (step < 6) {
			cr_assert_eq(vis, 0, "step %d: no block visible before the rename", step);
			cr_assert(tmp_seen, "step %d: the temp dir is left", step);
			char p[400];
			snprintf(p, sizeof(p), "%s/%s", blocks, name);
			struct obs_block *b = NULL;
			cr_assert_eq(obs_block_open(p, &b), -ENOENT, "step %d: a temp dir is not a block", step);
		} else {
			cr_assert_eq(vis, 1, "step 6: renamed block is visible");
			struct obs_block *b = open_id(name);
			struct obs_samples s;
			obs_samples_init(&s);
			for (uint32_t i = 0; i < 3; i++) {
				s.n = 0;
				cr_assert_eq(obs_block_read(b, i, INT64_MIN, INT64_MAX, &s), 0);
				check_samples(&s, &g[i], INT64_MIN, INT64_MAX);
			}
			obs_samples_release(&s);
			obs_block_close(b);
		}
		cr_assert_eq(obs_block_gc_tmp(blocks), 0);
		count_entries(&tmp_seen, NULL);
		cr_assert(!tmp_seen, "step %d: gc removed the temp dir", step);
	}
	char id[64];
	write_block(g, 3, 1, id);
	int tmp_seen;
	cr_assert_eq(count_entries(&tmp_seen, NULL), 2);
	cr_assert_eq(obs_block_gc_tmp(blocks), 0);
	cr_assert_eq(count_entries(&tmp_seen, NULL), 2, "gc leaves blocks alone");
	gen_free(g, 3);
}

/* ---- corruption -------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	long l = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *p = malloc((size_t)l + 1);
	cr_assert_eq(fread(p, 1, (size_t)l, f), (size_t)l);
	fclose(f);
	*n = (size_t)l;
	return p;
}

static void spit(const char *path, const unsigned char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* Open and read everything: 0 when all data is correct, -EBADMSG when
 * corruption was reported; anything else fails the test. */
static int verify_block(const char *dir, struct gen *g, size_t n)
{
	struct obs_block *b = NULL;
	int rc = obs_block_open(dir, &b);
	if (rc) {
		cr_assert_eq(rc, -EBADMSG, "open: %d", rc);
		return rc;
	}
	int bad = 0;
	struct obs_samples s;
	obs_samples_init(&s);
	for (size_t i = 0; i < n; i++) {
		uint32_t li;
		cr_assert_eq(obs_block_find(b, g[i].id, &li), 0);
		s.n = 0;
		rc = obs_block_read(b, li, INT64_MIN, INT64_MAX, &s);
		if (rc) {
			cr_assert_eq(rc, -EBADMSG);
			cr_assert_eq(s.n, 0, "nothing appended on error");
			bad = 1;
			continue;
		}
		check_samples(&s, &g[i], INT64_MIN, INT64_MAX);
	}
	obs_samples_release(&s);
	obs_block_close(b);
	return bad ? -EBADMSG : 0;
}

Test(block, corruption_never_crashes)
{
	size_t n = 40;
	struct gen *g = calloc(n, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		snprintf(g[i].canon, sizeof(g[i].canon), "x_%zu{host=\"h%zu\"}", i % 4, i);
		g[i].id = (uint32_t)i;
		gen_fill(&g[i], 2000, (int)(i % 5), 0, 1000);
	}
	char id[64], dir[400];
	write_block(g, n, 1, id);
	snprintf(dir, sizeof(dir), "%s/%s", blocks, id);
	cr_assert_eq(verify_block(dir, g, n), 0);
	static const char *files[] = { "meta", "index", "chunks" };
	for (int f = 0; f < 3; f++) {
		char path[500];
		snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
		size_t len;
		unsigned char *orig = slurp(path, &len);
		unsigned char *copy = malloc(len);
		size_t flips = 0, detected = 0;
		size_t stride = len / 300 + 1;
		for (size_t pos = 0; pos < len; pos += stride) {
			memcpy(copy, orig, len);
			copy[pos] ^= (unsigned char)(1u << (pos % 8));
			spit(path, copy, len);
			flips++;
			if (verify_block(dir, g, n))
				detected++;
		}
		for (size_t cut = 0; cut < len; cut += len / 50 + 1) {
			spit(path, orig, cut);
			cr_assert_eq(verify_block(dir, g, n), -EBADMSG, "%s truncated to %zu", files[f], cut);
		}
		spit(path, orig, len);
		cr_assert_eq(verify_block(dir, g, n), 0);
		unlink(path);
		cr_assert_eq(verify_block(dir, g, n), -EBADMSG, "%s missing", files[f]);
		spit(path, orig, len);
		cr_log_info("%s: %zu bytes, %zu/%zu flips detected", files[f], len, detected, flips);
		cr_assert_eq(detected, flips, "%s: every bit flip is detected by a CRC", files[f]);
		free(orig);
		free(copy);
	}
	gen_free(g, n);
}

/* ---- speed and the shipped dataset ------------------------------------- */

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

Test(block, read_one_day_of_one_series)
{
	/* 24 h at 1 s of a node-exporter-like gauge beside 200 other series */
	size_t n = 201;
	struct gen *g = calloc(n, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		snprintf(g[i].canon, sizeof(g[i].canon), "node_x{cpu=\"%zu\"}", i);
		g[i].id = (uint32_t)i;
		gen_fill(&g[i], i == 100 ? 86400 : 2000, i == 100 ? 0 : 1, 1795000000000, 1000);
	}
	char id[64];
	write_block(g, n, 1, id);
	struct obs_samples s;
	obs_samples_init(&s);
	double best = 1e9, cold = 1e9;
	for (int r = 0; r < 10; r++) {   /* cold: a fresh handle, empty frame cache */
		struct obs_block *c = open_id(id);
		s.n = 0;
		double t0 = now_s();
		cr_assert_eq(obs_block_read(c, 100, INT64_MIN, INT64_MAX, &s), 0);
		double dt = now_s() - t0;
		if (dt < cold)
			cold = dt;
		obs_block_close(c);
	}
	struct obs_block *b = open_id(id);
	for (int r = 0; r < 20; r++) {
		s.n = 0;
		double t0 = now_s();
		cr_assert_eq(obs_block_read(b, 100, INT64_MIN, INT64_MAX, &s), 0);
		double dt = now_s() - t0;
		if (dt < best)
			best = dt;
	}
	cr_assert_lt(cold, 0.002, "24 h of one series in under 2 ms (%.3f ms)", cold * 1e3);
	fprintf(stderr, "block: read 24h of one series (86400 samples), cold cache: %.3f ms (%.1f M samples/s)\n",
		cold * 1e3, 86400 / cold / 1e6);
	check_samples(&s, &g[100], INT64_MIN, INT64_MAX);
	fprintf(stderr, "block: read 24h of one series (86400 samples), warm cache: %.3f ms (%.1f M samples/s)\n", best * 1e3,
		86400 / best / 1e6);
	obs_samples_release(&s);
	obs_block_close(b);
	gen_free(g, n);
}

/* ---- concurrent readers ------------------------------------------------ */

struct rctx {
	struct obs_block *b;
	struct gen *g;
	size_t n;
	int bad;
};

static void *reader(void *arg)
{
	struct rctx *c = arg;
	struct obs_samples s;
	obs_samples_init(&s);
	for (int round = 0; round < 20; round++)
		for (size_t i = 0; i < c->n; i++) {
			size_t k = (i * 7 + (size_t)round) % c->n;
			uint32_t li;
			s.n = 0;
			if (obs_block_find(c->b, c->g[k].id, &li) || obs_block_read(c->b, li, INT64_MIN, INT64_MAX, &s) ||
			    s.n != c->g[k].n) {
				c->bad++;
				continue;
			}
			for (size_t j = 0; j < s.n; j++)
				if (s.t[j] != c->g[k].t[j] || bits(s.v[j]) != bits(c->g[k].v[j]))
					c->bad++;
		}
	obs_samples_release(&s);
	return NULL;
}

Test(block, concurrent_readers)
{
	size_t n = 300;
	struct gen *g = calloc(n, sizeof(*g));
	for (size_t i = 0; i < n; i++) {
		snprintf(g[i].canon, sizeof(g[i].canon), "conc{i=\"%zu\"}", i);
		g[i].id = (uint32_t)i;
		gen_fill(&g[i], 1500, (int)(i % 5), 0, 1000);
	}
	char id[64];
	write_block(g, n, 1, id);
	struct obs_block *b = open_id(id);
	pthread_t th[8];
	struct rctx ctx[8];
	for (int t = 0; t < 8; t++) {
		ctx[t] = (struct rctx){ b, g, n, 0 };
		cr_assert_eq(pthread_create(&th[t], NULL, reader, &ctx[t]), 0);
	}
	for (int t = 0; t < 8; t++) {
		pthread_join(th[t], NULL);
		cr_assert_eq(ctx[t].bad, 0, "thread %d saw wrong data", t);
	}
	obs_block_close(b);
	gen_free(g, n);
}

struct aseries {
	uint32_t id;
	char *canon;
	struct obs_samples s;
};

/* tests/data/metrics-small.prom.zst: 27 real series (every 40th series of a
 * Prometheus + node_exporter scrape, 1 s interval), 32819 samples, shipped
 * with the suite so the test never depends on data outside the repository.
 * Found from $OBS_ROOT (tests/run.sh sets it), else next to the binary
 * (BUILD/tests/../../tests/data). */
#define SMALL_SAMPLES 32819
#define SMALL_SERIES 27

static void small_dataset_path(char *out, size_t cap)
{
	const char *root = getenv("OBS_ROOT");
	if (root && *root) {
		snprintf(out, cap, "%s/tests/data/metrics-small.prom.zst", root);
		return;
	}
	char exe[200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	cr_assert_not_null(slash);
	*slash = 0;
	snprintf(out, cap, "%s/../../tests/data/metrics-small.prom.zst", exe);
}

Test(block, dataset_small_size)
{
	char path[300];
	small_dataset_path(path, sizeof(path));
	cr_assert_eq(access(path, R_OK), 0, "test data %s: %s", path, strerror(errno));
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "zstd -dc '%s'", path);
	FILE *in = popen(cmd, "r");
	cr_assert_not_null(in);
	struct obs_strmap *map = obs_strmap_new();
	struct aseries *as = NULL;
	size_t nas = 0, cap = 0, total = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t ll;
	struct obs_buf canon;
	obs_buf_init(&canon);
	while ((ll = getline(&line, &lcap, in)) > 0) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[--ll] = 0;
		char *sp2 = strrchr(line, ' ');
		cr_assert_not_null(sp2);
		*sp2 = 0;
		char *sp1 = strrchr(line, ' ');
		cr_assert_not_null(sp1);
		*sp1 = 0;
		int64_t t = strtoll(sp2 + 1, NULL, 10);
		double v = strtod(sp1 + 1, NULL);
		uint64_t h = obs_strmap_hash(line, (size_t)(sp1 - line));
		struct aseries *a = obs_strmap_get(map, h, line, (size_t)(sp1 - line));
		size_t idx;
		if (!a) {
			struct obs_labels l;
			cr_assert_eq(obs_labels_parse(line, (size_t)(sp1 - line), &l, NULL), 0, "%s", line);
			obs_buf_reset(&canon);
			obs_labels_format(&l, &canon);
			obs_labels_release(&l);
			if (nas == cap) {
				cap = cap ? cap * 2 : 1024;
				as = realloc(as, cap * sizeof(*as));
			}
			idx = nas++;
			as[idx].id = (uint32_t)idx;
			as[idx].canon = strdup(canon.data);
			obs_samples_init(&as[idx].s);
			obs_strmap_put(map, h, line, (size_t)(sp1 - line), (void *)(uintptr_t)(idx + 1));
		} else {
			idx = (size_t)(uintptr_t)a - 1;
		}
		obs_samples_push(&as[idx].s, t, v);
		total++;
	}
	free(line);
	obs_buf_release(&canon);
	cr_assert_eq(pclose(in), 0, "zstd -dc %s failed", path);
	obs_strmap_free(map);
	cr_assert_eq(total, SMALL_SAMPLES);
	cr_assert_eq(nas, SMALL_SERIES);

	struct obs_block_writer *w;
	cr_assert_eq(obs_block_writer_new(blocks, 1, &w), 0);
	double t0 = now_s();
	for (size_t i = 0; i < nas; i++)
		cr_assert_eq(obs_block_writer_add(w, as[i].id, as[i].canon, strlen(as[i].canon), as[i].s.t, as[i].s.v,
						  as[i].s.n), 0);
	char id[64];
	cr_assert_eq(obs_block_writer_commit(w, id), 0);
	double wt = now_s() - t0;
	struct obs_block *b = open_id(id);
	struct obs_block_meta m;
	obs_block_get_meta(b, &m);
	cr_assert_eq(m.samples, total);
	double bps = (double)m.bytes / (double)total;

	/* read everything back, bit-exact; time it */
	struct obs_samples s;
	obs_samples_init(&s);
	double rt = 0, one = 1e9;
	for (size_t i = 0; i < nas; i++) {
		uint32_t li;
		cr_assert_eq(obs_block_find(b, as[i].id, &li), 0);
		s.n = 0;
		double a = now_s();
		cr_assert_eq(obs_block_read(b, li, INT64_MIN, INT64_MAX, &s), 0);
		double d = now_s() - a;
		rt += d;
		if (d < one)
			one = d;
		cr_assert_eq(s.n, as[i].s.n);
		for (size_t k = 0; k < s.n; k++)
			cr_assert(s.t[k] == as[i].s.t[k] && bits(s.v[k]) == bits(as[i].s.v[k]), "%s at %zu", as[i].canon, k);
	}
	obs_samples_release(&s);
	struct stat st;
	char fp[500];
	snprintf(fp, sizeof(fp), "%s/%s/index", blocks, id);
	cr_assert_eq(stat(fp, &st), 0);
	long long isz = (long long)st.st_size;
	snprintf(fp, sizeof(fp), "%s/%s/chunks", blocks, id);
	cr_assert_eq(stat(fp, &st), 0);
	fprintf(stderr, "block: small dataset: index %lld bytes, chunks %lld bytes, meta %lld bytes\n", isz,
		(long long)st.st_size, (long long)m.bytes - isz - (long long)st.st_size);
	fprintf(stderr, "block: small dataset: %llu bytes for %zu samples = %.4f bytes/sample "
		"(write %.2f s; read all series one by one %.1f ms = %.1f M samples/s; fastest series read %.3f ms)\n",
		(unsigned long long)m.bytes, total, bps, wt, rt * 1e3, (double)total / rt / 1e6, one * 1e3);
	cr_assert_lt(bps, 0.35, "bytes/sample %.4f", bps);
	obs_block_close(b);
	for (size_t i = 0; i < nas; i++) {
		free(as[i].canon);
		obs_samples_release(&as[i].s);
	}
	free(as);
}

/* ---- where corruption is reported ---------------------------------------- */

static void flip_byte(const char *path, size_t pos, unsigned char mask)
{
	size_t len;
	unsigned char *p = slurp(path, &len);
	cr_assert_lt(pos, len);
	p[pos] ^= mask;
	spit(path, p, len);
	free(p);
}

static void assert_detail(const char *file, const char *offset, const char *check)
{
	const char *d = obs_corrupt_last();
	cr_log_info("corruption detail: %s", d);
	cr_assert(strstr(d, file), "detail '%s' names the file %s", d, file);
	cr_assert(strstr(d, offset), "detail '%s' names the %s", d, offset);
	cr_assert(strstr(d, check), "detail '%s' names the check '%s'", d, check);
}

Test(block, corruption_message_names_file_offset_and_check)
{
	struct gen g = { .id = 7 };
	snprintf(g.canon, sizeof(g.canon), "cpu{host=\"a\"}");
	gen_fill(&g, 5000, 0, 0, 1000);
	char id[64], dir[400], path[500];
	write_block(&g, 1, 1, id);
	snprintf(dir, sizeof(dir), "%s/%s", blocks, id);

	/* a byte of the first chunk frame (it starts after the 8-byte magic):
	 * the block opens, the read that needs the frame finds its CRC wrong */
	snprintf(path, sizeof(path), "%s/chunks", dir);
	flip_byte(path, 20, 0x10);
	struct obs_block *b = open_id(id);
	struct obs_samples s;
	obs_samples_init(&s);
	obs_corrupt_clear();
	cr_assert_eq(obs_block_read(b, 0, INT64_MIN, INT64_MAX, &s), -EBADMSG);
	assert_detail(path, " at offset 8: ", "frame 0: CRC-32C");
	obs_samples_release(&s);
	obs_block_close(b);
	flip_byte(path, 20, 0x10);

	/* a byte of the index body: the whole-file CRC at its last 4 bytes */
	snprintf(path, sizeof(path), "%s/index", dir);
	size_t ilen;
	free(slurp(path, &ilen));
	flip_byte(path, 30, 0x01);
	char off[64];
	snprintf(off, sizeof(off), " at offset %zu: ", ilen - 4);
	obs_corrupt_clear();
	cr_assert_eq(obs_block_open(dir, &b), -EBADMSG);
	assert_detail(path, off, "CRC-32C");
	flip_byte(path, 30, 0x01);

	/* meta: the "level" line right after "obsblock 1\n" (11 bytes) */
	snprintf(path, sizeof(path), "%s/meta", dir);
	flip_byte(path, 11, 0x20);   /* 'l' -> 'L' */
	obs_corrupt_clear();
	cr_assert_eq(obs_block_open(dir, &b), -EBADMSG);
	assert_detail(path, " at offset 11: ", "meta line 'level'");
	flip_byte(path, 11, 0x20);

	/* a missing file */
	snprintf(path, sizeof(path), "%s/chunks", dir);
	size_t clen;
	unsigned char *c = slurp(path, &clen);
	unlink(path);
	obs_corrupt_clear();
	cr_assert_eq(obs_block_open(dir, &b), -EBADMSG);
	assert_detail(path, " at offset 0: ", "file missing");
	spit(path, c, clen);
	free(c);

	/* repaired: it opens and reads again */
	b = open_id(id);
	obs_samples_init(&s);
	cr_assert_eq(obs_block_read(b, 0, INT64_MIN, INT64_MAX, &s), 0);
	check_samples(&s, &g, INT64_MIN, INT64_MAX);
	obs_samples_release(&s);
	obs_block_close(b);
	free(g.t);
	free(g.v);
}

/* The chunk file keeps one metric's series together: name first, then the
 * pairs (obs_labels_cmp alone would put b{A="1"} before a{B="2"}). */
Test(block, series_order_name_first)
{
	struct obs_labels x, y, z, w;
	const char *why;
	cr_assert_eq(obs_labels_parse("b{A=\"1\"}", 8, &x, &why), 0);
	cr_assert_eq(obs_labels_parse("a{B=\"2\"}", 8, &y, &why), 0);
	cr_assert_eq(obs_labels_parse("a{B=\"3\"}", 8, &z, &why), 0);
	cr_assert_eq(obs_labels_parse("a", 1, &w, &why), 0);
	cr_assert_gt(obs_labels_cmp(&y, &x), 0);
	cr_assert_gt(block_series_cmp(&x, &y), 0);
	cr_assert_lt(block_series_cmp(&y, &z), 0);
	cr_assert_gt(block_series_cmp(&w, &y), 0);   /* same name: the pairs ("B" < "__name__") */
	cr_assert_eq(block_series_cmp(&y, &y), 0);
	obs_labels_release(&x);
	obs_labels_release(&y);
	obs_labels_release(&z);
	obs_labels_release(&w);
}
