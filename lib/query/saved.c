/* saved.c — saved queries: named PromQL expressions that survive restarts
 * (MOUNT/queries/NAME).
 *
 * On disk, one file per query in DIR (DATADIR/queries/):
 *
 *     DIR/NAME               the expression as UTF-8 text and one newline
 *     DIR/NAME.tmp.XXXXXX    a save in progress (deleted at open)
 *
 * A save is obs_write_file_atomic (core/fileio.h: the temporary file,
 * fsync, rename over NAME, fsync of DIR; fault points query.save.*), so
 * after a crash NAME holds the old or the new expression, never a part. A removal unlinks NAME and fsyncs DIR. A file whose text
 * is no longer a valid expression (edited by hand) is still listed and
 * read back; evaluating it fails with the parser's message. NAME is 1 to
 * 200 bytes of [A-Za-z0-9_.:-], not starting with '.' and without ".tmp.".
 *
 * The set is kept in memory (a sorted array) under one mutex. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/vec.h"
#include "query/query.h"
#include "query/saved.h"

struct sq {
	char *name, *expr;
};

struct obs_query_saved {
	char *dir;
	pthread_mutex_t mu;   /* protects q, n, cap */
	struct sq *q;
	size_t n, cap;
};

int obs_query_saved_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > 200 || s[0] == '.' || memmem(s, n, ".tmp.", 5))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

static size_t find(const struct obs_query_saved *s, const char *name, int *found)
{
	size_t a = 0, b = s->n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		int c = strcmp(s->q[m].name, name);
		if (c == 0) {
			*found = 1;
			return m;
		}
		if (c < 0)
			a = m + 1;
		else
			b = m;
	}
	*found = 0;
	return a;
}

/* Insert or replace (takes ownership of name and expr). */
static int set_locked(struct obs_query_saved *s, char *name, char *expr)
{
	int found;
	size_t i = find(s, name, &found);
	if (found) {
		free(s->q[i].expr);
		s->q[i].expr = expr;
		free(name);
		return 0;
	}
	if (OBS_VEC_RESERVE_FROM(s->q, s->cap, s->n + 1, 16))
		return -ENOMEM;
	memmove(&s->q[i + 1], &s->q[i], (s->n - i) * sizeof(*s->q));
	s->q[i].name = name;
	s->q[i].expr = expr;
	s->n++;
	return 0;
}

static char *path_of(const struct obs_query_saved *s, const char *name)
{
	size_t len = strlen(s->dir) + strlen(name) + 2;
	char *p = malloc(len);
	if (p)
		snprintf(p, len, "%s/%s", s->dir, name);
	return p;
}

static int load_one(struct obs_query_saved *s, const char *name)
{
	char *p = path_of(s, name);
	if (!p)
		return -ENOMEM;
	char *text;
	size_t k;
	int rc = obs_read_file(p, 0, &text, &k);
	free(p);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	k = strlen(text);   /* the expression ends at a NUL, if the file holds one */
	while (k > 0 && (text[k - 1] == '\n' || text[k - 1] == '\r' || text[k - 1] == ' '))
		text[--k] = 0;
	char *nm = strdup(name);
	if (!nm) {
		free(text);
		return -ENOMEM;
	}
	rc = set_locked(s, nm, text);
	if (rc) {
		free(nm);
		free(text);
	}
	return rc;
}

int obs_query_saved_open(const char *dir, struct obs_query_saved **out)
{
	*out = NULL;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	struct obs_query_saved *s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->mu, NULL);
	DIR *d = opendir(dir);
	if (!d) {
		int rc = -errno;
		obs_query_saved_close(s);
		return rc;
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		const char *nm = de->d_name;
		size_t len = strlen(nm);
		if (strstr(nm, ".tmp.")) {   /* an interrupted save (obs_write_file_atomic's temp file) */
			char *p = malloc(strlen(dir) + len + 2);
			if (p) {
				sprintf(p, "%s/%s", dir, nm);
				unlink(p);
				free(p);
			}
			continue;
		}
		if (obs_query_saved_name_valid(nm, len))
			rc = load_one(s, nm);
	}
	closedir(d);
	if (rc) {
		obs_query_saved_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void obs_query_saved_close(struct obs_query_saved *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->q[i].name);
		free(s->q[i].expr);
	}
	free(s->q);
	free(s->dir);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int obs_query_saved_put(struct obs_query_saved *s, const char *name, const char *expr, size_t n, char *err,
			size_t errlen)
{
	if (!obs_query_saved_name_valid(name, strlen(name))) {
		snprintf(err, errlen, "invalid query name '%s': want 1-200 of [A-Za-z0-9_.:-], not starting with '.'",
			 name);
		return -EINVAL;
	}
	while (n && (expr[n - 1] == '\n' || expr[n - 1] == '\r' || expr[n - 1] == ' ' || expr[n - 1] == '\t'))
		n--;
	while (n && (expr[0] == ' ' || expr[0] == '\t' || expr[0] == '\n')) {
		expr++;
		n--;
	}
	if (!n) {
		snprintf(err, errlen, "no expression");
		return -EINVAL;
	}
	if (memchr(expr, 0, n)) {
		snprintf(err, errlen, "the expression holds a NUL byte");
		return -EINVAL;
	}
	struct obs_query_expr *e;
	int rc = obs_query_parse(expr, n, &e, err, errlen);
	if (rc)
		return rc;
	obs_query_expr_free(e);
	char *text = malloc(n + 2), *nm = strdup(name);
	char *dst = path_of(s, name);
	if (!text || !nm || !dst) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(text, expr, n);
	text[n] = '\n';
	text[n + 1] = 0;
	pthread_mutex_lock(&s->mu);   /* saves of one name in order */
	rc = obs_write_file_atomic(dst, text, n + 1, "query.save");
	if (rc == 0 || access(dst, F_OK) == 0) {
		/* saved, or renamed into place without the directory fsync: visible */
		int renamed = 1;
		if (rc) {
			struct obs_buf cur;
			obs_buf_init(&cur);
			renamed = 0;   /* the old file may still be there: compare */
			if (obs_read_file_buf(dst, n + 1, &cur) == 0)
				renamed = cur.len == n + 1 && !memcmp(cur.data, text, n + 1);
			obs_buf_release(&cur);
		}
		if (renamed) {
			text[n] = 0;
			int src = set_locked(s, nm, text);
			if (!src)
				nm = text = NULL;
			else if (!rc)
				rc = src;
		}
	}
	if (rc)
		snprintf(err, errlen, "cannot save query '%s': %s", name, strerror(-rc));
	pthread_mutex_unlock(&s->mu);
out:
	free(text);
	free(nm);
	free(dst);
	return rc;
}

int obs_query_saved_get(struct obs_query_saved *s, const char *name, struct obs_buf *expr)
{
	pthread_mutex_lock(&s->mu);
	int found;
	size_t i = find(s, name, &found);
	int rc = found ? obs_buf_puts(expr, s->q[i].expr) : -ENOENT;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int obs_query_saved_del(struct obs_query_saved *s, const char *name)
{
	pthread_mutex_lock(&s->mu);
	int found, rc = 0;
	size_t i = find(s, name, &found);
	if (!found) {
		pthread_mutex_unlock(&s->mu);
		return -ENOENT;
	}
	char *p = path_of(s, name);
	if (!p)
		rc = -ENOMEM;
	else if (unlink(p) != 0 && errno != ENOENT)
		rc = -errno;
	free(p);
	if (!rc)
		rc = obs_fsync_dir(s->dir);
	if (!rc) {
		free(s->q[i].name);
		free(s->q[i].expr);
		memmove(&s->q[i], &s->q[i + 1], (s->n - i - 1) * sizeof(*s->q));
		s->n--;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int obs_query_saved_list(struct obs_query_saved *s, int (*fn)(void *ctx, const char *name), void *ctx)
{
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	for (size_t i = 0; i < s->n && !rc; i++)
		rc = fn(ctx, s->q[i].name);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
