#!/usr/bin/env bats
# t60-durability — kill -9 then remount loses nothing whose write()
# returned; one daemon per data directory; SIGTERM/SIGINT unmount cleanly;
# concurrent writers lose nothing.

load helper

setup() {
	obs_setup
	NOW=$(date +%s)
}
teardown() { obs_teardown; }

# snapshot: every series file name and content, in a stable order
snapshot() {
	local f
	(cd "$MNT/metrics" || exit 1
	n=0
	for f in *; do
		[ -e "$f" ] || continue
		echo "== $f"
		cat -- "$f" || exit 1
		n=$((n + 1))
	done
	# an empty snapshot on both sides would compare equal
	[ "$n" -gt 0 ] || { echo "snapshot: no series in $MNT/metrics" >&2; exit 1; })
}

# a mixed workload: ingest scrapes, series files, several writes each
workload() {
	local base=$1 i s
	for s in $(seq 0 19); do
		for i in $(seq 0 49); do
			echo "dur_ingest{s=\"$s\",job=\"x\"} $((s * 100 + i)).5 $(((base + i) * 1000 + s))"
		done
	done >"$MNT/ingest"
	for s in $(seq 0 4); do
		for i in $(seq 0 29); do
			echo "$((base + i)) $((i * s))"
		done >"$MNT/metrics/dur_file_$s"
	done
	printf '%s\n' "special_vals{k=\"/a/b\"} NaN $((base * 1000))" "special_vals{k=\"/a/b\"} -Inf $(((base + 1) * 1000))" \
		"special_vals{k=\"/a/b\"} 4.9e-324 $(((base + 2) * 1000))" "special_vals{k=\"/a/b\"} -0 $(((base + 3) * 1000))" \
		>"$MNT/ingest"
}

@test "kill -9 after the writes returned: every sample is back after remount" {
	workload $((NOW - 200))
	echo 21.5 >"$MNT/metrics/room_temp"
	snapshot >"$T/before"
	[ "$(grep -c '^== ' "$T/before")" -eq 27 ]
	[ "$(grep -vc '^== ' "$T/before")" -eq $((20 * 50 + 5 * 30 + 4 + 1)) ]
	obs_crash
	not_mounted "$MNT"
	obs_start
	snapshot >"$T/after"
	diff "$T/before" "$T/after"
	expect_grep '^samples_replayed +1155 ' "$MNT/status"
	# the index is rebuilt too
	expect_eq "$(ls "$MNT/select/job=x" | wc -l)" 20
	expect_eq "$(ls "$MNT/labels/k")" "%2Fa%2Fb"
	# and the store keeps taking samples after recovery
	echo "$((NOW + 1)) 22" >>"$MNT/metrics/room_temp"
	expect_eq "$(wc -l <"$MNT/metrics/room_temp")" 2
}

@test "kill -9 with a file still open and no fsync: samples whose write() returned survive" {
	obs_remount -o sync=fsync,sync_interval=0
	exec 5>"$MNT/ingest"
	for i in $(seq 0 99); do
		echo "open_writer $i $(((NOW - 100 + i) * 1000))" >&5
	done
	exec 6>>"$MNT/metrics/open_writer"
	echo "$((NOW + 1)) 100" >&6
	snapshot >"$T/before"
	expect_eq "$(wc -l <"$MNT/metrics/open_writer")" 101
	obs_crash
	exec 5>&- 6>&- || true
	obs_start
	snapshot >"$T/after"
	diff "$T/before" "$T/after"
}

@test "kill -9 repeatedly: each restart recovers all earlier samples" {
	for round in 1 2 3; do
		for i in $(seq 0 9); do echo "$((NOW - 100 + round * 20 + i)) $round$i"; done >>"$MNT/metrics/rounds"
		obs_crash
		obs_start
		expect_eq "$(wc -l <"$MNT/metrics/rounds")" $((round * 10))
	done
	expect_eq "$(awk '{print $2}' "$MNT/metrics/rounds" | tr '\n' ' ')" "$(for r in 1 2 3; do for i in $(seq 0 9); do printf '%s ' "$r$i"; done; done)"
}

@test "a torn WAL tail is cut, not fatal" {
	workload $((NOW - 200))
	snapshot >"$T/before"
	obs_stop
	seg=$(ls "$DATA/wal" | tail -1)
	printf '\x17\x00\x00\x00garbage-partial-record' >>"$DATA/wal/$seg"
	obs_start
	snapshot >"$T/after"
	diff "$T/before" "$T/after"
	run awk '$1 == "wal_torn_bytes" {print $2}' "$MNT/status"
	[ "$output" -gt 0 ]
}

@test "a second daemon on the same data dir refuses with a clear message" {
	mkdir "$T/mnt2"
	run "$OBSFSD" "$DATA" "$T/mnt2"
	expect_fail "is in use by another obsfsd"
	[[ "$output" == *"in use by another obsfsd (pid $OBS_PID)"* ]]
	not_mounted "$T/mnt2"
	run "$OBSFSD" -f "$DATA" "$T/mnt2"
	expect_fail "is in use by another obsfsd"
	[[ "$output" == *"in use"* ]]
	not_mounted "$T/mnt2"
	# the first one still serves
	echo 1 >"$MNT/metrics/still_here"
	expect_eq "$(wc -l <"$MNT/metrics/still_here")" 1
}

@test "the refusal is printed once" {
	mkdir "$T/mnt2"
	run "$OBSFSD" "$DATA" "$T/mnt2"
	expect_fail "is in use by another obsfsd"
	expect_eq "${#lines[@]}" 1
}

@test "a missing mount point is refused before the data dir is touched" {
	obs_stop
	run "$OBSFSD" "$T/fresh" "$T/no/such/mountpoint"
	expect_fail "bad mount point"
	[ "$status" -eq 2 ]
	[ ! -e "$T/fresh" ]
}

@test "a daemon that cannot mount exits non-zero and releases the data dir" {
	obs_stop
	run env OBS_FAULT=fs.mount:0:EIO "$OBSFSD" "$DATA" "$MNT"
	expect_fail "mount failed"
	[ "$status" -eq 1 ]
	obs_start
	mountpoint -q "$MNT"
}

@test "SIGTERM unmounts cleanly, the daemon exits, the data is intact" {
	workload $((NOW - 200))
	snapshot >"$T/before"
	kill -TERM "$OBS_PID"
	obs_wait_gone "$OBS_PID"
	for i in $(seq 50); do mountpoint -q "$MNT" || break; sleep 0.05; done
	not_mounted "$MNT"
	OBS_PID=
	obs_start
	snapshot >"$T/after"
	diff "$T/before" "$T/after"
	expect_grep '^wal_torn_bytes +0$' "$MNT/status"
}

@test "SIGINT unmounts cleanly too" {
	echo 1 >"$MNT/metrics/sigint"
	kill -INT "$OBS_PID"
	obs_wait_gone "$OBS_PID"
	for i in $(seq 50); do mountpoint -q "$MNT" || break; sleep 0.05; done
	not_mounted "$MNT"
	OBS_PID=
	obs_start
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/sigint")" 1
}

@test "concurrent writers: 8 processes x 500 lines into ingest and into one series file lose nothing" {
	base=$(((NOW - 100) * 1000))
	for p in $(seq 0 7); do
		(
			# one write() per line: echo is a shell builtin
			for i in $(seq 0 499); do
				echo "conc{p=\"$p\"} $i $((base + i))"
				echo "conc_all{w=\"ingest\"} $i $((base + p * 500 + i))"
			done >"$MNT/ingest"
		) &
		(
			for i in $(seq 0 499); do
				echo "$(((base + p * 500 + i) / 1000)).$(printf %03d $(((base + p * 500 + i) % 1000))) $p"
			done >>"$MNT/metrics/conc_file"
		) &
	done
	wait
	for p in $(seq 0 7); do
		expect_eq "$(wc -l <"$MNT/metrics/conc{p=\"$p\"}")" 500
	done
	expect_eq "$(wc -l <"$MNT/metrics/conc_all{w=\"ingest\"}")" 4000
	expect_eq "$(wc -l <"$MNT/metrics/conc_file")" 4000
	expect_eq "$(cut -d' ' -f1 "$MNT/metrics/conc_file" | sort -u | wc -l)" 4000
	expect_eq "$(awk '{c[$2]++} END {for (k in c) print k, c[k]}' "$MNT/metrics/conc_file" | sort)" \
		"$(for p in $(seq 0 7); do echo "$p 500"; done)"
	expect_file_eq "$MNT/errors" ""
	# and all of it survives a crash
	snapshot >"$T/before"
	obs_crash
	obs_start
	snapshot >"$T/after"
	diff "$T/before" "$T/after"
}

@test "concurrent readers and writers: tail -f, cat and ls while 4 writers append" {
	echo "$((NOW - 50)) 0" >"$MNT/metrics/rw"
	tail -f "$MNT/metrics/rw" >"$T/tail.out" 2>/dev/null &
	tp=$!
	pids=()
	for p in 0 1 2 3; do
		(for i in $(seq 1 100); do echo "$((NOW - 40 + p * 10)).$(printf %03d $i) $p"; done >>"$MNT/metrics/rw") &
		pids+=($!)
	done
	for k in $(seq 20); do cat "$MNT/metrics/rw" >/dev/null; ls "$MNT/select/__name__=rw" >/dev/null; done
	for p in "${pids[@]}"; do wait "$p"; done
	sleep 1.5
	kill "$tp"
	wait "$tp" 2>/dev/null || true
	expect_eq "$(wc -l <"$MNT/metrics/rw")" 401
	# tail -f printed whole lines only, the newest of them last
	expect_eq "$(grep -cvE '^[0-9T:.-]+Z [0-3]$' "$T/tail.out")" 0
	[ "$(wc -l <"$T/tail.out")" -ge 2 ]
}

@test "kill -9 while a writer holds a partial last line: the bytes its write() accepted come back" {
	echo "$((NOW - 10)) 1" >"$MNT/metrics/partial"
	python3 - "$MNT" "$NOW" <<'PY' &
import os, sys, time
mnt, now = sys.argv[1], int(sys.argv[2])
fd = os.open(mnt + "/metrics/partial", os.O_WRONLY)
os.write(fd, b"%d 2\n%d 7" % (now - 5, now - 4))      # "... 7" has no newline yet
fd2 = os.open(mnt + "/ingest", os.O_WRONLY)
os.write(fd2, b"half_line{a=\"b\"} 4 %d000" % (now - 3))
open(mnt + "/../written", "w").close()
time.sleep(60)
PY
	wp=$!
	for i in $(seq 100); do [ -e "$T/written" ] && break; sleep 0.05; done
	[ -e "$T/written" ]
	obs_crash
	kill "$wp" 2>/dev/null || true
	wait "$wp" 2>/dev/null || true
	obs_start
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/partial")" "1
2
7"
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/half_line{a=\"b\"}")" 4
	# recovered once: a second restart does not add them again
	obs_remount
	expect_eq "$(wc -l <"$MNT/metrics/partial")" 3
}
