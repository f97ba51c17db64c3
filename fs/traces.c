/* traces.c — the traces/ subtree of obsfsd (over lib/traces/traces.h):
 *
 *   traces/ingest                 write spans (OTLP/JSON documents, simple JSON lines)
 *   traces/policy                 tail-sampling policies; a write replaces them at close
 *   traces/TRACE_ID               a kept trace's spans as JSON lines   (lookup only)
 *   traces/TRACE_ID.tree          its waterfall                         (lookup only)
 *   traces/TRACE_ID.logs          "STREAM TIME LINE" of every log record carrying
 *                                 trace_id=TRACE_ID, for any trace id, kept or
 *                                 not (lookup only; streamed, traces_logs.c)
 *   traces/@RANGE[?QUERY]  traces/?QUERY
 *                                 search views (lookup only): one line per trace
 *   traces/services/SVC/operations/OP
 *                                 what was seen; OP reads as the search view
 *                                 service=SVC&operation=OP over everything kept
 *
 * Every entry is a node kind of the tree table (tree.h); node.arg holds
 * the trace id, the search view's name or the service, node.arg2 the
 * operation. A ticker thread drives decisions, RED metrics, checkpoints
 * and retention. */
#include "obsfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/errlog.h"
#include "core/fault.h"
#include "core/labels.h"
#include "traces/policy.h"
#include "traces/span.h"
#include "traces/traces.h"
#include "traces/tstore.h"

#define TICK_MS 200

static pthread_t ticker;
static atomic_int ticker_stop;
static int ticker_started;

static void *tick_main(void *arg)
{
	while (!atomic_load(&ticker_stop)) {
		struct timespec ts = { 0, TICK_MS * 1000000L };
		nanosleep(&ts, NULL);
		int rc = obs_traces_tick(obsfs->traces, obs_time_now());
		if (rc && rc != -ENOSPC && rc != -EIO)
			fprintf(stderr, "obsfsd: traces: %s\n", strerror(-rc));
	}
	return NULL;
}

int traces_start(const char *datadir, const struct obs_traces_opts *o, char *err, size_t errlen)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/traces", datadir);
	int rc = obs_traces_open(dir, o, obsfs->db, obs_db_errlog(obsfs->db), obs_time_now(), &obsfs->traces, err, errlen);
	if (rc)
		return rc;
	return 0;
}

/* The ticker runs in the serving process (after the daemon forked). */
void traces_run(void)
{
	if (!ticker_started && obsfs->traces && !pthread_create(&ticker, NULL, tick_main, NULL))
		ticker_started = 1;
}

void traces_stop(void)
{
	if (ticker_started) {
		atomic_store(&ticker_stop, 1);
		pthread_join(ticker, NULL);
		ticker_started = 0;
	}
	obs_traces_close(obsfs->traces);
	obsfs->traces = NULL;
}


static int id_of(const char *s, size_t n, uint8_t *id)
{
	return obs_unhex(s, n, id, 16);
}

struct seen { const char *want; int found; };

static int seen_fn(void *ctx, const char *name)
{
	struct seen *s = ctx;
	if (!strcmp(s->want, name))
		s->found = 1;
	return 0;
}

/* ---- read-only files ------------------------------------------------------------ */

static int trace_render(struct ofile *o)
{
	uint8_t id[16];
	id_of(o->nd.arg.data, 32, id);
	return obs_traces_json(obsfs->traces, id, &o->content);
}

static int tree_render(struct ofile *o)
{
	uint8_t id[16];
	id_of(o->nd.arg.data, 32, id);
	return obs_traces_tree(obsfs->traces, id, 40, obsfs->timefmt, &o->content);
}

static int search_render(struct ofile *o)
{
	const char *name = o->nd.arg.data, *q = strchr(name, '?');
	int64_t from = INT64_MIN, to = INT64_MAX;
	char err[160];
	if (name[0] == '@' &&
	    obs_range_parse(name + 1, q ? (size_t)(q - name - 1) : strlen(name + 1), obs_time_now(), &from, &to))
		return -EINVAL;
	return obs_traces_search(obsfs->traces, q ? q + 1 : "", q ? strlen(q + 1) : 0, from, to, obsfs->timefmt,
				 &o->content, err, sizeof err);
}

/* %-escape a value for a search query */
static void qenc(struct obs_buf *b, const char *s)
{
	for (; *s; s++)
		if (*s == '&' || *s == '%' || *s == '#')
			obs_buf_printf(b, "%%%02X", (unsigned char)*s);
		else
			obs_buf_putc(b, *s);
}

static int op_render(struct ofile *o)
{
	struct obs_buf q;
	char err[160];
	obs_buf_init(&q);
	obs_buf_puts(&q, "service=");
	qenc(&q, o->nd.arg.data);
	obs_buf_puts(&q, "&operation=");
	qenc(&q, o->nd.arg2.data);
	int rc = obs_traces_search(obsfs->traces, q.data, q.len, INT64_MIN, INT64_MAX, obsfs->timefmt, &o->content, err,
				   sizeof err);
	obs_buf_release(&q);
	return rc;
}

static const struct fs_kind trace_kind = { .name = "trace", .type = FS_RO, .render = trace_render };
static const struct fs_kind tree_kind = { .name = "trace waterfall", .type = FS_RO, .render = tree_render };
static const struct fs_kind search_kind = { .name = "trace search", .type = FS_RO, .live = 1, .render = search_render };
static const struct fs_kind op_kind = { .name = "trace operation", .type = FS_RO, .live = 1, .render = op_render };

/* ---- traces/ingest ------------------------------------------------------------------ */

static int ingest_consume(struct ofile *o, const char *p, size_t n)
{
	struct obs_traces_result r;
	int rc = obs_fault("fs.consume");   /* as if the journal write had failed: nothing stored */
	if (rc)
		return rc;
	return obs_traces_ingest(obsfs->traces, p, n, 1, o->source, o->first_line + 1, obs_time_now(), &r);
}

/* the trace store journals the carry itself (the same rule as metrics):
 * only what this write added to it (o->carry_kept bytes are journaled) */
static int ingest_journal(struct ofile *o)
{
	int e = 0;
	if (o->carry.len || o->journaled)
		e = obs_traces_carry(obsfs->traces, o->handle, o->carry.data, o->carry.len,
				     o->journaled ? o->carry_kept : 0);
	if (!e)
		o->journaled = o->carry.len > 0;
	return e;
}

static int ingest_sync(struct ofile *o)
{
	return traces_sync();
}

static size_t ingest_line_max(void)
{
	return obsfs->traces_max_line;
}

static const struct fs_kind ingest_kind = {
	.name = "traces ingest",
	.type = FS_WO,
	.consume = ingest_consume,
	.journal = ingest_journal,
	.sync = ingest_sync,
	.line_max = ingest_line_max,
	.big_writes = 1,   /* cat writes 1 MiB: an eighth of the requests, and less carried over */
	.join_carry = 1,   /* SDK lines are ~186 KB: the carried one is parsed with the rest */
};

/* ---- traces/policy ---------------------------------------------------------------------- */

struct pol { struct obs_buf text; int bad; };

static void pol_free(void *p)
{
	struct pol *x = p;
	if (x) {
		obs_buf_release(&x->text);
		free(x);
	}
}

static int policy_size(struct node *n, uint64_t *size)
{
	struct obs_buf t;
	obs_buf_init(&t);
	int rc = obs_traces_policy_text(obsfs->traces, &t);
	*size = t.len;
	obs_buf_release(&t);
	return rc;
}

static int policy_open(struct ofile *o, int acc)
{
	struct pol *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	obs_buf_init(&x->text);
	o->priv = x;
	o->priv_free = pol_free;
	return 0;
}

static int policy_render(struct ofile *o)
{
	return obs_traces_policy_text(obsfs->traces, &o->content);
}

/* Complete lines are checked as they come (each line stands alone), so
 * the writer's write(2) sees a bad one; the whole text replaces the
 * policies at close. */
static int policy_consume(struct ofile *o, const char *p, size_t n)
{
	struct pol *x = o->priv;
	if (x->bad)
		return -EINVAL;
	if (x->text.len + n > (1u << 20) || obs_buf_append(&x->text, p, n))
		return -EFBIG;
	char err[256];
	struct obs_policy_set *ps;
	int rc = obs_policy_parse(x->text.data, x->text.len, &ps, err, sizeof err);
	if (rc == -EINVAL) {
		obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), "traces/policy", 0, x->text.data, x->text.len, err);
		x->bad = 1;
		return rc;
	}
	if (!rc)
		obs_policy_free(ps);
	return rc;
}

static int policy_end_write(struct ofile *o)
{
	struct pol *x = o->priv;
	if (x->bad)
		return -EINVAL;
	char err[256];
	int rc = obs_traces_set_policy(obsfs->traces, x->text.data ? x->text.data : "", x->text.len, err, sizeof err);
	if (rc)
		obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), "traces/policy", 0, x->text.data, x->text.len, err);
	obs_buf_reset(&x->text);
	return rc;
}

static const struct fs_kind policy_kind = {
	.name = "traces policy",
	.type = FS_RW,
	.live = 1,
	.size = policy_size,
	.open = policy_open,
	.render = policy_render,
	.consume = policy_consume,
	.end_write = policy_end_write,
};

/* ---- services/SVC/operations/OP --------------------------------------------------------- */

struct dfill { struct fs_fill *f; };

static int fill_fn(void *ctx, const char *name)
{
	return fs_fill_encoded(ctx, name);
}

static int ops_list(struct node *n, struct fs_fill *f)
{
	return obs_tstore_operations(obs_traces_store(obsfs->traces), n->arg.data, fill_fn, f);
}

static int ops_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (obs_buf_puts(&child->arg, parent->arg.data) || obs_fname_decode(name, n, &child->arg2))
		return -ENOENT;
	struct seen so = { child->arg2.data, 0 };
	obs_tstore_operations(obs_traces_store(obsfs->traces), child->arg.data, seen_fn, &so);
	if (!so.found)
		return -ENOENT;
	child->kind = &op_kind;
	return 0;
}

static const struct fs_kind ops_dir = { .name = "trace operations", .type = FS_DIR, .list = ops_list, .lookup = ops_lookup };

static int service_list(struct node *n, struct fs_fill *f)
{
	fs_fill_name(f, "operations");
	return 0;
}

static int service_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (!fs_name_eq(name, n, "operations") || obs_buf_puts(&child->arg, parent->arg.data))
		return -ENOENT;
	child->kind = &ops_dir;
	return 0;
}

static const struct fs_kind service_dir = {
	.name = "trace service", .type = FS_DIR, .list = service_list, .lookup = service_lookup,
};

static int services_list(struct node *n, struct fs_fill *f)
{
	return obs_tstore_services(obs_traces_store(obsfs->traces), fill_fn, f);
}

static int services_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (obs_fname_decode(name, n, &child->arg))
		return -ENOENT;
	struct seen sv = { child->arg.data, 0 };
	obs_tstore_services(obs_traces_store(obsfs->traces), seen_fn, &sv);
	if (!sv.found)
		return -ENOENT;
	child->kind = &service_dir;
	return 0;
}

static const struct fs_kind services_dir = {
	.name = "trace services", .type = FS_DIR, .list = services_list, .lookup = services_lookup,
};

/* ---- traces/ ---------------------------------------------------------------------------- */

static int traces_list(struct node *n, struct fs_fill *f)
{
	fs_fill_name(f, "ingest");
	fs_fill_name(f, "policy");
	fs_fill_name(f, "services");
	return 0;
}

static int traces_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	if (!obsfs->traces)
		return -ENOENT;
	if (fs_name_eq(name, n, "ingest")) {
		child->kind = &ingest_kind;
		return 0;
	}
	if (fs_name_eq(name, n, "policy")) {
		child->kind = &policy_kind;
		return 0;
	}
	if (fs_name_eq(name, n, "services")) {
		child->kind = &services_dir;
		return 0;
	}
	if (obs_buf_append(&child->arg, name, n))
		return -ENOMEM;
	const char *s = child->arg.data;
	if (s[0] == '@' || s[0] == '?') {
		/* a search view: checked now, so a bad one is ENOENT, not a read error */
		const char *q = strchr(s, '?');
		int64_t from, to;
		if (s[0] == '@' && obs_range_parse(s + 1, q ? (size_t)(q - s - 1) : strlen(s + 1), obs_time_now(), &from, &to))
			return -ENOENT;
		struct obs_tq tq;
		if (q && obs_tq_parse(q + 1, strlen(q + 1), &tq, NULL, 0))
			return -ENOENT;
		if (q)
			obs_tq_release(&tq);
		child->kind = &search_kind;
		return 0;
	}
	uint8_t id[16];
	if (n < 32 || id_of(s, 32, id))
		return -ENOENT;
	/* ID.logs answers for any trace id: the logs of a trace that sampling
	 * dropped (or that an exemplar names) are still in the log store */
	int kept = obs_tstore_has(obs_traces_store(obsfs->traces), id);
	if (n == 32 && kept)
		child->kind = &trace_kind;
	else if (n == 37 && kept && !memcmp(s + 32, ".tree", 5))
		child->kind = &tree_kind;
	else if (n == 37 && !memcmp(s + 32, ".logs", 5))
		child->kind = &traces_logs_kind;   /* traces_logs.c */
	else
		return -ENOENT;
	child->arg.len = 32;
	child->arg.data[32] = 0;
	return 0;
}

static const struct fs_kind traces_dir = {
	.name = "traces", .type = FS_DIR, .list = traces_list, .lookup = traces_lookup,
};

const struct fs_subtree fs_subtree_traces = {
	.name = "traces",
	.kind = &traces_dir,
	.readme =
"  traces/ingest       write spans: OTLP/JSON (as SDKs and the Collector's file exporter\n"
"                      write them) or JSON lines {trace_id,span_id,parent_span_id,...}\n"
"  traces/policy       tail-sampling policies, one per line (OTel Collector words)\n"
"  traces/ID  traces/ID.tree  traces/ID.logs\n"
"                      a kept trace: spans as JSON lines, its waterfall, its log records\n"
"  traces/@RANGE?QUERY a search view: traces/@-15m?error  traces/@-1h?service=checkout&duration>500ms\n"
"  traces/services/SVC/operations/\n"
"                      services and operations seen\n",
};

int traces_sync(void)
{
	return obsfs->traces ? obs_traces_sync(obsfs->traces, obs_time_now()) : 0;
}

int traces_checkpoint(void)
{
	return obsfs->traces ? obs_traces_checkpoint(obsfs->traces, obs_time_now()) : 0;
}

int traces_status(struct obs_buf *out)
{
	return obsfs->traces ? obs_traces_status(obsfs->traces, out) : 0;
}
