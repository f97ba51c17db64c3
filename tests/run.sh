#!/usr/bin/env bash
# tests/run.sh BUILD — run every test tier (C unit tests, bats suites for the
# mount and the tools) and end with "N passed, N failed". Exit non-zero on any
# failure. Every tier reports TAP, which is counted here.
#
# Test files run OBS_TEST_JOBS at a time (default 2: most of the suite waits
# on timers, mounts and peers rather than on the CPU). Each file's output is
# kept apart and printed whole when it ends, with its time in seconds.
# OBS_TEST_JOBS=1 runs them one after another, in order.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export OBS_BUILD="$ROOT/$BUILD" OBS_ROOT="$ROOT"
export PATH="$OBS_BUILD/bin:$PATH"
JOBS=${OBS_TEST_JOBS:-2}
case $JOBS in '' | *[!0-9]* | 0) echo "run.sh: OBS_TEST_JOBS must be a positive number" >&2; exit 2 ;; esac
pass=0 fail=0 skip=0
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# the files, longest tiers first so that the last to start are short
names=() kinds=()
for dir in tests/fs tests/tools; do
	for f in "$ROOT/$dir"/*.bats; do
		[ -e "$f" ] || continue
		names+=("$f") kinds+=(bats)
	done
done
for t in "$OBS_BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	names+=("$t") kinds+=(unit)
done

label() {   # the line that heads a file's output
	case ${kinds[$1]} in
	unit) echo "== unit $(basename "${names[$1]}")" ;;
	*) echo "== bats ${names[$1]#"$ROOT"/}" ;;
	esac
}

run_one() {   # index: run the file, its TAP to $work/I.log, "rc seconds" to $work/I.rc
	local i=$1 start=$SECONDS rc
	if [ "${kinds[$i]}" = unit ]; then
		"${names[$i]}" --tap=- -j1 >"$work/$i.log" 2>&1
	else
		bats --tap "${names[$i]}" >"$work/$i.log" 2>&1
	fi
	rc=$?
	echo "$rc $((SECONDS - start))" >"$work/$i.rc"
}

report() {   # index: print a finished file's failures and add up its TAP lines
	local i=$1 log="$work/$1.log" rc secs p f s
	read -r rc secs <"$work/$i.rc"
	label "$i"
	p=$(grep -Ec '^ok ' "$log"); s=$(grep -Ec '^ok .*# (skip|SKIP)' "$log")
	f=$(grep -Ec '^not ok ' "$log")
	grep -E '^not ok |^# ' "$log" | grep -v '^# Skip' | head -50
	pass=$((pass + p - s)); skip=$((skip + s)); fail=$((fail + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok $(basename "${names[$i]}") failed to run (exit $rc)"; tail -5 "$log"; fail=$((fail + 1))
	fi
	echo "   $secs s"
}

declare -A running=()   # pid -> index
next=0
while [ "$next" -lt "${#names[@]}" ] || [ "${#running[@]}" -gt 0 ]; do
	while [ "$next" -lt "${#names[@]}" ] && [ "${#running[@]}" -lt "$JOBS" ]; do
		run_one "$next" &
		running[$!]=$next
		next=$((next + 1))
	done
	wait -n -p done_pid
	i=${running[$done_pid]}
	unset "running[$done_pid]"
	report "$i"
done

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
