/* alerts_view.c — the read-only views of the alerts/ subtree (the table is
 * in alerts.c):
 *
 *   alerts/state             FS_RO, live: every rule and alert (ruleeval.h)
 *   alerts/firing/ pending/  FS_DIR, live: one entry per alert in that state,
 *                            named ALERTNAME{labels}; reading one gives its
 *                            labels, annotations, value and times
 *   alerts/events            FS_RO, live: one line per transition
 *                            "TIME STATE ALERTNAME {labels} VALUE", the last
 *                            MiB of them; it grows as transitions happen
 *                            (tail -f); a read at its end waits for the
 *                            next transition (no FUSE thread held; poll(2)) */
#include "obsfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alert/ruleeval.h"
#include "core/num.h"
#include "core/labels.h"

#include "alerts_int.h"
#include "alerts_notify.h"

#define EVENTS_KEEP (1 << 20)

static struct {
	pthread_mutex_t mu;          /* events, events_base */
	struct obs_buf events;       /* the last EVENTS_KEEP bytes of event lines */
	uint64_t events_base;        /* absolute offset of events.data[0] */
} V = { .mu = PTHREAD_MUTEX_INITIALIZER };

void alerts_view_event(const struct obs_alert_event *e)
{
	pthread_mutex_lock(&V.mu);
	obs_alert_event_format(e, &V.events);
	if (V.events.len > EVENTS_KEEP) {
		/* drop whole lines from the front */
		size_t cut = V.events.len - EVENTS_KEEP / 2;
		char *nl = memchr(V.events.data + cut, '\n', V.events.len - cut);
		cut = nl ? (size_t)(nl - V.events.data) + 1 : V.events.len;
		memmove(V.events.data, V.events.data + cut, V.events.len - cut);
		V.events.len -= cut;
		V.events.data[V.events.len] = 0;
		V.events_base += cut;
	}
	pthread_mutex_unlock(&V.mu);
}

void alerts_view_release(void)
{
	pthread_mutex_lock(&V.mu);
	obs_buf_release(&V.events);
	pthread_mutex_unlock(&V.mu);
}

/* ---- state, firing/, pending/ ------------------------------------------------------ */

static int state_render(struct ofile *o)
{
	return obs_ruleeval_render_state(alerts_rule_manager(), &o->content);
}

static int state_size(struct node *n, uint64_t *size)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int r = obs_ruleeval_render_state(alerts_rule_manager(), &b);
	*size = b.len;
	obs_buf_release(&b);
	return r;
}

const struct fs_kind alerts_view_state = {
	.name = "alerts/state",
	.type = FS_RO,
	.live = 1,
	.size = state_size,
	.render = state_render,
};

/* ALERTNAME{labels but alertname}, %-escaped and aliased past NAME_MAX */
static int alert_fname(const struct obs_alert *a, struct obs_buf *out)
{
	struct obs_buf t;
	obs_buf_init(&t);
	const char *an = obs_labels_get(&a->labels, "alertname");
	int r = obs_buf_puts(&t, an ? an : "");
	size_t k = 0;
	for (size_t i = 0; !r && i < a->labels.n; i++) {
		if (!strcmp(a->labels.v[i].name, "alertname"))
			continue;
		r = obs_buf_printf(&t, "%s%s=\"", k++ ? "," : "{", a->labels.v[i].name);
		for (const char *p = a->labels.v[i].value; !r && *p; p++)
			r = *p == '"' || *p == '\\' ? obs_buf_printf(&t, "\\%c", *p) :
			    *p == '\n'             ? obs_buf_puts(&t, "\\n") :
						     obs_buf_putc(&t, *p);
		if (!r)
			r = obs_buf_putc(&t, '"');
	}
	if (!r && k)
		r = obs_buf_putc(&t, '}');
	struct obs_buf enc;
	obs_buf_init(&enc);
	if (!r)
		r = obs_fname_encode(t.data, t.len, &enc);
	if (!r) {
		if (enc.len > 255)
			fs_alias_of(enc.data, enc.len, a->fp, out);
		else
			r = obs_buf_append(out, enc.data, enc.len);
	}
	obs_buf_release(&enc);
	obs_buf_release(&t);
	return r;
}

struct alertnode {
	struct obs_alert a;
};

static void alertnode_free(void *p)
{
	struct alertnode *x = p;
	if (!x)
		return;
	free((char *)x->a.rule);
	free((char *)x->a.group);
	free((char *)x->a.file);
	obs_alert_release(&x->a);
	free(x);
}

static int put_time(struct obs_buf *b, const char *what, int64_t t)
{
	if (!t)
		return 0;
	char tb[40];
	obs_time_format(t, obsfs->timefmt, tb);
	return obs_buf_printf(b, "%s %s\n", what, tb);
}

static int alert_render_text(const struct obs_alert *a, struct obs_buf *b)
{
	char vb[40];
	obs_num_format(a->value, vb);
	int r = obs_buf_printf(b, "alertname %s\nstate %s\nvalue %s\n", a->rule ? a->rule : "",
			       obs_alert_state_name(a->state), vb);
	r = r ? r : put_time(b, "since", a->active_at);
	r = r ? r : put_time(b, "fired", a->fired_at);
	r = r ? r : put_time(b, "resolved", a->resolved_at);
	r = r ? r : put_time(b, "kept_firing_since", a->keep_firing_since);
	r = r ? r : obs_buf_printf(b, "group %s\nfile %s\nlabels ", a->group ? a->group : "", a->file ? a->file : "");
	r = r ? r : obs_labels_format(&a->labels, b);
	r = r ? r : obs_buf_putc(b, '\n');
	if (!r && alerts_notify_marks(&a->labels, b) < 0)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < a->annotations.n; i++) {
		r = obs_buf_printf(b, "annotation %s ", a->annotations.v[i].name);
		for (const char *p = a->annotations.v[i].value; !r && *p; p++)
			r = *p == '\n' ? obs_buf_puts(b, "\\n") : obs_buf_putc(b, *p);
		r = r ? r : obs_buf_putc(b, '\n');
	}
	return r;
}

static int alert_render(struct ofile *o)
{
	struct alertnode *x = o->nd.priv;
	return alert_render_text(&x->a, &o->content);
}

static int alert_size(struct node *n, uint64_t *size)
{
	struct alertnode *x = n->priv;
	struct obs_buf b;
	obs_buf_init(&b);
	int r = alert_render_text(&x->a, &b);
	*size = b.len;
	obs_buf_release(&b);
	return r;
}

static const struct fs_kind alert_kind = {
	.name = "alert",
	.type = FS_RO,
	.live = 1,
	.size = alert_size,
	.render = alert_render,
};

/* the state a firing/ or pending/ node lists (arg: "firing" / "pending") */
static enum obs_alert_state dir_state(const struct node *n)
{
	return n->arg.data && !strcmp(n->arg.data, "pending") ? OBS_ALERT_PENDING : OBS_ALERT_FIRING;
}

static int alerts_in_list(struct node *n, struct fs_fill *f)
{
	struct obs_alert *a;
	size_t na;
	int r = obs_ruleeval_alerts(alerts_rule_manager(), NULL, &a, &na);
	if (r)
		return r;
	enum obs_alert_state st = dir_state(n);
	struct obs_buf nm;
	obs_buf_init(&nm);
	for (size_t i = 0; i < na && !r; i++) {
		if (a[i].state != st)
			continue;
		obs_buf_reset(&nm);
		r = alert_fname(&a[i], &nm);
		if (!r)
			fs_fill_name(f, nm.data);
	}
	obs_buf_release(&nm);
	obs_ruleeval_alerts_free(a, na);
	return r;
}

static int alerts_in_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	struct obs_alert *a;
	size_t na;
	int r = obs_ruleeval_alerts(alerts_rule_manager(), NULL, &a, &na);
	if (r)
		return r;
	enum obs_alert_state st = dir_state(parent);
	struct obs_buf nm;
	obs_buf_init(&nm);
	r = -ENOENT;
	for (size_t i = 0; i < na; i++) {
		if (a[i].state != st)
			continue;
		obs_buf_reset(&nm);
		if (alert_fname(&a[i], &nm) || nm.len != n || memcmp(nm.data, name, n))
			continue;
		struct alertnode *x = calloc(1, sizeof *x);
		if (!x) {
			r = -ENOMEM;
			break;
		}
		x->a = a[i];   /* take it: the array entry is zeroed below */
		memset(&a[i], 0, sizeof a[i]);
		child->priv = x;
		child->priv_free = alertnode_free;
		child->kind = &alert_kind;
		r = 0;
		break;
	}
	obs_buf_release(&nm);
	obs_ruleeval_alerts_free(a, na);
	return r;
}

const struct fs_kind alerts_view_in_dir = {
	.name = "alerts/firing",
	.type = FS_DIR,
	.live = 1,
	.list = alerts_in_list,
	.lookup = alerts_in_lookup,
};

/* ---- events ------------------------------------------------------------------------ */

static int events_size(struct node *n, uint64_t *size)
{
	pthread_mutex_lock(&V.mu);
	*size = V.events_base + V.events.len;
	pthread_mutex_unlock(&V.mu);
	return 0;
}

/* offsets are absolute: what fell out of the kept window reads as the
 * oldest kept line onwards */
static int events_read(struct ofile *o, char *buf, size_t size, off_t off)
{
	pthread_mutex_lock(&V.mu);
	uint64_t o0 = (uint64_t)off;
	if (o0 < V.events_base)
		o0 = V.events_base;
	size_t k = 0;
	if (o0 < V.events_base + V.events.len) {
		size_t at = (size_t)(o0 - V.events_base);
		k = V.events.len - at;
		if (k > size)
			k = size;
		memcpy(buf, V.events.data + at, k);
	}
	pthread_mutex_unlock(&V.mu);
	return (int)k;
}

static int events_poll(struct ofile *o, uint64_t off, struct fs_event **wake)
{
	uint64_t size;
	events_size(&o->nd, &size);
	*wake = fs_event("alerts/events");   /* on_event wakes it */
	return off < size;
}

const struct fs_kind alerts_view_events = {
	.name = "alerts/events",
	.type = FS_RO,
	.live = 1,
	.size = events_size,
	.read = events_read,
	.poll = events_poll,
};
