#!/usr/bin/env bats
# t12 — make run / make stop (contrib/run-mount.sh, contrib/stop-mount.sh):
# stop waits for the daemon to finish; a busy mount is refused with exit 1,
# not lazily detached behind the user's back; run remounts and recovers.

load helper
bats_require_minimum_version 1.5.0

: "${OBS_ROOT:=$BATS_TEST_DIRNAME/../..}"

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/obsfs.XXXXXX")
	DATA=$T/data MNT=$T/mnt OBS_PID=
}
teardown() { obs_teardown; }

run_mount() { "$OBS_ROOT/contrib/run-mount.sh" "$OBSFSD" "$DATA" "$MNT" >"$T/run.out" 2>&1; }
stop_mount() { "$OBS_ROOT/contrib/stop-mount.sh" "$MNT" "$DATA"; }

@test "stop unmounts and returns after the daemon exited; run recovers what was written" {
	run_mount
	grep -q "obsfs is mounted at $MNT" "$T/run.out"
	OBS_PID=$(obs_lock_pid)
	echo 21.5 >"$MNT/metrics/room_temp"
	run stop_mount
	[ "$status" -eq 0 ]
	expect_eq "$output" "unmounted $MNT"
	not_mounted "$MNT"
	run ! obs_alive "$OBS_PID"
	run_mount
	OBS_PID=$(obs_lock_pid)
	expect_eq "$(cut -d' ' -f2 "$MNT/metrics/room_temp")" "21.5"
}

@test "stop on a busy mount says so, exits 1, and leaves mount and daemon up" {
	run_mount
	OBS_PID=$(obs_lock_pid)
	(cd "$MNT" && exec sleep 30) &
	busy=$!
	run stop_mount
	kill "$busy"; wait "$busy" 2>/dev/null || true
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot unmount $MNT"* ]]
	[[ "$output" == *"run make stop again"* ]]
	mountpoint -q "$MNT"
	obs_alive "$OBS_PID"
	ls "$MNT/metrics" >/dev/null
	run stop_mount
	[ "$status" -eq 0 ]
	run ! obs_alive "$OBS_PID"
	OBS_PID=   # stopped on purpose
}

@test "stop with nothing mounted, and after the daemon died" {
	mkdir -p "$MNT"
	run stop_mount
	[ "$status" -eq 0 ]
	expect_eq "$output" "nothing mounted at $MNT"
	run_mount
	pid=$(obs_lock_pid)
	kill -9 "$pid"
	while obs_alive "$pid"; do sleep 0.05; done
	run stop_mount
	[ "$status" -eq 0 ]
	expect_eq "$output" "unmounted $MNT (its daemon had died)"
	not_mounted "$MNT"
}
