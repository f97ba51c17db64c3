/* textline.h — walking the lines of a text held in memory (config-like
 * files: silences, SLOs): the next line, trimmed. Header only. */
#ifndef OBS_CORE_TEXTLINE_H
#define OBS_CORE_TEXTLINE_H

#include <string.h>

/* The next line of [*p, end) — up to '\n' or end — without its leading
 * spaces and tabs and its trailing spaces, tabs and CRs, as [*a, *b); *p
 * moves past the line and its '\n'. Returns 0 (and sets nothing) at the
 * end of the text, else 1. */
static inline int obs_line_next(const char **p, const char *end, const char **a, const char **b)
{
	if (*p >= end)
		return 0;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *s = *p, *e = nl ? nl : end;
	*p = nl ? nl + 1 : end;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*a = s;
	*b = e;
	return 1;
}

#endif
