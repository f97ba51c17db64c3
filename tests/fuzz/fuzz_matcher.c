// sources: lib/index/matcher.c lib/core/regex.c
/* fuzz_matcher.c — libFuzzer harness: arbitrary bytes parsed as a matcher,
 * then matched against a few values. Checks the invariants that must hold for
 * any accepted matcher: a name and value are set, RE/NRE carry a compiled
 * pattern, != and !~ are the exact negations of = and =~, and
 * matches_empty agrees with match(""). A rejected input leaves the struct
 * zeroed and gives a reason. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/matcher.h"

static const char *const subjects[] = {
	"", "a", "ab", "api", "200", "a\nb", "\xc3\xa9", "\xff\xfe", "x y z", "{}\"\\",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct obs_matcher m;
	const char *why = NULL;
	int rc = obs_matcher_parse((const char *)data, size, &m, &why);
	if (rc != 0) {
		if (rc != -EINVAL && rc != -ENOMEM)
			abort();
		if (!why || m.name || m.value || m.re)
			abort();
		return 0;
	}
	if (!m.name || !m.value || !m.name[0])
		abort();
	int is_re = m.op == OBS_MATCH_RE || m.op == OBS_MATCH_NRE;
	if (is_re != (m.re != NULL))
		abort();

	/* the same matcher with the opposite operator must give the opposite answer */
	struct obs_matcher neg;
	enum obs_match_op nop = m.op == OBS_MATCH_EQ ? OBS_MATCH_NE :
				m.op == OBS_MATCH_NE ? OBS_MATCH_EQ :
				m.op == OBS_MATCH_RE ? OBS_MATCH_NRE : OBS_MATCH_RE;
	if (obs_matcher_init(&neg, m.name, nop, m.value, &why) != 0)
		abort();

	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		int a = obs_matcher_match(&m, subjects[i]);
		int b = obs_matcher_match(&neg, subjects[i]);
		if ((a != 0 && a != 1) || a == b)
			abort();
	}
	/* the matcher's own value as a subject: = and =~ of a literal match it */
	int self = obs_matcher_match(&m, m.value);
	if (m.op == OBS_MATCH_EQ && !self)
		abort();
	if (m.op == OBS_MATCH_NE && self)
		abort();
	if (obs_matcher_matches_empty(&m) != obs_matcher_match(&m, ""))
		abort();

	obs_matcher_release(&neg);
	obs_matcher_release(&m);
	if (m.name || m.re)
		abort();
	return 0;
}
