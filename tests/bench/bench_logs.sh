#!/usr/bin/env bash
# tests/bench/bench_logs.sh [BUILD] — the log store against grep/ripgrep/zstd
# (and Loki's published figures) on dataset A: 2 M real nginx access lines.
#
# obsfs figures are library level (lib/logs, no FUSE): ingest into WAL + head
# in 128 KiB writes, flush (zstd 3) and background re-encoding (zstd 15),
# bytes per line on disk with the index, a needle search and a status=404
# count through the index. The unix peers run in the same invocation on the
# decompressed file in page cache (../shared/bench/peers/unix-logs.sh).
#   SKIP_PEERS=1  skip the unix peers;  SKIP_Z19=1 skip zstd -19 in them
#   NEEDLE=...    the rare string (default Zyborg-Needle)
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${OBS_SHARED:-$ROOT/../shared}
DATA=${DATA_LOGS_A:-$SHARED/data/logs-A.log.zst}
export LC_ALL=C NEEDLE=${NEEDLE:-Zyborg-Needle}
[ -r "$DATA" ] || { echo "bench_logs: dataset '$DATA' not found" >&2; exit 2; }
cd "$ROOT"
make --no-print-directory "$BUILD/libobs.a" >/dev/null
cc -O2 -std=c11 -D_GNU_SOURCE -Ilib -pthread tests/bench/bench_logs.c "$BUILD/libobs.a" \
	-o "$BUILD/bench_logs" $(pkg-config --libs libzstd libpcre2-8 libxxhash) -lroaring -lm
T=$(mktemp -d "${TMPDIR:-/tmp}/obs-bench-logs.XXXXXX")
trap 'rm -rf "$T"' EXIT
zstd -dqc "$DATA" > "$T/A.log"
cat "$T/A.log" > /dev/null
"$BUILD/bench_logs" "$T/A.log" "$T" | tee "$T/obs.out"
RAW=$T/A.log
# the same questions asked of grep and ripgrep, same run, page cache warm
best() {  # best of 3 wall ms of a command (not to /dev/null: grep stops early there)
	local b=999999 i t0 t1
	for i in 1 2 3; do
		t0=$(date +%s%N); "$@" > "$T/out" 2>/dev/null || true; t1=$(date +%s%N)
		b=$(( (t1 - t0) / 1000000 < b ? (t1 - t0) / 1000000 : b ))
	done
	echo "$b"
}
G_NEEDLE=$(best grep -F -- "$NEEDLE" "$RAW")
G_COUNT=$(best grep -c -- ' 404 ' "$RAW")
echo "grep_needle_ms $G_NEEDLE"
echo "grep_count404_ms $G_COUNT"
R_NEEDLE=- R_COUNT=-
if command -v rg >/dev/null; then
	R_NEEDLE=$(best rg -F -- "$NEEDLE" "$RAW")
	R_COUNT=$(best rg -c -- ' 404 ' "$RAW")
	echo "rg_needle_ms $R_NEEDLE"
	echo "rg_count404_ms $R_COUNT"
fi
echo "grep_count404_result $(grep -c -- ' 404 ' "$RAW")"
if [ "${SKIP_PEERS:-0}" != 1 ] && [ -x "$SHARED/bench/peers/unix-logs.sh" ]; then
	SKIP_BLOCKS=${SKIP_BLOCKS:-1} "$SHARED/bench/peers/unix-logs.sh" "$DATA" | tee "$T/unix.out"
fi
v() { awk -v k="$1" '$1 == k { print $2; exit }' "$T/obs.out" "$T/unix.out" 2>/dev/null; }
echo
echo "# summary (Loki 2.8 figures are the issue's reference measurements on this machine)"
printf '%-34s %12s %12s %12s\n' metric obsfs peer reference
printf '%-34s %12s %12s %12s\n' "ingest lines/s (lib, WAL+head)" "$(v obsfs_ingest_lines_per_s)" "-" "Loki 150-330k"
printf '%-34s %12s %12s %12s\n' "ingest lines/s incl. flush" "$(v obsfs_end_to_end_lines_per_s)" "-" "-"
printf '%-34s %12s %12s %12s\n' "bytes/line stored incl. index" "$(v obsfs_disk_bytes_per_line)" "zstd19 $(v unix_zstd19_bytes_per_line)" "Loki 26.7"
printf '%-34s %12s %12s %12s\n' "needle search ms" "$(v obsfs_needle_ms)" "rg $R_NEEDLE" "Loki 750"
printf '%-34s %12s %12s %12s\n' "needle search ms vs grep -F" "$(v obsfs_needle_ms)" "grep $G_NEEDLE" "-"
printf '%-34s %12s %12s %12s\n' "status=404 count ms" "$(v obsfs_status404_count_ms)" "grep-c $G_COUNT" "Loki 1100"
printf '%-34s %12s %12s %12s\n' "\" 404 \" substring count ms" "$(v obsfs_substr404_count_ms)" "rg-c $R_COUNT" "Loki 1100"
