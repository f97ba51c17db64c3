/* fileio.h — the small file-system steps of every durable write: whole
 * writes, directory fsync (after create/rename/unlink). 0 or -errno. */
#ifndef OBS_CORE_FILEIO_H
#define OBS_CORE_FILEIO_H

#include <stddef.h>

/* write(2) all n bytes, retrying on EINTR and short writes. */
int obs_write_all(int fd, const void *p, size_t n);
/* fsync a directory, so entries created or renamed in it are durable. */
int obs_fsync_dir(const char *dir);
/* fsync the directory holding path ("." for a bare name). */
int obs_fsync_parent(const char *path);

#endif
