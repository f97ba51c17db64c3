/* statsd.c — one line of StatsD / DogStatsD:
 *
 *   name:value|type[|@rate][|#tag:v,tag2:w][|Tts_s]
 *
 * type is c (counter), g (gauge), ms (timer), h (histogram), d (distribution)
 * or s (set). Kept simple and stateless: each line is one sample of the
 * series `name` (sanitized like Graphite paths) with the DogStatsD tags as
 * labels; no type label is added. Counter values are divided by the sample
 * rate (0 < rate <= 1). A set line records 1 (one occurrence; counting
 * distinct members needs state the parser does not keep). Gauge deltas
 * ("+3", "-3") are stored as the plain value. A tag without ':' is ignored.
 * The timestamp is the DogStatsD |T seconds section or OBS_TS_NONE; other
 * sections are ignored. The key is the name and the tag text as written,
 * joined by a NUL, in the parser scratch. For aggregators (obs-ship's StatsD
 * listener, lib/ingest/statsagg.c) the sample also carries the type, the
 * sample rate, the sign of a gauge delta and a set's member (st_* fields). */
#include <string.h>

#include "core/num.h"
#include "ingest/parse_int.h"

int obs_p_statsd(struct obs_pctx *c, const char *p, const char *e)
{
	struct obs_sample_in *s = &c->s;
	const char *colon, *bar, *sec, *te, *tags = NULL, *tagse = NULL;
	size_t len = (size_t)(e - p), used;
	double rate = 1;
	char *sc, type;

	if (obs_p_scratch(c, 3 * len + 512))
		return pc_err(c, "out of memory");
	sc = c->scratch;
	s->fmt = OBS_FMT_STATSD;
	s->nlabels = 0;
	s->ts_ms = OBS_TS_NONE;
	colon = memchr(p, ':', len);
	if (!colon)
		return pc_err(c, "missing value");
	if (colon == p)
		return pc_err(c, "invalid metric name");
	bar = memchr(colon + 1, '|', (size_t)(e - colon - 1));
	if (!bar)
		return pc_err(c, "invalid metric type");
	if (bar == colon + 1)
		return pc_err(c, "missing value");
	sec = bar + 1;
	te = memchr(sec, '|', (size_t)(e - sec));
	if (!te)
		te = e;
	if (te - sec == 1 && strchr("cghds", *sec))
		type = *sec;
	else if (te - sec == 2 && !memcmp(sec, "ms", 2))
		type = 'm';
	else
		return pc_err(c, "invalid metric type");
	while (te < e) {
		sec = te + 1;
		te = memchr(sec, '|', (size_t)(e - sec));
		if (!te)
			te = e;
		if (sec == te)
			continue;
		if (*sec == '@') {
			if (obs_num_parse(sec + 1, (size_t)(te - sec - 1), &rate) || !(rate > 0 && rate <= 1))
				return pc_err(c, "invalid sample rate");
		} else if (*sec == '#') {
			tags = sec + 1;
			tagse = te;
		} else if (*sec == 'T') {
			int r = obs_p_ts(sec + 1, (size_t)(te - sec - 1), 3, 0, &s->ts_ms);

			if (r)
				return pc_err(c, pc_ts_why(r));
		}
	}
	s->st_type = type;
	s->st_rate = rate;
	s->st_sign = 0;
	s->st_member = NULL;
	s->st_memberlen = 0;
	if (type == 's') {
		s->value = 1;
		s->st_member = colon + 1;
		s->st_memberlen = (size_t)(bar - colon - 1);
	} else {
		if (type == 'g' && (colon[1] == '+' || colon[1] == '-'))
			s->st_sign = colon[1];
		if (obs_num_parse(colon + 1, (size_t)(bar - colon - 1), &s->value))
			return pc_err(c, "invalid value");
		if (type == 'c')
			s->value /= rate;
	}
	s->name = sc;
	s->namelen = obs_p_sanitize(p, (size_t)(colon - p), PC_NAME, sc);
	used = s->namelen;
	s->key = sc + used;
	memcpy(sc + used, p, (size_t)(colon - p));
	used += (size_t)(colon - p);
	sc[used++] = 0;
	if (tags) {
		const char *t = tags;

		memcpy(sc + used, tags, (size_t)(tagse - tags));
		used += (size_t)(tagse - tags);
		while (t < tagse) {
			const char *ce = memchr(t, ',', (size_t)(tagse - t)), *kc;
			struct obs_rawlabel *l = &s->labels[s->nlabels];

			if (!ce)
				ce = tagse;
			kc = memchr(t, ':', (size_t)(ce - t));
			if (kc == t)
				return pc_err(c, "invalid tag");
			if (kc) {
				if (s->nlabels >= OBS_MAX_LABELS - 1)
					return pc_err(c, "too many labels");
				if (!obs_utf8_valid(kc + 1, (size_t)(ce - kc - 1)))
					return pc_err(c, "invalid UTF-8 in label value");
				if (ce - kc - 1 > OBS_MAX_LABEL_BYTES)
					return pc_err(c, "label value too long");
				l->name = sc + used;
				l->nlen = (uint32_t)obs_p_sanitize(t, (size_t)(kc - t), PC_LNAME, sc + used);
				used += l->nlen;
				l->value = kc + 1;
				l->vlen = (uint32_t)(ce - kc - 1);
				l->escaped = 0;
				s->nlabels++;
			}
			t = ce + 1;
		}
	}
	s->keylen = (size_t)(colon - p) + 1 + (tags ? (size_t)(tagse - tags) : 0);
	return pc_emit(c);
}
