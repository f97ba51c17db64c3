/* amsvc.h — the Alertmanager side of MOUNT/alerts/ as one service, so the
 * fs layer stays a thin table: alerts/config, alerts/silences/NAME,
 * alerts/slos/NAME, the notifier, and the sink the rule evaluator feeds.
 *
 * Files under DATADIR/alerts/: config (the text as written), config.owner
 * ("uid N\n": who wrote it), silences (silence.c), nflog (nflog.c),
 * slos/NAME (each SLO's text). Every write is atomic. Thread-safe. */
#ifndef OBS_ALERT_AMSVC_H
#define OBS_ALERT_AMSVC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "alert/alert.h"
#include "alert/am.h"
#include "alert/notify.h"
#include "alert/silence.h"
#include "core/buf.h"
#include "core/errlog.h"
#include "query/query.h"

struct am_service_opts {
	const char *datadir;              /* DATADIR; state goes to DATADIR/alerts */
	uid_t owner;                      /* the mount owner */
	struct obs_errlog *errlog;        /* MOUNT/errors; may be NULL */
	const struct am_clock *clk;       /* NULL: wall clock */
	const char *external_url;
	int no_thread;                    /* tests */
	/* the query engine, for SLO budget states (select NULL: states say
	 * "unknown") */
	struct obs_query_store store;
	struct obs_query_opts qopts;
	/* where SLO rule groups go: the rule manager. file is "slo:NAME";
	 * yaml NULL removes it. May be NULL. */
	int (*slo_rules)(void *ctx, const char *file, const char *yaml, size_t n);
	void *slo_ctx;
};

struct am_service;

/* Loads the saved config, silences, nflog and SLOs (an SLO or config that
 * no longer parses is logged to errors and skipped). -EBADMSG for corrupt
 * silences or nflog, -errno. */
int am_service_open(const struct am_service_opts *o, struct am_service **out);
void am_service_close(struct am_service *s);   /* accepts NULL */

struct am_silences *am_service_silences(struct am_service *s);
struct am_notifier *am_service_notifier(struct am_service *s);

/* alerts/config. Write: parse, check, save, use. A config with exec
 * receivers written by another uid than the owner is -EPERM. Errors append
 * to errors ("alerts/config:LINE: reason") and return -EINVAL/-EPERM. */
int am_service_config_read(struct am_service *s, struct obs_buf *out);
int am_service_config_write(struct am_service *s, const char *text, size_t n, uid_t writer);
/* An empty config (rm alerts/config). */
int am_service_config_remove(struct am_service *s);

/* alerts/silences/NAME: write = add or replace, rm = expire. The reason of
 * a refused write goes to errors ("alerts/silences/NAME: reason"). */
int am_service_silence_write(struct am_service *s, const char *name, const char *text, size_t n);
int am_service_silence_read(struct am_service *s, const char *name, struct obs_buf *out);
int am_service_silence_remove(struct am_service *s, const char *name);
int am_service_silence_list(struct am_service *s, struct obs_buf *out);      /* names, one a line */
/* Every silence of the history, rendered, separated by blank lines. */
int am_service_silence_history(struct am_service *s, struct obs_buf *out);

/* alerts/slos/NAME: write = parse, save, hand the rule group over; read =
 * the budget state, then the generated rules after a "---" line; rm. */
int am_service_slo_write(struct am_service *s, const char *name, const char *text, size_t n);
int am_service_slo_read(struct am_service *s, const char *name, struct obs_buf *out);
int am_service_slo_remove(struct am_service *s, const char *name);
int am_service_slo_list(struct am_service *s, struct obs_buf *out);
/* The generated rule file of one SLO (for the rule manager at start). */
int am_service_slo_rules(struct am_service *s, const char *name, struct obs_buf *out);

/* The sink side: alerts of one rule group after its evaluation, flags as
 * am_notifier_put (AM_PUT_FORWARD for those Prometheus' resend rule sends
 * to Alertmanagers now). */
int am_service_put(struct am_service *s, const struct am_alert *alerts, size_t n, int flags);

/* The sink to give the rule evaluator (amsink.c): its send callback turns
 * each group's alerts into am_service_put calls. */
struct obs_alert_sink am_service_sink(struct am_service *s);

#endif
