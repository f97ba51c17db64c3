#!/usr/bin/env bash
# tests/bench/run.sh BUILD — `make bench`: obsfs against the peers on dataset A,
# in the same run. Prints "name value" lines, then ratios.
#   BENCH_PEERS=0 skips the peers (VictoriaMetrics, Prometheus); REPEAT=N for them (1).
#   BENCH_TOOLS=0 skips the pipeline tools (tests/bench/bench_tools.sh, TOOLS_REPEAT=N).
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/$BUILD/bin"
SHARED=${OBS_SHARED:-$ROOT/../shared}
DATA_A=${DATA_A:-$SHARED/data/metrics-A.prom.zst}
PEERS="$SHARED/bench/peers"
export LC_ALL=C
T=$(mktemp -d /tmp/obs-bench.XXXXXX)
MNT=$T/mnt
cleanup() { fusermount3 -u "$MNT" 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
out() { printf '%-40s %s\n' "$1" "$2"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b-a}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b==0) print "nan"; else printf "%.3f", a/b }'; }
stat_of() { awk -v k="$1" '$1==k {print $2; exit}' "$MNT/status"; }
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }

[ -r "$DATA_A" ] || { echo "bench: dataset '$DATA_A' not found" >&2; exit 2; }
log "decompressing $DATA_A"
zstd -dqc "$DATA_A" > "$T/A.prom"
SAMPLES=$(wc -l < "$T/A.prom")

mkdir -p "$MNT"
"$BIN/obsfsd" -o sync_interval=0 "$T/data" "$MNT" 2>/dev/null
PID=$(pgrep -n -f "obsfsd -o sync_interval=0 $T/data")
RSS0=$(rss_kb "$PID")

log "ingest through the mount (1 MiB writes)"
t0=$(now)
dd if="$T/A.prom" of="$MNT/ingest" bs=1M status=none
echo sync > "$MNT/ctl"
t1=$(now)
ING_S=$(secs "$t0" "$t1")
RSS1=$(rss_kb "$PID")
SERIES=$(stat_of series)
out obsfs.samples "$(stat_of samples)"
out obsfs.series "$SERIES"
out obsfs.ingest_s "$ING_S"
OBS_RATE=$(awk -v n="$SAMPLES" -v s="$ING_S" 'BEGIN{printf "%.0f", n/s}')
out obsfs.ingest_samples_per_s "$OBS_RATE"
out obsfs.head_bytes_per_sample "$(stat_of head_bytes_per_sample)"
out obsfs.wal_bytes_per_sample "$(stat_of wal_bytes_per_sample)"
out obsfs.rss_kb_after_ingest "$RSS1"

log "exporting every sample (MOUNT/export, Prometheus text) from the head"
t0=$(now)
cat "$MNT/export" > "$T/export.txt"
t1=$(now)
EXP_S=$(secs "$t0" "$t1")
out obsfs.export_lines "$(wc -l < "$T/export.txt")"
out obsfs.export_head_s "$EXP_S"
log "reading every series file back (cat metrics/*)"
t0=$(now)
cat "$MNT"/metrics/* > "$T/export.txt"
t1=$(now)
out obsfs.cat_all_series_s "$(secs "$t0" "$t1")"
out obsfs.cat_all_series_samples_per_s "$(awk -v n="$SAMPLES" -v s="$(secs "$t0" "$t1")" 'BEGIN{printf "%.0f", n/s}')"

log "compacting the head into a block (echo compact > ctl)"
t0=$(now)
echo compact > "$MNT/ctl"
t1=$(now)
out obsfs.compact_s "$(secs "$t0" "$t1")"
fusermount3 -u "$MNT"
DISK=$(find "$T/data" -type f -printf '%s %b\n' | awk '{a=$2*512; s+=($1<a?$1:a)} END{printf "%.0f", s}')
BLK=$(find "$T/data/blocks" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%.0f", s}')
out obsfs.disk_bytes_total "$DISK"
out obsfs.disk_bytes_blocks "$BLK"
OBS_BPS=$(awk -v a="$DISK" -v n="$SAMPLES" 'BEGIN{printf "%.4f", a/n}')
out obsfs.bytes_per_sample "$OBS_BPS"
t0=$(now)
"$BIN/obsfsd" -o sync_interval=0 "$T/data" "$MNT" 2>/dev/null
t1=$(now)
out obsfs.restart_s "$(secs "$t0" "$t1")"
PID=$(pgrep -n -f "obsfsd -o sync_interval=0 $T/data")
out obsfs.rss_kb_after_restart_from_block "$(rss_kb "$PID")"
t0=$(now)
cat "$MNT/export" > "$T/export2.txt"
t1=$(now)
EXP_S=$(secs "$t0" "$t1")
out obsfs.export_s "$EXP_S"
out obsfs.export_samples_per_s "$(awk -v n="$SAMPLES" -v s="$EXP_S" 'BEGIN{printf "%.0f", n/s}')"
# the JSON-lines export (VictoriaMetrics' own export format), best of 3
JS=
for r in 1 2 3; do
	t0=$(now); cat "$MNT/export.jsonl" > "$T/export.jsonl"; t1=$(now)
	JS="$JS $(secs "$t0" "$t1")"
done
EXPJ_S=$(echo $JS | tr ' ' '\n' | sort -g | head -1)
out obsfs.export_jsonl_s "$EXPJ_S"
out obsfs.export_jsonl_bytes "$(stat -c %s "$T/export.jsonl")"
[ "$(wc -l < "$T/export2.txt")" = "$SAMPLES" ] || log "export after compaction lost samples"
log "reading one series (24 h would be 86,400 samples) from a block"
S1=$(ls "$MNT/metrics" | awk 'NR == 1')
t0=$(now)
cat "$MNT/metrics/$S1" > /dev/null
t1=$(now)
out obsfs.read_one_series_from_block_s "$(secs "$t0" "$t1")"

log "one long series: 1,000,000 samples written, then read back"
awk 'BEGIN{t=1700000000000; for(i=0;i<1000000;i++) printf "bench_long{k=\"v\"} %.3f %.0f\n", 100+sin(i/100)*10, t+i*1000}' > "$T/long.prom"
dd if="$T/long.prom" of="$MNT/ingest" bs=1M status=none
t0=$(now)
n=$(cat "$MNT/metrics/bench_long{k=\"v\"}" | wc -l)
t1=$(now)
out obsfs.long_series_samples "$n"
out obsfs.long_series_read_samples_per_s "$(awk -v n="$n" -v s="$(secs "$t0" "$t1")" 'BEGIN{printf "%.0f", n/s}')"

log "memory: 100,000 more series of 10 samples each (RSS growth per series)"
PID=$(pgrep -n -f "obsfsd -o sync_interval=0 $T/data")
R0=$(rss_kb "$PID"); C0=$(stat_of head_chunk_bytes)
awk 'BEGIN{t=1700000000000; for(i=0;i<10;i++) for(s=0;s<100000;s++) printf "bench_mem{instance=\"host-%d:9100\",job=\"node\"} %d %.0f\n", s, s+i, t+i*10000}' > "$T/mem.prom"
dd if="$T/mem.prom" of="$MNT/ingest" bs=1M status=none
R1=$(rss_kb "$PID"); C1=$(stat_of head_chunk_bytes)
out obsfs.rss_bytes_per_series "$(awk -v a="$R0" -v b="$R1" 'BEGIN{printf "%.0f", (b-a)*1024/100000}')"
out obsfs.rss_bytes_per_series_beyond_chunks "$(awk -v a="$R0" -v b="$R1" -v c0="$C0" -v c1="$C1" 'BEGIN{printf "%.0f", ((b-a)*1024-(c1-c0))/100000}')"
fusermount3 -u "$MNT"

if [ -x "$BUILD/bench_chunk" ] || cc -O2 -std=c11 -D_GNU_SOURCE -Ilib tests/bench/bench_chunk.c "$ROOT/$BUILD/libobs.a" -lm -lxxhash -lzstd -lroaring -lpcre2-8 -pthread -o "$T/bench_chunk" 2>/dev/null; then
	log "chunk codec decode rate (library level, no text)"
	"$T/bench_chunk" "$T/A.prom" 2>/dev/null | sed 's/^/codec./' || true
fi

if [ "${BENCH_PEERS:-1}" = 1 ]; then
	export REPEAT=${REPEAT:-1}
	log "VictoriaMetrics on the same data (vm.sh)"
	bash "$PEERS/vm.sh" "$DATA_A" > "$T/vm.out" || log "vm.sh failed"
	log "Prometheus on the same data (prom.sh)"
	bash "$PEERS/prom.sh" "$DATA_A" > "$T/prom.out" || log "prom.sh failed"
	sed 's/^/vm./' "$T/vm.out"
	sed 's/^/prom./' "$T/prom.out"
	VM_RATE=$(awk '$1=="ingest_samples_per_s"{print $2}' "$T/vm.out")
	PROM_RATE=$(awk '$1=="ingest_samples_per_s"{print $2}' "$T/prom.out")
	VM_EXP=$(awk '$1=="export_s"{print $2}' "$T/vm.out")
	PROM_EXP=$(awk '$1=="export_s"{print $2}' "$T/prom.out")
	out ratio.ingest_obsfs_over_vm "$(div "$OBS_RATE" "${VM_RATE:-0}")"
	out ratio.ingest_obsfs_over_prom "$(div "$OBS_RATE" "${PROM_RATE:-0}")"
	VM_BPS=$(awk '$1=="bytes_per_sample"{print $2}' "$T/vm.out")
	PROM_BPS=$(awk '$1=="bytes_per_sample"{print $2}' "$T/prom.out")
	out ratio.bytes_per_sample_obsfs_over_vm "$(div "$OBS_BPS" "${VM_BPS:-0}")"
	out ratio.bytes_per_sample_obsfs_over_prom "$(div "$OBS_BPS" "${PROM_BPS:-0}")"
	out ratio.export_time_vm_over_obsfs "$(div "${VM_EXP:-0}" "$EXP_S")"
	out ratio.export_jsonl_time_vm_over_obsfs "$(div "${VM_EXP:-0}" "$EXPJ_S")"
	out ratio.export_time_prom_over_obsfs "$(div "${PROM_EXP:-0}" "$EXP_S")"
fi

# Logs through the mount: dataset logs-A (2 M nginx lines) appended with
# 1 MiB writes, cut into segments (ctl compact), then searched through the
# index (a needle, a field count). bench_logs.sh adds library-level figures
# and grep/ripgrep/zstd on the same file. BENCH_LOGS=0 skips both.
DATA_LOGS=${DATA_LOGS_A:-$SHARED/data/logs-A.log.zst}
if [ "${BENCH_LOGS:-1}" = 1 ] && [ -r "$DATA_LOGS" ]; then
	log "logs through the mount ($DATA_LOGS)"
	zstd -dqc "$DATA_LOGS" > "$T/logs.log"
	LINES=$(wc -l < "$T/logs.log")
	rm -rf "$T/ldata"; mkdir -p "$MNT"
	"$BIN/obsfsd" -o sync_interval=0 "$T/ldata" "$MNT" 2>/dev/null
	touch "$MNT/logs/nginx"
	t0=$(now)
	dd if="$T/logs.log" of="$MNT/logs/nginx" bs=1M status=none
	echo sync > "$MNT/ctl"
	t1=$(now)
	out logs.mount_ingest_lines_per_s "$(awk -v n="$LINES" -v s="$(secs "$t0" "$t1")" 'BEGIN{printf "%.0f", n/s}')"
	t0=$(now)
	echo compact > "$MNT/ctl"
	t1=$(now)
	out logs.compact_s "$(secs "$t0" "$t1")"
	out logs.bytes_per_line "$(awk '$1=="log_bytes_per_line"{print $2}' "$MNT/status")"
	out logs.disk_bytes_per_line "$(find "$T/ldata/logs" -type f -printf '%s\n' | awk -v n="$LINES" '{s+=$1} END{printf "%.2f", s/n}')"
	t0=$(now)
	n=$(cat "$MNT/logs/nginx?\"${NEEDLE:-Zyborg-Needle}\"#count")
	t1=$(now)
	out logs.needle_count "$n"
	out logs.needle_search_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)*1000}')"
	t0=$(now)
	n=$(cat "$MNT/logs/nginx?status=404#count")
	t1=$(now)
	out logs.status404_count "$n"
	out logs.status404_count_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)*1000}')"
	fusermount3 -u "$MNT"
	rm -f "$T/logs.log"
	log "log store, library level, beside grep/ripgrep/zstd (bench_logs.sh)"
	SKIP_Z19=${SKIP_Z19:-1} bash "$ROOT/tests/bench/bench_logs.sh" "$BUILD" | sed 's/^/logs./' ||
		log "bench_logs.sh failed"
fi

# The pipeline filters (obs-rate, obs-agg, obs-alert) against awk, in lines/s
# (bench_tools.sh; LINES=N for its input size). BENCH_TOOLS=0 skips them.
if [ "${BENCH_TOOLS:-1}" = 1 ]; then
	log "pipeline tools (bench_tools.sh)"
	REPEAT=${TOOLS_REPEAT:-2} bash "$ROOT/tests/bench/bench_tools.sh" "$BUILD" | sed 's/^/tools./' ||
		log "bench_tools.sh failed"
fi
