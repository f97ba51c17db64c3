/* amconfig.c — alerts/config parsed with libyaml's document API and
 * validated like `amtool check-config`: the YAML helpers, the top level,
 * receivers, inhibit rules and time intervals (routes are in route.c).
 * Errors name the YAML line. */
#include "alert/amconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "alert/amconfig_int.h"
#include "core/obstime.h"

int amc_fail(struct cx *x, const yaml_node_t *n, const char *fmt, ...)
{
	if (x->failed++)
		return -EINVAL;
	if (n)
		obs_buf_printf(x->err, "line %zu: ", (size_t)n->start_mark.line + 1);
	va_list ap;
	va_start(ap, fmt);
	char tmp[512];
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	obs_buf_puts(x->err, tmp);
	return -EINVAL;
}

yaml_node_t *amc_node(struct cx *x, int i)
{
	return yaml_document_get_node(x->doc, i);
}

int amc_is_null(const yaml_node_t *n)
{
	if (!n)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *v = (const char *)n->data.scalar.value;
	return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	       strcmp(v, "NULL") == 0;
}

const char *amc_scalar(struct cx *x, const yaml_node_t *n, const char *what)
{
	if (!n || n->type != YAML_SCALAR_NODE) {
		amc_fail(x, n, "%s must be a string", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

int amc_want(struct cx *x, const yaml_node_t *n, yaml_node_type_t t, const char *what)
{
	if (n && n->type == t)
		return 0;
	return amc_fail(x, n, "%s must be a %s", what, t == YAML_MAPPING_NODE ? "mapping" : "list");
}

int amc_get_bool(struct cx *x, const yaml_node_t *n, const char *what, int *out)
{
	const char *v = amc_scalar(x, n, what);
	if (!v)
		return -EINVAL;
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
		*out = 1;
	else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
		*out = 0;
	else
		return amc_fail(x, n, "invalid boolean '%s' for %s", v, what);
	return 0;
}

/* Prometheus durations: a number with a unit (or plain "0"). */
int amc_get_duration(struct cx *x, const yaml_node_t *n, const char *what, int64_t *out)
{
	const char *v = amc_scalar(x, n, what);
	if (!v)
		return -EINVAL;
	size_t len = strlen(v);
	int64_t d;
	if (strspn(v, "0") > 0 && (v[strspn(v, "0")] == 0 || strspn(v + strspn(v, "0"), "smhdwy") == len - strspn(v, "0"))) {
		*out = 0;
		return 0;
	}
	if (!len || v[len - 1] < 'a' || v[len - 1] > 'z' || obs_duration_parse(v, len, &d))
		return amc_fail(x, n, "not a valid duration string: \"%s\"", v);
	*out = d;
	return 0;
}

int amc_strv_push(struct am_strv *s, const char *v)
{
	char **nv = realloc(s->v, (s->n + 2) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	s->v = nv;
	s->v[s->n + 1] = NULL;
	if (!(s->v[s->n] = strdup(v)))
		return -ENOMEM;
	s->n++;
	return 0;
}

void amc_strv_release(struct am_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int amc_get_strv(struct cx *x, const yaml_node_t *n, const char *what, struct am_strv *out)
{
	if (amc_is_null(n))
		return 0;
	if (amc_want(x, n, YAML_SEQUENCE_NODE, what))
		return -EINVAL;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		const char *v = amc_scalar(x, amc_node(x, *it), what);
		if (!v)
			return -EINVAL;
		if (amc_strv_push(out, v))
			return -ENOMEM;
	}
	return 0;
}

/* The key of a pair, checked against the allowed names; unknown keys fail
 * like Alertmanager's strict decoder. */
const char *amc_key_of(struct cx *x, yaml_node_pair_t *p, const char *const *allowed,
			  const char *where)
{
	yaml_node_t *k = amc_node(x, p->key);
	const char *s = amc_scalar(x, k, "key");
	if (!s)
		return NULL;
	for (const char *const *a = allowed; *a; a++)
		if (strcmp(*a, s) == 0)
			return s;
	amc_fail(x, k, "field %s not found in %s", s, where);
	return NULL;
}

/* ---- matchers ------------------------------------------------------------ */

int amc_get_matcher_list(struct cx *x, const yaml_node_t *n, const char *what,
			    struct am_matchers *m)
{
	if (amc_is_null(n))
		return 0;
	if (amc_want(x, n, YAML_SEQUENCE_NODE, what))
		return -EINVAL;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *e = amc_node(x, *it);
		const char *v = amc_scalar(x, e, what), *why = "invalid matcher";
		if (!v)
			return -EINVAL;
		/* an element may itself be a short list: "a=b,c=d" or "{a=b}" */
		struct am_matchers more;
		int rc = am_matchers_parse(v, strlen(v), 0, &more, &why);
		if (rc == 0 && more.n == 0)
			rc = -EINVAL, why = "empty matcher";
		if (rc)
			return rc == -ENOMEM ? rc : amc_fail(x, e, "bad matcher format: %s: %s", v, why);
		for (size_t i = 0; i < more.n; i++) {
			if ((rc = am_matchers_add_parts(m, more.v[i].name, more.v[i].op, more.v[i].value, &why))) {
				am_matchers_release(&more);
				return rc == -ENOMEM ? rc : amc_fail(x, e, "%s", why);
			}
		}
		am_matchers_release(&more);
	}
	return 0;
}

int amc_get_match_map(struct cx *x, const yaml_node_t *n, const char *what, int re,
			 struct am_matchers *m)
{
	if (amc_is_null(n))
		return 0;
	if (amc_want(x, n, YAML_MAPPING_NODE, what))
		return -EINVAL;
	EACH_PAIR(n, p) {
		yaml_node_t *k = amc_node(x, p->key);
		const char *name = amc_scalar(x, k, what), *val = amc_scalar(x, amc_node(x, p->value), what);
		if (!name || !val)
			return -EINVAL;
		if (!obs_label_name_valid(name, strlen(name)))
			return amc_fail(x, k, "\"%s\" is not a valid label name", name);
		const char *why = "invalid matcher";
		int rc = am_matchers_add_parts(m, name, re ? OBS_MATCH_RE : OBS_MATCH_EQ, val, &why);
		if (rc)
			return rc == -ENOMEM ? rc : amc_fail(x, amc_node(x, p->value), "invalid regular expression \"%s\": %s", val, why);
	}
	return 0;
}


/* ---- receivers ----------------------------------------------------------- */

static const char *const RECEIVER_KEYS[] = { "name", "webhook_configs", "exec_configs",
	"email_configs", "pagerduty_configs", "slack_configs", "opsgenie_configs", "wechat_configs",
	"pushover_configs", "victorops_configs", "sns_configs", "telegram_configs",
	"discord_configs", "webex_configs", "msteams_configs", NULL };
static const char *const WEBHOOK_KEYS[] = { "url", "send_resolved", "max_alerts", "timeout",
	"http_config", "url_file", NULL };
static const char *const EXEC_KEYS[] = { "command", "send_resolved", "timeout", NULL };

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static int parse_webhook(struct cx *x, const yaml_node_t *n, struct am_webhook *w)
{
	w->send_resolved = 1;
	w->timeout = AM_HTTP_TIMEOUT_DEFAULT;
	if (amc_want(x, n, YAML_MAPPING_NODE, "webhook_configs entry"))
		return -EINVAL;
	int rc = 0;
	EACH_PAIR(n, p) {
		const char *k = amc_key_of(x, p, WEBHOOK_KEYS, "config.WebhookConfig");
		yaml_node_t *v = amc_node(x, p->value);
		if (!k)
			return -EINVAL;
		if (!strcmp(k, "url")) {
			const char *s = amc_scalar(x, v, k);
			if (!s)
				return -EINVAL;
			if (strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
				return amc_fail(x, v, "unsupported scheme \"%.*s\" for URL", (int)strcspn(s, ":"), s);
			free(w->url);
			if (!(w->url = strdup(s)))
				return -ENOMEM;
		} else if (!strcmp(k, "send_resolved")) {
			rc = amc_get_bool(x, v, k, &w->send_resolved);
		} else if (!strcmp(k, "max_alerts")) {
			const char *s = amc_scalar(x, v, k);
			char *e;
			long m = s ? strtol(s, &e, 10) : 0;
			if (!s || !*s || *e || m < 0 || m > 1000000)
				return amc_fail(x, v, "invalid max_alerts");
			w->max_alerts = (int)m;
		} else if (!strcmp(k, "timeout")) {
			rc = amc_get_duration(x, v, k, &w->timeout);
		} else {
			return amc_fail(x, amc_node(x, p->key), "%s is not supported by obsfs", k);
		}
		if (rc)
			return rc;
	}
	if (!w->url)
		return amc_fail(x, n, "one of url or url_file must be configured");
	return 0;
}

static int parse_exec(struct cx *x, const yaml_node_t *n, struct am_exec *e)
{
	e->send_resolved = 1;
	e->timeout = AM_HTTP_TIMEOUT_DEFAULT;
	if (amc_want(x, n, YAML_MAPPING_NODE, "exec_configs entry"))
		return -EINVAL;
	int rc = 0;
	EACH_PAIR(n, p) {
		const char *k = amc_key_of(x, p, EXEC_KEYS, "exec_configs");
		yaml_node_t *v = amc_node(x, p->value);
		if (!k)
			return -EINVAL;
		if (!strcmp(k, "command")) {
			amc_strv_release(&e->argv);
			if (v && v->type == YAML_SCALAR_NODE)
				return amc_fail(x, v, "command must be a list: [program, args...]");
			rc = amc_get_strv(x, v, k, &e->argv);
		} else if (!strcmp(k, "send_resolved")) {
			rc = amc_get_bool(x, v, k, &e->send_resolved);
		} else {
			rc = amc_get_duration(x, v, k, &e->timeout);
		}
		if (rc)
			return rc;
	}
	if (e->argv.n == 0 || !e->argv.v[0][0])
		return amc_fail(x, n, "exec_configs entry needs a command");
	x->c->has_exec = 1;
	return 0;
}

static int parse_receiver(struct cx *x, const yaml_node_t *n, struct am_receiver *r)
{
	if (amc_want(x, n, YAML_MAPPING_NODE, "receiver"))
		return -EINVAL;
	int rc = 0;
	EACH_PAIR(n, p) {
		const char *k = amc_key_of(x, p, RECEIVER_KEYS, "config.Receiver");
		yaml_node_t *v = amc_node(x, p->value);
		if (!k)
			return -EINVAL;
		if (!strcmp(k, "name")) {
			const char *s = amc_scalar(x, v, k);
			if (!s)
				return -EINVAL;
			free(r->name);
			if (!(r->name = strdup(s)))
				return -ENOMEM;
		} else if (!strcmp(k, "webhook_configs") || !strcmp(k, "exec_configs")) {
			if (amc_is_null(v))
				continue;
			if (amc_want(x, v, YAML_SEQUENCE_NODE, k))
				return -EINVAL;
			size_t cnt = seq_len(v);
			int wh = k[0] == 'w';
			void *arr = calloc(cnt ? cnt : 1, wh ? sizeof(struct am_webhook) : sizeof(struct am_exec));
			if (!arr)
				return -ENOMEM;
			if (wh) {
				free(r->webhooks);
				r->webhooks = arr;
			} else {
				free(r->execs);
				r->execs = arr;
			}
			for (size_t i = 0; i < cnt; i++) {
				yaml_node_t *e = amc_node(x, v->data.sequence.items.start[i]);
				if (wh) {
					r->nwebhooks++;
					rc = parse_webhook(x, e, &r->webhooks[i]);
				} else {
					r->nexecs++;
					rc = parse_exec(x, e, &r->execs[i]);
				}
				if (rc)
					return rc;
			}
		} else if (!amc_is_null(v)) {
			return amc_fail(x, amc_node(x, p->key), "unsupported receiver type %s (obsfs delivers webhook_configs and exec_configs)", k);
		}
	}
	if (!r->name || !*r->name)
		return amc_fail(x, n, "missing name in receiver");
	return 0;
}

/* ---- inhibit rules ------------------------------------------------------- */

static const char *const INHIBIT_KEYS[] = { "source_matchers", "target_matchers", "source_match",
	"source_match_re", "target_match", "target_match_re", "equal", NULL };

static int parse_inhibit(struct cx *x, const yaml_node_t *n, struct am_inhibit *ir)
{
	if (amc_want(x, n, YAML_MAPPING_NODE, "inhibit rule"))
		return -EINVAL;
	EACH_PAIR(n, p) {
		const char *k = amc_key_of(x, p, INHIBIT_KEYS, "config.InhibitRule");
		yaml_node_t *v = amc_node(x, p->value);
		if (!k)
			return -EINVAL;
		struct am_matchers *m = k[0] == 's' ? &ir->source : &ir->target;
		int rc;
		if (!strcmp(k, "equal")) {
			if ((rc = amc_get_strv(x, v, k, &ir->equal)))
				return rc;
			for (size_t i = 0; i < ir->equal.n; i++)
				if (!obs_label_name_valid(ir->equal.v[i], strlen(ir->equal.v[i])))
					return amc_fail(x, v, "\"%s\" is not a valid label name", ir->equal.v[i]);
			continue;
		}
		if (strstr(k, "_matchers"))
			rc = amc_get_matcher_list(x, v, k, m);
		else
			rc = amc_get_match_map(x, v, k, strstr(k, "_re") != NULL, m);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- time intervals ------------------------------------------------------ */

static const char *const TINT_KEYS[] = { "name", "time_intervals", NULL };
static const char *const TI_KEYS[] = { "times", "weekdays", "days_of_month", "months", "years",
	"location", NULL };
static const char *const TIMES_KEYS[] = { "start_time", "end_time", NULL };

static int parse_ti(struct cx *x, const yaml_node_t *n, struct am_tinterval *t)
{
	if (amc_want(x, n, YAML_MAPPING_NODE, "time interval"))
		return -EINVAL;
	EACH_PAIR(n, p) {
		const char *k = amc_key_of(x, p, TI_KEYS, "timeinterval.TimeInterval");
		yaml_node_t *v = amc_node(x, p->value);
		const char *why = "invalid time interval";
		if (!k)
			return -EINVAL;
		if (!strcmp(k, "location")) {
			const char *s = amc_scalar(x, v, k);
			if (!s)
				return -EINVAL;
			if (am_tint_set_location(t, s, &why))
				return amc_fail(x, v, "%s: %s", why, s);
			continue;
		}
		if (amc_is_null(v))
			continue;
		if (amc_want(x, v, YAML_SEQUENCE_NODE, k))
			return -EINVAL;
		for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
			yaml_node_t *e = amc_node(x, *it);
			int rc;
			if (!strcmp(k, "times")) {
				const char *st = NULL, *en = NULL;
				if (amc_want(x, e, YAML_MAPPING_NODE, "times entry"))
					return -EINVAL;
				EACH_PAIR(e, q) {
					const char *tk = amc_key_of(x, q, TIMES_KEYS, "timeinterval.TimeRange");
					const char *tv = tk ? amc_scalar(x, amc_node(x, q->value), tk) : NULL;
					if (!tv)
						return -EINVAL;
					if (!strcmp(tk, "start_time"))
						st = tv;
					else
						en = tv;
				}
				rc = am_tint_add_time(t, st, en, &why);
			} else {
				const char *s = amc_scalar(x, e, k);
				if (!s)
					return -EINVAL;
				enum am_tfield f = !strcmp(k, "weekdays") ? AM_TF_WEEKDAYS :
						   !strcmp(k, "days_of_month") ? AM_TF_MDAYS :
						   !strcmp(k, "months") ? AM_TF_MONTHS : AM_TF_YEARS;
				rc = am_tint_add_range(t, f, s, &why);
			}
			if (rc)
				return rc == -ENOMEM ? rc : amc_fail(x, e, "%s", why);
		}
	}
	return 0;
}

static int parse_tints(struct cx *x, const yaml_node_t *n, const char *what)
{
	if (amc_is_null(n))
		return 0;
	if (amc_want(x, n, YAML_SEQUENCE_NODE, what))
		return -EINVAL;
	struct am_config *c = x->c;
	size_t cnt = seq_len(n);
	struct am_named_tint *v = realloc(c->tints, (c->ntints + cnt + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->tints = v;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *e = amc_node(x, n->data.sequence.items.start[i]);
		struct am_named_tint *t = &c->tints[c->ntints++];
		memset(t, 0, sizeof(*t));
		if (amc_want(x, e, YAML_MAPPING_NODE, what))
			return -EINVAL;
		EACH_PAIR(e, p) {
			const char *k = amc_key_of(x, p, TINT_KEYS, "config.TimeInterval");
			yaml_node_t *val = amc_node(x, p->value);
			if (!k)
				return -EINVAL;
			if (!strcmp(k, "name")) {
				const char *s = amc_scalar(x, val, k);
				if (!s)
					return -EINVAL;
				free(t->name);
				if (!(t->name = strdup(s)))
					return -ENOMEM;
				continue;
			}
			if (amc_is_null(val))
				continue;
			if (amc_want(x, val, YAML_SEQUENCE_NODE, k))
				return -EINVAL;
			size_t m = seq_len(val);
			for (size_t j = 0; j < t->n; j++)   /* the key given twice: the last wins */
				am_tinterval_release(&t->v[j]);
			free(t->v);
			t->n = 0;
			if (!(t->v = calloc(m ? m : 1, sizeof(*t->v))))
				return -ENOMEM;
			for (size_t j = 0; j < m; j++) {
				t->n++;
				int rc = parse_ti(x, amc_node(x, val->data.sequence.items.start[j]), &t->v[j]);
				if (rc)
					return rc;
			}
		}
		if (!t->name || !*t->name)
			return amc_fail(x, e, "missing name in time interval");
		for (size_t j = 0; j + 1 < c->ntints; j++)
			if (!strcmp(c->tints[j].name, t->name))
				return amc_fail(x, e, "time interval \"%s\" is not unique", t->name);
	}
	return 0;
}

/* ---- alerting: (Prometheus' block, the forwarding extension) ------------- */

static const char *const ALERTING_KEYS[] = { "alertmanagers", NULL };
static const char *const AMS_KEYS[] = { "static_configs", "scheme", "path_prefix", "timeout",
	"api_version", NULL };
static const char *const STATIC_KEYS[] = { "targets", "labels", NULL };

static int parse_alerting(struct cx *x, const yaml_node_t *n)
{
	if (amc_is_null(n))
		return 0;
	if (amc_want(x, n, YAML_MAPPING_NODE, "alerting"))
		return -EINVAL;
	EACH_PAIR(n, p) {
		if (!amc_key_of(x, p, ALERTING_KEYS, "alerting"))
			return -EINVAL;
		yaml_node_t *list = amc_node(x, p->value);
		if (amc_is_null(list))
			continue;
		if (amc_want(x, list, YAML_SEQUENCE_NODE, "alertmanagers"))
			return -EINVAL;
		for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
			yaml_node_t *am = amc_node(x, *it);
			const char *scheme = "http", *prefix = "/";
			struct am_strv targets = { 0 };
			int rc = amc_want(x, am, YAML_MAPPING_NODE, "alertmanagers entry");
			if (!rc) {
				EACH_PAIR(am, q) {
					const char *k = amc_key_of(x, q, AMS_KEYS, "alertmanager config");
					yaml_node_t *v = amc_node(x, q->value);
					if (!k) {
						rc = -EINVAL;
						break;
					}
					if (!strcmp(k, "scheme") || !strcmp(k, "path_prefix") || !strcmp(k, "api_version")) {
						const char *s = amc_scalar(x, v, k);
						if (!s) {
							rc = -EINVAL;
							break;
						}
						if (!strcmp(k, "scheme") && strcmp(s, "http") && strcmp(s, "https"))
							rc = amc_fail(x, v, "unsupported scheme \"%s\"", s);
						else if (!strcmp(k, "api_version") && strcmp(s, "v2"))
							rc = amc_fail(x, v, "unsupported api_version \"%s\" (v2)", s);
						else if (k[0] == 's')
							scheme = s;
						else if (k[0] == 'p')
							prefix = s;
					} else if (!strcmp(k, "timeout")) {
						rc = amc_get_duration(x, v, k, &x->c->forward_timeout);
					} else if (!amc_is_null(v)) {
						if ((rc = amc_want(x, v, YAML_SEQUENCE_NODE, k)))
							break;
						for (yaml_node_item_t *s = v->data.sequence.items.start; !rc && s < v->data.sequence.items.top; s++) {
							yaml_node_t *sc = amc_node(x, *s);
							if ((rc = amc_want(x, sc, YAML_MAPPING_NODE, "static_configs entry")))
								break;
							EACH_PAIR(sc, r) {
								const char *sk = amc_key_of(x, r, STATIC_KEYS, "static_configs");
								if (!sk) {
									rc = -EINVAL;
									break;
								}
								if (!strcmp(sk, "targets") && (rc = amc_get_strv(x, amc_node(x, r->value), sk, &targets)))
									break;
							}
						}
					}
					if (rc)
						break;
				}
			}
			for (size_t i = 0; !rc && i < targets.n; i++) {
				struct obs_buf u;
				obs_buf_init(&u);
				size_t pl = strlen(prefix);
				if (obs_buf_printf(&u, "%s://%s%s%s%s", scheme, targets.v[i], prefix[0] == '/' ? "" : "/",
						   prefix, pl && prefix[pl - 1] == '/' ? "" : "/"))
					rc = -ENOMEM;
				else
					rc = amc_strv_push(&x->c->forward, u.data);
				obs_buf_release(&u);
			}
			amc_strv_release(&targets);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- the document -------------------------------------------------------- */

static const char *const TOP_KEYS[] = { "global", "route", "receivers", "inhibit_rules",
	"time_intervals", "mute_time_intervals", "templates", "alerting", NULL };
static const char *const GLOBAL_KEYS[] = { "resolve_timeout", "http_config", "smtp_from",
	"smtp_hello", "smtp_smarthost", "smtp_auth_username", "smtp_auth_password",
	"smtp_auth_password_file", "smtp_auth_secret", "smtp_auth_identity", "smtp_require_tls",
	"slack_api_url", "slack_api_url_file", "victorops_api_key", "victorops_api_key_file",
	"victorops_api_url", "pagerduty_url", "opsgenie_api_key", "opsgenie_api_key_file",
	"opsgenie_api_url", "wechat_api_url", "wechat_api_secret", "wechat_api_corp_id",
	"telegram_api_url", "webex_api_url", NULL };

static int parse_doc(struct cx *x, const yaml_node_t *root)
{
	struct am_config *c = x->c;
	const yaml_node_t *route = NULL, *receivers = NULL, *inhibits = NULL;
	if (!root || amc_is_null(root))
		return amc_fail(x, NULL, "no route provided in config");
	if (amc_want(x, root, YAML_MAPPING_NODE, "config"))
		return -EINVAL;
	int rc = 0;
	EACH_PAIR(root, p) {
		const char *k = amc_key_of(x, p, TOP_KEYS, "config.plain");
		yaml_node_t *v = amc_node(x, p->value);
		if (!k)
			return -EINVAL;
		if (!strcmp(k, "global")) {
			if (amc_is_null(v))
				continue;
			if (amc_want(x, v, YAML_MAPPING_NODE, k))
				return -EINVAL;
			EACH_PAIR(v, q) {
				const char *gk = amc_key_of(x, q, GLOBAL_KEYS, "config.GlobalConfig");
				if (!gk)
					return -EINVAL;
				if (!strcmp(gk, "resolve_timeout") &&
				    (rc = amc_get_duration(x, amc_node(x, q->value), gk, &c->resolve_timeout)))
					return rc;
			}
		} else if (!strcmp(k, "route")) {
			route = v;
		} else if (!strcmp(k, "receivers")) {
			receivers = v;
		} else if (!strcmp(k, "inhibit_rules")) {
			inhibits = v;
		} else if (!strcmp(k, "time_intervals") || !strcmp(k, "mute_time_intervals")) {
			if ((rc = parse_tints(x, v, k)))
				return rc;
		} else if (!strcmp(k, "alerting")) {
			if ((rc = parse_alerting(x, v)))
				return rc;
		}
	}
	if (!amc_is_null(receivers)) {
		if (amc_want(x, receivers, YAML_SEQUENCE_NODE, "receivers"))
			return -EINVAL;
		size_t cnt = seq_len(receivers);
		if (!(c->receivers = calloc(cnt ? cnt : 1, sizeof(*c->receivers))))
			return -ENOMEM;
		for (size_t i = 0; i < cnt; i++) {
			yaml_node_t *e = amc_node(x, receivers->data.sequence.items.start[i]);
			c->nreceivers++;
			if ((rc = parse_receiver(x, e, &c->receivers[i])))
				return rc;
			for (size_t j = 0; j < i; j++)
				if (!strcmp(c->receivers[j].name, c->receivers[i].name))
					return amc_fail(x, e, "notification config name \"%s\" is not unique", c->receivers[i].name);
		}
	}
	if (!amc_is_null(inhibits)) {
		if (amc_want(x, inhibits, YAML_SEQUENCE_NODE, "inhibit_rules"))
			return -EINVAL;
		size_t cnt = seq_len(inhibits);
		if (!(c->inhibits = calloc(cnt ? cnt : 1, sizeof(*c->inhibits))))
			return -ENOMEM;
		for (size_t i = 0; i < cnt; i++) {
			c->ninhibits++;
			if ((rc = parse_inhibit(x, amc_node(x, inhibits->data.sequence.items.start[i]), &c->inhibits[i])))
				return rc;
		}
	}
	if (amc_is_null(route))
		return amc_fail(x, NULL, "no route provided in config");
	if ((rc = amc_parse_route(x, route, &c->root, NULL)))
		return rc;
	if (!c->root.receiver || !*c->root.receiver)
		return amc_fail(x, route, "root route must specify a default receiver");
	if (c->root.matchers.n)
		return amc_fail(x, route, "root route must not have any matchers");
	if (c->root.cont)
		return amc_fail(x, route, "cannot have continue in root route");
	if (c->root.mute.n)
		return amc_fail(x, route, "root route must not have any mute time intervals");
	if (c->root.active.n)
		return amc_fail(x, route, "root route must not have any active time intervals");
	return amc_check_route(x, &c->root);
}

int am_config_parse(const char *text, size_t n, struct am_config **out, struct obs_buf *err)
{
	*out = NULL;
	struct am_config *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->resolve_timeout = AM_RESOLVE_TIMEOUT_DEFAULT;
	c->forward_timeout = AM_HTTP_TIMEOUT_DEFAULT;
	yaml_parser_t p;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&p)) {
		free(c);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
	int rc;
	if (!yaml_parser_load(&p, &doc)) {
		obs_buf_printf(err, "line %zu: %s", (size_t)p.problem_mark.line + 1,
			       p.problem ? p.problem : "invalid yaml");
		yaml_parser_delete(&p);
		free(c);
		return p.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	}
	struct cx x = { &doc, err, c, 0 };
	rc = parse_doc(&x, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	if (rc) {
		if (rc == -ENOMEM && !x.failed)
			obs_buf_puts(err, "out of memory");
		am_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void am_config_free(struct am_config *c)
{
	if (!c)
		return;
	amc_route_release(&c->root);
	for (size_t i = 0; i < c->nreceivers; i++) {
		struct am_receiver *r = &c->receivers[i];
		free(r->name);
		for (size_t j = 0; j < r->nwebhooks; j++)
			free(r->webhooks[j].url);
		free(r->webhooks);
		for (size_t j = 0; j < r->nexecs; j++)
			amc_strv_release(&r->execs[j].argv);
		free(r->execs);
	}
	free(c->receivers);
	for (size_t i = 0; i < c->ninhibits; i++) {
		am_matchers_release(&c->inhibits[i].source);
		am_matchers_release(&c->inhibits[i].target);
		amc_strv_release(&c->inhibits[i].equal);
	}
	free(c->inhibits);
	for (size_t i = 0; i < c->ntints; i++)
		am_named_tint_release(&c->tints[i]);
	free(c->tints);
	amc_strv_release(&c->forward);
	free(c);
}

const struct am_receiver *am_config_receiver(const struct am_config *c, const char *name)
{
	for (size_t i = 0; i < c->nreceivers; i++)
		if (c->receivers[i].name && !strcmp(c->receivers[i].name, name))
			return &c->receivers[i];
	return NULL;
}

const struct am_named_tint *am_config_tint(const struct am_config *c, const char *name)
{
	for (size_t i = 0; i < c->ntints; i++)
		if (c->tints[i].name && !strcmp(c->tints[i].name, name))
			return &c->tints[i];
	return NULL;
}
