/* logquery.c — parser and per-line evaluator of the log search language
 * (grammar in logquery.h). Recursive descent over a token cursor; the tree is
 * immutable after parsing, so one query may be evaluated from many threads. */
#include "logs/logquery.h"

#include "core/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "logs/logline.h"

#define LQ_MAX_DEPTH 64

struct parser {
	const char *s;
	size_t n, i;
	int depth;
	char *err;
	size_t errlen;
	int failed;
};

static void perr(struct parser *p, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = 1;
	if (p->err && p->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
}

static void node_free(struct obs_lq_node *nd)
{
	if (!nd)
		return;
	node_free(nd->a);
	node_free(nd->b);
	free(nd->field);
	free(nd->value);
	if (nd->re)
		pcre2_code_free(nd->re);
	free(nd);
}

void obs_logquery_free(struct obs_logquery *q)
{
	if (!q)
		return;
	node_free(q->root);
	free(q->by);
	free(q);
}

static struct obs_lq_node *node_new(struct parser *p, enum obs_lq_kind k)
{
	struct obs_lq_node *nd = calloc(1, sizeof(*nd));
	if (!nd)
		perr(p, "out of memory");
	else
		nd->kind = k;
	return nd;
}

/* copy n bytes (which may hold NULs) and terminate */
static char *memdup0(const char *p, size_t n)
{
	char *o = malloc(n + 1);
	if (o) {
		memcpy(o, p, n);
		o[n] = 0;
	}
	return o;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip(struct parser *p)
{
	while (p->i < p->n && is_ws(p->s[p->i]))
		p->i++;
}

static int parse_number(const char *v, size_t n, double *out)
{
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, v, n);
	buf[n] = 0;
	char *end;
	double d = strtod(buf, &end);
	if (end != buf + n || buf[0] == ' ')
		return 0;
	*out = d;
	return 1;
}

/* a quoted string at p->i (which is on the quote); escapes \" \\ \n \t */
static char *quoted(struct parser *p, size_t *len)
{
	char q = p->s[p->i++];
	char *out = malloc(p->n - p->i + 1);
	size_t k = 0;
	if (!out) {
		perr(p, "out of memory");
		return NULL;
	}
	while (p->i < p->n && p->s[p->i] != q) {
		char c = p->s[p->i++];
		if (c == '\\' && p->i < p->n) {
			c = p->s[p->i++];
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c != q && c != '\\')
				out[k++] = '\\';
		}
		out[k++] = c;
	}
	if (p->i >= p->n) {
		free(out);
		perr(p, "unterminated string");
		return NULL;
	}
	p->i++;
	out[k] = 0;
	*len = k;
	return out;
}

static int word_end_char(char c)
{
	return is_ws(c) || c == ')' || c == '&' || c == '|' || c == '#';
}

static char *bare(struct parser *p, size_t *len)
{
	size_t s = p->i;
	while (p->i < p->n && !word_end_char(p->s[p->i]))
		p->i++;
	*len = p->i - s;
	char *out = memdup0(p->s + s, *len);
	if (!out)
		perr(p, "out of memory");
	return out;
}

static void *compile_re(struct parser *p, const char *src, size_t n, uint32_t flags)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, n, flags, &ec, &eo, NULL);
	if (!re) {
		PCRE2_UCHAR msg[120];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		perr(p, "invalid regex '%.*s': %s", (int)(n > 60 ? 60 : n), src, (char *)msg);
		return NULL;
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

static int is_field_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '@';
}

static int is_field_char(char c)
{
	return is_field_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static struct obs_lq_node *parse_or(struct parser *p);

static struct obs_lq_node *term(struct parser *p)
{
	const char *s = p->s;
	size_t n = p->n;
	struct obs_lq_node *nd;
	char c = s[p->i];
	if (c == '"' || c == '\'') {
		if (!(nd = node_new(p, OBS_LQ_SUBSTR)))
			return NULL;
		nd->value = quoted(p, &nd->vlen);
		return nd->value ? nd : (node_free(nd), NULL);
	}
	if (c == '/' || (c == '~' && p->i + 1 < n && (s[p->i + 1] == '"' || s[p->i + 1] == '\''))) {
		if (!(nd = node_new(p, OBS_LQ_REGEX)))
			return NULL;
		uint32_t flags = 0;
		if (c == '/') {
			size_t st = ++p->i;
			while (p->i < n && s[p->i] != '/')
				p->i += s[p->i] == '\\' ? 2 : 1;
			if (p->i >= n) {
				perr(p, "unterminated regex");
				node_free(nd);
				return NULL;
			}
			nd->vlen = p->i - st;
			nd->value = memdup0(s + st, nd->vlen);
			p->i++;
			while (p->i < n && s[p->i] == 'i') {
				flags |= PCRE2_CASELESS;
				p->i++;
			}
		} else {
			p->i++;
			nd->value = quoted(p, &nd->vlen);
		}
		if (!nd->value || !(nd->re = compile_re(p, nd->value, nd->vlen, flags))) {
			node_free(nd);
			return NULL;
		}
		return nd;
	}
	if (c == '*' && (p->i + 1 == n || word_end_char(s[p->i + 1]))) {
		p->i++;
		return node_new(p, OBS_LQ_ALL);
	}
	/* FIELD OP VALUE ? */
	if (is_field_start(c)) {
		size_t j = p->i;
		while (j < n && is_field_char(s[j]))
			j++;
		enum obs_lq_op op = OBS_LQ_EQ;
		size_t ol = 0;
		if (j < n) {
			char a = s[j], b = j + 1 < n ? s[j + 1] : 0;
			if (a == '=' && b == '~') op = OBS_LQ_RE, ol = 2;
			else if (a == '!' && b == '~') op = OBS_LQ_NRE, ol = 2;
			else if (a == '!' && b == '=') op = OBS_LQ_NE, ol = 2;
			else if (a == '>' && b == '=') op = OBS_LQ_GE, ol = 2;
			else if (a == '<' && b == '=') op = OBS_LQ_LE, ol = 2;
			else if (a == '=' && b == '=') op = OBS_LQ_EQ, ol = 2;
			else if (a == '=') op = OBS_LQ_EQ, ol = 1;
			else if (a == '>') op = OBS_LQ_GT, ol = 1;
			else if (a == '<') op = OBS_LQ_LT, ol = 1;
		}
		if (ol) {
			if (!(nd = node_new(p, OBS_LQ_FIELD)))
				return NULL;
			nd->op = op;
			nd->field = memdup0(s + p->i, j - p->i);
			p->i = j + ol;
			if (p->i < n && (s[p->i] == '<' || s[p->i] == '>' || s[p->i] == '=')) {
				perr(p, "unexpected '%c' after the operator of '%s'", s[p->i], nd->field ? nd->field : "");
				node_free(nd);
				return NULL;
			}
			if (p->i < n && (s[p->i] == '"' || s[p->i] == '\''))
				nd->value = quoted(p, &nd->vlen);
			else if (p->i < n && s[p->i] == '/' && (op == OBS_LQ_RE || op == OBS_LQ_NRE)) {
				size_t st = ++p->i;
				while (p->i < n && s[p->i] != '/')
					p->i += s[p->i] == '\\' ? 2 : 1;
				nd->vlen = (p->i < n ? p->i : n) - st;
				nd->value = memdup0(s + st, nd->vlen);
				if (p->i < n)
					p->i++;
			} else
				nd->value = bare(p, &nd->vlen);
			if (!nd->field || !nd->value) {
				perr(p, "out of memory");
				node_free(nd);
				return NULL;
			}
			if (op == OBS_LQ_RE || op == OBS_LQ_NRE) {
				if (!(nd->re = compile_re(p, nd->value, nd->vlen, 0))) {
					node_free(nd);
					return NULL;
				}
			} else if (nd->vlen == 0 && op != OBS_LQ_EQ && op != OBS_LQ_NE) {
				perr(p, "missing value after '%s'", nd->field);
				node_free(nd);
				return NULL;
			}
			nd->isnum = parse_number(nd->value, nd->vlen, &nd->num);
			nd->level = obs_loglevel_rank(nd->value, nd->vlen);
			return nd;
		}
	}
	if (!(nd = node_new(p, OBS_LQ_SUBSTR)))
		return NULL;
	nd->value = bare(p, &nd->vlen);
	if (!nd->value) {
		node_free(nd);
		return NULL;
	}
	if (nd->vlen == 0) {
		perr(p, "unexpected '%c'", p->i < n ? s[p->i] : '?');
		node_free(nd);
		return NULL;
	}
	return nd;
}

/* keyword at cursor followed by a word end */
static int kw(struct parser *p, const char *w)
{
	size_t l = strlen(w);
	if (p->i + l > p->n || strncasecmp(p->s + p->i, w, l))
		return 0;
	if (p->i + l < p->n && !is_ws(p->s[p->i + l]) && p->s[p->i + l] != '(')
		return 0;
	return 1;
}

static struct obs_lq_node *unary(struct parser *p)
{
	skip(p);
	if (p->i >= p->n) {
		perr(p, "missing term at end of query");
		return NULL;
	}
	if (++p->depth > LQ_MAX_DEPTH) {
		perr(p, "query nested too deeply");
		return NULL;
	}
	struct obs_lq_node *nd = NULL;
	char c = p->s[p->i];
	if (c == '!' || (c == '-' && p->i + 1 < p->n && !is_ws(p->s[p->i + 1])) || kw(p, "not")) {
		p->i += (c == '!' || c == '-') ? 1 : 3;
		struct obs_lq_node *a = unary(p);
		if (a && !(nd = node_new(p, OBS_LQ_NOT)))
			node_free(a);
		else if (a)
			nd->a = a;
	} else if (c == '(') {
		p->i++;
		nd = parse_or(p);
		skip(p);
		if (nd && (p->i >= p->n || p->s[p->i] != ')')) {
			perr(p, "unbalanced '('");
			node_free(nd);
			nd = NULL;
		} else if (nd)
			p->i++;
	} else if (c == ')') {
		perr(p, "unbalanced ')'");
	} else {
		nd = term(p);
	}
	p->depth--;
	return nd;
}

static int at_or(struct parser *p)
{
	skip(p);
	if (p->i >= p->n)
		return 0;
	if (p->s[p->i] == '|') {
		p->i += (p->i + 1 < p->n && p->s[p->i + 1] == '|') ? 2 : 1;
		return 1;
	}
	if (kw(p, "or")) {
		p->i += 2;
		return 1;
	}
	return 0;
}

static struct obs_lq_node *bin(struct parser *p, enum obs_lq_kind k, struct obs_lq_node *a, struct obs_lq_node *b)
{
	struct obs_lq_node *nd = node_new(p, k);
	if (!nd) {
		node_free(a);
		node_free(b);
		return NULL;
	}
	nd->a = a;
	nd->b = b;
	return nd;
}

static struct obs_lq_node *parse_and(struct parser *p)
{
	struct obs_lq_node *l = unary(p);
	while (l) {
		skip(p);
		if (p->i >= p->n || p->s[p->i] == ')' || p->s[p->i] == '|' || p->s[p->i] == '#' || kw(p, "or"))
			break;
		if (p->s[p->i] == '&')
			p->i += (p->i + 1 < p->n && p->s[p->i + 1] == '&') ? 2 : 1;
		else if (kw(p, "and"))
			p->i += 3;
		struct obs_lq_node *r = unary(p);
		if (!r) {
			node_free(l);
			return NULL;
		}
		l = bin(p, OBS_LQ_AND, l, r);
	}
	return l;
}

static struct obs_lq_node *parse_or(struct parser *p)
{
	if (++p->depth > LQ_MAX_DEPTH) {
		perr(p, "query nested too deeply");
		return NULL;
	}
	struct obs_lq_node *l = parse_and(p);
	while (l && at_or(p)) {
		struct obs_lq_node *r = parse_and(p);
		if (!r) {
			node_free(l);
			l = NULL;
			break;
		}
		l = bin(p, OBS_LQ_OR, l, r);
	}
	p->depth--;
	return l;
}

int obs_logquery_parse(const char *s, size_t n, struct obs_logquery **out, char *err, size_t errlen)
{
	struct parser p = { s, n, 0, 0, err, errlen, 0 };
	struct obs_logquery *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	/* the output suffix: last '#' outside quotes */
	size_t qn = n;
	int inq = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' && (i == 0 || s[i - 1] != '\\'))
			inq = !inq;
		else if (s[i] == '#' && !inq) {
			qn = i;
			break;
		}
	}
	if (qn < n) {
		const char *suf = s + qn + 1;
		size_t sl = n - qn - 1;
		if (sl == 5 && !memcmp(suf, "count", 5))
			q->count = 1;
		else if (sl > 3 && !memcmp(suf, "by=", 3))
			q->by = memdup0(suf + 3, sl - 3);
		else {
			perr(&p, "unknown output '#%.*s' (want #count or #by=FIELD)", (int)(sl > 40 ? 40 : sl), suf);
			free(q);
			return -EINVAL;
		}
	}
	p.n = qn;
	skip(&p);
	if (p.i >= p.n) {
		q->root = node_new(&p, OBS_LQ_ALL);
	} else {
		q->root = parse_or(&p);
		skip(&p);
		if (q->root && p.i < p.n) {
			perr(&p, p.s[p.i] == ')' ? "unbalanced ')'" : "unexpected '%c'", p.s[p.i]);
			node_free(q->root);
			q->root = NULL;
		}
	}
	if (!q->root) {
		if (!p.failed)
			perr(&p, "invalid query");
		obs_logquery_free(q);
		return -EINVAL;
	}
	*out = q;
	return 0;
}

/* ---- evaluation --------------------------------------------------------- */

#define LQ_MAX_FIELDS 64

struct fieldset {
	int loaded, n;
	struct { const char *k, *v; uint32_t kn, vn; } f[LQ_MAX_FIELDS];
};

static int collect_cb(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	struct fieldset *fs = ctx;
	if (fs->n >= LQ_MAX_FIELDS)
		return 1;
	fs->f[fs->n].k = k;
	fs->f[fs->n].kn = (uint32_t)kn;
	fs->f[fs->n].v = v;
	fs->f[fs->n].vn = (uint32_t)vn;
	fs->n++;
	return 0;
}

static int fs_get(struct fieldset *fs, const char *line, size_t n, const char *f, const char **v, size_t *vn)
{
	if (!fs->loaded) {
		fs->loaded = 1;
		obs_logline_fields(line, n, collect_cb, fs, NULL);
	}
	size_t fl = strlen(f);
	int want_level = obs_logfield_is_level(f, fl);
	for (int i = 0; i < fs->n; i++) {
		if ((fs->f[i].kn == fl && !memcmp(fs->f[i].k, f, fl)) ||
		    (want_level && obs_logfield_is_level(fs->f[i].k, fs->f[i].kn))) {
			*v = fs->f[i].v;
			*vn = fs->f[i].vn;
			return 1;
		}
	}
	return 0;
}

static int re_match(void *re, const char *s, size_t n)
{
	return obs_re_match(re, s, n);
}

int obs_lq_value_match(const struct obs_lq_node *nd, const char *v, size_t vn)
{
	int cmp;
	switch (nd->op) {
	case OBS_LQ_RE:
		return re_match(nd->re, v, vn);
	case OBS_LQ_NRE:
		return !re_match(nd->re, v, vn);
	default:
		break;
	}
	double d;
	int lr;
	if (nd->field && obs_logfield_is_level(nd->field, strlen(nd->field)) && nd->level >= 0 &&
	    (lr = obs_loglevel_rank(v, vn)) >= 0)
		cmp = (lr > nd->level) - (lr < nd->level);
	else if (nd->isnum && parse_number(v, vn, &d))
		cmp = (d > nd->num) - (d < nd->num);
	else {
		size_t m = vn < nd->vlen ? vn : nd->vlen;
		cmp = memcmp(v, nd->value, m);
		if (!cmp)
			cmp = (vn > nd->vlen) - (vn < nd->vlen);
	}
	switch (nd->op) {
	case OBS_LQ_EQ: return cmp == 0;
	case OBS_LQ_NE: return cmp != 0;
	case OBS_LQ_LT: return cmp < 0;
	case OBS_LQ_LE: return cmp <= 0;
	case OBS_LQ_GT: return cmp > 0;
	case OBS_LQ_GE: return cmp >= 0;
	default: return 0;
	}
}

static int eval(const struct obs_lq_node *nd, const char *line, size_t n, struct fieldset *fs)
{
	switch (nd->kind) {
	case OBS_LQ_ALL:
		return 1;
	case OBS_LQ_AND:
		return eval(nd->a, line, n, fs) && eval(nd->b, line, n, fs);
	case OBS_LQ_OR:
		return eval(nd->a, line, n, fs) || eval(nd->b, line, n, fs);
	case OBS_LQ_NOT:
		return !eval(nd->a, line, n, fs);
	case OBS_LQ_SUBSTR:
		return nd->vlen == 0 || memmem(line, n, nd->value, nd->vlen) != NULL;
	case OBS_LQ_REGEX:
		return re_match(nd->re, line, n);
	case OBS_LQ_FIELD: {
		const char *v;
		size_t vn;
		if (!fs_get(fs, line, n, nd->field, &v, &vn))
			return nd->op == OBS_LQ_NE || nd->op == OBS_LQ_NRE;
		return obs_lq_value_match(nd, v, vn);
	}
	}
	return 0;
}

int obs_logquery_match(const struct obs_logquery *q, const char *line, size_t n)
{
	if (!q)
		return 1;
	struct fieldset fs;
	fs.loaded = 0;
	fs.n = 0;
	return eval(q->root, line, n, &fs);
}

int obs_logline_field(const char *line, size_t n, const char *f, const char **v, size_t *vn)
{
	struct fieldset fs;
	fs.loaded = 0;
	fs.n = 0;
	return fs_get(&fs, line, n, f, v, vn);
}

/* ---- search file names -------------------------------------------------- */

static int hexv(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int obs_logpath_parse(const char *name, int64_t now_ms, char **stream, int64_t *from, int64_t *to,
		      struct obs_logquery **q, char *err, size_t errlen)
{
	size_t n = strlen(name), i = 0;
	int depth = 0, inq = 0;
	/* the stream name ends at the first '@', '?' or '#' outside {labels} */
	for (; i < n; i++) {
		char c = name[i];
		if (inq) {
			if (c == '\\')
				i++;
			else if (c == '"')
				inq = 0;
		} else if (c == '"' && depth)
			inq = 1;
		else if (c == '{')
			depth++;
		else if (c == '}' && depth)
			depth--;
		else if (!depth && (c == '@' || c == '?' || c == '#'))
			break;
	}
	if (i == 0) {
		if (err)
			snprintf(err, errlen, "missing stream name");
		return -EINVAL;
	}
	int64_t f = OBS_TIME_MIN, t = OBS_TIME_MAX;
	size_t j = i;
	if (i < n && name[i] == '@') {
		j = i + 1;
		while (j < n && name[j] != '?' && name[j] != '#')
			j++;
		if (obs_range_parse(name + i + 1, j - i - 1, now_ms, &f, &t) < 0) {
			if (err)
				snprintf(err, errlen, "invalid range '%.*s'", (int)(j - i - 1), name + i + 1);
			return -EINVAL;
		}
	}
	struct obs_logquery *lq = NULL;
	if (j < n) {
		size_t qs = j + (name[j] == '?'), k = 0;
		char *dec = malloc(n - qs + 2);
		if (!dec)
			return -ENOMEM;
		for (size_t x = qs; x < n; x++) {
			if (name[x] == '%' && x + 2 < n && hexv(name[x + 1]) >= 0 && hexv(name[x + 2]) >= 0) {
				dec[k++] = (char)(hexv(name[x + 1]) * 16 + hexv(name[x + 2]));
				x += 2;
			} else
				dec[k++] = name[x];
		}
		int r = obs_logquery_parse(dec, k, &lq, err, errlen);
		free(dec);
		if (r < 0)
			return r;
	}
	char *s = memdup0(name, i);
	if (!s) {
		obs_logquery_free(lq);
		return -ENOMEM;
	}
	*stream = s;
	*from = f;
	*to = t;
	*q = lq;
	return 0;
}
