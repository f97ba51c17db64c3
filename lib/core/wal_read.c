/* wal_read.c — replay and recovery of the write-ahead log: segment scans,
 * resync past damage, repair of a torn tail, the directory lock. The format
 * and the recovery rules are documented in wal.c, which writes the log. */
#include "core/wal.h"
#include "core/wal_int.h"

#include "core/bytes.h"
#include "core/corrupt.h"
#include "core/crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reading ----------------------------------------------------------- */

struct scan {
	uint64_t valid;     /* bytes of the file that are good (header + records) */
	uint64_t records;
	uint64_t skipped;   /* with resync: damaged bytes passed over before valid */
	bool bad_header;    /* header short or damaged */
	bool torn;          /* stopped before the end of the file */
	uint64_t fn_off;    /* payload offset of the record fn failed on */
	uint8_t fn_type;
};

/* Is there a valid record at off? Its length on success, else -1. */
static int64_t rec_at(const unsigned char *m, uint64_t off, uint64_t size)
{
	uint64_t left = size - off;
	if (left < REC_HDR)
		return -1;
	const unsigned char *r = m + off;
	uint32_t n = obs_get_le32(r);
	if (n > REC_MAX || n > left - REC_HDR)
		return -1;
	uint32_t crc = obs_crc32c(0, r, 5);
	crc = obs_crc32c(crc, r + REC_HDR, n);
	return crc == obs_get_le32(r + 5) ? (int64_t)n : -1;
}

/* Verify (and hand to fn, when set) the records of a segment of size bytes.
 * With resync (recovery), a damaged record does not end the scan: the next
 * offset holding a valid record is searched byte by byte and the bytes in
 * between are counted in sc->skipped; sc->valid is then the end of the last
 * valid record. Returns 0 (see *sc for where it stopped), fn's non-zero
 * return, or -errno. */
static int seg_scan(int fd, uint64_t size, obs_wal_record_fn fn, void *ctx, bool resync, struct scan *sc)
{
	memset(sc, 0, sizeof *sc);
	if (size < WAL_HDR) {
		sc->bad_header = sc->torn = true;
		return 0;
	}
	if (size > SIZE_MAX)
		return -EFBIG;
	const unsigned char *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	madvise((void *)m, (size_t)size, MADV_SEQUENTIAL);
	int rc = 0;
	if (memcmp(m, WAL_MAGIC, 8) || obs_crc32c(0, m, 12) != obs_get_le32(m + 12)) {
		sc->bad_header = sc->torn = true;
		goto out;
	}
	if (obs_get_le32(m + 8) != WAL_VERSION) {
		rc = -ENOTSUP;
		goto out;
	}
	uint64_t off = WAL_HDR, good = WAL_HDR;
	while (off < size) {
		int64_t n = rec_at(m, off, size);
		if (n < 0) {
			if (!resync)
				break;
			uint64_t next = off + 1;
			while (next < size && rec_at(m, next, size) < 0)
				next++;
			if (next >= size)
				break;   /* nothing valid after: a torn tail */
			sc->skipped += next - off;
			off = next;
			continue;
		}
		const unsigned char *r = m + off;
		off += REC_HDR + (uint64_t)n;
		good = off;
		sc->records++;
		if (fn && (rc = fn(ctx, r[4], r + REC_HDR, (size_t)n)) != 0) {
			sc->fn_off = (uint64_t)(r - m) + REC_HDR;
			sc->fn_type = r[4];
			break;
		}
	}
	sc->valid = good;
	sc->torn = !rc && good < size;
out:
	munmap((void *)m, (size_t)size);
	return rc;
}

/* Cut the torn tail of the last segment (or remove it when its header is bad). */
static int seg_repair(int dfd, const char *name, const struct scan *sc)
{
	if (sc->bad_header) {
		if (unlinkat(dfd, name, 0))
			return -errno;
		return fsync(dfd) ? -errno : 0;
	}
	int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = 0;
	if (ftruncate(fd, (off_t)sc->valid) || fdatasync(fd))
		err = -errno;
	close(fd);
	return err;
}

/* Walk the WAL in dfd. With last_only, only the last segment is read (and
 * repaired); otherwise every record goes to fn. Fills *st. */
int wal_recover(const char *dir, int dfd, bool last_only, bool recover, obs_wal_record_fn fn, void *ctx,
		       struct obs_wal_stats *st)
{
	uint64_t *segs = NULL;
	size_t n = 0;
	memset(st, 0, sizeof *st);
	int err = wal_seg_list(dfd, &segs, &n);
	if (err)
		return err;
	obs_corrupt_clear();   /* a detail from here on is this replay's */
	for (size_t i = 0; i < n && !err; i++) {
		char name[32], path[4200];
		bool last = i + 1 == n;
		wal_seg_name(name, sizeof name, segs[i]);
		if (i > 0 && segs[i] != segs[i - 1] + 1) {
			if (recover || last_only) {   /* open: the replay judged it */
				st->skipped_segments += segs[i] - segs[i - 1] - 1;
			} else {   /* a segment is missing */
				err = obs_corruptf(wal_seg_path(path, sizeof path, dir, name), 0,
						  "segment %08" PRIu64 " before this one is missing", segs[i] - 1);
				break;
			}
		}
		int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			break;
		}
		struct stat sb;
		if (fstat(fd, &sb)) {
			err = -errno;
			close(fd);
			break;
		}
		uint64_t size = (uint64_t)sb.st_size;
		if (last_only && !last) {
			close(fd);
			st->segments++;
			st->bytes += size;
			if (!st->first_seg)
				st->first_seg = segs[i];
			st->last_seg = segs[i];
			continue;
		}
		struct scan sc;
		err = seg_scan(fd, size, last_only ? NULL : fn, ctx, recover, &sc);
		close(fd);
		st->records += sc.records;
		st->skipped_bytes += sc.skipped;
		if (err == -EBADMSG && sc.fn_off) {   /* the payload's decoder said what */
			char what[48];
			snprintf(what, sizeof what, "record type %u", sc.fn_type);
			obs_corrupt_in(wal_seg_path(path, sizeof path, dir, name), sc.fn_off, what);
		}
		if (err)
			break;
		if (sc.torn && !last && recover) {
			/* damage at the end of an earlier segment (or a bad header):
			 * passed over, the segment is kept as it is */
			st->skipped_bytes += sc.bad_header ? size : size - sc.valid;
			sc.torn = false;
		}
		if (sc.torn) {
			if (!last) {
				err = obs_corruptf(wal_seg_path(path, sizeof path, dir, name), sc.valid,
						  sc.bad_header ? "segment header short, or bad magic or CRC-32C"
								: "record with a bad length or CRC-32C in a segment that is not the last");
				break;
			}
			err = seg_repair(dfd, name, &sc);
			if (err)
				break;
			st->torn_bytes += size - sc.valid;
			if (sc.bad_header)
				break;      /* removed: not counted */
			size = sc.valid;
		}
		st->segments++;
		st->bytes += size;
		if (!st->first_seg)
			st->first_seg = segs[i];
		st->last_seg = segs[i];
	}
	free(segs);
	return err;
}

/* Exclusive lock on the WAL directory, released when dfd is closed. */
int wal_lock(int dfd)
{
	while (flock(dfd, LOCK_EX | LOCK_NB)) {
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	}
	return 0;
}

static int wal_replay(const char *dir, bool recover, obs_wal_record_fn fn, void *ctx, struct obs_wal_stats *st);

int obs_wal_replay(const char *dir, obs_wal_record_fn fn, void *ctx, struct obs_wal_stats *st)
{
	return wal_replay(dir, false, fn, ctx, st);
}

int obs_wal_replay_recover(const char *dir, obs_wal_record_fn fn, void *ctx, struct obs_wal_stats *st)
{
	return wal_replay(dir, true, fn, ctx, st);
}

static int wal_replay(const char *dir, bool recover, obs_wal_record_fn fn, void *ctx, struct obs_wal_stats *st)
{
	struct obs_wal_stats tmp;
	if (!st)
		st = &tmp;
	memset(st, 0, sizeof *st);
	if (!dir)
		return -EINVAL;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	int err = wal_lock(dfd);
	if (!err)
		err = wal_recover(dir, dfd, false, recover, fn, ctx, st);
	close(dfd);
	return err;
}
