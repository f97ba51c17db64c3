/* graphite.c — one line of Graphite plaintext:
 *
 *   path.to.metric value [timestamp_s]
 *   path.to.metric;tag=v;tag2=w value [timestamp_s]
 *
 * The name is the path with every byte outside [a-zA-Z0-9_:] turned into '_'
 * (and a '_' prefix before a leading digit); tags become labels (names
 * sanitized the same way for label names, values UTF-8 and non-empty). The
 * timestamp is seconds, optionally with a fraction or an exponent (floored
 * to ms, within the valid times of obstime.h); "-1" or none means
 * OBS_TS_NONE. The key is the path token (with its tags) as written. */
#include <string.h>

#include "core/num.h"
#include "ingest/parse_int.h"

int obs_p_graphite(struct obs_pctx *c, const char *p, const char *e)
{
	struct obs_sample_in *s = &c->s;
	const char *line = p, *pe, *semi, *tok;
	size_t len = (size_t)(e - p), used;
	char *sc;

	if (obs_p_scratch(c, 3 * len + 512))
		return pc_err(c, "out of memory");
	sc = c->scratch;
	s->fmt = OBS_FMT_GRAPHITE;
	s->nlabels = 0;
	pe = pc_token_end(p, e);
	semi = memchr(p, ';', (size_t)(pe - p));
	if ((semi ? semi : pe) == p)
		return pc_err(c, "invalid metric name");
	s->name = sc;
	s->namelen = obs_p_sanitize(p, (size_t)((semi ? semi : pe) - p), PC_NAME, sc);
	used = s->namelen;
	while (semi && semi < pe) {
		struct obs_rawlabel *l = &s->labels[s->nlabels];
		const char *t = semi + 1, *te, *eq;

		semi = memchr(t, ';', (size_t)(pe - t));
		te = semi ? semi : pe;
		eq = memchr(t, '=', (size_t)(te - t));
		if (!eq || eq == t || eq + 1 == te)
			return pc_err(c, "invalid tag");
		if (s->nlabels >= OBS_MAX_LABELS - 1)
			return pc_err(c, "too many labels");
		if (!obs_utf8_valid(eq + 1, (size_t)(te - eq - 1)))
			return pc_err(c, "invalid UTF-8 in label value");
		if (te - eq - 1 > OBS_MAX_LABEL_BYTES)
			return pc_err(c, "label value too long");
		l->name = sc + used;
		l->nlen = (uint32_t)obs_p_sanitize(t, (size_t)(eq - t), PC_LNAME, sc + used);
		used += l->nlen;
		l->value = eq + 1;
		l->vlen = (uint32_t)(te - eq - 1);
		l->escaped = 0;
		s->nlabels++;
	}
	s->key = line;
	s->keylen = (size_t)(pe - line);
	p = pc_skip_space(pe, e);
	if (p == e)
		return pc_err(c, "missing value");
	tok = p;
	p = pc_token_end(p, e);
	if (obs_num_parse(tok, (size_t)(p - tok), &s->value))
		return pc_err(c, "invalid value");
	p = pc_skip_space(p, e);
	s->ts_ms = OBS_TS_NONE;
	if (p < e) {
		tok = p;
		p = pc_token_end(p, e);
		if (!(p - tok == 2 && !memcmp(tok, "-1", 2))) {
			int r = obs_p_ts(tok, (size_t)(p - tok), 3, 0, &s->ts_ms);

			if (r)
				return pc_err(c, pc_ts_why(r));
		}
		if (pc_skip_space(p, e) < e)
			return pc_err(c, "unexpected text after timestamp");
	}
	return pc_emit(c);
}
