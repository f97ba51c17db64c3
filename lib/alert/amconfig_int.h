/* amconfig_int.h — private to amconfig.c and route.c: the YAML walking
 * helpers. Every helper that fails records the first error as
 * "line N: reason" in x->err and returns -EINVAL (-ENOMEM stays -ENOMEM). */
#ifndef OBS_ALERT_AMCONFIG_INT_H
#define OBS_ALERT_AMCONFIG_INT_H

#include <yaml.h>

#include "alert/amconfig.h"

struct cx {
	yaml_document_t *doc;
	struct obs_buf *err;
	struct am_config *c;
	int failed;
};

#define EACH_PAIR(n, p) \
	for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; p < (n)->data.mapping.pairs.top; p++)

int amc_fail(struct cx *x, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
yaml_node_t *amc_node(struct cx *x, int i);
int amc_is_null(const yaml_node_t *n);
const char *amc_scalar(struct cx *x, const yaml_node_t *n, const char *what);
int amc_want(struct cx *x, const yaml_node_t *n, yaml_node_type_t t, const char *what);
int amc_get_bool(struct cx *x, const yaml_node_t *n, const char *what, int *out);
int amc_get_duration(struct cx *x, const yaml_node_t *n, const char *what, int64_t *out);
int amc_strv_push(struct am_strv *s, const char *v);
void amc_strv_release(struct am_strv *s);
int amc_get_strv(struct cx *x, const yaml_node_t *n, const char *what, struct am_strv *out);
const char *amc_key_of(struct cx *x, yaml_node_pair_t *p, const char *const *allowed, const char *where);
int amc_get_matcher_list(struct cx *x, const yaml_node_t *n, const char *what, struct am_matchers *m);
int amc_get_match_map(struct cx *x, const yaml_node_t *n, const char *what, int re, struct am_matchers *m);

int amc_parse_route(struct cx *x, const yaml_node_t *n, struct am_route *r, const struct am_route *parent);
int amc_check_route(struct cx *x, const struct am_route *r);
void amc_route_release(struct am_route *r);

#endif
