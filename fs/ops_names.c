/* ops_names.c — the FUSE operations on names and extended attributes:
 * unlink through the kind's hook; mkdir, mknod, symlink, rmdir, rename
 * and link refused with the errno a Unix file system gives (the tree is
 * fixed); getxattr/listxattr through the kind. Part of ops.c's dispatch
 * (ops_int.h). */
#include "obsfs.h"
#include "ops_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

/* ---- names ------------------------------------------------------------------ */

/* rm: what the kind allows (a log stream); series history goes by
 * retention, not by rm. */
void fs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	PATH_OR_REPLY(path, parent, name);
	struct node nd;
	node_init(&nd);
	rc = fs_resolve(path, &nd);
	if (!rc)
		rc = may_change();
	if (!rc)
		rc = nd.kind->unlink ? nd.kind->unlink(&nd) : -EPERM;
	node_release(&nd);
	free(path);
	fs_reply_rc(req, rc);
}

void fs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	PATH_OR_REPLY(path, parent, name);
	rc = fs_refuse(path, -EEXIST);
	free(path);
	fs_reply_rc(req, rc);
}

void fs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	PATH_OR_REPLY(path, parent, name);
	rc = fs_refuse(path, -EEXIST);
	free(path);
	fs_reply_rc(req, rc);
}

void fs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	PATH_OR_REPLY(path, parent, name);
	rc = fs_refuse(path, -EEXIST) == -EEXIST ? -EEXIST : -EPERM;
	free(path);
	fs_reply_rc(req, rc);
}

void fs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	PATH_OR_REPLY(path, parent, name);
	rc = fs_refuse(path, -EPERM);
	free(path);
	fs_reply_rc(req, rc);
}

void fs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	PATH_OR_REPLY(path, parent, name);
	rc = fs_refuse(path, -EPERM);
	free(path);
	fs_reply_rc(req, rc);
}

void fs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	PATH_OR_REPLY(path, ino, NULL);
	rc = fs_refuse(path, -EPERM);
	free(path);
	fs_reply_rc(req, rc);
}

/* ---- extended attributes ---------------------------------------------------- */

/* The attribute text t as getxattr/listxattr answer it. */
static void xattr_reply(fuse_req_t req, const struct obs_buf *t, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, t->len);
	else if (size < t->len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, t->data, t->len);
}

/* getxattr (name) or listxattr (name NULL) of ino through its kind */
static void xattr_op(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	PATH_OR_REPLY(path, ino, NULL);
	struct node nd;
	node_init(&nd);
	struct obs_buf t;
	obs_buf_init(&t);
	rc = fs_resolve(path, &nd);
	if (!rc && name)
		rc = nd.kind->getxattr ? nd.kind->getxattr(&nd, name, &t) : -ENODATA;
	else if (!rc && nd.kind->listxattr)
		rc = nd.kind->listxattr(&nd, &t);
	if (rc)
		fs_reply_rc(req, rc);
	else
		xattr_reply(req, &t, size);
	obs_buf_release(&t);
	node_release(&nd);
	free(path);
}

void fs_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	xattr_op(req, ino, name, size);
}

void fs_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_op(req, ino, NULL, size);
}
