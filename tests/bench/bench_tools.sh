#!/usr/bin/env bash
# tests/bench/bench_tools.sh [BUILD] — throughput of the pipeline filters
# (obs-rate, obs-agg, obs-alert) on a generated 10-million-line counter file,
# against the equivalent awk programs in the same run. Prints "name value"
# lines: lines/s per filter (median of REPEAT runs, default 3, for the filter
# and for awk alike; input in the page cache, output to /dev/null) and the
# ratio filter/awk (> 1: faster than awk). A filter that fails is exit 1.
#   LINES=N changes the size (10000000).
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/$BUILD/bin"
LINES=${LINES:-10000000}
REPEAT=${REPEAT:-3}
export LC_ALL=C
T=$(mktemp -d /tmp/obs-bench-tools.XXXXXX)
trap 'rm -rf "$T"' EXIT
out() { printf '%-36s %s\n' "$1" "$2"; }
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

for t in obs-rate obs-agg obs-alert; do
	[ -x "$BIN/$t" ] || { echo "bench_tools: $BIN/$t missing (make first)" >&2; exit 2; }
done

# A counter sampled every second, +0..6 per second, reset every 100000 s.
log "generating $LINES lines"
awk -v n="$LINES" 'BEGIN { t = 1795236000; v = 0
	for (i = 0; i < n; i++) { v += i % 7; if (i % 100000 == 99999) v = 0; print t + i, v } }' \
	>"$T/epoch.txt"
# The same in RFC3339 (what a mount serves by default): obs-agg 1s last is the
# identity on 1 s samples.
"$BIN/obs-agg" -T rfc3339 1s last "$T/epoch.txt" >"$T/rfc.txt"
cat "$T/epoch.txt" "$T/rfc.txt" >/dev/null

# best CMD...: the median wall time of REPEAT runs, in seconds, into $BEST
# (the same statistic for the filter and for awk: their ratio is fair)
best() {
	local t0 t1 ts=()
	for _ in $(seq "$REPEAT"); do
		t0=$(date +%s%N)
		"$@" >/dev/null || { echo "bench_tools: FAILED: $* exited $?" >&2; exit 1; }
		t1=$(date +%s%N)
		ts+=("$(( t1 - t0 ))")
	done
	BEST=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{v[NR]=$1} END{
		m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.4f", m / 1e9 }')
}
rate() { awk -v n="$LINES" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

AWK_RATE='NR > 1 { d = $2 - pv; if (d < 0) d = $2; print $1, d / ($1 - pt) } { pt = $1; pv = $2 }'
AWK_AGG='{ b = $1 - $1 % 60; if (n && b != cb) { print cb, s / n; s = n = 0 } cb = b; s += $2; n++ }
END { if (n) print cb, s / n }'
AWK_ALERT='{ st = ($2 > 500) ? "firing" : "ok"; if (st != prev) { print $1, st, $2; prev = st } }'

out lines "$LINES"
out statistic "median_of_${REPEAT}_runs_on_both_sides"
out awk "$(awk -W version 2>/dev/null | head -1 | cut -d' ' -f1,2 || echo awk)"

log "obs-rate"
best "$BIN/obs-rate" "$T/epoch.txt"; r_s=$BEST
best awk "$AWK_RATE" "$T/epoch.txt"; ra_s=$BEST
out obs-rate_lines_per_s "$(rate "$r_s")"
out awk_rate_lines_per_s "$(rate "$ra_s")"
out obs-rate_vs_awk "$(ratio "$r_s" "$ra_s")"

log "obs-rate --window 5m, RFC3339"
best "$BIN/obs-rate" -w 5m "$T/epoch.txt"
out obs-rate_window_lines_per_s "$(rate "$BEST")"
best "$BIN/obs-rate" "$T/rfc.txt"
out obs-rate_rfc3339_lines_per_s "$(rate "$BEST")"

log "obs-agg"
best "$BIN/obs-agg" 1m avg "$T/epoch.txt"; g_s=$BEST
best awk "$AWK_AGG" "$T/epoch.txt"; ga_s=$BEST
out obs-agg_lines_per_s "$(rate "$g_s")"
out awk_agg_lines_per_s "$(rate "$ga_s")"
out obs-agg_vs_awk "$(ratio "$g_s" "$ga_s")"
best "$BIN/obs-agg" 1m p99 "$T/epoch.txt"
out obs-agg_p99_lines_per_s "$(rate "$BEST")"

log "obs-alert"
best "$BIN/obs-alert" '> 500' "$T/epoch.txt"; a_s=$BEST
best awk "$AWK_ALERT" "$T/epoch.txt"; aa_s=$BEST
out obs-alert_lines_per_s "$(rate "$a_s")"
out awk_alert_lines_per_s "$(rate "$aa_s")"
out obs-alert_vs_awk "$(ratio "$a_s" "$aa_s")"

log "chained: obs-rate | obs-agg"
best sh -c "'$BIN/obs-rate' '$T/epoch.txt' | '$BIN/obs-agg' 1m avg"
out rate_agg_pipeline_lines_per_s "$(rate "$BEST")"
