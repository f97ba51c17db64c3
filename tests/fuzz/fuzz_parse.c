// sources: lib/ingest/parse.c lib/ingest/prom.c lib/ingest/influx.c lib/ingest/graphite.c lib/ingest/statsd.c lib/core/num.c lib/core/obstime.c lib/core/labels.c lib/core/buf.c lib/core/utf8.c
/* fuzz_parse.c — libFuzzer harness for the metric line parsers and number
 * text. The first byte picks the format (AUTO, PROM, INFLUX, GRAPHITE,
 * STATSD); the rest is parsed as a buffer that is NOT NUL-terminated (an
 * exact-size heap copy, so ASan catches any read past n). Every sample must
 * carry a valid metric name (or none, Prometheus `{a="1"} 1`), a timestamp
 * that is absent or within OBS_TIME_VALID_MIN..MAX, valid label names, UTF-8 label values without
 * NUL, and a key of non-zero length; every byte handed out is read. Accepted
 * values must survive obs_num_format -> obs_num_parse_sample bit-exactly
 * (numbers and staleness markers). An exemplar is only on a Prometheus
 * line: a valid one is a label set "{...}" with a value and a timestamp
 * absent or valid, an invalid one has a reason; its text starts with '#'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "core/num.h"
#include "core/obstime.h"
#include "ingest/parse.h"

static int utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len, k;
		unsigned cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			len = 2, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			len = 3, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			len = 4, cp = c & 0x07;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static volatile unsigned sink;

static void touch(const char *p, size_t n)
{
	unsigned h = 0;

	for (size_t i = 0; i < n; i++)
		h = h * 31 + (unsigned char)p[i];
	sink += h;
}

static void check_value(double v)
{
	char buf[32];
	double back;
	int n = obs_num_format(v, buf);

	if (n <= 0 || n >= 32 || obs_num_parse_sample(buf, (size_t)n, &back))
		abort();
	if ((v == v || obs_is_stale(v)) && memcmp(&v, &back, sizeof(v)))
		abort();   /* a staleness marker (`stale`) keeps its bits too */
}

static int on_sample(void *ctx, const struct obs_sample_in *s)
{
	struct obs_labels l;

	(void)ctx;
	/* a Prometheus line may have no metric name (`{a="1"} 1`) */
	if (!s->keylen || (!(s->fmt == OBS_FMT_PROM && !s->namelen) &&
			   !obs_metric_name_valid(s->name, s->namelen)))
		abort();
	/* a timestamp is absent or within the valid times */
	if (s->ts_ms != OBS_TS_NONE && !obs_time_valid(s->ts_ms))
		abort();
	touch(s->key, s->keylen);
	if (s->nlabels < 0 || s->nlabels >= OBS_MAX_LABELS)
		abort();
	for (int i = 0; i < s->nlabels; i++) {
		const struct obs_rawlabel *r = &s->labels[i];

		if (!obs_label_name_valid(r->name, r->nlen) || r->vlen > OBS_MAX_LABEL_BYTES)
			abort();
		if (!utf8_ok((const unsigned char *)r->value, r->vlen))
			abort();
		touch(r->value, r->vlen);
	}
	check_value(s->value);
	if (s->exemplar && (s->fmt != OBS_FMT_PROM || !s->ex_textlen || s->ex_text[0] != '#'))
		abort();
	if (s->exemplar > 0) {
		if (s->ex_labelslen < 2 || s->ex_labels[0] != '{' || s->ex_labels[s->ex_labelslen - 1] != '}' ||
		    (s->ex_ts != OBS_TS_NONE && !obs_time_valid(s->ex_ts)) || s->ex_why)
			abort();
		touch(s->ex_labels, s->ex_labelslen);
		check_value(s->ex_value);
	} else if (s->exemplar < 0 && (!s->ex_why || !*s->ex_why)) {
		abort();
	}
	if (s->exemplar)
		touch(s->ex_text, s->ex_textlen);
	obs_labels_init(&l);
	obs_labels_build(&l, s->name, s->namelen, s->labels, s->nlabels, NULL);
	obs_labels_release(&l);
	return 0;
}

static void on_meta(void *ctx, const char *kind, const char *name, size_t namelen, const char *text,
		    size_t textlen)
{
	(void)ctx;
	touch(kind, strlen(kind));
	touch(name, namelen);
	touch(text, textlen);
}

static void on_error(void *ctx, size_t lineno, const char *line, size_t len, const char *why)
{
	(void)ctx;
	(void)lineno;
	if (!why || !*why)
		abort();
	touch(line, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct obs_parse_cb cb = { on_sample, on_meta, on_error, NULL };
	char *buf;
	int64_t ts;
	double v;
	const char *why;
	long r;

	if (!size)
		return 0;
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	r = obs_parse_lines(buf, size - 1, (enum obs_fmt)(data[0] % 5), 1, &cb);
	if (r < 0)
		abort();
	if (obs_parse_value_line(buf, size - 1, &ts, &v, &why) == 0)
		check_value(v);
	else if (!why)
		abort();
	if (size - 1 < 64 && obs_num_parse(buf, size - 1, &v) == 0)
		check_value(v);
	free(buf);
	return 0;
}
