/* batch.c — agent directives (#obs-batch, #obs-error) and the table of taken
 * batch ends; the directive format is described in batch.h.
 *
 * The table may be kept in a journal file (obs_batchtab_open), so that it
 * outlives a kill -9 of the daemon: an agent whose write was cut by the
 * kill sends the batch again to the next daemon, which must know what the
 * dead one stored. The journal is text, one line per commit, appended with
 * one write(2) after the batch's data went to the stores' write-ahead logs:
 *
 *   KEY END\n         KEY as in batch.h ([!-~]{1,200}), END decimal
 *
 * At open the lines are read in order (the largest END of a KEY wins; a line
 * that is torn or malformed, e.g. cut by a crash, is skipped), then the file
 * is rewritten from the table (atomic replace) and appended to; past
 * 4 x max_keys appended lines it is rewritten again. Like the write-ahead
 * logs it is not fsynced per line: a kill -9 loses nothing (the page cache
 * keeps it), a power loss may lose the tail, as it may the data's. */
#include "ingest/batch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "core/strmap.h"

static const char *token(const char *p, const char *e, size_t *len)
{
	const char *s = p;
	while (p < e && *p > ' ' && *p <= '~')
		p++;
	*len = (size_t)(p - s);
	return s;
}

static int number(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (!n || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return 0;
}

enum obs_directive_kind obs_directive_parse(const char *p, size_t n, struct obs_directive *d)
{
	memset(d, 0, sizeof(*d));
	if (n < 12 || memcmp(p, "#obs-", 5))
		return OBS_DIR_NONE;
	const char *nl = memchr(p, '\n', n), *q, *e;
	if (!nl)
		return OBS_DIR_NONE;
	e = nl;
	size_t l1, l2, l3;
	if (!memcmp(p, "#obs-batch ", 11)) {
		q = p + 11;
		const char *k = token(q, e, &l1);
		if (!l1 || l1 > OBS_BATCH_KEY_MAX || k + l1 >= e || k[l1] != ' ')
			return OBS_DIR_NONE;
		const char *s = token(k + l1 + 1, e, &l2);
		if (s + l2 >= e || s[l2] != ' ')
			return OBS_DIR_NONE;
		const char *t = token(s + l2 + 1, e, &l3);
		if (t + l3 != e)
			return OBS_DIR_NONE;
		if (number(s, l2, &d->start) || number(t, l3, &d->end) || d->start > d->end)
			return OBS_DIR_NONE;
		d->key = k;
		d->keylen = l1;
		d->kind = OBS_DIR_BATCH;
	} else if (!memcmp(p, "#obs-error ", 11)) {
		q = p + 11;
		const char *src = token(q, e, &l1);
		if (!l1 || l1 > OBS_BATCH_KEY_MAX || src + l1 >= e || src[l1] != ' ')
			return OBS_DIR_NONE;
		const char *sub = token(src + l1 + 1, e, &l2);
		if (!l2 || sub + l2 >= e || sub[l2] != ' ' || sub + l2 + 1 >= e)
			return OBS_DIR_NONE;
		d->key = src;
		d->keylen = l1;
		d->subject = sub;
		d->subjectlen = l2;
		d->reason = sub + l2 + 1;
		d->reasonlen = (size_t)(e - d->reason);
		d->kind = OBS_DIR_ERROR;
	} else {
		return OBS_DIR_NONE;
	}
	d->len = (size_t)(nl - p) + 1;
	return d->kind;
}

size_t obs_directive_batch(char *buf, const char *key, size_t keylen, uint64_t start, uint64_t end)
{
	if (!keylen || keylen > OBS_BATCH_KEY_MAX || start > end)
		return 0;
	for (size_t i = 0; i < keylen; i++)
		if (key[i] <= ' ' || key[i] > '~')
			return 0;
	int n = snprintf(buf, OBS_BATCH_KEY_MAX + 64, "#obs-batch %.*s %llu %llu\n", (int)keylen, key,
			 (unsigned long long)start, (unsigned long long)end);
	return n > 0 ? (size_t)n : 0;
}

struct obs_batchtab {
	pthread_mutex_t mu;        /* protects everything below */
	struct obs_strmap *map;    /* KEY -> uint64_t * (end taken) */
	char **order;              /* keys, oldest first (a ring) */
	size_t *orderlen;
	size_t max, head, n;
	char *path;                /* the journal (obs_batchtab_open), or NULL */
	int fd;                    /* open for append, or -1 */
	size_t appended;           /* lines appended since the last rewrite */
};

struct obs_batchtab *obs_batchtab_new(size_t max_keys)
{
	struct obs_batchtab *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->max = max_keys ? max_keys : 1;
	t->map = obs_strmap_new();
	t->order = calloc(t->max, sizeof(char *));
	t->orderlen = calloc(t->max, sizeof(size_t));
	if (!t->map || !t->order || !t->orderlen) {
		obs_strmap_free(t->map);
		free(t->order);
		free(t->orderlen);
		free(t);
		return NULL;
	}
	t->fd = -1;
	pthread_mutex_init(&t->mu, NULL);
	return t;
}

void obs_batchtab_free(struct obs_batchtab *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = (t->head + i) % t->max;
		free(obs_strmap_del(t->map, obs_strmap_hash(t->order[j], t->orderlen[j]), t->order[j],
				    t->orderlen[j]));
		free(t->order[j]);
	}
	obs_strmap_free(t->map);
	free(t->order);
	free(t->orderlen);
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

uint64_t obs_batchtab_skip(struct obs_batchtab *t, const struct obs_directive *d, const char *payload)
{
	uint64_t skip = 0;
	pthread_mutex_lock(&t->mu);
	uint64_t *taken = obs_strmap_get(t->map, obs_strmap_hash(d->key, d->keylen), d->key, d->keylen);
	if (taken && *taken > d->start)
		skip = *taken >= d->end ? d->end - d->start : *taken - d->start;
	pthread_mutex_unlock(&t->mu);
	if (skip && skip < d->end - d->start && payload[skip - 1] != '\n')
		skip = 0;
	return skip;
}

/* Set KEY's end in memory (caller holds t->mu). 0 or -ENOMEM. */
static int table_set(struct obs_batchtab *t, const char *key, size_t keylen, uint64_t end)
{
	uint64_t h = obs_strmap_hash(key, keylen);
	uint64_t *taken = obs_strmap_get(t->map, h, key, keylen);
	if (taken) {
		if (end > *taken)
			*taken = end;
		return 0;
	}
	if (t->n == t->max) {   /* forget the oldest key */
		size_t j = t->head;
		free(obs_strmap_del(t->map, obs_strmap_hash(t->order[j], t->orderlen[j]), t->order[j],
				    t->orderlen[j]));
		free(t->order[j]);
		t->head = (t->head + 1) % t->max;
		t->n--;
	}
	char *k = malloc(keylen ? keylen : 1);
	taken = malloc(sizeof(*taken));
	if (!k || !taken || obs_strmap_put(t->map, h, key, keylen, taken)) {
		free(k);
		free(taken);
		return -ENOMEM;
	}
	*taken = end;
	memcpy(k, key, keylen);
	size_t j = (t->head + t->n) % t->max;
	t->order[j] = k;
	t->orderlen[j] = keylen;
	t->n++;
	return 0;
}

/* Replace the journal by the table's lines and reopen it for append
 * (caller holds t->mu). 0 or a negative errno; the old journal stays on
 * failure. */
static int journal_rewrite(struct obs_batchtab *t)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = 0;
	for (size_t i = 0; i < t->n && !rc; i++) {
		size_t j = (t->head + i) % t->max;
		uint64_t *end = obs_strmap_get(t->map, obs_strmap_hash(t->order[j], t->orderlen[j]), t->order[j],
					       t->orderlen[j]);
		rc = obs_buf_printf(&b, "%.*s %llu\n", (int)t->orderlen[j], t->order[j], (unsigned long long)*end);
	}
	if (!rc)
		rc = obs_write_file_atomic(t->path, b.data ? b.data : "", b.len, NULL);
	obs_buf_release(&b);
	if (rc)
		return rc;
	int fd = open(t->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = fd;
	t->appended = 0;
	return 0;
}

/* A journal line "KEY END" (without its '\n'): 0, or -1 when malformed. */
static int journal_line(const char *line, size_t n, size_t *keylen, uint64_t *end)
{
	const char *sp = memrchr(line, ' ', n);
	if (!sp)
		return -1;
	size_t toklen;
	*keylen = (size_t)(sp - line);
	token(line, sp, &toklen);
	if (!*keylen || *keylen > OBS_BATCH_KEY_MAX || toklen != *keylen)
		return -1;
	return number(sp + 1, (size_t)(line + n - (sp + 1)), end);
}

int obs_batchtab_open(struct obs_batchtab *t, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f && errno != ENOENT)
		return -errno;
	int rc = 0;
	pthread_mutex_lock(&t->mu);
	if (f) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (!rc && (n = getline(&line, &cap, f)) > 0) {
			if (line[n - 1] != '\n')
				continue;   /* torn by a crash */
			size_t keylen;
			uint64_t end;
			if (journal_line(line, (size_t)n - 1, &keylen, &end))
				continue;
			rc = table_set(t, line, keylen, end);
		}
		free(line);
		if (ferror(f) && !rc)
			rc = -EIO;
		fclose(f);
	}
	if (!rc) {
		free(t->path);
		t->path = strdup(path);
		rc = t->path ? journal_rewrite(t) : -ENOMEM;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int obs_batchtab_commit(struct obs_batchtab *t, const struct obs_directive *d, uint64_t end)
{
	pthread_mutex_lock(&t->mu);
	int rc = table_set(t, d->key, d->keylen, end);
	if (!rc && t->fd >= 0) {
		if (t->appended >= 4 * t->max)
			rc = journal_rewrite(t);
		char line[OBS_BATCH_KEY_MAX + 32];
		int len = snprintf(line, sizeof line, "%.*s %llu\n", (int)d->keylen, d->key, (unsigned long long)end);
		if (!rc)
			rc = obs_write_all(t->fd, line, (size_t)len);
		t->appended++;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}
