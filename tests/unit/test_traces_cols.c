/* test_traces_cols.c — the columnar segment encoding (tcols.c) and the
 * segment versions (tseg.c): rows come back byte for byte, damaged columns
 * are refused without a crash, a version 2 segment is small, and a
 * version 1 segment written by the previous code (tests/data/
 * traces-seg-v1.trc) still opens, reads and searches. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/varint.h"
#include "traces/span.h"
#include "traces/tcols.h"
#include "traces/traces.h"
#include "traces/tstore.h"

static char dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) { return remove(p); }
static void setup(void)
{
	strcpy(dir, "/tmp/test_tcols.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static uint64_t rnd = 88172645463325252ULL;
static uint64_t next(void)
{
	rnd ^= rnd << 13;
	rnd ^= rnd >> 7;
	rnd ^= rnd << 17;
	return rnd;
}

/* Append one record of n spans of trace t to rows: span 0 the root, the
 * others children of an earlier span, every 5th of a parent elsewhere;
 * every field and attribute type used somewhere. */
static void record(struct obs_buf *rows, unsigned t, size_t n, int64_t t0)
{
	uint8_t id[16] = { 0 };
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)next();
	id[15] = (uint8_t)t;
	obs_buf_append(rows, id, 16);
	obs_buf_varint(rows, n);
	struct obs_buf b, a, r;
	obs_buf_init(&b);
	obs_buf_init(&a);
	obs_buf_init(&r);
	obs_attr_put(&r, OBS_ATTR_STRING, "host.name", 9, "h1", 2);
	uint8_t sids[64][8];
	for (size_t k = 0; k < n; k++) {
		struct obs_span s;
		memset(&s, 0, sizeof s);
		memcpy(s.trace_id, id, 16);
		uint64_t v = next();
		memcpy(s.span_id, &v, 8);
		memcpy(sids[k % 64], s.span_id, 8);
		if (k) {
			s.flags = OBS_SPAN_HAS_PARENT;
			if (k % 5 == 0) {
				v = next();
				memcpy(s.parent_id, &v, 8);   /* not in this record */
			} else {
				memcpy(s.parent_id, sids[(next() % k) % 64], 8);
			}
		}
		if (k == 3)
			s.flags |= OBS_SPAN_HAS_TFLAGS, s.trace_flags = 1;
		s.kind = (uint8_t)(k % 6);
		s.status = (uint8_t)(k % 3);
		s.start_ns = t0 + (int64_t)(next() % 1000000000);
		s.end_ns = s.start_ns + (int64_t)(next() % 50000000);
		static const char *svc[] = { "frontend", "cart", "redis", "payment" };
		s.service = (struct obs_str){ svc[k % 4], strlen(svc[k % 4]) };
		s.name = (struct obs_str){ k % 2 ? "GET" : "charge", k % 2 ? 3 : 6 };
		if (s.status == 2)
			s.status_msg = (struct obs_str){ "card declined", 13 };
		s.scope = (struct obs_str){ "gen", 3 };
		if (k == 1)
			s.trace_state = (struct obs_str){ "a=b", 3 };
		obs_buf_reset(&a);
		char num[24];
		int nn = snprintf(num, sizeof num, "%u", (unsigned)(next() % 1000));
		obs_attr_put(&a, OBS_ATTR_STRING, "http.route", 10, "/checkout", 9);
		obs_attr_put(&a, OBS_ATTR_INT, "n", 1, num, (size_t)nn);
		obs_attr_put(&a, OBS_ATTR_BOOL, "hit", 3, "true", 4);
		obs_attr_put(&a, OBS_ATTR_DOUBLE, "x", 1, "1.5", 3);
		obs_attr_put(&a, OBS_ATTR_ARRAY, "arr", 3, "[1,2]", 5);
		s.attrs = (struct obs_str){ a.data, a.len };
		s.resource = (struct obs_str){ r.data, r.len };
		if (k == 2)
			s.events = (struct obs_str){ "[{\"name\":\"exception\"}]", 22 };
		if (k == 4)
			s.links = (struct obs_str){ "[{\"traceId\":\"00\"}]", 18 };
		obs_buf_reset(&b);
		cr_assert_eq(obs_span_encode(&s, &b), 0);
		obs_buf_varint(rows, b.len);
		obs_buf_append(rows, b.data, b.len);
	}
	obs_buf_release(&b);
	obs_buf_release(&a);
	obs_buf_release(&r);
}

static const int64_t T0 = 1800000000000000000LL;

Test(tcols, rows_come_back_byte_for_byte)
{
	struct obs_buf rows, cols, back;
	obs_buf_init(&rows);
	obs_buf_init(&cols);
	obs_buf_init(&back);
	uint32_t nrec = 0;
	size_t sizes[] = { 1, 4, 17, 40, 0, 3 };   /* 17 and 40: the sorted parent lookup */
	for (unsigned t = 0; t < 60; t++, nrec++)
		record(&rows, t, sizes[t % 6] ? sizes[t % 6] : 2, T0 + (int64_t)t * 7000000 - (t % 3) * 50000000);
	cr_assert_eq(obs_tcols_encode((const uint8_t *)rows.data, rows.len, nrec, &cols), 0);
	cr_assert_lt(cols.len, rows.len, "the columns are smaller than the rows (%zu, %zu)", cols.len, rows.len);
	cr_assert_eq(obs_tcols_decode((const uint8_t *)cols.data, cols.len, nrec, &back), 0);
	cr_assert_eq(back.len, rows.len);
	cr_assert(!memcmp(back.data, rows.data, rows.len), "the rows differ after the round trip");
	/* a damaged record count or a row that does not parse is refused */
	obs_buf_reset(&back);
	cr_assert_eq(obs_tcols_encode((const uint8_t *)rows.data, rows.len, nrec + 1, &back), -EBADMSG);
	cr_assert_eq(obs_tcols_encode((const uint8_t *)rows.data, rows.len - 1, nrec, &back), -EBADMSG);
	cr_assert_eq(back.len, 0, "nothing appended on failure");
	obs_buf_release(&rows);
	obs_buf_release(&cols);
	obs_buf_release(&back);
}

Test(tcols, damaged_columns_are_refused)
{
	struct obs_buf rows, cols, back;
	obs_buf_init(&rows);
	obs_buf_init(&cols);
	obs_buf_init(&back);
	for (unsigned t = 0; t < 4; t++)
		record(&rows, t, 6, T0 + t);
	cr_assert_eq(obs_tcols_encode((const uint8_t *)rows.data, rows.len, 4, &cols), 0);
	/* every truncation fails cleanly */
	for (size_t k = 0; k < cols.len; k++) {
		obs_buf_reset(&back);
		cr_assert_eq(obs_tcols_decode((const uint8_t *)cols.data, k, 4, &back), -EBADMSG, "truncated at %zu", k);
		cr_assert_eq(back.len, 0);
	}
	cr_assert_eq(obs_tcols_decode((const uint8_t *)cols.data, cols.len, 5, &back), -EBADMSG, "a record too many");
	cr_assert_eq(obs_tcols_decode((const uint8_t *)cols.data, cols.len, 3, &back), -EBADMSG, "columns left over");
	/* flipped bytes: refused or decoded into rows that encode again */
	for (size_t k = 0; k < cols.len; k++) {
		cols.data[k] ^= 0x5a;
		obs_buf_reset(&back);
		int rc = obs_tcols_decode((const uint8_t *)cols.data, cols.len, 4, &back);
		cr_assert(rc == 0 || rc == -EBADMSG);
		if (!rc) {
			struct obs_buf again;
			obs_buf_init(&again);
			cr_assert_eq(obs_tcols_encode((const uint8_t *)back.data, back.len, 4, &again), 0, "flip at %zu", k);
			obs_buf_release(&again);
		}
		cols.data[k] ^= 0x5a;
	}
	obs_buf_release(&rows);
	obs_buf_release(&cols);
	obs_buf_release(&back);
}

/* Kept spans of a realistic shape take fewer bytes on disk than their ids
 * and times would as plain varints: the columns and the dictionary work. */
Test(tcols, segment_bytes_per_span, .init = setup, .fini = teardown)
{
	struct obs_tstore *s;
	cr_assert_eq(obs_tstore_open(dir, NULL, &s), 0);
	struct obs_buf b;
	obs_buf_init(&b);
	size_t spans = 0;
	for (unsigned t = 0; t < 2000; t++) {
		obs_buf_reset(&b);
		record(&b, t, 4, T0 + (int64_t)t * 10000000);
		/* one record: id, count, then the (len, blob) pairs */
		const uint8_t *p = (const uint8_t *)b.data;
		size_t pos = 16;
		uint64_t cnt, len;
		cr_assert_eq(obs_varint_get(p, b.len, &pos, &cnt), 0);
		const uint8_t *bl[4];
		uint32_t ln[4];
		for (uint64_t k = 0; k < cnt; k++) {
			cr_assert_eq(obs_varint_get(p, b.len, &pos, &len), 0);
			bl[k] = p + pos;
			ln[k] = (uint32_t)len;
			pos += len;
		}
		cr_assert_eq(obs_tstore_add(s, p, bl, ln, cnt, 0), 0);
		spans += cnt;
	}
	cr_assert_eq(obs_tstore_flush(s), 0);
	struct obs_tstore_stats st;
	obs_tstore_get_stats(s, &st);
	double per = (double)st.disk_bytes / (double)spans;
	/* span id 8 + trace id 16/4 + a random start and duration: ~17 bytes of entropy */
	cr_assert_lt(per, 24.0, "%.1f bytes per span on disk", per);
	cr_assert_lt(st.disk_bytes * 4, st.raw_bytes, "at least 4x smaller than the rows");
	obs_tstore_close(s);
	obs_buf_release(&b);
}

static void data_path(char *out, size_t cap, const char *name)
{
	const char *root = getenv("OBS_ROOT");
	if (root && *root) {
		snprintf(out, cap, "%s/tests/data/%s", root, name);
		return;
	}
	char exe[200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(out, cap, "%s/../../tests/data/%s", exe, name);
}

static size_t lines_of(struct obs_traces *t, unsigned tr)
{
	uint8_t id[16] = { 0 };
	id[15] = (uint8_t)tr;
	struct obs_buf out;
	obs_buf_init(&out);
	size_t n = 0;
	if (!obs_traces_json(t, id, &out))
		for (size_t i = 0; i < out.len; i++)
			n += out.data[i] == '\n';
	obs_buf_release(&out);
	return n;
}

static size_t search_hits(struct obs_traces *t, const char *q)
{
	struct obs_buf out;
	obs_buf_init(&out);
	char err[128];
	cr_assert_eq(obs_traces_search(t, q, strlen(q), 0, INT64_MAX / 2, OBS_TIME_RFC3339, &out, err, sizeof err), 0,
		     "%s", err);
	size_t n = 0;
	for (size_t i = 0; i < out.len; i++)
		n += out.data[i] == '\n';
	obs_buf_release(&out);
	return n;
}

static int version_of(const char *name)
{
	char p[128];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "rb");
	if (!f)
		return -1;
	unsigned char h[12];
	int v = fread(h, 1, 12, f) == 12 ? h[8] : -1;
	fclose(f);
	return v;
}

/* tests/data/traces-seg-v1.trc: three traces of three spans (frontend root,
 * cart and payment children; trace 2 has an error span and code=500),
 * written by the version 1 code. */
Test(tseg, version_1_segments_still_read, .init = setup, .fini = teardown)
{
	char src[300], cmd[700];
	data_path(src, sizeof src, "traces-seg-v1.trc");
	cr_assert_eq(access(src, R_OK), 0, "test data %s: %s", src, strerror(errno));
	snprintf(cmd, sizeof cmd, "cp '%s' %s/seg-0000000000000000.trc", src, dir);
	cr_assert_eq(system(cmd), 0);
	struct obs_traces_opts o;
	obs_traces_opts_default(&o);
	struct obs_traces *t;
	char err[256] = "";
	int64_t now = T0 / 1000000;
	cr_assert_eq(obs_traces_open(dir, &o, NULL, NULL, now, &t, err, sizeof err), 0, "%s", err);
	for (unsigned tr = 1; tr <= 3; tr++)
		cr_assert_eq(lines_of(t, tr), 3, "trace %u", tr);
	cr_assert_eq(search_hits(t, "error"), 1);
	cr_assert_eq(search_hits(t, "service=payment"), 3);
	cr_assert_eq(search_hits(t, "code=500"), 1);
	/* new traces go to a version 2 segment beside it */
	const char *pol = "all always_sample\n";
	cr_assert_eq(obs_traces_set_policy(t, pol, strlen(pol), err, sizeof err), 0, "%s", err);
	char line[400];
	int n = snprintf(line, sizeof line,
			 "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"parent_span_id\":\"\",\"service\":\"cart\","
			 "\"operation\":\"op\",\"start_time\":%lld,\"duration_ms\":3,\"status\":\"error\",\"tags\":{}}\n",
			 9, 1, (long long)now);
	struct obs_traces_result r;
	cr_assert_eq(obs_traces_ingest(t, line, (size_t)n, 1, "test", 1, now, &r), 0);
	cr_assert_eq(obs_traces_flush_all(t, now), 0);
	cr_assert_eq(obs_traces_checkpoint(t, now), 0);
	obs_traces_close(t);
	cr_assert_eq(version_of("seg-0000000000000000.trc"), 1, "the old segment is left as it was");
	cr_assert_eq(version_of("seg-0000000000000001.trc"), 2);
	cr_assert_eq(obs_traces_open(dir, &o, NULL, NULL, now, &t, err, sizeof err), 0, "%s", err);
	for (unsigned tr = 1; tr <= 3; tr++)
		cr_assert_eq(lines_of(t, tr), 3, "trace %u after the reopen", tr);
	cr_assert_eq(lines_of(t, 9), 1);
	cr_assert_eq(search_hits(t, "error"), 2);
	cr_assert_eq(search_hits(t, "service=cart"), 4);
	obs_traces_close(t);
}
