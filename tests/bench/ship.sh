#!/usr/bin/env bash
# tests/bench/ship.sh [BUILD] — obs-ship's collection figures against a real
# mount (not part of make test; make bench does not run it either: run it by
# hand, once, on a quiet machine). Prints "name value" lines:
#
#   ship.scrape_targets, ship.scrape_series   the set-up: TARGETS targets of a
#                                             1,000-series endpoint, each
#                                             scraped every INTERVAL
#   ship.scrapes_offered_per_s  TARGETS / INTERVAL
#   ship.scrapes_per_s      successful scrapes per second over SECS seconds,
#                           every scrape parsed, labelled and written to ingest
#   ship.scrape_failures    failed scrapes in that time (timeouts: the endpoint
#                           or the machine could not keep up)
#   ship.scrape_samples_per_s
#   ship.scrape_p50_ms      median scrape_duration_seconds
#   ship.statsd_offered_lines_per_s   for each offered rate RATE (lines/s, 20
#   ship.statsd_received_lines        lines per datagram, STATSD_SECS long):
#   ship.statsd_lost_lines            lines aggregated, and lost (sent minus
#   ship.statsd_kernel_drops          aggregated); kernel_drops is the socket's
#                                     own count
#   ship.statsd_max_lossless_lines_per_s  the highest offered rate with 0 lost
#
# Env: TARGETS (10), INTERVAL (250ms), SECS (10), RATES ("100000 200000
# 400000"), STATSD_SECS (5); BENCH_SCRAPE=0 or BENCH_STATSD=0 skip a part.
# The endpoint is tests/tools/metrics_server.py --series 1000 (python's
# http.server, one thread per request), so ship.scrapes_per_s is bounded by it
# as much as by obs-ship; the same endpoint fetched in a loop by one
# keep-alive python client is printed as ship.endpoint_gets_per_s.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/$BUILD/bin
PY=/usr/bin/python3
TARGETS=${TARGETS:-10}
INTERVAL=${INTERVAL:-250ms}
SECS=${SECS:-10}
RATES=${RATES:-"100000 200000 400000"}
STATSD_SECS=${STATSD_SECS:-5}
W=$(mktemp -d /tmp/ship-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	mountpoint -q "$W/mnt" && fusermount3 -uz "$W/mnt"
	rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "bench: FAILED: $*" >&2; exit 1; }

mkdir -p "$W/data" "$W/mnt"
"$BIN/obsfsd" "$W/data" "$W/mnt" || fail "obsfsd did not start"

# ---- scrapes of a 1,000-series endpoint -------------------------------------
if [ "${BENCH_SCRAPE:-1}" != 0 ]; then
$PY "$ROOT/tests/tools/metrics_server.py" "$W/port" /dev/null --series 1000 2>"$W/server.err" &
PIDS+=($!)
for i in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
port=$(cat "$W/port") || fail "no endpoint"
url="http://127.0.0.1:$port/metrics"
gets=$($PY - "$port" <<'X'
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
n, t0 = 0, time.time()
while time.time() - t0 < 3:
    c.request("GET", "/metrics")
    r = c.getresponse()
    r.read()
    n += 1
print("%.1f" % (n / (time.time() - t0)))
X
) || fail "endpoint does not answer"
echo "ship.endpoint_gets_per_s $gets"
args=()
for i in $(seq "$TARGETS"); do args+=(--scrape "$url?t=$i" --job "bench$i" --interval "$INTERVAL"); done
"$BIN/obs-ship" -m "$W/mnt" --spool "$W/spool" --status-file "$W/status" "${args[@]}" 2>"$W/ship.err" &
ship=$!
PIDS+=($ship)
sleep 2   # warm up: the first scrapes create the series
okf() { sed -n 's/.* scrapes=\([0-9]*\) failures=\([0-9]*\).*/\1 \2/p' "$W/status" | awk '{s+=$1-$2} END {print s+0}'; }
badf() { sed -n 's/.* scrapes=\([0-9]*\) failures=\([0-9]*\).*/\2/p' "$W/status" | awk '{s+=$1} END {print s+0}'; }
s0=$(okf) f0=$(badf)
sleep "$SECS"
s1=$(okf) f1=$(badf)
kill -TERM "$ship"; wait "$ship" || fail "obs-ship exited non-zero: $(cat "$W/ship.err")"
ivs=$($PY -c "import sys; s=sys.argv[1]; print(float(s[:-2])/1000 if s.endswith('ms') else float(s[:-1]))" "$INTERVAL")
echo "ship.scrape_targets $TARGETS"
echo "ship.scrape_series 1000"
echo "ship.scrapes_offered_per_s $(echo "scale=1; $TARGETS / $ivs" | bc)"
echo "ship.scrapes_per_s $(echo "scale=1; ($s1 - $s0) / $SECS" | bc)"
echo "ship.scrape_failures $((f1 - f0))"
echo "ship.scrape_samples_per_s $(echo "scale=0; ($s1 - $s0) * 1000 / $SECS" | bc)"
p50=$(cat "$W/mnt/metrics/scrape_duration_seconds{instance=\"127.0.0.1:$port\",job=\"bench1\"}" |
	awk '{print $2 * 1000}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "ship.scrape_p50_ms $p50"
# every series of a scrape arrived: the last scrape of bench1 has 1,000 samples
got=$(awk '$2 == 1000' "$W/mnt/metrics/scrape_samples_scraped{instance=\"127.0.0.1:$port\",job=\"bench1\"}" | wc -l)
[ "$got" -gt 0 ] || fail "no scrape of 1000 samples arrived"
n=$(ls "$W/mnt/metrics" | grep -c '^bench_value{')
[ "$n" -eq $((TARGETS * 1000)) ] || fail "$n bench_value series, not $((TARGETS * 1000))"

fi

# ---- StatsD lines per second --------------------------------------------------
[ "${BENCH_STATSD:-1}" != 0 ] || exit 0
best=0
for rate in $RATES; do
	rm -f "$W/ustatus"
	"$BIN/obs-ship" -m "$W/mnt" --spool "$W/spool" --status-file "$W/ustatus" --statsd 127.0.0.1:0 \
		--flush 1h 2>"$W/ship.err" &
	ship=$!
	PIDS+=($ship)
	for i in $(seq 100); do grep -q '^statsd listen=127.0.0.1:[1-9]' "$W/ustatus" 2>/dev/null && break; sleep 0.1; done
	uport=$(sed -n 's/^statsd listen=127.0.0.1:\([0-9]*\) .*/\1/p' "$W/ustatus")
	[ -n "$uport" ] || fail "no statsd port"
	sent=$($PY - "$uport" "$rate" "$STATSD_SECS" <<'X'
import socket, sys, time
port, rate, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
per = 20
dgrams = [("\n".join("bench.c%d:1|c\nbench.t%d:%d|ms\nbench.g%d:%d|g\nbench.s:%d|s" % (k % 50, k % 20, k, k % 10, k, k)
                      for k in range(j, j + per // 4 * 1)).encode()) for j in range(0, 4000, per // 4)]
lines_per = per // 4 * 4
t0 = time.time(); sent = 0; i = 0
while True:
    now = time.time() - t0
    if now >= secs:
        break
    want = int(now * rate)
    while sent < want:
        s.sendto(dgrams[i % len(dgrams)], ("127.0.0.1", port))
        i += 1
        sent += lines_per
print(sent)
X
)
	sleep 1
	kill -TERM "$ship"; wait "$ship" || fail "obs-ship exited non-zero: $(cat "$W/ship.err")"
	recv=$(sed -n 's/^statsd .* lines=\([0-9]*\) .*/\1/p' "$W/ustatus")
	drops=$(sed -n 's/^statsd .* kernel_drops=\([0-9]*\) .*/\1/p' "$W/ustatus")
	offered=$(echo "scale=0; $sent / $STATSD_SECS" | bc)
	echo "ship.statsd_offered_lines_per_s $offered"
	echo "ship.statsd_received_lines $recv"
	echo "ship.statsd_lost_lines $((sent - recv))"
	echo "ship.statsd_kernel_drops $drops"
	[ "$sent" -eq "$recv" ] && [ "$offered" -gt "$best" ] && best=$offered
done
echo "ship.statsd_max_lossless_lines_per_s $best"
