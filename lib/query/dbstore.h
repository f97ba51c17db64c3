/* dbstore.h — the query engine's store over the metrics db (lib/tsdb):
 * selection through the label index, samples from blocks and the head. */
#ifndef OBS_QUERY_DBSTORE_H
#define OBS_QUERY_DBSTORE_H

#include "query/query.h"
#include "tsdb/db.h"

/* A store that reads db (which must outlive it). Safe to use from many
 * threads at once, as the db is. */
struct obs_query_store obs_query_db_store(struct obs_db *db);

/* The same, with log_count() over the log store ls (NULL: none), so that
 * log_count_over_time() answers from it. Both must outlive the store. */
struct obs_logstore;
struct obs_query_store obs_query_db_store_logs(struct obs_db *db, struct obs_logstore *ls);

#endif
