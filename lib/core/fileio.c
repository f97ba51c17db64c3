/* fileio.c — whole writes, directory fsync, atomic replacement, recursive
 * removal, whole-file reads. */
#include "core/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fault.h"

int obs_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = write(fd, c, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

int obs_read_fd_buf(int fd, size_t max, struct obs_buf *out)
{
	size_t base = out->len;
	struct stat st;
	size_t step = 65536;
	/* a regular file's size is a good first guess; it may still grow */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < SIZE_MAX / 2)
		step = (size_t)st.st_size + 1;
	int rc = 0;
	for (;;) {
		size_t got = out->len - base;
		if (max && step > max + 1 - got)
			step = max + 1 - got;   /* one byte past max tells a longer file */
		if (obs_buf_reserve(out, step)) {
			rc = -ENOMEM;
			break;
		}
		ssize_t k = read(fd, out->data + out->len, step);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = -errno;
			break;
		}
		if (k == 0)
			break;
		out->len += (size_t)k;
		if (max && out->len - base > max) {
			rc = -EFBIG;
			break;
		}
		step = 65536;
	}
	if (!rc)
		rc = obs_buf_reserve(out, 0);   /* an empty file still gets its NUL */
	if (rc)
		out->len = base;
	if (out->cap)
		out->data[out->len] = 0;
	return rc;
}

/* hand b's content to the caller on success, free it on failure */
static int take(int rc, struct obs_buf *b, char **data, size_t *len)
{
	if (rc)
		obs_buf_release(b);
	else
		*data = obs_buf_detach(b, len);
	return rc;
}

int obs_read_fd(int fd, size_t max, char **data, size_t *len)
{
	struct obs_buf b;
	obs_buf_init(&b);
	return take(obs_read_fd_buf(fd, max, &b), &b, data, len);
}

int obs_read_file_buf(const char *path, size_t max, struct obs_buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = obs_read_fd_buf(fd, max, out);
	close(fd);
	return rc;
}

int obs_read_file(const char *path, size_t max, char **data, size_t *len)
{
	struct obs_buf b;
	obs_buf_init(&b);
	return take(obs_read_file_buf(path, max, &b), &b, data, len);
}

int obs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int obs_fsync_parent(const char *path)
{
	char *d = strdup(path);
	if (!d)
		return -ENOMEM;
	char *slash = strrchr(d, '/');
	const char *dir = ".";
	if (slash) {
		*slash = 0;
		dir = slash == d ? "/" : d;
	}
	int rc = obs_fsync_dir(dir);
	free(d);
	return rc;
}

/* Empty the directory open as dfd (closed here), depth first. */
static int rm_below(int dfd)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		int rc = -errno;
		close(dfd);
		return rc;
	}
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!unlinkat(dirfd(d), e->d_name, 0) || errno == ENOENT)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			if (!rc)
				rc = -errno;
			continue;
		}
		int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int r = sub < 0 ? -errno : rm_below(sub);
		if (!r && unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) && errno != ENOENT)
			r = -errno;
		if (r && !rc)
			rc = r;
	}
	closedir(d);
	return rc;
}

int obs_rm_tree(const char *path)
{
	if (!unlink(path) || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	int rc = rm_below(dfd);
	if (!rc && rmdir(path) && errno != ENOENT)
		rc = -errno;
	return rc;
}


void obs_atomic_abort(struct obs_atomic_file *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->tmp)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	a->fd = -1;
	a->tmp = a->path = NULL;
}

int obs_atomic_open(struct obs_atomic_file *a, const char *path)
{
	size_t n = strlen(path);
	a->fd = -1;
	a->path = strdup(path);
	a->tmp = malloc(n + sizeof(".tmp.XXXXXX"));
	if (!a->path || !a->tmp) {
		free(a->path);
		free(a->tmp);
		a->tmp = a->path = NULL;
		return -ENOMEM;
	}
	memcpy(a->tmp, path, n);
	memcpy(a->tmp + n, ".tmp.XXXXXX", sizeof(".tmp.XXXXXX"));
	a->fd = mkostemp(a->tmp, O_CLOEXEC);
	if (a->fd < 0) {
		int rc = -errno;
		free(a->tmp);
		a->tmp = NULL;
		obs_atomic_abort(a);
		return rc;
	}
	if (fchmod(a->fd, 0644)) {
		int rc = -errno;
		obs_atomic_abort(a);
		return rc;
	}
	return 0;
}

/* durable: fsync the file before the rename and the directory after it */
static int commit(struct obs_atomic_file *a, const char *pt, int durable)
{
	int rc = obs_fault_step(pt, "fsync");
	if (!rc && durable && fsync(a->fd))
		rc = -errno;
	int fd = a->fd;
	a->fd = -1;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc)
		rc = obs_fault_step(pt, "rename");
	if (!rc && rename(a->tmp, a->path))
		rc = -errno;
	if (rc) {
		obs_atomic_abort(a);
		return rc;
	}
	free(a->tmp);
	a->tmp = NULL;   /* it is PATH now: abort must not unlink it */
	rc = obs_fault_step(pt, "dirsync");
	if (!rc && durable)
		rc = obs_fsync_parent(a->path);
	obs_atomic_abort(a);
	return rc;
}

int obs_atomic_commit(struct obs_atomic_file *a, const char *pt)
{
	return commit(a, pt, 1);
}

static int write_file(const char *path, const void *p, size_t n, const char *pt, int durable)
{
	struct obs_atomic_file a;
	int rc = obs_atomic_open(&a, path);
	if (rc)
		return rc;
	rc = obs_fault_step(pt, "write");
	if (!rc)
		rc = obs_write_all(a.fd, p, n);
	if (rc) {
		obs_atomic_abort(&a);
		return rc;
	}
	return commit(&a, pt, durable);
}

int obs_write_file_atomic(const char *path, const void *p, size_t n, const char *pt)
{
	return write_file(path, p, n, pt, 1);
}

int obs_write_file_replace(const char *path, const void *p, size_t n)
{
	return write_file(path, p, n, NULL, 0);
}
