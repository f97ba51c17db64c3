#!/usr/bin/env bash
# tests/bench/compare.sh REV [BUILD] — `make bench-compare REV=...`: obsfs at
# git revision REV ("before") against this tree ("after"), in one invocation.
#
# Both sides run the same measurement: each tree's own tests/bench/run.sh on
# its own build, peers skipped (BENCH_PEERS=0: this compares obsfs with
# itself), REPEAT runs each (medians). The before tree is a temporary git
# worktree of REV, built with `make all`. Output: one line per figure,
#   NAME  BEFORE  AFTER  AFTER/BEFORE
# for every numeric figure both runs printed. Whether bigger is better depends
# on the figure (_s and bytes: smaller; _per_s: bigger).
# Exit status: 0 figures printed; 1 a side failed (its stderr is above).
set -euo pipefail
REV=${1:?usage: compare.sh REV [BUILD]}
BUILD=${2:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/obs-bench-cmp.XXXXXX)
cleanup() { git -C "$ROOT" worktree remove --force "$T/before" >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

log "before: $REV ($(git -C "$ROOT" rev-parse --short "$REV")) in a temporary worktree"
git -C "$ROOT" worktree add -q --detach "$T/before" "$REV"
make -C "$T/before" -j2 all > "$T/before-build.log" 2>&1 ||
	{ tail -20 "$T/before-build.log" >&2; echo "compare: FAILED: $REV does not build" >&2; exit 1; }
make -C "$ROOT" -j2 all BUILD="$BUILD" > "$T/after-build.log" 2>&1 ||
	{ tail -20 "$T/after-build.log" >&2; echo "compare: FAILED: this tree does not build" >&2; exit 1; }

run_side() { # TREE BUILD OUT
	local rc=0
	BENCH_PEERS=0 bash "$1/tests/bench/run.sh" "$2" > "$3" || rc=$?
	# 3 = a part was skipped for lack of data: still comparable
	[ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "compare: FAILED: bench of $1 exited $rc" >&2; exit 1; }
}
log "before: running the bench"
run_side "$T/before" build "$T/before.out"
log "after: running the bench"
run_side "$ROOT" "$BUILD" "$T/after.out"

printf '%-44s %14s %14s %10s\n' figure before after after/before
awk 'NR==FNR { b[$1]=$2; next }
	($1 in b) && b[$1] ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ && $2 ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ {
		r = (b[$1] == 0) ? "nan" : sprintf("%.3f", $2 / b[$1])
		printf "%-44s %14s %14s %10s\n", $1, b[$1], $2, r }' "$T/before.out" "$T/after.out"
