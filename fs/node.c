/* node.c — path -> node mapping for the whole tree (the only place that
 * knows the path grammar):
 *
 *   /  README ingest ctl status errors
 *   /metrics/SERIES[@RANGE[:STEP[:FN]]]
 *   /select/M1/.../Mk[/SERIES[@...]]        Mi = k=v | k!=v | k=~re | k!~re
 *   /labels/K[/V[/SERIES[@...]]]
 *
 * SERIES is the canonical series text with '%' -> %25 and '/' -> %2F, or a
 * NAME_MAX alias (see series_fname). */
#include "obsfs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/labels.h"
#include "index/matcher.h"
#include "logs/logstore.h"
#include "tsdb/downsample.h"

void node_init(struct node *n)
{
	memset(n, 0, sizeof *n);
	obs_buf_init(&n->arg);
	obs_buf_init(&n->arg2);
}

void node_release(struct node *n)
{
	obs_buf_release(&n->arg);
	obs_buf_release(&n->arg2);
}

/* ---- series file names -------------------------------------------------- */

#define ALIAS_KEEP 200   /* bytes of the name kept in front of an alias */

void alias_of(const char *enc, size_t n, uint64_t h, struct obs_buf *out)
{
	size_t keep = n < ALIAS_KEEP ? n : ALIAS_KEEP;
	/* do not cut a %XX escape or a UTF-8 sequence in half */
	while (keep > 0 && ((unsigned char)enc[keep] & 0xC0) == 0x80)
		keep--;
	for (size_t k = keep >= 2 ? keep - 2 : 0; k < keep; k++)
		if (enc[k] == '%')
			keep = k;
	obs_buf_append(out, enc, keep);
	obs_buf_printf(out, "~%016llx", (unsigned long long)h);
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
			alias_of(out->data + start, out->len - start, h, &tmp);
			out->len = start;
			rc = obs_buf_append(out, tmp.data, tmp.len);
			obs_buf_release(&tmp);
		}
	}
	obs_buf_release(&canon);
	return rc;
}

int is_alias(const char *name, size_t n)
{
	if (n < 17 || name[n - 17] != '~')
		return 0;
	for (size_t i = n - 16; i < n; i++)
		if (!strchr("0123456789abcdef", name[i]))
			return 0;
	return 1;
}

int series_from_fname(const char *name, size_t n, uint32_t *id, int create, const char **why)
{
	if (is_alias(name, n)) {
		uint64_t h = strtoull(name + n - 16, NULL, 16);
		uint32_t cnt = obs_db_series_count(obsfs->db);
		struct obs_buf canon;
		obs_buf_init(&canon);
		for (uint32_t i = 0; i < cnt; i++) {
			obs_buf_reset(&canon);
			if (obs_db_series_text(obsfs->db, i, &canon))
				continue;
			if (XXH3_64bits(canon.data, canon.len) == h) {
				obs_buf_release(&canon);
				*id = i;
				return 0;
			}
		}
		obs_buf_release(&canon);
		return -ENOENT;
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

/* ---- label values too long for a file name ---------------------------------- */

struct alias_find {
	uint64_t h;
	struct obs_buf *out;
	int found;
};

static int alias_visit(void *ctx, const char *value, uint64_t count)
{
	struct alias_find *a = ctx;
	if (XXH3_64bits(value, strlen(value)) != a->h)
		return 0;
	obs_buf_reset(a->out);
	obs_buf_puts(a->out, value);
	a->found = 1;
	return 1;
}

/* The label name whose file name is the alias (name, n). */
static int label_name_by_alias(const char *name, size_t n, struct obs_buf *out)
{
	struct alias_find a = { strtoull(name + n - 16, NULL, 16), out, 0 };
	obs_index_label_names(obs_db_index(obsfs->db), alias_visit, &a);
	return a.found ? 0 : -ENOENT;
}

/* The value of label name whose file name is the alias (name, n). */
static int label_value_by_alias(const char *label, const char *name, size_t n, struct obs_buf *out)
{
	struct alias_find a = { strtoull(name + n - 16, NULL, 16), out, 0 };
	obs_index_label_values(obs_db_index(obsfs->db), label, alias_visit, &a);
	return a.found ? 0 : -ENOENT;
}

static int any_visit(void *ctx, const char *value, uint64_t count)
{
	*(int *)ctx = 1;
	return 1;
}

/* Does some series carry label name? (labels/NAME exists only then) */
static int label_used(const char *name)
{
	int found = 0;
	obs_index_label_values(obs_db_index(obsfs->db), name, any_visit, &found);
	return found;
}

/* ---- series and views ------------------------------------------------- */

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
	const char *at = memchr(from, '@', n - (size_t)(from - s));
	return at;
}

/* "RANGE[:STEP[:FN]]" — RANGE may itself hold ':' (RFC3339 times, +hh:mm
 * offsets), so the split is the one where every part parses, trying
 * RANGE:STEP:FN, then RANGE:STEP, then RANGE alone. */
static int parse_view(const char *s, size_t n, struct node *nd)
{
	int64_t now = obs_time_now();
	const char *c1 = memrchr(s, ':', n);
	const char *c2 = c1 ? memrchr(s, ':', (size_t)(c1 - s)) : NULL;
	struct obs_aggfn f;
	int64_t step;
	size_t fl = c1 ? n - (size_t)(c1 + 1 - s) : 0;
	if (c2 && fl < sizeof nd->fn && !obs_aggfn_parse(c1 + 1, fl, &f) &&
	    !obs_duration_parse(c2 + 1, (size_t)(c1 - c2 - 1), &step) && step > 0 &&
	    !obs_range_parse(s, (size_t)(c2 - s), now, &nd->from, &nd->to)) {
		memcpy(nd->fn, c1 + 1, fl);
		nd->fn[fl] = 0;
		nd->step = step;
		return 0;
	}
	if (c1 && !obs_duration_parse(c1 + 1, fl, &step) && step > 0 &&
	    !obs_range_parse(s, (size_t)(c1 - s), now, &nd->from, &nd->to)) {
		strcpy(nd->fn, "avg");
		nd->step = step;
		return 0;
	}
	nd->step = 0;
	nd->fn[0] = 0;
	return obs_range_parse(s, n, now, &nd->from, &nd->to) ? -EINVAL : 0;
}

static int resolve_series(const char *name, size_t n, struct node *nd)
{
	const char *at = view_at(name, n);
	size_t base = at ? (size_t)(at - name) : n;
	int rc = series_from_fname(name, base, &nd->id, 0, NULL);
	if (rc)
		return rc == -EINVAL ? -ENOENT : rc;
	nd->kind = N_SERIES;
	if (at) {
		if (parse_view(at + 1, n - base - 1, nd))
			return -ENOENT;
		nd->kind = N_VIEW;
	}
	return 0;
}

/* ---- select/ matchers ----------------------------------------------------- */

static int is_word(char c)
{
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* "k=...", "k!=...", "k=~...", "k!~..." (a series name never looks like this). */
static int is_matcher_component(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && is_word(s[i]))
		i++;
	if (i == 0 || i >= n || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	return s[i] == '=' || (s[i] == '!' && i + 1 < n && (s[i + 1] == '=' || s[i + 1] == '~'));
}

roaring_bitmap_t *select_bitmap(const char *mpath, int *err)
{
	struct obs_matcher m[OBS_MAX_LABELS];
	memset(m, 0, sizeof m);
	size_t nm = 0;
	const char *c = mpath;
	*err = 0;
	roaring_bitmap_t *r = NULL;
	while (c && *c) {
		const char *e = strchr(c, '/');
		size_t cl = e ? (size_t)(e - c) : strlen(c);
		struct obs_buf t;
		obs_buf_init(&t);
		if (nm == OBS_MAX_LABELS || obs_fname_decode(c, cl, &t) ||
		    obs_matcher_parse(t.data, t.len, &m[nm], NULL)) {
			obs_buf_release(&t);
			*err = -ENOENT;
			goto out;
		}
		obs_buf_release(&t);
		nm++;
		c = e ? e + 1 : NULL;
	}
	r = obs_db_select(obsfs->db, m, nm);
	if (!r)
		*err = -ENOMEM;
out:
	for (size_t i = 0; i < nm; i++)
		obs_matcher_release(&m[i]);
	return r;
}

/* ---- the resolver ------------------------------------------------------ */

static int comp_eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(p, lit, n);
}

int node_resolve(const char *path, struct node *nd)
{
	const char *p = path;
	while (*p == '/')
		p++;
	if (!*p) {
		nd->kind = N_ROOT;
		return 0;
	}
	const char *slash = strchr(p, '/');
	size_t len = slash ? (size_t)(slash - p) : strlen(p);
	const char *rest = slash ? slash + 1 : NULL;
	if (rest && !*rest)
		rest = NULL;

	if (!rest) {
		static const struct { const char *name; enum node_kind k; } top[] = {
			{ "README", N_README }, { "ingest", N_INGEST }, { "ctl", N_CTL },
			{ "status", N_STATUS }, { "errors", N_ERRORS }, { "metrics", N_METRICS_DIR },
			{ "select", N_SELECT_DIR }, { "labels", N_LABELS_DIR },
			{ "logs", N_LOGS_DIR }, { "export", N_EXPORT },
		};
		for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
			if (comp_eq(p, len, top[i].name)) {
				nd->kind = top[i].k;
				nd->from = INT64_MIN;
				nd->to = INT64_MAX;
				return 0;
			}
		if (comp_eq(p, len, "export.jsonl")) {
			nd->kind = N_EXPORT;
			nd->json = 1;
			nd->from = INT64_MIN;
			nd->to = INT64_MAX;
			return 0;
		}
		size_t pre = len > 7 && !memcmp(p, "export@", 7) ? 7 :
			     len > 13 && !memcmp(p, "export.jsonl@", 13) ? 13 : 0;
		if (pre) {
			if (parse_view(p + pre, len - pre, nd) || nd->step)
				return -ENOENT;
			nd->kind = N_EXPORT;
			nd->json = pre == 13;
			return 0;
		}
		return -ENOENT;
	}
	if (comp_eq(p, len, "metrics")) {
		if (strchr(rest, '/'))
			return -ENOENT;
		return resolve_series(rest, strlen(rest), nd);
	}
	if (comp_eq(p, len, "select")) {
		/* every component but possibly the last is a matcher */
		const char *c = rest;
		obs_buf_reset(&nd->arg);
		while (c && *c) {
			const char *e = strchr(c, '/');
			size_t cl = e ? (size_t)(e - c) : strlen(c);
			if (is_matcher_component(c, cl)) {
				if (nd->arg.len)
					obs_buf_putc(&nd->arg, '/');
				obs_buf_append(&nd->arg, c, cl);
				nd->kind = N_SELECT_DIR;
				int err;
				roaring_bitmap_t *b = select_bitmap(nd->arg.data, &err);
				if (!b)
					return err;   /* a matcher that does not parse */
				roaring_bitmap_free(b);
			} else {
				if (e && e[1])
					return -ENOENT;
				int rc = resolve_series(c, cl, nd);
				if (rc)
					return rc;
				int err;
				roaring_bitmap_t *b = select_bitmap(nd->arg.data ? nd->arg.data : "", &err);
				if (!b)
					return err;
				int in = roaring_bitmap_contains(b, nd->id);
				roaring_bitmap_free(b);
				return in ? 0 : -ENOENT;
			}
			c = e ? e + 1 : NULL;
		}
		return 0;
	}
	if (comp_eq(p, len, "logs")) {
		if (strchr(rest, '/'))
			return -ENOENT;
		obs_buf_reset(&nd->arg);
		obs_buf_puts(&nd->arg, rest);
		if (obs_logstore_exists(obsfs->logs, rest)) {
			nd->kind = N_LOG_STREAM;
			return 0;
		}
		if (!strpbrk(rest, "@?#"))
			return -ENOENT;
		char *stream = NULL;
		struct obs_logquery *q = NULL;
		int64_t from, to;
		int rc = obs_logpath_parse(rest, obs_time_now(), &stream, &from, &to, &q, NULL, 0);
		int ok = !rc && obs_logstore_exists(obsfs->logs, stream);
		free(stream);
		obs_logquery_free(q);
		if (!ok)
			return -ENOENT;
		nd->kind = N_LOG_VIEW;
		return 0;
	}
	if (comp_eq(p, len, "labels")) {
		const char *e = strchr(rest, '/');
		size_t kl = e ? (size_t)(e - rest) : strlen(rest);
		obs_buf_reset(&nd->arg);
		if (obs_label_name_valid(rest, kl))
			obs_buf_append(&nd->arg, rest, kl);
		else if (!is_alias(rest, kl) || label_name_by_alias(rest, kl, &nd->arg))
			return -ENOENT;
		if (!label_used(nd->arg.data))
			return -ENOENT;
		if (!e || !e[1]) {
			nd->kind = N_LABEL_DIR;
			return 0;
		}
		const char *v = e + 1;
		const char *e2 = strchr(v, '/');
		size_t vl = e2 ? (size_t)(e2 - v) : strlen(v);
		obs_buf_reset(&nd->arg2);
		if (obs_fname_decode(v, vl, &nd->arg2))
			return -ENOENT;
		if (!obs_index_count(obs_db_index(obsfs->db), nd->arg.data, nd->arg2.data) &&
		    (!is_alias(v, vl) || label_value_by_alias(nd->arg.data, v, vl, &nd->arg2)))
			return -ENOENT;
		if (!e2 || !e2[1]) {
			nd->kind = N_LABEL_VALUE_DIR;
			return 0;
		}
		const char *sname = e2 + 1;
		if (strchr(sname, '/'))
			return -ENOENT;
		return resolve_series(sname, strlen(sname), nd);
	}
	return -ENOENT;
}
