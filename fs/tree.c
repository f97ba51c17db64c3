/* tree.c — the subtree table, the root, and the path walk.
 *
 * The table is FS_SUBTREES (tree.h): one row per root name, each defined
 * in its subtree's file. The root directory lists the rows, looks names up
 * in them, and the README is assembled from their lines. A path is walked
 * component by component: the root resolves the first, the kind of each
 * node reached resolves the next (struct fs_kind.lookup). Nothing here knows
 * any subtree. */
#include "obsfs.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <xxhash.h>

#include "core/labels.h"

static const struct fs_subtree *const subtrees[] = {
#define X(n) &fs_subtree_##n,
	FS_SUBTREES
#undef X
};
#define NSUBTREES (sizeof subtrees / sizeof subtrees[0])

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
	if (n->priv && n->priv_free)
		n->priv_free(n->priv);
	node_init(n);
}

void node_move(struct node *dst, struct node *src)
{
	node_release(dst);
	*dst = *src;
	node_init(src);
}

int fs_name_eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(p, lit, n);
}

/* ---- names too long for a file name ------------------------------------- */

#define ALIAS_KEEP 200   /* bytes of the name kept in front of an alias */

void fs_alias_of(const char *enc, size_t n, uint64_t h, struct obs_buf *out)
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

int fs_is_alias(const char *name, size_t n)
{
	if (n < 17 || name[n - 17] != '~')
		return 0;
	for (size_t i = n - 16; i < n; i++)
		if (!strchr("0123456789abcdef", name[i]))
			return 0;
	return 1;
}

/* ---- readdir fillers ---------------------------------------------------- */

void fs_fill_name(struct fs_fill *f, const char *name)
{
	f->filler(f->buf, name, NULL, 0, 0);
}

int fs_fill_encoded(struct fs_fill *f, const char *s)
{
	obs_buf_reset(&f->name);
	if (obs_fname_encode(s, strlen(s), &f->name))
		return -ENOMEM;
	if (f->name.len > NAME_MAX) {
		struct obs_buf a;
		obs_buf_init(&a);
		fs_alias_of(f->name.data, f->name.len, XXH3_64bits(s, strlen(s)), &a);
		fs_fill_name(f, a.data);
		obs_buf_release(&a);
		return 0;
	}
	fs_fill_name(f, f->name.data);
	return 0;
}

/* ---- the root ----------------------------------------------------------- */

static int root_list(struct node *n, struct fs_fill *f)
{
	for (size_t i = 0; i < NSUBTREES; i++)
		fs_fill_name(f, subtrees[i]->name);
	return 0;
}

static int root_lookup(struct node *parent, const char *name, size_t n, struct node *child)
{
	for (size_t i = 0; i < NSUBTREES; i++) {
		const struct fs_subtree *s = subtrees[i];
		if (s->lookup) {
			int rc = s->lookup(name, n, child);
			if (rc != -ENOENT)
				return rc;
			node_release(child);   /* not its: clean for the next row */
		} else if (fs_name_eq(name, n, s->name)) {
			child->kind = s->kind;
			child->from = INT64_MIN;
			child->to = INT64_MAX;
			return 0;
		}
	}
	return -ENOENT;
}

const struct fs_kind fs_root_kind = {
	.name = "root",
	.type = FS_DIR,
	.list = root_list,
	.lookup = root_lookup,
};

int fs_resolve(const char *path, struct node *nd)
{
	node_release(nd);
	nd->kind = &fs_root_kind;
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			return 0;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		int rc;
		/* no NAME_MAX check: FUSE passes longer names, and the full
		 * name of an aliased series opens it too */
		if (nd->kind->type != FS_DIR)
			rc = -ENOTDIR;
		else if (!nd->kind->lookup)
			rc = -ENOENT;
		else {
			struct node child;
			node_init(&child);
			rc = nd->kind->lookup(nd, p, len, &child);
			if (!rc && !child.kind)
				rc = -ENOENT;
			if (!rc)
				node_move(nd, &child);
			node_release(&child);
		}
		if (rc) {
			node_release(nd);
			return rc;
		}
		p += len;
	}
}

/* ---- README -------------------------------------------------------------- */

int fs_readme_render(struct obs_buf *out)
{
	int rc = obs_buf_puts(out, "obsfs — observability as a filesystem (see obsfs(7) for everything)\n\n");
	for (size_t i = 0; i < NSUBTREES && !rc; i++)
		if (subtrees[i]->readme)
			rc = obs_buf_puts(out, subtrees[i]->readme);
	if (!rc)
		rc = obs_buf_puts(out,
"\n"
"Try:\n"
"  echo 21.5 > metrics/room_temp; cat metrics/room_temp\n"
"  curl -s localhost:9100/metrics > ingest\n"
"  ls select/job=node/\n"
"  cat 'metrics/room_temp@-5m:1m:max'\n"
"  tail -f metrics/room_temp\n"
"  echo 'level=error msg=timeout' >> logs/app; cat 'logs/app?level>=error'\n");
	return rc ? -ENOMEM : 0;
}
