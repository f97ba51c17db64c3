/* alerts.c — the alerts/ subtree: Prometheus rule files and the alerts the
 * rule manager (lib/alert/ruleeval.h) derives from them.
 *
 *   alerts/                  FS_DIR: the rows of alerts_rows[] below; the
 *                            Alertmanager side's config, silences/, slos/ and
 *                            notifications are in alerts_notify.c
 *   alerts/rules/            FS_DIR: the loaded rule files; creating a file
 *                            creates an empty (valid) rule file
 *   alerts/rules/FILE        FS_RW: read: the file as written; write: the
 *                            new content, checked at close as Prometheus
 *                            does: refused with EINVAL and one `errors` line
 *                            per problem (line and reason), the old version
 *                            staying active; accepted ones are stored under
 *                            DATADIR/alerts/rules/ and evaluated; rm removes.
 *                            A rule file is parsed whole, so it is held whole:
 *                            one over OBS_RULES_FILE_MAX (16 MiB) is refused
 *                            with EFBIG and an `errors` line, when written
 *                            and when found in DATADIR at start
 *   alerts/state, firing/, pending/, events
 *                            the views of the rule manager's alerts, in
 *                            alerts_view.c
 *   alerts/anomalies/        anomaly rules, in alerts_anomaly.c
 *
 * The evaluator runs in its own thread (alerts_start, from main.c): every
 * group on its interval (the group's, else -o alert_interval, 1m), reading
 * the metrics db through lib/query's dbstore and writing recording rules'
 * series, ALERTS and ALERTS_FOR_STATE back into it. Alert state is saved
 * to DATADIR/alerts/state after every change (alertstate.c) and restored at
 * start, so a firing alert stays firing across a restart or a kill -9. */
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
#include "alert/ruleeval.h"
#include "core/errlog.h"
#include "core/fileio.h"
#include "core/num.h"
#include "core/labels.h"
#include "query/dbstore.h"

#include "alerts_int.h"
#include "alerts_notify.h"

static struct {
	struct obs_ruleeval *ev;
	char dir[4096], rules[4200], state[4200];
	pthread_t th;
	int running, stop;
	pthread_mutex_t mu;          /* stop, cv, out */
	pthread_cond_t cv;
	struct obs_buf out;          /* samples to ingest after an evaluation (Prometheus text) */
	pthread_mutex_t files_mu;    /* rule file replacement and removal */
	uint64_t saved_gen;
} A = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
	.files_mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- the evaluator's outputs ------------------------------------------------- */

/* Samples go out as Prometheus text with timestamps; the TSDB has no stale
 * markers, so those are not stored (a series ends by lookback instead). */
static int db_append(void *ctx, const struct obs_labels *l, int64_t t, double v)
{
	char vb[40];
	obs_num_format(v, vb);   /* a staleness marker is `stale`, which ingest takes */
	pthread_mutex_lock(&A.mu);
	int r = obs_labels_format(l, &A.out);
	if (!r)
		r = obs_buf_printf(&A.out, " %s %lld\n", vb, (long long)t);
	pthread_mutex_unlock(&A.mu);
	return r;
}

static void flush_out(void)
{
	pthread_mutex_lock(&A.mu);
	struct obs_buf b = A.out;
	obs_buf_init(&A.out);
	pthread_mutex_unlock(&A.mu);
	if (b.len) {
		struct obs_ingest_result r;
		obs_db_ingest(obsfs->db, b.data, b.len, OBS_FMT_PROM, "alerts", 1, &r);
	}
	obs_buf_release(&b);
}

/* a second sink (the Alertmanager side's notifier), set before start */
static struct obs_alert_sink extra;

void alerts_add_sink(const struct obs_alert_sink *s)
{
	extra = *s;
}

static void on_send(void *ctx, const char *file, const char *group, int64_t now, const struct obs_alert *const *a,
		    size_t n)
{
	alerts_notify_send(NULL, file, group, now, a, n);
	if (extra.send)
		extra.send(extra.ctx, file, group, now, a, n);
}

static void on_event(void *ctx, const struct obs_alert_event *e)
{
	if (extra.event)
		extra.event(extra.ctx, e);
	alerts_view_event(e);
	pthread_mutex_lock(&A.mu);
	pthread_cond_broadcast(&A.cv);
	pthread_mutex_unlock(&A.mu);
	obsfs_wake("alerts/events");   /* parked readers and poll(2) ask again */
}

static void save_state(void)
{
	uint64_t g = obs_ruleeval_generation(A.ev);
	if (g == A.saved_gen)
		return;
	if (obs_alertstate_save(A.ev, A.state) == 0)
		A.saved_gen = g;
}

static void *eval_thread(void *arg)
{
	pthread_mutex_lock(&A.mu);
	while (!A.stop) {
		pthread_mutex_unlock(&A.mu);
		int64_t now = obs_time_now();
		/* anomalies first: their rule groups read the z written now */
		struct obs_rule_appender out = { db_append, NULL };
		alerts_anomaly_tick(now, &out);
		flush_out();
		int64_t next = obs_ruleeval_tick(A.ev, now);
		flush_out();
		save_state();
		now = obs_time_now();
		int64_t wait = next - now;
		if (wait > 1000)
			wait = 1000;   /* new rule files are picked up within a second */
		if (wait < 1)
			wait = 1;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&A.mu);
		if (!A.stop)
			pthread_cond_timedwait(&A.cv, &A.mu, &ts);
	}
	pthread_mutex_unlock(&A.mu);
	return NULL;
}

struct obs_ruleeval *alerts_rule_manager(void)
{
	return A.ev;
}

/* ---- rule files ---------------------------------------------------------------- */

static int valid_file_name(const char *s, size_t n)
{
	if (!n || n > 255 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return !(n > 4 && strstr(s, ".tmp."));
}

static int rule_path(const char *name, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", A.rules, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* the line of an error message ("12:5: ..." or "line 12: ..."), 0 if none */
static size_t err_line(const char *m)
{
	if (!strncmp(m, "line ", 5))
		return strtoul(m + 5, NULL, 10);
	if (!strncmp(m, "yaml: line ", 11))
		return strtoul(m + 11, NULL, 10);
	char *end;
	unsigned long l = strtoul(m, &end, 10);
	return end != m && *end == ':' ? l : 0;
}

/* The reason of an error message for the errors file, whose reasons are
 * short: the position goes to the line number, and `group "G", rule N,
 * "NAME": REASON` becomes `"NAME": REASON` (the line says which rule). */
static const char *short_reason(const char *m)
{
	const char *p = m;
	for (int i = 0; i < 2; i++) {   /* "L:C: " up to twice */
		const char *q = p;
		while (*q >= '0' && *q <= '9')
			q++;
		if (q == p || *q != ':')
			break;
		q++;
		while (*q >= '0' && *q <= '9')
			q++;
		if (*q != ':' || q[1] != ' ')
			break;
		p = q + 2;
	}
	if (!strncmp(p, "line ", 5)) {
		const char *q = strchr(p, ':');
		if (q && q[1] == ' ')
			p = q + 2;
	}
	if (!strncmp(p, "group \"", 7)) {
		const char *q = strstr(p, ", rule ");
		q = q ? strchr(q + 7, ',') : NULL;
		if (q && q[1] == ' ')
			p = q + 2;
	}
	return p;
}

/* Check text; on success install it under name (and store it when store).
 * On refusal, one errors line per problem and -EINVAL. */
static int install(const char *name, const char *text, size_t n, int store, const char *source)
{
	struct obs_buf errs;
	obs_buf_init(&errs);
	struct obs_rule_file *f;
	int r = obs_rules_parse(text, n, &f, &errs);
	if (r == -EINVAL) {
		for (char *p = errs.data; p && *p;) {
			char *nl = strchr(p, '\n');
			if (nl)
				*nl = 0;
			size_t ln = err_line(p);
			/* the offending line of the file, when the message has one */
			const char *line = "";
			size_t ll = 0;
			if (ln) {
				const char *q = text, *e = text + n;
				for (size_t k = 1; k < ln && q < e; k++) {
					const char *x = memchr(q, '\n', (size_t)(e - q));
					q = x ? x + 1 : e;
				}
				const char *x = memchr(q, '\n', (size_t)(e - q));
				line = q;
				ll = x ? (size_t)(x - q) : (size_t)(e - q);
			}
			obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), source, ln, line, ll, short_reason(p));
			p = nl ? nl + 1 : p + strlen(p);
		}
	}
	obs_buf_release(&errs);
	if (r)
		return r;
	if (store) {
		char path[4400];
		r = rule_path(name, path, sizeof path);
		if (!r)
			r = obs_alert_write_atomic(path, text, n);
		if (r) {
			obs_rules_free(f);
			return r;
		}
	}
	return obs_ruleeval_set(A.ev, name, f, obs_time_now());
}

/* Files being created: they exist for lookups while their creator writes,
 * and reach the disk only when their content is accepted (or, never
 * written, as an empty rule file when closed). A refused new file is gone. */
static struct obs_buf creating;   /* NUL-separated names; files_mu */

int alerts_names_has(const struct obs_buf *names, const char *name)
{
	for (size_t i = 0; i < names->len; i += strlen(names->data + i) + 1)
		if (!strcmp(names->data + i, name))
			return 1;
	return 0;
}

void alerts_names_del(struct obs_buf *names, const char *name)
{
	for (size_t i = 0; i < names->len; i += strlen(names->data + i) + 1)
		if (!strcmp(names->data + i, name)) {
			size_t l = strlen(name) + 1;
			memmove(names->data + i, names->data + i + l, names->len - i - l);
			names->len -= l;
			return;
		}
}

static int creating_has(const char *name)
{
	return alerts_names_has(&creating, name);
}

static void creating_del(const char *name)
{
	alerts_names_del(&creating, name);
}

struct rfopen {
	struct obs_buf text;
	char *name;
	int created;      /* this open created the file */
	int decided;      /* its content was accepted or refused */
	int too_big;      /* the content written passed OBS_RULES_FILE_MAX */
};

static void rfopen_free(void *p)
{
	struct rfopen *r = p;
	if (!r)
		return;
	if (r->created && !r->decided) {
		char src[400];
		snprintf(src, sizeof src, "alerts/rules/%s", r->name);
		pthread_mutex_lock(&A.files_mu);
		install(r->name, "", 0, 1, src);
		creating_del(r->name);
		pthread_mutex_unlock(&A.files_mu);
	}
	obs_buf_release(&r->text);
	free(r->name);
	free(r);
}

static int on_disk(const char *name)
{
	char path[4400];
	struct stat st;
	return !rule_path(name, path, sizeof path) && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int rulefile_open(struct ofile *o, int acc)
{
	struct rfopen *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	obs_buf_init(&r->text);
	r->name = strdup(o->nd.arg.data);
	if (!r->name) {
		free(r);
		return -ENOMEM;
	}
	pthread_mutex_lock(&A.files_mu);
	r->created = creating_has(r->name) && !on_disk(r->name);
	pthread_mutex_unlock(&A.files_mu);
	o->priv = r;
	o->priv_free = rfopen_free;
	return 0;
}

/* A stored rule file into out: 0, -ENOENT, -EFBIG over OBS_RULES_FILE_MAX
 * (out unchanged on failure). */
static int read_rule_file(const char *name, struct obs_buf *out)
{
	char path[4400];
	int r = rule_path(name, path, sizeof path);
	return r ? r : obs_read_file_buf(path, OBS_RULES_FILE_MAX, out);
}

/* The errors line of a rule file over the bound. */
static void too_big(const char *source)
{
	char why[96];
	snprintf(why, sizeof why, "rule file too large (more than %u bytes)", OBS_RULES_FILE_MAX);
	obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), source, 0, "", 0, why);
}

static int rulefile_size(struct node *n, uint64_t *size)
{
	char path[4400];
	struct stat st;
	*size = 0;
	if (rule_path(n->arg.data, path, sizeof path) || stat(path, &st) < 0)
		return 0;   /* being created */
	*size = (uint64_t)st.st_size;
	return 0;
}

static int rulefile_render(struct ofile *o)
{
	int r = read_rule_file(o->nd.arg.data, &o->content);
	return r == -ENOENT ? 0 : r;
}

static int rulefile_consume(struct ofile *o, const char *p, size_t n)
{
	struct rfopen *r = o->priv;
	if (r->too_big)
		return -EFBIG;
	if (r->text.len + n > OBS_RULES_FILE_MAX) {
		r->too_big = 1;   /* refused at close too: no prefix of it is installed */
		obs_buf_release(&r->text);
		too_big(o->source);
		return -EFBIG;
	}
	return obs_buf_append(&r->text, p, n);
}

/* close after a write: the whole new content is checked, then replaces the
 * old one, or is refused and the old one stays */
static int rulefile_end_write(struct ofile *o)
{
	struct rfopen *r = o->priv;
	pthread_mutex_lock(&A.files_mu);
	int rc = r->too_big ? -EFBIG : install(o->nd.arg.data, r->text.data ? r->text.data : "", r->text.len, 1, o->source);
	r->too_big = 0;
	if (r->created) {
		r->decided = 1;
		creating_del(r->name);
	}
	pthread_mutex_unlock(&A.files_mu);
	obs_buf_reset(&r->text);
	return rc;
}

static int rulefile_unlink(struct node *n)
{
	char path[4400];
	int r = rule_path(n->arg.data, path, sizeof path);
	if (r)
		return r;
	pthread_mutex_lock(&A.files_mu);
	if (unlink(path) < 0)
		r = -errno;
	else {
		obs_fsync_dir(A.rules);
		obs_ruleeval_remove(A.ev, n->arg.data, obs_time_now());
	}
	pthread_mutex_unlock(&A.files_mu);
	pthread_cond_broadcast(&A.cv);
	return r;
}

static const struct fs_kind rulefile_kind = {
	.name = "rule file",
	.type = FS_RW,
	.live = 1,
	.size = rulefile_size,
	.open = rulefile_open,
	.render = rulefile_render,
	.consume = rulefile_consume,
	.end_write = rulefile_end_write,
	.unlink = rulefile_unlink,
};

static int rules_list(struct node *n, struct fs_fill *f)
{
	DIR *d = opendir(A.rules);
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)))
		if (valid_file_name(e->d_name, strlen(e->d_name)))
			fs_fill_name(f, e->d_name);
	closedir(d);
	return 0;
}

static int rules_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (!valid_file_name(name, n))
		return -ENOENT;
	if (obs_buf_append(&child->arg, name, n))
		return -ENOMEM;
	pthread_mutex_lock(&A.files_mu);
	int ok = on_disk(child->arg.data) || creating_has(child->arg.data);
	pthread_mutex_unlock(&A.files_mu);
	if (!ok)
		return -ENOENT;
	child->kind = &rulefile_kind;
	return 0;
}

static int rules_create(struct node *parent, const char *name, struct node *child, const char *source)
{
	if (!valid_file_name(name, strlen(name)))
		return -EINVAL;
	pthread_mutex_lock(&A.files_mu);
	int rc = 0;
	if (!on_disk(name) && !creating_has(name))
		rc = obs_buf_append(&creating, name, strlen(name) + 1);
	pthread_mutex_unlock(&A.files_mu);
	if (rc)
		return -ENOMEM;
	if (obs_buf_puts(&child->arg, name))
		return -ENOMEM;
	child->kind = &rulefile_kind;
	return 0;
}

static const struct fs_kind rules_dir = {
	.name = "alerts/rules",
	.type = FS_DIR,
	.list = rules_list,
	.lookup = rules_lookup,
	.create = rules_create,
};

/* ---- alerts/ ------------------------------------------------------------------------ */

/* The children of alerts/: a table, so the Alertmanager side adds rows
 * (silences/, config, slos/) without touching the rest. */
struct alerts_row {
	const char *name;
	const struct fs_kind *kind;
};

static const struct alerts_row alerts_rows[] = {
	{ "rules", &rules_dir },
	{ "state", &alerts_view_state },
	{ "firing", &alerts_view_in_dir },
	{ "pending", &alerts_view_in_dir },
	{ "events", &alerts_view_events },
	/* the Alertmanager side (alerts_notify.c) */
	{ "config", &alerts_notify_config },
	{ "silences", &alerts_notify_silences_dir },
	{ "slos", &alerts_notify_slos_dir },
	{ "anomalies", &alerts_anomalies_dir },
	{ "notifications", &alerts_notify_status },
};

static int alerts_list(struct node *n, struct fs_fill *f)
{
	for (size_t i = 0; i < sizeof alerts_rows / sizeof alerts_rows[0]; i++)
		fs_fill_name(f, alerts_rows[i].name);
	return 0;
}

static int alerts_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	for (size_t i = 0; i < sizeof alerts_rows / sizeof alerts_rows[0]; i++)
		if (fs_name_eq(name, n, alerts_rows[i].name)) {
			if (!A.ev)
				return -ENOENT;
			child->kind = alerts_rows[i].kind;
			return obs_buf_puts(&child->arg, alerts_rows[i].name) ? -ENOMEM : 0;
		}
	return -ENOENT;
}

static const struct fs_kind alerts_dir = {
	.name = "alerts",
	.type = FS_DIR,
	.list = alerts_list,
	.lookup = alerts_lookup,
};

const struct fs_subtree fs_subtree_alerts = {
	.name = "alerts",
	.kind = &alerts_dir,
	.readme = "  alerts/rules/FILE   Prometheus rule files: cp one in (checked, refused with the\n"
		  "                      reason in errors), rm removes it\n"
		  "  alerts/state        every rule and alert: state, value, since when\n"
		  "  alerts/firing/      one entry per firing alert (ls is the dashboard); pending/ too\n"
		  "  alerts/events       one line per transition: TIME STATE ALERT {labels} VALUE\n"
		  "  alerts/anomalies/NAME  expr + threshold: alerts on |z| against each series'\n"
		  "                      hour-of-week baseline; cat shows mean, stddev, z, cold\n",
};

/* ---- start and stop ------------------------------------------------------------------- */

int alerts_install_generated(const char *file, const char *yaml, size_t n, const char *source)
{
	if (!A.ev)
		return -ENOENT;
	if (!yaml) {
		int r = obs_ruleeval_remove(A.ev, file, obs_time_now());
		return r == -ENOENT ? 0 : r;
	}
	return install(file, yaml, n, 0, source);
}

/* the rule group of an SLO (slos/NAME), installed under its own name */
static int slo_rules(void *ctx, const char *file, const char *yaml, size_t n)
{
	char src[400];
	snprintf(src, sizeof src, "alerts/slos/%s", file);
	return alerts_install_generated(file, yaml, n, src);
}

int alerts_start(int64_t default_interval_ms, char *err, size_t errlen)
{
	if ((size_t)snprintf(A.dir, sizeof A.dir, "%s/alerts", obsfs->datadir) >= sizeof A.dir) {
		snprintf(err, errlen, "data directory path too long");
		return -ENAMETOOLONG;
	}
	snprintf(A.rules, sizeof A.rules, "%s/rules", A.dir);
	snprintf(A.state, sizeof A.state, "%s/state", A.dir);
	if ((mkdir(A.dir, 0755) < 0 && errno != EEXIST) || (mkdir(A.rules, 0755) < 0 && errno != EEXIST)) {
		int e = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", A.rules, strerror(errno));
		return e;
	}
	struct obs_ruleeval_opts o;
	obs_ruleeval_opts_default(&o);
	o.store = obs_query_db_store_logs(obsfs->db, obsfs->logs);
	o.out = (struct obs_rule_appender){ db_append, NULL };
	o.sink = (struct obs_alert_sink){ on_send, on_event, NULL };
	if (default_interval_ms > 0)
		o.default_interval_ms = default_interval_ms;
	int r = obs_ruleeval_new(&o, &A.ev);
	if (r) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	size_t n = 0;
	r = obs_alertstate_load(A.ev, A.state, &n);
	if (r == -EBADMSG)
		fprintf(stderr, "obsfsd: %s is damaged: alerts start without their saved state\n", A.state);
	DIR *d = opendir(A.rules);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!valid_file_name(e->d_name, strlen(e->d_name)))
			continue;
		struct obs_buf t;
		obs_buf_init(&t);
		char src[400];
		snprintf(src, sizeof src, "alerts/rules/%s", e->d_name);
		r = read_rule_file(e->d_name, &t);
		if (r == -EFBIG)
			too_big(src);
		if (r == -EFBIG || (r == 0 && install(e->d_name, t.data ? t.data : "", t.len, 0, src) == -EINVAL))
			fprintf(stderr, "obsfsd: %s: refused (see errors)\n", src);
		obs_buf_release(&t);
	}
	if (d)
		closedir(d);
	r = alerts_notify_start(slo_rules, err, errlen);
	if (!r && (r = alerts_anomaly_start(A.dir, o.default_interval_ms, err, errlen)) != 0)
		alerts_notify_stop();
	if (r) {
		obs_ruleeval_free(A.ev);
		A.ev = NULL;
		return r;
	}
	A.saved_gen = obs_ruleeval_generation(A.ev);
	A.stop = 0;
	if (pthread_create(&A.th, NULL, eval_thread, NULL)) {
		snprintf(err, errlen, "cannot start the rule evaluator");
		obs_ruleeval_free(A.ev);
		A.ev = NULL;
		return -EAGAIN;
	}
	A.running = 1;
	return 0;
}

void alerts_stop(void)
{
	if (!A.running)
		return;
	pthread_mutex_lock(&A.mu);
	A.stop = 1;
	pthread_cond_broadcast(&A.cv);
	pthread_mutex_unlock(&A.mu);
	pthread_join(A.th, NULL);
	A.running = 0;
	flush_out();
	save_state();
	alerts_notify_stop();
	alerts_anomaly_stop();
	obs_ruleeval_free(A.ev);
	A.ev = NULL;
	alerts_view_release();
	obs_buf_release(&A.out);
	obs_buf_release(&creating);
}
