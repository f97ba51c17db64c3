/* test_am_service.c — the alerts/ service the fs layer calls: config write
 * (validation, errors lines, exec refused for a non-owner, persistence with
 * the writer), silences through it (history, restart), SLOs (saved, handed
 * to the rule manager as a rule group, removed). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/amsvc.h"
#include "core/fileio.h"

static char dir[64];
static struct obs_errlog *el;
static char last_file[64];
static char *last_yaml;
static int handovers;

static int slo_rules(void *ctx, const char *file, const char *yaml, size_t n)
{
	snprintf(last_file, sizeof(last_file), "%s", file);
	free(last_yaml);
	last_yaml = yaml ? strndup(yaml, n) : NULL;
	handovers++;
	return 0;
}

static struct am_service *open_svc(void)
{
	struct am_service_opts o = { .datadir = dir, .owner = 1000, .errlog = el, .no_thread = 1,
				     .slo_rules = slo_rules };
	struct am_service *s;
	cr_assert_eq(am_service_open(&o, &s), 0);
	return s;
}

static void init(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_am_service.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	el = obs_errlog_new(64);
	handovers = 0;
}

static void fini(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	obs_errlog_free(el);
	free(last_yaml);
	last_yaml = NULL;
}

static const char *errors(void)
{
	static struct obs_buf b;
	obs_buf_release(&b);
	obs_buf_init(&b);
	obs_errlog_render(el, &b);
	return b.data ? b.data : "";
}

Test(am_service, config_write_validate_trust_persist, .init = init, .fini = fini)
{
	struct am_service *s = open_svc();
	const char *bad = "route:\n  receiver: x\n  group_wait: soon\nreceivers: [{name: x}]\n";
	cr_assert_eq(am_service_config_write(s, bad, strlen(bad), 1000), -EINVAL);
	cr_assert(strstr(errors(), "alerts/config: line 3: not a valid duration string: \"soon\""), "%s", errors());
	const char *ex = "route: {receiver: x}\nreceivers:\n  - name: x\n    exec_configs: [{command: [/bin/true]}]\n";
	cr_assert_eq(am_service_config_write(s, ex, strlen(ex), 1001), -EPERM, "exec from a non-owner");
	cr_assert(strstr(errors(), "exec receivers are honoured only in a config written by the mount owner"));
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_service_config_read(s, &b), 0);
	cr_assert_eq(b.len, 0, "nothing was accepted");
	/* a config without exec from another user is fine */
	const char *plain = "route: {receiver: x}\nreceivers: [{name: x}]\n";
	cr_assert_eq(am_service_config_write(s, plain, strlen(plain), 1001), 0);
	cr_assert_eq(am_service_config_write(s, ex, strlen(ex), 1000), 0);
	cr_assert_eq(am_service_config_read(s, &b), 0);
	cr_assert_str_eq(b.data, ex);
	am_service_close(s);
	/* restart: the text and its writer are back */
	s = open_svc();
	obs_buf_reset(&b);
	cr_assert_eq(am_service_config_read(s, &b), 0);
	cr_assert_str_eq(b.data, ex);
	char p[128];
	snprintf(p, sizeof(p), "%s/alerts/config.owner", dir);
	obs_buf_reset(&b);
	cr_assert_eq(obs_read_file_buf(p, 0, &b), 0);
	cr_assert_str_eq(b.data, "uid 1000\n");
	cr_assert_eq(am_service_config_remove(s), 0);
	obs_buf_reset(&b);
	cr_assert_eq(am_service_config_read(s, &b), 0);
	cr_assert_eq(b.len, 0);
	obs_buf_release(&b);
	am_service_close(s);
}

Test(am_service, silences_through_the_service, .init = init, .fini = fini)
{
	struct am_service *s = open_svc();
	const char *t = "alertname=\"Disk\"\nuntil: 2h\nauthor: ops\n";
	cr_assert_eq(am_service_silence_write(s, "disk", t, strlen(t)), 0);
	cr_assert_eq(am_service_silence_write(s, "bad", "x=~\".*\"\n", 8), -EINVAL);
	cr_assert(strstr(errors(), "alerts/silences/bad: at least one matcher must not match the empty string"), "%s", errors());
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_service_silence_list(s, &b), 0);
	cr_assert_str_eq(b.data, "disk\n");
	am_service_close(s);
	s = open_svc();
	obs_buf_reset(&b);
	cr_assert_eq(am_service_silence_read(s, "disk", &b), 0);
	cr_assert(strstr(b.data, "createdBy: ops\n"));
	cr_assert_eq(am_service_silence_remove(s, "disk"), 0);
	obs_buf_reset(&b);
	cr_assert_eq(am_service_silence_list(s, &b), 0);
	cr_assert_eq(b.len, 0);
	obs_buf_reset(&b);
	cr_assert_eq(am_service_silence_history(s, &b), 0);
	cr_assert(strstr(b.data, "status: expired\n"), "%s", b.data);
	obs_buf_release(&b);
	am_service_close(s);
}

Test(am_service, slos_become_rule_groups, .init = init, .fini = fini)
{
	struct am_service *s = open_svc();
	const char *t = "objective: 99.9\nerror_ratio: sum(rate(e[$window])) / sum(rate(t[$window]))\n";
	cr_assert_eq(am_service_slo_write(s, "api", t, strlen(t)), 0);
	cr_assert_str_eq(last_file, "slo:api");
	cr_assert_not_null(last_yaml);
	cr_assert(strstr(last_yaml, "record: slo:sli_error:ratio_rate5m"));
	cr_assert_eq(am_service_slo_write(s, "bad", "objective: 99.9\n", 16), -EINVAL);
	cr_assert(strstr(errors(), "alerts/slos/bad: give either error_ratio"), "%s", errors());
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_service_slo_list(s, &b), 0);
	cr_assert_str_eq(b.data, "api\n");
	obs_buf_reset(&b);
	cr_assert_eq(am_service_slo_read(s, "api", &b), 0);
	cr_assert(strstr(b.data, "slo api\nobjective 99.9%\n"), "%s", b.data);
	cr_assert(strstr(b.data, "error_ratio unknown\n"));
	cr_assert(strstr(b.data, "---\n# generated from alerts/slos/api"));
	am_service_close(s);
	/* restart: loaded from DATADIR/alerts/slos and handed over again */
	handovers = 0;
	s = open_svc();
	cr_assert_eq(handovers, 1);
	cr_assert_str_eq(last_file, "slo:api");
	cr_assert_eq(am_service_slo_remove(s, "api"), 0);
	cr_assert_null(last_yaml, "removed from the rule manager");
	cr_assert_eq(am_service_slo_read(s, "api", &b), -ENOENT);
	cr_assert_eq(am_service_slo_remove(s, "api"), -ENOENT);
	obs_buf_release(&b);
	am_service_close(s);
}

/* The evaluator's sink: pending alerts stay out; firing and resolved ones
 * reach the dispatcher with Prometheus' startsAt/endsAt. */
Test(am_service, evaluator_sink, .init = init, .fini = fini)
{
	struct am_service *s = open_svc();
	struct obs_alert_sink k = am_service_sink(s);
	struct obs_alert a[3];
	memset(a, 0, sizeof(a));
	const char *ls[3] = { "{alertname=\"A\",i=\"1\"}", "{alertname=\"A\",i=\"2\"}", "{alertname=\"A\",i=\"3\"}" };
	int64_t now = 1800000000000LL;
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(obs_labels_parse(ls[i], strlen(ls[i]), &a[i].labels, NULL), 0);
		a[i].active_at = now - 600000;
		a[i].last_sent_at = now;
	}
	a[0].state = OBS_ALERT_PENDING;
	a[1].state = OBS_ALERT_FIRING;
	a[1].fired_at = now - 300000;
	a[1].valid_until = now + 240000;
	a[2].state = OBS_ALERT_INACTIVE;
	a[2].fired_at = now - 300000;
	a[2].resolved_at = now - 1000;
	const struct obs_alert *p[3] = { &a[0], &a[1], &a[2] };
	k.send(k.ctx, "f.yml", "g", now, p, 3);
	struct am_notifier *n = am_service_notifier(s);
	cr_assert_eq(am_notifier_sync(n, 5000), 0);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_notifier_render_alerts(n, &b), 0);
	cr_assert_null(strstr(b.data, "i=\"1\""), "pending alerts are not sent: %s", b.data);
	cr_assert(strstr(b.data, " {alertname=\"A\",i=\"2\"}"), "%s", b.data);
	obs_buf_release(&b);
	for (int i = 0; i < 3; i++)
		obs_labels_release(&a[i].labels);
	am_service_close(s);
}
