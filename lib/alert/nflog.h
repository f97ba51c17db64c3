/* nflog.h — the notification log: per group key and receiver integration,
 * when the last notification went out and which alerts (fingerprints) were
 * firing and resolved in it. Private to lib/alert (dispatch.c). */
#ifndef OBS_ALERT_NFLOG_H
#define OBS_ALERT_NFLOG_H

#include <stddef.h>
#include <stdint.h>

struct am_nflog_entry {
	int64_t ts;
	uint64_t *firing;
	size_t nfiring;
	uint64_t *resolved;
	size_t nresolved;
};

struct am_nflog;

/* path may be NULL (memory only). -EBADMSG on a corrupt file. */
int am_nflog_open(const char *path, struct am_nflog **out);
void am_nflog_free(struct am_nflog *l);
const struct am_nflog_entry *am_nflog_get(struct am_nflog *l, const char *key);
/* Record a notification (the sets are copied, sorted). 0 or -ENOMEM. */
int am_nflog_log(struct am_nflog *l, const char *key, int64_t ts, const uint64_t *firing,
		 size_t nfiring, const uint64_t *resolved, size_t nresolved);
/* Drop entries older than retention; returns how many. */
size_t am_nflog_gc(struct am_nflog *l, int64_t now, int64_t retention);
/* Save when changed since the last save. 0 or -errno (stays dirty). */
int am_nflog_flush(struct am_nflog *l);
size_t am_nflog_count(struct am_nflog *l);

/* Alertmanager's DedupStage.needsUpdate. */
int am_nflog_needs_update(const struct am_nflog_entry *e, const uint64_t *firing, size_t nfiring,
			  const uint64_t *resolved, size_t nresolved, int send_resolved,
			  int64_t now, int64_t repeat);

#endif
