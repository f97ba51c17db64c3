#!/usr/bin/env bats
# t80-wait — reads that wait (fs/wait.c): logs/STREAM#follow and
# errors#follow block at their end without holding a FUSE thread, are
# answered when data comes, woken by poll(2), ended by Ctrl-C (EINTR) and by
# unmount; views stream in pieces with bounded memory.

load helper

setup() { obs_setup; }
teardown() {
	local p
	for p in ${READERS:-}; do kill -9 "$p" 2>/dev/null || true; done
	obs_teardown
}

# status_field NAME: the value of a status line "NAME   VALUE"
status_field() {
	local s
	s=$(slurp "$MNT/status") || return 1
	awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }' <<<"$s" ||
		{ echo "no '$1' in status" >&2; return 1; }
}

# wait_waiting N: until status counts N parked reads (up to ~10 s)
wait_waiting() {
	local i n
	for i in $(seq 200); do
		n=$(status_field fs_reads_waiting)
		[ "$n" = "$1" ] && return 0
		sleep 0.05
	done
	echo "fs_reads_waiting is $n, expected $1" >&2
	return 1
}

# reader FILE OUT: a background cat of FILE into OUT with SIGINT at its
# default (bats' background jobs ignore it), pid appended to READERS
reader() {
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp("cat", ["cat", sys.argv[1]])' "$1" >"$2" 2>"$2.err" &
	READERS="${READERS:-} $!"
	LAST=$!
}

# log lines without their timestamps
untimed() { sed 's/^[^ ]* //' "$1"; }

# ms since the epoch
now_ms() { date +%s%3N; }

@test "logs/STREAM#follow: reads the stream, then waits at its end for the next line" {
	touch "$MNT/logs/app"
	echo first >>"$MNT/logs/app"
	reader "$MNT/logs/app#follow" "$T/r"
	wait_waiting 1
	# still running: the read at the end waits, it did not return end of file
	obs_alive "$LAST"
	expect_eq "$(untimed "$T/r")" "first"
	echo second >>"$MNT/logs/app"
	for i in $(seq 100); do [ "$(untimed "$T/r")" = "$(printf 'first\nsecond')" ] && break; sleep 0.05; done
	expect_eq "$(untimed "$T/r")" "$(printf 'first\nsecond')"
	wait_waiting 1
	# the plain stream still ends at its end
	expect_eq "$(untimed "$MNT/logs/app")" "$(printf 'first\nsecond')"
	# a follow of a stream that does not exist
	run cat "$MNT/logs/nope#follow"
	expect_fail "No such file or directory"
}

@test "64 blocked readers: the mount still answers ls, status and writes within a second; each gets the later line" {
	touch "$MNT/logs/app"
	for i in $(seq 64); do reader "$MNT/logs/app#follow" "$T/r$i"; done
	wait_waiting 64
	t0=$(now_ms)
	got=$(ls "$MNT")
	[[ "$got" == *metrics* ]]
	t1=$(now_ms)
	st=$(slurp "$MNT/status")
	[[ "$st" == *"fs_reads_waiting   64"* ]]
	t2=$(now_ms)
	echo 21.5 >"$MNT/metrics/room_temp"
	t3=$(now_ms)
	echo "ls $((t1 - t0)) ms, status $((t2 - t1)) ms, write $((t3 - t2)) ms" >&3
	[ $((t1 - t0)) -lt 1000 ] || { echo "ls took $((t1 - t0)) ms" >&2; false; }
	[ $((t2 - t1)) -lt 1000 ] || { echo "cat status took $((t2 - t1)) ms" >&2; false; }
	[ $((t3 - t2)) -lt 1000 ] || { echo "write took $((t3 - t2)) ms" >&2; false; }
	got=$(slurp "$MNT/metrics/room_temp")
	[[ "$got" == *" 21.5" ]] || { echo "metrics/room_temp: $got" >&2; false; }
	echo "the later line" >>"$MNT/logs/app"
	for i in $(seq 64); do
		for k in $(seq 100); do [ "$(untimed "$T/r$i")" = "the later line" ] && break; sleep 0.05; done
		expect_eq "$(untimed "$T/r$i")" "the later line"
	done
	# all of them wait again at the new end, none ended
	wait_waiting 64
	for p in $READERS; do obs_alive "$p"; done
	# a fatal signal ends each blocked reader (the kernel's interrupt is
	# answered), none is left in the kernel waiting for an answer
	for p in $READERS; do kill -TERM "$p"; done
	for p in $READERS; do obs_wait_gone "$p" 100; done
	wait_waiting 0
	READERS=
}

@test "errors#follow: waits for the next rejection" {
	reader "$MNT/errors#follow" "$T/r"
	wait_waiting 1
	expect_eq "$(cat "$T/r")" ""
	run bash -c "echo 'bad line {' >'$MNT/ingest'"
	expect_fail "Invalid argument"
	for k in $(seq 100); do grep -q 'ingest:1: .*bad line {' "$T/r" && break; sleep 0.05; done
	grep -q 'ingest:1: .*bad line {' "$T/r" || { cat "$T/r" >&2; false; }
	expect_eq "$(wc -l <"$T/r")" 1
	wait_waiting 1
	obs_alive "$LAST"
}

@test "poll(2) on a follow file: not readable at the end, woken by a write, readable after" {
	touch "$MNT/logs/app"
	echo old >>"$MNT/logs/app"
	cat >"$T/poll.py" <<'EOF'
import os, select, sys, time, subprocess
mnt = sys.argv[1]
fd = os.open(mnt + "/logs/app#follow", os.O_RDONLY)
first = os.read(fd, 65536).decode()
assert first.endswith(" old\n"), first
p = select.poll()
p.register(fd, select.POLLIN)
ev = p.poll(300)
assert ev == [], "readable at the end: %r" % ev
# a plain stream (no poll hook) is always readable
fd2 = os.open(mnt + "/logs/app", os.O_RDONLY)
p2 = select.poll(); p2.register(fd2, select.POLLIN)
assert p2.poll(0) and p2.poll(0)[0][1] & select.POLLIN
# another process writes while we sit in poll
w = subprocess.Popen(["sh", "-c", "sleep 0.3; echo new >> '%s/logs/app'" % mnt])
t = time.time()
ev = p.poll(5000)
dt = time.time() - t
w.wait()
assert ev and ev[0][1] & select.POLLIN, "not woken: %r" % ev
assert dt < 2.0, "woken after %.2f s" % dt
line = os.read(fd, 65536).decode()
assert line.endswith(" new\n"), line
# at the end again: not readable
assert p.poll(200) == []
print("ok %.3f" % dt)
EOF
	run python3 "$T/poll.py" "$MNT"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "ok "* ]]
}

@test "Ctrl-C of a blocked reader ends it at once; the daemon stays healthy" {
	touch "$MNT/logs/app"
	reader "$MNT/logs/app#follow" "$T/r"
	pid=$LAST
	wait_waiting 1
	t0=$(now_ms)
	kill -INT "$pid"
	obs_wait_gone "$pid" 50   # within a second
	t1=$(now_ms)
	echo "ended $((t1 - t0)) ms after SIGINT" >&3
	wait "$pid" || rc=$?
	[ "${rc:-0}" -eq 130 ]   # died of SIGINT, not by an error
	wait_waiting 0
	obs_alive "$OBS_PID"
	echo after >>"$MNT/logs/app"
	expect_eq "$(untimed "$MNT/logs/app")" "after"
	# a reader interrupted by a caught signal sees EINTR and may read again
	cat >"$T/intr.py" <<'EOF'
import os, signal, sys, errno
class Alarm(Exception):
    pass
def alarm(s, f):
    raise Alarm()
signal.signal(signal.SIGALRM, alarm)
fd = os.open(sys.argv[1], os.O_RDONLY)
os.read(fd, 65536)
signal.setitimer(signal.ITIMER_REAL, 0.3)
try:
    os.read(fd, 65536)
    print("no interruption")
except Alarm:
    # the read was interrupted (EINTR) and the handler ran; read again
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        os.read(fd, 65536)
    except Alarm:
        print("EINTR")
EOF
	run timeout 10 python3 "$T/intr.py" "$MNT/logs/app#follow"
	expect_eq "$output" "EINTR"
	wait_waiting 0
}

@test "unmount with parked readers: the daemon exits cleanly and the readers end" {
	touch "$MNT/logs/app"
	echo one >>"$MNT/logs/app"
	for i in $(seq 8); do reader "$MNT/logs/app#follow" "$T/r$i"; done
	reader "$MNT/errors#follow" "$T/e"
	wait_waiting 9
	kill -TERM "$OBS_PID"
	obs_wait_gone "$OBS_PID"
	# each parked read is answered (end of file); the close that follows
	# may find the daemon gone, which cat reports: ENOTCONN when the mount
	# was already gone, ECONNABORTED when the close was in flight as the
	# daemon let go of /dev/fuse
	for p in $READERS; do obs_wait_gone "$p" 100; done
	for i in $(seq 8); do
		expect_eq "$(untimed "$T/r$i")" "one"
		err=$(cat "$T/r$i.err")
		[ -z "$err" ] || [[ "$err" == *"Transport endpoint is not connected" ]] ||
			[[ "$err" == *"Software caused connection abort" ]] ||
			{ echo "reader $i: $err" >&2; false; }
		[ "$(wc -l <"$T/r$i.err")" -le 1 ]
	done
	READERS=
	OBS_PID=
	# the data is intact: mount again, the line is there
	fusermount3 -uz "$MNT" 2>/dev/null || true
	obs_start
	expect_eq "$(untimed "$MNT/logs/app")" "one"
}

@test "a followed stream removed: the reader ends with ENOENT" {
	touch "$MNT/logs/app"
	reader "$MNT/logs/app#follow" "$T/r"
	pid=$LAST
	wait_waiting 1
	rm "$MNT/logs/app"
	obs_wait_gone "$pid" 100
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 1 ]
	grep -q "No such file or directory" "$T/r.err"
	wait_waiting 0
}
