// sources: lib/logs/logseg.c lib/logs/logseg_enc.c lib/logs/logseg_search.c lib/core/corrupt.c lib/logs/logquery.c lib/logs/logline.c lib/core/obstime.c lib/core/crc32c.c lib/core/buf.c lib/core/strmap.c lib/core/regex.c
/* fuzz_logseg.c — libFuzzer harness for log segments. Odd first byte: the
 * rest is loaded as a segment image (must be rejected or searchable without
 * faults). Even: the rest, split on '\n', is encoded as a segment, loaded
 * back and every record must come back byte for byte; the first line, taken
 * as a query, must select through the index exactly what a full scan does,
 * and a search resumed after every record (obs_logseg_search_from) the same.
 * Either way a segment that loads is re-encoded (frames recompressed, index
 * copied): the result must load and hold the same records. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/obstime.h"
#include "logs/logquery.h"
#include "logs/logseg.h"

struct chk {
	size_t i, n;
	const char **l;
	uint32_t *len;
	int64_t *ts;
};

static int chk_rec(void *ctx, int64_t ts, const char *line, size_t n)
{
	struct chk *c = ctx;
	if (c->l) {
		if (c->i >= c->n || n != c->len[c->i] || memcmp(line, c->l[c->i], n) || ts != c->ts[c->i])
			abort();
	}
	c->i++;
	return 0;
}

static int chk_one(void *ctx, int64_t ts, const char *line, size_t n)
{
	chk_rec(ctx, ts, line, n);
	return 1;
}

/* the search again, stopped after every record and resumed from its
 * cursor (what obs_logcursor does): the same records, counted into c */
static void stepped(struct obs_logseg *s, const struct obs_logquery *q, struct chk *c)
{
	struct obs_logseg_cursor cur;
	obs_logseg_cursor_init(&cur);
	uint64_t line = 0;
	int r;
	while ((r = obs_logseg_search_from(s, OBS_TIME_MIN, OBS_TIME_MAX, q, &cur, &line, UINT64_MAX, chk_one, c,
					   NULL)) == 1)
		;
	obs_logseg_cursor_release(&cur);
	if (r != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct obs_logseg *s;
	if (data[0] & 1) {
		void *copy = malloc(size - 1 ? size - 1 : 1);
		if (!copy)
			return 0;
		memcpy(copy, data + 1, size - 1);
		if (obs_logseg_load(copy, size - 1, 1, &s) == 0) {
			struct chk c = { 0, 0, NULL, NULL, NULL };
			int sr = obs_logseg_search(s, OBS_TIME_MIN, OBS_TIME_MAX, NULL, chk_rec, &c, NULL);
			if (sr == 0) {
				struct chk cs = { 0, 0, NULL, NULL, NULL };
				stepped(s, NULL, &cs);
				if (cs.i != c.i)
					abort();
			}
			struct obs_buf rb;
			obs_buf_init(&rb);
			if (sr == 0 && obs_logseg_reencode(s, 2, &rb) == 0) {
				struct obs_logseg *r2;
				struct chk c2 = { 0, 0, NULL, NULL, NULL };
				if (obs_logseg_load(rb.data, rb.len, 0, &r2) != 0 ||
				    obs_logseg_search(r2, OBS_TIME_MIN, OBS_TIME_MAX, NULL, chk_rec, &c2, NULL) != 0 ||
				    c2.i != c.i)
					abort();
				obs_logseg_close(r2);
			}
			obs_buf_release(&rb);
			char buf[256];
			size_t got;
			obs_logseg_read_text(s, 0, buf, sizeof(buf), &got);
			obs_logseg_close(s);
		} else
			free(copy);
		return 0;
	}
	size_t cap = 1;
	for (size_t i = 1; i < size; i++)
		cap += data[i] == '\n';
	const char **l = malloc(cap * sizeof(*l));
	uint32_t *len = malloc(cap * sizeof(*len));
	int64_t *ts = malloc(cap * sizeof(*ts));
	size_t n = 0;
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	while (l && len && ts && p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		l[n] = p;
		len[n] = (uint32_t)(e - p);
		ts[n] = (int64_t)(n * 37 % 11) * 1000 - 5000;
		n++;
		p = e + 1;
	}
	struct obs_logseg_input in = { n, ts, l, len, 7 };
	struct obs_logseg_opts o = { 64, 1, 4, 0 };
	struct obs_buf b;
	obs_buf_init(&b);
	if (l && len && ts && obs_logseg_encode(&in, &o, &b) == 0) {
		if (obs_logseg_load(b.data, b.len, 0, &s) != 0)
			abort();
		struct chk c = { 0, n, l, len, ts };
		if (obs_logseg_search(s, OBS_TIME_MIN, OBS_TIME_MAX, NULL, chk_rec, &c, NULL) != 0 || c.i != n)
			abort();
		struct chk cs = { 0, n, l, len, ts };
		stepped(s, NULL, &cs);
		if (cs.i != n)
			abort();
		struct obs_buf rb;
		obs_buf_init(&rb);
		struct obs_logseg *r2;
		struct chk c2 = { 0, n, l, len, ts };
		if (obs_logseg_reencode(s, 3, &rb) != 0 || obs_logseg_load(rb.data, rb.len, 0, &r2) != 0 ||
		    obs_logseg_search(r2, OBS_TIME_MIN, OBS_TIME_MAX, NULL, chk_rec, &c2, NULL) != 0 || c2.i != n)
			abort();
		obs_logseg_close(r2);
		obs_buf_release(&rb);
		/* the first line as a query (else a level filter): the index-planned
		 * count and search must equal a full scan */
		struct obs_logquery *q;
		if ((n && obs_logquery_parse(l[0], len[0], &q, NULL, 0) == 0) ||
		    obs_logquery_parse("level>=warn", 11, &q, NULL, 0) == 0) {
			uint64_t cnt = 0;
			struct chk all = { 0, 0, NULL, NULL, NULL };
			obs_logseg_count(s, OBS_TIME_MIN, OBS_TIME_MAX, q, NULL, NULL, NULL, &cnt, NULL);
			size_t want = 0;
			for (size_t i = 0; i < n; i++)
				want += obs_logquery_match(q, l[i], len[i]);
			struct chk sc = { 0, 0, NULL, NULL, NULL };
			obs_logseg_search(s, OBS_TIME_MIN, OBS_TIME_MAX, q, chk_rec, &sc, NULL);
			struct chk ss = { 0, 0, NULL, NULL, NULL };
			stepped(s, q, &ss);
			if (cnt != want || sc.i != want || ss.i != want)
				abort();
			(void)all;
			obs_logquery_free(q);
		}
		obs_logseg_close(s);
	}
	obs_buf_release(&b);
	free(l);
	free(len);
	free(ts);
	return 0;
}
