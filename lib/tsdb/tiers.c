/* tiers.c — rollup sets per block; see tiers.h for the layout and rules. */
#include "tsdb/tiers.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const int64_t obs_tier_steps[OBS_NTIERS] = { 60 * 1000, 5 * 60 * 1000, 3600 * 1000 };
const char *const obs_tier_names[OBS_NTIERS] = { "1m", "5m", "1h" };

struct rset {
	char id[64];
	int level;
	int64_t mint, maxt;
	struct obs_rollup *r[OBS_NTIERS];    /* NULL: tier absent (retained away) */
	char *path[OBS_NTIERS];
};

struct obs_tiers {
	char *dir;
	pthread_rwlock_t lock;               /* protects sets/n */
	struct rset *sets;                   /* ordered by mint */
	size_t n;
	_Atomic uint64_t reads;
};

static void rset_release(struct rset *s, int unlink_files)
{
	for (int k = 0; k < OBS_NTIERS; k++) {
		obs_rollup_close(s->r[k]);
		if (unlink_files && s->path[k])
			unlink(s->path[k]);
		free(s->path[k]);
		s->r[k] = NULL;
		s->path[k] = NULL;
	}
}

static int rset_cmp(const void *a, const void *b)
{
	const struct rset *x = a, *y = b;
	return x->mint != y->mint ? (x->mint < y->mint ? -1 : 1) : strcmp(x->id, y->id);
}

static struct rset *find_set(struct obs_tiers *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->sets[i].id, id))
			return &t->sets[i];
	return NULL;
}

/* Add (or find) the set of a block; caller holds the lock for writing. */
static struct rset *get_set(struct obs_tiers *t, const char *id, int level, int64_t mint, int64_t maxt)
{
	struct rset *s = find_set(t, id);
	if (s)
		return s;
	struct rset *ns = realloc(t->sets, (t->n + 1) * sizeof *ns);
	if (!ns)
		return NULL;
	t->sets = ns;
	s = &t->sets[t->n++];
	memset(s, 0, sizeof *s);
	snprintf(s->id, sizeof s->id, "%s", id);
	s->level = level;
	s->mint = mint;
	s->maxt = maxt;
	return s;
}

int obs_tiers_open(const char *dir, struct obs_tiers **out)
{
	struct obs_tiers *t = calloc(1, sizeof *t);
	if (!t || !(t->dir = strdup(dir))) {
		free(t);
		return -ENOMEM;
	}
	pthread_rwlock_init(&t->lock, NULL);
	int rc = 0;
	if (mkdir(dir, 0755) && errno != EEXIST)
		rc = -errno;
	for (int k = 0; k < OBS_NTIERS && !rc; k++) {
		char sub[4200];
		snprintf(sub, sizeof sub, "%s/%s", dir, obs_tier_names[k]);
		if (mkdir(sub, 0755) && errno != EEXIST) {
			rc = -errno;
			break;
		}
		DIR *d = opendir(sub);
		if (!d) {
			rc = -errno;
			break;
		}
		struct dirent *e;
		while ((e = readdir(d)) && !rc) {
			int level;
			int64_t mint, maxt;
			char id[64];
			char path[4600];
			snprintf(path, sizeof path, "%s/%s", sub, e->d_name);
			if (e->d_name[0] == '.') {
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
					unlink(path);   /* a temporary a crash left */
				continue;
			}
			if (sscanf(e->d_name, "%d_%" SCNd64 "_%" SCNd64 "_%63s", &level, &mint, &maxt, id) != 4)
				continue;
			struct obs_rollup *r;
			if (obs_rollup_open(path, &r)) {
				unlink(path);   /* unreadable: the raw data or the next merge rebuilds it */
				continue;
			}
			struct rset *s = get_set(t, id, level, mint, maxt);
			if (s && s->path[k]) {
				/* two files of one tier for one block: keep the first */
				obs_rollup_close(r);
				unlink(path);
				continue;
			}
			if (!s || !(s->path[k] = strdup(path))) {
				obs_rollup_close(r);
				rc = -ENOMEM;
				break;
			}
			obs_rollup_close(s->r[k]);
			s->r[k] = r;
		}
		closedir(d);
	}
	if (t->n)
		qsort(t->sets, t->n, sizeof *t->sets, rset_cmp);
	if (rc) {
		obs_tiers_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

void obs_tiers_close(struct obs_tiers *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		rset_release(&t->sets[i], 0);
	free(t->sets);
	pthread_rwlock_destroy(&t->lock);
	free(t->dir);
	free(t);
}

int obs_tiers_build(struct obs_tiers *t, struct obs_block *b, int level)
{
	struct obs_block_meta m;
	obs_block_get_meta(b, &m);
	const char *id = obs_block_id(b);
	struct obs_rollup_writer *w[OBS_NTIERS] = { 0 };
	char path[OBS_NTIERS][4600];
	int rc = 0;
	for (int k = 0; k < OBS_NTIERS && !rc; k++) {
		snprintf(path[k], sizeof path[k], "%s/%s/%d_%" PRId64 "_%" PRId64 "_%s", t->dir,
			 obs_tier_names[k], level, m.mint, m.maxt, id);
		rc = obs_rollup_writer_new(path[k], obs_tier_steps[k], &w[k]);
	}
	struct obs_samples smp;
	struct obs_rollup_series fine, coarse;
	obs_samples_init(&smp);
	obs_rollup_series_init(&fine);
	obs_rollup_series_init(&coarse);
	uint32_t n = obs_block_series_count(b);
	for (uint32_t i = 0; i < n && !rc; i++) {
		uint32_t sid;
		const char *canon;
		size_t len;
		obs_samples_reset(&smp);
		rc = obs_block_series(b, i, &sid, &canon, &len);
		if (!rc)
			rc = obs_block_read(b, i, INT64_MIN, INT64_MAX, &smp);
		if (rc || !smp.n)
			continue;
		/* the finest tier from raw samples, the coarser ones by merging it */
		obs_rollup_series_reset(&fine);
		rc = obs_rollup_compute(smp.t, smp.v, smp.n, obs_tier_steps[0], &fine);
		if (!rc)
			rc = obs_rollup_writer_add(w[0], sid, &fine);
		for (int k = 1; k < OBS_NTIERS && !rc; k++) {
			obs_rollup_series_reset(&coarse);
			rc = obs_rollup_merge_to(&fine, obs_tier_steps[k], &coarse);
			if (!rc)
				rc = obs_rollup_writer_add(w[k], sid, &coarse);
		}
	}
	obs_samples_release(&smp);
	obs_rollup_series_release(&fine);
	obs_rollup_series_release(&coarse);
	int committed = 0;
	for (int k = 0; k < OBS_NTIERS; k++) {
		if (!w[k])
			continue;
		if (rc) {
			obs_rollup_writer_abort(w[k]);
		} else {
			rc = obs_rollup_writer_commit(w[k]);
			if (!rc)
				committed = k + 1;
		}
	}
	if (rc)
		goto undo;
	pthread_rwlock_wrlock(&t->lock);
	struct rset *s = get_set(t, id, level, m.mint, m.maxt);
	for (int k = 0; k < OBS_NTIERS && s && !rc; k++) {
		struct obs_rollup *r;
		rc = obs_rollup_open(path[k], &r);
		if (!rc && !(s->path[k] = strdup(path[k]))) {
			obs_rollup_close(r);
			rc = -ENOMEM;
		}
		if (!rc)
			s->r[k] = r;
	}
	if (!s)
		rc = -ENOMEM;
	if (rc && s) {
		/* not half a set: forget what was opened */
		rset_release(s, 0);
		size_t i = (size_t)(s - t->sets);
		memmove(&t->sets[i], &t->sets[i + 1], (t->n - i - 1) * sizeof *t->sets);
		t->n--;
	}
	if (t->n)
		qsort(t->sets, t->n, sizeof *t->sets, rset_cmp);
	pthread_rwlock_unlock(&t->lock);
	if (!rc)
		return 0;
undo:
	/* a failed build leaves no file a later open would take for a set */
	for (int k = 0; k < committed; k++)
		unlink(path[k]);
	return rc;
}

int obs_tiers_drop(struct obs_tiers *t, const char *block_id)
{
	pthread_rwlock_wrlock(&t->lock);
	struct rset *s = find_set(t, block_id);
	if (s) {
		rset_release(s, 1);
		size_t i = (size_t)(s - t->sets);
		memmove(&t->sets[i], &t->sets[i + 1], (t->n - i - 1) * sizeof *t->sets);
		t->n--;
	}
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

int obs_tiers_has(struct obs_tiers *t, const char *block_id)
{
	pthread_rwlock_rdlock(&t->lock);
	int has = find_set(t, block_id) != NULL;
	pthread_rwlock_unlock(&t->lock);
	return has;
}

size_t obs_tiers_count(struct obs_tiers *t)
{
	pthread_rwlock_rdlock(&t->lock);
	size_t n = t->n;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

int obs_tiers_read(struct obs_tiers *t, int k, uint32_t id, int64_t from, int64_t to,
		   struct obs_rollup_series *acc)
{
	if (k < 0 || k >= OBS_NTIERS)
		return -EINVAL;
	int rc = 0;
	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->n && !rc; i++) {
		struct rset *s = &t->sets[i];
		/* a set's last bucket starts at its maxt at most: it meets [from, to]
		 * when maxt + step > from (written without overflow) */
		if (!s->r[k] || s->mint > to || (from > INT64_MIN + obs_tier_steps[k] && s->maxt < from - obs_tier_steps[k]))
			continue;
		rc = obs_rollup_read(s->r[k], id, from, to, acc);
		if (rc == -ENOENT)
			rc = 0;
	}
	pthread_rwlock_unlock(&t->lock);
	atomic_fetch_add(&t->reads, 1);
	return rc;
}

int obs_tiers_retain(struct obs_tiers *t, int64_t now_ms, const int64_t retention[OBS_NTIERS])
{
	int dropped = 0;
	pthread_rwlock_wrlock(&t->lock);
	for (size_t i = 0; i < t->n; i++) {
		struct rset *s = &t->sets[i];
		int left = 0;
		for (int k = 0; k < OBS_NTIERS; k++) {
			if (s->r[k] && retention[k] > 0 && s->maxt < now_ms - retention[k]) {
				obs_rollup_close(s->r[k]);
				unlink(s->path[k]);
				free(s->path[k]);
				s->r[k] = NULL;
				s->path[k] = NULL;
				dropped++;
			}
			left += s->r[k] != NULL;
		}
		if (!left) {
			rset_release(s, 1);
			memmove(&t->sets[i], &t->sets[i + 1], (t->n - i - 1) * sizeof *t->sets);
			t->n--;
			i--;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return dropped;
}

void obs_tiers_get_stats(struct obs_tiers *t, struct obs_tiers_stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_rwlock_rdlock(&t->lock);
	st->sets = t->n;
	for (size_t i = 0; i < t->n; i++)
		for (int k = 0; k < OBS_NTIERS; k++)
			if (t->sets[i].r[k]) {
				st->files[k]++;
				st->bytes[k] += obs_rollup_file_bytes(t->sets[i].r[k]);
			}
	pthread_rwlock_unlock(&t->lock);
	st->reads = atomic_load(&t->reads);
}
