/* corrupt.h — reporting where corruption was detected (libobs core).
 *
 * lib/ never prints. A decoder whose check fails on bytes read from disk
 * returns obs_corrupt(FILE, OFFSET, CHECK): the detail — which file, the
 * byte offset in it where the failing structure starts, and which check
 * failed — is kept for the calling thread (obs_corrupt_last, so the caller
 * that got -EBADMSG can say why) and handed to the process's sink when one
 * is set (the daemon logs it to MOUNT/errors; background work such as
 * loading or re-encoding has no caller to ask). Thread-safe.
 *
 * Decoders of a buffer in memory (chunks, encodings, sketches, frames)
 * know no file: they pass file NULL and the offset in their buffer. Such a
 * detail is kept for the thread but not yet handed to the sink: the caller
 * that read the buffer from a file completes it with obs_corrupt_in()
 * (plain bytes at an offset of the file) or obs_corrupt_inside()
 * (decompressed bytes), which names the file and then reaches the sink. */
#ifndef OBS_CORE_CORRUPT_H
#define OBS_CORE_CORRUPT_H

#include <stdint.h>

#define OBS_CORRUPT_MAX 512   /* bytes of a rendered detail, NUL included */
#define OBS_CORRUPT_NO_OFFSET UINT64_MAX   /* the check has no file offset to give */

/* Record a detail and return -EBADMSG. file NULL: a buffer in memory (not
 * passed to the sink; see above).
 * The detail renders as "corrupt 'FILE' at offset OFF: CHECK" (without
 * " at offset OFF" for OBS_CORRUPT_NO_OFFSET). */
int obs_corrupt(const char *file, uint64_t off, const char *check);
/* The same with CHECK formatted printf-style. */
int obs_corruptf(const char *file, uint64_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The buffer whose decoder failed (file NULL) lies in file at offset base:
 * name the file, add base to the offset, prefix the check with what (may
 * be NULL). When the decoder recorded nothing, the check is what alone;
 * when its detail names a file already, it stays as it is. Returns
 * -EBADMSG. */
int obs_corrupt_in(const char *file, uint64_t base, const char *what);
/* The same for a buffer decompressed from the bytes of file at offset
 * base: the offset becomes base and the check reads "WHAT, offset N of its
 * decoded bytes: CHECK". Returns -EBADMSG. */
int obs_corrupt_inside(const char *file, uint64_t base, const char *what);

/* The calling thread's last detail ("" when none since the last clear). */
const char *obs_corrupt_last(void);
void obs_corrupt_clear(void);

/* Every detail (from any thread) is also passed to fn, called on the
 * detecting thread with the rendered line; NULL removes the sink. fn must
 * not call obs_corrupt. */
typedef void (*obs_corrupt_fn)(void *ctx, const char *file, uint64_t off, const char *check,
			       const char *line);
void obs_corrupt_set_sink(obs_corrupt_fn fn, void *ctx);

/* Details recorded since start, by every thread. */
uint64_t obs_corrupt_count(void);

#endif
