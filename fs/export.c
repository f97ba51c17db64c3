/* export.c — export, export.jsonl: every sample of the store, streamed.
 *
 *   export[@RANGE]          FS_RO: "SERIES VALUE TIMESTAMP_MS" lines, the
 *                           Prometheus text that ingest takes back (a
 *                           staleness marker's VALUE is `stale`)
 *   export.jsonl[@RANGE]    FS_RO: one JSON line per series,
 *                           {"metric":{..},"values":[..],"timestamps":[..]}
 *                           (VictoriaMetrics' /api/v1/export and import;
 *                           without staleness markers)
 *
 * A read renders series after series, dropping the consumed front of the
 * buffer, so memory stays bounded; a seek backwards restarts (stream.c).
 * RANGE is a view range without a step (node.from, node.to). */
#include "obsfs.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "core/num.h"

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
	size_t live = 0;
	for (size_t i = 0; i < s->n; i++)
		live += !obs_is_stale(s->v[i]);
	if (!live)
		return 0;   /* only staleness markers: no line */
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
	/* staleness markers are left out: VictoriaMetrics' JSON has no form for them */
	for (size_t i = 0, first = 1; i < s->n; i++) {
		char *p = out->data + out->len;
		size_t k = 0;
		if (obs_is_stale(s->v[i]))
			continue;
		if (!first)
			p[k++] = ',';
		first = 0;
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
	for (size_t i = 0, first = 1; i < s->n; i++) {
		char *p = out->data + out->len;
		size_t k = 0;
		if (obs_is_stale(s->v[i]))
			continue;
		if (!first)
			p[k++] = ',';
		first = 0;
		k += (size_t)obs_int_format(s->t[i], p + k);
		out->len += k;
	}
	return obs_buf_puts(out, "]}\n");
}

static int render_export_series(uint32_t id, int64_t from, int64_t to, int json, struct obs_buf *out)
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

/* The length of export's text now: as long to find as reading it, so the
 * whole export's (the one ls -l shows) is remembered while the store holds
 * the same series and samples. */
static int export_size(struct node *nd, uint64_t *size)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static struct { int valid; uint64_t key[6], size; } memo[2];
	struct obs_db_stats st;
	obs_db_get_stats(obsfs->db, &st);
	uint64_t key[6] = { st.series, st.samples, st.block_samples, st.samples_ingested,
			    st.blocks_retired, st.compactions };
	int whole = nd->from == INT64_MIN && nd->to == INT64_MAX;
	int j = nd->json ? 1 : 0;
	if (whole) {
		pthread_mutex_lock(&mu);
		int hit = memo[j].valid && !memcmp(memo[j].key, key, sizeof key);
		*size = memo[j].size;
		pthread_mutex_unlock(&mu);
		if (hit)
			return 0;
	}
	struct obs_buf t;
	obs_buf_init(&t);
	uint64_t total = 0;
	int rc = 0;
	uint32_t n = obs_db_series_count(obsfs->db);
	for (uint32_t id = 0; id < n && !rc; id++) {
		obs_buf_reset(&t);
		rc = render_export_series(id, nd->from, nd->to, nd->json, &t);
		total += t.len;
	}
	obs_buf_release(&t);
	if (rc)
		return rc;
	*size = total;
	if (whole) {
		pthread_mutex_lock(&mu);
		memo[j].valid = 1;
		memcpy(memo[j].key, key, sizeof key);
		memo[j].size = total;
		pthread_mutex_unlock(&mu);
	}
	return 0;
}

/* export streams series after series (stream.c): a piece is a series. */
struct export_open {
	struct fs_stream st;
	uint32_t next_id;          /* next series to render */
};

static int export_more(struct ofile *o, size_t want)
{
	struct export_open *x = o->priv;
	if (x->next_id >= obs_db_series_count(obsfs->db))
		return 1;
	int rc = render_export_series(x->next_id++, o->nd.from, o->nd.to, o->nd.json, &o->content);
	return rc < 0 ? rc : x->next_id >= obs_db_series_count(obsfs->db);
}

static void export_rewind(struct ofile *o)
{
	struct export_open *x = o->priv;
	x->next_id = 0;
}

static int export_open(struct ofile *o, int acc)
{
	struct export_open *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	fs_stream_attach(o, &x->st, export_more, export_rewind, free);
	return 0;
}

static const struct fs_kind export_kind = {
	.name = "export",
	.type = FS_RO,
	.live = 1,
	.size = export_size,
	.open = export_open,
	.read = fs_stream_read,
};

/* NAME or NAME@RANGE (no step) */
static int export_lookup_as(const char *lit, int json, const char *name, size_t n, struct node *out)
{
	size_t pre = strlen(lit);
	if (n < pre || memcmp(name, lit, pre) || (n > pre && name[pre] != '@'))
		return -ENOENT;
	out->json = json;
	out->from = INT64_MIN;
	out->to = INT64_MAX;
	if (n > pre) {
		struct obs_aggfn fn;
		if (n == pre + 1 || view_parse(name + pre + 1, n - pre - 1, &out->from, &out->to, &out->step, &fn) ||
		    out->step)
			return -ENOENT;
	}
	out->kind = &export_kind;
	return 0;
}

static int export_lookup(const char *name, size_t n, struct node *out)
{
	return export_lookup_as("export", 0, name, n, out);
}

static int export_jsonl_lookup(const char *name, size_t n, struct node *out)
{
	return export_lookup_as("export.jsonl", 1, name, n, out);
}

const struct fs_subtree fs_subtree_export = {
	.name = "export",
	.kind = &export_kind,
	.lookup = export_lookup,
	.readme =
"  export[@RANGE]      every sample as Prometheus text (SERIES VALUE TIMESTAMP_MS),\n"
"                      which ingest takes back\n",
};

const struct fs_subtree fs_subtree_export_jsonl = {
	.name = "export.jsonl",
	.kind = &export_kind,
	.lookup = export_jsonl_lookup,
	.readme = "  export.jsonl[@RANGE] every series as a JSON line (VictoriaMetrics export/import format)\n",
};
