/* render.c — text of the generated files: README, status, range views. */
#include "obsfs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/labels.h"
#include "core/num.h"
#include "logs/logstore.h"
#include "tsdb/downsample.h"

int render_readme(struct obs_buf *out)
{
	return obs_buf_puts(out,
"obsfs — observability as a filesystem (see obsfs(7) for everything)\n"
"\n"
"  ingest              write metric lines in any known format, detected per line:\n"
"                      Prometheus text / OpenMetrics, Influx line protocol,\n"
"                      Graphite plaintext, StatsD\n"
"  metrics/SERIES      one file per series, Prometheus notation (name{k=\"v\"});\n"
"                      cat -> \"TIME VALUE\" lines, oldest first;\n"
"                      echo VALUE or \"TIME VALUE\" >> SERIES appends a sample;\n"
"                      touch/create makes a new series; '/' in a name is %2F\n"
"  metrics/SERIES@RANGE[:STEP[:FN]]\n"
"                      a time-range view (not listed): @-1h  @-2h..-1h\n"
"                      @2026-11-21T10:00:00Z..2026-11-21T11:00:00Z  @-1d:5m:max\n"
"                      FN = avg min max sum count last p50 p90 p99 pNN\n"
"  select/M1/M2/...    series matching every matcher: k=v k!=v k=~re k!~re\n"
"  labels/K/V/         label names, their values, and the series carrying them\n"
"  export[@RANGE]      every sample as Prometheus text (SERIES VALUE TIMESTAMP_MS),\n"
"                      which ingest takes back\n"
"  export.jsonl[@RANGE] every series as a JSON line (VictoriaMetrics export/import format)\n"
"  logs/STREAM         one file per log stream: echo LINE >> logs/app; cat -> \"TIME LINE\"\n"
"  logs/STREAM@RANGE?QUERY[#count|#by=FIELD]\n"
"                      a search view: logs/app@-1h?level>=error&timeout  logs/nginx?status=404#count\n"
"  ctl                 write commands: sync (fsync the WAL), compact (cut the head into a block)\n"
"  status              counts, sizes, bytes/sample, blocks, rollups, top cardinality\n"
"  errors              recently rejected input: where, line number, why\n"
"\n"
"Try:\n"
"  echo 21.5 > metrics/room_temp; cat metrics/room_temp\n"
"  curl -s localhost:9100/metrics > ingest\n"
"  ls select/job=node/\n"
"  cat 'metrics/room_temp@-5m:1m:max'\n"
"  tail -f metrics/room_temp\n"
"  echo 'level=error msg=timeout' >> logs/app; cat 'logs/app?level>=error'\n");
}

static int top_line(void *ctx, const char *name, uint64_t series)
{
	return obs_buf_printf(ctx, "  %-48s %llu\n", name, (unsigned long long)series);
}

int render_status(struct obs_buf *out)
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
	rc |= obs_buf_printf(out, "exemplars_dropped  %llu\n", (unsigned long long)st.exemplars_dropped);
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
	rc |= obs_buf_puts(out, "top_cardinality (metric, series):\n");
	if (!rc)
		rc = obs_db_top_metrics(obsfs->db, 10, top_line, out);
	return rc ? -ENOMEM : 0;
}

int render_view(const struct node *n, struct obs_buf *out)
{
	struct obs_samples s;
	obs_samples_init(&s);
	int rc;
	if (n->step > 0) {
		struct obs_aggfn fn;
		int from_tier;
		rc = obs_aggfn_parse(n->fn, strlen(n->fn), &fn);
		if (!rc)
			rc = obs_db_read_agg(obsfs->db, n->id, n->from, n->to, n->step, fn, &s, &from_tier);
	} else {
		rc = obs_db_read(obsfs->db, n->id, n->from, n->to, &s);
	}
	if (!rc)
		rc = obs_samples_render(&s, 0, obsfs->timefmt, out);
	obs_samples_release(&s);
	return rc;
}

int render_log_view(const char *name, struct obs_buf *out)
{
	char *stream = NULL;
	struct obs_logquery *q = NULL;
	int64_t from, to;
	int rc = obs_logpath_parse(name, obs_time_now(), &stream, &from, &to, &q, NULL, 0);
	if (!rc)
		rc = obs_logstore_render_view(obsfs->logs, stream, from, to, q, obsfs->timefmt, out);
	free(stream);
	obs_logquery_free(q);
	return rc;
}

/* JSON string body of s (quotes not included). */
static void json_str(struct obs_buf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			obs_buf_putc(out, '\\');
			obs_buf_putc(out, (char)c);
		} else if (c < 0x20) {
			obs_buf_printf(out, "\\u%04x", c);
		} else {
			obs_buf_putc(out, (char)c);
		}
	}
}

static int render_json(const char *canon, size_t clen, const struct obs_samples *s, struct obs_buf *out)
{
	struct obs_labels l;
	if (obs_labels_parse(canon, clen, &l, NULL))
		return -EBADMSG;
	obs_buf_puts(out, "{\"metric\":{");
	for (size_t i = 0; i < l.n; i++) {
		obs_buf_puts(out, i ? ",\"" : "\"");
		json_str(out, l.v[i].name);
		obs_buf_puts(out, "\":\"");
		json_str(out, l.v[i].value);
		obs_buf_putc(out, '"');
	}
	obs_labels_release(&l);
	obs_buf_puts(out, "},\"values\":[");
	if (obs_buf_reserve(out, s->n * 56 + 32))
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		char *p = out->data + out->len;
		size_t k = 0;
		if (i)
			p[k++] = ',';
		/* JSON has no NaN or infinities: those go as strings, as Prometheus' API does */
		int special = isnan(s->v[i]) || isinf(s->v[i]);
		if (special)
			p[k++] = '"';
		k += (size_t)obs_num_format(s->v[i], p + k);
		if (special)
			p[k++] = '"';
		out->len += k;
	}
	obs_buf_puts(out, "],\"timestamps\":[");
	for (size_t i = 0; i < s->n; i++) {
		char *p = out->data + out->len;
		size_t k = 0;
		if (i)
			p[k++] = ',';
		k += (size_t)obs_int_format(s->t[i], p + k);
		out->len += k;
	}
	return obs_buf_puts(out, "]}\n");
}

int render_export_series(uint32_t id, int64_t from, int64_t to, int json, struct obs_buf *out)
{
	struct obs_samples s;
	struct obs_buf name;
	obs_samples_init(&s);
	obs_buf_init(&name);
	int rc = obs_db_read(obsfs->db, id, from, to, &s);
	if (!rc && s.n)
		rc = obs_db_series_text(obsfs->db, id, &name);
	if (!rc && s.n && json)
		rc = render_json(name.data, name.len, &s, out);
	else if (!rc && s.n)
		rc = obs_buf_reserve(out, s.n * (name.len + 48));
	for (size_t i = 0; i < s.n && !rc && !json; i++) {
		char *p = out->data + out->len;
		memcpy(p, name.data, name.len);
		size_t k = name.len;
		p[k++] = ' ';
		k += (size_t)obs_num_format(s.v[i], p + k);
		p[k++] = ' ';
		k += (size_t)obs_int_format(s.t[i], p + k);
		p[k++] = '\n';
		out->len += k;
	}
	obs_buf_release(&name);
	obs_samples_release(&s);
	return rc;
}
