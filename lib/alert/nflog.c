/* nflog.c — the notification log and its file.
 *
 * File STATE_DIR/nflog (written whole, atomically), text:
 *     obsfs-nflog 1
 *     KEY \t TS \t FIRING \t RESOLVED
 *     ...
 *     end COUNT CRC
 * KEY is the group key, \x1f, the receiver name, \x1f, the integration
 * ("webhook/0", "exec/1"), escaped with am_field_escape; TS epoch ms;
 * FIRING and RESOLVED comma-separated 16-digit hex fingerprints (may be
 * empty). CRC: CRC-32C in hex of all bytes before the "end" line
 * (am_statefile_load, am.h, checks the frame). Any mismatch is -EBADMSG and
 * nothing is loaded. */
#include "alert/nflog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/am.h"
#include "core/strmap.h"
#include "core/vec.h"

struct ent {
	char *key;
	struct am_nflog_entry e;
};

struct am_nflog {
	char *path;
	struct obs_strmap *m;   /* key -> struct ent */
	int dirty;
};

static void ent_free(struct ent *x)
{
	if (!x)
		return;
	free(x->key);
	free(x->e.firing);
	free(x->e.resolved);
	free(x);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int put(struct am_nflog *l, const char *key, int64_t ts, const uint64_t *f, size_t nf,
	       const uint64_t *r, size_t nr)
{
	struct ent *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->key = strdup(key);
	x->e.ts = ts;
	x->e.firing = malloc((nf + 1) * sizeof(uint64_t));
	x->e.resolved = malloc((nr + 1) * sizeof(uint64_t));
	if (!x->key || !x->e.firing || !x->e.resolved) {
		ent_free(x);
		return -ENOMEM;
	}
	if (nf)
		memcpy(x->e.firing, f, nf * sizeof(uint64_t));
	if (nr)
		memcpy(x->e.resolved, r, nr * sizeof(uint64_t));
	x->e.nfiring = nf;
	x->e.nresolved = nr;
	qsort(x->e.firing, nf, sizeof(uint64_t), cmp_u64);
	qsort(x->e.resolved, nr, sizeof(uint64_t), cmp_u64);
	size_t kn = strlen(key);
	uint64_t h = obs_strmap_hash(key, kn);
	struct ent *old = obs_strmap_get(l->m, h, key, kn);
	if (obs_strmap_put(l->m, h, key, kn, x)) {
		ent_free(x);
		return -ENOMEM;
	}
	ent_free(old);
	return 0;
}

static int parse_fps(char *s, uint64_t **out, size_t *n)
{
	size_t cnt = *s ? 1 : 0;
	for (char *p = s; *p; p++)
		cnt += *p == ',';
	uint64_t *v = malloc((cnt + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t k = 0;
	char *p = s;
	while (*p) {
		char *e;
		errno = 0;
		unsigned long long x = strtoull(p, &e, 16);
		if (errno || e - p != 16 || (*e && *e != ',')) {
			free(v);
			return -EBADMSG;
		}
		v[k++] = x;
		p = *e ? e + 1 : e;
	}
	*out = v;
	*n = k;
	return 0;
}

/* one record of the file (am_statefile_load's callback) */
static int load_rec(void *ctx, char *line)
{
	struct am_nflog *l = ctx;
	char *f[4];
	int nf = 0;
	f[nf++] = line;
	for (char *q = line; *q; q++)
		if (*q == '\t') {
			if (nf == 4)
				return -EBADMSG;
			*q = 0;
			f[nf++] = q + 1;
		}
	if (nf != 4)
		return -EBADMSG;
	am_field_unescape(f[0]);
	char *e;
	long long ts = strtoll(f[1], &e, 10);
	if (*e || e == f[1])
		return -EBADMSG;
	uint64_t *fv = NULL, *rv = NULL;
	size_t fn = 0, rn = 0;
	int rc;
	if ((rc = parse_fps(f[2], &fv, &fn)) || (rc = parse_fps(f[3], &rv, &rn))) {
		free(fv);
		return rc;
	}
	rc = put(l, f[0], ts, fv, fn, rv, rn);
	free(fv);
	free(rv);
	return rc;
}

static int load(struct am_nflog *l)
{
	return am_statefile_load(l->path, "obsfs-nflog 1", load_rec, l);
}

int am_nflog_open(const char *path, struct am_nflog **out)
{
	struct am_nflog *l = calloc(1, sizeof(*l));
	if (!l || !(l->m = obs_strmap_new()) || (path && !(l->path = strdup(path)))) {
		am_nflog_free(l);
		return -ENOMEM;
	}
	if (path) {
		int rc = load(l);
		if (rc) {
			am_nflog_free(l);
			return rc;
		}
	}
	*out = l;
	return 0;
}

static int free_one(void *ctx, const char *key, size_t n, void *val)
{
	ent_free(val);
	return 0;
}

void am_nflog_free(struct am_nflog *l)
{
	if (!l)
		return;
	if (l->m) {
		obs_strmap_each(l->m, free_one, NULL);
		obs_strmap_free(l->m);
	}
	free(l->path);
	free(l);
}

const struct am_nflog_entry *am_nflog_get(struct am_nflog *l, const char *key)
{
	size_t n = strlen(key);
	struct ent *x = obs_strmap_get(l->m, obs_strmap_hash(key, n), key, n);
	return x ? &x->e : NULL;
}

int am_nflog_log(struct am_nflog *l, const char *key, int64_t ts, const uint64_t *firing,
		 size_t nfiring, const uint64_t *resolved, size_t nresolved)
{
	int rc = put(l, key, ts, firing, nfiring, resolved, nresolved);
	if (!rc)
		l->dirty = 1;
	return rc;
}

struct gc_ctx {
	int64_t cut;
	char **keys;
	size_t n, cap;
};

static int gc_one(void *ctx, const char *key, size_t n, void *val)
{
	struct gc_ctx *g = ctx;
	struct ent *x = val;
	if (x->e.ts >= g->cut)
		return 0;
	if (OBS_VEC_RESERVE_FROM(g->keys, g->cap, g->n + 1, 16))
		return 1;
	g->keys[g->n++] = x->key;
	return 0;
}

size_t am_nflog_gc(struct am_nflog *l, int64_t now, int64_t retention)
{
	struct gc_ctx g = { now - retention, NULL, 0, 0 };
	obs_strmap_each(l->m, gc_one, &g);
	for (size_t i = 0; i < g.n; i++) {
		size_t kn = strlen(g.keys[i]);
		ent_free(obs_strmap_del(l->m, obs_strmap_hash(g.keys[i], kn), g.keys[i], kn));
	}
	free(g.keys);
	if (g.n)
		l->dirty = 1;
	return g.n;
}

static int fmt_fps(struct obs_buf *b, const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (obs_buf_printf(b, "%s%016" PRIx64, i ? "," : "", v[i]))
			return -ENOMEM;
	return 0;
}

struct ser {
	struct obs_buf *b;
	size_t n;
};

static int ser_one(void *ctx, const char *key, size_t kn, void *val)
{
	struct ser *s = ctx;
	struct ent *x = val;
	s->n++;
	return am_field_escape(s->b, x->key) || obs_buf_printf(s->b, "\t%" PRId64 "\t", x->e.ts) ||
	       fmt_fps(s->b, x->e.firing, x->e.nfiring) || obs_buf_putc(s->b, '\t') ||
	       fmt_fps(s->b, x->e.resolved, x->e.nresolved) || obs_buf_putc(s->b, '\n');
}

int am_nflog_flush(struct am_nflog *l)
{
	if (!l->dirty || !l->path)
		return 0;
	struct obs_buf b;
	obs_buf_init(&b);
	struct ser s = { &b, 0 };
	int rc = obs_buf_puts(&b, "obsfs-nflog 1\n") || obs_strmap_each(l->m, ser_one, &s) ? -ENOMEM : 0;
	if (!rc)
		rc = am_statefile_end(&b, s.n);
	if (!rc)
		rc = am_save_atomic(l->path, b.data, b.len);
	if (!rc)
		l->dirty = 0;
	obs_buf_release(&b);
	return rc;
}

size_t am_nflog_count(struct am_nflog *l)
{
	return obs_strmap_count(l->m);
}

/* is every element of sub (any order) in the sorted set? */
static int subset(const uint64_t *sub, size_t n, const uint64_t *set, size_t m)
{
	for (size_t i = 0; i < n; i++)
		if (!bsearch(&sub[i], set, m, sizeof(uint64_t), cmp_u64))
			return 0;
	return 1;
}

int am_nflog_needs_update(const struct am_nflog_entry *e, const uint64_t *firing, size_t nfiring,
			  const uint64_t *resolved, size_t nresolved, int send_resolved,
			  int64_t now, int64_t repeat)
{
	if (!e)
		return nfiring > 0;
	if (!subset(firing, nfiring, e->firing, e->nfiring))
		return 1;
	if (nfiring == 0)
		return e->nfiring > 0;
	if (send_resolved && !subset(resolved, nresolved, e->resolved, e->nresolved))
		return 1;
	return e->ts < now - repeat;
}
