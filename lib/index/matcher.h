/* matcher.h — Prometheus label matchers: k=v, k!=v, k=~re, k!~re.
 *
 * Regexes are PCRE2, fully anchored as in Prometheus (^(?:re)$). */
#ifndef OBS_INDEX_MATCHER_H
#define OBS_INDEX_MATCHER_H

#include <stddef.h>

enum obs_match_op { OBS_MATCH_EQ, OBS_MATCH_NE, OBS_MATCH_RE, OBS_MATCH_NRE };

struct obs_matcher {
	char *name;
	char *value;            /* literal value or regex source */
	enum obs_match_op op;
	void *re;               /* compiled pcre2_code for RE/NRE */
	void *md;               /* pcre2 match data (not shared across threads:
	                           obs_matcher_match allocates when NULL) */
};

/* Parse "k=v", "k!=v", "k=~re", "k!~re"; the value may be double-quoted with
 * Prometheus escapes ("k=\"a b\""). A bare name without operator ("up") means
 * __name__=up. -EINVAL with *why set on a bad matcher or regex. */
int obs_matcher_parse(const char *s, size_t n, struct obs_matcher *m, const char **why);
/* Build directly. 0, -EINVAL (bad regex) or -ENOMEM. */
int obs_matcher_init(struct obs_matcher *m, const char *name, enum obs_match_op op, const char *value, const char **why);
void obs_matcher_release(struct obs_matcher *m);   /* accepts zeroed */
/* Does a label value match? An absent label is the value "". Thread-safe. */
int obs_matcher_match(const struct obs_matcher *m, const char *value);
/* Does the matcher match the empty value (so it also selects series without the label)? */
int obs_matcher_matches_empty(const struct obs_matcher *m);

#endif
