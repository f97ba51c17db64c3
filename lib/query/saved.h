/* saved.h — saved queries (MOUNT/queries/NAME) and the answers of
 * requests (MOUNT/query): the part of the query tree that is not FUSE. */
#ifndef OBS_QUERY_SAVED_H
#define OBS_QUERY_SAVED_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/obstime.h"
#include "query/query.h"

/* ---- answers (answer.c) ---------------------------------------------- */

/* Parse the request req[0..n) (obs_query_request_parse, relative times
 * against now), evaluate it against st and append the answer to out: text
 * with times in tf, or the JSON data object for #json. On failure returns
 * -errno (-EINVAL for a bad request or expression, -E2BIG, -ETIMEDOUT,
 * -ENOTSUP, -ENOMEM), sets err to the message (parse errors start with
 * LINE:COL) and appends "error: MESSAGE\n" to out instead. */
int obs_query_answer(const struct obs_query_opts *o, const struct obs_query_store *st, const char *req, size_t n,
		     int64_t now, enum obs_time_fmt tf, struct obs_buf *out, char *err, size_t errlen);
/* The same for a parsed request. */
int obs_query_answer_req(const struct obs_query_opts *o, const struct obs_query_store *st,
			 const struct obs_query_request *r, enum obs_time_fmt tf, struct obs_buf *out, char *err,
			 size_t errlen);

/* ---- saved queries (saved.c, on-disk layout at its top) -------------- */

struct obs_query_saved;

/* Open (creating) dir and load every saved query in it; interrupted saves
 * are deleted. 0 or -errno. */
int obs_query_saved_open(const char *dir, struct obs_query_saved **out);
void obs_query_saved_close(struct obs_query_saved *s);   /* accepts NULL */
/* Is s[0..n) a valid name (1-200 of [A-Za-z0-9_.:-], not starting with '.',
 * without ".tmp.")? */
int obs_query_saved_name_valid(const char *s, size_t n);
/* Save expr[0..n) (blanks around it dropped) as name, durably (temp file,
 * fsync, rename, directory fsync), replacing what name held. -EINVAL with
 * err (the parser's "LINE:COL: ..." for a bad expression, or a bad name),
 * -errno of the file system with err set; nothing changes then. */
int obs_query_saved_put(struct obs_query_saved *s, const char *name, const char *expr, size_t n, char *err,
			size_t errlen);
/* Append the expression of name to expr. 0, -ENOENT, -ENOMEM. */
int obs_query_saved_get(struct obs_query_saved *s, const char *name, struct obs_buf *expr);
/* Forget name and delete its file durably. 0, -ENOENT, -errno. */
int obs_query_saved_del(struct obs_query_saved *s, const char *name);
/* fn(ctx, name) for each query in name order, under the set's lock (fn
 * must not call back into s); stops at fn's first non-zero result and
 * returns it. */
int obs_query_saved_list(struct obs_query_saved *s, int (*fn)(void *ctx, const char *name), void *ctx);

#endif
