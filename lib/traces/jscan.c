/* jscan.c — strict zero-tree JSON scanner (libobs traces); see jscan.h.
 *
 * The validator is iterative (an explicit bit stack of open containers, so
 * 2048 levels cost 256 bytes, not 2048 C frames) and follows jansson's
 * lexer and parser error by error: what jansson reports as "premature end
 * of input" (the input ended at a token boundary or inside a string) is
 * JS_PREMATURE, everything else it refuses is JS_INVALID. */
#include "traces/jscan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')
#define DIGIT(c) ((c) >= '0' && (c) <= '9')
#define ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))

typedef const unsigned char *up;

struct vs {
	up b, e;
	char *why;
	size_t wn;
};

static int bad(struct vs *v, up at, int verdict, const char *what)
{
	if (v->wn)
		snprintf(v->why, v->wn, "%s at byte %zu", what, (size_t)(at - v->b));
	return verdict;
}

static int xdigit(int c) { return DIGIT(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static unsigned hex4(up p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int c = p[i];
		v = v << 4 | (unsigned)(DIGIT(c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* One UTF-8 sequence at s (s[0] >= 0x80): its length, or 0 when invalid
 * (a sequence cut by the end of input is invalid, as in jansson). */
static size_t utf8_len(up s, up e)
{
	unsigned c = s[0], n, v;
	if (c < 0xC2 || c > 0xF4)
		return 0;
	n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	if ((size_t)(e - s) < n)
		return 0;
	v = c & (0x3F >> (n - 1));
	for (unsigned i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
		return 0;
	return n;
}

/* The string at *sp ('"'); *sp is left after the closing quote. */
/* Might one of the 8 bytes at p end a plain run of string bytes (a control
 * byte, a non-ASCII byte, '"' or '\\')? Never a false no; a false yes only
 * after a true one (borrows), which the byte loop then sorts out. */
static int swar_special(up p)
{
	uint64_t x, ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	memcpy(&x, p, 8);
	uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
	return ((x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high) != 0;
}

static int v_string(struct vs *v, up *sp)
{
	up s = *sp + 1, e = v->e, start = s;
	int has_u = 0;
	for (;;) {
		while (e - s >= 8 && !swar_special(s))   /* 8 plain bytes at a time */
			s += 8;
		while (s < e && *s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
			s++;
		if (s == e)
			return bad(v, s, JS_PREMATURE, "premature end of input in a string");
		unsigned c = *s;
		if (c == '"')
			break;
		if (c < 0x20)
			return bad(v, s, JS_INVALID, "control character in a string");
		if (c == '\\') {
			if (s + 1 == e)
				return bad(v, s, JS_INVALID, "invalid escape");
			c = s[1];
			if (c == 'u') {
				for (int i = 2; i < 6; i++)
					if (s + i >= e || !xdigit(s[i]))
						return bad(v, s, JS_INVALID, "invalid escape");
				has_u = 1;
				s += 6;
			} else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
				s += 2;
			} else
				return bad(v, s, JS_INVALID, "invalid escape");
			continue;
		}
		size_t k = utf8_len(s, e);
		if (!k)
			return bad(v, s, JS_INVALID, "invalid utf-8");
		s += k;
	}
	*sp = s + 1;
	/* jansson's second pass: surrogate pairs, no NUL */
	for (up q = start; has_u && q < s; q++) {
		if (*q != '\\')
			continue;
		if (q[1] != 'u') {
			q++;
			continue;
		}
		unsigned u = hex4(q + 2);
		q += 5;
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (q + 1 < s && q[1] == '\\' && q[2] == 'u') {
				unsigned u2 = hex4(q + 3);
				if (u2 < 0xDC00 || u2 > 0xDFFF)
					return bad(v, q, JS_INVALID, "invalid unicode surrogate pair");
				q += 6;
			} else
				return bad(v, q, JS_INVALID, "unpaired unicode surrogate");
		} else if (u >= 0xDC00 && u <= 0xDFFF)
			return bad(v, q, JS_INVALID, "unpaired unicode surrogate");
		else if (u == 0)
			return bad(v, q, JS_INVALID, "\\u0000 is not allowed");
	}
	return JS_OK;
}

/* A number at *sp: jansson's lexer (no leading zeros, digits after '.' and
 * 'e'), integers must fit int64, reals must not overflow. */
static int v_number(struct vs *v, up *sp)
{
	up s = *sp, e = v->e, t = s;
	if (*s == '-')
		s++;
	if (s < e && *s == '0') {
		s++;
		if (s < e && DIGIT(*s))
			return bad(v, t, JS_INVALID, "invalid number");
	} else if (s < e && DIGIT(*s)) {
		while (s < e && DIGIT(*s))
			s++;
	} else
		return bad(v, t, JS_INVALID, "invalid number");
	size_t idig = (size_t)(s - t) - (*t == '-');
	int real = 0, expo = 0;
	if (s < e && *s == '.') {
		s++;
		if (s == e || !DIGIT(*s))
			return bad(v, t, JS_INVALID, "invalid number");
		while (s < e && DIGIT(*s))
			s++;
		real = 1;
	}
	if (s < e && (*s == 'e' || *s == 'E')) {
		s++;
		if (s < e && (*s == '+' || *s == '-'))
			s++;
		if (s == e || !DIGIT(*s))
			return bad(v, t, JS_INVALID, "invalid number");
		while (s < e && DIGIT(*s))
			s++;
		real = expo = 1;
	}
	*sp = s;
	size_t len = (size_t)(s - t);
	if ((!real && idig < 19) || (real && !expo && idig < 300))
		return JS_OK;
	char small[64], *copy = len < sizeof small ? small : malloc(len + 1);
	if (!copy)
		return bad(v, t, JS_INVALID, "number too long");
	memcpy(copy, t, len);
	copy[len] = 0;
	int over;
	errno = 0;
	if (!real) {
		(void)strtoll(copy, NULL, 10);
		over = errno == ERANGE;
	} else {
		double x = strtod(copy, NULL);
		over = (x == HUGE_VAL || x == -HUGE_VAL) && errno == ERANGE;
	}
	if (copy != small)
		free(copy);
	return over ? bad(v, t, JS_INVALID, real ? "real number overflow" : "too big integer") : JS_OK;
}

static int ix_open(struct js_index *ix, size_t off)
{
	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? 2 * ix->cap : 1024;
		uint32_t *o = realloc(ix->open, cap * sizeof *o);
		if (o)
			ix->open = o;
		uint32_t *c = o ? realloc(ix->close, cap * sizeof *c) : NULL;
		if (!c)
			return -ENOMEM;
		ix->close = c;
		ix->cap = cap;
	}
	ix->open[ix->n] = (uint32_t)off;
	ix->n++;
	return 0;
}

void js_index_release(struct js_index *ix)
{
	free(ix->open);
	free(ix->close);
	memset(ix, 0, sizeof *ix);
}

int js_validate(const char *p, size_t n, int eof_check, size_t *end, char *why, size_t wn, struct js_index *ix)
{
	struct vs v = { (up)p, (up)p + n, why, wn };
	up s = v.b, e = v.e;
	uint8_t stk[JS_MAX_DEPTH / 8 + 1];   /* bit set: that level is an object */
	uint32_t slot[JS_MAX_DEPTH + 1];      /* index entry of each open container */
	int depth = 0, rc;
	if (wn)
		why[0] = 0;
	if (ix) {
		ix->base = p;
		ix->n = ix->hint = 0;
		if (n > UINT32_MAX)
			ix = NULL;
	}
	while (s < e && WS(*s))
		s++;
	if (s == e)
		return bad(&v, s, JS_PREMATURE, "'[' or '{' expected near end of file");
	if (*s == '"')   /* a string token is lexed (and may fail) before the type check */
		return (rc = v_string(&v, &s)) ? rc : bad(&v, s, JS_INVALID, "'[' or '{' expected");
	if (*s != '{' && *s != '[')
		return bad(&v, s, JS_INVALID, "'[' or '{' expected");
	goto open;
value:   /* a value at depth + 1 */
	while (s < e && WS(*s))
		s++;
	if (s < e && *s == '"') {
		/* the lexer fails before the parser counts depth */
		if ((rc = v_string(&v, &s)))
			return rc;
		if (depth + 1 > JS_MAX_DEPTH)
			return bad(&v, s, JS_INVALID, "maximum parsing depth reached");
		goto after;
	}
	if (depth + 1 > JS_MAX_DEPTH)
		return bad(&v, s, JS_INVALID, "maximum parsing depth reached");
	if (s == e)
		return bad(&v, s, JS_PREMATURE, "unexpected end of input");
	switch (*s) {
	case '{':
	case '[':
		goto open;
	case '-':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		if ((rc = v_number(&v, &s)))
			return rc;
		goto after;
	default:
		if (ALPHA(*s)) {
			up t = s;
			while (s < e && ALPHA(*s))
				s++;
			size_t l = (size_t)(s - t);
			if ((l == 4 && !memcmp(t, "true", 4)) || (l == 5 && !memcmp(t, "false", 5)) ||
			    (l == 4 && !memcmp(t, "null", 4)))
				goto after;
			return bad(&v, t, JS_INVALID, "invalid token");
		}
		return bad(&v, s, JS_INVALID, "unexpected token");
	}
open:
	if (*s == '{')
		stk[depth / 8] |= (uint8_t)(1u << (depth % 8));
	else
		stk[depth / 8] &= (uint8_t)~(1u << (depth % 8));
	if (ix) {
		slot[depth] = (uint32_t)ix->n;
		if (ix_open(ix, (size_t)(s - v.b))) {
			ix->n = 0;   /* out of memory: no index, the navigation scans */
			ix = NULL;
		}
	}
	depth++;
	s++;
	while (s < e && WS(*s))
		s++;
	if (s == e)
		return bad(&v, s, JS_PREMATURE, "unexpected end of input");
	if (stk[(depth - 1) / 8] & (1u << ((depth - 1) % 8))) {
		if (*s == '}')
			goto close;
		goto key;
	}
	if (*s == ']')
		goto close;
	goto value;
key:
	if (*s != '"')
		return bad(&v, s, JS_INVALID, "string or '}' expected");
	if ((rc = v_string(&v, &s)))
		return rc;
	while (s < e && WS(*s))
		s++;
	if (s == e)
		return bad(&v, s, JS_PREMATURE, "':' expected near end of file");
	if (*s != ':')
		return bad(&v, s, JS_INVALID, "':' expected");
	s++;
	goto value;
after:   /* a value ended; s is past it */
	if (!depth)
		goto done;
	while (s < e && WS(*s))
		s++;
	if (s == e)
		return bad(&v, s, JS_PREMATURE, "unexpected end of input");
	{
		int obj = !!(stk[(depth - 1) / 8] & (1u << ((depth - 1) % 8)));
		if (*s == ',') {
			s++;
			if (!obj)
				goto value;
			while (s < e && WS(*s))
				s++;
			if (s == e)
				return bad(&v, s, JS_PREMATURE, "string expected near end of file");
			goto key;
		}
		if (*s == (obj ? '}' : ']'))
			goto close;
		return bad(&v, s, JS_INVALID, obj ? "'}' expected" : "']' expected");
	}
close:
	depth--;
	if (ix)
		ix->close[slot[depth]] = (uint32_t)(s - v.b);
	s++;
	goto after;
done:
	*end = (size_t)(s - v.b);
	if (eof_check) {
		while (s < e && WS(*s))
			s++;
		if (s != e)
			return bad(&v, s, JS_INVALID, "end of file expected");
	}
	return JS_OK;
}

/* ---- arena ------------------------------------------------------------------ */

struct js_blk { struct js_blk *next; size_t cap; char data[]; };

char *js_arena_alloc(struct js_arena *a, size_t n)
{
	if (n > a->left) {
		size_t cap = n > 16384 ? n : 16384;
		struct js_blk *b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->next = a->head;
		b->cap = cap;
		a->head = b;
		a->p = b->data;
		a->left = cap;
	}
	char *r = a->p;
	a->p += n;
	a->left -= n;
	return r;
}

void js_arena_reset(struct js_arena *a)
{
	if (!a->head)
		return;
	while (a->head->next) {
		struct js_blk *b = a->head->next;
		a->head->next = b->next;
		free(b);
	}
	a->p = a->head->data;
	a->left = a->head->cap;
}

void js_arena_release(struct js_arena *a)
{
	while (a->head) {
		struct js_blk *b = a->head;
		a->head = b->next;
		free(b);
	}
	a->p = NULL;
	a->left = 0;
}

/* ---- navigation ------------------------------------------------------------- */

const char *js_ws(const char *p)
{
	while (WS(*p))
		p++;
	return p;
}

enum js_type js_type(const char *p)
{
	if (!p)
		return JT_NONE;
	switch (*p) {
	case '{': return JT_OBJ;
	case '[': return JT_ARR;
	case '"': return JT_STR;
	case 't': return JT_TRUE;
	case 'f': return JT_FALSE;
	case 'n': return JT_NULL;
	default:
		for (p += *p == '-'; DIGIT(*p); p++)
			;
		return *p == '.' || *p == 'e' || *p == 'E' ? JT_REAL : JT_INT;
	}
}

/* past the closing quote of the string at p; *esc set when it has a backslash */
static const char *str_end(const char *p, int *esc)
{
	const char *q = p + 1;
	/* most strings hold no backslash: find the quote with the vector search
	 * (validated text: there is one), then make sure none came before it */
	const char *quote = rawmemchr(q, '"');
	if (!memchr(q, '\\', (size_t)(quote - q)))
		return quote + 1;
	for (;;) {
		const char *x = q;
		while (*x != '"' && *x != '\\')
			x++;
		if (*x == '"')
			return x + 1;
		*esc = 1;
		q = x + 2;
	}
}

/* the end of the container at p from the index, or NULL */
static const char *ix_find(struct js_index *ix, const char *p)
{
	if (!ix || !ix->n || p < ix->base || (size_t)(p - ix->base) > UINT32_MAX)
		return NULL;
	uint32_t off = (uint32_t)(p - ix->base);
	size_t h = ix->hint;
	if (h < ix->n && ix->open[h] == off) {
		ix->hint = h + 1;
		return ix->base + ix->close[h] + 1;
	}
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->open[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ix->n || ix->open[lo] != off)
		return NULL;
	ix->hint = lo + 1;
	return ix->base + ix->close[lo] + 1;
}

const char *js_skip(struct js_index *ix, const char *p)
{
	int esc = 0, d = 0;
	const char *q;
	switch (*p) {
	case '"': return str_end(p, &esc);
	case 't': case 'n': return p + 4;
	case 'f': return p + 5;
	case '{': case '[':
		if ((q = ix_find(ix, p)))
			return q;
		do {
			char c = *p;
			if (c == '"')
				p = str_end(p, &esc);
			else {
				d += (c == '{' || c == '[') - (c == '}' || c == ']');
				p++;
			}
		} while (d);
		return p;
	default:
		while (DIGIT(*p) || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')
			p++;
		return p;
	}
}

static size_t utf8_put(char *o, unsigned u)
{
	if (u < 0x80) {
		o[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		o[0] = (char)(0xC0 | u >> 6);
		o[1] = (char)(0x80 | (u & 0x3F));
		return 2;
	}
	if (u < 0x10000) {
		o[0] = (char)(0xE0 | u >> 12);
		o[1] = (char)(0x80 | ((u >> 6) & 0x3F));
		o[2] = (char)(0x80 | (u & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | u >> 18);
	o[1] = (char)(0x80 | ((u >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((u >> 6) & 0x3F));
	o[3] = (char)(0x80 | (u & 0x3F));
	return 4;
}

/* decode the body p[0..n) (escapes valid) into o; the decoded length */
static size_t unescape(const char *p, size_t n, char *o)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\\') {
			o[k++] = p[i];
			continue;
		}
		char c = p[++i];
		switch (c) {
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 't': o[k++] = '\t'; break;
		case 'u': {
			unsigned u = hex4((up)p + i + 1);
			i += 4;
			if (u >= 0xD800 && u <= 0xDBFF) {
				unsigned u2 = hex4((up)p + i + 3);
				u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
				i += 6;
			}
			k += utf8_put(o + k, u);
			break;
		}
		default: o[k++] = c; break;
		}
	}
	return k;
}

int js_str(struct js_arena *a, const char *p, int nul, struct obs_str *out)
{
	int esc = 0;
	const char *e = str_end(p, &esc);
	size_t n = (size_t)(e - p) - 2;
	if (!esc && !nul) {
		*out = (struct obs_str){ p + 1, n };
		return 0;
	}
	char *o = js_arena_alloc(a, n + 1);
	if (!o)
		return -ENOMEM;
	size_t k = esc ? unescape(p + 1, n, o) : (memcpy(o, p + 1, n), n);
	o[k] = 0;
	*out = (struct obs_str){ o, k };
	return 0;
}

/* name (NUL-terminated) is s[0..n)? (reads name no further than it matches) */
static int name_is(const char *name, const char *s, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (name[j] != s[j] || !name[j])
			return 0;
	return !name[n];
}

/* a key at p compared against names: its index or -1; *next after the key */
static int key_index(const char *p, const char *const *names, int k, const char **next)
{
	int esc = 0;
	const char *e = str_end(p, &esc);
	*next = e;
	const char *s = p + 1;
	size_t n = (size_t)(e - p) - 2;
	char tmp[64];
	if (esc) {
		if (n >= 4 * sizeof tmp)
			return -1;
		char big[4 * sizeof tmp];
		n = unescape(s, n, big);
		if (n >= sizeof tmp)
			return -1;
		memcpy(tmp, big, n);
		s = tmp;
	}
	for (int i = 0; i < k; i++)
		if (name_is(names[i], s, n))
			return i;
	return -1;
}

void js_object(struct js_index *ix, const char *p, const char *const *names, int k, const char **slots)
{
	for (int i = 0; i < k; i++)
		slots[i] = NULL;
	p = js_ws(p + 1);
	if (*p == '}')
		return;
	for (;;) {
		const char *q;
		int i = key_index(p, names, k, &q);
		q = js_ws(js_ws(q) + 1);
		if (i >= 0)
			slots[i] = q;
		p = js_ws(js_skip(ix, q));
		if (*p == '}')
			return;
		p = js_ws(p + 1);
	}
}

int js_member_next(struct js_index *ix, struct js_arena *a, const char *obj, const char **it, struct obs_str *key, const char **val)
{
	const char *p = *it ? *it : obj;
	if (*p == '}')
		return 0;
	p = js_ws(p + 1);   /* past '{' or ',' */
	if (*p == '}')
		return 0;
	int rc = js_str(a, p, 0, key);
	if (rc)
		return rc;
	p = js_ws(js_ws(js_skip(ix, p)) + 1);
	*val = p;
	*it = js_ws(js_skip(ix, p));
	return 1;
}

int js_elem_next(struct js_index *ix, const char *arr, const char **it, const char **val)
{
	const char *p = *it ? *it : arr;
	if (*p == ']')
		return 0;
	p = js_ws(p + 1);   /* past '[' or ',' */
	if (*p == ']')
		return 0;
	*val = p;
	*it = js_ws(js_skip(ix, p));
	return 1;
}

int64_t js_int(const char *p)
{
	int neg = *p == '-';
	uint64_t u = 0;
	for (p += neg; DIGIT(*p); p++)
		u = u * 10 + (uint64_t)(*p - '0');
	return neg ? (int64_t)(0 - u) : (int64_t)u;
}

double js_num(const char *p)
{
	if (js_type(p) == JT_INT)
		return (double)js_int(p);
	const char *e = js_skip(NULL, p);
	size_t n = (size_t)(e - p);
	char small[64], *c = n < sizeof small ? small : malloc(n + 1);
	if (!c)
		return NAN;   /* cannot really happen: long reals are rare */
	memcpy(c, p, n);
	c[n] = 0;
	double x = strtod(c, NULL);
	if (c != small)
		free(c);
	return x;
}
