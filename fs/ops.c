/* ops.c — the FUSE operations, generic over the node kinds (tree.h).
 *
 * Each operation resolves its path once (fs_resolve) and does what the
 * node's kind says: getattr from its type and size, readdir from list,
 * read from render/refresh or read, write cut into lines for consume,
 * close through end_write and sync, create/unlink/xattrs through their
 * hooks; what has no hook is refused with the errno a Unix file system
 * gives. Nothing here names a subtree.
 *
 * Every file is direct_io: reads always reach us, so a growing series is
 * seen by `tail -f` (which polls st_size) and nothing stale is cached. */
#include "obsfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void source_name(const char *path, char *buf, size_t len)
{
	while (*path == '/')
		path++;
	snprintf(buf, len, "%s", path);
}

/* Only the mount's owner (and root) change anything. With allow_other the
 * kernel enforces the modes too (default_permissions is implied, main.c);
 * this holds whatever the mount options. */
int may_change(void)
{
	struct fuse_context *cx = fuse_get_context();
	if (!cx || cx->uid == obsfs->owner || cx->uid == 0)
		return 0;
	return -EACCES;
}

static int is_dir(const struct fs_kind *k)
{
	return k->type == FS_DIR;
}

static int writable(const struct fs_kind *k)
{
	return k->type == FS_WO || k->type == FS_RW || k->type == FS_TXN;
}

static int readable(const struct fs_kind *k)
{
	return k->type == FS_RO || k->type == FS_RW || k->type == FS_TXN;
}

static mode_t type_mode(enum fs_type t)
{
	switch (t) {
	case FS_DIR: return S_IFDIR | 0755;
	case FS_WO: return S_IFREG | 0200;
	case FS_RW: return S_IFREG | 0644;
	case FS_TXN: return S_IFREG | 0600;
	case FS_RO: break;
	}
	return S_IFREG | 0444;
}

static int obs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	if (rc)
		return rc;
	const struct fs_kind *k = nd.kind;
	memset(st, 0, sizeof *st);
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtim.tv_sec = obsfs->mounted_ms / 1000;
	st->st_mode = type_mode(k->type);
	st->st_nlink = is_dir(k) ? 2 : 1;
	if (k->size && !is_dir(k)) {
		uint64_t size = 0;
		rc = k->size(&nd, &size);
		st->st_size = (off_t)size;
	}
	if (k->live)
		st->st_mtim.tv_sec = obs_time_now() / 1000;
	st->st_ctim = st->st_atim = st->st_mtim;
	node_release(&nd);
	return rc;
}

static int obs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	if (rc)
		return rc;
	if (!is_dir(nd.kind)) {
		node_release(&nd);
		return -ENOTDIR;
	}
	struct fs_fill f = { buf, filler, { 0 } };
	obs_buf_init(&f.name);
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	if (nd.kind->list)
		rc = nd.kind->list(&nd, &f);
	obs_buf_release(&f.name);
	node_release(&nd);
	return rc;
}

/* ---- open files ------------------------------------------------------------ */

static struct ofile *ofile_new(const char *path)
{
	struct ofile *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	node_init(&o->nd);
	pthread_mutex_init(&o->mu, NULL);
	obs_buf_init(&o->content);
	obs_buf_init(&o->carry);
	source_name(path, o->source, sizeof o->source);
	static _Atomic uint64_t handle_seq;
	o->handle = atomic_fetch_add(&handle_seq, 1) + 1;
	return o;
}

static void ofile_free(struct ofile *o)
{
	if (!o)
		return;
	if (o->priv && o->priv_free)
		o->priv_free(o->priv);
	node_release(&o->nd);
	obs_buf_release(&o->content);
	obs_buf_release(&o->carry);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

/* Check the access mode against the kind, run its open, hand o to FUSE. */
static int open_node(struct fuse_file_info *fi, struct ofile *o)
{
	const struct fs_kind *k = o->nd.kind;
	int acc = fi->flags & O_ACCMODE;
	int wr = acc == O_WRONLY || acc == O_RDWR;
	if (is_dir(k))
		return -EISDIR;
	if (wr && !writable(k))
		return -EACCES;
	if (wr) {
		int rc = may_change();
		if (rc)
			return rc;
	}
	if ((acc == O_RDONLY || acc == O_RDWR) && !readable(k))
		return -EACCES;
	if (k->open) {
		int rc = k->open(o, acc);
		if (rc)
			return rc;
	}
	fi->direct_io = 1;
	fi->nonseekable = 0;
	fi->fh = (uint64_t)(uintptr_t)o;
	return 0;
}

static int obs_open(const char *path, struct fuse_file_info *fi)
{
	struct ofile *o = ofile_new(path);
	if (!o)
		return -ENOMEM;
	int rc = fs_resolve(path, &o->nd);
	if (!rc)
		rc = open_node(fi, o);
	if (rc)
		ofile_free(o);
	return rc;
}

/* open(O_CREAT) of a missing name: the parent directory's kind creates it. */
static int obs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int rc = may_change();
	if (rc)
		return rc;
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	if (!*name)
		return -EACCES;
	struct ofile *o = ofile_new(path);
	if (!o)
		return -ENOMEM;
	struct node parent;
	node_init(&parent);
	char *dir = strndup(path, (size_t)(name - path));
	rc = dir ? fs_resolve(dir, &parent) : -ENOMEM;
	free(dir);
	if (rc == -ENOMEM)
		goto out;
	if (rc || !parent.kind->create) {
		rc = -EACCES;
		goto out;
	}
	rc = parent.kind->create(&parent, name, &o->nd, o->source);
	if (!rc && !o->nd.kind)
		rc = -EIO;
	if (!rc)
		rc = open_node(fi, o);
out:
	node_release(&parent);
	if (rc)
		ofile_free(o);
	return rc;
}

/* close(2): the end of the write; written files are synced. */
static int obs_flush(const char *path, struct fuse_file_info *fi)
{
	struct ofile *o = (struct ofile *)(uintptr_t)fi->fh;
	pthread_mutex_lock(&o->mu);
	int rc = fs_end_of_write(o);
	if (o->wrote && obsfs->sync_on_close && o->nd.kind->sync)
		rc = fs_worst(rc, o->nd.kind->sync(o));
	o->wrote = 0;
	pthread_mutex_unlock(&o->mu);
	return rc;
}

static int obs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	return fs_write((struct ofile *)(uintptr_t)fi->fh, buf, size, off);
}

static int obs_release(const char *path, struct fuse_file_info *fi)
{
	ofile_free((struct ofile *)(uintptr_t)fi->fh);
	return 0;
}

static int obs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return sync_all();
}

/* ---- reads ----------------------------------------------------------------- */

/* Reads of render kinds are served from o->content: rendered at the first
 * read, grown by refresh when a read wants more (a growing series); a
 * transaction file ends the write first, and serves the answer. */
static int obs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ofile *o = (struct ofile *)(uintptr_t)fi->fh;
	const struct fs_kind *k = o->nd.kind;
	if (k->read)
		return k->read(o, buf, size, off);
	int rc = 0;
	pthread_mutex_lock(&o->mu);
	if (k->type == FS_TXN && o->wrote) {
		rc = fs_end_of_write(o);
		o->wrote = 0;
		o->rendered = 1;
	} else if (!o->rendered) {
		rc = k->render ? k->render(o) : (k->type == FS_TXN ? 0 : -EACCES);
		o->rendered = 1;
	} else if (k->refresh && (uint64_t)o->content.len < (uint64_t)off + size) {
		rc = k->refresh(o, (uint64_t)off + size);
	}
	if (!rc) {
		if (off >= (off_t)o->content.len) {
			rc = 0;
		} else {
			size_t n = o->content.len - (size_t)off;
			if (n > size)
				n = size;
			memcpy(buf, o->content.data + off, n);
			rc = (int)n;
		}
	}
	pthread_mutex_unlock(&o->mu);
	return rc;
}

/* ---- the rest -------------------------------------------------------------- */

/* O_TRUNC and truncate(2) never erase history: accepted and ignored on a
 * writable file, EPERM on the others. */
static int obs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	if (!rc && !writable(nd.kind))
		rc = is_dir(nd.kind) ? -EISDIR : -EPERM;
	if (!rc)
		rc = may_change();
	node_release(&nd);
	return rc;
}

static int obs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	node_release(&nd);
	return rc;
}

/* rm: what the kind allows (a log stream); series history goes by
 * retention, not by rm. */
static int obs_unlink(const char *path)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	if (!rc)
		rc = may_change();
	if (!rc)
		rc = nd.kind->unlink ? nd.kind->unlink(&nd) : -EPERM;
	node_release(&nd);
	return rc;
}

/* What the tree refuses: its shape is the engine's (a series is created by
 * writing it, a stream by creating it), names and modes are fixed. An
 * existing name is EEXIST, a missing one ENOENT, anything else EPERM. */
static int refuse(const char *path, int exist_err)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	node_release(&nd);
	if (!rc)
		return exist_err;
	return rc == -ENOENT && exist_err == -EEXIST ? -EPERM : rc;
}

static int obs_mkdir(const char *path, mode_t mode)
{
	return refuse(path, -EEXIST);
}

static int obs_mknod(const char *path, mode_t mode, dev_t dev)
{
	return refuse(path, -EEXIST);
}

static int obs_symlink(const char *target, const char *path)
{
	return refuse(path, -EEXIST) == -EEXIST ? -EEXIST : -EPERM;
}

static int obs_rmdir(const char *path)
{
	return refuse(path, -EPERM);
}

static int obs_rename(const char *from, const char *to, unsigned int flags)
{
	return refuse(from, -EPERM);
}

static int obs_link(const char *from, const char *to)
{
	return refuse(from, -EPERM);
}

static int obs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return refuse(path, -EPERM);
}

static int obs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	return refuse(path, -EPERM);
}

/* The attribute text t into (value, size) as getxattr/listxattr answer. */
static int xattr_reply(const struct obs_buf *t, char *value, size_t size)
{
	if (size == 0)
		return (int)t->len;
	if (size < t->len)
		return -ERANGE;
	memcpy(value, t->data, t->len);
	return (int)t->len;
}

static int obs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	if (rc)
		return rc;
	struct obs_buf t;
	obs_buf_init(&t);
	rc = nd.kind->getxattr ? nd.kind->getxattr(&nd, name, &t) : -ENODATA;
	if (!rc)
		rc = xattr_reply(&t, value, size);
	obs_buf_release(&t);
	node_release(&nd);
	return rc;
}

static int obs_listxattr(const char *path, char *list, size_t size)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	if (rc)
		return rc;
	struct obs_buf t;
	obs_buf_init(&t);
	if (nd.kind->listxattr)
		rc = nd.kind->listxattr(&nd, &t);
	if (!rc)
		rc = xattr_reply(&t, list, size);
	obs_buf_release(&t);
	node_release(&nd);
	return rc;
}

static void *obs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->direct_io = 1;
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	/* unlink means unlink even while the file is open (a log stream read or
	 * written by someone): without this libfuse renames it to .fuse_hidden*
	 * instead, which we refuse, and rm failed */
	cfg->hard_remove = 1;
	cfg->nullpath_ok = 0;
	conn->max_write = 1u << 20;
	obsfs->max_write = conn->max_write;
	conn->max_read = 0;
	if (ready_pipe[1] >= 0) {
		/* mounted: release the parent and detach from its terminal */
		if (write(ready_pipe[1], "ok", 2) != 2) {
			/* the parent is gone; nothing to tell */
		}
		close(ready_pipe[1]);
		ready_pipe[1] = -1;
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	return NULL;
}

const struct fuse_operations obsfs_ops = {
	.init = obs_init,
	.getattr = obs_getattr,
	.readdir = obs_readdir,
	.open = obs_open,
	.create = obs_create,
	.read = obs_read,
	.write = obs_write,
	.flush = obs_flush,
	.release = obs_release,
	.fsync = obs_fsync,
	.truncate = obs_truncate,
	.utimens = obs_utimens,
	.unlink = obs_unlink,
	.mkdir = obs_mkdir,
	.mknod = obs_mknod,
	.symlink = obs_symlink,
	.rmdir = obs_rmdir,
	.rename = obs_rename,
	.link = obs_link,
	.chmod = obs_chmod,
	.chown = obs_chown,
	.getxattr = obs_getxattr,
	.listxattr = obs_listxattr,
};
