/* test_am_notify.c — deliveries and the notifier thread: the exec hook's
 * environment and stdin, its failures (exit status, timeout, missing
 * program), a webhook to a closed port (retried, then an error), the
 * Alertmanager v2 body, and the threaded notifier end to end with an exec
 * receiver (config refused when bad, the old one kept; queue bound). */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alert/notify.h"
#include "alert/receivers.h"
#include "core/obstime.h"

static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_am_notify.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static struct am_alert A(const char *labels, int64_t starts, int64_t ends)
{
	struct am_alert a;
	am_alert_init(&a);
	cr_assert_eq(obs_labels_parse(labels, strlen(labels), &a.labels, NULL), 0);
	a.starts_at = starts;
	a.ends_at = ends;
	return a;
}

static struct am_delivery D(const struct am_exec *ex, const char *json, struct obs_labels *gl)
{
	struct am_delivery d = { .receiver = "ops", .kind = AM_INT_EXEC, .exec = ex,
				 .group_key = "{}:{alertname=\"X\"}", .group_labels = gl, .nalerts = 3,
				 .nfiring = 2, .nresolved = 1, .json = json, .json_len = strlen(json) };
	return d;
}

Test(am_notify, exec_environment_and_stdin)
{
	mkdir_tmp();
	char script[256], out[256];
	snprintf(script, sizeof(script), "%s/hook.sh", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	FILE *f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\nenv | grep '^ALERT_' | sort > \"$1\"\necho --- >> \"$1\"\ncat >> \"$1\"\n");
	fclose(f);
	chmod(script, 0700);
	char *argv[] = { script, out, NULL };
	struct am_exec ex = { .argv = { argv, 2 }, .send_resolved = 1, .timeout = 5000 };
	struct obs_labels gl;
	cr_assert_eq(obs_labels_parse("{alertname=\"X\"}", 15, &gl, NULL), 0);
	struct am_delivery d = D(&ex, "{\"version\":\"4\"}", &gl);
	struct obs_buf why;
	obs_buf_init(&why);
	cr_assert_eq(am_deliver_exec(&d, "http://obs/", &why), 0, "%s", why.data);
	const char *got = slurp(out);
	cr_assert_not_null(got);
	cr_assert_str_eq(got, "ALERT_COUNT=3\nALERT_EXTERNAL_URL=http://obs/\nALERT_FIRING=2\n"
			      "ALERT_GROUP_KEY={}:{alertname=\"X\"}\nALERT_GROUP_LABELS={alertname=\"X\"}\n"
			      "ALERT_RECEIVER=ops\nALERT_RESOLVED=1\nALERT_STATUS=firing\n---\n{\"version\":\"4\"}");
	obs_labels_release(&gl);
	obs_buf_release(&why);
	rm_tmp();
}

Test(am_notify, exec_failures)
{
	struct obs_buf why;
	obs_buf_init(&why);
	char *a1[] = { "/bin/sh", "-c", "exit 3", NULL };
	struct am_exec ex = { .argv = { a1, 3 }, .timeout = 5000 };
	struct am_delivery d = D(&ex, "{}", NULL);
	cr_assert_eq(am_deliver_exec(&d, NULL, &why), -EIO);
	cr_assert_str_eq(why.data, "exec hook '/bin/sh' exited with status 3");
	obs_buf_reset(&why);
	char *a2[] = { "/bin/sh", "-c", "sleep 5", NULL };
	struct am_exec ex2 = { .argv = { a2, 3 }, .timeout = 200 };
	d = D(&ex2, "{}", NULL);
	int64_t t0 = obs_time_now();
	cr_assert_eq(am_deliver_exec(&d, NULL, &why), -ETIMEDOUT);
	cr_assert_lt(obs_time_now() - t0, 2000, "killed at the timeout");
	obs_buf_reset(&why);
	char *a3[] = { "/nonexistent/hook", NULL };
	struct am_exec ex3 = { .argv = { a3, 1 }, .timeout = 1000 };
	d = D(&ex3, "{}", NULL);
	cr_assert_eq(am_deliver_exec(&d, NULL, &why), -ENOENT);
	cr_assert(strstr(why.data, "cannot run '/nonexistent/hook'"));
	/* a hook that never reads a large stdin still succeeds */
	char *big = malloc(1 << 20);
	memset(big, 'x', (1 << 20) - 1);
	big[(1 << 20) - 1] = 0;
	char *a4[] = { "/bin/true", NULL };
	struct am_exec ex4 = { .argv = { a4, 1 }, .timeout = 3000 };
	d = D(&ex4, big, NULL);
	obs_buf_reset(&why);
	cr_assert_eq(am_deliver_exec(&d, NULL, &why), 0, "%s", why.data ? why.data : "");
	free(big);
	obs_buf_release(&why);
}

Test(am_notify, webhook_refused_and_forward_body)
{
	struct am_webhook wh = { .url = "http://127.0.0.1:1/hook", .send_resolved = 1, .timeout = 500 };
	struct am_delivery d = { .kind = AM_INT_WEBHOOK, .webhook = &wh, .json = "{}", .json_len = 2 };
	struct obs_buf why;
	obs_buf_init(&why);
	int64_t t0 = obs_time_now();
	cr_assert_eq(am_deliver_webhook(&d, &why), -ECONNREFUSED);
	cr_assert_geq(obs_time_now() - t0, 3000, "retried with backoff 0.5+1+2 s");
	cr_assert(strstr(why.data, "post to 'http://127.0.0.1:1/hook'"), "%s", why.data);
	obs_buf_release(&why);

	struct am_alert a[2] = { A("{alertname=\"X\",job=\"a\"}", 1000, 0), A("{alertname=\"Y\"}", 1000, 61000) };
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(am_forward_json(a, 2, &b), 0);
	json_t *j = json_loads(b.data, 0, NULL);
	cr_assert_eq(json_array_size(j), 2);
	json_t *x = json_array_get(j, 0), *y = json_array_get(j, 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(x, "labels"), "job")), "a");
	cr_assert_str_eq(json_string_value(json_object_get(x, "startsAt")), "1970-01-01T00:00:01.000Z");
	cr_assert_null(json_object_get(x, "endsAt"), "firing without an end");
	cr_assert_str_eq(json_string_value(json_object_get(y, "endsAt")), "1970-01-01T00:01:01.000Z");
	json_decref(j);
	obs_buf_release(&b);
	am_alert_release(&a[0]);
	am_alert_release(&a[1]);
}

Test(am_notify, threaded_notifier_exec_end_to_end)
{
	mkdir_tmp();
	char cfgtext[1024], out[256];
	snprintf(out, sizeof(out), "%s/calls", dir);
	snprintf(cfgtext, sizeof(cfgtext),
		 "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n"
		 "receivers:\n  - name: hook\n    exec_configs:\n"
		 "      - command: [/bin/sh, -c, 'echo \"$ALERT_STATUS $ALERT_COUNT\" >> %s']\n", out);
	struct obs_errlog *el = obs_errlog_new(16);
	struct am_notifier_opts o = { .state_dir = dir, .errlog = el };
	struct am_notifier *n;
	cr_assert_eq(am_notifier_new(&o, &n), 0);
	struct obs_buf err;
	obs_buf_init(&err);
	cr_assert_eq(am_notifier_set_config(n, cfgtext, strlen(cfgtext), 1, &err), 0, "%s", err.data);
	cr_assert_eq(am_notifier_set_config(n, "route: {receiver: nope}\n", 24, 1, &err), -EINVAL);
	cr_assert(strstr(err.data, "undefined receiver \"nope\""));
	int64_t now = obs_time_now();
	struct am_alert v[100];
	char lb[80];
	for (int i = 0; i < 100; i++) {
		snprintf(lb, sizeof(lb), "{alertname=\"Many\",i=\"%d\"}", i);
		v[i] = A(lb, now, now + 3600000);
	}
	cr_assert_eq(am_notifier_put(n, v, 100, 0), 0);
	cr_assert_eq(am_notifier_sync(n, 5000), 0);
	const char *got = NULL;
	for (int i = 0; i < 200 && !(got = slurp(out)); i++)
		usleep(20000);
	if (!got) {
		struct obs_buf e;
		obs_buf_init(&e);
		obs_errlog_render(el, &e);
		cr_assert_fail("the hook did not run: %s", e.data ? e.data : "");
	}
	cr_assert_str_eq(got, "firing 100\n", "one call for the 100 alerts of the group");
	struct obs_buf st;
	obs_buf_init(&st);
	cr_assert_eq(am_notifier_render_stats(n, &st), 0);
	cr_assert(strstr(st.data, "notifications 1\n"), "%s", st.data);
	cr_assert(strstr(st.data, "groups 1\n"));
	obs_buf_release(&st);
	for (int i = 0; i < 100; i++)
		am_alert_release(&v[i]);
	am_notifier_free(n);
	/* the notification log was saved */
	char nf[256];
	snprintf(nf, sizeof(nf), "%s/nflog", dir);
	struct stat sb;
	cr_assert_eq(stat(nf, &sb), 0);
	obs_buf_release(&err);
	obs_errlog_free(el);
	rm_tmp();
}

Test(am_notify, queue_bound_drops_oldest)
{
	struct obs_errlog *el = obs_errlog_new(16);
	struct am_notifier_opts o = { .no_thread = 1, .queue_max = 2, .errlog = el };
	struct am_notifier *n;
	cr_assert_eq(am_notifier_new(&o, &n), 0);
	struct am_alert a = A("{alertname=\"Q\"}", 1000, 0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(am_notifier_put(n, &a, 1, 0), 0);
	struct obs_buf st;
	obs_buf_init(&st);
	cr_assert_eq(am_notifier_render_stats(n, &st), 0);
	cr_assert(strstr(st.data, "queued 2\n"), "%s", st.data);
	cr_assert(strstr(st.data, "dropped 3\n"), "%s", st.data);
	cr_assert_eq(obs_errlog_total(el), 3);
	cr_assert_eq(am_notifier_sync(n, 1000), 0);
	obs_buf_reset(&st);
	cr_assert_eq(am_notifier_render_stats(n, &st), 0);
	cr_assert(strstr(st.data, "queued 0\n"), "%s", st.data);
	cr_assert(strstr(st.data, "alerts 1\n"), "%s", st.data);
	obs_buf_release(&st);
	am_alert_release(&a);
	am_notifier_free(n);
	obs_errlog_free(el);
}

Test(am_notify, status_reads_do_not_wait_for_a_slow_hook)
{
	const char *cfgtext =
		"route: {receiver: slow, group_wait: 0s}\n"
		"receivers: [{name: slow, exec_configs: [{command: [/bin/sleep, '2']}]}]\n";
	struct am_notifier_opts o = { 0 };
	struct am_notifier *n;
	cr_assert_eq(am_notifier_new(&o, &n), 0);
	cr_assert_eq(am_notifier_set_config(n, cfgtext, strlen(cfgtext), 1, NULL), 0);
	int64_t now = obs_time_now();
	struct am_alert a = A("{alertname=\"Slow\"}", now, now + 3600000);
	cr_assert_eq(am_notifier_put(n, &a, 1, 0), 0);
	usleep(300000);   /* the hook is running now */
	struct obs_buf b;
	obs_buf_init(&b);
	int64_t t0 = obs_time_now();
	cr_assert_eq(am_notifier_render_alerts(n, &b), 0);
	cr_assert_eq(am_notifier_render_stats(n, &b), 0);
	cr_assert_lt(obs_time_now() - t0, 500, "a status read waited for the hook");
	cr_assert(strstr(b.data, "{alertname=\"Slow\"}"), "%s", b.data);
	obs_buf_release(&b);
	am_alert_release(&a);
	am_notifier_free(n);
}
