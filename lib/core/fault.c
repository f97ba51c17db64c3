/* fault.c — named fault-injection points (see fault.h).
 *
 * A small fixed table guarded by one mutex; the fast path is a single
 * atomic flag so that points cost nothing when no test armed them. */
#include "core/fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAULT_MAX 64
#define FAULT_NAME 48

struct fault_point {
	char name[FAULT_NAME];
	int armed;        /* fails hits after skip, count times */
	int skip, count, err;
	unsigned hits;
};

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fault_point fault_tab[FAULT_MAX];   /* guarded by fault_mu */
static size_t fault_n;                            /* guarded by fault_mu */
static _Atomic int fault_active;

static struct fault_point *fault_find(const char *point, int add)
{
	for (size_t i = 0; i < fault_n; i++)
		if (!strcmp(fault_tab[i].name, point))
			return &fault_tab[i];
	if (!add || fault_n == FAULT_MAX || strlen(point) >= FAULT_NAME)
		return NULL;
	struct fault_point *f = &fault_tab[fault_n++];
	memset(f, 0, sizeof *f);
	strcpy(f->name, point);
	return f;
}

int obs_fault(const char *point)
{
	if (!atomic_load_explicit(&fault_active, memory_order_relaxed))
		return 0;
	int rc = 0;
	pthread_mutex_lock(&fault_mu);
	struct fault_point *f = fault_find(point, 1);
	if (f) {
		f->hits++;
		if (f->armed) {
			if (f->skip > 0) {
				f->skip--;
			} else if (f->count != 0) {
				rc = -f->err;
				if (f->count > 0)
					f->count--;
			}
		}
	}
	pthread_mutex_unlock(&fault_mu);
	return rc;
}

int obs_fault_arm(const char *point, int skip, int count, int err)
{
	if (!point || !*point || err <= 0 || skip < 0)
		return -EINVAL;
	pthread_mutex_lock(&fault_mu);
	struct fault_point *f = fault_find(point, 1);
	if (f) {
		f->armed = 1;
		f->skip = skip;
		f->count = count;
		f->err = err;
		f->hits = 0;
		atomic_store(&fault_active, 1);
	}
	pthread_mutex_unlock(&fault_mu);
	return f ? 0 : -E2BIG;
}

unsigned obs_fault_hits(const char *point)
{
	pthread_mutex_lock(&fault_mu);
	struct fault_point *f = fault_find(point, 0);
	unsigned n = f ? f->hits : 0;
	pthread_mutex_unlock(&fault_mu);
	return n;
}

void obs_fault_reset(void)
{
	pthread_mutex_lock(&fault_mu);
	fault_n = 0;
	atomic_store(&fault_active, 0);
	pthread_mutex_unlock(&fault_mu);
}

static int errno_by_name(const char *s, size_t n)
{
	static const struct { const char *name; int err; } names[] = {
		{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EDQUOT", EDQUOT }, { "EACCES", EACCES },
		{ "EPERM", EPERM }, { "EROFS", EROFS }, { "ENOMEM", ENOMEM }, { "EINTR", EINTR },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i].name) == n && !memcmp(names[i].name, s, n))
			return names[i].err;
	char buf[16], *end;
	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	long v = strtol(buf, &end, 10);
	return *end || v <= 0 || v > 4095 ? -1 : (int)v;
}

int obs_fault_parse(const char *spec)
{
	while (spec && *spec) {
		const char *end = strchr(spec, ',');
		size_t len = end ? (size_t)(end - spec) : strlen(spec);
		char item[128], *f[4] = { 0 };
		if (len >= sizeof item)
			return -EINVAL;
		memcpy(item, spec, len);
		item[len] = 0;
		int nf = 0;
		for (char *p = item, *tok; nf < 4 && (tok = strsep(&p, ":"));)
			f[nf++] = tok;
		if (nf < 3)
			return -EINVAL;
		char *e1, *e2 = NULL;
		long skip = strtol(f[1], &e1, 10);
		long count = f[3] ? strtol(f[3], &e2, 10) : 1;
		int err = errno_by_name(f[2], strlen(f[2]));
		if (*e1 || (e2 && *e2) || skip < 0 || err < 0)
			return -EINVAL;
		int rc = obs_fault_arm(f[0], (int)skip, (int)count, err);
		if (rc)
			return rc;
		spec = end ? end + 1 : NULL;
	}
	return 0;
}

int obs_fault_step(const char *pt, const char *step)
{
	if (!pt)
		return 0;
	char name[64];
	snprintf(name, sizeof(name), "%s.%s", pt, step);
	return obs_fault(name);
}
