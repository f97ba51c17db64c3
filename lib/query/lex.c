/* lex.c — the PromQL lexer: numbers (decimal, hex, Inf, NaN), durations
 * (compound "1h30m"), strings in three quotings, identifiers, operators.
 * Keywords come out as T_IDENT; the parser decides by context, except the
 * binary keyword operators (and, or, unless, atan2). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/q.h"

void q_position(const char *s, size_t pos, int *line, int *col)
{
	int l = 1, c = 1;
	for (size_t i = 0; i < pos && s[i]; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int is_ident_start(int c) { return isalpha(c) || c == '_' || c == ':'; }
static int is_ident_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

static int unit_ms(const char *s, size_t n, size_t *used, int64_t *ms)
{
	if (n >= 2 && s[0] == 'm' && s[1] == 's') { *used = 2; *ms = 1; return 0; }
	switch (s[0]) {
	case 's': *ms = 1000; break;
	case 'm': *ms = 60000; break;
	case 'h': *ms = 3600000; break;
	case 'd': *ms = 86400000; break;
	case 'w': *ms = 7LL * 86400000; break;
	case 'y': *ms = 365LL * 86400000; break;
	default: return -EINVAL;
	}
	*used = 1;
	return 0;
}

/* A duration is one or more INTEGER UNIT pairs, units in decreasing order. */
int q_parse_duration(const char *s, size_t n, int64_t *ms)
{
	size_t i = 0;
	int64_t total = 0, last = INT64_MAX;
	if (n == 0)
		return -EINVAL;
	while (i < n) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		int64_t v = 0;
		while (i < n && isdigit((unsigned char)s[i])) {
			if (v > (INT64_MAX - 9) / 10)
				return -EINVAL;
			v = v * 10 + (s[i++] - '0');
		}
		size_t used;
		int64_t u;
		if (i >= n || unit_ms(s + i, n - i, &used, &u) != 0)
			return -EINVAL;
		if (u >= last)
			return -EINVAL;
		last = u;
		i += used;
		if (v > INT64_MAX / u || total > INT64_MAX - v * u)
			return -EINVAL;
		total += v * u;
	}
	*ms = total;
	return 0;
}

int obs_query_parse_duration(const char *s, size_t n, int64_t *ms)
{
	return q_parse_duration(s, n, ms);
}

/* Length of a duration starting at s (digits then a unit, repeated), 0 if none. */
static size_t dur_len(const char *s, size_t n)
{
	size_t i = 0, end = 0;
	while (i < n && isdigit((unsigned char)s[i])) {
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		size_t used;
		int64_t u;
		if (i >= n || unit_ms(s + i, n - i, &used, &u) != 0)
			break;
		i += used;
		end = i;
	}
	/* a unit directly followed by an identifier char is no duration */
	if (end && end < n && (isalnum((unsigned char)s[end]) || s[end] == '_' || s[end] == '.'))
		return 0;
	return end;
}

static size_t number_len(const char *s, size_t n)
{
	size_t i = 0;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		i = 2;
		while (i < n && isxdigit((unsigned char)s[i]))
			i++;
		return i > 2 ? i : 0;
	}
	int digits = 0;
	while (i < n && isdigit((unsigned char)s[i])) { i++; digits++; }
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && isdigit((unsigned char)s[i])) { i++; digits++; }
	}
	if (!digits)
		return 0;
	return q_exponent_end(s, n, i);
}

size_t q_exponent_end(const char *s, size_t n, size_t i)
{
	if (i >= n || (s[i] != 'e' && s[i] != 'E'))
		return i;
	size_t j = i + 1;
	if (j < n && (s[j] == '+' || s[j] == '-'))
		j++;
	if (j >= n || !isdigit((unsigned char)s[j]))
		return i;
	while (j < n && isdigit((unsigned char)s[j]))
		j++;
	return j;
}

static struct q_token lex_err(struct q_lexer *lx, size_t pos, const char *fmt, const char *arg)
{
	struct q_token t = { .k = T_ERR, .pos = pos, .len = 0 };
	snprintf(lx->err, sizeof(lx->err), fmt, arg);
	return t;
}

struct q_token q_lex(struct q_lexer *lx)
{
	const char *s = lx->s;
	size_t n = lx->n;
	for (;;) {
		while (lx->p < n && isspace((unsigned char)s[lx->p]))
			lx->p++;
		if (lx->p < n && s[lx->p] == '#') {   /* comment to end of line */
			while (lx->p < n && s[lx->p] != '\n')
				lx->p++;
			continue;
		}
		break;
	}
	struct q_token t = { .k = T_EOF, .pos = lx->p, .len = 0 };
	if (lx->p >= n)
		return t;
	size_t p = lx->p;
	unsigned char c = (unsigned char)s[p];
	const char *r = s + p;
	size_t rest = n - p;
#define ONE(K) do { t.k = (K); t.len = 1; lx->p++; return t; } while (0)
#define TWO(K) do { t.k = (K); t.len = 2; lx->p += 2; return t; } while (0)
	switch (c) {
	case '{': ONE(T_LBRACE);
	case '}': ONE(T_RBRACE);
	case '(': ONE(T_LPAREN);
	case ')': ONE(T_RPAREN);
	case '[': lx->brackets++; ONE(T_LBRACK);
	case ']': if (lx->brackets > 0) lx->brackets--; ONE(T_RBRACK);
	case ',': ONE(T_COMMA);
	case ':':
		if (lx->brackets > 0)
			ONE(T_COLON);
		break;   /* a metric name such as ":a" or "a:b" */
	case '@': ONE(T_AT);
	case '+': ONE(T_ADD);
	case '-': ONE(T_SUB);
	case '*': ONE(T_MUL);
	case '/': ONE(T_DIV);
	case '%': ONE(T_MOD);
	case '^': ONE(T_POW);
	case '=':
		if (rest > 1 && r[1] == '=') TWO(T_EQLC);
		if (rest > 1 && r[1] == '~') TWO(T_EQL_RE);
		ONE(T_EQL);
	case '!':
		if (rest > 1 && r[1] == '=') TWO(T_NEQ);
		if (rest > 1 && r[1] == '~') TWO(T_NEQ_RE);
		return lex_err(lx, p, "unexpected character after '!'%s", "");
	case '<':
		if (rest > 1 && r[1] == '=') TWO(T_LTE);
		ONE(T_LSS);
	case '>':
		if (rest > 1 && r[1] == '=') TWO(T_GTE);
		ONE(T_GTR);
	case '"': case '\'': case '`': {
		size_t i = 1;
		while (i < rest && (unsigned char)r[i] != c) {
			if (r[i] == '\\' && c != '`')
				i++;
			else if (r[i] == '\n' && c != '`')
				return lex_err(lx, p, "unterminated quoted string %s", "");
			i++;
		}
		if (i >= rest)
			return lex_err(lx, p, "unterminated quoted string %s", "");
		t.k = T_STR;
		t.len = i + 1;
		lx->p += t.len;
		return t;
	}
	default:
		break;
	}
#undef ONE
#undef TWO
	if (isdigit(c) || (c == '.' && rest > 1 && isdigit((unsigned char)r[1]))) {
		size_t dl = dur_len(r, rest);
		size_t nl = number_len(r, rest);
		if (dl && dl >= nl) {
			if (q_parse_duration(r, dl, &t.dur) != 0)
				return lex_err(lx, p, "bad duration syntax: %.40s", r);
			t.k = T_DUR;
			t.len = dl;
			lx->p += dl;
			return t;
		}
		if (!nl || (nl < rest && (isalnum((unsigned char)r[nl]) || r[nl] == '_' || r[nl] == '.'))) {
			size_t e = nl;
			while (e < rest && (is_ident_char((unsigned char)r[e]) || r[e] == '.'))
				e++;
			char tmp[64];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(e < 60 ? e : 60), r);
			return lex_err(lx, p, "bad number or duration syntax: \"%s\"", tmp);
		}
		char tmp[128];
		if (nl >= sizeof(tmp))
			return lex_err(lx, p, "number too long %s", "");
		memcpy(tmp, r, nl);
		tmp[nl] = 0;
		if (nl > 2 && (tmp[1] == 'x' || tmp[1] == 'X'))
			t.num = (double)strtoull(tmp, NULL, 16);
		else
			t.num = strtod(tmp, NULL);
		t.k = T_NUM;
		t.len = nl;
		lx->p += nl;
		return t;
	}
	if (is_ident_start(c)) {
		size_t i = 1;
		while (i < rest && is_ident_char((unsigned char)r[i]))
			i++;
		t.len = i;
		lx->p += i;
		t.k = T_IDENT;
		if ((i == 3 && strncasecmp(r, "inf", 3) == 0)) {
			t.k = T_NUM;
			t.num = INFINITY;
		} else if (i == 3 && strncasecmp(r, "nan", 3) == 0) {
			t.k = T_NUM;
			t.num = NAN;
		} else if (i == 3 && strncasecmp(r, "and", 3) == 0) {
			t.k = T_LAND;
		} else if (i == 2 && strncasecmp(r, "or", 2) == 0) {
			t.k = T_LOR;
		} else if (i == 6 && strncasecmp(r, "unless", 6) == 0) {
			t.k = T_LUNLESS;
		} else if (i == 5 && strncasecmp(r, "atan2", 5) == 0) {
			t.k = T_ATAN2;
		}
		return t;
	}
	char tmp[8];
	snprintf(tmp, sizeof(tmp), "%c", isprint(c) ? c : '?');
	return lex_err(lx, p, "unexpected character: '%s'", tmp);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int put_utf8(struct obs_buf *out, uint32_t cp)
{
	char b[4];
	int n;
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -EINVAL;
	if (cp < 0x80) { b[0] = (char)cp; n = 1; }
	else if (cp < 0x800) { b[0] = (char)(0xc0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
	else if (cp < 0x10000) { b[0] = (char)(0xe0 | (cp >> 12)); b[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); b[2] = (char)(0x80 | (cp & 0x3f)); n = 3; }
	else { b[0] = (char)(0xf0 | (cp >> 18)); b[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); b[3] = (char)(0x80 | (cp & 0x3f)); n = 4; }
	return obs_buf_append(out, b, (size_t)n);
}

/* Go string literal rules: "..." and '...' take escapes, `...` is raw. */
int q_unquote(const char *s, size_t n, struct obs_buf *out, const char **why)
{
	obs_buf_reset(out);
	if (obs_buf_reserve(out, n) != 0)
		return -ENOMEM;
	out->data[0] = 0;
	if (n < 2 || s[0] != s[n - 1]) {
		*why = "bad quoting";
		return -EINVAL;
	}
	char q = s[0];
	s++;
	n -= 2;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c != '\\' || q == '`') {
			if (c == 0) { *why = "NUL in string"; return -EINVAL; }
			obs_buf_putc(out, (char)c);
			continue;
		}
		if (++i >= n) { *why = "bad escape at end of string"; return -EINVAL; }
		c = (unsigned char)s[i];
		int rc = 0;
		switch (c) {
		case 'a': rc = obs_buf_putc(out, '\a'); break;
		case 'b': rc = obs_buf_putc(out, '\b'); break;
		case 'f': rc = obs_buf_putc(out, '\f'); break;
		case 'n': rc = obs_buf_putc(out, '\n'); break;
		case 'r': rc = obs_buf_putc(out, '\r'); break;
		case 't': rc = obs_buf_putc(out, '\t'); break;
		case 'v': rc = obs_buf_putc(out, '\v'); break;
		case '\\': rc = obs_buf_putc(out, '\\'); break;
		case '\'': case '"':
			if (c != (unsigned char)q) { *why = "unknown escape sequence"; return -EINVAL; }
			rc = obs_buf_putc(out, (char)c);
			break;
		case 'x': {
			int h1 = i + 1 < n ? hexval(s[i + 1]) : -1, h2 = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (h1 < 0 || h2 < 0) { *why = "bad \\x escape"; return -EINVAL; }
			int v = h1 * 16 + h2;
			if (!v) { *why = "NUL in string"; return -EINVAL; }
			rc = obs_buf_putc(out, (char)v);
			i += 2;
			break;
		}
		case 'u': case 'U': {
			size_t k = c == 'u' ? 4 : 8;
			uint32_t cp = 0;
			if (i + k >= n + 1) { *why = "bad unicode escape"; return -EINVAL; }
			for (size_t j = 1; j <= k; j++) {
				int h = hexval(s[i + j]);
				if (h < 0) { *why = "bad unicode escape"; return -EINVAL; }
				cp = cp * 16 + (uint32_t)h;
			}
			if (!cp || put_utf8(out, cp) != 0) { *why = "bad unicode escape"; return -EINVAL; }
			i += k;
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				if (i + 2 >= n || s[i + 1] < '0' || s[i + 1] > '7' || s[i + 2] < '0' || s[i + 2] > '7') {
					*why = "bad octal escape";
					return -EINVAL;
				}
				int v = (c - '0') * 64 + (s[i + 1] - '0') * 8 + (s[i + 2] - '0');
				if (v > 255 || !v) { *why = "bad octal escape"; return -EINVAL; }
				rc = obs_buf_putc(out, (char)v);
				i += 2;
				break;
			}
			*why = "unknown escape sequence";
			return -EINVAL;
		}
		if (rc)
			return rc;
	}
	return 0;
}
