/* amsvc.c — alerts/config, silences and SLOs behind one service (see
 * amsvc.h for the files under DATADIR/alerts). */
#include "alert/amsvc.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert/amconfig.h"
#include "alert/slo.h"
#include "core/fileio.h"

struct slo_ent {
	char *name;
	char *text;
	size_t len;
	struct am_slo *slo;
};

struct am_service {
	struct am_service_opts o;
	char *dir;                  /* DATADIR/alerts */
	struct am_clock clk;
	struct am_silences *sil;
	struct am_notifier *n;
	pthread_mutex_t mu;         /* guards config text and the SLO list */
	char *config;               /* as written, NULL when none */
	size_t config_len;
	struct slo_ent *slos;
	size_t nslos;
};

static void logerr(struct am_service *s, const char *src, const char *why)
{
	if (s->o.errlog)
		obs_errlog_add(s->o.errlog, am_clock_now(&s->clk), src, 0, "", 0, why);
}

static char *path_of(struct am_service *s, const char *a, const char *b)
{
	char *p;
	if (asprintf(&p, "%s/%s%s%s", s->dir, a, b ? "/" : "", b ? b : "") < 0)
		return NULL;
	return p;
}

static int name_ok(const char *n)
{
	return *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..") && n[0] != '.' &&
	       strlen(n) <= AM_SILENCE_NAME_MAX;
}

/* ---- SLOs ------------------------------------------------------------------ */

static long slo_find(struct am_service *s, const char *name)
{
	for (size_t i = 0; i < s->nslos; i++)
		if (!strcmp(s->slos[i].name, name))
			return (long)i;
	return -1;
}

static int slo_hand_over(struct am_service *s, const struct am_slo *slo, const char *name)
{
	if (!s->o.slo_rules)
		return 0;
	char file[AM_SILENCE_NAME_MAX + 8];
	snprintf(file, sizeof(file), "slo:%s", name);
	if (!slo)
		return s->o.slo_rules(s->o.slo_ctx, file, NULL, 0);
	struct obs_buf y;
	obs_buf_init(&y);
	int rc = am_slo_rules_yaml(slo, &y);
	if (!rc)
		rc = s->o.slo_rules(s->o.slo_ctx, file, y.data, y.len);
	obs_buf_release(&y);
	return rc;
}

/* Install (replacing) an SLO in the list; takes slo and text. */
static int slo_install(struct am_service *s, const char *name, char *text, size_t len, struct am_slo *slo)
{
	long i = slo_find(s, name);
	if (i < 0) {
		struct slo_ent *v = realloc(s->slos, (s->nslos + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->slos = v;
		i = (long)s->nslos;
		memset(&v[i], 0, sizeof(v[i]));
		if (!(v[i].name = strdup(name)))
			return -ENOMEM;
		s->nslos++;
	}
	free(s->slos[i].text);
	am_slo_free(s->slos[i].slo);
	s->slos[i].text = text;
	s->slos[i].len = len;
	s->slos[i].slo = slo;
	return 0;
}

static void load_slos(struct am_service *s)
{
	char *d = path_of(s, "slos", NULL);
	DIR *dir = d ? opendir(d) : NULL;
	struct dirent *de;
	while (dir && (de = readdir(dir))) {
		if (!name_ok(de->d_name) || strstr(de->d_name, ".tmp."))
			continue;
		char *p = path_of(s, "slos", de->d_name);
		struct obs_buf err;
		obs_buf_init(&err);
		struct am_slo *slo = NULL;
		char *text = NULL;
		size_t len = 0;
		if (p && obs_read_file(p, 0, &text, &len) == 0 &&
		    am_slo_parse(de->d_name, text, len, &slo, &err) == 0) {
			if (slo_install(s, de->d_name, text, len, slo)) {
				free(text);
				am_slo_free(slo);
			} else {
				slo_hand_over(s, slo, de->d_name);
			}
			text = NULL;
		} else if (err.len) {
			logerr(s, "alerts/slos", err.data);
		}
		free(text);
		obs_buf_release(&err);
		free(p);
	}
	if (dir)
		closedir(dir);
	free(d);
}

/* ---- open/close ------------------------------------------------------------ */

static int owner_trusted(struct am_service *s)
{
	char *p = path_of(s, "config.owner", NULL);
	char *text = NULL;
	int ok = 0;
	long uid;
	if (p && obs_read_file(p, 4096, &text, NULL) == 0 && sscanf(text, "uid %ld", &uid) == 1)
		ok = (uid_t)uid == s->o.owner;
	free(text);
	free(p);
	return ok;
}

int am_service_open(const struct am_service_opts *o, struct am_service **out)
{
	struct am_service *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	if (o->clk)
		s->clk = *o->clk;
	pthread_mutex_init(&s->mu, NULL);
	int rc = -ENOMEM;
	if (asprintf(&s->dir, "%s/alerts", o->datadir) < 0) {
		s->dir = NULL;
		goto fail;
	}
	char *sp = path_of(s, "silences", NULL);
	if (!sp)
		goto fail;
	rc = am_silences_open(sp, o->clk, 0, &s->sil);
	free(sp);
	if (rc)
		goto fail;
	struct am_notifier_opts no = { .state_dir = s->dir, .clk = o->clk, .silences = s->sil,
				       .errlog = o->errlog, .external_url = o->external_url,
				       .no_thread = o->no_thread };
	if ((rc = am_notifier_new(&no, &s->n)))
		goto fail;
	char *cp = path_of(s, "config", NULL);
	struct obs_buf err;
	obs_buf_init(&err);
	char *text;
	size_t len;
	if (cp && obs_read_file(cp, 0, &text, &len) == 0) {
		if (am_notifier_set_config(s->n, text, len, owner_trusted(s), &err))
			logerr(s, "alerts/config", err.data ? err.data : "invalid config");
		s->config_len = len;
		s->config = text;
	}
	obs_buf_release(&err);
	free(cp);
	load_slos(s);
	*out = s;
	return 0;
fail:
	am_service_close(s);
	return rc;
}

void am_service_close(struct am_service *s)
{
	if (!s)
		return;
	am_notifier_free(s->n);
	am_silences_free(s->sil);
	for (size_t i = 0; i < s->nslos; i++) {
		free(s->slos[i].name);
		free(s->slos[i].text);
		am_slo_free(s->slos[i].slo);
	}
	free(s->slos);
	free(s->config);
	free(s->dir);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct am_silences *am_service_silences(struct am_service *s)
{
	return s->sil;
}

struct am_notifier *am_service_notifier(struct am_service *s)
{
	return s->n;
}

/* ---- config ------------------------------------------------------------------ */

int am_service_config_read(struct am_service *s, struct obs_buf *out)
{
	pthread_mutex_lock(&s->mu);
	int rc = s->config && obs_buf_append(out, s->config, s->config_len) ? -ENOMEM : 0;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int am_service_config_write(struct am_service *s, const char *text, size_t n, uid_t writer)
{
	struct obs_buf err;
	obs_buf_init(&err);
	struct am_config *c = NULL;
	int rc = am_config_parse(text, n, &c, &err);
	if (rc) {
		logerr(s, "alerts/config", err.data ? err.data : "invalid config");
		obs_buf_release(&err);
		return rc;
	}
	int has_exec = c->has_exec;
	am_config_free(c);
	if (has_exec && writer != s->o.owner) {
		logerr(s, "alerts/config", "exec receivers are honoured only in a config written by the mount owner");
		obs_buf_release(&err);
		return -EPERM;
	}
	char *copy = malloc(n + 1), *cp = path_of(s, "config", NULL), *op = path_of(s, "config.owner", NULL);
	char own[32];
	snprintf(own, sizeof(own), "uid %ld\n", (long)writer);
	rc = copy && cp && op ? 0 : -ENOMEM;
	if (!rc) {
		memcpy(copy, text, n);
		copy[n] = 0;
		/* the owner first: a crash between the two leaves the old text with
		 * the new writer, which only ever narrows what runs */
		if ((rc = am_save_atomic(op, own, strlen(own))) || (rc = am_save_atomic(cp, text, n)))
			logerr(s, "alerts/config", "cannot save the config");
	}
	if (!rc)
		rc = am_notifier_set_config(s->n, text, n, writer == s->o.owner, &err);
	if (!rc) {
		pthread_mutex_lock(&s->mu);
		free(s->config);
		s->config = copy;
		s->config_len = n;
		copy = NULL;
		pthread_mutex_unlock(&s->mu);
	}
	free(copy);
	free(cp);
	free(op);
	obs_buf_release(&err);
	return rc;
}

int am_service_config_remove(struct am_service *s)
{
	char *cp = path_of(s, "config", NULL);
	if (!cp)
		return -ENOMEM;
	int rc = unlink(cp) && errno != ENOENT ? -errno : 0;
	if (!rc)
		rc = obs_fsync_parent(cp);
	free(cp);
	if (rc)
		return rc;
	am_notifier_set_config(s->n, NULL, 0, 0, NULL);
	pthread_mutex_lock(&s->mu);
	free(s->config);
	s->config = NULL;
	s->config_len = 0;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* ---- silences ------------------------------------------------------------------ */

int am_service_silence_write(struct am_service *s, const char *name, const char *text, size_t n)
{
	const char *why = NULL;
	int rc = am_silences_set(s->sil, name, text, n, NULL, &why);
	if (rc) {
		char src[AM_SILENCE_NAME_MAX + 32];
		snprintf(src, sizeof(src), "alerts/silences/%.200s", name);
		logerr(s, src, why ? why : strerror(-rc));
	}
	return rc;
}

int am_service_silence_read(struct am_service *s, const char *name, struct obs_buf *out)
{
	return am_silences_render(s->sil, name, out);
}

int am_service_silence_remove(struct am_service *s, const char *name)
{
	return am_silences_expire(s->sil, name);
}

int am_service_silence_list(struct am_service *s, struct obs_buf *out)
{
	(void)am_silences_gc(s->sil);
	return am_silences_list(s->sil, 0, out);
}

int am_service_silence_history(struct am_service *s, struct obs_buf *out)
{
	return am_silences_render_all(s->sil, out);
}

/* ---- SLOs ------------------------------------------------------------------ */

int am_service_slo_write(struct am_service *s, const char *name, const char *text, size_t n)
{
	char src[AM_SILENCE_NAME_MAX + 32];
	snprintf(src, sizeof(src), "alerts/slos/%.200s", name);
	if (!name_ok(name))
		return -EINVAL;
	struct obs_buf err;
	obs_buf_init(&err);
	struct am_slo *slo = NULL;
	int rc = am_slo_parse(name, text, n, &slo, &err);
	if (rc) {
		logerr(s, src, err.data ? err.data : "invalid slo");
		obs_buf_release(&err);
		return rc;
	}
	obs_buf_release(&err);
	char *p = path_of(s, "slos", name), *copy = malloc(n + 1);
	rc = p && copy ? am_save_atomic(p, text, n) : -ENOMEM;
	free(p);
	if (!rc) {
		memcpy(copy, text, n);
		copy[n] = 0;
		pthread_mutex_lock(&s->mu);
		rc = slo_install(s, name, copy, n, slo);
		if (!rc) {
			copy = NULL;
			slo = NULL;
			long i = slo_find(s, name);
			if (slo_hand_over(s, s->slos[i].slo, name))
				logerr(s, src, "the rule manager refused the generated rules");
		}
		pthread_mutex_unlock(&s->mu);
	} else {
		logerr(s, src, "cannot save the slo");
	}
	free(copy);
	am_slo_free(slo);
	return rc;
}

int am_service_slo_read(struct am_service *s, const char *name, struct obs_buf *out)
{
	pthread_mutex_lock(&s->mu);
	long i = slo_find(s, name);
	int rc = i < 0 ? -ENOENT : 0;
	if (!rc) {
		const struct am_slo *slo = s->slos[i].slo;
		struct obs_query_opts qo = s->o.qopts;
		if (!qo.lookback_ms)
			obs_query_opts_default(&qo);
		rc = am_slo_render_state(slo, &qo, &s->o.store, am_clock_now(&s->clk), out);
		if (!rc && (obs_buf_puts(out, "---\n") || am_slo_rules_yaml(slo, out)))
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int am_service_slo_rules(struct am_service *s, const char *name, struct obs_buf *out)
{
	pthread_mutex_lock(&s->mu);
	long i = slo_find(s, name);
	int rc = i < 0 ? -ENOENT : am_slo_rules_yaml(s->slos[i].slo, out);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int am_service_slo_remove(struct am_service *s, const char *name)
{
	pthread_mutex_lock(&s->mu);
	long i = slo_find(s, name);
	int rc = i < 0 ? -ENOENT : 0;
	if (!rc) {
		char *p = path_of(s, "slos", name);
		rc = !p ? -ENOMEM : unlink(p) && errno != ENOENT ? -errno : obs_fsync_parent(p);
		free(p);
	}
	if (!rc) {
		struct slo_ent e = s->slos[i];
		s->slos[i] = s->slos[--s->nslos];
		slo_hand_over(s, NULL, e.name);
		free(e.name);
		free(e.text);
		am_slo_free(e.slo);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int am_service_slo_list(struct am_service *s, struct obs_buf *out)
{
	pthread_mutex_lock(&s->mu);
	char **v = malloc((s->nslos + 1) * sizeof(*v));
	int rc = v ? 0 : -ENOMEM;
	for (size_t i = 0; v && i < s->nslos; i++)
		v[i] = s->slos[i].name;
	if (v)
		qsort(v, s->nslos, sizeof(*v), cmp_str);
	for (size_t i = 0; !rc && i < s->nslos; i++)
		rc = obs_buf_printf(out, "%s\n", v[i]) ? -ENOMEM : 0;
	pthread_mutex_unlock(&s->mu);
	free(v);
	return rc;
}

int am_service_put(struct am_service *s, const struct am_alert *alerts, size_t n, int flags)
{
	return am_notifier_put(s->n, alerts, n, flags);
}
