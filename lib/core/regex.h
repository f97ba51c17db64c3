/* regex.h — matching compiled PCRE2 patterns from many threads: one match
 * data per thread (freed when the thread exits) and one shared match context
 * with limits, so a pathological pattern cannot run away. */
#ifndef OBS_CORE_REGEX_H
#define OBS_CORE_REGEX_H

#include <stddef.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

/* Does re match s[0..n)? 1 or 0 (0 also when out of memory or past the
 * match limits). Falls back from JIT when its stack runs out. Thread-safe. */
int obs_re_match(const pcre2_code *re, const char *s, size_t n);
/* The same with caller-owned match data (md may be NULL). */
int obs_re_match_md(const pcre2_code *re, const char *s, size_t n, pcre2_match_data *md);

#endif
