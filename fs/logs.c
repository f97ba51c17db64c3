/* logs.c — logs/: one file per log stream, and search views.
 *
 *   logs/                    FS_DIR: every stream; creating a file creates
 *                            a stream, rm removes one
 *   logs/STREAM              FS_RW: read "TIME LINE" records (streamed from
 *                            the store by offset: tail -f works); write
 *                            appends one record per line
 *   logs/STREAM@RANGE?QUERY[#count|#by=FIELD]   (any of @ ? # present)
 *                            FS_RO, lookup only: a search view; the name is
 *                            parsed (and the query compiled) once at lookup
 *                            into node.priv (struct logview); records are
 *                            streamed from a cursor kept in the open file
 *                            (logview_read), #count and #by rendered whole
 *                            at the first read
 *   logs/STREAM#follow       FS_RO, lookup only: the stream's text like
 *                            logs/STREAM, but a read at its end waits for
 *                            the next line instead of returning end of file
 *                            (poll hook; woken by every append, key
 *                            "logs/STREAM"); poll(2) says when it has more
 *
 * node.arg is the stream name. */
#include "obsfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errlog.h"
#include "logs/logstore.h"

/* ---- search views ----------------------------------------------------------- */

struct logview {
	char *stream;
	int64_t from, to;
	struct obs_logquery *q;
};

static void logview_free(void *p)
{
	struct logview *v = p;
	if (!v)
		return;
	free(v->stream);
	obs_logquery_free(v->q);
	free(v);
}

/* #count and #by=F: a line, or a line per value; rendered whole */
static int logcount_render(struct ofile *o)
{
	const struct logview *v = o->nd.priv;
	return obs_logstore_render_view(obsfs->logs, v->stream, v->from, v->to, v->q, obsfs->timefmt,
					&o->content);
}

static const struct fs_kind logcount_kind = {
	.name = "log count view",
	.type = FS_RO,
	.render = logcount_render,
};

/* Record views stream (stream.c): each piece is the next records of the
 * open file's cursor, up to what the read asked for (whole records, so a
 * little more) and at most LOGVIEW_STEP bytes. A seek backwards rewinds
 * the cursor: the same records again (what the view covers is fixed at
 * its first read), the same bytes while retention drops none of them. */
#define LOGVIEW_STEP (256u << 10)

struct logview_open {
	struct fs_stream st;
	struct obs_logcursor *c;
};

static void logview_open_free(void *p)
{
	struct logview_open *lo = p;
	if (lo)
		obs_logcursor_free(lo->c);
	free(lo);
}

static int logview_more(struct ofile *o, size_t want)
{
	struct logview_open *lo = o->priv;
	if (want > o->content.len + LOGVIEW_STEP)
		want = o->content.len + LOGVIEW_STEP;
	int rc = obs_logcursor_render(lo->c, obsfs->timefmt, &o->content, want);
	return rc < 0 ? rc : rc == 0;   /* the cursor's 0 is the end */
}

static void logview_rewind(struct ofile *o)
{
	struct logview_open *lo = o->priv;
	obs_logcursor_rewind(lo->c);
}

static int logview_open(struct ofile *o, int acc)
{
	const struct logview *v = o->nd.priv;
	struct logview_open *lo = calloc(1, sizeof *lo);
	if (!lo)
		return -ENOMEM;
	int rc = obs_logcursor_new(obsfs->logs, v->stream, v->from, v->to, v->q, &lo->c);
	if (rc) {
		free(lo);
		return rc;
	}
	fs_stream_attach(o, &lo->st, logview_more, logview_rewind, logview_open_free);
	return 0;
}

static const struct fs_kind logview_kind = {
	.name = "log view",
	.type = FS_RO,
	.open = logview_open,
	.read = fs_stream_read,
};

/* ---- streams ------------------------------------------------------------------ */

static int stream_size(struct node *n, uint64_t *size)
{
	return obs_logstore_text_size(obsfs->logs, n->arg.data, size);
}

static int stream_read(struct ofile *o, char *buf, size_t size, off_t off)
{
	size_t got = 0;
	int e = obs_logstore_read_text(obsfs->logs, o->nd.arg.data, (uint64_t)off, buf, size, &got);
	return e ? e : (int)got;
}

/* line numbers of the store's rejections count from the start of the write */
static void log_reject(void *ctx, const char *stream, const char *line, size_t n, size_t lineno,
		       const char *why)
{
	struct ofile *o = ctx;
	obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), o->source, o->first_line + lineno, line, n, why);
}

static int stream_consume_lines(struct ofile *o, const char *p, size_t n);

/* The wait key of a stream's followers. */
static void follow_key(const char *stream, char *key, size_t len)
{
	snprintf(key, len, "logs/%s", stream);
}

static void wake_followers(const char *stream)
{
	char key[512];
	follow_key(stream, key, sizeof key);
	obsfs_wake(key);
}

static int stream_consume(struct ofile *o, const char *p, size_t n)
{
	int rc = stream_consume_lines(o, p, n);
	if (rc != -ENOMEM)
		wake_followers(o->nd.arg.data);
	return rc;
}

static int stream_consume_lines(struct ofile *o, const char *p, size_t n)
{
	if (!o->journaled)
		return obs_logstore_append(obsfs->logs, o->nd.arg.data, p, n, obs_time_now(), log_reject, o);
	/* the first lines after a journaled carry end it, in the same record */
	int rc = obs_logstore_append_carried(obsfs->logs, o->nd.arg.data, p, n, obs_time_now(), log_reject, o,
					     o->handle);
	if (rc == 0 || rc == -EINVAL)
		o->journaled = 0;
	return rc;
}

/* the log store journals carries itself (the same rule as metrics) */
static int stream_journal(struct ofile *o)
{
	int e = obs_logstore_carry(obsfs->logs, o->handle, o->nd.arg.data, o->carry.data, o->carry.len);
	if (e == 0)
		o->journaled = o->carry.len > 0;
	return e;
}

static int stream_sync(struct ofile *o)
{
	return obs_logstore_sync(obsfs->logs);
}

static int stream_unlink(struct node *n)
{
	int rc = obs_logstore_remove(obsfs->logs, n->arg.data);
	if (!rc)
		wake_followers(n->arg.data);   /* their reads end: ENOENT */
	return rc;
}

/* STREAM#follow: readable when the stream has text after off (or is gone:
 * the read then says so). */
static int follow_poll(struct ofile *o, uint64_t off, struct fs_event **wake)
{
	uint64_t size = 0;
	if (obs_logstore_text_size(obsfs->logs, o->nd.arg.data, &size) || size > off)
		return 1;
	char key[512];
	follow_key(o->nd.arg.data, key, sizeof key);
	*wake = fs_event(key);
	return 0;
}

static const struct fs_kind stream_kind = {
	.name = "log stream",
	.type = FS_RW,
	.live = 1,
	.agent = 1,
	.size = stream_size,
	.read = stream_read,
	.consume = stream_consume,
	.journal = stream_journal,
	.sync = stream_sync,
	.unlink = stream_unlink,
};

static const struct fs_kind follow_kind = {
	.name = "log follow",
	.type = FS_RO,
	.live = 1,
	.size = stream_size,
	.read = stream_read,
	.poll = follow_poll,
};

/* ---- logs/ -------------------------------------------------------------------- */

static int fill_stream(void *ctx, const char *stream)
{
	fs_fill_name(ctx, stream);
	return 0;
}

static int logs_list(struct node *n, struct fs_fill *f)
{
	return obs_logstore_streams(obsfs->logs, fill_stream, f);
}

static int logs_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (obs_buf_append(&child->arg, name, n))
		return -ENOMEM;
	const char *s = child->arg.data;
	if (obs_logstore_exists(obsfs->logs, s)) {
		child->kind = &stream_kind;
		return 0;
	}
	if (!strpbrk(s, "@?#"))
		return -ENOENT;
	size_t sl = child->arg.len;
	if (sl > 7 && !memcmp(s + sl - 7, "#follow", 7)) {
		child->arg.data[sl - 7] = 0;
		child->arg.len = sl - 7;
		if (!obs_logstore_exists(obsfs->logs, child->arg.data))
			return -ENOENT;
		child->kind = &follow_kind;
		return 0;
	}
	struct logview *v = calloc(1, sizeof *v);
	if (!v)
		return -ENOMEM;
	child->priv = v;
	child->priv_free = logview_free;
	if (obs_logpath_parse(s, obs_time_now(), &v->stream, &v->from, &v->to, &v->q, NULL, 0) ||
	    !obs_logstore_exists(obsfs->logs, v->stream))
		return -ENOENT;
	child->kind = v->q && (v->q->count || v->q->by) ? &logcount_kind : &logview_kind;
	return 0;
}

static int logs_create(struct node *parent, const char *name, struct node *child, const char *source)
{
	if (strpbrk(name, "@?#") || !obs_logstore_valid_name(name))
		return -EINVAL;
	int rc = obs_logstore_create(obsfs->logs, name);
	if (rc)
		return rc;
	if (obs_buf_puts(&child->arg, name))
		return -ENOMEM;
	child->kind = &stream_kind;
	return 0;
}

static const struct fs_kind logs_dir = {
	.name = "logs",
	.type = FS_DIR,
	.list = logs_list,
	.lookup = logs_lookup,
	.create = logs_create,
};

const struct fs_subtree fs_subtree_logs = {
	.name = "logs",
	.kind = &logs_dir,
	.readme =
"  logs/STREAM         one file per log stream: echo LINE >> logs/app; cat -> \"TIME LINE\"\n"
"  logs/STREAM@RANGE?QUERY[#count|#by=FIELD]\n"
"                      a search view: logs/app@-1h?level>=error&timeout  logs/nginx?status=404#count\n"
"  logs/STREAM#follow  the stream, but reading at its end waits for the next line (cat, poll(2))\n",
};
