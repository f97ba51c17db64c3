#!/usr/bin/env bats
# t15-interface — the file interface as a user meets it: writes larger than
# one FUSE request (no retry stores a line twice), option values checked
# before the data directory is touched, sizes of the generated files (tail -f
# errors), and the errno of every refused operation.

load helper

setup() { obs_setup; }
teardown() {
	# the ENOSPC test mounts a small tmpfs as the data directory
	if mountpoint -q "${DATA:-/nonexistent}" 2>/dev/null; then
		obs_stop
		umount -l "$DATA"
	fi
	obs_teardown
}

# bigwrite PATH MODE: one write() of ~2.2 MiB to PATH (the kernel cuts it
# into requests of at most 1 MiB), with 100 untimed samples a_N in its first
# half and 100 b_N in its second, then a normal retry loop (os.write the rest
# until done). MODE "bad" puts a refused line in the second half. Prints
# "WRITES DONE WRITE_ERRNO CLOSE_ERRNO".
bigwrite() {
	python3 - "$1" "$2" <<'EOF'
import errno, os, sys
path, mode = sys.argv[1], sys.argv[2]
filler = b"# " + b"x" * 1000 + b"\n"
data = b"".join(b"a_%d 1\n" % i for i in range(100)) + filler * 1100
if mode == "bad":
    data += b"bad line here\n"
data += b"".join(b"b_%d 1\n" % i for i in range(100)) + filler * 1100
fd = os.open(path, os.O_WRONLY)
done = writes = 0
werr = cerr = "none"
while done < len(data):
    try:
        n = os.write(fd, data[done:])
    except OSError as e:
        werr = errno.errorcode[e.errno]
        break
    writes += 1
    done += n
try:
    os.close(fd)
except OSError as e:
    cerr = errno.errorcode[e.errno]
print(writes, "all" if done == len(data) else "short", werr, cerr)
EOF
}

# every a_N and b_N holds exactly one sample
one_sample_each() {
	local f n bad=0
	expect_eq "$(ls "$MNT/metrics" | wc -l)" 200
	for f in "$MNT"/metrics/*; do
		n=$(wc -l <"$f") || return 1
		if [ "$n" -ne 1 ]; then
			echo "$(basename "$f"): $n samples" >&2
			bad=1
		fi
	done
	return $bad
}

@test "a write cut into several requests with a refused line in its second half: taken whole, EINVAL at close, no line stored twice by a retry loop" {
	expect_eq "$(bigwrite "$MNT/ingest" bad)" "1 all none EINVAL"
	one_sample_each
	expect_grep 'ingest:[0-9]+: .*: bad line here$' "$MNT/errors"
	expect_grep '^samples_rejected +1$' "$MNT/status"
}

@test "a clean write cut into several requests is taken whole" {
	expect_eq "$(bigwrite "$MNT/ingest" good)" "1 all none none"
	one_sample_each
}

@test "a storage error in a later request: a short count before it, and the retry stores the rest exactly once" {
	obs_stop
	# the second consume of the daemon fails as a full WAL would (nothing stored)
	OBS_FAULT=fs.consume:1:ENOSPC:1 obs_start
	expect_eq "$(bigwrite "$MNT/ingest" good)" "2 all none none"
	one_sample_each
}

@test "a single-request write with a refused line still fails with EINVAL at once" {
	expect_eq "$(py_write "$MNT/ingest" 'b"ok_a 1\nbad line\nok_b 2\n"')" EINVAL
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/ok_b")" 2
}

@test "the partial last line of a write that failed with ENOSPC is not ingested at close, nor after a restart" {
	obs_stop
	mkdir -p "$DATA"
	if ! mount -t tmpfs -o size=1m tmpfs "$DATA" 2>/dev/null; then
		skip "cannot mount a tmpfs (not root)"
	fi
	obs_start -o sync_interval=0
	echo "warm 1" >"$MNT/ingest"
	# fill the disk, then write a complete line and a partial one
	dd if=/dev/zero of="$DATA/fill" bs=4k 2>/dev/null || true
	run python3 - "$MNT/ingest" "$DATA/fill" <<'EOF'
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    # 3000 samples: more than the page the log's last write left free
    t0 = int(time.time() * 1000) - 10000
    os.write(fd, b"".join(b"m_head 1 %d\n" % (t0 + i) for i in range(3000)) + b"m_tail 5")
    print("write ok")
except OSError as e:
    print("write", errno.errorcode[e.errno])
os.remove(sys.argv[2])   # room again before the close
try:
    os.close(fd)
    print("close ok")
except OSError as e:
    print("close", errno.errorcode[e.errno])
EOF
	[[ "${lines[0]}" == "write ENOSPC" || "${lines[0]}" == "write EIO" ]] || { echo "$output"; false; }
	# m_head may exist (its series record fitted), m_tail must not
	local names
	names=$(ls "$MNT/metrics")
	[[ "$names" != *m_tail* ]] || { echo "m_tail was ingested at close: $names" >&2; false; }
	obs_remount -o sync_interval=0
	names=$(ls "$MNT/metrics")
	[[ "$names" != *m_tail* ]] || { echo "m_tail came back after a restart: $names" >&2; false; }
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/warm")" 1
	obs_stop
	umount "$DATA"
}

@test "an invalid option value exits 2 naming the option, before the data directory is created" {
	for o in log_retention=bogus retention=x1 ooo_window=-5m sync_interval=99999999d time=local sync=never nosuch_option; do
		run "$OBSFSD" -o "$o" "$T/fresh" "$MNT"
		expect_eq "$status" 2 || { echo "-o $o: $output"; false; }
		local name=${o%%=*}
		[[ "$output" == *"$name"* ]] || { echo "-o $o: message does not name it: $output"; false; }
		[[ "$output" != *"mount failed"* ]] || { echo "-o $o: $output"; false; }
		if [ -e "$T/fresh" ]; then
			echo "-o $o: the data directory was created" >&2
			false
		fi
	done
}

@test "an invalid option value leaves an existing data directory and its lock alone" {
	obs_stop
	run "$OBSFSD" -o log_retention=bogus "$DATA" "$MNT"
	expect_eq "$status" 2
	not_mounted "$MNT"
	# the lock is free: nothing holds it
	flock -n "$DATA/LOCK" true
}

@test "options of libfuse's high-level API are refused: libfuse's message, exit 2, no data directory" {
	for o in kernel_cache attr_timeout=1 entry_timeout=1 umask=022 uid=0 use_ino hard_remove; do
		run "$OBSFSD" -o "$o" "$T/fresh" "$MNT"
		expect_eq "$status" 2 || { echo "-o $o: $output"; false; }
		[[ "$output" == *"fuse: unknown option(s): \`-o $o'"* ]] || { echo "-o $o: $output"; false; }
		[[ "$output" == *"obsfsd: invalid FUSE option (see above)"* ]] || { echo "-o $o: $output"; false; }
		[ ! -e "$T/fresh" ] || { echo "-o $o: the data directory was created" >&2; false; }
	done
}

@test "low-level libfuse options mount and serve: max_read, fsname, auto_unmount (the starting command returns)" {
	obs_stop
	# before the fix max_read made the session exit at init and auto_unmount
	# kept the starting command waiting forever: bound it. Not under `run`:
	# auto_unmount's fusermount3 keeps stderr open as long as the mount lives
	local rc=0
	timeout 60 "$OBSFSD" -o max_read=65536,fsname=obs-t15,auto_unmount "$DATA" "$MNT" \
		</dev/null >/dev/null 2>"$T/start.err" || rc=$?
	expect_eq "$rc" 0 || { cat "$T/start.err"; false; }
	local i
	for i in $(seq 100); do
		mountpoint -q "$MNT" && break
		sleep 0.05
	done
	OBS_PID=$(obs_lock_pid)
	mountpoint -q "$MNT"
	grep -q "^obs-t15 $MNT " /proc/mounts
	echo 7 >"$MNT/metrics/opt_probe"
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/opt_probe")" 7
}

# ---- sizes of generated files -------------------------------------------------

@test "errors, status and README report the size of what a read returns; test -s is true" {
	echo 'bad{' >"$MNT/ingest" 2>/dev/null || true
	local f
	for f in errors status README; do
		test -s "$MNT/$f"
		run python3 - "$MNT/$f" <<'EOF'
import os, sys
p = sys.argv[1]
size = os.stat(p).st_size
with open(p, "rb") as fh:
    n = len(fh.read())
print(size, n)
EOF
		local a=${output% *} b=${output#* }
		expect_eq "$a" "$b" || { echo "$f: stat size $a, read $b" >&2; false; }
		[ "$b" -gt 0 ]
	done
}

@test "tail -f errors shows a reject written after tail started" {
	echo 'first{' >"$MNT/ingest" 2>/dev/null || true
	tail -f --sleep-interval=0.05 "$MNT/errors" >"$T/tail.out" 2>"$T/tail.err" &
	local tp=$! i
	for i in $(seq 100); do
		grep -q 'first{' "$T/tail.out" && break
		sleep 0.05
	done
	echo 'second{' >"$MNT/ingest" 2>/dev/null || true
	for i in $(seq 100); do
		grep -q 'second{' "$T/tail.out" && break
		sleep 0.05
	done
	kill "$tp"
	wait "$tp" 2>/dev/null || true
	expect_grep 'ingest:1: .*: first\{$' "$T/tail.out"
	expect_grep 'ingest:1: .*: second\{$' "$T/tail.out"
	expect_eq "$(grep -c . "$T/tail.out")" 2
	if grep -q truncated "$T/tail.err"; then
		cat "$T/tail.err" >&2
		false
	fi
}

# ---- refused operations --------------------------------------------------------

# pyerr OP ARGS...: run one os call; prints "ok" or the errno name
pyerr() {
	python3 - "$@" <<'EOF'
import errno, os, sys
op, args = sys.argv[1], sys.argv[2:]
calls = {
    "mkdir": lambda a: os.mkdir(a[0]),
    "rmdir": lambda a: os.rmdir(a[0]),
    "rename": lambda a: os.rename(a[0], a[1]),
    "symlink": lambda a: os.symlink(a[0], a[1]),
    "link": lambda a: os.link(a[0], a[1]),
    "chmod": lambda a: os.chmod(a[0], 0o600),
    "chown": lambda a: os.chown(a[0], 65534, 65534),
    "truncate": lambda a: os.truncate(a[0], 0),
    "mknod": lambda a: os.mknod(a[0], 0o644 | 0o010000),
    "listdir": lambda a: os.listdir(a[0]),
}
try:
    calls[op](args)
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
EOF
}

@test "mkdir: EPERM for a name that does not exist, EEXIST for one that does; labels/NAME of no series is ENOENT" {
	echo "up{job=\"a\"} 1" >"$MNT/ingest"
	expect_eq "$(pyerr mkdir "$MNT/labels/anything")" EPERM
	expect_eq "$(pyerr listdir "$MNT/labels/anything")" ENOENT
	expect_eq "$(pyerr mkdir "$MNT/labels/job")" EEXIST
	expect_eq "$(pyerr mkdir "$MNT/metrics/newdir")" EPERM
	expect_eq "$(pyerr mkdir "$MNT/newdir")" EPERM
	expect_eq "$(pyerr mkdir "$MNT/metrics")" EEXIST
	expect_eq "$(pyerr listdir "$MNT/labels/job")" "ok"
}

@test "rename, link, symlink, chmod, chown, mknod, rmdir and truncate of a read-only file are EPERM" {
	echo 1 >"$MNT/metrics/a"
	expect_eq "$(pyerr rename "$MNT/metrics/a" "$MNT/metrics/b")" EPERM
	expect_eq "$(pyerr link "$MNT/metrics/a" "$MNT/metrics/b")" EPERM
	expect_eq "$(pyerr symlink a "$MNT/metrics/c")" EPERM
	expect_eq "$(pyerr chmod "$MNT/metrics/a")" EPERM
	expect_eq "$(pyerr chown "$MNT/metrics/a")" EPERM
	expect_eq "$(pyerr mknod "$MNT/metrics/d")" EPERM
	expect_eq "$(pyerr rmdir "$MNT/metrics")" EPERM
	expect_eq "$(pyerr truncate "$MNT/README")" EPERM
	expect_eq "$(pyerr truncate "$MNT/status")" EPERM
	# a writable file: truncate is accepted and erases nothing
	expect_eq "$(pyerr truncate "$MNT/metrics/a")" ok
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/a")" 1
	expect_eq "$(ls "$MNT/metrics")" a
}

@test "export and export.jsonl report the length of their text, and it grows with the samples" {
	local now
	now=$(date +%s)
	echo "e_a 1 ${now}000" >"$MNT/ingest"
	local f s1 s2
	for f in export export.jsonl; do
		s1=$(stat -c %s "$MNT/$f")
		expect_eq "$s1" "$(wc -c <"$MNT/$f")"
		[ "$s1" -gt 0 ]
	done
	s1=$(stat -c %s "$MNT/export")
	echo "e_b 2 ${now}000" >"$MNT/ingest"
	s2=$(stat -c %s "$MNT/export")
	expect_eq "$s2" "$(wc -c <"$MNT/export")"
	[ "$s2" -gt "$s1" ]
	expect_eq "$(stat -c %s "$MNT/export@-1h")" "$(wc -c <"$MNT/export@-1h")"
}
