#!/usr/bin/env bash
# tests/run.sh BUILD — run every test tier (C unit tests, bats suites for the
# mount and the tools) and end with "N passed, N failed". Exit non-zero on any
# failure. Every tier reports TAP, which is counted here.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export OBS_BUILD="$ROOT/$BUILD" OBS_ROOT="$ROOT"
export PATH="$OBS_BUILD/bin:$PATH"
pass=0 fail=0 skip=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

count() {  # count TAP lines of $log, echo failures to the terminal
	local p f s
	p=$(grep -Ec '^ok ' "$log"); s=$(grep -Ec '^ok .*# (skip|SKIP)' "$log")
	f=$(grep -Ec '^not ok ' "$log")
	grep -E '^not ok |^# ' "$log" | grep -v '^# Skip' | head -50
	pass=$((pass + p - s)); skip=$((skip + s)); fail=$((fail + f))
	return 0
}

for t in "$OBS_BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	echo "== unit $(basename "$t")"
	"$t" --tap=- -j1 >"$log" 2>&1
	rc=$?
	count
	if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$log"; then
		echo "not ok $(basename "$t") crashed (exit $rc)"; tail -5 "$log"; fail=$((fail + 1))
	fi
done

for dir in tests/fs tests/tools; do
	files=$(ls "$ROOT/$dir"/*.bats 2>/dev/null)
	[ -n "$files" ] || continue
	for f in $files; do
		echo "== bats $dir/$(basename "$f")"
		bats --tap "$f" >"$log" 2>&1
		rc=$?
		count
		if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$log"; then
			echo "not ok $(basename "$f") failed to run (exit $rc)"; tail -5 "$log"; fail=$((fail + 1))
		fi
	done
done

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
