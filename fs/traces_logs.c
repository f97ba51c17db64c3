/* traces_logs.c — traces/TRACE_ID.logs: the log records of every log
 * stream that carry trace_id=TRACE_ID, as "STREAM TIME LINE" lines.
 *
 * Order: the streams in name order (those that exist at the open), and
 * each stream's records in arrival order, as logs/STREAM?trace_id=ID gives
 * them. The text is streamed (stream.c): each stream is searched through
 * its own cursor (obs_logcursor, the mechanism of the log search views,
 * logs.c), made when the reader reaches that stream, so the daemon holds
 * one stream's frame and plan, not the answer, and what each stream's part
 * covers is fixed when the reader gets to it. A seek backwards rewinds the
 * cursors made so far: the same bytes again. A stream removed before the
 * reader reaches it has no records here.
 *
 * node.arg is the trace id (32 hex digits, checked by traces.c's lookup). */
#include "obsfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vec.h"
#include "logs/logquery.h"
#include "logs/logstore.h"

/* the most one piece adds to the window, as logs.c's LOGVIEW_STEP */
#define TLOGS_STEP (256u << 10)

struct tlogs_open {
	struct fs_stream st;
	struct obs_logquery *q;       /* trace_id=ID */
	char **names;                 /* the streams at open, sorted */
	size_t n, cap;
	struct obs_logcursor **c;     /* c[i]: stream i's, once reached (NULL before, or when it is gone) */
	size_t cur;                   /* the stream being read */
	struct obs_buf recs;          /* its next records, "TIME LINE\n", before the prefix */
};

static void tlogs_open_free(void *p)
{
	struct tlogs_open *t = p;
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		obs_logcursor_free(t->c[i]);
		free(t->names[i]);
	}
	free(t->c);
	free(t->names);
	obs_logquery_free(t->q);
	obs_buf_release(&t->recs);
	free(t);
}

static int add_name(void *ctx, const char *stream)
{
	struct tlogs_open *t = ctx;
	if (OBS_VEC_RESERVE(t->names, t->cap, t->n + 1) < 0 || !(t->names[t->n] = strdup(stream)))
		return -ENOMEM;
	t->n++;
	return 0;
}

/* "STREAM " before each of t->recs's lines, onto out */
static int put_prefixed(const char *stream, const struct obs_buf *recs, struct obs_buf *out)
{
	size_t sl = strlen(stream);
	for (size_t pos = 0; pos < recs->len;) {
		const char *nl = memchr(recs->data + pos, '\n', recs->len - pos);
		size_t e = nl ? (size_t)(nl - recs->data) + 1 : recs->len;
		int rc = obs_buf_reserve(out, sl + 1 + (e - pos));
		if (rc < 0)
			return rc;
		memcpy(out->data + out->len, stream, sl);
		out->data[out->len + sl] = ' ';
		memcpy(out->data + out->len + sl + 1, recs->data + pos, e - pos);
		out->len += sl + 1 + (e - pos);
		out->data[out->len] = 0;
		pos = e;
	}
	return 0;
}

static int tlogs_more(struct ofile *o, size_t want)
{
	struct tlogs_open *t = o->priv;
	if (want > o->content.len + TLOGS_STEP)
		want = o->content.len + TLOGS_STEP;
	while (o->content.len < want) {
		if (t->cur == t->n)
			return 1;
		int rc = 0;
		if (!t->c[t->cur])
			rc = obs_logcursor_new(obsfs->logs, t->names[t->cur], INT64_MIN, INT64_MAX, t->q, &t->c[t->cur]);
		obs_buf_reset(&t->recs);
		if (rc == 0)
			rc = obs_logcursor_render(t->c[t->cur], obsfs->timefmt, &t->recs, want - o->content.len);
		if (rc >= 0 && t->recs.len)
			rc = put_prefixed(t->names[t->cur], &t->recs, &o->content) < 0 ? -ENOMEM : rc;
		if (rc == -ENOENT)   /* removed before the reader got to it */
			rc = 0;
		if (rc < 0)
			return rc;
		if (rc == 0)
			t->cur++;
	}
	return 0;
}

static void tlogs_rewind(struct ofile *o)
{
	struct tlogs_open *t = o->priv;
	for (size_t i = 0; i < t->n; i++)
		if (t->c[i])
			obs_logcursor_rewind(t->c[i]);
	t->cur = 0;
}

static int tlogs_open(struct ofile *o, int acc)
{
	struct tlogs_open *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	obs_buf_init(&t->recs);
	char qs[64];
	snprintf(qs, sizeof qs, "trace_id=%s", o->nd.arg.data);
	int rc = obs_logquery_parse(qs, strlen(qs), &t->q, NULL, 0) ? -EINVAL : 0;
	if (!rc && obsfs->logs)
		rc = obs_logstore_streams(obsfs->logs, add_name, t);
	if (!rc && t->n && !(t->c = calloc(t->n, sizeof *t->c)))
		rc = -ENOMEM;
	if (rc) {
		tlogs_open_free(t);
		return rc;
	}
	fs_stream_attach(o, &t->st, tlogs_more, tlogs_rewind, tlogs_open_free);
	return 0;
}

const struct fs_kind traces_logs_kind = {
	.name = "trace logs",
	.type = FS_RO,
	.live = 1,
	.open = tlogs_open,
	.read = fs_stream_read,
};
