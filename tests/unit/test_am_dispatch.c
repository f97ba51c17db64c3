/* test_am_dispatch.c — the dispatcher under a test clock: group_wait,
 * grouping of 100 alerts into one notification, group_interval, repeat,
 * resolved notifications, inhibition, silences, time-interval muting, the
 * notification log across a restart, retry after a failed delivery, exec
 * refused for an untrusted config, the webhook payload. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/dispatch.h"

static int64_t now_ms;
static int64_t tick_now(void *ctx) { (void)ctx; return now_ms; }
static const struct am_clock clk = { tick_now, NULL };

#define MAXN 64
struct sent {
	int n;
	char *json[MAXN];
	char recv[MAXN][32];
	size_t nalerts[MAXN], nfiring[MAXN], nresolved[MAXN];
	int fail;
} S;

static int record(void *ctx, const struct am_delivery *d)
{
	if (S.fail)
		return -EIO;
	cr_assert_lt(S.n, MAXN);
	S.json[S.n] = strndup(d->json, d->json_len);
	snprintf(S.recv[S.n], 32, "%s", d->receiver);
	S.nalerts[S.n] = d->nalerts;
	S.nfiring[S.n] = d->nfiring;
	S.nresolved[S.n] = d->nresolved;
	S.n++;
	return 0;
}

static void reset(void)
{
	for (int i = 0; i < S.n; i++)
		free(S.json[i]);
	memset(&S, 0, sizeof(S));
	now_ms = 1800000000000LL;
}

static struct am_config *cfg(const char *text)
{
	struct am_config *c;
	struct obs_buf err;
	obs_buf_init(&err);
	cr_assert_eq(am_config_parse(text, strlen(text), &c, &err), 0, "%s", err.data);
	obs_buf_release(&err);
	return c;
}

static struct am_alert A(const char *labels, int64_t starts, int64_t ends)
{
	struct am_alert a;
	am_alert_init(&a);
	cr_assert_eq(obs_labels_parse(labels, strlen(labels), &a.labels, NULL), 0, "%s", labels);
	const char *ann = "{summary=\"disk is full\"}";
	cr_assert_eq(obs_labels_parse(ann, strlen(ann), &a.annotations, NULL), 0);
	a.starts_at = starts;
	a.ends_at = ends;
	a.generator_url = strdup("http://obsfs/alerts");
	return a;
}

static void put1(struct am_dispatch *d, const char *labels, int64_t starts, int64_t ends)
{
	struct am_alert a = A(labels, starts, ends);
	cr_assert_eq(am_dispatch_put(d, &a, 1), 0);
	am_alert_release(&a);
}

static const char *BASIC =
	"global: {resolve_timeout: 1d}\n"
	"route:\n"
	"  receiver: hook\n"
	"  group_by: [alertname]\n"
	"  group_wait: 30s\n"
	"  group_interval: 5m\n"
	"  repeat_interval: 1h\n"
	"receivers:\n"
	"  - name: hook\n"
	"    webhook_configs: [{url: 'http://127.0.0.1:1/'}]\n";

static struct am_dispatch *mk(const char *text, const char *dir, struct am_silences *sil)
{
	struct am_dispatch *d;
	cr_assert_eq(am_dispatch_new(dir, &clk, sil, record, NULL, &d), 0);
	am_dispatch_set_config(d, cfg(text), 1);
	return d;
}

static void at(struct am_dispatch *d, int64_t off_s)
{
	now_ms = 1800000000000LL + off_s * 1000;
	am_dispatch_tick(d);
}

Test(am_dispatch, group_wait_and_100_alerts_in_one_notification)
{
	reset();
	struct am_dispatch *d = mk(BASIC, NULL, NULL);
	struct am_alert v[100];
	char buf[100];
	for (int i = 0; i < 100; i++) {
		snprintf(buf, sizeof(buf), "{alertname=\"DiskFull\",instance=\"host%03d\"}", i);
		v[i] = A(buf, now_ms, 0);
	}
	cr_assert_eq(am_dispatch_put(d, v, 100), 0);
	for (int i = 0; i < 100; i++)
		am_alert_release(&v[i]);
	struct am_dispatch_stats st;
	am_dispatch_stats(d, &st);
	cr_assert_eq(st.groups, 1);
	cr_assert_eq(st.alerts, 100);
	at(d, 29);
	cr_assert_eq(S.n, 0, "nothing before group_wait");
	at(d, 30);
	cr_assert_eq(S.n, 1, "one notification for the group");
	cr_assert_eq(S.nalerts[0], 100);
	json_error_t je;
	json_t *j = json_loads(S.json[0], 0, &je);
	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(json_object_get(j, "version")), "4");
	cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "firing");
	cr_assert_str_eq(json_string_value(json_object_get(j, "receiver")), "hook");
	cr_assert_str_eq(json_string_value(json_object_get(j, "groupKey")), "{}:{alertname=\"DiskFull\"}");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "groupLabels"), "alertname")), "DiskFull");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "commonLabels"), "alertname")), "DiskFull");
	cr_assert_null(json_object_get(json_object_get(j, "commonLabels"), "instance"));
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "commonAnnotations"), "summary")), "disk is full");
	json_t *arr = json_object_get(j, "alerts");
	cr_assert_eq(json_array_size(arr), 100);
	json_t *a0 = json_array_get(arr, 0);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(a0, "labels"), "instance")), "host000", "sorted");
	cr_assert_str_eq(json_string_value(json_object_get(a0, "status")), "firing");
	cr_assert_str_eq(json_string_value(json_object_get(a0, "startsAt")), "2027-01-15T08:00:00.000Z");
	cr_assert_str_eq(json_string_value(json_object_get(a0, "endsAt")), "0001-01-01T00:00:00Z");
	cr_assert_str_eq(json_string_value(json_object_get(a0, "generatorURL")), "http://obsfs/alerts");
	cr_assert_eq(strlen(json_string_value(json_object_get(a0, "fingerprint"))), 16);
	json_decref(j);
	/* nothing changed: silence until repeat_interval (1h, checked every 5m) */
	for (int t = 60; t < 3600 + 30; t += 60)
		at(d, t);
	cr_assert_eq(S.n, 1, "deduplicated until repeat_interval");
	at(d, 3600 + 30 + 1);   /* the flush at 30s + 12 * 5m */
	at(d, 3600 + 300 + 30);
	cr_assert_eq(S.n, 2, "re-sent after repeat_interval");
	cr_assert_eq(S.nalerts[1], 100);
	am_dispatch_free(d);
	reset();
}

Test(am_dispatch, group_interval_resolved_and_send_resolved)
{
	reset();
	const char *C =
		"global: {resolve_timeout: 1d}\n"
		"route:\n  receiver: both\n  group_by: [alertname]\n  group_wait: 10s\n  group_interval: 1m\n"
		"receivers:\n  - name: both\n    webhook_configs:\n"
		"      - url: 'http://127.0.0.1:1/a'\n"
		"      - url: 'http://127.0.0.1:1/b'\n        send_resolved: false\n";
	struct am_dispatch *d = mk(C, NULL, NULL);
	put1(d, "{alertname=\"A\",i=\"1\"}", now_ms, 0);
	at(d, 10);
	cr_assert_eq(S.n, 2, "one per integration");
	/* a second alert joins: notified at the next group_interval, not before */
	now_ms += 5000;
	put1(d, "{alertname=\"A\",i=\"2\"}", now_ms, 0);
	at(d, 40);
	cr_assert_eq(S.n, 2);
	at(d, 70);
	cr_assert_eq(S.n, 4);
	cr_assert_eq(S.nfiring[2], 2);
	/* one resolves: integration a (send_resolved) is told, b is not */
	put1(d, "{alertname=\"A\",i=\"1\"}", 1800000000000LL, 1800000000000LL + 80000);
	at(d, 130);
	cr_assert_eq(S.n, 5, "only the send_resolved integration");
	cr_assert_eq(S.nresolved[4], 1);
	cr_assert_eq(S.nfiring[4], 1);
	cr_assert(strstr(S.json[4], "\"status\":\"resolved\""));
	/* the rest resolves: both are told (b to clear its log, with firing only: nothing to send) */
	put1(d, "{alertname=\"A\",i=\"2\"}", 1800000000000LL, 1800000000000LL + 140000);
	at(d, 190);
	cr_assert_eq(S.n, 6);
	cr_assert(strstr(S.json[5], "\"status\":\"resolved\",\"alerts\""), "%s", S.json[5]);
	struct am_dispatch_stats st;
	am_dispatch_stats(d, &st);
	cr_assert_eq(st.groups, 0, "an empty group is dropped");
	cr_assert_eq(st.alerts, 0);
	am_dispatch_free(d);
	reset();
}

Test(am_dispatch, inhibition)
{
	reset();
	const char *C =
		"global: {resolve_timeout: 1d}\n"
		"route:\n  receiver: r\n  group_by: ['...']\n  group_wait: 0s\n"
		"receivers:\n  - name: r\n    webhook_configs: [{url: 'http://x/'}]\n"
		"inhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n"
		"    equal: [cluster]\n";
	struct am_dispatch *d = mk(C, NULL, NULL);
	put1(d, "{alertname=\"Down\",severity=\"critical\",cluster=\"eu\"}", now_ms, 0);
	put1(d, "{alertname=\"Slow\",severity=\"warning\",cluster=\"eu\"}", now_ms, 0);
	put1(d, "{alertname=\"Slow\",severity=\"warning\",cluster=\"us\"}", now_ms, 0);
	at(d, 1);
	cr_assert_eq(S.n, 2, "the eu warning is inhibited");
	for (int i = 0; i < S.n; i++)
		cr_assert_null(strstr(S.json[i], "\"cluster\":\"eu\",\"severity\":\"warning\""));
	struct obs_buf m;
	obs_buf_init(&m);
	struct obs_labels l;
	const char *t = "{alertname=\"Slow\",severity=\"warning\",cluster=\"eu\"}";
	cr_assert_eq(obs_labels_parse(t, strlen(t), &l, NULL), 0);
	cr_assert_eq(am_dispatch_marks(d, &l, &m), 1);
	cr_assert(strstr(m.data, "inhibitedBy: "));
	obs_buf_reset(&m);
	cr_assert_eq(am_dispatch_render_alerts(d, &m), 0);
	cr_assert(strstr(m.data, "suppressed {alertname=\"Slow\",cluster=\"eu\",severity=\"warning\"} inhibitedBy="), "%s", m.data);
	/* the source resolves: the target is notified */
	put1(d, "{alertname=\"Down\",severity=\"critical\",cluster=\"eu\"}", now_ms - 1000, now_ms);
	at(d, 400);
	int found = 0;
	for (int i = 0; i < S.n; i++)
		found |= strstr(S.json[i], "\"alertname\":\"Slow\",\"cluster\":\"eu\"") != NULL;
	cr_assert(found, "released after the source resolved");
	obs_labels_release(&l);
	obs_buf_release(&m);
	am_dispatch_free(d);
	reset();
}

Test(am_dispatch, silences_and_time_intervals)
{
	reset();
	struct am_silences *sil;
	cr_assert_eq(am_silences_open(NULL, &clk, 0, &sil), 0);
	const char *C =
		"global: {resolve_timeout: 1d}\n"
		"route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 1w\n"
		"  routes:\n    - matchers: [team=ops]\n      receiver: r\n      mute_time_intervals: [weekend]\n"
		"receivers:\n  - name: r\n    webhook_configs: [{url: 'http://x/'}]\n"
		"time_intervals:\n  - name: weekend\n    time_intervals: [{weekdays: [saturday, sunday]}]\n";
	struct am_dispatch *d = mk(C, NULL, sil);
	const char *spec = "alertname=\"Disk\"\nuntil: 10m\nauthor: t\n";
	cr_assert_eq(am_silences_set(sil, "disk", spec, strlen(spec), NULL, NULL), 0);
	put1(d, "{alertname=\"Disk\",i=\"1\"}", now_ms, 0);
	at(d, 1);
	cr_assert_eq(S.n, 0, "silenced");
	struct obs_buf m;
	obs_buf_init(&m);
	cr_assert_eq(am_dispatch_render_alerts(d, &m), 0);
	cr_assert(strstr(m.data, " suppressed {alertname=\"Disk\",i=\"1\"} silencedBy="), "%s", m.data);
	obs_buf_release(&m);
	cr_assert_eq(am_silences_expire(sil, "disk"), 0);
	at(d, 62);
	cr_assert_eq(S.n, 1, "notified once the silence expired");
	/* 2027-01-16 is a Saturday: the ops route is muted, then notifies on Monday */
	int64_t sat = 1800000000000LL + 86400000LL;   /* 2027-01-16T08:00Z */
	now_ms = sat;
	put1(d, "{alertname=\"Ops\",team=\"ops\"}", now_ms, 0);
	am_dispatch_tick(d);
	cr_assert_eq(S.n, 1, "muted on the weekend");
	struct am_dispatch_stats st;
	am_dispatch_stats(d, &st);
	cr_assert_geq(st.muted, 1);
	now_ms = sat + 2 * 86400000LL;   /* Monday */
	put1(d, "{alertname=\"Ops\",team=\"ops\"}", sat, 0);
	put1(d, "{alertname=\"Disk\",i=\"1\"}", 1800000000000LL, 0);
	am_dispatch_tick(d);
	cr_assert_eq(S.n, 2, "Monday: the ops group notifies, the disk group is deduplicated");
	cr_assert(strstr(S.json[1], "\"alertname\":\"Ops\""));
	am_dispatch_free(d);
	am_silences_free(sil);
	reset();
}

Test(am_dispatch, nflog_survives_restart_and_failed_delivery_retries)
{
	reset();
	char dir[] = "/tmp/test_am_dispatch.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	struct am_dispatch *d = mk(BASIC, dir, NULL);
	put1(d, "{alertname=\"A\"}", now_ms, 0);
	S.fail = 1;
	at(d, 30);
	cr_assert_eq(S.n, 0);
	struct am_dispatch_stats st;
	am_dispatch_stats(d, &st);
	cr_assert_eq(st.failed, 1);
	S.fail = 0;
	at(d, 330);
	cr_assert_eq(S.n, 1, "retried at the next group_interval");
	am_dispatch_free(d);
	/* a restart: the alert comes back from the evaluator, the log says it was sent */
	d = mk(BASIC, dir, NULL);
	put1(d, "{alertname=\"A\"}", 1800000000000LL, 0);
	at(d, 400);
	at(d, 800);
	cr_assert_eq(S.n, 1, "not re-notified after a restart");
	am_dispatch_free(d);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "echo garbage > %s/nflog", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(am_dispatch_new(dir, &clk, NULL, record, NULL, &d), -EBADMSG);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	reset();
}

Test(am_dispatch, exec_refused_when_untrusted_and_resolve_timeout)
{
	reset();
	const char *C =
		"global: {resolve_timeout: 2m}\n"
		"route:\n  receiver: x\n  group_wait: 0s\n  group_interval: 1m\n"
		"receivers:\n  - name: x\n    exec_configs: [{command: [/bin/true]}]\n";
	struct am_dispatch *d;
	cr_assert_eq(am_dispatch_new(NULL, &clk, NULL, record, NULL, &d), 0);
	am_dispatch_set_config(d, cfg(C), 0);
	put1(d, "{alertname=\"A\"}", now_ms, 0);
	at(d, 1);
	cr_assert_eq(S.n, 0);
	struct am_dispatch_stats st;
	am_dispatch_stats(d, &st);
	cr_assert_eq(st.refused, 1);
	am_dispatch_set_config(d, cfg(C), 1);
	at(d, 2);
	cr_assert_eq(S.n, 1, "trusted: the hook runs");
	/* not refreshed for resolve_timeout: resolved by itself */
	at(d, 200);
	cr_assert_eq(S.n, 2);
	cr_assert_eq(S.nresolved[1], 1);
	am_dispatch_free(d);
	reset();
}

Test(am_dispatch, max_alerts_truncates)
{
	struct am_alert a[3];
	const struct am_alert *p[3];
	a[0] = A("{alertname=\"X\",i=\"1\"}", 1000, 0);
	a[1] = A("{alertname=\"X\",i=\"2\"}", 1000, 0);
	a[2] = A("{alertname=\"X\",i=\"3\"}", 1000, 5000);
	for (int i = 0; i < 3; i++)
		p[i] = &a[i];
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_payload_json("r", "{}:{}", NULL, p, 3, 2, 10000, "http://h/", &b), 0);
	json_t *j = json_loads(b.data, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "truncatedAlerts")), 1);
	cr_assert_eq(json_array_size(json_object_get(j, "alerts")), 2);
	cr_assert_str_eq(json_string_value(json_object_get(j, "externalURL")), "http://h/");
	json_decref(j);
	obs_buf_release(&b);
	for (int i = 0; i < 3; i++)
		am_alert_release(&a[i]);
}

Test(am_dispatch, silence_running_out_by_itself_releases_the_alert)
{
	reset();
	struct am_silences *sil;
	cr_assert_eq(am_silences_open(NULL, &clk, 0, &sil), 0);
	const char *C = "global: {resolve_timeout: 1d}\n"
			"route: {receiver: r, group_wait: 0s, group_interval: 1m}\n"
			"receivers: [{name: r, webhook_configs: [{url: 'http://x/'}]}]\n";
	struct am_dispatch *d = mk(C, NULL, sil);
	const char *spec = "alertname=\"Disk\"\nuntil: 10m\n";
	cr_assert_eq(am_silences_set(sil, "disk", spec, strlen(spec), NULL, NULL), 0);
	put1(d, "{alertname=\"Disk\"}", now_ms, 0);
	for (int t = 1; t < 600; t += 60)
		at(d, t);
	cr_assert_eq(S.n, 0, "silenced (the cached answer holds while nothing changes)");
	at(d, 601);
	at(d, 661);
	cr_assert_eq(S.n, 1, "the silence ended at 10m: notified at the next flush");
	am_dispatch_free(d);
	am_silences_free(sil);
	reset();
}
