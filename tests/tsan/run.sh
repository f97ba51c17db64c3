#!/usr/bin/env bash
# tests/tsan/run.sh BUILD — ThreadSanitizer run (make tsan): every C unit
# test (built against tests/tsan/criterion/criterion.h), then a concurrent workload on a real mount (writers of new and old
# series into ingest and series files, log appends, readers, ctl compact and
# the background compactor at once). TSAN_OPTIONS log_path must point into
# BUILD/reports (the Makefile sets it): the daemon's stderr is detached.
# Prints "tsan: N unit binaries, N workload seconds, N reports" and exits
# non-zero when a test failed or any report was written.
set -u
BUILD=${1:-build-tsan}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B="$ROOT/$BUILD"
REPORTS="$B/reports"
mkdir -p "$REPORTS"
fail=0 units=0
# timing bounds a 5-15x sanitizer slowdown cannot meet (they run in make test)
export CR_TSAN_SKIP=${CR_TSAN_SKIP:-block/read_one_day_of_one_series}
for t in "$B"/tests/test_*; do
	[ -x "$t" ] && [ "${TSAN_UNITS:-1}" != 0 ] || continue
	units=$((units + 1))
	if ! "$t" -j1 >"$REPORTS/unit-$(basename "$t").out" 2>&1; then
		echo "tsan: unit $(basename "$t") failed:"; tail -5 "$REPORTS/unit-$(basename "$t").out"
		fail=1
	fi
done

T=$(mktemp -d /tmp/obs-tsan.XXXXXX)
DATA="$T/data" MNT="$T/mnt"
mkdir -p "$DATA" "$MNT"
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
SECS=${TSAN_SECONDS:-15}
if ! "$B/bin/obsfsd" -o block_span=2s "$DATA" "$MNT" 2>"$T/start.err"; then
	echo "tsan: obsfsd failed to start:"; cat "$T/start.err"; exit 1
fi
pid=$(cat "$DATA/LOCK")
end=$(( $(date +%s) + SECS ))
base=$(( $(date +%s) - 600 ))
writer() {   # $1: writer number; new series every round, old ones too
	local w=$1 r=0 i
	while [ "$(date +%s)" -lt "$end" ]; do
		for i in $(seq 20); do
			echo "tsan_old{w=\"$w\",k=\"$i\"} $r $(( (base + r) * 1000 + i ))"
			echo "tsan_new{w=\"$w\",r=\"$r\"} $i"
			echo "tsan_file{w=\"$w\"} $r"
		done >"$MNT/ingest"
		# untimed values into a series file (not into tsan_old: an arrival
		# time there would put its timed samples outside the window)
		echo "$r" >>"$MNT/metrics/tsan_file{w=\"$w\"}"
		echo "line $w $r" >>"$MNT/logs/tsan$w"
		r=$((r + 1))
	done
}
reader() {
	while [ "$(date +%s)" -lt "$end" ]; do
		cat "$MNT/metrics/tsan_old{w=\"1\",k=\"2\"}" "$MNT/status" "$MNT/errors" >/dev/null 2>&1
		ls "$MNT/metrics" >/dev/null 2>&1
		cat "$MNT/logs/tsan1" >/dev/null 2>&1
	done
}
compactor() {
	while [ "$(date +%s)" -lt "$end" ]; do
		echo compact >"$MNT/ctl" 2>/dev/null
		sleep 0.3
	done
}
writer 1 & writer 2 & writer 3 & reader & reader & compactor &
wait
cat "$MNT/metrics/tsan_old{w=\"1\",k=\"1\"}" >/dev/null || { echo "tsan: the mount stopped answering"; fail=1; }
fusermount3 -u "$MNT" || fail=1
for i in $(seq 500); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
kill -0 "$pid" 2>/dev/null && { echo "tsan: obsfsd did not exit"; kill -9 "$pid"; fail=1; }
n=$(ls "$REPORTS" | grep -c '^tsan\.' || true)
if [ "$n" -gt 0 ]; then
	echo "tsan reports:"; head -60 "$REPORTS"/tsan.*
	fail=1
fi
echo "tsan: $units unit binaries, $SECS workload seconds, $n reports"
exit $fail
