/* rootfiles.c — the files at the root: README, ingest, ctl, status, errors.
 *
 *   README    FS_RO: generated from the subtree table (tree.c)
 *   ingest    FS_WO: metric lines in any known format, detected per line
 *   ctl       FS_WO: commands, one per line: sync, compact; else EINVAL
 *   status    FS_RO, live: counts, sizes, rates, top cardinality
 *   errors    FS_RO, live: recent rejected input; an open file grows by the
 *             rejections that come in (tail -f)
 *
 * Their sizes are the length of the text a read returns now, so tail -f
 * and test -s work. */
#include "obsfs.h"

#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/errlog.h"
#include "core/fault.h"
#include "logs/logstore.h"

int sync_all(void)
{
	int rc = obs_db_sync(obsfs->db);
	int rc2 = obs_logstore_sync(obsfs->logs);
	int rc3 = traces_sync();
	return rc ? rc : rc2 ? rc2 : rc3;
}

int compact_all(void)
{
	int rc = obs_db_compact(obsfs->db);
	int rc2 = obs_logstore_flush(obsfs->logs);
	if (!rc2)   /* and re-encode the new segments at the final level now */
		rc2 = obs_logstore_compact(obsfs->logs, 0);
	int rc3 = traces_checkpoint();   /* kept traces into a segment file */
	return rc ? rc : rc2 ? rc2 : rc3;
}

/* A file whose text one function generates (README, status; errors for its
 * size): the kind is embedded, so size and render find the function from
 * the node's kind. Its size is the length of the text now. */
struct text_kind {
	struct fs_kind k;
	int (*text)(struct obs_buf *out);
};

static int text_size(struct node *n, uint64_t *size)
{
	const struct text_kind *t = (const struct text_kind *)n->kind;
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = t->text(&b);
	*size = b.len;
	obs_buf_release(&b);
	return rc;
}

static int text_render(struct ofile *o)
{
	const struct text_kind *t = (const struct text_kind *)o->nd.kind;
	return t->text(&o->content);
}

/* ---- README ---------------------------------------------------------------- */

static const struct text_kind readme_kind = {
	.k = { .name = "README", .type = FS_RO, .size = text_size, .render = text_render },
	.text = fs_readme_render,
};

const struct fs_subtree fs_subtree_readme = {
	.name = "README",
	.kind = &readme_kind.k,
};

/* ---- ingest -------------------------------------------------------------- */

static int ingest_consume(struct ofile *o, const char *p, size_t n)
{
	int rc = obs_fault("fs.consume");   /* as if the WAL write had failed: nothing stored */
	if (rc)
		return rc;
	struct obs_ingest_result r = { 0 };
	rc = obs_db_ingest(obsfs->db, p, n, OBS_FMT_AUTO, o->source, o->first_line + 1, &r);
	if (rc)
		return rc;
	return r.err ? -r.err : 0;
}

static int ingest_journal(struct ofile *o)
{
	return series_carry_journal(o, UINT32_MAX);
}

static const struct fs_kind ingest_kind = {
	.name = "ingest",
	.type = FS_WO,
	.agent = 1,
	.consume = ingest_consume,
	.journal = ingest_journal,
	.sync = series_sync,
};

const struct fs_subtree fs_subtree_ingest = {
	.name = "ingest",
	.kind = &ingest_kind,
	.readme =
"  ingest              write metric lines in any known format, detected per line:\n"
"                      Prometheus text / OpenMetrics, Influx line protocol,\n"
"                      Graphite plaintext, StatsD\n",
};

/* ---- ctl ----------------------------------------------------------------- */

static int run_ctl(const char *line, size_t n)
{
	if (n == 4 && !memcmp(line, "sync", 4))
		return sync_all();
	if (n == 7 && !memcmp(line, "compact", 7))
		return compact_all();
	obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), "ctl", 0, line, n, "unknown command");
	return -EINVAL;
}

static int ctl_consume(struct ofile *o, const char *p, size_t n)
{
	int rc = 0;
	const char *end = p + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *a = p, *b = le;
		while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		if (a < b) {
			int e = run_ctl(a, (size_t)(b - a));
			if (e && !rc)
				rc = e;
		}
		p = nl ? nl + 1 : end;
	}
	return rc;
}

static const struct fs_kind ctl_kind = {
	.name = "ctl",
	.type = FS_WO,
	.consume = ctl_consume,
	.sync = series_sync,
};

const struct fs_subtree fs_subtree_ctl = {
	.name = "ctl",
	.kind = &ctl_kind,
	.readme = "  ctl                 write commands: sync (fsync the WAL), compact (cut the head into a block)\n",
};

/* ---- status -------------------------------------------------------------- */

/* What one read of status sees: the stores' counters, taken once. */
struct status_ctx {
	struct obs_db_stats db;
	struct obs_logstore_stats logs;
	int64_t now;
	double up;                 /* seconds since the mount */
};

/* A status line: "NAME VALUE" with NAME padded to 18 columns. A count is a
 * u64 field of status_ctx (at a); a ratio divides the field at a by the one
 * at b (0 when b is 0) with prec decimals; a function writes the value and
 * its newline, or whole lines when name is NULL. note follows the value. */
enum status_type { ST_U64, ST_RATIO, ST_FN };

struct status_row {
	const char *name;
	enum status_type type;
	size_t a, b;
	int prec;
	const char *note;
	int (*fn)(struct obs_buf *out, const struct status_ctx *c);
};

#define U64(nm, f)            { nm, ST_U64, offsetof(struct status_ctx, f), 0, 0, NULL, NULL }
#define U64_NOTE(nm, f, n)    { nm, ST_U64, offsetof(struct status_ctx, f), 0, 0, n, NULL }
#define RATIO(nm, x, y, p, n) { nm, ST_RATIO, offsetof(struct status_ctx, x), offsetof(struct status_ctx, y), p, n, NULL }
#define FN(nm, f)             { nm, ST_FN, 0, 0, 0, NULL, f }

static uint64_t field(const struct status_ctx *c, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)c + off, sizeof v);
	return v;
}

static int st_mounted(struct obs_buf *out, const struct status_ctx *c)
{
	char tb[40];
	obs_time_format(obsfs->mounted_ms, OBS_TIME_RFC3339, tb);
	return obs_buf_printf(out, "%s (%.0f s ago)\n", tb, c->up);
}

static int st_datadir(struct obs_buf *out, const struct status_ctx *c)
{
	return obs_buf_printf(out, "%s\n", obsfs->datadir);
}

static int st_replayed(struct obs_buf *out, const struct status_ctx *c)
{
	return obs_buf_printf(out, "%llu (replay %lld ms)\n", (unsigned long long)c->db.samples_replayed,
			      (long long)c->db.replay_ms);
}

static int st_exemplars(struct obs_buf *out, const struct status_ctx *c)
{
	return obs_buf_printf(out, "%llu in %llu series\n", (unsigned long long)c->db.exemplars,
			      (unsigned long long)c->db.exemplar_series);
}

static int st_rate(struct obs_buf *out, const struct status_ctx *c)
{
	return obs_buf_printf(out, "%.1f samples/s since mount\n",
			      c->up > 0 ? (double)c->db.samples_ingested / c->up : 0.0);
}

static int st_blocks(struct obs_buf *out, const struct status_ctx *c)
{
	const uint64_t *l = c->db.blocks_by_level;
	return obs_buf_printf(out, "%llu (level 1: %llu, 2: %llu, 3: %llu)\n", (unsigned long long)c->db.blocks,
			      (unsigned long long)l[0], (unsigned long long)l[1], (unsigned long long)l[2]);
}

static int st_compactions(struct obs_buf *out, const struct status_ctx *c)
{
	return obs_buf_printf(out, "%llu (last took %lld ms)\n", (unsigned long long)c->db.compactions,
			      (long long)c->db.last_compact_dur_ms);
}

static int tiers3(struct obs_buf *out, const uint64_t *v)
{
	return obs_buf_printf(out, "1m %llu, 5m %llu, 1h %llu\n", (unsigned long long)v[0],
			      (unsigned long long)v[1], (unsigned long long)v[2]);
}

static int st_rollup_files(struct obs_buf *out, const struct status_ctx *c)
{
	return tiers3(out, c->db.rollup_files);
}

static int st_rollup_bytes(struct obs_buf *out, const struct status_ctx *c)
{
	return tiers3(out, c->db.rollup_bytes);
}

/* only while the head holds samples */
static int st_head_span(struct obs_buf *out, const struct status_ctx *c)
{
	if (c->db.head_maxt < c->db.head_mint)
		return 0;
	char a[40], b[40];
	obs_time_format(c->db.head_mint, OBS_TIME_RFC3339, a);
	obs_time_format(c->db.head_maxt, OBS_TIME_RFC3339, b);
	return obs_buf_printf(out, "%-18s %s .. %s\n", "head_span", a, b);
}

static int st_rss(struct obs_buf *out, const struct status_ctx *c)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return obs_buf_printf(out, "%lld\n", (long long)ru.ru_maxrss * 1024);
}

static int st_errors(struct obs_buf *out, const struct status_ctx *c)
{
	return obs_buf_printf(out, "%llu\n", (unsigned long long)obs_errlog_total(obs_db_errlog(obsfs->db)));
}

static int st_u64(struct obs_buf *out, uint64_t v)
{
	return obs_buf_printf(out, "%llu\n", (unsigned long long)v);
}

static int st_aliases(struct obs_buf *out, const struct status_ctx *c)
{
	return st_u64(out, series_alias_indexed());
}

static int st_traces(struct obs_buf *out, const struct status_ctx *c)
{
	return traces_status(out);
}

static int st_inodes(struct obs_buf *out, const struct status_ctx *c)
{
	return st_u64(out, fs_ino_count());
}

static int st_waiting(struct obs_buf *out, const struct status_ctx *c)
{
	return st_u64(out, fs_wait_count());
}

static int top_line(void *ctx, const char *name, uint64_t series)
{
	return obs_buf_printf(ctx, "  %-48s %llu\n", name, (unsigned long long)series);
}

static int st_top(struct obs_buf *out, const struct status_ctx *c)
{
	if (obs_buf_puts(out, "top_cardinality (metric, series):\n"))
		return -ENOMEM;
	return obs_db_top_metrics(obsfs->db, 10, top_line, out);
}

/* The status file, in order. */
static const struct status_row status_rows[] = {
	FN("mounted", st_mounted),
	FN("datadir", st_datadir),
	U64("series", db.series),
	U64("samples", db.samples),
	U64("samples_ingested", db.samples_ingested),
	U64("samples_rejected", db.samples_rejected),
	FN("exemplars", st_exemplars),
	U64("exemplars_added", db.exemplars_added),
	U64("exemplars_duplicate", db.exemplars_duplicate),
	U64("exemplars_rejected", db.exemplars_rejected),
	U64("exemplars_evicted", db.exemplars_evicted),
	U64("exemplars_expired", db.exemplars_expired),
	FN("samples_replayed", st_replayed),
	FN("ingest_rate", st_rate),
	U64("head_chunks", db.chunks),
	U64("head_chunk_bytes", db.chunk_bytes),
	RATIO("head_bytes_per_sample", db.chunk_bytes, db.samples, 3, NULL),
	U64("wal_bytes", db.wal_bytes),
	U64("wal_segments", db.wal_segments),
	RATIO("wal_bytes_per_sample", db.wal_bytes, db.samples, 3, NULL),
	U64("wal_syncs", db.wal_syncs),
	U64("wal_torn_bytes", db.wal_torn_bytes),
	U64("index_bytes", db.index_bytes),
	FN("blocks", st_blocks),
	U64("block_bytes", db.block_bytes),
	U64("block_samples", db.block_samples),
	RATIO("block_bytes_per_sample", db.block_bytes, db.block_samples, 3, NULL),
	FN("compactions", st_compactions),
	U64("blocks_retired", db.blocks_retired),
	U64("rollup_sets", db.rollup_sets),
	FN("rollup_files", st_rollup_files),
	FN("rollup_bytes", st_rollup_bytes),
	U64("rollup_reads", db.rollup_reads),
	FN(NULL, st_head_span),
	FN("rss_max_bytes", st_rss),
	FN("errors_total", st_errors),
	U64("log_streams", logs.streams),
	U64("log_lines_appended", logs.appended),
	U64("log_lines_rejected", logs.rejected),
	U64("log_head_lines", logs.head_lines),
	U64("log_segments", logs.segments),
	U64_NOTE("log_segment_bytes", logs.segment_bytes, "index included"),
	U64("log_index_bytes", logs.index_bytes),
	RATIO("log_bytes_per_line", logs.segment_bytes, logs.segment_lines, 2, "index included"),
	U64("log_wal_bytes", logs.wal_bytes),
	U64("log_searches", logs.searches),
	U64("log_frames_read", logs.frames_read),
	FN("alias_names_indexed", st_aliases),
	FN(NULL, st_traces),
	FN("fs_inodes", st_inodes),
	FN("fs_reads_waiting", st_waiting),
	FN(NULL, st_top),
};

static int render_status(struct obs_buf *out)
{
	struct status_ctx c;
	obs_db_get_stats(obsfs->db, &c.db);
	obs_logstore_get_stats(obsfs->logs, &c.logs);
	c.now = obs_time_now();
	c.up = (double)(c.now - obsfs->mounted_ms) / 1000.0;
	int rc = 0;
	for (size_t i = 0; !rc && i < sizeof status_rows / sizeof status_rows[0]; i++) {
		const struct status_row *r = &status_rows[i];
		if (r->name)
			rc = obs_buf_printf(out, "%-18s ", r->name);
		if (rc)
			break;
		switch (r->type) {
		case ST_U64:
			rc = obs_buf_printf(out, "%llu", (unsigned long long)field(&c, r->a));
			break;
		case ST_RATIO: {
			uint64_t d = field(&c, r->b);
			rc = obs_buf_printf(out, "%.*f", r->prec, d ? (double)field(&c, r->a) / (double)d : 0.0);
			break;
		}
		case ST_FN:
			rc = r->fn(out, &c);
			continue;
		}
		if (!rc && r->note)
			rc = obs_buf_printf(out, " (%s)", r->note);
		if (!rc)
			rc = obs_buf_putc(out, '\n');
	}
	return rc ? -ENOMEM : 0;
}

static const struct text_kind status_kind = {
	.k = { .name = "status", .type = FS_RO, .live = 1, .size = text_size, .render = text_render },
	.text = render_status,
};

const struct fs_subtree fs_subtree_status = {
	.name = "status",
	.kind = &status_kind.k,
	.readme = "  status              counts, sizes, bytes/sample, blocks, rollups, top cardinality\n",
};

/* ---- errors -------------------------------------------------------------- */

/* The errors text and the number of rejections it holds (taken together). */
static int render_errors(struct obs_buf *out, uint64_t *total)
{
	struct obs_errlog *e = obs_db_errlog(obsfs->db);
	size_t start = out->len;
	for (int tries = 0;; tries++) {
		uint64_t t = obs_errlog_total(e);
		int rc = obs_errlog_render(e, out);
		uint64_t t2 = obs_errlog_total(e);
		/* under a storm of rejections, give up on an exact count after a
		 * few tries: a follower may then miss a line, never see one twice */
		if (rc || t2 == t || tries == 8) {
			*total = t2;
			return rc;
		}
		out->len = start;   /* a rejection came in between: again */
	}
}

static int errors_text(struct obs_buf *out)
{
	uint64_t total;
	return render_errors(out, &total);
}

struct errors_open {
	uint64_t total;            /* rejections counted when last rendered */
};

static int errors_open(struct ofile *o, int acc)
{
	if (!(o->priv = calloc(1, sizeof(struct errors_open))))
		return -ENOMEM;
	o->priv_free = free;
	return 0;
}

static int errors_render(struct ofile *o)
{
	struct errors_open *eo = o->priv;
	return render_errors(&o->content, &eo->total);
}

/* grows by the rejections that came in since the last render (each is one
 * line, the newest last), so tail -f sees them */
static int errors_refresh(struct ofile *o, uint64_t want_end)
{
	struct errors_open *eo = o->priv;
	if (obs_errlog_total(obs_db_errlog(obsfs->db)) == eo->total)
		return 0;
	struct obs_buf t;
	obs_buf_init(&t);
	uint64_t total;
	int rc = render_errors(&t, &total);
	uint64_t fresh = total - eo->total;
	size_t at = t.len;
	while (!rc && fresh && at > 0) {   /* start of the fresh lines */
		const char *nl = at > 1 ? memrchr(t.data, '\n', at - 1) : NULL;
		at = nl ? (size_t)(nl + 1 - t.data) : 0;
		fresh--;
	}
	if (!rc)
		rc = obs_buf_append(&o->content, t.data + at, t.len - at);
	if (!rc)
		eo->total = total;
	obs_buf_release(&t);
	return rc;
}

static const struct text_kind errors_kind = {
	.k = { .name = "errors", .type = FS_RO, .live = 1, .size = text_size, .open = errors_open,
	       .render = errors_render, .refresh = errors_refresh },
	.text = errors_text,
};

/* errors#follow: the same text, but a read at its end waits for the next
 * rejection (key "errors": the dispatch wakes it after writes, the sweep
 * catches rejections counted elsewhere). The dispatch has already
 * refreshed o->content when it asks: nothing at off means not yet. */
static int errors_follow_poll(struct ofile *o, uint64_t off, struct fs_event **wake)
{
	*wake = fs_event("errors");
	return 0;
}

static const struct text_kind errors_follow_kind = {
	.k = { .name = "errors follow", .type = FS_RO, .live = 1, .size = text_size, .open = errors_open,
	       .render = errors_render, .refresh = errors_refresh, .poll = errors_follow_poll },
	.text = errors_text,
};

static int errors_lookup(const char *name, size_t n, struct node *out)
{
	if (fs_name_eq(name, n, "errors"))
		out->kind = &errors_kind.k;
	else if (fs_name_eq(name, n, "errors#follow"))
		out->kind = &errors_follow_kind.k;
	else
		return -ENOENT;
	out->from = INT64_MIN;
	out->to = INT64_MAX;
	return 0;
}

const struct fs_subtree fs_subtree_errors = {
	.name = "errors",
	.kind = &errors_kind.k,
	.lookup = errors_lookup,
	.readme = "  errors              recently rejected input: where, line number, why\n"
		  "  errors#follow       the same, reading at its end waits for the next rejection\n",
};
