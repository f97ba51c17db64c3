/* dispatch.c — alerts, aggregation groups and the notification pipeline.
 * See dispatch.h for the semantics (Alertmanager's). */
#include "alert/dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/inhibit.h"
#include "alert/nflog.h"
#include "core/obstime.h"
#include "core/strmap.h"
#include "core/vec.h"

struct held {
	struct am_alert a;
	uint64_t fp;
	char *text;          /* canonical labels, the sort key */
	int64_t last_seen;
	int refs;            /* groups holding it */
	uint64_t sil_ver;    /* the silence epoch sil_muted was computed in */
	int64_t sil_until;
	int sil_muted;       /* -1: not known */
};

struct group {
	char *key;
	const struct am_route *route;
	struct obs_labels glabels;
	uint64_t *fps;
	size_t n, cap;
	int64_t next;
	int flushed;
};

struct am_dispatch {
	struct am_clock clk;
	struct am_silences *sil;
	am_deliver_fn deliver;
	void *deliver_ctx;
	struct am_config *cfg;
	int exec_trusted;
	char *external_url;
	struct obs_strmap *alerts;   /* fp (8 bytes) -> struct held */
	struct obs_strmap *groups;   /* key -> struct group */
	struct am_nflog *nflog;
	struct am_dispatch_stats st;
	uint64_t sil_ver;            /* the silences' epoch at this tick */
	int64_t sil_until;
};

/* Is h silenced now? Cached per alert for the silences' epoch (version and
 * next start/end), so a tick with many silences and alerts is not a full
 * cross product each time. */
static int silenced(struct am_dispatch *d, struct held *h)
{
	if (!d->sil)
		return 0;
	if (h->sil_muted >= 0 && h->sil_ver == d->sil_ver && h->sil_until == d->sil_until)
		return h->sil_muted;
	h->sil_muted = am_silences_mutes(d->sil, &h->a.labels, NULL) > 0;
	h->sil_ver = d->sil_ver;
	h->sil_until = d->sil_until;
	return h->sil_muted;
}

static struct held *held_get(struct am_dispatch *d, uint64_t fp)
{
	return obs_strmap_get(d->alerts, obs_strmap_hash(&fp, 8), &fp, 8);
}

static void held_free(struct held *h)
{
	if (!h)
		return;
	am_alert_release(&h->a);
	free(h->text);
	free(h);
}

static void group_free(struct group *g)
{
	if (!g)
		return;
	free(g->key);
	obs_labels_release(&g->glabels);
	free(g->fps);
	free(g);
}

int am_dispatch_new(const char *state_dir, const struct am_clock *clk, struct am_silences *sil,
		    am_deliver_fn deliver, void *deliver_ctx, struct am_dispatch **out)
{
	struct am_dispatch *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	if (clk)
		d->clk = *clk;
	d->sil = sil;
	d->deliver = deliver;
	d->deliver_ctx = deliver_ctx;
	d->alerts = obs_strmap_new();
	d->groups = obs_strmap_new();
	d->external_url = strdup("http://localhost/");
	char *path = NULL;
	if (state_dir && asprintf(&path, "%s/nflog", state_dir) < 0)
		path = NULL;
	if (!d->alerts || !d->groups || !d->external_url || (state_dir && !path)) {
		free(path);
		am_dispatch_free(d);
		return -ENOMEM;
	}
	int rc = am_nflog_open(path, &d->nflog);
	free(path);
	if (rc) {
		am_dispatch_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

static int free_held_cb(void *ctx, const char *k, size_t n, void *v)
{
	held_free(v);
	return 0;
}

static int free_group_cb(void *ctx, const char *k, size_t n, void *v)
{
	group_free(v);
	return 0;
}

static void drop_groups(struct am_dispatch *d)
{
	obs_strmap_each(d->groups, free_group_cb, NULL);
	obs_strmap_free(d->groups);
	d->groups = obs_strmap_new();
}

static int unref_cb(void *ctx, const char *k, size_t n, void *v)
{
	((struct held *)v)->refs = 0;
	return 0;
}

void am_dispatch_free(struct am_dispatch *d)
{
	if (!d)
		return;
	if (d->alerts) {
		obs_strmap_each(d->alerts, free_held_cb, NULL);
		obs_strmap_free(d->alerts);
	}
	if (d->groups) {
		obs_strmap_each(d->groups, free_group_cb, NULL);
		obs_strmap_free(d->groups);
	}
	if (d->nflog)
		(void)am_nflog_flush(d->nflog);
	am_nflog_free(d->nflog);
	am_config_free(d->cfg);
	free(d->external_url);
	free(d);
}

int am_dispatch_set_external_url(struct am_dispatch *d, const char *url)
{
	char *u = strdup(url);
	if (!u)
		return -ENOMEM;
	free(d->external_url);
	d->external_url = u;
	return 0;
}

const struct am_config *am_dispatch_config(const struct am_dispatch *d)
{
	return d->cfg;
}

/* ---- grouping ------------------------------------------------------------ */

static int group_labels(const struct am_route *r, const struct obs_labels *l, struct obs_labels *out)
{
	if (r->group_by_all)
		return obs_labels_copy(out, l);
	struct obs_rawlabel raw[OBS_MAX_LABELS];
	int k = 0;
	for (size_t i = 0; i < r->group_by.n && k < OBS_MAX_LABELS; i++) {
		const char *v = obs_labels_get(l, r->group_by.v[i]);
		if (!v)
			continue;
		raw[k].name = r->group_by.v[i];
		raw[k].nlen = (uint32_t)strlen(r->group_by.v[i]);
		raw[k].value = v;
		raw[k].vlen = (uint32_t)strlen(v);
		raw[k].escaped = 0;
		k++;
	}
	obs_labels_init(out);
	if (k == 0)
		return 0;   /* no group_by label present: the group {} */
	return obs_labels_build(out, NULL, 0, raw, k, NULL);
}

static int add_to_group(struct am_dispatch *d, const struct am_route *r, struct held *h, int64_t now)
{
	struct obs_labels gl;
	obs_labels_init(&gl);
	int rc = group_labels(r, &h->a.labels, &gl);
	if (rc)
		return rc;
	struct obs_buf key;
	obs_buf_init(&key);
	if (obs_buf_printf(&key, "%s:", r->key) || obs_labels_format(&gl, &key)) {
		obs_buf_release(&key);
		obs_labels_release(&gl);
		return -ENOMEM;
	}
	uint64_t hk = obs_strmap_hash(key.data, key.len);
	struct group *g = obs_strmap_get(d->groups, hk, key.data, key.len);
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g || obs_strmap_put(d->groups, hk, key.data, key.len, g)) {
			free(g);
			obs_buf_release(&key);
			obs_labels_release(&gl);
			return -ENOMEM;
		}
		g->key = obs_buf_detach(&key, NULL);
		g->route = r;
		g->glabels = gl;
		g->next = now + r->group_wait;
	} else {
		obs_buf_release(&key);
		obs_labels_release(&gl);
	}
	for (size_t i = 0; i < g->n; i++)
		if (g->fps[i] == h->fp)
			return 0;
	if (OBS_VEC_RESERVE(g->fps, g->cap, g->n + 1))
		return -ENOMEM;
	g->fps[g->n++] = h->fp;
	h->refs++;
	/* Alertmanager: an alert older than group_wait in an unflushed group flushes it now */
	if (!g->flushed && h->a.starts_at + r->group_wait < now && g->next > now)
		g->next = now;
	return 0;
}

static int route_alert(struct am_dispatch *d, struct held *h, int64_t now)
{
	if (!d->cfg)
		return 0;
	const struct am_route *rs[64];
	size_t k = am_route_match(&d->cfg->root, &h->a.labels, rs, 64);
	for (size_t i = 0; i < k; i++) {
		int rc = add_to_group(d, rs[i], h, now);
		if (rc)
			return rc;
	}
	return 0;
}

struct regroup {
	struct am_dispatch *d;
	int64_t now;
	int rc;
};

static int regroup_cb(void *ctx, const char *k, size_t n, void *v)
{
	struct regroup *r = ctx;
	int rc = route_alert(r->d, v, r->now);
	if (rc)
		r->rc = rc;
	return 0;
}

void am_dispatch_set_config(struct am_dispatch *d, struct am_config *c, int exec_trusted)
{
	drop_groups(d);
	am_config_free(d->cfg);
	d->cfg = c;
	d->exec_trusted = exec_trusted;
	obs_strmap_each(d->alerts, unref_cb, NULL);
	struct regroup r = { d, am_clock_now(&d->clk), 0 };
	obs_strmap_each(d->alerts, regroup_cb, &r);
}

int am_dispatch_put(struct am_dispatch *d, const struct am_alert *alerts, size_t n)
{
	int64_t now = am_clock_now(&d->clk);
	for (size_t i = 0; i < n; i++) {
		uint64_t fp = am_fingerprint(&alerts[i].labels);
		struct held *h = held_get(d, fp);
		if (h) {
			int64_t starts = h->a.starts_at;
			int was_firing = !am_alert_resolved(&h->a, now);
			struct am_alert copy;
			if (am_alert_copy(&copy, &alerts[i]))
				return -ENOMEM;
			am_alert_release(&h->a);
			h->a = copy;
			if (was_firing && starts && starts < h->a.starts_at)
				h->a.starts_at = starts;
			h->last_seen = now;
			/* a resolved alert that fires again may need its groups back */
			if (h->refs == 0) {
				int rc = route_alert(d, h, now);
				if (rc)
					return rc;
			}
			continue;
		}
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		struct obs_buf t;
		obs_buf_init(&t);
		if (am_alert_copy(&h->a, &alerts[i]) || obs_labels_format(&alerts[i].labels, &t)) {
			obs_buf_release(&t);
			held_free(h);
			return -ENOMEM;
		}
		h->text = obs_buf_detach(&t, NULL);
		h->fp = fp;
		h->sil_muted = -1;
		h->last_seen = now;
		if (!h->a.starts_at)
			h->a.starts_at = now;
		if (!h->text || obs_strmap_put(d->alerts, obs_strmap_hash(&fp, 8), &fp, 8, h)) {
			held_free(h);
			return -ENOMEM;
		}
		int rc = route_alert(d, h, now);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- flushing ------------------------------------------------------------ */

struct tick {
	struct am_dispatch *d;
	int64_t now;
	struct group **due;
	size_t ndue, cap;
	const struct am_alert **all;
	size_t nall;
	int64_t next;
	int err;
	int read_only;       /* a status read: apply no resolve timeout */
};

static int collect_alerts_cb(void *ctx, const char *k, size_t n, void *v)
{
	struct tick *t = ctx;
	struct held *h = v;
	int64_t rt = t->d->cfg ? t->d->cfg->resolve_timeout : AM_RESOLVE_TIMEOUT_DEFAULT;
	if (!t->read_only && h->a.ends_at == 0 && t->now - h->last_seen > rt)
		h->a.ends_at = h->last_seen + rt;
	t->all[t->nall++] = &h->a;
	return 0;
}

static int collect_due_cb(void *ctx, const char *k, size_t n, void *v)
{
	struct tick *t = ctx;
	struct group *g = v;
	if (g->next > t->now)
		return 0;
	if (OBS_VEC_RESERVE_FROM(t->due, t->cap, t->ndue + 1, 16)) {
		t->err = -ENOMEM;
		return 1;
	}
	t->due[t->ndue++] = g;
	return 0;
}

static int cmp_held(const void *a, const void *b)
{
	return strcmp((*(struct held *const *)a)->text, (*(struct held *const *)b)->text);
}

static int route_muted(const struct am_config *c, const struct am_route *r, int64_t now)
{
	for (size_t i = 0; i < r->mute.n; i++) {
		const struct am_named_tint *t = am_config_tint(c, r->mute.v[i]);
		if (t && am_named_tint_contains(t, now))
			return 1;
	}
	if (r->active.n) {
		for (size_t i = 0; i < r->active.n; i++) {
			const struct am_named_tint *t = am_config_tint(c, r->active.v[i]);
			if (t && am_named_tint_contains(t, now))
				return 0;
		}
		return 1;
	}
	return 0;
}

/* One integration of the group's receiver. 0 when done (sent, logged or
 * nothing to do), else the delivery failed. */
static int notify_one(struct am_dispatch *d, struct group *g, const struct am_receiver *rcv,
		      enum am_integration kind, int idx, struct held **pass, size_t npass,
		      const uint64_t *firing, size_t nf, const uint64_t *resolved, size_t nr, int64_t now)
{
	const struct am_webhook *wh = kind == AM_INT_WEBHOOK ? &rcv->webhooks[idx] : NULL;
	const struct am_exec *ex = kind == AM_INT_EXEC ? &rcv->execs[idx] : NULL;
	int send_resolved = wh ? wh->send_resolved : ex->send_resolved;
	struct obs_buf key;
	obs_buf_init(&key);
	if (obs_buf_printf(&key, "%s\x1f%s\x1f%s/%d", g->key, rcv->name, wh ? "webhook" : "exec", idx))
		return -ENOMEM;
	int rc = 0;
	const struct am_nflog_entry *e = am_nflog_get(d->nflog, key.data);
	if (!am_nflog_needs_update(e, firing, nf, resolved, nr, send_resolved, now, g->route->repeat_interval))
		goto out;
	const struct am_alert **list = malloc((npass + 1) * sizeof(*list));
	if (!list) {
		rc = -ENOMEM;
		goto out;
	}
	size_t nl = 0, lf = 0;
	for (size_t i = 0; i < npass; i++) {
		int res = am_alert_resolved(&pass[i]->a, now);
		if (res && !send_resolved)
			continue;
		lf += !res;
		list[nl++] = &pass[i]->a;
	}
	if (nl == 0) {
		rc = am_nflog_log(d->nflog, key.data, now, firing, nf, resolved, nr);
		free(list);
		goto out;
	}
	if (ex && !d->exec_trusted) {
		d->st.refused++;
		free(list);
		rc = -EPERM;
		goto out;
	}
	struct obs_buf js;
	obs_buf_init(&js);
	rc = am_payload_json(rcv->name, g->key, &g->glabels, list, nl, wh ? wh->max_alerts : 0, now,
			     d->external_url, &js);
	if (!rc) {
		struct am_delivery dl = {
			.receiver = rcv->name, .kind = kind, .index = idx, .webhook = wh, .exec = ex,
			.group_key = g->key, .group_labels = &g->glabels, .alerts = list, .nalerts = nl,
			.nfiring = lf, .nresolved = nl - lf, .now = now, .json = js.data, .json_len = js.len,
		};
		rc = d->deliver ? d->deliver(d->deliver_ctx, &dl) : 0;
		if (rc) {
			d->st.failed++;
		} else {
			d->st.notifications++;
			rc = am_nflog_log(d->nflog, key.data, now, firing, nf, resolved, nr);
		}
	}
	obs_buf_release(&js);
	free(list);
out:
	obs_buf_release(&key);
	return rc;
}

static void flush_group(struct am_dispatch *d, struct group *g, const struct am_inhibitor *ih,
			int64_t now)
{
	struct held **hs = malloc((g->n + 1) * sizeof(*hs));
	uint64_t *fps = malloc((g->n + 1) * sizeof(*fps) * 2);
	if (!hs || !fps) {
		free(hs);
		free(fps);
		return;   /* out of memory: try at the next tick */
	}
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++) {
		struct held *h = held_get(d, g->fps[i]);
		if (h)
			hs[n++] = h;
	}
	qsort(hs, n, sizeof(*hs), cmp_held);
	int ok = 1;
	if (route_muted(d->cfg, g->route, now)) {
		d->st.muted++;
	} else {
		size_t np = 0, nf = 0, nr = 0;
		uint64_t *firing = fps, *resolved = fps + g->n + 1;
		struct held **pass = malloc((n + 1) * sizeof(*pass));
		if (!pass) {
			ok = 0;
		}
		for (size_t i = 0; pass && i < n; i++) {
			uint64_t by;
			if (am_inhibitor_mutes(ih, &hs[i]->a.labels, &by) ||
			    silenced(d, hs[i])) {
				d->st.suppressed++;
				continue;
			}
			pass[np++] = hs[i];
			if (am_alert_resolved(&hs[i]->a, now))
				resolved[nr++] = hs[i]->fp;
			else
				firing[nf++] = hs[i]->fp;
		}
		const struct am_receiver *rcv = pass ? am_config_receiver(d->cfg, g->route->receiver) : NULL;
		for (size_t i = 0; rcv && i < rcv->nwebhooks; i++)
			if (notify_one(d, g, rcv, AM_INT_WEBHOOK, (int)i, pass, np, firing, nf, resolved, nr, now))
				ok = 0;
		for (size_t i = 0; rcv && i < rcv->nexecs; i++)
			if (notify_one(d, g, rcv, AM_INT_EXEC, (int)i, pass, np, firing, nf, resolved, nr, now))
				ok = 0;
		free(pass);
	}
	if (ok) {
		/* resolved alerts leave the group once their notification went out */
		size_t k = 0;
		for (size_t i = 0; i < g->n; i++) {
			struct held *h = held_get(d, g->fps[i]);
			if (h && am_alert_resolved(&h->a, now)) {
				h->refs--;
				continue;
			}
			if (h)
				g->fps[k++] = g->fps[i];
		}
		g->n = k;
	}
	g->next = now + g->route->group_interval;
	g->flushed = 1;
	free(hs);
	free(fps);
}

struct sweep {
	int64_t now;
	uint64_t *fps;
	size_t n, cap;
	char **keys;
	size_t nk, capk;
	int64_t next;
};

static int sweep_alerts_cb(void *ctx, const char *k, size_t n, void *v)
{
	struct sweep *s = ctx;
	struct held *h = v;
	if (h->refs > 0 || !am_alert_resolved(&h->a, s->now))
		return 0;
	if (OBS_VEC_RESERVE_FROM(s->fps, s->cap, s->n + 1, 16))
		return 1;
	s->fps[s->n++] = h->fp;
	return 0;
}

static int sweep_groups_cb(void *ctx, const char *k, size_t n, void *v)
{
	struct sweep *s = ctx;
	struct group *g = v;
	if (g->n == 0) {
		if (OBS_VEC_RESERVE_FROM(s->keys, s->capk, s->nk + 1, 16))
			return 1;
		s->keys[s->nk++] = g->key;
	} else if (g->next < s->next) {
		s->next = g->next;
	}
	return 0;
}

int64_t am_dispatch_tick(struct am_dispatch *d)
{
	int64_t now = am_clock_now(&d->clk);
	struct tick t = { .d = d, .now = now, .next = INT64_MAX };
	if (d->sil)
		d->sil_ver = am_silences_version(d->sil, now, &d->sil_until);
	size_t na = obs_strmap_count(d->alerts);
	t.all = malloc((na + 1) * sizeof(*t.all));
	if (!t.all)
		return now + 1000;
	obs_strmap_each(d->alerts, collect_alerts_cb, &t);
	obs_strmap_each(d->groups, collect_due_cb, &t);
	struct am_inhibitor *ih = NULL;
	if (t.ndue && am_inhibitor_new(d->cfg, t.all, t.nall, now, &ih) == 0) {
		for (size_t i = 0; i < t.ndue; i++)
			flush_group(d, t.due[i], ih, now);
	}
	am_inhibitor_free(ih);
	free(t.due);
	free(t.all);
	/* drop empty groups and resolved alerts no group holds */
	struct sweep s = { .now = now, .next = INT64_MAX };
	obs_strmap_each(d->groups, sweep_groups_cb, &s);
	for (size_t i = 0; i < s.nk; i++) {
		char *key = s.keys[i];
		size_t kn = strlen(key);
		group_free(obs_strmap_del(d->groups, obs_strmap_hash(key, kn), key, kn));
	}
	obs_strmap_each(d->alerts, sweep_alerts_cb, &s);
	for (size_t i = 0; i < s.n; i++)
		held_free(obs_strmap_del(d->alerts, obs_strmap_hash(&s.fps[i], 8), &s.fps[i], 8));
	free(s.keys);
	free(s.fps);
	am_nflog_gc(d->nflog, now, AM_NFLOG_RETENTION);
	(void)am_nflog_flush(d->nflog);   /* a failed save is retried at the next tick */
	return s.next;
}

void am_dispatch_stats(const struct am_dispatch *d, struct am_dispatch_stats *st)
{
	*st = d->st;
	st->alerts = obs_strmap_count(d->alerts);
	st->groups = obs_strmap_count(d->groups);
}

/* ---- status -------------------------------------------------------------- */

int am_dispatch_marks(struct am_dispatch *d, const struct obs_labels *l, struct obs_buf *out)
{
	int64_t now = am_clock_now(&d->clk);
	int sup = 0;
	struct obs_buf ids;
	obs_buf_init(&ids);
	if (d->sil && am_silences_mutes(d->sil, l, &ids) > 0) {
		sup = 1;
		if (out && obs_buf_printf(out, "silencedBy: %s\n", ids.data))
			sup = -ENOMEM;
	}
	obs_buf_release(&ids);
	if (sup >= 0 && d->cfg && d->cfg->ninhibits) {
		size_t na = obs_strmap_count(d->alerts);
		struct tick t = { .d = d, .now = now, .read_only = 1 };
		t.all = malloc((na + 1) * sizeof(*t.all));
		struct am_inhibitor *ih = NULL;
		if (t.all) {
			obs_strmap_each(d->alerts, collect_alerts_cb, &t);
			uint64_t by;
			if (am_inhibitor_new(d->cfg, t.all, t.nall, now, &ih) == 0 && am_inhibitor_mutes(ih, l, &by)) {
				sup = 1;
				if (out && obs_buf_printf(out, "inhibitedBy: %016" PRIx64 "\n", by))
					sup = -ENOMEM;
			}
		}
		am_inhibitor_free(ih);
		free(t.all);
	}
	return sup;
}

static int cmp_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int lines_cb(void *ctx, const char *k, size_t n, void *v)
{
	struct held ***p = ctx;
	*(*p)++ = v;
	return 0;
}

int am_dispatch_render_alerts(struct am_dispatch *d, struct obs_buf *out)
{
	int64_t now = am_clock_now(&d->clk);
	size_t na = obs_strmap_count(d->alerts);
	struct held **hs = malloc((na + 1) * sizeof(*hs)), **p = hs;
	if (!hs)
		return -ENOMEM;
	obs_strmap_each(d->alerts, lines_cb, &p);
	qsort(hs, na, sizeof(*hs), cmp_held);
	int rc = 0;
	for (size_t i = 0; !rc && i < na; i++) {
		struct obs_buf m;
		obs_buf_init(&m);
		int sup = am_dispatch_marks(d, &hs[i]->a.labels, &m);
		for (char *c = m.data; c && *c; c++)
			if (*c == '\n')
				*c = ' ';
		while (m.len && m.data[m.len - 1] == ' ')
			m.data[--m.len] = 0;
		for (char *c = m.data; c && (c = strstr(c, ": ")); ) {
			*c = '=';
			memmove(c + 1, c + 2, strlen(c + 2) + 1);
			m.len--;
		}
		const char *state = am_alert_resolved(&hs[i]->a, now) ? "resolved" : sup > 0 ? "suppressed" : "active";
		if (obs_buf_printf(out, "%016" PRIx64 " %s %s%s%s\n", hs[i]->fp, state, hs[i]->text,
				   m.len ? " " : "", m.len ? m.data : ""))
			rc = -ENOMEM;
		obs_buf_release(&m);
	}
	free(hs);
	return rc;
}

static int gkeys_cb(void *ctx, const char *k, size_t n, void *v)
{
	char ***p = ctx;
	*(*p)++ = ((struct group *)v)->key;
	return 0;
}

int am_dispatch_render_groups(struct am_dispatch *d, struct obs_buf *out)
{
	size_t ng = obs_strmap_count(d->groups);
	char **keys = malloc((ng + 1) * sizeof(*keys)), **p = keys;
	if (!keys)
		return -ENOMEM;
	obs_strmap_each(d->groups, gkeys_cb, &p);
	qsort(keys, ng, sizeof(*keys), cmp_text);
	int rc = 0;
	for (size_t i = 0; !rc && i < ng; i++) {
		size_t kn = strlen(keys[i]);
		struct group *g = obs_strmap_get(d->groups, obs_strmap_hash(keys[i], kn), keys[i], kn);
		char nx[40];
		obs_time_format(g->next, OBS_TIME_RFC3339, nx);
		if (obs_buf_printf(out, "%s receiver=%s alerts=%zu next=%s\n", g->key, g->route->receiver, g->n, nx))
			rc = -ENOMEM;
	}
	free(keys);
	return rc;
}
