/* ship_scrape.c — obs-ship's pull side: scrapes /metrics targets with
 * Prometheus' semantics and writes the samples to MOUNT/ingest.
 *
 * One thread drives every target through one libcurl multi handle, so a
 * slow or dead target never delays another. Each target is scraped every
 * interval (its first scrape at start); a scrape is one GET with
 * Prometheus' Accept header (OpenMetrics preferred, text exposition 0.0.4
 * accepted), Accept-Encoding gzip and X-Prometheus-Scrape-Timeout-Seconds,
 * limited to the timeout (at most the interval) and 64 MiB of body.
 *
 * A scrape succeeds when the transfer does, the status is 200 and every
 * line parses (like Prometheus, one bad line fails the whole scrape and
 * nothing of it is stored). Its samples get the target labels job and
 * instance (HOST:PORT of the URL, the scheme's default port when none is
 * given) and those of the targets file; a label the target also sets is
 * kept as exported_NAME unless honor_labels. An OpenMetrics exemplar goes
 * through with its sample as written; times are written as seconds with a
 * fraction, which the mount reads as seconds in any write. Samples without a timestamp,
 * and every sample unless honor_timestamps (default true), get the scrape's
 * start time. After every scrape, success or not, the target gets
 *   up                       1 or 0
 *   scrape_duration_seconds  the transfer and parse time
 *   scrape_samples_scraped   samples in the body (0 on failure)
 *   scrape_samples_post_metric_relabeling   the same (no relabeling)
 *   scrape_series_added      series of this scrape absent from the last
 *                            successful one
 * at the same timestamp, with the target labels. A failure is also sent to
 * MOUNT/errors (an #obs-error directive: source "scrape", the URL, the
 * reason) and kept in the status file.
 *
 * Staleness (as Prometheus): a series the last scrape exposed that this one
 * does not gets a staleness marker (`SERIES stale TS`, obsfs(7)) at this
 * scrape's time; a failed scrape marks every series of the last one (up is
 * 0, not stale). Series with their own timestamps (honor_timestamps) get no
 * markers. A target removed from the targets file gets markers for all of
 * its series and its up/scrape_* series (not when only its options changed:
 * the new target takes its series over); obs-ship's exit writes none.
 *
 * The targets file is re-read when inotify reports a change to it (a write
 * closed, a rename onto it); targets that stay keep their schedule and
 * state, a file that does not parse is reported and the old set kept. */
#include <curl/curl.h>
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/labels.h"
#include "core/num.h"
#include "core/obstime.h"
#include "ingest/parse.h"
#include "ship.h"

#define BODY_MAX (64u << 20)
#define ACCEPT "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;" \
	       "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

struct target {
	struct target_def def;
	char *instance;
	int64_t interval, timeout;
	int honor_labels, honor_ts;
	int64_t next_due;          /* monotonic ms */
	CURL *h;
	struct curl_slist *hdrs;
	struct obs_buf body;
	int busy, too_big, gone, fromfile;
	int64_t start_wall, start_mono;
	char errbuf[CURL_ERROR_SIZE];
	uint64_t *prev;            /* series hashes of the last successful scrape (sorted) */
	size_t nprev;
	struct stale_set seen;     /* series the last scrape exposed (for staleness) */
	struct stale_set next;     /* those of the scrape in progress */
	/* status, under T.mu */
	int up;
	int64_t last_ms;
	double last_dur;
	uint64_t last_samples, last_added, scrapes, failures;
	char last_err[256];
};

static struct {
	pthread_mutex_t mu;        /* the target list and the status fields */
	struct target **t;
	size_t n;
	struct scrape_opts o;
	CURLM *m;
	pthread_t th;
	int started;
	volatile int stop;
	int ino, wd;
	char *tfile, *tbase;
	char file_err[256];
} T = { .mu = PTHREAD_MUTEX_INITIALIZER, .ino = -1 };

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ctx)
{
	struct target *t = ctx;
	size_t n = sz * nm;
	if (t->body.len + n > BODY_MAX) {
		t->too_big = 1;
		return 0;
	}
	return obs_buf_append(&t->body, p, n) ? 0 : n;
}

static char *instance_of(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *out = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		if (asprintf(&out, "%s:%s", host, port) < 0)
			out = NULL;
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

/* Do a and b give their series the same labels (URL, job, target labels)? */
static int same_series(const struct target_def *a, const struct target_def *b)
{
	if (strcmp(a->url, b->url) || strcmp(a->job, b->job) || a->nlabels != b->nlabels)
		return 0;
	for (int i = 0; i < a->nlabels; i++)
		if (strcmp(a->lname[i], b->lname[i]) || strcmp(a->lvalue[i], b->lvalue[i]))
			return 0;
	return 1;
}

static int def_same(const struct target_def *a, const struct target_def *b)
{
	return same_series(a, b) && a->interval_ms == b->interval_ms && a->timeout_ms == b->timeout_ms &&
	       a->honor_labels == b->honor_labels && a->honor_timestamps == b->honor_timestamps;
}

static int def_copy(struct target_def *d, const struct target_def *s)
{
	*d = *s;
	d->url = strdup(s->url);
	d->job = strdup(s->job);
	for (int i = 0; i < s->nlabels; i++) {
		d->lname[i] = strdup(s->lname[i]);
		d->lvalue[i] = strdup(s->lvalue[i]);
	}
	return d->url && d->job ? 0 : -ENOMEM;
}

static struct target *target_new(const struct target_def *def)
{
	struct target *t = calloc(1, sizeof(*t));
	if (!t || def_copy(&t->def, def)) {
		free(t);
		return NULL;
	}
	t->instance = instance_of(def->url);
	if (!t->instance) {
		warnx("invalid target URL '%s'", def->url);
		target_def_release(&t->def);
		free(t);
		return NULL;
	}
	t->interval = def->interval_ms ? def->interval_ms : T.o.interval_ms;
	t->timeout = def->timeout_ms ? def->timeout_ms : T.o.timeout_ms;
	if (t->timeout > t->interval)
		t->timeout = t->interval;
	t->honor_labels = def->honor_labels >= 0 ? def->honor_labels : T.o.honor_labels;
	t->honor_ts = def->honor_timestamps >= 0 ? def->honor_timestamps : T.o.honor_timestamps;
	t->next_due = mono_ms();
	obs_buf_init(&t->body);
	stale_set_init(&t->seen);
	stale_set_init(&t->next);
	char h[96];
	snprintf(h, sizeof(h), "X-Prometheus-Scrape-Timeout-Seconds: %g", (double)t->timeout / 1000);
	t->hdrs = curl_slist_append(curl_slist_append(NULL, ACCEPT), h);
	t->h = curl_easy_init();
	if (!t->h || !t->hdrs) {
		curl_easy_cleanup(t->h);
		curl_slist_free_all(t->hdrs);
		free(t->instance);
		target_def_release(&t->def);
		free(t);
		return NULL;
	}
	curl_easy_setopt(t->h, CURLOPT_URL, t->def.url);
	curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, t->hdrs);
	curl_easy_setopt(t->h, CURLOPT_ACCEPT_ENCODING, "gzip");
	curl_easy_setopt(t->h, CURLOPT_USERAGENT, "obs-ship/1.0");
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
	curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->h, CURLOPT_TIMEOUT_MS, (long)t->timeout);
	curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout);
	curl_easy_setopt(t->h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(t->h, CURLOPT_MAXREDIRS, 5L);
	return t;
}

static void target_free(struct target *t)
{
	if (t->busy)
		curl_multi_remove_handle(T.m, t->h);
	curl_easy_cleanup(t->h);
	curl_slist_free_all(t->hdrs);
	obs_buf_release(&t->body);
	free(t->instance);
	free(t->prev);
	stale_set_release(&t->seen);
	stale_set_release(&t->next);
	target_def_release(&t->def);
	free(t);
}

/* ---- one scrape's samples -------------------------------------------------- */

struct conv {
	struct target *t;
	struct obs_buf *out;
	int64_t ts;
	uint64_t n;
	uint64_t *hs;
	size_t nh, caph;
	size_t bad_line;
	const char *bad_why;
	int oom;
};

static int on_sample(void *ctx, const struct obs_sample_in *s)
{
	struct conv *c = ctx;
	struct target *t = c->t;
	struct obs_rawlabel raw[OBS_MAX_LABELS];
	char ren[OBS_MAX_LABELS][80];
	int n = 0;
	const char *tn[SHIP_MAX_TLABELS + 2], *tv[SHIP_MAX_TLABELS + 2];
	int nt = 0;
	tn[nt] = "job", tv[nt++] = t->def.job;
	tn[nt] = "instance", tv[nt++] = t->instance;
	for (int i = 0; i < t->def.nlabels; i++)
		tn[nt] = t->def.lname[i], tv[nt++] = t->def.lvalue[i];
	int tset[SHIP_MAX_TLABELS + 2] = { 0 };
	for (int i = 0; i < s->nlabels; i++) {
		raw[n] = s->labels[i];
		for (int k = 0; k < nt; k++) {
			if (strlen(tn[k]) != s->labels[i].nlen || memcmp(tn[k], s->labels[i].name, s->labels[i].nlen))
				continue;
			if (t->honor_labels) {
				tset[k] = 1;   /* the target's label gives way */
			} else {
				snprintf(ren[n], sizeof(ren[n]), "exported_%.*s", (int)s->labels[i].nlen, s->labels[i].name);
				raw[n].name = ren[n];
				raw[n].nlen = (uint32_t)strlen(ren[n]);
			}
		}
		n++;
	}
	for (int k = 0; k < nt; k++) {
		if (tset[k])
			continue;
		if (n >= OBS_MAX_LABELS - 1) {
			c->bad_why = "too many labels";
			return 1;
		}
		raw[n++] = (struct obs_rawlabel){ tn[k], tv[k], (uint32_t)strlen(tn[k]), (uint32_t)strlen(tv[k]), 0 };
	}
	struct obs_labels l;
	const char *why = NULL;
	size_t at = c->out->len;
	int rc = obs_labels_build(&l, s->name, s->namelen, raw, n, &why);
	if (rc) {
		c->bad_why = why ? why : "invalid labels";
		return 1;
	}
	int explicit_ts = t->honor_ts && s->ts_ms != OBS_TS_NONE;
	int64_t ts = explicit_ts ? s->ts_ms : c->ts;
	int frc = obs_labels_format(&l, c->out);
	size_t llen = c->out->len - at;
	/* as Prometheus: a series with its own timestamps gets no staleness
	 * marker; an exemplar goes through as written (a bad one too: the
	 * mount reports it and keeps the sample) */
	if (frc || (!explicit_ts && stale_set_add(&t->next, c->out->data + at, llen)) ||
	    ship_put_value_ts(c->out, s->value, ts) ||
	    (s->exemplar && (obs_buf_putc(c->out, ' ') || obs_buf_append(c->out, s->ex_text, s->ex_textlen))) ||
	    obs_buf_putc(c->out, '\n')) {
		obs_labels_release(&l);
		c->oom = 1;
		return 1;
	}
	obs_labels_release(&l);
	if (c->nh == c->caph) {
		size_t nc = c->caph ? c->caph * 2 : 256;
		uint64_t *nh = realloc(c->hs, nc * sizeof(*nh));
		if (!nh) {
			c->oom = 1;
			return 1;
		}
		c->hs = nh;
		c->caph = nc;
	}
	c->hs[c->nh++] = XXH3_64bits(c->out->data + at, llen);
	c->n++;
	return 0;
}

static void on_perr(void *ctx, size_t lineno, const char *line, size_t len, const char *why)
{
	struct conv *c = ctx;
	if (!c->bad_why) {
		c->bad_line = lineno;
		c->bad_why = why;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void synth(struct obs_buf *out, const struct target *t, const char *name, double v, int64_t ts)
{
	struct obs_rawlabel raw[SHIP_MAX_TLABELS + 2];
	int n = 0;
	raw[n++] = (struct obs_rawlabel){ "job", t->def.job, 3, (uint32_t)strlen(t->def.job), 0 };
	raw[n++] = (struct obs_rawlabel){ "instance", t->instance, 8, (uint32_t)strlen(t->instance), 0 };
	for (int i = 0; i < t->def.nlabels; i++)
		raw[n++] = (struct obs_rawlabel){ t->def.lname[i], t->def.lvalue[i], (uint32_t)strlen(t->def.lname[i]),
						  (uint32_t)strlen(t->def.lvalue[i]), 0 };
	struct obs_labels l;
	if (obs_labels_build(&l, name, strlen(name), raw, n, NULL))
		return;
	obs_labels_format(&l, out);
	ship_put_value_ts(out, v, ts);
	obs_buf_putc(out, '\n');
	obs_labels_release(&l);
}

/* After a scrape: staleness markers at its time for the series the last
 * scrape exposed and this one did not (all of them when it failed: a target
 * that is down exposes nothing); this scrape's series become the last. */
static void scrape_staleness(struct target *t, int ok, struct obs_buf *out)
{
	if (!ok)
		stale_set_reset(&t->next);
	stale_set_sort(&t->next);
	stale_set_markers(&t->seen, &t->next, t->start_wall, out);
	stale_set_swap(&t->seen, &t->next);
	stale_set_reset(&t->next);
}

/* A target removed from the targets file: staleness markers at ts for its
 * series and its up/scrape_* series (as Prometheus ends a dropped target).
 * When only its options changed (a new target of the targets file gives
 * the same series), the new one takes over its series set instead, as
 * Prometheus' reload carries a target's cache over. Under T.mu. */
static void target_end(struct target *t, int64_t ts, struct obs_buf *out)
{
	static const char *const synths[] = { "up", "scrape_duration_seconds", "scrape_samples_scraped",
					      "scrape_samples_post_metric_relabeling", "scrape_series_added" };
	for (size_t i = 0; i < T.n; i++)
		if (!T.t[i]->gone && !T.t[i]->scrapes && same_series(&T.t[i]->def, &t->def)) {
			stale_set_swap(&T.t[i]->seen, &t->seen);
			return;
		}
	if (!t->scrapes)
		return;
	stale_set_markers(&t->seen, NULL, ts, out);
	for (size_t i = 0; i < sizeof synths / sizeof *synths; i++)
		synth(out, t, synths[i], obs_stale_nan(), ts);
}

static void finish(struct target *t, CURLcode res)
{
	char reason[256] = "";
	long code = 0;
	struct obs_buf out;
	struct conv c = { .t = t, .out = &out, .ts = t->start_wall };
	obs_buf_init(&out);
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
	if (res != CURLE_OK) {
		if (t->too_big)
			snprintf(reason, sizeof(reason), "body size limit exceeded (%u bytes)", BODY_MAX);
		else
			snprintf(reason, sizeof(reason), "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(res));
	} else if (code != 200) {
		snprintf(reason, sizeof(reason), "server returned HTTP status %ld", code);
	} else {
		struct obs_parse_cb cb = { .sample = on_sample, .error = on_perr, .ctx = &c };
		obs_parse_lines(t->body.data ? t->body.data : "", t->body.len, OBS_FMT_PROM, 1, &cb);
		if (c.oom)
			snprintf(reason, sizeof(reason), "out of memory");
		else if (c.bad_why && c.bad_line)
			snprintf(reason, sizeof(reason), "parse error on line %zu: %s", c.bad_line, c.bad_why);
		else if (c.bad_why)
			snprintf(reason, sizeof(reason), "%s", c.bad_why);
	}
	int ok = !reason[0];
	uint64_t added = 0;
	if (ok) {
		qsort(c.hs, c.nh, sizeof(uint64_t), cmp_u64);
		size_t k = 0;
		for (size_t i = 0; i < c.nh; i++) {
			if (i && c.hs[i] == c.hs[i - 1])
				continue;
			while (k < t->nprev && t->prev[k] < c.hs[i])
				k++;
			if (k == t->nprev || t->prev[k] != c.hs[i])
				added++;
		}
		free(t->prev);
		t->prev = c.hs;
		t->nprev = c.nh;
		c.hs = NULL;
	} else {
		obs_buf_reset(&out);
	}
	free(c.hs);
	scrape_staleness(t, ok, &out);
	double dur = (double)(mono_ms() - t->start_mono) / 1000;
	synth(&out, t, "up", ok, t->start_wall);
	synth(&out, t, "scrape_duration_seconds", dur, t->start_wall);
	synth(&out, t, "scrape_samples_scraped", ok ? (double)c.n : 0, t->start_wall);
	/* no metric relabeling: as many as scraped */
	synth(&out, t, "scrape_samples_post_metric_relabeling", ok ? (double)c.n : 0, t->start_wall);
	synth(&out, t, "scrape_series_added", (double)added, t->start_wall);
	int rc = sink_send("ingest", out.data, out.len, NULL, 0);
	obs_buf_release(&out);
	if (!ok)
		sink_error("scrape", t->def.url, reason);
	pthread_mutex_lock(&T.mu);
	t->up = ok;
	t->last_ms = t->start_wall;
	t->last_dur = dur;
	t->last_samples = ok ? c.n : 0;
	t->last_added = added;
	t->scrapes++;
	t->failures += !ok;
	snprintf(t->last_err, sizeof(t->last_err), "%s", ok && rc ? "spool full: samples dropped" : reason);
	pthread_mutex_unlock(&T.mu);
	obs_buf_release(&t->body);
	obs_buf_init(&t->body);
}

/* ---- the targets file ------------------------------------------------------- */

static void load_targets(void)
{
	char *text = NULL;
	size_t len = 0;
	int rc = obs_read_file(T.o.targets_file, 0, &text, &len);
	if (rc) {
		snprintf(T.file_err, sizeof(T.file_err), "cannot read '%s': %s", T.o.targets_file, strerror(-rc));
		warnx("%s", T.file_err);
		return;
	}
	struct target_def *defs = NULL;
	size_t n = 0, ln = 0;
	const char *why = NULL;
	rc = targets_parse(text, len, "scrape", &defs, &n, &ln, &why);
	free(text);
	struct obs_buf ended;
	obs_buf_init(&ended);
	int64_t now = obs_time_now();
	pthread_mutex_lock(&T.mu);
	if (rc) {
		snprintf(T.file_err, sizeof(T.file_err), "'%s' line %zu: %s (targets kept)", T.o.targets_file, ln, why);
		warnx("%s", T.file_err);
	} else {
		T.file_err[0] = 0;
		for (size_t i = 0; i < T.n; i++)
			T.t[i]->gone = T.t[i]->fromfile;
		for (size_t k = 0; k < n; k++) {
			size_t i;
			for (i = 0; i < T.n; i++)
				if (T.t[i]->gone && def_same(&T.t[i]->def, &defs[k]))
					break;
			if (i < T.n) {
				T.t[i]->gone = 0;
				continue;
			}
			struct target *t = target_new(&defs[k]);
			struct target **nt = t ? realloc(T.t, (T.n + 1) * sizeof(*nt)) : NULL;
			if (!nt) {
				if (t)
					target_free(t);
				continue;
			}
			t->fromfile = 1;
			T.t = nt;
			T.t[T.n++] = t;
		}
		for (size_t i = 0; i < T.n;) {
			if (T.t[i]->gone) {
				target_end(T.t[i], now, &ended);
				target_free(T.t[i]);
				T.t[i] = T.t[--T.n];
			} else {
				i++;
			}
		}
	}
	pthread_mutex_unlock(&T.mu);
	if (ended.len)
		sink_send("ingest", ended.data, ended.len, NULL, 0);
	obs_buf_release(&ended);
	for (size_t k = 0; k < n; k++)
		target_def_release(&defs[k]);
	free(defs);
}

static int targets_changed(void)
{
	char b[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int hit = 0;
	ssize_t r;
	while ((r = read(T.ino, b, sizeof(b))) > 0)
		for (char *p = b; p < b + r;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->len && !strcmp(e->name, T.tbase))
				hit = 1;
			p += sizeof(*e) + e->len;
		}
	return hit;
}

/* ---- the thread ----------------------------------------------------------------- */

static void *run(void *arg)
{
	while (!T.stop) {
		if (T.ino >= 0 && targets_changed())
			load_targets();
		int64_t now = mono_ms(), wait = 1000;
		pthread_mutex_lock(&T.mu);
		for (size_t i = 0; i < T.n; i++) {
			struct target *t = T.t[i];
			if (!t->busy && t->next_due <= now) {
				obs_buf_reset(&t->body);
				t->too_big = 0;
				t->errbuf[0] = 0;
				t->start_wall = obs_time_now();
				t->start_mono = now;
				t->next_due += t->interval;
				if (t->next_due <= now)
					t->next_due = now + t->interval;
				if (curl_multi_add_handle(T.m, t->h) == CURLM_OK)
					t->busy = 1;
			}
			if (!t->busy && t->next_due - now < wait)
				wait = t->next_due - now;
		}
		pthread_mutex_unlock(&T.mu);
		int running;
		curl_multi_perform(T.m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(T.m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct target *t;
			CURLcode res = msg->data.result;
			CURL *h = msg->easy_handle;
			curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&t);
			curl_multi_remove_handle(T.m, h);
			t->busy = 0;
			finish(t, res);
			wait = 0;
		}
		if (wait < 0)
			wait = 0;
		struct curl_waitfd ex = { .fd = T.ino, .events = CURL_WAIT_POLLIN };
		curl_multi_poll(T.m, T.ino >= 0 ? &ex : NULL, T.ino >= 0 ? 1 : 0, (int)(wait > 1000 ? 1000 : wait),
				NULL);
	}
	return NULL;
}

int scrape_start(const struct scrape_opts *o, const struct target_def *defs, size_t n)
{
	T.o = *o;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(T.m = curl_multi_init()))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct target *t = target_new(&defs[i]);
		struct target **nt = t ? realloc(T.t, (T.n + 1) * sizeof(*nt)) : NULL;
		if (!nt)
			return -EINVAL;
		T.t = nt;
		T.t[T.n++] = t;
	}
	if (o->targets_file) {
		T.tfile = strdup(o->targets_file);
		char *d = strdup(o->targets_file), *b = strdup(o->targets_file);
		T.tbase = strdup(basename(b));
		T.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (T.ino < 0 || inotify_add_watch(T.ino, dirname(d), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0)
			warn("cannot watch '%s'", o->targets_file);
		free(d);
		free(b);
		load_targets();
	}
	if (pthread_create(&T.th, NULL, run, NULL))
		return -EAGAIN;
	T.started = 1;
	return 0;
}

void scrape_stop(void)
{
	if (!T.started)
		return;
	T.stop = 1;
	curl_multi_wakeup(T.m);
	pthread_join(T.th, NULL);
	T.started = 0;
}

void scrape_free(void)
{
	if (!T.m)
		return;
	for (size_t i = 0; i < T.n; i++)
		target_free(T.t[i]);
	free(T.t);
	T.t = NULL;
	T.n = 0;
	curl_multi_cleanup(T.m);
	T.m = NULL;
	if (T.ino >= 0)
		close(T.ino);
	T.ino = -1;
	free(T.tfile);
	free(T.tbase);
	curl_global_cleanup();
}

void scrape_status(struct obs_buf *out)
{
	pthread_mutex_lock(&T.mu);
	if (T.file_err[0])
		obs_buf_printf(out, "targets_file error=\"%s\"\n", T.file_err);
	for (size_t i = 0; i < T.n; i++) {
		struct target *t = T.t[i];
		char ts[40] = "never";
		if (t->scrapes)
			obs_time_format(t->last_ms, OBS_TIME_RFC3339, ts);
		obs_buf_printf(out,
			       "target url=%s job=%s instance=%s up=%d last_scrape=%s duration_seconds=%.3f samples=%" PRIu64
			       " series_added=%" PRIu64 " scrapes=%" PRIu64 " failures=%" PRIu64,
			       t->def.url, t->def.job, t->instance, t->up, ts, t->last_dur, t->last_samples, t->last_added,
			       t->scrapes, t->failures);
		if (t->last_err[0])
			obs_buf_printf(out, " error=\"%s\"", t->last_err);
		obs_buf_putc(out, '\n');
	}
	pthread_mutex_unlock(&T.mu);
}
