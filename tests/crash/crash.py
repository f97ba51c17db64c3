#!/usr/bin/env python3
"""tests/crash/crash.py BUILD — the crash suite (make crash; not part of make test).

Each round mounts obsfsd on a data directory that lives on a small tmpfs,
runs a mixed workload against it for a random while and kills the daemon
with SIGKILL at that random moment, then starts it again and checks that
everything the workload had been told was written is back, exactly:

  * timed samples of old series (the same series every round) and of new
    series (created this round), written as Prometheus text to `ingest` and
    as "TIME VALUE" lines to `metrics/NAME` files, by several writer threads;
  * lines appended to `logs/STREAM` files;
  * meanwhile `echo compact > ctl` at random moments, the background
    compactor (block_span=1s, so it cuts the head about every half second;
    with four level-1 blocks a merge follows), and in some rounds a ballast
    file that fills the tmpfs (ENOSPC for a while) and is deleted later,
    either before the kill or after it.

Acknowledged means a write(2) that returned the full count: the writer then
records its lines in a ledger kept by this process (outside the mount; also
appended to LEDGER_DIR/ledger.txt for a post-mortem). A write that failed or
was cut by the kill is not acknowledged and may or may not be stored. After
each restart every ledger sample must be in `export` with the same
timestamp and the same 64-bit value (compared as bits), no (series, time)
may appear twice, and every ledger log line must be in its stream verbatim.

Prints "crash: N rounds, N kills, N lost" and exits 1 on any loss (the first
losses are listed and the data directory is kept), 2 on a set-up problem.

Environment: ROUNDS (100), SEED (time), TMPFS_MB (48; tmpfs needs root, else
a plain directory is used and the ENOSPC phase is skipped), CRASH_FAULTS (a
comma list of fault points; every third round the daemon starts with one of
them armed through OBS_FAULT, failing a few of its hits with ENOSPC or EIO;
empty: none), KEEP (a directory
for the data of a failed run; default /tmp/obsfs-crash-keep), VERBOSE=1.
"""
import errno
import fcntl
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
OBSFSD = os.path.join(BUILD, "bin", "obsfsd")
ROUNDS = int(os.environ.get("ROUNDS", "100"))
SEED = int(os.environ.get("SEED", str(int(time.time()))))
TMPFS_MB = int(os.environ.get("TMPFS_MB", "48"))
# Fault points (lib/core/fault.h) failed in every third round, one at a time:
# a point the daemon does not have is never reached and changes nothing.
FAULTS = [x for x in os.environ.get("CRASH_FAULTS", ",".join([
    "block.mkdir", "block.write", "block.fsync", "block.rename", "block.dirsync",
    "compact.freeze", "compact.cut", "compact.sync", "compact.relog", "compact.register",
    "compact.remove", "merge.register", "rollup.write", "rollup.fsync", "rollup.rename",
    "logs.flush.open", "logs.compact.open", "logs.carry"])).split(",") if x]
KEEP = os.environ.get("KEEP", "/tmp/obsfs-crash-keep")
VERBOSE = os.environ.get("VERBOSE", "") == "1"
# SABOTAGE=1: a self-test of the checker; after each kill the write-ahead
# logs are deleted, so the run must report losses and exit 1.
SABOTAGE = os.environ.get("SABOTAGE", "") == "1"
OPTS = "block_span=1s,sync_interval=200ms"

OLD_SERIES = 6      # per ingest writer, reused every round
FILE_SERIES = 3     # per file writer, metrics/NAME files reused every round
STREAMS = 3


def log(*a):
    print("crash:", *a, file=sys.stderr, flush=True)


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def rfc3339_ms(ms):
    s, m = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % m


class Ledger:
    """What write(2) acknowledged: samples[series][t] = value text; lines[stream] = [line]."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.samples = {}
        self.lines = {}
        self.f = open(path, "a")

    def add_samples(self, items, op):
        with self.lock:
            for series, t, v in items:
                self.samples.setdefault(series, {})[t] = v
                self.f.write("S %s %s %d %s\n" % (op, series, t, v))
            self.f.flush()

    def add_lines(self, stream, items):
        with self.lock:
            self.lines.setdefault(stream, []).extend(items)
            for ln in items:
                self.f.write("L %s %s\n" % (stream, ln))
            self.f.flush()

    def nsamples(self):
        return sum(len(d) for d in self.samples.values())

    def nlines(self):
        return sum(len(v) for v in self.lines.values())


class Clock:
    """Strictly increasing millisecond times per series, near the wall clock."""

    def __init__(self):
        self.last = {}
        self.lock = threading.Lock()

    def next(self, series):
        with self.lock:
            t = max(self.last.get(series, 0) + 1, int(time.time() * 1000))
            self.last[series] = t
            return t


def value(rng):
    k = rng.randrange(6)
    if k == 0:
        return str(rng.randrange(-1000, 100000))
    if k == 1:
        return repr(round(rng.uniform(-100, 100), rng.randrange(4)))
    if k == 2:
        return repr(rng.random())
    if k == 3:
        return repr(rng.uniform(-1, 1) * 10 ** rng.randrange(-300, 300))
    if k == 4:
        return rng.choice(["+Inf", "-Inf", "0", "-0", "1e-05", "5e-324"])
    return repr(float(rng.randrange(1 << 53)))


class Round:
    def __init__(self, n, rng, ledger, clock, mnt, data, fs):
        self.n, self.rng, self.ledger, self.clock = n, rng, ledger, clock
        self.mnt, self.data, self.fs = mnt, data, fs
        self.stop = threading.Event()
        self.events = []
        self.errs = {}
        self.elock = threading.Lock()
        self.crashed = []

    def note(self, what):
        with self.elock:
            self.errs[what] = self.errs.get(what, 0) + 1

    def write_all(self, fd, buf):
        """One write(2); acknowledged only when it returns the whole count."""
        try:
            n = os.write(fd, buf)
        except OSError as e:
            self.note(errno.errorcode.get(e.errno, str(e.errno)))
            return False
        if n != len(buf):
            self.note("short")
            return False
        return True

    def ingest_writer(self, w, seed):
        rng = random.Random(seed)
        old = ['crash_old{k="%d",w="%d"}' % (k, w) for k in range(OLD_SERIES)]
        new = []
        fd = None
        while not self.stop.is_set():
            try:
                if fd is None:
                    fd = os.open(os.path.join(self.mnt, "ingest"), os.O_WRONLY)
                if rng.random() < 0.15:
                    new.append('crash_new{k="%d",r="%d",w="%d"}' % (len(new), self.n, w))
                pool = old + new
                items = []
                for _ in range(rng.randrange(1, 40)):
                    s = rng.choice(pool)
                    items.append((s, self.clock.next(s), value(rng)))
                buf = "".join("%s %s %d\n" % (s, v, t) for s, t, v in items).encode()
                if self.write_all(fd, buf):
                    self.ledger.add_samples(items, "ingest")
                if rng.random() < 0.1:
                    os.close(fd)
                    fd = None
            except OSError as e:
                self.note("open:" + errno.errorcode.get(e.errno, "?"))
                fd = None
                time.sleep(0.01)
            time.sleep(rng.random() * 0.03)

    def file_writer(self, w, seed):
        rng = random.Random(seed)
        names = ["crash_file_%d_%d" % (w, k) for k in range(FILE_SERIES)]
        names.append("crash_filenew_%d_%d" % (self.n, w))
        while not self.stop.is_set():
            name = rng.choice(names)
            try:
                fd = os.open(os.path.join(self.mnt, "metrics", name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError as e:
                self.note("open:" + errno.errorcode.get(e.errno, "?"))
                time.sleep(0.01)
                continue
            try:
                for _ in range(rng.randrange(1, 6)):
                    items = []
                    for _ in range(rng.randrange(1, 10)):
                        items.append((name, self.clock.next(name), value(rng)))
                    buf = "".join("%s %s\n" % (rfc3339_ms(t), v) for _, t, v in items).encode()
                    if self.write_all(fd, buf):
                        self.ledger.add_samples(items, "file")
                    if self.stop.is_set():
                        break
            finally:
                try:
                    os.close(fd)
                except OSError as e:
                    self.note("close:" + errno.errorcode.get(e.errno, "?"))
            time.sleep(rng.random() * 0.05)

    def log_writer(self, w, seed):
        rng = random.Random(seed)
        streams = ["crash%d" % k for k in range(STREAMS)] + ["crashnew%d" % self.n]
        seq = 0
        while not self.stop.is_set():
            st = rng.choice(streams)
            try:
                fd = os.open(os.path.join(self.mnt, "logs", st), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError as e:
                self.note("open:" + errno.errorcode.get(e.errno, "?"))
                time.sleep(0.01)
                continue
            try:
                for _ in range(rng.randrange(1, 5)):
                    items = []
                    for _ in range(rng.randrange(1, 8)):
                        seq += 1
                        pad = "".join(rng.choice("abcdefghij =:\"{}[]") for _ in range(rng.randrange(0, 120)))
                        items.append("r%d w%d n%d level=%s %s" % (self.n, w, seq, rng.choice(["info", "error"]), pad))
                    buf = "".join(x + "\n" for x in items).encode()
                    if self.write_all(fd, buf):
                        self.ledger.add_lines(st, items)
                    if self.stop.is_set():
                        break
            finally:
                try:
                    os.close(fd)
                except OSError as e:
                    self.note("close:" + errno.errorcode.get(e.errno, "?"))
            time.sleep(rng.random() * 0.05)

    def compactor(self, seed):
        rng = random.Random(seed)
        while not self.stop.is_set():
            time.sleep(rng.uniform(0.05, 0.6))
            if self.stop.is_set():
                break
            try:
                with open(os.path.join(self.mnt, "ctl"), "w") as f:
                    f.write("compact\n")
                self.events.append("compact")
            except OSError as e:
                self.note("compact:" + errno.errorcode.get(e.errno, "?"))

    def ballast(self, seed, free_before_kill):
        """Fill the tmpfs for a while, then (maybe) free it again."""
        rng = random.Random(seed)
        time.sleep(rng.uniform(0.05, 0.5))
        path = os.path.join(self.fs, "ballast")
        try:
            with open(path, "wb") as f:
                chunk = b"\0" * (1 << 20)
                while not self.stop.is_set():
                    f.write(chunk)
                    f.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        self.events.append("full")
        if free_before_kill:
            self.stop.wait(rng.uniform(0.1, 0.8))
            os.unlink(path)
            self.events.append("freed")

    def guard(self, fn, *args):
        """A bug in the harness itself must not pass for a clean run."""
        try:
            fn(*args)
        except Exception:
            import traceback
            self.crashed.append(traceback.format_exc())

    def run(self, duration, enospc, free_before_kill):
        rng = self.rng
        ths = []
        for w in range(2):
            ths.append(threading.Thread(target=self.guard, args=(self.ingest_writer, w, rng.random())))
        for w in range(2):
            ths.append(threading.Thread(target=self.guard, args=(self.file_writer, w, rng.random())))
        for w in range(2):
            ths.append(threading.Thread(target=self.guard, args=(self.log_writer, w, rng.random())))
        ths.append(threading.Thread(target=self.guard, args=(self.compactor, rng.random())))
        if enospc:
            ths.append(threading.Thread(target=self.guard, args=(self.ballast, rng.random(), free_before_kill)))
        for t in ths:
            t.daemon = True
            t.start()
        self.threads = ths
        time.sleep(duration)
        return ths


def lock_pid(data):
    try:
        with open(os.path.join(data, "LOCK")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def obs_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_unlocked(data, tries=600):
    for _ in range(tries):
        try:
            fd = os.open(os.path.join(data, "LOCK"), os.O_RDONLY)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            time.sleep(0.05)
        finally:
            os.close(fd)
    return False


def unmount(mnt):
    subprocess.run(["fusermount3", "-uz", mnt], stderr=subprocess.DEVNULL)
    for _ in range(100):
        if not os.path.ismount(mnt):
            return
        time.sleep(0.05)


def start(data, mnt, env_fault):
    env = dict(os.environ)
    env.pop("OBS_FAULT", None)
    if env_fault:
        env["OBS_FAULT"] = env_fault
    p = subprocess.run([OBSFSD, "-o", OPTS, data, mnt], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return None, (p.stderr or p.stdout).strip()
    for _ in range(100):
        if os.path.ismount(mnt):
            break
        time.sleep(0.05)
    pid = lock_pid(data)
    if not pid:
        return None, "no pid in LOCK"
    return pid, p.stderr.strip()


def read_all(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


def check(ledger, mnt):
    """Every acknowledged sample and line is back, exact. Returns a list of losses."""
    lost = []
    got = {}
    dups = []
    try:
        text = read_all(os.path.join(mnt, "export"))
    except OSError as e:
        return ["reading export after the restart: %s" % os.strerror(e.errno)]
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        series, v, t = ln.rsplit(" ", 2)
        d = got.setdefault(series, {})
        t = int(t)
        if t in d:
            dups.append("duplicate sample %s @%d: %s and %s" % (series, t, d[t], v))
        d[t] = v
    lost.extend(dups)
    for series, samples in ledger.samples.items():
        d = got.get(series, {})
        for t, v in samples.items():
            if t not in d:
                lost.append("sample %s %s @%d (%s) missing" % (series, v, t, rfc3339_ms(t)))
            elif bits(float(d[t])) != bits(float(v)):
                lost.append("sample %s @%d: wrote %s, read %s" % (series, t, v, d[t]))
    for stream, lines in ledger.lines.items():
        try:
            text = read_all(os.path.join(mnt, "logs", stream))
        except OSError as e:
            lost.append("stream %s: %s (%d lines)" % (stream, os.strerror(e.errno), len(lines)))
            continue
        have = {}
        for ln in text.splitlines():
            sp = ln.find(" ")
            body = ln[sp + 1:] if sp >= 0 else ""
            have[body] = have.get(body, 0) + 1
        for x in lines:
            if have.get(x, 0) == 0:
                lost.append("log line %s: %r missing" % (stream, x))
            else:
                have[x] -= 1
    return lost


def main():
    if not os.access(OBSFSD, os.X_OK):
        log("%s not built" % OBSFSD)
        return 2
    rng = random.Random(SEED)
    root = tempfile.mkdtemp(prefix="obsfs-crash.")
    fs = os.path.join(root, "fs")
    mnt = os.path.join(root, "mnt")
    os.makedirs(fs)
    os.makedirs(mnt)
    tmpfs = False
    if os.geteuid() == 0:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MB, "obsfs-crash", fs])
        tmpfs = r.returncode == 0
    if not tmpfs:
        log("no tmpfs (needs root): data on %s, no ENOSPC phase" % fs)
    data = os.path.join(fs, "data")
    ledger = Ledger(os.path.join(root, "ledger.txt"))
    clock = Clock()
    log("seed %d, %d rounds, data on %s" % (SEED, ROUNDS, fs))
    kills = 0
    lost = []
    rounds = 0
    failed_start = None
    t0 = time.time()
    armed = ""
    pid, msg = start(data, mnt, "")
    if not pid:
        log("obsfsd did not start: %s" % msg)
        return 2
    try:
        for n in range(1, ROUNDS + 1):
            rounds = n
            enospc = tmpfs and rng.random() < 0.25
            free_before = rng.random() < 0.5
            duration = rng.uniform(0.3, 1.8)
            rd = Round(n, rng, ledger, clock, mnt, data, fs)
            rd.events.append("fault " + armed if armed else "no fault")
            ths = rd.run(duration, enospc, free_before)
            os.kill(pid, signal.SIGKILL)
            kills += 1
            rd.stop.set()
            if not wait_unlocked(data):
                log("round %d: the killed daemon still holds %s/LOCK" % (n, data))
                return 2
            for t in ths:
                t.join(10)
            unmount(mnt)
            if rd.crashed:
                log("round %d: a workload thread failed:\n%s" % (n, rd.crashed[0]))
                return 2
            ballast = os.path.join(fs, "ballast")
            if os.path.exists(ballast):
                os.unlink(ballast)
                rd.events.append("freed after kill")
            if SABOTAGE:
                for sub in ("wal", os.path.join("logs", "wal")):
                    d = os.path.join(data, sub)
                    for x in os.listdir(d) if os.path.isdir(d) else []:
                        os.unlink(os.path.join(d, x))
            fault = ""
            if FAULTS and n % 3 == 0:
                fault = "%s:%d:%s:%d" % (rng.choice(FAULTS), rng.randrange(6), rng.choice(["ENOSPC", "EIO"]),
                                         rng.randrange(1, 4))
            pid, msg = start(data, mnt, fault)
            armed = fault
            if not pid and fault:
                # a fault armed at start may legitimately stop it: start clean
                armed = ""
                pid, msg = start(data, mnt, "")
            if not pid:
                failed_start = "round %d: obsfsd refused to start after the kill: %s" % (n, msg)
                lost.append(failed_start)
                break
            loss = check(ledger, mnt)
            if not obs_alive(pid):
                loss.append("obsfsd (pid %d) died after the restart" % pid)
            ev = {}
            for e in rd.events:
                ev[e] = ev.get(e, 0) + 1
            if VERBOSE or loss:
                log("round %d: %.1f s, %d samples, %d lines acknowledged so far; events %s; write errors %s; %d lost" %
                    (n, duration, ledger.nsamples(), ledger.nlines(), ev, rd.errs, len(loss)))
            if loss:
                lost.extend("round %d (events %s): %s" % (n, ev, x) for x in loss)
                break
    finally:
        fusermount = mnt
        if pid:
            subprocess.run(["fusermount3", "-u", fusermount], stderr=subprocess.DEVNULL)
            for _ in range(200):
                if not lock_pid(data) or wait_unlocked(data, 1):
                    break
                time.sleep(0.05)
        unmount(mnt)
        if lost:
            keep = KEEP + "." + str(SEED)
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(data, os.path.join(keep, "data"), symlinks=True)
            shutil.copy(os.path.join(root, "ledger.txt"), keep)
            log("data directory and ledger kept in %s (reproduce: SEED=%d ROUNDS=%d)" % (keep, SEED, rounds))
        if tmpfs:
            subprocess.run(["umount", fs])
        shutil.rmtree(root, ignore_errors=True)
    for x in lost[:10]:
        print("  lost:", x)
    if len(lost) > 10:
        print("  ... and %d more" % (len(lost) - 10))
    print("seed %d: %d samples and %d log lines acknowledged, %.0f s" %
          (SEED, ledger.nsamples(), ledger.nlines(), time.time() - t0))
    print("crash: %d rounds, %d kills, %d lost" % (rounds, kills, len(lost)))
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
