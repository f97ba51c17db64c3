/* metrics.c — metrics/: one file per series, and its hidden views.
 *
 *   metrics/                 FS_DIR: every series
 *   metrics/SERIES           FS_RW: read "TIME VALUE" lines, oldest first
 *                            (growing while open: tail -f); write "VALUE" or
 *                            "TIME VALUE" lines; create makes the series
 *   metrics/SERIES@RANGE[:STEP[:FN]]
 *                            FS_RO, lookup only: the range, downsampled to
 *                            STEP with FN (default avg); parsed once at lookup
 *                            into node.priv (struct view); streamed in
 *                            windows as it is read (view_read)
 *   metrics/SERIES[@RANGE]#exemplars
 *                            FS_RO, lookup only: the series' exemplars in
 *                            the range (all without one), "TIME VALUE
 *                            {labels}" lines, oldest first
 *
 * SERIES is the canonical text %-escaped ('%' -> %25, '/' -> %2F); when that
 * is longer than NAME_MAX, the name is an alias: a prefix plus "~" and the
 * 16 hex digits of XXH3 of the canonical text. Aliases resolve through an
 * index (hash -> series id) grown by the series created since it was last
 * consulted: a stat of an alias costs one map lookup, not a scan. The same
 * series and view kinds serve select/ and labels/ (series_lookup). */
#include "obsfs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/fault.h"
#include "core/labels.h"
#include "core/strmap.h"
#include "tsdb/downsample.h"

/* ---- file names and the alias index --------------------------------------- */

static struct {
	pthread_mutex_t mu;
	struct obs_strmap *map;    /* 8-byte alias hash -> series id + 1 */
	uint32_t upto;             /* series ids below this are in map */
	uint64_t examined;         /* series names looked at to build it */
} aliases = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 };

/* The alias hash of series id, when its file name is an alias. */
static int alias_hash(uint32_t id, struct obs_buf *canon, struct obs_buf *enc, uint64_t *h)
{
	obs_buf_reset(canon);
	obs_buf_reset(enc);
	if (obs_db_series_text(obsfs->db, id, canon) || obs_fname_encode(canon->data, canon->len, enc))
		return 0;
	if (enc->len <= NAME_MAX)
		return 0;
	*h = XXH3_64bits(canon->data, canon->len);
	return 1;
}

/* Series id of alias hash h. Caller holds aliases.mu. */
static int alias_find(uint64_t h, uint32_t *id)
{
	uint64_t kh = obs_strmap_hash(&h, sizeof h);
	void *v = aliases.map ? obs_strmap_get(aliases.map, kh, &h, sizeof h) : NULL;
	if (v) {
		*id = (uint32_t)((uintptr_t)v - 1);
		return 0;
	}
	uint32_t cnt = obs_db_series_count(obsfs->db);
	if (aliases.upto >= cnt)
		return -ENOENT;
	if (!aliases.map && !(aliases.map = obs_strmap_new()))
		return -ENOMEM;
	struct obs_buf canon, enc;
	obs_buf_init(&canon);
	obs_buf_init(&enc);
	int rc = 0;
	for (; aliases.upto < cnt; aliases.upto++) {
		uint64_t ah;
		aliases.examined++;
		if (!alias_hash(aliases.upto, &canon, &enc, &ah))
			continue;
		uint64_t k = obs_strmap_hash(&ah, sizeof ah);
		if (!obs_strmap_get(aliases.map, k, &ah, sizeof ah) &&
		    obs_strmap_put(aliases.map, k, &ah, sizeof ah, (void *)(uintptr_t)(aliases.upto + 1))) {
			rc = -ENOMEM;   /* this id is looked at again next time */
			break;
		}
	}
	obs_buf_release(&canon);
	obs_buf_release(&enc);
	if (rc)
		return rc;
	v = obs_strmap_get(aliases.map, kh, &h, sizeof h);
	if (!v)
		return -ENOENT;
	*id = (uint32_t)((uintptr_t)v - 1);
	return 0;
}

uint64_t series_alias_indexed(void)
{
	pthread_mutex_lock(&aliases.mu);
	uint64_t n = aliases.examined;
	pthread_mutex_unlock(&aliases.mu);
	return n;
}

int series_fname(uint32_t id, struct obs_buf *out)
{
	struct obs_buf canon;
	obs_buf_init(&canon);
	int rc = obs_db_series_text(obsfs->db, id, &canon);
	if (!rc) {
		size_t start = out->len;
		rc = obs_fname_encode(canon.data, canon.len, out);
		if (!rc && out->len - start > NAME_MAX) {
			uint64_t h = XXH3_64bits(canon.data, canon.len);
			struct obs_buf tmp;
			obs_buf_init(&tmp);
			fs_alias_of(out->data + start, out->len - start, h, &tmp);
			out->len = start;
			rc = obs_buf_append(out, tmp.data, tmp.len);
			obs_buf_release(&tmp);
		}
	}
	obs_buf_release(&canon);
	return rc;
}

int series_from_fname(const char *name, size_t n, uint32_t *id, int create, const char **why)
{
	if (fs_is_alias(name, n)) {
		uint64_t h = strtoull(name + n - 16, NULL, 16);
		pthread_mutex_lock(&aliases.mu);
		int rc = alias_find(h, id);
		pthread_mutex_unlock(&aliases.mu);
		return rc;
	}
	struct obs_buf text;
	obs_buf_init(&text);
	int rc = obs_fname_decode(name, n, &text);
	if (rc) {
		if (why)
			*why = "bad %-escape in file name";
		obs_buf_release(&text);
		return -EINVAL;
	}
	rc = create ? obs_db_create(obsfs->db, text.data, text.len, id, why)
		    : obs_db_lookup(obsfs->db, text.data, text.len, id, why);
	obs_buf_release(&text);
	return rc;
}

int series_fill_bitmap(struct fs_fill *f, const roaring_bitmap_t *b)
{
	roaring_uint32_iterator_t *it = roaring_create_iterator(b);
	if (!it)
		return -ENOMEM;
	while (it->has_value) {
		obs_buf_reset(&f->name);
		if (!series_fname(it->current_value, &f->name))
			fs_fill_name(f, f->name.data);
		roaring_advance_uint32_iterator(it);
	}
	roaring_free_uint32_iterator(it);
	return 0;
}

/* ---- views ------------------------------------------------------------------ */

struct view {
	struct obs_aggfn fn;       /* when node.step > 0 */
};

int view_parse(const char *s, size_t n, int64_t *from, int64_t *to, int64_t *step, struct obs_aggfn *fn)
{
	int64_t now = obs_time_now();
	const char *c1 = memrchr(s, ':', n);
	const char *c2 = c1 ? memrchr(s, ':', (size_t)(c1 - s)) : NULL;
	size_t fl = c1 ? n - (size_t)(c1 + 1 - s) : 0;
	if (c2 && fl < 16 && !obs_aggfn_parse(c1 + 1, fl, fn) &&
	    !obs_duration_parse(c2 + 1, (size_t)(c1 - c2 - 1), step) && *step > 0 &&
	    !obs_range_parse(s, (size_t)(c2 - s), now, from, to))
		return 0;
	if (c1 && !obs_duration_parse(c1 + 1, fl, step) && *step > 0 &&
	    !obs_range_parse(s, (size_t)(c1 - s), now, from, to)) {
		obs_aggfn_parse("avg", 3, fn);
		return 0;
	}
	*step = 0;
	return obs_range_parse(s, n, now, from, to) ? -EINVAL : 0;
}

/* Split NAME@VIEW: the '@' must come after the label set's closing brace. */
static const char *view_at(const char *s, size_t n)
{
	const char *close = NULL;
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == '}') {
			close = s + i;
			break;
		}
	const char *from = close ? close : s;
	return memchr(from, '@', n - (size_t)(from - s));
}

/* Views stream: the range is read and rendered window after window as the
 * reader gets there, the consumed front of the text dropped (export's
 * shape), so memory stays bounded whatever the range. A STEP view's
 * windows are VIEW_BUCKETS buckets on step boundaries (buckets are aligned
 * to the epoch, so none is cut in two); a raw view's windows adapt their
 * length to hold about VIEW_SAMPLES samples. A seek backwards restarts. */
#define VIEW_BUCKETS 1024
#define VIEW_SAMPLES 16384

struct view_open {
	struct fs_stream st;       /* stream.c: a piece is a window */
	int64_t next;              /* start of the next window */
	int64_t win;               /* length of a raw view's next window (ms) */
};

static void view_rewind(struct ofile *o)
{
	struct view_open *vo = o->priv;
	vo->next = o->nd.from;
	vo->win = 3600 * 1000;
}

static int view_more(struct ofile *o, size_t want);

static int view_open(struct ofile *o, int acc)
{
	struct view_open *vo = calloc(1, sizeof *vo);
	if (!vo)
		return -ENOMEM;
	fs_stream_attach(o, &vo->st, view_more, view_rewind, free);
	view_rewind(o);
	return 0;
}

/* a + b for b > 0, INT64_MAX when it overflows */
static int64_t sat_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Render the next window of the view into o->content: 1 after the last. */
static int view_more(struct ofile *o, size_t want)
{
	struct view_open *vo = o->priv;
	const struct node *n = &o->nd;
	const struct view *v = n->priv;
	int64_t a = vo->next, b;
	if (n->step > 0) {
		int64_t first = floor_div(a, n->step);   /* bucket of a */
		b = first > INT64_MAX / n->step - VIEW_BUCKETS ? INT64_MAX
			: (first + VIEW_BUCKETS) * n->step - 1;
	} else {
		b = sat_add(a, vo->win) - 1;
		if (b == INT64_MAX - 1)
			b = INT64_MAX;
	}
	if (b >= n->to)
		b = n->to;
	struct obs_samples s;
	obs_samples_init(&s);
	int rc;
	if (n->step > 0) {
		int from_tier;
		rc = obs_db_read_agg(obsfs->db, n->id, a, b, n->step, v->fn, &s, &from_tier);
	} else {
		rc = obs_db_read(obsfs->db, n->id, a, b, &s);
	}
	if (!rc)
		rc = obs_samples_render(&s, 0, obsfs->timefmt, &o->content);
	if (!rc && n->step <= 0) {   /* aim at VIEW_SAMPLES in the next window */
		if (s.n < VIEW_SAMPLES / 4)
			vo->win = vo->win > INT64_MAX / 2 ? INT64_MAX : vo->win * 2;
		else if (s.n > VIEW_SAMPLES * 2 && vo->win > 1)
			vo->win /= 2;
	}
	obs_samples_release(&s);
	if (rc < 0)
		return rc;
	if (b >= n->to)
		return 1;
	vo->next = b + 1;
	return 0;
}

/* ---- series files ------------------------------------------------------------ */

static int series_size(struct node *n, uint64_t *size)
{
	return obs_db_text_size(obsfs->db, n->id, obsfs->timefmt, size);
}

struct series_open {
	int64_t rendered_to;       /* time of the last rendered sample */
};

static int series_open(struct ofile *o, int acc)
{
	if (!(o->priv = calloc(1, sizeof(struct series_open))))
		return -ENOMEM;
	o->priv_free = free;
	return 0;
}

/* Append the samples after the last rendered one, so a reader that reached
 * the end sees new lines. */
static int series_refresh(struct ofile *o, uint64_t want_end)
{
	struct series_open *so = o->priv;
	/* nothing can follow a sample at the last representable time
	 * (rendered_to + 1 would wrap to the first one and loop) */
	if (o->rendered && so->rendered_to == INT64_MAX)
		return 0;
	struct obs_samples s;
	obs_samples_init(&s);
	int64_t from = o->rendered ? so->rendered_to + 1 : INT64_MIN;
	int rc = obs_db_read(obsfs->db, o->nd.id, from, INT64_MAX, &s);
	if (!rc)
		rc = obs_samples_render(&s, 0, obsfs->timefmt, &o->content);
	if (!rc && s.n)
		so->rendered_to = s.t[s.n - 1];
	if (!rc && !o->rendered && !s.n)
		so->rendered_to = INT64_MIN;
	obs_samples_release(&s);
	return rc;
}

static int series_render(struct ofile *o)
{
	return series_refresh(o, 0);
}

static int series_consume(struct ofile *o, const char *p, size_t n)
{
	int rc = obs_fault("fs.consume");   /* as if the WAL write had failed: nothing stored */
	if (rc)
		return rc;
	struct obs_ingest_result r = { 0 };
	rc = obs_db_ingest_values(obsfs->db, o->nd.id, p, n, o->source, o->first_line + 1, &r);
	if (rc)
		return rc;
	return r.err ? -r.err : 0;
}

int series_carry_journal(struct ofile *o, uint32_t series)
{
	int rc = 0;
	if (o->carry.len) {
		rc = obs_db_carry(obsfs->db, o->handle, series, o->source, o->carry.data, o->carry.len);
		o->journaled = !rc;
	} else if (o->journaled) {
		rc = obs_db_carry(obsfs->db, o->handle, series, o->source, NULL, 0);
		o->journaled = 0;
	}
	return rc;
}

static int series_journal(struct ofile *o)
{
	return series_carry_journal(o, o->nd.id);
}

int series_sync(struct ofile *o)
{
	return obs_db_sync(obsfs->db);
}

static const char xattr_series[] = "user.obs.series";

static int series_getxattr(struct node *n, const char *name, struct obs_buf *out)
{
	if (strcmp(name, xattr_series))
		return -ENODATA;
	return obs_db_series_text(obsfs->db, n->id, out);
}

static int series_listxattr(struct node *n, struct obs_buf *out)
{
	return obs_buf_append(out, xattr_series, sizeof xattr_series);
}

static const struct fs_kind series_kind = {
	.name = "series",
	.type = FS_RW,
	.live = 1,
	.size = series_size,
	.open = series_open,
	.render = series_render,
	.refresh = series_refresh,
	.consume = series_consume,
	.journal = series_journal,
	.sync = series_sync,
	.getxattr = series_getxattr,
	.listxattr = series_listxattr,
};

static const struct fs_kind view_kind = {
	.name = "series view",
	.type = FS_RO,
	.open = view_open,
	.read = fs_stream_read,
	.getxattr = series_getxattr,
	.listxattr = series_listxattr,
};

/* ---- exemplars ------------------------------------------------------------- */

static const char ex_suffix[] = "#exemplars";

/* Does name end in #exemplars (after its label set)? */
static int is_exemplars(const char *s, size_t n)
{
	size_t k = sizeof ex_suffix - 1;
	if (n <= k || memcmp(s + n - k, ex_suffix, k))
		return 0;
	const char *close = memrchr(s, '}', n);
	return !close || close < s + n - k;
}

static int exemplars_render(struct ofile *o)
{
	return obs_db_exemplars(obsfs->db, o->nd.id, o->nd.from, o->nd.to, obsfs->timefmt, &o->content);
}

static const struct fs_kind exemplars_kind = {
	.name = "series exemplars",
	.type = FS_RO,
	.live = 1,
	.render = exemplars_render,
	.getxattr = series_getxattr,
	.listxattr = series_listxattr,
};

int series_lookup(const char *name, size_t n, struct node *nd)
{
	int ex = is_exemplars(name, n);
	if (ex)
		n -= sizeof ex_suffix - 1;
	const char *at = view_at(name, n);
	size_t base = at ? (size_t)(at - name) : n;
	int rc = series_from_fname(name, base, &nd->id, 0, NULL);
	if (rc)
		return rc == -EINVAL ? -ENOENT : rc;
	nd->kind = &series_kind;
	if (ex) {   /* a range, no STEP: exemplars are not aggregated */
		nd->from = INT64_MIN;
		nd->to = INT64_MAX;
		if (at && obs_range_parse(at + 1, n - base - 1, obs_time_now(), &nd->from, &nd->to))
			return -ENOENT;
		nd->kind = &exemplars_kind;
		return 0;
	}
	if (at) {
		struct view *v = calloc(1, sizeof *v);
		if (!v)
			return -ENOMEM;
		nd->priv = v;
		nd->priv_free = free;
		if (view_parse(at + 1, n - base - 1, &nd->from, &nd->to, &nd->step, &v->fn))
			return -ENOENT;
		nd->kind = &view_kind;
	}
	return 0;
}

/* ---- metrics/ ------------------------------------------------------------- */

static int metrics_list(struct node *n, struct fs_fill *f)
{
	roaring_bitmap_t *b = obs_index_all(obs_db_index(obsfs->db));
	if (!b)
		return 0;
	int rc = series_fill_bitmap(f, b);
	roaring_bitmap_free(b);
	return rc;
}

static int metrics_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	return series_lookup(name, n, child);
}

static int metrics_create(struct node *parent, const char *name, struct node *child, const char *source)
{
	size_t n = strlen(name);
	if ((memchr(name, '@', n) && !strchr(name, '}')) || is_exemplars(name, n))
		return -EACCES;   /* views are read-only */
	const char *why = NULL;
	int rc = series_from_fname(name, n, &child->id, 1, &why);
	if (rc) {
		obs_errlog_add(obs_db_errlog(obsfs->db), obs_time_now(), "metrics", 0, name, n,
			       why ? why : strerror(-rc));
		return rc;
	}
	child->kind = &series_kind;
	return 0;
}

static const struct fs_kind metrics_dir = {
	.name = "metrics",
	.type = FS_DIR,
	.list = metrics_list,
	.lookup = metrics_lookup,
	.create = metrics_create,
};

const struct fs_subtree fs_subtree_metrics = {
	.name = "metrics",
	.kind = &metrics_dir,
	.readme =
"  metrics/SERIES      one file per series, Prometheus notation (name{k=\"v\"});\n"
"                      cat -> \"TIME VALUE\" lines, oldest first;\n"
"                      echo VALUE or \"TIME VALUE\" >> SERIES appends a sample;\n"
"                      touch/create makes a new series; '/' in a name is %2F\n"
"  metrics/SERIES@RANGE[:STEP[:FN]]\n"
"                      a time-range view (not listed): @-1h  @-2h..-1h\n"
"                      @2026-11-21T10:00:00Z..2026-11-21T11:00:00Z  @-1d:5m:max\n"
"                      FN = avg min max sum count last p50 p90 p99 pNN\n"
"  metrics/SERIES[@RANGE]#exemplars\n"
"                      its OpenMetrics exemplars: \"TIME VALUE {trace_id=...}\";\n"
"                      a trace_id leads to traces/ID and traces/ID.logs\n",
};
