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

/* Size of a generated text: its length now. */
static int text_size(int (*render)(struct obs_buf *), uint64_t *size)
{
	struct obs_buf t;
	obs_buf_init(&t);
	int rc = render(&t);
	*size = t.len;
	obs_buf_release(&t);
	return rc;
}

/* ---- README ---------------------------------------------------------------- */

static int readme_size(struct node *n, uint64_t *size)
{
	return text_size(fs_readme_render, size);
}

static int readme_render(struct ofile *o)
{
	return fs_readme_render(&o->content);
}

static const struct fs_kind readme_kind = {
	.name = "README",
	.type = FS_RO,
	.size = readme_size,
	.render = readme_render,
};

const struct fs_subtree fs_subtree_readme = {
	.name = "README",
	.kind = &readme_kind,
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

static int top_line(void *ctx, const char *name, uint64_t series)
{
	return obs_buf_printf(ctx, "  %-48s %llu\n", name, (unsigned long long)series);
}

static int render_status(struct obs_buf *out)
{
	struct obs_db_stats st;
	obs_db_get_stats(obsfs->db, &st);
	int64_t now = obs_time_now();
	double up = (double)(now - obsfs->mounted_ms) / 1000.0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	char tb[40];
	obs_time_format(obsfs->mounted_ms, OBS_TIME_RFC3339, tb);
	int rc = 0;
	rc |= obs_buf_printf(out, "mounted            %s (%.0f s ago)\n", tb, up);
	rc |= obs_buf_printf(out, "datadir            %s\n", obsfs->datadir);
	rc |= obs_buf_printf(out, "series             %llu\n", (unsigned long long)st.series);
	rc |= obs_buf_printf(out, "samples            %llu\n", (unsigned long long)st.samples);
	rc |= obs_buf_printf(out, "samples_ingested   %llu\n", (unsigned long long)st.samples_ingested);
	rc |= obs_buf_printf(out, "samples_rejected   %llu\n", (unsigned long long)st.samples_rejected);
	rc |= obs_buf_printf(out, "exemplars          %llu in %llu series\n", (unsigned long long)st.exemplars,
			     (unsigned long long)st.exemplar_series);
	rc |= obs_buf_printf(out, "exemplars_added    %llu\n", (unsigned long long)st.exemplars_added);
	rc |= obs_buf_printf(out, "exemplars_duplicate %llu\n", (unsigned long long)st.exemplars_duplicate);
	rc |= obs_buf_printf(out, "exemplars_rejected %llu\n", (unsigned long long)st.exemplars_rejected);
	rc |= obs_buf_printf(out, "exemplars_evicted  %llu\n", (unsigned long long)st.exemplars_evicted);
	rc |= obs_buf_printf(out, "samples_replayed   %llu (replay %lld ms)\n",
			     (unsigned long long)st.samples_replayed, (long long)st.replay_ms);
	rc |= obs_buf_printf(out, "ingest_rate        %.1f samples/s since mount\n",
			     up > 0 ? (double)st.samples_ingested / up : 0.0);
	rc |= obs_buf_printf(out, "head_chunks        %llu\n", (unsigned long long)st.chunks);
	rc |= obs_buf_printf(out, "head_chunk_bytes   %llu\n", (unsigned long long)st.chunk_bytes);
	rc |= obs_buf_printf(out, "head_bytes_per_sample %.3f\n",
			     st.samples ? (double)st.chunk_bytes / (double)st.samples : 0.0);
	rc |= obs_buf_printf(out, "wal_bytes          %llu\n", (unsigned long long)st.wal_bytes);
	rc |= obs_buf_printf(out, "wal_segments       %llu\n", (unsigned long long)st.wal_segments);
	rc |= obs_buf_printf(out, "wal_bytes_per_sample %.3f\n",
			     st.samples ? (double)st.wal_bytes / (double)st.samples : 0.0);
	rc |= obs_buf_printf(out, "wal_syncs          %llu\n", (unsigned long long)st.wal_syncs);
	rc |= obs_buf_printf(out, "wal_torn_bytes     %llu\n", (unsigned long long)st.wal_torn_bytes);
	rc |= obs_buf_printf(out, "index_bytes        %llu\n", (unsigned long long)st.index_bytes);
	rc |= obs_buf_printf(out, "blocks             %llu (level 1: %llu, 2: %llu, 3: %llu)\n",
			     (unsigned long long)st.blocks, (unsigned long long)st.blocks_by_level[0],
			     (unsigned long long)st.blocks_by_level[1], (unsigned long long)st.blocks_by_level[2]);
	rc |= obs_buf_printf(out, "block_bytes        %llu\n", (unsigned long long)st.block_bytes);
	rc |= obs_buf_printf(out, "block_samples      %llu\n", (unsigned long long)st.block_samples);
	rc |= obs_buf_printf(out, "block_bytes_per_sample %.3f\n",
			     st.block_samples ? (double)st.block_bytes / (double)st.block_samples : 0.0);
	rc |= obs_buf_printf(out, "compactions        %llu (last took %lld ms)\n",
			     (unsigned long long)st.compactions, (long long)st.last_compact_dur_ms);
	rc |= obs_buf_printf(out, "blocks_retired     %llu\n", (unsigned long long)st.blocks_retired);
	rc |= obs_buf_printf(out, "rollup_sets        %llu\n", (unsigned long long)st.rollup_sets);
	rc |= obs_buf_printf(out, "rollup_files       1m %llu, 5m %llu, 1h %llu\n",
			     (unsigned long long)st.rollup_files[0], (unsigned long long)st.rollup_files[1],
			     (unsigned long long)st.rollup_files[2]);
	rc |= obs_buf_printf(out, "rollup_bytes       1m %llu, 5m %llu, 1h %llu\n",
			     (unsigned long long)st.rollup_bytes[0], (unsigned long long)st.rollup_bytes[1],
			     (unsigned long long)st.rollup_bytes[2]);
	rc |= obs_buf_printf(out, "rollup_reads       %llu\n", (unsigned long long)st.rollup_reads);
	if (st.head_maxt >= st.head_mint) {
		char a[40], b[40];
		obs_time_format(st.head_mint, OBS_TIME_RFC3339, a);
		obs_time_format(st.head_maxt, OBS_TIME_RFC3339, b);
		rc |= obs_buf_printf(out, "head_span          %s .. %s\n", a, b);
	}
	rc |= obs_buf_printf(out, "rss_max_bytes      %lld\n", (long long)ru.ru_maxrss * 1024);
	rc |= obs_buf_printf(out, "errors_total       %llu\n",
			     (unsigned long long)obs_errlog_total(obs_db_errlog(obsfs->db)));
	struct obs_logstore_stats ls;
	obs_logstore_get_stats(obsfs->logs, &ls);
	rc |= obs_buf_printf(out, "log_streams        %llu\n", (unsigned long long)ls.streams);
	rc |= obs_buf_printf(out, "log_lines_appended %llu\n", (unsigned long long)ls.appended);
	rc |= obs_buf_printf(out, "log_lines_rejected %llu\n", (unsigned long long)ls.rejected);
	rc |= obs_buf_printf(out, "log_head_lines     %llu\n", (unsigned long long)ls.head_lines);
	rc |= obs_buf_printf(out, "log_segments       %llu\n", (unsigned long long)ls.segments);
	rc |= obs_buf_printf(out, "log_segment_bytes  %llu (index included)\n", (unsigned long long)ls.segment_bytes);
	rc |= obs_buf_printf(out, "log_index_bytes    %llu\n", (unsigned long long)ls.index_bytes);
	rc |= obs_buf_printf(out, "log_bytes_per_line %.2f (index included)\n", ls.segment_lines ?
			     (double)ls.segment_bytes / (double)ls.segment_lines : 0.0);
	rc |= obs_buf_printf(out, "log_wal_bytes      %llu\n", (unsigned long long)ls.wal_bytes);
	rc |= obs_buf_printf(out, "log_searches       %llu\n", (unsigned long long)ls.searches);
	rc |= obs_buf_printf(out, "log_frames_read    %llu\n", (unsigned long long)ls.frames_read);
	rc |= obs_buf_printf(out, "alias_names_indexed %llu\n", (unsigned long long)series_alias_indexed());
	rc |= traces_status(out);
	rc |= obs_buf_printf(out, "fs_inodes          %llu\n", (unsigned long long)fs_ino_count());
	rc |= obs_buf_printf(out, "fs_reads_waiting   %llu\n", (unsigned long long)fs_wait_count());
	rc |= obs_buf_puts(out, "top_cardinality (metric, series):\n");
	if (!rc)
		rc = obs_db_top_metrics(obsfs->db, 10, top_line, out);
	return rc ? -ENOMEM : 0;
}

static int status_size(struct node *n, uint64_t *size)
{
	return text_size(render_status, size);
}

static int status_render(struct ofile *o)
{
	return render_status(&o->content);
}

static const struct fs_kind status_kind = {
	.name = "status",
	.type = FS_RO,
	.live = 1,
	.size = status_size,
	.render = status_render,
};

const struct fs_subtree fs_subtree_status = {
	.name = "status",
	.kind = &status_kind,
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

static int errors_size(struct node *n, uint64_t *size)
{
	return text_size(errors_text, size);
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

static const struct fs_kind errors_kind = {
	.name = "errors",
	.type = FS_RO,
	.live = 1,
	.size = errors_size,
	.open = errors_open,
	.render = errors_render,
	.refresh = errors_refresh,
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

static const struct fs_kind errors_follow_kind = {
	.name = "errors follow",
	.type = FS_RO,
	.live = 1,
	.size = errors_size,
	.open = errors_open,
	.render = errors_render,
	.refresh = errors_refresh,
	.poll = errors_follow_poll,
};

static int errors_lookup(const char *name, size_t n, struct node *out)
{
	if (fs_name_eq(name, n, "errors"))
		out->kind = &errors_kind;
	else if (fs_name_eq(name, n, "errors#follow"))
		out->kind = &errors_follow_kind;
	else
		return -ENOENT;
	out->from = INT64_MIN;
	out->to = INT64_MAX;
	return 0;
}

const struct fs_subtree fs_subtree_errors = {
	.name = "errors",
	.kind = &errors_kind,
	.lookup = errors_lookup,
	.readme = "  errors              recently rejected input: where, line number, why\n"
		  "  errors#follow       the same, reading at its end waits for the next rejection\n",
};
