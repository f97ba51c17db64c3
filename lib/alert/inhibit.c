/* inhibit.c — inhibition rules over the alerts of one tick. */
#include "alert/inhibit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rule_src {
	const struct am_alert **v;   /* firing alerts matching the source side */
	size_t n;
};

struct am_inhibitor {
	const struct am_config *c;
	struct rule_src *r;          /* one per inhibit rule */
};

int am_inhibitor_new(const struct am_config *c, const struct am_alert *const *alerts, size_t n,
		     int64_t now, struct am_inhibitor **out)
{
	struct am_inhibitor *ih = calloc(1, sizeof(*ih));
	if (!ih)
		return -ENOMEM;
	ih->c = c;
	size_t nr = c ? c->ninhibits : 0;
	if (nr && !(ih->r = calloc(nr, sizeof(*ih->r)))) {
		free(ih);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nr; i++) {
		const struct am_inhibit *rule = &c->inhibits[i];
		for (size_t k = 0; k < n; k++) {
			if (am_alert_resolved(alerts[k], now) || !am_matchers_match(&rule->source, &alerts[k]->labels))
				continue;
			const struct am_alert **v = realloc(ih->r[i].v, (ih->r[i].n + 1) * sizeof(*v));
			if (!v) {
				am_inhibitor_free(ih);
				return -ENOMEM;
			}
			v[ih->r[i].n++] = alerts[k];
			ih->r[i].v = v;
		}
	}
	*out = ih;
	return 0;
}

void am_inhibitor_free(struct am_inhibitor *ih)
{
	if (!ih)
		return;
	for (size_t i = 0; ih->r && i < ih->c->ninhibits; i++)
		free(ih->r[i].v);
	free(ih->r);
	free(ih);
}

static int same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

int am_inhibitor_mutes(const struct am_inhibitor *ih, const struct obs_labels *l, uint64_t *by)
{
	if (!ih->c)
		return 0;
	for (size_t i = 0; i < ih->c->ninhibits; i++) {
		const struct am_inhibit *rule = &ih->c->inhibits[i];
		if (!am_matchers_match(&rule->target, l))
			continue;
		int two_sided = am_matchers_match(&rule->source, l);
		for (size_t k = 0; k < ih->r[i].n; k++) {
			const struct am_alert *src = ih->r[i].v[k];
			int eq = 1;
			for (size_t e = 0; e < rule->equal.n && eq; e++)
				eq = same(obs_labels_get(&src->labels, rule->equal.v[e]),
					  obs_labels_get(l, rule->equal.v[e]));
			if (!eq)
				continue;
			if (two_sided && am_matchers_match(&rule->target, &src->labels))
				continue;
			if (by)
				*by = am_fingerprint(&src->labels);
			return 1;
		}
	}
	return 0;
}
