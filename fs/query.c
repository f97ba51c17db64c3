/* query.c — PromQL in the tree: the query transaction file and saved
 * queries.
 *
 *   query                FS_TXN: open read-write, write a request, read
 *                        its answer from the same descriptor
 *   queries/             FS_DIR: the saved queries; creating a file saves
 *                        one, rm deletes one
 *   queries/NAME         FS_RW: write an expression to save it (durable,
 *                        DATADIR/queries/NAME, lib/query/saved.c); read:
 *                        its answer at now
 *   queries/NAME@SPEC[#json], queries/NAME#json
 *                        FS_RO, lookup only: the answer at SPEC (@TIME,
 *                        @START..END, @RANGE:STEP as in requests)
 *
 * A request (lib/query/request.c) is "EXPR [@TIME | @START..END |
 * @RANGE:STEP] [#json]". Each write(2) that ends a line ends a request:
 * everything written since the last answer is evaluated then, under the
 * open file's lock, and the answer (text, or Prometheus' data object for
 * #json) waits for the reads; a request without a final newline is
 * evaluated at the first read. A request that fails (parse error, too many
 * samples, timeout, native histograms) makes that write fail with EINVAL,
 * logs "query: MESSAGE" to MOUNT/errors, and is answered "error: MESSAGE"
 * (a parse error's MESSAGE starts with LINE:COL). Reads serve the answer
 * from the offset of the first read after the request, so `exec 3<>query;
 * echo up >&3; cat <&3` (whose read starts where the write ended) and a
 * pread at 0 both see all of it. A write after an answer starts the next
 * request.
 *
 * A saved query's read that fails returns EINVAL (the message goes to
 * MOUNT/errors); writing a bad expression fails the write with EINVAL, and
 * nothing is saved; one that is only cut off at its end ("sum(") may go on
 * in the next lines, so it is refused by close(2) (EINVAL, an errors line);
 * a good one is saved when the file is closed. The
 * xattr user.obs.expr holds a saved query's expression. */
#include "obsfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errlog.h"
#include "query/dbstore.h"
#include "query/saved.h"

static struct obs_query_opts qopts;          /* fixed after fs_query_setup */
static struct obs_query_saved *saved;        /* thread-safe itself */

int fs_query_setup(const char *datadir, uint64_t max_samples, int64_t timeout_ms, char *err, size_t errlen)
{
	obs_query_opts_default(&qopts);
	qopts.max_samples = max_samples;
	qopts.timeout_ms = timeout_ms;
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/queries", datadir);
	int rc = obs_query_saved_open(dir, &saved);
	if (rc)
		snprintf(err, errlen, "cannot open the saved queries '%s': %s", dir, strerror(-rc));
	return rc;
}

void fs_query_teardown(void)
{
	obs_query_saved_close(saved);
	saved = NULL;
}

static void log_error(const char *source, const char *text, size_t n, const char *why)
{
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), source, 0, text, n, why);
}

/* ---- query: the transaction file -------------------------------------- */

struct txn {
	struct obs_buf req;      /* the request being written */
	int answered;            /* content holds the answer of req */
	int based;               /* base is set */
	uint64_t base;           /* offset of the first read of the answer */
};

static void txn_free(void *p)
{
	struct txn *t = p;
	if (!t)
		return;
	obs_buf_release(&t->req);
	free(t);
}

static int txn_open(struct ofile *o, int acc)
{
	struct txn *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	obs_buf_init(&t->req);
	o->priv = t;
	o->priv_free = txn_free;
	return 0;
}

/* Evaluate t->req into o->content. 0 or -EINVAL (answered "error: ..."). */
static int txn_answer(struct ofile *o, struct txn *t)
{
	struct obs_query_store st = obs_query_db_store_logs(obsfs->db, obsfs->logs);
	char err[512];
	obs_buf_reset(&o->content);
	t->answered = 1;
	t->based = 0;
	int rc = obs_query_answer(&qopts, &st, t->req.data ? t->req.data : "", t->req.len, obs_time_now(),
				  obsfs->timefmt, &o->content, err, sizeof err);
	if (rc == -ENOMEM && !o->content.len)
		return rc;
	if (rc) {
		log_error("query", t->req.data ? t->req.data : "", t->req.len, err);
		return -EINVAL;
	}
	return 0;
}

static int txn_consume(struct ofile *o, const char *p, size_t n)
{
	struct txn *t = o->priv;
	if (t->answered) {   /* the next request */
		obs_buf_reset(&t->req);
		obs_buf_reset(&o->content);
		t->answered = 0;
	}
	if (obs_buf_append(&t->req, p, n))
		return -ENOMEM;
	int rc = txn_answer(o, t);
	/* a last line without newline comes from the end of the write (a
	 * read or close): the answer tells, there is no write to fail */
	return n && p[n - 1] != '\n' && rc == -EINVAL ? 0 : rc;
}

/* Our own read, not the dispatch's: the answer is served from the offset of
 * the first read after the request (where the write left the descriptor's
 * offset), not from 0. */
static int txn_read(struct ofile *o, char *buf, size_t size, off_t off)
{
	struct txn *t = o->priv;
	pthread_mutex_lock(&o->mu);
	int rc = 0;
	if (o->wrote) {   /* a request without its newline is consumed (and answered) here */
		rc = fs_end_of_write(o);
		o->wrote = 0;
		if (rc == -EINVAL)
			rc = 0;   /* the answer says why */
	}
	if (!rc && t->answered) {
		if (!t->based) {
			t->base = (uint64_t)off;
			t->based = 1;
		}
		uint64_t pos = (uint64_t)off >= t->base ? (uint64_t)off - t->base : (uint64_t)off;
		if (pos < o->content.len) {
			size_t k = o->content.len - (size_t)pos;
			if (k > size)
				k = size;
			memcpy(buf, o->content.data + pos, k);
			rc = (int)k;
		}
	}
	pthread_mutex_unlock(&o->mu);
	return rc;
}

static const struct fs_kind query_kind = {
	.name = "query",
	.type = FS_TXN,
	.open = txn_open,
	.consume = txn_consume,
	.read = txn_read,
};

const struct fs_subtree fs_subtree_query = {
	.name = "query",
	.kind = &query_kind,
	.readme =
"  query               PromQL: open read-write, write EXPR [@TIME|@START..END:STEP] [#json],\n"
"                      read the answer: exec 3<>query; echo 'up' >&3; cat <&3\n",
};

/* ---- queries/: saved queries ---------------------------------------------- */

struct saveq {
	char *name;
	int view;                       /* NAME@SPEC or NAME#json: read only */
	int created;                    /* made by create, not saved yet */
	struct obs_query_request r;     /* the evaluation time(s) and format */
};

static void saveq_free(void *p)
{
	struct saveq *q = p;
	if (!q)
		return;
	free(q->name);
	free(q);
}

/* Evaluate the saved query of the node into out. 0, -ENOENT, -EINVAL. */
static int saved_eval(const struct saveq *q, struct obs_buf *out)
{
	struct obs_buf expr;
	obs_buf_init(&expr);
	int rc = obs_query_saved_get(saved, q->name, &expr);
	if (rc) {
		obs_buf_release(&expr);
		return rc;
	}
	struct obs_query_request r = q->r;
	if (!q->view)
		r.time = obs_time_now();
	r.expr = expr.data;
	struct obs_query_store st = obs_query_db_store_logs(obsfs->db, obsfs->logs);
	char err[512];
	rc = obs_query_answer_req(&qopts, &st, &r, obsfs->timefmt, out, err, sizeof err);
	if (rc && rc != -ENOMEM) {
		char src[256];
		snprintf(src, sizeof src, "queries/%s", q->name);
		log_error(src, expr.data, expr.len, err);
		rc = -EINVAL;
	}
	obs_buf_release(&expr);
	return rc;
}

static int saved_render(struct ofile *o)
{
	obs_buf_reset(&o->content);
	return saved_eval(o->nd.priv, &o->content);
}

/* Names created (open(O_CREAT)) whose expression is not saved yet: they
 * exist for lookups until their last open file is gone. */
static pthread_mutex_t pending_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pending { char *name; int refs; } *pending;   /* protected by pending_mu */
static size_t npending;

static int pending_add(const char *name)
{
	pthread_mutex_lock(&pending_mu);
	int rc = 0;
	size_t i;
	for (i = 0; i < npending && strcmp(pending[i].name, name); i++)
		;
	if (i < npending) {
		pending[i].refs++;
	} else {
		struct pending *np = realloc(pending, (npending + 1) * sizeof *np);
		char *nm = strdup(name);
		if (np)
			pending = np;
		if (!np || !nm) {
			free(nm);
			rc = -ENOMEM;
		} else {
			pending[npending].name = nm;
			pending[npending++].refs = 1;
		}
	}
	pthread_mutex_unlock(&pending_mu);
	return rc;
}

static void pending_drop(const char *name)
{
	pthread_mutex_lock(&pending_mu);
	for (size_t i = 0; i < npending; i++)
		if (!strcmp(pending[i].name, name)) {
			if (--pending[i].refs == 0) {
				free(pending[i].name);
				pending[i] = pending[--npending];
			}
			break;
		}
	pthread_mutex_unlock(&pending_mu);
}

static int pending_has(const char *name)
{
	pthread_mutex_lock(&pending_mu);
	int found = 0;
	for (size_t i = 0; i < npending && !found; i++)
		found = !strcmp(pending[i].name, name);
	pthread_mutex_unlock(&pending_mu);
	return found;
}

/* per open file: what was written, and the pending name it holds */
struct wbuf {
	struct obs_buf b;
	char *pending;
};

static void wbuf_free(void *p)
{
	struct wbuf *w = p;
	if (!w)
		return;
	if (w->pending) {
		pending_drop(w->pending);
		free(w->pending);
	}
	obs_buf_release(&w->b);
	free(w);
}

/* What was written: checked at each write that ends a line (what was
 * written so far must be an expression, or one cut off at its end whose
 * next lines may follow), saved at close (end_write). */
static int saved_open(struct ofile *o, int acc)
{
	const struct saveq *q = o->nd.priv;
	struct wbuf *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	obs_buf_init(&w->b);
	o->priv = w;
	o->priv_free = wbuf_free;
	if (q->created) {   /* created by this open: hold the name until close */
		if (!(w->pending = strdup(q->name)))
			return -ENOMEM;
		pending_drop(q->name);   /* the reference create took moves to the open file */
		return pending_add(q->name);
	}
	return 0;
}

static int saved_consume(struct ofile *o, const char *p, size_t n)
{
	struct obs_buf *b = &((struct wbuf *)o->priv)->b;
	const struct saveq *q = o->nd.priv;
	size_t had = b->len;
	if (obs_buf_append(b, p, n))
		return -ENOMEM;
	struct obs_query_expr *e;
	char err[512];
	size_t len = b->len;
	while (len && (b->data[len - 1] == '\n' || b->data[len - 1] == '\r' || b->data[len - 1] == ' '))
		len--;
	int rc = obs_query_parse(b->data, len, &e, err, sizeof err);
	if (!rc) {
		obs_query_expr_free(e);
		return 0;
	}
	if (rc == -EINVAL && strstr(err, "unexpected end of input"))
		return 0;   /* cut off at its end: more lines may come (judged at close) */
	char src[256];
	snprintf(src, sizeof src, "queries/%s", q->name);
	log_error(src, b->data, b->len, err);
	b->len = had;   /* refused */
	if (b->data)
		b->data[had] = 0;
	return rc == -ENOMEM ? rc : -EINVAL;
}

static int saved_end_write(struct ofile *o)
{
	struct obs_buf *b = &((struct wbuf *)o->priv)->b;
	const struct saveq *q = o->nd.priv;
	if (!b->len)
		return 0;
	char err[512];
	int rc = obs_query_saved_put(saved, q->name, b->data, b->len, err, sizeof err);
	if (rc) {
		char src[256];
		snprintf(src, sizeof src, "queries/%s", q->name);
		log_error(src, b->data, b->len, err);
	}
	obs_buf_reset(b);
	return rc == -ENOMEM ? rc : rc ? -EINVAL : 0;
}

static int saved_unlink(struct node *n)
{
	const struct saveq *q = n->priv;
	return obs_query_saved_del(saved, q->name);
}

static const char xattr_expr[] = "user.obs.expr";

static int saved_getxattr(struct node *n, const char *name, struct obs_buf *out)
{
	const struct saveq *q = n->priv;
	if (strcmp(name, xattr_expr))
		return -ENODATA;
	return obs_query_saved_get(saved, q->name, out);
}

static int saved_listxattr(struct node *n, struct obs_buf *out)
{
	return obs_buf_append(out, xattr_expr, sizeof xattr_expr);
}

static const struct fs_kind saved_kind = {
	.name = "saved query",
	.type = FS_RW,
	.live = 1,
	.open = saved_open,
	.render = saved_render,
	.consume = saved_consume,
	.end_write = saved_end_write,
	.unlink = saved_unlink,
	.getxattr = saved_getxattr,
	.listxattr = saved_listxattr,
};

static const struct fs_kind saved_view_kind = {
	.name = "saved query view",
	.type = FS_RO,
	.live = 1,
	.render = saved_render,
	.getxattr = saved_getxattr,
	.listxattr = saved_listxattr,
};

static int fill_name(void *ctx, const char *name)
{
	fs_fill_name(ctx, name);
	return 0;
}

static int queries_list(struct node *n, struct fs_fill *f)
{
	return obs_query_saved_list(saved, fill_name, f);
}

/* NAME, NAME#json, NAME@SPEC, NAME@SPEC#json into child. */
static int queries_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	struct saveq *q = calloc(1, sizeof *q);
	if (!q)
		return -ENOMEM;
	child->priv = q;
	child->priv_free = saveq_free;
	if (n >= 5 && !memcmp(name + n - 5, "#json", 5)) {
		q->r.json = 1;
		q->view = 1;
		n -= 5;
	}
	const char *at = memchr(name, '@', n);
	size_t nl = at ? (size_t)(at - name) : n;
	if (!obs_query_saved_name_valid(name, nl))
		return -ENOENT;
	if (!(q->name = strndup(name, nl)))
		return -ENOMEM;
	if (at) {
		q->view = 1;
		if (obs_query_request_spec(at + 1, n - nl - 1, obs_time_now(), &q->r))
			return -ENOENT;
	}
	struct obs_buf tmp;
	obs_buf_init(&tmp);
	int rc = obs_query_saved_get(saved, q->name, &tmp);
	obs_buf_release(&tmp);
	if (rc == -ENOENT && !q->view && pending_has(q->name))
		rc = 0;   /* created, being written */
	if (rc)
		return rc;
	child->kind = q->view ? &saved_view_kind : &saved_kind;
	return 0;
}

/* open(O_CREAT) of a new name: the query exists once an expression is saved */
static int queries_create(struct node *parent, const char *name, struct node *child, const char *source)
{
	if (!obs_query_saved_name_valid(name, strlen(name)))
		return -EINVAL;
	struct saveq *q = calloc(1, sizeof *q);
	if (!q || !(q->name = strdup(name))) {
		free(q);
		return -ENOMEM;
	}
	child->priv = q;
	child->priv_free = saveq_free;
	child->kind = &saved_kind;
	q->created = 1;
	return pending_add(name);
}

static const struct fs_kind queries_dir = {
	.name = "queries",
	.type = FS_DIR,
	.list = queries_list,
	.lookup = queries_lookup,
	.create = queries_create,
};

const struct fs_subtree fs_subtree_queries = {
	.name = "queries",
	.kind = &queries_dir,
	.readme =
"  queries/NAME        saved PromQL: echo EXPR > queries/errors; cat queries/errors (at now);\n"
"                      cat 'queries/errors@-1h:1m' (a range query); NAME#json; rm deletes\n",
};
