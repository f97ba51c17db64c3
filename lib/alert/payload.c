/* payload.c — the Alertmanager webhook payload (version "4") with jansson. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/dispatch.h"
#include "core/obstime.h"

static json_t *labels_obj(const struct obs_labels *l)
{
	json_t *o = json_object();
	for (size_t i = 0; o && l && i < l->n; i++)
		if (json_object_set_new(o, l->v[i].name, json_string(l->v[i].value))) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* labels present with the same value in every set */
static json_t *common(const struct am_alert *const *a, size_t n, int annotations)
{
	json_t *o = json_object();
	if (!o || n == 0)
		return o;
	const struct obs_labels *first = annotations ? &a[0]->annotations : &a[0]->labels;
	for (size_t i = 0; i < first->n; i++) {
		int all = 1;
		for (size_t k = 1; k < n && all; k++) {
			const char *v = obs_labels_get(annotations ? &a[k]->annotations : &a[k]->labels,
						       first->v[i].name);
			all = v && strcmp(v, first->v[i].value) == 0;
		}
		if (all && json_object_set_new(o, first->v[i].name, json_string(first->v[i].value))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *time_str(int64_t t)
{
	char b[40];
	if (t == 0)
		return json_string("0001-01-01T00:00:00Z");
	obs_time_format(t, OBS_TIME_RFC3339, b);
	return json_string(b);
}

int am_payload_json(const char *receiver, const char *group_key, const struct obs_labels *glabels,
		    const struct am_alert *const *alerts, size_t n, int max_alerts, int64_t now,
		    const char *external_url, struct obs_buf *out)
{
	size_t shown = max_alerts > 0 && (size_t)max_alerts < n ? (size_t)max_alerts : n;
	int firing = 0;
	for (size_t i = 0; i < n; i++)
		firing |= !am_alert_resolved(alerts[i], now);
	json_t *root = json_object(), *arr = json_array();
	int bad = !root || !arr;
	for (size_t i = 0; !bad && i < shown; i++) {
		const struct am_alert *a = alerts[i];
		char fp[17];
		snprintf(fp, sizeof(fp), "%016" PRIx64, am_fingerprint(&a->labels));
		json_t *o = json_object();
		bad = !o ||
		      json_object_set_new(o, "status", json_string(am_alert_resolved(a, now) ? "resolved" : "firing")) ||
		      json_object_set_new(o, "labels", labels_obj(&a->labels)) ||
		      json_object_set_new(o, "annotations", labels_obj(&a->annotations)) ||
		      json_object_set_new(o, "startsAt", time_str(a->starts_at)) ||
		      json_object_set_new(o, "endsAt", time_str(a->ends_at)) ||
		      json_object_set_new(o, "generatorURL", json_string(a->generator_url ? a->generator_url : "")) ||
		      json_object_set_new(o, "fingerprint", json_string(fp)) ||
		      json_array_append_new(arr, o);
	}
	if (!bad)
		bad = json_object_set_new(root, "receiver", json_string(receiver)) ||
		      json_object_set_new(root, "status", json_string(firing ? "firing" : "resolved")) ||
		      json_object_set_new(root, "alerts", arr) ||
		      json_object_set_new(root, "groupLabels", labels_obj(glabels)) ||
		      json_object_set_new(root, "commonLabels", common(alerts, n, 0)) ||
		      json_object_set_new(root, "commonAnnotations", common(alerts, n, 1)) ||
		      json_object_set_new(root, "externalURL", json_string(external_url ? external_url : "")) ||
		      json_object_set_new(root, "version", json_string("4")) ||
		      json_object_set_new(root, "groupKey", json_string(group_key)) ||
		      json_object_set_new(root, "truncatedAlerts", json_integer((json_int_t)(n - shown)));
	else
		json_decref(arr);
	char *s = bad ? NULL : json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!s)
		return -ENOMEM;
	int rc = obs_buf_puts(out, s) ? -ENOMEM : 0;
	free(s);
	return rc;
}
