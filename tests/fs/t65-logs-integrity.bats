#!/usr/bin/env bats
# t65-logs-integrity — the log store keeps what write() accepted: partial
# last lines survive kill -9 (and come back once), complete lines are
# durable when write() returns, blank lines are records, and rm of a
# stream while its search views are read is safe (run under `make asan`
# this is where a use-after-free shows).

load helper

setup() { obs_setup; }
teardown() { obs_teardown; }

# lines of a log stream without the 24-char time and its space, into a file
# (exact bytes: $(...) would eat trailing blank lines)
lines_of() {
	cut -c26- "$MNT/logs/$1" >"$2"
}

@test "blank and whitespace-only lines are records, in order, through compaction and restart" {
	printf 'first\n\n   \n\tindented\n\nlast\n\n' >>"$MNT/logs/blank"
	printf '\n' >>"$MNT/logs/blank"
	printf 'first\n\n   \n\tindented\n\nlast\n\n\n' >"$T/want"
	lines_of blank "$T/got"
	cmp "$T/want" "$T/got"
	got=$(cat "$MNT/logs/blank?#count")
	expect_eq "$got" 8
	got=$(grep -c '^log_lines_appended *8$' "$MNT/status")
	expect_eq "$got" 1
	echo compact >"$MNT/ctl"
	lines_of blank "$T/got"
	cmp "$T/want" "$T/got"
	obs_remount
	lines_of blank "$T/got"
	cmp "$T/want" "$T/got"
	# nothing was refused for being blank
	got=$(grep -c . "$MNT/errors" || true)
	expect_eq "$got" 0
}

@test "complete log lines are durable when write() returns: kill -9 right after" {
	python3 - "$MNT" <<'PY'
import os, sys
mnt = sys.argv[1]
fd = os.open(mnt + "/logs/dur", os.O_WRONLY | os.O_CREAT)
for i in range(200):
    assert os.write(fd, b"line %d\n" % i) == len(b"line %d\n" % i)
assert os.write(fd, b"\n") == 1
open(mnt + "/../written", "w").close()
PY
	[ -e "$T/written" ]
	obs_crash
	obs_start
	{ for i in $(seq 0 199); do echo "line $i"; done; echo; } >"$T/want"
	lines_of dur "$T/got"
	cmp "$T/want" "$T/got"
}

# start a writer (python, stdin: the script) that leaves its file open
# after it touched $T/written, then kill -9 the daemon
crash_with_open_writer() {
	cat >"$T/writer.py"
	python3 "$T/writer.py" "$MNT" &
	local wp=$! i
	for i in $(seq 200); do [ -e "$T/written" ] && break; sleep 0.05; done
	[ -e "$T/written" ]
	obs_crash
	kill "$wp" 2>/dev/null || true
	wait "$wp" 2>/dev/null || true
}

@test "kill -9 while a writer holds a partial last line of a log: it comes back as a record, once" {
	crash_with_open_writer <<'PY'
import os, sys, time
mnt = sys.argv[1]
fd = os.open(mnt + "/logs/part", os.O_WRONLY | os.O_CREAT)
assert os.write(fd, b"complete one\npartial tw") == 23
assert os.write(fd, b"o") == 1
fd2 = os.open(mnt + "/logs/other", os.O_WRONLY | os.O_CREAT)
assert os.write(fd2, b"no newline at all") == 17
open(mnt + "/../written", "w").close()
time.sleep(60)
PY
	obs_start
	printf 'complete one\npartial two\n' >"$T/want"
	lines_of part "$T/got"
	cmp "$T/want" "$T/got"
	printf 'no newline at all\n' >"$T/want2"
	lines_of other "$T/got2"
	cmp "$T/want2" "$T/got2"
	# recovered once: more restarts (clean and not) do not add them again
	obs_remount
	lines_of part "$T/got"
	cmp "$T/want" "$T/got"
	obs_crash
	obs_start
	lines_of part "$T/got"
	cmp "$T/want" "$T/got"
	lines_of other "$T/got2"
	cmp "$T/want2" "$T/got2"
}

@test "a partial log line survives ctl compact (which drops the WAL before its cut) and kill -9" {
	crash_with_open_writer <<'PY'
import os, sys, time
mnt = sys.argv[1]
fd = os.open(mnt + "/logs/cut", os.O_WRONLY | os.O_CREAT)
assert os.write(fd, b"before\npending") == 14
c = os.open(mnt + "/ctl", os.O_WRONLY)
os.write(c, b"compact\n")
os.close(c)
c = os.open(mnt + "/ctl", os.O_WRONLY)
os.write(c, b"compact\n")
os.close(c)
open(mnt + "/../written", "w").close()
time.sleep(60)
PY
	obs_start
	printf 'before\npending\n' >"$T/want"
	lines_of cut "$T/got"
	cmp "$T/want" "$T/got"
}

@test "the write that ends a journaled partial line stores it once across kill -9" {
	crash_with_open_writer <<'PY'
import os, sys, time
mnt = sys.argv[1]
fd = os.open(mnt + "/logs/ends", os.O_WRONLY | os.O_CREAT)
assert os.write(fd, b"abc") == 3
assert os.write(fd, b"def\nghi") == 7
assert os.write(fd, b"\n\njkl") == 5
open(mnt + "/../written", "w").close()
time.sleep(60)
PY
	obs_start
	printf 'abcdef\nghi\n\njkl\n' >"$T/want"
	lines_of ends "$T/got"
	cmp "$T/want" "$T/got"
}

# a stream with 30000 lines in a segment
big_stream() {
	python3 - "$MNT" "$1" <<'PY'
import os, sys
mnt, name = sys.argv[1], sys.argv[2]
fd = os.open(mnt + "/logs/" + name, os.O_WRONLY | os.O_CREAT)
buf = b"".join(b"level=%s n=%d some text to scan\n" % (b"error" if i % 10 == 0 else b"info", i) for i in range(30000))
assert os.write(fd, buf) == len(buf)
os.close(fd)
PY
	echo compact >"$MNT/ctl"
}

@test "rm of a log stream while its search views are read: the daemon stays up and frees it once" {
	big_stream big
	got=$(cat "$MNT/logs/big?level=error#count")
	expect_eq "$got" 3000
	for k in 1 2 3 4; do
		(for i in $(seq 40); do cat "$MNT/logs/big?level=error" >/dev/null 2>&1; cat "$MNT/logs/big?n>=0" >/dev/null 2>&1; done) &
	done
	(for i in $(seq 200); do echo "level=info busy $i" >>"$MNT/logs/busy"; done) &
	sleep 0.3
	rm "$MNT/logs/big"
	wait
	obs_alive "$OBS_PID"
	run ls "$MNT/logs"
	[ "$status" -eq 0 ]
	[[ "$output" != *big* ]]
	got=$(cat "$MNT/logs/busy?#count")
	expect_eq "$got" 200
	for r in $(seq 5); do
		seq 5000 | sed 's/^/row /' >"$MNT/logs/again"
		echo compact >"$MNT/ctl"
		(cat "$MNT/logs/again?row" >/dev/null 2>&1; cat "$MNT/logs/again?row" >/dev/null 2>&1) &
		(cat "$MNT/logs/again?#count" >/dev/null 2>&1) &
		rm "$MNT/logs/again"
		wait
		obs_alive "$OBS_PID"
	done
	obs_remount
	run ls "$MNT/logs"
	[ "$status" -eq 0 ]
	[[ "$output" != *big* ]]
	[[ "$output" != *again* ]]
}

@test "rm of a log stream that is open (read and written): it goes, and the open files see it gone" {
	big_stream open
	exec 7<"$MNT/logs/open"
	exec 8>>"$MNT/logs/open"
	(for i in $(seq 20); do cat "$MNT/logs/open" >/dev/null 2>&1; done) &
	rm "$MNT/logs/open"
	wait
	obs_alive "$OBS_PID"
	run ls "$MNT/logs"
	[ "$status" -eq 0 ]
	[[ "$output" != *open* ]]
	# a read through the old descriptor finds the stream gone (the kernel
	# says ESTALE: the name it was opened by is gone)
	run cat <&7
	echo "cat through the old descriptor: status $status, output: $output" >&2
	[ "$status" -ne 0 ]
	[[ "$output" == *"Stale file handle"* || "$output" == *"No such file"* ]]
	exec 7<&- 8>&-
	obs_remount
	run ls "$MNT/logs"
	[[ "$output" != *open* ]]
}

@test "rm of a log stream with lines in its head and a pending partial line: still gone after kill -9" {
	for i in $(seq 50); do echo "line $i"; done >>"$MNT/logs/gone"
	echo compact >"$MNT/ctl"
	echo "head line" >>"$MNT/logs/gone"
	echo "other line" >>"$MNT/logs/kept"
	crash_with_open_writer <<'PY'
import os, sys, time
mnt = sys.argv[1]
fd = os.open(mnt + "/logs/gone", os.O_WRONLY | os.O_APPEND)
assert os.write(fd, b"more\npartial") == 12
os.unlink(mnt + "/logs/gone")
assert not os.path.exists(mnt + "/logs/gone")
open(mnt + "/../written", "w").close()
time.sleep(60)
PY
	obs_start
	run ls "$MNT/logs"
	[ "$status" -eq 0 ]
	[[ "$output" != *gone* ]]
	[ ! -e "$DATA/logs/streams/gone" ]
	printf 'other line\n' >"$T/want"
	lines_of kept "$T/got"
	cmp "$T/want" "$T/got"
	obs_crash
	obs_start
	run ls "$MNT/logs"
	[ "$status" -eq 0 ]
	[[ "$output" != *gone* ]]
}

@test "rm, re-create, append, kill -9: only the new lines (and the new partial line) come back" {
	for i in $(seq 30); do echo "old $i"; done >>"$MNT/logs/again"
	echo compact >"$MNT/ctl"
	echo "old head" >>"$MNT/logs/again"
	crash_with_open_writer <<'PY'
import os, sys, time
mnt = sys.argv[1]
p = mnt + "/logs/again"
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
assert os.write(fd, b"old partial") == 11
os.unlink(p)
fd2 = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
assert os.write(fd2, b"new 1\nnew 2\nnew pa") == 18
open(mnt + "/../written", "w").close()
time.sleep(60)
PY
	obs_start
	printf 'new 1\nnew 2\nnew pa\n' >"$T/want"
	lines_of again "$T/got"
	cmp "$T/want" "$T/got"
	obs_remount
	lines_of again "$T/got"
	cmp "$T/want" "$T/got"
}

@test "rm of a log stream on a full disk works; when even its record cannot be written it fails with ENOSPC and keeps the stream" {
	for i in $(seq 20); do echo "line $i"; done >>"$MNT/logs/full"
	seq 20 | sed 's/^/line /' >"$T/want"
	obs_stop
	OBS_FAULT=logs.flush.write:0:ENOSPC:-1 obs_start
	echo "one more" >>"$MNT/logs/full"
	echo "line 21" >>"$MNT/logs/keep"
	run sh -c "echo compact >'$MNT/ctl'"
	[ "$status" -ne 0 ]   # the flush itself cannot write: the disk is full
	rm "$MNT/logs/full"
	run ls "$MNT/logs"
	[[ "$output" != *full* ]]
	obs_crash
	obs_start
	run ls "$MNT/logs"
	[[ "$output" != *full* ]]
	for i in $(seq 20); do echo "line $i"; done >>"$MNT/logs/full"
	obs_stop
	OBS_FAULT=logs.remove:0:ENOSPC:-1 obs_start
	run rm "$MNT/logs/full"
	echo "rm: status $status, output: $output" >&2
	[ "$status" -ne 0 ]
	[[ "$output" == *"No space left on device"* ]]
	lines_of full "$T/got"
	cmp "$T/want" "$T/got"
	obs_crash
	obs_start
	lines_of full "$T/got"
	cmp "$T/want" "$T/got"
}

@test "a corrupt log segment is set aside at mount and named in errors with its offset and the failed check" {
	seq 1 500 | sed 's/^/line /' >>"$MNT/logs/app"
	echo compact >"$MNT/ctl"
	seg=$DATA/logs/streams/app/0000000000000000.seg
	[ -f "$seg" ]
	obs_stop
	size=$(stat -c %s "$seg")
	# flip a bit of the footer's min_ts, which the meta crc32c covers
	python3 - "$seg" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) - 56 + 24] ^= 1
open(p, 'wb').write(b)
PY
	obs_start
	expect_grep "integrity: failed check: corrupt '$seg' at offset $((size - 12)): crc32c of header, frame table and footer mismatch$" "$MNT/errors"
	[ -f "$seg.corrupt" ]
	[ ! -e "$seg" ]
	# the stream is still there, without the set-aside records
	got=$(cat "$MNT/logs/app?#count")
	expect_eq "$got" 0
}
