/* test_alert_core.c — the alert instance (lib/alert/alert.h): fingerprint,
 * Prometheus' resend rule, copies and the alerts/events line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "alert/alert.h"

static void mk(struct obs_labels *l, const char *text)
{
	const char *why = NULL;
	cr_assert_eq(obs_labels_parse(text, strlen(text), l, &why), 0, "%s", why ? why : "");
}

Test(alert_core, fingerprint_is_label_identity)
{
	struct obs_labels a, b, c;
	mk(&a, "{alertname=\"X\",job=\"a\"}");
	mk(&b, "{job=\"a\",alertname=\"X\"}");
	mk(&c, "{alertname=\"X\",job=\"b\"}");
	cr_assert_eq(obs_alert_fingerprint(&a), obs_alert_fingerprint(&b));
	cr_assert_neq(obs_alert_fingerprint(&a), obs_alert_fingerprint(&c));
	obs_labels_release(&a);
	obs_labels_release(&b);
	obs_labels_release(&c);
}

Test(alert_core, needs_sending_follows_prometheus)
{
	struct obs_alert a = { .state = OBS_ALERT_PENDING };
	cr_assert_eq(obs_alert_needs_sending(&a, 1000, 60000), 0, "pending is never sent");
	a.state = OBS_ALERT_FIRING;
	a.last_sent_at = 0;
	cr_assert_eq(obs_alert_needs_sending(&a, 60000, 60000), 1);
	a.last_sent_at = 30000;
	cr_assert_eq(obs_alert_needs_sending(&a, 60000, 60000), 0, "within the resend delay");
	a.state = OBS_ALERT_INACTIVE;
	a.resolved_at = 40000;
	cr_assert_eq(obs_alert_needs_sending(&a, 41000, 60000), 1, "a resolve is sent at once");
}

Test(alert_core, copy_is_deep_and_event_line)
{
	struct obs_alert a = { .state = OBS_ALERT_FIRING, .value = 1.5, .rule = "HighLoad" };
	mk(&a.labels, "{alertname=\"HighLoad\",instance=\"h:9100\"}");
	mk(&a.annotations, "{summary=\"load is high\"}");
	struct obs_alert b;
	cr_assert_eq(obs_alert_copy(&b, &a), 0);
	obs_alert_release(&a);
	cr_assert_str_eq(obs_labels_get(&b.labels, "instance"), "h:9100");
	cr_assert_str_eq(obs_labels_get(&b.annotations, "summary"), "load is high");
	struct obs_alert_event ev = { .t = 1795255200000LL, .kind = OBS_ALERT_EV_FIRING, .alert = &b };
	struct obs_buf out;
	obs_buf_init(&out);
	cr_assert_eq(obs_alert_event_format(&ev, &out), 0);
	cr_assert_str_eq(out.data, "2026-11-21T10:00:00.000Z firing HighLoad "
				   "{alertname=\"HighLoad\",instance=\"h:9100\"} 1.5\n");
	obs_buf_release(&out);
	obs_alert_release(&b);
	obs_alert_release(NULL);
}
