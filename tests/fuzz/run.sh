#!/usr/bin/env bash
# tests/fuzz/run.sh — build every tests/fuzz/fuzz_*.c as a libFuzzer binary
# (clang, ASan + UBSan) into build-fuzz/ and run each for FUZZ_SECONDS
# (default 20). A harness names the sources it needs on its first line:
#   // sources: lib/core/num.c lib/ingest/parse.c ...
# Corpora live in build-fuzz/corpus/NAME (seeded from tests/fuzz/seeds/NAME/
# when that exists); crash inputs go to build-fuzz/crashes/.
# Exit status is non-zero if any harness fails to build or finds a crash.
# Usage: tests/fuzz/run.sh [NAME...]   (default: all)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
OUT=build-fuzz
SECS=${FUZZ_SECONDS:-20}
PKG_CFLAGS=$(pkg-config --cflags fuse3 libzstd libpcre2-8 libxxhash)
PKG_LIBS=$(pkg-config --libs fuse3 libzstd libpcre2-8 libxxhash)
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

fail=0
for src in "$@"; do
	[ -f "$src" ] || { echo "fuzz: no such harness '$src'"; fail=1; continue; }
	name=$(basename "$src" .c)
	sources=$(head -1 "$src" | sed -n 's|^// *sources: *||p')
	echo "== $name (${SECS}s)"
	# shellcheck disable=SC2086
	if ! clang -g -O1 -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Ilib $PKG_CFLAGS -o "$OUT/$name" "$src" $sources $PKG_LIBS -lroaring -lm -pthread; then
		echo "not ok $name: build failed"; fail=1; continue
	fi
	mkdir -p "$OUT/corpus/$name"
	# optional seed inputs: tests/fuzz/seeds/NAME/*
	[ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "$OUT/corpus/$name/" 2>/dev/null
	if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
		"$OUT/$name" -max_total_time="$SECS" -print_final_stats=0 \
		-artifact_prefix="$OUT/crashes/$name-" "$OUT/corpus/$name" \
		>"$OUT/$name.log" 2>&1; then
		echo "not ok $name: crash, see $OUT/$name.log and $OUT/crashes/"
		tail -30 "$OUT/$name.log"; fail=1
	else
		echo "ok $name ($(grep -Eo '#[0-9]+' "$OUT/$name.log" | tail -1 | tr -d '#') runs)"
	fi
done
exit $fail
