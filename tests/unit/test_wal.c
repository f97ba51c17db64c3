/* test_wal.c — write-ahead log: round trips, segments, torn tails at every
 * byte, bit flips, short writes, concurrency, group commit, checkpointing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/corrupt.h"
#include "core/wal.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[64];
static char waldir[128];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(p);
}

static void setup(void)
{
	strcpy(tmpdir, "/tmp/test_wal.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(waldir, sizeof waldir, "%s/wal", tmpdir);
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void seg_path(char *buf, size_t sz, uint64_t seg)
{
	snprintf(buf, sz, "%s/%08llu.wal", waldir, (unsigned long long)seg);
}

static off_t file_size(const char *p)
{
	struct stat sb;
	if (stat(p, &sb))
		return -1;
	return sb.st_size;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* Deterministic record i: type and bytes derived from i and its length. */
static void make_payload(uint32_t i, unsigned char *p, size_t n)
{
	uint32_t x = i * 2654435761u + 1;
	for (size_t k = 0; k < n; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[k] = (unsigned char)x;
	}
}

struct rec {
	uint8_t type;
	size_t n;
	unsigned char *p;
};

struct col {
	struct rec *v;
	size_t n, cap;
	size_t stop_after;   /* return 42 after this many, if set */
};

static int collect(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	struct col *c = ctx;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		cr_assert_not_null(c->v);
	}
	struct rec *r = &c->v[c->n++];
	r->type = type;
	r->n = n;
	r->p = malloc(n ? n : 1);
	cr_assert_not_null(r->p);
	memcpy(r->p, p, n);
	if (c->stop_after && c->n == c->stop_after)
		return 42;
	return 0;
}

static void col_free(struct col *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].p);
	free(c->v);
	memset(c, 0, sizeof *c);
}

/* Append records first..first+count-1 with lengths from lens[]. */
static void append_range(struct obs_wal *w, uint32_t first, uint32_t count, const size_t *lens)
{
	unsigned char *buf = malloc(70000);
	cr_assert_not_null(buf);
	for (uint32_t i = first; i < first + count; i++) {
		size_t n = lens[i];
		make_payload(i, buf, n);
		int rc;
		if (i % 3 == 0 && n > 1)   /* exercise the two-part form too */
			rc = obs_wal_append2(w, (uint8_t)(i * 7), buf, n / 3, buf + n / 3, n - n / 3);
		else
			rc = obs_wal_append(w, (uint8_t)(i * 7), buf, n);
		cr_assert_eq(rc, 0, "append %u: %s", i, strerror(-rc));
	}
	free(buf);
}

static void check_range(const struct col *c, size_t at, uint32_t first, uint32_t count,
			const size_t *lens)
{
	unsigned char *buf = malloc(70000);
	cr_assert_not_null(buf);
	for (uint32_t i = first; i < first + count; i++) {
		const struct rec *r = &c->v[at + (i - first)];
		cr_assert_eq(r->type, (uint8_t)(i * 7), "record %u type", i);
		cr_assert_eq(r->n, lens[i], "record %u length", i);
		make_payload(i, buf, lens[i]);
		cr_assert(!memcmp(r->p, buf, lens[i]), "record %u payload", i);
	}
	free(buf);
}

static size_t *random_lens(size_t count, size_t max)
{
	size_t *l = malloc(count * sizeof *l);
	cr_assert_not_null(l);
	for (size_t i = 0; i < count; i++)
		l[i] = (i % 17 == 0) ? 0 : rnd() % (max + 1);
	return l;
}

static void read_file(const char *p, unsigned char **data, size_t *n)
{
	FILE *f = fopen(p, "rb");
	cr_assert_not_null(f, "open %s", p);
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	*data = malloc(sz ? (size_t)sz : 1);
	cr_assert_eq(fread(*data, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
}

static void write_file(const char *p, const unsigned char *data, size_t n)
{
	FILE *f = fopen(p, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

static void flip_bit(const char *p, off_t off, int bit)
{
	int fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	unsigned char b;
	cr_assert_eq(pread(fd, &b, 1, off), 1);
	b ^= (unsigned char)(1u << bit);
	cr_assert_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

TestSuite(wal, .init = setup, .fini = teardown, .timeout = 120);

/* ---- tests -------------------------------------------------------------- */

Test(wal, round_trip_random_sizes_and_types)
{
	const uint32_t N = 3000;
	size_t *lens = random_lens(N, 5000);
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, N, lens);
	struct obs_wal_stats ws;
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.records, N);
	cr_assert_eq(ws.segments, 1);
	cr_assert_eq(ws.first_seg, 1);
	cr_assert_eq(ws.last_seg, 1);
	obs_wal_close(w);

	char p[256];
	seg_path(p, sizeof p, 1);
	cr_assert_eq((uint64_t)file_size(p), ws.bytes, "stats.bytes is the file size");

	struct col c = { 0 };
	struct obs_wal_stats st;
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
	cr_assert_eq(c.n, N);
	check_range(&c, 0, 0, N, lens);
	cr_assert_eq(st.records, N);
	cr_assert_eq(st.segments, 1);
	cr_assert_eq(st.torn_bytes, 0);
	cr_assert_eq(st.bytes, ws.bytes);
	col_free(&c);
	free(lens);
}

Test(wal, multiple_segments_and_reopen)
{
	const uint32_t N = 600;
	size_t *lens = random_lens(N, 1000);
	struct obs_wal_opts o = { .segment_bytes = 4096 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, &o, &w), 0);
	append_range(w, 0, 400, lens);
	struct obs_wal_stats ws;
	obs_wal_get_stats(w, &ws);
	cr_assert_gt(ws.segments, 20, "segments %llu", (unsigned long long)ws.segments);
	cr_assert_eq(ws.last_seg - ws.first_seg + 1, ws.segments);
	obs_wal_close(w);

	/* every segment respects the size limit (no record here is bigger) */
	for (uint64_t s = ws.first_seg; s <= ws.last_seg; s++) {
		char p[256];
		seg_path(p, sizeof p, s);
		off_t sz = file_size(p);
		cr_assert_gt(sz, 16, "segment %llu exists", (unsigned long long)s);
		cr_assert_leq(sz, 4096);
	}

	/* reopen appends into a new segment after the existing ones */
	cr_assert_eq(obs_wal_open(waldir, &o, &w), 0);
	struct obs_wal_stats ws2;
	obs_wal_get_stats(w, &ws2);
	cr_assert_eq(ws2.last_seg, ws.last_seg + 1);
	cr_assert_eq(ws2.first_seg, 1);
	cr_assert_eq(ws2.segments, ws.segments + 1);
	append_range(w, 400, N - 400, lens);
	obs_wal_close(w);

	struct col c = { 0 };
	struct obs_wal_stats st;
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
	cr_assert_eq(c.n, N);
	check_range(&c, 0, 0, N, lens);
	cr_assert_geq(st.segments, ws2.segments);
	col_free(&c);
	free(lens);
}

Test(wal, record_bigger_than_segment_gets_its_own)
{
	struct obs_wal_opts o = { .segment_bytes = 1024 };
	size_t lens[4] = { 10, 5000, 10, 10 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, &o, &w), 0);
	append_range(w, 0, 4, lens);
	obs_wal_close(w);
	char p[256];
	seg_path(p, sizeof p, 1);
	cr_assert_eq(file_size(p), 16 + 9 + 10);
	seg_path(p, sizeof p, 2);
	cr_assert_eq(file_size(p), 16 + 9 + 5000);
	seg_path(p, sizeof p, 3);
	cr_assert_eq(file_size(p), 16 + 2 * (9 + 10));
	struct col c = { 0 };
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, NULL), 0);
	cr_assert_eq(c.n, 4);
	check_range(&c, 0, 0, 4, lens);
	col_free(&c);
}

/* Truncate the last record at every byte offset. */
Test(wal, torn_tail_at_every_offset)
{
	size_t lens[8] = { 100, 0, 33, 250, 7, 64, 1, 80 };
	const uint32_t N = 6;
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, N - 1, lens);
	char p[256];
	seg_path(p, sizeof p, 1);
	off_t start = file_size(p);
	append_range(w, N - 1, 1, lens);
	obs_wal_close(w);
	off_t end = file_size(p);
	cr_assert_eq(end - start, 9 + (off_t)lens[N - 1]);

	unsigned char *pristine;
	size_t plen;
	read_file(p, &pristine, &plen);
	for (off_t L = start; L <= end; L++) {
		nftw(waldir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		cr_assert_eq(mkdir(waldir, 0755), 0);
		write_file(p, pristine, (size_t)L);

		struct col c = { 0 };
		struct obs_wal_stats st;
		cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0, "L=%lld", (long long)L);
		uint32_t want = L == end ? N : N - 1;
		cr_assert_eq(c.n, want, "L=%lld: %zu records", (long long)L, c.n);
		check_range(&c, 0, 0, want, lens);
		cr_assert_eq(st.torn_bytes, L == end ? 0 : (uint64_t)(L - start));
		cr_assert_eq(file_size(p), L == end ? end : start, "tail cut at record start");
		col_free(&c);

		/* a second replay sees a clean log */
		cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, &st), 0);
		cr_assert_eq(st.torn_bytes, 0);
		cr_assert_eq(st.records, want);

		/* and the log goes on: open, append, replay */
		cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
		append_range(w, N, 2, lens);
		obs_wal_close(w);
		cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
		cr_assert_eq(c.n, want + 2);
		check_range(&c, 0, 0, want, lens);
		check_range(&c, want, N, 2, lens);
		cr_assert_eq(st.segments, 2);
		col_free(&c);
	}
	free(pristine);
}

/* open() alone (without replay) repairs the torn tail, so it never ends up
 * in the middle of the log. */
Test(wal, open_repairs_torn_tail)
{
	size_t lens[6] = { 10, 20, 30, 40, 50, 60 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, 4, lens);
	obs_wal_close(w);
	char p[256];
	seg_path(p, sizeof p, 1);
	off_t sz = file_size(p);
	cr_assert_eq(truncate(p, sz - 5), 0);
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	struct obs_wal_stats ws;
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.torn_bytes, 40 + 9 - 5);
	append_range(w, 4, 2, lens);
	obs_wal_close(w);
	cr_assert_eq(file_size(p), sz - 40 - 9);
	struct col c = { 0 };
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, NULL), 0);
	cr_assert_eq(c.n, 5);
	check_range(&c, 0, 0, 3, lens);
	check_range(&c, 3, 4, 2, lens);
	col_free(&c);
}

Test(wal, torn_segment_header_removes_segment)
{
	size_t lens[3] = { 10, 20, 30 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, 3, lens);
	obs_wal_close(w);
	char p[256], p2[256];
	seg_path(p, sizeof p, 1);
	seg_path(p2, sizeof p2, 2);
	unsigned char *data;
	size_t n;
	read_file(p, &data, &n);
	for (size_t L = 0; L < 16; L++) {
		write_file(p2, data, L);     /* a crash while creating segment 2 */
		struct col c = { 0 };
		struct obs_wal_stats st;
		cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0, "L=%zu", L);
		cr_assert_eq(c.n, 3);
		cr_assert_eq(st.torn_bytes, L);
		cr_assert_eq(st.segments, 1);
		cr_assert_eq(st.last_seg, 1);
		cr_assert_eq(access(p2, F_OK), -1, "torn segment removed");
		col_free(&c);
	}
	free(data);
}

Test(wal, bit_flip_in_last_segment_is_torn_tail)
{
	size_t lens[5] = { 100, 100, 100, 100, 100 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, 5, lens);
	obs_wal_close(w);
	char p[256];
	seg_path(p, sizeof p, 1);
	unsigned char *pristine;
	size_t plen;
	read_file(p, &pristine, &plen);
	off_t rec = 109;

	/* every bit of the last record: payload, crc, type, length */
	for (off_t off = 16 + 4 * rec; off < 16 + 5 * rec; off++) {
		for (int bit = 0; bit < 8; bit += 3) {
			write_file(p, pristine, plen);
			flip_bit(p, off, bit);
			struct col c = { 0 };
			struct obs_wal_stats st;
			cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
			cr_assert_eq(c.n, 4, "off %lld bit %d", (long long)off, bit);
			check_range(&c, 0, 0, 4, lens);
			cr_assert_eq(st.torn_bytes, (uint64_t)rec);
			cr_assert_eq(file_size(p), 16 + 4 * rec);
			col_free(&c);
		}
	}

	/* a flip in the middle record of the last segment cuts from there */
	write_file(p, pristine, plen);
	flip_bit(p, 16 + 2 * rec + 50, 4);
	struct col c = { 0 };
	struct obs_wal_stats st;
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
	cr_assert_eq(c.n, 2);
	cr_assert_eq(st.torn_bytes, (uint64_t)(3 * rec));
	col_free(&c);

	/* a huge length field is a torn tail, not a huge allocation or read */
	write_file(p, pristine, plen);
	int fd = open(p, O_RDWR);
	unsigned char big[4] = { 0xff, 0xff, 0xff, 0x7f };
	cr_assert_eq(pwrite(fd, big, 4, 16 + 4 * rec), 4);
	close(fd);
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
	cr_assert_eq(c.n, 4);
	col_free(&c);

	/* zeros after the last record (a file extended by a crash) */
	write_file(p, pristine, plen);
	cr_assert_eq(truncate(p, (off_t)plen + 4096), 0);
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
	cr_assert_eq(c.n, 5);
	cr_assert_eq(st.torn_bytes, 4096);
	col_free(&c);
	free(pristine);
}

Test(wal, bit_flip_in_earlier_segment_is_corruption)
{
	size_t lens[6] = { 100, 100, 100, 100, 100, 100 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, 3, lens);
	uint64_t segno;
	cr_assert_eq(obs_wal_cut(w, &segno), 0);
	cr_assert_eq(segno, 2);
	append_range(w, 3, 3, lens);
	obs_wal_close(w);

	char p[256];
	seg_path(p, sizeof p, 1);
	unsigned char *pristine;
	size_t plen;
	read_file(p, &pristine, &plen);
	off_t flips[] = { 3, 13, 16, 16 + 4, 16 + 60, 16 + 2 * 109 + 108 };
	for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
		write_file(p, pristine, plen);
		flip_bit(p, flips[i], 1);
		struct obs_wal_stats st;
		cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, &st), -EBADMSG, "flip at %lld",
			     (long long)flips[i]);
		cr_assert_eq((size_t)file_size(p), plen, "corrupt segment left alone");
	}
	/* a short earlier segment is corruption too */
	write_file(p, pristine, plen - 1);
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, NULL), -EBADMSG);
	write_file(p, pristine, plen);
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, NULL), 0);

	/* a missing middle segment is corruption */
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);   /* segment 3 */
	append_range(w, 0, 1, lens);
	obs_wal_close(w);
	seg_path(p, sizeof p, 2);
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, NULL), -EBADMSG);
	free(pristine);
}

Test(wal, unknown_version_is_not_truncated)
{
	size_t lens[1] = { 10 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, 1, lens);
	obs_wal_close(w);
	char p[256];
	seg_path(p, sizeof p, 1);
	/* version 2 with a correct header checksum */
	unsigned char h[12];
	memcpy(h, "OBSWAL1\n\x02\0\0\0", 12);
	uint32_t crc = obs_crc32c(0, h, 12);
	unsigned char hc[4] = { (unsigned char)crc, (unsigned char)(crc >> 8),
				(unsigned char)(crc >> 16), (unsigned char)(crc >> 24) };
	int fd = open(p, O_RDWR);
	cr_assert_eq(pwrite(fd, h, 12, 0), 12);
	cr_assert_eq(pwrite(fd, hc, 4, 12), 4);
	close(fd);
	off_t sz = file_size(p);
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, NULL), -ENOTSUP);
	cr_assert_eq(file_size(p), sz);
}

Test(wal, short_write_is_cut_back)
{
	size_t lens[5] = { 100, 100, 4000, 100, 100 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, 2, lens);
	char p[256];
	seg_path(p, sizeof p, 1);
	off_t before = file_size(p);

	/* RLIMIT_FSIZE makes the kernel write part of the record, then EFBIG */
	struct rlimit old, lim;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)before + 1000;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	unsigned char buf[4000];
	make_payload(2, buf, 4000);
	int rc = obs_wal_append(w, 14, buf, 4000);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(rc, -EFBIG, "rc %d", rc);
	cr_assert_eq(file_size(p), before, "partial record cut back");

	/* the WAL goes on */
	append_range(w, 3, 2, lens);
	obs_wal_close(w);
	struct col c = { 0 };
	struct obs_wal_stats st;
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
	cr_assert_eq(st.torn_bytes, 0);
	cr_assert_eq(c.n, 4);
	check_range(&c, 0, 0, 2, lens);
	check_range(&c, 2, 3, 2, lens);
	col_free(&c);
}

Test(wal, bad_arguments)
{
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	static const char x[1];
	cr_assert_eq(obs_wal_append(w, 1, x, (256u << 20) + 1), -EMSGSIZE);
	cr_assert_eq(obs_wal_append2(w, 1, x, 200u << 20, x, 57u << 20), -EMSGSIZE);
	cr_assert_eq(obs_wal_append(w, 1, NULL, 5), -EINVAL);
	cr_assert_eq(obs_wal_append(w, 1, NULL, 0), 0);
	cr_assert_eq(obs_wal_append(NULL, 1, x, 1), -EINVAL);
	struct obs_wal_stats ws;
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.records, 1);
	obs_wal_close(w);
	obs_wal_close(NULL);
	cr_assert_eq(obs_wal_open("", NULL, &w), -EINVAL);
}

struct thr_arg {
	struct obs_wal *w;
	uint32_t id, count;
};

static void *appender(void *arg)
{
	struct thr_arg *a = arg;
	unsigned char buf[600];
	for (uint32_t i = 0; i < a->count; i++) {
		size_t n = 8 + (a->id * 131 + i * 17) % 500;
		memcpy(buf, &a->id, 4);
		memcpy(buf + 4, &i, 4);
		memset(buf + 8, (int)(a->id ^ i), n - 8);
		if (obs_wal_append(a->w, (uint8_t)a->id, buf, n))
			return (void *)1;
		if (i % 500 == 0 && a->id == 0)
			obs_wal_sync(a->w);
	}
	return NULL;
}

struct order {
	uint32_t next[8];
	int bad;
};

static int check_order(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	struct order *o = ctx;
	uint32_t id, i;
	if (n < 8)
		return o->bad = 1;
	memcpy(&id, p, 4);
	memcpy(&i, p + 4, 4);
	if (id >= 8 || type != id || i != o->next[id] || n != 8 + (id * 131 + i * 17) % 500)
		return o->bad = 2;
	for (size_t k = 8; k < n; k++)
		if (p[k] != (uint8_t)(id ^ i))
			return o->bad = 3;
	o->next[id]++;
	return 0;
}

Test(wal, concurrent_appenders)
{
	const uint32_t PER = 3000;
	struct obs_wal_opts o = { .segment_bytes = 64 << 10, .sync_interval_ms = 5 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, &o, &w), 0);
	pthread_t t[8];
	struct thr_arg a[8];
	for (uint32_t i = 0; i < 8; i++) {
		a[i] = (struct thr_arg){ w, i, PER };
		cr_assert_eq(pthread_create(&t[i], NULL, appender, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(t[i], &r);
		cr_assert_null(r, "thread %d failed", i);
	}
	struct obs_wal_stats ws;
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.records, 8 * PER);
	cr_assert_gt(ws.segments, 10);
	obs_wal_close(w);

	struct order ord = { { 0 }, 0 };
	struct obs_wal_stats st;
	cr_assert_eq(obs_wal_replay(waldir, check_order, &ord, &st), 0, "order check %d", ord.bad);
	cr_assert_eq(st.records, 8 * PER);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(ord.next[i], PER);
	cr_assert_eq(st.bytes, ws.bytes);
}

Test(wal, group_commit_timer)
{
	struct obs_wal_opts o = { .sync_interval_ms = 20 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, &o, &w), 0);
	struct obs_wal_stats ws;
	sleep_ms(80);
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.syncs, 0, "no sync without appends");
	cr_assert_eq(obs_wal_append(w, 1, "abc", 3), 0);
	for (int i = 0; i < 100; i++) {
		obs_wal_get_stats(w, &ws);
		if (ws.syncs)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(ws.syncs, 1, "the timer synced once");
	sleep_ms(100);
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.syncs, 1, "nothing new, no sync");
	obs_wal_close(w);
}

Test(wal, explicit_sync)
{
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	struct obs_wal_stats ws;
	cr_assert_eq(obs_wal_sync(w), 0);
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.syncs, 0, "clean: no fsync");
	cr_assert_eq(obs_wal_append(w, 1, "abc", 3), 0);
	sleep_ms(60);
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.syncs, 0, "interval 0: no background sync");
	cr_assert_eq(obs_wal_sync(w), 0);
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.syncs, 1);
	/* cheap when nothing changed */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100000; i++)
		cr_assert_eq(obs_wal_sync(w), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.syncs, 1);
	cr_assert_lt(s, 1.0, "100k clean syncs took %.3fs", s);
	obs_wal_close(w);
}

Test(wal, cut_and_remove_before)
{
	size_t *lens = random_lens(300, 300);
	struct obs_wal_opts o = { .segment_bytes = 2048 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, &o, &w), 0);
	append_range(w, 0, 100, lens);
	uint64_t segno, again;
	cr_assert_eq(obs_wal_cut(w, &segno), 0);
	cr_assert_eq(obs_wal_cut(w, &again), 0);
	cr_assert_eq(again, segno, "cutting an empty segment is a no-op");
	cr_assert_gt(segno, 2);
	append_range(w, 100, 200, lens);
	struct obs_wal_stats ws;
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(obs_wal_remove_before(w, ws.last_seg + 1), -EINVAL);
	cr_assert_eq(obs_wal_remove_before(w, segno), 0);
	obs_wal_get_stats(w, &ws);
	cr_assert_eq(ws.first_seg, segno);
	cr_assert_eq(ws.segments, ws.last_seg - segno + 1);
	for (uint64_t s = 1; s < segno; s++) {
		char p[256];
		seg_path(p, sizeof p, s);
		cr_assert_eq(access(p, F_OK), -1, "segment %llu removed", (unsigned long long)s);
	}
	cr_assert_eq(obs_wal_remove_before(w, segno), 0, "idempotent");
	append_range(w, 0, 0, lens);
	obs_wal_close(w);

	struct col c = { 0 };
	struct obs_wal_stats st;
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
	cr_assert_eq(c.n, 200);
	check_range(&c, 0, 100, 200, lens);
	cr_assert_eq(st.first_seg, segno);
	cr_assert_eq(st.bytes, ws.bytes);
	col_free(&c);
	free(lens);
}

Test(wal, empty_and_missing_dir)
{
	struct obs_wal_stats st;
	memset(&st, 0xab, sizeof st);
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, &st), 0, "missing dir");
	cr_assert_eq(st.records, 0);
	cr_assert_eq(st.segments, 0);
	cr_assert_eq(mkdir(waldir, 0755), 0);
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, &st), 0, "empty dir");
	cr_assert_eq(st.segments, 0);
	/* files that are not segments are ignored */
	char p[256];
	snprintf(p, sizeof p, "%s/1.wal", waldir);
	write_file(p, (const unsigned char *)"junk", 4);
	snprintf(p, sizeof p, "%s/notes.txt", waldir);
	write_file(p, (const unsigned char *)"junk", 4);
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, &st), 0);
	cr_assert_eq(st.segments, 0);

	/* open creates missing parents */
	char deep[256];
	snprintf(deep, sizeof deep, "%s/a/b/wal", tmpdir);
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(deep, NULL, &w), 0);
	obs_wal_close(w);
	cr_assert_eq(obs_wal_replay(deep, NULL, NULL, &st), 0);
	cr_assert_eq(st.segments, 1);
	cr_assert_eq(st.records, 0);
	cr_assert_eq(st.bytes, 16);
}

Test(wal, callback_stops_replay)
{
	size_t lens[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, 10, lens);
	obs_wal_close(w);
	struct col c = { .stop_after = 4 };
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, NULL), 42);
	cr_assert_eq(c.n, 4);
	col_free(&c);
	char p[256];
	seg_path(p, sizeof p, 1);
	cr_assert_eq(file_size(p), 16 + 10 * 9 + 55, "nothing truncated");
}

Test(wal, open_wal_is_locked)
{
	struct obs_wal *w, *w2;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	cr_assert_eq(obs_wal_append(w, 1, "x", 1), 0);
	cr_assert_eq(obs_wal_open(waldir, NULL, &w2), -EBUSY);
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, NULL), -EBUSY);
	obs_wal_close(w);
	struct obs_wal_stats st;
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, &st), 0);
	cr_assert_eq(st.records, 1);
	cr_assert_eq(obs_wal_open(waldir, NULL, &w2), 0);
	obs_wal_close(w2);
}

/* kill -9 in the middle of appends: every record whose append returned is
 * replayed, intact and in order. */
Test(wal, survives_kill_9)
{
	volatile uint32_t *acked = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq((void *)acked, MAP_FAILED);
	*acked = 0;
	size_t *lens = random_lens(1000000, 2000);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct obs_wal_opts o = { .segment_bytes = 256 << 10, .sync_interval_ms = 3 };
		struct obs_wal *w;
		if (obs_wal_open(waldir, &o, &w))
			_exit(1);
		unsigned char buf[2048];
		for (uint32_t i = 0; i < 1000000; i++) {
			make_payload(i, buf, lens[i]);
			if (obs_wal_append(w, (uint8_t)(i * 7), buf, lens[i]))
				_exit(2);
			__atomic_store_n(acked, i + 1, __ATOMIC_SEQ_CST);
		}
		_exit(3);
	}
	while (__atomic_load_n(acked, __ATOMIC_SEQ_CST) < 3000)
		sleep_ms(1);
	kill(pid, SIGKILL);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status), "child killed, not exited (%d)", status);
	uint32_t n = __atomic_load_n(acked, __ATOMIC_SEQ_CST);

	struct col c = { 0 };
	struct obs_wal_stats st;
	cr_assert_eq(obs_wal_replay(waldir, collect, &c, &st), 0);
	cr_assert_geq(c.n, n, "replayed %zu, acked %u", c.n, n);
	cr_assert_leq(c.n, n + 1, "at most the one in flight");
	check_range(&c, 0, 0, (uint32_t)c.n, lens);
	cr_assert_gt(st.segments, 2);
	col_free(&c);
	free(lens);
}

static int reject_second(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	int *seen = ctx;
	if (++*seen == 2)
		return obs_corrupt(NULL, 5, "payload check that failed");
	return 0;
}

Test(wal, corruption_detail_names_segment_offset_and_check)
{
	size_t lens[6] = { 100, 100, 100, 100, 100, 100 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);
	append_range(w, 0, 3, lens);
	uint64_t segno;
	cr_assert_eq(obs_wal_cut(w, &segno), 0);
	append_range(w, 3, 3, lens);
	obs_wal_close(w);
	char p[256], want[64];
	seg_path(p, sizeof p, 1);
	unsigned char *pristine;
	size_t plen;
	read_file(p, &pristine, &plen);

	/* a flip in the second record of an earlier segment: the first record
	 * (16-byte segment header, 9-byte record header, 100 bytes) was good */
	flip_bit(p, 16 + 109 + 40, 2);
	obs_corrupt_clear();
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, NULL), -EBADMSG);
	const char *d = obs_corrupt_last();
	cr_assert(strstr(d, p), "%s", d);
	cr_assert(strstr(d, " at offset 125: "), "%s", d);
	cr_assert(strstr(d, "bad length or CRC-32C"), "%s", d);

	/* the segment header */
	write_file(p, pristine, plen);
	flip_bit(p, 3, 0);
	obs_corrupt_clear();
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, NULL), -EBADMSG);
	d = obs_corrupt_last();
	cr_assert(strstr(d, p) && strstr(d, " at offset 0: ") && strstr(d, "segment header"), "%s", d);
	write_file(p, pristine, plen);

	/* the payload's decoder says what and where inside the payload; the
	 * WAL adds the segment and the payload's offset (16 + 109 + 9 + 5) */
	int seen = 0;
	obs_corrupt_clear();
	cr_assert_eq(obs_wal_replay(waldir, reject_second, &seen, NULL), -EBADMSG);
	d = obs_corrupt_last();
	snprintf(want, sizeof want, " at offset %d: record type ", 16 + 109 + 9 + 5);
	cr_assert(strstr(d, p) && strstr(d, want) && strstr(d, "payload check that failed"), "%s", d);

	/* a missing middle segment */
	cr_assert_eq(obs_wal_open(waldir, NULL, &w), 0);   /* segment 3 */
	append_range(w, 0, 1, lens);
	obs_wal_close(w);
	seg_path(p, sizeof p, 2);
	cr_assert_eq(unlink(p), 0);
	seg_path(p, sizeof p, 3);
	obs_corrupt_clear();
	cr_assert_eq(obs_wal_replay(waldir, NULL, NULL, NULL), -EBADMSG);
	d = obs_corrupt_last();
	cr_assert(strstr(d, p) && strstr(d, " at offset 0: ") && strstr(d, "segment 00000002 before this one is missing"),
		  "%s", d);
	free(pristine);
}
