#!/usr/bin/env bash
# tests/fuzz/run.sh — build every tests/fuzz/fuzz_*.c as a libFuzzer binary
# (clang, ASan + UBSan) into build-fuzz/ and run each for FUZZ_SECONDS
# (default 20). A harness names the sources it needs on its first line:
#   // sources: lib/core/num.c lib/ingest/parse.c ...
# Corpora live in build-fuzz/corpus/NAME (seeded from tests/fuzz/seeds/NAME/
# when that exists); crash inputs go to build-fuzz/crashes/NAME-*.
# Known reproducers (tests/fuzz/crashes/NAME-*) are re-run first when
# FUZZ_REPRO=1, so a fixed bug stays fixed.
# Prints one line per harness ("ok NAME: RUNS runs, E exec/s, cov C, corpus K"
# or "not ok NAME: ...") and a summary; exit status is non-zero if any
# harness fails to build, crashes, leaks, hangs (FUZZ_TIMEOUT seconds for one
# input, default 10) or runs out of memory.
# Usage: tests/fuzz/run.sh [NAME...]   (default: all)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
OUT=build-fuzz
SECS=${FUZZ_SECONDS:-20}
TMO=${FUZZ_TIMEOUT:-10}
PKG_CFLAGS=$(pkg-config --cflags fuse3 libzstd libpcre2-8 libxxhash yaml-0.1 jansson libcurl)
PKG_LIBS=$(pkg-config --libs fuse3 libzstd libpcre2-8 libxxhash yaml-0.1 jansson libcurl)
mkdir -p "$OUT/crashes"

srcs=()
if [ $# -gt 0 ]; then
	for a in "$@"; do
		if [ -f "$a" ]; then srcs+=("$a"); else srcs+=("tests/fuzz/${a%.c}.c"); fi
	done
else
	srcs=(tests/fuzz/fuzz_*.c)
fi
set -- "${srcs[@]}"

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1

# the first frames of a crash that are in our code, one line
where() {
	grep -Eo " in [A-Za-z_0-9]+ ($ROOT/)?(lib|tests)/[^ ]+" "$1" | sed "s|^ in ||; s|$ROOT/||" |
		awk '!seen[$0]++' | head -4 | paste -sd';' -
}

nok=0 ncrash=0 nbuild=0 fail=0
for src in "$@"; do
	name=$(basename "$src" .c)
	[ -f "$src" ] || { echo "not ok $name: no such harness '$src'"; nbuild=$((nbuild + 1)); continue; }
	sources=$(head -1 "$src" | sed -n 's|^// *sources: *||p')
	# shellcheck disable=SC2086
	if ! clang -g -O1 -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Ilib $PKG_CFLAGS -o "$OUT/$name" "$src" $sources $PKG_LIBS -lroaring -lm -pthread \
		>"$OUT/$name.build.log" 2>&1; then
		echo "not ok $name: build failed, see $OUT/$name.build.log"
		sed -n '1,10p' "$OUT/$name.build.log" | sed 's/^/#   /'
		nbuild=$((nbuild + 1)); continue
	fi
	mkdir -p "$OUT/corpus/$name"
	# optional seed inputs: tests/fuzz/seeds/NAME/*
	[ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "$OUT/corpus/$name/" 2>/dev/null
	repro=()
	if [ "${FUZZ_REPRO:-0}" = 1 ]; then
		for f in tests/fuzz/crashes/"$name"-*; do [ -f "$f" ] && repro+=("$f"); done
	fi
	if [ ${#repro[@]} -gt 0 ] && ! "$OUT/$name" -timeout="$TMO" "${repro[@]}" >"$OUT/$name.log" 2>&1; then
		echo "not ok $name: known reproducer still fails: $(where "$OUT/$name.log")"
		ncrash=$((ncrash + 1)); continue
	fi
	"$OUT/$name" -max_total_time="$SECS" -timeout="$TMO" -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$OUT/crashes/$name-" "$OUT/corpus/$name" \
		>"$OUT/$name.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$name.log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/$name.log" | tail -1)
	cov=$(grep -Eo 'cov: [0-9]+' "$OUT/$name.log" | tail -1 | tr -dc 0-9)
	corp=$(grep -Eo 'corp: [0-9]+' "$OUT/$name.log" | tail -1 | tr -dc 0-9)
	if [ $rc -ne 0 ]; then
		kind=$(grep -Eo '[^ ]*: runtime error: .*|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z -]+' \
			"$OUT/$name.log" | head -1)
		art=$(sed -n "s/.*Test unit written to //p" "$OUT/$name.log" | tail -1)
		echo "not ok $name: ${kind:-exit $rc} at $(where "$OUT/$name.log"); input ${art:-?}; log $OUT/$name.log"
		ncrash=$((ncrash + 1))
	else
		echo "ok $name: ${runs:-?} runs in ${SECS}s, ${eps:-?} exec/s, cov ${cov:-?}, corpus ${corp:-?}"
		nok=$((nok + 1))
	fi
done
total=$((nok + ncrash + nbuild))
echo "fuzz: $total harnesses, $nok ok, $ncrash crashed, $nbuild failed to build"
[ $((ncrash + nbuild)) -eq 0 ] || fail=1
exit $fail
