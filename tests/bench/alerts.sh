#!/usr/bin/env bash
# tests/bench/alerts.sh BUILD — the rule manager at scale, in a real mount:
# RULES alerting rules (default 10,000, in groups of 100, every 15 s) over
# SERIES node_load1-like series (default 10,000: host-N:9100, dataset A's
# node exporter shape). Prints "name value" lines:
#   alerts.rules, alerts.series
#   alerts.cycle_ms        evaluation time of one cycle (all groups), from
#                          alerts/state (sum of the rules' last durations)
#   alerts.per_rule_us     the same per rule
#   alerts.fire_delay_s    wall time from writing a sample that crosses a
#                          threshold (for: 0) to its alerts/firing entry
#   alerts.fire_delay_max_s  the worst of DELAYS tries (default 3)
# Not part of make test. Exit 0, or 1 with "alerts bench: FAILED: ..." on stderr.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in /*) BDIR=$BUILD ;; *) BDIR=$ROOT/$BUILD ;; esac
RULES=${RULES:-10000}
SERIES=${SERIES:-10000}
DELAYS=${DELAYS:-3}
T=$(mktemp -d)
MNT=$T/mnt
die() { echo "alerts bench: FAILED: $*" >&2; exit 1; }
cleanup() {
	fusermount3 -u "$MNT" 2>/dev/null || true
	sleep 0.5
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/data" "$MNT"
"$BDIR/bin/obsfsd" -o alert_interval=15s "$T/data" "$MNT" 2>"$T/start.err" || die "obsfsd: $(cat "$T/start.err")"

# the series: load ~0.5, written now
awk -v n="$SERIES" 'BEGIN{for(i=0;i<n;i++) printf "node_load1{instance=\"host-%d:9100\",job=\"node\"} %.2f\n", i, 0.3+(i%40)/100}' \
	> "$T/series.prom"
cat "$T/series.prom" > "$MNT/ingest" || die "ingest failed"

# the rules: one per series (modulo), 100 per group, every 15 s
awk -v n="$RULES" -v s="$SERIES" 'BEGIN{
	print "groups:";
	for (i = 0; i < n; i++) {
		if (i % 100 == 0) { printf "  - name: g%d\n    interval: 15s\n    rules:\n", i / 100 }
		printf "      - alert: HighLoad%d\n        expr: node_load1{instance=\"host-%d:9100\"} > 0.9\n", i, i % s
		printf "        labels: {severity: warning}\n"
		printf "        annotations: {summary: \"load {{ $value | humanize }} on {{ $labels.instance }}\"}\n"
	}}' > "$T/big.rules.yml"
t0=$(date +%s.%N)
cp "$T/big.rules.yml" "$MNT/alerts/rules/" || die "the rule file was refused: $(tail -3 "$MNT/errors")"
t1=$(date +%s.%N)
echo "alerts.rules $RULES"
echo "alerts.series $SERIES"
echo "alerts.load_s $(echo "$t1 - $t0" | bc)"

# wait for two full cycles, then read the rules' durations
n_ok() { grep -c '^rule .* alerting ok ' "$MNT/alerts/state" || true; }
for i in $(seq 120); do
	[ "$(n_ok)" -ge "$RULES" ] && break
	sleep 0.5
done
[ "$(n_ok)" -ge "$RULES" ] || die "only $(n_ok) of $RULES rules evaluated after 60 s"
sleep 16
awk -v n="$RULES" '/^rule / { d=$8; sub(/ms$/, "", d); s += d; k++ }
	END { printf "alerts.cycle_ms %.1f\nalerts.per_rule_us %.2f\n", s, s * 1000 / k }' "$MNT/alerts/state"

# delay: a sample crosses the threshold; how long until the alert is listed
worst=0
sum=0
for k in $(seq "$DELAYS"); do
	inst=$((k * 7 % SERIES))
	name="HighLoad${inst}{instance=\"host-${inst}:9100\",job=\"node\",severity=\"warning\"}"
	s0=$(date +%s.%N)
	echo "node_load1{instance=\"host-${inst}:9100\",job=\"node\"} 5" > "$MNT/ingest"
	for i in $(seq 400); do
		[ -e "$MNT/alerts/firing/$name" ] && break
		sleep 0.1
	done
	[ -e "$MNT/alerts/firing/$name" ] || die "$name did not fire within 40 s"
	s1=$(date +%s.%N)
	d=$(echo "$s1 - $s0" | bc)
	sum=$(echo "$sum + $d" | bc)
	worst=$(echo "if ($d > $worst) $d else $worst" | bc)
done
echo "alerts.fire_delay_s $(echo "scale=2; $sum / $DELAYS" | bc)"
echo "alerts.fire_delay_max_s $worst"
