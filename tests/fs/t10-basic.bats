#!/usr/bin/env bats
# t10-basic — the tree, echo/cat round trips, TIME VALUE writes, O_TRUNC,
# Unix tools on series files, tail -f, README/status, time=epoch.

load helper

setup() { obs_setup; }
teardown() { obs_teardown; }

# write samples t0+0, t0+60, ... (values 1..n) into a series file
seed() {
	local f=$1 t0=$2 n=$3 i
	for ((i = 0; i < n; i++)); do
		echo "$((t0 + i * 60)) $((i + 1))"
	done >"$MNT/metrics/$f"
}

@test "the root lists the metrics tree" {
	for e in README ctl errors ingest labels metrics select status; do
		ls "$MNT" | grep -qx "$e" || { echo "missing $e"; false; }
	done
	# other parts of the tree (logs, traces, alerts, ...) come and go with
	# their issues; none of them may hide the metrics entries
	[ -d "$MNT/metrics" ]
	[ -d "$MNT/select" ]
	[ -d "$MNT/labels" ]
	[ -f "$MNT/README" ]
	[ -f "$MNT/status" ]
	[ -f "$MNT/errors" ]
	expect_empty_dir "$MNT/metrics"
}

@test "echo VALUE > series then cat: one sample, stamped now" {
	before=$(date +%s)
	echo 21.5 >"$MNT/metrics/room_temp"
	after=$(date +%s)
	run cat "$MNT/metrics/room_temp"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\ 21\.5$ ]]
	t=$(date -u -d "${lines[0]%% *}" +%s)
	[ "$t" -ge "$before" ]
	[ "$t" -le "$after" ]
	expect_eq "$(ls "$MNT/metrics")" room_temp
	# st_size matches the text, so tools that trust it see everything
	text=$(slurp "$MNT/metrics/room_temp")
	expect_eq "$(stat -c %s "$MNT/metrics/room_temp")" "$(printf '%s\n' "$text" | wc -c)"
}

@test "TIME VALUE lines with RFC3339 and epoch times, read back in time order" {
	t0=$(aligned_ago 600 60)
	{
		echo "$(date -u -d "@$t0" +%Y-%m-%dT%H:%M:%SZ) 1"
		echo "$((t0 + 60)) 2"
		echo "$((t0 + 120)).250 3.5"
		echo "$(((t0 + 180) * 1000)) -4"           # 13 digits: epoch milliseconds
		echo "$(date -u -d "@$((t0 + 240))" +%Y-%m-%dT%H:%M:%S.500+00:00) 1e3"
	} >"$MNT/metrics/mixed_times"
	expected="$(rfc3339 $t0) 1
$(rfc3339 $((t0 + 60))) 2
$(rfc3339 $((t0 + 120)) | sed 's/\.000Z/.250Z/') 3.5
$(rfc3339 $((t0 + 180))) -4
$(rfc3339 $((t0 + 240)) | sed 's/\.000Z/.500Z/') 1000"
	expect_file_eq "$MNT/metrics/mixed_times" "$expected"
}

@test "samples written out of order within the window are read back sorted" {
	t0=$(aligned_ago 200 10)
	printf '%s\n' "$((t0 + 20)) 3" "$t0 1" "$((t0 + 10)) 2" >"$MNT/metrics/unsorted"
	expect_file_eq "$MNT/metrics/unsorted" "$(rfc3339 $t0) 1
$(rfc3339 $((t0 + 10))) 2
$(rfc3339 $((t0 + 20))) 3"
}

@test "O_TRUNC (echo > twice) and truncate never erase history" {
	echo 1 >"$MNT/metrics/trunc_me"
	sleep 0.01
	echo 2 >"$MNT/metrics/trunc_me"
	truncate -s 0 "$MNT/metrics/trunc_me"
	: >"$MNT/metrics/trunc_me"
	run cut -d' ' -f2 "$MNT/metrics/trunc_me"
	expect_eq "$output" "$(printf '1\n2')"
	echo 3 >>"$MNT/metrics/trunc_me"
	expect_eq "$(wc -l <"$MNT/metrics/trunc_me")" 3
}

@test "two quick echo > FILE in a row both land (auto timestamps never collide)" {
	# Two writes within the same millisecond must not get the same 'now' (the
	# second, with a different value, would be rejected as a duplicate).
	for i in 1 2 3 4 5 6 7 8 9 10; do
		echo "$i" >"$MNT/metrics/quick"
	done
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/quick" | tr '\n' ' ')" "1 2 3 4 5 6 7 8 9 10 "
}

@test "wc, grep, awk, sort, head, tail on a series file" {
	t0=$(aligned_ago 3600 60)
	seed tools "$t0" 50
	f=$MNT/metrics/tools
	expect_eq "$(wc -l <"$f")" 50
	expect_eq "$(wc -c <"$f")" "$(stat -c %s "$f")"
	expect_eq "$(grep -c ' 4[0-9]$' "$f")" 10
	expect_eq "$(awk '{s += $2} END {print s}' "$f")" 1275
	expect_eq "$(sort -k2,2nr "$f" | head -1)" "$(rfc3339 $((t0 + 49 * 60))) 50"
	expect_eq "$(head -n 2 "$f")" "$(rfc3339 $t0) 1
$(rfc3339 $((t0 + 60))) 2"
	expect_eq "$(tail -n 1 "$f")" "$(rfc3339 $((t0 + 49 * 60))) 50"
	expect_eq "$(tail -c 3 "$f")" "50"
	text=$(slurp "$f")
	[ -n "$text" ]
	expect_eq "$(sort "$f")" "$text"
}

@test "tail -f shows a new sample within 2 s" {
	echo 1 >"$MNT/metrics/live"
	tail -f "$MNT/metrics/live" >"$T/tail.out" 2>&1 &
	tp=$!
	sleep 0.3
	echo 42 >>"$MNT/metrics/live"
	ok=
	for i in $(seq 20); do
		if grep -q ' 42$' "$T/tail.out"; then ok=1; break; fi
		sleep 0.1
	done
	echo 43 >>"$MNT/metrics/live"
	ok2=
	for i in $(seq 20); do
		if grep -q ' 43$' "$T/tail.out"; then ok2=1; break; fi
		sleep 0.1
	done
	kill "$tp"; wait "$tp" 2>/dev/null || true
	cat "$T/tail.out"
	[ -n "$ok" ]
	[ -n "$ok2" ]
	expect_eq "$(cut -d' ' -f2 "$T/tail.out")" "$(printf '1\n42\n43')"
}

@test "a reader that reached EOF sees samples appended later (same open file)" {
	echo 1 >"$MNT/metrics/grow"
	exec 5<"$MNT/metrics/grow"
	first=$(cat <&5)
	echo 2 >>"$MNT/metrics/grow"
	second=$(cat <&5)
	exec 5<&-
	[[ "$first" == *" 1" ]]
	[[ "$second" == *" 2" ]]
	[ "$(echo "$second" | wc -l)" -eq 1 ]
}

@test "README and status describe the mount" {
	expect_grep '^  ingest ' "$MNT/README"
	expect_grep 'metrics/SERIES@RANGE' "$MNT/README"
	expect_grep 'select/' "$MNT/README"
	t0=$(aligned_ago 600 60)
	seed a "$t0" 3
	seed b "$t0" 4
	run cat "$MNT/status"
	[ "$status" -eq 0 ]
	expect_grep "^datadir +$DATA\$" "$MNT/status"
	expect_grep '^series +2$' "$MNT/status"
	expect_grep '^samples +7$' "$MNT/status"
	expect_grep '^samples_rejected +0$' "$MNT/status"
	expect_grep '^errors_total +0$' "$MNT/status"
	# wc/grep work on generated files (st_size must not truncate them)
	[ "$(wc -l <"$MNT/status")" -gt 10 ]
	[ "$(grep -c . "$MNT/README")" -gt 5 ]
}

@test "views, status and errors are read-only; ingest and ctl write-only" {
	run bash -c "echo x > '$MNT/status'"
	expect_fail "Permission denied"
	run bash -c "echo x > '$MNT/README'"
	expect_fail "Permission denied"
	run cat "$MNT/ingest"
	expect_fail "Permission denied"
	run cat "$MNT/ctl"
	expect_fail "Permission denied"
	run rm "$MNT/README"
	expect_fail "Operation not permitted"
}

@test "rm of a series is refused and keeps its samples" {
	echo 5 >"$MNT/metrics/keep"
	run rm -f "$MNT/metrics/keep"
	expect_fail "Operation not permitted"
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/keep")" 5
}

@test "time=epoch mount: reads print epoch seconds" {
	obs_remount -o time=epoch
	t0=$(aligned_ago 600 60)
	printf '%s\n' "$t0 1" "$((t0 + 60)).5 2" "$(date -u -d "@$((t0 + 120))" +%Y-%m-%dT%H:%M:%S.250Z) 3" \
		>"$MNT/metrics/ep"
	expect_file_eq "$MNT/metrics/ep" "$t0 1
$((t0 + 60)).5 2
$((t0 + 120)).25 3"
	expect_eq "$(stat -c %s "$MNT/metrics/ep")" "$(wc -c <"$MNT/metrics/ep")"
}

@test "tools on generated files and views: tail, head, wc, grep, awk, sort" {
	t0=$(aligned_ago 3600 300)
	seed gen "$t0" 30
	v="$MNT/metrics/gen@-2h:5m:sum"
	expect_eq "$(wc -l <"$v")" 6
	expect_eq "$(tail -n 1 "$v")" "$(rfc3339 $((t0 + 25 * 60))) 140"
	expect_eq "$(head -n 1 "$v")" "$(rfc3339 $t0) 15"
	expect_eq "$(awk '{s += $2} END {print s}' "$v")" 465
	expect_eq "$(sort -k2,2n "$v" | tail -n 1 | cut -d' ' -f2)" 140
	expect_eq "$(grep -c . "$MNT/metrics/gen@-2h")" 30
	expect_eq "$(tail -n 1 "$MNT/status" | awk '{print $1, $2}')" "gen 1"
	expect_eq "$(grep -E '^series ' "$MNT/status" | awk '{print $2}')" 1
	# tail seeks by st_size: its last line is the last line of a full read
	readme=$(slurp "$MNT/README")
	last=${readme##*$'\n'}
	[ -n "$last" ]
	expect_eq "$(tail -n 1 "$MNT/README")" "$last"
	run bash -c "echo bogus > '$MNT/ctl'"
	expect_fail "Invalid argument"
	expect_eq "$(tail -n 1 "$MNT/errors" | sed 's/^[^ ]* //')" "ctl: unknown command: bogus"
}

@test "a long series reads the same with any read size and from any offset" {
	t0=$(($(date +%s) - 4000))
	for ((i = 0; i < 3000; i++)); do echo "$((t0 + i)) $((i * 7 % 1000)).25"; done >"$MNT/metrics/long"
	f=$MNT/metrics/long
	cat "$f" >"$T/cat.out"
	expect_eq "$(wc -l <"$T/cat.out")" 3000
	expect_eq "$(stat -c %s "$f")" "$(wc -c <"$T/cat.out")"
	for bs in 1 7 4096 65536 1000000; do
		dd if="$f" bs=$bs status=none | cmp - "$T/cat.out"
	done
	# from an offset in the middle (tail -c seeks)
	expect_eq "$(tail -c 1000 "$f")" "$(tail -c 1000 "$T/cat.out")"
	expect_eq "$(dd if="$f" bs=100 skip=333 count=2 status=none)" "$(dd if="$T/cat.out" bs=100 skip=333 count=2 status=none)"
	expect_eq "$(tail -n 1 "$f")" "$(rfc3339 $((t0 + 2999))) $((2999 * 7 % 1000)).25"
}
