/* fileio.h — the small file-system steps of every durable write: whole
 * writes, directory fsync (after create/rename/unlink), atomic file
 * replacement and recursive removal; and whole-file reads. 0 or -errno. */
#ifndef OBS_CORE_FILEIO_H
#define OBS_CORE_FILEIO_H

#include <stddef.h>

struct obs_buf;

/* write(2) all n bytes, retrying on EINTR and short writes. */
int obs_write_all(int fd, const void *p, size_t n);
/* Read a whole file into a fresh heap buffer: *data (the caller frees it)
 * holds *len bytes and a NUL after them, so a text file is a C string.
 * max > 0 bounds the size: a longer file is -EFBIG; 0 means no bound but
 * memory. A missing file is -ENOENT (callers that treat it as empty test
 * for that). On failure *data and *len are left unmodified. */
int obs_read_file(const char *path, size_t max, char **data, size_t *len);
/* The same from an open descriptor, read to its end (a file, a pipe,
 * stdin); fd stays open. */
int obs_read_fd(int fd, size_t max, char **data, size_t *len);
/* The same, appended to out (max bounds the bytes appended); on failure
 * out holds what it held before. */
int obs_read_file_buf(const char *path, size_t max, struct obs_buf *out);
int obs_read_fd_buf(int fd, size_t max, struct obs_buf *out);

/* fsync a directory, so entries created or renamed in it are durable. */
int obs_fsync_dir(const char *dir);
/* fsync the directory holding path ("." for a bare name). */
int obs_fsync_parent(const char *path);

/* Remove path and, when it is a directory, everything below it (symbolic
 * links are removed, not followed). A missing path is not an error. */
int obs_rm_tree(const char *path);

/* An atomic replacement of a file: the new content is written to a temp
 * file beside it (PATH.tmp.XXXXXX, mode 0644), which commit fsyncs, renames
 * over PATH and makes durable with a directory fsync. A reader sees the old
 * file or the new one, never a mix; a crash before the rename leaves the
 * old file (and a stray temp file). */
struct obs_atomic_file {
	int fd;        /* the temp file: write the content here */
	char *path;
	char *tmp;
};

int obs_atomic_open(struct obs_atomic_file *a, const char *path);
/* fsync, close, rename, directory fsync. With pt set, the fault points
 * "PT.fsync", "PT.rename" and "PT.dirsync" (fault.h) come before those
 * steps. On a failure before the rename the temp file is removed and PATH
 * is untouched; after it (dirsync) PATH holds the new content, not known
 * durable. Releases a in every case. */
int obs_atomic_commit(struct obs_atomic_file *a, const char *pt);
/* Drop the temp file; accepts a released or zeroed a. */
void obs_atomic_abort(struct obs_atomic_file *a);

/* The whole sequence for an in-memory content: open, write ("PT.write"
 * first), commit. */
int obs_write_file_atomic(const char *path, const void *p, size_t n, const char *pt);
/* The same replacement without its fsyncs: readers still see the old file
 * or the new one, but a crash may leave either (or an empty file). For a
 * file rewritten often whose loss costs nothing (a status snapshot). */
int obs_write_file_replace(const char *path, const void *p, size_t n);

#endif
