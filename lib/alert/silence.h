/* silence.h — Alertmanager silences: matchers, a start, an end, who and why.
 *
 * A silence is pending before startsAt, active until endsAt, expired after.
 * Active silences mute the alerts their matchers select (the alert is marked
 * with the silence ids, status.silencedBy, and not notified). Expiring sets
 * endsAt to now; expired silences leave the listing but stay in the history
 * for the retention (Alertmanager's default 120h), then are dropped. Each
 * silence has a file name in the tree (NAME, chosen by the writer) and an id
 * (a random UUID, as Alertmanager's). Every change is saved atomically to the
 * store's file before it is acknowledged, so silences survive restarts.
 * The store is thread-safe (one mutex). */
#ifndef OBS_ALERT_SILENCE_H
#define OBS_ALERT_SILENCE_H

#include <stddef.h>
#include <stdint.h>

#include "alert/am.h"
#include "core/buf.h"
#include "core/labels.h"

#define AM_SILENCE_RETENTION_DEFAULT (120LL * 3600 * 1000)
#define AM_SILENCE_DEFAULT_DURATION (3600LL * 1000)   /* amtool's default, 1h */
#define AM_SILENCE_NAME_MAX 200

enum am_silence_state { AM_SIL_PENDING, AM_SIL_ACTIVE, AM_SIL_EXPIRED };

const char *am_silence_state_name(enum am_silence_state s);

struct am_silences;

/* Open the store saved at path (NULL: memory only, for tests), loading what
 * is there (a missing file is an empty store). retention_ms <= 0 means the
 * default. -EBADMSG when the file is corrupt (bad header, field count or
 * checksum), -ENOMEM, -errno. */
int am_silences_open(const char *path, const struct am_clock *clk, int64_t retention_ms,
		     struct am_silences **out);
void am_silences_free(struct am_silences *s);   /* accepts NULL */

/* Create or replace the silence NAME from its text form, one field a line:
 *     matchers: alertname=~"Disk.*",team="db"   (a line without a key is
 *                                                 taken as matchers too)
 *     until: 2h | RFC3339 | epoch               (also: ends, endsAt, end)
 *     for: 2h                                   (duration from the start)
 *     starts: TIME | -5m | now                  (also: startsAt, from)
 *     author: NAME                              (also: createdBy, created_by)
 *     comment: TEXT
 * Keys end with ':' , '=' or a space. The default end is start + 1h.
 * Alertmanager's validation: at least one matcher, one of which must not
 * match the empty string; the end after the start and not in the past.
 * Replacing a silence expires the old one (kept in history) and creates a
 * new id. -EINVAL with *why, -ENAMETOOLONG, -ENOMEM or a save error (the
 * store is then unchanged). The new id is copied to id_out (>= 37 bytes)
 * when non-NULL. */
int am_silences_set(struct am_silences *s, const char *name, const char *text, size_t n,
		    char *id_out, const char **why);

/* Expire the pending or active silence named NAME (or with that id): its end
 * becomes now (a pending one gets start = end = now). -ENOENT when there is
 * none, or a save error (unchanged). */
int am_silences_expire(struct am_silences *s, const char *name_or_id);

/* Names of the pending and active silences (with include_expired: every
 * silence in the history, one id per line instead), one per line, sorted. */
int am_silences_list(struct am_silences *s, int include_expired, struct obs_buf *out);

/* The text of the pending/active silence NAME (or any silence by id):
 * "id:", "name:", "matchers:", "status:", "startsAt:", "endsAt:",
 * "updatedAt:", "createdBy:", "comment:" lines. -ENOENT when absent. */
int am_silences_render(struct am_silences *s, const char *name_or_id, struct obs_buf *out);

/* Every silence of the history (expired ones too), each rendered as by
 * am_silences_render, separated by blank lines, oldest first. */
int am_silences_render_all(struct am_silences *s, struct obs_buf *out);

/* amtool silence query's table: ID, matchers, ends, created by, comment of
 * the silences whose matchers include (by equal text) every matcher of the
 * filter (filter NULL: all), pending and active ones (expired too with
 * include_expired). */
int am_silences_query(struct am_silences *s, const char *filter, int include_expired,
		      struct obs_buf *out, const char **why);

/* Ids of the active silences muting l at now, comma-separated, appended to
 * ids (may be NULL). Returns how many (0: not silenced). */
int am_silences_mutes(struct am_silences *s, const struct obs_labels *l, struct obs_buf *ids);

/* A version of the store for caching mute answers: it changes with every
 * add, expiry or gc; *valid_until is the next time a silence starts or ends
 * (INT64_MAX when none will), after which answers may change too. */
uint64_t am_silences_version(struct am_silences *s, int64_t now, int64_t *valid_until);

/* Drop silences expired longer than the retention ago. Returns how many were
 * dropped, or a save error. */
int am_silences_gc(struct am_silences *s);

/* Counts by state (any pointer may be NULL). */
void am_silences_count(struct am_silences *s, size_t *pending, size_t *active, size_t *expired);

#endif
