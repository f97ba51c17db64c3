/* amconfig.h — alerts/config: Alertmanager's configuration file (the part of
 * it obsfs serves) parsed with libyaml as Alertmanager reads it.
 *
 * Top-level keys: global (resolve_timeout; the other global keys of
 * Alertmanager are accepted and unused), route, receivers, inhibit_rules,
 * time_intervals, mute_time_intervals, templates (accepted, unused), and the
 * obsfs extension `alerting:` (Prometheus' own block: alertmanagers with
 * static_configs targets, scheme, path_prefix, timeout) naming the real
 * Alertmanagers every alert is forwarded to. Unknown keys are refused, as
 * Alertmanager's strict decoding does.
 *
 * Receivers: name, webhook_configs (url, send_resolved default true,
 * max_alerts default 0 = all, timeout: an obsfs extension, default 10s), and
 * obsfs's exec_configs (command: [argv...], send_resolved, timeout). The
 * other Alertmanager integrations (email, slack, pagerduty, ...) are refused
 * with "unsupported receiver type". */
#ifndef OBS_ALERT_AMCONFIG_H
#define OBS_ALERT_AMCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "alert/amatch.h"
#include "alert/timeint.h"
#include "core/buf.h"

#define AM_GROUP_WAIT_DEFAULT (30LL * 1000)
#define AM_GROUP_INTERVAL_DEFAULT (5LL * 60 * 1000)
#define AM_REPEAT_INTERVAL_DEFAULT (4LL * 3600 * 1000)
#define AM_RESOLVE_TIMEOUT_DEFAULT (5LL * 60 * 1000)
#define AM_HTTP_TIMEOUT_DEFAULT (10LL * 1000)

struct am_strv {
	char **v;     /* NULL-terminated (an argv) when n > 0 */
	size_t n;
};

struct am_route {
	char *receiver;
	struct am_strv group_by;
	int group_by_all;             /* group_by: ['...'] */
	struct am_matchers matchers;  /* matchers + match + match_re */
	int cont;                     /* continue */
	int64_t group_wait, group_interval, repeat_interval;
	struct am_strv mute, active;  /* names of time intervals */
	struct am_route *routes;
	size_t nroutes;
	struct am_route *parent;
	char *key;                    /* Alertmanager's route key: {}/{team="db"} */
	int id;                       /* depth-first index, root 0 */
	int line;                     /* where it was defined */
};

struct am_webhook {
	char *url;
	int send_resolved;
	int max_alerts;
	int64_t timeout;
};

struct am_exec {
	struct am_strv argv;
	int send_resolved;
	int64_t timeout;
};

struct am_receiver {
	char *name;
	struct am_webhook *webhooks;
	size_t nwebhooks;
	struct am_exec *execs;
	size_t nexecs;
};

struct am_inhibit {
	struct am_matchers source, target;
	struct am_strv equal;
};

struct am_config {
	struct am_route root;
	struct am_receiver *receivers;
	size_t nreceivers;
	struct am_inhibit *inhibits;
	size_t ninhibits;
	struct am_named_tint *tints;
	size_t ntints;
	struct am_strv forward;       /* Alertmanager base URLs, e.g. http://127.0.0.1:9093/ */
	int64_t forward_timeout;
	int64_t resolve_timeout;
	int has_exec;                 /* some receiver runs a command */
	int nroutes;                  /* routes in the tree, root included */
};

/* Parse and validate text. On error returns -EINVAL and appends one
 * "line N: reason" (or just the reason when no line applies) to err; *out is
 * left NULL. -ENOMEM as usual. */
int am_config_parse(const char *text, size_t n, struct am_config **out, struct obs_buf *err);
void am_config_free(struct am_config *c);   /* accepts NULL */

const struct am_receiver *am_config_receiver(const struct am_config *c, const char *name);
const struct am_named_tint *am_config_tint(const struct am_config *c, const char *name);

/* The routes an alert with labels l goes to, as Alertmanager's Route.Match:
 * depth first, a child that matches is descended into and, unless it has
 * continue, ends the search among its siblings; a route none of whose
 * children matched is itself a match. Fills out[] (up to max) and returns the
 * count (the root always matches). */
size_t am_route_match(const struct am_route *r, const struct obs_labels *l,
		      const struct am_route **out, size_t max);

#endif
