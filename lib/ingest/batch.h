/* batch.h — agent directives at the head of a write(2) to MOUNT/ingest or a
 * log stream (libobs ingest), and the table that drops a re-sent batch.
 *
 * An agent (obs-ship) that may send the same bytes twice (it was killed
 * after its write returned and before it recorded its position) starts each
 * write with one directive line:
 *
 *   #obs-batch KEY START END\n      followed by exactly END - START bytes
 *
 * KEY (1..200 bytes of [!-~]) names a byte stream of the agent (a followed
 * file, its spool); START and END are offsets in it (decimal, START <= END),
 * so a later batch of KEY starts where an earlier one ended. The store
 * remembers, per KEY, the end of what it took; of a batch it takes only the
 * bytes past that end (none when END is not past it), provided the cut
 * falls after a '\n' (else it takes the batch whole: a duplicate is better
 * than a loss). The other directive reports an agent's error to MOUNT/errors:
 *
 *   #obs-error SOURCE SUBJECT REASON...\n
 *
 * (SOURCE and SUBJECT are tokens, REASON the rest of the line). A line that
 * does not match a directive exactly is ordinary data. */
#ifndef OBS_INGEST_BATCH_H
#define OBS_INGEST_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define OBS_BATCH_KEY_MAX 200

enum obs_directive_kind { OBS_DIR_NONE = 0, OBS_DIR_BATCH, OBS_DIR_ERROR };

struct obs_directive {
	enum obs_directive_kind kind;
	size_t len;                 /* bytes of the directive line, '\n' included */
	const char *key;            /* BATCH: KEY; ERROR: SOURCE */
	size_t keylen;
	uint64_t start, end;        /* BATCH */
	const char *subject, *reason;   /* ERROR */
	size_t subjectlen, reasonlen;
};

/* Parse a directive at the start of p[0..n) (a whole line, ending in '\n').
 * Returns the kind; OBS_DIR_NONE (d->kind too) when p does not start with a
 * well-formed directive line. Pure; never reads past p + n. */
enum obs_directive_kind obs_directive_parse(const char *p, size_t n, struct obs_directive *d);

/* Format a batch directive into buf (at least OBS_BATCH_KEY_MAX + 64 bytes);
 * returns its length, or 0 when key is not a valid KEY. */
size_t obs_directive_batch(char *buf, const char *key, size_t keylen, uint64_t start, uint64_t end);

/* The table of what was taken: KEY -> end offset, thread-safe, bounded (the
 * oldest KEY is forgotten beyond max_keys). */
struct obs_batchtab;

struct obs_batchtab *obs_batchtab_new(size_t max_keys);   /* NULL when out of memory */
void obs_batchtab_free(struct obs_batchtab *t);           /* accepts NULL */

/* How many leading bytes of the batch d (payload p[0..end-start)) were
 * taken before: 0 .. end - start, cut after a '\n' only. */
uint64_t obs_batchtab_skip(struct obs_batchtab *t, const struct obs_directive *d, const char *payload);

/* Keep the table in the journal file path (format: batch.c): load what it
 * holds, then append every commit to it. 0 or a negative errno (the table
 * then stays in memory only). */
int obs_batchtab_open(struct obs_batchtab *t, const char *path);

/* Record that the bytes of d's KEY up to offset end were taken. 0, -ENOMEM,
 * or the errno of a failed journal append (the table in memory has it). */
int obs_batchtab_commit(struct obs_batchtab *t, const struct obs_directive *d, uint64_t end);

#endif
