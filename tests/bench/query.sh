#!/usr/bin/env bash
# tests/bench/query.sh BUILD — the PromQL range queries of issue 10 on
# dataset A, obsfs against VictoriaMetrics and Prometheus in one invocation.
#
# The four queries run over the whole span of the dataset at a 10 s step
# (start and end in whole seconds, as the peers' scripts send them):
#   1 sum by (job) ({__name__=~".+_total"})
#   2 sum by (mode) (rate(node_cpu_seconds_total[1m]))
#   3 histogram_quantile(0.99, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[5m])))
#   4 topk(5, max_over_time(process_resident_memory_bytes[10m]))
# obsfs answers through MOUNT/query with obs-query -o json (FUSE included)
# when the mount has a query file, else through the library
# (build/bench_query, no FUSE: "obsfs.query_path lib" says so). The peers
# answer over HTTP (vm.sh, prom.sh from ../shared/bench/peers, with
# QUERIES_FILE). Every timed figure is the median of REPEAT runs (3).
# Prints "name value" lines: query_s.N per system, ratio.query_N_PEER_over_obsfs
# (above 1: obsfs is faster), and agreement with Prometheus per query
# (max relative difference over every point, mismatches listed).
# Then the dashboard figure: last-hour range queries over 1,000 series at a
# 15 s step through the library (dashboard_s.N, wall and CPU seconds).
#
# Env: REPEAT (3), DATA_A, OBS_SHARED (../shared), BENCH_PEERS=0 (obsfs only).
# Exit: 0 figures printed and every answer agrees with Prometheus; 1 a part
# failed or an answer disagrees (figures still printed); 2 no dataset A.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in /*) BDIR=$BUILD ;; *) BDIR=$ROOT/$BUILD ;; esac
BIN=$BDIR/bin
SHARED=${OBS_SHARED:-$ROOT/../shared}
DATA_A=${DATA_A:-$SHARED/data/metrics-A.prom.zst}
PEERS=$SHARED/bench/peers
REPEAT=${REPEAT:-3}
export LC_ALL=C
T=$(mktemp -d /tmp/obs-qbench.XXXXXX)
MNT=$T/mnt
PID=
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT" 2>/dev/null
	if [ -n "$PID" ]; then
		for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$T"
}
trap cleanup EXIT
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'query bench: FAILED: %s\n' "$*" >&2; exit 1; }
out() { printf '%-44s %s\n' "$1" "$2"; }
med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b==0 || a=="") print "nan"; else printf "%.3f", a/b }'; }
peer_val() { awk -v k="$2" '$1==k {print $2; exit}' "$1"; }

[ -r "$DATA_A" ] || { echo "query bench: dataset '$DATA_A' not found: nothing measured" >&2; exit 2; }
[ -x "$BIN/obsfsd" ] && [ -x "$BIN/obs-query" ] || die "$BIN/obsfsd or obs-query missing (make all first)"
make -s -C "$ROOT" BUILD="$BDIR" "$BDIR/bench_query" >&2 || die "cannot build bench_query"

QUERIES=(
	'sum by (job) ({__name__=~".+_total"})'
	'sum by (mode) (rate(node_cpu_seconds_total[1m]))'
	'histogram_quantile(0.99, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[5m])))'
	'topk(5, max_over_time(process_resident_memory_bytes[10m]))'
)
printf '%s\n' "${QUERIES[@]}" > "$T/queries"
mkdir -p "$T/ans"
declare -A OBS

log "decompressing $DATA_A"
zstd -dqc "$DATA_A" > "$T/A.prom"
read -r TMIN TMAX < <(awk '{t=$NF; if (NR==1 || t<mn) mn=t; if (NR==1 || t>mx) mx=t} END{printf "%.0f %.0f\n", mn, mx}' "$T/A.prom")
START=$((TMIN / 1000)) END=$((TMAX / 1000))
out query.span_s "$((END - START))"
out query.step_s 10
out query.repeat "$REPEAT"

# ---- obsfs ------------------------------------------------------------
mkdir -p "$MNT" "$T/data"
"$BIN/obsfsd" "$T/data" "$MNT" 2>>"$T/obsfsd.err" || die "obsfsd did not start: $(tail -3 "$T/obsfsd.err")"
PID=$(head -1 "$T/data/LOCK")
if [ -e "$MNT/query" ]; then
	log "obsfs: ingesting dataset A through the mount"
	dd if="$T/A.prom" of="$MNT/ingest" bs=1M status=none || die "ingest failed: $(head -3 "$MNT/errors")"
	echo compact > "$MNT/ctl" || die "compact failed"
	out obsfs.query_path "MOUNT/query(obs-query,FUSE)"
	for i in "${!QUERIES[@]}"; do
		n=$((i + 1)) ts=()
		for _ in $(seq "$REPEAT"); do
			t0=$(date +%s.%N)
			"$BIN/obs-query" -m "$MNT" --start "$START" --end "$END" --step 10s -o json "${QUERIES[$i]}" \
				> "$T/ans/obsfs-$n.json" || die "obs-query failed on query $n"
			t1=$(date +%s.%N)
			ts+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b-a}')")
		done
		OBS[$n]=$(med "${ts[@]}")
		out "obsfs.query_s.$n" "${OBS[$n]}"
	done
	fusermount3 -u "$MNT"
else
	fusermount3 -u "$MNT"
	out obsfs.query_path "lib(bench_query,no_FUSE:the_mount_has_no_query_file_yet)"
	"$BDIR/bench_query" range "$T/A.prom" "$START" "$END" 10 "$REPEAT" "$T/ans" "${QUERIES[@]}" > "$T/lib.out" ||
		die "bench_query failed"
	for i in "${!QUERIES[@]}"; do
		n=$((i + 1))
		OBS[$n]=$(peer_val "$T/lib.out" "query_range_s.$n")
		out "obsfs.query_s.$n" "${OBS[$n]}"
		out "obsfs.query_cpu_s.$n" "$(peer_val "$T/lib.out" "query_range_cpu_s.$n")"
	done
fi
for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
PID=

# ---- peers ------------------------------------------------------------
STATUS=0
if [ "${BENCH_PEERS:-1}" != 0 ]; then
	for peer in vm prom; do
		log "$peer: ingest and the same queries (REPEAT=$REPEAT)"
		QUERIES_FILE=$T/queries QUERY_OUT_DIR=$T/ans REPEAT=$REPEAT bash "$PEERS/$peer.sh" "$DATA_A" > "$T/$peer.out" ||
			die "$peer.sh failed"
		for i in "${!QUERIES[@]}"; do
			n=$((i + 1))
			v=$(peer_val "$T/$peer.out" "query_range_s.$n")
			out "$peer.query_s.$n" "$v"
			out "ratio.query_${n}_${peer}_over_obsfs" "$(div "$v" "${OBS[$n]}")"
		done
	done
fi

# ---- ratios and agreement --------------------------------------------
for i in "${!QUERIES[@]}"; do
	n=$((i + 1))
	if [ -s "$T/ans/prom-$n.json" ]; then
		log "query $n: ${QUERIES[$i]}"
		python3 "$ROOT/tests/bench/query_agree.py" "$T/ans/obsfs-$n.json" "$T/ans/prom-$n.json" > "$T/agree-$n" || STATUS=1
		while read -r k v; do out "agree.$n.$k" "$v"; done < <(grep -v '^mismatch\|^missing series\|^extra series' "$T/agree-$n")
		grep '^mismatch\|^missing series\|^extra series' "$T/agree-$n" | sed "s/^/agree.$n: /" || true
	fi
done

# ---- dashboards: last hour, 1,000 series, 15 s step (library) ---------
log "dashboard: last-hour queries over 1000 series"
"$BDIR/bench_query" dashboard 1000 "$REPEAT" > "$T/dash.out" || die "bench_query dashboard failed"
sed 's/^/lib./' "$T/dash.out"
exit $STATUS
