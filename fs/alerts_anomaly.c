/* alerts_anomaly.c — alerts/anomalies/: anomaly rules (lib/alert/anomaly.h).
 *
 *   alerts/anomalies/        FS_DIR, live: the anomaly rules; creating a
 *                            file starts one (it exists once a valid
 *                            definition is written and closed)
 *   alerts/anomalies/NAME    FS_RW: write: the definition, checked at
 *                            close: refused with EINVAL and an `errors`
 *                            line (line and reason), the old version
 *                            staying active; accepted ones are stored as
 *                            DATADIR/alerts/anomalies/NAME and their rule
 *                            group "anomaly:NAME" installed in the rule
 *                            manager; read: the definition as written,
 *                            then the state as `# ` lines (anomaly.h:
 *                            baseline mean/stddev of this hour, z, weeks
 *                            of history, cold and why); rm removes it
 *
 * Each anomaly is evaluated by the rule evaluator's thread (alerts.c) on
 * the default rule interval, just before the rule groups, so its rule
 * group reads the z written at the same time. The baselines live in
 * memory and are rebuilt from the store at start and hourly. */
#include "obsfs.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alert/alertstate.h"
#include "alert/anomaly.h"
#include "core/errlog.h"
#include "core/fileio.h"
#include "query/dbstore.h"

#include "alerts_int.h"

struct anent {
	char *name;
	char *text;
	size_t len;
	struct am_anomaly *a;
	struct am_anomaly_model *m;
	int64_t next_eval;
};

static struct {
	pthread_mutex_t mu;          /* everything below */
	char dir[4200];
	struct anent *v;
	size_t n;
	struct obs_buf creating;     /* NUL-separated names being created */
	int64_t interval_ms;
	struct obs_query_store st;
	struct obs_query_opts qo;
} N = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void anent_release(struct anent *e)
{
	free(e->name);
	free(e->text);
	am_anomaly_free(e->a);
	am_anomaly_model_free(e->m);
}

static struct anent *find(const char *name)
{
	for (size_t i = 0; i < N.n; i++)
		if (!strcmp(N.v[i].name, name))
			return &N.v[i];
	return NULL;
}

static int creating_has(const char *name)
{
	return alerts_names_has(&N.creating, name);
}

static void creating_del(const char *name)
{
	alerts_names_del(&N.creating, name);
}

static int valid_name(const char *s, size_t n)
{
	if (!n || n > 200 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '\'' || s[i] == '"' ||
		    s[i] == '\\')
			return 0;
	return !(n > 4 && memmem(s, n, ".tmp.", 5));
}

static int rule_file(const char *name, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "anomaly:%s", name) >= len ? -ENAMETOOLONG : 0;
}

/* Install (replace) the anomaly name with a, its text (copied) and its
 * rule group; N.mu held. Takes a. */
static int install(const char *name, struct am_anomaly *a, const char *text, size_t n, const char *source)
{
	struct obs_buf y;
	obs_buf_init(&y);
	char file[300];
	int rc = rule_file(name, file, sizeof file);
	rc = rc ? rc : am_anomaly_rules_yaml(a, &y);
	rc = rc ? rc : alerts_install_generated(file, y.data, y.len, source);
	obs_buf_release(&y);
	struct anent ne = { 0 };
	if (!rc) {
		ne.name = strdup(name);
		ne.text = malloc(n + 1);
		ne.m = am_anomaly_model_new();
		if (!ne.name || !ne.text || !ne.m)
			rc = -ENOMEM;
	}
	if (rc) {
		free(ne.name);
		free(ne.text);
		am_anomaly_model_free(ne.m);
		am_anomaly_free(a);
		return rc;
	}
	memcpy(ne.text, text, n);
	ne.text[n] = 0;
	ne.len = n;
	ne.a = a;
	struct anent *old = find(name);
	if (old) {
		ne.next_eval = old->next_eval;
		anent_release(old);
		*old = ne;
		return 0;
	}
	struct anent *v = realloc(N.v, (N.n + 1) * sizeof *v);
	if (!v) {
		anent_release(&ne);
		return -ENOMEM;
	}
	N.v = v;
	N.v[N.n++] = ne;
	return 0;
}

/* parse; refusals go to errors with the line they name */
static int parse(const char *name, const char *text, size_t n, const char *source, struct am_anomaly **a)
{
	struct obs_buf err;
	obs_buf_init(&err);
	int rc = am_anomaly_parse(name, text, n, a, &err);
	if (rc == -EINVAL) {
		const char *m = err.data ? err.data : "invalid anomaly rule";
		size_t ln = 0;
		if (!strncmp(m, "line ", 5)) {
			ln = strtoul(m + 5, NULL, 10);
			const char *c = strstr(m, ": ");
			if (c)
				m = c + 2;
		}
		const char *q = text, *e = text + n;
		for (size_t k = 1; ln && k < ln && q < e; k++) {
			const char *x = memchr(q, '\n', (size_t)(e - q));
			q = x ? x + 1 : e;
		}
		const char *x = ln ? memchr(q, '\n', (size_t)(e - q)) : NULL;
		size_t ll = !ln ? 0 : x ? (size_t)(x - q) : (size_t)(e - q);
		obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), source, ln, ln ? q : "", ll, m);
	}
	obs_buf_release(&err);
	return rc;
}

static int read_all(const char *path, struct obs_buf *out)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char buf[8192];
	size_t k;
	int rc = 0;
	while (!rc && (k = fread(buf, 1, sizeof buf, f)) > 0)
		rc = obs_buf_append(out, buf, k);
	fclose(f);
	return rc;
}

/* ---- the evaluator's side ---- */

void alerts_anomaly_tick(int64_t now, const struct obs_rule_appender *out)
{
	pthread_mutex_lock(&N.mu);
	for (size_t i = 0; i < N.n; i++) {
		struct anent *e = &N.v[i];
		if (e->next_eval > now)
			continue;
		int64_t t = now - now % N.interval_ms;
		if (t < e->next_eval)
			t = e->next_eval;
		am_anomaly_eval(e->m, e->a, &N.qo, &N.st, t, out);
		e->next_eval = t + N.interval_ms;
	}
	pthread_mutex_unlock(&N.mu);
}

int alerts_anomaly_start(const char *alerts_dir, int64_t interval_ms, char *err, size_t errlen)
{
	if ((size_t)snprintf(N.dir, sizeof N.dir, "%s/anomalies", alerts_dir) >= sizeof N.dir) {
		snprintf(err, errlen, "data directory path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(N.dir, 0755) < 0 && errno != EEXIST) {
		int e = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", N.dir, strerror(errno));
		return e;
	}
	N.interval_ms = interval_ms > 0 ? interval_ms : 60000;
	N.st = obs_query_db_store_logs(obsfs->db, obsfs->logs);
	obs_query_opts_default(&N.qo);
	DIR *d = opendir(N.dir);
	struct dirent *de;
	pthread_mutex_lock(&N.mu);
	while (d && (de = readdir(d))) {
		if (!valid_name(de->d_name, strlen(de->d_name)))
			continue;
		char path[4500], src[300];
		snprintf(path, sizeof path, "%s/%s", N.dir, de->d_name);
		snprintf(src, sizeof src, "alerts/anomalies/%s", de->d_name);
		struct obs_buf t;
		obs_buf_init(&t);
		struct am_anomaly *a;
		if (read_all(path, &t) == 0 && parse(de->d_name, t.data ? t.data : "", t.len, src, &a) == 0)
			install(de->d_name, a, t.data ? t.data : "", t.len, src);
		else
			fprintf(stderr, "obsfsd: %s: refused (see errors)\n", src);
		obs_buf_release(&t);
	}
	pthread_mutex_unlock(&N.mu);
	if (d)
		closedir(d);
	return 0;
}

void alerts_anomaly_stop(void)
{
	pthread_mutex_lock(&N.mu);
	for (size_t i = 0; i < N.n; i++)
		anent_release(&N.v[i]);
	free(N.v);
	N.v = NULL;
	N.n = 0;
	obs_buf_release(&N.creating);
	pthread_mutex_unlock(&N.mu);
}

/* ---- the files ---- */

struct aopen {
	struct obs_buf text;
	char *name;
	int wrote;
};

static void aopen_free(void *p)
{
	struct aopen *w = p;
	if (!w)
		return;
	pthread_mutex_lock(&N.mu);
	if (!find(w->name))
		creating_del(w->name);   /* created, never accepted: gone */
	pthread_mutex_unlock(&N.mu);
	obs_buf_release(&w->text);
	free(w->name);
	free(w);
}

static int an_open(struct ofile *o, int acc)
{
	struct aopen *w = calloc(1, sizeof *w);
	if (!w || !(w->name = strdup(o->nd.arg.data))) {
		free(w);
		return -ENOMEM;
	}
	obs_buf_init(&w->text);
	o->priv = w;
	o->priv_free = aopen_free;
	return 0;
}

static int an_render_to(const char *name, struct obs_buf *out)
{
	pthread_mutex_lock(&N.mu);
	struct anent *e = find(name);
	int rc = 0;
	if (e) {
		rc = obs_buf_append(out, e->text, e->len);
		if (!rc && e->len && e->text[e->len - 1] != '\n')
			rc = obs_buf_putc(out, '\n');
		struct obs_buf st;
		obs_buf_init(&st);
		if (!rc)
			rc = am_anomaly_render_state(e->m, e->a, &st);
		for (char *p = st.data; !rc && p && *p;) {
			char *nl = strchr(p, '\n');
			size_t l = nl ? (size_t)(nl - p) : strlen(p);
			rc = obs_buf_printf(out, "# %.*s\n", (int)l, p);
			p = nl ? nl + 1 : p + l;
		}
		obs_buf_release(&st);
	}
	pthread_mutex_unlock(&N.mu);
	return rc;
}

static int an_render(struct ofile *o)
{
	return an_render_to(o->nd.arg.data, &o->content);
}

static int an_size(struct node *n, uint64_t *size)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int r = an_render_to(n->arg.data, &b);
	*size = b.len;
	obs_buf_release(&b);
	return r;
}

static int an_consume(struct ofile *o, const char *p, size_t n)
{
	struct aopen *w = o->priv;
	if (w->text.len + n > (1u << 20))
		return -EFBIG;
	w->wrote = 1;
	return obs_buf_append(&w->text, p, n);
}

static int an_end_write(struct ofile *o)
{
	struct aopen *w = o->priv;
	if (!w->wrote)
		return 0;
	w->wrote = 0;
	const char *text = w->text.data ? w->text.data : "";
	struct am_anomaly *a;
	int rc = parse(w->name, text, w->text.len, o->source, &a);
	if (!rc) {
		char path[4500];
		pthread_mutex_lock(&N.mu);
		snprintf(path, sizeof path, "%s/%s", N.dir, w->name);
		rc = obs_alert_write_atomic(path, text, w->text.len);
		if (rc)
			am_anomaly_free(a);
		else
			rc = install(w->name, a, text, w->text.len, o->source);
		if (!rc)
			creating_del(w->name);
		pthread_mutex_unlock(&N.mu);
	}
	obs_buf_reset(&w->text);
	return rc;
}

static int an_unlink(struct node *n)
{
	char path[4500], file[300];
	pthread_mutex_lock(&N.mu);
	struct anent *e = find(n->arg.data);
	int rc = e ? 0 : -ENOENT;
	if (!rc) {
		snprintf(path, sizeof path, "%s/%s", N.dir, e->name);
		if (unlink(path) < 0 && errno != ENOENT)
			rc = -errno;
	}
	if (!rc) {
		obs_fsync_dir(N.dir);
		if (!rule_file(e->name, file, sizeof file))
			alerts_install_generated(file, NULL, 0, NULL);
		anent_release(e);
		*e = N.v[--N.n];
	}
	pthread_mutex_unlock(&N.mu);
	return rc;
}

static const struct fs_kind anomaly_kind = {
	.name = "anomaly",
	.type = FS_RW,
	.live = 1,
	.size = an_size,
	.open = an_open,
	.render = an_render,
	.consume = an_consume,
	.end_write = an_end_write,
	.unlink = an_unlink,
};

static int an_list(struct node *n, struct fs_fill *f)
{
	pthread_mutex_lock(&N.mu);
	for (size_t i = 0; i < N.n; i++)
		fs_fill_name(f, N.v[i].name);
	pthread_mutex_unlock(&N.mu);
	return 0;
}

static int an_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (!valid_name(name, n))
		return -ENOENT;
	if (obs_buf_append(&child->arg, name, n))
		return -ENOMEM;
	pthread_mutex_lock(&N.mu);
	int ok = find(child->arg.data) || creating_has(child->arg.data);
	pthread_mutex_unlock(&N.mu);
	if (!ok)
		return -ENOENT;
	child->kind = &anomaly_kind;
	return 0;
}

static int an_create(struct node *parent, const char *name, struct node *child, const char *source)
{
	if (!valid_name(name, strlen(name)))
		return -EINVAL;
	pthread_mutex_lock(&N.mu);
	int rc = 0;
	if (!find(name) && !creating_has(name))
		rc = obs_buf_append(&N.creating, name, strlen(name) + 1);
	pthread_mutex_unlock(&N.mu);
	if (rc || obs_buf_puts(&child->arg, name))
		return -ENOMEM;
	child->kind = &anomaly_kind;
	return 0;
}

const struct fs_kind alerts_anomalies_dir = {
	.name = "alerts/anomalies",
	.type = FS_DIR,
	.live = 1,
	.list = an_list,
	.lookup = an_lookup,
	.create = an_create,
};
