/* alerts_notify.c — the Alertmanager side of the alerts/ subtree (rows of
 * alerts.c's table), over lib/alert/amsvc.h:
 *
 *   alerts/config            FS_RW: Alertmanager's YAML (obsfs-alerts(5));
 *                            checked at close, refused with EINVAL and the
 *                            line and reason in errors, the old one staying;
 *                            exec receivers only from the mount owner (else
 *                            EPERM and an errors line); rm removes it
 *   alerts/silences/         FS_DIR: pending and active silences
 *   alerts/silences/NAME     FS_RW: write matchers, until, author, comment
 *                            (checked at close); read the silence; rm expires
 *   alerts/silences/.history FS_RO, hidden: every silence, expired ones too
 *   alerts/slos/NAME         FS_RW: an SLO; read: budget state, then the
 *                            generated rules; rm removes it and its rules
 *   alerts/notifications     FS_RO, live: the notifier's counters, groups
 *                            and alerts with silencedBy/inhibitedBy
 *
 */
#include "obsfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/amsvc.h"
#include "alerts_notify.h"
#include "core/errlog.h"
#include "query/dbstore.h"

static struct am_service *svc;

/* names created and not yet written (so a lookup finds them meanwhile) */
static pthread_mutex_t creating_mu = PTHREAD_MUTEX_INITIALIZER;
static struct obs_buf creating;   /* "KIND/NAME\0"..., creating_mu */

static int creating_has(const char *key)
{
	int found = 0;
	pthread_mutex_lock(&creating_mu);
	for (size_t i = 0; i < creating.len && !found; i += strlen(creating.data + i) + 1)
		found = !strcmp(creating.data + i, key);
	pthread_mutex_unlock(&creating_mu);
	return found;
}

static void creating_set(const char *key, int on)
{
	pthread_mutex_lock(&creating_mu);
	for (size_t i = 0; i < creating.len; i += strlen(creating.data + i) + 1)
		if (!strcmp(creating.data + i, key)) {
			size_t l = strlen(key) + 1;
			memmove(creating.data + i, creating.data + i + l, creating.len - i - l);
			creating.len -= l;
			break;
		}
	if (on)
		(void)obs_buf_append(&creating, key, strlen(key) + 1);
	pthread_mutex_unlock(&creating_mu);
}

static int name_ok(const char *name, size_t n)
{
	return n > 0 && n <= AM_SILENCE_NAME_MAX && name[0] != '.' && !memchr(name, '/', n);
}

struct wopen {
	struct obs_buf text;
	uid_t writer;
	int wrote;
};

static void wopen_free(void *p)
{
	struct wopen *w = p;
	if (!w)
		return;
	obs_buf_release(&w->text);
	free(w);
}

static int w_open(struct ofile *o, int acc)
{
	struct wopen *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	obs_buf_init(&w->text);
	w->writer = fs_caller_uid();
	o->priv = w;
	o->priv_free = wopen_free;
	return 0;
}

static int w_consume(struct ofile *o, const char *p, size_t n)
{
	struct wopen *w = o->priv;
	if (w->text.len + n > (1u << 20))
		return -EFBIG;
	w->wrote = 1;
	return obs_buf_append(&w->text, p, n) ? -ENOMEM : 0;
}

/* ---- config ---------------------------------------------------------------------- */

static int config_render(struct ofile *o)
{
	return am_service_config_read(svc, &o->content);
}

static int config_size(struct node *n, uint64_t *size)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = am_service_config_read(svc, &b);
	*size = b.len;
	obs_buf_release(&b);
	return rc;
}

static int config_end_write(struct ofile *o)
{
	struct wopen *w = o->priv;
	if (!w->wrote)
		return 0;
	w->wrote = 0;
	int rc = am_service_config_write(svc, w->text.data ? w->text.data : "", w->text.len, w->writer);
	obs_buf_reset(&w->text);
	return rc;
}

static int config_unlink(struct node *n)
{
	return am_service_config_remove(svc);
}

const struct fs_kind alerts_notify_config = {
	.name = "alerts/config",
	.type = FS_RW,
	.live = 1,
	.size = config_size,
	.open = w_open,
	.render = config_render,
	.consume = w_consume,
	.end_write = config_end_write,
	.unlink = config_unlink,
};

/* ---- silences ----------------------------------------------------------------------- */

static int sil_render(struct ofile *o)
{
	int rc = am_service_silence_read(svc, o->nd.arg.data, &o->content);
	return rc == -ENOENT ? 0 : rc;   /* being created */
}

static int sil_size(struct node *n, uint64_t *size)
{
	struct obs_buf b;
	obs_buf_init(&b);
	(void)am_service_silence_read(svc, n->arg.data, &b);
	*size = b.len;
	obs_buf_release(&b);
	return 0;
}

static int sil_end_write(struct ofile *o)
{
	struct wopen *w = o->priv;
	if (!w->wrote)
		return 0;
	w->wrote = 0;
	char key[AM_SILENCE_NAME_MAX + 16];
	snprintf(key, sizeof(key), "s/%s", o->nd.arg.data);
	int rc = am_service_silence_write(svc, o->nd.arg.data, w->text.data ? w->text.data : "", w->text.len);
	creating_set(key, 0);
	obs_buf_reset(&w->text);
	return rc;
}

static int sil_unlink(struct node *n)
{
	char key[AM_SILENCE_NAME_MAX + 16];
	snprintf(key, sizeof(key), "s/%s", n->arg.data);
	if (creating_has(key)) {
		creating_set(key, 0);
		return 0;
	}
	return am_service_silence_remove(svc, n->arg.data);
}

static const struct fs_kind silence_kind = {
	.name = "silence",
	.type = FS_RW,
	.live = 1,
	.size = sil_size,
	.open = w_open,
	.render = sil_render,
	.consume = w_consume,
	.end_write = sil_end_write,
	.unlink = sil_unlink,
};

static int history_render(struct ofile *o)
{
	return am_service_silence_history(svc, &o->content);
}

static const struct fs_kind history_kind = {
	.name = "silences/.history",
	.type = FS_RO,
	.live = 1,
	.render = history_render,
};

static int fill_lines(struct fs_fill *f, struct obs_buf *b)
{
	for (char *p = b->data; p && *p;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		fs_fill_name(f, p);
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

static int sil_list(struct node *n, struct fs_fill *f)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = am_service_silence_list(svc, &b);
	if (!rc)
		fill_lines(f, &b);
	obs_buf_release(&b);
	return rc;
}

static int sil_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (fs_name_eq(name, n, ".history")) {
		child->kind = &history_kind;
		return 0;
	}
	if (!name_ok(name, n))
		return -ENOENT;
	if (obs_buf_append(&child->arg, name, n))
		return -ENOMEM;
	char key[AM_SILENCE_NAME_MAX + 16];
	snprintf(key, sizeof(key), "s/%s", child->arg.data);
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = am_service_silence_read(svc, child->arg.data, &b);
	obs_buf_release(&b);
	if (rc && !creating_has(key))
		return -ENOENT;
	child->kind = &silence_kind;
	return 0;
}

static int sil_create(struct node *parent, const char *name, struct node *child, const char *source)
{
	if (!name_ok(name, strlen(name)))
		return -EINVAL;
	if (obs_buf_puts(&child->arg, name))
		return -ENOMEM;
	char key[AM_SILENCE_NAME_MAX + 16];
	snprintf(key, sizeof(key), "s/%s", name);
	creating_set(key, 1);
	child->kind = &silence_kind;
	return 0;
}

const struct fs_kind alerts_notify_silences_dir = {
	.name = "alerts/silences",
	.type = FS_DIR,
	.live = 1,
	.list = sil_list,
	.lookup = sil_lookup,
	.create = sil_create,
};

/* ---- slos ---------------------------------------------------------------------------- */

static int slo_render(struct ofile *o)
{
	int rc = am_service_slo_read(svc, o->nd.arg.data, &o->content);
	return rc == -ENOENT ? 0 : rc;
}

static int slo_end_write(struct ofile *o)
{
	struct wopen *w = o->priv;
	if (!w->wrote)
		return 0;
	w->wrote = 0;
	char key[AM_SILENCE_NAME_MAX + 16];
	snprintf(key, sizeof(key), "o/%s", o->nd.arg.data);
	int rc = am_service_slo_write(svc, o->nd.arg.data, w->text.data ? w->text.data : "", w->text.len);
	creating_set(key, 0);
	obs_buf_reset(&w->text);
	return rc;
}

static int slo_unlink(struct node *n)
{
	return am_service_slo_remove(svc, n->arg.data);
}

static const struct fs_kind slo_kind = {
	.name = "slo",
	.type = FS_RW,
	.live = 1,
	.open = w_open,
	.render = slo_render,
	.consume = w_consume,
	.end_write = slo_end_write,
	.unlink = slo_unlink,
};

static int slo_list(struct node *n, struct fs_fill *f)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = am_service_slo_list(svc, &b);
	if (!rc)
		fill_lines(f, &b);
	obs_buf_release(&b);
	return rc;
}

static int slo_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (!name_ok(name, n))
		return -ENOENT;
	if (obs_buf_append(&child->arg, name, n))
		return -ENOMEM;
	char key[AM_SILENCE_NAME_MAX + 16];
	snprintf(key, sizeof(key), "o/%s", child->arg.data);
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = am_service_slo_rules(svc, child->arg.data, &b);
	obs_buf_release(&b);
	if (rc && !creating_has(key))
		return -ENOENT;
	child->kind = &slo_kind;
	return 0;
}

static int slo_create(struct node *parent, const char *name, struct node *child, const char *source)
{
	if (!name_ok(name, strlen(name)))
		return -EINVAL;
	if (obs_buf_puts(&child->arg, name))
		return -ENOMEM;
	char key[AM_SILENCE_NAME_MAX + 16];
	snprintf(key, sizeof(key), "o/%s", name);
	creating_set(key, 1);
	child->kind = &slo_kind;
	return 0;
}

const struct fs_kind alerts_notify_slos_dir = {
	.name = "alerts/slos",
	.type = FS_DIR,
	.live = 1,
	.list = slo_list,
	.lookup = slo_lookup,
	.create = slo_create,
};

/* ---- notifications ---------------------------------------------------------------------- */

static int status_render(struct ofile *o)
{
	struct am_notifier *n = am_service_notifier(svc);
	int rc = am_notifier_render_stats(n, &o->content);
	if (!rc && !(rc = obs_buf_puts(&o->content, "--- groups\n") ? -ENOMEM : 0))
		rc = am_notifier_render_groups(n, &o->content);
	if (!rc && !(rc = obs_buf_puts(&o->content, "--- alerts\n") ? -ENOMEM : 0))
		rc = am_notifier_render_alerts(n, &o->content);
	return rc;
}

const struct fs_kind alerts_notify_status = {
	.name = "alerts/notifications",
	.type = FS_RO,
	.live = 1,
	.render = status_render,
};

/* ---- start, stop, the sink ------------------------------------------------------------------ */

int alerts_notify_start(int (*slo_rules)(void *ctx, const char *file, const char *yaml, size_t n),
			char *err, size_t errlen)
{
	struct am_service_opts o = {
		.datadir = obsfs->datadir,
		.owner = obsfs->owner,
		.errlog = obs_db_errlog(obsfs->db),
		.store = obs_query_db_store_logs(obsfs->db, obsfs->logs),
		.slo_rules = slo_rules,
	};
	obs_query_opts_default(&o.qopts);
	int rc = am_service_open(&o, &svc);
	if (rc)
		snprintf(err, errlen, "cannot start the notifier: %s", strerror(-rc));
	return rc;
}

void alerts_notify_stop(void)
{
	am_service_close(svc);
	svc = NULL;
	obs_buf_release(&creating);
}

void alerts_notify_send(void *ctx, const char *file, const char *group, int64_t now,
			const struct obs_alert *const *alerts, size_t n)
{
	if (!svc)
		return;
	struct obs_alert_sink k = am_service_sink(svc);
	k.send(k.ctx, file, group, now, alerts, n);
}

int alerts_notify_marks(const struct obs_labels *l, struct obs_buf *out)
{
	if (!svc)
		return 0;
	/* alert files are "key value" lines: silencedBy ID,... / inhibitedBy FP */
	struct obs_buf m;
	obs_buf_init(&m);
	int rc = am_notifier_marks(am_service_notifier(svc), l, &m);
	for (char *p = m.data; rc >= 0 && p && *p; p++)
		if (p[0] == ':' && p[1] == ' ')
			memmove(p, p + 1, strlen(p + 1) + 1), m.len--;
	if (rc >= 0 && m.len && obs_buf_append(out, m.data, m.len))
		rc = -ENOMEM;
	obs_buf_release(&m);
	return rc;
}
