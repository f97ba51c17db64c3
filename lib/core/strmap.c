/* strmap.c — linear probing, tombstone-free deletion (backward shift),
 * power-of-two capacity, load factor <= 0.7. Keys live in one malloc each
 * with their length. */
#include "core/strmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct slot {
	uint64_t hash;     /* 0 = empty (real hashes are forced non-zero) */
	char *key;
	size_t n;
	void *val;
};

struct obs_strmap {
	struct slot *s;
	size_t cap, count, keybytes;
};

uint64_t obs_strmap_hash(const void *key, size_t n)
{
	uint64_t h = XXH3_64bits(key, n);
	return h ? h : 1;
}

struct obs_strmap *obs_strmap_new(void)
{
	struct obs_strmap *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->cap = 64;
	m->s = calloc(m->cap, sizeof *m->s);
	if (!m->s) {
		free(m);
		return NULL;
	}
	return m;
}

void obs_strmap_free(struct obs_strmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->s[i].hash)
			free(m->s[i].key);
	free(m->s);
	free(m);
}

static size_t find(const struct obs_strmap *m, uint64_t h, const void *key, size_t n)
{
	size_t mask = m->cap - 1, i = h & mask;
	while (m->s[i].hash) {
		if (m->s[i].hash == h && m->s[i].n == n && !memcmp(m->s[i].key, key, n))
			return i;
		i = (i + 1) & mask;
	}
	return i;
}

void *obs_strmap_get(const struct obs_strmap *m, uint64_t h, const void *key, size_t n)
{
	size_t i = find(m, h, key, n);
	return m->s[i].hash ? m->s[i].val : NULL;
}

static int grow(struct obs_strmap *m)
{
	size_t ncap = m->cap * 2;
	struct slot *ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->s[i].hash)
			continue;
		size_t j = m->s[i].hash & (ncap - 1);
		while (ns[j].hash)
			j = (j + 1) & (ncap - 1);
		ns[j] = m->s[i];
	}
	free(m->s);
	m->s = ns;
	m->cap = ncap;
	return 0;
}

int obs_strmap_put(struct obs_strmap *m, uint64_t h, const void *key, size_t n, void *val)
{
	size_t i = find(m, h, key, n);
	if (m->s[i].hash) {
		m->s[i].val = val;
		return 0;
	}
	if ((m->count + 1) * 10 > m->cap * 7) {
		if (grow(m))
			return -ENOMEM;
		i = find(m, h, key, n);
	}
	char *k = malloc(n + 1);
	if (!k)
		return -ENOMEM;
	memcpy(k, key, n);
	k[n] = 0;
	m->s[i] = (struct slot){ h, k, n, val };
	m->count++;
	m->keybytes += n + 1;
	return 0;
}

void *obs_strmap_del(struct obs_strmap *m, uint64_t h, const void *key, size_t n)
{
	size_t mask = m->cap - 1, i = find(m, h, key, n);
	if (!m->s[i].hash)
		return NULL;
	void *val = m->s[i].val;
	m->keybytes -= m->s[i].n + 1;
	free(m->s[i].key);
	m->s[i] = (struct slot){ 0 };
	m->count--;
	/* backward-shift the cluster after i so lookups never hit a hole */
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!m->s[j].hash)
			break;
		size_t home = m->s[j].hash & mask;
		int home_in_gap = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!home_in_gap) {
			m->s[i] = m->s[j];
			m->s[j] = (struct slot){ 0 };
			i = j;
		}
	}
	return val;
}

size_t obs_strmap_count(const struct obs_strmap *m)
{
	return m->count;
}

int obs_strmap_each(const struct obs_strmap *m, int (*fn)(void *, const char *, size_t, void *), void *ctx)
{
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->s[i].hash)
			continue;
		int rc = fn(ctx, m->s[i].key, m->s[i].n, m->s[i].val);
		if (rc)
			return rc;
	}
	return 0;
}

size_t obs_strmap_bytes(const struct obs_strmap *m)
{
	return m->cap * sizeof(struct slot) + m->keybytes + m->count * 16;
}
