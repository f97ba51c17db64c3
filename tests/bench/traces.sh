#!/usr/bin/env bash
# tests/bench/traces.sh [BUILD] — traces through a real mount, with OTLP/JSON
# from the OpenTelemetry JS SDK (tests/traces-gen/gen.js, installed into
# BUILD/npm-traces-gen as t80-traces.bats does):
#   1. spans/s through traces/ingest: TRACES traces (default 50000, 4 spans
#      each) written with cat, wall time from open to close (parse, journal,
#      RED metrics, assembly, early decisions, store); target >= 200,000;
#      also the daemon's CPU seconds meanwhile (the machine may be loaded),
#      and until the last decision and the segment file are done;
#   2. bytes per kept span on disk (every trace kept, `ctl compact` writes
#      the segment; segment files only, the index is rebuilt from them)
#      against zstd -19 of the same OTLP/JSON; target: smaller;
#   3. memory per buffered span: the child spans alone (no root, so every
#      trace stays buffered), the daemon's VmRSS growth / buffered spans,
#      and the store's own count of buffered bytes / span.
# Prints "name value unit" lines. Exit 0 done, 1 a check failed, 2 no SDK.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac   # absolute: e.g. another checkout's build to compare
B=$(cd "$BUILD" && pwd)
TRACES=${TRACES:-50000}
GEN=$B/npm-traces-gen
if [ ! -f "$GEN/.installed" ]; then
	mkdir -p "$GEN" && cp "$ROOT/tests/traces-gen/package.json" "$GEN/"
	(cd "$GEN" && timeout 300 npm install --no-audit --no-fund --loglevel=error) >/dev/null 2>&1 ||
		{ echo "traces bench: npm registry unreachable, no OpenTelemetry SDK" >&2; exit 2; }
	touch "$GEN/.installed"
fi
T=$(mktemp -d /tmp/obsfs-bench-traces.XXXXXX)
MNT=$T/mnt DATA=$T/data
mkdir -p "$MNT" "$DATA"
cleanup() { fusermount3 -u "$MNT" 2>/dev/null || true; sleep 0.5; rm -rf "$T"; }
trap cleanup EXIT
mount_it() {
	"$B/bin/obsfsd" "$DATA" "$MNT"
	for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.05; done
	PID=$(cat "$DATA/LOCK")
}
# user + system clock ticks of the daemon (fields 14 and 15 of /proc/PID/stat)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
unmount_it() {
	fusermount3 -u "$MNT"
	while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
}
SPANS_JSON=$B/bench-traces-$TRACES.json
if [ ! -s "$SPANS_JSON" ]; then
	NODE_PATH=$GEN/node_modules node "$ROOT/tests/traces-gen/gen.js" --traces "$TRACES" --batch 100 \
		--base-ms $((($(date +%s) - 3600) * 1000)) >"$SPANS_JSON.tmp"
	mv "$SPANS_JSON.tmp" "$SPANS_JSON"
fi
spans=$((TRACES * 4))
bytes=$(stat -L -c %s "$SPANS_JSON")
echo "input_spans $spans spans"
echo "input_otlp_json_bytes $bytes bytes ($((bytes / spans)) bytes/span)"

# 1 + 2: every trace kept
mount_it
echo "all always_sample" >"$MNT/traces/policy"
cat "$SPANS_JSON" >/dev/null   # page cache
cpu0=$(cpu_ticks)
t0=$(date +%s.%N)
cat "$SPANS_JSON" >"$MNT/traces/ingest"
t1=$(date +%s.%N)
cpu1=$(cpu_ticks)
# every trace decided (early decisions come on the daemon's 200 ms tick), then a segment
for _ in $(seq 200); do
	[ "$(awk '/^traces_buffered /{print $2}' "$MNT/status")" = 0 ] && break
	sleep 0.05
done
echo compact >"$MNT/ctl"
cpu2=$(cpu_ticks)   # and what came after the write: the last decisions, the segment
kept=$(awk '/^traces_kept /{print $3}' "$MNT/status" | tr -d '(')
awk -v s="$spans" -v a="$t0" -v b="$t1" 'BEGIN { printf "ingest_spans_per_s %.0f spans/s (%.2f s for %d spans; target 200000)\n", s / (b - a), b - a, s }'
awk -v s="$spans" -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" 'BEGIN {
	printf "ingest_daemon_cpu_s %.2f s (user+system of obsfsd while cat wrote; %.0f spans per CPU second)\n", (b - a) / hz, s / ((b - a) / hz) }'
awk -v s="$spans" -v a="$cpu0" -v b="$cpu2" -v hz="$(getconf CLK_TCK)" 'BEGIN {
	printf "ingest_daemon_cpu_total_s %.2f s (also until every trace is decided and in a segment; %.0f spans per CPU second)\n", (b - a) / hz, s / ((b - a) / hz) }'
grep '^traces_' "$MNT/status" | sed 's/^/# /'
seg=$(cat "$DATA"/traces/seg-*.trc | wc -c)
# zstd -19 of 93 MB takes a minute: once per input file
if [ ! -s "$SPANS_JSON.zstd19-bytes" ] || [ "$SPANS_JSON.zstd19-bytes" -ot "$SPANS_JSON" ]; then
	zstd -19 -T1 -c <"$SPANS_JSON" | wc -c >"$SPANS_JSON.zstd19-bytes"
fi
z19=$(cat "$SPANS_JSON.zstd19-bytes")
awk -v s="$kept" -v g="$seg" -v z="$z19" -v n="$spans" 'BEGIN {
	printf "disk_bytes_per_kept_span %.1f bytes (%d spans kept, %d bytes of segments)\n", g / s, s, g
	printf "zstd19_otlp_json_bytes_per_span %.1f bytes (%d bytes)\n", z / n, z
	printf "disk_vs_zstd19 %.2f (target < 1)\n", (g / s) / (z / n) }'
unmount_it
rm -rf "$DATA" && mkdir -p "$DATA"

# 3: buffered spans (roots left out, decision_wait an hour)
mount_it
printf 'decision_wait=1h\nnum_traces=1000000\nmax_spans=10000000\nall always_sample\n' >"$MNT/traces/policy"
python3 - "$SPANS_JSON" "$T/children.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for line in f:
        if not line.strip():
            continue
        d = json.loads(line)
        for r in d["resourceSpans"]:
            for ss in r["scopeSpans"]:
                ss["spans"] = [s for s in ss["spans"] if s.get("parentSpanId")]
        o.write(json.dumps(d, separators=(",", ":")) + "\n")
PY
rss0=$(awk '/^VmRSS/{print $2}' "/proc/$PID/status")
cat "$T/children.json" >"$MNT/traces/ingest"
rss1=$(awk '/^VmRSS/{print $2}' "/proc/$PID/status")
buffered=$(awk '/^traces_buffered /{print $3}' "$MNT/status" | tr -d '(')
own=$(awk '/^traces_buffered /{print $7}' "$MNT/status")
awk -v a="$rss0" -v b="$rss1" -v n="$buffered" -v o="$own" 'BEGIN {
	printf "buffered_spans %d spans\n", n
	printf "rss_bytes_per_buffered_span %.1f bytes (VmRSS %d -> %d KiB)\n", (b - a) * 1024 / n, a, b
	printf "accounted_bytes_per_buffered_span %s bytes (the store'"'"'s own count)\n", o }'
unmount_it
