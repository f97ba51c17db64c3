/* prom.c — one line of Prometheus text exposition / OpenMetrics:
 *
 *   name{k="v",...} value [timestamp] [# exemplar]
 *   # TYPE name type | # HELP name text | # UNIT name unit | # other comment
 *
 * This is the hot ingest path: one pass over the line with a class table, no
 * copies, no allocation. The name may be missing before a label set
 * (`{a="1"} 1`, a series without a metric name). Label values keep their
 * escapes (the rawlabel is flagged escaped and obs_labels_build decodes
 * \\ \" \n; other escapes such as \z stay as written, as in Prometheus)
 * and must be UTF-8 without NUL. The timestamp is integer milliseconds,
 * or seconds when it has a fraction or an exponent, or seconds whatever its
 * form when the write is OpenMetrics (the rule is in parse.h); it is floored
 * to ms and must lie within the valid times of obstime.h. An exemplar
 * (`# {labels} value [timestamp]`, timestamp in seconds) is handed out with
 * the sample (s->ex_*); an invalid one is flagged with its reason and the
 * sample kept; other text after a '#' is ignored. The key is `name{...}`
 * exactly as written. The value may be the word `stale`, a staleness marker
 * (obsfs(7) STALENESS): Prometheus text has no spelling for one, so obsfs
 * adds it (OpenMetrics too), the way remote write carries the marker's bits. */
#include <string.h>

#include "core/num.h"
#include "ingest/parse_int.h"

/* Scan a quoted label value starting after the opening quote. On success
 * returns the closing quote and sets *esc; NULL with c->why on error. */
static inline __attribute__((always_inline)) const char *scan_value(struct obs_pctx *c, const char *p, const char *e,
								   int *esc)
{
	for (;;) {
		unsigned char ch;
		int k;

		while (p < e && !pc_is((unsigned char)*p, PC_VSTOP))
			p++;
		if (p == e) {
			c->why = "unterminated label value";
			return NULL;
		}
		ch = (unsigned char)*p;
		if (ch == '"')
			return p;
		if (ch == '\\') {
			if (p + 1 == e) {
				c->why = "unterminated label value";
				return NULL;
			}
			/* \\ \" \n are decoded; any other escape is kept as
			 * written (Prometheus does the same). The byte after a
			 * backslash is never a terminator; a UTF-8 lead byte or
			 * NUL after it is checked by the next round. */
			*esc = 1;
			p += (unsigned char)p[1] < 0x80 && p[1] ? 2 : 1;
			continue;
		}
		if (!ch) {
			c->why = "NUL byte in label value";
			return NULL;
		}
		k = obs_utf8_seq(p, e);
		if (!k) {
			c->why = "invalid UTF-8 in label value";
			return NULL;
		}
		p += k;
	}
}

/* Characters (code points; an escape such as \" is one) of [p, e), a
 * scanned label value. */
static size_t value_chars(const char *p, const char *e)
{
	size_t n = 0;

	for (; p < e; p++) {
		if (*p == '\\' && p + 1 < e)
			p++;
		if (((unsigned char)*p & 0xc0) != 0x80)
			n++;
	}
	return n;
}

/* An OpenMetrics exemplar after the sample: `{labels} value [timestamp]`,
 * p at the '{'. Labels as in a series, at most OBS_EXEMPLAR_MAX_CHARS
 * characters of names and values together (the OpenMetrics limit); the
 * timestamp is seconds. Sets s->ex_*; returns NULL, or the reason it is
 * invalid (the sample is kept all the same, as Prometheus does). */
static const char *exemplar(struct obs_sample_in *s, struct obs_pctx *c, const char *p, const char *e)
{
	const char *tok;
	size_t chars = 0;

	s->ex_labels = p;
	for (p++;;) {
		const char *ln, *v;
		int esc = 0;

		p = pc_skip_space(p, e);
		if (p < e && *p == '}')
			break;
		if (p == e || !pc_is((unsigned char)*p, PC_LNAME0))
			return "invalid exemplar label name";
		ln = p;
		while (p < e && pc_is((unsigned char)*p, PC_LNAME))
			p++;
		chars += (size_t)(p - ln);
		p = pc_skip_space(p, e);
		if (p == e || *p != '=')
			return "invalid exemplar: expected '=' after label name";
		p = pc_skip_space(p + 1, e);
		if (p == e || *p != '"')
			return "invalid exemplar: expected '\"' before label value";
		v = p + 1;
		p = scan_value(c, v, e, &esc);
		if (!p)
			return "invalid exemplar label value";
		chars += value_chars(v, p);
		p = pc_skip_space(p + 1, e);
		if (p < e && *p == ',') {
			p++;
			continue;
		}
		if (p < e && *p == '}')
			break;
		return "invalid exemplar: expected ',' or '}' after label value";
	}
	s->ex_labelslen = (size_t)(p + 1 - s->ex_labels);
	p = pc_skip_space(p + 1, e);
	tok = p;
	p = pc_token_end(p, e);
	if (obs_num_parse(tok, (size_t)(p - tok), &s->ex_value))
		return "invalid exemplar value";
	p = pc_skip_space(p, e);
	if (p < e) {
		int r;

		tok = p;
		p = pc_token_end(p, e);
		r = obs_p_ts(tok, (size_t)(p - tok), 3, 0, &s->ex_ts);
		if (r)
			return r == -2 ? "exemplar timestamp out of range" : "invalid exemplar timestamp";
		if (pc_skip_space(p, e) < e)
			return "invalid exemplar: unexpected text after its timestamp";
	}
	if (chars > OBS_EXEMPLAR_MAX_CHARS)
		return "exemplar labels longer than 128 characters";
	return NULL;
}

int obs_p_prom(struct obs_pctx *c, const char *p, const char *e)
{
	struct obs_sample_in *s = &c->s;
	const char *line = p, *tok;
	int braces = 0;

	s->fmt = OBS_FMT_PROM;
	s->nlabels = 0;
	s->name = p;
	if (p < e && pc_is((unsigned char)*p, PC_NAME0)) {
		p++;
		while (p < e && pc_is((unsigned char)*p, PC_NAME))
			p++;
	}
	s->namelen = (size_t)(p - line);
	/* `{a="1"} 1`: a series without a metric name (obsfs(7)) */
	if (!s->namelen && (p == e || *p != '{'))
		return pc_err(c, "invalid metric name");
	if (p < e && (*p == ' ' || *p == '\t')) {
		const char *q = pc_skip_space(p, e);

		if (q < e && *q == '{')
			p = q;
	}
	if (p < e && *p == '{') {
		braces = 1;
		p++;
		for (;;) {
			struct obs_rawlabel *l;
			const char *ln, *v, *ve;
			int esc = 0;

			p = pc_skip_space(p, e);
			if (p == e)
				return pc_err(c, "unterminated label set");
			if (*p == '}') {
				p++;
				break;
			}
			ln = p;
			if (!pc_is((unsigned char)*p, PC_LNAME0))
				return pc_err(c, "invalid label name");
			p++;
			while (p < e && pc_is((unsigned char)*p, PC_LNAME))
				p++;
			l = &s->labels[s->nlabels];
			l->name = ln;
			l->nlen = (uint32_t)(p - ln);
			p = pc_skip_space(p, e);
			if (p == e || *p != '=')
				return pc_err(c, "expected '=' after label name");
			p = pc_skip_space(p + 1, e);
			if (p == e || *p != '"')
				return pc_err(c, "expected '\"' before label value");
			v = ++p;
			ve = scan_value(c, p, e, &esc);
			if (!ve)
				return PL_ERR;
			if (ve - v > OBS_MAX_LABEL_BYTES)
				return pc_err(c, "label value too long");
			if (s->nlabels >= OBS_MAX_LABELS - 1)
				return pc_err(c, "too many labels");
			l->value = v;
			l->vlen = (uint32_t)(ve - v);
			l->escaped = esc;
			s->nlabels++;
			p = pc_skip_space(ve + 1, e);
			if (p == e)
				return pc_err(c, "unterminated label set");
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p == '}') {
				p++;
				break;
			}
			return pc_err(c, "expected ',' or '}' after label value");
		}
	}
	s->key = line;
	s->keylen = (size_t)(p - line);
	if (p == e)
		return pc_err(c, "missing value");
	if (*p != ' ' && *p != '\t')
		return pc_err(c, braces ? "unexpected text after labels" : "invalid metric name");
	p = pc_skip_space(p, e);
	tok = p;
	p = pc_token_end(p, e);
	if (obs_num_parse_sample(tok, (size_t)(p - tok), &s->value))
		return pc_err(c, "invalid value");
	p = pc_skip_space(p, e);
	s->ts_ms = OBS_TS_NONE;
	s->exemplar = 0;
	s->ex_ts = OBS_TS_NONE;
	if (p < e && *p != '#') {
		int r, secs;

		tok = p;
		p = pc_token_end(p, e);
		secs = c->om || memchr(tok, '.', (size_t)(p - tok)) || memchr(tok, 'e', (size_t)(p - tok)) ||
		       memchr(tok, 'E', (size_t)(p - tok));
		r = obs_p_ts(tok, (size_t)(p - tok), secs ? 3 : 0, 0, &s->ts_ms);
		if (r)
			return pc_err(c, pc_ts_why(r));
		p = pc_skip_space(p, e);
		if (p < e && *p != '#')
			return pc_err(c, "unexpected text after timestamp");
	}
	if (p + 1 < e && *p == '#' && pc_skip_space(p + 1, e) < e && *pc_skip_space(p + 1, e) == '{') {
		s->ex_text = p;
		s->ex_textlen = (size_t)(e - p);
		s->ex_why = exemplar(s, c, pc_skip_space(p + 1, e), e);
		s->exemplar = s->ex_why ? -1 : 1;
	}
	return c->probe ? PL_OK : pc_emit(c);
}

void obs_p_prom_comment(struct obs_pctx *c, const char *p, const char *e)
{
	static const char *const kinds[] = { "TYPE", "HELP", "UNIT" };
	const char *w, *we, *name, *ne;
	size_t i;

	if (!c->cb->meta)
		return;
	w = pc_skip_space(p + 1, e);
	we = pc_token_end(w, e);
	for (i = 0; i < 3; i++) {
		if (we - w == 4 && !memcmp(w, kinds[i], 4))
			break;
	}
	if (i == 3)
		return;
	name = pc_skip_space(we, e);
	ne = pc_token_end(name, e);
	if (name == ne)
		return;
	w = pc_skip_space(ne, e);
	c->cb->meta(c->cb->ctx, kinds[i], name, (size_t)(ne - name), w, (size_t)(e - w));
}
