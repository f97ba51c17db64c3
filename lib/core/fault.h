/* fault.h — named fault-injection points, for tests.
 *
 * A step of a durable write (a write, fsync or rename in the WAL, the block
 * writer, compaction, the log flusher, ...) asks obs_fault("point") first
 * and, when it returns -errno, fails exactly as if the system call had
 * failed with that errno. Point names are "module.step", e.g. "block.fsync",
 * "compact.register", "logs.flush.rename".
 *
 * Nothing is armed in normal runs: obs_fault() is then one relaxed atomic
 * load. Tests arm points with obs_fault_arm(); the daemon also reads
 * OBS_FAULT at start ("point:skip:errno[:count],..."; errno by number or name
 * such as ENOSPC/EIO), which lets shell tests fail a step of a live mount. */
#ifndef OBS_CORE_FAULT_H
#define OBS_CORE_FAULT_H

/* 0, or -err when the point is armed and its turn has come. */
int obs_fault(const char *point);

/* obs_fault("PT.step"), or 0 when pt is NULL: the steps of one durable
 * write under a caller-chosen prefix ("logs.flush" -> "logs.flush.fsync"). */
int obs_fault_step(const char *pt, const char *step);

/* Arm point: let `skip` hits pass, then fail the next `count` hits with
 * -err (count < 0: every later hit). Re-arming a point replaces it.
 * 0 or -ENOMEM / -E2BIG (too many points) / -EINVAL. */
int obs_fault_arm(const char *point, int skip, int count, int err);

/* How many times point was reached since it was armed (armed or not:
 * every point is counted once any point is armed). */
unsigned obs_fault_hits(const char *point);

/* Disarm every point and forget the counts. */
void obs_fault_reset(void);

/* Arm from a spec "point:skip:errno[:count],...". 0 or -EINVAL. */
int obs_fault_parse(const char *spec);

#endif
