/* ship_policy.c — obs-ship's log policy (--policy FILE): per-stream rules
 * that sample and scrub lines before they leave the host.
 *
 * The file: one rule per line, '#' starts a comment, tokens split by blanks
 * ('single' or "double" quotes keep blanks in a token):
 *
 *   STREAM keep   [COND]              keep the line (100 %)
 *   STREAM drop   [COND]              drop it
 *   STREAM sample PERCENT[%] [COND]   keep PERCENT of the lines, chosen by a
 *                                     hash of the line (deterministic)
 *   STREAM scrub  creditcard [REPL]   mask card numbers: 13-19 digits (blanks
 *                                     or '-' between them allowed) starting
 *                                     with 2-6 that pass the Luhn check;
 *                                     every digit but the last four becomes
 *                                     'X' (or the whole number becomes REPL)
 *   STREAM scrub  email [REPL]        e-mail addresses become REPL
 *                                     (default "<email>")
 *   STREAM scrub  regex PATTERN [REPL]  PCRE2 matches become REPL (default
 *                                     "***"; $1.. name groups)
 *
 * STREAM is a glob (fnmatch) on the stream name. COND is `level OP NAME`
 * written as one token (level>=warn; OP one of = != < <= > >=; NAME a level
 * word: trace debug info notice warn error fatal) — the level is read from
 * the line as the log store does (a level/severity field of JSON or logfmt,
 * or a level word among the first tokens) and a line without one fails
 * every level condition — or `/REGEX/` (a PCRE2 match anywhere in the line).
 * For each line, the keep/drop/sample rules of its stream are tried in file
 * order and the first whose COND holds decides; none: the line is kept.
 * Then every scrub rule of the stream is applied in order. */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "logs/logline.h"
#include "ship.h"

enum { R_KEEP, R_DROP, R_SAMPLE, R_CC, R_EMAIL, R_REGEX };
enum { C_NONE, C_LEVEL, C_RE };

struct rule {
	char *glob;
	int kind;
	uint32_t permille;     /* R_SAMPLE: parts per million kept */
	int cond, op, rank;    /* op: 0 =, 1 !=, 2 <, 3 <=, 4 >, 5 >= */
	pcre2_code *re;        /* C_RE condition, or the R_REGEX/R_EMAIL/R_CC pattern */
	char *repl;
};

struct sstat {
	char *stream;
	uint64_t in, kept, sampled_away, scrubbed;
};

struct policy {
	struct rule *r;
	size_t n;
	struct sstat *s;
	size_t ns;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	struct obs_buf a, b;
};

static void rule_free(struct rule *r)
{
	free(r->glob);
	free(r->repl);
	pcre2_code_free(r->re);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		rule_free(&p->r[i]);
	free(p->r);
	for (size_t i = 0; i < p->ns; i++)
		free(p->s[i].stream);
	free(p->s);
	pcre2_match_data_free(p->md);
	pcre2_match_context_free(p->mctx);
	obs_buf_release(&p->a);
	obs_buf_release(&p->b);
	free(p);
}

/* split a line into tokens (quotes kept out); at most max; -1 on an open quote */
static int tokens(char *s, char **tok, int max)
{
	int n = 0;
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			break;
		if (n == max)
			return -2;
		if (*s == '\'' || *s == '"') {
			char q = *s++;
			tok[n++] = s;
			while (*s && *s != q)
				s++;
			if (!*s)
				return -1;
			*s++ = 0;
		} else {
			tok[n++] = s;
			while (*s && *s != ' ' && *s != '\t')
				s++;
			if (*s)
				*s++ = 0;
		}
	}
	return n;
}

static pcre2_code *compile(const char *pat, char *why, size_t whylen)
{
	int ec;
	PCRE2_SIZE eo;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
				       &ec, &eo, NULL);
	if (!re) {
		char m[128];
		pcre2_get_error_message(ec, (PCRE2_UCHAR *)m, sizeof(m));
		snprintf(why, whylen, "invalid regex '%s': %s", pat, m);
		return NULL;
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

static int parse_cond(struct rule *r, const char *t, char *why, size_t whylen)
{
	size_t n = strlen(t);
	if (n >= 2 && t[0] == '/' && t[n - 1] == '/') {
		char *pat = strndup(t + 1, n - 2);
		r->re = compile(pat, why, whylen);
		free(pat);
		r->cond = C_RE;
		return r->re ? 0 : -1;
	}
	if (strncmp(t, "level", 5)) {
		snprintf(why, whylen, "invalid condition '%s'", t);
		return -1;
	}
	const char *o = t + 5;
	static const char *ops[] = { "=", "!=", "<", "<=", ">", ">=" };
	int op = -1;
	size_t ol = 0;
	for (int i = 0; i < 6; i++)
		if (!strncmp(o, ops[i], strlen(ops[i])) && strlen(ops[i]) >= ol) {
			op = i;
			ol = strlen(ops[i]);
		}
	if (op < 0 || (op == 0 && o[1] == '=')) {
		snprintf(why, whylen, "invalid condition '%s'", t);
		return -1;
	}
	int rank = obs_loglevel_rank(o + ol, strlen(o + ol));
	if (rank < 0) {
		snprintf(why, whylen, "invalid level '%s'", o + ol);
		return -1;
	}
	r->cond = C_LEVEL;
	r->op = op;
	r->rank = rank;
	return 0;
}

/* email and card-number candidates */
#define EMAIL_RE "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}"
#define CC_RE "(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9])"

static int parse_rule(struct policy *p, char **tok, int nt, char *why, size_t whylen)
{
	struct rule r = { 0 };
	if (nt < 2) {
		snprintf(why, whylen, "expected 'STREAM ACTION ...'");
		return -1;
	}
	r.glob = strdup(tok[0]);
	const char *a = tok[1];
	int rest = 2;
	if (!strcmp(a, "keep") || !strcmp(a, "drop")) {
		r.kind = a[0] == 'k' ? R_KEEP : R_DROP;
	} else if (!strcmp(a, "sample")) {
		char *e;
		if (nt < 3) {
			snprintf(why, whylen, "sample needs a percentage");
			goto fail;
		}
		double v = strtod(tok[2], &e);
		if (e == tok[2] || (*e && strcmp(e, "%")) || !(v >= 0 && v <= 100)) {
			snprintf(why, whylen, "invalid percentage '%s'", tok[2]);
			goto fail;
		}
		r.kind = R_SAMPLE;
		r.permille = (uint32_t)(v * 10000 + 0.5);
		rest = 3;
	} else if (!strcmp(a, "scrub")) {
		const char *what = nt > 2 ? tok[2] : "";
		const char *pat;
		rest = 3;
		if (!strcmp(what, "creditcard")) {
			r.kind = R_CC;
			pat = CC_RE;
		} else if (!strcmp(what, "email")) {
			r.kind = R_EMAIL;
			pat = EMAIL_RE;
			r.repl = strdup("<email>");
		} else if (!strcmp(what, "regex")) {
			if (nt < 4) {
				snprintf(why, whylen, "scrub regex needs a pattern");
				goto fail;
			}
			r.kind = R_REGEX;
			pat = tok[3];
			r.repl = strdup("***");
			rest = 4;
		} else {
			snprintf(why, whylen, "unknown scrub '%s' (creditcard, email or regex)", what);
			goto fail;
		}
		if (!(r.re = compile(pat, why, whylen)))
			goto fail;
		if (rest < nt) {
			free(r.repl);
			r.repl = strdup(tok[rest++]);
		}
		if (rest < nt) {
			snprintf(why, whylen, "unexpected '%s'", tok[rest]);
			goto fail;
		}
		goto add;
	} else {
		snprintf(why, whylen, "unknown action '%s' (keep, drop, sample or scrub)", a);
		goto fail;
	}
	if (rest < nt && parse_cond(&r, tok[rest++], why, whylen) < 0)
		goto fail;
	if (rest < nt) {
		snprintf(why, whylen, "unexpected '%s'", tok[rest]);
		goto fail;
	}
add:;
	struct rule *nr = realloc(p->r, (p->n + 1) * sizeof(*nr));
	if (!nr) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	p->r = nr;
	p->r[p->n++] = r;
	return 0;
fail:
	rule_free(&r);
	return -1;
}

struct policy *policy_parse(const char *text, size_t len, size_t *lineno, char *why, size_t whylen)
{
	struct policy *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->md = pcre2_match_data_create(32, NULL);
	p->mctx = pcre2_match_context_create(NULL);
	if (!p->md || !p->mctx) {
		policy_free(p);
		return NULL;
	}
	pcre2_set_match_limit(p->mctx, 1000000);
	pcre2_set_depth_limit(p->mctx, 10000);
	obs_buf_init(&p->a);
	obs_buf_init(&p->b);
	size_t ln = 0;
	for (const char *s = text, *e = text + len; s < e;) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		const char *le = nl ? nl : e;
		char *line = strndup(s, (size_t)(le - s)), *tok[16];
		ln++;
		s = nl ? nl + 1 : e;
		int nt = line ? tokens(line, tok, 16) : -3;
		int bad = 0;
		if (nt == -1)
			snprintf(why, whylen, "unterminated quote"), bad = 1;
		else if (nt == -2)
			snprintf(why, whylen, "too many fields"), bad = 1;
		else if (nt == -3)
			snprintf(why, whylen, "out of memory"), bad = 1;
		else if (nt > 0 && parse_rule(p, tok, nt, why, whylen) < 0)
			bad = 1;
		free(line);
		if (bad) {
			*lineno = ln;
			policy_free(p);
			return NULL;
		}
	}
	return p;
}

/* ---- applying -------------------------------------------------------------- */

struct lvl {
	int rank;
};

static int on_field(void *ctx, const char *k, size_t kn, const char *v, size_t vn)
{
	struct lvl *l = ctx;
	if (obs_logfield_is_level(k, kn)) {
		l->rank = obs_loglevel_rank(v, vn);
		return 1;
	}
	return 0;
}

static int line_level(const char *s, size_t n)
{
	struct lvl l = { -1 };
	obs_logline_fields(s, n, on_field, &l, NULL);
	return l.rank;
}

static int cond_holds(struct policy *p, const struct rule *r, const char *s, size_t n, int *level)
{
	if (r->cond == C_NONE)
		return 1;
	if (r->cond == C_RE)
		return pcre2_match(r->re, (PCRE2_SPTR)s, n, 0, 0, p->md, p->mctx) >= 0;
	if (*level == -2)
		*level = line_level(s, n);
	if (*level < 0)
		return 0;
	switch (r->op) {
	case 0: return *level == r->rank;
	case 1: return *level != r->rank;
	case 2: return *level < r->rank;
	case 3: return *level <= r->rank;
	case 4: return *level > r->rank;
	default: return *level >= r->rank;
	}
}

static int luhn(const char *s, size_t n)
{
	int sum = 0, dbl = 0, nd = 0;
	for (size_t i = n; i-- > 0;) {
		if (s[i] < '0' || s[i] > '9')
			continue;
		int d = s[i] - '0';
		if (dbl && (d *= 2) > 9)
			d -= 9;
		sum += d;
		dbl = !dbl;
		nd++;
	}
	return nd >= 13 && sum % 10 == 0;
}

/* Apply one scrub rule to in, into out. Returns 1 when something changed. */
static int scrub(struct policy *p, const struct rule *r, const struct obs_buf *in, struct obs_buf *out)
{
	size_t pos = 0;
	int changed = 0;
	obs_buf_reset(out);
	while (pos <= in->len) {
		int rc = pcre2_match(r->re, (PCRE2_SPTR)in->data, in->len, pos, 0, p->md, p->mctx);
		if (rc < 0)
			break;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
		size_t ms = ov[0], me = ov[1];
		if (me < ms)   /* \K tricks */
			break;
		obs_buf_append(out, in->data + pos, ms - pos);
		if (r->kind == R_CC && !luhn(in->data + ms, me - ms)) {
			obs_buf_append(out, in->data + ms, me - ms);
		} else if (r->kind == R_CC && !r->repl) {
			int keep = 0;
			for (size_t i = me; i-- > ms;)
				if (in->data[i] >= '0' && in->data[i] <= '9')
					keep++;
			int left = keep - 4;   /* digits to mask, from the left */
			for (size_t i = ms; i < me; i++) {
				char c = in->data[i];
				if (c >= '0' && c <= '9' && left > 0) {
					obs_buf_putc(out, 'X');
					left--;
				} else {
					obs_buf_putc(out, c);
				}
			}
			changed = 1;
		} else if (r->kind == R_REGEX) {
			/* expand $N / ${N} in the replacement from this match */
			for (const char *c = r->repl; *c; c++) {
				if (c[0] == '$' && c[1] >= '0' && c[1] <= '9' && c[1] - '0' < rc) {
					int g = c[1] - '0';
					if (ov[2 * g] != PCRE2_UNSET)
						obs_buf_append(out, in->data + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
					c++;
				} else if (c[0] == '$' && c[1] == '$') {
					obs_buf_putc(out, '$');
					c++;
				} else {
					obs_buf_putc(out, *c);
				}
			}
			changed = 1;
		} else {
			obs_buf_puts(out, r->repl);
			changed = 1;
		}
		pos = me;
		if (me == ms) {   /* an empty match: step over one byte */
			if (pos < in->len)
				obs_buf_putc(out, in->data[pos]);
			pos++;
		}
	}
	if (pos < in->len)
		obs_buf_append(out, in->data + pos, in->len - pos);
	return changed;
}

static struct sstat *stat_of(struct policy *p, const char *stream)
{
	for (size_t i = 0; i < p->ns; i++)
		if (!strcmp(p->s[i].stream, stream))
			return &p->s[i];
	struct sstat *ns = realloc(p->s, (p->ns + 1) * sizeof(*ns));
	if (!ns)
		return NULL;
	p->s = ns;
	p->s[p->ns] = (struct sstat){ strdup(stream), 0, 0, 0, 0 };
	return &p->s[p->ns++];
}

int policy_apply(struct policy *p, const char *stream, const char *in, size_t n, struct obs_buf *out)
{
	struct sstat *st = stat_of(p, stream);
	if (!st)
		return -ENOMEM;
	/* the rules of this stream */
	size_t idx[64], nr = 0;
	int scrubs = 0;
	for (size_t i = 0; i < p->n && nr < 64; i++)
		if (fnmatch(p->r[i].glob, stream, 0) == 0) {
			idx[nr++] = i;
			scrubs |= p->r[i].kind >= R_CC;
		}
	for (const char *s = in, *e = in + n; s < e;) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		size_t len = (size_t)((nl ? nl : e) - s);
		int level = -2, keep = 1;
		st->in++;
		for (size_t k = 0; k < nr; k++) {
			const struct rule *r = &p->r[idx[k]];
			if (r->kind >= R_CC || !cond_holds(p, r, s, len, &level))
				continue;
			if (r->kind == R_SAMPLE)
				keep = XXH3_64bits(s, len) % 1000000 < r->permille;
			else
				keep = r->kind == R_KEEP;
			break;
		}
		if (!keep) {
			st->sampled_away++;
		} else if (!scrubs) {
			st->kept++;
			if (obs_buf_append(out, s, len) || obs_buf_putc(out, '\n'))
				return -ENOMEM;
		} else {
			struct obs_buf *cur = &p->a, *nxt = &p->b;
			int changed = 0;
			obs_buf_reset(cur);
			if (obs_buf_append(cur, s, len))
				return -ENOMEM;
			for (size_t k = 0; k < nr; k++) {
				const struct rule *r = &p->r[idx[k]];
				if (r->kind < R_CC)
					continue;
				if (scrub(p, r, cur, nxt)) {
					changed = 1;
					struct obs_buf *t = cur;
					cur = nxt;
					nxt = t;
				}
			}
			/* a replacement may not add a line break */
			for (size_t i = 0; i < cur->len; i++)
				if (cur->data[i] == '\n')
					cur->data[i] = ' ';
			st->kept++;
			st->scrubbed += (uint64_t)changed;
			if (obs_buf_append(out, cur->data, cur->len) || obs_buf_putc(out, '\n'))
				return -ENOMEM;
		}
		s = nl ? nl + 1 : e;
	}
	return 0;
}

void policy_status(const struct policy *p, struct obs_buf *out)
{
	for (size_t i = 0; p && i < p->ns; i++)
		obs_buf_printf(out, "policy stream=%s lines=%" PRIu64 " kept=%" PRIu64 " sampled_away=%" PRIu64
				    " scrubbed=%" PRIu64 "\n",
			       p->s[i].stream, p->s[i].in, p->s[i].kept, p->s[i].sampled_away, p->s[i].scrubbed);
}
