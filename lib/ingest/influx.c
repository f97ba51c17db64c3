/* influx.c — one line of Influx line protocol:
 *
 *   measurement[,tag=v...] field=value[,field2=value2...] [timestamp_ns]
 *
 * Backslash escapes ',' '=' and ' ' in names, tag values and field keys.
 * Field values: floats ("1.5", "1e3"), integers ("3i"), unsigned ("3u"),
 * booleans (t/T/true/True/TRUE -> 1, f/F/false/False/FALSE -> 0) and strings
 * ("..."), which are skipped. One sample per numeric field, named
 * measurement_field with invalid name bytes turned into '_'; tags become
 * labels (names sanitized the same way, values must be UTF-8). The timestamp
 * is integer nanoseconds (floored to ms; any count within the valid times
 * of obstime.h, not only int64 ns); none means OBS_TS_NONE. The key is the
 * measurement and tags as written, a NUL, then the field key as written; it,
 * the name and decoded labels live in the parser scratch. */
#include <math.h>
#include <string.h>

#include "core/num.h"
#include "ingest/parse_int.h"

struct ifield {
	const char *k;
	size_t klen;
	int numeric;
	double v;
};

/* End of an escaped token: the first unescaped byte among ',' ' ' '\t' and,
 * when eq, '='. */
static const char *scan_esc(const char *p, const char *e, int eq)
{
	while (p < e) {
		char ch = *p;

		if (ch == '\\' && p + 1 < e) {
			p += 2;
			continue;
		}
		if (ch == ',' || ch == ' ' || ch == '\t' || (eq && ch == '='))
			break;
		p++;
	}
	return p;
}

/* Decode \, \= and '\ ' (other backslashes stay). Returns the length. */
static size_t idecode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n && (s[i + 1] == ',' || s[i + 1] == '=' || s[i + 1] == ' '))
			i++;
		out[o++] = s[i];
	}
	return o;
}

/* Decode then sanitize s into out (needs n + 1 bytes). Returns the start of
 * the result (out or out + 1) and its length in *len. */
static char *put_name(const char *s, size_t n, int cls, int lead, char *out, size_t *len)
{
	size_t d = idecode(s, n, out + 1), i;

	for (i = 0; i < d; i++)
		if (!pc_is((unsigned char)out[1 + i], cls))
			out[1 + i] = '_';
	if (lead && (!d || pc_is((unsigned char)out[1], PC_DIGIT))) {
		out[0] = '_';
		*len = d + 1;
		return out;
	}
	*len = d;
	return out + 1;
}

static int field_value(const char *t, size_t n, double *v)
{
	size_t i;

	if (n >= 2 && (t[n - 1] == 'i' || t[n - 1] == 'u')) {
		size_t st = (t[0] == '-' && t[n - 1] == 'i') ? 1 : 0;

		if (st == n - 1)
			return -1;
		for (i = st; i < n - 1; i++)
			if ((unsigned)(t[i] - '0') > 9)
				return -1;
		return obs_num_parse(t, n - 1, v) ? -1 : 0;
	}
	if ((n == 1 && (t[0] == 't' || t[0] == 'T')) ||
	    (n == 4 && (!memcmp(t, "true", 4) || !memcmp(t, "True", 4) || !memcmp(t, "TRUE", 4)))) {
		*v = 1;
		return 0;
	}
	if ((n == 1 && (t[0] == 'f' || t[0] == 'F')) ||
	    (n == 5 && (!memcmp(t, "false", 5) || !memcmp(t, "False", 5) || !memcmp(t, "FALSE", 5)))) {
		*v = 0;
		return 0;
	}
	if (obs_num_parse(t, n, v) || !isfinite(*v))
		return -1;
	return 0;
}

/* Parse the field at p; returns the byte after its value, NULL on error. */
static const char *next_field(struct obs_pctx *c, const char *p, const char *e, struct ifield *f)
{
	const char *k = p, *t;

	p = scan_esc(p, e, 1);
	if (p == k || p == e || *p != '=') {
		c->why = "invalid field";
		return NULL;
	}
	f->k = k;
	f->klen = (size_t)(p - k);
	p++;
	if (p < e && *p == '"') {
		for (p++; p < e && *p != '"'; p++)
			if (*p == '\\' && p + 1 < e)
				p++;
		if (p == e) {
			c->why = "unterminated string field";
			return NULL;
		}
		f->numeric = 0;
		return p + 1;
	}
	t = p;
	while (p < e && *p != ',' && *p != ' ' && *p != '\t')
		p++;
	if (p == t || field_value(t, (size_t)(p - t), &f->v)) {
		c->why = "invalid field value";
		return NULL;
	}
	f->numeric = 1;
	return p;
}

int obs_p_influx(struct obs_pctx *c, const char *p, const char *e)
{
	struct obs_sample_in *s = &c->s;
	const char *line = p, *m, *tags_end, *fs, *q;
	size_t len = (size_t)(e - p), used = 0, mlen, prefix, nlen;
	char *sc, *key, *name;
	struct ifield f;

	if (obs_p_scratch(c, 6 * len + 512))
		return pc_err(c, "out of memory");
	sc = c->scratch;
	s->fmt = OBS_FMT_INFLUX;
	s->nlabels = 0;
	m = p;
	while (p < e && *p != ',' && *p != ' ' && *p != '\t')
		p += (*p == '\\' && p + 1 < e) ? 2 : 1;
	mlen = (size_t)(p - m);
	if (!mlen)
		return pc_err(c, "invalid metric name");
	while (p < e && *p == ',') {
		struct obs_rawlabel *l = &s->labels[s->nlabels];
		const char *k = ++p, *v;
		size_t vlen;

		p = scan_esc(p, e, 1);
		if (p == k || p == e || *p != '=')
			return pc_err(c, "invalid tag");
		if (s->nlabels >= OBS_MAX_LABELS - 1)
			return pc_err(c, "too many labels");
		l->name = put_name(k, (size_t)(p - k), PC_LNAME, 1, sc + used, &nlen);
		l->nlen = (uint32_t)nlen;
		used += (size_t)(p - k) + 1;
		v = ++p;
		p = scan_esc(p, e, 0);
		if (p == v)
			return pc_err(c, "invalid tag");
		vlen = (size_t)(p - v);
		if (memchr(v, '\\', vlen)) {
			vlen = idecode(v, vlen, sc + used);
			v = sc + used;
			used += vlen;
		}
		if (!obs_utf8_valid(v, vlen))
			return pc_err(c, "invalid UTF-8 in label value");
		if (vlen > OBS_MAX_LABEL_BYTES)
			return pc_err(c, "label value too long");
		l->value = v;
		l->vlen = (uint32_t)vlen;
		l->escaped = 0;
		s->nlabels++;
	}
	tags_end = p;
	if (p == e || (*p != ' ' && *p != '\t'))
		return pc_err(c, "missing field set");
	fs = p = pc_skip_space(p, e);
	if (p == e)
		return pc_err(c, "missing field set");
	/* Pass 1: validate the fields and find the timestamp. */
	for (q = fs;;) {
		q = next_field(c, q, e, &f);
		if (!q)
			return PL_ERR;
		if (q < e && *q == ',') {
			q++;
			continue;
		}
		break;
	}
	if (q < e && *q != ' ' && *q != '\t')
		return pc_err(c, "invalid field value");
	q = pc_skip_space(q, e);
	s->ts_ms = OBS_TS_NONE;
	if (q < e) {
		const char *t = q;
		int r;

		q = pc_token_end(q, e);
		r = obs_p_ts(t, (size_t)(q - t), -6, 1, &s->ts_ms);
		if (r)
			return pc_err(c, pc_ts_why(r));
		if (pc_skip_space(q, e) < e)
			return pc_err(c, "unexpected text after timestamp");
	}
	/* Pass 2: one sample per numeric field. */
	prefix = (size_t)(tags_end - line);
	key = sc + used;
	memcpy(key, line, prefix);
	key[prefix] = 0;
	used += prefix + 1 + len;
	name = put_name(m, mlen, PC_NAME, 1, sc + used, &mlen);
	name[mlen] = '_';
	s->key = key;
	s->name = name;
	for (q = fs;;) {
		q = next_field(c, q, e, &f);
		if (f.numeric) {
			size_t i, flen = idecode(f.k, f.klen, name + mlen + 1);
			int r;

			for (i = 0; i < flen; i++)
				if (!pc_is((unsigned char)name[mlen + 1 + i], PC_NAME))
					name[mlen + 1 + i] = '_';
			memcpy(key + prefix + 1, f.k, f.klen);
			s->keylen = prefix + 1 + f.klen;
			s->namelen = mlen + 1 + flen;
			s->value = f.v;
			r = pc_emit(c);
			if (r != PL_OK)
				return r;
		}
		if (q < e && *q == ',') {
			q++;
			continue;
		}
		break;
	}
	return PL_OK;
}
