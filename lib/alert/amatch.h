/* amatch.h — Alertmanager matcher lists: `{alertname=~"Disk.*",team="db"}`.
 *
 * A list is comma-separated matchers (=, !=, =~, !~), optionally inside
 * braces, values quoted or bare; regexes are fully anchored PCRE2 as in
 * Alertmanager. A list matches a label set when every matcher does (an
 * absent label is the empty value). */
#ifndef OBS_ALERT_AMATCH_H
#define OBS_ALERT_AMATCH_H

#include <stddef.h>

#include "core/buf.h"
#include "core/labels.h"
#include "index/matcher.h"

#define AM_MAX_MATCHERS 64

struct am_matchers {
	struct obs_matcher *v;
	size_t n;
};

void am_matchers_init(struct am_matchers *m);
void am_matchers_release(struct am_matchers *m);   /* accepts zeroed */

/* Parse a list. When bare_alertname is set, a first element that is only a
 * name (no operator) means alertname="NAME" (amtool's rule); otherwise a
 * bare name is refused. An empty list (or "{}") is allowed here. -EINVAL with
 * *why set, or -ENOMEM; *m is left empty on failure. */
int am_matchers_parse(const char *s, size_t n, int bare_alertname,
		      struct am_matchers *m, const char **why);
/* Append one matcher (parsed from s[0..n)) to m. Same errors. */
int am_matchers_add(struct am_matchers *m, const char *s, size_t n, const char **why);
/* Append a matcher built from parts. */
int am_matchers_add_parts(struct am_matchers *m, const char *name, enum obs_match_op op,
			  const char *value, const char **why);

/* Does every matcher match l? 1 or 0. An empty list matches everything. */
int am_matchers_match(const struct am_matchers *m, const struct obs_labels *l);

/* Canonical text: {name="value",name=~"re"} with values quoted and \ " \n
 * escaped. */
int am_matchers_format(const struct am_matchers *m, struct obs_buf *out);

#endif
