/* test_traces_sampling.c — assembly (buffering per trace, early and timed
 * decisions, late spans and the decision cache, bounded memory) and every
 * tail-sampling policy, on a deterministic clock. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "traces/assemble.h"
#include "traces/policy.h"
#include "traces/span.h"

/* ---- helpers ------------------------------------------------------------ */

struct dec { uint8_t id[16]; int keep; enum obs_tdec_why why; size_t n; char by[32]; };

static struct dec decs[4096];
static size_t ndec;

static int on_emit(void *ctx, const uint8_t id[16], int keep, enum obs_tdec_why why, const char *by,
		   const uint8_t *const *blobs, const uint32_t *lens, size_t n)
{
	cr_assert_lt(ndec, 4096);
	memcpy(decs[ndec].id, id, 16);
	decs[ndec].keep = keep;
	decs[ndec].why = why;
	decs[ndec].n = n;
	snprintf(decs[ndec].by, sizeof decs[0].by, "%s", by);
	for (size_t i = 0; i < n; i++) {
		struct obs_span s;
		cr_assert_eq(obs_span_decode(blobs[i], lens[i], &s), 0);
		cr_assert_eq(memcmp(s.trace_id, id, 16), 0, "a span of another trace emitted");
	}
	ndec++;
	return 0;
}

static void tid(uint8_t *id, unsigned t)
{
	memset(id, 0, 16);
	id[0] = 0xab;
	memcpy(id + 12, &t, 4);
}

/* one span: trace t, span s (1..), parent p (0: root), start/end in ms */
struct sp { unsigned t, s, p; int64_t start, end; int status; const char *svc, *name, *attrs_k, *attrs_v; int aint; };

static void add(struct obs_tasm *a, struct sp x, int64_t now)
{
	struct obs_span s;
	memset(&s, 0, sizeof s);
	tid(s.trace_id, x.t);
	memcpy(s.span_id, &x.s, 4);
	s.span_id[7] = 1;
	if (x.p) {
		memcpy(s.parent_id, &x.p, 4);
		s.parent_id[7] = 1;
		s.flags |= OBS_SPAN_HAS_PARENT;
	}
	s.start_ns = x.start * 1000000;
	s.end_ns = x.end * 1000000;
	s.status = (uint8_t)x.status;
	s.service = (struct obs_str){ x.svc ? x.svc : "svc", strlen(x.svc ? x.svc : "svc") };
	s.name = (struct obs_str){ x.name ? x.name : "op", strlen(x.name ? x.name : "op") };
	struct obs_buf at, enc;
	obs_buf_init(&at);
	obs_buf_init(&enc);
	if (x.attrs_k)
		obs_attr_put(&at, x.aint ? OBS_ATTR_INT : OBS_ATTR_STRING, x.attrs_k, strlen(x.attrs_k), x.attrs_v,
			     strlen(x.attrs_v));
	s.attrs = (struct obs_str){ at.data ? at.data : "", at.len };
	cr_assert_eq(obs_span_encode(&s, &enc), 0);
	cr_assert_eq(obs_tasm_add(a, &s, (const uint8_t *)enc.data, enc.len, now), 0);
	obs_buf_release(&at);
	obs_buf_release(&enc);
}

static struct obs_tasm *mk(const char *policy, struct obs_policy_set **ps)
{
	char err[200] = "";
	cr_assert_eq(obs_policy_parse(policy, strlen(policy), ps, err, sizeof err), 0, "%s", err);
	struct obs_tasm_opts o;
	obs_tasm_opts_default(&o);
	struct obs_policy_settings st;
	obs_policy_get_settings(*ps, &st);
	o.decision_wait_ms = st.decision_wait_ms;
	o.max_traces = st.num_traces;
	o.max_spans = st.max_spans;
	o.head_honour = st.head_honour;
	struct obs_tasm *a;
	cr_assert_eq(obs_tasm_new(&o, *ps, on_emit, NULL, &a), 0);
	ndec = 0;
	return a;
}

static const struct dec *dec_of(unsigned t)
{
	uint8_t id[16];
	tid(id, t);
	for (size_t i = 0; i < ndec; i++)
		if (!memcmp(decs[i].id, id, 16) && decs[i].why != OBS_TDEC_LATE)
			return &decs[i];
	return NULL;
}

/* keep? of trace t decided by a one-policy set */
static int keeps(const char *policy, struct sp *spans, size_t n)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk(policy, &ps);
	for (size_t i = 0; i < n; i++)
		add(a, spans[i], 1000);
	cr_assert_eq(obs_tasm_flush(a, 1000), 0);
	const struct dec *d = dec_of(spans[0].t);
	cr_assert_not_null(d);
	int k = d->keep;
	obs_tasm_free(a);
	obs_policy_free(ps);
	return k;
}

/* ---- assembly ------------------------------------------------------------ */

Test(assemble, waits_for_root_then_decision_wait)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("all always_sample\ndecision_wait=10s\n", &ps);
	add(a, (struct sp){ .t = 1, .s = 2, .p = 1, .start = 10, .end = 20 }, 1000);
	add(a, (struct sp){ .t = 1, .s = 3, .p = 9, .start = 12, .end = 15 }, 2000);   /* its parent 9 never comes */
	cr_assert_eq(obs_tasm_tick(a, 5000), 0);
	cr_assert_eq(ndec, 0, "no root yet");
	add(a, (struct sp){ .t = 1, .s = 1, .start = 0, .end = 30 }, 6000);
	cr_assert_eq(obs_tasm_tick(a, 6000), 0);
	cr_assert_eq(ndec, 0, "span 3's parent is missing: no early decision");
	cr_assert_eq(obs_tasm_tick(a, 15999), 0);
	cr_assert_eq(ndec, 0, "quiet for less than decision_wait");
	cr_assert_eq(obs_tasm_tick(a, 16000), 0);
	cr_assert_eq(ndec, 1);
	cr_assert_eq(decs[0].n, 3);
	cr_assert(decs[0].keep);
	struct obs_tasm_stats st;
	obs_tasm_get_stats(a, &st);
	cr_assert_eq(st.buffered_traces, 0);
	cr_assert_eq(st.kept_traces, 1);
	cr_assert_eq(st.kept_spans, 3);
	obs_tasm_free(a);
	obs_policy_free(ps);
}

/* a trace of more than 16 spans takes the sorted parent check: one
 * missing parent holds it back, its arrival lets it go early */
Test(assemble, early_decision_of_a_large_trace)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("all always_sample\ndecision_wait=10s\n", &ps);
	add(a, (struct sp){ .t = 8, .s = 1, .start = 0, .end = 100 }, 1000);
	for (unsigned k = 2; k <= 30; k++)   /* span 30's parent is 40, not here yet */
		add(a, (struct sp){ .t = 8, .s = k, .p = k == 30 ? 40 : k - 1, .start = k, .end = k + 1 }, 1000);
	cr_assert_eq(obs_tasm_tick(a, 1001), 0);
	cr_assert_eq(ndec, 0, "a parent is missing: no early decision");
	add(a, (struct sp){ .t = 8, .s = 40, .p = 1, .start = 5, .end = 6 }, 1002);
	cr_assert_eq(obs_tasm_tick(a, 1003), 0);
	cr_assert_eq(ndec, 1, "every parent present: decided early");
	cr_assert_eq(decs[0].n, 31);
	obs_tasm_free(a);
	obs_policy_free(ps);
}

Test(assemble, early_when_every_parent_present)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("all always_sample\n", &ps);
	add(a, (struct sp){ .t = 7, .s = 2, .p = 1, .start = 1, .end = 2 }, 1000);
	add(a, (struct sp){ .t = 7, .s = 3, .p = 2, .start = 1, .end = 2 }, 1000);
	cr_assert_eq(obs_tasm_tick(a, 1001), 0);
	cr_assert_eq(ndec, 0);
	add(a, (struct sp){ .t = 7, .s = 1, .start = 0, .end = 3 }, 1002);
	cr_assert_eq(obs_tasm_tick(a, 1003), 0);
	cr_assert_eq(ndec, 1, "root ended and every parent present: decided without waiting");
	cr_assert_eq(decs[0].n, 3);
	obs_tasm_free(a);
	obs_policy_free(ps);
}

Test(assemble, rootless_trace_decided_after_three_waits)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("all always_sample\ndecision_wait=1s\n", &ps);
	add(a, (struct sp){ .t = 3, .s = 2, .p = 1, .start = 1, .end = 2 }, 1000);
	cr_assert_eq(obs_tasm_tick(a, 3999), 0);
	cr_assert_eq(ndec, 0);
	cr_assert_eq(obs_tasm_tick(a, 4000), 0);
	cr_assert_eq(ndec, 1);
	struct obs_tasm_stats st;
	obs_tasm_get_stats(a, &st);
	cr_assert_eq(st.decided_without_root, 1);
	obs_tasm_free(a);
	obs_policy_free(ps);
}

Test(assemble, late_spans_follow_the_decision)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("errs status_code status_codes=ERROR\n", &ps);
	add(a, (struct sp){ .t = 1, .s = 1, .start = 0, .end = 5, .status = OBS_STATUS_ERROR }, 1000);
	add(a, (struct sp){ .t = 2, .s = 1, .start = 0, .end = 5 }, 1000);
	cr_assert_eq(obs_tasm_tick(a, 1001), 0);
	cr_assert_eq(ndec, 2);
	cr_assert(dec_of(1)->keep);
	cr_assert_not(dec_of(2)->keep);
	/* late spans: no policy runs again, the cached decision answers */
	add(a, (struct sp){ .t = 1, .s = 5, .p = 1, .start = 1, .end = 2 }, 50000);
	add(a, (struct sp){ .t = 2, .s = 5, .p = 1, .start = 1, .end = 2, .status = OBS_STATUS_ERROR }, 50000);
	cr_assert_eq(ndec, 4);
	cr_assert_eq(decs[2].why, OBS_TDEC_LATE);
	cr_assert(decs[2].keep, "late span of a kept trace kept");
	cr_assert_eq(decs[3].why, OBS_TDEC_LATE);
	cr_assert_not(decs[3].keep, "late error span of a dropped trace dropped: all or nothing");
	struct obs_tasm_stats st;
	obs_tasm_get_stats(a, &st);
	cr_assert_eq(st.late_spans, 2);
	cr_assert_eq(st.buffered_traces, 0);
	cr_assert_eq(obs_tasm_cached(a, dec_of(1)->id), 1);
	cr_assert_eq(obs_tasm_cached(a, dec_of(2)->id), 0);
	obs_tasm_free(a);
	obs_policy_free(ps);
}

Test(assemble, bounded_buffers_drop_too_early_counted)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("all always_sample\nnum_traces=3\nmax_spans=5\n", &ps);
	for (unsigned t = 1; t <= 4; t++)
		add(a, (struct sp){ .t = t, .s = 2, .p = 1, .start = 0, .end = 1 }, 1000 + t);
	struct obs_tasm_stats st;
	obs_tasm_get_stats(a, &st);
	cr_assert_eq(st.buffered_traces, 3);
	cr_assert_eq(st.dropped_too_early, 1);
	cr_assert_not(dec_of(1)->keep, "the oldest trace went first");
	cr_assert_eq(dec_of(1)->why, OBS_TDEC_TOO_EARLY);
	/* spans bound: 3 buffered, add 3 more to trace 4 -> evictions of 2 and 3 */
	for (unsigned s = 3; s <= 5; s++)
		add(a, (struct sp){ .t = 4, .s = s, .p = 1, .start = 0, .end = 1 }, 2000);
	obs_tasm_get_stats(a, &st);
	cr_assert_leq(st.buffered_spans, 5);
	cr_assert_eq(st.dropped_too_early, 2, "got %llu", (unsigned long long)st.dropped_too_early);
	/* a late span of an evicted trace is dropped as well */
	add(a, (struct sp){ .t = 1, .s = 9, .p = 1, .start = 0, .end = 1 }, 3000);
	cr_assert_eq(decs[ndec - 1].why, OBS_TDEC_LATE);
	cr_assert_not(decs[ndec - 1].keep);
	cr_assert_gt(st.buffered_bytes, 0);
	obs_tasm_free(a);
	obs_policy_free(ps);
}

Test(assemble, head_sampling_honoured_when_told)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("never span_count min_spans=1000\nhead_sampling=honour\n", &ps);
	struct obs_span s;
	struct obs_buf enc;
	for (int sampled = 0; sampled < 2; sampled++) {
		memset(&s, 0, sizeof s);
		tid(s.trace_id, 10 + (unsigned)sampled);
		s.span_id[0] = 1;
		s.flags = OBS_SPAN_HAS_TFLAGS;
		s.trace_flags = (uint8_t)sampled;
		s.service = s.name = (struct obs_str){ "x", 1 };
		obs_buf_init(&enc);
		cr_assert_eq(obs_span_encode(&s, &enc), 0);
		cr_assert_eq(obs_tasm_add(a, &s, (const uint8_t *)enc.data, enc.len, 1000), 0);
		obs_buf_release(&enc);
	}
	cr_assert_eq(obs_tasm_flush(a, 1000), 0);
	cr_assert_not(dec_of(10)->keep, "sampled flag 0: dropped");
	cr_assert_eq(dec_of(10)->why, OBS_TDEC_HEAD);
	cr_assert(dec_of(11)->keep, "sampled flag 1: kept although no policy keeps it");
	obs_tasm_free(a);
	obs_policy_free(ps);
}

/* ---- policies ------------------------------------------------------------ */

Test(policy, status_code)
{
	struct sp ok[] = { { .t = 1, .s = 1, .end = 1 }, { .t = 1, .s = 2, .p = 1, .end = 1, .status = OBS_STATUS_OK } };
	struct sp err[] = { { .t = 1, .s = 1, .end = 1 }, { .t = 1, .s = 2, .p = 1, .end = 1, .status = OBS_STATUS_ERROR } };
	cr_assert_not(keeps("status_code status_codes=ERROR", ok, 2));
	cr_assert(keeps("status_code status_codes=ERROR", err, 2), "an error in a child span keeps the trace");
	cr_assert(keeps("status_code status_codes=OK,ERROR", ok, 2));
	cr_assert(keeps("x status_code status_codes=UNSET", ok, 2));
}

Test(policy, latency)
{
	struct sp fast[] = { { .t = 1, .s = 1, .start = 100, .end = 600 }, { .t = 1, .s = 2, .p = 1, .start = 200, .end = 1099 } };
	struct sp slow[] = { { .t = 1, .s = 1, .start = 100, .end = 600 }, { .t = 1, .s = 2, .p = 1, .start = 200, .end = 1100 } };
	cr_assert_not(keeps("latency threshold_ms=1000", fast, 2), "999 ms from first start to last end");
	cr_assert(keeps("latency threshold_ms=1000", slow, 2), "1000 ms: the threshold is inclusive");
	cr_assert_not(keeps("latency threshold_ms=100 upper_threshold_ms=500", slow, 2));
}

Test(policy, probabilistic_by_trace_id_hash)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("baseline probabilistic sampling_percentage=10\n", &ps);
	for (unsigned t = 0; t < 4000; t++)
		add(a, (struct sp){ .t = t, .s = 1, .end = 1 }, 1000);
	cr_assert_eq(obs_tasm_flush(a, 1000), 0);
	size_t kept = 0;
	for (size_t i = 0; i < ndec; i++)
		kept += decs[i].keep;
	/* binomial(4000, 0.1): mean 400, sd 19; 5 sd either side */
	cr_assert(kept >= 305 && kept <= 495, "kept %zu of 4000 at 10%%", kept);
	/* the same trace id gets the same answer, every time */
	for (unsigned t = 0; t < 50; t++) {
		struct sp x[] = { { .t = t, .s = 1, .end = 1 } };
		uint8_t id[16];
		tid(id, t);
		cr_assert_eq(keeps("probabilistic sampling_percentage=10", x, 1), obs_trace_hash01(id, NULL) < 0.1);
	}
	obs_tasm_free(a);
	obs_policy_free(ps);
}

Test(policy, rate_limiting)
{
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("rl rate_limiting spans_per_second=5\n", &ps);
	for (unsigned t = 0; t < 5; t++) {
		add(a, (struct sp){ .t = t, .s = 1, .end = 1 }, 1000);
		add(a, (struct sp){ .t = t, .s = 2, .p = 1, .end = 1 }, 1000);
	}
	cr_assert_eq(obs_tasm_flush(a, 1000), 0);
	size_t kept = 0;
	for (size_t i = 0; i < ndec; i++)
		kept += decs[i].keep;
	cr_assert_eq(kept, 2, "5 spans/s: two traces of two spans fit, got %zu", kept);
	/* next second: budget again */
	add(a, (struct sp){ .t = 100, .s = 1, .end = 1 }, 2000);
	cr_assert_eq(obs_tasm_flush(a, 2000), 0);
	cr_assert(dec_of(100)->keep);
	obs_tasm_free(a);
	obs_policy_free(ps);
	a = mk("rate_limiting traces_per_second=3\n", &ps);
	for (unsigned t = 0; t < 10; t++)
		add(a, (struct sp){ .t = t, .s = 1, .end = 1 }, 1000);
	cr_assert_eq(obs_tasm_flush(a, 1000), 0);
	kept = 0;
	for (size_t i = 0; i < ndec; i++)
		kept += decs[i].keep;
	cr_assert_eq(kept, 3);
	obs_tasm_free(a);
	obs_policy_free(ps);
}

Test(policy, string_attribute)
{
	struct sp x[] = { { .t = 1, .s = 1, .end = 1, .svc = "checkout", .attrs_k = "http.route", .attrs_v = "/pay/now" } };
	cr_assert(keeps("string_attribute key=http.route values=/cart,/pay/now", x, 1));
	cr_assert_not(keeps("string_attribute key=http.route values=/cart", x, 1));
	cr_assert(keeps("string_attribute key=http.route values=^/pay enabled_regex_matching=true", x, 1));
	cr_assert_not(keeps("string_attribute key=http.route values=/pay/now invert_match=true", x, 1));
	cr_assert(keeps("string_attribute key=service.name values=checkout", x, 1), "service.name is the span's service");
	cr_assert_not(keeps("string_attribute key=other values=/pay/now", x, 1));
}

Test(policy, numeric_and_boolean_attribute_span_count)
{
	struct sp x[] = { { .t = 1, .s = 1, .end = 1, .attrs_k = "http.status_code", .attrs_v = "503", .aint = 1 } };
	cr_assert(keeps("numeric_attribute key=http.status_code min_value=500 max_value=599", x, 1));
	cr_assert_not(keeps("numeric_attribute key=http.status_code min_value=400 max_value=499", x, 1));
	cr_assert_not(keeps("numeric_attribute key=http.status_code min_value=500 max_value=599 invert_match=true", x, 1));
	cr_assert(keeps("span_count min_spans=1", x, 1));
	cr_assert_not(keeps("span_count min_spans=2", x, 1));
	struct sp b[] = { { .t = 1, .s = 1, .end = 1 } };
	cr_assert_not(keeps("boolean_attribute key=cache.hit value=true", b, 1));
	cr_assert(keeps("always_sample", b, 1));
}

Test(policy, and_composite_and_any_keeps)
{
	struct sp slow_checkout[] = { { .t = 1, .s = 1, .start = 0, .end = 800, .svc = "checkout" } };
	struct sp slow_other[] = { { .t = 1, .s = 1, .start = 0, .end = 800, .svc = "cart" } };
	const char *and = "sc and | latency threshold_ms=500 | string_attribute key=service.name values=checkout";
	cr_assert(keeps(and, slow_checkout, 1));
	cr_assert_not(keeps(and, slow_other, 1), "and: every sub-policy must keep");
	/* any policy keeping is enough */
	cr_assert(keeps("a status_code status_codes=ERROR\nb latency threshold_ms=700\n", slow_other, 1));
	/* composite: sub-policies in order, each within its share of the rate */
	struct obs_policy_set *ps;
	struct obs_tasm *a = mk("c composite max_total_spans_per_second=10 policy_order=errs,all rate_allocation=errs:50,all:20 "
				"| errs status_code status_codes=ERROR | all always_sample\n", &ps);
	for (unsigned t = 0; t < 20; t++)
		add(a, (struct sp){ .t = t, .s = 1, .end = 1, .status = t < 10 ? OBS_STATUS_ERROR : 0 }, 1000);
	cr_assert_eq(obs_tasm_flush(a, 1000), 0);
	size_t kept_err = 0, kept_ok = 0;
	for (unsigned t = 0; t < 20; t++)
		if (dec_of(t)->keep)
			*(t < 10 ? &kept_err : &kept_ok) += 1;
	/* errs gets 5 spans/s; the rest fall to 'all' (2/s) once errs is spent */
	cr_assert_eq(kept_err + kept_ok, 7, "errs 5 + all 2, got %zu + %zu", kept_err, kept_ok);
	cr_assert_geq(kept_err, 5);
	obs_tasm_free(a);
	obs_policy_free(ps);
}

Test(policy, defaults_and_parse_errors)
{
	struct obs_policy_set *ps;
	char err[200];
	cr_assert_eq(obs_policy_parse("# nothing\n\n", 12, &ps, err, sizeof err), 0);
	cr_assert_str_eq(obs_policy_source(ps), obs_policy_default_text);
	struct obs_policy_settings st;
	obs_policy_get_settings(ps, &st);
	cr_assert_eq(st.decision_wait_ms, 10000);
	obs_policy_free(ps);
	struct sp err1[] = { { .t = 1, .s = 1, .end = 1, .status = OBS_STATUS_ERROR } };
	struct sp slow[] = { { .t = 1, .s = 1, .start = 0, .end = 1500 } };
	cr_assert(keeps("", err1, 1), "defaults keep every error");
	cr_assert(keeps("", slow, 1), "defaults keep every trace over 1 s");
	static const struct { const char *text, *msg; } bad[] = {
		{ "x latencyy threshold_ms=1", "line 1: unknown policy type 'latencyy'" },
		{ "\nlatency threshold=1", "line 2: unknown parameter 'threshold' for latency" },
		{ "latency", "line 1: latency needs its parameter (threshold_ms)" },
		{ "probabilistic sampling_percentage=150", "line 1: sampling_percentage 150 is not in 0..100" },
		{ "decision_wait=soon", "line 1: invalid decision_wait 'soon'" },
		{ "and | and | latency threshold_ms=1", "line 1: sub-policies cannot nest and/composite" },
		{ "string_attribute key=a values=( enabled_regex_matching=true", "line 1: invalid regex '('" },
		{ "c composite max_total_spans_per_second=1 policy_order=zz | a always_sample", "line 1: policy_order names 'zz', which is no sub-policy" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		cr_assert_eq(obs_policy_parse(bad[i].text, strlen(bad[i].text), &ps, err, sizeof err), -EINVAL, "%s", bad[i].text);
		cr_assert_str_eq(err, bad[i].msg);
	}
}

Test(assemble, decision_cache_forgets_oldest_first)
{
	struct obs_policy_set *ps;
	char err[100];
	cr_assert_eq(obs_policy_parse("all always_sample", 17, &ps, err, sizeof err), 0);
	struct obs_tasm_opts o;
	obs_tasm_opts_default(&o);
	o.cache_size = 1000;
	struct obs_tasm *a;
	cr_assert_eq(obs_tasm_new(&o, ps, on_emit, NULL, &a), 0);
	ndec = 0;
	for (unsigned t = 0; t < 1500; t++)
		add(a, (struct sp){ .t = t, .s = 1, .end = 1 }, 1000);
	cr_assert_eq(obs_tasm_flush(a, 1000), 0);
	uint8_t id[16];
	size_t known = 0;
	for (unsigned t = 0; t < 1500; t++) {
		tid(id, t);
		known += obs_tasm_cached(a, id) == 1;
	}
	cr_assert_eq(known, 1000, "exactly the last 1000 decisions are remembered, got %zu", known);
	/* no collisions lose a recent one: the newest 1000 are all there */
	for (unsigned t = 500; t < 1500; t++) {
		tid(id, t);
		cr_assert_eq(obs_tasm_cached(a, id), 1, "trace %u forgotten", t);
	}
	obs_tasm_free(a);
	obs_policy_free(ps);
}
