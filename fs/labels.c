/* labels.c — labels/: label names, their values, the series carrying them
 * (like Prometheus' /api/v1/labels and /label/K/values).
 *
 *   labels/                  FS_DIR: every label name in use
 *   labels/K/                FS_DIR: the values of K (node.arg = K)
 *   labels/K/V/              FS_DIR: the series with K=V (node.arg2 = V)
 *   labels/K/V/SERIES[@VIEW] the series (or view) of metrics/
 *
 * Names and values are %-escaped as file names are; one longer than
 * NAME_MAX is listed under its alias (tree.h fs_alias_of), which resolves
 * by a walk of that label's names or values. */
#include "obsfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/labels.h"
#include "index/matcher.h"

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

static int fill_str(void *ctx, const char *s, uint64_t count)
{
	return fs_fill_encoded(ctx, s);
}

/* labels/K/V/ */

static int value_list(struct node *n, struct fs_fill *f)
{
	struct obs_matcher m;
	int rc = obs_matcher_init(&m, n->arg.data, OBS_MATCH_EQ, n->arg2.data, NULL);
	if (rc)
		return rc;
	roaring_bitmap_t *b = obs_db_select(obsfs->db, &m, 1);
	obs_matcher_release(&m);
	if (!b)
		return 0;
	rc = series_fill_bitmap(f, b);
	roaring_bitmap_free(b);
	return rc;
}

static int value_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	return series_lookup(name, n, child);
}

static const struct fs_kind label_value_dir = {
	.name = "label value",
	.type = FS_DIR,
	.list = value_list,
	.lookup = value_lookup,
};

/* labels/K/ */

static int label_list(struct node *n, struct fs_fill *f)
{
	return obs_index_label_values(obs_db_index(obsfs->db), n->arg.data, fill_str, f);
}

static int label_lookup(struct node *parent, const char *v, size_t vl, struct node *child)
{
	if (obs_buf_append(&child->arg, parent->arg.data, parent->arg.len))
		return -ENOMEM;
	if (obs_fname_decode(v, vl, &child->arg2))
		return -ENOENT;
	if (!obs_index_count(obs_db_index(obsfs->db), child->arg.data, child->arg2.data) &&
	    (!fs_is_alias(v, vl) || label_value_by_alias(child->arg.data, v, vl, &child->arg2)))
		return -ENOENT;
	child->kind = &label_value_dir;
	return 0;
}

static const struct fs_kind label_dir = {
	.name = "label",
	.type = FS_DIR,
	.list = label_list,
	.lookup = label_lookup,
};

/* labels/ */

static int labels_list(struct node *n, struct fs_fill *f)
{
	return obs_index_label_names(obs_db_index(obsfs->db), fill_str, f);
}

static int labels_lookup(struct node *parent, const char *k, size_t kl, struct node *child)
{
	if (obs_label_name_valid(k, kl))
		obs_buf_append(&child->arg, k, kl);
	else if (!fs_is_alias(k, kl) || label_name_by_alias(k, kl, &child->arg))
		return -ENOENT;
	if (!label_used(child->arg.data))
		return -ENOENT;
	child->kind = &label_dir;
	return 0;
}

static const struct fs_kind labels_dir = {
	.name = "labels",
	.type = FS_DIR,
	.list = labels_list,
	.lookup = labels_lookup,
};

const struct fs_subtree fs_subtree_labels = {
	.name = "labels",
	.kind = &labels_dir,
	.readme = "  labels/K/V/         label names, their values, and the series carrying them\n",
};
