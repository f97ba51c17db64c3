/* test_traces_store.c — kept-trace segments and their index (round trip
 * through a reopen, search by every term, retention, damaged segments), the
 * journaled trace store (kill -9 loses nothing acknowledged, decisions and
 * late spans survive a restart, unfinished documents carried), RED metrics
 * and the waterfall text. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fault.h"
#include "traces/otlp.h"
#include "traces/red.h"
#include "traces/traces.h"
#include "traces/tstore.h"
#include "traces/waterfall.h"
#include "traces_fixture.h"

Test(traces, kept_and_dropped_whole, .init = setup, .fini = teardown)
{
	struct obs_traces *t = topen(T0, "errs status_code status_codes=ERROR\n");
	struct obs_buf b;
	obs_buf_init(&b);
	line(&b, 1, 1, 0, "checkout", "POST /buy", T0, 100, "ok", NULL);
	line(&b, 1, 2, 1, "payment", "charge", T0 + 10, 50, "error", "\"card\":\"visa\"");
	line(&b, 2, 1, 0, "checkout", "GET /", T0, 5, "ok", NULL);
	line(&b, 2, 2, 1, "cart", "load", T0 + 1, 2, "ok", NULL);
	ingest(t, &b, T0);
	cr_assert_eq(obs_traces_tick(t, T0 + 1), 0);
	size_t n;
	cr_assert(has(t, 1, &n), "the error trace is kept");
	cr_assert_eq(n, 2, "with both spans");
	cr_assert_not(has(t, 2, NULL), "the other is dropped");
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.kept_traces, 1);
	cr_assert_eq(st.dropped_by_policy, 1);
	obs_buf_release(&b);
	obs_traces_close(t);
}

Test(traces, search_by_every_term, .init = setup, .fini = teardown)
{
	struct obs_traces *t = topen(T0, "all always_sample\n");
	struct obs_buf b, out;
	obs_buf_init(&b);
	obs_buf_init(&out);
	line(&b, 1, 1, 0, "checkout", "POST /buy", T0, 700, "ok", "\"http.status_code\":200");
	line(&b, 1, 2, 1, "payment", "charge", T0 + 10, 600, "error", "\"card\":\"visa\"");
	line(&b, 2, 1, 0, "checkout", "GET /", T0 + 1000, 5, "ok", NULL);
	line(&b, 3, 1, 0, "cart", "load", T0 - 7200000, 2000, "ok", "\"card\":\"amex\"");
	ingest(t, &b, T0);
	cr_assert_eq(obs_traces_flush_all(t, T0), 0);
	char err[128];
	struct { const char *q; const char *ids; } cases[] = {
		{ "", "2,1,3" },
		{ "service=checkout", "2,1" },
		{ "service=payment", "1" },
		{ "error", "1" },
		{ "!error", "2,3" },
		{ "duration>500ms", "1,3" },
		{ "duration>=1s", "3" },
		{ "duration<10ms", "2" },
		{ "card=visa", "1" },
		{ "http.status_code=200", "1" },
		{ "service=checkout&operation=POST%20%2Fbuy", "1" },
		{ "operation=load", "3" },
		{ "service=checkout&error&duration>500ms", "1" },
		{ "service=nosuch", "" },
		{ "limit=1", "2" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		obs_buf_reset(&out);
		cr_assert_eq(obs_traces_search(t, cases[i].q, strlen(cases[i].q), T0 - 86400000, T0 + 86400000, OBS_TIME_RFC3339,
					       &out, err, sizeof err), 0, "%s: %s", cases[i].q, err);
		char got[64] = "";
		for (char *l = out.data; l && *l;) {
			unsigned id;
			cr_assert_eq(sscanf(l, "%32x", &id), 1);
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%u", got[0] ? "," : "", id);
			l = strchr(l, '\n');
			l = l ? l + 1 : NULL;
		}
		cr_assert_str_eq(got, cases[i].ids, "query '%s'", cases[i].q);
	}
	/* a time range leaves out what it does not meet */
	obs_buf_reset(&out);
	cr_assert_eq(obs_traces_search(t, "", 0, T0 - 600000, T0 + 600000, OBS_TIME_RFC3339, &out, err, sizeof err), 0);
	cr_assert_eq(strncmp(out.data, "00000000000000000000000000000002 ", 33), 0, "%s", out.data);
	cr_assert_null(strstr(out.data, "00000000000000000000000000000003"));
	/* the line: TRACE_ID START ROOT_SERVICE ROOT_OPERATION DURATION SPANS ERROR */
	obs_buf_reset(&out);
	cr_assert_eq(obs_traces_search(t, "error", 5, 0, T0 + 86400000, OBS_TIME_RFC3339, &out, err, sizeof err), 0);
	cr_assert_str_eq(out.data, "00000000000000000000000000000001 2027-01-15T08:00:00.000Z checkout POST%20/buy 700ms 2 error\n");
	cr_assert_eq(obs_traces_search(t, "duration>5x", 11, 0, T0, OBS_TIME_RFC3339, &out, err, sizeof err), -EINVAL);
	cr_assert_str_eq(err, "invalid duration '5x'");
	obs_buf_release(&b);
	obs_buf_release(&out);
	obs_traces_close(t);
}

static int name_cat(void *ctx, const char *n)
{
	struct obs_buf *b = ctx;
	obs_buf_printf(b, "%s;", n);
	return 0;
}

Test(tstore, reopen_keeps_everything_and_merges_late_spans, .init = setup, .fini = teardown)
{
	struct obs_traces *t = topen(T0, "all always_sample\n");
	struct obs_buf b;
	obs_buf_init(&b);
	for (unsigned i = 1; i <= 50; i++) {
		line(&b, i, 1, 0, i % 2 ? "a" : "b", "root", T0 + i, 10, "ok", "\"k\":\"v\"");
		line(&b, i, 2, 1, "c", "child", T0 + i + 1, 5, "ok", NULL);
	}
	ingest(t, &b, T0);
	cr_assert_eq(obs_traces_tick(t, T0 + 1), 0);
	cr_assert_eq(obs_traces_checkpoint(t, T0 + 2), 0);
	/* a late span of trace 7, after its trace went to a segment */
	line(&b, 7, 3, 2, "d", "late", T0 + 9, 1, "error", NULL);
	ingest(t, &b, T0 + 3);
	obs_traces_close(t);
	t = topen(T0 + 10, NULL);
	size_t n;
	cr_assert(has(t, 7, &n));
	cr_assert_eq(n, 3, "the late span is merged into its trace, got %zu", n);
	for (unsigned i = 1; i <= 50; i++)
		cr_assert(has(t, i, NULL), "trace %u lost", i);
	struct obs_buf out;
	obs_buf_init(&out);
	char err[64];
	cr_assert_eq(obs_traces_search(t, "error", 5, 0, T0 + 100000, OBS_TIME_RFC3339, &out, err, sizeof err), 0);
	cr_assert_eq(strncmp(out.data, "00000000000000000000000000000007", 32), 0, "the late error span is indexed: %s", out.data);
	obs_buf_reset(&out);
	cr_assert_eq(obs_tstore_services(obs_traces_store(t), name_cat, &out), 0);
	cr_assert_str_eq(out.data, "a;b;c;d;");
	obs_buf_reset(&out);
	cr_assert_eq(obs_tstore_operations(obs_traces_store(t), "c", name_cat, &out), 0);
	cr_assert_str_eq(out.data, "child;");
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.store.traces, 50);
	cr_assert_eq(st.store.spans, 101);
	cr_assert_geq(st.store.segments, 2);
	obs_buf_release(&out);
	obs_buf_release(&b);
	obs_traces_close(t);
}

Test(tstore, retention_and_damaged_segments, .init = setup, .fini = teardown)
{
	struct obs_tstore_opts o;
	obs_tstore_opts_default(&o);
	o.retention_ms = 3600000;
	struct obs_tstore *s;
	cr_assert_eq(obs_tstore_open(dir, &o, &s), 0);
	struct obs_buf b;
	obs_buf_init(&b);
	/* two segments: an old trace and a new one */
	for (int k = 0; k < 2; k++) {
		struct obs_span sp;
		memset(&sp, 0, sizeof sp);
		idof(100 + (unsigned)k, sp.trace_id);
		sp.span_id[0] = 1;
		sp.start_ns = (T0 - (k ? 0 : 7200000)) * 1000000;
		sp.end_ns = sp.start_ns + 1000;
		sp.service = sp.name = (struct obs_str){ "x", 1 };
		obs_buf_reset(&b);
		cr_assert_eq(obs_span_encode(&sp, &b), 0);
		const uint8_t *bl[1] = { (const uint8_t *)b.data };
		uint32_t ln[1] = { (uint32_t)b.len };
		cr_assert_eq(obs_tstore_add(s, sp.trace_id, bl, ln, 1, 0), 0);
		cr_assert_eq(obs_tstore_flush(s), 0);
	}
	uint8_t id0[16], id1[16];
	idof(100, id0);
	idof(101, id1);
	cr_assert_eq(obs_tstore_retain(s, T0), 0);
	struct obs_buf out;
	size_t n;
	obs_buf_init(&out);
	cr_assert_eq(obs_tstore_get(s, id0, &out, &n), -ENOENT, "past retention");
	cr_assert_eq(obs_tstore_get(s, id1, &out, &n), 0);
	struct obs_tstore_stats st;
	obs_tstore_get_stats(s, &st);
	cr_assert_eq(st.segments, 1);
	cr_assert_eq(st.removed_segments, 1);
	cr_assert_eq(st.traces, 1);
	obs_tstore_close(s);
	/* flip a byte of the remaining segment: it is skipped and counted, not a crash */
	char cmd[256];
	snprintf(cmd, sizeof cmd, "f=$(ls %s/seg-*.trc); printf '\\377' | dd of=$f bs=1 seek=60 conv=notrunc 2>/dev/null", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(obs_tstore_open(dir, &o, &s), 0);
	obs_tstore_get_stats(s, &st);
	cr_assert_eq(st.damaged_segments, 1);
	cr_assert_eq(obs_tstore_get(s, id1, &out, &n), -ENOENT);
	obs_tstore_close(s);
	obs_buf_release(&b);
	obs_buf_release(&out);
}

Test(tstore, failed_flush_keeps_the_open_segment, .init = setup, .fini = teardown)
{
	struct obs_traces *t = topen(T0, "all always_sample\n");
	struct obs_buf b;
	obs_buf_init(&b);
	line(&b, 5, 1, 0, "a", "r", T0, 1, "ok", NULL);
	ingest(t, &b, T0);
	cr_assert_eq(obs_traces_flush_all(t, T0), 0);
	obs_fault_arm("traces.seg.fsync", 0, 1, ENOSPC);
	cr_assert_eq(obs_traces_checkpoint(t, T0), -ENOSPC);
	cr_assert(has(t, 5, NULL), "still readable from memory");
	cr_assert_eq(obs_traces_checkpoint(t, T0), 0, "the retry works");
	obs_traces_close(t);
	t = topen(T0, NULL);
	cr_assert(has(t, 5, NULL));
	obs_traces_close(t);
	obs_buf_release(&b);
}

/* A checkpoint writes its segment with the journal's lock dropped: a crash
 * after a failed segment write, and one after a segment was written but
 * before the journal was cut back, lose nothing and store nothing twice;
 * spans that came while the sealed segment waited survive too. */
Test(traces, kill9_around_a_segment_write_loses_nothing, .init = setup, .fini = teardown)
{
	for (int when = 0; when < 2; when++) {
		teardown();
		setup();
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			struct obs_traces *t;
			struct obs_traces_opts o;
			obs_traces_opts_default(&o);
			char err[128];
			const char *pol = "all always_sample\n";
			if (obs_traces_open(dir, &o, NULL, NULL, T0, &t, err, sizeof err) ||
			    obs_traces_set_policy(t, pol, strlen(pol), err, sizeof err))
				_exit(2);
			struct obs_buf b;
			obs_buf_init(&b);
			for (unsigned i = 1; i <= 20; i++) {
				line(&b, i, 1, 0, "a", "root", T0 + i, 5, "ok", NULL);
				line(&b, i, 2, 1, "b", "child", T0 + i, 2, "ok", NULL);
			}
			struct obs_traces_result r;
			if (obs_traces_ingest(t, b.data, b.len, 1, "t", 1, T0, &r) || obs_traces_flush_all(t, T0))
				_exit(3);
			/* when 0: the checkpoint's segment write fails; when 1: the
			 * segment is written and the crash comes before the journal is
			 * cut back (replay must not store the spans twice) */
			if (when == 0) {
				obs_fault_arm("traces.seg.fsync", 0, 1, ENOSPC);
				if (obs_traces_checkpoint(t, T0 + 1) != -ENOSPC)
					_exit(4);
			} else if (obs_tstore_flush(obs_traces_store(t))) {
				_exit(5);
			}
			obs_buf_reset(&b);
			line(&b, 21, 1, 0, "a", "after", T0 + 30, 5, "error", NULL);
			if (obs_traces_ingest(t, b.data, b.len, 1, "t", 1, T0 + 2, &r) || obs_traces_flush_all(t, T0 + 2))
				_exit(6);
			kill(getpid(), SIGKILL);
		}
		int ws;
		cr_assert_eq(waitpid(pid, &ws, 0), pid);
		cr_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "child exit %d", WEXITSTATUS(ws));
		struct obs_traces *t = topen(T0 + 100, NULL);
		size_t n;
		for (unsigned i = 1; i <= 20; i++) {
			cr_assert(has(t, i, &n), "case %d: trace %u lost", when, i);
			cr_assert_eq(n, 2, "case %d: trace %u has %zu spans", when, i, n);
		}
		cr_assert(has(t, 21, &n), "case %d: the trace that came after the checkpoint", when);
		cr_assert_eq(n, 1);
		struct obs_traces_stats st;
		obs_traces_get_stats(t, &st);
		cr_assert_eq(st.store.spans, 41, "case %d: every span stored once (%llu)", when, (unsigned long long)st.store.spans);
		obs_traces_close(t);
	}
}

/* kill -9 in a child after write() returned: nothing acknowledged is lost,
 * buffered spans come back buffered and decisions already taken hold */
Test(traces, kill9_loses_nothing_acknowledged, .init = setup, .fini = teardown)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct obs_traces_opts o;
		obs_traces_opts_default(&o);
		struct obs_traces *t;
		char err[128];
		if (obs_traces_open(dir, &o, NULL, NULL, T0, &t, err, sizeof err))
			_exit(2);
		const char *pol = "errs status_code status_codes=ERROR\n";
		if (obs_traces_set_policy(t, pol, strlen(pol), err, sizeof err))
			_exit(3);
		struct obs_buf b;
		obs_buf_init(&b);
		line(&b, 1, 1, 0, "a", "decided-kept", T0, 1, "error", NULL);
		line(&b, 2, 1, 0, "a", "decided-dropped", T0, 1, "ok", NULL);
		struct obs_traces_result r;
		if (obs_traces_ingest(t, b.data, b.len, 1, "t", 1, T0, &r) || obs_traces_tick(t, T0 + 1))
			_exit(4);
		obs_buf_reset(&b);
		line(&b, 3, 2, 1, "a", "buffered-child", T0, 1, "error", NULL);   /* root not here yet */
		line(&b, 1, 2, 1, "a", "late-of-kept", T0, 1, "ok", NULL);
		if (obs_traces_ingest(t, b.data, b.len, 1, "t", 1, T0 + 2, &r))
			_exit(5);
		/* an unfinished document carried by an open file */
		obs_buf_reset(&b);
		line(&b, 4, 1, 0, "a", "carried", T0, 1, "error", NULL);
		if (obs_traces_carry(t, 77, b.data, b.len - 1, 0))
			_exit(6);
		kill(getpid(), SIGKILL);
	}
	int ws;
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	cr_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "child exit %d", WEXITSTATUS(ws));
	struct obs_traces *t = topen(T0 + 100, NULL);
	size_t n;
	cr_assert(has(t, 1, &n), "a kept trace survives");
	cr_assert_eq(n, 2, "with its late span");
	cr_assert_not(has(t, 2, NULL), "a dropped one stays dropped");
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.buffered_traces, 2, "the undecided trace and the carried one are buffered (buffered %llu kept %llu dropped %llu replayed %llu)",
		     (unsigned long long)st.buffered_traces, (unsigned long long)st.kept_traces,
		     (unsigned long long)st.dropped_by_policy, (unsigned long long)st.spans_replayed);
	cr_assert_eq(st.buffered_spans, 2);
	cr_assert_eq(st.spans_replayed, 4);
	cr_assert_not(has(t, 3, NULL), "undecided: not readable yet");
	cr_assert_eq(obs_traces_flush_all(t, T0 + 200), 0);
	cr_assert(has(t, 3, NULL), "the buffered error trace is decided and kept");
	cr_assert(has(t, 4, NULL), "the carried document's error trace is kept");
	obs_traces_close(t);
}

Test(red, calls_and_classic_buckets)
{
	struct obs_red *r = obs_red_new();
	struct obs_span s;
	memset(&s, 0, sizeof s);
	s.service = (struct obs_str){ "api", 3 };
	s.name = (struct obs_str){ "GET \"x\"", 7 };
	s.kind = OBS_KIND_SERVER;
	int64_t durs[] = { 1000000, 3000000, 300000000, 20000000000LL };
	for (int i = 0; i < 4; i++) {
		s.end_ns = durs[i];
		s.status = i == 3 ? OBS_STATUS_ERROR : OBS_STATUS_UNSET;
		cr_assert_eq(obs_red_add(r, &s), 0);
	}
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_red_render(r, 1000, &b), 0);
	const char *L = "service_name=\"api\",span_name=\"GET \\\"x\\\"\",span_kind=\"SPAN_KIND_SERVER\"";
	char want[512];
	snprintf(want, sizeof want, "traces_span_metrics_calls_total{%s,status_code=\"STATUS_CODE_UNSET\"} 3 1000\n", L);
	cr_assert_not_null(strstr(b.data, want), "%s", b.data);
	snprintf(want, sizeof want, "traces_span_metrics_calls_total{%s,status_code=\"STATUS_CODE_ERROR\"} 1 1000\n", L);
	cr_assert_not_null(strstr(b.data, want));
	snprintf(want, sizeof want, "traces_span_metrics_duration_seconds_bucket{%s,status_code=\"STATUS_CODE_UNSET\",le=\"0.002\"} 1 1000\n", L);
	cr_assert_not_null(strstr(b.data, want));
	snprintf(want, sizeof want, "traces_span_metrics_duration_seconds_bucket{%s,status_code=\"STATUS_CODE_UNSET\",le=\"0.4\"} 3 1000\n", L);
	cr_assert_not_null(strstr(b.data, want), "cumulative buckets");
	snprintf(want, sizeof want, "traces_span_metrics_duration_seconds_bucket{%s,status_code=\"STATUS_CODE_ERROR\",le=\"15\"} 0 1000\n", L);
	cr_assert_not_null(strstr(b.data, want), "20 s is past the last bound");
	snprintf(want, sizeof want, "traces_span_metrics_duration_seconds_bucket{%s,status_code=\"STATUS_CODE_ERROR\",le=\"+Inf\"} 1 1000\n", L);
	cr_assert_not_null(strstr(b.data, want));
	snprintf(want, sizeof want, "traces_span_metrics_duration_seconds_sum{%s,status_code=\"STATUS_CODE_UNSET\"} 0.304 1000\n", L);
	cr_assert_not_null(strstr(b.data, want), "%s", b.data);
	obs_buf_release(&b);
	obs_red_free(r);
}

Test(waterfall, exact_text)
{
	const char *doc =
		"{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"0000000000000001\",\"service\":\"frontend\",\"operation\":\"GET /checkout\",\"start_time\":1800000000000,\"duration_ms\":400,\"status\":\"error\",\"status_message\":\"payment failed\"}\n"
		"{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"0000000000000002\",\"parent_span_id\":\"0000000000000001\",\"service\":\"cart\",\"operation\":\"load\",\"start_time\":1800000000010,\"duration_ms\":90}\n"
		"{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"0000000000000003\",\"parent_span_id\":\"0000000000000001\",\"service\":\"payment\",\"operation\":\"charge\",\"start_time\":1800000000200,\"duration_ms\":150.5,\"status\":\"error\",\"status_message\":\"card declined\"}\n"
		"{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"0000000000000004\",\"parent_span_id\":\"0000000000000002\",\"service\":\"redis\",\"operation\":\"GET\",\"start_time\":1800000000020,\"duration_ms\":0.25}\n";
	struct obs_traces *t;
	setup();
	t = topen(T0, "all always_sample\n");
	struct obs_traces_result r;
	cr_assert_eq(obs_traces_ingest(t, doc, strlen(doc), 1, "t", 1, T0, &r), 0);
	cr_assert_eq(obs_traces_flush_all(t, T0), 0);
	uint8_t id[16];
	obs_unhex("4bf92f3577b34da6a3ce929d0e0e4736", 32, id, 16);
	struct obs_buf out;
	obs_buf_init(&out);
	cr_assert_eq(obs_traces_tree(t, id, 20, OBS_TIME_RFC3339, &out), 0);
	const char *want =
		"4bf92f3577b34da6a3ce929d0e0e4736 2027-01-15T08:00:00.000Z 400ms 4 spans, 2 errors\n"
		"      0ns     400ms ! frontend GET /checkout |!!!!!!!!!!!!!!!!!!!!| payment failed\n"
		"     10ms      90ms     cart load            |#####...............|\n"
		"     20ms     250us       redis GET          |.#..................|\n"
		"    200ms   150.5ms !   payment charge       |..........!!!!!!!!..| card declined\n";
	cr_assert_str_eq(out.data, want);
	obs_buf_release(&out);
	obs_traces_close(t);
	teardown();
}

/* Retention by age (7 d by default) of segments on disk after a restart:
 * the old trace's segment goes, the recent one stays; a removal that fails
 * is retried by a later tick's retention pass (once a minute). */
Test(traces, retention_after_a_restart_retries_a_failed_removal, .init = setup, .fini = teardown)
{
	const int64_t D = 86400000;
	struct obs_traces_opts o;
	obs_traces_opts_default(&o);
	cr_assert_eq(o.store.retention_ms, 7 * D, "7 d by default");
	struct obs_traces *t = topen(T0, "all always_sample\n");
	struct obs_buf b;
	obs_buf_init(&b);
	line(&b, 1, 1, 0, "a", "old", T0, 1, "ok", NULL);
	ingest(t, &b, T0);
	cr_assert_eq(obs_traces_flush_all(t, T0), 0);
	cr_assert_eq(obs_traces_checkpoint(t, T0), 0);   /* a segment with the old trace */
	line(&b, 2, 1, 0, "a", "new", T0 + 5 * D, 1, "ok", NULL);
	ingest(t, &b, T0 + 5 * D);
	cr_assert_eq(obs_traces_flush_all(t, T0 + 5 * D), 0);
	obs_traces_close(t);                              /* and one with the new */
	int64_t now = T0 + 8 * D;
	t = topen(now, NULL);
	cr_assert(has(t, 1, NULL) && has(t, 2, NULL), "both on disk, loaded at open");
	obs_fault_arm("traces.retain.unlink", 0, 1, EIO);
	cr_assert_eq(obs_traces_tick(t, now + 60000), -EIO, "the removal failed");
	cr_assert(has(t, 1, NULL), "its segment is still listed");
	cr_assert_eq(obs_traces_tick(t, now + 90000), 0);
	cr_assert(has(t, 1, NULL), "retention runs once a minute");
	cr_assert_eq(obs_traces_tick(t, now + 120000), 0, "retried");
	cr_assert_not(has(t, 1, NULL), "past retention");
	cr_assert(has(t, 2, NULL));
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.store.segments, 1);
	cr_assert_eq(st.store.removed_segments, 1);
	obs_traces_close(t);
	t = topen(now + 200000, NULL);
	cr_assert_not(has(t, 1, NULL), "the file is gone");
	cr_assert(has(t, 2, NULL));
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.store.segments, 1);
	obs_traces_close(t);
	obs_buf_release(&b);
}
