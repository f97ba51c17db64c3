/* fileio.h — the small file-system steps of every durable write: whole
 * writes, directory fsync (after create/rename/unlink), atomic file
 * replacement and recursive removal. 0 or -errno. */
#ifndef OBS_CORE_FILEIO_H
#define OBS_CORE_FILEIO_H

#include <stddef.h>

/* write(2) all n bytes, retrying on EINTR and short writes. */
int obs_write_all(int fd, const void *p, size_t n);
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

#endif
