/* alert.c — the alert instance: names, fingerprint, copies, the event line. */
#include "alert/alert.h"
#include "core/num.h"
#include "core/obstime.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

const char *obs_alert_state_name(enum obs_alert_state s)
{
	switch (s) {
	case OBS_ALERT_PENDING: return "pending";
	case OBS_ALERT_FIRING: return "firing";
	default: return "inactive";
	}
}

const char *obs_alert_event_name(enum obs_alert_event_kind k)
{
	switch (k) {
	case OBS_ALERT_EV_PENDING: return "pending";
	case OBS_ALERT_EV_FIRING: return "firing";
	case OBS_ALERT_EV_RESOLVED: return "resolved";
	default: return "inactive";
	}
}

uint64_t obs_alert_fingerprint(const struct obs_labels *l)
{
	struct obs_buf b;
	obs_buf_init(&b);
	uint64_t h;
	if (obs_labels_format(l, &b) < 0) {
		/* out of memory: hash the pairs directly */
		XXH64_state_t *st = XXH64_createState();
		if (!st)
			return 0;
		XXH64_reset(st, 0);
		for (size_t i = 0; i < l->n; i++) {
			XXH64_update(st, l->v[i].name, strlen(l->v[i].name) + 1);
			XXH64_update(st, l->v[i].value, strlen(l->v[i].value) + 1);
		}
		h = XXH64_digest(st);
		XXH64_freeState(st);
		return h;
	}
	h = XXH64(b.data, b.len, 0);
	obs_buf_release(&b);
	return h;
}

int obs_alert_needs_sending(const struct obs_alert *a, int64_t now, int64_t resend_ms)
{
	if (a->state == OBS_ALERT_PENDING)
		return 0;
	if (a->resolved_at > a->last_sent_at)
		return 1;
	return a->last_sent_at + resend_ms <= now;
}

int obs_alert_copy(struct obs_alert *dst, const struct obs_alert *src)
{
	*dst = *src;
	obs_labels_init(&dst->labels);
	obs_labels_init(&dst->annotations);
	if (obs_labels_copy(&dst->labels, &src->labels) < 0 ||
	    obs_labels_copy(&dst->annotations, &src->annotations) < 0) {
		obs_alert_release(dst);
		return -ENOMEM;
	}
	return 0;
}

void obs_alert_release(struct obs_alert *a)
{
	if (!a)
		return;
	obs_labels_release(&a->labels);
	obs_labels_release(&a->annotations);
	memset(a, 0, sizeof *a);
}

int obs_alert_event_format(const struct obs_alert_event *ev, struct obs_buf *out)
{
	char tb[40], vb[40];
	obs_time_format(ev->t, OBS_TIME_RFC3339, tb);
	obs_num_format(ev->alert->value, vb);
	const char *name = obs_labels_get(&ev->alert->labels, "alertname");
	if (!name)
		name = ev->alert->rule ? ev->alert->rule : "";
	size_t mark = out->len;
	int r = obs_buf_printf(out, "%s %s %s ", tb, obs_alert_event_name(ev->kind), name);
	if (!r)
		r = obs_labels_format(&ev->alert->labels, out);
	if (!r)
		r = obs_buf_printf(out, " %s\n", vb);
	if (r < 0) {
		out->len = mark;
		if (out->cap)
			out->data[mark] = 0;
	}
	return r;
}
