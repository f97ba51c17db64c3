/* matcher.c — Prometheus label matchers (k=v, k!=v, k=~re, k!~re) over PCRE2.
 *
 * Regexes are compiled fully anchored (PCRE2_ANCHORED | PCRE2_ENDANCHORED, the
 * flag form of Prometheus' ^(?:re)$, immune to unbalanced parentheses in re),
 * in UTF mode, with PCRE2_DOTALL ('.' matches newline, as Prometheus' (?s)).
 * Subjects that are not valid UTF-8 are matched as well (PCRE2_MATCH_INVALID_UTF)
 * rather than rejected. JIT is used when the library supports it; a pattern
 * that exhausts the JIT stack is retried with the interpreter. A match that
 * hits the match or depth limit counts as "no match".
 *
 * Thread safety: a compiled pattern and the shared match context are read
 * only during matching; the match data is the caller's m->md when set (not
 * shared across threads, by contract), else one cached per thread (a
 * pthread key whose destructor frees it at thread exit).
 *
 * Text form accepted by obs_matcher_parse:
 *     name OP value         OP is =, !=, =~ or !~; whitespace around name and OP
 *     name OP "value"       double or single quotes; escapes \" \' \\ \n \t,
 *                           any other backslash pair is kept verbatim (so "\d"
 *                           reaches the regex as \d)
 *     metric                a bare metric name means __name__="metric"
 * An unquoted value is the rest of the text, verbatim. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "index/matcher.h"

#include "core/regex.h"

#define MATCHER_MAX_LEN (64 * 1024)

static int is_alpha_(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int label_name_ok(const char *s, size_t n)
{
	if (n == 0 || !is_alpha_((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_alpha_((unsigned char)s[i]) && !is_digit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int metric_name_ok(const char *s, size_t n)
{
	if (n == 0 || (!is_alpha_((unsigned char)s[0]) && s[0] != ':'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		int c = (unsigned char)s[i];
		if (!is_alpha_(c) && !is_digit(c) && c != ':')
			return 0;
	}
	return 1;
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *compile_error(int code)
{
	/* Static reasons only: the PCRE2 message would need a per-call buffer. */
	switch (code) {
	case 106: return "missing terminating ] for character class";
	case 114: return "missing closing parenthesis";
	case 122: return "unmatched closing parenthesis";
	case 109: return "quantifier does not follow a repeatable item";
	case 101: return "\\ at end of pattern";
	case 115: return "reference to non-existent subpattern";
	default:  return code < 0 ? "invalid UTF-8 in regular expression"
				  : "invalid regular expression";
	}
}

static int compile(struct obs_matcher *m, const char **why)
{
	int err = 0;
	PCRE2_SIZE off = 0;
	uint32_t opts = PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_DOTALL;
#ifdef PCRE2_MATCH_INVALID_UTF
	opts |= PCRE2_MATCH_INVALID_UTF;
#endif
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)m->value, PCRE2_ZERO_TERMINATED,
				       opts, &err, &off, NULL);
	if (!re) {
		if (why)
			*why = err == PCRE2_ERROR_NOMEMORY ? "out of memory" : compile_error(err);
		return err == PCRE2_ERROR_NOMEMORY ? -ENOMEM : -EINVAL;
	}
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* optional */
	m->re = re;
	return 0;
}

int obs_matcher_init(struct obs_matcher *m, const char *name, enum obs_match_op op,
		     const char *value, const char **why)
{
	memset(m, 0, sizeof(*m));
	if (!name || !label_name_ok(name, strlen(name))) {
		if (why)
			*why = name && *name ? "invalid label name" : "empty label name";
		return -EINVAL;
	}
	if (op != OBS_MATCH_EQ && op != OBS_MATCH_NE && op != OBS_MATCH_RE && op != OBS_MATCH_NRE) {
		if (why)
			*why = "invalid operator";
		return -EINVAL;
	}
	m->name = strdup(name);
	m->value = strdup(value ? value : "");
	m->op = op;
	if (!m->name || !m->value) {
		obs_matcher_release(m);
		if (why)
			*why = "out of memory";
		return -ENOMEM;
	}
	if (op == OBS_MATCH_RE || op == OBS_MATCH_NRE) {
		int rc = compile(m, why);
		if (rc) {
			obs_matcher_release(m);
			return rc;
		}
	}
	return 0;
}

void obs_matcher_release(struct obs_matcher *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->value);
	if (m->re)
		pcre2_code_free(m->re);
	if (m->md)
		pcre2_match_data_free(m->md);
	memset(m, 0, sizeof(*m));
}

/* Decode a quoted value starting at s[*i] == q into a new string. */
static char *unquote(const char *s, size_t n, size_t *i, const char **why)
{
	char q = s[*i];
	char *out = malloc(n - *i + 1), *o = out;
	if (!out) {
		*why = "out of memory";
		return NULL;
	}
	for (size_t k = *i + 1; k < n; k++) {
		char c = s[k];
		if (c == q) {
			*o = 0;
			*i = k + 1;
			return out;
		}
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		if (++k == n)
			break;
		switch (s[k]) {
		case '"': case '\'': case '\\': *o++ = s[k]; break;
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		default: *o++ = '\\'; *o++ = s[k]; break;
		}
	}
	free(out);
	*why = "unterminated quoted value";
	return NULL;
}

int obs_matcher_parse(const char *s, size_t n, struct obs_matcher *m, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	memset(m, 0, sizeof(*m));
	if (n > MATCHER_MAX_LEN) {
		*why = "matcher too long";
		return -EINVAL;
	}
	if (n == 0) {
		*why = "empty label name";
		return -EINVAL;
	}
	if (memchr(s, 0, n)) {
		*why = "matcher contains a NUL byte";
		return -EINVAL;
	}
	size_t i = 0;
	while (i < n && is_space((unsigned char)s[i]))
		i++;
	size_t nb = i;
	while (i < n && (is_alpha_((unsigned char)s[i]) || is_digit((unsigned char)s[i]) || s[i] == ':'))
		i++;
	size_t ne = i;
	while (i < n && is_space((unsigned char)s[i]))
		i++;
	if (ne == nb) {
		*why = "empty label name";
		return -EINVAL;
	}
	char name[ne - nb + 1];
	memcpy(name, s + nb, ne - nb);
	name[ne - nb] = 0;
	if (i == n) {   /* bare metric name */
		if (!metric_name_ok(name, ne - nb)) {
			*why = "invalid metric name";
			return -EINVAL;
		}
		return obs_matcher_init(m, "__name__", OBS_MATCH_EQ, name, why);
	}
	enum obs_match_op op;
	if (s[i] == '=' && i + 1 < n && s[i + 1] == '~') {
		op = OBS_MATCH_RE; i += 2;
	} else if (s[i] == '=') {
		op = OBS_MATCH_EQ; i += 1;
	} else if (s[i] == '!' && i + 1 < n && s[i + 1] == '=') {
		op = OBS_MATCH_NE; i += 2;
	} else if (s[i] == '!' && i + 1 < n && s[i + 1] == '~') {
		op = OBS_MATCH_NRE; i += 2;
	} else {
		*why = "expected one of = != =~ !~ after the label name";
		return -EINVAL;
	}
	if (!label_name_ok(name, ne - nb)) {
		*why = "invalid label name";
		return -EINVAL;
	}
	size_t j = i;
	while (j < n && is_space((unsigned char)s[j]))
		j++;
	char *value;
	if (j < n && (s[j] == '"' || s[j] == '\'')) {
		value = unquote(s, n, &j, why);
		if (!value)
			return *why[0] == 'o' ? -ENOMEM : -EINVAL;
		while (j < n && is_space((unsigned char)s[j]))
			j++;
		if (j != n) {
			free(value);
			*why = "unexpected text after the quoted value";
			return -EINVAL;
		}
	} else {
		value = strndup(s + i, n - i);
		if (!value) {
			*why = "out of memory";
			return -ENOMEM;
		}
	}
	int rc = obs_matcher_init(m, name, op, value, why);
	free(value);
	return rc;
}

static int re_match(const struct obs_matcher *m, const char *v)
{
	return obs_re_match_md(m->re, v, strlen(v), m->md);
}

int obs_matcher_match(const struct obs_matcher *m, const char *value)
{
	if (!value)
		value = "";
	switch (m->op) {
	case OBS_MATCH_EQ:  return strcmp(m->value, value) == 0;
	case OBS_MATCH_NE:  return strcmp(m->value, value) != 0;
	case OBS_MATCH_RE:  return re_match(m, value);
	case OBS_MATCH_NRE: return !re_match(m, value);
	}
	return 0;
}

int obs_matcher_matches_empty(const struct obs_matcher *m)
{
	return obs_matcher_match(m, "");
}
