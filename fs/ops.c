/* ops.c — the FUSE operations (libfuse3's low-level API), generic over the
 * node kinds (tree.h).
 *
 * The kernel names files by inode; inode.c maps an inode to the path it
 * was looked up by (lookup counts, forget). Each operation resolves that
 * path once (fs_resolve) and does what the node's kind says: getattr from
 * its type and size, readdir from list, read from render/refresh or read,
 * write cut into lines for consume (writes.c), close through end_write
 * and sync, create/unlink/xattrs through their hooks; what has no hook is
 * refused with the errno a Unix file system gives. Nothing here names a
 * subtree. The operations on names and xattrs are in ops_names.c; what
 * both use is in ops_int.h.
 *
 * Every reply is sent with fuse_reply_*; a read of a kind with a poll hook
 * that has nothing yet is not answered here: wait.c parks the request and
 * answers it from its notifier thread when the source changes, so a
 * waiting reader holds no worker thread. poll(2) goes there too.
 *
 * Every file is direct_io: reads always reach us, so a growing series is
 * seen by `tail -f` (which polls st_size) and nothing stale is cached.
 * Attributes and entries are never cached (timeouts 0): sizes grow. */
#include "obsfs.h"
#include "ops_int.h"
#include "core/vec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The request a worker thread is serving (may_change asks who sent it). */
__thread fuse_req_t fs_cur_req;

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
	const struct fuse_ctx *cx = fs_cur_req ? fuse_req_ctx(fs_cur_req) : NULL;
	if (!cx || cx->uid == obsfs->owner || cx->uid == 0)
		return 0;
	return -EACCES;
}

uid_t fs_caller_uid(void)
{
	const struct fuse_ctx *cx = fs_cur_req ? fuse_req_ctx(fs_cur_req) : NULL;
	return cx ? cx->uid : getuid();
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

/* ---- paths ----------------------------------------------------------------- */

/* The path of ino, or of the child name of ino: malloc'd, NULL when the
 * inode is unknown (forgotten) or out of memory (*err says which). */
char *fs_ino_child_path(fuse_ino_t ino, const char *name, int *err)
{
	char *p = fs_ino_path(ino);
	if (!p) {
		*err = ino == FUSE_ROOT_ID ? -ENOMEM : -ESTALE;
		return NULL;
	}
	if (!name)
		return p;
	size_t pl = strlen(p), nl = strlen(name);
	char *c = malloc(pl + nl + 2);
	if (!c) {
		free(p);
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(c, p, pl);
	size_t at = pl;
	if (at == 0 || c[at - 1] != '/')
		c[at++] = '/';
	memcpy(c + at, name, nl + 1);
	free(p);
	return c;
}

void fs_reply_rc(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

/* ---- attributes ------------------------------------------------------------ */

static int node_stat(struct node *nd, struct stat *st, fuse_ino_t ino)
{
	const struct fs_kind *k = nd->kind;
	int rc = 0;
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtim.tv_sec = obsfs->mounted_ms / 1000;
	st->st_mode = type_mode(k->type);
	st->st_nlink = is_dir(k) ? 2 : 1;
	if (k->big_writes)
		st->st_blksize = (blksize_t)obsfs->max_write;
	if (k->size && !is_dir(k)) {
		uint64_t size = 0;
		rc = k->size(nd, &size);
		st->st_size = (off_t)size;
	}
	if (k->live)
		st->st_mtim.tv_sec = obs_time_now() / 1000;
	st->st_ctim = st->st_atim = st->st_mtim;
	return rc;
}

static int path_stat(const char *path, struct stat *st, fuse_ino_t ino)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	if (!rc)
		rc = node_stat(&nd, st, ino);
	node_release(&nd);
	return rc;
}

/* Answer a lookup or create of path: its inode counted, attributes, no
 * caching. 0 or -errno (nothing counted). */
static int make_entry(const char *path, struct node *nd, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	int rc = node_stat(nd, &e->attr, 0);
	if (!rc)
		rc = fs_ino_get(path, &e->ino, &e->generation);
	e->attr.st_ino = e->ino;
	e->attr_timeout = 0;
	e->entry_timeout = 0;
	return rc;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	PATH_OR_REPLY(path, parent, name);
	struct node nd;
	node_init(&nd);
	struct fuse_entry_param e;
	rc = fs_resolve(path, &nd);
	if (!rc)
		rc = make_entry(path, &nd, &e);
	node_release(&nd);
	if (rc)
		fs_reply_rc(req, rc);
	else if (fuse_reply_entry(req, &e))
		fs_ino_forget(e.ino, 1);   /* interrupted: the kernel did not take it */
	free(path);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_ino_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_ino_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	PATH_OR_REPLY(path, ino, NULL);
	struct stat st;
	rc = path_stat(path, &st, ino);
	free(path);
	if (rc)
		fs_reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

/* O_TRUNC and truncate(2) never erase history: accepted and ignored on a
 * writable file, EPERM on the others. */
static int do_truncate(const char *path)
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

/* What the tree refuses: its shape is the engine's (a series is created by
 * writing it, a stream by creating it), names and modes are fixed. An
 * existing name is EEXIST, a missing one ENOENT, anything else EPERM. */
int fs_refuse(const char *path, int exist_err)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(path, &nd);
	node_release(&nd);
	if (!rc)
		return exist_err;
	return rc == -ENOENT && exist_err == -EEXIST ? -EPERM : rc;
}

/* chmod, chown, truncate, utimens in that order (the first error wins),
 * then the attributes. */
static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	PATH_OR_REPLY(path, ino, NULL);
	if (to_set & FUSE_SET_ATTR_MODE)
		rc = fs_refuse(path, -EPERM);
	if (!rc && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = fs_refuse(path, -EPERM);
	if (!rc && (to_set & FUSE_SET_ATTR_SIZE))
		rc = do_truncate(path);
	struct stat st;
	if (!rc)   /* utimens: accepted on what exists */
		rc = path_stat(path, &st, ino);
	free(path);
	if (rc)
		fs_reply_rc(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

/* ---- directories ----------------------------------------------------------- */

/* An open directory: the whole listing in the kernel's format, built at
 * the first readdir (and again at a rewind), served in pieces by offset.
 * ends[i] is where entry i ends, the offset the kernel hands back. */
struct dirh {
	char *path;
	fuse_req_t req;
	struct obs_buf ents;
	uint64_t *ends;
	size_t n, cap;
	int err;
};

static int dir_filler(void *buf, const char *name, const struct stat *stbuf, off_t off,
		      enum fuse_fill_dir_flags flags)
{
	struct dirh *d = buf;
	struct stat st = { .st_ino = 0xffffffffu };   /* FUSE_UNKNOWN_INO: ls stats what it needs */
	size_t sz = fuse_add_direntry(d->req, NULL, 0, name, NULL, 0);
	if (d->err || obs_buf_reserve(&d->ents, sz)) {
		d->err = -ENOMEM;
		return 1;
	}
	if (OBS_VEC_RESERVE_FROM(d->ends, d->cap, d->n + 1, 256)) {
		d->err = -ENOMEM;
		return 1;
	}
	fuse_add_direntry(d->req, d->ents.data + d->ents.len, sz, name, &st, (off_t)(d->ents.len + sz));
	d->ents.len += sz;
	d->ends[d->n++] = d->ents.len;
	return 0;
}

static int dir_fill(struct dirh *d)
{
	struct node nd;
	node_init(&nd);
	int rc = fs_resolve(d->path, &nd);
	if (!rc && !is_dir(nd.kind))
		rc = -ENOTDIR;
	obs_buf_reset(&d->ents);
	d->n = 0;
	d->err = 0;
	if (!rc) {
		struct fs_fill f = { d, dir_filler, { 0 } };
		obs_buf_init(&f.name);
		dir_filler(d, ".", NULL, 0, 0);
		dir_filler(d, "..", NULL, 0, 0);
		if (nd.kind->list)
			rc = nd.kind->list(&nd, &f);
		obs_buf_release(&f.name);
	}
	node_release(&nd);
	return rc ? rc : d->err;
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	PATH_OR_REPLY(path, ino, NULL);
	struct node nd;
	node_init(&nd);
	rc = fs_resolve(path, &nd);
	if (!rc && !is_dir(nd.kind))
		rc = -ENOTDIR;
	node_release(&nd);
	struct dirh *d = rc ? NULL : calloc(1, sizeof *d);
	if (!rc && !d)
		rc = -ENOMEM;
	if (rc) {
		free(path);
		fs_reply_rc(req, rc);
		return;
	}
	d->path = path;
	obs_buf_init(&d->ents);
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi)) {
		obs_buf_release(&d->ents);
		free(d->ends);
		free(d->path);
		free(d);
	}
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	fs_cur_req = req;
	if (off == 0) {
		d->req = req;
		int rc = dir_fill(d);
		if (rc) {
			fs_reply_rc(req, rc);
			return;
		}
	}
	/* the entries from the one starting at off, as many whole ones as fit */
	size_t lo = 0, hi = d->n;
	while (lo < hi) {   /* first entry ending after off */
		size_t mid = (lo + hi) / 2;
		if (d->ends[mid] <= (uint64_t)off)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t last = lo;
	while (last < d->n && d->ends[last] - (uint64_t)off <= size)
		last++;
	size_t n = last > lo ? (size_t)(d->ends[last - 1] - (uint64_t)off) : 0;
	/* from a copy: the kernel can end the readdir, and releasedir free d on
	 * another worker, before writev returns (ThreadSanitizer's writev reads
	 * the buffer then: a use after free to it) */
	char *copy = n ? malloc(n) : NULL;
	if (n && !copy) {
		fs_reply_rc(req, -ENOMEM);
		return;
	}
	if (n)
		memcpy(copy, d->ents.data + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_cur_req = req;
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	obs_buf_release(&d->ents);
	free(d->ends);
	free(d->path);
	free(d);
	fuse_reply_err(req, 0);
}

/* ---- open files ------------------------------------------------------------ */

/* Every open file, so that those the kernel never released (files still
 * open when the daemon stops) are freed at the end (fs_ofiles_release). */
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ofile *open_head;

static struct ofile *ofile_new(const char *path)
{
	struct ofile *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	pthread_mutex_lock(&open_mu);
	o->open_next = open_head;
	if (open_head)
		open_head->open_prev = o;
	open_head = o;
	pthread_mutex_unlock(&open_mu);
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
	pthread_mutex_lock(&open_mu);
	if (o->open_prev)
		o->open_prev->open_next = o->open_next;
	else
		open_head = o->open_next;
	if (o->open_next)
		o->open_next->open_prev = o->open_prev;
	pthread_mutex_unlock(&open_mu);
	fs_poll_forget(o);
	if (o->priv && o->priv_free)
		o->priv_free(o->priv);
	node_release(&o->nd);
	obs_buf_release(&o->content);
	obs_buf_release(&o->carry);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

void fs_ofiles_release(void)
{
	while (open_head)
		ofile_free(open_head);
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
	fi->keep_cache = 0;
	fi->nonseekable = 0;
	fi->fh = (uint64_t)(uintptr_t)o;
	return 0;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	PATH_OR_REPLY(path, ino, NULL);
	struct ofile *o = ofile_new(path);
	rc = o ? fs_resolve(path, &o->nd) : -ENOMEM;
	if (!rc)
		rc = open_node(fi, o);
	free(path);
	if (rc) {
		ofile_free(o);
		fs_reply_rc(req, rc);
	} else if (fuse_reply_open(req, fi)) {
		ofile_free(o);   /* interrupted: no release will come */
	}
}

/* open(O_CREAT) of a missing name: the parent directory's kind creates it. */
static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	PATH_OR_REPLY(path, parent, name);
	struct ofile *o = NULL;
	struct node pnode;
	node_init(&pnode);
	struct fuse_entry_param e;
	rc = may_change();
	if (rc)
		goto out;
	if (!*name) {
		rc = -EACCES;
		goto out;
	}
	if (!(o = ofile_new(path))) {
		rc = -ENOMEM;
		goto out;
	}
	char *dir = fs_ino_path(parent);
	rc = dir ? fs_resolve(dir, &pnode) : -ESTALE;
	free(dir);
	if (rc == -ENOMEM)
		goto out;
	if (rc || !pnode.kind->create) {
		rc = -EACCES;
		goto out;
	}
	rc = pnode.kind->create(&pnode, name, &o->nd, o->source);
	if (!rc && !o->nd.kind)
		rc = -EIO;
	if (!rc)
		rc = open_node(fi, o);
	if (!rc)
		rc = make_entry(path, &o->nd, &e);
out:
	node_release(&pnode);
	free(path);
	if (rc) {
		ofile_free(o);
		fs_reply_rc(req, rc);
	} else if (fuse_reply_create(req, &e, fi)) {
		fs_ino_forget(e.ino, 1);
		ofile_free(o);
	}
}

/* Rejections a write or close added to errors wake its followers. */
static void wake_errors(void)
{
	static _Atomic uint64_t seen;
	uint64_t t = obs_errlog_total(obs_db_errlog(obsfs->db));
	if (atomic_exchange(&seen, t) != t)
		obsfs_wake("errors");
}

/* close(2): the end of the write; written files are synced. */
static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofile *o = (struct ofile *)(uintptr_t)fi->fh;
	fs_cur_req = req;
	pthread_mutex_lock(&o->mu);
	int rc = fs_end_of_write(o);
	int wrote = o->wrote;
	if (o->wrote && obsfs->sync_on_close && o->nd.kind->sync)
		rc = fs_worst(rc, o->nd.kind->sync(o));
	o->wrote = 0;
	pthread_mutex_unlock(&o->mu);
	if (wrote)
		wake_errors();
	fs_reply_rc(req, rc);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	fs_cur_req = req;
	int rc = fs_write((struct ofile *)(uintptr_t)fi->fh, buf, size, off);
	wake_errors();
	if (rc < 0)
		fs_reply_rc(req, rc);
	else
		fuse_reply_write(req, (size_t)rc);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_cur_req = req;
	ofile_free((struct ofile *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fs_cur_req = req;
	fs_reply_rc(req, sync_all());
}

/* ---- reads ----------------------------------------------------------------- */

/* Make o->content hold what a read up to end can get (render kinds, o->mu
 * held): rendered at the first read, grown by refresh when a read wants
 * more (a growing series); a transaction file ends the write first. */
static int content_upto(struct ofile *o, uint64_t end)
{
	const struct fs_kind *k = o->nd.kind;
	int rc = 0;
	if (k->type == FS_TXN && o->wrote) {
		rc = fs_end_of_write(o);
		o->wrote = 0;
		o->rendered = 1;
	} else if (!o->rendered) {
		rc = k->render ? k->render(o) : (k->type == FS_TXN ? 0 : -EACCES);
		o->rendered = 1;
	} else if (k->refresh && (uint64_t)o->content.len < end) {
		rc = k->refresh(o, end);
	}
	return rc;
}

int fs_read_now(struct ofile *o, char *buf, size_t size, off_t off)
{
	const struct fs_kind *k = o->nd.kind;
	int rc;
	if (k->read) {
		rc = k->read(o, buf, size, off);
		pthread_mutex_lock(&o->mu);
	} else {
		pthread_mutex_lock(&o->mu);
		rc = content_upto(o, (uint64_t)off + size);
		if (!rc && off < (off_t)o->content.len) {
			size_t n = o->content.len - (size_t)off;
			if (n > size)
				n = size;
			memcpy(buf, o->content.data + off, n);
			rc = (int)n;
		}
	}
	if (rc >= 0)
		o->read_end = (uint64_t)off + (uint64_t)rc;
	pthread_mutex_unlock(&o->mu);
	return rc;
}

int fs_ready(struct ofile *o, uint64_t off, struct fs_event **wake)
{
	const struct fs_kind *k = o->nd.kind;
	*wake = NULL;
	if (!k->poll)
		return 1;
	pthread_mutex_lock(&o->mu);
	int r;
	if (off == UINT64_MAX)
		off = o->read_end;
	if (!k->read && (content_upto(o, off + 1) || o->content.len > off))
		r = 1;   /* data, or an error the read reports */
	else
		r = k->poll(o, off, wake);
	pthread_mutex_unlock(&o->mu);
	return r;
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	fs_cur_req = req;
	fs_read_reply(req, (struct ofile *)(uintptr_t)fi->fh, size, off, fi->flags & O_NONBLOCK);
}

static void ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	fs_cur_req = req;
	struct ofile *o = (struct ofile *)(uintptr_t)fi->fh;
	unsigned out = writable(o->nd.kind) ? POLLOUT | POLLWRNORM : 0;
	fs_poll(req, o, ph, out);
}

/* ---- the session -------------------------------------------------------------- */

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = 1u << 20;
	obsfs->max_write = conn->max_write;
	conn->max_read = obsfs->max_read;   /* libfuse wants -o max_read repeated here */
	if (fs_wait_start()) {
		/* no notifier: waiting reads are answered at once (end of file) */
	}
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
}

const struct fuse_lowlevel_ops obsfs_ll_ops = {
	.init = ll_init,
	.lookup = ll_lookup,
	.forget = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.releasedir = ll_releasedir,
	.open = ll_open,
	.create = ll_create,
	.read = ll_read,
	.write = ll_write,
	.flush = ll_flush,
	.release = ll_release,
	.fsync = ll_fsync,
	.poll = ll_poll,
	.unlink = fs_ll_unlink,
	.mkdir = fs_ll_mkdir,
	.mknod = fs_ll_mknod,
	.symlink = fs_ll_symlink,
	.rmdir = fs_ll_rmdir,
	.rename = fs_ll_rename,
	.link = fs_ll_link,
	.getxattr = fs_ll_getxattr,
	.listxattr = fs_ll_listxattr,
};
