/* select.c — select/: series by label matchers, one per path component.
 *
 *   select/                  FS_DIR, empty
 *   select/M1/.../Mk/        FS_DIR: the series matching every Mi, found by
 *                            intersecting the index's bitmaps
 *   select/M1/.../Mk/SERIES[@VIEW]
 *                            the series (or view) of metrics/, when it matches
 *
 * Mi is k=v, k!=v, k=~re or k!~re (__name__ for the metric name), %-escaped
 * as file names are; a series name never looks like a matcher. The node's
 * arg holds the matchers so far, '/'-separated; a matcher that does not
 * parse (bad regex) is ENOENT. */
#include "obsfs.h"

#include <errno.h>
#include <string.h>

#include "core/labels.h"
#include "index/matcher.h"

static int is_word(char c)
{
	return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* "k=...", "k!=...", "k=~...", "k!~..." */
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

static const struct fs_kind select_dir;

static int select_list(struct node *n, struct fs_fill *f)
{
	if (!n->arg.len)
		return 0;
	int rc;
	roaring_bitmap_t *b = select_bitmap(n->arg.data, &rc);
	if (!b)
		return rc;
	rc = series_fill_bitmap(f, b);
	roaring_bitmap_free(b);
	return rc;
}

static int select_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	int err;
	if (is_matcher_component(name, n)) {
		if (parent->arg.len)
			obs_buf_append(&child->arg, parent->arg.data, parent->arg.len);
		if (child->arg.len)
			obs_buf_putc(&child->arg, '/');
		if (obs_buf_append(&child->arg, name, n))
			return -ENOMEM;
		roaring_bitmap_t *b = select_bitmap(child->arg.data, &err);
		if (!b)
			return err;   /* a matcher that does not parse */
		roaring_bitmap_free(b);
		child->kind = &select_dir;
		return 0;
	}
	int rc = series_lookup(name, n, child);
	if (rc)
		return rc;
	roaring_bitmap_t *b = select_bitmap(parent->arg.len ? parent->arg.data : "", &err);
	if (!b)
		return err;
	int in = roaring_bitmap_contains(b, child->id);
	roaring_bitmap_free(b);
	return in ? 0 : -ENOENT;
}

static const struct fs_kind select_dir = {
	.name = "select",
	.type = FS_DIR,
	.list = select_list,
	.lookup = select_lookup,
};

const struct fs_subtree fs_subtree_select = {
	.name = "select",
	.kind = &select_dir,
	.readme = "  select/M1/M2/...    series matching every matcher: k=v k!=v k=~re k!~re\n",
};
