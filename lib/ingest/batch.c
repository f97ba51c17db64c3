/* batch.c — agent directives (#obs-batch, #obs-error) and the table of taken
 * batch ends; the format is described in batch.h. The table lives in memory
 * only: it protects against an agent re-sending after its own crash while
 * the daemon runs, not against both failing at once. */
#include "ingest/batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int obs_batchtab_commit(struct obs_batchtab *t, const struct obs_directive *d, uint64_t end)
{
	int rc = 0;
	uint64_t h = obs_strmap_hash(d->key, d->keylen);
	pthread_mutex_lock(&t->mu);
	uint64_t *taken = obs_strmap_get(t->map, h, d->key, d->keylen);
	if (taken) {
		if (end > *taken)
			*taken = end;
		goto out;
	}
	if (t->n == t->max) {   /* forget the oldest key */
		size_t j = t->head;
		free(obs_strmap_del(t->map, obs_strmap_hash(t->order[j], t->orderlen[j]), t->order[j],
				    t->orderlen[j]));
		free(t->order[j]);
		t->head = (t->head + 1) % t->max;
		t->n--;
	}
	char *k = malloc(d->keylen ? d->keylen : 1);
	taken = malloc(sizeof(*taken));
	if (!k || !taken || obs_strmap_put(t->map, h, d->key, d->keylen, taken)) {
		free(k);
		free(taken);
		rc = -ENOMEM;
		goto out;
	}
	*taken = end;
	memcpy(k, d->key, d->keylen);
	size_t j = (t->head + t->n) % t->max;
	t->order[j] = k;
	t->orderlen[j] = d->keylen;
	t->n++;
out:
	pthread_mutex_unlock(&t->mu);
	return rc;
}
