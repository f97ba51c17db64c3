/* ops_int.h — what ops.c shares with the operations split out of it
 * (ops_names.c): the path of a request, replies, refusals. */
#ifndef OBS_FS_OPS_INT_H
#define OBS_FS_OPS_INT_H

#include "obsfs.h"

/* The request a worker thread is serving (may_change asks who sent it). */
extern __thread fuse_req_t fs_cur_req;

/* The path of ino, or of the child name of ino: malloc'd, NULL when the
 * inode is unknown (forgotten) or out of memory (*err says which). */
char *fs_ino_child_path(fuse_ino_t ino, const char *name, int *err);
/* fuse_reply_err with a 0 or -errno */
void fs_reply_rc(fuse_req_t req, int rc);
/* The errno for an operation the tree does not allow on path: exist_err
 * when it exists, else EPERM or the lookup's error (ops.c). */
int fs_refuse(const char *path, int exist_err);
/* the operations of ops_names.c */
void fs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		  const char *newname, unsigned int flags);
void fs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fs_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

/* Start of every operation: note the request, the path of (ino, name). */
#define PATH_OR_REPLY(path, ino, name)                      \
	int rc = 0;                                         \
	fs_cur_req = req;                                   \
	char *path = fs_ino_child_path((ino), (name), &rc); \
	if (!path) {                                        \
		fs_reply_rc(req, rc);                       \
		return;                                     \
	}

#endif
