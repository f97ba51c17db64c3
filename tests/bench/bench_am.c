/* bench_am.c — the dispatcher at scale, on a test clock (no sleeps):
 * 10,000 alerts in 100 groups, the first flush (100 notifications), a
 * steady tick with nothing new (all deduplicated), and the same with 1,000
 * active silences and an inhibition rule. Prints one "name value unit" line
 * per figure.
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Ilib tests/bench/bench_am.c build/libobs.a \
 *      $(pkg-config --libs libzstd libpcre2-8 libxxhash yaml-0.1 jansson libcurl) \
 *      -lroaring -lm -pthread -o /tmp/bench_am && /tmp/bench_am */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/dispatch.h"

static int64_t now_ms = 1800000000000LL;
static int64_t tick_now(void *ctx) { (void)ctx; return now_ms; }
static long sent, sent_alerts;

static int sink(void *ctx, const struct am_delivery *d)
{
	sent++;
	sent_alerts += (long)d->nalerts;
	return 0;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static const char *CFG =
	"global: {resolve_timeout: 1d}\n"
	"route: {receiver: r, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}\n"
	"receivers: [{name: r, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]\n"
	"inhibit_rules: [{source_matchers: [severity=critical], target_matchers: [severity=warning], equal: [instance]}]\n";

static void run(int nsil)
{
	struct am_clock clk = { tick_now, NULL };
	struct am_silences *sil = NULL;
	am_silences_open(NULL, &clk, 0, &sil);
	char buf[256];
	for (int i = 0; i < nsil; i++) {
		snprintf(buf, sizeof(buf), "alertname=\"Rule%03d\",instance=~\"never-%d|x\"\nuntil: 1d\n", i % 100, i);
		char name[32];
		snprintf(name, sizeof(name), "s%d", i);
		am_silences_set(sil, name, buf, strlen(buf), NULL, NULL);
	}
	struct am_dispatch *d;
	am_dispatch_new(NULL, &clk, sil, sink, NULL, &d);
	struct am_config *c;
	struct obs_buf err;
	obs_buf_init(&err);
	if (am_config_parse(CFG, strlen(CFG), &c, &err)) {
		fprintf(stderr, "bench_am: %s\n", err.data);
		exit(2);
	}
	am_dispatch_set_config(d, c, 1);
	enum { N = 10000 };
	struct am_alert *v = calloc(N, sizeof(*v));
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof(buf), "{alertname=\"Rule%03d\",instance=\"host-%d:9100\",severity=\"warning\"}", i % 100, i);
		am_alert_init(&v[i]);
		obs_labels_parse(buf, strlen(buf), &v[i].labels, NULL);
		v[i].starts_at = now_ms;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	am_dispatch_put(d, v, N);
	double put = ms_since(&t0);
	now_ms += 30000;
	sent = sent_alerts = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	am_dispatch_tick(d);
	double first = ms_since(&t0);
	long first_sent = sent, first_alerts = sent_alerts;
	now_ms += 300000;
	am_dispatch_put(d, v, N);   /* the evaluator's resend */
	sent = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	am_dispatch_tick(d);
	double steady = ms_since(&t0);
	printf("silences %d\n", nsil);
	printf("put_10000_alerts %.2f ms\n", put);
	printf("first_flush %.2f ms (%ld notifications, %ld alerts)\n", first, first_sent, first_alerts);
	printf("steady_tick %.2f ms (%ld notifications)\n", steady, sent);
	for (int i = 0; i < N; i++)
		am_alert_release(&v[i]);
	free(v);
	am_dispatch_free(d);
	am_silences_free(sil);
	obs_buf_release(&err);
}

int main(void)
{
	run(0);
	run(1000);
	return 0;
}
