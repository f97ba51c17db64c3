/* test_logs_skip.c — what lets a sparse log search skip and yield: a
 * segment's identifier filters (field=ID decompresses only the frames that
 * may hold ID, and finds exactly what a full scan finds, for logfmt and
 * JSON lines, when the field has too many values for the field index; a
 * damaged filter is named), a resumable segment search that stops at frame
 * boundaries (yield), and a cursor that lets the stream's lock go between
 * frames, so an append made while a long search runs returns before it
 * ends. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "core/bytes.h"
#include "core/crc32c.h"
#include "logs/logquery.h"
#include "logs/logseg.h"
#include "logs/logseg_int.h"
#include "logs_fixture.h"

#define NL 70000
static char *lines[NL];
static uint32_t lens[NL];
static int64_t tss[NL];

/* line i: trace i / 4 (17500 distinct ids), logfmt or JSON by parity */
static void id_of(int t, char *out)
{
	snprintf(out, 33, "%08x%08x%08x%08x", 0x4bf92f35u, (unsigned)t * 2654435761u, (unsigned)t, 0xe4736u + t);
}

static void setup(void)
{
	for (int i = 0; i < NL; i++) {
		char id[33], b[200];
		id_of(i / 4, id);
		int n = i % 2 ? snprintf(b, sizeof b, "level=info msg=\"step %d\" trace_id=%s span_id=%016x", i, id, i)
			      : snprintf(b, sizeof b, "{\"level\":\"info\",\"trace_id\":\"%s\",\"n\":%d}", id, i);
		lines[i] = strndup(b, (size_t)n);
		lens[i] = (uint32_t)n;
		tss[i] = T0 + i;
	}
	mkdir_tmp();
	obs_corrupt_clear();
}

static void teardown(void)
{
	for (int i = 0; i < NL; i++)
		free(lines[i]);
	rm_tmp();
}

/* a segment of the lines in frames of frame_bytes; max_values 16:
 * trace_id is not in the field index */
static struct obs_logseg *encode(struct obs_buf *b, size_t frame_bytes)
{
	struct obs_logseg_input in = { NL, tss, (const char *const *)lines, lens, 0 };
	struct obs_logseg_opts o = { frame_bytes, 1, 16, 0 };
	obs_buf_init(b);
	cr_assert_eq(obs_logseg_encode(&in, &o, b), 0);
	struct obs_logseg *s;
	cr_assert_eq(obs_logseg_load(b->data, b->len, 0, &s), 0, "%s", obs_corrupt_last());
	return s;
}

static uint64_t search(struct obs_logseg *s, const char *qs, uint64_t *frames)
{
	struct obs_logquery *q;
	cr_assert_eq(obs_logquery_parse(qs, strlen(qs), &q, NULL, 0), 0, "%s", qs);
	struct obs_logseg_stats st = { 0, 0 };
	struct obs_logcounter c = { NULL, NULL, NULL, 0 };
	cr_assert_eq(obs_logseg_search(s, OBS_TIME_MIN, OBS_TIME_MAX, q, obs_logcount_rec, &c, &st), 0);
	uint64_t want = 0;
	for (int i = 0; i < NL; i++)
		want += (uint64_t)obs_logquery_match(q, lines[i], lens[i]);
	cr_assert_eq(c.n, want, "%s: %llu records, a full scan finds %llu", qs, (unsigned long long)c.n,
		     (unsigned long long)want);
	obs_logquery_free(q);
	*frames = st.frames_read;
	return c.n;
}

Test(logseg_ids, field_eq_an_id_reads_only_its_frames, .init = setup, .fini = teardown)
{
	struct obs_buf b;
	/* frames of 256 KiB hold ~900 trace ids: nearly every hex trigram, so
	 * the trigram index cannot tell their frames apart, the filter can */
	struct obs_logseg *s = encode(&b, 256 << 10);
	struct obs_logseg_info in;
	obs_logseg_get_info(s, &in);
	cr_assert_geq(in.nframes, 20, "%u frames", in.nframes);
	for (int f = 0; f < s->nfields; f++)
		if (s->fields[f].nlen == 8 && !memcmp(s->fields[f].name, "trace_id", 8))
			cr_assert_eq(s->fields[f].indexed, 0, "trace_id is in the field index: the test tests nothing");
	char id[33], q[80];
	uint64_t frames;
	int probes[] = { 0, 1, 7000, NL / 4 - 1 };
	for (size_t k = 0; k < sizeof probes / sizeof *probes; k++) {
		id_of(probes[k], id);
		snprintf(q, sizeof q, "trace_id=%s", id);
		cr_assert_eq(search(s, q, &frames), 4, "%s", q);
		cr_assert_leq(frames, 3, "%s decompressed %llu of %u frames", q, (unsigned long long)frames, in.nframes);
		/* the same id under another field name is another key */
		snprintf(q, sizeof q, "span_id=%s", id);
		cr_assert_eq(search(s, q, &frames), 0);
		cr_assert_leq(frames, 3, "%s decompressed %llu frames", q, (unsigned long long)frames);
	}
	/* an id no line has: at most a false positive or two */
	cr_assert_eq(search(s, "trace_id=ffffffff00000000ffffffff00000000", &frames), 0);
	cr_assert_leq(frames, 3);
	/* and the queries the filter does not answer still agree with a scan */
	id_of(5, id);
	snprintf(q, sizeof q, "trace_id!=%s", id);
	cr_assert_eq(search(s, q, &frames), NL - 4);
	snprintf(q, sizeof q, "trace_id=%s or n=8", id);
	cr_assert_eq(search(s, q, &frames), 5);
	snprintf(q, sizeof q, "trace_id=%.20s", id);   /* a prefix of an id is another value */
	cr_assert_eq(search(s, q, &frames), 0);
	obs_logseg_close(s);
	obs_buf_release(&b);
}

Test(logseg_ids, a_damaged_filter_is_named, .init = setup, .fini = teardown)
{
	struct obs_buf b;
	struct obs_logseg *s = encode(&b, 4096);
	size_t at = s->ids_at;
	uint32_t nb0 = s->fr[0].ids_bits;
	cr_assert_geq(nb0, 64);
	obs_logseg_close(s);
	/* frame 0's nbits made 100 (not a power of two): rewrite the blob */
	const uint8_t *p = (const uint8_t *)b.data;
	const uint8_t *ft = p + b.len - 56;
	uint64_t ioff = obs_get_le64(ft), icl = obs_get_le64(ft + 8), iraw = obs_get_le64(ft + 16);
	char *blob = malloc(iraw);
	cr_assert_eq(ZSTD_decompress(blob, iraw, p + ioff, icl), iraw);
	obs_put_le32((uint8_t *)blob + at, 100);
	struct obs_buf bad;
	obs_buf_init(&bad);
	cr_assert_eq(obs_buf_append(&bad, b.data, ioff), 0);
	size_t bound = ZSTD_compressBound(iraw);
	cr_assert_eq(obs_buf_reserve(&bad, bound + 56), 0);
	size_t cl = ZSTD_compress(bad.data + bad.len, bound, blob, iraw, 9);
	cr_assert(!ZSTD_isError(cl));
	uint8_t f[56];
	memcpy(f, ft, 56);
	obs_put_le64(f + 8, cl);
	obs_put_le32(f + 40, obs_crc32c(0, bad.data + bad.len, cl));
	bad.len += cl;
	uint32_t nf = obs_get_le32(p + 12);
	obs_put_le32(f + 44, obs_crc32c(obs_crc32c(obs_crc32c(0, bad.data, 32), bad.data + ioff - 16ULL * nf, 16ULL * nf), f, 44));
	cr_assert_eq(obs_buf_append(&bad, f, 56), 0);
	struct obs_logseg *x;
	cr_assert_eq(obs_logseg_load(bad.data, bad.len, 0, &x), -EBADMSG);
	char want[200];
	snprintf(want, sizeof want,
		 "corrupt '(in memory)' at offset %llu: index byte %zu: identifier filter size not 0 nor a power of two >= 64",
		 (unsigned long long)ioff, at + 4);
	cr_assert_str_eq(obs_corrupt_last(), want);
	free(blob);
	obs_buf_release(&bad);
	obs_buf_release(&b);
}

static int count_rec(void *ctx, int64_t ts, const char *l, size_t n)
{
	(*(uint64_t *)ctx)++;
	return 0;
}

Test(logseg_yield, a_call_decompresses_one_frame, .init = setup, .fini = teardown)
{
	struct obs_buf b;
	struct obs_logseg *s = encode(&b, 4096);
	struct obs_logseg_cursor c;
	obs_logseg_cursor_init(&c);
	c.yield = 1;
	uint64_t line = 0, n = 0, calls = 0;
	struct obs_logseg_stats st = { 0, 0 };
	int r;
	do {
		uint64_t f0 = st.frames_read;
		r = obs_logseg_search_from(s, OBS_TIME_MIN, OBS_TIME_MAX, NULL, &c, &line, NL, count_rec, &n, &st);
		cr_assert_eq(r, 0);
		cr_assert_leq(st.frames_read - f0, 1, "call %llu decompressed %llu frames", (unsigned long long)calls,
			      (unsigned long long)(st.frames_read - f0));
		calls++;
	} while (line < NL);
	cr_assert_eq(n, NL);
	cr_assert_eq(calls, s->nframes, "%llu calls for %u frames", (unsigned long long)calls, s->nframes);
	obs_logseg_cursor_release(&c);
	obs_logseg_close(s);
	obs_buf_release(&b);
}

/* ---- the cursor lets the lock go between frames ------------------------ */

struct race {
	struct obs_logstore *ls;
	uint64_t seen;        /* records the search gave (atomic) */
	uint64_t seen_at;     /* seen when the append returned (atomic, 0: not yet) */
	int go;               /* the append may start (atomic) */
};

static void *appender(void *arg)
{
	struct race *x = arg;
	while (!__atomic_load_n(&x->go, __ATOMIC_ACQUIRE)) {
		struct timespec t = { 0, 1000000 };
		nanosleep(&t, NULL);
	}
	cr_assert_eq(obs_logstore_append(x->ls, "s", "late line", 9, T0, NULL, NULL), 0);
	__atomic_store_n(&x->seen_at, __atomic_load_n(&x->seen, __ATOMIC_ACQUIRE) + 1, __ATOMIC_RELEASE);
	return NULL;
}

/* every record: counted; the first starts the appender; every 50th (a
 * frame holds 60-odd) waits a little until the append is done, so that
 * the appender is waiting for the lock when a frame ends */
static int slow_rec(void *ctx, int64_t ts, const char *l, size_t n)
{
	struct race *x = ctx;
	uint64_t k = __atomic_add_fetch(&x->seen, 1, __ATOMIC_ACQ_REL);
	if (k == 1)
		__atomic_store_n(&x->go, 1, __ATOMIC_RELEASE);
	if (k % 50 == 0 && k < 5000 && !__atomic_load_n(&x->seen_at, __ATOMIC_ACQUIRE)) {
		struct timespec t = { 0, 20000000 };
		nanosleep(&t, NULL);
	}
	return 0;
}

Test(logcursor_yield, an_append_returns_while_a_long_search_runs, .init = setup, .fini = teardown)
{
	struct obs_logstore_opts o = lf_opts(4096, 1);
	struct obs_logstore *ls = lf_open(&o);
	for (int i = 0; i < NL; i++)
		cr_assert_eq(obs_logstore_append(ls, "s", lines[i], lens[i], tss[i], NULL, NULL), 0);
	cr_assert_eq(obs_logstore_flush(ls), 0);   /* one segment of ~1200 frames */
	struct race x = { ls, 0, 0, 0 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, appender, &x), 0);
	/* one step: the whole search, as obs_logstore_read does */
	cr_assert_eq(obs_logstore_read(ls, "s", OBS_TIME_MIN, OBS_TIME_MAX, NULL, slow_rec, &x), 0);
	pthread_join(t, NULL);
	cr_assert_eq(x.seen, NL, "the search covers what was there at its start");
	uint64_t at = x.seen_at - 1;
	cr_assert_lt(at, NL / 2, "the append returned after %llu of %d records: the search held the lock",
		     (unsigned long long)at, NL);
	obs_logstore_close(ls);
}
