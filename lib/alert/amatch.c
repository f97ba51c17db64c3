/* amatch.c — Alertmanager matcher lists over lib/index matchers.
 *
 * Splitting respects quotes: a comma inside "..." belongs to the value. */
#include "alert/amatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void am_matchers_init(struct am_matchers *m)
{
	m->v = NULL;
	m->n = 0;
}

void am_matchers_release(struct am_matchers *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		obs_matcher_release(&m->v[i]);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static int grow(struct am_matchers *m, const char **why)
{
	if (m->n >= AM_MAX_MATCHERS) {
		*why = "too many matchers";
		return -EINVAL;
	}
	struct obs_matcher *v = realloc(m->v, (m->n + 1) * sizeof(*v));
	if (!v) {
		*why = "out of memory";
		return -ENOMEM;
	}
	m->v = v;
	return 0;
}

int am_matchers_add(struct am_matchers *m, const char *s, size_t n, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	int rc = grow(m, why);
	if (rc)
		return rc;
	if ((rc = obs_matcher_parse(s, n, &m->v[m->n], why)))
		return rc;
	m->n++;
	return 0;
}

int am_matchers_add_parts(struct am_matchers *m, const char *name, enum obs_match_op op,
			  const char *value, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	int rc = grow(m, why);
	if (rc)
		return rc;
	if ((rc = obs_matcher_init(&m->v[m->n], name, op, value, why)))
		return rc;
	m->n++;
	return 0;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Has the piece an operator outside quotes? */
static int has_op(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\'')
			return 1;   /* a quote before any operator: let the parser decide */
		if (s[i] == '=' || s[i] == '!')
			return 1;
	}
	return 0;
}

int am_matchers_parse(const char *s, size_t n, int bare_alertname,
		      struct am_matchers *m, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	am_matchers_init(m);
	while (n && is_ws(*s))
		s++, n--;
	while (n && is_ws(s[n - 1]))
		n--;
	if (n && s[0] == '{') {
		if (s[n - 1] != '}') {
			*why = "missing closing '}'";
			return -EINVAL;
		}
		s++;
		n -= 2;
	}
	size_t i = 0;
	int first = 1;
	while (i < n) {
		size_t st = i;
		char q = 0;
		for (; i < n; i++) {
			char c = s[i];
			if (q) {
				if (c == '\\' && i + 1 < n)
					i++;
				else if (c == q)
					q = 0;
			} else if (c == '"' || c == '\'') {
				q = c;
			} else if (c == ',') {
				break;
			}
		}
		if (q) {
			*why = "unterminated quoted value";
			goto bad;
		}
		size_t a = st, b = i;
		while (a < b && is_ws(s[a]))
			a++;
		while (b > a && is_ws(s[b - 1]))
			b--;
		if (i < n)
			i++;   /* the comma */
		if (a == b) {
			if (i >= n && st != 0)
				break;   /* a trailing comma */
			*why = "empty matcher";
			goto bad;
		}
		int rc;
		if (!has_op(s + a, b - a)) {
			if (!first || !bare_alertname) {
				*why = "matcher without an operator";
				goto bad;
			}
			char *v = strndup(s + a, b - a);
			if (!v) {
				*why = "out of memory";
				am_matchers_release(m);
				return -ENOMEM;
			}
			rc = am_matchers_add_parts(m, "alertname", OBS_MATCH_EQ, v, why);
			free(v);
		} else {
			rc = am_matchers_add(m, s + a, b - a, why);
		}
		if (rc) {
			am_matchers_release(m);
			return rc;
		}
		first = 0;
	}
	return 0;
bad:
	am_matchers_release(m);
	return -EINVAL;
}

int am_matchers_match(const struct am_matchers *m, const struct obs_labels *l)
{
	for (size_t i = 0; i < m->n; i++) {
		const char *v = obs_labels_get(l, m->v[i].name);
		if (!obs_matcher_match(&m->v[i], v ? v : ""))
			return 0;
	}
	return 1;
}

static const char *op_text(enum obs_match_op op)
{
	switch (op) {
	case OBS_MATCH_EQ: return "=";
	case OBS_MATCH_NE: return "!=";
	case OBS_MATCH_RE: return "=~";
	default: return "!~";
	}
}

int am_matchers_format(const struct am_matchers *m, struct obs_buf *out)
{
	if (obs_buf_putc(out, '{'))
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		if ((i && obs_buf_putc(out, ',')) ||
		    obs_buf_printf(out, "%s%s\"", m->v[i].name, op_text(m->v[i].op)))
			return -ENOMEM;
		for (const char *p = m->v[i].value; *p; p++) {
			int rc = *p == '"' ? obs_buf_puts(out, "\\\"") :
				 *p == '\n' ? obs_buf_puts(out, "\\n") :
				 *p == '\\' ? obs_buf_puts(out, "\\\\") :
				 obs_buf_putc(out, *p);
			if (rc)
				return -ENOMEM;
		}
		if (obs_buf_putc(out, '"'))
			return -ENOMEM;
	}
	return obs_buf_putc(out, '}') ? -ENOMEM : 0;
}
