/* route.c — the routing tree of alerts/config: parsing with inheritance of
 * the parent's receiver, group_by and timings (Alertmanager's rules), the
 * route keys, the reference checks and Alertmanager's Route.Match. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alert/amconfig.h"
#include "alert/amconfig_int.h"

/* ---- routes -------------------------------------------------------------- */

static const char *const ROUTE_KEYS[] = { "receiver", "group_by", "continue", "match", "match_re",
	"matchers", "group_wait", "group_interval", "repeat_interval", "mute_time_intervals",
	"active_time_intervals", "routes", NULL };

void amc_route_release(struct am_route *r)
{
	free(r->receiver);
	amc_strv_release(&r->group_by);
	am_matchers_release(&r->matchers);
	amc_strv_release(&r->mute);
	amc_strv_release(&r->active);
	for (size_t i = 0; i < r->nroutes; i++)
		amc_route_release(&r->routes[i]);
	free(r->routes);
	free(r->key);
	memset(r, 0, sizeof(*r));
}

static int route_inherit(struct am_route *r, const struct am_route *parent)
{
	r->parent = (struct am_route *)parent;
	if (!parent) {
		r->group_wait = AM_GROUP_WAIT_DEFAULT;
		r->group_interval = AM_GROUP_INTERVAL_DEFAULT;
		r->repeat_interval = AM_REPEAT_INTERVAL_DEFAULT;
		return 0;
	}
	r->group_wait = parent->group_wait;
	r->group_interval = parent->group_interval;
	r->repeat_interval = parent->repeat_interval;
	if (parent->receiver && !(r->receiver = strdup(parent->receiver)))
		return -ENOMEM;
	r->group_by_all = parent->group_by_all;
	for (size_t i = 0; i < parent->group_by.n; i++)
		if (amc_strv_push(&r->group_by, parent->group_by.v[i]))
			return -ENOMEM;
	return 0;
}

static int parse_group_by(struct cx *x, const yaml_node_t *n, struct am_route *r)
{
	amc_strv_release(&r->group_by);
	r->group_by_all = 0;
	struct am_strv v = { 0 };
	int rc = amc_get_strv(x, n, "group_by", &v);
	if (rc) {
		amc_strv_release(&v);
		return rc;
	}
	for (size_t i = 0; i < v.n; i++) {
		if (strcmp(v.v[i], "...") == 0) {
			if (v.n != 1) {
				amc_strv_release(&v);
				return amc_fail(x, n, "cannot have wildcard group_by (`...`) and other other labels at the same time");
			}
			r->group_by_all = 1;
			amc_strv_release(&v);
			return 0;
		}
		if (!obs_label_name_valid(v.v[i], strlen(v.v[i]))) {
			amc_fail(x, n, "invalid label name \"%s\" in group_by list", v.v[i]);
			amc_strv_release(&v);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(v.v[i], v.v[j]) == 0) {
				amc_fail(x, n, "duplicated label \"%s\" in group_by", v.v[i]);
				amc_strv_release(&v);
				return -EINVAL;
			}
	}
	r->group_by = v;
	return 0;
}

int amc_parse_route(struct cx *x, const yaml_node_t *n, struct am_route *r,
		       const struct am_route *parent)
{
	int rc = route_inherit(r, parent);
	if (rc)
		return rc;
	r->line = (int)n->start_mark.line + 1;
	r->id = x->c->nroutes++;
	if (amc_want(x, n, YAML_MAPPING_NODE, "route"))
		return -EINVAL;
	const yaml_node_t *routes = NULL;
	EACH_PAIR(n, p) {
		const char *k = amc_key_of(x, p, ROUTE_KEYS, "config.plain route");
		yaml_node_t *v = amc_node(x, p->value);
		if (!k)
			return -EINVAL;
		if (!strcmp(k, "receiver")) {
			const char *s = amc_scalar(x, v, k);
			if (!s)
				return -EINVAL;
			free(r->receiver);
			if (!(r->receiver = strdup(s)))
				return -ENOMEM;
		} else if (!strcmp(k, "group_by")) {
			rc = parse_group_by(x, v, r);
		} else if (!strcmp(k, "continue")) {
			rc = amc_get_bool(x, v, k, &r->cont);
		} else if (!strcmp(k, "match")) {
			rc = amc_get_match_map(x, v, k, 0, &r->matchers);
		} else if (!strcmp(k, "match_re")) {
			rc = amc_get_match_map(x, v, k, 1, &r->matchers);
		} else if (!strcmp(k, "matchers")) {
			rc = amc_get_matcher_list(x, v, k, &r->matchers);
		} else if (!strcmp(k, "group_wait")) {
			rc = amc_get_duration(x, v, k, &r->group_wait);
		} else if (!strcmp(k, "group_interval")) {
			if (!(rc = amc_get_duration(x, v, k, &r->group_interval)) && r->group_interval == 0)
				rc = amc_fail(x, v, "group_interval cannot be zero");
		} else if (!strcmp(k, "repeat_interval")) {
			if (!(rc = amc_get_duration(x, v, k, &r->repeat_interval)) && r->repeat_interval == 0)
				rc = amc_fail(x, v, "repeat_interval cannot be zero");
		} else if (!strcmp(k, "mute_time_intervals")) {
			rc = amc_get_strv(x, v, k, &r->mute);
		} else if (!strcmp(k, "active_time_intervals")) {
			rc = amc_get_strv(x, v, k, &r->active);
		} else {
			routes = v;
		}
		if (rc)
			return rc;
	}
	struct obs_buf key;
	obs_buf_init(&key);
	if (parent && obs_buf_printf(&key, "%s/", parent->key))
		return -ENOMEM;
	if ((rc = am_matchers_format(&r->matchers, &key))) {
		obs_buf_release(&key);
		return rc;
	}
	r->key = obs_buf_detach(&key, NULL);
	if (!r->key)
		return -ENOMEM;
	if (amc_is_null(routes))
		return 0;
	if (amc_want(x, routes, YAML_SEQUENCE_NODE, "routes"))
		return -EINVAL;
	size_t cnt = (size_t)(routes->data.sequence.items.top - routes->data.sequence.items.start);
	if (!(r->routes = calloc(cnt ? cnt : 1, sizeof(*r->routes))))
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		r->nroutes++;
		if ((rc = amc_parse_route(x, amc_node(x, routes->data.sequence.items.start[i]), &r->routes[i], r)))
			return rc;
	}
	return 0;
}

/* receivers and time intervals referenced by the tree exist */
int amc_check_route(struct cx *x, const struct am_route *r)
{
	if (!r->receiver || !*r->receiver)
		return amc_fail(x, NULL, "line %d: route has no receiver", r->line);
	if (!am_config_receiver(x->c, r->receiver))
		return amc_fail(x, NULL, "undefined receiver \"%s\" used in route", r->receiver);
	for (size_t i = 0; i < r->mute.n; i++)
		if (!am_config_tint(x->c, r->mute.v[i]))
			return amc_fail(x, NULL, "undefined time interval \"%s\" used in route", r->mute.v[i]);
	for (size_t i = 0; i < r->active.n; i++)
		if (!am_config_tint(x->c, r->active.v[i]))
			return amc_fail(x, NULL, "undefined time interval \"%s\" used in route", r->active.v[i]);
	for (size_t i = 0; i < r->nroutes; i++)
		if (amc_check_route(x, &r->routes[i]))
			return -EINVAL;
	return 0;
}

size_t am_route_match(const struct am_route *r, const struct obs_labels *l,
		      const struct am_route **out, size_t max)
{
	if (r->parent && !am_matchers_match(&r->matchers, l))
		return 0;
	size_t k = 0;
	for (size_t i = 0; i < r->nroutes; i++) {
		size_t got = am_route_match(&r->routes[i], l, out + k, max - k);
		k += got;
		if (got && !r->routes[i].cont)
			break;
		if (k == max)
			break;
	}
	if (k == 0 && max > 0)
		out[k++] = r;
	return k;
}

